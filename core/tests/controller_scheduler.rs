//! The scheduler ([`kubesim_core::controllers::scheduler`]) in virtual time: spreading,
//! resource fit and pod counts, nodeSelector, taints and tolerations, cordoned and
//! NotReady nodes, host ports, retries when the cluster changes, claims, no
//! overcommit when many pods are scheduled at once, determinism.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use kubesim_core::controllers::scheduler::{queue_key, Scheduler};
use kubesim_core::intern::{intern, Str, StrMap};
use kubesim_core::model::{
    Condition, ConditionStatus, Container, ContainerPort, EventType, Kind, Node, NodeCapacity,
    NodeSpec, NodeStatus, Object, ObjectMeta, PersistentVolumeClaim, Pod, PodSpec, Protocol,
    PvcPhase, PvcSpec, PvcStatus, Resources, Taint, TaintEffect, Toleration, TolerationOperator,
    Volume, VolumeSource,
};
use kubesim_core::runtime::{virtual_store, Controller, SimConfig, Simulation};
use kubesim_core::store::{DeleteOptions, Store};
use kubesim_core::time::Timestamp;

const GI: i64 = 1 << 30;

fn node(name: &str, cpu_millis: i64, memory_bytes: i64) -> Node {
    let cap = NodeCapacity {
        resources: Resources {
            cpu_millis,
            memory_bytes,
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

fn container(cpu_millis: i64, memory_bytes: i64) -> Container {
    Container {
        name: intern("app"),
        image: intern("nginx:1.25"),
        image_pull_policy: Default::default(),
        command: vec![],
        args: vec![],
        ports: vec![],
        requests: Resources {
            cpu_millis,
            memory_bytes,
        },
        limits: Resources::default(),
        readiness_probe: None,
        liveness_probe: None,
        pre_stop: None,
    }
}

fn pod_with(name: &str, spec: PodSpec) -> Object {
    Object::from(Pod {
        meta: ObjectMeta::named("default", name),
        spec: Arc::new(spec),
        node_name: None,
        status: Default::default(),
    })
}

fn pod(name: &str, cpu_millis: i64, memory_bytes: i64) -> Object {
    pod_with(
        name,
        PodSpec {
            containers: vec![container(cpu_millis, memory_bytes)],
            ..Default::default()
        },
    )
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

fn taint(key: &str, effect: TaintEffect) -> Taint {
    Taint {
        key: intern(key),
        value: None,
        effect,
        time_added: None,
    }
}

fn sim(store: &Store, clock: Arc<kubesim_core::time::ManualClock>, seed: u64) -> Simulation {
    let controllers: Vec<Arc<dyn Controller>> = vec![Arc::new(Scheduler::new())];
    Simulation::new(store.clone(), clock, controllers, SimConfig::new(seed)).unwrap()
}

fn get_pod(store: &Store, name: &str) -> Pod {
    store
        .get(Kind::Pod, "default", name)
        .unwrap()
        .as_pod()
        .unwrap()
        .clone()
}

fn node_of(store: &Store, name: &str) -> Option<String> {
    get_pod(store, name).node_name.map(|n| n.to_string())
}

/// Pod name → node name, for every pod.
fn placement(store: &Store) -> BTreeMap<String, Option<String>> {
    store
        .list(Kind::Pod, None, None, None)
        .unwrap()
        .iter()
        .map(|o| (o.name().to_string(), o.node_name().map(|n| n.to_string())))
        .collect()
}

fn pods_per_node(store: &Store) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for n in placement(store).into_values().flatten() {
        *out.entry(n).or_default() += 1;
    }
    out
}

/// Events about a pod: (type, reason, message, count).
fn events_of(store: &Store, pod: &str) -> Vec<(EventType, String, String, i32)> {
    store
        .list(Kind::Event, None, None, None)
        .unwrap()
        .iter()
        .filter_map(|o| match &**o {
            Object::Event(e) if e.involved_object.name.as_str() == pod => Some((
                e.type_,
                e.reason.to_string(),
                e.message.to_string(),
                e.count,
            )),
            _ => None,
        })
        .collect()
}

/// Asserts the pod is Pending, unbound, PodScheduled=False with `message`, and has a
/// FailedScheduling Warning with it.
fn assert_unschedulable(store: &Store, name: &str, message: &str) {
    let p = get_pod(store, name);
    assert_eq!(p.node_name, None, "{name} should not be bound");
    assert_eq!(
        p.status.conditions.scheduled.status,
        Some(ConditionStatus::False)
    );
    assert_eq!(p.status.reason.as_deref(), Some(message));
    assert!(
        events_of(store, name)
            .iter()
            .any(|(t, r, m, _)| *t == EventType::Warning
                && r == "FailedScheduling"
                && m == message),
        "no FailedScheduling event for {name}: {:?}",
        events_of(store, name)
    );
}

fn assert_scheduled(store: &Store, name: &str) -> String {
    let p = get_pod(store, name);
    let node = p.node_name.clone().expect("bound").to_string();
    assert!(p.status.conditions.scheduled.is_true());
    assert_eq!(p.status.reason, None);
    let msg = format!("Successfully assigned default/{name} to {node}");
    assert!(
        events_of(store, name)
            .iter()
            .any(|(t, r, m, _)| *t == EventType::Normal && r == "Scheduled" && *m == msg),
        "no Scheduled event for {name}"
    );
    node
}

#[test]
fn spreads_pods_by_least_allocated() {
    let (store, clock) = virtual_store(1);
    for n in ["a", "b", "c"] {
        store.create(Object::from(node(n, 4000, 8 * GI))).unwrap();
    }
    let mut s = sim(&store, clock, 7);
    for i in 0..30 {
        store.create(pod(&format!("p{i}"), 100, 128 << 20)).unwrap();
    }
    s.run_until_idle();
    for i in 0..30 {
        assert_scheduled(&store, &format!("p{i}"));
    }
    let per = pods_per_node(&store);
    assert_eq!(per.values().copied().collect::<Vec<_>>(), vec![10, 10, 10]);

    // A node already busy is avoided: b and c get one more each before a does.
    let (store, clock) = virtual_store(1);
    for n in ["a", "b", "c"] {
        store.create(Object::from(node(n, 4000, 8 * GI))).unwrap();
    }
    let mut busy = pod("busy", 2000, 4 * GI).as_pod().unwrap().clone();
    busy.node_name = Some(Str::new("a"));
    store.create(Object::from(busy)).unwrap();
    let mut s = sim(&store, clock, 7);
    store.create(pod("x", 500, GI)).unwrap();
    store.create(pod("y", 500, GI)).unwrap();
    s.run_until_idle();
    let mut got = vec![node_of(&store, "x").unwrap(), node_of(&store, "y").unwrap()];
    got.sort();
    assert_eq!(got, vec!["b", "c"]);
}

#[test]
fn cpu_fit_one_per_node_and_fourth_unschedulable() {
    let (store, clock) = virtual_store(1);
    for n in ["a", "b", "c"] {
        store.create(Object::from(node(n, 1000, 4 * GI))).unwrap();
    }
    let mut s = sim(&store, clock, 3);
    for i in 0..4 {
        store.create(pod(&format!("p{i}"), 600, 0)).unwrap();
    }
    s.run_until_idle();
    let nodes: Vec<String> = (0..3)
        .map(|i| assert_scheduled(&store, &format!("p{i}")))
        .collect();
    let mut sorted = nodes.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["a", "b", "c"]);
    assert_unschedulable(&store, "p3", "0/3 nodes are available: 3 Insufficient cpu.");

    // Memory too.
    store.create(pod("big-mem", 0, 8 * GI)).unwrap();
    s.run_until_idle();
    assert_unschedulable(
        &store,
        "big-mem",
        "0/3 nodes are available: 3 Insufficient memory.",
    );
}

#[test]
fn max_pods_is_respected() {
    let (store, clock) = virtual_store(1);
    let mut n = node("small", 4000, 8 * GI);
    n.status.allocatable.pods = 2;
    store.create(Object::from(n)).unwrap();
    let mut s = sim(&store, clock, 1);
    for i in 0..3 {
        store.create(pod(&format!("p{i}"), 0, 0)).unwrap();
    }
    s.run_until_idle();
    assert_scheduled(&store, "p0");
    assert_scheduled(&store, "p1");
    assert_unschedulable(&store, "p2", "0/1 nodes are available: 1 Too many pods.");
}

#[test]
fn node_selector_only_labelled_nodes() {
    let (store, clock) = virtual_store(1);
    for n in ["a", "b", "c"] {
        let mut nd = node(n, 4000, 8 * GI);
        if n == "b" {
            nd.meta.labels = StrMap::from_pairs([("disk", "ssd")]);
        }
        store.create(Object::from(nd)).unwrap();
    }
    let mut s = sim(&store, clock, 5);
    for i in 0..5 {
        store
            .create(pod_with(
                &format!("ssd-{i}"),
                PodSpec {
                    containers: vec![container(100, 0)],
                    node_selector: StrMap::from_pairs([("disk", "ssd")]),
                    ..Default::default()
                },
            ))
            .unwrap();
    }
    store
        .create(pod_with(
            "gpu",
            PodSpec {
                containers: vec![container(100, 0)],
                node_selector: StrMap::from_pairs([("gpu", "true")]),
                ..Default::default()
            },
        ))
        .unwrap();
    s.run_until_idle();
    for i in 0..5 {
        assert_eq!(assert_scheduled(&store, &format!("ssd-{i}")), "b");
    }
    assert_unschedulable(
        &store,
        "gpu",
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
    );
}

#[test]
fn taints_and_tolerations() {
    let (store, clock) = virtual_store(1);
    let mut a = node("a", 4000, 8 * GI);
    a.spec.taints = vec![taint("dedicated", TaintEffect::NoSchedule)];
    store.create(Object::from(a)).unwrap();
    store.create(Object::from(node("b", 4000, 8 * GI))).unwrap();
    let mut s = sim(&store, clock, 11);
    for i in 0..6 {
        store.create(pod(&format!("p{i}"), 100, 0)).unwrap();
    }
    s.run_until_idle();
    for i in 0..6 {
        assert_eq!(assert_scheduled(&store, &format!("p{i}")), "b");
    }
    // A tolerating pod may go to a (and, b being busier, does).
    store
        .create(pod_with(
            "tol",
            PodSpec {
                containers: vec![container(100, 0)],
                tolerations: vec![tolerate("dedicated")],
                ..Default::default()
            },
        ))
        .unwrap();
    s.run_until_idle();
    assert_eq!(assert_scheduled(&store, "tol"), "a");

    // Only the tainted node: the message names the taint.
    let (store, clock) = virtual_store(1);
    let mut a = node("a", 4000, 8 * GI);
    a.spec.taints = vec![Taint {
        value: Some(intern("db")),
        ..taint("dedicated", TaintEffect::NoExecute)
    }];
    store.create(Object::from(a)).unwrap();
    let mut s = sim(&store, clock, 11);
    store.create(pod("p", 100, 0)).unwrap();
    s.run_until_idle();
    assert_unschedulable(
        &store,
        "p",
        "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: db}.",
    );
}

#[test]
fn prefer_no_schedule_lowers_the_score() {
    let (store, clock) = virtual_store(1);
    let mut soft = node("a-soft", 4000, 8 * GI);
    soft.spec.taints = vec![taint("spot", TaintEffect::PreferNoSchedule)];
    store.create(Object::from(soft)).unwrap();
    store.create(Object::from(node("b", 4000, 8 * GI))).unwrap();
    let mut s = sim(&store, clock, 2);
    // Even as b fills up (least-allocated prefers a), the taint keeps pods off a while
    // b fits.
    for i in 0..5 {
        store.create(pod(&format!("p{i}"), 700, 0)).unwrap();
    }
    s.run_until_idle();
    for i in 0..5 {
        assert_eq!(assert_scheduled(&store, &format!("p{i}")), "b");
    }
    // b is full (3500m): the next one goes to the tainted node.
    store.create(pod("overflow", 700, 0)).unwrap();
    // A pod tolerating the taint sees both nodes equal on taints, and picks the
    // emptier a.
    store
        .create(pod_with(
            "tolerant",
            PodSpec {
                containers: vec![container(100, 0)],
                tolerations: vec![tolerate("spot")],
                ..Default::default()
            },
        ))
        .unwrap();
    s.run_until_idle();
    assert_eq!(assert_scheduled(&store, "overflow"), "a-soft");
    assert_eq!(assert_scheduled(&store, "tolerant"), "a-soft");
}

#[test]
fn cordoned_and_not_ready_nodes_are_skipped() {
    let (store, clock) = virtual_store(1);
    let mut cordoned = node("a", 4000, 8 * GI);
    cordoned.spec.unschedulable = true;
    let mut not_ready = node("b", 4000, 8 * GI);
    not_ready.status.conditions[0].status = ConditionStatus::False;
    store.create(Object::from(cordoned)).unwrap();
    store.create(Object::from(not_ready)).unwrap();
    let mut s = sim(&store, clock, 4);
    store.create(pod("p", 100, 0)).unwrap();
    s.run_until_idle();
    assert_unschedulable(
        &store,
        "p",
        "0/2 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable.",
    );
    // A ready node appears: every pod goes there.
    store.create(Object::from(node("c", 4000, 8 * GI))).unwrap();
    for i in 0..4 {
        store.create(pod(&format!("q{i}"), 100, 0)).unwrap();
    }
    s.run_until_idle();
    assert_eq!(assert_scheduled(&store, "p"), "c");
    for i in 0..4 {
        assert_eq!(assert_scheduled(&store, &format!("q{i}")), "c");
    }
    // Uncordoning a makes it a candidate again.
    let mut a = store
        .get(Kind::Node, "", "a")
        .unwrap()
        .as_node()
        .unwrap()
        .clone();
    a.spec.unschedulable = false;
    store.update(Object::from(a)).unwrap();
    store.create(pod("after-uncordon", 100, 0)).unwrap();
    s.run_until_idle();
    assert_eq!(assert_scheduled(&store, "after-uncordon"), "a");
}

#[test]
fn host_port_conflicts() {
    let (store, clock) = virtual_store(1);
    store.create(Object::from(node("a", 4000, 8 * GI))).unwrap();
    store.create(Object::from(node("b", 4000, 8 * GI))).unwrap();
    let mut s = sim(&store, clock, 9);
    let mut c = container(0, 0);
    c.ports.push(ContainerPort {
        name: None,
        container_port: 80,
        host_port: Some(8080),
        protocol: Protocol::Tcp,
    });
    for i in 0..3 {
        store
            .create(pod_with(
                &format!("hp{i}"),
                PodSpec {
                    containers: vec![c.clone()],
                    ..Default::default()
                },
            ))
            .unwrap();
    }
    s.run_until_idle();
    let mut nodes = vec![
        assert_scheduled(&store, "hp0"),
        assert_scheduled(&store, "hp1"),
    ];
    nodes.sort();
    assert_eq!(nodes, vec!["a", "b"]);
    assert_unschedulable(
        &store,
        "hp2",
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports.",
    );
}

#[test]
fn unschedulable_pod_is_retried_when_the_cluster_changes() {
    let (store, clock) = virtual_store(1);
    store.create(Object::from(node("a", 1000, 4 * GI))).unwrap();
    let mut s = sim(&store, clock, 6);
    store.create(pod("first", 600, 0)).unwrap();
    s.run_until_idle();
    store.create(pod("second", 600, 0)).unwrap();
    s.run_until_idle();
    assert_scheduled(&store, "first");
    assert_unschedulable(
        &store,
        "second",
        "0/1 nodes are available: 1 Insufficient cpu.",
    );

    // No churn: more rounds and heartbeats change nothing.
    let rv = get_pod(&store, "second").meta.resource_version;
    let mut a = store
        .get(Kind::Node, "", "a")
        .unwrap()
        .as_node()
        .unwrap()
        .clone();
    a.status.conditions[0].last_update_time = Some(Timestamp(10_000));
    store.update_status(Object::from(a)).unwrap();
    let stats = s.run_until_idle();
    assert_eq!(
        stats.reconciles, 0,
        "a heartbeat should not trigger a reconcile"
    );
    assert_eq!(get_pod(&store, "second").meta.resource_version, rv);
    let warnings: Vec<_> = events_of(&store, "second")
        .into_iter()
        .filter(|e| e.1 == "FailedScheduling")
        .collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].3, 1);

    // Capacity frees when the first pod is deleted.
    store
        .delete(Kind::Pod, "default", "first", &DeleteOptions::grace(0))
        .unwrap();
    s.run_until_idle();
    assert_eq!(assert_scheduled(&store, "second"), "a");

    // A third pod waits, then goes to a node that is added.
    store.create(pod("third", 600, 0)).unwrap();
    s.run_until_idle();
    assert_unschedulable(
        &store,
        "third",
        "0/1 nodes are available: 1 Insufficient cpu.",
    );
    store.create(Object::from(node("b", 1000, 4 * GI))).unwrap();
    s.run_until_idle();
    assert_eq!(assert_scheduled(&store, "third"), "b");
}

#[test]
fn pods_wait_for_their_claims() {
    let (store, clock) = virtual_store(1);
    store.create(Object::from(node("a", 4000, 8 * GI))).unwrap();
    let mut s = sim(&store, clock, 8);
    store
        .create(pod_with(
            "db",
            PodSpec {
                containers: vec![container(100, 0)],
                volumes: vec![Volume {
                    name: intern("data"),
                    source: VolumeSource::PersistentVolumeClaim(intern("data-db")),
                }],
                ..Default::default()
            },
        ))
        .unwrap();
    s.run_until_idle();
    assert_unschedulable(
        &store,
        "db",
        "0/1 nodes are available: persistentvolumeclaim \"data-db\" not found.",
    );
    let claim = PersistentVolumeClaim {
        meta: ObjectMeta::named("default", "data-db"),
        spec: PvcSpec::default(),
        status: PvcStatus::default(),
    };
    store.create(Object::from(claim)).unwrap();
    s.run_until_idle();
    assert_unschedulable(
        &store,
        "db",
        "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
    );
    let mut bound = store
        .get(Kind::PersistentVolumeClaim, "default", "data-db")
        .unwrap()
        .as_pvc()
        .unwrap()
        .clone();
    bound.status.phase = PvcPhase::Bound;
    store.update_status(Object::from(bound)).unwrap();
    s.run_until_idle();
    assert_eq!(assert_scheduled(&store, "db"), "a");
}

/// 100 pods with random requests on 3 nodes.
fn many_pods(seed: u64) -> (Store, BTreeMap<String, Option<String>>, u64) {
    let (store, clock) = virtual_store(1);
    for n in ["a", "b", "c"] {
        store.create(Object::from(node(n, 8000, 16 * GI))).unwrap();
    }
    let mut s = sim(&store, clock, seed);
    let mut rng = SmallRng::seed_from_u64(99);
    for i in 0..100 {
        let cpu = rng.random_range(0..8) * 100;
        let mem = rng.random_range(0..8) * (128 << 20);
        store.create(pod(&format!("p{i:03}"), cpu, mem)).unwrap();
    }
    let stats = s.run_until_idle();
    let p = placement(&store);
    (store, p, stats.rounds)
}

#[test]
fn many_pods_in_one_round_never_overcommit() {
    let (store, placed, _) = many_pods(1);
    let mut used: BTreeMap<String, (i64, i64, usize)> = BTreeMap::new();
    let mut bound = 0;
    for o in store.list(Kind::Pod, None, None, None).unwrap().iter() {
        let p = o.as_pod().unwrap();
        match &p.node_name {
            Some(n) => {
                bound += 1;
                let r = p.spec.total_requests();
                let e = used.entry(n.to_string()).or_default();
                e.0 += r.cpu_millis;
                e.1 += r.memory_bytes;
                e.2 += 1;
            }
            None => {
                let reason = p.status.reason.as_deref().unwrap_or("");
                assert!(
                    reason.starts_with("0/3 nodes are available: ")
                        && reason.contains("Insufficient"),
                    "{}: {reason}",
                    p.meta.name
                );
            }
        }
    }
    for (n, (cpu, mem, count)) in &used {
        assert!(*cpu <= 8000, "{n}: {cpu}m requested");
        assert!(*mem <= 16 * GI, "{n}: {mem} bytes requested");
        assert!(*count <= 110);
    }
    // The nodes are mostly full (the random requests average 350m, so 100 pods ask
    // more than the 24 cpus): at least one node is within 700m of full.
    assert!(bound > 50, "only {bound} pods bound");
    assert!(used.values().any(|(cpu, _, _)| *cpu > 8000 - 700));
    assert_eq!(placed.len(), 100);
}

#[test]
fn same_seed_same_placement() {
    let (_, a, rounds_a) = many_pods(5);
    let (_, b, rounds_b) = many_pods(5);
    assert_eq!(a, b);
    assert_eq!(rounds_a, rounds_b);

    // Ties are broken with the seeded RNG: one pod with two identical nodes lands on
    // each node for some seed, always the same one for a given seed.
    let place = |seed: u64| {
        let (store, clock) = virtual_store(1);
        store.create(Object::from(node("a", 4000, 8 * GI))).unwrap();
        store.create(Object::from(node("b", 4000, 8 * GI))).unwrap();
        let mut s = sim(&store, clock, seed);
        store.create(pod("p", 100, 0)).unwrap();
        s.run_until_idle();
        node_of(&store, "p").unwrap()
    };
    let picks: Vec<String> = (0..16).map(place).collect();
    assert!(picks.iter().any(|n| n == "a") && picks.iter().any(|n| n == "b"));
    assert_eq!(picks, (0..16).map(place).collect::<Vec<_>>());
}

#[test]
fn the_queue_key_is_the_only_key() {
    // Every pending pod maps to one key: 20 pods created at once take one reconcile.
    let (store, clock) = virtual_store(1);
    store.create(Object::from(node("a", 4000, 8 * GI))).unwrap();
    let mut s = sim(&store, clock, 1);
    for i in 0..20 {
        store.create(pod(&format!("p{i}"), 10, 0)).unwrap();
    }
    let stats = s.run_until_idle();
    assert_eq!(stats.reconciles, 1);
    assert_eq!(pods_per_node(&store).get("a"), Some(&20));
    assert_eq!(queue_key().kind, Kind::Pod);
}

#[test]
fn a_bind_is_one_write_and_one_event() {
    let (store, clock) = virtual_store(1);
    for n in ["a", "b"] {
        store.create(Object::from(node(n, 4000, 8 * GI))).unwrap();
    }
    let mut s = sim(&store, clock, 3);
    for i in 0..5 {
        store.create(pod(&format!("p{i}"), 100, 0)).unwrap();
    }
    let mut watch = store.watch(Kind::Pod, store.resource_version()).unwrap();
    s.run_until_idle();
    let events = watch.poll(usize::MAX).unwrap();
    // Exactly one Modified event per pod, already carrying both the node and
    // PodScheduled=True: nobody ever sees a bound pod without its condition.
    assert_eq!(events.len(), 5);
    for ev in &events {
        let p = ev.object.as_pod().unwrap();
        assert!(p.node_name.is_some(), "{}", ev.object.name());
        assert!(p.status.conditions.scheduled.is_true());
        assert_eq!(ev.object.meta().resource_version, ev.resource_version);
    }
    for i in 0..5 {
        assert_scheduled(&store, &format!("p{i}"));
    }
}
