//! Workloads (ReplicaSet, Deployment, DaemonSet, StatefulSet, Job, CronJob) and the
//! HorizontalPodAutoscaler: conversion, API-server defaulting and validation.

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::autoscaling::v2 as autoscaling;
use k8s_openapi::api::batch::v1 as batch;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use serde_json::Value;

use super::cron;
use super::field::{at, go_map, idx, non_negative, quote, FieldError, FieldResult};
use super::meta::{
    bytes, cpu_millis, int_or_string, label_selector, object_meta, one_of, template_meta,
};
use super::pod::{pod_template, pod_template_with};
use super::storage::pvc_spec;
use crate::intern::{intern, Str};
use crate::model::*;
use crate::selector::LabelSelector;

/// Whether the raw document has a non-null `spec.selector` (the typed structs default a
/// missing selector to an empty one).
fn has_selector(raw: &Value) -> bool {
    raw.get("spec")
        .and_then(|s| s.get("selector"))
        .is_some_and(|v| !v.is_null())
}

/// `spec.selector: Required value` unless the document has one.
fn require_selector(raw: &Value) -> FieldResult<()> {
    if !has_selector(raw) {
        return Err(FieldError::required("spec.selector", ""));
    }
    Ok(())
}

/// A workload's selector: non-empty and matching the template's labels.
fn workload_selector(
    sel: &meta::LabelSelector,
    template: &PodTemplateSpec,
    what: &str,
) -> FieldResult<LabelSelector> {
    let s = label_selector(sel, "spec.selector")?;
    if s.is_empty() {
        return Err(FieldError::invalid(
            "spec.selector",
            "{}",
            &format!("empty selector is invalid for {what}"),
        ));
    }
    check_template_labels(&s, template, "spec.template.metadata.labels")?;
    Ok(s)
}

fn check_template_labels(
    s: &LabelSelector,
    template: &PodTemplateSpec,
    path: &str,
) -> FieldResult<()> {
    if !s.matches(&template.meta.labels) {
        return Err(FieldError::invalid(
            path,
            go_map(
                template
                    .meta
                    .labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            ),
            "`selector` does not match template `labels`",
        ));
    }
    Ok(())
}

/// ReplicaSets, Deployments, DaemonSets and StatefulSets run pods that always restart.
fn template_restarts_always(t: &PodTemplateSpec) -> FieldResult<()> {
    if t.spec.restart_policy != RestartPolicy::Always {
        return Err(FieldError::unsupported(
            "spec.template.spec.restartPolicy",
            t.spec.restart_policy.as_str(),
            &["Always"],
        ));
    }
    Ok(())
}

fn replicas(v: Option<i32>) -> FieldResult<i32> {
    let r = v.unwrap_or(1);
    non_negative("spec.replicas", i64::from(r))?;
    Ok(r)
}

fn non_negative_opt(path: &str, v: Option<i32>, default: i32) -> FieldResult<i32> {
    let v = v.unwrap_or(default);
    non_negative(path, i64::from(v))?;
    Ok(v)
}

/// `spec.minReadySeconds`: 0 unless given.
fn min_ready_seconds(v: Option<i32>) -> FieldResult<i32> {
    non_negative_opt("spec.minReadySeconds", v, 0)
}

/// `spec.revisionHistoryLimit`: 10 unless given.
fn revision_history_limit(v: Option<i32>) -> FieldResult<i32> {
    non_negative_opt("spec.revisionHistoryLimit", v, 10)
}

/// What ReplicaSets, Deployments, DaemonSets and StatefulSets check alike, in this
/// order: a selector is given, the template is valid, the selector is non-empty and
/// matches the template's labels, and the template's pods always restart. Returns
/// (selector, template).
fn selector_and_template(
    raw: &Value,
    selector: &meta::LabelSelector,
    template: Option<&core::PodTemplateSpec>,
    what: &str,
    claims: &[&str],
) -> FieldResult<(LabelSelector, PodTemplateSpec)> {
    require_selector(raw)?;
    let template = pod_template_with(template, "spec.template", claims)?;
    let selector = workload_selector(selector, &template, what)?;
    template_restarts_always(&template)?;
    Ok((selector, template))
}

/// A DaemonSet's or StatefulSet's `spec.updateStrategy.type`.
fn update_strategy_type(type_: Option<&str>) -> FieldResult<&str> {
    one_of(
        type_,
        "RollingUpdate",
        &["OnDelete", "RollingUpdate"],
        "spec.updateStrategy.type",
    )
}

/// `apps/v1 ReplicaSet`.
pub(crate) fn replica_set(rs: &apps::ReplicaSet, raw: &Value) -> FieldResult<ReplicaSet> {
    let meta = object_meta(&rs.metadata, Kind::ReplicaSet)?;
    let s = &rs.spec;
    let replicas = replicas(s.replicas)?;
    let (selector, template) =
        selector_and_template(raw, &s.selector, s.template.as_ref(), "deployment", &[])?;
    let min_ready_seconds = min_ready_seconds(s.min_ready_seconds)?;
    Ok(ReplicaSet {
        meta,
        spec: ReplicaSetSpec {
            replicas,
            min_ready_seconds,
            selector,
            template,
        },
        status: ReplicaSetStatus::default(),
    })
}

/// `apps/v1 Deployment`.
pub(crate) fn deployment(d: &apps::Deployment, raw: &Value) -> FieldResult<Deployment> {
    let meta = object_meta(&d.metadata, Kind::Deployment)?;
    let s = &d.spec;
    let replicas = replicas(s.replicas)?;
    let (selector, template) =
        selector_and_template(raw, &s.selector, Some(&s.template), "deployment", &[])?;
    let strategy = deployment_strategy(s.strategy.as_ref())?;
    let min_ready_seconds = min_ready_seconds(s.min_ready_seconds)?;
    let revision_history_limit = revision_history_limit(s.revision_history_limit)?;
    let progress_deadline_seconds = non_negative_opt(
        "spec.progressDeadlineSeconds",
        s.progress_deadline_seconds,
        600,
    )?;
    if progress_deadline_seconds <= min_ready_seconds {
        return Err(FieldError::invalid(
            "spec.progressDeadlineSeconds",
            progress_deadline_seconds,
            "must be greater than minReadySeconds",
        ));
    }
    Ok(Deployment {
        meta,
        spec: DeploymentSpec {
            replicas,
            selector,
            template,
            strategy,
            min_ready_seconds,
            revision_history_limit,
            paused: s.paused.unwrap_or(false),
            progress_deadline_seconds,
        },
        status: DeploymentStatus::default(),
    })
}

fn deployment_strategy(s: Option<&apps::DeploymentStrategy>) -> FieldResult<DeploymentStrategy> {
    let empty = apps::DeploymentStrategy::default();
    let s = s.unwrap_or(&empty);
    let ty = one_of(
        s.type_.as_deref(),
        "RollingUpdate",
        &["Recreate", "RollingUpdate"],
        "spec.strategy.type",
    )?;
    if ty == "Recreate" {
        if s.rolling_update.is_some() {
            return Err(FieldError::forbidden(
                "spec.strategy.rollingUpdate",
                "may not be specified when strategy `type` is 'Recreate'",
            ));
        }
        return Ok(DeploymentStrategy::Recreate);
    }
    let ru = s.rolling_update.as_ref();
    let pct25 = || IntOrString::String(intern("25%"));
    let max_surge = ru
        .and_then(|r| r.max_surge.as_ref())
        .map_or_else(pct25, int_or_string);
    let max_unavailable = ru
        .and_then(|r| r.max_unavailable.as_ref())
        .map_or_else(pct25, int_or_string);
    rolling_bounds(&max_surge, &max_unavailable, "spec.strategy.rollingUpdate")?;
    Ok(DeploymentStrategy::RollingUpdate {
        max_surge,
        max_unavailable,
    })
}

/// `maxSurge`/`maxUnavailable`: non-negative ints or `N%`; maxUnavailable ≤ 100%; not
/// both zero (`ValidateRollingUpdateDeployment`).
fn rolling_bounds(
    max_surge: &IntOrString,
    max_unavailable: &IntOrString,
    path: &str,
) -> FieldResult<()> {
    let surge = int_or_percent(max_surge, &at(path, "maxSurge"))?;
    let unavailable = int_or_percent(max_unavailable, &at(path, "maxUnavailable"))?;
    if matches!(max_unavailable, IntOrString::String(_)) && unavailable > 100 {
        return Err(FieldError::invalid(
            at(path, "maxUnavailable"),
            render_int_or_string(max_unavailable),
            "must not be greater than 100%",
        ));
    }
    if surge == 0 && unavailable == 0 {
        return Err(FieldError::invalid(
            at(path, "maxUnavailable"),
            render_int_or_string(max_unavailable),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
    Ok(())
}

/// A DaemonSet's `rollingUpdate` (upstream `ValidateRollingUpdateDaemonSet`): both
/// fields non-negative ints or `N%`, neither above 100%, and exactly one of them
/// non-zero.
fn daemon_set_rolling_bounds(
    max_surge: &IntOrString,
    max_unavailable: &IntOrString,
) -> FieldResult<()> {
    const PATH: &str = "spec.updateStrategy.rollingUpdate";
    let unavailable = int_or_percent(max_unavailable, &at(PATH, "maxUnavailable"))?;
    let surge = int_or_percent(max_surge, &at(PATH, "maxSurge"))?;
    for (v, n, name) in [
        (max_unavailable, unavailable, "maxUnavailable"),
        (max_surge, surge, "maxSurge"),
    ] {
        if matches!(v, IntOrString::String(_)) && n > 100 {
            return Err(FieldError::invalid(
                at(PATH, name),
                render_int_or_string(v),
                "must not be greater than 100%",
            ));
        }
    }
    match (unavailable != 0, surge != 0) {
        (true, true) => Err(FieldError::invalid(
            at(PATH, "maxSurge"),
            render_int_or_string(max_surge),
            "may not be set when maxUnavailable is non-zero",
        )),
        (false, false) => Err(FieldError::required(
            at(PATH, "maxUnavailable"),
            "cannot be 0 when maxSurge is 0",
        )),
        _ => Ok(()),
    }
}

fn render_int_or_string(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => quote(s),
    }
}

/// The number in an int or a `N%` string.
fn int_or_percent(v: &IntOrString, path: &str) -> FieldResult<i64> {
    let n = match v {
        IntOrString::Int(i) => i64::from(*i),
        IntOrString::String(s) => s
            .strip_suffix('%')
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<i64>().ok())
            .ok_or_else(|| {
                FieldError::invalid(
                    path,
                    quote(s),
                    "a valid percent string must be a numeric string followed by an ending '%' \
                     (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                )
            })?,
    };
    non_negative(path, n)?;
    Ok(n)
}

/// `apps/v1 DaemonSet`.
pub(crate) fn daemon_set(ds: &apps::DaemonSet, raw: &Value) -> FieldResult<DaemonSet> {
    let meta = object_meta(&ds.metadata, Kind::DaemonSet)?;
    let s = &ds.spec;
    let (selector, template) =
        selector_and_template(raw, &s.selector, Some(&s.template), "daemonset", &[])?;
    let empty_strategy = apps::DaemonSetUpdateStrategy::default();
    let us = s.update_strategy.as_ref().unwrap_or(&empty_strategy);
    let ty = update_strategy_type(us.type_.as_deref())?;
    let update_strategy = if ty == "OnDelete" {
        // Upstream `ValidateDaemonSetUpdateStrategy` checks nothing under OnDelete: a
        // `rollingUpdate` given with it (e.g. kept by `kubectl apply` from the live
        // object) is accepted, unvalidated, and unused.
        DaemonSetUpdateStrategy::OnDelete
    } else {
        let ru = us.rolling_update.as_ref();
        let max_unavailable = ru
            .and_then(|r| r.max_unavailable.as_ref())
            .map_or(IntOrString::Int(1), int_or_string);
        let max_surge = ru
            .and_then(|r| r.max_surge.as_ref())
            .map_or(IntOrString::Int(0), int_or_string);
        daemon_set_rolling_bounds(&max_surge, &max_unavailable)?;
        DaemonSetUpdateStrategy::RollingUpdate {
            max_unavailable,
            max_surge,
        }
    };
    Ok(DaemonSet {
        meta,
        spec: DaemonSetSpec {
            selector,
            template,
            update_strategy,
            min_ready_seconds: min_ready_seconds(s.min_ready_seconds)?,
            revision_history_limit: revision_history_limit(s.revision_history_limit)?,
        },
        status: DaemonSetStatus::default(),
    })
}

/// `apps/v1 StatefulSet`.
pub(crate) fn stateful_set(sts: &apps::StatefulSet, raw: &Value) -> FieldResult<StatefulSet> {
    let meta = object_meta(&sts.metadata, Kind::StatefulSet)?;
    let s = &sts.spec;
    let replicas = replicas(s.replicas)?;
    // The claim templates' volumes are added to every pod: mounts may name them.
    let claims: Vec<&str> = s
        .volume_claim_templates
        .iter()
        .flatten()
        .filter_map(|c| c.metadata.name.as_deref())
        .collect();
    let (selector, template) =
        selector_and_template(raw, &s.selector, Some(&s.template), "statefulset", &claims)?;

    let service_name = s.service_name.as_deref().unwrap_or("");
    if !service_name.is_empty() {
        crate::validation::dns1123_label(service_name).map_err(|e| {
            FieldError::invalid(
                "spec.serviceName",
                quote(service_name),
                super::field::detail(&e),
            )
        })?;
    }
    let pod_management_policy = match one_of(
        s.pod_management_policy.as_deref(),
        "OrderedReady",
        &["OrderedReady", "Parallel"],
        "spec.podManagementPolicy",
    )? {
        "Parallel" => PodManagementPolicy::Parallel,
        _ => PodManagementPolicy::OrderedReady,
    };

    let empty_strategy = apps::StatefulSetUpdateStrategy::default();
    let us = s.update_strategy.as_ref().unwrap_or(&empty_strategy);
    let ty = update_strategy_type(us.type_.as_deref())?;
    let update_strategy = if ty == "OnDelete" {
        if us.rolling_update.is_some() {
            return Err(FieldError::invalid(
                "spec.updateStrategy.rollingUpdate",
                "{...}",
                "only allowed for updateStrategy 'RollingUpdate'",
            ));
        }
        StatefulSetUpdateStrategy::OnDelete
    } else {
        let partition = us
            .rolling_update
            .as_ref()
            .and_then(|r| r.partition)
            .unwrap_or(0);
        non_negative(
            "spec.updateStrategy.rollingUpdate.partition",
            i64::from(partition),
        )?;
        StatefulSetUpdateStrategy::RollingUpdate { partition }
    };

    let mut volume_claim_templates: Vec<PvcTemplate> = Vec::new();
    for (i, pvc) in s.volume_claim_templates.iter().flatten().enumerate() {
        let p = idx("spec.volumeClaimTemplates", i);
        let name = pvc.metadata.name.as_deref().unwrap_or("");
        if name.is_empty() {
            return Err(FieldError::required(
                at(&p, "metadata.name"),
                "name or generateName is required",
            ));
        }
        crate::validation::dns1123_subdomain(name).map_err(|e| {
            FieldError::invalid(
                at(&p, "metadata.name"),
                quote(name),
                super::field::detail(&e),
            )
        })?;
        if volume_claim_templates
            .iter()
            .any(|t| t.name.as_str() == name)
        {
            return Err(FieldError::duplicate(at(&p, "metadata.name"), name));
        }
        let meta = template_meta(Some(&pvc.metadata), &at(&p, "metadata"))?;
        let empty_spec = Default::default();
        let spec = pvc_spec(pvc.spec.as_ref().unwrap_or(&empty_spec), &at(&p, "spec"))?;
        volume_claim_templates.push(PvcTemplate {
            name: Str::new(name),
            meta,
            spec,
        });
    }

    let retention = |v: Option<&str>, field: &str| -> FieldResult<PvcRetention> {
        let p = at("spec.persistentVolumeClaimRetentionPolicy", field);
        Ok(match one_of(v, "Retain", &["Retain", "Delete"], &p)? {
            "Delete" => PvcRetention::Delete,
            _ => PvcRetention::Retain,
        })
    };
    let policy = s.persistent_volume_claim_retention_policy.as_ref();
    let pvc_retention_when_deleted = retention(
        policy.and_then(|p| p.when_deleted.as_deref()),
        "whenDeleted",
    )?;
    let pvc_retention_when_scaled =
        retention(policy.and_then(|p| p.when_scaled.as_deref()), "whenScaled")?;

    Ok(StatefulSet {
        meta,
        spec: StatefulSetSpec {
            replicas,
            selector,
            template,
            service_name: intern(service_name),
            pod_management_policy,
            update_strategy,
            volume_claim_templates,
            pvc_retention_when_deleted,
            pvc_retention_when_scaled,
            min_ready_seconds: min_ready_seconds(s.min_ready_seconds)?,
            revision_history_limit: revision_history_limit(s.revision_history_limit)?,
        },
        status: StatefulSetStatus::default(),
    })
}

/// Label keys the API server generates on a Job's selector and pod template.
const JOB_GENERATED_KEYS: [&str; 4] = [
    "batch.kubernetes.io/controller-uid",
    "controller-uid",
    "batch.kubernetes.io/job-name",
    "job-name",
];

/// A Job spec (of a Job, or of a CronJob's `jobTemplate`), defaulted as
/// `SetDefaults_Job` does.
fn job_spec(s: &batch::JobSpec, path: &str) -> FieldResult<JobSpec> {
    let (parallelism, completions) = match (s.parallelism, s.completions) {
        (None, None) => (1, Some(1)),
        (p, c) => (p.unwrap_or(1), c),
    };
    non_negative(&at(path, "parallelism"), i64::from(parallelism))?;
    if let Some(c) = completions {
        non_negative(&at(path, "completions"), i64::from(c))?;
    }
    let backoff_limit = non_negative_opt(&at(path, "backoffLimit"), s.backoff_limit, 6)?;
    if let Some(d) = s.active_deadline_seconds {
        non_negative(&at(path, "activeDeadlineSeconds"), d)?;
    }
    if let Some(t) = s.ttl_seconds_after_finished {
        non_negative(&at(path, "ttlSecondsAfterFinished"), i64::from(t))?;
    }
    one_of(
        s.completion_mode.as_deref(),
        "NonIndexed",
        &["NonIndexed"],
        &at(path, "completionMode"),
    )
    .map_err(|e| {
        FieldError::new(
            e.field,
            format!("{} (kubesim simulates NonIndexed Jobs only)", e.reason),
        )
    })?;

    let template = pod_template(Some(&s.template), &at(path, "template"))?;
    if template.spec.restart_policy == RestartPolicy::Always {
        return Err(FieldError::unsupported(
            at(path, "template.spec.restartPolicy"),
            "Always",
            &["OnFailure", "Never"],
        ));
    }

    let manual_selector = s.manual_selector.unwrap_or(false);
    let selector = match &s.selector {
        None if manual_selector => return Err(FieldError::required(at(path, "selector"), "")),
        None => LabelSelector::default(),
        Some(sel) => label_selector(sel, &at(path, "selector"))?,
    };
    if manual_selector {
        if selector.is_empty() {
            return Err(FieldError::invalid(
                at(path, "selector"),
                "{}",
                "empty selector is invalid for job",
            ));
        }
        check_template_labels(&selector, &template, &at(path, "template.metadata.labels"))?;
    } else {
        // The API server adds its generated keys to the selector and the template; what
        // the user wrote besides them must still match the template.
        let own = LabelSelector {
            match_labels: selector
                .match_labels
                .iter()
                .filter(|(k, _)| !JOB_GENERATED_KEYS.contains(&k.as_str()))
                .collect(),
            match_expressions: selector
                .match_expressions
                .iter()
                .filter(|r| !JOB_GENERATED_KEYS.contains(&r.key.as_str()))
                .cloned()
                .collect(),
        };
        check_template_labels(&own, &template, &at(path, "template.metadata.labels"))?;
    }

    Ok(JobSpec {
        parallelism,
        completions,
        backoff_limit,
        active_deadline_seconds: s.active_deadline_seconds,
        ttl_seconds_after_finished: s.ttl_seconds_after_finished,
        suspend: s.suspend.unwrap_or(false),
        selector,
        manual_selector,
        template,
    })
}

/// `batch/v1 Job`.
pub(crate) fn job(j: &batch::Job) -> FieldResult<Job> {
    let meta = object_meta(&j.metadata, Kind::Job)?;
    let empty = batch::JobSpec::default();
    let spec = job_spec(j.spec.as_ref().unwrap_or(&empty), "spec")?;
    Ok(Job {
        meta,
        spec,
        status: JobStatus::default(),
    })
}

/// Longest CronJob name: its Jobs append an 11-character suffix and must stay ≤ 63.
const CRONJOB_NAME_MAX: usize = 52;

/// `batch/v1 CronJob`.
pub(crate) fn cron_job(c: &batch::CronJob) -> FieldResult<CronJob> {
    let meta = object_meta(&c.metadata, Kind::CronJob)?;
    if meta.name.len() > CRONJOB_NAME_MAX {
        return Err(FieldError::invalid(
            "metadata.name",
            quote(&meta.name),
            &format!("must be no more than {CRONJOB_NAME_MAX} characters"),
        ));
    }
    let s = &c.spec;
    if s.schedule.is_empty() {
        return Err(FieldError::required("spec.schedule", ""));
    }
    cron::validate(&s.schedule)
        .map_err(|e| FieldError::invalid("spec.schedule", quote(&s.schedule), &e))?;
    let time_zone = match s.time_zone.as_deref() {
        None => None,
        Some(tz @ ("UTC" | "Etc/UTC")) => Some(intern(tz)),
        Some(tz) => {
            return Err(FieldError::invalid(
                "spec.timeZone",
                quote(tz),
                "kubesim simulates the UTC time zone only",
            ))
        }
    };
    if let Some(d) = s.starting_deadline_seconds {
        non_negative("spec.startingDeadlineSeconds", d)?;
    }
    let concurrency_policy = match one_of(
        s.concurrency_policy.as_deref(),
        "Allow",
        &["Allow", "Forbid", "Replace"],
        "spec.concurrencyPolicy",
    )? {
        "Forbid" => ConcurrencyPolicy::Forbid,
        "Replace" => ConcurrencyPolicy::Replace,
        _ => ConcurrencyPolicy::Allow,
    };
    let jt = &s.job_template;
    let job_meta = template_meta(jt.metadata.as_ref(), "spec.jobTemplate.metadata")?;
    let empty_spec = batch::JobSpec::default();
    let job = job_spec(
        jt.spec.as_ref().unwrap_or(&empty_spec),
        "spec.jobTemplate.spec",
    )?;
    Ok(CronJob {
        meta,
        spec: CronJobSpec {
            schedule: Str::new(&s.schedule),
            time_zone,
            starting_deadline_seconds: s.starting_deadline_seconds,
            concurrency_policy,
            suspend: s.suspend.unwrap_or(false),
            job_template: JobTemplate {
                meta: job_meta,
                spec: job,
            },
            successful_jobs_history_limit: non_negative_opt(
                "spec.successfulJobsHistoryLimit",
                s.successful_jobs_history_limit,
                3,
            )?,
            failed_jobs_history_limit: non_negative_opt(
                "spec.failedJobsHistoryLimit",
                s.failed_jobs_history_limit,
                1,
            )?,
        },
        status: CronJobStatus::default(),
    })
}

/// Default CPU utilization target of an HPA without metrics.
const DEFAULT_CPU_UTILIZATION: i32 = 80;
/// Longest stabilization window upstream allows (one hour).
const MAX_STABILIZATION_WINDOW_SECONDS: i32 = 3600;
/// Longest scaling-policy period upstream allows (30 minutes).
const MAX_POLICY_PERIOD_SECONDS: i32 = 1800;

/// `autoscaling/v2 HorizontalPodAutoscaler`.
pub(crate) fn hpa(
    h: &autoscaling::HorizontalPodAutoscaler,
) -> FieldResult<HorizontalPodAutoscaler> {
    let meta = object_meta(&h.metadata, Kind::HorizontalPodAutoscaler)?;
    let s = &h.spec;
    let r = &s.scale_target_ref;
    if r.kind.is_empty() {
        return Err(FieldError::required("spec.scaleTargetRef.kind", ""));
    }
    if r.name.is_empty() {
        return Err(FieldError::required("spec.scaleTargetRef.name", ""));
    }
    crate::validation::dns1123_subdomain(&r.name).map_err(|e| {
        FieldError::invalid(
            "spec.scaleTargetRef.name",
            quote(&r.name),
            super::field::detail(&e),
        )
    })?;
    let scale_target_ref = ScaleTargetRef {
        api_version: intern(r.api_version.as_deref().unwrap_or("")),
        kind: intern(&r.kind),
        name: Str::new(&r.name),
    };
    let min_replicas = s.min_replicas.unwrap_or(1);
    if min_replicas < 1 {
        return Err(FieldError::invalid(
            "spec.minReplicas",
            min_replicas,
            "must be greater than or equal to 1",
        ));
    }
    if s.max_replicas < 1 {
        return Err(FieldError::invalid(
            "spec.maxReplicas",
            s.max_replicas,
            "must be greater than 0",
        ));
    }
    if s.max_replicas < min_replicas {
        return Err(FieldError::invalid(
            "spec.maxReplicas",
            s.max_replicas,
            "must be greater than or equal to `minReplicas`",
        ));
    }

    let mut metrics = Vec::new();
    for (i, m) in s.metrics.iter().flatten().enumerate() {
        metrics.push(metric(m, &idx("spec.metrics", i))?);
    }
    if metrics.is_empty() {
        metrics.push(MetricSpec {
            resource: intern("cpu"),
            target: MetricTarget::Utilization(DEFAULT_CPU_UTILIZATION),
        });
    }

    let behavior = s.behavior.as_ref();
    let scale_up = scaling_rules(
        behavior.and_then(|b| b.scale_up.as_ref()),
        HpaScalingRules::default_scale_up(),
        "spec.behavior.scaleUp",
    )?;
    let scale_down = scaling_rules(
        behavior.and_then(|b| b.scale_down.as_ref()),
        HpaScalingRules::default_scale_down(),
        "spec.behavior.scaleDown",
    )?;
    Ok(HorizontalPodAutoscaler {
        meta,
        spec: HpaSpec {
            scale_target_ref,
            min_replicas,
            max_replicas: s.max_replicas,
            metrics,
            scale_up,
            scale_down,
        },
        status: HpaStatus::default(),
    })
}

fn metric(m: &autoscaling::MetricSpec, path: &str) -> FieldResult<MetricSpec> {
    one_of(Some(m.type_.as_str()), "", &["Resource"], &at(path, "type")).map_err(|e| {
        FieldError::new(
            e.field,
            format!("{} (kubesim simulates Resource metrics only)", e.reason),
        )
    })?;
    let Some(res) = &m.resource else {
        return Err(FieldError::required(
            at(path, "resource"),
            "must populate information for the given metric source",
        ));
    };
    let rp = at(path, "resource");
    let name = one_of(
        Some(res.name.as_str()),
        "",
        &["cpu", "memory"],
        &at(&rp, "name"),
    )?;
    let tp = at(&rp, "target");
    let t = &res.target;
    let target = match one_of(
        Some(t.type_.as_str()),
        "",
        &["Utilization", "AverageValue"],
        &at(&tp, "type"),
    )? {
        "Utilization" => {
            let u = t.average_utilization.ok_or_else(|| {
                FieldError::required(
                    at(&tp, "averageUtilization"),
                    "must set averageUtilization for type Utilization",
                )
            })?;
            if u <= 0 {
                return Err(FieldError::invalid(
                    at(&tp, "averageUtilization"),
                    u,
                    "must be greater than 0",
                ));
            }
            MetricTarget::Utilization(u)
        }
        _ => {
            let q = t.average_value.as_ref().ok_or_else(|| {
                FieldError::required(
                    at(&tp, "averageValue"),
                    "must set averageValue for type AverageValue",
                )
            })?;
            let p = at(&tp, "averageValue");
            let v = if name == "cpu" {
                cpu_millis(q, &p)?
            } else {
                bytes(q, &p)?
            };
            if v <= 0 {
                return Err(FieldError::invalid(p, quote(&q.0), "must be positive"));
            }
            MetricTarget::AverageValue(v)
        }
    };
    Ok(MetricSpec {
        resource: intern(name),
        target,
    })
}

/// Scaling rules with the user's parts merged over the defaults (as
/// `GenerateHPAScaleUpRules`/`GenerateHPAScaleDownRules` do).
fn scaling_rules(
    r: Option<&autoscaling::HPAScalingRules>,
    defaults: HpaScalingRules,
    path: &str,
) -> FieldResult<HpaScalingRules> {
    let Some(r) = r else { return Ok(defaults) };
    let mut out = defaults;
    if let Some(w) = r.stabilization_window_seconds {
        if !(0..=MAX_STABILIZATION_WINDOW_SECONDS).contains(&w) {
            return Err(FieldError::invalid(
                at(path, "stabilizationWindowSeconds"),
                w,
                &format!("must be greater than or equal to zero and less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"),
            ));
        }
        out.stabilization_window_seconds = w;
    }
    if let Some(p) = r.select_policy.as_deref() {
        out.select_policy = match one_of(
            Some(p),
            "",
            &["Max", "Min", "Disabled"],
            &at(path, "selectPolicy"),
        )? {
            "Min" => SelectPolicy::Min,
            "Disabled" => SelectPolicy::Disabled,
            _ => SelectPolicy::Max,
        };
    }
    if let Some(policies) = &r.policies {
        if policies.is_empty() {
            return Err(FieldError::required(
                at(path, "policies"),
                "must specify at least one Policy",
            ));
        }
        out.policies.clear();
        for (i, p) in policies.iter().enumerate() {
            let pp = idx(&at(path, "policies"), i);
            let type_ = match one_of(
                Some(p.type_.as_str()),
                "",
                &["Pods", "Percent"],
                &at(&pp, "type"),
            )? {
                "Pods" => HpaPolicyType::Pods,
                _ => HpaPolicyType::Percent,
            };
            if p.value <= 0 {
                return Err(FieldError::invalid(
                    at(&pp, "value"),
                    p.value,
                    "must be greater than zero",
                ));
            }
            if !(1..=MAX_POLICY_PERIOD_SECONDS).contains(&p.period_seconds) {
                return Err(FieldError::invalid(
                    at(&pp, "periodSeconds"),
                    p.period_seconds,
                    &format!("must be greater than zero and less than or equal to {MAX_POLICY_PERIOD_SECONDS}"),
                ));
            }
            out.policies.push(HpaPolicy {
                type_,
                value: p.value,
                period_seconds: p.period_seconds,
            });
        }
    }
    Ok(out)
}
