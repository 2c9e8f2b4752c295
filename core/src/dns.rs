//! Cluster DNS: the answers CoreDNS's `kubernetes` plugin would give, computed on demand
//! from the [`Store`] (read-only; no controller, no cache).
//!
//! [`DnsView::resolve`] answers `A` and `SRV` queries for these names (the cluster domain
//! is `cluster.local` unless [`DnsView::with_domain`] says otherwise):
//!
//! | name | `A` | `SRV` |
//! |---|---|---|
//! | `<svc>.<ns>.svc.<domain>` | the ClusterIP; headless: one per ready endpoint | one per port (ClusterIP: target the service name, the service port); headless: one per ready endpoint and port (target the endpoint name, the endpoint port) |
//! | `_<port>._<proto>.<svc>.<ns>.svc.<domain>` | as above, headless endpoints limited to those with that port | as above, limited to the named port `<port>` with protocol `<proto>` (`tcp`, `udp`, `sctp`) |
//! | `<host>.<svc>.<ns>.svc.<domain>` (headless `<svc>` only) | the ready endpoint whose hostname is `<host>` (a StatefulSet pod with `hostname`/`subdomain`), or, for an endpoint without a hostname, whose IP written `a-b-c-d` is `<host>` | none (an empty answer) |
//!
//! **Endpoint source.** A Service with a selector is answered from its EndpointSlices
//! (label `kubernetes.io/service-name`); an endpoint counts when `conditions.ready` is not
//! `false` (an unset condition means ready, as the API documents). `publishNotReadyAddresses`
//! needs nothing here: the endpoints controller already writes `ready: true` for every
//! endpoint of such a Service. A selector-less Service is answered from its user-written
//! Endpoints object (`addresses` only; `notReadyAddresses` never).
//!
//! **SRV weights** follow CoreDNS: priority 0 for every record and weight
//! `max(1, ⌊100 / n⌋)` where `n` is the number of records in the answer (one record: 100;
//! two: 50 each; three: 33 each).
//!
//! **Names.** Matching is case-insensitive and answers use the canonical lower-case name
//! without a trailing dot. A name with a trailing dot is absolute and must end in
//! `.svc.<domain>`. A name without one that does not end in `.svc.<domain>` is expanded
//! as a pod's resolver search path would: `<x>.svc` gets `.<domain>` appended, anything
//! else gets `.svc.<domain>` appended (so `kubia.default` and `kubia.default.svc` both
//! mean `kubia.default.svc.cluster.local`). The single-label form `<svc>` needs the
//! asking pod's namespace and is not supported.
//!
//! **Simplifications.** An ExternalName Service is a CNAME upstream; here it is the
//! error [`DnsError::ExternalName`] carrying the target, for the caller to follow. A name
//! whose Service exists but has nothing to return (a ClusterIP not assigned yet, a
//! headless Service with no ready endpoint) is an empty answer (`NOERROR`, no data), not
//! `NXDOMAIN`. Endpoint names (`<host>.<svc>...`) are answered for headless Services only,
//! as the Kubernetes DNS specification says.
//!
//! ```
//! use kubesim_core::dns::{DnsView, RecordType};
//! use kubesim_core::{manifest, store::Store};
//!
//! let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n\
//!             spec: {clusterIP: 10.96.0.10, selector: {app: web}, ports: [{name: http, port: 80}]}\n";
//! let store = Store::new();
//! for obj in manifest::load_str(yaml, "inline.yaml").unwrap() {
//!     store.create(obj).unwrap();
//! }
//! let dns = DnsView::new(&store);
//! let a = dns.resolve("web.default.svc.cluster.local", RecordType::A).unwrap();
//! assert_eq!(a[0].answer(), "10.96.0.10");
//! let srv = dns.resolve("_http._tcp.web.default", RecordType::Srv).unwrap();
//! assert_eq!(srv[0].answer(), "0 100 80 web.default.svc.cluster.local");
//! ```

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use thiserror::Error;

use crate::intern::Str;
use crate::model::{
    ClusterIp, EndpointPort, Kind, Protocol, Service, ServiceType, LABEL_SERVICE_NAME,
};
use crate::selector::LabelSelector;
use crate::store::Store;

/// The default cluster domain.
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// The longest DNS name (RFC 1035, without the trailing dot).
const MAX_NAME_LEN: usize = 253;
/// The longest DNS label (RFC 1035).
const MAX_LABEL_LEN: usize = 63;

/// A query type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum RecordType {
    /// An IPv4 address record (the default).
    #[default]
    A,
    /// A service record (priority, weight, port, target).
    Srv,
}

impl RecordType {
    /// The DNS spelling (`"A"`, `"SRV"`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Srv => "SRV",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecordType {
    type Err = String;

    /// Parses `A` or `SRV` (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("A") {
            Ok(RecordType::A)
        } else if s.eq_ignore_ascii_case("SRV") {
            Ok(RecordType::Srv)
        } else {
            Err(format!(
                "unsupported DNS record type {s:?} (expected A or SRV)"
            ))
        }
    }
}

/// One answer record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Record {
    /// An address record.
    A {
        /// The owner name (canonical, no trailing dot).
        name: String,
        /// The address.
        ip: Ipv4Addr,
    },
    /// A service record.
    Srv {
        /// The owner name (canonical, no trailing dot).
        name: String,
        /// Priority (always 0, as CoreDNS).
        priority: u16,
        /// Weight (`max(1, ⌊100 / n⌋)` for `n` records, as CoreDNS).
        weight: u16,
        /// Port.
        port: u16,
        /// Target host name (no trailing dot).
        target: String,
    },
}

impl Record {
    /// The owner name.
    pub fn name(&self) -> &str {
        match self {
            Record::A { name, .. } | Record::Srv { name, .. } => name,
        }
    }

    /// The record type.
    pub fn record_type(&self) -> RecordType {
        match self {
            Record::A { .. } => RecordType::A,
            Record::Srv { .. } => RecordType::Srv,
        }
    }

    /// The record data in zone-file form: `10.96.0.10` for A,
    /// `<priority> <weight> <port> <target>` for SRV.
    pub fn answer(&self) -> String {
        match self {
            Record::A { ip, .. } => ip.to_string(),
            Record::Srv {
                priority,
                weight,
                port,
                target,
                ..
            } => format!("{priority} {weight} {port} {target}"),
        }
    }
}

impl fmt::Display for Record {
    /// `<name> <type> <answer>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.name(),
            self.record_type(),
            self.answer()
        )
    }
}

/// Why a query has no answer.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DnsError {
    /// `NXDOMAIN`: no such name in the cluster domain.
    #[error("NXDOMAIN: {name}")]
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// The name is an ExternalName Service: upstream answers with a CNAME to `target`.
    #[error("{name} is an ExternalName service: CNAME {target}")]
    ExternalName {
        /// The name asked for.
        name: String,
        /// `spec.externalName`.
        target: String,
    },
    /// The name is not a well-formed DNS name (empty label, too long).
    #[error("invalid DNS name {name:?}: {reason}")]
    InvalidName {
        /// The name asked for.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store could not be read.
    #[error("store: {0}")]
    Store(String),
}

/// What a name under `svc.<domain>` refers to (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DnsName {
    /// `<service>.<namespace>.svc.<domain>`.
    Service {
        /// Service name.
        service: String,
        /// Namespace.
        namespace: String,
    },
    /// `_<port>._<protocol>.<service>.<namespace>.svc.<domain>`.
    ServicePort {
        /// The port's name.
        port: String,
        /// The port's protocol.
        protocol: Protocol,
        /// Service name.
        service: String,
        /// Namespace.
        namespace: String,
    },
    /// `<host>.<service>.<namespace>.svc.<domain>`: an endpoint of a headless Service.
    Endpoint {
        /// The endpoint's hostname, or its IP written `a-b-c-d`.
        host: String,
        /// Service name.
        service: String,
        /// Namespace.
        namespace: String,
    },
}

impl DnsName {
    /// The Service the name belongs to.
    pub fn service(&self) -> &str {
        match self {
            DnsName::Service { service, .. }
            | DnsName::ServicePort { service, .. }
            | DnsName::Endpoint { service, .. } => service,
        }
    }

    /// The namespace the name belongs to.
    pub fn namespace(&self) -> &str {
        match self {
            DnsName::Service { namespace, .. }
            | DnsName::ServicePort { namespace, .. }
            | DnsName::Endpoint { namespace, .. } => namespace,
        }
    }

    /// The canonical fully qualified name (lower case, no trailing dot).
    pub fn fqdn(&self, domain: &str) -> String {
        match self {
            DnsName::Service { service, namespace } => {
                format!("{service}.{namespace}.svc.{domain}")
            }
            DnsName::ServicePort {
                port,
                protocol,
                service,
                namespace,
            } => format!(
                "_{port}._{}.{service}.{namespace}.svc.{domain}",
                proto_label(*protocol)
            ),
            DnsName::Endpoint {
                host,
                service,
                namespace,
            } => format!("{host}.{service}.{namespace}.svc.{domain}"),
        }
    }
}

/// The SRV protocol label of a protocol (`tcp`).
fn proto_label(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// The cluster domain in canonical form (lower case, no leading/trailing dots).
fn normalize_domain(domain: &str) -> String {
    domain.trim_matches('.').to_ascii_lowercase()
}

/// Parses `name` (see the module docs for the accepted forms and the search-path
/// expansion) under cluster domain `domain`.
///
/// # Errors
///
/// [`DnsError::InvalidName`] for an empty label or a name or label that is too long;
/// [`DnsError::NotFound`] for a name outside `svc.<domain>` or of no known shape.
pub fn parse_name(name: &str, domain: &str) -> Result<DnsName, DnsError> {
    let domain = normalize_domain(domain);
    let invalid = |reason: &str| DnsError::InvalidName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    let not_found = || DnsError::NotFound {
        name: name.to_string(),
    };
    let lower = name.to_ascii_lowercase();
    let (absolute, bare) = match lower.strip_suffix('.') {
        Some(b) => (true, b),
        None => (false, lower.as_str()),
    };
    if bare.is_empty() {
        return Err(invalid("empty name"));
    }
    if bare.len() > MAX_NAME_LEN {
        return Err(invalid("longer than 253 characters"));
    }
    if let Some(l) = bare
        .split('.')
        .find(|l| l.is_empty() || l.len() > MAX_LABEL_LEN)
    {
        return Err(invalid(if l.is_empty() {
            "empty label"
        } else {
            "label longer than 63 characters"
        }));
    }
    let zone_suffix = format!(".svc.{domain}");
    let rest = if let Some(r) = bare.strip_suffix(zone_suffix.as_str()) {
        r
    } else if absolute || bare == format!("svc.{domain}") || bare.ends_with(&format!(".{domain}")) {
        return Err(not_found());
    } else if let Some(r) = bare.strip_suffix(".svc") {
        // Search path: `<x>.svc` + `.<domain>`.
        r
    } else {
        // Search path: `<x>` + `.svc.<domain>`.
        bare
    };
    let labels: Vec<&str> = rest.split('.').collect();
    match labels.as_slice() {
        [svc, ns] if !svc.starts_with('_') => Ok(DnsName::Service {
            service: svc.to_string(),
            namespace: ns.to_string(),
        }),
        [host, svc, ns] if !host.starts_with('_') && !svc.starts_with('_') => {
            Ok(DnsName::Endpoint {
                host: host.to_string(),
                service: svc.to_string(),
                namespace: ns.to_string(),
            })
        }
        [port, proto, svc, ns] => {
            let port = port.strip_prefix('_').filter(|p| !p.is_empty());
            let protocol = match proto.strip_prefix('_') {
                Some("tcp") => Some(Protocol::Tcp),
                Some("udp") => Some(Protocol::Udp),
                Some("sctp") => Some(Protocol::Sctp),
                _ => None,
            };
            match (port, protocol) {
                (Some(port), Some(protocol)) if !svc.starts_with('_') => Ok(DnsName::ServicePort {
                    port: port.to_string(),
                    protocol,
                    service: svc.to_string(),
                    namespace: ns.to_string(),
                }),
                _ => Err(not_found()),
            }
        }
        _ => Err(not_found()),
    }
}

/// The DNS label CoreDNS derives from an endpoint IP without a hostname (`10-1-0-5`).
pub fn ip_label(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{a}-{b}-{c}-{d}")
}

/// A ready endpoint of a Service: its address, hostname and ports.
#[derive(Clone, Debug)]
struct ReadyEndpoint {
    ip: Ipv4Addr,
    hostname: Option<Str>,
    ports: Vec<EndpointPort>,
}

impl ReadyEndpoint {
    /// The DNS label of the endpoint: its hostname, else its dashed IP.
    fn label(&self) -> String {
        match &self.hostname {
            Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
            _ => ip_label(self.ip),
        }
    }
}

/// A read-only DNS view of a [`Store`] (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct DnsView<'a> {
    store: &'a Store,
    domain: &'a str,
}

impl<'a> DnsView<'a> {
    /// A view with the cluster domain [`DEFAULT_CLUSTER_DOMAIN`].
    pub fn new(store: &'a Store) -> Self {
        DnsView {
            store,
            domain: DEFAULT_CLUSTER_DOMAIN,
        }
    }

    /// A view with cluster domain `domain` (leading/trailing dots ignored; lower-case it
    /// for canonical answer names).
    pub fn with_domain(store: &'a Store, domain: &'a str) -> Self {
        DnsView {
            store,
            domain: domain.trim_matches('.'),
        }
    }

    /// The cluster domain.
    pub fn domain(&self) -> &str {
        self.domain
    }

    /// Answers a query for `name` of type `qtype`; records are in a deterministic order
    /// (A by address, SRV by target then port).
    ///
    /// # Errors
    ///
    /// [`DnsError::NotFound`] for a name that does not exist (no such Service, no such
    /// named port, no such ready endpoint), [`DnsError::ExternalName`] for an
    /// ExternalName Service, [`DnsError::InvalidName`] for a malformed name,
    /// [`DnsError::Store`] if the store cannot be listed.
    pub fn resolve(&self, name: &str, qtype: RecordType) -> Result<Vec<Record>, DnsError> {
        let domain = normalize_domain(self.domain);
        let parsed = parse_name(name, &domain)?;
        let not_found = || DnsError::NotFound {
            name: name.to_string(),
        };
        let Some(obj) = self
            .store
            .try_get(Kind::Service, parsed.namespace(), parsed.service())
        else {
            return Err(not_found());
        };
        let Some(svc) = obj.as_service() else {
            return Err(not_found());
        };
        if svc.spec.type_ == ServiceType::ExternalName {
            return Err(DnsError::ExternalName {
                name: name.to_string(),
                target: svc.spec.external_name.as_deref().unwrap_or("").to_string(),
            });
        }
        let owner = parsed.fqdn(&domain);
        let svc_fqdn = format!("{}.{}.svc.{domain}", parsed.service(), parsed.namespace());
        let headless = svc.is_headless();
        match &parsed {
            DnsName::Endpoint { host, .. } => {
                if !headless {
                    return Err(not_found());
                }
                let ips: Vec<Ipv4Addr> = self
                    .ready_endpoints(svc)?
                    .iter()
                    .filter(|e| e.label() == *host)
                    .map(|e| e.ip)
                    .collect();
                if ips.is_empty() {
                    return Err(not_found());
                }
                Ok(match qtype {
                    RecordType::A => a_records(&owner, ips),
                    RecordType::Srv => Vec::new(),
                })
            }
            DnsName::Service { .. } | DnsName::ServicePort { .. } => {
                // The service ports the name covers: all of them, or the named one.
                let ports: Vec<_> = match &parsed {
                    DnsName::ServicePort { port, protocol, .. } => svc
                        .spec
                        .ports
                        .iter()
                        .filter(|p| {
                            p.protocol == *protocol
                                && p.name.as_deref().map(str::to_ascii_lowercase).as_deref()
                                    == Some(port.as_str())
                        })
                        .collect(),
                    _ => svc.spec.ports.iter().collect(),
                };
                if matches!(parsed, DnsName::ServicePort { .. }) && ports.is_empty() {
                    return Err(not_found());
                }
                if !headless {
                    let ClusterIp::Ip(ip) = svc.spec.cluster_ip else {
                        return Ok(Vec::new());
                    };
                    return Ok(match qtype {
                        RecordType::A => a_records(&owner, vec![ip]),
                        RecordType::Srv => srv_records(
                            &owner,
                            ports
                                .iter()
                                .filter_map(|p| {
                                    Some((svc_fqdn.clone(), u16::try_from(p.port).ok()?))
                                })
                                .collect(),
                        ),
                    });
                }
                let eps = self.ready_endpoints(svc)?;
                let by_port = matches!(parsed, DnsName::ServicePort { .. });
                let mut ips = Vec::new();
                let mut srvs = Vec::new();
                for ep in &eps {
                    let mut has_port = false;
                    for sp in &ports {
                        let ep_port = ep.ports.iter().find(|p| {
                            p.protocol == sp.protocol && p.name.as_deref() == sp.name.as_deref()
                        });
                        if let Some(port) = ep_port.and_then(|p| u16::try_from(p.port).ok()) {
                            has_port = true;
                            srvs.push((format!("{}.{svc_fqdn}", ep.label()), port));
                        }
                    }
                    if has_port || !by_port {
                        ips.push(ep.ip);
                    }
                }
                Ok(match qtype {
                    RecordType::A => a_records(&owner, ips),
                    RecordType::Srv => srv_records(&owner, srvs),
                })
            }
        }
    }

    /// The ready endpoints of `svc`: from its EndpointSlices when it has a selector, from
    /// its Endpoints (ready `addresses`) when it has none.
    fn ready_endpoints(&self, svc: &Service) -> Result<Vec<ReadyEndpoint>, DnsError> {
        let ns = svc.meta.namespace.as_str();
        let mut out = Vec::new();
        if svc.spec.selector.is_empty() {
            if let Some(obj) = self.store.try_get(Kind::Endpoints, ns, &svc.meta.name) {
                if let Some(ep) = obj.as_endpoints() {
                    for sub in &ep.subsets {
                        out.extend(sub.addresses.iter().map(|a| ReadyEndpoint {
                            ip: a.ip,
                            hostname: a.hostname.clone(),
                            ports: sub.ports.clone(),
                        }));
                    }
                }
            }
            return Ok(out);
        }
        let sel: LabelSelector = format!("{LABEL_SERVICE_NAME}={}", svc.meta.name)
            .parse()
            .map_err(|e| DnsError::Store(format!("{e}")))?;
        let slices = self
            .store
            .list(Kind::EndpointSlice, Some(ns), Some(&sel), None)
            .map_err(|e| DnsError::Store(e.to_string()))?;
        for obj in &slices {
            let Some(slice) = obj.as_endpoint_slice() else {
                continue;
            };
            for e in &slice.endpoints {
                if e.conditions.ready == Some(false) {
                    continue;
                }
                out.extend(e.addresses.iter().map(|ip| ReadyEndpoint {
                    ip: *ip,
                    hostname: e.hostname.clone(),
                    ports: slice.ports.clone(),
                }));
            }
        }
        Ok(out)
    }
}

/// A records for `owner`, one per distinct address, by address.
fn a_records(owner: &str, mut ips: Vec<Ipv4Addr>) -> Vec<Record> {
    ips.sort_unstable();
    ips.dedup();
    ips.into_iter()
        .map(|ip| Record::A {
            name: owner.to_string(),
            ip,
        })
        .collect()
}

/// SRV records for `owner`, one per distinct (target, port), by target then port, with
/// CoreDNS's priority 0 and weight `max(1, ⌊100 / n⌋)`.
fn srv_records(owner: &str, mut targets: Vec<(String, u16)>) -> Vec<Record> {
    targets.sort_unstable();
    targets.dedup();
    let n = targets.len().max(1);
    let weight = u16::try_from(100 / n).unwrap_or(0).max(1);
    targets
        .into_iter()
        .map(|(target, port)| Record::Srv {
            name: owner.to_string(),
            priority: 0,
            weight,
            port,
            target,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(service: &str, namespace: &str) -> DnsName {
        DnsName::Service {
            service: service.into(),
            namespace: namespace.into(),
        }
    }

    fn check(name: &str, expected: Result<DnsName, ()>) {
        let got = parse_name(name, "cluster.local");
        match (got, expected) {
            (Ok(g), Ok(e)) => assert_eq!(g, e, "{name}"),
            (Err(DnsError::NotFound { name: n }), Err(())) => assert_eq!(n, name),
            (g, e) => panic!("{name}: got {g:?}, expected {e:?}"),
        }
    }

    #[test]
    fn service_names_full_trailing_dot_and_search_path() {
        for name in [
            "kubia.default.svc.cluster.local",
            "kubia.default.svc.cluster.local.",
            "KUBIA.Default.SVC.cluster.LOCAL",
            "kubia.default.svc",
            "kubia.default",
        ] {
            check(name, Ok(svc("kubia", "default")));
        }
    }

    #[test]
    fn srv_names_parse_port_and_protocol() {
        check(
            "_http._tcp.kubia.default.svc.cluster.local",
            Ok(DnsName::ServicePort {
                port: "http".into(),
                protocol: Protocol::Tcp,
                service: "kubia".into(),
                namespace: "default".into(),
            }),
        );
        check(
            "_dns._udp.kube-dns.kube-system",
            Ok(DnsName::ServicePort {
                port: "dns".into(),
                protocol: Protocol::Udp,
                service: "kube-dns".into(),
                namespace: "kube-system".into(),
            }),
        );
        check("_http._icmp.kubia.default.svc.cluster.local", Err(()));
        check("http._tcp.kubia.default.svc.cluster.local", Err(()));
        check("_._tcp.kubia.default.svc.cluster.local", Err(()));
    }

    #[test]
    fn endpoint_names_parse() {
        check(
            "kubia-0.kubia.default.svc.cluster.local",
            Ok(DnsName::Endpoint {
                host: "kubia-0".into(),
                service: "kubia".into(),
                namespace: "default".into(),
            }),
        );
        check("_x.kubia.default.svc.cluster.local", Err(()));
    }

    #[test]
    fn names_outside_the_zone_or_of_no_shape_are_nxdomain() {
        check("kubia.default.svc.cluster.local.example.com.", Err(()));
        check("example.com.", Err(()));
        check("svc.cluster.local", Err(()));
        check("default.svc.cluster.local", Err(()));
        check("kubia.default.pod.cluster.local", Err(()));
        check("a.b.c.d.e.svc.cluster.local", Err(()));
        check("kubia", Err(()));
    }

    #[test]
    fn malformed_names_are_invalid() {
        for name in ["", ".", "a..b.svc.cluster.local", &"x".repeat(64)] {
            assert!(
                matches!(
                    parse_name(name, "cluster.local"),
                    Err(DnsError::InvalidName { .. })
                ),
                "{name:?}"
            );
        }
        let long = format!("{}.default.svc.cluster.local", ["a"; 120].join("."));
        assert!(matches!(
            parse_name(&long, "cluster.local"),
            Err(DnsError::InvalidName { .. })
        ));
    }

    #[test]
    fn custom_domain() {
        assert_eq!(
            parse_name("web.prod.svc.corp.example.", ".Corp.Example."),
            Ok(svc("web", "prod"))
        );
        assert!(parse_name("web.prod.svc.cluster.local.", "corp.example").is_err());
        assert_eq!(
            svc("web", "prod").fqdn("corp.example"),
            "web.prod.svc.corp.example"
        );
    }

    #[test]
    fn srv_weights_split_like_coredns() {
        let w = |n: usize| -> Vec<u16> {
            srv_records("x", (0..n).map(|i| (format!("t{i}"), 80)).collect())
                .iter()
                .map(|r| match r {
                    Record::Srv {
                        weight, priority, ..
                    } => {
                        assert_eq!(*priority, 0);
                        *weight
                    }
                    Record::A { .. } => unreachable!(),
                })
                .collect()
        };
        assert_eq!(w(1), vec![100]);
        assert_eq!(w(2), vec![50, 50]);
        assert_eq!(w(3), vec![33, 33, 33]);
        assert!(w(150).iter().all(|&x| x == 1));
    }

    #[test]
    fn record_type_and_answer_forms() {
        assert_eq!("srv".parse::<RecordType>(), Ok(RecordType::Srv));
        assert_eq!("A".parse::<RecordType>(), Ok(RecordType::A));
        assert!("AAAA".parse::<RecordType>().is_err());
        assert_eq!(ip_label(Ipv4Addr::new(10, 1, 0, 5)), "10-1-0-5");
        let r = Record::Srv {
            name: "s".into(),
            priority: 0,
            weight: 50,
            port: 80,
            target: "t".into(),
        };
        assert_eq!(r.to_string(), "s SRV 0 50 80 t");
    }
}
