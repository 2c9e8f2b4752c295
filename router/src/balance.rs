//! Balancing algorithms behind one trait, [`Balancer`].
//!
//! The router resolves the destination and applies the endpoint selection rules and
//! ClientIP affinity itself; a balancer only chooses among the selected backends of
//! one [`EndpointSet`] (never empty when the router calls it). Each algorithm says what
//! it models and what it leaves out:
//!
//! | name | models | leaves out |
//! |---|---|---|
//! | `round-robin` ([`RoundRobin`]) | the userspace proxier's `LoadBalancerRR`: the list is shuffled on every change and the rotation restarts (one cursor per thread stripe, see [`crate::endpoints`]) | retries on a different endpoint after a failed dial |
//! | `random` ([`Random`]) | nftables' `numgen random mod N` and Cilium's default: a uniform draw | — |
//! | `iptables` ([`Iptables`]) | the `KUBE-SERVICES` linear scan (one rule per ClusterIP/LB IP:port, the `KUBE-NODEPORTS` jump last) and the `KUBE-SVC-*` chain where rule i of n matches with probability 1/(n−i), formatted `%0.10f` and compared as `xt_statistic` does (`prandom & 0x7FFFFFFF < round(p·2³¹)`) | conntrack (every pick is a new connection), `xt_recent` affinity (the router's affinity layer is used instead), rule-sync latency |
//! | `ipvs-rr` ([`IpvsRr`]) | `ip_vs_rr`: a per-service pointer to the last destination, advanced to the next in list order; it survives table changes (no reset, no shuffle) | weights, overload flags; when the last destination was removed the scan restarts at the list head (upstream steps back to its predecessor) |
//! | `ipvs-sh` ([`IpvsSh`]) | `ip_vs_sh`: a 256-bucket table (`CONFIG_IP_VS_SH_TAB_BITS=8`), bucket b → destination b mod n, key `(ntohl(saddr) · 2654435761) mod 256` — so at most 256 destinations are ever used | weights, the `sh-port` and `sh-fallback` flags |
//! | `ipvs-lc` ([`IpvsLc`]) | `ip_vs_lc`: scan every destination, overhead = active·256 + inactive, first minimum wins; needs [`Balancer::opened`]/[`Balancer::closed`] | inactive (TIME_WAIT) connections are not simulated (always 0) |
//! | `maglev` ([`Maglev`]) | the Maglev paper's lookup table: prime size M (65537 default), per backend `offset = h1(name) mod M`, `skip = h2(name) mod (M−1) + 1`, backends take turns claiming their next free preferred slot; pick = `table[hash(client ip, port) mod M]` | the connection-tracking table that pins established flows, weights |
//! | `p2c-ewma` ([`P2cEwma`]) | linkerd2-proxy's tower `p2c::Balance` over `PeakEwma`: two distinct random candidates, cost = peak-EWMA RTT × (pending + 1), a slower sample replaces the estimate at once, faster ones decay with `exp(−Δt/τ)`; default RTT 30 ms, τ = 10 s (linkerd's values); needs [`Balancer::opened`]/[`Balancer::closed`] with the observed latency | readiness-driven eviction of endpoints (the router's selection rules stand in) |
//!
//! **Concurrency.** Every balancer is `Send + Sync` and is called from many threads at
//! once. Per-version state (the round-robin cursor stripes, the Maglev table, the
//! iptables chain) lives in the [`EndpointSet`] (atomics and `OnceLock`s, built once per
//! version by whichever thread first needs it). State that outlives a version (IPVS rr's pointer,
//! connection counts, EWMA estimates) lives in a `DashMap` inside the balancer, keyed by
//! service port or endpoint address; a key's entry is touched under its shard's lock
//! only.

use std::net::SocketAddrV4;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use fnv::FnvBuildHasher;
use kubesim_core::time::Timestamp;
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, RngCore};

use crate::endpoints::{EndpointKey, EndpointSet};

/// What a balancer is asked to choose for.
#[derive(Clone, Copy, Debug)]
pub struct PickContext<'a> {
    /// The selected backends of the service port (non-empty).
    pub set: &'a EndpointSet,
    /// The service's router-wide id.
    pub service_id: u32,
    /// The port's index in the service.
    pub port_index: u16,
    /// The client (source) address.
    pub client: SocketAddrV4,
    /// The current (virtual) time.
    pub now: Timestamp,
}

/// How the router finds the service before the balancer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// One hash lookup on (IP, port, protocol) (userspace, IPVS, nftables, eBPF).
    Hash,
    /// iptables' `KUBE-SERVICES`: rules tried in order until one matches.
    LinearScan,
}

/// A balancing algorithm (see the module docs).
pub trait Balancer: Send + Sync {
    /// The algorithm's name (`round-robin`, `maglev`, …).
    fn name(&self) -> &'static str;

    /// How the service is found (default: one hash lookup).
    fn dispatch(&self) -> Dispatch {
        Dispatch::Hash
    }

    /// The index of the chosen backend in `ctx.set.backends()`; `None` only for an
    /// empty set.
    fn pick(&self, ctx: &PickContext<'_>, rng: &mut SmallRng) -> Option<usize>;

    /// A connection to `endpoint` was opened (for load-aware algorithms).
    fn opened(&self, _endpoint: EndpointKey, _now: Timestamp) {}

    /// A connection to `endpoint` finished after `latency` (for load-aware algorithms).
    fn closed(&self, _endpoint: EndpointKey, _latency: Duration, _now: Timestamp) {}
}

/// The algorithms by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// [`RoundRobin`].
    RoundRobin,
    /// [`Random`].
    Random,
    /// [`Iptables`].
    Iptables,
    /// [`IpvsRr`].
    IpvsRr,
    /// [`IpvsSh`].
    IpvsSh,
    /// [`IpvsLc`].
    IpvsLc,
    /// [`Maglev`] with the default table size.
    Maglev,
    /// [`P2cEwma`] with linkerd's defaults.
    P2cEwma,
}

impl Algorithm {
    /// Every algorithm, in table order.
    pub const ALL: [Algorithm; 8] = [
        Algorithm::RoundRobin,
        Algorithm::Random,
        Algorithm::Iptables,
        Algorithm::IpvsRr,
        Algorithm::IpvsSh,
        Algorithm::IpvsLc,
        Algorithm::Maglev,
        Algorithm::P2cEwma,
    ];

    /// The name used on command lines and in results.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round-robin",
            Algorithm::Random => "random",
            Algorithm::Iptables => "iptables",
            Algorithm::IpvsRr => "ipvs-rr",
            Algorithm::IpvsSh => "ipvs-sh",
            Algorithm::IpvsLc => "ipvs-lc",
            Algorithm::Maglev => "maglev",
            Algorithm::P2cEwma => "p2c-ewma",
        }
    }

    /// A fresh balancer of this algorithm.
    pub fn build(self) -> Box<dyn Balancer> {
        match self {
            Algorithm::RoundRobin => Box::new(RoundRobin),
            Algorithm::Random => Box::new(Random),
            Algorithm::Iptables => Box::new(Iptables),
            Algorithm::IpvsRr => Box::new(IpvsRr::default()),
            Algorithm::IpvsSh => Box::new(IpvsSh),
            Algorithm::IpvsLc => Box::new(IpvsLc::default()),
            Algorithm::Maglev => Box::new(Maglev::default()),
            Algorithm::P2cEwma => Box::new(P2cEwma::default()),
        }
    }
}

impl FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
                format!("unknown algorithm {s:?}; one of {}", names.join(", "))
            })
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The userspace proxier's round-robin (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct RoundRobin;

impl Balancer for RoundRobin {
    fn name(&self) -> &'static str {
        "round-robin"
    }
    #[inline]
    fn pick(&self, ctx: &PickContext<'_>, _rng: &mut SmallRng) -> Option<usize> {
        ctx.set.next_round_robin()
    }
}

/// A uniform random draw (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct Random;

impl Balancer for Random {
    fn name(&self) -> &'static str {
        "random"
    }
    #[inline]
    fn pick(&self, ctx: &PickContext<'_>, rng: &mut SmallRng) -> Option<usize> {
        let n = ctx.set.len();
        (n > 0).then(|| rng.random_range(0..n))
    }
}

/// The `KUBE-SVC-*` chain of one service port: per rule the `xt_statistic` threshold.
#[derive(Debug)]
pub struct IptablesChain {
    /// Rule i matches when `(prandom & 0x7FFFFFFF) < thresholds[i]`; the last rule has
    /// no statistic match (`u32::MAX`).
    thresholds: Box<[u32]>,
}

impl IptablesChain {
    /// The chain for `n` endpoints, as `computeProbability` formats it (`%0.10f`) and
    /// iptables' libxt_statistic converts it (`lround(p · 2³¹)`).
    pub fn new(n: usize) -> IptablesChain {
        let thresholds = (0..n)
            .map(|i| {
                if i + 1 == n {
                    u32::MAX
                } else {
                    let p = 1.0 / (n - i) as f64;
                    let p10 = (p * 1e10).round() / 1e10;
                    (p10 * 2_147_483_648.0).round() as u32
                }
            })
            .collect();
        IptablesChain { thresholds }
    }

    /// Walks the chain: the index of the first rule that matches, and how many rules
    /// were evaluated.
    #[inline]
    pub fn walk(&self, rng: &mut SmallRng) -> (usize, usize) {
        let n = self.thresholds.len();
        for (i, &t) in self.thresholds.iter().enumerate() {
            if t == u32::MAX || (rng.next_u32() & 0x7FFF_FFFF) < t {
                return (i, i + 1);
            }
        }
        (n.saturating_sub(1), n)
    }

    /// The match probability of rule `i` as written in the rule (`None` for the last).
    pub fn probability(&self, i: usize) -> Option<f64> {
        let t = *self.thresholds.get(i)?;
        (t != u32::MAX).then(|| f64::from(t) / 2_147_483_648.0)
    }
}

/// kube-proxy's iptables mode (see the module docs). The `KUBE-SERVICES` scan is done by
/// the router ([`Dispatch::LinearScan`]); this walks the service's chain.
#[derive(Clone, Copy, Debug, Default)]
pub struct Iptables;

impl Balancer for Iptables {
    fn name(&self) -> &'static str {
        "iptables"
    }
    fn dispatch(&self) -> Dispatch {
        Dispatch::LinearScan
    }
    #[inline]
    fn pick(&self, ctx: &PickContext<'_>, rng: &mut SmallRng) -> Option<usize> {
        let n = ctx.set.len();
        if n == 0 {
            return None;
        }
        let chain = ctx.set.chain.get_or_init(|| IptablesChain::new(n));
        Some(chain.walk(rng).0)
    }
}

/// IPVS `rr` (see the module docs).
#[derive(Debug, Default)]
pub struct IpvsRr {
    /// Per service port (`id << 16 | port index`): the last destination, packed, + 1
    /// (0 = none yet).
    last: DashMap<u64, AtomicU64, FnvBuildHasher>,
}

impl Balancer for IpvsRr {
    fn name(&self) -> &'static str {
        "ipvs-rr"
    }
    fn pick(&self, ctx: &PickContext<'_>, _rng: &mut SmallRng) -> Option<usize> {
        let set = ctx.set;
        let n = set.len();
        if n == 0 {
            return None;
        }
        let key = (u64::from(ctx.service_id) << 16) | u64::from(ctx.port_index);
        let slot = match self.last.get(&key) {
            Some(s) => s,
            None => self.last.entry(key).or_default().downgrade(),
        };
        let mut cur = slot.load(Ordering::Acquire);
        loop {
            let next = match cur.checked_sub(1).and_then(|k| set.position(k)) {
                Some(p) => (p + 1) % n,
                None => 0,
            };
            let packed = set.backends()[next].key() + 1;
            match slot.compare_exchange_weak(cur, packed, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(next),
                Err(actual) => cur = actual,
            }
        }
    }
}

/// IPVS `sh` source hashing (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct IpvsSh;

/// `IP_VS_SH_TAB_SIZE` with the default `CONFIG_IP_VS_SH_TAB_BITS=8`.
pub const IPVS_SH_TABLE_SIZE: u32 = 256;

impl Balancer for IpvsSh {
    fn name(&self) -> &'static str {
        "ipvs-sh"
    }
    #[inline]
    fn pick(&self, ctx: &PickContext<'_>, _rng: &mut SmallRng) -> Option<usize> {
        let n = ctx.set.len() as u32;
        if n == 0 {
            return None;
        }
        let bucket = u32::from(*ctx.client.ip()).wrapping_mul(2_654_435_761) % IPVS_SH_TABLE_SIZE;
        // ip_vs_sh_reassign with equal weights: bucket b holds destination b mod n.
        Some((bucket % n) as usize)
    }
}

/// IPVS `lc` least connections (see the module docs).
#[derive(Debug, Default)]
pub struct IpvsLc {
    active: DashMap<EndpointKey, AtomicU32, FnvBuildHasher>,
}

impl IpvsLc {
    /// Active connections to `endpoint`.
    pub fn active(&self, endpoint: EndpointKey) -> u32 {
        self.active
            .get(&endpoint)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

impl Balancer for IpvsLc {
    fn name(&self) -> &'static str {
        "ipvs-lc"
    }
    fn pick(&self, ctx: &PickContext<'_>, _rng: &mut SmallRng) -> Option<usize> {
        let mut best: Option<(usize, u64)> = None;
        for (i, b) in ctx.set.backends().iter().enumerate() {
            // overhead = activeconns << 8 + inactconns (inactive not simulated: 0)
            let overhead = u64::from(self.active(b.key())) << 8;
            if best.is_none_or(|(_, o)| overhead < o) {
                best = Some((i, overhead));
            }
        }
        best.map(|(i, _)| i)
    }
    fn opened(&self, endpoint: EndpointKey, _now: Timestamp) {
        self.active
            .entry(endpoint)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }
    fn closed(&self, endpoint: EndpointKey, _latency: Duration, _now: Timestamp) {
        if let Some(c) = self.active.get(&endpoint) {
            let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
        }
    }
}

/// The default Maglev table size (prime), as Envoy and Katran use.
pub const MAGLEV_DEFAULT_SIZE: u32 = 65_537;

/// splitmix64's finalizer: a strong 64-bit mix.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a over `bytes` from `basis`.
fn fnv1a(basis: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(basis, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A Maglev lookup table: slot → backend index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaglevTable {
    entries: Box<[u32]>,
}

impl MaglevTable {
    /// Builds the table of prime size `m` for backends named `names` (the paper's
    /// population algorithm; `h1`/`h2` are FNV-1a with two bases, then mixed).
    pub fn build<S: AsRef<[u8]>>(names: &[S], m: u32) -> MaglevTable {
        let n = names.len();
        let mut entries = vec![u32::MAX; m as usize];
        if n == 0 || m == 0 {
            return MaglevTable {
                entries: entries.into_boxed_slice(),
            };
        }
        let m64 = u64::from(m);
        let perm: Vec<(u64, u64)> = names
            .iter()
            .map(|name| {
                let b = name.as_ref();
                let offset = mix64(fnv1a(0xcbf2_9ce4_8422_2325, b)) % m64;
                let skip = mix64(fnv1a(0x8422_2325_cbf2_9ce4, b)) % (m64 - 1).max(1) + 1;
                (offset, skip)
            })
            .collect();
        let mut next = vec![0u64; n];
        let mut filled = 0u32;
        'fill: loop {
            for i in 0..n {
                let (offset, skip) = perm[i];
                let mut c = (offset + next[i] * skip) % m64;
                while entries[c as usize] != u32::MAX {
                    next[i] += 1;
                    c = (offset + next[i] * skip) % m64;
                }
                entries[c as usize] = i as u32;
                next[i] += 1;
                filled += 1;
                if filled == m {
                    break 'fill;
                }
            }
        }
        MaglevTable {
            entries: entries.into_boxed_slice(),
        }
    }

    /// The backend index for a flow hash.
    #[inline]
    pub fn lookup(&self, hash: u64) -> Option<usize> {
        let m = self.entries.len() as u64;
        if m == 0 {
            return None;
        }
        let e = self.entries[(hash % m) as usize];
        (e != u32::MAX).then_some(e as usize)
    }

    /// The table (slot → backend index; `u32::MAX` for an empty table's slots).
    pub fn entries(&self) -> &[u32] {
        &self.entries
    }
}

/// Maglev consistent hashing (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct Maglev {
    /// Table size (prime).
    pub table_size: u32,
}

impl Default for Maglev {
    fn default() -> Self {
        Maglev {
            table_size: MAGLEV_DEFAULT_SIZE,
        }
    }
}

/// The Maglev name of a backend: `ip:port`.
pub fn maglev_name(addr: SocketAddrV4) -> String {
    addr.to_string()
}

impl Balancer for Maglev {
    fn name(&self) -> &'static str {
        "maglev"
    }
    #[inline]
    fn pick(&self, ctx: &PickContext<'_>, _rng: &mut SmallRng) -> Option<usize> {
        let set = ctx.set;
        if set.is_empty() {
            return None;
        }
        let table = set.maglev.get_or_init(|| {
            let names: Vec<String> = set
                .backends()
                .iter()
                .map(|b| maglev_name(b.addr()))
                .collect();
            MaglevTable::build(&names, self.table_size)
        });
        let flow = (u64::from(u32::from(*ctx.client.ip())) << 16) | u64::from(ctx.client.port());
        table.lookup(mix64(flow))
    }
}

/// linkerd's default RTT estimate for an endpoint with no sample yet.
pub const P2C_DEFAULT_RTT: Duration = Duration::from_millis(30);
/// linkerd's EWMA decay time constant τ.
pub const P2C_DECAY: Duration = Duration::from_secs(10);

/// Peak-EWMA state of one endpoint.
#[derive(Debug, Clone, Copy)]
struct PeakEwma {
    rtt_ns: f64,
    update_at: Timestamp,
    pending: u32,
}

impl PeakEwma {
    /// tower's `RttEstimate::update`: a slower sample replaces the estimate; a faster
    /// one (or 0, "just decay") is blended with weight `1 − exp(−Δt/τ)`.
    fn update(&mut self, rtt_ns: f64, decay_ns: f64, now: Timestamp) -> f64 {
        if self.rtt_ns < rtt_ns {
            self.rtt_ns = rtt_ns;
        } else {
            let elapsed_ns = (now.0 - self.update_at.0).max(0) as f64 * 1e6;
            let decay = (-elapsed_ns / decay_ns).exp();
            self.rtt_ns = self.rtt_ns * decay + rtt_ns * (1.0 - decay);
        }
        if now.0 > self.update_at.0 {
            self.update_at = now;
        }
        self.rtt_ns
    }
}

/// Power of two choices over peak-EWMA cost (see the module docs).
#[derive(Debug)]
pub struct P2cEwma {
    default_rtt_ns: f64,
    decay_ns: f64,
    state: DashMap<EndpointKey, Mutex<PeakEwma>, FnvBuildHasher>,
}

impl Default for P2cEwma {
    fn default() -> Self {
        P2cEwma::new(P2C_DEFAULT_RTT, P2C_DECAY)
    }
}

impl P2cEwma {
    /// With a default RTT for unseen endpoints and the decay constant τ.
    pub fn new(default_rtt: Duration, decay: Duration) -> Self {
        P2cEwma {
            default_rtt_ns: default_rtt.as_nanos() as f64,
            decay_ns: (decay.as_nanos() as f64).max(1.0),
            state: DashMap::default(),
        }
    }

    /// The current cost of `endpoint`: decayed peak-EWMA RTT (ns) × (pending + 1).
    pub fn cost(&self, endpoint: EndpointKey, now: Timestamp) -> f64 {
        match self.state.get(&endpoint) {
            Some(s) => {
                let mut s = s.lock();
                let pending = s.pending;
                s.update(0.0, self.decay_ns, now) * f64::from(pending + 1)
            }
            None => self.default_rtt_ns,
        }
    }

    fn fresh(&self, now: Timestamp) -> Mutex<PeakEwma> {
        Mutex::new(PeakEwma {
            rtt_ns: self.default_rtt_ns,
            update_at: now,
            pending: 0,
        })
    }
}

impl Balancer for P2cEwma {
    fn name(&self) -> &'static str {
        "p2c-ewma"
    }
    fn pick(&self, ctx: &PickContext<'_>, rng: &mut SmallRng) -> Option<usize> {
        let set = ctx.set;
        let n = set.len();
        match n {
            0 => None,
            1 => Some(0),
            _ => {
                // Two distinct indexes, uniformly (Floyd's sample of 2).
                let a = rng.random_range(0..n);
                let mut b = rng.random_range(0..n - 1);
                if b >= a {
                    b += 1;
                }
                let ca = self.cost(set.backends()[a].key(), ctx.now);
                let cb = self.cost(set.backends()[b].key(), ctx.now);
                Some(if cb < ca { b } else { a })
            }
        }
    }
    fn opened(&self, endpoint: EndpointKey, now: Timestamp) {
        self.state
            .entry(endpoint)
            .or_insert_with(|| self.fresh(now))
            .lock()
            .pending += 1;
    }
    fn closed(&self, endpoint: EndpointKey, latency: Duration, now: Timestamp) {
        let entry = self
            .state
            .entry(endpoint)
            .or_insert_with(|| self.fresh(now));
        let mut s = entry.lock();
        s.pending = s.pending.saturating_sub(1);
        s.update(latency.as_nanos() as f64, self.decay_ns, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::{Backend, Candidate};
    use rand::SeedableRng;
    use std::net::Ipv4Addr;

    fn set(n: usize) -> EndpointSet {
        let c: Vec<Candidate> = (0..n)
            .map(|i| Candidate {
                backend: Backend {
                    ip: Ipv4Addr::from(0x0af4_0000 + i as u32),
                    port: 80,
                    pod: None,
                    node: None,
                },
                ready: true,
                serving: true,
                terminating: false,
            })
            .collect();
        EndpointSet::build(1, &c, 3)
    }

    fn ctx(set: &EndpointSet, client: u32) -> PickContext<'_> {
        PickContext {
            set,
            service_id: 1,
            port_index: 0,
            client: SocketAddrV4::new(Ipv4Addr::from(client), 40000),
            now: Timestamp(0),
        }
    }

    #[test]
    fn iptables_chain_probabilities_are_one_over_n_minus_i() {
        let c = IptablesChain::new(4);
        assert!((c.probability(0).unwrap() - 0.25).abs() < 1e-9);
        assert!((c.probability(1).unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert!((c.probability(2).unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(c.probability(3), None);
        // The chain is uniform overall, and walks (n+1)/2 rules on average.
        let mut rng = SmallRng::seed_from_u64(1);
        let mut hits = [0u32; 4];
        let mut rules = 0usize;
        for _ in 0..40_000 {
            let (i, r) = c.walk(&mut rng);
            hits[i] += 1;
            rules += r;
        }
        for h in hits {
            assert!((9_000..11_000).contains(&h), "{hits:?}");
        }
        let mean = rules as f64 / 40_000.0;
        assert!((mean - 2.5).abs() < 0.1, "{mean}");
    }

    #[test]
    fn ipvs_rr_continues_across_versions() {
        let s = set(4);
        let b = IpvsRr::default();
        let mut rng = SmallRng::seed_from_u64(1);
        let picks: Vec<usize> = (0..6)
            .map(|_| b.pick(&ctx(&s, 1), &mut rng).unwrap())
            .collect();
        assert_eq!(picks, vec![0, 1, 2, 3, 0, 1]);
        // A new version with the same backends: continues after the last one (1 → 2).
        let s2 = set(4);
        assert_eq!(b.pick(&ctx(&s2, 1), &mut rng), Some(2));
    }

    #[test]
    fn ipvs_sh_is_sticky_per_source_ip_and_uses_at_most_256_backends() {
        let s = set(1000);
        let b = IpvsSh;
        let mut rng = SmallRng::seed_from_u64(1);
        let mut used = std::collections::HashSet::new();
        for client in 0..100_000u32 {
            let p = b.pick(&ctx(&s, client), &mut rng).unwrap();
            assert_eq!(b.pick(&ctx(&s, client), &mut rng), Some(p));
            used.insert(p);
        }
        assert!(used.len() <= 256);
        assert!(used.len() > 200);
    }

    #[test]
    fn ipvs_lc_prefers_the_least_loaded_and_needs_accounting() {
        let s = set(3);
        let b = IpvsLc::default();
        let mut rng = SmallRng::seed_from_u64(1);
        let keys: Vec<u64> = s.backends().iter().map(|x| x.key()).collect();
        b.opened(keys[0], Timestamp(0));
        b.opened(keys[1], Timestamp(0));
        assert_eq!(b.pick(&ctx(&s, 1), &mut rng), Some(2));
        b.opened(keys[2], Timestamp(0));
        b.opened(keys[2], Timestamp(0));
        assert_eq!(b.pick(&ctx(&s, 1), &mut rng), Some(0), "first minimum wins");
        b.closed(keys[1], Duration::ZERO, Timestamp(0));
        assert_eq!(b.pick(&ctx(&s, 1), &mut rng), Some(1));
    }

    #[test]
    fn maglev_table_is_full_and_balanced() {
        let names: Vec<String> = (0..100).map(|i| format!("10.0.0.{i}:80")).collect();
        let t = MaglevTable::build(&names, MAGLEV_DEFAULT_SIZE);
        let mut counts = vec![0u32; 100];
        for &e in t.entries() {
            counts[e as usize] += 1;
        }
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        // M/N = 655.37: every backend gets 655 or 656 slots (the turn-taking fill).
        assert!(*min >= 655 && *max <= 656, "{min}..{max}");
    }

    #[test]
    fn p2c_avoids_the_slow_endpoint_and_decays() {
        let s = set(2);
        let b = P2cEwma::default();
        let mut rng = SmallRng::seed_from_u64(1);
        let slow = s.backends()[0].key();
        b.opened(slow, Timestamp(0));
        b.closed(slow, Duration::from_millis(500), Timestamp(0));
        for _ in 0..20 {
            assert_eq!(b.pick(&ctx(&s, 1), &mut rng), Some(1));
        }
        // Peak: 500 ms at once; after τ·5 it has decayed below the 30 ms default.
        assert!((b.cost(slow, Timestamp(0)) - 5e8).abs() < 1.0);
        assert!(b.cost(slow, Timestamp(50_000)) < 3e7 / 2.0);
        // Pending requests multiply the cost.
        let fast = s.backends()[1].key();
        b.opened(fast, Timestamp(50_000));
        b.closed(fast, Duration::from_millis(10), Timestamp(50_000));
        let c0 = b.cost(fast, Timestamp(50_000));
        b.opened(fast, Timestamp(50_000));
        assert!((b.cost(fast, Timestamp(50_000)) / c0 - 2.0).abs() < 1e-6);
    }

    #[test]
    fn algorithm_names_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(a.as_str().parse::<Algorithm>(), Ok(a));
            assert_eq!(a.build().name(), a.as_str());
        }
        assert!("nope".parse::<Algorithm>().is_err());
    }
}
