//! The key table and timer shared by the lane-based strategies (`namespace`, `owner`,
//! `consistent`, `steal`), the lane sets they pop from, and the [`Dispatcher`] methods
//! they implement alike ([`lane_dispatcher_methods!`]). The protocol is stated in the
//! parent module's docs; this file implements it.
//!
//! [`Dispatcher`]: super::Dispatcher

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::deque::{Injector, Steal as Stolen};
use crossbeam::utils::CachePadded;
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use parking_lot::{Condvar, Mutex, MutexGuard};

use super::{DispatchConfig, Slots};
use crate::time::{Clock, Timestamp};
use crate::workqueue::{self, due_after, nanos, QueueConfig, MAX_TIMER_WAIT};

/// Stripes of the key table (a power of two).
const STRIPES: usize = 64;
const STRIPE_BITS: u32 = STRIPES.trailing_zeros();

/// A lane item: a key, its hash, and the ticket that makes it valid.
pub(crate) struct Item<K> {
    pub(crate) key: K,
    pub(crate) hash: u64,
    pub(crate) ticket: u64,
}

/// An item to push to `lane` (after the stripe lock is released).
pub(crate) struct Push<K> {
    pub(crate) lane: usize,
    pub(crate) item: Item<K>,
}

/// What an add asks the caller to do.
pub(crate) enum Effect<K> {
    /// Nothing (merged, or ignored after shutdown).
    Nothing,
    /// Push this item.
    Push(Push<K>),
    /// The earliest due time moved earlier: wake every sleeper so it recomputes its
    /// timeout (a sleeping worker never sleeps past the earliest due time).
    Timer,
}

/// Maps a route hash to a lane (worker id).
pub(crate) type LaneOf<'a> = &'a dyn Fn(u64) -> usize;

#[derive(Default)]
struct KeyState {
    dirty: bool,
    processing: Option<usize>,
    /// (lane, ticket) of the key's one valid item; `Some` iff dirty and not processing.
    queued: Option<(usize, u64)>,
    /// (due, seq) of the live timer entry.
    delayed: Option<(Timestamp, u64)>,
    failures: u32,
    /// The route hash of the latest add.
    route: u64,
    enqueued: Option<Instant>,
    started: Option<Instant>,
}

impl KeyState {
    fn is_vacant(&self) -> bool {
        !self.dirty && self.processing.is_none() && self.delayed.is_none() && self.failures == 0
    }
}

struct Rec<K> {
    hash: u64,
    key: K,
    st: KeyState,
}

struct Stripe<K> {
    table: HashTable<Rec<K>>,
    /// Ticket counter (tickets are `counter << STRIPE_BITS | stripe`: unique).
    counter: u64,
}

fn next_ticket(counter: &mut u64, stripe: usize) -> u64 {
    *counter += 1;
    (*counter << STRIPE_BITS) | stripe as u64
}

fn upsert<K: Eq>(table: &mut HashTable<Rec<K>>, hash: u64, key: K) -> &mut Rec<K> {
    match table.entry(hash, |r| r.key == key, |r| r.hash) {
        Entry::Occupied(o) => o.into_mut(),
        Entry::Vacant(v) => v
            .insert(Rec {
                hash,
                key,
                st: KeyState::default(),
            })
            .into_mut(),
    }
}

fn remove_if_vacant<K: Eq>(table: &mut HashTable<Rec<K>>, hash: u64, key: &K) {
    if let Ok(o) = table.find_entry(hash, |r| r.key == *key) {
        if o.get().st.is_vacant() {
            o.remove();
        }
    }
}

struct Timed<K> {
    due: Timestamp,
    seq: u64,
    hash: u64,
    key: K,
}

impl<K> PartialEq for Timed<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl<K> Eq for Timed<K> {}
impl<K> PartialOrd for Timed<K> {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Timed<K> {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// Counts of a reshard walk.
#[derive(Default)]
pub(crate) struct Walk {
    pub(crate) examined: usize,
    pub(crate) moved_queued: usize,
    pub(crate) moved_delayed: usize,
    pub(crate) deferred: usize,
}

/// The key table, timer heap and per-worker slots.
pub(crate) struct Engine<K> {
    stripes: Box<[CachePadded<Mutex<Stripe<K>>>]>,
    timers: Mutex<BinaryHeap<Reverse<Timed<K>>>>,
    /// Due time of the heap's top (possibly of a superseded entry, so never later than
    /// the earliest live one); `i64::MAX` when empty. Written under the timer lock.
    earliest: AtomicI64,
    delayed_live: AtomicUsize,
    shutting_down: AtomicBool,
    pub(crate) slots: Slots,
    clock: Arc<dyn Clock>,
    config: QueueConfig,
}

impl<K: Clone + Eq + Hash + Send + 'static> Engine<K> {
    pub(crate) fn new(config: &DispatchConfig, clock: Arc<dyn Clock>) -> Self {
        Engine {
            stripes: (0..STRIPES)
                .map(|_| {
                    CachePadded::new(Mutex::new(Stripe {
                        table: HashTable::new(),
                        counter: 0,
                    }))
                })
                .collect(),
            timers: Mutex::new(BinaryHeap::new()),
            earliest: AtomicI64::new(i64::MAX),
            delayed_live: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            slots: Slots::new(config.max_workers, config.workers),
            clock,
            config: config.queue.clone(),
        }
    }

    #[inline]
    fn stripe_of(hash: u64) -> usize {
        (hash >> 32) as usize & (STRIPES - 1)
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Marks `rec` dirty (an add or a promotion). Returns the push if it is queued now.
    fn mark_dirty(
        &self,
        rec: &mut Rec<K>,
        counter: &mut u64,
        stripe: usize,
        lane: usize,
    ) -> Option<Push<K>> {
        let slot = self.slots.get(lane);
        if rec.st.dirty {
            slot.deduped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        rec.st.dirty = true;
        slot.adds.fetch_add(1, Ordering::Relaxed);
        if self.config.metrics {
            rec.st.enqueued = Some(Instant::now());
        }
        if rec.st.processing.is_some() {
            return None;
        }
        let ticket = next_ticket(counter, stripe);
        rec.st.queued = Some((lane, ticket));
        slot.ready.fetch_add(1, Ordering::AcqRel);
        Some(Push {
            lane,
            item: Item {
                key: rec.key.clone(),
                hash: rec.hash,
                ticket,
            },
        })
    }

    fn sample_depth(&self, lane: usize) {
        if self.config.metrics {
            let slot = self.slots.get(lane);
            let depth = slot.ready.load(Ordering::Relaxed).max(0) as u64;
            slot.with_histos(|h| workqueue::record(&mut h.depth, depth));
        }
    }

    /// `add`: `hash` is the key's [`stable_hash`](super::stable_hash), `route` what the
    /// strategy routes on.
    pub(crate) fn add(&self, key: K, hash: u64, route: u64, lane_of: LaneOf) -> Option<Push<K>> {
        if self.is_shutting_down() {
            return None;
        }
        let lane = lane_of(route);
        let idx = Self::stripe_of(hash);
        let push = {
            let mut g = self.stripes[idx].lock();
            let Stripe { table, counter } = &mut *g;
            let rec = upsert(table, hash, key);
            rec.st.route = route;
            self.mark_dirty(rec, counter, idx, lane)
        };
        self.sample_depth(lane);
        push
    }

    /// `add_after` (`delay` zero = `add`).
    pub(crate) fn add_after(
        &self,
        key: K,
        hash: u64,
        route: u64,
        delay: Duration,
        lane_of: LaneOf,
    ) -> Effect<K> {
        // `lane_of` is only needed when the delay is zero (an immediate add); a delayed
        // key is routed when due.
        if delay.is_zero() {
            return match self.add(key, hash, route, lane_of) {
                Some(p) => Effect::Push(p),
                None => Effect::Nothing,
            };
        }
        if self.is_shutting_down() {
            return Effect::Nothing;
        }
        let due = due_after(self.clock.now(), delay);
        let idx = Self::stripe_of(hash);
        let (seq, key) = {
            let mut g = self.stripes[idx].lock();
            let Stripe { table, counter } = &mut *g;
            let rec = upsert(table, hash, key);
            rec.st.route = route;
            match rec.st.delayed {
                Some((d, _)) if d <= due => return Effect::Nothing,
                Some(_) => {}
                None => {
                    self.delayed_live.fetch_add(1, Ordering::AcqRel);
                }
            }
            let seq = next_ticket(counter, idx);
            rec.st.delayed = Some((due, seq));
            (seq, rec.key.clone())
        };
        let mut timers = self.timers.lock();
        timers.push(Reverse(Timed {
            due,
            seq,
            hash,
            key,
        }));
        let top = timers.peek().map_or(i64::MAX, |Reverse(t)| t.due.0);
        let before = self.earliest.swap(top, Ordering::AcqRel);
        drop(timers);
        if top < before {
            Effect::Timer
        } else {
            Effect::Nothing
        }
    }

    /// `add_rate_limited`: `add_after` with the key's backoff.
    pub(crate) fn add_rate_limited(
        &self,
        key: K,
        hash: u64,
        route: u64,
        lane_of: LaneOf,
    ) -> Effect<K> {
        if self.is_shutting_down() {
            return Effect::Nothing;
        }
        let idx = Self::stripe_of(hash);
        let (failures, key) = {
            let mut g = self.stripes[idx].lock();
            let rec = upsert(&mut g.table, hash, key);
            let f = rec.st.failures;
            rec.st.failures = f.saturating_add(1);
            (f, rec.key.clone())
        };
        self.slots
            .get(lane_of(route))
            .retries
            .fetch_add(1, Ordering::Relaxed);
        let delay = self.config.backoff(failures);
        self.add_after(key, hash, route, delay, lane_of)
    }

    pub(crate) fn forget(&self, key: &K, hash: u64) {
        let mut g = self.stripes[Self::stripe_of(hash)].lock();
        if let Some(rec) = g.table.find_mut(hash, |r| r.key == *key) {
            rec.st.failures = 0;
        }
        remove_if_vacant(&mut g.table, hash, key);
    }

    pub(crate) fn num_requeues(&self, key: &K, hash: u64) -> u32 {
        let g = self.stripes[Self::stripe_of(hash)].lock();
        g.table
            .find(hash, |r| r.key == *key)
            .map_or(0, |r| r.st.failures)
    }

    /// Validates a popped item for `worker`; on success the key is processing by it.
    pub(crate) fn take(&self, worker: usize, item: Item<K>) -> Option<K> {
        let latency = {
            let mut g = self.stripes[Self::stripe_of(item.hash)].lock();
            let rec = g.table.find_mut(item.hash, |r| r.key == item.key)?;
            let (lane, ticket) = rec.st.queued?;
            if ticket != item.ticket {
                return None;
            }
            rec.st.queued = None;
            rec.st.dirty = false;
            rec.st.processing = Some(worker);
            self.slots.get(lane).ready.fetch_sub(1, Ordering::AcqRel);
            let slot = self.slots.get(worker);
            slot.started();
            slot.gets.fetch_add(1, Ordering::Relaxed);
            if lane != worker {
                slot.stolen.fetch_add(1, Ordering::Relaxed);
            }
            if self.config.metrics {
                let now = Instant::now();
                rec.st.started = Some(now);
                rec.st
                    .enqueued
                    .take()
                    .map(|t| nanos(now.saturating_duration_since(t)))
            } else {
                None
            }
        };
        if let Some(l) = latency {
            self.slots
                .get(worker)
                .with_histos(|h| workqueue::record(&mut h.latency, l));
        }
        Some(item.key)
    }

    /// `done`: returns whether `worker` held the key, and the re-queue push.
    pub(crate) fn done(
        &self,
        worker: usize,
        key: &K,
        hash: u64,
        lane_of: LaneOf,
    ) -> (bool, Option<Push<K>>) {
        let idx = Self::stripe_of(hash);
        let (push, worked) = {
            let mut g = self.stripes[idx].lock();
            let Stripe { table, counter } = &mut *g;
            let Some(rec) = table.find_mut(hash, |r| r.key == *key) else {
                return (false, None);
            };
            if rec.st.processing != Some(worker) {
                return (false, None);
            }
            rec.st.processing = None;
            let worked = rec.st.started.take().map(|t| t.elapsed());
            let slot = self.slots.get(worker);
            slot.finished(worked);
            slot.dones.fetch_add(1, Ordering::Relaxed);
            let push = if rec.st.dirty {
                let lane = lane_of(rec.st.route);
                let ticket = next_ticket(counter, idx);
                rec.st.queued = Some((lane, ticket));
                self.slots.get(lane).ready.fetch_add(1, Ordering::AcqRel);
                Some(Push {
                    lane,
                    item: Item {
                        key: rec.key.clone(),
                        hash,
                        ticket,
                    },
                })
            } else {
                remove_if_vacant(table, hash, key);
                None
            };
            (push, worked)
        };
        if let Some(w) = worked {
            let slot = self.slots.get(worker);
            slot.work_ns.fetch_add(nanos(w), Ordering::Relaxed);
            slot.with_histos(|h| workqueue::record(&mut h.work, nanos(w)));
        }
        (true, push)
    }

    /// Whether a timer may be due (cheap: one atomic load and a clock read).
    #[inline]
    pub(crate) fn may_be_due(&self) -> bool {
        let e = self.earliest.load(Ordering::Acquire);
        e != i64::MAX && e <= self.clock.now().0
    }

    /// Promotes every due delayed key; returns the pushes (the caller pushes them while
    /// still holding the routing lock it passed `lane_of` under).
    pub(crate) fn promote(&self, lane_of: LaneOf) -> Vec<Push<K>> {
        if self.is_shutting_down() || !self.may_be_due() {
            return Vec::new();
        }
        let now = self.clock.now();
        let due: Vec<Timed<K>> = {
            let mut timers = self.timers.lock();
            let mut due = Vec::new();
            while timers.peek().is_some_and(|Reverse(t)| t.due <= now) {
                if let Some(Reverse(t)) = timers.pop() {
                    due.push(t);
                }
            }
            let top = timers.peek().map_or(i64::MAX, |Reverse(t)| t.due.0);
            self.earliest.store(top, Ordering::Release);
            due
        };
        let mut pushes = Vec::new();
        for t in due {
            let idx = Self::stripe_of(t.hash);
            let lane = {
                let mut g = self.stripes[idx].lock();
                let Stripe { table, counter } = &mut *g;
                let Some(rec) = table.find_mut(t.hash, |r| r.key == t.key) else {
                    continue;
                };
                if rec.st.delayed != Some((t.due, t.seq)) {
                    continue;
                }
                rec.st.delayed = None;
                self.delayed_live.fetch_sub(1, Ordering::AcqRel);
                let lane = lane_of(rec.st.route);
                pushes.extend(self.mark_dirty(rec, counter, idx, lane));
                lane
            };
            self.sample_depth(lane);
        }
        pushes
    }

    /// The earliest live due time (drops superseded heap entries on the way).
    pub(crate) fn next_due(&self) -> Option<Timestamp> {
        let mut timers = self.timers.lock();
        let found = loop {
            let Some(Reverse(top)) = timers.peek() else {
                break None;
            };
            let live = {
                let g = self.stripes[Self::stripe_of(top.hash)].lock();
                g.table
                    .find(top.hash, |r| r.key == top.key)
                    .is_some_and(|r| r.st.delayed == Some((top.due, top.seq)))
            };
            if live {
                break Some(top.due);
            }
            timers.pop();
        };
        let top = timers.peek().map_or(i64::MAX, |Reverse(t)| t.due.0);
        self.earliest.store(top, Ordering::Release);
        found
    }

    /// How long a blocked worker may sleep before a timer can be due (`None`: no timer).
    pub(crate) fn sleep_budget(&self) -> Option<Duration> {
        let e = self.earliest.load(Ordering::Acquire);
        (e != i64::MAX).then(|| {
            Timestamp(e)
                .since(self.clock.now())
                .clamp(Duration::from_millis(1), MAX_TIMER_WAIT)
        })
    }

    pub(crate) fn delayed_len(&self) -> usize {
        self.delayed_live.load(Ordering::Acquire)
    }

    fn counters_idle(&self) -> bool {
        self.delayed_len() == 0
            && self.slots.total_ready() == 0
            && self.slots.total_processing() == 0
    }

    /// Nothing ready, delayed or processing, at one instant: every counter changes
    /// only under a stripe lock, so with all stripe locks held they are a consistent
    /// snapshot (read without them, a key moving between counters — or a worker adding
    /// one key before finishing another — could make each counter look zero at a
    /// different time).
    pub(crate) fn is_idle(&self) -> bool {
        if !self.counters_idle() {
            return false;
        }
        let _held: Vec<_> = self.stripes.iter().map(|s| s.lock()).collect();
        self.counters_idle()
    }

    /// Sets the shutdown flag and drops the delayed keys (the caller wakes its lanes).
    pub(crate) fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        let mut timers = self.timers.lock();
        for Reverse(t) in std::mem::take(&mut *timers) {
            let mut g = self.stripes[Self::stripe_of(t.hash)].lock();
            if let Some(rec) = g.table.find_mut(t.hash, |r| r.key == t.key) {
                if rec.st.delayed == Some((t.due, t.seq)) {
                    rec.st.delayed = None;
                    self.delayed_live.fetch_sub(1, Ordering::AcqRel);
                }
            }
            remove_if_vacant(&mut g.table, t.hash, &t.key);
        }
        self.earliest.store(i64::MAX, Ordering::Release);
    }

    /// The reshard walk: every queued key whose lane differs from `new_lane(route)`
    /// gets a fresh ticket in its new lane (the caller pushes `pushes` under its
    /// membership write lock); delayed and processing keys whose owner changes are
    /// counted.
    pub(crate) fn retarget(
        &self,
        old_lane: LaneOf,
        new_lane: LaneOf,
        pushes: &mut Vec<Push<K>>,
    ) -> Walk {
        let mut walk = Walk::default();
        for (idx, stripe) in self.stripes.iter().enumerate() {
            let mut g = stripe.lock();
            let Stripe { table, counter } = &mut *g;
            for rec in table.iter_mut() {
                walk.examined += 1;
                let to = new_lane(rec.st.route);
                if let Some((lane, _)) = rec.st.queued {
                    if lane != to {
                        let ticket = next_ticket(counter, idx);
                        rec.st.queued = Some((to, ticket));
                        self.slots.get(lane).ready.fetch_sub(1, Ordering::AcqRel);
                        self.slots.get(to).ready.fetch_add(1, Ordering::AcqRel);
                        pushes.push(Push {
                            lane: to,
                            item: Item {
                                key: rec.key.clone(),
                                hash: rec.hash,
                                ticket,
                            },
                        });
                        walk.moved_queued += 1;
                    }
                }
                if let Some(w) = rec.st.processing {
                    if w != to {
                        walk.deferred += 1;
                    }
                }
                if rec.st.delayed.is_some() && old_lane(rec.st.route) != to {
                    walk.moved_delayed += 1;
                }
            }
        }
        walk
    }

    /// Re-homes a queued item popped from a removed lane (`steal`): if still valid, its
    /// `queued` lane becomes `to` (same ticket) and the item is returned for pushing.
    pub(crate) fn rehome(&self, item: Item<K>, to: usize) -> Option<Push<K>> {
        let mut g = self.stripes[Self::stripe_of(item.hash)].lock();
        let rec = g.table.find_mut(item.hash, |r| r.key == item.key)?;
        match rec.st.queued {
            Some((lane, ticket)) if ticket == item.ticket => {
                rec.st.queued = Some((to, ticket));
                self.slots.get(lane).ready.fetch_sub(1, Ordering::AcqRel);
                self.slots.get(to).ready.fetch_add(1, Ordering::AcqRel);
                Some(Push { lane: to, item })
            }
            _ => None,
        }
    }
}

/// The lanes a lane-based dispatcher pops from.
pub(crate) trait LaneSet<K>: Send + Sync {
    /// Appends an item to its lane and wakes a worker that may take it.
    fn push(&self, push: Push<K>);
    /// The next candidate for `worker` (own lane first; `steal` then the others').
    fn pop(&self, worker: usize) -> Option<Item<K>>;
    /// `worker`'s wake epoch: read before scanning, passed to `wait`.
    fn epoch(&self, worker: usize) -> u64;
    /// Sleeps unless something was pushed (or a wake sent) since `epoch` or `stop()`;
    /// at most `timeout` when given.
    fn wait(&self, worker: usize, epoch: u64, timeout: Option<Duration>, stop: &dyn Fn() -> bool);
    /// Wakes the worker(s) sleeping on `lane` (`steal`: one sleeper).
    fn wake(&self, lane: usize);
    /// Wakes every sleeper.
    fn wake_all(&self);
    /// Removes and returns every item of `lane`.
    fn drain(&self, lane: usize) -> Vec<Item<K>>;
    /// Workers blocked in `wait` right now (tests use it to reach a blocked state).
    #[cfg_attr(not(test), allow(dead_code))]
    fn sleepers(&self) -> usize;

    /// Pushes every item of `pushes`.
    fn push_all(&self, pushes: Vec<Push<K>>) {
        for p in pushes {
            self.push(p);
        }
    }

    /// Does what an add asked for: push its item, or wake every sleeper to recompute
    /// its timeout.
    fn apply(&self, effect: Effect<K>) {
        match effect {
            Effect::Nothing => {}
            Effect::Push(p) => self.push(p),
            Effect::Timer => self.wake_all(),
        }
    }
}

/// The [`Dispatcher`](super::Dispatcher) methods every lane-based strategy implements
/// alike, to be invoked inside `impl Dispatcher<K> for …` as
/// `lane_dispatcher_methods!(K);`.
///
/// The implementing type must have the fields `engine: Engine<K>` and `lanes` (a
/// [`LaneSet`], which must be in scope) and the methods `route(&self, key_hash: u64,
/// affinity: Affinity) -> u64` (what the strategy routes a key on) and
/// `with_lanes(&self, f)` (runs `f` with the route → lane map, holding the strategy's
/// membership lock if it has one). The strategy itself writes `strategy`, `workers`,
/// `worker_ids`, `add_worker` and `remove_worker`.
macro_rules! lane_dispatcher_methods {
    ($k:ident) => {
        fn add(&self, item: $crate::dispatch::Routed<$k>) {
            let hash = $crate::dispatch::stable_hash(&item.key);
            let route = self.route(hash, item.affinity);
            self.with_lanes(|lane_of| {
                if let Some(p) = self.engine.add(item.key, hash, route, lane_of) {
                    self.lanes.push(p);
                }
            });
        }

        fn add_after(&self, item: $crate::dispatch::Routed<$k>, delay: std::time::Duration) {
            let hash = $crate::dispatch::stable_hash(&item.key);
            let route = self.route(hash, item.affinity);
            self.with_lanes(|lane_of| {
                let effect = self.engine.add_after(item.key, hash, route, delay, lane_of);
                self.lanes.apply(effect);
            });
        }

        fn add_rate_limited(&self, item: $crate::dispatch::Routed<$k>) {
            let hash = $crate::dispatch::stable_hash(&item.key);
            let route = self.route(hash, item.affinity);
            self.with_lanes(|lane_of| {
                let effect = self.engine.add_rate_limited(item.key, hash, route, lane_of);
                self.lanes.apply(effect);
            });
        }

        fn forget(&self, key: &$k) {
            self.engine.forget(key, $crate::dispatch::stable_hash(key));
        }

        fn num_requeues(&self, key: &$k) -> u32 {
            self.engine
                .num_requeues(key, $crate::dispatch::stable_hash(key))
        }

        fn try_next(&self, worker: usize) -> Option<$k> {
            $crate::dispatch::engine::next_key(&self.engine, &self.lanes, worker, false, &|| {
                self.promote_due()
            })
        }

        fn next(&self, worker: usize) -> Option<$k> {
            $crate::dispatch::engine::next_key(&self.engine, &self.lanes, worker, true, &|| {
                self.promote_due()
            })
        }

        fn done(&self, worker: usize, key: &$k) -> bool {
            let hash = $crate::dispatch::stable_hash(key);
            self.with_lanes(|lane_of| {
                let (held, push) = self.engine.done(worker, key, hash, lane_of);
                if let Some(p) = push {
                    self.lanes.push(p);
                }
                held
            })
        }

        fn next_due(&self) -> Option<$crate::time::Timestamp> {
            self.engine.next_due()
        }

        fn promote_due(&self) {
            self.with_lanes(|lane_of| self.lanes.push_all(self.engine.promote(lane_of)));
        }

        fn is_idle(&self) -> bool {
            self.engine.is_idle()
        }

        fn shutdown(&self) {
            self.engine.shutdown();
            self.lanes.wake_all();
        }

        fn load(&self) -> Vec<$crate::dispatch::WorkerLoad> {
            self.engine.slots.load()
        }

        fn metrics(&self) -> $crate::workqueue::QueueMetricsSnapshot {
            self.engine.slots.queue_metrics()
        }

        fn reset_metrics(&self) {
            self.engine.slots.reset();
        }
    };
}
pub(crate) use lane_dispatcher_methods;

/// Waits on `cond` (releasing `guard`'s mutex meanwhile), at most `timeout` when given.
fn wait_at_most<T>(cond: &Condvar, guard: &mut MutexGuard<'_, T>, timeout: Option<Duration>) {
    match timeout {
        Some(t) => {
            cond.wait_for(guard, t);
        }
        None => cond.wait(guard),
    }
}

/// The blocking/non-blocking `next` loop of the lane-based strategies.
///
/// `promote` promotes due keys under the strategy's routing lock. A removed worker
/// (inactive slot) gets `None`. A blocked worker sleeps at most until the earliest due
/// time, then promotes.
pub(crate) fn next_key<K, L>(
    engine: &Engine<K>,
    lanes: &L,
    worker: usize,
    blocking: bool,
    promote: &dyn Fn(),
) -> Option<K>
where
    K: Clone + Eq + Hash + Send + 'static,
    L: LaneSet<K>,
{
    loop {
        if !engine.slots.is_active(worker) {
            return None;
        }
        let epoch = lanes.epoch(worker);
        if engine.may_be_due() {
            promote();
        }
        while let Some(item) = lanes.pop(worker) {
            if let Some(k) = engine.take(worker, item) {
                return Some(k);
            }
        }
        if !blocking || engine.is_shutting_down() {
            return None;
        }
        lanes.wait(worker, epoch, engine.sleep_budget(), &|| {
            engine.is_shutting_down() || !engine.slots.is_active(worker)
        });
    }
}

/// One mutex-guarded FIFO and condvar per worker (`namespace`, `owner`, `consistent`).
pub(crate) struct OwnedLanes<K> {
    lanes: Box<[CachePadded<OwnedLane<K>>]>,
    /// Workers blocked in `wait` (slow path only).
    sleepers: AtomicUsize,
}

struct OwnedLane<K> {
    q: Mutex<LaneQueue<K>>,
    cond: Condvar,
}

struct LaneQueue<K> {
    fifo: VecDeque<Item<K>>,
    epoch: u64,
}

impl<K> OwnedLanes<K> {
    pub(crate) fn new(n: usize) -> Self {
        OwnedLanes {
            lanes: (0..n)
                .map(|_| {
                    CachePadded::new(OwnedLane {
                        q: Mutex::new(LaneQueue {
                            fifo: VecDeque::new(),
                            epoch: 0,
                        }),
                        cond: Condvar::new(),
                    })
                })
                .collect(),
            sleepers: AtomicUsize::new(0),
        }
    }
}

impl<K: Send> LaneSet<K> for OwnedLanes<K> {
    fn push(&self, push: Push<K>) {
        let lane = &self.lanes[push.lane];
        let mut q = lane.q.lock();
        q.fifo.push_back(push.item);
        q.epoch += 1;
        lane.cond.notify_one();
    }

    fn pop(&self, worker: usize) -> Option<Item<K>> {
        self.lanes[worker].q.lock().fifo.pop_front()
    }

    fn epoch(&self, worker: usize) -> u64 {
        self.lanes[worker].q.lock().epoch
    }

    fn wait(&self, worker: usize, epoch: u64, timeout: Option<Duration>, stop: &dyn Fn() -> bool) {
        let lane = &self.lanes[worker];
        let mut q = lane.q.lock();
        if q.epoch != epoch || !q.fifo.is_empty() || stop() {
            return;
        }
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        wait_at_most(&lane.cond, &mut q, timeout);
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    fn wake(&self, lane: usize) {
        let lane = &self.lanes[lane];
        let mut q = lane.q.lock();
        q.epoch += 1;
        lane.cond.notify_all();
    }

    fn wake_all(&self) {
        for i in 0..self.lanes.len() {
            self.wake(i);
        }
    }

    fn drain(&self, lane: usize) -> Vec<Item<K>> {
        self.lanes[lane].q.lock().fifo.drain(..).collect()
    }

    fn sleepers(&self) -> usize {
        self.sleepers.load(Ordering::SeqCst)
    }
}

/// One crossbeam `Injector` (lock-free MPMC FIFO) per worker, stolen from by idle
/// workers, and one sleep condvar (`steal`).
///
/// Why `Injector` and not `deque::Worker`/`Stealer`: a `Worker` end must stay on one
/// thread, but a dispatcher is shared (`&self`, worker given by id) and keys are
/// pushed by event handlers on any thread; an `Injector` accepts pushes from anyone
/// and `steal()` from anyone.
pub(crate) struct StealLanes<K> {
    lanes: Box<[CachePadded<Injector<Item<K>>>]>,
    /// Lanes in use (ids `0..used`), so idle scans skip never-used slots.
    used: AtomicUsize,
    epoch: AtomicU64,
    /// Workers between announcing a sleep and leaving `wait` (pushers notify if > 0).
    sleepers: AtomicUsize,
    /// Workers actually blocked on the condvar.
    blocked: AtomicUsize,
    sleep: Mutex<()>,
    cond: Condvar,
}

impl<K> StealLanes<K> {
    pub(crate) fn new(n: usize, used: usize) -> Self {
        StealLanes {
            lanes: (0..n).map(|_| CachePadded::new(Injector::new())).collect(),
            used: AtomicUsize::new(used),
            epoch: AtomicU64::new(0),
            sleepers: AtomicUsize::new(0),
            blocked: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            cond: Condvar::new(),
        }
    }

    /// Marks lanes `0..used` as in use (after `add_worker`).
    pub(crate) fn set_used(&self, used: usize) {
        self.used.fetch_max(used, Ordering::AcqRel);
    }

    fn steal_from(&self, lane: usize) -> Option<Item<K>> {
        loop {
            match self.lanes[lane].steal() {
                Stolen::Success(item) => return Some(item),
                Stolen::Empty => return None,
                Stolen::Retry => continue,
            }
        }
    }
}

impl<K: Send> LaneSet<K> for StealLanes<K> {
    fn push(&self, push: Push<K>) {
        self.lanes[push.lane].push(push.item);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = self.sleep.lock();
            self.cond.notify_one();
        }
    }

    fn pop(&self, worker: usize) -> Option<Item<K>> {
        if let Some(item) = self.steal_from(worker) {
            return Some(item);
        }
        let used = self.used.load(Ordering::Acquire);
        (1..used)
            .map(|i| (worker + i) % used)
            .find_map(|victim| self.steal_from(victim))
    }

    fn epoch(&self, _worker: usize) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    fn wait(&self, _worker: usize, epoch: u64, timeout: Option<Duration>, stop: &dyn Fn() -> bool) {
        let mut g = self.sleep.lock();
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        if self.epoch.load(Ordering::SeqCst) == epoch && !stop() {
            self.blocked.fetch_add(1, Ordering::SeqCst);
            wait_at_most(&self.cond, &mut g, timeout);
            self.blocked.fetch_sub(1, Ordering::SeqCst);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    fn wake(&self, _lane: usize) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let _g = self.sleep.lock();
        self.cond.notify_one();
    }

    fn wake_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let _g = self.sleep.lock();
        self.cond.notify_all();
    }

    fn drain(&self, lane: usize) -> Vec<Item<K>> {
        std::iter::from_fn(|| self.steal_from(lane)).collect()
    }

    fn sleepers(&self) -> usize {
        self.blocked.load(Ordering::SeqCst)
    }
}
