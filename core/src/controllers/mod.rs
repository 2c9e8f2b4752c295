//! Controllers: the Kubernetes control loops, each a [`crate::runtime::Controller`].
//!
//! - [`replicaset`]: the ReplicaSet controller (expectations, slow start, deletion
//!   ranking, status).
//! - [`scheduler`]: the scheduler (filter, score, bind).

pub mod replicaset;
pub mod scheduler;
