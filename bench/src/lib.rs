//! kubesim-bench: workloads and benchmark harnesses behind the `kubesim` CLI.
//!
//! - [`workload`]: the pods a store benchmark loads, built for kubesim and for the
//!   kube-rs peer with the same content, and the selectors it lists by.
//! - [`store_bench`]: `kubesim bench store`: kubesim's store vs kube-runtime's reflector
//!   store (upsert, get, two lists, a two-thread mixed workload, memory per pod), one
//!   adapter per store behind [`store_bench::impls::StoreImpl`].
//! - [`controller_bench`]: `kubesim bench controller`: kubesim's controller runtime vs
//!   kube-runtime's `Controller` (synthetic watch streams), one shared ReplicaSet
//!   reconcile, reconciles/s and event-to-reconcile latency.
//! - [`shard_bench`]: `kubesim shard`: sharding strategies on the real runtime.
//! - [`report`]: the table, the JSON object and the run folder (CSV, summary, SVG) of
//!   `bench store`, and what every command's report shares: [`report::plot`] (charts),
//!   [`report::RunOutcome`], [`report::progress_bar`], [`report::Profiler`].
//! - [`pipeline_bench`]: `kubesim bench pipeline`: the whole simulated control plane
//!   converging the `uniform` cold start vs the same objects written straight into a
//!   store ([`pipeline_bench::bench_pipeline`] is the command minus argument parsing).
//! - [`sysinfo`]: toolchain, commit, machine and date of a run.
//! - [`route_bench`]: `kubesim route`: every balancing algorithm × client distribution
//!   × {steady, rollout}, loadgen traffic through the router on a simulated cluster.
//! - [`scenario`]: `kubesim run`: the scenario runner (SCENARIOS.md).
//!
//! [`bench_store`] is the whole `kubesim bench store` command minus argument parsing, so
//! tests run exactly what the CLI runs.
//!
//! # Example
//!
//! ```no_run
//! use kubesim_bench::{bench_store, StoreOptions};
//! use kubesim_bench::store_bench::memory::MemoryProbe;
//!
//! let opts = StoreOptions { quick: true, no_save: true, ..StoreOptions::default() };
//! let outcome = bench_store(&opts, MemoryProbe::current_exe().unwrap()).unwrap();
//! println!("{}", outcome.stdout);
//! ```

pub mod controller_bench;
pub mod kubectl;
pub mod pipeline_bench;
pub mod report;
pub mod route_bench;
pub mod scenario;
pub mod shard_bench;
pub mod store_bench;
pub mod sysinfo;
pub mod workload;

use std::path::PathBuf;

use anyhow::Result;

use crate::report::{RunOutcome, StoreReport};
use crate::store_bench::measure::Limits;
use crate::store_bench::memory::MemoryProbe;
use crate::store_bench::StoreBenchConfig;
use crate::sysinfo::RunInfo;

/// A usage error (bad sizes): the CLI reports it as clap does, with exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Options of `kubesim bench store`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Pods in the timing workloads.
    pub pods: usize,
    /// Apps they belong to.
    pub apps: usize,
    /// Pods in kubesim's main memory figure.
    pub memory_pods: usize,
    /// Smaller sizes and shorter runs (a smoke test); explicit sizes still win.
    pub quick: bool,
    /// Print one JSON object instead of the table.
    pub json: bool,
    /// No progress output.
    pub quiet: bool,
    /// Where run folders go.
    pub out: PathBuf,
    /// Write no run folder.
    pub no_save: bool,
    /// One timed run per (workload, impl) and tiny operation counts (tests only).
    pub smoke: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            pods: 100_000,
            apps: 1_000,
            memory_pods: 1_000_000,
            quick: false,
            json: false,
            quiet: false,
            out: PathBuf::from("results"),
            no_save: false,
            smoke: false,
        }
    }
}

/// What `kubesim bench store` produced.
pub type StoreOutcome = RunOutcome<StoreReport>;

impl StoreOutcome {
    /// Whether every correctness check held (the CLI exits 1 otherwise).
    pub fn ok(&self) -> bool {
        self.report.all_checks_passed()
    }
}

/// Runs `kubesim bench store`: measures, builds the report, renders stdout and (unless
/// `no_save`) writes the run folder. Sizes that do not fit together are a
/// [`UsageError`].
pub fn bench_store(opts: &StoreOptions, probe: MemoryProbe) -> Result<StoreOutcome> {
    let run_info = RunInfo::collect();
    let mut cfg = StoreBenchConfig::new(opts.pods, opts.apps, opts.memory_pods, opts.quick, probe)
        .map_err(UsageError)?;
    if opts.smoke {
        cfg.limits = Limits::ONCE;
        cfg.get_ops = cfg.get_ops.min(1_000);
        cfg.mixed_ops_per_thread = cfg.mixed_ops_per_thread.min(200);
        cfg.memory_watch_window = cfg.memory_watch_window.min(64);
    }
    let pb = report::progress_bar(opts.quiet, None);
    let result = store_bench::run(&cfg, &pb);
    pb.finish_and_clear();
    let report = StoreReport::new(&cfg, result?, run_info);
    RunOutcome::render(report, opts.json, opts.no_save, &opts.out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store_bench::WORKLOADS;

    fn tiny(json: bool) -> StoreOptions {
        StoreOptions {
            pods: 2_000,
            apps: 100,
            memory_pods: 2_000,
            quick: true,
            json,
            quiet: true,
            no_save: true,
            smoke: true,
            ..StoreOptions::default()
        }
    }

    #[test]
    fn json_output_has_every_row_ratio_and_target() {
        let outcome = bench_store(&tiny(true), MemoryProbe::InProcess).unwrap();
        assert!(outcome.ok(), "{:?}", outcome.report.checks);
        assert!(outcome.saved.is_none());
        assert_eq!(
            outcome.stdout.lines().count(),
            1,
            "one JSON object on one line"
        );
        let v: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
        for key in ["rows", "ratios", "memory", "targets", "meta"] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        let rows = v["rows"].as_array().unwrap();
        assert_eq!(rows.len(), WORKLOADS.len() * 2);
        for wl in WORKLOADS {
            for imp in ["kubesim", "kube-rs"] {
                let row = rows
                    .iter()
                    .find(|r| r["workload"] == wl && r["impl"] == imp)
                    .unwrap_or_else(|| panic!("no row for {wl}/{imp}"));
                assert!(row["ops_per_sec"].as_f64().unwrap() > 0.0);
                assert!(row["ns_per_op"].as_f64().unwrap() > 0.0);
            }
            assert!(v["ratios"][wl].as_f64().unwrap() > 0.0, "ratio {wl}");
        }
        // In-process RSS deltas at this size are noise (other tests allocate
        // concurrently), so only the shape is checked here; tests/cli.rs runs the
        // isolated child-process measurements.
        assert!(v["memory"]["kubesim"]["bytes_per_pod"].is_number());
        for t in [
            "list-1pct",
            "get",
            "upsert",
            "mixed-2t",
            "kubesim-bytes-per-pod",
        ] {
            assert!(v["targets"][t]["pass"].is_boolean(), "target {t}");
        }
        assert_eq!(v["memory"]["kubesim"]["pods"], 2_000);
        assert_eq!(v["memory"]["kube-rs"]["pods"], 2_000);
        assert_eq!(v["meta"]["selectors"][0]["expected"], 20); // 1% of 2,000
        assert!(
            v["meta"]["rustc"].as_str().unwrap().starts_with("rustc")
                || v["meta"]["rustc"] == "unknown"
        );
    }

    #[test]
    fn table_csv_summary_and_svg_render() {
        let outcome = bench_store(&tiny(false), MemoryProbe::InProcess).unwrap();
        let r = &outcome.report;
        assert!(outcome.stdout.contains("ratios"));
        assert!(outcome.stdout.contains("list-1pct"));
        let csv = r.rows_csv();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("workload,impl,ops_per_sec,ns_per_op,ns_per_op_p25,ns_per_op_p75,runs,ops_per_run,pods")
        );
        assert_eq!(lines.count(), WORKLOADS.len() * 2);
        assert_eq!(r.memory_csv().lines().count(), 3); // header + kubesim + kube-rs
        let md = r.summary_md();
        for needle in [
            "## Ratios vs targets",
            "## Memory",
            "rustc",
            "commit",
            "state_filter_selector",
            "store.svg",
        ] {
            assert!(md.contains(needle), "summary lacks {needle}");
        }
        let svg = r.svg().unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("list-1pct"));

        let dir = std::env::temp_dir().join(format!("kubesim-bench-test-{}", std::process::id()));
        let saved = r.save(&dir).unwrap();
        for f in [
            "store.csv",
            "memory.csv",
            "summary.md",
            "store.svg",
            "report.json",
        ] {
            assert!(saved.join(f).is_file(), "{f}");
        }
        assert!(saved
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("store-"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn inconsistent_sizes_are_usage_errors() {
        let opts = StoreOptions {
            pods: 1_001,
            ..tiny(true)
        };
        let err = bench_store(&opts, MemoryProbe::InProcess).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some(), "{err:#}");
        let opts = StoreOptions {
            memory_pods: 2_010,
            ..tiny(true)
        };
        assert!(bench_store(&opts, MemoryProbe::InProcess)
            .unwrap_err()
            .downcast_ref::<UsageError>()
            .is_some());
    }
}
