//! The object store: lock-light, label-indexed, with optimistic concurrency and an
//! ordered watch — kubesim's API server and etcd in one.
//!
//! [`Store`] keeps every object as an immutable `Arc<Object>` keyed by (kind, namespace,
//! name). It answers `get`, `list` (namespace, [`LabelSelector`] and [`FieldSelector`],
//! through secondary indexes) and `watch` (per kind, from a resourceVersion), and
//! applies `create`, `update`, `update_status` and `delete` with the API server's rules:
//!
//! - **create**: `AlreadyExists`; a namespaced object needs an existing Namespace
//!   ([`Error::NamespaceNotFound`]; `default` and `kube-system` always exist, and a
//!   namespace being deleted takes no new objects); a cluster-scoped object's namespace
//!   is cleared (as the API does); the name is validated (DNS-1123 label for Namespace
//!   and Service, subdomain otherwise), or generated from `metadata.generateName` +
//!   5 characters of `bcdfghjklmnpqrstvwxz2456789` drawn from the store's seed; uid,
//!   resourceVersion, `generation: 1` and `creationTimestamp` are set, a
//!   `deletionTimestamp` is cleared. (The status given is stored as is.)
//! - **update**: the caller's `resourceVersion` is a precondition (0 = unconditional),
//!   and so is a non-zero uid ([`Error::Conflict`]). The stored status, uid,
//!   creationTimestamp and deletion fields are kept; `generation` bumps iff the spec
//!   changed. No finalizer may be added once deletion was requested. An update that
//!   changes nothing is not a write: it returns the stored object, draws no
//!   resourceVersion and emits no event (as the API server's no-op updates). An update
//!   that removes the last finalizer of an object whose deletion was requested removes
//!   it — unless a graceful period is running (`deletionGracePeriodSeconds > 0`: a
//!   terminating pod stays until the kubelet's delete with grace 0), as the API
//!   server's `shouldDeleteDuringUpdate` decides.
//! - **update_status**: same preconditions; only the status changes.
//! - **bind** ([`Binding`], pods only): the `pods/binding` subresource — sets
//!   `spec.nodeName` and `PodScheduled=True` in one write; uid and resourceVersion
//!   preconditions; [`Error::BindConflict`] when the pod is already bound or being
//!   deleted.
//! - **delete** ([`DeleteOptions`]): uid precondition; the propagation policy adds or
//!   removes the `foregroundDeletion`/`orphan` finalizers (no policy keeps the
//!   finalizers the object has: background); pods bound to a node get a graceful period
//!   (options, else `terminationGracePeriodSeconds`, else 30 s; 0 for unbound or
//!   finished pods) and `deletionTimestamp = now + grace`; a repeated delete may only
//!   shorten it; an object held by finalizers or a graceful period gets its
//!   `deletionTimestamp` (generation bumps once) and stays ([`Deleted::Pending`]);
//!   otherwise it goes at once ([`Deleted::Gone`]). Grace 0 on a pod without finalizers
//!   is a force delete.
//!
//! Every write (create, update, update_status, bind, delete) draws the next value of
//! one store-wide resourceVersion counter and appends one event to its kind's watch
//! log, so a kind's events are in resourceVersion order and one object's events in
//! the order of its writes.
//!
//! # Layout
//!
//! Per kind: 64 shards (`parking_lot::RwLock`, cache-padded), each an open-addressing
//! table of `(hash, slot)` entries over a vector of slots holding each object's name
//! and `Arc` (see `table.rs`); each object has a compact `u32` id = (slot, shard).
//! Secondary indexes map label key/value, label key, namespace, owner uid and
//! (pods) node name to posting lists of ids (sorted vectors while small, `roaring`
//! bitmaps past that; see `index.rs`, `posting.rs`). A bounded per-kind
//! event ring serves watches (see `watch.rs`). A `get` is one hash, one shard read
//! lock, one table probe and an `Arc` clone; a list intersects the smallest posting
//! lists first and only scans when no namespace, `spec.nodeName`, or positive label
//! requirement (`=`, `in`, exists) narrows it.
//!
//! # Concurrency protocol
//!
//! Locks, in the only order in which they are ever nested:
//!
//! 1. **shard lock** (`RwLock<Shard>`) — guards the shard's table and slots, and is the
//!    *key lock*: every write to a key holds its shard's write lock from the
//!    precondition check to the last index change. A thread holds at most one shard
//!    lock at a time, with two exceptions, both of which take one kind's shard locks in
//!    ascending shard order (so no two threads can wait on each other):
//!    [`Store::check_indexes`] (all of them, read-only) and a run of
//!    [`Store::create_many`] (the write locks of the shards its keys fall in).
//! 2. then either of two leaf locks, never both at once, and never a lock after them:
//!    - a **posting lock** (a `DashMap` shard in the kind's indexes);
//!    - the kind's **watch-log mutex**.
//!
//! The namespace-existence check of `create` and `clock.now()` run before any lock is
//! taken; no user code runs under a lock.
//!
//! A [`Store::create_many`] run follows the same steps for all its objects at once:
//! under all its shard write locks, (a) adds the postings of every object (grouped:
//! one posting-map lookup per distinct label, namespace, owner and node), (b) under one
//! watch-log lock draws a block of consecutive resourceVersions and publishes and logs
//! the objects in input order; then releases the shard locks and notifies once. Each
//! object is still its own write, so everything below holds per object.
//!
//! A write, under the key's shard write lock: check preconditions and build the new
//! object; (a) **add** the posting entries the new version has and the old one lacks;
//! (b) lock the watch log, draw `rv = counter + 1`, stamp it into the (still unshared)
//! new `Arc<Object>`, publish it (table entry and slot; for a delete: remove both and
//! free the slot), push the event, unlock; (c) **remove** the posting entries only the
//! old version had; release the shard lock; notify blocked watchers; drop the old
//! version.
//!
//! What follows:
//!
//! - **Readers never see a half-written object**: objects are immutable `Arc`s and a
//!   slot changes by one swap under the shard write lock; `get` and list resolution
//!   read slots under the shard read lock, so they see each key before or after a
//!   write, never during.
//! - **Index postings for an id change under its shard's write lock only**, so one
//!   writer at a time per id, and with no write in flight the indexes are exact
//!   (`check_indexes` verifies this against a recomputation, holding all shard read
//!   locks of a kind). A list reads posting lists one at a time without the shard
//!   locks and may see a write's transient state — an id in both its old and new
//!   postings, or a stale id of a deleted object whose slot a later create reused — so
//!   **every candidate is re-checked against the full selector on the object it
//!   resolves to**: a list result always matches, holds each object at most once, and
//!   is sorted by (namespace, name). A list is not a snapshot: an object written
//!   *during* the list may appear in its old or new state, or (when the write moves it
//!   between posting lists a selector unions) not at all; objects not written during
//!   the list are always returned.
//! - **Per-kind event order = resourceVersion order**: the rv is drawn and the event
//!   pushed under the same mutex. A watcher that has received an event and then reads
//!   the store sees that version or a later one (the writer still holds the shard
//!   write lock, so the read waits for the write to finish).
//! - **List-then-watch is gap-free**: a write holds its key's shard write lock from
//!   before it draws its rv until it is complete, and adds its postings before drawing
//!   the rv. So once [`Store::resource_version`] has returned `c` (a `SeqCst` load of
//!   the counter, which synchronizes with the writes that drew `<= c`), a list sees
//!   every write with rv `<= c`: its postings are in place, and the shard read lock the
//!   list takes to resolve or scan waits for a write still in flight on that shard.
//!   A watch from `c` then delivers every later event.
//! - **Watches never lose events silently**: a watcher starts at a resourceVersion and
//!   receives every later event of its kind once, in order, or [`Error::Expired`] when
//!   the bounded window dropped events it had not read.
//! - **Never**: a lock held while calling user code, a shard lock taken while holding a
//!   posting or log lock, shard locks of two kinds at once or out of ascending shard
//!   order, a slot id reused while its old postings exist (postings are removed in the
//!   same critical section that frees the slot).
//!
//! Slot ids are reused after a delete (memory follows the live count under churn).
//! That is safe because of the re-check above: a stale candidate id read before the
//! delete resolves to nothing or to the new object, which is returned only if it
//! matches — exactly as if the new object had been created before the list read.
//!
//! The watch hand-off is a `parking_lot` mutex and condvar; nothing in the store is
//! lock-free beyond plain atomic counters (resourceVersion, uids, object counts), so
//! no loom model is needed: the stress test in `tests/store_stress.rs` checks the
//! protocol's promises (per-key event order, replay = final state, no lost event,
//! exact indexes, gap-free list-then-watch) under concurrent writers, watchers, and
//! listers.
//!
//! # Example
//!
//! ```
//! use kubesim_core::model::{ConfigMap, Kind, Object, ObjectMeta};
//! use kubesim_core::store::{DeleteOptions, Deleted, Store, WatchEventType};
//!
//! let store = Store::new();
//! let rv = store.resource_version();
//! let mut watch = store.watch(Kind::ConfigMap, rv).unwrap();
//! let cm = Object::from(ConfigMap { meta: ObjectMeta::named("default", "settings"), data: vec![] });
//! let created = store.create(cm).unwrap();
//!
//! // Optimistic concurrency: an update based on a stale copy fails.
//! let mut stale = (*created).clone();
//! let mut fresh = (*created).clone();
//! fresh.meta_mut().labels = [("tier", "web")].into_iter().collect();
//! store.update(fresh).unwrap();
//! stale.meta_mut().labels = [("tier", "db")].into_iter().collect();
//! assert!(store.update(stale).unwrap_err().is_conflict());
//!
//! let gone = store.delete(Kind::ConfigMap, "default", "settings", &DeleteOptions::default()).unwrap();
//! assert!(matches!(gone, Deleted::Gone(_)));
//! let types: Vec<_> = watch.poll(10).unwrap().into_iter().map(|e| e.type_).collect();
//! assert_eq!(types, [WatchEventType::Added, WatchEventType::Modified, WatchEventType::Deleted]);
//! ```

mod bind;
mod error;
mod field;
mod index;
mod posting;
mod table;
mod watch;

#[cfg(test)]
mod tests;

pub use bind::Binding;
pub use error::{Error, Result};
pub use field::{Field, FieldOp, FieldRequirement, FieldSelector};
pub use watch::{WatchEvent, WatchEventType, Watcher};

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam::utils::CachePadded;
use parking_lot::{RwLock, RwLockWriteGuard};
use roaring::RoaringBitmap;

use crate::intern::{intern, Str};
use crate::model::{
    Kind, Namespace, NamespacePhase, Object, ObjectMeta, PropagationPolicy, Uid,
    FINALIZER_FOREGROUND, FINALIZER_ORPHAN,
};
use crate::selector::{LabelSelector, Operator};
use crate::time::{Clock, ManualClock, Timestamp};
use index::{IndexSnapshot, KindIndex, Source};
use table::{key_hash, make_id, shard_of_hash, split_id, Shard, SHARDS};
use watch::WatchLog;

/// How a [`Store`] is set up.
#[derive(Clone)]
pub struct StoreConfig {
    /// The clock for creation and deletion timestamps.
    pub clock: Arc<dyn Clock>,
    /// Events retained per kind for watches (at least 1). A watch from an older
    /// resourceVersion, or a watcher that falls this far behind, gets
    /// [`Error::Expired`]. Retained events keep their object versions alive: keep this
    /// small when loading millions of objects.
    pub watch_window: usize,
    /// Seed for uids and generated names (runs with one seed are reproducible).
    pub seed: u64,
    /// A pod's grace period when neither the delete call nor its spec gives one (the
    /// API's default `terminationGracePeriodSeconds`: 30).
    pub default_termination_grace_seconds: i64,
    /// The mutating admission run on every create ([`crate::admission`]; upstream's
    /// defaults: DefaultTolerationSeconds 300 s, DefaultStorageClass on).
    pub admission: crate::admission::Admission,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            clock: Arc::new(ManualClock::new(Timestamp::VIRTUAL_EPOCH)),
            watch_window: 1 << 20,
            seed: 0,
            default_termination_grace_seconds: 30,
            admission: crate::admission::Admission::default(),
        }
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("now", &self.clock.now())
            .field("watch_window", &self.watch_window)
            .field("seed", &self.seed)
            .field(
                "default_termination_grace_seconds",
                &self.default_termination_grace_seconds,
            )
            .finish()
    }
}

/// Options of a delete call (`kubectl delete --cascade=… --grace-period=…`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Propagation policy; `None` keeps whichever of the `orphan`/`foregroundDeletion`
    /// finalizers the object already has, which for a fresh object is Background.
    pub propagation: Option<PropagationPolicy>,
    /// Grace period for pods (negative means 1, as the API does); `Some(0)` with no
    /// finalizers is a force delete.
    pub grace_period_seconds: Option<i64>,
    /// Delete only if the stored object has this uid (else [`Error::Conflict`]).
    pub preconditions_uid: Option<Uid>,
}

impl DeleteOptions {
    /// Options with a propagation policy.
    pub fn propagation(policy: PropagationPolicy) -> Self {
        DeleteOptions {
            propagation: Some(policy),
            ..Default::default()
        }
    }

    /// Options with a grace period.
    pub fn grace(seconds: i64) -> Self {
        DeleteOptions {
            grace_period_seconds: Some(seconds),
            ..Default::default()
        }
    }
}

/// The outcome of a delete.
#[derive(Clone, Debug)]
pub enum Deleted {
    /// Removed now; the last state (with the deletion's resourceVersion).
    Gone(Arc<Object>),
    /// `deletionTimestamp` is set; finalizers or a graceful period hold the object.
    Pending(Arc<Object>),
}

impl Deleted {
    /// The object (last state, or current state when pending).
    pub fn object(&self) -> &Arc<Object> {
        match self {
            Deleted::Gone(o) | Deleted::Pending(o) => o,
        }
    }

    /// Whether the object was removed.
    pub fn is_gone(&self) -> bool {
        matches!(self, Deleted::Gone(_))
    }
}

/// Approximate memory held by a [`Store`] (see [`Store::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Objects stored.
    pub objects: usize,
    /// Bytes of the shard tables and slot vectors (not the objects).
    pub table_bytes: usize,
    /// Approximate bytes of the secondary indexes (posting lists and their maps).
    pub index_bytes: usize,
    /// Watch events retained, over all kinds.
    pub watch_events: usize,
}

/// The object store. Cloning gives another handle to the same store.
///
/// See the [module docs](self) for the semantics and the concurrency protocol.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("resource_version", &self.inner.rv.load(Ordering::Relaxed))
            .field("config", &self.inner.config)
            .finish()
    }
}

struct Inner {
    config: StoreConfig,
    /// The latest resourceVersion handed out.
    rv: AtomicU64,
    uids: AtomicU64,
    names: AtomicU64,
    kinds: Box<[KindStore]>,
}

/// One kind's objects, indexes and watch log.
struct KindStore {
    kind: Kind,
    shards: Box<[CachePadded<RwLock<Shard>>]>,
    index: KindIndex,
    log: Arc<WatchLog>,
    count: AtomicUsize,
}

/// How a list finds its candidates.
enum Plan<'a> {
    /// One key: a lookup.
    Key(&'a str, &'a str),
    /// The intersection of these terms (each the union of its posting lists).
    Terms(Vec<Vec<Source<'a>>>),
    /// Nothing narrows the query: every object of the kind.
    Scan,
}

/// A key's shard, write-locked (the key lock), and the key's place in it: what the
/// steps of a write to that key work on.
struct Locked<'a> {
    ks: &'a KindStore,
    shard: RwLockWriteGuard<'a, Shard>,
    /// The shard's index in `ks`.
    si: usize,
    /// The key's slot in the shard.
    local: u32,
    /// The key's hash.
    h: u32,
}

/// Old versions and evicted events of a write, dropped after the locks are released.
#[derive(Default)]
struct Trash {
    displaced: Option<Arc<Object>>,
    evicted: Option<WatchEvent>,
}

/// An object of a [`Store::create_many`] run, prepared and not yet inserted.
struct Pending {
    /// Its place in the input.
    index: usize,
    obj: Object,
    /// Its name was drawn from `generateName`.
    generated: bool,
    /// Its key's hash.
    h: u32,
}

/// Tries of a generated name before giving up with `AlreadyExists` (the API retries
/// a few times too).
const GENERATE_NAME_ATTEMPTS: usize = 8;
/// The API's limit on the prefix of a generated name (63 − 5).
const MAX_GENERATE_PREFIX: usize = 58;
/// The alphabet of generated suffixes (apimachinery's `utilrand.String`).
const SUFFIX_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";
/// The length of a generated suffix.
const SUFFIX_LEN: usize = 5;

const STREAM_UID: u64 = 0x7569_6473;
const STREAM_NAME: u64 = 0x6e61_6d65;

/// A deterministic bijective draw: `n`-th value of stream `stream` for `seed`.
fn draw(seed: u64, stream: u64, n: u64) -> u64 {
    table::fmix64(
        seed.wrapping_add(stream.wrapping_mul(0xd6e8_feb8_6659_fd93))
            .wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
    )
}

/// Up to this many ids, a resolve groups them by shard with a small sort on the
/// stack ([`Store::resolve_few`]) rather than a counting sort over every shard.
const RESOLVE_DIRECT: usize = 32;

/// Sorts objects by (namespace, name). Namespaces are the stored namespace's own
/// `Str`, so equal ones are usually one allocation: compared by pointer first.
fn sort_by_namespace_name(objs: &mut [Arc<Object>]) {
    // One namespace (a controller's dependents, a namespaced list): by name alone.
    if let Some(first) = objs.first() {
        let ns = first.namespace().clone();
        if objs.iter().all(|o| Str::ptr_eq(o.namespace(), &ns)) {
            objs.sort_unstable_by(|a, b| a.name().as_str().cmp(b.name().as_str()));
            return;
        }
    }
    objs.sort_unstable_by(|a, b| {
        let (an, bn) = (a.namespace(), b.namespace());
        let ns = if Str::ptr_eq(an, bn) {
            std::cmp::Ordering::Equal
        } else {
            an.as_str().cmp(bn.as_str())
        };
        ns.then_with(|| a.name().as_str().cmp(b.name().as_str()))
    });
}

fn plus_seconds(t: Timestamp, seconds: i64) -> Timestamp {
    Timestamp(t.0.saturating_add(seconds.saturating_mul(1000)))
}

fn not_found(kind: Kind, namespace: &str, name: &str) -> Error {
    Error::NotFound {
        kind,
        namespace: namespace.to_string(),
        name: name.to_string(),
    }
}

fn invalid(kind: Kind, name: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        kind,
        name: name.to_string(),
        reason: reason.into(),
    }
}

fn validate_name(kind: Kind, name: &str) -> Result<()> {
    let check = match kind {
        Kind::Namespace | Kind::Service => crate::validation::dns1123_label(name),
        _ => crate::validation::dns1123_subdomain(name),
    };
    check.map_err(|e| {
        invalid(
            kind,
            name,
            format!("metadata.name: Invalid value: {name:?}: {e}"),
        )
    })
}

/// The write's preconditions: resourceVersion and uid, when the caller set them.
fn check_preconditions(stored: &Object, sent: &ObjectMeta) -> Result<()> {
    let m = stored.meta();
    let conflict = |expected: u64, actual: u64| Error::Conflict {
        kind: stored.kind(),
        namespace: m.namespace.to_string(),
        name: m.name.to_string(),
        expected,
        actual,
    };
    if sent.resource_version != 0 && sent.resource_version != m.resource_version {
        return Err(conflict(sent.resource_version, m.resource_version));
    }
    if sent.uid != Uid(0) && sent.uid != m.uid {
        return Err(conflict(sent.uid.0, m.uid.0));
    }
    Ok(())
}

/// The API server's `deletionFinalizersForGarbageCollection`: sets the `orphan` and
/// `foregroundDeletion` finalizers as the policy (or, without one, the object's
/// current finalizers) asks.
fn set_gc_finalizers(m: &mut ObjectMeta, policy: Option<PropagationPolicy>) {
    let from_finalizers = |orphan_wins: bool| {
        m.finalizers
            .iter()
            .find_map(|f| match f.as_str() {
                FINALIZER_ORPHAN => Some(orphan_wins),
                FINALIZER_FOREGROUND => Some(!orphan_wins),
                _ => None,
            })
            .unwrap_or(false)
    };
    let (orphan, foreground) = match policy {
        Some(PropagationPolicy::Orphan) => (true, false),
        Some(PropagationPolicy::Foreground) => (false, true),
        Some(PropagationPolicy::Background) => (false, false),
        None => (from_finalizers(true), from_finalizers(false)),
    };
    let mut new: Vec<Str> = m
        .finalizers
        .iter()
        .filter(|f| f.as_str() != FINALIZER_ORPHAN && f.as_str() != FINALIZER_FOREGROUND)
        .cloned()
        .collect();
    if orphan {
        new.push(intern(FINALIZER_ORPHAN));
    }
    if foreground {
        new.push(intern(FINALIZER_FOREGROUND));
    }
    fn as_set(v: &[Str]) -> Vec<&str> {
        let mut s: Vec<&str> = v.iter().map(|f| f.as_str()).collect();
        s.sort_unstable();
        s.dedup();
        s
    }
    if as_set(&new) != as_set(&m.finalizers) {
        m.finalizers = new.into();
    }
}

/// The API server's `markAsDeleting`: deletion requested now, no grace period.
fn mark_as_deleting(m: &mut ObjectMeta, now: Timestamp) {
    let requested = m.deletion_timestamp();
    if requested.is_none() && m.generation > 0 {
        m.generation += 1;
    }
    let timestamp = requested.filter(|t| *t <= now).unwrap_or(now);
    m.set_deletion(timestamp, Some(0));
}

/// The API server's `shouldDeleteDuringUpdate`: the update removed the last
/// finalizer of an object whose deletion is pending without a grace period.
fn should_delete_during_update(old: &ObjectMeta, new: &ObjectMeta) -> bool {
    new.finalizers.is_empty()
        && !old.finalizers.is_empty()
        && old.is_being_deleted()
        && old.deletion_grace_period_seconds().is_none_or(|g| g == 0)
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// A store with the default config: a [`ManualClock`] at
    /// [`Timestamp::VIRTUAL_EPOCH`], seed 0. Namespaces `default` and `kube-system`
    /// exist.
    pub fn new() -> Store {
        Store::with_config(StoreConfig::default())
    }

    /// A store with `config`. Namespaces `default` and `kube-system` exist.
    pub fn with_config(mut config: StoreConfig) -> Store {
        config.watch_window = config.watch_window.max(1);
        let kinds = Kind::ALL
            .iter()
            .map(|&kind| KindStore {
                kind,
                shards: (0..SHARDS)
                    .map(|_| CachePadded::new(RwLock::new(Shard::default())))
                    .collect(),
                index: KindIndex::new(kind == Kind::Pod),
                log: Arc::new(WatchLog::new(kind, config.watch_window)),
                count: AtomicUsize::new(0),
            })
            .collect();
        let store = Store {
            inner: Arc::new(Inner {
                config,
                rv: AtomicU64::new(0),
                uids: AtomicU64::new(0),
                names: AtomicU64::new(0),
                kinds,
            }),
        };
        for ns in ["default", "kube-system"] {
            let obj = Object::from(Namespace {
                meta: ObjectMeta::named("", ns),
                phase: NamespacePhase::Active,
            });
            // A fresh store has no objects: these cannot collide.
            let _ = store.create(obj);
        }
        store
    }

    /// The store's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.config.clock
    }

    /// The store's config.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    fn ks(&self, kind: Kind) -> &KindStore {
        &self.inner.kinds[kind.index()]
    }

    /// The namespace part of a key: cluster-scoped kinds ignore the one given.
    fn scope(kind: Kind, namespace: &str) -> &str {
        if kind.namespaced() {
            namespace
        } else {
            ""
        }
    }

    /// The latest resourceVersion handed out. Every write with this or a smaller
    /// resourceVersion is complete when this returns, so "list then watch" is: read
    /// `resource_version()`, list, then [`watch`](Self::watch) from the value read —
    /// no event is missed (some may repeat what the list showed).
    pub fn resource_version(&self) -> u64 {
        // Why a plain load suffices: see "List-then-watch" in the module docs.
        self.inner.rv.load(Ordering::SeqCst)
    }

    /// Number of objects of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.ks(kind).count.load(Ordering::Relaxed)
    }

    /// The object, or `None`.
    pub fn try_get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Arc<Object>> {
        let namespace = Self::scope(kind, namespace);
        let h = key_hash(namespace, name);
        let shard = self.ks(kind).shards[shard_of_hash(h)].read();
        shard.lookup(h, namespace, name).map(|(_, o)| Arc::clone(o))
    }

    /// Namespace `name`'s stored name and whether it is being deleted, read under
    /// its shard's read lock (no clone of the object).
    fn namespace_state(&self, name: &str) -> Option<(Str, bool)> {
        let h = key_hash("", name);
        let shard = self.ks(Kind::Namespace).shards[shard_of_hash(h)].read();
        shard
            .lookup(h, "", name)
            .map(|(_, o)| (o.name().clone(), o.meta().is_being_deleted()))
    }

    /// The object.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`].
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Result<Arc<Object>> {
        self.try_get(kind, namespace, name)
            .ok_or_else(|| not_found(kind, Self::scope(kind, namespace), name))
    }

    /// Objects of `kind` in `namespace` (all namespaces when `None`; ignored for
    /// cluster-scoped kinds) matching the label and field selectors, sorted by
    /// (namespace, name).
    ///
    /// Uses the indexes: the namespace, `spec.nodeName=`, `metadata.namespace=`, and
    /// every `=`/`in`/exists label requirement name posting lists, intersected smallest
    /// first; `metadata.name=` with a known namespace is a single lookup. Only a query
    /// with none of those scans the kind. Every result is checked against the full
    /// selectors. Not a snapshot: see the module docs.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidFieldSelector`] for a field the kind does not have.
    pub fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        labels: Option<&LabelSelector>,
        fields: Option<&FieldSelector>,
    ) -> Result<Vec<Arc<Object>>> {
        if let Some(f) = fields {
            f.validate_for(kind)?;
        }
        let ks = self.ks(kind);
        let namespace = namespace.filter(|_| kind.namespaced());
        let labels = labels.filter(|s| !s.is_empty());
        let fields = fields.filter(|f| !f.is_empty());
        let matches = |o: &Object| {
            namespace.is_none_or(|ns| o.namespace().as_str() == ns)
                && labels.is_none_or(|s| s.matches(o.labels()))
                && fields.is_none_or(|f| f.matches(o))
        };
        let mut out = Vec::new();
        match Self::plan(kind, namespace, labels, fields) {
            Plan::Key(ns, name) => out.extend(self.try_get(kind, ns, name).filter(|o| matches(o))),
            Plan::Scan => {
                for shard in ks.shards.iter() {
                    let shard = shard.read();
                    out.extend(
                        shard
                            .objects()
                            .filter(|(_, o)| matches(o))
                            .map(|(_, o)| Arc::clone(o)),
                    );
                }
            }
            Plan::Terms(terms) => {
                let ids = ks.index.candidates(&terms);
                Self::resolve(ks, &ids, &mut out, |o| matches(o));
            }
        }
        sort_by_namespace_name(&mut out);
        Ok(out)
    }

    /// Every object of `kind`, in no particular order: [`list`](Self::list) without
    /// selectors and without the sort (like a reflector's `state()`), for callers that
    /// only aggregate. Shard by shard, each under its read lock, so — as a list — not a
    /// snapshot.
    pub fn all(&self, kind: Kind) -> Vec<Arc<Object>> {
        let ks = self.ks(kind);
        let mut out = Vec::with_capacity(ks.count.load(Ordering::Relaxed));
        for shard in ks.shards.iter() {
            out.extend(shard.read().objects().map(|(_, o)| Arc::clone(o)));
        }
        out
    }

    /// How a list finds its candidates (selectors already stripped of empty ones).
    fn plan<'a>(
        kind: Kind,
        namespace: Option<&'a str>,
        labels: Option<&'a LabelSelector>,
        fields: Option<&'a FieldSelector>,
    ) -> Plan<'a> {
        let ns_eq = if kind.namespaced() {
            namespace.or_else(|| fields.and_then(|f| f.equality(Field::Namespace)))
        } else {
            Some("")
        };
        if let (Some(ns), Some(name)) = (ns_eq, fields.and_then(|f| f.equality(Field::Name))) {
            return Plan::Key(ns, name);
        }
        let mut terms: Vec<Vec<Source<'a>>> = Vec::new();
        if kind.namespaced() {
            if let Some(ns) = ns_eq {
                terms.push(vec![Source::Namespace(ns)]);
            }
        }
        if let Some(sel) = labels {
            for (k, v) in sel.match_labels.iter() {
                terms.push(vec![Source::Label(k, v)]);
            }
            for r in &sel.match_expressions {
                match r.operator {
                    Operator::In => {
                        terms.push(r.values.iter().map(|v| Source::Label(&r.key, v)).collect())
                    }
                    Operator::Exists => terms.push(vec![Source::LabelKey(&r.key)]),
                    Operator::NotIn | Operator::DoesNotExist => {}
                }
            }
        }
        if kind == Kind::Pod {
            if let Some(node) = fields.and_then(|f| f.equality(Field::NodeName)) {
                terms.push(vec![Source::Node(node)]);
            }
        }
        if terms.is_empty() {
            Plan::Scan
        } else {
            Plan::Terms(terms)
        }
    }

    /// Appends the objects with these ids that satisfy `keep`. The ids are first
    /// grouped by shard (a counting sort: the shard is the id's low bits), so each
    /// shard's read lock is taken once.
    fn resolve(
        ks: &KindStore,
        ids: &RoaringBitmap,
        out: &mut Vec<Arc<Object>>,
        keep: impl Fn(&Object) -> bool,
    ) {
        let n = ids.len() as usize;
        out.reserve(n);
        if n <= RESOLVE_DIRECT {
            return Self::resolve_few(ks, ids.iter(), out, &keep);
        }
        let mut start = [0usize; SHARDS + 1];
        for id in ids {
            start[split_id(id).0 + 1] += 1;
        }
        for s in 1..=SHARDS {
            start[s] += start[s - 1];
        }
        let mut next = start;
        let mut grouped = vec![0u32; n];
        for id in ids {
            let s = split_id(id).0;
            grouped[next[s]] = id;
            next[s] += 1;
        }
        for (si, shard) in ks.shards.iter().enumerate() {
            let group = &grouped[start[si]..start[si + 1]];
            if group.is_empty() {
                continue;
            }
            let shard = shard.read();
            for &id in group {
                if let Some(o) = shard.slot(split_id(id).1) {
                    if keep(o) {
                        out.push(Arc::clone(o));
                    }
                }
            }
        }
    }

    /// Objects of every kind with an ownerReference to `owner`, sorted by (kind,
    /// namespace, name).
    ///
    /// Kinds none of whose objects has an ownerReference are skipped without an index
    /// lookup, and each kind's dependents are sorted apart (kinds are visited in
    /// [`Kind`] order).
    pub fn dependents_of(&self, owner: Uid) -> Vec<Arc<Object>> {
        let mut out = Vec::new();
        let mut ids = Vec::new();
        for ks in self.inner.kinds.iter() {
            Self::dependents_in(ks, owner, &mut ids, &mut out);
        }
        out
    }

    /// Objects of `kind` with an ownerReference to `owner`, sorted by (namespace,
    /// name): [`Store::dependents_of`] restricted to one kind (one index lookup
    /// instead of one per kind).
    pub fn dependents_of_kind(&self, kind: Kind, owner: Uid) -> Vec<Arc<Object>> {
        let mut out = Vec::new();
        Self::dependents_in(self.ks(kind), owner, &mut Vec::new(), &mut out);
        out
    }

    /// Appends `ks`'s dependents of `owner`, sorted by (namespace, name), to `out`
    /// (`ids`: scratch space).
    fn dependents_in(ks: &KindStore, owner: Uid, ids: &mut Vec<u32>, out: &mut Vec<Arc<Object>>) {
        if !ks.index.has_owners() {
            return;
        }
        ids.clear();
        ks.index.owned_ids(owner, ids);
        if ids.is_empty() {
            return;
        }
        let start = out.len();
        Self::resolve_ids(ks, ids, out, |o| {
            o.meta().owner_references.iter().any(|r| r.uid == owner)
        });
        sort_by_namespace_name(&mut out[start..]);
    }

    /// [`Store::resolve`] for ids in a slice (ascending): up to [`RESOLVE_DIRECT`]
    /// through [`Store::resolve_few`] (no bitmap, no counting sort), more as a bitmap.
    fn resolve_ids(
        ks: &KindStore,
        ids: &[u32],
        out: &mut Vec<Arc<Object>>,
        keep: impl Fn(&Object) -> bool,
    ) {
        if ids.len() > RESOLVE_DIRECT {
            let bitmap = RoaringBitmap::from_sorted_iter(ids.iter().copied())
                .unwrap_or_else(|_| ids.iter().copied().collect());
            return Self::resolve(ks, &bitmap, out, keep);
        }
        Self::resolve_few(ks, ids.iter().copied(), out, &keep);
    }

    /// [`Store::resolve`] for at most [`RESOLVE_DIRECT`] ids (more are ignored):
    /// sorted by shard in a stack array, each shard's read lock taken once for its
    /// ids. One lock per shard is what keeps a key from appearing twice — its old
    /// and its new incarnation (a delete and re-create during the resolve) live in
    /// the same shard, which is seen before or after that pair of writes, not between.
    fn resolve_few(
        ks: &KindStore,
        ids: impl Iterator<Item = u32>,
        out: &mut Vec<Arc<Object>>,
        keep: &impl Fn(&Object) -> bool,
    ) {
        let mut buf = [0u32; RESOLVE_DIRECT];
        let mut n = 0;
        for id in ids.take(RESOLVE_DIRECT) {
            buf[n] = id;
            n += 1;
        }
        let ids = &mut buf[..n];
        ids.sort_unstable_by_key(|&id| split_id(id));
        out.reserve(n);
        let mut rest = &ids[..];
        while let Some(&first) = rest.first() {
            let si = split_id(first).0;
            let run = rest.iter().take_while(|&&id| split_id(id).0 == si).count();
            let shard = ks.shards[si].read();
            for &id in &rest[..run] {
                if let Some(o) = shard.slot(split_id(id).1) {
                    if keep(o) {
                        out.push(Arc::clone(o));
                    }
                }
            }
            rest = &rest[run..];
        }
    }

    /// A watcher of `kind`'s events with resourceVersion > `from_resource_version`
    /// (0: from the oldest retained event). For "list then watch", pass the
    /// [`resource_version`](Self::resource_version) read before listing.
    ///
    /// # Errors
    ///
    /// [`Error::Expired`] when events after `from_resource_version` have left the
    /// retained window.
    pub fn watch(&self, kind: Kind, from_resource_version: u64) -> Result<Watcher> {
        self.ks(kind).log.watcher(from_resource_version)
    }

    fn next_uid(&self) -> Uid {
        loop {
            let n = self.inner.uids.fetch_add(1, Ordering::Relaxed);
            let u = draw(self.inner.config.seed, STREAM_UID, n);
            if u != 0 {
                return Uid(u);
            }
        }
    }

    /// The next generated-name suffix: 5 characters of [`SUFFIX_ALPHABET`].
    fn random_suffix(&self) -> [u8; SUFFIX_LEN] {
        self.suffix_at(self.inner.names.fetch_add(1, Ordering::Relaxed))
    }

    /// The `n`-th generated-name suffix of this store's seed.
    fn suffix_at(&self, n: u64) -> [u8; SUFFIX_LEN] {
        let mut x = draw(self.inner.config.seed, STREAM_NAME, n);
        let mut out = [0u8; SUFFIX_LEN];
        for c in &mut out {
            *c = SUFFIX_ALPHABET[(x % 27) as usize];
            x /= 27;
        }
        out
    }

    /// The `n`-th uid of this store's seed (a fresh one in the 2^-64 case of a zero
    /// draw).
    fn uid_at(&self, n: u64) -> Uid {
        match draw(self.inner.config.seed, STREAM_UID, n) {
            0 => self.next_uid(),
            u => Uid(u),
        }
    }

    /// Creates the object (see the module docs for the rules).
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`], [`Error::NamespaceNotFound`], [`Error::Invalid`].
    pub fn create(&self, obj: Object) -> Result<Arc<Object>> {
        let now = self.clock().now();
        let mut obj = obj;
        self.admit_create(&mut obj, None)?;
        let generated =
            self.finish_create(&mut obj, now, self.next_uid(), || self.random_suffix())?;
        match self.insert(obj) {
            Ok(o) => Ok(o),
            Err(b) => {
                let (back, e) = *b;
                if generated && e.is_already_exists() {
                    self.insert_generated(back, e)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Creates the objects in order, each as [`create`](Self::create) would, and
    /// returns one result per object, in the same order.
    ///
    /// A batch is not a transaction: each object succeeds or fails on its own, gets
    /// its own resourceVersion and its own `ADDED` event. What it saves is the fixed
    /// cost of a write: each run of consecutive objects of one kind is written under
    /// one acquisition of the shard locks its keys fall in (taken in ascending shard
    /// order), its posting lists are updated once per distinct label, namespace, owner
    /// and node rather than once per object, its resourceVersions are drawn and its
    /// events logged under one watch-log lock, and watchers are woken once. The
    /// objects of a run are published together, so no reader sees some of them
    /// without the earlier ones' events being in the log (the events are pushed in
    /// input order, with ascending resourceVersions).
    ///
    /// A `generateName` object whose drawn name is taken is retried after the run, as
    /// `create` retries it (so its resourceVersion may come after later objects').
    pub fn create_many(&self, objs: Vec<Object>) -> Vec<Result<Arc<Object>>> {
        let n = objs.len();
        let mut out: Vec<Option<Result<Arc<Object>>>> = Vec::with_capacity(n);
        out.resize_with(n, || None);
        let now = self.clock().now();
        let mut ns_cache = None;
        let admitted: Vec<Result<Object>> = objs
            .into_iter()
            .map(|mut o| self.admit_create(&mut o, Some(&mut ns_cache)).map(|()| o))
            .collect();
        // The uids and generated-name suffixes the objects draw, reserved as two blocks
        // (in input order, so the same as drawing them one by one): an admitted
        // object draws a uid, and one with only a generateName its first suffix.
        let (mut uids, mut suffixes) = (0u64, 0u64);
        for o in admitted.iter().flatten() {
            uids += 1;
            if o.name().is_empty()
                && o.meta()
                    .generate_name
                    .as_ref()
                    .is_some_and(|p| !p.is_empty())
            {
                suffixes += 1;
            }
        }
        let mut next_uid = self.inner.uids.fetch_add(uids, Ordering::Relaxed);
        let mut next_suffix = if suffixes > 0 {
            self.inner.names.fetch_add(suffixes, Ordering::Relaxed)
        } else {
            0
        };
        let mut run: Vec<Pending> = Vec::new();
        let mut retry: Vec<(usize, Object, Error)> = Vec::new();
        for (i, admitted) in admitted.into_iter().enumerate() {
            let prepared = admitted.and_then(|mut obj| {
                let uid = self.uid_at(next_uid);
                next_uid += 1;
                self.finish_create(&mut obj, now, uid, || {
                    let s = self.suffix_at(next_suffix);
                    next_suffix += 1;
                    s
                })
                .map(|generated| (obj, generated))
            });
            match prepared {
                Ok((obj, generated)) => {
                    if run.last().is_some_and(|p| p.obj.kind() != obj.kind()) {
                        self.insert_run(std::mem::take(&mut run), &mut out, &mut retry);
                    }
                    let h = key_hash(obj.namespace(), obj.name());
                    run.push(Pending {
                        index: i,
                        obj,
                        generated,
                        h,
                    });
                }
                Err(e) => out[i] = Some(Err(e)),
            }
        }
        self.insert_run(run, &mut out, &mut retry);
        for (i, obj, e) in retry {
            out[i] = Some(self.insert_generated(obj, e));
        }
        out.into_iter()
            .map(|r| r.expect("insert_run and the retries give every object a result"))
            .collect()
    }

    /// The first checks of a create, before any lock: the namespace (through
    /// `ns_cache`, the last namespace looked up: given name, stored name, being
    /// deleted), then admission.
    fn admit_create(
        &self,
        obj: &mut Object,
        ns_cache: Option<&mut Option<(Str, Str, bool)>>,
    ) -> Result<()> {
        let kind = obj.kind();
        if kind.namespaced() {
            if obj.namespace().is_empty() {
                return Err(invalid(
                    kind,
                    obj.name(),
                    "metadata.namespace: Required value",
                ));
            }
            let state = match ns_cache {
                None => self.namespace_state(obj.namespace()),
                Some(Some((given, stored, deleting))) if given == obj.namespace() => {
                    Some((stored.clone(), *deleting))
                }
                Some(cache) => {
                    let state = self.namespace_state(obj.namespace());
                    *cache = state.as_ref().map(|(stored, deleting)| {
                        (obj.namespace().clone(), stored.clone(), *deleting)
                    });
                    state
                }
            };
            match state {
                None => return Err(Error::NamespaceNotFound(obj.namespace().to_string())),
                Some((_, true)) => {
                    let ns = obj.namespace();
                    return Err(invalid(
                        kind,
                        obj.name(),
                        format!("unable to create new content in namespace {ns} because it is being terminated"),
                    ));
                }
                Some((name, false)) => obj.meta_mut().namespace = name,
            }
        } else {
            obj.meta_mut().namespace = Str::default();
        }
        self.inner.config.admission.admit(self, obj);
        Ok(())
    }

    /// The rest of a create's preparation: uid and system metadata, and the name —
    /// validated, or drawn from `generateName` with the suffix `suffix` gives (then
    /// the second value is `true`).
    fn finish_create(
        &self,
        obj: &mut Object,
        now: Timestamp,
        uid: Uid,
        suffix: impl FnOnce() -> [u8; SUFFIX_LEN],
    ) -> Result<bool> {
        let kind = obj.kind();
        {
            let m = obj.meta_mut();
            m.uid = uid;
            m.resource_version = 0;
            m.generation = 1;
            m.creation_timestamp = now;
            m.deletion = None;
        }
        if !obj.name().is_empty() {
            validate_name(kind, obj.name())?;
            return Ok(false);
        }
        let name = self.generated_name(obj, suffix)?;
        obj.meta_mut().name = name;
        Ok(true)
    }

    /// A fresh name for `obj` from its `metadata.generateName`: the prefix (cut to
    /// 58 bytes) and 5 characters drawn from the store's seed, validated.
    fn generated_name(
        &self,
        obj: &Object,
        suffix: impl FnOnce() -> [u8; SUFFIX_LEN],
    ) -> Result<Str> {
        let kind = obj.kind();
        let Some(prefix) = obj.meta().generate_name.as_ref().filter(|p| !p.is_empty()) else {
            return Err(invalid(
                kind,
                "",
                "metadata.name: Required value: name or generateName is required",
            ));
        };
        let mut cut = prefix.len().min(MAX_GENERATE_PREFIX);
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        let base = &prefix[..cut];
        // The name is built in a stack buffer (prefix ≤ 58 bytes + 5), then copied once
        // into its `Str`.
        let mut buf = [0u8; MAX_GENERATE_PREFIX + SUFFIX_LEN];
        buf[..cut].copy_from_slice(base.as_bytes());
        buf[cut..cut + SUFFIX_LEN].copy_from_slice(&suffix());
        // A char-boundary prefix followed by ASCII is UTF-8.
        let name = std::str::from_utf8(&buf[..cut + SUFFIX_LEN])
            .map_err(|_| invalid(kind, base, "generated name is not UTF-8"))?;
        validate_name(kind, name)?;
        Ok(Str::new(name))
    }

    /// Retries a `generateName` create whose first drawn name was taken (`first`
    /// is that attempt's error): up to [`GENERATE_NAME_ATTEMPTS`] names in all.
    fn insert_generated(&self, mut obj: Object, first: Error) -> Result<Arc<Object>> {
        let mut last = first;
        for _ in 1..GENERATE_NAME_ATTEMPTS {
            let name = self.generated_name(&obj, || self.random_suffix())?;
            obj.meta_mut().name = name;
            match self.insert(obj) {
                Ok(o) => return Ok(o),
                Err(b) => {
                    let (back, e) = *b;
                    if !e.is_already_exists() {
                        return Err(e);
                    }
                    obj = back;
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// Inserts one run of prepared objects of one kind (see
    /// [`create_many`](Self::create_many)): results go to `out` by input index;
    /// `generateName` objects whose name is taken go to `retry`.
    fn insert_run(
        &self,
        run: Vec<Pending>,
        out: &mut [Option<Result<Arc<Object>>>],
        retry: &mut Vec<(usize, Object, Error)>,
    ) {
        let Some(kind) = run.first().map(|p| p.obj.kind()) else {
            return;
        };
        if run.len() == 1 {
            let Some(p) = run.into_iter().next() else {
                return;
            };
            match self.insert(p.obj) {
                Ok(o) => out[p.index] = Some(Ok(o)),
                Err(b) => {
                    let (back, e) = *b;
                    if p.generated && e.is_already_exists() {
                        retry.push((p.index, back, e));
                    } else {
                        out[p.index] = Some(Err(e));
                    }
                }
            }
            return;
        }
        let ks = self.ks(kind);
        // The key locks of the run, in ascending shard order (the only order in which
        // a thread ever holds more than one shard lock).
        let mut mask = 0u64;
        for p in &run {
            mask |= 1u64 << shard_of_hash(p.h);
        }
        let mut guards: [Option<RwLockWriteGuard<'_, Shard>>; SHARDS] =
            std::array::from_fn(|_| None);
        let mut m = mask;
        while m != 0 {
            let si = m.trailing_zeros() as usize;
            guards[si] = Some(ks.shards[si].write());
            m &= m - 1;
        }
        // Accepted objects: (input index, shard, key hash, slot, the new version — not
        // shared until it is published).
        let mut accepted: Vec<(usize, usize, u32, u32, Arc<Object>)> =
            Vec::with_capacity(run.len());
        let mut per_shard = [0u32; SHARDS];
        for p in run {
            let (h, si) = (p.h, shard_of_hash(p.h));
            let shard = guards[si]
                .as_mut()
                .expect("every shard of the run was locked above");
            let (ns, name) = (p.obj.namespace(), p.obj.name());
            let taken = shard.lookup(h, ns, name).is_some()
                || accepted
                    .iter()
                    .any(|(_, _, ah, _, a)| *ah == h && a.name() == name && a.namespace() == ns);
            if taken {
                let e = Error::AlreadyExists {
                    kind,
                    namespace: ns.to_string(),
                    name: name.to_string(),
                };
                if p.generated {
                    retry.push((p.index, p.obj, e));
                } else {
                    out[p.index] = Some(Err(e));
                }
                continue;
            }
            let Some(local) = shard.reserve() else {
                out[p.index] = Some(Err(invalid(
                    kind,
                    name,
                    "too many objects of this kind in one shard",
                )));
                continue;
            };
            per_shard[si] += 1;
            accepted.push((p.index, si, h, local, Arc::new(p.obj)));
        }
        // Table room for every entry of the run, so that publishing never resizes.
        for (si, &k) in per_shard.iter().enumerate() {
            if k > 1 {
                if let Some(shard) = guards[si].as_mut() {
                    shard.reserve_room(k as usize);
                }
            }
        }
        // (a) postings, grouped.
        {
            let items: Vec<(u32, &Object)> = accepted
                .iter()
                .map(|(_, si, _, local, obj)| (make_id(*si, *local), &**obj))
                .collect();
            ks.index.add_created(&items);
        }
        // (b) resourceVersions, publication and events under one watch-log lock.
        let k = accepted.len();
        let mut evicted: Vec<WatchEvent> = Vec::new();
        if k > 0 {
            let mut log = ks.log.lock();
            let base = self.inner.rv.fetch_add(k as u64, Ordering::SeqCst);
            for (j, (_, si, h, local, arc)) in accepted.iter_mut().enumerate() {
                let rv = base + 1 + j as u64;
                Arc::get_mut(arc)
                    .expect("a new Arc is not shared yet")
                    .meta_mut()
                    .resource_version = rv;
                guards[*si]
                    .as_mut()
                    .expect("every shard of the run was locked above")
                    .publish(*h, *local, Arc::clone(arc));
                if let Some(ev) = log.push(WatchEvent {
                    type_: WatchEventType::Added,
                    object: Arc::clone(arc),
                    resource_version: rv,
                }) {
                    evicted.push(ev);
                }
            }
            ks.count.fetch_add(k, Ordering::Relaxed);
        }
        drop(guards);
        if k > 0 {
            ks.log.notify();
        }
        drop(evicted);
        for (index, _, _, _, arc) in accepted {
            out[index] = Some(Ok(arc));
        }
    }

    /// Inserts a prepared new object; gives it back on failure (boxed: it is large,
    /// and failures are the rare path).
    fn insert(&self, obj: Object) -> std::result::Result<Arc<Object>, Box<(Object, Error)>> {
        let kind = obj.kind();
        let ks = self.ks(kind);
        let h = key_hash(obj.namespace(), obj.name());
        let si = shard_of_hash(h);
        let mut trash = Trash::default();
        let created = {
            let mut shard = ks.shards[si].write();
            if shard.lookup(h, obj.namespace(), obj.name()).is_some() {
                let e = Error::AlreadyExists {
                    kind,
                    namespace: obj.namespace().to_string(),
                    name: obj.name().to_string(),
                };
                return Err(Box::new((obj, e)));
            }
            let Some(local) = shard.reserve() else {
                let e = invalid(
                    kind,
                    obj.name(),
                    "too many objects of this kind in one shard",
                );
                return Err(Box::new((obj, e)));
            };
            let mut at = Locked {
                ks,
                shard,
                si,
                local,
                h,
            };
            let created = self.put_locked(&mut at, None, obj, WatchEventType::Added, &mut trash);
            ks.count.fetch_add(1, Ordering::Relaxed);
            created
        };
        ks.log.notify();
        drop(trash);
        Ok(created)
    }

    /// Write-locks the shard of `ks`'s key `namespace/name` and finds the stored
    /// object (for a write that replaces or removes it).
    fn lock_stored<'a>(
        ks: &'a KindStore,
        namespace: &str,
        name: &str,
    ) -> Result<(Locked<'a>, Arc<Object>)> {
        let h = key_hash(namespace, name);
        let si = shard_of_hash(h);
        let shard = ks.shards[si].write();
        let Some((local, found)) = shard.lookup(h, namespace, name) else {
            return Err(not_found(ks.kind, namespace, name));
        };
        let stored = Arc::clone(found);
        let at = Locked {
            ks,
            shard,
            si,
            local,
            h,
        };
        Ok((at, stored))
    }

    /// Steps (a)–(c) of a write that stores `new` in the locked key's slot (module
    /// docs).
    fn put_locked(
        &self,
        at: &mut Locked,
        old: Option<&Arc<Object>>,
        new: Object,
        type_: WatchEventType,
        trash: &mut Trash,
    ) -> Arc<Object> {
        let id = make_id(at.si, at.local);
        at.ks.index.add(id, old.map(|o| &**o), &new);
        let arc = self.log_write(at.ks, new, type_, trash, |arc| {
            at.shard.publish(at.h, at.local, Arc::clone(arc))
        });
        if let Some(old) = old {
            at.ks.index.remove_stale(id, old, Some(&arc));
        }
        arc
    }

    /// A write that removes the object in the locked key's slot; `last` is the state
    /// the DELETED event carries.
    fn remove_locked(
        &self,
        at: &mut Locked,
        old: &Arc<Object>,
        last: Object,
        trash: &mut Trash,
    ) -> Arc<Object> {
        let id = make_id(at.si, at.local);
        let arc = self.log_write(at.ks, last, WatchEventType::Deleted, trash, |_| {
            at.shard.remove(at.h, at.local)
        });
        at.ks.index.remove_stale(id, old, None);
        at.ks.count.fetch_sub(1, Ordering::Relaxed);
        arc
    }

    /// Step (b) of a write (module docs): under the watch-log lock, draws the next
    /// resourceVersion and stamps it into `new` (not shared yet), lets `publish` change
    /// the shard (returning the version it displaced), and logs the event. The caller
    /// holds the shard's write lock.
    fn log_write(
        &self,
        ks: &KindStore,
        new: Object,
        type_: WatchEventType,
        trash: &mut Trash,
        publish: impl FnOnce(&Arc<Object>) -> Option<Arc<Object>>,
    ) -> Arc<Object> {
        let mut arc = Arc::new(new);
        let mut log = ks.log.lock();
        let rv = self.inner.rv.fetch_add(1, Ordering::SeqCst) + 1;
        Arc::get_mut(&mut arc)
            .expect("a new Arc is not shared yet")
            .meta_mut()
            .resource_version = rv;
        trash.displaced = publish(&arc);
        trash.evicted = log.push(WatchEvent {
            type_,
            object: Arc::clone(&arc),
            resource_version: rv,
        });
        arc
    }

    /// Replaces the object's spec and metadata (see the module docs for the rules).
    /// Returns the stored result (the stored object itself when nothing changed).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::Conflict`], [`Error::Invalid`] (a new finalizer
    /// on an object being deleted).
    pub fn update(&self, mut obj: Object) -> Result<Arc<Object>> {
        let kind = obj.kind();
        let ks = self.ks(kind);
        let mut trash = Trash::default();
        let stored;
        let updated = {
            let namespace = Self::scope(kind, obj.namespace());
            let (mut at, found) = Self::lock_stored(ks, namespace, obj.name())?;
            stored = found;
            check_preconditions(&stored, obj.meta())?;
            let sm = stored.meta();
            if sm.is_being_deleted() {
                if let Some(f) = obj
                    .meta()
                    .finalizers
                    .iter()
                    .find(|f| !sm.finalizers.contains(f))
                {
                    return Err(invalid(
                        kind,
                        &sm.name,
                        format!("metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers [{f:?}]"),
                    ));
                }
            }
            {
                let m = obj.meta_mut();
                m.name = sm.name.clone();
                m.namespace = sm.namespace.clone();
                m.uid = sm.uid;
                m.resource_version = sm.resource_version;
                m.creation_timestamp = sm.creation_timestamp;
                m.deletion = sm.deletion.clone();
            }
            if stored.has_status() {
                obj.set_status_from(&stored);
            }
            let generation = if obj.spec_eq(&stored) {
                sm.generation
            } else {
                sm.generation + 1
            };
            obj.meta_mut().generation = generation;
            if obj == *stored {
                return Ok(stored);
            }
            if should_delete_during_update(sm, obj.meta()) {
                self.remove_locked(&mut at, &stored, obj, &mut trash)
            } else {
                let t = WatchEventType::Modified;
                self.put_locked(&mut at, Some(&stored), obj, t, &mut trash)
            }
        };
        ks.log.notify();
        drop(trash);
        drop(stored);
        Ok(updated)
    }

    /// Replaces the object's status only (spec and metadata as stored; the caller's
    /// resourceVersion and uid are preconditions). Returns the stored result.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::Conflict`], [`Error::Invalid`] for a kind without
    /// status.
    pub fn update_status(&self, obj: Object) -> Result<Arc<Object>> {
        let kind = obj.kind();
        let ks = self.ks(kind);
        let mut trash = Trash::default();
        let stored;
        let updated = {
            let namespace = Self::scope(kind, obj.namespace());
            let (mut at, found) = Self::lock_stored(ks, namespace, obj.name())?;
            stored = found;
            check_preconditions(&stored, obj.meta())?;
            if !stored.has_status() {
                return Err(invalid(
                    kind,
                    obj.name(),
                    format!("{} have no status", kind.plural()),
                ));
            }
            let mut new = (*stored).clone();
            new.set_status_from(&obj);
            if new == *stored {
                return Ok(stored);
            }
            let t = WatchEventType::Modified;
            self.put_locked(&mut at, Some(&stored), new, t, &mut trash)
        };
        ks.log.notify();
        drop(trash);
        drop(stored);
        Ok(updated)
    }

    /// The API server's `BeforeDelete` for the kinds with graceful deletion (pods):
    /// returns `(graceful, pending)`.
    fn before_delete(
        &self,
        obj: &mut Object,
        opts: &DeleteOptions,
        now: Timestamp,
    ) -> (bool, bool) {
        let grace = opts.grace_period_seconds.map(|g| if g < 0 { 1 } else { g });
        let default_grace = self.inner.config.default_termination_grace_seconds;
        let Object::Pod(pod) = obj else {
            return (false, false);
        };
        let m = &mut pod.meta;
        if let Some(d) = m.deletion.as_mut() {
            if d.grace_period_seconds.is_some_and(|g| g < 0) {
                d.grace_period_seconds = Some(1);
            }
        }
        if let Some(ts) = m.deletion_timestamp() {
            let current = match m.deletion_grace_period_seconds() {
                None | Some(0) => return (false, false),
                Some(g) => g,
            };
            return match grace {
                Some(p) if p < current => {
                    m.set_deletion(plus_seconds(ts, p - current), Some(p));
                    (true, false)
                }
                _ => (false, true),
            };
        }
        let mut period = grace
            .or(pod.spec.termination_grace_period_seconds)
            .unwrap_or(default_grace);
        if pod.node_name.as_ref().is_none_or(|n| n.is_empty()) || pod.status.phase.is_terminal() {
            period = 0;
        }
        if period < 0 {
            period = 1;
        }
        let m = &mut pod.meta;
        m.set_deletion(plus_seconds(now, period), Some(period));
        if m.generation > 0 {
            m.generation += 1;
        }
        (true, false)
    }

    /// Deletes the object (see the module docs for the rules).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::Conflict`] (uid precondition).
    pub fn delete(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted> {
        let now = self.clock().now();
        let ks = self.ks(kind);
        let namespace = Self::scope(kind, namespace);
        let mut trash = Trash::default();
        let stored;
        let outcome = {
            let (mut at, found) = Self::lock_stored(ks, namespace, name)?;
            stored = found;
            if let Some(uid) = opts.preconditions_uid {
                let m = stored.meta();
                if uid != m.uid {
                    return Err(Error::Conflict {
                        kind,
                        namespace: namespace.to_string(),
                        name: name.to_string(),
                        expected: uid.0,
                        actual: m.uid.0,
                    });
                }
            }
            let mut new = (*stored).clone();
            let (graceful, pending) = self.before_delete(&mut new, opts, now);
            if pending {
                // A graceful deletion is under way and not shortened: nothing changes
                // (finalizers cannot be changed by a delete then either).
                return Ok(Deleted::Pending(stored));
            }
            set_gc_finalizers(new.meta_mut(), opts.propagation);
            let has_finalizers = !new.meta().finalizers.is_empty();
            let keep = if graceful {
                has_finalizers || new.meta().deletion_grace_period_seconds().unwrap_or(0) > 0
            } else {
                if has_finalizers {
                    mark_as_deleting(new.meta_mut(), now);
                }
                has_finalizers
            };
            if !keep {
                Deleted::Gone(self.remove_locked(&mut at, &stored, new, &mut trash))
            } else if new == *stored {
                Deleted::Pending(Arc::clone(&stored))
            } else {
                let t = WatchEventType::Modified;
                Deleted::Pending(self.put_locked(&mut at, Some(&stored), new, t, &mut trash))
            }
        };
        ks.log.notify();
        drop(trash);
        drop(stored);
        Ok(outcome)
    }

    /// Approximate memory of the store's own structures, and counts.
    pub fn stats(&self) -> StoreStats {
        let mut s = StoreStats::default();
        for ks in self.inner.kinds.iter() {
            s.objects += ks.count.load(Ordering::Relaxed);
            for shard in ks.shards.iter() {
                s.table_bytes +=
                    size_of::<CachePadded<RwLock<Shard>>>() + shard.read().memory_bytes();
            }
            s.index_bytes += ks.index.memory_bytes();
            s.watch_events += ks.log.retained().0;
        }
        s
    }

    /// Checks the store's internal invariants: every shard's table matches its slots,
    /// every index equals a recomputation from the objects, object counts are right,
    /// and every watch log is in resourceVersion order within its window.
    ///
    /// Exact even while writers run: it holds all shard read locks of a kind while
    /// checking that kind. For tests and debugging; it is slow.
    ///
    /// # Errors
    ///
    /// The first inconsistency found, described.
    #[doc(hidden)]
    pub fn check_indexes(&self) -> std::result::Result<(), String> {
        for ks in self.inner.kinds.iter() {
            {
                let guards: Vec<_> = ks.shards.iter().map(|s| s.read()).collect();
                let mut total = 0;
                for (si, g) in guards.iter().enumerate() {
                    total += g.check(si).map_err(|e| format!("{}: {e}", ks.kind))?;
                    for (_, o) in g.objects() {
                        if o.kind() != ks.kind {
                            return Err(format!("{}: holds {}", ks.kind, o.display_key()));
                        }
                    }
                }
                let count = ks.count.load(Ordering::Relaxed);
                if count != total {
                    return Err(format!("{}: count {count}, but {total} objects", ks.kind));
                }
                let objects = guards.iter().enumerate().flat_map(|(si, g)| {
                    g.objects()
                        .map(move |(local, o)| (make_id(si, local), &**o))
                });
                let expected = IndexSnapshot::expected(objects, ks.kind == Kind::Pod);
                let actual = ks.index.snapshot();
                if let Some(d) = actual.diff(&expected) {
                    return Err(format!("{}: {d}", ks.kind));
                }
                ks.index
                    .check_counts()
                    .map_err(|e| format!("{}: {e}", ks.kind))?;
            }
            ks.log.check()?;
        }
        Ok(())
    }
}
