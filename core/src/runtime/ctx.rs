//! [`Ctx`]: what a reconcile sees (a read-only store view, the time, an RNG) and
//! where it records the writes and Events it wants.

use std::fmt;

use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::{ObjectKey, StoreView};
use crate::dispatch::stable_hash;
use crate::intern::{intern, Str};
use crate::model::{EventType, Kind, Object, ObjectRef};
use crate::store::{Binding, DeleteOptions};
use crate::time::Timestamp;

/// A Kubernetes Event to record (the applier writes it as an Event object; see
/// [`Effects::apply`]).
#[derive(Clone, Debug, PartialEq)]
pub struct EventSpec {
    /// The object the Event is about.
    pub involved: ObjectRef,
    /// Normal or Warning.
    pub type_: EventType,
    /// One-word reason (`SuccessfulCreate`).
    pub reason: Str,
    /// Message (`Created pod: web-x7k2p`). In an event attached to a write
    /// ([`WriteOp::on_success`], [`WriteOp::on_failure`]), `{name}` is replaced by the
    /// written object's name (the generated one, for `generateName` creates).
    pub message: String,
}

impl EventSpec {
    /// An Event about `involved`.
    pub fn new(
        involved: &Object,
        type_: EventType,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        let m = involved.meta();
        EventSpec {
            involved: ObjectRef {
                kind: involved.kind(),
                namespace: m.namespace.clone(),
                name: m.name.clone(),
                uid: (m.uid.0 != 0).then_some(m.uid),
            },
            type_,
            reason: intern(reason),
            message: message.into(),
        }
    }
}

/// One recorded write.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteAction {
    /// [`Store::create`](crate::store::Store::create).
    Create(Object),
    /// [`Store::update`](crate::store::Store::update) (the object's resourceVersion is
    /// the precondition: 0 = unconditional).
    Update(Object),
    /// [`Store::update_status`](crate::store::Store::update_status).
    UpdateStatus(Object),
    /// [`Store::delete`](crate::store::Store::delete).
    Delete {
        /// What to delete.
        key: ObjectKey,
        /// Propagation, grace period, uid precondition.
        options: DeleteOptions,
    },
    /// Creates in client-go's `slowStartBatch`: batches of 1, 2, 4, … objects; every
    /// create of a batch is attempted, and after a batch with a failure the rest are
    /// skipped (reported as [`WriteOutcome::Skipped`](super::WriteOutcome::Skipped)).
    CreateSlowStart(Vec<Object>),
    /// [`Store::bind`](crate::store::Store::bind): a pod's node assignment and its
    /// `PodScheduled=True` condition in one write (the `pods/binding` subresource).
    Bind(Binding),
}

/// A recorded write and the Events to record depending on its result.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteOp {
    /// The write.
    pub action: WriteAction,
    /// Recorded for each object written successfully (`{name}` = its name).
    pub on_success: Option<EventSpec>,
    /// Recorded for each object whose write failed, with `: <error>` appended to the
    /// message (upstream's `Error creating: <err>`). Not for skipped objects.
    pub on_failure: Option<EventSpec>,
}

impl WriteOp {
    fn new(action: WriteAction) -> Self {
        WriteOp {
            action,
            on_success: None,
            on_failure: None,
        }
    }

    /// Records an Event for each object this write succeeds on (`{name}` in the
    /// message = the written object's name).
    pub fn on_success(
        &mut self,
        involved: &Object,
        type_: EventType,
        reason: &str,
        message: impl Into<String>,
    ) -> &mut Self {
        self.on_success = Some(EventSpec::new(involved, type_, reason, message));
        self
    }

    /// Records an Event for each object this write fails on, the error appended to
    /// the message (`"Error creating"` → `Error creating: pods "x" already exists`).
    pub fn on_failure(
        &mut self,
        involved: &Object,
        type_: EventType,
        reason: &str,
        message: impl Into<String>,
    ) -> &mut Self {
        self.on_failure = Some(EventSpec::new(involved, type_, reason, message));
        self
    }
}

/// Everything a reconcile recorded: writes (applied in order) and Events (recorded
/// after the writes).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effects {
    /// Writes, in the order recorded.
    pub writes: Vec<WriteOp>,
    /// Events not tied to a write.
    pub events: Vec<EventSpec>,
}

impl Effects {
    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.events.is_empty()
    }

    /// Objects the writes touch (a slow-start batch counts each object).
    pub fn write_count(&self) -> usize {
        self.writes
            .iter()
            .map(|w| match &w.action {
                WriteAction::CreateSlowStart(objs) => objs.len(),
                _ => 1,
            })
            .sum()
    }
}

/// The seed of a reconcile's RNG: a stable hash of (run seed, controller, key, n),
/// `n` being the round (virtual time) or the controller's reconcile sequence number
/// (real time).
pub(crate) fn rng_seed(run_seed: u64, controller: &str, key: &ObjectKey, n: u64) -> u64 {
    stable_hash(&(run_seed, controller, key, n))
}

/// A reconcile's context: a read-only view of the store, the time, a deterministic
/// RNG, and the writes and Events the reconcile records.
///
/// Controllers get one from the runtime; [`Ctx::new`] builds one for unit tests of a
/// reconcile function (apply the result with [`Effects::apply`]).
pub struct Ctx<'a> {
    store: StoreView<'a>,
    key: &'a ObjectKey,
    controller: &'static str,
    now: Timestamp,
    seed: u64,
    rng: Option<SmallRng>,
    pub(crate) requeues: u32,
    effects: Effects,
}

impl fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("controller", &self.controller)
            .field("key", &self.key)
            .field("now", &self.now)
            .field("requeues", &self.requeues)
            .field("effects", &self.effects)
            .finish()
    }
}

impl<'a> Ctx<'a> {
    /// A context for reconciling `key` as `controller` at `now`, whose RNG is seeded
    /// with `seed`.
    pub fn new(
        store: StoreView<'a>,
        key: &'a ObjectKey,
        controller: &'static str,
        now: Timestamp,
        seed: u64,
    ) -> Self {
        Ctx {
            store,
            key,
            controller,
            now,
            seed,
            rng: None,
            requeues: 0,
            effects: Effects::default(),
        }
    }

    /// The store, read-only.
    pub fn store(&self) -> StoreView<'a> {
        self.store
    }

    /// The key being reconciled.
    pub fn key(&self) -> &'a ObjectKey {
        self.key
    }

    /// The controller's name.
    pub fn controller(&self) -> &'static str {
        self.controller
    }

    /// The time (virtual time: fixed for the whole round).
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Rate-limited retries of this key since its backoff was last reset (0 on a first
    /// attempt).
    pub fn requeues(&self) -> u32 {
        self.requeues
    }

    /// A random number generator seeded from (run seed, controller, key, round): the
    /// same draws in every run with the same seed.
    pub fn rng(&mut self) -> &mut SmallRng {
        let seed = self.seed;
        self.rng
            .get_or_insert_with(|| SmallRng::seed_from_u64(seed))
    }

    fn push(&mut self, action: WriteAction) -> &mut WriteOp {
        self.effects.writes.push(WriteOp::new(action));
        self.effects
            .writes
            .last_mut()
            .expect("a write was just pushed")
    }

    /// Records a create.
    pub fn create(&mut self, obj: Object) -> &mut WriteOp {
        self.push(WriteAction::Create(obj))
    }

    /// Records an update (spec and metadata; the object's resourceVersion is the
    /// precondition).
    pub fn update(&mut self, obj: Object) -> &mut WriteOp {
        self.push(WriteAction::Update(obj))
    }

    /// Records a status update.
    pub fn update_status(&mut self, obj: Object) -> &mut WriteOp {
        self.push(WriteAction::UpdateStatus(obj))
    }

    /// Records a delete.
    pub fn delete(
        &mut self,
        kind: Kind,
        namespace: &str,
        name: &str,
        options: DeleteOptions,
    ) -> &mut WriteOp {
        self.push(WriteAction::Delete {
            key: ObjectKey::new(kind, namespace, name),
            options,
        })
    }

    /// Records a delete of `key`.
    pub fn delete_key(&mut self, key: ObjectKey, options: DeleteOptions) -> &mut WriteOp {
        self.push(WriteAction::Delete { key, options })
    }

    /// Records creates in slow-start batches (1, 2, 4, …; stops after the first
    /// batch with a failure). An empty list writes nothing.
    pub fn create_slow_start(&mut self, objs: Vec<Object>) -> &mut WriteOp {
        self.push(WriteAction::CreateSlowStart(objs))
    }

    /// Records a pod binding (see [`WriteAction::Bind`]).
    pub fn bind(&mut self, binding: Binding) -> &mut WriteOp {
        self.push(WriteAction::Bind(binding))
    }

    /// Records a Kubernetes Event about `involved` (written after the writes; repeats
    /// of an identical Event increase its `count`).
    pub fn event(
        &mut self,
        involved: &Object,
        type_: EventType,
        reason: &str,
        message: impl Into<String>,
    ) {
        self.effects
            .events
            .push(EventSpec::new(involved, type_, reason, message));
    }

    /// What has been recorded so far.
    pub fn effects(&self) -> &Effects {
        &self.effects
    }

    /// The recorded writes and Events.
    pub fn into_effects(self) -> Effects {
        self.effects
    }
}
