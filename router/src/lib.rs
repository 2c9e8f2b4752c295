//! kubesim-router: a userspace kube-proxy.
//!
//! [`Router`] follows Services, EndpointSlices, hand-written Endpoints (for selector-less
//! Services) and Nodes from the kubesim [`Store`](kubesim_core::store::Store) and keeps a
//! routing table published by RCU: lookups take no lock, and an update rebuilds only the
//! Service it touches. It resolves ClusterIP:port, NodePort (on any node IP),
//! LoadBalancer IP:port and service DNS names; headless Services are DNS-only.
//!
//! - [`endpoints`]: the selection rules (ready only; serving+terminating when none is
//!   ready; none → [`RouteError::NoEndpoints`]) and the per-version [`EndpointSet`].
//! - [`table`]: the [`Router`], its two-level RCU table and the writer protocol.
//! - [`affinity`]: ClientIP affinity with timeout in a sharded open-addressing table read
//!   optimistically (seqlock), swept incrementally.
//! - [`balance`]: the [`Balancer`] trait and the algorithms (`round-robin`, `random`,
//!   `iptables`, `ipvs-rr`, `ipvs-sh`, `ipvs-lc`, `maglev`, `p2c-ewma`), each documented
//!   with what it models and what it leaves out.
//!
//! # Concurrency protocol (summary)
//!
//! - **One writer at a time**: [`Router::sync`] / [`Router::apply_events`] hold the
//!   writer mutex, build the touched Service's new state off to the side, and publish it
//!   with one `ArcSwap::store` into the Service's slot; the index (destination → slot)
//!   is swapped only when addresses change. Readers are never blocked by the writer.
//! - **Readers** ([`Router::route`], [`Router::resolve`]) load the index and the slot
//!   with arc-swap (no lock, no shared counter on the fast path) and work on one
//!   immutable version of the Service; the only shared mutable state they touch is the
//!   version's round-robin cursors (one relaxed `fetch_add` on the calling thread's own
//!   cache-padded stripe), the affinity table (a seqlock read with no shared write on a
//!   hit, a shard mutex on a miss) and a balancer's own counters.
//! - **Affinity sweeping** ([`Router::sweep_affinity`]) visits a bounded number of
//!   shards per call, one shard at a time: no stop-the-world pause.
//!
//! Time is always passed in (virtual [`Timestamp`](kubesim_core::time::Timestamp)) and
//! randomness comes from caller-owned seeded RNGs, so runs are deterministic.
//!
//! # Example
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddrV4};
//! use kubesim_core::{manifest, store::Store, time::Timestamp};
//! use kubesim_router::{balance::RoundRobin, Destination, Router, RouteError};
//! use rand::{rngs::SmallRng, SeedableRng};
//!
//! let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n\
//!             spec: {clusterIP: 10.96.0.10, selector: {app: web}, ports: [{port: 80}]}\n";
//! let store = Store::new();
//! for obj in manifest::load_str(yaml, "inline.yaml").unwrap() {
//!     store.create(obj).unwrap();
//! }
//! let router = Router::default();
//! router.sync(&store).unwrap();
//! let client = SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 1), 40000);
//! let mut rng = SmallRng::seed_from_u64(1);
//! let r = router.route(&Destination::tcp(Ipv4Addr::new(10, 96, 0, 10), 80), client,
//!                      Timestamp(0), &RoundRobin, &mut rng);
//! // No EndpointSlice yet: an explicit error, never a silent drop.
//! assert!(matches!(r, Err(RouteError::NoEndpoints { .. })));
//! ```

#![deny(missing_docs)]

use std::net::Ipv4Addr;

pub mod affinity;
pub mod balance;
pub mod endpoints;
pub mod table;

pub use balance::{Algorithm, Balancer};
pub use endpoints::{Backend, EndpointSet};
pub use table::{Destination, DnsAnswer, PortRef, Route, Router, RouterConfig, ServiceState};

/// Why a connection could not be routed (the client sees "connection refused" or a DNS
/// failure; nothing is dropped silently).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No Service listens at this address and port.
    #[error("no service at {ip}:{port}")]
    NoService {
        /// Destination IP.
        ip: Ipv4Addr,
        /// Destination port.
        port: u16,
    },
    /// The Service port has no ready and no serving+terminating endpoint.
    #[error("service {service} port {port} has no endpoints")]
    NoEndpoints {
        /// `namespace/name`.
        service: String,
        /// The Service port.
        port: u16,
    },
    /// The Service has no such port.
    #[error("service {service} has no port {port}")]
    NoPort {
        /// `namespace/name`.
        service: String,
        /// The port asked for.
        port: String,
    },
    /// The name is not a known Service's DNS name.
    #[error("unknown service name {name:?}")]
    UnknownName {
        /// The name asked for.
        name: String,
    },
    /// A headless Service has no virtual IP: resolve it and connect to an endpoint.
    #[error("{name:?} is a headless service: DNS only, no virtual IP")]
    Headless {
        /// The name asked for.
        name: String,
    },
    /// The Service has no cluster IP (ExternalName, or not allocated yet).
    #[error("service {service} has no cluster IP")]
    NoClusterIp {
        /// `namespace/name`.
        service: String,
    },
}
