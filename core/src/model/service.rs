use std::net::Ipv4Addr;

use super::{IntOrString, ObjectMeta, ObjectRef, Protocol};
use crate::intern::{Str, StrMap};

/// Service type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ServiceType {
    /// A virtual IP inside the cluster (the default).
    #[default]
    ClusterIp,
    /// ClusterIP plus a port on every node.
    NodePort,
    /// NodePort plus an external IP from the pool.
    LoadBalancer,
    /// A DNS CNAME to `externalName`.
    ExternalName,
}

impl ServiceType {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIp => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::ExternalName => "ExternalName",
        }
    }
}

/// The cluster IP a Service asks for or was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ClusterIp {
    /// Not set yet: the allocator assigns one.
    #[default]
    Unassigned,
    /// `clusterIP: None`: headless (DNS only, no virtual IP).
    Headless,
    /// An address (requested, or allocated).
    Ip(Ipv4Addr),
}

/// Session affinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SessionAffinity {
    /// No affinity (the default).
    #[default]
    None,
    /// Requests from one client IP go to one endpoint.
    ClientIp,
}

/// A Service port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServicePort {
    /// Name (required when there is more than one port).
    pub name: Option<Str>,
    /// Protocol.
    pub protocol: Protocol,
    /// The Service's port.
    pub port: i32,
    /// The pod port: a number, or a container port's name (defaults to `port`).
    pub target_port: IntOrString,
    /// The node port (NodePort/LoadBalancer), requested or allocated.
    pub node_port: Option<i32>,
}

/// A Service.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// Metadata.
    pub meta: ObjectMeta,
    /// Spec.
    pub spec: ServiceSpec,
    /// Status.
    pub status: ServiceStatus,
}

/// Service spec.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ServiceSpec {
    /// Type.
    pub type_: ServiceType,
    /// Pod selector; empty = a selector-less Service (endpoints written by hand).
    pub selector: StrMap,
    /// Cluster IP.
    pub cluster_ip: ClusterIp,
    /// Ports.
    pub ports: Vec<ServicePort>,
    /// Session affinity.
    pub session_affinity: SessionAffinity,
    /// `sessionAffinityConfig.clientIP.timeoutSeconds` (10800 when ClientIP).
    pub session_affinity_timeout_seconds: Option<i32>,
    /// `externalName` (ExternalName services).
    pub external_name: Option<Str>,
    /// Publish endpoints of pods that are not ready.
    pub publish_not_ready_addresses: bool,
    /// A requested `loadBalancerIP`.
    pub load_balancer_ip: Option<Ipv4Addr>,
}

/// Service status.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ServiceStatus {
    /// `loadBalancer.ingress[].ip`.
    pub load_balancer_ingress: Vec<Ipv4Addr>,
}

impl Service {
    /// Whether `clusterIP: None`.
    pub fn is_headless(&self) -> bool {
        self.spec.cluster_ip == ClusterIp::Headless
    }
}

/// An Endpoints address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndpointAddress {
    /// IP.
    pub ip: Ipv4Addr,
    /// Hostname (StatefulSet pods).
    pub hostname: Option<Str>,
    /// Node of the pod.
    pub node_name: Option<Str>,
    /// The pod.
    pub target_ref: Option<ObjectRef>,
}

/// A port of Endpoints or an EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndpointPort {
    /// Name (matches the Service port's name).
    pub name: Option<Str>,
    /// Port number on the endpoint.
    pub port: i32,
    /// Protocol.
    pub protocol: Protocol,
}

/// An Endpoints subset.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct EndpointSubset {
    /// Ready addresses.
    pub addresses: Vec<EndpointAddress>,
    /// Not-ready addresses.
    pub not_ready_addresses: Vec<EndpointAddress>,
    /// Ports.
    pub ports: Vec<EndpointPort>,
}

/// An Endpoints object (same name as its Service).
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoints {
    /// Metadata.
    pub meta: ObjectMeta,
    /// Subsets.
    pub subsets: Vec<EndpointSubset>,
}

/// Conditions of an EndpointSlice endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct EndpointConditions {
    /// Serving and not terminating.
    pub ready: Option<bool>,
    /// The pod is Ready (regardless of termination).
    pub serving: Option<bool>,
    /// The pod is being deleted.
    pub terminating: Option<bool>,
}

/// An EndpointSlice endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Addresses (one per pod in kubesim).
    pub addresses: Vec<Ipv4Addr>,
    /// Conditions.
    pub conditions: EndpointConditions,
    /// Hostname.
    pub hostname: Option<Str>,
    /// Node.
    pub node_name: Option<Str>,
    /// The pod.
    pub target_ref: Option<ObjectRef>,
}

/// An EndpointSlice (label `kubernetes.io/service-name` names its Service).
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointSlice {
    /// Metadata.
    pub meta: ObjectMeta,
    /// `IPv4` (the only type simulated).
    pub address_type: Str,
    /// Endpoints (at most 100 per slice by the controller).
    pub endpoints: Vec<Endpoint>,
    /// Ports.
    pub ports: Vec<EndpointPort>,
}

/// The label on an EndpointSlice naming its Service.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The label on an EndpointSlice naming the controller that manages it.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";

/// Labels helper: the selector map of a Service, if it has one.
pub fn service_selector(svc: &Service) -> Option<&StrMap> {
    (!svc.spec.selector.is_empty()).then_some(&svc.spec.selector)
}
