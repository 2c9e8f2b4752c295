use super::{ObjectMeta, ObjectRef};
use crate::intern::Str;
use crate::selector::LabelSelector;

/// Volume access mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessMode {
    /// Read-write by one node.
    ReadWriteOnce,
    /// Read-only by many nodes.
    ReadOnlyMany,
    /// Read-write by many nodes.
    ReadWriteMany,
    /// Read-write by one pod.
    ReadWriteOncePod,
}

impl AccessMode {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessMode::ReadWriteOnce => "ReadWriteOnce",
            AccessMode::ReadOnlyMany => "ReadOnlyMany",
            AccessMode::ReadWriteMany => "ReadWriteMany",
            AccessMode::ReadWriteOncePod => "ReadWriteOncePod",
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ReadWriteOnce" => Some(AccessMode::ReadWriteOnce),
            "ReadOnlyMany" => Some(AccessMode::ReadOnlyMany),
            "ReadWriteMany" => Some(AccessMode::ReadWriteMany),
            "ReadWriteOncePod" => Some(AccessMode::ReadWriteOncePod),
            _ => None,
        }
    }
}

/// What happens to a volume when its claim is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ReclaimPolicy {
    /// Keep it (Released, not reusable without an admin).
    #[default]
    Retain,
    /// Delete it.
    Delete,
    /// Scrub it and make it Available again (deprecated upstream, still modelled).
    Recycle,
}

impl ReclaimPolicy {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ReclaimPolicy::Retain => "Retain",
            ReclaimPolicy::Delete => "Delete",
            ReclaimPolicy::Recycle => "Recycle",
        }
    }
}

/// PersistentVolume phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PvPhase {
    /// Being provisioned.
    Pending,
    /// Free to bind.
    #[default]
    Available,
    /// Bound to a claim.
    Bound,
    /// Its claim was deleted (Retain).
    Released,
    /// Reclamation failed.
    Failed,
}

impl PvPhase {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PvPhase::Pending => "Pending",
            PvPhase::Available => "Available",
            PvPhase::Bound => "Bound",
            PvPhase::Released => "Released",
            PvPhase::Failed => "Failed",
        }
    }
}

/// A PersistentVolume.
#[derive(Clone, Debug, PartialEq)]
pub struct PersistentVolume {
    /// Metadata.
    pub meta: ObjectMeta,
    /// Spec.
    pub spec: PvSpec,
    /// Status.
    pub status: PvStatus,
}

/// PersistentVolume spec.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PvSpec {
    /// `capacity.storage` in bytes.
    pub capacity_bytes: i64,
    /// Access modes.
    pub access_modes: Vec<AccessMode>,
    /// Storage class (`None`/empty = no class).
    pub storage_class_name: Option<Str>,
    /// Reclaim policy (Retain for hand-made volumes; the class's for provisioned ones).
    pub reclaim_policy: ReclaimPolicy,
    /// The claim it is bound to.
    pub claim_ref: Option<ObjectRef>,
    /// `hostPath.path`, if any (for display).
    pub host_path: Option<Str>,
}

/// PersistentVolume status.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PvStatus {
    /// Phase.
    pub phase: PvPhase,
}

/// PVC phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PvcPhase {
    /// Not bound yet.
    #[default]
    Pending,
    /// Bound.
    Bound,
    /// Its volume is gone.
    Lost,
}

impl PvcPhase {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PvcPhase::Pending => "Pending",
            PvcPhase::Bound => "Bound",
            PvcPhase::Lost => "Lost",
        }
    }
}

/// PersistentVolumeClaim spec.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PvcSpec {
    /// Access modes wanted.
    pub access_modes: Vec<AccessMode>,
    /// `resources.requests.storage` in bytes.
    pub request_bytes: i64,
    /// Storage class; `None` = the default class; `Some("")` = no class.
    pub storage_class_name: Option<Str>,
    /// The volume bound (or asked for).
    pub volume_name: Option<Str>,
    /// Volume label selector.
    pub selector: Option<LabelSelector>,
}

/// A PersistentVolumeClaim.
#[derive(Clone, Debug, PartialEq)]
pub struct PersistentVolumeClaim {
    /// Metadata.
    pub meta: ObjectMeta,
    /// Spec.
    pub spec: PvcSpec,
    /// Status.
    pub status: PvcStatus,
}

/// PVC status.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PvcStatus {
    /// Phase.
    pub phase: PvcPhase,
    /// Capacity of the bound volume.
    pub capacity_bytes: Option<i64>,
    /// Access modes of the bound volume.
    pub access_modes: Vec<AccessMode>,
}

/// StorageClass volume binding mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum VolumeBindingMode {
    /// Bind/provision as soon as the claim exists.
    #[default]
    Immediate,
    /// Wait until a pod using the claim is scheduled.
    WaitForFirstConsumer,
}

/// The annotation that marks the default StorageClass.
pub const ANNOTATION_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";

/// A StorageClass.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageClass {
    /// Metadata (the default class carries [`ANNOTATION_DEFAULT_CLASS`]=`"true"`).
    pub meta: ObjectMeta,
    /// Provisioner name.
    pub provisioner: Str,
    /// Reclaim policy of provisioned volumes (Delete).
    pub reclaim_policy: ReclaimPolicy,
    /// Binding mode.
    pub volume_binding_mode: VolumeBindingMode,
    /// Whether claims may grow.
    pub allow_volume_expansion: bool,
}

impl StorageClass {
    /// Whether it is marked the default class.
    pub fn is_default(&self) -> bool {
        self.meta
            .annotations
            .get(ANNOTATION_DEFAULT_CLASS)
            .is_some_and(|v| v.as_str() == "true")
    }
}
