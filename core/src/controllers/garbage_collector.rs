//! The garbage collector (cascading deletion through ownerReferences) and the pod
//! garbage collector (upstream `pkg/controller/garbagecollector` and
//! `pkg/controller/podgc`).
//!
//! # [`GarbageCollector`]
//!
//! Keys are objects of **any** kind in [`GC_KINDS`]: every kind except `Event` (never
//! owned, and the most numerous) and `Namespace` (namespace deletion is not
//! ownership). The runtime's keys are [`ObjectKey`]s, which carry their kind, so one
//! controller handles them all; [`Controller::primary`] is `Pod` and
//! [`Controller::watches`] lists the rest.
//!
//! Upstream builds a graph of owners and dependents in memory and works two queues
//! (`attemptToDelete`, `attemptToOrphan`). Here the store's owner-uid index
//! ([`StoreView::dependents_of`]) is the graph's "dependents" edge, and one reconcile
//! of a key does what the two queues would do for it:
//!
//! - **An object being deleted with the `orphan` finalizer** (`attemptToOrphan`):
//!   every dependent gets an update removing its ownerReferences to this owner's uid;
//!   the reconcile then asks to run again at once, and when no dependent refers to the
//!   owner any more the finalizer is removed (the store removes the owner if no other
//!   finalizer holds it). The two steps are separate so that a failed dependent update
//!   (a conflict) never lets the owner go while a dependent still points at it —
//!   upstream also removes the finalizer only after every orphaning patch succeeded.
//! - **An object being deleted with the `foregroundDeletion` finalizer**
//!   (`processDeletingDependentsItem`): while a dependent with `blockOwnerDeletion:
//!   true` for this owner remains in the store (being deleted or not), nothing;
//!   otherwise the finalizer is removed. The dependents themselves are deleted by
//!   their own keys (below), which `map_event` enqueues when the owner turns to
//!   "deleting dependents".
//! - **Any other object being deleted**: nothing (upstream skips items being deleted
//!   that are not deleting dependents).
//! - **An object with ownerReferences** (`attemptToDeleteItem`): each reference is
//!   classified by looking the owner up by (kind, namespace, name) and comparing the
//!   uid — *dangling* (absent, or present with another uid: a re-created owner does
//!   not keep old dependents alive), *waiting* (owner being deleted with
//!   `foregroundDeletion`), or *solid* (any other owner, including one being deleted
//!   in background or with `orphan`).
//!   - some solid owner: dangling references are removed and waiting references get
//!     `blockOwnerDeletion: false` (one update; none when there are neither), as
//!     upstream's patch does — the object stays;
//!   - no solid owner, some waiting owner, and the object has dependents of its own:
//!     deleted with **Foreground** propagation (so a foreground deletion blocks
//!     through a chain, as upstream);
//!   - otherwise (all owners dangling or waiting): deleted with the propagation its
//!     own finalizers ask for (none → **Background**).
//!
//!   Deletes carry a uid precondition; updates a resourceVersion precondition.
//!
//! `map_event` keeps a small view of every object it has seen, keyed by uid (upstream:
//! the nodes of the collector's dependency graph): its ownerReferences, whether it is
//! being deleted, and its `foregroundDeletion`/`orphan` finalizers. A `Modified` event
//! that changes none of those maps to nothing — status updates, bindings and label
//! changes are most of the watch traffic and never change a collection decision.
//! Any other event maps to:
//!
//! - its own key when the object is being deleted with a GC finalizer, or is not being
//!   deleted and has an ownerReference that is not *solid* (classified as above, from
//!   the store at mapping time): an object whose owners all exist and are not waiting
//!   for it needs nothing (upstream likewise only queues a dependent whose owner is
//!   absent from its graph or being deleted). If an owner later goes or starts
//!   waiting, that owner's own event maps to its dependents (next point);
//! - on `Deleted`, or when the object is being deleted, the keys of its dependents
//!   (`dependents_of(uid)`; a `Deleted` event carries the last state, hence the uid);
//! - the keys of its owners — the current ones and, from the view, those whose
//!   reference it just dropped — that exist with the referenced uid and are being
//!   deleted (a foreground owner waits for this dependent's deletion or its
//!   `blockOwnerDeletion` flip).
//!
//! No timers are needed: every state change that can unblock a key is an event that
//! maps to it. A write of the collector that failed (a conflict: someone else wrote
//! the object first) is retried with backoff, and also at the object's next event,
//! which passes the filter once (`applied` remembers the object).
//!
//! **Concurrency:** the view is one `parking_lot::Mutex`ed map per kind. In real time
//! each kind's events come from one pump thread, so the locks are uncontended (and
//! `map_event` of one kind never runs concurrently with itself); in virtual time
//! every `map_event` runs on the driver thread. `reconcile` does not read the view:
//! it decides from the store alone.
//!
//! # [`PodGc`]
//!
//! Keys are Pods; it watches Pods and Nodes. A pod bound to a node (`spec.nodeName`
//! set) whose Node does not exist is force-deleted (grace 0, uid precondition;
//! upstream `gcOrphaned`). A Node's `Deleted` event enqueues its pods (field
//! selector `spec.nodeName`). A pod event maps to the pod's key when the pod is
//! bound to a node missing from the store, or is terminated; `map_event` keeps, by
//! uid, each pod's node, terminal phase and "being deleted" flag, and a `Modified`
//! event that changes none of them maps to nothing (same concurrency note as the
//! collector's view: one mutex, taken by the Pod pump only). When more than the threshold of terminated pods
//! (Succeeded or Failed) exist (upstream `--terminated-pod-gc-threshold`, default
//! [`TERMINATED_POD_GC_THRESHOLD`]), the oldest excess ones (by creationTimestamp,
//! then namespace and name) are deleted (`gcTerminated`); checked when a terminated
//! pod is reconciled, and only when the store holds more pods than the threshold.
//!
//! # Simplifications (stated)
//!
//! - The view holds each object's own fields only, not upstream's graph edges nor
//!   "virtual" owner nodes: owners and dependents are read from the store (the source
//!   of truth, like upstream's final live lookup).
//! - Pod GC deletes a pod of a missing node at once; upstream waits 40 s
//!   (quarantine) and re-checks the node with a live lookup. Upstream's
//!   `gcUnscheduledTerminating` is unnecessary: the store removes unbound pods at
//!   once on delete. The node-lifecycle "out-of-service" taint GC is not modelled.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use fnv::FnvBuildHasher;
use parking_lot::Mutex;

use crate::intern::{SharedList, Str};
use crate::model::{
    Kind, Object, ObjectKey, ObjectMeta, OwnerReference, Pod, PropagationPolicy, Uid,
    FINALIZER_FOREGROUND, FINALIZER_ORPHAN,
};
use crate::runtime::{
    route_key, route_object, Controller, Ctx, ReconcileError, Requeue, Routed, StoreView,
    WriteResult,
};
use crate::store::{DeleteOptions, Field, FieldSelector, Store, WatchEvent, WatchEventType};
use std::time::Duration;

/// The garbage collector's name (metrics, logs, Events).
pub const GC_CONTROLLER_NAME: &str = "garbage-collector-controller";
/// The pod GC's name.
pub const POD_GC_CONTROLLER_NAME: &str = "pod-garbage-collector";
/// Upstream's `--terminated-pod-gc-threshold` default.
pub const TERMINATED_POD_GC_THRESHOLD: usize = 12_500;

/// The kinds whose objects the garbage collector watches and collects: every kind
/// but `Namespace` and `Event`, in [`Kind::ALL`] order.
pub const GC_KINDS: [Kind; 16] = [
    Kind::Node,
    Kind::Pod,
    Kind::ReplicaSet,
    Kind::Deployment,
    Kind::DaemonSet,
    Kind::StatefulSet,
    Kind::Job,
    Kind::CronJob,
    Kind::Service,
    Kind::Endpoints,
    Kind::EndpointSlice,
    Kind::PersistentVolume,
    Kind::PersistentVolumeClaim,
    Kind::StorageClass,
    Kind::HorizontalPodAutoscaler,
    Kind::ConfigMap,
];

/// How an ownerReference's owner stands (upstream `classifyReferences`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerState {
    /// The owner is absent, or present with another uid.
    Dangling,
    /// The owner is being deleted with the `foregroundDeletion` finalizer.
    Waiting,
    /// Any other owner (alive, or being deleted without waiting for dependents).
    Solid,
}

/// Classifies the owner `r` of an object in `namespace`.
pub fn classify_owner(store: StoreView<'_>, namespace: &str, r: &OwnerReference) -> OwnerState {
    match store.get_key(&ObjectKey::of_owner(r, namespace)) {
        Some(owner) if owner.meta().uid == r.uid => {
            let m = owner.meta();
            if m.is_being_deleted() && m.has_finalizer(FINALIZER_FOREGROUND) {
                OwnerState::Waiting
            } else {
                OwnerState::Solid
            }
        }
        _ => OwnerState::Dangling,
    }
}

/// Whether `obj` has an ownerReference with `blockOwnerDeletion: true` to `owner`.
fn blocks(obj: &Object, owner: Uid) -> bool {
    obj.meta()
        .owner_references
        .iter()
        .any(|r| r.uid == owner && r.block_owner_deletion)
}

/// `obj` with its finalizer `f` removed.
fn without_finalizer(obj: &Object, f: &str) -> Object {
    let mut new = obj.clone();
    new.meta_mut()
        .finalizers
        .update(|v| v.retain(|x| x.as_str() != f));
    new
}

/// What the garbage collector last saw of one object: the fields its decisions read
/// (upstream: a node of the collector's dependency graph, with its owner references
/// and its "being deleted" / "deleting dependents" state). An object with none of
/// them is the default node and is not stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct GraphNode {
    owners: SharedList<OwnerReference>,
    deleting: bool,
    foreground: bool,
    orphan: bool,
}

impl GraphNode {
    fn of(m: &ObjectMeta) -> Self {
        GraphNode {
            owners: m.owner_references.clone(),
            deleting: m.is_being_deleted(),
            foreground: m.has_finalizer(FINALIZER_FOREGROUND),
            orphan: m.has_finalizer(FINALIZER_ORPHAN),
        }
    }

    fn is_empty(&self) -> bool {
        self.owners.is_empty() && !self.deleting && !self.foreground && !self.orphan
    }
}

/// Per kind (by [`Kind::index`]): uid → the last seen [`GraphNode`].
type Graph = Vec<Mutex<HashMap<Uid, GraphNode, FnvBuildHasher>>>;

/// The garbage collector: background, foreground and orphan cascading deletion (see
/// the [module docs](self)).
#[derive(Debug)]
pub struct GarbageCollector {
    /// The view `map_event` keeps; one lock per kind, as each kind's events come from
    /// one pump (see the module docs' concurrency note).
    graph: Graph,
    /// Objects a write of the collector failed on (a conflict): their next event
    /// passes the "nothing changed" filter, so the key is re-checked at once with the
    /// object's new state, as before the view existed, instead of only after backoff.
    retry: Mutex<HashSet<ObjectKey>>,
}

impl Default for GarbageCollector {
    fn default() -> Self {
        GarbageCollector::new()
    }
}

impl GarbageCollector {
    /// A garbage collector.
    pub fn new() -> Self {
        GarbageCollector {
            graph: Kind::ALL.iter().map(|_| Mutex::default()).collect(),
            retry: Mutex::default(),
        }
    }

    /// Whether a write of the collector failed on `obj` since its last event (and
    /// forgets it).
    fn take_retry(&self, obj: &Object) -> bool {
        let mut retry = self.retry.lock();
        !retry.is_empty() && retry.remove(&ObjectKey::of(obj))
    }
}

impl Controller for GarbageCollector {
    fn name(&self) -> &'static str {
        GC_CONTROLLER_NAME
    }

    fn primary(&self) -> Kind {
        Kind::Pod
    }

    fn watches(&self) -> &[Kind] {
        &GC_KINDS
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        let obj = &ev.object;
        let kind = obj.kind();
        if !GC_KINDS.contains(&kind) {
            return;
        }
        let m = obj.meta();
        let deleted = ev.type_ == WatchEventType::Deleted;
        let node = GraphNode::of(m);
        let old = {
            let mut graph = self.graph[kind.index()].lock();
            if deleted || node.is_empty() {
                graph.remove(&m.uid)
            } else {
                graph.insert(m.uid, node.clone())
            }
        }
        .unwrap_or_default();
        if ev.type_ == WatchEventType::Modified && old == node && !self.take_retry(obj) {
            // Nothing the collector reads changed (a status update, a label, …).
            return;
        }
        // The owners: classified as the reconcile would (a solid owner needs nothing
        // done to this object), and re-checked themselves when being deleted.
        let mut owners: Vec<ObjectKey> = Vec::new();
        let mut all_solid = true;
        for r in m.owner_references.iter() {
            let key = ObjectKey::of_owner(r, obj.namespace());
            let state = match store.get_key(&key) {
                Some(owner) if owner.meta().uid == r.uid => {
                    let om = owner.meta();
                    if om.is_being_deleted() {
                        owners.push(key);
                    }
                    if om.is_being_deleted() && om.has_finalizer(FINALIZER_FOREGROUND) {
                        OwnerState::Waiting
                    } else {
                        OwnerState::Solid
                    }
                }
                _ => OwnerState::Dangling,
            };
            all_solid &= state == OwnerState::Solid;
        }
        // Owners this object stopped referring to: a foreground owner may have been
        // waiting for it (upstream's graph sees the old references too).
        for r in old
            .owners
            .iter()
            .filter(|r| !m.owner_references.iter().any(|n| n.uid == r.uid))
        {
            let key = ObjectKey::of_owner(r, obj.namespace());
            if let Some(owner) = store.get_key(&key) {
                if owner.meta().uid == r.uid && owner.meta().is_being_deleted() {
                    owners.push(key);
                }
            }
        }
        let own = if node.deleting {
            node.foreground || node.orphan
        } else {
            !all_solid
        };
        if !deleted && own {
            out.push(route_object(store, obj));
        }
        if deleted || node.deleting {
            for d in store.dependents_of(m.uid) {
                out.push(route_object(store, &d));
            }
        }
        for key in owners {
            out.push(route_key(store, key));
        }
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        let store = ctx.store();
        let Some(obj) = store.get_key(key) else {
            return Ok(Requeue::Done);
        };
        let m = obj.meta();
        let uid = m.uid;
        if m.is_being_deleted() {
            if m.has_finalizer(FINALIZER_ORPHAN) {
                let dependents = store.dependents_of(uid);
                if dependents.is_empty() {
                    ctx.update(without_finalizer(&obj, FINALIZER_ORPHAN));
                    return Ok(Requeue::Done);
                }
                for d in dependents {
                    let mut new = (*d).clone();
                    new.meta_mut()
                        .owner_references
                        .update(|v| v.retain(|r| r.uid != uid));
                    ctx.update(new);
                }
                return Ok(Requeue::After(Duration::ZERO));
            }
            if m.has_finalizer(FINALIZER_FOREGROUND)
                && !store.dependents_of(uid).iter().any(|d| blocks(d, uid))
            {
                ctx.update(without_finalizer(&obj, FINALIZER_FOREGROUND));
            }
            return Ok(Requeue::Done);
        }
        if m.owner_references.is_empty() {
            return Ok(Requeue::Done);
        }
        let states: Vec<OwnerState> = m
            .owner_references
            .iter()
            .map(|r| classify_owner(store, obj.namespace(), r))
            .collect();
        if states.contains(&OwnerState::Solid) {
            if states.iter().all(|s| *s == OwnerState::Solid) {
                return Ok(Requeue::Done);
            }
            let refs: Vec<OwnerReference> = m
                .owner_references
                .iter()
                .zip(&states)
                .filter(|(_, s)| **s != OwnerState::Dangling)
                .map(|(r, s)| {
                    let mut r = r.clone();
                    if *s == OwnerState::Waiting {
                        r.block_owner_deletion = false;
                    }
                    r
                })
                .collect();
            if refs.as_slice() != m.owner_references.as_slice() {
                let mut new = (*obj).clone();
                new.meta_mut().owner_references = refs.into();
                ctx.update(new);
            }
            return Ok(Requeue::Done);
        }
        let waiting = states.contains(&OwnerState::Waiting);
        let propagation = if waiting && !store.dependents_of(uid).is_empty() {
            Some(PropagationPolicy::Foreground)
        } else {
            // The object's own finalizers decide (none: background).
            None
        };
        let options = DeleteOptions {
            propagation,
            grace_period_seconds: None,
            preconditions_uid: Some(uid),
        };
        ctx.delete_key(key.clone(), options);
        Ok(Requeue::Done)
    }

    fn applied(&self, _key: &ObjectKey, results: &[WriteResult]) {
        let mut failed = results.iter().filter(|r| r.is_failure()).peekable();
        if failed.peek().is_some() {
            let mut retry = self.retry.lock();
            retry.extend(failed.map(|r| r.key.clone()));
        }
    }
}

/// The pod garbage collector: force-deletes pods bound to nodes that no longer exist,
/// and the oldest terminated pods above a threshold (see the [module docs](self)).
#[derive(Debug)]
pub struct PodGc {
    terminated_threshold: usize,
    /// uid → what `map_event` last saw of a pod (absent: the default, unbound and
    /// not terminated nor being deleted).
    seen: Mutex<HashMap<Uid, PodNode, FnvBuildHasher>>,
}

/// The fields of a pod the pod GC decides on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct PodNode {
    node: Option<Str>,
    terminal: bool,
    deleting: bool,
}

impl PodNode {
    fn of(pod: &Pod) -> Self {
        PodNode {
            node: pod.node_name.clone().filter(|n| !n.is_empty()),
            terminal: pod.status.phase.is_terminal(),
            deleting: pod.meta.is_being_deleted(),
        }
    }
}

impl Default for PodGc {
    fn default() -> Self {
        PodGc::new()
    }
}

impl PodGc {
    /// A pod GC with upstream's default threshold ([`TERMINATED_POD_GC_THRESHOLD`]).
    pub fn new() -> Self {
        PodGc::with_terminated_threshold(TERMINATED_POD_GC_THRESHOLD)
    }

    /// A pod GC keeping at most `threshold` terminated pods (0 disables terminated-pod
    /// GC, as upstream's `<= 0`).
    pub fn with_terminated_threshold(threshold: usize) -> Self {
        PodGc {
            terminated_threshold: threshold,
            seen: Mutex::default(),
        }
    }

    /// The terminated-pod threshold.
    pub fn terminated_threshold(&self) -> usize {
        self.terminated_threshold
    }

    /// The terminated pods to delete: the oldest beyond the threshold (creation time,
    /// then namespace and name).
    fn excess_terminated(&self, store: StoreView<'_>) -> Vec<Arc<Object>> {
        let threshold = self.terminated_threshold;
        if threshold == 0 || store.count(Kind::Pod) <= threshold {
            return Vec::new();
        }
        let mut terminated: Vec<Arc<Object>> = Vec::new();
        for phase in ["Succeeded", "Failed"] {
            let sel = FieldSelector::eq(Field::Phase, phase);
            if let Ok(pods) = store.list(Kind::Pod, None, None, Some(&sel)) {
                terminated.extend(pods.into_iter().filter(|p| !p.meta().is_being_deleted()));
            }
        }
        if terminated.len() <= threshold {
            return Vec::new();
        }
        terminated.sort_by(|a, b| {
            a.meta()
                .creation_timestamp
                .cmp(&b.meta().creation_timestamp)
                .then_with(|| a.namespace().as_str().cmp(b.namespace().as_str()))
                .then_with(|| a.name().as_str().cmp(b.name().as_str()))
        });
        let excess = terminated.len() - threshold;
        terminated.truncate(excess);
        terminated
    }
}

impl Controller for PodGc {
    fn name(&self) -> &'static str {
        POD_GC_CONTROLLER_NAME
    }

    fn primary(&self) -> Kind {
        Kind::Pod
    }

    fn watches(&self) -> &[Kind] {
        &[Kind::Node]
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        match ev.object.as_ref() {
            Object::Pod(pod) => {
                let deleted = ev.type_ == WatchEventType::Deleted;
                let node = PodNode::of(pod);
                let old = {
                    let mut seen = self.seen.lock();
                    if deleted || node == PodNode::default() {
                        seen.remove(&pod.meta.uid)
                    } else {
                        seen.insert(pod.meta.uid, node.clone())
                    }
                }
                .unwrap_or_default();
                if deleted || (ev.type_ == WatchEventType::Modified && old == node) {
                    return;
                }
                let orphaned = node
                    .node
                    .as_ref()
                    .is_some_and(|n| store.try_get(Kind::Node, "", n).is_none());
                if orphaned || node.terminal {
                    out.push(route_object(store, &ev.object));
                }
            }
            Object::Node(node) if ev.type_ == WatchEventType::Deleted => {
                let sel = FieldSelector::eq(Field::NodeName, node.meta.name.as_str());
                if let Ok(pods) = store.list(Kind::Pod, None, None, Some(&sel)) {
                    for p in pods {
                        out.push(route_object(store, &p));
                    }
                }
            }
            _ => {}
        }
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        let store = ctx.store();
        let Some(obj) = store.get_key(key) else {
            return Ok(Requeue::Done);
        };
        let Some(pod) = obj.as_pod() else {
            return Ok(Requeue::Done);
        };
        let force = |uid: Uid| DeleteOptions {
            propagation: None,
            grace_period_seconds: Some(0),
            preconditions_uid: Some(uid),
        };
        if let Some(node) = pod.node_name.as_ref().filter(|n| !n.is_empty()) {
            if store.try_get(Kind::Node, "", node).is_none() {
                ctx.delete_key(key.clone(), force(pod.meta.uid));
                return Ok(Requeue::Done);
            }
        }
        if pod.status.phase.is_terminal() {
            for victim in self.excess_terminated(store) {
                ctx.delete_key(ObjectKey::of(&victim), force(victim.meta().uid));
            }
        }
        Ok(Requeue::Done)
    }
}

/// Objects of the [`GC_KINDS`] in the store, in kind order.
fn all_objects(store: &Store) -> Vec<Arc<Object>> {
    let mut out = Vec::new();
    for kind in GC_KINDS {
        if let Ok(objs) = store.list(kind, None, None, None) {
            out.extend(objs);
        }
    }
    out
}

/// The garbage collector's settled-state invariants; one message per violation
/// (empty: all hold). To be called when the GC is idle (e.g. after
/// `Simulation::run_until_idle`):
///
/// - no object that is not being deleted has ownerReferences that all dangle (owner
///   absent, or re-created with another uid) — background collection is complete;
/// - no object that is not being deleted keeps a dangling reference beside a live one;
/// - no owner being deleted with `foregroundDeletion` remains once no dependent with
///   `blockOwnerDeletion` for it remains, and no owner being deleted with `orphan`
///   remains (its dependents are released, then it goes).
///
/// The ordering half ("no foreground owner went before its blocking dependents") needs
/// the history: see [`check_foreground_order`].
pub fn check_gc_invariants(store: &Store) -> Vec<String> {
    let view = StoreView::new(store);
    let mut out = Vec::new();
    for obj in all_objects(store) {
        let m = obj.meta();
        let key = ObjectKey::of(&obj);
        if m.is_being_deleted() {
            if m.has_finalizer(FINALIZER_ORPHAN) {
                out.push(format!("{key}: orphan owner still present"));
            }
            if m.has_finalizer(FINALIZER_FOREGROUND)
                && !view.dependents_of(m.uid).iter().any(|d| blocks(d, m.uid))
            {
                out.push(format!(
                    "{key}: foreground owner still present with no blocking dependent"
                ));
            }
            continue;
        }
        if m.owner_references.is_empty() {
            continue;
        }
        let states: Vec<OwnerState> = m
            .owner_references
            .iter()
            .map(|r| classify_owner(view, obj.namespace(), r))
            .collect();
        if states.iter().all(|s| *s == OwnerState::Dangling) {
            out.push(format!("{key}: every owner is gone but the object remains"));
        } else if states.contains(&OwnerState::Dangling) {
            out.push(format!("{key}: keeps a dangling ownerReference"));
        }
    }
    out
}

/// Checks, over a history of watch events of every kind (any order; they are sorted
/// by resourceVersion here), that no owner deleted in foreground went before its
/// blocking dependents: when an object that was seen being deleted with the
/// `foregroundDeletion` finalizer is removed (its `Deleted` event), no object still
/// present refers to it with `blockOwnerDeletion: true`. Returns one message per
/// violation.
pub fn check_foreground_order(mut events: Vec<WatchEvent>) -> Vec<String> {
    use std::collections::{BTreeMap, BTreeSet};
    events.sort_by_key(|e| e.resource_version);
    let mut live: BTreeMap<Uid, Arc<Object>> = BTreeMap::new();
    let mut foreground: BTreeSet<Uid> = BTreeSet::new();
    let mut out = Vec::new();
    for ev in events {
        let m = ev.object.meta();
        let uid = m.uid;
        match ev.type_ {
            WatchEventType::Deleted => {
                live.remove(&uid);
                if foreground.remove(&uid) {
                    for d in live.values().filter(|d| blocks(d, uid)) {
                        out.push(format!(
                            "{} went before its blocking dependent {}",
                            ObjectKey::of(&ev.object),
                            ObjectKey::of(d)
                        ));
                    }
                }
            }
            _ => {
                if m.is_being_deleted() && m.has_finalizer(FINALIZER_FOREGROUND) {
                    foreground.insert(uid);
                }
                live.insert(uid, Arc::clone(&ev.object));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn gc_kinds_are_every_kind_but_namespace_and_event() {
        let expected: Vec<Kind> = Kind::ALL
            .into_iter()
            .filter(|k| !matches!(k, Kind::Namespace | Kind::Event))
            .collect();
        assert_eq!(GC_KINDS.to_vec(), expected);
    }
    use super::*;
    use crate::model::{ConfigMap, ObjectMeta};

    fn cm(name: &str, owners: Vec<OwnerReference>) -> Object {
        let mut meta = ObjectMeta::named("default", name);
        meta.owner_references = owners.into();
        Object::from(ConfigMap { meta, data: vec![] })
    }

    fn owner_ref(o: &Object, block: bool) -> OwnerReference {
        OwnerReference {
            kind: o.kind(),
            name: o.name().clone(),
            uid: o.meta().uid,
            controller: false,
            block_owner_deletion: block,
        }
    }

    #[test]
    fn classify_by_uid() {
        let store = Store::new();
        let a = store.create(cm("a", vec![])).unwrap();
        let view = StoreView::new(&store);
        let r = owner_ref(&a, false);
        assert_eq!(classify_owner(view, "default", &r), OwnerState::Solid);
        let mut other = r.clone();
        other.uid = Uid(a.meta().uid.0 + 1000);
        assert_eq!(
            classify_owner(view, "default", &other),
            OwnerState::Dangling
        );
        let mut missing = r.clone();
        missing.name = "zz".into();
        assert_eq!(
            classify_owner(view, "default", &missing),
            OwnerState::Dangling
        );
        store
            .delete(
                Kind::ConfigMap,
                "default",
                "a",
                &DeleteOptions::propagation(PropagationPolicy::Foreground),
            )
            .unwrap();
        assert_eq!(classify_owner(view, "default", &r), OwnerState::Waiting);
    }

    #[test]
    fn invariants_flag_orphaned_dependent() {
        let store = Store::new();
        let a = store.create(cm("a", vec![])).unwrap();
        store.create(cm("b", vec![owner_ref(&a, true)])).unwrap();
        assert!(check_gc_invariants(&store).is_empty());
        store
            .delete(Kind::ConfigMap, "default", "a", &DeleteOptions::default())
            .unwrap();
        let v = check_gc_invariants(&store);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("every owner is gone"));
    }

    #[test]
    fn foreground_order_flags_early_owner() {
        let store = Store::new();
        let mut w = store.watch(Kind::ConfigMap, 0).unwrap();
        let a = store.create(cm("a", vec![])).unwrap();
        store.create(cm("b", vec![owner_ref(&a, true)])).unwrap();
        let fg = DeleteOptions::propagation(PropagationPolicy::Foreground);
        let pending = store.delete(Kind::ConfigMap, "default", "a", &fg).unwrap();
        // Removing the finalizer while `b` still blocks: a violation.
        let obj = without_finalizer(pending.object(), FINALIZER_FOREGROUND);
        store.update(obj).unwrap();
        let events = w.poll(100).unwrap();
        let v = check_foreground_order(events);
        assert_eq!(v.len(), 1, "{v:?}");
    }

    /// The keys `c` maps `obj`'s event of type `t` to, as "Kind/ns/name" strings.
    fn mapped(
        c: &dyn Controller,
        store: &Store,
        t: WatchEventType,
        obj: &Arc<Object>,
    ) -> Vec<String> {
        let ev = WatchEvent {
            type_: t,
            object: Arc::clone(obj),
            resource_version: obj.meta().resource_version,
        };
        let mut out = Vec::new();
        c.map_event(&ev, StoreView::new(store), &mut out);
        out.iter().map(|r| r.key.to_string()).collect()
    }

    fn relabel(store: &Store, name: &str) -> Arc<Object> {
        let mut o = (*store.get(Kind::ConfigMap, "default", name).unwrap()).clone();
        o.meta_mut().labels = o.labels().with("touched", "yes");
        store.update(o).unwrap()
    }

    #[test]
    fn gc_maps_only_what_changes_a_decision() {
        let store = Store::new();
        let gc = GarbageCollector::new();
        let owner = store.create(cm("owner", vec![])).unwrap();
        let dep = store
            .create(cm("dep", vec![owner_ref(&owner, true)]))
            .unwrap();
        let own_key = ObjectKey::of(&dep).to_string();
        // Every owner is solid: nothing to do for the dependent.
        assert!(mapped(&gc, &store, WatchEventType::Added, &dep).is_empty());
        // A dangling reference: the dependent's key.
        let ghost = cm("ghost", vec![]);
        let mut r = owner_ref(&ghost, false);
        r.uid = Uid(owner.meta().uid.0 + 1000);
        let dangling = store.create(cm("dangling", vec![r])).unwrap();
        assert_eq!(
            mapped(&gc, &store, WatchEventType::Added, &dangling),
            vec![ObjectKey::of(&dangling).to_string()]
        );
        // Its label change alters nothing the collector reads: no key, though the
        // reference still dangles (the first event's reconcile deals with it).
        let relabelled = relabel(&store, "dangling");
        assert!(mapped(&gc, &store, WatchEventType::Modified, &relabelled).is_empty());
        // An ownerReferences change is seen again.
        let mut o = (*relabelled).clone();
        o.meta_mut().owner_references = vec![owner_ref(&owner, false)].into();
        let fixed = store.update(o).unwrap();
        assert!(mapped(&gc, &store, WatchEventType::Modified, &fixed).is_empty());
        let mut o = (*fixed).clone();
        o.meta_mut()
            .owner_references
            .update(|v| v.push(r_of_missing()));
        let broken = store.update(o).unwrap();
        assert_eq!(
            mapped(&gc, &store, WatchEventType::Modified, &broken),
            vec![ObjectKey::of(&broken).to_string()]
        );
        // The owner deleted in foreground: its own key and its dependents'.
        assert!(mapped(&gc, &store, WatchEventType::Added, &owner).is_empty());
        let fg = DeleteOptions::propagation(PropagationPolicy::Foreground);
        let pending = store
            .delete(Kind::ConfigMap, "default", "owner", &fg)
            .unwrap();
        let keys = mapped(&gc, &store, WatchEventType::Modified, pending.object());
        assert!(
            keys.contains(&ObjectKey::of(&owner).to_string()),
            "{keys:?}"
        );
        assert!(keys.contains(&own_key), "{keys:?}");
        // The dependent drops its reference: the waiting owner is re-checked (from
        // the old references the view kept).
        let mut o = (*store.get(Kind::ConfigMap, "default", "dep").unwrap()).clone();
        o.meta_mut().owner_references = SharedList::new();
        let released = store.update(o).unwrap();
        assert_eq!(
            mapped(&gc, &store, WatchEventType::Modified, &released),
            vec![ObjectKey::of(&owner).to_string()]
        );
    }

    fn r_of_missing() -> OwnerReference {
        OwnerReference {
            kind: Kind::ConfigMap,
            name: "missing".into(),
            uid: Uid(987_654_321),
            controller: false,
            block_owner_deletion: false,
        }
    }

    #[test]
    fn gc_failed_write_lets_the_next_event_through() {
        let store = Store::new();
        let gc = GarbageCollector::new();
        let owner = store.create(cm("owner", vec![])).unwrap();
        let orphan = DeleteOptions::propagation(PropagationPolicy::Orphan);
        let pending = store
            .delete(Kind::ConfigMap, "default", "owner", &orphan)
            .unwrap();
        let key = ObjectKey::of(&owner);
        assert_eq!(
            mapped(&gc, &store, WatchEventType::Modified, pending.object()),
            vec![key.to_string()]
        );
        let relabelled = relabel(&store, "owner");
        assert!(mapped(&gc, &store, WatchEventType::Modified, &relabelled).is_empty());
        gc.applied(
            &key,
            &[WriteResult {
                verb: crate::runtime::Verb::Update,
                key: key.clone(),
                outcome: crate::runtime::WriteOutcome::Failed(crate::store::Error::Conflict {
                    kind: Kind::ConfigMap,
                    namespace: "default".into(),
                    name: "owner".into(),
                    expected: 1,
                    actual: 2,
                }),
            }],
        );
        let again = relabel(&store, "owner");
        assert_eq!(
            mapped(&gc, &store, WatchEventType::Modified, &again),
            vec![key.to_string()]
        );
        // Once only.
        let third = relabel(&store, "owner");
        assert!(mapped(&gc, &store, WatchEventType::Modified, &third).is_empty());
    }

    fn pod(name: &str, node: Option<&str>) -> Object {
        Object::from(Pod {
            meta: ObjectMeta::named("default", name),
            spec: Default::default(),
            node_name: node.map(Into::into),
            status: Default::default(),
        })
    }

    #[test]
    fn pod_gc_maps_node_and_phase_changes_only() {
        use crate::model::{Node, PodPhase};
        let store = Store::new();
        let gc = PodGc::new();
        store
            .create(Object::from(Node {
                meta: ObjectMeta::named("", "n1"),
                spec: Default::default(),
                status: Default::default(),
            }))
            .unwrap();
        let p = store.create(pod("p", None)).unwrap();
        assert!(mapped(&gc, &store, WatchEventType::Added, &p).is_empty());
        // Bound to an existing node: nothing; to a missing one: the pod's key.
        let mut o = (*p).clone();
        o.as_pod_mut().unwrap().node_name = Some("n1".into());
        let bound = store.update(o).unwrap();
        assert!(mapped(&gc, &store, WatchEventType::Modified, &bound).is_empty());
        let lost = store.create(pod("lost", Some("gone"))).unwrap();
        let key = ObjectKey::of(&lost).to_string();
        assert_eq!(
            mapped(&gc, &store, WatchEventType::Added, &lost),
            vec![key.clone()]
        );
        // A status change that keeps the phase non-terminal: nothing, even for the
        // pod of the missing node (its first event was mapped).
        let mut o = (*lost).clone();
        o.as_pod_mut().unwrap().status.phase = PodPhase::Running;
        let running = store.update_status(o).unwrap();
        assert!(mapped(&gc, &store, WatchEventType::Modified, &running).is_empty());
        // Terminated: mapped.
        let mut o = (*running).clone();
        o.as_pod_mut().unwrap().status.phase = PodPhase::Succeeded;
        let done = store.update_status(o).unwrap();
        assert_eq!(
            mapped(&gc, &store, WatchEventType::Modified, &done),
            vec![key]
        );
    }
}
