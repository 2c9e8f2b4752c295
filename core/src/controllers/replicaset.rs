//! The ReplicaSet controller: keeps `spec.replicas` active pods matching a
//! ReplicaSet's selector, owned by it (upstream `pkg/controller/replicaset`).
//!
//! # Behaviour
//!
//! Keys are ReplicaSets; Pod events map to keys ([`ReplicaSetController`]'s
//! `map_event`):
//!
//! - a pod whose controller ownerReference names a ReplicaSet (that exists with that
//!   uid) → that ReplicaSet; an `Added` event of such a pod lowers the ReplicaSet's
//!   create expectations by one, a `Deleted` event or a pod being deleted lowers its
//!   delete expectations (if the pod is one the controller deleted, as client-go's
//!   `UIDTrackingControllerExpectations` tracks deletes by pod key);
//! - a pod without a controller (not being deleted) → every ReplicaSet of its
//!   namespace whose selector matches its labels (adoption) — on `Added`, and on a
//!   `Modified` that changed its labels or its controller reference, as upstream's
//!   `updatePod`;
//! - when the controller reference changed (a pod released or adopted), the *old*
//!   owner is enqueued too. A watch event carries only the new object, so the
//!   controller keeps a small map pod → (last controller reference, last labels),
//!   updated in `map_event` (which runs sequentially per kind) and dropped on the
//!   pod's `Deleted` event. It is the informer cache's "old object" of upstream's
//!   update handler.
//!
//! A reconcile of a ReplicaSet (`syncReplicaSet`):
//!
//! 1. A ReplicaSet that is gone: its expectations are dropped; nothing else (its pods
//!    are the garbage collector's).
//! 2. **Claim** (`ControllerRefManager.ClaimPods`) over the *active* pods (not
//!    terminal, not being deleted) that match the selector or are owned by the
//!    ReplicaSet (the owner-uid index): owned and matching → kept; owned but no longer
//!    matching → released (an update removing our ownerReference; not while the
//!    ReplicaSet is being deleted); no controller, matching → adopted (an update adding
//!    `{kind: ReplicaSet, name, uid, controller: true, blockOwnerDeletion: true}`; not
//!    while the ReplicaSet is being deleted). Pods controlled by someone else are
//!    ignored.
//! 3. **Manage replicas**, only when the expectations are satisfied (or expired after
//!    [`EXPECTATIONS_TIMEOUT`]) and the ReplicaSet is not being deleted: `diff =
//!    claimed − spec.replicas`.
//!    - `diff < 0`: expect `min(−diff, 500)` creates ([`BURST_REPLICAS`]), and record
//!      them as one slow-start batch ([`Ctx::create_slow_start`]: 1, 2, 4, … pods,
//!      stopping after a batch with a failure). Each pod: `generateName: <rs>-`, the
//!      template's labels and annotations (shared maps), the template's
//!      `Arc<PodSpec>` (shared, not copied) and one ownerReference list built once per
//!      reconcile and shared by every new pod. Events `SuccessfulCreate` (`Created
//!      pod: <name>`) and `FailedCreate` (`Error creating: <error>`).
//!    - `diff > 0`: pick `min(diff, 500)` victims by [`compare_for_deletion`], expect
//!      their deletion (by pod name), and delete each (uid precondition). Events
//!      `SuccessfulDelete` (`Deleted pod: <name>`) and `FailedDelete`.
//!    - In `applied`, failed and skipped creates lower the create expectations, and
//!      failed deletes lower the delete expectations (upstream's `CreationObserved` for
//!      `diff − successfulCreations`, and `DeletionObserved` on a delete error).
//! 4. **Status** (`calculateStatus`), written with `update_status` when it changed:
//!    `replicas` (claimed active pods), `fullyLabeledReplicas` (labels ⊇ template
//!    labels), `readyReplicas`, `availableReplicas` (ready for `minReadySeconds`),
//!    `observedGeneration = metadata.generation`. Conditions are kept as they are.
//! 5. **Requeue**: when a ready pod will become available later, after the time left
//!    (the earliest such pod); while expectations are pending, at their expiry.
//!
//! # Simplifications (stated)
//!
//! - Adoption and release are recorded updates (resourceVersion precondition instead
//!   of upstream's uid-preconditioned patch); adopted pods count as claimed in the
//!   same reconcile, as upstream counts them after a successful patch. If the update
//!   fails (a conflict), the runtime requeues the key and the next reconcile sees the
//!   truth; upstream would abort that sync instead. The uncached `CanAdopt` recheck is
//!   unnecessary: the store view is the source of truth.
//! - Every failed create lowers the expectations. Upstream treats a create refused
//!   because the namespace is terminating as a success (leaving the expectation to
//!   expire); here it is a failure, as it also ends the slow start.
//! - The `ReplicaFailure` condition is not set (write errors are known only after the
//!   reconcile, in `applied`); existing conditions are kept.
//! - The available-requeue happens whenever a ready pod is not yet available, after
//!   the exact time left; upstream requeues after `minReadySeconds` only when
//!   `readyReplicas == replicas`, and on a pod turning ready after `minReadySeconds +
//!   1 s`.
//! - The pod memory of `map_event` holds one small entry per pod of the cluster
//!   (its controller reference and a shared pointer to its labels); a relist after an
//!   expired watch maps every pod as `Added` again, which lowers create expectations
//!   early (the sync then sees the store as it is, so this costs at most an early
//!   sync, as upstream's informer resync can).
//! - While expectations are pending, the key is requeued at their expiry, so an
//!   expectation whose event was lost cannot block the ReplicaSet for longer than
//!   [`EXPECTATIONS_TIMEOUT`] (upstream waits for the next event of the ReplicaSet).
//! - Victims are sorted with a stable sort over pods in name order (upstream's
//!   `sort.Sort` is not stable); ties left by every rule keep name order.
//!
//! # Scale-down ranking
//!
//! [`compare_for_deletion`] implements upstream's `ActivePodsWithRanks.Less` with
//! `LogarithmicScaleDown` (GA since 1.31) and `PodDeletionCost`; the first rule that
//! differs decides, the earlier pod is deleted first:
//!
//! 1. unassigned (no `nodeName`) before assigned;
//! 2. phase Pending before Unknown before Running (other phases rank as Pending);
//! 3. not ready before ready;
//! 4. lower `controller.kubernetes.io/pod-deletion-cost` first (absent or invalid =
//!    0);
//! 5. higher rank first: more active pods of the related ReplicaSets (this one and
//!    those with the same controller owner) on the pod's node;
//! 6. if both are ready and their Ready transition times differ: shorter time ready
//!    first, compared as `floor(log2(now − t in ns))` buckets, equal buckets ordered
//!    by uid (a zero time sorts first);
//! 7. more restarts first;
//! 8. if the creation times differ: newer first, in log2 buckets with the uid
//!    tiebreak, as in 6.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use fnv::FnvHashMap;
use parking_lot::Mutex;

use crate::intern::{SharedList, Str, StrMap};
use crate::model::{
    EventType, Kind, Object, ObjectKey, ObjectMeta, OwnerReference, Pod, PodPhase, PodStatus,
    ReplicaSet, ReplicaSetStatus, Uid,
};
use crate::runtime::{
    route_key, route_object, Controller, Ctx, ReconcileError, Requeue, Routed, StoreView, Verb,
    WriteResult,
};
use crate::selector::LabelSelector;
use crate::store::{DeleteOptions, WatchEvent, WatchEventType};
use crate::time::Timestamp;

/// The controller's name (the `source` of its Events), as upstream's.
pub const CONTROLLER_NAME: &str = "replicaset-controller";

/// Most creates or deletes issued in one sync (upstream `BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;

/// Pending expectations older than this no longer block a sync (upstream
/// `ExpectationsTimeout`).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The annotation whose (int32) value orders victims: lower cost is deleted first.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// What a ReplicaSet still waits to observe after its last creates or deletes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectations {
    /// Creates not observed yet (may go below zero: more pods observed than expected).
    pub add: i64,
    /// Names of pods deleted and not yet observed gone or being deleted.
    pub deletes: HashSet<Str>,
    /// When the expectations were set.
    pub set_at: Timestamp,
}

impl Expectations {
    /// Every expected create and delete was observed.
    pub fn fulfilled(&self) -> bool {
        self.add <= 0 && self.deletes.is_empty()
    }

    /// Older than [`EXPECTATIONS_TIMEOUT`] at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        now.since(self.set_at) > EXPECTATIONS_TIMEOUT
    }
}

/// Every controller's pending [`Expectations`], by owner key (upstream
/// `ControllerExpectations`, shared by the ReplicaSet and DaemonSet controllers). One
/// mutex guards the map; each method holds it for one map operation only.
#[derive(Debug, Default)]
pub struct ExpectationsCache(Mutex<FnvHashMap<ObjectKey, Expectations>>);

impl ExpectationsCache {
    /// The pending expectations of `key`, if any were set.
    pub fn get(&self, key: &ObjectKey) -> Option<Expectations> {
        self.0.lock().get(key).cloned()
    }

    /// No expectations, fulfilled ones, or expired ones at `now` (upstream
    /// `SatisfiedExpectations`).
    pub fn satisfied(&self, key: &ObjectKey, now: Timestamp) -> bool {
        self.0
            .lock()
            .get(key)
            .is_none_or(|e| e.fulfilled() || e.expired(now))
    }

    /// Replaces the expectations of `key` (before issuing creates and deletes).
    pub fn set(&self, key: ObjectKey, e: Expectations) {
        self.0.lock().insert(key, e);
    }

    /// Drops the expectations of `key` (its owner is gone).
    pub fn forget(&self, key: &ObjectKey) {
        self.0.lock().remove(key);
    }

    /// `n` expected creates were observed (or failed).
    pub fn creation_observed(&self, key: &ObjectKey, n: i64) {
        if let Some(e) = self.0.lock().get_mut(key) {
            e.add -= n;
        }
    }

    /// The deletion of `pod` was observed (or failed).
    pub fn deletion_observed(&self, key: &ObjectKey, pod: &str) {
        if let Some(e) = self.0.lock().get_mut(key) {
            e.deletes.remove(pod);
        }
    }

    /// Lowers the expectations of `key` by its failed creates and deletes (upstream
    /// `CreationObserved`/`DeletionObserved` on a write error).
    pub fn observe_failed(&self, key: &ObjectKey, results: &[WriteResult]) {
        let failed_creates = results
            .iter()
            .filter(|r| r.verb == Verb::Create && !r.is_ok())
            .count();
        if failed_creates > 0 {
            self.creation_observed(key, failed_creates as i64);
        }
        for r in results {
            if r.verb == Verb::Delete && !r.is_ok() {
                self.deletion_observed(key, &r.key.name);
            }
        }
    }

    /// `after`, or sooner: just past the expiry of `key`'s pending expectations.
    pub fn requeue_after(
        &self,
        key: &ObjectKey,
        now: Timestamp,
        after: Option<Duration>,
    ) -> Option<Duration> {
        match self.0.lock().get(key) {
            Some(e) if !e.fulfilled() && !e.expired(now) => {
                let left = e
                    .set_at
                    .plus(EXPECTATIONS_TIMEOUT + Duration::from_millis(1))
                    .since(now);
                Some(after.map_or(left, |a| a.min(left)))
            }
            _ => after,
        }
    }
}

/// What `map_event` last saw of a pod (the "old object" of an update).
#[derive(Clone, Debug)]
struct PodMemo {
    controller: Option<OwnerReference>,
    labels: StrMap,
}

/// The ReplicaSet controller (see the [module docs](self)).
#[derive(Debug, Default)]
pub struct ReplicaSetController {
    expectations: ExpectationsCache,
    pods: Mutex<FnvHashMap<(Str, Str), PodMemo>>,
}

impl ReplicaSetController {
    /// A controller with no expectations.
    pub fn new() -> Self {
        Self::default()
    }

    /// The pending expectations of a ReplicaSet, if any were set.
    pub fn expectations(&self, key: &ObjectKey) -> Option<Expectations> {
        self.expectations.get(key)
    }

    /// Whether a sync may manage replicas: no expectations, fulfilled ones, or
    /// expired ones (upstream `SatisfiedExpectations`).
    pub fn expectations_satisfied(&self, key: &ObjectKey, now: Timestamp) -> bool {
        self.expectations.satisfied(key, now)
    }

    fn map_pod(
        &self,
        type_: WatchEventType,
        pod: &Pod,
        store: StoreView<'_>,
        out: &mut Vec<Routed<ObjectKey>>,
    ) {
        let ns = &pod.meta.namespace;
        let cur = pod.meta.controller_ref().cloned();
        let memo_key = (ns.clone(), pod.meta.name.clone());
        let old = if type_ == WatchEventType::Deleted {
            self.pods.lock().remove(&memo_key)
        } else {
            self.pods.lock().insert(
                memo_key,
                PodMemo {
                    controller: cur.clone(),
                    labels: pod.meta.labels.clone(),
                },
            )
        };
        let (labels_changed, ref_changed) = match &old {
            Some(o) => (o.labels != pod.meta.labels, o.controller != cur),
            None => (true, true),
        };
        if ref_changed {
            if let Some(old_key) = old
                .as_ref()
                .and_then(|o| o.controller.as_ref())
                .and_then(|r| resolve_controller(store, ns, r))
            {
                out.push(route_key(store, old_key));
            }
        }
        let gone = type_ == WatchEventType::Deleted || pod.meta.is_being_deleted();
        if let Some(r) = &cur {
            let Some(key) = resolve_controller(store, ns, r) else {
                return;
            };
            if gone {
                self.expectations.deletion_observed(&key, &pod.meta.name);
            } else if type_ == WatchEventType::Added {
                self.expectations.creation_observed(&key, 1);
            }
            out.push(route_key(store, key));
            return;
        }
        if gone || !(type_ == WatchEventType::Added || labels_changed || ref_changed) {
            return;
        }
        // An orphan: every ReplicaSet that could adopt it.
        let Ok(sets) = store.list(Kind::ReplicaSet, Some(ns), None, None) else {
            return;
        };
        for rs in sets {
            let Some(r) = rs.as_replica_set() else {
                continue;
            };
            if selects(&r.spec.selector, &pod.meta.labels) {
                out.push(route_object(store, &rs));
            }
        }
    }
}

/// The ReplicaSet key a controller reference names, if that ReplicaSet exists with
/// the referenced uid (upstream `resolveControllerRef`).
fn resolve_controller(store: StoreView<'_>, ns: &str, r: &OwnerReference) -> Option<ObjectKey> {
    if r.kind != Kind::ReplicaSet {
        return None;
    }
    let rs = store.try_get(Kind::ReplicaSet, ns, &r.name)?;
    (rs.meta().uid == r.uid).then(|| ObjectKey::of(&rs))
}

/// Whether a (non-empty) selector selects these labels; an empty selector selects
/// nothing here (upstream's `selector.Empty()` check; validation forbids it anyway).
fn selects(selector: &LabelSelector, labels: &StrMap) -> bool {
    !selector.is_empty() && selector.matches(labels)
}

impl Controller for ReplicaSetController {
    fn name(&self) -> &'static str {
        CONTROLLER_NAME
    }

    fn primary(&self) -> Kind {
        Kind::ReplicaSet
    }

    fn watches(&self) -> &[Kind] {
        &[Kind::Pod]
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        match ev.object.as_ref() {
            Object::ReplicaSet(_) => out.push(route_object(store, &ev.object)),
            Object::Pod(pod) => self.map_pod(ev.type_, pod, store, out),
            _ => {}
        }
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        let store = ctx.store();
        let Some(obj) = store.get_key(key) else {
            self.expectations.forget(key);
            return Ok(Requeue::Done);
        };
        let Some(rs) = obj.as_replica_set() else {
            return Err(ReconcileError::new(format!("{key} is not a ReplicaSet")));
        };
        let now = ctx.now();
        let needs_sync = self.expectations_satisfied(key, now);
        let uid = rs.meta.uid;
        let ns = rs.meta.namespace.as_str();
        let selector = &rs.spec.selector;
        let rs_deleting = rs.meta.is_being_deleted();

        // Candidates: pods matching the selector, and pods we own (the owner index).
        let mut candidates: BTreeMap<Str, Arc<Object>> = BTreeMap::new();
        if !selector.is_empty() {
            let matching = store
                .list(Kind::Pod, Some(ns), Some(selector), None)
                .map_err(ReconcileError::new)?;
            candidates.extend(matching.into_iter().map(|p| (p.name().clone(), p)));
        }
        for p in store.dependents_of_kind(Kind::Pod, uid) {
            if p.namespace().as_str() == ns {
                candidates.insert(p.name().clone(), p);
            }
        }

        // Claim.
        let own_ref = OwnerReference {
            kind: Kind::ReplicaSet,
            name: rs.meta.name.clone(),
            uid,
            controller: true,
            block_owner_deletion: true,
        };
        let shared_refs: SharedList<OwnerReference> = vec![own_ref.clone()].into();
        let mut claimed: Vec<Arc<Object>> = Vec::new();
        for obj in candidates.into_values() {
            let Some(pod) = obj.as_pod() else { continue };
            if !pod.is_active() {
                continue;
            }
            let matches = selects(selector, &pod.meta.labels);
            match pod.meta.controller_ref() {
                Some(r) if r.uid == uid => {
                    if matches {
                        claimed.push(obj);
                    } else if !rs_deleting {
                        let mut new = (*obj).clone();
                        new.meta_mut()
                            .owner_references
                            .update(|v| v.retain(|r| r.uid != uid));
                        ctx.update(new);
                    }
                }
                Some(_) => {}
                None if matches && !rs_deleting => {
                    let mut new = (*obj).clone();
                    let m = new.meta_mut();
                    if m.owner_references.is_empty() {
                        m.owner_references = shared_refs.clone();
                    } else {
                        m.owner_references.update(|v| v.push(own_ref.clone()));
                    }
                    ctx.update(new);
                    claimed.push(obj);
                }
                None => {}
            }
        }

        // Manage replicas.
        if needs_sync && !rs_deleting {
            let diff = claimed.len() as i64 - i64::from(rs.spec.replicas.max(0));
            if diff < 0 {
                let n = (diff.unsigned_abs() as usize).min(BURST_REPLICAS);
                self.expectations.set(
                    key.clone(),
                    Expectations {
                        add: n as i64,
                        deletes: HashSet::new(),
                        set_at: now,
                    },
                );
                let pods = new_pods(rs, &shared_refs, n);
                ctx.create_slow_start(pods)
                    .on_success(
                        &obj,
                        EventType::Normal,
                        "SuccessfulCreate",
                        "Created pod: {name}",
                    )
                    .on_failure(&obj, EventType::Warning, "FailedCreate", "Error creating");
            } else if diff > 0 {
                let n = (diff as usize).min(BURST_REPLICAS);
                let related = related_pods(store, rs, &claimed);
                let victims = pods_to_delete(&claimed, &related, n, now);
                self.expectations.set(
                    key.clone(),
                    Expectations {
                        add: 0,
                        deletes: victims.iter().map(|v| v.name().clone()).collect(),
                        set_at: now,
                    },
                );
                for v in &victims {
                    let opts = DeleteOptions {
                        preconditions_uid: Some(v.meta().uid),
                        ..DeleteOptions::default()
                    };
                    ctx.delete(Kind::Pod, ns, v.name(), opts)
                        .on_success(
                            &obj,
                            EventType::Normal,
                            "SuccessfulDelete",
                            "Deleted pod: {name}",
                        )
                        .on_failure(&obj, EventType::Warning, "FailedDelete", "Error deleting");
                }
            }
        }

        // Status.
        let pods: Vec<&Pod> = claimed.iter().filter_map(|o| o.as_pod()).collect();
        let (status, available_in) = calculate_status(rs, &pods, now);
        if status != rs.status {
            let mut new = (*obj).clone();
            if let Some(r) = new.as_replica_set_mut() {
                r.status = status;
            }
            ctx.update_status(new);
        }

        // Requeue.
        let after = self.expectations.requeue_after(key, now, available_in);
        Ok(after.map_or(Requeue::Done, Requeue::After))
    }

    fn applied(&self, key: &ObjectKey, results: &[WriteResult]) {
        self.expectations.observe_failed(key, results);
    }
}

/// `n` new pods from the ReplicaSet's template: `generateName: <rs>-`, the template's
/// labels, annotations and spec shared, and `owner_refs` shared.
pub fn new_pods(rs: &ReplicaSet, owner_refs: &SharedList<OwnerReference>, n: usize) -> Vec<Object> {
    let generate_name = Str::from(format!("{}-", rs.meta.name));
    let template = &rs.spec.template;
    (0..n)
        .map(|_| {
            Object::from(Pod {
                meta: ObjectMeta {
                    namespace: rs.meta.namespace.clone(),
                    generate_name: Some(generate_name.clone()),
                    labels: template.meta.labels.clone(),
                    annotations: template.meta.annotations.clone(),
                    owner_references: owner_refs.clone(),
                    ..ObjectMeta::default()
                },
                spec: Arc::clone(&template.spec),
                node_name: None,
                status: PodStatus::default(),
            })
        })
        .collect()
}

/// Pods owned by the ReplicaSets related to `rs` (itself and those with the same
/// controller owner), with `claimed` (upstream `getIndirectlyRelatedPods`).
fn related_pods(
    store: StoreView<'_>,
    rs: &ReplicaSet,
    claimed: &[Arc<Object>],
) -> Vec<Arc<Object>> {
    let mut by_name: BTreeMap<Str, Arc<Object>> = claimed
        .iter()
        .map(|p| (p.name().clone(), Arc::clone(p)))
        .collect();
    let mut sets: Vec<Uid> = vec![rs.meta.uid];
    if let Some(owner) = rs.meta.controller_ref() {
        for o in store.dependents_of_kind(Kind::ReplicaSet, owner.uid) {
            if o.namespace() == &rs.meta.namespace
                && o.meta()
                    .controller_ref()
                    .is_some_and(|r| r.uid == owner.uid)
                && o.meta().uid != rs.meta.uid
            {
                sets.push(o.meta().uid);
            }
        }
    }
    for set in sets {
        for p in store.dependents_of_kind(Kind::Pod, set) {
            if p.meta().controller_ref().is_some_and(|r| r.uid == set) {
                by_name.entry(p.name().clone()).or_insert(p);
            }
        }
    }
    by_name.into_values().collect()
}

/// The `n` pods of `candidates` to delete first (upstream `getPodsToDelete`): ranked
/// by [`compare_for_deletion`], a pod's rank being the number of active `related`
/// pods on its node. `candidates` keep their order among ties (stable sort).
pub fn pods_to_delete(
    candidates: &[Arc<Object>],
    related: &[Arc<Object>],
    n: usize,
    now: Timestamp,
) -> Vec<Arc<Object>> {
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for p in related.iter().filter_map(|o| o.as_pod()) {
        if p.is_active() {
            *on_node.entry(node_of(p)).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&Arc<Object>, &Pod, usize)> = candidates
        .iter()
        .filter_map(|o| {
            let p = o.as_pod()?;
            Some((o, p, on_node.get(node_of(p)).copied().unwrap_or(0)))
        })
        .collect();
    if n < ranked.len() {
        ranked.sort_by(|a, b| compare_for_deletion(a.1, a.2, b.1, b.2, now));
    }
    ranked
        .into_iter()
        .take(n)
        .map(|(o, _, _)| Arc::clone(o))
        .collect()
}

fn node_of(p: &Pod) -> &str {
    p.node_name.as_deref().unwrap_or("")
}

/// Upstream `podPhaseToOrdinal`: Pending 0, Unknown 1, Running 2 (others 0).
fn phase_ordinal(phase: PodPhase) -> u8 {
    match phase {
        PodPhase::Unknown => 1,
        PodPhase::Running => 2,
        _ => 0,
    }
}

/// The pod's `controller.kubernetes.io/pod-deletion-cost` (absent or invalid: 0).
pub fn deletion_cost(pod: &Pod) -> i32 {
    pod.meta
        .annotations
        .get(POD_DELETION_COST)
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0)
}

/// `floor(log2(now − t1)) − floor(log2(now − t2))`, durations in nanoseconds, −1 for
/// a non-positive duration (upstream `logarithmicRankDiff`).
pub fn logarithmic_rank_diff(t1: Timestamp, t2: Timestamp, now: Timestamp) -> i64 {
    let rank = |t: Timestamp| {
        let ns = i128::from(now.0 - t.0) * 1_000_000;
        if ns > 0 {
            i64::from(ns.ilog2())
        } else {
            -1
        }
    };
    rank(t1) - rank(t2)
}

/// Orders two different times for deletion: a zero time first, else the later one
/// first, in log2 buckets of age with the uid as tiebreak (upstream's
/// `LogarithmicScaleDown` branch).
fn time_order(t1: Timestamp, u1: Uid, t2: Timestamp, u2: Uid, now: Timestamp) -> Ordering {
    if t1.0 == 0 || t2.0 == 0 {
        return if t1.0 == 0 {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    match logarithmic_rank_diff(t1, t2, now).cmp(&0) {
        Ordering::Equal => u1.cmp(&u2),
        o => o,
    }
}

/// Upstream `ActivePodsWithRanks.Less` as an ordering: `Less` = delete `a` before `b`
/// (see the [module docs](self#scale-down-ranking) for the rules). `rank_*` is the
/// number of active related pods on the pod's node.
pub fn compare_for_deletion(
    a: &Pod,
    rank_a: usize,
    b: &Pod,
    rank_b: usize,
    now: Timestamp,
) -> Ordering {
    // 1. Unassigned before assigned.
    let (ua, ub) = (node_of(a).is_empty(), node_of(b).is_empty());
    if ua != ub {
        return if ua {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    // 2. Pending < Unknown < Running.
    let o = phase_ordinal(a.status.phase).cmp(&phase_ordinal(b.status.phase));
    if o != Ordering::Equal {
        return o;
    }
    // 3. Not ready before ready.
    let (ra, rb) = (a.is_ready(), b.is_ready());
    if ra != rb {
        return if ra {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    // 4. Lower deletion cost first.
    let o = deletion_cost(a).cmp(&deletion_cost(b));
    if o != Ordering::Equal {
        return o;
    }
    // 5. More siblings on the node first.
    let o = rank_b.cmp(&rank_a);
    if o != Ordering::Equal {
        return o;
    }
    // 6. Shorter time ready first.
    if ra && rb {
        let (ta, tb) = (
            a.status.conditions.ready.since,
            b.status.conditions.ready.since,
        );
        if ta != tb {
            return time_order(ta, a.meta.uid, tb, b.meta.uid, now);
        }
    }
    // 7. More restarts first.
    let o = b.status.restart_count.cmp(&a.status.restart_count);
    if o != Ordering::Equal {
        return o;
    }
    // 8. Newer first.
    let (ca, cb) = (a.meta.creation_timestamp, b.meta.creation_timestamp);
    if ca != cb {
        return time_order(ca, a.meta.uid, cb, b.meta.uid, now);
    }
    Ordering::Equal
}

/// The status of `rs` given its claimed active pods (upstream `calculateStatus`; the
/// conditions are kept), and the time until the next ready pod becomes available, if
/// one will.
pub fn calculate_status(
    rs: &ReplicaSet,
    pods: &[&Pod],
    now: Timestamp,
) -> (ReplicaSetStatus, Option<Duration>) {
    let template_labels = &rs.spec.template.meta.labels;
    let min_ready = rs.spec.min_ready_seconds;
    let mut status = ReplicaSetStatus {
        replicas: pods.len() as i32,
        observed_generation: rs.meta.generation,
        conditions: rs.status.conditions.clone(),
        ..ReplicaSetStatus::default()
    };
    let mut next: Option<Duration> = None;
    for p in pods {
        // Pods made from the template share its label map: no lookups for those.
        if StrMap::ptr_eq(&p.meta.labels, template_labels)
            || p.meta.labels.contains_all(template_labels)
        {
            status.fully_labeled_replicas += 1;
        }
        if p.is_ready() {
            status.ready_replicas += 1;
            if p.is_available(min_ready, now) {
                status.available_replicas += 1;
            } else {
                let at = p
                    .status
                    .conditions
                    .ready
                    .since
                    .plus(Duration::from_secs(min_ready.max(0) as u64));
                let left = at.since(now).max(Duration::from_millis(1));
                next = Some(next.map_or(left, |n| n.min(left)));
            }
        }
    }
    (status, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConditionStatus, PodCondition};

    const NOW: Timestamp = Timestamp(Timestamp::VIRTUAL_EPOCH.0 + 10_000_000);

    /// A baseline pod: assigned to n1, Running, ready for 1000 s, created 2000 s ago,
    /// no restarts, uid `uid`.
    fn pod(uid: u64) -> Pod {
        let mut meta = ObjectMeta::named("default", &format!("p{uid}"));
        meta.uid = Uid(uid);
        meta.creation_timestamp = Timestamp(NOW.0 - 2_000_000);
        Pod {
            meta,
            spec: Arc::default(),
            node_name: Some(Str::new("n1")),
            status: PodStatus {
                phase: PodPhase::Running,
                conditions: crate::model::PodConditions {
                    ready: PodCondition::new(ConditionStatus::True, Timestamp(NOW.0 - 1_000_000)),
                    ..Default::default()
                },
                ..PodStatus::default()
            },
        }
    }

    type Tweak = fn(&mut Pod);

    /// Each rule: a tweak that makes a pod "delete first" by that rule alone, and one
    /// that makes it "delete first" by an earlier rule while losing on this one.
    #[test]
    fn each_rule_decides_when_earlier_ones_tie() {
        let rules: Vec<(&str, Tweak)> = vec![
            ("unassigned", |p| p.node_name = None),
            ("pending", |p| p.status.phase = PodPhase::Pending),
            ("unknown-before-running", |p| {
                p.status.phase = PodPhase::Unknown
            }),
            ("not-ready", |p| {
                p.status.conditions.ready = PodCondition::new(ConditionStatus::False, NOW)
            }),
            ("low-cost", |p| {
                p.meta.annotations = p.meta.annotations.with(POD_DELETION_COST, "-5")
            }),
            ("ready-shorter", |p| {
                // 1000 s → 10 s ready: a different log2 bucket.
                p.status.conditions.ready.since = Timestamp(NOW.0 - 10_000)
            }),
            ("restarts", |p| p.status.restart_count = 3),
            ("newer", |p| {
                p.meta.creation_timestamp = Timestamp(NOW.0 - 5_000)
            }),
        ];
        for (i, (name, tweak)) in rules.iter().enumerate() {
            // Alone, the tweak puts the pod first (uids chosen against it: 2 > 1).
            let mut a = pod(2);
            tweak(&mut a);
            let b = pod(1);
            assert_eq!(
                compare_for_deletion(&a, 1, &b, 1, NOW),
                Ordering::Less,
                "{name}"
            );
            assert_eq!(
                compare_for_deletion(&b, 1, &a, 1, NOW),
                Ordering::Greater,
                "{name}"
            );
            // Every earlier rule overrides it.
            for (earlier, etweak) in &rules[..i] {
                let mut b2 = pod(1);
                etweak(&mut b2);
                let mut a2 = pod(2);
                tweak(&mut a2);
                assert_eq!(
                    compare_for_deletion(&a2, 1, &b2, 1, NOW),
                    Ordering::Greater,
                    "{earlier} must override {name}"
                );
            }
        }
        // Rank (rule 5): more siblings first, overridden by cost, overriding ready time.
        let a = pod(2);
        let b = pod(1);
        assert_eq!(compare_for_deletion(&a, 3, &b, 1, NOW), Ordering::Less);
        let mut cheap = pod(1);
        cheap.meta.annotations = cheap.meta.annotations.with(POD_DELETION_COST, "-1");
        assert_eq!(
            compare_for_deletion(&a, 3, &cheap, 1, NOW),
            Ordering::Greater
        );
        let mut fresh = pod(1);
        fresh.status.conditions.ready.since = Timestamp(NOW.0 - 10_000);
        assert_eq!(compare_for_deletion(&a, 3, &fresh, 1, NOW), Ordering::Less);
        // All equal.
        assert_eq!(
            compare_for_deletion(&pod(1), 1, &pod(1), 1, NOW),
            Ordering::Equal
        );
    }

    #[test]
    fn same_log_bucket_falls_back_to_uid() {
        // Ready 1000 s vs 1001 s: same log2 bucket → lower uid first, then the rules
        // after 6 are not consulted (restarts would say otherwise).
        let mut a = pod(5);
        let mut b = pod(4);
        a.status.conditions.ready.since = Timestamp(NOW.0 - 1_001_000);
        b.status.restart_count = 0;
        a.status.restart_count = 9;
        assert_eq!(compare_for_deletion(&a, 1, &b, 1, NOW), Ordering::Greater);
        assert_eq!(compare_for_deletion(&b, 1, &a, 1, NOW), Ordering::Less);
        // Not-ready pods skip rule 6: restarts decide.
        for p in [&mut a, &mut b] {
            p.status.conditions.ready = PodCondition::new(ConditionStatus::False, NOW);
        }
        assert_eq!(compare_for_deletion(&a, 1, &b, 1, NOW), Ordering::Less);
    }

    #[test]
    fn deletion_cost_parsing() {
        let mut p = pod(1);
        assert_eq!(deletion_cost(&p), 0);
        p.meta.annotations = p.meta.annotations.with(POD_DELETION_COST, "42");
        assert_eq!(deletion_cost(&p), 42);
        p.meta.annotations = p.meta.annotations.with(POD_DELETION_COST, "x");
        assert_eq!(deletion_cost(&p), 0);
        p.meta.annotations = p.meta.annotations.with(POD_DELETION_COST, "99999999999");
        assert_eq!(deletion_cost(&p), 0);
    }

    #[test]
    fn log_rank_diff() {
        let now = Timestamp(1_000_000);
        // 1 ms = 1e6 ns → floor(log2) = 19; 2 ms → 20; 3 and 4 ms → 21; 0 → -1.
        assert_eq!(logarithmic_rank_diff(Timestamp(now.0 - 1), now, now), 20);
        assert_eq!(
            logarithmic_rank_diff(Timestamp(now.0 - 2), Timestamp(now.0 - 1), now),
            1
        );
        assert_eq!(
            logarithmic_rank_diff(Timestamp(now.0 - 4), Timestamp(now.0 - 3), now),
            0
        );
        assert_eq!(logarithmic_rank_diff(now, Timestamp(now.0 + 5), now), 0);
    }

    fn rs(replicas: i32, min_ready: i32) -> ReplicaSet {
        let mut meta = ObjectMeta::named("default", "web");
        meta.generation = 7;
        let labels: StrMap = [("app", "web"), ("tier", "fe")].into_iter().collect();
        ReplicaSet {
            meta,
            spec: crate::model::ReplicaSetSpec {
                replicas,
                min_ready_seconds: min_ready,
                selector: LabelSelector::from_labels([("app", "web")].into_iter().collect()),
                template: crate::model::PodTemplateSpec {
                    meta: crate::model::TemplateMeta {
                        labels,
                        annotations: StrMap::new(),
                    },
                    spec: Arc::default(),
                },
            },
            status: ReplicaSetStatus::default(),
        }
    }

    #[test]
    fn status_counts_and_available_wait() {
        let r = rs(3, 60);
        let mut full = pod(1);
        full.meta.labels = r.spec.template.meta.labels.clone();
        full.status.conditions.ready.since = Timestamp(NOW.0 - 100_000); // available
        let mut partial = pod(2);
        partial.meta.labels = [("app", "web")].into_iter().collect();
        partial.status.conditions.ready.since = Timestamp(NOW.0 - 20_000); // 40 s left
        let mut unready = pod(3);
        unready.meta.labels = r.spec.template.meta.labels.clone();
        unready.status.conditions.ready = PodCondition::new(ConditionStatus::False, NOW);
        let (s, wait) = calculate_status(&r, &[&full, &partial, &unready], NOW);
        assert_eq!(s.replicas, 3);
        assert_eq!(s.fully_labeled_replicas, 2);
        assert_eq!(s.ready_replicas, 2);
        assert_eq!(s.available_replicas, 1);
        assert_eq!(s.observed_generation, 7);
        assert_eq!(wait, Some(Duration::from_secs(40)));
        let (_, wait) = calculate_status(&r, &[&full], NOW);
        assert_eq!(wait, None);
    }

    #[test]
    fn new_pods_share_template_and_owner_refs() {
        let r = rs(2, 0);
        let refs: SharedList<OwnerReference> = vec![OwnerReference {
            kind: Kind::ReplicaSet,
            name: Str::new("web"),
            uid: Uid(9),
            controller: true,
            block_owner_deletion: true,
        }]
        .into();
        let pods = new_pods(&r, &refs, 2);
        assert_eq!(pods.len(), 2);
        for o in &pods {
            let p = o.as_pod().unwrap();
            assert!(p.meta.name.is_empty());
            assert_eq!(p.meta.generate_name.as_deref(), Some("web-"));
            assert!(Arc::ptr_eq(&p.spec, &r.spec.template.spec));
            assert!(StrMap::ptr_eq(&p.meta.labels, &r.spec.template.meta.labels));
            assert!(SharedList::ptr_eq(&p.meta.owner_references, &refs));
        }
    }

    #[test]
    fn pods_to_delete_uses_node_rank() {
        let mut a = pod(1);
        a.meta.name = Str::new("a");
        let mut b = pod(2);
        b.meta.name = Str::new("b");
        b.node_name = Some(Str::new("n2"));
        let mut c = pod(3);
        c.meta.name = Str::new("c");
        c.node_name = Some(Str::new("n2"));
        let objs: Vec<Arc<Object>> = [a, b, c]
            .into_iter()
            .map(|p| Arc::new(Object::from(p)))
            .collect();
        // n2 has 2 pods, n1 one: b and c go first (uid tiebreak on equal times: b).
        let v = pods_to_delete(&objs, &objs, 1, NOW);
        assert_eq!(v[0].name().as_str(), "b");
        let v = pods_to_delete(&objs, &objs, 2, NOW);
        let names: Vec<&str> = v.iter().map(|o| o.name().as_str()).collect();
        assert_eq!(names, ["b", "c"]);
        // n == len: no sort, candidate order.
        assert_eq!(pods_to_delete(&objs, &objs, 3, NOW).len(), 3);
    }

    #[test]
    fn expectations_fulfil_and_expire() {
        let e = Expectations {
            add: 1,
            deletes: HashSet::new(),
            set_at: NOW,
        };
        assert!(!e.fulfilled());
        assert!(!e.expired(NOW.plus(EXPECTATIONS_TIMEOUT)));
        assert!(e.expired(NOW.plus(EXPECTATIONS_TIMEOUT + Duration::from_millis(1))));
        let c = ReplicaSetController::new();
        let key = ObjectKey::new(Kind::ReplicaSet, "default", "web");
        assert!(c.expectations_satisfied(&key, NOW));
        c.expectations.set(key.clone(), e);
        assert!(!c.expectations_satisfied(&key, NOW));
        c.expectations.creation_observed(&key, 1);
        assert!(c.expectations_satisfied(&key, NOW));
    }
}
