//! Pod specs and pod templates: conversion, defaulting and validation.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::details;
use super::field::{
    at, detail, idx, key, non_negative, port_name, port_number, quote, FieldError, FieldResult,
};
use super::meta::{bytes, cpu_millis, int_or_string, labels, one_of, template_meta};
use crate::intern::{intern, Str};
use crate::model::{
    Container, ContainerPort, PodSpec, PodTemplateSpec, PreStop, Probe, Protocol, PullPolicy,
    Resources, RestartPolicy, TaintEffect, Toleration, TolerationOperator, Volume, VolumeSource,
};
use crate::validation;

/// The API's protocol names.
pub(crate) const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];

/// A protocol (default TCP).
pub(crate) fn protocol(v: Option<&str>, path: &str) -> FieldResult<Protocol> {
    let p = one_of(v, "TCP", &PROTOCOLS, path)?;
    Ok(Protocol::parse(p).unwrap_or_default())
}

/// `spec.template` of a workload.
pub(crate) fn pod_template(
    t: Option<&core::PodTemplateSpec>,
    path: &str,
) -> FieldResult<PodTemplateSpec> {
    pod_template_with(t, path, &[])
}

/// [`pod_template`], where `extra_volumes` (a StatefulSet's claim templates) may also be
/// named by volume mounts.
pub(crate) fn pod_template_with(
    t: Option<&core::PodTemplateSpec>,
    path: &str,
    extra_volumes: &[&str],
) -> FieldResult<PodTemplateSpec> {
    let empty = core::PodTemplateSpec::default();
    let t = t.unwrap_or(&empty);
    let meta = template_meta(t.metadata.as_ref(), &at(path, "metadata"))?;
    let empty_spec = core::PodSpec::default();
    let spec = pod_spec_with(
        t.spec.as_ref().unwrap_or(&empty_spec),
        &at(path, "spec"),
        extra_volumes,
    )?;
    Ok(PodTemplateSpec {
        meta,
        spec: Arc::new(spec),
    })
}

/// A pod spec (`spec` of a Pod, `spec.template.spec` of a workload).
pub(crate) fn pod_spec(s: &core::PodSpec, path: &str) -> FieldResult<PodSpec> {
    pod_spec_with(s, path, &[])
}

/// [`pod_spec`], where volume mounts may also name `extra_volumes`.
fn pod_spec_with(s: &core::PodSpec, path: &str, extra_volumes: &[&str]) -> FieldResult<PodSpec> {
    let volumes = volumes(s.volumes.as_deref().unwrap_or(&[]), &at(path, "volumes"))?;

    if s.containers.is_empty() {
        return Err(FieldError::required(at(path, "containers"), ""));
    }
    let mut containers = Vec::with_capacity(s.containers.len());
    let mut container_details = Vec::with_capacity(s.containers.len());
    let cpath = at(path, "containers");
    for (i, k) in s.containers.iter().enumerate() {
        let p = idx(&cpath, i);
        let c = container(k, &p)?;
        if containers.iter().any(|x: &Container| x.name == c.name) {
            return Err(FieldError::duplicate(at(&p, "name"), &c.name));
        }
        containers.push(c);
        container_details.push(details::container_details(k, &volumes, extra_volumes, &p)?);
    }

    let restart_policy = match one_of(
        s.restart_policy.as_deref(),
        "Always",
        &["Always", "OnFailure", "Never"],
        &at(path, "restartPolicy"),
    )? {
        "OnFailure" => RestartPolicy::OnFailure,
        "Never" => RestartPolicy::Never,
        _ => RestartPolicy::Always,
    };

    if let Some(g) = s.termination_grace_period_seconds {
        non_negative(&at(path, "terminationGracePeriodSeconds"), g)?;
    }
    if let Some(d) = s.active_deadline_seconds {
        if !(1..=i64::from(i32::MAX)).contains(&d) {
            return Err(FieldError::invalid(
                at(path, "activeDeadlineSeconds"),
                d,
                "must be between 1 and 2147483647, inclusive",
            ));
        }
    }

    let node_selector = labels(s.node_selector.as_ref(), &at(path, "nodeSelector"))?;

    let mut tolerations = Vec::new();
    for (i, t) in s.tolerations.iter().flatten().enumerate() {
        tolerations.push(toleration(t, &idx(&at(path, "tolerations"), i))?);
    }

    let dns_label = |field: &str, v: &Option<String>| -> FieldResult<Option<Str>> {
        match v.as_deref().filter(|x| !x.is_empty()) {
            None => Ok(None),
            Some(x) => {
                validation::dns1123_label(x)
                    .map_err(|e| FieldError::invalid(at(path, field), quote(x), detail(&e)))?;
                Ok(Some(Str::new(x)))
            }
        }
    };
    let hostname = dns_label("hostname", &s.hostname)?;
    let subdomain = dns_label("subdomain", &s.subdomain)?;

    let mut spec = PodSpec {
        containers,
        restart_policy,
        termination_grace_period_seconds: s.termination_grace_period_seconds,
        node_selector,
        tolerations,
        hostname,
        subdomain,
        volumes,
        host_network: s.host_network.unwrap_or(false),
        active_deadline_seconds: s.active_deadline_seconds,
        container_details: Vec::new(),
        rest: details::pod_rest(s),
    };
    spec.set_container_details(container_details);
    Ok(spec)
}

/// The pull policy upstream defaults from the image reference: `Always` for `:latest`
/// or an untagged image without a digest, else `IfNotPresent`.
pub(crate) fn default_pull_policy(image: &str) -> PullPolicy {
    if image.contains('@') {
        return PullPolicy::IfNotPresent;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => PullPolicy::IfNotPresent,
        _ => PullPolicy::Always,
    }
}

fn container(c: &core::Container, path: &str) -> FieldResult<Container> {
    if c.name.is_empty() {
        return Err(FieldError::required(at(path, "name"), ""));
    }
    validation::dns1123_label(&c.name)
        .map_err(|e| FieldError::invalid(at(path, "name"), quote(&c.name), detail(&e)))?;
    let image = c.image.as_deref().unwrap_or("");
    if image.trim().is_empty() {
        return Err(FieldError::required(at(path, "image"), ""));
    }
    if image.trim() != image {
        return Err(FieldError::invalid(
            at(path, "image"),
            quote(image),
            "must not have leading or trailing whitespace",
        ));
    }
    let image_pull_policy = match c.image_pull_policy.as_deref().filter(|p| !p.is_empty()) {
        None => default_pull_policy(image),
        Some(p) => match one_of(
            Some(p),
            "",
            &["Always", "IfNotPresent", "Never"],
            &at(path, "imagePullPolicy"),
        )? {
            "Always" => PullPolicy::Always,
            "Never" => PullPolicy::Never,
            _ => PullPolicy::IfNotPresent,
        },
    };

    let mut ports = Vec::new();
    for (i, p) in c.ports.iter().flatten().enumerate() {
        let pp = idx(&at(path, "ports"), i);
        port_number(&at(&pp, "containerPort"), p.container_port)?;
        let host_port = p.host_port.filter(|h| *h != 0);
        if let Some(h) = host_port {
            port_number(&at(&pp, "hostPort"), h)?;
        }
        let name = match p.name.as_deref().filter(|n| !n.is_empty()) {
            None => None,
            Some(n) => {
                port_name(&at(&pp, "name"), n)?;
                if ports
                    .iter()
                    .any(|x: &ContainerPort| x.name.as_deref() == Some(n))
                {
                    return Err(FieldError::duplicate(at(&pp, "name"), n));
                }
                Some(intern(n))
            }
        };
        ports.push(ContainerPort {
            name,
            container_port: p.container_port,
            host_port,
            protocol: protocol(p.protocol.as_deref(), &at(&pp, "protocol"))?,
        });
    }

    let (requests, limits) = resources(c.resources.as_ref(), &at(path, "resources"))?;

    let readiness_probe = c
        .readiness_probe
        .as_ref()
        .map(|p| probe(p, &at(path, "readinessProbe"), false))
        .transpose()?;
    let liveness_probe = c
        .liveness_probe
        .as_ref()
        .map(|p| probe(p, &at(path, "livenessProbe"), true))
        .transpose()?;
    let pre_stop = match c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) {
        None => None,
        Some(h) => pre_stop(h, &at(path, "lifecycle.preStop"))?,
    };

    let strs =
        |v: &Option<Vec<String>>| v.iter().flatten().map(|x| Str::new(x)).collect::<Vec<_>>();
    Ok(Container {
        name: intern(&c.name),
        image: intern(image),
        image_pull_policy,
        command: strs(&c.command),
        args: strs(&c.args),
        ports,
        requests,
        limits,
        readiness_probe,
        liveness_probe,
        pre_stop,
    })
}

/// `resources.requests` / `resources.limits` (cpu and memory; other resources are not
/// simulated). As `SetDefaults_Pod` does, a resource with a limit and no request gets
/// the limit as its request. A request above its limit is an error.
fn resources(
    r: Option<&core::ResourceRequirements>,
    path: &str,
) -> FieldResult<(Resources, Resources)> {
    let Some(r) = r else {
        return Ok((Resources::default(), Resources::default()));
    };
    let read = |m: &Option<BTreeMap<String, Quantity>>,
                field: &str|
     -> FieldResult<(Option<i64>, Option<i64>)> {
        let p = at(path, field);
        let Some(m) = m else { return Ok((None, None)) };
        let cpu = m
            .get("cpu")
            .map(|q| cpu_millis(q, &key(&p, "cpu")))
            .transpose()?;
        let mem = m
            .get("memory")
            .map(|q| bytes(q, &key(&p, "memory")))
            .transpose()?;
        Ok((cpu, mem))
    };
    let (req_cpu, req_mem) = read(&r.requests, "requests")?;
    let (lim_cpu, lim_mem) = read(&r.limits, "limits")?;
    let requests = Resources {
        cpu_millis: req_cpu.or(lim_cpu).unwrap_or(0),
        memory_bytes: req_mem.or(lim_mem).unwrap_or(0),
    };
    let limits = Resources {
        cpu_millis: lim_cpu.unwrap_or(0),
        memory_bytes: lim_mem.unwrap_or(0),
    };
    let over = |name: &str,
                req: i64,
                lim: Option<i64>,
                text: String,
                lim_text: String|
     -> FieldResult<()> {
        if let Some(l) = lim {
            if req > l {
                return Err(FieldError::invalid(
                    key(&at(path, "requests"), name),
                    quote(&text),
                    &format!("must be less than or equal to {name} limit of {lim_text}"),
                ));
            }
        }
        Ok(())
    };
    over(
        "cpu",
        requests.cpu_millis,
        lim_cpu,
        crate::quantity::format_cpu_millis(requests.cpu_millis),
        crate::quantity::format_cpu_millis(limits.cpu_millis),
    )?;
    over(
        "memory",
        requests.memory_bytes,
        lim_mem,
        crate::quantity::format_bytes(requests.memory_bytes),
        crate::quantity::format_bytes(limits.memory_bytes),
    )?;
    Ok((requests, limits))
}

/// A probe's timing; upstream defaults a zero or absent value (period 10, failure 3,
/// success 1). The handler is not kept.
fn probe(p: &core::Probe, path: &str, liveness: bool) -> FieldResult<Probe> {
    let d = Probe::default();
    let field = |name: &str, v: Option<i32>, default: i32| -> FieldResult<i32> {
        let v = v.unwrap_or(0);
        non_negative(&at(path, name), i64::from(v))?;
        Ok(if v == 0 { default } else { v })
    };
    let probe = Probe {
        initial_delay_seconds: field("initialDelaySeconds", p.initial_delay_seconds, 0)?,
        period_seconds: field("periodSeconds", p.period_seconds, d.period_seconds)?,
        failure_threshold: field("failureThreshold", p.failure_threshold, d.failure_threshold)?,
        success_threshold: field("successThreshold", p.success_threshold, d.success_threshold)?,
    };
    if let Some(t) = p.timeout_seconds {
        non_negative(&at(path, "timeoutSeconds"), i64::from(t))?;
    }
    if liveness && probe.success_threshold != 1 {
        return Err(FieldError::invalid(
            at(path, "successThreshold"),
            probe.success_threshold,
            "must be 1",
        ));
    }
    Ok(probe)
}

/// A `preStop` handler. `tcpSocket` (deprecated for lifecycle hooks upstream) is
/// accepted and not kept.
fn pre_stop(h: &core::LifecycleHandler, path: &str) -> FieldResult<Option<PreStop>> {
    let n = [
        h.exec.is_some(),
        h.http_get.is_some(),
        h.sleep.is_some(),
        h.tcp_socket.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if n == 0 {
        return Err(FieldError::required(path, "must specify a handler type"));
    }
    if n > 1 {
        return Err(FieldError::forbidden(
            path,
            "may not specify more than 1 handler type",
        ));
    }
    if let Some(s) = &h.sleep {
        non_negative(&at(path, "sleep.seconds"), s.seconds)?;
        return Ok(Some(PreStop::Sleep(s.seconds)));
    }
    if let Some(e) = &h.exec {
        return Ok(Some(PreStop::Exec(
            e.command.iter().flatten().map(|x| Str::new(x)).collect(),
        )));
    }
    if let Some(g) = &h.http_get {
        let port = int_or_string(&g.port);
        match &port {
            crate::model::IntOrString::Int(p) => port_number(&at(path, "httpGet.port"), *p)?,
            crate::model::IntOrString::String(n) => port_name(&at(path, "httpGet.port"), n)?,
        }
        let p = g.path.as_deref().filter(|p| !p.is_empty()).unwrap_or("/");
        return Ok(Some(PreStop::HttpGet {
            path: Str::new(p),
            port,
        }));
    }
    Ok(None)
}

fn toleration(t: &core::Toleration, path: &str) -> FieldResult<Toleration> {
    let key = t.key.as_deref().filter(|k| !k.is_empty());
    if let Some(k) = key {
        validation::label_key(k)
            .map_err(|e| FieldError::invalid(at(path, "key"), quote(k), detail(&e)))?;
    }
    let operator = match one_of(
        t.operator.as_deref(),
        "Equal",
        &["Equal", "Exists"],
        &at(path, "operator"),
    )? {
        "Exists" => TolerationOperator::Exists,
        _ => TolerationOperator::Equal,
    };
    let value = t.value.as_deref().filter(|v| !v.is_empty());
    if key.is_none() && operator != TolerationOperator::Exists {
        return Err(FieldError::invalid(
            at(path, "operator"),
            quote(operator_str(operator)),
            "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
        ));
    }
    match (operator, value) {
        (TolerationOperator::Exists, Some(v)) => {
            return Err(FieldError::invalid(
                at(path, "operator"),
                quote(v),
                "value must be empty when `operator` is 'Exists'",
            ))
        }
        (TolerationOperator::Equal, Some(v)) => {
            validation::label_value(v)
                .map_err(|e| FieldError::invalid(at(path, "value"), quote(v), detail(&e)))?;
        }
        _ => {}
    }
    let effect = match t.effect.as_deref().filter(|e| !e.is_empty()) {
        None => None,
        Some(e) => Some(TaintEffect::parse(e).ok_or_else(|| {
            FieldError::unsupported(
                at(path, "effect"),
                e,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            )
        })?),
    };
    if t.toleration_seconds.is_some() && effect != Some(TaintEffect::NoExecute) {
        return Err(FieldError::invalid(
            at(path, "effect"),
            quote(effect.map_or("", |e| e.as_str())),
            "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ));
    }
    Ok(Toleration {
        key: key.map(intern),
        operator,
        value: value.map(intern),
        effect,
        toleration_seconds: t.toleration_seconds,
    })
}

fn operator_str(o: TolerationOperator) -> &'static str {
    match o {
        TolerationOperator::Equal => "Equal",
        TolerationOperator::Exists => "Exists",
    }
}

fn volumes(vs: &[core::Volume], path: &str) -> FieldResult<Vec<Volume>> {
    let mut out: Vec<Volume> = Vec::with_capacity(vs.len());
    for (i, v) in vs.iter().enumerate() {
        let p = idx(path, i);
        if v.name.is_empty() {
            return Err(FieldError::required(at(&p, "name"), ""));
        }
        validation::dns1123_label(&v.name)
            .map_err(|e| FieldError::invalid(at(&p, "name"), quote(&v.name), detail(&e)))?;
        if out.iter().any(|x| x.name.as_str() == v.name) {
            return Err(FieldError::duplicate(at(&p, "name"), &v.name));
        }
        // Count the sources generically: every key of the serialized volume but `name`.
        let sources = serde_json::to_value(v)
            .ok()
            .and_then(|j| {
                j.as_object()
                    .map(|o| o.keys().filter(|k| *k != "name").count())
            })
            .unwrap_or(0);
        if sources > 1 {
            return Err(FieldError::forbidden(
                &p,
                "may not specify more than 1 volume type",
            ));
        }
        let source = if let Some(c) = &v.persistent_volume_claim {
            if c.claim_name.is_empty() {
                return Err(FieldError::required(
                    at(&p, "persistentVolumeClaim.claimName"),
                    "",
                ));
            }
            VolumeSource::PersistentVolumeClaim(Str::new(&c.claim_name))
        } else if v.empty_dir.is_some() || sources == 0 {
            // Upstream defaults a volume without a source to emptyDir.
            VolumeSource::EmptyDir
        } else if let Some(c) = &v.config_map {
            VolumeSource::ConfigMap(Str::new(&c.name))
        } else if let Some(h) = &v.host_path {
            VolumeSource::HostPath(Str::new(&h.path))
        } else if let Some(s) = &v.secret {
            VolumeSource::Secret(Str::new(s.secret_name.as_deref().unwrap_or("")))
        } else {
            VolumeSource::Other
        };
        out.push(Volume {
            name: intern(&v.name),
            source,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_from_tag() {
        assert_eq!(default_pull_policy("nginx"), PullPolicy::Always);
        assert_eq!(default_pull_policy("nginx:latest"), PullPolicy::Always);
        assert_eq!(default_pull_policy("nginx:1.8"), PullPolicy::IfNotPresent);
        assert_eq!(
            default_pull_policy("192.168.1.106:5000/fastapi:0.0.1"),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            default_pull_policy("192.168.1.106:5000/fastapi"),
            PullPolicy::Always
        );
        assert_eq!(
            default_pull_policy("nginx@sha256:abcd"),
            PullPolicy::IfNotPresent
        );
    }
}
