//! `kubesim shard` end to end: a tiny run of every strategy × {1, 2} workers × every
//! workload, the run folder, and exit statuses.

mod common;
use common::{assert_files, kubesim, named_like, one_json_line, saved_folder, stdout_of, temp_dir};

const STRATEGIES: [&str; 6] = [
    "shared",
    "hash",
    "namespace",
    "owner",
    "consistent",
    "steal",
];
const WORKLOADS: [&str; 5] = ["uniform", "zipf", "churn", "reshard", "rollout"];
const RESHARDING: [&str; 3] = ["shared", "consistent", "steal"];

#[test]
fn tiny_run_of_every_cell_converges_and_prints_json() {
    let stdout = stdout_of(kubesim().args([
        "shard",
        "--scale",
        "20",
        "--workers",
        "1,2",
        "--json",
        "--quiet",
        "--no-save",
    ]));
    let v = one_json_line(&stdout);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), STRATEGIES.len() * 2 * WORKLOADS.len());
    for wl in WORKLOADS {
        for st in STRATEGIES {
            for w in [1, 2] {
                let r = rows
                    .iter()
                    .find(|r| r["workload"] == wl && r["strategy"] == st && r["workers"] == w)
                    .unwrap_or_else(|| panic!("no row {wl}/{st}/{w}"));
                for key in [
                    "reconciles_per_sec",
                    "converge_ms",
                    "p50_us",
                    "p99_us",
                    "p999_us",
                    "imbalance",
                    "idle_pct",
                    "keys_moved",
                ] {
                    assert!(r.get(key).is_some(), "{wl}/{st}/{w} lacks {key}");
                }
                if wl == "reshard" && !RESHARDING.contains(&st) {
                    assert!(r["converged"].is_null(), "{r}");
                    assert!(r["reconciles_per_sec"].is_null(), "{r}");
                    continue;
                }
                assert_eq!(r["converged"], true, "{r}");
                assert_eq!(r["errors"], 0, "{r}");
                assert!(r["reconciles_per_sec"].as_f64().unwrap() > 0.0, "{r}");
                let (p50, p99, p999) = (
                    r["p50_us"].as_f64().unwrap(),
                    r["p99_us"].as_f64().unwrap(),
                    r["p999_us"].as_f64().unwrap(),
                );
                assert!(p50 <= p99 && p99 <= p999, "{r}");
                assert!(r["imbalance"].as_f64().unwrap() >= 1.0, "{r}");
                let idle = r["idle_pct"].as_f64().unwrap();
                assert!((0.0..=100.0).contains(&idle), "{r}");
                let pods = r["pods"].as_u64().unwrap();
                if wl == "zipf" {
                    // Zipf(1.1) sizes with the hottest at 20 / 2 = 10 pods.
                    assert!(pods > 20 && pods < 200, "{r}");
                } else if wl == "rollout" {
                    // 1,000 Deployments × 20 at full size: 10,000 / 20 / 10 = 2 here.
                    assert_eq!(pods, 40, "{r}");
                } else {
                    assert_eq!(pods, 200, "{r}");
                }
                assert_eq!(r["keys_moved"].is_u64(), wl == "reshard", "{r}");
            }
        }
    }
    assert!(v["meta"]["rustc"].is_string());
    assert_eq!(v["meta"]["nproc"].as_u64().unwrap() as usize, {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    });
}

#[test]
fn table_and_run_folder() {
    let dir = temp_dir("kubesim-shard-cli");
    let stdout = stdout_of(
        kubesim()
            .args([
                "shard",
                "--scale",
                "10",
                "--strategies",
                "hash,steal",
                "--workers",
                "2",
                "--workloads",
                "uniform,reshard",
                "--quiet",
                "--out",
            ])
            .arg(&dir),
    );
    assert!(stdout.contains("reconc/s") && stdout.contains("oversubscribe"));
    let saved = saved_folder(&stdout);
    assert!(named_like(&saved, "shard-"));
    assert_files(
        &saved,
        &["shard.csv", "summary.md", "shard.svg", "report.json"],
    );
    let csv = std::fs::read_to_string(saved.join("shard.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    let md = std::fs::read_to_string(saved.join("summary.md")).unwrap();
    assert!(md.contains("kubesim shard") && md.contains("rustc"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_arguments_exit_with_status_2() {
    for args in [
        &["shard", "--strategies", "bogus"][..],
        &["shard", "--strategies", "shared,nope"][..],
        &["shard", "--workloads", "storm"][..],
        &["shard", "--workers", "0"][..],
    ] {
        let out = kubesim().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
