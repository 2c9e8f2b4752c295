//! A work queue with client-go semantics: deduplicating, never handing one key to two
//! workers at once, with delayed adds and per-item exponential backoff.
//!
//! [`WorkQueue`] is the queue every kubesim controller worker pulls keys from. It merges
//! client-go's three layers (`workqueue.Type`, the delaying queue and the rate-limiting
//! queue) into one structure behind one lock:
//!
//! - [`WorkQueue::add`] queues a key **at most once** (the *dirty* set). A key that is
//!   being processed is only marked dirty; [`WorkQueue::done`] queues it again.
//! - [`WorkQueue::get`] (blocking) and [`WorkQueue::try_get`] hand out the oldest ready
//!   key and move it to *processing*; it is **never handed to a second caller** before
//!   `done`.
//! - [`WorkQueue::add_after`] waits until a due time on the queue's [`Clock`]; a key
//!   already waiting keeps the **earlier** due time (client-go's delaying queue). The
//!   waiting entry is independent of the key's ready/processing state, as in client-go:
//!   `add_after(k, 1s)` then `add(k)` delivers `k` now and once more after 1 s.
//! - [`WorkQueue::add_rate_limited`] is `add_after(k, backoff(n))` with
//!   `backoff(n) = base · 2ⁿ` capped at `max` (client-go's
//!   `ItemExponentialFailureRateLimiter`, 5 ms and 1000 s by default, see
//!   [`QueueConfig`]), `n` being the number of earlier rate-limited adds of the key since
//!   its last [`WorkQueue::forget`].
//!
//! # Time
//!
//! Due times are [`Timestamp`]s (milliseconds) read from the [`Clock`] given at
//! construction; a delay is rounded **up** to whole milliseconds, so a key is never
//! ready early. With a [`ManualClock`](crate::time::ManualClock) (virtual time) nothing
//! becomes ready until the clock reaches the due time: a discrete-event loop drains the
//! queue, jumps the clock to [`WorkQueue::next_due`] and calls
//! [`WorkQueue::promote_due`] (`get` and `try_get` promote due keys first, too). With a
//! real clock a blocking `get` sleeps on the condition variable until the earliest due
//! time (at most [`MAX_TIMER_WAIT`] at a time).
//!
//! # Concurrency protocol
//!
//! One `parking_lot::Mutex` guards the whole state (per-key entries, the ready FIFO,
//! the timer heap, counters and metrics); one `Condvar` wakes blocked getters. No user
//! code and no other lock runs under the mutex. Per key the lock guards two flags:
//!
//! | state                 | `dirty` | `processing` | where the key is                 |
//! |-----------------------|---------|--------------|----------------------------------|
//! | ready                 | yes     | no           | exactly once in the ready FIFO   |
//! | processing            | no      | yes          | held by one caller, not in FIFO  |
//! | processing + dirty    | yes     | yes          | held; re-queued by `done`        |
//!
//! plus, orthogonally, at most one live *waiting* entry (due time, sequence number) and
//! a failure count for the rate limiter. Transitions: `add` sets `dirty` and pushes the
//! key iff it was neither dirty nor processing; `get` pops, clears `dirty`, sets
//! `processing`; `done` clears `processing` and pushes iff `dirty`; promotion of a due
//! waiting entry is an `add`.
//!
//! What never happens: a key in the FIFO twice; a key in the FIFO while processing; a
//! key handed out while processing; an `add` lost (it is either merged into a pending
//! delivery that has not been handed out yet, or delivered after the current `done`).
//! Superseded timer-heap entries are recognised by their sequence number and skipped.
//!
//! `notify_one` is sent for each key pushed to the FIFO, `notify_all` on shutdown.
//! Getters re-check the state under the lock before waiting, so no wake-up is lost.
//!
//! # Shutdown
//!
//! As in client-go: after [`WorkQueue::shutdown`], adds are ignored and waiting
//! (delayed) entries are dropped, but keys already ready are still handed out and `done`
//! still re-queues a key made dirty while it was processed; `get` returns `None` once
//! nothing is ready.
//!
//! # Metrics
//!
//! [`WorkQueue::metrics`] returns counters and three [`Histogram`]s: queue depth (ready
//! keys, sampled at every add), queue latency (first add while not queued → handed
//! out) and work duration (handed out → `done`). The two durations are **wall time**
//! (`std::time::Instant`) in nanoseconds, even in virtual-time runs: they measure the
//! simulator, not the simulated cluster. Recording costs three `Instant::now()` calls
//! (add, get, done) and three histogram increments per item, under the lock already
//! held; [`QueueConfig::metrics`] `= false` turns the timing and histograms off
//! (counters stay).

use std::cmp::{Ordering, Reverse};
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BinaryHeap, VecDeque};
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fnv::FnvHashMap;
use hdrhistogram::Histogram;
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::time::{Clock, Timestamp};

/// The longest a blocking [`WorkQueue::get`] sleeps before looking at the clock again
/// while delayed keys wait (client-go's delaying queue uses the same 10 s heartbeat).
/// With a real clock the sleep normally ends earlier, at the earliest due time.
pub const MAX_TIMER_WAIT: Duration = Duration::from_secs(10);

/// Significant figures of the metrics histograms (0.1% precision). The histograms
/// resize on demand, so their memory follows the largest value recorded.
const HISTOGRAM_SIGFIG: u8 = 3;

/// Tuning of a [`WorkQueue`]: the rate limiter's backoff and whether timing metrics
/// are recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Backoff of the first rate-limited add of a key (client-go: 5 ms).
    pub base_delay: Duration,
    /// Backoff cap (client-go: 1000 s).
    pub max_delay: Duration,
    /// Record the depth / latency / work-duration histograms (three `Instant::now()`
    /// per item). Counters are always kept.
    pub metrics: bool,
}

impl QueueConfig {
    /// client-go's `DefaultItemBasedRateLimiter` base delay.
    pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(5);
    /// client-go's `DefaultItemBasedRateLimiter` cap.
    pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(1000);

    /// The backoff after `failures` earlier rate-limited adds: `base · 2^failures`,
    /// capped at `max_delay`.
    pub fn backoff(&self, failures: u32) -> Duration {
        let cap = self.max_delay.as_nanos();
        let nanos = match 1u128.checked_shl(failures) {
            Some(factor) => self.base_delay.as_nanos().saturating_mul(factor).min(cap),
            None => cap,
        };
        Duration::new(
            (nanos / 1_000_000_000).min(u64::MAX as u128) as u64,
            (nanos % 1_000_000_000) as u32,
        )
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            base_delay: Self::DEFAULT_BASE_DELAY,
            max_delay: Self::DEFAULT_MAX_DELAY,
            metrics: true,
        }
    }
}

/// The due time of a delay of `delay` from `now`, rounded up to whole milliseconds so
/// that nothing becomes ready early.
pub(crate) fn due_after(now: Timestamp, delay: Duration) -> Timestamp {
    let ms = delay.as_nanos().div_ceil(1_000_000).min(i64::MAX as u128) as i64;
    Timestamp(now.0.saturating_add(ms))
}

/// A new, empty, auto-resizing histogram.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new(HISTOGRAM_SIGFIG).expect("3 significant figures is a valid precision")
}

/// Records `value` (auto-resizing; a value beyond the histogram's absolute limit is
/// dropped rather than failing the queue operation).
#[inline]
pub(crate) fn record(h: &mut Histogram<u64>, value: u64) {
    let _ = h.record(value);
}

/// Nanoseconds of `d`, saturated to `u64`.
#[inline]
pub(crate) fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

/// A point-in-time copy of a queue's metrics.
///
/// Counters count since construction or the last reset. Durations are wall time
/// (`std::time::Instant`), in nanoseconds, also in virtual-time runs.
#[derive(Clone, Debug)]
pub struct QueueMetricsSnapshot {
    /// Adds that made a key dirty (including promotions of due delayed keys and
    /// re-adds of a key being processed).
    pub adds: u64,
    /// Adds of a key that was already dirty (merged into the pending delivery).
    pub deduped: u64,
    /// Rate-limited adds ([`WorkQueue::add_rate_limited`]).
    pub retries: u64,
    /// Keys handed out by `get`/`try_get`.
    pub gets: u64,
    /// `done` calls that ended processing.
    pub dones: u64,
    /// Sum of all work durations (handed out → done); zero when timing is off.
    pub work_time: Duration,
    /// Ready keys, sampled at every add.
    pub depth: Histogram<u64>,
    /// Nanoseconds from the add that made a key dirty to the `get` that handed it out.
    pub queue_latency: Histogram<u64>,
    /// Nanoseconds from `get` to `done`.
    pub work_duration: Histogram<u64>,
}

impl QueueMetricsSnapshot {
    /// Empty metrics.
    pub fn new() -> Self {
        QueueMetricsSnapshot {
            adds: 0,
            deduped: 0,
            retries: 0,
            gets: 0,
            dones: 0,
            work_time: Duration::ZERO,
            depth: new_histogram(),
            queue_latency: new_histogram(),
            work_duration: new_histogram(),
        }
    }

    /// Adds `other`'s counters and histograms to these (e.g. to sum the queues of a
    /// sharded dispatcher).
    pub fn merge(&mut self, other: &QueueMetricsSnapshot) {
        self.adds += other.adds;
        self.deduped += other.deduped;
        self.retries += other.retries;
        self.gets += other.gets;
        self.dones += other.dones;
        self.work_time += other.work_time;
        // Auto-resizing histograms of one precision always add.
        let _ = self.depth.add(&other.depth);
        let _ = self.queue_latency.add(&other.queue_latency);
        let _ = self.work_duration.add(&other.work_duration);
    }
}

impl Default for QueueMetricsSnapshot {
    fn default() -> Self {
        QueueMetricsSnapshot::new()
    }
}

/// Per-key state (see the module docs for the protocol).
#[derive(Default)]
struct Entry {
    dirty: bool,
    processing: bool,
    /// The live waiting entry: (due, sequence number of its heap entry).
    delayed: Option<(Timestamp, u64)>,
    /// Rate-limited adds since the last `forget`.
    failures: u32,
    /// When the key became dirty (metrics only).
    enqueued: Option<Instant>,
    /// When the key was handed out (metrics only).
    started: Option<Instant>,
}

impl Entry {
    fn is_vacant(&self) -> bool {
        !self.dirty && !self.processing && self.delayed.is_none() && self.failures == 0
    }
}

/// A timer-heap entry, ordered by (due, seq) only.
struct Waiting<K> {
    due: Timestamp,
    seq: u64,
    key: K,
}

impl<K> PartialEq for Waiting<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl<K> Eq for Waiting<K> {}
impl<K> PartialOrd for Waiting<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Waiting<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// The queue's state (everything the mutex guards).
pub(crate) struct State<K> {
    items: FnvHashMap<K, Entry>,
    ready: VecDeque<K>,
    timers: BinaryHeap<Reverse<Waiting<K>>>,
    /// Keys with a live waiting entry.
    delayed_live: usize,
    /// Keys being processed.
    processing: usize,
    /// Getters blocked on the condvar (observability for tests).
    waiters: usize,
    seq: u64,
    shutting_down: bool,
    metrics: QueueMetricsSnapshot,
}

impl<K: Clone + Eq + Hash> State<K> {
    /// Makes `key` dirty; pushes it to the FIFO iff it was neither dirty nor
    /// processing. Returns whether it was pushed.
    fn enqueue(&mut self, key: K, timing: bool) -> bool {
        let pushed = match self.items.entry(key) {
            MapEntry::Occupied(mut o) => {
                let e = o.get_mut();
                if e.dirty {
                    self.metrics.deduped += 1;
                    false
                } else {
                    e.dirty = true;
                    if timing {
                        e.enqueued = Some(Instant::now());
                    }
                    self.metrics.adds += 1;
                    if e.processing {
                        false
                    } else {
                        self.ready.push_back(o.key().clone());
                        true
                    }
                }
            }
            MapEntry::Vacant(v) => {
                self.ready.push_back(v.key().clone());
                v.insert(Entry {
                    dirty: true,
                    enqueued: timing.then(Instant::now),
                    ..Entry::default()
                });
                self.metrics.adds += 1;
                true
            }
        };
        if timing {
            record(&mut self.metrics.depth, self.ready.len() as u64);
        }
        pushed
    }

    /// Pops the oldest ready key into processing.
    fn pop_ready(&mut self, timing: bool) -> Option<K> {
        let key = self.ready.pop_front()?;
        let e = self.items.get_mut(&key).expect("a ready key has an entry");
        debug_assert!(e.dirty && !e.processing);
        e.dirty = false;
        e.processing = true;
        self.processing += 1;
        self.metrics.gets += 1;
        if timing {
            let now = Instant::now();
            if let Some(t) = e.enqueued.take() {
                record(
                    &mut self.metrics.queue_latency,
                    nanos(now.saturating_duration_since(t)),
                );
            }
            e.started = Some(now);
        }
        Some(key)
    }

    /// Sets (or keeps an earlier) waiting entry for `key`. Returns whether the entry
    /// became the earliest of the heap (a sleeping getter must recompute its timeout).
    fn wait_until(&mut self, key: K, due: Timestamp) -> bool {
        let seq = self.seq;
        match self.items.entry(key) {
            MapEntry::Occupied(mut o) => {
                let e = o.get_mut();
                match e.delayed {
                    Some((d, _)) if d <= due => return false,
                    Some(_) => {}
                    None => self.delayed_live += 1,
                }
                e.delayed = Some((due, seq));
                let key = o.key().clone();
                self.push_timer(key, due, seq)
            }
            MapEntry::Vacant(v) => {
                let key = v.key().clone();
                v.insert(Entry {
                    delayed: Some((due, seq)),
                    ..Entry::default()
                });
                self.delayed_live += 1;
                self.push_timer(key, due, seq)
            }
        }
    }

    fn push_timer(&mut self, key: K, due: Timestamp, seq: u64) -> bool {
        self.seq += 1;
        let earliest = self.timers.peek().is_none_or(|Reverse(top)| due < top.due);
        self.timers.push(Reverse(Waiting { due, seq, key }));
        earliest
    }

    /// Whether a heap entry is the live waiting entry of its key.
    fn is_live(&self, w: &Waiting<K>) -> bool {
        self.items.get(&w.key).and_then(|e| e.delayed) == Some((w.due, w.seq))
    }

    /// The earliest live due time, dropping superseded heap entries on the way.
    fn earliest_live(&mut self) -> Option<Timestamp> {
        while let Some(Reverse(top)) = self.timers.peek() {
            if self.is_live(top) {
                return Some(top.due);
            }
            self.timers.pop();
        }
        None
    }

    /// Promotes every waiting entry due at `now`; returns how many keys were pushed
    /// to the FIFO.
    fn promote(&mut self, now: Timestamp, timing: bool) -> usize {
        let mut pushed = 0;
        while let Some(Reverse(top)) = self.timers.peek() {
            if top.due > now {
                break;
            }
            let Some(Reverse(w)) = self.timers.pop() else {
                break;
            };
            if !self.is_live(&w) {
                continue;
            }
            if let Some(e) = self.items.get_mut(&w.key) {
                e.delayed = None;
            }
            self.delayed_live -= 1;
            if self.enqueue(w.key, timing) {
                pushed += 1;
            }
        }
        pushed
    }
}

/// How `done` ended (used by the dispatchers for per-worker load figures).
pub(crate) struct Finished {
    /// The key was being processed (the call was not a no-op).
    pub was_processing: bool,
    /// Wall time since it was handed out (when timing is on).
    pub worked: Option<Duration>,
}

/// A work queue with client-go semantics (see the module docs).
///
/// Share it between threads in an `Arc`; every method takes `&self`.
pub struct WorkQueue<K> {
    state: Mutex<State<K>>,
    cond: Condvar,
    clock: Arc<dyn Clock>,
    config: QueueConfig,
}

impl<K: Clone + Eq + Hash + Send + 'static> WorkQueue<K> {
    /// An empty queue on `clock` with client-go's default backoff.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        WorkQueue::with_config(clock, QueueConfig::default())
    }

    /// An empty queue on `clock` with `config`.
    pub fn with_config(clock: Arc<dyn Clock>, config: QueueConfig) -> Self {
        WorkQueue {
            state: Mutex::new(State {
                items: FnvHashMap::default(),
                ready: VecDeque::new(),
                timers: BinaryHeap::new(),
                delayed_live: 0,
                processing: 0,
                waiters: 0,
                seq: 0,
                shutting_down: false,
                metrics: QueueMetricsSnapshot::new(),
            }),
            cond: Condvar::new(),
            clock,
            config,
        }
    }

    /// The queue's configuration.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// The queue's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Queues `key` unless it is already queued; if it is being processed it is only
    /// marked dirty and queued again by [`WorkQueue::done`]. Ignored after shutdown.
    pub fn add(&self, key: K) {
        let mut st = self.state.lock();
        if st.shutting_down {
            return;
        }
        if st.enqueue(key, self.config.metrics) {
            self.cond.notify_one();
        }
    }

    /// [`WorkQueue::add`] of every key in order, under one lock acquisition (the same
    /// as the adds made back to back: no other call interleaves). One `notify_one` per
    /// key pushed to the FIFO, as `add` sends. Ignored after shutdown.
    pub fn add_many(&self, keys: impl IntoIterator<Item = K>) {
        let mut st = self.state.lock();
        if st.shutting_down {
            return;
        }
        for key in keys {
            if st.enqueue(key, self.config.metrics) {
                self.cond.notify_one();
            }
        }
    }

    /// Adds `key` once `delay` has passed on the queue's clock (`delay` zero = `add`).
    /// A key already waiting keeps the earlier of its two due times. Ignored after
    /// shutdown.
    pub fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let due = due_after(self.clock.now(), delay);
        let mut st = self.state.lock();
        if st.shutting_down {
            return;
        }
        if st.wait_until(key, due) {
            // A getter sleeping until a later due time must recompute its timeout.
            self.cond.notify_one();
        }
    }

    /// `add_after(key, backoff)` where the backoff doubles with each rate-limited add
    /// of `key` since its last [`WorkQueue::forget`] (see [`QueueConfig::backoff`]).
    pub fn add_rate_limited(&self, key: K) {
        let now = self.clock.now();
        let mut st = self.state.lock();
        if st.shutting_down {
            return;
        }
        let e = st.items.entry(key.clone()).or_default();
        let failures = e.failures;
        e.failures = e.failures.saturating_add(1);
        st.metrics.retries += 1;
        let delay = self.config.backoff(failures);
        let woke = if delay.is_zero() {
            st.enqueue(key, self.config.metrics)
        } else {
            st.wait_until(key, due_after(now, delay))
        };
        if woke {
            self.cond.notify_one();
        }
    }

    /// Resets `key`'s backoff (call it when the key was processed successfully).
    pub fn forget(&self, key: &K) {
        let mut st = self.state.lock();
        if let Some(e) = st.items.get_mut(key) {
            e.failures = 0;
            if e.is_vacant() {
                st.items.remove(key);
            }
        }
    }

    /// Rate-limited adds of `key` since its last `forget`.
    pub fn num_requeues(&self, key: &K) -> u32 {
        self.state.lock().items.get(key).map_or(0, |e| e.failures)
    }

    /// Blocks until a key is ready and hands it out (it moves to processing), or
    /// returns `None` once the queue is shut down and nothing is ready. Due delayed
    /// keys are promoted first; with delayed keys waiting, sleeps until the earliest
    /// due time (real clock) and looks again.
    pub fn get(&self) -> Option<K> {
        self.get_until(&|| false)
    }

    /// Like [`WorkQueue::get`], but also returns `None` when `stop()` is true; `stop` is
    /// evaluated under the queue lock each time the getter wakes, and whoever makes it
    /// true must call [`WorkQueue::wake_all`] afterwards.
    pub(crate) fn get_until(&self, stop: &dyn Fn() -> bool) -> Option<K> {
        let timing = self.config.metrics;
        let mut st = self.state.lock();
        loop {
            if stop() {
                if !st.ready.is_empty() {
                    // Pass on a wake-up this getter may have consumed.
                    self.cond.notify_one();
                }
                return None;
            }
            if !st.shutting_down {
                let now = self.clock.now();
                let pushed = st.promote(now, timing);
                if pushed > 1 {
                    self.cond.notify_all();
                }
            }
            if let Some(key) = st.pop_ready(timing) {
                return Some(key);
            }
            if st.shutting_down {
                return None;
            }
            st.waiters += 1;
            match st.earliest_live() {
                Some(due) => {
                    let wait = due
                        .since(self.clock.now())
                        .clamp(Duration::from_millis(1), MAX_TIMER_WAIT);
                    self.cond.wait_for(&mut st, wait);
                }
                None => self.cond.wait(&mut st),
            }
            st.waiters -= 1;
        }
    }

    /// Hands out the oldest ready key (after promoting due delayed keys), or `None`
    /// without blocking.
    pub fn try_get(&self) -> Option<K> {
        let timing = self.config.metrics;
        let mut st = self.state.lock();
        if !st.shutting_down {
            let now = self.clock.now();
            if st.promote(now, timing) > 0 {
                // Other blocked getters may take the rest.
                self.cond.notify_all();
            }
        }
        st.pop_ready(timing)
    }

    /// Ends processing of `key`; if it was added meanwhile it is queued again (at the
    /// back). Returns `false` (and does nothing) if `key` was not being processed.
    pub fn done(&self, key: &K) -> bool {
        self.finish(key).was_processing
    }

    pub(crate) fn finish(&self, key: &K) -> Finished {
        self.finish_inner(key, false)
    }

    /// [`WorkQueue::forget`] then [`finish`](Self::finish), under one lock acquisition.
    pub(crate) fn finish_forget(&self, key: &K) -> Finished {
        self.finish_inner(key, true)
    }

    fn finish_inner(&self, key: &K, forget: bool) -> Finished {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let Some(e) = st.items.get_mut(key) else {
            return Finished {
                was_processing: false,
                worked: None,
            };
        };
        if forget {
            e.failures = 0;
        }
        if !e.processing {
            if forget && e.is_vacant() {
                st.items.remove(key);
            }
            return Finished {
                was_processing: false,
                worked: None,
            };
        }
        e.processing = false;
        st.processing -= 1;
        st.metrics.dones += 1;
        let worked = e.started.take().map(|t| t.elapsed());
        if let Some(w) = worked {
            record(&mut st.metrics.work_duration, nanos(w));
            st.metrics.work_time += w;
        }
        if e.dirty {
            st.ready.push_back(key.clone());
            self.cond.notify_one();
        } else if e.is_vacant() {
            st.items.remove(key);
        }
        Finished {
            was_processing: true,
            worked,
        }
    }

    /// The earliest due time of a delayed key, if any (a discrete-event loop jumps its
    /// clock there).
    pub fn next_due(&self) -> Option<Timestamp> {
        self.state.lock().earliest_live()
    }

    /// Moves every delayed key due on the clock to the ready FIFO; returns how many were
    /// queued (a due key already queued or being processed is merged, as by `add`).
    pub fn promote_due(&self) -> usize {
        let mut st = self.state.lock();
        if st.shutting_down {
            return 0;
        }
        let pushed = st.promote(self.clock.now(), self.config.metrics);
        if pushed > 0 {
            self.cond.notify_all();
        }
        pushed
    }

    /// Ready keys (due delayed keys count once promoted).
    pub fn len(&self) -> usize {
        self.state.lock().ready.len()
    }

    /// Whether no key is ready.
    pub fn is_empty(&self) -> bool {
        self.state.lock().ready.is_empty()
    }

    /// Keys waiting for a due time.
    pub fn delayed_len(&self) -> usize {
        self.state.lock().delayed_live
    }

    /// Keys being processed.
    pub fn processing_len(&self) -> usize {
        self.state.lock().processing
    }

    /// Nothing ready, nothing delayed, nothing being processed.
    pub fn is_empty_and_idle(&self) -> bool {
        let st = self.state.lock();
        st.ready.is_empty() && st.delayed_live == 0 && st.processing == 0
    }

    /// The queue's lock, if the queue is empty and idle: holding the guards of several
    /// queues at once shows them all idle at one instant.
    pub(crate) fn lock_if_idle(&self) -> Option<MutexGuard<'_, State<K>>> {
        let st = self.state.lock();
        (st.ready.is_empty() && st.delayed_live == 0 && st.processing == 0).then_some(st)
    }

    /// Stops the queue: later adds are ignored, delayed keys are dropped, blocked
    /// getters wake; ready keys are still handed out (see the module docs).
    pub fn shutdown(&self) {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        st.shutting_down = true;
        for Reverse(w) in std::mem::take(&mut st.timers) {
            if let Some(e) = st.items.get_mut(&w.key) {
                if e.delayed == Some((w.due, w.seq)) {
                    e.delayed = None;
                    if e.is_vacant() {
                        st.items.remove(&w.key);
                    }
                }
            }
        }
        st.delayed_live = 0;
        self.cond.notify_all();
    }

    /// Whether [`WorkQueue::shutdown`] was called.
    pub fn shutting_down(&self) -> bool {
        self.state.lock().shutting_down
    }

    /// Getters blocked in `get` right now.
    #[cfg(test)]
    pub(crate) fn waiters(&self) -> usize {
        self.state.lock().waiters
    }

    /// Wakes every blocked getter (they re-check their stop condition).
    pub(crate) fn wake_all(&self) {
        let _st = self.state.lock();
        self.cond.notify_all();
    }

    /// A copy of the metrics.
    pub fn metrics(&self) -> QueueMetricsSnapshot {
        self.state.lock().metrics.clone()
    }

    /// Zeroes the metrics.
    pub fn reset_metrics(&self) {
        self.state.lock().metrics = QueueMetricsSnapshot::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::ManualClock;
    use std::thread;

    fn queue() -> (Arc<ManualClock>, WorkQueue<&'static str>) {
        let clock = Arc::new(ManualClock::default());
        (clock.clone(), WorkQueue::new(clock))
    }

    fn drain(q: &WorkQueue<&'static str>) -> Vec<&'static str> {
        let mut out = Vec::new();
        while let Some(k) = q.try_get() {
            out.push(k);
            q.done(&k);
        }
        out
    }

    #[test]
    fn fifo_and_dedup() {
        let (_, q) = queue();
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.len(), 2);
        assert_eq!(drain(&q), ["a", "b"]);
        let m = q.metrics();
        assert_eq!((m.adds, m.deduped, m.gets, m.dones), (2, 1, 2, 2));
        assert!(q.is_empty_and_idle());
    }

    #[test]
    fn add_many_is_a_run_of_adds() {
        let (_, q) = queue();
        q.add("b");
        assert_eq!(q.try_get(), Some("b"));
        q.add_many(["a", "b", "a", "c"]);
        // "b" is processing: only marked dirty; "a" deduped once.
        assert_eq!(q.len(), 2);
        assert!(q.done(&"b"));
        assert_eq!(drain(&q), ["a", "c", "b"]);
        let m = q.metrics();
        assert_eq!((m.adds, m.deduped), (4, 1));
        q.shutdown();
        q.add_many(["d"]);
        assert_eq!(q.try_get(), None);
    }

    #[test]
    fn finish_forget_is_forget_then_done() {
        let (clock, q) = queue();
        q.add_rate_limited("a");
        clock.advance(Duration::from_millis(10));
        assert_eq!(q.try_get(), Some("a"));
        assert_eq!(q.num_requeues(&"a"), 1);
        q.add("a");
        let f = q.finish_forget(&"a");
        assert!(f.was_processing);
        assert_eq!(q.num_requeues(&"a"), 0);
        // Dirty while processing: queued again.
        assert_eq!(q.try_get(), Some("a"));
        assert!(q.finish_forget(&"a").was_processing);
        assert!(q.is_empty_and_idle());
        // Not processing: a no-op for done, still a forget.
        q.add_rate_limited("b");
        assert!(!q.finish_forget(&"b").was_processing);
        assert_eq!(q.num_requeues(&"b"), 0);
        assert_eq!(q.delayed_len(), 1);
    }

    #[test]
    fn never_handed_out_while_processing() {
        let (_, q) = queue();
        q.add("a");
        assert_eq!(q.try_get(), Some("a"));
        q.add("a");
        q.add("a");
        // Dirty while processing: not in the FIFO.
        assert_eq!(q.len(), 0);
        assert_eq!(q.try_get(), None);
        assert_eq!(q.processing_len(), 1);
        assert!(q.done(&"a"));
        // Re-queued once by done.
        assert_eq!(q.len(), 1);
        assert_eq!(q.try_get(), Some("a"));
        assert!(q.done(&"a"));
        assert_eq!(q.try_get(), None);
        assert!(q.is_empty_and_idle());
    }

    #[test]
    fn done_of_unknown_key_is_a_no_op() {
        let (_, q) = queue();
        assert!(!q.done(&"a"));
        q.add("a");
        // Queued, not processing: done must not queue it twice.
        assert!(!q.done(&"a"));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn delayed_add_waits_for_virtual_time() {
        let (clock, q) = queue();
        let t0 = clock.now();
        q.add_after("a", Duration::from_secs(5));
        assert_eq!(q.delayed_len(), 1);
        assert_eq!(q.next_due(), Some(t0.plus(Duration::from_secs(5))));
        assert_eq!(q.try_get(), None);
        clock.advance(Duration::from_millis(4_999));
        assert_eq!(q.try_get(), None);
        assert!(!q.is_empty_and_idle());
        clock.advance(Duration::from_millis(1));
        assert_eq!(q.promote_due(), 1);
        assert_eq!(q.delayed_len(), 0);
        assert_eq!(q.next_due(), None);
        assert_eq!(q.try_get(), Some("a"));
    }

    #[test]
    fn sub_millisecond_delay_rounds_up() {
        let (clock, q) = queue();
        q.add_after("a", Duration::from_micros(10));
        assert_eq!(q.try_get(), None);
        assert_eq!(
            q.next_due(),
            Some(clock.now().plus(Duration::from_millis(1)))
        );
        q.add_after("b", Duration::ZERO);
        assert_eq!(q.try_get(), Some("b"));
    }

    #[test]
    fn waiting_key_keeps_the_earlier_due_time() {
        let (clock, q) = queue();
        let t0 = clock.now();
        q.add_after("a", Duration::from_secs(10));
        q.add_after("a", Duration::from_secs(3));
        q.add_after("a", Duration::from_secs(7));
        assert_eq!(q.delayed_len(), 1);
        assert_eq!(q.next_due(), Some(t0.plus(Duration::from_secs(3))));
        clock.advance(Duration::from_secs(3));
        assert_eq!(q.try_get(), Some("a"));
        q.done(&"a");
        // The superseded 10 s and 7 s entries are gone, not delivered later.
        assert_eq!(q.next_due(), None);
        clock.advance(Duration::from_secs(10));
        assert_eq!(q.try_get(), None);
        assert!(q.is_empty_and_idle());
    }

    #[test]
    fn delayed_and_immediate_adds_are_independent() {
        // client-go: the waiting entry stays when the key is added directly.
        let (clock, q) = queue();
        q.add_after("a", Duration::from_secs(1));
        q.add("a");
        assert_eq!(drain(&q), ["a"]);
        clock.advance(Duration::from_secs(1));
        assert_eq!(drain(&q), ["a"]);
    }

    #[test]
    fn due_key_being_processed_is_delivered_after_done() {
        let (clock, q) = queue();
        q.add("a");
        assert_eq!(q.try_get(), Some("a"));
        q.add_after("a", Duration::from_millis(10));
        clock.advance(Duration::from_millis(10));
        assert_eq!(q.promote_due(), 0, "merged into processing");
        assert_eq!(q.try_get(), None);
        q.done(&"a");
        assert_eq!(q.try_get(), Some("a"));
    }

    #[test]
    fn delayed_keys_come_out_in_due_order() {
        let (clock, q) = queue();
        q.add_after("c", Duration::from_millis(30));
        q.add_after("a", Duration::from_millis(10));
        q.add_after("b", Duration::from_millis(20));
        q.add_after("d", Duration::from_millis(20));
        clock.advance(Duration::from_millis(30));
        assert_eq!(drain(&q), ["a", "b", "d", "c"]);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let c = QueueConfig::default();
        assert_eq!(c.backoff(0), Duration::from_millis(5));
        assert_eq!(c.backoff(1), Duration::from_millis(10));
        assert_eq!(c.backoff(10), Duration::from_millis(5 * 1024));
        // 5 ms · 2^18 = 1310.72 s > 1000 s.
        assert_eq!(c.backoff(17), Duration::from_millis(5 * 131_072));
        assert_eq!(c.backoff(18), Duration::from_secs(1000));
        assert_eq!(c.backoff(200), Duration::from_secs(1000));
        let custom = QueueConfig {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(4),
            metrics: false,
        };
        assert_eq!(
            (0..4)
                .map(|n| custom.backoff(n).as_secs())
                .collect::<Vec<_>>(),
            [1, 2, 4, 4]
        );
    }

    #[test]
    fn rate_limited_adds_back_off_until_forget() {
        let (clock, q) = queue();
        let t0 = clock.now();
        for (n, ms) in [(0u32, 5u64), (1, 10), (2, 20), (3, 40)] {
            assert_eq!(q.num_requeues(&"a"), n);
            q.add_rate_limited("a");
            let due = q.next_due().unwrap();
            assert_eq!(due, clock.now().plus(Duration::from_millis(ms)));
            clock.set(due);
            assert_eq!(q.try_get(), Some("a"));
            q.done(&"a");
        }
        assert_eq!(q.num_requeues(&"a"), 4);
        assert_eq!(q.metrics().retries, 4);
        q.forget(&"a");
        assert_eq!(q.num_requeues(&"a"), 0);
        q.add_rate_limited("a");
        assert_eq!(
            q.next_due(),
            Some(clock.now().plus(Duration::from_millis(5)))
        );
        assert!(clock.now() > t0);
        // Forgetting other keys or unknown keys is harmless.
        q.forget(&"zzz");
    }

    #[test]
    fn forget_keeps_queued_state() {
        let (_, q) = queue();
        q.add_rate_limited("a");
        q.forget(&"a");
        // Still waiting: forget resets the backoff only.
        assert_eq!(q.delayed_len(), 1);
    }

    #[test]
    fn shutdown_wakes_blocked_getters() {
        let clock = Arc::new(ManualClock::default());
        let q = Arc::new(WorkQueue::<u32>::new(clock));
        let getters: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || q.get())
            })
            .collect();
        // Whether a getter has blocked yet or not, it must return None: a blocked one
        // is woken, a late one sees the shutdown flag under the lock.
        q.shutdown();
        for g in getters {
            assert_eq!(g.join().unwrap(), None);
        }
        assert!(q.shutting_down());
    }

    #[test]
    fn blocked_getter_receives_a_later_add() {
        let clock = Arc::new(ManualClock::default());
        let q = Arc::new(WorkQueue::<u32>::new(clock));
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get())
        };
        q.add(7);
        assert_eq!(getter.join().unwrap(), Some(7));
    }

    #[test]
    fn blocking_get_waits_for_a_real_due_time() {
        let q = WorkQueue::<u32>::new(Arc::new(crate::time::SystemClock));
        let start = Instant::now();
        q.add_after(1, Duration::from_millis(20));
        assert_eq!(q.try_get(), None);
        assert_eq!(q.get(), Some(1));
        assert!(start.elapsed() >= Duration::from_millis(19));
    }

    #[test]
    fn shutdown_drains_ready_and_ignores_adds() {
        let (_, q) = queue();
        q.add("a");
        q.add("b");
        assert_eq!(q.try_get(), Some("a"));
        q.add("a");
        q.add_after("c", Duration::from_secs(1));
        q.shutdown();
        q.add("d");
        q.add_after("e", Duration::from_secs(1));
        assert_eq!(q.delayed_len(), 0);
        assert_eq!(q.next_due(), None);
        assert_eq!(q.get(), Some("b"));
        q.done(&"b");
        q.done(&"a");
        // "a" was dirty while processing: done still re-queues it.
        assert_eq!(q.get(), Some("a"));
        q.done(&"a");
        assert_eq!(q.get(), None);
        assert!(q.is_empty_and_idle());
    }

    #[test]
    fn metrics_record_depth_latency_and_work() {
        let (_, q) = queue();
        q.add("a");
        q.add("b");
        q.add("c");
        let a = q.try_get().unwrap();
        q.done(&a);
        let m = q.metrics();
        assert_eq!(m.depth.len(), 3);
        assert_eq!(m.depth.max(), 3);
        assert_eq!(m.queue_latency.len(), 1);
        assert_eq!(m.work_duration.len(), 1);
        q.reset_metrics();
        let m = q.metrics();
        assert_eq!((m.adds, m.gets, m.depth.len()), (0, 0, 0));

        let off = WorkQueue::with_config(
            Arc::new(ManualClock::default()),
            QueueConfig {
                metrics: false,
                ..QueueConfig::default()
            },
        );
        off.add(1u8);
        let k = off.try_get().unwrap();
        off.done(&k);
        let m = off.metrics();
        assert_eq!((m.adds, m.gets, m.dones), (1, 1, 1));
        assert_eq!(
            m.queue_latency.len() + m.work_duration.len() + m.depth.len(),
            0
        );
    }

    #[test]
    fn entries_are_released() {
        let (clock, q) = queue();
        for k in ["a", "b", "c"] {
            q.add(k);
            q.add_after(k, Duration::from_millis(1));
        }
        clock.advance(Duration::from_millis(1));
        drain(&q);
        drain(&q);
        assert!(q.state.lock().items.is_empty());
    }
}
