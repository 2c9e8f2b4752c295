//! The Deployment controller: rolls a Deployment's pod template out through
//! ReplicaSets it owns (upstream `pkg/controller/deployment`).
//!
//! # Behaviour
//!
//! Keys are Deployments. [`DeploymentController`]'s `map_event` maps a ReplicaSet
//! event to its controller Deployment (an orphan ReplicaSet: every Deployment of its
//! namespace whose selector matches it, for adoption), and a Pod `Deleted` event to
//! the Deployment that controls the pod's ReplicaSet when that Deployment uses the
//! Recreate strategy (upstream's `deletePod`: Recreate waits for old pods to be gone).
//!
//! A reconcile (`syncDeployment`) works on copies of the Deployment and of its
//! ReplicaSets, and records at most one write per object at the end:
//!
//! 1. An empty selector: a `SelectingAll` warning and `observedGeneration` only.
//! 2. **Claim** the ReplicaSets of the namespace: owned and matching the selector →
//!    kept; owned and not matching → released; no controller and matching → adopted
//!    (not while the Deployment is being deleted).
//! 3. Being deleted: status only.
//! 4. **Paused conditions** (`checkPausedConditions`): Progressing=Unknown
//!    `DeploymentPaused` / `DeploymentResumed` (never over `ProgressDeadlineExceeded`).
//! 5. Paused, or a **scaling event** (an active ReplicaSet whose
//!    `deployment.kubernetes.io/desired-replicas` differs from `spec.replicas`):
//!    `sync` — the new ReplicaSet is looked up but not created, replica counts are
//!    [scaled](DeploymentController#proportional-scaling), old ReplicaSets beyond
//!    `revisionHistoryLimit` are cleaned up (paused only), and the status is
//!    recomputed.
//! 6. Otherwise the strategy's rollout:
//!    - **RollingUpdate** (`rolloutRolling`): find or create the new ReplicaSet, then
//!      `reconcileNewReplicaSet` (scale the new one up to at most `replicas +
//!      maxSurge` pods in total, never beyond `replicas`), else
//!      `reconcileOldReplicaSets` (`cleanupUnhealthyReplicas`, then
//!      `scaleDownOldReplicaSetsForRollingUpdate`, keeping `replicas − maxUnavailable`
//!      available), else when complete the history cleanup; then `syncRolloutStatus`.
//!    - **Recreate** (`rolloutRecreate`): scale every old active ReplicaSet to 0; wait
//!      while an old ReplicaSet reports pods or any pod of an old ReplicaSet is not
//!      terminal (terminating pods count); then create the new ReplicaSet (at full
//!      size) or scale it up; cleanup when complete; `syncRolloutStatus`.
//!
//! The **new ReplicaSet** (`getNewReplicaSet`) is the oldest claimed ReplicaSet whose
//! template equals the Deployment's ignoring the `pod-template-hash` label — so a
//! template equal to an old revision brings that ReplicaSet back. It gets revision
//! `max(old revisions) + 1` when its own is lower (the previous number is appended to
//! `deployment.kubernetes.io/revision-history`), the Deployment's annotations
//! (`kubernetes.io/change-cause` among them, except the revision / replicas / last-
//! applied ones) and `minReadySeconds`. A missing one is created as `<name>-<hash>`
//! ([`compute_hash`] of the template and `status.collisionCount`), with the
//! `pod-template-hash` label added to its labels, selector and template, a controller
//! reference to the Deployment, and `replicas` from [`new_rs_new_replicas`]. When a
//! ReplicaSet of that name exists that is not this Deployment's with this template,
//! `status.collisionCount` is bumped and the key retried (a new name next time). The
//! Deployment's own `deployment.kubernetes.io/revision` follows its new ReplicaSet.
//!
//! Every scale writes `spec.replicas` together with the `desired-replicas` (=
//! `spec.replicas`) and `max-replicas` (= `replicas + maxSurge`) annotations, and
//! records `ScalingReplicaSet` (`Scaled up replica set X from A to B`).
//!
//! **Status** (`calculateStatus`): `replicas`, `updatedReplicas`, `readyReplicas`,
//! `availableReplicas` from the ReplicaSets' statuses (`updatedReplicas` from the new
//! one), `unavailableReplicas = Σ spec.replicas − available` (≥ 0),
//! `observedGeneration`, `collisionCount`, condition `Available` (True
//! `MinimumReplicasAvailable` when `available ≥ replicas − maxUnavailable`, else False
//! `MinimumReplicasUnavailable`) and, in a rollout (`syncRolloutStatus`), `Progressing`:
//! `NewReplicaSetCreated` / `FoundNewReplicaSet` when the new ReplicaSet is created or
//! first found, `ReplicaSetUpdated` (its `lastUpdateTime` moved) whenever updated,
//! ready or available pods increased or old pods decreased, `NewReplicaSetAvailable`
//! once complete, and `ProgressDeadlineExceeded` (False) when `lastUpdateTime +
//! progressDeadlineSeconds` has passed without either. Nothing is rolled back. While
//! the rollout is neither complete nor timed out, and the status did not change, the
//! key is requeued for the deadline check at `lastUpdateTime + deadline − now + 1 s`
//! (`requeueStuckDeployment`).
//!
//! # Proportional scaling
//!
//! [`proportional_scale`] (upstream `scale`): when exactly one ReplicaSet is active (or
//! none: the newest), it gets `spec.replicas`. If the new ReplicaSet is saturated, old
//! active ones go to 0. Otherwise (RollingUpdate) the difference between `replicas +
//! maxSurge` and the current total is spread over the active ReplicaSets, largest first
//! (ties: newer first when adding, older first when removing): each gets
//! `round(size × newMax / oldMax) − size` (oldMax = its `max-replicas` annotation, or
//! the Deployment's `status.replicas`), capped by what is left to distribute, and the
//! first one takes the leftover.
//!
//! # Simplifications (stated)
//!
//! - The template hash hashes the template's Rust `Debug` rendering where upstream
//!   hashes its Go `%#v` (spew) rendering: same algorithm (FNV-32a, the collision count
//!   as 8 little-endian bytes, the decimal sum in the safe alphabet), different bytes,
//!   so names differ from a real cluster's.
//! - Writes are recorded and applied after the reconcile: a ReplicaSet touched twice in
//!   one sync (adopted then scaled, cleaned up then scaled down) is written once, with
//!   one `ScalingReplicaSet` event from its first to its last size; the Deployment's
//!   annotations and status are one update each (the status write is unconditional on
//!   the resourceVersion when the annotation write precedes it).
//! - Collision detection looks at the store before creating (upstream creates and reads
//!   the `AlreadyExists` error); a create that still fails is retried with backoff.
//! - An adopted or released ReplicaSet's old owner is not enqueued.
//! - The `ReplicaFailure` condition is copied from the ReplicaSets as upstream does,
//!   but the ReplicaSet controller never sets it (see its docs).
//! - `apps/v1` has no `rollbackTo`: undo is client-side, as kubectl does it
//!   ([`rollback_target`], used by `Cluster::rollout_undo`).

use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

use crate::intern::{intern, SharedList, Str, StrMap};
use crate::model::{
    Condition, ConditionStatus, Deployment, DeploymentStatus, DeploymentStrategy, EventType,
    IntOrString, Kind, Object, ObjectKey, ObjectMeta, OwnerReference, PodTemplateSpec, ReplicaSet,
    ReplicaSetSpec, ReplicaSetStatus,
};
use crate::runtime::{
    route_key, route_object, Controller, Ctx, ReconcileError, Requeue, Routed, StoreView,
};
use crate::selector::LabelSelector;
use crate::store::{DeleteOptions, WatchEvent, WatchEventType};
use crate::time::Timestamp;

/// The controller's name (the `source` of its Events), as upstream's.
pub const CONTROLLER_NAME: &str = "deployment-controller";
/// The label added to a Deployment's ReplicaSets, their selectors and their pods.
pub const LABEL_POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// A ReplicaSet's (and the Deployment's) revision number.
pub const ANNOTATION_REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revision numbers of a ReplicaSet brought back by a rollback.
pub const ANNOTATION_REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's `spec.replicas` when the ReplicaSet was last scaled.
pub const ANNOTATION_DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's `replicas + maxSurge` when the ReplicaSet was last scaled.
pub const ANNOTATION_MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// The change cause shown by `kubectl rollout history`.
pub const ANNOTATION_CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
/// Longest `revision-history` annotation (upstream `maxRevHistoryLengthInChars`).
pub const MAX_REV_HISTORY_CHARS: usize = 2000;
/// The alphabet of upstream's `rand.SafeEncodeString`.
pub const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Condition type `Available`.
pub const COND_AVAILABLE: &str = "Available";
/// Condition type `Progressing`.
pub const COND_PROGRESSING: &str = "Progressing";
/// Condition type `ReplicaFailure`.
pub const COND_REPLICA_FAILURE: &str = "ReplicaFailure";
/// Available=True: enough pods are available.
pub const REASON_MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
/// Available=False: too few pods are available.
pub const REASON_MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
/// Progressing=True: the new ReplicaSet was created.
pub const REASON_NEW_RS_CREATED: &str = "NewReplicaSetCreated";
/// Progressing=True: an existing new ReplicaSet was found.
pub const REASON_FOUND_NEW_RS: &str = "FoundNewReplicaSet";
/// Progressing=True: the rollout made progress.
pub const REASON_RS_UPDATED: &str = "ReplicaSetUpdated";
/// Progressing=True: the rollout completed.
pub const REASON_NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
/// Progressing=False: no progress within `progressDeadlineSeconds`.
pub const REASON_TIMED_OUT: &str = "ProgressDeadlineExceeded";
/// Progressing=Unknown: paused.
pub const REASON_PAUSED: &str = "DeploymentPaused";
/// Progressing=Unknown: resumed.
pub const REASON_RESUMED: &str = "DeploymentResumed";

/// Annotations a Deployment does not pass on to its ReplicaSets (upstream
/// `annotationsToSkip`).
const SKIP_ANNOTATIONS: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    ANNOTATION_REVISION,
    ANNOTATION_REVISION_HISTORY,
    ANNOTATION_DESIRED_REPLICAS,
    ANNOTATION_MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// Whether an annotation stays on the Deployment only.
pub fn skip_copy_annotation(key: &str) -> bool {
    SKIP_ANNOTATIONS.contains(&key)
}

// ---------------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------------

/// An FNV-32a hasher that text can be formatted into.
#[derive(Clone, Copy, Debug)]
pub struct Fnv32a(pub u32);

impl Fnv32a {
    /// The FNV-32 offset basis.
    pub const fn new() -> Self {
        Fnv32a(0x811c_9dc5)
    }

    /// Hashes `bytes` in.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u32::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }
}

impl Default for Fnv32a {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for Fnv32a {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write(s.as_bytes());
        Ok(())
    }
}

/// Upstream `rand.SafeEncodeString`: each byte `b` becomes `SAFE_ALPHABET[b % 27]`.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// The `pod-template-hash` of a template (upstream `ComputeHash`): FNV-32a of the
/// template's rendering, then of the collision count as 8 little-endian bytes (when
/// set), the 32-bit sum written in decimal and [`safe_encode`]d.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut h = Fnv32a::new();
    // Debug output of plain data (sorted maps, vectors, options) is deterministic.
    let _ = write!(h, "{template:?}");
    if let Some(c) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(c as u32).to_le_bytes());
        h.write(&bytes);
    }
    safe_encode(&h.0.to_string())
}

/// Whether two templates are equal ignoring the `pod-template-hash` label (upstream
/// `EqualIgnoreHash`).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let labels_eq = if a.meta.labels.contains_key(LABEL_POD_TEMPLATE_HASH)
        || b.meta.labels.contains_key(LABEL_POD_TEMPLATE_HASH)
    {
        a.meta.labels.without(LABEL_POD_TEMPLATE_HASH)
            == b.meta.labels.without(LABEL_POD_TEMPLATE_HASH)
    } else {
        a.meta.labels == b.meta.labels
    };
    labels_eq
        && a.meta.annotations == b.meta.annotations
        && (Arc::ptr_eq(&a.spec, &b.spec) || a.spec == b.spec)
}

// ---------------------------------------------------------------------------------
// Arithmetic
// ---------------------------------------------------------------------------------

/// Resolves maxSurge and maxUnavailable against `desired` replicas (upstream
/// `ResolveFenceposts`): surge percentages round up, unavailable ones down, and if
/// both come out 0, maxUnavailable is 1. An unparsable value (validation rejects them)
/// counts as 0.
pub fn resolve_fenceposts(
    max_surge: &IntOrString,
    max_unavailable: &IntOrString,
    desired: i32,
) -> (i32, i32) {
    let surge = max_surge.scaled_value(desired, true).unwrap_or(0);
    let mut unavailable = max_unavailable.scaled_value(desired, false).unwrap_or(0);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// The Deployment's maxSurge (0 for Recreate; upstream `MaxSurge`).
pub fn max_surge(d: &Deployment) -> i32 {
    match &d.spec.strategy {
        DeploymentStrategy::Recreate => 0,
        DeploymentStrategy::RollingUpdate {
            max_surge,
            max_unavailable,
        } => resolve_fenceposts(max_surge, max_unavailable, d.spec.replicas).0,
    }
}

/// The Deployment's maxUnavailable, at most `replicas` (0 for Recreate or 0 replicas;
/// upstream `MaxUnavailable`).
pub fn max_unavailable(d: &Deployment) -> i32 {
    match &d.spec.strategy {
        DeploymentStrategy::RollingUpdate {
            max_surge,
            max_unavailable,
        } if d.spec.replicas != 0 => {
            resolve_fenceposts(max_surge, max_unavailable, d.spec.replicas)
                .1
                .min(d.spec.replicas)
        }
        _ => 0,
    }
}

/// The bounds a RollingUpdate keeps while it runs, for invariant checkers: (most
/// pods = `replicas + maxSurge`, fewest available = `replicas − maxUnavailable`). A
/// Recreate Deployment gives (`replicas`, `replicas`): it promises nothing while it
/// replaces its pods, and should be checked for "no old and new pods at once" instead.
pub fn rollout_bounds(d: &Deployment) -> (i32, i32) {
    let r = d.spec.replicas;
    (r + max_surge(d), r - max_unavailable(d))
}

/// The size of the new ReplicaSet for a scale-up step (upstream `NewRSNewReplicas`):
/// RollingUpdate adds up to `replicas + maxSurge − total` (`total` = the sum of every
/// ReplicaSet's `spec.replicas`) without exceeding `replicas`; Recreate is `replicas`.
pub fn new_rs_new_replicas(d: &Deployment, total: i32, new_replicas: i32) -> i32 {
    match d.spec.strategy {
        DeploymentStrategy::Recreate => d.spec.replicas,
        DeploymentStrategy::RollingUpdate { .. } => {
            let max_total = d.spec.replicas + max_surge(d);
            if total >= max_total {
                return new_replicas;
            }
            let up = (max_total - total).min(d.spec.replicas - new_replicas);
            new_replicas + up
        }
    }
}

/// Go's `math.Round` for the proportion (half away from zero; upstream
/// `integer.RoundToInt32`).
fn round_to_i32(x: f64) -> i32 {
    if x < 0.0 {
        (x - 0.5) as i32
    } else {
        (x + 0.5) as i32
    }
}

/// One ReplicaSet as [`proportional_scale`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleInput {
    /// `spec.replicas`.
    pub replicas: i32,
    /// Its `max-replicas` annotation, if valid.
    pub max_replicas_annotation: Option<i32>,
    /// Creation order (larger = newer; ties broken by the caller's order).
    pub age_rank: usize,
}

/// The change of one ReplicaSet in a proportional scale (upstream
/// `getReplicaSetFraction`): `round(size × deploymentMax / maxBefore) − size`, with
/// `maxBefore` the annotation, or `status_replicas` when absent or 0 (0 → no change);
/// scaling to 0 replicas removes the whole size.
pub fn replica_set_fraction(
    rs: &ScaleInput,
    desired: i32,
    surge: i32,
    status_replicas: i32,
) -> i32 {
    if desired == 0 {
        return -rs.replicas;
    }
    let deployment_max = desired + surge;
    let before = match rs.max_replicas_annotation {
        Some(m) if m != 0 => m,
        _ => {
            if status_replicas == 0 {
                return 0;
            }
            status_replicas
        }
    };
    let size = f64::from(rs.replicas) * f64::from(deployment_max) / f64::from(before);
    round_to_i32(size) - rs.replicas
}

/// The new sizes of the *active* ReplicaSets `sets` (all with `replicas > 0`) when a
/// RollingUpdate Deployment of `desired` replicas and `surge` maxSurge is scaled in
/// mid-rollout (see the [module docs](self#proportional-scaling)); `status_replicas` is
/// the Deployment's `status.replicas`. Returns the sizes in the order of `sets`.
pub fn proportional_scale(
    sets: &[ScaleInput],
    desired: i32,
    surge: i32,
    status_replicas: i32,
) -> Vec<i32> {
    let total: i32 = sets.iter().map(|s| s.replicas).sum();
    let allowed = if desired > 0 { desired + surge } else { 0 };
    let to_add = allowed - total;
    let mut order: Vec<usize> = (0..sets.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&sets[a], &sets[b]);
        match y.replicas.cmp(&x.replicas) {
            Ordering::Equal if to_add > 0 => y.age_rank.cmp(&x.age_rank), // newer first
            Ordering::Equal => x.age_rank.cmp(&y.age_rank),               // older first
            o => o,
        }
    });
    let mut sizes: Vec<i32> = sets.iter().map(|s| s.replicas).collect();
    if to_add == 0 {
        return sizes;
    }
    let mut added = 0;
    for &i in &order {
        let rs = &sets[i];
        let proportion = if rs.replicas == 0 || to_add == added {
            0
        } else {
            let fraction = replica_set_fraction(rs, desired, surge, status_replicas);
            let left = to_add - added;
            if to_add > 0 {
                fraction.min(left)
            } else {
                fraction.max(left)
            }
        };
        sizes[i] = rs.replicas + proportion;
        added += proportion;
    }
    if let Some(&first) = order.first() {
        sizes[first] = (sizes[first] + to_add - added).max(0);
    }
    sizes
}

/// A ReplicaSet's revision annotation (absent or invalid: 0; upstream `Revision`).
pub fn revision_of(rs: &ReplicaSet) -> i64 {
    rs.meta
        .annotations
        .get(ANNOTATION_REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn annotation_i32(m: &ObjectMeta, key: &str) -> Option<i32> {
    m.annotations.get(key).and_then(|v| v.parse().ok())
}

/// What `kubectl rollout undo` writes back: the template of the ReplicaSet with the
/// revision `to_revision` (`None` or 0: the previous one, the second-highest revision)
/// without its `pod-template-hash` label, and the Deployment's annotations (its
/// revision / replicas / last-applied ones, the ReplicaSet's others). `Ok(None)` when
/// the current template already matches (kubectl's "skipped rollback").
///
/// # Errors
///
/// kubectl's messages: `unable to find specified revision N in history`, `no rollout
/// history found for deployment "name"`.
pub fn rollback_target(
    d: &Deployment,
    sets: &[&ReplicaSet],
    to_revision: Option<i64>,
) -> Result<Option<(i64, PodTemplateSpec, StrMap)>, String> {
    let to = to_revision.unwrap_or(0);
    if to < 0 {
        return Err(format!("unable to find specified revision {to} in history"));
    }
    let mut latest: Option<(&ReplicaSet, i64)> = None;
    let mut previous: Option<(&ReplicaSet, i64)> = None;
    let mut found = None;
    for rs in sets {
        let Some(v) = rs
            .meta
            .annotations
            .get(ANNOTATION_REVISION)
            .and_then(|v| v.parse::<i64>().ok())
        else {
            continue;
        };
        if to == 0 {
            if latest.is_none_or(|(_, l)| l < v) {
                previous = latest;
                latest = Some((rs, v));
            } else if previous.is_none_or(|(_, p)| p < v) {
                previous = Some((rs, v));
            }
        } else if to == v {
            found = Some((*rs, v));
            break;
        }
    }
    let (rs, rev) = match (to, found, previous) {
        (0, _, Some(p)) => p,
        (0, _, None) => {
            return Err(format!(
                "no rollout history found for deployment {:?}",
                d.meta.name.as_str()
            ))
        }
        (_, Some(f), _) => f,
        (_, None, _) => return Err(format!("unable to find specified revision {to} in history")),
    };
    if equal_ignore_hash(&rs.spec.template, &d.spec.template) {
        return Ok(None);
    }
    let mut template = rs.spec.template.clone();
    template.meta.labels = template.meta.labels.without(LABEL_POD_TEMPLATE_HASH);
    let mut pairs: Vec<(Str, Str)> = d
        .meta
        .annotations
        .iter()
        .filter(|(k, _)| skip_copy_annotation(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    pairs.extend(
        rs.meta
            .annotations
            .iter()
            .filter(|(k, _)| !skip_copy_annotation(k))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    Ok(Some((rev, template, StrMap::from_pairs(pairs))))
}

// ---------------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------------

fn new_condition(
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    msg: String,
    now: Timestamp,
) -> Condition {
    Condition {
        type_: intern(type_),
        status,
        reason: Some(intern(reason)),
        message: Some(Str::from(msg)),
        last_transition_time: now,
        last_update_time: Some(now),
    }
}

fn get_condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_.as_str() == type_)
}

/// Upstream `SetDeploymentCondition`: no change when the status and reason are the
/// same; the transition time kept when the status is; the condition moves last.
fn set_condition(status: &mut DeploymentStatus, mut cond: Condition) {
    if let Some(cur) = get_condition(status, &cond.type_) {
        if cur.status == cond.status && cur.reason == cond.reason {
            return;
        }
        if cur.status == cond.status {
            cond.last_transition_time = cur.last_transition_time;
        }
    }
    remove_condition(status, &cond.type_.clone());
    status.conditions.push(cond);
}

fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    status.conditions.retain(|c| c.type_.as_str() != type_);
}

fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec.progress_deadline_seconds != i32::MAX
}

/// Upstream `DeploymentComplete`.
fn deployment_complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    s.updated_replicas == d.spec.replicas
        && s.replicas == d.spec.replicas
        && s.available_replicas == d.spec.replicas
        && s.observed_generation >= d.meta.generation
}

/// Upstream `DeploymentProgressing`: more updated, ready or available pods, or fewer
/// old ones, than `old` reports.
fn deployment_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let old_old = old.replicas - old.updated_replicas;
    let new_old = new.replicas - new.updated_replicas;
    new.updated_replicas > old.updated_replicas
        || new_old < old_old
        || new.ready_replicas > old.ready_replicas
        || new.available_replicas > old.available_replicas
}

fn deadline(d: &Deployment) -> Duration {
    Duration::from_secs(d.spec.progress_deadline_seconds.max(0) as u64)
}

/// Upstream `DeploymentTimedOut`.
fn deployment_timed_out(d: &Deployment, s: &DeploymentStatus, now: Timestamp) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(c) = get_condition(s, COND_PROGRESSING) else {
        return false;
    };
    match c.reason.as_deref() {
        Some(REASON_NEW_RS_AVAILABLE) => false,
        Some(REASON_TIMED_OUT) => true,
        _ => {
            let from = c.last_update_time.unwrap_or(c.last_transition_time);
            from.plus(deadline(d)) < now
        }
    }
}

// ---------------------------------------------------------------------------------
// The controller
// ---------------------------------------------------------------------------------

/// The Deployment controller (see the [module docs](self)). Stateless: everything it
/// needs is in the store.
#[derive(Debug, Default)]
pub struct DeploymentController;

impl DeploymentController {
    /// A controller.
    pub fn new() -> Self {
        DeploymentController
    }

    fn map_replica_set(
        &self,
        rs: &ReplicaSet,
        store: StoreView<'_>,
        out: &mut Vec<Routed<ObjectKey>>,
    ) {
        let ns = rs.meta.namespace.as_str();
        if let Some(r) = rs.meta.controller_ref() {
            if r.kind == Kind::Deployment {
                out.push(route_key(
                    store,
                    ObjectKey::new(Kind::Deployment, ns, &r.name),
                ));
            }
            return;
        }
        if rs.meta.is_being_deleted() {
            return;
        }
        let Ok(deps) = store.list(Kind::Deployment, Some(ns), None, None) else {
            return;
        };
        for d in deps {
            if let Some(dep) = d.as_deployment() {
                if !dep.spec.selector.is_empty() && dep.spec.selector.matches(&rs.meta.labels) {
                    out.push(route_object(store, &d));
                }
            }
        }
    }

    fn map_deleted_pod(
        &self,
        obj: &Object,
        store: StoreView<'_>,
        out: &mut Vec<Routed<ObjectKey>>,
    ) {
        let m = obj.meta();
        let Some(r) = m.controller_ref() else { return };
        if r.kind != Kind::ReplicaSet {
            return;
        }
        let Some(rs) = store.try_get(Kind::ReplicaSet, &m.namespace, &r.name) else {
            return;
        };
        let Some(dr) = rs.meta().controller_ref() else {
            return;
        };
        if dr.kind != Kind::Deployment {
            return;
        }
        let Some(d) = store.try_get(Kind::Deployment, &m.namespace, &dr.name) else {
            return;
        };
        if d.meta().uid == dr.uid
            && d.as_deployment()
                .is_some_and(|d| d.spec.strategy == DeploymentStrategy::Recreate)
        {
            out.push(route_object(store, &d));
        }
    }
}

impl Controller for DeploymentController {
    fn name(&self) -> &'static str {
        CONTROLLER_NAME
    }

    fn primary(&self) -> Kind {
        Kind::Deployment
    }

    fn watches(&self) -> &[Kind] {
        &[Kind::ReplicaSet, Kind::Pod]
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        match ev.object.as_ref() {
            Object::Deployment(_) => out.push(route_object(store, &ev.object)),
            Object::ReplicaSet(rs) => self.map_replica_set(rs, store, out),
            Object::Pod(_) if ev.type_ == WatchEventType::Deleted => {
                self.map_deleted_pod(&ev.object, store, out)
            }
            _ => {}
        }
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        let store = ctx.store();
        let Some(obj) = store.get_key(key) else {
            return Ok(Requeue::Done);
        };
        let Some(d) = obj.as_deployment() else {
            return Err(ReconcileError::new(format!("{key} is not a Deployment")));
        };
        let mut s = Sync::new(d, &obj, ctx.now());
        if d.spec.selector.is_empty() {
            ctx.event(
                &obj,
                EventType::Warning,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
            );
            if s.status.observed_generation < d.meta.generation {
                s.status.observed_generation = d.meta.generation;
            }
            return Ok(s.finish(ctx));
        }
        s.claim(store)?;
        if d.meta.is_being_deleted() {
            s.get_new_rs(false, store);
            s.sync_deployment_status();
            return Ok(s.finish(ctx));
        }
        s.check_paused_conditions();
        if d.spec.paused || s.is_scaling_event(store) {
            s.sync(store);
            return Ok(s.finish(ctx));
        }
        match d.spec.strategy {
            DeploymentStrategy::Recreate => s.rollout_recreate(store),
            DeploymentStrategy::RollingUpdate { .. } => s.rollout_rolling(store),
        }
        Ok(s.finish(ctx))
    }
}

/// A ReplicaSet of the sync: the stored object and the working copy.
struct Set {
    stored: Option<Arc<Object>>,
    rs: ReplicaSet,
    from_replicas: i32,
    dirty: bool,
}

/// One reconcile's working state.
struct Sync<'a> {
    d: &'a Deployment,
    obj: &'a Arc<Object>,
    now: Timestamp,
    /// Claimed ReplicaSets sorted by (creation time, name), then a created one.
    sets: Vec<Set>,
    new: Option<usize>,
    create: Option<usize>,
    annotations: StrMap,
    status: DeploymentStatus,
    deletes: Vec<usize>,
    releases: Vec<Object>,
    retry: bool,
}

fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    a.meta
        .creation_timestamp
        .cmp(&b.meta.creation_timestamp)
        .then_with(|| a.meta.name.cmp(&b.meta.name))
}

impl<'a> Sync<'a> {
    fn new(d: &'a Deployment, obj: &'a Arc<Object>, now: Timestamp) -> Self {
        Sync {
            d,
            obj,
            now,
            sets: Vec::new(),
            new: None,
            create: None,
            annotations: d.meta.annotations.clone(),
            status: d.status.clone(),
            deletes: Vec::new(),
            releases: Vec::new(),
            retry: false,
        }
    }

    /// `getReplicaSetsForDeployment`: adopt / release / keep.
    fn claim(&mut self, store: StoreView<'_>) -> Result<(), ReconcileError> {
        let d = self.d;
        let ns = d.meta.namespace.as_str();
        let uid = d.meta.uid;
        let deleting = d.meta.is_being_deleted();
        let all = store
            .list(Kind::ReplicaSet, Some(ns), None, None)
            .map_err(ReconcileError::new)?;
        for obj in all {
            let Some(rs) = obj.as_replica_set() else {
                continue;
            };
            let matches = d.spec.selector.matches(&rs.meta.labels);
            match rs.meta.controller_ref() {
                Some(r) if r.uid == uid => {
                    if matches {
                        self.sets.push(Set {
                            rs: rs.clone(),
                            from_replicas: rs.spec.replicas,
                            stored: Some(obj.clone()),
                            dirty: false,
                        });
                    } else if !deleting {
                        let mut new = (*obj).clone();
                        new.meta_mut()
                            .owner_references
                            .update(|v| v.retain(|r| r.uid != uid));
                        self.releases.push(new);
                    }
                }
                Some(_) => {}
                None if matches && !deleting && !rs.meta.is_being_deleted() => {
                    let mut copy = rs.clone();
                    let own = self.owner_ref();
                    copy.meta.owner_references.update(|v| v.push(own));
                    self.sets.push(Set {
                        from_replicas: rs.spec.replicas,
                        rs: copy,
                        stored: Some(obj.clone()),
                        dirty: true,
                    });
                }
                None => {}
            }
        }
        self.sets.sort_by(|a, b| by_creation(&a.rs, &b.rs));
        Ok(())
    }

    fn owner_ref(&self) -> OwnerReference {
        OwnerReference {
            kind: Kind::Deployment,
            name: self.d.meta.name.clone(),
            uid: self.d.meta.uid,
            controller: true,
            block_owner_deletion: true,
        }
    }

    fn old_indices(&self) -> Vec<usize> {
        (0..self.sets.len())
            .filter(|&i| Some(i) != self.new)
            .collect()
    }

    fn all_indices(&self) -> Vec<usize> {
        (0..self.sets.len()).collect()
    }

    fn replicas(&self, idx: &[usize]) -> i32 {
        idx.iter().map(|&i| self.sets[i].rs.spec.replicas).sum()
    }

    fn available(&self, idx: &[usize]) -> i32 {
        idx.iter()
            .map(|&i| self.sets[i].rs.status.available_replicas)
            .sum()
    }

    fn max_surge(&self) -> i32 {
        max_surge(self.d)
    }

    /// `getNewReplicaSet` (with `FindNewReplicaSet` and the old ones' max revision).
    fn get_new_rs(&mut self, create: bool, store: StoreView<'_>) {
        let d = self.d;
        self.new = self
            .sets
            .iter()
            .position(|s| equal_ignore_hash(&s.rs.spec.template, &d.spec.template));
        let max_old = self
            .old_indices()
            .iter()
            .map(|&i| revision_of(&self.sets[i].rs))
            .max()
            .unwrap_or(0);
        let new_revision = max_old + 1;
        if let Some(i) = self.new {
            let surge = self.max_surge();
            let set = &mut self.sets[i];
            let mut changed = set_new_rs_annotations(d, &mut set.rs, new_revision, true, surge);
            if set.rs.spec.min_ready_seconds != d.spec.min_ready_seconds {
                set.rs.spec.min_ready_seconds = d.spec.min_ready_seconds;
                changed = true;
            }
            set.dirty |= changed;
            let rev = set.rs.meta.annotations.get(ANNOTATION_REVISION).cloned();
            if let Some(rev) = rev {
                self.set_deployment_revision(&rev);
            }
            if has_progress_deadline(d) && get_condition(&self.status, COND_PROGRESSING).is_none() {
                let msg = format!(
                    "Found new replica set {:?}",
                    self.sets[i].rs.meta.name.as_str()
                );
                let c = new_condition(
                    COND_PROGRESSING,
                    ConditionStatus::True,
                    REASON_FOUND_NEW_RS,
                    msg,
                    self.now,
                );
                set_condition(&mut self.status, c);
            }
            return;
        }
        if !create {
            return;
        }
        // Create it.
        let hash = compute_hash(&d.spec.template, d.status.collision_count);
        let name = format!("{}-{}", d.meta.name, hash);
        if let Some(existing) = store.try_get(Kind::ReplicaSet, &d.meta.namespace, &name) {
            let ours = existing
                .meta()
                .controller_ref()
                .is_some_and(|r| r.uid == d.meta.uid);
            let same = existing
                .as_replica_set()
                .is_some_and(|r| equal_ignore_hash(&r.spec.template, &d.spec.template));
            if !(ours && same) {
                // A hash collision: a new name next time.
                self.status.collision_count = Some(self.status.collision_count.unwrap_or(0) + 1);
            }
            // Ours with this template (not claimed yet, e.g. labels edited): retry.
            self.retry = true;
            return;
        }
        let mut template = d.spec.template.clone();
        template.meta.labels = template.meta.labels.with(LABEL_POD_TEMPLATE_HASH, &hash);
        let selector = add_selector_label(&d.spec.selector, &hash);
        let mut meta = ObjectMeta::named(&d.meta.namespace, &name);
        meta.labels = template.meta.labels.clone();
        meta.owner_references = SharedList::from(vec![self.owner_ref()]);
        let mut rs = ReplicaSet {
            meta,
            spec: ReplicaSetSpec {
                replicas: 0,
                min_ready_seconds: d.spec.min_ready_seconds,
                selector,
                template,
            },
            status: ReplicaSetStatus::default(),
        };
        let old = self.old_indices();
        let total = self.replicas(&old);
        rs.spec.replicas = new_rs_new_replicas(d, total, 0);
        set_new_rs_annotations(d, &mut rs, new_revision, false, self.max_surge());
        self.sets.push(Set {
            stored: None,
            from_replicas: 0,
            rs,
            dirty: true,
        });
        let i = self.sets.len() - 1;
        self.new = Some(i);
        self.create = Some(i);
        self.set_deployment_revision(&new_revision.to_string());
        if has_progress_deadline(d) {
            let msg = format!("Created new replica set {name:?}");
            let c = new_condition(
                COND_PROGRESSING,
                ConditionStatus::True,
                REASON_NEW_RS_CREATED,
                msg,
                self.now,
            );
            set_condition(&mut self.status, c);
        }
    }

    fn set_deployment_revision(&mut self, rev: &str) {
        if self
            .annotations
            .get(ANNOTATION_REVISION)
            .map(|v| v.as_str())
            != Some(rev)
        {
            self.annotations = self.annotations.with(ANNOTATION_REVISION, rev);
        }
    }

    /// `scaleReplicaSet`: the size and the replicas annotations; returns whether the
    /// size changed.
    fn scale(&mut self, i: usize, to: i32) -> bool {
        let desired = self.d.spec.replicas;
        let max = desired + self.max_surge();
        let set = &mut self.sets[i];
        let size_changes = set.rs.spec.replicas != to;
        let ann = replicas_annotations_need_update(&set.rs, desired, max);
        if size_changes || ann {
            set.rs.spec.replicas = to;
            set_replicas_annotations(&mut set.rs, desired, max);
            set.dirty = true;
        }
        size_changes
    }

    /// `scaleReplicaSetAndRecordEvent`: nothing when the size is already right.
    fn scale_and_record(&mut self, i: usize, to: i32) -> bool {
        if self.sets[i].rs.spec.replicas == to {
            return false;
        }
        self.scale(i, to)
    }

    /// `isScalingEvent`.
    fn is_scaling_event(&mut self, store: StoreView<'_>) -> bool {
        self.get_new_rs(false, store);
        let d = self.d;
        self.sets.iter().any(|s| {
            s.rs.spec.replicas > 0
                && annotation_i32(&s.rs.meta, ANNOTATION_DESIRED_REPLICAS)
                    .is_some_and(|v| v != d.spec.replicas)
        })
    }

    /// `sync`: scale, cleanup when paused, status.
    fn sync(&mut self, store: StoreView<'_>) {
        self.get_new_rs(false, store);
        self.scale_proportionally();
        if self.d.spec.paused {
            self.cleanup();
        }
        self.sync_deployment_status();
    }

    /// `scale` (see [`proportional_scale`]).
    fn scale_proportionally(&mut self) {
        let d = self.d;
        let desired = d.spec.replicas;
        let active: Vec<usize> = self
            .all_indices()
            .into_iter()
            .filter(|&i| self.sets[i].rs.spec.replicas > 0)
            .collect();
        // FindActiveOrLatest.
        if active.len() == 1 || (active.is_empty() && !self.sets.is_empty()) {
            let target = match active.first() {
                Some(&i) => i,
                None => self.new.unwrap_or_else(|| {
                    // The newest old one.
                    let old = self.old_indices();
                    *old.last().expect("sets is not empty")
                }),
            };
            if self.sets[target].rs.spec.replicas != desired {
                self.scale_and_record(target, desired);
            }
            return;
        }
        if active.is_empty() {
            return;
        }
        if let Some(n) = self.new {
            if is_saturated(d, &self.sets[n].rs) {
                for &i in &active {
                    if i != n {
                        self.scale_and_record(i, 0);
                    }
                }
                return;
            }
        }
        if let DeploymentStrategy::RollingUpdate { .. } = d.spec.strategy {
            let inputs: Vec<ScaleInput> = active
                .iter()
                .map(|&i| ScaleInput {
                    replicas: self.sets[i].rs.spec.replicas,
                    max_replicas_annotation: annotation_i32(
                        &self.sets[i].rs.meta,
                        ANNOTATION_MAX_REPLICAS,
                    ),
                    age_rank: i,
                })
                .collect();
            let sizes = proportional_scale(&inputs, desired, self.max_surge(), d.status.replicas);
            for (k, &i) in active.iter().enumerate() {
                self.scale(i, sizes[k]);
            }
        }
    }

    /// `rolloutRolling`.
    fn rollout_rolling(&mut self, store: StoreView<'_>) {
        self.get_new_rs(true, store);
        let Some(n) = self.new else {
            self.sync_deployment_status();
            return;
        };
        if self.reconcile_new(n) {
            self.sync_rollout_status();
            return;
        }
        match self.reconcile_old(n) {
            // Upstream's sync error: nothing more this time, retried with backoff.
            None => {
                self.retry = true;
                return;
            }
            Some(true) => {
                self.sync_rollout_status();
                return;
            }
            Some(false) => {}
        }
        if deployment_complete(self.d, &self.status) {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    /// `reconcileNewReplicaSet`.
    fn reconcile_new(&mut self, n: usize) -> bool {
        let desired = self.d.spec.replicas;
        let cur = self.sets[n].rs.spec.replicas;
        if cur == desired {
            return false;
        }
        if cur > desired {
            return self.scale_and_record(n, desired);
        }
        let total = self.replicas(&self.all_indices());
        let to = new_rs_new_replicas(self.d, total, cur);
        self.scale_and_record(n, to)
    }

    /// `reconcileOldReplicaSets`: whether it scaled anything (`None`: a stale status,
    /// see `cleanup_unhealthy`).
    fn reconcile_old(&mut self, n: usize) -> Option<bool> {
        let old: Vec<usize> = self
            .old_indices()
            .into_iter()
            .filter(|&i| self.sets[i].rs.spec.replicas > 0)
            .collect();
        let old_pods = self.replicas(&old);
        if old_pods == 0 {
            return Some(false);
        }
        let all_pods = self.replicas(&self.all_indices());
        let min_available = self.d.spec.replicas - max_unavailable(self.d);
        let new_rs = &self.sets[n].rs;
        let new_unavailable = new_rs.spec.replicas - new_rs.status.available_replicas;
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Some(false);
        }
        let cleaned = self.cleanup_unhealthy(&old, max_scaled_down)?;
        let scaled = self.scale_down_old_for_rolling(&old, n);
        Some(cleaned + scaled > 0)
    }

    /// `cleanupUnhealthyReplicas`: old ReplicaSets (oldest first) lose their
    /// unavailable pods, up to `max` in total. `None` when a ReplicaSet it reaches
    /// reports more available pods than it wants (its status has not caught up with a
    /// scale-down yet): upstream's "invalid request to scale down" error, which ends
    /// the sync before anything trusts that stale availability.
    fn cleanup_unhealthy(&mut self, old: &[usize], max: i32) -> Option<i32> {
        let mut total = 0;
        for &i in old {
            if total >= max {
                break;
            }
            let rs = &self.sets[i].rs;
            let (spec, avail) = (rs.spec.replicas, rs.status.available_replicas);
            if spec == 0 || spec == avail {
                continue;
            }
            if spec < avail {
                return None;
            }
            let down = (max - total).min(spec - avail);
            self.scale_and_record(i, spec - down);
            total += down;
        }
        Some(total)
    }

    /// `scaleDownOldReplicaSetsForRollingUpdate`.
    fn scale_down_old_for_rolling(&mut self, old: &[usize], n: usize) -> i32 {
        let min_available = self.d.spec.replicas - max_unavailable(self.d);
        let mut all: Vec<usize> = old.to_vec();
        all.push(n);
        let available = self.available(&all);
        if available <= min_available {
            return 0;
        }
        let to_scale = available - min_available;
        let mut total = 0;
        for &i in old {
            if total >= to_scale {
                break;
            }
            let spec = self.sets[i].rs.spec.replicas;
            if spec == 0 {
                continue;
            }
            let down = spec.min(to_scale - total);
            self.scale_and_record(i, spec - down);
            total += down;
        }
        total
    }

    /// `rolloutRecreate`.
    fn rollout_recreate(&mut self, store: StoreView<'_>) {
        self.get_new_rs(false, store);
        let mut scaled_down = false;
        for i in self.old_indices() {
            if self.sets[i].rs.spec.replicas != 0 {
                scaled_down |= self.scale_and_record(i, 0);
            }
        }
        if scaled_down || self.old_pods_running(store) {
            self.sync_rollout_status();
            return;
        }
        if self.new.is_none() {
            self.get_new_rs(true, store);
        }
        let Some(n) = self.new else {
            self.sync_deployment_status();
            return;
        };
        self.scale_and_record(n, self.d.spec.replicas);
        if deployment_complete(self.d, &self.status) {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    /// `oldPodsRunning`: an old ReplicaSet reports pods, or a pod of one is not
    /// terminal (terminating pods included).
    fn old_pods_running(&self, store: StoreView<'_>) -> bool {
        let old = self.old_indices();
        if old.iter().any(|&i| self.sets[i].rs.status.replicas > 0) {
            return true;
        }
        old.iter().any(|&i| {
            let Some(stored) = &self.sets[i].stored else {
                return false;
            };
            let uid = stored.meta().uid;
            store.dependents_of(uid).iter().any(|p| {
                p.as_pod().is_some_and(|pod| {
                    pod.meta.controller_ref().is_some_and(|r| r.uid == uid)
                        && !pod.status.phase.is_terminal()
                })
            })
        })
    }

    /// `cleanupDeployment`: delete the oldest old ReplicaSets beyond
    /// `revisionHistoryLimit` that have no pods.
    fn cleanup(&mut self) {
        let limit = self.d.spec.revision_history_limit;
        if limit < 0 {
            return;
        }
        let mut cleanable: Vec<usize> = self
            .old_indices()
            .into_iter()
            .filter(|&i| self.sets[i].stored.is_some() && !self.sets[i].rs.meta.is_being_deleted())
            .collect();
        let diff = cleanable.len() as i64 - i64::from(limit);
        if diff <= 0 {
            return;
        }
        cleanable.sort_by(|&a, &b| {
            let (x, y) = (&self.sets[a].rs, &self.sets[b].rs);
            revision_of(x)
                .cmp(&revision_of(y))
                .then_with(|| by_creation(x, y))
        });
        for &i in cleanable.iter().take(diff as usize) {
            let rs = &self.sets[i].rs;
            if rs.status.replicas != 0
                || rs.spec.replicas != 0
                || rs.meta.generation > rs.status.observed_generation
            {
                continue;
            }
            self.deletes.push(i);
        }
    }

    /// `calculateStatus` over every ReplicaSet.
    fn calculate_status(&self) -> DeploymentStatus {
        let d = self.d;
        let all = self.all_indices();
        let available = self.available(&all);
        let total = self.replicas(&all);
        let mut st = DeploymentStatus {
            observed_generation: d.meta.generation,
            replicas: all.iter().map(|&i| self.sets[i].rs.status.replicas).sum(),
            updated_replicas: self.new.map_or(0, |n| self.sets[n].rs.status.replicas),
            ready_replicas: all
                .iter()
                .map(|&i| self.sets[i].rs.status.ready_replicas)
                .sum(),
            available_replicas: available,
            unavailable_replicas: (total - available).max(0),
            conditions: self.status.conditions.clone(),
            collision_count: self.status.collision_count,
        };
        let c = if available >= d.spec.replicas - max_unavailable(d) {
            new_condition(
                COND_AVAILABLE,
                ConditionStatus::True,
                REASON_MIN_AVAILABLE,
                "Deployment has minimum availability.".into(),
                self.now,
            )
        } else {
            new_condition(
                COND_AVAILABLE,
                ConditionStatus::False,
                REASON_MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
                self.now,
            )
        };
        set_condition(&mut st, c);
        st
    }

    /// `syncDeploymentStatus`.
    fn sync_deployment_status(&mut self) {
        self.status = self.calculate_status();
    }

    /// `checkPausedConditions`.
    fn check_paused_conditions(&mut self) {
        if !has_progress_deadline(self.d) {
            return;
        }
        let cond = get_condition(&self.status, COND_PROGRESSING);
        if cond.is_some_and(|c| c.reason.as_deref() == Some(REASON_TIMED_OUT)) {
            return;
        }
        let paused_cond = cond.is_some_and(|c| c.reason.as_deref() == Some(REASON_PAUSED));
        let c = if self.d.spec.paused && !paused_cond {
            (REASON_PAUSED, "Deployment is paused")
        } else if !self.d.spec.paused && paused_cond {
            (REASON_RESUMED, "Deployment is resumed")
        } else {
            return;
        };
        let cond = new_condition(
            COND_PROGRESSING,
            ConditionStatus::Unknown,
            c.0,
            c.1.into(),
            self.now,
        );
        set_condition(&mut self.status, cond);
    }

    /// `syncRolloutStatus`.
    fn sync_rollout_status(&mut self) {
        let d = self.d;
        let mut new_status = self.calculate_status();
        let current = get_condition(&self.status, COND_PROGRESSING).cloned();
        if !has_progress_deadline(d) {
            remove_condition(&mut new_status, COND_PROGRESSING);
        }
        let complete_already = new_status.replicas == new_status.updated_replicas
            && current
                .as_ref()
                .is_some_and(|c| c.reason.as_deref() == Some(REASON_NEW_RS_AVAILABLE));
        let new_name = self.new.map(|n| self.sets[n].rs.meta.name.to_string());
        if has_progress_deadline(d) && !complete_already {
            if deployment_complete(d, &new_status) {
                let msg = match &new_name {
                    Some(n) => format!("ReplicaSet {n:?} has successfully progressed."),
                    None => "Deployment has successfully progressed.".into(),
                };
                let c = new_condition(
                    COND_PROGRESSING,
                    ConditionStatus::True,
                    REASON_NEW_RS_AVAILABLE,
                    msg,
                    self.now,
                );
                set_condition(&mut new_status, c);
            } else if deployment_progressing(&d.status, &new_status) {
                let msg = match &new_name {
                    Some(n) => format!("ReplicaSet {n:?} is progressing."),
                    None => "Deployment is progressing.".into(),
                };
                let mut c = new_condition(
                    COND_PROGRESSING,
                    ConditionStatus::True,
                    REASON_RS_UPDATED,
                    msg,
                    self.now,
                );
                if let Some(cur) = &current {
                    if cur.status == ConditionStatus::True {
                        c.last_transition_time = cur.last_transition_time;
                    }
                    remove_condition(&mut new_status, COND_PROGRESSING);
                }
                set_condition(&mut new_status, c);
            } else if deployment_timed_out(d, &new_status, self.now) {
                let msg = match &new_name {
                    Some(n) => format!("ReplicaSet {n:?} has timed out progressing."),
                    None => "Deployment has timed out progressing.".into(),
                };
                let c = new_condition(
                    COND_PROGRESSING,
                    ConditionStatus::False,
                    REASON_TIMED_OUT,
                    msg,
                    self.now,
                );
                set_condition(&mut new_status, c);
            }
        }
        // ReplicaFailure from the ReplicaSets (new one first).
        let failure = self
            .new
            .into_iter()
            .chain(self.old_indices())
            .find_map(|i| {
                self.sets[i]
                    .rs
                    .status
                    .conditions
                    .iter()
                    .find(|c| {
                        c.type_.as_str() == COND_REPLICA_FAILURE
                            && c.status == ConditionStatus::True
                    })
                    .cloned()
            });
        match failure {
            Some(c) => set_condition(&mut new_status, c),
            None => remove_condition(&mut new_status, COND_REPLICA_FAILURE),
        }
        self.status = new_status;
    }

    /// `requeueStuckDeployment`, given the final status equals the stored one.
    fn requeue_stuck(&self) -> Requeue {
        let d = self.d;
        let Some(cur) = get_condition(&d.status, COND_PROGRESSING) else {
            return Requeue::Done;
        };
        if !has_progress_deadline(d)
            || deployment_complete(d, &self.status)
            || cur.reason.as_deref() == Some(REASON_TIMED_OUT)
        {
            return Requeue::Done;
        }
        let from = cur.last_update_time.unwrap_or(cur.last_transition_time);
        let at = from.plus(deadline(d));
        if at <= self.now || at.since(self.now) < Duration::from_secs(1) {
            return Requeue::RateLimited;
        }
        Requeue::After(at.since(self.now) + Duration::from_secs(1))
    }

    /// Records the writes and Events; returns the requeue decision.
    fn finish(self, ctx: &mut Ctx<'_>) -> Requeue {
        let obj = self.obj;
        let ns = self.d.meta.namespace.as_str();
        for r in self.releases.iter().cloned() {
            ctx.update(r);
        }
        for (i, set) in self.sets.iter().enumerate() {
            let (from, to) = (set.from_replicas, set.rs.spec.replicas);
            if self.deletes.contains(&i) {
                continue;
            }
            if Some(i) == self.create {
                let op = ctx.create(Object::from(set.rs.clone()));
                if to > 0 {
                    op.on_success(
                        obj,
                        EventType::Normal,
                        "ScalingReplicaSet",
                        format!("Scaled up replica set {{name}} from 0 to {to}"),
                    );
                }
                continue;
            }
            if !set.dirty {
                continue;
            }
            let op = ctx.update(Object::from(set.rs.clone()));
            if from != to {
                let dir = if to > from { "up" } else { "down" };
                op.on_success(
                    obj,
                    EventType::Normal,
                    "ScalingReplicaSet",
                    format!("Scaled {dir} replica set {{name}} from {from} to {to}"),
                );
            }
        }
        for &i in &self.deletes {
            let rs = &self.sets[i].rs;
            let opts = DeleteOptions {
                preconditions_uid: Some(rs.meta.uid),
                ..DeleteOptions::default()
            };
            ctx.delete(Kind::ReplicaSet, ns, &rs.meta.name, opts);
        }
        let mut wrote_meta = false;
        if self.annotations != self.d.meta.annotations {
            let mut new = (**obj).clone();
            new.meta_mut().annotations = self.annotations.clone();
            ctx.update(new);
            wrote_meta = true;
        }
        let unchanged = self.status == self.d.status;
        if !unchanged {
            let mut new = (**obj).clone();
            if wrote_meta {
                new.meta_mut().resource_version = 0;
            }
            if let Some(d) = new.as_deployment_mut() {
                d.status = self.status.clone();
            }
            ctx.update_status(new);
        }
        if self.retry {
            return Requeue::RateLimited;
        }
        if unchanged {
            self.requeue_stuck()
        } else {
            Requeue::Done
        }
    }
}

/// The selector plus `pod-template-hash=<hash>` (upstream `CloneSelectorAndAddLabel`).
fn add_selector_label(s: &LabelSelector, hash: &str) -> LabelSelector {
    let mut out = s.clone();
    out.match_labels = s.match_labels.with(LABEL_POD_TEMPLATE_HASH, hash);
    out
}

/// Upstream `IsSaturated`.
fn is_saturated(d: &Deployment, rs: &ReplicaSet) -> bool {
    let Some(desired) = annotation_i32(&rs.meta, ANNOTATION_DESIRED_REPLICAS) else {
        return false;
    };
    rs.spec.replicas == d.spec.replicas
        && desired == d.spec.replicas
        && rs.status.available_replicas == d.spec.replicas
}

fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    rs.meta
        .annotations
        .get(ANNOTATION_DESIRED_REPLICAS)
        .map(|v| v.as_str())
        != Some(desired.to_string().as_str())
        || rs
            .meta
            .annotations
            .get(ANNOTATION_MAX_REPLICAS)
            .map(|v| v.as_str())
            != Some(max.to_string().as_str())
}

fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    if !replicas_annotations_need_update(rs, desired, max) {
        return false;
    }
    rs.meta.annotations = rs
        .meta
        .annotations
        .with(ANNOTATION_DESIRED_REPLICAS, &desired.to_string())
        .with(ANNOTATION_MAX_REPLICAS, &max.to_string());
    true
}

/// Upstream `SetNewReplicaSetAnnotations`: the Deployment's annotations (but the
/// skipped ones), the revision raised to `new_revision` when lower (the old number
/// appended to the revision history), and for a ReplicaSet about to be created the
/// replicas annotations. Returns whether anything changed.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
    surge: i32,
) -> bool {
    let mut changed = false;
    let mut ann = rs.meta.annotations.clone();
    for (k, v) in d.meta.annotations.iter() {
        if skip_copy_annotation(k) || ann.get(k) == Some(v) {
            continue;
        }
        ann = ann.with(k, v);
        changed = true;
    }
    let old = ann.get(ANNOTATION_REVISION).cloned();
    let old_int = match &old {
        Some(v) => match v.parse::<i64>() {
            Ok(n) => n,
            Err(_) => {
                if !v.is_empty() {
                    rs.meta.annotations = ann;
                    return changed;
                }
                0
            }
        },
        None => 0,
    };
    if old_int < new_revision {
        ann = ann.with(ANNOTATION_REVISION, &new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let history = ann
                .get(ANNOTATION_REVISION_HISTORY)
                .map(|h| h.to_string())
                .unwrap_or_default();
            let value = if history.is_empty() {
                Some(old.to_string())
            } else {
                let parts: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_REV_HISTORY_CHARS && start < parts.len() {
                    total -= parts[start].len() + 1;
                    start += 1;
                }
                (total <= MAX_REV_HISTORY_CHARS).then(|| {
                    let mut v: Vec<&str> = parts[start..].to_vec();
                    v.push(old.as_str());
                    v.join(",")
                })
            };
            if let Some(value) = value {
                ann = ann.with(ANNOTATION_REVISION_HISTORY, &value);
            }
        }
    }
    rs.meta.annotations = ann;
    if !exists {
        let desired = d.spec.replicas;
        changed |= set_replicas_annotations(rs, desired, desired + surge);
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Container, PodSpec, PullPolicy, Resources, TemplateMeta};

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            meta: TemplateMeta {
                labels: StrMap::from_pairs([("app", "web")]),
                annotations: StrMap::new(),
            },
            spec: Arc::new(PodSpec {
                containers: vec![Container {
                    name: Str::new("web"),
                    image: Str::new(image),
                    image_pull_policy: PullPolicy::IfNotPresent,
                    command: vec![],
                    args: vec![],
                    ports: vec![],
                    requests: Resources::default(),
                    limits: Resources::default(),
                    readiness_probe: None,
                    liveness_probe: None,
                    pre_stop: None,
                }],
                ..PodSpec::default()
            }),
        }
    }

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(Str::new(s))
    }

    #[test]
    fn fnv32a_known_vectors() {
        let mut h = Fnv32a::new();
        h.write(b"");
        assert_eq!(h.0, 0x811c_9dc5);
        let mut h = Fnv32a::new();
        h.write(b"a");
        assert_eq!(h.0, 0xe40c_292c);
        let mut h = Fnv32a::new();
        h.write(b"foobar");
        assert_eq!(h.0, 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_uses_the_alphabet_per_digit() {
        // '0' = 48 → 48 % 27 = 21 → '4'; '9' = 57 → 3 → 'f'.
        assert_eq!(safe_encode("0"), "4");
        assert_eq!(safe_encode("9"), "f");
        assert_eq!(safe_encode("1234567890"), "56789bcdf4");
    }

    #[test]
    fn hash_is_stable_and_depends_on_template_and_collisions() {
        let a = template("nginx:1.8");
        let h = compute_hash(&a, None);
        assert_eq!(h, compute_hash(&a.clone(), None));
        assert!(h.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        assert!(!h.is_empty() && h.len() <= 10);
        assert_ne!(h, compute_hash(&template("nginx:1.9"), None));
        // A collision count changes it; 0 hashes differently from none.
        assert_ne!(h, compute_hash(&a, Some(1)));
        assert_ne!(compute_hash(&a, Some(0)), compute_hash(&a, None));
        // The encoding is the decimal sum's digits.
        let mut f = Fnv32a::new();
        let _ = write!(f, "{a:?}");
        assert_eq!(h, safe_encode(&f.0.to_string()));
    }

    #[test]
    fn equal_ignores_only_the_hash_label() {
        let a = template("nginx:1.8");
        let mut b = a.clone();
        b.meta.labels = b.meta.labels.with(LABEL_POD_TEMPLATE_HASH, "abc");
        assert!(equal_ignore_hash(&a, &b));
        b.meta.labels = b.meta.labels.with("tier", "fe");
        assert!(!equal_ignore_hash(&a, &b));
        assert!(!equal_ignore_hash(&a, &template("nginx:1.9")));
    }

    #[test]
    fn fencepost_rounding() {
        // 25% of 10: surge 3 (up), unavailable 2 (down).
        assert_eq!(resolve_fenceposts(&pct("25%"), &pct("25%"), 10), (3, 2));
        // 25% of 3: surge 1, unavailable 0.
        assert_eq!(resolve_fenceposts(&pct("25%"), &pct("25%"), 3), (1, 0));
        // 25% of 1 → 1 and 0; 10% of 1 → 1 and 0.
        assert_eq!(resolve_fenceposts(&pct("10%"), &pct("10%"), 1), (1, 0));
        // Both zero → unavailable 1.
        assert_eq!(
            resolve_fenceposts(&IntOrString::Int(0), &pct("25%"), 3),
            (0, 1)
        );
        assert_eq!(
            resolve_fenceposts(&IntOrString::Int(0), &IntOrString::Int(0), 5),
            (0, 1)
        );
        // Absolute values are kept as they are.
        assert_eq!(
            resolve_fenceposts(&IntOrString::Int(2), &IntOrString::Int(4), 3),
            (2, 4)
        );
        // 0 replicas: percentages give 0 → unavailable 1.
        assert_eq!(resolve_fenceposts(&pct("25%"), &pct("25%"), 0), (0, 1));
    }

    fn deployment(replicas: i32, surge: IntOrString, unavail: IntOrString) -> Deployment {
        Deployment {
            meta: ObjectMeta::named("default", "web"),
            spec: crate::model::DeploymentSpec {
                replicas,
                selector: LabelSelector::from_labels(StrMap::from_pairs([("app", "web")])),
                template: template("nginx:1.8"),
                strategy: DeploymentStrategy::RollingUpdate {
                    max_surge: surge,
                    max_unavailable: unavail,
                },
                min_ready_seconds: 0,
                revision_history_limit: 10,
                paused: false,
                progress_deadline_seconds: 600,
            },
            status: DeploymentStatus::default(),
        }
    }

    #[test]
    fn max_unavailable_is_capped_and_zero_for_recreate() {
        let d = deployment(2, IntOrString::Int(0), IntOrString::Int(5));
        assert_eq!(max_unavailable(&d), 2);
        let d = deployment(0, pct("25%"), pct("25%"));
        assert_eq!(max_unavailable(&d), 0);
        let mut d = deployment(4, pct("25%"), pct("25%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (1, 1));
        assert_eq!(rollout_bounds(&d), (5, 3));
        d.spec.strategy = DeploymentStrategy::Recreate;
        assert_eq!((max_surge(&d), max_unavailable(&d)), (0, 0));
        assert_eq!(rollout_bounds(&d), (4, 4));
    }

    #[test]
    fn new_replicas_respect_surge_and_desired() {
        let d = deployment(10, pct("25%"), pct("25%")); // surge 3
        assert_eq!(new_rs_new_replicas(&d, 10, 0), 3); // 13 − 10
        assert_eq!(new_rs_new_replicas(&d, 13, 3), 3); // at the cap
        assert_eq!(new_rs_new_replicas(&d, 11, 8), 10); // min(2, 10 − 8)
        assert_eq!(new_rs_new_replicas(&d, 0, 0), 10); // a fresh Deployment
        let mut r = d.clone();
        r.spec.strategy = DeploymentStrategy::Recreate;
        assert_eq!(new_rs_new_replicas(&r, 10, 0), 10);
    }

    fn input(replicas: i32, max: Option<i32>, age: usize) -> ScaleInput {
        ScaleInput {
            replicas,
            max_replicas_annotation: max,
            age_rank: age,
        }
    }

    #[test]
    fn proportional_scaling_matches_upstream_examples() {
        // The documented example: 10 replicas, maxSurge 3, maxUnavailable 2, rolling
        // out with old = 8, new = 5 (13 = 10 + 3) when scaled to 15 (maxSurge 25% →
        // 4 → allowed 19): 6 more replicas; old gets round(8 × 19 / 13) − 8 = 12 − 8
        // = 4, new round(5 × 19 / 13) − 5 = 7 − 5 = 2.
        let sets = [input(8, Some(13), 0), input(5, Some(13), 1)];
        assert_eq!(proportional_scale(&sets, 15, 4, 13), vec![12, 7]);
        // Scaling down to 5 (surge 2 → allowed 7): −6; old: round(8×7/13) − 8 =
        // 4 − 8 = −4; new: max(round(5×7/13) − 5 = −2, −2) = −2.
        assert_eq!(proportional_scale(&sets, 5, 2, 13), vec![4, 3]);
        // To zero: everything goes.
        assert_eq!(proportional_scale(&sets, 0, 0, 13), vec![0, 0]);
        // Leftovers go to the largest (ties: newer first when adding).
        let sets = [
            input(1, Some(3), 0),
            input(1, Some(3), 1),
            input(1, Some(3), 2),
        ];
        // 3 → allowed 5 (desired 4, surge 1): +2; each fraction round(1×5/3) − 1 = 1,
        // capped by what is left: the newest two get one each.
        assert_eq!(proportional_scale(&sets, 4, 1, 3), vec![1, 2, 2]);
        // Missing annotation: the Deployment's status.replicas is the old maximum.
        let sets = [input(6, None, 0), input(4, None, 1)];
        assert_eq!(proportional_scale(&sets, 20, 0, 10), vec![12, 8]);
        // No annotation and status.replicas 0: no proportion, the leftover goes to
        // the largest.
        assert_eq!(proportional_scale(&sets, 20, 0, 0), vec![16, 4]);
    }

    #[test]
    fn fraction_rounds_half_away_from_zero() {
        // 3 × 5 / 2 = 7.5 → 8.
        assert_eq!(replica_set_fraction(&input(3, Some(2), 0), 5, 0, 0), 5);
        // 3 × 1 / 2 = 1.5 → 2 → −1.
        assert_eq!(replica_set_fraction(&input(3, Some(2), 0), 1, 0, 0), -1);
    }

    fn rs_with(rev: Option<&str>, image: &str) -> ReplicaSet {
        let mut meta = ObjectMeta::named("default", &format!("web-{image}"));
        if let Some(r) = rev {
            meta.annotations = meta.annotations.with(ANNOTATION_REVISION, r);
        }
        let mut t = template(image);
        t.meta.labels = t.meta.labels.with(LABEL_POD_TEMPLATE_HASH, "h");
        ReplicaSet {
            meta,
            spec: ReplicaSetSpec {
                replicas: 0,
                min_ready_seconds: 0,
                selector: LabelSelector::default(),
                template: t,
            },
            status: ReplicaSetStatus::default(),
        }
    }

    #[test]
    fn new_rs_annotations_revision_and_history() {
        let mut d = deployment(3, pct("25%"), pct("25%"));
        d.meta.annotations = StrMap::from_pairs([
            (ANNOTATION_CHANGE_CAUSE, "kubectl set image"),
            (ANNOTATION_REVISION, "9"),
        ]);
        let mut rs = rs_with(None, "a");
        assert!(set_new_rs_annotations(&d, &mut rs, 1, false, 1));
        let a = &rs.meta.annotations;
        assert_eq!(a.get(ANNOTATION_REVISION).unwrap().as_str(), "1");
        assert_eq!(
            a.get(ANNOTATION_CHANGE_CAUSE).unwrap().as_str(),
            "kubectl set image"
        );
        assert_eq!(a.get(ANNOTATION_DESIRED_REPLICAS).unwrap().as_str(), "3");
        assert_eq!(a.get(ANNOTATION_MAX_REPLICAS).unwrap().as_str(), "4");
        assert!(a.get(ANNOTATION_REVISION_HISTORY).is_none());
        // Nothing new: unchanged.
        assert!(!set_new_rs_annotations(&d, &mut rs, 1, true, 1));
        // Brought back as revision 3, then 5: history "1", then "1,3".
        assert!(set_new_rs_annotations(&d, &mut rs, 3, true, 1));
        assert!(set_new_rs_annotations(&d, &mut rs, 5, true, 1));
        let a = &rs.meta.annotations;
        assert_eq!(a.get(ANNOTATION_REVISION).unwrap().as_str(), "5");
        assert_eq!(a.get(ANNOTATION_REVISION_HISTORY).unwrap().as_str(), "1,3");
        // A lower revision never lowers it.
        assert!(!set_new_rs_annotations(&d, &mut rs, 2, true, 1));
    }

    #[test]
    fn rollback_target_previous_and_specific() {
        let mut d = deployment(3, pct("25%"), pct("25%"));
        d.spec.template = template("c");
        d.meta.annotations = StrMap::from_pairs([(ANNOTATION_REVISION, "3")]);
        let mut a = rs_with(Some("1"), "a");
        a.meta.annotations = a.meta.annotations.with(ANNOTATION_CHANGE_CAUSE, "first");
        let b = rs_with(Some("2"), "b");
        let c = rs_with(Some("3"), "c");
        let sets = [&a, &c, &b];
        // Previous = second-highest revision (2).
        let (rev, t, _) = rollback_target(&d, &sets, None).unwrap().unwrap();
        assert_eq!(rev, 2);
        assert!(equal_ignore_hash(&t, &template("b")));
        assert!(!t.meta.labels.contains_key(LABEL_POD_TEMPLATE_HASH));
        // To revision 1: its change cause comes back, the revision annotation stays.
        let (rev, t, ann) = rollback_target(&d, &sets, Some(1)).unwrap().unwrap();
        assert_eq!(rev, 1);
        assert!(equal_ignore_hash(&t, &template("a")));
        assert_eq!(ann.get(ANNOTATION_CHANGE_CAUSE).unwrap().as_str(), "first");
        assert_eq!(ann.get(ANNOTATION_REVISION).unwrap().as_str(), "3");
        // Current: skipped; unknown: kubectl's error.
        assert_eq!(rollback_target(&d, &sets, Some(3)), Ok(None));
        assert_eq!(
            rollback_target(&d, &sets, Some(7)),
            Err("unable to find specified revision 7 in history".to_string())
        );
        assert!(rollback_target(&d, &[&c], None)
            .unwrap_err()
            .contains("no rollout history"));
    }

    #[test]
    fn progress_conditions() {
        let mut d = deployment(3, pct("25%"), pct("25%"));
        d.meta.generation = 2;
        let now = Timestamp::VIRTUAL_EPOCH;
        let mut s = DeploymentStatus {
            observed_generation: 2,
            replicas: 3,
            updated_replicas: 3,
            available_replicas: 3,
            ..DeploymentStatus::default()
        };
        assert!(deployment_complete(&d, &s));
        s.observed_generation = 1;
        assert!(!deployment_complete(&d, &s));
        let old = DeploymentStatus {
            replicas: 4,
            updated_replicas: 1,
            ..DeploymentStatus::default()
        };
        let mut new = old.clone();
        assert!(!deployment_progressing(&old, &new));
        new.replicas = 3; // an old pod gone
        assert!(deployment_progressing(&old, &new));
        // Timed out strictly after the deadline.
        let c = new_condition(
            COND_PROGRESSING,
            ConditionStatus::True,
            REASON_RS_UPDATED,
            String::new(),
            now,
        );
        set_condition(&mut s, c);
        assert!(!deployment_timed_out(
            &d,
            &s,
            now.plus(Duration::from_secs(600))
        ));
        assert!(deployment_timed_out(
            &d,
            &s,
            now.plus(Duration::from_millis(600_001))
        ));
        d.spec.progress_deadline_seconds = i32::MAX;
        assert!(!deployment_timed_out(
            &d,
            &s,
            now.plus(Duration::from_secs(6000))
        ));
    }

    #[test]
    fn set_condition_is_upstreams() {
        let t0 = Timestamp(1);
        let t1 = Timestamp(2);
        let mut s = DeploymentStatus::default();
        set_condition(
            &mut s,
            new_condition("A", ConditionStatus::True, "R", "m".into(), t0),
        );
        set_condition(
            &mut s,
            new_condition("B", ConditionStatus::True, "R", "m".into(), t0),
        );
        // Same status and reason: nothing changes, not even the message.
        set_condition(
            &mut s,
            new_condition("A", ConditionStatus::True, "R", "x".into(), t1),
        );
        assert_eq!(s.conditions[0].message.as_deref(), Some("m"));
        // New reason, same status: transition time kept, moved last.
        set_condition(
            &mut s,
            new_condition("A", ConditionStatus::True, "S", "x".into(), t1),
        );
        assert_eq!(s.conditions[1].type_.as_str(), "A");
        assert_eq!(s.conditions[1].last_transition_time, t0);
        assert_eq!(s.conditions[1].last_update_time, Some(t1));
    }
}
