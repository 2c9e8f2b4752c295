//! Services in virtual time ([`kubesim_core::controllers::endpoints`]): cluster IP,
//! node port and LoadBalancer allocation (uniqueness, requested values, conflicts,
//! headless), Endpoints (ready / not ready, named target ports, transitions, deletion,
//! selector-less Services left alone), EndpointSlices (100 per slice, terminating
//! conditions, owner, labels, cleanup, mirroring of hand-written Endpoints),
//! determinism.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use kubesim_core::controllers::endpoints::{
    is_placeholder, EndpointSliceController, EndpointsController, ServiceAllocator,
    ENDPOINTSLICE_NAME, MIRRORING_NAME, REASON_FAILED_ALLOCATION,
};
use kubesim_core::intern::{intern, StrMap};
use kubesim_core::model::{
    ClusterIp, ConditionStatus, Container, ContainerPort, EndpointAddress, EndpointPort,
    EndpointSlice, EndpointSubset, Endpoints, EventType, IntOrString, Kind, Object, ObjectMeta,
    Pod, PodCondition, PodSpec, Protocol, Service, ServicePort, ServiceSpec, ServiceType,
    LABEL_MANAGED_BY, LABEL_SERVICE_NAME,
};
use kubesim_core::runtime::{virtual_store, Controller, SimConfig, Simulation};
use kubesim_core::store::{DeleteOptions, Store};
use kubesim_core::time::{ManualClock, Timestamp};

fn sim(store: &Store, clock: Arc<ManualClock>, seed: u64) -> Simulation {
    let controllers: Vec<Arc<dyn Controller>> = vec![
        Arc::new(ServiceAllocator::new()),
        Arc::new(EndpointsController::new()),
        Arc::new(EndpointSliceController::new()),
    ];
    Simulation::new(store.clone(), clock, controllers, SimConfig::new(seed)).unwrap()
}

fn port(name: Option<&str>, port: i32, target: IntOrString) -> ServicePort {
    ServicePort {
        name: name.map(intern),
        protocol: Protocol::Tcp,
        port,
        target_port: target,
        node_port: None,
    }
}

fn service(name: &str, type_: ServiceType, selector: &[(&str, &str)]) -> Service {
    Service {
        meta: ObjectMeta {
            labels: StrMap::from_pairs([("app", name)]),
            ..ObjectMeta::named("default", name)
        },
        spec: ServiceSpec {
            type_,
            selector: StrMap::from_pairs(selector.iter().copied()),
            ports: vec![port(Some("http"), 80, IntOrString::Int(8080))],
            ..Default::default()
        },
        status: Default::default(),
    }
}

fn create_svc(store: &Store, svc: Service) {
    store.create(Object::from(svc)).unwrap();
}

fn get_svc(store: &Store, name: &str) -> Service {
    store
        .get(Kind::Service, "default", name)
        .unwrap()
        .as_service()
        .unwrap()
        .clone()
}

fn cluster_ip(store: &Store, name: &str) -> ClusterIp {
    get_svc(store, name).spec.cluster_ip
}

/// Creates a bound pod with an IP; Ready when `ready`.
fn make_pod(store: &Store, name: &str, labels: &[(&str, &str)], ip: Ipv4Addr, ready: bool) {
    make_pod_with(store, name, labels, ip, ready, vec![]);
}

fn make_pod_with(
    store: &Store,
    name: &str,
    labels: &[(&str, &str)],
    ip: Ipv4Addr,
    ready: bool,
    ports: Vec<ContainerPort>,
) {
    let pod = Pod {
        meta: ObjectMeta {
            labels: StrMap::from_pairs(labels.iter().copied()),
            ..ObjectMeta::named("default", name)
        },
        spec: Arc::new(PodSpec {
            containers: vec![Container {
                name: intern("app"),
                image: intern("nginx:1.25"),
                image_pull_policy: Default::default(),
                command: vec![],
                args: vec![],
                ports,
                requests: Default::default(),
                limits: Default::default(),
                readiness_probe: None,
                liveness_probe: None,
                pre_stop: None,
            }],
            ..Default::default()
        }),
        node_name: Some(intern("node-1")),
        status: Default::default(),
    };
    let created = store.create(Object::from(pod)).unwrap();
    let mut p = created.as_pod().unwrap().clone();
    p.status.pod_ip = Some(ip);
    if ready {
        p.status.conditions.ready = PodCondition::new(ConditionStatus::True, Timestamp(0));
    }
    store.update_status(Object::from(p)).unwrap();
}

fn set_ready(store: &Store, name: &str, ready: bool) {
    let mut p = store
        .get(Kind::Pod, "default", name)
        .unwrap()
        .as_pod()
        .unwrap()
        .clone();
    p.status.conditions.ready = PodCondition::new(ConditionStatus::from_bool(ready), Timestamp(0));
    store.update_status(Object::from(p)).unwrap();
}

fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, 0, n)
}

fn endpoints(store: &Store, name: &str) -> Option<Endpoints> {
    store
        .try_get(Kind::Endpoints, "default", name)
        .map(|o| o.as_endpoints().unwrap().clone())
}

fn names(addrs: &[EndpointAddress]) -> Vec<String> {
    let mut v: Vec<String> = addrs
        .iter()
        .map(|a| a.target_ref.as_ref().unwrap().name.to_string())
        .collect();
    v.sort();
    v
}

fn slices(store: &Store, svc: &str) -> Vec<EndpointSlice> {
    store
        .list(Kind::EndpointSlice, Some("default"), None, None)
        .unwrap()
        .iter()
        .map(|o| o.as_endpoint_slice().unwrap().clone())
        .filter(|s| s.meta.labels.get(LABEL_SERVICE_NAME).map(|x| x.as_str()) == Some(svc))
        .collect()
}

fn warnings_of(store: &Store, name: &str) -> Vec<String> {
    store
        .list(Kind::Event, None, None, None)
        .unwrap()
        .iter()
        .filter_map(|o| match &**o {
            Object::Event(e)
                if e.involved_object.name.as_str() == name
                    && e.type_ == EventType::Warning
                    && e.reason.as_str() == REASON_FAILED_ALLOCATION =>
            {
                Some(e.message.to_string())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn cluster_ips_are_unique_in_range_and_skip_the_reserved_ones() {
    let (store, clock) = virtual_store(1);
    let mut s = sim(&store, clock, 1);
    for i in 0..20 {
        create_svc(
            &store,
            service(&format!("s{i}"), ServiceType::ClusterIp, &[]),
        );
        if i % 3 == 0 {
            s.run_until_idle();
        }
    }
    s.run_until_idle();
    let mut seen = BTreeSet::new();
    for i in 0..20 {
        let ClusterIp::Ip(a) = cluster_ip(&store, &format!("s{i}")) else {
            panic!("s{i} has no cluster IP")
        };
        let o = a.octets();
        assert_eq!(o[0], 10);
        assert!((96..112).contains(&o[1]), "{a} out of 10.96.0.0/12");
        assert_ne!(a, Ipv4Addr::new(10, 96, 0, 0));
        assert_ne!(
            a,
            Ipv4Addr::new(10, 96, 0, 1),
            "10.96.0.1 is the kubernetes service's"
        );
        assert!(seen.insert(a), "{a} handed out twice");
    }
    // Lowest free first: 10.96.0.2 … 10.96.0.21.
    assert_eq!(
        cluster_ip(&store, "s0"),
        ClusterIp::Ip(Ipv4Addr::new(10, 96, 0, 2))
    );
}

#[test]
fn requested_ip_is_honoured_and_a_taken_one_is_refused_with_a_warning() {
    let (store, clock) = virtual_store(1);
    let mut s = sim(&store, clock.clone(), 1);
    let mut a = service("a", ServiceType::ClusterIp, &[]);
    a.spec.cluster_ip = ClusterIp::Ip(Ipv4Addr::new(10, 96, 0, 2));
    create_svc(&store, a);
    // b asks for nothing: must not get a's address.
    create_svc(&store, service("b", ServiceType::ClusterIp, &[]));
    s.run_until_idle();
    assert_eq!(
        cluster_ip(&store, "a"),
        ClusterIp::Ip(Ipv4Addr::new(10, 96, 0, 2))
    );
    assert_eq!(
        cluster_ip(&store, "b"),
        ClusterIp::Ip(Ipv4Addr::new(10, 96, 0, 3))
    );
    assert!(warnings_of(&store, "a").is_empty());

    clock.advance(std::time::Duration::from_secs(1));
    let mut c = service("c", ServiceType::NodePort, &[]);
    c.spec.cluster_ip = ClusterIp::Ip(Ipv4Addr::new(10, 96, 0, 3));
    create_svc(&store, c);
    s.run_until_idle();
    let w = warnings_of(&store, "c");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("provided IP is already allocated"), "{w:?}");
    // Unallocated: no node port either, and b keeps its address.
    assert!(get_svc(&store, "c").spec.ports[0].node_port.is_none());
    assert_eq!(
        cluster_ip(&store, "b"),
        ClusterIp::Ip(Ipv4Addr::new(10, 96, 0, 3))
    );
    // Not repeated on later reconciles.
    create_svc(&store, service("d", ServiceType::ClusterIp, &[]));
    s.run_until_idle();
    assert_eq!(warnings_of(&store, "c").len(), 1);
    let ev = store.list(Kind::Event, None, None, None).unwrap();
    let count = ev
        .iter()
        .filter_map(|o| o.as_event())
        .find(|e| e.involved_object.name.as_str() == "c")
        .unwrap()
        .count;
    assert_eq!(count, 1);
}

#[test]
fn headless_and_external_name_get_no_ip() {
    let (store, clock) = virtual_store(1);
    let mut s = sim(&store, clock, 1);
    let mut h = service("h", ServiceType::ClusterIp, &[]);
    h.spec.cluster_ip = ClusterIp::Headless;
    create_svc(&store, h);
    let mut e = service("e", ServiceType::ExternalName, &[]);
    e.spec.external_name = Some(intern("db.example.com"));
    create_svc(&store, e);
    create_svc(&store, service("n", ServiceType::ClusterIp, &[]));
    s.run_until_idle();
    assert_eq!(cluster_ip(&store, "h"), ClusterIp::Headless);
    assert_eq!(cluster_ip(&store, "e"), ClusterIp::Unassigned);
    assert_eq!(
        cluster_ip(&store, "n"),
        ClusterIp::Ip(Ipv4Addr::new(10, 96, 0, 2))
    );
}

#[test]
fn node_ports_in_range_unique_requested_honoured_conflict_refused() {
    let (store, clock) = virtual_store(1);
    let mut s = sim(&store, clock.clone(), 1);
    let mut req = service("req", ServiceType::NodePort, &[]);
    req.spec.ports[0].node_port = Some(30000);
    create_svc(&store, req);
    for i in 0..5 {
        let mut svc = service(&format!("np{i}"), ServiceType::NodePort, &[]);
        svc.spec
            .ports
            .push(port(Some("https"), 443, IntOrString::Int(8443)));
        create_svc(&store, svc);
    }
    s.run_until_idle();
    let mut seen = BTreeSet::new();
    assert_eq!(get_svc(&store, "req").spec.ports[0].node_port, Some(30000));
    seen.insert(30000);
    for i in 0..5 {
        for p in get_svc(&store, &format!("np{i}")).spec.ports {
            let np = p.node_port.expect("node port allocated");
            assert!((30000..=32767).contains(&np));
            assert!(seen.insert(np), "node port {np} twice");
        }
    }
    assert_eq!(seen.len(), 11);

    clock.advance(std::time::Duration::from_secs(1));
    let mut dup = service("dup", ServiceType::NodePort, &[]);
    dup.spec.ports[0].node_port = Some(30000);
    create_svc(&store, dup);
    s.run_until_idle();
    let w = warnings_of(&store, "dup");
    assert!(
        w.iter()
            .any(|m| m.contains("provided port is already allocated")),
        "{w:?}"
    );
    assert_eq!(cluster_ip(&store, "dup"), ClusterIp::Unassigned);

    // Deleting the holder frees the port: dup is served afterwards (the stated gap).
    store
        .delete(Kind::Service, "default", "req", &DeleteOptions::default())
        .unwrap();
    s.run_until_idle();
    assert!(matches!(cluster_ip(&store, "dup"), ClusterIp::Ip(_)));
}

#[test]
fn load_balancer_gets_an_ingress_ip_from_the_pool() {
    let (store, clock) = virtual_store(1);
    let mut s = sim(&store, clock, 1);
    create_svc(&store, service("lb1", ServiceType::LoadBalancer, &[]));
    let mut lb2 = service("lb2", ServiceType::LoadBalancer, &[]);
    lb2.spec.load_balancer_ip = Some(Ipv4Addr::new(192, 0, 2, 1));
    create_svc(&store, lb2);
    s.run_until_idle();
    let lb1 = get_svc(&store, "lb1");
    assert!(lb1.spec.ports[0].node_port.is_some());
    assert!(matches!(lb1.spec.cluster_ip, ClusterIp::Ip(_)));
    assert_eq!(
        lb1.status.load_balancer_ingress,
        vec![Ipv4Addr::new(192, 0, 2, 2)]
    );
    assert_eq!(
        get_svc(&store, "lb2").status.load_balancer_ingress,
        vec![Ipv4Addr::new(192, 0, 2, 1)]
    );
}

#[test]
fn endpoints_ready_not_ready_transitions_and_deletion() {
    let (store, clock) = virtual_store(1);
    let mut s = sim(&store, clock, 1);
    create_svc(
        &store,
        service("web", ServiceType::ClusterIp, &[("app", "web")]),
    );
    make_pod(&store, "web-a", &[("app", "web")], ip(1), true);
    make_pod(&store, "web-b", &[("app", "web")], ip(2), false);
    make_pod(&store, "other", &[("app", "db")], ip(3), true);
    s.run_until_idle();
    let ep = endpoints(&store, "web").expect("Endpoints created");
    assert_eq!(ep.meta.labels.get("app").map(|s| s.as_str()), Some("web"));
    assert!(ep.meta.owner_references.as_slice().is_empty());
    assert_eq!(ep.subsets.len(), 1);
    let sub = &ep.subsets[0];
    assert_eq!(names(&sub.addresses), vec!["web-a"]);
    assert_eq!(names(&sub.not_ready_addresses), vec!["web-b"]);
    assert_eq!(
        sub.ports,
        vec![EndpointPort {
            name: Some(intern("http")),
            port: 8080,
            protocol: Protocol::Tcp
        }]
    );
    let a = &sub.addresses[0];
    assert_eq!(a.ip, ip(1));
    assert_eq!(a.node_name.as_deref(), Some("node-1"));
    let r = a.target_ref.as_ref().unwrap();
    assert_eq!(r.kind, Kind::Pod);
    assert!(r.uid.is_some());

    // web-b turns ready: moves to addresses.
    set_ready(&store, "web-b", true);
    s.run_until_idle();
    let sub = &endpoints(&store, "web").unwrap().subsets[0];
    assert_eq!(names(&sub.addresses), vec!["web-a", "web-b"]);
    assert!(sub.not_ready_addresses.is_empty());

    // web-a relabelled away: removed (old labels matched, new do not).
    let mut p = store
        .get(Kind::Pod, "default", "web-a")
        .unwrap()
        .as_pod()
        .unwrap()
        .clone();
    p.meta.labels = StrMap::from_pairs([("app", "moved")]);
    store.update(Object::from(p)).unwrap();
    s.run_until_idle();
    let sub = &endpoints(&store, "web").unwrap().subsets[0];
    assert_eq!(names(&sub.addresses), vec!["web-b"]);

    // web-b deleted (force): no subsets left.
    store
        .delete(Kind::Pod, "default", "web-b", &DeleteOptions::grace(0))
        .unwrap();
    s.run_until_idle();
    assert!(endpoints(&store, "web").unwrap().subsets.is_empty());

    // The Service goes: its Endpoints too.
    store
        .delete(Kind::Service, "default", "web", &DeleteOptions::default())
        .unwrap();
    s.run_until_idle();
    assert!(endpoints(&store, "web").is_none());
}

#[test]
fn named_target_port_resolves_per_pod() {
    let (store, clock) = virtual_store(1);
    let mut s = sim(&store, clock, 1);
    let mut svc = service("api", ServiceType::ClusterIp, &[("app", "api")]);
    svc.spec.ports = vec![port(Some("http"), 80, IntOrString::String(intern("web")))];
    create_svc(&store, svc);
    let named = |p: i32| {
        vec![ContainerPort {
            name: Some(intern("web")),
            container_port: p,
            host_port: None,
            protocol: Protocol::Tcp,
        }]
    };
    make_pod_with(&store, "api-1", &[("app", "api")], ip(1), true, named(8080));
    make_pod_with(&store, "api-2", &[("app", "api")], ip(2), true, named(9090));
    make_pod_with(&store, "api-3", &[("app", "api")], ip(3), true, vec![]);
    s.run_until_idle();
    let ep = endpoints(&store, "api").unwrap();
    let mut got: Vec<(i32, Vec<String>)> = ep
        .subsets
        .iter()
        .map(|s: &EndpointSubset| (s.ports[0].port, names(&s.addresses)))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (8080, vec!["api-1".to_string()]),
            (9090, vec!["api-2".to_string()])
        ],
        "api-3 lacks the named port and is left out"
    );
    let sl = slices(&store, "api");
    let mut ports: Vec<i32> = sl.iter().map(|s| s.ports[0].port).collect();
    ports.sort();
    assert_eq!(ports, vec![8080, 9090]);
}

#[test]
fn selectorless_service_endpoints_are_left_alone() {
    let (store, clock) = virtual_store(1);
    let mut s = sim(&store, clock, 1);
    let manual = Endpoints {
        meta: ObjectMeta::named("default", "redis"),
        subsets: vec![EndpointSubset {
            addresses: vec![EndpointAddress {
                ip: Ipv4Addr::new(192, 168, 1, 50),
                hostname: None,
                node_name: None,
                target_ref: None,
            }],
            not_ready_addresses: vec![],
            ports: vec![EndpointPort {
                name: None,
                port: 6379,
                protocol: Protocol::Tcp,
            }],
        }],
    };
    // Endpoints first, Service later (manifest order must not matter).
    store.create(Object::from(manual.clone())).unwrap();
    s.run_until_idle();
    assert!(
        endpoints(&store, "redis").is_some(),
        "hand-written Endpoints kept"
    );
    create_svc(&store, service("redis", ServiceType::ClusterIp, &[]));
    make_pod(&store, "redis-0", &[("app", "redis")], ip(9), true);
    s.run_until_idle();
    assert_eq!(endpoints(&store, "redis").unwrap().subsets, manual.subsets);
    // Mirrored into a slice owned by the Endpoints.
    let ep_uid = store
        .get(Kind::Endpoints, "default", "redis")
        .unwrap()
        .meta()
        .uid;
    let sl = slices(&store, "redis");
    assert_eq!(sl.len(), 1);
    assert_eq!(
        sl[0].meta.labels.get(LABEL_MANAGED_BY).map(|s| s.as_str()),
        Some(MIRRORING_NAME)
    );
    let owners = sl[0].meta.owner_references.as_slice();
    assert_eq!(owners.len(), 1);
    assert_eq!((owners[0].kind, owners[0].uid), (Kind::Endpoints, ep_uid));
    assert_eq!(sl[0].ports[0].port, 6379);
    assert_eq!(sl[0].endpoints.len(), 1);
    assert_eq!(
        sl[0].endpoints[0].addresses,
        vec![Ipv4Addr::new(192, 168, 1, 50)]
    );
    assert_eq!(sl[0].endpoints[0].conditions.ready, Some(true));
    assert!(
        sl[0].endpoints[0].target_ref.is_none(),
        "the redis pod is not selected"
    );
    // Opting out of mirroring removes the slice.
    let mut ep = endpoints(&store, "redis").unwrap();
    ep.meta.labels = StrMap::from_pairs([("endpointslice.kubernetes.io/skip-mirror", "true")]);
    store.update(Object::from(ep)).unwrap();
    s.run_until_idle();
    assert!(slices(&store, "redis").is_empty());
    store
        .delete(Kind::Service, "default", "redis", &DeleteOptions::default())
        .unwrap();
    s.run_until_idle();
    assert!(endpoints(&store, "redis").is_some());
}

#[test]
fn slices_hold_at_most_100_with_owner_and_labels() {
    let (store, clock) = virtual_store(1);
    let mut s = sim(&store, clock, 1);
    create_svc(
        &store,
        service("big", ServiceType::ClusterIp, &[("app", "big")]),
    );
    for i in 0..250u32 {
        let addr = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 244, 0, 0)) + 10 + i);
        make_pod(
            &store,
            &format!("big-{i:03}"),
            &[("app", "big")],
            addr,
            true,
        );
    }
    s.run_until_idle();
    let svc = get_svc(&store, "big");
    let sl = slices(&store, "big");
    assert_eq!(sl.len(), 3);
    let mut sizes: Vec<usize> = sl.iter().map(|s| s.endpoints.len()).collect();
    sizes.sort();
    assert_eq!(sizes, vec![50, 100, 100]);
    let mut pods = BTreeSet::new();
    for slice in &sl {
        assert!(slice.meta.name.starts_with("big-"));
        assert_eq!(slice.meta.name.len(), "big-".len() + 5);
        assert_eq!(
            slice.meta.labels.get(LABEL_MANAGED_BY).map(|s| s.as_str()),
            Some(ENDPOINTSLICE_NAME)
        );
        assert_eq!(slice.address_type.as_str(), "IPv4");
        let owners = slice.meta.owner_references.as_slice();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].kind, Kind::Service);
        assert_eq!(owners[0].uid, svc.meta.uid);
        assert!(owners[0].controller);
        for e in &slice.endpoints {
            assert_eq!(e.conditions.ready, Some(true));
            pods.insert(e.target_ref.as_ref().unwrap().name.to_string());
        }
    }
    assert_eq!(pods.len(), 250);

    // Scale down to 120: surplus slice deleted, the rest updated in place.
    let before: BTreeSet<String> = sl.iter().map(|s| s.meta.name.to_string()).collect();
    for i in 120..250u32 {
        store
            .delete(
                Kind::Pod,
                "default",
                &format!("big-{i:03}"),
                &DeleteOptions::grace(0),
            )
            .unwrap();
    }
    s.run_until_idle();
    let sl = slices(&store, "big");
    assert_eq!(sl.len(), 2);
    assert!(sl.iter().all(|s| before.contains(s.meta.name.as_str())));
    assert_eq!(sl.iter().map(|s| s.endpoints.len()).sum::<usize>(), 120);

    // Service deleted: slices deleted.
    store
        .delete(Kind::Service, "default", "big", &DeleteOptions::default())
        .unwrap();
    s.run_until_idle();
    assert!(slices(&store, "big").is_empty());
}

#[test]
fn terminating_pod_stays_in_the_slice_serving_and_terminating() {
    let (store, clock) = virtual_store(1);
    let mut s = sim(&store, clock, 1);
    create_svc(
        &store,
        service("web", ServiceType::ClusterIp, &[("app", "web")]),
    );
    make_pod(&store, "web-a", &[("app", "web")], ip(1), true);
    make_pod(&store, "web-b", &[("app", "web")], ip(2), true);
    s.run_until_idle();
    // Graceful delete: the pod stays with a deletionTimestamp (no kubelet here).
    store
        .delete(Kind::Pod, "default", "web-a", &DeleteOptions::grace(30))
        .unwrap();
    s.run_until_idle();
    let sl = slices(&store, "web");
    assert_eq!(sl.len(), 1);
    let e = sl[0]
        .endpoints
        .iter()
        .find(|e| e.target_ref.as_ref().unwrap().name.as_str() == "web-a")
        .expect("terminating pod kept in the slice");
    assert_eq!(e.conditions.serving, Some(true));
    assert_eq!(e.conditions.terminating, Some(true));
    assert_eq!(e.conditions.ready, Some(false));
    let b = sl[0]
        .endpoints
        .iter()
        .find(|e| e.target_ref.as_ref().unwrap().name.as_str() == "web-b")
        .unwrap();
    assert_eq!(b.conditions.terminating, Some(false));
    assert_eq!(b.conditions.ready, Some(true));
    // Endpoints drop the terminating pod (upstream, without publishNotReadyAddresses).
    let ep = endpoints(&store, "web").unwrap();
    assert_eq!(names(&ep.subsets[0].addresses), vec!["web-b"]);
    assert!(ep.subsets[0].not_ready_addresses.is_empty());
}

#[test]
fn slice_label_for_service_name_and_headless() {
    let (store, clock) = virtual_store(1);
    let mut s = sim(&store, clock, 1);
    let mut h = service("db", ServiceType::ClusterIp, &[("app", "db")]);
    h.spec.cluster_ip = ClusterIp::Headless;
    create_svc(&store, h);
    make_pod(&store, "db-0", &[("app", "db")], ip(5), false);
    s.run_until_idle();
    let sl = slices(&store, "db");
    assert_eq!(sl.len(), 1);
    assert_eq!(
        sl[0]
            .meta
            .labels
            .get(LABEL_SERVICE_NAME)
            .map(|s| s.as_str()),
        Some("db")
    );
    assert!(sl[0]
        .meta
        .labels
        .contains_key("service.kubernetes.io/headless"));
    assert_eq!(sl[0].endpoints[0].conditions.ready, Some(false));
    assert_eq!(sl[0].endpoints[0].conditions.serving, Some(false));
    // Drift repair: deleting the slice brings it back.
    let name = sl[0].meta.name.to_string();
    store
        .delete(
            Kind::EndpointSlice,
            "default",
            &name,
            &DeleteOptions::default(),
        )
        .unwrap();
    s.run_until_idle();
    assert_eq!(slices(&store, "db").len(), 1);
}

/// (service, cluster IP, node ports) and slice names of one run.
fn run_once(seed: u64) -> (Vec<String>, Vec<String>) {
    let (store, clock) = virtual_store(seed);
    let mut s = sim(&store, clock, seed);
    for i in 0..6 {
        let t = if i % 2 == 0 {
            ServiceType::NodePort
        } else {
            ServiceType::ClusterIp
        };
        create_svc(&store, service(&format!("s{i}"), t, &[("app", "x")]));
    }
    for i in 0..130u8 {
        make_pod(
            &store,
            &format!("p{i:03}"),
            &[("app", "x")],
            ip(i),
            i % 3 != 0,
        );
    }
    s.run_until_idle();
    let svcs = (0..6)
        .map(|i| {
            let svc = get_svc(&store, &format!("s{i}"));
            format!(
                "{:?} {:?}",
                svc.spec.cluster_ip, svc.spec.ports[0].node_port
            )
        })
        .collect();
    let mut sl: Vec<String> = store
        .list(Kind::EndpointSlice, None, None, None)
        .unwrap()
        .iter()
        .map(|o| o.name().to_string())
        .collect();
    sl.sort();
    (svcs, sl)
}

#[test]
fn same_seed_same_ips_and_slice_names() {
    let a = run_once(42);
    let b = run_once(42);
    assert_eq!(a, b);
    assert_eq!(a.1.len(), 12, "6 services x 2 slices");
}

#[test]
fn selector_service_without_pods_keeps_one_placeholder_slice() {
    // Upstream's reconciler: "When no endpoint slices would usually exist, we need to
    // add a placeholder" — no endpoints, no ports.
    let (store, clock) = virtual_store(1);
    let mut s = sim(&store, clock, 1);
    create_svc(
        &store,
        service("ghost", ServiceType::ClusterIp, &[("app", "ghost")]),
    );
    s.run_until_idle();
    let sl = slices(&store, "ghost");
    assert_eq!(sl.len(), 1, "one placeholder");
    assert!(sl[0].endpoints.is_empty() && sl[0].ports.is_empty());
    assert!(is_placeholder(&sl[0]));
    assert_eq!(sl[0].address_type.as_str(), "IPv4");
    assert_eq!(
        sl[0].meta.labels.get(LABEL_MANAGED_BY).map(|s| s.as_str()),
        Some(ENDPOINTSLICE_NAME)
    );
    let placeholder = sl[0].meta.name.to_string();
    // Another sync keeps the same placeholder.
    let mut svc = get_svc(&store, "ghost");
    svc.meta.labels = StrMap::from_pairs([("tier", "x")]);
    store.update(Object::from(svc)).unwrap();
    s.run_until_idle();
    let sl = slices(&store, "ghost");
    assert_eq!(sl.len(), 1);
    assert_eq!(sl[0].meta.name.as_str(), placeholder, "placeholder kept");
    // A pod: the placeholder is replaced by a slice with ports and the endpoint.
    make_pod(&store, "ghost-a", &[("app", "ghost")], ip(7), true);
    s.run_until_idle();
    let sl = slices(&store, "ghost");
    assert_eq!(sl.len(), 1);
    assert_ne!(sl[0].meta.name.as_str(), placeholder);
    assert_eq!(sl[0].endpoints.len(), 1);
    assert!(!sl[0].ports.is_empty());
    let full = sl[0].meta.name.to_string();
    // The pod goes: a new placeholder replaces the emptied slice.
    store
        .delete(Kind::Pod, "default", "ghost-a", &DeleteOptions::grace(0))
        .unwrap();
    s.run_until_idle();
    let sl = slices(&store, "ghost");
    assert_eq!(sl.len(), 1);
    assert!(is_placeholder(&sl[0]));
    assert_ne!(sl[0].meta.name.as_str(), full);
    // The Service goes: so does the placeholder.
    store
        .delete(Kind::Service, "default", "ghost", &DeleteOptions::default())
        .unwrap();
    s.run_until_idle();
    assert!(slices(&store, "ghost").is_empty());
}
