//! Simulated backends: one FIFO server per endpoint with a service-time model, in
//! virtual time (nanoseconds since the start of the run).
//!
//! An endpoint has `concurrency` identical servers (1 by default: an M/G/1 queue). A
//! request that arrives at `t` starts at `max(t, earliest free server)`, takes one
//! service time drawn from the [`ServiceTime`] model, and completes at start + service;
//! requests to one endpoint are served in arrival order. A [`Stall`] pauses every
//! server: a request that would start during the stall starts when it ends (a GC pause,
//! a stuck disk), which is what the coordinated-omission test provokes.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::Rng;

/// Parses a duration such as `1ms`, `250us`, `1.5s`, `2m` or `100ns` (a unit is required).
///
/// # Errors
///
/// A message naming the text and the accepted units.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let scale = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "invalid duration {text:?}: expected a number and a unit (ns, us, ms, s, m, h), e.g. 1ms"
            ))
        }
    };
    let value: f64 = num.parse().map_err(|_| {
        format!("invalid duration {text:?}: expected a number and a unit, e.g. 1ms")
    })?;
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=86_400.0 * 365.0).contains(&secs) {
        return Err(format!("invalid duration {text:?}: out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Formats a duration the way [`parse_duration`] reads it (`1ms`, `250us`, `2s`).
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        "0s".into()
    } else if ns % 1_000_000_000 == 0 {
        format!("{}s", ns / 1_000_000_000)
    } else if ns % 1_000_000 == 0 {
        format!("{}ms", ns / 1_000_000)
    } else if ns % 1_000 == 0 {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

/// A service-time model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceTime {
    /// Every request takes exactly this long.
    Fixed(Duration),
    /// Exponentially distributed with this mean.
    Exp(Duration),
    /// Every request takes `normal`, except on the one slow endpoint, where it takes
    /// `slow` (which endpoint is slow: see [`crate::sim`]).
    SlowOne {
        /// Service time of the other endpoints.
        normal: Duration,
        /// Service time of the slow endpoint.
        slow: Duration,
    },
}

impl ServiceTime {
    /// The mean service time of a normal endpoint.
    pub fn mean(&self) -> Duration {
        match *self {
            ServiceTime::Fixed(d) | ServiceTime::Exp(d) => d,
            ServiceTime::SlowOne { normal, .. } => normal,
        }
    }

    /// Draws one service time in nanoseconds for an endpoint (`slow`: the slow one).
    #[inline]
    pub fn sample_ns(&self, slow: bool, rng: &mut SmallRng) -> u64 {
        match *self {
            ServiceTime::Fixed(d) => d.as_nanos() as u64,
            ServiceTime::Exp(mean) => {
                // Inverse CDF; 1 - u is in (0, 1], so ln is finite.
                let u: f64 = rng.random();
                (-(1.0 - u).ln() * mean.as_nanos() as f64).round() as u64
            }
            ServiceTime::SlowOne { normal, slow: s } => {
                if slow {
                    s.as_nanos() as u64
                } else {
                    normal.as_nanos() as u64
                }
            }
        }
    }
}

impl FromStr for ServiceTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let usage = "expected fixed:D, exp:D or slow-one:D,SLOW (e.g. fixed:1ms, exp:1ms, slow-one:1ms,50ms)";
        let (kind, arg) = s
            .split_once(':')
            .ok_or_else(|| format!("invalid service time {s:?}: {usage}"))?;
        let dur = |t: &str| parse_duration(t).map_err(|e| format!("service time {s:?}: {e}"));
        match kind {
            "fixed" => Ok(ServiceTime::Fixed(dur(arg)?)),
            "exp" => Ok(ServiceTime::Exp(dur(arg)?)),
            "slow-one" => {
                let (n, sl) = arg
                    .split_once(',')
                    .ok_or_else(|| format!("invalid service time {s:?}: {usage}"))?;
                Ok(ServiceTime::SlowOne {
                    normal: dur(n)?,
                    slow: dur(sl)?,
                })
            }
            _ => Err(format!("invalid service time {s:?}: {usage}")),
        }
    }
}

impl fmt::Display for ServiceTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ServiceTime::Fixed(d) => write!(f, "fixed:{}", format_duration(d)),
            ServiceTime::Exp(d) => write!(f, "exp:{}", format_duration(d)),
            ServiceTime::SlowOne { normal, slow } => write!(
                f,
                "slow-one:{},{}",
                format_duration(normal),
                format_duration(slow)
            ),
        }
    }
}

/// Every server pauses from `at` for `duration` (virtual time since the run's start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stall {
    /// When the stall begins.
    pub at: Duration,
    /// How long it lasts.
    pub duration: Duration,
}

impl FromStr for Stall {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, d) = s
            .split_once(',')
            .ok_or_else(|| format!("invalid stall {s:?}: expected AT,DURATION (e.g. 2s,500ms)"))?;
        Ok(Stall {
            at: parse_duration(a)?,
            duration: parse_duration(d)?,
        })
    }
}

/// One endpoint's servers.
#[derive(Clone, Debug)]
pub struct Server {
    /// When each server is free next (ns).
    free_at: Vec<u64>,
    /// Whether this is the slow endpoint of [`ServiceTime::SlowOne`].
    pub slow: bool,
}

impl Server {
    /// An idle endpoint with `concurrency` servers (at least 1).
    pub fn new(concurrency: usize, slow: bool) -> Server {
        Server {
            free_at: vec![0; concurrency.max(1)],
            slow,
        }
    }

    /// Queues a request arriving at `arrival_ns` that needs `service_ns`; returns its
    /// completion time.
    #[inline]
    pub fn admit(&mut self, arrival_ns: u64, service_ns: u64, stall: Option<(u64, u64)>) -> u64 {
        let (i, free) = self
            .free_at
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(_, t)| t)
            .unwrap_or((0, 0));
        let mut start = arrival_ns.max(free);
        if let Some((from, until)) = stall {
            if (from..until).contains(&start) {
                start = until;
            }
        }
        let done = start.saturating_add(service_ns);
        if let Some(slot) = self.free_at.get_mut(i) {
            *slot = done;
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn durations_and_models_parse() {
        assert_eq!(parse_duration("1ms"), Ok(Duration::from_millis(1)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("ms").is_err());
        assert_eq!(
            "slow-one:1ms,50ms".parse(),
            Ok(ServiceTime::SlowOne {
                normal: Duration::from_millis(1),
                slow: Duration::from_millis(50)
            })
        );
        for s in ["fixed:1ms", "exp:250us", "slow-one:1ms,50ms"] {
            assert_eq!(s.parse::<ServiceTime>().unwrap().to_string(), s);
        }
        assert!("gauss:1ms".parse::<ServiceTime>().is_err());
        assert!("fixed".parse::<ServiceTime>().is_err());
    }

    #[test]
    fn fifo_queue_and_stall() {
        let mut s = Server::new(1, false);
        assert_eq!(s.admit(0, 10, None), 10);
        assert_eq!(s.admit(5, 10, None), 20, "waits for the first");
        assert_eq!(
            s.admit(100, 10, Some((95, 200))),
            210,
            "starts after the stall"
        );
        let mut two = Server::new(2, false);
        assert_eq!(two.admit(0, 10, None), 10);
        assert_eq!(two.admit(0, 10, None), 10, "a second server");
        assert_eq!(two.admit(0, 10, None), 20);
    }

    #[test]
    fn exponential_mean() {
        let mut rng = SmallRng::seed_from_u64(3);
        let m = ServiceTime::Exp(Duration::from_millis(1));
        let n = 100_000;
        let sum: u64 = (0..n).map(|_| m.sample_ns(false, &mut rng)).sum();
        let mean = sum as f64 / n as f64;
        assert!((mean - 1e6).abs() < 2e4, "{mean}");
    }
}
