//! The runtime's counters, metrics snapshots and bounded log.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam::utils::CachePadded;
use hdrhistogram::Histogram;
use parking_lot::Mutex;

use super::ObjectKey;
use crate::dispatch::WorkerLoad;
use crate::time::Timestamp;
use crate::workqueue::{self, QueueMetricsSnapshot};

/// What a log entry reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogKind {
    /// `reconcile` returned `Err`.
    ReconcileError,
    /// `reconcile` panicked.
    ReconcilePanic,
    /// Writes of a reconcile failed (the key is retried with backoff).
    WriteFailed,
    /// `map_event` panicked (the event's keys for that controller are lost).
    MapPanic,
    /// `applied` panicked.
    AppliedPanic,
    /// A watcher fell out of the store's event window and relisted.
    WatchExpired,
    /// A virtual-time run hit its round limit at one instant (a hot loop).
    RoundLimit,
}

impl LogKind {
    /// A short name (`reconcile error`, `panic`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::ReconcileError => "reconcile error",
            LogKind::ReconcilePanic => "panic",
            LogKind::WriteFailed => "write failed",
            LogKind::MapPanic => "map_event panic",
            LogKind::AppliedPanic => "applied panic",
            LogKind::WatchExpired => "watch expired",
            LogKind::RoundLimit => "round limit",
        }
    }
}

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// The runtime clock's time (virtual time in a simulation).
    pub time: Timestamp,
    /// The controller (empty for runtime-wide entries).
    pub controller: &'static str,
    /// The key concerned, if any.
    pub key: Option<ObjectKey>,
    /// What happened.
    pub kind: LogKind,
    /// Detail (the error, the panic message, …).
    pub message: String,
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.time,
            self.controller,
            self.kind.as_str()
        )?;
        if let Some(k) = &self.key {
            write!(f, " {k}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A bounded in-memory log (oldest entries dropped first), also printed to stderr
/// when verbose.
#[derive(Debug)]
pub struct RuntimeLog {
    entries: Mutex<VecDeque<LogEntry>>,
    capacity: usize,
    dropped: AtomicU64,
    verbose: bool,
}

impl RuntimeLog {
    /// A log keeping the last `capacity` entries (at least 1).
    pub fn new(capacity: usize, verbose: bool) -> Self {
        RuntimeLog {
            entries: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            dropped: AtomicU64::new(0),
            verbose,
        }
    }

    /// Appends an entry.
    pub fn push(&self, entry: LogEntry) {
        if self.verbose {
            eprintln!("kubesim runtime: {entry}");
        }
        let mut e = self.entries.lock();
        if e.len() >= self.capacity {
            e.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        e.push_back(entry);
    }

    /// The retained entries, oldest first.
    pub fn entries(&self) -> Vec<LogEntry> {
        self.entries.lock().iter().cloned().collect()
    }

    /// Entries dropped because the log was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Per-controller counters (atomics: workers update them concurrently).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) reconciles: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) write_failures: AtomicU64,
    pub(crate) events_recorded: AtomicU64,
    pub(crate) event_errors: AtomicU64,
    /// Bumped by the pumps, the rest by the workers: on a cache line of its own.
    pub(crate) keys_mapped: CachePadded<AtomicU64>,
    pub(crate) map_panics: AtomicU64,
}

impl Counters {
    /// Adds `n` (nothing for 0: the counters share cache lines between workers and
    /// pumps, so an add of nothing is not free).
    pub(crate) fn bump(c: &AtomicU64, n: u64) {
        if n != 0 {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn reset(&self) {
        for c in [
            &self.reconciles,
            &self.errors,
            &self.panics,
            &self.writes,
            &self.write_failures,
            &self.events_recorded,
            &self.event_errors,
            &self.keys_mapped,
            &self.map_panics,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Per-worker event-to-reconcile latency histograms (allocated on first use), merged
/// when a snapshot is taken.
pub(crate) struct Latency {
    slots: Box<[Mutex<Option<Histogram<u64>>>]>,
}

impl Latency {
    pub(crate) fn new(workers: usize) -> Self {
        Latency {
            slots: (0..workers).map(|_| Mutex::new(None)).collect(),
        }
    }

    pub(crate) fn record(&self, worker: usize, latency: Duration) {
        if let Some(slot) = self.slots.get(worker) {
            let mut h = slot.lock();
            let h = h.get_or_insert_with(workqueue::new_histogram);
            workqueue::record(h, workqueue::nanos(latency));
        }
    }

    pub(crate) fn merged(&self) -> Histogram<u64> {
        let mut out = workqueue::new_histogram();
        for slot in self.slots.iter() {
            if let Some(h) = slot.lock().as_ref() {
                // Auto-resizing histograms of one precision always add.
                let _ = out.add(h);
            }
        }
        out
    }

    pub(crate) fn reset(&self) {
        for slot in self.slots.iter() {
            *slot.lock() = None;
        }
    }
}

/// One controller's figures.
#[derive(Clone, Debug)]
pub struct ControllerMetrics {
    /// The controller's name.
    pub name: &'static str,
    /// Reconciles run (including failed and panicked ones).
    pub reconciles: u64,
    /// Reconciles that returned `Err`.
    pub errors: u64,
    /// Reconciles that panicked.
    pub panics: u64,
    /// Objects written (each object of a slow-start batch counts; skipped ones too).
    pub writes: u64,
    /// Writes that failed ([`WriteResult::is_failure`](super::WriteResult::is_failure)).
    pub write_failures: u64,
    /// Kubernetes Events recorded.
    pub events_recorded: u64,
    /// Kubernetes Events the store refused.
    pub event_errors: u64,
    /// Keys produced by `map_event` (before deduplication by the queue).
    pub keys_mapped: u64,
    /// Panics in `map_event` or `applied`.
    pub map_panics: u64,
    /// Per-worker load from the dispatcher (keys handed out, busy time, …).
    pub workers: Vec<WorkerLoad>,
    /// The dispatcher's queue metrics.
    pub queue: QueueMetricsSnapshot,
    /// Wall-clock nanoseconds from the moment the oldest unserved event of a key was
    /// pumped to the start of its reconcile (real time only; empty in a simulation).
    pub latency: Histogram<u64>,
}

impl ControllerMetrics {
    pub(crate) fn new(
        name: &'static str,
        c: &Counters,
        workers: Vec<WorkerLoad>,
        queue: QueueMetricsSnapshot,
        latency: Histogram<u64>,
    ) -> Self {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ControllerMetrics {
            name,
            reconciles: get(&c.reconciles),
            errors: get(&c.errors),
            panics: get(&c.panics),
            writes: get(&c.writes),
            write_failures: get(&c.write_failures),
            events_recorded: get(&c.events_recorded),
            event_errors: get(&c.event_errors),
            keys_mapped: get(&c.keys_mapped),
            map_panics: get(&c.map_panics),
            workers,
            queue,
            latency,
        }
    }
}

/// Figures of every controller of a runtime or simulation.
#[derive(Clone, Debug)]
pub struct RuntimeMetrics {
    /// One entry per controller, in the order they were given.
    pub controllers: Vec<ControllerMetrics>,
}

impl RuntimeMetrics {
    /// The named controller's figures.
    pub fn controller(&self, name: &str) -> Option<&ControllerMetrics> {
        self.controllers.iter().find(|c| c.name == name)
    }

    /// Reconciles over all controllers.
    pub fn reconciles(&self) -> u64 {
        self.controllers.iter().map(|c| c.reconciles).sum()
    }

    /// Panics (reconcile, `map_event`, `applied`) over all controllers.
    pub fn panics(&self) -> u64 {
        self.controllers
            .iter()
            .map(|c| c.panics + c.map_panics)
            .sum()
    }
}
