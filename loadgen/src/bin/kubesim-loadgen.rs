//! `kubesim-loadgen`: one traffic run against a synthetic Service (N always-Ready
//! endpoints) through the kubesim router, in virtual time.
//!
//! Stdout carries the report (text, or one JSON object with `--json`); stderr the
//! progress bar and, unless `--no-save`, `saved <folder>` for the run folder
//! `<--out>/loadgen-<UTC yyyymmdd-HHMMSS>/` (`latency.csv`, `endpoints.csv`,
//! `summary.md`, `report.json`, `loadgen.svg`; see [`kubesim_loadgen::output`]).
//! `--flamegraph FILE.svg` profiles the run with pprof and writes the flamegraph there.
//!
//! Exit status: 0 on success; 2 for a usage error (clap's convention, with a message
//! naming the flag) and for an output path that cannot be written (`--out` or
//! `--flamegraph`: the message names the path; both are checked before the run starts);
//! 1 when the run reported errors (requests with no endpoint or routed to a not-ready
//! endpoint) or the profiler failed (e.g. a run too short to take any sample).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kubesim_loadgen::output::{self, RunInfo};
use kubesim_loadgen::{
    parse_duration, run, ClientDist, LoadConfig, Mode, ServiceTime, Stall, Stop, SyntheticService,
};
use kubesim_router::Algorithm;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Simulated traffic through the kubesim router against a synthetic Service, in
/// virtual time. Open loop with --rate (the default, 1000 req/s), closed loop with
/// --clients.
#[derive(Debug, Parser)]
#[command(name = "kubesim-loadgen", version)]
struct Args {
    /// Open loop: requests per virtual second [default: 1000].
    #[arg(long, conflicts_with = "clients")]
    rate: Option<f64>,
    /// Open loop: at most this many requests in flight (latency is still measured
    /// from the intended send time) [default: unlimited].
    #[arg(long, conflicts_with = "clients", value_parser = clap::value_parser!(u32).range(1..))]
    connections: Option<u32>,
    /// Closed loop: this many concurrent clients.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    clients: Option<u32>,
    /// Closed loop: think time between a response and the next request.
    #[arg(long, default_value = "0ms", value_parser = parse_duration, requires = "clients")]
    think: Duration,
    /// Requests to issue [default: 10000 unless --duration is given].
    #[arg(long, conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    requests: Option<u64>,
    /// Virtual time to issue requests for (e.g. 10s).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Endpoints of the synthetic Service.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=65_535))]
    endpoints: u32,
    /// Distinct client IPs.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    client_ips: u32,
    /// Client-IP distribution: uniform or zipf:S.
    #[arg(long, default_value = "uniform", value_parser = parse_dist)]
    clients_dist: ClientDist,
    /// Service time: fixed:D, exp:D or slow-one:D,SLOW.
    #[arg(long, default_value = "exp:1ms", value_parser = parse_service)]
    service_time: ServiceTime,
    /// Requests each endpoint serves at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    concurrency: u32,
    /// Every endpoint stalls: AT,DURATION (e.g. 2s,500ms).
    #[arg(long, value_parser = parse_stall)]
    stall: Option<Stall>,
    /// Balancing algorithm: round-robin, random, iptables, ipvs-rr, ipvs-sh, ipvs-lc,
    /// maglev, p2c-ewma.
    #[arg(long, default_value = "round-robin", value_parser = parse_algorithm)]
    algorithm: Algorithm,
    /// sessionAffinity: ClientIP on the Service.
    #[arg(long)]
    affinity: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// No progress bar on stderr.
    #[arg(long)]
    quiet: bool,
    /// Directory of the run folder (`<DIR>/loadgen-<UTC yyyymmdd-HHMMSS>/`).
    #[arg(long, default_value = "results", value_name = "DIR")]
    out: PathBuf,
    /// Write no run folder.
    #[arg(long)]
    no_save: bool,
    /// Profile the run with pprof and write a flamegraph SVG here.
    #[arg(long, value_name = "FILE.svg")]
    flamegraph: Option<PathBuf>,
}

/// Samples per second of the `--flamegraph` profiler.
const PROFILE_HZ: i32 = 999;

/// Exit status of a usage error or an unwritable output path.
const EXIT_USAGE: u8 = 2;

/// Creates `path`'s parent directories and the file itself (so an unwritable
/// `--flamegraph` fails before the run, not after it).
fn create_file(path: &Path) -> Result<std::fs::File, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    std::fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))
}

/// Writes the profile as a flamegraph SVG to `file` (at `path`).
fn write_flamegraph(
    guard: &pprof::ProfilerGuard<'_>,
    file: std::fs::File,
    path: &Path,
) -> Result<(), String> {
    let report = guard
        .report()
        .build()
        .map_err(|e| format!("building the pprof report: {e}"))?;
    if report.data.is_empty() {
        return Err(format!(
            "--flamegraph {}: the profiler took no sample (the run was too short; issue \
             more --requests)",
            path.display()
        ));
    }
    report
        .flamegraph(std::io::BufWriter::new(file))
        .map_err(|e| format!("writing the flamegraph to {}: {e}", path.display()))
}

fn parse_dist(s: &str) -> Result<ClientDist, String> {
    s.parse()
}
fn parse_service(s: &str) -> Result<ServiceTime, String> {
    s.parse()
}
fn parse_stall(s: &str) -> Result<Stall, String> {
    s.parse()
}
fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
    s.parse()
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mode = match args.clients {
        Some(c) => Mode::Closed {
            clients: c as usize,
            think: args.think,
        },
        None => Mode::Open {
            rate: args.rate.unwrap_or(1_000.0),
            connections: args.connections.map(|c| c as usize),
        },
    };
    let stop = match (args.requests, args.duration) {
        (_, Some(d)) => Stop::Duration(d),
        (Some(n), None) => Stop::Requests(n),
        (None, None) => Stop::Requests(10_000),
    };
    let cfg = LoadConfig {
        mode,
        stop,
        client_ips: args.client_ips,
        client_dist: args.clients_dist,
        service_time: args.service_time,
        stall: args.stall,
        concurrency: args.concurrency as usize,
        seed: args.seed,
    };
    if let Err(e) = cfg.validate() {
        Args::command().error(ErrorKind::ValueValidation, e).exit();
    }
    let run_info = RunInfo::collect();
    if !args.no_save {
        if let Err(e) = std::fs::create_dir_all(&args.out) {
            eprintln!(
                "error: --out {}: cannot create the directory: {e}",
                args.out.display()
            );
            return ExitCode::from(EXIT_USAGE);
        }
    }
    let flame_file = match &args.flamegraph {
        Some(path) => match create_file(path) {
            Ok(f) => Some((f, path.as_path())),
            Err(e) => {
                eprintln!("error: --flamegraph {}: {e}", path.display());
                return ExitCode::from(EXIT_USAGE);
            }
        },
        None => None,
    };
    let mut env = match SyntheticService::new(args.endpoints as usize, args.affinity, args.seed) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("error: building the synthetic service: {e}");
            return ExitCode::FAILURE;
        }
    };
    let total = match (stop, mode) {
        (Stop::Requests(n), _) => Some(n),
        (Stop::Duration(d), Mode::Open { rate, .. }) => Some((d.as_secs_f64() * rate) as u64),
        _ => None,
    };
    let pb = if args.quiet {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} requests",
        ) {
            pb.set_style(style);
        }
        pb
    };
    let balancer = args.algorithm.build();
    let guard = match &flame_file {
        Some(_) => match pprof::ProfilerGuardBuilder::default()
            .frequency(PROFILE_HZ)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
        {
            Ok(g) => Some(g),
            Err(e) => {
                eprintln!("error: starting the pprof profiler: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let result = run(&mut env, balancer.as_ref(), &cfg, &mut |n| {
        pb.set_position(n)
    });
    pb.finish_and_clear();
    if let (Some(guard), Some((file, path))) = (guard, flame_file) {
        if let Err(e) = write_flamegraph(&guard, file, path) {
            // Leave no empty or truncated SVG behind.
            let _ = std::fs::remove_file(path);
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        eprintln!("flamegraph {}", path.display());
    }
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = if args.json {
        match serde_json::to_string(&report) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: serializing the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        report.text()
    };
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{}", out.trim_end()).is_err() {
        return ExitCode::FAILURE;
    }
    drop(stdout);
    if !args.no_save {
        match output::save(&report, &run_info, &args.out) {
            Ok(dir) => eprintln!("saved {}", dir.display()),
            Err(e) => {
                eprintln!("error: --out {}: {e}", args.out.display());
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    if report.errors.total() > 0 {
        eprintln!(
            "error: {} request(s) failed ({} with no endpoint, {} routed to a not-ready endpoint)",
            report.errors.total(),
            report.errors.no_endpoint,
            report.errors.not_ready
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
