//! kubesim-router: a userspace kube-proxy.
//!
//! This crate will hold the service routing table that follows Services and
//! EndpointSlices from the kubesim store (published by RCU, so lookups take no lock),
//! round-robin and ClientIP-affinity balancing as kube-proxy does them, and the
//! comparison algorithms (iptables probability chain, IPVS, Maglev, P2C with EWMA).
//! It is filled in by the router work (issue 5); today it is intentionally empty.
