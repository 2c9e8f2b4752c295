//! The simulated kubelets: one [`Kubelet`] controller plays the kubelet of every node.
//!
//! # Keys
//!
//! Keys are Pods **bound to a node** (`spec.nodeName` set); unbound pods are the
//! scheduler's. A Node event maps to the pods bound to that node (a node that appears
//! after its pods were bound starts them). Pods bound to a node that does not exist are
//! left alone (pod GC deletes them). The echo of the kubelet's own status write (the
//! event carrying exactly the version it wrote) is not mapped ([`OwnWrites`]): the
//! reconcile that wrote it already asked for the next wake-up, and reconciling that
//! version again would write nothing.
//!
//! # Lifecycle (virtual time)
//!
//! Every reconcile derives the pod's status from its `status.startTime`, its spec and
//! annotations, the [`KubeletConfig`] and the time, writes it with `update_status` only
//! when it changed, and asks to be woken at the next transition
//! ([`Requeue::After`]). Times below are relative to `startTime`, which the first
//! reconcile of a bound pod sets to *now* (together with `PodScheduled=True` when the
//! pod was created with `nodeName` and bypassed the scheduler, `hostIP` = the node's
//! InternalIP, phase Pending, containers `Waiting(ContainerCreating)`, `Ready=False`).
//!
//! 1. **Image pull.** Each container image is ready at:
//!    - `pullPolicy: Always`: `startTime + image_pull` (pulled on every pod start);
//!    - `Never`, or an image listed in the Node's `status.images`: at once;
//!    - otherwise the node's **image cache** (kubelet-internal state keyed by node,
//!      [`Kubelet::image_available_at`]): the first pod that needs an absent image
//!      records "available at `startTime + image_pull`"; later pods on that node use
//!      that time (a pod arriving during the pull waits for the same pull; a pod
//!      arriving after pays nothing). The cache is not written to the Node object.
//!
//!    An image listed in [`KubeletConfig::unpullable_images`] (exact match) never
//!    pulls: `ErrImagePull` at `f₀ = startTime + image_pull`, `ImagePullBackOff` from
//!    `fₖ + 1s` (the kubelet's next sync, simplified), retried after a back-off of 10 s
//!    doubling up to 5 min: `fₖ₊₁ = fₖ + backoffₖ + image_pull`. The pod stays Pending
//!    and never Ready.
//! 2. **Start.** At `s₀ = images ready + pod_startup`: phase Running, container
//!    `Running{startedAt}`, `podIP` allocated from the node's pod CIDR (see below).
//! 3. **Readiness.** Ready at `sₖ + delay`, where delay = annotation
//!    `kubesim.io/ready-after`, else the largest readiness-probe `initialDelaySeconds`
//!    of the containers, else [`KubeletConfig::readiness_delay`]; never with
//!    `kubesim.io/never-ready: "true"`. Ready is False whenever the containers are not
//!    running.
//! 4. **Run time.** With `kubesim.io/run-time: R`, run k exits at `eₖ = sₖ + R` with
//!    `kubesim.io/exit-code` (default 0). `restartPolicy: Never` (or `OnFailure` with
//!    exit 0) → phase Succeeded (exit 0) or Failed, container `Terminated`.
//!    Otherwise the container restarts at `sₖ₊₁ = eₖ + backoffₖ` (10 s doubling to
//!    5 min), in `Waiting(CrashLoopBackOff)` meanwhile (phase stays Running), and
//!    `restartCount` becomes k+1 when it starts again. From the first exit on,
//!    `lastState.terminated` records the latest run that ended (its exit code,
//!    start and finish): run k during its back-off, run k−1 while run k runs or after
//!    it exited for good. Simplified: the back-off is
//!    never reset by a long run, and restarts do not pull images again.
//! 5. **Graceful termination.** A pod with a `deletionTimestamp` keeps running (and
//!    keeps its Ready condition, as K8S-SEMANTICS says) until that timestamp — which
//!    the store computed as request time + grace (`terminationGracePeriodSeconds`,
//!    else the cluster default; a preStop hook runs within that period and does not
//!    extend it; simulated containers ignore SIGTERM) — and then the kubelet deletes
//!    it with grace 0, which removes it. A pod that is terminal while being deleted
//!    is removed at once.
//!
//! # Pod IPs
//!
//! Addresses come from the node's `spec.podCIDR`, from network + 2 (network + 1 is the
//! node's bridge) to broadcast − 1. When a pod starts, the addresses of the node's
//! non-terminal pods are taken; the pods of the node still without an address, in
//! (namespace, name) order, get the free addresses in ascending order, and the pod
//! takes the one at its own rank. Every reconcile of a virtual-time round sees the
//! same store, so pods starting in the same round get distinct addresses, and the
//! result is the same for a seed. A `hostNetwork` pod uses the node's InternalIP; a
//! node without a pod CIDR gives no pod IP; a full CIDR keeps the pod in
//! `ContainerCreating` (retried every 10 s, Warning Event `FailedCreatePodSandBox`).
//!
//! # Stopped nodes
//!
//! [`Kubelet::stop_node`] / [`Kubelet::start_node`] switch a node's kubelet off and on
//! (scenario steps `fail-node` / `recover-node`). While a node is stopped, reconciles
//! of its pods write nothing: the pods keep their last status, and their graceful
//! termination does not complete. Such keys are looked at again every 10 s
//! ([`STOPPED_NODE_RECHECK`]), so a restarted kubelet catches up within 10 s of
//! virtual time (its pods' statuses are recomputed from their start times). The set
//! is shared ([`Kubelet::stopped_nodes`]) and is meant to be changed between
//! simulation steps, which keeps runs deterministic.
//!
//! # Node heartbeats
//!
//! Besides pods, the key space holds one **heartbeat key** per node,
//! [`heartbeat_key`] (`Pod` / namespace `""` / name `heartbeat/<node>`; no real pod has
//! an empty namespace), mapped from the Node's `Added` event. Its reconcile sets the
//! Node's `Ready` condition True (reason `KubeletReady`), `lastHeartbeatTime` = now,
//! with a status update every [`KubeletConfig::node_heartbeat`] (10 s), and nothing
//! while the node is stopped — which is how the node lifecycle controller notices a
//! failed node. A restarted kubelet posts Ready=True again at its next heartbeat
//! (within 10 s).
//!
//! # Not modelled
//!
//! Node conditions other than Ready, image garbage collection, init
//! containers, per-container lifecycles (one state for all containers of a pod, see
//! [`ContainerState`]), liveness probes, `activeDeadlineSeconds`, `ErrImageNeverPull`.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::intern::{intern, Str};
use crate::model::{
    find_condition, set_condition, Condition, ConditionStatus, ContainerState, EventType, Kind,
    LastTermination, Node, Object, ObjectKey, Pod, PodPhase, PodStatus, PullPolicy, RestartPolicy,
    WaitingReason,
};
use crate::runtime::{
    route_key, route_object, Controller, Ctx, OwnWrites, ReconcileError, Requeue, Routed,
    StoreView, WriteResult,
};
use crate::store::{DeleteOptions, Field, FieldSelector, WatchEvent, WatchEventType};
use crate::time::{parse_duration, Timestamp};

/// Annotation: Running → Ready after this duration.
pub const ANN_READY_AFTER: &str = "kubesim.io/ready-after";
/// Annotation: the container exits after this duration.
pub const ANN_RUN_TIME: &str = "kubesim.io/run-time";
/// Annotation: the exit code of the container (default 0).
pub const ANN_EXIT_CODE: &str = "kubesim.io/exit-code";
/// Annotation: `"true"` = readiness never passes.
pub const ANN_NEVER_READY: &str = "kubesim.io/never-ready";

/// How often the pods of a stopped node (and pods that could not get an IP) are looked
/// at again.
pub const STOPPED_NODE_RECHECK: Duration = Duration::from_secs(10);

/// How long `ErrImagePull` shows before `ImagePullBackOff` (the next pod sync).
pub const ERR_IMAGE_PULL_SHOWN: Duration = Duration::from_secs(1);

/// First back-off of image pulls and container restarts (doubles each time).
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// Maximum back-off of image pulls and container restarts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The simulated kubelets' settings (the scenario's `cluster:` keys).
#[derive(Clone, Debug, PartialEq)]
pub struct KubeletConfig {
    /// `pod-startup`: images ready → Running (1 s).
    pub pod_startup: Duration,
    /// `readiness-delay`: Running → Ready when neither an annotation nor a readiness
    /// probe says otherwise (0 s).
    pub readiness_delay: Duration,
    /// `image-pull`: pull time of an image the node lacks (0 s).
    pub image_pull: Duration,
    /// `unpullable-images`: image references whose pulls fail.
    pub unpullable_images: Vec<String>,
    /// `termination-grace-period` (30 s): the grace of pods that do not set one. The
    /// store computes deletion timestamps (its `default_termination_grace_seconds`
    /// should be set to the same value); the kubelet reports it through
    /// [`Kubelet::termination_grace`].
    pub default_termination_grace: Duration,
    /// Node heartbeat period (10 s): each running node's kubelet sets the Node's Ready
    /// condition True with `lastHeartbeatTime` = now this often. `None`: no heartbeats.
    pub node_heartbeat: Option<Duration>,
}

impl Default for KubeletConfig {
    fn default() -> Self {
        KubeletConfig {
            pod_startup: Duration::from_secs(1),
            readiness_delay: Duration::ZERO,
            image_pull: Duration::ZERO,
            unpullable_images: Vec::new(),
            default_termination_grace: Duration::from_secs(30),
            node_heartbeat: Some(Duration::from_secs(10)),
        }
    }
}

/// The set of stopped nodes, shared between the kubelet and whoever stops nodes.
pub type StoppedNodes = Arc<RwLock<HashSet<String>>>;

/// The simulated kubelets of every node (see the [module docs](self)).
#[derive(Debug, Default)]
pub struct Kubelet {
    config: KubeletConfig,
    stopped: StoppedNodes,
    /// node → image → when it is (or will be) present.
    images: Mutex<HashMap<Str, HashMap<Str, Timestamp>>>,
    /// node → (resourceVersion, the node's address table at it): a memo of
    /// [`NodeIps::of`], a pure function of the store, so that the pods of a node
    /// starting in one round share one listing of the node's pods (in virtual time the
    /// store does not change during a round's reconciles, so the memo is exact).
    ip_tables: Mutex<HashMap<Str, (u64, Arc<NodeIps>)>>,
    /// The pod versions this kubelet wrote, so that their echoes are not reconciled
    /// (see [`OwnWrites`]: a pod's status is a function of the pod, its node and the
    /// time, so reconciling the version just written changes nothing).
    own: OwnWrites,
}

/// The pod addresses of a node: taken ones, and the pods still waiting for one.
#[derive(Debug, Default)]
struct NodeIps {
    /// Addresses of the node's non-terminal, non-hostNetwork pods.
    used: HashSet<u32>,
    /// Those pods without an address, sorted by (namespace, name).
    waiting: Vec<(Str, Str)>,
}

impl NodeIps {
    fn of(store: StoreView<'_>, node: &Node) -> Option<NodeIps> {
        let sel = FieldSelector::eq(Field::NodeName, &node.meta.name);
        let pods = store.list(Kind::Pod, None, None, Some(&sel)).ok()?;
        let mut t = NodeIps::default();
        for o in &pods {
            let Some(p) = o.as_pod() else { continue };
            if p.status.phase.is_terminal() || p.spec.host_network {
                continue;
            }
            match p.status.pod_ip {
                Some(ip) => {
                    t.used.insert(u32::from(ip));
                }
                None => t
                    .waiting
                    .push((p.meta.namespace.clone(), p.meta.name.clone())),
            }
        }
        t.waiting.sort_unstable();
        Some(t)
    }
}

/// `min(10 s × 2^k, 5 min)`.
pub fn backoff(k: u32) -> Duration {
    let secs = BACKOFF_INITIAL.as_secs().saturating_mul(1u64 << k.min(20));
    Duration::from_secs(secs.min(BACKOFF_MAX.as_secs()))
}

/// The heartbeat key of `node` (see the module docs).
pub fn heartbeat_key(node: &str) -> ObjectKey {
    ObjectKey::new(Kind::Pod, "", &format!("{HEARTBEAT_PREFIX}{node}"))
}

const HEARTBEAT_PREFIX: &str = "heartbeat/";

/// The pod IP range of a node: the usable addresses of `cidr` (network + 2 ..=
/// broadcast − 1, as `u32`s), `None` when the CIDR is too small (prefix > 30).
pub fn pod_ip_range(cidr: (Ipv4Addr, u8)) -> Option<std::ops::RangeInclusive<u32>> {
    let (net, prefix) = cidr;
    let prefix = prefix.min(32) as u32;
    let size: u64 = 1u64 << (32 - prefix);
    let mask: u32 = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    let base = u32::from(net) & mask;
    if size < 4 {
        // Too small for a bridge address and pods.
        return None;
    }
    let last = (base as u64 + size - 2) as u32;
    Some(base + 2..=last)
}

/// What the reconcile computed for a pod.
struct Plan {
    status: PodStatus,
    /// The next transition, if any.
    next: Option<Timestamp>,
    /// The pod must get an IP now (it is starting and has none).
    needs_ip: bool,
}

fn parse_dur_ann(pod: &Pod, key: &str) -> Option<Duration> {
    pod.meta
        .annotations
        .get(key)
        .and_then(|v| parse_duration(v).ok())
}

fn earliest(a: Option<Timestamp>, b: Timestamp) -> Option<Timestamp> {
    Some(match a {
        Some(a) if a <= b => a,
        _ => b,
    })
}

impl Kubelet {
    /// Kubelets with these settings.
    pub fn new(config: KubeletConfig) -> Self {
        Kubelet {
            config,
            stopped: StoppedNodes::default(),
            images: Mutex::new(HashMap::new()),
            ip_tables: Mutex::new(HashMap::new()),
            own: OwnWrites::new(),
        }
    }

    /// The address table of `node` at the store's current resourceVersion (memoized).
    fn node_ips(&self, store: StoreView<'_>, node: &Node) -> Option<Arc<NodeIps>> {
        let rv = store.resource_version();
        if let Some((at, t)) = self.ip_tables.lock().get(&node.meta.name) {
            if *at == rv {
                return Some(Arc::clone(t));
            }
        }
        let t = Arc::new(NodeIps::of(store, node)?);
        // Only a table of the current resourceVersion is kept: one per node.
        if store.resource_version() == rv {
            self.ip_tables
                .lock()
                .insert(node.meta.name.clone(), (rv, Arc::clone(&t)));
        }
        Some(t)
    }

    /// The settings.
    pub fn config(&self) -> &KubeletConfig {
        &self.config
    }

    /// Stops the kubelet of `node`: its pods no longer progress (see the module docs).
    pub fn stop_node(&self, node: &str) {
        self.stopped.write().insert(node.to_string());
    }

    /// Restarts the kubelet of `node`.
    pub fn start_node(&self, node: &str) {
        self.stopped.write().remove(node);
    }

    /// Whether the kubelet of `node` is stopped.
    pub fn is_node_stopped(&self, node: &str) -> bool {
        self.stopped.read().contains(node)
    }

    /// The shared set of stopped nodes (for scenario steps holding only this handle).
    pub fn stopped_nodes(&self) -> StoppedNodes {
        self.stopped.clone()
    }

    /// When `image` is (or will be) present on `node` according to the image cache
    /// (`None`: never pulled there). Images of the Node's `status.images` are not in it.
    pub fn image_available_at(&self, node: &str, image: &str) -> Option<Timestamp> {
        self.images
            .lock()
            .get(node)
            .and_then(|m| m.get(image))
            .copied()
    }

    /// The grace period of `pod`: `terminationGracePeriodSeconds`, else the default.
    pub fn termination_grace(&self, pod: &Pod) -> Duration {
        match pod.spec.termination_grace_period_seconds {
            Some(s) => Duration::from_secs(s.max(0) as u64),
            None => self.config.default_termination_grace,
        }
    }

    fn is_unpullable(&self, pod: &Pod) -> Option<Str> {
        pod.spec
            .containers
            .iter()
            .find(|c| {
                self.config
                    .unpullable_images
                    .iter()
                    .any(|u| **u == *c.image)
            })
            .map(|c| c.image.clone())
    }

    /// When every image of the pod is present (recording pulls in the node's cache).
    fn images_ready_at(&self, pod: &Pod, node: &Node, start: Timestamp) -> Timestamp {
        let pulled = start.plus(self.config.image_pull);
        let mut ready = start;
        let mut cache = self.images.lock();
        let node_cache = cache.entry(node.meta.name.clone()).or_default();
        for c in &pod.spec.containers {
            let at = match c.image_pull_policy {
                PullPolicy::Always => pulled,
                PullPolicy::Never => start,
                PullPolicy::IfNotPresent => {
                    if node.status.images.contains(&c.image) {
                        start
                    } else {
                        *node_cache.entry(c.image.clone()).or_insert(pulled)
                    }
                }
            };
            ready = ready.max(at);
        }
        ready
    }

    fn ready_delay(&self, pod: &Pod) -> Duration {
        if let Some(d) = parse_dur_ann(pod, ANN_READY_AFTER) {
            return d;
        }
        let probe = pod
            .spec
            .containers
            .iter()
            .filter_map(|c| c.readiness_probe.map(|p| p.initial_delay_seconds.max(0)))
            .max();
        match probe {
            Some(s) => Duration::from_secs(s as u64),
            None => self.config.readiness_delay,
        }
    }

    /// The pod's status at `now` (its start time is set).
    fn plan(&self, pod: &Pod, node: &Node, start: Timestamp, now: Timestamp) -> Plan {
        let mut st = pod.status.clone();
        st.start_time = Some(start);
        st.host_ip = node.status.internal_ip;
        st.conditions.scheduled.set(ConditionStatus::True, start);
        let mut next = None;
        let mut ready: Option<Timestamp> = None; // Some(since) when Ready

        if self.is_unpullable(pod).is_some() {
            let mut f = start.plus(self.config.image_pull);
            st.phase = PodPhase::Pending;
            if now < f {
                st.container_state = ContainerState::Waiting(WaitingReason::ContainerCreating);
                next = Some(f);
            } else {
                let mut k = 0;
                loop {
                    let nf = f.plus(backoff(k)).plus(self.config.image_pull);
                    if now < nf {
                        break;
                    }
                    f = nf;
                    k += 1;
                }
                let shown = f.plus(ERR_IMAGE_PULL_SHOWN);
                if now < shown {
                    st.container_state = ContainerState::Waiting(WaitingReason::ErrImagePull);
                    next = Some(shown);
                } else {
                    st.container_state = ContainerState::Waiting(WaitingReason::ImagePullBackOff);
                    next = Some(f.plus(backoff(k)).plus(self.config.image_pull));
                }
            }
            st.conditions.ready.set(ConditionStatus::False, now);
            return Plan {
                status: st,
                next,
                needs_ip: false,
            };
        }

        let s0 = self
            .images_ready_at(pod, node, start)
            .plus(self.config.pod_startup);
        if now < s0 {
            st.phase = PodPhase::Pending;
            st.container_state = ContainerState::Waiting(WaitingReason::ContainerCreating);
            st.conditions.ready.set(ConditionStatus::False, start);
            return Plan {
                status: st,
                next: Some(s0),
                needs_ip: false,
            };
        }

        let never_ready = pod
            .meta
            .annotations
            .get(ANN_NEVER_READY)
            .is_some_and(|v| &**v == "true");
        let delay = self.ready_delay(pod);
        let run_time = parse_dur_ann(pod, ANN_RUN_TIME);
        let exit_code: i32 = pod
            .meta
            .annotations
            .get(ANN_EXIT_CODE)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);

        // Run k started at s; find the run `now` falls in. `previous` is how run k − 1
        // ended (the containers' `lastState.terminated` while run k runs or exits).
        let mut s = s0;
        let mut k: u32 = 0;
        let mut not_ready_since = s0;
        let mut previous: Option<LastTermination> = None;
        loop {
            let end = run_time.map(|r| s.plus(r));
            match end {
                Some(e) if now >= e => {
                    let restart = match pod.spec.restart_policy {
                        RestartPolicy::Never => false,
                        RestartPolicy::OnFailure => exit_code != 0,
                        RestartPolicy::Always => true,
                    };
                    not_ready_since = e;
                    if !restart {
                        st.phase = if exit_code == 0 {
                            PodPhase::Succeeded
                        } else {
                            PodPhase::Failed
                        };
                        st.container_state = ContainerState::Terminated {
                            exit_code,
                            finished_at: e,
                        };
                        st.restart_count = k;
                        st.last_termination = previous.map(Box::new);
                        break;
                    }
                    let ended = LastTermination {
                        exit_code,
                        started_at: s,
                        finished_at: e,
                    };
                    let ns = e.plus(backoff(k));
                    if now < ns {
                        // Back-off: the run that just exited is the last state.
                        st.phase = PodPhase::Running;
                        st.container_state =
                            ContainerState::Waiting(WaitingReason::CrashLoopBackOff);
                        st.restart_count = k;
                        st.last_termination = Some(Box::new(ended));
                        next = Some(ns);
                        break;
                    }
                    previous = Some(ended);
                    s = ns;
                    k += 1;
                }
                _ => {
                    st.phase = PodPhase::Running;
                    st.container_state = ContainerState::Running { started_at: s };
                    st.restart_count = k;
                    st.last_termination = previous.map(Box::new);
                    let ready_at = s.plus(delay);
                    let ready_before_exit = end.is_none_or(|e| ready_at < e);
                    if !never_ready && ready_before_exit {
                        if now >= ready_at {
                            ready = Some(ready_at);
                        } else {
                            next = earliest(next, ready_at);
                        }
                    }
                    if let Some(e) = end {
                        next = earliest(next, e);
                    }
                    break;
                }
            }
        }
        // A transition is dated when it happened, but never before the condition's
        // last change (someone else — the node lifecycle controller — may have set it
        // since).
        let last_change = pod.status.conditions.ready.since;
        match ready {
            Some(since) => st
                .conditions
                .ready
                .set(ConditionStatus::True, since.max(last_change)),
            None => st.conditions.ready.set(
                ConditionStatus::False,
                not_ready_since.max(last_change).min(now),
            ),
        }
        let running = matches!(st.container_state, ContainerState::Running { .. });
        let needs_ip = running && st.pod_ip.is_none() && node.spec.pod_cidr.is_some();
        if pod.spec.host_network {
            st.pod_ip = st.host_ip;
        }
        Plan {
            status: st,
            next,
            needs_ip: needs_ip && !pod.spec.host_network,
        }
    }
}

impl Kubelet {
    /// Posts the node's heartbeat when due; returns when to look again.
    fn heartbeat(&self, node_name: &str, ctx: &mut Ctx<'_>) -> Requeue {
        let Some(period) = self.config.node_heartbeat else {
            return Requeue::Done;
        };
        let Some(obj) = ctx.store().try_get(Kind::Node, "", node_name) else {
            return Requeue::Done;
        };
        let Object::Node(node) = &*obj else {
            return Requeue::Done;
        };
        if self.is_node_stopped(node_name) {
            return Requeue::After(STOPPED_NODE_RECHECK.min(period));
        }
        let now = ctx.now();
        let ready = find_condition(&node.status.conditions, "Ready");
        let last = ready.and_then(|c| c.last_update_time);
        let is_true = ready.is_some_and(|c| c.status == ConditionStatus::True);
        if let Some(last) = last.filter(|_| is_true) {
            let due = last.plus(period);
            if now < due {
                return Requeue::After(due.since(now));
            }
        }
        let mut new = (**node).clone();
        let mut cond = Condition::new("Ready", ConditionStatus::True, now);
        cond.reason = Some(intern("KubeletReady"));
        cond.message = Some(intern("kubelet is posting ready status"));
        cond.last_update_time = Some(now);
        set_condition(&mut new.status.conditions, cond);
        ctx.update_status(Object::Node(Box::new(new)));
        Requeue::After(period)
    }
}

/// The address `pod` gets on `node`, or `None` when the CIDR is full: with the
/// node's address table `ips`, the free addresses in ascending order, the one at the
/// pod's rank among the node's pods waiting for one.
fn allocate_ip(ips: &NodeIps, node: &Node, pod: &Pod) -> Option<Ipv4Addr> {
    let cidr = node.spec.pod_cidr?;
    let rank = ips
        .waiting
        .binary_search_by(|(ns, n)| (ns, n).cmp(&(&pod.meta.namespace, &pod.meta.name)))
        .ok()?;
    pod_ip_range(cidr)?
        .filter(|a| !ips.used.contains(a))
        .nth(rank)
        .map(Ipv4Addr::from)
}

impl Controller for Kubelet {
    fn name(&self) -> &'static str {
        "kubelet"
    }

    fn primary(&self) -> Kind {
        Kind::Pod
    }

    fn watches(&self) -> &[Kind] {
        &[Kind::Node]
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        match &*ev.object {
            Object::Pod(pod)
                if ev.type_ != WatchEventType::Deleted
                    && pod.node_name.as_ref().is_some_and(|n| !n.is_empty())
                    && !self.own.is_echo(ev) =>
            {
                out.push(route_object(store, &ev.object));
            }
            Object::Pod(_) => {
                // The echo of our own write (already forgotten by the guard), or a
                // deleted or unbound pod: forget its last write.
                self.own.is_echo(ev);
            }
            Object::Node(node) if ev.type_ == WatchEventType::Added => {
                if self.config.node_heartbeat.is_some() {
                    out.push(route_key(store, heartbeat_key(&node.meta.name)));
                }
                let sel = FieldSelector::eq(Field::NodeName, &node.meta.name);
                if let Ok(pods) = store.list(Kind::Pod, None, None, Some(&sel)) {
                    out.extend(pods.iter().map(|p| route_object(store, p)));
                }
            }
            _ => {}
        }
    }

    fn applied(&self, key: &ObjectKey, results: &[WriteResult]) {
        if !key.namespace.is_empty() {
            self.own.record(results);
        }
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        if key.namespace.is_empty() {
            return Ok(match key.name.strip_prefix(HEARTBEAT_PREFIX) {
                Some(node) => self.heartbeat(node, ctx),
                None => Requeue::Done,
            });
        }
        let store = ctx.store();
        let Some(obj) = store.get_key(key) else {
            return Ok(Requeue::Done);
        };
        let Some(pod) = obj.as_pod() else {
            return Ok(Requeue::Done);
        };
        let Some(node_name) = pod.node_name.clone().filter(|n| !n.is_empty()) else {
            return Ok(Requeue::Done);
        };
        let Some(node_obj) = store.try_get(Kind::Node, "", &node_name) else {
            return Ok(Requeue::Done);
        };
        let Object::Node(node) = &*node_obj else {
            return Ok(Requeue::Done);
        };
        if self.is_node_stopped(&node_name) {
            return Ok(Requeue::After(STOPPED_NODE_RECHECK));
        }
        let now = ctx.now();
        let deadline = pod.meta.deletion_timestamp();
        let force_delete = |ctx: &mut Ctx<'_>| {
            let opts = DeleteOptions {
                grace_period_seconds: Some(0),
                preconditions_uid: Some(pod.meta.uid),
                ..Default::default()
            };
            ctx.delete(Kind::Pod, &pod.meta.namespace, &pod.meta.name, opts);
        };
        if deadline.is_some_and(|d| now >= d || pod.status.phase.is_terminal()) {
            force_delete(ctx);
            return Ok(Requeue::Done);
        }
        if pod.status.phase.is_terminal() {
            return Ok(Requeue::Done);
        }
        let start = pod.status.start_time.unwrap_or(now);
        let mut plan = self.plan(pod, node, start, now);
        let mut next = plan.next;
        if plan.needs_ip {
            let ip = self
                .node_ips(store, node)
                .and_then(|ips| allocate_ip(&ips, node, pod));
            match ip {
                Some(ip) => plan.status.pod_ip = Some(ip),
                None => {
                    // No address: the sandbox cannot be created; stay in ContainerCreating.
                    plan.status = pod.status.clone();
                    plan.status.start_time = Some(start);
                    plan.status.host_ip = node.status.internal_ip;
                    plan.status.phase = PodPhase::Pending;
                    plan.status.container_state =
                        ContainerState::Waiting(WaitingReason::ContainerCreating);
                    plan.status
                        .conditions
                        .scheduled
                        .set(ConditionStatus::True, start);
                    plan.status
                        .conditions
                        .ready
                        .set(ConditionStatus::False, now);
                    next = Some(now.plus(STOPPED_NODE_RECHECK));
                    if pod.status.container_state != plan.status.container_state
                        || pod.status.start_time.is_none()
                    {
                        ctx.event(
                            &obj,
                            EventType::Warning,
                            "FailedCreatePodSandBox",
                            format!("no free pod IP in the pod CIDR of node {node_name}"),
                        );
                    }
                }
            }
        }
        if let Some(d) = deadline {
            next = earliest(next, d);
        }
        if plan.status != pod.status {
            record_events(ctx, &obj, pod, &plan.status);
            let mut new = pod.clone();
            new.status = plan.status;
            ctx.update_status(Object::from(new));
        }
        Ok(match next {
            Some(t) => Requeue::After(t.since(now)),
            None => Requeue::Done,
        })
    }
}

/// Kubernetes Events for container state changes (upstream's reasons).
fn record_events(ctx: &mut Ctx<'_>, obj: &Object, old: &Pod, new: &PodStatus) {
    let first_image = || {
        old.spec
            .containers
            .first()
            .map(|c| c.image.to_string())
            .unwrap_or_default()
    };
    if old.status.container_state == new.container_state {
        return;
    }
    match new.container_state {
        ContainerState::Running { .. } => ctx.event(
            obj,
            EventType::Normal,
            "Started",
            "Started container".to_string(),
        ),
        ContainerState::Waiting(WaitingReason::ErrImagePull) => ctx.event(
            obj,
            EventType::Warning,
            "Failed",
            format!("Failed to pull image \"{}\": ErrImagePull", first_image()),
        ),
        ContainerState::Waiting(WaitingReason::ImagePullBackOff) => ctx.event(
            obj,
            EventType::Normal,
            "BackOff",
            format!("Back-off pulling image \"{}\"", first_image()),
        ),
        ContainerState::Waiting(WaitingReason::CrashLoopBackOff) => ctx.event(
            obj,
            EventType::Warning,
            "BackOff",
            "Back-off restarting failed container".to_string(),
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(10));
        assert_eq!(backoff(1), Duration::from_secs(20));
        assert_eq!(backoff(4), Duration::from_secs(160));
        assert_eq!(backoff(5), Duration::from_secs(300));
        assert_eq!(backoff(60), Duration::from_secs(300));
    }

    #[test]
    fn ip_range_of_a_24() {
        let r = pod_ip_range((Ipv4Addr::new(10, 244, 1, 0), 24)).unwrap();
        assert_eq!(Ipv4Addr::from(*r.start()), Ipv4Addr::new(10, 244, 1, 2));
        assert_eq!(Ipv4Addr::from(*r.end()), Ipv4Addr::new(10, 244, 1, 254));
        assert_eq!(r.count(), 253);
        // A host address inside the network is normalised to the network.
        let r = pod_ip_range((Ipv4Addr::new(10, 0, 0, 77), 30)).unwrap();
        assert_eq!(r.count(), 1);
        assert!(pod_ip_range((Ipv4Addr::new(10, 0, 0, 0), 31)).is_none());
    }

    #[test]
    fn config_defaults() {
        let c = KubeletConfig::default();
        assert_eq!(c.pod_startup, Duration::from_secs(1));
        assert_eq!(c.readiness_delay, Duration::ZERO);
        assert_eq!(c.image_pull, Duration::ZERO);
        assert_eq!(c.default_termination_grace, Duration::from_secs(30));
    }
}
