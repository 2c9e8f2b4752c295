use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// Every kind kubesim knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// v1 Namespace (cluster-scoped).
    Namespace,
    /// v1 Node (cluster-scoped).
    Node,
    /// v1 Pod.
    Pod,
    /// apps/v1 ReplicaSet.
    ReplicaSet,
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// batch/v1 Job.
    Job,
    /// batch/v1 CronJob.
    CronJob,
    /// v1 Service.
    Service,
    /// v1 Endpoints.
    Endpoints,
    /// discovery.k8s.io/v1 EndpointSlice.
    EndpointSlice,
    /// v1 PersistentVolume (cluster-scoped).
    PersistentVolume,
    /// v1 PersistentVolumeClaim.
    PersistentVolumeClaim,
    /// storage.k8s.io/v1 StorageClass (cluster-scoped).
    StorageClass,
    /// autoscaling/v2 HorizontalPodAutoscaler.
    HorizontalPodAutoscaler,
    /// v1 ConfigMap.
    ConfigMap,
    /// v1 Event.
    Event,
}

impl Kind {
    /// Every kind, in a fixed order (also the order of [`Kind::index`]).
    pub const ALL: [Kind; 18] = [
        Kind::Namespace,
        Kind::Node,
        Kind::Pod,
        Kind::ReplicaSet,
        Kind::Deployment,
        Kind::DaemonSet,
        Kind::StatefulSet,
        Kind::Job,
        Kind::CronJob,
        Kind::Service,
        Kind::Endpoints,
        Kind::EndpointSlice,
        Kind::PersistentVolume,
        Kind::PersistentVolumeClaim,
        Kind::StorageClass,
        Kind::HorizontalPodAutoscaler,
        Kind::ConfigMap,
        Kind::Event,
    ];

    /// Position in [`Kind::ALL`] (dense, for per-kind arrays).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The kind's name as it appears in `kind:` (`"ReplicaSet"`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Node => "Node",
            Kind::Pod => "Pod",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Deployment => "Deployment",
            Kind::DaemonSet => "DaemonSet",
            Kind::StatefulSet => "StatefulSet",
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
            Kind::Service => "Service",
            Kind::Endpoints => "Endpoints",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::PersistentVolume => "PersistentVolume",
            Kind::PersistentVolumeClaim => "PersistentVolumeClaim",
            Kind::StorageClass => "StorageClass",
            Kind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
            Kind::ConfigMap => "ConfigMap",
            Kind::Event => "Event",
        }
    }

    /// The apiVersion kubesim serves the kind at (`"apps/v1"`).
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::ReplicaSet | Kind::Deployment | Kind::DaemonSet | Kind::StatefulSet => "apps/v1",
            Kind::Job | Kind::CronJob => "batch/v1",
            Kind::EndpointSlice => "discovery.k8s.io/v1",
            Kind::StorageClass => "storage.k8s.io/v1",
            Kind::HorizontalPodAutoscaler => "autoscaling/v2",
            _ => "v1",
        }
    }

    /// The lower-case plural resource name (`"replicasets"`).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Node => "nodes",
            Kind::Pod => "pods",
            Kind::ReplicaSet => "replicasets",
            Kind::Deployment => "deployments",
            Kind::DaemonSet => "daemonsets",
            Kind::StatefulSet => "statefulsets",
            Kind::Job => "jobs",
            Kind::CronJob => "cronjobs",
            Kind::Service => "services",
            Kind::Endpoints => "endpoints",
            Kind::EndpointSlice => "endpointslices",
            Kind::PersistentVolume => "persistentvolumes",
            Kind::PersistentVolumeClaim => "persistentvolumeclaims",
            Kind::StorageClass => "storageclasses",
            Kind::HorizontalPodAutoscaler => "horizontalpodautoscalers",
            Kind::ConfigMap => "configmaps",
            Kind::Event => "events",
        }
    }

    /// kubectl's short names (`"rs"`), if any.
    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Namespace => &["ns"],
            Kind::Node => &["no"],
            Kind::Pod => &["po"],
            Kind::ReplicaSet => &["rs"],
            Kind::Deployment => &["deploy"],
            Kind::DaemonSet => &["ds"],
            Kind::StatefulSet => &["sts"],
            Kind::Job => &[],
            Kind::CronJob => &["cj"],
            Kind::Service => &["svc"],
            Kind::Endpoints => &["ep"],
            Kind::EndpointSlice => &[],
            Kind::PersistentVolume => &["pv"],
            Kind::PersistentVolumeClaim => &["pvc"],
            Kind::StorageClass => &["sc"],
            Kind::HorizontalPodAutoscaler => &["hpa"],
            Kind::ConfigMap => &["cm"],
            Kind::Event => &["ev"],
        }
    }

    /// Whether objects of the kind live in a namespace.
    pub fn namespaced(self) -> bool {
        !matches!(
            self,
            Kind::Namespace | Kind::Node | Kind::PersistentVolume | Kind::StorageClass
        )
    }

    /// Whether an apiVersion is one kubesim accepts for this kind.
    pub fn accepts_api_version(self, api_version: &str) -> bool {
        api_version == self.api_version()
    }

    /// Looks a kind up the way kubectl does: `Pod`, `pod`, `pods`, `po`, `deployment`,
    /// `deploy`, `deployments.apps` … (case-insensitive).
    pub fn from_kubectl_name(name: &str) -> Option<Kind> {
        let lower = name.to_ascii_lowercase();
        let base = lower.split('.').next().unwrap_or(&lower);
        Kind::ALL.into_iter().find(|k| {
            k.name().eq_ignore_ascii_case(base)
                || k.plural() == base
                || k.short_names().contains(&base)
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;
    /// Parses the exact `kind:` name (`"ReplicaSet"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unsupported kind {s:?}"))
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_matches_all_order() {
        for (i, k) in Kind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
    }

    #[test]
    fn kubectl_names() {
        assert_eq!(Kind::from_kubectl_name("po"), Some(Kind::Pod));
        assert_eq!(
            Kind::from_kubectl_name("Deployments"),
            Some(Kind::Deployment)
        );
        assert_eq!(Kind::from_kubectl_name("deploy"), Some(Kind::Deployment));
        assert_eq!(
            Kind::from_kubectl_name("endpointslice"),
            Some(Kind::EndpointSlice)
        );
        assert_eq!(Kind::from_kubectl_name("ep"), Some(Kind::Endpoints));
        assert_eq!(
            Kind::from_kubectl_name("hpa"),
            Some(Kind::HorizontalPodAutoscaler)
        );
        assert_eq!(
            Kind::from_kubectl_name("statefulsets.apps"),
            Some(Kind::StatefulSet)
        );
        assert_eq!(Kind::from_kubectl_name("widget"), None);
    }
}
