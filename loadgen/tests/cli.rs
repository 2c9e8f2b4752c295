//! The `kubesim-loadgen` binary: JSON output, exit statuses, usage errors, the run
//! folder (`--out`, `--no-save`) and `--flamegraph`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kubesim-loadgen"))
}

#[test]
fn json_run_succeeds() {
    let out = loadgen()
        .args([
            "--rate",
            "2000",
            "--duration",
            "1s",
            "--algorithm",
            "maglev",
            "--clients-dist",
            "zipf:1.1",
            "--service-time",
            "slow-one:1ms,5ms",
            "--json",
            "--quiet",
            "--no-save",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["algorithm"], "maglev");
    assert_eq!(v["requests"], 2000);
    assert_eq!(v["errors"]["not_ready"], 0);
    assert_eq!(v["endpoints"].as_array().unwrap().len(), 10);
    assert!(v["latency"]["p99_us"].as_f64().unwrap() >= 1000.0);
}

#[test]
fn closed_loop_text_output() {
    let out = loadgen()
        .args([
            "--clients",
            "3",
            "--requests",
            "300",
            "--quiet",
            "--no-save",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("closed loop"), "{text}");
    assert!(text.contains("p99"), "{text}");
}

#[test]
fn bad_flags_exit_2_with_a_clear_message() {
    for (args, needle) in [
        (vec!["--bogus"], "unexpected argument '--bogus'"),
        (vec!["--algorithm", "nope"], "unknown algorithm \"nope\""),
        (
            vec!["--clients-dist", "pareto"],
            "unknown client distribution",
        ),
        (vec!["--service-time", "fixed:1"], "invalid duration"),
        (
            vec!["--rate", "10", "--clients", "2"],
            "cannot be used with",
        ),
        (vec!["--rate=-5"], "rate must be"),
        (
            vec!["--requests", "10", "--duration", "1s"],
            "cannot be used with",
        ),
        (vec!["--endpoints", "0"], "--endpoints"),
    ] {
        let out = loadgen().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// A fresh, empty directory under the system temp dir, unique to this test process.
fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("kubesim-loadgen-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn run_folder_holds_the_five_files() {
    let out_dir = temp_dir("save");
    let out = loadgen()
        .args([
            "--requests",
            "500",
            "--endpoints",
            "3",
            "--json",
            "--quiet",
            "--out",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Exactly one run folder, named loadgen-yyyymmdd-HHMMSS, announced on stderr.
    let runs: Vec<PathBuf> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    let name = run.file_name().unwrap().to_str().unwrap();
    let stamp = name.strip_prefix("loadgen-").expect(name);
    assert_eq!(stamp.len(), 15, "{name}");
    assert!(
        stamp
            .chars()
            .enumerate()
            .all(|(i, c)| if i == 8 { c == '-' } else { c.is_ascii_digit() }),
        "{name}"
    );
    assert!(
        stderr.contains(&format!("saved {}", run.display())),
        "{stderr}"
    );
    let mut files: Vec<String> = std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "endpoints.csv",
            "latency.csv",
            "loadgen.svg",
            "report.json",
            "summary.md"
        ]
    );

    let latency = read(run, "latency.csv");
    let lines: Vec<&str> = latency.lines().collect();
    assert_eq!(
        lines[0],
        "series,count,p50_us,p90_us,p99_us,p999_us,max_us,mean_us"
    );
    assert_eq!(lines.len(), 3, "{latency}");
    for (line, series) in lines[1..].iter().zip(["corrected", "uncorrected"]) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells[0], series, "{line}");
        assert_eq!(cells[1], "500", "{line}");
        let v: Vec<f64> = cells[2..].iter().map(|c| c.parse().unwrap()).collect();
        // p50 ≤ p90 ≤ p99 ≤ p99.9 ≤ max, all positive; mean ≤ max.
        assert!(
            v[0] > 0.0 && v.windows(2).take(4).all(|w| w[0] <= w[1]),
            "{line}"
        );
        assert!(v[5] <= v[4], "{line}");
    }

    let endpoints = read(run, "endpoints.csv");
    let lines: Vec<&str> = endpoints.lines().collect();
    assert_eq!(lines[0], "endpoint,requests,share");
    assert_eq!(lines.len(), 4, "{endpoints}");
    let (mut requests, mut share) = (0u64, 0f64);
    for line in &lines[1..] {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 3, "{line}");
        assert!(cells[0].contains(':'), "{line}");
        requests += cells[1].parse::<u64>().unwrap();
        share += cells[2].parse::<f64>().unwrap();
    }
    assert_eq!(requests, 500);
    assert!((share - 1.0).abs() < 1e-4, "{endpoints}");

    // report.json is the report --json printed.
    let json: serde_json::Value = serde_json::from_str(&read(run, "report.json")).unwrap();
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json, printed);
    assert_eq!(json["requests"], 500);

    let summary = read(run, "summary.md");
    for needle in [
        "# kubesim-loadgen",
        "| series | count | p50 | p90 | p99 | p99.9 | max | mean |",
        "| corrected (from intended send) | 500 |",
        "## Run",
        "- rustc: `rustc ",
        "- commit: `",
        "- machine: ",
        "- date: ",
        "--requests 500 --endpoints 3",
    ] {
        assert!(summary.contains(needle), "{needle:?} not in {summary}");
    }

    let svg = read(run, "loadgen.svg");
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("latency percentiles"));
    assert!(svg.contains("share of requests per endpoint"));
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn no_save_writes_nothing() {
    let parent = temp_dir("nosave");
    let out_dir = parent.join("results");
    let out = loadgen()
        .args(["--requests", "200", "--quiet", "--no-save", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!out_dir.exists());
    assert_eq!(std::fs::read_dir(&parent).unwrap().count(), 0);
    assert!(!stderr.contains("saved"), "{stderr}");
    let _ = std::fs::remove_dir_all(&parent);
}

#[test]
fn unwritable_paths_exit_2_naming_the_path() {
    let dir = temp_dir("unwritable");
    // A regular file where a directory is needed: fails even for root.
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let flame = file.join("flame.svg");
    let bad_out = file.join("results");
    for args in [
        vec![
            "--no-save".into(),
            "--flamegraph".into(),
            flame.clone().into_os_string(),
        ],
        vec!["--out".into(), bad_out.clone().into_os_string()],
    ] {
        let out = loadgen()
            .args(["--requests", "100", "--quiet"])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        let path = if args[0] == "--out" { &bad_out } else { &flame };
        assert!(err.contains(&path.display().to_string()), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        // Checked before the run: no report on stdout.
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flamegraph_is_an_svg() {
    let dir = temp_dir("flame");
    let flame = dir.join("sub").join("flame.svg");
    let out = loadgen()
        .args([
            "--requests",
            "100000",
            "--quiet",
            "--no-save",
            "--flamegraph",
        ])
        .arg(&flame)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("flamegraph {}", flame.display())),
        "{stderr}"
    );
    let svg = std::fs::read_to_string(&flame).unwrap();
    assert!(svg.contains("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(
        svg.contains("kubesim"),
        "no kubesim frame in the flamegraph"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
