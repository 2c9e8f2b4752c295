//! The run's report: one line per step (number, ✓/✗, virtual time, the step as
//! written), details under a step (traffic counts, DNS answers, tables; for a failed
//! step the expectation, what was found and the objects involved), a summary per
//! scenario, and the same as JSON (`--json`).

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// One step's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    /// 1-based.
    pub number: usize,
    /// The step as written.
    pub step: String,
    /// Whether it passed.
    pub ok: bool,
    /// Virtual time since the start of the scenario when the step ended, in ms.
    pub time_ms: u64,
    /// What was expected (failed steps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What was found (failed steps), one entry per line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub found: Vec<String>,
    /// Informational lines (traffic counts, DNS answers, messages).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub info: Vec<String>,
    /// kubectl-style tables (a `get`, or the objects involved in a failure).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
}

/// How a scenario ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every step passed.
    Passed,
    /// A step failed (exit 1).
    Failed,
    /// The scenario or a manifest is invalid (exit 2).
    Invalid,
}

impl Status {
    /// The process exit code of this status.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Passed => 0,
            Status::Failed => 1,
            Status::Invalid => 2,
        }
    }
}

/// One scenario's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioReport {
    /// The file.
    pub file: String,
    /// `name` (empty when the file did not parse).
    pub name: String,
    /// The outcome.
    pub status: Status,
    /// Why the scenario is invalid (parse errors, a rejected manifest, a bad cluster).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The steps that ran.
    pub steps: Vec<StepReport>,
    /// Steps not run after a failure.
    pub not_run: usize,
    /// Virtual time at the end, ms since the start.
    pub virtual_ms: u64,
    /// Wall time, ms.
    pub wall_ms: f64,
}

impl ScenarioReport {
    /// Steps that passed.
    pub fn passed(&self) -> usize {
        self.steps.iter().filter(|s| s.ok).count()
    }

    /// Steps that failed.
    pub fn failed(&self) -> usize {
        self.steps.iter().filter(|s| !s.ok).count()
    }
}

/// A virtual duration as scenarios write them: `0s`, `500ms`, `45s`, `2m5s`, `1h2m3s`.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    let (h, m, s, rest) = (
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000,
    );
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if m > 0 {
        let _ = write!(out, "{m}m");
    }
    if rest > 0 && h == 0 && m == 0 && s == 0 {
        let _ = write!(out, "{rest}ms");
    } else if rest > 0 {
        let _ = write!(out, "{s}.{rest:03}s");
    } else if s > 0 {
        let _ = write!(out, "{s}s");
    }
    out
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}\n"))
        .collect::<String>()
}

/// The human-readable report of one scenario (`quiet`: only failed steps and the
/// summary).
pub fn render_text(r: &ScenarioReport, quiet: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {}{}",
        if r.name.is_empty() { "?" } else { &r.name },
        format_args!(" ({})", r.file)
    );
    for s in &r.steps {
        if quiet && s.ok {
            continue;
        }
        let mark = if s.ok { "✓" } else { "✗" };
        let _ = writeln!(
            out,
            "{:>4} {mark} {:>9}  {}",
            s.number,
            fmt_duration(Duration::from_millis(s.time_ms)),
            s.step
        );
        if let Some(e) = &s.expected {
            let _ = writeln!(out, "         expected: {e}");
        }
        for (i, f) in s.found.iter().enumerate() {
            let label = if i == 0 { "found:   " } else { "         " };
            let _ = writeln!(out, "         {label} {f}");
        }
        if !(quiet && s.ok) {
            for l in &s.info {
                let _ = writeln!(out, "         {l}");
            }
            for t in &s.tables {
                out.push_str(&indent(t, "         "));
            }
        }
    }
    if let Some(e) = &r.error {
        let _ = writeln!(out, "error: {e}");
    }
    let verdict = match r.status {
        Status::Passed => "passed",
        Status::Failed => "FAILED",
        Status::Invalid => "INVALID",
    };
    let _ = writeln!(
        out,
        "{verdict}: {} passed, {} failed, {} not run; virtual time {}, wall {:.3}s",
        r.passed(),
        r.failed(),
        r.not_run,
        fmt_duration(Duration::from_millis(r.virtual_ms)),
        r.wall_ms / 1000.0
    );
    out
}

/// The JSON report of several scenarios.
pub fn render_json(reports: &[ScenarioReport]) -> String {
    #[derive(Serialize)]
    struct All<'a> {
        scenarios: &'a [ScenarioReport],
        passed: usize,
        failed: usize,
        invalid: usize,
        exit_code: u8,
    }
    let count = |st: Status| reports.iter().filter(|r| r.status == st).count();
    let all = All {
        scenarios: reports,
        passed: count(Status::Passed),
        failed: count(Status::Failed),
        invalid: count(Status::Invalid),
        exit_code: exit_code(reports),
    };
    serde_json::to_string_pretty(&all).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The exit code of a run of several scenarios: the worst one's.
pub fn exit_code(reports: &[ScenarioReport]) -> u8 {
    reports
        .iter()
        .map(|r| r.status.exit_code())
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let f = |ms| fmt_duration(Duration::from_millis(ms));
        assert_eq!(f(0), "0s");
        assert_eq!(f(500), "500ms");
        assert_eq!(f(45_000), "45s");
        assert_eq!(f(125_000), "2m5s");
        assert_eq!(f(3_723_000), "1h2m3s");
        assert_eq!(f(61_500), "1m1.500s");
        assert_eq!(f(120_000), "2m");
    }
}
