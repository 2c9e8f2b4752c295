//! Invariant checker (being written; see the workload-controllers issue).
