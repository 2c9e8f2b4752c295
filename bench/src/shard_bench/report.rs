//! `kubesim shard`'s output: the table, the JSON object and the run folder
//! (`shard.csv`, `summary.md`, `shard.svg`, `report.json`), and [`bench_shard`], the
//! whole command minus argument parsing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kubesim_core::runtime::Strategy;
use serde::Serialize;

use super::{run_repeated, Row, ShardConfig, Sizes, Workload, ZIPF_EXPONENT};
use crate::report::{profile_note, progress_bar, thousands, Profiler, RunOutcome, PROFILE_HZ};
use crate::sysinfo::RunInfo;

/// Options of `kubesim shard`.
#[derive(Clone, Debug)]
pub struct ShardOptions {
    /// Strategies to compare.
    pub strategies: Vec<Strategy>,
    /// Worker counts.
    pub workers: Vec<usize>,
    /// Workloads.
    pub workloads: Vec<Workload>,
    /// Sizes (from `--quick` / `--scale`).
    pub sizes: Sizes,
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
    /// Runs per cell; the figures are their medians.
    pub repeat: usize,
    /// Profile the whole run with pprof and write a flamegraph SVG here.
    pub flamegraph: Option<PathBuf>,
}

impl Default for ShardOptions {
    fn default() -> Self {
        ShardOptions {
            strategies: Strategy::ALL.to_vec(),
            workers: vec![1, 2, 4],
            workloads: Workload::ALL.to_vec(),
            sizes: Sizes::full(),
            quick: false,
            json: false,
            quiet: false,
            out: PathBuf::from("results"),
            no_save: false,
            repeat: 3,
            flamegraph: None,
        }
    }
}

/// Run facts and configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShardMeta {
    /// Command, toolchain, commit, machine, date.
    #[serde(flatten)]
    pub run: RunInfo,
    /// Sizes.
    pub sizes: Sizes,
    /// Pods per workload (cold start).
    pub pods: Vec<(String, usize)>,
    /// `--quick`.
    pub quick: bool,
    /// Seed.
    pub seed: u64,
    /// Honest notes on the method.
    pub notes: Vec<String>,
    /// Runs per cell (the figures are their medians).
    pub repeat: usize,
    /// The flamegraph written for this run (`--flamegraph`), if any.
    pub flamegraph: Option<String>,
}

/// The whole report (what `--json` prints).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShardReport {
    /// One row per (strategy, workers, workload), workloads outermost.
    pub rows: Vec<Row>,
    /// Run facts.
    pub meta: ShardMeta,
}

/// What `kubesim shard` produced.
pub type ShardOutcome = RunOutcome<ShardReport>;

impl ShardOutcome {
    /// Whether every cell that ran converged (the CLI exits 1 otherwise).
    pub fn ok(&self) -> bool {
        self.report.all_converged()
    }
}

/// Runs `kubesim shard`: every cell, then the table or JSON, and the run folder.
pub fn bench_shard(opts: &ShardOptions) -> Result<ShardOutcome> {
    let pb = &progress_bar(opts.quiet, None);
    let run_info = RunInfo::collect();
    let cfg = ShardConfig {
        strategies: opts.strategies.clone(),
        workers: opts.workers.clone(),
        workloads: opts.workloads.clone(),
        sizes: opts.sizes.clone(),
        seed: 0x0053_4841_5244,
    };
    let profiler = Profiler::start(opts.flamegraph.as_deref())?;
    let rows = run_repeated(&cfg, opts.repeat, pb);
    pb.finish_and_clear();
    if let Some(profiler) = profiler {
        profiler.finish()?;
    }
    let mut report = ShardReport::new(&cfg, rows?, run_info, opts.quick);
    if let Some(path) = &opts.flamegraph {
        report.meta.flamegraph = Some(path.display().to_string());
        report.meta.notes.push(profile_note(
            path,
            "; sampling adds a little overhead to every cell.",
        ));
    }
    RunOutcome::render(report, opts.json, opts.no_save, &opts.out)
}

fn notes(cfg: &ShardConfig, nproc: usize, repeat: usize) -> Vec<String> {
    let s = &cfg.sizes;
    let mut n = vec![
        format!(
            "This machine has {nproc} CPU(s); worker counts above {nproc} oversubscribe it \
             (the workers also share the cores with the two watch pumps and the bench \
             thread), so those figures show contention, not parallel speed-up."
        ),
        "Only the ReplicaSet controller runs (rollout: the Deployment and ReplicaSet \
         controllers and a bench-only kubelet that makes pods Ready at once): pods are \
         created in the store but never scheduled (no scheduler). This measures the \
         controller layout (watch → map → dispatch → reconcile → write), not a cluster."
            .into(),
        "Converged = every ReplicaSet has status.replicas == spec.replicas and the store \
         holds exactly the expected pods, polled every 1 ms by the bench thread (which also \
         uses CPU). The runtime's wait_idle cannot be used: the controller requeues a \
         ReplicaSet at its 5-minute expectations expiry after each create batch."
            .into(),
        format!(
            "uniform: {} ReplicaSets × {} pods, cold start (ReplicaSets exist before the \
             runtime starts). zipf: {} ReplicaSets sized max(1, round({} / k^{ZIPF_EXPONENT})), \
             {} pods in all (fewer than uniform: that is what a Zipf(1.1) head of this size \
             sums to over this many owners).",
            thousands(s.replica_sets as u64),
            s.pods_per_rs,
            thousands(s.replica_sets as u64),
            thousands(s.zipf_hot as u64),
            thousands(s.replicas(Workload::Zipf).iter().sum::<usize>() as u64)
        ),
        format!(
            "churn: after a uniform cold start (not measured; the runtime settles — no reconcile for 50 ms, \
             since every ReplicaSet is reconciled once more for its own status update — and metrics are reset), {} random pods \
             deleted (grace 0) at {}/s; reconciles/s, latency and idle % cover the first \
             deletion to convergence; converge_ms is the catch-up after the last deletion.",
            thousands(s.churn_deletions() as u64),
            s.churn_rate
        ),
        "reshard: uniform cold start; a worker is added when a third of the pods exist and \
         worker 0 removed at two thirds; keys moved = moved_queued + moved_delayed of both. \
         Strategies that cannot reshard are n/a."
            .into(),
        format!(
            "rollout: {} Deployments x {} pods complete on v1 (not measured), then every one \
             changes its image at once; converge_ms is the time until all are complete on v2 \
             with every old pod gone; reconciles/s counts the Deployment, ReplicaSet and \
             instant-kubelet controllers; latency, imbalance and idle % are the Deployment \
             controller's. Pods are made Ready at once (no scheduler or kubelet).",
            thousands(super::rollout::rollout_deployments(s.replica_sets) as u64),
            super::rollout::ROLLOUT_REPLICAS
        ),
        "Latency is the runtime's event-to-reconcile histogram: from the moment the pump \
         mapped a key's oldest unserved event to the start of its reconcile. In a cold start \
         the initial list enqueues every ReplicaSet at once, so the tail is queueing time."
            .into(),
        format!(
            "imbalance = max ÷ mean of keys handed out per worker slot; idle % = 1 − Σ busy ÷ \
             worker-time. {}",
            if repeat > 1 {
                format!(
                    "Each figure is the median over {repeat} runs of the cell, figure by \
                     figure (runs are whole sweeps over the cells, one after the other); \
                     errors are summed; a cell converged only if every run did."
                )
            } else {
                "One run per cell: on a shared 2-core VM, differences under ~15% are noise."
                    .to_string()
            }
        ),
    ];
    if s.replica_sets < 10_000 {
        n.push(format!(
            "Sizes are reduced ({} ReplicaSets instead of the issue's 10,000).",
            thousands(s.replica_sets as u64)
        ));
    }
    n
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.prec$}"))
}

/// A row's measured figures as the table and summary.md print them: reconciles/s,
/// converge ms, p50, p99 and p999 µs, imbalance, idle %.
fn figures(r: &Row) -> [String; 7] {
    [
        opt(r.reconciles_per_sec, 0),
        opt(r.converge_ms, 1),
        opt(r.p50_us, 0),
        opt(r.p99_us, 0),
        opt(r.p999_us, 0),
        opt(r.imbalance, 2),
        opt(r.idle_pct, 1),
    ]
}

impl ShardReport {
    /// Builds the report.
    pub fn new(cfg: &ShardConfig, rows: Vec<Row>, run: RunInfo, quick: bool) -> Self {
        let repeat = rows.iter().map(|r| r.runs).max().unwrap_or(1);
        let notes = notes(cfg, run.base.nproc, repeat);
        let pods = cfg
            .workloads
            .iter()
            .map(|w| {
                (
                    w.name().to_string(),
                    cfg.sizes.replicas(*w).iter().sum::<usize>(),
                )
            })
            .collect();
        ShardReport {
            rows,
            meta: ShardMeta {
                run,
                sizes: cfg.sizes.clone(),
                pods,
                quick,
                seed: cfg.seed,
                notes,
                repeat,
                flamegraph: None,
            },
        }
    }

    /// Every cell that ran converged.
    pub fn all_converged(&self) -> bool {
        self.rows.iter().all(|r| r.converged != Some(false))
    }

    /// The one JSON object.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).context("serializing the report")
    }

    /// `shard.csv`.
    pub fn csv(&self) -> String {
        let mut s = String::from(
            "workload,strategy,workers,reconciles_per_sec,converge_ms,p50_us,p99_us,p999_us,\
             imbalance,idle_pct,keys_moved,converged,reconciles,errors,replica_sets,pods,wall_ms,\
             runs\n",
        );
        let f = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.3}"));
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                r.workload,
                r.strategy,
                r.workers,
                f(r.reconciles_per_sec),
                f(r.converge_ms),
                f(r.p50_us),
                f(r.p99_us),
                f(r.p999_us),
                f(r.imbalance),
                f(r.idle_pct),
                r.keys_moved.map_or(String::new(), |k| k.to_string()),
                r.converged.map_or("n/a".to_string(), |c| c.to_string()),
                r.reconciles,
                r.errors,
                r.replica_sets,
                r.pods,
                f(r.wall_ms),
                r.runs,
            );
        }
        s
    }

    /// The terminal table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "kubesim shard — ReplicaSet controller (rollout: + Deployment), {} CPU(s){}{}",
            self.meta.run.base.nproc,
            if self.meta.quick { ", --quick" } else { "" },
            if self.meta.repeat > 1 {
                format!(", median of {} runs per cell", self.meta.repeat)
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            s,
            "{:<8} {:<10} {:>3} {:>11} {:>10} {:>9} {:>9} {:>9} {:>6} {:>6} {:>6} {:>5}",
            "workload",
            "strategy",
            "w",
            "reconc/s",
            "conv ms",
            "p50 µs",
            "p99 µs",
            "p999 µs",
            "imbal",
            "idle%",
            "moved",
            "ok"
        );
        for r in &self.rows {
            let [rps, conv, p50, p99, p999, imbalance, idle] = figures(r);
            let _ = writeln!(
                s,
                "{:<8} {:<10} {:>3} {:>11} {:>10} {:>9} {:>9} {:>9} {:>6} {:>6} {:>6} {:>5}",
                r.workload,
                r.strategy,
                r.workers,
                rps,
                conv,
                p50,
                p99,
                p999,
                imbalance,
                idle,
                r.keys_moved
                    .map_or_else(|| "-".to_string(), |k| k.to_string()),
                match r.converged {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "n/a",
                }
            );
        }
        let _ = writeln!(s, "\nnotes:");
        for n in &self.meta.notes {
            let _ = writeln!(s, "- {n}");
        }
        s
    }

    /// `summary.md`.
    pub fn summary_md(&self) -> String {
        let m = &self.meta;
        let mut s = String::new();
        let _ = writeln!(s, "# kubesim shard — {}\n", m.run.base.date);
        let _ = writeln!(
            s,
            "Sharding strategies of the controller runtime compared on the ReplicaSet \
             controller{}.\n",
            if m.quick { " (`--quick` sizes)" } else { "" }
        );
        let _ = writeln!(s, "![reconciles/s, uniform](shard.svg)\n");
        let _ = writeln!(s, "## Results\n");
        let _ = writeln!(
            s,
            "| workload | strategy | workers | reconciles/s | converge ms | p50 µs | p99 µs | \
             p999 µs | imbalance | idle % | keys moved | converged | reconciles |"
        );
        let _ = writeln!(
            s,
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"
        );
        for r in &self.rows {
            let [rps, conv, p50, p99, p999, imbalance, idle] = figures(r);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.workload,
                r.strategy,
                r.workers,
                rps,
                conv,
                p50,
                p99,
                p999,
                imbalance,
                idle,
                r.keys_moved
                    .map_or_else(|| "—".to_string(), |k| k.to_string()),
                match r.converged {
                    Some(true) => "yes".to_string(),
                    Some(false) => format!("**no** ({})", r.note),
                    None => r.note.clone(),
                },
                thousands(r.reconciles)
            );
        }
        let _ = writeln!(s, "\n## Method and honest notes\n");
        for n in &m.notes {
            let _ = writeln!(s, "- {n}");
        }
        m.run.write_markdown(&mut s);
        let _ = writeln!(s, "- allocator: mimalloc; seed {:#x}", m.seed);
        let _ = writeln!(s, "- runs per cell: {} (figures are medians)", m.repeat);
        if let Some(f) = &m.flamegraph {
            let _ = writeln!(s, "- flamegraph: `{f}` (pprof, {PROFILE_HZ} Hz)");
        }
        s
    }

    /// `shard.svg`: reconciles/s per strategy, one bar per worker count, for `uniform`
    /// (or the first workload that ran).
    pub fn svg(&self) -> Result<String> {
        let wl = self
            .rows
            .iter()
            .find(|r| r.workload == "uniform" && r.ran())
            .or_else(|| self.rows.iter().find(|r| r.ran()))
            .map(|r| r.workload.clone())
            .unwrap_or_else(|| "uniform".into());
        chart::grouped(&self.rows, &wl, self.meta.run.base.nproc)
    }

    /// Writes `dir/shard-<stamp>/` and returns its path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        self.meta.run.save_folder(
            dir,
            "shard",
            &[
                ("shard.csv", self.csv()),
                ("summary.md", self.summary_md()),
                ("shard.svg", self.svg()?),
                ("report.json", self.to_json()?),
            ],
        )
    }
}

mod chart {
    use anyhow::Result;
    use plotters::prelude::*;

    use super::Row;
    use crate::report::plot::{self, bar_chart, grouped_bars, legend_box, legend_swatch, Frame};

    /// reconciles/s, one group of bars per strategy, one bar per worker count.
    pub(super) fn grouped(rows: &[Row], workload: &str, nproc: usize) -> Result<String> {
        let rows: Vec<&Row> = rows
            .iter()
            .filter(|r| r.workload == workload && r.ran())
            .collect();
        let mut strategies: Vec<&str> = Vec::new();
        let mut workers: Vec<usize> = Vec::new();
        for r in &rows {
            if !strategies.contains(&r.strategy.as_str()) {
                strategies.push(&r.strategy);
            }
            if !workers.contains(&r.workers) {
                workers.push(r.workers);
            }
        }
        let ymax = rows
            .iter()
            .filter_map(|r| r.reconciles_per_sec)
            .fold(1.0f64, f64::max)
            * 1.15;
        plot::svg((900, 520), |root| {
            let title = format!(
                "reconciles/s by strategy and workers, {workload} ({nproc} CPUs; higher is better)"
            );
            let frame = Frame {
                title: &title,
                title_size: 18,
                margin: 16,
                y_label_area: 70,
                y_desc: "reconciles/s",
            };
            let mut chart =
                bar_chart(root, &frame, strategies.len(), (-ymax * 0.06)..ymax, &|v| {
                    format!("{v:.0}")
                })?;
            grouped_bars(
                &mut chart,
                &strategies,
                workers.len(),
                0.0,
                (-ymax * 0.01, 14),
                |si, wi| {
                    rows.iter()
                        .find(|r| r.strategy == strategies[si] && r.workers == workers[wi])
                        .and_then(|r| r.reconciles_per_sec)
                },
            )?;
            for (wi, w) in workers.iter().enumerate() {
                legend_swatch(
                    &mut chart,
                    format!("{w} worker(s)"),
                    plot::PALETTE[wi % plot::PALETTE.len()],
                )?;
            }
            legend_box(&mut chart, SeriesLabelPosition::UpperRight)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_run_info;
    use indicatif::ProgressBar;

    #[test]
    fn table_csv_summary_svg_and_folder() {
        let cfg = ShardConfig {
            strategies: vec![Strategy::Shared, Strategy::Hash],
            workers: vec![1, 2],
            workloads: vec![Workload::Uniform, Workload::Reshard],
            sizes: Sizes::new(10, 0.05),
            seed: 3,
        };
        let rows = crate::shard_bench::run(&cfg, &ProgressBar::hidden()).unwrap();
        assert_eq!(rows.len(), 8);
        let r = ShardReport::new(&cfg, rows, test_run_info("kubesim shard"), false);
        assert!(r.all_converged());
        let csv = r.csv();
        assert_eq!(csv.lines().count(), 9);
        assert!(csv.starts_with("workload,strategy,workers,reconciles_per_sec"));
        assert!(csv.contains("\nreshard,hash,1,"), "{csv}");
        let table = r.table();
        assert!(
            table.contains("n/a") && table.contains("2 CPU(s)"),
            "{table}"
        );
        let md = r.summary_md();
        for needle in ["rustc", "commit", "oversubscribe", "shard.svg", "never"] {
            assert!(md.contains(needle), "summary lacks {needle}");
        }
        let svg = r.svg().unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("shared"));
        let dir = std::env::temp_dir().join(format!("kubesim-shard-test-{}", std::process::id()));
        let saved = r.save(&dir).unwrap();
        for f in ["shard.csv", "summary.md", "shard.svg", "report.json"] {
            assert!(saved.join(f).is_file(), "{f}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn repeat_reports_medians_and_flamegraph_is_written() {
        let dir = std::env::temp_dir().join(format!("kubesim-shard-flame-{}", std::process::id()));
        let svg = dir.join("nested").join("shard.svg");
        let opts = ShardOptions {
            strategies: vec![Strategy::Hash],
            workers: vec![2],
            workloads: vec![Workload::Uniform],
            sizes: Sizes::new(30, 0.05),
            quiet: true,
            no_save: true,
            json: true,
            repeat: 3,
            flamegraph: Some(svg.clone()),
            ..ShardOptions::default()
        };
        let outcome = bench_shard(&opts).unwrap();
        assert!(outcome.ok());
        let r = &outcome.report;
        assert_eq!(r.rows.len(), 1);
        assert_eq!(r.rows[0].runs, 3);
        assert_eq!(r.meta.repeat, 3);
        assert_eq!(
            r.meta.flamegraph.as_deref(),
            Some(svg.display().to_string().as_str())
        );
        assert!(r.csv().lines().next().unwrap().ends_with(",runs"));
        assert!(r.csv().lines().nth(1).unwrap().ends_with(",3"));
        assert!(r.summary_md().contains("runs per cell: 3"));
        assert!(r
            .meta
            .notes
            .iter()
            .any(|n| n.contains("median over 3 runs")));
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(
            text.contains("<svg"),
            "not an SVG: {}",
            &text[..text.len().min(200)]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
