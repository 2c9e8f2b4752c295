//! `steal`: per-worker deques, idle workers steal, one key table for exclusivity.

use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::RwLock;

use super::engine::{lane_dispatcher_methods, Engine, LaneOf, LaneSet, StealLanes};
use super::{
    check_worker, mod_n, stable_hash, Affinity, DispatchConfig, DispatchError, Dispatcher,
    ReshardChange, ReshardReport, Result, Strategy,
};
use crate::time::Clock;

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

    /// `steal` routes on the key's hash alone.
    fn route(&self, key_hash: u64, _affinity: Affinity) -> u64 {
        key_hash
    }

    /// Runs `f` with the current route → worker map (under the membership read lock).
    fn with_lanes<R>(&self, f: impl FnOnce(LaneOf) -> R) -> R {
        let members = self.members.read();
        f(&|route| members[mod_n(route, members.len())])
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

    lane_dispatcher_methods!(K);

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
}
