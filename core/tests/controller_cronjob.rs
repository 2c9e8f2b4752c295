//! The CronJob controller in a simulated cluster, in virtual time (with the Job
//! controller and the kubelet running the Jobs' pods).

mod common;

use std::sync::Arc;
use std::time::Duration;

use kubesim_core::cluster::{Cluster, ClusterConfig, NodeSpecs};
use kubesim_core::controllers::cronjob::{finished_condition, job_name, ANN_SCHEDULED_TIMESTAMP};
use kubesim_core::manifest;
use kubesim_core::model::{CronJob, Kind, Object};
use kubesim_core::time::Timestamp;

const MIN: Duration = Duration::from_secs(60);

fn cluster() -> Cluster {
    Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(2),
        ..ClusterConfig::default()
    })
    .unwrap()
}

fn apply(c: &mut Cluster, yaml: &str) {
    c.apply(manifest::load_str(yaml, "test.yaml").unwrap())
        .unwrap();
}

/// A CronJob manifest: extra `spec` lines (indented 2), the pods' run time and exit.
fn cron_yaml(name: &str, schedule: &str, spec: &str, run_time: &str, exit: i32) -> String {
    format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: {name}\nspec:\n  schedule: \
         \"{schedule}\"\n{spec}  jobTemplate:\n    metadata:\n      labels: {{team: a}}\n    \
         spec:\n      backoffLimit: 0\n      template:\n        metadata:\n          \
         annotations:\n            kubesim.io/run-time: {run_time}\n            \
         kubesim.io/exit-code: \"{exit}\"\n        spec:\n          restartPolicy: Never\n          \
         containers:\n          - name: c\n            image: busybox:1.36\n"
    )
}

fn cron(c: &Cluster, name: &str) -> CronJob {
    c.store()
        .get(Kind::CronJob, "default", name)
        .unwrap()
        .as_cron_job()
        .unwrap()
        .clone()
}

/// The Jobs the CronJob controls (not being deleted), sorted by name.
fn jobs(c: &Cluster, cj: &str) -> Vec<Arc<Object>> {
    let uid = c
        .store()
        .get(Kind::CronJob, "default", cj)
        .unwrap()
        .meta()
        .uid;
    c.store()
        .list(Kind::Job, Some("default"), None, None)
        .unwrap()
        .into_iter()
        .filter(|j| j.meta().controller_ref().is_some_and(|r| r.uid == uid))
        .filter(|j| !j.meta().is_being_deleted())
        .collect()
}

fn unfinished(c: &Cluster, cj: &str) -> usize {
    jobs(c, cj)
        .iter()
        .filter(|j| finished_condition(&j.as_job().unwrap().status).is_none())
        .count()
}

fn names(v: &[Arc<Object>]) -> Vec<String> {
    v.iter().map(|o| o.name().to_string()).collect()
}

/// Messages of the CronJob controller's Events with this reason.
fn events(c: &Cluster, reason: &str) -> Vec<String> {
    c.store()
        .list(Kind::Event, Some("default"), None, None)
        .unwrap()
        .iter()
        .filter_map(|o| o.as_event().cloned())
        .filter(|e| e.reason.as_str() == reason && e.involved_object.kind == Kind::CronJob)
        .map(|e| e.message.to_string())
        .collect()
}

fn minute(c: &Cluster, n: i64) -> Timestamp {
    let _ = c;
    Timestamp(Timestamp::VIRTUAL_EPOCH.0 + n * 60_000)
}

#[test]
fn every_minute_names_annotation_status_and_history() {
    let mut c = cluster();
    let mut inv = c.invariant_checker();
    apply(
        &mut c,
        &cron_yaml("every-minute", "*/1 * * * *", "", "5s", 0),
    );
    assert!(jobs(&c, "every-minute").is_empty());
    c.advance(MIN);
    common::assert_invariants(&c, &mut inv, true);
    let js = jobs(&c, "every-minute");
    assert_eq!(names(&js), vec![job_name("every-minute", minute(&c, 1))]);
    let j = js[0].as_job().unwrap();
    assert_eq!(
        j.meta
            .annotations
            .get(ANN_SCHEDULED_TIMESTAMP)
            .map(|s| s.as_str()),
        Some("2024-01-01T00:01:00Z")
    );
    assert_eq!(j.meta.labels.get("team").map(|s| s.as_str()), Some("a"));
    assert_eq!(j.spec.backoff_limit, 0);
    let cj = cron(&c, "every-minute");
    assert_eq!(cj.status.last_schedule_time, Some(minute(&c, 1)));
    assert_eq!(cj.status.active.len(), 1);
    assert_eq!(cj.status.active[0].uid, Some(j.meta.uid));
    // The job finishes within 10 s: out of the active list, lastSuccessfulTime set.
    c.advance(Duration::from_secs(10));
    common::assert_invariants(&c, &mut inv, true);
    let cj = cron(&c, "every-minute");
    assert!(cj.status.active.is_empty());
    assert!(cj.status.last_successful_time.is_some());
    assert_eq!(events(&c, "SawCompletedJob").len(), 1);
    // Six minutes in: jobs at minutes 1..6, only the last 3 successful kept.
    // Minute by minute, the history limit's deletes (background) checked.
    for _ in 0..5 {
        c.advance(MIN);
        common::assert_invariants(&c, &mut inv, true);
    }
    c.advance(Duration::from_secs(6 * 60 - 70 + 10 - 5 * 60));
    common::assert_invariants(&c, &mut inv, true);
    let js = jobs(&c, "every-minute");
    let want: Vec<String> = (4..=6)
        .map(|m| job_name("every-minute", minute(&c, m)))
        .collect();
    assert_eq!(names(&js), want);
    assert!(js.iter().all(|j| j.as_job().unwrap().status.succeeded == 1));
    assert_eq!(events(&c, "SuccessfulCreate").len(), 6);
    assert_eq!(events(&c, "SuccessfulDelete").len(), 3);
}

#[test]
fn failed_jobs_history_limit_is_one() {
    let mut c = cluster();
    apply(&mut c, &cron_yaml("bad", "* * * * *", "", "1s", 1));
    c.advance(4 * MIN + Duration::from_secs(30));
    let js = jobs(&c, "bad");
    assert_eq!(names(&js), vec![job_name("bad", minute(&c, 4))]);
    assert_eq!(
        finished_condition(&js[0].as_job().unwrap().status),
        Some("Failed")
    );
    assert!(cron(&c, "bad").status.last_successful_time.is_none());
}

#[test]
fn allow_overlaps_jobs() {
    let mut c = cluster();
    apply(&mut c, &cron_yaml("allow", "* * * * *", "", "150s", 0));
    c.advance(3 * MIN);
    assert_eq!(unfinished(&c, "allow"), 3);
    assert_eq!(cron(&c, "allow").status.active.len(), 3);
}

#[test]
fn forbid_skips_while_active_then_runs_the_missed_time() {
    let mut c = cluster();
    apply(
        &mut c,
        &cron_yaml(
            "forbid",
            "* * * * *",
            "  concurrencyPolicy: Forbid\n",
            "90s",
            0,
        ),
    );
    let mut max = 0;
    for _ in 0..(4 * 60) {
        c.advance(Duration::from_secs(1));
        max = max.max(unfinished(&c, "forbid"));
    }
    assert_eq!(max, 1, "never two Jobs at once");
    // Minute 1's Job ran 00:01:00–00:01:32; minute 2 was skipped while it ran and
    // started late when it finished (upstream: the missed time is taken on the next
    // sync); minute 3 was skipped while that one ran.
    let js = names(&jobs(&c, "forbid"));
    assert!(js.contains(&job_name("forbid", minute(&c, 2))));
    assert!(!js.contains(&job_name("forbid", minute(&c, 3))), "{js:?}");
    let late = c
        .store()
        .get(Kind::Job, "default", &job_name("forbid", minute(&c, 2)))
        .unwrap();
    assert!(late.meta().creation_timestamp > minute(&c, 2).plus(Duration::from_secs(30)));
}

#[test]
fn forbid_with_starting_deadline_does_not_run_late() {
    let mut c = cluster();
    apply(
        &mut c,
        &cron_yaml(
            "strict",
            "* * * * *",
            "  concurrencyPolicy: Forbid\n  startingDeadlineSeconds: 10\n",
            "90s",
            0,
        ),
    );
    c.advance(3 * MIN + Duration::from_secs(30));
    let js = names(&jobs(&c, "strict"));
    assert!(!js.contains(&job_name("strict", minute(&c, 2))), "{js:?}");
    assert!(js.contains(&job_name("strict", minute(&c, 3))), "{js:?}");
    // With a deadline the scheduling window starts at now − deadline, so the late
    // sync at ~00:02:32 sees no missed time at all (upstream's
    // `mostRecentScheduleTime` with the deadline), and nothing is created late.
    let late = c
        .store()
        .get(Kind::Job, "default", &job_name("strict", minute(&c, 3)))
        .unwrap();
    assert_eq!(late.meta().creation_timestamp, minute(&c, 3));
}

#[test]
fn replace_deletes_the_running_job() {
    let mut c = cluster();
    let mut inv = c.invariant_checker();
    apply(
        &mut c,
        &cron_yaml(
            "repl",
            "* * * * *",
            "  concurrencyPolicy: Replace\n",
            "90s",
            0,
        ),
    );
    c.advance(MIN);
    assert_eq!(
        names(&jobs(&c, "repl")),
        vec![job_name("repl", minute(&c, 1))]
    );
    common::assert_invariants(&c, &mut inv, true);
    c.advance(MIN);
    // The replaced Job and its pod are collected (background): settled, nothing
    // dangles.
    common::assert_invariants(&c, &mut inv, true);
    assert_eq!(
        names(&jobs(&c, "repl")),
        vec![job_name("repl", minute(&c, 2))]
    );
    assert_eq!(
        events(&c, "SuccessfulDelete"),
        vec![format!("Deleted job {}", job_name("repl", minute(&c, 1)))]
    );
    let cj = cron(&c, "repl");
    assert_eq!(cj.status.active.len(), 1);
    assert_eq!(
        cj.status.active[0].name.as_str(),
        job_name("repl", minute(&c, 2))
    );
}

#[test]
fn suspend_creates_nothing_and_too_many_missed_times_warn() {
    let mut c = cluster();
    apply(
        &mut c,
        &cron_yaml("sus", "* * * * *", "  suspend: true\n", "5s", 0),
    );
    c.advance(Duration::from_secs(120 * 60 + 30));
    assert!(jobs(&c, "sus").is_empty());
    // Resumed after 120 missed minutes: a warning, and only the latest time runs.
    apply(
        &mut c,
        &cron_yaml("sus", "* * * * *", "  suspend: false\n", "5s", 0),
    );
    assert_eq!(
        events(&c, "TooManyMissedTimes"),
        vec![
            "too many missed start times: 120. Set or decrease .spec.startingDeadlineSeconds \
             or check clock skew"
        ]
    );
    assert_eq!(
        names(&jobs(&c, "sus")),
        vec![job_name("sus", minute(&c, 120))]
    );
    c.advance(MIN);
    assert_eq!(jobs(&c, "sus").len(), 2);
}

#[test]
fn schedule_with_hours_requeues_at_the_next_time() {
    let mut c = cluster();
    // 2024-01-01 is a Monday: next "30 2 * * 2" is Tuesday 02:30.
    apply(&mut c, &cron_yaml("weekly", "30 2 * * TUE", "", "5s", 0));
    c.advance(Duration::from_secs(26 * 3600 + 29 * 60));
    assert!(jobs(&c, "weekly").is_empty());
    c.advance(MIN);
    let js = jobs(&c, "weekly");
    let at = Timestamp(Timestamp::VIRTUAL_EPOCH.0 + (24 * 60 + 150) * 60_000);
    assert_eq!(names(&js), vec![job_name("weekly", at)]);
    assert_eq!(cron(&c, "weekly").status.last_schedule_time, Some(at));
}

/// `shared/scenarios/manifests/<name>`, found from the crate upwards (the shared
/// folder sits beside the repository or its worktree folder).
fn shared_manifest(name: &str) -> Option<std::path::PathBuf> {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("shared/scenarios/manifests").join(name))
        .find(|p| p.exists())
}

/// `scenarios/batch.yaml`, step by step.
#[test]
fn batch_scenario() {
    let Some(path) = shared_manifest("batch.yaml") else {
        panic!("shared/scenarios/manifests/batch.yaml not found above the crate");
    };
    let mut c = cluster();
    c.apply(manifest::load_path(&path).unwrap()).unwrap();
    c.advance(Duration::from_secs(5));
    let job = |c: &Cluster, n: &str| {
        c.store()
            .get(Kind::Job, "default", n)
            .unwrap()
            .as_job()
            .unwrap()
            .clone()
    };
    assert_eq!(job(&c, "pi-digits").status.active, 2);
    let done = |n: &'static str, t: &'static str| {
        move |s: &kubesim_core::store::Store| {
            s.get(Kind::Job, "default", n)
                .ok()
                .and_then(|o| o.as_job().map(|j| finished_condition(&j.status) == Some(t)))
                .unwrap_or(false)
        }
    };
    c.run_until(done("pi-digits", "Complete"), 5 * MIN).unwrap();
    assert_eq!(job(&c, "pi-digits").status.succeeded, 5);
    let sel = "job-name=pi-digits".parse().unwrap();
    let pods = c
        .store()
        .list(Kind::Pod, Some("default"), Some(&sel), None)
        .unwrap();
    assert_eq!(pods.len(), 5);
    assert!(pods
        .iter()
        .all(|p| p.as_pod().unwrap().status.phase == kubesim_core::model::PodPhase::Succeeded));
    c.run_until(done("always-fails", "Failed"), 10 * MIN)
        .unwrap();
    let f = job(&c, "always-fails");
    assert_eq!(
        kubesim_core::model::find_condition(&f.status.conditions, "Failed")
            .and_then(|c| c.reason.as_deref().map(str::to_string))
            .as_deref(),
        Some("BackoffLimitExceeded")
    );
    assert_eq!(f.status.failed, 3);
    c.advance(6 * MIN);
    let kept: Vec<_> = c
        .store()
        .list(Kind::Job, Some("default"), None, None)
        .unwrap()
        .into_iter()
        .filter(|j| {
            j.meta().owner_references.first().map(|r| r.name.as_str()) == Some("every-minute")
                && j.as_job().unwrap().status.succeeded == 1
        })
        .collect();
    assert_eq!(kept.len(), 3);
}

/// The batch manifests run with 1 and 2 threads and with sharded workers: the same
/// watch-event history.
#[test]
fn same_history_with_one_and_two_threads() {
    let path = shared_manifest("batch.yaml").expect("batch.yaml");
    let run = |threads: usize, strategy: &str, workers: usize| -> Vec<String> {
        let mut c = Cluster::new(ClusterConfig {
            nodes: NodeSpecs::Count(2),
            seed: 3,
            threads,
            workers,
            strategy: strategy.parse().unwrap(),
            record_history: true,
            ..ClusterConfig::default()
        })
        .unwrap();
        c.apply(manifest::load_path(&path).unwrap()).unwrap();
        c.advance(4 * MIN);
        c.sim().history().iter().map(|h| h.to_string()).collect()
    };
    let one = run(1, "shared", 1);
    assert!(one.len() > 100);
    assert_eq!(one, run(2, "shared", 1));
    assert_eq!(one, run(2, "consistent", 2));
}
