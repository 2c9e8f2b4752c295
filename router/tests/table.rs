//! The routing table against a bare store: one test per rule of K8S-SEMANTICS.md
//! "Service routing" and per kind of destination.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use kubesim_core::cluster::{node_object, NodeConfig};
use kubesim_core::manifest;
use kubesim_core::model::{Kind, Object};
use kubesim_core::store::{DeleteOptions, Store};
use kubesim_core::time::Timestamp;
use kubesim_router::balance::{Iptables, RoundRobin};
use kubesim_router::{Destination, DnsAnswer, PortRef, RouteError, Router};
use rand::rngs::SmallRng;
use rand::SeedableRng;

fn apply(store: &Store, yaml: &str) {
    for obj in manifest::load_str(yaml, "test.yaml").unwrap() {
        let kind = obj.kind();
        let (ns, name) = (obj.namespace().to_string(), obj.name().to_string());
        match store.try_get(kind, &ns, &name) {
            Some(old) => {
                let mut obj = obj;
                obj.meta_mut().resource_version = old.meta().resource_version;
                store.update(obj).unwrap();
            }
            None => {
                store.create(obj).unwrap();
            }
        }
    }
}

fn client(i: u32) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(0x0a01_0000 + i), 40000)
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

const WEB: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n\
spec: {clusterIP: 10.96.0.10, selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}]}\n";

fn slice(name: &str, endpoints: &[(&str, &str)]) -> String {
    let mut y = format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}, labels: {{kubernetes.io/service-name: web}}}}\n\
         addressType: IPv4\nports: [{{name: http, port: 8080, protocol: TCP}}]\nendpoints:\n"
    );
    for (addr, cond) in endpoints {
        y.push_str(&format!("- addresses: [{addr}]\n  conditions: {cond}\n"));
    }
    if endpoints.is_empty() {
        y = y.replace("endpoints:\n", "endpoints: []\n");
    }
    y
}

const READY: &str = "{ready: true, serving: true, terminating: false}";
const NOT_READY: &str = "{ready: false, serving: false, terminating: false}";
const SERVING_TERMINATING: &str = "{ready: false, serving: true, terminating: true}";
const TERMINATING: &str = "{ready: false, serving: false, terminating: true}";

fn targets(router: &Router, dest: &Destination, n: u32) -> Result<BTreeSet<Ipv4Addr>, RouteError> {
    let mut rng = SmallRng::seed_from_u64(1);
    (0..n)
        .map(|i| {
            router
                .route(dest, client(i), Timestamp(0), &RoundRobin, &mut rng)
                .map(|r| *r.endpoint.ip())
        })
        .collect()
}

fn vip() -> Destination {
    Destination::tcp(ip("10.96.0.10"), 80)
}

#[test]
fn only_ready_endpoints_get_traffic() {
    let store = Store::new();
    apply(&store, WEB);
    apply(
        &store,
        &slice(
            "web-1",
            &[
                ("10.244.0.1", READY),
                ("10.244.0.2", NOT_READY),
                ("10.244.0.3", SERVING_TERMINATING),
                ("10.244.0.4", READY),
            ],
        ),
    );
    let router = Router::default();
    router.sync(&store).unwrap();
    assert_eq!(
        targets(&router, &vip(), 100).unwrap(),
        [ip("10.244.0.1"), ip("10.244.0.4")].into()
    );
    let mut rng = SmallRng::seed_from_u64(1);
    let r = router
        .route(&vip(), client(1), Timestamp(0), &RoundRobin, &mut rng)
        .unwrap();
    assert_eq!(
        r.endpoint.port(),
        8080,
        "targetPort resolved through the slice port"
    );
    assert!(!r.terminating_fallback);
}

#[test]
fn serving_terminating_fallback_then_explicit_error() {
    let store = Store::new();
    apply(&store, WEB);
    apply(
        &store,
        &slice(
            "web-1",
            &[
                ("10.244.0.2", NOT_READY),
                ("10.244.0.3", SERVING_TERMINATING),
                ("10.244.0.5", TERMINATING),
            ],
        ),
    );
    let router = Router::default();
    router.sync(&store).unwrap();
    assert_eq!(
        targets(&router, &vip(), 50).unwrap(),
        [ip("10.244.0.3")].into()
    );
    let mut rng = SmallRng::seed_from_u64(1);
    let r = router
        .route(&vip(), client(1), Timestamp(0), &RoundRobin, &mut rng)
        .unwrap();
    assert!(r.terminating_fallback);
    // A ready endpoint appears: the terminating one gets nothing new.
    apply(
        &store,
        &slice(
            "web-1",
            &[("10.244.0.3", SERVING_TERMINATING), ("10.244.0.6", READY)],
        ),
    );
    router.sync(&store).unwrap();
    assert_eq!(
        targets(&router, &vip(), 50).unwrap(),
        [ip("10.244.0.6")].into()
    );
    // Nothing serving: an explicit error, not a drop.
    apply(&store, &slice("web-1", &[("10.244.0.5", TERMINATING)]));
    router.sync(&store).unwrap();
    assert_eq!(
        targets(&router, &vip(), 1),
        Err(RouteError::NoEndpoints {
            service: "default/web".into(),
            port: 80
        })
    );
}

#[test]
fn no_endpoints_and_no_service_are_errors() {
    let store = Store::new();
    apply(&store, WEB);
    let router = Router::default();
    router.sync(&store).unwrap();
    assert!(matches!(
        targets(&router, &vip(), 1),
        Err(RouteError::NoEndpoints { .. })
    ));
    assert_eq!(
        targets(&router, &Destination::tcp(ip("10.96.0.10"), 81), 1),
        Err(RouteError::NoService {
            ip: ip("10.96.0.10"),
            port: 81
        })
    );
    assert!(matches!(
        targets(&router, &Destination::tcp(ip("10.96.0.99"), 80), 1),
        Err(RouteError::NoService { .. })
    ));
}

#[test]
fn slices_of_one_service_are_merged_and_deleted_slices_leave() {
    let store = Store::new();
    apply(&store, WEB);
    apply(&store, &slice("web-1", &[("10.244.0.1", READY)]));
    apply(&store, &slice("web-2", &[("10.244.0.2", READY)]));
    let router = Router::default();
    router.sync(&store).unwrap();
    assert_eq!(targets(&router, &vip(), 20).unwrap().len(), 2);
    store
        .delete(
            Kind::EndpointSlice,
            "default",
            "web-1",
            &DeleteOptions::default(),
        )
        .unwrap();
    router.sync(&store).unwrap();
    assert_eq!(
        targets(&router, &vip(), 20).unwrap(),
        [ip("10.244.0.2")].into()
    );
    // Service deleted: no route at all.
    store
        .delete(Kind::Service, "default", "web", &DeleteOptions::default())
        .unwrap();
    router.sync(&store).unwrap();
    assert!(matches!(
        targets(&router, &vip(), 1),
        Err(RouteError::NoService { .. })
    ));
    assert!(router.is_empty());
}

#[test]
fn endpoint_change_swaps_only_the_touched_service() {
    let store = Store::new();
    apply(&store, WEB);
    apply(
        &store,
        "apiVersion: v1\nkind: Service\nmetadata: {name: other}\n\
         spec: {clusterIP: 10.96.0.11, selector: {app: other}, ports: [{port: 80}]}\n",
    );
    apply(&store, &slice("web-1", &[("10.244.0.1", READY)]));
    let router = Router::default();
    router.sync(&store).unwrap();
    let other = router.service("default", "other").unwrap();
    let web = router.service("default", "web").unwrap();
    apply(
        &store,
        &slice("web-1", &[("10.244.0.1", READY), ("10.244.0.2", READY)]),
    );
    let stats = router.sync(&store).unwrap();
    assert_eq!(stats.services_rebuilt, 1);
    assert!(
        !stats.index_rebuilt,
        "endpoint churn never rebuilds the index"
    );
    assert!(Arc::ptr_eq(
        &other,
        &router.service("default", "other").unwrap()
    ));
    let web2 = router.service("default", "web").unwrap();
    assert_eq!(web2.id, web.id);
    assert!(web2.ports[0].endpoints.generation() > web.ports[0].endpoints.generation());
    // The rebuild-everything path gives the same routes.
    router.rebuild_all();
    assert_eq!(targets(&router, &vip(), 20).unwrap().len(), 2);
}

#[test]
fn headless_services_are_dns_only() {
    let store = Store::new();
    apply(
        &store,
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n\
         spec: {clusterIP: None, selector: {app: web}, ports: [{name: http, port: 80}]}\n",
    );
    apply(
        &store,
        &slice(
            "web-1",
            &[
                ("10.244.0.2", READY),
                ("10.244.0.1", READY),
                ("10.244.0.3", NOT_READY),
            ],
        ),
    );
    let router = Router::default();
    router.sync(&store).unwrap();
    assert_eq!(
        router.resolve("web.default.svc.cluster.local"),
        Ok(DnsAnswer::Endpoints(vec![
            ip("10.244.0.1"),
            ip("10.244.0.2")
        ]))
    );
    let mut rng = SmallRng::seed_from_u64(1);
    assert_eq!(
        router.route_name(
            "web.default",
            &PortRef::Number(80),
            client(1),
            Timestamp(0),
            &RoundRobin,
            &mut rng
        ),
        Err(RouteError::Headless {
            name: "web.default".into()
        })
    );
    assert_eq!(router.len(), 1);
}

#[test]
fn dns_names_resolve_to_the_cluster_ip_and_route_by_port_name_or_number() {
    let store = Store::new();
    apply(&store, WEB);
    apply(&store, &slice("web-1", &[("10.244.0.1", READY)]));
    let router = Router::default();
    router.sync(&store).unwrap();
    for name in [
        "web.default.svc.cluster.local",
        "web.default.svc.cluster.local.",
        "web.default.svc",
        "web.default",
        "WEB.Default",
    ] {
        assert_eq!(
            router.resolve(name),
            Ok(DnsAnswer::ClusterIp(ip("10.96.0.10"))),
            "{name}"
        );
    }
    assert!(matches!(
        router.resolve("nope.default"),
        Err(RouteError::UnknownName { .. })
    ));
    let mut rng = SmallRng::seed_from_u64(1);
    for port in [PortRef::Number(80), PortRef::Name("http".into())] {
        let r = router
            .route_name(
                "web.default",
                &port,
                client(1),
                Timestamp(0),
                &RoundRobin,
                &mut rng,
            )
            .unwrap();
        assert_eq!(r.endpoint, "10.244.0.1:8080".parse().unwrap());
    }
    assert!(matches!(
        router.route_name(
            "web.default",
            &PortRef::Name("grpc".into()),
            client(1),
            Timestamp(0),
            &RoundRobin,
            &mut rng
        ),
        Err(RouteError::NoPort { .. })
    ));
}

#[test]
fn node_port_answers_on_every_node_ip_and_load_balancer_ip() {
    let store = Store::new();
    for i in 0..3 {
        store
            .create(node_object(
                &NodeConfig::new(&format!("n{i}")),
                i,
                Timestamp(0),
            ))
            .unwrap();
    }
    apply(
        &store,
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n\
         spec: {type: LoadBalancer, clusterIP: 10.96.0.10, selector: {app: web},\n\
         ports: [{name: http, port: 80, targetPort: http, nodePort: 30080}]}\n",
    );
    // The LoadBalancer IP, as the allocator would publish it.
    let svc = store.get(Kind::Service, "default", "web").unwrap();
    let mut obj: Object = (*svc).clone();
    obj.as_service_mut().unwrap().status.load_balancer_ingress = vec![ip("172.18.0.100")];
    store.update_status(obj).unwrap();
    apply(&store, &slice("web-1", &[("10.244.0.1", READY)]));
    let router = Router::default();
    router.sync(&store).unwrap();
    let want: BTreeSet<Ipv4Addr> = [ip("10.244.0.1")].into();
    for node_ip in ["192.168.0.10", "192.168.0.11", "192.168.0.12"] {
        assert_eq!(
            targets(&router, &Destination::tcp(ip(node_ip), 30080), 3).unwrap(),
            want
        );
    }
    assert_eq!(
        targets(&router, &Destination::tcp(ip("172.18.0.100"), 80), 3).unwrap(),
        want
    );
    assert_eq!(targets(&router, &vip(), 3).unwrap(), want);
    // Not a node IP, or the node port on the cluster IP: nothing listens.
    assert!(targets(&router, &Destination::tcp(ip("192.168.0.99"), 30080), 1).is_err());
    assert!(targets(&router, &Destination::tcp(ip("10.96.0.10"), 30080), 1).is_err());
    // A node is removed: its IP stops answering.
    store
        .delete(Kind::Node, "", "n2", &DeleteOptions::default())
        .unwrap();
    let stats = router.sync(&store).unwrap();
    assert!(stats.index_rebuilt);
    assert!(targets(&router, &Destination::tcp(ip("192.168.0.12"), 30080), 1).is_err());
    // iptables dispatch finds the same backends through KUBE-SERVICES then KUBE-NODEPORTS.
    let mut rng = SmallRng::seed_from_u64(1);
    let r = router
        .route(
            &Destination::tcp(ip("192.168.0.10"), 30080),
            client(1),
            Timestamp(0),
            &Iptables,
            &mut rng,
        )
        .unwrap();
    assert_eq!(r.endpoint, "10.244.0.1:8080".parse().unwrap());
    assert_eq!(
        r.rules_scanned, 4,
        "2 service rules, the KUBE-NODEPORTS jump, 1 nodeport rule"
    );
}

#[test]
fn selector_less_service_uses_hand_written_endpoints() {
    let store = Store::new();
    apply(
        &store,
        "apiVersion: v1\nkind: Service\nmetadata: {name: redis}\n\
         spec: {clusterIP: 10.96.0.20, ports: [{port: 6379}]}\n---\n\
         apiVersion: v1\nkind: Endpoints\nmetadata: {name: redis}\n\
         subsets:\n- addresses: [{ip: 10.0.0.1}, {ip: 10.0.0.2}]\n  notReadyAddresses: [{ip: 10.0.0.3}]\n  ports: [{port: 6380}]\n",
    );
    let router = Router::default();
    router.sync(&store).unwrap();
    let dest = Destination::tcp(ip("10.96.0.20"), 6379);
    assert_eq!(
        targets(&router, &dest, 20).unwrap(),
        [ip("10.0.0.1"), ip("10.0.0.2")].into()
    );
    let mut rng = SmallRng::seed_from_u64(1);
    let r = router
        .route(&dest, client(1), Timestamp(0), &RoundRobin, &mut rng)
        .unwrap();
    assert_eq!(r.endpoint.port(), 6380);
    store
        .delete(
            Kind::Endpoints,
            "default",
            "redis",
            &DeleteOptions::default(),
        )
        .unwrap();
    router.sync(&store).unwrap();
    assert!(matches!(
        targets(&router, &dest, 1),
        Err(RouteError::NoEndpoints { .. })
    ));
}

#[test]
fn client_ip_affinity_sticks_refreshes_and_moves() {
    let store = Store::new();
    apply(
        &store,
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n\
         spec: {clusterIP: 10.96.0.10, selector: {app: web}, sessionAffinity: ClientIP,\n\
         sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}},\n\
         ports: [{name: http, port: 80, targetPort: http}]}\n",
    );
    let eps = [
        ("10.244.0.1", READY),
        ("10.244.0.2", READY),
        ("10.244.0.3", READY),
    ];
    apply(&store, &slice("web-1", &eps));
    let router = Router::default();
    router.sync(&store).unwrap();
    let st = router.service("default", "web").unwrap();
    assert_eq!(st.affinity_timeout, Some(Duration::from_secs(60)));
    let mut rng = SmallRng::seed_from_u64(1);
    let c = client(7);
    let route = |t: i64, rng: &mut SmallRng| {
        router
            .route(&vip(), c, Timestamp(t), &RoundRobin, rng)
            .unwrap()
    };
    let first = route(0, &mut rng);
    assert!(!first.affinity_hit);
    // Sticks (other clients advance the round-robin cursor in between), refreshed on
    // each use: 59 s apart three times is still within the 60 s idle timeout.
    for (i, t) in [10_000, 69_000, 128_000].into_iter().enumerate() {
        let _ = router.route(
            &vip(),
            client(100 + i as u32),
            Timestamp(t),
            &RoundRobin,
            &mut rng,
        );
        let r = route(t, &mut rng);
        assert!(r.affinity_hit);
        assert_eq!(r.endpoint, first.endpoint);
    }
    // Idle for 60 s: expired, picked again (not a hit).
    let r = route(188_000, &mut rng);
    assert!(!r.affinity_hit);
    let pinned = r.endpoint;
    // The pinned endpoint stops being ready: the client moves at once.
    let eps2: Vec<(&str, &str)> = eps
        .iter()
        .map(|&(a, c)| {
            if ip(a) == *pinned.ip() {
                (a, NOT_READY)
            } else {
                (a, c)
            }
        })
        .collect();
    apply(&store, &slice("web-1", &eps2));
    router.sync(&store).unwrap();
    let r = route(188_001, &mut rng);
    assert!(!r.affinity_hit);
    assert_ne!(r.endpoint, pinned);
    let moved = r.endpoint;
    assert!(route(188_002, &mut rng).affinity_hit);
    // The endpoint goes away entirely: moves again; the sweeper drops stale entries.
    let eps3: Vec<(&str, &str)> = eps2
        .iter()
        .copied()
        .filter(|&(a, _)| ip(a) != *moved.ip())
        .collect();
    apply(&store, &slice("web-1", &eps3));
    router.sync(&store).unwrap();
    let before = router.affinity().len();
    let swept = router.sweep_affinity(Timestamp(188_003), kubesim_router::affinity::SHARDS);
    assert!(swept.stale >= 1, "{swept:?}");
    assert!(router.affinity().len() < before);
    let r = route(188_004, &mut rng);
    assert!(!r.affinity_hit);
    assert_ne!(r.endpoint, moved);
}

/// An affinity entry whose endpoint left and came back is void (the client is
/// re-balanced), and it goes away: the sweeper drops it although its endpoint is
/// selected again, and a lookup that meets it removes it.
#[test]
fn voided_affinity_entries_are_removed() {
    let store = Store::new();
    apply(
        &store,
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n\
         spec: {clusterIP: 10.96.0.10, selector: {app: web}, sessionAffinity: ClientIP,\n\
         ports: [{name: http, port: 80, targetPort: http}]}\n",
    );
    let eps = [("10.244.0.1", READY), ("10.244.0.2", READY)];
    apply(&store, &slice("web-1", &eps));
    let router = Router::default();
    router.sync(&store).unwrap();
    let mut rng = SmallRng::seed_from_u64(1);
    let pin = |c: u32, rng: &mut SmallRng| {
        router
            .route(&vip(), client(c), Timestamp(0), &RoundRobin, rng)
            .unwrap()
            .endpoint
    };
    // Pin clients until one sits on each endpoint.
    let mut on: Vec<(u32, SocketAddrV4)> = Vec::new();
    for c in 0..8 {
        let ep = pin(c, &mut rng);
        if on.iter().all(|&(_, e)| e != ep) {
            on.push((c, ep));
        }
    }
    let (&(c1, ep1), &(c2, _)) = (&on[0], &on[1]);
    let clients = 8;
    assert_eq!(router.affinity().len(), clients);
    // ep1 leaves and comes back.
    let without: Vec<(&str, &str)> = eps
        .iter()
        .copied()
        .filter(|&(a, _)| ip(a) != *ep1.ip())
        .collect();
    apply(&store, &slice("web-1", &without));
    router.sync(&store).unwrap();
    apply(&store, &slice("web-1", &eps));
    router.sync(&store).unwrap();
    let on_ep1 = (0..clients as u32)
        .filter(|&c| {
            router
                .affinity()
                .get(kubesim_router::affinity::AffinityKey::new(
                    router.service("default", "web").unwrap().id,
                    0,
                    *client(c).ip(),
                ))
                .is_some_and(|(ep, _)| kubesim_router::endpoints::key_addr(ep) == ep1)
        })
        .count();
    assert!(on_ep1 >= 1);
    // The sweeper drops every entry pinned to ep1, and only those.
    let swept = router.sweep_affinity(Timestamp(1), kubesim_router::affinity::SHARDS);
    assert_eq!((swept.stale, swept.expired), (on_ep1, 0), "{swept:?}");
    assert_eq!(router.affinity().len(), clients - on_ep1);
    // c2's endpoint never left: still a hit.
    let r = router
        .route(&vip(), client(c2), Timestamp(2), &RoundRobin, &mut rng)
        .unwrap();
    assert!(r.affinity_hit);
    // c1 is re-balanced (a miss) and pinned again.
    let r = router
        .route(&vip(), client(c1), Timestamp(3), &RoundRobin, &mut rng)
        .unwrap();
    assert!(!r.affinity_hit);
    assert_eq!(router.affinity().len(), clients - on_ep1 + 1);
}

/// Readers route on two threads while the writer flips the service between two
/// disjoint endpoint sets: every answer comes from one whole version (never a mix, never
/// a missing service), whatever the interleaving.
#[test]
fn concurrent_readers_see_whole_versions() {
    let store = Store::new();
    apply(&store, WEB);
    let a = slice("web-1", &[("10.244.1.1", READY), ("10.244.1.2", READY)]);
    let b = slice(
        "web-1",
        &[
            ("10.244.2.1", READY),
            ("10.244.2.2", READY),
            ("10.244.2.3", READY),
        ],
    );
    apply(&store, &a);
    let router = Router::default();
    router.sync(&store).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..2u32 {
            let (router, done) = (&router, &done);
            s.spawn(move || {
                let mut rng = SmallRng::seed_from_u64(u64::from(t));
                let mut n = 0u32;
                while !done.load(std::sync::atomic::Ordering::Acquire) || n < 1000 {
                    let r = router
                        .route(
                            &vip(),
                            client(t * 100_000 + n),
                            Timestamp(0),
                            &RoundRobin,
                            &mut rng,
                        )
                        .unwrap();
                    let o = r.endpoint.ip().octets();
                    // Generation parity: version A has 2 endpoints in 10.244.1/24, B has 3
                    // in 10.244.2/24; the index must fit the version's size.
                    match o[2] {
                        1 => assert!(r.index < 2 && o[3] <= 2),
                        2 => assert!(r.index < 3 && o[3] <= 3),
                        _ => panic!("{}", r.endpoint),
                    }
                    n += 1;
                }
            });
        }
        for i in 0..200 {
            apply(&store, if i % 2 == 0 { &b } else { &a });
            router.sync(&store).unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Release);
    });
}
