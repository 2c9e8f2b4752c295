//! The Deployment controller on a whole simulated cluster, in virtual time: one test
//! per rule of K8S-SEMANTICS.md "Deployment".

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kubesim_core::cluster::{Cluster, ClusterConfig, NodeSpecs};
use kubesim_core::controllers::deployment::{
    compute_hash, ANNOTATION_CHANGE_CAUSE, ANNOTATION_DESIRED_REPLICAS, ANNOTATION_MAX_REPLICAS,
    ANNOTATION_REVISION, ANNOTATION_REVISION_HISTORY, LABEL_POD_TEMPLATE_HASH,
};
use kubesim_core::intern::{Str, StrMap};
use kubesim_core::manifest;
use kubesim_core::model::{
    find_condition, ConditionStatus, Deployment, DeploymentStatus, Kind, Object, ObjectMeta,
    PodSpec, PodTemplateSpec, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus, TemplateMeta,
};
use kubesim_core::selector::LabelSelector;
use kubesim_core::store::Store;

const NS: &str = "default";

fn manifest_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/scenarios/manifests")
        .join(name)
}

fn load(name: &str) -> Vec<Object> {
    manifest::load_path(&manifest_path(name)).expect("manifest loads")
}

fn cluster(readiness: Duration, unpullable: &[&str]) -> Cluster {
    Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(2),
        readiness_delay: readiness,
        unpullable_images: unpullable.iter().map(|s| s.to_string()).collect(),
        ..ClusterConfig::default()
    })
    .unwrap()
}

/// A Deployment `name` selecting `app=<name>`, one container `app` with `image`;
/// `extra` are more lines of `spec:` (indented by two spaces).
fn deployment_yaml(name: &str, replicas: i32, image: &str, extra: &str) -> Vec<Object> {
    let yaml = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  \
         replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n{extra}  \
         template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      \
         containers:\n      - name: app\n        image: \"{image}\"\n"
    );
    manifest::load_str(&yaml, "inline.yaml").expect("inline manifest loads")
}

fn deployment(store: &Store, name: &str) -> Deployment {
    (*store
        .get(Kind::Deployment, NS, name)
        .unwrap()
        .as_deployment()
        .unwrap())
    .clone()
}

fn dstatus(store: &Store, name: &str) -> DeploymentStatus {
    deployment(store, name).status
}

/// The Deployment's ReplicaSets (controller uid), oldest first.
fn replica_sets(store: &Store, name: &str) -> Vec<ReplicaSet> {
    let uid = store.get(Kind::Deployment, NS, name).unwrap().meta().uid;
    let mut v: Vec<ReplicaSet> = store
        .list(Kind::ReplicaSet, Some(NS), None, None)
        .unwrap()
        .iter()
        .filter(|o| o.meta().controller_ref().is_some_and(|r| r.uid == uid))
        .map(|o| o.as_replica_set().unwrap().clone())
        .collect();
    v.sort_by_key(|r| (r.meta.creation_timestamp, r.meta.name.clone()));
    v
}

fn rs_by_image(store: &Store, name: &str, image: &str) -> ReplicaSet {
    replica_sets(store, name)
        .into_iter()
        .find(|r| r.spec.template.spec.containers[0].image.as_str() == image)
        .unwrap_or_else(|| panic!("no ReplicaSet with image {image}"))
}

fn revision(rs: &ReplicaSet) -> String {
    rs.meta
        .annotations
        .get(ANNOTATION_REVISION)
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// Pods of `app=<name>` that are not terminal; `active` leaves out terminating ones.
fn pods(store: &Store, name: &str, active: bool) -> Vec<Arc<Object>> {
    let sel = LabelSelector::parse(&format!("app={name}")).unwrap();
    store
        .list(Kind::Pod, Some(NS), Some(&sel), None)
        .unwrap()
        .into_iter()
        .filter(|o| {
            let p = o.as_pod().unwrap();
            if active {
                p.is_active()
            } else {
                !p.status.phase.is_terminal()
            }
        })
        .collect()
}

/// (active pods, available pods) of `app=<name>`.
fn counts(store: &Store, name: &str) -> (usize, usize) {
    let active = pods(store, name, true);
    let now = store.clock().now();
    let available = active
        .iter()
        .filter(|o| o.as_pod().unwrap().is_available(0, now))
        .count();
    (active.len(), available)
}

fn image_of(o: &Object) -> String {
    o.as_pod().unwrap().spec.containers[0].image.to_string()
}

/// Runs `total` of virtual time, calling `check` at every instant something was due.
fn run_checked(c: &mut Cluster, total: Duration, mut check: impl FnMut(&Cluster)) {
    let end = c.now().plus(total);
    check(c);
    for _ in 0..200_000 {
        match c.sim().next_due() {
            Some(t) if t <= end => {
                let d = t.since(c.now());
                c.advance(d);
                check(c);
            }
            _ => break,
        }
    }
    let now = c.now();
    if end > now {
        c.advance(end.since(now));
    }
    check(c);
}

fn edit(c: &mut Cluster, name: &str, f: impl FnOnce(&mut Deployment)) {
    let mut o = (*c.store().get(Kind::Deployment, NS, name).unwrap()).clone();
    f(o.as_deployment_mut().unwrap());
    c.store().update(o).unwrap();
    c.run_until_idle();
}

fn set_image(c: &mut Cluster, name: &str, image: &str) {
    edit(c, name, |d| {
        let mut spec: PodSpec = (*d.spec.template.spec).clone();
        spec.containers[0].image = Str::new(image);
        d.spec.template.spec = Arc::new(spec);
    });
}

fn wait(c: &mut Cluster, what: &str, timeout: Duration, pred: impl Fn(&Store) -> bool) {
    c.run_until(pred, timeout)
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

fn wait_complete(c: &mut Cluster, name: &str, replicas: i32, timeout: Duration) {
    let n = name.to_string();
    wait(c, &format!("{name} complete"), timeout, move |s| {
        let st = dstatus(s, &n);
        st.updated_replicas == replicas
            && st.available_replicas == replicas
            && st.replicas == replicas
    });
}

/// Messages of the Deployment's Events with this reason, in order.
fn events(store: &Store, reason: &str) -> Vec<String> {
    let mut v: Vec<_> = store
        .list(Kind::Event, Some(NS), None, None)
        .unwrap()
        .iter()
        .filter_map(|o| o.as_event().cloned())
        .filter(|e| e.reason.as_str() == reason && e.involved_object.kind == Kind::Deployment)
        .map(|e| {
            assert_eq!(e.source.as_str(), "deployment-controller");
            (
                e.first_timestamp,
                e.meta.resource_version,
                e.message.to_string(),
            )
        })
        .collect();
    v.sort();
    v.into_iter().map(|e| e.2).collect()
}

fn condition(store: &Store, name: &str, type_: &str) -> (ConditionStatus, String, String) {
    let st = dstatus(store, name);
    let c = find_condition(&st.conditions, type_).unwrap_or_else(|| panic!("no {type_}"));
    (
        c.status,
        c.reason.as_deref().unwrap_or("").to_string(),
        c.message.as_deref().unwrap_or("").to_string(),
    )
}

#[test]
fn replica_set_named_by_template_hash_with_the_label_everywhere() {
    let mut c = cluster(Duration::ZERO, &[]);
    let objs = load("nginx-deployment.yaml");
    let template = objs[0].as_deployment().unwrap().spec.template.clone();
    c.apply(objs).unwrap();
    wait_complete(
        &mut c,
        "nginx-deployment-controller",
        2,
        Duration::from_secs(60),
    );
    let hash = compute_hash(&template, None);
    let sets = replica_sets(c.store(), "nginx-deployment-controller");
    assert_eq!(sets.len(), 1);
    let rs = &sets[0];
    assert_eq!(
        rs.meta.name.as_str(),
        format!("nginx-deployment-controller-{hash}")
    );
    for labels in [
        &rs.meta.labels,
        &rs.spec.selector.match_labels,
        &rs.spec.template.meta.labels,
    ] {
        assert_eq!(labels.get(LABEL_POD_TEMPLATE_HASH).unwrap().as_str(), hash);
    }
    assert_eq!(
        rs.spec.selector.match_labels.get("app").unwrap().as_str(),
        "nginx"
    );
    let sel = LabelSelector::parse("app=nginx").unwrap();
    let ps = c
        .store()
        .list(Kind::Pod, Some(NS), Some(&sel), None)
        .unwrap();
    assert_eq!(ps.len(), 2);
    for p in &ps {
        assert_eq!(
            p.labels().get(LABEL_POD_TEMPLATE_HASH).unwrap().as_str(),
            hash
        );
        assert!(p.name().starts_with(&format!("{}-", rs.meta.name)));
    }
    // Revision and change cause, on the ReplicaSet and the Deployment.
    assert_eq!(revision(rs), "1");
    assert_eq!(
        rs.meta
            .annotations
            .get(ANNOTATION_CHANGE_CAUSE)
            .unwrap()
            .as_str(),
        "kubectl create -f nginx-deployment.yaml --record"
    );
    let d = deployment(c.store(), "nginx-deployment-controller");
    assert_eq!(
        d.meta
            .annotations
            .get(ANNOTATION_REVISION)
            .unwrap()
            .as_str(),
        "1"
    );
    assert_eq!(
        events(c.store(), "ScalingReplicaSet"),
        vec![format!(
            "Scaled up replica set {} from 0 to 2",
            rs.meta.name
        )]
    );
    // Status and conditions of a complete rollout.
    let st = d.status;
    assert_eq!(
        (
            st.replicas,
            st.updated_replicas,
            st.ready_replicas,
            st.available_replicas
        ),
        (2, 2, 2, 2)
    );
    assert_eq!(st.unavailable_replicas, 0);
    assert_eq!(st.observed_generation, d.meta.generation);
    let (s, r, m) = condition(c.store(), "nginx-deployment-controller", "Available");
    assert_eq!(
        (s, r.as_str(), m.as_str()),
        (
            ConditionStatus::True,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability."
        )
    );
    let (s, r, m) = condition(c.store(), "nginx-deployment-controller", "Progressing");
    assert_eq!(
        (s, r.as_str()),
        (ConditionStatus::True, "NewReplicaSetAvailable")
    );
    assert_eq!(
        m,
        format!(
            "ReplicaSet \"{}\" has successfully progressed.",
            rs.meta.name
        )
    );
}

#[test]
fn scaling_changes_only_the_replica_count() {
    let mut c = cluster(Duration::ZERO, &[]);
    c.apply(load("pi-web.yaml")).unwrap();
    wait_complete(&mut c, "pi-web", 2, Duration::from_secs(60));
    let before = replica_sets(c.store(), "pi-web");
    c.apply(load("pi-web-replicas-3.yaml")).unwrap();
    wait_complete(&mut c, "pi-web", 3, Duration::from_secs(60));
    let after = replica_sets(c.store(), "pi-web");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].meta.uid, before[0].meta.uid);
    assert_eq!(after[0].spec.replicas, 3);
    assert_eq!(revision(&after[0]), "1");
    assert_eq!(
        after[0]
            .meta
            .annotations
            .get(ANNOTATION_DESIRED_REPLICAS)
            .unwrap()
            .as_str(),
        "3"
    );
    // 25% of 3 rounds up to 1.
    assert_eq!(
        after[0]
            .meta
            .annotations
            .get(ANNOTATION_MAX_REPLICAS)
            .unwrap()
            .as_str(),
        "4"
    );
}

#[test]
fn old_template_brings_its_replica_set_back_with_the_next_revision() {
    // The ch06-deployment-replicasets scenario.
    let mut c = cluster(Duration::ZERO, &[]);
    c.apply(load("pi-web.yaml")).unwrap();
    wait_complete(&mut c, "pi-web", 2, Duration::from_secs(60));
    c.apply(load("pi-web-replicas-3.yaml")).unwrap();
    wait_complete(&mut c, "pi-web", 3, Duration::from_secs(60));
    let first = replica_sets(c.store(), "pi-web")[0].clone();
    // pi-web-logging-level.yaml changes the container's env, which the model drops
    // (manifest module docs): the same change is made here with a template
    // annotation.
    let mut changed = load("pi-web-replicas-3.yaml");
    if let Some(d) = changed[0].as_deployment_mut() {
        d.spec.template.meta.annotations = StrMap::from_pairs([("logging", "Debug")]);
    }
    c.apply(changed).unwrap();
    wait_complete(&mut c, "pi-web", 3, Duration::from_secs(300));
    let sets = replica_sets(c.store(), "pi-web");
    assert_eq!(sets.len(), 2);
    assert_eq!((sets[0].spec.replicas, sets[1].spec.replicas), (0, 3));
    assert_eq!(revision(&sets[1]), "2");
    c.apply(load("pi-web-replicas-3.yaml")).unwrap();
    wait_complete(&mut c, "pi-web", 3, Duration::from_secs(300));
    let sets = replica_sets(c.store(), "pi-web");
    assert_eq!(sets.len(), 2, "no third ReplicaSet");
    let back = sets.iter().find(|r| r.meta.uid == first.meta.uid).unwrap();
    assert_eq!(back.spec.replicas, 3);
    assert_eq!(revision(back), "3");
    assert_eq!(
        back.meta
            .annotations
            .get(ANNOTATION_REVISION_HISTORY)
            .unwrap()
            .as_str(),
        "1"
    );
    let d = deployment(c.store(), "pi-web");
    assert_eq!(
        d.meta
            .annotations
            .get(ANNOTATION_REVISION)
            .unwrap()
            .as_str(),
        "3"
    );
    wait(&mut c, "old pods gone", Duration::from_secs(120), |s| {
        pods(s, "pi-web", false).len() == 3
    });
    for p in pods(c.store(), "pi-web", false) {
        assert!(p.meta().annotations.get("logging").is_none());
    }
}

/// Rolls `name` from image a to b, checking the bounds at every instant; returns
/// (largest pod count, smallest available count) seen.
fn roll_checked(
    c: &mut Cluster,
    name: &str,
    replicas: usize,
    surge: usize,
    unavail: usize,
) -> (usize, usize) {
    // The invariant checker watches the whole rollout (its Deployment rules check
    // the controller's decisions; the counts below check the pods).
    let mut inv = c.invariant_checker();
    set_image(c, name, "app:v2");
    let (mut max_total, mut min_avail) = (0, usize::MAX);
    let n = name.to_string();
    run_checked(c, Duration::from_secs(300), |c| {
        common::assert_invariants(c, &mut inv, true);
        let (total, avail) = counts(c.store(), &n);
        assert!(
            total <= replicas + surge,
            "{total} pods > {replicas} + {surge} at {:?}",
            c.now()
        );
        assert!(
            avail + unavail >= replicas,
            "{avail} available < {replicas} − {unavail} at {:?}",
            c.now()
        );
        max_total = max_total.max(total);
        min_avail = min_avail.min(avail);
    });
    let st = dstatus(c.store(), name);
    let r = replicas as i32;
    assert_eq!(
        (st.replicas, st.updated_replicas, st.available_replicas),
        (r, r, r)
    );
    for p in pods(c.store(), name, false) {
        assert_eq!(image_of(&p), "app:v2");
    }
    (max_total, min_avail)
}

#[test]
fn rolling_update_respects_percent_bounds_with_upstream_rounding() {
    let mut c = cluster(Duration::from_secs(3), &[]);
    c.apply(deployment_yaml("web", 10, "app:v1", "")).unwrap();
    wait_complete(&mut c, "web", 10, Duration::from_secs(60));
    let old = replica_sets(c.store(), "web")[0].clone();
    // 25% of 10: maxSurge 3 (rounded up), maxUnavailable 2 (rounded down); the
    // bounds are reached exactly.
    assert_eq!(roll_checked(&mut c, "web", 10, 3, 2), (13, 8));
    let sets = replica_sets(c.store(), "web");
    assert_eq!(sets.len(), 2);
    let new = &sets[1];
    assert_eq!((sets[0].spec.replicas, new.spec.replicas), (0, 10));
    assert_eq!(
        (revision(&sets[0]), revision(new)),
        ("1".into(), "2".into())
    );
    let ev = events(c.store(), "ScalingReplicaSet");
    // The first sync of the rollout creates the new one at 3 and scales the old one
    // down by 2 (13 − 8 − 3 unavailable new pods).
    assert_eq!(
        ev[0],
        format!("Scaled up replica set {} from 0 to 10", old.meta.name)
    );
    assert!(ev[1..3].contains(&format!(
        "Scaled up replica set {} from 0 to 3",
        new.meta.name
    )));
    assert!(ev[1..3].contains(&format!(
        "Scaled down replica set {} from 10 to 8",
        old.meta.name
    )));
    let last = ev.last().unwrap();
    assert!(
        last.starts_with(&format!("Scaled down replica set {} from", old.meta.name))
            && last.ends_with(" to 0"),
        "{last}"
    );
    let d = deployment(c.store(), "web");
    assert_eq!(d.status.observed_generation, d.meta.generation);
    assert_eq!(
        d.meta
            .annotations
            .get(ANNOTATION_REVISION)
            .unwrap()
            .as_str(),
        "2"
    );
}

#[test]
fn rolling_update_percent_of_three_surges_one_and_keeps_all_available() {
    let mut c = cluster(Duration::from_secs(3), &[]);
    c.apply(deployment_yaml("web", 3, "app:v1", "")).unwrap();
    wait_complete(&mut c, "web", 3, Duration::from_secs(60));
    // 25% of 3: maxSurge 1, maxUnavailable 0.
    assert_eq!(roll_checked(&mut c, "web", 3, 1, 0), (4, 3));
}

#[test]
fn rolling_update_respects_absolute_bounds() {
    let mut c = cluster(Duration::from_secs(3), &[]);
    let extra =
        "  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 2}}\n";
    c.apply(deployment_yaml("web", 4, "app:v1", extra)).unwrap();
    wait_complete(&mut c, "web", 4, Duration::from_secs(60));
    assert_eq!(roll_checked(&mut c, "web", 4, 0, 2), (4, 2));
}

#[test]
fn both_bounds_rounding_to_zero_make_max_unavailable_one() {
    let mut c = cluster(Duration::from_secs(3), &[]);
    let extra =
        "  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: \"25%\"}}\n";
    c.apply(deployment_yaml("web", 3, "app:v1", extra)).unwrap();
    wait_complete(&mut c, "web", 3, Duration::from_secs(60));
    // 25% of 3 rounds down to 0, as does a maxSurge of 0: maxUnavailable becomes 1,
    // and the rollout completes one pod at a time.
    assert_eq!(roll_checked(&mut c, "web", 3, 0, 1), (3, 2));
}

#[test]
fn stuck_rollout_keeps_old_pods_and_times_out_without_rollback() {
    let mut c = cluster(Duration::ZERO, &["app:bad"]);
    let extra = "  progressDeadlineSeconds: 60\n";
    c.apply(deployment_yaml("web", 3, "app:v1", extra)).unwrap();
    wait_complete(&mut c, "web", 3, Duration::from_secs(60));
    set_image(&mut c, "web", "app:bad");
    c.advance(Duration::from_secs(20));
    let st = dstatus(c.store(), "web");
    assert_eq!(
        (
            st.replicas,
            st.updated_replicas,
            st.available_replicas,
            st.unavailable_replicas
        ),
        (4, 1, 3, 1)
    );
    let old = rs_by_image(c.store(), "web", "app:v1");
    let new = rs_by_image(c.store(), "web", "app:bad");
    assert_eq!((old.spec.replicas, new.spec.replicas), (3, 1));
    let (s, r, _) = condition(c.store(), "web", "Progressing");
    assert_eq!(
        (s, r.as_str()),
        (ConditionStatus::True, "ReplicaSetUpdated")
    );
    // The deadline counts from the last progress (lastUpdateTime), strictly after.
    let st = dstatus(c.store(), "web");
    let last = find_condition(&st.conditions, "Progressing")
        .unwrap()
        .last_update_time
        .unwrap();
    let at = last.plus(Duration::from_secs(60));
    c.advance(at.since(c.now()));
    let (_, r, _) = condition(c.store(), "web", "Progressing");
    assert_eq!(r, "ReplicaSetUpdated", "not at the deadline");
    // The requeue at the deadline + 1 s finds it.
    c.advance(Duration::from_millis(1001));
    let (s, r, m) = condition(c.store(), "web", "Progressing");
    assert_eq!(
        (s, r.as_str()),
        (ConditionStatus::False, "ProgressDeadlineExceeded")
    );
    assert_eq!(
        m,
        format!(
            "ReplicaSet \"{}\" has timed out progressing.",
            new.meta.name
        )
    );
    // No rollback: the old pods keep serving, the template stays.
    c.advance(Duration::from_secs(300));
    let old = rs_by_image(c.store(), "web", "app:v1");
    assert_eq!(old.spec.replicas, 3);
    assert_eq!(counts(c.store(), "web"), (4, 3));
    let d = deployment(c.store(), "web");
    assert_eq!(d.spec.template.spec.containers[0].image.as_str(), "app:bad");
    let (s, _, _) = condition(c.store(), "web", "Available");
    assert_eq!(s, ConditionStatus::True);
}

#[test]
fn rollout_undo_scenario() {
    // rollout-undo.yaml: stall on an unpullable image, undo to revision 1, pause,
    // scale while paused, resume, stall again past the default deadline.
    let mut c = cluster(Duration::ZERO, &["nginx:1.91"]);
    let name = "nginx-deployment-controller";
    c.apply(load("nginx-deployment.yaml")).unwrap();
    wait_complete(&mut c, name, 2, Duration::from_secs(60));
    edit(&mut c, name, |d| d.spec.replicas = 3);
    wait_complete(&mut c, name, 3, Duration::from_secs(60));
    edit(&mut c, name, |d| {
        let mut spec: PodSpec = (*d.spec.template.spec).clone();
        spec.containers[0].image = Str::new("nginx:1.91");
        d.spec.template.spec = Arc::new(spec);
        d.meta.annotations = d.meta.annotations.with(
            ANNOTATION_CHANGE_CAUSE,
            "kubectl set image nginx=nginx:1.91",
        );
    });
    c.advance(Duration::from_secs(120));
    assert_eq!(replica_sets(c.store(), name).len(), 2);
    let st = dstatus(c.store(), name);
    assert_eq!(
        (st.available_replicas, st.updated_replicas, st.replicas),
        (3, 1, 4)
    );
    let bad = rs_by_image(c.store(), name, "nginx:1.91");
    assert_eq!(
        bad.meta
            .annotations
            .get(ANNOTATION_CHANGE_CAUSE)
            .unwrap()
            .as_str(),
        "kubectl set image nginx=nginx:1.91"
    );
    assert_eq!(
        c.rollout_history(NS, name).unwrap(),
        vec![
            (
                1,
                Some("kubectl create -f nginx-deployment.yaml --record".to_string())
            ),
            (2, Some("kubectl set image nginx=nginx:1.91".to_string())),
        ]
    );
    // Unknown revision: kubectl's error, nothing changes.
    let err = c.rollout_undo(NS, name, Some(9)).unwrap_err().to_string();
    assert!(
        err.contains("unable to find specified revision 9 in history"),
        "{err}"
    );
    assert_eq!(c.rollout_undo(NS, name, Some(1)).unwrap(), "rolled back");
    wait_complete(&mut c, name, 3, Duration::from_secs(180));
    wait(&mut c, "old pods gone", Duration::from_secs(120), |s| {
        let ps = pods(s, "nginx", false);
        ps.len() == 3 && ps.iter().all(|p| image_of(p) == "nginx:1.8")
    });
    let sets = replica_sets(c.store(), name);
    assert_eq!(sets.len(), 2);
    let first = rs_by_image(c.store(), name, "nginx:1.8");
    assert_eq!(revision(&first), "3");
    assert_eq!(
        first
            .meta
            .annotations
            .get(ANNOTATION_REVISION_HISTORY)
            .unwrap()
            .as_str(),
        "1"
    );
    assert_eq!(rs_by_image(c.store(), name, "nginx:1.91").spec.replicas, 0);
    let d = deployment(c.store(), name);
    assert_eq!(
        d.meta
            .annotations
            .get(ANNOTATION_REVISION)
            .unwrap()
            .as_str(),
        "3"
    );
    // The change cause came back with the template.
    assert_eq!(
        d.meta
            .annotations
            .get(ANNOTATION_CHANGE_CAUSE)
            .unwrap()
            .as_str(),
        "kubectl create -f nginx-deployment.yaml --record"
    );
    assert_eq!(
        c.rollout_history(NS, name).unwrap(),
        vec![
            (2, Some("kubectl set image nginx=nginx:1.91".to_string())),
            (
                3,
                Some("kubectl create -f nginx-deployment.yaml --record".to_string())
            ),
        ]
    );
    // Undoing to the current revision is skipped.
    assert!(c
        .rollout_undo(NS, name, Some(3))
        .unwrap()
        .starts_with("skipped rollback"));

    // Pause: a template change starts no rollout, scaling still works.
    assert!(c.rollout_pause(NS, name).unwrap());
    assert!(!c.rollout_pause(NS, name).unwrap());
    set_image(&mut c, name, "nginx:1.9.1");
    c.advance(Duration::from_secs(60));
    assert_eq!(replica_sets(c.store(), name).len(), 2);
    let (s, r, m) = condition(c.store(), name, "Progressing");
    assert_eq!(
        (s, r.as_str(), m.as_str()),
        (
            ConditionStatus::Unknown,
            "DeploymentPaused",
            "Deployment is paused"
        )
    );
    let err = c.rollout_undo(NS, name, None).unwrap_err().to_string();
    assert!(err.contains("cannot rollback a paused deployment"), "{err}");
    edit(&mut c, name, |d| d.spec.replicas = 4);
    wait(&mut c, "4 available", Duration::from_secs(60), |s| {
        dstatus(s, "nginx-deployment-controller").available_replicas == 4
    });
    assert_eq!(replica_sets(c.store(), name).len(), 2);
    assert_eq!(rs_by_image(c.store(), name, "nginx:1.8").spec.replicas, 4);
    assert!(c.rollout_resume(NS, name).unwrap());
    wait_complete(&mut c, name, 4, Duration::from_secs(180));
    assert_eq!(replica_sets(c.store(), name).len(), 3);
    assert_eq!(revision(&rs_by_image(c.store(), name, "nginx:1.9.1")), "4");

    // A second stall runs past the default 600 s deadline.
    set_image(&mut c, name, "nginx:1.91");
    c.advance(Duration::from_secs(660));
    let (s, r, _) = condition(c.store(), name, "Progressing");
    assert_eq!(
        (s, r.as_str()),
        (ConditionStatus::False, "ProgressDeadlineExceeded")
    );
    let st = dstatus(c.store(), name);
    assert_eq!((st.available_replicas, st.updated_replicas), (3, 2));
    // The stuck ReplicaSet is the one revision 2 made (same hash), now revision 5.
    let again = rs_by_image(c.store(), name, "nginx:1.91");
    assert_eq!(again.meta.uid, bad.meta.uid);
    assert_eq!(revision(&again), "5");
    // Undo to the previous revision (4).
    assert_eq!(c.rollout_undo(NS, name, None).unwrap(), "rolled back");
    wait_complete(&mut c, name, 4, Duration::from_secs(180));
    let d = deployment(c.store(), name);
    assert_eq!(
        d.spec.template.spec.containers[0].image.as_str(),
        "nginx:1.9.1"
    );
}

#[test]
fn revision_history_limit_deletes_the_oldest_empty_replica_sets() {
    let mut c = cluster(Duration::ZERO, &[]);
    c.apply(deployment_yaml(
        "web",
        1,
        "app:1",
        "  revisionHistoryLimit: 2\n",
    ))
    .unwrap();
    wait_complete(&mut c, "web", 1, Duration::from_secs(60));
    for i in 2..=5 {
        set_image(&mut c, "web", &format!("app:{i}"));
        wait_complete(&mut c, "web", 1, Duration::from_secs(120));
    }
    wait(&mut c, "cleanup", Duration::from_secs(120), |s| {
        replica_sets(s, "web").len() == 3
    });
    c.advance(Duration::from_secs(60));
    let mut revs: Vec<String> = replica_sets(c.store(), "web")
        .iter()
        .map(revision)
        .collect();
    revs.sort();
    assert_eq!(revs, ["3", "4", "5"]);
    assert_eq!(rs_by_image(c.store(), "web", "app:5").spec.replicas, 1);
}

#[test]
fn rollover_scales_the_intermediate_replica_set_down_at_once() {
    let mut c = cluster(Duration::from_secs(30), &[]);
    c.apply(deployment_yaml("web", 4, "app:v1", "")).unwrap();
    wait_complete(&mut c, "web", 4, Duration::from_secs(120));
    let mut inv = c.invariant_checker();
    set_image(&mut c, "web", "app:v2");
    c.advance(Duration::from_secs(5));
    common::assert_invariants(&c, &mut inv, true);
    // maxSurge 1, maxUnavailable 1: v1 at 3, v2 at 2 (not ready yet).
    assert_eq!(rs_by_image(c.store(), "web", "app:v1").spec.replicas, 3);
    assert_eq!(rs_by_image(c.store(), "web", "app:v2").spec.replicas, 2);
    set_image(&mut c, "web", "app:v3");
    // In the same instant: the unhealthy intermediate ReplicaSet goes to 0, the
    // available old one stays.
    assert_eq!(rs_by_image(c.store(), "web", "app:v2").spec.replicas, 0);
    assert_eq!(rs_by_image(c.store(), "web", "app:v1").spec.replicas, 3);
    run_checked(&mut c, Duration::from_secs(300), |c| {
        common::assert_invariants(c, &mut inv, true);
        let (total, avail) = counts(c.store(), "web");
        assert!(total <= 5 && avail >= 3, "{total} pods, {avail} available");
    });
    let st = dstatus(c.store(), "web");
    assert_eq!(
        (st.replicas, st.updated_replicas, st.available_replicas),
        (4, 4, 4)
    );
    assert!(pods(c.store(), "web", false)
        .iter()
        .all(|p| image_of(p) == "app:v3"));
    let revs: Vec<String> = replica_sets(c.store(), "web")
        .iter()
        .map(revision)
        .collect();
    assert_eq!(revs, ["1", "2", "3"]);
}

#[test]
fn proportional_scaling_during_a_stalled_rollout() {
    let mut c = cluster(Duration::ZERO, &["app:bad"]);
    c.apply(deployment_yaml("web", 10, "app:v1", "")).unwrap();
    wait_complete(&mut c, "web", 10, Duration::from_secs(60));
    let mut inv = c.invariant_checker();
    set_image(&mut c, "web", "app:bad");
    c.advance(Duration::from_secs(30));
    common::assert_invariants(&c, &mut inv, true);
    let sizes = |c: &Cluster| {
        (
            rs_by_image(c.store(), "web", "app:v1").spec.replicas,
            rs_by_image(c.store(), "web", "app:bad").spec.replicas,
        )
    };
    // maxSurge 3, maxUnavailable 2: old 10 → 8, new 5 (13 in all), then stuck.
    assert_eq!(sizes(&c), (8, 5));
    // Scale to 15 (maxSurge 4 → 19): +6 spread as round(8·19/13) − 8 = 4 and
    // round(5·19/13) − 5 = 2.
    edit(&mut c, "web", |d| d.spec.replicas = 15);
    c.advance(Duration::from_secs(10));
    common::assert_invariants(&c, &mut inv, true);
    assert_eq!(sizes(&c), (12, 7));
    for rs in replica_sets(c.store(), "web") {
        let a = &rs.meta.annotations;
        assert_eq!(a.get(ANNOTATION_DESIRED_REPLICAS).unwrap().as_str(), "15");
        assert_eq!(a.get(ANNOTATION_MAX_REPLICAS).unwrap().as_str(), "19");
    }
    assert_eq!(replica_sets(c.store(), "web").len(), 2, "no new rollout");
    // Scale to 5 (maxSurge 2 → 7): −12 spread as round(12·7/19) − 12 = −8 and
    // round(7·7/19) − 7 = −4.
    edit(&mut c, "web", |d| d.spec.replicas = 5);
    c.advance(Duration::from_secs(10));
    common::assert_invariants(&c, &mut inv, true);
    assert_eq!(sizes(&c), (4, 3));
    let ev = events(c.store(), "ScalingReplicaSet");
    let old = rs_by_image(c.store(), "web", "app:v1").meta.name;
    assert!(
        ev.contains(&format!("Scaled up replica set {old} from 8 to 12")),
        "{ev:?}"
    );
    assert!(
        ev.contains(&format!("Scaled down replica set {old} from 12 to 4")),
        "{ev:?}"
    );
}

#[test]
fn recreate_never_runs_old_and_new_pods_together() {
    let mut c = cluster(Duration::from_secs(2), &[]);
    c.apply(deployment_yaml(
        "web",
        3,
        "app:v1",
        "  strategy: {type: Recreate}\n",
    ))
    .unwrap();
    wait_complete(&mut c, "web", 3, Duration::from_secs(60));
    let mut inv = c.invariant_checker();
    set_image(&mut c, "web", "app:v2");
    let mut saw_wait = false;
    run_checked(&mut c, Duration::from_secs(300), |c| {
        common::assert_invariants(c, &mut inv, true);
        let ps = pods(c.store(), "web", false); // terminating pods included
        let old = ps.iter().filter(|p| image_of(p) == "app:v1").count();
        let new = ps.len() - old;
        assert!(
            old == 0 || new == 0,
            "{old} old and {new} new pods at {:?}",
            c.now()
        );
        // Old pods terminating and no new pod yet: the controller waits.
        saw_wait |= new == 0 && ps.iter().any(|p| p.meta().is_being_deleted());
    });
    assert!(saw_wait);
    let st = dstatus(c.store(), "web");
    assert_eq!(
        (st.replicas, st.updated_replicas, st.available_replicas),
        (3, 3, 3)
    );
    let sets = replica_sets(c.store(), "web");
    assert_eq!((sets[0].spec.replicas, sets[1].spec.replicas), (0, 3));
    // Recreate has no surge: max-replicas = replicas.
    assert_eq!(
        sets[1]
            .meta
            .annotations
            .get(ANNOTATION_MAX_REPLICAS)
            .unwrap()
            .as_str(),
        "3"
    );
}

#[test]
fn hash_collision_bumps_collision_count() {
    let mut c = cluster(Duration::ZERO, &[]);
    let objs = deployment_yaml("web", 2, "app:v1", "");
    let template = objs[0].as_deployment().unwrap().spec.template.clone();
    let taken = format!("web-{}", compute_hash(&template, None));
    // Someone else's ReplicaSet holds the name (labels the Deployment does not select).
    let other_labels = StrMap::from_pairs([("app", "other")]);
    c.apply(vec![Object::from(ReplicaSet {
        meta: ObjectMeta::named(NS, &taken),
        spec: ReplicaSetSpec {
            replicas: 0,
            min_ready_seconds: 0,
            selector: LabelSelector::from_labels(other_labels.clone()),
            template: PodTemplateSpec {
                meta: TemplateMeta {
                    labels: other_labels,
                    annotations: StrMap::new(),
                },
                spec: template.spec.clone(),
            },
        },
        status: ReplicaSetStatus::default(),
    })])
    .unwrap();
    c.apply(objs).unwrap();
    wait_complete(&mut c, "web", 2, Duration::from_secs(60));
    let st = dstatus(c.store(), "web");
    assert_eq!(st.collision_count, Some(1));
    let sets = replica_sets(c.store(), "web");
    assert_eq!(sets.len(), 1);
    assert_eq!(
        sets[0].meta.name.as_str(),
        format!("web-{}", compute_hash(&template, Some(1)))
    );
}

#[test]
fn available_condition_false_without_minimum_availability() {
    let mut c = cluster(Duration::ZERO, &[]);
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  \
                replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    \
                metadata:\n      labels: {app: web}\n      annotations: \
                {kubesim.io/never-ready: \"true\"}\n    spec:\n      containers: [{name: \
                app, image: app}]\n";
    c.apply(manifest::load_str(yaml, "inline.yaml").unwrap())
        .unwrap();
    c.advance(Duration::from_secs(30));
    let st = dstatus(c.store(), "web");
    assert_eq!(
        (st.replicas, st.available_replicas, st.unavailable_replicas),
        (2, 0, 2)
    );
    let (s, r, m) = condition(c.store(), "web", "Available");
    assert_eq!(
        (s, r.as_str(), m.as_str()),
        (
            ConditionStatus::False,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability."
        )
    );
    let (s, r, _) = condition(c.store(), "web", "Progressing");
    assert_eq!(
        (s, r.as_str()),
        (ConditionStatus::True, "ReplicaSetUpdated")
    );
}

#[test]
fn min_ready_seconds_gates_each_step() {
    let mut c = cluster(Duration::ZERO, &[]);
    let extra =
        "  minReadySeconds: 10\n  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}\n";
    c.apply(deployment_yaml("web", 2, "app:v1", extra)).unwrap();
    wait_complete(&mut c, "web", 2, Duration::from_secs(60));
    set_image(&mut c, "web", "app:v2");
    let new = rs_by_image(c.store(), "web", "app:v2");
    assert_eq!(new.spec.min_ready_seconds, 10);
    // The new pod is ready after ~1 s but available only 10 s later: until then the
    // old ReplicaSet keeps both pods.
    c.advance(Duration::from_secs(8));
    assert_eq!(rs_by_image(c.store(), "web", "app:v1").spec.replicas, 2);
    assert_eq!(dstatus(c.store(), "web").available_replicas, 2);
    c.advance(Duration::from_secs(5));
    assert_eq!(rs_by_image(c.store(), "web", "app:v1").spec.replicas, 1);
    wait_complete(&mut c, "web", 2, Duration::from_secs(120));
}

#[test]
fn rolling_bounds_hold_with_fast_pods_and_other_seeds() {
    for (seed, readiness) in [(1, 0), (2, 1), (3, 0), (4, 2)] {
        let mut c = Cluster::new(ClusterConfig {
            nodes: NodeSpecs::Count(3),
            readiness_delay: Duration::from_secs(readiness),
            seed,
            threads: 2,
            ..ClusterConfig::default()
        })
        .unwrap();
        c.apply(deployment_yaml("web", 7, "app:v1", "")).unwrap();
        wait_complete(&mut c, "web", 7, Duration::from_secs(60));
        // 25% of 7: maxSurge 2, maxUnavailable 1.
        let (max_total, min_avail) = roll_checked(&mut c, "web", 7, 2, 1);
        assert!(max_total <= 9 && min_avail >= 6, "seed {seed}");
    }
}

#[test]
fn adopts_a_matching_orphan_replica_set_and_releases_a_relabelled_one() {
    let mut c = cluster(Duration::ZERO, &[]);
    let objs = deployment_yaml("web", 2, "app:v1", "");
    let template = objs[0].as_deployment().unwrap().spec.template.clone();
    // An orphan ReplicaSet already running the Deployment's template.
    let labels = template.meta.labels.with(LABEL_POD_TEMPLATE_HASH, "manual");
    c.apply(vec![Object::from(ReplicaSet {
        meta: ObjectMeta {
            labels: labels.clone(),
            ..ObjectMeta::named(NS, "hand-made")
        },
        spec: ReplicaSetSpec {
            replicas: 2,
            min_ready_seconds: 0,
            selector: LabelSelector::from_labels(labels.clone()),
            template: PodTemplateSpec {
                meta: TemplateMeta {
                    labels,
                    annotations: StrMap::new(),
                },
                spec: template.spec.clone(),
            },
        },
        status: ReplicaSetStatus::default(),
    })])
    .unwrap();
    c.advance(Duration::from_secs(5));
    c.apply(objs).unwrap();
    wait_complete(&mut c, "web", 2, Duration::from_secs(60));
    let sets = replica_sets(c.store(), "web");
    assert_eq!(sets.len(), 1, "adopted, not replaced");
    assert_eq!(sets[0].meta.name.as_str(), "hand-made");
    assert_eq!(revision(&sets[0]), "1");
    assert_eq!(events(c.store(), "ScalingReplicaSet"), Vec::<String>::new());
    // Relabel it out of the selector: released, and a new one is made.
    let mut o = (*c.store().get(Kind::ReplicaSet, NS, "hand-made").unwrap()).clone();
    o.meta_mut().labels = StrMap::from_pairs([("app", "elsewhere")]);
    c.store().update(o).unwrap();
    c.advance(Duration::from_secs(10));
    let released = c.store().get(Kind::ReplicaSet, NS, "hand-made").unwrap();
    assert!(released.meta().controller_ref().is_none());
    let sets = replica_sets(c.store(), "web");
    assert_eq!(sets.len(), 1);
    assert_eq!(
        sets[0].meta.name.as_str(),
        format!("web-{}", compute_hash(&template, None))
    );
}
