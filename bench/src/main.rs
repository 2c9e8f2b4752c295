//! The `kubesim` command-line tool.
//!
//! `kubesim bench store` compares kubesim's store with kube-runtime's reflector store;
//! later subcommands (`kubesim shard`, `kubesim route`, `kubesim run`) are further
//! variants of [`Command`].
//!
//! Exit status: 0 on success, 2 for a usage error (clap's convention), 1 for any other
//! error or when a benchmark's correctness check failed (the output is still printed
//! and saved first).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};
use kubesim_bench::controller_bench::report::DEFAULT_KUBE_CONCURRENCY_PER_WORKER;
use kubesim_bench::controller_bench::{bench_controller, ControllerOptions};
use kubesim_bench::pipeline_bench::{self, PipelineOptions};
use kubesim_bench::route_bench::{bench_route, RouteConfig, RouteOptions};
use kubesim_bench::shard_bench::{bench_shard, ShardOptions, Sizes, Workload};
use kubesim_bench::store_bench::impls::ImplId;
use kubesim_bench::store_bench::memory::{measure_in_process, MemoryProbe};
use kubesim_bench::{bench_store, StoreOptions, UsageError};
use kubesim_core::dispatch::Strategy;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// kubesim: a high-performance simulator of the Kubernetes control plane.
#[derive(Debug, Parser)]
#[command(name = "kubesim", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Benchmarks, compared with the field's own implementations.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Sharding strategies compared on the real controller runtime (ReplicaSet
    /// controller): reconciles/s, time to converge, event-to-reconcile latency, load
    /// imbalance, idle %, keys moved on reshard.
    Shard(ShardArgs),
    /// Balancing algorithms compared under simulated traffic (kubesim-loadgen) through
    /// the router on a simulated cluster: algorithms × {uniform, zipf} clients ×
    /// {steady, rollout}; throughput, latency percentiles, imbalance, stickiness,
    /// errors, and latency during a rolling update.
    Route(RouteArgs),
    /// Runs scenario files (SCENARIOS.md): a simulated cluster, real manifests, steps
    /// with expectations, in virtual time. Exit 0: every expectation held; 1: a step
    /// failed; 2: a scenario or a manifest is invalid.
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RouteArgs {
    /// Smaller sizes: 4 pods, 2,000 req/s, 1 s steady.
    #[arg(long)]
    quick: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// No progress bar on stderr.
    #[arg(long)]
    quiet: bool,
    /// Directory for the run folder (route-yyyymmdd-HHMMSS/, in UTC).
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Do not write a run folder.
    #[arg(long)]
    no_save: bool,
    /// Seed of the traffic and the clusters.
    #[arg(long)]
    seed: Option<u64>,
    /// Profile the whole run with pprof and write a flamegraph SVG to FILE.
    #[arg(long, value_name = "FILE.svg")]
    flamegraph: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Scenario files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Print only failed steps and the summaries.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The object store vs kube-runtime's reflector store: upsert, get, label-selective
    /// lists, a two-thread mixed workload, and memory per pod.
    Store(StoreArgs),
    /// The whole control plane converging the `uniform` cold start (ReplicaSets x pods,
    /// one Service each) in virtual time vs writing the same objects straight into a
    /// store.
    Pipeline(PipelineArgs),
    /// Measures one store's memory per pod in this process and prints one JSON line
    /// (run by `bench store` in a child process per store).
    #[command(hide = true)]
    StoreMemory(StoreMemoryArgs),
    /// kubesim's controller runtime vs kube-runtime's Controller (fed by synthetic
    /// watch streams): the same ReplicaSet reconcile on the same cold start;
    /// reconciles/s, p99 event-to-reconcile latency, and the ratio.
    Controller(ControllerArgs),
}

#[derive(Debug, Args)]
struct ControllerArgs {
    /// ReplicaSets in the cold start [default: 10000, or 1000 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    replicasets: Option<u32>,
    /// Pods per ReplicaSet.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pods: u32,
    /// kubesim worker threads, and the tokio worker threads of kube-runtime's side.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=32))]
    workers: u16,
    /// kubesim's sharding strategy.
    #[arg(long, default_value = "hash", value_parser = parse_strategy)]
    strategy: Strategy,
    /// kube-runtime's controller::Config::concurrency; 0 = unbounded (kube's default)
    /// [default: 4 × --workers, as kube.rs's scaling guide advises: a multiple of the CPUs].
    #[arg(long)]
    kube_concurrency: Option<u16>,
    /// How many times a kubesim watch pump that has caught up yields its CPU before it
    /// parks (RuntimeConfig::pump_spins; 0 parks at once).
    #[arg(long, default_value_t = kubesim_core::runtime::DEFAULT_PUMP_SPINS)]
    pump_spins: usize,
    /// Recorded pairs of runs, after one warm-up of each side [default: 5, or 3 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    runs: Option<u32>,
    /// Do not also run kubesim's own ReplicaSetController (the extra row).
    #[arg(long)]
    no_real: bool,
    /// Smaller sizes: 1,000 ReplicaSets, 3 pairs.
    #[arg(long)]
    quick: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// No progress bar on stderr.
    #[arg(long)]
    quiet: bool,
    /// Directory for the run folder (controller-yyyymmdd-HHMMSS/, in UTC).
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Do not write a run folder.
    #[arg(long)]
    no_save: bool,
    /// Profile the whole run with pprof and write a flamegraph SVG to FILE.
    #[arg(long, value_name = "FILE.svg")]
    flamegraph: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct StoreArgs {
    /// Pods in the timing workloads [default: 100000, or 10000 with --quick].
    #[arg(long)]
    pods: Option<usize>,
    /// Apps (Deployments) the pods belong to; pods per app must be even.
    #[arg(long, default_value_t = 1_000)]
    apps: usize,
    /// Pods in kubesim's memory figure [default: 1000000, or 100000 with --quick].
    #[arg(long)]
    memory_pods: Option<usize>,
    /// Smaller sizes and shorter runs, for a smoke test.
    #[arg(long)]
    quick: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// No progress output on stderr.
    #[arg(long)]
    quiet: bool,
    /// Directory for the run folder (store-yyyymmdd-HHMMSS/, in UTC).
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Do not write a run folder.
    #[arg(long)]
    no_save: bool,
    /// One timed run per workload and tiny operation counts (for tests of the CLI).
    #[arg(long, hide = true)]
    smoke: bool,
}

#[derive(Debug, Args)]
struct PipelineArgs {
    /// ReplicaSets, each with one Service (default 10,000; 1,000 with --quick).
    #[arg(long = "replicasets")]
    replica_sets: Option<usize>,
    /// Pods per ReplicaSet.
    #[arg(long, default_value_t = 10)]
    pods_per_rs: usize,
    /// Nodes (default 1,000; 100 with --quick).
    #[arg(long)]
    nodes: Option<usize>,
    /// Simulation threads running a round's reconciles.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Smaller default sizes (a smoke run).
    #[arg(long)]
    quick: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Where run folders go.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Write no run folder.
    #[arg(long)]
    no_save: bool,
}

#[derive(Debug, Args)]
struct ShardArgs {
    /// Strategies, comma-separated [default: all: shared,hash,namespace,owner,consistent,steal].
    #[arg(long, value_delimiter = ',', value_parser = parse_strategy)]
    strategies: Vec<Strategy>,
    /// Worker counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4", value_parser = clap::value_parser!(u16).range(1..=32))]
    workers: Vec<u16>,
    /// Workloads, comma-separated [default: all: uniform,zipf,churn,reshard,rollout].
    #[arg(long, value_delimiter = ',', value_parser = parse_workload)]
    workloads: Vec<Workload>,
    /// Smaller sizes: 1,000 ReplicaSets (10,000 pods in uniform), 1 s of churn.
    #[arg(long)]
    quick: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// No progress bar on stderr.
    #[arg(long)]
    quiet: bool,
    /// Directory for the run folder (shard-yyyymmdd-HHMMSS/, in UTC).
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Do not write a run folder.
    #[arg(long)]
    no_save: bool,
    /// ReplicaSets per workload (overrides --quick; churn runs 0.2 s) — for tests.
    #[arg(long, hide = true, value_parser = clap::value_parser!(u32).range(1..))]
    scale: Option<u32>,
    /// Runs per cell, reported as medians [default: 3, or 1 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeat: Option<u32>,
    /// Profile the whole run with pprof and write a flamegraph SVG to FILE.
    #[arg(long, value_name = "FILE.svg")]
    flamegraph: Option<PathBuf>,
}

fn parse_strategy(s: &str) -> Result<Strategy, String> {
    s.parse::<Strategy>().map_err(|e| e.to_string())
}

fn parse_workload(s: &str) -> Result<Workload, String> {
    s.parse::<Workload>()
}

#[derive(Debug, Args)]
struct StoreMemoryArgs {
    /// Which store.
    #[arg(long = "impl", value_enum)]
    which: ImplId,
    /// Pods to load.
    #[arg(long)]
    pods: usize,
    /// Apps they belong to.
    #[arg(long)]
    apps: usize,
    /// kubesim's StoreConfig::watch_window.
    #[arg(long)]
    watch_window: Option<usize>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if let Some(usage) = e.downcast_ref::<UsageError>() {
                usage_error(usage);
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Reports a usage error as clap does (with the usage of `kubesim bench store`, the
/// only command that has them so far) and exits with status 2.
fn usage_error(usage: &UsageError) -> ! {
    let mut root = Cli::command();
    root.build();
    match root
        .find_subcommand_mut("bench")
        .and_then(|b| b.find_subcommand_mut("store"))
    {
        Some(store) => store
            .clone()
            .bin_name("kubesim bench store")
            .error(ErrorKind::ValueValidation, usage)
            .exit(),
        None => Cli::command()
            .error(ErrorKind::ValueValidation, usage)
            .exit(),
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Bench(BenchCommand::Store(args)) => bench_store_cmd(args),
        Command::Bench(BenchCommand::StoreMemory(args)) => {
            let sample = measure_in_process(args.which, args.pods, args.apps, args.watch_window)?;
            println!("{}", serde_json::to_string(&sample)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Shard(args) => shard_cmd(args),
        Command::Bench(BenchCommand::Controller(args)) => controller_cmd(args),
        Command::Bench(BenchCommand::Pipeline(args)) => pipeline_cmd(args),
        Command::Route(args) => route_cmd(args),
        Command::Run(args) => run_cmd(args),
    }
}

fn route_cmd(args: RouteArgs) -> Result<ExitCode> {
    let mut config = if args.quick {
        RouteConfig::quick()
    } else {
        RouteConfig::full()
    };
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    let opts = RouteOptions {
        config,
        quick: args.quick,
        json: args.json,
        quiet: args.quiet,
        out: args.out,
        no_save: args.no_save,
        flamegraph: args.flamegraph,
    };
    let outcome = bench_route(&opts)?;
    print_outcome(&outcome.stdout, outcome.saved.as_deref(), opts.json)?;
    if let Some(f) = &opts.flamegraph {
        eprintln!("flamegraph {}", f.display());
    }
    if outcome.ok() {
        Ok(ExitCode::SUCCESS)
    } else {
        let failed = outcome.report.rows.iter().filter(|r| !r.ok()).count();
        eprintln!("error: {failed} cell(s) had errors or an incomplete rollout (see the report)");
        Ok(ExitCode::FAILURE)
    }
}

fn run_cmd(args: RunArgs) -> Result<ExitCode> {
    use kubesim_bench::scenario::{output, run_file};
    let mut reports = Vec::new();
    let mut out = std::io::stdout().lock();
    for f in &args.files {
        let report = run_file(f);
        if !args.json {
            write!(out, "{}", output::render_text(&report, args.quiet))?;
            if args.files.len() > 1 {
                writeln!(out)?;
            }
            out.flush()?;
        }
        reports.push(report);
    }
    if args.json {
        writeln!(out, "{}", output::render_json(&reports))?;
    } else if reports.len() > 1 {
        let count = |st: output::Status| reports.iter().filter(|r| r.status == st).count();
        let wall: f64 = reports.iter().map(|r| r.wall_ms).sum();
        writeln!(
            out,
            "{} scenarios: {} passed, {} failed, {} invalid; wall {:.3}s",
            reports.len(),
            count(output::Status::Passed),
            count(output::Status::Failed),
            count(output::Status::Invalid),
            wall / 1000.0
        )?;
    }
    Ok(ExitCode::from(output::exit_code(&reports)))
}

/// The mimalloc option `bench controller` sets: `-1` turns off the purging of freed
/// memory, so that no run pays for returning an earlier run's memory to the OS and
/// faulting it back in. mimalloc reads its options from the environment when the
/// process starts, so the command re-executes itself with the variable set (unless the
/// caller set it).
const ALLOCATOR_ENV: (&str, &str) = ("MIMALLOC_PURGE_DELAY", "-1");

/// Runs this same command line again in a child process with `var=value` in its
/// environment; its exit status becomes ours.
fn rerun_with_env((var, value): (&str, &str)) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the kubesim executable")?;
    let status = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(var, value)
        .status()
        .context("re-running with the allocator setting")?;
    Ok(match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => {
            eprintln!("error: the benchmark process was killed ({status})");
            ExitCode::FAILURE
        }
    })
}

fn controller_cmd(args: ControllerArgs) -> Result<ExitCode> {
    if std::env::var_os(ALLOCATOR_ENV.0).is_none() {
        return rerun_with_env(ALLOCATOR_ENV);
    }
    let base = if args.quick {
        ControllerOptions::quick()
    } else {
        ControllerOptions::default()
    };
    let opts = ControllerOptions {
        replica_sets: args.replicasets.map_or(base.replica_sets, |n| n as usize),
        pods: args.pods as usize,
        workers: usize::from(args.workers),
        strategy: args.strategy,
        kube_concurrency: args.kube_concurrency.unwrap_or(
            args.workers
                .saturating_mul(DEFAULT_KUBE_CONCURRENCY_PER_WORKER),
        ),
        pump_spins: args.pump_spins,
        runs: args.runs.map_or(base.runs, |n| n as usize),
        real_controller: !args.no_real,
        quick: args.quick,
        json: args.json,
        quiet: args.quiet,
        out: args.out,
        no_save: args.no_save,
        flamegraph: args.flamegraph,
    };
    let outcome = bench_controller(&opts)?;
    print_outcome(&outcome.stdout, outcome.saved.as_deref(), opts.json)?;
    if outcome.ok() {
        Ok(ExitCode::SUCCESS)
    } else {
        let failed = outcome.report.rows.iter().filter(|r| !r.ok).count();
        eprintln!("error: {failed} side(s) did not converge or failed the check (see the report)");
        Ok(ExitCode::FAILURE)
    }
}

fn pipeline_cmd(args: PipelineArgs) -> Result<ExitCode> {
    let defaults = if args.quick {
        pipeline_bench::quick_defaults()
    } else {
        PipelineOptions::default()
    };
    let opts = PipelineOptions {
        replica_sets: args.replica_sets.unwrap_or(defaults.replica_sets),
        pods_per_rs: args.pods_per_rs,
        nodes: args.nodes.unwrap_or(defaults.nodes),
        threads: args.threads,
        quick: args.quick,
        json: args.json,
        quiet: args.quiet,
        out: args.out,
        no_save: args.no_save,
    };
    if let Err(usage) = opts.validate() {
        let mut root = Cli::command();
        root.build();
        if let Some(cmd) = root
            .find_subcommand_mut("bench")
            .and_then(|b| b.find_subcommand_mut("pipeline"))
        {
            cmd.clone()
                .bin_name("kubesim bench pipeline")
                .error(ErrorKind::ValueValidation, usage)
                .exit();
        }
        usage_error(&usage);
    }
    let outcome = pipeline_bench::bench_pipeline(&opts)?;
    print_outcome(&outcome.stdout, outcome.saved.as_deref(), opts.json)?;
    match &outcome.report.failure {
        None => Ok(ExitCode::SUCCESS),
        Some(f) => {
            eprintln!("error: the pipeline check failed: {f}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn shard_cmd(args: ShardArgs) -> Result<ExitCode> {
    let defaults = ShardOptions::default();
    let sizes = match (args.scale, args.quick) {
        (Some(n), _) => Sizes::new(n as usize, 0.2),
        (None, true) => Sizes::quick(),
        (None, false) => Sizes::full(),
    };
    let mut workers: Vec<usize> = args.workers.iter().map(|&w| usize::from(w)).collect();
    workers.dedup();
    let opts = ShardOptions {
        strategies: if args.strategies.is_empty() {
            defaults.strategies
        } else {
            args.strategies
        },
        workers,
        workloads: if args.workloads.is_empty() {
            defaults.workloads
        } else {
            args.workloads
        },
        sizes,
        quick: args.quick,
        json: args.json,
        quiet: args.quiet,
        out: args.out,
        no_save: args.no_save,
        repeat: args.repeat.map_or(
            if args.quick || args.scale.is_some() {
                1
            } else {
                3
            },
            |n| n as usize,
        ),
        flamegraph: args.flamegraph,
    };
    let outcome = bench_shard(&opts)?;
    print_outcome(&outcome.stdout, outcome.saved.as_deref(), opts.json)?;
    if let Some(f) = &opts.flamegraph {
        eprintln!("flamegraph {}", f.display());
    }
    if outcome.ok() {
        Ok(ExitCode::SUCCESS)
    } else {
        let failed = outcome
            .report
            .rows
            .iter()
            .filter(|r| r.converged == Some(false))
            .count();
        eprintln!("error: {failed} cell(s) did not converge (see the report)");
        Ok(ExitCode::FAILURE)
    }
}

fn bench_store_cmd(args: StoreArgs) -> Result<ExitCode> {
    let defaults = StoreOptions::default();
    let opts = StoreOptions {
        pods: args
            .pods
            .unwrap_or(if args.quick { 10_000 } else { defaults.pods }),
        apps: args.apps,
        memory_pods: args.memory_pods.unwrap_or(if args.quick {
            100_000
        } else {
            defaults.memory_pods
        }),
        quick: args.quick,
        json: args.json,
        quiet: args.quiet,
        out: args.out,
        no_save: args.no_save,
        smoke: args.smoke,
    };
    let outcome = bench_store(&opts, MemoryProbe::current_exe()?)?;
    print_outcome(&outcome.stdout, outcome.saved.as_deref(), opts.json)?;
    if outcome.ok() {
        Ok(ExitCode::SUCCESS)
    } else {
        let failed = outcome.report.checks.iter().filter(|c| !c.ok).count();
        eprintln!("error: {failed} correctness check(s) failed (see the report)");
        Ok(ExitCode::FAILURE)
    }
}

/// Prints a benchmark's stdout (the table or the JSON line) and where its run folder
/// went: after the table on stdout, or on stderr when stdout is one JSON object.
fn print_outcome(out: &str, saved: Option<&std::path::Path>, json: bool) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", out.trim_end()).context("writing to stdout")?;
    if let Some(dir) = saved {
        if json {
            eprintln!("saved {}", dir.display());
        } else {
            writeln!(stdout, "\nsaved {}", dir.display()).context("writing to stdout")?;
        }
    }
    Ok(())
}
