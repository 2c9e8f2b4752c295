//! ClientIP session affinity: client IP → endpoint, per service port, with a timeout.
//!
//! Semantics (K8S-SEMANTICS.md, the userspace proxier's `LoadBalancerRR`): an entry
//! holds the endpoint and the time it was last used; it is valid while
//! `now − last_used < timeout` **and** its endpoint is still in the port's current
//! selected set (present and ready — or serving+terminating while the set is the
//! fallback); a valid hit refreshes `last_used`. An invalid entry is never used: the
//! router picks again and overwrites it. The timeout is `timeoutSeconds` (unset or 0 →
//! 10800 s, capped at 86400 s as API validation does).
//!
//! # Concurrency protocol
//!
//! [`AffinityTable`] is [`SHARDS`] cache-padded `parking_lot::RwLock<HashMap>` shards,
//! chosen by a multiplicative hash of the key (service id, port index, client IP).
//!
//! - **Hit** (the hot path): the shard's *read* lock, one probe, and a relaxed
//!   `fetch_max` of the entry's `last_used` atomic — readers of one shard share it, and
//!   different clients land on different shards.
//! - **Miss**: the caller picks a backend, then [`AffinityTable::insert`] takes the
//!   shard's write lock for one insert.
//! - **Sweeping** ([`AffinityTable::sweep`]) visits a bounded number of shards per call,
//!   continuing where the last call stopped (an atomic cursor), holding one shard's
//!   write lock at a time while it drops expired entries and those whose endpoint the
//!   caller's predicate rejects. There is never a pause of the whole table: a sweep
//!   blocks at most the 1/[`SHARDS`] of clients that hash to the shard being swept.
//! - No lock is held while calling out, except the sweep predicate (which must only
//!   read the routing table, lock-free).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam::utils::CachePadded;
use fnv::FnvBuildHasher;
use kubesim_core::time::Timestamp;
use parking_lot::RwLock;

use crate::endpoints::{EndpointKey, EndpointSet};

/// `DefaultClientIPServiceAffinitySeconds`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10_800);
/// `MaxClientIPServiceAffinitySeconds`.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);
/// Number of shards of the affinity table.
pub const SHARDS: usize = 64;

/// The effective timeout for a Service's `timeoutSeconds`.
pub fn effective_timeout(timeout_seconds: Option<i32>) -> Duration {
    match timeout_seconds {
        Some(s) if s > 0 => Duration::from_secs(s as u64).min(MAX_TIMEOUT),
        _ => DEFAULT_TIMEOUT,
    }
}

/// An affinity key: service id, port index, client IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AffinityKey(u64);

impl AffinityKey {
    /// The key of `client` on port `port_index` of service `service_id`.
    #[inline]
    pub fn new(service_id: u32, port_index: u16, client: std::net::Ipv4Addr) -> Self {
        // 24 bits of service id, 8 of port index, 32 of IP: service ids are dense
        // (assigned from 1 by the router), a Service has at most a few ports.
        AffinityKey(
            (u64::from(service_id & 0x00FF_FFFF) << 40)
                | (u64::from(port_index & 0xFF) << 32)
                | u64::from(u32::from(client)),
        )
    }

    /// The service id.
    pub fn service_id(self) -> u32 {
        (self.0 >> 40) as u32
    }

    /// The port index.
    pub fn port_index(self) -> u16 {
        ((self.0 >> 32) & 0xFF) as u16
    }

    #[inline]
    fn shard(self) -> usize {
        (self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % SHARDS
    }
}

#[derive(Debug)]
struct Entry {
    endpoint: EndpointKey,
    last_used: AtomicI64,
    timeout_ms: i64,
}

type Shard = HashMap<AffinityKey, Entry, FnvBuildHasher>;

/// The sharded affinity table (see the module docs).
#[derive(Debug)]
pub struct AffinityTable {
    shards: Box<[CachePadded<RwLock<Shard>>]>,
    cursor: AtomicUsize,
}

impl Default for AffinityTable {
    fn default() -> Self {
        AffinityTable::new()
    }
}

/// What one sweep call removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Shards visited.
    pub shards: usize,
    /// Entries dropped because their timeout passed.
    pub expired: usize,
    /// Entries dropped because their endpoint left the selected set.
    pub stale: usize,
}

impl AffinityTable {
    /// An empty table.
    pub fn new() -> Self {
        AffinityTable {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(RwLock::new(Shard::default())))
                .collect(),
            cursor: AtomicUsize::new(0),
        }
    }

    /// The index in `set` of `key`'s endpoint when the entry is valid (see the module
    /// docs), refreshing its `last_used` to `now`.
    #[inline]
    pub fn lookup(&self, key: AffinityKey, set: &EndpointSet, now: Timestamp) -> Option<usize> {
        let shard = self.shards[key.shard()].read();
        let e = shard.get(&key)?;
        let last = e.last_used.load(Ordering::Relaxed);
        if now.0.saturating_sub(last) >= e.timeout_ms {
            return None;
        }
        let pos = set.position(e.endpoint)?;
        // Most hits land within the millisecond of the last one: skip the RMW then.
        if last < now.0 {
            e.last_used.fetch_max(now.0, Ordering::Relaxed);
        }
        Some(pos)
    }

    /// Records that `key` now goes to `endpoint` (used at `now`, valid for `timeout`).
    pub fn insert(
        &self,
        key: AffinityKey,
        endpoint: EndpointKey,
        now: Timestamp,
        timeout: Duration,
    ) {
        let timeout_ms = timeout.as_millis().min(i64::MAX as u128) as i64;
        self.shards[key.shard()].write().insert(
            key,
            Entry {
                endpoint,
                last_used: AtomicI64::new(now.0),
                timeout_ms,
            },
        );
    }

    /// The endpoint `key` is pinned to, valid or not (for tests and reports).
    pub fn get(&self, key: AffinityKey) -> Option<(EndpointKey, Timestamp)> {
        let shard = self.shards[key.shard()].read();
        shard
            .get(&key)
            .map(|e| (e.endpoint, Timestamp(e.last_used.load(Ordering::Relaxed))))
    }

    /// Number of entries (valid or not yet swept).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sweeps the next `max_shards` shards (see the module docs): drops entries whose
    /// timeout passed at `now`, and those for which `alive(key, endpoint)` is false.
    pub fn sweep(
        &self,
        now: Timestamp,
        max_shards: usize,
        mut alive: impl FnMut(AffinityKey, EndpointKey) -> bool,
    ) -> SweepStats {
        let mut stats = SweepStats::default();
        for _ in 0..max_shards.min(SHARDS) {
            let i = self.cursor.fetch_add(1, Ordering::Relaxed) % SHARDS;
            let mut shard = self.shards[i].write();
            shard.retain(|k, e| {
                if now.0.saturating_sub(e.last_used.load(Ordering::Relaxed)) >= e.timeout_ms {
                    stats.expired += 1;
                    false
                } else if !alive(*k, e.endpoint) {
                    stats.stale += 1;
                    false
                } else {
                    true
                }
            });
            stats.shards += 1;
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::{Backend, Candidate};
    use std::net::Ipv4Addr;

    fn set(ips: &[u8]) -> EndpointSet {
        let c: Vec<Candidate> = ips
            .iter()
            .map(|&i| Candidate {
                backend: Backend {
                    ip: Ipv4Addr::new(10, 0, 0, i),
                    port: 80,
                    pod: None,
                    node: None,
                },
                ready: true,
                serving: true,
                terminating: false,
            })
            .collect();
        EndpointSet::build(1, &c, 1)
    }

    #[test]
    fn timeout_defaults_and_cap() {
        assert_eq!(effective_timeout(None), DEFAULT_TIMEOUT);
        assert_eq!(effective_timeout(Some(0)), DEFAULT_TIMEOUT);
        assert_eq!(effective_timeout(Some(60)), Duration::from_secs(60));
        assert_eq!(effective_timeout(Some(1_000_000)), MAX_TIMEOUT);
    }

    #[test]
    fn hit_refreshes_and_expires_after_idle_timeout() {
        let t = AffinityTable::new();
        let s = set(&[1, 2]);
        let k = AffinityKey::new(3, 0, Ipv4Addr::new(1, 2, 3, 4));
        let ep = s.backends()[1].key();
        t.insert(k, ep, Timestamp(0), Duration::from_secs(10));
        assert_eq!(t.lookup(k, &s, Timestamp(9_999)), Some(1));
        // Refreshed at 9.999 s: still valid at 19.998 s, gone at 19.999 s.
        assert_eq!(t.lookup(k, &s, Timestamp(19_998)), Some(1));
        assert_eq!(t.lookup(k, &s, Timestamp(29_998)), None);
        assert_eq!((k.service_id(), k.port_index()), (3, 0));
    }

    #[test]
    fn entry_for_a_vanished_endpoint_is_not_used_and_is_swept() {
        let t = AffinityTable::new();
        let s = set(&[1, 2]);
        let k = AffinityKey::new(1, 0, Ipv4Addr::new(1, 2, 3, 4));
        t.insert(k, s.backends()[0].key(), Timestamp(0), DEFAULT_TIMEOUT);
        let s2 = set(&[2, 3]);
        assert_eq!(t.lookup(k, &s2, Timestamp(1)), None);
        let mut stats = SweepStats::default();
        for _ in 0..SHARDS {
            let r = t.sweep(Timestamp(1), 1, |_, ep| s2.contains(ep));
            stats.stale += r.stale;
            stats.shards += r.shards;
        }
        assert_eq!((stats.stale, stats.shards), (1, SHARDS));
        assert!(t.is_empty());
    }

    #[test]
    fn sweep_is_incremental_and_drops_expired() {
        let t = AffinityTable::new();
        for c in 0..1000u32 {
            let k = AffinityKey::new(1, 0, Ipv4Addr::from(c));
            t.insert(k, 1, Timestamp(c as i64), Duration::from_millis(500));
        }
        let r = t.sweep(Timestamp(1000), 8, |_, _| true);
        assert_eq!(r.shards, 8);
        assert!(r.expired < 1000, "one call visits only its shards");
        let mut total = r.expired;
        for _ in 0..7 {
            total += t.sweep(Timestamp(1000), 8, |_, _| true).expired;
        }
        // Entries used at c >= 500 are still within 500 ms of t = 1000.
        assert_eq!(total, 501);
        assert_eq!(t.len(), 499);
    }
}
