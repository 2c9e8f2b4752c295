//! The store benchmark's workload: a cluster's worth of ReplicaSet pods, built for both
//! kubesim ([`kubesim_core::model::Object`]) and the kube-rs peer
//! ([`k8s_openapi::api::core::v1::Pod`]) with the same content.
//!
//! `pods` pods belong to `apps` apps (`pods / apps` pods each), app `i` living in
//! namespace `ns-{i % 10}`. Every pod carries the labels a Deployment's pods carry:
//!
//! | label | value |
//! | --- | --- |
//! | `app` | `app-{i}` |
//! | `tier` | `frontend`, `backend`, `cache` or `db` (by app: `i % 4`) |
//! | `env` | `prod`, `staging` or `dev` (by app: `(i / 4) % 3`) |
//! | `version` | `v1` for the first half of an app's pods, `v2` for the second |
//! | `pod-template-hash` | 10 characters per (app, version), in the alphabet upstream uses |
//!
//! and a controller ownerReference to ReplicaSet `app-{i}-{hash}`, a node (`node-{k}`,
//! 100 nodes), one container (image, a named port, cpu/memory requests) and a status of
//! Running + Ready with a pod IP.
//!
//! kubesim pods of one (app, version) share one `Arc<PodSpec>` and one label map of
//! interned strings, as kubesim's ReplicaSet controller makes them; the k8s-openapi pods
//! own every string, as a reflector's watch stream delivers them. Pods are made one at a
//! time from their index ([`Workload::kubesim_pod`], [`Workload::kube_pod`]), so a memory
//! measurement never holds a pre-built vector.
//!
//! Selectors ([`Workload::selector_1pct`], [`Workload::selector_2label`]) come in both
//! forms with the count they select, which the benchmark checks against both stores.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, OnceLock};

use k8s_openapi::api::core::v1 as k8s;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as k8s_meta;
use kube::core::{Expression, Selector};
use kubesim_core::intern::{intern, SharedList, Str, StrMap};
use kubesim_core::model::{
    ConditionStatus, Container, ContainerPort, ContainerState, Kind, Namespace, Object, ObjectMeta,
    OwnerReference, Pod, PodCondition, PodConditions, PodPhase, PodSpec, PodStatus, Protocol,
    PullPolicy, Resources, RestartPolicy, Uid,
};
use kubesim_core::selector::{LabelSelector, Operator, Requirement};
use kubesim_core::time::Timestamp;

/// Values of the `tier` label, chosen by app (`i % 4`).
pub const TIERS: [&str; 4] = ["frontend", "backend", "cache", "db"];
/// Values of the `env` label, chosen by app (`(i / 4) % 3`).
pub const ENVS: [&str; 3] = ["prod", "staging", "dev"];
/// Values of the `version` label: the first half of an app's pods are `v1`.
pub const VERSIONS: [&str; 2] = ["v1", "v2"];
/// Number of namespaces (`ns-0` … `ns-9`); app `i` is in `ns-{i % 10}`.
pub const NAMESPACES: usize = 10;
/// Number of nodes pods are bound to.
pub const NODES: usize = 100;
/// The alphabet upstream's `rand.SafeEncodeString` uses for hashes and name suffixes.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Creation time of every pod's ReplicaSet; pods start within the hour after.
const BASE_TIME: Timestamp = Timestamp::VIRTUAL_EPOCH;
/// The one container's name.
const CONTAINER_NAME: &str = "app";
/// Its port.
const CONTAINER_PORT: i32 = 8080;
/// Its port's name.
const PORT_NAME: &str = "http";
/// Its cpu request (millicores) and the same in Kubernetes quantity form.
const CPU_MILLIS: (i64, &str) = (100, "100m");
/// Its memory request (bytes) and the same in Kubernetes quantity form.
const MEMORY_BYTES: (i64, &str) = (128 * 1024 * 1024, "128Mi");
/// `terminationGracePeriodSeconds` (the API default, written out as the API server does).
const GRACE_SECONDS: i64 = 30;

/// Size of a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// Total pods.
    pub pods: usize,
    /// Apps (Deployments); each has `pods / apps` pods.
    pub apps: usize,
}

impl WorkloadSpec {
    /// The benchmark's default: 100,000 pods in 1,000 apps.
    pub const DEFAULT: WorkloadSpec = WorkloadSpec {
        pods: 100_000,
        apps: 1_000,
    };

    /// A checked spec: at least one app, and an even number (≥ 2) of pods per app so
    /// that each app has as many `v1` as `v2` pods.
    pub fn new(pods: usize, apps: usize) -> Result<Self, String> {
        if apps == 0 {
            return Err("--apps must be at least 1".into());
        }
        if pods % apps != 0 {
            return Err(format!(
                "--pods ({pods}) must be a multiple of --apps ({apps})"
            ));
        }
        let per_app = pods / apps;
        if per_app < 2 || per_app % 2 != 0 {
            return Err(format!(
                "--pods / --apps must be an even number of pods per app (≥ 2), got {per_app}"
            ));
        }
        if per_app > 27usize.pow(5) {
            return Err(format!("at most {} pods per app", 27usize.pow(5)));
        }
        Ok(WorkloadSpec { pods, apps })
    }

    /// Pods per app.
    pub fn pods_per_app(&self) -> usize {
        self.pods / self.apps
    }
}

/// Where a pod lives and what it is called.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PodKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// A selector in both forms, with what it is expected to select.
#[derive(Clone, Debug)]
pub struct SelectorCase {
    /// The selector in string form (`app=app-42,version=v2`).
    pub text: String,
    /// kubesim's form.
    pub kubesim: LabelSelector,
    /// kube-rs's form.
    pub kube: Selector,
    /// How many pods of the workload it selects.
    pub expected: usize,
}

/// Per-app strings shared by both forms.
#[derive(Debug)]
struct App {
    name: String,
    namespace: String,
    tier: &'static str,
    env: &'static str,
    /// Per version: `pod-template-hash`.
    hash: [String; 2],
    /// Per version: ReplicaSet name `app-{i}-{hash}`.
    rs_name: [String; 2],
    /// Per version: ReplicaSet uid.
    rs_uid: [Uid; 2],
    /// Per version: container image.
    image: [String; 2],
}

/// What kubesim's ReplicaSet controller shares between the pods of one (app, version).
#[derive(Debug)]
struct KubesimTemplate {
    namespace: Str,
    labels: StrMap,
    spec: Arc<PodSpec>,
    generate_name: Str,
    /// The controller reference to the ReplicaSet, one shared list for all its pods.
    owner_references: SharedList<OwnerReference>,
}

/// The pods of a benchmark run, made on demand from their index.
#[derive(Debug)]
pub struct Workload {
    spec: WorkloadSpec,
    apps: Vec<App>,
    /// Built on first use, so a kube-rs-only process never pays for them.
    kubesim_templates: OnceLock<(Vec<[KubesimTemplate; 2]>, Vec<Str>)>,
}

/// FNV-32a, as upstream hashes pod templates.
fn fnv32a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Upstream's `rand.SafeEncodeString(fmt.Sprint(hash))`, zero-padded to 10 characters.
fn template_hash(app: usize, version: &str) -> String {
    let h = fnv32a(format!("app-{app}/{version}").as_bytes());
    format!("{h:010}")
        .bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// A 5-character name suffix, unique per pod index within one ReplicaSet.
///
/// `j * 7919 mod 27^5` is a bijection (7919 is coprime with 3), so distinct `j` give
/// distinct suffixes while neighbouring pods get unrelated-looking ones.
fn name_suffix(app: usize, j: usize) -> String {
    const SPACE: u64 = 27u64.pow(5);
    let mut v = ((j as u64).wrapping_mul(7919) + (app as u64).wrapping_mul(104_729)) % SPACE;
    let mut out = [0u8; 5];
    for slot in out.iter_mut().rev() {
        *slot = SAFE_ALPHABET[(v % 27) as usize];
        v /= 27;
    }
    out.iter().map(|&b| b as char).collect()
}

fn node_ip(node: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, (node / 250) as u8, (node % 250 + 1) as u8)
}

fn k8s_time(t: Timestamp) -> k8s_meta::Time {
    k8s_meta::Time(
        k8s_openapi::jiff::Timestamp::from_millisecond(t.millis())
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    )
}

/// Everything one pod index determines.
struct PodFacts<'a> {
    app_index: usize,
    app: &'a App,
    version: usize,
    name: String,
    node: usize,
    pod_ip: Ipv4Addr,
    started: Timestamp,
    uid: Uid,
}

impl Workload {
    /// Builds the per-app strings (a few hundred bytes per app).
    pub fn new(spec: WorkloadSpec) -> Self {
        let apps = (0..spec.apps)
            .map(|i| {
                let hash = [template_hash(i, VERSIONS[0]), template_hash(i, VERSIONS[1])];
                let rs_name = [
                    format!("app-{i}-{}", hash[0]),
                    format!("app-{i}-{}", hash[1]),
                ];
                let rs_uid = [
                    Uid(0x5253_0000_0000_0000 | (2 * i as u64)),
                    Uid(0x5253_0000_0000_0000 | (2 * i as u64 + 1)),
                ];
                App {
                    name: format!("app-{i}"),
                    namespace: format!("ns-{}", i % NAMESPACES),
                    tier: TIERS[i % TIERS.len()],
                    env: ENVS[(i / TIERS.len()) % ENVS.len()],
                    image: [
                        format!("registry.example.com/team/app-{i}:{}", VERSIONS[0]),
                        format!("registry.example.com/team/app-{i}:{}", VERSIONS[1]),
                    ],
                    hash,
                    rs_name,
                    rs_uid,
                }
            })
            .collect();
        Workload {
            spec,
            apps,
            kubesim_templates: OnceLock::new(),
        }
    }

    /// The size.
    pub fn spec(&self) -> WorkloadSpec {
        self.spec
    }

    /// Number of pods.
    pub fn len(&self) -> usize {
        self.spec.pods
    }

    /// Whether there are no pods (never, for a checked spec).
    pub fn is_empty(&self) -> bool {
        self.spec.pods == 0
    }

    /// The namespaces pods live in (`ns-0` … `ns-9`, fewer if there are fewer apps).
    pub fn namespaces(&self) -> Vec<String> {
        (0..NAMESPACES.min(self.spec.apps))
            .map(|i| format!("ns-{i}"))
            .collect()
    }

    /// kubesim Namespace objects for [`Workload::namespaces`] (the store rejects objects
    /// in a namespace that does not exist, as the API server does).
    pub fn kubesim_namespaces(&self) -> Vec<Object> {
        self.namespaces()
            .iter()
            .map(|ns| {
                Object::from(Namespace {
                    meta: ObjectMeta::named("", ns),
                    phase: Default::default(),
                })
            })
            .collect()
    }

    fn facts(&self, idx: usize) -> PodFacts<'_> {
        assert!(idx < self.spec.pods, "pod index {idx} out of range");
        let per_app = self.spec.pods_per_app();
        let (app_index, j) = (idx / per_app, idx % per_app);
        let version = usize::from(j >= per_app / 2);
        let app = &self.apps[app_index];
        let name = format!("{}-{}", app.rs_name[version], name_suffix(app_index, j));
        PodFacts {
            app_index,
            app,
            version,
            name,
            node: (app_index * 31 + j) % NODES,
            pod_ip: Ipv4Addr::from(0x0A80_0001u32 + idx as u32),
            started: BASE_TIME.plus(std::time::Duration::from_secs((idx % 3600) as u64)),
            uid: Uid(0x504f_0000_0000_0000 | idx as u64),
        }
    }

    /// The namespace and name of pod `idx`.
    pub fn key(&self, idx: usize) -> PodKey {
        let f = self.facts(idx);
        PodKey {
            namespace: f.app.namespace.clone(),
            name: f.name,
        }
    }

    /// The labels of pod `idx`, as plain strings (for checks).
    pub fn labels(&self, idx: usize) -> BTreeMap<String, String> {
        let f = self.facts(idx);
        Self::label_pairs(f.app, f.version)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn label_pairs(app: &App, version: usize) -> [(&'static str, &str); 5] {
        [
            ("app", app.name.as_str()),
            ("env", app.env),
            ("pod-template-hash", app.hash[version].as_str()),
            ("tier", app.tier),
            ("version", VERSIONS[version]),
        ]
    }

    fn templates(&self) -> &(Vec<[KubesimTemplate; 2]>, Vec<Str>) {
        self.kubesim_templates.get_or_init(|| {
            let templates = self
                .apps
                .iter()
                .map(|app| {
                    let make = |v: usize| {
                        let container = Container {
                            name: intern(CONTAINER_NAME),
                            image: intern(&app.image[v]),
                            image_pull_policy: PullPolicy::IfNotPresent,
                            command: Vec::new(),
                            args: Vec::new(),
                            ports: vec![ContainerPort {
                                name: Some(intern(PORT_NAME)),
                                container_port: CONTAINER_PORT,
                                host_port: None,
                                protocol: Protocol::Tcp,
                            }],
                            requests: Resources {
                                cpu_millis: CPU_MILLIS.0,
                                memory_bytes: MEMORY_BYTES.0,
                            },
                            limits: Resources::default(),
                            readiness_probe: None,
                            liveness_probe: None,
                            pre_stop: None,
                        };
                        KubesimTemplate {
                            namespace: intern(&app.namespace),
                            labels: StrMap::from_pairs(Self::label_pairs(app, v)),
                            spec: Arc::new(PodSpec {
                                containers: vec![container],
                                restart_policy: RestartPolicy::Always,
                                termination_grace_period_seconds: Some(GRACE_SECONDS),
                                ..Default::default()
                            }),
                            generate_name: intern(&format!("{}-", app.rs_name[v])),
                            owner_references: vec![OwnerReference {
                                kind: Kind::ReplicaSet,
                                name: intern(&app.rs_name[v]),
                                uid: app.rs_uid[v],
                                controller: true,
                                block_owner_deletion: true,
                            }]
                            .into(),
                        }
                    };
                    [make(0), make(1)]
                })
                .collect();
            let nodes = (0..NODES).map(|k| intern(&format!("node-{k}"))).collect();
            (templates, nodes)
        })
    }

    /// Pod `idx` as kubesim's ReplicaSet controller would create it (uid, resourceVersion
    /// and creationTimestamp are the store's to set).
    pub fn kubesim_pod(&self, idx: usize) -> Object {
        let f = self.facts(idx);
        let (templates, nodes) = self.templates();
        let t = &templates[f.app_index][f.version];
        let ready = PodCondition::new(ConditionStatus::True, f.started);
        Object::Pod(Pod {
            meta: ObjectMeta {
                name: Str::from(f.name),
                namespace: t.namespace.clone(),
                generate_name: Some(t.generate_name.clone()),
                labels: t.labels.clone(),
                owner_references: t.owner_references.clone(),
                ..Default::default()
            },
            spec: t.spec.clone(),
            node_name: Some(nodes[f.node].clone()),
            status: PodStatus {
                phase: PodPhase::Running,
                conditions: PodConditions {
                    scheduled: ready,
                    ready,
                },
                reason: None,
                host_ip: Some(node_ip(f.node)),
                pod_ip: Some(f.pod_ip),
                start_time: Some(f.started),
                container_state: ContainerState::Running {
                    started_at: f.started,
                },
                restart_count: 0,
                last_termination: None,
            },
        })
    }

    /// Pod `idx` as a watch stream delivers it to a kube-rs reflector: every string owned,
    /// with uid, resourceVersion and creationTimestamp set by the API server.
    pub fn kube_pod(&self, idx: usize) -> k8s::Pod {
        let f = self.facts(idx);
        let app = f.app;
        let v = f.version;
        let started = k8s_time(f.started);
        let condition = |type_: &str| k8s::PodCondition {
            type_: type_.to_string(),
            status: "True".to_string(),
            last_transition_time: Some(started.clone()),
            ..Default::default()
        };
        k8s::Pod {
            metadata: k8s_meta::ObjectMeta {
                name: Some(f.name),
                namespace: Some(app.namespace.clone()),
                generate_name: Some(format!("{}-", app.rs_name[v])),
                uid: Some(f.uid.to_string()),
                resource_version: Some((1000 + idx).to_string()),
                creation_timestamp: Some(k8s_time(BASE_TIME)),
                labels: Some(
                    Self::label_pairs(app, v)
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                owner_references: Some(vec![k8s_meta::OwnerReference {
                    api_version: "apps/v1".to_string(),
                    kind: "ReplicaSet".to_string(),
                    name: app.rs_name[v].clone(),
                    uid: app.rs_uid[v].to_string(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                ..Default::default()
            },
            spec: Some(k8s::PodSpec {
                containers: vec![k8s::Container {
                    name: CONTAINER_NAME.to_string(),
                    image: Some(app.image[v].clone()),
                    image_pull_policy: Some("IfNotPresent".to_string()),
                    ports: Some(vec![k8s::ContainerPort {
                        container_port: CONTAINER_PORT,
                        name: Some(PORT_NAME.to_string()),
                        protocol: Some("TCP".to_string()),
                        ..Default::default()
                    }]),
                    resources: Some(k8s::ResourceRequirements {
                        requests: Some(BTreeMap::from([
                            ("cpu".to_string(), Quantity(CPU_MILLIS.1.to_string())),
                            ("memory".to_string(), Quantity(MEMORY_BYTES.1.to_string())),
                        ])),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                node_name: Some(format!("node-{}", f.node)),
                restart_policy: Some("Always".to_string()),
                termination_grace_period_seconds: Some(GRACE_SECONDS),
                ..Default::default()
            }),
            status: Some(k8s::PodStatus {
                phase: Some("Running".to_string()),
                conditions: Some(vec![
                    condition("PodScheduled"),
                    condition("Initialized"),
                    condition("ContainersReady"),
                    condition("Ready"),
                ]),
                host_ip: Some(node_ip(f.node).to_string()),
                pod_ip: Some(f.pod_ip.to_string()),
                start_time: Some(started.clone()),
                container_statuses: Some(vec![k8s::ContainerStatus {
                    name: CONTAINER_NAME.to_string(),
                    image: app.image[v].clone(),
                    ready: true,
                    restart_count: 0,
                    started: Some(true),
                    state: Some(k8s::ContainerState {
                        running: Some(k8s::ContainerStateRunning {
                            started_at: Some(started),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    /// The apps the 1% selector picks: `max(1, apps / 100)` apps, spread evenly
    /// (`app-17`, `app-117`, … for 1,000 apps).
    fn one_percent_apps(&self) -> Vec<usize> {
        let k = (self.spec.apps / 100).max(1);
        let step = self.spec.apps / k;
        (0..k).map(|j| j * step + 17 % step).collect()
    }

    /// `app in (app-17,app-117,…)`: `max(1, apps / 100)` apps, so 1% of pods when
    /// `apps` is a multiple of 100 (1,000 of 100,000 by default). A set-based
    /// requirement on one key, as a Service or a PodDisruptionBudget spanning several
    /// apps would use.
    pub fn selector_1pct(&self) -> SelectorCase {
        let names: BTreeSet<String> = self
            .one_percent_apps()
            .iter()
            .map(|i| format!("app-{i}"))
            .collect();
        let values: Vec<Str> = names.iter().map(|n| intern(n)).collect();
        let text = format!(
            "app in ({})",
            names.iter().cloned().collect::<Vec<_>>().join(",")
        );
        SelectorCase {
            text,
            kubesim: LabelSelector {
                match_labels: StrMap::new(),
                match_expressions: vec![Requirement {
                    key: intern("app"),
                    operator: Operator::In,
                    values,
                }],
            },
            kube: Selector::from(Expression::In("app".to_string(), names.clone())),
            expected: names.len() * self.spec.pods_per_app(),
        }
    }

    /// `app=app-42,version=v2` (app 42, or the last app when there are fewer): half of
    /// one app's pods (50 by default).
    pub fn selector_2label(&self) -> SelectorCase {
        let app = 42.min(self.spec.apps - 1);
        let app_name = format!("app-{app}");
        let pairs = [("app", app_name.as_str()), ("version", VERSIONS[1])];
        SelectorCase {
            text: format!("app={app_name},version={}", VERSIONS[1]),
            kubesim: LabelSelector::from_labels(StrMap::from_pairs(pairs)),
            kube: pairs
                .iter()
                .map(|(k, v)| Expression::Equal(k.to_string(), v.to_string()))
                .collect(),
            expected: self.spec.pods_per_app() / 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use kube::core::SelectorExt;

    use super::*;

    fn tiny() -> Workload {
        Workload::new(WorkloadSpec::new(2_000, 200).unwrap())
    }

    fn kubesim_labels(obj: &Object) -> BTreeMap<String, String> {
        obj.labels()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn spec_validation_rejects_uneven_sizes() {
        assert!(WorkloadSpec::new(100_000, 1_000).is_ok());
        assert!(WorkloadSpec::new(100, 0).is_err());
        assert!(WorkloadSpec::new(1_001, 10).is_err());
        assert!(WorkloadSpec::new(30, 10).is_err()); // 3 per app: odd
        assert!(WorkloadSpec::new(10, 10).is_err()); // 1 per app
    }

    #[test]
    fn both_forms_carry_the_same_content() {
        let w = tiny();
        for idx in (0..w.len()).step_by(7) {
            let ks = w.kubesim_pod(idx);
            let kp = w.kube_pod(idx);
            let key = w.key(idx);
            let labels = w.labels(idx);
            assert_eq!(kubesim_labels(&ks), labels);
            assert_eq!(kp.metadata.labels.as_ref(), Some(&labels));
            assert_eq!(ks.name().as_str(), key.name);
            assert_eq!(ks.namespace().as_str(), key.namespace);
            assert_eq!(kp.metadata.name.as_deref(), Some(key.name.as_str()));
            assert_eq!(
                kp.metadata.namespace.as_deref(),
                Some(key.namespace.as_str())
            );
            let pod = ks.as_pod().unwrap();
            let kspec = kp.spec.as_ref().unwrap();
            assert_eq!(pod.node_name.as_deref(), kspec.node_name.as_deref());
            assert_eq!(
                pod.spec.containers[0].image.as_str(),
                kspec.containers[0].image.as_deref().unwrap()
            );
            let owner = ks.meta().controller_ref().unwrap();
            let kowner = &kp.metadata.owner_references.as_ref().unwrap()[0];
            assert_eq!(owner.name.as_str(), kowner.name);
            assert_eq!(owner.uid.to_string(), kowner.uid);
            assert_eq!(
                owner.name.as_str(),
                format!("{}-{}", labels["app"], labels["pod-template-hash"])
            );
            let kstatus = kp.status.as_ref().unwrap();
            assert_eq!(pod.status.pod_ip.map(|ip| ip.to_string()), kstatus.pod_ip);
            assert_eq!(pod.status.phase.as_str(), kstatus.phase.as_deref().unwrap());
            assert!(pod.is_ready());
        }
    }

    #[test]
    fn labels_follow_the_documented_scheme() {
        let w = Workload::new(WorkloadSpec::DEFAULT);
        let l = w.labels(17 * 100 + 60);
        assert_eq!(l["app"], "app-17");
        assert_eq!(l["tier"], TIERS[17 % 4]);
        assert_eq!(l["env"], ENVS[(17 / 4) % 3]);
        assert_eq!(l["version"], "v2");
        assert_eq!(l["pod-template-hash"].len(), 10);
        assert!(l["pod-template-hash"]
            .bytes()
            .all(|b| SAFE_ALPHABET.contains(&b)));
        assert_eq!(w.key(17 * 100).namespace, "ns-7");
        assert_eq!(w.labels(17 * 100)["version"], "v1");
    }

    #[test]
    fn names_are_unique_and_valid() {
        let w = tiny();
        let mut seen = std::collections::HashSet::new();
        for idx in 0..w.len() {
            let k = w.key(idx);
            kubesim_core::validation::dns1123_subdomain(&k.name).unwrap();
            assert!(seen.insert(k), "duplicate key at {idx}");
        }
    }

    #[test]
    fn kubesim_pods_share_spec_and_labels_per_app_version() {
        let w = tiny();
        let (a, b, c) = (w.kubesim_pod(0), w.kubesim_pod(1), w.kubesim_pod(9));
        let (pa, pb, pc) = (
            a.as_pod().unwrap(),
            b.as_pod().unwrap(),
            c.as_pod().unwrap(),
        );
        assert!(Arc::ptr_eq(&pa.spec, &pb.spec));
        assert!(!Arc::ptr_eq(&pa.spec, &pc.spec)); // pod 9 of 10 is v2
        assert!(Str::ptr_eq(
            pa.meta.labels.get("app").unwrap(),
            pc.meta.labels.get("app").unwrap()
        ));
    }

    /// Counts by brute force over every pod, in both forms.
    fn check_counts(w: &Workload, case: &SelectorCase) {
        let mut ks = 0;
        let mut kube = 0;
        for idx in 0..w.len() {
            ks += usize::from(case.kubesim.matches(w.kubesim_pod(idx).labels()));
            kube += usize::from(case.kube.matches(&w.labels(idx)));
        }
        assert_eq!(ks, case.expected, "{}", case.text);
        assert_eq!(kube, case.expected, "{}", case.text);
    }

    #[test]
    fn selectors_select_what_they_claim() {
        let w = tiny(); // 200 apps x 10 pods
        let one = w.selector_1pct();
        assert_eq!(one.expected, w.len() / 100);
        assert_eq!(one.text, "app in (app-117,app-17)");
        check_counts(&w, &one);
        let two = w.selector_2label();
        assert_eq!(two.expected, 5);
        assert_eq!(two.text, "app=app-42,version=v2");
        check_counts(&w, &two);
    }

    #[test]
    fn default_one_percent_is_a_thousand_pods() {
        let w = Workload::new(WorkloadSpec::DEFAULT);
        let one = w.selector_1pct();
        assert_eq!(one.expected, 1_000);
        assert_eq!(one.kubesim.match_expressions[0].values.len(), 10);
        assert_eq!(w.selector_2label().expected, 50);
    }
}
