//! Manifests: real Kubernetes YAML in, validated [`Object`]s out.
//!
//! [`load_str`], [`load_file`] and [`load_path`] read YAML streams (`---`-separated
//! documents; empty documents are skipped; `kind: List` is flattened) and return every
//! object in document order — or the first error, and nothing else: loading is
//! all-or-nothing.
//!
//! # Pipeline
//!
//! 1. **YAML → JSON.** Each document is parsed with `serde_yaml_ng` (anchors and `<<`
//!    merge keys applied) and converted to a `serde_json::Value`.
//! 2. **apiVersion/kind dispatch.** Every [`Kind`] is served at exactly one apiVersion
//!    ([`Kind::api_version`]): v1, apps/v1, batch/v1, autoscaling/v2, storage.k8s.io/v1,
//!    discovery.k8s.io/v1. A missing or unknown `apiVersion`/`kind` is an error naming
//!    that field.
//! 3. **Typed decode.** The JSON is deserialized into k8s-openapi's struct for the kind,
//!    so every field has the type the API server gives it: a string where an integer
//!    belongs is an error at its field path (`spec.replicas: invalid type: …`).
//! 4. **Strict field validation**, as `kubectl apply` does by default
//!    (`--validate=strict`): the typed value is serialized again and compared with the
//!    input; any key the typed struct does not know is `unknown field "<path>"` (keys
//!    whose value is `null` are ignored). Free-form maps (labels, annotations, data,
//!    nodeSelector, resources.requests…) keep every key and so never report.
//! 5. **Conversion, defaulting and validation** into the compact model type, with the
//!    API server's defaults and checks (below). The first error wins.
//!
//! Every object loaded from a document carries the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation `kubectl apply` gives
//! it: the document's JSON ([`crate::apply::last_applied_configuration`]); a document
//! that already has one keeps it. [`crate::cluster::Cluster::apply`] merges with it.
//! [`decode_document`] decodes one document without adding it.
//!
//! # Errors
//!
//! A [`ManifestError`] names the file, the 0-based document index, the object's kind
//! and name when known, the JSON field path (items of a `kind: List` are prefixed
//! `items[i].`) and the reason, worded as the API server words it:
//!
//! ```text
//! pi-web.yaml: document 0 (Deployment pi-web): selector: unknown field "selector"
//! app.yaml: document 2 (Deployment web): spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: `selector` does not match template `labels`
//! ```
//!
//! # Defaulting (as the API server's `SetDefaults_*` functions)
//!
//! - `metadata.namespace`: `default` for namespaced kinds; a cluster-scoped kind
//!   (Namespace, Node, PersistentVolume, StorageClass) with a namespace is an error.
//! - Pod specs: `restartPolicy: Always`; `imagePullPolicy: Always` for `:latest` or
//!   untagged images (without digest), else `IfNotPresent`; port protocol TCP; probe
//!   period 10 s, failure threshold 3, success threshold 1; a resource with a limit and
//!   no request gets the limit as request; a volume without a source is an `emptyDir`;
//!   `preStop.httpGet.path` `/`. `terminationGracePeriodSeconds` stays unset unless
//!   given (the kubelet applies the cluster default).
//! - ReplicaSet/Deployment/StatefulSet `replicas: 1`; Deployment strategy RollingUpdate
//!   with maxSurge and maxUnavailable 25%, revisionHistoryLimit 10,
//!   progressDeadlineSeconds 600, minReadySeconds 0; DaemonSet RollingUpdate with
//!   maxUnavailable 1 and maxSurge 0, revisionHistoryLimit 10; StatefulSet
//!   podManagementPolicy OrderedReady, RollingUpdate partition 0, PVC retention
//!   Retain/Retain, revisionHistoryLimit 10.
//! - Job: parallelism and completions 1 when both are unset (only parallelism given
//!   leaves completions unset: a work-queue Job), backoffLimit 6, suspend false. The
//!   same defaults apply to a CronJob's `jobTemplate.spec` (upstream applies them when
//!   the Job is created). CronJob concurrencyPolicy Allow, history limits 3 and 1,
//!   suspend false.
//! - Job selector: unless `manualSelector: true`, the selector is not required; the one
//!   given (often none) is kept as written, and the store/Job controller adds
//!   `batch.kubernetes.io/controller-uid` (and the template's job-name labels) when the
//!   Job is created, as the API server does.
//! - Service: type ClusterIP, port protocol TCP, targetPort = port, sessionAffinity
//!   None, ClientIP timeout 10800 s; `clusterIP: None` is headless, an address is
//!   requested, anything else is left for the allocator.
//! - HPA: minReplicas 1, metrics 80% CPU utilization, behavior = upstream defaults with
//!   the user's parts merged (stabilization window, select policy, policies each
//!   replace the default separately).
//! - PersistentVolume reclaim policy Retain; StorageClass reclaim policy Delete and
//!   binding mode Immediate; Event type Normal and count 1.
//!
//! # Validation (as `ValidateObjectMeta`, `ValidatePodSpec`, `ValidateDeployment`, …)
//!
//! Names are DNS-1123 subdomains (≤ 253), Namespace names DNS-1123 labels, Service
//! names DNS-1035 labels (upstream's rule: they start with a letter), CronJob names
//! ≤ 52 characters; label keys and values and annotation keys; replicas and the other
//! counts ≥ 0; workload selectors present, valid, non-empty and matching the template's
//! labels; containers present, named (DNS-1123 labels, unique) and with an image; port
//! numbers 1–65535 and port names IANA service names; ReplicaSet/Deployment/DaemonSet/
//! StatefulSet templates restart Always, Job templates Never or OnFailure; rolling
//! update bounds valid and not both 0; Service ports (names required and unique when
//! more than one), nodePort only for NodePort/LoadBalancer and within 30000–32767,
//! sessionAffinityConfig only with ClientIP and its timeout in 1..=86400; CronJob
//! schedules (5-field cron or `@hourly`-style descriptors); HPA maxReplicas ≥
//! minReplicas ≥ 1; PVCs with access modes and a storage request; PVs with a capacity
//! and access modes.
//!
//! # What the model does not keep
//!
//! The model keeps what the simulation reads (see [`crate::model`]). Fields the API
//! accepts but kubesim does not simulate are accepted (they are type-checked and
//! strict-checked) and dropped — except in pod specs, where every field a user can set
//! is part of the template (upstream compares whole templates, so a change to any of
//! them is a Deployment rollout):
//!
//! - a container's `env` (values and `valueFrom` fieldRef/resourceFieldRef/
//!   configMapKeyRef/secretKeyRef), `envFrom`, `workingDir` and `volumeMounts` are
//!   modelled ([`crate::model::ContainerDetails`], validated as upstream: env var names
//!   by the 1.34 relaxed rule — printable ASCII but `=` —, one source per `valueFrom`
//!   and `envFrom` entry, supported downward-API paths and resources, ConfigMap/Secret
//!   names and keys, mounts naming a volume (or a StatefulSet claim template) with a
//!   unique `mountPath` and a relative `subPath` without `..`; a resourceFieldRef
//!   `divisor` is kept as written, not checked);
//! - every other field of a container (`securityContext`, `startupProbe`, probe
//!   handlers and `timeoutSeconds`, `lifecycle.postStart`, a `tcpSocket` preStop,
//!   `stdin`/`tty`, `terminationMessage*`, resources other than cpu and memory,
//!   `resizePolicy`, port `hostIP`, `volumeDevices`, …) and of a pod spec
//!   (`initContainers`, `affinity`, `serviceAccountName`, `securityContext`,
//!   `dnsPolicy`, `priorityClassName`, `imagePullSecrets`, the details of volume
//!   sources, …) is kept as canonical JSON ([`crate::model::Unmodelled`]): it takes part
//!   in equality and the `pod-template-hash`, and renders back; it is not validated
//!   beyond its type.
//!
//! What is dropped:
//!
//! - metadata: `uid`, `resourceVersion`, `generation`, `creationTimestamp`,
//!   `deletionTimestamp`, `deletionGracePeriodSeconds`, `managedFields`, `selfLink`
//!   (the store assigns these); a pod template's metadata other than labels and
//!   annotations; `nodeName` of a template;
//! - the `status` of every kind but Node (the API server resets status on create);
//! - in a pod spec, an empty object or list is the same as an absent one
//!   (`securityContext: {}`);
//! - workloads: a DaemonSet's `rollingUpdate` under `type: OnDelete` (accepted
//!   unvalidated, as upstream); StatefulSet `ordinals` and
//!   `rollingUpdate.maxUnavailable`; Job
//!   `podFailurePolicy`, `backoffLimitPerIndex`, `maxFailedIndexes`, `successPolicy`,
//!   `podReplacementPolicy`, `managedBy` (and `completionMode: Indexed` is rejected);
//! - Service: `externalTrafficPolicy`, `internalTrafficPolicy`, `externalIPs`,
//!   `ipFamilies`/`ipFamilyPolicy`, `loadBalancerSourceRanges`, `loadBalancerClass`,
//!   `allocateLoadBalancerNodePorts`, `healthCheckNodePort`, `trafficDistribution`,
//!   port `appProtocol`; Endpoints/EndpointSlice `appProtocol`, `zone`, `hints`;
//! - PersistentVolume sources other than `hostPath.path`, `mountOptions`,
//!   `nodeAffinity`, `volumeMode`; PVC `dataSource(Ref)`, `volumeMode`, limits;
//!   StorageClass `parameters`, `mountOptions`, `allowedTopologies`;
//! - HPA metrics other than `Resource` cpu/memory are rejected (kubesim cannot
//!   simulate them); scaling-rule `tolerance`;
//! - ConfigMap `binaryData`, `immutable`; Namespace `spec.finalizers`; Node
//!   `providerID`, `podCIDRs` beyond the first, `nodeInfo`, `daemonEndpoints`; Event
//!   `series`, `related`, `action`, `reportingComponent`, `eventTime`.
//!
//! IPv6 addresses are rejected (kubesim simulates IPv4 only), as are CronJob time zones
//! other than UTC.

mod core_kinds;
mod cron;
mod decode;
mod details;
mod field;
mod meta;
mod pod;
mod storage;
mod workloads;

use std::fmt;
use std::path::Path;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::autoscaling::v2 as autoscaling;
use k8s_openapi::api::batch::v1 as batch;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::api::storage::v1 as storage_api;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::model::{Kind, Object};
use field::{FieldError, FieldResult};

/// A manifest that could not be loaded: where, which object, which field, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    /// The file (or the label given to [`load_str`]).
    pub file: String,
    /// 0-based index of the YAML document in the file.
    pub document: usize,
    /// The object's `kind`, when the document has one.
    pub kind: Option<String>,
    /// The object's `metadata.name`, when the document has one.
    pub name: Option<String>,
    /// JSON field path (`spec.template.spec.containers[0].image`; items of a `kind:
    /// List` start with `items[i].`); empty when the error concerns the whole document.
    pub field: String,
    /// Why, worded as the API server words it (`Required value`, `Invalid value: …`).
    pub reason: String,
}

impl ManifestError {
    /// An error about document `document` of `file`, with no kind or name.
    pub fn new(
        file: impl Into<String>,
        document: usize,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ManifestError {
            file: file.into(),
            document,
            kind: None,
            name: None,
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error, naming the object's kind and name.
    pub fn with_object(mut self, kind: Option<String>, name: Option<String>) -> Self {
        self.kind = kind;
        self.name = name;
        self
    }
}

impl fmt::Display for ManifestError {
    /// `{file}: document {n} ({Kind} {name}): {field}: {reason}`, leaving out the parts
    /// that are absent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}", self.file, self.document)?;
        match (&self.kind, &self.name) {
            (Some(k), Some(n)) => write!(f, " ({k} {n})")?,
            (Some(x), None) | (None, Some(x)) => write!(f, " ({x})")?,
            (None, None) => {}
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for ManifestError {}

/// Loads every object of a YAML text (one or more `---`-separated documents). `file`
/// names the text in errors. All or nothing: any error in any document is returned and
/// no object is.
pub fn load_str(text: &str, file: &str) -> Result<Vec<Object>, ManifestError> {
    let mut out = Vec::new();
    for (document, parsed) in decode::yaml_documents(text) {
        let value = parsed.map_err(|reason| ManifestError::new(file, document, "", reason))?;
        if value.is_null() {
            continue;
        }
        out.extend(load_value(&value, file, document)?);
    }
    Ok(out)
}

/// Loads the objects of one document already parsed to JSON (an object, or a `kind:
/// List` of them); `file` and `document` name it in errors.
pub fn load_value(
    value: &Value,
    file: &str,
    document: usize,
) -> Result<Vec<Object>, ManifestError> {
    let err = |e: FieldError, v: &Value| {
        let (kind, name) = identity(v);
        ManifestError::new(file, document, e.field, e.reason).with_object(kind, name)
    };
    let Some(map) = value.as_object() else {
        return Err(ManifestError::new(
            file,
            document,
            "",
            format!(
                "a manifest document must be a mapping with apiVersion and kind, found {}",
                json_type(value)
            ),
        ));
    };
    if map.get("kind").and_then(Value::as_str) != Some("List") {
        return convert(value)
            .map(|o| vec![applied(o, value)])
            .map_err(|e| err(e, value));
    }
    // kind: List (v1): apiVersion, kind, metadata, items.
    let list_err = |e: FieldError| {
        ManifestError::new(file, document, e.field, e.reason).with_object(Some("List".into()), None)
    };
    check_api_version(value, "v1", "List").map_err(list_err)?;
    let unknown: Vec<&String> = map
        .iter()
        .filter(|(k, v)| {
            !v.is_null() && !["apiVersion", "kind", "metadata", "items"].contains(&k.as_str())
        })
        .map(|(k, _)| k)
        .collect();
    if let Some(first) = unknown.first() {
        let all: Vec<String> = unknown
            .iter()
            .map(|k| format!("unknown field {k:?}"))
            .collect();
        return Err(list_err(FieldError::new(first.as_str(), all.join(", "))));
    }
    let items = match map.get("items") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(list_err(FieldError::new(
                "items",
                format!("invalid type: {}, expected a sequence", json_type(other)),
            )))
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("items[{i}]");
        let result = if item.get("kind").and_then(Value::as_str) == Some("List") {
            Err(FieldError::new(
                "kind",
                "a List may not contain another List",
            ))
        } else if !item.is_object() {
            Err(FieldError::new(
                "",
                format!("a List item must be a mapping, found {}", json_type(item)),
            ))
        } else {
            convert(item).map(|o| applied(o, item))
        };
        out.push(result.map_err(|e| err(e.under(&prefix), item))?);
    }
    Ok(out)
}

/// `obj` with the [`LAST_APPLIED_ANNOTATION`](crate::apply::LAST_APPLIED_ANNOTATION)
/// `kubectl apply` gives it: the JSON of its manifest document `doc`. A document that
/// already carries one (the rendering of a live object) keeps it, so that loading a
/// rendering gives the object back; [`crate::cluster::Cluster::apply`] replaces an
/// annotation that does not describe its object.
fn applied(mut obj: Object, doc: &Value) -> Object {
    if obj
        .meta()
        .annotations
        .contains_key(crate::apply::LAST_APPLIED_ANNOTATION)
    {
        return obj;
    }
    let text = crate::apply::last_applied_configuration(doc);
    let meta = obj.meta_mut();
    meta.annotations = meta
        .annotations
        .with(crate::apply::LAST_APPLIED_ANNOTATION, &text);
    obj
}

/// Decodes one object document (not a `kind: List`) with the loader's decoding,
/// defaulting and validation, without recording a last-applied configuration: the
/// document [`crate::apply::three_way_merge`] produced, whose annotations already hold
/// the new one.
///
/// # Errors
///
/// The first error, with its field path (the file label and document index are
/// `file` and 0).
pub fn decode_document(value: &Value, file: &str) -> Result<Object, ManifestError> {
    convert(value).map_err(|e| {
        let (kind, name) = identity(value);
        ManifestError::new(file, 0, e.field, e.reason).with_object(kind, name)
    })
}

/// Loads every object of a YAML file.
pub fn load_file(path: &Path) -> Result<Vec<Object>, ManifestError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ManifestError::new(&file, 0, "", format!("cannot read the file: {e}")))?;
    load_str(&text, &file)
}

/// Loads a file, or every `*.yaml`/`*.yml` file of a folder (not its subfolders), in
/// name order. All or nothing across the files.
pub fn load_path(path: &Path) -> Result<Vec<Object>, ManifestError> {
    if !path.is_dir() {
        return load_file(path);
    }
    let read_err = |e: std::io::Error| {
        ManifestError::new(
            path.display().to_string(),
            0,
            "",
            format!("cannot read the folder: {e}"),
        )
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(read_err)? {
        let p = entry.map_err(read_err)?.path();
        let is_yaml = p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml");
        if is_yaml && p.is_file() {
            files.push(p);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    let mut out = Vec::new();
    for f in files {
        out.extend(load_file(&f)?);
    }
    Ok(out)
}

/// (kind, metadata.name) of a document, for error messages.
fn identity(v: &Value) -> (Option<String>, Option<String>) {
    let kind = v.get("kind").and_then(Value::as_str).map(str::to_string);
    let name = v
        .get("metadata")
        .and_then(|m| m.get("name").or_else(|| m.get("generateName")))
        .and_then(Value::as_str)
        .map(str::to_string);
    (kind, name)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

fn check_api_version(v: &Value, want: &str, kind: &str) -> FieldResult<()> {
    match v.get("apiVersion") {
        None | Some(Value::Null) => Err(FieldError::required("apiVersion", "apiVersion not set")),
        Some(Value::String(s)) if s.is_empty() => {
            Err(FieldError::required("apiVersion", "apiVersion not set"))
        }
        Some(Value::String(s)) if s == want => Ok(()),
        Some(Value::String(s)) => Err(FieldError::invalid(
            "apiVersion",
            field::quote(s),
            &format!(
                "no matches for kind {kind:?} in version {s:?} (kubesim serves {kind} at {want})"
            ),
        )),
        Some(other) => Err(FieldError::new(
            "apiVersion",
            format!("invalid type: {}, expected a string", json_type(other)),
        )),
    }
}

/// Decodes with the field's own types and rejects unknown fields.
fn strict<T: DeserializeOwned + Serialize>(v: &Value) -> FieldResult<T> {
    let typed: T = decode::typed(v)?;
    decode::unknown_fields(v, &typed)?;
    Ok(typed)
}

/// One object document → the model.
fn convert(v: &Value) -> FieldResult<Object> {
    let kind_text = match v.get("kind") {
        None | Some(Value::Null) => {
            return Err(FieldError::required("kind", "Object 'Kind' is missing"))
        }
        Some(Value::String(s)) if s.is_empty() => {
            return Err(FieldError::required("kind", "Object 'Kind' is missing"))
        }
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(FieldError::new(
                "kind",
                format!("invalid type: {}, expected a string", json_type(other)),
            ))
        }
    };
    let kind: Kind = kind_text.parse().map_err(|_| {
        let version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        FieldError::invalid(
            "kind",
            field::quote(kind_text),
            &format!(
                "no matches for kind {kind_text:?} in version {version:?} (kubesim serves {} and List)",
                known.join(", ")
            ),
        )
    })?;
    check_api_version(v, kind.api_version(), kind.name())?;
    Ok(match kind {
        Kind::Namespace => core_kinds::namespace(&strict::<core::Namespace>(v)?)?.into(),
        Kind::Node => core_kinds::node(&strict::<core::Node>(v)?)?.into(),
        Kind::Pod => core_kinds::pod(&strict::<core::Pod>(v)?)?.into(),
        Kind::ReplicaSet => workloads::replica_set(&strict::<apps::ReplicaSet>(v)?, v)?.into(),
        Kind::Deployment => workloads::deployment(&strict::<apps::Deployment>(v)?, v)?.into(),
        Kind::DaemonSet => workloads::daemon_set(&strict::<apps::DaemonSet>(v)?, v)?.into(),
        Kind::StatefulSet => workloads::stateful_set(&strict::<apps::StatefulSet>(v)?, v)?.into(),
        Kind::Job => workloads::job(&strict::<batch::Job>(v)?)?.into(),
        Kind::CronJob => workloads::cron_job(&strict::<batch::CronJob>(v)?)?.into(),
        Kind::Service => core_kinds::service(&strict::<core::Service>(v)?)?.into(),
        Kind::Endpoints => core_kinds::endpoints(&strict::<core::Endpoints>(v)?)?.into(),
        Kind::EndpointSlice => {
            core_kinds::endpoint_slice(&strict::<discovery::EndpointSlice>(v)?)?.into()
        }
        Kind::PersistentVolume => storage::pv(&strict::<core::PersistentVolume>(v)?)?.into(),
        Kind::PersistentVolumeClaim => {
            storage::pvc(&strict::<core::PersistentVolumeClaim>(v)?)?.into()
        }
        Kind::StorageClass => {
            storage::storage_class(&strict::<storage_api::StorageClass>(v)?)?.into()
        }
        Kind::HorizontalPodAutoscaler => {
            workloads::hpa(&strict::<autoscaling::HorizontalPodAutoscaler>(v)?)?.into()
        }
        Kind::ConfigMap => core_kinds::config_map(&strict::<core::ConfigMap>(v)?)?.into(),
        Kind::Event => core_kinds::event(&strict::<core::Event>(v)?)?.into(),
    })
}

/// [`load_str`] as `kubectl apply -n <namespace>` reads a file: every namespaced object
/// that does not name a namespace is put in `namespace`; one that names another is an
/// error (kubectl's "the namespace from the provided object … does not match"); the
/// items of a `kind: List` likewise; cluster-scoped objects are left alone.
pub fn load_str_in_namespace(
    text: &str,
    file: &str,
    namespace: &str,
) -> Result<Vec<Object>, ManifestError> {
    fn put(v: &mut Value, namespace: &str) -> Result<(), FieldError> {
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
        if kind == "List" {
            if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
                for (i, item) in items.iter_mut().enumerate() {
                    put(item, namespace).map_err(|e| e.under(&format!("items[{i}]")))?;
                }
            }
            return Ok(());
        }
        let namespaced = kind.parse::<Kind>().map(Kind::namespaced).unwrap_or(true);
        let Some(map) = v.as_object_mut() else {
            return Ok(());
        };
        if !namespaced {
            return Ok(());
        }
        let meta = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        let Some(meta) = meta.as_object_mut() else {
            return Ok(());
        };
        match meta.get("namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns != namespace => Err(FieldError::new(
                "metadata.namespace",
                format!(
                    "the namespace from the provided object {ns:?} does not match the namespace {namespace:?}. You must pass '--namespace={ns}' to perform this operation."
                ),
            )),
            _ => {
                meta.insert("namespace".into(), Value::String(namespace.into()));
                Ok(())
            }
        }
    }
    let mut out = Vec::new();
    for (document, parsed) in decode::yaml_documents(text) {
        let mut value = parsed.map_err(|reason| ManifestError::new(file, document, "", reason))?;
        if value.is_null() {
            continue;
        }
        put(&mut value, namespace).map_err(|e| {
            let (kind, name) = identity(&value);
            ManifestError::new(file, document, e.field, e.reason).with_object(kind, name)
        })?;
        out.extend(load_value(&value, file, document)?);
    }
    Ok(out)
}
