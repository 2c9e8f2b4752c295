//! `kubesim bench pipeline` end to end at a tiny size: JSON output, the run folder,
//! and exit statuses.

mod common;
use common::{assert_files, entries, kubesim, named_like, one_json_line, stdout_of, temp_dir};

const TINY: [&str; 8] = [
    "bench",
    "pipeline",
    "--replicasets",
    "12",
    "--pods-per-rs",
    "3",
    "--nodes",
    "3",
];

#[test]
fn tiny_run_converges_and_prints_json() {
    let stdout =
        stdout_of(
            kubesim()
                .args(TINY)
                .args(["--threads", "2", "--json", "--quiet", "--no-save"]),
        );
    let v = one_json_line(&stdout);
    assert_eq!(v["failure"], serde_json::Value::Null);
    assert_eq!(v["pods"], 36);
    assert_eq!(v["endpoints"], 12);
    assert_eq!(v["endpoint_slices"], 12);
    assert_eq!(v["objects_written"], 60);
    assert_eq!(v["raw_objects"], 60);
    assert!(v["pipeline_ms"].as_f64().unwrap() > 0.0);
    assert!(v["raw_store_ms"].as_f64().unwrap() > 0.0);
    assert!(v["ratio"].as_f64().unwrap() > 0.0);
    let names: Vec<&str> = v["controllers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for c in ["default-scheduler", "kubelet", "replicaset-controller"] {
        assert!(names.contains(&c), "{names:?}");
    }
}

#[test]
fn table_and_run_folder() {
    let dir = temp_dir("kubesim-pipeline-cli");
    let stdout = stdout_of(
        kubesim()
            .args(TINY)
            .args(["--threads", "1", "--quiet", "--out"])
            .arg(&dir),
    );
    for needle in [
        "ratio pipeline / raw",
        "objects written by controllers",
        "converged",
        "saved",
    ] {
        assert!(stdout.contains(needle), "{needle} missing from:\n{stdout}");
    }
    let run = entries(&dir)
        .into_iter()
        .find(|p| named_like(p, "pipeline-"))
        .expect("a pipeline-<stamp> folder");
    assert_files(
        &run,
        &[
            "pipeline.csv",
            "curve.csv",
            "summary.md",
            "pipeline.svg",
            "report.json",
        ],
    );
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    for needle in ["command: `", "rustc", "commit", "--replicasets 12"] {
        assert!(summary.contains(needle), "{needle} missing from summary");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_sizes_are_usage_errors() {
    let out = kubesim()
        .args([
            "bench",
            "pipeline",
            "--replicasets",
            "100",
            "--nodes",
            "1",
            "--quiet",
            "--no-save",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("do not fit"));
}
