//! End-to-end tests of the simulated cluster: real manifests through every wired
//! controller, in virtual time.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubesim_core::cluster::{ApplyAction, Cluster, ClusterConfig, NodeConfig, NodeSpecs};
use kubesim_core::controllers::garbage_collector::check_gc_invariants;
use kubesim_core::intern::intern;
use kubesim_core::manifest;
use kubesim_core::model::{
    find_condition, ClusterIp, ConditionStatus, Kind, Object, PodPhase, Taint, TaintEffect,
    LABEL_SERVICE_NAME,
};
use kubesim_core::store::{DeleteOptions, Store};

fn manifest_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/scenarios/manifests")
        .join(name)
}

fn load(name: &str) -> Vec<Object> {
    manifest::load_path(&manifest_path(name)).expect("manifest loads")
}

fn cluster(nodes: usize, seed: u64, threads: usize) -> Cluster {
    Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(nodes),
        seed,
        threads,
        ..ClusterConfig::default()
    })
    .unwrap()
}

fn pods(store: &Store, selector: &str) -> Vec<Arc<Object>> {
    let sel = selector.parse().unwrap();
    store
        .list(Kind::Pod, Some("default"), Some(&sel), None)
        .unwrap()
}

fn running_ready(o: &Object) -> bool {
    let p = o.as_pod().unwrap();
    p.status.phase == PodPhase::Running && p.is_ready() && !p.meta.is_being_deleted()
}

/// (ready, not ready) addresses of the service's Endpoints.
fn endpoint_ips(store: &Store, svc: &str) -> (BTreeSet<Ipv4Addr>, BTreeSet<Ipv4Addr>) {
    let mut ready = BTreeSet::new();
    let mut not_ready = BTreeSet::new();
    if let Some(ep) = store.try_get(Kind::Endpoints, "default", svc) {
        for s in &ep.as_endpoints().unwrap().subsets {
            ready.extend(s.addresses.iter().map(|a| a.ip));
            not_ready.extend(s.not_ready_addresses.iter().map(|a| a.ip));
        }
    }
    (ready, not_ready)
}

/// Ready addresses of the service's EndpointSlices.
fn slice_ready_ips(store: &Store, svc: &str) -> BTreeSet<Ipv4Addr> {
    let sel = format!("{LABEL_SERVICE_NAME}={svc}").parse().unwrap();
    let mut out = BTreeSet::new();
    for s in store
        .list(Kind::EndpointSlice, Some("default"), Some(&sel), None)
        .unwrap()
    {
        for e in &s.as_endpoint_slice().unwrap().endpoints {
            if e.conditions.ready == Some(true) {
                out.extend(e.addresses.iter().copied());
            }
        }
    }
    out
}

fn in_cidr(ip: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(ip) & mask == u32::from(net) & mask
}

#[test]
fn whoami_on_one_node_runs_and_is_served() {
    let mut c = cluster(1, 42, 1);
    let applied = c.apply(load("whoami.yaml")).unwrap();
    assert_eq!(applied.len(), 2);
    assert!(applied.iter().all(|a| a.action == ApplyAction::Created));
    c.advance(Duration::from_secs(10));
    let store = c.store();

    let rs = store
        .get(Kind::ReplicaSet, "default", "whoami-web")
        .unwrap();
    let rs = rs.as_replica_set().unwrap();
    assert_eq!(rs.status.replicas, 1);
    assert_eq!(rs.status.ready_replicas, 1);

    let ps = pods(store, "app=whoami-web");
    assert_eq!(ps.len(), 1);
    let pod = ps[0].as_pod().unwrap();
    assert!(
        running_ready(&ps[0]),
        "pod not Running+Ready: {:?}",
        pod.status
    );
    assert_eq!(pod.node_name.as_deref(), Some("node-0"));
    let node = store.get(Kind::Node, "", "node-0").unwrap();
    let (net, prefix) = node.as_node().unwrap().spec.pod_cidr.unwrap();
    let ip = pod.status.pod_ip.expect("pod IP");
    assert!(in_cidr(ip, net, prefix), "{ip} not in {net}/{prefix}");
    assert_eq!(
        pod.status.host_ip,
        node.as_node().unwrap().status.internal_ip
    );

    let svc = store.get(Kind::Service, "default", "whoami-web").unwrap();
    match svc.as_service().unwrap().spec.cluster_ip {
        ClusterIp::Ip(cip) => assert!(in_cidr(cip, Ipv4Addr::new(10, 96, 0, 0), 12), "{cip}"),
        ref other => panic!("no ClusterIP: {other:?}"),
    }
    let (ready, not_ready) = endpoint_ips(store, "whoami-web");
    assert_eq!(ready, BTreeSet::from([ip]));
    assert!(not_ready.is_empty());
    assert_eq!(slice_ready_ips(store, "whoami-web"), BTreeSet::from([ip]));
    assert!(check_gc_invariants(store).is_empty());
}

#[test]
fn deleted_pod_is_replaced_with_a_new_name() {
    let mut c = cluster(1, 7, 1);
    c.apply(load("whoami.yaml")).unwrap();
    c.advance(Duration::from_secs(10));
    let old = pods(c.store(), "app=whoami-web");
    assert_eq!(old.len(), 1);
    let old_name = old[0].name().to_string();
    let old_ip = old[0].as_pod().unwrap().status.pod_ip.unwrap();
    c.store()
        .delete(Kind::Pod, "default", &old_name, &DeleteOptions::default())
        .unwrap();
    c.run_until(
        |s| {
            let ps = pods(s, "app=whoami-web");
            ps.len() == 1 && ps[0].name().as_str() != old_name && running_ready(&ps[0])
        },
        Duration::from_secs(60),
    )
    .expect("replacement pod Running+Ready, old pod gone");
    let new = pods(c.store(), "app=whoami-web");
    let new_ip = new[0].as_pod().unwrap().status.pod_ip.unwrap();
    assert_ne!(new[0].name().as_str(), old_name);
    c.run_until_idle();
    let (ready, _) = endpoint_ips(c.store(), "whoami-web");
    assert_eq!(ready, BTreeSet::from([new_ip]));
    assert!(!ready.contains(&old_ip) || old_ip == new_ip);
}

#[test]
fn three_replicas_spread_over_three_nodes_and_cascade_on_delete() {
    let mut c = cluster(3, 1, 1);
    let mut objects = load("whoami-replicas-3.yaml");
    // whoami-replicas-3.yaml has only the ReplicaSet: add whoami.yaml's Service.
    objects.extend(
        load("whoami.yaml")
            .into_iter()
            .filter(|o| o.kind() == Kind::Service),
    );
    c.apply(objects).unwrap();
    c.advance(Duration::from_secs(10));
    let ps = pods(c.store(), "app=whoami-web");
    assert_eq!(ps.len(), 3);
    assert!(ps.iter().all(|p| running_ready(p)));
    let nodes: BTreeSet<String> = ps
        .iter()
        .map(|p| p.node_name().unwrap().to_string())
        .collect();
    assert_eq!(nodes.len(), 3, "pods not spread: {nodes:?}");
    let ips: BTreeSet<Ipv4Addr> = ps
        .iter()
        .map(|p| p.as_pod().unwrap().status.pod_ip.unwrap())
        .collect();
    assert_eq!(ips.len(), 3);
    assert_eq!(endpoint_ips(c.store(), "whoami-web").0, ips);
    assert_eq!(slice_ready_ips(c.store(), "whoami-web"), ips);

    c.store()
        .delete(
            Kind::ReplicaSet,
            "default",
            "whoami-web",
            &DeleteOptions::default(),
        )
        .unwrap();
    c.run_until(
        |s| pods(s, "app=whoami-web").is_empty(),
        Duration::from_secs(120),
    )
    .expect("pods garbage-collected and terminated");
    c.run_until_idle();
    assert!(c
        .store()
        .try_get(Kind::ReplicaSet, "default", "whoami-web")
        .is_none());
    let (ready, not_ready) = endpoint_ips(c.store(), "whoami-web");
    assert!(ready.is_empty() && not_ready.is_empty());
    assert!(slice_ready_ips(c.store(), "whoami-web").is_empty());
    assert!(check_gc_invariants(c.store()).is_empty());
}

/// (name, node, IP) of every pod, sorted.
fn fingerprint(c: &Cluster) -> Vec<(String, String, Option<Ipv4Addr>)> {
    let mut out: Vec<_> = c
        .store()
        .list(Kind::Pod, None, None, None)
        .unwrap()
        .iter()
        .map(|p| {
            (
                p.name().to_string(),
                p.node_name().map(|n| n.to_string()).unwrap_or_default(),
                p.as_pod().unwrap().status.pod_ip,
            )
        })
        .collect();
    out.sort();
    out
}

fn run_scaled(seed: u64, threads: usize) -> (Vec<(String, String, Option<Ipv4Addr>)>, u64) {
    let mut c = cluster(3, seed, threads);
    c.apply(load("whoami-replicas-3.yaml")).unwrap();
    // whoami.yaml after whoami-replicas-3.yaml scales the ReplicaSet down to 1.
    let applied = c.apply(load("whoami.yaml")).unwrap();
    assert_eq!(applied[0].action, ApplyAction::Configured);
    c.advance(Duration::from_secs(10));
    let victim = pods(c.store(), "app=whoami-web")[0].name().to_string();
    c.store()
        .delete(Kind::Pod, "default", &victim, &DeleteOptions::default())
        .unwrap();
    c.advance(Duration::from_secs(60));
    (fingerprint(&c), c.store().resource_version())
}

#[test]
fn same_seed_same_run() {
    let (a, rv_a) = run_scaled(99, 1);
    let (b, rv_b) = run_scaled(99, 1);
    assert!(!a.is_empty());
    assert!(a.iter().all(|(_, n, ip)| !n.is_empty() && ip.is_some()));
    assert_eq!(a, b);
    assert_eq!(rv_a, rv_b);
    let (other, _) = run_scaled(100, 1);
    assert_ne!(
        a, other,
        "a different seed should give different generated names"
    );
}

#[test]
fn one_and_two_threads_same_run() {
    assert_eq!(run_scaled(5, 1), run_scaled(5, 2));
}

#[test]
fn apply_updates_spec_keeps_status_and_allocations() {
    let mut c = cluster(3, 3, 1);
    c.apply(load("whoami.yaml")).unwrap();
    c.advance(Duration::from_secs(10));
    let svc_before = c
        .store()
        .get(Kind::Service, "default", "whoami-web")
        .unwrap();
    let again = c.apply(load("whoami.yaml")).unwrap();
    assert!(
        again.iter().all(|a| a.action == ApplyAction::Unchanged),
        "{again:?}"
    );

    let applied = c.apply(load("whoami-replicas-3.yaml")).unwrap();
    assert_eq!(applied[0].action, ApplyAction::Configured);
    let rs = c
        .store()
        .get(Kind::ReplicaSet, "default", "whoami-web")
        .unwrap();
    assert_eq!(rs.as_replica_set().unwrap().spec.replicas, 3);
    // status kept (the replicaset controller already counted the running pod)
    assert!(rs.as_replica_set().unwrap().status.ready_replicas >= 1);
    let svc = c
        .store()
        .get(Kind::Service, "default", "whoami-web")
        .unwrap();
    assert_eq!(
        svc.as_service().unwrap().spec.cluster_ip,
        svc_before.as_service().unwrap().spec.cluster_ip
    );
    c.advance(Duration::from_secs(10));
    assert_eq!(
        pods(c.store(), "app=whoami-web")
            .iter()
            .filter(|p| running_ready(p))
            .count(),
        3
    );
}

#[test]
fn invalid_apply_writes_nothing() {
    let mut c = cluster(1, 3, 1);
    c.apply(load("whoami.yaml")).unwrap();
    let rv = c.store().resource_version();
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: new-one}\ndata: {a: b}\n---\n\
               apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: whoami-web}\n\
               spec:\n  replicas: 1\n  selector: {matchLabels: {app: other}}\n  template:\n    \
               metadata: {labels: {app: other}}\n    spec: {containers: [{name: web, image: nginx}]}\n";
    let err = c
        .apply(manifest::load_str(bad, "bad.yaml").unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("spec.selector"), "{err}");
    assert!(c
        .store()
        .try_get(Kind::ConfigMap, "default", "new-one")
        .is_none());
    assert_eq!(c.store().resource_version(), rv);

    let other_ns = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: nope}\n";
    let err = c
        .apply(manifest::load_str(other_ns, "ns.yaml").unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    let with_ns = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: fresh}\n---\n\
                   apiVersion: v1\nkind: Namespace\nmetadata: {name: fresh}\n";
    c.apply(manifest::load_str(with_ns, "ns.yaml").unwrap())
        .unwrap();
    assert!(c.store().try_get(Kind::ConfigMap, "fresh", "x").is_some());
}

#[test]
fn node_list_config_labels_taints_and_storage_class() {
    let mut tainted = NodeConfig::new("node-b");
    tainted.labels = vec![("zone".into(), "b".into())];
    tainted.taints = vec![Taint {
        key: intern("k"),
        value: Some(intern("v")),
        effect: TaintEffect::NoSchedule,
        time_added: None,
    }];
    let mut a = NodeConfig::new("node-a");
    a.labels = vec![("zone".into(), "a".into())];
    a.capacity.pods = 5;
    let mut c = Cluster::new(ClusterConfig {
        nodes: NodeSpecs::List(vec![a, tainted]),
        storage_class: Some("standard".into()),
        termination_grace_period: Duration::from_secs(7),
        ..ClusterConfig::default()
    })
    .unwrap();
    assert_eq!(c.store().config().default_termination_grace_seconds, 7);
    assert_eq!(
        c.kubelet().config().default_termination_grace,
        Duration::from_secs(7)
    );
    let na = c.store().get(Kind::Node, "", "node-a").unwrap();
    let na = na.as_node().unwrap();
    assert_eq!(na.meta.labels.get("zone").map(|v| v.as_str()), Some("a"));
    assert_eq!(
        na.meta
            .labels
            .get("kubernetes.io/hostname")
            .map(|v| v.as_str()),
        Some("node-a")
    );
    assert_eq!(na.status.allocatable.pods, 5);
    assert_eq!(na.status.capacity, na.status.allocatable);
    assert_eq!(na.ready_status(), ConditionStatus::True);
    let nb = c.store().get(Kind::Node, "", "node-b").unwrap();
    let nb = nb.as_node().unwrap();
    assert_eq!(nb.spec.taints.len(), 1);
    assert_ne!(na.spec.pod_cidr, nb.spec.pod_cidr);
    assert_ne!(na.status.internal_ip, nb.status.internal_ip);
    let sc = c.store().get(Kind::StorageClass, "", "standard").unwrap();
    assert!(sc.as_storage_class().unwrap().is_default());

    // The tainted node gets no pods: all 3 land on node-a.
    c.apply(load("whoami-replicas-3.yaml")).unwrap();
    c.advance(Duration::from_secs(10));
    let ps = pods(c.store(), "app=whoami-web");
    assert_eq!(ps.len(), 3);
    assert!(ps
        .iter()
        .all(|p| p.node_name().map(|n| n.as_str()) == Some("node-a")));

    // add-node / remove-node
    let added = c.add_node(NodeConfig::new("node-c")).unwrap();
    let cidr_c = added.as_node().unwrap().spec.pod_cidr;
    assert!(cidr_c != na.spec.pod_cidr && cidr_c != nb.spec.pod_cidr);
    assert!(c.add_node(NodeConfig::new("node-c")).is_err());
    c.remove_node("node-c").unwrap();
    assert!(c.store().try_get(Kind::Node, "", "node-c").is_none());
    assert!(c.remove_node("node-c").is_err());
}

fn heartbeat(c: &Cluster, node: &str) -> Option<kubesim_core::time::Timestamp> {
    let n = c.store().get(Kind::Node, "", node).unwrap();
    find_condition(&n.as_node().unwrap().status.conditions, "Ready")
        .and_then(|c| c.last_update_time)
}

#[test]
fn failed_node_stops_heartbeating_until_recovered() {
    let mut c = cluster(2, 11, 1);
    c.advance(Duration::from_secs(30));
    let hb0 = heartbeat(&c, "node-0").unwrap();
    assert!(
        c.now().since(hb0) < Duration::from_secs(11),
        "heartbeats run"
    );
    c.fail_node("node-0").unwrap();
    assert!(c.kubelet().is_node_stopped("node-0"));
    let frozen = heartbeat(&c, "node-0");
    c.advance(Duration::from_secs(40));
    assert_eq!(
        heartbeat(&c, "node-0"),
        frozen,
        "a failed node does not heartbeat"
    );
    assert!(c.now().since(heartbeat(&c, "node-1").unwrap()) < Duration::from_secs(11));
    c.recover_node("node-0").unwrap();
    c.advance(Duration::from_secs(11));
    assert!(heartbeat(&c, "node-0").unwrap() > frozen.unwrap());
    assert!(c.fail_node("no-such-node").is_err());
}

/// Uniform cold start at small scale: 100 ReplicaSets × 10 pods (and a Service each)
/// on 10 nodes. Prints the wall time (not asserted).
#[test]
fn cold_start_smoke_100_replicasets() {
    const SETS: usize = 100;
    const REPLICAS: usize = 10;
    let mut yaml = String::new();
    for i in 0..SETS {
        yaml.push_str(&format!(
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {{name: app-{i}}}\nspec:\n  \
             replicas: {REPLICAS}\n  selector: {{matchLabels: {{app: app-{i}}}}}\n  template:\n    \
             metadata: {{labels: {{app: app-{i}}}}}\n    spec: {{containers: [{{name: web, image: nginx}}]}}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {{name: app-{i}}}\nspec:\n  \
             selector: {{app: app-{i}}}\n  ports: [{{port: 80}}]\n---\n"
        ));
    }
    let objects = manifest::load_str(&yaml, "cold-start.yaml").unwrap();
    let mut c = cluster(10, 2024, 2);
    let start = Instant::now();
    c.apply(objects).unwrap();
    let waited = c
        .run_until(
            |s| {
                let ps = s.list(Kind::Pod, Some("default"), None, None).unwrap();
                ps.len() == SETS * REPLICAS && ps.iter().all(|p| running_ready(p))
            },
            Duration::from_secs(120),
        )
        .expect("every pod Running+Ready");
    c.run_until_idle();
    let wall = start.elapsed();
    println!(
        "cold start: {SETS} ReplicaSets x {REPLICAS} pods on 10 nodes converged in {:?} virtual, {:?} wall",
        waited, wall
    );
    let store = c.store();
    let ps = store.list(Kind::Pod, Some("default"), None, None).unwrap();
    assert_eq!(ps.len(), SETS * REPLICAS);
    for i in 0..SETS {
        let name = format!("app-{i}");
        let ips: BTreeSet<Ipv4Addr> = pods(store, &format!("app={name}"))
            .iter()
            .map(|p| p.as_pod().unwrap().status.pod_ip.unwrap())
            .collect();
        assert_eq!(ips.len(), REPLICAS, "{name}");
        assert_eq!(endpoint_ips(store, &name).0, ips, "{name} endpoints");
        assert_eq!(slice_ready_ips(store, &name), ips, "{name} slices");
        let rs = store.get(Kind::ReplicaSet, "default", &name).unwrap();
        assert_eq!(
            rs.as_replica_set().unwrap().status.ready_replicas,
            REPLICAS as i32
        );
    }
    // 1000 pods on 10 nodes of 110 pods each: the scheduler spreads them.
    for n in 0..10 {
        let on = ps
            .iter()
            .filter(|p| p.node_name().map(|x| x.as_str()) == Some(&format!("node-{n}")))
            .count();
        assert!(on > 0 && on <= 110, "node-{n} has {on} pods");
    }
}

/// Seed ch09: a node stops heartbeating. Its pods go not ready at the grace period,
/// leave the endpoints, are evicted after the default toleration (300 s), stay
/// Terminating while the node is unreachable, and the ReplicaSet replaces them on the
/// healthy node; when the node returns, the stuck pods finish terminating.
#[test]
fn failed_node_pods_are_evicted_and_replaced() {
    let mut c = cluster(2, 3, 1);
    let mut objects = load("whoami-replicas-3.yaml");
    objects.extend(
        load("whoami.yaml")
            .into_iter()
            .filter(|o| o.kind() == Kind::Service),
    );
    c.apply(objects).unwrap();
    c.advance(Duration::from_secs(10));
    let before = pods(c.store(), "app=whoami-web");
    assert_eq!(before.len(), 3);
    let victim_node = before[0].node_name().unwrap().to_string();
    let on_victim: BTreeSet<String> = before
        .iter()
        .filter(|p| p.node_name().map(|n| n.as_str()) == Some(victim_node.as_str()))
        .map(|p| p.name().to_string())
        .collect();
    assert!(!on_victim.is_empty());

    let failed_at = c.now();
    c.fail_node(&victim_node).unwrap();

    // Not before the grace period: the node is still Ready 30 s later.
    c.advance(Duration::from_secs(30));
    let node = c.store().get(Kind::Node, "", &victim_node).unwrap();
    assert_eq!(
        node.as_node().unwrap().ready_status(),
        ConditionStatus::True
    );

    // Unknown within grace (50 s) + a heartbeat and a monitor period of the failure.
    c.run_until(
        |s| {
            s.get(Kind::Node, "", &victim_node)
                .map(|n| n.as_node().unwrap().ready_status() == ConditionStatus::Unknown)
                .unwrap_or(false)
        },
        Duration::from_secs(60),
    )
    .expect("node goes Unknown");
    assert!(c.now().since(failed_at) <= Duration::from_secs(75));
    c.run_until_idle();
    // Its pods are not ready and out of the ready endpoints.
    let ready_ips = endpoint_ips(c.store(), "whoami-web").0;
    for p in pods(c.store(), "app=whoami-web") {
        if on_victim.contains(p.name().as_str()) {
            assert!(!p.as_pod().unwrap().is_ready(), "{} still ready", p.name());
            let ip = p.as_pod().unwrap().status.pod_ip.unwrap();
            assert!(!ready_ips.contains(&ip));
        }
    }

    // Evicted after the 300 s default toleration; replaced on the healthy node.
    c.advance(Duration::from_secs(310));
    let now = pods(c.store(), "app=whoami-web");
    let stuck: Vec<_> = now
        .iter()
        .filter(|p| on_victim.contains(p.name().as_str()))
        .collect();
    assert_eq!(
        stuck.len(),
        on_victim.len(),
        "stuck pods stay while the node is down"
    );
    assert!(stuck.iter().all(|p| p.meta().is_being_deleted()));
    let serving: Vec<_> = now.iter().filter(|p| running_ready(p)).collect();
    assert_eq!(serving.len(), 3, "replacements are running");
    assert!(serving
        .iter()
        .all(|p| p.node_name().map(|n| n.as_str()) != Some(victim_node.as_str())));
    let rs = c
        .store()
        .get(Kind::ReplicaSet, "default", "whoami-web")
        .unwrap();
    assert_eq!(rs.as_replica_set().unwrap().status.ready_replicas, 3);

    // The node returns: its kubelet finishes the terminations.
    c.recover_node(&victim_node).unwrap();
    c.run_until(
        |s| {
            pods(s, "app=whoami-web")
                .iter()
                .all(|p| !on_victim.contains(p.name().as_str()))
        },
        Duration::from_secs(60),
    )
    .expect("stuck pods are removed once the node is back");
    c.run_until_idle();
    assert_eq!(pods(c.store(), "app=whoami-web").len(), 3);
    assert!(check_gc_invariants(c.store()).is_empty());
}

/// The whole cluster's event history — every watch event of every controller, with a
/// digest of each object's JSON — for one story: create, serve, lose a pod, fail a node
/// and let it be evicted and replaced, recover it.
fn history_of(threads: usize, strategy: &str, workers: usize) -> Vec<String> {
    let mut c = Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(2),
        seed: 11,
        threads,
        strategy: strategy.parse().unwrap(),
        workers,
        record_history: true,
        ..ClusterConfig::default()
    })
    .unwrap();
    let mut objects = load("whoami-replicas-3.yaml");
    objects.extend(
        load("whoami.yaml")
            .into_iter()
            .filter(|o| o.kind() == Kind::Service),
    );
    c.apply(objects).unwrap();
    c.advance(Duration::from_secs(10));
    let victim = pods(c.store(), "app=whoami-web")[0].clone();
    c.store()
        .delete(
            Kind::Pod,
            "default",
            victim.name(),
            &DeleteOptions::default(),
        )
        .unwrap();
    c.advance(Duration::from_secs(40));
    c.fail_node("node-1").unwrap();
    c.advance(Duration::from_secs(400));
    c.recover_node("node-1").unwrap();
    c.advance(Duration::from_secs(60));
    c.sim().history().iter().map(|h| h.to_string()).collect()
}

#[test]
fn same_seed_same_event_history_with_one_and_two_threads() {
    let one = history_of(1, "shared", 1);
    assert!(
        one.len() > 100,
        "the story produced only {} events",
        one.len()
    );
    let two = history_of(2, "shared", 1);
    assert_eq!(one, two, "1 vs 2 threads");
    let sharded = history_of(2, "consistent", 2);
    assert_eq!(one, sharded, "shared vs consistent with 2 workers");
}
