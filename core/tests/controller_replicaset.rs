//! The ReplicaSet controller in virtual time ([`Simulation`]) and, for the
//! expectations, reconciled by hand against a store that has not been watched yet.

use std::sync::Arc;
use std::time::Duration;

use kubesim_core::controllers::replicaset::{ReplicaSetController, BURST_REPLICAS};
use kubesim_core::intern::{SharedList, Str, StrMap};
use kubesim_core::model::{
    ConditionStatus, EventType, Kind, Namespace, Object, ObjectKey, ObjectMeta, OwnerReference,
    Pod, PodCondition, PodPhase, PodSpec, PodTemplateSpec, ReplicaSet, ReplicaSetSpec,
    ReplicaSetStatus, TemplateMeta, Uid,
};
use kubesim_core::runtime::{
    virtual_store, Controller, Ctx, SimConfig, Simulation, StoreView, Verb, WriteAction,
    WriteOutcome,
};
use kubesim_core::selector::LabelSelector;
use kubesim_core::store::{DeleteOptions, Store, WatchEvent, WatchEventType};

const GEN_CHARS: &str = "bcdfghjklmnpqrstvwxz2456789";

fn labels(pairs: &[(&str, &str)]) -> StrMap {
    pairs.iter().copied().collect()
}

/// A ReplicaSet `name` selecting `app=<app>`, template labels `app=<app>,tier=fe`.
fn replica_set(ns: &str, name: &str, app: &str, replicas: i32, min_ready: i32) -> Object {
    Object::from(ReplicaSet {
        meta: ObjectMeta::named(ns, name),
        spec: ReplicaSetSpec {
            replicas,
            min_ready_seconds: min_ready,
            selector: LabelSelector::from_labels(labels(&[("app", app)])),
            template: PodTemplateSpec {
                meta: TemplateMeta {
                    labels: labels(&[("app", app), ("tier", "fe")]),
                    annotations: labels(&[("note", "x")]),
                },
                spec: Arc::new(PodSpec::default()),
            },
        },
        status: ReplicaSetStatus::default(),
    })
}

struct Env {
    store: Store,
    sim: Simulation,
    rsc: Arc<ReplicaSetController>,
}

fn env() -> Env {
    let (store, clock) = virtual_store(7);
    let rsc = Arc::new(ReplicaSetController::new());
    let controllers: Vec<Arc<dyn Controller>> = vec![rsc.clone()];
    let sim =
        Simulation::new(store.clone(), clock.clone(), controllers, SimConfig::new(1)).unwrap();
    Env { store, sim, rsc }
}

fn get_rs(store: &Store, ns: &str, name: &str) -> Arc<Object> {
    store.get(Kind::ReplicaSet, ns, name).unwrap()
}

fn status(store: &Store, ns: &str, name: &str) -> ReplicaSetStatus {
    get_rs(store, ns, name)
        .as_replica_set()
        .unwrap()
        .status
        .clone()
}

/// Active pods controlled by the ReplicaSet (by uid), sorted by name.
fn owned(store: &Store, ns: &str, rs: &str) -> Vec<Arc<Object>> {
    let uid = get_rs(store, ns, rs).meta().uid;
    store
        .list(Kind::Pod, Some(ns), None, None)
        .unwrap()
        .into_iter()
        .filter(|p| p.meta().controller_ref().is_some_and(|r| r.uid == uid))
        .filter(|p| p.as_pod().unwrap().is_active())
        .collect()
}

fn names(pods: &[Arc<Object>]) -> Vec<String> {
    pods.iter().map(|p| p.name().to_string()).collect()
}

/// Messages of the Events with this reason, sorted.
fn events(store: &Store, ns: &str, reason: &str) -> Vec<String> {
    let mut v: Vec<String> = store
        .list(Kind::Event, Some(ns), None, None)
        .unwrap()
        .iter()
        .filter_map(|o| o.as_event().cloned())
        .filter(|e| e.reason.as_str() == reason)
        .map(|e| {
            assert_eq!(e.source.as_str(), "replicaset-controller");
            e.message.to_string()
        })
        .collect();
    v.sort();
    v
}

/// Changes a stored pod (unconditional update).
fn edit_pod(store: &Store, name: &str, f: impl FnOnce(&mut Pod)) {
    let mut obj = (*store.get(Kind::Pod, "default", name).unwrap()).clone();
    f(obj.as_pod_mut().unwrap());
    obj.meta_mut().resource_version = 0;
    store.update(obj).unwrap();
}

/// Sets a stored pod's status: Running, ready (or not) since now.
fn set_running(store: &Store, name: &str, ready: bool) {
    let now = store.clock().now();
    let mut obj = (*store.get(Kind::Pod, "default", name).unwrap()).clone();
    let p = obj.as_pod_mut().unwrap();
    p.status.phase = PodPhase::Running;
    p.status.conditions.ready = PodCondition::new(ConditionStatus::from_bool(ready), now);
    obj.meta_mut().resource_version = 0;
    store.update_status(obj).unwrap();
}

#[test]
fn creates_pods_from_the_template() {
    let mut e = env();
    e.store
        .create(replica_set("default", "web", "web", 3, 0))
        .unwrap();
    e.sim.run_until_idle();
    let rs = get_rs(&e.store, "default", "web");
    let r = rs.as_replica_set().unwrap();
    let pods = owned(&e.store, "default", "web");
    assert_eq!(pods.len(), 3);
    for p in &pods {
        let name = p.name().as_str();
        let suffix = name.strip_prefix("web-").expect("generated from web-");
        assert_eq!(suffix.len(), 5, "{name}");
        assert!(suffix.chars().all(|c| GEN_CHARS.contains(c)), "{name}");
        let m = p.meta();
        assert_eq!(m.generate_name.as_deref(), Some("web-"));
        assert_eq!(m.owner_references.len(), 1);
        let o = &m.owner_references[0];
        assert_eq!(o.kind, Kind::ReplicaSet);
        assert_eq!(o.name.as_str(), "web");
        assert_eq!(o.uid, rs.meta().uid);
        assert!(o.controller && o.block_owner_deletion);
        assert_eq!(m.labels, r.spec.template.meta.labels);
        assert_eq!(m.annotations.get("note").map(|s| s.as_str()), Some("x"));
        let pod = p.as_pod().unwrap();
        // The template's spec plus the DefaultTolerationSeconds admission defaults,
        // one admitted spec shared by every pod of the template.
        let admitted = kubesim_core::admission::with_default_tolerations(
            &r.spec.template.spec.tolerations,
            300,
        )
        .unwrap();
        assert_eq!(pod.spec.tolerations, admitted);
        let mut plain = (*pod.spec).clone();
        plain.tolerations = r.spec.template.spec.tolerations.clone();
        assert_eq!(plain, *r.spec.template.spec);
        let first = pods[0].as_pod().unwrap();
        assert!(Arc::ptr_eq(&pod.spec, &first.spec), "spec shared");
        assert!(
            SharedList::ptr_eq(&m.owner_references, &pods[0].meta().owner_references),
            "ownerReferences shared by the pods of one reconcile"
        );
    }
    let mut want: Vec<String> = pods
        .iter()
        .map(|p| format!("Created pod: {}", p.name()))
        .collect();
    want.sort();
    assert_eq!(events(&e.store, "default", "SuccessfulCreate"), want);
    let s = status(&e.store, "default", "web");
    assert_eq!(
        (
            s.replicas,
            s.fully_labeled_replicas,
            s.ready_replicas,
            s.available_replicas
        ),
        (3, 3, 0, 0)
    );
    assert_eq!(s.observed_generation, 1);
    // Nothing more happens, however long we wait: no double creation.
    e.sim.advance(Duration::from_secs(3600));
    assert_eq!(e.store.count(Kind::Pod), 3);
    assert_eq!(e.rsc.expectations(&ObjectKey::of(&rs)).unwrap().add, 0);
}

#[test]
fn replaces_deleted_and_failed_pods() {
    let mut e = env();
    e.store
        .create(replica_set("default", "web", "web", 3, 0))
        .unwrap();
    e.sim.run_until_idle();
    let before = names(&owned(&e.store, "default", "web"));
    e.store
        .delete(Kind::Pod, "default", &before[0], &DeleteOptions::default())
        .unwrap();
    e.sim.run_until_idle();
    let after = names(&owned(&e.store, "default", "web"));
    assert_eq!(after.len(), 3);
    assert!(!after.contains(&before[0]));
    assert_eq!(events(&e.store, "default", "SuccessfulCreate").len(), 4);
    // A pod that failed is not active: replaced, and kept (it is not deleted).
    let mut obj = (*e.store.get(Kind::Pod, "default", &after[1]).unwrap()).clone();
    obj.as_pod_mut().unwrap().status.phase = PodPhase::Failed;
    e.store.update_status(obj).unwrap();
    e.sim.run_until_idle();
    let now = names(&owned(&e.store, "default", "web"));
    assert_eq!(now.len(), 3);
    assert!(!now.contains(&after[1]));
    assert!(e.store.try_get(Kind::Pod, "default", &after[1]).is_some());
    assert_eq!(e.store.count(Kind::Pod), 4);
}

#[test]
fn scale_down_deletes_unscheduled_and_not_ready_pods_first() {
    let mut e = env();
    e.store
        .create(replica_set("default", "web", "web", 5, 0))
        .unwrap();
    e.sim.run_until_idle();
    let pods = names(&owned(&e.store, "default", "web"));
    assert_eq!(pods.len(), 5);
    // pods[0]: unscheduled but Running and ready (only rule 1 puts it first).
    // pods[1], pods[3], pods[4]: Running and ready on n1. pods[2]: Running, not
    // ready, alone on n2. Victims for 5 → 2: pods[0] (unscheduled), pods[2] (not
    // ready beats fewer siblings), then pods[1] (n1's pods tie on every rule: name
    // order).
    for (i, p) in pods.iter().enumerate() {
        if i > 0 {
            let node = if i == 2 { "n2" } else { "n1" };
            edit_pod(&e.store, p, |pod| pod.node_name = Some(Str::new(node)));
        }
        set_running(&e.store, p, i != 2);
    }
    e.sim.run_until_idle();
    let mut obj = (*get_rs(&e.store, "default", "web")).clone();
    obj.as_replica_set_mut().unwrap().spec.replicas = 2;
    obj.meta_mut().resource_version = 0;
    e.store.update(obj).unwrap();
    e.sim.run_until_idle();
    let left = names(&owned(&e.store, "default", "web"));
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left, [pods[3].clone(), pods[4].clone()]);
    // The unscheduled pod is gone; bound victims are terminating (no kubelet).
    assert!(e.store.try_get(Kind::Pod, "default", &pods[0]).is_none());
    assert!(e
        .store
        .get(Kind::Pod, "default", &pods[2])
        .unwrap()
        .meta()
        .is_being_deleted());
    let deleted = events(&e.store, "default", "SuccessfulDelete");
    assert_eq!(deleted.len(), 3);
    assert!(deleted.contains(&format!("Deleted pod: {}", pods[0])));
    assert!(deleted.contains(&format!("Deleted pod: {}", pods[2])));
    assert!(deleted.contains(&format!("Deleted pod: {}", pods[1])));
    let s = status(&e.store, "default", "web");
    assert_eq!((s.replicas, s.ready_replicas), (2, 2));
    assert_eq!(s.observed_generation, 2);
    // Stable afterwards.
    e.sim.advance(Duration::from_secs(600));
    assert_eq!(owned(&e.store, "default", "web").len(), 2);
    assert_eq!(events(&e.store, "default", "SuccessfulDelete").len(), 3);
}

#[test]
fn adopts_matching_orphans_and_releases_relabelled_pods() {
    let mut e = env();
    let mut orphan = ObjectMeta::named("default", "orphan");
    orphan.labels = labels(&[("app", "web")]);
    e.store
        .create(Object::from(Pod {
            meta: orphan,
            spec: Arc::new(PodSpec::default()),
            node_name: None,
            status: Default::default(),
        }))
        .unwrap();
    e.store
        .create(replica_set("default", "web", "web", 2, 0))
        .unwrap();
    e.sim.run_until_idle();
    let pods = names(&owned(&e.store, "default", "web"));
    assert_eq!(pods.len(), 2);
    assert!(pods.contains(&"orphan".to_string()), "{pods:?}");
    assert_eq!(events(&e.store, "default", "SuccessfulCreate").len(), 1);
    let s = status(&e.store, "default", "web");
    assert_eq!((s.replicas, s.fully_labeled_replicas), (2, 1));
    // Relabelled out: released (no controller left) and replaced.
    edit_pod(&e.store, "orphan", |p| {
        p.meta.labels = labels(&[("app", "other")])
    });
    e.sim.run_until_idle();
    let released = e.store.get(Kind::Pod, "default", "orphan").unwrap();
    assert!(released.meta().owner_references.is_empty());
    let pods = names(&owned(&e.store, "default", "web"));
    assert_eq!(pods.len(), 2);
    assert!(!pods.contains(&"orphan".to_string()));
    assert_eq!(e.store.count(Kind::Pod), 3);
    // Relabelled back: adopted again, and one pod too many is deleted.
    edit_pod(&e.store, "orphan", |p| {
        p.meta.labels = labels(&[("app", "web")])
    });
    e.sim.run_until_idle();
    assert_eq!(owned(&e.store, "default", "web").len(), 2);
    assert_eq!(events(&e.store, "default", "SuccessfulDelete").len(), 1);
}

/// A pod handed from A to B by changing its ownerReference: the watch event names
/// only B, so A is enqueued only through the controller's memory of the old owner.
#[test]
fn old_owner_is_resynced_when_a_pod_changes_hands() {
    let mut e = env();
    e.store
        .create(replica_set("default", "a", "web", 1, 0))
        .unwrap();
    e.sim.run_until_idle();
    e.store
        .create(replica_set("default", "b", "web", 1, 0))
        .unwrap();
    e.sim.run_until_idle();
    let pa = names(&owned(&e.store, "default", "a"));
    assert_eq!(pa.len(), 1);
    assert_eq!(owned(&e.store, "default", "b").len(), 1);
    let b = get_rs(&e.store, "default", "b");
    edit_pod(&e.store, &pa[0], |p| {
        let mut r = p.meta.owner_references[0].clone();
        r.name = b.name().clone();
        r.uid = b.meta().uid;
        p.meta.owner_references = vec![r].into();
    });
    e.sim.run_until_idle();
    assert_eq!(
        owned(&e.store, "default", "a").len(),
        1,
        "A replaced its pod"
    );
    assert_eq!(owned(&e.store, "default", "b").len(), 1, "B deleted one");
    assert_eq!(status(&e.store, "default", "a").replicas, 1);
}

#[test]
fn available_replicas_follow_min_ready_seconds() {
    let mut e = env();
    e.store
        .create(replica_set("default", "web", "web", 2, 30))
        .unwrap();
    e.sim.run_until_idle();
    for p in names(&owned(&e.store, "default", "web")) {
        set_running(&e.store, &p, true);
    }
    e.sim.run_until_idle();
    let s = status(&e.store, "default", "web");
    assert_eq!((s.ready_replicas, s.available_replicas), (2, 0));
    e.sim.advance(Duration::from_secs(29));
    assert_eq!(status(&e.store, "default", "web").available_replicas, 0);
    // The requeue after the time left makes them available at +30 s, with no event.
    e.sim.advance(Duration::from_secs(1));
    assert_eq!(status(&e.store, "default", "web").available_replicas, 2);
}

#[test]
fn observed_generation_follows_spec_changes() {
    let mut e = env();
    e.store
        .create(replica_set("default", "web", "web", 1, 0))
        .unwrap();
    e.sim.run_until_idle();
    assert_eq!(status(&e.store, "default", "web").observed_generation, 1);
    let mut obj = (*get_rs(&e.store, "default", "web")).clone();
    obj.as_replica_set_mut().unwrap().spec.replicas = 4;
    obj.meta_mut().resource_version = 0;
    e.store.update(obj).unwrap();
    e.sim.run_until_idle();
    let s = status(&e.store, "default", "web");
    assert_eq!((s.observed_generation, s.replicas), (2, 4));
    assert_eq!(owned(&e.store, "default", "web").len(), 4);
}

/// Reconciles by hand: (key, the effects recorded) without applying them.
fn reconcile(
    rsc: &ReplicaSetController,
    store: &Store,
    key: &ObjectKey,
) -> kubesim_core::runtime::Effects {
    let mut ctx = Ctx::new(
        StoreView::new(store),
        key,
        "replicaset-controller",
        store.clock().now(),
        1,
    );
    rsc.reconcile(key, &mut ctx).unwrap();
    ctx.into_effects()
}

fn creates(fx: &kubesim_core::runtime::Effects) -> usize {
    fx.writes
        .iter()
        .map(|w| match &w.action {
            WriteAction::CreateSlowStart(v) => v.len(),
            WriteAction::Create(_) => 1,
            _ => 0,
        })
        .sum()
}

#[test]
fn expectations_prevent_double_creation_until_observed() {
    let (store, _clock) = virtual_store(3);
    let rsc = ReplicaSetController::new();
    let rs = store
        .create(replica_set("default", "web", "web", 3, 0))
        .unwrap();
    let key = ObjectKey::of(&rs);
    let fx = reconcile(&rsc, &store, &key);
    assert_eq!(creates(&fx), 3);
    // A second sync before the creates are observed (a lagging cache) creates nothing.
    assert_eq!(creates(&reconcile(&rsc, &store, &key)), 0);
    let report = fx.apply(&store, "replicaset-controller");
    rsc.applied(&key, &report.results);
    assert_eq!(rsc.expectations(&key).unwrap().add, 3);
    // One pod observed: still waiting for two.
    let pods = store.list(Kind::Pod, Some("default"), None, None).unwrap();
    let view = StoreView::new(&store);
    let observe = |p: &Arc<Object>, type_| {
        let mut out = Vec::new();
        let ev = WatchEvent {
            type_,
            object: p.clone(),
            resource_version: p.meta().resource_version,
        };
        rsc.map_event(&ev, view, &mut out);
        out
    };
    let keys = observe(&pods[0], WatchEventType::Added);
    assert_eq!(keys.len(), 1);
    assert_eq!(rsc.expectations(&key).unwrap().add, 2);
    store
        .delete(
            Kind::Pod,
            "default",
            pods[0].name(),
            &DeleteOptions::default(),
        )
        .unwrap();
    assert_eq!(creates(&reconcile(&rsc, &store, &key)), 0);
    observe(&pods[1], WatchEventType::Added);
    observe(&pods[2], WatchEventType::Added);
    assert!(rsc.expectations_satisfied(&key, store.clock().now()));
    // Observed: the deleted pod is replaced.
    assert_eq!(creates(&reconcile(&rsc, &store, &key)), 1);
}

#[test]
fn expectations_expire_after_five_minutes() {
    let (store, clock) = virtual_store(3);
    let rsc = ReplicaSetController::new();
    let rs = store
        .create(replica_set("default", "web", "web", 2, 0))
        .unwrap();
    let key = ObjectKey::of(&rs);
    let fx = reconcile(&rsc, &store, &key);
    assert_eq!(creates(&fx), 2);
    drop(fx); // the creates never happen, and nothing says so
    clock.advance(Duration::from_secs(300));
    assert_eq!(creates(&reconcile(&rsc, &store, &key)), 0);
    clock.advance(Duration::from_millis(1));
    assert_eq!(creates(&reconcile(&rsc, &store, &key)), 2);
}

#[test]
fn burst_caps_one_sync_and_slow_start_stops_at_the_first_failure() {
    let (store, _clock) = virtual_store(3);
    let rsc = ReplicaSetController::new();
    let rs = store
        .create(replica_set("default", "big", "big", 1200, 0))
        .unwrap();
    let key = ObjectKey::of(&rs);
    let fx = reconcile(&rsc, &store, &key);
    assert_eq!(creates(&fx), BURST_REPLICAS);
    let w = &fx.writes[0];
    assert_eq!(
        w.on_failure.as_ref().unwrap().reason.as_str(),
        "FailedCreate"
    );
    assert_eq!(w.on_failure.as_ref().unwrap().type_, EventType::Warning);
    assert_eq!(
        w.on_success.as_ref().unwrap().message,
        "Created pod: {name}"
    );

    // A namespace being deleted refuses every create: one attempt, the rest skipped,
    // and the expectations drop back to nothing.
    let mut ns = ObjectMeta::named("", "doomed");
    ns.finalizers = vec![Str::new("kubernetes")].into();
    store
        .create(Object::from(Namespace {
            meta: ns,
            phase: Default::default(),
        }))
        .unwrap();
    let rs = store
        .create(replica_set("doomed", "web", "web", 5, 0))
        .unwrap();
    store
        .delete(Kind::Namespace, "", "doomed", &DeleteOptions::default())
        .unwrap();
    let key = ObjectKey::of(&rs);
    let fx = reconcile(&rsc, &store, &key);
    assert_eq!(creates(&fx), 5);
    assert_eq!(rsc.expectations(&key).unwrap().add, 5);
    let report = fx.apply(&store, "replicaset-controller");
    let kinds: Vec<&str> = report
        .results
        .iter()
        .filter(|r| r.verb == Verb::Create)
        .map(|r| match r.outcome {
            WriteOutcome::Failed(_) => "failed",
            WriteOutcome::Skipped => "skipped",
            _ => "ok",
        })
        .collect();
    assert_eq!(
        kinds,
        ["failed", "skipped", "skipped", "skipped", "skipped"]
    );
    rsc.applied(&key, &report.results);
    assert_eq!(rsc.expectations(&key).unwrap().add, 0);
    assert!(rsc.expectations_satisfied(&key, store.clock().now()));
    // The next sync tries again.
    assert_eq!(creates(&reconcile(&rsc, &store, &key)), 5);
}

#[test]
fn slow_start_batches_in_the_simulation() {
    let mut e = env();
    e.store
        .create(replica_set("default", "web", "web", 7, 0))
        .unwrap();
    let stats = e.sim.run_until_idle();
    assert_eq!(e.store.count(Kind::Pod), 7);
    // One reconcile created all 7 (batches 1, 2, 4), then status follow-ups.
    assert!(stats.reconciles >= 2);
    assert_eq!(events(&e.store, "default", "SuccessfulCreate").len(), 7);
}

#[test]
fn deleted_replica_set_drops_its_expectations() {
    let mut e = env();
    e.store
        .create(replica_set("default", "web", "web", 2, 0))
        .unwrap();
    e.sim.run_until_idle();
    let key = ObjectKey::new(Kind::ReplicaSet, "default", "web");
    assert!(e.rsc.expectations(&key).is_some());
    e.store
        .delete(
            Kind::ReplicaSet,
            "default",
            "web",
            &DeleteOptions::default(),
        )
        .unwrap();
    e.sim.run_until_idle();
    assert!(e.rsc.expectations(&key).is_none());
    // Its pods are the garbage collector's: still there.
    assert_eq!(e.store.count(Kind::Pod), 2);
}

/// Rule 5 counts the pods of every ReplicaSet with the same controller owner (a
/// Deployment's old and new ReplicaSets) on the node.
#[test]
fn scale_down_counts_sibling_replica_sets_on_the_node() {
    let mut e = env();
    let owner = OwnerReference {
        kind: Kind::Deployment,
        name: Str::new("d"),
        uid: Uid(999_999),
        controller: true,
        block_owner_deletion: true,
    };
    for name in ["a", "b"] {
        let mut rs = replica_set("default", name, name, 2, 0);
        rs.meta_mut().owner_references = vec![owner.clone()].into();
        e.store.create(rs).unwrap();
    }
    e.sim.run_until_idle();
    // a's first pod (by name) on n1, its second on n2 with both of b's pods.
    let a = names(&owned(&e.store, "default", "a"));
    let b = names(&owned(&e.store, "default", "b"));
    for (p, node) in [(&a[0], "n1"), (&a[1], "n2"), (&b[0], "n2"), (&b[1], "n2")] {
        edit_pod(&e.store, p, |pod| pod.node_name = Some(Str::new(node)));
        set_running(&e.store, p, true);
    }
    e.sim.run_until_idle();
    let mut obj = (*get_rs(&e.store, "default", "a")).clone();
    obj.as_replica_set_mut().unwrap().spec.replicas = 1;
    obj.meta_mut().resource_version = 0;
    e.store.update(obj).unwrap();
    e.sim.run_until_idle();
    // Counting only a's pods, n1 and n2 would tie (and name order would pick a[0]).
    assert_eq!(names(&owned(&e.store, "default", "a")), [a[0].clone()]);
    assert_eq!(owned(&e.store, "default", "b").len(), 2);
}

/// The same seed gives the same pods whatever the number of threads.
#[test]
fn deterministic_across_threads() {
    let run = |threads: usize| {
        let (store, clock) = virtual_store(11);
        let controllers: Vec<Arc<dyn Controller>> = vec![Arc::new(ReplicaSetController::new())];
        let config = SimConfig {
            threads,
            ..SimConfig::new(5)
        };
        let mut sim = Simulation::new(store.clone(), clock, controllers, config).unwrap();
        for i in 0..6 {
            store
                .create(replica_set(
                    "default",
                    &format!("rs{i}"),
                    &format!("app{i}"),
                    3 + i,
                    0,
                ))
                .unwrap();
        }
        sim.run_until_idle();
        let pods = store.list(Kind::Pod, None, None, None).unwrap();
        pods.iter()
            .map(|p| format!("{} {}", p.name(), p.meta().resource_version))
            .collect::<Vec<_>>()
    };
    let one = run(1);
    assert_eq!(one.len(), 3 + 4 + 5 + 6 + 7 + 8);
    assert_eq!(one, run(4));
}
