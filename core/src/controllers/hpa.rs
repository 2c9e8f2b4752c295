//! The HorizontalPodAutoscaler controller (autoscaling/v2, `Resource` CPU metrics;
//! upstream `pkg/controller/podautoscaler`), and [`LoadModel`], where the CPU usage it
//! reads comes from.
//!
//! # Where utilization comes from: [`LoadModel`]
//!
//! There is no metrics server. A scenario's `load` step ([`crate::cluster::Cluster::set_load`])
//! fixes a workload's **total CPU demand**: X% of the CPU requests of its ready pods at
//! the time of the step, in millicores. From then on the demand is spread evenly over
//! the workload's ready pods, as they come and go (more pods → lower utilization each).
//! A ready pod's usage is, in order: a per-pod usage set with
//! [`LoadModel::set_pod_usage`] (for routed traffic, issue 5: traffic feeds each pod's
//! usage directly), else its share of its workload's demand, else 0 (an idle pod).
//!
//! **Concurrency:** the model is shared (`Arc`) between the cluster and the
//! controller behind a `parking_lot::RwLock`; reconciles only read it, and it is
//! written between simulation steps (`set_load`), which keeps runs deterministic.
//!
//! # Reconcile (`reconcileAutoscaler`), every [`SYNC_PERIOD`]
//!
//! As upstream's queue (every event added with the resync delay, dropped when the key
//! is already queued), an HPA is evaluated every 15 s, the first time 15 s after the
//! controller first sees it; events in between (its own status writes, spec changes)
//! only requeue it at its next due time.
//!
//! 1. The target (`scaleTargetRef`: Deployment, ReplicaSet or StatefulSet in the HPA's
//!    namespace): missing or of another kind → `AbleToScale=False` (`FailedGetScale`),
//!    nothing else. `current` = its `spec.replicas`.
//! 2. `current == 0` with `minReplicas ≠ 0` → `ScalingActive=False`
//!    (`ScalingDisabled`), desired 0. `current > maxReplicas` → desired = max;
//!    `current < minReplicas` → desired = min.
//! 3. Otherwise each metric proposes a count ([`resource_replicas`]: upstream's
//!    `GetResourceReplicas` + `calcPlainMetricReplicas`) and the largest wins
//!    (`ScalingActive=True`, `ValidMetricFound`). The target's pods (by its selector)
//!    are grouped: being deleted or Failed → ignored; not Ready → unready (no metric);
//!    Ready → a sample (usage from the [`LoadModel`], request = the sum of the
//!    containers' CPU requests; a pod without one is an error). Utilization =
//!    `usage × 100 / requests` (integer), ratio = utilization / target. Unready pods
//!    only matter when scaling up: they count with 0 usage, and a result that flips
//!    direction or falls within tolerance keeps `current`. Within the tolerance
//!    (|ratio − 1| ≤ [`TOLERANCE`]) the proposal is `current`, else `ceil(ratio ×
//!    ready pods)`. No ready pod, an unsupported metric, or a missing request →
//!    `ScalingActive=False` (`FailedGetResourceMetric`), no scaling.
//! 4. **Behaviour** (`normalizeDesiredReplicasWithBehaviors`): the proposal is recorded
//!    in the HPA's recommendation history; stabilization takes, within
//!    `scaleDown.stabilizationWindowSeconds` (300 s), the *highest* recommendation as
//!    a floor for scale-down, and within the scale-up window (0 s) the lowest as a
//!    ceiling for scale-up ([`stabilize`]). Then the rate limits
//!    ([`scale_up_limit`], [`scale_down_limit`]: the policies over the scale events of
//!    their periods; default up = max(4 pods, 100%) per 15 s, down = 100% per 15 s) and
//!    min/maxReplicas clamp it; `ScalingLimited` says whether they did
//!    (`TooManyReplicas`, `TooFewReplicas`, `ScaleUpLimit`, `ScaleDownLimit`, else False
//!    `DesiredWithinRange`).
//! 5. desired ≠ current → the target's `spec.replicas` is updated (resourceVersion
//!    precondition), Event `SuccessfulRescale` (`New size: N; reason: …`),
//!    `lastScaleTime`, `AbleToScale=True` (`SucceededRescale`); the scale event is
//!    recorded for the rate limits when the update succeeded ([`Controller::applied`]).
//! 6. Status (`currentReplicas` = current, `desiredReplicas`, the utilization,
//!    `observedGeneration`, conditions) written when it changed; requeue after 15 s.
//!
//! # Simplifications (stated)
//!
//! - Only CPU metrics; `memory` and `Value` targets are reported as
//!   `FailedGetResourceMetric`. `AverageValue` uses the average usage per ready pod.
//! - A pod is unready exactly when it is not Ready (upstream's CPU initialization
//!   period and metric-timestamp rules are not simulated); every Ready pod has a
//!   metric, so upstream's missing-metrics branch never applies.
//! - The recommendation history and scale events live in the controller (as
//!   upstream's), per HPA key, dropped when the HPA is gone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::intern::{intern, Str};
use crate::model::{
    set_condition, Condition, ConditionStatus, EventType, HorizontalPodAutoscaler, HpaPolicyType,
    HpaScalingRules, HpaStatus, Kind, MetricTarget, Object, ObjectKey, Pod, PodPhase, SelectPolicy,
};
use crate::runtime::{Controller, Ctx, ReconcileError, Requeue, Verb, WriteResult};
use crate::selector::LabelSelector;
use crate::time::Timestamp;

/// The controller's name (the `source` of its Events), as upstream's.
pub const CONTROLLER_NAME: &str = "horizontal-pod-autoscaler";

/// How often each HPA is evaluated (`--horizontal-pod-autoscaler-sync-period`).
pub const SYNC_PERIOD: Duration = Duration::from_secs(15);

/// Ratios within this of 1 do not scale (`--horizontal-pod-autoscaler-tolerance`).
pub const TOLERANCE: f64 = 0.1;

/// The CPU demand of workloads and the usage of pods (see the [module docs](self)).
#[derive(Debug, Default)]
pub struct LoadModel {
    inner: RwLock<LoadState>,
}

#[derive(Debug, Default)]
struct LoadState {
    /// Workload key → total demand, millicores.
    demand: HashMap<ObjectKey, i64>,
    /// (namespace, pod) → usage, millicores.
    pod_usage: HashMap<(Str, Str), i64>,
}

impl LoadModel {
    /// A model with no demand.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a workload's total CPU demand (millicores; negative = 0).
    pub fn set_demand(&self, workload: ObjectKey, millicores: i64) {
        self.inner
            .write()
            .demand
            .insert(workload, millicores.max(0));
    }

    /// A workload's total CPU demand, if set.
    pub fn demand(&self, workload: &ObjectKey) -> Option<i64> {
        self.inner.read().demand.get(workload).copied()
    }

    /// Removes a workload's demand.
    pub fn clear_demand(&self, workload: &ObjectKey) {
        self.inner.write().demand.remove(workload);
    }

    /// Sets one pod's measured usage (millicores), which overrides its share of a
    /// workload demand (for routed traffic).
    pub fn set_pod_usage(&self, namespace: &str, pod: &str, millicores: i64) {
        self.inner
            .write()
            .pod_usage
            .insert((intern(namespace), intern(pod)), millicores.max(0));
    }

    /// Removes a pod's measured usage.
    pub fn clear_pod_usage(&self, namespace: &str, pod: &str) {
        self.inner
            .write()
            .pod_usage
            .remove(&(intern(namespace), intern(pod)));
    }

    /// The CPU usage (millicores) of each of `ready_pods` of `workload`: a measured
    /// usage, else an even share of the workload's demand, else 0.
    pub fn usage(&self, workload: &ObjectKey, ready_pods: &[&Pod]) -> Vec<i64> {
        let st = self.inner.read();
        let share = st
            .demand
            .get(workload)
            .map(|d| d / ready_pods.len().max(1) as i64)
            .unwrap_or(0);
        ready_pods
            .iter()
            .map(|p| {
                st.pod_usage
                    .get(&(p.meta.namespace.clone(), p.meta.name.clone()))
                    .copied()
                    .unwrap_or(share)
            })
            .collect()
    }
}

/// The kind and selector of a scale target, if it is a scalable kind.
pub fn scalable(obj: &Object) -> Option<(i32, &LabelSelector)> {
    match obj {
        Object::Deployment(d) => Some((d.spec.replicas, &d.spec.selector)),
        Object::ReplicaSet(r) => Some((r.spec.replicas, &r.spec.selector)),
        Object::StatefulSet(s) => Some((s.spec.replicas, &s.spec.selector)),
        _ => None,
    }
}

/// The Kind of a `scaleTargetRef.kind` the simulation can scale.
pub fn target_kind(kind: &str) -> Option<Kind> {
    match kind {
        "Deployment" => Some(Kind::Deployment),
        "ReplicaSet" => Some(Kind::ReplicaSet),
        "StatefulSet" => Some(Kind::StatefulSet),
        _ => None,
    }
}

/// One ready pod's metric: CPU usage and request, millicores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodSample {
    /// Usage.
    pub usage: i64,
    /// Request (sum over containers).
    pub request: i64,
}

/// What a metric proposes: replicas, and the current utilization (percent) or
/// average value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Replicas.
    pub replicas: i32,
    /// Current utilization (Utilization targets) or average usage (AverageValue).
    pub current: i64,
}

/// (ratio, current) of samples against a target.
fn usage_ratio(samples: &[PodSample], target: MetricTarget) -> Result<(f64, i64), String> {
    let usage: i64 = samples.iter().map(|s| s.usage).sum();
    match target {
        MetricTarget::Utilization(t) => {
            let req: i64 = samples.iter().map(|s| s.request).sum();
            if req <= 0 || t <= 0 {
                return Err("no CPU requests to compute utilization from".into());
            }
            let util = usage * 100 / req;
            Ok((util as f64 / f64::from(t), util))
        }
        MetricTarget::AverageValue(v) => {
            if v <= 0 || samples.is_empty() {
                return Err("invalid average value target".into());
            }
            let avg = usage / samples.len() as i64;
            Ok((usage as f64 / samples.len() as f64 / v as f64, avg))
        }
        MetricTarget::Value(_) => {
            Err("Value targets are not supported for resource metrics".into())
        }
    }
}

/// The replicas a resource metric proposes (upstream `GetResourceReplicas` /
/// `calcPlainMetricReplicas`; see the [module docs](self)): `ready` = samples of
/// ready pods, `unready_requests` = the requests of unready pods.
///
/// # Errors
///
/// No ready pod, or a target the samples cannot be compared with.
pub fn resource_replicas(
    current: i32,
    ready: &[PodSample],
    unready_requests: &[i64],
    target: MetricTarget,
    tolerance: f64,
) -> Result<Proposal, String> {
    if ready.is_empty() {
        return Err("did not receive metrics for targeted pods (pods might be unready)".into());
    }
    let (ratio, cur) = usage_ratio(ready, target)?;
    let scale_up_with_unready = !unready_requests.is_empty() && ratio > 1.0;
    if !scale_up_with_unready {
        if (1.0 - ratio).abs() <= tolerance {
            return Ok(Proposal {
                replicas: current,
                current: cur,
            });
        }
        return Ok(Proposal {
            replicas: (ratio * ready.len() as f64).ceil() as i32,
            current: cur,
        });
    }
    // Unready pods count with zero usage.
    let mut all = ready.to_vec();
    all.extend(
        unready_requests
            .iter()
            .map(|&request| PodSample { usage: 0, request }),
    );
    let (new_ratio, _) = usage_ratio(&all, target)?;
    if (1.0 - new_ratio).abs() <= tolerance || (ratio > 1.0 && new_ratio < 1.0) {
        return Ok(Proposal {
            replicas: current,
            current: cur,
        });
    }
    let n = (new_ratio * all.len() as f64).ceil() as i32;
    if new_ratio > 1.0 && n < current {
        return Ok(Proposal {
            replicas: current,
            current: cur,
        });
    }
    Ok(Proposal {
        replicas: n,
        current: cur,
    })
}

/// A recorded scale change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaleEvent {
    /// When.
    pub at: Timestamp,
    /// How many replicas were added (up) or removed (down).
    pub change: i32,
}

/// Replica changes within the last `period_seconds` (strictly after the cutoff).
fn change_in_period(period_seconds: i32, events: &[ScaleEvent], now: Timestamp) -> i32 {
    let cutoff = now.0 - i64::from(period_seconds.max(0)) * 1000;
    events
        .iter()
        .filter(|e| e.at.0 > cutoff)
        .map(|e| e.change)
        .sum()
}

/// The most replicas the scale-up rules allow now (upstream
/// `calculateScaleUpLimitWithScalingRules`).
pub fn scale_up_limit(
    current: i32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules: &HpaScalingRules,
    now: Timestamp,
) -> i32 {
    let (mut result, pick): (i64, fn(i64, i64) -> i64) = match rules.select_policy {
        SelectPolicy::Disabled => return current,
        SelectPolicy::Min => (i64::MAX, i64::min),
        SelectPolicy::Max => (i64::MIN, i64::max),
    };
    for p in &rules.policies {
        let start = i64::from(current)
            - i64::from(change_in_period(p.period_seconds, up_events, now))
            + i64::from(change_in_period(p.period_seconds, down_events, now));
        let proposed = match p.type_ {
            HpaPolicyType::Pods => start + i64::from(p.value),
            HpaPolicyType::Percent => {
                (start as f64 * (1.0 + f64::from(p.value) / 100.0)).ceil() as i64
            }
        };
        result = pick(result, proposed);
    }
    if rules.policies.is_empty() {
        return i32::MAX;
    }
    result.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// The fewest replicas the scale-down rules allow now (upstream
/// `calculateScaleDownLimitWithBehaviors`).
pub fn scale_down_limit(
    current: i32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules: &HpaScalingRules,
    now: Timestamp,
) -> i32 {
    let (mut result, pick): (i64, fn(i64, i64) -> i64) = match rules.select_policy {
        SelectPolicy::Disabled => return current,
        SelectPolicy::Min => (i64::MIN, i64::max),
        SelectPolicy::Max => (i64::MAX, i64::min),
    };
    for p in &rules.policies {
        let start = i64::from(current)
            - i64::from(change_in_period(p.period_seconds, up_events, now))
            + i64::from(change_in_period(p.period_seconds, down_events, now));
        let proposed = match p.type_ {
            HpaPolicyType::Pods => start - i64::from(p.value),
            HpaPolicyType::Percent => (start as f64 * (1.0 - f64::from(p.value) / 100.0)) as i64,
        };
        result = pick(result, proposed);
    }
    if rules.policies.is_empty() {
        return i32::MIN;
    }
    result.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// A recommendation of the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recommendation {
    /// When.
    pub at: Timestamp,
    /// The (unstabilized) proposal.
    pub replicas: i32,
}

/// Stabilizes `desired` with the history (upstream
/// `stabilizeRecommendationWithBehaviors`): returns the stabilized count and whether
/// it was held back, with the reason. The caller records `desired` afterwards.
pub fn stabilize(
    current: i32,
    desired: i32,
    history: &[Recommendation],
    up_window_seconds: i32,
    down_window_seconds: i32,
    now: Timestamp,
) -> (i32, Option<(&'static str, &'static str)>) {
    let up_cutoff = now.0 - i64::from(up_window_seconds.max(0)) * 1000;
    let down_cutoff = now.0 - i64::from(down_window_seconds.max(0)) * 1000;
    let mut up = desired;
    let mut down = desired;
    for r in history {
        if r.at.0 > up_cutoff {
            up = up.min(r.replicas);
        }
        if r.at.0 > down_cutoff {
            down = down.max(r.replicas);
        }
    }
    let mut rec = current;
    if rec < up {
        rec = up;
    }
    if rec > down {
        rec = down;
    }
    let reason = if rec == desired {
        None
    } else if rec > desired {
        Some((
            "ScaleDownStabilized",
            "recent recommendations were higher than current one, applying the highest recent recommendation",
        ))
    } else {
        Some((
            "ScaleUpStabilized",
            "recent recommendations were lower than current one, applying the lowest recent recommendation",
        ))
    };
    (rec, reason)
}

/// Upstream `convertDesiredReplicasWithBehaviorRate`: the stabilized count clamped by
/// the rate limits and min/max, with the `ScalingLimited` reason and message.
#[allow(clippy::too_many_arguments)]
pub fn limit_rate(
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    hpa: &HorizontalPodAutoscaler,
    now: Timestamp,
) -> (i32, &'static str, String) {
    if desired > current {
        let limit =
            scale_up_limit(current, up_events, down_events, &hpa.spec.scale_up, now).max(current);
        let (allowed, reason, message) = if max > limit {
            (
                limit,
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate",
            )
        } else {
            (
                max,
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        };
        if desired > allowed {
            return (allowed, reason, message.to_string());
        }
    } else if desired < current {
        let limit = scale_down_limit(current, up_events, down_events, &hpa.spec.scale_down, now)
            .min(current);
        let (allowed, reason, message) = if min < limit {
            (
                limit,
                "ScaleDownLimit",
                "the desired replica count is decreasing faster than the maximum scale rate",
            )
        } else {
            (
                min,
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        };
        if desired < allowed {
            return (allowed, reason, message.to_string());
        }
    }
    (
        desired,
        "DesiredWithinRange",
        "the desired count is within the acceptable range".to_string(),
    )
}

/// What the controller remembers of one HPA.
#[derive(Clone, Debug, Default)]
struct Memory {
    recommendations: Vec<Recommendation>,
    up: Vec<ScaleEvent>,
    down: Vec<ScaleEvent>,
    /// The scale change of the last reconcile, recorded when its update succeeds.
    pending: Option<ScaleEvent>,
    /// When the next evaluation is due.
    next_sync: Timestamp,
}

/// The HPA controller (see the [module docs](self)).
#[derive(Debug)]
pub struct HpaController {
    load: Arc<LoadModel>,
    memory: Mutex<HashMap<ObjectKey, Memory>>,
}

impl HpaController {
    /// A controller reading utilization from `load`.
    pub fn new(load: Arc<LoadModel>) -> Self {
        HpaController {
            load,
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// The load model.
    pub fn load(&self) -> &Arc<LoadModel> {
        &self.load
    }
}

fn cond(type_: &str, status: bool, reason: &str, message: &str, now: Timestamp) -> Condition {
    let mut c = Condition::new(type_, ConditionStatus::from_bool(status), now);
    c.reason = Some(intern(reason));
    c.message = Some(intern(message));
    c
}

/// The longest policy period of both directions, seconds.
fn longest_period(hpa: &HorizontalPodAutoscaler) -> i64 {
    hpa.spec
        .scale_up
        .policies
        .iter()
        .chain(&hpa.spec.scale_down.policies)
        .map(|p| i64::from(p.period_seconds))
        .max()
        .unwrap_or(0)
}

impl HpaController {
    /// The metric proposal for the target's pods, largest over the metrics.
    fn metric_replicas(
        &self,
        hpa: &HorizontalPodAutoscaler,
        target_key: &ObjectKey,
        pods: &[&Pod],
        current: i32,
    ) -> Result<Proposal, String> {
        let mut ready: Vec<&Pod> = Vec::new();
        let mut unready: Vec<i64> = Vec::new();
        let request = |p: &Pod| -> Result<i64, String> {
            if let Some(c) = p
                .spec
                .containers
                .iter()
                .find(|c| c.requests.cpu_millis <= 0)
            {
                return Err(format!(
                    "missing request for cpu in container {} of Pod {}",
                    c.name, p.meta.name
                ));
            }
            Ok(p.spec.total_requests().cpu_millis)
        };
        for p in pods {
            if p.meta.is_being_deleted() || p.status.phase == PodPhase::Failed {
                continue;
            }
            if p.status.phase == PodPhase::Succeeded {
                continue;
            }
            if p.is_ready() {
                ready.push(p);
            } else {
                unready.push(request(p)?);
            }
        }
        let usage = self.load.usage(target_key, &ready);
        let mut samples = Vec::with_capacity(ready.len());
        for (p, u) in ready.iter().zip(usage) {
            samples.push(PodSample {
                usage: u,
                request: request(p)?,
            });
        }
        let mut best: Option<Proposal> = None;
        for m in &hpa.spec.metrics {
            if m.resource.as_str() != "cpu" {
                return Err(format!(
                    "unable to get metrics for resource {}: no metrics returned from resource metrics API",
                    m.resource
                ));
            }
            let p = resource_replicas(current, &samples, &unready, m.target, TOLERANCE)?;
            if best.is_none_or(|b| p.replicas > b.replicas) {
                best = Some(p);
            }
        }
        best.ok_or_else(|| "no metrics".to_string())
    }
}

impl Controller for HpaController {
    fn name(&self) -> &'static str {
        CONTROLLER_NAME
    }

    fn primary(&self) -> Kind {
        Kind::HorizontalPodAutoscaler
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        let store = ctx.store();
        let Some(obj) = store.get_key(key) else {
            self.memory.lock().remove(key);
            return Ok(Requeue::Done);
        };
        let Some(hpa) = obj.as_hpa() else {
            return Err(ReconcileError::new(format!("{key} is not an HPA")));
        };
        if hpa.meta.is_being_deleted() {
            return Ok(Requeue::Done);
        }
        let now = ctx.now();
        // Upstream enqueues every HPA event with the resync delay and drops it when the
        // key is already queued: an HPA is evaluated every 15 s, the first time 15 s
        // after it is seen, whatever its events.
        {
            let mut mem = self.memory.lock();
            match mem.get_mut(key) {
                None => {
                    mem.insert(
                        key.clone(),
                        Memory {
                            next_sync: now.plus(SYNC_PERIOD),
                            ..Memory::default()
                        },
                    );
                    return Ok(Requeue::After(SYNC_PERIOD));
                }
                Some(m) if now < m.next_sync => {
                    return Ok(Requeue::After(m.next_sync.since(now)));
                }
                Some(m) => m.next_sync = now.plus(SYNC_PERIOD),
            }
        }
        let ns = hpa.meta.namespace.as_str();
        let r = &hpa.spec.scale_target_ref;
        let mut status = HpaStatus {
            observed_generation: hpa.meta.generation,
            ..hpa.status.clone()
        };
        let target = target_kind(&r.kind).and_then(|k| store.try_get(k, ns, &r.name));
        let scalable_target = target.as_ref().and_then(|t| scalable(t).map(|s| (t, s)));
        let Some((target_obj, (current, selector))) = scalable_target else {
            set_condition(
                &mut status.conditions,
                cond(
                    "AbleToScale",
                    false,
                    "FailedGetScale",
                    &format!(
                        "the HPA controller was unable to get the target's current scale: {} {:?} not found",
                        r.kind, r.name.as_str()
                    ),
                    now,
                ),
            );
            ctx.event(
                &obj,
                EventType::Warning,
                "FailedGetScale",
                format!("{} {:?} not found", r.kind, r.name.as_str()),
            );
            write_status(ctx, &obj, hpa, status);
            return Ok(Requeue::After(SYNC_PERIOD));
        };
        let target_key = ObjectKey::of(target_obj);
        let min = hpa.spec.min_replicas;
        let max = hpa.spec.max_replicas;
        let mut memory = self.memory.lock().get(key).cloned().unwrap_or_default();
        memory.pending = None;

        let mut desired = current;
        let mut rescale_reason = String::new();
        if current == 0 && min != 0 {
            desired = 0;
            set_condition(
                &mut status.conditions,
                cond(
                    "ScalingActive",
                    false,
                    "ScalingDisabled",
                    "scaling is disabled since the replica count of the target is zero",
                    now,
                ),
            );
        } else if current > max {
            desired = max;
            rescale_reason = "Current number of replicas above Spec.MaxReplicas".into();
        } else if current < min {
            desired = min;
            rescale_reason = "Current number of replicas below Spec.MinReplicas".into();
        } else {
            let pods: Vec<Arc<Object>> = if selector.is_empty() {
                Vec::new()
            } else {
                store
                    .list(Kind::Pod, Some(ns), Some(selector), None)
                    .map_err(ReconcileError::new)?
            };
            let pods: Vec<&Pod> = pods.iter().filter_map(|o| o.as_pod()).collect();
            match self.metric_replicas(hpa, &target_key, &pods, current) {
                Err(e) => {
                    set_condition(
                        &mut status.conditions,
                        cond(
                            "ScalingActive",
                            false,
                            "FailedGetResourceMetric",
                            &format!("the HPA was unable to compute the replica count: {e}"),
                            now,
                        ),
                    );
                    ctx.event(&obj, EventType::Warning, "FailedGetResourceMetric", e);
                }
                Ok(p) => {
                    status.current_utilization =
                        Some(p.current.clamp(0, i64::from(i32::MAX)) as i32);
                    set_condition(
                        &mut status.conditions,
                        cond(
                            "ScalingActive",
                            true,
                            "ValidMetricFound",
                            "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)",
                            now,
                        ),
                    );
                    // Behaviour: stabilize, then rate limits and bounds.
                    let (stabilized, held) = stabilize(
                        current,
                        p.replicas,
                        &memory.recommendations,
                        hpa.spec.scale_up.stabilization_window_seconds,
                        hpa.spec.scale_down.stabilization_window_seconds,
                        now,
                    );
                    let keep = i64::from(
                        hpa.spec
                            .scale_up
                            .stabilization_window_seconds
                            .max(hpa.spec.scale_down.stabilization_window_seconds),
                    ) * 1000;
                    memory.recommendations.retain(|r| r.at.0 > now.0 - keep);
                    memory.recommendations.push(Recommendation {
                        at: now,
                        replicas: p.replicas,
                    });
                    let (reason, message) = held
                        .unwrap_or(("ReadyForNewScale", "recommended size matches current size"));
                    set_condition(
                        &mut status.conditions,
                        cond("AbleToScale", true, reason, message, now),
                    );
                    let (d, reason, message) = limit_rate(
                        current,
                        stabilized,
                        min,
                        max,
                        &memory.up,
                        &memory.down,
                        hpa,
                        now,
                    );
                    set_condition(
                        &mut status.conditions,
                        cond("ScalingLimited", d != stabilized, reason, &message, now),
                    );
                    desired = d;
                    rescale_reason = if d > current {
                        "cpu resource utilization (percentage of request) above target".into()
                    } else {
                        "All metrics below target".into()
                    };
                }
            }
        }
        if desired != current {
            let mut new = (**target_obj).clone();
            match &mut new {
                Object::Deployment(d) => d.spec.replicas = desired,
                Object::ReplicaSet(r) => r.spec.replicas = desired,
                Object::StatefulSet(s) => s.spec.replicas = desired,
                _ => {}
            }
            ctx.update(new)
                .on_success(
                    &obj,
                    EventType::Normal,
                    "SuccessfulRescale",
                    format!("New size: {desired}; reason: {rescale_reason}"),
                )
                .on_failure(
                    &obj,
                    EventType::Warning,
                    "FailedRescale",
                    format!("New size: {desired}; reason: {rescale_reason}; error"),
                );
            status.last_scale_time = Some(now);
            set_condition(
                &mut status.conditions,
                cond(
                    "AbleToScale",
                    true,
                    "SucceededRescale",
                    &format!("the HPA controller was able to update the target scale to {desired}"),
                    now,
                ),
            );
            memory.pending = Some(ScaleEvent {
                at: now,
                change: desired - current,
            });
        } else if !status
            .conditions
            .iter()
            .any(|c| c.type_.as_str() == "AbleToScale")
        {
            set_condition(
                &mut status.conditions,
                cond(
                    "AbleToScale",
                    true,
                    "ReadyForNewScale",
                    "recommended size matches current size",
                    now,
                ),
            );
        }
        // Conditions in upstream's order.
        status.conditions.sort_by_key(|c| match c.type_.as_str() {
            "AbleToScale" => 0,
            "ScalingActive" => 1,
            "ScalingLimited" => 2,
            _ => 3,
        });
        status.current_replicas = current;
        status.desired_replicas = desired;
        let horizon = longest_period(hpa) * 1000;
        memory.up.retain(|e| e.at.0 > now.0 - horizon);
        memory.down.retain(|e| e.at.0 > now.0 - horizon);
        self.memory.lock().insert(key.clone(), memory);
        write_status(ctx, &obj, hpa, status);
        Ok(Requeue::After(SYNC_PERIOD))
    }

    fn applied(&self, key: &ObjectKey, results: &[WriteResult]) {
        let mut mem = self.memory.lock();
        let Some(m) = mem.get_mut(key) else {
            return;
        };
        let Some(ev) = m.pending.take() else {
            return;
        };
        let scaled = results.iter().any(|r| {
            r.verb == Verb::Update && r.key.kind != Kind::HorizontalPodAutoscaler && r.is_ok()
        });
        if scaled {
            if ev.change > 0 {
                m.up.push(ev);
            } else {
                m.down.push(ScaleEvent {
                    at: ev.at,
                    change: -ev.change,
                });
            }
        }
    }
}

fn write_status(ctx: &mut Ctx<'_>, obj: &Object, hpa: &HorizontalPodAutoscaler, status: HpaStatus) {
    if status != hpa.status {
        let mut new = obj.clone();
        if let Some(h) = new.as_hpa_mut() {
            h.status = status;
        }
        ctx.update_status(new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HpaPolicy;

    const NOW: Timestamp = Timestamp(1_000_000_000);

    fn samples(usages: &[i64], request: i64) -> Vec<PodSample> {
        usages
            .iter()
            .map(|&usage| PodSample { usage, request })
            .collect()
    }

    #[test]
    fn formula_and_tolerance() {
        let u = MetricTarget::Utilization(50);
        // 3 pods at 90% of 100m, target 50%: ceil(3 × 1.8) = 6.
        let p = resource_replicas(3, &samples(&[90, 90, 90], 100), &[], u, TOLERANCE).unwrap();
        assert_eq!(
            p,
            Proposal {
                replicas: 6,
                current: 90
            }
        );
        // 54% vs 50%: ratio 1.08, within tolerance → current.
        let p = resource_replicas(3, &samples(&[54, 54, 54], 100), &[], u, TOLERANCE).unwrap();
        assert_eq!(p.replicas, 3);
        // 56%: ratio 1.12 → ceil(3.36) = 4.
        let p = resource_replicas(3, &samples(&[56, 56, 56], 100), &[], u, TOLERANCE).unwrap();
        assert_eq!(p.replicas, 4);
        // Scale down: 10% vs 50% on 4 pods → ceil(0.8) = 1.
        let p = resource_replicas(4, &samples(&[10; 4], 100), &[], u, TOLERANCE).unwrap();
        assert_eq!(p.replicas, 1);
        // Integer utilization: 149m/300m = 49% (not 49.67).
        let p = resource_replicas(3, &samples(&[50, 50, 49], 100), &[], u, 0.0).unwrap();
        assert_eq!(p.current, 49);
        assert!(resource_replicas(3, &[], &[100], u, TOLERANCE).is_err());
    }

    #[test]
    fn unready_pods_count_as_zero_on_scale_up_only() {
        let u = MetricTarget::Utilization(50);
        // 2 ready at 100%, 2 unready: ratio 2 → with unready at 0: 200/400 = 50% →
        // within tolerance → current.
        let p =
            resource_replicas(4, &samples(&[100, 100], 100), &[100, 100], u, TOLERANCE).unwrap();
        assert_eq!(p.replicas, 4);
        // 2 ready at 150%, 1 unready: 300/300 = 100% → ratio 2 → ceil(2 × 3) = 6.
        let p = resource_replicas(3, &samples(&[150, 150], 100), &[100], u, TOLERANCE).unwrap();
        assert_eq!(p.replicas, 6);
        // Scale down ignores unready pods: 2 ready at 10% → ceil(0.2 × 2) = 1.
        let p = resource_replicas(4, &samples(&[10, 10], 100), &[100, 100], u, TOLERANCE).unwrap();
        assert_eq!(p.replicas, 1);
    }

    #[test]
    fn default_scale_up_is_max_of_4_pods_and_100_percent() {
        let up = HpaScalingRules::default_scale_up();
        assert_eq!(scale_up_limit(1, &[], &[], &up, NOW), 5);
        assert_eq!(scale_up_limit(3, &[], &[], &up, NOW), 7);
        assert_eq!(scale_up_limit(10, &[], &[], &up, NOW), 20);
        // A scale-up of 5 within the last 15 s: the period started at 5.
        let ev = [ScaleEvent {
            at: Timestamp(NOW.0 - 10_000),
            change: 5,
        }];
        assert_eq!(scale_up_limit(10, &ev, &[], &up, NOW), 10);
        // 15 s later it no longer counts.
        let old = [ScaleEvent {
            at: Timestamp(NOW.0 - 15_000),
            change: 5,
        }];
        assert_eq!(scale_up_limit(10, &old, &[], &up, NOW), 20);
        let mut min = up.clone();
        min.select_policy = SelectPolicy::Min;
        assert_eq!(scale_up_limit(10, &[], &[], &min, NOW), 14);
        min.select_policy = SelectPolicy::Disabled;
        assert_eq!(scale_up_limit(10, &[], &[], &min, NOW), 10);
    }

    #[test]
    fn scale_down_limit_policies() {
        let down = HpaScalingRules::default_scale_down();
        assert_eq!(scale_down_limit(10, &[], &[], &down, NOW), 0);
        let rules = HpaScalingRules {
            stabilization_window_seconds: 0,
            select_policy: SelectPolicy::Max,
            policies: vec![
                HpaPolicy {
                    type_: HpaPolicyType::Pods,
                    value: 2,
                    period_seconds: 60,
                },
                HpaPolicy {
                    type_: HpaPolicyType::Percent,
                    value: 10,
                    period_seconds: 60,
                },
            ],
        };
        // Max change: min(10 − 2, trunc(10 × 0.9) = 9) = 8.
        assert_eq!(scale_down_limit(10, &[], &[], &rules, NOW), 8);
        // Already removed 2 in the period: the period started at 10 → 8 again.
        let ev = [ScaleEvent {
            at: Timestamp(NOW.0 - 30_000),
            change: 2,
        }];
        assert_eq!(scale_down_limit(8, &[], &ev, &rules, NOW), 8);
    }

    #[test]
    fn stabilization_window_takes_the_highest() {
        let hist = [
            Recommendation {
                at: Timestamp(NOW.0 - 290_000),
                replicas: 8,
            },
            Recommendation {
                at: Timestamp(NOW.0 - 100_000),
                replicas: 5,
            },
        ];
        // Wants 2, the window holds 8 → stays at current 6 (min(max(6, 2), 8)).
        assert_eq!(stabilize(6, 2, &hist, 0, 300, NOW).0, 6);
        // Current 10: highest recommendation 8 wins.
        let (r, why) = stabilize(10, 2, &hist, 0, 300, NOW);
        assert_eq!(r, 8);
        assert_eq!(why.unwrap().0, "ScaleDownStabilized");
        // After the 8 left the window: 5.
        let later = Timestamp(NOW.0 + 11_000);
        assert_eq!(stabilize(10, 2, &hist, 0, 300, later).0, 5);
        // Scale up is not held by the down window.
        assert_eq!(stabilize(6, 12, &hist, 0, 300, NOW), (12, None));
    }

    #[test]
    fn load_model_spreads_demand() {
        let m = LoadModel::new();
        let key = ObjectKey::new(Kind::Deployment, "default", "web");
        let mut a = Pod {
            meta: crate::model::ObjectMeta::named("default", "a"),
            spec: Arc::default(),
            node_name: None,
            status: Default::default(),
        };
        let mut b = a.clone();
        b.meta.name = Str::new("b");
        assert_eq!(m.usage(&key, &[&a, &b]), vec![0, 0]);
        m.set_demand(key.clone(), 300);
        assert_eq!(m.usage(&key, &[&a, &b]), vec![150, 150]);
        assert_eq!(m.usage(&key, &[&a]), vec![300]);
        m.set_pod_usage("default", "b", 40);
        assert_eq!(m.usage(&key, &[&a, &b]), vec![150, 40]);
        a.meta.name = Str::new("c");
        assert_eq!(m.demand(&key), Some(300));
    }
}
