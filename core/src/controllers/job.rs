//! The job controller (being written; see the workload-controllers issue).
