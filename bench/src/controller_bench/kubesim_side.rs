//! The kubesim side: [`BenchReplicaSet`], a [`Controller`] on kubesim's real-time
//! [`Runtime`] whose reconcile is [`logic::reconcile`] over the runtime's store view
//! and recorded writes; and the same workload under kubesim's own
//! [`ReplicaSetController`] (the extra row).
//!
//! Event path: the runtime's pump threads watch ReplicaSets and Pods in the
//! [`Store`]; [`BenchReplicaSet::map_event`] maps a ReplicaSet event to its own key
//! (only when its `metadata.generation` changed, as kube-runtime's
//! `predicates::generation` filter does on the other side) and a Pod event to its
//! controller owner's key, lowering that owner's [`Expectations`] on a pod added or
//! deleted; keys go through the runtime's dispatcher to its worker threads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use kubesim_core::controllers::replicaset::{self as rsc, ReplicaSetController};
use kubesim_core::intern::{SharedList, Str};
use kubesim_core::model::{Kind, Object, ObjectKey, OwnerReference, ReplicaSet};
use kubesim_core::runtime::{
    map_to_controller, route_object, Controller, Ctx, ReconcileError, Requeue, Routed, Runtime,
    RuntimeConfig, StoreView, Strategy,
};
use kubesim_core::store::{DeleteOptions, Store, WatchEvent, WatchEventType};

use super::logic::{self, Counters, Expectations, ReplicaSetApi, ShardedMap};
use super::{cpu_ms, process_cpu_time, wait_converged, Check, RunSample};
use crate::shard_bench;

/// The bench's ReplicaSet controller on kubesim's runtime.
#[derive(Default)]
pub struct BenchReplicaSet {
    /// Outstanding creates and deletes per ReplicaSet.
    pub expectations: Expectations<ObjectKey>,
    /// Reconciles, creates, deletes, status writes.
    pub counters: Counters,
    /// Last generation seen per ReplicaSet (the generation predicate).
    generations: ShardedMap<ObjectKey, i64>,
}

/// The controller's name (runtime metrics).
pub const NAME: &str = "bench-replicaset";

impl Controller for BenchReplicaSet {
    fn name(&self) -> &'static str {
        NAME
    }

    fn primary(&self) -> Kind {
        Kind::ReplicaSet
    }

    fn watches(&self) -> &[Kind] {
        &[Kind::Pod]
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        match ev.object.kind() {
            Kind::ReplicaSet => {
                let key = ObjectKey::of(&ev.object);
                let generation = ev.object.meta().generation;
                let changed = self.generations.with(&key, |m| {
                    if ev.type_ == WatchEventType::Deleted {
                        m.remove(&key);
                        true
                    } else {
                        m.insert(key.clone(), generation) != Some(generation)
                    }
                });
                if changed {
                    out.push(route_object(store, &ev.object));
                }
            }
            Kind::Pod => {
                if let Some(owner) = ObjectKey::controller_of(&ev.object) {
                    if owner.kind == Kind::ReplicaSet {
                        match ev.type_ {
                            WatchEventType::Added => self.expectations.observe_add(&owner),
                            WatchEventType::Deleted => self.expectations.observe_delete(&owner),
                            WatchEventType::Modified => {}
                        }
                    }
                }
                map_to_controller(ev, store, Kind::ReplicaSet, out);
            }
            _ => {}
        }
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        let Some(obj) = ctx.store().get_key(key) else {
            return Ok(Requeue::Done);
        };
        let Some(rs) = obj.as_replica_set() else {
            return Err(ReconcileError::new(format!("{key} is not a ReplicaSet")));
        };
        let mut api = KubesimApi { rs, ctx };
        logic::reconcile(&self.expectations, &self.counters, key, &mut api);
        Ok(Requeue::Done)
    }
}

/// [`ReplicaSetApi`] over a kubesim reconcile's context: reads the live store (the
/// owner index), records writes for the runtime to apply.
struct KubesimApi<'r, 'c, 'a> {
    rs: &'r ReplicaSet,
    ctx: &'c mut Ctx<'a>,
}

impl ReplicaSetApi for KubesimApi<'_, '_, '_> {
    type PodRef = Str;

    fn replicas(&self) -> i32 {
        self.rs.spec.replicas
    }

    fn status_replicas(&self) -> i32 {
        self.rs.status.replicas
    }

    fn owned_pods(&mut self) -> Vec<Str> {
        let uid = self.rs.meta.uid;
        self.ctx
            .store()
            .dependents_of_kind(Kind::Pod, uid)
            .iter()
            .filter_map(|o| o.as_pod())
            .filter(|p| p.is_active() && p.meta.controller_ref().is_some_and(|r| r.uid == uid))
            .map(|p| p.meta.name.clone())
            .collect()
    }

    fn create_pods(&mut self, n: usize) {
        let refs: SharedList<OwnerReference> = vec![OwnerReference {
            kind: Kind::ReplicaSet,
            name: self.rs.meta.name.clone(),
            uid: self.rs.meta.uid,
            controller: true,
            block_owner_deletion: true,
        }]
        .into();
        for pod in rsc::new_pods(self.rs, &refs, n) {
            self.ctx.create(pod);
        }
    }

    fn delete_pods(&mut self, pods: &[Str]) {
        for name in pods {
            self.ctx.delete(
                Kind::Pod,
                &self.rs.meta.namespace,
                name,
                DeleteOptions {
                    grace_period_seconds: Some(0),
                    ..DeleteOptions::default()
                },
            );
        }
    }

    fn write_status(&mut self, replicas: i32) {
        let mut new = self.rs.clone();
        new.status.replicas = replicas;
        self.ctx.update_status(Object::from(new));
    }
}

/// Which controller the kubesim side runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// [`BenchReplicaSet`]: the shared reconcile body.
    Bench,
    /// kubesim's own [`ReplicaSetController`] (claims, slow start, full status).
    Real,
}

/// One cold start on kubesim's runtime: a fresh store holding the ReplicaSets
/// ([`shard_bench::setup_store`]), the runtime started (the timed region begins), polled
/// until converged or `timeout`, then stopped; checks outside the timed region.
pub fn run(
    which: Which,
    replicas: &[usize],
    strategy: Strategy,
    workers: usize,
    pump_spins: usize,
    seed: u64,
    timeout: Duration,
) -> Result<RunSample> {
    let store = shard_bench::setup_store(replicas, seed)?;
    let total: usize = replicas.iter().sum();
    let bench = Arc::new(BenchReplicaSet::default());
    let controller: Arc<dyn Controller> = match which {
        Which::Bench => bench.clone(),
        Which::Real => Arc::new(ReplicaSetController::new()),
    };
    let name = controller.name();
    let cpu0 = process_cpu_time();
    let start = Instant::now();
    let rt = Runtime::start(
        store.clone(),
        vec![controller],
        RuntimeConfig {
            pump_spins,
            ..RuntimeConfig::new(strategy, workers)
        },
    )
    .map_err(|e| anyhow!("starting the runtime: {e}"))?;
    let end = wait_converged(start + timeout, || shard_bench::converged(&store, total));
    let cpu1 = process_cpu_time();
    let metrics = rt.stop();
    let c = metrics
        .controller(name)
        .ok_or_else(|| anyhow!("no {name} metrics"))?;
    let mut sample = RunSample::new(start, end, c.reconciles);
    sample.errors = c.errors + c.panics + c.map_panics;
    sample.cpu_ms = cpu_ms(cpu0, cpu1);
    if !c.latency.is_empty() {
        sample.p50_us = c.latency.value_at_quantile(0.5) as f64 / 1e3;
        sample.p99_us = c.latency.value_at_quantile(0.99) as f64 / 1e3;
    }
    if which == Which::Bench {
        let (_, creates, deletes, status) = bench.counters.snapshot();
        sample.creates = creates;
        sample.deletes = deletes;
        sample.status_writes = status;
    }
    sample.check = check(&store, replicas)?;
    Ok(sample)
}

/// Every ReplicaSet has exactly its `spec.replicas` active pods controlled by it, and
/// `status.replicas` says so.
pub fn check(store: &Store, replicas: &[usize]) -> Result<Check> {
    let sets = store
        .list(Kind::ReplicaSet, None, None, None)
        .map_err(|e| anyhow!("listing ReplicaSets: {e}"))?;
    let pods = store
        .list(Kind::Pod, None, None, None)
        .map_err(|e| anyhow!("listing pods: {e}"))?;
    let mut per_owner: std::collections::HashMap<u64, usize> = Default::default();
    for p in pods.iter().filter_map(|o| o.as_pod()) {
        if let Some(r) = p.meta.controller_ref().filter(|_| p.is_active()) {
            *per_owner.entry(r.uid.0).or_default() += 1;
        }
    }
    let mut c = Check::new(replicas.len(), pods.len());
    for rs in sets.iter().filter_map(|o| o.as_replica_set()) {
        let have = per_owner.get(&rs.meta.uid.0).copied().unwrap_or(0);
        c.record(&rs.meta.name, rs.spec.replicas, have, rs.status.replicas);
    }
    c.finish(sets.len());
    Ok(c)
}
