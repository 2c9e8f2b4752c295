//! Timing: a warm-up run, then runs until a minimum time (or a run cap), reported as the
//! median run's nanoseconds per operation.

use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

/// How long to measure one (workload, impl) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Keep running until the recorded runs add up to at least this much…
    pub min_time: Duration,
    /// …and at least this many runs were recorded…
    pub min_runs: usize,
    /// …but never more than this many.
    pub max_runs: usize,
    /// Calibrated workloads (gets, lists) size a run to take about this long.
    pub target_run: Duration,
}

impl Limits {
    /// About a second per pair: the CLI's default.
    pub const FULL: Limits = Limits {
        min_time: Duration::from_secs(1),
        min_runs: 3,
        max_runs: 200,
        target_run: Duration::from_millis(50),
    };

    /// About a fifth of a second per pair (`--quick`).
    pub const QUICK: Limits = Limits {
        min_time: Duration::from_millis(200),
        min_runs: 3,
        max_runs: 50,
        target_run: Duration::from_millis(20),
    };

    /// One recorded run per pair (tests).
    pub const ONCE: Limits = Limits {
        min_time: Duration::ZERO,
        min_runs: 1,
        max_runs: 1,
        target_run: Duration::from_micros(200),
    };
}

/// The result of measuring one (workload, impl) pair.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Measurement {
    /// Operations per run.
    pub ops_per_run: u64,
    /// Runs recorded (after the warm-up).
    pub runs: usize,
    /// Median over the runs of nanoseconds per operation.
    pub ns_per_op: f64,
    /// `1e9 / ns_per_op`.
    pub ops_per_sec: f64,
}

/// Runs `run` once to warm up, then until `limits` are met; `run` performs
/// `ops_per_run` operations and returns the time its timed region took (setup and
/// teardown it does outside that region are not counted).
pub fn measure(
    limits: &Limits,
    ops_per_run: u64,
    mut run: impl FnMut() -> Result<Duration>,
) -> Result<Measurement> {
    let ops_per_run = ops_per_run.max(1);
    run()?; // warm-up
    let mut samples: Vec<f64> = Vec::new();
    let mut total = Duration::ZERO;
    while samples.len() < limits.max_runs.max(1)
        && (samples.len() < limits.min_runs || total < limits.min_time)
    {
        let d = run()?;
        total += d;
        samples.push(d.as_nanos() as f64 / ops_per_run as f64);
    }
    let ns_per_op = median(&mut samples).max(f64::MIN_POSITIVE);
    Ok(Measurement {
        ops_per_run,
        runs: samples.len(),
        ns_per_op,
        ops_per_sec: 1e9 / ns_per_op,
    })
}

/// How many operations a run should have so that it lasts about `limits.target_run`,
/// given the time of one operation (measured after a warm-up of one).
pub fn calibrate(limits: &Limits, mut one: impl FnMut() -> Result<Duration>) -> Result<u64> {
    one()?;
    let t = one()?.max(Duration::from_nanos(20));
    let n = limits.target_run.as_nanos() / t.as_nanos();
    Ok(n.clamp(1, 1_000_000) as u64)
}

/// The median (mean of the middle two for an even count); 0 for no samples.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn measure_respects_run_limits_and_reports_the_median() {
        let mut calls = 0;
        let durations = [999, 10, 30, 20, 40, 50];
        let limits = Limits {
            min_time: Duration::from_secs(3600),
            min_runs: 1,
            max_runs: 5,
            target_run: Duration::ZERO,
        };
        let m = measure(&limits, 10, || {
            calls += 1;
            Ok(Duration::from_nanos(durations[calls - 1]))
        })
        .unwrap();
        assert_eq!(calls, 6); // warm-up + max_runs
        assert_eq!(m.runs, 5);
        assert_eq!(m.ns_per_op, 3.0); // median of 10,30,20,40,50 = 30 ns over 10 ops
        assert!((m.ops_per_sec - 1e9 / 3.0).abs() < 1e-3);
    }
}
