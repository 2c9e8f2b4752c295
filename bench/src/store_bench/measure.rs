//! Timing, two implementations at a time, interleaved.
//!
//! On a small shared VM the speed of the machine drifts over seconds, so two figures
//! taken one after the other are biased by which ran first. [`measure_interleaved`]
//! therefore warms up both sides (A, then B), then records runs in pairs, alternating
//! which side goes first — A B, B A, A B, … — until both sides have met the
//! [`Limits`]. Both sides get the same number of runs, and run *i* of A and run *i* of
//! B form pair *i*, taken back to back under the same machine state.
//!
//! Each side's figure is the median of its runs' nanoseconds per operation, with the
//! 25th and 75th percentiles as its spread ([`Measurement`]). The comparison
//! ([`PairedRatio`]) is B's ns/op ÷ A's ns/op (how many times faster A is): per pair,
//! then the median and quartiles over the pairs; the ratio of the two medians is kept
//! beside it. Percentiles interpolate linearly between closest ranks (numpy's default),
//! so the 50th is the usual median (the mean of the middle two for an even count).

use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

/// How long to measure one workload: each side must meet these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Keep running until each side's recorded runs add up to at least this much…
    pub min_time: Duration,
    /// …and at least this many pairs were recorded…
    pub min_runs: usize,
    /// …but never more than this many pairs.
    pub max_runs: usize,
    /// Calibrated workloads (gets, lists) size a run to take about this long.
    pub target_run: Duration,
}

impl Limits {
    /// At least a second and ten runs per side: the CLI's default.
    pub const FULL: Limits = Limits {
        min_time: Duration::from_secs(1),
        min_runs: 10,
        max_runs: 200,
        target_run: Duration::from_millis(50),
    };

    /// About a fifth of a second per side (`--quick`).
    pub const QUICK: Limits = Limits {
        min_time: Duration::from_millis(200),
        min_runs: 3,
        max_runs: 50,
        target_run: Duration::from_millis(20),
    };

    /// One recorded pair (tests).
    pub const ONCE: Limits = Limits {
        min_time: Duration::ZERO,
        min_runs: 1,
        max_runs: 1,
        target_run: Duration::from_micros(200),
    };
}

/// One side's runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Measurement {
    /// Operations per run.
    pub ops_per_run: u64,
    /// Runs recorded (after the warm-up).
    pub runs: usize,
    /// Median over the runs of nanoseconds per operation.
    pub ns_per_op: f64,
    /// 25th percentile over the runs of nanoseconds per operation.
    pub ns_per_op_p25: f64,
    /// 75th percentile over the runs of nanoseconds per operation.
    pub ns_per_op_p75: f64,
    /// `1e9 / ns_per_op`.
    pub ops_per_sec: f64,
}

impl Measurement {
    /// From each run's nanoseconds per operation.
    pub fn from_samples(ops_per_run: u64, samples: &[f64]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let ns_per_op = percentile(&sorted, 0.5).max(f64::MIN_POSITIVE);
        Measurement {
            ops_per_run,
            runs: samples.len(),
            ns_per_op,
            ns_per_op_p25: percentile(&sorted, 0.25),
            ns_per_op_p75: percentile(&sorted, 0.75),
            ops_per_sec: 1e9 / ns_per_op,
        }
    }
}

/// How many times faster A is than B (B's ns/op ÷ A's ns/op), from paired runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PairedRatio {
    /// Pairs recorded.
    pub pairs: usize,
    /// Median over the pairs of B's ns/op ÷ A's ns/op.
    pub paired_median: f64,
    /// 25th percentile over the pairs.
    pub paired_p25: f64,
    /// 75th percentile over the pairs.
    pub paired_p75: f64,
    /// B's median ns/op ÷ A's median ns/op.
    pub of_medians: f64,
}

/// Both sides of one interleaved measurement.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interleaved {
    /// Side A.
    pub a: Measurement,
    /// Side B.
    pub b: Measurement,
    /// A compared with B.
    pub ratio: PairedRatio,
}

impl Interleaved {
    /// From the pairs' nanoseconds per operation (`a[i]` and `b[i]` are pair `i`).
    pub fn from_pairs(ops_a: u64, ops_b: u64, a: &[f64], b: &[f64]) -> Self {
        let ma = Measurement::from_samples(ops_a, a);
        let mb = Measurement::from_samples(ops_b, b);
        let mut ratios: Vec<f64> = a
            .iter()
            .zip(b)
            .map(|(&na, &nb)| nb / na.max(f64::MIN_POSITIVE))
            .collect();
        ratios.sort_by(f64::total_cmp);
        Interleaved {
            a: ma,
            b: mb,
            ratio: PairedRatio {
                pairs: ratios.len(),
                paired_median: percentile(&ratios, 0.5),
                paired_p25: percentile(&ratios, 0.25),
                paired_p75: percentile(&ratios, 0.75),
                of_medians: mb.ns_per_op / ma.ns_per_op,
            },
        }
    }
}

/// Measures A and B interleaved: one warm-up run of each (A, then B), then pairs of
/// runs, A first in even pairs and B first in odd ones, until both sides' recorded
/// time reaches `limits.min_time` and there are `limits.min_runs` pairs, or there are
/// `limits.max_runs` pairs. `run_a` performs `ops_a` operations and returns the time
/// its timed region took (setup and teardown it does outside that region are not
/// counted); likewise `run_b`.
pub fn measure_interleaved(
    limits: &Limits,
    ops_a: u64,
    ops_b: u64,
    mut run_a: impl FnMut() -> Result<Duration>,
    mut run_b: impl FnMut() -> Result<Duration>,
) -> Result<Interleaved> {
    let (ops_a, ops_b) = (ops_a.max(1), ops_b.max(1));
    run_a()?; // warm-up
    run_b()?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let (mut total_a, mut total_b) = (Duration::ZERO, Duration::ZERO);
    while a.len() < limits.max_runs.max(1)
        && (a.len() < limits.min_runs || total_a < limits.min_time || total_b < limits.min_time)
    {
        let (da, db) = if a.len() % 2 == 0 {
            let da = run_a()?;
            (da, run_b()?)
        } else {
            let db = run_b()?;
            (run_a()?, db)
        };
        total_a += da;
        total_b += db;
        a.push(da.as_nanos() as f64 / ops_a as f64);
        b.push(db.as_nanos() as f64 / ops_b as f64);
    }
    Ok(Interleaved::from_pairs(ops_a, ops_b, &a, &b))
}

/// How many operations a run should have so that it lasts about `limits.target_run`,
/// given the time of one operation (measured after a warm-up of one).
pub fn calibrate(limits: &Limits, mut one: impl FnMut() -> Result<Duration>) -> Result<u64> {
    one()?;
    let t = one()?.max(Duration::from_nanos(20));
    let n = limits.target_run.as_nanos() / t.as_nanos();
    Ok(n.clamp(1, 1_000_000) as u64)
}

/// The `q`-quantile (0 ≤ q ≤ 1) of sorted values, interpolating linearly between
/// closest ranks; 0 for no values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        }
    }
}

/// The median (mean of the middle two for an even count); 0 for no samples. Sorts `v`.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(v, 0.5)
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
    fn percentiles_interpolate_between_ranks() {
        let v = [10.0, 20.0, 30.0, 40.0, 50.0];
        assert_eq!(percentile(&v, 0.0), 10.0);
        assert_eq!(percentile(&v, 0.25), 20.0);
        assert_eq!(percentile(&v, 0.75), 40.0);
        assert_eq!(percentile(&v, 1.0), 50.0);
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.25), 1.75);
        assert_eq!(percentile(&v, 0.75), 3.25);
        assert_eq!(percentile(&[7.0], 0.25), 7.0);
    }

    #[test]
    fn runs_alternate_which_side_goes_first() {
        let order = std::cell::RefCell::new(String::new());
        let limits = Limits {
            min_time: Duration::ZERO,
            min_runs: 4,
            max_runs: 100,
            target_run: Duration::ZERO,
        };
        let m = measure_interleaved(
            &limits,
            1,
            1,
            || {
                order.borrow_mut().push('A');
                Ok(Duration::from_nanos(10))
            },
            || {
                order.borrow_mut().push('B');
                Ok(Duration::from_nanos(10))
            },
        )
        .unwrap();
        // Warm-up A B, then pairs AB, BA, AB, BA.
        assert_eq!(order.into_inner(), "AB".to_string() + "ABBAABBA");
        assert_eq!((m.a.runs, m.b.runs, m.ratio.pairs), (4, 4, 4));
    }

    #[test]
    fn both_sides_must_meet_the_minimum_time() {
        // A's runs take 100 ns, B's 10 ns: B needs 100 pairs to reach 1 µs, so A runs
        // as often as B does (the pairs stay paired).
        let run = |limits: &Limits| {
            measure_interleaved(
                limits,
                1,
                1,
                || Ok(Duration::from_nanos(100)),
                || Ok(Duration::from_nanos(10)),
            )
            .unwrap()
        };
        let limits = Limits {
            min_time: Duration::from_micros(1),
            min_runs: 1,
            max_runs: 1000,
            target_run: Duration::ZERO,
        };
        let m = run(&limits);
        assert_eq!((m.a.runs, m.b.runs), (100, 100));
        let capped = Limits {
            max_runs: 7,
            ..limits
        };
        let m = run(&capped);
        assert_eq!((m.a.runs, m.b.runs), (7, 7));
    }

    #[test]
    fn medians_quartiles_and_paired_ratio() {
        // Warm-ups (999) are not recorded. A: 10,30,20,40,50 ns over 10 ops; B: each
        // pair's A time × 2, except one pair × 8 (a hiccup of B's).
        let a_ns = [999, 10, 30, 20, 40, 50];
        let b_ns = [999, 20, 60, 40, 320, 100];
        let (mut ia, mut ib) = (0, 0);
        let limits = Limits {
            min_time: Duration::from_secs(3600),
            min_runs: 1,
            max_runs: 5,
            target_run: Duration::ZERO,
        };
        let m = measure_interleaved(
            &limits,
            10,
            10,
            || {
                ia += 1;
                Ok(Duration::from_nanos(a_ns[ia - 1]))
            },
            || {
                ib += 1;
                Ok(Duration::from_nanos(b_ns[ib - 1]))
            },
        )
        .unwrap();
        assert_eq!((ia, ib), (6, 6)); // warm-up + max_runs each
        assert_eq!(m.a.runs, 5);
        assert_eq!(m.a.ns_per_op, 3.0); // median of 1,3,2,4,5 ns/op
        assert_eq!(m.a.ns_per_op_p25, 2.0);
        assert_eq!(m.a.ns_per_op_p75, 4.0);
        assert!((m.a.ops_per_sec - 1e9 / 3.0).abs() < 1e-3);
        // B's median of 2,6,4,32,10 ns/op.
        assert_eq!(m.b.ns_per_op, 6.0);
        // Pair ratios 2,2,2,8,2: the paired median ignores B's hiccup.
        assert_eq!(m.ratio.paired_median, 2.0);
        assert_eq!(m.ratio.paired_p25, 2.0);
        assert_eq!(m.ratio.paired_p75, 2.0);
        assert_eq!(m.ratio.of_medians, 2.0);
        assert_eq!(m.ratio.pairs, 5);
    }

    #[test]
    fn paired_ratio_follows_pairs_not_sorted_sides() {
        // A drifts slower run by run and B with it: each pair's ratio is 3 although
        // the sides' spreads overlap.
        let a = [1.0, 2.0, 4.0, 8.0];
        let b = [3.0, 6.0, 12.0, 24.0];
        let m = Interleaved::from_pairs(1, 1, &a, &b);
        assert_eq!(m.ratio.paired_median, 3.0);
        assert_eq!(m.ratio.paired_p25, 3.0);
        assert_eq!(m.ratio.paired_p75, 3.0);
        assert_eq!(m.ratio.of_medians, 9.0 / 3.0);
        assert_eq!(m.a.ns_per_op_p25, 1.75);
        assert_eq!(m.b.ns_per_op_p75, 15.0);
    }
}
