//! Client-IP distributions: which client sends each request.
//!
//! A run has `n` client IPs (`10.128.0.0 + i`); each request draws one index from a
//! [`ClientDist`]: uniform, or Zipf(s) where client `k` (1-based rank) is drawn with
//! probability `k^-s / H(n, s)` — a few hot clients, a long tail, which is what makes
//! source-hashing and affinity uneven.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use rand::rngs::SmallRng;
use rand::Rng;

/// The first client IP (`10.128.0.0`); client `i` is this plus `i`.
pub const CLIENT_BASE: Ipv4Addr = Ipv4Addr::new(10, 128, 0, 0);

/// How client IPs are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClientDist {
    /// Every client equally likely.
    Uniform,
    /// Zipf with exponent `s` (> 0) over the clients' ranks.
    Zipf(f64),
}

impl FromStr for ClientDist {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "uniform" {
            return Ok(ClientDist::Uniform);
        }
        if let Some(exp) = s.strip_prefix("zipf:") {
            return match exp.parse::<f64>() {
                Ok(e) if e.is_finite() && e > 0.0 && e <= 10.0 => Ok(ClientDist::Zipf(e)),
                _ => Err(format!(
                    "invalid Zipf exponent {exp:?}: expected a number in (0, 10], e.g. zipf:1.1"
                )),
            };
        }
        if s == "zipf" {
            return Ok(ClientDist::Zipf(1.0));
        }
        Err(format!(
            "unknown client distribution {s:?}: expected uniform or zipf:S (e.g. zipf:1.1)"
        ))
    }
}

impl fmt::Display for ClientDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientDist::Uniform => f.write_str("uniform"),
            ClientDist::Zipf(s) => write!(f, "zipf:{s}"),
        }
    }
}

/// A sampler of client indexes `0..n` for one distribution.
#[derive(Clone, Debug)]
pub struct ClientSampler {
    n: u32,
    /// Zipf: the cumulative probabilities of ranks 1..=n (last = 1.0); empty = uniform.
    cdf: Vec<f64>,
}

impl ClientSampler {
    /// A sampler over `n` clients (at least 1).
    pub fn new(dist: ClientDist, n: u32) -> ClientSampler {
        let n = n.max(1);
        let cdf = match dist {
            ClientDist::Uniform => Vec::new(),
            ClientDist::Zipf(s) => {
                let weights: Vec<f64> = (1..=n).map(|k| f64::from(k).powf(-s)).collect();
                let total: f64 = weights.iter().sum();
                let mut acc = 0.0;
                let mut cdf: Vec<f64> = weights
                    .iter()
                    .map(|w| {
                        acc += w / total;
                        acc
                    })
                    .collect();
                if let Some(last) = cdf.last_mut() {
                    *last = 1.0;
                }
                cdf
            }
        };
        ClientSampler { n, cdf }
    }

    /// Number of clients.
    pub fn len(&self) -> u32 {
        self.n
    }

    /// Always false (a sampler has at least one client).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The probability of client `i` (rank `i + 1`).
    pub fn probability(&self, i: u32) -> f64 {
        if i >= self.n {
            return 0.0;
        }
        if self.cdf.is_empty() {
            return 1.0 / f64::from(self.n);
        }
        let i = i as usize;
        self.cdf[i] - if i == 0 { 0.0 } else { self.cdf[i - 1] }
    }

    /// Draws a client index.
    #[inline]
    pub fn sample(&self, rng: &mut SmallRng) -> u32 {
        if self.cdf.is_empty() {
            return rng.random_range(0..self.n);
        }
        let u: f64 = rng.random();
        let i = self.cdf.partition_point(|&c| c <= u);
        (i as u32).min(self.n - 1)
    }

    /// The IP of client `i`.
    #[inline]
    pub fn ip(i: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(CLIENT_BASE).wrapping_add(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parses_and_rejects() {
        assert_eq!("uniform".parse(), Ok(ClientDist::Uniform));
        assert_eq!("zipf:1.1".parse(), Ok(ClientDist::Zipf(1.1)));
        assert!("zipf:0".parse::<ClientDist>().is_err());
        assert!("zipf:x".parse::<ClientDist>().is_err());
        assert!("pareto".parse::<ClientDist>().is_err());
    }

    #[test]
    fn zipf_frequencies_follow_rank_power_law() {
        let s = ClientSampler::new(ClientDist::Zipf(1.0), 100);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = vec![0u32; 100];
        let draws = 200_000;
        for _ in 0..draws {
            counts[s.sample(&mut rng) as usize] += 1;
        }
        // H(100, 1) = 5.187…: rank 1 gets 19.3 %, rank 2 half of it, rank 10 a tenth.
        let p1 = f64::from(counts[0]) / f64::from(draws);
        assert!((p1 - 1.0 / 5.187_377_517_639_621).abs() < 0.005, "{p1}");
        let r2 = f64::from(counts[0]) / f64::from(counts[1]);
        let r10 = f64::from(counts[0]) / f64::from(counts[9]);
        assert!((r2 - 2.0).abs() < 0.1, "{r2}");
        assert!((r10 - 10.0).abs() < 0.8, "{r10}");
        // Monotone over the head, and the sampler's own probabilities agree.
        assert!(counts[..5].windows(2).all(|w| w[0] > w[1]), "{counts:?}");
        assert!((s.probability(0) - p1).abs() < 0.005);
        let total: f64 = (0..100).map(|i| s.probability(i)).sum();
        assert!((total - 1.0).abs() < 1e-9);
    }

    #[test]
    fn uniform_is_flat() {
        let s = ClientSampler::new(ClientDist::Uniform, 10);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[s.sample(&mut rng) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{counts:?}"
        );
    }
}
