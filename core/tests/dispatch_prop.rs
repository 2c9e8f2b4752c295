//! Property test of every sharding strategy: random adds (with changing affinities),
//! delayed and rate-limited adds, forgets, hand-outs and `done`s by simulated workers
//! (sequentially), clock advances, and — for the strategies that support it — added
//! and removed workers. A reference model of the per-key state (dirty, processing by
//! whom, waiting due time, failures) checks after every step:
//!
//! - a key handed out is ready in the model (dirty, not held, due), and goes to an
//!   active worker: never to a second worker while one holds it, never before its due
//!   time, a re-add during processing only after `done`;
//! - `done` succeeds exactly for the worker holding the key;
//! - `next_due`, `is_idle` and `num_requeues` equal the model's;
//! - `shared` and `steal` hand an active worker a key whenever one is ready (any worker
//!   may take any key);
//! - resharding errors (unsupported, unknown worker, last worker, no free slot);
//!
//! and after draining everything (finishing held keys, letting every worker take what
//! is ready, jumping the clock to each due time): nothing is left, every add was
//! delivered after it (not before the due time it set), and the load figures count
//! every hand-out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use proptest::test_runner::RngSeed;

use kubesim_core::dispatch::{
    build, Affinity, DispatchConfig, DispatchError, Dispatcher, Routed, Strategy,
};
use kubesim_core::time::{Clock, ManualClock, Timestamp};
use kubesim_core::workqueue::QueueConfig;

const KEYS: u32 = 8;
const DELAYS: [u64; 5] = [0, 1, 4, 10, 30];
const NAMESPACES: [&str; 3] = ["default", "team-a", "team-b"];
const OWNERS: [Option<&str>; 4] = [None, Some("deploy-1"), Some("deploy-2"), Some("rs-x")];
const START_WORKERS: usize = 3;
const MAX_WORKERS: usize = 8;

fn config() -> DispatchConfig {
    let mut c = DispatchConfig::new(START_WORKERS);
    c.max_workers = MAX_WORKERS;
    c.vnodes = 16;
    c.queue = QueueConfig {
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(16),
        metrics: true,
    };
    c
}

#[derive(Clone, Copy, Debug)]
struct Aff(usize, usize);

impl Aff {
    fn get(self) -> Affinity {
        Affinity::new(NAMESPACES[self.0], OWNERS[self.1])
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add(u32, Aff),
    /// `add_batch` of several keys (duplicates allowed).
    AddBatch(Vec<(u32, Aff)>),
    AddAfter(u32, Aff, usize),
    AddRateLimited(u32, Aff),
    Forget(u32),
    /// `try_next` for the worker picked by the index (over every id ever used).
    Next(usize),
    /// The picked worker finishes one of its keys.
    Done(usize, usize),
    /// As `Done`, with `forget_done` (forget, then done).
    ForgetDone(usize, usize),
    /// `done` for a key the picked worker does not hold: must be refused.
    DoneWrong(usize, u32),
    Advance(usize),
    Promote,
    AddWorker,
    RemoveWorker(usize),
}

fn aff() -> impl proptest::strategy::Strategy<Value = Aff> {
    (0..NAMESPACES.len(), 0..OWNERS.len()).prop_map(|(n, o)| Aff(n, o))
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    prop_oneof![
        5 => (0..KEYS, aff()).prop_map(|(k, a)| Op::Add(k, a)),
        2 => prop::collection::vec((0..KEYS, aff()), 0..6).prop_map(Op::AddBatch),
        3 => (0..KEYS, aff(), 0..DELAYS.len()).prop_map(|(k, a, d)| Op::AddAfter(k, a, d)),
        2 => (0..KEYS, aff()).prop_map(|(k, a)| Op::AddRateLimited(k, a)),
        1 => (0..KEYS).prop_map(Op::Forget),
        6 => (0..16usize).prop_map(Op::Next),
        5 => (0..16usize, 0..2usize).prop_map(|(w, i)| Op::Done(w, i)),
        2 => (0..16usize, 0..2usize).prop_map(|(w, i)| Op::ForgetDone(w, i)),
        1 => (0..16usize, 0..KEYS).prop_map(|(w, k)| Op::DoneWrong(w, k)),
        2 => (0..DELAYS.len()).prop_map(Op::Advance),
        1 => Just(Op::Promote),
        1 => Just(Op::AddWorker),
        1 => (0..16usize).prop_map(Op::RemoveWorker),
    ]
}

/// The per-key work-queue state, independent of routing.
#[derive(Default)]
struct Model {
    dirty: BTreeSet<u32>,
    /// key → worker holding it.
    processing: BTreeMap<u32, usize>,
    /// key → (due, sequence number).
    waiting: BTreeMap<u32, (Timestamp, u64)>,
    failures: BTreeMap<u32, u32>,
    seq: u64,
}

impl Model {
    fn add(&mut self, k: u32) {
        self.dirty.insert(k);
    }

    fn add_after(&mut self, k: u32, delay: Duration, now: Timestamp) {
        if delay.is_zero() {
            return self.add(k);
        }
        let due = Timestamp(now.0 + delay.as_nanos().div_ceil(1_000_000) as i64);
        if self.waiting.get(&k).is_some_and(|&(d, _)| d <= due) {
            return;
        }
        self.waiting.insert(k, (due, self.seq));
        self.seq += 1;
    }

    fn promote(&mut self, now: Timestamp) {
        let due: Vec<u32> = self
            .waiting
            .iter()
            .filter(|(_, &(d, _))| d <= now)
            .map(|(&k, _)| k)
            .collect();
        for k in due {
            self.waiting.remove(&k);
            self.add(k);
        }
    }

    fn is_ready(&self, k: u32) -> bool {
        self.dirty.contains(&k) && !self.processing.contains_key(&k)
    }

    fn any_ready(&self) -> bool {
        self.dirty.iter().any(|k| !self.processing.contains_key(k))
    }

    fn backoff(&mut self, k: u32) -> Duration {
        let f = self.failures.entry(k).or_default();
        let d = Duration::from_millis(2u64 << (*f).min(20)).min(Duration::from_millis(16));
        *f += 1;
        d
    }

    fn idle(&self) -> bool {
        self.dirty.is_empty() && self.processing.is_empty() && self.waiting.is_empty()
    }
}

struct Owed {
    after: usize,
    not_before: Timestamp,
}

struct Run {
    strategy: Strategy,
    clock: Arc<ManualClock>,
    d: Arc<dyn Dispatcher<u32>>,
    model: Model,
    /// Every worker id ever used, and whether it is active.
    ids: Vec<(usize, bool)>,
    held: BTreeMap<usize, Vec<u32>>,
    owed: BTreeMap<u32, Vec<Owed>>,
    /// Keys re-added while held: `None` until the holder's done, then its step.
    readded: BTreeMap<u32, Option<usize>>,
    handed_out: u64,
    step: usize,
}

impl Run {
    fn new(strategy: Strategy) -> Self {
        let clock = Arc::new(ManualClock::default());
        let d = build(strategy, config(), clock.clone()).unwrap();
        Run {
            strategy,
            clock,
            d,
            model: Model::default(),
            ids: (0..START_WORKERS).map(|w| (w, true)).collect(),
            held: BTreeMap::new(),
            owed: BTreeMap::new(),
            readded: BTreeMap::new(),
            handed_out: 0,
            step: 0,
        }
    }

    fn pick(&self, i: usize) -> usize {
        self.ids[i % self.ids.len()].0
    }

    fn active(&self, w: usize) -> bool {
        self.ids.iter().any(|&(id, a)| id == w && a)
    }

    fn active_ids(&self) -> Vec<usize> {
        self.ids
            .iter()
            .filter(|(_, a)| *a)
            .map(|&(id, _)| id)
            .collect()
    }

    fn owe(&mut self, k: u32, not_before: Timestamp) {
        self.owed.entry(k).or_default().push(Owed {
            after: self.step,
            not_before,
        });
        if self.model.processing.contains_key(&k) {
            self.readded.entry(k).or_insert(None);
        }
    }

    /// Delayed adds merged into an earlier waiting entry are met at its due time.
    fn lower_to_waiting(&mut self, k: u32) {
        if let (Some(&(due, _)), Some(list)) = (self.model.waiting.get(&k), self.owed.get_mut(&k)) {
            for o in list {
                o.not_before = o.not_before.min(due);
            }
        }
    }

    fn take(&mut self, w: usize) -> Result<bool, TestCaseError> {
        let now = self.clock.now();
        let s = self.strategy;
        // `try_next` promotes every due key first — except `hash`, whose worker only
        // promotes its own queue: there the test promotes all queues beforehand.
        if s == Strategy::Hash {
            self.d.promote_due();
        }
        let got = self.d.try_next(w);
        if self.active(w) {
            self.model.promote(now);
        }
        let Some(k) = got else {
            if !self.active(w) || matches!(s, Strategy::Shared | Strategy::Steal) {
                prop_assert!(
                    !self.active(w) || !self.model.any_ready(),
                    "{s} step {}: worker {w} got nothing with {:?} ready",
                    self.step,
                    self.model.dirty
                );
            }
            return Ok(false);
        };
        prop_assert!(
            self.active(w),
            "{s} step {}: removed worker {w} got {k}",
            self.step
        );
        prop_assert!(
            !self.model.processing.contains_key(&k),
            "{s} step {}: {k} handed to {w} while held by {}",
            self.step,
            self.model.processing[&k]
        );
        prop_assert!(
            self.model.is_ready(k),
            "{s} step {}: {k} handed out but not ready",
            self.step
        );
        if let Some(done_at) = self.readded.remove(&k) {
            prop_assert!(
                done_at.is_some(),
                "{s}: re-add of {k} delivered before done"
            );
        }
        let step = self.step;
        if let Some(list) = self.owed.get_mut(&k) {
            list.retain(|o| !(o.after < step && now >= o.not_before));
        }
        self.model.dirty.remove(&k);
        self.model.processing.insert(k, w);
        self.held.entry(w).or_default().push(k);
        self.handed_out += 1;
        Ok(true)
    }

    fn finish(&mut self, w: usize, k: u32, forget: bool) -> Result<(), TestCaseError> {
        let accepted = if forget {
            self.model.failures.remove(&k);
            self.d.forget_done(w, &k)
        } else {
            self.d.done(w, &k)
        };
        prop_assert!(
            accepted,
            "{} step {}: done({w}, {k})",
            self.strategy,
            self.step
        );
        self.model.processing.remove(&k);
        if let Some(at) = self.readded.get_mut(&k) {
            at.get_or_insert(self.step);
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        self.step += 1;
        let now = self.clock.now();
        let s = self.strategy;
        match *op {
            Op::Add(k, a) => {
                self.d.add(Routed::new(k, a.get()));
                self.model.add(k);
                self.owe(k, now);
            }
            Op::AddBatch(ref items) => {
                let mut batch: Vec<Routed<u32>> = items
                    .iter()
                    .map(|&(k, a)| Routed::new(k, a.get()))
                    .collect();
                self.d.add_batch(&mut batch);
                prop_assert!(batch.is_empty(), "{} add_batch drains", s);
                for &(k, _) in items {
                    self.model.add(k);
                    self.owe(k, now);
                }
            }
            Op::AddAfter(k, a, d) => {
                let delay = Duration::from_millis(DELAYS[d]);
                self.d.add_after(Routed::new(k, a.get()), delay);
                self.model.add_after(k, delay, now);
                let not_before = if delay.is_zero() {
                    now
                } else {
                    self.model.waiting.get(&k).map_or(now, |&(d, _)| d)
                };
                self.owe(k, not_before);
                self.lower_to_waiting(k);
            }
            Op::AddRateLimited(k, a) => {
                let want = self.model.failures.get(&k).copied().unwrap_or(0);
                prop_assert_eq!(self.d.num_requeues(&k), want, "{} num_requeues", s);
                let delay = self.model.backoff(k);
                self.d.add_rate_limited(Routed::new(k, a.get()));
                self.model.add_after(k, delay, now);
                let due = self.model.waiting[&k].0;
                self.owe(k, due);
                self.lower_to_waiting(k);
            }
            Op::Forget(k) => {
                self.d.forget(&k);
                self.model.failures.remove(&k);
            }
            Op::Next(i) => {
                let w = self.pick(i);
                if self.held.get(&w).map_or(0, Vec::len) < 2 {
                    self.take(w)?;
                }
            }
            Op::Done(i, j) => {
                let w = self.pick(i);
                if let Some(list) = self.held.get_mut(&w) {
                    if !list.is_empty() {
                        let k = list.remove(j % list.len());
                        self.finish(w, k, false)?;
                    }
                }
            }
            Op::ForgetDone(i, j) => {
                let w = self.pick(i);
                if let Some(list) = self.held.get_mut(&w) {
                    if !list.is_empty() {
                        let k = list.remove(j % list.len());
                        self.finish(w, k, true)?;
                    }
                }
            }
            Op::DoneWrong(i, k) => {
                let w = self.pick(i);
                let holder = self.model.processing.get(&k).copied();
                // `shared` accepts done from any worker; only test keys nobody holds.
                let refuse = match holder {
                    None => true,
                    Some(h) => h != w && s != Strategy::Shared,
                };
                if refuse {
                    prop_assert!(
                        !self.d.done(w, &k),
                        "{s} step {}: done({w}, {k}) accepted",
                        self.step
                    );
                }
            }
            Op::Advance(d) => self.clock.advance(Duration::from_millis(DELAYS[d])),
            Op::Promote => {
                self.d.promote_due();
                self.model.promote(now);
            }
            Op::AddWorker => {
                let r = self.d.add_worker();
                if !s.supports_resharding() {
                    prop_assert!(
                        matches!(r, Err(DispatchError::Unsupported { .. })),
                        "{}: {:?}",
                        s,
                        r
                    );
                } else if self.ids.len() == MAX_WORKERS {
                    prop_assert_eq!(r, Err(DispatchError::TooManyWorkers(MAX_WORKERS)));
                } else {
                    let r = r.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(r.worker, self.ids.len(), "ids are handed out in order");
                    self.ids.push((r.worker, true));
                    prop_assert_eq!(r.workers, self.active_ids().len());
                }
            }
            Op::RemoveWorker(i) => {
                let w = self.pick(i);
                let r = self.d.remove_worker(w);
                if !s.supports_resharding() {
                    prop_assert!(
                        matches!(r, Err(DispatchError::Unsupported { .. })),
                        "{}: {:?}",
                        s,
                        r
                    );
                } else if !self.active(w) {
                    prop_assert_eq!(r, Err(DispatchError::UnknownWorker(w)));
                } else if self.active_ids().len() == 1 {
                    prop_assert_eq!(r, Err(DispatchError::LastWorker));
                } else {
                    r.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    for e in self.ids.iter_mut().filter(|e| e.0 == w) {
                        e.1 = false;
                    }
                }
            }
        }
        self.check()
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        let s = self.strategy;
        prop_assert_eq!(
            self.d.next_due(),
            self.model.waiting.values().map(|&(d, _)| d).min(),
            "{} step {}: next_due",
            s,
            self.step
        );
        prop_assert_eq!(
            self.d.is_idle(),
            self.model.idle(),
            "{} step {}: is_idle",
            s,
            self.step
        );
        prop_assert_eq!(self.d.worker_ids(), self.active_ids());
        prop_assert_eq!(self.d.workers(), self.active_ids().len());
        Ok(())
    }

    fn drain(&mut self) -> Result<(), TestCaseError> {
        let s = self.strategy;
        let held: Vec<(usize, u32)> = self
            .held
            .iter()
            .flat_map(|(&w, ks)| ks.iter().map(move |&k| (w, k)))
            .collect();
        self.held.clear();
        for (w, k) in held {
            self.step += 1;
            self.finish(w, k, false)?;
        }
        loop {
            // Every active worker takes (and finishes) what is ready for it.
            let mut progress = true;
            while progress {
                progress = false;
                for w in self.active_ids() {
                    self.step += 1;
                    while self.take(w)? {
                        let k = self.held.get_mut(&w).and_then(Vec::pop).unwrap();
                        self.step += 1;
                        self.finish(w, k, false)?;
                        progress = true;
                    }
                }
            }
            prop_assert!(
                !self.model.any_ready(),
                "{s}: ready keys {:?} reached no worker",
                self.model.dirty
            );
            match self.d.next_due() {
                Some(due) => self.clock.set(due),
                None => break,
            }
        }
        prop_assert!(self.d.is_idle(), "{s}: not idle after draining");
        prop_assert!(self.model.idle());
        for (k, list) in &self.owed {
            prop_assert!(
                list.is_empty(),
                "{s}: key {k}: {} adds never delivered",
                list.len()
            );
        }
        let load = self.d.load();
        prop_assert_eq!(
            load.iter().map(|l| l.handed_out).sum::<u64>(),
            self.handed_out
        );
        prop_assert!(load.iter().all(|l| l.processing == 0));
        prop_assert_eq!(self.d.metrics().gets, self.handed_out);
        Ok(())
    }
}

fn run(strategy: Strategy, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut run = Run::new(strategy);
    for op in ops {
        run.apply(op)?;
    }
    run.drain()
}

macro_rules! strategy_props {
    ($($name:ident => $strategy:expr;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 256,
                rng_seed: RngSeed::Fixed(0xd15_7a7c),
                failure_persistence: None,
                ..ProptestConfig::default()
            })]
            $(
                #[test]
                fn $name(ops in prop::collection::vec(op(), 1..150)) {
                    run($strategy, &ops)?;
                }
            )*
        }
    };
}

strategy_props! {
    shared_keeps_queue_rules => Strategy::Shared;
    hash_keeps_queue_rules => Strategy::Hash;
    namespace_keeps_queue_rules => Strategy::Namespace;
    owner_keeps_queue_rules => Strategy::Owner;
    consistent_keeps_queue_rules => Strategy::Consistent;
    steal_keeps_queue_rules => Strategy::Steal;
}
