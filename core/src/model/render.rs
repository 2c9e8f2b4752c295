//! Rendering objects in their Kubernetes JSON form, as `kubectl get -o json` prints them.
//!
//! [`Object::to_json`] writes `apiVersion`, `kind`, `metadata`, and the kind's spec and
//! status with the API's camelCase names and shapes, so that scenario field paths
//! (`status.readyReplicas`, `status.conditions[type=Ready].status`,
//! `metadata.ownerReferences[0].kind`, `spec.template.spec.containers[0].image`) read
//! what they would read from a real cluster.
//!
//! **Omission follows the API's `omitempty`.** A field the Go type marks `omitempty` is
//! left out when it is zero, empty or unset; a field without it is always written. So
//! Deployment `status.readyReplicas` is absent (a scenario path reads it as `null`)
//! until a pod is ready, while ReplicaSet `status.replicas`, StatefulSet
//! `status.replicas`/`availableReplicas`, the four required DaemonSet counts
//! (`currentNumberScheduled`, `numberMisscheduled`, `desiredNumberScheduled`,
//! `numberReady`) and HPA `status.desiredReplicas` are always present, 0 included.
//! Metadata the store has not assigned yet (uid 0, resourceVersion 0, generation 0,
//! creationTimestamp at the epoch) is left out, as for an object never stored.
//!
//! Rendering and [`crate::manifest`] agree: loading the rendered form of an object
//! gives the object back (store-assigned metadata and status aside, which the loader
//! ignores). Pod specs render their containers' env, envFrom, workingDir and
//! volumeMounts, and merge in the unmodelled remainder of each container and of the pod
//! spec ([`Unmodelled`]) key by key. The model's simplifications show in two places: every container of a pod
//! shares one state (one `containerStatuses` entry per container, all alike), and a
//! pod that is unschedulable carries its reason as the `PodScheduled` condition's
//! message (reason `Unschedulable`); otherwise `status.reason` is the pod's reason.

use serde_json::{json, Map, Value};

use super::*;
use crate::intern::{Str, StrMap};
use crate::quantity::{format_bytes, format_cpu_millis};
use crate::selector::LabelSelector;
use crate::time::Timestamp;

/// A JSON object under construction, with `omitempty` helpers.
struct J(Map<String, Value>);

impl J {
    fn new() -> Self {
        J(Map::new())
    }

    fn put(&mut self, k: &str, v: impl Into<Value>) -> &mut Self {
        self.0.insert(k.to_string(), v.into());
        self
    }

    fn opt(&mut self, k: &str, v: Option<impl Into<Value>>) -> &mut Self {
        if let Some(v) = v {
            self.put(k, v);
        }
        self
    }

    /// Written unless 0 (`omitempty` on an integer).
    fn nz(&mut self, k: &str, v: i64) -> &mut Self {
        if v != 0 {
            self.put(k, v);
        }
        self
    }

    /// Written unless false.
    fn flag(&mut self, k: &str, v: bool) -> &mut Self {
        if v {
            self.put(k, true);
        }
        self
    }

    /// Written unless empty.
    fn text(&mut self, k: &str, v: &str) -> &mut Self {
        if !v.is_empty() {
            self.put(k, v);
        }
        self
    }

    /// Written unless empty.
    fn map(&mut self, k: &str, m: &StrMap) -> &mut Self {
        if !m.is_empty() {
            self.put(k, str_map(m.iter()));
        }
        self
    }

    /// Written unless empty.
    fn list(&mut self, k: &str, v: Vec<Value>) -> &mut Self {
        if !v.is_empty() {
            self.put(k, Value::Array(v));
        }
        self
    }

    fn time(&mut self, k: &str, t: Option<Timestamp>) -> &mut Self {
        self.opt(k, t.map(|t| t.rfc3339()))
    }

    /// Written unless the epoch (a timestamp never set).
    fn stamp(&mut self, k: &str, t: Timestamp) -> &mut Self {
        self.time(k, (t != Timestamp(0)).then_some(t))
    }

    fn done(&mut self) -> Value {
        Value::Object(std::mem::take(&mut self.0))
    }
}

/// A string-to-string map (labels, annotations, ConfigMap data).
fn str_map<'a>(pairs: impl IntoIterator<Item = (&'a Str, &'a Str)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::from(v.as_str())))
            .collect(),
    )
}

/// A list of strings (for [`J::list`], which leaves an empty one out).
fn strs(v: &[Str]) -> Vec<Value> {
    v.iter().map(|s| Value::from(s.as_str())).collect()
}

/// A volume's or claim's access modes.
fn access_modes(modes: &[AccessMode]) -> Vec<Value> {
    modes.iter().map(|m| Value::from(m.as_str())).collect()
}

/// An object reference with its `apiVersion` (CronJob `status.active`, Event
/// `involvedObject`, PersistentVolume `claimRef`).
fn versioned_ref(r: &ObjectRef, api_version: &str) -> Value {
    let mut v = object_ref(r);
    v["apiVersion"] = Value::from(api_version);
    v
}

/// The `rollingUpdate` strategy of Deployments and DaemonSets.
fn rolling_update(max_surge: &IntOrString, max_unavailable: &IntOrString) -> Value {
    json!({
        "type": "RollingUpdate",
        "rollingUpdate": { "maxSurge": int_or_string(max_surge), "maxUnavailable": int_or_string(max_unavailable) },
    })
}

fn int_or_string(v: &IntOrString) -> Value {
    match v {
        IntOrString::Int(i) => Value::from(*i),
        IntOrString::String(s) => Value::from(s.as_str()),
    }
}

impl Object {
    /// The object in Kubernetes JSON form, as `kubectl get -o json` prints it:
    /// `apiVersion`, `kind`, `metadata`, and the kind's spec and status with the API's
    /// field names. Fields the API marks `omitempty` are left out when zero or empty
    /// (Deployment `status.readyReplicas` is absent until a pod is ready); required
    /// ones (ReplicaSet `status.replicas`, the DaemonSet counts) are always written.
    /// Loading the result with [`crate::manifest::load_str`] gives the object back,
    /// less its store-assigned metadata and status.
    pub fn to_json(&self) -> Value {
        let kind = self.kind();
        let mut j = J::new();
        j.put("apiVersion", kind.api_version())
            .put("kind", kind.name());
        j.put("metadata", meta(self.meta(), kind.namespaced()));
        match self {
            Object::Namespace(n) => {
                let phase = match n.phase {
                    NamespacePhase::Active => "Active",
                    NamespacePhase::Terminating => "Terminating",
                };
                j.put("spec", json!({}));
                j.put("status", json!({ "phase": phase }));
            }
            Object::Node(n) => {
                j.put("spec", node_spec(&n.spec));
                j.put("status", node_status(n));
            }
            Object::Pod(p) => {
                j.put("spec", pod_spec(&p.spec, p.node_name.as_ref()));
                j.put("status", pod_status(p));
            }
            Object::ReplicaSet(rs) => {
                let s = &rs.spec;
                j.put(
                    "spec",
                    J::new()
                        .put("replicas", s.replicas)
                        .nz("minReadySeconds", s.min_ready_seconds.into())
                        .put("selector", selector(&s.selector))
                        .put("template", template(&s.template))
                        .done(),
                );
                let st = &rs.status;
                j.put(
                    "status",
                    J::new()
                        .put("replicas", st.replicas)
                        .nz("fullyLabeledReplicas", st.fully_labeled_replicas.into())
                        .nz("readyReplicas", st.ready_replicas.into())
                        .nz("availableReplicas", st.available_replicas.into())
                        .nz("observedGeneration", st.observed_generation)
                        .list("conditions", conditions(&st.conditions, None))
                        .done(),
                );
            }
            Object::Deployment(d) => {
                j.put("spec", deployment_spec(&d.spec));
                let st = &d.status;
                j.put(
                    "status",
                    J::new()
                        .nz("observedGeneration", st.observed_generation)
                        .nz("replicas", st.replicas.into())
                        .nz("updatedReplicas", st.updated_replicas.into())
                        .nz("readyReplicas", st.ready_replicas.into())
                        .nz("availableReplicas", st.available_replicas.into())
                        .nz("unavailableReplicas", st.unavailable_replicas.into())
                        .list(
                            "conditions",
                            conditions(&st.conditions, Some("lastUpdateTime")),
                        )
                        .opt("collisionCount", st.collision_count)
                        .done(),
                );
            }
            Object::DaemonSet(ds) => {
                j.put("spec", daemon_set_spec(&ds.spec));
                let st = &ds.status;
                j.put(
                    "status",
                    J::new()
                        .put("currentNumberScheduled", st.current_number_scheduled)
                        .put("numberMisscheduled", st.number_misscheduled)
                        .put("desiredNumberScheduled", st.desired_number_scheduled)
                        .put("numberReady", st.number_ready)
                        .nz("observedGeneration", st.observed_generation)
                        .nz("updatedNumberScheduled", st.updated_number_scheduled.into())
                        .nz("numberAvailable", st.number_available.into())
                        .nz("numberUnavailable", st.number_unavailable.into())
                        .done(),
                );
            }
            Object::StatefulSet(sts) => {
                j.put("spec", stateful_set_spec(&sts.spec));
                let st = &sts.status;
                j.put(
                    "status",
                    J::new()
                        .nz("observedGeneration", st.observed_generation)
                        .put("replicas", st.replicas)
                        .nz("readyReplicas", st.ready_replicas.into())
                        .nz("currentReplicas", st.current_replicas.into())
                        .nz("updatedReplicas", st.updated_replicas.into())
                        .put("availableReplicas", st.available_replicas)
                        .opt("currentRevision", st.current_revision.as_deref())
                        .opt("updateRevision", st.update_revision.as_deref())
                        .opt("collisionCount", st.collision_count)
                        .done(),
                );
            }
            Object::Job(job) => {
                j.put("spec", job_spec(&job.spec));
                let st = &job.status;
                let mut s = J::new();
                s.nz("active", st.active.into())
                    .nz("succeeded", st.succeeded.into())
                    .nz("failed", st.failed.into());
                // `ready` is a pointer the Job controller sets on every sync.
                if st.start_time.is_some() || st.ready != 0 {
                    s.put("ready", st.ready);
                }
                s.time("startTime", st.start_time)
                    .time("completionTime", st.completion_time);
                s.list(
                    "conditions",
                    conditions(&st.conditions, Some("lastProbeTime")),
                );
                j.put("status", s.done());
            }
            Object::CronJob(cj) => {
                j.put("spec", cron_job_spec(&cj.spec));
                let st = &cj.status;
                let active = st
                    .active
                    .iter()
                    .map(|r| versioned_ref(r, r.kind.api_version()))
                    .collect();
                j.put(
                    "status",
                    J::new()
                        .list("active", active)
                        .time("lastScheduleTime", st.last_schedule_time)
                        .time("lastSuccessfulTime", st.last_successful_time)
                        .done(),
                );
            }
            Object::Service(svc) => {
                j.put("spec", service_spec(&svc.spec));
                let ingress: Vec<Value> = svc
                    .status
                    .load_balancer_ingress
                    .iter()
                    .map(|ip| json!({ "ip": ip.to_string() }))
                    .collect();
                j.put(
                    "status",
                    json!({ "loadBalancer": J::new().list("ingress", ingress).done() }),
                );
            }
            Object::Endpoints(e) => {
                j.list("subsets", e.subsets.iter().map(subset).collect());
            }
            Object::EndpointSlice(e) => {
                j.put("addressType", e.address_type.as_str());
                j.put(
                    "endpoints",
                    Value::Array(e.endpoints.iter().map(slice_endpoint).collect()),
                );
                j.put(
                    "ports",
                    Value::Array(e.ports.iter().map(endpoint_port).collect()),
                );
            }
            Object::PersistentVolume(pv) => {
                j.put("spec", pv_spec(&pv.spec));
                j.put("status", json!({ "phase": pv.status.phase.as_str() }));
            }
            Object::PersistentVolumeClaim(pvc) => {
                j.put("spec", pvc_spec(&pvc.spec));
                let st = &pvc.status;
                j.put(
                    "status",
                    J::new()
                        .put("phase", st.phase.as_str())
                        .list("accessModes", access_modes(&st.access_modes))
                        .opt(
                            "capacity",
                            st.capacity_bytes
                                .map(|b| json!({ "storage": format_bytes(b) })),
                        )
                        .done(),
                );
            }
            Object::StorageClass(sc) => {
                j.put("provisioner", sc.provisioner.as_str());
                j.put("reclaimPolicy", sc.reclaim_policy.as_str());
                j.put(
                    "volumeBindingMode",
                    match sc.volume_binding_mode {
                        VolumeBindingMode::Immediate => "Immediate",
                        VolumeBindingMode::WaitForFirstConsumer => "WaitForFirstConsumer",
                    },
                );
                j.flag("allowVolumeExpansion", sc.allow_volume_expansion);
            }
            Object::HorizontalPodAutoscaler(h) => {
                j.put("spec", hpa_spec(&h.spec));
                j.put("status", hpa_status(&h.spec, &h.status));
            }
            Object::ConfigMap(cm) => {
                if !cm.data.is_empty() {
                    j.put("data", str_map(cm.data.iter().map(|(k, v)| (k, v))));
                }
            }
            Object::Event(e) => {
                let involved = &e.involved_object;
                j.put(
                    "involvedObject",
                    versioned_ref(involved, involved.kind.api_version()),
                );
                j.put("reason", e.reason.as_str());
                j.put("message", e.message.as_str());
                j.put(
                    "type",
                    match e.type_ {
                        EventType::Normal => "Normal",
                        EventType::Warning => "Warning",
                    },
                );
                j.put("count", e.count);
                j.stamp("firstTimestamp", e.first_timestamp);
                j.stamp("lastTimestamp", e.last_timestamp);
                if !e.source.is_empty() {
                    j.put("source", json!({ "component": e.source.as_str() }));
                }
            }
        }
        j.done()
    }
}

fn meta(m: &ObjectMeta, namespaced: bool) -> Value {
    let mut j = J::new();
    j.text("name", &m.name);
    j.opt("generateName", m.generate_name.as_deref());
    if namespaced {
        j.text("namespace", &m.namespace);
    }
    if m.uid != Uid(0) {
        j.put("uid", m.uid.to_string());
    }
    if m.resource_version != 0 {
        j.put("resourceVersion", m.resource_version.to_string());
    }
    j.nz("generation", m.generation);
    j.stamp("creationTimestamp", m.creation_timestamp);
    j.time("deletionTimestamp", m.deletion_timestamp());
    j.opt(
        "deletionGracePeriodSeconds",
        m.deletion_grace_period_seconds(),
    );
    j.map("labels", &m.labels)
        .map("annotations", &m.annotations);
    let owners = m
        .owner_references
        .iter()
        .map(|r| {
            J::new()
                .put("apiVersion", r.kind.api_version())
                .put("kind", r.kind.name())
                .put("name", r.name.as_str())
                .put("uid", r.uid.to_string())
                .flag("controller", r.controller)
                .flag("blockOwnerDeletion", r.block_owner_deletion)
                .done()
        })
        .collect();
    j.list("ownerReferences", owners);
    j.list("finalizers", strs(&m.finalizers));
    j.done()
}

fn selector(s: &LabelSelector) -> Value {
    let exprs = s
        .match_expressions
        .iter()
        .map(|r| {
            J::new()
                .put("key", r.key.as_str())
                .put("operator", r.operator.as_str())
                .list("values", strs(&r.values))
                .done()
        })
        .collect();
    J::new()
        .map("matchLabels", &s.match_labels)
        .list("matchExpressions", exprs)
        .done()
}

fn template_meta(m: &TemplateMeta) -> Value {
    J::new()
        .map("labels", &m.labels)
        .map("annotations", &m.annotations)
        .done()
}

fn template(t: &PodTemplateSpec) -> Value {
    json!({ "metadata": template_meta(&t.meta), "spec": pod_spec(&t.spec, None) })
}

fn resources(r: Resources) -> Value {
    let mut j = J::new();
    if r.cpu_millis != 0 {
        j.put("cpu", format_cpu_millis(r.cpu_millis));
    }
    if r.memory_bytes != 0 {
        j.put("memory", format_bytes(r.memory_bytes));
    }
    j.done()
}

fn is_empty_object(v: &Value) -> bool {
    v.as_object().is_some_and(Map::is_empty)
}

fn probe(p: &Probe) -> Value {
    J::new()
        .nz("initialDelaySeconds", p.initial_delay_seconds.into())
        .put("periodSeconds", p.period_seconds)
        .put("successThreshold", p.success_threshold)
        .put("failureThreshold", p.failure_threshold)
        .done()
}

fn env_var(e: &EnvVar) -> Value {
    let mut j = J::new();
    j.put("name", e.name.as_str());
    let from = match &e.value {
        EnvValue::Value(v) => {
            j.text("value", v);
            None
        }
        EnvValue::FieldRef {
            api_version,
            field_path,
        } => Some(json!({ "fieldRef": {
            "apiVersion": api_version.as_str(),
            "fieldPath": field_path.as_str(),
        } })),
        EnvValue::ResourceFieldRef {
            container_name,
            resource,
            divisor,
        } => Some(json!({ "resourceFieldRef": J::new()
            .opt("containerName", container_name.as_deref())
            .put("resource", resource.as_str())
            .opt("divisor", divisor.as_deref())
            .done() })),
        EnvValue::ConfigMapKeyRef {
            name,
            key,
            optional,
        } => Some(json!({ "configMapKeyRef": J::new()
            .put("name", name.as_str())
            .put("key", key.as_str())
            .opt("optional", *optional)
            .done() })),
        EnvValue::SecretKeyRef {
            name,
            key,
            optional,
        } => Some(json!({ "secretKeyRef": J::new()
            .put("name", name.as_str())
            .put("key", key.as_str())
            .opt("optional", *optional)
            .done() })),
    };
    j.opt("valueFrom", from);
    j.done()
}

fn env_from(e: &EnvFromSource) -> Value {
    let source = J::new()
        .put("name", e.name.as_str())
        .opt("optional", e.optional)
        .done();
    let field = match e.kind {
        EnvFromKind::ConfigMap => "configMapRef",
        EnvFromKind::Secret => "secretRef",
    };
    J::new()
        .opt("prefix", e.prefix.as_deref())
        .put(field, source)
        .done()
}

fn volume_mount(m: &VolumeMount) -> Value {
    J::new()
        .put("name", m.name.as_str())
        .put("mountPath", m.mount_path.as_str())
        .flag("readOnly", m.read_only)
        .opt("subPath", m.sub_path.as_deref())
        .done()
}

/// Merges an unmodelled remainder into a rendered value: objects key by key, arrays
/// index by index — or, when every remainder element carries a `name` (pod volumes),
/// into the rendered element of that name; where both have a scalar the rendered
/// (modelled) one stays.
fn merge_rest(dst: &mut Value, rest: &Unmodelled) {
    if let Some(r) = rest.to_json() {
        merge(dst, r);
    }
}

fn merge(dst: &mut Value, src: Value) {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => {
            for (k, v) in s {
                match d.get_mut(&k) {
                    Some(x) => merge(x, v),
                    None => {
                        d.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(d), Value::Array(s)) if s.iter().all(|x| x.get("name").is_some()) => {
            for v in s {
                if let Some(x) = d.iter_mut().find(|x| x.get("name") == v.get("name")) {
                    merge(x, v);
                }
            }
        }
        (Value::Array(d), Value::Array(s)) => {
            for (i, v) in s.into_iter().enumerate() {
                match d.get_mut(i) {
                    Some(x) => merge(x, v),
                    None => d.push(v),
                }
            }
        }
        _ => {}
    }
}

fn container(c: &Container, d: &ContainerDetails) -> Value {
    let mut j = J::new();
    j.put("name", c.name.as_str())
        .put("image", c.image.as_str());
    j.put("imagePullPolicy", c.image_pull_policy.as_str());
    j.list("command", strs(&c.command));
    j.list("args", strs(&c.args));
    j.opt("workingDir", d.working_dir.as_deref());
    j.list("env", d.env.iter().map(env_var).collect());
    j.list("envFrom", d.env_from.iter().map(env_from).collect());
    j.list(
        "volumeMounts",
        d.volume_mounts.iter().map(volume_mount).collect(),
    );
    let ports = c
        .ports
        .iter()
        .map(|p| {
            J::new()
                .opt("name", p.name.as_deref())
                .put("containerPort", p.container_port)
                .opt("hostPort", p.host_port)
                .put("protocol", p.protocol.as_str())
                .done()
        })
        .collect();
    j.list("ports", ports);
    let mut res = J::new();
    let (req, lim) = (resources(c.requests), resources(c.limits));
    if !is_empty_object(&req) {
        res.put("requests", req);
    }
    if !is_empty_object(&lim) {
        res.put("limits", lim);
    }
    j.put("resources", res.done());
    j.opt("readinessProbe", c.readiness_probe.as_ref().map(probe));
    j.opt("livenessProbe", c.liveness_probe.as_ref().map(probe));
    if let Some(h) = &c.pre_stop {
        let handler = match h {
            PreStop::Sleep(s) => json!({ "sleep": { "seconds": s } }),
            PreStop::Exec(cmd) => json!({ "exec": { "command": strs(cmd) } }),
            PreStop::HttpGet { path, port } => {
                json!({ "httpGet": { "path": path.as_str(), "port": int_or_string(port) } })
            }
        };
        j.put("lifecycle", json!({ "preStop": handler }));
    }
    let mut v = j.done();
    merge_rest(&mut v, &d.rest);
    v
}

fn pod_spec(s: &PodSpec, node_name: Option<&Str>) -> Value {
    let mut j = J::new();
    j.put(
        "containers",
        Value::Array(
            s.containers
                .iter()
                .enumerate()
                .map(|(i, c)| container(c, s.container_details(i)))
                .collect(),
        ),
    );
    j.put("restartPolicy", s.restart_policy.as_str());
    j.opt(
        "terminationGracePeriodSeconds",
        s.termination_grace_period_seconds,
    );
    j.opt("activeDeadlineSeconds", s.active_deadline_seconds);
    j.map("nodeSelector", &s.node_selector);
    j.opt("nodeName", node_name.map(Str::as_str));
    j.flag("hostNetwork", s.host_network);
    j.opt("hostname", s.hostname.as_deref());
    j.opt("subdomain", s.subdomain.as_deref());
    let tolerations = s
        .tolerations
        .iter()
        .map(|t| {
            J::new()
                .opt("key", t.key.as_deref())
                .put(
                    "operator",
                    match t.operator {
                        TolerationOperator::Equal => "Equal",
                        TolerationOperator::Exists => "Exists",
                    },
                )
                .opt("value", t.value.as_deref())
                .opt("effect", t.effect.map(TaintEffect::as_str))
                .opt("tolerationSeconds", t.toleration_seconds)
                .done()
        })
        .collect();
    j.list("tolerations", tolerations);
    let volumes = s
        .volumes
        .iter()
        .map(|v| {
            let mut vj = J::new();
            vj.put("name", v.name.as_str());
            match &v.source {
                VolumeSource::PersistentVolumeClaim(c) => {
                    vj.put("persistentVolumeClaim", json!({ "claimName": c.as_str() }));
                }
                VolumeSource::EmptyDir => {
                    vj.put("emptyDir", json!({}));
                }
                VolumeSource::ConfigMap(n) => {
                    vj.put("configMap", json!({ "name": n.as_str() }));
                }
                VolumeSource::HostPath(p) => {
                    vj.put("hostPath", json!({ "path": p.as_str() }));
                }
                VolumeSource::Secret(n) => {
                    vj.put("secret", json!({ "secretName": n.as_str() }));
                }
                VolumeSource::Other => {}
            }
            vj.done()
        })
        .collect();
    j.list("volumes", volumes);
    let mut v = j.done();
    merge_rest(&mut v, &s.rest);
    v
}

/// Upstream's QoS class from requests and limits.
fn qos_class(s: &PodSpec) -> &'static str {
    let none = |r: Resources| r.cpu_millis == 0 && r.memory_bytes == 0;
    if s.containers
        .iter()
        .all(|c| none(c.requests) && none(c.limits))
    {
        return "BestEffort";
    }
    let guaranteed = s
        .containers
        .iter()
        .all(|c| c.limits.cpu_millis != 0 && c.limits.memory_bytes != 0 && c.requests == c.limits);
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn pod_status(p: &Pod) -> Value {
    let st = &p.status;
    let mut j = J::new();
    j.put("phase", st.phase.as_str());
    let unready: Vec<&str> = p.spec.containers.iter().map(|c| c.name.as_str()).collect();
    let unready_message = format!("containers with unready status: [{}]", unready.join(" "));
    let unschedulable = st.conditions.scheduled.status == Some(ConditionStatus::False);
    let mut conds = Vec::new();
    let mut cond = |type_: &str, c: PodCondition| {
        let Some(status) = c.status else { return };
        let mut cj = J::new();
        cj.put("type", type_).put("status", status.as_str());
        cj.put("lastProbeTime", Value::Null);
        cj.put("lastTransitionTime", c.since.rfc3339());
        match (type_, status) {
            ("PodScheduled", ConditionStatus::False) => {
                cj.put("reason", "Unschedulable");
                cj.opt("message", st.reason.as_deref());
            }
            ("ContainersReady" | "Ready", ConditionStatus::False) => {
                cj.put("reason", "ContainersNotReady");
                cj.put("message", unready_message.as_str());
            }
            _ => {}
        }
        conds.push(cj.done());
    };
    cond("PodScheduled", st.conditions.scheduled);
    // Derived conditions (see `PodConditions`): Initialized from the start time,
    // ContainersReady = Ready.
    let initialized = st
        .start_time
        .map(|t| PodCondition::new(ConditionStatus::True, t))
        .unwrap_or_default();
    cond("Initialized", initialized);
    cond("ContainersReady", st.conditions.ready);
    cond("Ready", st.conditions.ready);
    j.list("conditions", conds);
    if !unschedulable {
        j.opt("reason", st.reason.as_deref());
    }
    if let Some(ip) = st.host_ip {
        j.put("hostIP", ip.to_string());
        j.put("hostIPs", json!([{ "ip": ip.to_string() }]));
    }
    if let Some(ip) = st.pod_ip {
        j.put("podIP", ip.to_string());
        j.put("podIPs", json!([{ "ip": ip.to_string() }]));
    }
    j.time("startTime", st.start_time);
    if st.container_state != ContainerState::None {
        let ready = st.conditions.ready.is_true();
        let state = match st.container_state {
            ContainerState::None => json!({}),
            ContainerState::Waiting(r) => json!({ "waiting": { "reason": r.as_str() } }),
            ContainerState::Running { started_at } => {
                json!({ "running": { "startedAt": started_at.rfc3339() } })
            }
            ContainerState::Terminated {
                exit_code,
                finished_at,
            } => json!({ "terminated": {
                "exitCode": exit_code,
                "reason": if exit_code == 0 { "Completed" } else { "Error" },
                "finishedAt": finished_at.rfc3339(),
            } }),
        };
        let last_state = match st.last_termination.as_deref() {
            None => json!({}),
            Some(t) => json!({ "terminated": {
                "exitCode": t.exit_code,
                "reason": if t.exit_code == 0 { "Completed" } else { "Error" },
                "startedAt": t.started_at.rfc3339(),
                "finishedAt": t.finished_at.rfc3339(),
            } }),
        };
        let running = matches!(st.container_state, ContainerState::Running { .. });
        let statuses = p
            .spec
            .containers
            .iter()
            .map(|c| {
                json!({
                    "name": c.name.as_str(),
                    "image": c.image.as_str(),
                    "ready": ready,
                    "restartCount": st.restart_count,
                    "started": running,
                    "state": state,
                    "lastState": last_state,
                })
            })
            .collect();
        j.list("containerStatuses", statuses);
    }
    j.put("qosClass", qos_class(&p.spec));
    j.done()
}

/// Conditions; `update_key` names the kind's second timestamp (`lastUpdateTime` on
/// Deployments, `lastHeartbeatTime` on Nodes, `lastProbeTime` on Jobs).
fn conditions(cs: &[Condition], update_key: Option<&str>) -> Vec<Value> {
    cs.iter()
        .map(|c| {
            let mut j = J::new();
            j.put("type", c.type_.as_str())
                .put("status", c.status.as_str());
            if let Some(k) = update_key {
                j.time(k, c.last_update_time);
            }
            j.put("lastTransitionTime", c.last_transition_time.rfc3339());
            j.opt("reason", c.reason.as_deref())
                .opt("message", c.message.as_deref());
            j.done()
        })
        .collect()
}

fn deployment_spec(s: &DeploymentSpec) -> Value {
    let strategy = match &s.strategy {
        DeploymentStrategy::Recreate => json!({ "type": "Recreate" }),
        DeploymentStrategy::RollingUpdate {
            max_surge,
            max_unavailable,
        } => rolling_update(max_surge, max_unavailable),
    };
    J::new()
        .put("replicas", s.replicas)
        .put("selector", selector(&s.selector))
        .put("template", template(&s.template))
        .put("strategy", strategy)
        .nz("minReadySeconds", s.min_ready_seconds.into())
        .put("revisionHistoryLimit", s.revision_history_limit)
        .flag("paused", s.paused)
        .put("progressDeadlineSeconds", s.progress_deadline_seconds)
        .done()
}

fn daemon_set_spec(s: &DaemonSetSpec) -> Value {
    let strategy = match &s.update_strategy {
        DaemonSetUpdateStrategy::OnDelete => json!({ "type": "OnDelete" }),
        DaemonSetUpdateStrategy::RollingUpdate {
            max_unavailable,
            max_surge,
        } => rolling_update(max_surge, max_unavailable),
    };
    J::new()
        .put("selector", selector(&s.selector))
        .put("template", template(&s.template))
        .put("updateStrategy", strategy)
        .nz("minReadySeconds", s.min_ready_seconds.into())
        .put("revisionHistoryLimit", s.revision_history_limit)
        .done()
}

fn pvc_spec(s: &PvcSpec) -> Value {
    J::new()
        .put("accessModes", Value::Array(access_modes(&s.access_modes)))
        .put(
            "resources",
            json!({ "requests": { "storage": format_bytes(s.request_bytes) } }),
        )
        .opt("storageClassName", s.storage_class_name.as_deref())
        .opt("volumeName", s.volume_name.as_deref())
        .opt("selector", s.selector.as_ref().map(selector))
        .done()
}

fn stateful_set_spec(s: &StatefulSetSpec) -> Value {
    let strategy = match &s.update_strategy {
        StatefulSetUpdateStrategy::OnDelete => json!({ "type": "OnDelete" }),
        StatefulSetUpdateStrategy::RollingUpdate { partition } => {
            json!({ "type": "RollingUpdate", "rollingUpdate": { "partition": partition } })
        }
    };
    let retention = |r: PvcRetention| match r {
        PvcRetention::Retain => "Retain",
        PvcRetention::Delete => "Delete",
    };
    let templates = s
        .volume_claim_templates
        .iter()
        .map(|t| {
            let mut m = J::new();
            m.put("name", t.name.as_str())
                .map("labels", &t.meta.labels)
                .map("annotations", &t.meta.annotations);
            json!({
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": m.done(),
                "spec": pvc_spec(&t.spec),
            })
        })
        .collect();
    J::new()
        .put("replicas", s.replicas)
        .put("selector", selector(&s.selector))
        .put("template", template(&s.template))
        .text("serviceName", &s.service_name)
        .put(
            "podManagementPolicy",
            match s.pod_management_policy {
                PodManagementPolicy::OrderedReady => "OrderedReady",
                PodManagementPolicy::Parallel => "Parallel",
            },
        )
        .put("updateStrategy", strategy)
        .list("volumeClaimTemplates", templates)
        .put(
            "persistentVolumeClaimRetentionPolicy",
            json!({
                "whenDeleted": retention(s.pvc_retention_when_deleted),
                "whenScaled": retention(s.pvc_retention_when_scaled),
            }),
        )
        .nz("minReadySeconds", s.min_ready_seconds.into())
        .put("revisionHistoryLimit", s.revision_history_limit)
        .done()
}

fn job_spec(s: &JobSpec) -> Value {
    let mut j = J::new();
    j.put("parallelism", s.parallelism);
    j.opt("completions", s.completions);
    j.put("backoffLimit", s.backoff_limit);
    j.opt("activeDeadlineSeconds", s.active_deadline_seconds);
    j.opt("ttlSecondsAfterFinished", s.ttl_seconds_after_finished);
    j.put("suspend", s.suspend);
    if !s.selector.is_empty() {
        j.put("selector", selector(&s.selector));
    }
    j.flag("manualSelector", s.manual_selector);
    j.put("completionMode", "NonIndexed");
    j.put("template", template(&s.template));
    j.done()
}

fn cron_job_spec(s: &CronJobSpec) -> Value {
    J::new()
        .put("schedule", s.schedule.as_str())
        .opt("timeZone", s.time_zone.as_deref())
        .opt("startingDeadlineSeconds", s.starting_deadline_seconds)
        .put("concurrencyPolicy", s.concurrency_policy.as_str())
        .put("suspend", s.suspend)
        .put(
            "jobTemplate",
            json!({ "metadata": template_meta(&s.job_template.meta), "spec": job_spec(&s.job_template.spec) }),
        )
        .put("successfulJobsHistoryLimit", s.successful_jobs_history_limit)
        .put("failedJobsHistoryLimit", s.failed_jobs_history_limit)
        .done()
}

fn service_spec(s: &ServiceSpec) -> Value {
    let mut j = J::new();
    j.put("type", s.type_.as_str());
    j.map("selector", &s.selector);
    match s.cluster_ip {
        ClusterIp::Unassigned => {}
        ClusterIp::Headless => {
            j.put("clusterIP", "None")
                .put("clusterIPs", json!(["None"]));
        }
        ClusterIp::Ip(ip) => {
            j.put("clusterIP", ip.to_string())
                .put("clusterIPs", json!([ip.to_string()]));
        }
    }
    let ports = s
        .ports
        .iter()
        .map(|p| {
            J::new()
                .opt("name", p.name.as_deref())
                .put("protocol", p.protocol.as_str())
                .put("port", p.port)
                .put("targetPort", int_or_string(&p.target_port))
                .opt("nodePort", p.node_port)
                .done()
        })
        .collect();
    j.list("ports", ports);
    j.put(
        "sessionAffinity",
        match s.session_affinity {
            SessionAffinity::None => "None",
            SessionAffinity::ClientIp => "ClientIP",
        },
    );
    if let Some(t) = s.session_affinity_timeout_seconds {
        j.put(
            "sessionAffinityConfig",
            json!({ "clientIP": { "timeoutSeconds": t } }),
        );
    }
    j.opt("externalName", s.external_name.as_deref());
    j.flag("publishNotReadyAddresses", s.publish_not_ready_addresses);
    j.opt(
        "loadBalancerIP",
        s.load_balancer_ip.map(|ip| ip.to_string()),
    );
    j.done()
}

fn object_ref(r: &ObjectRef) -> Value {
    J::new()
        .put("kind", r.kind.name())
        .text("namespace", &r.namespace)
        .put("name", r.name.as_str())
        .opt("uid", r.uid.map(|u| u.to_string()))
        .done()
}

fn endpoint_port(p: &EndpointPort) -> Value {
    J::new()
        .opt("name", p.name.as_deref())
        .put("port", p.port)
        .put("protocol", p.protocol.as_str())
        .done()
}

fn endpoint_address(a: &EndpointAddress) -> Value {
    J::new()
        .put("ip", a.ip.to_string())
        .opt("hostname", a.hostname.as_deref())
        .opt("nodeName", a.node_name.as_deref())
        .opt("targetRef", a.target_ref.as_ref().map(object_ref))
        .done()
}

fn subset(s: &EndpointSubset) -> Value {
    J::new()
        .list(
            "addresses",
            s.addresses.iter().map(endpoint_address).collect(),
        )
        .list(
            "notReadyAddresses",
            s.not_ready_addresses.iter().map(endpoint_address).collect(),
        )
        .list("ports", s.ports.iter().map(endpoint_port).collect())
        .done()
}

fn slice_endpoint(e: &Endpoint) -> Value {
    let c = &e.conditions;
    J::new()
        .put(
            "addresses",
            Value::Array(
                e.addresses
                    .iter()
                    .map(|a| Value::from(a.to_string()))
                    .collect(),
            ),
        )
        .put(
            "conditions",
            J::new()
                .opt("ready", c.ready)
                .opt("serving", c.serving)
                .opt("terminating", c.terminating)
                .done(),
        )
        .opt("hostname", e.hostname.as_deref())
        .opt("nodeName", e.node_name.as_deref())
        .opt("targetRef", e.target_ref.as_ref().map(object_ref))
        .done()
}

fn pv_spec(s: &PvSpec) -> Value {
    let claim = s.claim_ref.as_ref().map(|r| versioned_ref(r, "v1"));
    J::new()
        .put(
            "capacity",
            json!({ "storage": format_bytes(s.capacity_bytes) }),
        )
        .put("accessModes", Value::Array(access_modes(&s.access_modes)))
        .put("persistentVolumeReclaimPolicy", s.reclaim_policy.as_str())
        .opt("storageClassName", s.storage_class_name.as_deref())
        .opt("claimRef", claim)
        .opt(
            "hostPath",
            s.host_path.as_ref().map(|p| json!({ "path": p.as_str() })),
        )
        .done()
}

fn node_spec(s: &NodeSpec) -> Value {
    let mut j = J::new();
    if let Some((addr, len)) = s.pod_cidr {
        let cidr = format!("{addr}/{len}");
        j.put("podCIDR", cidr.as_str())
            .put("podCIDRs", json!([cidr]));
    }
    j.flag("unschedulable", s.unschedulable);
    let taints = s
        .taints
        .iter()
        .map(|t| {
            J::new()
                .put("key", t.key.as_str())
                .opt("value", t.value.as_deref())
                .put("effect", t.effect.as_str())
                .time("timeAdded", t.time_added)
                .done()
        })
        .collect();
    j.list("taints", taints);
    j.done()
}

fn capacity(c: &NodeCapacity) -> Value {
    json!({
        "cpu": format_cpu_millis(c.resources.cpu_millis),
        "memory": format_bytes(c.resources.memory_bytes),
        "pods": c.pods.to_string(),
    })
}

fn node_status(n: &Node) -> Value {
    let st = &n.status;
    let mut addresses = Vec::new();
    if let Some(ip) = st.internal_ip {
        addresses.push(json!({ "type": "InternalIP", "address": ip.to_string() }));
    }
    if !n.meta.name.is_empty() {
        addresses.push(json!({ "type": "Hostname", "address": n.meta.name.as_str() }));
    }
    J::new()
        .put("capacity", capacity(&st.capacity))
        .put("allocatable", capacity(&st.allocatable))
        .list(
            "conditions",
            conditions(&st.conditions, Some("lastHeartbeatTime")),
        )
        .list("addresses", addresses)
        .list(
            "images",
            st.images
                .iter()
                .map(|i| json!({ "names": [i.as_str()] }))
                .collect(),
        )
        .done()
}

fn scaling_rules(r: &HpaScalingRules) -> Value {
    let policies: Vec<Value> = r
        .policies
        .iter()
        .map(|p| {
            json!({
                "type": match p.type_ { HpaPolicyType::Pods => "Pods", HpaPolicyType::Percent => "Percent" },
                "value": p.value,
                "periodSeconds": p.period_seconds,
            })
        })
        .collect();
    json!({
        "stabilizationWindowSeconds": r.stabilization_window_seconds,
        "selectPolicy": match r.select_policy {
            SelectPolicy::Max => "Max",
            SelectPolicy::Min => "Min",
            SelectPolicy::Disabled => "Disabled",
        },
        "policies": policies,
    })
}

/// A resource amount as a quantity: millicores for cpu, bytes otherwise.
fn resource_quantity(resource: &str, v: i64) -> String {
    if resource == "cpu" {
        format_cpu_millis(v)
    } else {
        format_bytes(v)
    }
}

/// `v` (thousandths when `milli`) as apimachinery's canonical DecimalSI quantity
/// (`resource.NewMilliQuantity(v, DecimalSI).String()`): `250m`, `2`, `1500k`, `3M`.
fn decimal_si(v: i64, milli: bool) -> String {
    if milli && v % 1000 != 0 {
        return format!("{v}m");
    }
    let mut n = if milli { v / 1000 } else { v };
    let mut suffix = 0;
    while n != 0 && n % 1000 == 0 && suffix < 6 {
        n /= 1000;
        suffix += 1;
    }
    format!("{n}{}", ["", "k", "M", "G", "T", "P", "E"][suffix])
}

fn hpa_spec(s: &HpaSpec) -> Value {
    let metrics: Vec<Value> = s
        .metrics
        .iter()
        .map(|m| {
            let target = match m.target {
                MetricTarget::Utilization(u) => json!({ "type": "Utilization", "averageUtilization": u }),
                MetricTarget::AverageValue(v) => {
                    json!({ "type": "AverageValue", "averageValue": resource_quantity(&m.resource, v) })
                }
                MetricTarget::Value(v) => json!({ "type": "Value", "value": resource_quantity(&m.resource, v) }),
            };
            json!({ "type": "Resource", "resource": { "name": m.resource.as_str(), "target": target } })
        })
        .collect();
    let r = &s.scale_target_ref;
    J::new()
        .put(
            "scaleTargetRef",
            J::new().text("apiVersion", &r.api_version).put("kind", r.kind.as_str()).put("name", r.name.as_str()).done(),
        )
        .put("minReplicas", s.min_replicas)
        .put("maxReplicas", s.max_replicas)
        .put("metrics", Value::Array(metrics))
        .put("behavior", json!({ "scaleUp": scaling_rules(&s.scale_up), "scaleDown": scaling_rules(&s.scale_down) }))
        .done()
}

fn hpa_status(spec: &HpaSpec, st: &HpaStatus) -> Value {
    let mut j = J::new();
    j.nz("observedGeneration", st.observed_generation);
    j.time("lastScaleTime", st.last_scale_time);
    j.nz("currentReplicas", st.current_replicas.into());
    j.put("desiredReplicas", st.desired_replicas);
    if let (Some(u), Some(m)) = (st.current_utilization, spec.metrics.first()) {
        // An AverageValue target's current value is the average usage (millicores or
        // bytes), written as upstream's controller does: a DecimalSI quantity.
        let current = match m.target {
            MetricTarget::AverageValue(_) => {
                json!({ "averageValue": decimal_si(i64::from(u), m.resource.as_str() == "cpu") })
            }
            _ => json!({ "averageUtilization": u }),
        };
        j.put(
            "currentMetrics",
            json!([{ "type": "Resource", "resource": { "name": m.resource.as_str(), "current": current } }]),
        );
    }
    j.list("conditions", conditions(&st.conditions, None));
    j.done()
}
