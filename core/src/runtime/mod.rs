//! The controller runtime: controllers on sharded workers, in real time and in
//! deterministic virtual time.
//!
//! A [`Controller`] declares the kind of its keys ([`Controller::primary`]), the kinds
//! it watches ([`Controller::watches`]), how a watch event maps to keys
//! ([`Controller::map_event`]: a Pod event → its controller owner's key, a Node event
//! → every DaemonSet's key, …) and how a key is reconciled
//! ([`Controller::reconcile`]). A reconcile is a plain function of (key, store view)
//! → writes + requeue decision: it reads the store through a [`Ctx`] and *records*
//! the writes it wants (`ctx.create`, `ctx.update`, `ctx.update_status`,
//! `ctx.delete`, `ctx.create_slow_start`, `ctx.bind`, and Kubernetes Events with
//! `ctx.event`);
//! the runtime applies them afterwards, in order ([`Effects::apply`]), tells the
//! controller the results ([`Controller::applied`]) and requeues the key as the
//! reconcile asked ([`Requeue`]).
//!
//! Two drivers run the same controllers:
//!
//! - [`Runtime::start`] (real time): watcher threads turn store watch events into keys,
//!   each controller's keys go through its own [`Dispatcher`] (any [`Strategy`]) to
//!   its N worker threads. Metrics ([`RuntimeMetrics`]): reconciles, errors and panics
//!   per controller, per-worker load, and the event-to-reconcile latency histogram.
//!   For throughput benchmarks.
//! - [`Simulation`] (virtual time): one driver thread, a [`ManualClock`], rounds of
//!   "pump events → take every ready key → reconcile them in parallel against an
//!   unchanging store → apply the writes in a fixed order"; when nothing is ready it
//!   jumps the clock to the next timer. The same seed gives the same run, whatever
//!   the number of threads and whatever the sharding strategy. For scenarios and
//!   tests.
//!
//! # The controller contract
//!
//! - **Keys** are [`ObjectKey`]s of the controller's primary kind. `map_event` pushes
//!   [`Routed`] keys: the key plus its [`Affinity`] (namespace and owner-root hashes,
//!   which the `namespace`, `owner` and `consistent` strategies route on). The helpers
//!   [`route_object`] and [`route_key`] compute the affinity from the store (the owner
//!   root is the topmost controller ancestor, see [`owner_root`]). Drivers whose
//!   dispatchers ignore affinities (a [`Simulation`] with the `shared` or `steal`
//!   strategy) hand `map_event` a [`StoreView::without_routing`], with which these
//!   helpers skip the owner lookups and give [`Affinity::NONE`].
//! - **Reconcile reads, never writes**: it gets a read-only [`StoreView`] (no write
//!   method exists on it), the time ([`Ctx::now`]) and a deterministic RNG
//!   ([`Ctx::rng`]). Every write goes through the `Ctx` and is applied by the runtime.
//! - **State shared across keys** (expectations, caches) may be read in `reconcile`
//!   but should be *changed* only per key there, or in `map_event` and `applied`:
//!   reconciles of different keys run in parallel in both modes, while in virtual time
//!   `map_event` and `applied` run on the single driver thread in a fixed order —
//!   that is what keeps a virtual-time run deterministic (with
//!   [`SimConfig::parallel_map`], different controllers' `map_event`s run in
//!   parallel, each controller's still in order on one thread at a time, so state
//!   must not be shared *between* controllers' mappings). (A controller that sets
//!   expectations before its creates, as upstream's ReplicaSet controller does, sets
//!   them for its own key in `reconcile` and lowers them for failed or skipped
//!   creates in `applied`.)
//! - **Errors**: `Err(_)` from `reconcile`, and a panic in it (caught with
//!   `catch_unwind`), are logged to the runtime's bounded [`RuntimeLog`] (and to
//!   stderr when `verbose`), and the key is retried with the queue's exponential
//!   backoff ([`Dispatcher::add_rate_limited`]: 5 ms, 10 ms, 20 ms, … up to 1000 s by
//!   default). The worker survives. The writes a reconcile recorded before returning
//!   `Err` are applied (a real controller's earlier requests have been sent too); a
//!   panicking reconcile's writes are discarded (a panic is a bug, and half of a
//!   reconcile's intent is worse than none). A panic in `map_event` or `applied` is
//!   caught and logged too.
//! - **The requeue rule** after a successful reconcile: if any recorded write failed
//!   ([`WriteResult::is_failure`]: a store error other than `NotFound` on a delete —
//!   the object is already gone — or a create that slow start skipped), the key is
//!   requeued rate-limited whatever the reconcile returned (a `Conflict` on an update
//!   is the common case: re-read and try again). Otherwise [`Requeue::Done`] forgets
//!   the key's backoff, [`Requeue::After`] forgets it and adds the key after the delay
//!   (client-go's `Forget` + `AddAfter`), and [`Requeue::RateLimited`] adds it with
//!   backoff.
//!
//! # Concurrency protocol (real time, [`Runtime`])
//!
//! Threads: one **pump** thread per watched kind, `workers` **worker** threads per
//! controller (worker `w` of a controller only ever calls `next(w)` on that
//! controller's dispatcher), and the caller's thread (metrics, `wait_idle`, `stop`).
//!
//! - A pump owns its kind's [`Watcher`](crate::store::Watcher). It starts with a list
//!   (read `resource_version()`, watch from it, list the kind, map every listed object
//!   as an `Added` event), then maps each event, in resourceVersion order, for every
//!   controller that watches the kind, and adds the keys to that controller's
//!   dispatcher — per batch of events read at once: all mapped, then their keys added
//!   in order (`add_batch`; a key repeating the one before it is added once). Before
//!   the adds it records the wall-clock time of each key's oldest unserved event in a
//!   per-controller concurrent map (for the latency histogram).
//!   A watcher that expires (fell out of the store's window) is logged and relisted.
//! - A worker loops `next(w)` → take the key's pending-event time (latency sample)
//!   → reconcile (reading the live store) → apply the writes to the store → `applied`
//!   → forget / add_after / add_rate_limited → `done(w, key)`.
//! - The dispatcher is the only synchronisation between workers: **no key is
//!   reconciled by two workers at once** (its per-key exclusivity, under every
//!   strategy), and a key added while it is being reconciled is reconciled again after
//!   `done`. Reconciles of different keys run concurrently and see each other's writes
//!   as the store's protocol allows; a stale read shows up as a `Conflict` on update,
//!   and the key is retried.
//! - No lock is held while calling controller code. The runtime's own locks are the
//!   log's and the per-worker histograms' (leaves), and the idle mutex, which
//!   `wait_idle` holds only while it reads the dispatchers' idleness (order: idle
//!   mutex → dispatcher locks); pumps and workers take it, holding nothing else, only
//!   to notify a waiting `wait_idle`.
//! - [`RunningRuntime::wait_idle`] returns when, at one resourceVersion `rv` read
//!   before and after the checks, every pump has delivered every event up to `rv` and
//!   every dispatcher is idle (nothing ready, delayed or being processed; a key is
//!   `done` only after its writes are applied, so an idle dispatcher has no write in
//!   flight).
//! - [`RunningRuntime::stop`] sets the stop flag and shuts the dispatchers down
//!   (delayed keys are dropped, ready keys are still processed), then joins every
//!   thread; pumps notice the flag within 10 ms.
//!
//! # Concurrency protocol and determinism (virtual time, [`Simulation`])
//!
//! One driver thread runs **rounds**; a pool of `threads` threads only ever runs
//! reconciles, inside phase 3 (and, with [`SimConfig::parallel_map`], the
//! controllers' mappings of phase 1):
//!
//! 1. **pump**: every watcher, kinds in [`Kind::ALL`] order; each controller, over
//!    the kinds it watches in that order, runs `map_event` over each kind's new
//!    events in resourceVersion order → its dispatcher's adds (each controller sees
//!    the same events in the same order as if they were handed out event by event:
//!    controllers share no mapping state, and each adds only to its own dispatcher,
//!    so controllers may be mapped one after the other or in parallel with the
//!    same result; the store is not written meanwhile);
//! 2. **take**: every ready key of every controller (`try_next` for each worker
//!    until empty); the batch is sorted by (controller index, key). If it is empty the
//!    round does nothing: `run_until_idle` returns, and `advance`/`run_until` move the
//!    clock to the earliest `next_due()` of the dispatchers, `promote_due()`, and go
//!    on;
//! 3. **reconcile**: every key of the batch, in parallel, against the store as it is
//!    at the start of the round — **nothing writes to the store in this phase** — each
//!    producing its recorded effects or an error;
//! 4. **apply**: on the driver, in batch order: apply the key's writes and events,
//!    call `applied`, requeue per the outcome, `done`.
//!
//! Why this is deterministic for a seed, whatever `threads` and the strategy:
//!
//! - the batch is a *set* — every ready key, not "what N workers happened to grab" —
//!   and which keys are ready depends only on the adds, timers and `done`s made so
//!   far, which all dispatchers handle with the same client-go semantics; sorting
//!   gives it one order;
//! - a reconcile's result depends only on its inputs: the key, the store at the start
//!   of the round (unchanged while reconciles run), the virtual time, its backoff
//!   count, and an RNG seeded from (run seed, controller, key, round number);
//! - writes are applied in batch order on one thread, so resourceVersions, uids and
//!   generated names (drawn from the store's seed in write order) are the same;
//! - events are pumped in a fixed order, and `map_event`/`applied` run sequentially.
//!
//! What never happens, in either mode: a key reconciled by two workers at once; a
//! reconcile holding a runtime lock; in virtual time, a write applied during the
//! parallel phase or a clock move while anything is ready.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use kubesim_core::model::{ConfigMap, Kind, Object, ObjectKey, ObjectMeta};
//! use kubesim_core::runtime::{virtual_store, Controller, Ctx, ReconcileError, Requeue,
//!     SimConfig, Simulation};
//!
//! /// Labels every ConfigMap `seen=true`, then looks again every minute.
//! struct Labeler;
//!
//! impl Controller for Labeler {
//!     fn name(&self) -> &'static str { "labeler" }
//!     fn primary(&self) -> Kind { Kind::ConfigMap }
//!     fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
//!         let Some(cm) = ctx.store().get_key(key) else { return Ok(Requeue::Done) };
//!         if cm.labels().get("seen").is_none() {
//!             let mut new = (*cm).clone();
//!             new.meta_mut().labels = cm.labels().with("seen", "true");
//!             ctx.update(new);
//!         }
//!         Ok(Requeue::After(Duration::from_secs(60)))
//!     }
//! }
//!
//! let (store, clock) = virtual_store(1);
//! let mut sim = Simulation::new(store.clone(), clock, vec![Arc::new(Labeler)], SimConfig::new(1)).unwrap();
//! store.create(Object::from(ConfigMap { meta: ObjectMeta::named("default", "a"), data: vec![] })).unwrap();
//! sim.run_until_idle();
//! assert!(store.get(Kind::ConfigMap, "default", "a").unwrap().labels().get("seen").is_some());
//! // The requeue-after timer fires at +60 s of virtual time, in microseconds of real time.
//! let stats = sim.advance(Duration::from_secs(60));
//! assert_eq!(stats.reconciles, 1);
//! ```

mod apply;
pub mod bench_support;
mod ctx;
mod exec;
mod metrics;
mod own_writes;
mod realtime;
mod sim;

#[cfg(test)]
mod tests;

pub use apply::{ApplyReport, Verb, WriteOutcome, WriteResult};
pub use ctx::{Ctx, Effects, EventSpec, WriteAction, WriteOp};
pub use metrics::{ControllerMetrics, LogEntry, LogKind, RuntimeLog, RuntimeMetrics};
pub use own_writes::OwnWrites;
pub use realtime::{RunningRuntime, Runtime, RuntimeConfig, DEFAULT_PUMP_SPINS};
pub use sim::{
    virtual_store, ControllerTiming, HistoryEntry, RunStats, SimConfig, Simulation, Timeout,
};

#[doc(no_inline)]
pub use crate::dispatch::{Affinity, Dispatcher, Routed, Strategy};
#[doc(no_inline)]
pub use crate::model::ObjectKey;
#[doc(no_inline)]
pub use crate::time::ManualClock;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::dispatch::{stable_hash, DispatchError};
use crate::model::{Kind, Object, Uid};
use crate::selector::LabelSelector;
use crate::store::{self, FieldSelector, Store, WatchEvent};
use crate::time::Timestamp;

/// A controller: what it watches, how events map to keys, how a key is reconciled.
///
/// See the [module docs](self) for the contract (reconcile records writes, never
/// writes; where shared state may change; errors and requeues).
pub trait Controller: Send + Sync + 'static {
    /// The controller's name: metrics, logs, and the `source` of its Events
    /// (`replicaset-controller`). Unique within a runtime.
    fn name(&self) -> &'static str;

    /// The kind of the controller's keys.
    fn primary(&self) -> Kind;

    /// Kinds whose events the controller maps to keys, besides the primary kind (which
    /// is always watched). Default: none.
    fn watches(&self) -> &[Kind] {
        &[]
    }

    /// Maps a watch event to keys of the primary kind (pushed to `out`, which is empty
    /// on entry). Default: an event of the primary kind → the object's own key, routed
    /// with [`route_object`]; other kinds → nothing.
    ///
    /// Runs on a pump thread (real time) or the driver (virtual time), never
    /// concurrently with another `map_event` of the same kind.
    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        if ev.object.kind() == self.primary() {
            out.push(route_object(store, &ev.object));
        }
    }

    /// Reconciles one key: reads through `ctx`, records writes in `ctx`, and says when
    /// to look at the key again.
    ///
    /// # Errors
    ///
    /// Any [`ReconcileError`]: logged, and the key is retried with backoff (writes
    /// recorded before the error are still applied).
    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError>;

    /// Called after the runtime applied the writes of a reconcile of `key` (one result
    /// per object written, in the order recorded; slow-start batches report every
    /// object, skipped ones included), before the key is requeued and released. Not
    /// called after a panicking reconcile. Default: nothing.
    ///
    /// Virtual time: sequential, in batch order. Real time: on the worker thread,
    /// possibly after the watch already delivered the writes' events to `map_event`.
    fn applied(&self, key: &ObjectKey, results: &[WriteResult]) {
        let _ = (key, results);
    }
}

/// What to do with a key after a successful reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Requeue {
    /// Nothing more to do: forget the key's backoff (client-go `Forget`).
    Done,
    /// Look again after this delay (forgets the backoff; `After(ZERO)` = at once,
    /// after this reconcile ends).
    After(Duration),
    /// Retry with the key's exponential backoff (as after an error).
    RateLimited,
}

/// A reconcile failure: logged, and the key is retried with backoff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconcileError {
    message: String,
}

impl ReconcileError {
    /// An error with this message.
    pub fn new(message: impl fmt::Display) -> Self {
        ReconcileError {
            message: message.to_string(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ReconcileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReconcileError {}

impl From<store::Error> for ReconcileError {
    fn from(e: store::Error) -> Self {
        ReconcileError::new(e)
    }
}

impl From<String> for ReconcileError {
    fn from(message: String) -> Self {
        ReconcileError { message }
    }
}

impl From<&str> for ReconcileError {
    fn from(message: &str) -> Self {
        ReconcileError::new(message)
    }
}

/// Errors of starting a runtime or a simulation.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A dispatcher could not be built (bad worker count, …).
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    /// The initial watch or list failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The simulation's clock is not the store's clock.
    #[error(
        "the simulation's clock is not the store's clock (build both with runtime::virtual_store)"
    )]
    ClockMismatch,
    /// Two controllers have the same name.
    #[error("two controllers are named {0:?}")]
    DuplicateController(&'static str),
    /// A config value is out of range.
    #[error("invalid runtime config: {0}")]
    InvalidConfig(String),
    /// Threads could not be started.
    #[error("could not start threads: {0}")]
    Threads(String),
}

/// A read-only view of the [`Store`]: what `reconcile` and `map_event` may do with
/// it (get, list, owner lookups). There is no write method — writes go through
/// [`Ctx`] — which is what lets virtual-time rounds read an unchanging store.
#[derive(Clone, Copy)]
pub struct StoreView<'a> {
    store: &'a Store,
    /// Whether [`route_key`], [`route_object`] and [`affinity_of`] compute affinities
    /// (false: [`Affinity::NONE`], for dispatchers that ignore them).
    routing: bool,
}

impl fmt::Debug for StoreView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreView")
            .field("resource_version", &self.store.resource_version())
            .finish()
    }
}

impl<'a> StoreView<'a> {
    /// A view of `store`.
    pub fn new(store: &'a Store) -> Self {
        StoreView {
            store,
            routing: true,
        }
    }

    /// A view of `store` for a driver whose dispatchers route without affinities
    /// (the `shared` and `steal` strategies): [`route_key`], [`route_object`] and
    /// [`affinity_of`] then skip the owner lookups and give [`Affinity::NONE`].
    pub fn without_routing(store: &'a Store) -> Self {
        StoreView {
            store,
            routing: false,
        }
    }

    /// Whether routing helpers compute affinities with this view (see
    /// [`StoreView::without_routing`]).
    pub fn routes(&self) -> bool {
        self.routing
    }

    /// The object, or `None` ([`Store::try_get`]).
    pub fn try_get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Arc<Object>> {
        self.store.try_get(kind, namespace, name)
    }

    /// The object with this key, or `None`.
    pub fn get_key(&self, key: &ObjectKey) -> Option<Arc<Object>> {
        self.store.try_get(key.kind, &key.namespace, &key.name)
    }

    /// The object ([`Store::get`]).
    ///
    /// # Errors
    ///
    /// [`store::Error::NotFound`].
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> store::Result<Arc<Object>> {
        self.store.get(kind, namespace, name)
    }

    /// Objects of `kind` matching the selectors, sorted by (namespace, name)
    /// ([`Store::list`]).
    ///
    /// # Errors
    ///
    /// [`store::Error::InvalidFieldSelector`].
    pub fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        labels: Option<&LabelSelector>,
        fields: Option<&FieldSelector>,
    ) -> store::Result<Vec<Arc<Object>>> {
        self.store.list(kind, namespace, labels, fields)
    }

    /// Objects of every kind with an ownerReference to `owner`
    /// ([`Store::dependents_of`]).
    pub fn dependents_of(&self, owner: Uid) -> Vec<Arc<Object>> {
        self.store.dependents_of(owner)
    }

    /// Objects of `kind` with an ownerReference to `owner`
    /// ([`Store::dependents_of_kind`]).
    pub fn dependents_of_kind(&self, kind: Kind, owner: Uid) -> Vec<Arc<Object>> {
        self.store.dependents_of_kind(kind, owner)
    }

    /// Number of objects of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.store.count(kind)
    }

    /// The store's latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.store.resource_version()
    }

    /// The store clock's time.
    pub fn now(&self) -> Timestamp {
        self.store.clock().now()
    }
}

/// How many controller links [`owner_root`] follows at most (guards against
/// ownership cycles, which the API does not forbid).
pub const MAX_OWNER_DEPTH: usize = 8;

/// The topmost controller ancestor of `obj` that the store knows: for a Pod, the
/// Deployment owning its ReplicaSet (or the ReplicaSet when it has no controller);
/// `None` when `obj` has no controller. An ancestor missing from the store ends the
/// walk at the last reference (so a pod whose ReplicaSet is gone still routes with
/// its siblings).
pub fn owner_root(store: StoreView<'_>, obj: &Object) -> Option<ObjectKey> {
    let mut root = ObjectKey::controller_of(obj)?;
    for _ in 1..MAX_OWNER_DEPTH {
        let Some(owner) = store.get_key(&root) else {
            break;
        };
        match ObjectKey::controller_of(&owner) {
            Some(up) if up != root => root = up,
            _ => break,
        }
    }
    Some(root)
}

/// The routing input of `obj`'s key: its namespace and [`owner_root`], hashed with
/// [`stable_hash`] (the namespace as [`Affinity::new`] hashes it).
pub fn affinity_of(store: StoreView<'_>, obj: &Object) -> Affinity {
    if !store.routing {
        return Affinity::NONE;
    }
    Affinity::from_hashes(
        stable_hash(obj.namespace().as_str()),
        owner_root(store, obj).map(|r| stable_hash(&r)),
    )
}

/// `obj`'s own key with its [`affinity_of`].
pub fn route_object(store: StoreView<'_>, obj: &Object) -> Routed<ObjectKey> {
    Routed::new(ObjectKey::of(obj), affinity_of(store, obj))
}

/// `key` with the affinity of the object it names (looked up in the store); a key
/// whose object is gone routes on its namespace only.
pub fn route_key(store: StoreView<'_>, key: ObjectKey) -> Routed<ObjectKey> {
    if !store.routing {
        return Routed::new(key, Affinity::NONE);
    }
    let affinity = match store.get_key(&key) {
        Some(obj) => affinity_of(store, &obj),
        None => Affinity::from_hashes(stable_hash(key.namespace.as_str()), None),
    };
    Routed::new(key, affinity)
}

/// `map_event` helper: pushes the key of the event object's controller owner (its
/// ownerReference with `controller: true`) when that owner is of kind `owner_kind` —
/// e.g. a Pod event → its ReplicaSet's key. (An owner changed by the event — a pod
/// released or adopted — is not seen here: the event carries the new state only.)
pub fn map_to_controller(
    ev: &WatchEvent,
    store: StoreView<'_>,
    owner_kind: Kind,
    out: &mut Vec<Routed<ObjectKey>>,
) {
    if let Some(owner) = ObjectKey::controller_of(&ev.object) {
        if owner.kind == owner_kind {
            out.push(route_key(store, owner));
        }
    }
}

/// The kinds a controller watches: its primary kind and [`Controller::watches`], in
/// [`Kind::ALL`] order, without duplicates.
pub fn watched_kinds(controller: &dyn Controller) -> Vec<Kind> {
    let mut kinds: Vec<Kind> = std::iter::once(controller.primary())
        .chain(controller.watches().iter().copied())
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    kinds
}

/// Checks that controller names are unique.
fn check_names(controllers: &[Arc<dyn Controller>]) -> Result<(), RuntimeError> {
    let mut names: Vec<&'static str> = controllers.iter().map(|c| c.name()).collect();
    names.sort_unstable();
    for w in names.windows(2) {
        if w[0] == w[1] {
            return Err(RuntimeError::DuplicateController(w[0]));
        }
    }
    Ok(())
}
