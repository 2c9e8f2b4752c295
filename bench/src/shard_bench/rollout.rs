//! The `rollout` workload of `kubesim shard`: every Deployment rolls to a new
//! template at once.
//!
//! A cell: a fresh store on the system clock, Deployments `deploy-<i>` in `ns-{i % 10}`
//! ([`rollout_deployments`] of them: 1,000 at the full size, 100 with `--quick`) of
//! [`ROLLOUT_REPLICAS`] pods each (RollingUpdate, 25% / 25%: maxSurge 5,
//! maxUnavailable 5), and a real-time [`Runtime`] running the
//! [`DeploymentController`], the [`ReplicaSetController`] and [`InstantKubelet`] under
//! the strategy (each controller with `workers` workers).
//!
//! 1. Cold start (not measured): every Deployment complete on template `v1` — its
//!    status `updatedReplicas = availableReplicas = replicas = 20` for its current
//!    generation — and the store holds exactly `20 × Deployments` pods. The runtime
//!    settles (no reconcile for 50 ms) and the metrics are reset.
//! 2. Measured: the bench thread changes every Deployment's image to `v2` (one update
//!    each, as fast as it can), then polls until every Deployment is complete on the
//!    new generation and the store again holds exactly `20 × Deployments` pods (every
//!    old pod deleted).
//!
//! Figures: time to complete all rollouts (from the first update), reconciles/s of all
//! three controllers together, the Deployment controller's event-to-reconcile latency
//! percentiles, its load imbalance and idle share.
//!
//! **Simplification, stated:** pods are not scheduled or run. [`InstantKubelet`] marks
//! every new pod Running and Ready at once (one status write per pod), and the pod
//! template's `terminationGracePeriodSeconds: 0` makes the ReplicaSet controller's
//! deletes immediate. The measure is the control-plane work of a rollout, not pod
//! startup.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use kubesim_core::controllers::deployment::{DeploymentController, CONTROLLER_NAME as DEPLOY};
use kubesim_core::controllers::replicaset::{ReplicaSetController, CONTROLLER_NAME as RS};
use kubesim_core::intern::{intern, StrMap};
use kubesim_core::model::{
    ConditionStatus, Container, ContainerPort, Deployment, DeploymentSpec, DeploymentStatus,
    DeploymentStrategy, Kind, Namespace, Object, ObjectKey, ObjectMeta, PodCondition, PodPhase,
    PodSpec, PodTemplateSpec, Protocol, PullPolicy, Resources, RestartPolicy, TemplateMeta,
};
use kubesim_core::runtime::{
    route_object, Controller, Ctx, ReconcileError, Requeue, Routed, RunningRuntime, Runtime,
    RuntimeConfig, StoreView, Strategy,
};
use kubesim_core::selector::LabelSelector;
use kubesim_core::store::{Error as StoreError, Store, StoreConfig, WatchEvent, WatchEventType};
use kubesim_core::time::SystemClock;

use super::{Row, Sizes, Workload};
use crate::workload::{ENVS, NAMESPACES, TIERS};

/// Pods per Deployment.
pub const ROLLOUT_REPLICAS: usize = 20;

/// Deployments of a `rollout` cell: a tenth of the run's ReplicaSet count (1,000 at
/// the full size), at least 1.
pub fn rollout_deployments(replica_sets: usize) -> usize {
    (replica_sets / 10).max(1)
}

/// The name of [`InstantKubelet`].
pub const INSTANT_KUBELET: &str = "instant-kubelet";

/// Marks every active pod that is not ready Running and Ready, at once (the bench's
/// stand-in for scheduler + kubelet). Keys are pods; only `Added` events map.
#[derive(Debug, Default)]
pub struct InstantKubelet;

impl Controller for InstantKubelet {
    fn name(&self) -> &'static str {
        INSTANT_KUBELET
    }

    fn primary(&self) -> Kind {
        Kind::Pod
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        if ev.type_ == WatchEventType::Added && ev.object.kind() == Kind::Pod {
            out.push(route_object(store, &ev.object));
        }
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        let Some(obj) = ctx.store().get_key(key) else {
            return Ok(Requeue::Done);
        };
        let Some(pod) = obj.as_pod() else {
            return Ok(Requeue::Done);
        };
        if !pod.is_active() || pod.is_ready() {
            return Ok(Requeue::Done);
        }
        let now = ctx.now();
        let mut new = (*obj).clone();
        if let Some(p) = new.as_pod_mut() {
            p.status.phase = PodPhase::Running;
            p.status.conditions.ready = PodCondition::new(ConditionStatus::True, now);
        }
        ctx.update_status(new);
        Ok(Requeue::Done)
    }
}

/// Deployment `deploy-{i}` in `ns-{i % 10}`: 20 replicas, labels in the style of the
/// other workloads, one container with image `registry.example.com/app-<i>:<version>`.
pub fn deployment(i: usize, version: &str) -> Object {
    let ns = format!("ns-{}", i % NAMESPACES);
    let app = format!("app-{i}");
    let selector: StrMap = [("app", app.as_str())].into_iter().collect();
    let labels: StrMap = [
        ("app", app.as_str()),
        ("env", ENVS[(i / 4) % ENVS.len()]),
        ("tier", TIERS[i % TIERS.len()]),
    ]
    .into_iter()
    .collect();
    Object::from(Deployment {
        meta: ObjectMeta::named(&ns, &format!("deploy-{i}")),
        spec: DeploymentSpec {
            replicas: ROLLOUT_REPLICAS as i32,
            selector: LabelSelector::from_labels(selector),
            template: PodTemplateSpec {
                meta: TemplateMeta {
                    labels,
                    annotations: StrMap::default(),
                },
                spec: Arc::new(pod_spec(&app, version)),
            },
            strategy: DeploymentStrategy::default(),
            min_ready_seconds: 0,
            revision_history_limit: 10,
            paused: false,
            progress_deadline_seconds: 600,
        },
        status: DeploymentStatus::default(),
    })
}

fn pod_spec(app: &str, version: &str) -> PodSpec {
    PodSpec {
        containers: vec![Container {
            name: intern("app"),
            image: intern(&format!("registry.example.com/{app}:{version}")),
            image_pull_policy: PullPolicy::IfNotPresent,
            command: Vec::new(),
            args: Vec::new(),
            ports: vec![ContainerPort {
                name: Some(intern("http")),
                container_port: 8080,
                host_port: None,
                protocol: Protocol::Tcp,
            }],
            requests: Resources {
                cpu_millis: 100,
                memory_bytes: 128 * 1024 * 1024,
            },
            limits: Resources::default(),
            readiness_probe: None,
            liveness_probe: None,
            pre_stop: None,
        }],
        restart_policy: RestartPolicy::Always,
        termination_grace_period_seconds: Some(0),
        ..Default::default()
    }
}

/// Whether every Deployment is complete on its current generation with `image_version`
/// and the store holds exactly `pods` pods.
pub fn rollouts_complete(store: &Store, pods: usize, version: &str) -> bool {
    if store.count(Kind::Pod) != pods {
        return false;
    }
    let Ok(deps) = store.list(Kind::Deployment, None, None, None) else {
        return false;
    };
    let r = ROLLOUT_REPLICAS as i32;
    let suffix = format!(":{version}");
    deps.iter().all(|o| {
        o.as_deployment().is_some_and(|d| {
            let s = &d.status;
            s.observed_generation >= d.meta.generation
                && s.updated_replicas == r
                && s.available_replicas == r
                && s.replicas == r
                && d.spec.template.spec.containers[0].image.ends_with(&suffix)
        })
    })
}

fn wait_until(deadline: Instant, mut pred: impl FnMut() -> bool) -> Option<Instant> {
    loop {
        if pred() {
            return Some(Instant::now());
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until no reconcile ran for 50 ms and no worker holds a key (or `deadline`).
fn settle(rt: &RunningRuntime, deadline: Instant) {
    let snapshot = |rt: &RunningRuntime| {
        let m = rt.metrics();
        let busy = m
            .controllers
            .iter()
            .flat_map(|c| c.workers.iter())
            .any(|w| w.processing > 0);
        (m.reconciles(), busy)
    };
    let (mut last, _) = snapshot(rt);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let (now, busy) = snapshot(rt);
        if now == last && !busy {
            return;
        }
        last = now;
    }
}

/// Changes the image of Deployment `i` to `version` (retrying on conflicts).
fn roll(store: &Store, i: usize, version: &str) -> Result<()> {
    let ns = format!("ns-{}", i % NAMESPACES);
    let name = format!("deploy-{i}");
    loop {
        let cur = store
            .get(Kind::Deployment, &ns, &name)
            .map_err(|e| anyhow!("reading {name}: {e}"))?;
        let mut new = (*cur).clone();
        if let Some(d) = new.as_deployment_mut() {
            d.spec.template.spec = Arc::new(pod_spec(&format!("app-{i}"), version));
        }
        match store.update(new) {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(anyhow!("updating {name}: {e}")),
        }
    }
}

/// Runs one `rollout` cell.
pub fn run_cell(strategy: Strategy, workers: usize, sizes: &Sizes, seed: u64) -> Result<Row> {
    let mut row = Row::empty(strategy, workers, Workload::Rollout);
    let n = rollout_deployments(sizes.replica_sets);
    let pods = n * ROLLOUT_REPLICAS;
    row.replica_sets = n;
    let store = Store::with_config(StoreConfig {
        clock: Arc::new(SystemClock),
        seed,
        ..StoreConfig::default()
    });
    for i in 0..NAMESPACES {
        store
            .create(Object::from(Namespace {
                meta: ObjectMeta::named("", &format!("ns-{i}")),
                phase: Default::default(),
            }))
            .map_err(|e| anyhow!("creating namespace: {e}"))?;
    }
    for i in 0..n {
        store
            .create(deployment(i, "v1"))
            .map_err(|e| anyhow!("creating Deployment {i}: {e}"))?;
    }
    let timeout = Duration::from_secs(sizes.timeout_secs);
    let controllers: Vec<Arc<dyn Controller>> = vec![
        Arc::new(DeploymentController::new()),
        Arc::new(ReplicaSetController::new()),
        Arc::new(InstantKubelet),
    ];
    let rt = Runtime::start(
        store.clone(),
        controllers,
        RuntimeConfig::new(strategy, workers),
    )
    .map_err(|e| anyhow!("starting the runtime: {e}"))?;
    let cold = wait_until(Instant::now() + timeout, || {
        rollouts_complete(&store, pods, "v1")
    });
    if cold.is_none() {
        drop(rt.stop());
        row.converged = Some(false);
        row.pods = store.count(Kind::Pod);
        row.note = format!(
            "cold start did not complete within {} s",
            sizes.timeout_secs
        );
        return Ok(row);
    }
    settle(&rt, Instant::now() + timeout);
    rt.reset_metrics();
    let t0 = Instant::now();
    for i in 0..n {
        roll(&store, i, "v2")?;
    }
    let end = wait_until(t0 + timeout, || rollouts_complete(&store, pods, "v2"));
    let m = rt.metrics();
    drop(rt.stop());
    row.pods = store.count(Kind::Pod);
    row.reconciles = m.controllers.iter().map(|c| c.reconciles).sum();
    row.errors = m
        .controllers
        .iter()
        .map(|c| c.errors + c.panics + c.map_panics)
        .sum();
    let Some(end) = end else {
        row.converged = Some(false);
        row.note = format!(
            "rollouts did not complete within {} s ({} of {pods} pods)",
            sizes.timeout_secs, row.pods
        );
        return Ok(row);
    };
    row.converged = Some(true);
    let wall = end.duration_since(t0).as_secs_f64();
    row.wall_ms = Some(wall * 1e3);
    row.converge_ms = Some(wall * 1e3);
    row.reconciles_per_sec = Some(row.reconciles as f64 / wall.max(1e-9));
    let d = m
        .controller(DEPLOY)
        .ok_or_else(|| anyhow!("no {DEPLOY} metrics"))?;
    if !d.latency.is_empty() {
        let q = |p: f64| d.latency.value_at_quantile(p) as f64 / 1e3;
        row.p50_us = Some(q(0.5));
        row.p99_us = Some(q(0.99));
        row.p999_us = Some(q(0.999));
    }
    let handed: Vec<f64> = d
        .workers
        .iter()
        .filter(|w| w.active || w.handed_out > 0)
        .map(|w| w.handed_out as f64)
        .collect();
    let mean = handed.iter().sum::<f64>() / handed.len().max(1) as f64;
    if mean > 0.0 {
        row.imbalance = Some(handed.iter().copied().fold(0.0, f64::max) / mean);
    }
    let busy: f64 = d.workers.iter().map(|w| w.busy.as_secs_f64()).sum();
    let worker_secs = wall * workers as f64;
    if worker_secs > 0.0 {
        row.idle_pct = Some((100.0 * (1.0 - busy / worker_secs)).clamp(0.0, 100.0));
    }
    // The ReplicaSet controller's share, for the note.
    if let Some(r) = m.controller(RS) {
        row.note = format!(
            "{} Deployments × {ROLLOUT_REPLICAS}; reconciles: deployment {}, replicaset {}, kubelet {}",
            n,
            d.reconciles,
            r.reconciles,
            m.controller(INSTANT_KUBELET).map_or(0, |k| k.reconciles)
        );
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiny_rollout_completes() {
        let sizes = Sizes::new(30, 0.05);
        for st in [Strategy::Shared, Strategy::Consistent] {
            let row = run_cell(st, 2, &sizes, 1).unwrap();
            assert_eq!(row.converged, Some(true), "{row:?}");
            assert_eq!(row.pods, 3 * ROLLOUT_REPLICAS);
            assert_eq!(row.errors, 0, "{row:?}");
            assert!(row.reconciles > 0 && row.p99_us.is_some(), "{row:?}");
        }
    }
}
