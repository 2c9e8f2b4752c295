//! `kubectl apply` semantics of [`Cluster::apply`]: the last-applied configuration and
//! the three-way strategic merge (kubesim_core::apply), in virtual time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kubesim_core::apply::LAST_APPLIED_ANNOTATION;
use kubesim_core::cluster::{ApplyAction, Cluster, ClusterConfig, NodeSpecs};
use kubesim_core::manifest;
use kubesim_core::model::{DeploymentStrategy, Kind, Object};
use serde_json::{json, Value};

const NS: &str = "default";

fn cluster() -> Cluster {
    Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(3),
        ..ClusterConfig::default()
    })
    .unwrap()
}

fn load(yaml: &str) -> Vec<Object> {
    manifest::load_str(yaml, "inline.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn apply(c: &mut Cluster, yaml: &str) -> Vec<ApplyAction> {
    c.apply(load(yaml))
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|a| a.action)
        .collect()
}

fn get(c: &Cluster, kind: Kind, name: &str) -> Arc<Object> {
    c.store().get(kind, NS, name).unwrap()
}

/// The object's JSON form at `pointer` (`/spec/replicas`).
fn field(c: &Cluster, kind: Kind, name: &str, pointer: &str) -> Value {
    get(c, kind, name)
        .to_json()
        .pointer(pointer)
        .cloned()
        .unwrap_or(Value::Null)
}

/// A write by someone other than `kubectl apply` (`kubectl scale`, `label`, `edit`).
fn edit(c: &mut Cluster, kind: Kind, name: &str, f: impl FnOnce(&mut Object)) {
    let mut o = (*get(c, kind, name)).clone();
    f(&mut o);
    c.store().update(o).unwrap();
    c.run_until_idle();
}

fn deployment(spec_extra: &str, container_extra: &str, labels: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {labels}\n\
         spec:\n{spec_extra}  selector: {{matchLabels: {{app: web}}}}\n  template:\n    \
         metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      \
         - name: app\n        image: \"nginx:1.25\"\n{container_extra}"
    )
}

#[test]
fn the_annotation_is_the_manifest_as_sorted_json() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations: {z: \"1\"}\ndata: {b: \"2\", a: \"1\"}\n";
    let mut c = cluster();
    apply(&mut c, yaml);
    let cm = get(&c, Kind::ConfigMap, "c");
    assert_eq!(
        cm.meta()
            .annotations
            .get(LAST_APPLIED_ANNOTATION)
            .unwrap()
            .as_str(),
        "{\"apiVersion\":\"v1\",\"data\":{\"a\":\"1\",\"b\":\"2\"},\"kind\":\"ConfigMap\",\
         \"metadata\":{\"annotations\":{\"z\":\"1\"},\"name\":\"c\"}}\n"
    );
    assert_eq!(cm.meta().annotations.get("z").unwrap().as_str(), "1");
}

#[test]
fn replicas_left_to_scale_survive_a_reapply_and_removed_replicas_go_back_to_default() {
    let mut c = cluster();
    let without = deployment("", "", "{app: web}");
    apply(&mut c, &without);
    edit(&mut c, Kind::Deployment, "web", |o| {
        o.as_deployment_mut().unwrap().spec.replicas = 3
    });
    assert_eq!(apply(&mut c, &without), [ApplyAction::Unchanged]);
    assert_eq!(field(&c, Kind::Deployment, "web", "/spec/replicas"), 3);
    // Set by the manifest, then dropped from it: deleted, so defaulted to 1 again.
    apply(&mut c, &deployment("  replicas: 5\n", "", "{app: web}"));
    assert_eq!(field(&c, Kind::Deployment, "web", "/spec/replicas"), 5);
    assert_eq!(apply(&mut c, &without), [ApplyAction::Configured]);
    assert_eq!(field(&c, Kind::Deployment, "web", "/spec/replicas"), 1);
}

#[test]
fn a_paused_deployment_stays_paused_and_keeps_its_pods() {
    let mut c = cluster();
    apply(&mut c, &deployment("  replicas: 2\n", "", "{app: web}"));
    c.advance(Duration::from_secs(30));
    assert!(c.rollout_pause(NS, "web").unwrap());
    let v2 = deployment("  replicas: 2\n", "", "{app: web}").replace("nginx:1.25", "nginx:1.26");
    assert_eq!(apply(&mut c, &v2), [ApplyAction::Configured]);
    c.advance(Duration::from_secs(60));
    assert_eq!(field(&c, Kind::Deployment, "web", "/spec/paused"), true);
    let pods = c.store().list(Kind::Pod, Some(NS), None, None).unwrap();
    assert_eq!(pods.len(), 2);
    for p in pods.iter() {
        assert_eq!(
            p.to_json()["spec"]["containers"][0]["image"],
            json!("nginx:1.25")
        );
    }
}

#[test]
fn labels_merge_three_ways() {
    let mut c = cluster();
    apply(&mut c, &deployment("", "", "{app: web, tier: front}"));
    edit(&mut c, Kind::Deployment, "web", |o| {
        let m = o.meta_mut();
        m.labels = m.labels.with("owner", "ops");
    });
    apply(&mut c, &deployment("", "", "{app: web, team: a}"));
    let labels = field(&c, Kind::Deployment, "web", "/metadata/labels");
    // tier: removed from the manifest; owner: never in it; team: added.
    assert_eq!(labels, json!({"app": "web", "owner": "ops", "team": "a"}));
}

#[test]
fn containers_and_env_merge_by_name() {
    let mut c = cluster();
    let env = |vars: &str| format!("        env: [{vars}]\n");
    apply(
        &mut c,
        &deployment(
            "",
            &env("{name: A, value: '1'}, {name: B, value: '2'}"),
            "{app: web}",
        ),
    );
    // Someone else adds a variable and a sidecar container.
    edit(&mut c, Kind::Deployment, "web", |o| {
        let mut j = o.to_json();
        let containers = j["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap();
        containers[0]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "C", "value": "3"}));
        containers.push(json!({"name": "sidecar", "image": "envoy:1"}));
        let mut edited = manifest::decode_document(&j, "edit").unwrap();
        *edited.meta_mut() = o.meta().clone();
        edited.set_status_from(o);
        *o = edited;
    });
    apply(
        &mut c,
        &deployment(
            "",
            &env("{name: A, value: '10'}, {name: D, value: '4'}"),
            "{app: web}",
        ),
    );
    let containers = field(
        &c,
        Kind::Deployment,
        "web",
        "/spec/template/spec/containers",
    );
    let names: Vec<&str> = containers
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "sidecar"]);
    assert_eq!(
        containers[0]["env"],
        json!([
            {"name": "A", "value": "10"},
            {"name": "D", "value": "4"},
            {"name": "C", "value": "3"}
        ])
    );
}

#[test]
fn switching_to_recreate_drops_the_live_rolling_update() {
    let mut c = cluster();
    apply(
        &mut c,
        &deployment(
            "  strategy: {rollingUpdate: {maxSurge: 2}}\n",
            "",
            "{app: web}",
        ),
    );
    apply(
        &mut c,
        &deployment("  strategy: {type: Recreate}\n", "", "{app: web}"),
    );
    let d = get(&c, Kind::Deployment, "web");
    assert!(matches!(
        d.as_deployment().unwrap().spec.strategy,
        DeploymentStrategy::Recreate
    ));
}

#[test]
fn without_a_last_applied_configuration_only_the_manifest_fields_change() {
    // As `kubectl create` leaves it: no annotation.
    let mut c = cluster();
    let mut created = load(&deployment(
        "  replicas: 2\n",
        "",
        "{app: web, tier: front}",
    ));
    let m = created[0].meta_mut();
    m.annotations = m.annotations.without(LAST_APPLIED_ANNOTATION);
    c.apply(created).unwrap();
    let d = get(&c, Kind::Deployment, "web");
    assert!(!d.meta().annotations.contains_key(LAST_APPLIED_ANNOTATION));
    // Nothing is deleted: tier and replicas stay although the manifest lacks them.
    apply(&mut c, &deployment("", "", "{app: web}"));
    assert_eq!(field(&c, Kind::Deployment, "web", "/spec/replicas"), 2);
    assert_eq!(
        field(&c, Kind::Deployment, "web", "/metadata/labels"),
        json!({"app": "web", "tier": "front"})
    );
    // The apply recorded its manifest: from now on what it drops is deleted.
    apply(&mut c, &deployment("  replicas: 4\n", "", "{app: web}"));
    apply(&mut c, &deployment("", "", "{app: web}"));
    assert_eq!(field(&c, Kind::Deployment, "web", "/spec/replicas"), 1);
}

#[test]
fn a_service_keeps_its_allocated_addresses_and_merges_ports_by_port() {
    let svc = |ports: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  type: NodePort\n  \
             selector: {{app: web}}\n  ports: [{ports}]\n"
        )
    };
    let mut c = cluster();
    apply(&mut c, &svc("{name: http, port: 80}"));
    let ip = field(&c, Kind::Service, "web", "/spec/clusterIP");
    let node_port = field(&c, Kind::Service, "web", "/spec/ports/0/nodePort");
    assert!(ip.is_string() && node_port.is_number());
    assert_eq!(
        apply(&mut c, &svc("{name: http, port: 80}")),
        [ApplyAction::Unchanged]
    );
    apply(
        &mut c,
        &svc("{name: http, port: 80, targetPort: 8080}, {name: https, port: 443}"),
    );
    assert_eq!(field(&c, Kind::Service, "web", "/spec/clusterIP"), ip);
    assert_eq!(
        field(&c, Kind::Service, "web", "/spec/ports/0/nodePort"),
        node_port
    );
    assert_eq!(
        field(&c, Kind::Service, "web", "/spec/ports/0/targetPort"),
        8080
    );
    assert_eq!(field(&c, Kind::Service, "web", "/spec/ports/1/port"), 443);
}

#[test]
fn a_rejected_merge_writes_nothing_of_the_batch() {
    let mut c = cluster();
    let cm = |v: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{k: {v}}}\n")
    };
    apply(
        &mut c,
        &format!("{}---\n{}", cm("a"), deployment("", "", "{app: web}")),
    );
    let rv = c.store().resource_version();
    // maxSurge and maxUnavailable both 0 once merged (maxUnavailable set live).
    edit(&mut c, Kind::Deployment, "web", |o| {
        if let DeploymentStrategy::RollingUpdate {
            max_unavailable, ..
        } = &mut o.as_deployment_mut().unwrap().spec.strategy
        {
            *max_unavailable = kubesim_core::model::IntOrString::Int(0);
        }
    });
    let rv_edited = c.store().resource_version();
    assert!(rv_edited > rv);
    let bad = format!(
        "{}---\n{}",
        cm("b"),
        deployment(
            "  strategy: {rollingUpdate: {maxSurge: 0}}\n",
            "",
            "{app: web}"
        )
    );
    let err = c.apply(load(&bad)).unwrap_err().to_string();
    assert!(err.contains("The Deployment \"web\" is invalid"), "{err}");
    assert_eq!(c.store().resource_version(), rv_edited);
    assert_eq!(field(&c, Kind::ConfigMap, "c", "/data/k"), "a");
}

#[test]
fn an_object_changed_after_loading_is_applied_as_it_is() {
    let mut c = cluster();
    apply(&mut c, &deployment("", "", "{app: web}"));
    let mut changed = load(&deployment("", "", "{app: web}"));
    changed[0].as_deployment_mut().unwrap().spec.replicas = 4;
    c.apply(changed).unwrap();
    assert_eq!(field(&c, Kind::Deployment, "web", "/spec/replicas"), 4);
    // Its annotation now describes it (replicas included), so the plain manifest
    // deletes replicas again.
    let text = field(
        &c,
        Kind::Deployment,
        "web",
        "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
    );
    let recorded: Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
    assert_eq!(recorded["spec"]["replicas"], 4);
    apply(&mut c, &deployment("", "", "{app: web}"));
    assert_eq!(field(&c, Kind::Deployment, "web", "/spec/replicas"), 1);
}

#[test]
fn a_daemon_set_switched_to_on_delete_applies() {
    let ds = |strategy: &str| {
        format!(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: agent}}\nspec:\n{strategy}  \
             selector: {{matchLabels: {{app: agent}}}}\n  template:\n    metadata: {{labels: {{app: agent}}}}\n    \
             spec: {{containers: [{{name: a, image: busybox}}]}}\n"
        )
    };
    let mut c = cluster();
    apply(&mut c, &ds(""));
    apply(&mut c, &ds("  updateStrategy: {type: OnDelete}\n"));
    assert_eq!(
        field(&c, Kind::DaemonSet, "agent", "/spec/updateStrategy"),
        json!({"type": "OnDelete"})
    );
}

fn manifest_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        root.join("../scenarios/manifests"),
        root.join("../../shared/scenarios/manifests"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Re-applying an unchanged manifest after the controllers have run changes nothing
/// (every field round-trips through the live document of the merge).
#[test]
fn reapplying_every_scenario_manifest_is_unchanged() {
    let mut checked = 0;
    for path in manifest_files() {
        let Ok(objects) = manifest::load_file(&path) else {
            continue; // the deliberately broken manifests
        };
        let mut c = cluster();
        if c.apply(objects.clone()).is_err() {
            continue; // needs a namespace or objects from another file
        }
        c.advance(Duration::from_secs(30));
        let again = c
            .apply(objects)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for a in &again {
            assert_eq!(
                a.action,
                ApplyAction::Unchanged,
                "{}: {} changed",
                path.display(),
                a.object.display_key()
            );
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} manifests checked");
}

/// Upstream keeps the live (defaulted) `rollingUpdate` of a StatefulSet switched to
/// OnDelete — `updateStrategy` has no retainKeys — and its validation rejects that.
#[test]
fn a_stateful_set_switched_to_on_delete_is_rejected_as_upstream() {
    let sts = |strategy: &str| {
        format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: db}}\nspec:\n{strategy}  \
             serviceName: db\n  selector: {{matchLabels: {{app: db}}}}\n  template:\n    \
             metadata: {{labels: {{app: db}}}}\n    spec: {{containers: [{{name: a, image: busybox}}]}}\n"
        )
    };
    let mut c = cluster();
    apply(&mut c, &sts(""));
    let err = c
        .apply(load(&sts("  updateStrategy: {type: OnDelete}\n")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("spec.updateStrategy.rollingUpdate"), "{err}");
}

/// The API server drops the allocated node ports of a Service whose type no longer
/// needs them (upstream `dropTypeDependentFields`), so the node ports the merge keeps
/// from the live object do not make the apply invalid.
#[test]
fn a_node_port_service_switched_to_cluster_ip_loses_its_node_ports() {
    let svc = |ty: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  type: {ty}\n  \
             selector: {{app: web}}\n  ports: [{{port: 80}}]\n"
        )
    };
    let mut c = cluster();
    apply(&mut c, &svc("NodePort"));
    assert!(field(&c, Kind::Service, "web", "/spec/ports/0/nodePort").is_number());
    apply(&mut c, &svc("ClusterIP"));
    assert_eq!(
        field(&c, Kind::Service, "web", "/spec/ports/0/nodePort"),
        Value::Null
    );
    assert_eq!(field(&c, Kind::Service, "web", "/spec/type"), "ClusterIP");
}

#[test]
fn a_service_switched_to_external_name_loses_its_cluster_ip() {
    let mut c = cluster();
    apply(
        &mut c,
        "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  selector: {app: db}\n  ports: [{port: 5432}]\n",
    );
    assert!(field(&c, Kind::Service, "db", "/spec/clusterIP").is_string());
    apply(
        &mut c,
        "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  type: ExternalName\n  externalName: db.example.com\n",
    );
    assert_eq!(
        field(&c, Kind::Service, "db", "/spec/clusterIP"),
        Value::Null
    );
    assert_eq!(
        field(&c, Kind::Service, "db", "/spec/externalName"),
        "db.example.com"
    );
}
