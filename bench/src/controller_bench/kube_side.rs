//! The kube-runtime side: `kube::runtime::Controller::for_stream` on a 2-worker tokio
//! runtime, reconciling with [`logic::reconcile`] over reflector stores, fed by
//! synthetic watch streams that a bench-local "API" writes into.
//!
//! Set-up, as kube-runtime's docs show for `for_stream` / `owns_stream`:
//!
//! ```text
//! rs "watch" (channel) ─► .reflect(rs_writer) ─► .applied_objects()
//!     ─► .predicate_filter(predicates::generation) ─► Controller::for_stream(…, rs_reader)
//! pod "watch" (channel) ─► .reflect(pod_writer) ─► [owner index, expectations]
//!     ─► .touched_objects() ─► .owns_stream(…)
//! .with_config(Config::default().concurrency(n))   (n = 0: unbounded, kube's default)
//! .run(reconcile, error_policy, ctx)   (no debounce; reconciles spawned on the runtime)
//! ```
//!
//! The "API" ([`KubeCtx`]) stands in for the API server and its watch: a pod create
//! assigns a name, uid and resourceVersion and sends `Event::Apply(pod)` on the pod
//! channel; a delete sends `Event::Delete(pod)`; a status write sends the ReplicaSet
//! with the new status and resourceVersion on the ReplicaSet channel. Both channels
//! start with a watcher's initial list (`Init`, `InitApply`…, `InitDone`). So the
//! reflector stores are filled exactly as a watcher would fill them, the writes come
//! back as watch events, and a pod create triggers its owner's reconcile through
//! kube-runtime's own `trigger_owners`. No validation, admission, conflict check or
//! serialization happens in this "API".
//!
//! kube-runtime's reflector has no secondary index, and listing a ReplicaSet's pods by
//! scanning `Store::state()` would make every reconcile O(all pods) — the store
//! comparison `kubesim bench store` already makes. So this side gets a bench-local
//! owner index (ReplicaSet uid → pod names, names resolved through the reflector
//! `Store`), updated in the pod stream right after the reflector, as a kube-rs user
//! would add one (kubert-style). It favours kube-runtime.
//!
//! Concurrency: the streams are polled by the controller's task; reconciles run as
//! spawned tasks on the runtime's two worker threads. Shared state is in [`KubeCtx`]:
//! reflector stores (kube's own RwLock), the owner index, expectations and pending map
//! ([`ShardedMap`]s), the latency histogram (a parking_lot mutex, held per record),
//! atomics.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use futures::channel::mpsc::{unbounded, UnboundedSender};
use futures::{FutureExt, StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use k8s_openapi::api::apps::v1::{
    ReplicaSet as KReplicaSet, ReplicaSetSpec as KReplicaSetSpec,
    ReplicaSetStatus as KReplicaSetStatus,
};
use k8s_openapi::api::core::v1::{
    Container as KContainer, ContainerPort as KContainerPort, Pod as KPod, PodSpec as KPodSpec,
    PodTemplateSpec as KPodTemplateSpec, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector as KLabelSelector, ObjectMeta as KObjectMeta, OwnerReference as KOwnerReference,
};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{predicates, watcher, Controller, WatchStreamExt};
use parking_lot::Mutex;

use super::logic::{self, Counters, Expectations, PendingSince, ReplicaSetApi, ShardedMap};
use super::{cpu_ms, process_cpu_time, wait_converged, Check, RunSample};
use crate::shard_bench;

type RsKey = ObjectRef<KReplicaSet>;

/// State shared by the streams, the reconciles and the bench thread.
pub struct KubeCtx {
    expectations: Expectations<RsKey>,
    counters: Counters,
    pods: Store<KPod>,
    /// ReplicaSet uid → names of the pods it controls (in its namespace).
    index: ShardedMap<String, HashSet<String>>,
    pending: PendingSince<RsKey>,
    latency: Mutex<Histogram<u64>>,
    pod_tx: UnboundedSender<watcher::Event<KPod>>,
    rs_tx: UnboundedSender<watcher::Event<KReplicaSet>>,
    /// Names, uids and resourceVersions the "API" hands out.
    seq: AtomicU64,
}

impl KubeCtx {
    fn next(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The pod stream's stage after the reflector: owner index, expectations, and the
    /// owner's pending-event time.
    fn observe_pod(&self, ev: &watcher::Event<KPod>) {
        let (pod, added) = match ev {
            watcher::Event::Apply(p) | watcher::Event::InitApply(p) => (p, true),
            watcher::Event::Delete(p) => (p, false),
            watcher::Event::Init | watcher::Event::InitDone => return,
        };
        let Some(owner) = controller_ref(pod) else {
            return;
        };
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let key = RsKey::new(&owner.name).within(ns);
        let changed = self.index.with(&owner.uid, |m| {
            if added {
                m.entry(owner.uid.clone()).or_default().insert(name)
            } else {
                m.get_mut(&owner.uid).is_some_and(|s| s.remove(&name))
            }
        });
        if changed {
            if added {
                self.expectations.observe_add(&key);
            } else {
                self.expectations.observe_delete(&key);
            }
        }
        self.pending.event(key, Instant::now());
    }
}

fn controller_ref(pod: &KPod) -> Option<&KOwnerReference> {
    pod.metadata
        .owner_references
        .as_deref()?
        .iter()
        .find(|r| r.controller == Some(true) && r.kind == "ReplicaSet")
}

fn is_active(pod: &KPod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && !matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        )
}

/// [`ReplicaSetApi`] over the reflector stores and the "API".
struct KubeApi<'a> {
    rs: &'a KReplicaSet,
    ctx: &'a KubeCtx,
}

impl ReplicaSetApi for KubeApi<'_> {
    type PodRef = String;

    fn replicas(&self) -> i32 {
        self.rs.spec.replicas.unwrap_or(1)
    }

    fn status_replicas(&self) -> i32 {
        self.rs.status.as_ref().map_or(0, |s| s.replicas)
    }

    fn owned_pods(&mut self) -> Vec<String> {
        let uid = self.rs.metadata.uid.as_deref().unwrap_or_default();
        let ns = self.rs.metadata.namespace.as_deref().unwrap_or_default();
        let names: Vec<String> = self.ctx.index.with(uid, |m| {
            m.get(uid)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default()
        });
        names
            .into_iter()
            .filter(|name| {
                self.ctx
                    .pods
                    .get(&ObjectRef::new(name).within(ns))
                    .is_some_and(|p| {
                        is_active(&p) && controller_ref(&p).is_some_and(|r| r.uid == uid)
                    })
            })
            .collect()
    }

    fn create_pods(&mut self, n: usize) {
        let meta = &self.rs.metadata;
        let rs_name = meta.name.clone().unwrap_or_default();
        let template = self.rs.spec.template.as_ref();
        let owner = KOwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: rs_name.clone(),
            uid: meta.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        for _ in 0..n {
            let id = self.ctx.next();
            let pod = KPod {
                metadata: KObjectMeta {
                    name: Some(format!("{rs_name}-{id:05x}")),
                    generate_name: Some(format!("{rs_name}-")),
                    namespace: meta.namespace.clone(),
                    labels: template.and_then(|t| t.metadata.as_ref()?.labels.clone()),
                    owner_references: Some(vec![owner.clone()]),
                    uid: Some(format!("pod-{id}")),
                    resource_version: Some(id.to_string()),
                    ..KObjectMeta::default()
                },
                spec: template.and_then(|t| t.spec.clone()),
                status: None,
            };
            let _ = self.ctx.pod_tx.unbounded_send(watcher::Event::Apply(pod));
        }
    }

    fn delete_pods(&mut self, pods: &[String]) {
        let ns = self.rs.metadata.namespace.as_deref().unwrap_or_default();
        for name in pods {
            if let Some(p) = self.ctx.pods.get(&ObjectRef::new(name).within(ns)) {
                let _ = self
                    .ctx
                    .pod_tx
                    .unbounded_send(watcher::Event::Delete((*p).clone()));
            }
        }
    }

    fn write_status(&mut self, replicas: i32) {
        let mut new = self.rs.clone();
        new.status
            .get_or_insert_with(KReplicaSetStatus::default)
            .replicas = replicas;
        new.metadata.resource_version = Some(self.ctx.next().to_string());
        let _ = self.ctx.rs_tx.unbounded_send(watcher::Event::Apply(new));
    }
}

async fn reconcile(rs: Arc<KReplicaSet>, ctx: Arc<KubeCtx>) -> Result<Action, Infallible> {
    let key = RsKey::from_obj(&rs);
    if let Some(t) = ctx.pending.take(&key) {
        let ns = t.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
        ctx.latency.lock().saturating_record(ns.max(1));
    }
    let mut api = KubeApi { rs: &rs, ctx: &ctx };
    logic::reconcile(&ctx.expectations, &ctx.counters, &key, &mut api);
    Ok(Action::await_change())
}

fn error_policy(_rs: Arc<KReplicaSet>, err: &Infallible, _ctx: Arc<KubeCtx>) -> Action {
    match *err {}
}

/// The kube-rs version of [`shard_bench::replica_set`]`(i, replicas)`: the same
/// name, namespace, labels, selector and pod template, with the uid, generation and
/// resourceVersion an API server would have set.
pub fn replica_set(i: usize, replicas: usize) -> Result<KReplicaSet> {
    let obj = shard_bench::replica_set(i, replicas);
    let rs = obj
        .as_replica_set()
        .ok_or_else(|| anyhow!("shard_bench::replica_set built no ReplicaSet"))?;
    let map = |m: &kubesim_core::intern::StrMap| {
        m.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let containers = rs
        .spec
        .template
        .spec
        .containers
        .iter()
        .map(|c| KContainer {
            name: c.name.to_string(),
            image: Some(c.image.to_string()),
            image_pull_policy: Some("IfNotPresent".into()),
            ports: Some(
                c.ports
                    .iter()
                    .map(|p| KContainerPort {
                        name: p.name.as_ref().map(|n| n.to_string()),
                        container_port: p.container_port,
                        protocol: Some("TCP".into()),
                        ..KContainerPort::default()
                    })
                    .collect(),
            ),
            resources: Some(ResourceRequirements {
                requests: Some(
                    [
                        (
                            "cpu".to_string(),
                            Quantity(format!("{}m", c.requests.cpu_millis)),
                        ),
                        (
                            "memory".to_string(),
                            Quantity(format!("{}Mi", c.requests.memory_bytes >> 20)),
                        ),
                    ]
                    .into_iter()
                    .collect(),
                ),
                ..ResourceRequirements::default()
            }),
            ..KContainer::default()
        })
        .collect();
    Ok(KReplicaSet {
        metadata: KObjectMeta {
            name: Some(rs.meta.name.to_string()),
            namespace: Some(rs.meta.namespace.to_string()),
            uid: Some(format!("rs-uid-{i}")),
            generation: Some(1),
            resource_version: Some("1".into()),
            ..KObjectMeta::default()
        },
        spec: KReplicaSetSpec {
            replicas: Some(rs.spec.replicas),
            min_ready_seconds: Some(0),
            selector: KLabelSelector {
                match_labels: Some(map(&rs.spec.selector.match_labels)),
                match_expressions: None,
            },
            template: Some(KPodTemplateSpec {
                metadata: Some(KObjectMeta {
                    labels: Some(map(&rs.spec.template.meta.labels)),
                    ..KObjectMeta::default()
                }),
                spec: Some(KPodSpec {
                    containers,
                    restart_policy: Some("Always".into()),
                    termination_grace_period_seconds: Some(30),
                    ..KPodSpec::default()
                }),
            }),
        },
        status: Some(KReplicaSetStatus::default()),
    })
}

/// One cold start on kube-runtime: the ReplicaSets built and queued as the initial
/// list (outside the timed region), a fresh 2-worker tokio runtime, the controller
/// spawned (the timed region begins), polled until converged or `timeout`, then shut
/// down gracefully; checks outside the timed region.
pub fn run(
    replicas: &[usize],
    threads: usize,
    concurrency: u16,
    timeout: Duration,
) -> Result<RunSample> {
    let total: usize = replicas.iter().sum();
    let sets: Vec<KReplicaSet> = replicas
        .iter()
        .enumerate()
        .map(|(i, &n)| replica_set(i, n))
        .collect::<Result<_>>()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .context("building the tokio runtime")?;

    let (rs_reader, rs_writer) = reflector::store::<KReplicaSet>();
    let (pod_reader, pod_writer) = reflector::store::<KPod>();
    let (rs_tx, rs_rx) = unbounded::<watcher::Event<KReplicaSet>>();
    let (pod_tx, pod_rx) = unbounded::<watcher::Event<KPod>>();
    // The watchers' initial lists.
    fn send_err<T>(_: T) -> anyhow::Error {
        anyhow!("watch channel closed")
    }
    rs_tx
        .unbounded_send(watcher::Event::Init)
        .map_err(send_err)?;
    for rs in sets {
        rs_tx
            .unbounded_send(watcher::Event::InitApply(rs))
            .map_err(send_err)?;
    }
    rs_tx
        .unbounded_send(watcher::Event::InitDone)
        .map_err(send_err)?;
    pod_tx
        .unbounded_send(watcher::Event::Init)
        .map_err(send_err)?;
    pod_tx
        .unbounded_send(watcher::Event::InitDone)
        .map_err(send_err)?;

    let ctx = Arc::new(KubeCtx {
        expectations: Expectations::default(),
        counters: Counters::default(),
        pods: pod_reader.clone(),
        index: ShardedMap::default(),
        pending: PendingSince::default(),
        latency: Mutex::new(
            Histogram::new_with_bounds(1, 3_600_000_000_000, 3).context("histogram bounds")?,
        ),
        pod_tx,
        rs_tx,
        seq: AtomicU64::new(1),
    });
    let errors = Arc::new(AtomicU64::new(0));

    let pod_ctx = Arc::clone(&ctx);
    let pod_stream = pod_rx
        .map(Ok::<_, watcher::Error>)
        .reflect(pod_writer)
        .map_ok(move |ev| {
            pod_ctx.observe_pod(&ev);
            ev
        })
        .touched_objects();
    let rs_ctx = Arc::clone(&ctx);
    let rs_stream = rs_rx
        .map(Ok::<_, watcher::Error>)
        .reflect(rs_writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default())
        .map_ok(move |rs: KReplicaSet| {
            rs_ctx.pending.event(RsKey::from_obj(&rs), Instant::now());
            rs
        });
    let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
    let errs = Arc::clone(&errors);
    let controller = Controller::for_stream(rs_stream, rs_reader.clone())
        .owns_stream(pod_stream)
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(stop_rx.map(|_| ()))
        .run(reconcile, error_policy, Arc::clone(&ctx))
        .for_each(move |r| {
            if r.is_err() {
                errs.fetch_add(1, Ordering::Relaxed);
            }
            std::future::ready(())
        });

    let cpu0 = process_cpu_time();
    let start = Instant::now();
    let handle = rt.spawn(controller);
    let end = wait_converged(start + timeout, || {
        pod_reader.len() == total
            && rs_reader.len() == replicas.len()
            && rs_reader.state().iter().all(|rs| {
                let want = rs.spec.replicas.unwrap_or(1);
                rs.status.as_ref().map_or(0, |s| s.replicas) == want
            })
    });
    let cpu1 = process_cpu_time();
    let _ = stop_tx.send(());
    let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), handle).await });
    rt.shutdown_timeout(Duration::from_secs(1));

    let (reconciles, creates, deletes, status_writes) = ctx.counters.snapshot();
    let mut sample = RunSample::new(start, end, reconciles);
    sample.creates = creates;
    sample.deletes = deletes;
    sample.status_writes = status_writes;
    sample.errors = errors.load(Ordering::Relaxed);
    sample.cpu_ms = cpu_ms(cpu0, cpu1);
    {
        let h = ctx.latency.lock();
        if !h.is_empty() {
            sample.p50_us = h.value_at_quantile(0.5) as f64 / 1e3;
            sample.p99_us = h.value_at_quantile(0.99) as f64 / 1e3;
        }
    }
    sample.check = check(&rs_reader, &pod_reader, replicas.len());
    Ok(sample)
}

/// Every ReplicaSet has exactly its `spec.replicas` active pods controlled by it, and
/// `status.replicas` says so (read from the reflector stores).
pub fn check(sets: &Store<KReplicaSet>, pods: &Store<KPod>, expected_sets: usize) -> Check {
    let pods = pods.state();
    let mut per_owner: HashMap<&str, usize> = HashMap::new();
    for p in pods.iter().filter(|p| is_active(p)) {
        if let Some(r) = controller_ref(p) {
            *per_owner.entry(r.uid.as_str()).or_default() += 1;
        }
    }
    let sets = sets.state();
    let mut c = Check::new(expected_sets, pods.len());
    for rs in &sets {
        let uid = rs.metadata.uid.as_deref().unwrap_or_default();
        c.record(
            rs.metadata.name.as_deref().unwrap_or_default(),
            rs.spec.replicas.unwrap_or(1),
            per_owner.get(uid).copied().unwrap_or(0),
            rs.status.as_ref().map_or(0, |s| s.replicas),
        );
    }
    c.finish(sets.len());
    c
}
