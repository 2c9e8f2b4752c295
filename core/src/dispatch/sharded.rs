//! `namespace`, `owner` and `consistent`: one key table, one FIFO lane per worker.

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use super::engine::{next_key, Effect, Engine, LaneOf, LaneSet, OwnedLanes};
use super::{
    check_worker, mix64, mod_n, stable_hash, Affinity, DispatchConfig, DispatchError, Dispatcher,
    HashRing, ReshardChange, ReshardReport, Result, RingKey, Routed, Strategy, WorkerLoad,
};
use crate::time::{Clock, Timestamp};
use crate::workqueue::QueueMetricsSnapshot;

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
            (Strategy::Consistent, RingKey::Key) => key_hash,
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

    fn apply(&self, effect: Effect<K>) {
        match effect {
            Effect::Nothing => {}
            Effect::Push(p) => self.lanes.push(p),
            Effect::Timer => self.lanes.wake_all(),
        }
    }

    fn promote(&self) {
        self.with_lanes(|lane_of| {
            for p in self.engine.promote(lane_of) {
                self.lanes.push(p);
            }
        });
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

    fn add(&self, item: Routed<K>) {
        let hash = stable_hash(&item.key);
        let route = self.route(hash, item.affinity);
        self.with_lanes(|lane_of| {
            if let Some(p) = self.engine.add(item.key, hash, route, lane_of) {
                self.lanes.push(p);
            }
        });
    }

    fn add_after(&self, item: Routed<K>, delay: Duration) {
        let hash = stable_hash(&item.key);
        let route = self.route(hash, item.affinity);
        self.with_lanes(|lane_of| {
            let effect = self.engine.add_after(item.key, hash, route, delay, lane_of);
            self.apply(effect);
        });
    }

    fn add_rate_limited(&self, item: Routed<K>) {
        let hash = stable_hash(&item.key);
        let route = self.route(hash, item.affinity);
        self.with_lanes(|lane_of| {
            let effect = self.engine.add_rate_limited(item.key, hash, route, lane_of);
            self.apply(effect);
        });
    }

    fn forget(&self, key: &K) {
        self.engine.forget(key, stable_hash(key));
    }

    fn num_requeues(&self, key: &K) -> u32 {
        self.engine.num_requeues(key, stable_hash(key))
    }

    fn try_next(&self, worker: usize) -> Option<K> {
        next_key(&self.engine, &self.lanes, worker, false, &|| self.promote())
    }

    fn next(&self, worker: usize) -> Option<K> {
        next_key(&self.engine, &self.lanes, worker, true, &|| self.promote())
    }

    fn done(&self, worker: usize, key: &K) -> bool {
        let hash = stable_hash(key);
        self.with_lanes(|lane_of| {
            let (held, push) = self.engine.done(worker, key, hash, lane_of);
            if let Some(p) = push {
                self.lanes.push(p);
            }
            held
        })
    }

    fn next_due(&self) -> Option<Timestamp> {
        self.engine.next_due()
    }

    fn promote_due(&self) {
        self.promote();
    }

    fn is_idle(&self) -> bool {
        self.engine.is_idle()
    }

    fn shutdown(&self) {
        self.engine.shutdown();
        self.lanes.wake_all();
    }

    fn add_worker(&self) -> Result<ReshardReport> {
        let mut ring = self.ring_lock("add")?.write();
        let id = self.engine.slots.allocate()?;
        let old = ring.clone();
        ring.insert(id);
        let mut pushes = Vec::new();
        let walk = self.engine.retarget(
            &|r| old.owner(mix64(r)).expect("non-empty ring"),
            &|r| ring.owner(mix64(r)).expect("non-empty ring"),
            &mut pushes,
        );
        for p in pushes {
            self.lanes.push(p);
        }
        Ok(ReshardReport {
            worker: id,
            change: ReshardChange::Added,
            workers: self.engine.slots.active_count(),
            examined: walk.examined,
            moved_queued: walk.moved_queued,
            moved_delayed: walk.moved_delayed,
            deferred: walk.deferred,
        })
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
        let mut pushes = Vec::new();
        let walk = self.engine.retarget(
            &|r| old.owner(mix64(r)).expect("non-empty ring"),
            &|r| ring.owner(mix64(r)).expect("non-empty ring"),
            &mut pushes,
        );
        for p in pushes {
            self.lanes.push(p);
        }
        // Every item left in the removed lane is a tombstone now: no key's `queued`
        // names the lane, and nothing routes to it any more.
        drop(self.lanes.drain(worker));
        // The removed worker's `next` returns; the others recompute their timer budget.
        self.lanes.wake_all();
        Ok(ReshardReport {
            worker,
            change: ReshardChange::Removed,
            workers: self.engine.slots.active_count(),
            examined: walk.examined,
            moved_queued: walk.moved_queued,
            moved_delayed: walk.moved_delayed,
            deferred: walk.deferred,
        })
    }

    fn load(&self) -> Vec<WorkerLoad> {
        self.engine.slots.load()
    }

    fn metrics(&self) -> QueueMetricsSnapshot {
        self.engine.slots.queue_metrics()
    }

    fn reset_metrics(&self) {
        self.engine.slots.reset();
    }
}
