//! `traffic` steps: requests from simulated clients through the router
//! ([`kubesim_router::Router`], synced from the cluster's store), with the Service's
//! own sessionAffinity and round-robin, at the current virtual time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};

use kubesim_core::model::Kind;
use kubesim_core::store::Store;
use kubesim_core::time::Timestamp;
use kubesim_router::balance::RoundRobin;
use kubesim_router::{Destination, RouteError, Router, ServiceState};
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::parse::{PortSel, ServiceRef, Traffic, Via};

/// The first simulated client's address; client `i` is this plus `i`.
const FIRST_CLIENT: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);

/// What a traffic step saw.
#[derive(Clone, Debug, Default)]
pub struct TrafficResult {
    /// Requests served per endpoint (`pod-name` or `ip:port` for non-pod addresses).
    pub served: BTreeMap<String, usize>,
    /// Requests with no endpoint to go to.
    pub errors: usize,
    /// The first error's text.
    pub first_error: Option<String>,
    /// Clients that were served by more than one endpoint.
    pub unsticky_clients: usize,
    /// Endpoints that served a request and do not match `served-by`.
    pub outside_served_by: BTreeSet<String>,
    /// Each expectation that failed, in words.
    pub failures: Vec<String>,
}

/// Runs `t` against `router` (already synced) for Services in `namespace`.
///
/// # Errors
///
/// A message when the Service, its port or its address cannot be found.
pub fn run(
    router: &Router,
    store: &Store,
    t: &Traffic,
    namespace: &str,
    now: Timestamp,
    seed: u64,
) -> Result<TrafficResult, String> {
    let dests = destinations(router, store, t, namespace)?;
    // Pod IP → pod (the Service's namespace), to name endpoints and check served-by.
    let mut pods = HashMap::new();
    for p in store
        .list(Kind::Pod, Some(namespace), None, None)
        .map_err(|e| e.to_string())?
    {
        if let Some(ip) = p.as_pod().and_then(|pod| pod.status.pod_ip) {
            pods.insert(ip, p);
        }
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = TrafficResult::default();
    let mut per_client: HashMap<Ipv4Addr, BTreeSet<SocketAddrV4>> = HashMap::new();
    for i in 0..t.requests {
        let c = i % t.clients;
        let ip = Ipv4Addr::from(u32::from(FIRST_CLIENT).wrapping_add(c as u32));
        let port = 32768 + ((i / t.clients) % 28_000) as u16;
        let client = SocketAddrV4::new(ip, port);
        let dest = &dests[i % dests.len()];
        match router.route(dest, client, now, &RoundRobin, &mut rng) {
            Ok(r) => {
                let pod = pods.get(r.endpoint.ip());
                let name = match pod {
                    Some(p) => p.name().to_string(),
                    None => r.endpoint.to_string(),
                };
                if let Some(sel) = &t.expect.served_by {
                    if !pod.is_some_and(|p| sel.matches(p.labels())) {
                        out.outside_served_by.insert(name.clone());
                    }
                }
                *out.served.entry(name).or_default() += 1;
                per_client.entry(ip).or_default().insert(r.endpoint);
            }
            Err(e @ (RouteError::NoEndpoints { .. } | RouteError::NoService { .. })) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| e.to_string());
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    out.unsticky_clients = per_client.values().filter(|s| s.len() > 1).count();
    let e = &t.expect;
    if let Some(want) = e.errors {
        if out.errors != want {
            out.failures
                .push(format!("errors: want {want}, found {}", out.errors));
        }
    }
    if let Some(want) = e.endpoints {
        if out.served.len() != want {
            out.failures.push(format!(
                "endpoints: want {want}, found {}",
                out.served.len()
            ));
        }
    }
    if let Some(max) = e.max_share {
        let top = out.served.values().copied().max().unwrap_or(0);
        let share = if t.requests == 0 {
            0.0
        } else {
            top as f64 / t.requests as f64
        };
        if share > max {
            out.failures
                .push(format!("max-share: want at most {max}, found {share:.3}"));
        }
    }
    if let Some(want) = e.sticky {
        let sticky = out.unsticky_clients == 0;
        if sticky != want {
            out.failures.push(format!(
                "sticky: want {want}, found {} of {} clients served by more than one endpoint",
                out.unsticky_clients,
                per_client.len()
            ));
        }
    }
    if e.served_by.is_some() && !out.outside_served_by.is_empty() {
        out.failures.push(format!(
            "served-by: requests went to endpoints outside the selector: {}",
            out.outside_served_by
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(out)
}

/// The destinations requests go to (several node IPs for `node-port`, taken in turn).
fn destinations(
    router: &Router,
    store: &Store,
    t: &Traffic,
    namespace: &str,
) -> Result<Vec<Destination>, String> {
    let name = match &t.service {
        ServiceRef::Addr(a) => return Ok(vec![Destination::tcp(*a.ip(), a.port())]),
        ServiceRef::Name(n) => n,
    };
    let st = router
        .service(namespace, name)
        .ok_or_else(|| format!("services {name:?} not found in namespace {namespace:?}"))?;
    let pi = port_index(&st, t.port.as_ref())?;
    let port = &st.ports[pi];
    let dest = |ip: Ipv4Addr, p: u16| Destination {
        ip,
        port: p,
        protocol: port.protocol,
    };
    match t.via {
        Via::ClusterIp => {
            if st.headless {
                return Err(format!(
                    "service {name:?} is headless: it has no cluster IP (use dns)"
                ));
            }
            let ip = st
                .cluster_ip
                .ok_or_else(|| format!("service {name:?} has no cluster IP"))?;
            Ok(vec![dest(ip, port.port)])
        }
        Via::NodePort => {
            let np = port
                .node_port
                .ok_or_else(|| format!("service {name:?} port {} has no node port", port.port))?;
            let ips: Vec<Ipv4Addr> = store
                .list(Kind::Node, None, None, None)
                .map_err(|e| e.to_string())?
                .iter()
                .filter_map(|n| n.as_node().and_then(|n| n.status.internal_ip))
                .collect();
            if ips.is_empty() {
                return Err("no node has an address for node-port traffic".into());
            }
            Ok(ips.into_iter().map(|ip| dest(ip, np)).collect())
        }
        Via::LoadBalancer => {
            let ip = st
                .load_balancer_ips
                .first()
                .copied()
                .ok_or_else(|| format!("service {name:?} has no load-balancer ingress IP"))?;
            Ok(vec![dest(ip, port.port)])
        }
    }
}

fn port_index(st: &ServiceState, port: Option<&PortSel>) -> Result<usize, String> {
    let name = &st.name;
    match port {
        None if st.ports.len() == 1 => Ok(0),
        None => Err(format!(
            "service {name:?} has {} ports: give port",
            st.ports.len()
        )),
        Some(PortSel::Number(n)) => st
            .ports
            .iter()
            .position(|p| p.port == *n)
            .ok_or_else(|| format!("service {name:?} has no port {n}")),
        Some(PortSel::Name(n)) => st
            .ports
            .iter()
            .position(|p| p.name.as_deref() == Some(n.as_str()))
            .ok_or_else(|| format!("service {name:?} has no port named {n:?}")),
    }
}
