use std::net::Ipv4Addr;

use super::{Condition, ObjectMeta, Resources, Taint};
use crate::intern::Str;

/// A Namespace.
#[derive(Clone, Debug, PartialEq)]
pub struct Namespace {
    /// Metadata.
    pub meta: ObjectMeta,
    /// Phase: Active or Terminating.
    pub phase: NamespacePhase,
}

/// Namespace phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum NamespacePhase {
    /// In use.
    #[default]
    Active,
    /// Being deleted.
    Terminating,
}

/// Node capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeCapacity {
    /// CPU (millicores) and memory (bytes).
    pub resources: Resources,
    /// Max pods (110).
    pub pods: i64,
}

impl Default for NodeCapacity {
    fn default() -> Self {
        NodeCapacity {
            resources: Resources {
                cpu_millis: 4000,
                memory_bytes: 16 << 30,
            },
            pods: 110,
        }
    }
}

/// A Node.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Metadata.
    pub meta: ObjectMeta,
    /// Spec.
    pub spec: NodeSpec,
    /// Status.
    pub status: NodeStatus,
}

/// Node spec.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NodeSpec {
    /// Pod CIDR: network address and prefix length (pod IPs come from it).
    pub pod_cidr: Option<(Ipv4Addr, u8)>,
    /// Cordoned.
    pub unschedulable: bool,
    /// Taints.
    pub taints: Vec<Taint>,
}

/// Node status.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NodeStatus {
    /// Capacity.
    pub capacity: NodeCapacity,
    /// Allocatable (= capacity in the simulation).
    pub allocatable: NodeCapacity,
    /// Conditions (Ready, with `last_update_time` as the heartbeat).
    pub conditions: Vec<Condition>,
    /// InternalIP.
    pub internal_ip: Option<Ipv4Addr>,
    /// Images present on the node.
    pub images: Vec<Str>,
}

impl Node {
    /// The Ready condition's status (Unknown when absent).
    pub fn ready_status(&self) -> super::ConditionStatus {
        super::find_condition(&self.status.conditions, "Ready")
            .map(|c| c.status)
            .unwrap_or_default()
    }
}

/// A ConfigMap.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigMap {
    /// Metadata.
    pub meta: ObjectMeta,
    /// `data`, sorted by key.
    pub data: Vec<(Str, Str)>,
}
