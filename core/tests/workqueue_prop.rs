//! Property test: random sequences of add / add_after / add_rate_limited / forget /
//! get / done / clock advances by three simulated workers (sequentially), run against
//! the [`WorkQueue`] and a simple reference model. After every step the queue must
//! agree with the model (the key handed out, ready / delayed / processing counts, the
//! next due time, requeue counts), and independently of the model:
//!
//! - a key is never handed out while some worker holds it;
//! - nothing is queued twice (`len` never exceeds the keys that are dirty and idle);
//! - every add is delivered: after the run is drained (jumping the clock to each due
//!   time), each add was followed by a hand-out of its key, not earlier than the due
//!   time the add set;
//! - a re-add during processing is delivered only after that processing's `done`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::RngSeed;

use kubesim_core::time::{Clock, ManualClock, Timestamp};
use kubesim_core::workqueue::{QueueConfig, WorkQueue};

const KEYS: u8 = 6;
const WORKERS: usize = 3;
/// Delays in milliseconds (0 = immediate add).
const DELAYS: [u64; 6] = [0, 1, 3, 5, 10, 40];

fn config() -> QueueConfig {
    // A small cap so that backoff reaches it within a run: 2, 4, 8, 16, 16, ...
    QueueConfig {
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(16),
        metrics: true,
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add(u8),
    AddAfter(u8, usize),
    AddRateLimited(u8),
    Forget(u8),
    /// Worker takes a key (`try_get`).
    Get(usize),
    /// Worker finishes one of the keys it holds.
    Done(usize, usize),
    Advance(usize),
    Promote,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..KEYS).prop_map(Op::Add),
        3 => (0..KEYS, 0..DELAYS.len()).prop_map(|(k, d)| Op::AddAfter(k, d)),
        2 => (0..KEYS).prop_map(Op::AddRateLimited),
        1 => (0..KEYS).prop_map(Op::Forget),
        5 => (0..WORKERS).prop_map(Op::Get),
        5 => (0..WORKERS, 0..2usize).prop_map(|(w, i)| Op::Done(w, i)),
        2 => (0..DELAYS.len()).prop_map(Op::Advance),
        1 => Just(Op::Promote),
    ]
}

/// The reference model: the work-queue rules written as plainly as possible.
#[derive(Default)]
struct Model {
    ready: VecDeque<u8>,
    dirty: BTreeSet<u8>,
    processing: BTreeSet<u8>,
    /// key → (due, sequence number of the entry).
    waiting: BTreeMap<u8, (Timestamp, u64)>,
    failures: BTreeMap<u8, u32>,
    seq: u64,
}

impl Model {
    fn add(&mut self, k: u8) {
        if self.dirty.insert(k) && !self.processing.contains(&k) {
            self.ready.push_back(k);
        }
    }

    fn add_after(&mut self, k: u8, delay: Duration, now: Timestamp) {
        if delay.is_zero() {
            return self.add(k);
        }
        let ms = delay.as_nanos().div_ceil(1_000_000) as i64;
        let due = Timestamp(now.0 + ms);
        if self.waiting.get(&k).is_some_and(|&(d, _)| d <= due) {
            return;
        }
        self.waiting.insert(k, (due, self.seq));
        self.seq += 1;
    }

    fn promote(&mut self, now: Timestamp) {
        let mut due: Vec<(Timestamp, u64, u8)> = self
            .waiting
            .iter()
            .filter(|(_, &(d, _))| d <= now)
            .map(|(&k, &(d, s))| (d, s, k))
            .collect();
        due.sort();
        for (_, _, k) in due {
            self.waiting.remove(&k);
            self.add(k);
        }
    }

    fn get(&mut self, now: Timestamp) -> Option<u8> {
        self.promote(now);
        let k = self.ready.pop_front()?;
        self.dirty.remove(&k);
        self.processing.insert(k);
        Some(k)
    }

    fn done(&mut self, k: u8) {
        self.processing.remove(&k);
        if self.dirty.contains(&k) {
            self.ready.push_back(k);
        }
    }

    fn backoff(&mut self, k: u8) -> Duration {
        let f = self.failures.entry(k).or_default();
        let d = Duration::from_millis(2u64 << (*f).min(20)).min(Duration::from_millis(16));
        *f += 1;
        d
    }
}

/// What an add obliges the queue to do: hand the key out after op `after`, at a clock
/// reading of at least `not_before`.
struct Owed {
    after: usize,
    not_before: Timestamp,
}

struct Run {
    clock: Arc<ManualClock>,
    q: WorkQueue<u8>,
    model: Model,
    held: [Vec<u8>; WORKERS],
    /// key → obligations not yet met.
    owed: BTreeMap<u8, Vec<Owed>>,
    /// key → (op index of the done that must precede its next hand-out).
    readded_while_processing: BTreeMap<u8, usize>,
    step: usize,
}

impl Run {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::default());
        Run {
            q: WorkQueue::with_config(clock.clone(), config()),
            clock,
            model: Model::default(),
            held: Default::default(),
            owed: BTreeMap::new(),
            readded_while_processing: BTreeMap::new(),
            step: 0,
        }
    }

    fn owe(&mut self, k: u8, not_before: Timestamp) {
        self.owed.entry(k).or_default().push(Owed {
            after: self.step,
            not_before,
        });
        if self.held.iter().any(|h| h.contains(&k)) {
            self.readded_while_processing.entry(k).or_insert(usize::MAX);
        }
    }

    /// A waiting entry moved earlier serves the delayed adds it merged: they are met by
    /// a hand-out at its due time (the earlier due time wins, as in client-go).
    fn lower_to_waiting(&mut self, k: u8) {
        if let (Some(&(due, _)), Some(list)) = (self.model.waiting.get(&k), self.owed.get_mut(&k)) {
            for o in list {
                o.not_before = o.not_before.min(due);
            }
        }
    }

    fn handed_out(&mut self, w: usize, k: u8) -> Result<(), TestCaseError> {
        prop_assert!(
            !self.held.iter().any(|h| h.contains(&k)),
            "step {}: key {k} handed out while held",
            self.step
        );
        if let Some(&done_at) = self.readded_while_processing.get(&k) {
            prop_assert!(
                done_at != usize::MAX && done_at < self.step,
                "step {}: re-add of {k} delivered before done",
                self.step
            );
            self.readded_while_processing.remove(&k);
        }
        let now = self.clock.now();
        let step = self.step;
        if let Some(list) = self.owed.get_mut(&k) {
            list.retain(|o| !(o.after < step && now >= o.not_before));
        }
        self.held[w].push(k);
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        self.step += 1;
        let now = self.clock.now();
        match *op {
            Op::Add(k) => {
                self.q.add(k);
                self.model.add(k);
                self.owe(k, now);
            }
            Op::AddAfter(k, d) => {
                let delay = Duration::from_millis(DELAYS[d]);
                let had = self.model.waiting.get(&k).copied();
                self.q.add_after(k, delay);
                self.model.add_after(k, delay, now);
                // The add is met by a hand-out at its own due time, or by the earlier
                // waiting entry it merged into.
                let due = self.model.waiting.get(&k).map(|&(d, _)| d);
                let not_before = match (delay.is_zero(), had, due) {
                    (true, _, _) => now,
                    (false, Some((d0, _)), _) if due == Some(d0) => d0,
                    (false, _, Some(d)) => d,
                    (false, _, None) => now,
                };
                self.owe(k, not_before);
                self.lower_to_waiting(k);
            }
            Op::AddRateLimited(k) => {
                prop_assert_eq!(
                    self.q.num_requeues(&k),
                    *self.model.failures.get(&k).unwrap_or(&0)
                );
                let delay = self.model.backoff(k);
                self.q.add_rate_limited(k);
                self.model.add_after(k, delay, now);
                let due = self.model.waiting[&k].0;
                self.owe(k, due);
                self.lower_to_waiting(k);
            }
            Op::Forget(k) => {
                self.q.forget(&k);
                self.model.failures.remove(&k);
            }
            Op::Get(w) => {
                if self.held[w].len() < 2 {
                    let got = self.q.try_get();
                    let want = self.model.get(now);
                    prop_assert_eq!(got, want, "step {}: try_get", self.step);
                    if let Some(k) = got {
                        self.handed_out(w, k)?;
                    }
                }
            }
            Op::Done(w, i) => {
                if !self.held[w].is_empty() {
                    let k = self.held[w].remove(i % self.held[w].len());
                    prop_assert!(self.q.done(&k));
                    self.model.done(k);
                    if let Some(at) = self.readded_while_processing.get_mut(&k) {
                        if *at == usize::MAX {
                            *at = self.step;
                        }
                    }
                }
            }
            Op::Advance(d) => self.clock.advance(Duration::from_millis(DELAYS[d])),
            Op::Promote => {
                self.q.promote_due();
                self.model.promote(now);
            }
        }
        self.check()
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        let m = &self.model;
        prop_assert_eq!(self.q.len(), m.ready.len(), "step {}: len", self.step);
        let idle_dirty = m.dirty.iter().filter(|k| !m.processing.contains(k)).count();
        prop_assert!(self.q.len() <= idle_dirty, "a key queued twice");
        prop_assert_eq!(self.q.delayed_len(), m.waiting.len());
        prop_assert_eq!(self.q.processing_len(), m.processing.len());
        prop_assert_eq!(
            self.q.next_due(),
            m.waiting.values().map(|&(d, _)| d).min(),
            "step {}: next_due",
            self.step
        );
        prop_assert_eq!(
            self.q.is_empty_and_idle(),
            m.ready.is_empty() && m.waiting.is_empty() && m.processing.is_empty()
        );
        Ok(())
    }

    /// Finishes everything held, then drains: take and finish every ready key, jump the
    /// clock to the next due time, repeat.
    fn drain(&mut self) -> Result<(), TestCaseError> {
        for w in 0..WORKERS {
            while !self.held[w].is_empty() {
                self.apply(&Op::Done(w, 0))?;
            }
        }
        loop {
            self.apply(&Op::Get(0))?;
            if !self.held[0].is_empty() {
                self.apply(&Op::Done(0, 0))?;
                continue;
            }
            match self.q.next_due() {
                Some(due) => self.clock.set(due),
                None => break,
            }
        }
        prop_assert!(self.q.is_empty_and_idle());
        for (k, list) in &self.owed {
            prop_assert!(
                list.is_empty(),
                "key {k}: {} adds never delivered",
                list.len()
            );
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        rng_seed: RngSeed::Fixed(0x5eed_0001),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn work_queue_matches_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut run = Run::new();
        for op in &ops {
            run.apply(op)?;
        }
        run.drain()?;
    }
}
