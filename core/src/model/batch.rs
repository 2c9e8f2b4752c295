use super::{Condition, ObjectMeta, ObjectRef, PodTemplateSpec, TemplateMeta};
use crate::intern::Str;
use crate::selector::LabelSelector;
use crate::time::Timestamp;

/// A Job.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// Metadata.
    pub meta: ObjectMeta,
    /// Spec.
    pub spec: JobSpec,
    /// Status.
    pub status: JobStatus,
}

/// Job spec.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct JobSpec {
    /// Pods running at once at most (1).
    pub parallelism: i32,
    /// Successful pods needed; `None` = any one success completes (work-queue job).
    pub completions: Option<i32>,
    /// Failed pods tolerated before the Job fails (6).
    pub backoff_limit: i32,
    /// Seconds from start after which the Job fails (DeadlineExceeded).
    pub active_deadline_seconds: Option<i64>,
    /// Seconds after finishing before the Job is deleted.
    pub ttl_seconds_after_finished: Option<i32>,
    /// Suspended: no pods are created.
    pub suspend: bool,
    /// Pod selector (generated from `controller-uid` unless `manualSelector`).
    pub selector: LabelSelector,
    /// Whether the selector was written by hand.
    pub manual_selector: bool,
    /// Pod template (restartPolicy Never or OnFailure).
    pub template: PodTemplateSpec,
}

/// Job status.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct JobStatus {
    /// Pods running or pending.
    pub active: i32,
    /// Pods that succeeded.
    pub succeeded: i32,
    /// Pods that failed.
    pub failed: i32,
    /// Active pods that are ready.
    pub ready: i32,
    /// When the Job started.
    pub start_time: Option<Timestamp>,
    /// When it completed.
    pub completion_time: Option<Timestamp>,
    /// Complete / Failed (and SuccessCriteriaMet / FailureTarget).
    pub conditions: Vec<Condition>,
}

/// CronJob concurrency policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ConcurrencyPolicy {
    /// Jobs may overlap.
    #[default]
    Allow,
    /// Skip a run while the previous Job is active.
    Forbid,
    /// Replace the active Job with the new one.
    Replace,
}

impl ConcurrencyPolicy {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ConcurrencyPolicy::Allow => "Allow",
            ConcurrencyPolicy::Forbid => "Forbid",
            ConcurrencyPolicy::Replace => "Replace",
        }
    }
}

/// A CronJob's `jobTemplate`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct JobTemplate {
    /// Labels and annotations of the Jobs made.
    pub meta: TemplateMeta,
    /// Spec of the Jobs made.
    pub spec: JobSpec,
}

/// A CronJob.
#[derive(Clone, Debug, PartialEq)]
pub struct CronJob {
    /// Metadata.
    pub meta: ObjectMeta,
    /// Spec.
    pub spec: CronJobSpec,
    /// Status.
    pub status: CronJobStatus,
}

/// CronJob spec.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CronJobSpec {
    /// 5-field cron schedule (or `@hourly` etc.).
    pub schedule: Str,
    /// `timeZone` (only UTC is simulated; others are rejected at validation).
    pub time_zone: Option<Str>,
    /// Seconds after a missed schedule within which the run may still start.
    pub starting_deadline_seconds: Option<i64>,
    /// Concurrency policy.
    pub concurrency_policy: ConcurrencyPolicy,
    /// Suspended: no new Jobs.
    pub suspend: bool,
    /// The Job template.
    pub job_template: JobTemplate,
    /// Successful Jobs kept (3).
    pub successful_jobs_history_limit: i32,
    /// Failed Jobs kept (1).
    pub failed_jobs_history_limit: i32,
}

/// CronJob status.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CronJobStatus {
    /// Running Jobs.
    pub active: Vec<ObjectRef>,
    /// When a Job was last scheduled.
    pub last_schedule_time: Option<Timestamp>,
    /// When a Job last succeeded.
    pub last_successful_time: Option<Timestamp>,
}
