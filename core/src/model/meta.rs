use std::fmt;

use serde::{Serialize, Serializer};

use super::Kind;
use crate::intern::{SharedList, Str, StrMap};
use crate::time::Timestamp;

/// An object's uid: unique per create (a re-created object gets a new one).
///
/// Kept as a `u64` and rendered in UUID form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uid(pub u64);

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "{:08x}-{:04x}-4{:03x}-8000-{:012x}",
            (v >> 32) as u32,
            (v >> 16) as u16,
            (v & 0xfff) as u16,
            v & 0xffff_ffff_ffff
        )
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uid({})", self.0)
    }
}

impl Serialize for Uid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The deletion propagation policy of a delete call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
pub enum PropagationPolicy {
    /// The owner goes at once; the garbage collector deletes its dependents afterwards.
    #[default]
    Background,
    /// Dependents with `blockOwnerDeletion` go first, then the owner.
    Foreground,
    /// Dependents are released (their ownerReferences removed), then the owner goes.
    Orphan,
}

/// Finalizer the API adds for a foreground delete.
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";
/// Finalizer the API adds for an orphaning delete.
pub const FINALIZER_ORPHAN: &str = "orphan";

/// A reference from a dependent to its owner.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnerReference {
    /// The owner's kind.
    pub kind: Kind,
    /// The owner's name (same namespace as the dependent).
    pub name: Str,
    /// The owner's uid.
    pub uid: Uid,
    /// Whether this owner is the managing controller (at most one per object).
    pub controller: bool,
    /// Whether a foreground delete of the owner waits for this dependent.
    pub block_owner_deletion: bool,
}

/// Metadata every object has.
///
/// Kept small (120 bytes) because every object carries it: lists are one-word shared
/// pointers ([`SharedList`], [`StrMap`]) that objects made from one template share, and
/// the deletion fields, set only on objects being deleted, live in one boxed
/// [`Deletion`].
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ObjectMeta {
    /// Name, unique per kind and namespace.
    pub name: Str,
    /// Namespace; empty for cluster-scoped kinds.
    pub namespace: Str,
    /// Prefix for a server-generated name (`metadata.generateName`), if the name was
    /// generated.
    pub generate_name: Option<Str>,
    /// Set by the store on create.
    pub uid: Uid,
    /// Labels.
    pub labels: StrMap,
    /// Annotations.
    pub annotations: StrMap,
    /// Owners; at most one with `controller: true`.
    pub owner_references: SharedList<OwnerReference>,
    /// Set by the store on every write; the store's global version at that write.
    pub resource_version: u64,
    /// Bumped by the store when the spec changes; 1 on create.
    pub generation: i64,
    /// Set by the store on create.
    pub creation_timestamp: Timestamp,
    /// Set when a delete has been requested and finalizers (or graceful termination)
    /// hold the object; see [`ObjectMeta::deletion_timestamp`].
    pub deletion: Option<Box<Deletion>>,
    /// Finalizers that must be removed before the object goes.
    pub finalizers: SharedList<Str>,
}

/// The deletion request of an object that is held by finalizers or graceful
/// termination (`metadata.deletionTimestamp` and `deletionGracePeriodSeconds`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Deletion {
    /// `deletionTimestamp`: when the object goes (for pods: request time + grace).
    pub timestamp: Timestamp,
    /// `deletionGracePeriodSeconds`, if a graceful period applies.
    pub grace_period_seconds: Option<i64>,
}

impl ObjectMeta {
    /// Metadata with a name and namespace (empty namespace for cluster-scoped kinds).
    pub fn named(namespace: &str, name: &str) -> Self {
        ObjectMeta {
            name: Str::new(name),
            namespace: crate::intern::intern(namespace),
            ..Default::default()
        }
    }

    /// The owner reference with `controller: true`, if any.
    pub fn controller_ref(&self) -> Option<&OwnerReference> {
        self.owner_references.iter().find(|r| r.controller)
    }

    /// Whether a delete has been requested.
    pub fn is_being_deleted(&self) -> bool {
        self.deletion.is_some()
    }

    /// `metadata.deletionTimestamp`.
    pub fn deletion_timestamp(&self) -> Option<Timestamp> {
        self.deletion.as_ref().map(|d| d.timestamp)
    }

    /// `metadata.deletionGracePeriodSeconds`.
    pub fn deletion_grace_period_seconds(&self) -> Option<i64> {
        self.deletion.as_ref().and_then(|d| d.grace_period_seconds)
    }

    /// Records a deletion request.
    pub fn set_deletion(&mut self, timestamp: Timestamp, grace_period_seconds: Option<i64>) {
        self.deletion = Some(Box::new(Deletion {
            timestamp,
            grace_period_seconds,
        }));
    }

    /// Whether the finalizer is present.
    pub fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x.as_str() == f)
    }
}

/// A reference to an object (Kubernetes `ObjectReference`): kind, namespace, name, uid.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// Kind.
    pub kind: Kind,
    /// Namespace (empty for cluster-scoped kinds).
    pub namespace: Str,
    /// Name.
    pub name: Str,
    /// Uid, when known.
    pub uid: Option<Uid>,
}

/// The identity of an object: kind, namespace and name — a controller's work-queue key
/// (see [`crate::runtime`]).
///
/// Ordered by (kind, namespace, name) — kinds in [`Kind::ALL`] order, strings by their
/// text — and hashed by the same fields, so sorting and [`stable_hash`]ing keys give
/// the same result in every run. Displays as `Kind/namespace/name` (`Kind/name` for
/// cluster-scoped kinds).
///
/// [`stable_hash`]: crate::dispatch::stable_hash
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// Kind.
    pub kind: Kind,
    /// Namespace (empty for cluster-scoped kinds).
    pub namespace: Str,
    /// Name.
    pub name: Str,
}

impl ObjectKey {
    /// The key of `kind`/`namespace`/`name` (the namespace is dropped for
    /// cluster-scoped kinds, as the store does).
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        let namespace = if kind.namespaced() {
            crate::intern::intern(namespace)
        } else {
            Str::default()
        };
        ObjectKey {
            kind,
            namespace,
            name: Str::new(name),
        }
    }

    /// The key of an object.
    pub fn of(obj: &super::Object) -> Self {
        let m = obj.meta();
        let kind = obj.kind();
        ObjectKey {
            kind,
            namespace: if kind.namespaced() {
                m.namespace.clone()
            } else {
                Str::default()
            },
            name: m.name.clone(),
        }
    }

    /// The key of the owner `r` names, for an object in `namespace` (owners are in
    /// the dependent's namespace, or cluster-scoped).
    pub fn of_owner(r: &OwnerReference, namespace: &str) -> Self {
        ObjectKey::new(r.kind, namespace, &r.name)
    }

    /// The key of the object's controller (its ownerReference with `controller:
    /// true`), if it has one.
    pub fn controller_of(obj: &super::Object) -> Option<Self> {
        // As `of_owner(r, obj.namespace())`, sharing the strings instead of copying
        // them (this runs for every watch event a controller maps to its owner).
        let r = obj.meta().controller_ref()?;
        Some(ObjectKey {
            kind: r.kind,
            namespace: if r.kind.namespaced() {
                obj.namespace().clone()
            } else {
                Str::default()
            },
            name: r.name.clone(),
        })
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// `True`, `False` or `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// It does not.
    False,
    /// Nobody knows (e.g. a node that stopped reporting).
    #[default]
    Unknown,
}

impl ConditionStatus {
    /// `"True"`, `"False"` or `"Unknown"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }

    /// From a bool.
    pub fn from_bool(b: bool) -> Self {
        if b {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

impl Serialize for ConditionStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A status condition (Deployment `Available`, Job `Complete`, Node `Ready`, …).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Condition {
    /// The condition type (`"Available"`).
    pub type_: Str,
    /// Its status.
    pub status: ConditionStatus,
    /// One-word reason (`"ProgressDeadlineExceeded"`).
    pub reason: Option<Str>,
    /// Human-readable detail.
    pub message: Option<Str>,
    /// When the status last changed.
    pub last_transition_time: Timestamp,
    /// When it was last reported (`lastHeartbeatTime` on nodes, `lastUpdateTime` on
    /// Deployments), if the kind tracks that.
    pub last_update_time: Option<Timestamp>,
}

impl Condition {
    /// A condition with no reason or message.
    pub fn new(type_: &str, status: ConditionStatus, now: Timestamp) -> Self {
        Condition {
            type_: crate::intern::intern(type_),
            status,
            reason: None,
            message: None,
            last_transition_time: now,
            last_update_time: None,
        }
    }
}

/// Finds a condition by type.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_.as_str() == type_)
}

/// Sets a condition, keeping `last_transition_time` when the status did not change.
/// Returns whether anything changed.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time;
            }
            if *old == new {
                return false;
            }
            *old = new;
            true
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

/// An integer or a string (Kubernetes `IntOrString`): `maxSurge: 25%`, `targetPort: http`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IntOrString {
    /// A number.
    Int(i32),
    /// A string (a percentage like `"25%"`, or a port name).
    String(Str),
}

impl IntOrString {
    /// Resolves a count or percentage against `total`, rounding percentages up or down
    /// as upstream's `GetScaledValueFromIntOrPercent` does.
    pub fn scaled_value(&self, total: i32, round_up: bool) -> Result<i32, String> {
        match self {
            IntOrString::Int(i) => Ok(*i),
            IntOrString::String(s) => {
                let pct = s
                    .strip_suffix('%')
                    .and_then(|p| p.parse::<i64>().ok())
                    .ok_or_else(|| {
                        format!("invalid value {s:?}: must be an integer or a percentage")
                    })?;
                let v = pct * total as i64;
                let r = if round_up {
                    (v + 99).div_euclid(100)
                } else {
                    v.div_euclid(100)
                };
                Ok(r as i32)
            }
        }
    }
}

impl Serialize for IntOrString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrString::Int(i) => s.serialize_i32(*i),
            IntOrString::String(v) => s.serialize_str(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_rounding_matches_upstream() {
        let p = IntOrString::String(Str::new("25%"));
        assert_eq!(p.scaled_value(10, true), Ok(3)); // surge rounds up
        assert_eq!(p.scaled_value(10, false), Ok(2)); // unavailable rounds down
        assert_eq!(IntOrString::Int(2).scaled_value(10, true), Ok(2));
        assert!(IntOrString::String(Str::new("x"))
            .scaled_value(10, true)
            .is_err());
    }

    #[test]
    fn uid_renders_as_uuid() {
        let s = Uid(0x1234_5678_9abc_def0).to_string();
        assert_eq!(s.len(), 36);
        assert_eq!(s.matches('-').count(), 4);
    }

    #[test]
    fn set_condition_keeps_transition_time() {
        let mut cs = vec![];
        assert!(set_condition(
            &mut cs,
            Condition::new("Ready", ConditionStatus::True, Timestamp(1))
        ));
        assert!(!set_condition(
            &mut cs,
            Condition::new("Ready", ConditionStatus::True, Timestamp(2))
        ));
        assert_eq!(cs[0].last_transition_time, Timestamp(1));
        assert!(set_condition(
            &mut cs,
            Condition::new("Ready", ConditionStatus::False, Timestamp(3))
        ));
        assert_eq!(cs[0].last_transition_time, Timestamp(3));
    }
}
