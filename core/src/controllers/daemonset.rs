//! The DaemonSet controller: one pod per eligible node (upstream
//! `pkg/controller/daemon`).
//!
//! # Keys and events
//!
//! Keys are DaemonSets. [`DaemonSetController`]'s `map_event`:
//!
//! - a DaemonSet event → its own key;
//! - a Pod whose controller reference names an existing DaemonSet (same uid) → that
//!   DaemonSet; an `Added` event lowers its create expectations, a `Deleted` event or
//!   a pod being deleted lowers its delete expectations (by pod name, as upstream's
//!   `UIDTrackingControllerExpectations`);
//! - a Pod without a controller, not being deleted → every DaemonSet of its namespace
//!   whose selector matches (adoption);
//! - a Node added or deleted → every DaemonSet; a Node change → every DaemonSet only
//!   when what decides placement changed (labels, taints, `unschedulable`, the Ready
//!   status): the controller keeps a fingerprint per node, updated in `map_event`
//!   (sequential per kind), so heartbeats cost nothing — upstream's
//!   `shouldIgnoreNodeUpdate`.
//!
//! # A reconcile (`syncDaemonSet`)
//!
//! 1. A DaemonSet that is gone: its expectations are dropped.
//! 2. **Claim** ([`claim_pods`], `ControllerRefManager.ClaimPods`): pods owned by the
//!    DaemonSet (matching → kept, whatever their phase or deletion state; no longer
//!    matching → released), orphans matching the selector and not being deleted →
//!    adopted (not while the DaemonSet is being deleted). This is how a DaemonSet
//!    re-created after an orphaning delete takes its old pods back.
//! 3. Pods are grouped by **target node**: `spec.nodeName`, else the node the pod is
//!    pinned to (see *Placement*). Unbound pods whose target node no longer exists are
//!    deleted (upstream `getUnscheduledPodsWithoutNode`); bound pods of a deleted node
//!    are pod GC's.
//! 4. **Manage** (only when expectations are satisfied or expired, and the DaemonSet is
//!    not being deleted), per node, with [`node_should_run`] → `(shouldRun,
//!    shouldContinueRunning)` (upstream `podsShouldBeOnNode`):
//!    - should run, no pod → create one;
//!    - should continue running: failed pods are deleted (Warning `FailedDaemonPod`);
//!      of the others (not being deleted) all but the first — bound before unbound,
//!      then oldest (upstream `podByCreationTimestampAndPhase`) — are deleted; none left and
//!      should run → create one (a pod still terminating does not block its
//!      replacement, as upstream);
//!    - should not continue running → every pod not already being deleted is deleted.
//!
//!    Creates go out in slow-start batches (at most [`BURST_REPLICAS`] per sync),
//!    deletes with a uid precondition; expectations record both. Events as upstream's
//!    pod control: `SuccessfulCreate` `Created pod: <name>`, `FailedCreate`,
//!    `SuccessfulDelete` `Deleted pod: <name>`, `FailedDelete`.
//! 5. **Rolling update** (strategy `RollingUpdate`, only when manage left the
//!    expectations satisfied — i.e. it had nothing to do), upstream's
//!    `rollingUpdate` ([`rolling_update_plan`]). `maxUnavailable` and `maxSurge` are
//!    resolved against `desiredNumberScheduled` (percent rounded up; both 0 →
//!    `maxUnavailable` 1, [`rolling_budget`]). Without surge, nodes in name order:
//!    a node with only a new pod that is not available counts as unavailable; a node
//!    with only an old pod that is not available may be replaced at once; other old
//!    pods are candidates while the count of unavailable nodes is below
//!    `maxUnavailable`; then the unavailable-old pods plus `maxUnavailable −
//!    unavailable` candidates are deleted, and manage creates their replacements (with
//!    the new template) on the next sync. With `maxSurge` > 0 (`maxUnavailable` is
//!    then not used, as upstream): a node whose old pod is unavailable gets a new pod
//!    at once; up to `maxSurge` nodes with an available old pod get a new pod next to
//!    it (nodes still waiting for their new pod to become available count against
//!    it); an old pod is deleted once the new pod on its node is available; manage
//!    keeps at most the oldest new and the oldest old pod per node and deletes the
//!    old one when it is not ready or the new one is available. `OnDelete`: nothing;
//!    new pods appear only when old ones are deleted by hand.
//! 6. **Status** (`updateDaemonSetStatus`), written only when it changed:
//!    `desiredNumberScheduled` (nodes that should run the pod),
//!    `currentNumberScheduled` (of those, nodes with a pod), `numberMisscheduled`
//!    (nodes with a pod that should not run it), and over the first pod (in the
//!    order above: bound first, then oldest) of each node that should run one:
//!    `numberReady`, `numberAvailable` (ready for `minReadySeconds`),
//!    `updatedNumberScheduled`; `numberUnavailable = desired − available`;
//!    `observedGeneration`. Only pods both terminal and being deleted are left out
//!    (upstream `getNodesToDaemonPods(ds, includeDeletedTerminal=false)`): a pod in
//!    its graceful termination still counts — numberReady stays up until its
//!    containers stop, numberMisscheduled until it is gone — while manage and the
//!    rolling update ignore pods being deleted.
//! 7. **Requeue**: while expectations are pending, at their expiry; when a ready pod
//!    becomes available later, after the time left.
//!
//! # Placement: pinned by nodeSelector, bound by the scheduler
//!
//! Upstream (since 1.12) creates each daemon pod with a required node affinity
//! `matchFields metadata.name In [<node>]` and lets the default scheduler bind it.
//! kubesim's scheduler models `nodeSelector` only, and every kubesim Node carries
//! `kubernetes.io/hostname=<name>` (set by [`crate::cluster::node_object`]), so a
//! daemon pod gets the template's `nodeSelector` plus `kubernetes.io/hostname: <node>`
//! — the same restriction in the form the scheduler understands. The scheduler then
//! binds it, with its usual checks (resources, host ports, taints): a daemon pod that
//! does not fit stays Pending, as upstream. The pod's target node is its `nodeName`,
//! else that selector value ([`target_node`], upstream `GetTargetNodeName`).
//!
//! Daemon pods get upstream's default tolerations ([`with_daemon_tolerations`],
//! `AddOrUpdateDaemonPodTolerations`): `node.kubernetes.io/not-ready` and
//! `unreachable` (`Exists`, `NoExecute`, forever), `disk-pressure`,
//! `memory-pressure`, `pid-pressure` and `unschedulable` (`Exists`, `NoSchedule`), and
//! `network-unavailable` (`NoSchedule`) for host-network pods. So a daemon pod lands
//! on a cordoned node and is never evicted from a failing one.
//!
//! # Which nodes (upstream `NodeShouldRunDaemonPod`)
//!
//! [`node_should_run`]: the pod (template plus default tolerations) must match the
//! node's labels by its `nodeSelector` (required node affinity is not modelled);
//! every `NoSchedule`/`NoExecute` taint in the node's `spec.taints` must be tolerated,
//! otherwise the node should not get a new pod but an existing one keeps running if
//! every `NoExecute` taint is tolerated. The Ready condition itself is not looked at:
//! a node that is not Ready keeps its daemon pod. (The node lifecycle controller's
//! `not-ready`/`unreachable` `NoSchedule` taints are not among the defaults, so, as
//! upstream, a deleted daemon pod on such a node is re-created once the node is Ready
//! again.)
//!
//! # Updated pods
//!
//! ControllerRevisions are not modelled. The revision hash is [`template_hash`] of
//! the pod template (FNV-32a, safe-encoded, like upstream's `ComputeHash`; the input is
//! kubesim's canonical form of the template, not upstream's JSON patch, so values
//! differ from a real cluster's). New pods carry `controller-revision-hash: <hash>` and
//! the deprecated `pod-template-generation: <metadata.generation>`; a pod is updated
//! when either label matches ([`is_pod_updated`], upstream `IsPodUpdated`).
//!
//! # Simplifications (stated)
//!
//! - No ControllerRevision objects or history cleanup, no failed-pod backoff (a failed
//!   daemon pod is deleted and replaced at the next sync), no required node affinity
//!   beyond `nodeSelector`.
//! - Adoption and release are resourceVersion-preconditioned updates (upstream: a
//!   uid-preconditioned patch); a conflict requeues the key.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::replicaset::{Expectations, ExpectationsCache};
use crate::dispatch::stable_hash;
use crate::intern::{intern, SharedList, Str, StrMap};
use crate::model::{
    DaemonSet, DaemonSetStatus, DaemonSetUpdateStrategy, EventType, Kind, Node, Object, ObjectKey,
    ObjectMeta, OwnerReference, Pod, PodPhase, PodSpec, PodStatus, PodTemplateSpec, TaintEffect,
    Toleration, TolerationOperator,
};
use crate::runtime::{
    route_key, route_object, Controller, Ctx, ReconcileError, Requeue, Routed, StoreView,
    WriteResult,
};
use crate::selector::LabelSelector;
use crate::store::{DeleteOptions, WatchEvent, WatchEventType};
use crate::time::Timestamp;

/// The controller's name (the `source` of its Events), as upstream's.
pub const CONTROLLER_NAME: &str = "daemonset-controller";

/// Most creates or deletes issued in one sync (upstream's DaemonSet `BurstReplicas`).
pub const BURST_REPLICAS: usize = 250;

/// The pod label holding the revision hash (upstream `DefaultDaemonSetUniqueLabelKey`).
pub const LABEL_REVISION_HASH: &str = "controller-revision-hash";

/// The deprecated pod label holding the DaemonSet's generation at creation.
pub const LABEL_TEMPLATE_GENERATION: &str = "pod-template-generation";

/// The node label daemon pods are pinned with (see the module docs, *Placement*).
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";

/// Taint keys of upstream's default daemon-pod tolerations.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// See [`TAINT_NOT_READY`].
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// See [`TAINT_NOT_READY`].
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// See [`TAINT_NOT_READY`].
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// See [`TAINT_NOT_READY`].
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// See [`TAINT_NOT_READY`].
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// See [`TAINT_NOT_READY`] (host-network pods only).
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// 32-bit FNV-1a of `bytes`.
pub fn fnv32a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Upstream's `rand.SafeEncodeString`: each byte mapped into an alphabet without
/// vowels or look-alike characters.
pub fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// The revision hash of a pod template: FNV-32a over kubesim's canonical (Debug) form
/// of the template, its decimal value safe-encoded (upstream `ComputeHash` shape).
pub fn template_hash(template: &PodTemplateSpec) -> String {
    safe_encode(&fnv32a(format!("{template:?}").as_bytes()).to_string())
}

/// Whether a (non-empty) selector selects these labels; an empty one selects nothing.
pub(crate) fn selects(selector: &LabelSelector, labels: &StrMap) -> bool {
    !selector.is_empty() && selector.matches(labels)
}

/// Claims the pods of a workload (upstream `ClaimPods`): candidates are the pods of
/// `meta`'s namespace matching `selector` and the pods it owns. Owned and matching →
/// claimed (whatever their phase or deletion state); owned but not matching →
/// released; orphans that match and are not being deleted → adopted (an update adding
/// a controller reference of `kind`). Nothing is adopted or released while the owner
/// is being deleted. Returns the claimed pods in name order.
///
/// # Errors
///
/// A failed list.
pub fn claim_pods(
    ctx: &mut Ctx<'_>,
    kind: Kind,
    meta: &ObjectMeta,
    selector: &LabelSelector,
) -> Result<Vec<Arc<Object>>, ReconcileError> {
    let store = ctx.store();
    let ns = meta.namespace.as_str();
    let uid = meta.uid;
    let deleting = meta.is_being_deleted();
    let mut candidates: BTreeMap<Str, Arc<Object>> = BTreeMap::new();
    if !selector.is_empty() {
        let matching = store
            .list(Kind::Pod, Some(ns), Some(selector), None)
            .map_err(ReconcileError::new)?;
        candidates.extend(matching.into_iter().map(|p| (p.name().clone(), p)));
    }
    for p in store.dependents_of(uid) {
        if p.kind() == Kind::Pod && p.namespace().as_str() == ns {
            candidates.insert(p.name().clone(), p);
        }
    }
    let own_ref = OwnerReference {
        kind,
        name: meta.name.clone(),
        uid,
        controller: true,
        block_owner_deletion: true,
    };
    let mut claimed = Vec::new();
    for obj in candidates.into_values() {
        let matches = selects(selector, obj.labels());
        match obj.meta().controller_ref() {
            Some(r) if r.uid == uid => {
                if matches {
                    claimed.push(obj);
                } else if !deleting {
                    let mut new = (*obj).clone();
                    new.meta_mut()
                        .owner_references
                        .update(|v| v.retain(|r| r.uid != uid));
                    ctx.update(new);
                }
            }
            Some(_) => {}
            None if matches && !deleting && !obj.meta().is_being_deleted() => {
                let mut new = (*obj).clone();
                new.meta_mut()
                    .owner_references
                    .update(|v| v.push(own_ref.clone()));
                ctx.update(new);
                claimed.push(obj);
            }
            None => {}
        }
    }
    Ok(claimed)
}

/// Upstream's default daemon-pod tolerations added to `tolerations` (an identical
/// toleration differing only in `tolerationSeconds` is replaced, as
/// `AddOrUpdateTolerationInPodSpec`).
pub fn with_daemon_tolerations(tolerations: &[Toleration], host_network: bool) -> Vec<Toleration> {
    let mut out = tolerations.to_vec();
    let mut defaults = vec![
        (TAINT_NOT_READY, TaintEffect::NoExecute),
        (TAINT_UNREACHABLE, TaintEffect::NoExecute),
        (TAINT_DISK_PRESSURE, TaintEffect::NoSchedule),
        (TAINT_MEMORY_PRESSURE, TaintEffect::NoSchedule),
        (TAINT_PID_PRESSURE, TaintEffect::NoSchedule),
        (TAINT_UNSCHEDULABLE, TaintEffect::NoSchedule),
    ];
    if host_network {
        defaults.push((TAINT_NETWORK_UNAVAILABLE, TaintEffect::NoSchedule));
    }
    for (key, effect) in defaults {
        let t = Toleration {
            key: Some(intern(key)),
            operator: TolerationOperator::Exists,
            value: None,
            effect: Some(effect),
            toleration_seconds: None,
        };
        let same = |o: &Toleration| {
            o.key == t.key && o.operator == t.operator && o.value == t.value && o.effect == t.effect
        };
        match out.iter_mut().find(|o| same(o)) {
            Some(o) => *o = t,
            None => out.push(t),
        }
    }
    out
}

/// Upstream `NodeShouldRunDaemonPod`: `(should_run, should_continue_running)` for the
/// DaemonSet's pod on `node` (see the module docs, *Which nodes*).
pub fn node_should_run(ds: &DaemonSet, node: &Node) -> (bool, bool) {
    let spec = &ds.spec.template.spec;
    if !node.meta.labels.contains_all(&spec.node_selector) {
        return (false, false);
    }
    let hard = |e: TaintEffect| matches!(e, TaintEffect::NoSchedule | TaintEffect::NoExecute);
    if !node.spec.taints.iter().any(|t| hard(t.effect)) {
        return (true, true); // the common case, without building the tolerations
    }
    let tolerations = with_daemon_tolerations(&spec.tolerations, spec.host_network);
    let untolerated = |effects: &[TaintEffect]| {
        node.spec
            .taints
            .iter()
            .filter(|t| effects.contains(&t.effect))
            .any(|t| !tolerations.iter().any(|tol| tol.tolerates(t)))
    };
    if untolerated(&[TaintEffect::NoSchedule, TaintEffect::NoExecute]) {
        return (false, !untolerated(&[TaintEffect::NoExecute]));
    }
    (true, true)
}

/// The node a daemon pod is for (upstream `GetTargetNodeName`): its `nodeName`, else
/// the `kubernetes.io/hostname` of its `nodeSelector`.
pub fn target_node(pod: &Pod) -> Option<&Str> {
    pod.node_name
        .as_ref()
        .or_else(|| pod.spec.node_selector.get(LABEL_HOSTNAME))
}

/// Upstream `IsPodUpdated`: the pod's `controller-revision-hash` is `hash`, or its
/// `pod-template-generation` is `generation`.
pub fn is_pod_updated(pod: &Pod, hash: &str, generation: i64) -> bool {
    let labels = &pod.meta.labels;
    labels.get(LABEL_REVISION_HASH).map(Str::as_str) == Some(hash)
        || labels
            .get(LABEL_TEMPLATE_GENERATION)
            .is_some_and(|g| g.as_str() == generation.to_string())
}

/// The spec of the DaemonSet's pod for `node`: the template's, pinned to the node by
/// `nodeSelector` and with the default daemon tolerations.
pub fn daemon_pod_spec(ds: &DaemonSet, node: &str) -> PodSpec {
    let mut spec = (*ds.spec.template.spec).clone();
    spec.node_selector = spec.node_selector.with(LABEL_HOSTNAME, node);
    spec.tolerations = with_daemon_tolerations(&spec.tolerations, spec.host_network);
    spec
}

/// A new daemon pod for `node`: `generateName: <ds>-`, the template's labels plus the
/// revision labels, its annotations, [`daemon_pod_spec`], and `owner_refs`.
pub fn new_daemon_pod(
    ds: &DaemonSet,
    node: &str,
    labels: &StrMap,
    owner_refs: &SharedList<OwnerReference>,
) -> Object {
    Object::from(Pod {
        meta: ObjectMeta {
            namespace: ds.meta.namespace.clone(),
            generate_name: Some(Str::from(format!("{}-", ds.meta.name))),
            labels: labels.clone(),
            annotations: ds.spec.template.meta.annotations.clone(),
            owner_references: owner_refs.clone(),
            ..ObjectMeta::default()
        },
        spec: Arc::new(daemon_pod_spec(ds, node)),
        node_name: None,
        status: PodStatus::default(),
    })
}

/// Upstream `podByCreationTimestampAndPhase`: bound pods first, then oldest first,
/// then by name.
fn by_age(a: &Arc<Object>, b: &Arc<Object>) -> std::cmp::Ordering {
    let unbound = |o: &Arc<Object>| o.as_pod().is_none_or(|p| p.node_name.is_none());
    unbound(a)
        .cmp(&unbound(b))
        .then_with(|| {
            a.meta()
                .creation_timestamp
                .cmp(&b.meta().creation_timestamp)
        })
        .then_with(|| a.name().cmp(b.name()))
}

/// Manage with surge (upstream `podsShouldBeOnNode` when surging): of a node's
/// running pods, the oldest at the revision `hash` and the oldest other one are kept,
/// every other is returned for deletion; the old one too when it is not ready or the
/// new one is available.
fn surge_extras(
    running: &mut [Arc<Object>],
    hash: &str,
    ds: &DaemonSet,
    now: Timestamp,
) -> Vec<Arc<Object>> {
    running.sort_by(by_age);
    let mut extras = Vec::new();
    let mut oldest_new: Option<&Arc<Object>> = None;
    let mut oldest_old: Option<&Arc<Object>> = None;
    for o in running.iter() {
        let is_new = o.labels().get(LABEL_REVISION_HASH).map(Str::as_str) == Some(hash);
        let slot = if is_new {
            &mut oldest_new
        } else {
            &mut oldest_old
        };
        if slot.is_none() {
            *slot = Some(o);
        } else {
            extras.push(Arc::clone(o));
        }
    }
    if let (Some(n), Some(o)) = (oldest_new, oldest_old) {
        let old_ready = o.as_pod().is_some_and(|p| p.is_ready());
        let new_available = n
            .as_pod()
            .is_some_and(|p| p.is_available(ds.spec.min_ready_seconds, now));
        if !old_ready || new_available {
            extras.push(Arc::clone(o));
        }
    }
    extras
}

/// The pods among `pods` that status counts (upstream `getNodesToDaemonPods` with
/// `includeDeletedTerminal = false`): all but those both terminal and being deleted.
/// A still-running pod in its graceful termination counts.
fn counted_for_status(pods: &[Arc<Object>]) -> Vec<&Arc<Object>> {
    pods.iter()
        .filter(|o| {
            o.as_pod()
                .is_some_and(|p| !(p.status.phase.is_terminal() && p.meta.is_being_deleted()))
        })
        .collect()
}

/// The DaemonSet's status (upstream `updateDaemonSetStatus`) given the nodes and the
/// claimed pods by target node, and the time until a ready pod becomes available.
pub fn calculate_status(
    ds: &DaemonSet,
    nodes: &[Arc<Object>],
    by_node: &BTreeMap<Str, Vec<Arc<Object>>>,
    hash: &str,
    now: Timestamp,
) -> (DaemonSetStatus, Option<Duration>) {
    let mut s = DaemonSetStatus {
        observed_generation: ds.meta.generation,
        ..DaemonSetStatus::default()
    };
    let mut next: Option<Duration> = None;
    let min_ready = ds.spec.min_ready_seconds;
    for n in nodes {
        let Some(node) = n.as_node() else { continue };
        let (should_run, _) = node_should_run(ds, node);
        let mut pods = by_node
            .get(&node.meta.name)
            .map(|v| counted_for_status(v))
            .unwrap_or_default();
        let scheduled = !pods.is_empty();
        if should_run {
            s.desired_number_scheduled += 1;
            if scheduled {
                s.current_number_scheduled += 1;
                pods.sort_by(|a, b| by_age(a, b));
                let Some(pod) = pods[0].as_pod() else {
                    continue;
                };
                if pod.is_ready() {
                    s.number_ready += 1;
                    if pod.is_available(min_ready, now) {
                        s.number_available += 1;
                    } else {
                        let at = pod
                            .status
                            .conditions
                            .ready
                            .since
                            .plus(Duration::from_secs(min_ready.max(0) as u64));
                        let left = at.since(now).max(Duration::from_millis(1));
                        next = Some(next.map_or(left, |n| n.min(left)));
                    }
                }
                if is_pod_updated(pod, hash, ds.meta.generation) {
                    s.updated_number_scheduled += 1;
                }
            }
        } else if scheduled {
            s.number_misscheduled += 1;
        }
    }
    s.number_unavailable = (s.desired_number_scheduled - s.number_available).max(0);
    (s, next)
}

/// `(maxUnavailable, maxSurge)` of a RollingUpdate DaemonSet resolved against
/// `desired` nodes (percentages rounded up), with upstream's fallback of
/// `maxUnavailable = 1` when both are 0 (`updatedDesiredNodeCounts`). `(0, 0)` for
/// OnDelete.
pub fn rolling_budget(ds: &DaemonSet, desired: i32) -> (i32, i32) {
    let DaemonSetUpdateStrategy::RollingUpdate {
        max_unavailable,
        max_surge,
    } = &ds.spec.update_strategy
    else {
        return (0, 0);
    };
    let mu = max_unavailable.scaled_value(desired, true).unwrap_or(0);
    let ms = max_surge.scaled_value(desired, true).unwrap_or(0);
    if desired > 0 && mu <= 0 && ms <= 0 {
        return (1, 0);
    }
    (mu.max(0), ms.max(0))
}

/// Upstream `rollingUpdate`: the pods to delete and the nodes to create a new pod on
/// now, given the pods by target node, `desired` and which nodes should run the pod
/// (see the module docs, step 5). Without surge only deletes; with surge, new pods
/// are created next to old ones and an old pod goes once its node's new pod is
/// available.
pub fn rolling_update_plan(
    ds: &DaemonSet,
    by_node: &BTreeMap<Str, Vec<Arc<Object>>>,
    desired: i32,
    hash: &str,
    now: Timestamp,
    should_run: &dyn Fn(&str) -> bool,
) -> (Vec<Arc<Object>>, Vec<Str>) {
    if !matches!(
        ds.spec.update_strategy,
        DaemonSetUpdateStrategy::RollingUpdate { .. }
    ) {
        return (Vec::new(), Vec::new());
    }
    let (max_unavailable, max_surge) = rolling_budget(ds, desired);
    let min_ready = ds.spec.min_ready_seconds;
    let available = |o: &Arc<Object>| o.as_pod().is_some_and(|p| p.is_available(min_ready, now));
    // Per node: (new pod, old pod), or None when there are several of a kind.
    let split = |pods: &[Arc<Object>]| {
        let mut new_pod: Option<Arc<Object>> = None;
        let mut old_pod: Option<Arc<Object>> = None;
        for o in pods {
            let Some(p) = o.as_pod() else { continue };
            if p.meta.is_being_deleted() {
                continue;
            }
            let slot = if is_pod_updated(p, hash, ds.meta.generation) {
                &mut new_pod
            } else {
                &mut old_pod
            };
            if slot.is_some() {
                return None;
            }
            *slot = Some(Arc::clone(o));
        }
        Some((new_pod, old_pod))
    };
    if max_surge == 0 {
        let mut unavailable = 0i32;
        let mut replace_now = Vec::new();
        let mut candidates = Vec::new();
        for pods in by_node.values() {
            let Some(pair) = split(pods) else {
                // Manage cleans up the duplicates first.
                unavailable += 1;
                continue;
            };
            match pair {
                (Some(n), None) if !available(&n) => unavailable += 1,
                (None, Some(o)) => {
                    if !available(&o) {
                        replace_now.push(o);
                    } else if unavailable < max_unavailable {
                        candidates.push(o);
                    }
                }
                _ => {}
            }
        }
        let remaining = (max_unavailable - unavailable).max(0) as usize;
        replace_now.extend(candidates.into_iter().take(remaining));
        return (replace_now, Vec::new());
    }
    let mut delete = Vec::new();
    let mut delete_not_run = Vec::new();
    let mut allowed_new: Vec<Str> = Vec::new();
    let mut candidate_new: Vec<Str> = Vec::new();
    let mut surging = 0i32;
    for (node, pods) in by_node {
        let Some(pair) = split(pods) else {
            surging += 1;
            continue;
        };
        match pair {
            (_, None) => {}
            (None, Some(o)) => {
                if !available(&o) {
                    if !should_run(node) {
                        delete_not_run.push(o);
                    } else {
                        allowed_new.push(node.clone());
                    }
                } else if surging < max_surge {
                    candidate_new.push(node.clone());
                }
            }
            (Some(n), Some(o)) => {
                if available(&n) {
                    delete.push(o);
                } else {
                    surging += 1;
                }
            }
        }
    }
    let remaining = (max_surge - surging).max(0) as usize;
    allowed_new.extend(candidate_new.into_iter().take(remaining));
    delete.extend(delete_not_run);
    (delete, allowed_new)
}

/// The DaemonSet controller (see the [module docs](self)).
#[derive(Debug, Default)]
pub struct DaemonSetController {
    expectations: ExpectationsCache,
    nodes: Mutex<HashMap<Str, u64>>,
}

impl DaemonSetController {
    /// A controller with no expectations.
    pub fn new() -> Self {
        Self::default()
    }

    /// The pending expectations of a DaemonSet, if any were set.
    pub fn expectations(&self, key: &ObjectKey) -> Option<Expectations> {
        self.expectations.get(key)
    }

    /// Whether a sync may create and delete pods (upstream `SatisfiedExpectations`).
    pub fn expectations_satisfied(&self, key: &ObjectKey, now: Timestamp) -> bool {
        self.expectations.satisfied(key, now)
    }

    fn all_daemon_sets(store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        if let Ok(sets) = store.list(Kind::DaemonSet, None, None, None) {
            out.extend(sets.iter().map(|ds| route_object(store, ds)));
        }
    }

    fn map_node(
        &self,
        type_: WatchEventType,
        node: &Node,
        store: StoreView<'_>,
        out: &mut Vec<Routed<ObjectKey>>,
    ) {
        let name = node.meta.name.clone();
        let changed = if type_ == WatchEventType::Deleted {
            self.nodes.lock().remove(&name);
            true
        } else {
            let fp = stable_hash(&(
                &node.meta.labels,
                &node.spec.taints,
                node.spec.unschedulable,
                node.ready_status(),
            ));
            self.nodes.lock().insert(name, fp) != Some(fp)
        };
        if changed {
            Self::all_daemon_sets(store, out);
        }
    }

    fn map_pod(
        &self,
        type_: WatchEventType,
        pod: &Pod,
        store: StoreView<'_>,
        out: &mut Vec<Routed<ObjectKey>>,
    ) {
        let ns = pod.meta.namespace.as_str();
        let gone = type_ == WatchEventType::Deleted || pod.meta.is_being_deleted();
        if let Some(r) = pod.meta.controller_ref() {
            if r.kind != Kind::DaemonSet {
                return;
            }
            let Some(ds) = store.try_get(Kind::DaemonSet, ns, &r.name) else {
                return;
            };
            if ds.meta().uid != r.uid {
                return;
            }
            let key = ObjectKey::of(&ds);
            if gone {
                self.expectations.deletion_observed(&key, &pod.meta.name);
            } else if type_ == WatchEventType::Added {
                self.expectations.creation_observed(&key, 1);
            }
            out.push(route_key(store, key));
            return;
        }
        if gone {
            return;
        }
        let Ok(sets) = store.list(Kind::DaemonSet, Some(ns), None, None) else {
            return;
        };
        for ds in sets {
            if ds
                .as_daemon_set()
                .is_some_and(|d| selects(&d.spec.selector, &pod.meta.labels))
            {
                out.push(route_object(store, &ds));
            }
        }
    }
}

impl Controller for DaemonSetController {
    fn name(&self) -> &'static str {
        CONTROLLER_NAME
    }

    fn primary(&self) -> Kind {
        Kind::DaemonSet
    }

    fn watches(&self) -> &[Kind] {
        &[Kind::Pod, Kind::Node]
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        match ev.object.as_ref() {
            Object::DaemonSet(_) => out.push(route_object(store, &ev.object)),
            Object::Pod(pod) => self.map_pod(ev.type_, pod, store, out),
            Object::Node(node) => self.map_node(ev.type_, node, store, out),
            _ => {}
        }
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        let store = ctx.store();
        let Some(obj) = store.get_key(key) else {
            self.expectations.forget(key);
            return Ok(Requeue::Done);
        };
        let Some(ds) = obj.as_daemon_set() else {
            return Err(ReconcileError::new(format!("{key} is not a DaemonSet")));
        };
        let now = ctx.now();
        let ns = ds.meta.namespace.as_str();
        let hash = template_hash(&ds.spec.template);

        let mut nodes = store
            .list(Kind::Node, None, None, None)
            .map_err(ReconcileError::new)?;
        nodes.sort_by(|a, b| a.name().cmp(b.name()));
        let node_names: HashSet<&Str> = nodes.iter().map(|n| n.name()).collect();

        let claimed = claim_pods(ctx, Kind::DaemonSet, &ds.meta, &ds.spec.selector)?;
        let mut by_node: BTreeMap<Str, Vec<Arc<Object>>> = BTreeMap::new();
        let mut orphaned_targets: Vec<Arc<Object>> = Vec::new();
        for o in &claimed {
            let Some(p) = o.as_pod() else { continue };
            match target_node(p) {
                Some(n) if node_names.contains(n) => {
                    by_node.entry(n.clone()).or_default().push(Arc::clone(o));
                }
                _ if p.node_name.is_none() && !p.meta.is_being_deleted() => {
                    orphaned_targets.push(Arc::clone(o));
                }
                _ => {}
            }
        }

        let should_run_on: HashSet<&str> = nodes
            .iter()
            .filter_map(|n| n.as_node())
            .filter(|n| node_should_run(ds, n).0)
            .map(|n| n.meta.name.as_str())
            .collect();
        let desired = should_run_on.len() as i32;
        let max_surge = rolling_budget(ds, desired).1;
        let deleting = ds.meta.is_being_deleted();
        let mut sync_writes = false;
        if !deleting && self.expectations_satisfied(key, now) {
            let mut create_on: Vec<Str> = Vec::new();
            let mut victims: Vec<Arc<Object>> = orphaned_targets;
            for n in &nodes {
                let Some(node) = n.as_node() else { continue };
                let (should_run, should_continue) = node_should_run(ds, node);
                let pods = by_node.get(&node.meta.name).cloned().unwrap_or_default();
                if should_run && pods.is_empty() {
                    create_on.push(node.meta.name.clone());
                } else if should_continue {
                    let mut running: Vec<Arc<Object>> = Vec::new();
                    for o in &pods {
                        let Some(p) = o.as_pod() else { continue };
                        if p.meta.is_being_deleted() {
                            continue;
                        }
                        if p.status.phase == PodPhase::Failed {
                            ctx.event(
                                &obj,
                                EventType::Warning,
                                "FailedDaemonPod",
                                format!(
                                    "Found failed daemon pod {ns}/{} on node {}, will try to kill it",
                                    p.meta.name, node.meta.name
                                ),
                            );
                            victims.push(Arc::clone(o));
                            continue;
                        }
                        running.push(Arc::clone(o));
                    }
                    if max_surge == 0 {
                        if running.len() > 1 {
                            running.sort_by(by_age);
                            victims.extend(running.drain(1..));
                        }
                    } else {
                        victims.extend(surge_extras(&mut running, &hash, ds, now));
                    }
                    if running.is_empty() && should_run {
                        create_on.push(node.meta.name.clone());
                    }
                } else {
                    victims.extend(
                        pods.iter()
                            .filter(|o| !o.meta().is_being_deleted())
                            .cloned(),
                    );
                }
            }
            create_on.truncate(BURST_REPLICAS);
            victims.truncate(BURST_REPLICAS);
            if !create_on.is_empty() || !victims.is_empty() {
                self.sync_nodes(key, ctx, &obj, ds, &hash, &create_on, &victims, now);
                sync_writes = true;
            }
            if !sync_writes {
                let runs = |n: &str| should_run_on.contains(n);
                let (victims, create_on) =
                    rolling_update_plan(ds, &by_node, desired, &hash, now, &runs);
                if !victims.is_empty() || !create_on.is_empty() {
                    self.sync_nodes(key, ctx, &obj, ds, &hash, &create_on, &victims, now);
                }
            }
        }

        // Status.
        let (status, available_in) = calculate_status(ds, &nodes, &by_node, &hash, now);
        if status != ds.status {
            let mut new = (*obj).clone();
            if let Some(d) = new.as_daemon_set_mut() {
                d.status = status;
            }
            ctx.update_status(new);
        }

        let after = self.expectations.requeue_after(key, now, available_in);
        Ok(after.map_or(Requeue::Done, Requeue::After))
    }

    fn applied(&self, key: &ObjectKey, results: &[WriteResult]) {
        self.expectations.observe_failed(key, results);
    }
}

impl DaemonSetController {
    /// Upstream `syncNodes`: sets the expectations, then records the creates (one pod
    /// per node, slow start) and the deletes (uid precondition).
    #[allow(clippy::too_many_arguments)]
    fn sync_nodes(
        &self,
        key: &ObjectKey,
        ctx: &mut Ctx<'_>,
        obj: &Arc<Object>,
        ds: &DaemonSet,
        hash: &str,
        create_on: &[Str],
        victims: &[Arc<Object>],
        now: Timestamp,
    ) {
        self.expectations.set(
            key.clone(),
            Expectations {
                add: create_on.len() as i64,
                deletes: victims.iter().map(|v| v.name().clone()).collect(),
                set_at: now,
            },
        );
        if !create_on.is_empty() {
            let refs: SharedList<OwnerReference> = vec![OwnerReference {
                kind: Kind::DaemonSet,
                name: ds.meta.name.clone(),
                uid: ds.meta.uid,
                controller: true,
                block_owner_deletion: true,
            }]
            .into();
            let labels = ds
                .spec
                .template
                .meta
                .labels
                .with(LABEL_REVISION_HASH, hash)
                .with(LABEL_TEMPLATE_GENERATION, &ds.meta.generation.to_string());
            let pods: Vec<Object> = create_on
                .iter()
                .map(|n| new_daemon_pod(ds, n, &labels, &refs))
                .collect();
            ctx.create_slow_start(pods)
                .on_success(
                    obj,
                    EventType::Normal,
                    "SuccessfulCreate",
                    "Created pod: {name}",
                )
                .on_failure(obj, EventType::Warning, "FailedCreate", "Error creating");
        }
        for v in victims {
            let opts = DeleteOptions {
                preconditions_uid: Some(v.meta().uid),
                ..DeleteOptions::default()
            };
            ctx.delete(Kind::Pod, &ds.meta.namespace, v.name(), opts)
                .on_success(
                    obj,
                    EventType::Normal,
                    "SuccessfulDelete",
                    "Deleted pod: {name}",
                )
                .on_failure(obj, EventType::Warning, "FailedDelete", "Error deleting");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ConditionStatus, DaemonSetSpec, IntOrString, NodeSpec, NodeStatus, PodCondition,
        PodConditions, Taint, TemplateMeta,
    };

    const NOW: Timestamp = Timestamp(Timestamp::VIRTUAL_EPOCH.0 + 10_000_000);

    fn ds(node_selector: &[(&str, &str)], tolerations: Vec<Toleration>) -> DaemonSet {
        let mut meta = ObjectMeta::named("default", "agent");
        meta.generation = 3;
        DaemonSet {
            meta,
            spec: DaemonSetSpec {
                selector: LabelSelector::from_labels([("app", "agent")].into_iter().collect()),
                template: PodTemplateSpec {
                    meta: TemplateMeta {
                        labels: [("app", "agent")].into_iter().collect(),
                        annotations: StrMap::new(),
                    },
                    spec: Arc::new(PodSpec {
                        node_selector: node_selector.iter().copied().collect(),
                        tolerations,
                        ..PodSpec::default()
                    }),
                },
                update_strategy: DaemonSetUpdateStrategy::default(),
                min_ready_seconds: 0,
                revision_history_limit: 10,
            },
            status: DaemonSetStatus::default(),
        }
    }

    fn node(labels: &[(&str, &str)], taints: Vec<Taint>) -> Node {
        let mut meta = ObjectMeta::named("", "n1");
        meta.labels = labels.iter().copied().collect();
        Node {
            meta,
            spec: NodeSpec {
                taints,
                ..NodeSpec::default()
            },
            status: NodeStatus::default(),
        }
    }

    fn taint(key: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: intern(key),
            value: None,
            effect,
            time_added: None,
        }
    }

    #[test]
    fn fnv_and_safe_encoding() {
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9c_f968);
        // '0' = 48 → 48 % 27 = 21 → '4'; '1' → 22 → '5'.
        assert_eq!(safe_encode("01"), "45");
        let d = ds(&[], vec![]);
        let h = template_hash(&d.spec.template);
        assert!(h
            .bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)));
        let mut other = d.spec.template.clone();
        Arc::make_mut(&mut other.spec).host_network = true;
        assert_ne!(template_hash(&other), h);
        assert_eq!(template_hash(&d.spec.template.clone()), h);
    }

    #[test]
    fn default_tolerations_added_once_and_replaced() {
        let t = with_daemon_tolerations(&[], false);
        assert_eq!(t.len(), 6);
        assert_eq!(with_daemon_tolerations(&t, false), t, "idempotent");
        assert_eq!(with_daemon_tolerations(&[], true).len(), 7);
        // A user toleration of unreachable:NoExecute for 60 s becomes forever.
        let user = Toleration {
            key: Some(intern(TAINT_UNREACHABLE)),
            operator: TolerationOperator::Exists,
            value: None,
            effect: Some(TaintEffect::NoExecute),
            toleration_seconds: Some(60),
        };
        let t = with_daemon_tolerations(&[user], false);
        assert_eq!(t.len(), 6);
        assert!(t.iter().all(|x| x.toleration_seconds.is_none()));
    }

    #[test]
    fn node_should_run_rules() {
        let plain = ds(&[], vec![]);
        assert_eq!(node_should_run(&plain, &node(&[], vec![])), (true, true));
        // nodeSelector.
        let sel = ds(&[("disk", "ssd")], vec![]);
        assert_eq!(node_should_run(&sel, &node(&[], vec![])), (false, false));
        assert_eq!(
            node_should_run(&sel, &node(&[("disk", "ssd")], vec![])),
            (true, true)
        );
        // Untolerated NoSchedule: no new pod, the running one stays.
        let n = node(&[], vec![taint("gpu", TaintEffect::NoSchedule)]);
        assert_eq!(node_should_run(&plain, &n), (false, true));
        // Untolerated NoExecute: neither.
        let n = node(&[], vec![taint("gpu", TaintEffect::NoExecute)]);
        assert_eq!(node_should_run(&plain, &n), (false, false));
        // PreferNoSchedule is ignored.
        let n = node(&[], vec![taint("gpu", TaintEffect::PreferNoSchedule)]);
        assert_eq!(node_should_run(&plain, &n), (true, true));
        // Default tolerations: unreachable NoExecute and unschedulable NoSchedule.
        let n = node(
            &[],
            vec![
                taint(TAINT_UNREACHABLE, TaintEffect::NoExecute),
                taint(TAINT_UNSCHEDULABLE, TaintEffect::NoSchedule),
            ],
        );
        assert_eq!(node_should_run(&plain, &n), (true, true));
        // …but not unreachable NoSchedule (as upstream).
        let n = node(&[], vec![taint(TAINT_UNREACHABLE, TaintEffect::NoSchedule)]);
        assert_eq!(node_should_run(&plain, &n), (false, true));
        // A template toleration.
        let tol = Toleration {
            key: Some(intern("gpu")),
            operator: TolerationOperator::Exists,
            value: None,
            effect: None,
            toleration_seconds: None,
        };
        let n = node(&[], vec![taint("gpu", TaintEffect::NoExecute)]);
        assert_eq!(node_should_run(&ds(&[], vec![tol]), &n), (true, true));
    }

    fn pod(name: &str, node: Option<&str>, hash: &str, ready: bool) -> Arc<Object> {
        let d = ds(&[], vec![]);
        let mut meta = ObjectMeta::named("default", name);
        meta.labels = [("app", "agent"), (LABEL_REVISION_HASH, hash)]
            .into_iter()
            .collect();
        let status = PodStatus {
            phase: PodPhase::Running,
            conditions: PodConditions {
                ready: PodCondition::new(
                    if ready {
                        ConditionStatus::True
                    } else {
                        ConditionStatus::False
                    },
                    Timestamp(NOW.0 - 1000),
                ),
                ..PodConditions::default()
            },
            ..PodStatus::default()
        };
        Arc::new(Object::from(Pod {
            meta,
            spec: Arc::new(daemon_pod_spec(&d, node.unwrap_or("n1"))),
            node_name: node.map(Str::new),
            status,
        }))
    }

    #[test]
    fn target_node_and_updated() {
        let p = pod("a", None, "h1", true);
        let p = p.as_pod().unwrap();
        assert_eq!(target_node(p).map(Str::as_str), Some("n1"));
        let q = pod("b", Some("n2"), "h1", true);
        assert_eq!(
            target_node(q.as_pod().unwrap()).map(Str::as_str),
            Some("n2")
        );
        assert!(is_pod_updated(p, "h1", 9));
        assert!(!is_pod_updated(p, "h2", 9));
        let mut g = p.clone();
        g.meta.labels = g.meta.labels.with(LABEL_TEMPLATE_GENERATION, "9");
        assert!(is_pod_updated(&g, "h2", 9));
    }

    fn nodes_map(pods: &[(&str, Arc<Object>)]) -> BTreeMap<Str, Vec<Arc<Object>>> {
        let mut m: BTreeMap<Str, Vec<Arc<Object>>> = BTreeMap::new();
        for (n, p) in pods {
            m.entry(Str::new(n)).or_default().push(Arc::clone(p));
        }
        m
    }

    fn names(v: &[Arc<Object>]) -> Vec<&str> {
        v.iter().map(|o| o.name().as_str()).collect()
    }

    fn victims(
        d: &DaemonSet,
        m: &BTreeMap<Str, Vec<Arc<Object>>>,
        desired: i32,
    ) -> Vec<Arc<Object>> {
        let (del, create) = rolling_update_plan(d, m, desired, "new", NOW, &|_| true);
        assert!(create.is_empty(), "no surge: no creates");
        del
    }

    #[test]
    fn budget_resolution() {
        let mut d = ds(&[], vec![]);
        assert_eq!(rolling_budget(&d, 10), (1, 0));
        d.spec.update_strategy = DaemonSetUpdateStrategy::RollingUpdate {
            max_unavailable: IntOrString::String(Str::new("25%")),
            max_surge: IntOrString::Int(0),
        };
        assert_eq!(rolling_budget(&d, 10), (3, 0));
        d.spec.update_strategy = DaemonSetUpdateStrategy::RollingUpdate {
            max_unavailable: IntOrString::Int(0),
            max_surge: IntOrString::Int(0),
        };
        assert_eq!(rolling_budget(&d, 10), (1, 0));
        d.spec.update_strategy = DaemonSetUpdateStrategy::RollingUpdate {
            max_unavailable: IntOrString::Int(0),
            max_surge: IntOrString::String(Str::new("10%")),
        };
        assert_eq!(rolling_budget(&d, 15), (0, 2));
    }

    #[test]
    fn rolling_update_with_surge() {
        let mut d = ds(&[], vec![]);
        d.spec.update_strategy = DaemonSetUpdateStrategy::RollingUpdate {
            max_unavailable: IntOrString::Int(0),
            max_surge: IntOrString::Int(1),
        };
        let plan = |m: &BTreeMap<Str, Vec<Arc<Object>>>| {
            let (del, create) = rolling_update_plan(&d, m, 3, "new", NOW, &|n| n != "x");
            let create: Vec<String> = create.iter().map(|s| s.to_string()).collect();
            (
                names(&del)
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
                create,
            )
        };
        // All old and available: one new pod, next to the old one, nothing deleted.
        let m = nodes_map(&[
            ("a", pod("pa", Some("a"), "old", true)),
            ("b", pod("pb", Some("b"), "old", true)),
            ("c", pod("pc", Some("c"), "old", true)),
        ]);
        assert_eq!(plan(&m), (vec![], vec!["a".to_string()]));
        // A surged node waiting for its new pod uses the budget.
        let m = nodes_map(&[
            ("a", pod("pa", Some("a"), "old", true)),
            ("a", pod("na", Some("a"), "new", false)),
            ("b", pod("pb", Some("b"), "old", true)),
        ]);
        assert_eq!(plan(&m), (vec![], vec![]));
        // Its new pod available: the old one goes, the next node surges.
        let m = nodes_map(&[
            ("a", pod("pa", Some("a"), "old", true)),
            ("a", pod("na", Some("a"), "new", true)),
            ("b", pod("pb", Some("b"), "old", true)),
            ("c", pod("pc", Some("c"), "old", true)),
        ]);
        assert_eq!(plan(&m), (vec!["pa".to_string()], vec!["b".to_string()]));
        // An unavailable old pod is replaced at once, beyond the budget; on a node
        // that should not run the pod, it is deleted instead.
        let m = nodes_map(&[
            ("a", pod("pa", Some("a"), "old", true)),
            ("a", pod("na", Some("a"), "new", false)),
            ("b", pod("pb", Some("b"), "old", false)),
            ("x", pod("px", Some("x"), "old", false)),
        ]);
        assert_eq!(plan(&m), (vec!["px".to_string()], vec!["b".to_string()]));
    }

    #[test]
    fn surge_manage_keeps_one_new_and_one_old() {
        let d = ds(&[], vec![]);
        let mut v = vec![
            pod("old1", Some("a"), "old", true),
            pod("new1", Some("a"), "new", false),
            pod("new2", Some("a"), "new", false),
        ];
        let e = surge_extras(&mut v, "new", &d, NOW);
        assert_eq!(names(&e), ["new2"]);
        let mut v = vec![
            pod("old1", Some("a"), "old", true),
            pod("new1", Some("a"), "new", true),
        ];
        assert_eq!(names(&surge_extras(&mut v, "new", &d, NOW)), ["old1"]);
        let mut v = vec![
            pod("old1", Some("a"), "old", false),
            pod("new1", Some("a"), "new", false),
        ];
        assert_eq!(names(&surge_extras(&mut v, "new", &d, NOW)), ["old1"]);
    }

    #[test]
    fn rolling_update_respects_max_unavailable() {
        let d = ds(&[], vec![]);
        let new = "new";
        // Three old available pods: one victim with maxUnavailable 1.
        let m = nodes_map(&[
            ("a", pod("pa", Some("a"), "old", true)),
            ("b", pod("pb", Some("b"), "old", true)),
            ("c", pod("pc", Some("c"), "old", true)),
        ]);
        assert_eq!(names(&victims(&d, &m, 3)), ["pa"]);
        // A new pod not yet available uses the budget: none.
        let m = nodes_map(&[
            ("a", pod("pa", Some("a"), new, false)),
            ("b", pod("pb", Some("b"), "old", true)),
            ("c", pod("pc", Some("c"), "old", true)),
        ]);
        assert!(victims(&d, &m, 3).is_empty());
        // An old pod that is unavailable anyway is replaced regardless.
        let m = nodes_map(&[
            ("a", pod("pa", Some("a"), new, false)),
            ("b", pod("pb", Some("b"), "old", false)),
            ("c", pod("pc", Some("c"), "old", true)),
        ]);
        assert_eq!(names(&victims(&d, &m, 3)), ["pb"]);
        // maxUnavailable 2 (and 50% of 3 rounds up to 2).
        for mu in [IntOrString::Int(2), IntOrString::String(Str::new("50%"))] {
            let mut d2 = d.clone();
            d2.spec.update_strategy = DaemonSetUpdateStrategy::RollingUpdate {
                max_unavailable: mu,
                max_surge: IntOrString::Int(0),
            };
            let m = nodes_map(&[
                ("a", pod("pa", Some("a"), "old", true)),
                ("b", pod("pb", Some("b"), "old", true)),
                ("c", pod("pc", Some("c"), "old", true)),
            ]);
            assert_eq!(names(&victims(&d2, &m, 3)), ["pa", "pb"]);
        }
        // OnDelete: never.
        let mut d3 = d.clone();
        d3.spec.update_strategy = DaemonSetUpdateStrategy::OnDelete;
        let m = nodes_map(&[("a", pod("pa", Some("a"), "old", true))]);
        assert!(victims(&d3, &m, 1).is_empty());
    }

    #[test]
    fn status_counts_oldest_pod_per_node() {
        let d = ds(&[("role", "w")], vec![]);
        let mk = |name: &str, role: bool| {
            let mut n = node(if role { &[("role", "w")] } else { &[] }, vec![]);
            n.meta.name = Str::new(name);
            Arc::new(Object::from(n))
        };
        let nodes = vec![mk("a", true), mk("b", true), mk("c", false), mk("d", true)];
        let h = template_hash(&d.spec.template);
        let m = nodes_map(&[
            ("a", pod("pa", Some("a"), &h, true)),
            ("b", pod("pb", Some("b"), "old", false)),
            ("c", pod("pc", Some("c"), &h, true)),
        ]);
        let (s, _) = calculate_status(&d, &nodes, &m, &h, NOW);
        assert_eq!(s.desired_number_scheduled, 3);
        assert_eq!(s.current_number_scheduled, 2);
        assert_eq!(s.number_misscheduled, 1);
        assert_eq!(s.number_ready, 1);
        assert_eq!(s.number_available, 1);
        assert_eq!(s.updated_number_scheduled, 1);
        assert_eq!(s.number_unavailable, 2);
        assert_eq!(s.observed_generation, 3);
    }
}
