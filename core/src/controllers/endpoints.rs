//! Services: IP and port allocation ([`ServiceAllocator`]), Endpoints
//! ([`EndpointsController`]) and EndpointSlices ([`EndpointSliceController`]).
//!
//! # ServiceAllocator
//!
//! Upstream allocates cluster IPs and node ports inside the API server, at create time;
//! kubesim's store has no admission hook, so a controller does it right after the
//! create. **All Services map to one queue key** ([`allocator_queue_key`]): reconciles
//! of one virtual-time round read one snapshot, so two keys allocating from one range
//! would hand out the same address. One reconcile walks every Service in (creation
//! time, namespace, name) order:
//!
//! 1. **claims** what each Service already has or asks for (cluster IP, node ports,
//!    `loadBalancerIP`/ingress). A value outside its range, or already claimed by an
//!    earlier Service, makes the Service unservable: upstream rejects it at create
//!    (`provided IP is already allocated`, `provided port is already allocated`);
//!    kubesim records that as a **Warning Event** (reason `FailedAllocation`, once per
//!    Service and message) and leaves the Service without any allocation — it claims
//!    nothing, so it blocks nobody. **Gap, stated:** the object stays in the store (the
//!    API would never have stored it), and once the holder of its value is deleted it is
//!    served on a later reconcile.
//! 2. **allocates** the lowest free value of each range (deterministic; upstream draws
//!    at random) to Services that need one: a cluster IP for non-headless,
//!    non-ExternalName Services (the range skips the network address and its first
//!    host, `10.96.0.1`, which upstream reserves for the `kubernetes` Service); a node
//!    port for every port of NodePort/LoadBalancer Services that has none; an external
//!    IP (`status.loadBalancer.ingress`) for LoadBalancer Services. A Service whose type
//!    is ClusterIP loses its node ports; one that is no LoadBalancer loses its ingress.
//!
//! Spec changes go through `update`, the ingress through `update_status`, on the next
//! reconcile (the spec update's own event triggers it), so the two writes never race
//! on one resourceVersion. Nothing is kept between reconciles but the set of warnings
//! already recorded: the allocation table is rebuilt from the store each time, so a
//! deleted Service's values are free at once. **Simplification:** node ports are
//! allocated by number whatever the protocol (upstream lets TCP and UDP share one
//! number within a Service).
//!
//! # EndpointsController
//!
//! For each Service with a selector, an Endpoints object of the same name (no owner,
//! as upstream; the Service's labels, plus `service.kubernetes.io/headless` for
//! headless Services). Pods in the namespace matching the selector, with an IP, not
//! terminal, and not being deleted (terminating pods are kept only with
//! `publishNotReadyAddresses`, as upstream's `ShouldPodBeInEndpoints`) become
//! addresses: in `addresses` when Ready (or `publishNotReadyAddresses`), else in
//! `notReadyAddresses`; with hostname (when the pod's `subdomain` is the Service),
//! nodeName and a Pod targetRef with uid. Each Service port resolves per pod (a
//! number, or a named container port via [`PodSpec::port_by_name`]; a pod lacking the
//! name is left out of that port), and pods are grouped **one subset per distinct
//! resolved port set**, as upstream's repacking does. Addresses are sorted by IP.
//! Endpoints the controller writes carry the annotation
//! `endpoints.kubernetes.io/last-change-trigger-time` (as upstream); when the Service
//! is gone, Endpoints of its name carrying it are deleted, while hand-written
//! Endpoints (a selector-less Service's, e.g. the seeds' external redis) are never
//! touched. **Simplification:** upstream's truncation at 1000 addresses is not done.
//!
//! # EndpointSliceController
//!
//! For each Service with a selector, EndpointSlices labelled
//! `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by:
//! endpointslice-controller.k8s.io` (plus the Service's labels), owned by the Service
//! (controller ownerReference), named `<svc>-<5 chars>` by `generateName`, with at most
//! [`MAX_ENDPOINTS_PER_SLICE`] endpoints. Every matching pod with an IP that is not
//! terminal is one endpoint — terminating pods included: `serving` = Ready (or
//! `publishNotReadyAddresses`), `terminating` = being deleted, `ready` =
//! `publishNotReadyAddresses || (serving && !terminating)` — so the router can fall
//! back to serving+terminating endpoints. Pods are grouped by resolved port set (as
//! for Endpoints), sorted by name, and cut into chunks of 100; chunks go to the
//! existing slices in name order (updated in place when they differ), extra chunks are
//! created, surplus slices deleted. A selector Service that has no endpoint at all
//! keeps one **placeholder** slice (no endpoints, no ports), as upstream's reconciler
//! ("when no endpoint slices would usually exist, we need to add a placeholder"): an
//! existing placeholder is kept, any other slice is deleted and a new placeholder
//! created, and a placeholder is not reused for endpoints with ports (it is deleted and
//! a new slice created, as upstream's port-mapping reconcile does). Readers (the router,
//! the invariants) see a placeholder as no endpoints. When the Service is gone its slices are deleted
//! by this controller (upstream leaves that to the garbage collector; deleting here
//! too is harmless — a NotFound delete is not a failure).
//!
//! The same controller also does upstream's **EndpointSliceMirroring** (a separate
//! controller upstream, folded in here because it keys on the same Service): for a
//! selector-less Service whose Endpoints exist (and are not labelled
//! `endpointslice.kubernetes.io/skip-mirror: "true"`), slices managed by
//! [`MIRRORING_NAME`], owned by the Endpoints, one group per subset, `ready` = listed
//! in `addresses` (`serving`/`terminating` unset, as upstream). **Simplification:**
//! mirrored slices are cut at 100 endpoints like the others (upstream mirrors up to
//! 1000 per subset).

use std::collections::{BTreeSet, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use fnv::FnvHashMap;
use parking_lot::Mutex;

use crate::dispatch::{stable_hash, Affinity};
use crate::intern::{intern, SharedList, Str, StrMap};
use crate::model::{
    ClusterIp, Endpoint, EndpointAddress, EndpointConditions, EndpointPort, EndpointSlice,
    EndpointSubset, Endpoints, EventType, IntOrString, Kind, Object, ObjectKey, ObjectMeta,
    ObjectRef, OwnerReference, Pod, PodSpec, Service, ServiceType, Uid, LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
};
use crate::runtime::{
    route_key, Controller, Ctx, OwnWrites, ReconcileError, Requeue, Routed, StoreView, WriteResult,
};
use crate::selector::LabelSelector;
use crate::store::{DeleteOptions, WatchEvent, WatchEventType};

/// The allocator's name (the `source` of its Events).
pub const ALLOCATOR_NAME: &str = "service-allocator";
/// The Endpoints controller's name.
pub const ENDPOINTS_NAME: &str = "endpoint-controller";
/// The EndpointSlice controller's name (also the `managed-by` label value).
pub const ENDPOINTSLICE_NAME: &str = "endpointslice-controller.k8s.io";
/// Most endpoints the EndpointSlice controller puts in one slice (upstream's
/// `--max-endpoints-per-slice` default).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// The annotation upstream's Endpoints controller sets on the Endpoints it writes;
/// kubesim also uses it to tell controller-written Endpoints from hand-written ones.
pub const ANNOTATION_LAST_CHANGE: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// The label upstream puts on the Endpoints and slices of headless Services.
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
/// Reason of the allocator's Warning Events.
pub const REASON_FAILED_ALLOCATION: &str = "FailedAllocation";

/// The name of the allocator's single queue key.
const ALLOCATOR_KEY_NAME: &str = "~service-allocator";

/// The allocator's single queue key (a Service key no real Service has: empty
/// namespace).
pub fn allocator_queue_key() -> ObjectKey {
    ObjectKey::new(Kind::Service, "", ALLOCATOR_KEY_NAME)
}

/// An IPv4 range `base/prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// The network address.
    pub base: Ipv4Addr,
    /// Prefix length (0–32).
    pub prefix: u8,
}

impl Cidr {
    /// `base/prefix` (host bits of `base` are cleared).
    pub fn new(base: Ipv4Addr, prefix: u8) -> Self {
        let prefix = prefix.min(32);
        Cidr {
            base: Ipv4Addr::from(u32::from(base) & Self::mask(prefix)),
            prefix,
        }
    }

    fn mask(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        }
    }

    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask(self.prefix) == u32::from(self.base)
    }

    /// The first and last address as numbers.
    fn bounds(&self) -> (u32, u32) {
        let lo = u32::from(self.base);
        (lo, lo | !Self::mask(self.prefix))
    }
}

/// What the [`ServiceAllocator`] hands out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocatorConfig {
    /// The service CIDR (default `10.96.0.0/12`). Its network address and first host
    /// are never allocated (a requested first host is accepted, as for `kubernetes`).
    pub service_cidr: Cidr,
    /// The node port range, inclusive (default 30000–32767).
    pub node_ports: (i32, i32),
    /// The LoadBalancer external IP pool (default `192.0.2.0/24`, TEST-NET-1); its
    /// network address is never allocated.
    pub load_balancer_pool: Cidr,
}

impl Default for AllocatorConfig {
    fn default() -> Self {
        AllocatorConfig {
            service_cidr: Cidr::new(Ipv4Addr::new(10, 96, 0, 0), 12),
            node_ports: (30000, 32767),
            load_balancer_pool: Cidr::new(Ipv4Addr::new(192, 0, 2, 0), 24),
        }
    }
}

/// Allocates cluster IPs, node ports and LoadBalancer IPs (see the module docs).
#[derive(Debug, Default)]
pub struct ServiceAllocator {
    config: AllocatorConfig,
    /// (Service uid, message) of Warning Events already recorded.
    warned: Mutex<HashSet<(Uid, String)>>,
}

impl ServiceAllocator {
    /// An allocator with the default ranges.
    pub fn new() -> Self {
        Self::with_config(AllocatorConfig::default())
    }

    /// An allocator with these ranges.
    pub fn with_config(config: AllocatorConfig) -> Self {
        ServiceAllocator {
            config,
            warned: Mutex::new(HashSet::new()),
        }
    }

    /// The ranges.
    pub fn config(&self) -> &AllocatorConfig {
        &self.config
    }
}

/// Lowest free value in `lo..=hi` not in `used`, from `*cursor` on (the cursor moves
/// past it).
fn lowest_free(used: &BTreeSet<u32>, cursor: &mut u32, hi: u32) -> Option<u32> {
    while *cursor <= hi {
        let c = *cursor;
        *cursor = cursor.saturating_add(1);
        if !used.contains(&c) {
            return Some(c);
        }
        if c == u32::MAX {
            break;
        }
    }
    None
}

fn needs_cluster_ip(svc: &Service) -> bool {
    svc.spec.type_ != ServiceType::ExternalName && !svc.is_headless()
}

fn needs_node_ports(svc: &Service) -> bool {
    matches!(
        svc.spec.type_,
        ServiceType::NodePort | ServiceType::LoadBalancer
    )
}

impl Controller for ServiceAllocator {
    fn name(&self) -> &'static str {
        ALLOCATOR_NAME
    }

    fn primary(&self) -> Kind {
        Kind::Service
    }

    fn map_event(&self, ev: &WatchEvent, _store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        if ev.object.kind() == Kind::Service {
            out.push(Routed::new(
                allocator_queue_key(),
                Affinity::from_hashes(stable_hash(""), None),
            ));
        }
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        if *key != allocator_queue_key() {
            return Ok(Requeue::Done);
        }
        let mut services: Vec<Arc<Object>> = ctx
            .store()
            .list(Kind::Service, None, None, None)?
            .into_iter()
            .filter(|o| !o.meta().is_being_deleted())
            .collect();
        services.sort_by(|a, b| {
            (a.meta().creation_timestamp, a.namespace(), a.name()).cmp(&(
                b.meta().creation_timestamp,
                b.namespace(),
                b.name(),
            ))
        });
        let cfg = &self.config;
        let mut ips: BTreeSet<u32> = BTreeSet::new();
        let mut ports: BTreeSet<u32> = BTreeSet::new();
        let mut lb_ips: BTreeSet<u32> = BTreeSet::new();
        let mut rejected: Vec<bool> = Vec::with_capacity(services.len());
        let mut warnings: Vec<(usize, String)> = Vec::new();
        let port_ok = |p: i32| p >= cfg.node_ports.0 && p <= cfg.node_ports.1;

        // 1. Claims, in creation order.
        for (i, obj) in services.iter().enumerate() {
            let svc = obj.as_service().expect("listed Services");
            let mut errors = Vec::new();
            let mut want_ip = None;
            if let ClusterIp::Ip(ip) = svc.spec.cluster_ip {
                if !needs_cluster_ip(svc) {
                    // An ExternalName with an IP: not ours to judge.
                } else if !cfg.service_cidr.contains(ip) {
                    errors.push(format!(
                        "spec.clusterIP: Invalid value: \"{ip}\": provided IP is not in the valid range. The range of valid IPs is {}/{}",
                        cfg.service_cidr.base, cfg.service_cidr.prefix
                    ));
                } else if ips.contains(&u32::from(ip)) {
                    errors.push(format!(
                        "spec.clusterIP: Invalid value: \"{ip}\": provided IP is already allocated"
                    ));
                } else {
                    want_ip = Some(u32::from(ip));
                }
            }
            let mut want_ports = BTreeSet::new();
            if needs_node_ports(svc) {
                for (j, p) in svc.spec.ports.iter().enumerate() {
                    let Some(np) = p.node_port else { continue };
                    if !port_ok(np) {
                        errors.push(format!(
                            "spec.ports[{j}].nodePort: Invalid value: {np}: provided port is not in the valid range. The range of valid ports is {}-{}",
                            cfg.node_ports.0, cfg.node_ports.1
                        ));
                    } else if ports.contains(&(np as u32)) || !want_ports.insert(np as u32) {
                        errors.push(format!(
                            "spec.ports[{j}].nodePort: Invalid value: {np}: provided port is already allocated"
                        ));
                    }
                }
            }
            let mut want_lb = None;
            if svc.spec.type_ == ServiceType::LoadBalancer {
                let requested = svc
                    .spec
                    .load_balancer_ip
                    .or_else(|| svc.status.load_balancer_ingress.first().copied());
                if let Some(ip) = requested {
                    if !cfg.load_balancer_pool.contains(ip) {
                        errors.push(format!(
                            "spec.loadBalancerIP: Invalid value: \"{ip}\": not in the load balancer pool"
                        ));
                    } else if lb_ips.contains(&u32::from(ip)) {
                        errors.push(format!(
                            "spec.loadBalancerIP: Invalid value: \"{ip}\": provided IP is already allocated"
                        ));
                    } else {
                        want_lb = Some(u32::from(ip));
                    }
                }
            }
            if errors.is_empty() {
                ips.extend(want_ip);
                ports.extend(want_ports);
                lb_ips.extend(want_lb);
                rejected.push(false);
            } else {
                rejected.push(true);
                for e in errors {
                    warnings.push((i, e));
                }
            }
        }

        // 2. Allocation of what is missing, lowest free first.
        let (ip_lo, ip_hi) = cfg.service_cidr.bounds();
        let mut ip_cursor = ip_lo.saturating_add(2);
        let mut port_cursor = cfg.node_ports.0.max(0) as u32;
        let port_hi = cfg.node_ports.1.max(0) as u32;
        let (lb_lo, lb_hi) = cfg.load_balancer_pool.bounds();
        let mut lb_cursor = lb_lo.saturating_add(1);
        for (i, obj) in services.iter().enumerate() {
            if rejected[i] {
                continue;
            }
            let svc = obj.as_service().expect("listed Services");
            let mut spec = svc.spec.clone();
            if needs_cluster_ip(svc) && spec.cluster_ip == ClusterIp::Unassigned {
                match lowest_free(&ips, &mut ip_cursor, ip_hi) {
                    Some(ip) => {
                        ips.insert(ip);
                        spec.cluster_ip = ClusterIp::Ip(Ipv4Addr::from(ip));
                    }
                    None => {
                        warnings.push((i, "failed to allocate a serviceIP: range is full".into()))
                    }
                }
            }
            if needs_node_ports(svc) {
                for p in spec.ports.iter_mut().filter(|p| p.node_port.is_none()) {
                    match lowest_free(&ports, &mut port_cursor, port_hi) {
                        Some(np) => {
                            ports.insert(np);
                            p.node_port = Some(np as i32);
                        }
                        None => {
                            warnings
                                .push((i, "failed to allocate a nodePort: range is full".into()));
                            break;
                        }
                    }
                }
            } else if svc.spec.type_ == ServiceType::ClusterIp {
                for p in spec.ports.iter_mut() {
                    p.node_port = None;
                }
            }
            if spec != svc.spec {
                let mut new = svc.clone();
                new.spec = spec;
                ctx.update(Object::from(new));
                continue; // status on the next reconcile, after the spec write
            }
            let mut ingress = svc.status.load_balancer_ingress.clone();
            if svc.spec.type_ == ServiceType::LoadBalancer {
                let want = svc
                    .spec
                    .load_balancer_ip
                    .or_else(|| svc.status.load_balancer_ingress.first().copied());
                match want {
                    Some(ip) => ingress = vec![ip],
                    None => match lowest_free(&lb_ips, &mut lb_cursor, lb_hi) {
                        Some(ip) => {
                            lb_ips.insert(ip);
                            ingress = vec![Ipv4Addr::from(ip)];
                        }
                        None => warnings.push((
                            i,
                            "failed to allocate a load balancer IP: pool is full".into(),
                        )),
                    },
                }
            } else {
                ingress.clear();
            }
            if ingress != svc.status.load_balancer_ingress {
                let mut new = svc.clone();
                new.status.load_balancer_ingress = ingress;
                ctx.update_status(Object::from(new));
            }
        }

        let mut warned = self.warned.lock();
        // Forget warnings of Services that are gone, or served now.
        let live: HashSet<Uid> = services
            .iter()
            .enumerate()
            .filter(|(i, _)| rejected[*i])
            .map(|(_, o)| o.meta().uid)
            .collect();
        warned.retain(|(uid, _)| live.contains(uid));
        for (i, msg) in warnings {
            let obj = &services[i];
            if warned.insert((obj.meta().uid, msg.clone())) {
                ctx.event(obj, EventType::Warning, REASON_FAILED_ALLOCATION, msg);
            }
        }
        Ok(Requeue::Done)
    }
}

// ---------------------------------------------------------------------------------
// Shared by the Endpoints and EndpointSlice controllers.

/// Pod → Service keys mapping with a cache of each pod's last labels (so a relabelled
/// pod also wakes the Services it used to match) and an index of the Services'
/// selectors (so a pod event costs a few hash lookups, not a walk over every Service
/// of its namespace).
///
/// Both are changed only in `map_event` (on one thread in virtual time). The
/// selector index follows the Service events this controller sees (Services are its
/// primary kind): a Service's own event always queues its key, so a pod event mapped
/// before the index caught up with a Service change loses nothing — the Service's
/// reconcile reads the store.
#[derive(Debug, Default)]
struct PodMapper {
    /// Each pod's labels and [`PodView`] as last seen.
    labels: Mutex<FnvHashMap<PodId, (StrMap, Option<PodView>)>>,
    services: Mutex<SelectorIndex>,
    /// The versions of the objects the controller wrote itself: their echoes are not
    /// mapped ([`OwnWrites`]; the Service's desired state is a function of the
    /// Service and its pods, whose own events map to the Service).
    own: OwnWrites,
}

/// A pod's (namespace, name).
type PodId = (Str, Str);

/// What of a pod can show in Endpoints and EndpointSlices: `None` when it shows
/// nowhere (no IP yet, or terminal, or deleted), else every pod field
/// [`desired_subsets`] and the slices read. A pod event that changes neither this nor
/// (for a pod that shows) the labels cannot change any Service's endpoints, and is
/// not mapped — the scheduler's bind and the kubelet's "Pending" status of a pod
/// without an IP wake no Service.
#[derive(Clone, Debug)]
struct PodView {
    ip: Ipv4Addr,
    deleting: bool,
    ready: bool,
    node: Option<Str>,
    uid: Uid,
    /// Ports, hostname and subdomain live here (held, so the pointer stays unique).
    spec: Arc<PodSpec>,
}

impl PartialEq for PodView {
    fn eq(&self, o: &Self) -> bool {
        self.ip == o.ip
            && self.deleting == o.deleting
            && self.ready == o.ready
            && self.node == o.node
            && self.uid == o.uid
            && (Arc::ptr_eq(&self.spec, &o.spec) || self.spec == o.spec)
    }
}

impl PodView {
    fn of(pod: &Pod) -> Option<PodView> {
        let ip = pod.status.pod_ip?;
        if pod.status.phase.is_terminal() {
            return None;
        }
        Some(PodView {
            ip,
            deleting: pod.meta.is_being_deleted(),
            ready: pod.is_ready(),
            node: pod.node_name.clone(),
            uid: pod.meta.uid,
            spec: Arc::clone(&pod.spec),
        })
    }
}

/// Services by selector: each Service with a non-empty selector is filed under the
/// first (key, value) pair of its selector, which every pod it selects carries.
#[derive(Debug, Default)]
struct SelectorIndex {
    /// (namespace, name) → selector.
    selectors: FnvHashMap<(Str, Str), StrMap>,
    /// (namespace, label key, label value) → names of the Services filed there.
    by_term: FnvHashMap<(Str, Str, Str), BTreeSet<Str>>,
}

impl SelectorIndex {
    fn term(namespace: &Str, selector: &StrMap) -> Option<(Str, Str, Str)> {
        selector
            .iter()
            .next()
            .map(|(k, v)| (namespace.clone(), k.clone(), v.clone()))
    }

    /// Files (or unfiles, `selector: None`) the Service `namespace/name`.
    fn set(&mut self, namespace: &Str, name: &Str, selector: Option<&StrMap>) {
        let id = (namespace.clone(), name.clone());
        if let Some(old) = self.selectors.remove(&id) {
            if let Some(t) = Self::term(namespace, &old) {
                if let Some(names) = self.by_term.get_mut(&t) {
                    names.remove(name);
                    if names.is_empty() {
                        self.by_term.remove(&t);
                    }
                }
            }
        }
        if let Some(sel) = selector.filter(|s| !s.is_empty()) {
            if let Some(t) = Self::term(namespace, sel) {
                self.by_term.entry(t).or_default().insert(name.clone());
            }
            self.selectors.insert(id, sel.clone());
        }
    }

    /// Names of the Services of `namespace` whose selector `labels` matches, appended
    /// to `out`.
    fn matching(&self, namespace: &Str, labels: &StrMap, out: &mut Vec<Str>) {
        for (k, v) in labels.iter() {
            let t = (namespace.clone(), k.clone(), v.clone());
            let Some(names) = self.by_term.get(&t) else {
                continue;
            };
            for name in names {
                let id = (namespace.clone(), name.clone());
                if self
                    .selectors
                    .get(&id)
                    .is_some_and(|sel| labels.contains_all(sel))
                {
                    out.push(name.clone());
                }
            }
        }
    }
}

impl PodMapper {
    fn map(
        &self,
        ev: &WatchEvent,
        store: StoreView<'_>,
        out: &mut Vec<Routed<ObjectKey>>,
        owner_of: impl Fn(&Object) -> Option<ObjectKey>,
    ) {
        match &*ev.object {
            Object::Service(svc) => {
                let selector = (ev.type_ != WatchEventType::Deleted).then_some(&svc.spec.selector);
                self.services
                    .lock()
                    .set(&svc.meta.namespace, &svc.meta.name, selector);
                out.push(route_key(store, ObjectKey::of(&ev.object)));
            }
            Object::Pod(pod) => {
                let id = (pod.meta.namespace.clone(), pod.meta.name.clone());
                let view = if ev.type_ == WatchEventType::Deleted {
                    None
                } else {
                    PodView::of(pod)
                };
                let (old, old_view) = {
                    let mut cache = self.labels.lock();
                    let prev = if ev.type_ == WatchEventType::Deleted {
                        cache.remove(&id)
                    } else {
                        cache.insert(id, (pod.meta.labels.clone(), view.clone()))
                    };
                    match prev {
                        Some((l, v)) => (Some(l), v),
                        None => (None, None),
                    }
                };
                let labels_same = old.as_ref().is_some_and(|l| *l == pod.meta.labels);
                if old_view == view && (view.is_none() || labels_same) {
                    return;
                }
                let mut names = Vec::new();
                {
                    let index = self.services.lock();
                    index.matching(&pod.meta.namespace, &pod.meta.labels, &mut names);
                    if let Some(old) = old.as_ref().filter(|l| **l != pod.meta.labels) {
                        index.matching(&pod.meta.namespace, old, &mut names);
                    }
                }
                names.sort_unstable();
                names.dedup();
                for name in names {
                    let key = ObjectKey::new(Kind::Service, &pod.meta.namespace, &name);
                    out.push(route_key(store, key));
                }
            }
            other => {
                if self.own.is_echo(ev) {
                    return;
                }
                if let Some(k) = owner_of(other) {
                    out.push(route_key(store, k));
                }
            }
        }
    }

    /// Whether the Service `namespace/name` has a selector, as last seen.
    fn has_selector(&self, namespace: &Str, name: &Str) -> bool {
        self.services
            .lock()
            .selectors
            .contains_key(&(namespace.clone(), name.clone()))
    }
}

/// The pods of `svc`'s namespace its selector matches, sorted by name.
fn selected_pods(store: StoreView<'_>, svc: &Service) -> Result<Vec<Arc<Object>>, ReconcileError> {
    let sel = LabelSelector::from_labels(svc.spec.selector.clone());
    Ok(store.list(Kind::Pod, Some(&svc.meta.namespace), Some(&sel), None)?)
}

/// The ports of `svc` resolved for `pod` (ports whose named target the pod lacks are
/// left out). A Service without ports resolves to no ports.
fn resolve_ports(svc: &Service, spec: &PodSpec) -> Vec<EndpointPort> {
    svc.spec
        .ports
        .iter()
        .filter_map(|p| {
            let port = match &p.target_port {
                IntOrString::Int(n) => *n,
                IntOrString::String(name) => match name.parse::<i32>() {
                    Ok(n) => n,
                    Err(_) => spec.port_by_name(name)?.container_port,
                },
            };
            Some(EndpointPort {
                name: p.name.clone(),
                port,
                protocol: p.protocol,
            })
        })
        .collect()
}

/// Groups pods by resolved port set, in order of first appearance; pods that resolve
/// no port of a Service that has ports are left out.
fn group_by_ports<'a>(svc: &Service, pods: &[&'a Pod]) -> Vec<(Vec<EndpointPort>, Vec<&'a Pod>)> {
    let mut groups: Vec<(Vec<EndpointPort>, Vec<&'a Pod>)> = Vec::new();
    for &pod in pods {
        let ports = resolve_ports(svc, &pod.spec);
        if ports.is_empty() && !svc.spec.ports.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(p, _)| *p == ports) {
            Some((_, g)) => g.push(pod),
            None => groups.push((ports, vec![pod])),
        }
    }
    groups
}

fn pod_ref(pod: &Pod) -> ObjectRef {
    ObjectRef {
        kind: Kind::Pod,
        namespace: pod.meta.namespace.clone(),
        name: pod.meta.name.clone(),
        uid: Some(pod.meta.uid),
    }
}

fn pod_hostname(svc: &Service, pod: &Pod) -> Option<Str> {
    match (&pod.spec.hostname, &pod.spec.subdomain) {
        (Some(h), Some(sub)) if *sub == svc.meta.name && !h.is_empty() => Some(h.clone()),
        _ => None,
    }
}

/// The labels of a Service's Endpoints/slices: the Service's, plus the headless label.
fn endpoint_labels(svc: &Service) -> StrMap {
    if svc.is_headless() {
        svc.meta.labels.with(LABEL_HEADLESS, "")
    } else {
        svc.meta.labels.clone()
    }
}

// ---------------------------------------------------------------------------------

/// Maintains the Endpoints of selector Services (see the module docs).
#[derive(Debug, Default)]
pub struct EndpointsController {
    pods: PodMapper,
}

impl EndpointsController {
    /// A new controller.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The subsets `svc` should have given its selected pods.
pub fn desired_subsets(svc: &Service, pods: &[Arc<Object>]) -> Vec<EndpointSubset> {
    let publish = svc.spec.publish_not_ready_addresses;
    let eligible: Vec<&Pod> = pods
        .iter()
        .filter_map(|o| o.as_pod())
        .filter(|p| {
            p.status.pod_ip.is_some()
                && !p.status.phase.is_terminal()
                && (publish || !p.meta.is_being_deleted())
        })
        .collect();
    let mut subsets: Vec<EndpointSubset> = group_by_ports(svc, &eligible)
        .into_iter()
        .map(|(ports, group)| {
            let mut s = EndpointSubset {
                ports,
                ..Default::default()
            };
            for pod in group {
                let addr = EndpointAddress {
                    ip: pod.status.pod_ip.expect("filtered on pod_ip"),
                    hostname: pod_hostname(svc, pod),
                    node_name: pod.node_name.clone(),
                    target_ref: Some(pod_ref(pod)),
                };
                if publish || pod.is_ready() {
                    s.addresses.push(addr);
                } else {
                    s.not_ready_addresses.push(addr);
                }
            }
            s.addresses
                .sort_by_key(|a| (a.ip, a.target_ref.as_ref().map(|r| r.name.clone())));
            s.not_ready_addresses
                .sort_by_key(|a| (a.ip, a.target_ref.as_ref().map(|r| r.name.clone())));
            s
        })
        .collect();
    subsets.retain(|s| !s.addresses.is_empty() || !s.not_ready_addresses.is_empty());
    subsets
}

impl Controller for EndpointsController {
    fn name(&self) -> &'static str {
        ENDPOINTS_NAME
    }

    fn primary(&self) -> Kind {
        Kind::Service
    }

    fn watches(&self) -> &[Kind] {
        &[Kind::Pod, Kind::Endpoints]
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        self.pods.map(ev, store, out, |o| {
            (o.kind() == Kind::Endpoints)
                .then(|| ObjectKey::new(Kind::Service, o.namespace(), o.name()))
        });
    }

    fn applied(&self, _key: &ObjectKey, results: &[WriteResult]) {
        self.pods.own.record(results);
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        if key.namespace.is_empty() {
            return Ok(Requeue::Done);
        }
        let store = ctx.store();
        let existing = store.try_get(Kind::Endpoints, &key.namespace, &key.name);
        let svc_obj = store.get_key(key);
        let Some(svc) = svc_obj.as_deref().and_then(Object::as_service) else {
            if let Some(ep) = existing {
                if ep.meta().annotations.contains_key(ANNOTATION_LAST_CHANGE) {
                    ctx.delete(
                        Kind::Endpoints,
                        &key.namespace,
                        &key.name,
                        DeleteOptions {
                            preconditions_uid: Some(ep.meta().uid),
                            ..Default::default()
                        },
                    );
                }
            }
            return Ok(Requeue::Done);
        };
        if svc.spec.selector.is_empty() || svc.meta.is_being_deleted() {
            return Ok(Requeue::Done);
        }
        let pods = selected_pods(store, svc)?;
        let subsets = desired_subsets(svc, &pods);
        let labels = endpoint_labels(svc);
        let stamp = ctx.now().rfc3339();
        match existing.as_deref().and_then(Object::as_endpoints) {
            Some(ep)
                if ep.subsets == subsets
                    && ep.meta.labels == labels
                    && ep.meta.annotations.contains_key(ANNOTATION_LAST_CHANGE) => {}
            Some(ep) => {
                let mut new = ep.clone();
                new.subsets = subsets;
                new.meta.labels = labels;
                new.meta.annotations = ep.meta.annotations.with(ANNOTATION_LAST_CHANGE, &stamp);
                ctx.update(Object::from(new));
            }
            None => {
                let mut meta = ObjectMeta::named(&key.namespace, &key.name);
                meta.labels = labels;
                meta.annotations = StrMap::from_pairs([(ANNOTATION_LAST_CHANGE, stamp.as_str())]);
                ctx.create(Object::from(Endpoints { meta, subsets }));
            }
        }
        Ok(Requeue::Done)
    }
}

// ---------------------------------------------------------------------------------

/// Maintains the EndpointSlices of selector Services (see the module docs).
#[derive(Debug, Default)]
pub struct EndpointSliceController {
    pods: PodMapper,
}

impl EndpointSliceController {
    /// A new controller.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The (ports, endpoints) of the slices `svc` should have, in order (≤
/// [`MAX_ENDPOINTS_PER_SLICE`] endpoints each).
pub fn desired_slices(
    svc: &Service,
    pods: &[Arc<Object>],
) -> Vec<(Vec<EndpointPort>, Vec<Endpoint>)> {
    let publish = svc.spec.publish_not_ready_addresses;
    let mut eligible: Vec<&Pod> = pods
        .iter()
        .filter_map(|o| o.as_pod())
        .filter(|p| p.status.pod_ip.is_some() && !p.status.phase.is_terminal())
        .collect();
    eligible.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
    let mut out = Vec::new();
    for (ports, group) in group_by_ports(svc, &eligible) {
        for chunk in group.chunks(MAX_ENDPOINTS_PER_SLICE) {
            let endpoints = chunk
                .iter()
                .map(|pod| {
                    let serving = publish || pod.is_ready();
                    let terminating = pod.meta.is_being_deleted();
                    Endpoint {
                        addresses: vec![pod.status.pod_ip.expect("filtered on pod_ip")],
                        conditions: EndpointConditions {
                            ready: Some(publish || (serving && !terminating)),
                            serving: Some(serving),
                            terminating: Some(terminating),
                        },
                        hostname: pod_hostname(svc, pod),
                        node_name: pod.node_name.clone(),
                        target_ref: Some(pod_ref(pod)),
                    }
                })
                .collect();
            out.push((ports.clone(), endpoints));
        }
    }
    out
}

/// The `managed-by` value of slices mirrored from selector-less Services' Endpoints.
pub const MIRRORING_NAME: &str = "endpointslicemirroring-controller.k8s.io";
/// The label with which an Endpoints object opts out of mirroring (value `true`).
pub const LABEL_SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";

/// The (ports, endpoints) of the slices mirroring `ep` (one group per subset, ≤
/// [`MAX_ENDPOINTS_PER_SLICE`] endpoints each; `ready` = in `addresses`).
pub fn mirrored_slices(ep: &Endpoints) -> Vec<(Vec<EndpointPort>, Vec<Endpoint>)> {
    let mut out = Vec::new();
    for sub in &ep.subsets {
        let all: Vec<Endpoint> = sub
            .addresses
            .iter()
            .map(|a| (a, true))
            .chain(sub.not_ready_addresses.iter().map(|a| (a, false)))
            .map(|(a, ready)| Endpoint {
                addresses: vec![a.ip],
                conditions: EndpointConditions {
                    ready: Some(ready),
                    serving: None,
                    terminating: None,
                },
                hostname: a.hostname.clone(),
                node_name: a.node_name.clone(),
                target_ref: a.target_ref.clone(),
            })
            .collect();
        for chunk in all.chunks(MAX_ENDPOINTS_PER_SLICE) {
            out.push((sub.ports.clone(), chunk.to_vec()));
        }
    }
    out
}

fn is_managed_slice(o: &Object) -> bool {
    matches!(
        o.labels().get(LABEL_MANAGED_BY).map(|s| s.as_str()),
        Some(ENDPOINTSLICE_NAME | MIRRORING_NAME)
    )
}

/// Whether `s` is an EndpointSlice placeholder: no endpoints and no ports (upstream
/// keeps one for a selector Service without endpoints).
pub fn is_placeholder(s: &EndpointSlice) -> bool {
    s.endpoints.is_empty() && s.ports.is_empty()
}

fn delete_slice(ctx: &mut Ctx<'_>, s: &Object) {
    ctx.delete(
        Kind::EndpointSlice,
        s.namespace(),
        s.name(),
        DeleteOptions {
            preconditions_uid: Some(s.meta().uid),
            ..Default::default()
        },
    );
}

impl Controller for EndpointSliceController {
    fn name(&self) -> &'static str {
        ENDPOINTSLICE_NAME
    }

    fn primary(&self) -> Kind {
        Kind::Service
    }

    fn watches(&self) -> &[Kind] {
        &[Kind::Pod, Kind::Endpoints, Kind::EndpointSlice]
    }

    fn applied(&self, _key: &ObjectKey, results: &[WriteResult]) {
        self.pods.own.record(results);
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        // Endpoints matter here only for mirroring, i.e. for selector-less Services
        // (a Service's own events map it whenever its selector changes).
        if let Object::Endpoints(e) = &*ev.object {
            if self.pods.has_selector(&e.meta.namespace, &e.meta.name) {
                return;
            }
        }
        self.pods.map(ev, store, out, |o| match o.kind() {
            Kind::Endpoints => Some(ObjectKey::new(Kind::Service, o.namespace(), o.name())),
            Kind::EndpointSlice if is_managed_slice(o) => o
                .labels()
                .get(LABEL_SERVICE_NAME)
                .map(|s| ObjectKey::new(Kind::Service, o.namespace(), s)),
            _ => None,
        });
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        if key.namespace.is_empty() {
            return Ok(Requeue::Done);
        }
        let store = ctx.store();
        let by_service =
            LabelSelector::from_labels(StrMap::from_pairs([(LABEL_SERVICE_NAME, &*key.name)]));
        let mut existing: Vec<Arc<Object>> = store
            .list(
                Kind::EndpointSlice,
                Some(&key.namespace),
                Some(&by_service),
                None,
            )?
            .into_iter()
            .filter(|s| is_managed_slice(s) && !s.meta().is_being_deleted())
            .collect();
        existing.sort_by(|a, b| a.name().cmp(b.name()));
        let svc_obj = store.get_key(key);
        let Some(svc) = svc_obj
            .as_deref()
            .and_then(Object::as_service)
            .filter(|s| !s.meta.is_being_deleted())
        else {
            // Gone (or going): its slices go too (upstream leaves it to the GC).
            for s in &existing {
                delete_slice(ctx, s);
            }
            return Ok(Requeue::Done);
        };
        // What the slices should be, who manages and owns them.
        let (desired, manager, owner, base_labels) = if !svc.spec.selector.is_empty() {
            let pods = selected_pods(store, svc)?;
            let owner = OwnerReference {
                kind: Kind::Service,
                name: svc.meta.name.clone(),
                uid: svc.meta.uid,
                controller: true,
                block_owner_deletion: true,
            };
            (
                desired_slices(svc, &pods),
                ENDPOINTSLICE_NAME,
                Some(owner),
                endpoint_labels(svc),
            )
        } else {
            // Mirroring: the Service's hand-written Endpoints, unless they opt out.
            let ep_obj = store.try_get(Kind::Endpoints, &key.namespace, &key.name);
            match ep_obj.as_deref().and_then(Object::as_endpoints) {
                Some(ep)
                    if ep.meta.labels.get(LABEL_SKIP_MIRROR).map(|v| v.as_str())
                        != Some("true")
                        && !ep.meta.is_being_deleted() =>
                {
                    let owner = OwnerReference {
                        kind: Kind::Endpoints,
                        name: ep.meta.name.clone(),
                        uid: ep.meta.uid,
                        controller: true,
                        block_owner_deletion: true,
                    };
                    (
                        mirrored_slices(ep),
                        MIRRORING_NAME,
                        Some(owner),
                        ep.meta.labels.clone(),
                    )
                }
                _ => (Vec::new(), MIRRORING_NAME, None, StrMap::new()),
            }
        };
        let labels = base_labels
            .with(LABEL_SERVICE_NAME, &svc.meta.name)
            .with(LABEL_MANAGED_BY, manager);
        let owners: SharedList<OwnerReference> =
            SharedList::from(owner.clone().into_iter().collect::<Vec<_>>());
        // Reused: slices of this manager owned by the current owner; the rest (another
        // manager's, an older incarnation's) are replaced.
        let (reusable, stale): (Vec<_>, Vec<_>) = existing.into_iter().partition(|s| {
            s.labels().get(LABEL_MANAGED_BY).map(|m| m.as_str()) == Some(manager)
                && owner.as_ref().is_some_and(|o| {
                    s.meta()
                        .controller_ref()
                        .is_some_and(|r| r.kind == o.kind && r.uid == o.uid)
                })
        });
        for s in &stale {
            delete_slice(ctx, s);
        }
        let mut desired = desired;
        let mut reusable = reusable;
        if manager == ENDPOINTSLICE_NAME {
            if desired.is_empty() && svc.spec.type_ != ServiceType::ExternalName {
                // Upstream's placeholder: keep one that is already there, else replace.
                desired.push((Vec::new(), Vec::new()));
                let keep = reusable
                    .iter()
                    .position(|o| o.as_endpoint_slice().is_some_and(is_placeholder));
                let kept = keep.map(|i| reusable.remove(i));
                for s in &reusable {
                    delete_slice(ctx, s);
                }
                reusable = kept.into_iter().collect();
            } else if desired.iter().all(|(p, _)| !p.is_empty()) {
                // A placeholder has no port mapping in common with the desired slices.
                reusable.retain(|o| {
                    let placeholder = o.as_endpoint_slice().is_some_and(is_placeholder);
                    if placeholder {
                        delete_slice(ctx, o);
                    }
                    !placeholder
                });
            }
        }
        let mut reusable = reusable.into_iter();
        for (ports, endpoints) in desired {
            match reusable.next() {
                Some(obj) => {
                    let cur = obj.as_endpoint_slice().expect("listed slices");
                    if cur.ports != ports
                        || cur.endpoints != endpoints
                        || cur.meta.labels != labels
                        || cur.meta.owner_references.as_slice() != owners.as_slice()
                    {
                        let mut new = cur.clone();
                        new.ports = ports;
                        new.endpoints = endpoints;
                        new.meta.labels = labels.clone();
                        new.meta.owner_references = owners.clone();
                        ctx.update(Object::from(new));
                    }
                }
                None => {
                    let mut meta = ObjectMeta::named(&key.namespace, "");
                    meta.generate_name = Some(intern(&format!("{}-", svc.meta.name)));
                    meta.labels = labels.clone();
                    meta.owner_references = owners.clone();
                    ctx.create(Object::from(EndpointSlice {
                        meta,
                        address_type: intern("IPv4"),
                        endpoints,
                        ports,
                    }));
                }
            }
        }
        for surplus in reusable {
            delete_slice(ctx, &surplus);
        }
        Ok(Requeue::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_contains_and_bounds() {
        let c = Cidr::new(Ipv4Addr::new(10, 96, 3, 4), 12);
        assert_eq!(c.base, Ipv4Addr::new(10, 96, 0, 0));
        assert!(c.contains(Ipv4Addr::new(10, 111, 255, 255)));
        assert!(!c.contains(Ipv4Addr::new(10, 112, 0, 0)));
        let (lo, hi) = c.bounds();
        assert_eq!(Ipv4Addr::from(lo), Ipv4Addr::new(10, 96, 0, 0));
        assert_eq!(Ipv4Addr::from(hi), Ipv4Addr::new(10, 111, 255, 255));
    }

    #[test]
    fn lowest_free_skips_used_and_stops_at_the_end() {
        let used: BTreeSet<u32> = [5, 6, 8].into_iter().collect();
        let mut cur = 5;
        assert_eq!(lowest_free(&used, &mut cur, 9), Some(7));
        assert_eq!(lowest_free(&used, &mut cur, 9), Some(9));
        assert_eq!(lowest_free(&used, &mut cur, 9), None);
    }

    #[test]
    fn pod_events_that_cannot_change_endpoints_wake_no_service() {
        let store = crate::store::Store::new();
        let view = StoreView::new(&store);
        let ctl = EndpointsController::new();
        let svc = Object::from(Service {
            meta: ObjectMeta::named("default", "web"),
            spec: crate::model::ServiceSpec {
                selector: StrMap::from_pairs([("app", "web")]),
                ..Default::default()
            },
            status: Default::default(),
        });
        let ev = |o: &Object, t: WatchEventType, rv: u64| WatchEvent {
            type_: t,
            object: Arc::new(o.clone()),
            resource_version: rv,
        };
        let mut out = Vec::new();
        ctl.map_event(&ev(&svc, WatchEventType::Added, 1), view, &mut out);
        assert_eq!(out.len(), 1);
        let keys = |out: &mut Vec<Routed<ObjectKey>>| -> Vec<String> {
            out.drain(..).map(|r| r.key.name.to_string()).collect()
        };
        keys(&mut out);
        let mut pod = Pod {
            meta: ObjectMeta::named("default", "web-1"),
            spec: Arc::new(PodSpec::default()),
            node_name: None,
            status: Default::default(),
        };
        pod.meta.labels = StrMap::from_pairs([("app", "web")]);
        // Created, bound, Pending without an IP: nothing to show, no key.
        for (i, step) in ["created", "bound", "pending"].iter().enumerate() {
            if *step == "bound" {
                pod.node_name = Some(intern("n1"));
            }
            if *step == "pending" {
                pod.status.host_ip = Some(Ipv4Addr::new(192, 168, 0, 10));
            }
            let t = if i == 0 {
                WatchEventType::Added
            } else {
                WatchEventType::Modified
            };
            ctl.map_event(
                &ev(&Object::from(pod.clone()), t, 2 + i as u64),
                view,
                &mut out,
            );
            assert!(keys(&mut out).is_empty(), "{step}");
        }
        // An IP: the Service wakes; the same view again: it does not.
        pod.status.pod_ip = Some(Ipv4Addr::new(10, 244, 0, 2));
        let m = WatchEventType::Modified;
        ctl.map_event(&ev(&Object::from(pod.clone()), m, 5), view, &mut out);
        assert_eq!(keys(&mut out), ["web"]);
        pod.status.start_time = Some(crate::time::Timestamp(1));
        ctl.map_event(&ev(&Object::from(pod.clone()), m, 6), view, &mut out);
        assert!(keys(&mut out).is_empty());
        // Ready, relabelled, deleted: each wakes it.
        pod.status.conditions.ready.set(
            crate::model::ConditionStatus::True,
            crate::time::Timestamp(2),
        );
        ctl.map_event(&ev(&Object::from(pod.clone()), m, 7), view, &mut out);
        assert_eq!(keys(&mut out), ["web"]);
        pod.meta.labels = StrMap::from_pairs([("app", "other")]);
        ctl.map_event(&ev(&Object::from(pod.clone()), m, 8), view, &mut out);
        assert_eq!(keys(&mut out), ["web"]);
        pod.meta.labels = StrMap::from_pairs([("app", "web")]);
        ctl.map_event(&ev(&Object::from(pod.clone()), m, 9), view, &mut out);
        assert_eq!(keys(&mut out), ["web"]);
        let d = WatchEventType::Deleted;
        ctl.map_event(&ev(&Object::from(pod.clone()), d, 10), view, &mut out);
        assert_eq!(keys(&mut out), ["web"]);
    }

    #[test]
    fn default_config_ranges() {
        let c = AllocatorConfig::default();
        assert_eq!(c.node_ports, (30000, 32767));
        assert!(c.service_cidr.contains(Ipv4Addr::new(10, 96, 0, 10)));
        assert!(c.load_balancer_pool.contains(Ipv4Addr::new(192, 0, 2, 7)));
    }
}
