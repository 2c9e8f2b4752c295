//! `kubesim run` as a user runs it: exit codes 0/1/2, the per-step report, the failure
//! diff and the errors that name file, step and key.

use std::path::{Path, PathBuf};

mod common;
use common::kubesim;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Runs `kubesim run <args>`: (exit code, stdout).
fn kubesim_run(args: &[&Path], extra: &[&str]) -> (i32, String) {
    let out = kubesim()
        .arg("run")
        .args(args)
        .args(extra)
        .output()
        .expect("run kubesim");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

#[test]
fn a_shared_scenario_exits_0_with_a_line_per_step() {
    let f =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/scenarios/ch06-replicaset.yaml");
    let (code, out) = kubesim_run(&[&f], &[]);
    assert_eq!(code, 0, "{out}");
    let steps = out.lines().filter(|l| l.contains(" ✓ ")).count();
    assert_eq!(steps, 13, "{out}");
    assert!(out.contains("passed: 13 passed, 0 failed"), "{out}");
    // The traffic step reports how many requests each endpoint served.
    assert!(out.contains("served whoami-web-"), "{out}");
}

#[test]
fn a_wrong_expectation_exits_1_with_a_readable_diff() {
    let (code, out) = kubesim_run(&[&fixture("wrong-expectation.yaml")], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("   3 ✗"), "{out}");
    assert!(
        out.contains("expected: pods -n default -l app=web: count 5"),
        "{out}"
    );
    assert!(out.contains("found:    count 3 ["), "{out}");
    // The objects involved, as kubectl shows them.
    assert!(out.contains("NAME"), "{out}");
    assert!(out.contains("Running"), "{out}");
    assert!(out.contains("2 passed, 1 failed, 1 not run"), "{out}");
}

#[test]
fn a_wait_that_times_out_exits_1_with_the_field_found() {
    let (code, out) = kubesim_run(&[&fixture("wrong-wait.yaml")], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("timed out after 30s"), "{out}");
    assert!(
        out.contains("status.phase=\"Pending\" (want \"Running\")"),
        "{out}"
    );
}

#[test]
fn malformed_scenarios_exit_2_naming_file_step_and_key() {
    let cases = [
        ("unknown-key.yaml", "step 2: wait.retries: unknown key"),
        ("unknown-step.yaml", "step 3: restart: unknown key"),
        ("bad-duration.yaml", "step 1: advance: expected a duration"),
        (
            "bad-field-path.yaml",
            "step 2: expect.fields.status.conditions[type=Ready.status: bad field path",
        ),
        ("unknown-target-kind.yaml", "step 1: expect.target: unknown kind"),
        (
            "bad-manifest-file.yaml",
            "step 2: apply: invalid manifest: manifests/not-yaml.yaml: document 0",
        ),
        (
            "bad-manifest.yaml",
            "step 2: apply: invalid manifest: inline: document 0 (Deployment web): spec.template.spec.containers[0].imagePolicy: unknown field",
        ),
    ];
    for (file, want) in cases {
        let (code, out) = kubesim_run(&[&fixture(file)], &[]);
        assert_eq!(code, 2, "{file}: {out}");
        assert!(out.contains(file), "{file} is not named: {out}");
        assert!(out.contains(want), "{file}: want {want:?} in {out}");
    }
}

#[test]
fn the_worst_exit_code_wins_and_json_says_the_same() {
    let (code, out) = kubesim_run(
        &[
            &fixture("wrong-expectation.yaml"),
            &fixture("unknown-key.yaml"),
        ],
        &["--json"],
    );
    assert_eq!(code, 2, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["exit_code"], 2);
    assert_eq!(v["scenarios"][0]["status"], "failed");
    assert_eq!(v["scenarios"][0]["steps"][2]["ok"], false);
    assert_eq!(v["scenarios"][1]["status"], "invalid");
    assert!(v["scenarios"][1]["error"]
        .as_str()
        .unwrap()
        .contains("step 2: wait.retries"));
}

/// Forms the shared scenarios do not use (node list with taints, create, a folder
/// apply, LoadBalancer traffic, served-by, labels by selector, SRV answers,
/// recover-node, a foreground delete, a PVC delete the invariant checker must accept,
/// the step-level namespace key) all pass.
#[test]
fn every_step_form_runs() {
    let (code, out) = kubesim_run(&[&fixture("features.yaml")], &["--quiet"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("passed: 35 passed, 0 failed"), "{out}");
}
