//! Shared immutable strings and string maps.
//!
//! [`Str`] is a one-word shared string: cloning it is a reference-count increment, so the many
//! objects that carry the same label key, label value, namespace or image share one
//! allocation. [`intern`] returns the canonical `Str` for a text from a global, sharded
//! interner; use it for strings drawn from a small set (label keys and values, namespaces,
//! node names, images, apiVersions), not for generated object names, which are unique and
//! would only grow the interner.
//!
//! [`StrMap`] is an immutable, sorted `key → value` map behind one `Arc`: labels,
//! annotations and node selectors. Pods made from one template share their template's map.
//!
//! [`SharedList`] is an immutable list behind a one-word pointer (a `triomphe::ThinArc`:
//! length and items in one allocation): owner references, finalizers, and the storage of
//! `StrMap`. Objects made from one template share them, and a list costs one word in the
//! object that holds it, which keeps a `Pod` in a smaller allocator size class.
//!
//! **Concurrency:** the interner is a `DashMap`; `intern` takes one shard lock for a
//! lookup and, on a miss, one write lock for the insert. Nothing else here is shared
//! mutable state.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use arcstr::ArcStr;

use dashmap::DashSet;
use serde::{Serialize, Serializer};
use triomphe::ThinArc;

/// An immutable, cheaply clonable string: one word (an `arcstr::ArcStr`, whose length
/// lives in the heap header beside the text), compared, ordered and hashed by its text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Str(ArcStr);

impl Str {
    /// A new string (not interned).
    pub fn new(s: &str) -> Self {
        Str(ArcStr::from(s))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether two `Str`s share one allocation (cheap equality for interned strings).
    pub fn ptr_eq(a: &Str, b: &Str) -> bool {
        ArcStr::ptr_eq(&a.0, &b.0)
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Self {
        Str::new(s)
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Str(ArcStr::from(s))
    }
}

impl From<&String> for Str {
    fn from(s: &String) -> Self {
        Str::new(s)
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for Str {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

fn interner() -> &'static DashSet<Str> {
    static INTERNER: OnceLock<DashSet<Str>> = OnceLock::new();
    INTERNER.get_or_init(DashSet::new)
}

/// The canonical shared [`Str`] for `s`. Equal texts return clones of one allocation.
pub fn intern(s: &str) -> Str {
    let set = interner();
    if let Some(found) = set.get(s) {
        return found.clone();
    }
    let new = Str::new(s);
    // Two threads may race here; `insert` keeps the first and we re-read it so that
    // both get the same allocation.
    set.insert(new.clone());
    set.get(s).map(|r| r.clone()).unwrap_or(new)
}

/// A fast hasher for the short keys of in-process maps (label keys and values,
/// namespaces, uids): FxHash's rotate-xor-multiply over 8 bytes per step, finished
/// with murmur3's `fmix64` so that every bit of the result depends on every input
/// bit (hashbrown reads the top bits, DashMap picks shards from the high ones). Three
/// to four times fewer instructions than FNV-1a on a 17-byte label key, which goes a
/// byte per step. Like FNV it is not DoS-resistant: kubesim's maps hold what the
/// simulation itself creates.
#[derive(Clone, Copy, Debug, Default)]
pub struct FastHasher {
    h: u64,
}

impl FastHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    #[inline]
    fn add(&mut self, word: u64) {
        self.h = (self.h.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        // The 1–7 byte tail in one word without a variable-length copy: two
        // (possibly overlapping) 4-byte reads, or the first, middle and last bytes;
        // its length goes in the top byte so that "a" and "a\0" differ.
        let rest = chunks.remainder();
        let n = rest.len();
        let tail = if n >= 4 {
            let lo = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let hi = u32::from_le_bytes([rest[n - 4], rest[n - 3], rest[n - 2], rest[n - 1]]);
            u64::from(lo) | (u64::from(hi) << 32)
        } else if n > 0 {
            u64::from(rest[0]) | (u64::from(rest[n / 2]) << 8) | (u64::from(rest[n - 1]) << 16)
        } else {
            return;
        };
        self.add(tail ^ ((n as u64) << 56));
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut x = self.h;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
}

/// Builds [`FastHasher`]s (for `HashMap::with_hasher` and `DashMap::with_hasher`).
pub type FastBuildHasher = std::hash::BuildHasherDefault<FastHasher>;

/// An immutable sorted map of strings (labels, annotations, node selectors).
///
/// Keys are unique and sorted; lookups are binary searches. Cloning shares the map.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct StrMap(SharedList<(Str, Str)>);

impl StrMap {
    /// The empty map (no allocation).
    pub const fn new() -> Self {
        StrMap(SharedList::new())
    }

    /// Builds a map from pairs; a later pair with the same key wins. Keys and values are
    /// interned.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut v: Vec<(Str, Str)> = Vec::new();
        for (k, val) in pairs {
            let (k, val) = (k.as_ref(), val.as_ref());
            match v.binary_search_by(|(x, _)| (**x).cmp(k)) {
                Ok(i) => v[i].1 = intern(val),
                Err(i) => v.insert(i, (intern(k), intern(val))),
            }
        }
        Self::from_sorted_vec(v)
    }

    fn from_sorted_vec(v: Vec<(Str, Str)>) -> Self {
        StrMap(SharedList::from(v))
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&Str> {
        let s = self.as_slice();
        s.binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &s[i].1)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The pairs, sorted by key.
    pub fn as_slice(&self) -> &[(Str, Str)] {
        self.0.as_slice()
    }

    /// Whether two maps share one allocation (cheap equality for maps cloned from one
    /// template).
    pub fn ptr_eq(a: &StrMap, b: &StrMap) -> bool {
        SharedList::ptr_eq(&a.0, &b.0)
    }

    /// Iterates over `(key, value)` in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Str, &Str)> + '_ {
        self.as_slice().iter().map(|(k, v)| (k, v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// A copy with `key` set to `value`.
    pub fn with(&self, key: &str, value: &str) -> Self {
        let mut v = self.as_slice().to_vec();
        match v.binary_search_by(|(k, _)| (**k).cmp(key)) {
            Ok(i) => v[i].1 = intern(value),
            Err(i) => v.insert(i, (intern(key), intern(value))),
        }
        Self::from_sorted_vec(v)
    }

    /// A copy without `key`.
    pub fn without(&self, key: &str) -> Self {
        let v: Vec<_> = self
            .as_slice()
            .iter()
            .filter(|(k, _)| **k != *key)
            .cloned()
            .collect();
        Self::from_sorted_vec(v)
    }

    /// Whether every pair of `subset` is in `self`.
    pub fn contains_all(&self, subset: &StrMap) -> bool {
        subset.iter().all(|(k, v)| self.get(k) == Some(v))
    }
}

impl fmt::Debug for StrMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl fmt::Display for StrMap {
    /// `k1=v1,k2=v2` — the form `kubectl get --show-labels` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

impl Serialize for StrMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for StrMap {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        StrMap::from_pairs(iter)
    }
}

/// An immutable, shared list behind a one-word pointer (empty = no allocation).
///
/// Cloning shares the items. A change builds a new list ([`SharedList::update`]).
pub struct SharedList<T>(Option<ThinArc<(), T>>);

impl<T> SharedList<T> {
    /// The empty list.
    pub const fn new() -> Self {
        SharedList(None)
    }

    /// The items.
    pub fn as_slice(&self) -> &[T] {
        match &self.0 {
            Some(a) => &a.slice,
            None => &[],
        }
    }

    /// Whether two lists share one allocation (or are both empty).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        match (&a.0, &b.0) {
            (Some(x), Some(y)) => x.ptr() == y.ptr(),
            (None, None) => true,
            _ => false,
        }
    }
}

impl<T: Clone> SharedList<T> {
    /// Replaces the list by `f` applied to a copy of its items.
    pub fn update(&mut self, f: impl FnOnce(&mut Vec<T>)) {
        let mut v = self.as_slice().to_vec();
        f(&mut v);
        *self = SharedList::from(v);
    }
}

impl<T> Default for SharedList<T> {
    fn default() -> Self {
        SharedList(None)
    }
}

impl<T> Clone for SharedList<T> {
    fn clone(&self) -> Self {
        SharedList(self.0.clone())
    }
}

impl<T> Deref for SharedList<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T> From<Vec<T>> for SharedList<T> {
    fn from(v: Vec<T>) -> Self {
        if v.is_empty() {
            SharedList(None)
        } else {
            SharedList(Some(ThinArc::from_header_and_iter((), v.into_iter())))
        }
    }
}

impl<T> FromIterator<T> for SharedList<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        SharedList::from(iter.into_iter().collect::<Vec<T>>())
    }
}

impl<'a, T> IntoIterator for &'a SharedList<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<T: PartialEq> PartialEq for SharedList<T> {
    fn eq(&self, other: &Self) -> bool {
        SharedList::ptr_eq(self, other) || self.as_slice() == other.as_slice()
    }
}

impl<T: Eq> Eq for SharedList<T> {}

impl<T: PartialEq> PartialEq<Vec<T>> for SharedList<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: PartialEq> PartialEq<[T]> for SharedList<T> {
    fn eq(&self, other: &[T]) -> bool {
        self.as_slice() == other
    }
}

impl<T: std::hash::Hash> std::hash::Hash for SharedList<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl<T: fmt::Debug> fmt::Debug for SharedList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Serialize> Serialize for SharedList<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_hasher_separates_nearby_keys_and_spreads_bits() {
        use std::hash::BuildHasher;
        let b = FastBuildHasher::default();
        let mut seen = std::collections::HashSet::new();
        // Keys differing in one byte, in the tail, or only in length.
        let mut keys: Vec<String> = (0..2000)
            .map(|i| format!("pod-template-hash-{i}"))
            .collect();
        keys.extend((0..16).map(|n| "a".repeat(n)));
        keys.extend((0..16).map(|n| format!("{}\0", "a".repeat(n))));
        for k in &keys {
            assert!(seen.insert(b.hash_one(k.as_str())), "collision on {k:?}");
        }
        // The top 7 bits (hashbrown's tags) and the low bits both vary.
        let top: std::collections::HashSet<u64> =
            keys.iter().map(|k| b.hash_one(k.as_str()) >> 57).collect();
        let low: std::collections::HashSet<u64> =
            keys.iter().map(|k| b.hash_one(k.as_str()) & 127).collect();
        assert!(
            top.len() > 100 && low.len() > 100,
            "{} {}",
            top.len(),
            low.len()
        );
        assert_eq!(b.hash_one("app"), b.hash_one(&*intern("app")));
    }

    #[test]
    fn intern_shares_allocations() {
        let a = intern("app");
        let b = intern(&String::from("app"));
        assert!(Str::ptr_eq(&a, &b));
    }

    #[test]
    fn shared_lists_are_one_word_and_share_on_clone() {
        assert_eq!(size_of::<Str>(), 8);
        assert_eq!(size_of::<Option<Str>>(), 8);
        assert_eq!(size_of::<SharedList<Str>>(), 8);
        assert_eq!(size_of::<StrMap>(), 8);
        let a: SharedList<u32> = vec![1, 2].into();
        let mut b = a.clone();
        assert!(SharedList::ptr_eq(&a, &b));
        b.update(|v| v.push(3));
        assert_eq!(&*a, &[1, 2]);
        assert_eq!(&*b, &[1, 2, 3]);
        assert_eq!(SharedList::<u32>::from(vec![]), SharedList::new());
    }

    #[test]
    fn strmap_sorted_with_last_write_winning() {
        let m = StrMap::from_pairs([("b", "1"), ("a", "2"), ("b", "3")]);
        assert_eq!(m.to_string(), "a=2,b=3");
        assert_eq!(m.get("b").map(|s| s.as_str()), Some("3"));
        assert!(m.get("c").is_none());
        let m2 = m.with("c", "4").without("a");
        assert_eq!(m2.to_string(), "b=3,c=4");
        assert!(m.with("c", "4").contains_all(&m));
        assert!(!m.contains_all(&m2));
    }
}
