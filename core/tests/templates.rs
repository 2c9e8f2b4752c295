//! Pod templates compare whole: a change to any field a user can set — here a
//! container's `env`, as in the kiamol ch06 listings — is a new template, so the
//! Deployment controller rolls out a new ReplicaSet, and going back brings the old
//! ReplicaSet back (K8S-SEMANTICS.md "Deployment": the new ReplicaSet is the one whose
//! template equals the Deployment's ignoring `pod-template-hash`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kubesim_core::cluster::{Cluster, ClusterConfig, NodeSpecs};
use kubesim_core::controllers::deployment::{
    compute_hash, equal_ignore_hash, ANNOTATION_REVISION, LABEL_POD_TEMPLATE_HASH,
};
use kubesim_core::manifest;
use kubesim_core::model::{
    ContainerDetails, EnvValue, EnvVar, Kind, Object, PodSpec, PodTemplateSpec, ReplicaSet,
};
use kubesim_core::selector::LabelSelector;
use kubesim_core::store::Store;
use serde_json::{json, Value};

const NS: &str = "default";

fn load(name: &str) -> Vec<Object> {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/scenarios/manifests")
        .join(name);
    manifest::load_path(&path).expect("manifest loads")
}

fn template(name: &str) -> PodTemplateSpec {
    load(name)[0]
        .as_deployment()
        .expect("a Deployment")
        .spec
        .template
        .clone()
}

/// The ReplicaSets of `app=pi-web`, oldest first.
fn replica_sets(store: &Store) -> Vec<ReplicaSet> {
    let sel = LabelSelector::parse("app=pi-web").unwrap();
    let mut v: Vec<ReplicaSet> = store
        .list(Kind::ReplicaSet, Some(NS), Some(&sel), None)
        .unwrap()
        .iter()
        .map(|o| o.as_replica_set().unwrap().clone())
        .collect();
    v.sort_by_key(|r| (r.meta.creation_timestamp, r.meta.name.clone()));
    v
}

/// Rendered active pods of `app=pi-web`.
fn pods(store: &Store) -> Vec<Value> {
    let sel = LabelSelector::parse("app=pi-web").unwrap();
    store
        .list(Kind::Pod, Some(NS), Some(&sel), None)
        .unwrap()
        .iter()
        .filter(|o| o.as_pod().unwrap().is_active())
        .map(|o| o.to_json())
        .collect()
}

fn complete(store: &Store, replicas: i32) -> bool {
    let Ok(o) = store.get(Kind::Deployment, NS, "pi-web") else {
        return false;
    };
    let d = o.as_deployment().unwrap();
    let st = &d.status;
    st.observed_generation == d.meta.generation
        && st.updated_replicas == replicas
        && st.available_replicas == replicas
        && st.replicas == replicas
        && pods(store).len() == replicas as usize
}

fn revision(rs: &ReplicaSet) -> String {
    rs.meta
        .annotations
        .get(ANNOTATION_REVISION)
        .map(|s| s.to_string())
        .unwrap_or_default()
}

#[test]
fn templates_differing_only_in_env_differ_in_equality_and_hash() {
    let a = template("pi-web-replicas-3.yaml");
    let b = template("pi-web-logging-level.yaml");
    assert_eq!(a.meta, b.meta);
    assert_eq!(a.spec.containers, b.spec.containers);
    assert_ne!(a, b);
    assert!(!equal_ignore_hash(&a, &b));
    assert_ne!(compute_hash(&a, None), compute_hash(&b, None));
    // Hashes are stable: the same template loaded twice hashes alike.
    assert_eq!(
        compute_hash(&b, None),
        compute_hash(&template("pi-web-logging-level.yaml"), None)
    );

    // Built by hand: only an env value differs.
    let with_env = |value: &str| {
        let mut spec: PodSpec = (*a.spec).clone();
        spec.set_container_details(vec![ContainerDetails {
            env: vec![EnvVar {
                name: "LEVEL".into(),
                value: EnvValue::Value(value.into()),
            }],
            ..ContainerDetails::default()
        }]);
        PodTemplateSpec {
            meta: a.meta.clone(),
            spec: Arc::new(spec),
        }
    };
    let (x, y) = (with_env("Debug"), with_env("Info"));
    assert!(!equal_ignore_hash(&x, &y));
    assert_ne!(compute_hash(&x, None), compute_hash(&y, None));
    assert!(equal_ignore_hash(&x, &with_env("Debug")));
    // Empty details are the normal form of no details: equal to the plain template.
    let mut spec: PodSpec = (*a.spec).clone();
    spec.set_container_details(vec![ContainerDetails::default()]);
    assert!(spec.container_details.is_empty());
    assert_eq!(spec, *a.spec);
}

#[test]
fn an_env_change_rolls_out_a_new_replica_set_and_going_back_reuses_the_old_one() {
    let mut c = Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(2),
        ..ClusterConfig::default()
    })
    .unwrap();
    c.apply(load("pi-web-replicas-3.yaml")).unwrap();
    c.run_until(|s| complete(s, 3), Duration::from_secs(120))
        .expect("pi-web available");
    let first = replica_sets(c.store());
    assert_eq!(first.len(), 1);
    let old_hash = first[0].meta.labels.get(LABEL_POD_TEMPLATE_HASH).cloned();

    // Only the container's env changes: upstream starts a rollout.
    c.apply(load("pi-web-logging-level.yaml")).unwrap();
    c.run_until(
        |s| complete(s, 3) && replica_sets(s).len() == 2,
        Duration::from_secs(300),
    )
    .expect("the rollout completes");
    let rss = replica_sets(c.store());
    assert_eq!(rss.len(), 2, "a second ReplicaSet");
    let (old, new) = (&rss[0], &rss[1]);
    assert_eq!(
        old.meta.labels.get(LABEL_POD_TEMPLATE_HASH).cloned(),
        old_hash
    );
    assert_ne!(
        new.meta.labels.get(LABEL_POD_TEMPLATE_HASH),
        old.meta.labels.get(LABEL_POD_TEMPLATE_HASH)
    );
    assert_eq!(old.spec.replicas, 0, "the old ReplicaSet is scaled down");
    assert_eq!(new.spec.replicas, 3);
    assert_eq!(revision(new), "2");
    let env = json!([{"name": "Logging__LogLevel__Default", "value": "Debug"}]);
    for p in pods(c.store()) {
        assert_eq!(p["spec"]["containers"][0]["env"], env, "{p}");
        assert_eq!(
            p["metadata"]["labels"][LABEL_POD_TEMPLATE_HASH],
            json!(new
                .meta
                .labels
                .get(LABEL_POD_TEMPLATE_HASH)
                .unwrap()
                .as_str())
        );
    }
    // The new ReplicaSet renders the env too (its template, as the API shows it).
    let rs_json = Object::from(new.clone()).to_json();
    assert_eq!(
        rs_json["spec"]["template"]["spec"]["containers"][0]["env"],
        env
    );

    // Back to the earlier template: the first ReplicaSet returns as revision 3.
    c.apply(load("pi-web-replicas-3.yaml")).unwrap();
    c.run_until(
        |s| complete(s, 3) && replica_sets(s).iter().any(|r| revision(r) == "3"),
        Duration::from_secs(300),
    )
    .expect("the rollback completes");
    let rss = replica_sets(c.store());
    assert_eq!(rss.len(), 2, "no third ReplicaSet");
    assert_eq!(rss[0].meta.uid, old.meta.uid);
    assert_eq!(rss[0].spec.replicas, 3);
    assert_eq!(revision(&rss[0]), "3");
    assert_eq!(rss[1].spec.replicas, 0);
    for p in pods(c.store()) {
        assert_eq!(p["spec"]["containers"][0].get("env"), None, "{p}");
    }
}
