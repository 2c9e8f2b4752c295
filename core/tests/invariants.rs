//! The invariant checker ([`kubesim_core::invariants`]) on a whole simulated cluster in
//! virtual time: ReplicaSets scaling and replacing pods, garbage-collector cascades
//! (background, foreground, orphan), and a node failure with ReplicaSet pods — with
//! the checker after every round of reconciles (and the settled rules whenever an
//! instant is idle) and no violation; and one real violation it must catch.

mod common;

use std::time::Duration;

use common::{replica_set_yaml, service_yaml, Checked, Rng};
use kubesim_core::cluster::NodeConfig;
use kubesim_core::intern::intern;
use kubesim_core::invariants::{format_violations, Rule};
use kubesim_core::manifest;
use kubesim_core::model::{
    Kind, Object, ObjectKey, ObjectMeta, OwnerReference, Pod, PodPhase, PodStatus,
    PropagationPolicy,
};
use kubesim_core::store::DeleteOptions;

#[test]
fn replica_sets_scaling_and_replacing_pods_violate_nothing() {
    let mut k = Checked::new(3, 11);
    k.apply_yaml(&replica_set_yaml("web", 5, "100m"));
    k.apply_yaml(&service_yaml("web", "web"));
    k.run_for(Duration::from_secs(30));
    assert_eq!(k.running("web"), 5);
    k.scale("web", 2);
    k.run_for(Duration::from_secs(60));
    assert_eq!(k.pods("web").len(), 2);
    let victim = k.pods("web")[0].name().to_string();
    k.store()
        .delete(Kind::Pod, "default", &victim, &DeleteOptions::default())
        .unwrap();
    k.run_for(Duration::from_secs(60));
    assert_eq!(k.running("web"), 2);
    k.scale("web", 8);
    k.run_for(Duration::from_secs(60));
    assert_eq!(k.running("web"), 8);
    assert!(k.checks > 20, "only {} checks", k.checks);
    assert!(k.settled_checks > 5);
    assert_eq!(k.checker.resyncs(), 0);
}

#[test]
fn gc_cascades_violate_nothing() {
    let mut k = Checked::new(2, 5);
    for name in ["bg", "fg", "orphan"] {
        k.apply_yaml(&replica_set_yaml(name, 3, "100m"));
    }
    k.run_for(Duration::from_secs(20));
    for (name, policy) in [
        ("bg", PropagationPolicy::Background),
        ("fg", PropagationPolicy::Foreground),
        ("orphan", PropagationPolicy::Orphan),
    ] {
        assert_eq!(k.running(name), 3);
        k.store()
            .delete(
                Kind::ReplicaSet,
                "default",
                name,
                &DeleteOptions::propagation(policy),
            )
            .unwrap();
        k.settle();
        if policy == PropagationPolicy::Foreground {
            // The owner waits, being deleted, for its terminating pods.
            let rs = k.store().get(Kind::ReplicaSet, "default", name).unwrap();
            assert!(rs.meta().is_being_deleted());
            assert!(k.pods(name).iter().all(|p| p.meta().is_being_deleted()));
        }
    }
    k.run_for(Duration::from_secs(120));
    for name in ["bg", "fg", "orphan"] {
        assert!(k
            .store()
            .try_get(Kind::ReplicaSet, "default", name)
            .is_none());
    }
    assert!(k.pods("bg").is_empty());
    assert!(k.pods("fg").is_empty());
    let orphans = k.pods("orphan");
    assert_eq!(orphans.len(), 3);
    assert!(orphans.iter().all(|p| p.meta().owner_references.is_empty()));
}

#[test]
fn node_failure_with_replica_set_pods_violates_nothing() {
    let mut k = Checked::new(3, 3);
    // 1 cpu each on 4-cpu nodes: the survivors must absorb the failed node's pods.
    k.apply_yaml(&replica_set_yaml("web", 6, "1"));
    k.apply_yaml(&service_yaml("web", "web"));
    k.run_for(Duration::from_secs(30));
    assert_eq!(k.running("web"), 6);
    let on_node0 = k
        .pods("web")
        .iter()
        .filter(|p| p.node_name().is_some_and(|n| n.as_str() == "node-0"))
        .count();
    assert!(on_node0 > 0);
    k.c.kubelet().stop_node("node-0");
    // NotReady after the grace period, eviction after the 300 s toleration; the
    // evicted pods stay Terminating on the unreachable node and are replaced.
    k.run_for(Duration::from_secs(400));
    assert_eq!(k.running("web"), 6);
    let terminating = k
        .pods("web")
        .iter()
        .filter(|p| p.meta().is_being_deleted())
        .count();
    assert_eq!(terminating, on_node0);
    // The node comes back: its kubelet finishes the terminations.
    k.c.kubelet().start_node("node-0");
    k.run_for(Duration::from_secs(120));
    assert_eq!(k.pods("web").len(), 6);
    // Another node fails and its Node object is deleted: pod GC removes its pods.
    k.c.kubelet().stop_node("node-1");
    k.run_for(Duration::from_secs(60));
    k.store()
        .delete(Kind::Node, "", "node-1", &DeleteOptions::default())
        .unwrap();
    k.run_for(Duration::from_secs(120));
    assert_eq!(k.running("web"), 6);
    assert!(k
        .pods("web")
        .iter()
        .all(|p| p.node_name().is_some_and(|n| n.as_str() != "node-1")));
}

#[test]
fn a_pod_bound_past_a_full_node_is_caught() {
    let mut k = Checked::new(1, 1);
    k.apply_yaml(&replica_set_yaml("web", 3, "1"));
    k.run_for(Duration::from_secs(20));
    assert_eq!(k.running("web"), 3);
    // Bypass the scheduler: bind a 2-cpu pod to the node that has 1 cpu left.
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: squatter}\n\
                spec:\n  nodeName: node-0\n  containers:\n  - name: c\n    image: nginx:1.25\n    \
                resources: {requests: {cpu: 2}}\n";
    let pod = manifest::load_str(yaml, "inline.yaml").unwrap().remove(0);
    k.store().create(pod).unwrap();
    let v = k.c.check_invariants(&mut k.checker);
    assert_eq!(v.len(), 1, "{}", format_violations(&v));
    assert_eq!(v[0].rule, Rule::NodeOverAllocatable);
    assert_eq!(v[0].objects, [ObjectKey::new(Kind::Node, "", "node-0")]);
    assert!(
        v[0].message.contains("cpu requests 5000m > 4000m"),
        "{}",
        v[0]
    );
}

#[test]
fn seeded_chaos_over_replica_sets_and_nodes_violates_nothing() {
    for seed in 1u64..=10 {
        let mut k = Checked::new(4, seed);
        let mut rng = Rng::seeded(seed);
        let names = ["web", "api", "db"];
        for n in names {
            k.apply_yaml(&replica_set_yaml(n, 3, "500m"));
        }
        k.apply_yaml(&service_yaml("web", "web"));
        for _ in 0..60 {
            let name = names[rng.below(3) as usize];
            match rng.below(8) {
                0 | 1 => {
                    if k.store()
                        .try_get(Kind::ReplicaSet, "default", name)
                        .is_some()
                    {
                        k.scale(name, rng.below(9) as i32);
                    }
                }
                2 => {
                    let pods = k.pods(name);
                    if !pods.is_empty() {
                        let p = &pods[rng.below(pods.len() as u64) as usize];
                        let grace = if rng.below(2) == 0 { None } else { Some(0) };
                        let opts = DeleteOptions {
                            grace_period_seconds: grace,
                            ..DeleteOptions::default()
                        };
                        let _ = k.store().delete(Kind::Pod, "default", p.name(), &opts);
                        k.settle();
                    }
                }
                3 => {
                    let node = format!("node-{}", rng.below(4));
                    if k.c.kubelet().is_node_stopped(&node) {
                        k.c.kubelet().start_node(&node);
                    } else {
                        k.c.kubelet().stop_node(&node);
                    }
                    k.settle();
                }
                4 => match k.store().try_get(Kind::ReplicaSet, "default", name) {
                    Some(rs) => {
                        let policy = [
                            PropagationPolicy::Background,
                            PropagationPolicy::Foreground,
                            PropagationPolicy::Orphan,
                        ][rng.below(3) as usize];
                        if rs.meta().is_being_deleted() {
                            // Deleting again with another policy replaces the GC
                            // finalizer: the user's choice, not the collector's.
                            k.checker.acknowledge_deletion(&ObjectKey::of(&rs));
                        }
                        k.store()
                            .delete(
                                Kind::ReplicaSet,
                                "default",
                                name,
                                &DeleteOptions::propagation(policy),
                            )
                            .unwrap();
                        k.settle();
                    }
                    None => k.apply_yaml(&replica_set_yaml(name, rng.below(5) as i32, "500m")),
                },
                5 => {
                    // A node's object is deleted (pod GC takes its pods), or comes back.
                    let node = format!("node-{}", rng.below(4));
                    if k.store().try_get(Kind::Node, "", &node).is_some() {
                        if k.store().count(Kind::Node) > 2 {
                            k.store()
                                .delete(Kind::Node, "", &node, &DeleteOptions::default())
                                .unwrap();
                            k.settle();
                        }
                    } else {
                        k.c.add_node(NodeConfig::new(&node)).unwrap();
                        k.settle();
                    }
                }
                _ => k.run_for(Duration::from_secs(1 + rng.below(90))),
            }
        }
        // Everything back up, then the cluster converges without a violation.
        for n in 0..4 {
            let node = format!("node-{n}");
            k.c.kubelet().start_node(&node);
            if k.store().try_get(Kind::Node, "", &node).is_none() {
                k.c.add_node(NodeConfig::new(&node)).unwrap();
            }
        }
        k.run_for(Duration::from_secs(600));
        assert!(k.checks > 100, "seed {seed}: only {} checks", k.checks);
        for n in names {
            if let Some(rs) = k.store().try_get(Kind::ReplicaSet, "default", n) {
                let want = rs.as_replica_set().unwrap().spec.replicas as usize;
                assert_eq!(k.running(n), want, "seed {seed}: {n}");
            }
        }
    }
}

#[test]
fn a_statefulset_pod_recreated_beside_its_unreachable_predecessor_is_caught() {
    let mut k = Checked::new(2, 9);
    k.apply_yaml(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\n\
         spec:\n  replicas: 1\n  serviceName: db\n  selector: {matchLabels: {app: db}}\n  \
         template:\n    metadata: {labels: {app: db}}\n    spec:\n      \
         containers: [{name: db, image: postgres:16}]\n",
    );
    let sts = k.store().get(Kind::StatefulSet, "default", "db").unwrap();
    // Without a StatefulSet controller in the cluster, make its pod by hand.
    let make_pod = |node: Option<&str>| {
        let s = sts.as_stateful_set().unwrap();
        let mut meta = ObjectMeta::named("default", "db-0");
        meta.labels = s.spec.template.meta.labels.clone();
        meta.owner_references = vec![OwnerReference {
            kind: Kind::StatefulSet,
            name: sts.name().clone(),
            uid: sts.meta().uid,
            controller: true,
            block_owner_deletion: true,
        }]
        .into();
        Object::from(Pod {
            meta,
            spec: s.spec.template.spec.clone(),
            node_name: node.map(intern),
            status: PodStatus::default(),
        })
    };
    if k.store().try_get(Kind::Pod, "default", "db-0").is_none() {
        k.store().create(make_pod(None)).unwrap();
    }
    k.run_for(Duration::from_secs(10));
    let old = k.store().get(Kind::Pod, "default", "db-0").unwrap();
    assert_eq!(old.as_pod().unwrap().status.phase, PodPhase::Running);
    let node = old.node_name().unwrap().to_string();
    let other = if node == "node-0" { "node-1" } else { "node-0" };
    // The node stops answering (its Ready condition is still True: only the cluster
    // knows), and the pod is force-deleted.
    k.c.kubelet().stop_node(&node);
    k.store()
        .delete(Kind::Pod, "default", "db-0", &DeleteOptions::grace(0))
        .unwrap();
    assert_eq!(k.c.check_invariants(&mut k.checker), vec![]);
    if k.store().try_get(Kind::Pod, "default", "db-0").is_none() {
        k.store().create(make_pod(Some(other))).unwrap();
    }
    let v = k.c.check_invariants(&mut k.checker);
    assert_eq!(v.len(), 1, "{}", format_violations(&v));
    assert_eq!(v[0].rule, Rule::StatefulSetIdentity);
    assert_eq!(
        v[0].objects,
        [
            ObjectKey::new(Kind::Pod, "default", "db-0"),
            ObjectKey::new(Kind::StatefulSet, "default", "db"),
            ObjectKey::new(Kind::Node, "", &node),
        ]
    );
    // Had a user done it on purpose, the caller says so.
    k.checker
        .acknowledge_deletion(&ObjectKey::new(Kind::Pod, "default", "db-0"));
    assert_eq!(k.c.check_invariants(&mut k.checker), vec![]);
}

/// Regression (found by the chaos runs): a StatefulSet pod deleted gracefully while
/// its node's kubelet was down is removed by that kubelet's first sync when it comes
/// back — before its heartbeat has set the Node's `Ready` condition back to `True`.
/// The removal confirms the containers stopped: the replacement is no identity
/// violation (the checker takes the cluster's stopped kubelets, not the lagging
/// condition, as the unreachable nodes).
#[test]
fn a_statefulset_pod_finished_by_its_recovered_kubelet_leaves_no_ghost() {
    let mut k = Checked::new(2, 4);
    k.apply_yaml(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\n\
         spec:\n  replicas: 1\n  serviceName: db\n  selector: {matchLabels: {app: db}}\n  \
         template:\n    metadata: {labels: {app: db}}\n    spec:\n      \
         containers: [{name: db, image: postgres:16}]\n",
    );
    k.run_for(Duration::from_secs(10));
    let old = k.store().get(Kind::Pod, "default", "db-0").unwrap();
    let node = old.node_name().unwrap().to_string();
    k.c.kubelet().stop_node(&node);
    k.run_for(Duration::from_secs(60));
    let ready = |k: &Checked| {
        let n = k.store().get(Kind::Node, "", &node).unwrap();
        kubesim_core::model::find_condition(&n.as_node().unwrap().status.conditions, "Ready")
            .is_some_and(|c| c.status == kubesim_core::model::ConditionStatus::True)
    };
    assert!(!ready(&k));
    // The user deletes it gracefully: Terminating, and past its grace period.
    k.store()
        .delete(Kind::Pod, "default", "db-0", &DeleteOptions::default())
        .unwrap();
    k.run_for(Duration::from_secs(40));
    assert_eq!(
        k.store()
            .get(Kind::Pod, "default", "db-0")
            .unwrap()
            .meta()
            .uid,
        old.meta().uid
    );
    // The kubelet is back: it removes the pod before the Node is Ready again, and
    // the StatefulSet controller creates the replacement (checked every round).
    k.c.kubelet().start_node(&node);
    let mut replaced_before_ready = false;
    for _ in 0..20 {
        k.run_for(Duration::from_secs(1));
        let uid = k
            .store()
            .get(Kind::Pod, "default", "db-0")
            .unwrap()
            .meta()
            .uid;
        if uid != old.meta().uid {
            replaced_before_ready = !ready(&k);
            break;
        }
    }
    assert!(replaced_before_ready);
    k.run_for(Duration::from_secs(30));
    assert!(ready(&k));
    assert_eq!(k.running("db"), 1);
}
