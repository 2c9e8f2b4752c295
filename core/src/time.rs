//! Timestamps in simulated (or real) time.
//!
//! A [`Timestamp`] is milliseconds since the Unix epoch. Virtual-time runs start at
//! [`Timestamp::VIRTUAL_EPOCH`] so that rendered objects show plausible dates.
//! Rendering follows Kubernetes: RFC 3339 in UTC with second precision
//! (`2024-01-01T00:00:00Z`).

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

/// Milliseconds since the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Where virtual clocks start: 2024-01-01T00:00:00Z.
    pub const VIRTUAL_EPOCH: Timestamp = Timestamp(1_704_067_200_000);

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (rounded down).
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This time plus `d`.
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }

    /// Time elapsed from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// The RFC 3339 form Kubernetes uses, e.g. `2024-01-01T00:00:00Z`.
    pub fn rfc3339(self) -> String {
        let secs = self.unix_seconds();
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }

    /// (year, month 1-12, day 1-31, hour, minute, weekday 0=Sunday) in UTC — what a
    /// cron schedule matches against.
    pub fn calendar(self) -> Calendar {
        let secs = self.unix_seconds();
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Calendar {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: ((rem % 3600) / 60) as u32,
            // 1970-01-01 was a Thursday (4).
            weekday: (days + 4).rem_euclid(7) as u32,
        }
    }
}

/// A UTC calendar reading of a [`Timestamp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calendar {
    /// Year, e.g. 2024.
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of month, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Day of week, 0 = Sunday … 6 = Saturday.
    pub weekday: u32,
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

/// Parses a duration as scenarios write it: `500ms`, `30s`, `5m`, `1h`, or a
/// combination such as `1m30s`. A bare number is an error (the unit is required).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total_ms: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(format!(
                "invalid duration {text:?}: expected a number, e.g. 30s or 500ms"
            ));
        }
        let n: u128 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(format!(
                    "invalid duration {text:?}: missing unit (ms, s, m, h)"
                ))
            }
            other => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {other:?} (ms, s, m, h)"
                ))
            }
        };
        total_ms = total_ms.saturating_add(n.saturating_mul(ms));
    }
    Ok(Duration::from_millis(total_ms.min(u64::MAX as u128) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp::VIRTUAL_EPOCH.rfc3339(), "2024-01-01T00:00:00Z");
        assert_eq!(
            Timestamp(951_782_400_000 + 86_399_000).rfc3339(),
            "2000-02-29T23:59:59Z"
        );
    }

    #[test]
    fn calendar_weekday() {
        // 2024-01-01 was a Monday.
        let c = Timestamp::VIRTUAL_EPOCH.calendar();
        assert_eq!((c.year, c.month, c.day, c.weekday), (2024, 1, 1, 1));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("3x").is_err());
        assert!(parse_duration("").is_err());
    }
}

/// A source of the current time: real, or virtual (moved by the simulation).
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// A clock that reads the system time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_millis() as i64)
    }
}

/// A virtual clock: time moves only when [`ManualClock::set`] or
/// [`ManualClock::advance`] is called.
///
/// **Concurrency:** one atomic; readers never block.
#[derive(Debug)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// A clock reading `t`.
    pub fn new(t: Timestamp) -> Self {
        ManualClock(std::sync::atomic::AtomicI64::new(t.0))
    }

    /// Sets the time (it may not go backwards: an earlier time is ignored).
    pub fn set(&self, t: Timestamp) {
        self.0.fetch_max(t.0, std::sync::atomic::Ordering::AcqRel);
    }

    /// Moves the time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let ms = d.as_millis().min(i64::MAX as u128) as i64;
        self.0.fetch_add(ms, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new(Timestamp::VIRTUAL_EPOCH)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(std::sync::atomic::Ordering::Acquire))
    }
}
