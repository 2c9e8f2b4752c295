//! The Job controller in a simulated cluster, in virtual time: one test per rule of
//! K8S-SEMANTICS.md "Job and CronJob" (Job part) and of the controller's module docs.

mod common;

use std::sync::Arc;
use std::time::Duration;

use kubesim_core::cluster::{Cluster, ClusterConfig, NodeSpecs};
use kubesim_core::controllers::job::{
    completions_column, LABEL_CONTROLLER_UID, LABEL_JOB_NAME, LABEL_LEGACY_CONTROLLER_UID,
    LABEL_LEGACY_JOB_NAME,
};
use kubesim_core::manifest;
use kubesim_core::model::{find_condition, ConditionStatus, Job, Kind, Object, PodPhase};
use kubesim_core::time::Timestamp;

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

/// A Job manifest: `spec` lines (indented 2) and pod annotations.
fn job_yaml(name: &str, spec: &str, run_time: &str, exit: i32, restart: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n{spec}  template:\n    \
         metadata:\n      annotations:\n        kubesim.io/run-time: {run_time}\n        \
         kubesim.io/exit-code: \"{exit}\"\n    spec:\n      restartPolicy: {restart}\n      \
         containers:\n      - name: c\n        image: busybox:1.36\n"
    )
}

fn job(c: &Cluster, name: &str) -> Job {
    c.store()
        .get(Kind::Job, "default", name)
        .unwrap()
        .as_job()
        .unwrap()
        .clone()
}

fn cond_true(j: &Job, t: &str) -> bool {
    find_condition(&j.status.conditions, t).is_some_and(|c| c.status == ConditionStatus::True)
}

fn reason(j: &Job, t: &str) -> Option<String> {
    find_condition(&j.status.conditions, t).and_then(|c| c.reason.as_ref().map(|r| r.to_string()))
}

/// Pods controlled by the Job, sorted by creation time then name.
fn pods(c: &Cluster, name: &str) -> Vec<Arc<Object>> {
    let uid = c
        .store()
        .get(Kind::Job, "default", name)
        .unwrap()
        .meta()
        .uid;
    let mut v: Vec<Arc<Object>> = c
        .store()
        .list(Kind::Pod, Some("default"), None, None)
        .unwrap()
        .into_iter()
        .filter(|p| p.meta().controller_ref().is_some_and(|r| r.uid == uid))
        .collect();
    v.sort_by_key(|p| (p.meta().creation_timestamp, p.name().clone()));
    v
}

fn active(c: &Cluster, name: &str) -> usize {
    pods(c, name)
        .iter()
        .filter(|p| p.as_pod().unwrap().is_active())
        .count()
}

fn events(c: &Cluster, reason: &str) -> Vec<String> {
    c.store()
        .list(Kind::Event, Some("default"), None, None)
        .unwrap()
        .iter()
        .filter_map(|o| o.as_event().cloned())
        .filter(|e| e.reason.as_str() == reason)
        .map(|e| e.message.to_string())
        .collect()
}

/// Advances 1 s at a time until `pred` or `limit`, checking `each` after every step.
fn step_until(
    c: &mut Cluster,
    limit: Duration,
    mut each: impl FnMut(&Cluster),
    pred: impl Fn(&Cluster) -> bool,
) -> bool {
    let end = c.now().plus(limit);
    while c.now() < end {
        c.advance(Duration::from_secs(1));
        each(c);
        if pred(c) {
            return true;
        }
    }
    false
}

#[test]
fn completions_with_bounded_parallelism() {
    let mut c = cluster();
    let mut inv = c.invariant_checker();
    apply(
        &mut c,
        &job_yaml(
            "pi",
            "  completions: 5\n  parallelism: 2\n",
            "10s",
            0,
            "Never",
        ),
    );
    c.advance(Duration::from_secs(5));
    let j = job(&c, "pi");
    assert_eq!(j.status.active, 2);
    assert_eq!(j.status.ready, 2);
    assert!(j.status.start_time.is_some());
    assert_eq!(completions_column(&j), "0/5");
    let mut max_active = 0;
    let done = step_until(
        &mut c,
        Duration::from_secs(300),
        |c| {
            common::assert_invariants(c, &mut inv, true);
            max_active = max_active.max(active(c, "pi"))
        },
        |c| cond_true(&job(c, "pi"), "Complete"),
    );
    assert!(done, "the Job completes");
    assert_eq!(max_active, 2, "never more than parallelism pods at once");
    let j = job(&c, "pi");
    assert_eq!(
        (j.status.succeeded, j.status.active, j.status.failed),
        (5, 0, 0)
    );
    assert!(cond_true(&j, "SuccessCriteriaMet"));
    assert_eq!(j.status.completion_time, Some(c.now()));
    assert_eq!(completions_column(&j), "5/5");
    let ps = pods(&c, "pi");
    assert_eq!(ps.len(), 5, "exactly completions pods");
    assert!(ps
        .iter()
        .all(|p| p.as_pod().unwrap().status.phase == PodPhase::Succeeded));
    assert_eq!(events(&c, "Completed"), vec!["Job completed"]);
    assert_eq!(events(&c, "SuccessfulCreate").len(), 5);
    // Nothing more happens.
    c.advance(Duration::from_secs(120));
    common::assert_invariants(&c, &mut inv, true);
    assert_eq!(pods(&c, "pi").len(), 5);
}

#[test]
fn completions_default_to_one() {
    let mut c = cluster();
    apply(&mut c, &job_yaml("one", "", "2s", 0, "Never"));
    c.advance(Duration::from_secs(10));
    let j = job(&c, "one");
    assert!(cond_true(&j, "Complete"));
    assert_eq!(j.status.succeeded, 1);
    assert_eq!(pods(&c, "one").len(), 1);
    assert_eq!(completions_column(&j), "1/1");
}

#[test]
fn generated_selector_and_pod_labels() {
    let mut c = cluster();
    apply(&mut c, &job_yaml("gen", "", "1h", 0, "Never"));
    let j = job(&c, "gen");
    let uid = j.meta.uid.to_string();
    assert_eq!(
        j.spec
            .selector
            .match_labels
            .get(LABEL_CONTROLLER_UID)
            .map(|s| s.as_str()),
        Some(uid.as_str())
    );
    let ps = pods(&c, "gen");
    assert_eq!(ps.len(), 1);
    let l = ps[0].labels();
    for (k, v) in [
        (LABEL_CONTROLLER_UID, uid.as_str()),
        (LABEL_LEGACY_CONTROLLER_UID, uid.as_str()),
        (LABEL_JOB_NAME, "gen"),
        (LABEL_LEGACY_JOB_NAME, "gen"),
    ] {
        assert_eq!(l.get(k).map(|s| s.as_str()), Some(v), "{k}");
    }
    assert!(j.spec.selector.matches(l));
    // A re-apply keeps the generated selector and labels: nothing changes.
    let again = c
        .apply(manifest::load_str(&job_yaml("gen", "", "1h", 0, "Never"), "t.yaml").unwrap())
        .unwrap();
    assert_eq!(
        again[0].action,
        kubesim_core::cluster::ApplyAction::Unchanged
    );
    let j2 = job(&c, "gen");
    assert_eq!(j2.spec.selector, j.spec.selector);
    assert_eq!(pods(&c, "gen").len(), 1);
    // manualSelector: left as written.
    let manual = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: man\nspec:\n  \
                  manualSelector: true\n  selector:\n    matchLabels: {app: man}\n  template:\n    \
                  metadata:\n      labels: {app: man}\n    spec:\n      restartPolicy: Never\n      \
                  containers:\n      - {name: c, image: busybox}\n";
    apply(&mut c, manual);
    let m = job(&c, "man");
    assert!(!m
        .spec
        .selector
        .match_labels
        .contains_key(LABEL_CONTROLLER_UID));
    let mp = pods(&c, "man");
    assert_eq!(mp.len(), 1);
    assert!(mp[0].labels().get(LABEL_JOB_NAME).is_none());
}

#[test]
fn backoff_limit_counts_failed_pods_with_growing_backoff() {
    let mut c = cluster();
    apply(
        &mut c,
        &job_yaml("fails", "  backoffLimit: 2\n", "1s", 1, "Never"),
    );
    let ok = c
        .run_until(
            |s| {
                s.get(Kind::Job, "default", "fails")
                    .ok()
                    .and_then(|o| o.as_job().map(|j| cond_true(j, "Failed")))
                    .unwrap_or(false)
            },
            Duration::from_secs(600),
        )
        .is_ok();
    assert!(ok, "the Job fails");
    let j = job(&c, "fails");
    assert_eq!(
        reason(&j, "Failed").as_deref(),
        Some("BackoffLimitExceeded")
    );
    assert_eq!(
        reason(&j, "FailureTarget").as_deref(),
        Some("BackoffLimitExceeded")
    );
    assert_eq!(j.status.failed, 3, "backoffLimit + 1 failed pods");
    assert_eq!(j.status.active, 0);
    assert!(j.status.completion_time.is_none());
    let ps = pods(&c, "fails");
    assert_eq!(ps.len(), 3, "no pod after the limit");
    // Re-creation waits 10 s after the 1st failure, 20 s after the 2nd.
    let finished = |o: &Arc<Object>| match o.as_pod().unwrap().status.container_state {
        kubesim_core::model::ContainerState::Terminated { finished_at, .. } => finished_at,
        ref s => panic!("not terminated: {s:?}"),
    };
    let created = |o: &Arc<Object>| o.meta().creation_timestamp;
    assert_eq!(created(&ps[1]).0 - finished(&ps[0]).0, 10_000);
    assert_eq!(created(&ps[2]).0 - finished(&ps[1]).0, 20_000);
    assert_eq!(
        events(&c, "BackoffLimitExceeded"),
        vec!["Job has reached the specified backoff limit"]
    );
}

#[test]
fn on_failure_restarts_in_place_and_counts_restarts() {
    let mut c = cluster();
    apply(
        &mut c,
        &job_yaml("crash", "  backoffLimit: 2\n", "1s", 1, "OnFailure"),
    );
    c.advance(Duration::from_secs(15));
    // The kubelet restarts the container: still one pod, not failed.
    let ps = pods(&c, "crash");
    assert_eq!(ps.len(), 1);
    assert_eq!(job(&c, "crash").status.failed, 0);
    let ok = step_until(
        &mut c,
        Duration::from_secs(300),
        |_| {},
        |c| cond_true(&job(c, "crash"), "FailureTarget"),
    );
    assert!(ok);
    let j = job(&c, "crash");
    assert_eq!(
        reason(&j, "FailureTarget").as_deref(),
        Some("BackoffLimitExceeded")
    );
    // It failed when the restarts reached the limit (2), not later.
    let p = c.store().get(Kind::Pod, "default", ps[0].name()).unwrap();
    assert_eq!(p.as_pod().unwrap().status.restart_count, 2);
    assert!(p.meta().is_being_deleted(), "the active pod is deleted");
    assert!(!cond_true(&j, "Failed"), "Failed waits for the pod to go");
    c.advance(Duration::from_secs(31));
    let j = job(&c, "crash");
    assert!(cond_true(&j, "Failed"));
    assert_eq!(pods(&c, "crash").len(), 0);
}

#[test]
fn active_deadline_fails_the_job() {
    let mut c = cluster();
    apply(
        &mut c,
        &job_yaml(
            "slow",
            "  activeDeadlineSeconds: 30\n  parallelism: 2\n  completions: 4\n",
            "1h",
            0,
            "Never",
        ),
    );
    let start = c.now();
    c.advance(Duration::from_secs(29));
    assert!(!cond_true(&job(&c, "slow"), "FailureTarget"));
    assert_eq!(active(&c, "slow"), 2);
    c.advance(Duration::from_secs(1));
    let j = job(&c, "slow");
    assert_eq!(
        reason(&j, "FailureTarget").as_deref(),
        Some("DeadlineExceeded")
    );
    assert_eq!(c.now(), start.plus(Duration::from_secs(30)));
    assert_eq!(active(&c, "slow"), 0, "active pods are deleted");
    assert_eq!(events(&c, "SuccessfulDelete").len(), 2);
    c.advance(Duration::from_secs(31));
    let j = job(&c, "slow");
    assert!(cond_true(&j, "Failed"));
    assert_eq!(reason(&j, "Failed").as_deref(), Some("DeadlineExceeded"));
    // The pods deleted because the Job failed kept their (simulated) tracking
    // finalizer: they count as failed, as upstream's "every non-terminated pod is
    // considered failed" once the Job is finished.
    assert_eq!((j.status.failed, j.status.active), (2, 0));
    assert_eq!(
        events(&c, "DeadlineExceeded"),
        vec!["Job was active longer than specified deadline"]
    );
}

#[test]
fn work_queue_job_stops_creating_after_a_success() {
    let mut c = cluster();
    // No completions: a work queue with 3 workers.
    apply(
        &mut c,
        &job_yaml("wq", "  parallelism: 3\n", "10s", 0, "Never"),
    );
    c.advance(Duration::from_secs(5));
    assert_eq!(active(&c, "wq"), 3);
    assert_eq!(completions_column(&job(&c, "wq")), "0/1 of 3");
    c.advance(Duration::from_secs(60));
    let j = job(&c, "wq");
    assert!(cond_true(&j, "Complete"));
    assert_eq!(j.status.succeeded, 3);
    assert_eq!(
        pods(&c, "wq").len(),
        3,
        "no pod created after the first success"
    );
}

#[test]
fn reducing_parallelism_deletes_extra_pods() {
    let mut c = cluster();
    apply(
        &mut c,
        &job_yaml(
            "par",
            "  parallelism: 3\n  completions: 6\n",
            "1h",
            0,
            "Never",
        ),
    );
    let mut inv = c.invariant_checker();
    c.advance(Duration::from_secs(5));
    common::assert_invariants(&c, &mut inv, true);
    assert_eq!(active(&c, "par"), 3);
    apply(
        &mut c,
        &job_yaml(
            "par",
            "  parallelism: 1\n  completions: 6\n",
            "1h",
            0,
            "Never",
        ),
    );
    assert_eq!(active(&c, "par"), 1);
    assert_eq!(job(&c, "par").status.active, 1);
    common::assert_invariants(&c, &mut inv, true);
}

#[test]
fn suspend_and_resume() {
    let mut c = cluster();
    apply(
        &mut c,
        &job_yaml("sus", "  suspend: true\n", "5s", 0, "Never"),
    );
    c.advance(Duration::from_secs(30));
    let j = job(&c, "sus");
    assert_eq!(pods(&c, "sus").len(), 0);
    assert!(cond_true(&j, "Suspended"));
    assert!(j.status.start_time.is_none());
    apply(
        &mut c,
        &job_yaml("sus", "  suspend: false\n", "5s", 0, "Never"),
    );
    let resumed = c.now();
    let j = job(&c, "sus");
    assert_eq!(reason(&j, "Suspended").as_deref(), Some("JobResumed"));
    assert_eq!(j.status.start_time, Some(resumed));
    c.advance(Duration::from_secs(10));
    assert!(cond_true(&job(&c, "sus"), "Complete"));
}

#[test]
fn restart_policy_always_is_rejected() {
    let bad = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: bad\nspec:\n  template:\n    \
               spec:\n      restartPolicy: Always\n      containers:\n      - name: x\n        \
               image: busybox\n";
    let err = manifest::load_str(bad, "bad.yaml").unwrap_err();
    assert!(err.to_string().contains("restartPolicy"), "{err}");
}

#[test]
fn success_resets_the_failure_backoff() {
    // Two failures (backoff now 20 s), then the template is changed to succeed: the pod
    // after the success is created at once, not 40 s after the last failure.
    let mut c = cluster();
    apply(
        &mut c,
        &job_yaml(
            "bo",
            "  backoffLimit: 5\n  completions: 2\n",
            "1s",
            1,
            "Never",
        ),
    );
    c.advance(Duration::from_secs(15));
    assert_eq!(pods(&c, "bo").len(), 2);
    apply(
        &mut c,
        &job_yaml(
            "bo",
            "  backoffLimit: 5\n  completions: 2\n",
            "1s",
            0,
            "Never",
        ),
    );
    c.advance(Duration::from_secs(60));
    let ps = pods(&c, "bo");
    assert_eq!(ps.len(), 4);
    let t: Vec<Timestamp> = ps.iter().map(|p| p.meta().creation_timestamp).collect();
    assert_eq!(t[1].0 - t[0].0, 12_000, "10 s after the 1st failure");
    assert_eq!(t[2].0 - t[1].0, 22_000, "20 s after the 2nd failure");
    assert_eq!(t[3].0 - t[2].0, 2_000, "no backoff after a success");
    let j = job(&c, "bo");
    assert!(cond_true(&j, "Complete"));
    assert_eq!((j.status.succeeded, j.status.failed), (2, 2));
}

#[test]
fn deleted_terminated_pods_stay_counted() {
    // Each succeeded pod is deleted at once (as pod GC or a removed node would): the
    // counts never go down, and the Job still completes after exactly 3 pods.
    let mut c = cluster();
    apply(
        &mut c,
        &job_yaml("gc", "  completions: 3\n", "5s", 0, "Never"),
    );
    let mut seen = std::collections::BTreeSet::new();
    let mut max_succeeded = 0;
    for _ in 0..120 {
        c.advance(Duration::from_secs(1));
        for p in pods(&c, "gc") {
            seen.insert(p.meta().uid);
            if p.as_pod().unwrap().status.phase == PodPhase::Succeeded {
                c.store()
                    .delete(
                        Kind::Pod,
                        "default",
                        p.name(),
                        &kubesim_core::store::DeleteOptions::default(),
                    )
                    .unwrap();
            }
        }
        c.run_until_idle();
        let j = job(&c, "gc");
        assert!(
            j.status.succeeded >= max_succeeded,
            "succeeded never goes down"
        );
        max_succeeded = j.status.succeeded;
    }
    let j = job(&c, "gc");
    assert!(cond_true(&j, "Complete"));
    assert_eq!(j.status.succeeded, 3);
    assert_eq!(seen.len(), 3, "exactly completions pods were created");
}

/// restartPolicy OnFailure: the restarts are summed over every Running or Pending pod
/// of the Job, terminating ones included (upstream `pastBackoffLimitOnFailure`).
#[test]
fn on_failure_counts_restarts_of_terminating_pods() {
    let mut c = cluster();
    let spec = |p: i32| format!("  backoffLimit: 3\n  parallelism: {p}\n  completions: 2\n");
    apply(&mut c, &job_yaml("crash2", &spec(2), "1s", 1, "OnFailure"));
    let restarts = |c: &Cluster| -> Vec<(String, bool, u32)> {
        pods(c, "crash2")
            .iter()
            .map(|o| {
                let p = o.as_pod().unwrap();
                (
                    p.meta.name.to_string(),
                    p.meta.is_being_deleted(),
                    p.status.restart_count,
                )
            })
            .collect()
    };
    let ok = step_until(
        &mut c,
        Duration::from_secs(120),
        |_| {},
        |c| {
            let r = restarts(c);
            r.len() == 2 && r.iter().all(|(_, _, n)| *n == 1)
        },
    );
    assert!(ok, "both pods restarted once");
    // Parallelism 1: one pod is deleted and terminates for 30 s, still restarting.
    apply(&mut c, &job_yaml("crash2", &spec(1), "1s", 1, "OnFailure"));
    let r = restarts(&c);
    let victim: Vec<&String> = r.iter().filter(|(_, d, _)| *d).map(|(n, ..)| n).collect();
    assert_eq!(victim.len(), 1, "one pod deleted: {r:?}");
    let victim = victim[0].clone();
    assert!(!cond_true(&job(&c, "crash2"), "FailureTarget"));
    let ok = step_until(
        &mut c,
        Duration::from_secs(300),
        |_| {},
        |c| cond_true(&job(c, "crash2"), "FailureTarget"),
    );
    assert!(ok);
    assert_eq!(
        reason(&job(&c, "crash2"), "FailureTarget").as_deref(),
        Some("BackoffLimitExceeded")
    );
    // The limit was reached with the terminating pod's restarts: it still exists,
    // and no single pod reached 3 restarts.
    let r = restarts(&c);
    assert!(r.iter().any(|(n, ..)| *n == victim), "{r:?}");
    assert!(r.iter().all(|(_, _, n)| *n < 3), "{r:?}");
    assert!(r.iter().map(|(_, _, n)| n).sum::<u32>() >= 3, "{r:?}");
}

#[test]
fn a_deleted_running_pod_counts_as_failed() {
    // Upstream `isPodFailed`: a pod being deleted that has not succeeded is a failure
    // (the kubelet removes it without ever writing phase Failed). It counts at once,
    // starts the failure backoff from the deletion request, and its replacement is
    // created while it terminates.
    let mut c = cluster();
    apply(
        &mut c,
        &job_yaml("victim", "  backoffLimit: 1\n", "1h", 0, "Never"),
    );
    c.advance(Duration::from_secs(5));
    let first = pods(&c, "victim");
    assert_eq!(first.len(), 1);
    let deleted_at = c.now();
    c.store()
        .delete(
            Kind::Pod,
            "default",
            first[0].name(),
            &kubesim_core::store::DeleteOptions::default(),
        )
        .unwrap();
    c.advance(Duration::from_secs(1));
    let j = job(&c, "victim");
    assert_eq!(j.status.failed, 1, "counted while it terminates");
    assert_eq!(j.status.active, 0);
    assert!(
        !cond_true(&j, "FailureTarget"),
        "1 failure ≤ backoffLimit 1"
    );
    // The replacement waits the 10 s failure backoff from the deletion request.
    c.advance(Duration::from_secs(30));
    let ps = pods(&c, "victim");
    assert_eq!(ps.len(), 1, "the deleted pod is gone");
    assert_eq!(ps[0].meta().creation_timestamp.0 - deleted_at.0, 10_000);
    let j = job(&c, "victim");
    assert_eq!((j.status.failed, j.status.active), (1, 1));
    // A second deletion passes backoffLimit: the Job fails.
    c.store()
        .delete(
            Kind::Pod,
            "default",
            ps[0].name(),
            &kubesim_core::store::DeleteOptions::default(),
        )
        .unwrap();
    c.advance(Duration::from_secs(1));
    let j = job(&c, "victim");
    assert_eq!(j.status.failed, 2);
    assert_eq!(
        reason(&j, "FailureTarget").as_deref(),
        Some("BackoffLimitExceeded")
    );
    c.advance(Duration::from_secs(31));
    assert!(cond_true(&job(&c, "victim"), "Failed"));
    assert_eq!(job(&c, "victim").status.failed, 2, "counted once");
}

#[test]
fn pods_deleted_to_scale_down_or_suspend_are_not_failures() {
    // Upstream removes the tracking finalizer of the pods it deletes in manageJob.
    let mut c = cluster();
    let spec = |p: i32, s: bool| format!("  parallelism: {p}\n  completions: 6\n  suspend: {s}\n");
    apply(&mut c, &job_yaml("par", &spec(3, false), "1h", 0, "Never"));
    c.advance(Duration::from_secs(5));
    assert_eq!(active(&c, "par"), 3);
    apply(&mut c, &job_yaml("par", &spec(1, false), "1h", 0, "Never"));
    c.advance(Duration::from_secs(1));
    assert_eq!(job(&c, "par").status.failed, 0);
    apply(&mut c, &job_yaml("par", &spec(1, true), "1h", 0, "Never"));
    c.advance(Duration::from_secs(31));
    let j = job(&c, "par");
    assert_eq!((j.status.failed, j.status.active), (0, 0));
    assert_eq!(pods(&c, "par").len(), 0);
    // Resuming creates the pod at once: no failure backoff.
    apply(&mut c, &job_yaml("par", &spec(1, false), "1h", 0, "Never"));
    c.advance(Duration::from_secs(1));
    assert_eq!(active(&c, "par"), 1);
}
