//! `steal`: per-worker deques, idle workers steal, one key table for exclusivity.

use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use super::engine::{next_key, Effect, Engine, LaneOf, LaneSet, StealLanes};
use super::{
    check_worker, mod_n, stable_hash, DispatchConfig, DispatchError, Dispatcher, ReshardChange,
    ReshardReport, Result, Routed, Strategy, WorkerLoad,
};
use crate::time::{Clock, Timestamp};
use crate::workqueue::QueueMetricsSnapshot;

/// The `steal` strategy: a key is queued on the deque of worker
/// `active[hash(key) mod N]`; a worker takes from its own deque first, then steals
/// from the others' (round robin from the next id). Per-key exclusivity, dedup and
/// re-adds come from the shared key table (see the [module docs](super)). Adding a
/// worker moves nothing (it steals until its own deque fills); removing one re-homes
/// the items of its deque.
pub struct Steal<K> {
    engine: Engine<K>,
    lanes: StealLanes<K>,
    /// Active worker ids, ascending (routing: `members[hash mod len]`).
    members: RwLock<Vec<usize>>,
}

impl<K: Clone + Eq + Hash + Send + 'static> Steal<K> {
    /// A work-stealing dispatcher for `config.workers` workers on `clock`.
    pub fn new(config: DispatchConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        config.validate()?;
        Ok(Steal {
            engine: Engine::new(&config, clock),
            lanes: StealLanes::new(config.max_workers, config.workers),
            members: RwLock::new((0..config.workers).collect()),
        })
    }

    /// Keys waiting for a due time.
    pub fn delayed_len(&self) -> usize {
        self.engine.delayed_len()
    }

    /// The home worker of `key` now.
    pub fn home_of(&self, key: &K) -> usize {
        let hash = stable_hash(key);
        self.with_lanes(|lane_of| lane_of(hash))
    }

    /// Workers blocked in `next` right now.
    #[cfg(test)]
    pub(crate) fn sleeping(&self) -> usize {
        self.lanes.sleepers()
    }

    fn with_lanes<R>(&self, f: impl FnOnce(LaneOf) -> R) -> R {
        let members = self.members.read();
        f(&|route| members[mod_n(route, members.len())])
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
}

impl<K: Clone + Eq + Hash + Send + 'static> Dispatcher<K> for Steal<K> {
    fn strategy(&self) -> Strategy {
        Strategy::Steal
    }

    fn workers(&self) -> usize {
        self.members.read().len()
    }

    fn worker_ids(&self) -> Vec<usize> {
        self.members.read().clone()
    }

    fn add(&self, item: Routed<K>) {
        let hash = stable_hash(&item.key);
        self.with_lanes(|lane_of| {
            if let Some(p) = self.engine.add(item.key, hash, hash, lane_of) {
                self.lanes.push(p);
            }
        });
    }

    fn add_after(&self, item: Routed<K>, delay: Duration) {
        let hash = stable_hash(&item.key);
        self.with_lanes(|lane_of| {
            let effect = self.engine.add_after(item.key, hash, hash, delay, lane_of);
            self.apply(effect);
        });
    }

    fn add_rate_limited(&self, item: Routed<K>) {
        let hash = stable_hash(&item.key);
        self.with_lanes(|lane_of| {
            let effect = self.engine.add_rate_limited(item.key, hash, hash, lane_of);
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
        let mut members = self.members.write();
        let id = self.engine.slots.allocate()?;
        self.lanes.set_used(self.engine.slots.allocated());
        members.push(id);
        Ok(ReshardReport {
            worker: id,
            change: ReshardChange::Added,
            workers: members.len(),
            examined: 0,
            moved_queued: 0,
            moved_delayed: 0,
            deferred: 0,
        })
    }

    fn remove_worker(&self, worker: usize) -> Result<ReshardReport> {
        let mut members = self.members.write();
        check_worker(&self.engine.slots, worker)?;
        if members.len() == 1 {
            return Err(DispatchError::LastWorker);
        }
        members.retain(|&m| m != worker);
        self.engine.slots.deactivate(worker);
        // Re-home the removed worker's deque (stealers may race us for its items;
        // either way each valid item is taken or re-homed exactly once).
        let drained = self.lanes.drain(worker);
        let examined = drained.len();
        let mut moved = 0;
        for item in drained {
            let to = members[mod_n(item.hash, members.len())];
            if let Some(p) = self.engine.rehome(item, to) {
                self.lanes.push(p);
                moved += 1;
            }
        }
        self.lanes.wake_all();
        let deferred = self
            .engine
            .slots
            .get(worker)
            .processing
            .load(Ordering::Acquire)
            .max(0) as usize;
        Ok(ReshardReport {
            worker,
            change: ReshardChange::Removed,
            workers: members.len(),
            examined,
            moved_queued: moved,
            moved_delayed: 0,
            deferred,
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
