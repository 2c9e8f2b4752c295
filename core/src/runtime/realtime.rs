//! Real time: [`Runtime::start`] runs controllers on pump and worker threads
//! (protocol in the [module docs](super)).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use fnv::FnvBuildHasher;
use parking_lot::{Condvar, Mutex};

use super::ctx::rng_seed;
use super::exec::{self, ControllerRt};
use super::metrics::{ControllerMetrics, Latency, LogEntry, LogKind, RuntimeLog, RuntimeMetrics};
use super::{check_names, Controller, ObjectKey, RuntimeError};
use crate::dispatch::{self, DispatchConfig, Dispatcher, ReshardReport, Strategy};
use crate::model::Kind;
use crate::store::{Store, WatchEvent, WatchEventType};
use crate::workqueue::QueueConfig;

/// How long a pump waits for an event before it looks at the stop flag again (also
/// the longest a pump's "caught up" mark lags when its kind sees no events).
const PUMP_WAIT: Duration = Duration::from_millis(10);

/// [`RuntimeConfig::pump_spins`] by default.
pub const DEFAULT_PUMP_SPINS: usize = 4;

/// Events a pump takes from its watcher at once.
const PUMP_BATCH: usize = 512;

/// The longest [`RunningRuntime::wait_idle`] sleeps before checking again (wake-ups
/// come earlier, from pumps and workers).
const IDLE_POLL: Duration = Duration::from_millis(5);

/// How a [`Runtime`] runs.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// The sharding strategy of every controller's dispatcher.
    pub strategy: Strategy,
    /// Worker threads per controller.
    pub workers: usize,
    /// Worker slots per controller (the most ids [`RunningRuntime::add_worker`] can
    /// ever hand out).
    pub max_workers: usize,
    /// Seed of the reconciles' RNGs.
    pub seed: u64,
    /// Backoff of the queues, and whether wall-clock timing metrics (queue latency,
    /// work duration, busy time, and the event-to-reconcile latency) are recorded.
    pub queue: QueueConfig,
    /// Print log entries to stderr too.
    pub verbose: bool,
    /// Log entries kept.
    pub log_capacity: usize,
    /// How many times a pump that has caught up yields its CPU (checking for new
    /// events after each yield) before it parks on its watch. A pump that is awake
    /// when a writer's next events arrive costs neither side a futex wake-up; with
    /// busy writers on few cores this is most of the pump's cost. 0 parks at once.
    pub pump_spins: usize,
}

impl RuntimeConfig {
    /// `workers` workers per controller under `strategy`; seed 0, client-go backoff,
    /// timing metrics on.
    pub fn new(strategy: Strategy, workers: usize) -> Self {
        RuntimeConfig {
            strategy,
            workers,
            max_workers: workers.max(DispatchConfig::DEFAULT_MAX_WORKERS),
            seed: 0,
            queue: QueueConfig::default(),
            verbose: false,
            log_capacity: 1000,
            pump_spins: DEFAULT_PUMP_SPINS,
        }
    }
}

impl Default for RuntimeConfig {
    /// `shared` with five workers (kube-controller-manager's usual `ConcurrentSyncs`).
    fn default() -> Self {
        RuntimeConfig::new(Strategy::Shared, 5)
    }
}

/// Starts real-time runs; see [`Runtime::start`].
#[derive(Debug)]
pub struct Runtime;

/// One controller in a real-time run.
struct CtlState {
    rt: ControllerRt,
    /// Key → wall time of its oldest event not yet served by a reconcile start.
    pending: DashMap<ObjectKey, Instant, FnvBuildHasher>,
    latency: Latency,
    /// Reconcile sequence number (RNG seeds).
    seq: AtomicU64,
}

/// One kind's pump.
struct PumpState {
    kind: Kind,
    targets: Vec<usize>,
    /// Every event of the kind with a resourceVersion up to this has been mapped and
    /// its keys added.
    caught_up: AtomicU64,
}

struct Shared {
    store: Store,
    ctls: Vec<CtlState>,
    pumps: Vec<PumpState>,
    stop: AtomicBool,
    log: RuntimeLog,
    seed: u64,
    timing: bool,
    idle_lock: Mutex<()>,
    idle_cond: Condvar,
    idle_waiters: AtomicUsize,
    /// [`RuntimeConfig::pump_spins`].
    pump_spins: usize,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Wakes `wait_idle` callers, if any.
    fn notify_idle(&self) {
        if self.idle_waiters.load(Ordering::SeqCst) > 0 {
            let _g = self.idle_lock.lock();
            self.idle_cond.notify_all();
        }
    }

    fn is_idle(&self) -> bool {
        let rv = self.store.resource_version();
        self.pumps
            .iter()
            .all(|p| p.caught_up.load(Ordering::Acquire) >= rv)
            && self.ctls.iter().all(|c| c.rt.dispatcher.is_idle())
            && self.store.resource_version() == rv
    }

    fn log_watch(&self, kind: Kind, message: String) {
        self.log.push(LogEntry {
            time: self.store.clock().now(),
            controller: "",
            key: None,
            kind: LogKind::WatchExpired,
            message: format!("{kind}: {message}"),
        });
    }

    /// Maps a batch of events (in log order) for every controller watching their kind
    /// and adds the keys, one [`Dispatcher::add_batch`] per controller. Every event is
    /// mapped (so `map_event`'s side effects all happen) before any of the batch's keys
    /// is added; a key equal to the one mapped just before it (same key, same affinity)
    /// is added once: both adds would reach the queue before any reconcile of the batch
    /// could start, so the second would be merged into the first anyway, and every
    /// event of the batch was in the store before the batch was read. With timing on,
    /// a key's pending time is the time the pump took the batch (never later than any
    /// of its events being mapped).
    fn deliver(
        &self,
        pump: &PumpState,
        evs: &[WatchEvent],
        keys: &mut Vec<dispatch::Routed<ObjectKey>>,
        batch: &mut Vec<dispatch::Routed<ObjectKey>>,
    ) {
        if evs.is_empty() {
            return;
        }
        let now = self.timing.then(Instant::now);
        for &ci in &pump.targets {
            let cs = &self.ctls[ci];
            batch.clear();
            for ev in evs {
                exec::map_event(&cs.rt, ev, &self.store, &self.log, keys);
                for k in keys.drain(..) {
                    if batch.last() != Some(&k) {
                        batch.push(k);
                    }
                }
            }
            if let Some(now) = now {
                for k in batch.iter() {
                    if !cs.pending.contains_key(&k.key) {
                        cs.pending.entry(k.key.clone()).or_insert(now);
                    }
                }
            }
            cs.rt.dispatcher.add_batch(batch);
        }
    }

    /// A pump thread: list, then watch; relist when the watcher expires.
    fn pump(&self, p: usize) {
        let pump = &self.pumps[p];
        let mut keys = Vec::new();
        let mut batch = Vec::new();
        let mut buf = Vec::with_capacity(PUMP_BATCH);
        'relist: while !self.stopping() {
            let rv = self.store.resource_version();
            let mut watcher = match self.store.watch(pump.kind, rv) {
                Ok(w) => w,
                Err(e) => {
                    // Cannot happen for the current resourceVersion; retry.
                    self.log_watch(pump.kind, e.to_string());
                    thread::sleep(PUMP_WAIT);
                    continue;
                }
            };
            match self.store.list(pump.kind, None, None, None) {
                Ok(objs) => {
                    buf.clear();
                    for object in objs {
                        let resource_version = object.meta().resource_version;
                        buf.push(WatchEvent {
                            type_: WatchEventType::Added,
                            object,
                            resource_version,
                        });
                        if buf.len() == PUMP_BATCH {
                            self.deliver(pump, &buf, &mut keys, &mut batch);
                            buf.clear();
                        }
                    }
                    self.deliver(pump, &buf, &mut keys, &mut batch);
                }
                Err(e) => self.log_watch(pump.kind, format!("list failed: {e}")),
            }
            pump.caught_up.store(rv, Ordering::Release);
            self.notify_idle();
            loop {
                if self.stopping() {
                    return;
                }
                // Read before polling: every event up to `seen` is in the log by then.
                let seen = self.store.resource_version();
                buf.clear();
                match watcher.poll_into(&mut buf, PUMP_BATCH) {
                    Ok(0) => {
                        pump.caught_up.store(seen, Ordering::Release);
                        self.notify_idle();
                        // Caught up: give the CPU to the writers a few times before
                        // parking, so that a busy writer's next events find the pump
                        // awake (no futex wake-up on either side).
                        let spins = self.pump_spins;
                        let mut pending = false;
                        for _ in 0..spins {
                            thread::yield_now();
                            if watcher.has_pending() || self.stopping() {
                                pending = true;
                                break;
                            }
                        }
                        if !pending {
                            watcher.wait_timeout(PUMP_WAIT);
                        }
                    }
                    Ok(_) => self.deliver(pump, &buf, &mut keys, &mut batch),
                    Err(e) => {
                        self.log_watch(pump.kind, format!("{e}; relisting"));
                        continue 'relist;
                    }
                }
            }
        }
    }

    /// A worker thread: worker `w` of controller `ci`, until its `next` says stop.
    fn work(&self, ci: usize, w: usize) {
        let cs = &self.ctls[ci];
        let d = &cs.rt.dispatcher;
        let name = cs.rt.ctl.name();
        while let Some(key) = d.next(w) {
            if self.timing {
                if let Some((_, t)) = cs.pending.remove(&key) {
                    cs.latency.record(w, t.elapsed());
                }
            }
            let n = cs.seq.fetch_add(1, Ordering::Relaxed);
            let now = self.store.clock().now();
            let seed = rng_seed(self.seed, name, &key, n);
            let requeues = d.num_requeues(&key);
            let outcome = exec::reconcile(&*cs.rt.ctl, &key, &self.store, now, seed, requeues);
            exec::finish(&cs.rt, &self.store, &self.log, w, &key, outcome, now);
            self.notify_idle();
        }
    }
}

/// A real-time run in progress. Dropping it stops it (as [`RunningRuntime::stop`]).
pub struct RunningRuntime {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl fmt::Debug for RunningRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningRuntime")
            .field(
                "controllers",
                &self
                    .shared
                    .ctls
                    .iter()
                    .map(|c| c.rt.ctl.name())
                    .collect::<Vec<_>>(),
            )
            .field("threads", &self.threads.lock().len())
            .finish()
    }
}

impl Runtime {
    /// Starts `controllers` on `store`: one pump thread per watched kind and
    /// `config.workers` worker threads per controller, each controller with its own
    /// dispatcher of `config.strategy` on the store's clock. Objects already in the
    /// store are listed and mapped as `Added` events.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::DuplicateController`], [`RuntimeError::Dispatch`] (bad worker
    /// counts), [`RuntimeError::Threads`].
    pub fn start(
        store: Store,
        controllers: Vec<Arc<dyn Controller>>,
        config: RuntimeConfig,
    ) -> Result<RunningRuntime, RuntimeError> {
        check_names(&controllers)?;
        let mut dc = DispatchConfig::new(config.workers);
        dc.max_workers = config.max_workers;
        dc.queue = config.queue.clone();
        let clock = store.clock().clone();
        let mut ctls = Vec::with_capacity(controllers.len());
        for ctl in controllers {
            let d = dispatch::build(config.strategy, dc.clone(), clock.clone())?;
            let mut rt = ControllerRt::new(ctl, d);
            // No affinity lookups for a dispatcher that does not read them.
            rt.routing = config.strategy.uses_affinity();
            ctls.push(CtlState {
                rt,
                pending: DashMap::with_hasher(FnvBuildHasher::default()),
                latency: Latency::new(config.max_workers),
                seq: AtomicU64::new(0),
            });
        }
        let mut kinds: Vec<Kind> = ctls.iter().flat_map(|c| c.rt.kinds.clone()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let pumps = kinds
            .into_iter()
            .map(|kind| PumpState {
                kind,
                targets: (0..ctls.len())
                    .filter(|&i| ctls[i].rt.kinds.contains(&kind))
                    .collect(),
                caught_up: AtomicU64::new(0),
            })
            .collect();
        let shared = Arc::new(Shared {
            store,
            ctls,
            pumps,
            stop: AtomicBool::new(false),
            log: RuntimeLog::new(config.log_capacity, config.verbose),
            seed: config.seed,
            timing: config.queue.metrics,
            idle_lock: Mutex::new(()),
            idle_cond: Condvar::new(),
            idle_waiters: AtomicUsize::new(0),
            pump_spins: config.pump_spins,
        });
        let running = RunningRuntime {
            shared,
            threads: Mutex::new(Vec::new()),
        };
        // On error `running` is dropped, which stops and joins what was started.
        for p in 0..running.shared.pumps.len() {
            let sh = running.shared.clone();
            let name = format!("kubesim-pump-{}", sh.pumps[p].kind);
            running.spawn(name, move || sh.pump(p))?;
        }
        for ci in 0..running.shared.ctls.len() {
            for w in running.shared.ctls[ci].rt.dispatcher.worker_ids() {
                running.spawn_worker(ci, w)?;
            }
        }
        Ok(running)
    }
}

impl RunningRuntime {
    fn spawn(&self, name: String, f: impl FnOnce() + Send + 'static) -> Result<(), RuntimeError> {
        let h = thread::Builder::new()
            .name(name)
            .spawn(f)
            .map_err(|e| RuntimeError::Threads(e.to_string()))?;
        self.threads.lock().push(h);
        Ok(())
    }

    fn spawn_worker(&self, ci: usize, w: usize) -> Result<(), RuntimeError> {
        let sh = self.shared.clone();
        let name = format!("kubesim-{}-{w}", sh.ctls[ci].rt.ctl.name());
        self.spawn(name, move || sh.work(ci, w))
    }

    fn ctl_index(&self, controller: &str) -> Option<usize> {
        self.shared
            .ctls
            .iter()
            .position(|c| c.rt.ctl.name() == controller)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The named controller's dispatcher.
    pub fn dispatcher(&self, controller: &str) -> Option<&Arc<dyn Dispatcher<ObjectKey>>> {
        self.ctl_index(controller)
            .map(|i| &self.shared.ctls[i].rt.dispatcher)
    }

    /// Whether, at one resourceVersion, every watch event has been mapped and every
    /// dispatcher is idle (nothing ready, delayed or being reconciled).
    pub fn is_idle(&self) -> bool {
        self.shared.is_idle()
    }

    /// Waits until [`is_idle`](Self::is_idle) holds, at most `timeout`. Returns
    /// whether it did. A controller with a pending requeue-after timer is not idle
    /// until the timer fires and its reconcile ends.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let sh = &self.shared;
        let deadline = Instant::now() + timeout;
        loop {
            if sh.is_idle() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            sh.idle_waiters.fetch_add(1, Ordering::SeqCst);
            {
                let mut g = sh.idle_lock.lock();
                // Re-checked under the lock notifiers take: a notify after this check
                // wakes the wait below.
                if !sh.is_idle() {
                    sh.idle_cond
                        .wait_for(&mut g, (deadline - now).min(IDLE_POLL));
                }
            }
            sh.idle_waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Adds a worker thread to the named controller (strategies `shared`,
    /// `consistent`, `steal`); returns what the dispatcher did.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::InvalidConfig`] for an unknown controller,
    /// [`RuntimeError::Dispatch`] when the strategy cannot reshard or every worker
    /// slot was used, [`RuntimeError::Threads`].
    pub fn add_worker(&self, controller: &str) -> Result<ReshardReport, RuntimeError> {
        let ci = self
            .ctl_index(controller)
            .ok_or_else(|| RuntimeError::InvalidConfig(format!("no controller {controller:?}")))?;
        let report = self.shared.ctls[ci].rt.dispatcher.add_worker()?;
        self.spawn_worker(ci, report.worker)?;
        Ok(report)
    }

    /// Removes a worker of the named controller; its thread ends after its current
    /// reconcile, and its keys go to the other workers.
    ///
    /// # Errors
    ///
    /// As [`add_worker`](Self::add_worker), and [`RuntimeError::Dispatch`] for an
    /// unknown or last worker.
    pub fn remove_worker(
        &self,
        controller: &str,
        worker: usize,
    ) -> Result<ReshardReport, RuntimeError> {
        let ci = self
            .ctl_index(controller)
            .ok_or_else(|| RuntimeError::InvalidConfig(format!("no controller {controller:?}")))?;
        Ok(self.shared.ctls[ci].rt.dispatcher.remove_worker(worker)?)
    }

    /// Per-controller figures now.
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics {
            controllers: self
                .shared
                .ctls
                .iter()
                .map(|c| {
                    ControllerMetrics::new(
                        c.rt.ctl.name(),
                        &c.rt.counters,
                        c.rt.dispatcher.load(),
                        c.rt.dispatcher.metrics(),
                        c.latency.merged(),
                    )
                })
                .collect(),
        }
    }

    /// Zeroes the counters, histograms and load figures (e.g. after a warm-up).
    pub fn reset_metrics(&self) {
        for c in &self.shared.ctls {
            c.rt.counters.reset();
            c.latency.reset();
            c.rt.dispatcher.reset_metrics();
        }
    }

    /// The log's retained entries, oldest first.
    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.log.entries()
    }

    fn shutdown(&self) {
        let sh = &self.shared;
        sh.stop.store(true, Ordering::Release);
        for c in &sh.ctls {
            c.rt.dispatcher.shutdown();
        }
        let threads = std::mem::take(&mut *self.threads.lock());
        for h in threads {
            // Controller panics are caught inside the threads; a thread that still
            // panicked has nothing left to clean up.
            let _ = h.join();
        }
    }

    /// Stops: pumps end, dispatchers shut down (delayed keys are dropped; keys
    /// already ready are still reconciled), and every thread is joined. Returns the
    /// final figures.
    pub fn stop(self) -> RuntimeMetrics {
        self.shutdown();
        self.metrics()
    }
}

impl Drop for RunningRuntime {
    fn drop(&mut self) {
        self.shutdown();
    }
}
