//! The one ReplicaSet reconcile both sides run, and the bench-local state it shares
//! between a side's watch path and its reconciles.
//!
//! [`reconcile`] is written against [`ReplicaSetApi`], which each side implements over
//! its own store and write path (kubesim: a [`Store`](kubesim_core::store::Store) view
//! and the runtime's recorded writes; kube-runtime: reflector `Store`s and an "API"
//! that feeds the watch streams). What the body does, as upstream's ReplicaSet
//! controller does in outline:
//!
//! 1. list the ReplicaSet's active pods (controlled by it: the owner's uid in the
//!    pod's controller reference, not terminating);
//! 2. if its [`Expectations`] are satisfied (every create and delete of the last
//!    reconcile has been observed on the watch), diff the count against
//!    `spec.replicas`: create the missing pods, or delete the surplus (the last by
//!    name), raising the expectations first;
//! 3. write `status.replicas` = the number of pods listed in 1, if it changed.
//!
//! The expectations are what makes a reconcile on a lagging cache safe: without them a
//! reconcile that runs before the watch delivered the previous reconcile's creates
//! would create the pods again. (No 5-minute expiry here: nothing is lost in these
//! runs, and a timer would only keep the runtimes busy.)
//!
//! # Concurrency
//!
//! [`Expectations`] and [`PendingSince`] are [`ShardedMap`]s: 32 parking_lot
//! mutexes over hash maps, each lock held only for one map operation and never while
//! another is taken. A key's expectations are raised by its reconcile (at most one at
//! a time per key, which both runtimes guarantee) and lowered by the watch path (one
//! thread or task per side); counters are atomics.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use kubesim_core::intern::FastBuildHasher;
use parking_lot::Mutex;

/// What [`reconcile`] needs from a side, for one ReplicaSet.
pub trait ReplicaSetApi {
    /// How the side names a pod (sorted to pick the pods to delete).
    type PodRef: Ord + Clone;

    /// `spec.replicas`.
    fn replicas(&self) -> i32;

    /// `status.replicas` as the side's store shows it.
    fn status_replicas(&self) -> i32;

    /// The active pods the ReplicaSet controls.
    fn owned_pods(&mut self) -> Vec<Self::PodRef>;

    /// Creates `n` pods from the template, controlled by the ReplicaSet.
    fn create_pods(&mut self, n: usize);

    /// Deletes these pods.
    fn delete_pods(&mut self, pods: &[Self::PodRef]);

    /// Writes `status.replicas`.
    fn write_status(&mut self, replicas: i32);
}

/// What one reconcile did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Pods created.
    pub created: usize,
    /// Pods deleted.
    pub deleted: usize,
    /// Whether the status was written.
    pub status_written: bool,
}

/// Counters both sides keep the same way (bumped by [`reconcile`]).
#[derive(Debug, Default)]
pub struct Counters {
    /// Reconciles run.
    pub reconciles: AtomicU64,
    /// Pods created.
    pub creates: AtomicU64,
    /// Pods deleted.
    pub deletes: AtomicU64,
    /// Status writes.
    pub status_writes: AtomicU64,
}

impl Counters {
    /// (reconciles, creates, deletes, status writes).
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.reconciles.load(Ordering::Relaxed),
            self.creates.load(Ordering::Relaxed),
            self.deletes.load(Ordering::Relaxed),
            self.status_writes.load(Ordering::Relaxed),
        )
    }
}

/// The ReplicaSet reconcile of both sides (see the [module docs](self)).
pub fn reconcile<K, A>(exp: &Expectations<K>, counters: &Counters, key: &K, api: &mut A) -> Outcome
where
    K: Hash + Eq + Clone,
    A: ReplicaSetApi,
{
    counters.reconciles.fetch_add(1, Ordering::Relaxed);
    let mut out = Outcome::default();
    let pods = api.owned_pods();
    let want = api.replicas().max(0) as usize;
    if exp.satisfied(key) {
        if pods.len() < want {
            let n = want - pods.len();
            exp.expect(key, n as i64, 0);
            api.create_pods(n);
            out.created = n;
        } else if pods.len() > want {
            let mut sorted = pods.clone();
            sorted.sort_unstable();
            let victims = &sorted[want..];
            exp.expect(key, 0, victims.len() as i64);
            api.delete_pods(victims);
            out.deleted = victims.len();
        }
    }
    let observed = pods.len() as i32;
    if observed != api.status_replicas() {
        api.write_status(observed);
        out.status_written = true;
    }
    counters
        .creates
        .fetch_add(out.created as u64, Ordering::Relaxed);
    counters
        .deletes
        .fetch_add(out.deleted as u64, Ordering::Relaxed);
    counters
        .status_writes
        .fetch_add(u64::from(out.status_written), Ordering::Relaxed);
    out
}

const SHARDS: usize = 32;

/// A hash map split over 32 mutexes (`SHARDS`) by the key's hash. Keys are hashed
/// with kubesim's [`FastBuildHasher`] (on both sides: these maps are the bench's own,
/// not part of either runtime).
pub struct ShardedMap<K, V> {
    hasher: FastBuildHasher,
    shards: Vec<Mutex<HashMap<K, V, FastBuildHasher>>>,
}

impl<K: Hash + Eq, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        ShardedMap {
            hasher: FastBuildHasher::default(),
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
        }
    }
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    /// Runs `f` on the shard holding `key` (its lock held for the call only).
    pub fn with<Q, R>(&self, key: &Q, f: impl FnOnce(&mut HashMap<K, V, FastBuildHasher>) -> R) -> R
    where
        K: Borrow<Q>,
        Q: Hash + ?Sized,
    {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        f(&mut self.shards[i].lock())
    }

    /// Entries in all shards.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Whether every shard is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Creates and deletes a ReplicaSet's last reconcile asked for and the watch has not
/// shown yet (upstream's `ControllerExpectations`, by count, without expiry).
pub struct Expectations<K> {
    map: ShardedMap<K, (i64, i64)>,
}

impl<K: Hash + Eq + Clone> Default for Expectations<K> {
    fn default() -> Self {
        Expectations {
            map: ShardedMap::default(),
        }
    }
}

impl<K: Hash + Eq + Clone> Expectations<K> {
    /// Whether nothing is outstanding for `key`.
    pub fn satisfied(&self, key: &K) -> bool {
        self.map
            .with(key, |m| m.get(key).is_none_or(|&(a, d)| a <= 0 && d <= 0))
    }

    /// Sets `key`'s expectations (before the writes are sent).
    pub fn expect(&self, key: &K, adds: i64, deletes: i64) {
        self.map.with(key, |m| {
            m.insert(key.clone(), (adds, deletes));
        });
    }

    /// The watch showed a pod of `key` created.
    pub fn observe_add(&self, key: &K) {
        self.map.with(key, |m| {
            if let Some(e) = m.get_mut(key) {
                e.0 -= 1;
            }
        });
    }

    /// The watch showed a pod of `key` deleted.
    pub fn observe_delete(&self, key: &K) {
        self.map.with(key, |m| {
            if let Some(e) = m.get_mut(key) {
                e.1 -= 1;
            }
        });
    }
}

/// Key → wall time of its oldest event not yet served by a reconcile start: the
/// event-to-reconcile latency of the kube-runtime side, measured at the points where
/// kubesim's runtime measures its own (the event handed to the controller machinery →
/// the reconcile starting).
pub struct PendingSince<K> {
    map: ShardedMap<K, Instant>,
}

impl<K: Hash + Eq> Default for PendingSince<K> {
    fn default() -> Self {
        PendingSince {
            map: ShardedMap::default(),
        }
    }
}

impl<K: Hash + Eq> PendingSince<K> {
    /// An event for `key` arrived now (kept if an older one is unserved).
    pub fn event(&self, key: K, now: Instant) {
        let i = (self.map.hasher.hash_one(&key) as usize) % SHARDS;
        self.map.shards[i].lock().entry(key).or_insert(now);
    }

    /// A reconcile of `key` starts: the oldest unserved event's time, if any.
    pub fn take(&self, key: &K) -> Option<Instant> {
        self.map.with(key, |m| m.remove(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory side: the pods exist as soon as they are written, the watch is
    /// driven by the test.
    #[derive(Default)]
    struct Fake {
        replicas: i32,
        status: i32,
        pods: Vec<u32>,
        next: u32,
        created: Vec<u32>,
        deleted: Vec<u32>,
    }

    impl ReplicaSetApi for Fake {
        type PodRef = u32;
        fn replicas(&self) -> i32 {
            self.replicas
        }
        fn status_replicas(&self) -> i32 {
            self.status
        }
        fn owned_pods(&mut self) -> Vec<u32> {
            self.pods.clone()
        }
        fn create_pods(&mut self, n: usize) {
            for _ in 0..n {
                self.next += 1;
                self.created.push(self.next);
            }
        }
        fn delete_pods(&mut self, pods: &[u32]) {
            self.deleted.extend_from_slice(pods);
        }
        fn write_status(&mut self, replicas: i32) {
            self.status = replicas;
        }
    }

    #[test]
    fn creates_waits_for_the_watch_then_reports_status() {
        let exp = Expectations::default();
        let c = Counters::default();
        let mut f = Fake {
            replicas: 3,
            ..Fake::default()
        };
        let out = reconcile(&exp, &c, &"rs", &mut f);
        assert_eq!(out.created, 3);
        assert!(!out.status_written, "0 observed, status already 0");
        // The cache shows one pod, the watch has delivered one add: no second create.
        f.pods = vec![f.created[0]];
        exp.observe_add(&"rs");
        let out = reconcile(&exp, &c, &"rs", &mut f);
        assert_eq!((out.created, f.status), (0, 1));
        f.pods.clone_from(&f.created);
        exp.observe_add(&"rs");
        exp.observe_add(&"rs");
        let out = reconcile(&exp, &c, &"rs", &mut f);
        assert_eq!((out.created, out.deleted, f.status), (0, 0, 3));
        let out = reconcile(&exp, &c, &"rs", &mut f);
        assert_eq!(out, Outcome::default(), "converged: nothing to do");
        assert_eq!(c.snapshot(), (4, 3, 0, 2));
    }

    #[test]
    fn deletes_the_surplus_last_by_name() {
        let exp = Expectations::default();
        let c = Counters::default();
        let mut f = Fake {
            replicas: 2,
            status: 4,
            pods: vec![7, 3, 9, 5],
            ..Fake::default()
        };
        let out = reconcile(&exp, &c, &"rs", &mut f);
        assert_eq!(out.deleted, 2);
        assert_eq!(f.deleted, vec![7, 9]);
        assert!(!exp.satisfied(&"rs"));
        exp.observe_delete(&"rs");
        exp.observe_delete(&"rs");
        assert!(exp.satisfied(&"rs"));
    }

    #[test]
    fn pending_keeps_the_oldest_event() {
        let p = PendingSince::default();
        let t0 = Instant::now();
        let t1 = t0 + std::time::Duration::from_millis(5);
        p.event("a", t0);
        p.event("a", t1);
        assert_eq!(p.take(&"a"), Some(t0));
        assert_eq!(p.take(&"a"), None);
    }
}
