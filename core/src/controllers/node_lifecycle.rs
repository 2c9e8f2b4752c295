//! The node lifecycle controller: node health monitoring and taint-based eviction
//! (upstream's `NodeLifecycleController` with its `NoExecuteTaintManager`).
//!
//! # Keys
//!
//! Keys are Nodes. A Node event maps to its own key; a Pod event (of a pod bound to a
//! node) maps to its node's key only while that node is not Ready or carries a
//! `NoExecute` taint (pods on healthy nodes cost nothing here).
//!
//! # Health monitoring (virtual time)
//!
//! The heartbeat of a node is its `Ready` condition's `lastHeartbeatTime`
//! (`last_update_time`, posted by the kubelet every 10 s, see
//! [`kubelet`](super::kubelet)), else the condition's transition time, and never
//! earlier than the node's creation (so a freshly created node gets a full grace
//! period, a stand-in for upstream's startup grace). When `now − heartbeat >
//! grace_period` (50 s), at the first monitor tick (a multiple of `monitor_period`, 5 s,
//! of virtual time — upstream's 5 s monitor loop, without polling: the reconcile asks
//! to be woken exactly at that tick with [`Requeue::After`]), the controller sets the
//! `Ready` condition to `Unknown` (reason `NodeStatusUnknown`, message `Kubelet stopped
//! posting node status.`, heartbeat kept) with a status update, and marks the node's
//! pods not Ready (upstream `MarkPodsNotReady`). The Node is then tainted
//! `node.kubernetes.io/unreachable` with effects `NoExecute` (with `timeAdded`) and
//! `NoSchedule` (upstream's TaintNodesByCondition); a `Ready=False` node gets
//! `node.kubernetes.io/not-ready` instead. When the kubelet posts `Ready=True` again,
//! both taints are removed.
//!
//! Pods are marked not Ready when the node is not Ready and their Ready condition is
//! True *since before* the node's Ready transition: a pod whose kubelet came back and
//! set it Ready again after the transition is left to the kubelet (otherwise the two
//! would flip it forever within one virtual instant, before the kubelet's next
//! heartbeat).
//!
//! # Taint-based eviction
//!
//! For every pod bound to a node with `NoExecute` taints and not already being
//! deleted, with the pod's own tolerations — which include the
//! `not-ready`/`unreachable` `NoExecute` tolerations (300 s) the
//! `DefaultTolerationSeconds` admission plugin added at creation
//! ([`crate::admission`]) unless the pod tolerated those taints already:
//!
//! - a taint the pod does not tolerate → evicted now;
//! - otherwise, evicted at the earliest `timeAdded + tolerationSeconds` over the
//!   taints (the toleration matching each taint is the first one that tolerates it,
//!   as upstream's `GetMatchingTolerations`; `tolerationSeconds ≤ 0` → now);
//! - tolerated forever (no `tolerationSeconds`) → never.
//!
//! Eviction deletes the pod with its default grace period and records the Normal Event
//! `TaintManagerEviction` `Marking for deletion Pod <ns>/<name>`. The pod gets a
//! `deletionTimestamp`, but only its kubelet (or a force delete) removes it: on a node
//! whose kubelet is stopped it stays Terminating until the node comes back.
//!
//! # Simplifications
//!
//! - Stateless: eviction timers start at the taint's `timeAdded` (upstream: when the
//!   taint manager first saw the pod with the taint — the same for pods already on the
//!   node, later for pods bound after the taint). A `NoExecute` taint added without
//!   `timeAdded` is stamped with the current time by this controller.
//! - No eviction rate limiting (0.1 nodes/s, zone states, large-cluster thresholds)
//!   and no node conditions other than `Ready`.
//! - Deleted nodes are not handled here (pod GC deletes their pods).

use std::time::Duration;

use crate::intern::intern;
use crate::model::{
    find_condition, set_condition, Condition, ConditionStatus, EventType, Kind, Node, Object,
    ObjectKey, Pod, Taint, TaintEffect, Toleration,
};
use crate::runtime::{
    route_key, route_object, Controller, Ctx, ReconcileError, Requeue, Routed, StoreView,
};
use crate::store::{DeleteOptions, Field, FieldSelector, WatchEvent, WatchEventType};
use crate::time::Timestamp;

/// The taints of a node whose Ready condition is False / Unknown (one definition,
/// shared with the scheduler, which treats a non-Ready node as carrying them).
pub use super::scheduler::{TAINT_NOT_READY, TAINT_UNREACHABLE};
/// Reason of the Ready condition set to Unknown.
pub const REASON_NODE_STATUS_UNKNOWN: &str = "NodeStatusUnknown";
/// Message of the Ready condition set to Unknown.
pub const MESSAGE_NODE_STATUS_UNKNOWN: &str = "Kubelet stopped posting node status.";
/// Reason of the eviction Event.
pub const REASON_EVICTION: &str = "TaintManagerEviction";

/// The controller's settings (upstream's flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLifecycleConfig {
    /// `node-monitor-grace-period` (50 s): heartbeat age after which a node is Unknown.
    pub grace_period: Duration,
    /// `node-monitor-period` (5 s): node health is evaluated on ticks of this period
    /// (virtual-time multiples); zero = exactly at heartbeat + grace.
    pub monitor_period: Duration,
}

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        NodeLifecycleConfig {
            grace_period: Duration::from_secs(50),
            monitor_period: Duration::from_secs(5),
        }
    }
}

/// The node lifecycle controller (see the [module docs](self)).
#[derive(Clone, Debug, Default)]
pub struct NodeLifecycleController {
    config: NodeLifecycleConfig,
}

/// When a pod is to be evicted from its node's `NoExecute` taints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// A taint is not tolerated (or tolerated for 0 s or less): at once.
    Now,
    /// When the earliest toleration runs out.
    At(Timestamp),
    /// Every taint is tolerated forever (or there is no `NoExecute` taint).
    Never,
}

/// The heartbeat of `node`: its Ready condition's `lastHeartbeatTime`, else its
/// transition time, never earlier than the node's creation.
pub fn last_heartbeat(node: &Node) -> Timestamp {
    let created = node.meta.creation_timestamp;
    match find_condition(&node.status.conditions, "Ready") {
        Some(c) => c
            .last_update_time
            .unwrap_or(c.last_transition_time)
            .max(created),
        None => created,
    }
}

/// When a pod with these tolerations is evicted from a node with these
/// taints (only `NoExecute` taints count; see the module docs). A taint without
/// `timeAdded` counts from `now`.
pub fn eviction_time(tolerations: &[Toleration], taints: &[Taint], now: Timestamp) -> Eviction {
    let mut at: Option<Timestamp> = None;
    for taint in taints.iter().filter(|t| t.effect == TaintEffect::NoExecute) {
        let Some(tol) = tolerations.iter().find(|t| t.tolerates(taint)) else {
            return Eviction::Now;
        };
        if let Some(s) = tol.toleration_seconds {
            if s <= 0 {
                return Eviction::Now;
            }
            let t = taint
                .time_added
                .unwrap_or(now)
                .plus(Duration::from_secs(s as u64));
            at = Some(at.map_or(t, |a| a.min(t)));
        }
    }
    match at {
        Some(t) => Eviction::At(t),
        None => Eviction::Never,
    }
}

/// The taints `node` should carry given its Ready condition: the condition taints
/// (`not-ready` for False, `unreachable` for Unknown; `NoExecute` with `timeAdded` =
/// `now` when new, and `NoSchedule`) added or removed, other taints kept (a
/// `NoExecute` taint without `timeAdded` gets `now`). A node without a Ready
/// condition keeps its taints.
pub fn desired_taints(node: &Node, now: Timestamp) -> Vec<Taint> {
    let wanted = match find_condition(&node.status.conditions, "Ready").map(|c| c.status) {
        None => None,
        Some(ConditionStatus::True) => Some(None),
        Some(ConditionStatus::False) => Some(Some(TAINT_NOT_READY)),
        Some(ConditionStatus::Unknown) => Some(Some(TAINT_UNREACHABLE)),
    };
    let is_condition_taint = |t: &Taint| *t.key == *TAINT_NOT_READY || *t.key == *TAINT_UNREACHABLE;
    let mut out: Vec<Taint> = node
        .spec
        .taints
        .iter()
        .filter(|t| match wanted {
            None => true,
            Some(w) => !is_condition_taint(t) || w == Some(&*t.key),
        })
        .cloned()
        .map(|mut t| {
            if t.effect == TaintEffect::NoExecute && t.time_added.is_none() {
                t.time_added = Some(now);
            }
            t
        })
        .collect();
    if let Some(Some(key)) = wanted {
        for effect in [TaintEffect::NoSchedule, TaintEffect::NoExecute] {
            if !out.iter().any(|t| *t.key == *key && t.effect == effect) {
                out.push(Taint {
                    key: intern(key),
                    value: None,
                    effect,
                    time_added: (effect == TaintEffect::NoExecute).then_some(now),
                });
            }
        }
    }
    out
}

fn has_no_execute(node: &Node) -> bool {
    node.spec
        .taints
        .iter()
        .any(|t| t.effect == TaintEffect::NoExecute)
}

fn node_key(name: &str) -> ObjectKey {
    ObjectKey::new(Kind::Node, "", name)
}

impl NodeLifecycleController {
    /// A controller with these settings.
    pub fn new(config: NodeLifecycleConfig) -> Self {
        NodeLifecycleController { config }
    }

    /// The settings.
    pub fn config(&self) -> &NodeLifecycleConfig {
        &self.config
    }

    /// When a node whose last heartbeat is `heartbeat` is found Unknown: the first
    /// monitor tick strictly after `heartbeat + grace_period`.
    pub fn unknown_at(&self, heartbeat: Timestamp) -> Timestamp {
        let limit = heartbeat.plus(self.config.grace_period);
        let p = self.config.monitor_period.as_millis().min(i64::MAX as u128) as i64;
        if p <= 0 {
            return Timestamp(limit.0.saturating_add(1));
        }
        Timestamp((limit.0.div_euclid(p) + 1).saturating_mul(p))
    }

    /// Marks the Ready pods of `pods` not Ready when they are Ready since before
    /// `transition` (see the module docs).
    fn mark_pods_not_ready(ctx: &mut Ctx<'_>, pods: &[&Pod], transition: Timestamp) {
        let now = ctx.now();
        for pod in pods {
            let ready = pod.status.conditions.ready;
            if ready.is_true() && ready.since < transition {
                let mut new = (*pod).clone();
                new.status.conditions.ready.set(ConditionStatus::False, now);
                ctx.update_status(Object::from(new));
            }
        }
    }
}

impl Controller for NodeLifecycleController {
    fn name(&self) -> &'static str {
        "node-lifecycle-controller"
    }

    fn primary(&self) -> Kind {
        Kind::Node
    }

    fn watches(&self) -> &[Kind] {
        &[Kind::Pod]
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        if ev.type_ == WatchEventType::Deleted {
            return;
        }
        match &*ev.object {
            Object::Node(_) => out.push(route_object(store, &ev.object)),
            Object::Pod(pod) => {
                let Some(name) = pod.node_name.as_ref().filter(|n| !n.is_empty()) else {
                    return;
                };
                let Some(obj) = store.try_get(Kind::Node, "", name) else {
                    return;
                };
                if let Object::Node(node) = &*obj {
                    if node.ready_status() != ConditionStatus::True || has_no_execute(node) {
                        out.push(route_key(store, node_key(name)));
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
        let Object::Node(node) = &*obj else {
            return Ok(Requeue::Done);
        };
        let now = ctx.now();
        let sel = FieldSelector::eq(Field::NodeName, &node.meta.name);
        let pod_objs = store
            .list(Kind::Pod, None, None, Some(&sel))
            .map_err(ReconcileError::new)?;
        let pods: Vec<&Pod> = pod_objs.iter().filter_map(|o| o.as_pod()).collect();
        let mut next: Option<Timestamp> = None;

        // 1. Health: heartbeat too old → Ready=Unknown (one write, then look again).
        let ready = find_condition(&node.status.conditions, "Ready");
        if ready.is_none_or(|c| c.status != ConditionStatus::Unknown) {
            let heartbeat = last_heartbeat(node);
            let due = self.unknown_at(heartbeat);
            if now >= due {
                let mut new = (**node).clone();
                let mut cond = Condition::new("Ready", ConditionStatus::Unknown, now);
                cond.reason = Some(intern(REASON_NODE_STATUS_UNKNOWN));
                cond.message = Some(intern(MESSAGE_NODE_STATUS_UNKNOWN));
                cond.last_update_time = ready.and_then(|c| c.last_update_time);
                set_condition(&mut new.status.conditions, cond);
                ctx.update_status(Object::from(new));
                Self::mark_pods_not_ready(ctx, &pods, now);
                return Ok(Requeue::After(Duration::ZERO));
            }
            next = Some(due);
        }

        // 2. Condition taints (one spec write, then look again).
        let taints = desired_taints(node, now);
        if taints != node.spec.taints {
            let mut new = (**node).clone();
            new.spec.taints = taints;
            ctx.update(Object::from(new));
            return Ok(Requeue::After(Duration::ZERO));
        }

        // 3. Pods of a node that is not Ready are not Ready.
        if let Some(c) = ready.filter(|c| c.status != ConditionStatus::True) {
            Self::mark_pods_not_ready(ctx, &pods, c.last_transition_time);
        }

        // 4. Taint-based eviction.
        if has_no_execute(node) {
            for (pod, obj) in pods.iter().zip(pod_objs.iter()) {
                if pod.meta.is_being_deleted() {
                    continue;
                }
                let evict_now = match eviction_time(&pod.spec.tolerations, &node.spec.taints, now) {
                    Eviction::Never => false,
                    Eviction::Now => true,
                    Eviction::At(t) if t <= now => true,
                    Eviction::At(t) => {
                        next = Some(next.map_or(t, |n| n.min(t)));
                        false
                    }
                };
                if evict_now {
                    let opts = DeleteOptions {
                        preconditions_uid: Some(pod.meta.uid),
                        ..Default::default()
                    };
                    ctx.delete(Kind::Pod, &pod.meta.namespace, &pod.meta.name, opts)
                        .on_success(
                            obj,
                            EventType::Normal,
                            REASON_EVICTION,
                            format!(
                                "Marking for deletion Pod {}/{}",
                                pod.meta.namespace, pod.meta.name
                            ),
                        );
                }
            }
        }

        Ok(match next {
            Some(t) => Requeue::After(t.since(now)),
            None => Requeue::Done,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NodeSpec, NodeStatus, ObjectMeta, TolerationOperator};

    fn tol(key: Option<&str>, effect: Option<TaintEffect>, secs: Option<i64>) -> Toleration {
        Toleration {
            key: key.map(intern),
            operator: TolerationOperator::Exists,
            value: None,
            effect,
            toleration_seconds: secs,
        }
    }

    fn taint(key: &str, effect: TaintEffect, added: Option<i64>) -> Taint {
        Taint {
            key: intern(key),
            value: None,
            effect,
            time_added: added.map(Timestamp),
        }
    }

    fn node(ready: Option<ConditionStatus>, taints: Vec<Taint>) -> Node {
        Node {
            meta: ObjectMeta::named("", "n"),
            spec: NodeSpec {
                taints,
                ..Default::default()
            },
            status: NodeStatus {
                conditions: ready
                    .map(|s| vec![Condition::new("Ready", s, Timestamp(0))])
                    .unwrap_or_default(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn eviction_times() {
        let now = Timestamp(10_000);
        let unreach = [taint(
            TAINT_UNREACHABLE,
            TaintEffect::NoExecute,
            Some(1_000),
        )];
        assert_eq!(eviction_time(&[], &unreach, now), Eviction::Now);
        let defaults = crate::admission::with_default_tolerations(&[], 300).unwrap();
        assert_eq!(
            eviction_time(&defaults, &unreach, now),
            Eviction::At(Timestamp(301_000))
        );
        let forever = [tol(
            Some(TAINT_UNREACHABLE),
            Some(TaintEffect::NoExecute),
            None,
        )];
        assert_eq!(eviction_time(&forever, &unreach, now), Eviction::Never);
        let zero = [tol(Some(TAINT_UNREACHABLE), None, Some(0))];
        assert_eq!(eviction_time(&zero, &unreach, now), Eviction::Now);
        // NoSchedule taints do not evict.
        let ns = [taint("x", TaintEffect::NoSchedule, None)];
        assert_eq!(eviction_time(&[], &ns, now), Eviction::Never);
        // Earliest over several taints; an untolerated one wins.
        let two = [
            taint(TAINT_UNREACHABLE, TaintEffect::NoExecute, Some(1_000)),
            taint("other", TaintEffect::NoExecute, Some(5_000)),
        ];
        let tols = [
            tol(Some(TAINT_UNREACHABLE), None, Some(100)),
            tol(Some("other"), None, Some(10)),
        ];
        assert_eq!(
            eviction_time(&tols, &two, now),
            Eviction::At(Timestamp(15_000))
        );
        assert_eq!(eviction_time(&tols[..1], &two, now), Eviction::Now);
    }

    #[test]
    fn taints_follow_ready() {
        let now = Timestamp(7);
        let t = desired_taints(&node(Some(ConditionStatus::Unknown), vec![]), now);
        assert_eq!(
            t,
            vec![
                taint(TAINT_UNREACHABLE, TaintEffect::NoSchedule, None),
                taint(TAINT_UNREACHABLE, TaintEffect::NoExecute, Some(7)),
            ]
        );
        // Kept as is (timeAdded preserved) while Unknown.
        let n = node(Some(ConditionStatus::Unknown), t.clone());
        assert_eq!(desired_taints(&n, Timestamp(99)), t);
        // Swapped for not-ready when False, removed when True, others kept.
        let mut with_other = t.clone();
        with_other.push(taint("dedicated", TaintEffect::NoSchedule, None));
        let f = desired_taints(&node(Some(ConditionStatus::False), with_other.clone()), now);
        assert_eq!(f.len(), 3);
        assert!(f.iter().all(|t| *t.key != *TAINT_UNREACHABLE));
        let r = desired_taints(&node(Some(ConditionStatus::True), with_other.clone()), now);
        assert_eq!(r, vec![taint("dedicated", TaintEffect::NoSchedule, None)]);
        // No Ready condition: untouched, except timeAdded stamping.
        let raw = vec![taint("x", TaintEffect::NoExecute, None)];
        assert_eq!(
            desired_taints(&node(None, raw), now),
            vec![taint("x", TaintEffect::NoExecute, Some(7))]
        );
    }

    #[test]
    fn unknown_at_monitor_ticks() {
        let c = NodeLifecycleController::default();
        // Heartbeat at 20 s: limit 70 s, first tick strictly after it is 75 s.
        assert_eq!(c.unknown_at(Timestamp(20_000)), Timestamp(75_000));
        assert_eq!(c.unknown_at(Timestamp(21_000)), Timestamp(75_000));
        let exact = NodeLifecycleController::new(NodeLifecycleConfig {
            monitor_period: Duration::ZERO,
            ..Default::default()
        });
        assert_eq!(exact.unknown_at(Timestamp(20_000)), Timestamp(70_001));
    }

    #[test]
    fn heartbeat_from_condition_or_creation() {
        let mut n = node(Some(ConditionStatus::True), vec![]);
        n.meta.creation_timestamp = Timestamp(500);
        assert_eq!(last_heartbeat(&n), Timestamp(500));
        n.status.conditions[0].last_update_time = Some(Timestamp(9_000));
        assert_eq!(last_heartbeat(&n), Timestamp(9_000));
        let mut bare = node(None, vec![]);
        bare.meta.creation_timestamp = Timestamp(42);
        assert_eq!(last_heartbeat(&bare), Timestamp(42));
    }
}
