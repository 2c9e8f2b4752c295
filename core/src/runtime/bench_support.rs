//! One reconcile, outside any driver: for benchmarks and for tests that reconcile a
//! key by hand against a prepared store.
//!
//! [`reconcile_once`] does what a driver's reconcile step does — a [`Ctx`] over a
//! read-only view of the store at the store clock's time, then
//! [`Controller::reconcile`] — and returns what the reconcile decided without writing
//! anything, so the same prepared store can be reconciled again and again (the
//! controller's own state, e.g. ReplicaSet expectations, may still change: use a fresh
//! controller when that matters). [`apply_outcome`] then does the driver's finishing
//! step: apply the recorded writes and Events in order ([`Effects::apply`]) and call
//! [`Controller::applied`] with the results. Unlike the drivers, neither catches a
//! panic (a panic in a benchmark is a bug to see), logs, nor requeues: the
//! [`Requeue`] is returned for the caller to inspect.
//!
//! No thread or lock of its own: both run on the caller's thread; the store's protocol
//! applies to concurrent writers.

use super::{ApplyReport, Controller, Ctx, Effects, ObjectKey, ReconcileError, Requeue};
use super::{StoreView, WriteAction};
use crate::store::Store;

/// The RNG seed of [`reconcile_once`]'s [`Ctx`] (fixed: the same decisions every call).
pub const BENCH_SEED: u64 = 0;

/// What one reconcile decided: its result and the writes and Events it recorded (not
/// applied).
#[derive(Clone, Debug)]
pub struct ReconcileOutcome {
    /// The reconcile's return value.
    pub result: Result<Requeue, ReconcileError>,
    /// The recorded writes and Events.
    pub effects: Effects,
}

impl ReconcileOutcome {
    /// Objects the recorded writes touch ([`Effects::write_count`]).
    pub fn write_count(&self) -> usize {
        self.effects.write_count()
    }

    /// Recorded writes that are creates (each object of a slow-start batch counts).
    pub fn creates(&self) -> usize {
        self.count(|a| match a {
            WriteAction::Create(_) => 1,
            WriteAction::CreateSlowStart(objs) => objs.len(),
            _ => 0,
        })
    }

    /// Recorded writes that are updates or status updates.
    pub fn updates(&self) -> usize {
        self.count(|a| {
            usize::from(matches!(
                a,
                WriteAction::Update(_) | WriteAction::UpdateStatus(_)
            ))
        })
    }

    /// Recorded writes that are deletes.
    pub fn deletes(&self) -> usize {
        self.count(|a| usize::from(matches!(a, WriteAction::Delete { .. })))
    }

    fn count(&self, f: impl Fn(&WriteAction) -> usize) -> usize {
        self.effects.writes.iter().map(|w| f(&w.action)).sum()
    }
}

/// Reconciles `key` with `ctl` once against `store` at the store clock's time, with
/// an RNG seeded with [`BENCH_SEED`] and no prior retries; writes nothing to the
/// store. A panic in the reconcile propagates.
pub fn reconcile_once(ctl: &dyn Controller, store: &Store, key: &ObjectKey) -> ReconcileOutcome {
    let now = store.clock().now();
    let mut ctx = Ctx::new(StoreView::new(store), key, ctl.name(), now, BENCH_SEED);
    let result = ctl.reconcile(key, &mut ctx);
    ReconcileOutcome {
        result,
        effects: ctx.into_effects(),
    }
}

/// Applies an outcome of [`reconcile_once`] for `key` to `store` (writes in order,
/// then Events, with `ctl`'s name as their source) and calls [`Controller::applied`]
/// with the results, as the drivers do after a successful reconcile.
pub fn apply_outcome(
    ctl: &dyn Controller,
    store: &Store,
    key: &ObjectKey,
    outcome: ReconcileOutcome,
) -> ApplyReport {
    let report = outcome.effects.apply(store, ctl.name());
    ctl.applied(key, &report.results);
    report
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::model::{ConfigMap, Kind, Object, ObjectMeta};
    use crate::runtime::{virtual_store, WriteResult};

    /// Labels a ConfigMap `seen=true`; counts `applied` calls and their results.
    #[derive(Default)]
    struct Labeler {
        applied: AtomicUsize,
    }

    impl Controller for Labeler {
        fn name(&self) -> &'static str {
            "labeler"
        }
        fn primary(&self) -> Kind {
            Kind::ConfigMap
        }
        fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
            let Some(cm) = ctx.store().get_key(key) else {
                return Ok(Requeue::Done);
            };
            if cm.labels().get("seen").is_none() {
                let mut new = (*cm).clone();
                new.meta_mut().labels = cm.labels().with("seen", "true");
                ctx.update(new);
            }
            Ok(Requeue::After(std::time::Duration::from_secs(60)))
        }
        fn applied(&self, _key: &ObjectKey, results: &[WriteResult]) {
            self.applied.fetch_add(results.len(), Ordering::Relaxed);
        }
    }

    #[test]
    fn reconcile_once_writes_nothing_and_apply_outcome_applies() {
        let (store, _clock) = virtual_store(1);
        store
            .create(Object::from(ConfigMap {
                meta: ObjectMeta::named("default", "a"),
                data: vec![],
            }))
            .unwrap();
        let key = ObjectKey::new(Kind::ConfigMap, "default", "a");
        let ctl = Labeler::default();
        let rv = store.resource_version();
        let first = reconcile_once(&ctl, &store, &key);
        let again = reconcile_once(&ctl, &store, &key);
        assert_eq!(store.resource_version(), rv, "reconcile_once wrote");
        assert_eq!(
            (first.updates(), first.creates(), first.deletes()),
            (1, 0, 0)
        );
        assert_eq!(first.effects, again.effects, "same store, same decision");
        assert_eq!(
            first.result,
            Ok(Requeue::After(std::time::Duration::from_secs(60)))
        );
        let report = apply_outcome(&ctl, &store, &key, first);
        assert_eq!(report.failures, 0);
        assert_eq!(ctl.applied.load(Ordering::Relaxed), 1);
        let cm = store.get(Kind::ConfigMap, "default", "a").unwrap();
        assert!(cm.labels().get("seen").is_some());
        assert_eq!(reconcile_once(&ctl, &store, &key).write_count(), 0);
    }
}
