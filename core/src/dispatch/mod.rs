//! Sharding strategies: how keys reach N workers.
//!
//! A controller's event handlers turn watch events into keys; a [`Dispatcher`] decides
//! which of the controller's N workers processes each key. Every strategy keeps the
//! work queue's rules (see [`crate::workqueue`]) across all its workers:
//!
//! - **per-key exclusivity**: no key is handed to two workers at once — also across a
//!   reshard and when the routing input of a key changes between adds;
//! - a key is **queued at most once**; an add while it is processed is delivered after
//!   the worker's `done`;
//! - **nothing is lost**: every add is delivered after its due time, also when workers
//!   are added or removed.
//!
//! | [`Strategy`] | queues | a key goes to | resharding |
//! |--------------|--------|---------------|------------|
//! | `shared`     | one [`WorkQueue`] | whichever worker asks first | add/remove (trivial) |
//! | `hash`       | N [`WorkQueue`]s | `hash(key) mod N` | no |
//! | `namespace`  | N lanes, one key table | `hash(namespace) mod N` | no |
//! | `owner`      | N lanes, one key table | `hash(owner root, else key) mod N` | no |
//! | `consistent` | N lanes, one key table | the ring owner of its position (V virtual nodes per worker) | add/remove, moving only keys whose owner changes |
//! | `steal`      | N lock-free deques, one key table | `hash(key) mod N`'s deque; idle workers steal | add/remove |
//!
//! # Routing input: [`Affinity`]
//!
//! Callers add a [`Routed`] key: the key plus an [`Affinity`] carrying two 64-bit
//! hashes — the key's **namespace** and its **owner root** (for a Pod, the Deployment
//! that owns its ReplicaSet, or the ReplicaSet when it has no owner; `None` for a key
//! without an owner; callers compute it, e.g. from the store's owner index).
//! [`Affinity::new`] hashes strings with [`stable_hash`]. Hashes rather than strings:
//! they are 8 bytes, `Copy`, and strategies only ever hash them again. The key itself
//! is hashed with [`stable_hash`] (FNV-1a 64 over its `Hash` encoding, then the
//! murmur3 finaliser), so routing is deterministic across runs and processes.
//!
//! The affinity of a key may change between adds (a pod adopted by another
//! ReplicaSet): the latest one decides where the key is queued **next**; exclusivity
//! does not depend on it (see the protocols below).
//!
//! # Worker ids
//!
//! Workers are numbered `0..workers` at construction; [`Dispatcher::add_worker`]
//! returns a fresh id (ids are never reused) up to [`DispatchConfig::max_workers`]
//! slots. A removed worker's `next`/`try_next` return `None` at once (its loop should
//! end; a call racing with the removal may still return one key), but it must still
//! call `done` for the keys it holds.
//!
//! # Concurrency protocols
//!
//! **`shared`** — one [`WorkQueue`] (one mutex + condvar, see its module docs); every
//! worker calls its `get`. Removing a worker sets the slot's `active` flag to false and
//! wakes all getters under the queue lock; the removed worker's getter sees the flag
//! and passes on any wake-up it consumed.
//!
//! **`hash`** — N independent [`WorkQueue`]s, worker `w` gets from queue `w`, a key is
//! added to queue `hash(key) mod N`. The route is a pure function of the key and N is
//! fixed, so a key only ever lives in one queue and that queue's own protocol gives
//! exclusivity. There is no shared state between workers at all: this is N
//! client-go controllers side by side.
//!
//! **`namespace`, `owner`, `consistent`** ([`Sharded`]) and **`steal`** ([`Steal`]) —
//! one *key table* plus per-worker *lanes*:
//!
//! - The key table is 64 stripes (`parking_lot::Mutex`, cache-padded), picked by bits
//!   32..38 of the key's hash. A key's entry holds the work-queue state (`dirty`,
//!   `processing: Option<worker>`, the waiting entry, the failure count) plus
//!   `queued: Option<(lane, ticket)>` and the key's latest route hash. **The stripe
//!   lock is the key lock**: every state change of a key happens under it.
//! - A lane is a FIFO of `(key, ticket)` items (`Sharded`: a mutex-guarded `VecDeque`
//!   and a condvar per worker; `Steal`: a crossbeam `Injector` per worker and one
//!   sleep condvar). Tickets are unique; an item is **valid** iff the key's entry says
//!   `queued == (lane, ticket)`; any other item is a tombstone and skipped.
//! - `add` (under the stripe lock): if dirty, merge; else set dirty, and unless
//!   processing, draw a ticket, set `queued = (route lane, ticket)`; the item is pushed
//!   to the lane after the stripe lock is released. `next(w)` pops items from lane `w`
//!   (`steal`: then from the others) and validates each under its stripe lock: valid ⇒
//!   `queued = None, dirty = false, processing = Some(w)`. `done(w, k)` (only if
//!   `processing == Some(w)`): clear processing; if dirty, queue to the key's
//!   *current* route lane with a fresh ticket.
//! - So a key has at most one valid item anywhere, and only while it is not processing:
//!   **no key is handed to two workers at once**, whatever the routing does.
//! - Delayed keys wait in one timer heap (mutex), validated by sequence numbers as in
//!   [`WorkQueue`]; an atomic copy of the earliest due time lets `next` skip the timer
//!   lock until something is due. A due key is routed at promotion time.
//! - `consistent` (and `steal`) keep their membership in a `RwLock`: every operation
//!   that routes (add, promotion, re-queue in `done`) holds the read lock from the route
//!   decision to the lane push. `add_worker`/`remove_worker` hold the write lock while
//!   they swap the ring and walk the key table: every queued key whose lane is no longer
//!   its owner gets a fresh ticket in its new owner's lane (its old item becomes a
//!   tombstone), delayed keys are counted (they are routed when due), and keys being
//!   processed stay with their worker until `done`, which re-queues them (if dirty) to
//!   the new owner. After the walk no valid item names a removed lane, so nothing is
//!   lost; the removed lane is cleared.
//! - Lock order: membership `RwLock` → stripe → lane (or timer heap → stripe, for
//!   `next_due`). A stripe lock is never held while taking the timer lock, and no lock
//!   is held while waiting. Blocking `next` reads the lane's wake epoch, scans, and
//!   waits only if the epoch is unchanged (checked under the lane's, or the sleep,
//!   mutex that pushers take to notify): no lost wake-ups.
//!
//! `namespace` and `owner` use a fixed N and route without any lock; `steal` routes to
//! `hash(key) mod` the number of active workers.

mod engine;
mod hash_mod;
mod ring;
mod sharded;
mod shared;
mod steal;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::utils::CachePadded;
use hdrhistogram::Histogram;
use parking_lot::Mutex;

use crate::time::{Clock, Timestamp};
use crate::workqueue::{self, QueueConfig, QueueMetricsSnapshot};

pub use hash_mod::HashMod;
pub use ring::HashRing;
pub use sharded::Sharded;
pub use shared::Shared;
pub use steal::Steal;

#[doc(no_inline)]
pub use crate::workqueue::WorkQueue;

/// The sharding strategies, by the names the CLI and result files use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Strategy {
    /// One shared [`WorkQueue`]; N workers pull from it.
    Shared,
    /// N [`WorkQueue`]s; a key goes to `hash(key) mod N`.
    Hash,
    /// A key goes to `hash(namespace) mod N`.
    Namespace,
    /// A key goes to `hash(owner root, else key) mod N`: a whole owner tree on one
    /// worker.
    Owner,
    /// A consistent-hash ring with virtual nodes; workers can be added and removed.
    Consistent,
    /// Per-worker deques; idle workers steal from the others.
    Steal,
}

impl Strategy {
    /// Every strategy, in the order above.
    pub const ALL: [Strategy; 6] = [
        Strategy::Shared,
        Strategy::Hash,
        Strategy::Namespace,
        Strategy::Owner,
        Strategy::Consistent,
        Strategy::Steal,
    ];

    /// The strategy's name (`shared`, `hash`, `namespace`, `owner`, `consistent`,
    /// `steal`).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Shared => "shared",
            Strategy::Hash => "hash",
            Strategy::Namespace => "namespace",
            Strategy::Owner => "owner",
            Strategy::Consistent => "consistent",
            Strategy::Steal => "steal",
        }
    }

    /// Whether workers can be added and removed at run time.
    pub fn supports_resharding(self) -> bool {
        matches!(
            self,
            Strategy::Shared | Strategy::Consistent | Strategy::Steal
        )
    }

    /// Whether the strategy's dispatcher reads a key's [`Affinity`] (`namespace`,
    /// `owner`, `consistent`); the others route on the key alone, so a driver can skip
    /// computing affinities (the owner lookups of `route_key`) for them.
    pub fn uses_affinity(self) -> bool {
        matches!(
            self,
            Strategy::Namespace | Strategy::Owner | Strategy::Consistent
        )
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = DispatchError;

    fn from_str(s: &str) -> Result<Self, DispatchError> {
        Strategy::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| DispatchError::UnknownStrategy(s.to_string()))
    }
}

/// What strategies route on besides the key: hashes of the key's namespace and of its
/// owner root (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Affinity {
    /// Hash of the key's namespace (`stable_hash("")` for cluster-scoped keys when built
    /// with [`Affinity::new`]; 0 in [`Affinity::NONE`]).
    pub namespace: u64,
    /// Hash of the key's owner root, if it has one.
    pub owner: Option<u64>,
}

impl Affinity {
    /// No routing information: `namespace` routes every such key to one worker and
    /// `owner` routes on the key.
    pub const NONE: Affinity = Affinity {
        namespace: 0,
        owner: None,
    };

    /// The affinity of a key in `namespace` whose owner root is `owner_root` (any
    /// stable identity of the root, e.g. `Deployment/ns/name` or its uid).
    pub fn new(namespace: &str, owner_root: Option<&str>) -> Self {
        Affinity {
            namespace: stable_hash(namespace),
            owner: owner_root.map(stable_hash),
        }
    }

    /// From precomputed hashes.
    pub fn from_hashes(namespace: u64, owner: Option<u64>) -> Self {
        Affinity { namespace, owner }
    }
}

/// A key with its routing input.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Routed<K> {
    /// The work item.
    pub key: K,
    /// What `namespace`, `owner` and `consistent` route on.
    pub affinity: Affinity,
}

impl<K> Routed<K> {
    /// `key` with `affinity`.
    pub fn new(key: K, affinity: Affinity) -> Self {
        Routed { key, affinity }
    }

    /// `key` without routing information ([`Affinity::NONE`]).
    pub fn key(key: K) -> Self {
        Routed {
            key,
            affinity: Affinity::NONE,
        }
    }
}

/// What the `consistent` strategy places on its ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RingKey {
    /// The key's own hash.
    Key,
    /// The owner root's hash when there is one, else the key's: owned objects land on
    /// their owner's worker (timebertt's sharder hashes controlled objects on their
    /// controller's ownerRef the same way).
    #[default]
    OwnerOrKey,
}

/// How a dispatcher is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatchConfig {
    /// Workers at start (ids `0..workers`).
    pub workers: usize,
    /// Worker slots, i.e. the most ids `add_worker` can ever hand out (ids are not
    /// reused). At least `workers`.
    pub max_workers: usize,
    /// `consistent`: virtual nodes per worker (timebertt's sharder uses 100: with 100
    /// tokens per worker the largest share stays within about ±10% of the mean for a
    /// handful of workers, and a membership change moves close to the ideal `1/N`).
    pub vnodes: usize,
    /// `consistent`: what is hashed onto the ring.
    pub ring_key: RingKey,
    /// Backoff and metrics of the queues.
    pub queue: QueueConfig,
}

impl DispatchConfig {
    /// The default number of virtual nodes per worker.
    pub const DEFAULT_VNODES: usize = 100;
    /// The default number of worker slots.
    pub const DEFAULT_MAX_WORKERS: usize = 64;

    /// `workers` workers, 64 slots (or `workers`, if more), 100 virtual nodes, ring on
    /// owner-or-key, client-go queue defaults.
    pub fn new(workers: usize) -> Self {
        DispatchConfig {
            workers,
            max_workers: workers.max(Self::DEFAULT_MAX_WORKERS),
            vnodes: Self::DEFAULT_VNODES,
            ring_key: RingKey::default(),
            queue: QueueConfig::default(),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.workers == 0 {
            return Err(DispatchError::InvalidConfig(
                "workers must be at least 1".into(),
            ));
        }
        if self.max_workers < self.workers {
            return Err(DispatchError::InvalidConfig(format!(
                "max_workers ({}) is less than workers ({})",
                self.max_workers, self.workers
            )));
        }
        if self.vnodes == 0 {
            return Err(DispatchError::InvalidConfig(
                "vnodes must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

impl Default for DispatchConfig {
    /// Five workers: kube-controller-manager's default `ConcurrentSyncs` for most
    /// controllers.
    fn default() -> Self {
        DispatchConfig::new(5)
    }
}

/// Whether a reshard added or removed a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReshardChange {
    /// [`Dispatcher::add_worker`].
    Added,
    /// [`Dispatcher::remove_worker`].
    Removed,
}

/// What an `add_worker`/`remove_worker` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReshardReport {
    /// The worker added or removed.
    pub worker: usize,
    /// Added or removed.
    pub change: ReshardChange,
    /// Active workers afterwards.
    pub workers: usize,
    /// Keys the dispatcher looked at (queued, delayed, processing or with a backoff).
    pub examined: usize,
    /// Ready keys moved to another worker's queue.
    pub moved_queued: usize,
    /// Delayed keys whose owner changed (they go to the new owner when due).
    pub moved_delayed: usize,
    /// Keys being processed by a worker that no longer owns them: they stay with it
    /// until its `done`, which queues them (if re-added) to the new owner.
    pub deferred: usize,
}

/// One worker's load figures (for imbalance and idle-time results).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerLoad {
    /// Worker id.
    pub worker: usize,
    /// Not removed.
    pub active: bool,
    /// Keys handed to this worker.
    pub handed_out: u64,
    /// Of those, keys taken from another worker's queue (`steal` only).
    pub stolen: u64,
    /// Wall time between hand-out and `done`, summed (zero when
    /// [`QueueConfig::metrics`] is off).
    pub busy: Duration,
    /// Keys this worker holds now.
    pub processing: usize,
}

/// Errors of dispatcher construction and resharding.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// The strategy has a fixed number of workers.
    #[error("strategy {strategy} cannot {operation} workers at run time")]
    Unsupported {
        /// The strategy.
        strategy: Strategy,
        /// `add` or `remove`.
        operation: &'static str,
    },
    /// No active worker has this id.
    #[error("no active worker {0}")]
    UnknownWorker(usize),
    /// The last worker cannot be removed.
    #[error("cannot remove the last worker")]
    LastWorker,
    /// Every worker slot has been used.
    #[error("no free worker slot (max_workers = {0})")]
    TooManyWorkers(usize),
    /// Not a strategy name.
    #[error(
        "unknown sharding strategy {0:?} (expected shared, hash, namespace, owner, consistent or steal)"
    )]
    UnknownStrategy(String),
    /// A bad [`DispatchConfig`].
    #[error("invalid dispatch config: {0}")]
    InvalidConfig(String),
}

/// Result of dispatcher operations.
pub type Result<T, E = DispatchError> = std::result::Result<T, E>;

/// How keys reach N workers. Object safe: runtimes hold an `Arc<dyn Dispatcher<K>>`
/// (see [`build`]).
pub trait Dispatcher<K>: Send + Sync {
    /// Which strategy this is.
    fn strategy(&self) -> Strategy;
    /// Active workers.
    fn workers(&self) -> usize;
    /// Ids of the active workers, ascending.
    fn worker_ids(&self) -> Vec<usize>;
    /// Queues a key (at most once; after `done` if it is being processed).
    fn add(&self, item: Routed<K>);
    /// [`add`](Self::add) of every item in order, draining `items`. Strategies whose
    /// queues allow it take each queue's lock once for the whole batch (the adds to one
    /// queue then happen back to back, which a sequence of `add` calls may also do).
    fn add_batch(&self, items: &mut Vec<Routed<K>>) {
        for item in items.drain(..) {
            self.add(item);
        }
    }
    /// Adds a key after `delay` on the dispatcher's clock (zero = `add`); a key already
    /// waiting keeps the earlier due time.
    fn add_after(&self, item: Routed<K>, delay: Duration);
    /// `add_after` with the key's exponential backoff.
    fn add_rate_limited(&self, item: Routed<K>);
    /// Resets the key's backoff.
    fn forget(&self, key: &K);
    /// Rate-limited adds of the key since its last `forget`.
    fn num_requeues(&self, key: &K) -> u32;
    /// A key for `worker`, or `None` without blocking (also for a removed worker).
    fn try_next(&self, worker: usize) -> Option<K>;
    /// A key for `worker`, blocking; `None` once shut down and drained, or when the
    /// worker was removed.
    fn next(&self, worker: usize) -> Option<K>;
    /// `worker` finished `key`; a re-add made meanwhile is queued now. Returns `false`
    /// (a no-op) if `worker` did not hold it (`shared`: if no worker held it).
    fn done(&self, worker: usize, key: &K) -> bool;
    /// [`forget`](Self::forget) then [`done`](Self::done) (a reconcile that succeeded
    /// without a requeue); strategies may do both under one lock. Returns what `done`
    /// returns.
    fn forget_done(&self, worker: usize, key: &K) -> bool {
        self.forget(key);
        self.done(worker, key)
    }
    /// Earliest due time of a delayed key.
    fn next_due(&self) -> Option<Timestamp>;
    /// Queues every delayed key that is due on the clock.
    fn promote_due(&self);
    /// Nothing ready, delayed, or processing.
    fn is_idle(&self) -> bool;
    /// Ignores later adds, drops delayed keys, wakes blocked workers; ready keys are
    /// still handed out.
    fn shutdown(&self);
    /// Adds a worker (`shared`, `consistent`, `steal`).
    fn add_worker(&self) -> Result<ReshardReport>;
    /// Removes a worker (`shared`, `consistent`, `steal`); its keys go to the others.
    fn remove_worker(&self, worker: usize) -> Result<ReshardReport>;
    /// Per-worker load, for every worker slot used so far.
    fn load(&self) -> Vec<WorkerLoad>;
    /// Queue metrics summed over the dispatcher's queues.
    fn metrics(&self) -> QueueMetricsSnapshot;
    /// Zeroes the metrics and the load figures.
    fn reset_metrics(&self);
}

/// Builds the dispatcher of `strategy`.
pub fn build<K>(
    strategy: Strategy,
    config: DispatchConfig,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Dispatcher<K>>>
where
    K: Clone + Eq + Hash + Send + 'static,
{
    Ok(match strategy {
        Strategy::Shared => Arc::new(Shared::new(config, clock)?),
        Strategy::Hash => Arc::new(HashMod::new(config, clock)?),
        Strategy::Namespace | Strategy::Owner | Strategy::Consistent => {
            Arc::new(Sharded::new(strategy, config, clock)?)
        }
        Strategy::Steal => Arc::new(Steal::new(config, clock)?),
    })
}

/// A hash that is the same in every run and process: FNV-1a 64 over `value`'s `Hash`
/// encoding, then the murmur3 64-bit finaliser (so every output bit depends on every
/// input bit, which `mod N` and ring positions need).
pub fn stable_hash<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = fnv::FnvHasher::default();
    value.hash(&mut h);
    mix64(h.finish())
}

/// The murmur3 `fmix64` finaliser.
#[inline]
pub(crate) fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// `route mod n`, after mixing (so caller-supplied affinity hashes need not be well
/// distributed).
#[inline]
pub(crate) fn mod_n(route: u64, n: usize) -> usize {
    (mix64(route) % n as u64) as usize
}

/// Histograms of one worker slot (allocated on first use: an empty 3-digit histogram
/// is 16 KiB).
pub(crate) struct Histos {
    pub(crate) depth: Histogram<u64>,
    pub(crate) latency: Histogram<u64>,
    pub(crate) work: Histogram<u64>,
}

/// Per-worker counters. Cache-padded: each worker mostly writes its own slot.
#[derive(Default)]
pub(crate) struct Slot {
    pub(crate) active: AtomicBool,
    pub(crate) handed_out: AtomicU64,
    pub(crate) stolen: AtomicU64,
    pub(crate) busy_ns: AtomicU64,
    /// Keys this worker holds.
    pub(crate) processing: AtomicIsize,
    /// Valid items in this worker's lane (lane-based strategies only).
    pub(crate) ready: AtomicIsize,
    // Queue metrics of the lane-based strategies (the WorkQueue-based ones use the
    // queues' own metrics).
    pub(crate) adds: AtomicU64,
    pub(crate) deduped: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) gets: AtomicU64,
    pub(crate) dones: AtomicU64,
    pub(crate) work_ns: AtomicU64,
    pub(crate) histos: Mutex<Option<Box<Histos>>>,
}

impl Slot {
    /// Records into this slot's histograms (allocating them on first use).
    pub(crate) fn with_histos(&self, f: impl FnOnce(&mut Histos)) {
        let mut h = self.histos.lock();
        let h = h.get_or_insert_with(|| {
            Box::new(Histos {
                depth: workqueue::new_histogram(),
                latency: workqueue::new_histogram(),
                work: workqueue::new_histogram(),
            })
        });
        f(h);
    }

    /// A key was handed to this worker.
    pub(crate) fn started(&self) {
        self.handed_out.fetch_add(1, Ordering::Relaxed);
        self.processing.fetch_add(1, Ordering::Relaxed);
    }

    /// This worker finished a key.
    pub(crate) fn finished(&self, worked: Option<Duration>) {
        self.processing.fetch_sub(1, Ordering::Relaxed);
        if let Some(w) = worked {
            self.busy_ns
                .fetch_add(workqueue::nanos(w), Ordering::Relaxed);
        }
    }
}

/// The worker slots of a dispatcher.
pub(crate) struct Slots {
    slots: Box<[CachePadded<Slot>]>,
    /// Slots handed out so far (ids `0..allocated`).
    allocated: AtomicUsize,
}

impl Slots {
    /// `max` slots, the first `active` of them active.
    pub(crate) fn new(max: usize, active: usize) -> Self {
        let slots: Box<[CachePadded<Slot>]> = (0..max)
            .map(|_| CachePadded::new(Slot::default()))
            .collect();
        for s in &slots[..active] {
            s.active.store(true, Ordering::Relaxed);
        }
        Slots {
            slots,
            allocated: AtomicUsize::new(active),
        }
    }

    /// Slot `id` (panics if out of range: ids come from the dispatcher).
    #[inline]
    pub(crate) fn get(&self, id: usize) -> &Slot {
        &self.slots[id]
    }

    /// Whether `id` is an active worker.
    #[inline]
    pub(crate) fn is_active(&self, id: usize) -> bool {
        self.slots
            .get(id)
            .is_some_and(|s| s.active.load(Ordering::Acquire))
    }

    /// Number of slots.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Slots handed out so far.
    pub(crate) fn allocated(&self) -> usize {
        self.allocated.load(Ordering::Acquire)
    }

    /// Hands out the next slot id and activates it (callers serialise membership
    /// changes under their own lock).
    pub(crate) fn allocate(&self) -> Result<usize> {
        let id = self.allocated.load(Ordering::Acquire);
        if id >= self.slots.len() {
            return Err(DispatchError::TooManyWorkers(self.slots.len()));
        }
        self.slots[id].active.store(true, Ordering::Release);
        self.allocated.store(id + 1, Ordering::Release);
        Ok(id)
    }

    /// Deactivates `id`.
    pub(crate) fn deactivate(&self, id: usize) {
        self.slots[id].active.store(false, Ordering::Release);
    }

    /// Active ids, ascending.
    pub(crate) fn active_ids(&self) -> Vec<usize> {
        self.active().collect()
    }

    /// Active workers.
    pub(crate) fn active_count(&self) -> usize {
        self.active().count()
    }

    fn active(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.allocated()).filter(|&id| self.is_active(id))
    }

    /// Records a hand-out to `worker` when `key` is one; returns `key` (the
    /// [`WorkQueue`]-based strategies, whose queues do not know the worker).
    pub(crate) fn handed_out<K>(&self, worker: usize, key: Option<K>) -> Option<K> {
        if key.is_some() {
            self.get(worker).started();
        }
        key
    }

    /// Load figures of every allocated slot.
    pub(crate) fn load(&self) -> Vec<WorkerLoad> {
        (0..self.allocated())
            .map(|id| {
                let s = &self.slots[id];
                WorkerLoad {
                    worker: id,
                    active: s.active.load(Ordering::Acquire),
                    handed_out: s.handed_out.load(Ordering::Relaxed),
                    stolen: s.stolen.load(Ordering::Relaxed),
                    busy: Duration::from_nanos(s.busy_ns.load(Ordering::Relaxed)),
                    processing: s.processing.load(Ordering::Relaxed).max(0) as usize,
                }
            })
            .collect()
    }

    /// Sum of the valid items in every lane.
    pub(crate) fn total_ready(&self) -> isize {
        self.slots[..self.allocated()]
            .iter()
            .map(|s| s.ready.load(Ordering::Acquire))
            .sum()
    }

    /// Sum of the keys held by every worker.
    pub(crate) fn total_processing(&self) -> isize {
        self.slots[..self.allocated()]
            .iter()
            .map(|s| s.processing.load(Ordering::Acquire))
            .sum()
    }

    /// The lane-based strategies' queue metrics, summed over slots.
    pub(crate) fn queue_metrics(&self) -> QueueMetricsSnapshot {
        let mut m = QueueMetricsSnapshot::new();
        for s in &self.slots[..self.allocated()] {
            m.adds += s.adds.load(Ordering::Relaxed);
            m.deduped += s.deduped.load(Ordering::Relaxed);
            m.retries += s.retries.load(Ordering::Relaxed);
            m.gets += s.gets.load(Ordering::Relaxed);
            m.dones += s.dones.load(Ordering::Relaxed);
            m.work_time += Duration::from_nanos(s.work_ns.load(Ordering::Relaxed));
            if let Some(h) = s.histos.lock().as_ref() {
                let _ = m.depth.add(&h.depth);
                let _ = m.queue_latency.add(&h.latency);
                let _ = m.work_duration.add(&h.work);
            }
        }
        m
    }

    /// Zeroes the load figures and metrics (not `processing`/`ready`, which are state).
    pub(crate) fn reset(&self) {
        for s in self.slots.iter() {
            for c in [
                &s.handed_out,
                &s.stolen,
                &s.busy_ns,
                &s.adds,
                &s.deduped,
                &s.retries,
                &s.gets,
                &s.dones,
                &s.work_ns,
            ] {
                c.store(0, Ordering::Relaxed);
            }
            *s.histos.lock() = None;
        }
    }
}

fn check_worker(slots: &Slots, worker: usize) -> Result<()> {
    if slots.is_active(worker) {
        Ok(())
    } else {
        Err(DispatchError::UnknownWorker(worker))
    }
}

#[cfg(test)]
mod tests;
