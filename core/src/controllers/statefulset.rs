//! The statefulset controller (being written; see the workload-controllers issue).
