//! Facts about the run that a benchmark result must carry: toolchain, commit, machine,
//! date, command line.
//!
//! The helpers shared with `kubesim-loadgen`'s run folders (wall clock, stamp, command
//! line, commit, CPU model, unique folder creation, `rustc -V`) live in
//! [`kubesim_loadgen::output`]; this module adds what only the benchmarks report.

use serde::Serialize;

use kubesim_loadgen::output::create_run_dir;
pub use kubesim_loadgen::output::{command_line, now, stamp, RUSTC_VERSION};

/// The kube-runtime version in Cargo.lock when this binary was built.
pub const KUBE_RUNTIME_VERSION: &str = env!("KUBESIM_KUBE_RUNTIME_VERSION");
/// The k8s-openapi version in Cargo.lock when this binary was built.
pub const K8S_OPENAPI_VERSION: &str = env!("KUBESIM_K8S_OPENAPI_VERSION");

/// Where and how a run happened: the facts every run folder carries
/// ([`kubesim_loadgen::output::RunInfo`], flattened into the same JSON object) plus
/// the peers' versions and the load average.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunInfo {
    /// Command line, `rustc -V`, commit, CPUs, CPU model, date and stamp.
    #[serde(flatten)]
    pub base: kubesim_loadgen::output::RunInfo,
    /// kube-runtime version of the peer.
    pub kube_runtime: String,
    /// k8s-openapi version of the peer's types.
    pub k8s_openapi: String,
    /// /proc/loadavg at the start (1, 5, 15 minutes): other work on the machine skews
    /// timings.
    pub loadavg: String,
}

impl RunInfo {
    /// Appends the `## Run` section every summary.md ends with: command, `rustc -V`,
    /// commit, machine and date.
    pub fn write_markdown(&self, s: &mut String) {
        use std::fmt::Write as _;
        let b = &self.base;
        let _ = writeln!(s, "\n## Run\n");
        let _ = writeln!(s, "- command: `{}`", b.command);
        let _ = writeln!(s, "- rustc: `{}`", b.rustc);
        let _ = writeln!(s, "- commit: `{}`", b.git);
        let _ = writeln!(
            s,
            "- machine: {} CPUs, {}; load average at start {}",
            b.nproc, b.cpu, self.loadavg
        );
        let _ = writeln!(s, "- date: {}", b.date);
    }

    /// Writes a run folder `dir/<name>-<stamp>/` holding `files` (name, contents) and
    /// returns its path. A second run within the same second gets `-2`, `-3`, … rather
    /// than overwriting the first.
    pub fn save_folder(
        &self,
        dir: &std::path::Path,
        name: &str,
        files: &[(&str, String)],
    ) -> anyhow::Result<std::path::PathBuf> {
        use anyhow::Context as _;
        let run_dir = create_run_dir(dir, &format!("{name}-{}", self.base.stamp))
            .map_err(|(d, e)| anyhow::Error::new(e).context(format!("creating {}", d.display())))?;
        for (file, text) in files {
            let p = run_dir.join(file);
            std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        }
        Ok(run_dir)
    }

    /// Collects everything now.
    pub fn collect() -> Self {
        RunInfo {
            base: kubesim_loadgen::output::RunInfo::collect(),
            kube_runtime: KUBE_RUNTIME_VERSION.to_string(),
            k8s_openapi: K8S_OPENAPI_VERSION.to_string(),
            loadavg: load_average(),
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_runs_in_one_second_get_two_folders() {
        let dir = std::env::temp_dir().join(format!("kubesim-save-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let info = RunInfo::collect();
        let a = info.save_folder(&dir, "x", &[("f", "1".into())]).unwrap();
        let b = info.save_folder(&dir, "x", &[("f", "2".into())]).unwrap();
        assert_ne!(a, b);
        assert!(b.to_string_lossy().ends_with("-2"));
        assert_eq!(std::fs::read_to_string(a.join("f")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(b.join("f")).unwrap(), "2");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn build_info_is_present() {
        assert!(RUSTC_VERSION.starts_with("rustc ") || RUSTC_VERSION == "unknown");
        assert!(!KUBE_RUNTIME_VERSION.is_empty());
    }
}
