//! The applier: a reconcile's recorded writes and Events, applied to the store in
//! order, with one [`WriteResult`] per object. Never panics on store errors.

use std::sync::Arc;

use super::ctx::{Effects, EventSpec, WriteAction, WriteOp};
use super::ObjectKey;
use crate::dispatch::stable_hash;
use crate::intern::{intern, Str};
use crate::model::{Event, Kind, Object, ObjectMeta};
use crate::store::{self, Deleted, Store};
use crate::time::Timestamp;

/// The API verb of a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// create (also each object of a slow-start batch).
    Create,
    /// update.
    Update,
    /// update status.
    UpdateStatus,
    /// delete.
    Delete,
    /// bind (create on the `pods/binding` subresource).
    Bind,
}

/// What happened to one write.
#[derive(Clone, Debug)]
pub enum WriteOutcome {
    /// Created or updated: the stored object.
    Written(Arc<Object>),
    /// Deleted (gone, or pending on finalizers / a grace period).
    Deleted(Deleted),
    /// The store refused it.
    Failed(store::Error),
    /// Not attempted: an earlier batch of its slow-start create failed.
    Skipped,
}

/// The result of one write of a reconcile.
#[derive(Clone, Debug)]
pub struct WriteResult {
    /// The verb.
    pub verb: Verb,
    /// The object written: for a successful create, the created object's key (with
    /// its generated name); otherwise the key as requested (a `generateName` create
    /// that failed has an empty name).
    pub key: ObjectKey,
    /// What happened.
    pub outcome: WriteOutcome,
}

impl WriteResult {
    /// Whether the write took effect.
    pub fn is_ok(&self) -> bool {
        matches!(
            self.outcome,
            WriteOutcome::Written(_) | WriteOutcome::Deleted(_)
        )
    }

    /// Whether the write counts as failed for the requeue rule: a store error other
    /// than `NotFound` on a delete (the object is already gone, which is what the
    /// delete wanted), or a skipped slow-start create.
    pub fn is_failure(&self) -> bool {
        match &self.outcome {
            WriteOutcome::Written(_) | WriteOutcome::Deleted(_) => false,
            WriteOutcome::Failed(e) => !(self.verb == Verb::Delete && e.is_not_found()),
            WriteOutcome::Skipped => true,
        }
    }

    /// The object written (for a delete: its last or pending state).
    pub fn object(&self) -> Option<&Arc<Object>> {
        match &self.outcome {
            WriteOutcome::Written(o) => Some(o),
            WriteOutcome::Deleted(d) => Some(d.object()),
            _ => None,
        }
    }

    /// The store error, if the write failed.
    pub fn error(&self) -> Option<&store::Error> {
        match &self.outcome {
            WriteOutcome::Failed(e) => Some(e),
            _ => None,
        }
    }
}

/// What [`Effects::apply`] did.
#[derive(Clone, Debug, Default)]
pub struct ApplyReport {
    /// One result per object written, in the order recorded.
    pub results: Vec<WriteResult>,
    /// Results that count as failures ([`WriteResult::is_failure`]).
    pub failures: usize,
    /// Events written (created, or counted into an identical existing Event).
    pub events_recorded: usize,
    /// Events the store refused (e.g. their namespace is being deleted); they do not
    /// count as write failures.
    pub event_errors: usize,
}

impl ApplyReport {
    /// The first result that counts as a failure.
    pub fn first_failure(&self) -> Option<&WriteResult> {
        self.results.iter().find(|r| r.is_failure())
    }
}

/// Attempts of an Event write that races with another writer of the same Event.
const EVENT_ATTEMPTS: usize = 3;

/// Longest involved-object name kept in an Event's name (`<name>.<16 hex>` must stay a
/// 253-character DNS subdomain).
const EVENT_NAME_PREFIX_MAX: usize = 253 - 17;

impl Effects {
    /// Applies the writes to `store` in order, then the Events (`source` is the
    /// reporting component, e.g. the controller's name). Store errors become
    /// [`WriteOutcome::Failed`] results; nothing here panics on them.
    ///
    /// Events: an Event is named `<involved name>.<16 hex digits>`, the digits a
    /// stable hash of (source, involved object, type, reason, message). Recording an
    /// Event whose twin exists increments the existing one's `count` and
    /// `lastTimestamp` (client-go's event correlator deduplicates identical Events the
    /// same way; its aggregation of *similar* Events is not modelled). Events of
    /// cluster-scoped objects go to `default`, as upstream.
    pub fn apply(self, store: &Store, source: &str) -> ApplyReport {
        let mut report = ApplyReport::default();
        let mut events: Vec<(EventSpec, String)> = Vec::new();
        let mut writes = self.writes.into_iter().peekable();
        while let Some(WriteOp {
            action,
            on_success,
            on_failure,
        }) = writes.next()
        {
            let first = report.results.len();
            match action {
                WriteAction::Create(obj) => {
                    // Creates in a row of one kind go to the store as one batch
                    // (`Store::create_many`: same results as one by one, cheaper).
                    let kind = obj.kind();
                    let mut objs = vec![obj];
                    let mut specs = vec![(on_success, on_failure)];
                    while let Some(WriteOp {
                        action: WriteAction::Create(next),
                        on_success,
                        on_failure,
                    }) = writes.next_if(
                        |op| matches!(&op.action, WriteAction::Create(o) if o.kind() == kind),
                    ) {
                        objs.push(next);
                        specs.push((on_success, on_failure));
                    }
                    let results = create_many(store, objs);
                    for (r, (ok, failed)) in results.into_iter().zip(specs) {
                        push_events(&r, ok.as_ref(), failed.as_ref(), &mut events);
                        report.results.push(r);
                    }
                    continue;
                }
                WriteAction::Update(obj) => {
                    let key = ObjectKey::of(&obj);
                    let outcome = match store.update(obj) {
                        Ok(o) => WriteOutcome::Written(o),
                        Err(e) => WriteOutcome::Failed(e),
                    };
                    report.results.push(WriteResult {
                        verb: Verb::Update,
                        key,
                        outcome,
                    });
                }
                WriteAction::UpdateStatus(obj) => {
                    let key = ObjectKey::of(&obj);
                    let outcome = match store.update_status(obj) {
                        Ok(o) => WriteOutcome::Written(o),
                        Err(e) => WriteOutcome::Failed(e),
                    };
                    report.results.push(WriteResult {
                        verb: Verb::UpdateStatus,
                        key,
                        outcome,
                    });
                }
                WriteAction::Delete { key, options } => {
                    let outcome = match store.delete(key.kind, &key.namespace, &key.name, &options)
                    {
                        Ok(d) => WriteOutcome::Deleted(d),
                        Err(e) => WriteOutcome::Failed(e),
                    };
                    report.results.push(WriteResult {
                        verb: Verb::Delete,
                        key,
                        outcome,
                    });
                }
                WriteAction::CreateSlowStart(objs) => {
                    slow_start(store, objs, &mut report.results);
                }
                WriteAction::Bind(binding) => {
                    let key = ObjectKey::new(Kind::Pod, &binding.namespace, &binding.name);
                    let outcome = match store.bind(&binding) {
                        Ok(o) => WriteOutcome::Written(o),
                        Err(e) => WriteOutcome::Failed(e),
                    };
                    report.results.push(WriteResult {
                        verb: Verb::Bind,
                        key,
                        outcome,
                    });
                }
            }
            for r in &report.results[first..] {
                push_events(r, on_success.as_ref(), on_failure.as_ref(), &mut events);
            }
        }
        report.failures = report.results.iter().filter(|r| r.is_failure()).count();
        events.extend(self.events.into_iter().map(|mut spec| {
            let message = std::mem::take(&mut spec.message);
            (spec, message)
        }));
        if !events.is_empty() {
            let now = store.clock().now();
            // Interned once per reconcile, not once per Event.
            let source = intern(source);
            for (spec, message) in events {
                if record_event(store, &source, &spec, message, now).is_ok() {
                    report.events_recorded += 1;
                } else {
                    report.event_errors += 1;
                }
            }
        }
        report
    }
}

/// The Event a write's outcome asks for (`on_success` / `on_failure` of its op).
fn push_events(
    r: &WriteResult,
    on_success: Option<&EventSpec>,
    on_failure: Option<&EventSpec>,
    events: &mut Vec<(EventSpec, String)>,
) {
    match &r.outcome {
        WriteOutcome::Written(_) | WriteOutcome::Deleted(_) => {
            if let Some(spec) = on_success {
                let name = r.object().map_or(&r.key.name, |o| o.name());
                events.push((header(spec), spec.message.replace("{name}", name)));
            }
        }
        WriteOutcome::Failed(e) => {
            if let Some(spec) = on_failure {
                let msg = spec.message.replace("{name}", &r.key.name);
                events.push((header(spec), format!("{msg}: {e}")));
            }
        }
        WriteOutcome::Skipped => {}
    }
}

/// Creates `objs` as one store batch; one result each, in order.
fn create_many(store: &Store, objs: Vec<Object>) -> Vec<WriteResult> {
    let keys: Vec<ObjectKey> = objs.iter().map(ObjectKey::of).collect();
    store
        .create_many(objs)
        .into_iter()
        .zip(keys)
        .map(|(r, key)| match r {
            Ok(o) => WriteResult {
                verb: Verb::Create,
                key: ObjectKey::of(&o),
                outcome: WriteOutcome::Written(o),
            },
            Err(e) => WriteResult {
                verb: Verb::Create,
                key,
                outcome: WriteOutcome::Failed(e),
            },
        })
        .collect()
}

/// client-go's `slowStartBatch(count, 1, fn)`: batches of 1, 2, 4, …; every create
/// of a batch is attempted; stop after a batch with a failure.
fn slow_start(store: &Store, objs: Vec<Object>, out: &mut Vec<WriteResult>) {
    let mut rest = objs.into_iter();
    let mut remaining = rest.len();
    let mut batch = remaining.min(1);
    let mut failed = false;
    while batch > 0 && !failed {
        for r in create_many(store, rest.by_ref().take(batch).collect()) {
            failed |= !r.is_ok();
            out.push(r);
        }
        remaining -= batch;
        batch = (2 * batch).min(remaining);
    }
    for obj in rest {
        out.push(WriteResult {
            verb: Verb::Create,
            key: ObjectKey::of(&obj),
            outcome: WriteOutcome::Skipped,
        });
    }
}

/// The deterministic name of an Event (see [`Effects::apply`]).
fn event_name(source: &str, spec: &EventSpec, message: &str) -> String {
    let h = stable_hash(&(source, &spec.involved, spec.type_, &spec.reason, message));
    let mut prefix = spec.involved.name.as_str();
    if prefix.len() > EVENT_NAME_PREFIX_MAX {
        // Names are ASCII (DNS-1123), so any byte index is a char boundary; stay safe
        // anyway.
        let mut end = EVENT_NAME_PREFIX_MAX;
        while !prefix.is_char_boundary(end) {
            end -= 1;
        }
        prefix = &prefix[..end];
    }
    format!("{prefix}.{h:016x}")
}

/// `spec` without its message (the caller supplies the final one), without copying
/// the message.
fn header(spec: &EventSpec) -> EventSpec {
    EventSpec {
        involved: spec.involved.clone(),
        type_: spec.type_,
        reason: spec.reason.clone(),
        message: String::new(),
    }
}

/// Writes one Event: creates it, or counts it into its identical twin. `spec`'s own
/// message is ignored: `message` is the Event's.
fn record_event(
    store: &Store,
    source: &Str,
    spec: &EventSpec,
    message: String,
    now: Timestamp,
) -> store::Result<()> {
    // The involved object's namespace is already a shared string: no interning.
    let namespace = if spec.involved.namespace.is_empty() {
        intern("default")
    } else {
        spec.involved.namespace.clone()
    };
    let name = event_name(source, spec, &message);
    let mut last = None;
    for _ in 0..EVENT_ATTEMPTS {
        let result = match store.try_get(Kind::Event, &namespace, &name) {
            Some(existing) => {
                let mut obj = (*existing).clone();
                let Some(ev) = obj.as_event_mut() else {
                    return Ok(());
                };
                ev.count = ev.count.saturating_add(1);
                ev.last_timestamp = now;
                store.update(obj).map(drop)
            }
            None => store
                .create(Object::from(Event {
                    meta: ObjectMeta {
                        name: Str::new(&name),
                        namespace: namespace.clone(),
                        ..ObjectMeta::default()
                    },
                    involved_object: spec.involved.clone(),
                    reason: spec.reason.clone(),
                    message: Str::from(message.as_str()),
                    type_: spec.type_,
                    count: 1,
                    first_timestamp: now,
                    last_timestamp: now,
                    source: source.clone(),
                }))
                .map(drop),
        };
        match result {
            Ok(()) => return Ok(()),
            // Raced with another writer of the same Event: read it again.
            Err(e)
                if e.is_conflict()
                    || e.is_already_exists()
                    || matches!(e, store::Error::NotFound { .. }) =>
            {
                last = Some(e)
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("a failed attempt recorded its error"))
}
