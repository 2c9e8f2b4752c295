//! The simulated kubelets ([`kubesim_core::controllers::kubelet`]) in virtual time:
//! startup and readiness timing, image pulls and the per-node image cache, unpullable
//! images, pod IPs, run times and restart policies, graceful termination, stopped
//! nodes, determinism.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use kubesim_core::controllers::kubelet::{Kubelet, KubeletConfig};
use kubesim_core::controllers::scheduler::Scheduler;
use kubesim_core::intern::{intern, StrMap};
use kubesim_core::model::{
    Condition, ConditionStatus, Container, ContainerState, EventType, Kind, LastTermination, Node,
    NodeSpec, NodeStatus, Object, ObjectMeta, Pod, PodPhase, PodSpec, Probe, PullPolicy,
    RestartPolicy, WaitingReason,
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

fn container(image: &str, policy: PullPolicy) -> Container {
    Container {
        name: intern("app"),
        image: intern(image),
        image_pull_policy: policy,
        command: vec![],
        args: vec![],
        ports: vec![],
        requests: Default::default(),
        limits: Default::default(),
        readiness_probe: None,
        liveness_probe: None,
        pre_stop: None,
    }
}

/// A pod builder.
struct P {
    name: String,
    node: Option<String>,
    ann: Vec<(&'static str, String)>,
    spec: PodSpec,
}

fn pod(name: &str, node: &str) -> P {
    P {
        name: name.to_string(),
        node: Some(node.to_string()),
        ann: vec![],
        spec: PodSpec {
            containers: vec![container("nginx:1.25", PullPolicy::IfNotPresent)],
            ..Default::default()
        },
    }
}

impl P {
    fn ann(mut self, k: &'static str, v: &str) -> Self {
        self.ann.push((k, v.to_string()));
        self
    }
    fn restart(mut self, r: RestartPolicy) -> Self {
        self.spec.restart_policy = r;
        self
    }
    fn image(mut self, image: &str, policy: PullPolicy) -> Self {
        self.spec.containers = vec![container(image, policy)];
        self
    }
    fn grace(mut self, s: i64) -> Self {
        self.spec.termination_grace_period_seconds = Some(s);
        self
    }
    fn unbound(mut self) -> Self {
        self.node = None;
        self
    }
    fn build(self) -> Object {
        let mut meta = ObjectMeta::named("default", &self.name);
        let mut ann = StrMap::default();
        for (k, v) in &self.ann {
            ann = ann.with(k, v);
        }
        meta.annotations = ann;
        Object::from(Pod {
            meta,
            spec: Arc::new(self.spec),
            node_name: self.node.map(|n| intern(&n)),
            status: Default::default(),
        })
    }
}

struct Env {
    store: Store,
    sim: Simulation,
    kubelet: Arc<Kubelet>,
    base: Timestamp,
}

fn env_with(config: KubeletConfig, seed: u64, scheduler: bool) -> Env {
    let (store, clock) = virtual_store(seed);
    let kubelet = Arc::new(Kubelet::new(config));
    let mut controllers: Vec<Arc<dyn Controller>> = vec![kubelet.clone()];
    if scheduler {
        controllers.push(Arc::new(Scheduler::new()));
    }
    let sim = Simulation::new(store.clone(), clock, controllers, SimConfig::new(seed)).unwrap();
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

fn env(config: KubeletConfig) -> Env {
    env_with(config, 7, false)
}

impl Env {
    fn create(&mut self, p: P) {
        self.store.create(p.build()).unwrap();
        self.sim.run_until_idle();
    }
    /// Runs to `base + ms`.
    fn at_ms(&mut self, ms: i64) {
        let target = Timestamp(self.base.0 + ms);
        assert!(target >= self.sim.now(), "time goes forward");
        self.sim.advance(target.since(self.sim.now()));
    }
    fn at(&mut self, secs: i64) {
        self.at_ms(secs * 1000);
    }
    fn t(&self, secs: i64) -> Timestamp {
        Timestamp(self.base.0 + secs * 1000)
    }
    fn try_pod(&self, name: &str) -> Option<Pod> {
        self.store
            .try_get(Kind::Pod, "default", name)
            .map(|o| o.as_pod().unwrap().clone())
    }
    fn pod(&self, name: &str) -> Pod {
        self.try_pod(name).expect("pod exists")
    }
    fn state(&self, name: &str) -> ContainerState {
        self.pod(name).status.container_state
    }
    fn phase(&self, name: &str) -> PodPhase {
        self.pod(name).status.phase
    }
    fn ready(&self, name: &str) -> bool {
        self.pod(name).is_ready()
    }
    fn events(&self, name: &str) -> Vec<(EventType, String)> {
        self.store
            .list(Kind::Event, None, None, None)
            .unwrap()
            .iter()
            .filter_map(|o| match &**o {
                Object::Event(e) if e.involved_object.name.as_str() == name => {
                    Some((e.type_, e.reason.to_string()))
                }
                _ => None,
            })
            .collect()
    }
}

fn running_since(state: ContainerState) -> Option<Timestamp> {
    match state {
        ContainerState::Running { started_at } => Some(started_at),
        _ => None,
    }
}

#[test]
fn startup_timing_and_first_status() {
    let mut e = env(KubeletConfig::default());
    e.create(pod("web", "node-1"));
    let p = e.pod("web");
    assert_eq!(p.status.start_time, Some(e.base));
    assert_eq!(p.status.phase, PodPhase::Pending);
    assert_eq!(
        p.status.container_state,
        ContainerState::Waiting(WaitingReason::ContainerCreating)
    );
    assert!(
        p.status.conditions.scheduled.is_true(),
        "nodeName pods get PodScheduled"
    );
    assert_eq!(p.status.host_ip, Some(Ipv4Addr::new(192, 168, 0, 1)));
    assert_eq!(p.status.pod_ip, None);
    assert!(!p.is_ready());
    assert_eq!(
        p.status.conditions.ready.status,
        Some(ConditionStatus::False)
    );

    e.at_ms(999);
    assert_eq!(e.phase("web"), PodPhase::Pending);
    e.at(1);
    let p = e.pod("web");
    assert_eq!(p.status.phase, PodPhase::Running);
    assert_eq!(running_since(p.status.container_state), Some(e.t(1)));
    assert_eq!(p.status.pod_ip, Some(Ipv4Addr::new(10, 244, 1, 2)));
    assert!(p.is_ready(), "readiness-delay 0: ready at once");
    assert_eq!(p.status.conditions.ready.since, e.t(1));
    assert!(e
        .events("web")
        .contains(&(EventType::Normal, "Started".into())));

    // Nothing changes afterwards: no status churn.
    let rv = e
        .store
        .get(Kind::Pod, "default", "web")
        .unwrap()
        .meta()
        .resource_version;
    e.at(600);
    let rv2 = e
        .store
        .get(Kind::Pod, "default", "web")
        .unwrap()
        .meta()
        .resource_version;
    assert_eq!(rv, rv2);
}

#[test]
fn ready_after_annotation() {
    let mut e = env(KubeletConfig::default());
    e.create(pod("web", "node-1").ann("kubesim.io/ready-after", "5s"));
    e.at(1);
    assert_eq!(e.phase("web"), PodPhase::Running);
    assert!(!e.ready("web"));
    e.at_ms(5999);
    assert!(!e.ready("web"));
    e.at(6);
    assert!(e.ready("web"));
    assert_eq!(e.pod("web").status.conditions.ready.since, e.t(6));
    assert!(e.pod("web").is_available(3, e.t(9)));
    assert!(!e.pod("web").is_available(3, e.t(8)));
}

#[test]
fn never_ready_annotation() {
    let mut e = env(KubeletConfig::default());
    e.create(pod("web", "node-1").ann("kubesim.io/never-ready", "true"));
    e.at(3600);
    assert_eq!(e.phase("web"), PodPhase::Running);
    assert!(!e.ready("web"));
}

#[test]
fn readiness_delay_and_probe_initial_delay() {
    let mut e = env(KubeletConfig {
        readiness_delay: Duration::from_secs(3),
        ..Default::default()
    });
    e.create(pod("plain", "node-1"));
    let mut probed = pod("probed", "node-1");
    probed.spec.containers[0].readiness_probe = Some(Probe {
        initial_delay_seconds: 7,
        ..Default::default()
    });
    e.create(probed);
    e.at_ms(3999);
    assert!(!e.ready("plain"));
    e.at(4);
    assert!(e.ready("plain"));
    assert!(!e.ready("probed"));
    e.at_ms(7999);
    assert!(!e.ready("probed"));
    e.at(8);
    assert!(e.ready("probed"));
}

#[test]
fn image_pull_is_paid_once_per_node() {
    let mut e = env(KubeletConfig {
        image_pull: Duration::from_secs(5),
        ..Default::default()
    });
    e.create(pod("a", "node-1"));
    e.at_ms(5999);
    assert_eq!(e.phase("a"), PodPhase::Pending);
    e.at(6);
    assert_eq!(e.phase("a"), PodPhase::Running);
    assert_eq!(
        e.kubelet.image_available_at("node-1", "nginx:1.25"),
        Some(e.t(5))
    );
    assert_eq!(e.kubelet.image_available_at("node-2", "nginx:1.25"), None);

    e.at(10);
    e.create(pod("b", "node-1")); // image cached: startup only
    e.create(pod("c", "node-2")); // other node: pulls
    e.create(pod("d", "node-1").image("nginx:1.25", PullPolicy::Always));
    e.at(11);
    assert_eq!(running_since(e.state("b")), Some(e.t(11)));
    assert_eq!(e.phase("c"), PodPhase::Pending);
    assert_eq!(
        e.phase("d"),
        PodPhase::Pending,
        "pullPolicy Always pulls again"
    );
    e.at(16);
    assert_eq!(running_since(e.state("c")), Some(e.t(16)));
    assert_eq!(running_since(e.state("d")), Some(e.t(16)));
}

#[test]
fn pod_arriving_during_a_pull_waits_for_the_same_pull() {
    let mut e = env(KubeletConfig {
        image_pull: Duration::from_secs(10),
        ..Default::default()
    });
    e.create(pod("a", "node-1"));
    e.at(4);
    e.create(pod("b", "node-1"));
    e.at(11);
    assert_eq!(running_since(e.state("a")), Some(e.t(11)));
    assert_eq!(running_since(e.state("b")), Some(e.t(11)));
}

#[test]
fn images_listed_on_the_node_are_not_pulled() {
    let mut e = env(KubeletConfig {
        image_pull: Duration::from_secs(30),
        ..Default::default()
    });
    let mut n = e
        .store
        .get(Kind::Node, "", "node-1")
        .unwrap()
        .as_ref()
        .clone();
    if let Object::Node(node) = &mut n {
        node.status.images = vec![intern("redis:7")];
    }
    e.store.update_status(n).unwrap();
    e.create(pod("r", "node-1").image("redis:7", PullPolicy::IfNotPresent));
    e.at(1);
    assert_eq!(e.phase("r"), PodPhase::Running);
}

#[test]
fn unpullable_image_backs_off_and_never_runs() {
    let mut e = env(KubeletConfig {
        image_pull: Duration::from_secs(2),
        unpullable_images: vec!["nginx:1.91".into()],
        ..Default::default()
    });
    e.create(pod("bad", "node-1").image("nginx:1.91", PullPolicy::IfNotPresent));
    let w = |r| ContainerState::Waiting(r);
    assert_eq!(e.state("bad"), w(WaitingReason::ContainerCreating));
    e.at(2);
    assert_eq!(e.state("bad"), w(WaitingReason::ErrImagePull));
    e.at(3);
    assert_eq!(e.state("bad"), w(WaitingReason::ImagePullBackOff));
    // Retry after 10 s back-off + 2 s pull: fails at +14.
    e.at_ms(13999);
    assert_eq!(e.state("bad"), w(WaitingReason::ImagePullBackOff));
    e.at(14);
    assert_eq!(e.state("bad"), w(WaitingReason::ErrImagePull));
    e.at(15);
    assert_eq!(e.state("bad"), w(WaitingReason::ImagePullBackOff));
    // Next: 14 + 20 + 2 = 36.
    e.at_ms(35999);
    assert_eq!(e.state("bad"), w(WaitingReason::ImagePullBackOff));
    e.at(36);
    assert_eq!(e.state("bad"), w(WaitingReason::ErrImagePull));
    e.at(7200);
    let p = e.pod("bad");
    assert_eq!(p.status.phase, PodPhase::Pending);
    assert!(!p.is_ready());
    assert_eq!(p.status.pod_ip, None);
    assert!(matches!(
        p.status.container_state,
        ContainerState::Waiting(_)
    ));
    let ev = e.events("bad");
    assert!(ev.contains(&(EventType::Warning, "Failed".into())));
    assert!(ev.contains(&(EventType::Normal, "BackOff".into())));

    // A pullable pod on the same node is unaffected.
    e.create(pod("good", "node-1"));
    e.at(7203);
    assert_eq!(e.phase("good"), PodPhase::Running);
}

fn ips(e: &Env) -> BTreeMap<String, (Option<Ipv4Addr>, Option<Timestamp>)> {
    e.store
        .list(Kind::Pod, None, None, None)
        .unwrap()
        .iter()
        .map(|o| {
            let p = o.as_pod().unwrap();
            (
                p.meta.name.to_string(),
                (p.status.pod_ip, running_since(p.status.container_state)),
            )
        })
        .collect()
}

#[test]
fn pod_ips_are_unique_within_the_node_cidr() {
    let mut e = env(KubeletConfig::default());
    for i in 0..30 {
        let n = if i % 3 == 0 { "node-2" } else { "node-1" };
        e.store.create(pod(&format!("p{i:02}"), n).build()).unwrap();
    }
    e.sim.run_until_idle();
    e.at(1);
    let mut seen = HashSet::new();
    let mut per_node: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for o in e.store.list(Kind::Pod, None, None, None).unwrap().iter() {
        let p = o.as_pod().unwrap();
        assert_eq!(p.status.phase, PodPhase::Running);
        let ip = p.status.pod_ip.expect("running pods have an IP");
        assert!(seen.insert(ip), "duplicate IP {ip}");
        let node = p.node_name.as_ref().unwrap().to_string();
        let o = ip.octets();
        let n = if node == "node-1" { 1 } else { 2 };
        assert_eq!(&o[..3], &[10, 244, n], "IP {ip} outside the CIDR of {node}");
        per_node.entry(node).or_default().push(o[3]);
    }
    // The lowest addresses, from .2.
    for (node, mut v) in per_node {
        v.sort();
        let want: Vec<u8> = (2..2 + v.len() as u8).collect();
        assert_eq!(v, want, "{node}");
    }

    // A freed address (the pod is gone) is reused by the next pod on the node.
    e.store
        .delete(Kind::Pod, "default", "p01", &DeleteOptions::grace(0))
        .unwrap();
    let freed = Ipv4Addr::new(10, 244, 1, 2);
    e.create(pod("late", "node-1"));
    e.at(3);
    assert_eq!(e.pod("late").status.pod_ip, Some(freed));
}

#[test]
fn job_pod_succeeds_or_fails_after_its_run_time() {
    let mut e = env(KubeletConfig::default());
    let job = |name: &str, code: &str| {
        pod(name, "node-1")
            .ann("kubesim.io/run-time", "10s")
            .ann("kubesim.io/exit-code", code)
            .restart(RestartPolicy::Never)
    };
    e.create(job("ok", "0"));
    e.create(job("bad", "1"));
    e.at_ms(10_999);
    assert_eq!(e.phase("ok"), PodPhase::Running);
    assert!(e.ready("ok"));
    e.at(11);
    let ok = e.pod("ok");
    assert_eq!(ok.status.phase, PodPhase::Succeeded);
    assert_eq!(
        ok.status.container_state,
        ContainerState::Terminated {
            exit_code: 0,
            finished_at: e.t(11)
        }
    );
    assert!(!ok.is_ready());
    let bad = e.pod("bad");
    assert_eq!(bad.status.phase, PodPhase::Failed);
    assert!(matches!(
        bad.status.container_state,
        ContainerState::Terminated { exit_code: 1, .. }
    ));
    assert_eq!(bad.status.restart_count, 0);
    e.at(1000);
    assert_eq!(e.phase("ok"), PodPhase::Succeeded);
    assert_eq!(e.phase("bad"), PodPhase::Failed);
}

/// Two OnFailure pods on node-1 that run 5 s: `crash` exits 1, `done` exits 0.
fn create_crash_and_done(e: &mut Env) {
    e.create(
        pod("crash", "node-1")
            .ann("kubesim.io/run-time", "5s")
            .ann("kubesim.io/exit-code", "1")
            .restart(RestartPolicy::OnFailure),
    );
    e.create(
        pod("done", "node-1")
            .ann("kubesim.io/run-time", "5s")
            .restart(RestartPolicy::OnFailure),
    );
}

#[test]
fn on_failure_restarts_with_backoff_and_succeeds_on_zero() {
    let mut e = env(KubeletConfig::default());
    create_crash_and_done(&mut e);
    e.at(6);
    let p = e.pod("crash");
    assert_eq!(
        p.status.container_state,
        ContainerState::Waiting(WaitingReason::CrashLoopBackOff)
    );
    assert_eq!(p.status.phase, PodPhase::Running);
    assert_eq!(p.status.restart_count, 0);
    assert!(!p.is_ready());
    assert_eq!(e.phase("done"), PodPhase::Succeeded);
    // Restart after 10 s.
    e.at(16);
    let p = e.pod("crash");
    assert_eq!(running_since(p.status.container_state), Some(e.t(16)));
    assert_eq!(p.status.restart_count, 1);
    assert!(p.is_ready());
    // Exits at 21, back-off 20 s → restart at 41.
    e.at(21);
    assert!(!e.ready("crash"));
    e.at_ms(40_999);
    assert_eq!(e.pod("crash").status.restart_count, 1);
    e.at(41);
    assert_eq!(e.pod("crash").status.restart_count, 2);
    // Restart counts keep growing, capped back-off (5 min): after an hour there are
    // more than 10 restarts and fewer than 20.
    e.at(3600);
    let n = e.pod("crash").status.restart_count;
    assert!((10..20).contains(&n), "restart count {n}");
    assert!(e
        .events("crash")
        .contains(&(EventType::Warning, "BackOff".into())));
}

/// `lastState.terminated` is the latest run that ended: the exited run during its
/// back-off, the previous run while the next one runs (what kubectl's RESTARTS
/// column dates: `2 (20s ago)`).
#[test]
fn the_last_termination_is_kept_across_restarts() {
    let mut e = env(KubeletConfig::default());
    create_crash_and_done(&mut e);
    let last = |e: &Env| e.pod("crash").status.last_termination.map(|t| *t);
    let run = |start: i64, end: i64| LastTermination {
        exit_code: 1,
        started_at: e.t(start),
        finished_at: e.t(end),
    };
    let (run0, run1) = (run(1, 6), run(16, 21));
    e.at(5);
    assert_eq!(last(&e), None, "run 0 is still running");
    e.at(6);
    assert_eq!(last(&e), Some(run0), "back-off after run 0");
    e.at(16);
    assert_eq!(last(&e), Some(run0), "run 1 runs");
    e.at(21);
    assert_eq!(last(&e), Some(run1), "back-off after run 1");
    e.at(41);
    assert_eq!(e.pod("crash").status.restart_count, 2);
    assert_eq!(last(&e), Some(run1), "run 2 runs");
    let j = Object::from(e.pod("crash")).to_json();
    assert_eq!(
        j["status"]["containerStatuses"][0]["lastState"]["terminated"],
        serde_json::json!({"exitCode": 1, "reason": "Error",
            "startedAt": e.t(16).rfc3339(), "finishedAt": e.t(21).rfc3339()})
    );
    // A run that ended for good has no earlier run to report.
    assert_eq!(e.phase("done"), PodPhase::Succeeded);
    assert_eq!(e.pod("done").status.last_termination, None);
    let j = Object::from(e.pod("done")).to_json();
    assert_eq!(
        j["status"]["containerStatuses"][0]["lastState"],
        serde_json::json!({})
    );
}

#[test]
fn always_restarts_even_after_exit_zero() {
    let mut e = env(KubeletConfig::default());
    e.create(pod("svc", "node-1").ann("kubesim.io/run-time", "5s"));
    e.at(6);
    assert_eq!(e.phase("svc"), PodPhase::Running);
    assert_eq!(
        e.state("svc"),
        ContainerState::Waiting(WaitingReason::CrashLoopBackOff)
    );
    e.at(16);
    assert_eq!(e.pod("svc").status.restart_count, 1);
    assert_eq!(running_since(e.state("svc")), Some(e.t(16)));
}

#[test]
fn graceful_delete_keeps_the_pod_ready_until_the_grace_period_ends() {
    let mut e = env(KubeletConfig::default());
    e.create(pod("dflt", "node-1"));
    e.create(pod("short", "node-1").grace(5));
    e.at(10);
    for n in ["dflt", "short"] {
        e.store
            .delete(Kind::Pod, "default", n, &DeleteOptions::default())
            .unwrap();
    }
    e.sim.run_until_idle();
    assert_eq!(e.pod("dflt").meta.deletion_timestamp(), Some(e.t(40)));
    e.at_ms(14_999);
    assert!(e.ready("short"));
    e.at(15);
    assert!(e.try_pod("short").is_none(), "removed after its 5 s grace");
    e.at_ms(39_999);
    let p = e.pod("dflt");
    assert!(p.is_ready(), "terminating pod keeps Ready");
    assert_eq!(p.status.phase, PodPhase::Running);
    e.at(40);
    assert!(
        e.try_pod("dflt").is_none(),
        "removed after the 30 s default"
    );
}

#[test]
fn stopped_node_freezes_its_pods() {
    let mut e = env(KubeletConfig::default());
    e.create(pod("frozen", "node-1"));
    e.create(pod("other", "node-2"));
    e.kubelet.stop_node("node-1");
    assert!(e.kubelet.is_node_stopped("node-1"));
    e.at(120);
    assert_eq!(e.phase("frozen"), PodPhase::Pending);
    assert_eq!(e.phase("other"), PodPhase::Running);

    // Deletion does not complete on a stopped node.
    e.store
        .delete(Kind::Pod, "default", "frozen", &DeleteOptions::grace(5))
        .unwrap();
    e.at(300);
    assert!(e.try_pod("frozen").is_some());

    // The restarted kubelet catches up within 10 s.
    e.kubelet.start_node("node-1");
    e.at(310);
    assert!(e.try_pod("frozen").is_none());
}

#[test]
fn restarted_kubelet_recomputes_status() {
    let mut e = env(KubeletConfig::default());
    e.create(pod("p", "node-1"));
    e.kubelet.stop_node("node-1");
    e.at(30);
    assert_eq!(e.phase("p"), PodPhase::Pending);
    e.kubelet.start_node("node-1");
    e.at(40);
    let p = e.pod("p");
    assert_eq!(p.status.phase, PodPhase::Running);
    assert!(p.status.pod_ip.is_some());
    assert!(p.is_ready());
}

#[test]
fn pods_of_a_missing_node_wait_for_it() {
    let mut e = env(KubeletConfig::default());
    e.create(pod("ghost", "node-9"));
    e.at(5);
    assert_eq!(e.pod("ghost").status.start_time, None);
    e.store.create(node("node-9", 9)).unwrap();
    e.at(6);
    assert!(e.pod("ghost").status.start_time.is_some());
    e.at(7);
    assert_eq!(
        e.pod("ghost").status.pod_ip,
        Some(Ipv4Addr::new(10, 244, 9, 2))
    );
}

#[test]
fn unbound_pods_are_not_the_kubelets() {
    let mut e = env(KubeletConfig::default());
    e.create(pod("unbound", "x").unbound());
    e.at(10);
    assert_eq!(e.pod("unbound").status, Default::default());
}

#[test]
fn with_the_scheduler() {
    let mut e = env_with(KubeletConfig::default(), 3, true);
    e.create(pod("s", "x").unbound());
    e.at(1);
    let p = e.pod("s");
    assert!(p.node_name.is_some());
    assert!(p.status.conditions.scheduled.is_true());
    assert_eq!(p.status.phase, PodPhase::Running);
    assert!(p.is_ready());
}

fn run_mixed(seed: u64) -> BTreeMap<String, (Option<Ipv4Addr>, Option<Timestamp>)> {
    let mut e = env_with(
        KubeletConfig {
            image_pull: Duration::from_secs(3),
            ..Default::default()
        },
        seed,
        true,
    );
    for i in 0..24 {
        let mut p = pod(&format!("m{i:02}"), "x").unbound();
        if i % 4 == 0 {
            p = p.image("redis:7", PullPolicy::IfNotPresent);
        }
        if i % 5 == 0 {
            p = p
                .ann("kubesim.io/run-time", "7s")
                .restart(RestartPolicy::Always);
        }
        e.store.create(p.build()).unwrap();
    }
    e.at(60);
    ips(&e)
}

#[test]
fn same_seed_same_ips_and_timings() {
    let a = run_mixed(11);
    let b = run_mixed(11);
    assert_eq!(a, b);
    assert_eq!(a.len(), 24);
    assert!(a.values().filter(|(ip, _)| ip.is_some()).count() == 24);
}

fn heartbeat(e: &Env, node: &str) -> (ConditionStatus, Option<Timestamp>) {
    let o = e.store.get(Kind::Node, "", node).unwrap();
    let Object::Node(n) = &*o else { unreachable!() };
    let c = kubesim_core::model::find_condition(&n.status.conditions, "Ready").unwrap();
    (c.status, c.last_update_time)
}

#[test]
fn running_nodes_heartbeat_every_ten_seconds_stopped_ones_do_not() {
    let mut e = env(KubeletConfig::default());
    e.sim.run_until_idle();
    assert_eq!(
        heartbeat(&e, "node-1"),
        (ConditionStatus::True, Some(e.t(0)))
    );
    e.at_ms(9_999);
    assert_eq!(heartbeat(&e, "node-1").1, Some(e.t(0)));
    e.at(10);
    assert_eq!(heartbeat(&e, "node-1").1, Some(e.t(10)));
    e.kubelet.stop_node("node-1");
    e.at(100);
    assert_eq!(
        heartbeat(&e, "node-1").1,
        Some(e.t(10)),
        "stopped: no heartbeat"
    );
    assert_eq!(heartbeat(&e, "node-2").1, Some(e.t(100)));

    // A node lifecycle controller marks it Unknown; the restarted kubelet posts Ready.
    let mut o = e
        .store
        .get(Kind::Node, "", "node-1")
        .unwrap()
        .as_ref()
        .clone();
    if let Object::Node(n) = &mut o {
        n.status.conditions[0].status = ConditionStatus::Unknown;
    }
    e.store.update_status(o).unwrap();
    e.sim.run_until_idle();
    assert_eq!(heartbeat(&e, "node-1").0, ConditionStatus::Unknown);
    e.kubelet.start_node("node-1");
    e.at(110);
    assert_eq!(
        heartbeat(&e, "node-1"),
        (ConditionStatus::True, Some(e.t(110)))
    );

    // Disabled heartbeats write nothing.
    let mut e = env(KubeletConfig {
        node_heartbeat: None,
        ..Default::default()
    });
    e.at(60);
    assert_eq!(heartbeat(&e, "node-1"), (ConditionStatus::True, None));
}

#[test]
fn ready_set_false_by_someone_else_is_restored_and_dated_now() {
    let mut e = env(KubeletConfig::default());
    e.create(pod("p", "node-1"));
    e.at(5);
    assert!(e.ready("p"));
    // E.g. the node lifecycle controller marks the pod not ready at +5.
    let mut o = e
        .store
        .get(Kind::Pod, "default", "p")
        .unwrap()
        .as_ref()
        .clone();
    if let Object::Pod(p) = &mut o {
        p.status
            .conditions
            .ready
            .set(ConditionStatus::False, e.t(5));
    }
    e.store.update_status(o).unwrap();
    e.at(6);
    let p = e.pod("p");
    assert!(p.is_ready());
    assert_eq!(p.status.conditions.ready.since, e.t(5));
    assert!(!p.is_available(10, e.t(6)));
}
