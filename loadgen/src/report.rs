//! What a run measured: [`LoadReport`] (serializable; `--json` prints it) and the
//! summaries it is made of.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency a histogram tracks (1 hour, in ns); longer ones are clamped.
pub const MAX_LATENCY_NS: u64 = 3_600_000_000_000;

/// A latency histogram in nanoseconds, 3 significant digits (HdrHistogram).
pub fn latency_histogram() -> Histogram<u64> {
    // The bounds are constants that HdrHistogram accepts (1 ≤ low, high ≥ 2·low,
    // sigfig ≤ 5), so this cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).unwrap_or_else(|_| unreachable!())
}

/// Percentiles of one latency histogram, in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Recorded latencies.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Maximum.
    pub max_us: f64,
}

impl LatencySummary {
    /// The summary of `h` (all zero when it is empty).
    pub fn of(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let us = |ns: u64| ns as f64 / 1_000.0;
        LatencySummary {
            count: h.len(),
            mean_us: h.mean() / 1_000.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// Requests that did not reach a Ready endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Errors {
    /// The router had no endpoint (or no service) for the destination.
    pub no_endpoint: u64,
    /// Routed to an endpoint that was not Ready (or being deleted) at that instant —
    /// must be 0.
    pub not_ready: u64,
}

impl Errors {
    /// Both counts together.
    pub fn total(&self) -> u64 {
        self.no_endpoint + self.not_ready
    }
}

/// One endpoint's share of the requests.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EndpointShare {
    /// `ip:port`.
    pub endpoint: String,
    /// Requests routed to it.
    pub requests: u64,
    /// Its fraction of all routed requests.
    pub share: f64,
}

/// Figures of one phase of the run (see [`crate::env::Environment::phase`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PhaseReport {
    /// The phase's name.
    pub name: String,
    /// Requests issued during it (by intended send time).
    pub requests: u64,
    /// Latency (from the intended send time) of its completed requests.
    pub latency: LatencySummary,
    /// Its errors.
    pub errors: Errors,
}

/// Everything one run measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoadReport {
    /// The balancer's name.
    pub algorithm: String,
    /// `open` or `closed`.
    pub mode: String,
    /// Requests issued.
    pub requests: u64,
    /// Requests that completed (issued minus errors without a response).
    pub completed: u64,
    /// Virtual time from the first intended send to the last completion, seconds.
    pub duration_s: f64,
    /// Completed requests per virtual second.
    pub throughput_rps: f64,
    /// Latency from the *intended* send time (coordinated omission corrected).
    pub latency: LatencySummary,
    /// Latency from the actual send time (what a closed-loop tool would report; equal
    /// to `latency` unless the open loop ran out of connections).
    pub latency_uncorrected: LatencySummary,
    /// Per-endpoint shares, in address order (endpoints of the final table that got
    /// nothing are listed with 0).
    pub endpoints: Vec<EndpointShare>,
    /// Max ÷ mean of the per-endpoint request counts (1 = perfectly even).
    pub imbalance: f64,
    /// Coefficient of variation (σ ÷ mean) of the per-endpoint request counts.
    pub cv: f64,
    /// Of the requests whose client had sent before, the fraction that went to the
    /// same endpoint as that client's previous request.
    pub stickiness: f64,
    /// Requests answered from the ClientIP affinity table.
    pub affinity_hits: u64,
    /// Errors.
    pub errors: Errors,
    /// Per-phase figures, in the order the phases first appeared.
    pub phases: Vec<PhaseReport>,
}

impl LoadReport {
    /// The phase named `name`.
    pub fn phase(&self, name: &str) -> Option<&PhaseReport> {
        self.phases.iter().find(|p| p.name == name)
    }

    /// A few human-readable lines (what `kubesim-loadgen` prints without `--json`).
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let l = &self.latency;
        let _ = writeln!(
            s,
            "{} ({} loop): {} requests, {} completed in {:.3} s virtual, {:.0} req/s",
            self.algorithm,
            self.mode,
            self.requests,
            self.completed,
            self.duration_s,
            self.throughput_rps
        );
        let _ = writeln!(
            s,
            "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  (mean {:.3})",
            l.p50_us / 1e3,
            l.p90_us / 1e3,
            l.p99_us / 1e3,
            l.p999_us / 1e3,
            l.max_us / 1e3,
            l.mean_us / 1e3
        );
        if self.latency_uncorrected != self.latency {
            let u = &self.latency_uncorrected;
            let _ = writeln!(
                s,
                "uncorrected (from actual send) ms: p50 {:.3}  p99 {:.3}  max {:.3}",
                u.p50_us / 1e3,
                u.p99_us / 1e3,
                u.max_us / 1e3
            );
        }
        let _ = writeln!(
            s,
            "endpoints {}: imbalance (max/mean) {:.3}, cv {:.3}; stickiness {:.3}, affinity hits {}",
            self.endpoints.len(),
            self.imbalance,
            self.cv,
            self.stickiness,
            self.affinity_hits
        );
        let _ = writeln!(
            s,
            "errors: no endpoint {}, not ready {}",
            self.errors.no_endpoint, self.errors.not_ready
        );
        if self.phases.len() > 1 {
            for p in &self.phases {
                let _ = writeln!(
                    s,
                    "phase {}: {} requests, p99 {:.3} ms, max {:.3} ms, errors {}",
                    p.name,
                    p.requests,
                    p.latency.p99_us / 1e3,
                    p.latency.max_us / 1e3,
                    p.errors.total()
                );
            }
        }
        s
    }
}

/// Max ÷ mean and the coefficient of variation of `counts` (0, 0 when empty or all 0).
pub fn imbalance(counts: &[u64]) -> (f64, f64) {
    if counts.is_empty() {
        return (0.0, 0.0);
    }
    let n = counts.len() as f64;
    let mean = counts.iter().sum::<u64>() as f64 / n;
    if mean == 0.0 {
        return (0.0, 0.0);
    }
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    let var = counts
        .iter()
        .map(|&c| (c as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    (max / mean, var.sqrt() / mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_histogram() {
        let mut h = latency_histogram();
        for us in 1..=10_000u64 {
            h.record(us * 1_000).unwrap();
        }
        let s = LatencySummary::of(&h);
        assert_eq!(s.count, 10_000);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 1e-9;
        assert!(close(s.p50_us, 5_000.0), "{s:?}");
        assert!(close(s.p90_us, 9_000.0), "{s:?}");
        assert!(close(s.p99_us, 9_900.0), "{s:?}");
        assert!(close(s.p999_us, 9_990.0), "{s:?}");
        assert!(close(s.max_us, 10_000.0), "{s:?}");
        assert!(close(s.mean_us, 5_000.5), "{s:?}");
        assert_eq!(
            LatencySummary::of(&latency_histogram()),
            LatencySummary::default()
        );
    }

    #[test]
    fn imbalance_and_cv() {
        assert_eq!(imbalance(&[5, 5, 5, 5]), (1.0, 0.0));
        let (im, cv) = imbalance(&[0, 0, 0, 8]);
        assert_eq!(im, 4.0);
        assert!((cv - 3f64.sqrt()).abs() < 1e-12);
        assert_eq!(imbalance(&[]), (0.0, 0.0));
    }
}
