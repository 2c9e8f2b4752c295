//! The cronjob controller (being written; see the workload-controllers issue).
