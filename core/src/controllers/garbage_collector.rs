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
//! `map_event`: an event of an object → its own key when it has ownerReferences or
//! is being deleted with a GC finalizer; on `Deleted`, or when the object is being
//! deleted, the keys of its dependents (`dependents_of(uid)`; a `Deleted` event
//! carries the last state, hence the uid); and the keys of its owners that exist with
//! the referenced uid and are being deleted (a foreground owner waits for this
//! dependent's deletion or its `blockOwnerDeletion` flip). No timers are needed:
//! every state change that can unblock a key is an event that maps to it.
//!
//! # [`PodGc`]
//!
//! Keys are Pods; it watches Pods and Nodes. A pod bound to a node (`spec.nodeName`
//! set) whose Node does not exist is force-deleted (grace 0, uid precondition;
//! upstream `gcOrphaned`). A Node's `Deleted` event enqueues its pods (field
//! selector `spec.nodeName`). When more than the threshold of terminated pods
//! (Succeeded or Failed) exist (upstream `--terminated-pod-gc-threshold`, default
//! [`TERMINATED_POD_GC_THRESHOLD`]), the oldest excess ones (by creationTimestamp,
//! then namespace and name) are deleted (`gcTerminated`); checked when a terminated
//! pod is reconciled, and only when the store holds more pods than the threshold.
//!
//! # Simplifications (stated)
//!
//! - No in-memory graph and no "virtual" owner nodes: owners are read from the store
//!   directly (the source of truth, like upstream's final live lookup).
//! - A foreground owner is re-checked when a dependent changes or goes. A dependent
//!   whose blocking reference is removed by someone else's update (not the GC's) is
//!   seen with its new state only, so the owner is not enqueued by that event; the
//!   owner is re-checked at its next event (upstream's graph sees the old state).
//! - Pod GC deletes a pod of a missing node at once; upstream waits 40 s
//!   (quarantine) and re-checks the node with a live lookup. Upstream's
//!   `gcUnscheduledTerminating` is unnecessary: the store removes unbound pods at
//!   once on delete. The node-lifecycle "out-of-service" taint GC is not modelled.

use std::sync::Arc;

use crate::model::{
    Kind, Object, ObjectKey, OwnerReference, PropagationPolicy, Uid, FINALIZER_FOREGROUND,
    FINALIZER_ORPHAN,
};
use crate::runtime::{
    route_key, route_object, Controller, Ctx, ReconcileError, Requeue, Routed, StoreView,
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

/// The garbage collector: background, foreground and orphan cascading deletion (see
/// the [module docs](self)).
#[derive(Debug, Default)]
pub struct GarbageCollector;

impl GarbageCollector {
    /// A garbage collector.
    pub fn new() -> Self {
        GarbageCollector
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
        if !GC_KINDS.contains(&obj.kind()) {
            return;
        }
        let m = obj.meta();
        let deleted = ev.type_ == WatchEventType::Deleted;
        let gc_finalizer =
            m.has_finalizer(FINALIZER_FOREGROUND) || m.has_finalizer(FINALIZER_ORPHAN);
        if !deleted && (!m.owner_references.is_empty() || (m.is_being_deleted() && gc_finalizer)) {
            out.push(route_object(store, obj));
        }
        if deleted || m.is_being_deleted() {
            for d in store.dependents_of(m.uid) {
                out.push(route_object(store, &d));
            }
        }
        for r in m.owner_references.iter() {
            let key = ObjectKey::of_owner(r, obj.namespace());
            if let Some(owner) = store.get_key(&key) {
                if owner.meta().uid == r.uid && owner.meta().is_being_deleted() {
                    out.push(route_key(store, key));
                }
            }
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
}

/// The pod garbage collector: force-deletes pods bound to nodes that no longer exist,
/// and the oldest terminated pods above a threshold (see the [module docs](self)).
#[derive(Debug)]
pub struct PodGc {
    terminated_threshold: usize,
}

impl Default for PodGc {
    fn default() -> Self {
        PodGc::new()
    }
}

impl PodGc {
    /// A pod GC with upstream's default threshold ([`TERMINATED_POD_GC_THRESHOLD`]).
    pub fn new() -> Self {
        PodGc {
            terminated_threshold: TERMINATED_POD_GC_THRESHOLD,
        }
    }

    /// A pod GC keeping at most `threshold` terminated pods (0 disables terminated-pod
    /// GC, as upstream's `<= 0`).
    pub fn with_terminated_threshold(threshold: usize) -> Self {
        PodGc {
            terminated_threshold: threshold,
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
                let bound = pod.node_name.as_ref().is_some_and(|n| !n.is_empty());
                if ev.type_ != WatchEventType::Deleted && (bound || pod.status.phase.is_terminal())
                {
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
}
