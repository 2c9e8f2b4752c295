//! The steps both drivers share: map an event (panics caught), run a reconcile
//! (panics caught), and finish it (apply, `applied`, requeue, `done`).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::ctx::{Ctx, Effects};
use super::metrics::{Counters, LogEntry, LogKind, RuntimeLog};
use super::{route_key, Controller, ObjectKey, ReconcileError, Requeue, StoreView};
use crate::dispatch::{Dispatcher, Routed};
use crate::model::Kind;
use crate::store::{Store, WatchEvent};
use crate::time::Timestamp;

/// One controller as a driver runs it.
pub(crate) struct ControllerRt {
    pub(crate) ctl: Arc<dyn Controller>,
    pub(crate) dispatcher: Arc<dyn Dispatcher<ObjectKey>>,
    pub(crate) counters: Counters,
    /// [`super::watched_kinds`].
    pub(crate) kinds: Vec<Kind>,
    /// Whether the dispatcher routes on affinities (see
    /// [`StoreView::without_routing`]).
    pub(crate) routing: bool,
}

impl ControllerRt {
    pub(crate) fn new(
        ctl: Arc<dyn Controller>,
        dispatcher: Arc<dyn Dispatcher<ObjectKey>>,
    ) -> Self {
        let kinds = super::watched_kinds(&*ctl);
        ControllerRt {
            ctl,
            dispatcher,
            counters: Counters::default(),
            kinds,
            routing: true,
        }
    }

    /// The view its `map_event` and requeues route with.
    pub(crate) fn view<'a>(&self, store: &'a Store) -> StoreView<'a> {
        if self.routing {
            StoreView::new(store)
        } else {
            StoreView::without_routing(store)
        }
    }
}

/// Why a reconcile did not succeed.
pub(crate) enum Failure {
    Error(ReconcileError),
    Panic(String),
}

/// A reconcile's result and recorded effects (empty after a panic).
pub(crate) struct Outcome {
    pub(crate) result: Result<Requeue, Failure>,
    pub(crate) effects: Effects,
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// Maps `ev` for one controller into `out` (cleared first). A panic is caught,
/// logged and counted, and maps to nothing.
pub(crate) fn map_event(
    rt: &ControllerRt,
    ev: &WatchEvent,
    store: &Store,
    log: &RuntimeLog,
    out: &mut Vec<Routed<ObjectKey>>,
) {
    out.clear();
    let r = catch_unwind(AssertUnwindSafe(|| {
        rt.ctl.map_event(ev, rt.view(store), out)
    }));
    if let Err(payload) = r {
        out.clear();
        Counters::bump(&rt.counters.map_panics, 1);
        log.push(LogEntry {
            time: store.clock().now(),
            controller: rt.ctl.name(),
            key: Some(ObjectKey::of(&ev.object)),
            kind: LogKind::MapPanic,
            message: panic_message(&*payload),
        });
        return;
    }
    Counters::bump(&rt.counters.keys_mapped, out.len() as u64);
}

/// Runs one reconcile, catching a panic. Reads `store`, writes nothing.
pub(crate) fn reconcile(
    ctl: &dyn Controller,
    key: &ObjectKey,
    store: &Store,
    now: Timestamp,
    seed: u64,
    requeues: u32,
) -> Outcome {
    let mut ctx = Ctx::new(StoreView::new(store), key, ctl.name(), now, seed);
    ctx.requeues = requeues;
    match catch_unwind(AssertUnwindSafe(|| ctl.reconcile(key, &mut ctx))) {
        Ok(Ok(requeue)) => Outcome {
            result: Ok(requeue),
            effects: ctx.into_effects(),
        },
        Ok(Err(e)) => Outcome {
            result: Err(Failure::Error(e)),
            effects: ctx.into_effects(),
        },
        Err(payload) => Outcome {
            result: Err(Failure::Panic(panic_message(&*payload))),
            effects: Effects::default(),
        },
    }
}

/// Finishes a reconcile of `key` by `worker`: applies its effects, calls `applied`,
/// requeues per the rule in the module docs, and releases the key (`done`). Returns
/// the number of objects written.
pub(crate) fn finish(
    rt: &ControllerRt,
    store: &Store,
    log: &RuntimeLog,
    worker: usize,
    key: &ObjectKey,
    outcome: Outcome,
    now: Timestamp,
) -> usize {
    let c = &rt.counters;
    let name = rt.ctl.name();
    Counters::bump(&c.reconciles, 1);
    let entry = |kind, message| LogEntry {
        time: now,
        controller: name,
        key: Some(key.clone()),
        kind,
        message,
    };
    let (mut requeue, panicked) = match outcome.result {
        Ok(q) => (q, false),
        Err(Failure::Error(e)) => {
            Counters::bump(&c.errors, 1);
            log.push(entry(LogKind::ReconcileError, e.to_string()));
            (Requeue::RateLimited, false)
        }
        Err(Failure::Panic(m)) => {
            Counters::bump(&c.panics, 1);
            log.push(entry(LogKind::ReconcilePanic, m));
            (Requeue::RateLimited, true)
        }
    };
    let mut written = 0;
    if !panicked {
        let report = outcome.effects.apply(store, name);
        written = report.results.len();
        Counters::bump(&c.writes, written as u64);
        Counters::bump(&c.write_failures, report.failures as u64);
        Counters::bump(&c.events_recorded, report.events_recorded as u64);
        Counters::bump(&c.event_errors, report.event_errors as u64);
        if let Some(first) = report.first_failure() {
            requeue = Requeue::RateLimited;
            let why = match first.error() {
                Some(e) => e.to_string(),
                None => "skipped".to_string(),
            };
            log.push(entry(
                LogKind::WriteFailed,
                format!(
                    "{} of {} writes failed; first: {:?} {}: {why}",
                    report.failures, written, first.verb, first.key
                ),
            ));
        }
        let r = catch_unwind(AssertUnwindSafe(|| rt.ctl.applied(key, &report.results)));
        if let Err(payload) = r {
            Counters::bump(&c.map_panics, 1);
            log.push(entry(LogKind::AppliedPanic, panic_message(&*payload)));
        }
    }
    let d = &rt.dispatcher;
    match requeue {
        Requeue::Done => {
            d.forget_done(worker, key);
            return written;
        }
        Requeue::After(delay) => {
            d.forget(key);
            d.add_after(route_key(rt.view(store), key.clone()), delay);
        }
        Requeue::RateLimited => {
            d.add_rate_limited(route_key(rt.view(store), key.clone()));
        }
    }
    d.done(worker, key);
    written
}
