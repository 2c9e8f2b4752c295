//! Captures `rustc -V` for the `summary.md` of the run folder (see `src/output.rs`).

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = Command::new(&rustc)
        .arg("-V")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=KUBESIM_LOADGEN_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-changed=build.rs");
}
