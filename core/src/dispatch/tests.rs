//! Unit tests of the dispatchers: the work-queue rules under every strategy, routing,
//! resharding, stealing, and a multi-threaded stress run per strategy.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::time::ManualClock;

fn make(strategy: Strategy, workers: usize) -> (Arc<ManualClock>, Arc<dyn Dispatcher<u32>>) {
    let clock = Arc::new(ManualClock::default());
    let d = build(strategy, DispatchConfig::new(workers), clock.clone()).unwrap();
    (clock, d)
}

/// Takes one key for any active worker (the first that has one).
fn take_any(d: &dyn Dispatcher<u32>) -> Option<(usize, u32)> {
    d.worker_ids()
        .into_iter()
        .find_map(|w| d.try_next(w).map(|k| (w, k)))
}

/// Delivers everything ready (done immediately), returning the keys in order.
fn drain(d: &dyn Dispatcher<u32>) -> Vec<u32> {
    let mut out = Vec::new();
    while let Some((w, k)) = take_any(d) {
        assert!(d.done(w, &k));
        out.push(k);
    }
    out
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

#[test]
fn strategy_names_round_trip() {
    for s in Strategy::ALL {
        assert_eq!(s.to_string().parse::<Strategy>().unwrap(), s);
    }
    assert_eq!(
        Strategy::ALL.map(|s| s.name()),
        [
            "shared",
            "hash",
            "namespace",
            "owner",
            "consistent",
            "steal"
        ]
    );
    assert_eq!(
        "ring".parse::<Strategy>(),
        Err(DispatchError::UnknownStrategy("ring".into()))
    );
}

#[test]
fn invalid_configs_are_rejected() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::default());
    for s in Strategy::ALL {
        let zero = DispatchConfig::new(0);
        assert!(matches!(
            build::<u32>(s, zero, clock.clone()),
            Err(DispatchError::InvalidConfig(_))
        ));
        let mut few_slots = DispatchConfig::new(4);
        few_slots.max_workers = 2;
        assert!(build::<u32>(s, few_slots, clock.clone()).is_err());
    }
    assert!(Sharded::<u32>::new(Strategy::Hash, DispatchConfig::new(2), clock).is_err());
}

#[test]
fn queue_rules_hold_under_every_strategy() {
    for s in Strategy::ALL {
        let (_, d) = make(s, 3);
        // Dedup.
        for k in [1, 2, 1, 3, 2] {
            d.add(Routed::key(k));
        }
        assert!(!d.is_idle());
        let (w, k) = take_any(&*d).unwrap();
        // Re-add while processing: not handed out to anyone until done.
        d.add(Routed::key(k));
        d.add(Routed::key(k));
        let mut others = Vec::new();
        while let Some((w2, k2)) = take_any(&*d) {
            assert_ne!(k2, k, "{s}: handed out while processing");
            others.push((w2, k2));
        }
        assert_eq!(others.len(), 2, "{s}: {others:?}");
        for (w2, k2) in others {
            assert!(d.done(w2, &k2));
        }
        assert!(!d.done(w, &999), "{s}: done of an unknown key");
        assert!(d.done(w, &k));
        assert!(!d.done(w, &k), "{s}: second done");
        assert_eq!(drain(&*d), [k], "{s}: re-add delivered once after done");
        assert!(d.is_idle(), "{s}");
        let m = d.metrics();
        assert_eq!((m.adds, m.gets, m.dones), (4, 4, 4), "{s}");
        assert_eq!(m.deduped, 3, "{s}");
        let handed: u64 = d.load().iter().map(|l| l.handed_out).sum();
        assert_eq!(handed, 4, "{s}");
    }
}

#[test]
fn done_by_the_wrong_worker_is_rejected_by_lane_strategies() {
    for s in [
        Strategy::Hash,
        Strategy::Namespace,
        Strategy::Owner,
        Strategy::Consistent,
        Strategy::Steal,
    ] {
        let (_, d) = make(s, 2);
        d.add(Routed::key(5));
        let (w, k) = take_any(&*d).unwrap();
        let other = 1 - w;
        assert!(!d.done(other, &k), "{s}");
        assert!(d.done(w, &k), "{s}");
    }
}

#[test]
fn delayed_and_rate_limited_adds_use_virtual_time() {
    for s in Strategy::ALL {
        let (clock, d) = make(s, 2);
        let t0 = clock.now();
        d.add_after(Routed::key(1), Duration::from_secs(10));
        d.add_after(Routed::key(1), Duration::from_secs(4));
        d.add_after(Routed::key(1), Duration::from_secs(8));
        d.add_after(Routed::key(2), Duration::ZERO);
        assert_eq!(drain(&*d), [2], "{s}");
        assert_eq!(d.next_due(), Some(t0.plus(Duration::from_secs(4))), "{s}");
        assert!(!d.is_idle());
        clock.advance(Duration::from_millis(3_999));
        assert_eq!(drain(&*d), Vec::<u32>::new(), "{s}");
        clock.advance(Duration::from_millis(1));
        d.promote_due();
        assert_eq!(drain(&*d), [1], "{s}");
        assert_eq!(d.next_due(), None, "{s}: superseded entries are not live");
        assert!(d.is_idle(), "{s}");

        // Backoff 5, 10, 20 ms; forget resets.
        for (n, ms) in [(0, 5), (1, 10), (2, 20)] {
            assert_eq!(d.num_requeues(&7), n, "{s}");
            d.add_rate_limited(Routed::key(7));
            let due = d.next_due().unwrap();
            assert_eq!(due, clock.now().plus(Duration::from_millis(ms)), "{s}");
            clock.set(due);
            assert_eq!(drain(&*d), [7], "{s}");
        }
        d.forget(&7);
        assert_eq!(d.num_requeues(&7), 0, "{s}");
        assert_eq!(d.metrics().retries, 3, "{s}");
        assert!(d.is_idle(), "{s}");
    }
}

#[test]
fn due_key_being_processed_waits_for_done() {
    for s in Strategy::ALL {
        let (clock, d) = make(s, 2);
        d.add(Routed::key(3));
        let (w, k) = take_any(&*d).unwrap();
        d.add_after(Routed::key(3), Duration::from_millis(1));
        clock.advance(Duration::from_millis(1));
        d.promote_due();
        assert_eq!(take_any(&*d), None, "{s}");
        assert!(d.done(w, &k));
        assert_eq!(drain(&*d), [3], "{s}");
    }
}

#[test]
fn shutdown_drains_ready_ignores_adds_and_wakes_blocked_workers() {
    for s in Strategy::ALL {
        let (_, d) = make(s, 2);
        d.add(Routed::key(1));
        d.add_after(Routed::key(2), Duration::from_secs(1));
        let blocked: Vec<_> = (0..2)
            .map(|w| {
                let d = d.clone();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Some(k) = d.next(w) {
                        got.push(k);
                        d.done(w, &k);
                    }
                    got
                })
            })
            .collect();
        // Either worker may already have taken key 1; both must end.
        d.shutdown();
        d.add(Routed::key(3));
        let got: Vec<u32> = blocked
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        // Ready keys are still handed out after shutdown; the late add is ignored.
        assert_eq!(got, [1], "{s}");
        assert_eq!(drain(&*d), Vec::<u32>::new(), "{s}");
        assert_eq!(d.next_due(), None, "{s}: delayed keys dropped");
        assert!(d.is_idle(), "{s}");
    }
}

/// Counts the workers blocked in `next`.
type SleepProbe = Box<dyn Fn() -> usize>;

/// A dispatcher on the system clock, and a probe of how many workers are blocked.
fn real_time(s: Strategy) -> (Arc<dyn Dispatcher<u32>>, SleepProbe) {
    let clock: Arc<dyn Clock> = Arc::new(crate::time::SystemClock);
    let c = DispatchConfig::new(2);
    match s {
        Strategy::Shared => {
            let d = Arc::new(Shared::new(c, clock).unwrap());
            (d.clone(), Box::new(move || d.sleeping()))
        }
        Strategy::Hash => {
            let d = Arc::new(HashMod::new(c, clock).unwrap());
            (d.clone(), Box::new(move || d.sleeping()))
        }
        Strategy::Steal => {
            let d = Arc::new(Steal::new(c, clock).unwrap());
            (d.clone(), Box::new(move || d.sleeping()))
        }
        _ => {
            let d = Arc::new(Sharded::new(s, c, clock).unwrap());
            (d.clone(), Box::new(move || d.sleeping()))
        }
    }
}

#[test]
fn blocked_workers_wake_for_a_real_due_time() {
    for s in Strategy::ALL {
        let (d, sleeping) = real_time(s);
        let (tx, rx) = std::sync::mpsc::channel();
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let (d, tx) = (d.clone(), tx.clone());
                thread::spawn(move || {
                    while let Some(k) = d.next(w) {
                        tx.send(k).unwrap();
                        d.done(w, &k);
                    }
                })
            })
            .collect();
        // Both workers are asleep with no timer (indefinitely): the new earliest timer
        // must wake them to wait for its due time. (The deadlines only turn a hang
        // into a failure.)
        let deadline = Instant::now() + Duration::from_secs(10);
        while sleeping() < 2 {
            assert!(Instant::now() < deadline, "{s}: workers never blocked");
            thread::yield_now();
        }
        let start = Instant::now();
        d.add_after(Routed::key(9), Duration::from_millis(15));
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(9), "{s}");
        assert!(start.elapsed() >= Duration::from_millis(14), "{s}: early");
        d.shutdown();
        for h in workers {
            h.join().unwrap();
        }
    }
}

#[test]
fn hash_routes_by_key() {
    let clock = Arc::new(ManualClock::default());
    let d = HashMod::<u32>::new(DispatchConfig::new(4), clock).unwrap();
    for k in 0..100 {
        d.add(Routed::new(k, Affinity::new("ns", Some("x"))));
    }
    let mut per_worker = [0; 4];
    for (w, count) in per_worker.iter_mut().enumerate() {
        while let Some(k) = d.try_next(w) {
            assert_eq!(d.worker_of(&k), w);
            *count += 1;
            d.done(w, &k);
        }
    }
    assert_eq!(per_worker.iter().sum::<usize>(), 100);
    assert!(per_worker.iter().all(|&n| n > 10), "{per_worker:?}");
    assert!(d.add_worker().is_err() && d.remove_worker(0).is_err());
}

/// Which worker each key was delivered to.
fn delivery_map(d: &dyn Dispatcher<u32>) -> BTreeMap<u32, usize> {
    let mut m = BTreeMap::new();
    for w in d.worker_ids() {
        while let Some(k) = d.try_next(w) {
            assert!(m.insert(k, w).is_none());
            d.done(w, &k);
        }
    }
    m
}

#[test]
fn namespace_and_owner_keep_groups_on_one_worker() {
    let ns = ["a", "b", "c", "d", "e", "f"];
    let (_, d) = make(Strategy::Namespace, 3);
    for k in 0..60u32 {
        d.add(Routed::new(k, Affinity::new(ns[k as usize % 6], None)));
    }
    let m = delivery_map(&*d);
    assert_eq!(m.len(), 60);
    for k in 0..60u32 {
        assert_eq!(m[&k], m[&(k % 6)], "namespace of {k}");
    }

    let (_, d) = make(Strategy::Owner, 3);
    for k in 0..60u32 {
        // Owners 0..5; keys >= 50 have no owner and route on themselves.
        let owner = (k < 50).then(|| format!("deploy-{}", k % 5));
        d.add(Routed::new(k, Affinity::new("ns", owner.as_deref())));
    }
    let m = delivery_map(&*d);
    assert_eq!(m.len(), 60);
    for k in 0..50u32 {
        assert_eq!(m[&k], m[&(k % 5)], "owner tree of {k}");
    }
    let distinct: BTreeSet<usize> = (0..60).map(|k| m[&k]).collect();
    assert!(distinct.len() > 1);

    for s in [Strategy::Namespace, Strategy::Owner] {
        let (_, d) = make(s, 3);
        assert_eq!(
            d.add_worker(),
            Err(DispatchError::Unsupported {
                strategy: s,
                operation: "add"
            })
        );
        assert!(d.remove_worker(1).is_err());
    }
}

#[test]
fn owner_change_while_processing_keeps_exclusivity() {
    let clock = Arc::new(ManualClock::default());
    let d = Sharded::<u32>::new(Strategy::Owner, DispatchConfig::new(4), clock).unwrap();
    // Two owners that route to different workers.
    let first = Affinity::new("ns", Some("rs-0"));
    let w0 = d.owner_of(&1, first);
    let second = (1..100)
        .map(|i| Affinity::new("ns", Some(&format!("rs-{i}"))))
        .find(|a| d.owner_of(&1, *a) != w0)
        .unwrap();
    let w1 = d.owner_of(&1, second);
    d.add(Routed::new(1, first));
    assert_eq!(d.try_next(w0), Some(1));
    // Adopted by another owner while being processed.
    d.add(Routed::new(1, second));
    for w in 0..4 {
        assert_eq!(d.try_next(w), None, "worker {w} got a key held by {w0}");
    }
    assert!(d.done(w0, &1));
    assert_eq!(d.try_next(w0), None);
    assert_eq!(
        d.try_next(w1),
        Some(1),
        "queued to the new owner after done"
    );
    assert!(d.done(w1, &1));
    assert!(d.is_idle());
}

fn consistent(workers: usize) -> (Arc<ManualClock>, Sharded<u32>) {
    let clock = Arc::new(ManualClock::default());
    let mut config = DispatchConfig::new(workers);
    config.ring_key = RingKey::Key;
    let d = Sharded::new(Strategy::Consistent, config, clock.clone()).unwrap();
    (clock, d)
}

/// The owner of each key `0..keys` now.
fn owners(d: &Sharded<u32>, keys: u32) -> Vec<usize> {
    (0..keys).map(|k| d.owner_of(&k, Affinity::NONE)).collect()
}

#[test]
fn consistent_add_worker_moves_about_a_fifth() {
    let (_, d) = consistent(4);
    let keys = 10_000u32;
    let before = owners(&d, keys);
    for k in 0..keys {
        d.add(Routed::key(k));
    }
    let r = d.add_worker().unwrap();
    assert_eq!(
        (r.worker, r.change, r.workers),
        (4, ReshardChange::Added, 5)
    );
    assert_eq!(r.examined, keys as usize);
    let after = owners(&d, keys);
    let changed = (0..keys as usize)
        .filter(|&i| before[i] != after[i])
        .count();
    // Only keys that now belong to the new worker moved, and about 1/5 of them.
    for i in 0..keys as usize {
        assert!(
            before[i] == after[i] || after[i] == 4,
            "key {i} moved between old workers"
        );
    }
    assert_eq!(r.moved_queued, changed);
    assert!(
        (1_000..=3_000).contains(&changed),
        "moved {changed} of {keys}"
    );
    // Every key is delivered exactly once, by its new owner.
    let m = delivery_map(&d);
    assert_eq!(m.len(), keys as usize);
    for (k, w) in m {
        assert_eq!(w, after[k as usize]);
    }
}

#[test]
fn consistent_remove_worker_moves_only_its_keys() {
    let (_, d) = consistent(5);
    let keys = 10_000u32;
    let before = owners(&d, keys);
    for k in 0..keys {
        d.add(Routed::key(k));
    }
    let owned_by_2 = before.iter().filter(|&&w| w == 2).count();
    let r = d.remove_worker(2).unwrap();
    assert_eq!(
        (r.worker, r.change, r.workers),
        (2, ReshardChange::Removed, 4)
    );
    assert_eq!(r.moved_queued, owned_by_2);
    assert_eq!(d.worker_ids(), [0, 1, 3, 4]);
    assert_eq!(d.try_next(2), None, "a removed worker gets nothing");
    for k in 0..keys {
        let now = d.owner_of(&k, Affinity::NONE);
        if before[k as usize] != 2 {
            assert_eq!(now, before[k as usize]);
        } else {
            assert_ne!(now, 2);
        }
    }
    assert_eq!(delivery_map(&d).len(), keys as usize);
    assert!(d.is_idle());
    // Errors.
    assert_eq!(d.remove_worker(2), Err(DispatchError::UnknownWorker(2)));
    for w in [0, 1, 3] {
        d.remove_worker(w).unwrap();
    }
    assert_eq!(d.remove_worker(4), Err(DispatchError::LastWorker));
}

#[test]
fn consistent_reshard_keeps_processing_keys_with_their_worker() {
    let (clock, d) = consistent(2);
    // Find keys owned by worker 0 that move to the new worker 2.
    let probe = HashRing::with_members([0, 1, 2], DispatchConfig::DEFAULT_VNODES);
    let movers: Vec<u32> = (0..1000u32)
        .filter(|k| {
            d.owner_of(k, Affinity::NONE) == 0 && probe.owner(mix64(stable_hash(k))) == Some(2)
        })
        .take(3)
        .collect();
    let [busy, queued, delayed] = movers[..] else {
        panic!("not enough moving keys: {movers:?}")
    };
    d.add(Routed::key(busy));
    assert_eq!(d.try_next(0), Some(busy));
    d.add(Routed::key(busy)); // dirty while processing
    d.add(Routed::key(queued));
    d.add_after(Routed::key(delayed), Duration::from_secs(1));
    let r = d.add_worker().unwrap();
    assert_eq!(r.worker, 2);
    assert_eq!((r.moved_queued, r.moved_delayed, r.deferred), (1, 1, 1));
    // The busy key is not handed to its new owner before the old one is done.
    assert_eq!(d.try_next(2), Some(queued));
    assert_eq!(d.try_next(2), None);
    assert_eq!(d.try_next(0), None);
    assert!(d.done(0, &busy));
    assert_eq!(d.try_next(0), None);
    assert_eq!(d.try_next(2), Some(busy));
    clock.advance(Duration::from_secs(1));
    d.promote_due();
    assert_eq!(d.try_next(2), Some(delayed));
    for k in [queued, busy, delayed] {
        assert!(d.done(2, &k));
    }
    assert!(d.is_idle());
}

#[test]
fn removed_worker_can_finish_its_key() {
    for s in [Strategy::Shared, Strategy::Consistent, Strategy::Steal] {
        let (_, d) = make(s, 3);
        for k in 0..30 {
            d.add(Routed::key(k));
        }
        let (w, k) = take_any(&*d).unwrap();
        d.add(Routed::key(k));
        let r = d.remove_worker(w).unwrap();
        assert_eq!(r.workers, 2, "{s}");
        assert_eq!(d.try_next(w), None, "{s}");
        assert!(d.done(w, &k), "{s}: a removed worker's done");
        let rest = sorted(drain(&*d));
        assert_eq!(rest, sorted((0..30).collect()), "{s}: nothing lost");
        assert!(d.is_idle(), "{s}");
        let added = d.add_worker().unwrap();
        assert_eq!(added.worker, 3, "{s}: ids are not reused");
        assert_eq!(d.workers(), 3);
    }
}

#[test]
fn worker_slots_run_out() {
    let clock = Arc::new(ManualClock::default());
    let mut config = DispatchConfig::new(1);
    config.max_workers = 2;
    for s in [Strategy::Shared, Strategy::Consistent, Strategy::Steal] {
        let d = build::<u32>(s, config.clone(), clock.clone()).unwrap();
        d.add_worker().unwrap();
        assert_eq!(d.add_worker(), Err(DispatchError::TooManyWorkers(2)), "{s}");
    }
}

#[test]
fn idle_workers_steal() {
    let clock = Arc::new(ManualClock::default());
    let d = Steal::<u32>::new(DispatchConfig::new(3), clock).unwrap();
    let keys: Vec<u32> = (0..100).filter(|k| d.home_of(k) == 0).take(5).collect();
    for &k in &keys {
        d.add(Routed::key(k));
    }
    // Worker 2 has nothing of its own: it steals worker 0's keys, in FIFO order.
    let mut got = Vec::new();
    while let Some(k) = d.try_next(2) {
        got.push(k);
        d.done(2, &k);
    }
    assert_eq!(got, keys);
    let load = d.load();
    assert_eq!((load[2].handed_out, load[2].stolen), (5, 5));
    assert_eq!(load[0].handed_out, 0);
}

#[test]
fn steal_remove_worker_rehomes_its_deque() {
    let clock = Arc::new(ManualClock::default());
    let d = Steal::<u32>::new(DispatchConfig::new(3), clock).unwrap();
    for k in 0..60 {
        d.add(Routed::key(k));
    }
    let homed_on_1 = (0..60).filter(|k| d.home_of(k) == 1).count();
    let r = d.remove_worker(1).unwrap();
    assert_eq!(r.moved_queued, homed_on_1);
    for k in 0..60 {
        assert_ne!(d.home_of(&k), 1);
    }
    // Worker 0 drains only its own deque first, then steals.
    let mut got = Vec::new();
    while let Some(k) = d.try_next(0) {
        got.push(k);
        d.done(0, &k);
    }
    assert_eq!(sorted(got), sorted((0..60).collect()));
    assert!(d.is_idle());
}

#[test]
fn load_and_metrics_reset() {
    for s in Strategy::ALL {
        let (_, d) = make(s, 2);
        d.add(Routed::key(1));
        drain(&*d);
        assert_eq!(d.metrics().queue_latency.len(), 1, "{s}");
        assert_eq!(d.metrics().work_duration.len(), 1, "{s}");
        d.reset_metrics();
        assert_eq!(d.metrics().gets, 0, "{s}");
        assert!(d.load().iter().all(|l| l.handed_out == 0), "{s}");
    }
}

// ---------------------------------------------------------------------------------
// Stress: real threads, blocking `next`, adds from other threads, reshards.

const KEYS: usize = 256;

struct Run {
    d: Arc<dyn Dispatcher<u32>>,
    clock: Arc<ManualClock>,
    /// Keys being processed right now (exclusivity check).
    busy: Mutex<HashSet<u32>>,
    violations: AtomicUsize,
    /// Global stamp: adds take one before calling the dispatcher, deliveries after.
    stamp: AtomicU64,
    last_add: Vec<AtomicU64>,
    last_delivery: Vec<AtomicU64>,
    deliveries: AtomicU64,
    /// Re-adds workers may still do (bounds the run).
    readd_budget: AtomicUsize,
}

impl Run {
    fn stamp_add(&self, k: u32) {
        let s = self.stamp.fetch_add(1, Ordering::SeqCst) + 1;
        self.last_add[k as usize].fetch_max(s, Ordering::SeqCst);
    }

    fn worker(self: &Arc<Self>, w: usize, seed: u64) {
        let mut rng = SmallRng::seed_from_u64(seed);
        while let Some(k) = self.d.next(w) {
            let s = self.stamp.fetch_add(1, Ordering::SeqCst) + 1;
            self.last_delivery[k as usize].fetch_max(s, Ordering::SeqCst);
            self.deliveries.fetch_add(1, Ordering::Relaxed);
            if !self.busy.lock().insert(k) {
                self.violations.fetch_add(1, Ordering::SeqCst);
            }
            if rng.random_ratio(1, 4)
                && self
                    .readd_budget
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1))
                    .is_ok()
            {
                self.stamp_add(k);
                let item = Routed::new(k, affinity(k, rng.random_range(0..3)));
                match rng.random_range(0..3) {
                    0 => self.d.add(item),
                    1 => self.d.add_rate_limited(item),
                    _ => self
                        .d
                        .add_after(item, Duration::from_millis(rng.random_range(1..20))),
                }
            } else if rng.random_ratio(1, 2) {
                self.d.forget(&k);
            }
            for _ in 0..rng.random_range(0..50) {
                std::hint::spin_loop();
            }
            self.busy.lock().remove(&k);
            assert!(self.d.done(w, &k), "worker {w} did not hold {k}");
        }
    }
}

fn affinity(k: u32, variant: u32) -> Affinity {
    let ns = ["default", "team-a", "team-b"][(k % 3) as usize];
    let owner = match variant {
        0 => None,
        1 => Some(format!("deploy-{}", k % 17)),
        _ => Some(format!("deploy-{}", k % 5)),
    };
    Affinity::new(ns, owner.as_deref())
}

fn stress(strategy: Strategy) {
    let started = Instant::now();
    let clock = Arc::new(ManualClock::default());
    let d = build::<u32>(strategy, DispatchConfig::new(3), clock.clone()).unwrap();
    let run = Arc::new(Run {
        d: d.clone(),
        clock: clock.clone(),
        busy: Mutex::new(HashSet::new()),
        violations: AtomicUsize::new(0),
        stamp: AtomicU64::new(0),
        last_add: (0..KEYS).map(|_| AtomicU64::new(0)).collect(),
        last_delivery: (0..KEYS).map(|_| AtomicU64::new(0)).collect(),
        deliveries: AtomicU64::new(0),
        readd_budget: AtomicUsize::new(1_000),
    });
    let workers = Arc::new(Mutex::new(Vec::new()));
    for w in d.worker_ids() {
        let r = run.clone();
        workers
            .lock()
            .push(thread::spawn(move || r.worker(w, 100 + w as u64)));
    }
    let producing = Arc::new(AtomicUsize::new(3));
    let producers: Vec<_> = (0..3u64)
        .map(|p| {
            let r = run.clone();
            let producing = producing.clone();
            thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(p);
                for i in 0..15_000 {
                    let k = rng.random_range(0..KEYS as u32);
                    r.stamp_add(k);
                    let item = Routed::new(k, affinity(k, rng.random_range(0..3)));
                    if rng.random_ratio(1, 5) {
                        r.d.add_after(item, Duration::from_millis(rng.random_range(1..50)));
                    } else {
                        r.d.add(item);
                    }
                    if i % 100 == 0 {
                        r.clock.advance(Duration::from_millis(10));
                    }
                }
                producing.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    let resharding = strategy.supports_resharding();
    let resharder = resharding.then(|| {
        let r = run.clone();
        let workers = workers.clone();
        let producing = producing.clone();
        thread::spawn(move || {
            let mut rng = SmallRng::seed_from_u64(7);
            // Reshard while the producers run: pairs of add + remove (at least 6,
            // at most 30 pairs: ids are not reused and there are 64 slots), so 3
            // workers remain.
            let mut round = 0;
            while round < 12 || (producing.load(Ordering::SeqCst) > 0 && round < 60) {
                round += 2;
                let report = r.d.add_worker().unwrap();
                let rr = r.clone();
                let w = report.worker;
                workers
                    .lock()
                    .push(thread::spawn(move || rr.worker(w, 100 + w as u64)));
                thread::yield_now();
                let ids = r.d.worker_ids();
                let victim = ids[rng.random_range(0..ids.len())];
                r.d.remove_worker(victim).unwrap();
                for _ in 0..20 {
                    thread::yield_now();
                }
            }
            round
        })
    });
    for p in producers {
        p.join().unwrap();
    }
    let reshards = resharder.map_or(0, |h| h.join().unwrap());
    // Let every delayed key come due and wait until everything was processed.
    // (The deadline only turns a hang — a lost key — into a failure.)
    while !d.is_idle() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{strategy}: never became idle"
        );
        clock.advance(Duration::from_secs(10));
        d.promote_due();
        thread::yield_now();
    }
    d.shutdown();
    let handles: Vec<_> = std::mem::take(&mut *workers.lock());
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(
        run.violations.load(Ordering::SeqCst),
        0,
        "{strategy}: exclusivity"
    );
    for k in 0..KEYS {
        let added = run.last_add[k].load(Ordering::SeqCst);
        let delivered = run.last_delivery[k].load(Ordering::SeqCst);
        assert!(
            delivered > added,
            "{strategy}: key {k} added at {added}, last delivered at {delivered}"
        );
    }
    let handed: u64 = d.load().iter().map(|l| l.handed_out).sum();
    assert_eq!(handed, run.deliveries.load(Ordering::SeqCst), "{strategy}");
    assert!(d.load().iter().all(|l| l.processing == 0), "{strategy}");
    if resharding {
        assert_eq!(d.workers(), 3, "{strategy}: {reshards} reshards");
    }
}

#[test]
fn stress_shared() {
    stress(Strategy::Shared);
}

#[test]
fn stress_hash() {
    stress(Strategy::Hash);
}

#[test]
fn stress_namespace() {
    stress(Strategy::Namespace);
}

#[test]
fn stress_owner() {
    stress(Strategy::Owner);
}

#[test]
fn stress_consistent() {
    stress(Strategy::Consistent);
}

#[test]
fn stress_steal() {
    stress(Strategy::Steal);
}

#[test]
fn shutdown_flag_is_visible_to_late_workers() {
    // A worker that calls `next` after shutdown returns at once.
    for s in Strategy::ALL {
        let (_, d) = make(s, 2);
        d.shutdown();
        let h = {
            let d = d.clone();
            thread::spawn(move || d.next(1))
        };
        assert_eq!(h.join().unwrap(), None, "{s}");
    }
}

/// `uses_affinity` is true exactly for the strategies whose routing reads the
/// affinity (a driver skips computing it for the others).
#[test]
fn uses_affinity_names_the_strategies_that_route_on_it() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::default());
    for s in [Strategy::Namespace, Strategy::Owner, Strategy::Consistent] {
        assert!(s.uses_affinity(), "{s}");
        let d = Sharded::<u64>::new(s, DispatchConfig::new(4), clock.clone()).unwrap();
        let base = d.owner_of(&1, Affinity::NONE);
        let moved = (0..64).any(|a| {
            let aff = Affinity::new(&format!("ns-{a}"), Some(&format!("root-{a}")));
            d.owner_of(&1, aff) != base
        });
        assert!(moved, "{s} routes on affinities");
    }
    for s in [Strategy::Shared, Strategy::Hash, Strategy::Steal] {
        assert!(!s.uses_affinity(), "{s}");
    }
}
