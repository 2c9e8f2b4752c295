//! `kubesim bench controller`: kubesim's controller runtime side by side with
//! kube-runtime's `Controller`, in one process, on one workload, with one reconcile.
//!
//! Both sides run [`logic::reconcile`] — list the ReplicaSet's pods, diff against
//! `spec.replicas` under expectations, create or delete pods, write
//! `status.replicas` — written once against [`logic::ReplicaSetApi`], which each side
//! implements over its own store. What differs is the machinery around it:
//!
//! - **kubesim** ([`kubesim_side`]): the [`Store`](kubesim_core::store::Store) is the
//!   API and the cache at once; the real-time [`Runtime`](kubesim_core::runtime::Runtime)
//!   with its pump threads (watch → `map_event` → dispatcher), `workers` worker threads
//!   under a sharding strategy, writes recorded by the reconcile and applied by the
//!   runtime.
//! - **kube-runtime** ([`kube_side`]): `Controller::for_stream(…).owns_stream(…)` over
//!   reflector stores fed by synthetic watch streams (channels) that a bench-local
//!   "API" writes to; reconciles as tokio tasks on a `workers`-thread runtime.
//!
//! The workload is a cold start: `replica_sets` ReplicaSets wanting `pods` pods each
//! exist before the machinery starts (kubesim: in the store; kube-runtime: as the
//! watcher's initial list), and the run ends when every ReplicaSet has its pods and
//! `status.replicas` says so (polled every millisecond). Runs are interleaved
//! ([`measure_interleaved`]): a warm-up run of each side, then `runs` pairs
//! alternating which side goes first; each figure is the median over the runs with its
//! quartiles, and each ratio the median over the pairs (see [`report`]). Optionally a
//! third run per pair, not in any ratio, gives kubesim's own
//! [`ReplicaSetController`](kubesim_core::controllers::replicaset::ReplicaSetController)
//! on the same workload.
//!
//! Every run is checked (every ReplicaSet has exactly its pods, controlled by it, and
//! the matching status); a failed check or a run that did not converge makes the CLI
//! exit 1.

pub mod kube_side;
pub mod kubesim_side;
pub mod logic;
pub mod report;

pub use report::{bench_controller, ControllerOptions, ControllerOutcome, ControllerReport};

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::ProgressBar;
use kubesim_core::runtime::Strategy;
use serde::Serialize;

use crate::store_bench::measure::{measure_interleaved, Interleaved, Limits};

/// The sides, in report order.
pub const SIDES: [&str; 3] = ["kubesim", "kube-runtime", "kubesim-rs-controller"];

/// What to run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ControllerConfig {
    /// ReplicaSets.
    pub replica_sets: usize,
    /// Pods per ReplicaSet.
    pub pods: usize,
    /// kubesim worker threads, and kube-runtime's tokio worker threads.
    pub workers: usize,
    /// kubesim's sharding strategy.
    #[serde(serialize_with = "ser_strategy")]
    pub strategy: Strategy,
    /// kube-runtime's `controller::Config::concurrency` (0 = unbounded, its default).
    pub kube_concurrency: u16,
    /// kubesim's `RuntimeConfig::pump_spins`.
    pub pump_spins: usize,
    /// Recorded pairs (after one warm-up run of each side).
    pub runs: usize,
    /// Also run kubesim's own ReplicaSetController (third run per pair).
    pub real_controller: bool,
    /// A run that has not converged after this long is reported as failed.
    pub timeout_secs: u64,
    /// Seed of kubesim's store.
    pub seed: u64,
}

fn ser_strategy<S: serde::Serializer>(s: &Strategy, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.name())
}

impl ControllerConfig {
    /// Desired pods per ReplicaSet.
    pub fn replicas(&self) -> Vec<usize> {
        vec![self.pods; self.replica_sets]
    }

    /// Pods at convergence.
    pub fn total_pods(&self) -> usize {
        self.replica_sets * self.pods
    }
}

/// Whether one run converged correctly.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Check {
    /// ReplicaSets expected.
    pub replica_sets: usize,
    /// Pods in the store at the end.
    pub pods_seen: usize,
    /// ReplicaSets with the wrong pod count or status (or a missing one).
    pub failures: usize,
    /// The first few failures.
    pub examples: Vec<String>,
    /// No failure.
    pub ok: bool,
}

impl Check {
    /// An empty check of `replica_sets` ReplicaSets and `pods_seen` pods.
    pub fn new(replica_sets: usize, pods_seen: usize) -> Self {
        Check {
            replica_sets,
            pods_seen,
            ..Check::default()
        }
    }

    /// One ReplicaSet: `want` = spec.replicas, `have` its active pods, `status` its
    /// status.replicas.
    pub fn record(&mut self, name: &str, want: i32, have: usize, status: i32) {
        if have as i64 != i64::from(want) || status != want {
            self.failures += 1;
            if self.examples.len() < 5 {
                self.examples.push(format!(
                    "{name}: spec.replicas {want}, {have} pods, status.replicas {status}"
                ));
            }
        }
    }

    /// Closes the check after `seen` ReplicaSets were recorded.
    pub fn finish(&mut self, seen: usize) {
        if seen != self.replica_sets {
            self.failures += 1;
            self.examples.push(format!(
                "{seen} ReplicaSets in the store, {} expected",
                self.replica_sets
            ));
        }
        self.ok = self.failures == 0;
    }
}

/// One cold start of one side.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunSample {
    /// Time from start to convergence, ms (`None`: did not converge in time).
    pub wall_ms: Option<f64>,
    /// Reconciles run until the machinery stopped.
    pub reconciles: u64,
    /// Reconciles ÷ wall time.
    pub reconciles_per_sec: f64,
    /// CPU time the whole process used in the timed region (every thread: the side's
    /// own, and the bench thread's polling), ms, from [`process_cpu_time`] (ns
    /// resolution where the kernel keeps schedstat, else 10 ms); `None` where `/proc`
    /// is unavailable.
    pub cpu_ms: Option<f64>,
    /// Event-to-reconcile-start latency, 50th percentile, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Pods created (shared reconcile only).
    pub creates: u64,
    /// Pods deleted (shared reconcile only).
    pub deletes: u64,
    /// Status writes (shared reconcile only).
    pub status_writes: u64,
    /// Reconcile errors or panics, or kube-runtime applier errors.
    pub errors: u64,
    /// The convergence check.
    pub check: Check,
}

impl RunSample {
    /// A sample from the timed region `start..end` (`end` = convergence).
    pub fn new(start: Instant, end: Option<Instant>, reconciles: u64) -> Self {
        let wall = end.map(|e| e.duration_since(start).as_secs_f64());
        RunSample {
            wall_ms: wall.map(|w| w * 1e3),
            reconciles,
            reconciles_per_sec: wall.map_or(0.0, |w| reconciles as f64 / w.max(1e-9)),
            ..RunSample::default()
        }
    }

    /// Converged in time and the check held.
    pub fn ok(&self) -> bool {
        self.wall_ms.is_some() && self.check.ok
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// Per-thread CPU nanoseconds last seen by [`threads_cpu_time`], and their running
/// total.
static THREADS_SEEN: parking_lot::Mutex<Option<(HashMap<u64, u64>, u64)>> =
    parking_lot::const_mutex(None);

/// The process's CPU time so far (user + system, every thread): to the nanosecond
/// from the scheduler's per-thread figures (`/proc/self/task/*/schedstat`) where the
/// kernel has them, else from `/proc/self/stat` (10 ms ticks); `None` where neither is
/// available.
///
/// With schedstat, the figure is a running total kept by this function: each call
/// adds what every live thread ran since the call before (a thread started since
/// counts in full), so a thread that ends between two readings loses only its time
/// since the last reading (both sides' threads live through their timed region).
pub fn process_cpu_time() -> Option<Duration> {
    threads_cpu_time().or_else(stat_cpu_time)
}

fn threads_cpu_time() -> Option<Duration> {
    let mut now = HashMap::new();
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(entry) = entry else { continue };
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        // A thread may end between the listing and the read: skip it.
        let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        let Some(ns) = text
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
        else {
            continue;
        };
        now.insert(tid, ns);
    }
    if now.is_empty() {
        return None;
    }
    let mut guard = THREADS_SEEN.lock();
    let (seen, total) = guard.get_or_insert_with(Default::default);
    for (tid, ns) in &now {
        *total += ns.saturating_sub(seen.get(tid).copied().unwrap_or(0));
    }
    *seen = now;
    Some(Duration::from_nanos(*total))
}

fn stat_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state);
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_secs_f64((utime + stime) as f64 / USER_HZ))
}

/// CPU milliseconds between two [`process_cpu_time`] readings.
pub fn cpu_ms(before: Option<Duration>, after: Option<Duration>) -> Option<f64> {
    Some(after?.saturating_sub(before?).as_secs_f64() * 1e3)
}

const POLL: Duration = Duration::from_millis(1);

/// Polls `converged` every millisecond until it holds (the time it did) or `deadline`
/// passes (`None`).
pub fn wait_converged(deadline: Instant, mut converged: impl FnMut() -> bool) -> Option<Instant> {
    loop {
        if converged() {
            return Some(Instant::now());
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// Every run of a bench, warm-ups dropped.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ControllerResult {
    /// kubesim runs, pair order.
    pub kubesim: Vec<RunSample>,
    /// kube-runtime runs, pair order.
    pub kube: Vec<RunSample>,
    /// kubesim's own ReplicaSetController, one per pair (empty when not run).
    pub real: Vec<RunSample>,
    /// Which side went first in each pair (`kubesim` or `kube-runtime`).
    pub first: Vec<String>,
    /// Wall time compared: kube-runtime ms ÷ kubesim ms per pair (from
    /// [`measure_interleaved`], ns per pod).
    pub converge: Interleaved,
}

/// Runs the warm-ups and `cfg.runs` interleaved pairs.
pub fn run(cfg: &ControllerConfig, pb: &ProgressBar) -> Result<ControllerResult> {
    let replicas = cfg.replicas();
    let timeout = Duration::from_secs(cfg.timeout_secs);
    let per_pair = if cfg.real_controller { 3 } else { 2 };
    pb.set_length(((cfg.runs + 1) * per_pair) as u64);
    pb.set_position(0);
    let ks: RefCell<Vec<RunSample>> = RefCell::default();
    let kr: RefCell<Vec<RunSample>> = RefCell::default();
    let real: RefCell<Vec<RunSample>> = RefCell::default();
    let order: RefCell<Vec<&str>> = RefCell::default();
    let timed = |s: &RunSample| Duration::from_secs_f64(s.wall_ms.unwrap_or(0.0) / 1e3);
    let limits = Limits {
        min_time: Duration::ZERO,
        min_runs: cfg.runs.max(1),
        max_runs: cfg.runs.max(1),
        target_run: Duration::ZERO,
    };
    let ops = cfg.total_pods() as u64;
    let converge = measure_interleaved(
        &limits,
        ops,
        ops,
        || {
            pb.set_message("kubesim");
            let s = kubesim_side::run(
                kubesim_side::Which::Bench,
                &replicas,
                cfg.strategy,
                cfg.workers,
                cfg.pump_spins,
                cfg.seed,
                timeout,
            )?;
            pb.inc(1);
            order.borrow_mut().push("kubesim");
            let d = timed(&s);
            ks.borrow_mut().push(s);
            if cfg.real_controller {
                pb.set_message("kubesim ReplicaSetController");
                let r = kubesim_side::run(
                    kubesim_side::Which::Real,
                    &replicas,
                    cfg.strategy,
                    cfg.workers,
                    cfg.pump_spins,
                    cfg.seed,
                    timeout,
                )?;
                pb.inc(1);
                real.borrow_mut().push(r);
            }
            Ok(d)
        },
        || {
            pb.set_message("kube-runtime");
            let s = kube_side::run(&replicas, cfg.workers, cfg.kube_concurrency, timeout)?;
            pb.inc(1);
            order.borrow_mut().push("kube-runtime");
            let d = timed(&s);
            kr.borrow_mut().push(s);
            Ok(d)
        },
    )?;
    pb.set_message("done");
    // Drop the warm-ups (the first run of each side).
    let drop_first = |v: RefCell<Vec<RunSample>>| v.into_inner().into_iter().skip(1).collect();
    let order = order.into_inner();
    let first = order.chunks(2).skip(1).map(|c| c[0].to_string()).collect();
    Ok(ControllerResult {
        kubesim: drop_first(ks),
        kube: drop_first(kr),
        real: drop_first(real),
        first,
        converge,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_fails_on_a_wrong_count_status_or_missing_replica_set() {
        let mut c = Check::new(3, 25);
        c.record("a", 10, 10, 10);
        c.finish(1);
        assert!(!c.ok, "two ReplicaSets missing");
        let mut c = Check::new(3, 25);
        c.record("a", 10, 10, 10);
        c.record("b", 10, 9, 10);
        c.record("c", 5, 5, 4);
        c.finish(3);
        assert!(!c.ok);
        assert_eq!(c.failures, 2);
        assert!(c.examples[0].starts_with("b: spec.replicas 10, 9 pods"));
        let mut c = Check::new(2, 20);
        c.record("a", 10, 10, 10);
        c.record("b", 10, 10, 10);
        c.finish(2);
        assert!(c.ok);
    }

    #[test]
    fn a_run_that_timed_out_is_not_ok_even_if_its_check_held() {
        let t = Instant::now();
        let mut s = RunSample::new(t, None, 10);
        s.check = Check {
            ok: true,
            ..Check::default()
        };
        assert!(!s.ok());
        assert_eq!(s.reconciles_per_sec, 0.0);
        let mut s = RunSample::new(t, Some(t + Duration::from_millis(500)), 100);
        assert!(!s.ok(), "check not run");
        s.check.ok = true;
        assert!(s.ok());
        assert!((s.reconciles_per_sec - 200.0).abs() < 1e-9);
        assert_eq!(s.wall_ms, Some(500.0));
    }

    #[test]
    fn process_cpu_time_counts_a_thread_started_after_the_first_reading() {
        let Some(t0) = process_cpu_time() else {
            return; // no /proc here
        };
        let (spun_tx, spun_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let h = std::thread::spawn(move || {
            let start = Instant::now();
            let mut x = 0u64;
            while start.elapsed() < Duration::from_millis(60) {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            spun_tx.send(()).unwrap();
            // Stay alive until the second reading.
            let _ = stop_rx.recv();
        });
        spun_rx.recv().unwrap();
        let t1 = process_cpu_time().unwrap();
        stop_tx.send(()).unwrap();
        h.join().unwrap();
        // The thread ran ~60 ms of CPU (less if the machine is overloaded, but the
        // busy loop runs until 60 ms of wall time passed; expect a good part of it).
        assert!(
            cpu_ms(Some(t0), Some(t1)).unwrap() >= 10.0,
            "{t0:?} → {t1:?}"
        );
        // Monotonic: a later reading never goes back.
        assert!(process_cpu_time().unwrap() >= t1);
    }

    #[test]
    fn process_cpu_time_grows_with_work() {
        let Some(t0) = process_cpu_time() else {
            return; // no /proc here
        };
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let t1 = process_cpu_time().unwrap();
        assert!(t1 > t0, "{t0:?} → {t1:?}");
        assert!(cpu_ms(Some(t0), Some(t1)).unwrap() > 0.0);
        assert_eq!(cpu_ms(None, Some(t1)), None);
    }

    #[test]
    fn wait_converged_times_out() {
        let start = Instant::now();
        assert!(wait_converged(start + Duration::from_millis(5), || false).is_none());
        let mut n = 0;
        assert!(wait_converged(start + Duration::from_secs(60), || {
            n += 1;
            n == 3
        })
        .is_some());
    }
}
