//! The parts of a pod spec the simulation does not read but that belong to the template:
//! container `env`, `envFrom`, `workingDir`, `volumeMounts`, and the unmodelled
//! remainder of each container and of the pod spec (see [`crate::model::Unmodelled`]).
//!
//! The remainder is computed generically: the typed k8s-openapi value is serialized
//! (which leaves out unset fields), every field the model keeps is removed by its path,
//! and what is left — with empty objects pruned, and arrays kept index-aligned with
//! `{}` placeholders — is stored as canonical JSON. Rendering merges it back, so a
//! manifest round-trips and a change to any user-settable field changes the template.

use k8s_openapi::api::core::v1 as core;
use serde_json::Value;

use super::field::{at, detail, idx, quote, FieldError, FieldResult};
use crate::intern::{intern, Str};
use crate::model::{
    ContainerDetails, EnvFromKind, EnvFromSource, EnvValue, EnvVar, Unmodelled, Volume, VolumeMount,
};
use crate::validation;

/// Container fields the model keeps, by path (`[]` steps into every array element).
/// Removing them from the serialized container leaves its unmodelled remainder.
const CONTAINER_MODELLED: &[&str] = &[
    "name",
    "image",
    "imagePullPolicy",
    "command",
    "args",
    "workingDir",
    "ports[].name",
    "ports[].containerPort",
    "ports[].hostPort",
    "ports[].protocol",
    "resources.requests.cpu",
    "resources.requests.memory",
    "resources.limits.cpu",
    "resources.limits.memory",
    "readinessProbe.initialDelaySeconds",
    "readinessProbe.periodSeconds",
    "readinessProbe.failureThreshold",
    "readinessProbe.successThreshold",
    "livenessProbe.initialDelaySeconds",
    "livenessProbe.periodSeconds",
    "livenessProbe.failureThreshold",
    "livenessProbe.successThreshold",
    "lifecycle.preStop.sleep.seconds",
    "lifecycle.preStop.exec.command",
    "lifecycle.preStop.httpGet.path",
    "lifecycle.preStop.httpGet.port",
    "env[].name",
    "env[].value",
    "env[].valueFrom.fieldRef.apiVersion",
    "env[].valueFrom.fieldRef.fieldPath",
    "env[].valueFrom.resourceFieldRef.containerName",
    "env[].valueFrom.resourceFieldRef.resource",
    "env[].valueFrom.resourceFieldRef.divisor",
    "env[].valueFrom.configMapKeyRef.name",
    "env[].valueFrom.configMapKeyRef.key",
    "env[].valueFrom.configMapKeyRef.optional",
    "env[].valueFrom.secretKeyRef.name",
    "env[].valueFrom.secretKeyRef.key",
    "env[].valueFrom.secretKeyRef.optional",
    "envFrom[].prefix",
    "envFrom[].configMapRef.name",
    "envFrom[].configMapRef.optional",
    "envFrom[].secretRef.name",
    "envFrom[].secretRef.optional",
    "volumeMounts[].name",
    "volumeMounts[].mountPath",
    "volumeMounts[].readOnly",
    "volumeMounts[].subPath",
];

/// Pod spec fields the model keeps (containers are handled one by one; `nodeName` is
/// the pod's own [`crate::model::Pod::node_name`] and is not kept for templates).
const POD_MODELLED: &[&str] = &[
    "containers",
    "nodeName",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "nodeSelector",
    "hostNetwork",
    "hostname",
    "subdomain",
    "tolerations[].key",
    "tolerations[].operator",
    "tolerations[].value",
    "tolerations[].effect",
    "tolerations[].tolerationSeconds",
    "volumes[].persistentVolumeClaim.claimName",
    "volumes[].configMap.name",
    "volumes[].hostPath.path",
    "volumes[].secret.secretName",
];

/// Unmodelled container fields whose value, when written, is what the API server
/// defaults (`SetDefaults_Container`, `SetDefaults_Probe`, `SetDefaults_HTTPGetAction`):
/// writing one is the same template as leaving it out, so it is not kept.
const CONTAINER_DEFAULTS: &[(&str, &[&str])] = &[
    ("terminationMessagePath", &["\"/dev/termination-log\""]),
    ("terminationMessagePolicy", &["\"File\""]),
    ("stdin", &["false"]),
    ("stdinOnce", &["false"]),
    ("tty", &["false"]),
    ("readinessProbe.timeoutSeconds", &["0", "1"]),
    ("livenessProbe.timeoutSeconds", &["0", "1"]),
    ("startupProbe.timeoutSeconds", &["0", "1"]),
    ("startupProbe.periodSeconds", &["0", "10"]),
    ("startupProbe.successThreshold", &["0", "1"]),
    ("startupProbe.failureThreshold", &["0", "3"]),
    ("readinessProbe.httpGet.scheme", &["\"HTTP\""]),
    ("livenessProbe.httpGet.scheme", &["\"HTTP\""]),
    ("startupProbe.httpGet.scheme", &["\"HTTP\""]),
    ("lifecycle.preStop.httpGet.scheme", &["\"HTTP\""]),
    ("lifecycle.postStart.httpGet.scheme", &["\"HTTP\""]),
];

/// Unmodelled pod spec fields written with their default value (`SetDefaults_PodSpec`,
/// `SetDefaults_ConfigMapVolumeSource`, `SetDefaults_SecretVolumeSource`).
const POD_DEFAULTS: &[(&str, &[&str])] = &[
    ("dnsPolicy", &["\"ClusterFirst\""]),
    ("schedulerName", &["\"default-scheduler\""]),
    ("enableServiceLinks", &["true"]),
    ("hostPID", &["false"]),
    ("hostIPC", &["false"]),
    ("volumes[].configMap.defaultMode", &["420"]),
    ("volumes[].secret.defaultMode", &["420"]),
    ("volumes[].hostPath.type", &["\"\""]),
];

/// The remainder of a serialized value once the `modelled` paths, and the `defaults`
/// paths holding a default value, are removed.
fn remainder<T: serde::Serialize>(
    typed: &T,
    modelled: &[&str],
    defaults: &[(&str, &[&str])],
) -> Unmodelled {
    let Ok(mut v) = serde_json::to_value(typed) else {
        return Unmodelled::NONE;
    };
    for path in modelled {
        let steps: Vec<&str> = path.split('.').collect();
        remove(&mut v, &steps, &|_| true);
    }
    for (path, values) in defaults {
        let steps: Vec<&str> = path.split('.').collect();
        remove(&mut v, &steps, &|x| {
            values.contains(&x.to_string().as_str())
        });
    }
    prune(&mut v);
    Unmodelled::from_json(&v)
}

/// Removes the field at `steps` (a step ending in `[]` enters every array element) when
/// `pred` holds for its value.
fn remove(v: &mut Value, steps: &[&str], pred: &dyn Fn(&Value) -> bool) {
    let Some((first, rest)) = steps.split_first() else {
        return;
    };
    let Value::Object(m) = v else { return };
    let (name, each) = match first.strip_suffix("[]") {
        Some(n) => (n, true),
        None => (*first, false),
    };
    if rest.is_empty() && !each {
        if m.get(name).is_some_and(pred) {
            m.remove(name);
        }
        return;
    }
    let Some(child) = m.get_mut(name) else { return };
    if each {
        if let Value::Array(items) = child {
            for item in items {
                remove(item, rest, pred);
            }
        }
    } else {
        remove(child, rest, pred);
    }
}

/// Whether a pruned value holds nothing.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.iter().all(is_empty),
        _ => false,
    }
}

/// Drops empty objects and arrays whose elements are all empty; a non-empty array
/// keeps its empty elements as `{}` so indices still match the modelled list.
fn prune(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for x in m.values_mut() {
                prune(x);
            }
            m.retain(|_, x| !is_empty(x));
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                prune(x);
                if x.is_null() {
                    *x = Value::Object(Default::default());
                }
            }
        }
        _ => {}
    }
}

/// The unmodelled remainder of a pod spec. Volume remainders keep the volume's `name`
/// (volumes with nothing else are left out), so rendering matches them by name: a
/// controller may add volumes to a pod (a StatefulSet's claims) without moving them.
pub(crate) fn pod_rest(s: &core::PodSpec) -> Unmodelled {
    let rest = remainder(s, POD_MODELLED, POD_DEFAULTS);
    let Some(mut v) = rest.to_json() else {
        return rest;
    };
    if let Some(m) = v.as_object_mut() {
        if let Some(Value::Array(vols)) = m.get_mut("volumes") {
            vols.retain(|x| x.as_object().is_some_and(|o| o.len() > 1));
            if vols.is_empty() {
                m.remove("volumes");
            }
        }
    }
    Unmodelled::from_json(&v)
}

/// A container's details: env, envFrom, workingDir, volumeMounts (validated as the API
/// server validates them) and its unmodelled remainder.
pub(crate) fn container_details(
    c: &core::Container,
    volumes: &[Volume],
    extra_volumes: &[&str],
    path: &str,
) -> FieldResult<ContainerDetails> {
    let mut env = Vec::new();
    for (i, e) in c.env.iter().flatten().enumerate() {
        env.push(env_var(e, &idx(&at(path, "env"), i))?);
    }
    let mut env_from = Vec::new();
    for (i, e) in c.env_from.iter().flatten().enumerate() {
        env_from.push(env_from_source(e, &idx(&at(path, "envFrom"), i))?);
    }
    let mut volume_mounts: Vec<VolumeMount> = Vec::new();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let p = idx(&at(path, "volumeMounts"), i);
        if m.name.is_empty() {
            return Err(FieldError::required(at(&p, "name"), ""));
        }
        if !volumes.iter().any(|v| v.name.as_str() == m.name)
            && !extra_volumes.contains(&m.name.as_str())
        {
            return Err(FieldError::new(
                at(&p, "name"),
                format!("Not found: {}", quote(&m.name)),
            ));
        }
        if m.mount_path.is_empty() {
            return Err(FieldError::required(at(&p, "mountPath"), ""));
        }
        if volume_mounts
            .iter()
            .any(|x| x.mount_path.as_str() == m.mount_path)
        {
            return Err(FieldError::invalid(
                at(&p, "mountPath"),
                quote(&m.mount_path),
                "must be unique",
            ));
        }
        let sub_path = m.sub_path.as_deref().filter(|s| !s.is_empty());
        if let Some(s) = sub_path {
            local_descending_path(s, &at(&p, "subPath"))?;
        }
        volume_mounts.push(VolumeMount {
            name: intern(&m.name),
            mount_path: Str::new(&m.mount_path),
            read_only: m.read_only.unwrap_or(false),
            sub_path: sub_path.map(Str::new),
        });
    }
    Ok(ContainerDetails {
        env,
        env_from,
        working_dir: c
            .working_dir
            .as_deref()
            .filter(|w| !w.is_empty())
            .map(Str::new),
        volume_mounts,
        rest: remainder(c, CONTAINER_MODELLED, CONTAINER_DEFAULTS),
    })
}

/// Upstream `validateLocalDescendingPath`: relative, without `..` elements.
fn local_descending_path(s: &str, path: &str) -> FieldResult<()> {
    if s.starts_with('/') {
        return Err(FieldError::invalid(
            path,
            quote(s),
            "must be a relative path",
        ));
    }
    if s.split('/').any(|e| e == "..") {
        return Err(FieldError::invalid(path, quote(s), "must not contain '..'"));
    }
    Ok(())
}

/// Upstream `IsRelaxedEnvVarName` (Kubernetes 1.34, where the
/// RelaxedEnvironmentVariableValidation gate is GA): non-empty printable ASCII without
/// `=`.
pub(crate) fn env_var_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("environment variable name must be non-empty".to_string());
    }
    if !name.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'=') {
        return Err(
            "a valid environment variable name must consist only of printable ASCII characters \
             other than '='"
                .to_string(),
        );
    }
    Ok(())
}

/// The downward-API field paths an env var may read (upstream
/// `validEnvDownwardAPIFieldPathExpressions`), besides `metadata.labels['k']` and
/// `metadata.annotations['k']`.
const ENV_FIELD_PATHS: [&str; 9] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// The container resources an env var may read.
const ENV_RESOURCES: [&str; 6] = [
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
];

fn env_var(e: &core::EnvVar, path: &str) -> FieldResult<EnvVar> {
    if e.name.is_empty() {
        return Err(FieldError::required(at(path, "name"), ""));
    }
    env_var_name(&e.name).map_err(|m| FieldError::invalid(at(path, "name"), quote(&e.name), &m))?;
    let name = intern(&e.name);
    let value = e.value.as_deref().unwrap_or("");
    let Some(from) = &e.value_from else {
        return Ok(EnvVar {
            name,
            value: EnvValue::Value(Str::new(value)),
        });
    };
    let vpath = at(path, "valueFrom");
    let sources = [
        from.field_ref.is_some(),
        from.resource_field_ref.is_some(),
        from.config_map_key_ref.is_some(),
        from.secret_key_ref.is_some(),
        // `fileKeyRef` is behind the EnvFiles gate, alpha and off in 1.34: the API
        // server drops it, so it counts as no source.
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if sources == 0 {
        return Err(FieldError::invalid(
            vpath,
            quote(""),
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or \
             `secretKeyRef`",
        ));
    }
    if !value.is_empty() {
        return Err(FieldError::invalid(
            vpath,
            quote(""),
            "may not be specified when `value` is not empty",
        ));
    }
    if sources > 1 {
        return Err(FieldError::invalid(
            vpath,
            quote(""),
            "may not have more than one field specified at a time",
        ));
    }
    let empty_secret = core::SecretKeySelector::default();
    let value = if let Some(f) = &from.field_ref {
        let p = at(&vpath, "fieldRef");
        // SetDefaults_ObjectFieldSelector: apiVersion v1.
        let api_version = f.api_version.as_deref().filter(|a| !a.is_empty());
        let api_version = api_version.unwrap_or("v1");
        if api_version != "v1" {
            return Err(FieldError::invalid(
                at(&p, "fieldPath"),
                quote(&f.field_path),
                &format!("error converting fieldPath: unsupported apiVersion {api_version}"),
            ));
        }
        if f.field_path.is_empty() {
            return Err(FieldError::required(at(&p, "fieldPath"), ""));
        }
        field_path(&f.field_path, &at(&p, "fieldPath"))?;
        EnvValue::FieldRef {
            api_version: intern(api_version),
            field_path: intern(&f.field_path),
        }
    } else if let Some(r) = &from.resource_field_ref {
        let p = at(&vpath, "resourceFieldRef");
        if r.resource.is_empty() {
            return Err(FieldError::required(at(&p, "resource"), ""));
        }
        let huge = r.resource.starts_with("requests.hugepages-")
            || r.resource.starts_with("limits.hugepages-");
        if !huge && !ENV_RESOURCES.contains(&r.resource.as_str()) {
            return Err(FieldError::unsupported(
                at(&p, "resource"),
                &r.resource,
                &ENV_RESOURCES,
            ));
        }
        EnvValue::ResourceFieldRef {
            container_name: r
                .container_name
                .as_deref()
                .filter(|c| !c.is_empty())
                .map(intern),
            resource: intern(&r.resource),
            divisor: r.divisor.as_ref().map(|d| intern(&d.0)),
        }
    } else if let Some(r) = &from.config_map_key_ref {
        let p = at(&vpath, "configMapKeyRef");
        let (name, key) = key_selector(&r.name, &r.key, &p)?;
        EnvValue::ConfigMapKeyRef {
            name,
            key,
            optional: r.optional,
        }
    } else {
        let r = from.secret_key_ref.as_ref().unwrap_or(&empty_secret);
        let p = at(&vpath, "secretKeyRef");
        let (name, key) = key_selector(&r.name, &r.key, &p)?;
        EnvValue::SecretKeyRef {
            name,
            key,
            optional: r.optional,
        }
    };
    Ok(EnvVar { name, value })
}

/// A supported downward-API field path for an env var.
fn field_path(fp: &str, path: &str) -> FieldResult<()> {
    if ENV_FIELD_PATHS.contains(&fp) {
        return Ok(());
    }
    for prefix in ["metadata.labels", "metadata.annotations"] {
        if let Some(sub) = fp.strip_prefix(prefix) {
            if let Some(k) = sub.strip_prefix("['").and_then(|s| s.strip_suffix("']")) {
                return validation::label_key(k)
                    .map_err(|e| FieldError::invalid(path, quote(k), detail(&e)));
            }
        }
    }
    let mut supported: Vec<&str> = ENV_FIELD_PATHS.to_vec();
    supported.extend(["metadata.annotations", "metadata.labels"]);
    supported.sort_unstable();
    Err(FieldError::unsupported(path, fp, &supported))
}

/// A ConfigMap/Secret key selector: name required (a DNS-1123 subdomain), key required
/// (upstream `IsConfigMapKey`).
fn key_selector(name: &str, key: &str, path: &str) -> FieldResult<(Str, Str)> {
    object_name(name, &at(path, "name"))?;
    if key.is_empty() {
        return Err(FieldError::required(at(path, "key"), ""));
    }
    config_map_key(key).map_err(|m| FieldError::invalid(at(path, "key"), quote(key), &m))?;
    Ok((intern(name), intern(key)))
}

fn object_name(name: &str, path: &str) -> FieldResult<()> {
    if name.is_empty() {
        return Err(FieldError::required(path, ""));
    }
    validation::dns1123_subdomain(name)
        .map_err(|e| FieldError::invalid(path, quote(name), detail(&e)))
}

/// Upstream `IsConfigMapKey`: ≤ 253 characters of `[-._a-zA-Z0-9]`, not `.`/`..` and not
/// starting with `..`.
fn config_map_key(k: &str) -> Result<(), String> {
    if k.len() > validation::DNS1123_SUBDOMAIN_MAX {
        return Err(format!(
            "must be no more than {} characters",
            validation::DNS1123_SUBDOMAIN_MAX
        ));
    }
    if !k
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
                .to_string(),
        );
    }
    if k == "." {
        return Err("must not be '.'".to_string());
    }
    if k == ".." {
        return Err("must not be '..'".to_string());
    }
    if k.starts_with("..") {
        return Err("must not start with '..'".to_string());
    }
    Ok(())
}

fn env_from_source(e: &core::EnvFromSource, path: &str) -> FieldResult<EnvFromSource> {
    let prefix = e.prefix.as_deref().filter(|p| !p.is_empty());
    if let Some(p) = prefix {
        env_var_name(p).map_err(|m| FieldError::invalid(at(path, "prefix"), quote(p), &m))?;
    }
    let (kind, name, optional, field) = match (&e.config_map_ref, &e.secret_ref) {
        (None, None) => {
            return Err(FieldError::invalid(
                path,
                quote(""),
                "must specify one of: `configMapRef` or `secretRef`",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(FieldError::invalid(
                path,
                quote(""),
                "may not have more than one field specified at a time",
            ))
        }
        (Some(c), None) => (EnvFromKind::ConfigMap, &c.name, c.optional, "configMapRef"),
        (None, Some(s)) => (EnvFromKind::Secret, &s.name, s.optional, "secretRef"),
    };
    object_name(name, &at(&at(path, field), "name"))?;
    Ok(EnvFromSource {
        prefix: prefix.map(intern),
        kind,
        name: intern(name),
        optional,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn env_var_names_follow_the_relaxed_rule() {
        assert!(env_var_name("Logging__LogLevel__Default").is_ok());
        assert!(env_var_name("my.env-name").is_ok());
        assert!(env_var_name("1ST").is_ok());
        assert!(env_var_name("").is_err());
        assert!(env_var_name("A=B").is_err());
        assert!(env_var_name("tab\there").is_err());
        assert!(env_var_name("caf\u{e9}").is_err());
    }

    #[test]
    fn config_map_keys() {
        assert!(config_map_key("app.properties").is_ok());
        assert!(config_map_key("a/b").is_err());
        assert!(config_map_key("..x").is_err());
        assert!(config_map_key(".").is_err());
    }

    #[test]
    fn remainder_drops_modelled_paths_and_keeps_indices() {
        let c: core::Container = serde_json::from_value(json!({
            "name": "web",
            "image": "nginx",
            "ports": [{"containerPort": 80}, {"containerPort": 81, "hostIP": "10.0.0.1"}],
            "readinessProbe": {"periodSeconds": 5, "httpGet": {"path": "/", "port": 80}},
            "resources": {"requests": {"cpu": "1", "ephemeral-storage": "1Gi"}},
            "env": [{"name": "A", "value": "1"}],
            "securityContext": {"runAsUser": 1000},
        }))
        .unwrap();
        let rest = remainder(&c, CONTAINER_MODELLED, CONTAINER_DEFAULTS);
        assert_eq!(
            rest.as_str(),
            Some(
                r#"{"ports":[{},{"hostIP":"10.0.0.1"}],"readinessProbe":{"httpGet":{"path":"/","port":80}},"resources":{"requests":{"ephemeral-storage":"1Gi"}},"securityContext":{"runAsUser":1000}}"#
            )
        );
        let plain: core::Container =
            serde_json::from_value(json!({"name": "web", "image": "nginx",
                "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 80}]}))
            .unwrap();
        assert!(remainder(&plain, CONTAINER_MODELLED, CONTAINER_DEFAULTS).is_empty());
    }
}
