//! `namespace`, `owner` and `consistent`: one key table, one FIFO lane per worker.

use std::hash::Hash;
use std::sync::Arc;

use parking_lot::RwLock;

use super::engine::{lane_dispatcher_methods, Engine, LaneOf, LaneSet, OwnedLanes, Walk};
use super::{
    check_worker, mix64, mod_n, stable_hash, Affinity, DispatchConfig, DispatchError, Dispatcher,
    HashRing, ReshardChange, ReshardReport, Result, RingKey, Strategy,
};
use crate::time::Clock;

/// How a route hash becomes a worker.
enum Routing {
    /// `mod_n(route, n)`: no lock.
    Fixed(usize),
    /// The ring owner of `mix64(route)`; membership changes take the write lock.
    Ring(RwLock<HashRing>),
}

/// The `namespace`, `owner` and `consistent` strategies: a striped key table (per-key
/// state and exclusivity) and one lane per worker; see the [module docs](super).
pub struct Sharded<K> {
    strategy: Strategy,
    ring_key: RingKey,
    engine: Engine<K>,
    lanes: OwnedLanes<K>,
    routing: Routing,
}

impl<K: Clone + Eq + Hash + Send + 'static> Sharded<K> {
    /// A dispatcher of `strategy` (`namespace`, `owner` or `consistent`).
    pub fn new(strategy: Strategy, config: DispatchConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        config.validate()?;
        let routing = match strategy {
            Strategy::Namespace | Strategy::Owner => Routing::Fixed(config.workers),
            Strategy::Consistent => Routing::Ring(RwLock::new(HashRing::with_members(
                0..config.workers,
                config.vnodes,
            ))),
            other => {
                return Err(DispatchError::InvalidConfig(format!(
                    "Sharded implements namespace, owner and consistent, not {other}"
                )))
            }
        };
        Ok(Sharded {
            strategy,
            ring_key: config.ring_key,
            engine: Engine::new(&config, clock),
            lanes: OwnedLanes::new(config.max_workers),
            routing,
        })
    }

    /// The consistent-hash ring (`consistent` only).
    pub fn ring(&self) -> Option<HashRing> {
        match &self.routing {
            Routing::Ring(r) => Some(r.read().clone()),
            Routing::Fixed(_) => None,
        }
    }

    /// The worker `key` with `affinity` would be queued to now.
    pub fn owner_of(&self, key: &K, affinity: Affinity) -> usize {
        let route = self.route(stable_hash(key), affinity);
        self.with_lanes(|lane_of| lane_of(route))
    }

    /// Keys waiting for a due time.
    pub fn delayed_len(&self) -> usize {
        self.engine.delayed_len()
    }

    /// Workers blocked in `next` right now.
    #[cfg(test)]
    pub(crate) fn sleeping(&self) -> usize {
        self.lanes.sleepers()
    }

    fn route(&self, key_hash: u64, affinity: Affinity) -> u64 {
        match (self.strategy, self.ring_key) {
            (Strategy::Namespace, _) => affinity.namespace,
            // `hash` is hash(key) mod N, whatever affinity the caller computed.
            (Strategy::Hash, _) | (Strategy::Consistent, RingKey::Key) => key_hash,
            _ => affinity.owner.unwrap_or(key_hash),
        }
    }

    /// Runs `f` with the current route → worker map (under the ring's read lock).
    fn with_lanes<R>(&self, f: impl FnOnce(LaneOf) -> R) -> R {
        match &self.routing {
            Routing::Fixed(n) => {
                let n = *n;
                f(&move |route| mod_n(route, n))
            }
            Routing::Ring(ring) => {
                let ring = ring.read();
                f(&|route| ring.owner(mix64(route)).expect("the ring is never empty"))
            }
        }
    }

    /// Moves every queued key whose owner differs between the `old` ring and `new` to
    /// its new owner's lane (see [`Engine::retarget`]).
    fn retarget(&self, old: &HashRing, new: &HashRing) -> Walk {
        let mut pushes = Vec::new();
        let walk = self.engine.retarget(
            &|r| old.owner(mix64(r)).expect("non-empty ring"),
            &|r| new.owner(mix64(r)).expect("non-empty ring"),
            &mut pushes,
        );
        self.lanes.push_all(pushes);
        walk
    }

    /// The report of a reshard of `worker` whose walk was `walk`.
    fn report(&self, worker: usize, change: ReshardChange, walk: Walk) -> ReshardReport {
        ReshardReport {
            worker,
            change,
            workers: self.engine.slots.active_count(),
            examined: walk.examined,
            moved_queued: walk.moved_queued,
            moved_delayed: walk.moved_delayed,
            deferred: walk.deferred,
        }
    }

    fn ring_lock(&self, operation: &'static str) -> Result<&RwLock<HashRing>> {
        match &self.routing {
            Routing::Ring(r) => Ok(r),
            Routing::Fixed(_) => Err(DispatchError::Unsupported {
                strategy: self.strategy,
                operation,
            }),
        }
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Dispatcher<K> for Sharded<K> {
    fn strategy(&self) -> Strategy {
        self.strategy
    }

    fn workers(&self) -> usize {
        self.engine.slots.active_count()
    }

    fn worker_ids(&self) -> Vec<usize> {
        self.engine.slots.active_ids()
    }

    lane_dispatcher_methods!(K);

    fn add_worker(&self) -> Result<ReshardReport> {
        let mut ring = self.ring_lock("add")?.write();
        let id = self.engine.slots.allocate()?;
        let old = ring.clone();
        ring.insert(id);
        let walk = self.retarget(&old, &ring);
        Ok(self.report(id, ReshardChange::Added, walk))
    }

    fn remove_worker(&self, worker: usize) -> Result<ReshardReport> {
        let mut ring = self.ring_lock("remove")?.write();
        check_worker(&self.engine.slots, worker)?;
        if self.engine.slots.active_count() == 1 {
            return Err(DispatchError::LastWorker);
        }
        let old = ring.clone();
        ring.remove(worker);
        self.engine.slots.deactivate(worker);
        let walk = self.retarget(&old, &ring);
        // Every item left in the removed lane is a tombstone now: no key's `queued`
        // names the lane, and nothing routes to it any more.
        drop(self.lanes.drain(worker));
        // The removed worker's `next` returns; the others recompute their timer budget.
        self.lanes.wake_all();
        Ok(self.report(worker, ReshardChange::Removed, walk))
    }
}
