//! `kubesim bench controller`'s output: the table, the JSON object and the run folder
//! (`controller.csv` with every run, `summary.md`, `controller.svg`, `report.json`),
//! and [`bench_controller`], the whole command minus argument parsing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kubesim_core::runtime::{Strategy, DEFAULT_PUMP_SPINS};
use serde::Serialize;

use super::{run, ControllerConfig, ControllerResult, RunSample};
use crate::report::{
    profile_note, progress_bar, thousands, Profiler, RunOutcome, TargetResult, METHOD,
};
use crate::store_bench::measure::{percentile, Interleaved, PairedRatio};
use crate::sysinfo::RunInfo;
use crate::UsageError;

/// The issue's goal: kubesim's reconciles/s at least this many times kube-runtime's.
pub const TARGET_RATIO: f64 = 5.0;

/// kube-runtime's controller concurrency per worker thread by default. kube.rs's
/// scaling guide says the default (unbounded) "may need tuning for large workloads"
/// and to configure it "as a multiple of CPU limits"; on this workload a bound of a
/// few per thread was faster for kube-runtime than unbounded (quick runs on the
/// 2-core machine: ~15%), so the comparison uses it. `--kube-concurrency 0` restores
/// kube's default.
pub const DEFAULT_KUBE_CONCURRENCY_PER_WORKER: u16 = 4;

/// Options of `kubesim bench controller`.
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    /// ReplicaSets.
    pub replica_sets: usize,
    /// Pods per ReplicaSet.
    pub pods: usize,
    /// kubesim workers and tokio worker threads.
    pub workers: usize,
    /// kubesim's sharding strategy.
    pub strategy: Strategy,
    /// kube-runtime's controller concurrency (0 = unbounded, kube's default; the CLI's
    /// default is 4 × `workers`, see [`DEFAULT_KUBE_CONCURRENCY_PER_WORKER`]).
    pub kube_concurrency: u16,
    /// kubesim's `RuntimeConfig::pump_spins`.
    pub pump_spins: usize,
    /// Recorded pairs.
    pub runs: usize,
    /// Also run kubesim's own ReplicaSetController.
    pub real_controller: bool,
    /// `--quick`.
    pub quick: bool,
    /// Print one JSON object instead of the table.
    pub json: bool,
    /// No progress bar.
    pub quiet: bool,
    /// Where run folders go.
    pub out: PathBuf,
    /// Write no run folder.
    pub no_save: bool,
    /// Profile the whole run with pprof and write a flamegraph SVG here (kubesim's
    /// threads are named `kubesim-*`, kube-runtime's `tokio-runtime-worker`).
    pub flamegraph: Option<PathBuf>,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            replica_sets: 10_000,
            pods: 10,
            workers: 2,
            strategy: Strategy::Hash,
            kube_concurrency: 2 * DEFAULT_KUBE_CONCURRENCY_PER_WORKER,
            pump_spins: DEFAULT_PUMP_SPINS,
            runs: 5,
            real_controller: true,
            quick: false,
            json: false,
            quiet: false,
            out: PathBuf::from("results"),
            no_save: false,
            flamegraph: None,
        }
    }
}

impl ControllerOptions {
    /// `--quick`: 1,000 ReplicaSets × 10 pods, 3 pairs.
    pub fn quick() -> Self {
        ControllerOptions {
            replica_sets: 1_000,
            runs: 3,
            quick: true,
            ..ControllerOptions::default()
        }
    }
}

/// One side's figures over its runs (median, with the 25th and 75th percentiles).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SideSummary {
    /// `kubesim`, `kube-runtime` or `kubesim-rs-controller`.
    pub side: String,
    /// Runs recorded.
    pub runs: usize,
    /// Reconciles per second.
    pub reconciles_per_sec: f64,
    /// 25th percentile over the runs.
    pub reconciles_per_sec_p25: f64,
    /// 75th percentile over the runs.
    pub reconciles_per_sec_p75: f64,
    /// Time to converge, ms.
    pub converge_ms: f64,
    /// 25th percentile.
    pub converge_ms_p25: f64,
    /// 75th percentile.
    pub converge_ms_p75: f64,
    /// Event-to-reconcile latency p50, µs (median over runs).
    pub p50_us: f64,
    /// Event-to-reconcile latency p99, µs (median over runs).
    pub p99_us: f64,
    /// 25th percentile over runs of the p99.
    pub p99_us_p25: f64,
    /// 75th percentile over runs of the p99.
    pub p99_us_p75: f64,
    /// Process CPU time per run, ms (median; `None` without `/proc`).
    pub cpu_ms: Option<f64>,
    /// Process CPU time per reconcile, µs (median over runs).
    pub cpu_us_per_reconcile: Option<f64>,
    /// Reconciles per run (median).
    pub reconciles: f64,
    /// Pods created per run (median; shared reconcile only).
    pub creates: f64,
    /// Status writes per run (median; shared reconcile only).
    pub status_writes: f64,
    /// Errors over all runs.
    pub errors: u64,
    /// Every run converged and passed its check.
    pub ok: bool,
}

fn quartiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (
        percentile(&v, 0.5),
        percentile(&v, 0.25),
        percentile(&v, 0.75),
    )
}

impl SideSummary {
    fn new(side: &str, runs: &[RunSample]) -> Self {
        let f = |g: fn(&RunSample) -> f64| quartiles(runs.iter().map(g).collect());
        let rps = f(|r| r.reconciles_per_sec);
        let conv = f(|r| r.wall_ms.unwrap_or(f64::NAN));
        let p99 = f(|r| r.p99_us);
        let cpu: Option<Vec<f64>> = runs.iter().map(|r| r.cpu_ms).collect();
        let cpu = cpu.filter(|v| !v.is_empty());
        let per_rec: Option<Vec<f64>> = cpu.as_ref().map(|v| {
            v.iter()
                .zip(runs)
                .map(|(ms, r)| ms * 1e3 / (r.reconciles.max(1) as f64))
                .collect()
        });
        SideSummary {
            cpu_ms: cpu.map(|v| quartiles(v).0),
            cpu_us_per_reconcile: per_rec.map(|v| quartiles(v).0),
            side: side.to_string(),
            runs: runs.len(),
            reconciles_per_sec: rps.0,
            reconciles_per_sec_p25: rps.1,
            reconciles_per_sec_p75: rps.2,
            converge_ms: conv.0,
            converge_ms_p25: conv.1,
            converge_ms_p75: conv.2,
            p50_us: f(|r| r.p50_us).0,
            p99_us: p99.0,
            p99_us_p25: p99.1,
            p99_us_p75: p99.2,
            reconciles: f(|r| r.reconciles as f64).0,
            creates: f(|r| r.creates as f64).0,
            status_writes: f(|r| r.status_writes as f64).0,
            errors: runs.iter().map(|r| r.errors).sum(),
            ok: !runs.is_empty() && runs.iter().all(RunSample::ok),
        }
    }
}

/// kubesim compared with kube-runtime, per pair (median and quartiles over pairs).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ratios {
    /// kubesim reconciles/s ÷ kube-runtime reconciles/s.
    pub reconciles_per_sec: PairedRatio,
    /// kube-runtime time to converge ÷ kubesim's.
    pub converge: PairedRatio,
    /// kube-runtime p99 latency ÷ kubesim's.
    pub p99_latency: PairedRatio,
    /// kube-runtime process CPU time per reconcile ÷ kubesim's (`None` without
    /// `/proc`): less sensitive to other load on the machine than wall time.
    pub cpu_per_reconcile: Option<PairedRatio>,
}

/// Run facts and configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ControllerMeta {
    /// Command, toolchain, commit, machine, date.
    #[serde(flatten)]
    pub run: RunInfo,
    /// What ran.
    pub config: ControllerConfig,
    /// Pods at convergence.
    pub total_pods: usize,
    /// `--quick`.
    pub quick: bool,
    /// How runs are ordered and compared.
    pub method: String,
    /// Which side went first in each recorded pair.
    pub first: Vec<String>,
    /// What each side does, and what the comparison leaves out.
    pub notes: Vec<String>,
}

/// The whole report (what `--json` prints).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ControllerReport {
    /// One row per side.
    pub rows: Vec<SideSummary>,
    /// kubesim vs kube-runtime.
    pub ratios: Ratios,
    /// The issue's target (reconciles/s ratio ≥ 5×).
    pub target: TargetResult,
    /// Every run.
    pub runs: ControllerResult,
    /// Run facts.
    pub meta: ControllerMeta,
}

/// What `kubesim bench controller` produced.
pub type ControllerOutcome = RunOutcome<ControllerReport>;

impl ControllerOutcome {
    /// Whether every run converged and passed its check (the CLI exits 1 otherwise).
    pub fn ok(&self) -> bool {
        self.report.all_ok()
    }
}

/// Runs `kubesim bench controller`: every run, then the table or JSON, and the run
/// folder. Sizes of zero are a [`UsageError`].
pub fn bench_controller(opts: &ControllerOptions) -> Result<ControllerOutcome> {
    if opts.replica_sets == 0 || opts.pods == 0 || opts.workers == 0 || opts.runs == 0 {
        return Err(UsageError(
            "--replicasets, --pods, --workers and --runs must be at least 1".into(),
        )
        .into());
    }
    if opts.pods > i32::MAX as usize || opts.replica_sets.checked_mul(opts.pods).is_none() {
        return Err(UsageError("--pods is too large".into()).into());
    }
    let run_info = RunInfo::collect();
    let cfg = ControllerConfig {
        replica_sets: opts.replica_sets,
        pods: opts.pods,
        workers: opts.workers,
        strategy: opts.strategy,
        kube_concurrency: opts.kube_concurrency,
        pump_spins: opts.pump_spins,
        runs: opts.runs,
        real_controller: opts.real_controller,
        timeout_secs: 300,
        seed: 0x0043_544c_5242,
    };
    let profiler = Profiler::start(opts.flamegraph.as_deref())?;
    let pb = progress_bar(opts.quiet, None);
    let result = run(&cfg, &pb);
    pb.finish_and_clear();
    if let Some(profiler) = profiler {
        profiler.finish()?;
    }
    let mut report = ControllerReport::new(&cfg, result?, run_info, opts.quick);
    if let Some(path) = &opts.flamegraph {
        report.meta.notes.push(profile_note(
            path,
            "; sampling adds a little overhead to both sides.",
        ));
    }
    RunOutcome::render(report, opts.json, opts.no_save, &opts.out)
}

fn notes(cfg: &ControllerConfig, nproc: usize) -> Vec<String> {
    let mut n = vec![
        format!(
            "Workload: cold start of {} ReplicaSets × {} pods ({} pods); the ReplicaSets \
             exist before the machinery starts; a run ends when every ReplicaSet has its \
             pods and status.replicas says so (polled every 1 ms by the bench thread).",
            thousands(cfg.replica_sets as u64),
            cfg.pods,
            thousands(cfg.total_pods() as u64)
        ),
        "Same reconcile on both sides (controller_bench::logic::reconcile): list the \
         ReplicaSet's active pods through an owner index, diff against spec.replicas \
         under create/delete expectations lowered by the watch path, create or delete \
         pods, write status.replicas if it changed. Each side implements the 5 calls it \
         needs over its own store. ReplicaSet events trigger only on a generation change \
         on both sides (kube-runtime: predicates::generation, as its docs recommend; \
         kubesim: the same filter in map_event)."
            .into(),
        format!(
            "kubesim: the Store is API and cache at once (writes validated, versioned, \
             indexed, watched); the real-time Runtime with a pump thread per watched kind \
             (yielding {} time(s) before parking when caught up) and {} worker thread(s) \
             under the `{}` strategy; reconciles record writes, the worker applies them \
             (a reconcile's pod creates as one store batch: one lock round, one watch \
             wake-up). Latency = the runtime's own histogram (pump maps the event → \
             reconcile starts).",
            cfg.pump_spins,
            cfg.workers,
            cfg.strategy.name()
        ),
        "Allocator: both sides share the process's mimalloc, with the purging of freed \
         memory turned off (MIMALLOC_PURGE_DELAY=-1; the command re-runs itself with it \
         unless the caller set the variable). With purging on, a run that follows one \
         that freed a large heap pays for returning that memory to the OS and faulting \
         it back: kube-runtime's side then swung between about 17,000 and 27,000 \
         reconciles/s depending on which run came before it; with purging off it is \
         steady near its best."
            .into(),
        format!(
            "kube-runtime: Controller::for_stream(rs stream, reader).owns_stream(pod \
             stream).run(…) with Config concurrency {} (kube.rs's scaling guide: \
             configure it as a multiple of the CPUs; its default is unbounded; no \
             debounce) on a {}-worker-thread tokio runtime; streams = channels → .reflect(writer) \
             → applied_objects/touched_objects, as a watcher's would be. A bench-local \
             \"API\" turns writes into watch events (name/uid/resourceVersion assigned; \
             no validation, admission, conflicts or serialization). Latency = from the \
             event leaving the reflector stage to the reconcile future starting.",
            if cfg.kube_concurrency == 0 {
                "unbounded".to_string()
            } else {
                cfg.kube_concurrency.to_string()
            },
            cfg.workers
        ),
        "Favouring kube-runtime: its reflector has no secondary index, so it gets a \
         bench-local owner index (updated in the pod stream after the reflector); its \
         \"API\" does no work an API server would (kubesim's store does); no network, \
         JSON or watch bookmarks. Left out on both sides: an API server, HTTP, \
         serialization, pod scheduling/running, Events, expectation expiry."
            .into(),
        "In a cold start every ReplicaSet is queued at once, so the event-to-reconcile \
         latency is mostly queueing time (p99 ≈ most of the run); reconciles/s and time \
         to converge give the same ratio when both sides run the same number of \
         reconciles (compare the reconciles/run column; typically about two per \
         ReplicaSet on both sides: one from the initial list, one after its pods)."
            .into(),
        "CPU = the whole process's user + system time in the timed region \
         (per-thread schedstat, ns; /proc/self/stat's 10 ms ticks where the kernel has no \
         schedstat): the side's threads plus the bench thread's 1 ms \
         polling. Per reconcile it is less sensitive than wall time to other load on a \
         shared machine."
            .into(),
        format!(
            "This machine has {nproc} CPU(s); both sides also share them with the bench \
             thread's polling. Runs are interleaved (warm-up of each, then pairs \
             alternating which side goes first); figures are medians over runs with \
             p25–p75, ratios the median over pairs."
        ),
    ];
    if cfg.real_controller {
        n.push(
            "kubesim-rs-controller: kubesim's own ReplicaSetController (claims by \
             selector, slow-start batches, Events, full status, 5-min expectations) on the \
             same runtime and workload, one run per pair after the kubesim run; not in \
             any ratio."
                .into(),
        );
    }
    if cfg.replica_sets < 10_000 {
        n.push(format!(
            "Sizes are reduced ({} ReplicaSets instead of 10,000).",
            thousands(cfg.replica_sets as u64)
        ));
    }
    n
}

/// A count the shared reconcile keeps; "—" for kubesim's own controller, which does
/// not.
/// The allocator's purge setting this process runs with (`kubesim bench controller`
/// sets `MIMALLOC_PURGE_DELAY=-1`; see the notes).
fn allocator_setting() -> String {
    match std::env::var("MIMALLOC_PURGE_DELAY") {
        Ok(v) if v.trim() == "-1" => {
            "MIMALLOC_PURGE_DELAY=-1: freed memory is kept, not purged".into()
        }
        Ok(v) => format!("MIMALLOC_PURGE_DELAY={v}"),
        Err(_) => "default options: freed memory purged after 10 ms".into(),
    }
}

fn shared_only(r: &SideSummary, v: f64) -> String {
    if r.side == "kubesim-rs-controller" {
        "—".into()
    } else {
        format!("{v:.0}")
    }
}

fn paired(a: &[f64], b: &[f64]) -> PairedRatio {
    Interleaved::from_pairs(1, 1, a, b).ratio
}

impl ControllerReport {
    /// Builds the report.
    pub fn new(cfg: &ControllerConfig, runs: ControllerResult, run: RunInfo, quick: bool) -> Self {
        let mut rows = vec![
            SideSummary::new("kubesim", &runs.kubesim),
            SideSummary::new("kube-runtime", &runs.kube),
        ];
        if !runs.real.is_empty() {
            rows.push(SideSummary::new("kubesim-rs-controller", &runs.real));
        }
        let inv = |v: &[RunSample]| -> Vec<f64> {
            v.iter()
                .map(|r| 1.0 / r.reconciles_per_sec.max(f64::MIN_POSITIVE))
                .collect()
        };
        let p99 = |v: &[RunSample]| -> Vec<f64> { v.iter().map(|r| r.p99_us).collect() };
        let cpu = |v: &[RunSample]| -> Option<Vec<f64>> {
            v.iter()
                .map(|r| r.cpu_ms.map(|ms| ms.max(1e-3) / r.reconciles.max(1) as f64))
                .collect()
        };
        let ratios = Ratios {
            reconciles_per_sec: paired(&inv(&runs.kubesim), &inv(&runs.kube)),
            converge: runs.converge.ratio,
            p99_latency: paired(&p99(&runs.kubesim), &p99(&runs.kube)),
            cpu_per_reconcile: match (cpu(&runs.kubesim), cpu(&runs.kube)) {
                (Some(a), Some(b)) if !a.is_empty() => Some(paired(&a, &b)),
                _ => None,
            },
        };
        let value = ratios.reconciles_per_sec.paired_median;
        let target = TargetResult {
            metric: "reconciles_per_sec ratio".into(),
            op: ">=".into(),
            threshold: TARGET_RATIO,
            value,
            pass: value >= TARGET_RATIO,
            goal: format!("kubesim ≥ {TARGET_RATIO}× kube-runtime reconciles/s"),
        };
        let meta = ControllerMeta {
            notes: notes(cfg, run.base.nproc),
            run,
            config: cfg.clone(),
            total_pods: cfg.total_pods(),
            quick,
            method: METHOD.into(),
            first: runs.first.clone(),
        };
        ControllerReport {
            rows,
            ratios,
            target,
            runs,
            meta,
        }
    }

    /// Every run of every side converged and passed its check.
    pub fn all_ok(&self) -> bool {
        self.rows.iter().all(|r| r.ok)
    }

    /// The one JSON object.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).context("serializing the report")
    }

    /// `controller.csv`: every recorded run.
    pub fn csv(&self) -> String {
        let mut s = String::from(
            "side,pair,first,wall_ms,reconciles,reconciles_per_sec,p50_us,p99_us,creates,\
             deletes,status_writes,errors,pods_seen,check_failures,ok,cpu_ms\n",
        );
        let sides: [(&str, &Vec<RunSample>); 3] = [
            ("kubesim", &self.runs.kubesim),
            ("kube-runtime", &self.runs.kube),
            ("kubesim-rs-controller", &self.runs.real),
        ];
        for (side, runs) in sides {
            for (i, r) in runs.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "{side},{i},{},{},{},{:.1},{:.1},{:.1},{},{},{},{},{},{},{},{}",
                    self.runs.first.get(i).map_or("", String::as_str),
                    r.wall_ms.map_or(String::new(), |w| format!("{w:.3}")),
                    r.reconciles,
                    r.reconciles_per_sec,
                    r.p50_us,
                    r.p99_us,
                    r.creates,
                    r.deletes,
                    r.status_writes,
                    r.errors,
                    r.check.pods_seen,
                    r.check.failures,
                    r.ok(),
                    r.cpu_ms.map_or(String::new(), |c| format!("{c:.0}"))
                );
            }
        }
        s
    }

    fn ratio_line(name: &str, r: &PairedRatio) -> String {
        format!(
            "{name:<26} {:>7.2}×  (p25–p75 {:.2}–{:.2}, {} pairs)",
            r.paired_median, r.paired_p25, r.paired_p75, r.pairs
        )
    }

    /// The terminal table.
    pub fn table(&self) -> String {
        let m = &self.meta;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "kubesim bench controller — {} ReplicaSets × {} pods, {} worker(s), {} CPU(s){}",
            thousands(m.config.replica_sets as u64),
            m.config.pods,
            m.config.workers,
            m.run.base.nproc,
            if m.quick { ", --quick" } else { "" }
        );
        let _ = writeln!(
            s,
            "{:<22} {:>12} {:>19} {:>10} {:>9} {:>9} {:>9} {:>9} {:>5}",
            "side",
            "reconc/s",
            "(p25–p75)",
            "conv ms",
            "p50 µs",
            "p99 µs",
            "reconc",
            "cpu µs/r",
            "ok"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{:<22} {:>12.0} {:>19} {:>10.1} {:>9.0} {:>9.0} {:>9.0} {:>9} {:>5}",
                r.side,
                r.reconciles_per_sec,
                format!(
                    "{:.0}–{:.0}",
                    r.reconciles_per_sec_p25, r.reconciles_per_sec_p75
                ),
                r.converge_ms,
                r.p50_us,
                r.p99_us,
                r.reconciles,
                r.cpu_us_per_reconcile
                    .map_or_else(|| "n/a".to_string(), |c| format!("{c:.1}")),
                if r.ok { "yes" } else { "NO" }
            );
        }
        let _ = writeln!(s, "\nkubesim vs kube-runtime (median over pairs):");
        let _ = writeln!(
            s,
            "{}",
            Self::ratio_line("reconciles/s", &self.ratios.reconciles_per_sec)
        );
        let _ = writeln!(
            s,
            "{}",
            Self::ratio_line("time to converge", &self.ratios.converge)
        );
        let _ = writeln!(
            s,
            "{}",
            Self::ratio_line("p99 latency (lower)", &self.ratios.p99_latency)
        );
        if let Some(r) = &self.ratios.cpu_per_reconcile {
            let _ = writeln!(s, "{}", Self::ratio_line("CPU per reconcile (lower)", r));
        }
        let _ = writeln!(
            s,
            "target: {} — {:.2}× {}",
            self.target.goal,
            self.target.value,
            if self.target.pass { "MET" } else { "MISSED" }
        );
        let _ = writeln!(s, "\nnotes:");
        for n in &m.notes {
            let _ = writeln!(s, "- {n}");
        }
        s
    }

    /// `summary.md`.
    pub fn summary_md(&self) -> String {
        let m = &self.meta;
        let mut s = String::new();
        let _ = writeln!(s, "# kubesim bench controller — {}\n", m.run.base.date);
        let _ = writeln!(
            s,
            "kubesim's controller runtime vs kube-runtime's `Controller` {} on the same \
             ReplicaSet reconcile, cold start of {} ReplicaSets × {} pods{}.\n",
            m.run.kube_runtime,
            thousands(m.config.replica_sets as u64),
            m.config.pods,
            if m.quick { " (`--quick` sizes)" } else { "" }
        );
        let _ = writeln!(s, "![reconciles/s and p99 latency](controller.svg)\n");
        let _ = writeln!(s, "## Results\n");
        let _ = writeln!(
            s,
            "| side | reconciles/s (p25–p75) | converge ms (p25–p75) | p50 µs | p99 µs (p25–p75) | reconciles/run | CPU ms/run | CPU µs/reconcile | creates/run | status writes/run | errors | ok |"
        );
        let _ = writeln!(
            s,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {:.0} ({:.0}–{:.0}) | {:.1} ({:.1}–{:.1}) | {:.0} | {:.0} ({:.0}–{:.0}) | {:.0} | {} | {} | {} | {} | {} | {} |",
                r.side,
                r.reconciles_per_sec,
                r.reconciles_per_sec_p25,
                r.reconciles_per_sec_p75,
                r.converge_ms,
                r.converge_ms_p25,
                r.converge_ms_p75,
                r.p50_us,
                r.p99_us,
                r.p99_us_p25,
                r.p99_us_p75,
                r.reconciles,
                r.cpu_ms.map_or_else(|| "n/a".into(), |c| format!("{c:.0}")),
                r.cpu_us_per_reconcile
                    .map_or_else(|| "n/a".into(), |c| format!("{c:.1}")),
                shared_only(r, r.creates),
                shared_only(r, r.status_writes),
                r.errors,
                if r.ok { "yes" } else { "**no**" }
            );
        }
        let _ = writeln!(s, "\n## kubesim vs kube-runtime\n");
        let _ = writeln!(s, "| comparison | median over pairs | p25–p75 | pairs |");
        let _ = writeln!(s, "| --- | ---: | ---: | ---: |");
        let mut comparisons = vec![
            (
                "reconciles/s (kubesim ÷ kube-runtime)",
                &self.ratios.reconciles_per_sec,
            ),
            (
                "time to converge (kube-runtime ÷ kubesim)",
                &self.ratios.converge,
            ),
            (
                "p99 latency (kube-runtime ÷ kubesim)",
                &self.ratios.p99_latency,
            ),
        ];
        if let Some(r) = &self.ratios.cpu_per_reconcile {
            comparisons.push(("CPU time per reconcile (kube-runtime ÷ kubesim)", r));
        }
        for (name, r) in comparisons {
            let _ = writeln!(
                s,
                "| {name} | {:.2}× | {:.2}–{:.2} | {} |",
                r.paired_median, r.paired_p25, r.paired_p75, r.pairs
            );
        }
        let _ = writeln!(
            s,
            "\nTarget: {} — measured {:.2}×: **{}**.",
            self.target.goal,
            self.target.value,
            if self.target.pass { "met" } else { "missed" }
        );
        let failed: Vec<String> = [
            ("kubesim", &self.runs.kubesim),
            ("kube-runtime", &self.runs.kube),
            ("kubesim-rs-controller", &self.runs.real),
        ]
        .iter()
        .flat_map(|(side, runs)| {
            runs.iter()
                .enumerate()
                .filter(|(_, r)| !r.ok())
                .map(move |(i, r)| {
                    format!(
                        "- {side} run {i}: {}{}",
                        if r.wall_ms.is_none() {
                            "did not converge in time; "
                        } else {
                            ""
                        },
                        r.check.examples.join("; ")
                    )
                })
        })
        .collect();
        if !failed.is_empty() {
            let _ = writeln!(s, "\n## Failed checks\n");
            for f in failed {
                let _ = writeln!(s, "{f}");
            }
        }
        let _ = writeln!(s, "\n## What each side does, and what is left out\n");
        for n in &m.notes {
            let _ = writeln!(s, "- {n}");
        }
        m.run.write_markdown(&mut s);
        let _ = writeln!(
            s,
            "- method: {}; {} pairs after one warm-up run of each side; first in each \
             pair: {}",
            m.method,
            m.config.runs,
            m.first.join(", ")
        );
        let _ = writeln!(
            s,
            "- kube-runtime {}, k8s-openapi {}; allocator: mimalloc ({}); seed {:#x}",
            m.run.kube_runtime,
            m.run.k8s_openapi,
            allocator_setting(),
            m.config.seed
        );
        s
    }

    /// `controller.svg`: reconciles/s and p99 latency per side (median, whisker p25–p75).
    pub fn svg(&self) -> Result<String> {
        chart::two_panels(&self.rows, &self.meta, &self.ratios)
    }

    /// Writes `dir/controller-<stamp>/` and returns its path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        self.meta.run.save_folder(
            dir,
            "controller",
            &[
                ("controller.csv", self.csv()),
                ("summary.md", self.summary_md()),
                ("controller.svg", self.svg()?),
                ("report.json", self.to_json()? + "\n"),
            ],
        )
    }
}

mod chart {
    use anyhow::Result;
    use plotters::prelude::*;

    use super::{ControllerMeta, Ratios, SideSummary};
    use crate::report::plot::{self, bar_chart, category_label, err, Area, Frame};
    use crate::report::thousands;

    const COLORS: [RGBColor; 3] = [
        RGBColor(46, 139, 87),
        RGBColor(70, 110, 170),
        RGBColor(160, 160, 160),
    ];

    fn panel(
        area: &Area<'_>,
        rows: &[SideSummary],
        title: &str,
        y_desc: &str,
        value: impl Fn(&SideSummary) -> (f64, f64, f64),
    ) -> Result<()> {
        let ymax = rows
            .iter()
            .map(|r| {
                let (v, _, hi) = value(r);
                v.max(hi)
            })
            .filter(|v| v.is_finite())
            .fold(1.0f64, f64::max)
            * 1.15;
        let frame = Frame {
            title,
            title_size: 16,
            margin: 14,
            y_label_area: 70,
            y_desc,
        };
        let mut chart = bar_chart(area, &frame, rows.len(), (-ymax * 0.08)..ymax, &|v| {
            format!("{v:.0}")
        })?;
        for (i, r) in rows.iter().enumerate() {
            let (v, lo, hi) = value(r);
            let x = i as f64;
            let color = COLORS[i % COLORS.len()];
            if v.is_finite() {
                chart
                    .draw_series([Rectangle::new(
                        [(x + 0.2, 0.0), (x + 0.8, v)],
                        color.filled(),
                    )])
                    .map_err(err)?;
            }
            if lo.is_finite() && hi.is_finite() {
                chart
                    .draw_series([PathElement::new(
                        [(x + 0.5, lo), (x + 0.5, hi)],
                        BLACK.stroke_width(2),
                    )])
                    .map_err(err)?;
            }
            category_label(&mut chart, i, -ymax * 0.01, &r.side, 13)?;
        }
        Ok(())
    }

    pub(super) fn two_panels(
        rows: &[SideSummary],
        meta: &ControllerMeta,
        ratios: &Ratios,
    ) -> Result<String> {
        plot::svg((1000, 520), |root| {
            let root = root
                .titled(
                    &format!(
                        "kubesim vs kube-runtime: {} RS × {} pods, {} worker(s), {} CPUs — \
                         {:.2}× the reconciles/s, {:.2}× lower p99",
                        thousands(meta.config.replica_sets as u64),
                        meta.config.pods,
                        meta.config.workers,
                        meta.run.base.nproc,
                        ratios.reconciles_per_sec.paired_median,
                        ratios.p99_latency.paired_median
                    ),
                    ("sans-serif", 17),
                )
                .map_err(err)?;
            let (left, right) = root.split_horizontally(500);
            panel(
                &left,
                rows,
                "reconciles/s (higher is better; whisker p25–p75)",
                "reconciles/s",
                |r| {
                    (
                        r.reconciles_per_sec,
                        r.reconciles_per_sec_p25,
                        r.reconciles_per_sec_p75,
                    )
                },
            )?;
            panel(
                &right,
                rows,
                "p99 event→reconcile latency (lower is better)",
                "µs",
                |r| (r.p99_us, r.p99_us_p25, r.p99_us_p75),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(json: bool) -> ControllerOptions {
        ControllerOptions {
            replica_sets: 30,
            pods: 4,
            runs: 2,
            json,
            quiet: true,
            no_save: true,
            ..ControllerOptions::default()
        }
    }

    #[test]
    fn both_sides_converge_and_the_json_has_every_part() {
        let outcome = bench_controller(&tiny(true)).unwrap();
        let r = &outcome.report;
        assert!(outcome.ok(), "{:#?}", r.rows);
        for runs in [&r.runs.kubesim, &r.runs.kube, &r.runs.real] {
            assert_eq!(runs.len(), 2);
            for s in runs.iter() {
                assert!(s.check.ok && s.check.pods_seen == 120, "{s:?}");
                assert!(s.reconciles >= 30, "{s:?}");
                assert_eq!(s.errors, 0, "{s:?}");
            }
        }
        for s in r.runs.kubesim.iter().chain(&r.runs.kube) {
            assert_eq!(
                s.creates, 120,
                "the shared reconcile creates every pod once"
            );
            assert_eq!(s.deletes, 0);
        }
        assert_eq!(r.meta.first, vec!["kubesim", "kube-runtime"]);
        let v: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
        assert_eq!(v["rows"].as_array().unwrap().len(), 3);
        for side in ["kubesim", "kube-runtime", "kubesim-rs-controller"] {
            let row = v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["side"] == side)
                .unwrap();
            assert!(row["reconciles_per_sec"].as_f64().unwrap() > 0.0, "{side}");
            assert!(row["p99_us"].as_f64().unwrap() > 0.0, "{side}");
            assert_eq!(row["ok"], true);
        }
        for k in ["reconciles_per_sec", "converge", "p99_latency"] {
            assert!(
                v["ratios"][k]["paired_median"].as_f64().unwrap() > 0.0,
                "{k}"
            );
            assert_eq!(v["ratios"][k]["pairs"], 2);
        }
        assert!(v["target"]["pass"].is_boolean());
        assert_eq!(v["meta"]["config"]["strategy"], "hash");
        assert_eq!(v["meta"]["total_pods"], 120);
    }

    #[test]
    fn table_csv_summary_svg_and_folder() {
        let outcome = bench_controller(&ControllerOptions {
            real_controller: false,
            runs: 1,
            ..tiny(false)
        })
        .unwrap();
        let r = &outcome.report;
        assert!(outcome.ok());
        assert_eq!(r.rows.len(), 2);
        assert!(outcome.stdout.contains("kube-runtime") && outcome.stdout.contains("target"));
        let csv = r.csv();
        assert!(csv.starts_with("side,pair,first,wall_ms"));
        assert_eq!(csv.lines().count(), 3, "{csv}");
        let md = r.summary_md();
        for needle in ["rustc", "commit", "command", "controller.svg", "left out"] {
            assert!(md.contains(needle), "summary lacks {needle}");
        }
        let svg = r.svg().unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("kube-runtime"));
        let dir =
            std::env::temp_dir().join(format!("kubesim-controller-test-{}", std::process::id()));
        let saved = r.save(&dir).unwrap();
        for f in [
            "controller.csv",
            "summary.md",
            "controller.svg",
            "report.json",
        ] {
            assert!(saved.join(f).is_file(), "{f}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn zero_sizes_are_usage_errors() {
        let err = bench_controller(&ControllerOptions {
            pods: 0,
            ..tiny(true)
        })
        .unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some(), "{err:#}");
    }
}
