//! Virtual time: [`Simulation`], the deterministic discrete-event driver (protocol
//! in the [module docs](super)).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::ctx::rng_seed;
use super::exec::{self, ControllerRt, Outcome};
use super::metrics::{ControllerMetrics, LogEntry, LogKind, RuntimeLog, RuntimeMetrics};
use super::{check_names, Controller, ObjectKey, RuntimeError};
use crate::dispatch::{self, stable_hash, DispatchConfig, Dispatcher, Routed, Strategy};
use crate::intern::Str;
use crate::model::Kind;
use crate::store::{Store, StoreConfig, WatchEvent, WatchEventType, Watcher};
use crate::time::{Clock, ManualClock, Timestamp};
use crate::workqueue::{self, QueueConfig};

/// A store on a fresh virtual clock (at [`Timestamp::VIRTUAL_EPOCH`]) with `seed` for
/// uids and generated names, and that clock — what [`Simulation::new`] takes.
pub fn virtual_store(seed: u64) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let store = Store::with_config(StoreConfig {
        clock: clock.clone(),
        seed,
        ..StoreConfig::default()
    });
    (store, clock)
}

/// How a [`Simulation`] runs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seed of the reconciles' RNGs ([`Ctx::rng`](super::Ctx::rng)). (The store has its
    /// own seed for uids and names: [`virtual_store`].)
    pub seed: u64,
    /// Threads running the reconciles of a round (1: on the driver thread). The run is
    /// the same for every value.
    pub threads: usize,
    /// The sharding strategy of the controllers' dispatchers. The run is the same for
    /// every strategy (a round takes every ready key from every worker); it matters
    /// for the dispatchers' load figures.
    pub strategy: Strategy,
    /// Dispatcher workers per controller.
    pub workers: usize,
    /// Backoff of the dispatchers' queues (wall-clock queue metrics are off by
    /// default here: they would measure the simulator).
    pub queue: QueueConfig,
    /// Record every watch event of every kind (see [`Simulation::history`]).
    pub record_history: bool,
    /// Print log entries to stderr too.
    pub verbose: bool,
    /// Log entries kept.
    pub log_capacity: usize,
    /// Rounds at one instant after which `run_until_idle` gives up (a controller that
    /// requeues itself at once forever), logging [`LogKind::RoundLimit`].
    pub max_rounds_per_instant: u64,
    /// Run the pump's `map_event` calls of different controllers in parallel on the
    /// round threads (with `threads > 1`). Each controller still sees every event, in
    /// the same order, on one thread at a time, and adds its keys to its own
    /// dispatcher, so the run is the same; only controllers that share state between
    /// their `map_event`s (none of kubesim's) need this off. Off by default (the
    /// contract in the [module docs](super) promises one driver thread); a
    /// [`Cluster`](crate::cluster::Cluster) turns it on.
    pub parallel_map: bool,
}

impl SimConfig {
    /// One thread, `shared` strategy with one worker, client-go backoff, no history.
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            threads: 1,
            strategy: Strategy::Shared,
            workers: 1,
            queue: QueueConfig {
                metrics: false,
                ..QueueConfig::default()
            },
            record_history: false,
            verbose: false,
            log_capacity: 1000,
            max_rounds_per_instant: 100_000,
            parallel_map: false,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig::new(0)
    }
}

/// One watch event as the simulation's pump saw it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HistoryEntry {
    /// Virtual time when it was pumped.
    pub time: Timestamp,
    /// Kind.
    pub kind: Kind,
    /// Added / Modified / Deleted (objects listed at start or on a relist: Added).
    pub type_: WatchEventType,
    /// Namespace.
    pub namespace: Str,
    /// Name.
    pub name: Str,
    /// The event's resourceVersion.
    pub resource_version: u64,
    /// [`stable_hash`] of the object's Kubernetes JSON ([`crate::model::Object::to_json`]).
    pub digest: u64,
}

impl fmt::Display for HistoryEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {:?} {}/{} rv={} {:016x}",
            self.time.millis(),
            self.kind,
            self.type_,
            self.namespace,
            self.name,
            self.resource_version,
            self.digest
        )
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Rounds with at least one reconcile.
    pub rounds: u64,
    /// Reconciles.
    pub reconciles: u64,
    /// Objects written by reconciles.
    pub writes: u64,
    /// Watch events pumped.
    pub events: u64,
    /// Clock jumps to a timer.
    pub timer_jumps: u64,
    /// Virtual time that passed.
    pub elapsed: Duration,
    /// Whether a hot loop hit [`SimConfig::max_rounds_per_instant`].
    pub round_limit_hit: bool,
}

impl RunStats {
    fn add(&mut self, o: &RunStats) {
        self.rounds += o.rounds;
        self.reconciles += o.reconciles;
        self.writes += o.writes;
        self.events += o.events;
        self.timer_jumps += o.timer_jumps;
        self.elapsed += o.elapsed;
        self.round_limit_hit |= o.round_limit_hit;
    }
}

/// Wall time a [`Simulation`] spent in one controller's code (see
/// [`Simulation::controller_timings`]): for profiling the simulator, not part of the
/// (deterministic) run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControllerTiming {
    /// The controller's name.
    pub name: &'static str,
    /// In `map_event` (driver thread).
    pub map: Duration,
    /// In `reconcile`, summed over the round threads (so it may exceed wall time).
    pub reconcile: Duration,
    /// Applying the writes and Events, `applied`, requeue and `done` (driver thread).
    pub apply: Duration,
}

/// [`Simulation::run_until`] ran out of time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeout {
    /// Virtual time waited (the timeout).
    pub waited: Duration,
    /// Whether the simulation was idle with no timer left (nothing could change any
    /// more).
    pub idle: bool,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "condition not met after {:?} of virtual time{}",
            self.waited,
            if self.idle {
                " (the cluster is idle: nothing is scheduled)"
            } else {
                ""
            }
        )
    }
}

impl std::error::Error for Timeout {}

/// One kind's watcher and the controllers that watch the kind.
struct Pump {
    kind: Kind,
    watcher: Watcher,
    /// Indices of the controllers watching `kind` (may be empty when recording).
    targets: Vec<usize>,
    /// Events polled (by `is_idle`) but not delivered yet.
    pending: VecDeque<WatchEvent>,
}

/// A key taken for a round.
struct Item {
    ctl: usize,
    worker: usize,
    key: ObjectKey,
    requeues: u32,
}

/// The virtual-time driver: controllers run in deterministic rounds on a
/// [`ManualClock`] (see the [module docs](super) for the round structure and why it
/// is deterministic).
///
/// Nothing runs unless a method is called: `run_until_idle` runs rounds at the
/// current instant, `advance` and `run_until` also move the clock from timer to
/// timer. Between calls the caller may write to the store (a scenario step); the next
/// round pumps those events like any other.
pub struct Simulation {
    store: Store,
    clock: Arc<ManualClock>,
    ctls: Vec<ControllerRt>,
    pumps: Vec<Pump>,
    pool: Option<rayon::ThreadPool>,
    config: SimConfig,
    round: u64,
    history: Vec<HistoryEntry>,
    log: RuntimeLog,
    totals: RunStats,
    events: Vec<WatchEvent>,
    keys: Vec<Routed<ObjectKey>>,
    /// Per controller (same index as `ctls`).
    timings: Vec<ControllerTiming>,
}

impl fmt::Debug for Simulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulation")
            .field("now", &self.clock.now())
            .field("round", &self.round)
            .field(
                "controllers",
                &self.ctls.iter().map(|c| c.ctl.name()).collect::<Vec<_>>(),
            )
            .field("config", &self.config)
            .finish()
    }
}

impl Simulation {
    /// A simulation of `controllers` on `store`, whose clock must be `clock` (see
    /// [`virtual_store`]). Objects already in the store are listed and mapped as
    /// `Added` events; nothing is reconciled until a run method is called.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::ClockMismatch`], [`RuntimeError::DuplicateController`],
    /// [`RuntimeError::InvalidConfig`] (zero threads), [`RuntimeError::Dispatch`] (zero
    /// workers), [`RuntimeError::Threads`].
    pub fn new(
        store: Store,
        clock: Arc<ManualClock>,
        controllers: Vec<Arc<dyn Controller>>,
        config: SimConfig,
    ) -> Result<Self, RuntimeError> {
        let store_clock = Arc::as_ptr(store.clock()) as *const u8;
        if store_clock != Arc::as_ptr(&clock) as *const u8 {
            return Err(RuntimeError::ClockMismatch);
        }
        check_names(&controllers)?;
        if config.threads == 0 {
            return Err(RuntimeError::InvalidConfig(
                "threads must be at least 1".into(),
            ));
        }
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let mut dc = DispatchConfig::new(config.workers);
        dc.queue = config.queue.clone();
        let ctls = controllers
            .into_iter()
            .map(|ctl| {
                let d = dispatch::build(config.strategy, dc.clone(), dyn_clock.clone())?;
                let mut rt = ControllerRt::new(ctl, d);
                // Affinities only steer the namespace, owner and consistent strategies.
                rt.routing = config.strategy.uses_affinity();
                Ok(rt)
            })
            .collect::<Result<Vec<_>, RuntimeError>>()?;
        let pool = if config.threads > 1 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(config.threads)
                    .thread_name(|i| format!("kubesim-sim-{i}"))
                    .build()
                    .map_err(|e| RuntimeError::Threads(e.to_string()))?,
            )
        } else {
            None
        };
        let kinds: Vec<Kind> = if config.record_history {
            Kind::ALL.to_vec()
        } else {
            let mut k: Vec<Kind> = ctls.iter().flat_map(|c| c.kinds.clone()).collect();
            k.sort_unstable();
            k.dedup();
            k
        };
        let rv = store.resource_version();
        let mut pumps = Vec::with_capacity(kinds.len());
        for kind in kinds {
            let targets = (0..ctls.len())
                .filter(|&i| ctls[i].kinds.contains(&kind))
                .collect();
            pumps.push(Pump {
                kind,
                watcher: store.watch(kind, rv)?,
                targets,
                pending: VecDeque::new(),
            });
        }
        let mut sim = Simulation {
            log: RuntimeLog::new(config.log_capacity, config.verbose),
            store,
            clock,
            ctls,
            pumps,
            pool,
            config,
            round: 0,
            history: Vec::new(),
            totals: RunStats::default(),
            events: Vec::new(),
            keys: Vec::new(),
            timings: Vec::new(),
        };
        sim.timings = sim
            .ctls
            .iter()
            .map(|c| ControllerTiming {
                name: c.ctl.name(),
                ..ControllerTiming::default()
            })
            .collect();
        for p in 0..sim.pumps.len() {
            sim.list_into(p)?;
        }
        Ok(sim)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The virtual clock.
    pub fn clock(&self) -> &Arc<ManualClock> {
        &self.clock
    }

    /// The virtual time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The config.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The named controller's dispatcher (queue state, backoff counts, load).
    pub fn dispatcher(&self, controller: &str) -> Option<&Arc<dyn Dispatcher<ObjectKey>>> {
        self.ctls
            .iter()
            .find(|c| c.ctl.name() == controller)
            .map(|c| &c.dispatcher)
    }

    /// Lists `pump`'s kind as `Added` events into its pending queue (start, relist).
    fn list_into(&mut self, p: usize) -> Result<(), RuntimeError> {
        let kind = self.pumps[p].kind;
        for obj in self.store.list(kind, None, None, None)? {
            let resource_version = obj.meta().resource_version;
            self.pumps[p].pending.push_back(WatchEvent {
                type_: WatchEventType::Added,
                object: obj,
                resource_version,
            });
        }
        Ok(())
    }

    /// Moves every new event of `p`'s kind into its pending queue; relists when the
    /// watcher expired.
    fn poll(&mut self, p: usize) {
        loop {
            self.events.clear();
            match self.pumps[p].watcher.poll_into(&mut self.events, 4096) {
                Ok(0) => return,
                Ok(_) => self.pumps[p].pending.extend(self.events.drain(..)),
                Err(e) => {
                    let kind = self.pumps[p].kind;
                    self.log.push(LogEntry {
                        time: self.clock.now(),
                        controller: "",
                        key: None,
                        kind: LogKind::WatchExpired,
                        message: format!("{kind}: {e}; relisting"),
                    });
                    let rv = self.store.resource_version();
                    match self.store.watch(kind, rv) {
                        Ok(w) => self.pumps[p].watcher = w,
                        Err(e) => {
                            // Cannot happen for the current resourceVersion; keep the
                            // old watcher and try again next round.
                            self.log.push(LogEntry {
                                time: self.clock.now(),
                                controller: "",
                                key: None,
                                kind: LogKind::WatchExpired,
                                message: format!("{kind}: {e}"),
                            });
                            return;
                        }
                    }
                    self.pumps[p].pending.clear();
                    if let Err(e) = self.list_into(p) {
                        self.log.push(LogEntry {
                            time: self.clock.now(),
                            controller: "",
                            key: None,
                            kind: LogKind::WatchExpired,
                            message: format!("{kind}: relist failed: {e}"),
                        });
                    }
                    return;
                }
            }
        }
    }

    /// Phase 1: every kind in order, every event in order → history, `map_event`,
    /// dispatcher adds. Returns the number of events delivered.
    fn pump(&mut self) -> u64 {
        let mut delivered = 0;
        let now = self.clock.now();
        // Every kind's new events, kinds in order.
        let mut batches: Vec<(usize, Vec<WatchEvent>)> = Vec::new();
        for p in 0..self.pumps.len() {
            self.poll(p);
            if self.pumps[p].pending.is_empty() {
                continue;
            }
            let events: Vec<WatchEvent> = self.pumps[p].pending.drain(..).collect();
            delivered += events.len() as u64;
            if self.config.record_history {
                for ev in &events {
                    let o = &ev.object;
                    self.history.push(HistoryEntry {
                        time: now,
                        kind: o.kind(),
                        type_: ev.type_,
                        namespace: o.namespace().clone(),
                        name: o.name().clone(),
                        resource_version: ev.resource_version,
                        digest: stable_hash(&o.to_json().to_string()),
                    });
                }
            }
            if !self.pumps[p].targets.is_empty() {
                batches.push((p, events));
            }
        }
        if batches.is_empty() {
            return delivered;
        }
        // Controller by controller, each over the kinds in order and each kind's
        // events in order: the same calls and dispatcher adds per controller as event
        // by event (controllers share no mapping state), timed once per controller.
        // Controllers are independent here, so they may run in parallel.
        let (store, log, pumps, ctls) = (&self.store, &self.log, &self.pumps, &self.ctls);
        let map_one = |ci: usize, keys: &mut Vec<Routed<ObjectKey>>| -> Duration {
            let rt = &ctls[ci];
            let t0 = Instant::now();
            for (p, events) in &batches {
                if !pumps[*p].targets.contains(&ci) {
                    continue;
                }
                for ev in events {
                    exec::map_event(rt, ev, store, log, keys);
                    for k in keys.drain(..) {
                        rt.dispatcher.add(k);
                    }
                }
            }
            t0.elapsed()
        };
        let took: Vec<Duration> = match &self.pool {
            Some(pool) if self.config.parallel_map && delivered > 1 => pool.install(|| {
                (0..ctls.len())
                    .into_par_iter()
                    .map_init(Vec::new, |keys, ci| map_one(ci, keys))
                    .collect()
            }),
            _ => {
                let mut keys = std::mem::take(&mut self.keys);
                let took = (0..ctls.len()).map(|ci| map_one(ci, &mut keys)).collect();
                self.keys = keys;
                took
            }
        };
        for (t, d) in self.timings.iter_mut().zip(took) {
            t.map += d;
        }
        delivered
    }

    /// Phase 2: every ready key of every controller, sorted by (controller, key).
    fn take(&self) -> Vec<Item> {
        let mut batch = Vec::new();
        for (ci, rt) in self.ctls.iter().enumerate() {
            let d = &rt.dispatcher;
            for worker in d.worker_ids() {
                while let Some(key) = d.try_next(worker) {
                    let requeues = d.num_requeues(&key);
                    batch.push(Item {
                        ctl: ci,
                        worker,
                        key,
                        requeues,
                    });
                }
            }
        }
        batch.sort_unstable_by(|a, b| (a.ctl, &a.key).cmp(&(b.ctl, &b.key)));
        // Per-key exclusivity: a key taken once is processing until its `done`.
        debug_assert!(batch
            .windows(2)
            .all(|w| (w[0].ctl, &w[0].key) != (w[1].ctl, &w[1].key)));
        batch
    }

    /// One round (phases 1–4) at the current instant. Returns the number of
    /// reconciles (0: nothing was ready after pumping).
    pub fn run_round(&mut self) -> usize {
        let mut stats = RunStats::default();
        let n = self.round_into(&mut stats);
        self.totals.add(&stats);
        n
    }

    fn round_into(&mut self, stats: &mut RunStats) -> usize {
        stats.events += self.pump();
        let batch = self.take();
        if batch.is_empty() {
            return 0;
        }
        self.round += 1;
        let now = self.clock.now();
        let (seed, round) = (self.config.seed, self.round);
        let store = &self.store;
        let ctls = &self.ctls;
        // Phase 3: reconciles read the store; nothing writes to it until phase 4.
        let run = |it: &Item| -> (Outcome, Duration) {
            let t0 = Instant::now();
            let ctl = &*ctls[it.ctl].ctl;
            let rng = rng_seed(seed, ctl.name(), &it.key, round);
            let outcome = exec::reconcile(ctl, &it.key, store, now, rng, it.requeues);
            (outcome, t0.elapsed())
        };
        let outcomes: Vec<(Outcome, Duration)> = match &self.pool {
            Some(pool) if batch.len() > 1 => pool.install(|| batch.par_iter().map(run).collect()),
            _ => batch.iter().map(run).collect(),
        };
        // Phase 4: apply in batch order, on this thread.
        let mut run_start = (usize::MAX, Instant::now());
        for (it, (outcome, took)) in batch.iter().zip(outcomes) {
            if it.ctl != run_start.0 {
                // The batch is sorted by controller: time each controller's run once.
                if let Some(t) = self.timings.get_mut(run_start.0) {
                    t.apply += run_start.1.elapsed();
                }
                run_start = (it.ctl, Instant::now());
            }
            let written = exec::finish(
                &ctls[it.ctl],
                store,
                &self.log,
                it.worker,
                &it.key,
                outcome,
                now,
            );
            self.timings[it.ctl].reconcile += took;
            stats.writes += written as u64;
        }
        if let Some(t) = self.timings.get_mut(run_start.0) {
            t.apply += run_start.1.elapsed();
        }
        stats.rounds += 1;
        stats.reconciles += batch.len() as u64;
        batch.len()
    }

    /// Rounds at the current instant until one finds nothing to do (or the round
    /// limit is hit).
    fn settle(&mut self, stats: &mut RunStats) {
        let mut rounds = 0u64;
        while self.round_into(stats) > 0 {
            rounds += 1;
            if rounds >= self.config.max_rounds_per_instant {
                stats.round_limit_hit = true;
                self.log.push(LogEntry {
                    time: self.clock.now(),
                    controller: "",
                    key: None,
                    kind: LogKind::RoundLimit,
                    message: format!(
                        "{rounds} rounds at one instant; a controller requeues itself at once forever?"
                    ),
                });
                return;
            }
        }
    }

    /// Runs rounds at the current instant until nothing is ready (timers due later
    /// stay; the clock does not move).
    pub fn run_until_idle(&mut self) -> RunStats {
        let mut stats = RunStats::default();
        self.settle(&mut stats);
        self.totals.add(&stats);
        stats
    }

    /// The earliest due time of a delayed key over all controllers.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.ctls
            .iter()
            .filter_map(|c| c.dispatcher.next_due())
            .min()
    }

    fn jump_to(&mut self, t: Timestamp, stats: &mut RunStats) {
        if t > self.clock.now() {
            self.clock.set(t);
            stats.timer_jumps += 1;
        }
        for c in &self.ctls {
            c.dispatcher.promote_due();
        }
    }

    /// Runs everything due up to `now + d`: settles, then jumps from timer to timer
    /// in due order (settling at each), and ends with the clock at `now + d`.
    pub fn advance(&mut self, d: Duration) -> RunStats {
        let start = self.clock.now();
        let target = start.plus(d);
        let mut stats = RunStats::default();
        loop {
            self.settle(&mut stats);
            match self.next_due() {
                Some(t) if t <= target => self.jump_to(t, &mut stats),
                _ => break,
            }
        }
        if self.clock.now() < target {
            self.clock.set(target);
            for c in &self.ctls {
                c.dispatcher.promote_due();
            }
            self.settle(&mut stats);
        }
        stats.elapsed = self.clock.now().since(start);
        self.totals.add(&stats);
        stats
    }

    /// Settles, then jumps from timer to timer until `pred` holds on the store;
    /// returns the virtual time that took.
    ///
    /// # Errors
    ///
    /// [`Timeout`] when `pred` still does not hold once every timer up to `timeout`
    /// has fired; the clock is then at start + `timeout`.
    pub fn run_until(
        &mut self,
        pred: impl Fn(&Store) -> bool,
        timeout: Duration,
    ) -> Result<Duration, Timeout> {
        let start = self.clock.now();
        let deadline = start.plus(timeout);
        let mut stats = RunStats::default();
        let result = loop {
            self.settle(&mut stats);
            if pred(&self.store) {
                break Ok(self.clock.now().since(start));
            }
            match self.next_due() {
                Some(t) if t <= deadline => self.jump_to(t, &mut stats),
                next => {
                    self.jump_to(deadline, &mut stats);
                    self.settle(&mut stats);
                    if pred(&self.store) {
                        break Ok(self.clock.now().since(start));
                    }
                    break Err(Timeout {
                        waited: timeout,
                        idle: next.is_none() && self.is_idle(),
                    });
                }
            }
        };
        stats.elapsed = self.clock.now().since(start);
        self.totals.add(&stats);
        result
    }

    /// Whether nothing would happen without a clock move or an outside write: no
    /// undelivered watch event, no ready or processing key, no timer.
    pub fn is_idle(&mut self) -> bool {
        for p in 0..self.pumps.len() {
            self.poll(p);
            if !self.pumps[p].pending.is_empty() && !self.pumps[p].targets.is_empty() {
                return false;
            }
        }
        self.ctls.iter().all(|c| c.dispatcher.is_idle())
    }

    /// The watch events pumped so far (with [`SimConfig::record_history`]; empty
    /// otherwise), in the order they were delivered.
    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }

    /// Takes the recorded history, leaving it empty.
    pub fn take_history(&mut self) -> Vec<HistoryEntry> {
        std::mem::take(&mut self.history)
    }

    /// Totals since the simulation was built.
    pub fn stats(&self) -> &RunStats {
        &self.totals
    }

    /// Rounds run so far.
    pub fn rounds(&self) -> u64 {
        self.round
    }

    /// Per-controller figures (the latency histogram is empty: it is a wall-clock
    /// measure of real-time runs).
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics {
            controllers: self
                .ctls
                .iter()
                .map(|c| {
                    ControllerMetrics::new(
                        c.ctl.name(),
                        &c.counters,
                        c.dispatcher.load(),
                        c.dispatcher.metrics(),
                        workqueue::new_histogram(),
                    )
                })
                .collect(),
        }
    }

    /// Wall time spent in each controller's `map_event`, `reconcile` and write
    /// application since the simulation was built, in controller order.
    pub fn controller_timings(&self) -> Vec<ControllerTiming> {
        self.timings.clone()
    }

    /// The log's retained entries (errors, panics, failed writes, …), oldest first.
    pub fn log(&self) -> Vec<LogEntry> {
        self.log.entries()
    }
}
