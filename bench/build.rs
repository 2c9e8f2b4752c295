//! Captures build facts that benchmark results report: the versions of the peer crates
//! in Cargo.lock (`rustc -V` comes from kubesim-loadgen's build script).

use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_string());
    let lock = Path::new(&manifest_dir).join("..").join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    println!("cargo:rerun-if-changed=build.rs");
    let lock_text = std::fs::read_to_string(&lock).unwrap_or_default();
    for (krate, var) in [
        ("kube-runtime", "KUBESIM_KUBE_RUNTIME_VERSION"),
        ("k8s-openapi", "KUBESIM_K8S_OPENAPI_VERSION"),
    ] {
        println!(
            "cargo:rustc-env={var}={}",
            locked_version(&lock_text, krate).unwrap_or("unknown")
        );
    }
}

/// The version of `krate` in a Cargo.lock text (`name = "…"` followed by `version = "…"`).
fn locked_version<'a>(lock: &'a str, krate: &str) -> Option<&'a str> {
    let needle = format!("name = \"{krate}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == needle {
            let v = lines.next()?.trim().strip_prefix("version = \"")?;
            return v.strip_suffix('"');
        }
    }
    None
}
