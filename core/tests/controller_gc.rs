//! The garbage collector and the pod GC in virtual time ([`Simulation`]), on objects
//! created directly in the store, and end to end with the ReplicaSet controller
//! (orphan cascade and re-adoption).

use std::sync::Arc;
use std::time::Duration;

use kubesim_core::controllers::garbage_collector::{
    check_foreground_order, check_gc_invariants, GarbageCollector, PodGc,
};
use kubesim_core::controllers::replicaset::ReplicaSetController;
use kubesim_core::intern::StrMap;
use kubesim_core::model::{
    ConfigMap, Kind, Node, Object, ObjectMeta, OwnerReference, Pod, PodPhase, PodSpec,
    PodTemplateSpec, PropagationPolicy, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus, TemplateMeta,
    Uid,
};
use kubesim_core::runtime::{virtual_store, Controller, SimConfig, Simulation};
use kubesim_core::selector::LabelSelector;
use kubesim_core::store::{DeleteOptions, Store, WatchEvent, Watcher};

const NS: &str = "default";
const HOLD: &str = "example.com/hold";

struct Env {
    store: Store,
    sim: Simulation,
    watchers: Vec<Watcher>,
    seen: Vec<WatchEvent>,
}

impl Env {
    fn new(controllers: Vec<Arc<dyn Controller>>) -> Env {
        let (store, clock) = virtual_store(11);
        let watchers = [Kind::ConfigMap, Kind::Pod, Kind::ReplicaSet]
            .into_iter()
            .map(|k| store.watch(k, 0).unwrap())
            .collect();
        let sim = Simulation::new(store.clone(), clock, controllers, SimConfig::new(2)).unwrap();
        Env {
            store,
            sim,
            watchers,
            seen: Vec::new(),
        }
    }

    fn gc() -> Env {
        Env::new(vec![Arc::new(GarbageCollector::new())])
    }

    fn settle(&mut self) {
        let stats = self.sim.run_until_idle();
        assert!(!stats.round_limit_hit, "hot loop");
        let v = check_gc_invariants(&self.store);
        assert!(v.is_empty(), "invariants: {v:?}");
    }

    /// Every event so far of the watched kinds.
    fn history(&mut self) -> Vec<WatchEvent> {
        for w in &mut self.watchers {
            self.seen.extend(w.poll(100_000).unwrap());
        }
        self.seen.clone()
    }

    fn cm(&self, name: &str, owners: &[(&Arc<Object>, bool)]) -> Arc<Object> {
        let mut meta = ObjectMeta::named(NS, name);
        meta.owner_references = owners
            .iter()
            .map(|(o, block)| owner_ref(o, *block))
            .collect::<Vec<_>>()
            .into();
        self.store
            .create(Object::from(ConfigMap { meta, data: vec![] }))
            .unwrap()
    }

    fn get(&self, kind: Kind, name: &str) -> Option<Arc<Object>> {
        self.store.try_get(kind, NS, name)
    }

    fn delete(&self, kind: Kind, name: &str, policy: PropagationPolicy) {
        self.store
            .delete(kind, NS, name, &DeleteOptions::propagation(policy))
            .unwrap();
    }
}

fn owner_ref(o: &Object, block: bool) -> OwnerReference {
    OwnerReference {
        kind: o.kind(),
        name: o.name().clone(),
        uid: o.meta().uid,
        controller: false,
        block_owner_deletion: block,
    }
}

fn owner_uids(o: &Object) -> Vec<Uid> {
    o.meta().owner_references.iter().map(|r| r.uid).collect()
}

#[test]
fn background_delete_removes_a_three_level_chain() {
    let mut env = Env::gc();
    let top = env.cm("top", &[]);
    let mid = env.cm("mid", &[(&top, false)]);
    env.cm("leaf", &[(&mid, false)]);
    let keep_owner = env.cm("keep-owner", &[]);
    env.cm("keep", &[(&keep_owner, false)]);
    env.settle();
    assert!(env.get(Kind::ConfigMap, "leaf").is_some());

    env.delete(Kind::ConfigMap, "top", PropagationPolicy::Background);
    assert!(
        env.get(Kind::ConfigMap, "top").is_none(),
        "background: owner goes at once"
    );
    env.settle();
    assert!(env.get(Kind::ConfigMap, "mid").is_none());
    assert!(env.get(Kind::ConfigMap, "leaf").is_none());
    assert!(env.get(Kind::ConfigMap, "keep").is_some());
    assert!(env.get(Kind::ConfigMap, "keep-owner").is_some());
}

#[test]
fn foreground_owner_waits_for_blocking_dependents() {
    let mut env = Env::gc();
    let top = env.cm("top", &[]);
    // `mid` blocks and is held by a foreign finalizer once deleted; it has a child.
    let mut mid = (*env.cm("mid", &[(&top, true)])).clone();
    mid.meta_mut().finalizers = vec![HOLD.into()].into();
    let mid = env.store.update(mid).unwrap();
    env.cm("leaf", &[(&mid, true)]);
    env.cm("loose", &[(&top, false)]);
    env.settle();

    env.delete(Kind::ConfigMap, "top", PropagationPolicy::Foreground);
    env.settle();
    let t = env.get(Kind::ConfigMap, "top").expect("top waits for mid");
    assert!(t.meta().is_being_deleted());
    assert!(t.meta().has_finalizer("foregroundDeletion"));
    let m = env
        .get(Kind::ConfigMap, "mid")
        .expect("mid is held by HOLD");
    assert!(m.meta().is_being_deleted());
    assert!(
        env.get(Kind::ConfigMap, "leaf").is_none(),
        "leaf went first"
    );
    assert!(
        !m.meta().has_finalizer("foregroundDeletion"),
        "mid's own foreground wait ended when leaf went"
    );
    let seen = env.history();
    assert!(
        seen.iter().any(|e| e.object.name().as_str() == "mid"
            && e.object.meta().has_finalizer("foregroundDeletion")),
        "mid has a dependent, so it was deleted in foreground too"
    );
    assert!(
        env.get(Kind::ConfigMap, "loose").is_none(),
        "non-blocking dependent deleted"
    );

    // Release the foreign finalizer: mid goes, then top.
    let mut m = (*m).clone();
    m.meta_mut()
        .finalizers
        .update(|v| v.retain(|f| f.as_str() != HOLD));
    env.store.update(m).unwrap();
    env.settle();
    assert!(env.get(Kind::ConfigMap, "mid").is_none());
    assert!(env.get(Kind::ConfigMap, "top").is_none());
    let v = check_foreground_order(env.history());
    assert!(v.is_empty(), "{v:?}");
}

#[test]
fn foreground_owner_is_released_by_a_dependent_with_another_live_owner() {
    let mut env = Env::gc();
    let a = env.cm("a", &[]);
    let b = env.cm("b", &[]);
    env.cm("shared", &[(&a, true), (&b, true)]);
    env.settle();
    env.delete(Kind::ConfigMap, "a", PropagationPolicy::Foreground);
    env.settle();
    assert!(env.get(Kind::ConfigMap, "a").is_none());
    let s = env.get(Kind::ConfigMap, "shared").expect("b still owns it");
    assert_eq!(owner_uids(&s), vec![b.meta().uid]);
    let v = check_foreground_order(env.history());
    assert!(v.is_empty(), "{v:?}");
}

#[test]
fn orphan_delete_releases_dependents() {
    let mut env = Env::gc();
    let owner = env.cm("owner", &[]);
    let other = env.cm("other", &[]);
    let d1 = env.cm("d1", &[(&owner, true)]);
    let d2 = env.cm("d2", &[(&owner, false), (&other, false)]);
    env.settle();

    env.delete(Kind::ConfigMap, "owner", PropagationPolicy::Orphan);
    assert!(
        env.get(Kind::ConfigMap, "owner").is_some(),
        "held by the orphan finalizer"
    );
    env.settle();
    assert!(env.get(Kind::ConfigMap, "owner").is_none());
    let n1 = env.get(Kind::ConfigMap, "d1").expect("orphan survives");
    let n2 = env.get(Kind::ConfigMap, "d2").expect("orphan survives");
    assert_eq!(n1.meta().uid, d1.meta().uid);
    assert!(n1.meta().owner_references.is_empty());
    assert_eq!(n2.meta().uid, d2.meta().uid);
    assert_eq!(owner_uids(&n2), vec![other.meta().uid]);
}

#[test]
fn recreated_owner_does_not_keep_old_dependents() {
    let mut env = Env::gc();
    let owner = env.cm("owner", &[]);
    env.cm("dep", &[(&owner, false)]);
    env.settle();
    env.delete(Kind::ConfigMap, "owner", PropagationPolicy::Background);
    let again = env.cm("owner", &[]);
    assert_ne!(again.meta().uid, owner.meta().uid);
    env.settle();
    assert!(env.get(Kind::ConfigMap, "dep").is_none());
    assert_eq!(
        env.get(Kind::ConfigMap, "owner").unwrap().meta().uid,
        again.meta().uid
    );

    // A dependent created pointing at an owner that is already gone is collected.
    let mut stale = owner_ref(&owner, false);
    stale.name = "owner".into();
    let mut meta = ObjectMeta::named(NS, "late");
    meta.owner_references = vec![stale].into();
    env.store
        .create(Object::from(ConfigMap { meta, data: vec![] }))
        .unwrap();
    env.settle();
    assert!(env.get(Kind::ConfigMap, "late").is_none());
}

#[test]
fn dependent_with_two_owners_survives_while_one_remains() {
    let mut env = Env::gc();
    let a = env.cm("a", &[]);
    let b = env.cm("b", &[]);
    env.cm("shared", &[(&a, false), (&b, false)]);
    env.settle();
    env.delete(Kind::ConfigMap, "a", PropagationPolicy::Background);
    env.settle();
    let s = env.get(Kind::ConfigMap, "shared").expect("b remains");
    assert_eq!(
        owner_uids(&s),
        vec![b.meta().uid],
        "dangling reference removed"
    );
    env.delete(Kind::ConfigMap, "b", PropagationPolicy::Background);
    env.settle();
    assert!(env.get(Kind::ConfigMap, "shared").is_none());
}

#[test]
fn live_owner_keeps_its_dependent_through_many_rounds() {
    let mut env = Env::gc();
    let boss = env.cm("boss", &[]);
    let control = env.cm("control", &[(&boss, true)]);
    for i in 0..20 {
        let o = env.cm(&format!("o{i}"), &[]);
        env.cm(&format!("d{i}"), &[(&o, i % 2 == 0), (&boss, false)]);
        let policy = match i % 3 {
            0 => PropagationPolicy::Background,
            1 => PropagationPolicy::Foreground,
            _ => PropagationPolicy::Orphan,
        };
        env.delete(Kind::ConfigMap, &format!("o{i}"), policy);
        env.settle();
        env.sim.advance(Duration::from_secs(60));
        let c = env
            .get(Kind::ConfigMap, "control")
            .expect("control survives");
        assert_eq!(c.meta().uid, control.meta().uid);
        assert!(!c.meta().is_being_deleted());
        // Each d_i keeps its live owner `boss` and loses only the gone one.
        let d = env.get(Kind::ConfigMap, &format!("d{i}")).unwrap();
        assert_eq!(owner_uids(&d), vec![boss.meta().uid]);
    }
}

fn node(name: &str) -> Object {
    Object::from(Node {
        meta: ObjectMeta::named("", name),
        spec: Default::default(),
        status: Default::default(),
    })
}

fn pod(name: &str, node: Option<&str>, phase: PodPhase) -> Object {
    let mut p = Pod {
        meta: ObjectMeta::named(NS, name),
        spec: Arc::new(PodSpec::default()),
        node_name: node.map(Into::into),
        status: Default::default(),
    };
    p.status.phase = phase;
    Object::from(p)
}

#[test]
fn pod_gc_deletes_pods_of_a_removed_node() {
    let mut env = Env::new(vec![Arc::new(PodGc::new())]);
    env.store.create(node("n1")).unwrap();
    env.store.create(node("n2")).unwrap();
    env.store
        .create(pod("p1", Some("n1"), PodPhase::Running))
        .unwrap();
    env.store
        .create(pod("p2", Some("n2"), PodPhase::Running))
        .unwrap();
    env.store
        .create(pod("p3", None, PodPhase::Pending))
        .unwrap();
    env.sim.run_until_idle();
    assert_eq!(env.store.count(Kind::Pod), 3);

    env.store
        .delete(Kind::Node, "", "n1", &DeleteOptions::default())
        .unwrap();
    env.sim.run_until_idle();
    assert!(
        env.get(Kind::Pod, "p1").is_none(),
        "force-deleted, no grace"
    );
    assert!(env.get(Kind::Pod, "p2").is_some());
    assert!(env.get(Kind::Pod, "p3").is_some());

    // A pod bound to a node that never existed goes too.
    env.store
        .create(pod("p4", Some("ghost"), PodPhase::Running))
        .unwrap();
    env.sim.run_until_idle();
    assert!(env.get(Kind::Pod, "p4").is_none());
}

#[test]
fn pod_gc_deletes_oldest_terminated_pods_above_threshold() {
    let mut env = Env::new(vec![Arc::new(PodGc::with_terminated_threshold(2))]);
    env.store.create(node("n1")).unwrap();
    for (i, phase) in [
        PodPhase::Succeeded,
        PodPhase::Failed,
        PodPhase::Running,
        PodPhase::Succeeded,
        PodPhase::Failed,
    ]
    .into_iter()
    .enumerate()
    {
        env.store
            .create(pod(&format!("t{i}"), Some("n1"), phase))
            .unwrap();
        env.sim.clock().advance(Duration::from_secs(1));
    }
    env.sim.run_until_idle();
    let mut left: Vec<String> = env
        .store
        .list(Kind::Pod, Some(NS), None, None)
        .unwrap()
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["t2", "t3", "t4"],
        "the two oldest terminated pods go"
    );
}

fn labels(pairs: &[(&str, &str)]) -> StrMap {
    pairs.iter().copied().collect()
}

fn replica_set(name: &str, replicas: i32) -> Object {
    Object::from(ReplicaSet {
        meta: ObjectMeta::named(NS, name),
        spec: ReplicaSetSpec {
            replicas,
            min_ready_seconds: 0,
            selector: LabelSelector::from_labels(labels(&[("app", "web")])),
            template: PodTemplateSpec {
                meta: TemplateMeta {
                    labels: labels(&[("app", "web")]),
                    annotations: StrMap::default(),
                },
                spec: Arc::new(PodSpec::default()),
            },
        },
        status: ReplicaSetStatus::default(),
    })
}

/// (name, uid, controller uid) of every pod, sorted by name.
fn pods(store: &Store) -> Vec<(String, Uid, Option<Uid>)> {
    store
        .list(Kind::Pod, Some(NS), None, None)
        .unwrap()
        .iter()
        .map(|p| {
            (
                p.name().to_string(),
                p.meta().uid,
                p.meta().controller_ref().map(|r| r.uid),
            )
        })
        .collect()
}

#[test]
fn replicaset_orphan_cascade_then_readoption() {
    let mut env = Env::new(vec![
        Arc::new(ReplicaSetController::new()),
        Arc::new(GarbageCollector::new()),
    ]);
    let rs1 = env.store.create(replica_set("web-1", 3)).unwrap();
    env.settle();
    let before = pods(&env.store);
    assert_eq!(before.len(), 3);
    assert!(before.iter().all(|p| p.2 == Some(rs1.meta().uid)));

    env.delete(Kind::ReplicaSet, "web-1", PropagationPolicy::Orphan);
    env.settle();
    assert!(env.get(Kind::ReplicaSet, "web-1").is_none());
    let orphans = pods(&env.store);
    assert_eq!(orphans.len(), 3, "pods keep running");
    for (p, o) in before.iter().zip(&orphans) {
        assert_eq!((&p.0, p.1), (&o.0, o.1), "same pods");
        assert_eq!(o.2, None, "no controller any more");
    }
    for p in env.store.list(Kind::Pod, Some(NS), None, None).unwrap() {
        assert!(p.meta().owner_references.is_empty());
    }

    let rs2 = env.store.create(replica_set("web-2", 3)).unwrap();
    env.settle();
    let adopted = pods(&env.store);
    assert_eq!(adopted.len(), 3, "adopted, none created");
    for (p, a) in before.iter().zip(&adopted) {
        assert_eq!(p.1, a.1);
        assert_eq!(a.2, Some(rs2.meta().uid));
    }

    // And a background delete of the new owner takes the pods with it.
    env.delete(Kind::ReplicaSet, "web-2", PropagationPolicy::Background);
    env.settle();
    assert!(pods(&env.store).is_empty());
}
