//! Pods, Namespaces, Nodes, Services, Endpoints, EndpointSlices, ConfigMaps and Events.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::field::{at, detail, idx, key, port_name, port_number, quote, FieldError, FieldResult};
use super::meta::{
    bytes, cpu_millis, int_or_string, ipv4, labels, object_meta, object_ref, one_of, time,
};
use super::pod::{pod_spec, protocol};
use crate::intern::{intern, Str};
use crate::model::*;
use crate::time::Timestamp;
use crate::validation;

/// `v1 Pod`. `spec.nodeName` (a pod bound by hand) is kept on [`Pod::node_name`].
/// The status is the API server's fresh one (Pending): a manifest's status is ignored.
pub(crate) fn pod(p: &core::Pod) -> FieldResult<Pod> {
    let meta = object_meta(&p.metadata, Kind::Pod)?;
    let empty = core::PodSpec::default();
    let s = p.spec.as_ref().unwrap_or(&empty);
    let spec = pod_spec(s, "spec")?;
    let node_name = match s.node_name.as_deref().filter(|n| !n.is_empty()) {
        None => None,
        Some(n) => {
            validation::dns1123_subdomain(n)
                .map_err(|e| FieldError::invalid("spec.nodeName", quote(n), detail(&e)))?;
            Some(intern(n))
        }
    };
    Ok(Pod {
        meta,
        spec: Arc::new(spec),
        node_name,
        status: PodStatus::default(),
    })
}

/// `v1 Namespace` (phase Active; `spec.finalizers` is not kept).
pub(crate) fn namespace(n: &core::Namespace) -> FieldResult<Namespace> {
    Ok(Namespace {
        meta: object_meta(&n.metadata, Kind::Namespace)?,
        phase: NamespacePhase::Active,
    })
}

/// `v1 ConfigMap` (`data`; `binaryData` and `immutable` are not kept).
pub(crate) fn config_map(c: &core::ConfigMap) -> FieldResult<ConfigMap> {
    let meta = object_meta(&c.metadata, Kind::ConfigMap)?;
    let mut data = Vec::new();
    for (k, v) in c.data.iter().flatten() {
        let ok = !k.is_empty()
            && k.len() <= validation::DNS1123_SUBDOMAIN_MAX
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !ok {
            return Err(FieldError::invalid(
                "data",
                quote(k),
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' \
                 (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            ));
        }
        data.push((Str::new(k), Str::new(v)));
    }
    Ok(ConfigMap { meta, data })
}

/// `v1 Node`. Unlike other kinds, a Node's status is kept from the manifest (a kubelet
/// registers its node with its capacity): capacity and allocatable (cpu, memory, pods),
/// conditions, the InternalIP address and image names. A node without a capacity gets
/// [`NodeCapacity::default`]; allocatable defaults to capacity.
pub(crate) fn node(n: &core::Node) -> FieldResult<Node> {
    let meta = object_meta(&n.metadata, Kind::Node)?;
    let empty = core::NodeSpec::default();
    let s = n.spec.as_ref().unwrap_or(&empty);
    let cidr = s.pod_cidr.as_deref().or_else(|| {
        s.pod_cidrs
            .as_ref()
            .and_then(|c| c.first())
            .map(String::as_str)
    });
    let pod_cidr = cidr
        .filter(|c| !c.is_empty())
        .map(|c| parse_cidr(c, "spec.podCIDR"))
        .transpose()?;
    let mut taints = Vec::new();
    for (i, t) in s.taints.iter().flatten().enumerate() {
        let p = idx("spec.taints", i);
        if t.key.is_empty() {
            return Err(FieldError::required(at(&p, "key"), ""));
        }
        validation::label_key(&t.key)
            .map_err(|e| FieldError::invalid(at(&p, "key"), quote(&t.key), detail(&e)))?;
        let effect = TaintEffect::parse(&t.effect).ok_or_else(|| {
            if t.effect.is_empty() {
                FieldError::required(at(&p, "effect"), "")
            } else {
                FieldError::unsupported(
                    at(&p, "effect"),
                    &t.effect,
                    &["NoSchedule", "PreferNoSchedule", "NoExecute"],
                )
            }
        })?;
        let value = t.value.as_deref().filter(|v| !v.is_empty());
        if let Some(v) = value {
            validation::label_value(v)
                .map_err(|e| FieldError::invalid(at(&p, "value"), quote(v), detail(&e)))?;
        }
        taints.push(Taint {
            key: intern(&t.key),
            value: value.map(intern),
            effect,
            time_added: t.time_added.as_ref().map(time),
        });
    }

    let empty_status = core::NodeStatus::default();
    let st = n.status.as_ref().unwrap_or(&empty_status);
    let capacity = match &st.capacity {
        None => NodeCapacity::default(),
        Some(c) => node_capacity(c, "status.capacity")?,
    };
    let allocatable = match &st.allocatable {
        None => capacity,
        Some(c) => node_capacity(c, "status.allocatable")?,
    };
    let mut conditions = Vec::new();
    for (i, c) in st.conditions.iter().flatten().enumerate() {
        let p = idx("status.conditions", i);
        conditions.push(Condition {
            type_: intern(&c.type_),
            status: condition_status(&c.status, &at(&p, "status"))?,
            reason: c.reason.as_deref().map(intern),
            message: c.message.as_deref().map(Str::new),
            last_transition_time: c.last_transition_time.as_ref().map_or(Timestamp(0), time),
            last_update_time: c.last_heartbeat_time.as_ref().map(time),
        });
    }
    let mut internal_ip = None;
    for (i, a) in st.addresses.iter().flatten().enumerate() {
        if a.type_ == "InternalIP" && internal_ip.is_none() {
            internal_ip = Some(ipv4(
                &a.address,
                &at(&idx("status.addresses", i), "address"),
            )?);
        }
    }
    let images = st
        .images
        .iter()
        .flatten()
        .flat_map(|i| i.names.iter().flatten())
        .map(|n| intern(n))
        .collect();
    Ok(Node {
        meta,
        spec: NodeSpec {
            pod_cidr,
            unschedulable: s.unschedulable.unwrap_or(false),
            taints,
        },
        status: NodeStatus {
            capacity,
            allocatable,
            conditions,
            internal_ip,
            images,
        },
    })
}

fn node_capacity(c: &BTreeMap<String, Quantity>, path: &str) -> FieldResult<NodeCapacity> {
    let d = NodeCapacity::default();
    Ok(NodeCapacity {
        resources: Resources {
            cpu_millis: c
                .get("cpu")
                .map(|q| cpu_millis(q, &key(path, "cpu")))
                .transpose()?
                .unwrap_or(d.resources.cpu_millis),
            memory_bytes: c
                .get("memory")
                .map(|q| bytes(q, &key(path, "memory")))
                .transpose()?
                .unwrap_or(d.resources.memory_bytes),
        },
        pods: c
            .get("pods")
            .map(|q| bytes(q, &key(path, "pods")))
            .transpose()?
            .unwrap_or(d.pods),
    })
}

fn condition_status(s: &str, path: &str) -> FieldResult<ConditionStatus> {
    match s {
        "True" => Ok(ConditionStatus::True),
        "False" => Ok(ConditionStatus::False),
        "Unknown" => Ok(ConditionStatus::Unknown),
        other => Err(FieldError::unsupported(
            path,
            other,
            &["True", "False", "Unknown"],
        )),
    }
}

fn parse_cidr(c: &str, path: &str) -> FieldResult<(std::net::Ipv4Addr, u8)> {
    let bad = || {
        FieldError::invalid(
            path,
            quote(c),
            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        )
    };
    let (addr, len) = c.split_once('/').ok_or_else(bad)?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32).ok_or_else(bad)?;
    Ok((ipv4(addr, path)?, len))
}

const SERVICE_TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
/// NodePort range (the API server's default `--service-node-port-range`).
pub(crate) const NODE_PORT_RANGE: std::ops::RangeInclusive<i32> = 30000..=32767;
/// Default ClientIP affinity timeout (3 hours).
const DEFAULT_AFFINITY_TIMEOUT_SECONDS: i32 = 10800;
/// Longest ClientIP affinity timeout (one day).
const MAX_AFFINITY_TIMEOUT_SECONDS: i32 = 86400;

/// `v1 Service`, defaulted as `SetDefaults_Service` does (type ClusterIP, protocol TCP,
/// targetPort = port, sessionAffinity None, ClientIP timeout 10800).
pub(crate) fn service(svc: &core::Service) -> FieldResult<Service> {
    let meta = object_meta(&svc.metadata, Kind::Service)?;
    let empty = core::ServiceSpec::default();
    let s = svc.spec.as_ref().unwrap_or(&empty);
    let type_ = match one_of(s.type_.as_deref(), "ClusterIP", &SERVICE_TYPES, "spec.type")? {
        "NodePort" => ServiceType::NodePort,
        "LoadBalancer" => ServiceType::LoadBalancer,
        "ExternalName" => ServiceType::ExternalName,
        _ => ServiceType::ClusterIp,
    };
    let selector = labels(s.selector.as_ref(), "spec.selector")?;

    // clusterIP, or the first of clusterIPs; both given must agree.
    let ip_text = match (
        s.cluster_ip.as_deref().filter(|c| !c.is_empty()),
        s.cluster_ips.as_ref().and_then(|c| c.first()),
    ) {
        (Some(a), Some(b)) if a != b => {
            return Err(FieldError::invalid(
                "spec.clusterIPs[0]",
                quote(b),
                "must be equal to `clusterIP` or `None` when `clusterIP` is set",
            ))
        }
        (Some(a), _) => Some(a.to_string()),
        (None, Some(b)) if !b.is_empty() => Some(b.clone()),
        _ => None,
    };
    let cluster_ip = match ip_text.as_deref() {
        None => ClusterIp::Unassigned,
        Some("None") => ClusterIp::Headless,
        Some(ip) => ClusterIp::Ip(ipv4(ip, "spec.clusterIPs[0]")?),
    };
    match (type_, cluster_ip) {
        (ServiceType::ExternalName, ClusterIp::Unassigned) => {}
        (ServiceType::ExternalName, _) => {
            return Err(FieldError::forbidden(
                "spec.clusterIP",
                "may not be set for ExternalName services",
            ))
        }
        (ServiceType::NodePort | ServiceType::LoadBalancer, ClusterIp::Headless) => {
            return Err(FieldError::invalid(
                "spec.clusterIPs[0]",
                quote("None"),
                &format!("may not be set to 'None' for {} services", type_.as_str()),
            ))
        }
        _ => {}
    }

    let external_name = match s.external_name.as_deref().filter(|n| !n.is_empty()) {
        None if type_ == ServiceType::ExternalName => {
            return Err(FieldError::required("spec.externalName", ""));
        }
        None => None,
        Some(n) => {
            let trimmed = n.strip_suffix('.').unwrap_or(n);
            validation::dns1123_subdomain(trimmed)
                .map_err(|e| FieldError::invalid("spec.externalName", quote(n), detail(&e)))?;
            Some(Str::new(n))
        }
    };

    let port_list = s.ports.as_deref().unwrap_or(&[]);
    if port_list.is_empty()
        && cluster_ip != ClusterIp::Headless
        && type_ != ServiceType::ExternalName
    {
        return Err(FieldError::required("spec.ports", ""));
    }
    let mut ports: Vec<ServicePort> = Vec::with_capacity(port_list.len());
    for (i, p) in port_list.iter().enumerate() {
        let pp = idx("spec.ports", i);
        let name = p.name.as_deref().filter(|n| !n.is_empty());
        match name {
            None if port_list.len() > 1 => return Err(FieldError::required(at(&pp, "name"), "")),
            None => {}
            Some(n) => {
                validation::dns1123_label(n)
                    .map_err(|e| FieldError::invalid(at(&pp, "name"), quote(n), detail(&e)))?;
                if ports.iter().any(|x| x.name.as_deref() == Some(n)) {
                    return Err(FieldError::duplicate(at(&pp, "name"), n));
                }
            }
        }
        port_number(&at(&pp, "port"), p.port)?;
        let proto = protocol(p.protocol.as_deref(), &at(&pp, "protocol"))?;
        if ports
            .iter()
            .any(|x| x.port == p.port && x.protocol == proto)
        {
            return Err(FieldError::duplicate(
                &pp,
                &format!("{}/{}", p.port, proto.as_str()),
            ));
        }
        let target_port = match p.target_port.as_ref().map(int_or_string) {
            None | Some(IntOrString::Int(0)) => IntOrString::Int(p.port),
            Some(IntOrString::String(s)) if s.is_empty() => IntOrString::Int(p.port),
            Some(IntOrString::Int(t)) => {
                port_number(&at(&pp, "targetPort"), t)?;
                IntOrString::Int(t)
            }
            Some(IntOrString::String(n)) => {
                port_name(&at(&pp, "targetPort"), &n)?;
                IntOrString::String(n)
            }
        };
        let node_port = p.node_port.filter(|n| *n != 0);
        if let Some(np) = node_port {
            if !matches!(type_, ServiceType::NodePort | ServiceType::LoadBalancer) {
                return Err(FieldError::forbidden(
                    at(&pp, "nodePort"),
                    &format!("may not be used when `type` is '{}'", type_.as_str()),
                ));
            }
            if !NODE_PORT_RANGE.contains(&np) {
                return Err(FieldError::invalid(
                    at(&pp, "nodePort"),
                    np,
                    "provided port is not in the valid range. The range of valid ports is 30000-32767",
                ));
            }
        }
        ports.push(ServicePort {
            name: name.map(intern),
            protocol: proto,
            port: p.port,
            target_port,
            node_port,
        });
    }

    let session_affinity = match one_of(
        s.session_affinity.as_deref(),
        "None",
        &["ClientIP", "None"],
        "spec.sessionAffinity",
    )? {
        "ClientIP" => SessionAffinity::ClientIp,
        _ => SessionAffinity::None,
    };
    let configured = s
        .session_affinity_config
        .as_ref()
        .and_then(|c| c.client_ip.as_ref());
    let session_affinity_timeout_seconds = match session_affinity {
        SessionAffinity::None => {
            if s.session_affinity_config.is_some() {
                return Err(FieldError::forbidden(
                    "spec.sessionAffinityConfig",
                    "must not be set when `sessionAffinity` is None",
                ));
            }
            None
        }
        SessionAffinity::ClientIp => {
            let t = configured
                .and_then(|c| c.timeout_seconds)
                .unwrap_or(DEFAULT_AFFINITY_TIMEOUT_SECONDS);
            if !(1..=MAX_AFFINITY_TIMEOUT_SECONDS).contains(&t) {
                return Err(FieldError::invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    t,
                    &format!("must be greater than 0 and less than {MAX_AFFINITY_TIMEOUT_SECONDS}"),
                ));
            }
            Some(t)
        }
    };

    let load_balancer_ip = s
        .load_balancer_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
        .map(|ip| ipv4(ip, "spec.loadBalancerIP"))
        .transpose()?;

    Ok(Service {
        meta,
        spec: ServiceSpec {
            type_,
            selector,
            cluster_ip,
            ports,
            session_affinity,
            session_affinity_timeout_seconds,
            external_name,
            publish_not_ready_addresses: s.publish_not_ready_addresses.unwrap_or(false),
            load_balancer_ip,
        },
        status: ServiceStatus::default(),
    })
}

fn endpoint_port(
    name: Option<&str>,
    port: Option<i32>,
    proto: Option<&str>,
    several: bool,
    path: &str,
) -> FieldResult<EndpointPort> {
    let name = name.filter(|n| !n.is_empty());
    match name {
        None if several => return Err(FieldError::required(at(path, "name"), "")),
        None => {}
        Some(n) => validation::dns1123_label(n)
            .map_err(|e| FieldError::invalid(at(path, "name"), quote(n), detail(&e)))?,
    }
    let Some(port) = port else {
        return Err(FieldError::required(at(path, "port"), ""));
    };
    port_number(&at(path, "port"), port)?;
    Ok(EndpointPort {
        name: name.map(intern),
        port,
        protocol: protocol(proto, &at(path, "protocol"))?,
    })
}

fn endpoint_address(a: &core::EndpointAddress, path: &str) -> FieldResult<EndpointAddress> {
    let hostname = a.hostname.as_deref().filter(|h| !h.is_empty());
    if let Some(h) = hostname {
        validation::dns1123_label(h)
            .map_err(|e| FieldError::invalid(at(path, "hostname"), quote(h), detail(&e)))?;
    }
    Ok(EndpointAddress {
        ip: ipv4(&a.ip, &at(path, "ip"))?,
        hostname: hostname.map(Str::new),
        node_name: a.node_name.as_deref().filter(|n| !n.is_empty()).map(intern),
        target_ref: a
            .target_ref
            .as_ref()
            .map(|r| object_ref(r, Some(Kind::Pod), &at(path, "targetRef")))
            .transpose()?,
    })
}

/// `v1 Endpoints` (the user-written endpoints of a selector-less Service).
pub(crate) fn endpoints(e: &core::Endpoints) -> FieldResult<Endpoints> {
    let meta = object_meta(&e.metadata, Kind::Endpoints)?;
    let mut subsets = Vec::new();
    for (i, s) in e.subsets.iter().flatten().enumerate() {
        let p = idx("subsets", i);
        let mut addresses = Vec::new();
        for (j, a) in s.addresses.iter().flatten().enumerate() {
            addresses.push(endpoint_address(a, &idx(&at(&p, "addresses"), j))?);
        }
        let mut not_ready_addresses = Vec::new();
        for (j, a) in s.not_ready_addresses.iter().flatten().enumerate() {
            not_ready_addresses.push(endpoint_address(a, &idx(&at(&p, "notReadyAddresses"), j))?);
        }
        let list = s.ports.as_deref().unwrap_or(&[]);
        let mut ports = Vec::new();
        for (j, port) in list.iter().enumerate() {
            ports.push(endpoint_port(
                port.name.as_deref(),
                Some(port.port),
                port.protocol.as_deref(),
                list.len() > 1,
                &idx(&at(&p, "ports"), j),
            )?);
        }
        subsets.push(EndpointSubset {
            addresses,
            not_ready_addresses,
            ports,
        });
    }
    Ok(Endpoints { meta, subsets })
}

/// Most addresses one EndpointSlice endpoint may list.
const MAX_ENDPOINT_ADDRESSES: usize = 100;

/// `discovery.k8s.io/v1 EndpointSlice` (IPv4 only).
pub(crate) fn endpoint_slice(e: &discovery::EndpointSlice) -> FieldResult<EndpointSlice> {
    let meta = object_meta(&e.metadata, Kind::EndpointSlice)?;
    if e.address_type.is_empty() {
        return Err(FieldError::required("addressType", ""));
    }
    one_of(Some(e.address_type.as_str()), "", &["IPv4"], "addressType").map_err(|err| {
        FieldError::new(
            err.field,
            format!("{} (kubesim simulates IPv4 only)", err.reason),
        )
    })?;
    let mut endpoints = Vec::new();
    for (i, ep) in e.endpoints.iter().flatten().enumerate() {
        let p = idx("endpoints", i);
        if ep.addresses.is_empty() {
            return Err(FieldError::required(
                at(&p, "addresses"),
                "must contain at least 1 address",
            ));
        }
        if ep.addresses.len() > MAX_ENDPOINT_ADDRESSES {
            return Err(FieldError::new(
                at(&p, "addresses"),
                format!(
                    "Too many: {}: must have at most {MAX_ENDPOINT_ADDRESSES} items",
                    ep.addresses.len()
                ),
            ));
        }
        let mut addresses = Vec::new();
        for (j, a) in ep.addresses.iter().enumerate() {
            addresses.push(ipv4(a, &idx(&at(&p, "addresses"), j))?);
        }
        let c = ep.conditions.clone().unwrap_or_default();
        let hostname = ep.hostname.as_deref().filter(|h| !h.is_empty());
        if let Some(h) = hostname {
            validation::dns1123_label(h)
                .map_err(|err| FieldError::invalid(at(&p, "hostname"), quote(h), detail(&err)))?;
        }
        endpoints.push(Endpoint {
            addresses,
            conditions: EndpointConditions {
                ready: c.ready,
                serving: c.serving,
                terminating: c.terminating,
            },
            hostname: hostname.map(Str::new),
            node_name: ep
                .node_name
                .as_deref()
                .filter(|n| !n.is_empty())
                .map(intern),
            target_ref: ep
                .target_ref
                .as_ref()
                .map(|r| object_ref(r, Some(Kind::Pod), &at(&p, "targetRef")))
                .transpose()?,
        });
    }
    let list = e.ports.as_deref().unwrap_or(&[]);
    let mut ports: Vec<EndpointPort> = Vec::new();
    for (j, port) in list.iter().enumerate() {
        let p = idx("ports", j);
        let converted = endpoint_port(
            port.name.as_deref(),
            port.port,
            port.protocol.as_deref(),
            false,
            &p,
        )?;
        if ports.iter().any(|x| x.name == converted.name) {
            return Err(FieldError::duplicate(
                at(&p, "name"),
                converted.name.as_deref().unwrap_or(""),
            ));
        }
        ports.push(converted);
    }
    Ok(EndpointSlice {
        meta,
        address_type: intern(&e.address_type),
        endpoints,
        ports,
    })
}

/// `v1 Event` (core events, as `kubectl describe` shows them).
pub(crate) fn event(e: &core::Event) -> FieldResult<Event> {
    let meta = object_meta(&e.metadata, Kind::Event)?;
    let involved_object = object_ref(&e.involved_object, None, "involvedObject")?;
    let type_ = match one_of(e.type_.as_deref(), "Normal", &["Normal", "Warning"], "type")? {
        "Warning" => EventType::Warning,
        _ => EventType::Normal,
    };
    let first_timestamp = e.first_timestamp.as_ref().map_or(Timestamp(0), time);
    Ok(Event {
        meta,
        involved_object,
        reason: intern(e.reason.as_deref().unwrap_or("")),
        message: Str::new(e.message.as_deref().unwrap_or("")),
        type_,
        count: e.count.unwrap_or(1),
        first_timestamp,
        last_timestamp: e.last_timestamp.as_ref().map_or(Timestamp(0), time),
        source: intern(
            e.source
                .as_ref()
                .and_then(|s| s.component.as_deref())
                .unwrap_or(""),
        ),
    })
}
