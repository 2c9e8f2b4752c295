//! Unit tests of the runtime: the applier (slow start, failures, Events), routing
//! helpers, the RNG, the requeue rule, and error paths of both drivers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::Rng;

use super::*;
use crate::intern::Str;
use crate::model::{ConfigMap, EventType, ObjectMeta, OwnerReference};
use crate::store::DeleteOptions;
use crate::time::ManualClock;

fn cm(name: &str) -> Object {
    Object::from(ConfigMap {
        meta: ObjectMeta::named("default", name),
        data: vec![],
    })
}

fn owned(name: &str, owner: &Object) -> Object {
    let mut o = cm(name);
    o.meta_mut().owner_references = vec![OwnerReference {
        kind: owner.kind(),
        name: owner.name().clone(),
        uid: owner.meta().uid,
        controller: true,
        block_owner_deletion: false,
    }]
    .into();
    o
}

fn effects(writes: Vec<WriteAction>) -> Effects {
    Effects {
        writes: writes
            .into_iter()
            .map(|action| WriteOp {
                action,
                on_success: None,
                on_failure: None,
            })
            .collect(),
        events: vec![],
    }
}

fn outcome_names(report: &ApplyReport) -> Vec<String> {
    report
        .results
        .iter()
        .map(|r| {
            let o = match &r.outcome {
                WriteOutcome::Written(_) => "ok",
                WriteOutcome::Deleted(_) => "deleted",
                WriteOutcome::Failed(_) => "failed",
                WriteOutcome::Skipped => "skipped",
            };
            format!("{}:{o}", r.key.name)
        })
        .collect()
}

#[test]
fn slow_start_creates_in_doubling_batches_and_stops_after_a_failed_batch() {
    let store = Store::new();
    store.create(cm("x-4")).unwrap();
    let objs = (0..10).map(|i| cm(&format!("x-{i}"))).collect();
    let report = effects(vec![WriteAction::CreateSlowStart(objs)]).apply(&store, "test");
    // Batches: [0], [1, 2], [3, 4, 5, 6] (4 fails, but the whole batch is attempted),
    // then 7, 8, 9 are skipped.
    assert_eq!(
        outcome_names(&report),
        [
            "x-0:ok",
            "x-1:ok",
            "x-2:ok",
            "x-3:ok",
            "x-4:failed",
            "x-5:ok",
            "x-6:ok",
            "x-7:skipped",
            "x-8:skipped",
            "x-9:skipped"
        ]
    );
    assert_eq!(report.failures, 4);
    assert!(report
        .first_failure()
        .unwrap()
        .error()
        .unwrap()
        .is_already_exists());
    assert!(store.try_get(Kind::ConfigMap, "default", "x-6").is_some());
    assert!(store.try_get(Kind::ConfigMap, "default", "x-7").is_none());

    // All good: everything created, nothing skipped.
    let objs = (0..5).map(|i| cm(&format!("y-{i}"))).collect();
    let report = effects(vec![WriteAction::CreateSlowStart(objs)]).apply(&store, "test");
    assert_eq!(report.failures, 0);
    assert_eq!(report.results.len(), 5);
    // Empty: nothing.
    let report = effects(vec![WriteAction::CreateSlowStart(vec![])]).apply(&store, "test");
    assert!(report.results.is_empty());
}

#[test]
fn failure_rule_ignores_not_found_deletes_but_not_conflicts() {
    let store = Store::new();
    let a = store.create(cm("a")).unwrap();
    let mut stale = (*a).clone();
    stale.meta_mut().labels = [("k", "v")].into_iter().collect();
    store.update(stale.clone()).unwrap();
    let report = effects(vec![
        WriteAction::Delete {
            key: ObjectKey::new(Kind::ConfigMap, "default", "gone"),
            options: DeleteOptions::default(),
        },
        // Based on the first version: Conflict.
        WriteAction::Update({
            let mut s = stale;
            s.meta_mut().labels = [("k", "w")].into_iter().collect();
            s
        }),
        WriteAction::UpdateStatus(cm("a")),
    ])
    .apply(&store, "test");
    assert!(
        !report.results[0].is_failure(),
        "NotFound on delete is fine"
    );
    assert!(report.results[0].error().unwrap().is_not_found());
    assert!(report.results[1].is_failure());
    assert!(report.results[1].error().unwrap().is_conflict());
    assert!(
        report.results[2].is_failure(),
        "ConfigMaps have no status: Invalid"
    );
    assert_eq!(report.failures, 2);
}

#[test]
fn events_are_named_deterministically_and_aggregated() {
    let store = Store::new();
    let owner = store.create(cm("owner")).unwrap();
    let mut e = effects(vec![WriteAction::Create({
        let mut o = cm("");
        o.meta_mut().generate_name = Some(Str::new("gen-"));
        o
    })]);
    e.writes[0]
        .on_success(
            &owner,
            EventType::Normal,
            "SuccessfulCreate",
            "Created: {name}",
        )
        .on_failure(&owner, EventType::Warning, "FailedCreate", "Error creating");
    e.events
        .push(EventSpec::new(&owner, EventType::Normal, "Hello", "hi"));
    let report = e.clone().apply(&store, "tester");
    assert_eq!(report.failures, 0);
    assert_eq!(report.events_recorded, 2);
    let created = report.results[0].object().unwrap().clone();
    assert!(created.name().starts_with("gen-"));
    assert_eq!(report.results[0].key, ObjectKey::of(&created));

    let events = store
        .list(Kind::Event, Some("default"), None, None)
        .unwrap();
    assert_eq!(events.len(), 2);
    let messages: Vec<String> = events
        .iter()
        .map(|e| e.as_event().unwrap().message.to_string())
        .collect();
    assert!(messages.contains(&format!("Created: {}", created.name())));
    assert!(messages.contains(&"hi".to_string()));
    for e in &events {
        let ev = e.as_event().unwrap();
        assert!(e.name().starts_with("owner."));
        assert_eq!(ev.source.as_str(), "tester");
        assert_eq!(ev.involved_object.uid, Some(owner.meta().uid));
        assert_eq!(ev.count, 1);
    }

    // The same "hi" again: counted into the existing Event.
    let mut again = Effects::default();
    again
        .events
        .push(EventSpec::new(&owner, EventType::Normal, "Hello", "hi"));
    again.clone().apply(&store, "tester");
    again.apply(&store, "tester");
    let events = store
        .list(Kind::Event, Some("default"), None, None)
        .unwrap();
    assert_eq!(events.len(), 2);
    let hi = events
        .iter()
        .find(|e| e.as_event().unwrap().message.as_str() == "hi")
        .unwrap();
    assert_eq!(hi.as_event().unwrap().count, 3);

    // A failed write records the failure Event with the error.
    let mut e = effects(vec![WriteAction::Create(cm("owner"))]);
    e.writes[0].on_failure(&owner, EventType::Warning, "FailedCreate", "Error creating");
    let report = e.apply(&store, "tester");
    assert_eq!(report.failures, 1);
    let failed = store
        .list(Kind::Event, Some("default"), None, None)
        .unwrap()
        .into_iter()
        .find(|e| e.as_event().unwrap().reason.as_str() == "FailedCreate")
        .unwrap();
    assert_eq!(
        failed.as_event().unwrap().message.as_str(),
        "Error creating: configmaps \"owner\" already exists in namespace \"default\""
    );
}

#[test]
fn owner_root_walks_controller_refs() {
    let store = Store::new();
    let top = store.create(cm("top")).unwrap();
    let mid = store.create(owned("mid", &top)).unwrap();
    let leaf = store.create(owned("leaf", &mid)).unwrap();
    let view = StoreView::new(&store);
    let top_key = ObjectKey::new(Kind::ConfigMap, "default", "top");
    assert_eq!(owner_root(view, &leaf), Some(top_key.clone()));
    assert_eq!(owner_root(view, &mid), Some(top_key.clone()));
    assert_eq!(owner_root(view, &top), None);
    // Routed keys: namespace hash as Affinity::new, owner root hashed.
    let r = route_object(view, &leaf);
    assert_eq!(r.key, ObjectKey::of(&leaf));
    assert_eq!(
        r.affinity.namespace,
        Affinity::new("default", None).namespace
    );
    assert_eq!(r.affinity.owner, Some(stable_hash(&top_key)));
    assert_eq!(route_key(view, ObjectKey::of(&mid)).affinity, r.affinity);
    // A missing owner ends the walk at the last reference.
    store
        .delete(Kind::ConfigMap, "default", "top", &DeleteOptions::default())
        .unwrap();
    assert_eq!(owner_root(view, &leaf), Some(top_key));
    // A gone key routes on its namespace.
    let gone = route_key(view, ObjectKey::new(Kind::ConfigMap, "default", "nope"));
    assert_eq!(gone.affinity, Affinity::new("default", None));
    // A view without routing (shared/steal dispatchers) gives no affinity at all.
    let plain = StoreView::without_routing(&store);
    assert!(view.routes() && !plain.routes());
    assert_eq!(route_object(plain, &leaf).affinity, Affinity::NONE);
    assert_eq!(route_object(plain, &leaf).key, ObjectKey::of(&leaf));
    assert_eq!(
        route_key(plain, ObjectKey::of(&mid)).affinity,
        Affinity::NONE
    );
}

#[test]
fn object_key_display_order_and_scope() {
    let a = ObjectKey::new(Kind::Pod, "ns", "a");
    let node = ObjectKey::new(Kind::Node, "ignored", "n1");
    assert_eq!(a.to_string(), "Pod/ns/a");
    assert_eq!(node.to_string(), "Node/n1");
    assert!(node < a, "kinds order first (Node before Pod)");
    assert!(ObjectKey::new(Kind::Pod, "ns", "a") < ObjectKey::new(Kind::Pod, "ns", "b"));
    assert!(ObjectKey::new(Kind::Pod, "a", "z") < ObjectKey::new(Kind::Pod, "b", "a"));
}

#[test]
fn rng_is_a_function_of_seed_controller_key_and_round() {
    let store = Store::new();
    let key = ObjectKey::new(Kind::ConfigMap, "default", "a");
    let draw = |seed: u64, n: u64| {
        let mut ctx = Ctx::new(
            StoreView::new(&store),
            &key,
            "c",
            Timestamp(0),
            ctx::rng_seed(seed, "c", &key, n),
        );
        (0..4)
            .map(|_| ctx.rng().random::<u64>())
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(1, 1), draw(1, 1));
    assert_ne!(draw(1, 1), draw(1, 2));
    assert_ne!(draw(1, 1), draw(2, 1));
}

/// A controller driven by a closure, for error-path tests.
struct FnController<F> {
    name: &'static str,
    f: F,
    calls: Mutex<Vec<(Timestamp, u32, ObjectKey)>>,
    applied: AtomicUsize,
}

impl<F> Controller for FnController<F>
where
    F: Fn(&ObjectKey, &mut Ctx<'_>) -> Result<Requeue, ReconcileError> + Send + Sync + 'static,
{
    fn name(&self) -> &'static str {
        self.name
    }
    fn primary(&self) -> Kind {
        Kind::ConfigMap
    }
    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        self.calls
            .lock()
            .push((ctx.now(), ctx.requeues(), key.clone()));
        (self.f)(key, ctx)
    }
    fn applied(&self, _key: &ObjectKey, results: &[WriteResult]) {
        self.applied.fetch_add(results.len(), Ordering::SeqCst);
    }
}

fn fn_controller<F>(name: &'static str, f: F) -> Arc<FnController<F>>
where
    F: Fn(&ObjectKey, &mut Ctx<'_>) -> Result<Requeue, ReconcileError> + Send + Sync + 'static,
{
    Arc::new(FnController {
        name,
        f,
        calls: Mutex::new(vec![]),
        applied: AtomicUsize::new(0),
    })
}

/// (ms since `t0`, requeues) of the calls for `name`.
fn calls_of(
    calls: &Mutex<Vec<(Timestamp, u32, ObjectKey)>>,
    t0: Timestamp,
    name: &str,
) -> Vec<(u64, u32)> {
    calls
        .lock()
        .iter()
        .filter(|(_, _, k)| k.name.as_str() == name)
        .map(|(t, r, _)| (t.since(t0).as_millis() as u64, *r))
        .collect()
}

#[test]
fn an_error_applies_earlier_writes_and_retries_with_backoff() {
    let (store, clock) = virtual_store(1);
    let c = fn_controller("erring", |key, ctx| {
        if key.name.as_str() == "a" {
            ctx.create(cm(&format!("made-{}", ctx.requeues())));
            return Err("nope".into());
        }
        Ok(Requeue::Done)
    });
    let mut sim =
        Simulation::new(store.clone(), clock, vec![c.clone()], SimConfig::new(1)).unwrap();
    let t0 = sim.now();
    store.create(cm("a")).unwrap();
    sim.run_until_idle();
    sim.advance(Duration::from_millis(36));
    // 0, +5, +15, +35 ms, with the backoff count; each attempt's create was applied.
    assert_eq!(
        calls_of(&c.calls, t0, "a"),
        [(0, 0), (5, 1), (15, 2), (35, 3)]
    );
    for i in 0..4 {
        assert!(store
            .try_get(Kind::ConfigMap, "default", &format!("made-{i}"))
            .is_some());
    }
    let m = sim.metrics();
    let m = m.controller("erring").unwrap();
    assert_eq!((m.reconciles, m.errors, m.panics), (4 + 4, 4, 0));
    let log = sim.log();
    assert!(log
        .iter()
        .any(|e| e.kind == LogKind::ReconcileError && e.message == "nope"));
}

#[test]
fn a_conflicting_write_is_requeued_rate_limited() {
    // Two controllers update the same object in the same round: the second update is
    // based on the same resourceVersion and conflicts. Although its reconcile said
    // Done, the key gets a rate-limited requeue (+5 ms); the first update's event
    // brings it back at once too, and that retry succeeds.
    let (store, clock) = virtual_store(1);
    let labeler = |label: &'static str| {
        move |key: &ObjectKey, ctx: &mut Ctx<'_>| -> Result<Requeue, ReconcileError> {
            let obj = ctx.store().get_key(key).unwrap();
            if obj.labels().get(label).is_none() {
                let mut new = (*obj).clone();
                new.meta_mut().labels = obj.labels().with(label, "yes");
                ctx.update(new);
            }
            Ok(Requeue::Done)
        }
    };
    let a = fn_controller("a", labeler("a"));
    let b = fn_controller("b", labeler("b"));
    let mut sim = Simulation::new(
        store.clone(),
        clock,
        vec![a.clone(), b.clone()],
        SimConfig::new(1),
    )
    .unwrap();
    let t0 = sim.now();
    store.create(cm("x")).unwrap();
    let stats = sim.run_until_idle();
    // Round 1: a writes, b conflicts. Round 2 (a's event): b writes. Round 3 (b's
    // event): nothing to do.
    assert_eq!(stats.rounds, 3);
    let m = sim.metrics();
    assert_eq!(m.controller("a").unwrap().write_failures, 0);
    assert_eq!(m.controller("b").unwrap().write_failures, 1);
    let x = store.get(Kind::ConfigMap, "default", "x").unwrap();
    assert!(x.labels().contains_key("a") && x.labels().contains_key("b"));
    assert!(sim.log().iter().any(|e| e.kind == LogKind::WriteFailed
        && e.controller == "b"
        && e.message.contains("Operation cannot be fulfilled")));
    // The rate-limited requeue is pending; the successful retry forgot the backoff.
    assert_eq!(sim.next_due(), Some(t0.plus(Duration::from_millis(5))));
    let key = ObjectKey::new(Kind::ConfigMap, "default", "x");
    assert_eq!(sim.dispatcher("b").unwrap().num_requeues(&key), 0);
    let stats = sim.advance(Duration::from_millis(5));
    assert_eq!(
        (stats.reconciles, stats.writes, stats.timer_jumps),
        (1, 0, 1)
    );
    // b's second attempt ran with one rate-limited requeue counted; Done forgot it.
    assert_eq!(
        calls_of(&b.calls, t0, "x"),
        [(0, 0), (0, 1), (0, 0), (5, 0)]
    );
    // `applied` saw both of b's update results.
    assert_eq!(b.applied.load(Ordering::SeqCst), 2);
}

#[test]
fn map_event_panics_are_caught() {
    struct Mapper;
    impl Controller for Mapper {
        fn name(&self) -> &'static str {
            "mapper"
        }
        fn primary(&self) -> Kind {
            Kind::ConfigMap
        }
        fn map_event(
            &self,
            ev: &WatchEvent,
            store: StoreView<'_>,
            out: &mut Vec<Routed<ObjectKey>>,
        ) {
            if ev.object.name().as_str() == "boom" {
                panic!("map boom");
            }
            out.push(route_object(store, &ev.object));
        }
        fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
            let mut o = (*ctx.store().get_key(key).unwrap()).clone();
            o.meta_mut().labels = [("seen", "1")].into_iter().collect();
            ctx.update(o);
            Ok(Requeue::Done)
        }
    }
    let (store, clock) = virtual_store(1);
    let mut sim = Simulation::new(
        store.clone(),
        clock,
        vec![Arc::new(Mapper)],
        SimConfig::new(1),
    )
    .unwrap();
    store.create(cm("boom")).unwrap();
    store.create(cm("fine")).unwrap();
    sim.run_until_idle();
    let seen = |n: &str| {
        store
            .get(Kind::ConfigMap, "default", n)
            .unwrap()
            .labels()
            .contains_key("seen")
    };
    assert!(seen("fine"));
    assert!(!seen("boom"));
    assert_eq!(sim.metrics().controller("mapper").unwrap().map_panics, 1);
    assert!(sim.log().iter().any(|e| e.kind == LogKind::MapPanic));
}

#[test]
fn constructor_errors() {
    let (store, _clock) = virtual_store(1);
    let other = Arc::new(ManualClock::default());
    let c = || fn_controller("same", |_: &ObjectKey, _: &mut Ctx<'_>| Ok(Requeue::Done));
    assert!(matches!(
        Simulation::new(store.clone(), other, vec![c()], SimConfig::new(1)),
        Err(RuntimeError::ClockMismatch)
    ));
    let (store, clock) = virtual_store(1);
    assert!(matches!(
        Simulation::new(
            store.clone(),
            clock.clone(),
            vec![c(), c()],
            SimConfig::new(1)
        ),
        Err(RuntimeError::DuplicateController("same"))
    ));
    let zero = SimConfig {
        threads: 0,
        ..SimConfig::new(1)
    };
    assert!(matches!(
        Simulation::new(store.clone(), clock.clone(), vec![c()], zero),
        Err(RuntimeError::InvalidConfig(_))
    ));
    let zero = SimConfig {
        workers: 0,
        ..SimConfig::new(1)
    };
    assert!(matches!(
        Simulation::new(store.clone(), clock, vec![c()], zero),
        Err(RuntimeError::Dispatch(_))
    ));
    assert!(matches!(
        Runtime::start(store, vec![c(), c()], RuntimeConfig::default()),
        Err(RuntimeError::DuplicateController(_))
    ));
}

#[test]
fn hot_loop_hits_the_round_limit() {
    let (store, clock) = virtual_store(1);
    let c = fn_controller("hot", |_: &ObjectKey, _: &mut Ctx<'_>| {
        Ok(Requeue::After(Duration::ZERO))
    });
    let config = SimConfig {
        max_rounds_per_instant: 50,
        ..SimConfig::new(1)
    };
    let mut sim = Simulation::new(store.clone(), clock, vec![c.clone()], config).unwrap();
    store.create(cm("a")).unwrap();
    let stats = sim.run_until_idle();
    assert!(stats.round_limit_hit);
    assert_eq!(stats.reconciles, 50);
    assert!(sim.log().iter().any(|e| e.kind == LogKind::RoundLimit));
}

#[test]
fn existing_objects_are_listed_at_start() {
    let (store, clock) = virtual_store(1);
    store.create(cm("a")).unwrap();
    store.create(cm("b")).unwrap();
    let c = fn_controller("lister", |_: &ObjectKey, _: &mut Ctx<'_>| Ok(Requeue::Done));
    let config = SimConfig {
        record_history: true,
        ..SimConfig::new(1)
    };
    let mut sim = Simulation::new(store.clone(), clock, vec![c.clone()], config).unwrap();
    let stats = sim.run_until_idle();
    assert_eq!(stats.reconciles, 2);
    // The two ConfigMaps and the two built-in namespaces, as Added.
    let h: Vec<String> = sim
        .history()
        .iter()
        .map(|e| format!("{}/{}/{:?}", e.kind, e.name, e.type_))
        .collect();
    assert_eq!(
        h,
        [
            "Namespace/default/Added",
            "Namespace/kube-system/Added",
            "ConfigMap/a/Added",
            "ConfigMap/b/Added"
        ]
    );
    assert!(sim.is_idle());
}
