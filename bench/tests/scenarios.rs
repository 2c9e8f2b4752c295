//! Every scenario of `../shared/scenarios` and of the repository's `scenarios/` folder
//! passes (read at test time, so new files are picked up).

use std::path::{Path, PathBuf};

use kubesim_bench::scenario::output::{render_text, Status};
use kubesim_bench::scenario::run_file;

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    files
}

fn run_all(files: &[PathBuf]) {
    let mut failures = Vec::new();
    for f in files {
        let report = run_file(f);
        if report.status != Status::Passed {
            failures.push(render_text(&report, false));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenarios did not pass:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn shared_scenarios_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/scenarios");
    let files = yaml_files(&dir);
    assert!(
        !files.is_empty(),
        "no scenario in {} (the shared folder sits beside the repository)",
        dir.display()
    );
    run_all(&files);
}

#[test]
fn project_scenarios_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    run_all(&yaml_files(&dir));
}

/// The same scenario runs the same way twice (virtual time, fixed seeds).
#[test]
fn runs_are_deterministic() {
    let f =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/scenarios/ch06-replicaset.yaml");
    if !f.exists() {
        return;
    }
    let strip = |r: kubesim_bench::scenario::output::ScenarioReport| {
        r.steps
            .into_iter()
            .map(|s| (s.ok, s.time_ms, s.info, s.tables))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(run_file(&f)), strip(run_file(&f)));
}

/// `scenarios/known-deviations/` holds executable repros of known simulator deviations
/// from K8S-SEMANTICS.md: each must run and fail on an expectation (not be invalid).
/// When one passes, the deviation is fixed: move the file up into `scenarios/`.
#[test]
fn known_deviations_still_fail() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/known-deviations");
    for f in yaml_files(&dir) {
        let report = run_file(&f);
        assert_eq!(
            report.status,
            Status::Failed,
            "{} no longer fails as a known deviation should (fixed? move it to scenarios/):\n{}",
            f.display(),
            render_text(&report, false)
        );
    }
}
