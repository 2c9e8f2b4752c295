//! The daemonset controller (being written; see the workload-controllers issue).
