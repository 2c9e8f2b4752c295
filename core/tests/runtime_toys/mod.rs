//! Toy controllers for the runtime's integration tests (`runtime_sim.rs`,
//! `runtime_realtime.rs`): small, but they use the whole controller API.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::Rng;

use kubesim_core::intern::Str;
use kubesim_core::model::{
    ConfigMap, EventType, Kind, Object, ObjectKey, ObjectMeta, OwnerReference,
};
use kubesim_core::runtime::{
    map_to_controller, route_object, Controller, Ctx, ReconcileError, Requeue, Routed, StoreView,
    WriteResult,
};
use kubesim_core::selector::LabelSelector;
use kubesim_core::store::{DeleteOptions, Store, WatchEvent};
use kubesim_core::time::{parse_duration, Timestamp};

/// Annotation of an owner: how many copies to keep.
pub const COPIES: &str = "copies";
/// Annotation of an owner: requeue after this duration (`30s`).
pub const RESYNC: &str = "resync";
/// Label of a copy: its owner's name.
pub const COPY_OF: &str = "copy-of";

/// A ConfigMap named `name` in `default` with annotations and data.
pub fn config_map(name: &str, annotations: &[(&str, &str)], data: &[(&str, &str)]) -> Object {
    let mut meta = ObjectMeta::named("default", name);
    meta.annotations = annotations.iter().copied().collect();
    Object::from(ConfigMap {
        meta,
        data: data
            .iter()
            .map(|(k, v)| (Str::new(k), Str::new(v)))
            .collect(),
    })
}

/// An owner with `n` copies (and a resync period, if given).
pub fn owner(name: &str, n: usize, resync: Option<&str>) -> Object {
    let n = n.to_string();
    let mut ann = vec![(COPIES, n.as_str())];
    if let Some(r) = resync {
        ann.push((RESYNC, r));
    }
    config_map(name, &ann, &[("v", name)])
}

/// Sets an annotation on a stored ConfigMap (an unconditional update).
pub fn annotate(store: &Store, name: &str, key: &str, value: &str) {
    let cm = store.get(Kind::ConfigMap, "default", name).unwrap();
    let mut new = (*cm).clone();
    new.meta_mut().annotations = cm.meta().annotations.with(key, value);
    store.update(new).unwrap();
}

/// Marks a key as being reconciled; records a violation if it already was.
pub struct InFlight<'a> {
    set: &'a Mutex<HashSet<ObjectKey>>,
    key: ObjectKey,
}

impl<'a> InFlight<'a> {
    /// Enters `key`; panics (after counting a violation) if it is already in flight.
    pub fn enter(
        set: &'a Mutex<HashSet<ObjectKey>>,
        violations: &AtomicUsize,
        key: &ObjectKey,
    ) -> Self {
        if !set.lock().insert(key.clone()) {
            violations.fetch_add(1, Ordering::SeqCst);
            panic!("{key} is reconciled by two workers at once");
        }
        InFlight {
            set,
            key: key.clone(),
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.set.lock().remove(&self.key);
    }
}

/// For each ConfigMap `x` with annotation `copies: N`, keeps N ConfigMaps
/// `x-0..x-(N-1)` labelled `copy-of: x`, controlled by `x`, with `x`'s data and a
/// random `salt` label drawn from the reconcile's RNG. Creates in slow start, deletes
/// extras and copies of a gone owner, updates copies whose data is stale; requeues
/// after the owner's `resync` annotation, if any.
#[derive(Default)]
pub struct Replicator {
    pub in_flight: Mutex<HashSet<ObjectKey>>,
    pub violations: AtomicUsize,
    pub reconciles: AtomicUsize,
    /// Failed or skipped creates reported to `applied`.
    pub failed_creates: AtomicUsize,
}

impl Replicator {
    pub fn new() -> Arc<Self> {
        Arc::new(Replicator::default())
    }
}

fn index_of(copy: &str, owner: &str) -> Option<usize> {
    copy.strip_prefix(owner)?.strip_prefix('-')?.parse().ok()
}

impl Controller for Replicator {
    fn name(&self) -> &'static str {
        "replicator"
    }

    fn primary(&self) -> Kind {
        Kind::ConfigMap
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        if ev.object.meta().controller_ref().is_some() {
            // A copy → its owner.
            map_to_controller(ev, store, Kind::ConfigMap, out);
        } else {
            out.push(route_object(store, &ev.object));
        }
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        let _guard = InFlight::enter(&self.in_flight, &self.violations, key);
        self.reconciles.fetch_add(1, Ordering::Relaxed);
        let store = ctx.store();
        let sel: LabelSelector = format!("{COPY_OF}={}", key.name)
            .parse()
            .map_err(ReconcileError::new)?;
        let existing = store.list(Kind::ConfigMap, Some(&key.namespace), Some(&sel), None)?;
        let owner = store.get_key(key).filter(|o| !o.meta().is_being_deleted());
        let want = owner
            .as_ref()
            .and_then(|o| {
                o.meta()
                    .annotations
                    .get(COPIES)
                    .and_then(|n| n.parse::<usize>().ok())
            })
            .unwrap_or(0);
        let owner_uid = owner.as_ref().map(|o| o.meta().uid);
        let data = owner
            .as_ref()
            .and_then(|o| o.as_config_map().map(|c| c.data.clone()))
            .unwrap_or_default();
        let mut have = vec![false; want];
        for copy in &existing {
            let owned =
                copy.meta().controller_ref().map(|r| r.uid) == owner_uid && owner_uid.is_some();
            match index_of(copy.name(), &key.name) {
                Some(i) if owned && i < want => {
                    have[i] = true;
                    let cm = copy.as_config_map().expect("listed ConfigMaps");
                    if cm.data != data {
                        let mut new = (**copy).clone();
                        new.as_config_map_mut().expect("a ConfigMap").data = data.clone();
                        ctx.update(new);
                    }
                }
                _ => {
                    let opts = DeleteOptions {
                        preconditions_uid: Some(copy.meta().uid),
                        ..DeleteOptions::default()
                    };
                    ctx.delete(Kind::ConfigMap, &key.namespace, copy.name(), opts);
                }
            }
        }
        if let Some(owner) = &owner {
            let missing: Vec<Object> = (0..want)
                .filter(|&i| !have[i])
                .map(|i| {
                    let salt = ctx.rng().random::<u32>().to_string();
                    let mut meta = ObjectMeta::named(&key.namespace, &format!("{}-{i}", key.name));
                    meta.labels = [(COPY_OF, key.name.as_str()), ("salt", salt.as_str())]
                        .into_iter()
                        .collect();
                    meta.owner_references = vec![OwnerReference {
                        kind: Kind::ConfigMap,
                        name: key.name.clone(),
                        uid: owner.meta().uid,
                        controller: true,
                        block_owner_deletion: true,
                    }]
                    .into();
                    Object::from(ConfigMap {
                        meta,
                        data: data.clone(),
                    })
                })
                .collect();
            if !missing.is_empty() {
                ctx.create_slow_start(missing)
                    .on_success(
                        owner,
                        EventType::Normal,
                        "SuccessfulCreate",
                        "Created copy: {name}",
                    )
                    .on_failure(owner, EventType::Warning, "FailedCreate", "Error creating");
            }
            if let Some(r) = owner.meta().annotations.get(RESYNC) {
                let d = parse_duration(r).map_err(ReconcileError::new)?;
                return Ok(Requeue::After(d));
            }
        }
        Ok(Requeue::Done)
    }

    fn applied(&self, _key: &ObjectKey, results: &[WriteResult]) {
        let failed = results
            .iter()
            .filter(|r| r.verb == kubesim_core::runtime::Verb::Create && r.is_failure())
            .count();
        self.failed_creates.fetch_add(failed, Ordering::Relaxed);
    }
}

/// Checks that every live owner has exactly its copies (names, owner, data); returns
/// a description of the first mismatch.
pub fn check_converged(store: &Store) -> Result<(), String> {
    let all = store
        .list(Kind::ConfigMap, Some("default"), None, None)
        .unwrap();
    for o in &all {
        let Some(n) = o.meta().annotations.get(COPIES) else {
            continue;
        };
        let n: usize = n.parse().unwrap();
        let sel: LabelSelector = format!("{COPY_OF}={}", o.name()).parse().unwrap();
        let copies = store
            .list(Kind::ConfigMap, Some("default"), Some(&sel), None)
            .unwrap();
        let mut names: Vec<String> = copies.iter().map(|c| c.name().to_string()).collect();
        names.sort();
        let mut want: Vec<String> = (0..n).map(|i| format!("{}-{i}", o.name())).collect();
        want.sort();
        if names != want {
            return Err(format!("{}: copies {names:?}, want {want:?}", o.name()));
        }
        for c in &copies {
            if c.meta().controller_ref().map(|r| r.uid) != Some(o.meta().uid) {
                return Err(format!("{} is not controlled by {}", c.name(), o.name()));
            }
            if c.as_config_map().unwrap().data != o.as_config_map().unwrap().data {
                return Err(format!("{} has stale data", c.name()));
            }
        }
    }
    // No copy outlives its owner.
    for c in &all {
        if let Some(owner) = c.labels().get(COPY_OF) {
            let alive = all
                .iter()
                .any(|o| o.name() == owner && o.meta().annotations.contains_key(COPIES));
            if !alive {
                return Err(format!("{} outlives its owner {owner}", c.name()));
            }
        }
    }
    Ok(())
}

/// Reconciles ConfigMaps annotated `tick-every: <duration>`: at most once per period
/// it bumps the `ticks` annotation and stores the time in `last-tick` (ms), then
/// requeues for the next tick.
#[derive(Default)]
pub struct Ticker {
    /// (time, key) of every reconcile.
    pub calls: Mutex<Vec<(Timestamp, ObjectKey)>>,
}

/// Annotation: the tick period.
pub const TICK_EVERY: &str = "tick-every";

impl Controller for Ticker {
    fn name(&self) -> &'static str {
        "ticker"
    }

    fn primary(&self) -> Kind {
        Kind::ConfigMap
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        self.calls.lock().push((ctx.now(), key.clone()));
        let Some(cm) = ctx.store().get_key(key) else {
            return Ok(Requeue::Done);
        };
        let ann = &cm.meta().annotations;
        let Some(every) = ann.get(TICK_EVERY) else {
            return Ok(Requeue::Done);
        };
        let every = parse_duration(every).map_err(ReconcileError::new)?;
        let now = ctx.now();
        let last = ann
            .get("last-tick")
            .and_then(|t| t.parse::<i64>().ok())
            .map(Timestamp);
        match last {
            Some(last) if now.since(last) < every => Ok(Requeue::After(every - now.since(last))),
            _ => {
                let ticks: u64 = ann.get("ticks").and_then(|t| t.parse().ok()).unwrap_or(0);
                let mut new = (*cm).clone();
                new.meta_mut().annotations = ann
                    .with("ticks", &(ticks + 1).to_string())
                    .with("last-tick", &now.millis().to_string());
                ctx.update(new);
                ctx.event(&cm, EventType::Normal, "Tick", "tick");
                Ok(Requeue::After(every))
            }
        }
    }
}

/// The `ticks` annotation of a stored ConfigMap.
pub fn ticks(store: &Store, name: &str) -> u64 {
    store
        .try_get(Kind::ConfigMap, "default", name)
        .and_then(|o| {
            o.meta()
                .annotations
                .get("ticks")
                .and_then(|t| t.parse().ok())
        })
        .unwrap_or(0)
}

/// Panics on every key whose name starts with `bad`; records every attempt.
#[derive(Default)]
pub struct Panicker {
    pub calls: Mutex<Vec<(Timestamp, ObjectKey)>>,
}

impl Controller for Panicker {
    fn name(&self) -> &'static str {
        "panicker"
    }

    fn primary(&self) -> Kind {
        Kind::ConfigMap
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        self.calls.lock().push((ctx.now(), key.clone()));
        if key.name.starts_with("bad") {
            // Recorded before the panic: must be discarded.
            ctx.create(config_map(&format!("{}-leak", key.name), &[], &[]));
            panic!("boom on {key}");
        }
        Ok(Requeue::Done)
    }
}

impl Panicker {
    /// Times of the attempts on `name`.
    pub fn attempts(&self, name: &str) -> Vec<Timestamp> {
        self.calls
            .lock()
            .iter()
            .filter(|(_, k)| k.name.as_str() == name)
            .map(|(t, _)| *t)
            .collect()
    }
}

/// `Duration` in milliseconds, for short assertions.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
