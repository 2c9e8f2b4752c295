//! ClientIP session affinity: client IP → endpoint, per service port, with a timeout.
//!
//! Semantics (K8S-SEMANTICS.md, the userspace proxier's `LoadBalancerRR`): an entry
//! holds the endpoint and the time it was last used; it is valid while
//! `now − last_used < timeout` **and** its endpoint has been in the port's selected set
//! (present and ready — or serving+terminating while the set is the fallback) in every
//! version since the entry was made: an endpoint that went away (or switched between
//! ready and the fallback) voids the entry at once, even if it comes back
//! ([`EndpointSet::since`] against the entry's `born` generation); a valid hit
//! refreshes `last_used`. An invalid entry is never used: the
//! router picks again and overwrites it. The timeout is `timeoutSeconds` (unset or 0 →
//! 10800 s, capped at 86400 s as API validation does).
//!
//! A **voided** entry (its endpoint left the selected set since it was made) is
//! removed, as upstream kube-proxy deletes the affinity of a removed endpoint: by the
//! lookup that meets it (off the hit path: only a lookup that found the entry void
//! takes the shard's writer lock), and by the sweeper, whose predicate
//! ([`Router::sweep_affinity`](crate::Router::sweep_affinity)) rejects it
//! ([`EndpointSet::holds`]). Applying endpoint events does not scan the table for them:
//! entries are not indexed by endpoint, so that would cost a pass over every shard per
//! endpoint change on the writer path; a voided entry is invisible from the moment its
//! endpoint leaves, and only the memory goes with the lookup or the sweep.
//!
//! # Layout
//!
//! [`AffinityTable`] is [`SHARDS`] cache-padded shards, chosen by the top bits of a
//! 64-bit mix of the key (service id, port index, client IP packed into one `u64`).
//! A shard is an open-addressing table with linear probing over 32-byte slots (key;
//! endpoint address; last use; timeout and a hint of the endpoint's index in the set),
//! so a hit reads one slot, usually one cache line. The hint is checked against the
//! set (`backends[hint]` has the entry's address) and, when the set's version moved
//! the endpoint, replaced by the hash lookup's answer; it never decides anything on its
//! own. A shard's table grows by doubling into a new array kept in one of the shard's
//! `OnceLock` levels (load factor ≤ 3/4) and moves back to a smaller level when a
//! sweep leaves it sparse. Levels are only freed with the table, so a shard holds at
//! most twice its high-water capacity.
//!
//! # Concurrency protocol
//!
//! Every shard is a **seqlock** over atomics (no `unsafe`):
//!
//! - **Writers** (an insert, a growth, a sweep's rebuild, a removal) hold the shard's
//!   `parking_lot::Mutex`, make its sequence number odd (a `SeqCst` swap), change the
//!   slots, then make it even again (`Release`).
//! - **Hit** (the hot path) takes no lock and writes nothing shared (apart from the
//!   refresh below, and filling an entry's index hint once per set version): it reads the
//!   sequence number (`Acquire`), probes the slots (`Relaxed` loads), and accepts what
//!   it read if the number was even and is unchanged after an `Acquire` fence; otherwise
//!   it retries, and after a few failed tries it waits for the writer by taking the
//!   mutex. Two threads hitting one shard therefore share its cache lines read-only.
//! - The **refresh** of `last_used` happens only when the virtual time advanced since
//!   the last use (most hits land within the same millisecond): a `SeqCst`
//!   compare-exchange loop on the slot's `last_used` that keeps the newest time,
//!   followed by a `SeqCst` re-check of the sequence number; if a writer ran in between
//!   (it may have moved the entry and copied the old time), the lookup starts over, so
//!   no refresh is lost. The residual race: a writer that rebuilds the shard in place
//!   and puts another key whose last use is the very same millisecond into the very
//!   slot, between the reader's check and its compare-exchange, lets that key be
//!   refreshed too.
//! - **Miss**: the caller picks a backend, then [`AffinityTable::insert`] (or
//!   [`insert_at`](AffinityTable::insert_at)) writes one slot as a writer. A miss on a
//!   voided entry first removes it as a writer (after the optimistic read, with the
//!   entry checked again under the mutex; backward-shift deletion, no tombstones).
//! - **Sweeping** ([`AffinityTable::sweep`]) visits a bounded number of shards per call,
//!   continuing where the last call stopped (an atomic cursor). Per shard it holds the
//!   mutex, first reads the slots to find entries to drop (expired, or whose endpoint
//!   the caller's predicate rejects) while readers go on hitting, and only if there is
//!   one rebuilds the shard as a writer. There is never a pause of the whole table: a
//!   sweep delays at most the 1/[`SHARDS`] of clients that hash to the shard being
//!   swept.
//! - No lock is held while calling out, except the sweep predicate (which must only
//!   read the routing table, lock-free).

use std::sync::atomic::{fence, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crossbeam::utils::CachePadded;
use kubesim_core::time::Timestamp;
use parking_lot::Mutex;

use crate::endpoints::{EndpointKey, EndpointSet};

/// `DefaultClientIPServiceAffinitySeconds`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10_800);
/// `MaxClientIPServiceAffinitySeconds`.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);
/// Number of shards of the affinity table.
pub const SHARDS: usize = 64;

/// Slots of a shard's smallest level; level `l` has `MIN_SLOTS << l`.
const MIN_SLOTS: usize = 16;
/// Levels per shard: enough for 2³⁰ slots per shard.
const LEVELS: usize = 27;
/// Optimistic read attempts before waiting for the writer.
const OPTIMISTIC_TRIES: usize = 32;
/// Set in a slot's endpoint word when the slot holds an entry.
const OCCUPIED: u64 = 1 << 63;
/// No index hint.
const NO_HINT: u64 = u32::MAX as u64;

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

    /// A full-avalanche mix of the key (murmur3's finalizer): the top bits choose the
    /// shard, the low bits the home slot.
    #[inline]
    fn mix(self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// One slot: five words.
#[derive(Debug, Default)]
struct Slot {
    /// The [`AffinityKey`].
    key: AtomicU64,
    /// [`OCCUPIED`] | the endpoint address; 0 for a free slot.
    endpoint: AtomicU64,
    /// Last use (virtual ms).
    last_used: AtomicI64,
    /// `hint << 32 | timeout_ms`.
    meta: AtomicU64,
    /// The generation of the endpoint set the entry was made on ([`UNVERSIONED`] when
    /// made without one): the entry is void once its endpoint has left the selected
    /// set since then, even if it came back ([`EndpointSet::since`]).
    born: AtomicU64,
}

/// The `born` of an entry inserted without an endpoint set ([`AffinityTable::insert`]):
/// valid whenever its endpoint is in the set.
pub const UNVERSIONED: u64 = u64::MAX;

/// A slot's contents, read as one snapshot.
#[derive(Clone, Copy, Debug)]
struct Found<'a> {
    /// The slot read (refreshes go to this very slot, whatever level is current).
    slot: &'a Slot,
    endpoint: EndpointKey,
    last_used: i64,
    meta: u64,
    born: u64,
}

impl Found<'_> {
    fn timeout_ms(&self) -> i64 {
        (self.meta & 0xFFFF_FFFF) as i64
    }
    fn hint(&self) -> u64 {
        self.meta >> 32
    }
}

/// A shard's writer-side bookkeeping (under its mutex).
#[derive(Debug, Default)]
struct Writer {
    len: usize,
}

/// One shard (see the module docs).
#[derive(Debug)]
struct Shard {
    /// Odd while a writer changes the slots.
    seq: AtomicU64,
    /// The level in use.
    level: AtomicUsize,
    writer: Mutex<Writer>,
    levels: [OnceLock<Box<[Slot]>>; LEVELS],
}

fn new_level(level: usize) -> Box<[Slot]> {
    (0..MIN_SLOTS << level).map(|_| Slot::default()).collect()
}

/// Whether `len` entries fit a level of `slots` slots (load factor ≤ 3/4).
fn fits(len: usize, slots: usize) -> bool {
    len * 4 <= slots * 3
}

impl Shard {
    fn new() -> Self {
        let levels = std::array::from_fn(|_| OnceLock::new());
        levels[0].get_or_init(|| new_level(0));
        Shard {
            seq: AtomicU64::new(0),
            level: AtomicUsize::new(0),
            writer: Mutex::new(Writer::default()),
            levels,
        }
    }

    /// The slots in use (`None` only in a torn optimistic read).
    #[inline]
    fn slots(&self) -> Option<&[Slot]> {
        self.levels
            .get(self.level.load(Ordering::Relaxed))?
            .get()
            .map(|b| &**b)
    }

    /// Probes for `key` (a bounded walk, so a torn read cannot loop forever).
    #[inline]
    fn find(&self, h: u64, key: u64) -> Option<Found<'_>> {
        let slots = self.slots()?;
        let mask = slots.len() - 1;
        let mut i = h as usize & mask;
        for _ in 0..slots.len() {
            let s = &slots[i];
            let ep = s.endpoint.load(Ordering::Relaxed);
            if ep & OCCUPIED == 0 {
                return None;
            }
            if s.key.load(Ordering::Relaxed) == key {
                return Some(Found {
                    slot: s,
                    endpoint: ep & !OCCUPIED,
                    last_used: s.last_used.load(Ordering::Relaxed),
                    meta: s.meta.load(Ordering::Relaxed),
                    born: s.born.load(Ordering::Relaxed),
                });
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Runs `f` on a consistent read of `key`'s slot, with `seq` the sequence number
    /// it was read under (`None` when read under the mutex). `f` returns `None` to ask
    /// for a new read (its refresh raced with a writer).
    #[inline]
    fn read<R>(
        &self,
        h: u64,
        key: u64,
        mut f: impl FnMut(Option<Found<'_>>, Option<u64>) -> Option<R>,
    ) -> R {
        for _ in 0..OPTIMISTIC_TRIES {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 0 {
                let found = self.find(h, key);
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == s1 {
                    if let Some(r) = f(found, Some(s1)) {
                        return r;
                    }
                    continue;
                }
            }
            std::hint::spin_loop();
        }
        // A writer keeps the shard busy (a growth or a sweep): wait for it. Under the
        // mutex nothing moves, so `f` cannot ask again.
        let _w = self.writer.lock();
        loop {
            if let Some(r) = f(self.find(h, key), None) {
                return r;
            }
        }
    }

    /// Runs `f` as this shard's writer (see the module docs).
    fn write<R>(&self, w: &mut Writer, f: impl FnOnce(&mut Writer, &Shard) -> R) -> R {
        // Even: writers hold the mutex, so no other one is half-way.
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.swap(s + 1, Ordering::SeqCst);
        let r = f(w, self);
        self.seq.store(s + 2, Ordering::Release);
        r
    }

    /// Stores an entry into `slots` (writer only): into `key`'s slot if present, else
    /// into the first free slot of its probe sequence. Whether the key was new.
    fn put(slots: &[Slot], h: u64, key: u64, d: SlotData) -> bool {
        let (_, endpoint, last, meta, born) = d;
        let mask = slots.len() - 1;
        let mut i = h as usize & mask;
        // The load factor stays ≤ 3/4: a free slot is always found.
        loop {
            let s = &slots[i];
            let ep = s.endpoint.load(Ordering::Relaxed);
            let free = ep & OCCUPIED == 0;
            if free || s.key.load(Ordering::Relaxed) == key {
                s.key.store(key, Ordering::Relaxed);
                s.last_used.store(last, Ordering::Relaxed);
                s.meta.store(meta, Ordering::Relaxed);
                s.born.store(born, Ordering::Relaxed);
                s.endpoint.store(OCCUPIED | endpoint, Ordering::Relaxed);
                return free;
            }
            i = (i + 1) & mask;
        }
    }

    /// Removes `key`'s entry if it still points to `endpoint` with birth `born` (a
    /// voided entry a lookup met; another thread may have replaced it since).
    #[cold]
    #[inline(never)]
    fn remove_void(&self, h: u64, key: u64, endpoint: EndpointKey, born: u64) {
        let mut w = self.writer.lock();
        let Some(slots) = self.slots() else { return };
        let mask = slots.len() - 1;
        let mut i = h as usize & mask;
        for _ in 0..slots.len() {
            let s = &slots[i];
            let ep = s.endpoint.load(Ordering::Relaxed);
            if ep & OCCUPIED == 0 {
                return;
            }
            if s.key.load(Ordering::Relaxed) == key {
                if ep & !OCCUPIED == endpoint && s.born.load(Ordering::Relaxed) == born {
                    self.write(&mut w, |w, _| {
                        remove_at(slots, i);
                        w.len -= 1;
                    });
                }
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Moves the `entries` into level `level` (cleared first unless new) and makes it
    /// current (writer only).
    fn install(&self, level: usize, entries: impl IntoIterator<Item = SlotData>) {
        let mut fresh = false;
        let slots = self.levels[level].get_or_init(|| {
            fresh = true;
            new_level(level)
        });
        if !fresh {
            for s in slots.iter() {
                s.endpoint.store(0, Ordering::Relaxed);
            }
        }
        for d in entries {
            Shard::put(slots, AffinityKey(d.0).mix(), d.0, d);
        }
        self.level.store(level, Ordering::Relaxed);
    }

    /// The entries of the current level (writer only).
    fn entries(&self) -> Vec<SlotData> {
        occupied(self.slots().unwrap_or(&[])).collect()
    }
}

/// A slot's words: key, endpoint, last use, meta, born.
type SlotData = (u64, u64, i64, u64, u64);

/// Empties slot `i` by backward-shift deletion (writer only): each later entry of the
/// probe run that may live at the hole (its home slot is not cyclically in
/// `(hole, its slot]`) moves into it, so lookups never meet a gap before their key and
/// no tombstone is needed. `last_used` is read `SeqCst`, as in [`occupied`]: a refresh
/// that lands on the old slot after the copy sees the sequence number moved and is
/// done again where the entry went.
fn remove_at(slots: &[Slot], mut hole: usize) {
    let mask = slots.len() - 1;
    let mut j = hole;
    loop {
        j = (j + 1) & mask;
        let s = &slots[j];
        let ep = s.endpoint.load(Ordering::Relaxed);
        if ep & OCCUPIED == 0 {
            break;
        }
        let key = s.key.load(Ordering::Relaxed);
        let home = AffinityKey(key).mix() as usize & mask;
        let stays = if hole <= j {
            hole < home && home <= j
        } else {
            hole < home || home <= j
        };
        if stays {
            continue;
        }
        let d = &slots[hole];
        d.key.store(key, Ordering::Relaxed);
        d.last_used
            .store(s.last_used.load(Ordering::SeqCst), Ordering::Relaxed);
        d.meta
            .store(s.meta.load(Ordering::Relaxed), Ordering::Relaxed);
        d.born
            .store(s.born.load(Ordering::Relaxed), Ordering::Relaxed);
        d.endpoint.store(ep, Ordering::Relaxed);
        hole = j;
    }
    slots[hole].endpoint.store(0, Ordering::Relaxed);
}

/// The entries of `slots` (writer only; `SeqCst` loads of `last_used` so that a
/// concurrent refresh either lands before or sees the odd sequence number).
fn occupied(slots: &[Slot]) -> impl Iterator<Item = SlotData> + '_ {
    slots.iter().filter_map(|s| {
        let ep = s.endpoint.load(Ordering::Relaxed);
        (ep & OCCUPIED != 0).then(|| {
            (
                s.key.load(Ordering::Relaxed),
                ep & !OCCUPIED,
                s.last_used.load(Ordering::SeqCst),
                s.meta.load(Ordering::Relaxed),
                s.born.load(Ordering::Relaxed),
            )
        })
    })
}

/// The sharded affinity table (see the module docs).
#[derive(Debug)]
pub struct AffinityTable {
    shards: Box<[CachePadded<Shard>]>,
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

fn timeout_ms(timeout: Duration) -> u64 {
    // MAX_TIMEOUT is one day; anything beyond 49 days is clamped.
    timeout.as_millis().min(u128::from(u32::MAX)) as u64
}

impl AffinityTable {
    /// An empty table.
    pub fn new() -> Self {
        AffinityTable {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(Shard::new()))
                .collect(),
            cursor: AtomicUsize::new(0),
        }
    }

    #[inline]
    fn shard(&self, h: u64) -> &Shard {
        &self.shards[(h >> 58) as usize % SHARDS]
    }

    /// The index in `set` of `key`'s endpoint when the entry is valid (see the module
    /// docs), refreshing its `last_used` to `now`.
    #[inline]
    pub fn lookup(&self, key: AffinityKey, set: &EndpointSet, now: Timestamp) -> Option<usize> {
        let h = key.mix();
        let shard = self.shard(h);
        // (endpoint, born) of a void entry the read met: written only off the hit
        // path, used only after a miss. One from a read that was retried is harmless:
        // `remove_void` removes only that very entry, which stays void for `set`.
        let mut void: Option<(EndpointKey, u64)> = None;
        let found = shard.read(h, key.0, |found, seq| {
            let Some(e) = found else {
                return Some(None);
            };
            if now.0.saturating_sub(e.last_used) >= e.timeout_ms() {
                return Some(None);
            }
            let hint = e.hint() as usize;
            let pos = if set
                .backends()
                .get(hint)
                .is_some_and(|b| b.key() == e.endpoint)
            {
                hint
            } else {
                let Some(pos) = set.position(e.endpoint) else {
                    // Void — unless the entry was made on a newer version than `set`
                    // (this reader still routes on an older table).
                    if e.born <= set.generation() {
                        void = Some((e.endpoint, e.born));
                    }
                    return Some(None);
                };

                // Remember the index for this version (best effort: only if the slot
                // is unchanged).
                let meta = (pos as u64) << 32 | (e.meta & 0xFFFF_FFFF);
                let _ = e.slot.meta.compare_exchange(
                    e.meta,
                    meta,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                pos
            };
            if set.since(pos) > e.born {
                // The endpoint left the selected set after the entry was made (and came
                // back): the entry was dropped then, as upstream drops it at once.
                void = Some((e.endpoint, e.born));
                return Some(None);
            }
            // Most hits land within the millisecond of the last one: no write then.
            if e.last_used < now.0 {
                let changed = |s1: u64| shard.seq.load(Ordering::SeqCst) != s1;
                let mut cur = e.last_used;
                while cur < now.0 {
                    match e.slot.last_used.compare_exchange(
                        cur,
                        now.0,
                        Ordering::SeqCst,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break,
                        // Another refresh of the entry came first: keep the newer
                        // time, unless a writer ran (the slot may hold another key
                        // now): then start over.
                        Err(actual) => {
                            if seq.is_some_and(changed) {
                                return None;
                            }
                            cur = actual;
                        }
                    }
                }
                if seq.is_some_and(changed) {
                    // A writer may have moved the entry: look again (and refresh it
                    // where it is now).
                    return None;
                }
            }
            Some(Some(pos))
        });
        if found.is_none() {
            if let Some((endpoint, born)) = void {
                shard.remove_void(h, key.0, endpoint, born);
            }
        }
        found
    }

    /// Records that `key` now goes to `endpoint` (used at `now`, valid for `timeout`;
    /// timeouts beyond 2³² ms are clamped).
    pub fn insert(
        &self,
        key: AffinityKey,
        endpoint: EndpointKey,
        now: Timestamp,
        timeout: Duration,
    ) {
        self.insert_hinted(key, endpoint, NO_HINT, UNVERSIONED, now, timeout);
    }

    /// [`insert`](Self::insert) of `set.backends()[index]`, remembering `index` so that
    /// hits on this set version skip the address lookup. Does nothing for an index out
    /// of range.
    pub fn insert_at(
        &self,
        key: AffinityKey,
        set: &EndpointSet,
        index: usize,
        now: Timestamp,
        timeout: Duration,
    ) {
        if let Some(b) = set.backends().get(index) {
            let hint = if index < NO_HINT as usize {
                index as u64
            } else {
                NO_HINT
            };
            self.insert_hinted(key, b.key(), hint, set.generation(), now, timeout);
        }
    }

    fn insert_hinted(
        &self,
        key: AffinityKey,
        endpoint: EndpointKey,
        hint: u64,
        born: u64,
        now: Timestamp,
        timeout: Duration,
    ) {
        let h = key.mix();
        let shard = self.shard(h);
        let meta = hint << 32 | timeout_ms(timeout);
        let mut w = shard.writer.lock();
        shard.write(&mut w, |w, shard| {
            let level = shard.level.load(Ordering::Relaxed);
            let slots = shard.slots().unwrap_or(&[]);
            if !fits(w.len + 1, slots.len()) && level + 1 < LEVELS {
                shard.install(level + 1, occupied(slots));
            }
            let slots = shard.slots().unwrap_or(&[]);
            // Always true below 2³⁰ entries per shard: `put` finds a free slot.
            if w.len < slots.len()
                && Shard::put(slots, h, key.0, (key.0, endpoint, now.0, meta, born))
            {
                w.len += 1;
            }
        });
    }

    /// The endpoint `key` is pinned to, valid or not (for tests and reports).
    pub fn get(&self, key: AffinityKey) -> Option<(EndpointKey, Timestamp)> {
        let h = key.mix();
        self.shard(h).read(h, key.0, |found, _| {
            Some(found.map(|e| (e.endpoint, Timestamp(e.last_used))))
        })
    }

    /// Number of entries (valid or not yet swept).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.writer.lock().len).sum()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sweeps the next `max_shards` shards (see the module docs): drops entries whose
    /// timeout passed at `now`, and those for which `alive(key, endpoint, born)` is
    /// false (`born`: the generation of the set version the entry was made on, or
    /// [`UNVERSIONED`]; [`EndpointSet::holds`] tells whether the entry still holds).
    pub fn sweep(
        &self,
        now: Timestamp,
        max_shards: usize,
        mut alive: impl FnMut(AffinityKey, EndpointKey, u64) -> bool,
    ) -> SweepStats {
        let mut stats = SweepStats::default();
        for _ in 0..max_shards.min(SHARDS) {
            let i = self.cursor.fetch_add(1, Ordering::Relaxed) % SHARDS;
            let shard = &self.shards[i];
            let mut w = shard.writer.lock();
            stats.shards += 1;
            // Read-only pass: readers keep hitting meanwhile. The mutex keeps the set
            // of entries (and their order) fixed until the rebuild below; readers may
            // only refresh `last_used`, which the rebuild reads again.
            let expired =
                |last: i64, meta: u64| now.0.saturating_sub(last) >= (meta & 0xFFFF_FFFF) as i64;
            let entries = shard.entries();
            let live: Vec<bool> = entries
                .iter()
                .map(|&(k, ep, _, _, born)| alive(AffinityKey(k), ep, born))
                .collect();
            let doomed = entries
                .iter()
                .zip(&live)
                .any(|(&(_, _, last, meta, _), &ok)| !ok || expired(last, meta));
            if !doomed {
                continue;
            }
            shard.write(&mut w, |w, shard| {
                let mut keep = shard.entries();
                let mut ok = live.iter();
                keep.retain(|&(_, _, last, meta, _)| {
                    let live = ok.next().copied().unwrap_or(false);
                    if expired(last, meta) {
                        stats.expired += 1;
                        false
                    } else if !live {
                        stats.stale += 1;
                        false
                    } else {
                        true
                    }
                });
                // The smallest level at most half full, never a larger one.
                let current = shard.level.load(Ordering::Relaxed);
                let level = (0..current)
                    .find(|&l| keep.len() * 2 <= MIN_SLOTS << l)
                    .unwrap_or(current);
                shard.install(level, keep.iter().copied());
                w.len = keep.len();
            });
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::{Backend, Candidate};
    use std::net::Ipv4Addr;

    /// Ready endpoints 10.0.0.`i`:80.
    fn cand(ips: &[u8]) -> Vec<Candidate> {
        ips.iter()
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
            .collect()
    }

    fn set(ips: &[u8]) -> EndpointSet {
        EndpointSet::build(1, &cand(ips), 1)
    }

    #[test]
    fn an_endpoint_that_left_and_came_back_voids_the_entry() {
        let t = AffinityTable::new();
        let k = AffinityKey::new(1, 0, Ipv4Addr::new(1, 2, 3, 4));
        let v1 = EndpointSet::build(1, &cand(&[1, 2]), 1);
        let i = v1.position(
            v1.backends()
                .iter()
                .find(|b| b.ip.octets()[3] == 1)
                .unwrap()
                .key(),
        );
        t.insert_at(k, &v1, i.unwrap(), Timestamp(0), Duration::from_secs(60));
        // Still selected in the next version: the entry holds.
        let v2 = EndpointSet::build_after(2, &cand(&[1, 3]), 2, Some(&v1));
        assert!(t.lookup(k, &v2, Timestamp(1)).is_some());
        // Gone in v3, back in v4: dropped at v3 for good, as upstream.
        let v3 = EndpointSet::build_after(3, &cand(&[3]), 3, Some(&v2));
        let v4 = EndpointSet::build_after(4, &cand(&[1, 3]), 4, Some(&v3));
        assert_eq!(t.lookup(k, &v4, Timestamp(2)), None);
        // A switch to the serving+terminating fallback also voids it.
        let ep = v4.backends()[0].key();
        t.insert_at(k, &v4, 0, Timestamp(3), Duration::from_secs(60));
        let mut fb = cand(&[1, 3]);
        for c in &mut fb {
            c.ready = false;
            c.terminating = true;
        }
        let v5 = EndpointSet::build_after(5, &fb, 5, Some(&v4));
        assert!(v5.contains(ep) && v5.is_terminating_fallback());
        assert_eq!(t.lookup(k, &v5, Timestamp(4)), None);
    }

    /// A lookup that meets a voided entry removes it (not an expired one, nor one
    /// made on a newer set version than the lookup's); the other entries of the shard
    /// stay reachable whatever the order of removals (backward-shift deletion, probe
    /// runs wrapping around the slot array included).
    #[test]
    fn a_lookup_removes_the_voided_entry_it_meets() {
        let t = AffinityTable::new();
        let v1 = set(&[1, 2]);
        let (a, b) = (v1.backends()[0].key(), v1.backends()[1].key());
        // 12 keys of one shard (its 16-slot level, 3/4 full): even ones on `a`.
        let k0 = AffinityKey::new(1, 0, Ipv4Addr::new(1, 2, 3, 4));
        let shard = t.shard(k0.mix());
        let keys: Vec<AffinityKey> = (0..u32::MAX)
            .map(|c| AffinityKey::new(1, 0, Ipv4Addr::from(c)))
            .filter(|o| t.shard(o.mix()).seq.as_ptr() == shard.seq.as_ptr())
            .take(12)
            .collect();
        let on_b = |i: usize| i % 2 == 1;
        for (i, k) in keys.iter().enumerate() {
            let idx = if on_b(i) { 1 } else { 0 };
            t.insert_at(*k, &v1, idx, Timestamp(0), Duration::from_secs(60));
        }
        assert_eq!(shard.level.load(Ordering::Relaxed), 0);
        // `b` leaves: its entries are void.
        let v2 = EndpointSet::build_after(2, &cand_of(&v1, &[a]), 2, Some(&v1));
        // An older set version does not remove an entry made on v2.
        let newer = AffinityKey::new(2, 0, Ipv4Addr::LOCALHOST);
        t.insert_at(newer, &v2, 0, Timestamp(0), Duration::from_secs(60));
        let old = set(&[2]);
        assert_eq!(t.lookup(newer, &old, Timestamp(1)), None);
        assert!(t.get(newer).is_some());
        let before = t.len();
        // Remove the void ones from the middle outwards.
        let mut order: Vec<usize> = (0..keys.len()).filter(|&i| on_b(i)).collect();
        order.sort_by_key(|&i| (i as i64 - 6).abs());
        for (n, &i) in order.iter().enumerate() {
            assert_eq!(t.lookup(keys[i], &v2, Timestamp(1)), None);
            assert_eq!(t.get(keys[i]), None, "removed");
            assert_eq!(t.len(), before - n - 1);
            for (j, k) in keys.iter().enumerate() {
                let gone = on_b(j) && order[..=n].contains(&j);
                let want = (!gone).then_some(if on_b(j) { b } else { a });
                assert_eq!(t.get(*k).map(|(ep, _)| ep), want, "key {j} after {n}");
            }
        }
        for (j, k) in keys.iter().enumerate().filter(|&(j, _)| !on_b(j)) {
            assert_eq!(t.lookup(*k, &v2, Timestamp(2)), Some(0), "key {j}");
        }
        // An expired voided entry is left to the sweep (or to be overwritten).
        let k = keys[0];
        let v3 = EndpointSet::build_after(3, &cand_of(&v2, &[]), 3, Some(&v2));
        assert_eq!(t.lookup(k, &v3, Timestamp(60_002)), None);
        assert!(t.get(k).is_some());
    }

    /// Candidates for the backends of `s` whose keys are in `keep`.
    fn cand_of(s: &EndpointSet, keep: &[EndpointKey]) -> Vec<Candidate> {
        s.backends()
            .iter()
            .filter(|b| keep.contains(&b.key()))
            .map(|b| Candidate {
                backend: b.clone(),
                ready: true,
                serving: true,
                terminating: false,
            })
            .collect()
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
            let r = t.sweep(Timestamp(1), 1, |_, ep, _| s2.contains(ep));
            stats.stale += r.stale;
            stats.shards += r.shards;
        }
        assert_eq!((stats.stale, stats.shards), (1, SHARDS));
        assert!(t.is_empty());
    }

    #[test]
    fn grows_and_shrinks_without_losing_entries() {
        let t = AffinityTable::new();
        let s = set(&[1, 2, 3]);
        let key = |c: u32| AffinityKey::new(1, 0, Ipv4Addr::from(c));
        // Enough to push every shard through several levels.
        for c in 0..20_000u32 {
            let used = if c % 2 == 0 { 0 } else { 5_000 };
            t.insert_at(
                key(c),
                &s,
                (c % 3) as usize,
                Timestamp(used),
                Duration::from_secs(10),
            );
        }
        assert_eq!(t.len(), 20_000);
        // Inserting again updates in place.
        t.insert_at(key(7), &s, 0, Timestamp(5_000), Duration::from_secs(10));
        assert_eq!(t.len(), 20_000);
        assert_eq!(t.lookup(key(7), &s, Timestamp(5_001)), Some(0));
        for c in 0..20_000u32 {
            let want = if c == 7 { 0 } else { c % 3 };
            assert_eq!(t.lookup(key(c), &s, Timestamp(9_999)), Some(want as usize));
        }
        // Every client was refreshed at 9.999 s: valid until 19.999 s exclusive.
        let r = t.sweep(Timestamp(19_998), SHARDS, |_, _, _| true);
        assert_eq!((r.expired, r.stale), (0, 0));
        let r = t.sweep(Timestamp(25_000), SHARDS, |_, _, _| true);
        assert_eq!(r.expired, 20_000);
        assert!(t.is_empty());
        // The shards moved back to their smallest level and still work.
        for sh in t.shards.iter() {
            assert_eq!(sh.level.load(Ordering::Relaxed), 0);
        }
        t.insert(key(1), s.backends()[2].key(), Timestamp(0), DEFAULT_TIMEOUT);
        assert_eq!(t.lookup(key(1), &s, Timestamp(1)), Some(2));
    }

    #[test]
    fn index_hint_is_checked_against_the_set() {
        let t = AffinityTable::new();
        let k = AffinityKey::new(1, 0, Ipv4Addr::new(1, 2, 3, 4));
        let s1 = set(&[1, 2, 3]);
        t.insert_at(k, &s1, 2, Timestamp(0), DEFAULT_TIMEOUT);
        assert_eq!(t.lookup(k, &s1, Timestamp(1)), Some(2));
        // A new version without 10.0.0.1: the endpoint moved to index 1.
        let s2 = set(&[2, 3]);
        assert_eq!(t.lookup(k, &s2, Timestamp(2)), Some(1));
        assert_eq!(t.lookup(k, &s2, Timestamp(3)), Some(1));
        // Back to the old version: still right.
        assert_eq!(t.lookup(k, &s1, Timestamp(4)), Some(2));
        // Out of range: nothing recorded.
        t.insert_at(
            AffinityKey::new(2, 0, Ipv4Addr::LOCALHOST),
            &s1,
            3,
            Timestamp(0),
            DEFAULT_TIMEOUT,
        );
        assert_eq!(t.len(), 1);
    }

    /// Readers hit and refresh a fixed set of clients while a writer keeps making the
    /// shards grow (moving every entry) and sweeping the other clients away: no reader
    /// ever misses or gets a wrong endpoint, and no refresh is lost.
    #[test]
    fn optimistic_readers_survive_concurrent_growth_and_sweeps() {
        const CLIENTS: u32 = 1_024;
        const ROUNDS: i64 = 500;
        let t = AffinityTable::new();
        let s = set(&[1, 2, 3, 4, 5]);
        let key = |svc: u32, c: u32| AffinityKey::new(svc, 0, Ipv4Addr::from(c));
        for c in 0..CLIENTS {
            t.insert_at(
                key(1, c),
                &s,
                (c % 5) as usize,
                Timestamp(0),
                DEFAULT_TIMEOUT,
            );
        }
        let readers_done = AtomicUsize::new(0);
        let waves = std::thread::scope(|scope| {
            for r in 0..2u32 {
                let (t, s, done) = (&t, &s, &readers_done);
                scope.spawn(move || {
                    for round in 1..=ROUNDS {
                        for c in (0..CLIENTS).filter(|c| c % 2 == r) {
                            let got = t.lookup(key(1, c), s, Timestamp(round));
                            assert_eq!(got, Some((c % 5) as usize), "client {c} round {round}");
                        }
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                });
            }
            let (t, s, done) = (&t, &s, &readers_done);
            scope
                .spawn(move || {
                    let mut waves = 0;
                    while done.load(Ordering::SeqCst) < 2 {
                        // Mostly a few entries (the shards rebuild in place), now and
                        // then many (they grow, then shrink back).
                        let n = if waves % 8 == 0 { 3_000 } else { 64 };
                        for c in 0..n {
                            t.insert_at(key(2, c), s, 0, Timestamp(0), DEFAULT_TIMEOUT);
                        }
                        // Drop service 2 (and only it).
                        let r = t.sweep(Timestamp(0), SHARDS, |k, _, _| k.service_id() != 2);
                        assert_eq!(r.stale, n as usize, "wave {waves}");
                        waves += 1;
                    }
                    waves
                })
                .join()
                .unwrap()
        });
        assert!(waves > 0);
        assert_eq!(t.len(), CLIENTS as usize);
        for c in 0..CLIENTS {
            assert_eq!(
                t.get(key(1, c)).map(|(_, used)| used),
                Some(Timestamp(ROUNDS))
            );
        }
    }

    /// Every change of a shard's slots moves its sequence number (so an optimistic
    /// read that overlapped it is retried) and leaves it even; reads and a sweep that
    /// drops nothing leave it alone.
    #[test]
    fn every_writer_moves_the_sequence_number() {
        let t = AffinityTable::new();
        let s = set(&[1, 2]);
        let k = AffinityKey::new(1, 0, Ipv4Addr::new(1, 2, 3, 4));
        let shard = t.shard(k.mix());
        let seq = || shard.seq.load(Ordering::SeqCst);
        let mut last = seq();
        let mut moved = |what: &str| {
            let now = seq();
            assert!(now != last && now % 2 == 0, "{what}: {last} -> {now}");
            last = now;
        };
        t.insert_at(k, &s, 0, Timestamp(0), DEFAULT_TIMEOUT);
        moved("new key");
        t.insert_at(k, &s, 1, Timestamp(1), DEFAULT_TIMEOUT);
        moved("overwrite");
        // Keys of the same shard until it grows.
        let same: Vec<AffinityKey> = (0..u32::MAX)
            .map(|c| AffinityKey::new(1, 0, Ipv4Addr::from(c)))
            .filter(|o| *o != k && t.shard(o.mix()).seq.as_ptr() == shard.seq.as_ptr())
            .take(MIN_SLOTS)
            .collect();
        for o in &same {
            t.insert(*o, s.backends()[0].key(), Timestamp(0), DEFAULT_TIMEOUT);
            moved("insert");
        }
        assert!(shard.level.load(Ordering::Relaxed) > 0, "grew");
        let before = seq();
        assert_eq!(t.lookup(k, &s, Timestamp(1)), Some(1));
        assert_eq!(t.lookup(k, &s, Timestamp(2)), Some(1));
        assert!(t.get(k).is_some());
        let i = (0..SHARDS)
            .find(|&i| t.shards[i].seq.as_ptr() == shard.seq.as_ptr())
            .unwrap();
        t.cursor.store(i, Ordering::Relaxed);
        t.sweep(Timestamp(2), 1, |_, _, _| true);
        assert_eq!(seq(), before, "reads and an empty sweep write nothing");
        t.cursor.store(i, Ordering::Relaxed);
        let r = t.sweep(Timestamp(2), 1, |key, _, _| key == k);
        assert_eq!(r.stale, MIN_SLOTS);
        moved("sweep");
        assert_eq!(t.lookup(k, &s, Timestamp(3)), Some(1));
    }

    /// Two threads refresh one entry with interleaved times: the newest one stays.
    #[test]
    fn concurrent_refreshes_keep_the_newest_time() {
        const N: i64 = 20_000;
        let t = AffinityTable::new();
        let s = set(&[1, 2]);
        let k = AffinityKey::new(1, 0, Ipv4Addr::new(1, 2, 3, 4));
        t.insert_at(k, &s, 1, Timestamp(0), DEFAULT_TIMEOUT);
        std::thread::scope(|scope| {
            for parity in 0..2 {
                let (t, s) = (&t, &s);
                scope.spawn(move || {
                    for now in (1..=N).filter(|n| n % 2 == parity) {
                        assert_eq!(t.lookup(k, s, Timestamp(now)), Some(1));
                    }
                });
            }
        });
        assert_eq!(t.get(k), Some((s.backends()[1].key(), Timestamp(N))));
    }

    #[test]
    fn sweep_is_incremental_and_drops_expired() {
        let t = AffinityTable::new();
        for c in 0..1000u32 {
            let k = AffinityKey::new(1, 0, Ipv4Addr::from(c));
            t.insert(k, 1, Timestamp(c as i64), Duration::from_millis(500));
        }
        let r = t.sweep(Timestamp(1000), 8, |_, _, _| true);
        assert_eq!(r.shards, 8);
        assert!(r.expired < 1000, "one call visits only its shards");
        let mut total = r.expired;
        for _ in 0..7 {
            total += t.sweep(Timestamp(1000), 8, |_, _, _| true).expired;
        }
        // Entries used at c >= 500 are still within 500 ms of t = 1000.
        assert_eq!(total, 501);
        assert_eq!(t.len(), 499);
    }
}
