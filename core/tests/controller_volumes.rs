//! The PV controller ([`kubesim_core::controllers::volumes`]) in virtual time: smallest
//! fit, access mode / class / selector mismatches, pre-bound claims, no double binding
//! in one round, default-class provisioning, WaitForFirstConsumer, reclaim policies,
//! lost volumes, the kubia-pvs seed manifest, re-use across pod re-creation,
//! determinism.

use std::path::Path;
use std::sync::Arc;

use kubesim_core::controllers::volumes::{
    provisioned_name, VolumeBinder, ANNOTATION_PROVISIONED_BY, CONTROLLER_NAME, NO_VOLUME_NO_CLASS,
    PROVISIONER,
};
use kubesim_core::intern::{intern, StrMap};
use kubesim_core::model::{
    AccessMode, Container, EventType, Kind, Object, ObjectMeta, PersistentVolume,
    PersistentVolumeClaim, Pod, PodSpec, PvPhase, PvSpec, PvStatus, PvcPhase, PvcSpec, PvcStatus,
    ReclaimPolicy, Resources, StorageClass, Volume, VolumeBindingMode, VolumeSource,
    ANNOTATION_DEFAULT_CLASS,
};
use kubesim_core::runtime::{virtual_store, Controller, SimConfig, Simulation};
use kubesim_core::selector::LabelSelector;
use kubesim_core::store::{DeleteOptions, Store};

const GI: i64 = 1 << 30;
const RWO: AccessMode = AccessMode::ReadWriteOnce;

fn pv(name: &str, gi: i64, modes: &[AccessMode], class: Option<&str>) -> PersistentVolume {
    PersistentVolume {
        meta: ObjectMeta::named("", name),
        spec: PvSpec {
            capacity_bytes: gi * GI,
            access_modes: modes.to_vec(),
            storage_class_name: class.map(intern),
            reclaim_policy: ReclaimPolicy::Retain,
            claim_ref: None,
            host_path: None,
        },
        status: PvStatus::default(),
    }
}

fn with_policy(mut v: PersistentVolume, policy: ReclaimPolicy) -> PersistentVolume {
    v.spec.reclaim_policy = policy;
    v
}

fn claim(name: &str, gi: i64, modes: &[AccessMode], class: Option<&str>) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        meta: ObjectMeta::named("default", name),
        spec: PvcSpec {
            access_modes: modes.to_vec(),
            request_bytes: gi * GI,
            storage_class_name: class.map(intern),
            volume_name: None,
            selector: None,
        },
        status: PvcStatus::default(),
    }
}

fn class(name: &str, default: bool, mode: VolumeBindingMode) -> StorageClass {
    let mut meta = ObjectMeta::named("", name);
    if default {
        meta.annotations = meta.annotations.with(ANNOTATION_DEFAULT_CLASS, "true");
    }
    StorageClass {
        meta,
        provisioner: intern(PROVISIONER),
        reclaim_policy: ReclaimPolicy::Delete,
        volume_binding_mode: mode,
        allow_volume_expansion: false,
    }
}

fn pod_using(name: &str, claim: &str) -> Object {
    Object::from(Pod {
        meta: ObjectMeta::named("default", name),
        spec: Arc::new(PodSpec {
            containers: vec![Container {
                name: intern("app"),
                image: intern("nginx:1.25"),
                image_pull_policy: Default::default(),
                command: vec![],
                args: vec![],
                ports: vec![],
                requests: Resources::default(),
                limits: Resources::default(),
                readiness_probe: None,
                liveness_probe: None,
                pre_stop: None,
            }],
            volumes: vec![Volume {
                name: intern("data"),
                source: VolumeSource::PersistentVolumeClaim(intern(claim)),
            }],
            ..Default::default()
        }),
        node_name: None,
        status: Default::default(),
    })
}

fn setup(seed: u64, threads: usize) -> (Store, Simulation) {
    let (store, clock) = virtual_store(seed);
    let controllers: Vec<Arc<dyn Controller>> = vec![Arc::new(VolumeBinder::new())];
    let mut config = SimConfig::new(seed);
    config.threads = threads;
    let sim = Simulation::new(store.clone(), clock, controllers, config).unwrap();
    (store, sim)
}

fn create(store: &Store, obj: impl Into<Object>) {
    store.create(obj.into()).unwrap();
}

fn get_pv(store: &Store, name: &str) -> Option<PersistentVolume> {
    store
        .try_get(Kind::PersistentVolume, "", name)
        .map(|o| o.as_persistent_volume().unwrap().clone())
}

fn get_claim(store: &Store, name: &str) -> PersistentVolumeClaim {
    store
        .get(Kind::PersistentVolumeClaim, "default", name)
        .unwrap()
        .as_pvc()
        .unwrap()
        .clone()
}

fn delete_claim(store: &Store, name: &str) {
    store
        .delete(
            Kind::PersistentVolumeClaim,
            "default",
            name,
            &DeleteOptions::default(),
        )
        .unwrap();
}

/// Asserts `claim` is Bound to `volume` on both sides (claimRef with the claim's uid).
fn assert_bound(store: &Store, claim: &str, volume: &str) {
    let c = get_claim(store, claim);
    let v = get_pv(store, volume).unwrap_or_else(|| panic!("no volume {volume}"));
    assert_eq!(c.status.phase, PvcPhase::Bound, "{claim} not Bound");
    assert_eq!(c.spec.volume_name.as_deref(), Some(volume), "{claim}");
    assert_eq!(c.status.capacity_bytes, Some(v.spec.capacity_bytes));
    assert_eq!(c.status.access_modes, v.spec.access_modes);
    assert_eq!(v.status.phase, PvPhase::Bound, "{volume} not Bound");
    let r = v.spec.claim_ref.expect("claimRef");
    assert_eq!((r.namespace.as_str(), r.name.as_str()), ("default", claim));
    assert_eq!(r.uid, Some(c.meta.uid));
}

fn assert_pending(store: &Store, claim: &str) {
    let c = get_claim(store, claim);
    assert_eq!(
        c.status.phase,
        PvcPhase::Pending,
        "{claim} should be Pending"
    );
    assert_eq!(c.spec.volume_name, None);
}

/// Events about an object: (type, reason, message).
fn events_of(store: &Store, name: &str) -> Vec<(EventType, String, String)> {
    store
        .list(Kind::Event, None, None, None)
        .unwrap()
        .iter()
        .filter_map(|o| match &**o {
            Object::Event(e) if e.involved_object.name.as_str() == name => {
                Some((e.type_, e.reason.to_string(), e.message.to_string()))
            }
            _ => None,
        })
        .collect()
}

fn pv_names(store: &Store) -> Vec<String> {
    store
        .list(Kind::PersistentVolume, None, None, None)
        .unwrap()
        .iter()
        .map(|o| o.name().to_string())
        .collect()
}

#[test]
fn smallest_fitting_volume_wins() {
    let (store, mut sim) = setup(1, 1);
    create(&store, pv("big", 10, &[RWO], None));
    create(&store, pv("medium", 5, &[RWO], None));
    create(&store, pv("small", 1, &[RWO], None));
    create(&store, claim("data", 2, &[RWO], None));
    sim.run_until_idle();
    assert_bound(&store, "data", "medium");
    for free in ["big", "small"] {
        let v = get_pv(&store, free).unwrap();
        assert_eq!(v.status.phase, PvPhase::Available);
        assert_eq!(v.spec.claim_ref, None);
    }
}

#[test]
fn access_mode_and_class_mismatches_are_skipped() {
    let (store, mut sim) = setup(2, 1);
    create(&store, pv("a-rox", 2, &[AccessMode::ReadOnlyMany], None));
    create(&store, pv("b-fast", 2, &[RWO], Some("fast")));
    create(
        &store,
        pv("c-ok", 8, &[RWO, AccessMode::ReadOnlyMany], None),
    );
    create(&store, claim("plain", 2, &[RWO], None));
    create(&store, claim("fast", 1, &[RWO], Some("fast")));
    sim.run_until_idle();
    assert_bound(&store, "plain", "c-ok");
    assert_bound(&store, "fast", "b-fast");
    assert_eq!(
        get_pv(&store, "a-rox").unwrap().status.phase,
        PvPhase::Available
    );
    // A claim asking for ReadWriteMany finds nothing.
    create(
        &store,
        claim("rwx", 1, &[AccessMode::ReadWriteMany], Some("")),
    );
    sim.run_until_idle();
    assert_pending(&store, "rwx");
}

#[test]
fn selector_restricts_candidates() {
    let (store, mut sim) = setup(3, 1);
    create(&store, pv("a-plain", 1, &[RWO], None));
    let mut gold = pv("z-gold", 9, &[RWO], None);
    gold.meta.labels = StrMap::from_iter([("tier", "gold")]);
    create(&store, gold);
    let mut c = claim("picky", 1, &[RWO], None);
    c.spec.selector = Some(LabelSelector {
        match_labels: StrMap::from_iter([("tier", "gold")]),
        match_expressions: vec![],
    });
    create(&store, c);
    sim.run_until_idle();
    assert_bound(&store, "picky", "z-gold");
    assert_eq!(
        get_pv(&store, "a-plain").unwrap().status.phase,
        PvPhase::Available
    );
}

#[test]
fn pre_bound_claim_gets_its_volume_or_waits() {
    let (store, mut sim) = setup(4, 1);
    create(&store, pv("big", 10, &[RWO], None));
    create(&store, pv("small", 2, &[RWO], None));
    let mut c = claim("wants-big", 1, &[RWO], None);
    c.spec.volume_name = Some(intern("big"));
    create(&store, c);
    let mut missing = claim("wants-missing", 1, &[RWO], None);
    missing.spec.volume_name = Some(intern("nope"));
    create(&store, missing);
    sim.run_until_idle();
    assert_bound(&store, "wants-big", "big");
    let c = get_claim(&store, "wants-missing");
    assert_eq!(c.status.phase, PvcPhase::Pending);
    assert!(
        events_of(&store, "wants-missing")
            .iter()
            .any(|(t, r, m)| *t == EventType::Warning
                && r == "FailedBinding"
                && m.contains("\"nope\" not found")),
        "{:?}",
        events_of(&store, "wants-missing")
    );
    // The small volume was not taken by the pre-bound claims.
    assert_eq!(
        get_pv(&store, "small").unwrap().status.phase,
        PvPhase::Available
    );
}

#[test]
fn two_claims_in_one_round_never_share_a_volume() {
    let (store, mut sim) = setup(5, 2);
    create(&store, pv("only", 5, &[RWO], None));
    create(&store, claim("first", 1, &[RWO], None));
    create(&store, claim("second", 1, &[RWO], None));
    // Everything is there before the first round: both claims are handled in it.
    sim.run_until_idle();
    assert_bound(&store, "first", "only");
    assert_pending(&store, "second");
    assert!(events_of(&store, "second")
        .iter()
        .any(|(t, r, m)| *t == EventType::Normal
            && r == "FailedBinding"
            && m == NO_VOLUME_NO_CLASS));
}

#[test]
fn many_claims_many_volumes_are_bound_one_to_one() {
    let (store, mut sim) = setup(6, 2);
    for i in 0..6 {
        create(&store, pv(&format!("pv-{i}"), 1 + i, &[RWO], None));
    }
    for i in 0..8 {
        create(&store, claim(&format!("c-{i}"), 1, &[RWO], None));
    }
    sim.run_until_idle();
    let mut used = Vec::new();
    for i in 0..8 {
        let c = get_claim(&store, &format!("c-{i}"));
        if i < 6 {
            // In creation order, each takes the smallest volume left.
            assert_bound(&store, &format!("c-{i}"), &format!("pv-{i}"));
            used.push(c.spec.volume_name.unwrap());
        } else {
            assert_eq!(c.status.phase, PvcPhase::Pending);
        }
    }
    used.sort();
    used.dedup();
    assert_eq!(used.len(), 6);
}

#[test]
fn default_class_provisions_and_binds() {
    let (store, mut sim) = setup(7, 1);
    create(
        &store,
        class("standard", true, VolumeBindingMode::Immediate),
    );
    create(&store, pv("classless", 50, &[RWO], None));
    create(&store, claim("data", 3, &[RWO], None));
    sim.run_until_idle();
    let c = get_claim(&store, "data");
    let name = provisioned_name(&c);
    assert!(name.starts_with("pvc-"));
    assert_bound(&store, "data", &name);
    let v = get_pv(&store, &name).unwrap();
    assert_eq!(v.spec.capacity_bytes, 3 * GI);
    assert_eq!(v.spec.access_modes, vec![RWO]);
    assert_eq!(v.spec.storage_class_name.as_deref(), Some("standard"));
    assert_eq!(v.spec.reclaim_policy, ReclaimPolicy::Delete);
    assert_eq!(
        v.meta
            .annotations
            .get(ANNOTATION_PROVISIONED_BY)
            .map(|s| s.as_str()),
        Some(PROVISIONER)
    );
    // The class-less volume does not match the default class.
    assert_eq!(
        get_pv(&store, "classless").unwrap().status.phase,
        PvPhase::Available
    );
    assert!(events_of(&store, "data")
        .iter()
        .any(|(_, r, _)| r == "ProvisioningSucceeded"));
    // Deleting the claim deletes the provisioned volume (class policy Delete).
    delete_claim(&store, "data");
    sim.run_until_idle();
    assert!(get_pv(&store, &name).is_none());
    assert_eq!(pv_names(&store), vec!["classless".to_string()]);
}

#[test]
fn explicit_empty_class_ignores_the_default_class() {
    let (store, mut sim) = setup(8, 1);
    create(
        &store,
        class("standard", true, VolumeBindingMode::Immediate),
    );
    create(&store, pv("classless", 5, &[RWO], None));
    create(&store, claim("data", 1, &[RWO], Some("")));
    sim.run_until_idle();
    assert_bound(&store, "data", "classless");
    assert_eq!(pv_names(&store), vec!["classless".to_string()]);
}

#[test]
fn no_default_class_stays_pending_with_an_event() {
    let (store, mut sim) = setup(9, 1);
    create(&store, class("fast", false, VolumeBindingMode::Immediate));
    create(&store, pv("tiny", 1, &[RWO], None));
    create(&store, claim("data", 2, &[RWO], None));
    sim.run_until_idle();
    assert_pending(&store, "data");
    assert_eq!(pv_names(&store), vec!["tiny".to_string()]);
    let events = events_of(&store, "data");
    assert!(
        events.iter().any(|(t, r, m)| *t == EventType::Normal
            && r == "FailedBinding"
            && m == NO_VOLUME_NO_CLASS),
        "{events:?}"
    );
    // A claim naming a class that does not exist cannot be provisioned either.
    create(&store, claim("ghost", 1, &[RWO], Some("ghost")));
    sim.run_until_idle();
    assert_pending(&store, "ghost");
    assert!(events_of(&store, "ghost")
        .iter()
        .any(|(t, r, _)| *t == EventType::Warning && r == "ProvisioningFailed"));
    // Once a fitting volume appears, the waiting claim binds.
    create(&store, pv("later", 2, &[RWO], None));
    sim.run_until_idle();
    assert_bound(&store, "data", "later");
}

#[test]
fn wait_for_first_consumer_provisions_once_a_pod_uses_the_claim() {
    let (store, mut sim) = setup(10, 1);
    create(
        &store,
        class("standard", true, VolumeBindingMode::WaitForFirstConsumer),
    );
    create(&store, claim("data", 1, &[RWO], None));
    sim.run_until_idle();
    assert_pending(&store, "data");
    assert!(pv_names(&store).is_empty());
    assert!(events_of(&store, "data")
        .iter()
        .any(|(_, r, _)| r == "WaitForFirstConsumer"));
    store.create(pod_using("web-0", "data")).unwrap();
    sim.run_until_idle();
    let c = get_claim(&store, "data");
    assert_bound(&store, "data", &provisioned_name(&c));
}

#[test]
fn retain_releases_the_volume_for_good() {
    let (store, mut sim) = setup(11, 1);
    create(&store, pv("keep", 1, &[RWO], None));
    create(&store, claim("data", 1, &[RWO], None));
    sim.run_until_idle();
    assert_bound(&store, "data", "keep");
    let old_uid = get_claim(&store, "data").meta.uid;
    delete_claim(&store, "data");
    sim.run_until_idle();
    let v = get_pv(&store, "keep").unwrap();
    assert_eq!(v.status.phase, PvPhase::Released);
    assert_eq!(v.spec.claim_ref.and_then(|r| r.uid), Some(old_uid));
    // A new claim of the same name is a different claim: the volume stays Released.
    create(&store, claim("data", 1, &[RWO], None));
    sim.run_until_idle();
    assert_pending(&store, "data");
    assert_eq!(
        get_pv(&store, "keep").unwrap().status.phase,
        PvPhase::Released
    );
}

#[test]
fn delete_policy_deletes_the_volume() {
    let (store, mut sim) = setup(12, 1);
    create(
        &store,
        with_policy(pv("gone", 1, &[RWO], None), ReclaimPolicy::Delete),
    );
    create(&store, pv("other", 1, &[RWO], None));
    create(&store, claim("data", 1, &[RWO], None));
    sim.run_until_idle();
    assert_bound(&store, "data", "gone");
    delete_claim(&store, "data");
    sim.run_until_idle();
    assert_eq!(pv_names(&store), vec!["other".to_string()]);
}

#[test]
fn recycle_makes_the_volume_available_again() {
    let (store, mut sim) = setup(13, 1);
    create(
        &store,
        with_policy(pv("reuse", 1, &[RWO], None), ReclaimPolicy::Recycle),
    );
    create(&store, claim("first", 1, &[RWO], None));
    sim.run_until_idle();
    assert_bound(&store, "first", "reuse");
    delete_claim(&store, "first");
    sim.run_until_idle();
    let v = get_pv(&store, "reuse").unwrap();
    assert_eq!(v.status.phase, PvPhase::Available);
    assert_eq!(v.spec.claim_ref, None);
    create(&store, claim("second", 1, &[RWO], None));
    sim.run_until_idle();
    assert_bound(&store, "second", "reuse");
}

#[test]
fn claim_whose_volume_vanishes_is_lost() {
    let (store, mut sim) = setup(14, 1);
    create(&store, pv("v", 1, &[RWO], None));
    create(&store, claim("data", 1, &[RWO], None));
    sim.run_until_idle();
    assert_bound(&store, "data", "v");
    store
        .delete(Kind::PersistentVolume, "", "v", &DeleteOptions::default())
        .unwrap();
    sim.run_until_idle();
    assert_eq!(get_claim(&store, "data").status.phase, PvcPhase::Lost);
    assert!(events_of(&store, "data")
        .iter()
        .any(|(t, r, _)| *t == EventType::Warning && r == "ClaimLost"));
}

#[test]
fn kubia_pvs_manifest_binds_three_claims() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/scenarios/manifests/kubia-pvs.yaml");
    let objs = kubesim_core::manifest::load_file(&path).unwrap();
    assert_eq!(objs.len(), 3);
    let (store, mut sim) = setup(15, 1);
    for o in objs {
        store.create(o).unwrap();
    }
    for i in 0..3 {
        let mut c = claim(&format!("data-kubia-{i}"), 1, &[RWO], None);
        c.spec.request_bytes = 1 << 20;
        create(&store, c);
    }
    sim.run_until_idle();
    for (i, v) in ["pv-a", "pv-b", "pv-c"].iter().enumerate() {
        assert_bound(&store, &format!("data-kubia-{i}"), v);
        assert_eq!(
            get_pv(&store, v).unwrap().spec.reclaim_policy,
            ReclaimPolicy::Recycle
        );
    }
}

#[test]
fn claim_stays_bound_across_pod_recreation() {
    let (store, mut sim) = setup(16, 1);
    create(
        &store,
        class("standard", true, VolumeBindingMode::Immediate),
    );
    create(&store, claim("data-kubia-0", 1, &[RWO], None));
    sim.run_until_idle();
    let c = get_claim(&store, "data-kubia-0");
    let volume = provisioned_name(&c);
    assert_bound(&store, "data-kubia-0", &volume);
    // The StatefulSet scales down (pod deleted, claim kept) and up (pod recreated).
    store.create(pod_using("kubia-0", "data-kubia-0")).unwrap();
    sim.run_until_idle();
    store
        .delete(
            Kind::Pod,
            "default",
            "kubia-0",
            &DeleteOptions {
                grace_period_seconds: Some(0),
                ..Default::default()
            },
        )
        .unwrap();
    sim.run_until_idle();
    store.create(pod_using("kubia-0", "data-kubia-0")).unwrap();
    sim.run_until_idle();
    assert_bound(&store, "data-kubia-0", &volume);
    assert_eq!(get_claim(&store, "data-kubia-0").meta.uid, c.meta.uid);
    assert_eq!(pv_names(&store), vec![volume]);
}

/// (claim, phase, volume) for every claim and (volume, phase, claim) for every volume.
fn snapshot(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for o in store
        .list(Kind::PersistentVolumeClaim, None, None, None)
        .unwrap()
    {
        let c = o.as_pvc().unwrap();
        out.push(format!(
            "claim {} {:?} {:?}",
            c.meta.name, c.status.phase, c.spec.volume_name
        ));
    }
    for o in store
        .list(Kind::PersistentVolume, None, None, None)
        .unwrap()
    {
        let v = o.as_persistent_volume().unwrap();
        out.push(format!(
            "pv {} {:?} {:?} rv={}",
            v.meta.name,
            v.status.phase,
            v.spec.claim_ref.as_ref().map(|r| r.name.clone()),
            v.meta.resource_version
        ));
    }
    out
}

fn mixed_run(threads: usize) -> Vec<String> {
    let (store, mut sim) = setup(42, threads);
    create(
        &store,
        class("standard", true, VolumeBindingMode::Immediate),
    );
    for i in 0..5 {
        create(
            &store,
            pv(&format!("pv-{i}"), 1 + i % 3, &[RWO], Some("standard")),
        );
    }
    for i in 0..9 {
        create(&store, claim(&format!("c-{i}"), 1 + i % 4, &[RWO], None));
    }
    sim.run_until_idle();
    delete_claim(&store, "c-0");
    sim.run_until_idle();
    snapshot(&store)
}

#[test]
fn runs_are_deterministic() {
    let a = mixed_run(1);
    let b = mixed_run(1);
    let c = mixed_run(4);
    assert_eq!(a, b);
    assert_eq!(a, c);
    // Every claim ended up Bound (static or provisioned), except the deleted one.
    assert_eq!(a.iter().filter(|l| l.contains("Bound")).count(), 8 + 8);
    assert_eq!(CONTROLLER_NAME, "persistentvolume-controller");
}
