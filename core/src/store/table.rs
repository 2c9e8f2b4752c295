//! One kind's objects: a fixed number of shards, each a small open-addressing table
//! over a slot vector.
//!
//! An object's key `(namespace, name)` hashes to a 32-bit value `h`; its top
//! [`SHARD_BITS`] bits pick the shard. Within the shard, a `hashbrown::HashTable` holds
//! 8-byte entries `(h, slot)`, and `slots[slot]` holds the object's name and its
//! `Arc<Object>` (the slot is also what resolves index ids). A `get` probes the table,
//! reads the slot, and compares the name (from the slot) and the namespace (from the
//! object) — two loads that overlap instead of following one another — then clones the
//! `Arc`. The name in the slot is a clone of the object's own `Str` (a reference count,
//! not a copy of the text); a key's name never changes, so an update replaces the
//! slot's `Arc` and leaves the table alone.
//!
//! Memory: hashbrown sizes the table to a power of two buckets at most 7/8 full (so
//! 44%–88% full: 48% at 1M pods over 64 shards), which makes an entry's size count
//! about twice per object, while the slot vector is dense. Keeping names and objects
//! in the slots and only `(h, slot)` in the table costs 36 bytes per object at 1M
//! pods, where 24-byte entries `(h, slot, Arc, name)` beside the slot vector cost 61.
//!
//! An object's store-wide id is `slot << SHARD_BITS | shard`: objects created one after
//! another get nearby ids, so the posting lists of objects created together (a
//! ReplicaSet's pods) stay dense and compress well in `roaring`.
//!
//! Slots freed by a delete are reused by later creates in the same shard (see the
//! module docs of [`crate::store`] for why that is safe), so memory follows the live
//! object count, not the number of objects ever created.

use std::sync::Arc;

use hashbrown::HashTable;

use crate::intern::Str;
use crate::model::Object;

/// Shard count per kind, as a power of two.
pub(crate) const SHARD_BITS: u32 = 6;
/// Shards per kind.
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;
const LOCAL_BITS: u32 = 32 - SHARD_BITS;
const LOCAL_MAX: u32 = (1 << LOCAL_BITS) - 1;

/// The shard of a key hash.
pub(crate) fn shard_of_hash(h: u32) -> usize {
    (h >> LOCAL_BITS) as usize
}

/// An object's id from its shard and slot.
pub(crate) fn make_id(shard: usize, local: u32) -> u32 {
    (local << SHARD_BITS) | shard as u32
}

/// `(shard, slot)` of an id.
pub(crate) fn split_id(id: u32) -> (usize, u32) {
    ((id as usize) & (SHARDS - 1), id >> SHARD_BITS)
}

const K: u64 = 0x517c_c1b7_2722_0a95;

#[inline]
fn fx_word(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(K)
}

#[inline]
fn fx_bytes(mut h: u64, b: &[u8]) -> u64 {
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = fx_word(h, u64::from_le_bytes(w));
    }
    let rem = chunks.remainder();
    if !rem.is_empty() {
        let mut w = [0u8; 8];
        w[..rem.len()].copy_from_slice(rem);
        h = fx_word(h, u64::from_le_bytes(w));
    }
    fx_word(h, b.len() as u64)
}

/// MurmurHash3's 64-bit finalizer: a bijection that spreads every input bit.
#[inline]
pub(crate) fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The 32-bit hash of a key (deterministic: no per-process seed).
#[inline]
pub(crate) fn key_hash(namespace: &str, name: &str) -> u32 {
    let h = fx_bytes(0, namespace.as_bytes());
    let h = fx_bytes(h, name.as_bytes());
    let x = fmix64(h);
    (x ^ (x >> 32)) as u32
}

/// The table's 64-bit hash, re-derived from the stored 32 bits (so a resize never
/// touches the objects).
#[inline]
fn table_hash(h: u32) -> u64 {
    fmix64(u64::from(h))
}

/// A table entry: the key hash (compared first, and all a resize reads) and the slot.
struct Entry {
    hash: u32,
    local: u32,
}

/// A live slot.
struct Live {
    /// The object's name, kept beside the `Arc` so that a lookup compares it while the
    /// object's own cache line is still on its way (the two loads overlap).
    name: Str,
    obj: Arc<Object>,
}

/// One shard: guarded by its kind's `RwLock<Shard>`.
#[derive(Default)]
pub(crate) struct Shard {
    table: HashTable<Entry>,
    slots: Vec<Option<Live>>,
    free: Vec<u32>,
}

impl Shard {
    /// The slot and object stored under the key.
    #[inline]
    pub(crate) fn lookup(
        &self,
        h: u32,
        namespace: &str,
        name: &str,
    ) -> Option<(u32, &Arc<Object>)> {
        let slots = &self.slots;
        let e = self.table.find(table_hash(h), |e| {
            e.hash == h
                && slots
                    .get(e.local as usize)
                    .and_then(Option::as_ref)
                    .is_some_and(|l| {
                        l.name.as_str() == name && l.obj.namespace().as_str() == namespace
                    })
        })?;
        Some((e.local, &slots.get(e.local as usize)?.as_ref()?.obj))
    }

    /// The object in a slot.
    #[inline]
    pub(crate) fn slot(&self, local: u32) -> Option<&Arc<Object>> {
        self.slots
            .get(local as usize)
            .and_then(|s| s.as_ref())
            .map(|l| &l.obj)
    }

    /// Reserves an empty slot for a new key (and table room for its entry, so that
    /// [`publish`](Self::publish) never resizes). `None` when the shard is full (2^26
    /// live objects).
    pub(crate) fn reserve(&mut self) -> Option<u32> {
        let local = match self.free.pop() {
            Some(l) => l,
            None => {
                let l = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&l| l <= LOCAL_MAX)?;
                self.slots.push(None);
                l
            }
        };
        self.table.reserve(1, |e| table_hash(e.hash));
        Some(local)
    }

    /// Makes table room for `additional` more entries (a batch that reserved several
    /// slots of this shard before publishing any).
    pub(crate) fn reserve_room(&mut self, additional: usize) {
        self.table.reserve(additional, |e| table_hash(e.hash));
    }

    /// Stores `obj` (key hash `h`) in `local`: a new entry for a reserved slot, or a
    /// replacement for the current version. Returns the previous version.
    pub(crate) fn publish(&mut self, h: u32, local: u32, obj: Arc<Object>) -> Option<Arc<Object>> {
        match &mut self.slots[local as usize] {
            // Same key, so the same name: the table entry stays as it is.
            Some(live) => Some(std::mem::replace(&mut live.obj, obj)),
            slot => {
                *slot = Some(Live {
                    name: obj.name().clone(),
                    obj,
                });
                self.table
                    .insert_unique(table_hash(h), Entry { hash: h, local }, |e| {
                        table_hash(e.hash)
                    });
                None
            }
        }
    }

    /// Removes the object in `local` (key hash `h`) and frees the slot. Returns it.
    pub(crate) fn remove(&mut self, h: u32, local: u32) -> Option<Arc<Object>> {
        if let Ok(entry) = self.table.find_entry(table_hash(h), |e| e.local == local) {
            entry.remove();
        }
        let prev = self.slots[local as usize].take();
        self.free.push(local);
        prev.map(|l| l.obj)
    }

    /// Every stored object with its slot.
    pub(crate) fn objects(&self) -> impl Iterator<Item = (u32, &Arc<Object>)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|l| (i as u32, &l.obj)))
    }

    /// Bytes held by the table and slot vectors (not the objects).
    pub(crate) fn memory_bytes(&self) -> usize {
        // `capacity()` counts items; the table has about 8/7 as many buckets.
        self.table.capacity() * 8 / 7 * (size_of::<Entry>() + 1)
            + self.slots.capacity() * size_of::<Option<Live>>()
            + self.free.capacity() * 4
    }

    /// Checks the shard's invariants; returns the number of objects.
    pub(crate) fn check(&self, shard: usize) -> Result<usize, String> {
        let mut seen = vec![false; self.slots.len()];
        for e in self.table.iter() {
            let Some(Some(Live { name, obj })) = self.slots.get(e.local as usize) else {
                return Err(format!(
                    "shard {shard}: table entry for empty slot {}",
                    e.local
                ));
            };
            if !Str::ptr_eq(name, obj.name()) {
                return Err(format!(
                    "shard {shard}: slot {} holds a name that is not its object's",
                    e.local
                ));
            }
            if seen[e.local as usize] {
                return Err(format!(
                    "shard {shard}: two table entries for slot {}",
                    e.local
                ));
            }
            seen[e.local as usize] = true;
            let h = key_hash(obj.namespace(), obj.name());
            if h != e.hash || shard_of_hash(h) != shard {
                return Err(format!(
                    "shard {shard}: {} stored under a wrong hash",
                    obj.display_key()
                ));
            }
            match self.lookup(h, obj.namespace(), obj.name()) {
                Some((l, _)) if l == e.local => {}
                _ => {
                    return Err(format!(
                        "shard {shard}: {} not found by lookup",
                        obj.display_key()
                    ))
                }
            }
        }
        let live = self.slots.iter().filter(|s| s.is_some()).count();
        if live != self.table.len() {
            return Err(format!(
                "shard {shard}: {live} objects but {} table entries",
                self.table.len()
            ));
        }
        let mut free = self.free.clone();
        free.sort_unstable();
        free.dedup();
        if free.len() != self.free.len() || free.iter().any(|&l| self.slot(l).is_some()) {
            return Err(format!(
                "shard {shard}: free list holds a live or duplicate slot"
            ));
        }
        if free.len() + live != self.slots.len() {
            return Err(format!("shard {shard}: a slot is neither live nor free"));
        }
        Ok(live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_follow_slot_order() {
        for shard in [0, 1, SHARDS - 1] {
            for local in [0, 1, LOCAL_MAX] {
                assert_eq!(split_id(make_id(shard, local)), (shard, local));
            }
        }
        assert!(make_id(SHARDS - 1, 0) < make_id(0, 1));
    }

    #[test]
    fn key_hash_separates_namespace_from_name() {
        assert_ne!(key_hash("ab", "c"), key_hash("a", "bc"));
        assert_ne!(key_hash("default", "web-1"), key_hash("default", "web-2"));
        // Shards are used evenly enough.
        let mut per_shard = [0u32; SHARDS];
        for i in 0..64_000 {
            per_shard[shard_of_hash(key_hash("default", &format!("pod-{i}")))] += 1;
        }
        assert!(
            per_shard.iter().all(|&n| (700..1300).contains(&n)),
            "{per_shard:?}"
        );
    }
}
