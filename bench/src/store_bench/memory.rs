//! Memory per pod: resident set size after loading a store, minus before, over pods.
//!
//! Each measurement runs in its own process (the `kubesim` binary re-run with the hidden
//! `bench store-memory` subcommand), so one store's pages, allocator caches and interned
//! strings never count towards the other's. Pods are generated one at a time while
//! inserting; no vector of pods is ever held. The baseline is taken after the workload's
//! per-app strings exist (a few hundred bytes per app) and before anything of the store
//! or of kubesim's shared templates does, so kubesim's shared `PodSpec`s and interned
//! label strings count against kubesim.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::Pod as KubePod;
use serde::{Deserialize, Serialize};

use super::impls::{ImplId, KubeRs, Kubesim, StoreImpl};
use crate::workload::{Workload, WorkloadSpec};

/// One memory measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemorySample {
    /// `kubesim` or `kube-rs`.
    #[serde(rename = "impl")]
    pub impl_name: String,
    /// Pods loaded.
    pub pods: usize,
    /// Apps they belong to.
    pub apps: usize,
    /// kubesim's `StoreConfig::watch_window` (events retained for watchers), if set.
    pub watch_window: Option<usize>,
    /// VmRSS before loading, in bytes.
    pub rss_before_bytes: u64,
    /// VmRSS after loading, in bytes.
    pub rss_after_bytes: u64,
    /// `(after − before) / pods`.
    pub bytes_per_pod: f64,
    /// Whether it was measured in a child process of its own.
    pub isolated: bool,
    /// kubesim only: bytes per pod the store itself accounts for
    /// (`Store::stats`: `table`, `index`), the size of one `Arc<Object>` allocation
    /// (`object`), and watch events retained (`watch_events`, a count), to tell where
    /// the VmRSS growth goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<std::collections::BTreeMap<String, f64>>,
}

/// The current resident set size (VmRSS from /proc/self/status), in bytes.
pub fn rss_bytes() -> Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    parse_vm_rss(&status).context("no VmRSS line in /proc/self/status")
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Loads `pods` pods of `apps` apps into a fresh store of `which` in this process and
/// measures the resident set growth. The store is leaked rather than dropped: the
/// caller is a short-lived child process, and freeing a million objects would only
/// delay its exit.
pub fn measure_in_process(
    which: ImplId,
    pods: usize,
    apps: usize,
    watch_window: Option<usize>,
) -> Result<MemorySample> {
    let spec = WorkloadSpec::new(pods, apps).map_err(anyhow::Error::msg)?;
    let w = Workload::new(spec);
    let before = rss_bytes()?;
    match which {
        ImplId::Kubesim => {
            let ks = Kubesim::with_watch_window(&w, watch_window)?;
            for idx in 0..pods {
                ks.store.create(w.kubesim_pod(idx))?;
            }
            if ks.len() != pods {
                bail!("kubesim store holds {} pods, expected {pods}", ks.len());
            }
            let after = rss_bytes()?;
            let stats = ks.store.stats();
            let per_pod = |b: usize| b as f64 / pods as f64;
            let breakdown = [
                ("table", per_pod(stats.table_bytes)),
                ("index", per_pod(stats.index_bytes)),
                (
                    "object",
                    (size_of::<kubesim_core::model::Object>() + 2 * size_of::<usize>()) as f64,
                ),
                ("watch_events", stats.watch_events as f64),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            std::mem::forget(ks);
            Ok(MemorySample {
                breakdown: Some(breakdown),
                ..sample(which, spec, watch_window, before, after)
            })
        }
        ImplId::KubeRs => {
            let mut kr = KubeRs::empty();
            let writer = kr.writer.get_mut();
            for idx in 0..pods {
                writer.apply_watcher_event(&kube::runtime::watcher::Event::<KubePod>::Apply(
                    w.kube_pod(idx),
                ));
            }
            if kr.len() != pods {
                bail!("kube-rs store holds {} pods, expected {pods}", kr.len());
            }
            let after = rss_bytes()?;
            std::mem::forget(kr);
            Ok(sample(which, spec, None, before, after))
        }
    }
}

fn sample(
    which: ImplId,
    spec: WorkloadSpec,
    watch_window: Option<usize>,
    before: u64,
    after: u64,
) -> MemorySample {
    MemorySample {
        impl_name: which.as_str().to_string(),
        pods: spec.pods,
        apps: spec.apps,
        watch_window,
        rss_before_bytes: before,
        rss_after_bytes: after,
        bytes_per_pod: after.saturating_sub(before) as f64 / spec.pods as f64,
        isolated: false,
        breakdown: None,
    }
}

/// How memory is measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemoryProbe {
    /// In a child process: `exe bench store-memory --impl … --pods … --apps …
    /// [--watch-window …]`, which prints one JSON line (a [`MemorySample`]).
    Subprocess(PathBuf),
    /// In this process (less exact: earlier allocations may be reused; for tests).
    InProcess,
}

impl MemoryProbe {
    /// The `kubesim` binary that is running now.
    pub fn current_exe() -> Result<Self> {
        Ok(MemoryProbe::Subprocess(
            std::env::current_exe().context("locating the running executable")?,
        ))
    }

    /// Measures one store.
    pub fn measure(
        &self,
        which: ImplId,
        pods: usize,
        apps: usize,
        watch_window: Option<usize>,
    ) -> Result<MemorySample> {
        match self {
            MemoryProbe::InProcess => measure_in_process(which, pods, apps, watch_window),
            MemoryProbe::Subprocess(exe) => {
                let mut cmd = Command::new(exe);
                cmd.args(["bench", "store-memory", "--impl", which.as_str()])
                    .args(["--pods", &pods.to_string(), "--apps", &apps.to_string()]);
                if let Some(ww) = watch_window {
                    cmd.args(["--watch-window", &ww.to_string()]);
                }
                let out = cmd
                    .output()
                    .with_context(|| format!("running {}", exe.display()))?;
                if !out.status.success() {
                    bail!(
                        "memory measurement of {which} failed ({}): {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                }
                let stdout = String::from_utf8_lossy(&out.stdout);
                let line = stdout
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                let mut s: MemorySample = serde_json::from_str(line).with_context(|| {
                    format!("parsing the memory measurement of {which}: {line:?}")
                })?;
                s.isolated = true;
                Ok(s)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vm_rss() {
        let status = "Name:\tkubesim\nVmPeak:\t  100 kB\nVmRSS:\t   2048 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(rss_bytes().unwrap() > 0);
    }

    #[test]
    fn in_process_measurement_loads_every_pod() {
        for which in ImplId::ALL {
            let s = measure_in_process(which, 400, 20, Some(64)).unwrap();
            assert_eq!(s.pods, 400);
            assert_eq!(s.impl_name, which.as_str());
            assert_eq!(
                s.watch_window,
                if which == ImplId::Kubesim {
                    Some(64)
                } else {
                    None
                }
            );
        }
    }
}
