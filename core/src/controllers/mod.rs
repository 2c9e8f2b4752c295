//! Controllers: the Kubernetes control loops, each a [`crate::runtime::Controller`].
//!
//! - [`replicaset`]: the ReplicaSet controller (expectations, slow start, deletion
//!   ranking, status).
//! - [`deployment`]: the Deployment controller (pod-template-hash ReplicaSets,
//!   RollingUpdate/Recreate, rollover, proportional scaling, revisions and undo,
//!   pause, progress deadline, status and conditions).
//! - [`daemonset`]: one pod per eligible node, rolling update / OnDelete.
//! - [`statefulset`]: ordinal identities, OrderedReady/Parallel, volumeClaimTemplates
//!   and retention, partitioned rolling update.
//! - [`job`] and [`cronjob`]: completions, parallelism, backoff and deadlines; cron
//!   schedules, concurrency policies and history limits.
//! - [`hpa`]: the HorizontalPodAutoscaler and the CPU [`hpa::LoadModel`] it reads.
//! - [`scheduler`]: the scheduler (filter, score, bind), one queue key for all pending
//!   pods so that a round never double-books a node.
//! - [`kubelet`]: the simulated kubelets of every node (image pulls, pod IPs, startup
//!   and readiness, exits and restarts, graceful termination, heartbeats).
//! - [`garbage_collector`]: cascading deletion (background, foreground, orphan) and pod
//!   GC, with invariant checkers.
//! - [`endpoints`]: Service ClusterIP/NodePort/LoadBalancer allocation, Endpoints,
//!   EndpointSlices and selector-less mirroring.
//! - [`node_lifecycle`]: node health (grace period → Unknown → NoExecute taint →
//!   eviction after toleration).
//! - [`volumes`]: the PV/PVC binder, reclaim policies and default-class provisioning.
//!
//! [`crate::cluster::Cluster`] wires them all into one simulated cluster.

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod garbage_collector;
pub mod hpa;
pub mod job;
pub mod kubelet;
pub mod node_lifecycle;
pub mod replicaset;
pub mod scheduler;
pub mod statefulset;
pub mod volumes;
