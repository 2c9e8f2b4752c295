//! The virtual-time driver ([`Simulation`]): determinism across thread counts and
//! sharding strategies, panics retried with backoff, requeue-after timers, clock
//! jumps and idle detection.

mod runtime_toys;

use std::sync::Arc;
use std::time::Duration;

use kubesim_core::model::{Kind, ObjectKey};
use kubesim_core::runtime::{
    virtual_store, Controller, HistoryEntry, LogKind, SimConfig, Simulation, Strategy,
};
use kubesim_core::store::{DeleteOptions, WatchEventType};

use runtime_toys::*;

/// What a run produced: the event history line by line, then the final ConfigMaps
/// and Events (name, resourceVersion, JSON).
fn scenario(seed: u64, threads: usize, strategy: Strategy, workers: usize) -> Vec<String> {
    let (store, clock) = virtual_store(42);
    // Objects present before the simulation starts are listed.
    for i in 0..4 {
        store
            .create(owner(&format!("pre{i}"), i + 1, None))
            .unwrap();
    }
    let replicator = Replicator::new();
    let ticker = Arc::new(Ticker::default());
    let config = SimConfig {
        threads,
        strategy,
        workers,
        record_history: true,
        ..SimConfig::new(seed)
    };
    let controllers: Vec<Arc<dyn Controller>> = vec![replicator.clone(), ticker.clone()];
    let mut sim = Simulation::new(store.clone(), clock, controllers, config).unwrap();

    // An unowned ConfigMap in the way of o3's second copy: o3's slow start fails and
    // retries with backoff until it is deleted.
    store.create(config_map("o3-1", &[], &[])).unwrap();
    for i in 0..12 {
        let resync = (i % 4 == 0).then_some("30s");
        store
            .create(owner(&format!("o{i}"), 1 + i % 5, resync))
            .unwrap();
    }
    store
        .create(config_map("clock", &[(TICK_EVERY, "20s")], &[]))
        .unwrap();
    sim.run_until_idle();
    sim.advance(Duration::from_secs(10));

    // Mid-run changes: an owner deleted, a copy deleted, a scale-down, a scale-up, new
    // data.
    let del = DeleteOptions::default();
    store
        .delete(Kind::ConfigMap, "default", "o1", &del)
        .unwrap();
    store
        .delete(Kind::ConfigMap, "default", "o2-0", &del)
        .unwrap();
    annotate(&store, "o4", COPIES, "1");
    annotate(&store, "o6", COPIES, "6");
    {
        let o5 = store.get(Kind::ConfigMap, "default", "o5").unwrap();
        let mut new = (*o5).clone();
        new.as_config_map_mut().unwrap().data = vec![("v".into(), "changed".into())];
        store.update(new).unwrap();
    }
    sim.advance(Duration::from_secs(45));
    assert!(
        check_converged(&store).is_err(),
        "o3 is still blocked by the unowned o3-1"
    );
    store
        .delete(Kind::ConfigMap, "default", "o3-1", &del)
        .unwrap();
    sim.advance(Duration::from_secs(120));
    check_converged(&store).unwrap();
    assert_eq!(
        replicator
            .violations
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert!(
        replicator
            .failed_creates
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
    );

    let mut out: Vec<String> = sim.history().iter().map(HistoryEntry::to_string).collect();
    for kind in [Kind::ConfigMap, Kind::Event] {
        for o in store.list(kind, None, None, None).unwrap() {
            out.push(format!(
                "{} {} rv={} {}",
                kind,
                o.name(),
                o.meta().resource_version,
                o.to_json()
            ));
        }
    }
    out.push(format!("now={}", sim.now().millis()));
    out
}

fn assert_same(a: &[String], b: &[String], what: &str) {
    if let Some(i) = (0..a.len().min(b.len())).find(|&i| a[i] != b[i]) {
        panic!("{what}: runs differ at line {i}:\n  {}\n  {}", a[i], b[i]);
    }
    assert_eq!(a.len(), b.len(), "{what}: runs differ in length");
}

#[test]
fn same_seed_same_history_whatever_the_threads_and_strategy() {
    let base = scenario(7, 1, Strategy::Shared, 1);
    // The scenario did something worth comparing.
    assert!(base.len() > 200, "history of {} lines", base.len());
    for needle in [
        " Deleted default/o1 ",
        " Deleted default/o2-0 ",
        "FailedCreate",
        "SuccessfulCreate",
        "Event clock.",
        "\"salt\"",
    ] {
        assert!(
            base.iter().any(|l| l.contains(needle)),
            "no {needle:?} in the run"
        );
    }
    for (threads, strategy, workers) in [
        (1, Strategy::Shared, 1),
        (2, Strategy::Shared, 2),
        (2, Strategy::Hash, 3),
        (2, Strategy::Namespace, 2),
        (2, Strategy::Owner, 2),
        (3, Strategy::Consistent, 4),
        (2, Strategy::Steal, 2),
    ] {
        let other = scenario(7, threads, strategy, workers);
        assert_same(
            &base,
            &other,
            &format!("threads={threads} strategy={strategy} workers={workers}"),
        );
    }
}

#[test]
fn another_seed_gives_another_history() {
    // The copies' `salt` labels come from the reconciles' RNG: the seed shows.
    let a = scenario(7, 2, Strategy::Hash, 2);
    let b = scenario(8, 2, Strategy::Hash, 2);
    assert_ne!(a, b);
}

#[test]
fn a_panicking_key_is_retried_with_backoff_and_others_proceed() {
    let (store, clock) = virtual_store(1);
    let p = Arc::new(Panicker::default());
    let mut sim = Simulation::new(
        store.clone(),
        clock,
        vec![p.clone()],
        SimConfig {
            threads: 2,
            workers: 2,
            strategy: Strategy::Steal,
            ..SimConfig::new(1)
        },
    )
    .unwrap();
    let t0 = sim.now();
    for name in ["bad", "good1", "good2"] {
        store.create(config_map(name, &[], &[])).unwrap();
    }
    sim.run_until_idle();
    assert_eq!(p.attempts("good1"), [t0]);
    assert_eq!(p.attempts("good2"), [t0]);
    assert_eq!(p.attempts("bad"), [t0]);

    sim.advance(ms(100));
    // Backoff 5, 10, 20, 40 ms: attempts at +5, +15, +35, +75 ms.
    let at: Vec<u64> = p
        .attempts("bad")
        .iter()
        .map(|t| t.since(t0).as_millis() as u64)
        .collect();
    assert_eq!(at, [0, 5, 15, 35, 75]);
    // A new key is served at once while "bad" backs off.
    store.create(config_map("good3", &[], &[])).unwrap();
    sim.run_until_idle();
    assert_eq!(p.attempts("good3"), [t0.plus(ms(100))]);
    sim.advance(ms(60));
    assert_eq!(
        p.attempts("bad").last().copied(),
        Some(t0.plus(ms(155))),
        "next backoff: 80 ms"
    );
    // The writes recorded before each panic were discarded.
    assert!(store
        .try_get(Kind::ConfigMap, "default", "bad-leak")
        .is_none());
    let m = sim.metrics();
    let m = m.controller("panicker").unwrap();
    assert_eq!(m.panics, 6);
    assert_eq!(m.writes, 0);
    let log = sim.log();
    assert_eq!(
        log.iter()
            .filter(|e| e.kind == LogKind::ReconcilePanic)
            .count(),
        6
    );
    assert!(log[0].message.contains("boom on ConfigMap/default/bad"));
    assert_eq!(
        log[0].key,
        Some(ObjectKey::new(Kind::ConfigMap, "default", "bad"))
    );
    let key = ObjectKey::new(Kind::ConfigMap, "default", "bad");
    assert_eq!(sim.dispatcher("panicker").unwrap().num_requeues(&key), 6);
}

#[test]
fn requeue_after_fires_exactly_when_due() {
    let (store, clock) = virtual_store(1);
    let ticker = Arc::new(Ticker::default());
    let mut sim = Simulation::new(
        store.clone(),
        clock,
        vec![ticker.clone()],
        SimConfig::new(1),
    )
    .unwrap();
    let t0 = sim.now();
    store
        .create(config_map("t", &[(TICK_EVERY, "30s")], &[]))
        .unwrap();
    let stats = sim.run_until_idle();
    assert_eq!(sim.now(), t0, "run_until_idle does not move the clock");
    assert_eq!(stats.timer_jumps, 0);
    assert_eq!(ticks(&store, "t"), 1);
    assert_eq!(sim.next_due(), Some(t0.plus(Duration::from_secs(30))));

    let stats = sim.advance(Duration::from_millis(29_999));
    assert_eq!(stats.reconciles, 0);
    assert_eq!(ticks(&store, "t"), 1);
    assert_eq!(sim.now(), t0.plus(Duration::from_millis(29_999)));

    let stats = sim.advance(ms(1));
    assert_eq!(ticks(&store, "t"), 2);
    assert!(stats.reconciles >= 1);
    let last = store.get(Kind::ConfigMap, "default", "t").unwrap();
    assert_eq!(
        last.meta().annotations.get("last-tick").unwrap().as_str(),
        t0.plus(Duration::from_secs(30)).millis().to_string()
    );
    assert_eq!(sim.now(), t0.plus(Duration::from_secs(30)));
}

#[test]
fn advance_visits_timers_in_due_order_and_ends_at_the_target() {
    let (store, clock) = virtual_store(1);
    let ticker = Arc::new(Ticker::default());
    let mut sim = Simulation::new(
        store.clone(),
        clock,
        vec![ticker.clone()],
        SimConfig::new(1),
    )
    .unwrap();
    let t0 = sim.now();
    store
        .create(config_map("a", &[(TICK_EVERY, "20s")], &[]))
        .unwrap();
    store
        .create(config_map("b", &[(TICK_EVERY, "30s")], &[]))
        .unwrap();
    let stats = sim.advance(Duration::from_secs(65));
    assert_eq!(sim.now(), t0.plus(Duration::from_secs(65)));
    assert_eq!(stats.elapsed, Duration::from_secs(65));
    // Timers at 20, 30, 40, 60 s (60 s: both).
    assert_eq!(stats.timer_jumps, 4);
    assert_eq!((ticks(&store, "a"), ticks(&store, "b")), (4, 3));
    let calls = ticker.calls.lock();
    assert!(
        calls.windows(2).all(|w| w[0].0 <= w[1].0),
        "reconciles in time order"
    );
    let tick_times: Vec<u64> = calls.iter().map(|(t, _)| t.since(t0).as_secs()).collect();
    for s in [0, 20, 30, 40, 60] {
        assert!(tick_times.contains(&s), "no reconcile at {s}s");
    }
    assert!(tick_times.iter().all(|s| [0, 20, 30, 40, 60].contains(s)));
}

#[test]
fn run_until_jumps_timers_and_detects_idleness() {
    let (store, clock) = virtual_store(1);
    let ticker = Arc::new(Ticker::default());
    let replicator = Replicator::new();
    let controllers: Vec<Arc<dyn Controller>> = vec![replicator.clone(), ticker.clone()];
    let mut sim = Simulation::new(store.clone(), clock, controllers, SimConfig::new(1)).unwrap();
    let t0 = sim.now();
    store
        .create(config_map("t", &[(TICK_EVERY, "20s")], &[]))
        .unwrap();
    // Ticks at 0, 20, 40, 60 s: the fourth after 60 s of virtual time.
    let took = sim
        .run_until(|s| ticks(s, "t") >= 4, Duration::from_secs(600))
        .unwrap();
    assert_eq!(took, Duration::from_secs(60));
    assert_eq!(sim.now(), t0.plus(Duration::from_secs(60)));
    assert!(!sim.is_idle(), "the ticker's timer is pending");

    // A condition already true returns at once.
    let took = sim
        .run_until(|s| ticks(s, "t") >= 1, Duration::from_secs(1))
        .unwrap();
    assert_eq!(took, Duration::ZERO);

    // Stop the ticker; the replicator converges; then nothing is scheduled at all.
    store
        .delete(Kind::ConfigMap, "default", "t", &DeleteOptions::default())
        .unwrap();
    store.create(owner("r", 3, None)).unwrap();
    sim.advance(Duration::from_secs(20));
    check_converged(&store).unwrap();
    assert!(sim.is_idle());
    assert_eq!(sim.next_due(), None);
    let before = sim.now();
    let err = sim
        .run_until(
            |s| s.count(Kind::ConfigMap) > 100,
            Duration::from_secs(3600),
        )
        .unwrap_err();
    assert!(err.idle);
    assert_eq!(err.waited, Duration::from_secs(3600));
    assert_eq!(sim.now(), before.plus(Duration::from_secs(3600)));
    assert!(err.to_string().contains("idle"));

    // A timeout with a timer still pending beyond it is not idle.
    store
        .create(config_map("slow", &[(TICK_EVERY, "1h")], &[]))
        .unwrap();
    let err = sim
        .run_until(|s| ticks(s, "slow") >= 2, Duration::from_secs(60))
        .unwrap_err();
    assert!(!err.idle);
}

#[test]
fn history_records_every_kind_in_pump_order() {
    let (store, clock) = virtual_store(1);
    let replicator = Replicator::new();
    let config = SimConfig {
        record_history: true,
        ..SimConfig::new(1)
    };
    let mut sim = Simulation::new(store.clone(), clock, vec![replicator], config).unwrap();
    // The first round pumps the initial list (the built-in namespaces).
    sim.run_until_idle();
    let listed: Vec<String> = sim
        .take_history()
        .iter()
        .map(|e| e.name.to_string())
        .collect();
    assert_eq!(listed, ["default", "kube-system"]);
    store.create(owner("a", 2, None)).unwrap();
    sim.run_until_idle();
    let h = sim.history();
    // a, then its two copies (one slow-start batch each), then the two Events.
    let lines: Vec<String> = h
        .iter()
        .map(|e| format!("{}/{}/{:?}", e.kind, e.name, e.type_))
        .collect();
    assert_eq!(
        &lines[..3],
        [
            "ConfigMap/a/Added",
            "ConfigMap/a-0/Added",
            "ConfigMap/a-1/Added"
        ]
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("Event/a.")).count(),
        2
    );
    assert!(h.iter().all(|e| e.type_ == WatchEventType::Added));
    // Here each round's pump delivered kinds in order and each kind's events in
    // resourceVersion order, and the rounds' events follow each other in the same way.
    assert!(h.windows(2).all(|w| w[0].kind < w[1].kind
        || (w[0].kind == w[1].kind && w[0].resource_version < w[1].resource_version)));
}
