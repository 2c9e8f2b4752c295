//! Mutating admission at create ([`kubesim_core::admission`]): DefaultTolerationSeconds
//! and DefaultStorageClass, through the store, a cluster's apply and its controllers;
//! the node lifecycle controller evicts on the pod's own (admitted) tolerations.

use std::sync::Arc;
use std::time::Duration;

use kubesim_core::admission::{
    with_default_tolerations, Admission, AdmissionConfig, TAINT_NOT_READY, TAINT_UNREACHABLE,
};
use kubesim_core::cluster::{ApplyAction, Cluster, ClusterConfig, NodeSpecs};
use kubesim_core::intern::intern;
use kubesim_core::manifest;
use kubesim_core::model::{
    Kind, Object, Pod, TaintEffect, Toleration, TolerationOperator, ANNOTATION_DEFAULT_CLASS,
};
use kubesim_core::store::{Store, StoreConfig};

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  \
                   - name: c\n    image: nginx:1.25\n";

fn load(yaml: &str) -> Object {
    manifest::load_str(yaml, "test.yaml").unwrap().remove(0)
}

fn pod_of(o: &Object) -> &Pod {
    o.as_pod().unwrap()
}

fn tol(key: Option<&str>, effect: Option<TaintEffect>, secs: Option<i64>) -> Toleration {
    Toleration {
        key: key.map(intern),
        operator: TolerationOperator::Exists,
        value: None,
        effect,
        toleration_seconds: secs,
    }
}

fn with_tolerations(tolerations: Vec<Toleration>, name: &str) -> Object {
    let mut o = load(POD);
    if let Some(p) = o.as_pod_mut() {
        p.meta.name = intern(name);
        let mut spec = (*p.spec).clone();
        spec.tolerations = tolerations;
        p.spec = Arc::new(spec);
    }
    o
}

#[test]
fn pods_get_the_two_default_tolerations_at_create() {
    let store = Store::new();
    let p = store.create(load(POD)).unwrap();
    let t = &pod_of(&p).spec.tolerations;
    assert_eq!(
        *t,
        vec![
            tol(
                Some(TAINT_NOT_READY),
                Some(TaintEffect::NoExecute),
                Some(300)
            ),
            tol(
                Some(TAINT_UNREACHABLE),
                Some(TaintEffect::NoExecute),
                Some(300)
            ),
        ]
    );
    // Rendered as the API shows them.
    let j = p.to_json();
    assert_eq!(
        j["spec"]["tolerations"][1]["key"],
        "node.kubernetes.io/unreachable"
    );
    assert_eq!(j["spec"]["tolerations"][1]["tolerationSeconds"], 300);
    assert_eq!(j["spec"]["tolerations"][0]["operator"], "Exists");
}

#[test]
fn only_missing_defaults_are_added() {
    let store = Store::new();
    // Tolerates unreachable (forever): only not-ready is added, after its own.
    let own = tol(Some(TAINT_UNREACHABLE), Some(TaintEffect::NoExecute), None);
    let p = store
        .create(with_tolerations(vec![own.clone()], "a"))
        .unwrap();
    assert_eq!(
        pod_of(&p).spec.tolerations,
        vec![
            own,
            tol(
                Some(TAINT_NOT_READY),
                Some(TaintEffect::NoExecute),
                Some(300)
            ),
        ]
    );
    // A NoSchedule toleration does not count.
    let ns = tol(Some(TAINT_UNREACHABLE), Some(TaintEffect::NoSchedule), None);
    let p = store.create(with_tolerations(vec![ns], "b")).unwrap();
    assert_eq!(pod_of(&p).spec.tolerations.len(), 3);
    // A wildcard (no key, no effect) tolerates both: the spec is left as given.
    let given = with_tolerations(vec![tol(None, None, None)], "c");
    let spec = Arc::clone(&pod_of(&given).spec);
    let p = store.create(given).unwrap();
    assert!(Arc::ptr_eq(&pod_of(&p).spec, &spec), "untouched");
    // Updates are not admitted.
    let mut bare = (*pod_of(&p)).clone();
    let mut s = (*bare.spec).clone();
    s.tolerations.clear();
    bare.spec = Arc::new(s);
    let u = store.update(Object::from(bare)).unwrap();
    assert!(pod_of(&u).spec.tolerations.is_empty());
}

#[test]
fn pods_of_one_spec_share_one_admitted_spec() {
    let store = Store::new();
    let template = load(POD);
    let a = store.create(template.clone()).unwrap();
    let mut b = template.clone();
    if let Some(p) = b.as_pod_mut() {
        p.meta.name = intern("p2");
    }
    let b = store.create(b).unwrap();
    assert!(Arc::ptr_eq(&pod_of(&a).spec, &pod_of(&b).spec));
    assert!(!Arc::ptr_eq(&pod_of(&a).spec, &pod_of(&template).spec));
}

/// Thousands of templates creating pods interleaved (a cold start of many ReplicaSets)
/// still share one admitted spec per template: no per-pod copy of the spec.
#[test]
fn interleaved_templates_each_share_one_admitted_spec() {
    let store = Store::new();
    let templates: Vec<Object> = (0..2_000)
        .map(|i| with_tolerations(Vec::new(), &format!("t{i}")))
        .collect();
    let mut first: Vec<Option<Arc<kubesim_core::model::PodSpec>>> = vec![None; templates.len()];
    for round in 0..3 {
        for (i, t) in templates.iter().enumerate() {
            let mut o = t.clone();
            if let Some(p) = o.as_pod_mut() {
                p.meta.name = intern(&format!("t{i}-{round}"));
            }
            let created = store.create(o).unwrap();
            let spec = &pod_of(&created).spec;
            match &first[i] {
                None => first[i] = Some(Arc::clone(spec)),
                Some(f) => assert!(Arc::ptr_eq(f, spec), "template {i}, round {round}"),
            }
        }
    }
}

#[test]
fn admission_can_be_configured_or_turned_off() {
    let store = Store::with_config(StoreConfig {
        admission: Admission::new(AdmissionConfig {
            default_toleration_seconds: None,
            default_storage_class: false,
        }),
        ..StoreConfig::default()
    });
    let p = store.create(load(POD)).unwrap();
    assert!(pod_of(&p).spec.tolerations.is_empty());
    let c = Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(1),
        default_toleration_seconds: 42,
        ..ClusterConfig::default()
    })
    .unwrap();
    let p = c.store().create(load(POD)).unwrap();
    assert!(pod_of(&p)
        .spec
        .tolerations
        .iter()
        .all(|t| t.toleration_seconds == Some(42)));
    assert_eq!(
        with_default_tolerations(&[], 42).unwrap(),
        pod_of(&p).spec.tolerations
    );
}

fn cluster(class: Option<&str>) -> Cluster {
    Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(2),
        storage_class: class.map(str::to_string),
        ..ClusterConfig::default()
    })
    .unwrap()
}

#[test]
fn controller_pods_are_admitted_and_daemonset_pods_keep_their_own() {
    let mut c = cluster(None);
    let yaml = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web\nspec:\n  \
                replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    \
                metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      \
                - name: c\n        image: nginx:1.25\n---\napiVersion: apps/v1\nkind: \
                DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels: \
                {app: agent}\n  template:\n    metadata:\n      labels: {app: agent}\n    \
                spec:\n      containers:\n      - name: c\n        image: busybox:1.36\n";
    c.apply(manifest::load_str(yaml, "t.yaml").unwrap())
        .unwrap();
    let pods = c
        .store()
        .list(Kind::Pod, Some("default"), None, None)
        .unwrap();
    assert_eq!(pods.len(), 4);
    for p in &pods {
        let pod = pod_of(p);
        let t = &pod.spec.tolerations;
        let unreachable: Vec<&Toleration> = t
            .iter()
            .filter(|t| t.key.as_deref() == Some(TAINT_UNREACHABLE))
            .collect();
        assert_eq!(unreachable.len(), 1, "{}: {t:?}", p.name());
        if p.name().starts_with("agent-") {
            // The DaemonSet controller's: tolerated forever.
            assert_eq!(unreachable[0].toleration_seconds, None);
        } else {
            assert_eq!(unreachable[0].toleration_seconds, Some(300));
        }
    }
}

#[test]
fn reapplying_a_pod_or_claim_is_unchanged() {
    let mut c = cluster(Some("standard"));
    let claim = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n  \
                 accessModes: [ReadWriteOnce]\n  resources:\n    requests: {storage: 1Gi}\n";
    for _ in 0..2 {
        c.apply(manifest::load_str(POD, "p.yaml").unwrap()).unwrap();
        c.apply(manifest::load_str(claim, "c.yaml").unwrap())
            .unwrap();
    }
    let again = c
        .apply(
            [POD, claim]
                .iter()
                .flat_map(|y| manifest::load_str(y, "x.yaml").unwrap())
                .collect(),
        )
        .unwrap();
    assert!(again.iter().all(|a| a.action == ApplyAction::Unchanged));
    let p = c.store().get(Kind::Pod, "default", "p").unwrap();
    assert_eq!(pod_of(&p).spec.tolerations.len(), 2);
}

fn claim_class(c: &Cluster, name: &str) -> Option<String> {
    c.store()
        .get(Kind::PersistentVolumeClaim, "default", name)
        .unwrap()
        .as_pvc()
        .unwrap()
        .spec
        .storage_class_name
        .as_ref()
        .map(|s| s.to_string())
}

fn claim(name: &str, class: Option<&str>) -> Vec<Object> {
    let class = class.map_or(String::new(), |c| format!("  storageClassName: \"{c}\"\n"));
    let yaml = format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\nspec:\n{class}  \
         accessModes: [ReadWriteOnce]\n  resources:\n    requests: {{storage: 1Gi}}\n"
    );
    manifest::load_str(&yaml, "c.yaml").unwrap()
}

#[test]
fn claims_without_a_class_get_the_default_class() {
    let mut c = cluster(Some("standard"));
    c.apply(claim("a", None)).unwrap();
    c.apply(claim("b", Some(""))).unwrap();
    c.apply(claim("e", Some("fast"))).unwrap();
    assert_eq!(claim_class(&c, "a").as_deref(), Some("standard"));
    assert_eq!(
        claim_class(&c, "b").as_deref(),
        Some(""),
        "explicit \"\" kept"
    );
    assert_eq!(claim_class(&c, "e").as_deref(), Some("fast"));
    // The newest default class wins.
    let sc = "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: newer\n  \
              annotations: {storageclass.kubernetes.io/is-default-class: \"true\"}\n\
              provisioner: kubesim.io/hostpath\n";
    c.advance(Duration::from_secs(1));
    c.apply(manifest::load_str(sc, "sc.yaml").unwrap()).unwrap();
    c.apply(claim("n", None)).unwrap();
    assert_eq!(claim_class(&c, "n").as_deref(), Some("newer"));
    assert_eq!(
        claim_class(&c, "a").as_deref(),
        Some("standard"),
        "not retroactive"
    );
    // No default class: the field stays unset.
    let mut c = cluster(None);
    c.apply(claim("a", None)).unwrap();
    assert_eq!(claim_class(&c, "a"), None);
    assert!(c
        .store()
        .list(Kind::StorageClass, None, None, None)
        .unwrap()
        .iter()
        .all(|o| !o.meta().annotations.contains_key(ANNOTATION_DEFAULT_CLASS)));
}

#[test]
fn eviction_follows_the_admitted_toleration_seconds() {
    // default-toleration-seconds 120: pods are admitted with 120 s and evicted 120 s
    // after the unreachable taint; a pod with its own 10 s toleration goes first; a pod
    // whose tolerations were removed after creation (updates are not admitted) goes at
    // once: eviction reads the pod's own tolerations only.
    let mut c = Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(1),
        default_toleration_seconds: 120,
        ..ClusterConfig::default()
    })
    .unwrap();
    let short = format!(
        "{}  tolerations:\n  - {{key: {TAINT_UNREACHABLE}, operator: Exists, effect: NoExecute, \
         tolerationSeconds: 10}}\n",
        POD.replace("name: p\n", "name: short\n")
    );
    c.apply(manifest::load_str(POD, "p.yaml").unwrap()).unwrap();
    c.apply(manifest::load_str(&short, "s.yaml").unwrap())
        .unwrap();
    c.apply(manifest::load_str(&POD.replace("name: p\n", "name: bare\n"), "b.yaml").unwrap())
        .unwrap();
    let mut bare = pod_of(&c.store().get(Kind::Pod, "default", "bare").unwrap()).clone();
    let mut spec = (*bare.spec).clone();
    spec.tolerations.clear();
    bare.spec = Arc::new(spec);
    c.store().update(Object::from(bare)).unwrap();
    c.advance(Duration::from_secs(10));
    let node = c.store().list(Kind::Node, None, None, None).unwrap()[0]
        .name()
        .to_string();
    c.fail_node(&node).unwrap();
    let mut taint_at = None;
    let mut evicted = std::collections::BTreeMap::new();
    for _ in 0..400 {
        c.advance(Duration::from_secs(1));
        let n = c.store().get(Kind::Node, "", &node).unwrap();
        if taint_at.is_none() {
            taint_at = n
                .as_node()
                .unwrap()
                .spec
                .taints
                .iter()
                .find(|t| *t.key == *TAINT_UNREACHABLE && t.effect == TaintEffect::NoExecute)
                .and_then(|t| t.time_added);
        }
        for name in ["p", "short", "bare"] {
            let p = c.store().get(Kind::Pod, "default", name).unwrap();
            if p.meta().is_being_deleted() && !evicted.contains_key(name) {
                evicted.insert(name, c.now());
            }
        }
        if evicted.len() == 3 {
            break;
        }
    }
    let t = taint_at.expect("tainted");
    assert_eq!(evicted["bare"].0 - t.0, 0);
    assert_eq!(evicted["short"].0 - t.0, 10_000);
    assert_eq!(evicted["p"].0 - t.0, 120_000);
}
