//! `kubesim route` end to end: the quick matrix (every algorithm × {uniform, zipf} ×
//! {steady, rollout}) as JSON and as a table with its run folder, and exit statuses.

mod common;
use common::{assert_files, kubesim, one_json_line, saved_folder, stdout_of, temp_dir};

const ALGORITHMS: [&str; 9] = [
    "round-robin",
    "clientip-affinity",
    "random",
    "iptables",
    "ipvs-rr",
    "ipvs-sh",
    "ipvs-lc",
    "maglev",
    "p2c-ewma",
];

#[test]
fn quick_json_has_every_cell_and_no_errors() {
    let stdout = stdout_of(kubesim().args(["route", "--quick", "--json", "--quiet", "--no-save"]));
    let v = one_json_line(&stdout);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), ALGORITHMS.len() * 2 * 2);
    let rate = v["meta"]["config"]["rate"].as_f64().unwrap();
    for scenario in ["steady", "rollout"] {
        for clients in ["uniform", "zipf:1.1"] {
            for algo in ALGORITHMS {
                let r = rows
                    .iter()
                    .find(|r| {
                        r["scenario"] == scenario
                            && r["clients"] == clients
                            && r["algorithm"] == algo
                    })
                    .unwrap_or_else(|| panic!("no row {scenario}/{clients}/{algo}"));
                assert_eq!(r["errors_not_ready"], 0, "{r}");
                assert_eq!(r["errors_no_endpoint"], 0, "{r}");
                let (p50, p99, p999, max) = (
                    r["p50_us"].as_f64().unwrap(),
                    r["p99_us"].as_f64().unwrap(),
                    r["p999_us"].as_f64().unwrap(),
                    r["max_us"].as_f64().unwrap(),
                );
                assert!(0.0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= max, "{r}");
                let tput = r["throughput_rps"].as_f64().unwrap();
                assert!((tput - rate).abs() < rate * 0.05, "{r}");
                assert!(r["imbalance"].as_f64().unwrap() >= 1.0, "{r}");
                let stick = r["stickiness"].as_f64().unwrap();
                if algo == "clientip-affinity" || algo == "ipvs-sh" {
                    assert!(stick > 0.7, "{r}");
                }
                if scenario == "steady" {
                    assert!(r["rollout_s"].is_null(), "{r}");
                    if matches!(algo, "clientip-affinity" | "ipvs-sh") {
                        assert_eq!(stick, 1.0, "{r}");
                    }
                } else {
                    assert!(r["rollout_s"].as_f64().unwrap() > 0.0, "{r}");
                    assert!(r["rollout_requests"].as_u64().unwrap() > 0, "{r}");
                    assert_eq!(r["rollout_errors"], 0, "{r}");
                    assert!(r["rollout_p99_us"].as_f64().unwrap() > 0.0, "{r}");
                    // Old and new pods both served.
                    assert!(r["endpoints"].as_u64().unwrap() > 4, "{r}");
                }
            }
        }
    }
}

#[test]
fn quick_table_and_run_folder() {
    let dir = temp_dir("kubesim-route-cli");
    let stdout = stdout_of(
        kubesim()
            .args(["route", "--quick", "--quiet", "--out"])
            .arg(&dir),
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("kubesim route"), "{stdout}");
    assert!(lines[1].split_whitespace().eq([
        "scenario",
        "clients",
        "algorithm",
        "req/s",
        "p50",
        "ms",
        "p99",
        "ms",
        "p999",
        "ms",
        "max",
        "ms",
        "imbal",
        "cv",
        "stick",
        "errors",
        "roll",
        "p99",
        "roll",
        "max",
        "roll",
        "s"
    ]));
    let rows: Vec<&str> = lines[2..]
        .iter()
        .copied()
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), 36, "{stdout}");
    for r in &rows {
        let cols: Vec<&str> = r.split_whitespace().collect();
        assert_eq!(cols.len(), 15, "{r}");
        assert_eq!(cols[11], "0", "errors: {r}");
    }
    let folder = saved_folder(&stdout);
    assert!(folder.starts_with(&dir));
    assert_files(
        &folder,
        &["route.csv", "summary.md", "route.svg", "report.json"],
    );
    let csv = std::fs::read_to_string(folder.join("route.csv")).unwrap();
    assert_eq!(csv.lines().count(), 37);
    let svg = std::fs::read_to_string(folder.join("route.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("p2c-ewma"));
    let md = std::fs::read_to_string(folder.join("summary.md")).unwrap();
    assert!(md.contains("## Run") && md.contains("clientip-affinity"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_flag_is_a_usage_error() {
    let out = kubesim().args(["route", "--rate", "5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected argument '--rate'"));
}
