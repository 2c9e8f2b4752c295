//! The routing table: Services, EndpointSlices, Endpoints and Nodes from the store,
//! published by RCU.
//!
//! # Concurrency protocol
//!
//! Two levels of `arc_swap::ArcSwap`:
//!
//! - the **index** (`ArcSwap<Index>`): destination → service slot — ClusterIP:port and
//!   LoadBalancer IP:port (one hash map), NodePort (port → slot, valid on any node IP),
//!   `(namespace, name)` for DNS, the id → slot map for the affinity sweeper, and the
//!   iptables `KUBE-SERVICES` rule list for [`Dispatch::LinearScan`];
//! - one **slot per Service** ([`ServiceSlot`], `ArcSwap<ServiceState>`): the service's
//!   ports, each with its [`EndpointSet`].
//!
//! **Writers** are serialized by one `parking_lot::Mutex` around the writer state (the
//! last object of every Service, EndpointSlice, Endpoints and Node seen, and the
//! watchers); only [`Router::sync`], [`Router::apply_events`] and
//! [`Router::rebuild_all`] take it. An event rebuilds only the Service it touches: its
//! new [`ServiceState`] is stored into its slot (one pointer swap). The index is rebuilt
//! and swapped only when a Service appears, disappears or changes its addresses
//! (cluster IP, ports, node ports, LB IPs), or a Node's IP set changes — endpoint churn
//! never touches it. A Service's state is stored before the index that points to it.
//!
//! **Readers** ([`Router::route`], [`Router::resolve`]) take no lock: they load the index
//! (arc-swap's wait-free fast path), then the slot's state, and use what they loaded
//! until they return. A reader may see a new state through an old index (or the reverse
//! for an instant); it then checks that the port it found still has the number and
//! protocol it asked for, and otherwise answers as if the service had no such port.
//! Every answer comes from one consistent [`ServiceState`]: a route never mixes two
//! versions of one service's endpoints.
//!
//! # Sources
//!
//! A Service with a selector takes its endpoints from the EndpointSlices labelled
//! `kubernetes.io/service-name=<name>`. A selector-less Service takes them from its
//! hand-written Endpoints object when there is one (`addresses` ready,
//! `notReadyAddresses` not; no terminating state), else from slices carrying its name
//! (user-written slices). A service port matches an endpoint port by name and protocol
//! (the endpoint port already holds the resolved targetPort, named container ports
//! included). Headless Services have no virtual IP and are answered by DNS only;
//! ExternalName Services are not routed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use fnv::{FnvHashMap, FnvHashSet};
use kubesim_core::dns::{parse_name, DnsName};
use kubesim_core::intern::Str;
use kubesim_core::model::{
    ClusterIp, EndpointSlice, Endpoints, Kind, Object, Protocol, Service, ServiceType,
    LABEL_SERVICE_NAME,
};
use kubesim_core::store::{Store, WatchEvent, WatchEventType, Watcher};
use kubesim_core::time::Timestamp;
use parking_lot::Mutex;
use rand::rngs::SmallRng;

use crate::affinity::{effective_timeout, AffinityKey, AffinityTable, SweepStats};
use crate::balance::{mix64, Balancer, Dispatch, PickContext};
use crate::endpoints::{Backend, Candidate, EndpointSet};
use crate::RouteError;

/// Router settings.
#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// Seed of the round-robin shuffles (deterministic per seed).
    pub seed: u64,
    /// Cluster DNS domain.
    pub domain: String,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            seed: 0x6b75_6265_7369_6d21,
            domain: "cluster.local".to_string(),
        }
    }
}

/// One port of a Service, with its selected endpoints.
#[derive(Debug)]
pub struct PortState {
    /// The port's name.
    pub name: Option<Str>,
    /// Protocol.
    pub protocol: Protocol,
    /// The Service port.
    pub port: u16,
    /// The node port, if any.
    pub node_port: Option<u16>,
    /// The selected endpoints.
    pub endpoints: Arc<EndpointSet>,
}

/// One version of a Service as the router sees it.
#[derive(Debug)]
pub struct ServiceState {
    /// Router-wide id (stable while the Service exists; never reused).
    pub id: u32,
    /// Namespace.
    pub namespace: Str,
    /// Name.
    pub name: Str,
    /// Type.
    pub type_: ServiceType,
    /// The cluster IP (none for headless, ExternalName or not yet allocated).
    pub cluster_ip: Option<Ipv4Addr>,
    /// `clusterIP: None`.
    pub headless: bool,
    /// LoadBalancer ingress IPs.
    pub load_balancer_ips: Vec<Ipv4Addr>,
    /// The ClientIP affinity timeout (`None`: no affinity).
    pub affinity_timeout: Option<Duration>,
    /// Ports.
    pub ports: Box<[PortState]>,
}

impl ServiceState {
    /// The index of the port named or numbered `port`.
    pub fn find_port(&self, port: &PortRef) -> Option<usize> {
        self.ports.iter().position(|p| match port {
            PortRef::Number(n) => p.port == *n,
            PortRef::Name(name) => p.name.as_deref() == Some(name.as_str()),
        })
    }

    /// What the index keys on: a change means the index must be rebuilt.
    fn address_signature(&self) -> AddressSignature {
        (
            self.cluster_ip,
            self.load_balancer_ips.clone(),
            self.ports
                .iter()
                .map(|p| (p.port, p.node_port, p.protocol))
                .collect(),
        )
    }
}

/// A Service's slot: its current state, swapped by the writer.
#[derive(Debug)]
pub struct ServiceSlot {
    id: u32,
    state: ArcSwap<ServiceState>,
}

impl ServiceSlot {
    /// The current state.
    pub fn load(&self) -> Arc<ServiceState> {
        self.state.load_full()
    }
}

/// A service port named or numbered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortRef {
    /// The Service port number.
    Number(u16),
    /// The Service port name.
    Name(String),
}

/// Where a client connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Destination {
    /// Destination IP: a ClusterIP, a LoadBalancer IP, or any Node IP (NodePort).
    pub ip: Ipv4Addr,
    /// Destination port.
    pub port: u16,
    /// Protocol.
    pub protocol: Protocol,
}

impl Destination {
    /// A TCP destination.
    pub fn tcp(ip: Ipv4Addr, port: u16) -> Self {
        Destination {
            ip,
            port,
            protocol: Protocol::Tcp,
        }
    }
}

/// The outcome of a successful route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The chosen backend.
    pub endpoint: SocketAddrV4,
    /// Its index in the endpoint set.
    pub index: usize,
    /// The endpoint set's generation.
    pub generation: u64,
    /// The service's router id.
    pub service_id: u32,
    /// The port's index in the service.
    pub port_index: u16,
    /// Chosen by an affinity entry.
    pub affinity_hit: bool,
    /// The set was the serving+terminating fallback.
    pub terminating_fallback: bool,
    /// iptables dispatch only: `KUBE-SERVICES` rules evaluated before the match.
    pub rules_scanned: u32,
}

/// A DNS answer for a service name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsAnswer {
    /// The Service's cluster IP.
    ClusterIp(Ipv4Addr),
    /// A headless Service: the IPs of its selected endpoints (sorted, distinct).
    Endpoints(Vec<Ipv4Addr>),
}

/// What one sync or event batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Events applied.
    pub events: usize,
    /// Services whose state was rebuilt.
    pub services_rebuilt: usize,
    /// Whether the index was rebuilt.
    pub index_rebuilt: bool,
    /// Whether a full relist happened.
    pub relisted: bool,
}

type VipKey = (u32, u16, u8);
/// Node port and protocol code.
type NodePortKey = (u16, u8);
/// A rule: what it matches, the slot, the port index.
type Rule<K> = (K, Arc<ServiceSlot>, u16);
/// What the index keys on for one Service: cluster IP, LB IPs, (port, node port, protocol).
type AddressSignature = (
    Option<Ipv4Addr>,
    Vec<Ipv4Addr>,
    Vec<(u16, Option<u16>, Protocol)>,
);

fn proto_code(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
        Protocol::Sctp => 2,
    }
}

/// The published index (see the module docs).
#[derive(Debug, Default)]
struct Index {
    vips: FnvHashMap<VipKey, (Arc<ServiceSlot>, u16)>,
    node_ports: FnvHashMap<(u16, u8), (Arc<ServiceSlot>, u16)>,
    node_ips: FnvHashSet<u32>,
    names: HashMap<(Str, Str), Arc<ServiceSlot>>,
    by_id: FnvHashMap<u32, Arc<ServiceSlot>>,
    /// `KUBE-SERVICES`: (ip, port, proto) → (slot, port index), in rule order.
    kube_services: Box<[Rule<VipKey>]>,
    /// `KUBE-NODEPORTS`, in rule order.
    kube_nodeports: Box<[Rule<NodePortKey>]>,
}

/// Writer-side record of one Service name.
#[derive(Default)]
struct Record {
    service: Option<Arc<Object>>,
    slices: BTreeMap<Str, Arc<Object>>,
    endpoints: Option<Arc<Object>>,
    slot: Option<Arc<ServiceSlot>>,
}

#[derive(Default)]
struct Writer {
    records: BTreeMap<(Str, Str), Record>,
    /// (namespace, slice name) → service name it was filed under.
    slice_owner: HashMap<(Str, Str), Str>,
    nodes: BTreeMap<Str, Ipv4Addr>,
    watchers: Option<Vec<Watcher>>,
    next_id: u32,
    generation: u64,
}

/// The router: routing table + affinity table (see the module docs).
pub struct Router {
    config: RouterConfig,
    index: ArcSwap<Index>,
    affinity: AffinityTable,
    writer: Mutex<Writer>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("services", &self.index.load().by_id.len())
            .finish_non_exhaustive()
    }
}

impl Default for Router {
    fn default() -> Self {
        Router::new(RouterConfig::default())
    }
}

const WATCHED: [Kind; 4] = [
    Kind::Service,
    Kind::EndpointSlice,
    Kind::Endpoints,
    Kind::Node,
];

impl Router {
    /// An empty router.
    pub fn new(config: RouterConfig) -> Self {
        Router {
            config,
            index: ArcSwap::from_pointee(Index::default()),
            affinity: AffinityTable::new(),
            writer: Mutex::new(Writer {
                next_id: 1,
                ..Writer::default()
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// The affinity table.
    pub fn affinity(&self) -> &AffinityTable {
        &self.affinity
    }

    /// Catches up with the store: the first call lists Services, EndpointSlices,
    /// Endpoints and Nodes and starts watches at the resourceVersion read before the
    /// list; later calls apply the watched events. A watch that expired relists.
    ///
    /// # Errors
    ///
    /// A store error other than an expired watch.
    pub fn sync(&self, store: &Store) -> Result<SyncStats, kubesim_core::store::Error> {
        let mut w = self.writer.lock();
        if w.watchers.is_none() {
            return self.relist(&mut w, store);
        }
        let mut events = Vec::new();
        let mut expired = false;
        for watcher in w.watchers.iter_mut().flatten() {
            loop {
                match watcher.poll_into(&mut events, 4096) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.is_expired() => {
                        expired = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if expired {
            return self.relist(&mut w, store);
        }
        Ok(self.apply_locked(&mut w, &events))
    }

    /// Discards everything and lists the store again (the watches restart too).
    ///
    /// # Errors
    ///
    /// A store error.
    pub fn resync_full(&self, store: &Store) -> Result<SyncStats, kubesim_core::store::Error> {
        let mut w = self.writer.lock();
        self.relist(&mut w, store)
    }

    fn relist(
        &self,
        w: &mut Writer,
        store: &Store,
    ) -> Result<SyncStats, kubesim_core::store::Error> {
        let rv = store.resource_version();
        let mut events = Vec::new();
        for kind in WATCHED {
            for object in store.list(kind, None, None, None)? {
                events.push(WatchEvent {
                    type_: WatchEventType::Added,
                    resource_version: object.meta().resource_version,
                    object,
                });
            }
        }
        let watchers = WATCHED
            .iter()
            .map(|&k| store.watch(k, rv))
            .collect::<Result<Vec<_>, _>>()?;
        // Forget what is not listed any more (keep slots, and so ids, of survivors).
        for r in w.records.values_mut() {
            r.service = None;
            r.slices.clear();
            r.endpoints = None;
        }
        w.slice_owner.clear();
        w.nodes.clear();
        w.watchers = Some(watchers);
        let keys: Vec<(Str, Str)> = w.records.keys().cloned().collect();
        let mut stats = self.apply_locked(w, &events);
        // Services that vanished while unwatched.
        let mut dirty = false;
        for k in keys {
            if w.records.get(&k).is_some_and(|r| r.service.is_none()) {
                dirty |= self.rebuild_service(w, &k);
            }
        }
        if dirty {
            self.publish_index(w);
            stats.index_rebuilt = true;
        }
        stats.relisted = true;
        Ok(stats)
    }

    /// Applies watch events (Services, EndpointSlices, Endpoints, Nodes; others are
    /// ignored) and rebuilds the Services they touch.
    pub fn apply_events(&self, events: &[WatchEvent]) -> SyncStats {
        let mut w = self.writer.lock();
        self.apply_locked(&mut w, events)
    }

    fn apply_locked(&self, w: &mut Writer, events: &[WatchEvent]) -> SyncStats {
        let mut touched: BTreeSet<(Str, Str)> = BTreeSet::new();
        let mut nodes_changed = false;
        for ev in events {
            let obj = &ev.object;
            let deleted = ev.type_ == WatchEventType::Deleted;
            let ns = obj.namespace().clone();
            match obj.as_ref() {
                Object::Service(_) => {
                    let key = (ns, obj.name().clone());
                    let r = w.records.entry(key.clone()).or_default();
                    r.service = (!deleted).then(|| obj.clone());
                    touched.insert(key);
                }
                Object::Endpoints(_) => {
                    let key = (ns, obj.name().clone());
                    let r = w.records.entry(key.clone()).or_default();
                    r.endpoints = (!deleted).then(|| obj.clone());
                    touched.insert(key);
                }
                Object::EndpointSlice(_) => {
                    let slice_key = (ns.clone(), obj.name().clone());
                    if let Some(old) = w.slice_owner.remove(&slice_key) {
                        let k = (ns.clone(), old);
                        if let Some(r) = w.records.get_mut(&k) {
                            r.slices.remove(obj.name());
                        }
                        touched.insert(k);
                    }
                    let svc = obj.labels().get(LABEL_SERVICE_NAME).cloned();
                    if let (false, Some(svc)) = (deleted, svc) {
                        let k = (ns, svc.clone());
                        w.records
                            .entry(k.clone())
                            .or_default()
                            .slices
                            .insert(obj.name().clone(), obj.clone());
                        w.slice_owner.insert(slice_key, svc);
                        touched.insert(k);
                    }
                }
                Object::Node(n) => {
                    let name = obj.name().clone();
                    let ip = n.status.internal_ip.filter(|_| !deleted);
                    let before = w.nodes.get(&name).copied();
                    match ip {
                        Some(ip) => w.nodes.insert(name, ip),
                        None => w.nodes.remove(&name),
                    };
                    nodes_changed |= before != ip;
                }
                _ => {}
            }
        }
        let mut stats = SyncStats {
            events: events.len(),
            ..SyncStats::default()
        };
        let mut dirty = nodes_changed;
        for key in &touched {
            dirty |= self.rebuild_service(w, key);
            stats.services_rebuilt += 1;
        }
        if dirty {
            self.publish_index(w);
            stats.index_rebuilt = true;
        }
        stats
    }

    /// Rebuilds every Service's state and the index from the writer's records (the
    /// "rebuild everything" baseline of the benchmarks; the result equals the
    /// incremental one).
    pub fn rebuild_all(&self) -> SyncStats {
        let mut w = self.writer.lock();
        let keys: Vec<(Str, Str)> = w.records.keys().cloned().collect();
        let mut stats = SyncStats::default();
        for k in &keys {
            self.rebuild_service(&mut w, k);
            stats.services_rebuilt += 1;
        }
        self.publish_index(&mut w);
        stats.index_rebuilt = true;
        stats
    }

    /// Rebuilds one Service's state; true when the index must be rebuilt.
    fn rebuild_service(&self, w: &mut Writer, key: &(Str, Str)) -> bool {
        let Some(r) = w.records.get(key) else {
            return false;
        };
        let Some(svc) = r.service.as_ref().and_then(|o| o.as_service()) else {
            let had_slot = r.slot.is_some();
            let empty = r.slices.is_empty() && r.endpoints.is_none();
            if let Some(r) = w.records.get_mut(key) {
                r.slot = None;
            }
            if empty {
                w.records.remove(key);
            }
            return had_slot;
        };
        let id = match &r.slot {
            Some(s) => s.id,
            None => {
                let id = w.next_id;
                w.next_id += 1;
                id
            }
        };
        let mut generation = w.generation;
        let prev = r.slot.as_ref().map(|s| s.state.load_full());
        let state = build_state(
            id,
            svc,
            r,
            prev.as_deref(),
            &mut generation,
            self.config.seed,
        );
        w.generation = generation;
        let r = w.records.get_mut(key).expect("record present");
        match &r.slot {
            Some(slot) => {
                let old = slot.state.load();
                let changed = old.address_signature() != state.address_signature();
                slot.state.store(Arc::new(state));
                changed
            }
            None => {
                r.slot = Some(Arc::new(ServiceSlot {
                    id,
                    state: ArcSwap::from_pointee(state),
                }));
                true
            }
        }
    }

    fn publish_index(&self, w: &mut Writer) {
        let mut idx = Index {
            node_ips: w.nodes.values().map(|&ip| u32::from(ip)).collect(),
            ..Index::default()
        };
        let mut rules = Vec::new();
        let mut np_rules = Vec::new();
        for (key, r) in &w.records {
            let Some(slot) = &r.slot else { continue };
            let st = slot.state.load();
            idx.names.insert(key.clone(), slot.clone());
            idx.by_id.insert(slot.id, slot.clone());
            for (pi, p) in st.ports.iter().enumerate() {
                let pc = proto_code(p.protocol);
                let ips = st.cluster_ip.iter().chain(st.load_balancer_ips.iter());
                for ip in ips {
                    let k = (u32::from(*ip), p.port, pc);
                    if let std::collections::hash_map::Entry::Vacant(v) = idx.vips.entry(k) {
                        v.insert((slot.clone(), pi as u16));
                        rules.push((k, slot.clone(), pi as u16));
                    }
                }
                if let Some(np) = p.node_port {
                    if let std::collections::hash_map::Entry::Vacant(v) =
                        idx.node_ports.entry((np, pc))
                    {
                        v.insert((slot.clone(), pi as u16));
                        np_rules.push(((np, pc), slot.clone(), pi as u16));
                    }
                }
            }
        }
        idx.kube_services = rules.into_boxed_slice();
        idx.kube_nodeports = np_rules.into_boxed_slice();
        self.index.store(Arc::new(idx));
    }

    /// Finds the service port for `dest`; with `scan`, as iptables does (rules in order),
    /// also returning the number of rules evaluated.
    fn find<'i>(
        idx: &'i Index,
        dest: &Destination,
        scan: bool,
    ) -> Option<(&'i ServiceSlot, u16, u32, bool)> {
        let pc = proto_code(dest.protocol);
        let ip = u32::from(dest.ip);
        if scan {
            let mut n = 0u32;
            for (k, slot, pi) in idx.kube_services.iter() {
                n += 1;
                if *k == (ip, dest.port, pc) {
                    return Some((&**slot, *pi, n, false));
                }
            }
            // Last rule of KUBE-SERVICES: `-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`.
            n += 1;
            if idx.node_ips.contains(&ip) {
                for ((port, p), slot, pi) in idx.kube_nodeports.iter() {
                    n += 1;
                    if (*port, *p) == (dest.port, pc) {
                        return Some((&**slot, *pi, n, true));
                    }
                }
            }
            return None;
        }
        if let Some((slot, pi)) = idx.vips.get(&(ip, dest.port, pc)) {
            return Some((&**slot, *pi, 0, false));
        }
        if idx.node_ips.contains(&ip) {
            if let Some((slot, pi)) = idx.node_ports.get(&(dest.port, pc)) {
                return Some((&**slot, *pi, 0, true));
            }
        }
        None
    }

    /// The current state of the Service `namespace/name`.
    pub fn service(&self, namespace: &str, name: &str) -> Option<Arc<ServiceState>> {
        let idx = self.index.load();
        idx.names
            .get(&(Str::new(namespace), Str::new(name)))
            .map(|s| s.load())
    }

    /// The current state of the Service reached at `dest` and the port's index.
    pub fn lookup(&self, dest: &Destination) -> Option<(Arc<ServiceState>, usize)> {
        let idx = self.index.load();
        let (slot, pi, _, node_port) = Self::find(&idx, dest, false)?;
        let st = slot.load();
        let pi = port_at(&st, pi, dest, node_port)?;
        Some((st, pi))
    }

    /// Routes a new connection from `client` at time `now` to `dest`: finds the service
    /// port (ClusterIP, LoadBalancer IP, or NodePort on a node IP), applies ClientIP
    /// affinity, else asks `balancer`.
    ///
    /// # Errors
    ///
    /// [`RouteError::NoService`] when nothing listens at `dest`;
    /// [`RouteError::NoEndpoints`] when the port has no ready and no serving+terminating
    /// endpoint.
    pub fn route(
        &self,
        dest: &Destination,
        client: SocketAddrV4,
        now: Timestamp,
        balancer: &dyn Balancer,
        rng: &mut SmallRng,
    ) -> Result<Route, RouteError> {
        let scan = balancer.dispatch() == Dispatch::LinearScan;
        let idx = self.index.load();
        let (slot, pi, rules, node_port) =
            Self::find(&idx, dest, scan).ok_or(RouteError::NoService {
                ip: dest.ip,
                port: dest.port,
            })?;
        let st = slot.state.load();
        let pi = port_at(&st, pi, dest, node_port).ok_or(RouteError::NoService {
            ip: dest.ip,
            port: dest.port,
        })?;
        self.route_port(&st, pi, client, now, balancer, rng)
            .map(|mut r| {
                r.rules_scanned = rules;
                r
            })
    }

    /// Routes to port `port_index` of a Service state already looked up.
    ///
    /// # Errors
    ///
    /// [`RouteError::NoEndpoints`]; [`RouteError::NoService`] for a bad port index.
    pub fn route_port(
        &self,
        st: &ServiceState,
        port_index: usize,
        client: SocketAddrV4,
        now: Timestamp,
        balancer: &dyn Balancer,
        rng: &mut SmallRng,
    ) -> Result<Route, RouteError> {
        let port = st.ports.get(port_index).ok_or_else(|| RouteError::NoPort {
            service: format!("{}/{}", st.namespace, st.name),
            port: format!("#{port_index}"),
        })?;
        let set = &*port.endpoints;
        if set.is_empty() {
            return Err(RouteError::NoEndpoints {
                service: format!("{}/{}", st.namespace, st.name),
                port: port.port,
            });
        }
        let mk = |index: usize, affinity_hit: bool| Route {
            endpoint: set.backends()[index].addr(),
            index,
            generation: set.generation(),
            service_id: st.id,
            port_index: port_index as u16,
            affinity_hit,
            terminating_fallback: set.is_terminating_fallback(),
            rules_scanned: 0,
        };
        let akey = st
            .affinity_timeout
            .map(|_| AffinityKey::new(st.id, port_index as u16, *client.ip()));
        if let Some(k) = akey {
            if let Some(i) = self.affinity.lookup(k, set, now) {
                return Ok(mk(i, true));
            }
        }
        let ctx = PickContext {
            set,
            service_id: st.id,
            port_index: port_index as u16,
            client,
            now,
        };
        let i = balancer
            .pick(&ctx, rng)
            .ok_or_else(|| RouteError::NoEndpoints {
                service: format!("{}/{}", st.namespace, st.name),
                port: port.port,
            })?;
        if let (Some(k), Some(t)) = (akey, st.affinity_timeout) {
            self.affinity.insert_at(k, set, i, now, t);
        }
        Ok(mk(i, false))
    }

    /// Resolves a service DNS name (`<svc>.<ns>.svc.<domain>`, or the short forms
    /// `<svc>.<ns>` and `<svc>.<ns>.svc`).
    ///
    /// # Errors
    ///
    /// [`RouteError::UnknownName`] for a name of another shape or of no Service;
    /// [`RouteError::NoClusterIp`] for a Service without an address (ExternalName, or
    /// not allocated yet).
    pub fn resolve(&self, name: &str) -> Result<DnsAnswer, RouteError> {
        let unknown = || RouteError::UnknownName {
            name: name.to_string(),
        };
        let parsed = parse_name(name, &self.config.domain).map_err(|_| unknown())?;
        let DnsName::Service { service, namespace } = parsed else {
            return Err(unknown());
        };
        let st = self.service(&namespace, &service).ok_or_else(unknown)?;
        if st.headless {
            let mut ips: Vec<Ipv4Addr> = st
                .ports
                .iter()
                .flat_map(|p| p.endpoints.backends().iter().map(|b| b.ip))
                .collect();
            ips.sort_unstable();
            ips.dedup();
            return Ok(DnsAnswer::Endpoints(ips));
        }
        st.cluster_ip
            .map(DnsAnswer::ClusterIp)
            .ok_or_else(|| RouteError::NoClusterIp {
                service: format!("{namespace}/{service}"),
            })
    }

    /// Resolves `name` and routes to its port `port` (by number or name).
    ///
    /// # Errors
    ///
    /// As [`resolve`](Self::resolve) and [`route`](Self::route), plus
    /// [`RouteError::Headless`] (a headless Service is DNS-only: connect to one of its
    /// endpoint IPs) and [`RouteError::NoPort`].
    pub fn route_name(
        &self,
        name: &str,
        port: &PortRef,
        client: SocketAddrV4,
        now: Timestamp,
        balancer: &dyn Balancer,
        rng: &mut SmallRng,
    ) -> Result<Route, RouteError> {
        match self.resolve(name)? {
            DnsAnswer::Endpoints(_) => Err(RouteError::Headless {
                name: name.to_string(),
            }),
            DnsAnswer::ClusterIp(ip) => {
                let parsed =
                    parse_name(name, &self.config.domain).map_err(|_| RouteError::UnknownName {
                        name: name.to_string(),
                    })?;
                let st = self
                    .service(parsed.namespace(), parsed.service())
                    .ok_or_else(|| RouteError::UnknownName {
                        name: name.to_string(),
                    })?;
                let pi = st.find_port(port).ok_or_else(|| RouteError::NoPort {
                    service: format!("{}/{}", st.namespace, st.name),
                    port: match port {
                        PortRef::Number(n) => n.to_string(),
                        PortRef::Name(s) => s.clone(),
                    },
                })?;
                let p = &st.ports[pi];
                self.route(
                    &Destination {
                        ip,
                        port: p.port,
                        protocol: p.protocol,
                    },
                    client,
                    now,
                    balancer,
                    rng,
                )
            }
        }
    }

    /// Sweeps `max_shards` shards of the affinity table (see [`crate::affinity`]):
    /// drops expired entries and those whose service, port or endpoint is gone from the
    /// current table, or whose endpoint left the port's selected set since the entry
    /// was made (voided, even if it came back).
    pub fn sweep_affinity(&self, now: Timestamp, max_shards: usize) -> SweepStats {
        let idx = self.index.load();
        self.affinity.sweep(now, max_shards, |k, ep, born| {
            idx.by_id.get(&k.service_id()).is_some_and(|slot| {
                slot.state
                    .load()
                    .ports
                    .get(usize::from(k.port_index()))
                    .is_some_and(|p| p.endpoints.holds(ep, born))
            })
        })
    }

    /// Number of Services in the table.
    pub fn len(&self) -> usize {
        self.index.load().by_id.len()
    }

    /// Whether the table has no Service.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The port at `pi` if it still matches `dest`, else a search by number (or node port).
fn port_at(st: &ServiceState, pi: u16, dest: &Destination, node_port: bool) -> Option<usize> {
    let ok = |p: &PortState| {
        p.protocol == dest.protocol
            && if node_port {
                p.node_port == Some(dest.port)
            } else {
                p.port == dest.port
            }
    };
    match st.ports.get(usize::from(pi)) {
        Some(p) if ok(p) => Some(usize::from(pi)),
        _ => st.ports.iter().position(ok),
    }
}

fn build_state(
    id: u32,
    svc: &Service,
    r: &Record,
    prev: Option<&ServiceState>,
    generation: &mut u64,
    seed: u64,
) -> ServiceState {
    let headless = svc.is_headless();
    let routable = svc.spec.type_ != ServiceType::ExternalName;
    let cluster_ip = match svc.spec.cluster_ip {
        ClusterIp::Ip(ip) if routable => Some(ip),
        _ => None,
    };
    let use_endpoints = svc.spec.selector.is_empty() && r.endpoints.is_some();
    let ports = svc
        .spec
        .ports
        .iter()
        .map(|p| {
            *generation += 1;
            let candidates = if !routable {
                Vec::new()
            } else if use_endpoints {
                r.endpoints
                    .as_ref()
                    .and_then(|o| o.as_endpoints())
                    .map(|e| endpoints_candidates(e, p.name.as_ref(), p.protocol))
                    .unwrap_or_default()
            } else {
                let mut c = Vec::new();
                for s in r.slices.values().filter_map(|o| o.as_endpoint_slice()) {
                    slice_candidates(s, p.name.as_ref(), p.protocol, &mut c);
                }
                c
            };
            let shuffle_seed = mix64(seed ^ mix64((u64::from(id) << 32) ^ *generation));
            PortState {
                name: p.name.clone(),
                protocol: p.protocol,
                port: p.port.clamp(0, 65535) as u16,
                node_port: p
                    .node_port
                    .filter(|_| routable && !headless)
                    .map(|n| n.clamp(0, 65535) as u16),
                endpoints: Arc::new(EndpointSet::build_after(
                    *generation,
                    &candidates,
                    shuffle_seed,
                    prev.and_then(|st| {
                        st.ports
                            .iter()
                            .find(|q| q.name == p.name && q.protocol == p.protocol)
                            .map(|q| &*q.endpoints)
                    }),
                )),
            }
        })
        .collect();
    ServiceState {
        id,
        namespace: svc.meta.namespace.clone(),
        name: svc.meta.name.clone(),
        type_: svc.spec.type_,
        cluster_ip,
        headless,
        load_balancer_ips: if svc.spec.type_ == ServiceType::LoadBalancer {
            svc.status.load_balancer_ingress.clone()
        } else {
            Vec::new()
        },
        affinity_timeout: (svc.spec.session_affinity
            == kubesim_core::model::SessionAffinity::ClientIp)
            .then(|| effective_timeout(svc.spec.session_affinity_timeout_seconds)),
        ports,
    }
}

fn slice_candidates(
    s: &EndpointSlice,
    name: Option<&Str>,
    proto: Protocol,
    out: &mut Vec<Candidate>,
) {
    let Some(ep) = s
        .ports
        .iter()
        .find(|ep| ep.name.as_ref() == name && ep.protocol == proto)
    else {
        return;
    };
    let port = ep.port.clamp(0, 65535) as u16;
    for e in &s.endpoints {
        let Some(&ip) = e.addresses.first() else {
            continue;
        };
        let ready = e.conditions.ready.unwrap_or(true);
        out.push(Candidate {
            backend: Backend {
                ip,
                port,
                pod: e.target_ref.as_ref().map(|t| t.name.clone()),
                node: e.node_name.clone(),
            },
            ready,
            serving: e.conditions.serving.unwrap_or(ready),
            terminating: e.conditions.terminating.unwrap_or(false),
        });
    }
}

fn endpoints_candidates(e: &Endpoints, name: Option<&Str>, proto: Protocol) -> Vec<Candidate> {
    let mut out = Vec::new();
    for sub in &e.subsets {
        let Some(ep) = sub
            .ports
            .iter()
            .find(|ep| ep.name.as_ref() == name && ep.protocol == proto)
        else {
            continue;
        };
        let port = ep.port.clamp(0, 65535) as u16;
        let lists = [(&sub.addresses, true), (&sub.not_ready_addresses, false)];
        for (list, ready) in lists {
            for a in list {
                out.push(Candidate {
                    backend: Backend {
                        ip: a.ip,
                        port,
                        pod: a.target_ref.as_ref().map(|t| t.name.clone()),
                        node: a.node_name.clone(),
                    },
                    ready,
                    serving: ready,
                    terminating: false,
                });
            }
        }
    }
    out
}
