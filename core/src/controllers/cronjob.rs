//! The CronJob controller: creates a Job at each time of a CronJob's 5-field schedule
//! (upstream `pkg/controller/cronjob`, the v2 controller).
//!
//! # Schedules
//!
//! [`Schedule::parse`] reads the standard 5-field syntax that upstream's
//! `cron.ParseStandard` (robfig/cron v3) accepts: minute (0–59), hour (0–23), day of
//! month (1–31), month (1–12 or `JAN`–`DEC`), day of week (0–6 or `SUN`–`SAT`); each
//! field a comma list of `*`, `?`, `a`, `a-b`, `*/n`, `a-b/n` or `a/n` (= `a-max/n`);
//! names are case-insensitive. Macros: `@yearly`/`@annually`, `@monthly`, `@weekly`,
//! `@daily`/`@midnight`, `@hourly`. As robfig's: when the day-of-month or the
//! day-of-week field starts with `*` or `?` (without a step above 1), a day must match
//! both fields; otherwise either. [`Schedule::next_after`] is the first matching minute
//! strictly after a time (searched month → day → hour → minute, as robfig's `Next`, for
//! at most five years). Times are UTC (`spec.timeZone` other than UTC is rejected at
//! validation). `@every <duration>` and `TZ=` prefixes are not supported.
//!
//! # Reconcile (`syncCronJob`)
//!
//! Keys are CronJobs; a Job event maps to its controller CronJob.
//!
//! 1. **Active list.** Every Job the CronJob controls: a finished one (condition
//!    Complete or Failed True) that is in `status.active` is removed from it (Event
//!    `SawCompletedJob`), and a Complete one moves `lastSuccessfulTime` to its
//!    `completionTime` when later; an unfinished Job not in the list is added to it
//!    (upstream only records `UnexpectedJob` here: see the simplifications). Entries
//!    whose Job is gone are dropped.
//! 2. A CronJob being deleted, or with an unparseable schedule (Warning
//!    `UnparseableSchedule`, not requeued), stops here; so does a suspended one (after
//!    writing status).
//! 3. **Most recent missed time** (`mostRecentScheduleTime`): the schedule times in
//!    (`earliest`, now], with `earliest` = `lastScheduleTime` or else the creation time,
//!    raised to `now − startingDeadlineSeconds` when that is set. More than
//!    [`MAX_MISSED`] of them: Warning `TooManyMissedTimes` (`too many missed start times:
//!    N. Set or decrease .spec.startingDeadlineSeconds or check clock skew`), and the
//!    most recent is used (scheduling resumes from now). None: requeue at the next
//!    time.
//! 4. **Too late:** `startingDeadlineSeconds` set and the time is more than that long
//!    ago → Warning `MissSchedule`, no Job.
//! 5. The Job `<cronjob>-<scheduled time in minutes since the epoch>` already active or
//!    existing → nothing. **Forbid** with active Jobs → nothing (the missed time is
//!    retried on the next sync, e.g. when the active Job finishes — upstream's
//!    behaviour). **Replace** → every active Job is deleted (background propagation,
//!    Event `SuccessfulDelete`, `Deleted job <name>`).
//! 6. **Create** the Job from `jobTemplate` (labels, annotations plus
//!    `batch.kubernetes.io/cronjob-scheduled-timestamp` = the time in RFC 3339, spec;
//!    controller ownerReference), Event `SuccessfulCreate` (`Created job <name>`); it
//!    joins `status.active` and `lastScheduleTime` becomes the scheduled time.
//! 7. **History:** finished Jobs beyond `successfulJobsHistoryLimit` (Complete) and
//!    `failedJobsHistoryLimit` (Failed), oldest start time first, are deleted
//!    (background propagation; Event `SuccessfulDelete`).
//! 8. Status written when it changed; requeue at the next schedule time after now.
//!
//! # Simplifications (stated)
//!
//! - A created Job's uid is unknown when the reconcile records the create, so its
//!   `status.active` entry first has no uid; the next sync (the Job's `Added` event
//!   triggers one) fills it in. By the same route an unfinished controlled Job missing
//!   from the list is added (upstream records `UnexpectedJob` and leaves it out).
//! - The requeue is at the next schedule time exactly (upstream adds 100 ms).

use std::sync::Arc;

use crate::intern::intern;
use crate::model::{
    find_condition, ConcurrencyPolicy, ConditionStatus, CronJob, EventType, Job, JobStatus, Kind,
    Object, ObjectKey, ObjectMeta, ObjectRef, OwnerReference, PropagationPolicy,
};
use crate::runtime::{map_to_controller, Controller, Ctx, ReconcileError, Requeue, Routed};
use crate::runtime::{route_object, StoreView};
use crate::store::{DeleteOptions, WatchEvent};
use crate::time::Timestamp;

/// The controller's name (the `source` of its Events), as upstream's.
pub const CONTROLLER_NAME: &str = "cronjob-controller";

/// The annotation with a Job's scheduled time (RFC 3339).
pub const ANN_SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// More missed start times than this → Event `TooManyMissedTimes`.
pub const MAX_MISSED: usize = 100;

/// How far ahead [`Schedule::next_after`] searches (years).
const SEARCH_YEARS: i64 = 5;

const MINUTE_MS: i64 = 60_000;

/// A parsed cron schedule: one bit set per allowed value of each field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    /// Day-of-month field started with `*`/`?` (robfig's star bit).
    dom_star: bool,
    /// Day-of-week field started with `*`/`?`.
    dow_star: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// One field's bounds and names.
struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// The value of `names[0]`.
    name_base: u32,
    what: &'static str,
}

const MINUTE: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
    name_base: 0,
    what: "minute",
};
const HOUR: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
    name_base: 0,
    what: "hour",
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
    name_base: 0,
    what: "day of month",
};
const MONTH: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &MONTHS,
    name_base: 1,
    what: "month",
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &DAYS,
    name_base: 0,
    what: "day of week",
};

fn parse_value(s: &str, b: &Bounds) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = b.names.iter().position(|n| *n == lower) {
        return Ok(b.name_base + i as u32);
    }
    s.parse::<u32>()
        .map_err(|_| format!("failed to parse {} value {s:?}", b.what))
}

/// One comma-separated part of a field: the bits and whether it set the star bit.
fn parse_range(expr: &str, b: &Bounds) -> Result<(u64, bool), String> {
    let (range, step) = match expr.split_once('/') {
        Some((r, s)) => {
            let step: u32 = s
                .parse()
                .map_err(|_| format!("failed to parse step {s:?} of {expr:?}"))?;
            (r, Some(step))
        }
        None => (expr, None),
    };
    let mut star = false;
    let (start, mut end, single) = if range == "*" || range == "?" {
        star = true;
        (b.min, b.max, false)
    } else if let Some((lo, hi)) = range.split_once('-') {
        (parse_value(lo, b)?, parse_value(hi, b)?, false)
    } else {
        let v = parse_value(range, b)?;
        (v, v, true)
    };
    let step = match step {
        None => 1,
        Some(s) => {
            if single {
                end = b.max; // "a/n" = "a-max/n"
            }
            if s > 1 {
                star = false;
            }
            s
        }
    };
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    let mut bits = 0u64;
    let mut v = start;
    while v <= end {
        bits |= 1 << v;
        v += step;
    }
    Ok((bits, star))
}

fn parse_field(field: &str, b: &Bounds) -> Result<(u64, bool), String> {
    let mut bits = 0;
    let mut star = false;
    for part in field.split(',') {
        let (b2, s) = parse_range(part, b)?;
        bits |= b2;
        star |= s;
    }
    Ok((bits, star))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The timestamp of a UTC calendar minute.
fn at(y: i64, m: u32, d: u32, h: u32, min: u32) -> Timestamp {
    let days = days_from_civil(y, m, d);
    Timestamp((days * 86_400 + i64::from(h) * 3600 + i64::from(min) * 60) * 1000)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Schedule {
    /// Parses a 5-field schedule or a macro (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// A message naming the bad field or value.
    pub fn parse(spec: &str) -> Result<Schedule, String> {
        let spec = spec.trim();
        let expanded = match spec.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s if s.starts_with('@') => return Err(format!("unrecognized descriptor: {spec}")),
            _ => spec,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: {spec:?}",
                fields.len()
            ));
        }
        let (minute, _) = parse_field(fields[0], &MINUTE)?;
        let (hour, _) = parse_field(fields[1], &HOUR)?;
        let (dom, dom_star) = parse_field(fields[2], &DOM)?;
        let (month, _) = parse_field(fields[3], &MONTH)?;
        let (dow, dow_star) = parse_field(fields[4], &DOW)?;
        Ok(Schedule {
            minute,
            hour,
            dom,
            month,
            dow,
            dom_star,
            dow_star,
        })
    }

    fn day_matches(&self, y: i64, m: u32, d: u32) -> bool {
        let weekday = (days_from_civil(y, m, d) + 4).rem_euclid(7) as u32;
        let dom_ok = self.dom & (1 << d) != 0;
        let dow_ok = self.dow & (1 << weekday) != 0;
        if self.dom_star || self.dow_star {
            dom_ok && dow_ok
        } else {
            dom_ok || dow_ok
        }
    }

    /// The first schedule time strictly after `t` (whole minutes, UTC), or `None`
    /// when there is none within five years (e.g. `0 0 30 2 *`).
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        // The next whole minute after t.
        let start = Timestamp((t.0.div_euclid(MINUTE_MS) + 1) * MINUTE_MS);
        let c = start.calendar();
        let (mut y, mut mo, mut d, mut h, mut mi) = (c.year, c.month, c.day, c.hour, c.minute);
        let limit = y + SEARCH_YEARS;
        loop {
            if y > limit {
                return None;
            }
            if self.month & (1 << mo) == 0 {
                (d, h, mi) = (1, 0, 0);
                mo += 1;
                if mo > 12 {
                    mo = 1;
                    y += 1;
                }
                continue;
            }
            if !self.day_matches(y, mo, d) {
                (h, mi) = (0, 0);
                d += 1;
                if d > days_in_month(y, mo) {
                    d = 1;
                    mo += 1;
                    if mo > 12 {
                        mo = 1;
                        y += 1;
                    }
                }
                continue;
            }
            if self.hour & (1 << h) == 0 {
                mi = 0;
                h += 1;
                if h > 23 {
                    h = 0;
                    d += 1;
                    if d > days_in_month(y, mo) {
                        d = 1;
                        mo += 1;
                        if mo > 12 {
                            mo = 1;
                            y += 1;
                        }
                    }
                }
                continue;
            }
            if self.minute & (1 << mi) == 0 {
                mi += 1;
                if mi > 59 {
                    mi = 0;
                    h += 1;
                    if h > 23 {
                        h = 0;
                        d += 1;
                        if d > days_in_month(y, mo) {
                            d = 1;
                            mo += 1;
                            if mo > 12 {
                                mo = 1;
                                y += 1;
                            }
                        }
                    }
                }
                continue;
            }
            return Some(at(y, mo, d, h, mi));
        }
    }

    /// The schedule times in (`earliest`, `now`]: how many, and the latest.
    pub fn missed(&self, earliest: Timestamp, now: Timestamp) -> (usize, Option<Timestamp>) {
        let mut count = 0;
        let mut last = None;
        let mut t = earliest;
        while let Some(n) = self.next_after(t) {
            if n > now {
                break;
            }
            count += 1;
            last = Some(n);
            t = n;
        }
        (count, last)
    }
}

/// The name of the Job of `cronjob` for `scheduled`: `<cronjob>-<minutes since epoch>`
/// (upstream `getJobName`).
pub fn job_name(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.0.div_euclid(MINUTE_MS))
}

/// The finished condition of a Job: `Complete` or `Failed` with status True.
pub fn finished_condition(status: &JobStatus) -> Option<&'static str> {
    ["Complete", "Failed"].into_iter().find(|t| {
        find_condition(&status.conditions, t).is_some_and(|c| c.status == ConditionStatus::True)
    })
}

/// The CronJob controller (see the [module docs](self)). Stateless.
#[derive(Debug, Default)]
pub struct CronJobController;

impl CronJobController {
    /// A controller.
    pub fn new() -> Self {
        CronJobController
    }
}

fn job_ref(job: &Job) -> ObjectRef {
    ObjectRef {
        kind: Kind::Job,
        namespace: job.meta.namespace.clone(),
        name: job.meta.name.clone(),
        uid: Some(job.meta.uid),
    }
}

fn delete_job(ctx: &mut Ctx<'_>, cj_obj: &Object, ns: &str, name: &str) {
    ctx.delete(
        Kind::Job,
        ns,
        name,
        DeleteOptions::propagation(PropagationPolicy::Background),
    )
    .on_success(
        cj_obj,
        EventType::Normal,
        "SuccessfulDelete",
        format!("Deleted job {name}"),
    )
    .on_failure(
        cj_obj,
        EventType::Warning,
        "FailedDelete",
        format!("Deleted job {name}"),
    );
}

/// The Job made from the CronJob's template for `scheduled` (upstream
/// `getJobFromTemplate2`).
pub fn job_from_template(cj: &CronJob, scheduled: Timestamp) -> Job {
    let t = &cj.spec.job_template;
    let mut meta = ObjectMeta::named(&cj.meta.namespace, &job_name(&cj.meta.name, scheduled));
    meta.labels = t.meta.labels.clone();
    meta.annotations = t
        .meta
        .annotations
        .with(ANN_SCHEDULED_TIMESTAMP, &scheduled.rfc3339());
    meta.owner_references = vec![OwnerReference {
        kind: Kind::CronJob,
        name: cj.meta.name.clone(),
        uid: cj.meta.uid,
        controller: true,
        block_owner_deletion: true,
    }]
    .into();
    Job {
        meta,
        spec: t.spec.clone(),
        status: JobStatus::default(),
    }
}

impl Controller for CronJobController {
    fn name(&self) -> &'static str {
        CONTROLLER_NAME
    }

    fn primary(&self) -> Kind {
        Kind::CronJob
    }

    fn watches(&self) -> &[Kind] {
        &[Kind::Job]
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        match ev.object.kind() {
            Kind::CronJob => out.push(route_object(store, &ev.object)),
            Kind::Job => map_to_controller(ev, store, Kind::CronJob, out),
            _ => {}
        }
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        let store = ctx.store();
        let Some(obj) = store.get_key(key) else {
            return Ok(Requeue::Done);
        };
        let Some(cj) = obj.as_cron_job() else {
            return Err(ReconcileError::new(format!("{key} is not a CronJob")));
        };
        let now = ctx.now();
        let ns = cj.meta.namespace.as_str();
        let mut status = cj.status.clone();

        // 1. The controlled Jobs and the active list.
        let mut jobs: Vec<Arc<Object>> = store
            .dependents_of(cj.meta.uid)
            .into_iter()
            .filter(|o| {
                o.kind() == Kind::Job
                    && o.namespace().as_str() == ns
                    && o.meta()
                        .controller_ref()
                        .is_some_and(|r| r.uid == cj.meta.uid)
            })
            .collect();
        jobs.sort_by(|a, b| a.name().cmp(b.name()));
        for jo in &jobs {
            let Some(j) = jo.as_job() else { continue };
            let pos = status.active.iter().position(|r| r.name == j.meta.name);
            match (pos, finished_condition(&j.status)) {
                (Some(i), Some(cond)) => {
                    status.active.remove(i);
                    ctx.event(
                        &obj,
                        EventType::Normal,
                        "SawCompletedJob",
                        format!("Saw completed job: {}, condition: {cond}", j.meta.name),
                    );
                }
                (Some(i), None) => status.active[i].uid = Some(j.meta.uid),
                (None, None) if !j.meta.is_being_deleted() => status.active.push(job_ref(j)),
                _ => {}
            }
            if finished_condition(&j.status) == Some("Complete") {
                if let Some(t) = j.status.completion_time {
                    if status.last_successful_time.is_none_or(|l| l < t) {
                        status.last_successful_time = Some(t);
                    }
                }
            }
        }
        status.active.retain(|r| {
            jobs.iter()
                .any(|j| j.name() == &r.name && r.uid.is_none_or(|u| u == j.meta().uid))
        });

        // 7. History (of what is already finished).
        let mut finished: Vec<(&Job, &'static str)> = jobs
            .iter()
            .filter_map(|o| o.as_job())
            .filter(|j| !j.meta.is_being_deleted())
            .filter_map(|j| finished_condition(&j.status).map(|c| (j, c)))
            .collect();
        finished.sort_by_key(|(j, _)| (j.status.start_time.is_none(), j.status.start_time));
        for (cond, limit) in [
            ("Complete", cj.spec.successful_jobs_history_limit),
            ("Failed", cj.spec.failed_jobs_history_limit),
        ] {
            let of: Vec<&Job> = finished
                .iter()
                .filter(|(_, c)| *c == cond)
                .map(|(j, _)| *j)
                .collect();
            let excess = of.len().saturating_sub(limit.max(0) as usize);
            for j in &of[..excess] {
                delete_job(ctx, &obj, ns, &j.meta.name);
            }
        }

        let mut requeue = Requeue::Done;
        if !cj.meta.is_being_deleted() {
            match Schedule::parse(&cj.spec.schedule) {
                Err(e) => ctx.event(
                    &obj,
                    EventType::Warning,
                    "UnparseableSchedule",
                    format!(
                        "unparseable schedule: {:?} : {e}",
                        cj.spec.schedule.as_str()
                    ),
                ),
                Ok(_) if cj.spec.suspend => {}
                Ok(sched) => {
                    self.schedule(ctx, &obj, cj, &sched, &jobs, &mut status, now);
                    if let Some(next) = sched.next_after(now) {
                        requeue = Requeue::After(next.since(now));
                    }
                }
            }
        }
        if status != cj.status {
            let mut new = (*obj).clone();
            if let Some(c) = new.as_cron_job_mut() {
                c.status = status;
            }
            ctx.update_status(new);
        }
        Ok(requeue)
    }
}

impl CronJobController {
    /// Steps 3–6 of the module docs.
    #[allow(clippy::too_many_arguments)]
    fn schedule(
        &self,
        ctx: &mut Ctx<'_>,
        obj: &Object,
        cj: &CronJob,
        sched: &Schedule,
        jobs: &[Arc<Object>],
        status: &mut crate::model::CronJobStatus,
        now: Timestamp,
    ) {
        let ns = cj.meta.namespace.as_str();
        let mut earliest = cj
            .status
            .last_schedule_time
            .unwrap_or(cj.meta.creation_timestamp);
        if let Some(sds) = cj.spec.starting_deadline_seconds {
            let floor = Timestamp(now.0 - sds.max(0) * 1000);
            if floor > earliest {
                earliest = floor;
            }
        }
        if earliest > now {
            return;
        }
        let (count, latest) = sched.missed(earliest, now);
        let Some(scheduled) = latest else {
            return;
        };
        if count > MAX_MISSED {
            ctx.event(
                obj,
                EventType::Warning,
                "TooManyMissedTimes",
                format!(
                    "too many missed start times: {count}. Set or decrease \
                     .spec.startingDeadlineSeconds or check clock skew"
                ),
            );
        }
        if let Some(sds) = cj.spec.starting_deadline_seconds {
            if scheduled.0 + sds * 1000 < now.0 {
                ctx.event(
                    obj,
                    EventType::Warning,
                    "MissSchedule",
                    format!(
                        "Missed scheduled time to start a job: {}",
                        scheduled.rfc3339()
                    ),
                );
                return;
            }
        }
        let name = job_name(&cj.meta.name, scheduled);
        if status.active.iter().any(|r| r.name.as_str() == name)
            || ctx.store().try_get(Kind::Job, ns, &name).is_some()
        {
            return;
        }
        match cj.spec.concurrency_policy {
            ConcurrencyPolicy::Forbid if !status.active.is_empty() => return,
            ConcurrencyPolicy::Replace => {
                for r in std::mem::take(&mut status.active) {
                    if jobs.iter().any(|j| j.name() == &r.name) {
                        delete_job(ctx, obj, ns, &r.name);
                    }
                }
            }
            _ => {}
        }
        let job = job_from_template(cj, scheduled);
        status.active.push(ObjectRef {
            kind: Kind::Job,
            namespace: job.meta.namespace.clone(),
            name: intern(&name),
            uid: None,
        });
        status.last_schedule_time = Some(scheduled);
        ctx.create(Object::from(job))
            .on_success(
                obj,
                EventType::Normal,
                "SuccessfulCreate",
                format!("Created job {name}"),
            )
            .on_failure(
                obj,
                EventType::Warning,
                "FailedCreate",
                format!("Error creating job {name}"),
            );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(y: i64, m: u32, d: u32, h: u32, mi: u32) -> Timestamp {
        at(y, m, d, h, mi)
    }

    fn next(s: &str, from: Timestamp) -> Timestamp {
        Schedule::parse(s).unwrap().next_after(from).unwrap()
    }

    #[test]
    fn civil_round_trip() {
        for ts in [
            0,
            951_782_400_000,
            Timestamp::VIRTUAL_EPOCH.0,
            4_102_444_800_000,
        ] {
            let c = Timestamp(ts).calendar();
            assert_eq!(at(c.year, c.month, c.day, c.hour, c.minute), Timestamp(ts));
        }
    }

    #[test]
    fn every_minute_and_steps() {
        let base = t(2024, 1, 1, 0, 0);
        assert_eq!(next("* * * * *", base), t(2024, 1, 1, 0, 1));
        assert_eq!(next("*/1 * * * *", base), t(2024, 1, 1, 0, 1));
        // Strictly after, from the middle of a minute too.
        assert_eq!(
            next("* * * * *", Timestamp(base.0 + 30_000)),
            t(2024, 1, 1, 0, 1)
        );
        assert_eq!(
            next("*/15 * * * *", t(2024, 1, 1, 0, 14)),
            t(2024, 1, 1, 0, 15)
        );
        assert_eq!(
            next("*/15 * * * *", t(2024, 1, 1, 0, 45)),
            t(2024, 1, 1, 1, 0)
        );
        // a/n = a-max/n; a-b/n.
        assert_eq!(
            next("5/20 * * * *", t(2024, 1, 1, 0, 26)),
            t(2024, 1, 1, 0, 45)
        );
        assert_eq!(
            next("10-30/10 * * * *", t(2024, 1, 1, 0, 30)),
            t(2024, 1, 1, 1, 10)
        );
    }

    #[test]
    fn lists_ranges_and_names() {
        let base = t(2024, 1, 1, 0, 0); // a Monday
        assert_eq!(next("0 9,17 * * *", base), t(2024, 1, 1, 9, 0));
        assert_eq!(
            next("0 9,17 * * *", t(2024, 1, 1, 9, 0)),
            t(2024, 1, 1, 17, 0)
        );
        assert_eq!(
            next("30 2 * * 1-5", t(2024, 1, 5, 3, 0)),
            t(2024, 1, 8, 2, 30)
        );
        assert_eq!(next("0 0 * * SAT,sun", base), t(2024, 1, 6, 0, 0));
        assert_eq!(next("0 0 1 MAR *", base), t(2024, 3, 1, 0, 0));
        assert_eq!(next("0 0 1 jun-aug *", base), t(2024, 6, 1, 0, 0));
    }

    #[test]
    fn macros() {
        let base = t(2024, 1, 1, 0, 0);
        assert_eq!(next("@hourly", base), t(2024, 1, 1, 1, 0));
        assert_eq!(next("@daily", base), t(2024, 1, 2, 0, 0));
        assert_eq!(next("@midnight", base), t(2024, 1, 2, 0, 0));
        assert_eq!(next("@weekly", base), t(2024, 1, 7, 0, 0));
        assert_eq!(next("@monthly", base), t(2024, 2, 1, 0, 0));
        assert_eq!(next("@yearly", base), t(2025, 1, 1, 0, 0));
        assert_eq!(next("@annually", base), t(2025, 1, 1, 0, 0));
    }

    #[test]
    fn calendar_edges() {
        // Leap day: next 29 February from 2024-03-01 is in 2028.
        assert_eq!(
            next("0 0 29 2 *", t(2024, 3, 1, 0, 0)),
            t(2028, 2, 29, 0, 0)
        );
        // Day 31 skips short months.
        assert_eq!(
            next("0 0 31 * *", t(2024, 4, 1, 0, 0)),
            t(2024, 5, 31, 0, 0)
        );
        // Year rollover.
        assert_eq!(
            next("59 23 31 12 *", t(2024, 12, 31, 23, 59)),
            t(2025, 12, 31, 23, 59)
        );
        // Never: 30 February.
        assert_eq!(
            Schedule::parse("0 0 30 2 *")
                .unwrap()
                .next_after(t(2024, 1, 1, 0, 0)),
            None
        );
    }

    #[test]
    fn day_of_month_or_week() {
        // Both restricted: either matches (1st of the month OR a Friday).
        let s = "0 0 1 * 5";
        assert_eq!(next(s, t(2024, 1, 1, 0, 0)), t(2024, 1, 5, 0, 0));
        assert_eq!(next(s, t(2024, 1, 26, 0, 0)), t(2024, 2, 1, 0, 0));
        // dow '*': only the day of month.
        assert_eq!(
            next("0 0 13 * *", t(2024, 1, 1, 0, 0)),
            t(2024, 1, 13, 0, 0)
        );
        // dom '*' with dow restricted: both must match → only Fridays.
        assert_eq!(next("0 0 * * 5", t(2024, 1, 1, 0, 0)), t(2024, 1, 5, 0, 0));
        // '*/2' in dom is not a star: OR semantics with dow.
        assert_eq!(
            next("0 0 */2 * 1", t(2024, 1, 1, 0, 0)),
            t(2024, 1, 3, 0, 0)
        );
        assert_eq!(
            next("0 0 */10 * 2", t(2024, 1, 1, 0, 0)),
            t(2024, 1, 2, 0, 0)
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "* * * *",
            "* * * * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 7",
            "5-1 * * * *",
            "*/0 * * * *",
            "x * * * *",
            "@every 5m",
            "@fortnightly",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn missed_times_and_names() {
        let s = Schedule::parse("*/1 * * * *").unwrap();
        let (n, last) = s.missed(t(2024, 1, 1, 0, 0), t(2024, 1, 1, 0, 5));
        assert_eq!((n, last), (5, Some(t(2024, 1, 1, 0, 5))));
        assert_eq!(
            s.missed(
                t(2024, 1, 1, 0, 0),
                Timestamp(t(2024, 1, 1, 0, 0).0 + 59_000)
            ),
            (0, None)
        );
        assert_eq!(
            job_name("every-minute", t(2024, 1, 1, 0, 1)),
            "every-minute-28401121"
        );
    }
}
