//! Runs a parsed scenario on a [`Cluster`] in virtual time.
//!
//! Each step acts on the cluster, then the control plane runs until idle at the current
//! time (the clock moves only in `advance` and `wait`), then the invariant checker
//! ([`Cluster::check_invariants_settled`]) looks at what the step wrote; a violation
//! fails the step. The run stops at the first failed step.
//!
//! `traffic` and `dns` steps sync a [`Router`] from the store first: traffic goes
//! through it (see [`super::traffic`]); `A` queries of Service names are answered by
//! [`Router::resolve`], SRV queries and endpoint host names (which the router does not
//! serve) by the store's [`DnsView`].
//!
//! A user's deliberate removals the checker must not blame on the control plane are
//! declared with `acknowledge_deletion`: force deletes of pods, PVC deletes, and a
//! second delete with another propagation policy of an object being deleted in
//! foreground.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubesim_core::apply::LAST_APPLIED_ANNOTATION;
use kubesim_core::cluster::{Cluster, ClusterError};
use kubesim_core::dns::{DnsError, DnsView, RecordType};
use kubesim_core::invariants::InvariantChecker;
use kubesim_core::model::{
    Kind, Object, ObjectKey, PodTemplateSpec, PropagationPolicy, FINALIZER_FOREGROUND,
};
use kubesim_core::store::{self, DeleteOptions, Store};
use kubesim_core::validation::{label_key, label_value};
use kubesim_router::{DnsAnswer, Router, RouterConfig};

use super::condition::{evaluate, Outcome};
use super::output::{ScenarioReport, Status, StepReport};
use super::parse::{
    load_sources, Action, ApplyStep, NodeRef, RolloutOp, Scenario, Selection, Step,
};
use super::traffic;
use crate::kubectl::render;

/// How a step went.
enum StepError {
    /// An expectation did not hold, or an operation failed (exit 1).
    Failed {
        expected: Option<String>,
        found: Vec<String>,
        objects: Vec<Arc<Object>>,
    },
    /// A manifest the step applies is rejected (exit 2).
    Invalid(String),
}

fn failed(expected: impl Into<String>, found: impl Into<String>) -> StepError {
    StepError::Failed {
        expected: Some(expected.into()),
        found: vec![found.into()],
        objects: Vec::new(),
    }
}

fn op_failed(msg: impl Into<String>) -> StepError {
    StepError::Failed {
        expected: None,
        found: vec![msg.into()],
        objects: Vec::new(),
    }
}

impl From<store::Error> for StepError {
    fn from(e: store::Error) -> Self {
        op_failed(format!("Error from server: {e}"))
    }
}

impl From<ClusterError> for StepError {
    fn from(e: ClusterError) -> Self {
        op_failed(format!("error: {e}"))
    }
}

/// The state of a run.
struct Run {
    cluster: Cluster,
    checker: InvariantChecker,
    router: Router,
    start: kubesim_core::time::Timestamp,
    dir: std::path::PathBuf,
    seed: u64,
    traffic_steps: u64,
}

/// Runs a scenario and reports every step.
pub fn run(scenario: &Scenario) -> ScenarioReport {
    let wall = Instant::now();
    let file = scenario.file.display().to_string();
    let mut report = ScenarioReport {
        file,
        name: scenario.name.clone(),
        status: Status::Passed,
        error: None,
        steps: Vec::new(),
        not_run: 0,
        virtual_ms: 0,
        wall_ms: 0.0,
    };
    let cluster = match Cluster::new(scenario.cluster.clone()) {
        Ok(c) => c,
        Err(e) => {
            report.status = Status::Invalid;
            report.error = Some(format!("cluster: {e}"));
            report.not_run = scenario.steps.len();
            report.wall_ms = wall.elapsed().as_secs_f64() * 1000.0;
            return report;
        }
    };
    let checker = cluster.invariant_checker();
    let start = cluster.now();
    let seed = scenario.cluster.seed;
    let mut run = Run {
        checker,
        router: Router::new(RouterConfig {
            seed: seed ^ 0x6b75_6265_7369_6d21,
            ..RouterConfig::default()
        }),
        start,
        dir: scenario
            .file
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default(),
        seed,
        traffic_steps: 0,
        cluster,
    };
    for (i, step) in scenario.steps.iter().enumerate() {
        let mut sr = StepReport {
            number: step.number,
            step: step.text.clone(),
            ok: true,
            time_ms: 0,
            expected: None,
            found: Vec::new(),
            info: Vec::new(),
            tables: Vec::new(),
        };
        let result = run.step(step, &mut sr);
        let result = result.and_then(|()| run.invariants());
        sr.time_ms = run.elapsed().as_millis() as u64;
        if let Err(e) = result {
            sr.ok = false;
            match e {
                StepError::Failed {
                    expected,
                    found,
                    objects,
                } => {
                    sr.expected = expected;
                    sr.found = found;
                    sr.tables = tables(&objects, run.cluster.now());
                    report.status = Status::Failed;
                }
                StepError::Invalid(msg) => {
                    sr.found = vec![msg.clone()];
                    report.error = Some(format!("step {}: {msg}", step.number));
                    report.status = Status::Invalid;
                }
            }
            report.steps.push(sr);
            report.not_run = scenario.steps.len() - i - 1;
            break;
        }
        report.steps.push(sr);
    }
    report.virtual_ms = run.elapsed().as_millis() as u64;
    report.wall_ms = wall.elapsed().as_secs_f64() * 1000.0;
    report
}

/// One table per kind of the objects, in kind order.
fn tables(objects: &[Arc<Object>], now: kubesim_core::time::Timestamp) -> Vec<String> {
    let mut by_kind: BTreeMap<usize, Vec<Arc<Object>>> = BTreeMap::new();
    for o in objects {
        by_kind.entry(o.kind().index()).or_default().push(o.clone());
    }
    by_kind
        .into_values()
        .map(|objs| {
            let kind = objs[0].kind();
            format!("{}:\n{}", kind.plural(), render(kind, &objs, now, true))
        })
        .collect()
}

/// Updates `kind/ns/name` with `change`, re-reading and retrying on conflicts (as
/// kubectl's patch does). `change` returns an error message for an object it cannot
/// change.
fn update_with_retry(
    store: &Store,
    kind: Kind,
    namespace: &str,
    name: &str,
    change: impl Fn(&mut Object) -> Result<(), String>,
) -> Result<(), StepError> {
    for _ in 0..16 {
        let current = store.get(kind, namespace, name)?;
        let mut new = (*current).clone();
        change(&mut new).map_err(op_failed)?;
        match store.update(new) {
            Ok(_) => return Ok(()),
            Err(store::Error::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(op_failed(format!(
        "{} {namespace}/{name}: still conflicting after 16 attempts",
        kind.plural()
    )))
}

fn template_mut(obj: &mut Object) -> Option<&mut PodTemplateSpec> {
    match obj {
        Object::Deployment(d) => Some(&mut d.spec.template),
        Object::ReplicaSet(r) => Some(&mut r.spec.template),
        Object::DaemonSet(d) => Some(&mut d.spec.template),
        Object::StatefulSet(s) => Some(&mut s.spec.template),
        Object::Job(j) => Some(&mut j.spec.template),
        Object::CronJob(c) => Some(&mut c.spec.job_template.spec.template),
        _ => None,
    }
}

impl Run {
    fn elapsed(&self) -> Duration {
        self.cluster.now().since(self.start)
    }

    fn store(&self) -> &Store {
        self.cluster.store()
    }

    fn invariants(&mut self) -> Result<(), StepError> {
        let violations = self.cluster.check_invariants_settled(&mut self.checker);
        if violations.is_empty() {
            return Ok(());
        }
        let objects = violations
            .iter()
            .flat_map(|v| v.objects.iter())
            .filter_map(|k| self.store().try_get(k.kind, &k.namespace, &k.name))
            .collect();
        Err(StepError::Failed {
            expected: Some("the control plane's invariants hold".into()),
            found: violations.iter().map(|v| v.to_string()).collect(),
            objects,
        })
    }

    fn selected(&self, sel: &Selection, ns: &str) -> Result<Vec<Arc<Object>>, StepError> {
        match sel {
            Selection::One(t) => Ok(vec![self.store().get(t.kind, ns, &t.name)?]),
            Selection::Matching { kind, selector } => {
                Ok(self.store().list(*kind, Some(ns), Some(selector), None)?)
            }
        }
    }

    fn node_name(&self, r: &NodeRef, ns: &str) -> Result<String, StepError> {
        match r {
            NodeRef::Name(n) => Ok(n.clone()),
            NodeRef::NodeOf(t) => {
                let pod = self.store().get(Kind::Pod, ns, &t.name)?;
                pod.node_name()
                    .map(|n| n.to_string())
                    .ok_or_else(|| op_failed(format!("pod {:?} is not bound to a node", t.name)))
            }
        }
    }

    fn step(&mut self, step: &Step, sr: &mut StepReport) -> Result<(), StepError> {
        let ns = step.namespace.as_str();
        match &step.action {
            Action::Apply(a) => self.apply(a, sr),
            Action::Scale { target, replicas } => {
                let r = *replicas;
                update_with_retry(self.store(), target.kind, ns, &target.name, |o| {
                    match o {
                        Object::Deployment(d) => d.spec.replicas = r,
                        Object::ReplicaSet(x) => x.spec.replicas = r,
                        Object::StatefulSet(s) => s.spec.replicas = r,
                        _ => return Err(format!("{target} cannot be scaled")),
                    }
                    Ok(())
                })?;
                self.cluster.run_until_idle();
                Ok(())
            }
            Action::SetImage {
                target,
                container,
                image,
            } => {
                update_with_retry(self.store(), target.kind, ns, &target.name, |o| {
                    let spec = match o {
                        Object::Pod(p) => &mut p.spec,
                        other => match template_mut(other) {
                            Some(t) => &mut t.spec,
                            None => return Err(format!("{target} has no pod template")),
                        },
                    };
                    let spec = Arc::make_mut(spec);
                    let c = spec
                        .containers
                        .iter_mut()
                        .find(|c| c.name.as_str() == container)
                        .ok_or_else(|| format!("unable to find container named {container:?}"))?;
                    c.image = kubesim_core::intern::intern(image);
                    Ok(())
                })?;
                self.cluster.run_until_idle();
                Ok(())
            }
            Action::Meta {
                label,
                selection,
                set,
                remove,
            } => {
                for (k, v) in set {
                    let checked =
                        label_key(k).and_then(|()| if *label { label_value(v) } else { Ok(()) });
                    checked.map_err(|e| op_failed(format!("error: {k}={v}: {e}")))?;
                }
                let objects = self.selected(selection, ns)?;
                for o in &objects {
                    update_with_retry(self.store(), o.kind(), o.namespace(), o.name(), |x| {
                        let m = x.meta_mut();
                        let map = if *label {
                            &mut m.labels
                        } else {
                            &mut m.annotations
                        };
                        for (k, v) in set {
                            *map = map.with(k, v);
                        }
                        for k in remove {
                            *map = map.without(k);
                        }
                        Ok(())
                    })?;
                }
                sr.info.push(format!(
                    "{} object(s) {}",
                    objects.len(),
                    if *label { "labeled" } else { "annotated" }
                ));
                self.cluster.run_until_idle();
                Ok(())
            }
            Action::Rollout { target, op } => {
                let msg = match op {
                    RolloutOp::Undo(rev) => self.cluster.rollout_undo(ns, &target.name, *rev)?,
                    RolloutOp::Pause => {
                        let changed = self.cluster.rollout_pause(ns, &target.name)?;
                        if changed { "paused" } else { "already paused" }.to_string()
                    }
                    RolloutOp::Resume => {
                        let changed = self.cluster.rollout_resume(ns, &target.name)?;
                        if changed { "resumed" } else { "not paused" }.to_string()
                    }
                };
                sr.info.push(format!("{target} {msg}"));
                Ok(())
            }
            Action::Delete {
                selection,
                cascade,
                grace_period,
                force,
            } => self.delete(selection, ns, *cascade, *grace_period, *force, sr),
            Action::FailNode(r) => {
                let n = self.node_name(r, ns)?;
                self.cluster.fail_node(&n)?;
                sr.info.push(format!("node {n} failed"));
                Ok(())
            }
            Action::RecoverNode(r) => {
                let n = self.node_name(r, ns)?;
                self.cluster.recover_node(&n)?;
                Ok(())
            }
            Action::AddNode(n) => {
                self.cluster.add_node(n.clone())?;
                Ok(())
            }
            Action::RemoveNode(r) => {
                let n = self.node_name(r, ns)?;
                self.cluster.remove_node(&n)?;
                Ok(())
            }
            Action::Advance(d) => {
                self.cluster.advance(*d);
                Ok(())
            }
            Action::Wait { until, timeout } => {
                let held = self
                    .cluster
                    .run_until(|s| evaluate(s, until, ns).ok, *timeout);
                match held {
                    Ok(took) => {
                        sr.info
                            .push(format!("held after {}", super::output::fmt_duration(took)));
                        Ok(())
                    }
                    Err(_) => {
                        let o = evaluate(self.store(), until, ns);
                        Err(outcome_error(
                            o,
                            format!(
                                "timed out after {}: ",
                                super::output::fmt_duration(*timeout)
                            ),
                        ))
                    }
                }
            }
            Action::Expect(c) => {
                let o = evaluate(self.store(), c, ns);
                if o.ok {
                    Ok(())
                } else {
                    Err(outcome_error(o, String::new()))
                }
            }
            Action::Load {
                target,
                cpu_percent,
            } => {
                let m = self
                    .cluster
                    .set_load(target.kind, ns, &target.name, *cpu_percent)?;
                sr.info.push(format!("{target}: total CPU demand {m}m"));
                Ok(())
            }
            Action::Traffic(t) => {
                self.router.sync(self.cluster.store())?;
                self.traffic_steps += 1;
                let seed = self.seed.wrapping_mul(31).wrapping_add(self.traffic_steps);
                let res = traffic::run(
                    &self.router,
                    self.cluster.store(),
                    t,
                    ns,
                    self.cluster.now(),
                    seed,
                )
                .map_err(op_failed)?;
                let mut line: Vec<String> = res
                    .served
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect();
                if res.errors > 0 {
                    line.push(format!(
                        "errors: {} ({})",
                        res.errors,
                        res.first_error.clone().unwrap_or_default()
                    ));
                }
                sr.info.push(format!("served {}", line.join(", ")));
                if res.failures.is_empty() {
                    Ok(())
                } else {
                    let objects = self.store().list(Kind::Pod, Some(ns), None, None)?;
                    let served: Vec<Arc<Object>> = objects
                        .into_iter()
                        .filter(|p| res.served.contains_key(p.name().as_str()))
                        .collect();
                    Err(StepError::Failed {
                        expected: Some(format!("traffic expectations: {}", step.text)),
                        found: res.failures,
                        objects: served,
                    })
                }
            }
            Action::Dns(d) => {
                // A records of Service names come from the router (what a client
                // resolving and then connecting sees); SRV records and endpoint host
                // names, which the router does not serve, from the store's DNS view.
                self.router.sync(self.cluster.store())?;
                let routed = match (d.qtype, self.router.resolve(&d.query)) {
                    (RecordType::A, Ok(DnsAnswer::ClusterIp(ip))) => Some(vec![ip.to_string()]),
                    (RecordType::A, Ok(DnsAnswer::Endpoints(ips))) => {
                        Some(ips.iter().map(|ip| ip.to_string()).collect())
                    }
                    _ => None,
                };
                let view = DnsView::new(self.store());
                let answers = match routed.map(Ok).unwrap_or_else(|| {
                    view.resolve(&d.query, d.qtype)
                        .map(|records| records.iter().map(|r| r.answer()).collect::<Vec<_>>())
                }) {
                    Ok(answers) => answers,
                    Err(DnsError::NotFound { .. }) if d.count == Some(0) => Vec::new(),
                    Err(e) => {
                        return Err(failed(
                            format!("{} {} answers", d.query, d.qtype.as_str()),
                            e.to_string(),
                        ))
                    }
                };
                sr.info.push(format!(
                    "{} {}: [{}]",
                    d.query,
                    d.qtype.as_str(),
                    answers.join(", ")
                ));
                let mut bad = Vec::new();
                if let Some(n) = d.count {
                    if answers.len() != n {
                        bad.push(format!("count {} (want {n})", answers.len()));
                    }
                }
                if let Some(want) = &d.answers {
                    let mut a = answers.clone();
                    a.sort();
                    let mut w = want.clone();
                    w.sort();
                    if a != w {
                        bad.push(format!(
                            "answers [{}] (want [{}])",
                            a.join(", "),
                            w.join(", ")
                        ));
                    }
                }
                if bad.is_empty() {
                    Ok(())
                } else {
                    Err(StepError::Failed {
                        expected: Some(format!("dns {} {}", d.query, d.qtype.as_str())),
                        found: bad,
                        objects: Vec::new(),
                    })
                }
            }
            Action::Get {
                kind,
                name,
                selector,
                show_labels,
            } => {
                let objects = match name {
                    Some(n) => vec![self.store().get(*kind, ns, n)?],
                    None => self
                        .store()
                        .list(*kind, Some(ns), selector.as_ref(), None)?,
                };
                sr.tables
                    .push(render(*kind, &objects, self.cluster.now(), *show_labels));
                Ok(())
            }
        }
    }

    fn apply(&mut self, a: &ApplyStep, sr: &mut StepReport) -> Result<(), StepError> {
        let loaded = match &a.objects {
            Some(objs) => Ok(objs.clone()),
            None => load_sources(&self.dir, &a.sources, a.namespace.as_deref()),
        };
        let rv_before = self.store().resource_version();
        let result: Result<Vec<_>, String> = loaded.and_then(|mut objects| {
            if a.create {
                // `kubectl create` records no last-applied configuration (the loader
                // adds one, as `kubectl apply` does).
                for o in &mut objects {
                    let meta = o.meta_mut();
                    if meta.annotations.contains_key(LAST_APPLIED_ANNOTATION) {
                        meta.annotations = meta.annotations.without(LAST_APPLIED_ANNOTATION);
                    }
                }
                for o in &objects {
                    if self
                        .store()
                        .try_get(o.kind(), o.namespace(), o.name())
                        .is_some()
                    {
                        return Err(format!(
                            "Error from server (AlreadyExists): {} {:?} already exists",
                            o.kind().plural(),
                            o.name().as_str()
                        ));
                    }
                }
            }
            self.cluster.apply(objects).map_err(|e| e.to_string())
        });
        match (&a.expect_error, result) {
            (None, Ok(applied)) => {
                for ap in &applied {
                    sr.info.push(format!(
                        "{}/{} {}",
                        ap.object.kind().name().to_ascii_lowercase(),
                        ap.object.name(),
                        format!("{:?}", ap.action).to_ascii_lowercase()
                    ));
                }
                Ok(())
            }
            (None, Err(e)) => Err(StepError::Invalid(e)),
            (Some(want), Ok(_)) => Err(failed(
                format!("the apply is rejected with an error containing {want:?}"),
                "it was accepted",
            )),
            (Some(want), Err(e)) => {
                let written = self.store().resource_version() != rv_before;
                if !e.contains(want.as_str()) {
                    Err(failed(
                        format!("the apply is rejected with an error containing {want:?}"),
                        format!("rejected with: {e}"),
                    ))
                } else if written {
                    Err(failed(
                        "nothing of the rejected apply is written",
                        format!("objects were written before the rejection: {e}"),
                    ))
                } else {
                    sr.info.push(format!("rejected: {e}"));
                    Ok(())
                }
            }
        }
    }

    fn delete(
        &mut self,
        selection: &Selection,
        ns: &str,
        cascade: PropagationPolicy,
        grace_period: Option<i64>,
        force: bool,
        sr: &mut StepReport,
    ) -> Result<(), StepError> {
        let objects = self.selected(selection, ns)?;
        if objects.is_empty() {
            sr.info.push("No resources found".into());
        }
        for o in &objects {
            let key = ObjectKey::of(o);
            let m = o.meta();
            let immediate = grace_period == Some(0);
            let user_owned = (o.kind() == Kind::Pod && immediate)
                || o.kind() == Kind::PersistentVolumeClaim
                || (m.is_being_deleted()
                    && m.has_finalizer(FINALIZER_FOREGROUND)
                    && cascade != PropagationPolicy::Foreground);
            if user_owned {
                self.checker.acknowledge_deletion(&key);
            }
            let opts = DeleteOptions {
                propagation: Some(cascade),
                grace_period_seconds: grace_period,
                preconditions_uid: None,
            };
            match self
                .store()
                .delete(o.kind(), o.namespace(), o.name(), &opts)
            {
                Ok(_) => {}
                // Gone in between (a selector match deleted by a cascade): fine.
                Err(store::Error::NotFound { .. })
                    if matches!(selection, Selection::Matching { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            sr.info.push(format!(
                "{}/{} deleted{}",
                o.kind().name().to_ascii_lowercase(),
                o.name(),
                if force { " (force)" } else { "" }
            ));
        }
        self.cluster.run_until_idle();
        Ok(())
    }
}

fn outcome_error(o: Outcome, prefix: String) -> StepError {
    let mut found = o.found;
    if let Some(first) = found.first_mut() {
        *first = format!("{prefix}{first}");
    }
    StepError::Failed {
        expected: Some(o.expected),
        found,
        objects: o.objects,
    }
}
