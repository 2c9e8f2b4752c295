//! `hash`: N independent work queues, a key goes to `hash(key) mod N`.

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use super::{
    mod_n, stable_hash, DispatchConfig, DispatchError, Dispatcher, ReshardReport, Result, Routed,
    Slots, Strategy, WorkerLoad,
};
use crate::time::{Clock, Timestamp};
use crate::workqueue::{QueueMetricsSnapshot, WorkQueue};

/// The `hash` strategy: worker `w` owns [`WorkQueue`] `w`; a key always lives in queue
/// `hash(key) mod N`, so each queue's own protocol gives per-key exclusivity. No state
/// is shared between workers. N is fixed.
pub struct HashMod<K> {
    queues: Box<[WorkQueue<K>]>,
    slots: Slots,
}

impl<K: Clone + Eq + Hash + Send + 'static> HashMod<K> {
    /// `config.workers` queues on `clock`.
    pub fn new(config: DispatchConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        config.validate()?;
        let n = config.workers;
        Ok(HashMod {
            queues: (0..n)
                .map(|_| WorkQueue::with_config(clock.clone(), config.queue.clone()))
                .collect(),
            slots: Slots::new(n, n),
        })
    }

    /// The worker (and queue) of `key`.
    pub fn worker_of(&self, key: &K) -> usize {
        mod_n(stable_hash(key), self.queues.len())
    }

    /// Worker `w`'s queue.
    pub fn queue(&self, worker: usize) -> Option<&WorkQueue<K>> {
        self.queues.get(worker)
    }

    fn queue_of(&self, key: &K) -> &WorkQueue<K> {
        &self.queues[self.worker_of(key)]
    }

    /// Workers blocked in `next` right now.
    #[cfg(test)]
    pub(crate) fn sleeping(&self) -> usize {
        self.queues.iter().map(|q| q.waiters()).sum()
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Dispatcher<K> for HashMod<K> {
    fn strategy(&self) -> Strategy {
        Strategy::Hash
    }

    fn workers(&self) -> usize {
        self.queues.len()
    }

    fn worker_ids(&self) -> Vec<usize> {
        (0..self.queues.len()).collect()
    }

    fn add(&self, item: Routed<K>) {
        self.queue_of(&item.key).add(item.key);
    }

    fn add_batch(&self, items: &mut Vec<Routed<K>>) {
        match self.queues.len() {
            _ if items.len() <= 1 => {
                for item in items.drain(..) {
                    self.add(item);
                }
            }
            1 => self.queues[0].add_many(items.drain(..).map(|i| i.key)),
            n => {
                // One lock per queue; each queue sees its keys in batch order.
                let mut per_queue: Vec<Vec<K>> = (0..n).map(|_| Vec::new()).collect();
                for item in items.drain(..) {
                    per_queue[self.worker_of(&item.key)].push(item.key);
                }
                for (q, keys) in self.queues.iter().zip(per_queue) {
                    if !keys.is_empty() {
                        q.add_many(keys);
                    }
                }
            }
        }
    }

    fn add_after(&self, item: Routed<K>, delay: Duration) {
        self.queue_of(&item.key).add_after(item.key, delay);
    }

    fn add_rate_limited(&self, item: Routed<K>) {
        self.queue_of(&item.key).add_rate_limited(item.key);
    }

    fn forget(&self, key: &K) {
        self.queue_of(key).forget(key);
    }

    fn num_requeues(&self, key: &K) -> u32 {
        self.queue_of(key).num_requeues(key)
    }

    fn try_next(&self, worker: usize) -> Option<K> {
        let key = self.queues.get(worker)?.try_get();
        self.slots.handed_out(worker, key)
    }

    fn next(&self, worker: usize) -> Option<K> {
        let key = self.queues.get(worker)?.get();
        self.slots.handed_out(worker, key)
    }

    fn done(&self, worker: usize, key: &K) -> bool {
        let Some(q) = self.queues.get(worker) else {
            return false;
        };
        let f = q.finish(key);
        if f.was_processing {
            self.slots.get(worker).finished(f.worked);
        }
        f.was_processing
    }

    fn forget_done(&self, worker: usize, key: &K) -> bool {
        // A key handed to `worker` lives in `worker`'s queue (N is fixed); any other
        // key takes the two-step path, whose `done` is then a no-op.
        match self.queues.get(worker) {
            Some(q) if self.worker_of(key) == worker => {
                let f = q.finish_forget(key);
                if f.was_processing {
                    self.slots.get(worker).finished(f.worked);
                }
                f.was_processing
            }
            _ => {
                self.forget(key);
                self.done(worker, key)
            }
        }
    }

    fn next_due(&self) -> Option<Timestamp> {
        self.queues.iter().filter_map(|q| q.next_due()).min()
    }

    fn promote_due(&self) {
        for q in self.queues.iter() {
            q.promote_due();
        }
    }

    fn is_idle(&self) -> bool {
        // Hold every idle queue's lock until all are checked: a worker of one queue
        // may add to another before its `done`, so checking them one at a time could
        // see each idle at a different instant.
        let mut held = Vec::with_capacity(self.queues.len());
        for q in self.queues.iter() {
            match q.lock_if_idle() {
                Some(g) => held.push(g),
                None => return false,
            }
        }
        true
    }

    fn shutdown(&self) {
        for q in self.queues.iter() {
            q.shutdown();
        }
    }

    fn add_worker(&self) -> Result<ReshardReport> {
        Err(DispatchError::Unsupported {
            strategy: Strategy::Hash,
            operation: "add",
        })
    }

    fn remove_worker(&self, _worker: usize) -> Result<ReshardReport> {
        Err(DispatchError::Unsupported {
            strategy: Strategy::Hash,
            operation: "remove",
        })
    }

    fn load(&self) -> Vec<WorkerLoad> {
        self.slots.load()
    }

    fn metrics(&self) -> QueueMetricsSnapshot {
        let mut m = QueueMetricsSnapshot::new();
        for q in self.queues.iter() {
            m.merge(&q.metrics());
        }
        m
    }

    fn reset_metrics(&self) {
        for q in self.queues.iter() {
            q.reset_metrics();
        }
        self.slots.reset();
    }
}
