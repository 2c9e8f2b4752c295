//! Criterion benches for ONE reconcile of each controller at realistic sizes.
//!
//! Each case prepares a store in the state that makes the reconcile do its typical
//! work, then measures [`reconcile_once`]: the controller's `reconcile` for one key —
//! reading the store, deciding, and recording its writes and Events — exactly what a
//! virtual-time round runs in its parallel phase. The recorded writes are *not*
//! applied (applying them is store work, measured by `benches/store.rs`), so the
//! prepared store never changes and every iteration does the same work. Where the
//! reconcile changes the controller's own state (ReplicaSet and DaemonSet
//! expectations, HPA memory, kubelet image cache, node-lifecycle state) each iteration
//! gets a fresh, primed controller from `iter_batched` (setup not timed). The Job
//! controller is the exception: it must remember which terminated pods its status
//! already counts, so the measured instance is the one that ran the Job (its
//! reconcile only notes newly counted pods as pending; they join the counted set in
//! `applied`, which the bench does not call). Every case uses
//! `iter_batched`, so dropping the recorded writes (500 pod objects for a scale-up) is
//! not timed either: the figure is read + decide + record. Before measuring, each case
//! checks once that the reconcile does the work it is named after (so a fixture that
//! drifts fails loudly, also in `cargo test --benches`).
//!
//! How a store gets "in the state": a [`World`] is kubesim's control plane in virtual
//! time (the controllers of [`cluster::controllers`] on a [`Simulation`], nodes as
//! [`cluster::node_object`]); a case runs it to a realistic state, then either edits an
//! object directly in the store (a scale, a template change, a delete), or keeps
//! running the world *without* the controller under test ([`World::pause`]) so that
//! the rest of the cluster moves on and that controller has real work waiting.
//!
//! Cases (group `reconcile`):
//!
//! - `replicaset/steady-100`: a 100-pod ReplicaSet, all Running and Ready: a no-op sync
//!   (claims 100 pods, status unchanged).
//! - `replicaset/scale-up-500`: the ReplicaSet scaled 100 → 600: records 500 creates in
//!   one slow-start batch list (BurstReplicas = 500).
//! - `replicaset/scale-down-50-of-500`: a 500-pod ReplicaSet scaled to 450: ranks 500
//!   pods and records 50 deletes.
//! - `deployment/steady-10-old-rs`: a 10-replica Deployment after 10 completed
//!   rollouts (10 old ReplicaSets kept, revisionHistoryLimit 10): a no-op sync.
//! - `deployment/rolling-step-100`: a 100-replica RollingUpdate (25%/25%) in mid
//!   rollout whose new pods just became Ready: scales the new ReplicaSet up and the old
//!   one down.
//! - `job/1000-completions-parallelism-100`: 300 of 1,000 completions counted and the
//!   100 active pods just Succeeded: counts them (status `succeeded` 400), records 100
//!   replacement pods and the status update.
//! - `cronjob/history-cleanup`: a `* * * * *` CronJob with 10 finished Jobs whose
//!   successfulJobsHistoryLimit was lowered to 3: deletes 7 Jobs.
//! - `hpa/target-100-pods`: an HPA over a 100-pod Deployment at 90% CPU (target 50%),
//!   due for its 15 s sync: samples 100 pods and records the scale-up.
//! - `scheduler/100-pending-on-1000-nodes`: one round (the scheduler's single queue
//!   key) placing 100 pending pods on 1,000 nodes: 100 bindings.
//! - `endpoints/1000-pods-one-changed`, `endpointslices/1000-pods-one-changed`: a
//!   Service over 1,000 Ready pods, one of which was replaced (new pod, new IP) since
//!   the last sync.
//! - `garbage_collector/orphan-1000`: a ReplicaSet with 1,000 pods deleted with
//!   `propagationPolicy: Orphan`: the owner's reconcile records 1,000 ownerReference
//!   removals. `garbage_collector/foreground-owner-1000`: deleted in Foreground: the
//!   owner's reconcile checks its 1,000 blocking dependents. `garbage_collector/
//!   dangling-dependent`: one pod of a 1,000-pod ReplicaSet deleted in Background (one
//!   step of the cascade: the pod is deleted).
//! - `kubelet/start-pod-on-110-pod-node`: a node running 109 pods; the reconcile of the
//!   110th, bound and due to start: Running, pod IP allocated from the node's CIDR.
//! - `node_lifecycle/node-unknown-110-pods`: a node whose kubelet stopped posting for
//!   60 s, with 110 pods: Ready → Unknown, its pods marked not Ready.
//! - `volumes/1000-pvs-one-claim`: 1,000 Available PersistentVolumes and one Pending
//!   claim: the binder's single key binds it to the smallest fitting volume.
//! - `daemonset/steady-1000-nodes`: a DaemonSet with its pod Running on each of 1,000
//!   nodes: a no-op sync. `daemonset/new-on-1000-nodes`: a new DaemonSet over 1,000
//!   nodes: records the first 250 creates (its BurstReplicas).
//! - `statefulset/steady-100`: 100 Running and Ready replicas: a no-op sync.
//!   `statefulset/ordered-ready-step-100`: an OrderedReady scale-up to 100 whose
//!   highest pod just became Ready: creates the next ordinal.
//!
//! Run: `cargo bench -p kubesim-bench --bench controllers` (21 cases, each 0.3 s of
//! warm-up and 10 samples over 1.5 s, no plots: about a minute and a half on a quiet
//! machine, after the build). Criterion's estimates land in
//! `$CARGO_TARGET_DIR/criterion/<group>/<case>/new/estimates.json`.
//! `cargo test -p kubesim-bench --benches` runs each case once.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use kubesim_core::cluster::{self, ClusterConfig, NodeConfig};
use kubesim_core::controllers::cronjob::CronJobController;
use kubesim_core::controllers::daemonset::DaemonSetController;
use kubesim_core::controllers::deployment::DeploymentController;
use kubesim_core::controllers::endpoints::{EndpointSliceController, EndpointsController};
use kubesim_core::controllers::garbage_collector::GarbageCollector;
use kubesim_core::controllers::hpa::{HpaController, LoadModel};
use kubesim_core::controllers::job::JobController;
use kubesim_core::controllers::kubelet::Kubelet;
use kubesim_core::controllers::node_lifecycle::{NodeLifecycleConfig, NodeLifecycleController};
use kubesim_core::controllers::replicaset::ReplicaSetController;
use kubesim_core::controllers::scheduler::{self, Scheduler};
use kubesim_core::controllers::statefulset::StatefulSetController;
use kubesim_core::controllers::volumes::{self, VolumeBinder};
use kubesim_core::manifest;
use kubesim_core::model::PropagationPolicy;
use kubesim_core::model::{Kind, Object, ObjectKey};
use kubesim_core::runtime::bench_support::{reconcile_once, ReconcileOutcome};
use kubesim_core::runtime::{
    virtual_store, Controller, Ctx, ManualClock, SimConfig, Simulation, StoreView, WriteAction,
};
use kubesim_core::store::{DeleteOptions, Store};
use kubesim_core::time::{Clock, Timestamp};

/// The control plane in virtual time, on a store the cases reconcile against.
struct World {
    store: Store,
    clock: Arc<ManualClock>,
    config: ClusterConfig,
    load: Arc<LoadModel>,
    sim: Simulation,
}

impl World {
    /// `nodes` default nodes (4 CPU, 16Gi, 110 pods) and every controller but those
    /// named in `except`.
    fn new(nodes: usize, except: &[&str]) -> World {
        Self::with(nodes, except, &[])
    }

    /// As [`World::new`], running the instances in `own` instead of the default
    /// controllers of the same names (to keep a handle on their state).
    fn with(nodes: usize, except: &[&str], own: &[Arc<dyn Controller>]) -> World {
        let (store, clock) = virtual_store(1);
        let now = clock.now();
        for i in 0..nodes {
            let node = NodeConfig::new(&format!("node-{i}"));
            store
                .create(cluster::node_object(&node, i as u32, now))
                .expect("node");
        }
        let config = ClusterConfig::default();
        let load = Arc::new(LoadModel::new());
        let sim = Self::sim(&store, &clock, &config, &load, except, own);
        let mut w = World {
            store,
            clock,
            config,
            load,
            sim,
        };
        w.sim.run_until_idle();
        w
    }

    fn sim(
        store: &Store,
        clock: &Arc<ManualClock>,
        config: &ClusterConfig,
        load: &Arc<LoadModel>,
        except: &[&str],
        own: &[Arc<dyn Controller>],
    ) -> Simulation {
        let kubelet = Arc::new(Kubelet::new(config.kubelet_config()));
        let ctls: Vec<Arc<dyn Controller>> = cluster::controllers(config, kubelet, load.clone())
            .into_iter()
            .filter(|c| !except.contains(&c.name()))
            .map(|c| {
                own.iter()
                    .find(|o| o.name() == c.name())
                    .cloned()
                    .unwrap_or(c)
            })
            .collect();
        Simulation::new(store.clone(), clock.clone(), ctls, SimConfig::new(1)).expect("sim")
    }

    /// From now on, runs every controller but those named in `except` (fresh
    /// instances, which list the store as a restarted controller does).
    fn pause(&mut self, except: &[&str]) {
        self.sim = Self::sim(
            &self.store,
            &self.clock,
            &self.config,
            &self.load,
            except,
            &[],
        );
        self.sim.run_until_idle();
    }

    /// Creates the objects of a YAML manifest and runs until idle.
    fn create(&mut self, yaml: &str) {
        for obj in manifest::load_str(yaml, "bench.yaml").expect("manifest") {
            self.store.create(obj).expect("create");
        }
        self.sim.run_until_idle();
    }

    fn advance(&mut self, secs: u64) {
        self.sim.advance(Duration::from_secs(secs));
    }

    fn get(&self, kind: Kind, name: &str) -> Arc<Object> {
        self.store.get(kind, "default", name).expect("object")
    }

    /// Updates an object in the store with `f` (not running the world).
    fn edit(&self, kind: Kind, name: &str, f: impl FnOnce(&mut Object)) {
        let mut obj = (*self.get(kind, name)).clone();
        f(&mut obj);
        self.store.update(obj).expect("update");
    }

    fn pods(&self) -> usize {
        self.store.count(Kind::Pod)
    }
}

fn key(kind: Kind, name: &str) -> ObjectKey {
    ObjectKey::new(kind, "default", name)
}

/// A workload manifest (`kind` ReplicaSet or Deployment) of `replicas` pods labelled
/// `app=<name>`, with `extra` spec lines and optional CPU requests.
fn workload(kind: &str, name: &str, replicas: usize, image: &str, cpu: Option<&str>) -> String {
    let api = "apps/v1";
    let resources = cpu
        .map(|c| format!("\n        resources: {{requests: {{cpu: {c}}}}}"))
        .unwrap_or_default();
    format!(
        "apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  \
         selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    \
         spec:\n      containers:\n      - name: c\n        image: {image}{resources}\n"
    )
}

fn set_replicas(obj: &mut Object, n: i32) {
    match obj {
        Object::ReplicaSet(rs) => rs.spec.replicas = n,
        Object::Deployment(d) => d.spec.replicas = n,
        _ => panic!("not scalable"),
    }
}

/// Checks once what a case's reconcile records, so a drifting fixture fails loudly.
fn check(name: &str, o: &ReconcileOutcome, ok: impl Fn(&ReconcileOutcome) -> bool) {
    assert!(o.result.is_ok(), "{name}: {:?}", o.result);
    assert!(
        ok(o),
        "{name}: unexpected work: {} creates, {} updates, {} deletes",
        o.creates(),
        o.updates(),
        o.deletes()
    );
    eprintln!(
        "{name}: {} creates, {} updates, {} deletes, {} events; {}",
        o.creates(),
        o.updates(),
        o.deletes(),
        o.effects.events.len(),
        describe(o)
    );
}

/// The recorded writes as `verb Kind xN` counts (in order of first appearance), for
/// the log.
fn describe(o: &ReconcileOutcome) -> String {
    let mut runs: Vec<(String, usize)> = Vec::new();
    for w in &o.effects.writes {
        let (verb, kind, n) = match &w.action {
            WriteAction::Create(obj) => ("create", obj.kind(), 1),
            WriteAction::CreateSlowStart(objs) => (
                "create",
                objs.first().map_or(Kind::Pod, |o| o.kind()),
                objs.len(),
            ),
            WriteAction::Update(obj) => ("update", obj.kind(), 1),
            WriteAction::UpdateStatus(obj) => ("update-status", obj.kind(), 1),
            WriteAction::Delete { key, .. } => ("delete", key.kind, 1),
        };
        let label = format!("{verb} {kind:?}");
        match runs.iter_mut().find(|(l, _)| *l == label) {
            Some((_, c)) => *c += n,
            None => runs.push((label, n)),
        }
    }
    let parts: Vec<String> = runs.iter().map(|(l, n)| format!("{l} x{n}")).collect();
    parts.join(", ")
}

/// Measures `reconcile_once(ctl, store, key)` with a fresh controller from `make` per
/// iteration (setup not timed).
fn bench_fresh<C: Controller>(
    c: &mut Criterion,
    name: &str,
    store: &Store,
    key: &ObjectKey,
    make: impl Fn() -> C,
    ok: impl Fn(&ReconcileOutcome) -> bool,
) {
    check(name, &reconcile_once(&make(), store, key), ok);
    c.bench_function(name, |b| {
        b.iter_batched(
            &make,
            |ctl| black_box(reconcile_once(&ctl, store, key)),
            BatchSize::SmallInput,
        )
    });
}

/// Measures `reconcile_once` with one controller for every iteration: for a
/// controller whose reconcile keeps no state, or whose state stops changing after the
/// first reconcile (the StatefulSet controller's revision history: from then on each
/// iteration is the steady-running controller's lookup; warm-up covers the first).
fn bench_shared(
    c: &mut Criterion,
    name: &str,
    store: &Store,
    key: &ObjectKey,
    ctl: &dyn Controller,
    ok: impl Fn(&ReconcileOutcome) -> bool,
) {
    check(name, &reconcile_once(ctl, store, key), ok);
    c.bench_function(name, |b| {
        b.iter_batched(
            || (),
            |()| black_box(reconcile_once(ctl, store, key)),
            BatchSize::SmallInput,
        )
    });
}

fn replicaset(c: &mut Criterion) {
    let mut w = World::new(10, &[]);
    w.create(&workload("ReplicaSet", "steady", 100, "nginx", None));
    w.create(&workload("ReplicaSet", "grow", 100, "nginx", None));
    w.create(&workload("ReplicaSet", "shrink", 500, "nginx", None));
    w.advance(5);
    assert_eq!(w.pods(), 700);
    w.edit(Kind::ReplicaSet, "grow", |o| set_replicas(o, 600));
    w.edit(Kind::ReplicaSet, "shrink", |o| set_replicas(o, 450));
    let s = &w.store;
    bench_fresh(
        c,
        "replicaset/steady-100",
        s,
        &key(Kind::ReplicaSet, "steady"),
        ReplicaSetController::new,
        |o| o.write_count() == 0,
    );
    bench_fresh(
        c,
        "replicaset/scale-up-500",
        s,
        &key(Kind::ReplicaSet, "grow"),
        ReplicaSetController::new,
        |o| o.creates() == 500,
    );
    bench_fresh(
        c,
        "replicaset/scale-down-50-of-500",
        s,
        &key(Kind::ReplicaSet, "shrink"),
        ReplicaSetController::new,
        |o| o.deletes() == 50,
    );
}

fn deployment(c: &mut Criterion) {
    let mut w = World::new(10, &[]);
    w.create(&workload("Deployment", "history", 10, "nginx:1", None));
    w.advance(5);
    for v in 2..=11 {
        w.edit(Kind::Deployment, "history", |o| {
            if let Object::Deployment(d) = o {
                let mut spec = (*d.spec.template.spec).clone();
                spec.containers[0].image = format!("nginx:{v}").as_str().into();
                d.spec.template.spec = Arc::new(spec);
            }
        });
        w.sim.run_until_idle();
        w.advance(60);
    }
    assert_eq!(w.store.count(Kind::ReplicaSet), 11);
    // A 100-replica rollout: the new ReplicaSet's first pods become Ready while the
    // Deployment controller is away.
    w.create(&workload("Deployment", "roll", 100, "nginx:1", None));
    w.advance(5);
    w.edit(Kind::Deployment, "roll", |o| {
        if let Object::Deployment(d) = o {
            let mut spec = (*d.spec.template.spec).clone();
            spec.containers[0].image = "nginx:2".into();
            d.spec.template.spec = Arc::new(spec);
        }
    });
    w.sim.run_until_idle();
    let dc = DeploymentController::new();
    w.pause(&[dc.name()]);
    w.advance(5);
    let s = &w.store;
    bench_shared(
        c,
        "deployment/steady-10-old-rs",
        s,
        &key(Kind::Deployment, "history"),
        &DeploymentController::new(),
        |o| o.write_count() == 0,
    );
    bench_shared(
        c,
        "deployment/rolling-step-100",
        s,
        &key(Kind::Deployment, "roll"),
        &dc,
        |o| o.updates() >= 2,
    );
}

fn job(c: &mut Criterion) {
    // The Job controller remembers which terminated pods its status already counts:
    // the measured one is the instance that ran the Job so far.
    let jc = Arc::new(JobController::new());
    let own: Arc<dyn Controller> = jc.clone();
    let mut w = World::with(10, &[], &[own]);
    w.create(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: batch}\nspec:\n  completions: 1000\n  \
         parallelism: 100\n  template:\n    metadata:\n      annotations: {kubesim.io/run-time: 10s}\n    \
         spec:\n      restartPolicy: Never\n      containers:\n      - {name: c, image: busybox}\n",
    );
    // Three waves of 100 done (each takes ~11 s: 1 s start + 10 s run).
    w.advance(35);
    w.pause(&[jc.name()]);
    w.advance(15);
    let k = key(Kind::Job, "batch");
    let succeeded = |o: &ReconcileOutcome| {
        o.effects.writes.iter().find_map(|w| match &w.action {
            WriteAction::UpdateStatus(Object::Job(j)) => Some(j.status.succeeded),
            _ => None,
        })
    };
    // Its reconcile only notes the newly counted pods as pending (they join the
    // counted set in `applied`, which is not called): every iteration counts the
    // same 100.
    bench_shared(
        c,
        "job/1000-completions-parallelism-100",
        &w.store,
        &k,
        &*jc,
        |o| o.creates() == 100 && succeeded(o) == Some(400),
    );
}

fn cronjob(c: &mut Criterion) {
    let mut w = World::new(2, &[]);
    w.create(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: tick}\nspec:\n  schedule: '* * * * *'\n  \
         successfulJobsHistoryLimit: 10\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n          \
         annotations: {kubesim.io/run-time: 5s}\n        spec:\n          restartPolicy: Never\n          \
         containers:\n          - {name: c, image: busybox}\n",
    );
    w.advance(12 * 60 + 30);
    w.edit(Kind::CronJob, "tick", |o| {
        if let Object::CronJob(cj) = o {
            cj.spec.successful_jobs_history_limit = 3;
        }
    });
    bench_shared(
        c,
        "cronjob/history-cleanup",
        &w.store,
        &key(Kind::CronJob, "tick"),
        &CronJobController::new(),
        |o| o.deletes() == 7,
    );
}

fn hpa(c: &mut Criterion) {
    let mut w = World::new(10, &[]);
    w.create(&workload("Deployment", "web", 100, "nginx", Some("100m")));
    w.create(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec:\n  \
         scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 1\n  \
         maxReplicas: 300\n  metrics:\n  - type: Resource\n    resource:\n      name: cpu\n      \
         target: {type: Utilization, averageUtilization: 50}\n",
    );
    w.advance(5);
    // 90% of the requests of 100 pods of 100m.
    w.load.set_demand(key(Kind::Deployment, "web"), 9_000);
    let k = key(Kind::HorizontalPodAutoscaler, "web");
    let store = &w.store;
    // A fresh controller's first look only schedules the first sync 15 s later: prime
    // it with that look 15 s ago, so the measured reconcile is a full sync.
    let make = || {
        let ctl = HpaController::new(w.load.clone());
        let then = Timestamp(store.clock().now().millis() - 15_000);
        let mut ctx = Ctx::new(StoreView::new(store), &k, ctl.name(), then, 0);
        ctl.reconcile(&k, &mut ctx).expect("prime");
        ctl
    };
    bench_fresh(c, "hpa/target-100-pods", store, &k, make, |o| {
        o.updates() >= 1
    });
}

fn scheduler(c: &mut Criterion) {
    let s = Scheduler::new();
    let mut w = World::new(1000, &[s.name()]);
    w.create(&workload(
        "ReplicaSet",
        "pending",
        100,
        "nginx",
        Some("100m"),
    ));
    assert_eq!(w.pods(), 100);
    bench_shared(
        c,
        "scheduler/100-pending-on-1000-nodes",
        &w.store,
        &scheduler::queue_key(),
        &s,
        |o| o.updates() >= 100,
    );
}

fn endpoints(c: &mut Criterion) {
    let mut w = World::new(10, &[]);
    w.create(&workload("Deployment", "api", 1000, "nginx", None));
    w.create(
        "apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec:\n  selector: {app: api}\n  \
         ports: [{port: 80, targetPort: 8080}]\n",
    );
    w.advance(5);
    let ep = EndpointsController::new();
    let eps = EndpointSliceController::new();
    w.pause(&[ep.name(), eps.name()]);
    let victim = w
        .store
        .list(Kind::Pod, Some("default"), None, None)
        .expect("pods")[500]
        .name()
        .clone();
    w.store
        .delete(Kind::Pod, "default", &victim, &DeleteOptions::grace(0))
        .expect("delete");
    w.sim.run_until_idle();
    w.advance(5);
    let k = key(Kind::Service, "api");
    bench_shared(
        c,
        "endpoints/1000-pods-one-changed",
        &w.store,
        &k,
        &ep,
        |o| o.updates() == 1,
    );
    bench_shared(
        c,
        "endpointslices/1000-pods-one-changed",
        &w.store,
        &k,
        &eps,
        |o| o.updates() >= 1,
    );
}

fn garbage_collector(c: &mut Criterion) {
    let gc = GarbageCollector::new();
    let mut w = World::new(10, &[gc.name()]);
    for name in ["orphan", "fg", "bg"] {
        w.create(&workload("ReplicaSet", name, 1000, "nginx", None));
    }
    let rsc = ReplicaSetController::new();
    w.pause(&[gc.name(), rsc.name()]);
    for (name, policy) in [
        ("orphan", PropagationPolicy::Orphan),
        ("fg", PropagationPolicy::Foreground),
        ("bg", PropagationPolicy::Background),
    ] {
        w.store
            .delete(
                Kind::ReplicaSet,
                "default",
                name,
                &DeleteOptions::propagation(policy),
            )
            .expect("delete");
    }
    let s = &w.store;
    bench_shared(
        c,
        "garbage_collector/orphan-1000",
        s,
        &key(Kind::ReplicaSet, "orphan"),
        &GarbageCollector::new(),
        |o| o.updates() == 1000,
    );
    bench_shared(
        c,
        "garbage_collector/foreground-owner-1000",
        s,
        &key(Kind::ReplicaSet, "fg"),
        &GarbageCollector::new(),
        |o| o.write_count() == 0,
    );
    let bg_pod = s
        .list(Kind::Pod, Some("default"), None, None)
        .expect("pods")
        .into_iter()
        .find(|p| p.name().starts_with("bg-"))
        .expect("a bg pod");
    bench_shared(
        c,
        "garbage_collector/dangling-dependent",
        s,
        &ObjectKey::of(&bg_pod),
        &gc,
        |o| o.deletes() == 1,
    );
}

fn kubelet(c: &mut Criterion) {
    let mut w = World::new(1, &[]);
    w.create(&workload("ReplicaSet", "full", 109, "nginx", None));
    w.advance(5);
    w.edit(Kind::ReplicaSet, "full", |o| set_replicas(o, 110));
    w.sim.run_until_idle();
    let config = w.config.kubelet_config();
    let name = Kubelet::new(config.clone()).name();
    w.pause(&[name]);
    w.advance(2);
    let pending = w
        .store
        .list(Kind::Pod, Some("default"), None, None)
        .expect("pods")
        .into_iter()
        .find(|p| {
            p.as_pod()
                .is_some_and(|p| p.status.start_time.is_none() || !p.is_ready())
        })
        .expect("the 110th pod");
    bench_fresh(
        c,
        "kubelet/start-pod-on-110-pod-node",
        &w.store,
        &ObjectKey::of(&pending),
        || Kubelet::new(config.clone()),
        |o| o.updates() == 1,
    );
}

fn node_lifecycle(c: &mut Criterion) {
    let mut w = World::new(1, &[]);
    w.create(&workload("ReplicaSet", "full", 110, "nginx", None));
    w.advance(5);
    let cfg = NodeLifecycleConfig::default();
    let nl = NodeLifecycleController::new(cfg.clone());
    let kl = Kubelet::new(w.config.kubelet_config());
    w.pause(&[nl.name(), kl.name()]);
    w.advance(60);
    bench_fresh(
        c,
        "node_lifecycle/node-unknown-110-pods",
        &w.store,
        &ObjectKey::new(Kind::Node, "", "node-0"),
        || NodeLifecycleController::new(cfg.clone()),
        |o| o.updates() >= 110,
    );
}

fn volume_binder(c: &mut Criterion) {
    let vb = VolumeBinder::new();
    let mut w = World::new(1, &[vb.name()]);
    let mut yaml = String::new();
    for i in 0..1000 {
        let gi = 1 + i % 50;
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: pv-{i:04}}}\nspec:\n  \
             capacity: {{storage: {gi}Gi}}\n  accessModes: [ReadWriteOnce]\n  \
             persistentVolumeReclaimPolicy: Retain\n  hostPath: {{path: /tmp/pv-{i}}}\n"
        ));
    }
    w.create(&yaml);
    w.create(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n  \
         accessModes: [ReadWriteOnce]\n  storageClassName: ''\n  resources: {requests: {storage: 20Gi}}\n",
    );
    bench_shared(
        c,
        "volumes/1000-pvs-one-claim",
        &w.store,
        &volumes::queue_key(),
        &vb,
        |o| o.updates() >= 2,
    );
}

fn daemonset(c: &mut Criterion) {
    let mut w = World::new(1000, &[]);
    let ds = |name: &str| {
        format!(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: {name}}}\nspec:\n  \
             selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    \
             spec:\n      containers:\n      - {{name: c, image: fluentd}}\n"
        )
    };
    w.create(&ds("logs"));
    w.advance(5);
    assert_eq!(w.pods(), 1000);
    let dc = DaemonSetController::new();
    w.pause(&[dc.name()]);
    w.create(&ds("metrics"));
    let s = &w.store;
    bench_fresh(
        c,
        "daemonset/steady-1000-nodes",
        s,
        &key(Kind::DaemonSet, "logs"),
        DaemonSetController::new,
        |o| o.write_count() == 0,
    );
    bench_fresh(
        c,
        "daemonset/new-on-1000-nodes",
        s,
        &key(Kind::DaemonSet, "metrics"),
        DaemonSetController::new,
        |o| o.creates() == 250,
    );
}

fn statefulset(c: &mut Criterion) {
    let mut w = World::new(10, &[]);
    let sts = |name: &str| {
        format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: {name}}}\nspec:\n  serviceName: {name}\n  \
             replicas: 100\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    \
             metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n      - {{name: c, image: redis}}\n"
        )
    };
    w.create(&sts("steady"));
    // OrderedReady: one pod at a time, ~1 s each (pod start-up).
    w.advance(200);
    w.create(&sts("ordered"));
    w.advance(50);
    let sc = StatefulSetController::new();
    w.pause(&[sc.name()]);
    w.advance(2);
    let ordered = w
        .store
        .list(Kind::Pod, Some("default"), None, None)
        .expect("pods")
        .iter()
        .filter(|p| p.name().starts_with("ordered-"))
        .count();
    assert!((10..100).contains(&ordered), "{ordered} ordered pods");
    let s = &w.store;
    bench_shared(
        c,
        "statefulset/steady-100",
        s,
        &key(Kind::StatefulSet, "steady"),
        &StatefulSetController::new(),
        |o| o.write_count() == 0,
    );
    bench_shared(
        c,
        "statefulset/ordered-ready-step-100",
        s,
        &key(Kind::StatefulSet, "ordered"),
        &sc,
        |o| o.creates() == 1,
    );
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .nresamples(20_000)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = replicaset, deployment, job, cronjob, hpa, scheduler, endpoints,
        garbage_collector, kubelet, node_lifecycle, volume_binder, daemonset, statefulset
}
criterion_main!(benches);
