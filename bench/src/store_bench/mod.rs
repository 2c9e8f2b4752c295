//! `kubesim bench store`: kubesim's store side by side with kube-runtime's reflector store,
//! in one process, on one workload ([`crate::workload`]).
//!
//! Both stores are loaded at the same time, and each workload measures them
//! interleaved ([`measure::measure_interleaved`]): a warm-up run of each, then pairs of
//! runs alternating which store goes first (kubesim, kube-rs; kube-rs, kubesim; …) until
//! both have met the [`Limits`]. Each row is the median run's ns/op with the 25th and
//! 75th percentiles; the comparison per workload ([`StoreBenchResult::ratios`]) is the
//! median over pairs of kube-rs ns/op ÷ kubesim ns/op, since the two runs of a pair
//! share the machine's state (a VM's speed drifts over seconds), with its quartiles and
//! the ratio of the two medians beside it.
//!
//! Workloads ([`WORKLOADS`]):
//!
//! - `upsert`: every pod into an empty store, one thread (kubesim `create`, kube-rs
//!   `apply_watcher_event(Apply)`); inputs are built and cloned, and the previous run's
//!   store dropped, outside the timed region. The last run's stores serve the rest.
//! - `get`: gets by key, one thread, over a fixed-seed random sequence of existing keys
//!   (keys pre-built for both: `(namespace, name)` strings / an `ObjectRef`).
//! - `list-1pct`, `list-2label`: lists by the workload's two selectors, all namespaces;
//!   every list's count is checked against the expected count.
//! - `mixed-2t`: two threads, each a fixed number of operations, 90% gets and 10%
//!   read-modify-write updates (see [`impls::StoreImpl::update`]); ops/s is both threads'
//!   operations over the wall time.
//!
//! Memory per pod is measured in child processes ([`memory`]).
//!
//! Checks that fail (a list count that differs from the expected one, a get that finds
//! nothing, a store that does not hold every pod) are collected in
//! [`StoreBenchResult::checks`]; the CLI exits with status 1 when any failed.

pub mod impls;
pub mod measure;
pub mod memory;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use indicatif::ProgressBar;
use kubesim_core::model::Object;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use self::impls::{ImplId, KubeRs, Kubesim, StoreImpl};
use self::measure::{
    calibrate, measure_interleaved, Interleaved, Limits, Measurement, PairedRatio,
};
use self::memory::{MemoryProbe, MemorySample};
use crate::workload::{SelectorCase, Workload, WorkloadSpec};

/// The timed workloads, in report order.
pub const WORKLOADS: [&str; 5] = ["upsert", "get", "list-1pct", "list-2label", "mixed-2t"];

/// Pod count at which the like-for-like memory figures are taken (the reflector is
/// measured there, and kubesim too when its main memory figure is at a larger size).
pub const LIKE_FOR_LIKE_PODS: usize = 100_000;

/// What to run.
#[derive(Clone, Debug)]
pub struct StoreBenchConfig {
    /// The timing workload.
    pub spec: WorkloadSpec,
    /// kubesim's memory figure is taken at this many pods (same pods per app).
    pub memory_pods: usize,
    /// The reflector's memory figure (and a second kubesim one) at this many pods.
    pub like_for_like_pods: usize,
    /// kubesim's `StoreConfig::watch_window` in memory measurements, so that the watch
    /// log does not retain an event per pod.
    pub memory_watch_window: usize,
    /// Timing limits per workload, each store to meet them (runs are paired).
    pub limits: Limits,
    /// Length of the fixed random key sequence of `get`.
    pub get_ops: usize,
    /// Operations per thread per run of `mixed-2t`.
    pub mixed_ops_per_thread: usize,
    /// Seed of every random sequence.
    pub seed: u64,
    /// How memory is measured.
    pub memory: MemoryProbe,
    /// Whether these are the `--quick` sizes.
    pub quick: bool,
}

impl StoreBenchConfig {
    /// The CLI's configuration; `Err` is a usage error.
    pub fn new(
        pods: usize,
        apps: usize,
        memory_pods: usize,
        quick: bool,
        memory: MemoryProbe,
    ) -> Result<Self, String> {
        let spec = WorkloadSpec::new(pods, apps)?;
        let per_app = spec.pods_per_app();
        if memory_pods % per_app != 0 || memory_pods == 0 {
            return Err(format!(
                "--memory-pods ({memory_pods}) must be a positive multiple of the pods per app ({per_app})"
            ));
        }
        let like = memory_pods.min(LIKE_FOR_LIKE_PODS) / per_app * per_app;
        let like_for_like_pods = if like == 0 { memory_pods } else { like };
        let (limits, get_ops, mixed) = if quick {
            (Limits::QUICK, 20_000, 20_000)
        } else {
            (Limits::FULL, 100_000, 100_000)
        };
        Ok(StoreBenchConfig {
            spec,
            memory_pods,
            like_for_like_pods,
            memory_watch_window: 1024,
            limits,
            get_ops,
            mixed_ops_per_thread: mixed,
            seed: 0x6b75_6265_7369_6d00,
            memory,
            quick,
        })
    }

    fn memory_apps(&self, pods: usize) -> usize {
        pods / self.spec.pods_per_app()
    }
}

/// One timed result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// One of [`WORKLOADS`].
    pub workload: String,
    /// `kubesim` or `kube-rs`.
    #[serde(rename = "impl")]
    pub impl_name: String,
    /// Operations per second (`1e9 / ns_per_op`).
    pub ops_per_sec: f64,
    /// Median over the runs of nanoseconds per operation.
    pub ns_per_op: f64,
    /// 25th percentile over the runs of nanoseconds per operation.
    pub ns_per_op_p25: f64,
    /// 75th percentile over the runs of nanoseconds per operation.
    pub ns_per_op_p75: f64,
    /// Runs recorded (after the warm-up; the same for both impls of a workload).
    pub runs: usize,
    /// Operations per run.
    pub ops_per_run: u64,
}

impl Row {
    /// One impl's row of a workload.
    pub fn new(workload: &str, which: ImplId, m: Measurement) -> Self {
        Row {
            workload: workload.to_string(),
            impl_name: which.as_str().to_string(),
            ops_per_sec: m.ops_per_sec,
            ns_per_op: m.ns_per_op,
            ns_per_op_p25: m.ns_per_op_p25,
            ns_per_op_p75: m.ns_per_op_p75,
            runs: m.runs,
            ops_per_run: m.ops_per_run,
        }
    }
}

/// A correctness check made while benchmarking.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

impl Check {
    fn new(name: String, ok: bool, detail: String) -> Self {
        Check { name, ok, detail }
    }
}

/// Memory figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemoryReport {
    /// kubesim at `memory_pods`.
    pub kubesim: MemorySample,
    /// kubesim at `like_for_like_pods` (the same sample as `kubesim` when the sizes are
    /// equal).
    pub kubesim_like_for_like: MemorySample,
    /// The reflector at `like_for_like_pods`.
    #[serde(rename = "kube-rs")]
    pub kube_rs: MemorySample,
}

/// A selector as run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SelectorInfo {
    /// `list-1pct` or `list-2label`.
    pub workload: String,
    /// The selector's string form.
    pub selector: String,
    /// Pods it selects.
    pub expected: usize,
    /// As a fraction of all pods.
    pub fraction: f64,
}

/// Everything one run measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoreBenchResult {
    /// Timed rows, both impls for every workload.
    pub rows: Vec<Row>,
    /// Per workload, kubesim compared with kube-rs from the interleaved pairs of runs
    /// (ratios are kube-rs ns/op ÷ kubesim ns/op: how many times faster kubesim is).
    pub ratios: BTreeMap<String, PairedRatio>,
    /// Memory per pod.
    pub memory: MemoryReport,
    /// Correctness checks.
    pub checks: Vec<Check>,
    /// The selectors of the list workloads.
    pub selectors: Vec<SelectorInfo>,
}

impl StoreBenchResult {
    /// The row of one (workload, impl).
    pub fn row(&self, workload: &str, which: ImplId) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.workload == workload && r.impl_name == which.as_str())
    }

    /// Whether every check held.
    pub fn all_checks_passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

/// Runs every workload for both stores (interleaved), then memory, reporting progress
/// on `pb` (one step per workload and per memory sample).
pub fn run(cfg: &StoreBenchConfig, pb: &ProgressBar) -> Result<StoreBenchResult> {
    let like_separate = cfg.like_for_like_pods != cfg.memory_pods;
    pb.set_length((WORKLOADS.len() + 2 + usize::from(like_separate)) as u64);
    pb.set_position(0);

    let w = Workload::new(cfg.spec);
    let cases = [
        ("list-1pct", w.selector_1pct()),
        ("list-2label", w.selector_2label()),
    ];
    let mut rng = SmallRng::seed_from_u64(cfg.seed);
    let get_seq: Vec<usize> = (0..cfg.get_ops.max(1))
        .map(|_| rng.random_range(0..w.len()))
        .collect();

    let bench = Bench {
        cfg,
        w: &w,
        cases: &cases,
        get_seq: &get_seq,
        pb,
    };
    let Timed {
        rows,
        ratios,
        mut checks,
    } = bench.run_timed()?;

    // Both stores must agree on what each selector selects (each was already checked
    // against the expected count on every list; this names the pair).
    for (name, case) in &cases {
        let seen: Vec<&Check> = checks
            .iter()
            .filter(|c| c.name.starts_with(&format!("{name} count")))
            .collect();
        checks.push(Check::new(
            format!("{name}: both stores return the same count"),
            seen.iter().all(|c| c.ok),
            format!("{} expected {} for both", case.text, case.expected),
        ));
    }

    // One memory sample of `which` at `pods` pods, one progress step.
    let memory = |which: ImplId, pods: usize, window: Option<usize>| -> Result<MemorySample> {
        pb.set_message(format!("memory: {which}, {pods} pods"));
        let sample = cfg
            .memory
            .measure(which, pods, cfg.memory_apps(pods), window)?;
        pb.inc(1);
        Ok(sample)
    };
    let window = Some(cfg.memory_watch_window);
    let kubesim = memory(ImplId::Kubesim, cfg.memory_pods, window)?;
    let kubesim_like_for_like = if like_separate {
        memory(ImplId::Kubesim, cfg.like_for_like_pods, window)?
    } else {
        kubesim.clone()
    };
    let kube_rs = memory(ImplId::KubeRs, cfg.like_for_like_pods, None)?;
    pb.set_message("done");

    let selectors = cases
        .iter()
        .map(|(name, c)| SelectorInfo {
            workload: name.to_string(),
            selector: c.text.clone(),
            expected: c.expected,
            fraction: c.expected as f64 / w.len() as f64,
        })
        .collect();
    Ok(StoreBenchResult {
        rows,
        ratios,
        memory: MemoryReport {
            kubesim,
            kubesim_like_for_like,
            kube_rs,
        },
        checks,
        selectors,
    })
}

struct Bench<'a> {
    cfg: &'a StoreBenchConfig,
    w: &'a Workload,
    cases: &'a [(&'static str, SelectorCase); 2],
    get_seq: &'a [usize],
    pb: &'a ProgressBar,
}

/// What the timed workloads produced.
#[derive(Default)]
struct Timed {
    rows: Vec<Row>,
    ratios: BTreeMap<String, PairedRatio>,
    checks: Vec<Check>,
}

impl Timed {
    /// Records one workload: side A is kubesim, side B kube-rs.
    fn record(&mut self, workload: &str, m: Interleaved) {
        self.rows.push(Row::new(workload, ImplId::Kubesim, m.a));
        self.rows.push(Row::new(workload, ImplId::KubeRs, m.b));
        self.ratios.insert(workload.to_string(), m.ratio);
    }

    fn check(&mut self, name: String, ok: bool, detail: String) {
        self.checks.push(Check::new(name, ok, detail));
    }
}

impl Bench<'_> {
    fn step(&self, workload: &str) {
        self.pb.set_message(format!(
            "{workload}: {} ⇄ {}, interleaved",
            ImplId::Kubesim,
            ImplId::KubeRs
        ));
    }

    /// Every timed workload, kubesim (side A) and kube-rs (side B) interleaved; both
    /// stores stay loaded from `upsert` to the end.
    fn run_timed(&self) -> Result<Timed> {
        let (cfg, w) = (self.cfg, self.w);
        let limits = &cfg.limits;
        let n = w.len();
        let mut out = Timed::default();

        // upsert: a fresh store per run; inputs cloned, and the side's previous store
        // dropped, outside the timed region. The last run's stores serve the other
        // workloads.
        self.step("upsert");
        let ks_inputs: Vec<Object> = (0..n).map(|i| Kubesim::input(w, i)).collect();
        let kr_inputs: Vec<<KubeRs as StoreImpl>::Input> =
            (0..n).map(|i| KubeRs::input(w, i)).collect();
        let (mut ks, mut kr): (Option<Kubesim>, Option<KubeRs>) = (None, None);
        let m = measure_interleaved(
            limits,
            n as u64,
            n as u64,
            upsert_run(w, &ks_inputs, &mut ks),
            upsert_run(w, &kr_inputs, &mut kr),
        )?;
        drop((ks_inputs, kr_inputs));
        out.record("upsert", m);
        let ks = ks.ok_or_else(|| anyhow!("upsert ran no iteration"))?;
        let kr = kr.ok_or_else(|| anyhow!("upsert ran no iteration"))?;
        for (id, len) in [(ImplId::Kubesim, ks.len()), (ImplId::KubeRs, kr.len())] {
            out.check(
                format!("upsert: {id} holds every pod"),
                len == n,
                format!("{len} of {n}"),
            );
        }
        self.pb.inc(1);

        // get
        self.step("get");
        let ks_keys: Vec<_> = (0..n).map(|i| Kubesim::key(w, i)).collect();
        let kr_keys: Vec<_> = (0..n).map(|i| KubeRs::key(w, i)).collect();
        let (mut ks_missing, mut kr_missing) = (0usize, 0usize);
        let ops = self.get_seq.len() as u64;
        let m = measure_interleaved(
            limits,
            ops,
            ops,
            get_run(&ks, &ks_keys, self.get_seq, &mut ks_missing),
            get_run(&kr, &kr_keys, self.get_seq, &mut kr_missing),
        )?;
        out.record("get", m);
        for (id, missing) in [(ImplId::Kubesim, ks_missing), (ImplId::KubeRs, kr_missing)] {
            out.check(
                format!("get: {id} finds every key"),
                missing == 0,
                format!("{missing} misses"),
            );
        }
        self.pb.inc(1);

        // lists: each side's run is sized (calibrated) to last about `target_run`.
        for (name, case) in self.cases {
            self.step(name);
            let (mut ks_wrong, mut kr_wrong) = (None, None);
            let ks_batch = calibrate(limits, list_run(&ks, case, 1, &mut ks_wrong))?;
            let kr_batch = calibrate(limits, list_run(&kr, case, 1, &mut kr_wrong))?;
            let m = measure_interleaved(
                limits,
                ks_batch,
                kr_batch,
                list_run(&ks, case, ks_batch, &mut ks_wrong),
                list_run(&kr, case, kr_batch, &mut kr_wrong),
            )?;
            out.record(name, m);
            for (id, wrong) in [(ImplId::Kubesim, ks_wrong), (ImplId::KubeRs, kr_wrong)] {
                out.check(
                    format!("{name} count ({id})"),
                    wrong.is_none(),
                    match wrong {
                        None => format!("{} selected {} pods", case.text, case.expected),
                        Some(c) => format!(
                            "{} selected {c} pods, expected {}",
                            case.text, case.expected
                        ),
                    },
                );
            }
            self.pb.inc(1);
        }

        // mixed-2t: run k of either side uses the same seeds (the same key and
        // operation sequence).
        self.step("mixed-2t");
        let per_thread = cfg.mixed_ops_per_thread.max(1);
        let ops = 2 * per_thread as u64;
        let m = measure_interleaved(
            limits,
            ops,
            ops,
            mixed_runs(&ks, &ks_keys, per_thread, cfg.seed),
            mixed_runs(&kr, &kr_keys, per_thread, cfg.seed),
        )?;
        out.record("mixed-2t", m);
        self.pb.inc(1);
        Ok(out)
    }
}

/// One side of `upsert`: each call drops the side's previous store, clones the inputs
/// and times loading them into a fresh store, which it leaves in `loaded`.
fn upsert_run<'a, I: StoreImpl>(
    w: &'a Workload,
    inputs: &'a [I::Input],
    loaded: &'a mut Option<I>,
) -> impl FnMut() -> Result<Duration> + 'a {
    move || {
        *loaded = None;
        let mut batch = inputs.to_vec();
        let mut store = I::new_empty(w)?;
        let start = Instant::now();
        store.upsert_all(&mut batch)?;
        let elapsed = start.elapsed();
        drop(batch);
        *loaded = Some(store);
        Ok(elapsed)
    }
}

/// One side of `get`: each call gets every key of `seq`, counting misses.
fn get_run<'a, I: StoreImpl>(
    store: &'a I,
    keys: &'a [I::Key],
    seq: &'a [usize],
    missing: &'a mut usize,
) -> impl FnMut() -> Result<Duration> + 'a {
    move || {
        let start = Instant::now();
        let mut found = 0usize;
        for &i in seq {
            found += usize::from(black_box(store.get(black_box(&keys[i]))));
        }
        let elapsed = start.elapsed();
        *missing += seq.len() - found;
        Ok(elapsed)
    }
}

/// One side of a list workload: each call lists `batch` times, recording a count that
/// differs from the expected one in `wrong`.
fn list_run<'a, I: StoreImpl>(
    store: &'a I,
    case: &'a SelectorCase,
    batch: u64,
    wrong: &'a mut Option<usize>,
) -> impl FnMut() -> Result<Duration> + 'a {
    move || {
        let start = Instant::now();
        for _ in 0..batch {
            let count = black_box(store.list(case)?);
            if count != case.expected {
                *wrong = Some(count);
            }
        }
        Ok(start.elapsed())
    }
}

/// One side of `mixed-2t`: call `k` is [`mixed_run`] with seed `seed ^ (k << 8)`.
fn mixed_runs<'a, I: StoreImpl>(
    store: &'a I,
    keys: &'a [I::Key],
    per_thread: usize,
    seed: u64,
) -> impl FnMut() -> Result<Duration> + 'a {
    let mut run_no = 0u64;
    move || {
        run_no += 1;
        mixed_run(store, keys, per_thread, seed ^ (run_no << 8))
    }
}

/// One run of `mixed-2t`: two threads released together, each doing `per_thread`
/// operations (1 in 10 an update); the wall time from release to both finishing.
fn mixed_run<I: StoreImpl>(
    store: &I,
    keys: &[I::Key],
    per_thread: usize,
    seed: u64,
) -> Result<Duration> {
    let barrier = Barrier::new(3);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2u64)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || -> Result<()> {
                    let mut rng = SmallRng::seed_from_u64(seed ^ t);
                    barrier.wait();
                    for i in 0..per_thread {
                        let key = &keys[rng.random_range(0..keys.len())];
                        if rng.random_range(0..10u32) == 0 {
                            store.update(key, i as u64)?;
                        } else {
                            black_box(store.get(key));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let mut result = Ok(());
        for h in handles {
            let r = h
                .join()
                .map_err(|_| anyhow!("a mixed-2t thread panicked"))
                .and_then(|r| r);
            if result.is_ok() {
                result = r;
            }
        }
        result.map(|()| start.elapsed())
    })
}
