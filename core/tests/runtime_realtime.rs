//! The real-time driver ([`Runtime`]): the replicator converges under every sharding
//! strategy with per-key exclusivity checked inside reconcile, `wait_idle` and `stop`
//! behave, panics leave the workers running, and workers can be added and removed.
//!
//! No test sleeps for a fixed time: every wait is `wait_idle` or a bounded poll.

mod runtime_toys;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubesim_core::model::Kind;
use kubesim_core::runtime::{Controller, LogKind, Runtime, RuntimeConfig, Strategy};
use kubesim_core::store::{DeleteOptions, Store, StoreConfig};
use kubesim_core::time::SystemClock;

use runtime_toys::*;

/// Generous: the runs take milliseconds; a slow CI machine must not flake.
const IDLE_TIMEOUT: Duration = Duration::from_secs(20);

fn real_store() -> Store {
    Store::with_config(StoreConfig {
        clock: Arc::new(SystemClock),
        seed: 1,
        ..StoreConfig::default()
    })
}

/// Polls `cond` until it holds or `timeout` passes (short sleeps between checks).
fn eventually(timeout: Duration, cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn converge_with(strategy: Strategy) {
    let store = real_store();
    for i in 0..10 {
        store.create(owner(&format!("pre{i}"), 2, None)).unwrap();
    }
    let rep = Replicator::new();
    let config = RuntimeConfig {
        seed: 3,
        ..RuntimeConfig::new(strategy, 2)
    };
    let rt = Runtime::start(store.clone(), vec![rep.clone()], config).unwrap();
    for i in 0..40 {
        store
            .create(owner(&format!("o{i}"), 1 + i % 4, None))
            .unwrap();
    }
    // A hot key: its data changes many times while it is being reconciled.
    for n in 0..50 {
        let o0 = store.get(Kind::ConfigMap, "default", "o0").unwrap();
        let mut new = (*o0).clone();
        new.as_config_map_mut().unwrap().data = vec![("v".into(), n.to_string().into())];
        store.update(new).unwrap();
    }
    assert!(rt.wait_idle(IDLE_TIMEOUT), "{strategy}: not idle");
    check_converged(&store).unwrap_or_else(|e| panic!("{strategy}: {e}"));

    // Churn: scale down and up, delete owners and copies.
    let del = DeleteOptions::default();
    for i in (0..40).step_by(3) {
        let n = if i % 2 == 0 { "0" } else { "5" };
        annotate(&store, &format!("o{i}"), COPIES, n);
    }
    for i in (0..40).step_by(7) {
        store
            .delete(Kind::ConfigMap, "default", &format!("o{i}"), &del)
            .unwrap();
    }
    for i in (1..40).step_by(5) {
        // Some of these are gone already (scaled to 0 or deleted): ignore NotFound.
        let _ = store.delete(Kind::ConfigMap, "default", &format!("o{i}-0"), &del);
    }
    assert!(
        rt.wait_idle(IDLE_TIMEOUT),
        "{strategy}: not idle after churn"
    );
    check_converged(&store).unwrap_or_else(|e| panic!("{strategy}: {e}"));

    let m = rt.metrics();
    let c = m.controller("replicator").unwrap();
    assert_eq!(rep.violations.load(Ordering::SeqCst), 0, "{strategy}");
    assert_eq!(m.panics(), 0, "{strategy}: {:?}", rt.log());
    assert_eq!(c.errors, 0, "{strategy}");
    assert_eq!(c.write_failures, 0, "{strategy}: {:?}", rt.log());
    assert!(
        c.reconciles >= 50,
        "{strategy}: {} reconciles",
        c.reconciles
    );
    assert_eq!(
        c.reconciles as usize,
        rep.reconciles.load(Ordering::SeqCst),
        "{strategy}"
    );
    // Per-worker figures: two workers, every reconcile handed to one of them.
    assert_eq!(c.workers.len(), 2, "{strategy}");
    let handed: u64 = c.workers.iter().map(|w| w.handed_out).sum();
    assert_eq!(handed, c.reconciles, "{strategy}");
    assert!(c.workers.iter().all(|w| w.processing == 0), "{strategy}");
    // The latency histogram has a sample per reconcile that served an event.
    assert!(!c.latency.is_empty(), "{strategy}");
    assert!(c.latency.len() <= c.reconciles, "{strategy}");
    assert!(c.events_recorded > 0, "{strategy}: SuccessfulCreate events");
    let started = Instant::now();
    let final_metrics = rt.stop();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{strategy}: slow stop"
    );
    assert_eq!(
        final_metrics.controller("replicator").unwrap().reconciles,
        c.reconciles
    );
}

#[test]
fn converges_shared() {
    converge_with(Strategy::Shared);
}

#[test]
fn converges_hash() {
    converge_with(Strategy::Hash);
}

#[test]
fn converges_namespace() {
    converge_with(Strategy::Namespace);
}

#[test]
fn converges_owner() {
    converge_with(Strategy::Owner);
}

#[test]
fn converges_consistent() {
    converge_with(Strategy::Consistent);
}

#[test]
fn converges_steal() {
    converge_with(Strategy::Steal);
}

#[test]
fn a_panic_leaves_the_worker_running() {
    let store = real_store();
    let p = Arc::new(Panicker::default());
    // One worker: if a panic killed it, nothing after "bad" would be reconciled.
    let rt = Runtime::start(
        store.clone(),
        vec![p.clone()],
        RuntimeConfig::new(Strategy::Shared, 1),
    )
    .unwrap();
    store.create(config_map("bad", &[], &[])).unwrap();
    assert!(eventually(IDLE_TIMEOUT, || !p.attempts("bad").is_empty()));
    for i in 0..5 {
        store
            .create(config_map(&format!("good{i}"), &[], &[]))
            .unwrap();
    }
    assert!(eventually(IDLE_TIMEOUT, || (0..5)
        .all(|i| !p.attempts(&format!("good{i}")).is_empty())));
    // "bad" is retried with backoff (5, 10, 20 ms …).
    assert!(eventually(IDLE_TIMEOUT, || p.attempts("bad").len() >= 3));
    let bad = p.attempts("bad");
    assert!(bad.windows(2).all(|w| w[1] >= w[0]));
    assert!(
        rt.metrics().controller("panicker").unwrap().panics >= 3,
        "panics counted"
    );
    assert!(rt
        .log()
        .iter()
        .any(|e| e.kind == LogKind::ReconcilePanic && e.message.contains("boom")));
    // Never idle while "bad" keeps failing (its retry is always pending).
    assert!(!rt.wait_idle(Duration::from_millis(20)));
    assert!(store
        .try_get(Kind::ConfigMap, "default", "bad-leak")
        .is_none());
    rt.stop();
}

#[test]
fn a_pending_timer_is_not_idle_and_stop_drops_it() {
    let store = real_store();
    let ticker = Arc::new(Ticker::default());
    let rt = Runtime::start(
        store.clone(),
        vec![ticker.clone()],
        RuntimeConfig::new(Strategy::Consistent, 2),
    )
    .unwrap();
    assert!(rt.wait_idle(IDLE_TIMEOUT), "idle with nothing to do");
    store
        .create(config_map("t", &[(TICK_EVERY, "1h")], &[]))
        .unwrap();
    assert!(eventually(IDLE_TIMEOUT, || ticks(&store, "t") == 1));
    assert!(
        !rt.wait_idle(Duration::from_millis(20)),
        "an hour-long timer is pending"
    );
    let started = Instant::now();
    rt.stop();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn workers_can_be_added_and_removed_while_running() {
    let store = real_store();
    let rep = Replicator::new();
    let controllers: Vec<Arc<dyn Controller>> = vec![rep.clone()];
    let rt = Runtime::start(
        store.clone(),
        controllers,
        RuntimeConfig::new(Strategy::Consistent, 2),
    )
    .unwrap();
    for i in 0..10 {
        store.create(owner(&format!("a{i}"), 2, None)).unwrap();
    }
    let added = rt.add_worker("replicator").unwrap();
    assert_eq!(added.worker, 2);
    for i in 0..10 {
        store.create(owner(&format!("b{i}"), 2, None)).unwrap();
    }
    assert!(rt.wait_idle(IDLE_TIMEOUT));
    check_converged(&store).unwrap();
    rt.remove_worker("replicator", 0).unwrap();
    for i in 0..10 {
        store.create(owner(&format!("c{i}"), 3, None)).unwrap();
    }
    assert!(rt.wait_idle(IDLE_TIMEOUT));
    check_converged(&store).unwrap();
    let m = rt.metrics();
    let c = m.controller("replicator").unwrap();
    assert_eq!(c.workers.len(), 3);
    assert!(!c.workers[0].active);
    assert_eq!(rep.violations.load(Ordering::SeqCst), 0);
    assert!(rt.add_worker("nope").is_err());
    // `hash` cannot reshard.
    drop(rt);
    let rt = Runtime::start(
        real_store(),
        vec![Replicator::new()],
        RuntimeConfig::new(Strategy::Hash, 2),
    )
    .unwrap();
    assert!(rt.add_worker("replicator").is_err());
    rt.stop();
}

#[test]
fn the_exclusivity_guard_detects_a_second_entry() {
    // The check the convergence tests rely on is not vacuous.
    use kubesim_core::model::ObjectKey;
    let rep = Replicator::default();
    let key = ObjectKey::new(Kind::ConfigMap, "default", "k");
    let first = InFlight::enter(&rep.in_flight, &rep.violations, &key);
    let second = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        InFlight::enter(&rep.in_flight, &rep.violations, &key);
    }));
    assert!(second.is_err());
    assert_eq!(rep.violations.load(Ordering::SeqCst), 1);
    drop(first);
    drop(InFlight::enter(&rep.in_flight, &rep.violations, &key));
    assert_eq!(rep.violations.load(Ordering::SeqCst), 1);
}
