//! The scheduler: assigns pending pods to nodes (filter, score, bind), as
//! kube-scheduler's default profile does for the plugins kubesim models.
//!
//! # One queue key, one pod at a time
//!
//! kube-scheduler schedules one pod at a time against a cache that already holds the
//! pods it just placed ("assumed" pods). In virtual time every reconcile of a round
//! reads the same store snapshot, so two reconciles of two pods could both take the
//! same free capacity. Hence **every pending pod maps to one queue key**,
//! [`queue_key`] (`Pod` / namespace `""` / name `scheduler` — no real pod can have it,
//! pods always have a namespace), and one reconcile schedules *every* unscheduled pod,
//! in a deterministic order (priority is not modelled): by `creationTimestamp`, then
//! namespace, then name. While it goes, it keeps an assumed [`NodeUsage`] per node, so
//! each pod sees the requests, host ports and pod counts of the pods placed before it
//! in the same reconcile.
//!
//! # What maps to the key ([`Controller::map_event`])
//!
//! - Pod events of pods without `spec.nodeName` that are not being deleted and not
//!   terminal (they need scheduling);
//! - deletions of bound pods and bound pods that became terminal (Succeeded/Failed):
//!   they free capacity, so unschedulable pods are retried;
//! - Node added or deleted, and Node changes that matter to scheduling (Ready status,
//!   `unschedulable`, taints, labels, allocatable). The scheduler remembers a
//!   fingerprint of each node in `map_event` (the runtime's rule: shared state may
//!   change there), so a heartbeat alone does not trigger a reconcile;
//! - PersistentVolumeClaim events (a claim that binds releases the pods waiting for it).
//!
//! A reconcile with no pending pod lists one (indexed) field selector and returns.
//! There is no periodic retry: everything that can make a pod schedulable is one of
//! the events above.
//!
//! # Filter (per node, in upstream's plugin order; the first failing plugin decides)
//!
//! 1. **NodeUnschedulable**: a cordoned node (`spec.unschedulable`) is skipped unless
//!    the pod tolerates `node.kubernetes.io/unschedulable:NoSchedule` — "node(s) were
//!    unschedulable".
//! 2. **TaintToleration**: every `NoSchedule`/`NoExecute` taint must be tolerated
//!    ([`Toleration::tolerates`]) — "node(s) had untolerated taint {key: value}". A
//!    node whose Ready condition is not True counts as carrying the taint that
//!    upstream's node lifecycle controller adds (`node.kubernetes.io/not-ready` for
//!    Ready=False, `node.kubernetes.io/unreachable` for Unknown or absent, effect
//!    `NoSchedule`), so pods that tolerate it (DaemonSet pods) may still go there and
//!    others see upstream's message ([`condition_taint`]).
//! 3. **NodeAffinity** (`nodeSelector` only): the node's labels must contain it —
//!    "node(s) didn't match Pod's node affinity/selector".
//! 4. **NodePorts**: no (hostPort, protocol) already taken on the node — "node(s)
//!    didn't have free ports for the requested pod ports".
//! 5. **NodeResourcesFit**: pods on the node + 1 ≤ `allocatable.pods` ("Too many
//!    pods"); for cpu and memory, a non-zero request must fit `allocatable` minus the
//!    requests of the node's non-terminal pods (terminating ones still count, as in
//!    upstream's cache) and of the pods assumed this reconcile ("Insufficient cpu",
//!    "Insufficient memory"; both may be reported for one node).
//!
//! Pods whose volumes reference PersistentVolumeClaims wait first (upstream's
//! VolumeBinding PreFilter, simplified): a missing claim → `persistentvolumeclaim
//! "<name>" not found`; a claim not `Bound` → "pod has unbound immediate
//! PersistentVolumeClaims" (every claim counts as Immediate binding; kubesim's volume
//! controller binds or provisions claims without waiting for a consumer).
//!
//! # Which nodes are looked at (upstream's `percentageOfNodesToScore`)
//!
//! As kube-scheduler with the default (adaptive) `percentageOfNodesToScore`, the
//! search for feasible nodes stops once it has found
//! [`num_feasible_nodes_to_find`] of them: every node in clusters of fewer than 100
//! nodes; otherwise `max(5, 50 − nodes/125)` percent of the nodes, at least 100
//! (1,000 nodes → 42 % → 420 nodes; 5,000 → 10 %). The search goes round-robin: it
//! starts at upstream's `nextStartNodeIndex` (nodes in name order), which then
//! advances by the number of nodes processed for that pod (feasible or not), so
//! consecutive pods look at different parts of the cluster. Only the nodes found
//! feasible are scored. Without sampling (fewer than 100 nodes, or when 100 % would
//! be searched) every node is looked at in name order, from the first. A pod no
//! processed node accepts has been checked against every node, so its message counts
//! all of them. (Upstream filters nodes in parallel and may overshoot the count by a
//! few; kubesim stops at exactly the count.)
//!
//! # Score (higher is better)
//!
//! `least_allocated + 3 × taint_toleration` (upstream's default weights 1 and 3):
//!
//! - [`least_allocated_score`] (NodeResourcesFit, LeastAllocated): the average over
//!   cpu and memory of `(allocatable − requested) × 100 / allocatable`, 0 when
//!   over-requested, where `requested` is the node's non-zero requests plus the
//!   pod's (a container without a cpu request counts 100m, without a memory request
//!   200 MiB, as upstream's `GetNonzeroRequests`; this is what spreads pods without
//!   requests).
//! - TaintToleration: the number of `PreferNoSchedule` taints the pod does not
//!   tolerate, normalised over the feasible nodes and reversed (0 such taints → 100,
//!   the most → 0).
//!
//! Among the nodes with the best score one is picked with the reconcile's
//! deterministic RNG ([`Ctx::rng`]), as upstream picks randomly among ties: the same
//! seed gives the same placement.
//!
//! # Bind and status
//!
//! A placed pod gets **one write**, a binding ([`Ctx::bind`], the store's
//! [`Store::bind`](crate::store::Store::bind), upstream's `pods/binding`
//! subresource): `spec.nodeName` and `PodScheduled=True` (clearing a previous
//! unschedulable message) in one resourceVersion and one watch event, with the pod's
//! uid and resourceVersion as preconditions. A binding that fails (the pod changed,
//! was bound by someone else, or is being deleted: a conflict) requeues the key, and
//! the next reconcile looks at the pods still pending. Event `Scheduled`:
//! `Successfully assigned <ns>/<pod> to <node>`.
//!
//! A pod no node accepts stays Pending with `PodScheduled=False`, reason
//! `Unschedulable`, and upstream's message in `status.reason` (see
//! [`unschedulable_message`]: "0/3 nodes are available: 1 node(s) didn't match Pod's
//! node affinity/selector, 2 Insufficient cpu."), and a Warning Event
//! `FailedScheduling` with the same message. The status (and the Event) is written
//! only when it changes, so retries that fail the same way make no churn.
//!
//! # Not modelled
//!
//! Node affinity beyond `nodeSelector`, pod (anti-)affinity, topology spread,
//! priority and preemption (and the "preemption: …" suffix of upstream's message),
//! NodeResourcesBalancedAllocation and ImageLocality scores, extended resources,
//! host IPs of host ports, scheduler names and profiles, the per-pod backoff queue.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rand::Rng;

use crate::dispatch::{stable_hash, Affinity};
use crate::intern::{intern, Str};
use crate::model::{
    ConditionStatus, EventType, Kind, Node, NodeCapacity, Object, ObjectKey, Pod, PodSpec,
    Protocol, PvcPhase, Resources, Taint, TaintEffect, Toleration, VolumeSource,
};
use crate::runtime::{Controller, Ctx, ReconcileError, Requeue, Routed, StoreView};
use crate::store::{Binding, Field, FieldSelector, WatchEvent, WatchEventType};

/// The scheduler's name: the `source` of its Events, as upstream's.
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// The name of the single queue key (see [`queue_key`]).
pub const QUEUE_KEY_NAME: &str = "scheduler";

/// The taint a cordoned node is treated as having (upstream's
/// `node.kubernetes.io/unschedulable`); a pod tolerating it may go to the node.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// The taint of a node whose Ready condition is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint of a node whose Ready condition is Unknown (or absent).
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// The cpu a container without a cpu request counts for scoring (upstream's
/// `DefaultMilliCPURequest`).
pub const DEFAULT_CPU_MILLIS: i64 = 100;
/// The memory a container without a memory request counts for scoring (upstream's
/// `DefaultMemoryRequest`, 200 MiB).
pub const DEFAULT_MEMORY_BYTES: i64 = 200 << 20;

/// Upstream's maximum node score of one plugin.
pub const MAX_NODE_SCORE: i64 = 100;
/// Weight of the TaintToleration score (upstream's default).
pub const TAINT_TOLERATION_WEIGHT: i64 = 3;

/// Filter failure reasons (upstream's wording).
pub mod reasons {
    /// NodeUnschedulable.
    pub const UNSCHEDULABLE: &str = "node(s) were unschedulable";
    /// NodeAffinity (nodeSelector).
    pub const SELECTOR_MISMATCH: &str = "node(s) didn't match Pod's node affinity/selector";
    /// NodePorts.
    pub const PORTS: &str = "node(s) didn't have free ports for the requested pod ports";
    /// NodeResourcesFit, pod count.
    pub const TOO_MANY_PODS: &str = "Too many pods";
    /// NodeResourcesFit, cpu.
    pub const INSUFFICIENT_CPU: &str = "Insufficient cpu";
    /// NodeResourcesFit, memory.
    pub const INSUFFICIENT_MEMORY: &str = "Insufficient memory";
    /// VolumeBinding: a claim exists but is not Bound.
    pub const UNBOUND_CLAIMS: &str = "pod has unbound immediate PersistentVolumeClaims";
    /// No node at all.
    pub const NO_NODES: &str = "no nodes available to schedule pods";
}

/// The one key every pending pod maps to (see the module docs).
pub fn queue_key() -> ObjectKey {
    ObjectKey::new(Kind::Pod, "", QUEUE_KEY_NAME)
}

/// What is in use on a node: the pods bound there (non-terminal) plus the pods
/// assumed there during the current reconcile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeUsage {
    /// Sum of the pods' requests (what the fit filter counts).
    pub requested: Resources,
    /// Sum of the pods' non-zero requests ([`non_zero_requests`]; what scoring
    /// counts).
    pub non_zero_requested: Resources,
    /// Number of pods.
    pub pods: i64,
    /// Host ports taken.
    pub host_ports: Vec<(i32, Protocol)>,
}

impl NodeUsage {
    /// Adds a pod with this spec.
    pub fn add(&mut self, spec: &PodSpec) {
        self.requested = self.requested.plus(spec.total_requests());
        self.non_zero_requested = self.non_zero_requested.plus(non_zero_requests(spec));
        self.pods += 1;
        self.host_ports.extend(spec.host_ports());
    }
}

/// The pod's requests with upstream's scoring defaults: each container without a cpu
/// request counts [`DEFAULT_CPU_MILLIS`], without a memory request
/// [`DEFAULT_MEMORY_BYTES`].
pub fn non_zero_requests(spec: &PodSpec) -> Resources {
    spec.containers.iter().fold(Resources::default(), |acc, c| {
        acc.plus(Resources {
            cpu_millis: if c.requests.cpu_millis == 0 {
                DEFAULT_CPU_MILLIS
            } else {
                c.requests.cpu_millis
            },
            memory_bytes: if c.requests.memory_bytes == 0 {
                DEFAULT_MEMORY_BYTES
            } else {
                c.requests.memory_bytes
            },
        })
    })
}

/// The `NoSchedule` taint a node is treated as carrying because of its Ready
/// condition: none when Ready=True, [`TAINT_NOT_READY`] when False,
/// [`TAINT_UNREACHABLE`] when Unknown or absent.
pub fn condition_taint(node: &Node) -> Option<Taint> {
    let key = match node.ready_status() {
        ConditionStatus::True => return None,
        ConditionStatus::False => TAINT_NOT_READY,
        ConditionStatus::Unknown => TAINT_UNREACHABLE,
    };
    Some(Taint {
        key: intern(key),
        value: None,
        effect: TaintEffect::NoSchedule,
        time_added: None,
    })
}

fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| t.tolerates(taint))
}

/// The first `NoSchedule`/`NoExecute` taint of the node (its own, then its
/// [`condition_taint`]) that the pod does not tolerate.
pub fn untolerated_taint(spec: &PodSpec, node: &Node) -> Option<Taint> {
    node.spec
        .taints
        .iter()
        .filter(|t| matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute))
        .find(|t| !tolerated(&spec.tolerations, t))
        .cloned()
        .or_else(|| condition_taint(node).filter(|t| !tolerated(&spec.tolerations, t)))
}

/// Why the node cannot take the pod (one or more reasons, upstream's wording), or
/// `Ok` when it can. `usage` is what is already on the node.
///
/// # Errors
///
/// The failure reasons of the first failing filter (see the module docs).
pub fn filter(spec: &PodSpec, node: &Node, usage: &NodeUsage) -> Result<(), Vec<String>> {
    if node.spec.unschedulable {
        let cordon = Taint {
            key: intern(TAINT_UNSCHEDULABLE),
            value: None,
            effect: TaintEffect::NoSchedule,
            time_added: None,
        };
        if !tolerated(&spec.tolerations, &cordon) {
            return Err(vec![reasons::UNSCHEDULABLE.to_string()]);
        }
    }
    if let Some(t) = untolerated_taint(spec, node) {
        return Err(vec![format!(
            "node(s) had untolerated taint {{{}: {}}}",
            t.key,
            t.value.as_deref().unwrap_or("")
        )]);
    }
    if !node.meta.labels.contains_all(&spec.node_selector) {
        return Err(vec![reasons::SELECTOR_MISMATCH.to_string()]);
    }
    if spec.host_ports().any(|p| usage.host_ports.contains(&p)) {
        return Err(vec![reasons::PORTS.to_string()]);
    }
    let alloc = node.status.allocatable;
    let want = spec.total_requests();
    let mut out = Vec::new();
    if usage.pods + 1 > alloc.pods {
        out.push(reasons::TOO_MANY_PODS.to_string());
    }
    if want.cpu_millis > 0
        && alloc.resources.cpu_millis < want.cpu_millis + usage.requested.cpu_millis
    {
        out.push(reasons::INSUFFICIENT_CPU.to_string());
    }
    if want.memory_bytes > 0
        && alloc.resources.memory_bytes < want.memory_bytes + usage.requested.memory_bytes
    {
        out.push(reasons::INSUFFICIENT_MEMORY.to_string());
    }
    if out.is_empty() {
        Ok(())
    } else {
        Err(out)
    }
}

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// Upstream's NodeResourcesFit LeastAllocated score (0..=100): the average over cpu
/// and memory of `(allocatable − requested) × 100 / allocatable`, `requested` being
/// the node's non-zero requests plus the pod's.
pub fn least_allocated_score(spec: &PodSpec, node: &Node, usage: &NodeUsage) -> i64 {
    let alloc = node.status.allocatable.resources;
    let req = usage.non_zero_requested.plus(non_zero_requests(spec));
    (least_requested(req.cpu_millis, alloc.cpu_millis)
        + least_requested(req.memory_bytes, alloc.memory_bytes))
        / 2
}

/// The number of the node's `PreferNoSchedule` taints the pod does not tolerate
/// (upstream counts only tolerations with effect PreferNoSchedule or none).
pub fn untolerated_prefer_no_schedule(spec: &PodSpec, node: &Node) -> i64 {
    let tolerations: Vec<&Toleration> = spec
        .tolerations
        .iter()
        .filter(|t| matches!(t.effect, None | Some(TaintEffect::PreferNoSchedule)))
        .collect();
    node.spec
        .taints
        .iter()
        .filter(|t| t.effect == TaintEffect::PreferNoSchedule)
        .filter(|t| !tolerations.iter().any(|tol| tol.tolerates(t)))
        .count() as i64
}

/// Upstream's `DefaultNormalizeScore` with `reverse`: counts → 0..=100, the lowest
/// count scoring highest (all 100 when every count is 0).
pub fn normalize_reverse(counts: &[i64]) -> Vec<i64> {
    let max = counts.iter().copied().max().unwrap_or(0);
    counts
        .iter()
        .map(|&c| {
            if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE - c * MAX_NODE_SCORE / max
            }
        })
        .collect()
}

/// Upstream's FitError message: `"0/<n> nodes are available: "` followed by
/// `"<count> <reason>"` for each distinct reason, sorted as strings (so `"10 …"` sorts
/// before `"2 …"`, as upstream's), joined by `", "`, and a final period.
pub fn unschedulable_message(num_nodes: usize, reasons: &[String]) -> String {
    let mut histogram: HashMap<&str, usize> = HashMap::new();
    for r in reasons {
        *histogram.entry(r.as_str()).or_default() += 1;
    }
    let mut parts: Vec<String> = histogram
        .into_iter()
        .map(|(r, n)| format!("{n} {r}"))
        .collect();
    parts.sort();
    format!("0/{num_nodes} nodes are available: {}.", parts.join(", "))
}

/// Why the pod cannot be scheduled before any node is looked at (its claims), if so.
fn claims_problem(store: StoreView<'_>, pod: &Pod) -> Option<String> {
    for v in &pod.spec.volumes {
        if let VolumeSource::PersistentVolumeClaim(claim) = &v.source {
            match store.try_get(Kind::PersistentVolumeClaim, &pod.meta.namespace, claim) {
                None => return Some(format!("persistentvolumeclaim \"{claim}\" not found")),
                Some(obj) => {
                    let bound = obj
                        .as_pvc()
                        .is_some_and(|c| c.status.phase == PvcPhase::Bound);
                    if !bound {
                        return Some(reasons::UNBOUND_CLAIMS.to_string());
                    }
                }
            }
        }
    }
    None
}

/// A node's scheduling-relevant state, hashed (see [`Scheduler`]'s `map_event`).
fn node_fingerprint(node: &Node) -> u64 {
    stable_hash(&(
        node.ready_status(),
        node.spec.unschedulable,
        &node.spec.taints,
        &node.meta.labels,
        node.status.allocatable,
    ))
}

/// Where a pod went, or why it did not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Bound to this node.
    Node(Str),
    /// Unschedulable, with this message.
    Unschedulable(String),
}

/// The scheduler controller. See the [module docs](self).
#[derive(Debug, Default)]
pub struct Scheduler {
    /// Node name → fingerprint of its scheduling-relevant state, as last seen by
    /// `map_event` (changed only there, on one thread).
    nodes_seen: Mutex<HashMap<Str, u64>>,
    /// Upstream's `nextStartNodeIndex`: where the next pod's node search starts
    /// (changed only by reconciles of the single queue key, one at a time).
    next_start: Mutex<usize>,
}

impl Scheduler {
    /// A scheduler.
    pub fn new() -> Self {
        Scheduler::default()
    }

    /// Places every pending pod of `pods` (already sorted) on `nodes` (sorted by
    /// name) with `usage` (one per node, updated as pods are assumed). Returns one
    /// placement per pod. `pick` chooses among tied best nodes (it gets the tie
    /// count, returns an index). `next_start` is upstream's `nextStartNodeIndex`
    /// (see "Which nodes are looked at" in the module docs), updated.
    fn place_all(
        store: StoreView<'_>,
        pods: &[Arc<Object>],
        nodes: &[&Node],
        usage: &mut [NodeUsage],
        next_start: &mut usize,
        mut pick: impl FnMut(usize) -> usize,
    ) -> Vec<Placement> {
        let infos: Vec<NodeInfo<'_>> = nodes.iter().map(|n| NodeInfo::new(n)).collect();
        let num_all = nodes.len();
        let to_find = num_feasible_nodes_to_find(num_all);
        let sampling = to_find < num_all;
        if !sampling {
            *next_start = 0;
        }
        let mut out = Vec::with_capacity(pods.len());
        let mut failures: Vec<String> = Vec::new();
        let mut feasible: Vec<usize> = Vec::with_capacity(num_all);
        let mut tied: Vec<usize> = Vec::new();
        let mut counts: Vec<i64> = Vec::with_capacity(num_all);
        // Each node's LeastAllocated score for the non-zero requests `scored_for`
        // (None: not computed since its usage last changed). Pods of one template
        // ask the same, so a node's score is recomputed only after a pod lands on it.
        let mut least_alloc: Vec<Option<i64>> = vec![None; num_all];
        let mut scored_for: Option<Resources> = None;
        let any_prefer = infos.iter().any(|n| n.prefer_no_schedule);
        for obj in pods {
            let Some(pod) = obj.as_pod() else {
                continue;
            };
            if nodes.is_empty() {
                out.push(Placement::Unschedulable(reasons::NO_NODES.to_string()));
                continue;
            }
            if let Some(problem) = claims_problem(store, pod) {
                out.push(Placement::Unschedulable(format!(
                    "0/{} nodes are available: {problem}.",
                    nodes.len()
                )));
                continue;
            }
            let want = PodWants::new(&pod.spec);
            failures.clear();
            feasible.clear();
            tied.clear();
            if scored_for != Some(want.non_zero) {
                least_alloc.fill(None);
                scored_for = Some(want.non_zero);
            }
            // Without PreferNoSchedule taints anywhere every feasible node's
            // TaintToleration score is the maximum, so nodes are scored as they are
            // found (same scores, same tie order as scoring the feasible list after).
            let mut best = i64::MIN;
            let mut found = 0;
            let mut processed = 0;
            let mut i = *next_start % num_all;
            while processed < num_all {
                processed += 1;
                if fits(&pod.spec, &want, &infos[i], &usage[i]) {
                    found += 1;
                    if any_prefer {
                        feasible.push(i);
                    } else {
                        let la = *least_alloc[i].get_or_insert_with(|| {
                            least_allocated(&want.non_zero, nodes[i], &usage[i])
                        });
                        let score = la + TAINT_TOLERATION_WEIGHT * MAX_NODE_SCORE;
                        if score > best {
                            best = score;
                            tied.clear();
                        }
                        if score == best {
                            tied.push(i);
                        }
                    }
                    if found >= to_find {
                        break;
                    }
                } else if let Err(r) = filter(&pod.spec, nodes[i], &usage[i]) {
                    failures.extend(r);
                }
                i += 1;
                if i == num_all {
                    i = 0;
                }
            }
            if sampling {
                *next_start = (*next_start + processed) % num_all;
            }
            if found == 0 {
                out.push(Placement::Unschedulable(unschedulable_message(
                    nodes.len(),
                    &failures,
                )));
                continue;
            }
            if any_prefer {
                // TaintToleration score: counts of untolerated PreferNoSchedule
                // taints, normalised (reversed) over the feasible nodes.
                counts.clear();
                counts.extend(feasible.iter().map(|&i| {
                    if infos[i].prefer_no_schedule {
                        untolerated_prefer_no_schedule(&pod.spec, nodes[i])
                    } else {
                        0
                    }
                }));
                let max_count = counts.iter().copied().max().unwrap_or(0);
                for (&i, &c) in feasible.iter().zip(&counts) {
                    let taint_score = if max_count == 0 {
                        MAX_NODE_SCORE
                    } else {
                        MAX_NODE_SCORE - c * MAX_NODE_SCORE / max_count
                    };
                    let la = *least_alloc[i].get_or_insert_with(|| {
                        least_allocated(&want.non_zero, nodes[i], &usage[i])
                    });
                    let score = la + TAINT_TOLERATION_WEIGHT * taint_score;
                    if score > best {
                        best = score;
                        tied.clear();
                    }
                    if score == best {
                        tied.push(i);
                    }
                }
            }
            let chosen = if tied.len() == 1 {
                tied[0]
            } else {
                tied[pick(tied.len()).min(tied.len() - 1)]
            };
            usage[chosen].add(&pod.spec);
            least_alloc[chosen] = None;
            out.push(Placement::Node(nodes[chosen].meta.name.clone()));
        }
        out
    }
}

/// Upstream's `numFeasibleNodesToFind` with the default (adaptive)
/// `percentageOfNodesToScore`: every node below 100 nodes; otherwise
/// `max(5, 50 − nodes/125)` percent of them, at least 100.
pub fn num_feasible_nodes_to_find(num_all: usize) -> usize {
    if num_all < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all;
    }
    let percentage = 50usize
        .saturating_sub(num_all / 125)
        .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    (num_all * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Upstream's `minFeasibleNodesToFind`.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Upstream's `minFeasibleNodesPercentageToFind`.
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// What a pod asks for, computed once per pod (not once per node).
struct PodWants {
    /// `total_requests()`: what the fit filter counts.
    requests: Resources,
    /// [`non_zero_requests`]: what scoring counts.
    non_zero: Resources,
    /// Whether it has host ports.
    host_ports: bool,
    /// Whether it tolerates the cordon taint.
    tolerates_cordon: bool,
    /// Whether it has a `nodeSelector`.
    node_selector: bool,
}

impl PodWants {
    fn new(spec: &PodSpec) -> Self {
        let cordon = Taint {
            key: intern(TAINT_UNSCHEDULABLE),
            value: None,
            effect: TaintEffect::NoSchedule,
            time_added: None,
        };
        PodWants {
            requests: spec.total_requests(),
            non_zero: non_zero_requests(spec),
            host_ports: spec.host_ports().next().is_some(),
            tolerates_cordon: tolerated(&spec.tolerations, &cordon),
            node_selector: !spec.node_selector.is_empty(),
        }
    }
}

/// A node's scheduling facts that do not depend on the pod, computed once per
/// reconcile.
struct NodeInfo<'a> {
    node: &'a Node,
    /// Its [`condition_taint`].
    condition_taint: Option<Taint>,
    /// Whether it has `NoSchedule`/`NoExecute` taints of its own.
    hard_taints: bool,
    /// Whether it has `PreferNoSchedule` taints.
    prefer_no_schedule: bool,
    /// Whether any of the cordon, taint or condition-taint checks applies (else
    /// [`fits`] skips them).
    restricted: bool,
    /// `status.allocatable`, copied (read for every pod).
    alloc: NodeCapacity,
}

impl<'a> NodeInfo<'a> {
    fn new(node: &'a Node) -> Self {
        let condition_taint = condition_taint(node);
        let hard_taints = node
            .spec
            .taints
            .iter()
            .any(|t| matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute));
        NodeInfo {
            node,
            restricted: node.spec.unschedulable || hard_taints || condition_taint.is_some(),
            condition_taint,
            hard_taints,
            prefer_no_schedule: node
                .spec
                .taints
                .iter()
                .any(|t| t.effect == TaintEffect::PreferNoSchedule),
            alloc: node.status.allocatable,
        }
    }
}

/// Whether [`filter`] accepts the pod on the node — the same decision, without
/// building the failure reasons (the caller asks [`filter`] for them when this says
/// no).
fn fits(spec: &PodSpec, want: &PodWants, info: &NodeInfo<'_>, usage: &NodeUsage) -> bool {
    let node = info.node;
    if info.restricted {
        if node.spec.unschedulable && !want.tolerates_cordon {
            return false;
        }
        if info.hard_taints
            && node
                .spec
                .taints
                .iter()
                .filter(|t| matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute))
                .any(|t| !tolerated(&spec.tolerations, t))
        {
            return false;
        }
        if let Some(t) = &info.condition_taint {
            if !tolerated(&spec.tolerations, t) {
                return false;
            }
        }
    }
    if want.node_selector && !node.meta.labels.contains_all(&spec.node_selector) {
        return false;
    }
    if want.host_ports && spec.host_ports().any(|p| usage.host_ports.contains(&p)) {
        return false;
    }
    let alloc = &info.alloc;
    !(usage.pods + 1 > alloc.pods
        || (want.requests.cpu_millis > 0
            && alloc.resources.cpu_millis < want.requests.cpu_millis + usage.requested.cpu_millis)
        || (want.requests.memory_bytes > 0
            && alloc.resources.memory_bytes
                < want.requests.memory_bytes + usage.requested.memory_bytes))
}

/// [`least_allocated_score`] with the pod's non-zero requests precomputed.
fn least_allocated(pod_non_zero: &Resources, node: &Node, usage: &NodeUsage) -> i64 {
    let alloc = node.status.allocatable.resources;
    let req = usage.non_zero_requested.plus(*pod_non_zero);
    (least_requested(req.cpu_millis, alloc.cpu_millis)
        + least_requested(req.memory_bytes, alloc.memory_bytes))
        / 2
}

fn is_pending(pod: &Pod) -> bool {
    pod.node_name.is_none() && !pod.meta.is_being_deleted() && !pod.status.phase.is_terminal()
}

fn routed_key() -> Routed<ObjectKey> {
    Routed::new(queue_key(), Affinity::from_hashes(stable_hash(""), None))
}

impl Controller for Scheduler {
    fn name(&self) -> &'static str {
        SCHEDULER_NAME
    }

    fn primary(&self) -> Kind {
        Kind::Pod
    }

    fn watches(&self) -> &[Kind] {
        &[Kind::Node, Kind::PersistentVolumeClaim]
    }

    fn map_event(&self, ev: &WatchEvent, _store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        let wanted = match &*ev.object {
            Object::Pod(pod) => match ev.type_ {
                WatchEventType::Deleted => {
                    pod.node_name.is_some() && !pod.status.phase.is_terminal()
                }
                _ => is_pending(pod) || (pod.node_name.is_some() && pod.status.phase.is_terminal()),
            },
            Object::Node(node) => {
                let mut seen = self.nodes_seen.lock();
                match ev.type_ {
                    WatchEventType::Deleted => {
                        seen.remove(&node.meta.name);
                        true
                    }
                    _ => {
                        let fp = node_fingerprint(node);
                        seen.insert(node.meta.name.clone(), fp) != Some(fp)
                    }
                }
            }
            Object::PersistentVolumeClaim(_) => ev.type_ != WatchEventType::Deleted,
            _ => false,
        };
        if wanted {
            out.push(routed_key());
        }
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        if *key != queue_key() {
            // Not a key this controller makes (a pod's own key): nothing to do.
            return Ok(Requeue::Done);
        }
        let store = ctx.store();
        let unbound = FieldSelector::eq(Field::NodeName, "");
        let mut pending: Vec<Arc<Object>> = store
            .list(Kind::Pod, None, None, Some(&unbound))?
            .into_iter()
            .filter(|o| o.as_pod().is_some_and(is_pending))
            .collect();
        if pending.is_empty() {
            return Ok(Requeue::Done);
        }
        pending.sort_by(|a, b| {
            let (ma, mb) = (a.meta(), b.meta());
            (ma.creation_timestamp, &ma.namespace, &ma.name).cmp(&(
                mb.creation_timestamp,
                &mb.namespace,
                &mb.name,
            ))
        });
        let node_objs = store.list(Kind::Node, None, None, None)?;
        let nodes: Vec<&Node> = node_objs.iter().filter_map(|o| o.as_node()).collect();
        let mut usage = Vec::with_capacity(nodes.len());
        for node in &nodes {
            let on_node = FieldSelector::eq(Field::NodeName, &node.meta.name);
            let mut u = NodeUsage::default();
            for obj in store.list(Kind::Pod, None, None, Some(&on_node))? {
                if let Some(p) = obj.as_pod() {
                    if !p.status.phase.is_terminal() {
                        u.add(&p.spec);
                    }
                }
            }
            usage.push(u);
        }
        let now = ctx.now();
        let placements = {
            let rng = ctx.rng();
            let mut next_start = self.next_start.lock();
            Scheduler::place_all(store, &pending, &nodes, &mut usage, &mut next_start, |n| {
                rng.random_range(0..n)
            })
        };
        for (obj, placement) in pending.iter().zip(placements) {
            let Some(pod) = obj.as_pod() else {
                continue;
            };
            match placement {
                Placement::Node(node) => {
                    let message = format!(
                        "Successfully assigned {}/{} to {}",
                        pod.meta.namespace, pod.meta.name, node
                    );
                    ctx.bind(Binding::of(&pod.meta, &node)).on_success(
                        obj,
                        EventType::Normal,
                        "Scheduled",
                        message,
                    );
                }
                Placement::Unschedulable(message) => {
                    let mut status = pod.clone();
                    status
                        .status
                        .conditions
                        .scheduled
                        .set(ConditionStatus::False, now);
                    status.status.reason = Some(Str::from(message.as_str()));
                    if status.status != pod.status {
                        ctx.update_status(Object::from(status)).on_success(
                            obj,
                            EventType::Warning,
                            "FailedScheduling",
                            message,
                        );
                    }
                }
            }
        }
        Ok(Requeue::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Condition, Container, ContainerPort, NodeCapacity, NodeSpec, NodeStatus, ObjectMeta,
        TolerationOperator,
    };
    use crate::time::Timestamp;

    fn node(name: &str, cpu: i64, mem: i64) -> Node {
        let cap = NodeCapacity {
            resources: Resources {
                cpu_millis: cpu,
                memory_bytes: mem,
            },
            pods: 110,
        };
        Node {
            meta: ObjectMeta::named("", name),
            spec: NodeSpec::default(),
            status: NodeStatus {
                capacity: cap,
                allocatable: cap,
                conditions: vec![Condition::new("Ready", ConditionStatus::True, Timestamp(0))],
                ..Default::default()
            },
        }
    }

    fn spec(cpu: i64, mem: i64) -> PodSpec {
        PodSpec {
            containers: vec![Container {
                name: intern("c"),
                image: intern("nginx"),
                image_pull_policy: Default::default(),
                command: vec![],
                args: vec![],
                ports: vec![],
                requests: Resources {
                    cpu_millis: cpu,
                    memory_bytes: mem,
                },
                limits: Resources::default(),
                readiness_probe: None,
                liveness_probe: None,
                pre_stop: None,
            }],
            ..Default::default()
        }
    }

    fn taint(key: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: intern(key),
            value: Some(intern("v")),
            effect,
            time_added: None,
        }
    }

    fn tolerate(key: &str) -> Toleration {
        Toleration {
            key: Some(intern(key)),
            operator: TolerationOperator::Exists,
            value: None,
            effect: None,
            toleration_seconds: None,
        }
    }

    #[test]
    fn fit_counts_requests_and_pods() {
        let n = node("a", 1000, 1 << 30);
        let mut u = NodeUsage::default();
        assert_eq!(filter(&spec(600, 0), &n, &u), Ok(()));
        u.add(&spec(600, 0));
        assert_eq!(
            filter(&spec(600, 0), &n, &u),
            Err(vec![reasons::INSUFFICIENT_CPU.to_string()])
        );
        assert_eq!(filter(&spec(400, 0), &n, &u), Ok(()));
        // Both resources reported.
        assert_eq!(
            filter(&spec(600, 2 << 30), &n, &u),
            Err(vec![
                reasons::INSUFFICIENT_CPU.to_string(),
                reasons::INSUFFICIENT_MEMORY.to_string()
            ])
        );
        // Zero requests always fit the resources, but not the pod count.
        let mut full = NodeUsage {
            requested: Resources {
                cpu_millis: 5000,
                memory_bytes: 0,
            },
            ..Default::default()
        };
        assert_eq!(filter(&spec(0, 0), &n, &full), Ok(()));
        full.pods = 110;
        assert_eq!(
            filter(&spec(0, 0), &n, &full),
            Err(vec![reasons::TOO_MANY_PODS.to_string()])
        );
    }

    #[test]
    fn taints_cordon_readiness_and_selector() {
        let mut n = node("a", 1000, 1 << 30);
        let s = spec(0, 0);
        n.spec.taints = vec![taint("dedicated", TaintEffect::NoSchedule)];
        assert_eq!(
            filter(&s, &n, &NodeUsage::default()),
            Err(vec![
                "node(s) had untolerated taint {dedicated: v}".to_string()
            ])
        );
        let mut tol = s.clone();
        tol.tolerations.push(tolerate("dedicated"));
        assert_eq!(filter(&tol, &n, &NodeUsage::default()), Ok(()));
        // PreferNoSchedule does not filter.
        n.spec.taints = vec![taint("soft", TaintEffect::PreferNoSchedule)];
        assert_eq!(filter(&s, &n, &NodeUsage::default()), Ok(()));
        assert_eq!(untolerated_prefer_no_schedule(&s, &n), 1);
        let mut tol_soft = s.clone();
        tol_soft.tolerations.push(tolerate("soft"));
        assert_eq!(untolerated_prefer_no_schedule(&tol_soft, &n), 0);
        // Cordoned.
        n.spec.unschedulable = true;
        assert_eq!(
            filter(&s, &n, &NodeUsage::default()),
            Err(vec![reasons::UNSCHEDULABLE.to_string()])
        );
        let mut tol_cordon = s.clone();
        tol_cordon.tolerations.push(tolerate(TAINT_UNSCHEDULABLE));
        assert_eq!(filter(&tol_cordon, &n, &NodeUsage::default()), Ok(()));
        n.spec.unschedulable = false;
        // NotReady.
        n.status.conditions[0].status = ConditionStatus::False;
        assert_eq!(
            filter(&s, &n, &NodeUsage::default()),
            Err(vec![
                "node(s) had untolerated taint {node.kubernetes.io/not-ready: }".to_string()
            ])
        );
        let mut tol_not_ready = s.clone();
        tol_not_ready.tolerations.push(tolerate(TAINT_NOT_READY));
        assert_eq!(filter(&tol_not_ready, &n, &NodeUsage::default()), Ok(()));
        n.status.conditions.clear();
        assert_eq!(
            filter(&s, &n, &NodeUsage::default()),
            Err(vec![
                "node(s) had untolerated taint {node.kubernetes.io/unreachable: }".to_string()
            ])
        );
        n.status.conditions = vec![Condition::new("Ready", ConditionStatus::True, Timestamp(0))];
        // nodeSelector.
        let mut sel = s.clone();
        sel.node_selector = [("disk", "ssd")].into_iter().collect();
        assert_eq!(
            filter(&sel, &n, &NodeUsage::default()),
            Err(vec![reasons::SELECTOR_MISMATCH.to_string()])
        );
        n.meta.labels = [("disk", "ssd"), ("zone", "a")].into_iter().collect();
        assert_eq!(filter(&sel, &n, &NodeUsage::default()), Ok(()));
    }

    #[test]
    fn host_ports_conflict_per_protocol() {
        let n = node("a", 1000, 1 << 30);
        let mut s = spec(0, 0);
        s.containers[0].ports.push(ContainerPort {
            name: None,
            container_port: 80,
            host_port: Some(8080),
            protocol: Protocol::Tcp,
        });
        let mut u = NodeUsage::default();
        assert_eq!(filter(&s, &n, &u), Ok(()));
        u.add(&s);
        assert_eq!(filter(&s, &n, &u), Err(vec![reasons::PORTS.to_string()]));
        let mut udp = s.clone();
        udp.containers[0].ports[0].protocol = Protocol::Udp;
        assert_eq!(filter(&udp, &n, &u), Ok(()));
    }

    #[test]
    fn least_allocated_scores() {
        let n = node("a", 1000, 1000 << 20);
        let u = NodeUsage::default();
        // cpu (1000-500)*100/1000 = 50; memory (1000-500)*100/1000 = 50.
        assert_eq!(least_allocated_score(&spec(500, 500 << 20), &n, &u), 50);
        // Zero requests count 100m and 200 MiB: cpu 90, memory 80 → 85.
        assert_eq!(least_allocated_score(&spec(0, 0), &n, &u), 85);
        // Over-requested → 0 for that resource.
        assert_eq!(least_allocated_score(&spec(2000, 500 << 20), &n, &u), 25);
        let mut busy = NodeUsage::default();
        busy.add(&spec(500, 500 << 20));
        assert!(
            least_allocated_score(&spec(100, 100 << 20), &n, &busy)
                < least_allocated_score(&spec(100, 100 << 20), &n, &u)
        );
    }

    #[test]
    fn normalize_and_message() {
        assert_eq!(normalize_reverse(&[0, 0]), vec![100, 100]);
        assert_eq!(normalize_reverse(&[0, 1, 2]), vec![100, 50, 0]);
        let r = |s: &str| s.to_string();
        assert_eq!(
            unschedulable_message(
                3,
                &[
                    r(reasons::INSUFFICIENT_CPU),
                    r(reasons::SELECTOR_MISMATCH),
                    r(reasons::INSUFFICIENT_CPU)
                ]
            ),
            "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu."
        );
    }

    #[test]
    fn feasible_nodes_to_find_follows_upstream() {
        // Below 100 nodes: all of them.
        assert_eq!(num_feasible_nodes_to_find(0), 0);
        assert_eq!(num_feasible_nodes_to_find(99), 99);
        // 50 - 100/125 = 50 % of 100 = 50, raised to the floor of 100.
        assert_eq!(num_feasible_nodes_to_find(100), 100);
        assert_eq!(num_feasible_nodes_to_find(199), 100);
        // 1,000 nodes: 50 - 8 = 42 %.
        assert_eq!(num_feasible_nodes_to_find(1_000), 420);
        // 5,000 nodes: 50 - 40 = 10 %.
        assert_eq!(num_feasible_nodes_to_find(5_000), 500);
        // 6,000 nodes: 50 - 48 = 2 %, raised to 5 %.
        assert_eq!(num_feasible_nodes_to_find(6_000), 300);
        assert_eq!(num_feasible_nodes_to_find(100_000), 5_000);
    }

    #[test]
    fn sampling_searches_round_robin_from_the_next_start_index() {
        let store = crate::store::Store::new();
        let view = StoreView::new(&store);
        let owned: Vec<Node> = (0..1_000)
            .map(|i| node(&format!("n{i:04}"), 100_000, 1 << 40))
            .collect();
        let nodes: Vec<&Node> = owned.iter().collect();
        let mut usage = vec![NodeUsage::default(); nodes.len()];
        let pods: Vec<Arc<Object>> = (0..3)
            .map(|i| {
                Arc::new(Object::from(Pod {
                    meta: ObjectMeta::named("default", &format!("p{i}")),
                    spec: Arc::new(spec(100, 0)),
                    node_name: None,
                    status: Default::default(),
                }))
            })
            .collect();
        let mut next = 0;
        // Ties everywhere: pick the last tied node, the last one searched.
        let placed = Scheduler::place_all(view, &pods, &nodes, &mut usage, &mut next, |n| n - 1);
        // Each pod searched 420 nodes (all feasible), starting where the last stopped.
        assert_eq!(
            placed,
            vec![
                Placement::Node(intern("n0419")),
                Placement::Node(intern("n0839")),
                Placement::Node(intern("n0259")),
            ]
        );
        assert_eq!(next, 260);
        // Below 100 nodes: every node, from the first, and the index stays 0.
        let mut next = 0;
        let mut usage = vec![NodeUsage::default(); 10];
        let placed =
            Scheduler::place_all(view, &pods[..1], &nodes[..10], &mut usage, &mut next, |n| {
                n - 1
            });
        assert_eq!(placed, vec![Placement::Node(intern("n0009"))]);
        assert_eq!(next, 0);
    }

    #[test]
    fn cached_scores_follow_the_pod_requests_and_the_chosen_node() {
        // Node "a" is the best for a small pod and then full (one pod); for a
        // 1000m pod "c" beats "b", while for a 100m pod "b" beats "c". A score
        // cached for the first pod's requests would send the second pod to "b".
        let store = crate::store::Store::new();
        let view = StoreView::new(&store);
        let mut a = node("a", 100_000, 1 << 40);
        a.status.allocatable.pods = 1;
        let owned = [a, node("b", 1000, 1 << 40), node("c", 10_000, 1 << 40)];
        let nodes: Vec<&Node> = owned.iter().collect();
        let mut usage = vec![NodeUsage::default(); 3];
        usage[2].add(&spec(8000, 0));
        let pod = |name: &str, cpu: i64| {
            Arc::new(Object::from(Pod {
                meta: ObjectMeta::named("default", name),
                spec: Arc::new(spec(cpu, 0)),
                node_name: None,
                status: Default::default(),
            }))
        };
        let pods = vec![pod("small", 100), pod("big", 1000)];
        let mut next = 0;
        let placed = Scheduler::place_all(view, &pods, &nodes, &mut usage, &mut next, |_| 0);
        assert_eq!(
            placed,
            vec![Placement::Node(intern("a")), Placement::Node(intern("c"))]
        );
        // Same requests: the node a pod landed on is scored again with its new usage
        // (two equal nodes take turns).
        let owned = [node("x", 1000, 1 << 40), node("y", 1000, 1 << 40)];
        let nodes: Vec<&Node> = owned.iter().collect();
        let mut usage = vec![NodeUsage::default(); 2];
        let pods: Vec<_> = (0..4).map(|i| pod(&format!("p{i}"), 100)).collect();
        let placed = Scheduler::place_all(view, &pods, &nodes, &mut usage, &mut next, |_| 0);
        let names: Vec<_> = placed
            .iter()
            .map(|p| match p {
                Placement::Node(n) => n.to_string(),
                Placement::Unschedulable(m) => m.clone(),
            })
            .collect();
        assert_eq!(names, vec!["x", "y", "x", "y"]);
    }

    #[test]
    fn fits_agrees_with_filter() {
        let mut nodes = vec![node("a", 1000, 1 << 30), node("b", 1000, 1 << 30)];
        nodes[1].spec.taints = vec![taint("dedicated", TaintEffect::NoSchedule)];
        let mut cordoned = node("c", 1000, 1 << 30);
        cordoned.spec.unschedulable = true;
        nodes.push(cordoned);
        let mut not_ready = node("d", 1000, 1 << 30);
        not_ready.status.conditions[0].status = ConditionStatus::False;
        nodes.push(not_ready);
        let mut labelled = node("e", 1000, 1 << 30);
        labelled.meta.labels = [("disk", "ssd")].into_iter().collect();
        nodes.push(labelled);
        let mut specs = vec![
            spec(0, 0),
            spec(600, 0),
            spec(0, 2 << 30),
            spec(2000, 2 << 30),
        ];
        let mut tol = spec(0, 0);
        tol.tolerations = vec![
            tolerate("dedicated"),
            tolerate(TAINT_UNSCHEDULABLE),
            tolerate(TAINT_NOT_READY),
        ];
        specs.push(tol);
        let mut sel = spec(0, 0);
        sel.node_selector = [("disk", "ssd")].into_iter().collect();
        specs.push(sel);
        let mut hp = spec(0, 0);
        hp.containers[0].ports.push(ContainerPort {
            name: None,
            container_port: 80,
            host_port: Some(8080),
            protocol: Protocol::Tcp,
        });
        specs.push(hp.clone());
        let mut busy = NodeUsage::default();
        busy.add(&spec(600, 0));
        busy.add(&hp);
        let full = NodeUsage {
            pods: 110,
            ..NodeUsage::default()
        };
        for n in &nodes {
            let info = NodeInfo::new(n);
            for s in &specs {
                for u in [&NodeUsage::default(), &busy, &full] {
                    assert_eq!(
                        fits(s, &PodWants::new(s), &info, u),
                        filter(s, n, u).is_ok(),
                        "node {} spec {s:?} usage {u:?}",
                        n.meta.name
                    );
                }
            }
        }
    }

    #[test]
    fn map_event_filters_node_heartbeats() {
        let s = Scheduler::new();
        let store = crate::store::Store::new();
        let view = StoreView::new(&store);
        let mut n = node("a", 1000, 1 << 30);
        let ev = |n: &Node, t| WatchEvent {
            type_: t,
            object: Arc::new(Object::from(n.clone())),
            resource_version: 1,
        };
        let mut out = Vec::new();
        s.map_event(&ev(&n, WatchEventType::Added), view, &mut out);
        assert_eq!(out.len(), 1);
        out.clear();
        // A heartbeat: only the condition's update time changes.
        n.status.conditions[0].last_update_time = Some(Timestamp(10_000));
        s.map_event(&ev(&n, WatchEventType::Modified), view, &mut out);
        assert!(out.is_empty());
        n.spec.unschedulable = true;
        s.map_event(&ev(&n, WatchEventType::Modified), view, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].key, queue_key());
    }
}
