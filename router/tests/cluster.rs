//! The router on a simulated cluster: a Deployment and a Service converge through the
//! real controllers (allocator, EndpointSlice controller, scheduler, kubelet), and the
//! router follows them — readiness, pod deletion and replacement.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use kubesim_core::cluster::{Cluster, ClusterConfig, NodeSpecs};
use kubesim_core::manifest;
use kubesim_core::model::{ClusterIp, Kind};
use kubesim_core::store::DeleteOptions;
use kubesim_router::balance::{Algorithm, RoundRobin};
use kubesim_router::{Destination, DnsAnswer, PortRef, RouteError, Router};
use rand::rngs::SmallRng;
use rand::SeedableRng;

const APP: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {kubesim.io/ready-after: 5s}
    spec:
      containers:
      - name: web
        image: nginx
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
";

fn cluster() -> Cluster {
    let mut c = Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(2),
        ..ClusterConfig::default()
    })
    .unwrap();
    c.apply(manifest::load_str(APP, "app.yaml").unwrap())
        .unwrap();
    c
}

/// IPs of the `app=web` pods that are Ready and not being deleted.
fn ready_pods(c: &Cluster) -> BTreeSet<Ipv4Addr> {
    c.store()
        .list(Kind::Pod, Some("default"), None, None)
        .unwrap()
        .iter()
        .filter_map(|o| o.as_pod())
        .filter(|p| p.meta.deletion_timestamp().is_none())
        .filter(|p| p.is_ready())
        .filter_map(|p| p.status.pod_ip)
        .collect()
}

fn cluster_ip(c: &Cluster) -> Ipv4Addr {
    let svc = c.store().get(Kind::Service, "default", "web").unwrap();
    match svc.as_service().unwrap().spec.cluster_ip {
        ClusterIp::Ip(ip) => ip,
        other => panic!("no cluster IP: {other:?}"),
    }
}

fn picks(
    router: &Router,
    dest: &Destination,
    n: u32,
) -> Result<BTreeMap<SocketAddrV4, u32>, RouteError> {
    let mut rng = SmallRng::seed_from_u64(9);
    let mut out = BTreeMap::new();
    for i in 0..n {
        let client = SocketAddrV4::new(Ipv4Addr::from(0x0a09_0000 + i), 30000);
        let r = router.route(
            dest,
            client,
            kubesim_core::time::Timestamp(0),
            &RoundRobin,
            &mut rng,
        )?;
        *out.entry(r.endpoint).or_default() += 1;
    }
    Ok(out)
}

#[test]
fn deployment_and_service_route_through_the_table() {
    let mut c = cluster();
    let router = Router::default();
    c.advance(Duration::from_secs(1));
    router.sync(c.store()).unwrap();
    let vip = Destination::tcp(cluster_ip(&c), 80);
    // Pods run but are not ready yet (ready-after 5 s): an explicit error.
    assert!(ready_pods(&c).is_empty());
    assert!(matches!(
        picks(&router, &vip, 1),
        Err(RouteError::NoEndpoints { .. })
    ));

    c.advance(Duration::from_secs(10));
    router.sync(c.store()).unwrap();
    let ready = ready_pods(&c);
    assert_eq!(ready.len(), 3);
    // Round-robin over the three ready pods, exactly fair, on the named targetPort.
    let got = picks(&router, &vip, 300).unwrap();
    let ips: BTreeSet<Ipv4Addr> = got.keys().map(|a| *a.ip()).collect();
    assert_eq!(ips, ready);
    assert!(got.keys().all(|a| a.port() == 8080));
    assert!(got.values().all(|&n| n == 100), "{got:?}");

    // Same answer by DNS name and through the node port on every node.
    assert_eq!(
        router.resolve("web.default.svc.cluster.local"),
        Ok(DnsAnswer::ClusterIp(cluster_ip(&c)))
    );
    let mut rng = SmallRng::seed_from_u64(1);
    let client = SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, 9), 1234);
    let r = router
        .route_name(
            "web.default",
            &PortRef::Name("http".into()),
            client,
            c.now(),
            &RoundRobin,
            &mut rng,
        )
        .unwrap();
    assert!(ready.contains(r.endpoint.ip()));
    let svc = router.service("default", "web").unwrap();
    let node_port = svc.ports[0].node_port.expect("allocated node port");
    for node_ip in ["192.168.0.10", "192.168.0.11"] {
        let d = Destination::tcp(node_ip.parse().unwrap(), node_port);
        let ips: BTreeSet<Ipv4Addr> = picks(&router, &d, 30)
            .unwrap()
            .keys()
            .map(|a| *a.ip())
            .collect();
        assert_eq!(ips, ready);
    }

    // Delete one pod: it is terminating at once (graceful), and gets no new traffic
    // while the other two are ready.
    let victim = c
        .store()
        .list(Kind::Pod, Some("default"), None, None)
        .unwrap()
        .into_iter()
        .find(|o| o.as_pod().and_then(|p| p.status.pod_ip) == ready.iter().next().copied())
        .unwrap();
    let victim_ip = victim.as_pod().unwrap().status.pod_ip.unwrap();
    c.store()
        .delete(
            Kind::Pod,
            "default",
            victim.name(),
            &DeleteOptions::default(),
        )
        .unwrap();
    c.run_until_idle();
    router.sync(c.store()).unwrap();
    for algo in Algorithm::ALL {
        let b = algo.build();
        let mut rng = SmallRng::seed_from_u64(3);
        for i in 0..200u32 {
            let client = SocketAddrV4::new(Ipv4Addr::from(0x0a0a_0000 + i), 5000 + i as u16);
            let r = router
                .route(&vip, client, c.now(), b.as_ref(), &mut rng)
                .unwrap();
            assert_ne!(
                *r.endpoint.ip(),
                victim_ip,
                "{algo} routed to a terminating pod"
            );
            assert!(ready_pods(&c).contains(r.endpoint.ip()), "{algo}");
        }
    }

    // The replacement becomes ready: three endpoints again, the victim gone.
    c.advance(Duration::from_secs(40));
    router.sync(c.store()).unwrap();
    let ready2 = ready_pods(&c);
    assert_eq!(ready2.len(), 3);
    assert!(!ready2.contains(&victim_ip));
    let ips: BTreeSet<Ipv4Addr> = picks(&router, &vip, 30)
        .unwrap()
        .keys()
        .map(|a| *a.ip())
        .collect();
    assert_eq!(ips, ready2);

    // Scale to zero: no endpoints, an explicit error.
    let mut dep = (*c.store().get(Kind::Deployment, "default", "web").unwrap()).clone();
    if let Some(d) = dep.as_deployment_mut() {
        d.spec.replicas = 0;
    }
    c.store().update(dep).unwrap();
    c.advance(Duration::from_secs(60));
    router.sync(c.store()).unwrap();
    // The Service keeps one placeholder slice (no endpoints, no ports), as upstream.
    let slices = c
        .store()
        .list(Kind::EndpointSlice, Some("default"), None, None)
        .unwrap()
        .into_iter()
        .filter(|o| {
            o.labels()
                .get("kubernetes.io/service-name")
                .is_some_and(|n| n.as_str() == "web")
        })
        .collect::<Vec<_>>();
    assert_eq!(slices.len(), 1);
    assert!(slices[0]
        .as_endpoint_slice()
        .is_some_and(|s| s.endpoints.is_empty() && s.ports.is_empty()));
    assert!(matches!(
        picks(&router, &vip, 1),
        Err(RouteError::NoEndpoints { .. })
    ));
}

#[test]
fn a_failed_node_takes_its_pods_out_of_rotation() {
    let mut c = cluster();
    let router = Router::default();
    c.advance(Duration::from_secs(10));
    router.sync(c.store()).unwrap();
    let vip = Destination::tcp(cluster_ip(&c), 80);
    assert_eq!(picks(&router, &vip, 30).unwrap().len(), 3);
    c.fail_node("node-0").unwrap();
    // Node lifecycle marks the node's pods NotReady after the grace period.
    c.advance(Duration::from_secs(120));
    router.sync(c.store()).unwrap();
    let ready = ready_pods(&c);
    let got: BTreeSet<Ipv4Addr> = picks(&router, &vip, 60)
        .unwrap()
        .keys()
        .map(|a| *a.ip())
        .collect();
    assert!(got.is_subset(&ready), "{got:?} ⊄ {ready:?}");
    let on_failed: Vec<Ipv4Addr> = c
        .store()
        .list(Kind::Pod, Some("default"), None, None)
        .unwrap()
        .iter()
        .filter_map(|o| o.as_pod())
        .filter(|p| p.node_name.as_deref() == Some("node-0"))
        .filter_map(|p| p.status.pod_ip)
        .collect();
    assert!(
        !on_failed.is_empty(),
        "the scheduler spread the pods over both nodes"
    );
    assert!(on_failed.iter().all(|ip| !got.contains(ip)));
    assert!(!got.is_empty());
}
