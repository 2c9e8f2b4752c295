//! Helpers shared by the cluster-level tests that run the invariant checker
//! ([`kubesim_core::invariants`]): a cluster driven one round of reconciles at a time
//! with the checker after each ([`Checked`]), a fixed-seed generator ([`Rng`]),
//! violation reports that show the objects involved ([`report`]), and
//! [`assert_invariants`] for tests that drive a [`Cluster`] themselves.
//!
//! Each test binary includes this module (`mod common;`) and uses a part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use kubesim_core::cluster::{controllers, Cluster, ClusterConfig, NodeSpecs};
use kubesim_core::invariants::{InvariantChecker, Violation};
use kubesim_core::manifest;
use kubesim_core::model::{Kind, Object, ObjectKey, PodPhase};
use kubesim_core::store::Store;

/// Every violation on its own line, each followed by the current state of the
/// objects it involves (JSON, or `(gone)`), for assertion messages.
pub fn report(store: &Store, violations: &[Violation]) -> String {
    let mut out = String::new();
    for v in violations {
        out.push_str(&format!("{v}\n"));
        for key in &v.objects {
            match store.try_get(key.kind, &key.namespace, &key.name) {
                Some(o) => out.push_str(&format!(
                    "  {key}: {}\n",
                    serde_json::to_string(&o.to_json()).unwrap_or_default()
                )),
                None => out.push_str(&format!("  {key}: (gone)\n")),
            }
        }
    }
    out
}

/// Runs the checker on a cluster a test drives itself (`settled`: the cluster is
/// idle, as after `advance` or `apply`, so the settled rules apply too) and fails
/// with [`report`] on any violation.
pub fn assert_invariants(c: &Cluster, checker: &mut InvariantChecker, settled: bool) {
    let v = if settled {
        c.check_invariants_settled(checker)
    } else {
        c.check_invariants(checker)
    };
    assert!(
        v.is_empty(),
        "invariant violated at {:?}:\n{}",
        c.now(),
        report(c.store(), &v)
    );
}

/// xorshift64*: a fixed-seed generator for chaos runs.
pub struct Rng(pub u64);

impl Rng {
    /// A generator from a small seed (any value, 0 included).
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) % n
    }

    /// One of `items` (non-empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// A cluster driven one round at a time, checked after each.
pub struct Checked {
    /// The cluster.
    pub c: Cluster,
    /// Its checker.
    pub checker: InvariantChecker,
    names: Vec<&'static str>,
    /// Checks run (every round, plus one settled check per idle instant).
    pub checks: usize,
    /// Settled checks run.
    pub settled_checks: usize,
}

impl Checked {
    /// `nodes` default nodes, store and reconcile seed `seed`.
    pub fn new(nodes: usize, seed: u64) -> Checked {
        Checked::with_config(ClusterConfig {
            nodes: NodeSpecs::Count(nodes),
            seed,
            ..ClusterConfig::default()
        })
    }

    /// A cluster of `config`, settled (checked).
    pub fn with_config(config: ClusterConfig) -> Checked {
        let c = Cluster::new(config).unwrap();
        let names = controllers(c.config(), c.kubelet().clone(), c.load_model().clone())
            .iter()
            .map(|ctl| ctl.name())
            .collect();
        let checker = c.invariant_checker();
        let mut me = Checked {
            c,
            checker,
            names,
            checks: 0,
            settled_checks: 0,
        };
        me.settle();
        me
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.c.store()
    }

    /// Fails with the violations and their objects, if any.
    pub fn assert_none(&self, v: Vec<Violation>, what: &str) {
        assert!(
            v.is_empty(),
            "{what} at {:?}:\n{}",
            self.c.now(),
            report(self.store(), &v)
        );
    }

    /// Checks the step since the last check (`settled`: the settled rules too).
    pub fn check(&mut self, settled: bool) {
        let v = if settled {
            self.settled_checks += 1;
            self.c.check_invariants_settled(&mut self.checker)
        } else {
            self.c.check_invariants(&mut self.checker)
        };
        self.checks += 1;
        self.assert_none(v, "violation");
    }

    /// Rounds at the current instant until idle, checking after each; then the
    /// settled rules.
    pub fn settle(&mut self) {
        loop {
            let n = self.c.sim_mut().run_round();
            let v = self.c.check_invariants(&mut self.checker);
            self.checks += 1;
            self.assert_none(v, "violation after a round");
            if n == 0 {
                break;
            }
        }
        let v = self.c.check_invariants_settled(&mut self.checker);
        self.settled_checks += 1;
        self.assert_none(v, "violation once settled");
    }

    fn promote(&self) {
        for n in &self.names {
            if let Some(d) = self.c.sim().dispatcher(n) {
                d.promote_due();
            }
        }
    }

    /// Moves virtual time by `d` from timer to timer, settling (checked) at each.
    pub fn run_for(&mut self, d: Duration) {
        let target = self.c.now().plus(d);
        self.settle();
        while let Some(t) = self.c.sim().next_due().filter(|t| *t <= target) {
            if t > self.c.now() {
                self.c.sim().clock().set(t);
            }
            self.promote();
            self.settle();
        }
        self.c.sim().clock().set(target);
        self.promote();
        self.settle();
    }

    /// Creates the objects of `yaml` (none may exist), then settles.
    pub fn apply_yaml(&mut self, yaml: &str) {
        for obj in manifest::load_str(yaml, "inline.yaml").unwrap() {
            match self
                .store()
                .try_get(obj.kind(), obj.namespace(), obj.name())
            {
                None => {
                    self.store().create(obj).unwrap();
                }
                Some(_) => panic!("{} exists", obj.display_key()),
            }
        }
        self.settle();
    }

    /// Rewrites the stored `kind/default/name` with `f` (when it exists and is not
    /// being deleted), then settles. Returns whether it wrote.
    pub fn edit(&mut self, kind: Kind, name: &str, f: impl FnOnce(&mut Object)) -> bool {
        let Some(o) = self.store().try_get(kind, "default", name) else {
            return false;
        };
        if o.meta().is_being_deleted() {
            return false;
        }
        let mut o = (*o).clone();
        f(&mut o);
        self.store().update(o).unwrap();
        self.settle();
        true
    }

    /// Sets a ReplicaSet's `spec.replicas`, then settles.
    pub fn scale(&mut self, rs: &str, replicas: i32) {
        self.edit(Kind::ReplicaSet, rs, |o| {
            o.as_replica_set_mut().unwrap().spec.replicas = replicas
        });
    }

    /// Declares the next removal of `key` a user's own (see
    /// [`InvariantChecker::acknowledge_deletion`]).
    pub fn acknowledge(&mut self, key: &ObjectKey) {
        self.checker.acknowledge_deletion(key);
    }

    /// The pods labelled `app=<app>`.
    pub fn pods(&self, app: &str) -> Vec<Arc<Object>> {
        let sel = format!("app={app}").parse().unwrap();
        self.store()
            .list(Kind::Pod, Some("default"), Some(&sel), None)
            .unwrap()
    }

    /// Running, Ready pods of `app=<app>` not being deleted.
    pub fn running(&self, app: &str) -> usize {
        self.pods(app)
            .iter()
            .filter(|p| {
                let p = p.as_pod().unwrap();
                p.status.phase == PodPhase::Running && p.is_ready() && !p.meta.is_being_deleted()
            })
            .count()
    }
}

/// A ReplicaSet `name` selecting `app=<name>`, pods requesting `cpu`.
pub fn replica_set_yaml(name: &str, replicas: i32, cpu: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {{name: {name}}}\n\
         spec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  \
         template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      \
         containers:\n      - name: web\n        image: nginx:1.25\n        \
         resources: {{requests: {{cpu: {cpu}}}}}\n"
    )
}

/// A Service `name` selecting `app=<app>` on port 80.
pub fn service_yaml(name: &str, app: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\n\
         spec: {{selector: {{app: {app}}}, ports: [{{port: 80}}]}}\n"
    )
}
