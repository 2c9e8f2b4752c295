//! The invariant checker: safety properties of the simulated control plane, checked
//! after every step of a virtual-time run.
//!
//! [`InvariantChecker`] is stateful across steps. It is created on a store
//! ([`InvariantChecker::new`], which opens one watch per kind in [`GC_KINDS`]) and then
//! called between steps — after `Cluster::apply`, `advance`, a node operation, or a
//! `Simulation` step — with [`InvariantChecker::check`] (the rules that hold at every
//! instant) or [`InvariantChecker::check_settled`] (those plus the rules that hold
//! only once the control plane is idle). Each call drains the watch events written
//! since the previous call (the *step*) and returns every [`Violation`] with the
//! objects involved. [`crate::cluster::Cluster::check_invariants`] wires it to a
//! cluster (it passes the stopped kubelets as unreachable nodes).
//!
//! Call it with no write in flight (between steps), always on the store it was
//! created on.
//!
//! ```
//! use std::time::Duration;
//! use kubesim_core::cluster::{Cluster, ClusterConfig};
//! use kubesim_core::invariants::format_violations;
//! use kubesim_core::manifest;
//!
//! let mut cluster = Cluster::new(ClusterConfig::default()).unwrap();
//! let mut checker = cluster.invariant_checker();
//! let yaml = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web}\n\
//!             spec: {replicas: 2, selector: {matchLabels: {app: web}}, template: \
//!             {metadata: {labels: {app: web}}, spec: {containers: [{name: w, image: nginx}]}}}\n";
//! cluster.apply(manifest::load_str(yaml, "web.yaml").unwrap()).unwrap();
//! for _ in 0..10 {
//!     cluster.advance(Duration::from_secs(1));
//!     // `advance` ends idle, so the settled rules apply too.
//!     let violations = cluster.check_invariants_settled(&mut checker);
//!     assert!(violations.is_empty(), "{}", format_violations(&violations));
//! }
//! ```
//!
//! # Rules
//!
//! Rules checked by both `check` and `check_settled` ([`Rule::settled_only`] false):
//!
//! - [`Rule::DeploymentSurge`] and [`Rule::DeploymentAvailability`] — the Deployment
//!   controller's *decisions*, not pod counts (see below).
//! - [`Rule::DeploymentRecreateOverlap`] — a `Recreate` Deployment never has a pod
//!   of its new ReplicaSet (not being deleted) while a pod of an old ReplicaSet that
//!   existed before it is not terminal (terminating pods count: upstream's
//!   `oldPodsRunning` waits for them). Except after a sync that does not wait:
//!   upstream syncs a paused Deployment, and one whose `replicas` changed, with
//!   `sync`/`scale`, which scales the only active — or, with none active, the newest
//!   — ReplicaSet to `replicas` (`FindActiveOrLatest`) whatever the old pods are
//!   doing; so a Deployment paused or scaled while its Recreate rollout waits for old
//!   pods to terminate starts the new ones at once. A new ReplicaSet scaled up in a
//!   step that fails the guard below (or while the Deployment is paused), by a
//!   Deployment known at the previous check, is excused until its overlap ends.
//! - [`Rule::StatefulSetIdentity`] — never two live pods with one StatefulSet
//!   identity. A pod is unique by name in the store, so the failure is a *ghost*: a
//!   StatefulSet pod that left the store (a `Deleted` event) while not terminal and
//!   bound to a node that exists and is unreachable (named by
//!   [`InvariantChecker::set_unreachable_nodes`] when a caller that knows every
//!   kubelet's state, as `Cluster::check_invariants` does, has called it; otherwise its
//!   `Ready` condition is not `True`) — its
//!   containers may still run there, nobody confirmed they stopped. While the ghost's
//!   node stays unreachable and exists, a non-terminal pod with the same namespace and
//!   name (the same owner StatefulSet and ordinal) and another uid is a violation. The
//!   ghost ends when its node is reachable again (the kubelet kills what the API no
//!   longer has) or the Node object is deleted (the administrator's confirmation that
//!   the machine is gone, as upstream). A faithful control plane never produces a
//!   ghost (graceful deletes on an unreachable node stay `Terminating`); a force
//!   delete does. K8S-SEMANTICS lets a *user* force-delete such a pod (and the
//!   StatefulSet controller then replaces it): a caller that performs one declares it
//!   with [`InvariantChecker::acknowledge_deletion`]; any other is flagged.
//! - [`Rule::StatefulSetPvcRetained`] — a PersistentVolumeClaim named
//!   `<template>-<sts>-<ordinal>` (a `volumeClaimTemplates` entry of a StatefulSet in
//!   the same namespace) left the store while that StatefulSet exists, is not being
//!   deleted, its namespace is not being deleted, its
//!   `persistentVolumeClaimRetentionPolicy.whenScaled` is `Retain`, and the claim had no
//!   ownerReference but to that StatefulSet (a claim owned by a pod or by an earlier
//!   StatefulSet of that name is the garbage collector's to delete), unless a caller
//!   declared the deletion its own ([`InvariantChecker::acknowledge_deletion`]).
//! - [`Rule::SingleController`] — no object has two ownerReferences with
//!   `controller: true` (objects written in the step).
//! - [`Rule::NodeOverAllocatable`] — on a node that received a pod in the step, the
//!   bound non-terminal pods (terminating ones included, as the scheduler counts them)
//!   are at most `allocatable.pods`, and their cpu and memory requests sum to at most
//!   the node's allocatable. (A node whose allocatable an update shrank below its pods
//!   is flagged too: it is over allocatable.)
//! - [`Rule::GcForegroundOrder`] — no owner deleted in foreground left the store while
//!   an object still referred to it with `blockOwnerDeletion: true`: the history check
//!   [`check_foreground_order`] run over the step's events, preceded by the state at
//!   the start of the step of the owners concerned and their blocking dependents (the
//!   checker mirrors objects with a blocking reference or a `foregroundDeletion`
//!   finalizer across steps). A user who deletes such an owner again with another
//!   propagation policy removes the finalizer through the API (as upstream); a caller
//!   that does so declares it with [`InvariantChecker::acknowledge_deletion`].
//!
//! Rules checked only by `check_settled` (they are about convergence: between two
//! reconciles they can legitimately be false):
//!
//! - [`Rule::GcSettled`] — [`check_gc_invariants`]: no object whose owners are all
//!   gone (background collection done), no dangling reference beside a live one, no
//!   orphan or foreground owner left with nothing to wait for.
//! - [`Rule::PodOnMissingNode`] — no `Running` pod (not being deleted) bound to a Node
//!   that does not exist (pod GC removes them).
//! - [`Rule::EndpointsNotReady`] — no ready address in an Endpoints object (or
//!   `ready: true` endpoint in an EndpointSlice) whose target pod is gone, terminal,
//!   not Ready or terminating, unless the Service publishes not-ready addresses.
//! - [`Rule::ReplicaSetOverReplicas`] — no ReplicaSet controls more active pods than
//!   `spec.replicas`.
//!
//! # The Deployment rules, exactly
//!
//! Pod counts are the wrong thing to assert: upstream (without the alpha
//! `podReplacementPolicy`) does not count terminating pods, the ReplicaSet controller
//! acts after the Deployment controller, and availability drops for reasons no
//! controller causes (a node failure, a crash, a user deleting pods). So the checker
//! asserts what the Deployment controller decides — the `spec.replicas` of its
//! ReplicaSets — as transitions across a step.
//!
//! For a Deployment `D` (its ReplicaSets: those whose controller reference has `D`'s
//! uid; the *new* one: the oldest whose template equals `D`'s ignoring the
//! `pod-template-hash` label; the others are *old*), with `before(rs)` the
//! ReplicaSet's `spec.replicas` at the previous check (0 if it did not exist),
//! `after(rs)` its value now, and `lo(rs)`..`hi(rs)` the range of the
//! `status.availableReplicas` it had at the previous check, in any event of the
//! step, and now (whatever the controller read during the step lies in it);
//! `surge`, `unavailable` from `resolve_fenceposts` (upstream `ResolveFenceposts`) on
//! `D.spec.replicas`, `minAvailable = replicas − unavailable`:
//!
//! - **Guard**: checked only when `D`'s `status.observedGeneration` at the previous
//!   check already equalled its current `metadata.generation` (and so does the current
//!   one): the controller had seen this spec before the step began, so nothing in the
//!   step is a reaction to a spec change (proportional scaling on a `replicas` change,
//!   a new template, a lowered `maxSurge`: upstream may legitimately leave the sums
//!   outside the new bounds for a while after those).
//! - [`Rule::DeploymentSurge`]: if some ReplicaSet's `spec.replicas` grew in the step,
//!   then `Σ after ≤ replicas + surge` (`Recreate`: `≤ replicas`). Upstream scales a
//!   ReplicaSet up only in `NewRSNewReplicas` (`min(maxTotal − Σ spec, replicas −
//!   new.spec)`, nothing when `Σ spec ≥ maxTotal`) or in proportional scaling (excluded
//!   by the guard), so every increase leaves `Σ spec ≤ replicas + surge`; a later
//!   decrease only lowers the sum.
//! - [`Rule::DeploymentAvailability`] (`RollingUpdate`): if `Σ_old after < Σ_old
//!   before` (the old ReplicaSets were scaled down), then
//!   1. `Σ after ≥ minAvailable + max(0, after(new) − hi(new))` — upstream's
//!      `maxScaledDown = Σ spec − minAvailable − newRSUnavailable` bounds both the
//!      unhealthy clean-up and the rolling scale-down; a later scale-up of the new
//!      ReplicaSet in the same step adds the same amount to both sides, and
//!      `hi(new)` is the most favourable value the controller can have read; and
//!   2. `Σ min(after, a) ≥ min(minAvailable, Σ min(before, a))` for at least one of
//!      three readings `a` of every ReplicaSet's availability — all `lo`, all `hi`,
//!      or `lo` for the old ones and `hi` for the new one (a controller that read a
//!      stale, lower availability and "cleaned up" replicas that had just become
//!      available is not blamed) — the pods
//!      that stay available once the ReplicaSet controllers have acted (they delete
//!      unavailable pods first) never fall below `minAvailable` because of a
//!      scale-down, and never fall at all when they already were below: the clean-up
//!      only removes unavailable replicas, the rolling scale-down at most `Σ avail −
//!      minAvailable`.
//!
//!   Not checked in a step where the new ReplicaSet reported more available pods
//!   than it wants (`hi(new) > min(before(new), after(new))`: its status has not
//!   caught up with a scale-down — the trail of a `replicas` change, e.g. an HPA's,
//!   that the guard excused in an earlier step). Upstream's `newRSUnavailablePodCount`
//!   (`spec − available`) is then negative and raises `maxScaledDown`, and
//!   `availablePodCount` counts the surplus pods the ReplicaSet controller is about to
//!   delete, so upstream itself scales the old ReplicaSets down past the bound then.
//!
//!   External disruptions cannot trip either: they lower `status.availableReplicas`,
//!   never raise `spec.replicas`, and `hi` keeps the highest value seen.
//!
//! # Cost
//!
//! A `check` costs O(events of the step) plus, per Deployment touched in the step
//! (its own events, its ReplicaSets' and their pods'), one owner-index lookup per
//! ReplicaSet; per node that received a pod, one `spec.nodeName` index list; per
//! ghost, one `get`. The first call (and the call after a watch expired) treats every
//! object as written in the step. `check_settled` adds full scans (GC objects, pods,
//! Endpoints, EndpointSlices, ReplicaSets).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use crate::controllers::deployment::resolve_fenceposts;
use crate::controllers::garbage_collector::{
    check_foreground_order, check_gc_invariants, GC_KINDS,
};
use crate::intern::Str;
use crate::model::{
    find_condition, ConditionStatus, DeploymentStrategy, Kind, Object, ObjectKey, PodPhase,
    PodTemplateSpec, PvcRetention, Uid, FINALIZER_FOREGROUND,
};
use crate::store::{Field, FieldSelector, Store, WatchEvent, WatchEventType, Watcher};

/// The label the Deployment controller adds to its ReplicaSets' templates.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The label naming an EndpointSlice's Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// One invariant (see the [module docs](self) for the exact statements).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// A Deployment's ReplicaSets were scaled up beyond `replicas + maxSurge`.
    DeploymentSurge,
    /// A Deployment's old ReplicaSets were scaled down below what keeps
    /// `replicas − maxUnavailable` available.
    DeploymentAvailability,
    /// A `Recreate` Deployment ran new pods while old ones were not gone.
    DeploymentRecreateOverlap,
    /// Two live pods with one StatefulSet identity.
    StatefulSetIdentity,
    /// A StatefulSet claim with `whenScaled: Retain` was deleted.
    StatefulSetPvcRetained,
    /// An object with two controller ownerReferences.
    SingleController,
    /// A node's bound pods exceed its allocatable.
    NodeOverAllocatable,
    /// A foreground owner left before a blocking dependent.
    GcForegroundOrder,
    /// The garbage collector's settled state ([`check_gc_invariants`]).
    GcSettled,
    /// A Running pod bound to a Node that does not exist.
    PodOnMissingNode,
    /// A not-ready or gone pod published as a ready endpoint.
    EndpointsNotReady,
    /// A ReplicaSet with more active pods than `spec.replicas`.
    ReplicaSetOverReplicas,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 12] = [
        Rule::DeploymentSurge,
        Rule::DeploymentAvailability,
        Rule::DeploymentRecreateOverlap,
        Rule::StatefulSetIdentity,
        Rule::StatefulSetPvcRetained,
        Rule::SingleController,
        Rule::NodeOverAllocatable,
        Rule::GcForegroundOrder,
        Rule::GcSettled,
        Rule::PodOnMissingNode,
        Rule::EndpointsNotReady,
        Rule::ReplicaSetOverReplicas,
    ];

    /// A short kebab-case name (`"deployment-surge"`).
    pub fn name(self) -> &'static str {
        match self {
            Rule::DeploymentSurge => "deployment-surge",
            Rule::DeploymentAvailability => "deployment-availability",
            Rule::DeploymentRecreateOverlap => "deployment-recreate-overlap",
            Rule::StatefulSetIdentity => "statefulset-identity",
            Rule::StatefulSetPvcRetained => "statefulset-pvc-retained",
            Rule::SingleController => "single-controller",
            Rule::NodeOverAllocatable => "node-over-allocatable",
            Rule::GcForegroundOrder => "gc-foreground-order",
            Rule::GcSettled => "gc-settled",
            Rule::PodOnMissingNode => "pod-on-missing-node",
            Rule::EndpointsNotReady => "endpoints-not-ready",
            Rule::ReplicaSetOverReplicas => "replicaset-over-replicas",
        }
    }

    /// Whether the rule holds only once the control plane is idle (checked by
    /// [`InvariantChecker::check_settled`] only).
    pub fn settled_only(self) -> bool {
        matches!(
            self,
            Rule::GcSettled
                | Rule::PodOnMissingNode
                | Rule::EndpointsNotReady
                | Rule::ReplicaSetOverReplicas
        )
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One violated invariant: the rule, a message with the relevant fields, and the
/// objects involved. Displays as `[rule] message (objects: Kind/ns/name, …)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// What was seen (field values included).
    pub message: String,
    /// The objects involved, most relevant first.
    pub objects: Vec<ObjectKey>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.rule, self.message)?;
        if !self.objects.is_empty() {
            f.write_str(" (objects: ")?;
            for (i, k) in self.objects.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Every violation, one per line (for assertion messages).
pub fn format_violations(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A ReplicaSet's counts at the end of a check.
#[derive(Clone, Copy, Debug)]
struct RsState {
    spec: i32,
    available: i32,
}

/// One ReplicaSet of a Deployment across a step.
struct RsRow {
    /// `spec.replicas` at the previous check (0 if new).
    before: i32,
    /// `spec.replicas` now.
    after: i32,
    /// Lowest and highest `status.availableReplicas` at the previous check, in the
    /// step's events, and now.
    lo: i32,
    hi: i32,
    /// Whether it is the new ReplicaSet.
    new: bool,
}

/// A StatefulSet pod that left the store while possibly still running.
#[derive(Clone, Debug)]
struct Ghost {
    uid: Uid,
    node: Str,
    phase: PodPhase,
    owner: ObjectKey,
}

/// The invariant checker (see the [module docs](self)).
pub struct InvariantChecker {
    watchers: Vec<Watcher>,
    /// The next check treats every object as written in the step.
    fresh: bool,
    /// The nodes whose kubelet is down, when a caller said so (`None`: the `Ready`
    /// condition decides).
    unreachable: Option<BTreeSet<Str>>,
    /// Objects with a blocking ownerReference or a `foregroundDeletion` finalizer
    /// being deleted, as of the end of the last check.
    mirror: HashMap<Uid, Arc<Object>>,
    /// Owner uid → uids of mirrored objects with a blocking reference to it.
    blocked_by: HashMap<Uid, BTreeSet<Uid>>,
    /// Uids of mirrored objects being deleted with `foregroundDeletion`.
    fg_owners: BTreeSet<Uid>,
    rs_prev: HashMap<Uid, RsState>,
    /// New ReplicaSets of `Recreate` Deployments scaled up by a sync that does not
    /// wait for the old pods (see [`Rule::DeploymentRecreateOverlap`]), until their
    /// overlap ends.
    recreate_excused: BTreeSet<Uid>,
    /// Deployment uid → `status.observedGeneration` at the end of the last check.
    dep_prev: HashMap<Uid, i64>,
    /// (namespace, pod name) → ghost.
    ghosts: BTreeMap<(Str, Str), Ghost>,
    /// Deletions a caller declared to be a user's own (see
    /// [`InvariantChecker::acknowledge_deletion`]), not yet seen.
    acknowledged: BTreeSet<ObjectKey>,
    resyncs: u64,
}

impl fmt::Debug for InvariantChecker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvariantChecker")
            .field("mirrored", &self.mirror.len())
            .field("ghosts", &self.ghosts.len())
            .field("resyncs", &self.resyncs)
            .finish()
    }
}

/// What one step wrote, gathered from the watch events.
#[derive(Default)]
struct Step {
    events: Vec<WatchEvent>,
    /// Objects written and not deleted (checked in their current state).
    written: BTreeSet<ObjectKey>,
    deployments: BTreeSet<ObjectKey>,
    nodes: BTreeSet<Str>,
    /// Acknowledged deletions (see [`InvariantChecker::acknowledge_deletion`]) whose
    /// removal this step saw.
    acked: BTreeSet<ObjectKey>,
    /// ReplicaSet uid → the smallest and largest `availableReplicas` of its events.
    rs_avail: HashMap<Uid, (i32, i32)>,
}

/// Whether `obj` has a `controller: true` reference of `kind`; its name if so.
fn controller_of_kind(obj: &Object, kind: Kind) -> Option<&Str> {
    obj.meta()
        .controller_ref()
        .filter(|r| r.kind == kind)
        .map(|r| &r.name)
}

/// Whether the object matters to the foreground-order rule.
fn mirrored(obj: &Object) -> bool {
    let m = obj.meta();
    m.owner_references.iter().any(|r| r.block_owner_deletion)
        || (m.is_being_deleted() && m.has_finalizer(FINALIZER_FOREGROUND))
}

/// Whether the object blocks the foreground deletion of `owner`.
fn blocks(obj: &Object, owner: Uid) -> bool {
    obj.meta()
        .owner_references
        .iter()
        .any(|r| r.uid == owner && r.block_owner_deletion)
}

fn is_foreground_deleting(obj: &Object) -> bool {
    let m = obj.meta();
    m.is_being_deleted() && m.has_finalizer(FINALIZER_FOREGROUND)
}

/// Parses `Kind/ns/name` or `Kind/name` (an [`ObjectKey`]'s display).
fn parse_key(s: &str) -> Option<ObjectKey> {
    let mut parts = s.split('/');
    let kind = parts.next()?;
    let kind = Kind::ALL.into_iter().find(|k| k.name() == kind)?;
    let a = parts.next()?;
    match parts.next() {
        Some(name) => Some(ObjectKey::new(kind, a, name)),
        None => Some(ObjectKey::new(kind, "", a)),
    }
}

/// Whether a template is the Deployment's, ignoring `pod-template-hash`.
fn same_template(rs: &PodTemplateSpec, d: &PodTemplateSpec) -> bool {
    rs.meta.labels.without(POD_TEMPLATE_HASH) == d.meta.labels.without(POD_TEMPLATE_HASH)
        && rs.meta.annotations == d.meta.annotations
        && rs.spec == d.spec
}

/// Whether the node exists and is unreachable (named in `known` when given, else its
/// `Ready` condition is not `True`); `None` when it does not exist.
fn node_unreachable(store: &Store, known: Option<&BTreeSet<Str>>, name: &str) -> Option<bool> {
    let node = store.try_get(Kind::Node, "", name)?;
    let node = node.as_node()?;
    if let Some(known) = known {
        return Some(known.contains(name));
    }
    let ready = find_condition(&node.status.conditions, "Ready")
        .is_some_and(|c| c.status == ConditionStatus::True);
    Some(!ready)
}

impl InvariantChecker {
    /// A checker for `store`: opens its watches now, so the first check sees every
    /// write from here on (and, being the first, treats every object as written).
    pub fn new(store: &Store) -> Self {
        let mut c = InvariantChecker {
            watchers: Vec::new(),
            fresh: true,
            unreachable: None,
            mirror: HashMap::new(),
            blocked_by: HashMap::new(),
            fg_owners: BTreeSet::new(),
            rs_prev: HashMap::new(),
            recreate_excused: BTreeSet::new(),
            dep_prev: HashMap::new(),
            ghosts: BTreeMap::new(),
            acknowledged: BTreeSet::new(),
            resyncs: 0,
        };
        c.open(store);
        c
    }

    fn open(&mut self, store: &Store) {
        let rv = store.resource_version();
        // A watch from the current resourceVersion is always within the window.
        self.watchers = GC_KINDS
            .iter()
            .filter_map(|&k| store.watch(k, rv).ok())
            .collect();
    }

    /// Names every node whose kubelet is down, for [`Rule::StatefulSetIdentity`];
    /// replaces the previous set. From the first call on, the set alone decides which
    /// nodes are unreachable: a Node's `Ready` condition is only a lagging proxy — it
    /// stays `True` for the grace period after a kubelet stops, and stays `Unknown`
    /// after a kubelet restarts until its next heartbeat, while the restarted
    /// kubelet's first act can be the final delete of a pod whose grace period ran
    /// out while it was down (a confirmed stop, not a ghost). Call it with the whole
    /// set before every check (as `Cluster::check_invariants` does).
    pub fn set_unreachable_nodes<S: AsRef<str>>(&mut self, nodes: impl IntoIterator<Item = S>) {
        self.unreachable = Some(
            nodes
                .into_iter()
                .map(|s| crate::intern::intern(s.as_ref()))
                .collect(),
        );
    }

    /// Declares the removal of `key` a user's own action, which the rules must not
    /// blame on the control plane:
    ///
    /// - a Pod: a `kubectl delete pod --force` of a pod stuck on an unreachable node,
    ///   which K8S-SEMANTICS allows (the StatefulSet controller then creates the
    ///   replacement) — the removed pod leaves no ghost ([`Rule::StatefulSetIdentity`]);
    /// - a PersistentVolumeClaim deleted by hand — not a
    ///   [`Rule::StatefulSetPvcRetained`] violation;
    /// - an owner being deleted in foreground that the user deletes again with
    ///   another propagation policy (the API then drops the `foregroundDeletion`
    ///   finalizer, upstream's documented way out of a stuck foreground deletion) —
    ///   not a [`Rule::GcForegroundOrder`] violation.
    ///
    /// Call it before or after the delete: it applies to the next removal of that key
    /// a check sees (or to the ghost that removal already left).
    pub fn acknowledge_deletion(&mut self, key: &ObjectKey) {
        let ghost_removed = key.kind == Kind::Pod
            && self
                .ghosts
                .remove(&(key.namespace.clone(), key.name.clone()))
                .is_some();
        if !ghost_removed {
            self.acknowledged.insert(key.clone());
        }
    }

    /// How many times a watch fell out of the store's window and the checker started
    /// over (the foreground-order and transition rules miss the lost step).
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// The rules that hold at every instant, over the step since the last call.
    pub fn check(&mut self, store: &Store) -> Vec<Violation> {
        self.run(store, false)
    }

    /// [`check`](Self::check) plus the rules that hold once the control plane is idle
    /// ([`Rule::settled_only`]). Call it when every controller is idle (after
    /// `run_until_idle`, or an `advance` that left nothing due).
    pub fn check_settled(&mut self, store: &Store) -> Vec<Violation> {
        self.run(store, true)
    }

    fn run(&mut self, store: &Store, settled: bool) -> Vec<Violation> {
        let mut step = self.gather(store);
        if !self.acknowledged.is_empty() {
            for ev in &step.events {
                if ev.type_ == WatchEventType::Deleted {
                    let key = ObjectKey::of(&ev.object);
                    if self.acknowledged.remove(&key) {
                        step.acked.insert(key);
                    }
                }
            }
        }
        let mut out = Vec::new();
        self.foreground_order(&step, &mut out);
        self.update_mirror(&step);
        single_controller(store, &step, &mut out);
        node_allocatable(store, &step, &mut out);
        self.deployments(store, &step, &mut out);
        self.statefulset_identity(store, &step, &mut out);
        pvc_retention(store, &step, &mut out);
        self.remember(store, &step);
        if settled {
            gc_settled(store, &mut out);
            pods_on_missing_nodes(store, &mut out);
            endpoints_ready(store, &mut out);
            replicaset_over_replicas(store, &mut out);
        }
        out
    }

    /// Drains the watches into a [`Step`]; on an expired watch, starts over.
    fn gather(&mut self, store: &Store) -> Step {
        let mut step = Step::default();
        let mut expired = false;
        for w in &mut self.watchers {
            loop {
                match w.poll(4096) {
                    Ok(evs) if evs.is_empty() => break,
                    Ok(evs) => step.events.extend(evs),
                    Err(_) => {
                        expired = true;
                        break;
                    }
                }
            }
        }
        if expired {
            self.resyncs += 1;
            self.mirror.clear();
            self.fg_owners.clear();
            self.blocked_by.clear();
            self.rs_prev.clear();
            self.dep_prev.clear();
            self.open(store);
            step.events.clear();
            self.fresh = true;
        }
        if self.fresh {
            self.fresh = false;
            let mut initial = Vec::new();
            for k in GC_KINDS {
                if let Ok(objs) = store.list(k, None, None, None) {
                    initial.extend(objs.into_iter().map(|o| WatchEvent {
                        type_: WatchEventType::Added,
                        object: o,
                        resource_version: 0,
                    }));
                }
            }
            initial.append(&mut step.events);
            step.events = initial;
        }
        step.events.sort_by_key(|e| e.resource_version);
        for ev in &step.events {
            let obj = &ev.object;
            let key = ObjectKey::of(obj);
            match obj.kind() {
                Kind::Deployment => {
                    step.deployments.insert(key.clone());
                }
                Kind::ReplicaSet => {
                    if let Some(rs) = obj.as_replica_set() {
                        let a = rs.status.available_replicas;
                        let e = step.rs_avail.entry(obj.meta().uid).or_insert((a, a));
                        *e = (e.0.min(a), e.1.max(a));
                    }
                    if let Some(d) = controller_of_kind(obj, Kind::Deployment) {
                        step.deployments.insert(ObjectKey::new(
                            Kind::Deployment,
                            obj.namespace(),
                            d,
                        ));
                    }
                }
                Kind::Pod => {
                    if let Some(rs) = controller_of_kind(obj, Kind::ReplicaSet) {
                        if let Some(d) = store
                            .try_get(Kind::ReplicaSet, obj.namespace(), rs)
                            .and_then(|rs| controller_of_kind(&rs, Kind::Deployment).cloned())
                        {
                            step.deployments.insert(ObjectKey::new(
                                Kind::Deployment,
                                obj.namespace(),
                                &d,
                            ));
                        }
                    }
                    if ev.type_ != WatchEventType::Deleted {
                        if let Some(n) = obj.node_name().filter(|n| !n.is_empty()) {
                            step.nodes.insert(n.clone());
                        }
                    }
                }
                Kind::Node if ev.type_ != WatchEventType::Deleted => {
                    step.nodes.insert(obj.name().clone());
                }
                _ => {}
            }
            if ev.type_ == WatchEventType::Deleted {
                step.written.remove(&key);
            } else {
                step.written.insert(key);
            }
        }
        step
    }

    /// [`Rule::GcForegroundOrder`] over the step (see the module docs).
    fn foreground_order(&self, step: &Step, out: &mut Vec<Violation>) {
        // Foreground owners that left the store in this step.
        let mut fg_seen: BTreeSet<Uid> = BTreeSet::new();
        let mut gone: BTreeSet<Uid> = BTreeSet::new();
        for ev in &step.events {
            let uid = ev.object.meta().uid;
            if ev.type_ == WatchEventType::Deleted {
                if self.fg_owners.contains(&uid) || fg_seen.contains(&uid) {
                    gone.insert(uid);
                }
            } else if is_foreground_deleting(&ev.object) {
                fg_seen.insert(uid);
            }
        }
        if gone.is_empty() {
            return;
        }
        let mut relevant: BTreeSet<Uid> = gone.clone();
        for o in &gone {
            if let Some(deps) = self.blocked_by.get(o) {
                relevant.extend(deps.iter().copied());
            }
        }
        for ev in &step.events {
            if gone.iter().any(|o| blocks(&ev.object, *o)) {
                relevant.insert(ev.object.meta().uid);
            }
        }
        let mut history: Vec<WatchEvent> = relevant
            .iter()
            .filter_map(|u| self.mirror.get(u))
            .map(|o| WatchEvent {
                type_: WatchEventType::Modified,
                object: Arc::clone(o),
                resource_version: 0,
            })
            .collect();
        history.extend(
            step.events
                .iter()
                .filter(|e| relevant.contains(&e.object.meta().uid))
                .cloned(),
        );
        for msg in check_foreground_order(history) {
            let objects: Vec<ObjectKey> = msg
                .split(" went before its blocking dependent ")
                .filter_map(parse_key)
                .collect();
            if objects.first().is_some_and(|o| step.acked.contains(o)) {
                continue;
            }
            out.push(Violation {
                rule: Rule::GcForegroundOrder,
                message: msg,
                objects,
            });
        }
    }

    fn unlink(&mut self, uid: Uid) {
        self.fg_owners.remove(&uid);
        if let Some(old) = self.mirror.remove(&uid) {
            for r in old.meta().owner_references.iter() {
                if let Some(set) = self.blocked_by.get_mut(&r.uid) {
                    set.remove(&uid);
                    if set.is_empty() {
                        self.blocked_by.remove(&r.uid);
                    }
                }
            }
        }
    }

    fn update_mirror(&mut self, step: &Step) {
        for ev in &step.events {
            let uid = ev.object.meta().uid;
            self.unlink(uid);
            if ev.type_ != WatchEventType::Deleted && mirrored(&ev.object) {
                for r in ev.object.meta().owner_references.iter() {
                    if r.block_owner_deletion {
                        self.blocked_by.entry(r.uid).or_default().insert(uid);
                    }
                }
                if is_foreground_deleting(&ev.object) {
                    self.fg_owners.insert(uid);
                }
                self.mirror.insert(uid, Arc::clone(&ev.object));
            }
        }
    }

    /// The Deployment rules for every Deployment touched in the step.
    fn deployments(&mut self, store: &Store, step: &Step, out: &mut Vec<Violation>) {
        for key in &step.deployments {
            let Some(obj) = store.try_get(Kind::Deployment, &key.namespace, &key.name) else {
                continue;
            };
            let Some(d) = obj.as_deployment() else {
                continue;
            };
            let uid = d.meta.uid;
            let mut rss: Vec<Arc<Object>> = store
                .dependents_of(uid)
                .into_iter()
                .filter(|o| {
                    o.kind() == Kind::ReplicaSet
                        && o.meta().controller_ref().is_some_and(|r| r.uid == uid)
                })
                .collect();
            rss.sort_by(|a, b| {
                a.meta()
                    .creation_timestamp
                    .cmp(&b.meta().creation_timestamp)
                    .then_with(|| a.name().as_str().cmp(b.name().as_str()))
            });
            let new_idx = rss.iter().position(|o| {
                o.as_replica_set()
                    .is_some_and(|rs| same_template(&rs.spec.template, &d.spec.template))
            });
            let guard = self
                .dep_prev
                .get(&uid)
                .is_some_and(|&g| g == d.meta.generation)
                && d.status.observed_generation == d.meta.generation;
            if d.spec.strategy == DeploymentStrategy::Recreate {
                if let Some(new) = new_idx.map(|i| &rss[i]) {
                    let grew = new.as_replica_set().is_some_and(|rs| {
                        rs.spec.replicas > self.rs_prev.get(&new.meta().uid).map_or(0, |p| p.spec)
                    });
                    // (Not on a first sight of the Deployment: nothing is known then.)
                    let known = self.dep_prev.contains_key(&uid);
                    if grew && known && (!guard || d.spec.paused) {
                        self.recreate_excused.insert(new.meta().uid);
                    }
                }
                recreate_overlap(store, key, &rss, new_idx, &mut self.recreate_excused, out);
            }
            if !guard {
                continue;
            }
            let rows: Vec<RsRow> = rss
                .iter()
                .enumerate()
                .filter_map(|(i, o)| {
                    let rs = o.as_replica_set()?;
                    let u = o.meta().uid;
                    let prev = self.rs_prev.get(&u);
                    let now = rs.status.available_replicas;
                    let (mut lo, mut hi) = step.rs_avail.get(&u).copied().unwrap_or((now, now));
                    lo = lo.min(now);
                    hi = hi.max(now);
                    if let Some(p) = prev {
                        lo = lo.min(p.available);
                        hi = hi.max(p.available);
                    }
                    Some(RsRow {
                        before: prev.map_or(0, |p| p.spec),
                        after: rs.spec.replicas,
                        lo,
                        hi,
                        new: Some(i) == new_idx,
                    })
                })
                .collect();
            let replicas = d.spec.replicas;
            let grew = rows.iter().any(|r| r.after > r.before);
            let sum_after: i32 = rows.iter().map(|r| r.after).sum();
            let rs_keys = || -> Vec<ObjectKey> {
                std::iter::once(key.clone())
                    .chain(rss.iter().map(|o| ObjectKey::of(o)))
                    .collect()
            };
            let describe = || -> String {
                rss.iter()
                    .zip(&rows)
                    .map(|(o, r)| {
                        format!(
                            "{}{}: spec.replicas {}→{}, availableReplicas {}..{}",
                            o.name(),
                            if r.new { " (new)" } else { "" },
                            r.before,
                            r.after,
                            r.lo,
                            r.hi
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            match &d.spec.strategy {
                DeploymentStrategy::Recreate => {
                    if grew && sum_after > replicas {
                        out.push(Violation {
                            rule: Rule::DeploymentSurge,
                            message: format!(
                                "{key} (Recreate, replicas {replicas}): ReplicaSets scaled up to Σ spec.replicas {sum_after} > {replicas} [{}]",
                                describe()
                            ),
                            objects: rs_keys(),
                        });
                    }
                }
                DeploymentStrategy::RollingUpdate {
                    max_surge,
                    max_unavailable,
                } => {
                    let (surge, unavailable) =
                        resolve_fenceposts(max_surge, max_unavailable, replicas);
                    if grew && sum_after > replicas + surge {
                        out.push(Violation {
                            rule: Rule::DeploymentSurge,
                            message: format!(
                                "{key} (replicas {replicas}, maxSurge {surge}): ReplicaSets scaled up to Σ spec.replicas {sum_after} > {} [{}]",
                                replicas + surge,
                                describe()
                            ),
                            objects: rs_keys(),
                        });
                    }
                    let old_before: i32 = rows.iter().filter(|r| !r.new).map(|r| r.before).sum();
                    let old_after: i32 = rows.iter().filter(|r| !r.new).map(|r| r.after).sum();
                    if old_after >= old_before {
                        continue;
                    }
                    // The new ReplicaSet reported more available pods than it wants
                    // (its status has not caught up with a scale-down, the trail of a
                    // replicas change the guard excused): upstream's
                    // `newRSUnavailablePodCount` is then negative and its
                    // `availablePodCount` counts the surplus, so it may scale the old
                    // ones down past the bound. Not a decision to judge.
                    if rows.iter().any(|r| r.new && r.hi > r.before.min(r.after)) {
                        continue;
                    }
                    let min_available = (replicas - unavailable).max(0);
                    let new_unavailable = rows
                        .iter()
                        .find(|r| r.new)
                        .map_or(0, |r| (r.after - r.hi).max(0));
                    if sum_after < min_available + new_unavailable {
                        out.push(Violation {
                            rule: Rule::DeploymentAvailability,
                            message: format!(
                                "{key} (replicas {replicas}, maxUnavailable {unavailable}): old ReplicaSets scaled down {old_before}→{old_after} leaving Σ spec.replicas {sum_after} < minAvailable {min_available} + new ReplicaSet unavailable {new_unavailable} [{}]",
                                describe()
                            ),
                            objects: rs_keys(),
                        });
                    }
                    // The most favourable of three readings of availability: all lowest,
                    // all highest, old lowest and new highest.
                    let readings = [(false, false), (true, true), (false, true)];
                    let kept = |old_hi: bool, new_hi: bool| {
                        let a = |r: &RsRow| {
                            if (r.new && new_hi) || (!r.new && old_hi) {
                                r.hi
                            } else {
                                r.lo
                            }
                        };
                        let after: i32 = rows.iter().map(|r| r.after.min(a(r))).sum();
                        let before: i32 = rows.iter().map(|r| r.before.min(a(r))).sum();
                        (before, after)
                    };
                    let ok = readings.iter().any(|&(o, n)| {
                        let (before, after) = kept(o, n);
                        after >= min_available.min(before)
                    });
                    let (kept_before, kept_after) = kept(true, true);
                    if !ok {
                        out.push(Violation {
                            rule: Rule::DeploymentAvailability,
                            message: format!(
                                "{key} (replicas {replicas}, maxUnavailable {unavailable}): old ReplicaSets scaled down {old_before}→{old_after}, available pods kept {kept_before}→{kept_after} < minAvailable {min_available} [{}]",
                                describe()
                            ),
                            objects: rs_keys(),
                        });
                    }
                }
            }
        }
    }

    /// Ghost bookkeeping and [`Rule::StatefulSetIdentity`].
    fn statefulset_identity(&mut self, store: &Store, step: &Step, out: &mut Vec<Violation>) {
        for ev in &step.events {
            if ev.type_ != WatchEventType::Deleted {
                continue;
            }
            let Some(pod) = ev.object.as_pod() else {
                continue;
            };
            let Some(sts) = controller_of_kind(&ev.object, Kind::StatefulSet) else {
                continue;
            };
            if pod.status.phase.is_terminal() {
                continue;
            }
            let Some(node) = pod.node_name.as_ref().filter(|n| !n.is_empty()) else {
                continue;
            };
            if step.acked.contains(&ObjectKey::of(&ev.object)) {
                continue;
            }
            if node_unreachable(store, self.unreachable.as_ref(), node) == Some(true) {
                self.ghosts.insert(
                    (pod.meta.namespace.clone(), pod.meta.name.clone()),
                    Ghost {
                        uid: pod.meta.uid,
                        node: node.clone(),
                        phase: pod.status.phase,
                        owner: ObjectKey::new(Kind::StatefulSet, &pod.meta.namespace, sts),
                    },
                );
            }
        }
        let unreachable = self.unreachable.as_ref();
        self.ghosts
            .retain(|_, g| node_unreachable(store, unreachable, &g.node) == Some(true));
        for ((ns, name), g) in &self.ghosts {
            let Some(obj) = store.try_get(Kind::Pod, ns, name) else {
                continue;
            };
            let Some(pod) = obj.as_pod() else {
                continue;
            };
            if pod.meta.uid == g.uid || pod.status.phase.is_terminal() {
                continue;
            }
            out.push(Violation {
                rule: Rule::StatefulSetIdentity,
                message: format!(
                    "{} identity {ns}/{name}: pod uid {} (phase {}, node {}) exists while the previous pod uid {} (phase {}) was removed from the API on unreachable node {} and may still run",
                    g.owner,
                    pod.meta.uid,
                    pod.status.phase.as_str(),
                    pod.node_name.as_deref().unwrap_or("<unscheduled>"),
                    g.uid,
                    g.phase.as_str(),
                    g.node
                ),
                objects: vec![
                    ObjectKey::of(&obj),
                    g.owner.clone(),
                    ObjectKey::new(Kind::Node, "", &g.node),
                ],
            });
        }
    }

    /// Records the end-of-step state the transition rules compare against.
    fn remember(&mut self, store: &Store, step: &Step) {
        for ev in &step.events {
            let uid = ev.object.meta().uid;
            match ev.object.kind() {
                Kind::ReplicaSet => {
                    self.rs_prev.remove(&uid);
                }
                Kind::Deployment => {
                    self.dep_prev.remove(&uid);
                }
                _ => {}
            }
        }
        for key in &step.written {
            if !matches!(key.kind, Kind::ReplicaSet | Kind::Deployment) {
                continue;
            }
            let Some(obj) = store.try_get(key.kind, &key.namespace, &key.name) else {
                continue;
            };
            if let Some(rs) = obj.as_replica_set() {
                self.rs_prev.insert(
                    rs.meta.uid,
                    RsState {
                        spec: rs.spec.replicas,
                        available: rs.status.available_replicas,
                    },
                );
            } else if let Some(d) = obj.as_deployment() {
                self.dep_prev
                    .insert(d.meta.uid, d.status.observed_generation);
            }
        }
    }
}

/// [`Rule::DeploymentRecreateOverlap`] for one Deployment.
fn recreate_overlap(
    store: &Store,
    key: &ObjectKey,
    rss: &[Arc<Object>],
    new_idx: Option<usize>,
    excused: &mut BTreeSet<Uid>,
    out: &mut Vec<Violation>,
) {
    let Some(new_idx) = new_idx else {
        return;
    };
    let excused_uid = rss[new_idx].meta().uid;
    let excuse = excused.contains(&excused_uid);
    let found = out.len();
    let pods_of = |rs: &Object| -> Vec<Arc<Object>> {
        let uid = rs.meta().uid;
        store
            .dependents_of(uid)
            .into_iter()
            .filter(|o| {
                o.kind() == Kind::Pod && o.meta().controller_ref().is_some_and(|r| r.uid == uid)
            })
            .collect()
    };
    let new_pods: Vec<Arc<Object>> = pods_of(&rss[new_idx])
        .into_iter()
        .filter(|p| !p.meta().is_being_deleted())
        .collect();
    let Some(first_new) = new_pods.iter().min_by_key(|p| p.meta().creation_timestamp) else {
        return;
    };
    for (i, rs) in rss.iter().enumerate() {
        if i == new_idx {
            continue;
        }
        for old in pods_of(rs) {
            let Some(p) = old.as_pod() else { continue };
            if p.status.phase.is_terminal()
                || p.meta.creation_timestamp > first_new.meta().creation_timestamp
            {
                continue;
            }
            out.push(Violation {
                rule: Rule::DeploymentRecreateOverlap,
                message: format!(
                    "{key} (Recreate): new pod {} created at {:?} while old pod {} (phase {}{}) of {} exists",
                    first_new.name(),
                    first_new.meta().creation_timestamp,
                    old.name(),
                    p.status.phase.as_str(),
                    if p.meta.is_being_deleted() { ", terminating" } else { "" },
                    rs.name()
                ),
                objects: vec![
                    key.clone(),
                    ObjectKey::of(first_new),
                    ObjectKey::of(&old),
                    ObjectKey::of(rs),
                ],
            });
        }
    }
    if excuse {
        // Upstream's doing: the overlap is not reported, and the excuse lasts as
        // long as it.
        if out.len() == found {
            excused.remove(&excused_uid);
        }
        out.truncate(found);
    }
}

/// [`Rule::SingleController`] over the objects written in the step.
fn single_controller(store: &Store, step: &Step, out: &mut Vec<Violation>) {
    for key in &step.written {
        let Some(obj) = store.try_get(key.kind, &key.namespace, &key.name) else {
            continue;
        };
        let controllers: Vec<_> = obj
            .meta()
            .owner_references
            .iter()
            .filter(|r| r.controller)
            .collect();
        if controllers.len() > 1 {
            let mut objects = vec![key.clone()];
            objects.extend(
                controllers
                    .iter()
                    .map(|r| ObjectKey::of_owner(r, obj.namespace())),
            );
            out.push(Violation {
                rule: Rule::SingleController,
                message: format!(
                    "{key} has {} ownerReferences with controller: true ({})",
                    controllers.len(),
                    controllers
                        .iter()
                        .map(|r| format!("{}/{} uid {}", r.kind, r.name, r.uid))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                objects,
            });
        }
    }
}

/// [`Rule::NodeOverAllocatable`] for the nodes that received a pod (or changed).
fn node_allocatable(store: &Store, step: &Step, out: &mut Vec<Violation>) {
    for name in &step.nodes {
        let Some(obj) = store.try_get(Kind::Node, "", name) else {
            continue;
        };
        let Some(node) = obj.as_node() else { continue };
        let Ok(pods) = store.list(
            Kind::Pod,
            None,
            None,
            Some(&FieldSelector::eq(Field::NodeName, name)),
        ) else {
            continue;
        };
        let mut count = 0i64;
        let mut cpu = 0i64;
        let mut mem = 0i64;
        for p in pods.iter().filter_map(|p| p.as_pod()) {
            if p.status.phase.is_terminal() {
                continue;
            }
            count += 1;
            let r = p.spec.total_requests();
            cpu += r.cpu_millis;
            mem += r.memory_bytes;
        }
        let alloc = node.status.allocatable;
        let mut over = Vec::new();
        if count > alloc.pods {
            over.push(format!("pods {count} > {}", alloc.pods));
        }
        if cpu > alloc.resources.cpu_millis {
            over.push(format!(
                "cpu requests {cpu}m > {}m",
                alloc.resources.cpu_millis
            ));
        }
        if mem > alloc.resources.memory_bytes {
            over.push(format!(
                "memory requests {mem} > {}",
                alloc.resources.memory_bytes
            ));
        }
        if !over.is_empty() {
            out.push(Violation {
                rule: Rule::NodeOverAllocatable,
                message: format!(
                    "Node/{name}: bound non-terminal pods exceed allocatable: {}",
                    over.join(", ")
                ),
                objects: vec![ObjectKey::of(&obj)],
            });
        }
    }
}

/// [`Rule::StatefulSetPvcRetained`] over the claims deleted in the step.
fn pvc_retention(store: &Store, step: &Step, out: &mut Vec<Violation>) {
    for ev in &step.events {
        if ev.type_ != WatchEventType::Deleted || ev.object.kind() != Kind::PersistentVolumeClaim {
            continue;
        }
        if step.acked.contains(&ObjectKey::of(&ev.object)) {
            continue;
        }
        let ns = ev.object.namespace();
        let name = ev.object.name();
        if store
            .try_get(Kind::Namespace, "", ns)
            .is_some_and(|n| n.meta().is_being_deleted())
        {
            continue;
        }
        let Ok(sets) = store.list(Kind::StatefulSet, Some(ns), None, None) else {
            continue;
        };
        for obj in &sets {
            let Some(sts) = obj.as_stateful_set() else {
                continue;
            };
            if sts.meta.is_being_deleted()
                || sts.spec.pvc_retention_when_scaled != PvcRetention::Retain
                || ev
                    .object
                    .meta()
                    .owner_references
                    .iter()
                    .any(|r| r.uid != sts.meta.uid)
            {
                continue;
            }
            for t in &sts.spec.volume_claim_templates {
                let prefix = format!("{}-{}-", t.name, sts.meta.name);
                let Some(ordinal) = name
                    .strip_prefix(prefix.as_str())
                    .and_then(|o| o.parse::<u32>().ok())
                else {
                    continue;
                };
                out.push(Violation {
                    rule: Rule::StatefulSetPvcRetained,
                    message: format!(
                        "{} (template {}, ordinal {ordinal}) was deleted while {} exists with whenScaled: Retain (spec.replicas {})",
                        ObjectKey::of(&ev.object),
                        t.name,
                        ObjectKey::of(obj),
                        sts.spec.replicas
                    ),
                    objects: vec![ObjectKey::of(&ev.object), ObjectKey::of(obj)],
                });
            }
        }
    }
}

/// [`Rule::GcSettled`]: [`check_gc_invariants`], with the key its messages start with.
fn gc_settled(store: &Store, out: &mut Vec<Violation>) {
    for msg in check_gc_invariants(store) {
        let objects = msg
            .split(": ")
            .next()
            .and_then(parse_key)
            .into_iter()
            .collect();
        out.push(Violation {
            rule: Rule::GcSettled,
            message: msg,
            objects,
        });
    }
}

/// [`Rule::PodOnMissingNode`].
fn pods_on_missing_nodes(store: &Store, out: &mut Vec<Violation>) {
    let Ok(pods) = store.list(
        Kind::Pod,
        None,
        None,
        Some(&FieldSelector::eq(Field::Phase, "Running")),
    ) else {
        return;
    };
    let mut missing: HashMap<Str, bool> = HashMap::new();
    for obj in &pods {
        let Some(p) = obj.as_pod() else { continue };
        let Some(node) = p.node_name.as_ref().filter(|n| !n.is_empty()) else {
            continue;
        };
        if p.meta.is_being_deleted() {
            continue;
        }
        let gone = *missing
            .entry(node.clone())
            .or_insert_with(|| store.try_get(Kind::Node, "", node).is_none());
        if gone {
            out.push(Violation {
                rule: Rule::PodOnMissingNode,
                message: format!(
                    "{} is Running on Node/{node}, which does not exist",
                    ObjectKey::of(obj)
                ),
                objects: vec![ObjectKey::of(obj), ObjectKey::new(Kind::Node, "", node)],
            });
        }
    }
}

/// Why a pod may not be a ready endpoint, if it may not.
fn not_ready_reason(store: &Store, namespace: &str, pod: &str, publish: bool) -> Option<String> {
    let Some(obj) = store.try_get(Kind::Pod, namespace, pod) else {
        return Some("the pod does not exist".into());
    };
    let p = obj.as_pod()?;
    if p.status.phase.is_terminal() {
        return Some(format!("the pod is {}", p.status.phase.as_str()));
    }
    if publish {
        return None;
    }
    if p.meta.is_being_deleted() {
        return Some("the pod is terminating".into());
    }
    if !p.is_ready() {
        return Some("the pod is not Ready".into());
    }
    None
}

/// [`Rule::EndpointsNotReady`] over every Endpoints and EndpointSlice.
fn endpoints_ready(store: &Store, out: &mut Vec<Violation>) {
    let publish = |ns: &str, svc: &str| {
        store
            .try_get(Kind::Service, ns, svc)
            .and_then(|s| s.as_service().map(|s| s.spec.publish_not_ready_addresses))
            .unwrap_or(false)
    };
    if let Ok(eps) = store.list(Kind::Endpoints, None, None, None) {
        for obj in &eps {
            let Some(ep) = obj.as_endpoints() else {
                continue;
            };
            let ns = obj.namespace();
            let pub_ = publish(ns, obj.name());
            for a in ep.subsets.iter().flat_map(|s| s.addresses.iter()) {
                let Some(r) = a.target_ref.as_ref().filter(|r| r.kind == Kind::Pod) else {
                    continue;
                };
                if let Some(why) = not_ready_reason(store, ns, &r.name, pub_) {
                    out.push(Violation {
                        rule: Rule::EndpointsNotReady,
                        message: format!(
                            "{} lists {} (Pod/{ns}/{}) as a ready address, but {why}",
                            ObjectKey::of(obj),
                            a.ip,
                            r.name
                        ),
                        objects: vec![ObjectKey::of(obj), ObjectKey::new(Kind::Pod, ns, &r.name)],
                    });
                }
            }
        }
    }
    if let Ok(slices) = store.list(Kind::EndpointSlice, None, None, None) {
        for obj in &slices {
            let Some(sl) = obj.as_endpoint_slice() else {
                continue;
            };
            let ns = obj.namespace();
            let pub_ = obj
                .labels()
                .get(SERVICE_NAME_LABEL)
                .is_some_and(|svc| publish(ns, svc));
            for e in &sl.endpoints {
                if e.conditions.ready != Some(true) {
                    continue;
                }
                let Some(r) = e.target_ref.as_ref().filter(|r| r.kind == Kind::Pod) else {
                    continue;
                };
                if let Some(why) = not_ready_reason(store, ns, &r.name, pub_) {
                    out.push(Violation {
                        rule: Rule::EndpointsNotReady,
                        message: format!(
                            "{} has a ready: true endpoint for Pod/{ns}/{}, but {why}",
                            ObjectKey::of(obj),
                            r.name
                        ),
                        objects: vec![ObjectKey::of(obj), ObjectKey::new(Kind::Pod, ns, &r.name)],
                    });
                }
            }
        }
    }
}

/// [`Rule::ReplicaSetOverReplicas`].
fn replicaset_over_replicas(store: &Store, out: &mut Vec<Violation>) {
    let Ok(sets) = store.list(Kind::ReplicaSet, None, None, None) else {
        return;
    };
    for obj in &sets {
        let Some(rs) = obj.as_replica_set() else {
            continue;
        };
        let uid = rs.meta.uid;
        let active: Vec<ObjectKey> = store
            .dependents_of(uid)
            .iter()
            .filter(|o| o.meta().controller_ref().is_some_and(|r| r.uid == uid))
            .filter(|o| o.as_pod().is_some_and(|p| p.is_active()))
            .map(|o| ObjectKey::of(o))
            .collect();
        if active.len() > rs.spec.replicas.max(0) as usize {
            let mut objects = vec![ObjectKey::of(obj)];
            let message = format!(
                "{} controls {} active pods with spec.replicas {}",
                ObjectKey::of(obj),
                active.len(),
                rs.spec.replicas
            );
            objects.extend(active);
            out.push(Violation {
                rule: Rule::ReplicaSetOverReplicas,
                message,
                objects,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intern::StrMap;
    use crate::model::IntOrString;
    use crate::model::{
        Condition, ConfigMap, Container, Deployment, DeploymentSpec, EndpointAddress,
        EndpointSubset, Endpoints, Namespace, NamespacePhase, Node, NodeCapacity, NodeSpec,
        NodeStatus, ObjectMeta, ObjectRef, OwnerReference, PersistentVolumeClaim, Pod,
        PodCondition, PodConditions, PodSpec, PodStatus, PropagationPolicy, PvcTemplate,
        ReplicaSet, ReplicaSetSpec, Resources, StatefulSet, StatefulSetSpec, TemplateMeta,
    };
    use crate::store::{DeleteOptions, StoreConfig};
    use crate::time::{ManualClock, Timestamp};
    use std::net::Ipv4Addr;
    use std::time::Duration;

    struct Env {
        store: Store,
        clock: Arc<ManualClock>,
        checker: InvariantChecker,
    }

    impl Env {
        fn new() -> Env {
            let clock = Arc::new(ManualClock::new(Timestamp::VIRTUAL_EPOCH));
            let store = Store::with_config(StoreConfig {
                clock: clock.clone(),
                ..StoreConfig::default()
            });
            let checker = InvariantChecker::new(&store);
            Env {
                store,
                clock,
                checker,
            }
        }

        fn tick(&self) {
            self.clock.advance(Duration::from_secs(1));
        }

        fn check(&mut self) -> Vec<Violation> {
            self.checker.check(&self.store)
        }

        fn settled(&mut self) -> Vec<Violation> {
            self.checker.check_settled(&self.store)
        }

        fn create(&self, obj: impl Into<Object>) -> Arc<Object> {
            self.store.create(obj.into()).unwrap()
        }

        fn get(&self, kind: Kind, name: &str) -> Arc<Object> {
            let ns = if kind.namespaced() { "default" } else { "" };
            self.store.get(kind, ns, name).unwrap()
        }

        /// Sets a ReplicaSet's spec.replicas.
        fn scale_rs(&self, name: &str, replicas: i32) {
            let mut o = (*self.get(Kind::ReplicaSet, name)).clone();
            o.as_replica_set_mut().unwrap().spec.replicas = replicas;
            self.store.update(o).unwrap();
        }

        /// Sets a ReplicaSet's status.availableReplicas (and replicas).
        fn rs_available(&self, name: &str, available: i32) {
            let mut o = (*self.get(Kind::ReplicaSet, name)).clone();
            let rs = o.as_replica_set_mut().unwrap();
            rs.status.available_replicas = available;
            rs.status.ready_replicas = available;
            self.store.update_status(o).unwrap();
        }

        fn node_ready(&self, name: &str, ready: bool) {
            let mut o = (*self.get(Kind::Node, name)).clone();
            o.as_node_mut().unwrap().status.conditions = vec![Condition::new(
                "Ready",
                if ready {
                    ConditionStatus::True
                } else {
                    ConditionStatus::Unknown
                },
                Timestamp::VIRTUAL_EPOCH,
            )];
            self.store.update_status(o).unwrap();
        }
    }

    fn rules(v: &[Violation]) -> Vec<Rule> {
        v.iter().map(|v| v.rule).collect()
    }

    fn owner(o: &Object, controller: bool) -> OwnerReference {
        OwnerReference {
            kind: o.kind(),
            name: o.name().clone(),
            uid: o.meta().uid,
            controller,
            block_owner_deletion: true,
        }
    }

    fn node(name: &str, pods: i64) -> Node {
        Node {
            meta: ObjectMeta::named("", name),
            spec: NodeSpec::default(),
            status: NodeStatus {
                capacity: NodeCapacity::default(),
                allocatable: NodeCapacity {
                    pods,
                    ..NodeCapacity::default()
                },
                conditions: vec![Condition::new(
                    "Ready",
                    ConditionStatus::True,
                    Timestamp::VIRTUAL_EPOCH,
                )],
                ..NodeStatus::default()
            },
        }
    }

    fn pod(name: &str, owners: Vec<OwnerReference>, node: Option<&str>, phase: PodPhase) -> Pod {
        let mut meta = ObjectMeta::named("default", name);
        meta.owner_references = owners.into();
        Pod {
            meta,
            spec: Arc::default(),
            node_name: node.map(Str::new),
            status: PodStatus {
                phase,
                conditions: PodConditions {
                    ready: PodCondition::new(
                        ConditionStatus::from_bool(phase == PodPhase::Running),
                        Timestamp::VIRTUAL_EPOCH,
                    ),
                    ..PodConditions::default()
                },
                ..PodStatus::default()
            },
        }
    }

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
                    image_pull_policy: Default::default(),
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

    /// A Deployment `web` on image `v2` whose status has observed its generation.
    fn deployment(env: &Env, replicas: i32, strategy: DeploymentStrategy) -> Arc<Object> {
        let d = env.create(Deployment {
            meta: ObjectMeta::named("default", "web"),
            spec: DeploymentSpec {
                replicas,
                template: template("v2"),
                strategy,
                ..DeploymentSpec::default()
            },
            status: Default::default(),
        });
        let mut o = (*d).clone();
        o.as_deployment_mut().unwrap().status.observed_generation = d.meta().generation;
        env.store.update_status(o).unwrap()
    }

    fn rolling(surge: i32, unavailable: i32) -> DeploymentStrategy {
        DeploymentStrategy::RollingUpdate {
            max_surge: IntOrString::Int(surge),
            max_unavailable: IntOrString::Int(unavailable),
        }
    }

    /// A ReplicaSet of the Deployment on `image`, with `available` available replicas.
    fn replica_set(env: &Env, d: &Object, name: &str, image: &str, replicas: i32, available: i32) {
        let mut meta = ObjectMeta::named("default", name);
        meta.owner_references = vec![owner(d, true)].into();
        let mut t = template(image);
        t.meta.labels = t.meta.labels.with(POD_TEMPLATE_HASH, name);
        env.create(ReplicaSet {
            meta,
            spec: ReplicaSetSpec {
                replicas,
                template: t,
                ..ReplicaSetSpec::default()
            },
            status: Default::default(),
        });
        env.rs_available(name, available);
    }

    #[test]
    fn single_controller_flags_two_controller_references() {
        let mut env = Env::new();
        let a = env.create(ConfigMap {
            meta: ObjectMeta::named("default", "a"),
            data: vec![],
        });
        let b = env.create(ConfigMap {
            meta: ObjectMeta::named("default", "b"),
            data: vec![],
        });
        env.create(pod(
            "one",
            vec![owner(&a, true), owner(&b, false)],
            None,
            PodPhase::Pending,
        ));
        assert_eq!(env.check(), vec![]);
        env.create(pod(
            "two",
            vec![owner(&a, true), owner(&b, true)],
            None,
            PodPhase::Pending,
        ));
        let v = env.check();
        assert_eq!(rules(&v), [Rule::SingleController]);
        assert_eq!(
            v[0].objects,
            [
                ObjectKey::new(Kind::Pod, "default", "two"),
                ObjectKey::new(Kind::ConfigMap, "default", "a"),
                ObjectKey::new(Kind::ConfigMap, "default", "b"),
            ]
        );
        assert!(v[0]
            .to_string()
            .starts_with("[single-controller] Pod/default/two has 2"));
    }

    #[test]
    fn deployment_surge_flags_a_scale_up_beyond_max_surge() {
        let mut env = Env::new();
        let d = deployment(&env, 4, rolling(1, 0));
        replica_set(&env, &d, "web-old", "v1", 4, 4);
        replica_set(&env, &d, "web-new", "v2", 0, 0);
        assert_eq!(env.check(), vec![]);
        env.scale_rs("web-new", 1); // Σ 5 = replicas + surge
        assert_eq!(env.check(), vec![]);
        env.scale_rs("web-new", 2); // Σ 6
        let v = env.check();
        assert_eq!(
            rules(&v),
            [Rule::DeploymentSurge],
            "{}",
            format_violations(&v)
        );
        assert!(v[0].message.contains("Σ spec.replicas 6 > 5"), "{}", v[0]);
        assert_eq!(
            v[0].objects[0],
            ObjectKey::new(Kind::Deployment, "default", "web")
        );
        // A step with no scale-up says nothing even though Σ stays above the bound.
        env.rs_available("web-new", 1);
        assert_eq!(env.check(), vec![]);
    }

    #[test]
    fn deployment_rules_skip_steps_reacting_to_a_spec_change() {
        let mut env = Env::new();
        let d = deployment(&env, 8, rolling(1, 0));
        replica_set(&env, &d, "web-old", "v1", 6, 6);
        replica_set(&env, &d, "web-new", "v2", 3, 0);
        assert_eq!(env.check(), vec![]);
        // The user scales to 2 …
        let mut o = (*env.get(Kind::Deployment, "web")).clone();
        o.as_deployment_mut().unwrap().spec.replicas = 2;
        env.store.update(o).unwrap();
        assert_eq!(env.check(), vec![]);
        // … and in the next step the controller scales proportionally and records
        // observedGeneration. Σ 2 < minAvailable 2 + 1 unavailable new replica: the
        // availability rule would fire without the guard.
        env.scale_rs("web-old", 1);
        env.scale_rs("web-new", 1);
        let mut o = (*env.get(Kind::Deployment, "web")).clone();
        let gen = o.meta().generation;
        o.as_deployment_mut().unwrap().status.observed_generation = gen;
        env.store.update_status(o).unwrap();
        assert_eq!(env.check(), vec![]);
        // From now on the bound is 2 + 1.
        env.scale_rs("web-new", 2);
        assert_eq!(env.check(), vec![]);
        env.scale_rs("web-new", 3);
        assert_eq!(rules(&env.check()), [Rule::DeploymentSurge]);
    }

    #[test]
    fn deployment_availability_flags_an_old_scale_down_past_min_available() {
        let mut env = Env::new();
        // replicas 4, maxUnavailable 1 → minAvailable 3.
        let d = deployment(&env, 4, rolling(1, 1));
        replica_set(&env, &d, "web-old", "v1", 4, 4);
        replica_set(&env, &d, "web-new", "v2", 1, 0);
        assert_eq!(env.check(), vec![]);
        env.scale_rs("web-old", 3); // Σ 4 ≥ 3 + 1 unavailable new replica
        assert_eq!(env.check(), vec![]);
        env.scale_rs("web-old", 2); // Σ 3 < 3 + 1, and 2 + 0 pods kept available < 3
        let v = env.check();
        assert_eq!(
            rules(&v),
            [Rule::DeploymentAvailability, Rule::DeploymentAvailability],
            "{}",
            format_violations(&v)
        );
        assert!(
            v[0].message
                .contains("Σ spec.replicas 3 < minAvailable 3 + new ReplicaSet unavailable 1"),
            "{}",
            v[0]
        );
        assert!(
            v[1].message.contains("kept 3→2 < minAvailable 3"),
            "{}",
            v[1]
        );
    }

    #[test]
    fn deployment_availability_ignores_external_disruption() {
        let mut env = Env::new();
        let d = deployment(&env, 4, rolling(1, 1));
        replica_set(&env, &d, "web-old", "v1", 3, 3);
        replica_set(&env, &d, "web-new", "v2", 2, 2);
        assert_eq!(env.check(), vec![]);
        // A node fails: availability drops without any decision of the controller.
        env.rs_available("web-old", 1);
        assert_eq!(env.check(), vec![]);
        // In one step: the controller scales old down by 1 (it read 3 available),
        // then the pods crash.
        env.rs_available("web-old", 3);
        env.scale_rs("web-old", 2);
        env.rs_available("web-old", 0);
        env.rs_available("web-new", 0);
        assert_eq!(env.check(), vec![]);
    }

    #[test]
    fn deployment_availability_skips_a_new_replica_set_with_surplus_available_pods() {
        // Found by the chaos runs: an HPA scaled the Deployment down mid-rollout, the
        // controller scaled the new ReplicaSet 2→1 proportionally (a step the guard
        // skips), and in the next step — the new ReplicaSet still reporting 2
        // available pods — upstream's arithmetic (newRSUnavailablePodCount 1 − 2 =
        // −1, availablePodCount 2 + 2 = 4) scales the old one 2→0.
        let mut env = Env::new();
        // replicas 2, maxSurge 1, maxUnavailable 0 → minAvailable 2.
        let d = deployment(&env, 2, rolling(1, 0));
        replica_set(&env, &d, "web-old", "v1", 2, 2);
        replica_set(&env, &d, "web-new", "v2", 1, 2);
        assert_eq!(env.check(), vec![]);
        env.scale_rs("web-old", 0);
        assert_eq!(env.check(), vec![]);
        // Once the new ReplicaSet's status has caught up (1 available), the same
        // decision is flagged.
        let mut env = Env::new();
        let d = deployment(&env, 2, rolling(1, 0));
        replica_set(&env, &d, "web-old", "v1", 2, 2);
        replica_set(&env, &d, "web-new", "v2", 1, 1);
        assert_eq!(env.check(), vec![]);
        env.scale_rs("web-old", 0);
        assert_eq!(
            rules(&env.check()),
            [Rule::DeploymentAvailability, Rule::DeploymentAvailability]
        );
    }

    #[test]
    fn deployment_availability_flags_scaling_down_the_healthy_old_replica_set() {
        let mut env = Env::new();
        // minAvailable 3; web-a's pods are all unavailable, web-b's all available.
        let d = deployment(&env, 4, rolling(2, 1));
        replica_set(&env, &d, "web-a", "v0", 2, 0);
        replica_set(&env, &d, "web-b", "v1", 2, 2);
        replica_set(&env, &d, "web-new", "v2", 2, 2);
        assert_eq!(env.check(), vec![]);
        // Σ stays 4 ≥ 3 (first bound holds) but the available old pods go.
        env.scale_rs("web-b", 0);
        let v = env.check();
        assert_eq!(
            rules(&v),
            [Rule::DeploymentAvailability],
            "{}",
            format_violations(&v)
        );
        assert!(v[0].message.contains("kept 4→2"), "{}", v[0]);
    }

    #[test]
    fn recreate_overlap_excused_after_a_sync_of_a_paused_deployment() {
        // Found by the chaos runs: a Recreate rollout waits for web-old's terminating
        // pod; the user pauses the Deployment; upstream's paused sync scales the
        // newest ReplicaSet (none is active) to replicas at once.
        let overlap = |pause: bool| {
            let mut env = Env::new();
            let d = deployment(&env, 1, DeploymentStrategy::Recreate);
            replica_set(&env, &d, "web-old", "v1", 0, 0);
            replica_set(&env, &d, "web-new", "v2", 0, 0);
            let old_rs = env.get(Kind::ReplicaSet, "web-old");
            let new_rs = env.get(Kind::ReplicaSet, "web-new");
            env.create(pod(
                "old-1",
                vec![owner(&old_rs, true)],
                Some("n1"),
                PodPhase::Running,
            ));
            env.store
                .delete(Kind::Pod, "default", "old-1", &DeleteOptions::default())
                .unwrap();
            assert_eq!(env.check(), vec![]);
            if pause {
                let mut o = (*env.get(Kind::Deployment, "web")).clone();
                o.as_deployment_mut().unwrap().spec.paused = true;
                let o = env.store.update(o).unwrap();
                let mut o = (*o).clone();
                let gen = o.meta().generation;
                o.as_deployment_mut().unwrap().status.observed_generation = gen;
                env.store.update_status(o).unwrap();
            }
            env.scale_rs("web-new", 1);
            env.tick();
            env.create(pod(
                "new-1",
                vec![owner(&new_rs, true)],
                None,
                PodPhase::Pending,
            ));
            let first = env.check();
            // The old pod goes: the overlap (and the excuse) ends.
            env.store
                .delete(Kind::Pod, "default", "old-1", &DeleteOptions::grace(0))
                .unwrap();
            assert_eq!(env.check(), vec![]);
            first
        };
        assert_eq!(overlap(true), vec![]);
        assert_eq!(rules(&overlap(false)), [Rule::DeploymentRecreateOverlap]);
    }

    #[test]
    fn recreate_flags_new_pods_beside_old_ones() {
        let mut env = Env::new();
        let d = deployment(&env, 2, DeploymentStrategy::Recreate);
        replica_set(&env, &d, "web-old", "v1", 0, 0);
        replica_set(&env, &d, "web-new", "v2", 1, 0);
        let old_rs = env.get(Kind::ReplicaSet, "web-old");
        let new_rs = env.get(Kind::ReplicaSet, "web-new");
        env.create(pod(
            "old-1",
            vec![owner(&old_rs, true)],
            Some("n1"),
            PodPhase::Succeeded,
        ));
        env.tick();
        env.create(pod(
            "new-1",
            vec![owner(&new_rs, true)],
            None,
            PodPhase::Pending,
        ));
        assert_eq!(env.check(), vec![]);
        let mut env = Env::new();
        let d = deployment(&env, 2, DeploymentStrategy::Recreate);
        replica_set(&env, &d, "web-old", "v1", 0, 0);
        replica_set(&env, &d, "web-new", "v2", 1, 0);
        let old_rs = env.get(Kind::ReplicaSet, "web-old");
        let new_rs = env.get(Kind::ReplicaSet, "web-new");
        let old = env.create(pod(
            "old-1",
            vec![owner(&old_rs, true)],
            Some("n1"),
            PodPhase::Running,
        ));
        // Terminating still counts.
        env.store
            .delete(Kind::Pod, "default", "old-1", &DeleteOptions::default())
            .unwrap();
        assert!(env.get(Kind::Pod, "old-1").meta().is_being_deleted());
        env.tick();
        env.create(pod(
            "new-1",
            vec![owner(&new_rs, true)],
            None,
            PodPhase::Pending,
        ));
        let v = env.check();
        assert_eq!(
            rules(&v),
            [Rule::DeploymentRecreateOverlap],
            "{}",
            format_violations(&v)
        );
        assert!(v[0].objects.contains(&ObjectKey::of(&old)));
        assert!(v[0].message.contains("terminating"), "{}", v[0]);
    }

    fn statefulset(env: &Env, when_scaled: PvcRetention) -> Arc<Object> {
        env.create(StatefulSet {
            meta: ObjectMeta::named("default", "db"),
            spec: StatefulSetSpec {
                replicas: 3,
                template: template("pg"),
                volume_claim_templates: vec![PvcTemplate {
                    name: Str::new("data"),
                    ..PvcTemplate::default()
                }],
                pvc_retention_when_scaled: when_scaled,
                ..StatefulSetSpec::default()
            },
            status: Default::default(),
        })
    }

    /// Force-deletes `db-0` from n1 (ready or not), then creates a replacement on n2.
    fn replace_db0(node1_ready: bool) -> Vec<Violation> {
        let mut env = Env::new();
        env.create(node("n1", 110));
        env.create(node("n2", 110));
        let sts = statefulset(&env, PvcRetention::Retain);
        env.create(pod(
            "db-0",
            vec![owner(&sts, true)],
            Some("n1"),
            PodPhase::Running,
        ));
        assert_eq!(env.check(), vec![]);
        env.node_ready("n1", node1_ready);
        env.store
            .delete(Kind::Pod, "default", "db-0", &DeleteOptions::grace(0))
            .unwrap();
        assert_eq!(env.check(), vec![]);
        env.create(pod(
            "db-0",
            vec![owner(&sts, true)],
            Some("n2"),
            PodPhase::Pending,
        ));
        let v = env.check();
        if !v.is_empty() {
            // The ghost ends when its node is deleted.
            env.store
                .delete(Kind::Node, "", "n1", &DeleteOptions::default())
                .unwrap();
            assert_eq!(env.check(), vec![]);
        }
        v
    }

    #[test]
    fn statefulset_identity_flags_a_replacement_beside_an_unconfirmed_pod() {
        let v = replace_db0(false);
        assert_eq!(
            rules(&v),
            [Rule::StatefulSetIdentity],
            "{}",
            format_violations(&v)
        );
        assert_eq!(
            v[0].objects,
            [
                ObjectKey::new(Kind::Pod, "default", "db-0"),
                ObjectKey::new(Kind::StatefulSet, "default", "db"),
                ObjectKey::new(Kind::Node, "", "n1"),
            ]
        );
        assert_eq!(replace_db0(true), vec![]);
    }

    #[test]
    fn statefulset_identity_uses_the_named_unreachable_nodes() {
        let mut env = Env::new();
        env.create(node("n1", 110));
        let sts = statefulset(&env, PvcRetention::Retain);
        env.create(pod(
            "db-1",
            vec![owner(&sts, true)],
            Some("n1"),
            PodPhase::Running,
        ));
        env.checker.set_unreachable_nodes(["n1"]);
        assert_eq!(env.check(), vec![]);
        env.store
            .delete(Kind::Pod, "default", "db-1", &DeleteOptions::grace(0))
            .unwrap();
        env.create(pod(
            "db-1",
            vec![owner(&sts, true)],
            None,
            PodPhase::Pending,
        ));
        assert_eq!(rules(&env.check()), [Rule::StatefulSetIdentity]);
        // The node comes back: its kubelet kills the old containers.
        env.checker.set_unreachable_nodes(Vec::<String>::new());
        assert_eq!(env.check(), vec![]);
    }

    #[test]
    fn statefulset_identity_named_nodes_override_a_lagging_ready_condition() {
        // The caller names the stopped kubelets: n1's kubelet runs again, though its
        // Ready condition is still not True (no heartbeat yet). Its final delete of
        // db-0 confirms the containers stopped: the replacement is no violation.
        let mut env = Env::new();
        env.create(node("n1", 110));
        let sts = statefulset(&env, PvcRetention::Retain);
        env.create(pod(
            "db-0",
            vec![owner(&sts, true)],
            Some("n1"),
            PodPhase::Running,
        ));
        env.checker.set_unreachable_nodes(Vec::<String>::new());
        assert_eq!(env.check(), vec![]);
        env.node_ready("n1", false);
        env.store
            .delete(Kind::Pod, "default", "db-0", &DeleteOptions::grace(0))
            .unwrap();
        env.create(pod(
            "db-0",
            vec![owner(&sts, true)],
            Some("n1"),
            PodPhase::Running,
        ));
        assert_eq!(env.check(), vec![]);
        // Named, the same node is unreachable whatever its condition says.
        env.node_ready("n1", true);
        env.checker.set_unreachable_nodes(["n1"]);
        env.store
            .delete(Kind::Pod, "default", "db-0", &DeleteOptions::grace(0))
            .unwrap();
        assert_eq!(env.check(), vec![]);
        env.create(pod(
            "db-0",
            vec![owner(&sts, true)],
            None,
            PodPhase::Pending,
        ));
        assert_eq!(rules(&env.check()), [Rule::StatefulSetIdentity]);
    }

    /// Deletes a claim; `owner`: none, "sts" or "pod".
    fn delete_claim_owned(
        when_scaled: PvcRetention,
        claim: &str,
        owner_kind: &str,
    ) -> Vec<Violation> {
        let mut env = Env::new();
        let sts = statefulset(&env, when_scaled);
        let mut meta = ObjectMeta::named("default", claim);
        match owner_kind {
            "sts" => meta.owner_references = vec![owner(&sts, false)].into(),
            "pod" => {
                let p = env.create(pod(
                    "db-4",
                    vec![owner(&sts, true)],
                    None,
                    PodPhase::Pending,
                ));
                meta.owner_references = vec![owner(&p, false)].into();
            }
            _ => {}
        }
        env.create(PersistentVolumeClaim {
            meta,
            spec: Default::default(),
            status: Default::default(),
        });
        assert_eq!(env.check(), vec![]);
        env.store
            .delete(
                Kind::PersistentVolumeClaim,
                "default",
                claim,
                &DeleteOptions::default(),
            )
            .unwrap();
        env.check()
    }

    #[test]
    fn acknowledged_deletions_are_not_violations() {
        let key = ObjectKey::new(Kind::Pod, "default", "db-0");
        for ack_before_check in [true, false] {
            let mut env = Env::new();
            env.create(node("n1", 110));
            let sts = statefulset(&env, PvcRetention::Retain);
            env.create(pod(
                "db-0",
                vec![owner(&sts, true)],
                Some("n1"),
                PodPhase::Running,
            ));
            env.create(PersistentVolumeClaim {
                meta: ObjectMeta::named("default", "data-db-0"),
                spec: Default::default(),
                status: Default::default(),
            });
            assert_eq!(env.check(), vec![]);
            env.node_ready("n1", false);
            env.store
                .delete(Kind::Pod, "default", "db-0", &DeleteOptions::grace(0))
                .unwrap();
            env.store
                .delete(
                    Kind::PersistentVolumeClaim,
                    "default",
                    "data-db-0",
                    &DeleteOptions::default(),
                )
                .unwrap();
            env.checker.acknowledge_deletion(&ObjectKey::new(
                Kind::PersistentVolumeClaim,
                "default",
                "data-db-0",
            ));
            if ack_before_check {
                env.checker.acknowledge_deletion(&key);
                assert_eq!(env.check(), vec![]);
            } else {
                assert_eq!(env.check(), vec![]); // the ghost is recorded
                env.checker.acknowledge_deletion(&key);
            }
            env.create(pod(
                "db-0",
                vec![owner(&sts, true)],
                None,
                PodPhase::Pending,
            ));
            assert_eq!(
                env.check(),
                vec![],
                "acknowledged before check: {ack_before_check}"
            );
        }
    }

    fn delete_claim(when_scaled: PvcRetention, claim: &str) -> Vec<Violation> {
        delete_claim_owned(when_scaled, claim, "")
    }

    #[test]
    fn pvc_retention_flags_a_retained_claim_deleted() {
        let v = delete_claim(PvcRetention::Retain, "data-db-4");
        assert_eq!(rules(&v), [Rule::StatefulSetPvcRetained]);
        assert!(v[0].message.contains("ordinal 4"), "{}", v[0]);
        assert_eq!(delete_claim(PvcRetention::Delete, "data-db-4"), vec![]);
        assert_eq!(delete_claim(PvcRetention::Retain, "logs-db-4"), vec![]);
        assert_eq!(delete_claim(PvcRetention::Retain, "data-db-x"), vec![]);
        // Owned by the live StatefulSet (whenDeleted: Delete): still a violation.
        let v = delete_claim_owned(PvcRetention::Retain, "data-db-1", "sts");
        assert_eq!(rules(&v), [Rule::StatefulSetPvcRetained]);
        // Owned by a pod: the garbage collector's cascade, not a scale-down's.
        assert_eq!(
            delete_claim_owned(PvcRetention::Retain, "data-db-4", "pod"),
            vec![]
        );
    }

    #[test]
    fn node_over_allocatable_counts_bound_non_terminal_pods() {
        let mut env = Env::new();
        env.create(node("n1", 2));
        env.create(pod("a", vec![], Some("n1"), PodPhase::Running));
        env.create(pod("b", vec![], Some("n1"), PodPhase::Succeeded));
        env.create(pod("c", vec![], Some("n1"), PodPhase::Pending));
        assert_eq!(env.check(), vec![]);
        let mut d = pod("d", vec![], Some("n1"), PodPhase::Running);
        d.meta.set_deletion(Timestamp::VIRTUAL_EPOCH, Some(30));
        env.create(d); // a terminating pod still counts
        let v = env.check();
        assert_eq!(rules(&v), [Rule::NodeOverAllocatable]);
        assert!(v[0].message.contains("pods 3 > 2"), "{}", v[0]);
    }

    fn foreground_env() -> (Env, Arc<Object>) {
        let env = Env::new();
        let o = env.create(ConfigMap {
            meta: ObjectMeta::named("default", "owner"),
            data: vec![],
        });
        let mut meta = ObjectMeta::named("default", "dep");
        meta.owner_references = vec![owner(&o, false)].into();
        env.create(ConfigMap { meta, data: vec![] });
        env.store
            .delete(
                Kind::ConfigMap,
                "default",
                "owner",
                &DeleteOptions::propagation(PropagationPolicy::Foreground),
            )
            .unwrap();
        (env, o)
    }

    fn drop_finalizers(env: &Env, name: &str) {
        let mut o = (*env.get(Kind::ConfigMap, name)).clone();
        o.meta_mut().finalizers = Default::default();
        env.store.update(o).unwrap();
    }

    #[test]
    fn foreground_order_flags_an_owner_gone_before_its_blocking_dependent() {
        // Owner marked in one step, gone in the next (the mirror carries the state).
        let (mut env, _) = foreground_env();
        assert_eq!(env.check(), vec![]);
        drop_finalizers(&env, "owner");
        assert!(env
            .store
            .try_get(Kind::ConfigMap, "default", "owner")
            .is_none());
        let v = env.check();
        assert_eq!(
            rules(&v),
            [Rule::GcForegroundOrder],
            "{}",
            format_violations(&v)
        );
        assert_eq!(
            v[0].objects,
            [
                ObjectKey::new(Kind::ConfigMap, "default", "owner"),
                ObjectKey::new(Kind::ConfigMap, "default", "dep"),
            ]
        );
        // All in one step.
        let (mut env, _) = foreground_env();
        drop_finalizers(&env, "owner");
        assert_eq!(rules(&env.check()), [Rule::GcForegroundOrder]);
        // The right order: dependent first.
        let (mut env, _) = foreground_env();
        assert_eq!(env.check(), vec![]);
        env.store
            .delete(Kind::ConfigMap, "default", "dep", &DeleteOptions::default())
            .unwrap();
        drop_finalizers(&env, "owner");
        assert_eq!(env.check(), vec![]);
    }

    #[test]
    fn a_user_re_delete_of_a_foreground_owner_is_acknowledged() {
        for acknowledge in [false, true] {
            let (mut env, o) = foreground_env();
            assert_eq!(env.check(), vec![]);
            if acknowledge {
                env.checker.acknowledge_deletion(&ObjectKey::of(&o));
            }
            // Background drops the foregroundDeletion finalizer: the owner goes.
            let gone = env
                .store
                .delete(
                    Kind::ConfigMap,
                    "default",
                    "owner",
                    &DeleteOptions::propagation(PropagationPolicy::Background),
                )
                .unwrap();
            assert!(gone.is_gone());
            let v = env.check();
            if acknowledge {
                assert_eq!(v, vec![]);
            } else {
                assert_eq!(rules(&v), [Rule::GcForegroundOrder]);
            }
        }
    }

    #[test]
    fn gc_settled_is_checked_only_when_settled() {
        let mut env = Env::new();
        let o = env.create(ConfigMap {
            meta: ObjectMeta::named("default", "owner"),
            data: vec![],
        });
        let mut meta = ObjectMeta::named("default", "dep");
        meta.owner_references = vec![owner(&o, false)].into();
        env.create(ConfigMap { meta, data: vec![] });
        assert_eq!(env.settled(), vec![]);
        env.store
            .delete(
                Kind::ConfigMap,
                "default",
                "owner",
                &DeleteOptions::default(),
            )
            .unwrap();
        assert_eq!(env.check(), vec![]);
        let v = env.settled();
        assert_eq!(rules(&v), [Rule::GcSettled], "{}", format_violations(&v));
        assert_eq!(
            v[0].objects,
            [ObjectKey::new(Kind::ConfigMap, "default", "dep")]
        );
    }

    #[test]
    fn running_pod_on_missing_node_is_flagged_when_settled() {
        let mut env = Env::new();
        env.create(node("n1", 110));
        env.create(pod("a", vec![], Some("n1"), PodPhase::Running));
        env.create(pod("b", vec![], Some("gone"), PodPhase::Pending));
        assert_eq!(env.settled(), vec![]);
        env.create(pod("c", vec![], Some("gone"), PodPhase::Running));
        assert_eq!(env.check(), vec![]);
        let v = env.settled();
        assert_eq!(rules(&v), [Rule::PodOnMissingNode]);
        assert_eq!(v[0].objects[0], ObjectKey::new(Kind::Pod, "default", "c"));
    }

    fn address(pod: &str) -> EndpointAddress {
        EndpointAddress {
            ip: Ipv4Addr::new(10, 0, 0, 1),
            hostname: None,
            node_name: None,
            target_ref: Some(ObjectRef {
                kind: Kind::Pod,
                namespace: Str::new("default"),
                name: Str::new(pod),
                uid: None,
            }),
        }
    }

    #[test]
    fn endpoints_flag_a_not_ready_pod_published_as_ready() {
        let mut env = Env::new();
        env.create(node("n1", 110));
        env.create(pod("up", vec![], Some("n1"), PodPhase::Running));
        env.create(pod("starting", vec![], Some("n1"), PodPhase::Pending));
        env.create(Endpoints {
            meta: ObjectMeta::named("default", "web"),
            subsets: vec![EndpointSubset {
                addresses: vec![address("up")],
                not_ready_addresses: vec![address("starting")],
                ports: vec![],
            }],
        });
        assert_eq!(env.settled(), vec![]);
        env.create(Endpoints {
            meta: ObjectMeta::named("default", "bad"),
            subsets: vec![EndpointSubset {
                addresses: vec![address("starting")],
                not_ready_addresses: vec![],
                ports: vec![],
            }],
        });
        assert_eq!(env.check(), vec![]);
        let v = env.settled();
        assert_eq!(rules(&v), [Rule::EndpointsNotReady]);
        assert!(v[0].message.contains("not Ready"), "{}", v[0]);
    }

    #[test]
    fn replica_set_over_replicas_is_flagged_when_settled() {
        let mut env = Env::new();
        let rs = env.create(ReplicaSet {
            meta: ObjectMeta::named("default", "web"),
            spec: ReplicaSetSpec {
                replicas: 1,
                template: template("v1"),
                ..ReplicaSetSpec::default()
            },
            status: Default::default(),
        });
        env.create(pod("a", vec![owner(&rs, true)], None, PodPhase::Pending));
        env.create(pod("b", vec![owner(&rs, true)], None, PodPhase::Failed));
        assert_eq!(env.settled(), vec![]);
        env.create(pod("c", vec![owner(&rs, true)], None, PodPhase::Pending));
        let v = env.settled();
        assert_eq!(rules(&v), [Rule::ReplicaSetOverReplicas]);
        assert!(
            v[0].message.contains("2 active pods with spec.replicas 1"),
            "{}",
            v[0]
        );
    }

    #[test]
    fn an_expired_watch_starts_over_with_every_object() {
        let store = Store::with_config(StoreConfig {
            watch_window: 4,
            ..StoreConfig::default()
        });
        let mut checker = InvariantChecker::new(&store);
        let a = store
            .create(Object::from(ConfigMap {
                meta: ObjectMeta::named("default", "a"),
                data: vec![],
            }))
            .unwrap();
        for i in 0..10 {
            store
                .create(Object::from(pod(
                    &format!("p{i}"),
                    vec![],
                    None,
                    PodPhase::Pending,
                )))
                .unwrap();
        }
        let bad = pod(
            "bad",
            vec![owner(&a, true), owner(&a, true)],
            None,
            PodPhase::Pending,
        );
        store.create(Object::from(bad)).unwrap();
        for i in 10..20 {
            store
                .create(Object::from(pod(
                    &format!("p{i}"),
                    vec![],
                    None,
                    PodPhase::Pending,
                )))
                .unwrap();
        }
        let v = checker.check(&store);
        assert_eq!(checker.resyncs(), 1);
        assert_eq!(
            rules(&v),
            [Rule::SingleController],
            "{}",
            format_violations(&v)
        );
        // Watching again from the resync on.
        assert_eq!(rules(&checker.check(&store)), []);
        assert_eq!(checker.resyncs(), 1);
    }

    #[test]
    fn settled_only_rules_are_the_convergence_ones() {
        let settled: Vec<Rule> = Rule::ALL.into_iter().filter(|r| r.settled_only()).collect();
        assert_eq!(
            settled,
            [
                Rule::GcSettled,
                Rule::PodOnMissingNode,
                Rule::EndpointsNotReady,
                Rule::ReplicaSetOverReplicas
            ]
        );
        let _ = Namespace {
            meta: ObjectMeta::default(),
            phase: NamespacePhase::Active,
        };
    }
}
