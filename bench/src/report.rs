//! Turning a [`StoreBenchResult`] into what people read: the terminal table, the one-line
//! JSON object, and the run folder (`store.csv`, `memory.csv`, `summary.md`,
//! `store.svg`).
//!
//! It also holds what every command's report shares: [`plot`] (the charts' plotters
//! pieces), [`progress_bar`] and [`Profiler`] (`--flamegraph`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::store_bench::measure::PairedRatio;
use crate::store_bench::memory::MemorySample;
use crate::store_bench::{
    Check, MemoryReport, Row, SelectorInfo, StoreBenchConfig, StoreBenchResult, WORKLOADS,
};
use crate::sysinfo::RunInfo;

pub mod plot;

/// The key of the memory ratio in [`StoreReport::ratios`].
pub const MEMORY: &str = "memory";

/// How the timed workloads are measured and compared; in `meta.method` and summary.md.
pub const METHOD: &str = "interleaved ABAB, paired ratio = median over pairs";

/// A goal from the issue, checked against a run. Misses are reported, never fatal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TargetResult {
    /// What is compared: `ratio` (the paired median of [`StoreReport::ratios`]) or
    /// `bytes_per_pod` (kubesim's own figure).
    pub metric: String,
    /// `>=` or `<=`.
    pub op: String,
    /// The threshold.
    pub threshold: f64,
    /// The measured value.
    pub value: f64,
    /// Whether the value meets the threshold.
    pub pass: bool,
    /// The goal as written, e.g. `≥ 100×`.
    pub goal: String,
}

/// The whole report: what `--json` prints and what the run folder is made from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoreReport {
    /// Timed rows, both impls for every workload.
    pub rows: Vec<Row>,
    /// Per workload, how many times faster kubesim is: the median over the interleaved
    /// pairs of runs of kube-rs ns/op ÷ kubesim ns/op (`ratio_ranges[w].paired_median`);
    /// `memory`: kube-rs bytes/pod ÷ kubesim bytes/pod at the same pod count.
    pub ratios: BTreeMap<String, f64>,
    /// Per workload, the spread of the ratio: the paired median with the 25th and 75th
    /// percentiles over pairs, the ratio of the two medians (kubesim ops/s ÷ kube-rs
    /// ops/s), and the pair count.
    pub ratio_ranges: BTreeMap<String, PairedRatio>,
    /// Memory per pod.
    pub memory: MemoryReport,
    /// The targets, with pass/miss.
    pub targets: BTreeMap<String, TargetResult>,
    /// Correctness checks made during the run.
    pub checks: Vec<Check>,
    /// Run facts and configuration.
    pub meta: Meta,
}

/// Run facts and configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Meta {
    /// Command, toolchain, commit, machine, date.
    #[serde(flatten)]
    pub run: RunInfo,
    /// Pods in the timing workloads.
    pub pods: usize,
    /// Apps they belong to.
    pub apps: usize,
    /// Namespaces.
    pub namespaces: usize,
    /// kubesim's main memory figure is at this many pods.
    pub memory_pods: usize,
    /// The like-for-like memory figures are at this many pods.
    pub like_for_like_pods: usize,
    /// kubesim's watch window in memory measurements.
    pub memory_watch_window: usize,
    /// `--quick`.
    pub quick: bool,
    /// Seed of the random sequences.
    pub seed: u64,
    /// How the timed workloads are measured ([`METHOD`]).
    pub method: String,
    /// Minimum measured time per (workload, impl), in milliseconds.
    pub min_time_ms: u64,
    /// Minimum pairs of runs per workload.
    pub min_runs: usize,
    /// Maximum pairs of runs per workload.
    pub max_runs: usize,
    /// Keys in the `get` sequence.
    pub get_ops: usize,
    /// Operations per thread per `mixed-2t` run.
    pub mixed_ops_per_thread: usize,
    /// The list workloads' selectors.
    pub selectors: Vec<SelectorInfo>,
    /// The global allocator.
    pub allocator: String,
    /// How the peer is used.
    pub notes: Vec<String>,
}

/// How the peer is used and what the numbers mean; printed in summary.md.
pub fn notes(cfg: &StoreBenchConfig) -> Vec<String> {
    vec![
        "Peer: kube-runtime's reflector store (`kube::runtime::reflector::store::<Pod>()`, k8s-openapi Pods), \
         in the same process on the same workload. It is made ready as a reflector makes it (`Init`, \
         `InitDone`), then fed `watcher::Event::Apply` events."
            .to_string(),
        "upsert: kubesim `Store::create` vs `Writer::apply_watcher_event(&Event::Apply(pod))` into an empty \
         store, one thread; inputs are built and cloned outside the timed region (the reflector clones each \
         applied object into an `Arc` inside `apply_watcher_event`: that is its API)."
            .to_string(),
        "get: kubesim `Store::try_get(Kind::Pod, ns, name)` vs `reflector::Store::get(&ObjectRef)`, over a \
         fixed-seed random sequence of existing keys pre-built for both."
            .to_string(),
        "lists: the reflector has no label index; a label-selective list is a scan of the whole cache under its \
         read lock. We use `Store::state_filter_selector(&Selector)`, kube-runtime's own form of \
         `reader.state()` + filter (what kube-rs users do), which skips cloning every `Arc` first. kubesim \
         lists through its label index (`Store::list(Kind::Pod, None, Some(&selector), None)`)."
            .to_string(),
        "mixed-2t: two threads, 90% gets / 10% read-modify-write updates of a random pod (half flip the Ready \
         condition and bump the restart count, half toggle a `canary` label). kubesim updates with the read \
         resourceVersion as precondition (`update_status` / `update`, retried on Conflict). The reflector's \
         `Writer` is not `Clone`, so both threads share it behind a `parking_lot::Mutex`; its updates are \
         `reader.get` + clone + modify + `apply_watcher_event`."
            .to_string(),
        format!(
            "memory: VmRSS growth while loading pods generated one at a time (no pre-built vector), each store \
             in a child process of its own. kubesim's StoreConfig::watch_window is {} so that the watch log does \
             not retain an event per pod. The k8s-openapi Pods carry the same content as kubesim's (no extra \
             API-server defaults), so the reflector's figure is a lower bound for real watch data.",
            cfg.memory_watch_window
        ),
        "kubesim pods of one (app, version) share one `Arc<PodSpec>` and one interned label map, as kubesim's \
         ReplicaSet controller makes them; the reflector's pods own every string, as a watch delivers them."
            .to_string(),
        "Timing is interleaved: both stores are loaded at the same time, and each workload runs a warm-up of \
         each, then pairs of runs alternating which store goes first (kubesim, kube-rs; kube-rs, kubesim; …) \
         until both have met the limits (≥ min time each and ≥ min runs). ns/op is each store's median run; \
         p25 and p75 are the 25th and 75th percentiles over its runs (linear interpolation between ranks)."
            .to_string(),
        "Ratios are how many times faster kubesim is (higher is better for kubesim): per pair of runs, kube-rs \
         ns/op ÷ kubesim ns/op, and the reported ratio is the median over pairs (the two runs of a pair share \
         the machine's state; this VM's speed drifts over seconds). The 25th–75th percentiles over pairs and the \
         ratio of the two medians (= kubesim ops/s ÷ kube-rs ops/s) are shown beside it. Memory is kube-rs \
         bytes/pod ÷ kubesim bytes/pod at the same pod count."
            .to_string(),
    ]
}

/// (workload, op, threshold) of the ratio targets.
const RATIO_TARGETS: [(&str, f64); 4] = [
    ("list-1pct", 100.0),
    ("get", 1.0),
    ("upsert", 0.5),
    ("mixed-2t", 1.5),
];
/// kubesim's bytes per pod at a million pods must not exceed this.
const MEMORY_TARGET_BYTES: f64 = 400.0;

impl StoreReport {
    /// Computes ratios and targets.
    pub fn new(cfg: &StoreBenchConfig, result: StoreBenchResult, run: RunInfo) -> Self {
        let mut ratios = BTreeMap::new();
        for wl in WORKLOADS {
            if let Some(r) = result.ratios.get(wl) {
                ratios.insert(wl.to_string(), r.paired_median);
            }
        }
        let mem = &result.memory;
        if mem.kubesim_like_for_like.bytes_per_pod > 0.0 {
            ratios.insert(
                MEMORY.to_string(),
                mem.kube_rs.bytes_per_pod / mem.kubesim_like_for_like.bytes_per_pod,
            );
        }
        let mut targets = BTreeMap::new();
        for (wl, threshold) in RATIO_TARGETS {
            if let Some(&value) = ratios.get(wl) {
                targets.insert(
                    wl.to_string(),
                    TargetResult {
                        metric: "ratio".into(),
                        op: ">=".into(),
                        threshold,
                        value,
                        pass: value >= threshold,
                        goal: format!("≥ {threshold}×"),
                    },
                );
            }
        }
        let value = mem.kubesim.bytes_per_pod;
        targets.insert(
            "kubesim-bytes-per-pod".to_string(),
            TargetResult {
                metric: "bytes_per_pod".into(),
                op: "<=".into(),
                threshold: MEMORY_TARGET_BYTES,
                value,
                pass: value <= MEMORY_TARGET_BYTES,
                goal: format!(
                    "≤ {MEMORY_TARGET_BYTES} B/pod at {} pods",
                    thousands(mem.kubesim.pods as u64)
                ),
            },
        );
        let meta = Meta {
            run,
            pods: cfg.spec.pods,
            apps: cfg.spec.apps,
            namespaces: crate::workload::NAMESPACES.min(cfg.spec.apps),
            memory_pods: cfg.memory_pods,
            like_for_like_pods: cfg.like_for_like_pods,
            memory_watch_window: cfg.memory_watch_window,
            quick: cfg.quick,
            seed: cfg.seed,
            method: METHOD.to_string(),
            min_time_ms: cfg.limits.min_time.as_millis() as u64,
            min_runs: cfg.limits.min_runs,
            max_runs: cfg.limits.max_runs,
            get_ops: cfg.get_ops,
            mixed_ops_per_thread: cfg.mixed_ops_per_thread,
            selectors: result.selectors.clone(),
            allocator: "mimalloc".into(),
            notes: notes(cfg),
        };
        StoreReport {
            rows: result.rows,
            ratios,
            ratio_ranges: result.ratios,
            memory: result.memory,
            targets,
            checks: result.checks,
            meta,
        }
    }

    /// Whether every correctness check held.
    pub fn all_checks_passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The one JSON object `--json` prints.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).context("serializing the report")
    }

    /// `store.csv`: one line per row.
    pub fn rows_csv(&self) -> String {
        let mut s = String::from(
            "workload,impl,ops_per_sec,ns_per_op,ns_per_op_p25,ns_per_op_p75,runs,ops_per_run,pods\n",
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{},{},{:.1},{:.2},{:.2},{:.2},{},{},{}",
                r.workload,
                r.impl_name,
                r.ops_per_sec,
                r.ns_per_op,
                r.ns_per_op_p25,
                r.ns_per_op_p75,
                r.runs,
                r.ops_per_run,
                self.meta.pods
            );
        }
        s
    }

    /// `memory.csv`: one line per memory sample.
    pub fn memory_csv(&self) -> String {
        let mut s = String::from(
            "impl,pods,apps,watch_window,rss_before_bytes,rss_after_bytes,bytes_per_pod\n",
        );
        for m in self.memory_samples() {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{:.1}",
                m.impl_name,
                m.pods,
                m.apps,
                m.watch_window.map(|w| w.to_string()).unwrap_or_default(),
                m.rss_before_bytes,
                m.rss_after_bytes,
                m.bytes_per_pod
            );
        }
        s
    }

    fn memory_samples(&self) -> Vec<&MemorySample> {
        let m = &self.memory;
        let mut v = vec![&m.kubesim];
        if m.kubesim_like_for_like.pods != m.kubesim.pods {
            v.push(&m.kubesim_like_for_like);
        }
        v.push(&m.kube_rs);
        v
    }

    /// The terminal table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let m = &self.meta;
        let _ = writeln!(
            s,
            "kubesim bench store: {} pods ({} apps × {}, {} namespaces){}",
            thousands(m.pods as u64),
            thousands(m.apps as u64),
            m.pods / m.apps.max(1),
            m.namespaces,
            if m.quick { ", --quick" } else { "" }
        );
        let _ = writeln!(
            s,
            "peer: kube-runtime {} reflector store (k8s-openapi {})\n",
            m.run.kube_runtime, m.run.k8s_openapi
        );
        let _ = writeln!(s, "timing: {}\n", m.method);
        let _ = writeln!(
            s,
            "{:<12} {:<8} {:>12} {:>12} {:>23} {:>5}",
            "workload", "impl", "ops/s", "ns/op", "ns/op p25–p75", "runs"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{:<12} {:<8} {:>12} {:>12} {:>23} {:>5}",
                r.workload,
                r.impl_name,
                si(r.ops_per_sec),
                format!("{:.1}", r.ns_per_op),
                format!("{:.1}–{:.1}", r.ns_per_op_p25, r.ns_per_op_p75),
                r.runs
            );
        }
        let _ = writeln!(
            s,
            "\nratios (kubesim speed-up: median over pairs of kube-rs ns/op ÷ kubesim ns/op; \
             memory: kube-rs ÷ kubesim bytes/pod)"
        );
        let _ = writeln!(
            s,
            "{:<12} {:>10} {:>17} {:>10} {:>5}   {:<10} result",
            "workload", "ratio", "pairs p25–p75", "of medians", "pairs", "target"
        );
        for (name, value) in self.ordered_ratios() {
            let (goal, verdict) = match self.targets.get(name) {
                Some(t) => (t.goal.clone(), if t.pass { "pass" } else { "MISS" }),
                None => ("-".to_string(), ""),
            };
            let (range, of_medians, pairs) = match self.ratio_ranges.get(name) {
                Some(r) => (
                    format!("{:.2}–{:.2}×", r.paired_p25, r.paired_p75),
                    format!("{:.2}×", r.of_medians),
                    r.pairs.to_string(),
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            let _ = writeln!(
                s,
                "{:<12} {:>9.2}× {:>17} {:>10} {:>5}   {:<10} {}",
                name, value, range, of_medians, pairs, goal, verdict
            );
        }
        let _ = writeln!(
            s,
            "\nmemory (VmRSS growth per pod, each store in its own process)"
        );
        for sample in self.memory_samples() {
            let _ = writeln!(
                s,
                "{:<8} {:>10} pods {:>9.1} B/pod{}",
                sample.impl_name,
                thousands(sample.pods as u64),
                sample.bytes_per_pod,
                sample
                    .watch_window
                    .map(|w| format!("  (watch window {w})"))
                    .unwrap_or_default()
            );
        }
        if let Some(t) = self.targets.get("kubesim-bytes-per-pod") {
            let _ = writeln!(
                s,
                "target: kubesim {}: {}",
                t.goal,
                if t.pass { "pass" } else { "MISS" }
            );
        }
        let failed: Vec<&Check> = self.checks.iter().filter(|c| !c.ok).collect();
        if failed.is_empty() {
            let _ = writeln!(s, "\nchecks: all {} passed", self.checks.len());
        } else {
            let _ = writeln!(s, "\nchecks: {} FAILED", failed.len());
            for c in failed {
                let _ = writeln!(s, "  {}: {}", c.name, c.detail);
            }
        }
        s
    }

    /// Ratios in report order (workloads, then memory).
    fn ordered_ratios(&self) -> Vec<(&str, f64)> {
        WORKLOADS
            .iter()
            .copied()
            .chain([MEMORY])
            .filter_map(|k| self.ratios.get(k).map(|v| (k, *v)))
            .collect()
    }

    /// `summary.md`.
    pub fn summary_md(&self) -> String {
        let m = &self.meta;
        let mut s = String::new();
        let _ = writeln!(s, "# kubesim bench store — {}\n", m.run.base.date);
        let _ = writeln!(
            s,
            "kubesim's store vs kube-runtime {}'s reflector store, {} pods ({} apps × {}, {} namespaces){}.\n",
            m.run.kube_runtime,
            thousands(m.pods as u64),
            thousands(m.apps as u64),
            m.pods / m.apps.max(1),
            m.namespaces,
            if m.quick { ", `--quick` sizes" } else { "" }
        );
        let _ = writeln!(s, "![kubesim ÷ kube-rs per workload](store.svg)\n");
        let _ = writeln!(s, "## Results\n");
        let _ = writeln!(
            s,
            "Method: {}. Both stores are loaded at once; per workload, a warm-up run of each, then \
             pairs of runs alternating which store goes first, until both have met the limits. ns/op \
             is each store's median run, with the 25th–75th percentiles over its runs; the ratio is \
             the median over pairs of kube-rs ns/op ÷ kubesim ns/op (how many times faster kubesim \
             is), with the 25th–75th percentiles over pairs and the ratio of the two medians beside \
             it.\n",
            m.method
        );
        let _ = writeln!(
            s,
            "| workload | impl | ops/s | ns/op (median) | ns/op p25 | ns/op p75 | runs | ops/run |"
        );
        let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {} |",
                r.workload,
                r.impl_name,
                si(r.ops_per_sec),
                r.ns_per_op,
                r.ns_per_op_p25,
                r.ns_per_op_p75,
                r.runs,
                thousands(r.ops_per_run)
            );
        }
        let _ = writeln!(s, "\n## Ratios vs targets\n");
        let _ = writeln!(
            s,
            "| workload | kubesim ÷ kube-rs (paired median) | pairs p25–p75 | ratio of medians | pairs | target | result |"
        );
        let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: | --- | --- |");
        for (name, value) in self.ordered_ratios() {
            let (goal, verdict) = match self.targets.get(name) {
                Some(t) => (t.goal.clone(), if t.pass { "pass" } else { "**miss**" }),
                None => ("—".to_string(), "—"),
            };
            let label = if name == MEMORY {
                "memory (kube-rs ÷ kubesim B/pod)"
            } else {
                name
            };
            let (range, of_medians, pairs) = match self.ratio_ranges.get(name) {
                Some(r) => (
                    format!("{:.2}–{:.2}×", r.paired_p25, r.paired_p75),
                    format!("{:.2}×", r.of_medians),
                    r.pairs.to_string(),
                ),
                None => ("—".into(), "—".into(), "—".into()),
            };
            let _ = writeln!(
                s,
                "| {label} | {value:.2}× | {range} | {of_medians} | {pairs} | {goal} | {verdict} |"
            );
        }
        let _ = writeln!(s, "\n## Memory\n");
        let _ = writeln!(
            s,
            "| impl | pods | B/pod | VmRSS before | VmRSS after | watch window |"
        );
        let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: | ---: |");
        for x in self.memory_samples() {
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} | {} | {} | {} |",
                x.impl_name,
                thousands(x.pods as u64),
                x.bytes_per_pod,
                mib(x.rss_before_bytes),
                mib(x.rss_after_bytes),
                x.watch_window
                    .map(|w| w.to_string())
                    .unwrap_or_else(|| "—".into())
            );
        }
        if let Some(t) = self.targets.get("kubesim-bytes-per-pod") {
            let _ = writeln!(
                s,
                "\nTarget: kubesim {}: {:.1} B/pod — {}.",
                t.goal,
                t.value,
                if t.pass { "pass" } else { "**miss**" }
            );
        }
        let _ = writeln!(s, "\n## Selectors\n");
        for sel in &m.selectors {
            let _ = writeln!(
                s,
                "- `{}`: `{}` selects {} pods ({:.2}% of all).",
                sel.workload,
                sel.selector,
                thousands(sel.expected as u64),
                sel.fraction * 100.0
            );
        }
        let _ = writeln!(s, "\n## Checks\n");
        for c in &self.checks {
            let _ = writeln!(
                s,
                "- {} {}: {}",
                if c.ok { "ok" } else { "**FAILED**" },
                c.name,
                c.detail
            );
        }
        let _ = writeln!(s, "\n## How the peer is used\n");
        for n in &m.notes {
            let _ = writeln!(s, "- {n}");
        }
        m.run.write_markdown(&mut s);
        let _ = writeln!(
            s,
            "- peer crates: kube-runtime {}, k8s-openapi {}",
            m.run.kube_runtime, m.run.k8s_openapi
        );
        let _ = writeln!(
            s,
            "- timing: {}; ≥ {} ms measured per (workload, impl) and {}–{} pairs per workload, after a \
             warm-up run of each",
            m.method, m.min_time_ms, m.min_runs, m.max_runs
        );
        let _ = writeln!(s, "- allocator: {}; seed {:#x}", m.allocator, m.seed);
        s
    }

    /// `store.svg`: kubesim ÷ kube-rs per workload on a log axis (the paired median, with
    /// a whisker over the pairs' 25th–75th percentiles), with targets.
    pub fn svg(&self) -> Result<String> {
        chart::ratio_chart(
            &self.ordered_ratios(),
            &self.ratio_ranges,
            &self.targets,
            &self.meta,
        )
    }

    /// Writes the run folder `dir/store-<stamp>/` and returns its path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        self.meta.run.save_folder(
            dir,
            "store",
            &[
                ("store.csv", self.rows_csv()),
                ("memory.csv", self.memory_csv()),
                ("summary.md", self.summary_md()),
                ("store.svg", self.svg()?),
                ("report.json", self.to_json()? + "\n"),
            ],
        )
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1234567.0` → `1.23 M`.
pub fn si(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2} G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.2} k", x / 1e3)
    } else {
        format!("{x:.1}")
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

/// A progress bar on stderr (drawn only on a terminal) over `len` steps if known,
/// hidden when `quiet`.
pub fn progress_bar(quiet: bool, len: Option<u64>) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
    {
        pb.set_style(style);
    }
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}

/// What a bench command produced: the report, what goes to stdout, the run folder.
#[derive(Debug)]
pub struct RunOutcome<R> {
    /// The report.
    pub report: R,
    /// What goes to stdout: the table, or the JSON object (one line).
    pub stdout: String,
    /// The run folder, unless `no_save`.
    pub saved: Option<PathBuf>,
}

/// A report as its command prints and saves it ([`RunOutcome::render`]).
pub trait Render {
    /// The one JSON object `--json` prints.
    fn json(&self) -> Result<String>;
    /// The terminal table.
    fn table_text(&self) -> String;
    /// Writes the run folder under `dir` and returns its path.
    fn save_folder(&self, dir: &Path) -> Result<PathBuf>;
}

/// [`Render`] by a report's own `to_json`, `table` and `save`.
macro_rules! render_by_own_methods {
    ($($report:ty),* $(,)?) => {$(
        impl Render for $report {
            fn json(&self) -> Result<String> {
                <$report>::to_json(self)
            }
            fn table_text(&self) -> String {
                <$report>::table(self)
            }
            fn save_folder(&self, dir: &Path) -> Result<PathBuf> {
                <$report>::save(self, dir)
            }
        }
    )*};
}

render_by_own_methods!(
    StoreReport,
    crate::shard_bench::ShardReport,
    crate::route_bench::RouteReport,
    crate::controller_bench::ControllerReport,
    crate::pipeline_bench::PipelineReport,
);

impl<R: Render> RunOutcome<R> {
    /// Renders `report` for stdout (its JSON object if `json`, else its table) and,
    /// unless `no_save`, writes its run folder under `out`.
    pub fn render(report: R, json: bool, no_save: bool, out: &Path) -> Result<Self> {
        let stdout = if json {
            report.json()?
        } else {
            report.table_text()
        };
        let saved = if no_save {
            None
        } else {
            Some(report.save_folder(out)?)
        };
        Ok(RunOutcome {
            report,
            stdout,
            saved,
        })
    }
}

/// The note a report carries when its run was profiled (`--flamegraph path`):
/// `tail` ends the sentence.
pub fn profile_note(path: &Path, tail: &str) -> String {
    format!(
        "Profiled with pprof at {PROFILE_HZ} Hz (flamegraph: {}){tail}",
        path.display()
    )
}

/// pprof's sampling frequency for `--flamegraph`.
pub const PROFILE_HZ: i32 = 999;

/// `--flamegraph`: pprof samples the whole process from [`Profiler::start`] until
/// [`Profiler::finish`] writes the flamegraph.
pub struct Profiler {
    guard: pprof::ProfilerGuard<'static>,
    path: PathBuf,
}

impl Profiler {
    /// Starts sampling at [`PROFILE_HZ`] when a flamegraph `path` is given.
    pub fn start(path: Option<&Path>) -> Result<Option<Profiler>> {
        let Some(path) = path else {
            return Ok(None);
        };
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(PROFILE_HZ)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .context("starting the pprof profiler")?;
        Ok(Some(Profiler {
            guard,
            path: path.to_path_buf(),
        }))
    }

    /// Builds the profile sampled so far, writes it to the path as a flamegraph SVG
    /// (creating its folder), and stops sampling.
    pub fn finish(self) -> Result<()> {
        let path = &self.path;
        let report = self
            .guard
            .report()
            .build()
            .context("building the pprof report")?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        report
            .flamegraph(std::io::BufWriter::new(file))
            .with_context(|| format!("writing the flamegraph to {}", path.display()))
    }
}

/// A fixed [`RunInfo`] of `command` for the reports' unit tests.
#[cfg(test)]
pub(crate) fn test_run_info(command: &str) -> RunInfo {
    RunInfo {
        base: kubesim_loadgen::output::RunInfo {
            command: command.into(),
            rustc: "rustc 1.85.0".into(),
            git: "abc1234".into(),
            nproc: 2,
            cpu: "test cpu".into(),
            date: "2026-01-01T00:00:00Z".into(),
            stamp: "20260101-000000".into(),
        },
        kube_runtime: "0.0.0".into(),
        k8s_openapi: "0.0.0".into(),
        loadavg: "0.00 0.00 0.00".into(),
    }
}

mod chart {
    use std::collections::BTreeMap;

    use anyhow::Result;
    use plotters::coord::ranged1d::SegmentValue;
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    use super::plot::{self, err, legend_box, legend_swatch};
    use super::{thousands, Meta, PairedRatio, TargetResult, MEMORY};

    const PASS: RGBColor = RGBColor(46, 139, 87);
    const MISS: RGBColor = RGBColor(205, 92, 92);
    const NO_TARGET: RGBColor = RGBColor(70, 110, 170);

    pub(super) fn ratio_chart(
        ratios: &[(&str, f64)],
        ranges: &BTreeMap<String, PairedRatio>,
        targets: &BTreeMap<String, TargetResult>,
        meta: &Meta,
    ) -> Result<String> {
        plot::svg((900, 520), |root| {
            let values: Vec<f64> = ratios
                .iter()
                .map(|(_, v)| *v)
                .chain(ranges.values().flat_map(|r| [r.paired_p25, r.paired_p75]))
                .chain(
                    targets
                        .values()
                        .filter(|t| t.metric == "ratio")
                        .map(|t| t.threshold),
                )
                .filter(|v| v.is_finite() && *v > 0.0)
                .collect();
            let lo = values.iter().copied().fold(1.0f64, f64::min) / 2.0;
            let hi = values.iter().copied().fold(1.0f64, f64::max) * 3.0;
            let n = ratios.len().max(1);
            let title = format!(
                "kubesim ÷ kube-rs reflector, {} pods (log scale; higher is better for kubesim)",
                thousands(meta.pods as u64)
            );
            let mut chart = ChartBuilder::on(root)
                .caption(title, ("sans-serif", 18))
                .margin(16)
                .x_label_area_size(50)
                .y_label_area_size(60)
                .build_cartesian_2d((0..n).into_segmented(), (lo..hi).log_scale())
                .map_err(err)?;
            let names: Vec<String> = ratios
                .iter()
                .map(|(k, _)| {
                    if *k == MEMORY {
                        "memory".to_string()
                    } else {
                        k.to_string()
                    }
                })
                .collect();
            chart
                .configure_mesh()
                .disable_x_mesh()
                .y_desc("kubesim ÷ kube-rs (×)")
                .x_desc(
                    "median over interleaved pairs of kube-rs ns/op ÷ kubesim ns/op (whisker: \
                     p25–p75); memory: kube-rs B/pod ÷ kubesim B/pod",
                )
                .x_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                        names.get(*i).cloned().unwrap_or_default()
                    }
                    SegmentValue::Last => String::new(),
                })
                .y_label_formatter(&|v| format!("{v}×"))
                .draw()
                .map_err(err)?;

            // Parity line.
            chart
                .draw_series(LineSeries::new(
                    [(SegmentValue::Exact(0), 1.0), (SegmentValue::Last, 1.0)],
                    BLACK.mix(0.4).stroke_width(1),
                ))
                .map_err(err)?
                .label("parity (1×)")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.4)));

            let label_font = |size: u32| {
                ("sans-serif", size)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Bottom))
            };
            for (i, (name, value)) in ratios.iter().enumerate() {
                // The memory bar is coloured by kubesim's own bytes-per-pod target.
                let target = if *name == MEMORY {
                    targets.get("kubesim-bytes-per-pod")
                } else {
                    targets.get(*name)
                };
                let color = match target {
                    Some(t) if t.pass => PASS,
                    Some(_) => MISS,
                    None => NO_TARGET,
                };
                let v = value.max(lo);
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), lo),
                        (SegmentValue::Exact(i + 1), v),
                    ],
                    color.filled(),
                );
                bar.set_margin(0, 0, 18, 18);
                chart.draw_series([bar]).map_err(err)?;
                // Whisker: the 25th–75th percentiles of the ratio over pairs of runs.
                let mut label_at = v;
                if let Some(r) = ranges.get(*name) {
                    let (p25, p75) = (r.paired_p25.max(lo), r.paired_p75.max(lo));
                    let at = SegmentValue::CenterOf(i);
                    chart
                        .draw_series([PathElement::new(
                            [(at.clone(), p25), (at, p75)],
                            BLACK.mix(0.7).stroke_width(2),
                        )])
                        .map_err(err)?;
                    label_at = label_at.max(p75);
                }
                chart
                    .draw_series([Text::new(
                        format!("{value:.2}×"),
                        (SegmentValue::CenterOf(i), label_at * 1.04),
                        label_font(14),
                    )])
                    .map_err(err)?;
                match target {
                    Some(t) if t.metric == "ratio" => {
                        chart
                            .draw_series([PathElement::new(
                                [
                                    (SegmentValue::Exact(i), t.threshold),
                                    (SegmentValue::Exact(i + 1), t.threshold),
                                ],
                                BLACK.stroke_width(3),
                            )])
                            .map_err(err)?;
                    }
                    Some(t) => {
                        chart
                            .draw_series([Text::new(
                                format!("kubesim {:.0} B/pod ({})", t.value, t.goal),
                                (SegmentValue::CenterOf(i), v * 1.45),
                                label_font(11),
                            )])
                            .map_err(err)?;
                    }
                    None => {}
                }
            }
            // Legend entries for the colours and the target mark.
            for (label, color) in [
                ("target met", PASS),
                ("target missed", MISS),
                ("no target", NO_TARGET),
            ] {
                legend_swatch(&mut chart, label, color)?;
            }
            chart
                .draw_series(std::iter::empty::<PathElement<(SegmentValue<usize>, f64)>>())
                .map_err(err)?
                .label("p25–p75 over pairs")
                .legend(|(x, y)| {
                    PathElement::new([(x + 8, y - 6), (x + 8, y + 6)], BLACK.mix(0.7))
                });
            chart
                .draw_series(std::iter::empty::<PathElement<(SegmentValue<usize>, f64)>>())
                .map_err(err)?
                .label("target")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.stroke_width(3)));
            legend_box(&mut chart, SeriesLabelPosition::UpperRight)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store_bench::impls::ImplId;
    use crate::store_bench::measure::Interleaved;
    use crate::store_bench::memory::MemoryProbe;

    fn run_info() -> RunInfo {
        test_run_info("kubesim bench store")
    }

    fn sample(which: ImplId, bytes_per_pod: f64) -> MemorySample {
        MemorySample {
            impl_name: which.as_str().into(),
            pods: 2_000,
            apps: 100,
            watch_window: None,
            rss_before_bytes: 0,
            rss_after_bytes: (bytes_per_pod * 2_000.0) as u64,
            bytes_per_pod,
            isolated: true,
            breakdown: None,
        }
    }

    /// A result whose `get` pairs drift (kube-rs's fast runs meet kubesim's slow ones),
    /// so the paired median and the ratio of medians differ.
    fn synthetic() -> (StoreBenchConfig, StoreBenchResult) {
        let cfg = StoreBenchConfig::new(2_000, 100, 2_000, true, MemoryProbe::InProcess).unwrap();
        let mut rows = Vec::new();
        let mut ratios = BTreeMap::new();
        for (i, wl) in WORKLOADS.into_iter().enumerate() {
            let m = if wl == "get" {
                // Pair ratios 1.5, 1.5, 1.5, 0.25, 0.25: paired median 1.5; medians
                // kubesim 100, kube-rs 150 ns/op → 1.5 too; kube-rs p25..p75 100..150.
                Interleaved::from_pairs(
                    10,
                    10,
                    &[100.0, 100.0, 100.0, 400.0, 400.0],
                    &[150.0, 150.0, 150.0, 100.0, 100.0],
                )
            } else {
                let k = (i + 2) as f64;
                Interleaved::from_pairs(
                    10,
                    10,
                    &[10.0, 11.0, 12.0],
                    &[10.0 * k, 13.0 * k, 12.0 * k],
                )
            };
            rows.push(Row::new(wl, ImplId::Kubesim, m.a));
            rows.push(Row::new(wl, ImplId::KubeRs, m.b));
            ratios.insert(wl.to_string(), m.ratio);
        }
        let result = StoreBenchResult {
            rows,
            ratios,
            memory: MemoryReport {
                kubesim: sample(ImplId::Kubesim, 400.0),
                kubesim_like_for_like: sample(ImplId::Kubesim, 400.0),
                kube_rs: sample(ImplId::KubeRs, 8_000.0),
            },
            checks: vec![],
            selectors: vec![],
        };
        (cfg, result)
    }

    #[test]
    fn ratios_are_paired_medians_with_ranges_beside_them() {
        let (cfg, result) = synthetic();
        let r = StoreReport::new(&cfg, result, run_info());
        let get = r.ratio_ranges["get"];
        assert_eq!(r.ratios["get"], get.paired_median);
        assert_eq!(get.paired_median, 1.5);
        assert_eq!(get.paired_p25, 0.25);
        assert_eq!(get.paired_p75, 1.5);
        assert_eq!(get.of_medians, 1.5);
        assert_eq!(get.pairs, 5);
        assert!(r.targets["get"].pass); // ≥ 1×, judged on the paired median
                                        // upsert (i = 0): pair ratios 2, 2.36…, 2 → paired median 2; medians 11 vs 24.
        assert_eq!(r.ratios["upsert"], 2.0);
        assert!((r.ratio_ranges["upsert"].of_medians - 24.0 / 11.0).abs() < 1e-12);
        assert_eq!(r.targets["mixed-2t"].value, 6.0); // i = 4: every pair 6×
        assert_eq!(r.ratios[MEMORY], 20.0);
        assert!(!r.ratio_ranges.contains_key(MEMORY));
        assert_eq!(r.meta.method, METHOD);

        let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        let row = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["workload"] == "get" && x["impl"] == "kube-rs")
            .unwrap();
        assert_eq!(row["ns_per_op"], 150.0);
        assert_eq!(row["ns_per_op_p25"], 100.0);
        assert_eq!(row["ns_per_op_p75"], 150.0);
        assert_eq!(row["ops_per_sec"], 1e9 / 150.0);
        assert_eq!(v["ratios"]["get"], 1.5);
        assert_eq!(v["ratio_ranges"]["get"]["paired_p25"], 0.25);
        assert_eq!(v["ratio_ranges"]["get"]["of_medians"], 1.5);
    }

    #[test]
    fn csv_table_and_summary_show_the_spread_and_the_method() {
        let (cfg, result) = synthetic();
        let r = StoreReport::new(&cfg, result, run_info());
        let csv = r.rows_csv();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("workload,impl,ops_per_sec,ns_per_op,ns_per_op_p25,ns_per_op_p75,runs,ops_per_run,pods")
        );
        assert!(
            csv.contains("\nget,kube-rs,6666666.7,150.00,100.00,150.00,5,10,2000\n"),
            "{csv}"
        );
        let table = r.table();
        assert!(table.contains("interleaved ABAB, paired ratio = median over pairs"));
        assert!(table.contains("0.25–1.50×"), "{table}");
        assert!(table.contains("100.0–150.0"), "{table}");
        let md = r.summary_md();
        for needle in [
            "Method: interleaved ABAB, paired ratio = median over pairs",
            "| get | 1.50× | 0.25–1.50× | 1.50× | 5 | ≥ 1× | pass |",
            "| get | kube-rs | 6.67 M | 150.0 | 100.0 | 150.0 | 5 | 10 |",
            "| memory (kube-rs ÷ kubesim B/pod) | 20.00× | — | — | — |",
        ] {
            assert!(md.contains(needle), "summary lacks {needle:?}:\n{md}");
        }
        let svg = r.svg().unwrap();
        assert!(svg.contains("p25–p75 over pairs"));
    }

    #[test]
    fn number_formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(si(1_234_567.0), "1.23 M");
        assert_eq!(si(12_300.0), "12.30 k");
        assert_eq!(si(12.0), "12.0");
    }
}
