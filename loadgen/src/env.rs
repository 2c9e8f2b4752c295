//! The world the traffic runs in: an [`Environment`] owns the [`Router`] and says,
//! at any virtual instant, which endpoints are Ready.
//!
//! The loadgen drives time: before it handles anything at virtual time `t` it calls
//! [`Environment::advance_to`]`(t)`, so the environment can run whatever came due up to
//! `t` (controllers, kubelets) and feed the router the resulting watch events; then it
//! routes through [`Environment::router`] and asks [`Environment::is_ready`] whether
//! the chosen endpoint is Ready *at that instant* (a "not ready" error otherwise).
//! Everything runs on one thread, in virtual time.
//!
//! [`SyntheticService`] is the standalone environment: one Service with `n` endpoints
//! that are always Ready, in a private store. `kubesim route` implements the trait on a
//! real simulated cluster (Deployment + Service, rolling updates).

use std::net::{Ipv4Addr, SocketAddrV4};

use kubesim_core::manifest;
use kubesim_core::store::Store;
use kubesim_core::time::Timestamp;
use kubesim_router::{Destination, Router, RouterConfig};

/// A world the loadgen can run traffic in (see the module docs).
pub trait Environment {
    /// The router every request goes through.
    fn router(&self) -> &Router;

    /// The address the clients connect to (a ClusterIP:port, a node port, …).
    fn destination(&self) -> Destination;

    /// The virtual time at which the run starts (the loadgen's time 0).
    fn start(&self) -> Timestamp;

    /// Brings the world to virtual time `now` (never earlier than a previous call):
    /// runs what came due and updates the router.
    fn advance_to(&mut self, now: Timestamp);

    /// Whether `endpoint` is Ready (and not being deleted) at the current instant.
    fn is_ready(&self, endpoint: SocketAddrV4) -> bool;

    /// A label for the current part of the run (latency and errors are also reported
    /// per phase); one phase, `steady`, by default.
    fn phase(&self) -> &'static str {
        "steady"
    }

    /// Whether the run should stop issuing requests now (e.g. a rollout completed);
    /// in-flight requests still complete.
    fn finished(&self) -> bool {
        false
    }
}

/// The first endpoint address of a [`SyntheticService`] (`10.244.0.1`).
pub const SYNTHETIC_BASE: Ipv4Addr = Ipv4Addr::new(10, 244, 0, 1);
/// The synthetic Service's ClusterIP.
pub const SYNTHETIC_VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
/// The synthetic Service's port; endpoints listen on 8080.
pub const SYNTHETIC_PORT: u16 = 80;

/// Endpoints per EndpointSlice (the EndpointSlice controller's default maximum).
const SLICE_SIZE: usize = 100;

/// One Service (`default/web`, ClusterIP [`SYNTHETIC_VIP`]:80) with `n` always-Ready
/// endpoints `10.244.0.1:8080`, `10.244.0.2:8080`, … in EndpointSlices of 100, in a
/// private store the router has synced from.
#[derive(Debug)]
pub struct SyntheticService {
    router: Router,
    endpoints: Vec<SocketAddrV4>,
    now: Timestamp,
    _store: Store,
}

impl SyntheticService {
    /// The service with `n` endpoints (1 ..= 65,535); `affinity`: `sessionAffinity:
    /// ClientIP` (default timeout, 10,800 s); `seed`: the router's shuffle seed.
    ///
    /// # Errors
    ///
    /// A message when `n` is out of range or the objects are rejected.
    pub fn new(n: usize, affinity: bool, seed: u64) -> Result<SyntheticService, String> {
        if n == 0 || n > 65_535 {
            return Err(format!("endpoints must be in 1..=65535, got {n}"));
        }
        let endpoints: Vec<SocketAddrV4> = (0..n)
            .map(|i| SocketAddrV4::new(Ipv4Addr::from(u32::from(SYNTHETIC_BASE) + i as u32), 8080))
            .collect();
        let mut yaml = format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default}}\n\
             spec: {{clusterIP: {SYNTHETIC_VIP}, ports: [{{name: http, port: {SYNTHETIC_PORT}, targetPort: 8080}}]{}}}\n",
            if affinity { ", sessionAffinity: ClientIP" } else { "" }
        );
        for (s, chunk) in endpoints.chunks(SLICE_SIZE).enumerate() {
            yaml.push_str(&format!(
                "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
                 metadata: {{name: web-{s}, namespace: default, labels: {{kubernetes.io/service-name: web}}}}\n\
                 addressType: IPv4\nports: [{{name: http, port: 8080, protocol: TCP}}]\nendpoints:\n"
            ));
            for ep in chunk {
                yaml.push_str(&format!(
                    "- addresses: [{}]\n  conditions: {{ready: true, serving: true, terminating: false}}\n",
                    ep.ip()
                ));
            }
        }
        let store = Store::new();
        let objects = manifest::load_str(&yaml, "synthetic.yaml").map_err(|e| format!("{e}"))?;
        for obj in objects {
            store.create(obj).map_err(|e| format!("{e}"))?;
        }
        let router = Router::new(RouterConfig {
            seed,
            ..RouterConfig::default()
        });
        router.sync(&store).map_err(|e| format!("{e}"))?;
        Ok(SyntheticService {
            router,
            endpoints,
            now: Timestamp(0),
            _store: store,
        })
    }

    /// The endpoints, in address order.
    pub fn endpoints(&self) -> &[SocketAddrV4] {
        &self.endpoints
    }
}

impl Environment for SyntheticService {
    fn router(&self) -> &Router {
        &self.router
    }
    fn destination(&self) -> Destination {
        Destination::tcp(SYNTHETIC_VIP, SYNTHETIC_PORT)
    }
    fn start(&self) -> Timestamp {
        Timestamp(0)
    }
    fn advance_to(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
    }
    fn is_ready(&self, endpoint: SocketAddrV4) -> bool {
        self.endpoints.binary_search(&endpoint).is_ok()
    }
}
