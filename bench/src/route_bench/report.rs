//! `kubesim route`'s output: the table, the JSON object and the run folder
//! (`route.csv`, `summary.md`, `route.svg`, `report.json`), and [`bench_route`], the
//! whole command minus argument parsing.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Serialize;

use super::{run_cell, RouteConfig, Row, Scenario, Variant};
use crate::report::{profile_note, progress_bar, Profiler, RunOutcome};
use crate::sysinfo::RunInfo;

/// Options of `kubesim route`.
#[derive(Clone, Debug)]
pub struct RouteOptions {
    /// Sizes and traffic.
    pub config: RouteConfig,
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
    /// Profile the whole run with pprof and write a flamegraph SVG here.
    pub flamegraph: Option<PathBuf>,
}

impl Default for RouteOptions {
    fn default() -> Self {
        RouteOptions {
            config: RouteConfig::full(),
            quick: false,
            json: false,
            quiet: false,
            out: PathBuf::from("results"),
            no_save: false,
            flamegraph: None,
        }
    }
}

/// Run facts and configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouteMeta {
    /// Command, toolchain, commit, machine, date.
    #[serde(flatten)]
    pub run: RunInfo,
    /// Sizes and traffic.
    pub config: RouteConfig,
    /// `--quick`.
    pub quick: bool,
    /// Honest notes on the method.
    pub notes: Vec<String>,
    /// The flamegraph written for this run (`--flamegraph`), if any.
    pub flamegraph: Option<String>,
}

/// The whole report (what `--json` prints).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouteReport {
    /// One row per (scenario, clients, algorithm), scenarios outermost.
    pub rows: Vec<Row>,
    /// Run facts.
    pub meta: RouteMeta,
}

/// What `kubesim route` produced.
pub type RouteOutcome = RunOutcome<RouteReport>;

impl RouteOutcome {
    /// Whether every cell was free of errors (the CLI exits 1 otherwise).
    pub fn ok(&self) -> bool {
        self.report.rows.iter().all(Row::ok)
    }
}

fn notes(cfg: &RouteConfig) -> Vec<String> {
    vec![
        format!(
            "Virtual time, seeded: every figure except wall_ms is the same on every run. \
             Open loop at {:.0} req/s from {} client IPs; latency is measured from the \
             intended send time (coordinated omission corrected) and includes queueing at \
             the pod: one FIFO server per pod, exponential service time, mean {}.",
            cfg.rate,
            cfg.client_ips,
            kubesim_loadgen::backend::format_duration(cfg.service_mean)
        ),
        format!(
            "{} pods ({} utilization on average); every request is a new connection from an \
             ephemeral port, so maglev (which hashes IP and port) is not sticky per client IP.",
            cfg.replicas,
            format_args!(
                "{:.0} %",
                cfg.rate * cfg.service_mean.as_secs_f64() / f64::from(cfg.replicas) * 100.0
            )
        ),
        "rollout: the image changes after the warm-up; the real Deployment, ReplicaSet, \
         EndpointSlice controllers, scheduler and kubelets roll it on the same store the \
         router watches; the rollout_* columns cover the requests issued while it ran."
            .to_string(),
        "errors: no endpoint, or routed to a pod that was not Ready (or being deleted) at \
         that instant — the latter must be 0. Imbalance (max/mean requests per pod) of a \
         rollout cell counts old and new pods alike, so it is high by construction."
            .to_string(),
        "ipvs-lc picks the first destination with the fewest active connections: at \
         moderate load many picks find several idle pods and take the first in list order."
            .to_string(),
        "Source-IP stickiness (clientip-affinity, ipvs-sh) pins each client to one pod: under \
         Zipf the pods holding the hottest clients run over capacity and queue. In a rollout \
         with affinity, the clients of a deleted pod re-pin across the current pods, so the \
         surviving old pods keep their own clients and collect more until they go."
            .to_string(),
    ]
}

impl RouteReport {
    /// Builds the report.
    pub fn new(cfg: &RouteConfig, rows: Vec<Row>, run: RunInfo, quick: bool) -> Self {
        RouteReport {
            rows,
            meta: RouteMeta {
                run,
                config: cfg.clone(),
                quick,
                notes: notes(cfg),
                flamegraph: None,
            },
        }
    }

    /// The one JSON object.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).context("serializing the report")
    }

    /// `route.csv`.
    pub fn csv(&self) -> String {
        let mut s = String::from(
            "scenario,clients,algorithm,requests,throughput_rps,p50_us,p90_us,p99_us,p999_us,\
             max_us,imbalance,cv,stickiness,endpoints,errors_no_endpoint,errors_not_ready,\
             rollout_requests,rollout_p99_us,rollout_max_us,rollout_errors,rollout_s,wall_ms\n",
        );
        let f = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.3}"));
        let u = |v: Option<u64>| v.map_or(String::new(), |x| x.to_string());
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{},{},{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.4},{:.4},{:.4},{},{},{},{},{},{},{},{},{:.1}",
                r.scenario.name(),
                r.clients,
                r.algorithm,
                r.requests,
                r.throughput_rps,
                r.p50_us,
                r.p90_us,
                r.p99_us,
                r.p999_us,
                r.max_us,
                r.imbalance,
                r.cv,
                r.stickiness,
                r.endpoints,
                r.errors_no_endpoint,
                r.errors_not_ready,
                u(r.rollout_requests),
                f(r.rollout_p99_us),
                f(r.rollout_max_us),
                u(r.rollout_errors),
                f(r.rollout_s),
                r.wall_ms,
            );
        }
        s
    }

    /// The terminal table.
    pub fn table(&self) -> String {
        let c = &self.meta.config;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "kubesim route — {} pods, {:.0} req/s open loop, exp:{} service, {} client IPs{}",
            c.replicas,
            c.rate,
            kubesim_loadgen::backend::format_duration(c.service_mean),
            c.client_ips,
            if self.meta.quick { ", --quick" } else { "" }
        );
        let _ = writeln!(
            s,
            "{:<8} {:<9} {:<18} {:>8} {:>8} {:>8} {:>8} {:>9} {:>6} {:>5} {:>6} {:>6} {:>9} {:>9} {:>6}",
            "scenario",
            "clients",
            "algorithm",
            "req/s",
            "p50 ms",
            "p99 ms",
            "p999 ms",
            "max ms",
            "imbal",
            "cv",
            "stick",
            "errors",
            "roll p99",
            "roll max",
            "roll s"
        );
        let ms = |us: f64| format!("{:.2}", us / 1e3);
        let opt_ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), ms);
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{:<8} {:<9} {:<18} {:>8.0} {:>8} {:>8} {:>8} {:>9} {:>6.2} {:>5.2} {:>6.2} {:>6} {:>9} {:>9} {:>6}",
                r.scenario.name(),
                r.clients,
                r.algorithm,
                r.throughput_rps,
                ms(r.p50_us),
                ms(r.p99_us),
                ms(r.p999_us),
                ms(r.max_us),
                r.imbalance,
                r.cv,
                r.stickiness,
                r.errors_no_endpoint + r.errors_not_ready,
                opt_ms(r.rollout_p99_us),
                opt_ms(r.rollout_max_us),
                r.rollout_s
                    .map_or_else(|| "-".to_string(), |x| format!("{x:.1}")),
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
        let mut s = String::from("# kubesim route\n\n");
        let _ = writeln!(
            s,
            "Every balancing algorithm of the router × client-IP distribution × {{steady, \
             rollout}}: traffic from kubesim-loadgen through the router while the simulated \
             control plane runs on the same store.\n"
        );
        let _ = writeln!(
            s,
            "| scenario | clients | algorithm | req/s | p50 ms | p99 ms | p99.9 ms | max ms | imbalance | cv | stickiness | errors (no endpoint / not ready) | rollout p99 ms | rollout max ms | rollout s |"
        );
        let _ = writeln!(
            s,
            "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
        );
        let opt = |v: Option<f64>, div: f64, p: usize| {
            v.map_or_else(|| "–".to_string(), |x| format!("{:.p$}", x / div))
        };
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} / {} | {} | {} | {} |",
                r.scenario.name(),
                r.clients,
                r.algorithm,
                r.throughput_rps,
                r.p50_us / 1e3,
                r.p99_us / 1e3,
                r.p999_us / 1e3,
                r.max_us / 1e3,
                r.imbalance,
                r.cv,
                r.stickiness,
                r.errors_no_endpoint,
                r.errors_not_ready,
                opt(r.rollout_p99_us, 1e3, 2),
                opt(r.rollout_max_us, 1e3, 2),
                opt(r.rollout_s, 1.0, 1),
            );
        }
        let _ = writeln!(
            s,
            "\n![p99 latency and imbalance per algorithm](route.svg)\n"
        );
        let _ = writeln!(s, "## Notes\n");
        for n in &m.notes {
            let _ = writeln!(s, "- {n}");
        }
        m.run.write_markdown(&mut s);
        s
    }

    /// `route.svg`: p99 latency and imbalance per algorithm, one bar per (scenario,
    /// clients).
    pub fn svg(&self) -> Result<String> {
        chart::p99_and_imbalance(&self.rows)
    }

    /// Writes the run folder `dir/route-<stamp>/`.
    pub fn save(&self, dir: &std::path::Path) -> Result<PathBuf> {
        self.meta.run.save_folder(
            dir,
            "route",
            &[
                ("route.csv", self.csv()),
                ("summary.md", self.summary_md()),
                ("route.svg", self.svg()?),
                ("report.json", self.to_json()?),
            ],
        )
    }
}

/// Runs `kubesim route`: every cell, then the table or JSON, and the run folder.
pub fn bench_route(opts: &RouteOptions) -> Result<RouteOutcome> {
    let run_info = RunInfo::collect();
    let cfg = &opts.config;
    let mut cells = Vec::new();
    for scenario in Scenario::ALL {
        for dist in cfg.dists() {
            for variant in Variant::all() {
                cells.push((scenario, dist, variant));
            }
        }
    }
    let pb = progress_bar(opts.quiet, Some(cells.len() as u64));
    let profiler = Profiler::start(opts.flamegraph.as_deref())?;
    let mut rows = Vec::with_capacity(cells.len());
    for (scenario, dist, variant) in cells {
        pb.set_message(format!("{} {dist} {}", scenario.name(), variant.name()));
        let (row, _) = run_cell(cfg, variant, dist, scenario)?;
        rows.push(row);
        pb.inc(1);
    }
    pb.finish_and_clear();
    if let Some(profiler) = profiler {
        profiler.finish()?;
    }
    let mut report = RouteReport::new(cfg, rows, run_info, opts.quick);
    if let Some(path) = &opts.flamegraph {
        report.meta.flamegraph = Some(path.display().to_string());
        report.meta.notes.push(profile_note(path, "."));
    }
    RunOutcome::render(report, opts.json, opts.no_save, &opts.out)
}

mod chart {
    use anyhow::Result;
    use plotters::prelude::*;

    use super::Row;
    use crate::report::plot::{self, bar_chart, grouped_bars, legend_box, legend_swatch, Frame};

    /// Two stacked bar charts (p99 ms, imbalance), one group per algorithm, one bar per
    /// (scenario, clients).
    pub(super) fn p99_and_imbalance(rows: &[Row]) -> Result<String> {
        let mut algos: Vec<&str> = Vec::new();
        let mut series: Vec<(String, &str)> = Vec::new();
        for r in rows {
            if !algos.contains(&r.algorithm.as_str()) {
                algos.push(&r.algorithm);
            }
            let key = (r.scenario.name().to_string(), r.clients.as_str());
            if !series.contains(&key) {
                series.push(key);
            }
        }
        plot::svg((1000, 900), |root| {
            let (top, bottom) = root.split_vertically(450);
            type Metric = fn(&Row) -> f64;
            // p99 spans orders of magnitude (affinity under Zipf queues for seconds):
            // that panel plots log10(ms) and labels the axis in ms.
            let panels: [(&str, &str, Metric, bool, _); 2] = [
                (
                    "p99 latency by algorithm (ms, log scale; lower is better)",
                    "p99 ms",
                    |r: &Row| r.p99_us / 1e3,
                    true,
                    &top,
                ),
                (
                    "imbalance by algorithm (max/mean requests per pod; 1 = even)",
                    "imbalance",
                    |r: &Row| r.imbalance,
                    false,
                    &bottom,
                ),
            ];
            for (title, y_desc, metric, log, area) in panels {
                let value = |r: &Row| {
                    let v = metric(r);
                    if log {
                        v.max(1e-3).log10()
                    } else {
                        v
                    }
                };
                let (base, top_v) = if log {
                    let lo = rows.iter().map(value).fold(f64::INFINITY, f64::min);
                    let hi = rows.iter().map(value).fold(f64::NEG_INFINITY, f64::max);
                    let base = if lo.is_finite() { lo.floor() } else { 0.0 };
                    (
                        base,
                        if hi.is_finite() {
                            hi.ceil().max(base + 1.0)
                        } else {
                            base + 1.0
                        },
                    )
                } else {
                    let hi = rows.iter().map(value).fold(0.0f64, f64::max).max(1e-3);
                    (0.0, hi * 1.15)
                };
                let span = top_v - base;
                let ymax = top_v;
                let fmt = move |v: &f64| {
                    if *v < base - 1e-9 {
                        String::new()
                    } else if log {
                        let x = 10f64.powf(*v);
                        if x >= 10.0 {
                            format!("{x:.0}")
                        } else {
                            format!("{x:.2}")
                        }
                    } else {
                        format!("{v:.1}")
                    }
                };
                let frame = Frame {
                    title,
                    title_size: 18,
                    margin: 16,
                    y_label_area: 60,
                    y_desc,
                };
                let mut chart =
                    bar_chart(area, &frame, algos.len(), (base - span * 0.08)..ymax, &fmt)?;
                grouped_bars(
                    &mut chart,
                    &algos,
                    series.len(),
                    base,
                    (base - span * 0.01, 12),
                    |ai, si| {
                        let (sc, cl) = &series[si];
                        rows.iter()
                            .find(|r| {
                                r.algorithm == algos[ai]
                                    && r.scenario.name() == sc
                                    && r.clients == *cl
                            })
                            .map(value)
                    },
                )?;
                for (si, (sc, cl)) in series.iter().enumerate() {
                    legend_swatch(
                        &mut chart,
                        format!("{sc}, {cl}"),
                        plot::PALETTE[si % plot::PALETTE.len()],
                    )?;
                }
                legend_box(&mut chart, SeriesLabelPosition::UpperLeft)?;
            }
            Ok(())
        })
    }
}
