//! `kubesim bench pipeline` end to end at a tiny size: JSON output, the run folder,
//! and exit statuses.

use std::process::Command;

fn kubesim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kubesim"))
}

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
    let out = kubesim()
        .args(TINY)
        .args(["--threads", "2", "--json", "--quiet", "--no-save"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.trim_end().lines().count(), 1, "one JSON line");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
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
    let dir = std::env::temp_dir().join(format!("kubesim-pipeline-cli-{}", std::process::id()));
    let out = kubesim()
        .args(TINY)
        .args(["--threads", "1", "--quiet", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "ratio pipeline / raw",
        "objects written by controllers",
        "converged",
        "saved",
    ] {
        assert!(stdout.contains(needle), "{needle} missing from:\n{stdout}");
    }
    let run = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("pipeline-")
        })
        .expect("a pipeline-<stamp> folder");
    for f in [
        "pipeline.csv",
        "curve.csv",
        "summary.md",
        "pipeline.svg",
        "report.json",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
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
