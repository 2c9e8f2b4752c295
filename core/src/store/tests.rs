//! Unit tests of the store: one test (or a few) per rule of the module docs.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::*;
use crate::intern::StrMap;
use crate::model::{
    ConditionStatus, ConfigMap, Node, OwnerReference, Pod, PodPhase, PodSpec, PodStatus,
    ReplicaSet, ReplicaSetSpec, ReplicaSetStatus, Service,
};
use crate::selector::Requirement;

fn labels(pairs: &[(&str, &str)]) -> StrMap {
    StrMap::from_pairs(pairs.iter().copied())
}

fn pod(ns: &str, name: &str, l: &[(&str, &str)]) -> Object {
    Object::Pod(Pod {
        meta: ObjectMeta {
            labels: labels(l),
            ..ObjectMeta::named(ns, name)
        },
        spec: Arc::new(PodSpec::default()),
        node_name: None,
        status: PodStatus::default(),
    })
}

fn bound_pod(ns: &str, name: &str, node: &str) -> Object {
    let mut p = pod(ns, name, &[]);
    p.as_pod_mut().unwrap().node_name = Some(Str::from(node));
    p
}

fn cm(ns: &str, name: &str) -> Object {
    Object::from(ConfigMap {
        meta: ObjectMeta::named(ns, name),
        data: vec![],
    })
}

fn rs(ns: &str, name: &str, replicas: i32) -> Object {
    Object::from(ReplicaSet {
        meta: ObjectMeta::named(ns, name),
        spec: ReplicaSetSpec {
            replicas,
            ..Default::default()
        },
        status: ReplicaSetStatus::default(),
    })
}

fn ns(name: &str) -> Object {
    Object::from(Namespace {
        meta: ObjectMeta::named("", name),
        phase: NamespacePhase::Active,
    })
}

fn sel(s: &str) -> LabelSelector {
    // Built by hand so that these tests do not depend on the string parser.
    let mut out = LabelSelector::default();
    for term in s.split(',').filter(|t| !t.is_empty()) {
        if let Some(k) = term.strip_prefix('!') {
            out.match_expressions.push(Requirement::new(
                k,
                Operator::DoesNotExist,
                Vec::<&str>::new(),
            ));
        } else if let Some((k, v)) = term.split_once("!=") {
            out.match_expressions
                .push(Requirement::new(k, Operator::NotIn, [v]));
        } else if let Some((k, v)) = term.split_once(" in ") {
            out.match_expressions
                .push(Requirement::new(k, Operator::In, v.split('|')));
        } else if let Some((k, v)) = term.split_once('=') {
            out.match_labels = out.match_labels.with(k, v);
        } else {
            out.match_expressions.push(Requirement::new(
                term,
                Operator::Exists,
                Vec::<&str>::new(),
            ));
        }
    }
    out
}

fn names(objs: &[Arc<Object>]) -> Vec<String> {
    objs.iter()
        .map(|o| {
            if o.namespace().is_empty() {
                o.name().to_string()
            } else {
                format!("{}/{}", o.namespace(), o.name())
            }
        })
        .collect()
}

fn manual_clock_store(seed: u64, window: usize) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp::VIRTUAL_EPOCH));
    let store = Store::with_config(StoreConfig {
        clock: clock.clone(),
        watch_window: window,
        seed,
        ..Default::default()
    });
    (store, clock)
}

fn drain(w: &mut Watcher) -> Vec<(WatchEventType, String, u64)> {
    w.poll(usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| (e.type_, e.object.name().to_string(), e.resource_version))
        .collect()
}

// ---- create ----

#[test]
fn new_store_has_default_namespaces() {
    let s = Store::new();
    assert!(s.try_get(Kind::Namespace, "", "default").is_some());
    assert!(s.try_get(Kind::Namespace, "", "kube-system").is_some());
    assert_eq!(s.count(Kind::Namespace), 2);
    assert_eq!(s.resource_version(), 2);
    s.check_indexes().unwrap();
}

#[test]
fn create_sets_system_fields() {
    let (s, clock) = manual_clock_store(7, 100);
    clock.advance(Duration::from_secs(5));
    let mut p = pod("default", "web-1", &[("app", "web")]);
    {
        let m = p.meta_mut();
        m.resource_version = 99;
        m.generation = 42;
        m.uid = Uid(5);
        m.set_deletion(Timestamp(1), Some(3));
    }
    let before = s.resource_version();
    let c = s.create(p).unwrap();
    let m = c.meta();
    assert_eq!(m.resource_version, before + 1);
    assert_eq!(s.resource_version(), before + 1);
    assert_eq!(m.generation, 1);
    assert_ne!(m.uid, Uid(0));
    assert_ne!(m.uid, Uid(5));
    assert_eq!(
        m.creation_timestamp,
        plus_seconds(Timestamp::VIRTUAL_EPOCH, 5)
    );
    assert_eq!(m.deletion_timestamp(), None);
    assert_eq!(m.deletion_grace_period_seconds(), None);
    let got = s.get(Kind::Pod, "default", "web-1").unwrap();
    assert!(Arc::ptr_eq(&got, &c));
    assert_eq!(s.count(Kind::Pod), 1);
}

#[test]
fn uids_are_unique_and_seeded() {
    let a = Store::with_config(StoreConfig {
        seed: 1,
        ..Default::default()
    });
    let b = Store::with_config(StoreConfig {
        seed: 2,
        ..Default::default()
    });
    let mut seen = std::collections::HashSet::new();
    for i in 0..200 {
        let o = a.create(cm("default", &format!("c{i}"))).unwrap();
        assert!(seen.insert(o.meta().uid));
    }
    // Re-creating a deleted name gives a new uid.
    let old = a.get(Kind::ConfigMap, "default", "c0").unwrap().meta().uid;
    a.delete(Kind::ConfigMap, "default", "c0", &DeleteOptions::default())
        .unwrap();
    let new = a.create(cm("default", "c0")).unwrap().meta().uid;
    assert_ne!(old, new);
    // Another seed gives other uids.
    let other = b.create(cm("default", "c1")).unwrap().meta().uid;
    assert_ne!(
        other,
        a.get(Kind::ConfigMap, "default", "c1").unwrap().meta().uid
    );
}

#[test]
fn create_twice_is_already_exists() {
    let s = Store::new();
    s.create(pod("default", "a", &[])).unwrap();
    let e = s.create(pod("default", "a", &[])).unwrap_err();
    assert!(
        matches!(&e, Error::AlreadyExists { kind: Kind::Pod, namespace, name } if namespace == "default" && name == "a")
    );
    assert_eq!(
        e.to_string(),
        "pods \"a\" already exists in namespace \"default\""
    );
    // Same name in another namespace or of another kind is fine.
    s.create(pod("kube-system", "a", &[])).unwrap();
    s.create(cm("default", "a")).unwrap();
}

#[test]
fn create_needs_an_existing_namespace() {
    let s = Store::new();
    let e = s.create(pod("nope", "a", &[])).unwrap_err();
    assert_eq!(e, Error::NamespaceNotFound("nope".into()));
    assert!(e.is_not_found());
    let e = s.create(pod("", "a", &[])).unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e}");
    s.create(ns("nope")).unwrap();
    s.create(pod("nope", "a", &[])).unwrap();
    // A namespace being deleted takes no new objects.
    let mut n = (*s.get(Kind::Namespace, "", "nope").unwrap()).clone();
    n.meta_mut().finalizers = vec![Str::from("kubernetes")].into();
    s.update(n).unwrap();
    s.delete(Kind::Namespace, "", "nope", &DeleteOptions::default())
        .unwrap();
    let e = s.create(pod("nope", "b", &[])).unwrap_err();
    assert!(e.to_string().contains("being terminated"), "{e}");
}

#[test]
fn cluster_scoped_objects_have_no_namespace() {
    let s = Store::new();
    let mut node = Object::from(Node {
        meta: ObjectMeta::named("default", "node-1"),
        spec: Default::default(),
        status: Default::default(),
    });
    node.meta_mut().namespace = Str::from("default");
    let c = s.create(node).unwrap();
    assert_eq!(c.namespace().as_str(), "");
    assert!(s.try_get(Kind::Node, "", "node-1").is_some());
    // The namespace argument is ignored for cluster-scoped kinds.
    assert!(s.try_get(Kind::Node, "default", "node-1").is_some());
    assert_eq!(
        s.list(Kind::Node, Some("kube-system"), None, None)
            .unwrap()
            .len(),
        1
    );
    // A namespace needs no namespace object of its own.
    s.create(ns("team-a")).unwrap();
    s.check_indexes().unwrap();
}

#[test]
fn names_are_validated() {
    let s = Store::new();
    for bad in ["Web", "web_1", "-web", "web.", ""] {
        let mut p = pod("default", bad, &[]);
        p.meta_mut().generate_name = None;
        assert!(matches!(s.create(p), Err(Error::Invalid { .. })), "{bad:?}");
    }
    s.create(pod("default", "web.v1-2", &[])).unwrap();
    // Services and namespaces need DNS labels: no dots.
    let svc = Object::from(Service {
        meta: ObjectMeta::named("default", "web.v1"),
        spec: Default::default(),
        status: Default::default(),
    });
    assert!(matches!(s.create(svc), Err(Error::Invalid { .. })));
    assert!(matches!(s.create(ns("a.b")), Err(Error::Invalid { .. })));
}

#[test]
fn generate_name_is_deterministic_and_retries_collisions() {
    let with_gen = |prefix: &str| {
        let mut p = pod("default", "", &[]);
        p.meta_mut().generate_name = Some(Str::from(prefix));
        p
    };
    let (a, _) = manual_clock_store(42, 100);
    let (b, _) = manual_clock_store(42, 100);
    let (c, _) = manual_clock_store(43, 100);
    let na = a.create(with_gen("web-")).unwrap().name().to_string();
    let nb = b.create(with_gen("web-")).unwrap().name().to_string();
    let nc = c.create(with_gen("web-")).unwrap().name().to_string();
    assert_eq!(na, nb);
    assert_ne!(na, nc);
    let suffix = na.strip_prefix("web-").unwrap();
    assert_eq!(suffix.len(), 5);
    assert!(
        suffix.bytes().all(|ch| SUFFIX_ALPHABET.contains(&ch)),
        "{na}"
    );

    // b's next generated name is taken in `a` already: `a` must retry.
    let (probe, _) = manual_clock_store(42, 100);
    probe.create(with_gen("web-")).unwrap();
    let next = probe.create(with_gen("web-")).unwrap().name().to_string();
    a.create(pod("default", &next, &[])).unwrap();
    let retried = a.create(with_gen("web-")).unwrap().name().to_string();
    assert_ne!(retried, next);
    assert!(retried.starts_with("web-"));

    // Long prefixes are cut to 58 characters.
    let long = "x".repeat(80);
    let n = a.create(with_gen(&long)).unwrap().name().to_string();
    assert_eq!(n.len(), 63);
    // No name and no generateName.
    assert!(matches!(
        a.create(pod("default", "", &[])),
        Err(Error::Invalid { .. })
    ));
}

// ---- create_many ----

/// A batch gives, object for object, what creating one by one gives: same names
/// (generated ones too), uids, resourceVersions, errors and watch events.
#[test]
fn create_many_matches_creating_one_by_one() {
    let with_gen = |prefix: &str| {
        let mut p = pod("default", "", &[("app", "web")]);
        p.meta_mut().generate_name = Some(Str::from(prefix));
        p
    };
    let svc = |name: &str| {
        Object::from(Service {
            meta: ObjectMeta::named("default", name),
            spec: Default::default(),
            status: Default::default(),
        })
    };
    let batch = || {
        vec![
            pod("default", "a", &[("app", "web"), ("tier", "fe")]),
            with_gen("web-"),
            pod("default", "b", &[("app", "web"), ("tier", "fe")]),
            pod("default", "a", &[("app", "web")]), // taken, earlier in the batch
            pod("nowhere", "c", &[]),               // no such namespace
            pod("default", "Bad_Name", &[]),        // invalid name
            svc("web"),                             // another kind: a new run
            svc("web"),                             // taken
            pod("default", "exists", &[]),          // taken, before the batch
            with_gen("web-"),
            pod("kube-system", "d", &[("app", "web")]),
        ]
    };
    let (one, _) = manual_clock_store(7, 100);
    let (many, _) = manual_clock_store(7, 100);
    for s in [&one, &many] {
        s.create(pod("default", "exists", &[])).unwrap();
    }
    let mut w_one = one.watch(Kind::Pod, one.resource_version()).unwrap();
    let mut w_many = many.watch(Kind::Pod, many.resource_version()).unwrap();
    let singles: Vec<_> = batch().into_iter().map(|o| one.create(o)).collect();
    let batched = many.create_many(batch());
    assert_eq!(singles.len(), batched.len());
    let shape = |r: &Result<Arc<Object>>| match r {
        Ok(o) => Ok((
            o.kind(),
            o.namespace().to_string(),
            o.name().to_string(),
            o.meta().uid,
            o.meta().resource_version,
            o.labels().clone(),
        )),
        Err(e) => Err(e.to_string()),
    };
    for (i, (a, b)) in singles.iter().zip(&batched).enumerate() {
        assert_eq!(shape(a), shape(b), "object {i}");
    }
    assert_eq!(
        batched.iter().filter(|r| r.is_ok()).count(),
        6,
        "{batched:?}"
    );
    assert!(matches!(batched[3], Err(Error::AlreadyExists { .. })));
    assert!(matches!(batched[4], Err(Error::NamespaceNotFound(_))));
    assert!(matches!(batched[5], Err(Error::Invalid { .. })));
    assert!(matches!(batched[7], Err(Error::AlreadyExists { .. })));
    assert!(matches!(batched[8], Err(Error::AlreadyExists { .. })));
    assert_eq!(drain(&mut w_one), drain(&mut w_many));
    assert_eq!(one.resource_version(), many.resource_version());
    // The indexes know every new object.
    assert_eq!(
        names(
            &many
                .list(Kind::Pod, None, Some(&sel("app=web")), None)
                .unwrap()
        ),
        names(
            &one.list(Kind::Pod, None, Some(&sel("app=web")), None)
                .unwrap()
        )
    );
    assert_eq!(
        names(
            &many
                .list(Kind::Pod, None, Some(&sel("app=web")), None)
                .unwrap()
        )
        .len(),
        5
    );
    many.check_indexes().unwrap();
    assert!(many.create_many(Vec::new()).is_empty());
}

/// A generated name that is taken is retried, in a batch as alone.
#[test]
fn create_many_retries_taken_generated_names() {
    let with_gen = || {
        let mut p = pod("default", "", &[]);
        p.meta_mut().generate_name = Some(Str::from("web-"));
        p
    };
    let (probe, _) = manual_clock_store(42, 100);
    let first = probe.create(with_gen()).unwrap().name().to_string();
    let (s, _) = manual_clock_store(42, 100);
    s.create(pod("default", &first, &[])).unwrap();
    let out = s.create_many(vec![with_gen(), with_gen(), pod("default", "x", &[])]);
    let got: Vec<String> = out
        .iter()
        .map(|r| r.as_ref().unwrap().name().to_string())
        .collect();
    assert_ne!(got[0], first);
    assert_ne!(got[0], got[1]);
    assert!(got[0].starts_with("web-") && got[1].starts_with("web-"));
    assert_eq!(got[2], "x");
    s.check_indexes().unwrap();
}

/// Batches from several threads, with single creates and deletes in between: no
/// deadlock (shard locks are taken in ascending order), exact indexes, and every
/// event once, in resourceVersion order.
#[test]
fn concurrent_batches_keep_the_store_consistent() {
    let s = Store::new();
    let mut w = s.watch(Kind::Pod, s.resource_version()).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let s = &s;
            scope.spawn(move || {
                for b in 0..50 {
                    let app = format!("app-{}", b % 3);
                    let objs = (0..8)
                        .map(|i| pod("default", &format!("t{t}-b{b}-{i}"), &[("app", &app)]))
                        .collect();
                    for r in s.create_many(objs) {
                        r.unwrap();
                    }
                    s.create(pod(
                        "default",
                        &format!("t{t}-single-{b}"),
                        &[("app", &app)],
                    ))
                    .unwrap();
                    s.delete(
                        Kind::Pod,
                        "default",
                        &format!("t{t}-b{b}-0"),
                        &DeleteOptions::default(),
                    )
                    .unwrap();
                }
            });
        }
    });
    s.check_indexes().unwrap();
    assert_eq!(s.count(Kind::Pod), 4 * 50 * 8);
    let events = drain(&mut w);
    assert_eq!(events.len(), 4 * 50 * 10);
    assert!(events.windows(2).all(|e| e[0].2 < e[1].2));
    let listed = s
        .list(
            Kind::Pod,
            None,
            Some(&sel("app in app-0|app-1|app-2")),
            None,
        )
        .unwrap();
    assert_eq!(listed.len(), 4 * 50 * 8);
}

#[test]
fn all_is_an_unsorted_list_of_the_kind() {
    let s = fixture();
    let mut all = names(&s.all(Kind::Pod));
    all.sort();
    let mut listed = names(&s.list(Kind::Pod, None, None, None).unwrap());
    listed.sort();
    assert!(!all.is_empty());
    assert_eq!(all, listed);
    assert!(s.all(Kind::Job).is_empty());
}

// ---- update ----

#[test]
fn update_is_optimistic() {
    let s = Store::new();
    let v1 = s.create(pod("default", "a", &[("app", "web")])).unwrap();
    let mut x = (*v1).clone();
    x.meta_mut().labels = labels(&[("app", "api")]);
    let v2 = s.update(x).unwrap();
    assert!(v2.meta().resource_version > v1.meta().resource_version);

    // Stale resourceVersion: Conflict naming both versions.
    let mut stale = (*v1).clone();
    stale.meta_mut().labels = labels(&[("app", "db")]);
    let e = s.update(stale.clone()).unwrap_err();
    assert_eq!(
        e,
        Error::Conflict {
            kind: Kind::Pod,
            namespace: "default".into(),
            name: "a".into(),
            expected: v1.meta().resource_version,
            actual: v2.meta().resource_version,
        }
    );
    assert!(e.is_conflict());
    // resourceVersion 0 is unconditional.
    stale.meta_mut().resource_version = 0;
    let v3 = s.update(stale.clone()).unwrap();
    assert_eq!(v3.labels().get("app").unwrap().as_str(), "db");
    // A uid from another incarnation is a conflict too.
    stale.meta_mut().uid = Uid(v1.meta().uid.0 ^ 1);
    stale.meta_mut().labels = labels(&[]);
    assert!(s.update(stale).unwrap_err().is_conflict());
    // Missing object.
    let e = s.update(pod("default", "zzz", &[])).unwrap_err();
    assert!(matches!(
        e,
        Error::NotFound {
            kind: Kind::Pod,
            ..
        }
    ));
    assert_eq!(
        e.to_string(),
        "pods \"zzz\" not found in namespace \"default\""
    );
    s.check_indexes().unwrap();
}

#[test]
fn generation_bumps_on_spec_change_only() {
    let s = Store::new();
    let v1 = s.create(rs("default", "r", 1)).unwrap();
    assert_eq!(v1.meta().generation, 1);
    let mut x = (*v1).clone();
    x.meta_mut().labels = labels(&[("a", "b")]);
    x.meta_mut().generation = 17; // ignored
    let v2 = s.update(x).unwrap();
    assert_eq!(v2.meta().generation, 1);
    let mut x = (*v2).clone();
    x.as_replica_set_mut().unwrap().spec.replicas = 3;
    let v3 = s.update(x).unwrap();
    assert_eq!(v3.meta().generation, 2);
    // A status change is not a spec change.
    let mut x = (*v3).clone();
    x.as_replica_set_mut().unwrap().status.replicas = 3;
    let v4 = s.update_status(x).unwrap();
    assert_eq!(v4.meta().generation, 2);
}

#[test]
fn update_keeps_status_and_update_status_keeps_the_rest() {
    let s = Store::new();
    let v1 = s.create(rs("default", "r", 1)).unwrap();
    // update: a status change in the body is ignored.
    let mut x = (*v1).clone();
    x.as_replica_set_mut().unwrap().status.replicas = 9;
    x.as_replica_set_mut().unwrap().spec.replicas = 2;
    let v2 = s.update(x).unwrap();
    assert_eq!(v2.as_replica_set().unwrap().status.replicas, 0);
    assert_eq!(v2.as_replica_set().unwrap().spec.replicas, 2);
    // update_status: only the status changes.
    let mut x = (*v2).clone();
    x.as_replica_set_mut().unwrap().status.replicas = 2;
    x.as_replica_set_mut().unwrap().spec.replicas = 5;
    x.meta_mut().labels = labels(&[("ignored", "yes")]);
    let v3 = s.update_status(x).unwrap();
    assert_eq!(v3.as_replica_set().unwrap().status.replicas, 2);
    assert_eq!(v3.as_replica_set().unwrap().spec.replicas, 2);
    assert!(v3.labels().is_empty());
    assert!(v3.meta().resource_version > v2.meta().resource_version);
    // Same precondition as update.
    let mut stale = (*v2).clone();
    stale.as_replica_set_mut().unwrap().status.replicas = 7;
    assert!(s.update_status(stale).unwrap_err().is_conflict());
    // Kinds without status have no status updates.
    let c = s.create(cm("default", "c")).unwrap();
    assert!(matches!(
        s.update_status((*c).clone()),
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        s.update_status(rs("default", "nope", 1)),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn no_op_updates_are_not_writes() {
    let s = Store::new();
    let v1 = s.create(rs("default", "r", 1)).unwrap();
    let mut w = s
        .watch(Kind::ReplicaSet, v1.meta().resource_version)
        .unwrap();
    let rv = s.resource_version();
    let same = s.update((*v1).clone()).unwrap();
    assert!(Arc::ptr_eq(&same, &v1));
    let same = s.update_status((*v1).clone()).unwrap();
    assert!(Arc::ptr_eq(&same, &v1));
    assert_eq!(s.resource_version(), rv);
    assert!(w.poll(10).unwrap().is_empty());
}

#[test]
fn update_cannot_set_or_clear_deletion() {
    let s = Store::new();
    let v1 = s.create(cm("default", "c")).unwrap();
    let mut x = (*v1).clone();
    x.meta_mut().set_deletion(Timestamp(5), None);
    x.meta_mut().labels = labels(&[("a", "b")]);
    let v2 = s.update(x).unwrap();
    assert_eq!(v2.meta().deletion_timestamp(), None);

    let mut x = (*v2).clone();
    x.meta_mut().finalizers = vec![Str::from("example.com/keep")].into();
    let v3 = s.update(x).unwrap();
    let d = s
        .delete(Kind::ConfigMap, "default", "c", &DeleteOptions::default())
        .unwrap();
    let ts = d.object().meta().deletion_timestamp();
    assert!(ts.is_some());
    let mut x = (*d.object().clone()).clone();
    x.meta_mut().deletion = None;
    x.meta_mut().labels = labels(&[]);
    let v4 = s.update(x).unwrap();
    assert_eq!(v4.meta().deletion_timestamp(), ts);
    assert_eq!(v4.meta().uid, v3.meta().uid);
    assert_eq!(v4.meta().creation_timestamp, v1.meta().creation_timestamp);
}

// ---- delete ----

#[test]
fn plain_delete_removes_at_once() {
    let s = Store::new();
    let v1 = s.create(cm("default", "c")).unwrap();
    let rv = s.resource_version();
    let mut w = s.watch(Kind::ConfigMap, rv).unwrap();
    let d = s
        .delete(Kind::ConfigMap, "default", "c", &DeleteOptions::default())
        .unwrap();
    let Deleted::Gone(last) = d else {
        panic!("{d:?}")
    };
    assert_eq!(last.meta().uid, v1.meta().uid);
    assert_eq!(last.meta().resource_version, rv + 1);
    assert!(s.try_get(Kind::ConfigMap, "default", "c").is_none());
    assert_eq!(s.count(Kind::ConfigMap), 0);
    let ev = w.poll(10).unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].type_, WatchEventType::Deleted);
    assert!(Arc::ptr_eq(&ev[0].object, &last));
    let e = s
        .delete(Kind::ConfigMap, "default", "c", &DeleteOptions::default())
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }));
    s.check_indexes().unwrap();
}

#[test]
fn delete_uid_precondition() {
    let s = Store::new();
    let v1 = s.create(cm("default", "c")).unwrap();
    let opts = DeleteOptions {
        preconditions_uid: Some(Uid(v1.meta().uid.0 + 1)),
        ..Default::default()
    };
    let e = s
        .delete(Kind::ConfigMap, "default", "c", &opts)
        .unwrap_err();
    assert_eq!(
        e,
        Error::Conflict {
            kind: Kind::ConfigMap,
            namespace: "default".into(),
            name: "c".into(),
            expected: v1.meta().uid.0 + 1,
            actual: v1.meta().uid.0,
        }
    );
    let opts = DeleteOptions {
        preconditions_uid: Some(v1.meta().uid),
        ..Default::default()
    };
    assert!(s
        .delete(Kind::ConfigMap, "default", "c", &opts)
        .unwrap()
        .is_gone());
}

#[test]
fn finalizers_hold_deletion_until_the_last_is_removed() {
    let (s, clock) = manual_clock_store(0, 100);
    let mut c = cm("default", "c");
    c.meta_mut().finalizers = vec![Str::from("a.io/x"), Str::from("b.io/y")].into();
    let v1 = s.create(c).unwrap();
    clock.advance(Duration::from_secs(3));
    let mut w = s
        .watch(Kind::ConfigMap, v1.meta().resource_version)
        .unwrap();
    let d = s
        .delete(Kind::ConfigMap, "default", "c", &DeleteOptions::default())
        .unwrap();
    let Deleted::Pending(p) = d else {
        panic!("{d:?}")
    };
    assert_eq!(p.meta().deletion_timestamp(), Some(clock.now()));
    assert_eq!(p.meta().deletion_grace_period_seconds(), Some(0));
    assert_eq!(p.meta().generation, 2); // the API bumps it once when deletion starts
    assert!(s.try_get(Kind::ConfigMap, "default", "c").is_some());
    // A second delete changes nothing.
    let again = s
        .delete(Kind::ConfigMap, "default", "c", &DeleteOptions::default())
        .unwrap();
    assert!(Arc::ptr_eq(again.object(), &p));
    // No new finalizers while deleting.
    let mut x = (*p).clone();
    x.meta_mut()
        .finalizers
        .update(|v| v.push(Str::from("c.io/z")));
    let e = s.update(x).unwrap_err();
    assert!(e.to_string().contains("no new finalizers"), "{e}");
    // Removing one keeps it, removing the last removes it.
    let mut x = (*p).clone();
    x.meta_mut().finalizers = vec![Str::from("b.io/y")].into();
    let v3 = s.update(x).unwrap();
    assert!(s.try_get(Kind::ConfigMap, "default", "c").is_some());
    let mut x = (*v3).clone();
    x.meta_mut().finalizers = Default::default();
    let last = s.update(x).unwrap();
    assert!(last.meta().finalizers.is_empty());
    assert!(s.try_get(Kind::ConfigMap, "default", "c").is_none());
    let types: Vec<_> = drain(&mut w).into_iter().map(|e| e.0).collect();
    use WatchEventType as T;
    assert_eq!(types, [T::Modified, T::Modified, T::Deleted]);
    s.check_indexes().unwrap();
}

#[test]
fn foreground_and_orphan_add_their_finalizers() {
    let s = Store::new();
    s.create(rs("default", "fg", 1)).unwrap();
    s.create(rs("default", "or", 1)).unwrap();
    s.create(rs("default", "bg", 1)).unwrap();
    let d = s
        .delete(
            Kind::ReplicaSet,
            "default",
            "fg",
            &DeleteOptions::propagation(PropagationPolicy::Foreground),
        )
        .unwrap();
    let Deleted::Pending(fg) = d else { panic!() };
    assert_eq!(fg.meta().finalizers, vec![Str::from(FINALIZER_FOREGROUND)]);
    assert!(fg.meta().deletion_timestamp().is_some());
    let d = s
        .delete(
            Kind::ReplicaSet,
            "default",
            "or",
            &DeleteOptions::propagation(PropagationPolicy::Orphan),
        )
        .unwrap();
    let Deleted::Pending(or) = d else { panic!() };
    assert_eq!(or.meta().finalizers, vec![Str::from(FINALIZER_ORPHAN)]);
    let d = s
        .delete(
            Kind::ReplicaSet,
            "default",
            "bg",
            &DeleteOptions::propagation(PropagationPolicy::Background),
        )
        .unwrap();
    assert!(d.is_gone());
    // Switching policy on a pending (non-graceful) delete swaps the finalizer.
    let d = s
        .delete(
            Kind::ReplicaSet,
            "default",
            "or",
            &DeleteOptions::propagation(PropagationPolicy::Foreground),
        )
        .unwrap();
    assert_eq!(
        d.object().meta().finalizers,
        vec![Str::from(FINALIZER_FOREGROUND)]
    );
    // No policy keeps what is there.
    let d = s
        .delete(Kind::ReplicaSet, "default", "fg", &DeleteOptions::default())
        .unwrap();
    assert!(Arc::ptr_eq(d.object(), &fg));
    // The garbage collector removes the finalizer: then the owner goes.
    let mut x = (*fg).clone();
    x.meta_mut().finalizers = Default::default();
    s.update(x).unwrap();
    assert!(s.try_get(Kind::ReplicaSet, "default", "fg").is_none());
    // Background on an orphaning delete removes the finalizer and the object.
    let d = s
        .delete(
            Kind::ReplicaSet,
            "default",
            "or",
            &DeleteOptions::propagation(PropagationPolicy::Background),
        )
        .unwrap();
    assert!(d.is_gone());
}

#[test]
fn bound_pods_terminate_gracefully() {
    let (s, clock) = manual_clock_store(0, 100);
    let start = clock.now();
    s.create(bound_pod("default", "p", "node-1")).unwrap();
    let d = s
        .delete(Kind::Pod, "default", "p", &DeleteOptions::default())
        .unwrap();
    let Deleted::Pending(p) = d else { panic!() };
    assert_eq!(p.meta().deletion_timestamp(), Some(plus_seconds(start, 30)));
    assert_eq!(p.meta().deletion_grace_period_seconds(), Some(30));
    assert_eq!(p.meta().generation, 2);
    // The status keeps being updated during termination; that does not remove it.
    let mut x = (*p).clone();
    x.as_pod_mut().unwrap().status.phase = PodPhase::Running;
    s.update_status(x).unwrap();
    assert!(s.try_get(Kind::Pod, "default", "p").is_some());

    // A longer grace period changes nothing; a shorter one shortens it (from the
    // original request time, as the API does).
    clock.advance(Duration::from_secs(10));
    let rv = s.resource_version();
    let d = s
        .delete(Kind::Pod, "default", "p", &DeleteOptions::grace(60))
        .unwrap();
    assert!(!d.is_gone());
    assert_eq!(s.resource_version(), rv);
    let d = s
        .delete(Kind::Pod, "default", "p", &DeleteOptions::grace(5))
        .unwrap();
    let Deleted::Pending(p) = d else { panic!() };
    assert_eq!(p.meta().deletion_timestamp(), Some(plus_seconds(start, 5)));
    assert_eq!(p.meta().deletion_grace_period_seconds(), Some(5));
    // Grace 0: gone (the kubelet's final delete, or a force delete).
    let d = s
        .delete(Kind::Pod, "default", "p", &DeleteOptions::grace(0))
        .unwrap();
    assert!(d.is_gone());
    assert_eq!(d.object().meta().deletion_grace_period_seconds(), Some(0));
    assert!(s.try_get(Kind::Pod, "default", "p").is_none());
    s.check_indexes().unwrap();
}

#[test]
fn pod_grace_period_sources() {
    let (s, clock) = manual_clock_store(0, 100);
    let now = clock.now();
    let mut p = bound_pod("default", "spec10", "n");
    Arc::make_mut(&mut p.as_pod_mut().unwrap().spec).termination_grace_period_seconds = Some(10);
    s.create(p).unwrap();
    let d = s
        .delete(Kind::Pod, "default", "spec10", &DeleteOptions::default())
        .unwrap();
    assert_eq!(
        d.object().meta().deletion_timestamp(),
        Some(plus_seconds(now, 10))
    );
    // Unbound pods go at once.
    s.create(pod("default", "unbound", &[])).unwrap();
    assert!(s
        .delete(Kind::Pod, "default", "unbound", &DeleteOptions::default())
        .unwrap()
        .is_gone());
    // Finished pods go at once.
    let mut p = bound_pod("default", "done", "n");
    p.as_pod_mut().unwrap().status.phase = PodPhase::Succeeded;
    s.create(p).unwrap();
    assert!(s
        .delete(Kind::Pod, "default", "done", &DeleteOptions::default())
        .unwrap()
        .is_gone());
    // Force delete of a bound pod.
    s.create(bound_pod("default", "force", "n")).unwrap();
    assert!(s
        .delete(Kind::Pod, "default", "force", &DeleteOptions::grace(0))
        .unwrap()
        .is_gone());
    // Negative grace means 1 second.
    s.create(bound_pod("default", "neg", "n")).unwrap();
    let d = s
        .delete(Kind::Pod, "default", "neg", &DeleteOptions::grace(-5))
        .unwrap();
    assert_eq!(d.object().meta().deletion_grace_period_seconds(), Some(1));
    // The config default applies when nothing else does.
    let (s2, _) = {
        let clock = Arc::new(ManualClock::new(Timestamp::VIRTUAL_EPOCH));
        let s2 = Store::with_config(StoreConfig {
            clock: clock.clone(),
            default_termination_grace_seconds: 7,
            ..Default::default()
        });
        (s2, clock)
    };
    s2.create(bound_pod("default", "p", "n")).unwrap();
    let d = s2
        .delete(Kind::Pod, "default", "p", &DeleteOptions::default())
        .unwrap();
    assert_eq!(d.object().meta().deletion_grace_period_seconds(), Some(7));
}

#[test]
fn pods_with_finalizers_wait_for_them_even_when_forced() {
    let s = Store::new();
    let mut p = bound_pod("default", "p", "n");
    p.meta_mut().finalizers = vec![Str::from("x.io/hold")].into();
    s.create(p).unwrap();
    let d = s
        .delete(Kind::Pod, "default", "p", &DeleteOptions::grace(0))
        .unwrap();
    let Deleted::Pending(p) = d else { panic!() };
    assert_eq!(p.meta().deletion_grace_period_seconds(), Some(0));
    let mut x = (*p).clone();
    x.meta_mut().finalizers = Default::default();
    s.update(x).unwrap();
    assert!(s.try_get(Kind::Pod, "default", "p").is_none());

    // In a graceful period, removing the finalizers does not remove the pod: the
    // kubelet's delete with grace 0 does.
    let mut p = bound_pod("default", "q", "n");
    p.meta_mut().finalizers = vec![Str::from("x.io/hold")].into();
    s.create(p).unwrap();
    let d = s
        .delete(Kind::Pod, "default", "q", &DeleteOptions::default())
        .unwrap();
    let mut x = (**d.object()).clone();
    x.meta_mut().finalizers = Default::default();
    s.update(x).unwrap();
    assert!(s.try_get(Kind::Pod, "default", "q").is_some());
    assert!(s
        .delete(Kind::Pod, "default", "q", &DeleteOptions::grace(0))
        .unwrap()
        .is_gone());
}

// ---- list and selectors ----

fn fixture() -> Store {
    let s = Store::new();
    s.create(ns("prod")).unwrap();
    for (ns_, name, l, node) in [
        (
            "default",
            "web-1",
            &[("app", "web"), ("tier", "front")][..],
            Some("n1"),
        ),
        (
            "default",
            "web-2",
            &[("app", "web"), ("tier", "front")][..],
            Some("n2"),
        ),
        (
            "default",
            "api-1",
            &[("app", "api"), ("tier", "back")][..],
            Some("n1"),
        ),
        ("default", "db-1", &[("app", "db")][..], None),
        (
            "prod",
            "web-1",
            &[("app", "web"), ("tier", "front")][..],
            Some("n2"),
        ),
        ("prod", "bare", &[][..], None),
    ] {
        let mut p = pod(ns_, name, l);
        p.as_pod_mut().unwrap().node_name = node.map(Str::from);
        if name == "api-1" {
            p.as_pod_mut().unwrap().status.phase = PodPhase::Running;
        }
        s.create(p).unwrap();
    }
    s
}

fn list(s: &Store, ns: Option<&str>, l: &str, f: &str) -> Vec<String> {
    let l = sel(l);
    let f: FieldSelector = f.parse().unwrap();
    names(&s.list(Kind::Pod, ns, Some(&l), Some(&f)).unwrap())
}

#[test]
fn list_by_labels() {
    let s = fixture();
    assert_eq!(
        list(&s, None, "app=web", ""),
        ["default/web-1", "default/web-2", "prod/web-1"]
    );
    assert_eq!(
        list(&s, Some("default"), "app=web", ""),
        ["default/web-1", "default/web-2"]
    );
    assert_eq!(
        list(&s, None, "app in web|db", ""),
        [
            "default/db-1",
            "default/web-1",
            "default/web-2",
            "prod/web-1"
        ]
    );
    assert_eq!(
        list(&s, None, "tier", ""),
        [
            "default/api-1",
            "default/web-1",
            "default/web-2",
            "prod/web-1"
        ]
    );
    assert_eq!(list(&s, None, "!tier", ""), ["default/db-1", "prod/bare"]);
    assert_eq!(
        list(&s, None, "app!=web", ""),
        ["default/api-1", "default/db-1", "prod/bare"]
    );
    assert_eq!(
        list(&s, None, "app=web,tier!=front", ""),
        Vec::<String>::new()
    );
    assert_eq!(list(&s, None, "app=nope", ""), Vec::<String>::new());
    assert_eq!(list(&s, Some("nope"), "", ""), Vec::<String>::new());
    assert_eq!(list(&s, Some("prod"), "", ""), ["prod/bare", "prod/web-1"]);
    assert_eq!(s.list(Kind::Pod, None, None, None).unwrap().len(), 6);
    // The lib.rs example's call shape.
    let web = sel("app=web");
    assert_eq!(
        s.list(Kind::Pod, Some("default"), Some(&web), None)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn list_by_fields() {
    let s = fixture();
    assert_eq!(
        list(&s, None, "", "spec.nodeName=n1"),
        ["default/api-1", "default/web-1"]
    );
    assert_eq!(
        list(&s, None, "", "spec.nodeName="),
        ["default/db-1", "prod/bare"]
    );
    assert_eq!(
        list(&s, None, "", "status.phase=Running"),
        ["default/api-1"]
    );
    assert_eq!(
        list(
            &s,
            Some("default"),
            "",
            "status.phase!=Running,spec.nodeName!=n2"
        ),
        ["default/db-1", "default/web-1"]
    );
    assert_eq!(
        list(&s, None, "", "metadata.name=web-1"),
        ["default/web-1", "prod/web-1"]
    );
    assert_eq!(
        list(&s, None, "", "metadata.namespace=prod,metadata.name==web-1"),
        ["prod/web-1"]
    );
    assert_eq!(
        list(&s, Some("default"), "app=web", "metadata.name=web-2"),
        ["default/web-2"]
    );
    assert_eq!(
        list(&s, Some("default"), "app=api", "metadata.name=web-2"),
        Vec::<String>::new()
    );
    assert_eq!(
        list(&s, None, "app=web", "spec.nodeName=n2"),
        ["default/web-2", "prod/web-1"]
    );

    let e = "spec.foo=x".parse::<FieldSelector>().unwrap_err();
    assert!(
        e.to_string()
            .contains("field label not supported: spec.foo"),
        "{e}"
    );
    assert!("nonsense".parse::<FieldSelector>().is_err());
    let f: FieldSelector = "spec.nodeName=n1".parse().unwrap();
    let e = s.list(Kind::Service, None, None, Some(&f)).unwrap_err();
    assert!(
        matches!(e, Error::InvalidFieldSelector(ref m) if m.contains("spec.nodeName")),
        "{e}"
    );
    let f: FieldSelector = "metadata.name=default".parse().unwrap();
    assert_eq!(
        names(&s.list(Kind::Namespace, None, None, Some(&f)).unwrap()),
        ["default"]
    );
    assert_eq!(f.to_string(), "metadata.name=default");
}

#[test]
fn selective_lists_use_the_indexes() {
    let s = Store::new();
    for i in 0..2000 {
        let app = if i % 100 == 0 { "rare" } else { "common" };
        let mut p = pod(
            "default",
            &format!("p{i:04}"),
            &[
                ("app", app),
                ("shard", if i % 2 == 0 { "even" } else { "odd" }),
            ],
        );
        p.as_pod_mut().unwrap().node_name = Some(Str::from(format!("n{}", i % 50)));
        s.create(p).unwrap();
    }
    let ks = s.ks(Kind::Pod);
    let candidates = |l: &LabelSelector, f: &FieldSelector, ns: Option<&str>| match Store::plan(
        Kind::Pod,
        ns,
        Some(l),
        Some(f),
    ) {
        Plan::Terms(t) => ks.index.candidates(&t).len(),
        Plan::Key(..) => 1,
        Plan::Scan => u64::MAX,
    };
    let none = FieldSelector::default();
    assert_eq!(candidates(&sel("app=rare"), &none, None), 20);
    assert_eq!(
        candidates(&sel("app=rare,shard=even"), &none, Some("default")),
        20
    );
    assert_eq!(candidates(&sel("app=rare,shard=odd"), &none, None), 0);
    assert_eq!(candidates(&sel("app in rare|nope"), &none, None), 20);
    assert_eq!(
        candidates(&sel("app=rare"), &"spec.nodeName=n0".parse().unwrap(), None),
        20
    );
    assert_eq!(
        candidates(&sel(""), &"spec.nodeName=n1".parse().unwrap(), None),
        40
    );
    assert_eq!(candidates(&sel("shard"), &none, None), 2000);
    assert_eq!(candidates(&sel("!app"), &none, None), u64::MAX);
    assert_eq!(candidates(&sel("!app"), &none, Some("default")), 2000);
    assert_eq!(
        candidates(
            &sel(""),
            &"metadata.name=p0001".parse().unwrap(),
            Some("default")
        ),
        1
    );
    assert_eq!(
        s.list(Kind::Pod, None, Some(&sel("app=rare")), None)
            .unwrap()
            .len(),
        20
    );
    assert_eq!(
        s.list(Kind::Pod, None, Some(&sel("app=rare,shard=odd")), None)
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn lists_follow_label_changes() {
    let s = fixture();
    let mut x = (*s.get(Kind::Pod, "default", "web-1").unwrap()).clone();
    x.meta_mut().labels = labels(&[("app", "api"), ("extra", "1")]);
    x.as_pod_mut().unwrap().node_name = Some(Str::from("n3"));
    s.update(x).unwrap();
    assert_eq!(
        list(&s, None, "app=web", ""),
        ["default/web-2", "prod/web-1"]
    );
    assert_eq!(
        list(&s, None, "app=api", ""),
        ["default/api-1", "default/web-1"]
    );
    assert_eq!(list(&s, None, "extra", ""), ["default/web-1"]);
    assert_eq!(
        list(&s, None, "tier", ""),
        ["default/api-1", "default/web-2", "prod/web-1"]
    );
    assert_eq!(list(&s, None, "", "spec.nodeName=n3"), ["default/web-1"]);
    assert_eq!(list(&s, None, "", "spec.nodeName=n1"), ["default/api-1"]);
    s.delete(Kind::Pod, "default", "api-1", &DeleteOptions::grace(0))
        .unwrap();
    assert_eq!(list(&s, None, "app=api", ""), ["default/web-1"]);
    s.check_indexes().unwrap();
}

#[test]
fn dependents_by_owner_uid() {
    let s = Store::new();
    let owner = s.create(rs("default", "r", 2)).unwrap();
    let uid = owner.meta().uid;
    let oref = OwnerReference {
        kind: Kind::ReplicaSet,
        name: Str::from("r"),
        uid,
        controller: true,
        block_owner_deletion: true,
    };
    for n in ["b", "a"] {
        let mut p = pod("default", n, &[]);
        p.meta_mut().owner_references = vec![oref.clone()].into();
        s.create(p).unwrap();
    }
    let mut c = cm("default", "cfg");
    c.meta_mut().owner_references = vec![oref.clone()].into();
    s.create(c).unwrap();
    s.create(pod("default", "other", &[])).unwrap();
    assert_eq!(
        names(&s.dependents_of(uid)),
        ["default/a", "default/b", "default/cfg"]
    );
    assert_eq!(
        names(&s.dependents_of_kind(Kind::Pod, uid)),
        ["default/a", "default/b"]
    );
    assert_eq!(
        names(&s.dependents_of_kind(Kind::ConfigMap, uid)),
        ["default/cfg"]
    );
    assert!(s.dependents_of_kind(Kind::Service, uid).is_empty());
    // Orphaning: the reference is removed.
    let mut x = (*s.get(Kind::Pod, "default", "a").unwrap()).clone();
    x.meta_mut().owner_references = Default::default();
    s.update(x).unwrap();
    assert_eq!(names(&s.dependents_of(uid)), ["default/b", "default/cfg"]);
    s.delete(Kind::Pod, "default", "b", &DeleteOptions::default())
        .unwrap();
    assert_eq!(names(&s.dependents_of(uid)), ["default/cfg"]);
    assert!(s.dependents_of(Uid(12345)).is_empty());
    s.check_indexes().unwrap();
}

#[test]
fn dependents_when_a_kind_loses_and_regains_its_owned_objects() {
    let s = Store::new();
    s.create(ns("prod")).unwrap();
    let uid = s.create(rs("default", "r", 2)).unwrap().meta().uid;
    let oref = OwnerReference {
        kind: Kind::ReplicaSet,
        name: Str::from("r"),
        uid,
        controller: true,
        block_owner_deletion: true,
    };
    let owned = |ns: &str, name: &str| {
        let mut p = pod(ns, name, &[]);
        p.meta_mut().owner_references = vec![oref.clone()].into();
        p
    };
    // More dependents than the direct-resolve bound, in two namespaces, created out
    // of name order: sorted by (namespace, name) all the same.
    let mut want = Vec::new();
    for i in (0..40).rev() {
        let ns = if i % 3 == 0 { "prod" } else { "default" };
        s.create(owned(ns, &format!("p-{i:02}"))).unwrap();
        want.push(format!("{ns}/p-{i:02}"));
    }
    want.sort();
    assert_eq!(names(&s.dependents_of(uid)), want);
    assert_eq!(names(&s.dependents_of_kind(Kind::Pod, uid)), want);
    s.check_indexes().unwrap();
    // Every dependent gone: the kind has no owner postings left.
    for w in &want {
        let (ns, name) = w.split_once('/').unwrap();
        s.delete(Kind::Pod, ns, name, &DeleteOptions::grace(0))
            .unwrap();
    }
    assert!(s.dependents_of(uid).is_empty());
    s.check_indexes().unwrap();
    // And back.
    s.create(owned("default", "again")).unwrap();
    assert_eq!(names(&s.dependents_of(uid)), ["default/again"]);
    s.check_indexes().unwrap();
}

// ---- watch ----

#[test]
fn watch_delivers_every_event_in_order() {
    let s = Store::new();
    let start = s.resource_version();
    let mut from_start = s.watch(Kind::Pod, start).unwrap();
    let a = s.create(pod("default", "a", &[])).unwrap();
    s.create(cm("default", "c")).unwrap(); // another kind: not in the pod watch
    let mut x = (*a).clone();
    x.meta_mut().labels = labels(&[("k", "v")]);
    let a2 = s.update(x).unwrap();
    s.delete(Kind::Pod, "default", "a", &DeleteOptions::default())
        .unwrap();
    use WatchEventType::*;
    let got = drain(&mut from_start);
    assert_eq!(
        got,
        [
            (Added, "a".into(), start + 1),
            (Modified, "a".into(), start + 3),
            (Deleted, "a".into(), start + 4),
        ]
    );
    assert_eq!(from_start.resource_version(), start + 4);
    assert!(from_start.poll(10).unwrap().is_empty());
    // From a later rv: only the later events. rv 0: everything retained.
    let mut mid = s.watch(Kind::Pod, a2.meta().resource_version).unwrap();
    assert_eq!(drain(&mut mid), [(Deleted, "a".into(), start + 4)]);
    let mut all = s.watch(Kind::Pod, 0).unwrap();
    assert_eq!(drain(&mut all).len(), 3);
    let mut ns = s.watch(Kind::Namespace, 0).unwrap();
    assert_eq!(drain(&mut ns).len(), 2);
    // poll respects max.
    let mut w = s.watch(Kind::Pod, 0).unwrap();
    assert_eq!(w.poll(2).unwrap().len(), 2);
    assert_eq!(w.poll(2).unwrap().len(), 1);
}

/// `has_pending` and `wait_timeout` look at the log without taking events; an
/// expired watcher counts as pending (its next poll reports the expiry).
#[test]
fn waiting_for_events_does_not_take_them() {
    let (s, _) = manual_clock_store(0, 3);
    let w = s.watch(Kind::ConfigMap, s.resource_version()).unwrap();
    assert!(!w.has_pending());
    assert!(!w.wait_timeout(Duration::from_millis(1)));
    s.create(cm("default", "a")).unwrap();
    assert!(w.has_pending());
    assert!(w.wait_timeout(Duration::from_secs(60)));
    let mut w = w;
    assert_eq!(drain(&mut w).len(), 1);
    assert!(!w.has_pending());
    // Woken by a write from another thread.
    std::thread::scope(|scope| {
        scope.spawn(|| s.create(cm("default", "b")).unwrap());
        assert!(w.wait_timeout(Duration::from_secs(60)));
    });
    assert_eq!(drain(&mut w).len(), 1);
    for i in 0..4 {
        s.create(cm("default", &format!("c{i}"))).unwrap();
    }
    assert!(w.has_pending());
    assert!(w.wait_timeout(Duration::ZERO));
    assert!(w.poll(1).unwrap_err().is_expired());
}

#[test]
fn too_old_watches_expire() {
    let (s, _) = manual_clock_store(0, 3);
    for i in 0..5 {
        s.create(cm("default", &format!("c{i}"))).unwrap();
    }
    // rv 3..=7 are the five creates; the window keeps 5, 6, 7.
    let e = s.watch(Kind::ConfigMap, 3).unwrap_err();
    assert_eq!(
        e,
        Error::Expired {
            requested: 3,
            oldest: 4
        }
    );
    assert!(e.is_expired());
    assert_eq!(e.to_string(), "too old resource version: 3 (4)");
    let mut w = s.watch(Kind::ConfigMap, 4).unwrap();
    assert_eq!(drain(&mut w).len(), 3);
    // rv 0 starts at the oldest retained event.
    let mut w0 = s.watch(Kind::ConfigMap, 0).unwrap();
    assert_eq!(
        drain(&mut w0).iter().map(|e| e.2).collect::<Vec<_>>(),
        [5, 6, 7]
    );

    // A watcher that falls behind the window gets Expired, and stays expired.
    let mut slow = s.watch(Kind::ConfigMap, s.resource_version()).unwrap();
    for i in 5..9 {
        s.create(cm("default", &format!("c{i}"))).unwrap();
    }
    let e = slow.poll(1).unwrap_err();
    assert_eq!(
        e,
        Error::Expired {
            requested: 7,
            oldest: 8
        }
    );
    assert!(slow.poll(1).is_err());
    assert!(slow.next_timeout(Duration::ZERO).is_err());
    s.check_indexes().unwrap();
}

#[test]
fn a_small_window_frees_old_versions() {
    let (s, _) = manual_clock_store(0, 2);
    let v1 = s.create(cm("default", "c")).unwrap();
    let weak: Weak<Object> = Arc::downgrade(&v1);
    drop(v1);
    s.delete(Kind::ConfigMap, "default", "c", &DeleteOptions::default())
        .unwrap();
    assert!(weak.upgrade().is_some(), "the ADDED event still holds it");
    s.create(cm("default", "d")).unwrap();
    s.create(cm("default", "e")).unwrap();
    assert!(weak.upgrade().is_none(), "evicted from the window: freed");
    assert_eq!(s.stats().watch_events, 2 + 2 /* namespaces */);
}

#[test]
fn next_timeout_waits_for_a_writer() {
    let s = Store::new();
    let mut w = s.watch(Kind::Pod, s.resource_version()).unwrap();
    assert!(w.next_timeout(Duration::ZERO).unwrap().is_none());
    let s2 = s.clone();
    let waiter = std::thread::spawn(move || w.next_timeout(Duration::from_secs(600)).unwrap());
    s2.create(pod("default", "a", &[])).unwrap();
    let ev = waiter.join().unwrap().expect("woken by the create");
    assert_eq!(ev.object.name().as_str(), "a");
    assert_eq!(ev.type_, WatchEventType::Added);
}

#[test]
fn store_handles_are_send_sync_and_shared() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
    assert_send_sync::<Watcher>();
    let s = Store::new();
    let t = s.clone();
    t.create(pod("default", "a", &[])).unwrap();
    assert!(s.try_get(Kind::Pod, "default", "a").is_some());
    let st = s.stats();
    assert_eq!(st.objects, 3);
    assert!(st.table_bytes > 0 && st.index_bytes > 0);
}

#[test]
fn slots_are_reused_and_indexes_stay_exact() {
    let s = Store::new();
    for round in 0..3 {
        for i in 0..300 {
            let mut p = pod(
                "default",
                &format!("r{round}-{i}"),
                &[("round", &round.to_string()), ("i", &i.to_string())],
            );
            p.as_pod_mut().unwrap().node_name = (i % 3 == 0).then(|| Str::from("n"));
            s.create(p).unwrap();
        }
        for i in 0..300 {
            s.delete(
                Kind::Pod,
                "default",
                &format!("r{round}-{i}"),
                &DeleteOptions::grace(0),
            )
            .unwrap();
        }
        s.check_indexes().unwrap();
    }
    assert_eq!(s.count(Kind::Pod), 0);
    assert!(s
        .list(Kind::Pod, None, Some(&sel("round")), None)
        .unwrap()
        .is_empty());
    // Slots were reused: the slot vectors did not grow past one round's worth.
    let slots: usize = s
        .ks(Kind::Pod)
        .shards
        .iter()
        .map(|sh| sh.read().objects().count())
        .sum();
    assert_eq!(slots, 0);
    let table = s.stats().table_bytes;
    for i in 0..300 {
        s.create(pod("default", &format!("r0-{i}"), &[])).unwrap();
    }
    assert_eq!(s.stats().table_bytes, table);
}

// ---- bind (pods/binding) ----

#[test]
fn bind_is_one_write_setting_node_and_scheduled() {
    let (s, clock) = manual_clock_store(1, 1 << 10);
    let created = s.create(pod("default", "web", &[])).unwrap();
    let mut w = s.watch(Kind::Pod, s.resource_version()).unwrap();
    clock.advance(Duration::from_secs(3));
    let rv_before = s.resource_version();
    let bound = s.bind(&Binding::of(created.meta(), "n1")).unwrap();
    // One resourceVersion, one event, carrying both changes.
    assert_eq!(s.resource_version(), rv_before + 1);
    assert_eq!(bound.meta().resource_version, rv_before + 1);
    let evs = w.poll(usize::MAX).unwrap();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].type_, WatchEventType::Modified);
    let p = evs[0].object.as_pod().unwrap();
    assert_eq!(p.node_name.as_deref(), Some("n1"));
    assert_eq!(
        p.status.conditions.scheduled.status,
        Some(ConditionStatus::True)
    );
    assert_eq!(p.status.conditions.scheduled.since, clock.now());
    // nodeName is spec: generation bumps; the rest is kept.
    assert_eq!(p.meta.generation, created.meta().generation + 1);
    assert_eq!(p.meta.uid, created.meta().uid);
    // The node index follows.
    let on = FieldSelector::eq(Field::NodeName, "n1");
    assert_eq!(
        names(&s.list(Kind::Pod, None, None, Some(&on)).unwrap()),
        ["default/web"]
    );
    let unbound = FieldSelector::eq(Field::NodeName, "");
    assert!(s
        .list(Kind::Pod, None, None, Some(&unbound))
        .unwrap()
        .is_empty());
    s.check_indexes().unwrap();
}

#[test]
fn bind_clears_the_unschedulable_message() {
    let (s, clock) = manual_clock_store(1, 1 << 10);
    let created = s.create(pod("default", "web", &[])).unwrap();
    let mut pending = (*created).clone();
    {
        let st = &mut pending.as_pod_mut().unwrap().status;
        st.conditions
            .scheduled
            .set(ConditionStatus::False, clock.now());
        st.reason = Some(Str::from("0/1 nodes are available: 1 Insufficient cpu."));
    }
    s.update_status(pending).unwrap();
    clock.advance(Duration::from_secs(1));
    let bound = s.bind(&Binding::new("default", "web", "n1")).unwrap();
    let st = &bound.as_pod().unwrap().status;
    assert_eq!(st.reason, None);
    assert_eq!(st.conditions.scheduled.status, Some(ConditionStatus::True));
    assert_eq!(st.conditions.scheduled.since, clock.now());
}

#[test]
fn bind_conflicts_when_bound_deleting_or_stale() {
    let s = Store::new();
    // Already bound: a conflict naming the node, and nothing written.
    s.create(bound_pod("default", "a", "n1")).unwrap();
    let rv = s.resource_version();
    let e = s.bind(&Binding::new("default", "a", "n2")).unwrap_err();
    assert!(e.is_conflict());
    assert_eq!(
        e.to_string(),
        "Operation cannot be fulfilled on pods/binding \"a\": pod a is already assigned to node \"n1\""
    );
    assert_eq!(s.resource_version(), rv);
    // Being deleted (held by a finalizer).
    let mut p = pod("default", "b", &[]);
    p.meta_mut().finalizers = vec![Str::from("example.com/hold")].into();
    s.create(p).unwrap();
    s.delete(Kind::Pod, "default", "b", &DeleteOptions::default())
        .unwrap();
    let e = s.bind(&Binding::new("default", "b", "n1")).unwrap_err();
    assert!(e.is_conflict());
    assert!(e
        .to_string()
        .ends_with("pod b is being deleted, cannot be assigned to a host"));
    // Stale resourceVersion, other uid.
    let c = s.create(pod("default", "c", &[])).unwrap();
    let mut stale = Binding::of(c.meta(), "n1");
    let mut relabeled = (*c).clone();
    relabeled.meta_mut().labels = labels(&[("x", "y")]);
    s.update(relabeled).unwrap();
    assert!(s.bind(&stale).unwrap_err().is_conflict());
    stale.resource_version = 0;
    stale.uid = Uid(c.meta().uid.0 ^ 1);
    assert!(s.bind(&stale).unwrap_err().is_conflict());
    stale.uid = c.meta().uid;
    assert!(s.bind(&stale).is_ok());
    // Missing pod, empty node.
    assert!(s
        .bind(&Binding::new("default", "zz", "n1"))
        .unwrap_err()
        .is_not_found());
    let d = s.create(pod("default", "d", &[])).unwrap();
    assert!(matches!(
        s.bind(&Binding::of(d.meta(), "")),
        Err(Error::Invalid { .. })
    ));
    s.check_indexes().unwrap();
}

#[test]
fn concurrent_binds_of_one_pod_exactly_one_wins() {
    let s = Store::new();
    s.create(pod("default", "p", &[])).unwrap();
    let wins = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (s, wins) = (&s, &wins);
            scope.spawn(
                move || match s.bind(&Binding::new("default", "p", &format!("n{t}"))) {
                    Ok(_) => {
                        wins.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => assert!(e.is_conflict(), "{e}"),
                },
            );
        }
    });
    assert_eq!(wins.into_inner(), 1);
    s.check_indexes().unwrap();
}
