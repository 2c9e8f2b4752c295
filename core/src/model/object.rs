use super::*;
use crate::intern::{Str, StrMap};

/// Any object kubesim stores: one variant per [`Kind`].
///
/// Pods are stored inline (they are the most numerous objects); every other kind is
/// boxed so that a pod costs its own size, not the largest kind's.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
// one variant per kind; the kind types carry the docs
// Pods are deliberately inline: they are the most numerous objects, and boxing them
// would add an allocation and a pointer chase to every pod read.
#[allow(clippy::large_enum_variant)]
pub enum Object {
    Namespace(Box<Namespace>),
    Node(Box<Node>),
    Pod(Pod),
    ReplicaSet(Box<ReplicaSet>),
    Deployment(Box<Deployment>),
    DaemonSet(Box<DaemonSet>),
    StatefulSet(Box<StatefulSet>),
    Job(Box<Job>),
    CronJob(Box<CronJob>),
    Service(Box<Service>),
    Endpoints(Box<Endpoints>),
    EndpointSlice(Box<EndpointSlice>),
    PersistentVolume(Box<PersistentVolume>),
    PersistentVolumeClaim(Box<PersistentVolumeClaim>),
    StorageClass(Box<StorageClass>),
    HorizontalPodAutoscaler(Box<HorizontalPodAutoscaler>),
    ConfigMap(Box<ConfigMap>),
    Event(Box<Event>),
}

/// Applies `$body` to the inner value of any variant, bound as `$x`.
macro_rules! each {
    ($obj:expr, $x:ident => $body:expr) => {
        match $obj {
            Object::Namespace($x) => $body,
            Object::Node($x) => $body,
            Object::Pod($x) => $body,
            Object::ReplicaSet($x) => $body,
            Object::Deployment($x) => $body,
            Object::DaemonSet($x) => $body,
            Object::StatefulSet($x) => $body,
            Object::Job($x) => $body,
            Object::CronJob($x) => $body,
            Object::Service($x) => $body,
            Object::Endpoints($x) => $body,
            Object::EndpointSlice($x) => $body,
            Object::PersistentVolume($x) => $body,
            Object::PersistentVolumeClaim($x) => $body,
            Object::StorageClass($x) => $body,
            Object::HorizontalPodAutoscaler($x) => $body,
            Object::ConfigMap($x) => $body,
            Object::Event($x) => $body,
        }
    };
}

macro_rules! accessors {
    ($($variant:ident, $ty:ty, $as_ref:ident, $as_mut:ident;)*) => {
        impl Object {
            $(
                #[doc = concat!("The ", stringify!($variant), ", if this is one.")]
                pub fn $as_ref(&self) -> Option<&$ty> {
                    match self {
                        Object::$variant(x) => Some(x),
                        _ => None,
                    }
                }

                #[doc = concat!("The ", stringify!($variant), ", mutably, if this is one.")]
                pub fn $as_mut(&mut self) -> Option<&mut $ty> {
                    match self {
                        Object::$variant(x) => Some(x),
                        _ => None,
                    }
                }
            )*
        }
    };
}

accessors! {
    Namespace, Namespace, as_namespace, as_namespace_mut;
    Node, Node, as_node, as_node_mut;
    Pod, Pod, as_pod, as_pod_mut;
    ReplicaSet, ReplicaSet, as_replica_set, as_replica_set_mut;
    Deployment, Deployment, as_deployment, as_deployment_mut;
    DaemonSet, DaemonSet, as_daemon_set, as_daemon_set_mut;
    StatefulSet, StatefulSet, as_stateful_set, as_stateful_set_mut;
    Job, Job, as_job, as_job_mut;
    CronJob, CronJob, as_cron_job, as_cron_job_mut;
    Service, Service, as_service, as_service_mut;
    Endpoints, Endpoints, as_endpoints, as_endpoints_mut;
    EndpointSlice, EndpointSlice, as_endpoint_slice, as_endpoint_slice_mut;
    PersistentVolume, PersistentVolume, as_persistent_volume, as_persistent_volume_mut;
    PersistentVolumeClaim, PersistentVolumeClaim, as_pvc, as_pvc_mut;
    StorageClass, StorageClass, as_storage_class, as_storage_class_mut;
    HorizontalPodAutoscaler, HorizontalPodAutoscaler, as_hpa, as_hpa_mut;
    ConfigMap, ConfigMap, as_config_map, as_config_map_mut;
    Event, Event, as_event, as_event_mut;
}

impl Object {
    /// The kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Namespace(_) => Kind::Namespace,
            Object::Node(_) => Kind::Node,
            Object::Pod(_) => Kind::Pod,
            Object::ReplicaSet(_) => Kind::ReplicaSet,
            Object::Deployment(_) => Kind::Deployment,
            Object::DaemonSet(_) => Kind::DaemonSet,
            Object::StatefulSet(_) => Kind::StatefulSet,
            Object::Job(_) => Kind::Job,
            Object::CronJob(_) => Kind::CronJob,
            Object::Service(_) => Kind::Service,
            Object::Endpoints(_) => Kind::Endpoints,
            Object::EndpointSlice(_) => Kind::EndpointSlice,
            Object::PersistentVolume(_) => Kind::PersistentVolume,
            Object::PersistentVolumeClaim(_) => Kind::PersistentVolumeClaim,
            Object::StorageClass(_) => Kind::StorageClass,
            Object::HorizontalPodAutoscaler(_) => Kind::HorizontalPodAutoscaler,
            Object::ConfigMap(_) => Kind::ConfigMap,
            Object::Event(_) => Kind::Event,
        }
    }

    /// Metadata.
    pub fn meta(&self) -> &ObjectMeta {
        each!(self, x => &x.meta)
    }

    /// Metadata, mutably.
    pub fn meta_mut(&mut self) -> &mut ObjectMeta {
        each!(self, x => &mut x.meta)
    }

    /// Name.
    pub fn name(&self) -> &Str {
        &self.meta().name
    }

    /// Namespace (empty for cluster-scoped kinds).
    pub fn namespace(&self) -> &Str {
        &self.meta().namespace
    }

    /// Labels.
    pub fn labels(&self) -> &StrMap {
        &self.meta().labels
    }

    /// `kind/namespace/name`, for messages.
    pub fn display_key(&self) -> String {
        let m = self.meta();
        if m.namespace.is_empty() {
            format!("{}/{}", self.kind(), m.name)
        } else {
            format!("{}/{}/{}", self.kind(), m.namespace, m.name)
        }
    }

    /// The node a pod is bound to (`spec.nodeName`); `None` for other kinds.
    pub fn node_name(&self) -> Option<&Str> {
        self.as_pod().and_then(|p| p.node_name.as_ref())
    }

    /// Whether the kind has a status that only status updates change.
    pub fn has_status(&self) -> bool {
        !matches!(
            self,
            Object::ConfigMap(_)
                | Object::Endpoints(_)
                | Object::EndpointSlice(_)
                | Object::StorageClass(_)
                | Object::Event(_)
        )
    }

    /// Whether everything but metadata and status is equal (a spec change bumps
    /// `generation`). `false` for different kinds.
    pub fn spec_eq(&self, other: &Object) -> bool {
        use Object as O;
        match (self, other) {
            (O::Namespace(_), O::Namespace(_)) => true,
            (O::Node(a), O::Node(b)) => a.spec == b.spec,
            (O::Pod(a), O::Pod(b)) => a.spec == b.spec && a.node_name == b.node_name,
            (O::ReplicaSet(a), O::ReplicaSet(b)) => a.spec == b.spec,
            (O::Deployment(a), O::Deployment(b)) => a.spec == b.spec,
            (O::DaemonSet(a), O::DaemonSet(b)) => a.spec == b.spec,
            (O::StatefulSet(a), O::StatefulSet(b)) => a.spec == b.spec,
            (O::Job(a), O::Job(b)) => a.spec == b.spec,
            (O::CronJob(a), O::CronJob(b)) => a.spec == b.spec,
            (O::Service(a), O::Service(b)) => a.spec == b.spec,
            (O::Endpoints(a), O::Endpoints(b)) => a.subsets == b.subsets,
            (O::EndpointSlice(a), O::EndpointSlice(b)) => {
                a.address_type == b.address_type && a.endpoints == b.endpoints && a.ports == b.ports
            }
            (O::PersistentVolume(a), O::PersistentVolume(b)) => a.spec == b.spec,
            (O::PersistentVolumeClaim(a), O::PersistentVolumeClaim(b)) => a.spec == b.spec,
            (O::StorageClass(a), O::StorageClass(b)) => {
                a.provisioner == b.provisioner
                    && a.reclaim_policy == b.reclaim_policy
                    && a.volume_binding_mode == b.volume_binding_mode
                    && a.allow_volume_expansion == b.allow_volume_expansion
            }
            (O::HorizontalPodAutoscaler(a), O::HorizontalPodAutoscaler(b)) => a.spec == b.spec,
            (O::ConfigMap(a), O::ConfigMap(b)) => a.data == b.data,
            (O::Event(a), O::Event(b)) => {
                a.involved_object == b.involved_object
                    && a.reason == b.reason
                    && a.message == b.message
                    && a.type_ == b.type_
                    && a.count == b.count
                    && a.last_timestamp == b.last_timestamp
            }
            _ => false,
        }
    }

    /// Replaces this object's status with `from`'s (same kind; otherwise nothing).
    pub fn set_status_from(&mut self, from: &Object) {
        use Object as O;
        match (self, from) {
            (O::Namespace(a), O::Namespace(b)) => a.phase = b.phase,
            (O::Node(a), O::Node(b)) => a.status = b.status.clone(),
            (O::Pod(a), O::Pod(b)) => a.status = b.status.clone(),
            (O::ReplicaSet(a), O::ReplicaSet(b)) => a.status = b.status.clone(),
            (O::Deployment(a), O::Deployment(b)) => a.status = b.status.clone(),
            (O::DaemonSet(a), O::DaemonSet(b)) => a.status = b.status.clone(),
            (O::StatefulSet(a), O::StatefulSet(b)) => a.status = b.status.clone(),
            (O::Job(a), O::Job(b)) => a.status = b.status.clone(),
            (O::CronJob(a), O::CronJob(b)) => a.status = b.status.clone(),
            (O::Service(a), O::Service(b)) => a.status = b.status.clone(),
            (O::PersistentVolume(a), O::PersistentVolume(b)) => a.status = b.status.clone(),
            (O::PersistentVolumeClaim(a), O::PersistentVolumeClaim(b)) => {
                a.status = b.status.clone()
            }
            (O::HorizontalPodAutoscaler(a), O::HorizontalPodAutoscaler(b)) => {
                a.status = b.status.clone()
            }
            _ => {}
        }
    }

    /// Replaces everything but metadata and status with `from`'s (same kind; otherwise
    /// nothing). Used by status updates, which must not change the spec.
    pub fn set_spec_from(&mut self, from: &Object) {
        let meta = self.meta().clone();
        let mut replaced = from.clone();
        replaced.set_status_from(self);
        *replaced.meta_mut() = meta;
        if replaced.kind() == self.kind() {
            *self = replaced;
        }
    }
}

impl From<Pod> for Object {
    fn from(p: Pod) -> Self {
        Object::Pod(p)
    }
}

macro_rules! from_boxed {
    ($($variant:ident),*) => {
        $(
            impl From<$variant> for Object {
                fn from(x: $variant) -> Self {
                    Object::$variant(Box::new(x))
                }
            }
        )*
    };
}

from_boxed!(
    Namespace,
    Node,
    ReplicaSet,
    Deployment,
    DaemonSet,
    StatefulSet,
    Job,
    CronJob,
    Service,
    Endpoints,
    EndpointSlice,
    PersistentVolume,
    PersistentVolumeClaim,
    StorageClass,
    HorizontalPodAutoscaler,
    ConfigMap,
    Event
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the memory budget (≤ 400 bytes per stored pod at 1M pods): an `Arc<Object>`
    /// of a pod must stay within mimalloc's 224-byte size class (16 bytes of counts plus
    /// the object).
    #[test]
    fn pod_objects_stay_in_the_224_byte_size_class() {
        assert!(
            size_of::<Object>() <= 208,
            "Object is {} bytes",
            size_of::<Object>()
        );
        assert!(
            size_of::<ObjectMeta>() <= 96,
            "ObjectMeta is {} bytes",
            size_of::<ObjectMeta>()
        );
    }
}
