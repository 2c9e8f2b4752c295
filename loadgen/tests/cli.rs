//! The `kubesim-loadgen` binary: JSON output, exit statuses and usage errors.

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
        .args(["--clients", "3", "--requests", "300", "--quiet"])
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
