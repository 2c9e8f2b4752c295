//! The scenario runner: `kubesim run FILE.yaml …` (SCENARIOS.md is the contract).
//!
//! - [`parse`]: strict parsing of scenario files; every error names the file, the step
//!   (1-based) and the key.
//! - [`runner`]: executes the steps on a [`kubesim_core::cluster::Cluster`] in virtual
//!   time, with the invariant checker after every step.
//! - [`condition`]: `expect`/`wait` conditions on the objects' Kubernetes JSON form.
//! - [`traffic`]: `traffic` steps through [`kubesim_router::Router`].
//! - [`output`]: the per-step report, the summary and `--json`.
//!
//! ```no_run
//! use kubesim_bench::scenario::{run_file, output};
//! let report = run_file(std::path::Path::new("scenarios/batch.yaml"));
//! print!("{}", output::render_text(&report, false));
//! std::process::exit(report.status.exit_code().into());
//! ```

pub mod condition;
pub mod output;
pub mod parse;
pub mod runner;
pub mod traffic;

use std::path::Path;

use output::{ScenarioReport, Status};

/// Parses and runs one scenario file; a parse error is an [`Status::Invalid`] report
/// whose error names the file, step and key.
pub fn run_file(path: &Path) -> ScenarioReport {
    let started = std::time::Instant::now();
    match parse::parse_file(path) {
        Ok(s) => runner::run(&s),
        Err(e) => ScenarioReport {
            file: path.display().to_string(),
            name: String::new(),
            status: Status::Invalid,
            error: Some(e.to_string()),
            steps: Vec::new(),
            not_run: 0,
            virtual_ms: 0,
            wall_ms: started.elapsed().as_secs_f64() * 1000.0,
        },
    }
}
