//! One kind's secondary indexes: posting lists of object ids ([`Posting`]: a sorted
//! vector while small, a `roaring` bitmap past that).
//!
//! - label key → { `any`: ids carrying the key, value → ids carrying `key=value` }.
//!   `any` (the union of the key's value lists) is built by the first query that
//!   needs it (an `exists` requirement) and kept up to date from then on: until a
//!   key is queried that way, a write changes one posting list per label, not two.
//! - namespace → ids
//! - owner uid → ids of dependents (every ownerReference, controller or not)
//! - node name → pod ids (pods only; unscheduled pods are under `""`)
//!
//! Every map is a `DashMap` with FNV hashing; a posting list is modified under its map
//! shard's write lock and read (cloned, intersected) under its read lock. No posting
//! lock is ever held while taking another lock: posting locks are leaves of the store's
//! lock order. Empty posting lists are removed, so label values that come and go (pod
//! template hashes) do not accumulate.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use roaring::RoaringBitmap;

use crate::intern::{intern, FastBuildHasher, Str};
use crate::model::{Object, Uid};

use super::posting::Posting;

/// Postings of one label key.
#[derive(Default)]
struct LabelPostings {
    /// Ids carrying the key (= the union of `values`), once a query asked for it
    /// (`None` before: built then under the entry's write lock, see
    /// [`KindIndex::with_posting`]).
    any: Option<Posting>,
    /// Ids per value.
    values: HashMap<Str, Posting, FastBuildHasher>,
}

/// A posting list a list query can use.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Source<'a> {
    /// Objects in a namespace.
    Namespace(&'a str),
    /// Objects with `key=value`.
    Label(&'a str, &'a str),
    /// Objects carrying `key`.
    LabelKey(&'a str),
    /// Pods bound to a node (`""`: unscheduled).
    Node(&'a str),
}

/// One kind's indexes.
pub(crate) struct KindIndex {
    labels: DashMap<Str, LabelPostings, FastBuildHasher>,
    namespaces: DashMap<Str, Posting, FastBuildHasher>,
    owners: DashMap<Uid, Posting, FastBuildHasher>,
    /// Posting lists in `owners`: changed under the map shard's write lock where a
    /// list is created or removed, so a write's increment is sequenced before the
    /// resourceVersion it draws (see [`KindIndex::has_owners`]).
    owner_lists: AtomicUsize,
    nodes: Option<DashMap<Str, Posting, FastBuildHasher>>,
}

fn node_key(obj: &Object) -> &str {
    obj.node_name().map(|n| n.as_str()).unwrap_or("")
}

/// Adds `id` to `key`'s posting list; `created` runs (under the map shard's write
/// lock) when the list is new.
fn add_posting<K, Q>(
    map: &DashMap<K, Posting, FastBuildHasher>,
    key: &Q,
    id: u32,
    owned: impl FnOnce() -> K,
    created: impl FnOnce(),
) where
    K: std::borrow::Borrow<Q> + Eq + std::hash::Hash,
    Q: Eq + std::hash::Hash + ?Sized,
{
    if let Some(mut p) = map.get_mut(key) {
        p.insert(id);
        return;
    }
    match map.entry(owned()) {
        dashmap::Entry::Occupied(mut e) => {
            e.get_mut().insert(id);
        }
        dashmap::Entry::Vacant(e) => {
            created();
            e.insert(Posting::default()).insert(id);
        }
    }
}

/// [`add_posting`] for several ids.
fn add_posting_ids<K, Q>(
    map: &DashMap<K, Posting, FastBuildHasher>,
    key: &Q,
    ids: &[u32],
    owned: impl FnOnce() -> K,
    created: impl FnOnce(),
) where
    K: std::borrow::Borrow<Q> + Eq + std::hash::Hash,
    Q: Eq + std::hash::Hash + ?Sized,
{
    let insert = |p: &mut Posting| {
        for &id in ids {
            p.insert(id);
        }
    };
    if let Some(mut p) = map.get_mut(key) {
        insert(&mut p);
        return;
    }
    match map.entry(owned()) {
        dashmap::Entry::Occupied(mut e) => insert(e.get_mut()),
        dashmap::Entry::Vacant(e) => {
            created();
            insert(&mut e.insert(Posting::default()));
        }
    }
}

/// Calls `f(key, ids)` for each run of consecutive items with equal `key_of`.
fn for_runs<'o, K: PartialEq + ?Sized + 'o>(
    items: &[(u32, &'o Object)],
    key_of: impl Fn(&'o Object) -> &'o K,
    mut f: impl FnMut(&'o K, &[u32]),
) {
    let mut ids: Vec<u32> = Vec::with_capacity(items.len());
    let mut i = 0;
    while i < items.len() {
        let key = key_of(items[i].1);
        let mut j = i + 1;
        while j < items.len() && key_of(items[j].1) == key {
            j += 1;
        }
        ids.clear();
        ids.extend(items[i..j].iter().map(|(id, _)| *id));
        f(key, &ids);
        i = j;
    }
}

/// Removes `id` from `key`'s posting list; `removed` runs (under the map shard's
/// write lock) when the list, now empty, is removed.
fn remove_posting<K, Q>(
    map: &DashMap<K, Posting, FastBuildHasher>,
    key: &Q,
    id: u32,
    removed: impl FnOnce(),
) where
    K: std::borrow::Borrow<Q> + Eq + std::hash::Hash,
    Q: Eq + std::hash::Hash + ?Sized,
{
    let now_empty = match map.get_mut(key) {
        Some(mut p) => {
            p.remove(id);
            p.is_empty()
        }
        None => false,
    };
    // Re-checked under the map shard's write lock: a concurrent adder may have
    // refilled it in between.
    if now_empty && map.remove_if(key, |_, p| p.is_empty()).is_some() {
        removed();
    }
}

impl KindIndex {
    pub(crate) fn new(with_nodes: bool) -> Self {
        let hasher = FastBuildHasher::default;
        KindIndex {
            labels: DashMap::with_hasher(hasher()),
            namespaces: DashMap::with_hasher(hasher()),
            owners: DashMap::with_hasher(hasher()),
            owner_lists: AtomicUsize::new(0),
            nodes: with_nodes.then(|| DashMap::with_hasher(hasher())),
        }
    }

    fn add_label(&self, key: &Str, value: &Str, id: u32, new_key: bool) {
        let mut e = match self.labels.get_mut(key.as_str()) {
            Some(e) => e,
            None => self.labels.entry(key.clone()).or_default(),
        };
        if new_key {
            if let Some(any) = e.any.as_mut() {
                any.insert(id);
            }
        }
        match e.values.get_mut(value.as_str()) {
            Some(p) => {
                p.insert(id);
            }
            None => {
                e.values.entry(value.clone()).or_default().insert(id);
            }
        }
    }

    /// [`add_label`](Self::add_label) for several ids carrying the same `key=value`,
    /// new objects all (so the key is new on each): one map lookup for them all.
    fn add_label_ids(&self, key: &Str, value: &Str, ids: &[u32]) {
        let mut e = match self.labels.get_mut(key.as_str()) {
            Some(e) => e,
            None => self.labels.entry(key.clone()).or_default(),
        };
        if let Some(any) = e.any.as_mut() {
            for &id in ids {
                any.insert(id);
            }
        }
        let p = match e.values.get_mut(value.as_str()) {
            Some(p) => p,
            None => e.values.entry(value.clone()).or_default(),
        };
        for &id in ids {
            p.insert(id);
        }
    }

    fn remove_label(&self, key: &str, value: &str, id: u32, key_gone: bool) {
        let now_empty = match self.labels.get_mut(key) {
            Some(mut e) => {
                if let Some(p) = e.values.get_mut(value) {
                    p.remove(id);
                    if p.is_empty() {
                        e.values.remove(value);
                    }
                }
                if key_gone {
                    if let Some(any) = e.any.as_mut() {
                        any.remove(id);
                    }
                }
                e.values.is_empty()
            }
            None => false,
        };
        if now_empty {
            self.labels.remove_if(key, |_, e| e.values.is_empty());
        }
    }

    /// Adds the postings `new` has and `old` (the previous version of the same
    /// object, if any) lacks. Called before the write is published.
    pub(crate) fn add(&self, id: u32, old: Option<&Object>, new: &Object) {
        let old_labels = old.map(|o| o.labels());
        if old_labels != Some(new.labels()) {
            for (k, v) in new.labels().iter() {
                match old_labels.and_then(|l| l.get(k)) {
                    Some(ov) if ov == v => {}
                    Some(_) => self.add_label(k, v, id, false),
                    None => self.add_label(k, v, id, true),
                }
            }
        }
        if old.is_none() {
            let ns = new.namespace();
            add_posting(&self.namespaces, ns.as_str(), id, || ns.clone(), || {});
        }
        for r in &new.meta().owner_references {
            let had = old.is_some_and(|o| o.meta().owner_references.iter().any(|x| x.uid == r.uid));
            if !had {
                add_posting(
                    &self.owners,
                    &r.uid,
                    id,
                    || r.uid,
                    || {
                        self.owner_lists.fetch_add(1, Ordering::Relaxed);
                    },
                );
            }
        }
        if let Some(nodes) = &self.nodes {
            let key = node_key(new);
            if old.is_none_or(|o| node_key(o) != key) {
                add_posting(nodes, key, id, || intern(key), || {});
            }
        }
    }

    /// [`add`](Self::add) for new objects (no old version), as one batch: objects in a
    /// row with the same labels, namespace, owner or node share one posting-map lookup
    /// per list. Called before the objects are published, under their shard locks.
    pub(crate) fn add_created(&self, items: &[(u32, &Object)]) {
        for_runs(items, Object::labels, |labels, ids| {
            for (k, v) in labels.iter() {
                self.add_label_ids(k, v, ids);
            }
        });
        for_runs(
            items,
            |o| o.namespace().as_str(),
            |ns, ids| {
                add_posting_ids(&self.namespaces, ns, ids, || intern(ns), || {});
            },
        );
        for_runs(
            items,
            |o| &o.meta().owner_references,
            |refs, ids| {
                for r in refs.iter() {
                    add_posting_ids(
                        &self.owners,
                        &r.uid,
                        ids,
                        || r.uid,
                        || {
                            self.owner_lists.fetch_add(1, Ordering::Relaxed);
                        },
                    );
                }
            },
        );
        if let Some(nodes) = &self.nodes {
            for_runs(items, node_key, |key, ids| {
                add_posting_ids(nodes, key, ids, || intern(key), || {});
            });
        }
    }

    /// Removes the postings `old` has and `new` (the next version, if the object
    /// still exists) lacks. Called after the write is published.
    pub(crate) fn remove_stale(&self, id: u32, old: &Object, new: Option<&Object>) {
        let new_labels = new.map(|o| o.labels());
        if new_labels != Some(old.labels()) {
            for (k, v) in old.labels().iter() {
                match new_labels.and_then(|l| l.get(k)) {
                    Some(nv) if nv == v => {}
                    Some(_) => self.remove_label(k, v, id, false),
                    None => self.remove_label(k, v, id, true),
                }
            }
        }
        if new.is_none() {
            remove_posting(&self.namespaces, old.namespace().as_str(), id, || {});
        }
        for r in &old.meta().owner_references {
            let keeps =
                new.is_some_and(|o| o.meta().owner_references.iter().any(|x| x.uid == r.uid));
            if !keeps {
                remove_posting(&self.owners, &r.uid, id, || {
                    self.owner_lists.fetch_sub(1, Ordering::Relaxed);
                });
            }
        }
        if let Some(nodes) = &self.nodes {
            let key = node_key(old);
            if new.is_none_or(|o| node_key(o) != key) {
                remove_posting(nodes, key, id, || {});
            }
        }
    }

    /// Runs `f` on a posting list under its lock (`None`: empty).
    pub(crate) fn with_posting<R>(
        &self,
        s: Source<'_>,
        f: impl FnOnce(Option<&Posting>) -> R,
    ) -> R {
        match s {
            Source::Namespace(ns) => f(self.namespaces.get(ns).as_deref()),
            Source::Label(k, v) => match self.labels.get(k) {
                Some(e) => f(e.values.get(v)),
                None => f(None),
            },
            Source::LabelKey(k) => {
                match self.labels.get(k) {
                    None => return f(None),
                    Some(e) => {
                        if let Some(any) = &e.any {
                            return f(Some(any));
                        }
                    }
                }
                // The key's first `exists` query: build `any` under the entry's write
                // lock (writers change `values` and `any` under that same lock, so it
                // is exact from here on).
                match self.labels.get_mut(k) {
                    None => f(None),
                    Some(mut e) => {
                        let e = &mut *e;
                        let values = &e.values;
                        let any = e.any.get_or_insert_with(|| {
                            let mut u = RoaringBitmap::new();
                            for p in values.values() {
                                p.or_into(&mut u);
                            }
                            Posting::from_bitmap(u)
                        });
                        f(Some(any))
                    }
                }
            }
            Source::Node(n) => match &self.nodes {
                Some(nodes) => f(nodes.get(n).as_deref()),
                None => f(None),
            },
        }
    }

    /// Length of a posting list.
    pub(crate) fn len(&self, s: Source<'_>) -> u64 {
        self.with_posting(s, |p| p.map_or(0, |p| p.len()))
    }

    /// Ids of objects that (may) match every term, where a term is the union of its
    /// sources. Terms are intersected smallest first; an empty term ends the search.
    pub(crate) fn candidates(&self, terms: &[Vec<Source<'_>>]) -> RoaringBitmap {
        let mut sized: Vec<(u64, &[Source<'_>])> = terms
            .iter()
            .map(|t| (t.iter().map(|&s| self.len(s)).sum(), t.as_slice()))
            .collect();
        if sized.iter().any(|&(n, _)| n == 0) {
            return RoaringBitmap::new();
        }
        sized.sort_by_key(|&(n, _)| n);
        let mut acc = self.union(sized[0].1);
        for &(_, term) in &sized[1..] {
            if acc.is_empty() {
                break;
            }
            if let [one] = term {
                self.with_posting(*one, |p| match p {
                    Some(p) => p.and_into(&mut acc),
                    None => acc.clear(),
                });
            } else {
                let u = self.union(term);
                acc &= &u;
            }
        }
        acc
    }

    fn union(&self, term: &[Source<'_>]) -> RoaringBitmap {
        let mut u = RoaringBitmap::new();
        for &s in term {
            self.with_posting(s, |p| {
                if let Some(p) = p {
                    if u.is_empty() {
                        u = p.to_bitmap();
                    } else {
                        p.or_into(&mut u);
                    }
                }
            });
        }
        u
    }

    /// Whether any object of the kind has an ownerReference. Exact with no write in
    /// flight, and never `false` for an owner posting list added by a write whose
    /// resourceVersion the reader has seen: the count changes before the write draws
    /// its resourceVersion (a `SeqCst` read-modify-write), and
    /// [`Store::resource_version`](super::Store::resource_version) is a `SeqCst` load.
    /// So skipping a kind on `false` keeps the list-then-watch guarantee.
    pub(crate) fn has_owners(&self) -> bool {
        self.owner_lists.load(Ordering::Relaxed) > 0
    }

    /// Checks the counters kept beside the maps (exact with no write in flight).
    pub(crate) fn check_counts(&self) -> Result<(), String> {
        let (counted, lists) = (self.owner_lists.load(Ordering::SeqCst), self.owners.len());
        if counted != lists {
            return Err(format!(
                "{counted} owner posting lists counted, {lists} in the index"
            ));
        }
        Ok(())
    }

    /// Appends the ids of the dependents of `owner` (ascending) to `out`.
    pub(crate) fn owned_ids(&self, owner: Uid, out: &mut Vec<u32>) {
        if let Some(p) = self.owners.get(&owner) {
            out.reserve(p.len() as usize);
            out.extend(p.iter());
        }
    }

    /// The indexes as plain maps (for checks).
    pub(crate) fn snapshot(&self) -> IndexSnapshot {
        let mut s = IndexSnapshot::default();
        for e in self.labels.iter() {
            let any = match &e.any {
                Some(any) => any.to_bitmap(),
                None => {
                    let mut u = RoaringBitmap::new();
                    for p in e.values.values() {
                        p.or_into(&mut u);
                    }
                    u
                }
            };
            s.label_keys.insert(e.key().to_string(), any);
            for (v, p) in &e.values {
                s.labels
                    .insert((e.key().to_string(), v.to_string()), p.to_bitmap());
            }
        }
        for e in self.namespaces.iter() {
            s.namespaces
                .insert(e.key().to_string(), e.value().to_bitmap());
        }
        for e in self.owners.iter() {
            s.owners.insert(e.key().0, e.value().to_bitmap());
        }
        if let Some(nodes) = &self.nodes {
            for e in nodes.iter() {
                s.nodes.insert(e.key().to_string(), e.value().to_bitmap());
            }
        }
        s
    }

    /// Approximate bytes held by the posting lists and their maps.
    pub(crate) fn memory_bytes(&self) -> usize {
        const ENTRY: usize = 64; // map entry + bitmap header, roughly
        let bitmaps = |m: &DashMap<_, Posting, FastBuildHasher>| -> usize {
            m.iter().map(|e| ENTRY + e.value().serialized_size()).sum()
        };
        let labels: usize = self
            .labels
            .iter()
            .map(|e| {
                ENTRY
                    + e.any.as_ref().map_or(0, |a| a.serialized_size())
                    + e.values
                        .values()
                        .map(|p| ENTRY + p.serialized_size())
                        .sum::<usize>()
            })
            .sum();
        labels
            + bitmaps(&self.namespaces)
            + self
                .owners
                .iter()
                .map(|e| ENTRY + e.value().serialized_size())
                .sum::<usize>()
            + self.nodes.as_ref().map_or(0, bitmaps)
    }
}

/// The indexes as ordered maps, for comparing with a recomputation.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct IndexSnapshot {
    pub(crate) labels: BTreeMap<(String, String), RoaringBitmap>,
    pub(crate) label_keys: BTreeMap<String, RoaringBitmap>,
    pub(crate) namespaces: BTreeMap<String, RoaringBitmap>,
    pub(crate) owners: BTreeMap<u64, RoaringBitmap>,
    pub(crate) nodes: BTreeMap<String, RoaringBitmap>,
}

impl IndexSnapshot {
    /// What the indexes must hold for these objects.
    pub(crate) fn expected<'a>(
        objects: impl Iterator<Item = (u32, &'a Object)>,
        with_nodes: bool,
    ) -> Self {
        let mut s = IndexSnapshot::default();
        for (id, o) in objects {
            for (k, v) in o.labels().iter() {
                s.labels
                    .entry((k.to_string(), v.to_string()))
                    .or_default()
                    .insert(id);
                s.label_keys.entry(k.to_string()).or_default().insert(id);
            }
            s.namespaces
                .entry(o.namespace().to_string())
                .or_default()
                .insert(id);
            for r in &o.meta().owner_references {
                s.owners.entry(r.uid.0).or_default().insert(id);
            }
            if with_nodes {
                s.nodes
                    .entry(node_key(o).to_string())
                    .or_default()
                    .insert(id);
            }
        }
        s
    }

    /// The first difference from `other`, described.
    pub(crate) fn diff(&self, other: &IndexSnapshot) -> Option<String> {
        fn first<K: Ord + std::fmt::Debug>(
            name: &str,
            a: &BTreeMap<K, RoaringBitmap>,
            b: &BTreeMap<K, RoaringBitmap>,
        ) -> Option<String> {
            for (k, v) in a {
                if b.get(k) != Some(v) {
                    return Some(format!(
                        "{name} {k:?}: index {v:?}, recomputed {:?}",
                        b.get(k)
                    ));
                }
            }
            for (k, v) in b {
                if !a.contains_key(k) {
                    return Some(format!(
                        "{name} {k:?}: missing from the index (recomputed {v:?})"
                    ));
                }
            }
            None
        }
        first("label", &self.labels, &other.labels)
            .or_else(|| first("label key", &self.label_keys, &other.label_keys))
            .or_else(|| first("namespace", &self.namespaces, &other.namespaces))
            .or_else(|| first("owner", &self.owners, &other.owners))
            .or_else(|| first("node", &self.nodes, &other.nodes))
    }
}
