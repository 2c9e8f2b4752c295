//! Strict parsing of scenario files (SCENARIOS.md): every unknown key, unknown step
//! name or malformed value is a [`ScenarioError`] naming the file, the step number
//! (1-based) and the key. Manifests applied without `expect-error` are loaded here
//! too, so an invalid manifest stops the run before its first step.

use std::fmt;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kubesim_core::cluster::{ClusterConfig, NodeConfig, NodeSpecs};
use kubesim_core::dns::RecordType;
use kubesim_core::intern::intern;
use kubesim_core::manifest;
use kubesim_core::model::{Kind, NodeCapacity, Object, PropagationPolicy, Taint, TaintEffect};
use kubesim_core::quantity::{parse_bytes, parse_cpu_millis};
use kubesim_core::selector::LabelSelector;
use kubesim_core::time::parse_duration;
use serde_json::Value as Json;
use serde_yaml_ng::{Mapping, Value};

use crate::kubectl::FieldPath;

/// A scenario that cannot run: the file, the step (1-based; `None` outside `steps`),
/// the key (dotted, as written) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The scenario file.
    pub file: String,
    /// The step number, 1-based.
    pub step: Option<usize>,
    /// The key, dotted (`wait.until.fields`).
    pub key: String,
    /// Why.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(n) = self.step {
            write!(f, ": step {n}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// A parsed scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file it was read from.
    pub file: PathBuf,
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// The `cluster:` keys.
    pub cluster: ClusterConfig,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step.
#[derive(Clone, Debug)]
pub struct Step {
    /// 1-based.
    pub number: usize,
    /// The step as written, on one line (for the report).
    pub text: String,
    /// `namespace` (default `default`).
    pub namespace: String,
    /// What to do.
    pub action: Action,
}

/// `kind/name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The kind.
    pub kind: Kind,
    /// The name.
    pub name: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.name().to_ascii_lowercase(), self.name)
    }
}

/// The objects a `label`, `annotate` or `delete` step acts on.
#[derive(Clone, Debug)]
pub enum Selection {
    /// `target: kind/name`.
    One(Target),
    /// `kind: k, selector: "…"`: every match.
    Matching {
        /// The kind.
        kind: Kind,
        /// The selector.
        selector: LabelSelector,
    },
}

/// Where an `apply` reads its manifests.
#[derive(Clone, Debug)]
pub enum Source {
    /// A file or a folder (every `*.yaml`/`*.yml`, sorted), resolved against the
    /// scenario's folder.
    Path(PathBuf),
    /// YAML text.
    Inline(String),
}

/// An `apply` or `create` step.
#[derive(Clone, Debug)]
pub struct ApplyStep {
    /// The manifests.
    pub sources: Vec<Source>,
    /// `create`: AlreadyExists is an error.
    pub create: bool,
    /// `expect-error`: the rejection must contain this text.
    pub expect_error: Option<String>,
    /// `namespace` given on the step (kubectl's `-n`).
    pub namespace: Option<String>,
    /// The objects, loaded at parse time (steps without `expect-error`).
    pub objects: Option<Vec<Object>>,
}

/// `rollout` operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RolloutOp {
    /// `undo` (with `to-revision`).
    Undo(Option<i64>),
    /// `pause`.
    Pause,
    /// `resume`.
    Resume,
}

/// A node named directly or through a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeRef {
    /// The node's name.
    Name(String),
    /// `node-of: pod/<name>`: the node that pod is bound to.
    NodeOf(Target),
}

/// A condition (for `expect` and `wait`).
#[derive(Clone, Debug)]
pub struct Condition {
    /// The kind.
    pub kind: Kind,
    /// One named object (`kind/name`).
    pub name: Option<String>,
    /// Namespace (default: the step's).
    pub namespace: Option<String>,
    /// `selector`.
    pub selector: Option<LabelSelector>,
    /// `where`.
    pub where_: Vec<(String, FieldPath, Json)>,
    /// `count`.
    pub count: Option<usize>,
    /// `names`.
    pub names: Option<Vec<String>>,
    /// `fields`.
    pub fields: Vec<(String, FieldPath, Json)>,
}

/// How traffic reaches the Service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The ClusterIP (default).
    ClusterIp,
    /// A NodePort on the nodes' addresses.
    NodePort,
    /// The LoadBalancer ingress IP.
    LoadBalancer,
}

/// The Service a traffic step addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceRef {
    /// By name.
    Name(String),
    /// `ip:port`.
    Addr(SocketAddrV4),
}

/// A service port named or numbered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortSel {
    /// Number.
    Number(u16),
    /// Name.
    Name(String),
}

/// `traffic.expect`.
#[derive(Clone, Debug, Default)]
pub struct TrafficExpect {
    /// `errors`.
    pub errors: Option<usize>,
    /// `endpoints`.
    pub endpoints: Option<usize>,
    /// `max-share`.
    pub max_share: Option<f64>,
    /// `sticky`.
    pub sticky: Option<bool>,
    /// `served-by.selector`.
    pub served_by: Option<LabelSelector>,
}

/// A traffic step.
#[derive(Clone, Debug)]
pub struct Traffic {
    /// `service`.
    pub service: ServiceRef,
    /// `port`.
    pub port: Option<PortSel>,
    /// `via`.
    pub via: Via,
    /// `requests`.
    pub requests: usize,
    /// `clients` (default 1).
    pub clients: usize,
    /// `expect`.
    pub expect: TrafficExpect,
}

/// A dns step.
#[derive(Clone, Debug)]
pub struct Dns {
    /// `query`.
    pub query: String,
    /// `type`.
    pub qtype: RecordType,
    /// `expect.count`.
    pub count: Option<usize>,
    /// `expect.answers`.
    pub answers: Option<Vec<String>>,
}

/// What a step does.
#[derive(Clone, Debug)]
pub enum Action {
    /// `apply` / `create`.
    Apply(ApplyStep),
    /// `scale`.
    Scale {
        /// Target.
        target: Target,
        /// Replicas.
        replicas: i32,
    },
    /// `set-image`.
    SetImage {
        /// Target.
        target: Target,
        /// Container name.
        container: String,
        /// Image.
        image: String,
    },
    /// `annotate` (`label: false`) or `label`.
    Meta {
        /// Labels (true) or annotations.
        label: bool,
        /// Which objects.
        selection: Selection,
        /// Keys to set.
        set: Vec<(String, String)>,
        /// Keys to remove.
        remove: Vec<String>,
    },
    /// `rollout`.
    Rollout {
        /// Target.
        target: Target,
        /// Operation.
        op: RolloutOp,
    },
    /// `delete`.
    Delete {
        /// Which objects.
        selection: Selection,
        /// `cascade`.
        cascade: PropagationPolicy,
        /// `grace-period` as kubectl sends it: 0 only with `force` (kubectl sends 1
        /// for a bare `--grace-period=0`), 0 for `force` alone.
        grace_period: Option<i64>,
        /// `force`.
        force: bool,
    },
    /// `fail-node`.
    FailNode(NodeRef),
    /// `recover-node`.
    RecoverNode(NodeRef),
    /// `add-node`.
    AddNode(NodeConfig),
    /// `remove-node`.
    RemoveNode(NodeRef),
    /// `advance`.
    Advance(Duration),
    /// `wait`.
    Wait {
        /// `until`.
        until: Condition,
        /// `timeout`.
        timeout: Duration,
    },
    /// `expect`.
    Expect(Condition),
    /// `load`.
    Load {
        /// Target.
        target: Target,
        /// `cpu-percent`.
        cpu_percent: f64,
    },
    /// `traffic`.
    Traffic(Traffic),
    /// `dns`.
    Dns(Dns),
    /// `get`.
    Get {
        /// The kind.
        kind: Kind,
        /// One object, when `kind/name`.
        name: Option<String>,
        /// `selector`.
        selector: Option<LabelSelector>,
        /// `show-labels`.
        show_labels: bool,
    },
}

/// The step names SCENARIOS.md defines.
pub const STEP_NAMES: [&str; 20] = [
    "apply",
    "create",
    "scale",
    "set-image",
    "annotate",
    "label",
    "rollout",
    "delete",
    "fail-node",
    "recover-node",
    "add-node",
    "remove-node",
    "advance",
    "wait",
    "expect",
    "load",
    "traffic",
    "dns",
    "get",
    "namespace",
];

/// Error context: the file and the step.
struct Cx<'a> {
    file: &'a str,
    dir: &'a Path,
    step: Option<usize>,
}

type R<T> = Result<T, ScenarioError>;

impl Cx<'_> {
    fn err(&self, key: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_string(),
            step: self.step,
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn map<'v>(&self, v: &'v Value, key: &str) -> R<&'v Mapping> {
        v.as_mapping()
            .ok_or_else(|| self.err(key, format!("expected a mapping, found {}", kind_of(v))))
    }

    /// The mapping's entries as (key, value), rejecting non-string and unknown keys.
    fn entries<'v>(
        &self,
        m: &'v Mapping,
        key: &str,
        allowed: &[&str],
    ) -> R<Vec<(&'v str, &'v Value)>> {
        let mut out = Vec::new();
        for (k, v) in m {
            let Some(k) = k.as_str() else {
                return Err(self.err(key, format!("keys must be strings, found {}", kind_of(k))));
            };
            if !allowed.contains(&k) {
                return Err(self.err(
                    &join(key, k),
                    format!("unknown key (expected one of: {})", allowed.join(", ")),
                ));
            }
            out.push((k, v));
        }
        Ok(out)
    }

    fn string(&self, v: &Value, key: &str) -> R<String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.err(key, format!("expected a string, found {}", kind_of(other)))),
        }
    }

    /// A scalar rendered as a string (label values such as `true` or `3`).
    fn scalar(&self, v: &Value, key: &str) -> R<String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(self.err(key, format!("expected a string, found {}", kind_of(other)))),
        }
    }

    fn uint(&self, v: &Value, key: &str) -> R<u64> {
        v.as_u64().ok_or_else(|| {
            self.err(
                key,
                format!("expected a non-negative integer, found {}", show(v)),
            )
        })
    }

    fn boolean(&self, v: &Value, key: &str) -> R<bool> {
        v.as_bool()
            .ok_or_else(|| self.err(key, format!("expected true or false, found {}", show(v))))
    }

    fn duration(&self, v: &Value, key: &str) -> R<Duration> {
        let Value::String(s) = v else {
            return Err(self.err(
                key,
                format!(
                    "expected a duration such as 30s, 5m or 500ms, found {}",
                    show(v)
                ),
            ));
        };
        parse_duration(s).map_err(|e| self.err(key, format!("bad duration {s:?}: {e}")))
    }

    fn strings(&self, v: &Value, key: &str) -> R<Vec<String>> {
        match v {
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, x)| self.scalar(x, &format!("{key}[{i}]")))
                .collect(),
            other => Err(self.err(key, format!("expected a list, found {}", kind_of(other)))),
        }
    }

    fn pairs(&self, v: &Value, key: &str) -> R<Vec<(String, String)>> {
        let m = self.map(v, key)?;
        let mut out = Vec::new();
        for (k, v) in m {
            let k = self.scalar(k, key)?;
            let val = self.scalar(v, &join(key, &k))?;
            out.push((k, val));
        }
        Ok(out)
    }

    fn kind(&self, name: &str, key: &str) -> R<Kind> {
        Kind::from_kubectl_name(name).ok_or_else(|| self.err(key, format!("unknown kind {name:?}")))
    }

    fn target(&self, v: &Value, key: &str) -> R<Target> {
        let s = self.string(v, key)?;
        let Some((kind, name)) = s.split_once('/') else {
            return Err(self.err(key, format!("expected kind/name, found {s:?}")));
        };
        if name.is_empty() || name.contains('/') {
            return Err(self.err(key, format!("expected kind/name, found {s:?}")));
        }
        Ok(Target {
            kind: self.kind(kind, key)?,
            name: name.to_string(),
        })
    }

    fn selector(&self, v: &Value, key: &str) -> R<LabelSelector> {
        let s = self.string(v, key)?;
        LabelSelector::parse(&s).map_err(|e| self.err(key, format!("bad selector {s:?}: {e}")))
    }

    fn path(&self, p: &str, key: &str) -> R<FieldPath> {
        FieldPath::parse(p).map_err(|e| self.err(key, format!("bad field path: {e}")))
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => kind_of(other).to_string(),
    }
}

/// A YAML value on one line, in flow style (`{target: pods, count: 3}`).
pub fn flow(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.contains('\n') => {
            // Inline manifests: the first line and the size, not the whole text.
            let first = s.lines().next().unwrap_or_default();
            let n = s.lines().count();
            format!("\"{}\\n… ({n} lines)\"", first.replace('"', "\\\""))
        }
        Value::String(s) => {
            let plain = !s.is_empty()
                && !s.contains([':', '{', '}', '[', ']', ',', '"', '\'', '\n', '#', '&', '*'])
                && s.trim() == s
                && matches!(serde_yaml_ng::from_str::<Value>(s), Ok(Value::String(_)));
            if plain {
                s.clone()
            } else {
                format!("{s:?}")
            }
        }
        Value::Sequence(items) => {
            let parts: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Mapping(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", flow(k), flow(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Tagged(t) => flow(&t.value),
    }
}

/// YAML → JSON for condition values (a number stays a number, a string a string).
fn to_json(v: &Value) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

/// Reads and parses a scenario file.
///
/// # Errors
///
/// [`ScenarioError`] naming the file, step and key.
pub fn parse_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        step: None,
        key: String::new(),
        message: format!("cannot read the file: {e}"),
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse_str(&text, &file, dir)
}

/// Parses a scenario's text; `file` names it in errors, `dir` resolves its paths.
///
/// # Errors
///
/// [`ScenarioError`] naming the file, step and key.
pub fn parse_str(text: &str, file: &str, dir: &Path) -> Result<Scenario, ScenarioError> {
    let cx = Cx {
        file,
        dir,
        step: None,
    };
    let root: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| cx.err("", format!("not a YAML document: {e}")))?;
    let root = cx.map(&root, "")?;
    let entries = cx.entries(root, "", &["name", "description", "cluster", "steps"])?;
    let mut name = None;
    let mut description = None;
    let mut cluster = ClusterConfig::default();
    let mut steps_v = None;
    for (k, v) in entries {
        match k {
            "name" => name = Some(cx.string(v, k)?),
            "description" => description = Some(cx.string(v, k)?),
            "cluster" => cluster = parse_cluster(&cx, v)?,
            _ => steps_v = Some(v),
        }
    }
    let name = name.ok_or_else(|| cx.err("name", "required key missing"))?;
    if name.trim().is_empty() {
        return Err(cx.err("name", "must not be empty"));
    }
    let mut steps = Vec::new();
    match steps_v {
        None | Some(Value::Null) => {}
        Some(Value::Sequence(items)) => {
            for (i, item) in items.iter().enumerate() {
                let cx = Cx {
                    file,
                    dir,
                    step: Some(i + 1),
                };
                steps.push(parse_step(&cx, item)?);
            }
        }
        Some(other) => {
            return Err(cx.err(
                "steps",
                format!("expected a list, found {}", kind_of(other)),
            ))
        }
    }
    Ok(Scenario {
        file: PathBuf::from(file),
        name,
        description,
        cluster,
        steps,
    })
}

fn parse_cluster(cx: &Cx, v: &Value) -> R<ClusterConfig> {
    let mut c = ClusterConfig::default();
    if v.is_null() {
        return Ok(c);
    }
    let m = cx.map(v, "cluster")?;
    let allowed = [
        "nodes",
        "pod-startup",
        "readiness-delay",
        "image-pull",
        "unpullable-images",
        "node-monitor-grace-period",
        "default-toleration-seconds",
        "termination-grace-period",
        "storage-class",
        "seed",
    ];
    for (k, v) in cx.entries(m, "cluster", &allowed)? {
        let key = join("cluster", k);
        match k {
            "nodes" => {
                c.nodes = match v {
                    Value::Sequence(items) => NodeSpecs::List(
                        items
                            .iter()
                            .enumerate()
                            .map(|(i, n)| parse_node(cx, n, &format!("{key}[{i}]")))
                            .collect::<R<_>>()?,
                    ),
                    _ => NodeSpecs::Count(cx.uint(v, &key)? as usize),
                }
            }
            "pod-startup" => c.pod_startup = cx.duration(v, &key)?,
            "readiness-delay" => c.readiness_delay = cx.duration(v, &key)?,
            "image-pull" => c.image_pull = cx.duration(v, &key)?,
            "unpullable-images" => c.unpullable_images = cx.strings(v, &key)?,
            "node-monitor-grace-period" => c.node_monitor_grace_period = cx.duration(v, &key)?,
            "default-toleration-seconds" => c.default_toleration_seconds = cx.uint(v, &key)?,
            "termination-grace-period" => c.termination_grace_period = cx.duration(v, &key)?,
            "storage-class" => c.storage_class = Some(cx.string(v, &key)?),
            _ => c.seed = cx.uint(v, &key)?,
        }
    }
    Ok(c)
}

fn parse_node(cx: &Cx, v: &Value, key: &str) -> R<NodeConfig> {
    let m = cx.map(v, key)?;
    let mut name = None;
    let mut node = NodeConfig::new("");
    for (k, v) in cx.entries(m, key, &["name", "labels", "capacity", "taints"])? {
        let key = join(key, k);
        match k {
            "name" => name = Some(cx.string(v, &key)?),
            "labels" => node.labels = cx.pairs(v, &key)?,
            "capacity" => node.capacity = parse_capacity(cx, v, &key)?,
            _ => {
                let Value::Sequence(items) = v else {
                    return Err(cx.err(&key, format!("expected a list, found {}", kind_of(v))));
                };
                for (i, t) in items.iter().enumerate() {
                    node.taints
                        .push(parse_taint(cx, t, &format!("{key}[{i}]"))?);
                }
            }
        }
    }
    node.name = name.ok_or_else(|| cx.err(&join(key, "name"), "required key missing"))?;
    if let Err(e) = kubesim_core::validation::dns1123_subdomain(&node.name) {
        return Err(cx.err(&join(key, "name"), e));
    }
    Ok(node)
}

fn parse_capacity(cx: &Cx, v: &Value, key: &str) -> R<NodeCapacity> {
    let m = cx.map(v, key)?;
    let mut cap = NodeCapacity::default();
    for (k, v) in cx.entries(m, key, &["cpu", "memory", "pods"])? {
        let key = join(key, k);
        let text = cx.scalar(v, &key)?;
        match k {
            "cpu" => {
                cap.resources.cpu_millis = parse_cpu_millis(&text).map_err(|e| cx.err(&key, e))?
            }
            "memory" => {
                cap.resources.memory_bytes = parse_bytes(&text).map_err(|e| cx.err(&key, e))?
            }
            _ => cap.pods = cx.uint(v, &key)? as i64,
        }
    }
    Ok(cap)
}

fn parse_taint(cx: &Cx, v: &Value, key: &str) -> R<Taint> {
    let m = cx.map(v, key)?;
    let mut tk = None;
    let mut value = None;
    let mut effect = None;
    for (k, v) in cx.entries(m, key, &["key", "value", "effect"])? {
        let key = join(key, k);
        match k {
            "key" => tk = Some(cx.string(v, &key)?),
            "value" => value = Some(cx.scalar(v, &key)?),
            _ => {
                let e = cx.string(v, &key)?;
                effect = Some(match e.as_str() {
                    "NoSchedule" => TaintEffect::NoSchedule,
                    "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
                    "NoExecute" => TaintEffect::NoExecute,
                    _ => {
                        return Err(cx.err(
                            &key,
                            format!(
                                "unknown effect {e:?} (NoSchedule, PreferNoSchedule, NoExecute)"
                            ),
                        ))
                    }
                });
            }
        }
    }
    Ok(Taint {
        key: intern(&tk.ok_or_else(|| cx.err(&join(key, "key"), "required key missing"))?),
        value: value.map(|v| intern(&v)),
        effect: effect.ok_or_else(|| cx.err(&join(key, "effect"), "required key missing"))?,
        time_added: None,
    })
}

/// The keys of a step's mapping value, with `namespace` allowed in every one.
fn step_map<'v>(
    cx: &Cx,
    v: &'v Value,
    key: &str,
    allowed: &[&str],
    ns: &mut Option<String>,
) -> R<Vec<(&'v str, &'v Value)>> {
    let m = cx.map(v, key)?;
    let mut all: Vec<&str> = allowed.to_vec();
    all.push("namespace");
    let mut out = Vec::new();
    for (k, v) in cx.entries(m, key, &all)? {
        if k == "namespace" {
            *ns = Some(cx.string(v, &join(key, k))?);
        } else {
            out.push((k, v));
        }
    }
    Ok(out)
}

fn required<T>(cx: &Cx, v: Option<T>, key: &str) -> R<T> {
    v.ok_or_else(|| cx.err(key, "required key missing"))
}

fn parse_step(cx: &Cx, v: &Value) -> R<Step> {
    let m = cx.map(v, "")?;
    let mut name = None;
    let mut ns: Option<String> = None;
    for (k, val) in cx.entries(m, "", &STEP_NAMES)? {
        if k == "namespace" {
            ns = Some(cx.string(val, k)?);
        } else if let Some((prev, _)) = name {
            return Err(cx.err(
                k,
                format!("a step has exactly one action, found {prev:?} and {k:?}"),
            ));
        } else {
            name = Some((k, val));
        }
    }
    let Some((step, val)) = name else {
        return Err(cx.err(
            "",
            format!(
                "a step needs an action (one of: {})",
                STEP_NAMES[..STEP_NAMES.len() - 1].join(", ")
            ),
        ));
    };
    let action = parse_action(cx, step, val, &mut ns)?;
    let namespace = ns.clone().unwrap_or_else(|| "default".to_string());
    if let Err(e) = kubesim_core::validation::dns1123_label(&namespace) {
        return Err(cx.err("namespace", e));
    }
    let mut action = action;
    if let Action::Apply(a) = &mut action {
        a.namespace = ns;
        if a.expect_error.is_none() {
            a.objects = Some(
                load_sources(cx.dir, &a.sources, a.namespace.as_deref())
                    .map_err(|e| cx.err(step, format!("invalid manifest: {e}")))?,
            );
        }
    }
    let mut text = format!("{step}: {}", flow(val));
    if let Some(ns) = m.get("namespace") {
        text.push_str(&format!(" (namespace: {})", flow(ns)));
    }
    Ok(Step {
        number: cx.step.unwrap_or(0),
        text,
        namespace,
        action,
    })
}

fn node_ref(cx: &Cx, v: &Value, key: &str, ns: &mut Option<String>) -> R<NodeRef> {
    if let Value::String(s) = v {
        return Ok(NodeRef::Name(s.clone()));
    }
    let entries = step_map(cx, v, key, &["name", "node-of"], ns)?;
    let mut out = None;
    for (k, v) in entries {
        let kk = join(key, k);
        let r = if k == "name" {
            NodeRef::Name(cx.string(v, &kk)?)
        } else {
            let t = cx.target(v, &kk)?;
            if t.kind != Kind::Pod {
                return Err(cx.err(&kk, format!("expected pod/<name>, found {t}")));
            }
            NodeRef::NodeOf(t)
        };
        if out.replace(r).is_some() {
            return Err(cx.err(key, "give either name or node-of"));
        }
    }
    required(cx, out, &join(key, "name"))
}

fn parse_selection(
    cx: &Cx,
    key: &str,
    target: Option<&Value>,
    kind: Option<&Value>,
    selector: Option<&Value>,
) -> R<Selection> {
    match (target, kind, selector) {
        (Some(t), None, None) => Ok(Selection::One(cx.target(t, &join(key, "target"))?)),
        (None, Some(k), Some(s)) => Ok(Selection::Matching {
            kind: cx.kind(&cx.string(k, &join(key, "kind"))?, &join(key, "kind"))?,
            selector: cx.selector(s, &join(key, "selector"))?,
        }),
        (Some(_), _, _) => Err(cx.err(key, "give either target, or kind and selector")),
        (None, _, None) => Err(cx.err(&join(key, "target"), "required key missing")),
        (None, None, Some(_)) => Err(cx.err(&join(key, "kind"), "required with selector")),
    }
}

fn parse_action(cx: &Cx, step: &str, v: &Value, ns: &mut Option<String>) -> R<Action> {
    let key = step;
    let k = |s: &str| join(key, s);
    Ok(match step {
        "apply" | "create" => {
            let mut a = ApplyStep {
                sources: Vec::new(),
                create: step == "create",
                expect_error: None,
                namespace: None,
                objects: None,
            };
            match v {
                Value::String(_) | Value::Sequence(_) => a.sources = paths(cx, v, key)?,
                _ => {
                    for (kk, val) in step_map(cx, v, key, &["file", "inline", "expect-error"], ns)?
                    {
                        match kk {
                            "file" => a.sources.extend(paths(cx, val, &k(kk))?),
                            "inline" => a.sources.push(Source::Inline(cx.string(val, &k(kk))?)),
                            _ => a.expect_error = Some(cx.scalar(val, &k(kk))?),
                        }
                    }
                    if a.sources.is_empty() {
                        return Err(cx.err(&k("file"), "required key missing (file or inline)"));
                    }
                }
            }
            Action::Apply(a)
        }
        "scale" => {
            let (mut t, mut r) = (None, None);
            for (kk, val) in step_map(cx, v, key, &["target", "replicas"], ns)? {
                match kk {
                    "target" => t = Some(cx.target(val, &k(kk))?),
                    _ => {
                        let n = cx.uint(val, &k(kk))?;
                        r = Some(i32::try_from(n).map_err(|_| cx.err(&k(kk), "too large"))?);
                    }
                }
            }
            Action::Scale {
                target: required(cx, t, &k("target"))?,
                replicas: required(cx, r, &k("replicas"))?,
            }
        }
        "set-image" => {
            let (mut t, mut c, mut i) = (None, None, None);
            for (kk, val) in step_map(cx, v, key, &["target", "container", "image"], ns)? {
                match kk {
                    "target" => t = Some(cx.target(val, &k(kk))?),
                    "container" => c = Some(cx.string(val, &k(kk))?),
                    _ => i = Some(cx.string(val, &k(kk))?),
                }
            }
            Action::SetImage {
                target: required(cx, t, &k("target"))?,
                container: required(cx, c, &k("container"))?,
                image: required(cx, i, &k("image"))?,
            }
        }
        "annotate" | "label" => {
            let (mut t, mut kind, mut sel) = (None, None, None);
            let (mut set, mut remove) = (Vec::new(), Vec::new());
            for (kk, val) in step_map(
                cx,
                v,
                key,
                &["target", "kind", "selector", "set", "remove"],
                ns,
            )? {
                match kk {
                    "target" => t = Some(val),
                    "kind" => kind = Some(val),
                    "selector" => sel = Some(val),
                    "set" => set = cx.pairs(val, &k(kk))?,
                    _ => remove = cx.strings(val, &k(kk))?,
                }
            }
            if set.is_empty() && remove.is_empty() {
                return Err(cx.err(&k("set"), "nothing to set or remove"));
            }
            Action::Meta {
                label: step == "label",
                selection: parse_selection(cx, key, t, kind, sel)?,
                set,
                remove,
            }
        }
        "rollout" => {
            let (mut op, mut t, mut rev) = (None, None, None);
            for (kk, val) in step_map(cx, v, key, &["undo", "pause", "resume", "to-revision"], ns)?
            {
                match kk {
                    "to-revision" => rev = Some(cx.uint(val, &k(kk))? as i64),
                    _ => {
                        if op.is_some() {
                            return Err(cx.err(&k(kk), "give one of undo, pause, resume"));
                        }
                        op = Some(kk);
                        t = Some(cx.target(val, &k(kk))?);
                    }
                }
            }
            let op = match required(cx, op, &k("undo"))? {
                "undo" => RolloutOp::Undo(rev),
                other if rev.is_some() => {
                    return Err(cx.err(&k("to-revision"), format!("only with undo, not {other}")))
                }
                "pause" => RolloutOp::Pause,
                _ => RolloutOp::Resume,
            };
            let target = t.expect("set with op");
            if target.kind != Kind::Deployment {
                return Err(cx.err(
                    key,
                    format!("rollout works on deployments here, not {target}"),
                ));
            }
            Action::Rollout { target, op }
        }
        "delete" => {
            let (mut t, mut kind, mut sel) = (None, None, None);
            let mut cascade = PropagationPolicy::Background;
            let (mut grace, mut force) = (None, false);
            for (kk, val) in step_map(
                cx,
                v,
                key,
                &[
                    "target",
                    "kind",
                    "selector",
                    "cascade",
                    "grace-period",
                    "force",
                ],
                ns,
            )? {
                match kk {
                    "target" => t = Some(val),
                    "kind" => kind = Some(val),
                    "selector" => sel = Some(val),
                    "cascade" => {
                        cascade = match cx.string(val, &k(kk))?.as_str() {
                            "background" | "true" => PropagationPolicy::Background,
                            "foreground" => PropagationPolicy::Foreground,
                            "orphan" | "false" => PropagationPolicy::Orphan,
                            other => {
                                return Err(cx.err(
                                    &k(kk),
                                    format!(
                                        "unknown cascade {other:?} (background, foreground, orphan)"
                                    ),
                                ))
                            }
                        }
                    }
                    "grace-period" => {
                        grace = Some(val.as_i64().ok_or_else(|| {
                            cx.err(&k(kk), format!("expected an integer, found {}", show(val)))
                        })?)
                    }
                    _ => force = cx.boolean(val, &k(kk))?,
                }
            }
            if force && grace.is_some_and(|g| g != 0) {
                return Err(cx.err(&k("force"), "force needs grace-period: 0 (or none)"));
            }
            Action::Delete {
                selection: parse_selection(cx, key, t, kind, sel)?,
                cascade,
                // kubectl turns --grace-period=0 without --force into 1 (no accidental
                // immediate deletion); --force alone means 0.
                grace_period: match (force, grace) {
                    (true, _) => Some(0),
                    (false, Some(0)) => Some(1),
                    (false, g) => g,
                },
                force,
            }
        }
        "fail-node" => Action::FailNode(node_ref(cx, v, key, ns)?),
        "recover-node" => Action::RecoverNode(node_ref(cx, v, key, ns)?),
        "remove-node" => Action::RemoveNode(node_ref(cx, v, key, ns)?),
        "add-node" => Action::AddNode(parse_node(cx, v, key)?),
        "advance" => Action::Advance(cx.duration(v, key)?),
        "wait" => {
            let (mut until, mut timeout) = (None, None);
            for (kk, val) in step_map(cx, v, key, &["until", "timeout"], ns)? {
                match kk {
                    "until" => until = Some(parse_condition(cx, val, &k(kk))?),
                    _ => timeout = Some(cx.duration(val, &k(kk))?),
                }
            }
            Action::Wait {
                until: required(cx, until, &k("until"))?,
                timeout: required(cx, timeout, &k("timeout"))?,
            }
        }
        "expect" => Action::Expect(parse_condition(cx, v, key)?),
        "load" => {
            let (mut t, mut p) = (None, None);
            for (kk, val) in step_map(cx, v, key, &["target", "cpu-percent"], ns)? {
                match kk {
                    "target" => t = Some(cx.target(val, &k(kk))?),
                    _ => {
                        p = Some(
                            val.as_f64()
                                .filter(|p| *p >= 0.0 && p.is_finite())
                                .ok_or_else(|| {
                                    cx.err(
                                        &k(kk),
                                        format!(
                                            "expected a non-negative number, found {}",
                                            show(val)
                                        ),
                                    )
                                })?,
                        )
                    }
                }
            }
            Action::Load {
                target: required(cx, t, &k("target"))?,
                cpu_percent: required(cx, p, &k("cpu-percent"))?,
            }
        }
        "traffic" => Action::Traffic(parse_traffic(cx, v, key, ns)?),
        "dns" => {
            let (mut q, mut t, mut count, mut answers) = (None, RecordType::A, None, None);
            for (kk, val) in step_map(cx, v, key, &["query", "type", "expect"], ns)? {
                match kk {
                    "query" => q = Some(cx.string(val, &k(kk))?),
                    "type" => {
                        t = cx
                            .string(val, &k(kk))?
                            .parse()
                            .map_err(|e: String| cx.err(&k(kk), e))?
                    }
                    _ => {
                        let m = cx.map(val, &k(kk))?;
                        for (ek, ev) in cx.entries(m, &k(kk), &["count", "answers"])? {
                            let ekey = join(&k(kk), ek);
                            if ek == "count" {
                                count = Some(cx.uint(ev, &ekey)? as usize);
                            } else {
                                answers = Some(cx.strings(ev, &ekey)?);
                            }
                        }
                    }
                }
            }
            Action::Dns(Dns {
                query: required(cx, q, &k("query"))?,
                qtype: t,
                count,
                answers,
            })
        }
        "get" => {
            let (mut target, mut sel, mut show_labels) = (None, None, false);
            for (kk, val) in step_map(cx, v, key, &["target", "selector", "show-labels"], ns)? {
                match kk {
                    "target" => target = Some(cx.string(val, &k(kk))?),
                    "selector" => sel = Some(cx.selector(val, &k(kk))?),
                    _ => show_labels = cx.boolean(val, &k(kk))?,
                }
            }
            let target = required(cx, target, &k("target"))?;
            let (kind, name) = match target.split_once('/') {
                Some((kd, n)) if !n.is_empty() => (kd, Some(n.to_string())),
                Some(_) => return Err(cx.err(&k("target"), "expected a kind or kind/name")),
                None => (target.as_str(), None),
            };
            Action::Get {
                kind: cx.kind(kind, &k("target"))?,
                name,
                selector: sel,
                show_labels,
            }
        }
        _ => unreachable!("namespace is handled by the caller"),
    })
}

fn paths(cx: &Cx, v: &Value, key: &str) -> R<Vec<Source>> {
    let list = match v {
        Value::String(s) => vec![s.clone()],
        _ => cx.strings(v, key)?,
    };
    if list.is_empty() {
        return Err(cx.err(key, "no file given"));
    }
    Ok(list
        .into_iter()
        .map(|p| Source::Path(cx.dir.join(p)))
        .collect())
}

fn parse_condition(cx: &Cx, v: &Value, key: &str) -> R<Condition> {
    let m = cx.map(v, key)?;
    let allowed = [
        "target",
        "namespace",
        "selector",
        "where",
        "count",
        "names",
        "fields",
    ];
    let mut c = Condition {
        kind: Kind::Pod,
        name: None,
        namespace: None,
        selector: None,
        where_: Vec::new(),
        count: None,
        names: None,
        fields: Vec::new(),
    };
    let mut target = None;
    for (k, v) in cx.entries(m, key, &allowed)? {
        let kk = join(key, k);
        match k {
            "target" => target = Some(cx.string(v, &kk)?),
            "namespace" => c.namespace = Some(cx.string(v, &kk)?),
            "selector" => c.selector = Some(cx.selector(v, &kk)?),
            "count" => c.count = Some(cx.uint(v, &kk)? as usize),
            "names" => c.names = Some(cx.strings(v, &kk)?),
            _ => {
                let map = cx.map(v, &kk)?;
                let mut out = Vec::new();
                for (pk, pv) in map {
                    let p = cx.scalar(pk, &kk)?;
                    let path = cx.path(&p, &join(&kk, &p))?;
                    out.push((p, path, to_json(pv)));
                }
                if k == "where" {
                    c.where_ = out;
                } else {
                    c.fields = out;
                }
            }
        }
    }
    let target = required(cx, target, &join(key, "target"))?;
    match target.split_once('/') {
        Some((kind, name)) => {
            if name.is_empty() || name.contains('/') {
                return Err(cx.err(
                    &join(key, "target"),
                    format!("expected a kind or kind/name, found {target:?}"),
                ));
            }
            c.kind = cx.kind(kind, &join(key, "target"))?;
            c.name = Some(name.to_string());
        }
        None => c.kind = cx.kind(&target, &join(key, "target"))?,
    }
    Ok(c)
}

fn parse_traffic(cx: &Cx, v: &Value, key: &str, ns: &mut Option<String>) -> R<Traffic> {
    let k = |s: &str| join(key, s);
    let mut t = Traffic {
        service: ServiceRef::Name(String::new()),
        port: None,
        via: Via::ClusterIp,
        requests: 0,
        clients: 1,
        expect: TrafficExpect::default(),
    };
    let mut service = None;
    let mut requests = None;
    for (kk, val) in step_map(
        cx,
        v,
        key,
        &["service", "port", "via", "requests", "clients", "expect"],
        ns,
    )? {
        let kkey = k(kk);
        match kk {
            "service" => {
                let s = cx.string(val, &kkey)?;
                service = Some(match s.parse::<SocketAddrV4>() {
                    Ok(a) => ServiceRef::Addr(a),
                    Err(_) => ServiceRef::Name(s),
                });
            }
            "port" => {
                t.port = Some(match val {
                    Value::String(s) => PortSel::Name(s.clone()),
                    _ => PortSel::Number(
                        u16::try_from(cx.uint(val, &kkey)?)
                            .map_err(|_| cx.err(&kkey, "not a port number"))?,
                    ),
                })
            }
            "via" => {
                t.via = match cx.string(val, &kkey)?.as_str() {
                    "cluster-ip" => Via::ClusterIp,
                    "node-port" => Via::NodePort,
                    "load-balancer" => Via::LoadBalancer,
                    other => {
                        return Err(cx.err(
                            &kkey,
                            format!("unknown via {other:?} (cluster-ip, node-port, load-balancer)"),
                        ))
                    }
                }
            }
            "requests" => requests = Some(cx.uint(val, &kkey)? as usize),
            "clients" => {
                t.clients = cx.uint(val, &kkey)? as usize;
                if t.clients == 0 || t.clients > 65_536 {
                    return Err(cx.err(&kkey, "must be between 1 and 65536"));
                }
            }
            _ => {
                let m = cx.map(val, &kkey)?;
                let allowed = ["errors", "endpoints", "max-share", "sticky", "served-by"];
                for (ek, ev) in cx.entries(m, &kkey, &allowed)? {
                    let ekey = join(&kkey, ek);
                    match ek {
                        "errors" => t.expect.errors = Some(cx.uint(ev, &ekey)? as usize),
                        "endpoints" => t.expect.endpoints = Some(cx.uint(ev, &ekey)? as usize),
                        "max-share" => {
                            t.expect.max_share =
                                Some(ev.as_f64().filter(|x| (0.0..=1.0).contains(x)).ok_or_else(
                                    || {
                                        cx.err(
                                            &ekey,
                                            format!(
                                                "expected a fraction between 0 and 1, found {}",
                                                show(ev)
                                            ),
                                        )
                                    },
                                )?)
                        }
                        "sticky" => t.expect.sticky = Some(cx.boolean(ev, &ekey)?),
                        _ => {
                            let sm = cx.map(ev, &ekey)?;
                            for (sk, sv) in cx.entries(sm, &ekey, &["selector"])? {
                                t.expect.served_by = Some(cx.selector(sv, &join(&ekey, sk))?);
                            }
                            if t.expect.served_by.is_none() {
                                return Err(
                                    cx.err(&join(&ekey, "selector"), "required key missing")
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    t.service = required(cx, service, &k("service"))?;
    t.requests = required(cx, requests, &k("requests"))?;
    Ok(t)
}

/// Loads the objects of an apply's sources, in order, all or nothing; with `namespace`
/// as `kubectl apply -n`.
///
/// # Errors
///
/// The first manifest error (file, document, object, field, reason).
pub fn load_sources(
    dir: &Path,
    sources: &[Source],
    namespace: Option<&str>,
) -> Result<Vec<Object>, String> {
    let load = |text: &str, label: &str| match namespace {
        Some(ns) => manifest::load_str_in_namespace(text, label, ns),
        None => manifest::load_str(text, label),
    };
    let mut out = Vec::new();
    for s in sources {
        match s {
            Source::Inline(text) => {
                out.extend(load(text, "inline").map_err(|e| e.to_string())?);
            }
            Source::Path(p) => {
                let files = if p.is_dir() {
                    let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                        .map_err(|e| format!("{}: cannot read the folder: {e}", p.display()))?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| {
                            f.is_file() && f.extension().is_some_and(|x| x == "yaml" || x == "yml")
                        })
                        .collect();
                    files.sort();
                    files
                } else {
                    vec![p.clone()]
                };
                for f in files {
                    let label = f.strip_prefix(dir).unwrap_or(&f).display().to_string();
                    let text = std::fs::read_to_string(&f)
                        .map_err(|e| format!("{label}: cannot read the file: {e}"))?;
                    out.extend(load(&text, &label).map_err(|e| e.to_string())?);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Scenario, ScenarioError> {
        parse_str(yaml, "t.yaml", Path::new("."))
    }

    /// The error of `yaml` names `step` and `key` and mentions `text`.
    fn check_err(yaml: &str, step: Option<usize>, key: &str, text: &str) {
        let e = parse(yaml).expect_err("should not parse");
        assert_eq!(e.file, "t.yaml");
        assert_eq!(e.step, step, "{e}");
        assert_eq!(e.key, key, "{e}");
        assert!(e.message.contains(text), "{e}");
    }

    #[test]
    fn full_cluster_and_every_step_parse() {
        let s = parse(
            r#"
name: all
description: every step
cluster:
  nodes:
    - name: node-a
      labels: {rng: hw, zone: a}
      capacity: {cpu: "4", memory: 8Gi, pods: 110}
      taints: [{key: k, value: v, effect: NoSchedule}]
  pod-startup: 2s
  readiness-delay: 500ms
  image-pull: 1s
  unpullable-images: [nginx:1.91]
  node-monitor-grace-period: 40s
  default-toleration-seconds: 60
  termination-grace-period: 10s
  storage-class: standard
  seed: 7
steps:
  - apply: {inline: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"}
  - create: {inline: "apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n"}
  - apply: {file: nothing.yaml, expect-error: "x"}
  - scale: {target: deploy/web, replicas: 4}
  - set-image: {target: deployment/web, container: web, image: "nginx:2"}
  - annotate: {target: deployment/web, set: {kubernetes.io/change-cause: "v2"}}
  - label: {target: node/node-a, set: {kiamol: ch06}, remove: [old]}
  - label: {kind: pod, selector: "app=web", set: {app: other}}
  - rollout: {undo: deployment/web, to-revision: 2}
  - rollout: {pause: deployment/web}
  - rollout: {resume: deployment/web}
  - delete: {target: pod/web-1}
  - delete: {kind: pod, selector: "app=web"}
  - delete: {target: daemonset/proxy, cascade: orphan}
  - delete: {target: pod/kubia-0, grace-period: 0, force: true}
  - fail-node: node-a
  - fail-node: {node-of: pod/kubia-0}
  - recover-node: node-a
  - add-node: {name: node-9, labels: {zone: b}}
  - remove-node: node-9
  - advance: 30s
  - wait: {until: {target: pods, count: 0}, timeout: 2m}
  - expect: {target: pods, selector: "app=x", where: {status.phase: Running}, names: [a], fields: {"status.conditions[type=Ready].status": "True"}}
  - load: {target: deployment/web, cpu-percent: 90}
  - traffic: {service: web, port: 80, via: node-port, requests: 10, clients: 2, expect: {errors: 0, endpoints: 1, max-share: 0.5, sticky: true, served-by: {selector: "app=web"}}}
  - traffic: {service: "10.96.0.10:80", requests: 1}
  - dns: {query: kubia.default.svc.cluster.local, type: SRV, expect: {count: 2, answers: ["a"]}}
  - get: {target: deployments, show-labels: true}
  - expect: {target: deployment/web, fields: {spec.replicas: 3}}
    namespace: other
"#,
        )
        .unwrap();
        assert_eq!(s.steps.len(), 29);
        assert_eq!(s.cluster.seed, 7);
        assert_eq!(s.cluster.pod_startup, Duration::from_secs(2));
        let NodeSpecs::List(nodes) = &s.cluster.nodes else {
            panic!("a node list")
        };
        assert_eq!(nodes[0].capacity.resources.memory_bytes, 8 << 30);
        assert_eq!(nodes[0].taints[0].effect, TaintEffect::NoSchedule);
        assert_eq!(s.steps[28].namespace, "other");
        assert!(matches!(
            &s.steps[11].action,
            Action::Delete {
                grace_period: None,
                force: false,
                ..
            }
        ));
        assert!(matches!(
            &s.steps[14].action,
            Action::Delete {
                grace_period: Some(0),
                force: true,
                ..
            }
        ));
        assert!(matches!(
            &s.steps[8].action,
            Action::Rollout {
                op: RolloutOp::Undo(Some(2)),
                ..
            }
        ));
        let Action::Traffic(t) = &s.steps[24].action else {
            panic!("traffic")
        };
        assert_eq!(t.via, Via::NodePort);
        assert_eq!(t.expect.max_share, Some(0.5));
        let Action::Traffic(t) = &s.steps[25].action else {
            panic!("traffic")
        };
        assert!(matches!(t.service, ServiceRef::Addr(_)));
        let Action::Apply(a) = &s.steps[0].action else {
            panic!("apply")
        };
        assert_eq!(a.objects.as_ref().map(Vec::len), Some(1));
        let Action::Apply(a) = &s.steps[2].action else {
            panic!("apply")
        };
        assert!(a.objects.is_none(), "expect-error applies load at run time");
    }

    #[test]
    fn errors_name_file_step_and_key() {
        check_err("steps: []\n", None, "name", "required");
        check_err("name: x\nbogus: 1\n", None, "bogus", "unknown key");
        check_err(
            "name: x\ncluster: {nodes: 2, speed: 3}\n",
            None,
            "cluster.speed",
            "unknown key",
        );
        check_err(
            "name: x\ncluster: {pod-startup: 5}\n",
            None,
            "cluster.pod-startup",
            "duration",
        );
        check_err(
            "name: x\ncluster: {nodes: [{name: a, labels: {}, cpu: 2}]}\n",
            None,
            "cluster.nodes[0].cpu",
            "unknown key",
        );
        check_err(
            "name: x\nsteps:\n- advance: 1s\n- jump: 2s\n",
            Some(2),
            "jump",
            "unknown key",
        );
        check_err(
            "name: x\nsteps:\n- advance: 10\n",
            Some(1),
            "advance",
            "duration",
        );
        check_err(
            "name: x\nsteps:\n- advance: 10 parsecs\n",
            Some(1),
            "advance",
            "bad duration",
        );
        check_err(
            "name: x\nsteps:\n- advance: 1s\n  wait: {until: {target: pods}, timeout: 1s}\n",
            Some(1),
            "wait",
            "exactly one action",
        );
        check_err(
            "name: x\nsteps:\n- wait: {until: {target: pods, colour: red}, timeout: 1s}\n",
            Some(1),
            "wait.until.colour",
            "unknown key",
        );
        check_err(
            "name: x\nsteps:\n- wait: {until: {target: pods}}\n",
            Some(1),
            "wait.timeout",
            "required",
        );
        check_err(
            "name: x\nsteps:\n- expect: {target: widgets, count: 1}\n",
            Some(1),
            "expect.target",
            "unknown kind",
        );
        check_err(
            "name: x\nsteps:\n- expect: {target: pods, fields: {\"a[\": 1}}\n",
            Some(1),
            "expect.fields.a[",
            "bad field path",
        );
        check_err(
            "name: x\nsteps:\n- expect: {target: pods, selector: \"app in (x\"}\n",
            Some(1),
            "expect.selector",
            "bad selector",
        );
        check_err(
            "name: x\nsteps:\n- scale: {target: web, replicas: 2}\n",
            Some(1),
            "scale.target",
            "kind/name",
        );
        check_err(
            "name: x\nsteps:\n- scale: {target: deploy/web, replicas: -1}\n",
            Some(1),
            "scale.replicas",
            "non-negative",
        );
        check_err(
            "name: x\nsteps:\n- delete: {target: pod/a, cascade: sideways}\n",
            Some(1),
            "delete.cascade",
            "unknown cascade",
        );
        check_err(
            "name: x\nsteps:\n- traffic: {service: web, requests: 3, via: carrier-pigeon}\n",
            Some(1),
            "traffic.via",
            "unknown via",
        );
        check_err(
            "name: x\nsteps:\n- traffic: {service: web, requests: 3, expect: {latency: 1}}\n",
            Some(1),
            "traffic.expect.latency",
            "unknown key",
        );
        check_err(
            "name: x\nsteps:\n- traffic: {service: web, requests: 3, expect: {max-share: 2}}\n",
            Some(1),
            "traffic.expect.max-share",
            "fraction",
        );
        check_err(
            "name: x\nsteps:\n- dns: {query: a.b, type: MX}\n",
            Some(1),
            "dns.type",
            "A or SRV",
        );
        check_err(
            "name: x\nsteps:\n- rollout: {pause: deployment/a, to-revision: 2}\n",
            Some(1),
            "rollout.to-revision",
            "only with undo",
        );
        check_err(
            "name: x\nsteps:\n- apply: missing-file.yaml\n",
            Some(1),
            "apply",
            "invalid manifest",
        );
        check_err(
            "name: x\nsteps:\n- apply: {inline: \"apiVersion: v1\\nkind: Pod\\nmetadata: {name: p}\\nspec: {containers: [{name: c}]}\\n\"}\n",
            Some(1),
            "apply",
            "image",
        );
    }

    #[test]
    fn apply_namespace_is_kubectl_dash_n() {
        let s = parse(
            "name: x\nsteps:\n- apply: {inline: \"apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: c}\\n\", namespace: team}\n",
        )
        .unwrap();
        let Action::Apply(a) = &s.steps[0].action else {
            panic!("apply")
        };
        assert_eq!(a.objects.as_ref().unwrap()[0].namespace().as_str(), "team");
        check_err(
            "name: x\nsteps:\n- apply: {inline: \"apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: c, namespace: a}\\n\", namespace: b}\n",
            Some(1),
            "apply",
            "does not match the namespace",
        );
    }

    #[test]
    fn grace_period_zero_needs_force() {
        let s = parse(
            "name: x\nsteps:\n- delete: {target: pod/a, grace-period: 0}\n- delete: {target: pod/a, force: true}\n- delete: {target: pod/a, grace-period: 5}\n",
        )
        .unwrap();
        let graces: Vec<Option<i64>> = s
            .steps
            .iter()
            .map(|st| match st.action {
                Action::Delete { grace_period, .. } => grace_period,
                _ => panic!("delete"),
            })
            .collect();
        assert_eq!(graces, [Some(1), Some(0), Some(5)]);
        check_err(
            "name: x\nsteps:\n- delete: {target: pod/a, grace-period: 5, force: true}\n",
            Some(1),
            "delete.force",
            "grace-period: 0",
        );
    }

    #[test]
    fn flow_is_one_line() {
        let v: Value = serde_yaml_ng::from_str(
            "{until: {target: pods, fields: {\"status.conditions[type=Ready].status\": \"True\"}}, timeout: 2m}",
        )
        .unwrap();
        assert_eq!(
            flow(&v),
            "{until: {target: pods, fields: {\"status.conditions[type=Ready].status\": \"True\"}}, timeout: 2m}"
        );
    }
}
