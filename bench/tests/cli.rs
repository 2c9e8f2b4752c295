//! The `kubesim` binary end to end: `bench store` at a tiny size with the memory
//! measurements in child processes, and its exit statuses.

use std::process::Command;

mod common;
use common::{assert_files, entries, kubesim, one_json_line, stdout_of, temp_dir};

const TINY: [&str; 8] = [
    "--pods",
    "2000",
    "--apps",
    "100",
    "--memory-pods",
    "4000",
    "--quiet",
    "--smoke",
];

/// Runs `command` with the [`TINY`] sizes appended, asserts that it succeeded, and
/// returns its stdout.
fn run_tiny(command: &mut Command) -> String {
    stdout_of(command.args(TINY))
}

#[test]
fn bench_store_json_runs_memory_in_child_processes() {
    let stdout = run_tiny(kubesim().args(["bench", "store", "--json", "--no-save"]));
    let v = one_json_line(&stdout);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    for r in rows {
        let (p25, med, p75) = (
            r["ns_per_op_p25"].as_f64().unwrap(),
            r["ns_per_op"].as_f64().unwrap(),
            r["ns_per_op_p75"].as_f64().unwrap(),
        );
        assert!(p25 <= med && med <= p75, "{r}");
        assert!(r["ops_per_sec"].as_f64().unwrap() > 0.0, "{r}");
        // Interleaved: both impls of a workload record the same number of runs.
        let peer = rows
            .iter()
            .find(|o| o["workload"] == r["workload"] && o["impl"] != r["impl"])
            .unwrap();
        assert_eq!(r["runs"], peer["runs"], "{r} vs {peer}");
    }
    for wl in ["upsert", "get", "list-1pct", "list-2label", "mixed-2t"] {
        let range = &v["ratio_ranges"][wl];
        assert_eq!(v["ratios"][wl], range["paired_median"], "{wl}");
        assert_eq!(range["pairs"], 1, "{wl}: --smoke records one pair");
        assert!(range["of_medians"].as_f64().unwrap() > 0.0, "{wl}");
    }
    assert_eq!(
        v["meta"]["method"],
        "interleaved ABAB, paired ratio = median over pairs"
    );
    assert_eq!(v["memory"]["kubesim"]["pods"], 4000);
    assert_eq!(v["memory"]["kubesim"]["isolated"], true);
    assert_eq!(v["memory"]["kube-rs"]["pods"], 4000);
    assert_eq!(v["memory"]["kube-rs"]["isolated"], true);
    assert!(v["meta"]["command"]
        .as_str()
        .unwrap()
        .contains("bench store"));
}

#[test]
fn bench_store_saves_a_run_folder() {
    let dir = temp_dir("kubesim-cli-test");
    let stdout = run_tiny(kubesim().args(["bench", "store", "--out"]).arg(&dir));
    assert!(
        stdout.contains("ratios") && stdout.contains("saved "),
        "{stdout}"
    );
    let runs = entries(&dir);
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_files(run, &["store.csv", "memory.csv", "summary.md", "store.svg"]);
    let csv = std::fs::read_to_string(run.join("store.csv")).unwrap();
    assert!(csv.starts_with("workload,impl,ops_per_sec,ns_per_op,ns_per_op_p25,ns_per_op_p75,"));
    let md = std::fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(
        md.contains("interleaved ABAB, paired ratio = median over pairs"),
        "{md}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_errors_exit_with_status_2() {
    let out = kubesim()
        .args(["bench", "store", "--pods", "1001", "--no-save", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("multiple of --apps"));
    let out = kubesim().args(["bench", "no-such-bench"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = kubesim()
        .args([
            "bench",
            "store-memory",
            "--impl",
            "etcd",
            "--pods",
            "10",
            "--apps",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
