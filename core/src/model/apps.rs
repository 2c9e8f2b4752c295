use super::{Condition, IntOrString, ObjectMeta, PodTemplateSpec, PvcSpec, TemplateMeta};
use crate::intern::Str;
use crate::selector::LabelSelector;

/// A ReplicaSet.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaSet {
    /// Metadata.
    pub meta: ObjectMeta,
    /// Spec.
    pub spec: ReplicaSetSpec,
    /// Status.
    pub status: ReplicaSetStatus,
}

/// ReplicaSet spec.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ReplicaSetSpec {
    /// Desired pods (default 1).
    pub replicas: i32,
    /// Seconds a pod must be ready to count as available.
    pub min_ready_seconds: i32,
    /// Pod selector (non-empty, matches the template's labels).
    pub selector: LabelSelector,
    /// Pod template.
    pub template: PodTemplateSpec,
}

/// ReplicaSet status.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ReplicaSetStatus {
    /// Active pods owned.
    pub replicas: i32,
    /// Of those, pods whose labels match the template's labels.
    pub fully_labeled_replicas: i32,
    /// Of those, ready pods.
    pub ready_replicas: i32,
    /// Of those, pods ready for minReadySeconds.
    pub available_replicas: i32,
    /// The generation this status reflects.
    pub observed_generation: i64,
    /// Conditions (ReplicaFailure).
    pub conditions: Vec<Condition>,
}

/// Deployment strategy.
#[derive(Clone, Debug, PartialEq)]
pub enum DeploymentStrategy {
    /// Kill every old pod before creating new ones.
    Recreate,
    /// Replace pods gradually within the surge/unavailability bounds.
    RollingUpdate {
        /// Pods above `replicas` allowed during the update (default 25%, rounded up).
        max_surge: IntOrString,
        /// Pods below `replicas` allowed during the update (default 25%, rounded down).
        max_unavailable: IntOrString,
    },
}

impl Default for DeploymentStrategy {
    fn default() -> Self {
        DeploymentStrategy::RollingUpdate {
            max_surge: IntOrString::String(Str::new("25%")),
            max_unavailable: IntOrString::String(Str::new("25%")),
        }
    }
}

/// A Deployment.
#[derive(Clone, Debug, PartialEq)]
pub struct Deployment {
    /// Metadata.
    pub meta: ObjectMeta,
    /// Spec.
    pub spec: DeploymentSpec,
    /// Status.
    pub status: DeploymentStatus,
}

/// Deployment spec.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DeploymentSpec {
    /// Desired pods (default 1).
    pub replicas: i32,
    /// Pod selector.
    pub selector: LabelSelector,
    /// Pod template.
    pub template: PodTemplateSpec,
    /// Strategy.
    pub strategy: DeploymentStrategy,
    /// Seconds a pod must be ready to count as available (0).
    pub min_ready_seconds: i32,
    /// Old ReplicaSets kept for rollback (10).
    pub revision_history_limit: i32,
    /// Paused: template changes start no rollout.
    pub paused: bool,
    /// Seconds without progress before Progressing=False/ProgressDeadlineExceeded (600).
    pub progress_deadline_seconds: i32,
}

/// Deployment status.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DeploymentStatus {
    /// The generation this status reflects.
    pub observed_generation: i64,
    /// Pods of every owned ReplicaSet.
    pub replicas: i32,
    /// Pods of the newest ReplicaSet.
    pub updated_replicas: i32,
    /// Ready pods.
    pub ready_replicas: i32,
    /// Available pods.
    pub available_replicas: i32,
    /// `replicas` wanted minus available (never negative).
    pub unavailable_replicas: i32,
    /// Available, Progressing (and ReplicaFailure).
    pub conditions: Vec<Condition>,
    /// Hash collisions seen (feeds the pod-template-hash).
    pub collision_count: Option<i32>,
}

/// DaemonSet update strategy.
#[derive(Clone, Debug, PartialEq)]
pub enum DaemonSetUpdateStrategy {
    /// Replace pods node by node.
    RollingUpdate {
        /// Nodes whose pod may be unavailable at once (default 1).
        max_unavailable: IntOrString,
        /// Nodes that may run an extra new pod at once (default 0).
        max_surge: IntOrString,
    },
    /// New pods only when old ones are deleted by hand.
    OnDelete,
}

impl Default for DaemonSetUpdateStrategy {
    fn default() -> Self {
        DaemonSetUpdateStrategy::RollingUpdate {
            max_unavailable: IntOrString::Int(1),
            max_surge: IntOrString::Int(0),
        }
    }
}

/// A DaemonSet.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonSet {
    /// Metadata.
    pub meta: ObjectMeta,
    /// Spec.
    pub spec: DaemonSetSpec,
    /// Status.
    pub status: DaemonSetStatus,
}

/// DaemonSet spec.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DaemonSetSpec {
    /// Pod selector.
    pub selector: LabelSelector,
    /// Pod template.
    pub template: PodTemplateSpec,
    /// Update strategy.
    pub update_strategy: DaemonSetUpdateStrategy,
    /// Seconds a pod must be ready to count as available.
    pub min_ready_seconds: i32,
    /// Old revisions kept (10).
    pub revision_history_limit: i32,
}

/// DaemonSet status.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DaemonSetStatus {
    /// Nodes that should run the pod.
    pub desired_number_scheduled: i32,
    /// Nodes that run at least one pod and should.
    pub current_number_scheduled: i32,
    /// Nodes whose pod is ready.
    pub number_ready: i32,
    /// Nodes that run the pod but should not.
    pub number_misscheduled: i32,
    /// Nodes that run the current template's pod.
    pub updated_number_scheduled: i32,
    /// Nodes whose pod is available.
    pub number_available: i32,
    /// Nodes that should run an available pod and do not.
    pub number_unavailable: i32,
    /// The generation this status reflects.
    pub observed_generation: i64,
}

/// StatefulSet pod management policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PodManagementPolicy {
    /// One at a time, in ordinal order, each Running and Ready before the next.
    #[default]
    OrderedReady,
    /// All at once.
    Parallel,
}

/// StatefulSet update strategy.
#[derive(Clone, Debug, PartialEq)]
pub enum StatefulSetUpdateStrategy {
    /// Replace pods from the highest ordinal down to `partition`.
    RollingUpdate {
        /// Ordinals below this keep the old revision (0).
        partition: i32,
    },
    /// New pods only when old ones are deleted by hand.
    OnDelete,
}

impl Default for StatefulSetUpdateStrategy {
    fn default() -> Self {
        StatefulSetUpdateStrategy::RollingUpdate { partition: 0 }
    }
}

/// What happens to a StatefulSet's PVCs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PvcRetention {
    /// Keep them (the default).
    #[default]
    Retain,
    /// Delete them.
    Delete,
}

/// A `volumeClaimTemplates` entry.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PvcTemplate {
    /// Template name (the claim is `<name>-<sts>-<ordinal>`) and labels.
    pub name: Str,
    /// Labels and annotations of the claim.
    pub meta: TemplateMeta,
    /// Claim spec.
    pub spec: PvcSpec,
}

/// A StatefulSet.
#[derive(Clone, Debug, PartialEq)]
pub struct StatefulSet {
    /// Metadata.
    pub meta: ObjectMeta,
    /// Spec.
    pub spec: StatefulSetSpec,
    /// Status.
    pub status: StatefulSetStatus,
}

/// StatefulSet spec.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct StatefulSetSpec {
    /// Desired pods (default 1).
    pub replicas: i32,
    /// Pod selector.
    pub selector: LabelSelector,
    /// Pod template.
    pub template: PodTemplateSpec,
    /// The governing headless Service.
    pub service_name: Str,
    /// OrderedReady or Parallel.
    pub pod_management_policy: PodManagementPolicy,
    /// Update strategy.
    pub update_strategy: StatefulSetUpdateStrategy,
    /// Claims made per pod.
    pub volume_claim_templates: Vec<PvcTemplate>,
    /// PVC retention when the StatefulSet is deleted.
    pub pvc_retention_when_deleted: PvcRetention,
    /// PVC retention when it is scaled down.
    pub pvc_retention_when_scaled: PvcRetention,
    /// Seconds a pod must be ready to count as available.
    pub min_ready_seconds: i32,
    /// Old revisions kept (10).
    pub revision_history_limit: i32,
}

/// StatefulSet status.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct StatefulSetStatus {
    /// The generation this status reflects.
    pub observed_generation: i64,
    /// Pods.
    pub replicas: i32,
    /// Ready pods.
    pub ready_replicas: i32,
    /// Pods at the current revision.
    pub current_replicas: i32,
    /// Pods at the update revision.
    pub updated_replicas: i32,
    /// Available pods.
    pub available_replicas: i32,
    /// Revision of the pods before the update.
    pub current_revision: Option<Str>,
    /// Revision being rolled out.
    pub update_revision: Option<Str>,
    /// Hash collisions seen.
    pub collision_count: Option<i32>,
}
