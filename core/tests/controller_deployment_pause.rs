//! A paused Deployment and its progress deadline, in virtual time (K8S-SEMANTICS.md
//! "Deployment"; upstream `checkPausedConditions` and `DeploymentTimedOut`): while
//! paused, Progressing is Unknown `DeploymentPaused` and the deadline does not run;
//! resuming sets Progressing Unknown `DeploymentResumed` with `lastUpdateTime` = the
//! resume, and the deadline counts from there.

use std::time::Duration;

use kubesim_core::cluster::{Cluster, ClusterConfig, NodeSpecs};
use kubesim_core::manifest;
use kubesim_core::model::{find_condition, Condition, ConditionStatus, Kind, Object};

const NS: &str = "default";

fn cluster() -> Cluster {
    Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(2),
        readiness_delay: Duration::from_secs(2),
        unpullable_images: vec!["nginx:missing".to_string()],
        ..ClusterConfig::default()
    })
    .unwrap()
}

/// A Deployment `web` (2 replicas, default `progressDeadlineSeconds` 600) with `image`.
fn web(image: &str) -> Vec<Object> {
    let yaml = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  \
         replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    \
         metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      \
         - name: app\n        image: \"{image}\"\n"
    );
    manifest::load_str(&yaml, "inline.yaml").unwrap()
}

fn progressing(c: &Cluster) -> Condition {
    let obj = c.store().get(Kind::Deployment, NS, "web").unwrap();
    let d = obj.as_deployment().unwrap();
    assert_eq!(d.spec.progress_deadline_seconds, 600);
    find_condition(&d.status.conditions, "Progressing")
        .cloned()
        .expect("a Progressing condition")
}

fn shape(c: &Condition) -> (ConditionStatus, String) {
    (c.status, c.reason.as_deref().unwrap_or("").to_string())
}

#[test]
fn paused_past_the_deadline_then_resumed_counts_from_the_resume() {
    let mut c = cluster();
    c.apply(web("nginx:1.25")).unwrap();
    c.advance(Duration::from_secs(60));
    assert_eq!(
        shape(&progressing(&c)),
        (ConditionStatus::True, "NewReplicaSetAvailable".to_string())
    );
    // A rollout that cannot finish: the new pods never pull their image.
    c.apply(web("nginx:missing")).unwrap();
    let rollout = c.now();
    c.advance(Duration::from_secs(100));
    let p = progressing(&c);
    assert_eq!(
        shape(&p),
        (ConditionStatus::True, "ReplicaSetUpdated".to_string())
    );
    let last_progress = p.last_update_time.unwrap();
    assert!(last_progress < rollout.plus(Duration::from_secs(100)));

    // Paused long past the deadline (which would have hit at last_progress + 600 s).
    assert!(c.rollout_pause(NS, "web").unwrap());
    let paused = c.now();
    for _ in 0..900 {
        let p = progressing(&c);
        assert_eq!(
            shape(&p),
            (ConditionStatus::Unknown, "DeploymentPaused".to_string()),
            "at pause + {:?}",
            c.now().since(paused)
        );
        assert_eq!(p.last_update_time, Some(paused));
        c.advance(Duration::from_secs(1));
    }
    assert!(c.now() > last_progress.plus(Duration::from_secs(600 + 300)));

    // Resumed: the deadline runs from the resume, not from the last progress.
    assert!(c.rollout_resume(NS, "web").unwrap());
    let resumed = c.now();
    let p = progressing(&c);
    assert_eq!(
        shape(&p),
        (ConditionStatus::Unknown, "DeploymentResumed".to_string())
    );
    assert_eq!(p.last_update_time, Some(resumed));
    while c.now() < resumed.plus(Duration::from_secs(600)) {
        c.advance(Duration::from_secs(1));
        assert_ne!(
            shape(&progressing(&c)).1,
            "ProgressDeadlineExceeded",
            "at resume + {:?}",
            c.now().since(resumed)
        );
    }
    c.advance(Duration::from_secs(5));
    let p = progressing(&c);
    assert_eq!(
        shape(&p),
        (
            ConditionStatus::False,
            "ProgressDeadlineExceeded".to_string()
        )
    );
    assert!(p.last_transition_time > resumed.plus(Duration::from_secs(600)));
    assert!(p.last_transition_time <= resumed.plus(Duration::from_secs(602)));
}
