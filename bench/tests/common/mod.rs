//! What the `kubesim` CLI tests share: running the binary, checking that it succeeded,
//! its one-line JSON output, scratch folders and the run folders it saves.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `kubesim` binary under test.
pub fn kubesim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kubesim"))
}

/// Runs `command`, asserts that it exited 0 (showing its stderr if not), and returns
/// its stdout.
pub fn stdout_of(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts that `stdout` is one line and returns it parsed as JSON.
pub fn one_json_line(stdout: &str) -> serde_json::Value {
    assert_eq!(stdout.trim_end().lines().count(), 1, "one JSON line");
    serde_json::from_str(stdout).unwrap()
}

/// `<temp dir>/<name>-<pid>`: a scratch folder of this test process.
pub fn temp_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{name}-{}", std::process::id()))
}

/// Everything in `dir`.
pub fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

/// The run folder that the `saved <path>` line of `stdout` names.
pub fn saved_folder(stdout: &str) -> PathBuf {
    let saved = stdout
        .lines()
        .find_map(|l| l.strip_prefix("saved "))
        .expect("a saved line");
    PathBuf::from(saved)
}

/// Whether `path`'s file name starts with `prefix`.
pub fn named_like(path: &Path, prefix: &str) -> bool {
    path.file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with(prefix)
}

/// Asserts that each of `files` is a file in `folder`.
pub fn assert_files(folder: &Path, files: &[&str]) {
    for f in files {
        assert!(
            folder.join(f).is_file(),
            "{f} missing in {}",
            folder.display()
        );
    }
}
