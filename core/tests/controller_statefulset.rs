//! The StatefulSet controller in a simulated cluster, in virtual time: one test per
//! rule of K8S-SEMANTICS.md "StatefulSet".

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kubesim_core::cluster::{Cluster, ClusterConfig, NodeSpecs};
use kubesim_core::controllers::statefulset::{
    LABEL_POD_INDEX, LABEL_POD_NAME, LABEL_REVISION_HASH,
};
use kubesim_core::dns::{DnsView, Record, RecordType};
use kubesim_core::manifest;
use kubesim_core::model::{Kind, Object, PodPhase, PvcPhase, StatefulSetStatus, VolumeSource};
use kubesim_core::store::{DeleteOptions, Store, WatchEventType};

fn cluster(nodes: usize) -> Cluster {
    Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(nodes),
        storage_class: Some("standard".into()),
        record_history: true,
        ..ClusterConfig::default()
    })
    .unwrap()
}

/// A headless Service `web` and a StatefulSet `web` (`app=web`, image `image`, claim
/// template `data`, Pod ready 10 s after Running); `extra` is appended to the
/// StatefulSet spec (indented 2).
fn sts_yaml(replicas: i32, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  clusterIP: None\n  \
         selector: {{app: web}}\n  ports: [{{name: http, port: 80}}]\n---\n\
         apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: web}}\nspec:\n  \
         serviceName: web\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n{extra}  \
         template:\n    metadata:\n      labels: {{app: web}}\n      \
         annotations: {{kubesim.io/ready-after: 10s}}\n    spec:\n      \
         containers: [{{name: web, image: {image}, ports: [{{name: http, containerPort: 8080}}]}}]\n  \
         volumeClaimTemplates:\n  - metadata: {{name: data}}\n    spec:\n      \
         accessModes: [ReadWriteOnce]\n      resources: {{requests: {{storage: 1Mi}}}}\n"
    )
}

fn apply(c: &mut Cluster, yaml: &str) {
    c.apply(manifest::load_str(yaml, "inline.yaml").unwrap())
        .unwrap();
}

fn status(store: &Store) -> StatefulSetStatus {
    status_of(store, "web")
}

/// The status of StatefulSet `name`.
fn status_of(store: &Store, name: &str) -> StatefulSetStatus {
    store
        .get(Kind::StatefulSet, "default", name)
        .unwrap()
        .as_stateful_set()
        .unwrap()
        .status
        .clone()
}

/// Every `web-<n>` pod by ordinal.
fn pods(store: &Store) -> BTreeMap<i32, Arc<Object>> {
    store
        .list(Kind::Pod, Some("default"), None, None)
        .unwrap()
        .into_iter()
        .filter_map(|p| {
            let ord = p.name().strip_prefix("web-")?.parse().ok()?;
            Some((ord, p))
        })
        .collect()
}

fn healthy(o: &Object) -> bool {
    let p = o.as_pod().unwrap();
    p.status.phase == PodPhase::Running && p.is_ready() && !p.meta.is_being_deleted()
}

fn deleting(o: &Object) -> bool {
    o.meta().is_being_deleted()
}

fn set_replicas(c: &mut Cluster, n: i32) {
    scale(c, "web", n);
}

/// Sets StatefulSet `name`'s replicas to `n` and runs until idle.
fn scale(c: &mut Cluster, name: &str, n: i32) {
    let mut obj = (*c.store().get(Kind::StatefulSet, "default", name).unwrap()).clone();
    obj.as_stateful_set_mut().unwrap().spec.replicas = n;
    obj.meta_mut().resource_version = 0;
    c.store().update(obj).unwrap();
    c.run_until_idle();
}

fn node_of(store: &Store, pod: &str) -> String {
    store
        .get(Kind::Pod, "default", pod)
        .unwrap()
        .as_pod()
        .unwrap()
        .node_name
        .as_deref()
        .unwrap()
        .to_string()
}

/// A cluster of `nodes` nodes running [`sts_yaml`]`(replicas, image, extra)`, settled.
fn settled(nodes: usize, replicas: i32, image: &str, extra: &str) -> Cluster {
    let mut c = cluster(nodes);
    apply(&mut c, &sts_yaml(replicas, image, extra));
    settle(&mut c, replicas);
    c
}

/// Advances one second at a time, at most `max_secs` times, until `n` `web-*` pods
/// are left.
fn wait_for_pods(c: &mut Cluster, n: usize, max_secs: u32) {
    for _ in 0..max_secs {
        if pods(c.store()).len() == n {
            return;
        }
        c.advance(Duration::from_secs(1));
    }
}

/// Runs until every pod 0..n exists and is healthy (and no other exists).
fn settle(c: &mut Cluster, n: i32) {
    for _ in 0..300 {
        let p = pods(c.store());
        if p.len() == n as usize && p.values().all(|o| healthy(o)) {
            return;
        }
        c.advance(Duration::from_secs(1));
    }
    panic!("not settled at {n}: {:?}", pods(c.store()).keys());
}

#[test]
fn ordered_ready_creates_each_ordinal_after_its_predecessors_are_ready() {
    let mut c = cluster(3);
    apply(&mut c, &sts_yaml(3, "nginx", ""));
    let mut seen = Vec::new();
    for _ in 0..120 {
        let p = pods(c.store());
        for &i in p.keys() {
            for j in 0..i {
                let pred = p.get(&j).expect("a predecessor exists");
                assert!(healthy(pred), "web-{i} exists while web-{j} is not ready");
            }
            if !seen.contains(&i) {
                seen.push(i);
            }
        }
        c.advance(Duration::from_secs(1));
    }
    assert_eq!(seen, [0, 1, 2]);
    let store = c.store();
    let p = pods(store);
    for (i, o) in &p {
        let pod = o.as_pod().unwrap();
        let name = format!("web-{i}");
        assert_eq!(pod.meta.name.as_str(), name);
        assert_eq!(pod.spec.hostname.as_deref(), Some(name.as_str()));
        assert_eq!(pod.spec.subdomain.as_deref(), Some("web"));
        assert_eq!(
            pod.meta.labels.get(LABEL_POD_NAME).map(|s| s.as_str()),
            Some(name.as_str())
        );
        assert_eq!(
            pod.meta.labels.get(LABEL_POD_INDEX).map(|s| s.as_str()),
            Some(i.to_string().as_str())
        );
        let rev = pod.meta.labels.get(LABEL_REVISION_HASH).unwrap();
        assert!(rev.starts_with("web-"));
        assert_eq!(status(store).update_revision.as_ref(), Some(rev));
        let claim = format!("data-web-{i}");
        assert!(pod.spec.volumes.iter().any(|v| v.name.as_str() == "data"
            && v.source == VolumeSource::PersistentVolumeClaim(claim.as_str().into())));
    }
    let s = status(store);
    assert_eq!(
        (
            s.replicas,
            s.ready_replicas,
            s.available_replicas,
            s.current_replicas,
            s.updated_replicas,
            s.observed_generation
        ),
        (3, 3, 3, 3, 3, 1)
    );
    assert_eq!(s.current_revision, s.update_revision);
}

#[test]
fn parallel_creates_every_pod_at_once() {
    let mut c = cluster(3);
    apply(
        &mut c,
        &sts_yaml(3, "nginx", "  podManagementPolicy: Parallel\n"),
    );
    assert_eq!(
        pods(c.store()).keys().copied().collect::<Vec<_>>(),
        [0, 1, 2]
    );
    settle(&mut c, 3);
    // Parallel scale-down: every condemned pod at once.
    set_replicas(&mut c, 1);
    let p = pods(c.store());
    assert!(deleting(&p[&1]) && deleting(&p[&2]));
}

#[test]
fn scale_down_goes_from_the_top_one_at_a_time() {
    let mut c = settled(3, 4, "nginx", "");
    set_replicas(&mut c, 1);
    let mut order = Vec::new();
    for _ in 0..300 {
        let p = pods(c.store());
        let terminating: Vec<i32> = p
            .iter()
            .filter(|(_, o)| deleting(o))
            .map(|(i, _)| *i)
            .collect();
        assert!(
            terminating.len() <= 1,
            "two pods terminating: {terminating:?}"
        );
        if let Some(&t) = terminating.first() {
            // Every higher ordinal is gone already.
            assert!(
                p.keys().all(|&k| k <= t),
                "web-{t} deleted before a higher one"
            );
            if order.last() != Some(&t) {
                order.push(t);
            }
        }
        if p.len() == 1 {
            break;
        }
        c.advance(Duration::from_secs(1));
    }
    assert_eq!(order, [3, 2, 1]);
    assert_eq!(pods(c.store()).keys().copied().collect::<Vec<_>>(), [0]);
    assert_eq!(status(c.store()).replicas, 1);
}

#[test]
fn no_scale_down_while_a_pod_is_unhealthy() {
    let mut c = settled(3, 3, "nginx", "");
    let node0 = node_of(c.store(), "web-0");
    assert_ne!(node0, node_of(c.store(), "web-2"));
    c.fail_node(&node0).unwrap();
    c.advance(Duration::from_secs(70));
    assert!(!healthy(&pods(c.store())[&0]));
    set_replicas(&mut c, 1);
    for _ in 0..100 {
        c.advance(Duration::from_secs(1));
        let p = pods(c.store());
        assert!(
            !deleting(&p[&2]) && !deleting(&p[&1]),
            "scaled down while web-0 is unhealthy"
        );
    }
    // web-0 healthy again: the scale-down proceeds.
    c.recover_node(&node0).unwrap();
    wait_for_pods(&mut c, 1, 300);
    assert_eq!(pods(c.store()).keys().copied().collect::<Vec<_>>(), [0]);
}

#[test]
fn claims_are_created_first_kept_on_scale_down_and_reused() {
    let mut c = cluster(3);
    let mut inv = c.invariant_checker();
    apply(&mut c, &sts_yaml(2, "nginx", ""));
    settle(&mut c, 2);
    common::assert_invariants(&c, &mut inv, true);
    // Each claim was added before its pod.
    let hist = c.sim().history();
    for i in 0..2 {
        let added = |kind: Kind, name: &str| {
            hist.iter()
                .find(|h| {
                    h.kind == kind && h.name.as_str() == name && h.type_ == WatchEventType::Added
                })
                .unwrap()
                .resource_version
        };
        assert!(
            added(Kind::PersistentVolumeClaim, &format!("data-web-{i}"))
                < added(Kind::Pod, &format!("web-{i}"))
        );
    }
    let before = claim(&c, 1);
    let pvc = before.as_pvc().unwrap();
    assert_eq!(pvc.status.phase, PvcPhase::Bound);
    assert_eq!(pvc.meta.labels.get("app").map(|s| s.as_str()), Some("web"));
    let volume = pvc.spec.volume_name.clone().unwrap();

    set_replicas(&mut c, 1);
    common::assert_invariants(&c, &mut inv, true);
    c.advance(Duration::from_secs(60));
    // Scale-down kept the claim: statefulset-pvc-retained holds.
    common::assert_invariants(&c, &mut inv, true);
    assert_eq!(pods(c.store()).len(), 1);
    let kept = claim(&c, 1);
    assert_eq!(
        kept.meta().uid,
        before.meta().uid,
        "claim kept on scale-down"
    );

    set_replicas(&mut c, 3);
    settle(&mut c, 3);
    common::assert_invariants(&c, &mut inv, true);
    let again = claim(&c, 1);
    assert_eq!(
        again.meta().uid,
        before.meta().uid,
        "the same claim re-used"
    );
    assert_eq!(
        again.as_pvc().unwrap().spec.volume_name.as_ref(),
        Some(&volume)
    );
    assert_eq!(
        claim_of(&pods(c.store())[&1]).as_deref(),
        Some("data-web-1")
    );
    assert_eq!(
        c.store().count(Kind::PersistentVolumeClaim),
        3,
        "one new claim, for web-2"
    );

    // Deleting the StatefulSet (Retain) keeps the claims.
    delete_set(&mut c);
    common::assert_invariants(&c, &mut inv, true);
    assert_eq!(c.store().count(Kind::PersistentVolumeClaim), 3);
}

#[test]
fn retention_policy_delete_removes_claims() {
    let policy =
        "  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Delete}\n";
    let mut c = settled(3, 3, "nginx", policy);
    assert_eq!(c.store().count(Kind::PersistentVolumeClaim), 3);
    set_replicas(&mut c, 2);
    c.advance(Duration::from_secs(60));
    assert_eq!(pods(c.store()).len(), 2);
    assert!(!claim_exists(&c, 2));
    // Scale up again: a fresh claim.
    set_replicas(&mut c, 3);
    settle(&mut c, 3);
    assert!(claim_exists(&c, 2));
    delete_set(&mut c);
    assert_eq!(c.store().count(Kind::PersistentVolumeClaim), 0);
}

#[test]
fn no_second_pod_with_one_identity_until_the_old_one_is_gone() {
    let mut c = cluster(3);
    let mut inv = c.invariant_checker();
    apply(&mut c, &sts_yaml(2, "nginx", ""));
    settle(&mut c, 2);
    common::assert_invariants(&c, &mut inv, true);
    let old = pods(c.store())[&0].clone();
    let node = node_of(c.store(), "web-0");
    c.fail_node(&node).unwrap();
    // Past the grace period and the 300 s eviction: web-0 is Terminating for good.
    c.advance(Duration::from_secs(420));
    common::assert_invariants(&c, &mut inv, true);
    let p = pods(c.store());
    assert_eq!(p[&0].meta().uid, old.meta().uid);
    assert!(deleting(&p[&0]));
    // A graceful delete changes nothing: only the kubelet could finish it.
    c.store()
        .delete(Kind::Pod, "default", "web-0", &DeleteOptions::default())
        .unwrap();
    c.advance(Duration::from_secs(120));
    common::assert_invariants(&c, &mut inv, true);
    assert_eq!(pods(c.store())[&0].meta().uid, old.meta().uid);
    // Force delete: the replacement comes, with the same claim, on another node.
    // The user's force delete, declared to the checker (an undeclared one is a
    // statefulset-identity violation: the old pod may still run on its node).
    c.store()
        .delete(Kind::Pod, "default", "web-0", &DeleteOptions::grace(0))
        .unwrap();
    c.run_until_idle();
    let v = c.check_invariants(&mut inv);
    assert_eq!(
        v.iter().map(|v| v.rule).collect::<Vec<_>>(),
        [kubesim_core::invariants::Rule::StatefulSetIdentity],
        "{}",
        common::report(c.store(), &v)
    );
    inv.acknowledge_deletion(&kubesim_core::model::ObjectKey::of(&old));
    let new = pods(c.store())[&0].clone();
    assert_ne!(new.meta().uid, old.meta().uid);
    settle(&mut c, 2);
    common::assert_invariants(&c, &mut inv, true);
    assert_ne!(node_of(c.store(), "web-0"), node);
    assert_eq!(
        claim_of(&pods(c.store())[&0]).as_deref(),
        Some("data-web-0")
    );
}

fn image_of(o: &Object) -> String {
    o.as_pod().unwrap().spec.containers[0].image.to_string()
}

#[test]
fn rolling_update_goes_in_reverse_ordinal_order_down_to_the_partition() {
    let part = |p: i32| {
        format!("  updateStrategy: {{type: RollingUpdate, rollingUpdate: {{partition: {p}}}}}\n")
    };
    let mut c = settled(3, 3, "nginx:1", &part(1));
    let old_rev = status(c.store()).update_revision.unwrap();
    apply(&mut c, &sts_yaml(3, "nginx:2", &part(1)));
    let mut order = Vec::new();
    for _ in 0..300 {
        let p = pods(c.store());
        let unhealthy = p.values().filter(|o| !healthy(o)).count() + (3 - p.len());
        assert!(unhealthy <= 1, "more than one pod down at once");
        for (i, o) in &p {
            if image_of(o) == "nginx:2" && !order.contains(i) {
                order.push(*i);
            }
        }
        if order.len() == 2 && p.len() == 3 && p.values().all(|o| healthy(o)) {
            break;
        }
        c.advance(Duration::from_secs(1));
    }
    assert_eq!(order, [2, 1]);
    c.advance(Duration::from_secs(60));
    let p = pods(c.store());
    assert_eq!(
        image_of(&p[&0]),
        "nginx:1",
        "below the partition: not updated"
    );
    let s = status(c.store());
    assert_eq!((s.updated_replicas, s.current_replicas), (2, 1));
    assert_eq!(s.current_revision.as_ref(), Some(&old_rev));
    assert_ne!(s.update_revision.as_ref(), Some(&old_rev));
    // web-0 deleted by hand below the partition comes back at the current revision.
    c.store()
        .delete(Kind::Pod, "default", "web-0", &DeleteOptions::grace(0))
        .unwrap();
    settle(&mut c, 3);
    assert_eq!(image_of(&pods(c.store())[&0]), "nginx:1");
    // Partition 0: web-0 too; then the update revision becomes current.
    apply(&mut c, &sts_yaml(3, "nginx:2", &part(0)));
    c.advance(Duration::from_secs(120));
    let p = pods(c.store());
    assert!(p.values().all(|o| image_of(o) == "nginx:2"));
    let s = status(c.store());
    assert_eq!((s.updated_replicas, s.current_replicas), (3, 3));
    assert_eq!(s.current_revision, s.update_revision);
}

#[test]
fn on_delete_updates_only_deleted_pods() {
    let strategy = "  updateStrategy: {type: OnDelete}\n";
    let mut c = settled(3, 2, "nginx:1", strategy);
    apply(&mut c, &sts_yaml(2, "nginx:2", strategy));
    c.advance(Duration::from_secs(120));
    let p = pods(c.store());
    assert!(p.values().all(|o| image_of(o) == "nginx:1"));
    c.store()
        .delete(Kind::Pod, "default", "web-1", &DeleteOptions::default())
        .unwrap();
    c.advance(Duration::from_secs(60));
    settle(&mut c, 2);
    let p = pods(c.store());
    assert_eq!(image_of(&p[&1]), "nginx:2");
    assert_eq!(image_of(&p[&0]), "nginx:1");
    assert_eq!(status(c.store()).updated_replicas, 1);
}

#[test]
fn dns_resolves_stateful_pod_records() {
    let c = settled(2, 2, "nginx", "");
    let dns = DnsView::new(c.store());
    for i in 0..2 {
        let pod = pods(c.store())[&i].clone();
        let ip = pod.as_pod().unwrap().status.pod_ip.unwrap();
        let recs = dns
            .resolve(
                &format!("web-{i}.web.default.svc.cluster.local"),
                RecordType::A,
            )
            .unwrap();
        assert_eq!(recs.len(), 1);
        assert!(matches!(&recs[0], Record::A { ip: a, .. } if *a == ip));
    }
    let srv = dns
        .resolve("_http._tcp.web.default.svc.cluster.local", RecordType::Srv)
        .unwrap();
    assert_eq!(srv.len(), 2);
}

#[test]
fn orphans_with_the_identity_are_adopted() {
    let mut c = cluster(2);
    let yaml = sts_yaml(2, "nginx", "");
    apply(&mut c, &yaml);
    settle(&mut c, 2);
    let uids: Vec<_> = pods(c.store()).values().map(|p| p.meta().uid).collect();
    c.store()
        .delete(
            Kind::StatefulSet,
            "default",
            "web",
            &DeleteOptions::propagation(kubesim_core::model::PropagationPolicy::Orphan),
        )
        .unwrap();
    c.advance(Duration::from_secs(5));
    assert!(pods(c.store())
        .values()
        .all(|p| p.meta().owner_references.is_empty()));
    apply(&mut c, &yaml);
    c.advance(Duration::from_secs(5));
    let now: Vec<_> = pods(c.store()).values().map(|p| p.meta().uid).collect();
    assert_eq!(now, uids);
    assert!(pods(c.store()).values().all(|p| p
        .meta()
        .controller_ref()
        .is_some_and(|r| r.kind == Kind::StatefulSet)));
}

fn load(name: &str) -> Vec<Object> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/scenarios/manifests")
        .join(name);
    manifest::load_path(&path).expect("manifest loads")
}

/// Three nodes, seed 2, as the ch09 scenarios have it.
fn kubia_cluster(storage_class: Option<&str>) -> Cluster {
    Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(3),
        seed: 2,
        storage_class: storage_class.map(Into::into),
        ..ClusterConfig::default()
    })
    .unwrap()
}

fn kubia(store: &Store) -> BTreeMap<String, Arc<Object>> {
    let sel = "app=kubia".parse().unwrap();
    store
        .list(Kind::Pod, Some("default"), Some(&sel), None)
        .unwrap()
        .into_iter()
        .map(|p| (p.name().to_string(), p))
        .collect()
}

fn kubia_ready(store: &Store, names: &[&str]) -> bool {
    let p = kubia(store);
    p.len() == names.len() && names.iter().all(|n| p.get(*n).is_some_and(|o| healthy(o)))
}

fn claim_of(o: &Object) -> Option<String> {
    o.as_pod()?
        .spec
        .volumes
        .iter()
        .find_map(|v| match &v.source {
            VolumeSource::PersistentVolumeClaim(c) if v.name.as_str() == "data" => {
                Some(c.to_string())
            }
            _ => None,
        })
}

/// shared/scenarios/ch09-statefulset.yaml, step by step.
#[test]
fn scenario_ch09_statefulset() {
    let mut c = kubia_cluster(None);
    c.apply(load("kubia-pvs.yaml")).unwrap();
    c.apply(load("kubia-sts.yaml")).unwrap();
    c.advance(Duration::from_secs(5));
    assert_eq!(kubia(c.store()).keys().collect::<Vec<_>>(), ["kubia-0"]);
    c.run_until(
        |s| kubia_ready(s, &["kubia-0", "kubia-1"]),
        Duration::from_secs(120),
    )
    .expect("two ready pods");
    for n in ["data-kubia-0", "data-kubia-1"] {
        let pvc = c
            .store()
            .get(Kind::PersistentVolumeClaim, "default", n)
            .unwrap();
        assert_eq!(pvc.as_pvc().unwrap().status.phase, PvcPhase::Bound);
    }
    let k0 = kubia(c.store())["kubia-0"].clone();
    let p0 = k0.as_pod().unwrap();
    assert_eq!(p0.spec.hostname.as_deref(), Some("kubia-0"));
    assert_eq!(p0.spec.subdomain.as_deref(), Some("kubia"));
    assert_eq!(claim_of(&k0).as_deref(), Some("data-kubia-0"));
    let dns = DnsView::new(c.store());
    let q = |n: &str, t| dns.resolve(n, t).map(|r| r.len()).unwrap_or(0);
    assert_eq!(q("kubia.default.svc.cluster.local", RecordType::Srv), 2);
    assert_eq!(
        q("kubia-1.kubia.default.svc.cluster.local", RecordType::A),
        1
    );
    assert_eq!(q("kubia.default.svc.cluster.local", RecordType::A), 2);

    c.store()
        .delete(Kind::Pod, "default", "kubia-0", &DeleteOptions::default())
        .unwrap();
    c.run_until_idle();
    c.run_until(
        |s| kubia_ready(s, &["kubia-0", "kubia-1"]),
        Duration::from_secs(180),
    )
    .expect("kubia-0 back");
    assert_ne!(kubia(c.store())["kubia-0"].meta().uid, k0.meta().uid);
    assert_eq!(
        claim_of(&kubia(c.store())["kubia-0"]).as_deref(),
        Some("data-kubia-0")
    );

    scale(&mut c, "kubia", 1);
    c.run_until(|s| kubia(s).len() == 1, Duration::from_secs(180))
        .expect("scaled down");
    assert!(kubia(c.store()).contains_key("kubia-0"));
    assert_eq!(c.store().count(Kind::PersistentVolumeClaim), 2);
    scale(&mut c, "kubia", 3);
    c.run_until(
        |s| kubia_ready(s, &["kubia-0", "kubia-1", "kubia-2"]),
        Duration::from_secs(180),
    )
    .expect("scaled up");
    let claims = c
        .store()
        .list(Kind::PersistentVolumeClaim, Some("default"), None, None)
        .unwrap();
    assert_eq!(claims.len(), 3);
    assert!(claims
        .iter()
        .all(|p| p.as_pvc().unwrap().status.phase == PvcPhase::Bound));
    assert_eq!(status_of(c.store(), "kubia").ready_replicas, 3);
}

/// shared/scenarios/ch09-node-failure.yaml, step by step.
#[test]
fn scenario_ch09_node_failure() {
    let mut c = kubia_cluster(Some("standard"));
    c.apply(load("kubia-sts.yaml")).unwrap();
    c.run_until(
        |s| kubia_ready(s, &["kubia-0", "kubia-1"]),
        Duration::from_secs(120),
    )
    .expect("two ready pods");
    let node = node_of(c.store(), "kubia-0");
    c.fail_node(&node).unwrap();
    c.advance(Duration::from_secs(60));
    assert!(!kubia(c.store())["kubia-0"].as_pod().unwrap().is_ready());
    c.advance(Duration::from_secs(360));
    let names = |c: &Cluster| kubia(c.store()).keys().cloned().collect::<Vec<_>>();
    let live = |c: &Cluster| {
        kubia(c.store())
            .into_iter()
            .filter(|(_, o)| !deleting(o))
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&c), ["kubia-0", "kubia-1"]);
    assert_eq!(live(&c), ["kubia-1"]);
    c.store()
        .delete(Kind::Pod, "default", "kubia-0", &DeleteOptions::default())
        .unwrap();
    c.advance(Duration::from_secs(120));
    assert_eq!(names(&c), ["kubia-0", "kubia-1"]);
    assert_eq!(live(&c), ["kubia-1"]);
    c.store()
        .delete(Kind::Pod, "default", "kubia-0", &DeleteOptions::grace(0))
        .unwrap();
    c.run_until_idle();
    c.run_until(
        |s| kubia_ready(s, &["kubia-0", "kubia-1"]),
        Duration::from_secs(180),
    )
    .expect("kubia-0 replaced");
    assert_eq!(
        claim_of(&kubia(c.store())["kubia-0"]).as_deref(),
        Some("data-kubia-0")
    );
}

/// Messages of the StatefulSet controller's Events with this reason.
fn events(store: &Store, reason: &str) -> Vec<String> {
    let mut v: Vec<String> = store
        .list(Kind::Event, Some("default"), None, None)
        .unwrap()
        .iter()
        .filter_map(|o| o.as_event().cloned())
        .filter(|e| e.reason.as_str() == reason && e.source.as_str() == "statefulset-controller")
        .map(|e| e.message.to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn events_name_the_pod_and_claim() {
    let mut c = settled(2, 1, "nginx", "");
    assert_eq!(
        events(c.store(), "SuccessfulCreate"),
        [
            "create Claim data-web-0 Pod web-0 in StatefulSet web success",
            "create Pod web-0 in StatefulSet web successful",
        ]
    );
    set_replicas(&mut c, 0);
    assert_eq!(
        events(c.store(), "SuccessfulDelete"),
        ["delete Pod web-0 in StatefulSet web successful"]
    );
}

#[test]
fn min_ready_seconds_gates_the_next_ordinal() {
    let mut c = cluster(2);
    apply(&mut c, &sts_yaml(2, "nginx", "  minReadySeconds: 30\n"));
    let mut ready0_at = None;
    let mut created1_at = None;
    for _ in 0..200 {
        let p = pods(c.store());
        if ready0_at.is_none() && p.get(&0).is_some_and(|o| healthy(o)) {
            ready0_at = Some(c.now());
        }
        if created1_at.is_none() && p.contains_key(&1) {
            created1_at = Some(c.now());
        }
        c.advance(Duration::from_secs(1));
    }
    let (r, k) = (ready0_at.unwrap(), created1_at.unwrap());
    assert!(
        k.since(r) >= Duration::from_secs(30),
        "web-1 created {:?} after web-0 was ready",
        k.since(r)
    );
    let s = status(c.store());
    assert_eq!((s.ready_replicas, s.available_replicas), (2, 2));
}

#[test]
fn a_failed_pod_is_deleted_and_recreated() {
    let mut c = settled(2, 2, "nginx", "");
    let old = pods(c.store())[&1].clone();
    let mut failed = (*old).clone();
    failed.as_pod_mut().unwrap().status.phase = PodPhase::Failed;
    c.store().update_status(failed).unwrap();
    c.run_until_idle();
    c.advance(Duration::from_secs(60));
    settle(&mut c, 2);
    let new = pods(c.store())[&1].clone();
    assert_ne!(new.meta().uid, old.meta().uid);
}

#[test]
fn an_unhealthy_condemned_pod_is_removed_only_as_the_first_unhealthy() {
    let mut c = settled(3, 3, "nginx", "");
    let (n0, n1, n2) = (
        node_of(c.store(), "web-0"),
        node_of(c.store(), "web-1"),
        node_of(c.store(), "web-2"),
    );
    assert!(n0 != n1 && n0 != n2 && n1 != n2, "one pod per node");
    c.fail_node(&n1).unwrap();
    c.fail_node(&n2).unwrap();
    c.advance(Duration::from_secs(70));
    let p = pods(c.store());
    assert!(!healthy(&p[&1]) && !healthy(&p[&2]));
    set_replicas(&mut c, 1);
    c.advance(Duration::from_secs(30));
    let p = pods(c.store());
    assert!(
        !deleting(&p[&2]) && !deleting(&p[&1]),
        "web-2 is unhealthy and web-1 below it too: nothing is removed"
    );
    // web-1 healthy again: web-2 is now the first unhealthy pod and goes first.
    c.recover_node(&n1).unwrap();
    c.advance(Duration::from_secs(15));
    let p = pods(c.store());
    assert!(healthy(&p[&1]));
    assert!(deleting(&p[&2]) && !deleting(&p[&1]));
    // It stays Terminating while its node is down; then web-1 follows.
    c.advance(Duration::from_secs(30));
    assert!(!deleting(&pods(c.store())[&1]));
    c.recover_node(&n2).unwrap();
    wait_for_pods(&mut c, 1, 120);
    assert_eq!(pods(c.store()).keys().copied().collect::<Vec<_>>(), [0]);
}

/// The cluster's event history for a story with a StatefulSet and a DaemonSet: create,
/// scale up, roll the StatefulSet, fail and recover a node, scale down.
fn history_of(threads: usize, strategy: &str, workers: usize) -> Vec<String> {
    let mut c = Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(3),
        seed: 5,
        threads,
        strategy: strategy.parse().unwrap(),
        workers,
        storage_class: Some("standard".into()),
        record_history: true,
        ..ClusterConfig::default()
    })
    .unwrap();
    apply(&mut c, &sts_yaml(2, "nginx:1", ""));
    c.apply(load("pi-proxy-ds.yaml")).unwrap();
    c.advance(Duration::from_secs(60));
    set_replicas(&mut c, 4);
    c.advance(Duration::from_secs(90));
    apply(&mut c, &sts_yaml(4, "nginx:2", ""));
    c.advance(Duration::from_secs(200));
    let node = node_of(c.store(), "web-1");
    c.fail_node(&node).unwrap();
    c.advance(Duration::from_secs(400));
    c.recover_node(&node).unwrap();
    c.advance(Duration::from_secs(60));
    set_replicas(&mut c, 1);
    c.advance(Duration::from_secs(200));
    let left = pods(c.store());
    assert_eq!(left.keys().copied().collect::<Vec<_>>(), [0]);
    assert!(healthy(&left[&0]) && image_of(&left[&0]) == "nginx:2");
    assert_eq!(c.store().count(Kind::PersistentVolumeClaim), 4);
    assert!(
        kubesim_core::controllers::garbage_collector::check_gc_invariants(c.store()).is_empty()
    );
    c.sim().history().iter().map(|h| h.to_string()).collect()
}

#[test]
fn same_seed_same_history_with_threads_and_sharding() {
    let one = history_of(1, "shared", 1);
    assert!(one.len() > 200, "only {} events", one.len());
    assert_eq!(one, history_of(2, "shared", 1), "1 vs 2 threads");
    assert_eq!(
        one,
        history_of(2, "consistent", 2),
        "shared vs consistent with 2 workers"
    );
}

fn claim_exists(c: &Cluster, ordinal: i32) -> bool {
    c.store()
        .try_get(
            Kind::PersistentVolumeClaim,
            "default",
            &format!("data-web-{ordinal}"),
        )
        .is_some()
}

/// The claim `data-web-<ordinal>`.
fn claim(c: &Cluster, ordinal: i32) -> Arc<Object> {
    c.store()
        .get(
            Kind::PersistentVolumeClaim,
            "default",
            &format!("data-web-{ordinal}"),
        )
        .unwrap()
}

fn delete_set(c: &mut Cluster) {
    c.store()
        .delete(
            Kind::StatefulSet,
            "default",
            "web",
            &DeleteOptions::default(),
        )
        .unwrap();
    c.advance(Duration::from_secs(60));
    assert!(pods(c.store()).is_empty());
}

/// whenDeleted: Delete + whenScaled: Retain — a scaled-away claim survives the
/// scale-down (the set still owns it) and goes with the StatefulSet.
#[test]
fn retention_delete_on_deletion_retain_on_scale_down() {
    let policy =
        "  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Retain}\n";
    let mut c = settled(3, 3, "nginx", policy);
    let before = claim(&c, 2);
    set_replicas(&mut c, 2);
    c.advance(Duration::from_secs(60));
    assert_eq!(pods(c.store()).len(), 2);
    let kept = claim(&c, 2);
    assert_eq!(kept.meta().uid, before.meta().uid, "kept on scale-down");
    let set_uid = c
        .store()
        .get(Kind::StatefulSet, "default", "web")
        .unwrap()
        .meta()
        .uid;
    assert!(kept
        .meta()
        .owner_references
        .iter()
        .any(|r| r.uid == set_uid && r.kind == Kind::StatefulSet));
    delete_set(&mut c);
    for i in 0..3 {
        assert!(!claim_exists(&c, i), "data-web-{i} deleted with the set");
    }
}

/// whenDeleted: Retain + whenScaled: Delete — a scaled-away claim goes with its pod;
/// the others survive the StatefulSet's deletion.
#[test]
fn retention_retain_on_deletion_delete_on_scale_down() {
    let policy =
        "  persistentVolumeClaimRetentionPolicy: {whenDeleted: Retain, whenScaled: Delete}\n";
    let mut c = settled(3, 3, "nginx", policy);
    assert_eq!(c.store().count(Kind::PersistentVolumeClaim), 3);
    set_replicas(&mut c, 2);
    c.advance(Duration::from_secs(60));
    assert_eq!(pods(c.store()).len(), 2);
    assert!(!claim_exists(&c, 2), "deleted with the scaled-away pod");
    let kept: Vec<_> = (0..2).map(|i| claim(&c, i).meta().uid).collect();
    delete_set(&mut c);
    for (i, uid) in (0..).zip(&kept) {
        assert_eq!(
            claim(&c, i).meta().uid,
            *uid,
            "data-web-{i} survives the set"
        );
    }
    assert_eq!(c.store().count(Kind::PersistentVolumeClaim), 2);
}
