//! The Job controller: runs a Job's pods to `completions` successes with at most
//! `parallelism` at once, within `backoffLimit` failures and `activeDeadlineSeconds`
//! (upstream `pkg/controller/job`, NonIndexed completion mode).
//!
//! # Generated selector and labels
//!
//! Upstream's API server gives a Job whose `manualSelector` is not set the selector
//! `batch.kubernetes.io/controller-uid: <uid>` (added to the `matchLabels` written, if
//! any) and adds `batch.kubernetes.io/controller-uid`, `controller-uid`,
//! `batch.kubernetes.io/job-name` and `job-name` to the pod template's labels (each if
//! absent). kubesim's store assigns uids at create and has no admission hook, and Jobs
//! are created both by `apply` and by the CronJob controller, so the Job controller does
//! it: a sync of a Job that lacks the generated selector key records an update adding
//! it (and the template labels) and does nothing else; the Job's `Modified` event
//! brings the next sync. [`crate::cluster::Cluster::apply`] keeps them when it replaces
//! the spec of an existing Job (so a re-apply is `unchanged`). See [`generated`].
//!
//! # Reconcile (`syncJob`)
//!
//! Keys are Jobs; a Pod event maps to its controller Job. The Job's pods are the pods
//! whose controller ownerReference has its uid (the owner index). Counting:
//! `active` = not terminal and not being deleted, `terminating` = being deleted and not
//! terminal, `ready` = active with Ready=True. `succeeded` and `failed` are cumulative:
//! each sync adds the pods that reached phase Succeeded / Failed and were not counted
//! yet. A pod that is being deleted and has not succeeded counts as **failed** at once
//! (upstream `isPodFailed`: "Count deleted Pods as failures", which the
//! `batch.kubernetes.io/job-tracking` finalizer makes possible — the kubelet removes a
//! deleted pod without ever writing phase Failed), so a Job pod deleted by a user, an
//! eviction or the failure of the Job itself counts towards `backoffLimit` and starts
//! the failure backoff (its failure time is the deletion request: `deletionTimestamp −
//! deletionGracePeriodSeconds`). Pods the controller deletes itself to scale down or
//! suspend are **released** instead (upstream removes their tracking finalizer before
//! deleting them) and are never counted. The controller remembers, per Job, the uids of the pods it counted (upstream
//! keeps that state in the API instead: `uncountedTerminatedPods` and the
//! `batch.kubernetes.io/job-tracking` finalizer); a sync's new uids join the set when
//! its status write succeeds ([`Controller::applied`]), so a failed write counts them
//! again next time and a terminated pod that is deleted later (pod GC, a removed node)
//! is never subtracted nor counted twice.
//!
//! 1. A finished Job (Complete or Failed True) is left alone.
//! 2. **Suspend:** a suspended Job has no pods (active ones are deleted) and condition
//!    `Suspended=True` (reason `JobSuspended`); resuming sets it False (`JobResumed`)
//!    and restarts `startTime`. `startTime` is set on the first sync of a Job that is
//!    not suspended.
//! 3. **Failure** (`FailureTarget` once decided): `failed > backoffLimit`, or, with
//!    `restartPolicy: OnFailure` (the kubelet restarts the containers in place, so pods
//!    do not fail), the restarts (restartCount × containers) summed over every
//!    Running or Pending pod of the Job — terminating ones included, as upstream's
//!    `pastBackoffLimitOnFailure` — reach `backoffLimit` (any restart when it is 0) —
//!    reason `BackoffLimitExceeded`
//!    (`Job has reached the specified backoff limit`); or `startTime +
//!    activeDeadlineSeconds ≤ now` — reason `DeadlineExceeded` (`Job was active longer
//!    than specified deadline`). Then: condition `FailureTarget=True` and a Warning
//!    Event with the reason; every active pod is deleted; once no pod is active or
//!    terminating, condition `Failed=True` with the same reason (upstream 1.31+ adds
//!    the terminal condition only after the pods are gone).
//! 4. **Manage pods** (`manageJob`): `wantActive` = `min(parallelism, completions −
//!    succeeded)` (≥ 0); a work-queue Job (no `completions`) wants `parallelism` until
//!    a pod succeeded, then creates no more. Extra active pods are deleted (upstream's
//!    ranking, [`compare_for_deletion`]); missing ones are created in slow-start
//!    batches (at most [`MAX_POD_CREATE_DELETE_PER_SYNC`]), `generateName: <job>-`,
//!    the template's labels, annotations and spec, a controller ownerReference —
//!    unless the **failure backoff** is running: after `n` failed pods since the last
//!    success, no pod is created before the last failure + `10 s × 2ⁿ⁻¹` capped at
//!    6 min ([`failure_backoff`]); the key is requeued then. (The 6 min cap is
//!    K8S-SEMANTICS.md's and kubernetes.io's documented one and older upstream code's
//!    `MaxJobBackOff = 360 s`; since the pod-failure backoff was split from the API
//!    backoff, upstream code caps at `MaxJobPodFailureBackOff = 10 min` while the
//!    docs still say six minutes — a documented-defaults mismatch, kept at 6 min
//!    here.) Events `SuccessfulCreate` (`Created pod: <name>`), `SuccessfulDelete`
//!    (`Deleted pod: <name>`).
//! 5. **Success:** `succeeded ≥ completions` (work queue: a success) with no active pod
//!    left → condition `SuccessCriteriaMet=True` (reason `CompletionsReached`); once no
//!    pod is terminating either, `Complete=True`, `completionTime` = now and Event
//!    `Completed` (`Job completed`).
//! 6. Status (`active` counts this sync's creates and deletes, as upstream's) written
//!    when it changed; requeue at the backoff end or the active deadline, whichever
//!    comes first.
//!
//! # Simplifications (stated)
//!
//! - No `batch.kubernetes.io/job-tracking` finalizers (the counted-uid and released-uid
//!   memories stand in for them). The failure time of a deleted pod that did not
//!   terminate is its deletion request (upstream first looks at a Ready=False
//!   condition's transition time).
//! - No expectations: the store view a sync reads is the truth (writes are applied
//!   before the key is released, and a virtual-time round reconciles a key at most
//!   once), so a second sync cannot double-create.
//! - No adoption or release of pods by selector; only pods with the Job's controller
//!   reference count. Indexed completion mode, podFailurePolicy, successPolicy,
//!   podReplacementPolicy (`TerminatingOrFailed` behaviour) and
//!   `ttlSecondsAfterFinished` are not simulated.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::intern::{intern, SharedList, Str};
use crate::model::{
    find_condition, set_condition, Condition, ConditionStatus, ContainerState, EventType, Job,
    JobStatus, Kind, Object, ObjectKey, ObjectMeta, OwnerReference, Pod, PodPhase, PodStatus,
    RestartPolicy, Uid,
};
use crate::runtime::{
    map_to_controller, route_object, Controller, Ctx, ReconcileError, Requeue, Routed, StoreView,
    Verb, WriteResult,
};
use crate::store::{DeleteOptions, WatchEvent};
use crate::time::Timestamp;

use super::replicaset::compare_for_deletion;

/// The controller's name (the `source` of its Events), as upstream's.
pub const CONTROLLER_NAME: &str = "job-controller";

/// Most pod creates or deletes in one sync (upstream `MaxPodCreateDeletePerSync`).
pub const MAX_POD_CREATE_DELETE_PER_SYNC: usize = 500;

/// First failure backoff (upstream `DefaultJobPodFailureBackOff`).
pub const BACKOFF_BASE: Duration = Duration::from_secs(10);

/// Longest failure backoff: 6 min, as documented (upstream code's
/// `MaxJobPodFailureBackOff` is now 10 min; see the module docs).
pub const BACKOFF_MAX: Duration = Duration::from_secs(360);

/// The generated selector key (and template label).
pub const LABEL_CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
/// The legacy controller-uid template label.
pub const LABEL_LEGACY_CONTROLLER_UID: &str = "controller-uid";
/// The job-name template label.
pub const LABEL_JOB_NAME: &str = "batch.kubernetes.io/job-name";
/// The legacy job-name template label.
pub const LABEL_LEGACY_JOB_NAME: &str = "job-name";

/// The failure backoff after `failures` failed pods since the last success: 0 for
/// none, else `10 s × 2ⁿ⁻¹`, at most [`BACKOFF_MAX`].
pub fn failure_backoff(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let shift = (failures - 1).min(16);
    (BACKOFF_BASE * (1u32 << shift)).min(BACKOFF_MAX)
}

/// `kubectl get jobs`'s COMPLETIONS column: `succeeded/completions`, or for a
/// work-queue Job `succeeded/1` (`succeeded/1 of parallelism` when parallelism > 1).
pub fn completions_column(job: &Job) -> String {
    let s = job.status.succeeded;
    match job.spec.completions {
        Some(c) => format!("{s}/{c}"),
        None if job.spec.parallelism > 1 => format!("{s}/1 of {}", job.spec.parallelism),
        None => format!("{s}/1"),
    }
}

/// `kubectl get jobs`'s STATUS column: `Complete`, `Failed`, `FailureTarget`,
/// `SuccessCriteriaMet`, `Suspended` or `Running`.
pub fn status_column(job: &Job) -> &'static str {
    for t in [
        "Complete",
        "Failed",
        "FailureTarget",
        "SuccessCriteriaMet",
        "Suspended",
    ] {
        if is_true(&job.status.conditions, t) {
            return t;
        }
    }
    "Running"
}

fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(|c| c.status == ConditionStatus::True)
}

/// The Job with the API server's generated selector and template labels (see the
/// [module docs](self#generated-selector-and-labels)), or `None` when it needs none
/// (`manualSelector`, or already there).
pub fn generated(job: &Job) -> Option<Job> {
    if job.spec.manual_selector
        || job
            .spec
            .selector
            .match_labels
            .contains_key(LABEL_CONTROLLER_UID)
    {
        return None;
    }
    let uid = job.meta.uid.to_string();
    let mut new = job.clone();
    new.spec.selector.match_labels = new
        .spec
        .selector
        .match_labels
        .with(LABEL_CONTROLLER_UID, &uid);
    let mut labels = new.spec.template.meta.labels.clone();
    for (k, v) in [
        (LABEL_CONTROLLER_UID, uid.as_str()),
        (LABEL_LEGACY_CONTROLLER_UID, uid.as_str()),
        (LABEL_JOB_NAME, job.meta.name.as_str()),
        (LABEL_LEGACY_JOB_NAME, job.meta.name.as_str()),
    ] {
        if !labels.contains_key(k) {
            labels = labels.with(k, v);
        }
    }
    new.spec.template.meta.labels = labels;
    Some(new)
}

/// The time a terminated pod finished (its container's `finishedAt`, else, for a
/// deleted pod, its deletion request, else its creation time).
fn finished_at(p: &Pod) -> Timestamp {
    match p.status.container_state {
        ContainerState::Terminated { finished_at, .. } => finished_at,
        _ => match &p.meta.deletion {
            Some(d) => Timestamp(d.timestamp.0 - d.grace_period_seconds.unwrap_or(0).max(0) * 1000),
            None => p.meta.creation_timestamp,
        },
    }
}

/// Whether a pod of a Job counts as failed (upstream `isPodFailed`, default
/// `podReplacementPolicy`): phase Failed, or being deleted without having succeeded.
/// (The caller leaves out the pods the controller released.)
pub fn is_pod_failed(p: &Pod) -> bool {
    p.status.phase == PodPhase::Failed
        || (p.meta.is_being_deleted() && p.status.phase != PodPhase::Succeeded)
}

/// Failed pods ([`is_pod_failed`]) since the last success and the last failure's time
/// (upstream's `backoffRecord`).
pub fn failures_since_success(pods: &[&Pod]) -> (u32, Option<Timestamp>) {
    let last_success = pods
        .iter()
        .filter(|p| p.status.phase == PodPhase::Succeeded)
        .map(|p| finished_at(p))
        .max();
    let mut n = 0;
    let mut last = None;
    for p in pods.iter().filter(|p| is_pod_failed(p)) {
        let t = finished_at(p);
        if last_success.is_none_or(|s| t > s) {
            n += 1;
            last = Some(last.map_or(t, |l: Timestamp| l.max(t)));
        }
    }
    (n, last)
}

/// The terminated pods a Job's status already counts.
#[derive(Debug, Default)]
struct Counted {
    /// The Job's uid (a new Job with the same name starts over).
    job_uid: Uid,
    /// Pods counted in `succeeded` or `failed`.
    uids: HashSet<Uid>,
    /// Pods the last sync counted, pending its status write.
    pending: Vec<Uid>,
    /// Pods the controller deleted to scale down or suspend (upstream removes their
    /// tracking finalizer first): never counted as failed.
    released: HashSet<Uid>,
    /// Pods the last sync deleted to release them, pending the deletes.
    pending_release: Vec<(ObjectKey, Uid)>,
}

/// The Job controller (see the [module docs](self)).
#[derive(Debug, Default)]
pub struct JobController {
    counted: Mutex<HashMap<ObjectKey, Counted>>,
}

impl JobController {
    /// A controller.
    pub fn new() -> Self {
        Self::default()
    }
}

fn condition(type_: &str, reason: &str, message: &str, now: Timestamp) -> Condition {
    let mut c = Condition::new(type_, ConditionStatus::True, now);
    c.reason = Some(intern(reason));
    c.message = Some(intern(message));
    c.last_update_time = Some(now);
    c
}

fn delete_pod(ctx: &mut Ctx<'_>, job_obj: &Object, p: &Pod) {
    ctx.delete(
        Kind::Pod,
        &p.meta.namespace,
        &p.meta.name,
        DeleteOptions {
            preconditions_uid: Some(p.meta.uid),
            ..DeleteOptions::default()
        },
    )
    .on_success(
        job_obj,
        EventType::Normal,
        "SuccessfulDelete",
        format!("Deleted pod: {}", p.meta.name),
    )
    .on_failure(
        job_obj,
        EventType::Warning,
        "FailedDelete",
        format!("Error deleting pod {}", p.meta.name),
    );
}

/// `n` new pods of `job` (upstream `CreatePodsWithGenerateName`).
pub fn new_pods(job: &Job, n: usize) -> Vec<Object> {
    let generate_name = Str::from(format!("{}-", job.meta.name));
    let refs: SharedList<OwnerReference> = vec![OwnerReference {
        kind: Kind::Job,
        name: job.meta.name.clone(),
        uid: job.meta.uid,
        controller: true,
        block_owner_deletion: true,
    }]
    .into();
    let t = &job.spec.template;
    (0..n)
        .map(|_| {
            Object::from(Pod {
                meta: ObjectMeta {
                    namespace: job.meta.namespace.clone(),
                    generate_name: Some(generate_name.clone()),
                    labels: t.meta.labels.clone(),
                    annotations: t.meta.annotations.clone(),
                    owner_references: refs.clone(),
                    ..ObjectMeta::default()
                },
                spec: Arc::clone(&t.spec),
                node_name: None,
                status: PodStatus::default(),
            })
        })
        .collect()
}

fn pod_key(p: &Pod) -> ObjectKey {
    ObjectKey::new(Kind::Pod, &p.meta.namespace, &p.meta.name)
}

fn earliest(a: Option<Duration>, b: Duration) -> Option<Duration> {
    Some(a.map_or(b, |a| a.min(b)))
}

impl Controller for JobController {
    fn name(&self) -> &'static str {
        CONTROLLER_NAME
    }

    fn primary(&self) -> Kind {
        Kind::Job
    }

    fn watches(&self) -> &[Kind] {
        &[Kind::Pod]
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        match ev.object.kind() {
            Kind::Job => out.push(route_object(store, &ev.object)),
            Kind::Pod => map_to_controller(ev, store, Kind::Job, out),
            _ => {}
        }
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        let store = ctx.store();
        let Some(obj) = store.get_key(key) else {
            self.counted.lock().remove(key);
            return Ok(Requeue::Done);
        };
        let Some(job) = obj.as_job() else {
            return Err(ReconcileError::new(format!("{key} is not a Job")));
        };
        if job.meta.is_being_deleted() {
            return Ok(Requeue::Done);
        }
        if let Some(new) = generated(job) {
            ctx.update(Object::from(new));
            return Ok(Requeue::Done);
        }
        let st = &job.status;
        if is_true(&st.conditions, "Complete") || is_true(&st.conditions, "Failed") {
            return Ok(Requeue::Done);
        }
        let now = ctx.now();

        let owned: Vec<Arc<Object>> = store
            .dependents_of(job.meta.uid)
            .into_iter()
            .filter(|o| {
                o.kind() == Kind::Pod
                    && o.namespace() == &job.meta.namespace
                    && o.meta()
                        .controller_ref()
                        .is_some_and(|r| r.uid == job.meta.uid)
            })
            .collect();
        let pods: Vec<&Pod> = owned.iter().filter_map(|o| o.as_pod()).collect();
        let mut backoff_pods = pods.clone();
        let mut active: Vec<&Pod> = pods.iter().copied().filter(|p| p.is_active()).collect();
        active.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
        let mut terminating = pods
            .iter()
            .filter(|p| p.meta.is_being_deleted() && !p.status.phase.is_terminal())
            .count();
        // Newly terminated pods (not counted yet).
        let (mut new_succeeded, mut new_failed) = (0, 0);
        let mut pending = Vec::new();
        {
            let mut counted = self.counted.lock();
            let c = counted.entry(key.clone()).or_default();
            if c.job_uid != job.meta.uid {
                *c = Counted {
                    job_uid: job.meta.uid,
                    ..Counted::default()
                };
            }
            for p in &pods {
                if c.uids.contains(&p.meta.uid) {
                    continue;
                }
                if p.status.phase == PodPhase::Succeeded {
                    new_succeeded += 1;
                } else if p.status.phase == PodPhase::Failed
                    || (is_pod_failed(p) && !c.released.contains(&p.meta.uid))
                {
                    new_failed += 1;
                } else {
                    continue;
                }
                pending.push(p.meta.uid);
            }
            c.pending = pending;
            // Released pods are out of the failure backoff too.
            if !c.released.is_empty() {
                let released = &c.released;
                backoff_pods.retain(|p| {
                    p.status.phase == PodPhase::Failed || !released.contains(&p.meta.uid)
                });
            }
        }
        let mut release: Vec<(ObjectKey, Uid)> = Vec::new();

        let mut status = JobStatus {
            succeeded: st.succeeded + new_succeeded,
            failed: st.failed + new_failed,
            ready: active.iter().filter(|p| p.is_ready()).count() as i32,
            ..st.clone()
        };
        let succeeded = status.succeeded;
        let mut requeue: Option<Duration> = None;

        // 2. Suspend / resume, start time.
        if job.spec.suspend {
            set_condition(
                &mut status.conditions,
                condition("Suspended", "JobSuspended", "Job suspended", now),
            );
        } else {
            if is_true(&status.conditions, "Suspended") {
                let mut c = condition("Suspended", "JobResumed", "Job resumed", now);
                c.status = ConditionStatus::False;
                set_condition(&mut status.conditions, c);
                status.start_time = Some(now);
            }
            if status.start_time.is_none() {
                status.start_time = Some(now);
            }
        }

        // 3. Failure.
        let failing = if is_true(&status.conditions, "FailureTarget") {
            true
        } else if job.spec.suspend {
            false
        } else {
            let restarts: i64 = if job.spec.template.spec.restart_policy == RestartPolicy::OnFailure
            {
                let containers = job.spec.template.spec.containers.len().max(1) as i64;
                pods.iter()
                    .filter(|p| matches!(p.status.phase, PodPhase::Running | PodPhase::Pending))
                    .map(|p| i64::from(p.status.restart_count) * containers)
                    .sum()
            } else {
                0
            };
            let limit = i64::from(job.spec.backoff_limit);
            let past_on_failure = job.spec.template.spec.restart_policy == RestartPolicy::OnFailure
                && if limit == 0 {
                    restarts > 0
                } else {
                    restarts >= limit
                };
            let deadline = match (job.spec.active_deadline_seconds, status.start_time) {
                (Some(s), Some(start)) => Some(start.plus(Duration::from_secs(s.max(0) as u64))),
                _ => None,
            };
            let failure = if status.failed > job.spec.backoff_limit || past_on_failure {
                Some((
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ))
            } else if deadline.is_some_and(|d| d <= now) {
                Some((
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                ))
            } else {
                if let Some(d) = deadline {
                    requeue = earliest(requeue, d.since(now));
                }
                None
            };
            if let Some((reason, message)) = failure {
                set_condition(
                    &mut status.conditions,
                    condition("FailureTarget", reason, message, now),
                );
                ctx.event(&obj, EventType::Warning, reason, message);
            }
            failure.is_some()
        };

        let mut active_count = active.len();
        if failing || job.spec.suspend {
            for p in &active {
                delete_pod(ctx, &obj, p);
                if !failing {
                    release.push((pod_key(p), p.meta.uid));
                }
            }
            terminating += active.len();
            active_count = 0;
            if failing && terminating == 0 {
                let target = find_condition(&status.conditions, "FailureTarget").cloned();
                if let Some(t) = target {
                    let reason = t.reason.as_deref().unwrap_or("");
                    let message = t.message.as_deref().unwrap_or("");
                    set_condition(
                        &mut status.conditions,
                        condition("Failed", reason, message, now),
                    );
                }
            }
        } else if !is_true(&status.conditions, "SuccessCriteriaMet") {
            // 4. Manage pods.
            let want = match job.spec.completions {
                Some(c) => (c - succeeded).clamp(0, job.spec.parallelism.max(0)) as usize,
                None if succeeded > 0 => active.len(),
                None => job.spec.parallelism.max(0) as usize,
            };
            match active.len().cmp(&want) {
                Ordering::Greater => {
                    let n = (active.len() - want).min(MAX_POD_CREATE_DELETE_PER_SYNC);
                    let mut ranked = active.clone();
                    ranked.sort_by(|a, b| compare_for_deletion(a, 0, b, 0, now));
                    for p in &ranked[..n] {
                        delete_pod(ctx, &obj, p);
                        release.push((pod_key(p), p.meta.uid));
                    }
                    active_count -= n;
                    terminating += n;
                }
                Ordering::Less => {
                    let (failures, last) = failures_since_success(&backoff_pods);
                    let wait = last
                        .map(|l| l.plus(failure_backoff(failures)))
                        .filter(|&until| until > now)
                        .map(|until| until.since(now));
                    if let Some(w) = wait {
                        requeue = earliest(requeue, w);
                    } else {
                        let n = (want - active.len()).min(MAX_POD_CREATE_DELETE_PER_SYNC);
                        ctx.create_slow_start(new_pods(job, n))
                            .on_success(
                                &obj,
                                EventType::Normal,
                                "SuccessfulCreate",
                                "Created pod: {name}",
                            )
                            .on_failure(&obj, EventType::Warning, "FailedCreate", "Error creating");
                        active_count += n;
                    }
                }
                Ordering::Equal => {}
            }
            // 5. Success criteria.
            let complete = match job.spec.completions {
                Some(c) => succeeded >= c && active_count == 0,
                None => succeeded > 0 && active_count == 0,
            };
            if complete {
                set_condition(
                    &mut status.conditions,
                    condition(
                        "SuccessCriteriaMet",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                        now,
                    ),
                );
            }
        } else {
            for p in &active {
                delete_pod(ctx, &obj, p);
            }
            terminating += active.len();
            active_count = 0;
        }
        if is_true(&status.conditions, "SuccessCriteriaMet") && terminating == 0 {
            set_condition(
                &mut status.conditions,
                condition(
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    now,
                ),
            );
            status.completion_time = Some(now);
            ctx.event(&obj, EventType::Normal, "Completed", "Job completed");
        }
        status.active = active_count as i32;
        if !release.is_empty() {
            if let Some(c) = self.counted.lock().get_mut(key) {
                c.pending_release = release;
            }
        }
        if status != job.status {
            let mut new = (*obj).clone();
            if let Some(j) = new.as_job_mut() {
                j.status = status;
            }
            ctx.update_status(new);
        }
        Ok(requeue.map_or(Requeue::Done, Requeue::After))
    }

    fn applied(&self, key: &ObjectKey, results: &[WriteResult]) {
        let mut counted = self.counted.lock();
        let Some(c) = counted.get_mut(key) else {
            return;
        };
        let pending = std::mem::take(&mut c.pending);
        for (pod, uid) in std::mem::take(&mut c.pending_release) {
            let deleted = results
                .iter()
                .any(|r| r.verb == Verb::Delete && r.key == pod && r.is_ok());
            if deleted {
                c.released.insert(uid);
            }
        }
        let written = results
            .iter()
            .any(|r| r.verb == Verb::UpdateStatus && &r.key == key && r.is_ok());
        if written {
            c.uids.extend(pending);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{JobSpec, PodTemplateSpec, Uid};
    use crate::selector::LabelSelector;

    fn job() -> Job {
        let mut meta = ObjectMeta::named("default", "pi");
        meta.uid = Uid(42);
        Job {
            meta,
            spec: JobSpec {
                parallelism: 2,
                completions: Some(5),
                backoff_limit: 6,
                template: PodTemplateSpec::default(),
                ..JobSpec::default()
            },
            status: JobStatus::default(),
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(failure_backoff(0), Duration::ZERO);
        assert_eq!(failure_backoff(1), Duration::from_secs(10));
        assert_eq!(failure_backoff(2), Duration::from_secs(20));
        assert_eq!(failure_backoff(6), Duration::from_secs(320));
        assert_eq!(failure_backoff(7), Duration::from_secs(360));
        assert_eq!(failure_backoff(1000), Duration::from_secs(360));
    }

    #[test]
    fn completions_column_shapes() {
        let mut j = job();
        j.status.succeeded = 3;
        assert_eq!(completions_column(&j), "3/5");
        j.spec.completions = None;
        assert_eq!(completions_column(&j), "3/1 of 2");
        j.spec.parallelism = 1;
        assert_eq!(completions_column(&j), "3/1");
        assert_eq!(status_column(&j), "Running");
        j.status
            .conditions
            .push(condition("Complete", "x", "y", Timestamp(0)));
        assert_eq!(status_column(&j), "Complete");
    }

    #[test]
    fn generated_selector_and_labels() {
        let mut j = job();
        j.spec.template.meta.labels = [("app", "pi"), ("job-name", "mine")].into_iter().collect();
        j.spec.selector = LabelSelector::from_labels([("app", "pi")].into_iter().collect());
        let g = generated(&j).unwrap();
        let uid = Uid(42).to_string();
        let sel = &g.spec.selector.match_labels;
        assert_eq!(
            sel.get(LABEL_CONTROLLER_UID).map(|s| s.as_str()),
            Some(uid.as_str())
        );
        assert_eq!(sel.get("app").map(|s| s.as_str()), Some("pi"));
        let l = &g.spec.template.meta.labels;
        assert_eq!(l.get(LABEL_JOB_NAME).map(|s| s.as_str()), Some("pi"));
        assert_eq!(
            l.get(LABEL_LEGACY_CONTROLLER_UID).map(|s| s.as_str()),
            Some(uid.as_str())
        );
        // An existing label is kept.
        assert_eq!(
            l.get(LABEL_LEGACY_JOB_NAME).map(|s| s.as_str()),
            Some("mine")
        );
        assert!(g.spec.selector.matches(l));
        assert!(generated(&g).is_none());
        j.spec.manual_selector = true;
        assert!(generated(&j).is_none());
    }

    fn pod_at(phase: PodPhase, finished: i64) -> Pod {
        Pod {
            meta: ObjectMeta::named("default", "p"),
            spec: Arc::default(),
            node_name: None,
            status: PodStatus {
                phase,
                container_state: ContainerState::Terminated {
                    exit_code: i32::from(phase == PodPhase::Failed),
                    finished_at: Timestamp(finished),
                },
                ..PodStatus::default()
            },
        }
    }

    #[test]
    fn failures_reset_by_a_success() {
        let f1 = pod_at(PodPhase::Failed, 1000);
        let s = pod_at(PodPhase::Succeeded, 2000);
        let f2 = pod_at(PodPhase::Failed, 3000);
        let f3 = pod_at(PodPhase::Failed, 5000);
        assert_eq!(failures_since_success(&[&f1]), (1, Some(Timestamp(1000))));
        assert_eq!(
            failures_since_success(&[&f1, &s, &f3, &f2]),
            (2, Some(Timestamp(5000)))
        );
        assert_eq!(failures_since_success(&[&f1, &s]), (0, None));
    }
}
