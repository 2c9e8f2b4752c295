//! `kubesim bench controller` end to end: a tiny run of both sides (and kubesim's own
//! ReplicaSetController) that must converge, its JSON, the run folder, and exit
//! statuses.

mod common;
use common::{entries, kubesim, named_like, one_json_line, stdout_of, temp_dir};

#[test]
fn tiny_run_converges_on_both_sides_and_prints_json() {
    let stdout = stdout_of(kubesim().args([
        "bench",
        "controller",
        "--replicasets",
        "40",
        "--pods",
        "5",
        "--runs",
        "2",
        "--json",
        "--quiet",
        "--no-save",
    ]));
    let v = one_json_line(&stdout);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for side in ["kubesim", "kube-runtime", "kubesim-rs-controller"] {
        let r = rows
            .iter()
            .find(|r| r["side"] == side)
            .unwrap_or_else(|| panic!("no row {side}"));
        for key in [
            "reconciles_per_sec",
            "converge_ms",
            "p50_us",
            "p99_us",
            "reconciles",
        ] {
            assert!(r[key].as_f64().unwrap() > 0.0, "{side}.{key}: {r}");
        }
        assert_eq!(r["ok"], true, "{side}");
        assert!(
            r["cpu_ms"].as_f64().unwrap() >= 0.0,
            "{side}: /proc/self/stat CPU time"
        );
        assert_eq!(r["runs"], 2, "{side}");
        assert_eq!(r["errors"], 0, "{side}");
    }
    // Convergence, run by run: every ReplicaSet has exactly its 5 pods and status.
    for side in ["kubesim", "kube", "real"] {
        for run in v["runs"][side].as_array().unwrap() {
            assert_eq!(run["check"]["ok"], true, "{side}: {run}");
            assert_eq!(run["check"]["pods_seen"], 200, "{side}: {run}");
            assert_eq!(run["check"]["failures"], 0, "{side}: {run}");
        }
    }
    for side in ["kubesim", "kube"] {
        for run in v["runs"][side].as_array().unwrap() {
            assert_eq!(run["creates"], 200, "{side}: each pod created once");
        }
    }
    for k in ["reconciles_per_sec", "converge", "p99_latency"] {
        let r = &v["ratios"][k];
        assert!(r["paired_median"].as_f64().unwrap() > 0.0, "{k}");
        assert!(r["paired_p25"].as_f64().unwrap() <= r["paired_p75"].as_f64().unwrap());
        assert_eq!(r["pairs"], 2, "{k}");
    }
    assert_eq!(v["ratios"]["cpu_per_reconcile"]["pairs"], 2);
    assert_eq!(v["target"]["threshold"], 5.0);
    assert!(v["target"]["pass"].is_boolean());
    assert_eq!(v["meta"]["config"]["replica_sets"], 40);
    assert_eq!(v["meta"]["config"]["workers"], 2);
    assert_eq!(v["meta"]["config"]["kube_concurrency"], 8, "4 × workers");
    assert_eq!(
        v["meta"]["first"],
        serde_json::json!(["kubesim", "kube-runtime"])
    );
    assert!(v["meta"]["command"]
        .as_str()
        .unwrap()
        .contains("bench controller"));
}

#[test]
fn run_folder_has_csv_summary_and_svg() {
    let dir = temp_dir("kubesim-controller-cli");
    let stdout = stdout_of(
        kubesim()
            .args([
                "bench",
                "controller",
                "--replicasets",
                "20",
                "--pods",
                "3",
                "--runs",
                "1",
                "--no-real",
                "--kube-concurrency",
                "0",
                "--quiet",
                "--flamegraph",
            ])
            .arg(dir.join("flame.svg"))
            .arg("--out")
            .arg(&dir),
    );
    assert!(stdout.contains("kube-runtime") && stdout.contains("saved "));
    let flame = std::fs::read_to_string(dir.join("flame.svg")).unwrap();
    assert!(flame.contains("<svg"), "the flamegraph is an SVG");
    let runs: Vec<_> = entries(&dir).into_iter().filter(|p| p.is_dir()).collect();
    assert_eq!(runs.len(), 1);
    let folder = &runs[0];
    assert!(named_like(folder, "controller-"));
    let csv = std::fs::read_to_string(folder.join("controller.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "header + one run per side: {csv}");
    let md = std::fs::read_to_string(folder.join("summary.md")).unwrap();
    assert!(md.contains("bench controller --replicasets 20"), "{md}");
    assert!(md.contains("rustc") && md.contains("commit"));
    assert!(
        md.contains("pprof"),
        "the summary says the run was profiled"
    );
    let svg = std::fs::read_to_string(folder.join("controller.svg")).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(folder.join("report.json").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_sizes_exit_with_status_2() {
    for args in [
        &["--pods", "0"][..],
        &["--replicasets", "0"],
        &["--workers", "0"],
        &["--strategy", "bogus"],
    ] {
        let out = kubesim()
            .args(["bench", "controller", "--quiet", "--no-save"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
