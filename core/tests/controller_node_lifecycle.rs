//! The node lifecycle controller ([`kubesim_core::controllers::node_lifecycle`]) in
//! virtual time, with the simulated kubelets and the scheduler: a stopped kubelet's
//! node goes Unknown after the grace period, is tainted, its pods go not Ready and are
//! evicted after their toleration but stay Terminating until the node returns (or a
//! force delete); tolerations; healthy nodes are left alone.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use kubesim_core::controllers::kubelet::{Kubelet, KubeletConfig};
use kubesim_core::controllers::node_lifecycle::{
    NodeLifecycleConfig, NodeLifecycleController, MESSAGE_NODE_STATUS_UNKNOWN,
    REASON_NODE_STATUS_UNKNOWN, TAINT_UNREACHABLE,
};
use kubesim_core::controllers::scheduler::Scheduler;
use kubesim_core::intern::intern;
use kubesim_core::model::{
    find_condition, Condition, ConditionStatus, Container, Kind, Node, NodeSpec, NodeStatus,
    Object, ObjectMeta, Pod, PodSpec, PullPolicy, TaintEffect, Toleration, TolerationOperator,
};
use kubesim_core::runtime::{virtual_store, Controller, SimConfig, Simulation};
use kubesim_core::store::{DeleteOptions, Store};
use kubesim_core::time::Timestamp;

fn node(name: &str, n: u8) -> Object {
    Object::from(Node {
        meta: ObjectMeta::named("", name),
        spec: NodeSpec {
            pod_cidr: Some((Ipv4Addr::new(10, 244, n, 0), 24)),
            ..Default::default()
        },
        status: NodeStatus {
            conditions: vec![Condition::new("Ready", ConditionStatus::True, Timestamp(0))],
            internal_ip: Some(Ipv4Addr::new(192, 168, 0, n)),
            ..Default::default()
        },
    })
}

fn pod(name: &str, node: Option<&str>, tolerations: Vec<Toleration>) -> Object {
    Object::from(Pod {
        meta: ObjectMeta::named("default", name),
        spec: Arc::new(PodSpec {
            containers: vec![Container {
                name: intern("app"),
                image: intern("nginx:1.25"),
                image_pull_policy: PullPolicy::IfNotPresent,
                command: vec![],
                args: vec![],
                ports: vec![],
                requests: Default::default(),
                limits: Default::default(),
                readiness_probe: None,
                liveness_probe: None,
                pre_stop: None,
            }],
            tolerations,
            ..Default::default()
        }),
        node_name: node.map(intern),
        status: Default::default(),
    })
}

fn unreachable_toleration(seconds: Option<i64>) -> Toleration {
    Toleration {
        key: Some(intern(TAINT_UNREACHABLE)),
        operator: TolerationOperator::Exists,
        value: None,
        effect: Some(TaintEffect::NoExecute),
        toleration_seconds: seconds,
    }
}

struct Env {
    store: Store,
    sim: Simulation,
    kubelet: Arc<Kubelet>,
    base: Timestamp,
}

fn env() -> Env {
    let (store, clock) = virtual_store(11);
    let kubelet = Arc::new(Kubelet::new(KubeletConfig::default()));
    let controllers: Vec<Arc<dyn Controller>> = vec![
        kubelet.clone(),
        Arc::new(Scheduler::new()),
        Arc::new(NodeLifecycleController::new(NodeLifecycleConfig::default())),
    ];
    let sim = Simulation::new(store.clone(), clock, controllers, SimConfig::new(3)).unwrap();
    let base = sim.now();
    store.create(node("node-1", 1)).unwrap();
    store.create(node("node-2", 2)).unwrap();
    Env {
        store,
        sim,
        kubelet,
        base,
    }
}

impl Env {
    fn create(&mut self, obj: Object) {
        self.store.create(obj).unwrap();
        self.sim.run_until_idle();
    }
    /// Runs to `base + secs`.
    fn at(&mut self, secs: i64) {
        let target = self.t(secs);
        assert!(target >= self.sim.now(), "time goes forward");
        self.sim.advance(target.since(self.sim.now()));
    }
    fn t(&self, secs: i64) -> Timestamp {
        Timestamp(self.base.0 + secs * 1000)
    }
    fn node(&self, name: &str) -> Node {
        match &*self.store.get(Kind::Node, "", name).unwrap() {
            Object::Node(n) => (**n).clone(),
            _ => unreachable!(),
        }
    }
    fn ready_cond(&self, name: &str) -> Condition {
        find_condition(&self.node(name).status.conditions, "Ready")
            .expect("Ready condition")
            .clone()
    }
    fn try_pod(&self, name: &str) -> Option<Pod> {
        self.store
            .try_get(Kind::Pod, "default", name)
            .map(|o| o.as_pod().unwrap().clone())
    }
    fn pod(&self, name: &str) -> Pod {
        self.try_pod(name).expect("pod exists")
    }
    fn terminating(&self, name: &str) -> bool {
        self.pod(name).meta.deletion_timestamp().is_some()
    }
    fn evictions(&self) -> Vec<String> {
        self.store
            .list(Kind::Event, None, None, None)
            .unwrap()
            .iter()
            .filter_map(|o| match &**o {
                Object::Event(e) if e.reason.as_str() == "TaintManagerEviction" => {
                    Some(e.message.to_string())
                }
                _ => None,
            })
            .collect()
    }
    fn eviction_counts(&self) -> Vec<i32> {
        self.store
            .list(Kind::Event, None, None, None)
            .unwrap()
            .iter()
            .filter_map(|o| match &**o {
                Object::Event(e) if e.reason.as_str() == "TaintManagerEviction" => Some(e.count),
                _ => None,
            })
            .collect()
    }
    /// Pods a, b on node-1 and c on node-2, all Ready; node-1's kubelet stopped at
    /// +25 s (last heartbeat +20 s).
    fn fail_node_1(&mut self, extra: Vec<Object>) {
        self.create(pod("a", Some("node-1"), vec![]));
        self.create(pod("b", Some("node-1"), vec![]));
        self.create(pod("c", Some("node-2"), vec![]));
        for o in extra {
            self.create(o);
        }
        self.at(25);
        for p in ["a", "b", "c"] {
            assert!(self.pod(p).is_ready(), "{p} Ready before the failure");
        }
        assert_eq!(
            self.ready_cond("node-1").last_update_time,
            Some(self.t(20)),
            "heartbeats every 10 s"
        );
        self.kubelet.stop_node("node-1");
    }
}

fn unreachable_taints(n: &Node) -> Vec<(TaintEffect, Option<Timestamp>)> {
    n.spec
        .taints
        .iter()
        .filter(|t| t.key.as_str() == TAINT_UNREACHABLE)
        .map(|t| (t.effect, t.time_added))
        .collect()
}

#[test]
fn stopped_node_goes_unknown_after_grace_and_is_tainted() {
    let mut e = env();
    e.fail_node_1(vec![]);
    // Not before 40 s after the stop, nor before heartbeat + 50 s.
    e.at(65);
    assert_eq!(e.ready_cond("node-1").status, ConditionStatus::True);
    e.at(70);
    assert_eq!(e.ready_cond("node-1").status, ConditionStatus::True);
    assert!(e.node("node-1").spec.taints.is_empty());
    assert!(e.pod("a").is_ready());
    // Between heartbeat + 50 s and heartbeat + 50 s + one heartbeat period.
    e.at(80);
    let c = e.ready_cond("node-1");
    assert_eq!(c.status, ConditionStatus::Unknown);
    assert!(c.last_transition_time > e.t(70) && c.last_transition_time <= e.t(80));
    assert_eq!(
        c.last_transition_time,
        e.t(75),
        "the first 5 s monitor tick"
    );
    assert_eq!(c.reason.as_deref(), Some(REASON_NODE_STATUS_UNKNOWN));
    assert_eq!(c.message.as_deref(), Some(MESSAGE_NODE_STATUS_UNKNOWN));
    assert_eq!(c.last_update_time, Some(e.t(20)), "heartbeat kept");
    assert_eq!(
        unreachable_taints(&e.node("node-1")),
        vec![
            (TaintEffect::NoSchedule, None),
            (TaintEffect::NoExecute, Some(e.t(75))),
        ]
    );
    // Its pods are not Ready; the healthy node's pod is.
    for p in ["a", "b"] {
        let ready = e.pod(p).status.conditions.ready;
        assert_eq!(ready.status, Some(ConditionStatus::False), "{p}");
        assert_eq!(ready.since, e.t(75));
    }
    assert!(e.pod("c").is_ready());
    assert_eq!(e.ready_cond("node-2").status, ConditionStatus::True);
    assert!(e.node("node-2").spec.taints.is_empty());
    // A new pod is scheduled around the tainted node.
    e.create(pod("d", None, vec![]));
    assert_eq!(e.pod("d").node_name.as_deref(), Some("node-2"));
}

#[test]
fn eviction_after_default_toleration_stays_terminating_until_node_returns() {
    let mut e = env();
    e.fail_node_1(vec![]);
    // Taint at +75 s; default toleration 300 s → evicted at +375 s.
    e.at(374);
    assert!(!e.terminating("a") && !e.terminating("b"));
    assert!(e.evictions().is_empty());
    e.at(375);
    for p in ["a", "b"] {
        assert_eq!(
            e.pod(p).meta.deletion_timestamp(),
            Some(e.t(375 + 30)),
            "{p}: graceful delete with the default 30 s grace"
        );
    }
    assert!(!e.terminating("c"), "the healthy node's pod stays");
    let mut ev = e.evictions();
    ev.sort();
    assert_eq!(
        ev,
        vec![
            "Marking for deletion Pod default/a".to_string(),
            "Marking for deletion Pod default/b".to_string()
        ]
    );
    // Stuck Terminating while the node is down, well past the grace period.
    e.at(900);
    assert!(e.terminating("a") && e.terminating("b"));
    assert_eq!(e.ready_cond("node-1").status, ConditionStatus::Unknown);
    assert_eq!(e.evictions().len(), 2, "evicted once");
    assert_eq!(e.eviction_counts(), vec![1, 1], "evicted once");
    // The node returns: its kubelet finishes the terminations, the taints go.
    e.kubelet.start_node("node-1");
    e.at(920);
    assert!(e.try_pod("a").is_none() && e.try_pod("b").is_none());
    assert_eq!(e.ready_cond("node-1").status, ConditionStatus::True);
    assert!(e.node("node-1").spec.taints.is_empty());
    assert!(e.pod("c").is_ready());
}

#[test]
fn toleration_without_seconds_is_never_evicted() {
    let mut e = env();
    let forever = pod(
        "forever",
        Some("node-1"),
        vec![unreachable_toleration(None)],
    );
    e.fail_node_1(vec![forever]);
    e.at(1200);
    assert!(e.terminating("a"), "the default-toleration pod was evicted");
    assert!(!e.terminating("forever"));
    assert!(!e.pod("forever").is_ready(), "but it is not Ready");
    assert!(!e.evictions().iter().any(|m| m.ends_with("default/forever")));
}

#[test]
fn toleration_seconds_60_evicts_60_s_after_the_taint() {
    let mut e = env();
    let short = pod(
        "short",
        Some("node-1"),
        vec![unreachable_toleration(Some(60))],
    );
    e.fail_node_1(vec![short]);
    e.at(134);
    assert!(!e.terminating("short"));
    e.at(135);
    assert!(e.terminating("short"), "taint at +75 s + 60 s");
    assert!(!e.terminating("a"), "default pods wait 300 s");
}

#[test]
fn healthy_nodes_are_never_tainted() {
    let mut e = env();
    e.create(pod("a", Some("node-1"), vec![]));
    e.create(pod("b", Some("node-2"), vec![]));
    for s in (5..=600).step_by(5) {
        e.at(s);
        for n in ["node-1", "node-2"] {
            assert_eq!(e.ready_cond(n).status, ConditionStatus::True, "{n} at {s}");
            assert!(e.node(n).spec.taints.is_empty(), "{n} at {s}");
        }
        assert!(e.pod("a").is_ready() && e.pod("b").is_ready());
    }
    assert!(e.evictions().is_empty());
}

#[test]
fn force_delete_removes_a_stuck_pod_at_once() {
    let mut e = env();
    e.fail_node_1(vec![]);
    e.at(400);
    assert!(e.terminating("a"));
    e.store
        .delete(Kind::Pod, "default", "a", &DeleteOptions::grace(0))
        .unwrap();
    assert!(e.try_pod("a").is_none(), "gone at once");
    e.sim.advance(Duration::from_secs(1));
    assert!(e.try_pod("a").is_none());
    assert!(e.terminating("b"), "the other stays stuck");
}

#[test]
fn recovery_before_the_toleration_runs_out_cancels_eviction() {
    let mut e = env();
    e.fail_node_1(vec![]);
    e.at(200);
    assert_eq!(e.ready_cond("node-1").status, ConditionStatus::Unknown);
    e.kubelet.start_node("node-1");
    let stats = e.sim.advance(Duration::from_secs(15));
    // The kubelet (pods Ready again) and this controller (pods of an Unknown node not
    // Ready) must not flip the pods forever before the next heartbeat.
    assert!(!stats.round_limit_hit, "{stats:?}");
    assert!(stats.writes < 50, "{stats:?}");
    assert_eq!(e.ready_cond("node-1").status, ConditionStatus::True);
    assert!(e.node("node-1").spec.taints.is_empty());
    assert!(
        e.pod("a").is_ready(),
        "the kubelet reports the pod Ready again"
    );
    e.at(700);
    assert!(!e.terminating("a") && !e.terminating("b"));
    assert!(e.evictions().is_empty());
    assert!(e.pod("a").is_ready());
}
