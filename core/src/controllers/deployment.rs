//! The deployment controller (being written; see the workload-controllers issue).
