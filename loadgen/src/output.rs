//! The run folder of `kubesim-loadgen`: `results/loadgen-<yyyymmdd-HHMMSS>/` with
//! `latency.csv`, `endpoints.csv`, `summary.md`, `report.json` and `loadgen.svg`.
//!
//! The run-record helpers here ([`now`], [`stamp`], [`command_line`], [`git_commit`],
//! [`cpu_model`], [`create_run_dir`], [`RUSTC_VERSION`]) are the workspace's only copy:
//! the `kubesim` benchmark commands (bench's `sysinfo.rs`, which depends on this crate)
//! use them too, so every run folder has the same naming and the same `## Run` facts.
//!
//! [`RunInfo::collect`] is the only place in the crate that reads the wall clock (for
//! the date of the run folder); the simulation itself never does (see the crate docs).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use kubesim_core::time::Timestamp;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use crate::report::{LatencySummary, LoadReport};

/// `rustc -V` of the compiler that built this crate (captured by build.rs).
pub const RUSTC_VERSION: &str = env!("KUBESIM_LOADGEN_RUSTC_VERSION");

/// Where and how a run happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunInfo {
    /// The command line, shell-quoted.
    pub command: String,
    /// `rustc -V`.
    pub rustc: String,
    /// `git rev-parse --short HEAD`, `-dirty` when the tree has changes, or `unknown`.
    pub git: String,
    /// Logical CPUs available.
    pub nproc: usize,
    /// CPU model from /proc/cpuinfo, or `unknown`.
    pub cpu: String,
    /// Start time, RFC 3339 UTC.
    pub date: String,
    /// Start time as `yyyymmdd-HHMMSS` (the run folder's name).
    pub stamp: String,
}

impl RunInfo {
    /// Collects everything now (wall clock, `git`, /proc/cpuinfo).
    pub fn collect() -> RunInfo {
        let now = now();
        RunInfo {
            command: command_line(),
            rustc: RUSTC_VERSION.to_string(),
            git: git_commit(),
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu: cpu_model(),
            date: now.rfc3339(),
            stamp: stamp(now),
        }
    }

    /// Appends the `## Run` section: command, `rustc -V`, commit, machine and date.
    pub fn write_markdown(&self, s: &mut String) {
        let _ = writeln!(s, "\n## Run\n");
        let _ = writeln!(s, "- command: `{}`", self.command);
        let _ = writeln!(s, "- rustc: `{}`", self.rustc);
        let _ = writeln!(s, "- commit: `{}`", self.git);
        let _ = writeln!(s, "- machine: {} CPUs, {}", self.nproc, self.cpu);
        let _ = writeln!(s, "- date: {}", self.date);
    }
}

/// Wall-clock now.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Timestamp(ms)
}

/// `yyyymmdd-HHMMSS` in UTC.
pub fn stamp(t: Timestamp) -> String {
    // rfc3339 is `yyyy-mm-ddTHH:MM:SSZ`: its first 14 digits.
    let digits: String = t.rfc3339().chars().filter(char::is_ascii_digit).collect();
    let d = |r: std::ops::Range<usize>| digits.get(r).unwrap_or("").to_string();
    format!("{}-{}", d(0..8), d(8..14))
}

/// The process's arguments, quoted for a POSIX shell where needed.
pub fn command_line() -> String {
    std::env::args()
        .map(|a| shell_quote(&a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(a: &str) -> String {
    let plain = !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

/// `git rev-parse --short HEAD`, with `-dirty` when the tree has changes, or `unknown`.
pub fn git_commit() -> String {
    let run = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    match run(&["rev-parse", "--short", "HEAD"]) {
        Some(head) if !head.is_empty() => match run(&["status", "--porcelain"]) {
            Some(s) if !s.is_empty() => format!("{head}-dirty"),
            _ => head,
        },
        _ => "unknown".to_string(),
    }
}

/// The CPU model from /proc/cpuinfo, or `unknown`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// Reads one figure (µs) of a [`LatencySummary`].
type Figure = fn(&LatencySummary) -> f64;

/// The percentiles of [`latency_csv`], in column order after `series`.
const PERCENTILES: [(&str, Figure); 6] = [
    ("p50", |l| l.p50_us),
    ("p90", |l| l.p90_us),
    ("p99", |l| l.p99_us),
    ("p999", |l| l.p999_us),
    ("max", |l| l.max_us),
    ("mean", |l| l.mean_us),
];

/// `latency.csv`: one row per series (`corrected`: from the intended send time;
/// `uncorrected`: from the actual send time), then one `phase:<name>` row per phase
/// when there are several; columns `series,count,p50_us,p90_us,p99_us,p999_us,max_us,mean_us`.
pub fn latency_csv(report: &LoadReport) -> String {
    let mut s = String::from("series,count");
    for (name, _) in PERCENTILES {
        let _ = write!(s, ",{name}_us");
    }
    s.push('\n');
    let mut row = |name: &str, l: &LatencySummary| {
        let _ = write!(s, "{name},{}", l.count);
        for (_, f) in PERCENTILES {
            let _ = write!(s, ",{:.3}", f(l));
        }
        s.push('\n');
    };
    row("corrected", &report.latency);
    row("uncorrected", &report.latency_uncorrected);
    if report.phases.len() > 1 {
        for p in &report.phases {
            row(&format!("phase:{}", p.name), &p.latency);
        }
    }
    s
}

/// `endpoints.csv`: `endpoint,requests,share`, one row per endpoint in address order.
pub fn endpoints_csv(report: &LoadReport) -> String {
    let mut s = String::from("endpoint,requests,share\n");
    for e in &report.endpoints {
        let _ = writeln!(s, "{},{},{:.6}", e.endpoint, e.requests, e.share);
    }
    s
}

/// `summary.md`: what ran, the percentile table, the balance figures, the report text
/// and the `## Run` section.
pub fn summary_md(report: &LoadReport, run: &RunInfo) -> String {
    let mut s = String::from("# kubesim-loadgen\n\n");
    let _ = writeln!(
        s,
        "{} requests ({} loop, `{}` balancer) against a synthetic Service of {} always-Ready \
         endpoints, in virtual time: {} completed in {:.3} s virtual, {:.0} req/s.\n",
        report.requests,
        report.mode,
        report.algorithm,
        report.endpoints.len(),
        report.completed,
        report.duration_s,
        report.throughput_rps
    );
    let _ = writeln!(s, "## Latency (ms)\n");
    let _ = writeln!(
        s,
        "| series | count | p50 | p90 | p99 | p99.9 | max | mean |"
    );
    let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|--:|");
    for (name, l) in [
        ("corrected (from intended send)", &report.latency),
        (
            "uncorrected (from actual send)",
            &report.latency_uncorrected,
        ),
    ] {
        let _ = write!(s, "| {name} | {} |", l.count);
        for (_, f) in PERCENTILES {
            let _ = write!(s, " {:.3} |", f(l) / 1e3);
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "\nBalance: {} endpoints, imbalance (max/mean) {:.3}, cv {:.3}, stickiness {:.3}, \
         affinity hits {}. Errors: {} with no endpoint, {} routed to a not-ready endpoint.",
        report.endpoints.len(),
        report.imbalance,
        report.cv,
        report.stickiness,
        report.affinity_hits,
        report.errors.no_endpoint,
        report.errors.not_ready
    );
    let _ = writeln!(
        s,
        "\n![latency percentiles and per-endpoint share](loadgen.svg)\n"
    );
    let _ = writeln!(s, "## Report\n\n```\n{}\n```", report.text().trim_end());
    run.write_markdown(&mut s);
    s
}

/// `loadgen.svg`: the latency percentiles (corrected vs uncorrected, log scale) above
/// the per-endpoint share of the requests.
pub fn svg(report: &LoadReport) -> Result<String, String> {
    let e = |e: DrawingAreaErrorKind<_>| format!("drawing loadgen.svg: {e:?}");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 800)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let (top, bottom) = root.split_vertically(420);

        // Top: one group per percentile, two bars (corrected, uncorrected), log10(ms).
        let series = [
            ("corrected (from intended send)", &report.latency, BLUE_ISH),
            (
                "uncorrected (from actual send)",
                &report.latency_uncorrected,
                ORANGE_ISH,
            ),
        ];
        let value = |us: f64| (us / 1e3).max(1e-3).log10();
        let values = || {
            series
                .iter()
                .flat_map(|(_, l, _)| PERCENTILES.iter().map(move |(_, f)| value(f(l))))
        };
        let lo = values().fold(f64::INFINITY, f64::min);
        let hi = values().fold(f64::NEG_INFINITY, f64::max);
        let base = if lo.is_finite() { lo.floor() } else { -3.0 };
        let ceil = if hi.is_finite() {
            hi.ceil().max(base + 1.0)
        } else {
            base + 1.0
        };
        let span = ceil - base;
        // Headroom above the tallest bar for the legend.
        let ceil = ceil + span * 0.3;
        let n = PERCENTILES.len() as f64;
        let mut chart = ChartBuilder::on(&top)
            .caption("latency percentiles (ms, log scale)", ("sans-serif", 18))
            .margin(16)
            .x_label_area_size(10)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..n, (base - span * 0.08)..ceil)
            .map_err(e)?;
        let fmt = move |v: &f64| {
            if *v < base - 1e-9 {
                String::new()
            } else {
                let x = 10f64.powf(*v);
                if x >= 10.0 {
                    format!("{x:.0}")
                } else {
                    format!("{x:.3}")
                }
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .disable_x_axis()
            .y_desc("ms")
            .y_label_formatter(&fmt)
            .draw()
            .map_err(e)?;
        for (pi, (name, f)) in PERCENTILES.iter().enumerate() {
            for (si, (_, l, color)) in series.iter().enumerate() {
                let x0 = pi as f64 + 0.1 + si as f64 * 0.4;
                chart
                    .draw_series([Rectangle::new(
                        [(x0, base), (x0 + 0.36, value(f(l)))],
                        color.filled(),
                    )])
                    .map_err(e)?;
            }
            chart
                .draw_series([Text::new(
                    if *name == "p999" { "p99.9" } else { name }.to_string(),
                    (pi as f64 + 0.5, base - span * 0.01),
                    ("sans-serif", 13)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Center, VPos::Top)),
                )])
                .map_err(e)?;
        }
        for (name, _, color) in series {
            chart
                .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
                .map_err(e)?
                .label(name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(e)?;

        // Bottom: the share of each endpoint, with the even share as a line.
        let eps = &report.endpoints;
        let m = eps.len().max(1) as f64;
        let top_share = eps.iter().map(|x| x.share).fold(0.0f64, f64::max);
        let even = 1.0 / m;
        let ymax = (top_share.max(even) * 100.0 * 1.15).max(1e-3);
        let mut chart = ChartBuilder::on(&bottom)
            .caption(
                format!(
                    "share of requests per endpoint (% ; even = {:.2} %, imbalance {:.3})",
                    even * 100.0,
                    report.imbalance
                ),
                ("sans-serif", 18),
            )
            .margin(16)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..m, 0f64..ymax)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_desc(format!("{} endpoints, address order", eps.len()))
            .y_desc("% of requests")
            .draw()
            .map_err(e)?;
        chart
            .draw_series(eps.iter().enumerate().map(|(i, ep)| {
                Rectangle::new(
                    [(i as f64 + 0.1, 0.0), (i as f64 + 0.9, ep.share * 100.0)],
                    BLUE_ISH.filled(),
                )
            }))
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, even * 100.0), (m, even * 100.0)],
                BLACK.mix(0.6).stroke_width(1),
            ))
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}

const BLUE_ISH: RGBColor = RGBColor(65, 105, 225);
const ORANGE_ISH: RGBColor = RGBColor(255, 140, 0);

/// Creates a new run folder `dir/<base>/` (and `dir`): a second run within the same
/// second gets `<base>-2`, `<base>-3`, … rather than overwriting the first. On error,
/// the path that could not be created and why.
pub fn create_run_dir(dir: &Path, base: &str) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    std::fs::create_dir_all(dir).map_err(|e| (dir.to_path_buf(), e))?;
    let mut n = 1;
    loop {
        let d = if n == 1 {
            dir.join(base)
        } else {
            dir.join(format!("{base}-{n}"))
        };
        match std::fs::create_dir(&d) {
            Ok(()) => return Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err((d, e)),
        }
    }
}

/// Writes the run folder `dir/loadgen-<stamp>/` (`latency.csv`, `endpoints.csv`,
/// `summary.md`, `report.json`, `loadgen.svg`) and returns its path. Errors name the
/// path that could not be written.
pub fn save(report: &LoadReport, run: &RunInfo, dir: &Path) -> Result<PathBuf, String> {
    let json =
        serde_json::to_string_pretty(report).map_err(|e| format!("serializing the report: {e}"))?;
    let files = [
        ("latency.csv", latency_csv(report)),
        ("endpoints.csv", endpoints_csv(report)),
        ("summary.md", summary_md(report, run)),
        ("report.json", json),
        ("loadgen.svg", svg(report)?),
    ];
    let run_dir = create_run_dir(dir, &format!("loadgen-{}", run.stamp))
        .map_err(|(d, e)| format!("creating {}: {e}", d.display()))?;
    for (file, text) in files {
        let p = run_dir.join(file);
        std::fs::write(&p, text).map_err(|e| format!("writing {}: {e}", p.display()))?;
    }
    Ok(run_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{EndpointShare, Errors};

    fn report() -> LoadReport {
        let l = LatencySummary {
            count: 4,
            mean_us: 1500.0,
            p50_us: 1000.0,
            p90_us: 2000.0,
            p99_us: 3000.0,
            p999_us: 4000.0,
            max_us: 5000.0,
        };
        LoadReport {
            algorithm: "round-robin".into(),
            mode: "open".into(),
            requests: 4,
            completed: 4,
            duration_s: 0.004,
            throughput_rps: 1000.0,
            latency: l.clone(),
            latency_uncorrected: LatencySummary {
                max_us: 2500.0,
                ..l
            },
            endpoints: vec![
                EndpointShare {
                    endpoint: "10.0.0.1:8080".into(),
                    requests: 3,
                    share: 0.75,
                },
                EndpointShare {
                    endpoint: "10.0.0.2:8080".into(),
                    requests: 1,
                    share: 0.25,
                },
            ],
            imbalance: 1.5,
            cv: 0.5,
            stickiness: 0.0,
            affinity_hits: 0,
            errors: Errors::default(),
            phases: Vec::new(),
        }
    }

    #[test]
    fn csv_rows() {
        let r = report();
        assert_eq!(
            latency_csv(&r),
            "series,count,p50_us,p90_us,p99_us,p999_us,max_us,mean_us\n\
             corrected,4,1000.000,2000.000,3000.000,4000.000,5000.000,1500.000\n\
             uncorrected,4,1000.000,2000.000,3000.000,4000.000,2500.000,1500.000\n"
        );
        assert_eq!(
            endpoints_csv(&r),
            "endpoint,requests,share\n10.0.0.1:8080,3,0.750000\n10.0.0.2:8080,1,0.250000\n"
        );
    }

    #[test]
    fn svg_has_both_panels() {
        let s = svg(&report()).unwrap();
        assert!(s.starts_with("<svg"), "{}", &s[..s.len().min(80)]);
        assert!(s.contains("latency percentiles"));
        assert!(s.contains("share of requests per endpoint"));
        assert!(s.contains("uncorrected (from actual send)"));
    }

    #[test]
    fn two_runs_in_one_second_get_two_folders() {
        let dir = std::env::temp_dir().join(format!("kubesim-lg-save-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let run = RunInfo::collect();
        let a = save(&report(), &run, &dir).unwrap();
        let b = save(&report(), &run, &dir).unwrap();
        assert_ne!(a, b);
        assert!(b.to_string_lossy().ends_with("-2"));
        assert!(a.join("summary.md").is_file() && b.join("summary.md").is_file());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn stamp_and_quoting() {
        assert_eq!(stamp(Timestamp::VIRTUAL_EPOCH), "20240101-000000");
        assert_eq!(
            stamp(Timestamp(1_704_067_200_000 + 3_723_000)),
            "20240101-010203"
        );
        assert_eq!(shell_quote("--rate"), "--rate");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
