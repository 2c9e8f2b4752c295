//! A simulated cluster in virtual time: the store, the Nodes, and every controller,
//! wired together.
//!
//! [`Cluster::new`] takes a [`ClusterConfig`] — the scenario file's `cluster:` keys
//! (SCENARIOS.md) plus the simulation's threads and sharding — and builds:
//!
//! - a store on a virtual clock (as [`crate::runtime::virtual_store`], with [`ClusterConfig::seed`]), whose
//!   default pod grace period is [`ClusterConfig::termination_grace_period`];
//! - the `default` namespace (when the store does not already have it);
//! - one Node per [`NodeConfig`] (see [`node_object`]): `Ready=True` with a heartbeat at
//!   the start time, capacity = allocatable, pod CIDR `10.244.<i>.0/24`, InternalIP
//!   `192.168.0.<i+10>`, label `kubernetes.io/hostname=<name>` plus the configured
//!   labels, and the configured taints;
//! - a default StorageClass named [`ClusterConfig::storage_class`] (annotation
//!   `storageclass.kubernetes.io/is-default-class: "true"`) when one is given;
//! - a [`Simulation`] running [`controllers`]: the ServiceAllocator, Endpoints and
//!   EndpointSlice controllers, the ReplicaSet, Deployment, DaemonSet, StatefulSet,
//!   Job, CronJob and HPA controllers, the Scheduler, the Kubelet, node lifecycle, the
//!   volume binder, the GarbageCollector and pod GC; the HPA reads CPU usage from the
//!   cluster's [`LoadModel`] ([`Cluster::set_load`], the scenario `load` step).
//!
//! The clock moves only in [`Cluster::advance`] and [`Cluster::run_until`];
//! [`Cluster::apply`] and the node operations write to the store and then run the
//! control plane until idle at the current time, as a scenario step does.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use kubesim_core::cluster::{Cluster, ClusterConfig, NodeSpecs};
//! use kubesim_core::manifest;
//! use kubesim_core::model::{Kind, PodPhase};
//!
//! let mut cluster = Cluster::new(ClusterConfig {
//!     nodes: NodeSpecs::Count(2),
//!     ..ClusterConfig::default()
//! })
//! .unwrap();
//! let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n\
//!             spec: {containers: [{name: web, image: nginx}]}\n";
//! cluster.apply(manifest::load_str(yaml, "inline.yaml").unwrap()).unwrap();
//! cluster.advance(Duration::from_secs(5));
//! let pod = cluster.store().get(Kind::Pod, "default", "web").unwrap();
//! assert_eq!(pod.as_pod().unwrap().status.phase, PodPhase::Running);
//! ```

use std::collections::{BTreeSet, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use crate::controllers::cronjob::CronJobController;
use crate::controllers::daemonset::DaemonSetController;
use crate::controllers::deployment::DeploymentController;
use crate::controllers::endpoints::{
    EndpointSliceController, EndpointsController, ServiceAllocator,
};
use crate::controllers::garbage_collector::{GarbageCollector, PodGc};
use crate::controllers::hpa::{scalable, HpaController, LoadModel};
use crate::controllers::job::JobController;
use crate::controllers::kubelet::{Kubelet, KubeletConfig};
use crate::controllers::node_lifecycle::{NodeLifecycleConfig, NodeLifecycleController};
use crate::controllers::replicaset::ReplicaSetController;
use crate::controllers::scheduler::Scheduler;
use crate::controllers::statefulset::StatefulSetController;
use crate::controllers::volumes::{VolumeBinder, PROVISIONER};
use crate::intern::{intern, StrMap};
use crate::model::{
    ClusterIp, Condition, ConditionStatus, Kind, Namespace, NamespacePhase, Node, NodeCapacity,
    NodeSpec, NodeStatus, Object, ObjectKey, ObjectMeta, ReclaimPolicy, StorageClass, Taint,
    VolumeBindingMode, ANNOTATION_DEFAULT_CLASS,
};
use crate::runtime::{
    Controller, RunStats, RuntimeError, SimConfig, Simulation, Strategy, Timeout,
};
use crate::store::{self, DeleteOptions, Store, StoreConfig};
use crate::time::{Clock, ManualClock, Timestamp};

/// The label every Node carries with its own name.
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";

/// The provisioner of the default StorageClass: the volume binder's simulated one.
pub const DEFAULT_PROVISIONER: &str = PROVISIONER;

/// The cluster's Nodes: `nodes:` in a scenario.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeSpecs {
    /// `n` default nodes named `node-0` … `node-<n-1>`.
    Count(usize),
    /// Nodes with names, labels, capacities and taints.
    List(Vec<NodeConfig>),
}

impl NodeSpecs {
    /// The node configurations (a count expands to default nodes `node-<i>`).
    pub fn configs(&self) -> Vec<NodeConfig> {
        match self {
            NodeSpecs::Count(n) => (0..*n)
                .map(|i| NodeConfig::new(&format!("node-{i}")))
                .collect(),
            NodeSpecs::List(list) => list.clone(),
        }
    }
}

impl Default for NodeSpecs {
    fn default() -> Self {
        NodeSpecs::Count(1)
    }
}

/// One Node: a `cluster.nodes` entry, or an `add-node` step.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeConfig {
    /// Name.
    pub name: String,
    /// Labels (besides `kubernetes.io/hostname`, which is always set).
    pub labels: Vec<(String, String)>,
    /// Capacity, which is also the allocatable (default cpu 4, memory 16Gi, pods 110).
    pub capacity: NodeCapacity,
    /// Taints.
    pub taints: Vec<Taint>,
}

impl NodeConfig {
    /// A node with default capacity, no extra labels and no taints.
    pub fn new(name: &str) -> Self {
        NodeConfig {
            name: name.to_string(),
            labels: Vec::new(),
            capacity: NodeCapacity::default(),
            taints: Vec::new(),
        }
    }
}

/// The simulated cluster's settings: every `cluster:` key of SCENARIOS.md, plus how the
/// simulation runs.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// `nodes` (default: 1 node, `node-0`).
    pub nodes: NodeSpecs,
    /// `pod-startup`: images ready → Running (1 s).
    pub pod_startup: Duration,
    /// `readiness-delay`: Running → Ready without a probe or annotation (0 s).
    pub readiness_delay: Duration,
    /// `image-pull`: pull time of an image the node lacks (0 s).
    pub image_pull: Duration,
    /// `unpullable-images`: image references whose pulls fail.
    pub unpullable_images: Vec<String>,
    /// `node-monitor-grace-period`: heartbeat silence before a node is Unknown (50 s).
    /// For the node lifecycle controller.
    pub node_monitor_grace_period: Duration,
    /// `default-toleration-seconds`: tolerationSeconds of the default
    /// not-ready/unreachable NoExecute tolerations (300) the DefaultTolerationSeconds
    /// admission adds to pods at creation ([`crate::admission`]), which the node
    /// lifecycle controller's evictions then honour.
    pub default_toleration_seconds: u64,
    /// `termination-grace-period`: grace of pods that do not set one (30 s).
    pub termination_grace_period: Duration,
    /// `storage-class`: the default StorageClass's name (`None`: no default class).
    pub storage_class: Option<String>,
    /// `seed`: the store's (uids, generated names) and the reconciles' RNG seed (0).
    pub seed: u64,
    /// Threads running a round's reconciles (1). The run is the same for every value.
    pub threads: usize,
    /// The controllers' sharding strategy (`shared`).
    pub strategy: Strategy,
    /// Dispatcher workers per controller (1).
    pub workers: usize,
    /// Record every watch event the simulation pumps ([`Simulation::history`]): for
    /// determinism checks and debugging (off).
    pub record_history: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nodes: NodeSpecs::default(),
            pod_startup: Duration::from_secs(1),
            readiness_delay: Duration::ZERO,
            image_pull: Duration::ZERO,
            unpullable_images: Vec::new(),
            node_monitor_grace_period: Duration::from_secs(50),
            default_toleration_seconds: 300,
            termination_grace_period: Duration::from_secs(30),
            storage_class: None,
            seed: 0,
            threads: 1,
            record_history: false,
            strategy: Strategy::Shared,
            workers: 1,
        }
    }
}

impl ClusterConfig {
    /// The kubelets' settings from the cluster keys.
    pub fn kubelet_config(&self) -> KubeletConfig {
        KubeletConfig {
            pod_startup: self.pod_startup,
            readiness_delay: self.readiness_delay,
            image_pull: self.image_pull,
            unpullable_images: self.unpullable_images.clone(),
            default_termination_grace: self.termination_grace_period,
            ..KubeletConfig::default()
        }
    }

    /// The simulation's settings.
    pub fn sim_config(&self) -> SimConfig {
        SimConfig {
            threads: self.threads,
            strategy: self.strategy,
            workers: self.workers,
            record_history: self.record_history,
            // kubesim's controllers share no state between their `map_event`s.
            parallel_map: true,
            ..SimConfig::new(self.seed)
        }
    }
}

/// Errors of building or driving a [`Cluster`].
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A store write failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The simulation could not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The request is invalid (nothing was written).
    #[error("{0}")]
    Invalid(String),
}

/// Result of cluster operations.
pub type Result<T> = std::result::Result<T, ClusterError>;

/// What [`Cluster::apply`] did to one object (kubectl's `created` / `configured` /
/// `unchanged`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApplyAction {
    /// It did not exist and was created.
    Created,
    /// It existed and its labels, annotations or spec changed.
    Configured,
    /// It existed and nothing changed.
    Unchanged,
}

/// One object of an [`Cluster::apply`].
#[derive(Clone, Debug)]
pub struct Applied {
    /// What was done.
    pub action: ApplyAction,
    /// The object as stored afterwards.
    pub object: Arc<Object>,
}

/// The controllers of a cluster, in their (fixed) simulation order.
///
/// The kubelet is passed in so that the cluster keeps a handle to it (stopped nodes),
/// and the load model so that the cluster's `load` steps reach the HPA controller.
pub fn controllers(
    config: &ClusterConfig,
    kubelet: Arc<Kubelet>,
    load: Arc<LoadModel>,
) -> Vec<Arc<dyn Controller>> {
    let lifecycle = NodeLifecycleController::new(NodeLifecycleConfig {
        grace_period: config.node_monitor_grace_period,
        ..NodeLifecycleConfig::default()
    });
    vec![
        Arc::new(ServiceAllocator::new()),
        Arc::new(EndpointsController::new()),
        Arc::new(EndpointSliceController::new()),
        Arc::new(ReplicaSetController::new()),
        Arc::new(DeploymentController::new()),
        Arc::new(Scheduler::new()),
        kubelet,
        Arc::new(GarbageCollector::new()),
        Arc::new(PodGc::new()),
        Arc::new(lifecycle),
        // Binding and dynamic provisioning; the default class (config.storage_class)
        // is a StorageClass object the cluster creates, read by the binder.
        Arc::new(VolumeBinder::new()),
        Arc::new(JobController::new()),
        Arc::new(CronJobController::new()),
        Arc::new(HpaController::new(load)),
        Arc::new(DaemonSetController::new()),
        Arc::new(StatefulSetController::new()),
    ]
}

/// The Node object of `node`, the `index`-th node ever added to the cluster (which picks
/// its pod CIDR `10.244.<index>.0/24` and InternalIP `192.168.0.<index+10>`, counting on
/// into the next octets past 255), Ready with a heartbeat at `now`.
pub fn node_object(node: &NodeConfig, index: u32, now: Timestamp) -> Object {
    let cidr = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 244, 0, 0)).wrapping_add(index << 8));
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(192, 168, 0, 10)).wrapping_add(index));
    let mut meta = ObjectMeta::named("", &node.name);
    let mut pairs: Vec<(&str, &str)> = node
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.push((LABEL_HOSTNAME, node.name.as_str()));
    meta.labels = StrMap::from_pairs(pairs);
    let mut ready = Condition::new("Ready", ConditionStatus::True, now);
    ready.reason = Some(intern("KubeletReady"));
    ready.message = Some(intern("kubelet is posting ready status"));
    ready.last_update_time = Some(now);
    Object::from(Node {
        meta,
        spec: NodeSpec {
            pod_cidr: Some((cidr, 24)),
            unschedulable: false,
            taints: node.taints.clone(),
        },
        status: NodeStatus {
            capacity: node.capacity,
            allocatable: node.capacity,
            conditions: vec![ready],
            internal_ip: Some(ip),
            images: Vec::new(),
        },
    })
}

/// A simulated cluster (see the [module docs](self)).
pub struct Cluster {
    config: ClusterConfig,
    store: Store,
    clock: Arc<ManualClock>,
    kubelet: Arc<Kubelet>,
    sim: Simulation,
    next_node_index: u32,
    load: Arc<LoadModel>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("now", &self.clock.now())
            .field("nodes", &self.store.count(Kind::Node))
            .field("pods", &self.store.count(Kind::Pod))
            .finish()
    }
}

impl Cluster {
    /// Builds the cluster (see the [module docs](self)) and runs it until idle.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Invalid`] for duplicate node names or zero threads/workers,
    /// [`ClusterError::Store`] when a Node or the StorageClass is rejected,
    /// [`ClusterError::Runtime`] when the simulation cannot start.
    pub fn new(config: ClusterConfig) -> Result<Cluster> {
        if config.threads == 0 || config.workers == 0 {
            return Err(ClusterError::Invalid(
                "threads and workers must be at least 1".into(),
            ));
        }
        let nodes = config.nodes.configs();
        let mut seen = HashSet::new();
        for n in &nodes {
            if !seen.insert(n.name.as_str()) {
                return Err(ClusterError::Invalid(format!(
                    "duplicate node name {:?}",
                    n.name
                )));
            }
        }
        // As runtime::virtual_store, with the cluster's default grace period.
        let clock = Arc::new(ManualClock::default());
        let store = Store::with_config(StoreConfig {
            clock: clock.clone(),
            seed: config.seed,
            default_termination_grace_seconds: config.termination_grace_period.as_secs() as i64,
            admission: crate::admission::Admission::new(crate::admission::AdmissionConfig {
                default_toleration_seconds: Some(config.default_toleration_seconds as i64),
                ..Default::default()
            }),
            ..StoreConfig::default()
        });
        let now = clock.now();
        if store.try_get(Kind::Namespace, "", "default").is_none() {
            store.create(Object::from(Namespace {
                meta: ObjectMeta::named("", "default"),
                phase: NamespacePhase::Active,
            }))?;
        }
        for (i, n) in nodes.iter().enumerate() {
            store.create(node_object(n, i as u32, now))?;
        }
        if let Some(name) = &config.storage_class {
            let mut meta = ObjectMeta::named("", name);
            meta.annotations = StrMap::from_pairs([(ANNOTATION_DEFAULT_CLASS, "true")]);
            store.create(Object::from(StorageClass {
                meta,
                provisioner: intern(DEFAULT_PROVISIONER),
                reclaim_policy: ReclaimPolicy::Delete,
                volume_binding_mode: VolumeBindingMode::Immediate,
                allow_volume_expansion: true,
            }))?;
        }
        let kubelet = Arc::new(Kubelet::new(config.kubelet_config()));
        let load = Arc::new(LoadModel::new());
        let sim = Simulation::new(
            store.clone(),
            clock.clone(),
            controllers(&config, kubelet.clone(), load.clone()),
            config.sim_config(),
        )?;
        let mut cluster = Cluster {
            next_node_index: nodes.len() as u32,
            config,
            store,
            clock,
            kubelet,
            sim,
            load,
        };
        cluster.sim.run_until_idle();
        Ok(cluster)
    }

    /// The settings.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The simulation.
    pub fn sim(&self) -> &Simulation {
        &self.sim
    }

    /// The simulation, mutable (to run it with its own methods).
    pub fn sim_mut(&mut self) -> &mut Simulation {
        &mut self.sim
    }

    /// The kubelets (stopped nodes, image caches).
    pub fn kubelet(&self) -> &Arc<Kubelet> {
        &self.kubelet
    }

    /// The virtual time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// `kubectl apply`: creates each object, or configures the stored one, then runs the
    /// control plane until idle. Namespaces of the batch are applied first; otherwise
    /// the order is kept.
    ///
    /// An object loaded by [`crate::manifest`] carries its manifest in the
    /// `kubectl.kubernetes.io/last-applied-configuration` annotation; a stored one is
    /// then configured by the three-way merge of [`crate::apply`] (fields the manifest
    /// sets are set, fields the last applied manifest set and this one drops are
    /// deleted and defaulted again, fields only others set — `kubectl scale`, `rollout
    /// pause`, an HPA — are kept), decoded and validated as a manifest. An object
    /// without the annotation replaces the labels, annotations and spec of the stored
    /// one. Either way the stored status, owners, finalizers and allocated fields (a
    /// Service's ClusterIP and node ports, a Pod's node) are kept.
    ///
    /// Every object is merged and checked before anything is written: no duplicates in
    /// the batch, the namespace exists (or is in the batch), the merged manifest is
    /// valid, and immutable fields (workload selectors, a Service's ClusterIP) are
    /// unchanged.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Invalid`] from the checks (nothing written);
    /// [`ClusterError::Store`] when the store rejects a write (earlier objects of the
    /// batch stay applied).
    pub fn apply(&mut self, objects: Vec<Object>) -> Result<Vec<Applied>> {
        let mut objects = objects;
        objects.sort_by_key(|o| o.kind() != Kind::Namespace); // stable: namespaces first
        let batch_namespaces: BTreeSet<String> = objects
            .iter()
            .filter(|o| o.kind() == Kind::Namespace)
            .map(|o| o.name().to_string())
            .collect();
        let mut keys = HashSet::new();
        for obj in &objects {
            let key = ObjectKey::new(obj.kind(), obj.namespace(), obj.name());
            if !keys.insert(key) {
                return Err(ClusterError::Invalid(format!(
                    "{} is in the batch twice",
                    obj.display_key()
                )));
            }
            if obj.kind().namespaced() {
                let ns = obj.namespace();
                if ns.is_empty() {
                    return Err(ClusterError::Invalid(format!(
                        "{}: metadata.namespace: Required value",
                        obj.display_key()
                    )));
                }
                let exists = self
                    .store
                    .try_get(Kind::Namespace, "", ns)
                    .is_some_and(|n| !n.meta().is_being_deleted());
                if !exists && !batch_namespaces.contains(ns.as_str()) {
                    return Err(ClusterError::Invalid(format!(
                        "{}: namespaces \"{ns}\" not found",
                        obj.display_key()
                    )));
                }
            }
        }
        // Everything is merged and checked before anything is written.
        let mut planned = Vec::with_capacity(objects.len());
        for obj in objects {
            let stored = self.store.try_get(obj.kind(), obj.namespace(), obj.name());
            let next = match &stored {
                None => with_manifest(obj)?.0,
                Some(stored) => {
                    let next = configured(stored, obj)?;
                    check_immutable(stored, &next)?;
                    next
                }
            };
            planned.push((stored, next));
        }
        let mut out = Vec::with_capacity(planned.len());
        for (stored, new) in planned {
            let applied = match stored {
                None => Applied {
                    action: ApplyAction::Created,
                    object: self.store.create(new)?,
                },
                Some(stored) => {
                    let mut new = new;
                    self.store
                        .config()
                        .admission
                        .keep_admitted(&stored, &mut new);
                    let result = self.store.update(new)?;
                    let action = if result.meta().resource_version == stored.meta().resource_version
                    {
                        ApplyAction::Unchanged
                    } else {
                        ApplyAction::Configured
                    };
                    Applied {
                        action,
                        object: result,
                    }
                }
            };
            out.push(applied);
        }
        self.sim.run_until_idle();
        Ok(out)
    }

    /// Runs the control plane until every queue is idle at the current time.
    pub fn run_until_idle(&mut self) -> RunStats {
        self.sim.run_until_idle()
    }

    /// Moves virtual time by `d`, running everything that comes due.
    pub fn advance(&mut self, d: Duration) -> RunStats {
        self.sim.advance(d)
    }

    /// Advances until `pred` holds (returns the virtual time it took).
    ///
    /// # Errors
    ///
    /// [`Timeout`] when it still does not hold after `timeout`.
    pub fn run_until(
        &mut self,
        pred: impl Fn(&Store) -> bool,
        timeout: Duration,
    ) -> std::result::Result<Duration, Timeout> {
        self.sim.run_until(pred, timeout)
    }

    /// Adds a Node (Ready, with the next pod CIDR and InternalIP) and runs until idle.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Store`] (`AlreadyExists` for a taken name).
    pub fn add_node(&mut self, node: NodeConfig) -> Result<Arc<Object>> {
        let obj = node_object(&node, self.next_node_index, self.now());
        let stored = self.store.create(obj)?;
        self.next_node_index += 1;
        self.kubelet.start_node(&node.name);
        self.sim.run_until_idle();
        Ok(stored)
    }

    /// Deletes the Node object (its pods are left to pod GC) and runs until idle.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Store`] (`NotFound`).
    pub fn remove_node(&mut self, name: &str) -> Result<()> {
        self.store
            .delete(Kind::Node, "", name, &DeleteOptions::default())?;
        self.kubelet.start_node(name);
        self.sim.run_until_idle();
        Ok(())
    }

    /// Stops the node's kubelet: no more heartbeats, its pods keep their last status.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Store`] (`NotFound`) for an unknown node.
    pub fn fail_node(&mut self, name: &str) -> Result<()> {
        self.store.get(Kind::Node, "", name)?;
        self.kubelet.stop_node(name);
        self.sim.run_until_idle();
        Ok(())
    }

    /// Restarts the node's kubelet (it heartbeats and catches up within 10 s).
    ///
    /// # Errors
    ///
    /// [`ClusterError::Store`] (`NotFound`) for an unknown node.
    pub fn recover_node(&mut self, name: &str) -> Result<()> {
        self.store.get(Kind::Node, "", name)?;
        self.kubelet.start_node(name);
        self.sim.run_until_idle();
        Ok(())
    }

    /// The CPU demand model the HPA controller reads (shared with it).
    pub fn load_model(&self) -> &Arc<LoadModel> {
        &self.load
    }

    /// The scenario `load` step: fixes the workload's total CPU demand at
    /// `cpu_percent`% of the CPU requests of its ready pods now (millicores, returned);
    /// the demand is then spread evenly over its ready pods as they come and go (see
    /// [`crate::controllers::hpa`]). Runs until idle.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Store`] (`NotFound`) for a missing workload,
    /// [`ClusterError::Invalid`] for a kind without a pod selector (Deployment,
    /// ReplicaSet and StatefulSet have one) or a negative percentage.
    pub fn set_load(
        &mut self,
        kind: Kind,
        namespace: &str,
        name: &str,
        cpu_percent: f64,
    ) -> Result<i64> {
        if !(cpu_percent >= 0.0 && cpu_percent.is_finite()) {
            return Err(ClusterError::Invalid(format!(
                "cpu-percent must be a non-negative number, got {cpu_percent}"
            )));
        }
        let obj = self.store.get(kind, namespace, name)?;
        let Some((_, selector)) = scalable(&obj) else {
            return Err(ClusterError::Invalid(format!(
                "{}: a load needs a Deployment, ReplicaSet or StatefulSet",
                obj.display_key()
            )));
        };
        let requests: i64 = self
            .store
            .list(Kind::Pod, Some(namespace), Some(selector), None)
            .map_err(ClusterError::Store)?
            .iter()
            .filter_map(|o| o.as_pod())
            .filter(|p| p.is_active() && p.is_ready())
            .map(|p| p.spec.total_requests().cpu_millis)
            .sum();
        let demand = (requests as f64 * cpu_percent / 100.0).round() as i64;
        self.load.set_demand(ObjectKey::of(&obj), demand);
        self.sim.run_until_idle();
        Ok(demand)
    }
}

fn invalid_immutable(obj: &Object, field: &str) -> ClusterError {
    ClusterError::Invalid(format!(
        "{}: {field}: Invalid value: field is immutable",
        obj.display_key()
    ))
}

/// The API's immutable fields that an apply may not change.
fn check_immutable(stored: &Object, new: &Object) -> Result<()> {
    use Object as O;
    let selector_changed = match (stored, new) {
        (O::ReplicaSet(a), O::ReplicaSet(b)) => a.spec.selector != b.spec.selector,
        (O::Deployment(a), O::Deployment(b)) => a.spec.selector != b.spec.selector,
        (O::DaemonSet(a), O::DaemonSet(b)) => a.spec.selector != b.spec.selector,
        (O::StatefulSet(a), O::StatefulSet(b)) => a.spec.selector != b.spec.selector,
        _ => false,
    };
    if selector_changed {
        return Err(invalid_immutable(new, "spec.selector"));
    }
    if let (O::Service(a), O::Service(b)) = (stored, new) {
        let changed = match (&a.spec.cluster_ip, &b.spec.cluster_ip) {
            (_, ClusterIp::Unassigned) => false,
            (x, y) => x != y,
        };
        if changed {
            return Err(invalid_immutable(new, "spec.clusterIP"));
        }
    }
    Ok(())
}

/// What `kubectl apply` of `new` makes of the existing `stored` object: when `new`
/// carries its manifest (the last-applied annotation the manifest loader records), the
/// three-way merge of [`crate::apply`] from the stored last-applied configuration to
/// that manifest over the live object, decoded (defaulted and validated) as a manifest;
/// otherwise `new`'s labels, annotations and spec replace the stored ones. Either way
/// through [`merged`] (identity, status, owners, finalizers, allocated fields).
fn configured(stored: &Object, new: Object) -> Result<Object> {
    use crate::apply::{three_way_merge, LAST_APPLIED_ANNOTATION};
    let (new, modified) = with_manifest(new)?;
    let Some(modified) = modified else {
        return Ok(merged(stored, new));
    };
    let original: Option<serde_json::Value> =
        match stored.meta().annotations.get(LAST_APPLIED_ANNOTATION) {
            None => None,
            Some(t) => Some(serde_json::from_str(t).map_err(|e| {
                ClusterError::Invalid(format!(
                    "{}: {LAST_APPLIED_ANNOTATION} of the live object is not valid JSON: {e}",
                    stored.display_key()
                ))
            })?),
        };
    let doc = three_way_merge(
        stored.kind(),
        original.as_ref(),
        &modified,
        &live_document(stored),
    );
    let decoded = crate::manifest::decode_document(&doc, "apply").map_err(|e| {
        let field = if e.field.is_empty() {
            String::new()
        } else {
            format!("{}: ", e.field)
        };
        ClusterError::Invalid(format!(
            "The {} {:?} is invalid: {field}{}",
            stored.kind(),
            stored.name().as_str(),
            e.reason
        ))
    })?;
    let mut next = merged(stored, decoded.clone());
    // The merged document already holds the live allocated fields it keeps; what it
    // dropped (a Service switched to ExternalName or away from node ports) stays gone.
    if let (Object::Service(n), Object::Service(d)) = (&mut next, &decoded) {
        n.spec.cluster_ip = d.spec.cluster_ip;
        for (p, dp) in n.spec.ports.iter_mut().zip(d.spec.ports.iter()) {
            p.node_port = dp.node_port;
        }
    }
    Ok(next)
}

/// `obj` and its manifest document — the `modified` document of the merge, with the
/// last-applied annotation in it, as kubectl sends it — when `obj` carries a
/// last-applied annotation; `(obj, None)` when it carries none.
///
/// An object changed after it was loaded (by a program, not a manifest) has an
/// annotation that no longer describes it: its manifest is then its own rendering
/// (as `kubectl get -o yaml`, edit, `kubectl apply` would send it), and its annotation
/// is rewritten to match.
fn with_manifest(mut obj: Object) -> Result<(Object, Option<serde_json::Value>)> {
    use crate::apply::{last_applied_configuration, LAST_APPLIED_ANNOTATION};
    use serde_json::Value;
    let Some(text) = obj.meta().annotations.get(LAST_APPLIED_ANNOTATION).cloned() else {
        return Ok((obj, None));
    };
    let parsed: Option<Value> = serde_json::from_str(&text).ok();
    let (text, mut doc) = match parsed {
        Some(doc) if describes(&doc, &obj) => (text.to_string(), doc),
        _ => {
            let doc = live_document(&obj);
            let text = last_applied_configuration(&doc);
            let doc = serde_json::from_str(&text)
                .map_err(|e| ClusterError::Invalid(format!("{}: {e}", obj.display_key())))?;
            let meta = obj.meta_mut();
            meta.annotations = meta.annotations.with(LAST_APPLIED_ANNOTATION, &text);
            (text, doc)
        }
    };
    if let Some(meta) = doc
        .as_object_mut()
        .map(|m| {
            m.entry("metadata")
                .or_insert_with(|| Value::Object(Default::default()))
        })
        .and_then(Value::as_object_mut)
    {
        let ann = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(ann) = ann.as_object_mut() {
            ann.insert(LAST_APPLIED_ANNOTATION.into(), Value::String(text));
        }
    }
    Ok((obj, Some(doc)))
}

/// Whether the manifest document `doc` decodes to `obj` (but for the last-applied
/// annotation).
fn describes(doc: &serde_json::Value, obj: &Object) -> bool {
    use crate::apply::LAST_APPLIED_ANNOTATION;
    let Ok(mut decoded) = crate::manifest::decode_document(doc, "apply") else {
        return false;
    };
    let mut obj = obj.clone();
    for o in [&mut decoded, &mut obj] {
        let meta = o.meta_mut();
        meta.annotations = meta.annotations.without(LAST_APPLIED_ANNOTATION);
    }
    decoded == obj
}

/// The live object as the `current` document of the merge: its JSON without status and
/// without the metadata the server owns (uid, resourceVersion, generation, timestamps,
/// owners, finalizers — [`merged`] keeps those from the stored object).
fn live_document(stored: &Object) -> serde_json::Value {
    let mut doc = stored.to_json();
    if let Some(map) = doc.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            meta.retain(|k, _| {
                matches!(
                    k.as_str(),
                    "name" | "namespace" | "generateName" | "labels" | "annotations"
                )
            });
        }
    }
    doc
}

/// `new` with the stored object's identity, status, owners and finalizers, and the
/// allocated fields the manifest leaves unset.
fn merged(stored: &Object, mut new: Object) -> Object {
    let labels = new.meta().labels.clone();
    let annotations = new.meta().annotations.clone();
    *new.meta_mut() = stored.meta().clone();
    new.meta_mut().labels = labels;
    new.meta_mut().annotations = annotations;
    new.set_status_from(stored);
    match (&mut new, stored) {
        (Object::Service(n), Object::Service(s)) => {
            if n.spec.cluster_ip == ClusterIp::Unassigned {
                n.spec.cluster_ip = s.spec.cluster_ip;
            }
            for (i, port) in n.spec.ports.iter_mut().enumerate() {
                if port.node_port.is_none() {
                    port.node_port = s
                        .spec
                        .ports
                        .iter()
                        .find(|p| p.name.is_some() && p.name == port.name)
                        .or_else(|| s.spec.ports.get(i))
                        .and_then(|p| p.node_port);
                }
            }
        }
        (Object::Pod(n), Object::Pod(s)) if n.node_name.is_none() => {
            n.node_name = s.node_name.clone();
        }
        // The selector and template labels the Job controller generated from the uid
        // (crate::controllers::job::generated) survive a re-apply.
        (Object::Job(n), Object::Job(_)) => {
            if let Some(g) = crate::controllers::job::generated(n) {
                **n = g;
            }
        }
        _ => {}
    }
    new
}

impl Cluster {
    /// An [`InvariantChecker`](crate::invariants::InvariantChecker) on this cluster's
    /// store, watching from now on.
    pub fn invariant_checker(&self) -> crate::invariants::InvariantChecker {
        crate::invariants::InvariantChecker::new(&self.store)
    }

    /// Runs [`InvariantChecker::check`](crate::invariants::InvariantChecker::check)
    /// over the step since its last call, with the nodes whose kubelet is stopped as
    /// unreachable.
    pub fn check_invariants(
        &self,
        checker: &mut crate::invariants::InvariantChecker,
    ) -> Vec<crate::invariants::Violation> {
        self.set_unreachable(checker);
        checker.check(&self.store)
    }

    /// Runs [`InvariantChecker::check_settled`](crate::invariants::InvariantChecker::check_settled)
    /// (call it when the cluster is idle), with the nodes whose kubelet is stopped as
    /// unreachable.
    pub fn check_invariants_settled(
        &self,
        checker: &mut crate::invariants::InvariantChecker,
    ) -> Vec<crate::invariants::Violation> {
        self.set_unreachable(checker);
        checker.check_settled(&self.store)
    }

    fn set_unreachable(&self, checker: &mut crate::invariants::InvariantChecker) {
        let stopped = self.kubelet.stopped_nodes();
        let stopped = stopped.read();
        checker.set_unreachable_nodes(stopped.iter());
    }
}

/// `kubectl rollout` for Deployments (see [`crate::controllers::deployment`]).
impl Cluster {
    fn deployment(&self, namespace: &str, name: &str) -> Result<Arc<Object>> {
        let obj = self.store.get(Kind::Deployment, namespace, name)?;
        if obj.as_deployment().is_none() {
            return Err(ClusterError::Invalid(format!(
                "{namespace}/{name} is not a Deployment"
            )));
        }
        Ok(obj)
    }

    /// The ReplicaSets a Deployment controls (kubectl's `GetAllReplicaSets`: its
    /// selector and its controller reference).
    fn deployment_replica_sets(&self, d: &Object) -> Vec<Arc<Object>> {
        let Some(dep) = d.as_deployment() else {
            return Vec::new();
        };
        let uid = d.meta().uid;
        self.store
            .list(
                Kind::ReplicaSet,
                Some(d.namespace()),
                Some(&dep.spec.selector),
                None,
            )
            .unwrap_or_default()
            .into_iter()
            .filter(|rs| rs.meta().controller_ref().is_some_and(|r| r.uid == uid))
            .collect()
    }

    /// `kubectl rollout undo deployment/<name> [--to-revision=N]` (`None` or 0: the
    /// previous revision): copies that revision's template (without its
    /// `pod-template-hash` label) and annotations back into the Deployment, then runs
    /// until idle. Returns kubectl's message: `rolled back`, or `skipped rollback
    /// (current template already matches revision N)`.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Invalid`] with kubectl's message for a paused Deployment, an
    /// unknown revision (`unable to find specified revision N in history`) or no
    /// history; [`ClusterError::Store`] when the Deployment does not exist.
    pub fn rollout_undo(
        &mut self,
        namespace: &str,
        name: &str,
        to_revision: Option<i64>,
    ) -> Result<String> {
        use crate::controllers::deployment::rollback_target;
        let obj = self.deployment(namespace, name)?;
        let d = obj.as_deployment().expect("checked to be a Deployment");
        if d.spec.paused {
            return Err(ClusterError::Invalid(format!(
                "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume deployment/{name}' and try again"
            )));
        }
        let sets = self.deployment_replica_sets(&obj);
        let rss: Vec<&crate::model::ReplicaSet> =
            sets.iter().filter_map(|o| o.as_replica_set()).collect();
        match rollback_target(d, &rss, to_revision).map_err(ClusterError::Invalid)? {
            None => Ok(format!(
                "skipped rollback (current template already matches revision {})",
                to_revision.unwrap_or(0)
            )),
            Some((_, template, annotations)) => {
                let mut new = (*obj).clone();
                new.meta_mut().annotations = annotations;
                if let Some(nd) = new.as_deployment_mut() {
                    nd.spec.template = template;
                }
                self.store.update(new)?;
                self.sim.run_until_idle();
                Ok("rolled back".to_string())
            }
        }
    }

    fn set_paused(&mut self, namespace: &str, name: &str, paused: bool) -> Result<bool> {
        let obj = self.deployment(namespace, name)?;
        if obj.as_deployment().is_some_and(|d| d.spec.paused == paused) {
            return Ok(false);
        }
        let mut new = (*obj).clone();
        if let Some(d) = new.as_deployment_mut() {
            d.spec.paused = paused;
        }
        self.store.update(new)?;
        self.sim.run_until_idle();
        Ok(true)
    }

    /// `kubectl rollout pause`: sets `spec.paused` and runs until idle. Returns
    /// whether it changed anything (`false`: already paused).
    ///
    /// # Errors
    ///
    /// [`ClusterError::Store`] when the Deployment does not exist.
    pub fn rollout_pause(&mut self, namespace: &str, name: &str) -> Result<bool> {
        self.set_paused(namespace, name, true)
    }

    /// `kubectl rollout resume`: clears `spec.paused` and runs until idle. Returns
    /// whether it changed anything (`false`: not paused).
    ///
    /// # Errors
    ///
    /// [`ClusterError::Store`] when the Deployment does not exist.
    pub fn rollout_resume(&mut self, namespace: &str, name: &str) -> Result<bool> {
        self.set_paused(namespace, name, false)
    }

    /// `kubectl rollout history`: (revision, change-cause) of each ReplicaSet the
    /// Deployment controls, by revision.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Store`] when the Deployment does not exist.
    pub fn rollout_history(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<(i64, Option<String>)>> {
        use crate::controllers::deployment::{ANNOTATION_CHANGE_CAUSE, ANNOTATION_REVISION};
        let obj = self.deployment(namespace, name)?;
        let mut out: Vec<(i64, Option<String>)> = self
            .deployment_replica_sets(&obj)
            .iter()
            .filter_map(|rs| {
                let a = &rs.meta().annotations;
                let rev = a.get(ANNOTATION_REVISION)?.parse::<i64>().ok()?;
                Some((rev, a.get(ANNOTATION_CHANGE_CAUSE).map(|c| c.to_string())))
            })
            .collect();
        out.sort();
        Ok(out)
    }
}
