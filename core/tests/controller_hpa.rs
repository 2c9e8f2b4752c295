//! The HPA controller in a simulated cluster, in virtual time, with the ReplicaSet
//! controller and the kubelet running the target's pods and the `load` demand model
//! ([`Cluster::set_load`]) as the metrics source.

mod common;

use std::time::Duration;

use kubesim_core::cluster::{Cluster, ClusterConfig, NodeSpecs};
use kubesim_core::manifest;
use kubesim_core::model::{find_condition, ConditionStatus, HpaStatus, Kind, Object};
use kubesim_core::time::Timestamp;

const TICK: Duration = Duration::from_secs(15);

fn cluster() -> Cluster {
    Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(3),
        ..ClusterConfig::default()
    })
    .unwrap()
}

fn apply(c: &mut Cluster, yaml: &str) {
    c.apply(manifest::load_str(yaml, "test.yaml").unwrap())
        .unwrap();
}

/// A ReplicaSet `web` of pods requesting 100m CPU, with extra pod annotations.
fn rs_yaml(replicas: i32, annotations: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web\nspec:\n  replicas: \
         {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      \
         labels: {{app: web}}\n      annotations: {{{annotations}}}\n    spec:\n      \
         containers:\n      - name: web\n        image: nginx\n        resources:\n          \
         requests: {{cpu: 100m}}\n"
    )
}

/// An HPA `web` on `kind/name`, 50% CPU target.
fn hpa_yaml(kind: &str, name: &str, min: i32, max: i32) -> String {
    format!(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\n\
         spec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: {kind}, name: {name}}}\n  \
         minReplicas: {min}\n  maxReplicas: {max}\n  metrics:\n  - type: Resource\n    \
         resource:\n      name: cpu\n      target: {{type: Utilization, averageUtilization: 50}}\n"
    )
}

fn replicas(c: &Cluster) -> i32 {
    c.store()
        .get(Kind::ReplicaSet, "default", "web")
        .unwrap()
        .as_replica_set()
        .unwrap()
        .spec
        .replicas
}

fn status(c: &Cluster) -> HpaStatus {
    c.store()
        .get(Kind::HorizontalPodAutoscaler, "default", "web")
        .unwrap()
        .as_hpa()
        .unwrap()
        .status
        .clone()
}

fn cond(c: &Cluster, t: &str) -> (ConditionStatus, String) {
    let st = status(c);
    let k = find_condition(&st.conditions, t).unwrap_or_else(|| panic!("no {t} condition"));
    (k.status, k.reason.as_deref().unwrap_or("").to_string())
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

/// A cluster with the ReplicaSet (ready pods) at the 50% target load and the HPA;
/// returns the HPA's first sync time (its ticks are every 15 s from there). (Without
/// a load the pods are idle, and a new HPA scales them down at once.)
fn setup(rs_replicas: i32, min: i32, max: i32) -> (Cluster, Timestamp) {
    let mut c = cluster();
    apply(&mut c, &rs_yaml(rs_replicas, ""));
    c.advance(Duration::from_secs(5));
    let (k, ns, n) = rs_key();
    if rs_replicas > 0 {
        c.set_load(k, ns, n, 50.0).unwrap();
    }
    apply(&mut c, &hpa_yaml("ReplicaSet", "web", min, max));
    let t0 = c.now();
    // The first evaluation is 15 s after creation.
    c.advance(TICK);
    (c, t0.plus(TICK))
}

fn rs_key() -> (Kind, &'static str, &'static str) {
    (Kind::ReplicaSet, "default", "web")
}

#[test]
fn formula_on_the_15s_sync() {
    let (mut c, t0) = setup(2, 1, 10);
    c.advance(Duration::from_secs(1));
    let (k, ns, n) = rs_key();
    // 150% of 2 × 100m = 300m.
    assert_eq!(c.set_load(k, ns, n, 150.0).unwrap(), 300);
    c.advance(Duration::from_secs(13));
    assert_eq!(replicas(&c), 2, "nothing before the next sync");
    c.advance(Duration::from_secs(1));
    // ceil(2 × 150 / 50) = 6.
    assert_eq!(replicas(&c), 6);
    let st = status(&c);
    assert_eq!(st.last_scale_time, Some(t0.plus(TICK)));
    assert_eq!((st.current_replicas, st.desired_replicas), (2, 6));
    assert_eq!(st.current_utilization, Some(150));
    assert_eq!(
        events(&c, "SuccessfulRescale"),
        vec!["New size: 6; reason: cpu resource utilization (percentage of request) above target"]
    );
    assert_eq!(
        cond(&c, "AbleToScale"),
        (ConditionStatus::True, "SucceededRescale".into())
    );
    assert_eq!(
        cond(&c, "ScalingActive"),
        (ConditionStatus::True, "ValidMetricFound".into())
    );
    // The demand is spread over the 6 ready pods: 50% each, at target.
    c.advance(TICK);
    let st = status(&c);
    assert_eq!(st.current_utilization, Some(50));
    assert_eq!((st.current_replicas, st.desired_replicas), (6, 6));
    assert_eq!(replicas(&c), 6);
    assert_eq!(
        cond(&c, "ScalingLimited"),
        (ConditionStatus::False, "DesiredWithinRange".into())
    );
    // Rendered status.
    let json = Object::to_json(
        &c.store()
            .get(Kind::HorizontalPodAutoscaler, "default", "web")
            .unwrap(),
    );
    assert_eq!(
        json["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"],
        50
    );
    let types: Vec<&str> = json["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["AbleToScale", "ScalingActive", "ScalingLimited"]);
}

#[test]
fn tolerance_of_ten_percent() {
    let (mut c, _) = setup(2, 1, 10);
    let (k, ns, n) = rs_key();
    c.set_load(k, ns, n, 54.0).unwrap(); // ratio 1.08
    c.advance(4 * TICK);
    assert_eq!(replicas(&c), 2);
    assert_eq!(status(&c).current_utilization, Some(54));
    c.set_load(k, ns, n, 56.0).unwrap(); // ratio 1.12 → ceil(2.24)
    c.advance(TICK);
    assert_eq!(replicas(&c), 3);
}

#[test]
fn scale_up_limited_to_max_of_4_pods_and_100_percent_per_15s() {
    let (mut c, _) = setup(1, 1, 10);
    let (k, ns, n) = rs_key();
    c.set_load(k, ns, n, 1000.0).unwrap(); // wants 20
    c.advance(TICK);
    assert_eq!(replicas(&c), 5, "1 + 4 pods");
    assert_eq!(
        cond(&c, "ScalingLimited"),
        (ConditionStatus::True, "ScaleUpLimit".into())
    );
    c.advance(TICK);
    // 200% on 5 pods wants 20; the rate allows 10, as does maxReplicas.
    assert_eq!(replicas(&c), 10);
    assert_eq!(
        cond(&c, "ScalingLimited"),
        (ConditionStatus::True, "TooManyReplicas".into())
    );
}

#[test]
fn scale_down_waits_for_the_stabilization_window() {
    let (mut c, t0) = setup(2, 1, 10);
    let mut inv = c.invariant_checker();
    let (k, ns, n) = rs_key();
    c.set_load(k, ns, n, 150.0).unwrap();
    c.advance(TICK);
    common::assert_invariants(&c, &mut inv, true);
    assert_eq!(replicas(&c), 6);
    c.advance(Duration::from_secs(5));
    common::assert_invariants(&c, &mut inv, true);
    // 10% of 600m = 60m: wants ceil(0.2 × 6) = 2.
    c.set_load(k, ns, n, 10.0).unwrap();
    c.advance(TICK);
    assert_eq!(replicas(&c), 6);
    assert_eq!(
        cond(&c, "AbleToScale"),
        (ConditionStatus::True, "ScaleDownStabilized".into())
    );
    assert_eq!(status(&c).desired_replicas, 6);
    // The recommendation of 6 (at t0 + 15 s) holds for 300 s.
    c.run_until(|_| false, t0.plus(Duration::from_secs(314)).since(c.now()))
        .ok();
    assert_eq!(replicas(&c), 6);
    common::assert_invariants(&c, &mut inv, true);
    c.advance(Duration::from_secs(1));
    assert_eq!(c.now(), t0.plus(Duration::from_secs(315)));
    assert_eq!(replicas(&c), 2);
    // The scale-down's pod deletions, checked once settled.
    c.advance(Duration::from_secs(60));
    common::assert_invariants(&c, &mut inv, true);
    assert_eq!(replicas(&c), 2);
    assert_eq!(
        events(&c, "SuccessfulRescale").last().map(String::as_str),
        Some("New size: 2; reason: All metrics below target")
    );
}

#[test]
fn replicas_outside_min_max_are_clamped() {
    let (mut c, _) = setup(12, 1, 10);
    assert_eq!(replicas(&c), 10);
    assert_eq!(
        events(&c, "SuccessfulRescale"),
        vec!["New size: 10; reason: Current number of replicas above Spec.MaxReplicas"]
    );
    // Below min.
    apply(&mut c, &hpa_yaml("ReplicaSet", "web", 11, 12));
    c.advance(TICK);
    assert_eq!(replicas(&c), 11);
    // Idle pods (0%) go down to minReplicas, not below.
    let (k, ns, n) = rs_key();
    c.set_load(k, ns, n, 0.0).unwrap();
    apply(&mut c, &hpa_yaml("ReplicaSet", "web", 3, 12));
    c.advance(Duration::from_secs(400));
    assert_eq!(replicas(&c), 3);
}

#[test]
fn scales_a_deployment_through_spec_replicas() {
    let mut c = cluster();
    let dep =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 5\n  \
               selector:\n    matchLabels: {app: api}\n  template:\n    metadata:\n      labels: \
               {app: api}\n    spec:\n      containers:\n      - {name: api, image: nginx}\n";
    let mut inv = c.invariant_checker();
    apply(&mut c, dep);
    apply(&mut c, &hpa_yaml("Deployment", "api", 1, 3));
    c.advance(TICK);
    common::assert_invariants(&c, &mut inv, true);
    let d = c.store().get(Kind::Deployment, "default", "api").unwrap();
    assert_eq!(d.as_deployment().unwrap().spec.replicas, 3);
    assert_eq!(status(&c).desired_replicas, 3);
}

#[test]
fn no_ready_pods_means_no_metrics_and_no_scaling() {
    let mut c = cluster();
    apply(&mut c, &rs_yaml(2, "kubesim.io/never-ready: \"true\""));
    c.advance(Duration::from_secs(5));
    let (k, ns, n) = rs_key();
    assert_eq!(
        c.set_load(k, ns, n, 500.0).unwrap(),
        0,
        "no ready pod: no demand"
    );
    apply(&mut c, &hpa_yaml("ReplicaSet", "web", 1, 10));
    c.advance(2 * TICK);
    assert_eq!(replicas(&c), 2);
    assert_eq!(
        cond(&c, "ScalingActive"),
        (ConditionStatus::False, "FailedGetResourceMetric".into())
    );
}

#[test]
fn zero_replicas_disable_scaling() {
    let (mut c, _) = setup(0, 1, 10);
    c.advance(2 * TICK);
    assert_eq!(replicas(&c), 0);
    assert_eq!(
        cond(&c, "ScalingActive"),
        (ConditionStatus::False, "ScalingDisabled".into())
    );
}

#[test]
fn missing_target_is_reported() {
    let mut c = cluster();
    apply(&mut c, &hpa_yaml("ReplicaSet", "nope", 1, 10));
    c.advance(TICK);
    assert_eq!(
        cond(&c, "AbleToScale"),
        (ConditionStatus::False, "FailedGetScale".into())
    );
}

#[test]
fn unready_pods_count_as_idle_when_scaling_up() {
    // New pods take 40 s to become ready. 2 ready pods at 160% (320m) want
    // ceil(2 × 3.2) = 7, limited to 2 + 4 = 6 at the first sync. At the next sync the
    // 4 new pods are unready: counted at 0%, 320m over 600m is 53% → ratio 1.06,
    // within tolerance → stay at 6 (the ready pods alone would say ceil(2 × 3.2) = 7).
    let mut c = cluster();
    apply(&mut c, &rs_yaml(2, "kubesim.io/ready-after: 40s"));
    c.advance(Duration::from_secs(45));
    let (k, ns, n) = rs_key();
    assert_eq!(c.set_load(k, ns, n, 160.0).unwrap(), 320);
    apply(&mut c, &hpa_yaml("ReplicaSet", "web", 1, 20));
    c.advance(TICK);
    assert_eq!(replicas(&c), 6, "limited to 2 + 4");
    c.advance(TICK);
    assert_eq!(replicas(&c), 6);
    assert_eq!(
        status(&c).current_utilization,
        Some(160),
        "ready pods' utilization"
    );
    // Once ready, the demand is spread over 6 pods: 53%, within tolerance.
    c.advance(4 * TICK);
    assert_eq!(replicas(&c), 6);
    assert_eq!(status(&c).current_utilization, Some(53));
}

/// Scaling up and down under load, with 1 and 2 threads and sharded workers: the same
/// watch-event history (the recommendation history is per HPA key).
#[test]
fn same_history_with_one_and_two_threads() {
    let run = |threads: usize, strategy: &str, workers: usize| -> Vec<String> {
        let mut c = Cluster::new(ClusterConfig {
            nodes: NodeSpecs::Count(3),
            seed: 5,
            threads,
            workers,
            strategy: strategy.parse().unwrap(),
            record_history: true,
            ..ClusterConfig::default()
        })
        .unwrap();
        apply(&mut c, &rs_yaml(2, ""));
        c.advance(Duration::from_secs(5));
        let (k, ns, n) = rs_key();
        c.set_load(k, ns, n, 400.0).unwrap();
        apply(&mut c, &hpa_yaml("ReplicaSet", "web", 1, 10));
        c.advance(Duration::from_secs(60));
        c.set_load(k, ns, n, 5.0).unwrap();
        c.advance(Duration::from_secs(400));
        assert_eq!(replicas(&c), 1);
        c.sim().history().iter().map(|h| h.to_string()).collect()
    };
    let one = run(1, "shared", 1);
    assert_eq!(one, run(2, "shared", 1));
    assert_eq!(one, run(2, "consistent", 2));
}

/// An AverageValue target's current value is rendered as upstream's controller writes
/// it (`currentMetrics[].resource.current.averageValue`, a DecimalSI quantity), not as
/// a utilization — it is what `kubectl get hpa` shows in TARGETS.
#[test]
fn average_value_targets_render_their_current_average_value() {
    let render = |resource: &str, target: &str, current: i32| {
        let yaml = format!(
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\n\
             spec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  \
             maxReplicas: 5\n  metrics:\n  - type: Resource\n    resource:\n      name: \
             {resource}\n      target: {{type: AverageValue, averageValue: {target}}}\n"
        );
        let mut o = manifest::load_str(&yaml, "hpa.yaml").unwrap().remove(0);
        let Object::HorizontalPodAutoscaler(h) = &mut o else {
            panic!("not an HPA")
        };
        h.status.current_utilization = Some(current);
        let json = o.to_json();
        let current = &json["status"]["currentMetrics"][0]["resource"]["current"];
        assert!(current["averageUtilization"].is_null(), "{current}");
        current["averageValue"].as_str().unwrap().to_string()
    };
    assert_eq!(render("cpu", "200m", 150), "150m");
    assert_eq!(render("cpu", "200m", 2000), "2");
    assert_eq!(render("cpu", "200m", 2500), "2500m");
    assert_eq!(render("memory", "100Mi", 104_857_600), "104857600");
    assert_eq!(render("memory", "100Mi", 3_000_000), "3M");
    assert_eq!(render("memory", "100Mi", 1_500_000), "1500k");
    assert_eq!(render("memory", "100Mi", 0), "0");
}
