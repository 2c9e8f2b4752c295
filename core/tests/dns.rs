//! Cluster DNS answers ([`kubesim_core::dns`]) over a simulated cluster: real manifests,
//! pods run by the scheduler and kubelet, endpoints written by the endpoints controller.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kubesim_core::cluster::{Cluster, ClusterConfig, NodeSpecs};
use kubesim_core::dns::{DnsError, DnsView, Record, RecordType};
use kubesim_core::manifest;
use kubesim_core::model::{ClusterIp, Kind, Object};

fn manifest_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/scenarios/manifests")
        .join(name)
}

fn load(name: &str) -> Vec<Object> {
    manifest::load_path(&manifest_path(name)).expect("manifest loads")
}

fn yaml(text: &str) -> Vec<Object> {
    manifest::load_str(text, "inline.yaml").expect("inline manifest loads")
}

/// A StatefulSet-style pod of `kubia`, made by hand (no StatefulSet owns it):
/// hostname = its name, subdomain = the governing headless Service.
fn kubia_pod(name: &str, never_ready: bool) -> String {
    let ann = if never_ready {
        "kubesim.io/never-ready: \"true\""
    } else {
        "kubesim.io/ready-after: 10s"
    };
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: kubia}}
  annotations: {{{ann}}}
spec:
  hostname: {name}
  subdomain: kubia
  containers:
  - name: kubia
    image: luksa/kubia-pet
    resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}
    ports:
    - name: http
      containerPort: 8080
"
    )
}

/// whoami (ClusterIP/LoadBalancer) + kubia (headless) with hand-made pods kubia-0 and
/// kubia-1 ready and kubia-2 never ready, after 30 s of virtual time.
fn cluster() -> Cluster {
    let mut c = Cluster::new(ClusterConfig {
        nodes: NodeSpecs::Count(2),
        seed: 7,
        threads: 1,
        ..ClusterConfig::default()
    })
    .unwrap();
    c.apply(load("whoami.yaml")).unwrap();
    // The headless Service only: the StatefulSet controller would adopt the hand-made
    // pods below and scale them to the StatefulSet's 2 replicas.
    c.apply(
        load("kubia-sts.yaml")
            .into_iter()
            .filter(|o| o.kind() == Kind::Service)
            .collect(),
    )
    .unwrap();
    let mut pods = Vec::new();
    for (name, never_ready) in [("kubia-0", false), ("kubia-1", false), ("kubia-2", true)] {
        pods.extend(yaml(&kubia_pod(name, never_ready)));
    }
    c.apply(pods).unwrap();
    c.advance(Duration::from_secs(30));
    c
}

fn pod_ip(c: &Cluster, name: &str) -> Ipv4Addr {
    let pod = c.store().get(Kind::Pod, "default", name).unwrap();
    pod.as_pod()
        .unwrap()
        .status
        .pod_ip
        .unwrap_or_else(|| panic!("{name} has no IP"))
}

fn pod_ready(c: &Cluster, name: &str) -> bool {
    let pod = c.store().get(Kind::Pod, "default", name).unwrap();
    pod.as_pod().unwrap().is_ready()
}

fn a_ips(records: &[Record]) -> BTreeSet<Ipv4Addr> {
    records
        .iter()
        .map(|r| match r {
            Record::A { ip, .. } => *ip,
            Record::Srv { .. } => panic!("SRV in an A answer: {r}"),
        })
        .collect()
}

fn answers(records: &[Record]) -> Vec<String> {
    records.iter().map(Record::answer).collect()
}

#[test]
fn clusterip_service_has_one_a_record_with_its_cluster_ip() {
    let c = cluster();
    let svc = c
        .store()
        .get(Kind::Service, "default", "whoami-web")
        .unwrap();
    let ClusterIp::Ip(ip) = svc.as_service().unwrap().spec.cluster_ip else {
        panic!("whoami-web has no ClusterIP");
    };
    let dns = DnsView::new(c.store());
    for name in [
        "whoami-web.default.svc.cluster.local",
        "whoami-web.default.svc.cluster.local.",
        "whoami-web.default.svc",
        "whoami-web.default",
    ] {
        let got = dns.resolve(name, RecordType::A).unwrap();
        assert_eq!(
            got,
            vec![Record::A {
                name: "whoami-web.default.svc.cluster.local".into(),
                ip
            }],
            "{name}"
        );
    }
    // SRV on the service name: one per port, target the service, port = service port.
    let srv = dns
        .resolve("whoami-web.default.svc.cluster.local", RecordType::Srv)
        .unwrap();
    assert_eq!(
        answers(&srv),
        vec!["0 100 8088 whoami-web.default.svc.cluster.local"]
    );
    // Its only port is unnamed: there is no `_<port>._tcp` name.
    assert!(matches!(
        dns.resolve(
            "_http._tcp.whoami-web.default.svc.cluster.local",
            RecordType::Srv
        ),
        Err(DnsError::NotFound { .. })
    ));
}

#[test]
fn headless_service_has_an_a_record_per_ready_pod_only() {
    let c = cluster();
    assert!(pod_ready(&c, "kubia-0") && pod_ready(&c, "kubia-1"));
    assert!(!pod_ready(&c, "kubia-2"), "kubia-2 must stay not ready");
    let dns = DnsView::new(c.store());
    let got = dns
        .resolve("kubia.default.svc.cluster.local", RecordType::A)
        .unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    let expected: BTreeSet<_> = [pod_ip(&c, "kubia-0"), pod_ip(&c, "kubia-1")].into();
    assert_eq!(a_ips(&got), expected);
    assert!(!a_ips(&got).contains(&pod_ip(&c, "kubia-2")));
}

#[test]
fn headless_srv_per_named_port_targets_pod_hostnames() {
    let c = cluster();
    let dns = DnsView::new(c.store());
    let want = vec![
        "0 50 80 kubia-0.kubia.default.svc.cluster.local".to_string(),
        "0 50 80 kubia-1.kubia.default.svc.cluster.local".to_string(),
    ];
    let srv = dns
        .resolve(
            "_http._tcp.kubia.default.svc.cluster.local",
            RecordType::Srv,
        )
        .unwrap();
    assert_eq!(srv.len(), 2);
    assert_eq!(answers(&srv), want);
    assert!(srv
        .iter()
        .all(|r| r.name() == "_http._tcp.kubia.default.svc.cluster.local"));
    // The scenario form: SRV on the service name itself.
    let srv = dns
        .resolve("kubia.default.svc.cluster.local", RecordType::Srv)
        .unwrap();
    assert_eq!(answers(&srv), want);
    // Wrong protocol or port name: NXDOMAIN.
    for name in [
        "_http._udp.kubia.default.svc.cluster.local",
        "_grpc._tcp.kubia.default.svc.cluster.local",
    ] {
        assert_eq!(
            dns.resolve(name, RecordType::Srv),
            Err(DnsError::NotFound { name: name.into() })
        );
    }
}

#[test]
fn statefulset_pod_records_resolve_ready_pods_only() {
    let c = cluster();
    let dns = DnsView::new(c.store());
    for pod in ["kubia-0", "kubia-1"] {
        let name = format!("{pod}.kubia.default.svc.cluster.local");
        let got = dns.resolve(&name, RecordType::A).unwrap();
        assert_eq!(
            got,
            vec![Record::A {
                name: name.clone(),
                ip: pod_ip(&c, pod)
            }]
        );
    }
    // The never-ready pod has an IP and a hostname but no ready endpoint: NXDOMAIN.
    let name = "kubia-2.kubia.default.svc.cluster.local";
    assert_eq!(
        dns.resolve(name, RecordType::A),
        Err(DnsError::NotFound { name: name.into() })
    );
    // A pod record under a ClusterIP service does not exist.
    let name = "kubia-0.whoami-web.default.svc.cluster.local";
    assert_eq!(
        dns.resolve(name, RecordType::A),
        Err(DnsError::NotFound { name: name.into() })
    );
}

#[test]
fn becoming_ready_adds_the_pod_to_the_answers() {
    let mut c = cluster();
    // Replace kubia-2 with a pod that becomes ready.
    c.store()
        .delete(
            Kind::Pod,
            "default",
            "kubia-2",
            &kubesim_core::store::DeleteOptions::grace(0),
        )
        .unwrap();
    c.advance(Duration::from_secs(5));
    assert!(c.store().try_get(Kind::Pod, "default", "kubia-2").is_none());
    c.apply(yaml(&kubia_pod("kubia-2", false))).unwrap();
    c.advance(Duration::from_secs(30));
    assert!(pod_ready(&c, "kubia-2"));
    let dns = DnsView::new(c.store());
    let a = dns
        .resolve("kubia.default.svc.cluster.local", RecordType::A)
        .unwrap();
    assert_eq!(a.len(), 3);
    let srv = dns
        .resolve("_http._tcp.kubia.default", RecordType::Srv)
        .unwrap();
    assert_eq!(srv.len(), 3);
    assert!(srv
        .iter()
        .all(|r| matches!(r, Record::Srv { weight: 33, .. })));
    assert_eq!(
        dns.resolve("kubia-2.kubia.default.svc.cluster.local", RecordType::A)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn publish_not_ready_addresses_counts_every_pod_and_names_them_by_ip() {
    let mut c = cluster();
    c.apply(yaml(
        "apiVersion: v1
kind: Service
metadata: {name: kubia-all}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app: kubia}
  ports: [{name: http, port: 80, targetPort: http}]
",
    ))
    .unwrap();
    c.advance(Duration::from_secs(5));
    let dns = DnsView::new(c.store());
    let a = dns
        .resolve("kubia-all.default.svc.cluster.local", RecordType::A)
        .unwrap();
    let all: BTreeSet<_> = ["kubia-0", "kubia-1", "kubia-2"]
        .iter()
        .map(|p| pod_ip(&c, p))
        .collect();
    assert_eq!(a_ips(&a), all);
    // The pods' subdomain is `kubia`, so these endpoints have no hostname: targets are
    // named after the IP, and those names resolve.
    let srv = dns
        .resolve("_http._tcp.kubia-all.default", RecordType::Srv)
        .unwrap();
    let ip2 = pod_ip(&c, "kubia-2");
    let [a0, b0, c0, d0] = ip2.octets();
    let target = format!("{a0}-{b0}-{c0}-{d0}.kubia-all.default.svc.cluster.local");
    assert_eq!(srv.len(), 3);
    assert!(
        srv.iter()
            .any(|r| matches!(r, Record::Srv { target: t, port: 8080, .. } if *t == target)),
        "{srv:?}"
    );
    assert_eq!(
        a_ips(&dns.resolve(&target, RecordType::A).unwrap()),
        [ip2].into()
    );
}

#[test]
fn selectorless_headless_service_answers_from_its_endpoints() {
    let mut c = cluster();
    c.apply(yaml(
        "apiVersion: v1
kind: Service
metadata: {name: redis}
spec:
  clusterIP: None
  ports: [{name: redis, port: 6379}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: redis}
subsets:
- addresses:
  - {ip: 192.168.1.10, hostname: primary}
  - {ip: 192.168.1.11}
  notReadyAddresses:
  - {ip: 192.168.1.12}
  ports: [{name: redis, port: 6380}]
",
    ))
    .unwrap();
    let dns = DnsView::new(c.store());
    let a = dns
        .resolve("redis.default.svc.cluster.local", RecordType::A)
        .unwrap();
    assert_eq!(
        a_ips(&a),
        [
            Ipv4Addr::new(192, 168, 1, 10),
            Ipv4Addr::new(192, 168, 1, 11)
        ]
        .into()
    );
    let srv = dns
        .resolve(
            "_redis._tcp.redis.default.svc.cluster.local",
            RecordType::Srv,
        )
        .unwrap();
    assert_eq!(
        answers(&srv),
        vec![
            "0 50 6380 192-168-1-11.redis.default.svc.cluster.local",
            "0 50 6380 primary.redis.default.svc.cluster.local",
        ]
    );
    let primary = dns
        .resolve("primary.redis.default.svc.cluster.local", RecordType::A)
        .unwrap();
    assert_eq!(a_ips(&primary), [Ipv4Addr::new(192, 168, 1, 10)].into());
}

#[test]
fn external_name_is_reported_as_a_cname() {
    let mut c = cluster();
    c.apply(yaml(
        "apiVersion: v1
kind: Service
metadata: {name: db}
spec: {type: ExternalName, externalName: db.example.com}
",
    ))
    .unwrap();
    let dns = DnsView::new(c.store());
    assert_eq!(
        dns.resolve("db.default.svc.cluster.local", RecordType::A),
        Err(DnsError::ExternalName {
            name: "db.default.svc.cluster.local".into(),
            target: "db.example.com".into()
        })
    );
}

#[test]
fn unknown_names_are_nxdomain() {
    let c = cluster();
    let dns = DnsView::new(c.store());
    for name in [
        "nope.default.svc.cluster.local",
        "kubia.other.svc.cluster.local",
        "kubia.default.svc.example.org.",
        "kubia-9.kubia.default.svc.cluster.local",
    ] {
        for qtype in [RecordType::A, RecordType::Srv] {
            assert_eq!(
                dns.resolve(name, qtype),
                Err(DnsError::NotFound { name: name.into() }),
                "{name} {qtype}"
            );
        }
    }
}

#[test]
fn custom_cluster_domain() {
    let c = cluster();
    let dns = DnsView::with_domain(c.store(), "corp.internal");
    assert_eq!(dns.domain(), "corp.internal");
    let a = dns
        .resolve("kubia.default.svc.corp.internal", RecordType::A)
        .unwrap();
    assert_eq!(a.len(), 2);
    assert!(a
        .iter()
        .all(|r| r.name() == "kubia.default.svc.corp.internal"));
    assert!(dns
        .resolve("kubia.default.svc.cluster.local.", RecordType::A)
        .is_err());
    let srv = dns.resolve("kubia.default", RecordType::Srv).unwrap();
    assert!(answers(&srv)
        .iter()
        .all(|a| a.ends_with(".kubia.default.svc.corp.internal")));
}
