//! The DaemonSet controller in a simulated cluster, in virtual time: one test per rule
//! of K8S-SEMANTICS.md "DaemonSet".

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kubesim_core::cluster::{Cluster, ClusterConfig, NodeConfig, NodeSpecs};
use kubesim_core::controllers::daemonset::{
    LABEL_HOSTNAME, LABEL_REVISION_HASH, LABEL_TEMPLATE_GENERATION, TAINT_UNREACHABLE,
};
use kubesim_core::intern::intern;
use kubesim_core::manifest;
use kubesim_core::model::{
    DaemonSetStatus, Kind, Object, PodPhase, PropagationPolicy, Taint, TaintEffect,
};
use kubesim_core::store::{DeleteOptions, Store};

fn cluster(nodes: usize) -> Cluster {
    Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(nodes),
        ..ClusterConfig::default()
    })
    .unwrap()
}

/// A DaemonSet `agent` selecting `app=agent`; `extra_spec` is appended to the pod
/// spec (indented 6), `annotations` to the template metadata.
fn ds_yaml(image: &str, extra_spec: &str, strategy: &str, annotations: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: agent}}\nspec:\n  \
         selector: {{matchLabels: {{app: agent}}}}\n{strategy}  template:\n    metadata:\n      \
         labels: {{app: agent}}\n{annotations}    spec:\n      containers: [{{name: a, image: {image}}}]\n{extra_spec}"
    )
}

fn apply(c: &mut Cluster, yaml: &str) {
    c.apply(manifest::load_str(yaml, "inline.yaml").unwrap())
        .unwrap();
}

fn status(store: &Store) -> DaemonSetStatus {
    store
        .get(Kind::DaemonSet, "default", "agent")
        .unwrap()
        .as_daemon_set()
        .unwrap()
        .status
        .clone()
}

fn agent_pods(store: &Store) -> Vec<Arc<Object>> {
    let sel = "app=agent".parse().unwrap();
    let mut v = store
        .list(Kind::Pod, Some("default"), Some(&sel), None)
        .unwrap();
    v.sort_by(|a, b| a.name().cmp(b.name()));
    v
}

/// Live (not being deleted) agent pods by node.
fn live_by_node(store: &Store) -> BTreeMap<String, Vec<Arc<Object>>> {
    let mut m: BTreeMap<String, Vec<Arc<Object>>> = BTreeMap::new();
    for p in agent_pods(store) {
        if p.meta().is_being_deleted() {
            continue;
        }
        let node = p
            .as_pod()
            .unwrap()
            .node_name
            .as_deref()
            .unwrap_or("")
            .to_string();
        m.entry(node).or_default().push(p);
    }
    m
}

fn nodes_with_pod(store: &Store) -> Vec<String> {
    live_by_node(store).into_keys().collect()
}

fn ready(o: &Object) -> bool {
    let p = o.as_pod().unwrap();
    p.status.phase == PodPhase::Running && p.is_ready()
}

/// Updates a node through `f` (unconditional) and runs until idle.
fn edit_node(c: &mut Cluster, name: &str, f: impl FnOnce(&mut kubesim_core::model::Node)) {
    let mut obj = (*c.store().get(Kind::Node, "", name).unwrap()).clone();
    f(obj.as_node_mut().unwrap());
    obj.meta_mut().resource_version = 0;
    c.store().update(obj).unwrap();
    c.run_until_idle();
}

#[test]
fn one_pod_per_node_pinned_and_bound_by_the_scheduler() {
    let mut c = cluster(3);
    apply(&mut c, &ds_yaml("nginx", "", "", ""));
    c.advance(Duration::from_secs(5));
    let store = c.store();
    assert_eq!(nodes_with_pod(store), ["node-0", "node-1", "node-2"]);
    let ds_uid = store
        .get(Kind::DaemonSet, "default", "agent")
        .unwrap()
        .meta()
        .uid;
    for (node, pods) in live_by_node(store) {
        assert_eq!(pods.len(), 1, "{node}");
        let p = pods[0].as_pod().unwrap();
        assert!(ready(&pods[0]));
        assert!(p.meta.name.starts_with("agent-"));
        // Pinned by nodeSelector, bound by the scheduler (PodScheduled set).
        assert_eq!(
            p.spec.node_selector.get(LABEL_HOSTNAME).map(|s| s.as_str()),
            Some(node.as_str())
        );
        assert!(p.status.conditions.scheduled.is_true());
        // Revision labels and default tolerations.
        assert!(p.meta.labels.get(LABEL_REVISION_HASH).is_some());
        assert_eq!(
            p.meta
                .labels
                .get(LABEL_TEMPLATE_GENERATION)
                .map(|s| s.as_str()),
            Some("1")
        );
        assert!(p
            .spec
            .tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some(TAINT_UNREACHABLE)
                && t.effect == Some(TaintEffect::NoExecute)
                && t.toleration_seconds.is_none()));
        let r = p.meta.controller_ref().unwrap();
        assert_eq!((r.kind, r.uid), (Kind::DaemonSet, ds_uid));
    }
    let s = status(store);
    assert_eq!(
        (
            s.desired_number_scheduled,
            s.current_number_scheduled,
            s.number_ready,
            s.number_available,
            s.updated_number_scheduled,
            s.number_misscheduled,
            s.number_unavailable,
            s.observed_generation
        ),
        (3, 3, 3, 3, 3, 0, 0, 1)
    );
    // Events of the pod control.
    let created = store
        .list(Kind::Event, Some("default"), None, None)
        .unwrap()
        .iter()
        .filter_map(|e| e.as_event().cloned())
        .filter(|e| e.reason.as_str() == "SuccessfulCreate")
        .count();
    assert_eq!(created, 3);
}

#[test]
fn deleted_pod_is_replaced_on_its_node() {
    let mut c = cluster(2);
    apply(&mut c, &ds_yaml("nginx", "", "", ""));
    c.advance(Duration::from_secs(5));
    let victim = live_by_node(c.store())["node-1"][0].clone();
    c.store()
        .delete(
            Kind::Pod,
            "default",
            victim.name(),
            &DeleteOptions::default(),
        )
        .unwrap();
    c.run_until_idle();
    // The replacement exists at once (a terminating pod does not block it).
    let now = live_by_node(c.store());
    assert_eq!(now["node-1"].len(), 1);
    assert_ne!(now["node-1"][0].name(), victim.name());
    c.advance(Duration::from_secs(40));
    assert_eq!(agent_pods(c.store()).len(), 2);
    assert_eq!(status(c.store()).number_ready, 2);
}

#[test]
fn node_selector_follows_node_labels() {
    let mut c = cluster(3);
    let sel = "      nodeSelector: {kiamol: ch06}\n";
    apply(&mut c, &ds_yaml("nginx", sel, "", ""));
    c.advance(Duration::from_secs(5));
    assert!(agent_pods(c.store()).is_empty());
    assert_eq!(status(c.store()).desired_number_scheduled, 0);
    // A relabelled node gains a pod.
    edit_node(&mut c, "node-1", |n| {
        n.meta.labels = n.meta.labels.with("kiamol", "ch06")
    });
    c.advance(Duration::from_secs(5));
    assert_eq!(nodes_with_pod(c.store()), ["node-1"]);
    assert_eq!(status(c.store()).number_ready, 1);
    // A new matching node gains one too.
    let mut n9 = NodeConfig::new("node-9");
    n9.labels.push(("kiamol".into(), "ch06".into()));
    c.add_node(n9).unwrap();
    c.advance(Duration::from_secs(5));
    assert_eq!(nodes_with_pod(c.store()), ["node-1", "node-9"]);
    assert_eq!(status(c.store()).desired_number_scheduled, 2);
    // A node that stops matching loses it.
    edit_node(&mut c, "node-1", |n| {
        n.meta.labels = n.meta.labels.without("kiamol")
    });
    assert_eq!(nodes_with_pod(c.store()), ["node-9"]);
    // A removed node's pod goes (pod GC).
    c.remove_node("node-9").unwrap();
    c.advance(Duration::from_secs(40));
    assert!(agent_pods(c.store()).is_empty());
    let s = status(c.store());
    assert_eq!((s.desired_number_scheduled, s.number_ready), (0, 0));
}

fn taint(key: &str, effect: TaintEffect) -> Taint {
    Taint {
        key: intern(key),
        value: Some(intern("x")),
        effect,
        time_added: None,
    }
}

#[test]
fn taints_must_be_tolerated() {
    let mut tainted = NodeConfig::new("tainted");
    tainted
        .taints
        .push(taint("dedicated", TaintEffect::NoSchedule));
    let mut c = Cluster::new(ClusterConfig {
        nodes: NodeSpecs::List(vec![
            NodeConfig::new("node-0"),
            NodeConfig::new("node-1"),
            tainted,
        ]),
        ..ClusterConfig::default()
    })
    .unwrap();
    apply(&mut c, &ds_yaml("nginx", "", "", ""));
    c.advance(Duration::from_secs(5));
    assert_eq!(nodes_with_pod(c.store()), ["node-0", "node-1"]);
    assert_eq!(status(c.store()).desired_number_scheduled, 2);

    // A toleration lets the DaemonSet onto the tainted node.
    let tol = "      tolerations: [{key: dedicated, operator: Exists, effect: NoSchedule}]\n";
    apply(&mut c, &ds_yaml("nginx", tol, "", ""));
    c.advance(Duration::from_secs(5));
    assert_eq!(nodes_with_pod(c.store()), ["node-0", "node-1", "tainted"]);

    // A cordoned node still gets (and keeps) its daemon pod: the default
    // `unschedulable` toleration.
    edit_node(&mut c, "node-0", |n| n.spec.unschedulable = true);
    let p = live_by_node(c.store())["node-0"][0].clone();
    c.store()
        .delete(Kind::Pod, "default", p.name(), &DeleteOptions::default())
        .unwrap();
    c.advance(Duration::from_secs(40));
    let replaced = live_by_node(c.store())["node-0"].clone();
    assert_eq!(replaced.len(), 1);
    assert_ne!(replaced[0].name(), p.name());
    assert!(ready(&replaced[0]));

    // A new untolerated NoSchedule taint: no new pod, but the running one stays
    // (misscheduled).
    edit_node(&mut c, "node-1", |n| {
        n.spec.taints.push(taint("gpu", TaintEffect::NoSchedule))
    });
    assert_eq!(live_by_node(c.store())["node-1"].len(), 1);
    let s = status(c.store());
    assert_eq!((s.desired_number_scheduled, s.number_misscheduled), (2, 1));

    // An untolerated NoExecute taint: the pod is deleted.
    edit_node(&mut c, "node-1", |n| {
        n.spec.taints.push(taint("evict", TaintEffect::NoExecute))
    });
    assert!(!live_by_node(c.store()).contains_key("node-1"));
}

#[test]
fn daemon_pods_stay_on_a_failed_node() {
    let mut c = cluster(2);
    let mut inv = c.invariant_checker();
    apply(&mut c, &ds_yaml("nginx", "", "", ""));
    c.advance(Duration::from_secs(5));
    common::assert_invariants(&c, &mut inv, true);
    let before = live_by_node(c.store())["node-1"][0].clone();
    c.fail_node("node-1").unwrap();
    // Past the grace period (50 s) and the default eviction (300 s).
    c.advance(Duration::from_secs(420));
    common::assert_invariants(&c, &mut inv, true);
    let after = live_by_node(c.store());
    assert_eq!(after["node-1"].len(), 1);
    assert_eq!(after["node-1"][0].meta().uid, before.meta().uid);
    assert!(!after["node-1"][0].as_pod().unwrap().is_ready());
    // As upstream: the node's `unreachable:NoSchedule` taint is not among the default
    // tolerations, so the node no longer counts as desired and its pod is
    // misscheduled — but it keeps running (the NoExecute taint is tolerated).
    let s = status(c.store());
    assert_eq!(
        (
            s.desired_number_scheduled,
            s.current_number_scheduled,
            s.number_ready,
            s.number_misscheduled
        ),
        (1, 1, 1, 1)
    );
    // Back: desired again, the same pod ready again.
    c.recover_node("node-1").unwrap();
    c.advance(Duration::from_secs(30));
    common::assert_invariants(&c, &mut inv, true);
    let back = live_by_node(c.store());
    assert_eq!(back["node-1"][0].meta().uid, before.meta().uid);
    let s = status(c.store());
    assert_eq!(
        (
            s.desired_number_scheduled,
            s.number_ready,
            s.number_misscheduled
        ),
        (2, 2, 0)
    );
}

#[test]
fn orphans_are_adopted_by_a_new_daemon_set() {
    let mut c = cluster(2);
    let yaml = ds_yaml("nginx", "", "", "");
    apply(&mut c, &yaml);
    c.advance(Duration::from_secs(5));
    let uids: Vec<_> = agent_pods(c.store()).iter().map(|p| p.meta().uid).collect();
    c.store()
        .delete(
            Kind::DaemonSet,
            "default",
            "agent",
            &DeleteOptions::propagation(PropagationPolicy::Orphan),
        )
        .unwrap();
    c.advance(Duration::from_secs(5));
    assert!(c
        .store()
        .try_get(Kind::DaemonSet, "default", "agent")
        .is_none());
    let orphans = agent_pods(c.store());
    assert_eq!(orphans.len(), 2);
    assert!(orphans.iter().all(|p| p.meta().owner_references.is_empty()));

    apply(&mut c, &yaml);
    c.advance(Duration::from_secs(5));
    let ds_uid = c
        .store()
        .get(Kind::DaemonSet, "default", "agent")
        .unwrap()
        .meta()
        .uid;
    let adopted = agent_pods(c.store());
    assert_eq!(
        adopted.iter().map(|p| p.meta().uid).collect::<Vec<_>>(),
        uids,
        "the same pods, no new ones"
    );
    for p in &adopted {
        let r = p.meta().controller_ref().unwrap();
        assert_eq!((r.kind, r.uid), (Kind::DaemonSet, ds_uid));
    }
    // Deleting the DaemonSet (background) now takes them along.
    c.store()
        .delete(
            Kind::DaemonSet,
            "default",
            "agent",
            &DeleteOptions::default(),
        )
        .unwrap();
    c.advance(Duration::from_secs(40));
    assert!(agent_pods(c.store()).is_empty());
}

/// Rolls the template on `nodes` nodes and checks, every second, that at most
/// `max_unavailable` nodes lack an available (ready, not deleting) pod. Returns the
/// largest number seen.
fn roll(nodes: usize, max_unavailable: &str) -> i32 {
    let mut c = cluster(nodes);
    let mut inv = c.invariant_checker();
    let strategy =
        format!("  updateStrategy: {{type: RollingUpdate, rollingUpdate: {{maxUnavailable: {max_unavailable}}}}}\n");
    let ann = "      annotations: {kubesim.io/ready-after: 5s}\n";
    apply(&mut c, &ds_yaml("nginx:1", "", &strategy, ann));
    c.advance(Duration::from_secs(10));
    assert_eq!(status(c.store()).number_available, nodes as i32);
    let old_hash = live_by_node(c.store())["node-0"][0]
        .labels()
        .get(LABEL_REVISION_HASH)
        .unwrap()
        .clone();
    apply(&mut c, &ds_yaml("nginx:2", "", &strategy, ann));
    let limit: i32 = max_unavailable.parse().unwrap();
    let mut worst = 0;
    for _ in 0..600 {
        let by_node = live_by_node(c.store());
        let available = by_node
            .values()
            .filter(|pods| pods.iter().any(|p| ready(p)))
            .count() as i32;
        let unavailable = nodes as i32 - available;
        assert!(
            unavailable <= limit,
            "{unavailable} nodes unavailable > maxUnavailable {limit}"
        );
        worst = worst.max(unavailable);
        common::assert_invariants(&c, &mut inv, true);
        let s = status(c.store());
        if s.updated_number_scheduled == nodes as i32 && s.number_available == nodes as i32 {
            break;
        }
        c.advance(Duration::from_secs(1));
    }
    let s = status(c.store());
    assert_eq!(s.updated_number_scheduled, nodes as i32);
    assert_eq!(s.observed_generation, 2);
    c.advance(Duration::from_secs(60));
    for pods in live_by_node(c.store()).values() {
        assert_eq!(pods.len(), 1);
        assert_ne!(pods[0].labels().get(LABEL_REVISION_HASH), Some(&old_hash));
    }
    worst
}

#[test]
fn rolling_update_never_exceeds_max_unavailable() {
    assert_eq!(roll(5, "1"), 1);
    assert_eq!(roll(5, "2"), 2);
}

#[test]
fn on_delete_replaces_only_deleted_pods() {
    let mut c = cluster(3);
    let strategy = "  updateStrategy: {type: OnDelete}\n";
    apply(&mut c, &ds_yaml("nginx:1", "", strategy, ""));
    c.advance(Duration::from_secs(5));
    let before: Vec<_> = agent_pods(c.store()).iter().map(|p| p.meta().uid).collect();
    apply(&mut c, &ds_yaml("nginx:2", "", strategy, ""));
    c.advance(Duration::from_secs(60));
    let same: Vec<_> = agent_pods(c.store()).iter().map(|p| p.meta().uid).collect();
    assert_eq!(same, before, "OnDelete: no pod replaced by the controller");
    let s = status(c.store());
    assert_eq!((s.updated_number_scheduled, s.observed_generation), (0, 2));
    let victim = live_by_node(c.store())["node-2"][0].clone();
    c.store()
        .delete(
            Kind::Pod,
            "default",
            victim.name(),
            &DeleteOptions::default(),
        )
        .unwrap();
    c.advance(Duration::from_secs(60));
    let new = live_by_node(c.store())["node-2"][0].clone();
    let p = new.as_pod().unwrap();
    assert_eq!(p.spec.containers[0].image.as_str(), "nginx:2");
    assert_eq!(
        p.meta
            .labels
            .get(LABEL_TEMPLATE_GENERATION)
            .map(|s| s.as_str()),
        Some("2")
    );
    assert_eq!(status(c.store()).updated_number_scheduled, 1);
}

#[test]
fn unscheduled_pod_of_a_deleted_node_is_deleted() {
    // A daemon pod that cannot fit stays Pending (pinned); when its node goes, the
    // DaemonSet deletes it.
    let mut c = cluster(1);
    let mut big = NodeConfig::new("small");
    big.capacity.resources.cpu_millis = 100;
    c.add_node(big).unwrap();
    let req = "      containers: [{name: a, image: nginx, resources: {requests: {cpu: 500m}}}]\n";
    let yaml =
        ds_yaml("nginx", "", "", "").replace("      containers: [{name: a, image: nginx}]\n", req);
    apply(&mut c, &yaml);
    c.advance(Duration::from_secs(5));
    let pending: Vec<_> = agent_pods(c.store())
        .into_iter()
        .filter(|p| p.as_pod().unwrap().node_name.is_none())
        .collect();
    assert_eq!(pending.len(), 1, "the pod pinned to the small node waits");
    let s = status(c.store());
    assert_eq!(
        (
            s.desired_number_scheduled,
            s.current_number_scheduled,
            s.number_ready
        ),
        (2, 2, 1)
    );
    c.remove_node("small").unwrap();
    c.advance(Duration::from_secs(5));
    assert_eq!(agent_pods(c.store()).len(), 1);
    assert_eq!(status(c.store()).desired_number_scheduled, 1);
}

fn load(name: &str) -> Vec<Object> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/scenarios/manifests")
        .join(name);
    manifest::load_path(&path).expect("manifest loads")
}

fn pi_proxy(store: &Store) -> Vec<Arc<Object>> {
    let sel = "app=pi-proxy".parse().unwrap();
    store
        .list(Kind::Pod, Some("default"), Some(&sel), None)
        .unwrap()
}

fn pi_status(store: &Store) -> DaemonSetStatus {
    store
        .get(Kind::DaemonSet, "default", "pi-proxy")
        .unwrap()
        .as_daemon_set()
        .unwrap()
        .status
        .clone()
}

/// shared/scenarios/ch06-daemonset.yaml, step by step.
#[test]
fn scenario_ch06_daemonset() {
    let mut c = cluster(3);
    c.apply(load("pi-proxy-ds.yaml")).unwrap();
    c.run_until(
        |s| {
            s.try_get(Kind::DaemonSet, "default", "pi-proxy")
                .and_then(|o| o.as_daemon_set().map(|d| d.status.clone()))
                .is_some_and(|st| st.number_ready == 3 && st.desired_number_scheduled == 3)
        },
        Duration::from_secs(60),
    )
    .expect("three ready");
    for n in ["node-0", "node-1", "node-2"] {
        let on = pi_proxy(c.store())
            .iter()
            .filter(|p| p.as_pod().unwrap().node_name.as_deref() == Some(n))
            .count();
        assert_eq!(on, 1, "{n}");
    }
    for p in pi_proxy(c.store()) {
        c.store()
            .delete(Kind::Pod, "default", p.name(), &DeleteOptions::default())
            .unwrap();
    }
    c.run_until_idle();
    c.run_until(
        |s| {
            let v = pi_proxy(s);
            v.len() == 3 && v.iter().all(|p| ready(p))
        },
        Duration::from_secs(120),
    )
    .expect("replaced");
    c.apply(load("pi-proxy-ds-nodeselector.yaml")).unwrap();
    c.run_until(|s| pi_proxy(s).is_empty(), Duration::from_secs(120))
        .expect("gone from unlabelled nodes");
    assert_eq!(pi_status(c.store()).desired_number_scheduled, 0);
    edit_node(&mut c, "node-1", |n| {
        n.meta.labels = n.meta.labels.with("kiamol", "ch06")
    });
    c.run_until(
        |s| {
            let v = pi_proxy(s);
            v.len() == 1
                && v[0].as_pod().unwrap().node_name.as_deref() == Some("node-1")
                && ready(&v[0])
        },
        Duration::from_secs(60),
    )
    .expect("node-1 gains a pod");
    let mut n9 = NodeConfig::new("node-9");
    n9.labels.push(("kiamol".into(), "ch06".into()));
    c.add_node(n9).unwrap();
    c.run_until(
        |s| {
            s.get(Kind::DaemonSet, "default", "pi-proxy")
                .unwrap()
                .as_daemon_set()
                .unwrap()
                .status
                .number_ready
                == 2
        },
        Duration::from_secs(60),
    )
    .expect("node-9 gains a pod");
    c.remove_node("node-9").unwrap();
    c.run_until(|s| pi_proxy(s).len() == 1, Duration::from_secs(120))
        .expect("node-9's pod goes");
    c.store()
        .delete(
            Kind::DaemonSet,
            "default",
            "pi-proxy",
            &DeleteOptions::propagation(PropagationPolicy::Orphan),
        )
        .unwrap();
    c.run_until_idle();
    assert_eq!(c.store().count(Kind::DaemonSet), 0);
    let orphans = pi_proxy(c.store());
    assert_eq!(orphans.len(), 1);
    assert!(orphans[0].meta().owner_references.is_empty());
    c.apply(load("pi-proxy-ds-nodeselector.yaml")).unwrap();
    let adopted = pi_proxy(c.store());
    assert_eq!(adopted.len(), 1);
    assert_eq!(adopted[0].meta().uid, orphans[0].meta().uid);
    assert_eq!(adopted[0].meta().owner_references[0].kind, Kind::DaemonSet);
    c.store()
        .delete(
            Kind::DaemonSet,
            "default",
            "pi-proxy",
            &DeleteOptions::default(),
        )
        .unwrap();
    c.run_until_idle();
    c.run_until(|s| pi_proxy(s).is_empty(), Duration::from_secs(120))
        .expect("pods deleted with the DaemonSet");
}

#[test]
fn rolling_update_with_surge_keeps_every_node_available() {
    let nodes = 4;
    let mut c = cluster(nodes);
    let strategy = "  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}\n";
    let ann = "      annotations: {kubesim.io/ready-after: 5s}\n";
    apply(&mut c, &ds_yaml("nginx:1", "", strategy, ann));
    c.advance(Duration::from_secs(10));
    apply(&mut c, &ds_yaml("nginx:2", "", strategy, ann));
    let mut most = 0;
    let mut done = false;
    for _ in 0..600 {
        let by_node = live_by_node(c.store());
        assert_eq!(by_node.len(), nodes);
        for (n, pods) in &by_node {
            assert!(pods.iter().any(|p| ready(p)), "{n} has no ready pod");
        }
        let live: usize = by_node.values().map(Vec::len).sum();
        assert!(live <= nodes + 1, "{live} pods > nodes + maxSurge");
        most = most.max(live);
        let s = status(c.store());
        if s.updated_number_scheduled == nodes as i32
            && s.number_available == nodes as i32
            && live == nodes
        {
            done = true;
            break;
        }
        c.advance(Duration::from_secs(1));
    }
    assert!(done, "rollout did not finish");
    assert_eq!(most, nodes + 1, "the surge was used");
    for pods in live_by_node(c.store()).values() {
        assert_eq!(
            pods[0].as_pod().unwrap().spec.containers[0].image.as_str(),
            "nginx:2"
        );
    }
}

/// Status counts a pod in its graceful termination (upstream groups pods with
/// `getNodesToDaemonPods(ds, includeDeletedTerminal=false)`): deleting every pod with
/// a 30 s grace keeps numberReady at 3 until the old containers stop, although the
/// replacements (ready 45 s after start) exist at once.
#[test]
fn terminating_pods_keep_counting_in_status() {
    let mut c = cluster(3);
    let ann = "      annotations: {kubesim.io/ready-after: 45s}\n";
    apply(&mut c, &ds_yaml("nginx", "", "", ann));
    c.advance(Duration::from_secs(60));
    let s = status(c.store());
    assert_eq!((s.desired_number_scheduled, s.number_ready), (3, 3));
    let old = agent_pods(c.store());
    assert_eq!(old.len(), 3);
    let deleted_at = c.now();
    let grace = DeleteOptions {
        grace_period_seconds: Some(30),
        ..DeleteOptions::default()
    };
    for p in &old {
        c.store()
            .delete(Kind::Pod, "default", p.name(), &grace)
            .unwrap();
    }
    c.run_until_idle();
    // The replacements exist at once; the old pods are still running.
    let live = live_by_node(c.store());
    assert_eq!(live.len(), 3);
    assert!(live
        .values()
        .flatten()
        .all(|p| old.iter().all(|o| o.meta().uid != p.meta().uid)));
    for _ in 0..29 {
        let s = status(c.store());
        assert_eq!(
            (
                s.current_number_scheduled,
                s.number_ready,
                s.number_available,
                s.updated_number_scheduled,
                s.number_misscheduled
            ),
            (3, 3, 3, 3, 0),
            "at +{:?}",
            c.now().since(deleted_at)
        );
        c.advance(Duration::from_secs(1));
    }
    // The old containers stop at +30 s; the new pods are not ready yet.
    c.advance(Duration::from_secs(5));
    assert!(old
        .iter()
        .all(|o| c.store().try_get(Kind::Pod, "default", o.name()).is_none()));
    let s = status(c.store());
    assert_eq!((s.current_number_scheduled, s.number_ready), (3, 0));
    c.advance(Duration::from_secs(30));
    assert_eq!(status(c.store()).number_ready, 3);
}

/// A node that stops matching: its pod is deleted (30 s grace) and counts in
/// numberMisscheduled until it is gone.
#[test]
fn misscheduled_counts_a_terminating_pod_until_it_is_gone() {
    let mut c = cluster(3);
    let sel = "      nodeSelector: {kiamol: ch06}\n";
    apply(&mut c, &ds_yaml("nginx", sel, "", ""));
    for n in ["node-0", "node-1"] {
        edit_node(&mut c, n, |n| {
            n.meta.labels = n.meta.labels.with("kiamol", "ch06")
        });
    }
    c.advance(Duration::from_secs(30));
    let s = status(c.store());
    assert_eq!(
        (
            s.desired_number_scheduled,
            s.current_number_scheduled,
            s.number_ready,
            s.number_misscheduled
        ),
        (2, 2, 2, 0)
    );
    let victim = live_by_node(c.store())["node-1"][0].clone();
    edit_node(&mut c, "node-1", |n| {
        n.meta.labels = n.meta.labels.without("kiamol")
    });
    let terminating = c.store().get(Kind::Pod, "default", victim.name()).unwrap();
    let gone_at = terminating.meta().deletion_timestamp().unwrap();
    assert!(gone_at >= c.now().plus(Duration::from_secs(20)));
    let mut seconds = 0;
    while c
        .store()
        .try_get(Kind::Pod, "default", victim.name())
        .is_some()
    {
        let s = status(c.store());
        assert_eq!(
            (
                s.desired_number_scheduled,
                s.current_number_scheduled,
                s.number_misscheduled
            ),
            (1, 1, 1),
            "while the pod terminates"
        );
        c.advance(Duration::from_secs(1));
        seconds += 1;
        assert!(seconds < 60, "the pod never went");
    }
    assert!(seconds >= 20);
    let s = status(c.store());
    assert_eq!((s.current_number_scheduled, s.number_misscheduled), (1, 0));
}
