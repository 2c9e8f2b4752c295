use super::{Condition, ObjectMeta, ObjectRef};
use crate::intern::Str;
use crate::time::Timestamp;

/// A HorizontalPodAutoscaler (autoscaling/v2).
#[derive(Clone, Debug, PartialEq)]
pub struct HorizontalPodAutoscaler {
    /// Metadata.
    pub meta: ObjectMeta,
    /// Spec.
    pub spec: HpaSpec,
    /// Status.
    pub status: HpaStatus,
}

/// The object an HPA scales.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ScaleTargetRef {
    /// apiVersion (`apps/v1`).
    pub api_version: Str,
    /// Kind (`Deployment`, `ReplicaSet`, `StatefulSet`).
    pub kind: Str,
    /// Name.
    pub name: Str,
}

/// An HPA metric target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricTarget {
    /// Average utilization, percent of requests.
    Utilization(i32),
    /// Average value per pod (millicores or bytes).
    AverageValue(i64),
    /// Total value.
    Value(i64),
}

/// An HPA metric (only `Resource` metrics are simulated).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MetricSpec {
    /// Resource name: `cpu` or `memory`.
    pub resource: Str,
    /// Target.
    pub target: MetricTarget,
}

/// Scaling policy type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HpaPolicyType {
    /// An absolute number of pods.
    Pods,
    /// A percentage of current replicas.
    Percent,
}

/// One scaling policy: at most `value` per `period_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HpaPolicy {
    /// Pods or Percent.
    pub type_: HpaPolicyType,
    /// Amount.
    pub value: i32,
    /// Window.
    pub period_seconds: i32,
}

/// How policies combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SelectPolicy {
    /// The policy allowing the largest change (the default).
    #[default]
    Max,
    /// The smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// Scaling rules for one direction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HpaScalingRules {
    /// Stabilization window.
    pub stabilization_window_seconds: i32,
    /// How policies combine.
    pub select_policy: SelectPolicy,
    /// Policies.
    pub policies: Vec<HpaPolicy>,
}

impl HpaScalingRules {
    /// Upstream scale-up default: no stabilization, max(4 pods, 100%) per 15 s.
    pub fn default_scale_up() -> Self {
        HpaScalingRules {
            stabilization_window_seconds: 0,
            select_policy: SelectPolicy::Max,
            policies: vec![
                HpaPolicy {
                    type_: HpaPolicyType::Pods,
                    value: 4,
                    period_seconds: 15,
                },
                HpaPolicy {
                    type_: HpaPolicyType::Percent,
                    value: 100,
                    period_seconds: 15,
                },
            ],
        }
    }

    /// Upstream scale-down default: 300 s stabilization, 100% per 15 s.
    pub fn default_scale_down() -> Self {
        HpaScalingRules {
            stabilization_window_seconds: 300,
            select_policy: SelectPolicy::Max,
            policies: vec![HpaPolicy {
                type_: HpaPolicyType::Percent,
                value: 100,
                period_seconds: 15,
            }],
        }
    }
}

/// HPA spec.
#[derive(Clone, Debug, PartialEq)]
pub struct HpaSpec {
    /// What to scale.
    pub scale_target_ref: ScaleTargetRef,
    /// Lower bound (1).
    pub min_replicas: i32,
    /// Upper bound.
    pub max_replicas: i32,
    /// Metrics (default: 80% CPU utilization).
    pub metrics: Vec<MetricSpec>,
    /// Scale-up rules.
    pub scale_up: HpaScalingRules,
    /// Scale-down rules.
    pub scale_down: HpaScalingRules,
}

/// HPA status.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct HpaStatus {
    /// The generation this status reflects.
    pub observed_generation: i64,
    /// When it last scaled.
    pub last_scale_time: Option<Timestamp>,
    /// Replicas seen.
    pub current_replicas: i32,
    /// Replicas wanted.
    pub desired_replicas: i32,
    /// Current average utilization of the first metric, percent.
    pub current_utilization: Option<i32>,
    /// AbleToScale, ScalingActive, ScalingLimited.
    pub conditions: Vec<Condition>,
}

/// Event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum EventType {
    /// Normal.
    #[default]
    Normal,
    /// Warning.
    Warning,
}

/// An Event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Metadata (name `<involved>.<unique>`).
    pub meta: ObjectMeta,
    /// The object it is about.
    pub involved_object: ObjectRef,
    /// One-word reason (`SuccessfulCreate`).
    pub reason: Str,
    /// Message (`Created pod: whoami-web-x7k2p`).
    pub message: Str,
    /// Normal or Warning.
    pub type_: EventType,
    /// Times seen.
    pub count: i32,
    /// First seen.
    pub first_timestamp: Timestamp,
    /// Last seen.
    pub last_timestamp: Timestamp,
    /// Reporting component (`replicaset-controller`).
    pub source: Str,
}
