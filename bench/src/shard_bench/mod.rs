//! `kubesim shard`: sharding strategies compared on the real controller runtime.
//!
//! Every cell is one (strategy, workers, workload): a fresh store on the system clock,
//! ReplicaSets in namespaces `ns-0` … `ns-9` (pod template in the style of
//! [`crate::workload`]: one container with an image, a named port and requests), and a
//! real-time [`Runtime`] running **only** the [`ReplicaSetController`] under the
//! strategy. Pods are not scheduled or run (no scheduler, no kubelet): this measures the
//! controller layout — watch → map → dispatch → reconcile → write — not a cluster.
//!
//! A cell has converged when every ReplicaSet has `status.replicas == spec.replicas`
//! and the store holds exactly the expected number of pods (polled every millisecond;
//! the full ReplicaSet scan runs only once the pod count matches). The runtime's own
//! `wait_idle` is not usable here: the controller requeues a ReplicaSet at its
//! expectations' expiry (5 minutes) after every create batch, and such a timer keeps a
//! dispatcher busy until it fires.
//!
//! Workloads ([`Workload`]):
//!
//! - `uniform`: `rs` ReplicaSets × 10 pods, cold start (the ReplicaSets exist before the
//!   runtime starts; its initial list maps them all).
//! - `zipf`: `rs` ReplicaSets whose sizes follow Zipf(1.1): ReplicaSet `k` (1-based)
//!   wants `max(1, round(hot / k^1.1))` pods, `hot = rs / 2` (5,000 at full scale).
//! - `churn`: after a `uniform` cold start (not measured; the runtime settles — no
//!   reconcile for 50 ms — and metrics are reset), random pods are deleted (grace period 0) at a fixed rate from the bench thread; measured
//!   from the first deletion until every pod was replaced and every status is back.
//!   `converge_ms` is the catch-up after the last deletion.
//! - `reshard`: a `uniform` cold start; when a third of the pods exist a worker is
//!   added, at two thirds worker 0 is removed. Only strategies that can reshard
//!   (`shared`, `consistent`, `steal`); the others are reported as n/a. Keys moved is
//!   `moved_queued + moved_delayed` over both changes.
//! - `rollout`: Deployments × 20 pods (a tenth of `rs`: 1,000 at full scale) rolling to
//!   a new template at once, on the Deployment and ReplicaSet controllers plus an
//!   instant kubelet (see [`rollout`]).
//!
//! Figures per cell ([`Row`]): reconciles/s (reconciles ÷ wall time to converge), time
//! to converge, p50/p99/p999 of the runtime's event-to-reconcile latency histogram,
//! load imbalance (max ÷ mean of keys handed out per worker slot), idle % (`1 − Σ busy
//! ÷ worker-time`), keys moved.

pub mod report;
pub mod rollout;

pub use report::{bench_shard, ShardOptions, ShardOutcome, ShardReport};

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use indicatif::ProgressBar;
use kubesim_core::controllers::replicaset::{ReplicaSetController, CONTROLLER_NAME};
use kubesim_core::intern::{intern, StrMap};
use kubesim_core::model::{
    Container, ContainerPort, Kind, Namespace, Object, ObjectMeta, PodSpec, PodTemplateSpec,
    Protocol, PullPolicy, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus, Resources, RestartPolicy,
    TemplateMeta,
};
use kubesim_core::runtime::{RunningRuntime, Runtime, RuntimeConfig, Strategy};
use kubesim_core::selector::LabelSelector;
use kubesim_core::store::{DeleteOptions, Store, StoreConfig};
use kubesim_core::time::SystemClock;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use crate::workload::{ENVS, NAMESPACES, TIERS};

/// A workload of `kubesim shard`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Workload {
    /// Equal ReplicaSets, cold start.
    Uniform,
    /// Zipf(1.1) ReplicaSet sizes, cold start.
    Zipf,
    /// Random pod deletions at a fixed rate after convergence.
    Churn,
    /// Cold start with a worker added and one removed mid-run.
    Reshard,
    /// Every Deployment rolls to a new template at once ([`rollout`]).
    Rollout,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 5] = [
        Workload::Uniform,
        Workload::Zipf,
        Workload::Churn,
        Workload::Reshard,
        Workload::Rollout,
    ];

    /// The workload's name.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Uniform => "uniform",
            Workload::Zipf => "zipf",
            Workload::Churn => "churn",
            Workload::Reshard => "reshard",
            Workload::Rollout => "rollout",
        }
    }
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown workload {s:?} (expected uniform, zipf, churn, reshard or rollout)"
                )
            })
    }
}

/// Pods per ReplicaSet in `uniform`, `churn` and `reshard`.
pub const PODS_PER_RS: usize = 10;
/// The Zipf exponent of `zipf`.
pub const ZIPF_EXPONENT: f64 = 1.1;

/// Sizes of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sizes {
    /// ReplicaSets in every workload.
    pub replica_sets: usize,
    /// Pods per ReplicaSet in `uniform`, `churn`, `reshard`.
    pub pods_per_rs: usize,
    /// Pods of the hottest ReplicaSet in `zipf`.
    pub zipf_hot: usize,
    /// Pod deletions per second in `churn`.
    pub churn_rate: f64,
    /// Seconds of deletions in `churn`.
    pub churn_secs: f64,
    /// A cell that has not converged after this long is reported as failed.
    pub timeout_secs: u64,
}

impl Sizes {
    /// Sizes for `replica_sets` ReplicaSets; `churn_secs` of deletions at 2,000/s.
    pub fn new(replica_sets: usize, churn_secs: f64) -> Self {
        Sizes {
            replica_sets: replica_sets.max(1),
            pods_per_rs: PODS_PER_RS,
            zipf_hot: (replica_sets / 2).max(1),
            churn_rate: 2_000.0,
            churn_secs,
            timeout_secs: 300,
        }
    }

    /// The default run: 10,000 ReplicaSets (100,000 pods in `uniform`), 5 s of churn.
    pub fn full() -> Self {
        Sizes::new(10_000, 5.0)
    }

    /// `--quick`: 1,000 ReplicaSets, 1 s of churn.
    pub fn quick() -> Self {
        Sizes::new(1_000, 1.0)
    }

    /// Desired pods per ReplicaSet of a workload.
    pub fn replicas(&self, workload: Workload) -> Vec<usize> {
        match workload {
            Workload::Zipf => zipf_sizes(self.replica_sets, self.zipf_hot, ZIPF_EXPONENT),
            Workload::Rollout => {
                vec![rollout::ROLLOUT_REPLICAS; rollout::rollout_deployments(self.replica_sets)]
            }
            _ => vec![self.pods_per_rs; self.replica_sets],
        }
    }

    /// Deletions in `churn` (at most half the pods).
    pub fn churn_deletions(&self) -> usize {
        let n = (self.churn_rate * self.churn_secs).round() as usize;
        n.min(self.replica_sets * self.pods_per_rs / 2).max(1)
    }
}

/// ReplicaSet sizes under Zipf(`s`): `max(1, round(hot / k^s))` for `k = 1..=n`.
pub fn zipf_sizes(n: usize, hot: usize, s: f64) -> Vec<usize> {
    (1..=n)
        .map(|k| ((hot as f64 / (k as f64).powf(s)).round() as usize).max(1))
        .collect()
}

/// What to run.
#[derive(Clone, Debug)]
pub struct ShardConfig {
    /// Strategies, in order.
    pub strategies: Vec<Strategy>,
    /// Worker counts, in order.
    pub workers: Vec<usize>,
    /// Workloads, in order.
    pub workloads: Vec<Workload>,
    /// Sizes.
    pub sizes: Sizes,
    /// Seed of the store (uids, names) and of the churn victims.
    pub seed: u64,
}

/// One cell's figures (the `--json` row).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Strategy name.
    pub strategy: String,
    /// Workers at start.
    pub workers: usize,
    /// Workload name.
    pub workload: String,
    /// Reconciles ÷ wall time of the measured phase.
    pub reconciles_per_sec: Option<f64>,
    /// Time to converge (`churn`: after the last deletion), ms.
    pub converge_ms: Option<f64>,
    /// Event-to-reconcile latency, 50th percentile, µs.
    pub p50_us: Option<f64>,
    /// 99th percentile, µs.
    pub p99_us: Option<f64>,
    /// 99.9th percentile, µs.
    pub p999_us: Option<f64>,
    /// Max ÷ mean of keys handed out per worker slot.
    pub imbalance: Option<f64>,
    /// `100 × (1 − Σ busy ÷ worker-time)`.
    pub idle_pct: Option<f64>,
    /// Keys moved by the reshards (`reshard` only).
    pub keys_moved: Option<u64>,
    /// Whether every ReplicaSet was satisfied in time (`None`: not run).
    pub converged: Option<bool>,
    /// Reconciles in the measured phase.
    pub reconciles: u64,
    /// Reconcile errors and panics in the measured phase.
    pub errors: u64,
    /// ReplicaSets.
    pub replica_sets: usize,
    /// Pods at convergence.
    pub pods: usize,
    /// Wall time of the measured phase, ms.
    pub wall_ms: Option<f64>,
    /// Why a cell was not run, or what went wrong.
    pub note: String,
    /// Runs of the cell the figures are the median of (`--repeat`).
    pub runs: usize,
}

impl Row {
    fn empty(strategy: Strategy, workers: usize, workload: Workload) -> Self {
        Row {
            strategy: strategy.name().to_string(),
            workers,
            workload: workload.name().to_string(),
            reconciles_per_sec: None,
            converge_ms: None,
            p50_us: None,
            p99_us: None,
            p999_us: None,
            imbalance: None,
            idle_pct: None,
            keys_moved: None,
            converged: None,
            reconciles: 0,
            errors: 0,
            replica_sets: 0,
            pods: 0,
            wall_ms: None,
            note: String::new(),
            runs: 1,
        }
    }

    /// Whether the cell ran.
    pub fn ran(&self) -> bool {
        self.converged.is_some()
    }
}

/// Runs every cell, one progress step each.
pub fn run(cfg: &ShardConfig, pb: &ProgressBar) -> Result<Vec<Row>> {
    run_repeated(cfg, 1, pb)
}

/// Runs every cell `repeat` times — whole sweeps over the cells, one after the other,
/// so that a drift of the machine's speed spreads over every cell — and reports each
/// cell's [`median_row`]. One progress step per cell run.
pub fn run_repeated(cfg: &ShardConfig, repeat: usize, pb: &ProgressBar) -> Result<Vec<Row>> {
    let repeat = repeat.max(1);
    let cells: Vec<(Workload, Strategy, usize)> = cfg
        .workloads
        .iter()
        .flat_map(|&wl| {
            cfg.strategies
                .iter()
                .flat_map(move |&st| cfg.workers.iter().map(move |&w| (wl, st, w)))
        })
        .collect();
    pb.set_length((cells.len() * repeat) as u64);
    pb.set_position(0);
    let mut runs: Vec<Vec<Row>> = vec![Vec::with_capacity(repeat); cells.len()];
    for r in 0..repeat {
        for (i, &(wl, st, w)) in cells.iter().enumerate() {
            let rep = if repeat > 1 {
                format!(" · run {}/{repeat}", r + 1)
            } else {
                String::new()
            };
            pb.set_message(format!("{wl} · {st} · {w} worker(s){rep}"));
            let row = run_cell(st, w, wl, &cfg.sizes, cfg.seed)
                .with_context(|| format!("{wl} / {st} / {w} workers"))?;
            runs[i].push(row);
            pb.inc(1);
        }
    }
    pb.set_message("done");
    Ok(runs.iter().map(|r| median_row(r)).collect())
}

/// One row from repeated runs of a cell: every figure is the median over the runs,
/// figure by figure (so the row need not be one particular run); `converged` holds
/// only if every run converged (otherwise the first failing run is reported as is);
/// `errors` is the sum; `runs` the number of runs.
pub fn median_row(runs: &[Row]) -> Row {
    let Some(first) = runs.first() else {
        return Row::empty(Strategy::Shared, 0, Workload::Uniform);
    };
    if runs.len() == 1 || !first.ran() {
        return first.clone();
    }
    if let Some(failed) = runs.iter().find(|r| r.converged == Some(false)) {
        let mut row = failed.clone();
        row.runs = runs.len();
        row.note = format!(
            "{} of {} runs did not converge; this one: {}",
            runs.iter().filter(|r| r.converged == Some(false)).count(),
            runs.len(),
            failed.note
        );
        return row;
    }
    let med = |f: fn(&Row) -> Option<f64>| -> Option<f64> {
        let mut v: Vec<f64> = runs.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| crate::store_bench::measure::median(&mut v))
    };
    let med_u = |f: fn(&Row) -> u64| -> u64 {
        let mut v: Vec<f64> = runs.iter().map(|r| f(r) as f64).collect();
        crate::store_bench::measure::median(&mut v).round() as u64
    };
    Row {
        reconciles_per_sec: med(|r| r.reconciles_per_sec),
        converge_ms: med(|r| r.converge_ms),
        p50_us: med(|r| r.p50_us),
        p99_us: med(|r| r.p99_us),
        p999_us: med(|r| r.p999_us),
        imbalance: med(|r| r.imbalance),
        idle_pct: med(|r| r.idle_pct),
        keys_moved: first
            .keys_moved
            .map(|_| med_u(|r| r.keys_moved.unwrap_or(0))),
        converged: Some(true),
        reconciles: med_u(|r| r.reconciles),
        errors: runs.iter().map(|r| r.errors).sum(),
        wall_ms: med(|r| r.wall_ms),
        runs: runs.len(),
        ..first.clone()
    }
}

/// A store on the system clock with namespaces `ns-0` … `ns-9` and one ReplicaSet per
/// entry of `replicas` (ReplicaSet `i` in `ns-{i % 10}`).
pub fn setup_store(replicas: &[usize], seed: u64) -> Result<Store> {
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
    for (i, &n) in replicas.iter().enumerate() {
        store
            .create(replica_set(i, n))
            .map_err(|e| anyhow!("creating ReplicaSet {i}: {e}"))?;
    }
    Ok(store)
}

/// ReplicaSet `rs-{i}` in `ns-{i % 10}` wanting `replicas` pods: selector `app`,
/// `pod-template-hash`; template labels as a Deployment's pods carry (`app`, `tier`,
/// `env`, `version`, `pod-template-hash`), one container with image, port and requests.
pub fn replica_set(i: usize, replicas: usize) -> Object {
    let ns = format!("ns-{}", i % NAMESPACES);
    let name = format!("rs-{i}");
    let app = format!("app-{i}");
    let hash = format!(
        "{:010x}",
        kubesim_core::dispatch::stable_hash(&i) & 0xff_ffff_ffff
    );
    let selector: StrMap = [("app", app.as_str()), ("pod-template-hash", hash.as_str())]
        .into_iter()
        .collect();
    let labels: StrMap = [
        ("app", app.as_str()),
        ("env", ENVS[(i / 4) % ENVS.len()]),
        ("pod-template-hash", hash.as_str()),
        ("tier", TIERS[i % TIERS.len()]),
        ("version", "v1"),
    ]
    .into_iter()
    .collect();
    let container = Container {
        name: intern("app"),
        image: intern(&format!("registry.example.com/{app}:v1")),
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
    };
    Object::from(ReplicaSet {
        meta: ObjectMeta::named(&ns, &name),
        spec: ReplicaSetSpec {
            replicas: replicas as i32,
            min_ready_seconds: 0,
            selector: LabelSelector::from_labels(selector),
            template: PodTemplateSpec {
                meta: TemplateMeta {
                    labels,
                    annotations: StrMap::default(),
                },
                spec: Arc::new(PodSpec {
                    containers: vec![container],
                    restart_policy: RestartPolicy::Always,
                    termination_grace_period_seconds: Some(30),
                    ..Default::default()
                }),
            },
        },
        status: ReplicaSetStatus::default(),
    })
}

/// Whether the store holds `pods` pods and every ReplicaSet's `status.replicas` equals
/// its `spec.replicas`.
pub fn converged(store: &Store, pods: usize) -> bool {
    if store.count(Kind::Pod) != pods {
        return false;
    }
    // Polled every millisecond while the workers run: no sort (as a reflector's
    // `state()` on kube-runtime's side).
    store.all(Kind::ReplicaSet).iter().all(|o| {
        o.as_replica_set()
            .is_some_and(|r| r.status.replicas == r.spec.replicas)
    })
}

const POLL: Duration = Duration::from_millis(1);

/// Polls [`converged`] until it holds (returns the time) or `deadline` passes;
/// `tick` sees the pod count at every poll.
fn wait_converged(
    store: &Store,
    pods: usize,
    deadline: Instant,
    mut tick: impl FnMut(usize) -> Result<()>,
) -> Result<Option<Instant>> {
    loop {
        tick(store.count(Kind::Pod))?;
        if converged(store, pods) {
            return Ok(Some(Instant::now()));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

/// Runs one cell.
pub fn run_cell(
    strategy: Strategy,
    workers: usize,
    workload: Workload,
    sizes: &Sizes,
    seed: u64,
) -> Result<Row> {
    if workload == Workload::Rollout {
        return rollout::run_cell(strategy, workers, sizes, seed);
    }
    let mut row = Row::empty(strategy, workers, workload);
    if workload == Workload::Reshard && !strategy.supports_resharding() {
        row.note = format!("n/a: {strategy} cannot add or remove workers");
        return Ok(row);
    }
    let replicas = sizes.replicas(workload);
    let pods: usize = replicas.iter().sum();
    row.replica_sets = replicas.len();
    let store = setup_store(&replicas, seed)?;
    let timeout = Duration::from_secs(sizes.timeout_secs);
    let start = Instant::now();
    let rt = Runtime::start(
        store.clone(),
        vec![Arc::new(ReplicaSetController::new())],
        RuntimeConfig::new(strategy, workers),
    )
    .map_err(|e| anyhow!("starting the runtime: {e}"))?;

    // Worker-time: (start of a period, active workers) at every change.
    let mut periods: Vec<(Instant, usize)> = vec![(start, workers)];
    let mut moved = 0u64;
    let (t0, end) = match workload {
        // `rollout` returned above.
        Workload::Uniform | Workload::Zipf | Workload::Rollout => {
            let done = wait_converged(&store, pods, start + timeout, |_| Ok(()))?;
            (start, done)
        }
        Workload::Reshard => {
            let mut stage = 0;
            let done = wait_converged(&store, pods, start + timeout, |n| {
                if stage == 0 && n * 3 >= pods {
                    let r = rt
                        .add_worker(CONTROLLER_NAME)
                        .map_err(|e| anyhow!("add_worker: {e}"))?;
                    moved += (r.moved_queued + r.moved_delayed) as u64;
                    periods.push((Instant::now(), r.workers));
                    stage = 1;
                }
                // Both changes may be due at one poll (a small run that went fast).
                if stage == 1 && n * 3 >= 2 * pods {
                    let r = rt
                        .remove_worker(CONTROLLER_NAME, 0)
                        .map_err(|e| anyhow!("remove_worker: {e}"))?;
                    moved += (r.moved_queued + r.moved_delayed) as u64;
                    periods.push((Instant::now(), r.workers));
                    stage = 2;
                }
                Ok(())
            })?;
            if done.is_some() && stage != 2 {
                return Err(anyhow!("converged before both reshards ({stage} done)"));
            }
            row.keys_moved = Some(moved);
            (start, done)
        }
        Workload::Churn => match wait_converged(&store, pods, start + timeout, |_| Ok(()))? {
            None => (start, None),
            Some(_) => churn(&rt, &store, pods, sizes, seed, timeout, &mut periods)?,
        },
    };
    let m = rt.metrics();
    let last_deletion = periods.last().map(|p| p.0);
    drop(rt.stop());
    let c = m
        .controller(CONTROLLER_NAME)
        .ok_or_else(|| anyhow!("no {CONTROLLER_NAME} metrics"))?;
    row.reconciles = c.reconciles;
    row.errors = c.errors + c.panics + c.map_panics;
    row.pods = store.count(Kind::Pod);
    let Some(end) = end else {
        row.converged = Some(false);
        row.note = format!(
            "did not converge within {} s ({} of {pods} pods)",
            sizes.timeout_secs, row.pods
        );
        return Ok(row);
    };
    row.converged = Some(true);
    let wall = end.duration_since(t0).as_secs_f64();
    row.wall_ms = Some(wall * 1e3);
    row.converge_ms = Some(match workload {
        Workload::Churn => {
            end.duration_since(last_deletion.unwrap_or(t0))
                .as_secs_f64()
                * 1e3
        }
        _ => wall * 1e3,
    });
    row.reconciles_per_sec = Some(c.reconciles as f64 / wall.max(1e-9));
    if !c.latency.is_empty() {
        let q = |p: f64| c.latency.value_at_quantile(p) as f64 / 1e3;
        row.p50_us = Some(q(0.5));
        row.p99_us = Some(q(0.99));
        row.p999_us = Some(q(0.999));
    }
    let handed: Vec<f64> = c
        .workers
        .iter()
        .filter(|w| w.active || w.handed_out > 0)
        .map(|w| w.handed_out as f64)
        .collect();
    let mean = handed.iter().sum::<f64>() / handed.len().max(1) as f64;
    if mean > 0.0 {
        row.imbalance = Some(handed.iter().copied().fold(0.0, f64::max) / mean);
    }
    // Worker-seconds over the measured phase (churn: periods holds only its start).
    let mut worker_secs = 0.0;
    let phase: Vec<(Instant, usize)> = periods
        .iter()
        .copied()
        .filter(|p| workload != Workload::Churn || p.0 >= t0)
        .collect();
    for (i, &(at, n)) in phase.iter().enumerate() {
        let from = at.max(t0);
        let to = phase.get(i + 1).map_or(end, |p| p.0).min(end);
        worker_secs += to.saturating_duration_since(from).as_secs_f64() * n as f64;
    }
    let busy: f64 = c.workers.iter().map(|w| w.busy.as_secs_f64()).sum();
    if worker_secs > 0.0 {
        row.idle_pct = Some((100.0 * (1.0 - busy / worker_secs)).clamp(0.0, 100.0));
    }
    Ok(row)
}

/// How long the reconcile count must stay unchanged for [`settle`].
const QUIET: Duration = Duration::from_millis(50);

/// Waits until no reconcile ran for [`QUIET`] and no worker holds a key (or until
/// `deadline`): after convergence every ReplicaSet is still reconciled once more for
/// its own status update event, and those no-op reconciles must not be counted as
/// the churn's latency.
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
        std::thread::sleep(QUIET);
        let (now, busy) = snapshot(rt);
        if now == last && !busy {
            return;
        }
        last = now;
    }
}

/// The churn phase of a converged runtime: resets the metrics, deletes random pods at
/// `sizes.churn_rate` from this thread, and waits until every one was replaced.
/// Returns (phase start, convergence); `periods` gets the phase start and, last, the
/// time of the last deletion (with the same worker count).
fn churn(
    rt: &RunningRuntime,
    store: &Store,
    pods: usize,
    sizes: &Sizes,
    seed: u64,
    timeout: Duration,
    periods: &mut Vec<(Instant, usize)>,
) -> Result<(Instant, Option<Instant>)> {
    let workers = periods.last().map_or(1, |p| p.1);
    settle(rt, Instant::now() + timeout);
    let mut victims = store
        .list(Kind::Pod, None, None, None)
        .map_err(|e| anyhow!("listing pods: {e}"))?;
    victims.shuffle(&mut SmallRng::seed_from_u64(seed ^ 0xc4u64));
    victims.truncate(sizes.churn_deletions());
    rt.reset_metrics();
    let t0 = Instant::now();
    periods.clear();
    periods.push((t0, workers));
    let per = Duration::from_secs_f64(1.0 / sizes.churn_rate);
    for (i, pod) in victims.iter().enumerate() {
        let due = t0 + per * i as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let opts = DeleteOptions {
            grace_period_seconds: Some(0),
            preconditions_uid: Some(pod.meta().uid),
            ..DeleteOptions::default()
        };
        store
            .delete(Kind::Pod, pod.namespace(), pod.name(), &opts)
            .map_err(|e| anyhow!("deleting {}: {e}", pod.name()))?;
    }
    periods.push((Instant::now(), workers));
    let done = wait_converged(store, pods, Instant::now() + timeout, |_| Ok(()))?;
    Ok((t0, done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_sizes_follow_the_power_law() {
        let s = zipf_sizes(10_000, 5_000, ZIPF_EXPONENT);
        assert_eq!(s[0], 5_000);
        assert_eq!(s[1], (5_000.0 / 2f64.powf(1.1)).round() as usize);
        assert!(s.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(*s.last().unwrap(), 1);
        let total: usize = s.iter().sum();
        assert!((30_000..60_000).contains(&total), "{total}");
    }

    #[test]
    fn names_parse() {
        for w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>().unwrap(), w);
        }
        assert!("bogus".parse::<Workload>().is_err());
    }

    #[test]
    fn every_workload_converges_at_a_tiny_size() {
        let sizes = Sizes::new(20, 0.05);
        for wl in Workload::ALL {
            let row = run_cell(Strategy::Consistent, 2, wl, &sizes, 1).unwrap();
            assert_eq!(row.converged, Some(true), "{row:?}");
            assert_eq!(row.pods, sizes.replicas(wl).iter().sum::<usize>());
            assert!(row.reconciles > 0, "{row:?}");
            assert_eq!(row.errors, 0, "{row:?}");
            assert_eq!(row.keys_moved.is_some(), wl == Workload::Reshard);
        }
        let na = run_cell(Strategy::Hash, 2, Workload::Reshard, &sizes, 1).unwrap();
        assert!(!na.ran() && na.note.starts_with("n/a"), "{na:?}");
    }

    #[test]
    fn median_row_takes_each_figure_s_median() {
        let mk = |rps: f64, p99: f64, reconciles: u64, errors: u64| Row {
            reconciles_per_sec: Some(rps),
            p99_us: Some(p99),
            converged: Some(true),
            reconciles,
            errors,
            pods: 100,
            ..Row::empty(Strategy::Hash, 2, Workload::Uniform)
        };
        let rows = [
            mk(10.0, 7.0, 5, 0),
            mk(30.0, 1.0, 9, 1),
            mk(20.0, 3.0, 7, 2),
        ];
        let m = median_row(&rows);
        assert_eq!(m.reconciles_per_sec, Some(20.0));
        assert_eq!(m.p99_us, Some(3.0));
        assert_eq!(m.p50_us, None, "no run had it");
        assert_eq!((m.reconciles, m.errors, m.runs), (7, 3, 3));
        assert_eq!(m.converged, Some(true));
        assert_eq!(median_row(&rows[..1]).runs, 1);

        let mut failed = rows.clone();
        failed[1].converged = Some(false);
        failed[1].note = "timeout".into();
        let m = median_row(&failed);
        assert_eq!(m.converged, Some(false));
        assert!(
            m.note.starts_with("1 of 3 runs did not converge"),
            "{}",
            m.note
        );
    }
}
