//! The hpa controller (being written; see the workload-controllers issue).
