//! `shared`: one work queue, every worker pulls from it.

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::{
    check_worker, DispatchConfig, DispatchError, Dispatcher, ReshardChange, ReshardReport, Result,
    Routed, Slots, Strategy, WorkerLoad,
};
use crate::time::{Clock, Timestamp};
use crate::workqueue::{QueueMetricsSnapshot, WorkQueue};

/// The `shared` strategy: one client-go [`WorkQueue`] and N workers calling its `get`
/// (a single controller with `ConcurrentSyncs = N`). Workers can be added and removed
/// freely: nothing is routed. `done` is accepted from any worker (the queue tracks
/// processing per key, not per worker).
pub struct Shared<K> {
    queue: WorkQueue<K>,
    slots: Slots,
    /// Serialises membership changes.
    membership: Mutex<()>,
}

impl<K: Clone + Eq + Hash + Send + 'static> Shared<K> {
    /// A shared queue on `clock` for `config.workers` workers.
    pub fn new(config: DispatchConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        config.validate()?;
        Ok(Shared {
            queue: WorkQueue::with_config(clock, config.queue.clone()),
            slots: Slots::new(config.max_workers, config.workers),
            membership: Mutex::new(()),
        })
    }

    /// The queue.
    pub fn queue(&self) -> &WorkQueue<K> {
        &self.queue
    }

    /// Workers blocked in `next` right now.
    #[cfg(test)]
    pub(crate) fn sleeping(&self) -> usize {
        self.queue.waiters()
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Dispatcher<K> for Shared<K> {
    fn strategy(&self) -> Strategy {
        Strategy::Shared
    }

    fn workers(&self) -> usize {
        self.slots.active_count()
    }

    fn worker_ids(&self) -> Vec<usize> {
        self.slots.active_ids()
    }

    fn add(&self, item: Routed<K>) {
        self.queue.add(item.key);
    }

    fn add_batch(&self, items: &mut Vec<Routed<K>>) {
        self.queue.add_many(items.drain(..).map(|i| i.key));
    }

    fn add_after(&self, item: Routed<K>, delay: Duration) {
        self.queue.add_after(item.key, delay);
    }

    fn add_rate_limited(&self, item: Routed<K>) {
        self.queue.add_rate_limited(item.key);
    }

    fn forget(&self, key: &K) {
        self.queue.forget(key);
    }

    fn num_requeues(&self, key: &K) -> u32 {
        self.queue.num_requeues(key)
    }

    fn try_next(&self, worker: usize) -> Option<K> {
        if !self.slots.is_active(worker) {
            return None;
        }
        let key = self.queue.try_get();
        self.slots.handed_out(worker, key)
    }

    fn next(&self, worker: usize) -> Option<K> {
        if !self.slots.is_active(worker) {
            return None;
        }
        let key = self.queue.get_until(&|| !self.slots.is_active(worker));
        self.slots.handed_out(worker, key)
    }

    fn done(&self, worker: usize, key: &K) -> bool {
        let f = self.queue.finish(key);
        if f.was_processing && worker < self.slots.capacity() {
            self.slots.get(worker).finished(f.worked);
        }
        f.was_processing
    }

    fn forget_done(&self, worker: usize, key: &K) -> bool {
        let f = self.queue.finish_forget(key);
        if f.was_processing && worker < self.slots.capacity() {
            self.slots.get(worker).finished(f.worked);
        }
        f.was_processing
    }

    fn next_due(&self) -> Option<Timestamp> {
        self.queue.next_due()
    }

    fn promote_due(&self) {
        self.queue.promote_due();
    }

    fn is_idle(&self) -> bool {
        self.queue.is_empty_and_idle()
    }

    fn shutdown(&self) {
        self.queue.shutdown();
    }

    fn add_worker(&self) -> Result<ReshardReport> {
        let _m = self.membership.lock();
        let id = self.slots.allocate()?;
        Ok(ReshardReport {
            worker: id,
            change: ReshardChange::Added,
            workers: self.slots.active_count(),
            examined: 0,
            moved_queued: 0,
            moved_delayed: 0,
            deferred: 0,
        })
    }

    fn remove_worker(&self, worker: usize) -> Result<ReshardReport> {
        let _m = self.membership.lock();
        check_worker(&self.slots, worker)?;
        if self.slots.active_count() == 1 {
            return Err(DispatchError::LastWorker);
        }
        self.slots.deactivate(worker);
        // The removed worker's blocked `get` re-checks its stop condition.
        self.queue.wake_all();
        Ok(ReshardReport {
            worker,
            change: ReshardChange::Removed,
            workers: self.slots.active_count(),
            examined: 0,
            moved_queued: 0,
            moved_delayed: 0,
            deferred: 0,
        })
    }

    fn load(&self) -> Vec<WorkerLoad> {
        self.slots.load()
    }

    fn metrics(&self) -> QueueMetricsSnapshot {
        self.queue.metrics()
    }

    fn reset_metrics(&self) {
        self.queue.reset_metrics();
        self.slots.reset();
    }
}
