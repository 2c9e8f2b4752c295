use std::net::Ipv4Addr;
use std::sync::Arc;

use super::{ConditionStatus, ObjectMeta};
use crate::intern::{Str, StrMap};
use crate::time::Timestamp;

/// A pod.
#[derive(Clone, Debug, PartialEq)]
pub struct Pod {
    /// Metadata.
    pub meta: ObjectMeta,
    /// The spec, shared with the template the pod was made from.
    pub spec: Arc<PodSpec>,
    /// `spec.nodeName`: set by the scheduler's bind. Kept here, not in the shared spec.
    pub node_name: Option<Str>,
    /// Status, written by the scheduler and the kubelet.
    pub status: PodStatus,
}

/// Labels and annotations of a pod template (`template.metadata`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TemplateMeta {
    /// Template labels.
    pub labels: StrMap,
    /// Template annotations (the `kubesim.io/*` behaviour annotations live here).
    pub annotations: StrMap,
}

/// A pod template (`spec.template` of every workload).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PodTemplateSpec {
    /// `template.metadata`.
    pub meta: TemplateMeta,
    /// `template.spec`, shared with every pod made from it.
    pub spec: Arc<PodSpec>,
}

/// Container restart policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum RestartPolicy {
    /// Restart on any exit (the default).
    #[default]
    Always,
    /// Restart on a non-zero exit.
    OnFailure,
    /// Never restart.
    Never,
}

impl RestartPolicy {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Always => "Always",
            RestartPolicy::OnFailure => "OnFailure",
            RestartPolicy::Never => "Never",
        }
    }
}

/// Image pull policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PullPolicy {
    /// Pull only when the node lacks the image (the default for tagged images).
    #[default]
    IfNotPresent,
    /// Pull on every start (the default for `:latest` or untagged images).
    Always,
    /// Never pull.
    Never,
}

impl PullPolicy {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Always => "Always",
            PullPolicy::Never => "Never",
        }
    }
}

/// Network protocol of a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The API spelling (`"TCP"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }
}

/// A container port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerPort {
    /// Port name (IANA_SVC_NAME), referenced by a Service's `targetPort`.
    pub name: Option<Str>,
    /// The port the container listens on.
    pub container_port: i32,
    /// A host port it claims on its node (scheduler checks conflicts).
    pub host_port: Option<i32>,
    /// Protocol.
    pub protocol: Protocol,
}

/// CPU and memory amounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Resources {
    /// CPU in millicores.
    pub cpu_millis: i64,
    /// Memory in bytes.
    pub memory_bytes: i64,
}

impl Resources {
    /// Component-wise sum.
    pub fn plus(self, o: Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis + o.cpu_millis,
            memory_bytes: self.memory_bytes + o.memory_bytes,
        }
    }
}

/// A probe: kubesim simulates its timing, not its handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Probe {
    /// `initialDelaySeconds` (0).
    pub initial_delay_seconds: i32,
    /// `periodSeconds` (10).
    pub period_seconds: i32,
    /// `failureThreshold` (3).
    pub failure_threshold: i32,
    /// `successThreshold` (1).
    pub success_threshold: i32,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            initial_delay_seconds: 0,
            period_seconds: 10,
            failure_threshold: 3,
            success_threshold: 1,
        }
    }
}

/// A `lifecycle.preStop` hook.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PreStop {
    /// `sleep: {seconds: N}`: the hook takes N seconds.
    Sleep(i64),
    /// `exec: {command: [...]}`: simulated as instantaneous.
    Exec(Vec<Str>),
    /// `httpGet`: simulated as instantaneous.
    HttpGet {
        /// Request path.
        path: Str,
        /// Port (number or name).
        port: super::IntOrString,
    },
}

/// A container.
#[derive(Clone, Debug, PartialEq)]
pub struct Container {
    /// Name, unique in the pod.
    pub name: Str,
    /// Image reference.
    pub image: Str,
    /// Pull policy (defaulted from the image tag when the manifest omits it).
    pub image_pull_policy: PullPolicy,
    /// `command`.
    pub command: Vec<Str>,
    /// `args`.
    pub args: Vec<Str>,
    /// Ports.
    pub ports: Vec<ContainerPort>,
    /// `resources.requests` (what the scheduler counts).
    pub requests: Resources,
    /// `resources.limits` (0 = unset).
    pub limits: Resources,
    /// Readiness probe timing.
    pub readiness_probe: Option<Probe>,
    /// Liveness probe timing.
    pub liveness_probe: Option<Probe>,
    /// preStop hook.
    pub pre_stop: Option<PreStop>,
}

/// A toleration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Toleration {
    /// Taint key; `None` with `Exists` tolerates every taint.
    pub key: Option<Str>,
    /// `Equal` (default) or `Exists`.
    pub operator: TolerationOperator,
    /// Value for `Equal`.
    pub value: Option<Str>,
    /// Effect tolerated; `None` tolerates every effect.
    pub effect: Option<TaintEffect>,
    /// For `NoExecute`: how long the pod stays bound after the taint appears (None =
    /// forever).
    pub toleration_seconds: Option<i64>,
}

/// Toleration operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TolerationOperator {
    /// Key and value must equal the taint's.
    #[default]
    Equal,
    /// Key must equal (or be empty); value ignored.
    Exists,
}

/// Taint effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaintEffect {
    /// New pods that do not tolerate it are not scheduled.
    NoSchedule,
    /// The scheduler avoids the node when it can.
    PreferNoSchedule,
    /// Running pods that do not tolerate it are evicted.
    NoExecute,
}

impl TaintEffect {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "NoSchedule" => Some(TaintEffect::NoSchedule),
            "PreferNoSchedule" => Some(TaintEffect::PreferNoSchedule),
            "NoExecute" => Some(TaintEffect::NoExecute),
            _ => None,
        }
    }
}

/// A node taint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Taint {
    /// Key.
    pub key: Str,
    /// Value (may be empty).
    pub value: Option<Str>,
    /// Effect.
    pub effect: TaintEffect,
    /// When it was added (NoExecute taints only).
    pub time_added: Option<Timestamp>,
}

impl Toleration {
    /// Whether this toleration tolerates the taint (upstream `ToleratesTaint`).
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if let Some(e) = self.effect {
            if e != taint.effect {
                return false;
            }
        }
        match &self.key {
            Some(k) if *k != taint.key => return false,
            None if self.operator != TolerationOperator::Exists => return false,
            _ => {}
        }
        match self.operator {
            TolerationOperator::Exists => true,
            TolerationOperator::Equal => {
                self.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
            }
        }
    }
}

/// A pod volume.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Volume {
    /// Volume name (referenced by volumeMounts).
    pub name: Str,
    /// Where it comes from.
    pub source: VolumeSource,
}

/// What backs a volume. Only claims matter to the simulation; the rest are kept so that
/// manifests round-trip.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VolumeSource {
    /// `persistentVolumeClaim.claimName`: the pod waits for the claim to bind.
    PersistentVolumeClaim(Str),
    /// `emptyDir`.
    EmptyDir,
    /// `configMap.name`.
    ConfigMap(Str),
    /// `hostPath.path`.
    HostPath(Str),
    /// `secret.secretName`.
    Secret(Str),
    /// Any other source (not simulated).
    Other,
}

/// The parts of a pod spec kubesim simulates.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PodSpec {
    /// Containers (at least one).
    pub containers: Vec<Container>,
    /// Restart policy.
    pub restart_policy: RestartPolicy,
    /// `terminationGracePeriodSeconds`; `None` = the cluster default (30).
    pub termination_grace_period_seconds: Option<i64>,
    /// `nodeSelector`.
    pub node_selector: StrMap,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// `hostname` (StatefulSet pods: the pod name).
    pub hostname: Option<Str>,
    /// `subdomain` (StatefulSet pods: the governing service).
    pub subdomain: Option<Str>,
    /// Volumes.
    pub volumes: Vec<Volume>,
    /// `hostNetwork`.
    pub host_network: bool,
    /// `activeDeadlineSeconds` of the pod itself.
    pub active_deadline_seconds: Option<i64>,
    /// The fields of each container the simulation does not read (env, envFrom,
    /// workingDir, volumeMounts and the unmodelled remainder): entry `i` belongs to
    /// `containers[i]`. Kept beside the containers, not in [`Container`], so that code
    /// building a `Container` by hand stays unchanged. **Normal form:** trailing entries
    /// that are empty are left out (an absent entry means an empty one), so equal specs
    /// compare and hash equal; [`PodSpec::set_container_details`] keeps it.
    pub container_details: Vec<ContainerDetails>,
    /// The pod spec's fields the model does not keep (`initContainers`, `affinity`,
    /// `serviceAccountName`, `securityContext`, details of volume sources, …) as
    /// canonical JSON: a change to any of them changes the spec, as it changes the
    /// template upstream.
    pub rest: Unmodelled,
}

impl PodSpec {
    /// Sum of the containers' requests (what the scheduler fits).
    pub fn total_requests(&self) -> Resources {
        self.containers
            .iter()
            .fold(Resources::default(), |a, c| a.plus(c.requests))
    }

    /// Host ports the pod claims.
    pub fn host_ports(&self) -> impl Iterator<Item = (i32, Protocol)> + '_ {
        self.containers
            .iter()
            .flat_map(|c| c.ports.iter())
            .filter_map(|p| p.host_port.map(|h| (h, p.protocol)))
    }

    /// The container port a named port refers to.
    pub fn port_by_name(&self, name: &str) -> Option<&ContainerPort> {
        self.containers
            .iter()
            .flat_map(|c| c.ports.iter())
            .find(|p| p.name.as_deref() == Some(name))
    }

    /// The details of container `i` (empty when none are kept).
    pub fn container_details(&self, i: usize) -> &ContainerDetails {
        self.container_details.get(i).unwrap_or(&EMPTY_DETAILS)
    }

    /// Sets the container details (entry `i` for `containers[i]`), dropping trailing
    /// empty entries so the spec stays in normal form.
    pub fn set_container_details(&mut self, mut details: Vec<ContainerDetails>) {
        while details.last().is_some_and(ContainerDetails::is_empty) {
            details.pop();
        }
        self.container_details = details;
    }
}

/// What [`PodSpec::container_details`] returns for a container without details.
static EMPTY_DETAILS: ContainerDetails = ContainerDetails::EMPTY;

/// Canonical compact JSON (object keys sorted, no whitespace) of the fields of an
/// object that the model does not keep, or nothing. It takes part in equality, hashing
/// and `Debug` (so in the Deployment controller's template comparison and
/// `pod-template-hash`), and rendering merges it back into the object's JSON. It lives
/// in the shared `Arc<PodSpec>`, so pods of one template share it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Unmodelled(Option<Str>);

impl Unmodelled {
    /// Nothing unmodelled.
    pub const NONE: Unmodelled = Unmodelled(None);

    /// The remainder `v`; `null`, `{}` and `[]` are nothing.
    pub fn from_json(v: &serde_json::Value) -> Self {
        let empty = match v {
            serde_json::Value::Null => true,
            serde_json::Value::Object(m) => m.is_empty(),
            serde_json::Value::Array(a) => a.is_empty(),
            _ => false,
        };
        if empty {
            return Unmodelled::NONE;
        }
        let mut out = String::new();
        canonical_json(v, &mut out);
        Unmodelled(Some(Str::new(&out)))
    }

    /// The canonical JSON text, if any.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The remainder as a JSON value (`None` when there is none).
    pub fn to_json(&self) -> Option<serde_json::Value> {
        self.0.as_deref().and_then(|t| serde_json::from_str(t).ok())
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

/// Writes `v` as compact JSON with object keys sorted (independent of serde_json's
/// `preserve_order` feature).
fn canonical_json(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(&m[k], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(x, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Where an environment variable's value comes from (`env[].value` / `valueFrom`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EnvValue {
    /// `value` (possibly empty).
    Value(Str),
    /// `valueFrom.fieldRef`: a field of the pod (downward API).
    FieldRef {
        /// `apiVersion` (defaulted to `v1`).
        api_version: Str,
        /// `fieldPath` (`metadata.name`, `status.podIP`, …).
        field_path: Str,
    },
    /// `valueFrom.resourceFieldRef`: a container's request or limit.
    ResourceFieldRef {
        /// `containerName` (this container when unset).
        container_name: Option<Str>,
        /// `resource` (`limits.cpu`, `requests.memory`, …).
        resource: Str,
        /// `divisor`, as written.
        divisor: Option<Str>,
    },
    /// `valueFrom.configMapKeyRef`.
    ConfigMapKeyRef {
        /// ConfigMap name.
        name: Str,
        /// Key in its data.
        key: Str,
        /// `optional`.
        optional: Option<bool>,
    },
    /// `valueFrom.secretKeyRef`.
    SecretKeyRef {
        /// Secret name.
        name: Str,
        /// Key in its data.
        key: Str,
        /// `optional`.
        optional: Option<bool>,
    },
}

/// An environment variable of a container (`env[]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnvVar {
    /// Name.
    pub name: Str,
    /// Value or source.
    pub value: EnvValue,
}

/// What an `envFrom[]` entry imports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EnvFromKind {
    /// `configMapRef`.
    ConfigMap,
    /// `secretRef`.
    Secret,
}

/// An `envFrom[]` entry: every key of a ConfigMap or Secret as a variable.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnvFromSource {
    /// `prefix` prepended to every key.
    pub prefix: Option<Str>,
    /// ConfigMap or Secret.
    pub kind: EnvFromKind,
    /// Its name.
    pub name: Str,
    /// `optional`.
    pub optional: Option<bool>,
}

/// A container's `volumeMounts[]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VolumeMount {
    /// The pod volume mounted (one of `spec.volumes`).
    pub name: Str,
    /// `mountPath`.
    pub mount_path: Str,
    /// `readOnly`.
    pub read_only: bool,
    /// `subPath`.
    pub sub_path: Option<Str>,
}

/// The fields of a container that the simulation does not read but that belong to the
/// template: changing any of them is a new template (a Deployment rollout), as
/// upstream, and rendering writes them back.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct ContainerDetails {
    /// `env`.
    pub env: Vec<EnvVar>,
    /// `envFrom`.
    pub env_from: Vec<EnvFromSource>,
    /// `workingDir`.
    pub working_dir: Option<Str>,
    /// `volumeMounts`.
    pub volume_mounts: Vec<VolumeMount>,
    /// Every other field the model does not keep (`securityContext`, `startupProbe`,
    /// probe handlers, `lifecycle.postStart`, port `hostIP`, other resources, …).
    pub rest: Unmodelled,
}

impl ContainerDetails {
    /// No details.
    pub const EMPTY: ContainerDetails = ContainerDetails {
        env: Vec::new(),
        env_from: Vec::new(),
        working_dir: None,
        volume_mounts: Vec::new(),
        rest: Unmodelled::NONE,
    };

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.env.is_empty()
            && self.env_from.is_empty()
            && self.working_dir.is_none()
            && self.volume_mounts.is_empty()
            && self.rest.is_empty()
    }
}

/// Pod phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum PodPhase {
    /// Accepted, not all containers running (scheduling, pulling images).
    #[default]
    Pending,
    /// Bound and at least one container running.
    Running,
    /// Every container exited 0 and will not restart.
    Succeeded,
    /// Every container exited, at least one with failure, and will not restart.
    Failed,
    /// The node stopped reporting.
    Unknown,
}

impl PodPhase {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Pending" => Some(PodPhase::Pending),
            "Running" => Some(PodPhase::Running),
            "Succeeded" => Some(PodPhase::Succeeded),
            "Failed" => Some(PodPhase::Failed),
            "Unknown" => Some(PodPhase::Unknown),
            _ => None,
        }
    }

    /// Succeeded or Failed: the pod will never run again.
    pub fn is_terminal(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }
}

/// One pod condition, compactly: absent, or a status with its transition time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PodCondition {
    /// `None` when the condition is not set.
    pub status: Option<ConditionStatus>,
    /// When the status last changed.
    pub since: Timestamp,
}

impl PodCondition {
    /// A set condition.
    pub fn new(status: ConditionStatus, since: Timestamp) -> Self {
        PodCondition {
            status: Some(status),
            since,
        }
    }

    /// Whether it is set to True.
    pub fn is_true(self) -> bool {
        self.status == Some(ConditionStatus::True)
    }

    /// Sets the status, keeping `since` when it does not change.
    pub fn set(&mut self, status: ConditionStatus, now: Timestamp) {
        if self.status != Some(status) {
            *self = PodCondition::new(status, now);
        }
    }
}

/// The pod conditions kubesim keeps.
///
/// Two of the four standard conditions are derived rather than stored (it keeps a pod
/// small, and they cannot disagree with what they derive from):
/// `Initialized` is True from `status.startTime` on (kubesim simulates no init
/// containers), and `ContainersReady` equals `Ready` (kubesim simulates no readiness
/// gates, the only thing that separates them upstream). Rendering writes all four.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PodConditions {
    /// `PodScheduled` (False with reason Unschedulable while the scheduler finds no node).
    pub scheduled: PodCondition,
    /// `Ready` (and `ContainersReady`).
    pub ready: PodCondition,
}

/// Why a container is waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitingReason {
    /// Being created (image pull, start).
    ContainerCreating,
    /// The last image pull failed.
    ErrImagePull,
    /// Image pulls are backing off after failures.
    ImagePullBackOff,
    /// Restarts are backing off after crashes.
    CrashLoopBackOff,
}

impl WaitingReason {
    /// The API spelling (what `kubectl get pods` shows in STATUS).
    pub fn as_str(self) -> &'static str {
        match self {
            WaitingReason::ContainerCreating => "ContainerCreating",
            WaitingReason::ErrImagePull => "ErrImagePull",
            WaitingReason::ImagePullBackOff => "ImagePullBackOff",
            WaitingReason::CrashLoopBackOff => "CrashLoopBackOff",
        }
    }
}

/// The state of a pod's containers.
///
/// **Simplification, stated:** the simulated kubelet runs every container of a pod with
/// one lifecycle (the `kubesim.io/*` behaviour annotations are per pod), so one state
/// describes them all; rendering expands it to one `containerStatuses` entry per
/// container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ContainerState {
    /// No state yet (not bound).
    #[default]
    None,
    /// Waiting.
    Waiting(WaitingReason),
    /// Running since.
    Running {
        /// Start time.
        started_at: Timestamp,
    },
    /// Exited.
    Terminated {
        /// Exit code.
        exit_code: i32,
        /// When.
        finished_at: Timestamp,
    },
}

/// How the containers' previous run ended (`containerStatuses[].lastState.terminated`):
/// kept across a restart, so that `kubectl get pods` can show when the last restart
/// happened (`RESTARTS 3 (45s ago)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LastTermination {
    /// Exit code of that run.
    pub exit_code: i32,
    /// When that run started.
    pub started_at: Timestamp,
    /// When it exited.
    pub finished_at: Timestamp,
}

/// Pod status.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PodStatus {
    /// Phase.
    pub phase: PodPhase,
    /// Conditions.
    pub conditions: PodConditions,
    /// Why the pod is unschedulable, or evicted (`status.reason`/message), if so.
    pub reason: Option<Str>,
    /// The node's address.
    pub host_ip: Option<Ipv4Addr>,
    /// The pod's address, from the node's pod CIDR.
    pub pod_ip: Option<Ipv4Addr>,
    /// When the kubelet accepted the pod.
    pub start_time: Option<Timestamp>,
    /// State of the containers.
    pub container_state: ContainerState,
    /// Restarts so far (every container restarts together; see [`ContainerState`]).
    pub restart_count: u32,
    /// The previous run's termination, once a run has ended and another is waiting
    /// or has started (`lastState.terminated`; `None` = `lastState: {}`). Boxed: only
    /// restarted pods have one, and it keeps a stored pod in its allocation size class.
    pub last_termination: Option<Box<LastTermination>>,
}

impl Pod {
    /// Active: not terminal and not being deleted (what a ReplicaSet counts).
    pub fn is_active(&self) -> bool {
        !self.status.phase.is_terminal() && !self.meta.is_being_deleted()
    }

    /// The Ready condition is True.
    pub fn is_ready(&self) -> bool {
        self.status.conditions.ready.is_true()
    }

    /// Ready for at least `min_ready_seconds` at `now`.
    pub fn is_available(&self, min_ready_seconds: i32, now: Timestamp) -> bool {
        self.is_ready()
            && (min_ready_seconds <= 0
                || now.since(self.status.conditions.ready.since).as_secs()
                    >= min_ready_seconds as u64)
    }
}
