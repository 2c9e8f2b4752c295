//! Seeded chaos runs: a whole simulated cluster — Deployments (RollingUpdate with
//! absolute and percent bounds, Recreate), a ReplicaSet, Jobs, a CronJob, an HPA fed
//! by the `load` model, StatefulSets with volumeClaimTemplates (OrderedReady and
//! Parallel, one with a partition), DaemonSets (RollingUpdate and OnDelete), Services —
//! under random user and infrastructure actions (scaling, template changes, `kubectl
//! rollout undo/pause/resume`, graceful and forced pod deletes, node failures,
//! recoveries, additions and removals, force deletes of pods stuck on a failed node,
//! claim deletes, cascading deletes with every propagation policy, virtual time
//! passing by random amounts),
//! with the invariant checker ([`kubesim_core::invariants`]) after every round of
//! reconciles and the settled rules at every idle instant. Fixed seeds: every run is
//! the same run.
//!
//! The deliberate user deletions the checker cannot tell from a control-plane bug —
//! a force delete of a StatefulSet pod (whose containers may still run on an
//! unreachable node), a claim deleted by hand, a foreground owner deleted again with
//! another policy — are declared to it with `acknowledge_deletion`, as a scenario
//! driver must. And the proof that the checker is live in this setting: a broken
//! action is reported.

mod common;

use std::time::Duration;

use common::{replica_set_yaml, service_yaml, Checked, Rng};
use kubesim_core::cluster::{ClusterConfig, NodeConfig, NodeSpecs};
use kubesim_core::intern::Str;
use kubesim_core::invariants::Rule;
use kubesim_core::model::{Kind, Object, ObjectKey, OwnerReference, PodSpec, PropagationPolicy};
use kubesim_core::store::DeleteOptions;

/// The Deployments of a run: (name, replicas, `spec:` lines for the strategy).
const DEPLOYMENTS: [(&str, i32, &str); 5] = [
    // The default: 25% / 25%.
    ("web", 4, ""),
    (
        "surge",
        3,
        "  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 2, maxUnavailable: 0}}\n",
    ),
    (
        "pct",
        5,
        "  minReadySeconds: 3\n  strategy: {type: RollingUpdate, rollingUpdate: \
         {maxSurge: \"50%\", maxUnavailable: \"30%\"}}\n",
    ),
    (
        "slow",
        3,
        "  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}\n",
    ),
    ("recreate", 3, "  strategy: {type: Recreate}\n"),
];

/// The HPA's target (a Deployment of [`DEPLOYMENTS`]).
const HPA_TARGET: &str = "web";

const NODES: usize = 4;

fn deployment_yaml(name: &str, replicas: i32, extra: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  \
         replicas: {replicas}\n  progressDeadlineSeconds: 120\n  \
         selector: {{matchLabels: {{app: {name}}}}}\n{extra}  template:\n    \
         metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n      \
         - name: app\n        image: \"{image}\"\n        \
         resources: {{requests: {{cpu: 200m}}}}\n"
    )
}

fn job_yaml(name: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n  \
         completions: 4\n  parallelism: 2\n  backoffLimit: 3\n  template:\n    metadata:\n      \
         annotations: {{kubesim.io/run-time: 7s}}\n    spec:\n      restartPolicy: Never\n      \
         containers: [{{name: c, image: busybox:1.36}}]\n"
    )
}

fn cron_yaml(name: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: {name}}}\nspec:\n  \
         schedule: \"*/2 * * * *\"\n  concurrencyPolicy: Forbid\n  \
         successfulJobsHistoryLimit: 2\n  jobTemplate:\n    spec:\n      backoffLimit: 1\n      \
         template:\n        metadata:\n          annotations: {{kubesim.io/run-time: 50s}}\n        \
         spec:\n          restartPolicy: Never\n          \
         containers: [{{name: c, image: busybox:1.36}}]\n"
    )
}

/// The StatefulSets of a run: (name, replicas, `spec:` lines).
const STATEFULSETS: [(&str, i32, &str); 2] = [
    ("db", 3, ""),
    (
        "cache",
        3,
        "  podManagementPolicy: Parallel\n  \
         updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}\n",
    ),
];

/// The DaemonSets of a run: (name, `spec:` lines).
const DAEMONSETS: [(&str, &str); 2] = [
    (
        "agent",
        "  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1}}\n",
    ),
    ("logs", "  updateStrategy: {type: OnDelete}\n"),
];

/// A headless Service and a StatefulSet `name` (`app=<name>`) with a claim template
/// `data`, pods ready 3 s after Running.
fn sts_yaml(name: &str, replicas: i32, extra: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: {name}}}\nspec:\n  \
         serviceName: {name}\n  replicas: {replicas}\n  \
         selector: {{matchLabels: {{app: {name}}}}}\n{extra}  template:\n    metadata:\n      \
         labels: {{app: {name}}}\n      annotations: {{kubesim.io/ready-after: 3s}}\n    \
         spec:\n      containers: [{{name: db, image: \"{image}\", \
         resources: {{requests: {{cpu: 50m}}}}}}]\n  \
         volumeClaimTemplates:\n  - metadata: {{name: data}}\n    spec:\n      \
         accessModes: [ReadWriteOnce]\n      resources: {{requests: {{storage: 1Mi}}}}\n"
    )
}

fn headless_yaml(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  clusterIP: None\n  \
         selector: {{app: {name}}}\n  ports: [{{port: 5432}}]\n"
    )
}

fn ds_yaml(name: &str, extra: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: {name}}}\nspec:\n  \
         selector: {{matchLabels: {{app: {name}}}}}\n{extra}  template:\n    metadata:\n      \
         labels: {{app: {name}}}\n      annotations: {{kubesim.io/ready-after: 2s}}\n    \
         spec:\n      containers: [{{name: a, image: \"{image}\", \
         resources: {{requests: {{cpu: 50m}}}}}}]\n"
    )
}

fn hpa_yaml(target: &str) -> String {
    format!(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: {target}}}\n\
         spec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {target}}}\n  \
         minReplicas: 2\n  maxReplicas: 8\n  metrics:\n  - type: Resource\n    resource:\n      \
         name: cpu\n      target: {{type: Utilization, averageUtilization: 50}}\n"
    )
}

/// The workloads a run deletes and re-creates: (kind, name).
fn workloads() -> Vec<(Kind, &'static str)> {
    let mut v: Vec<(Kind, &'static str)> = DEPLOYMENTS
        .iter()
        .map(|(n, _, _)| (Kind::Deployment, *n))
        .collect();
    v.extend([
        (Kind::ReplicaSet, "rs"),
        (Kind::Job, "batch"),
        (Kind::CronJob, "tick"),
    ]);
    v.extend(STATEFULSETS.iter().map(|(n, _, _)| (Kind::StatefulSet, *n)));
    v.extend(DAEMONSETS.iter().map(|(n, _)| (Kind::DaemonSet, *n)));
    v
}

fn manifest_of(kind: Kind, name: &str) -> String {
    match kind {
        Kind::Deployment => {
            let (_, r, extra) = DEPLOYMENTS.iter().find(|d| d.0 == name).unwrap();
            deployment_yaml(name, *r, extra, "app:v1")
        }
        Kind::ReplicaSet => replica_set_yaml(name, 3, "200m"),
        Kind::Job => job_yaml(name),
        Kind::CronJob => cron_yaml(name),
        Kind::StatefulSet => {
            let (_, r, extra) = STATEFULSETS.iter().find(|d| d.0 == name).unwrap();
            sts_yaml(name, *r, extra, "db:v1")
        }
        Kind::DaemonSet => {
            let (_, extra) = DAEMONSETS.iter().find(|d| d.0 == name).unwrap();
            ds_yaml(name, extra, "agent:v1")
        }
        _ => unreachable!("not a workload of the run: {kind:?}"),
    }
}

fn node_names(k: &Checked) -> Vec<String> {
    k.store()
        .list(Kind::Node, None, None, None)
        .unwrap()
        .iter()
        .map(|n| n.name().to_string())
        .collect()
}

/// A checked cluster with every workload of the run, rolled out. `tight`: nodes of
/// 1.5 cpu and 12 pods, too small for every workload at its largest (pods stay
/// Pending, the scheduler packs nodes to their allocatable).
fn world(seed: u64, tight: bool) -> Checked {
    let nodes = if tight {
        NodeSpecs::List(
            (0..NODES)
                .map(|i| {
                    let mut n = NodeConfig::new(&format!("node-{i}"));
                    n.capacity.resources.cpu_millis = 1500;
                    n.capacity.pods = 12;
                    n
                })
                .collect(),
        )
    } else {
        NodeSpecs::Count(NODES)
    };
    let mut k = Checked::with_config(ClusterConfig {
        nodes,
        seed,
        readiness_delay: Duration::from_secs(2),
        storage_class: Some("standard".into()),
        ..ClusterConfig::default()
    });
    for (name, _, _) in STATEFULSETS {
        k.apply_yaml(&headless_yaml(name));
    }
    for (kind, name) in workloads() {
        k.apply_yaml(&manifest_of(kind, name));
    }
    k.apply_yaml(&service_yaml("web", "web"));
    k.apply_yaml(&service_yaml("rs", "rs"));
    k.run_for(Duration::from_secs(30));
    k.c.set_load(Kind::Deployment, "default", HPA_TARGET, 50.0)
        .unwrap();
    k.settle();
    k.apply_yaml(&hpa_yaml(HPA_TARGET));
    k
}

/// Sets the image of the pod template of `kind/name` (Deployment, StatefulSet or
/// DaemonSet).
fn set_image(k: &mut Checked, kind: Kind, name: &str, image: &str) {
    k.edit(kind, name, |o| {
        let template = match o {
            Object::Deployment(d) => &mut d.spec.template,
            Object::StatefulSet(s) => &mut s.spec.template,
            Object::DaemonSet(d) => &mut d.spec.template,
            _ => unreachable!("no pod template"),
        };
        let mut spec: PodSpec = (*template.spec).clone();
        spec.containers[0].image = Str::new(image);
        template.spec = std::sync::Arc::new(spec);
    });
}

/// Force-deletes `pod` (grace 0) and, when it left the store, declares it to the
/// checker if a StatefulSet owned it: the user's own deletion of a pod whose
/// containers may still run (K8S-SEMANTICS allows it; the StatefulSet controller
/// then creates the replacement).
fn force_delete(k: &mut Checked, pod: &Object) {
    let _ = k
        .store()
        .delete(Kind::Pod, "default", pod.name(), &DeleteOptions::grace(0));
    let gone = k
        .store()
        .try_get(Kind::Pod, "default", pod.name())
        .is_none_or(|p| p.meta().uid != pod.meta().uid);
    let stateful = pod
        .meta()
        .controller_ref()
        .is_some_and(|r| r.kind == Kind::StatefulSet);
    if gone && stateful {
        k.acknowledge(&ObjectKey::of(pod));
    }
}

/// The actions of a run, each printed as it starts (the harness shows the output of
/// a failed run).
#[derive(Default)]
struct Log(Vec<String>);

impl Log {
    fn push(&mut self, action: String) {
        println!("{}", action);
        self.0.push(action);
    }
}

/// One random action, checked.
fn act(k: &mut Checked, rng: &mut Rng, log: &mut Log) {
    let dep = DEPLOYMENTS[rng.below(DEPLOYMENTS.len() as u64) as usize].0;
    match rng.below(21) {
        0 | 1 => {
            let n = rng.below(8) as i32;
            log.push(format!("scale deployment/{dep} {n}"));
            k.edit(Kind::Deployment, dep, |o| {
                o.as_deployment_mut().unwrap().spec.replicas = n
            });
        }
        2 => {
            let n = rng.below(6) as i32;
            log.push(format!("scale rs/rs {n}"));
            k.scale("rs", n);
        }
        3 | 4 => {
            let image = format!("app:v{}", 1 + rng.below(4));
            log.push(format!("set image deployment/{dep} {image}"));
            set_image(k, Kind::Deployment, dep, &image);
        }
        5 => {
            let live = k
                .store()
                .try_get(Kind::Deployment, "default", dep)
                .is_some_and(|d| !d.meta().is_being_deleted());
            if live {
                match rng.below(4) {
                    0 => {
                        log.push(format!("rollout pause {dep}"));
                        k.c.rollout_pause("default", dep).unwrap();
                    }
                    1 => {
                        log.push(format!("rollout resume {dep}"));
                        k.c.rollout_resume("default", dep).unwrap();
                    }
                    2 => {
                        log.push(format!("rollout undo {dep}"));
                        // Refused when paused or without history: kubectl's errors.
                        let _ = k.c.rollout_undo("default", dep, None);
                    }
                    _ => {
                        let to = 1 + rng.below(4) as i64;
                        log.push(format!("rollout undo {dep} --to-revision={to}"));
                        let _ = k.c.rollout_undo("default", dep, Some(to));
                    }
                }
                k.settle();
            }
        }
        6 | 7 => {
            let pods = k
                .store()
                .list(Kind::Pod, Some("default"), None, None)
                .unwrap();
            if !pods.is_empty() {
                let p = rng.pick(&pods).clone();
                let force = rng.one_in(2);
                log.push(format!("delete pod {} force={force}", p.name()));
                if force {
                    force_delete(k, &p);
                } else {
                    let _ =
                        k.store()
                            .delete(Kind::Pod, "default", p.name(), &DeleteOptions::default());
                }
                k.settle();
            }
        }
        8 => {
            let nodes = node_names(k);
            let node = rng.pick(&nodes).clone();
            if k.c.kubelet().is_node_stopped(&node) {
                log.push(format!("recover node {node}"));
                k.c.kubelet().start_node(&node);
            } else {
                log.push(format!("fail node {node}"));
                k.c.kubelet().stop_node(&node);
            }
            k.settle();
        }
        9 => {
            let nodes = node_names(k);
            if nodes.len() > 2 && rng.one_in(2) {
                let node = rng.pick(&nodes).clone();
                log.push(format!("remove node {node}"));
                k.c.remove_node(&node).unwrap();
            } else {
                let name = format!("node-{}", k.c.now().0 % 100_000);
                if !nodes.contains(&name) {
                    log.push(format!("add node {name}"));
                    k.c.add_node(NodeConfig::new(&name)).unwrap();
                }
            }
            k.settle();
        }
        10 => {
            let all = workloads();
            let (kind, name) = *rng.pick(&all);
            match k.store().try_get(kind, "default", name) {
                Some(o) => {
                    let policy = *rng.pick(&[
                        PropagationPolicy::Background,
                        PropagationPolicy::Foreground,
                        PropagationPolicy::Orphan,
                    ]);
                    log.push(format!("delete {kind:?}/{name} {policy:?}"));
                    if o.meta().is_being_deleted() {
                        // Deleting again with another policy replaces the GC
                        // finalizer: the user's choice, not the collector's.
                        k.acknowledge(&ObjectKey::of(&o));
                    }
                    k.store()
                        .delete(kind, "default", name, &DeleteOptions::propagation(policy))
                        .unwrap();
                    k.settle();
                }
                None => {
                    log.push(format!("create {kind:?}/{name}"));
                    k.apply_yaml(&manifest_of(kind, name));
                }
            }
        }
        11 => {
            let pct = *rng.pick(&[0.0, 20.0, 50.0, 120.0, 300.0]);
            let live = k
                .store()
                .try_get(Kind::Deployment, "default", HPA_TARGET)
                .is_some();
            if live {
                log.push(format!("load {HPA_TARGET} {pct}%"));
                k.c.set_load(Kind::Deployment, "default", HPA_TARGET, pct)
                    .unwrap();
                k.settle();
            }
        }
        12 | 13 => {
            let (sts, _, _) = *rng.pick(&STATEFULSETS);
            if rng.one_in(2) {
                let n = rng.below(6) as i32;
                log.push(format!("scale sts/{sts} {n}"));
                k.edit(Kind::StatefulSet, sts, |o| {
                    o.as_stateful_set_mut().unwrap().spec.replicas = n
                });
            } else {
                let image = format!("db:v{}", 1 + rng.below(3));
                log.push(format!("set image sts/{sts} {image}"));
                set_image(k, Kind::StatefulSet, sts, &image);
            }
        }
        14 => {
            let (ds, _) = *rng.pick(&DAEMONSETS);
            let image = format!("agent:v{}", 1 + rng.below(3));
            log.push(format!("set image ds/{ds} {image}"));
            set_image(k, Kind::DaemonSet, ds, &image);
        }
        15 => {
            // `kubectl delete pod --force` of the pods stuck Terminating on a node
            // whose kubelet is down (the documented way to free their identity).
            let stuck: Vec<_> = k
                .store()
                .list(Kind::Pod, Some("default"), None, None)
                .unwrap()
                .into_iter()
                .filter(|p| {
                    p.meta().is_being_deleted()
                        && p.node_name()
                            .is_some_and(|n| k.c.kubelet().is_node_stopped(n))
                })
                .collect();
            if !stuck.is_empty() {
                log.push(format!("force delete {} stuck pods", stuck.len()));
                for p in &stuck {
                    force_delete(k, p);
                }
                k.settle();
            }
        }
        16 => {
            // A retained claim whose pod is gone (scaled away): the user cleans it up.
            // (In-use claims are left alone: the `pvc-protection` finalizer that would
            // hold them until their pod goes is not modelled.)
            let claims: Vec<_> = k
                .store()
                .list(Kind::PersistentVolumeClaim, Some("default"), None, None)
                .unwrap()
                .into_iter()
                .filter(|c| {
                    let pod = c.name().strip_prefix("data-").unwrap_or_default();
                    k.store().try_get(Kind::Pod, "default", pod).is_none()
                })
                .collect();
            if !claims.is_empty() {
                let pvc = rng.pick(&claims).clone();
                log.push(format!("delete pvc {}", pvc.name()));
                // The user's own delete, declared to the checker.
                k.acknowledge(&ObjectKey::of(&pvc));
                let _ = k.store().delete(
                    Kind::PersistentVolumeClaim,
                    "default",
                    pvc.name(),
                    &DeleteOptions::default(),
                );
                k.settle();
            }
        }
        _ => {
            let max = if rng.one_in(4) { 240 } else { 30 };
            let secs = 1 + rng.below(max);
            log.push(format!("advance {secs}s"));
            k.run_for(Duration::from_secs(secs));
        }
    }
}

/// Everything back up and resumed; then the cluster converges, checked (`tight`: a
/// cluster that may lack the room to converge; only the invariants are checked).
fn converge(k: &mut Checked, seed: u64, log: &[String], tight: bool) {
    for n in 0..NODES {
        let node = format!("node-{n}");
        if k.store().try_get(Kind::Node, "", &node).is_none() {
            k.c.add_node(NodeConfig::new(&node)).unwrap();
        }
    }
    for node in node_names(k) {
        k.c.kubelet().start_node(&node);
    }
    for (name, _, _) in DEPLOYMENTS {
        if k.store()
            .try_get(Kind::Deployment, "default", name)
            .is_some()
        {
            k.c.rollout_resume("default", name).unwrap();
        }
    }
    k.settle();
    k.run_for(Duration::from_secs(900));
    if tight {
        return;
    }
    let tail = log[log.len().saturating_sub(15)..].join("\n");
    for (name, _, _) in DEPLOYMENTS {
        let Some(o) = k.store().try_get(Kind::Deployment, "default", name) else {
            continue;
        };
        let d = o.as_deployment().unwrap();
        let r = d.spec.replicas;
        let st = &d.status;
        assert_eq!(
            (st.replicas, st.updated_replicas, st.available_replicas),
            (r, r, r),
            "seed {seed}: deployment {name} did not converge; last actions:\n{tail}"
        );
        assert_eq!(k.running(name), r as usize, "seed {seed}: {name}");
    }
    for (name, _, _) in STATEFULSETS {
        let Some(o) = k.store().try_get(Kind::StatefulSet, "default", name) else {
            continue;
        };
        let s = o.as_stateful_set().unwrap();
        let r = s.spec.replicas;
        assert_eq!(
            (s.status.replicas, s.status.ready_replicas),
            (r, r),
            "seed {seed}: statefulset {name} did not converge; last actions:\n{tail}"
        );
        assert_eq!(k.running(name), r as usize, "seed {seed}: {name}");
        // Every ordinal has its claim.
        for i in 0..r {
            let claim = format!("data-{name}-{i}");
            assert!(
                k.store()
                    .try_get(Kind::PersistentVolumeClaim, "default", &claim)
                    .is_some(),
                "seed {seed}: no {claim}"
            );
        }
    }
    let nodes = k.store().count(Kind::Node);
    for (name, _) in DAEMONSETS {
        let Some(o) = k.store().try_get(Kind::DaemonSet, "default", name) else {
            continue;
        };
        let st = &o.as_daemon_set().unwrap().status;
        assert_eq!(
            (
                st.desired_number_scheduled as usize,
                st.number_ready as usize
            ),
            (nodes, nodes),
            "seed {seed}: daemonset {name} did not converge; last actions:\n{tail}"
        );
        assert_eq!(k.running(name), nodes, "seed {seed}: {name}");
    }
    if let Some(rs) = k.store().try_get(Kind::ReplicaSet, "default", "rs") {
        let want = rs.as_replica_set().unwrap().spec.replicas as usize;
        assert_eq!(k.running("rs"), want, "seed {seed}: rs");
    }
}

/// A run of `actions` random actions on seed `seed`; the cluster and the action log.
fn chaos_run(seed: u64, actions: usize, tight: bool) -> (Checked, Vec<String>) {
    let mut k = world(seed, tight);
    let mut rng = Rng::seeded(seed);
    let mut log = Log::default();
    for _ in 0..actions {
        act(&mut k, &mut rng, &mut log);
    }
    converge(&mut k, seed, &log.0, tight);
    assert_eq!(k.checker.resyncs(), 0, "seed {seed}");
    (k, log.0)
}

#[test]
fn seeded_chaos_over_every_workload_violates_nothing() {
    let mut all = Vec::new();
    for seed in [1, 2, 3, 4] {
        let (k, log) = chaos_run(seed, 80, false);
        assert!(k.checks > 300, "seed {seed}: only {} checks", k.checks);
        assert!(k.settled_checks > 80, "seed {seed}");
        all.extend(log);
    }
    // The seeds cover every kind of action.
    for what in [
        "scale deployment/",
        "scale rs/",
        "set image",
        "rollout pause",
        "rollout resume",
        "rollout undo",
        "--to-revision",
        "force=true",
        "force=false",
        "fail node",
        "recover node",
        "add node",
        "remove node",
        "Background",
        "Foreground",
        "Orphan",
        "create ",
        "load ",
        "scale sts/",
        "set image sts/",
        "set image ds/",
        "stuck pods",
        "delete pvc",
        "StatefulSet/",
        "DaemonSet/",
        "advance",
    ] {
        assert!(all.iter().any(|l| l.contains(what)), "no {what:?} action");
    }
}

/// On nodes too small for everything: pods Pending, nodes packed to allocatable. Seed
/// 407 once caught the checker judging an upstream decision: an HPA scaled `web`
/// 4→2 mid-rollout, and the next sync — the new ReplicaSet still reporting more
/// available pods than its new spec — scaled the old one 2→0 (see
/// `invariants::deployment_availability_skips_a_new_replica_set_with_surplus_available_pods`).
#[test]
fn seeded_chaos_on_tight_nodes_violates_nothing() {
    for (seed, actions) in [(407, 90), (3, 60)] {
        let (k, _) = chaos_run(seed, actions, true);
        assert!(k.checks > 200, "seed {seed}: only {} checks", k.checks);
    }
}

/// Seed 605 once caught the checker judging upstream's `FindActiveOrLatest`: a
/// Recreate rollout waiting for terminating old pods, the Deployment scaled and then
/// paused, and the paused sync scaling the new ReplicaSet up at once (see
/// `invariants::recreate_overlap_excused_after_a_sync_of_a_paused_deployment`).
#[test]
fn seeded_chaos_pausing_a_waiting_recreate_violates_nothing() {
    chaos_run(605, 130, false);
}

#[test]
fn chaos_runs_are_deterministic() {
    let dump = |k: &Checked| {
        let mut v: Vec<String> = [
            Kind::Pod,
            Kind::ReplicaSet,
            Kind::Deployment,
            Kind::Job,
            Kind::PersistentVolumeClaim,
        ]
        .into_iter()
        .flat_map(|kind| k.store().list(kind, None, None, None).unwrap())
        .map(|o| format!("{} {}", o.display_key(), o.meta().resource_version))
        .collect();
        v.sort();
        (k.checks, v)
    };
    let a = dump(&chaos_run(7, 40, false).0);
    let b = dump(&chaos_run(7, 40, false).0);
    assert_eq!(a, b);
}

/// A direct store write that scales a settled Deployment's ReplicaSet past
/// `replicas + maxSurge` is reported, as is a pod given a second controller.
#[test]
fn the_checker_is_live_in_the_chaos_world() {
    let mut k = world(5, false);
    k.run_for(Duration::from_secs(30));
    // "surge": replicas 3, maxSurge 2 → at most 5.
    let uid = k
        .store()
        .get(Kind::Deployment, "default", "surge")
        .unwrap()
        .meta()
        .uid;
    let rs = k
        .store()
        .list(Kind::ReplicaSet, Some("default"), None, None)
        .unwrap()
        .into_iter()
        .find(|o| o.meta().controller_ref().is_some_and(|r| r.uid == uid))
        .unwrap();
    let mut o = (*rs).clone();
    o.as_replica_set_mut().unwrap().spec.replicas = 6;
    k.store().update(o).unwrap();
    let v = k.c.check_invariants(&mut k.checker);
    assert_eq!(v.len(), 1, "{}", common::report(k.store(), &v));
    assert_eq!(v[0].rule, Rule::DeploymentSurge);
    assert!(v[0]
        .objects
        .contains(&ObjectKey::new(Kind::Deployment, "default", "surge")));
    // The Deployment controller scales it back; nothing else is wrong.
    k.settle();

    // A pod of the ReplicaSet "rs" also claimed by a Job as its controller.
    let job = k.store().get(Kind::Job, "default", "batch").unwrap();
    let pod = k.pods("rs").remove(0);
    let mut o: Object = (*pod).clone();
    let mut refs = o.meta().owner_references.to_vec();
    refs.push(OwnerReference {
        kind: Kind::Job,
        name: job.name().clone(),
        uid: job.meta().uid,
        controller: true,
        block_owner_deletion: true,
    });
    o.meta_mut().owner_references = refs.into();
    k.store().update(o).unwrap();
    let v = k.c.check_invariants(&mut k.checker);
    assert_eq!(v.len(), 1, "{}", common::report(k.store(), &v));
    assert_eq!(v[0].rule, Rule::SingleController);
    assert_eq!(v[0].objects[0], ObjectKey::of(&pod));
}

/// The StatefulSet rules are live too: a retained claim deleted without the user's
/// acknowledgement, and a force delete of a pod on a failed node without it (the
/// controller then starts a second `db-1` while the first may still run).
#[test]
fn unacknowledged_statefulset_deletions_are_caught_in_the_chaos_world() {
    let mut k = world(6, false);
    k.run_for(Duration::from_secs(60));
    assert_eq!(k.running("db"), 3);
    k.edit(Kind::StatefulSet, "db", |o| {
        o.as_stateful_set_mut().unwrap().spec.replicas = 2
    });
    k.run_for(Duration::from_secs(60));
    assert_eq!(k.pods("db").len(), 2);
    k.store()
        .delete(
            Kind::PersistentVolumeClaim,
            "default",
            "data-db-2",
            &DeleteOptions::default(),
        )
        .unwrap();
    let v = k.c.check_invariants(&mut k.checker);
    assert_eq!(v.len(), 1, "{}", common::report(k.store(), &v));
    assert_eq!(v[0].rule, Rule::StatefulSetPvcRetained);
    k.settle();

    let old = k.store().get(Kind::Pod, "default", "db-1").unwrap();
    let node = old.node_name().unwrap().to_string();
    k.c.kubelet().stop_node(&node);
    k.run_for(Duration::from_secs(60));
    k.store()
        .delete(Kind::Pod, "default", "db-1", &DeleteOptions::grace(0))
        .unwrap();
    k.c.run_until_idle();
    let v = k.c.check_invariants(&mut k.checker);
    assert!(
        v.iter().any(|v| v.rule == Rule::StatefulSetIdentity
            && v.objects[0] == ObjectKey::new(Kind::Pod, "default", "db-1")),
        "{}",
        common::report(k.store(), &v)
    );
    // Declared, the same action is the user's: nothing more is reported, and the
    // cluster settles cleanly.
    k.acknowledge(&ObjectKey::of(&old));
    k.settle();
    k.run_for(Duration::from_secs(30));
    assert_eq!(k.running("db"), 2);
}

/// A longer exploration for bug hunting, not part of the regular run:
/// `CHAOS_SEEDS=10..40 CHAOS_ACTIONS=150 [CHAOS_TIGHT=1] cargo test -p kubesim-core
/// --test chaos -- --ignored` (defaults: seeds 10..30, 120 actions each, roomy nodes).
#[test]
#[ignore]
fn long_chaos() {
    let (from, to) = std::env::var("CHAOS_SEEDS")
        .ok()
        .and_then(|s| {
            let (a, b) = s.split_once("..")?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .unwrap_or((10u64, 30u64));
    let actions = std::env::var("CHAOS_ACTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let tight = std::env::var("CHAOS_TIGHT").is_ok();
    for seed in from..to {
        println!("=== seed {seed}");
        chaos_run(seed, actions, tight);
    }
}
