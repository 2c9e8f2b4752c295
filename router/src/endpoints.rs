//! One service port's endpoint set: the endpoints that may take new traffic, chosen by
//! kube-proxy's rules, frozen for one table version.
//!
//! [`EndpointSet::build`] applies the selection rules of K8S-SEMANTICS.md "Service
//! routing":
//!
//! 1. the **ready** endpoints (`conditions.ready`, unset = ready, as the API documents);
//! 2. when none is ready, the endpoints that are **serving and terminating**
//!    (ProxyTerminatingEndpoints, KEP-1669; `serving` unset = `ready`);
//! 3. otherwise the set is empty, and the router answers
//!    [`RouteError::NoEndpoints`](crate::RouteError::NoEndpoints).
//!
//! A set is immutable once built except for its round-robin cursors (atomics) and the
//! lazily built per-version state of the comparison algorithms (the Maglev lookup table
//! and the iptables probability chain, each a `OnceLock` filled by the first picker that
//! needs it). A new version of the service gets a new set: the rotation starts again
//! over a freshly shuffled order, as the userspace proxier's `LoadBalancerRR` did on
//! every endpoints change.
//!
//! # Concurrency protocol (round-robin)
//!
//! One shared cursor would be one cache line bouncing between every core that routes
//! to the service. Instead a set has [`RR_STRIPES`] cache-padded cursors ("stripes");
//! each thread is given a stripe number once (a global counter, so concurrently
//! running threads get different stripes until there are more threads than stripes)
//! and always advances that stripe with one relaxed `fetch_add`. Stripe `s` walks the
//! same shuffled order, starting at offset `⌊s·n/RR_STRIPES⌋`: stripe 0 starts at the
//! head, as the single cursor did, and threads that each make only a few picks start
//! on different endpoints. Every stripe is exactly fair over its own full cycles, so
//! the combined shares stay even: after any picks, an endpoint's count differs from
//! the mean by less than the number of stripes in use (and by zero when every
//! stripe's picks are whole cycles).

use std::cell::Cell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crossbeam::utils::CachePadded;
use fnv::FnvHashMap;
use kubesim_core::intern::Str;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::balance::{IptablesChain, MaglevTable};

/// Number of round-robin cursor stripes per [`EndpointSet`] (see the module docs).
pub const RR_STRIPES: usize = 8;

/// The next stripe number to hand to a thread.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's round-robin stripe; `usize::MAX` until its first pick.
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The round-robin stripe of the calling thread (fixed for the thread's lifetime).
#[inline]
pub fn thread_stripe() -> usize {
    STRIPE.with(|s| {
        let v = s.get();
        if v < RR_STRIPES {
            v
        } else {
            let v = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % RR_STRIPES;
            s.set(v);
            v
        }
    })
}

/// An endpoint address packed into one word: `ip << 16 | port`.
pub type EndpointKey = u64;

/// Packs an endpoint address into an [`EndpointKey`].
pub fn endpoint_key(ip: Ipv4Addr, port: u16) -> EndpointKey {
    (u64::from(u32::from(ip)) << 16) | u64::from(port)
}

/// Unpacks an [`EndpointKey`].
pub fn key_addr(key: EndpointKey) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from((key >> 16) as u32), key as u16)
}

/// One backend of a service port: where a connection is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    /// The endpoint's IP (the pod IP).
    pub ip: Ipv4Addr,
    /// The endpoint's port (the resolved targetPort).
    pub port: u16,
    /// The pod (`targetRef.name`), when known.
    pub pod: Option<Str>,
    /// The node the endpoint runs on, when known.
    pub node: Option<Str>,
}

impl Backend {
    /// The packed address.
    pub fn key(&self) -> EndpointKey {
        endpoint_key(self.ip, self.port)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.ip, self.port)
    }
}

/// An endpoint as published (EndpointSlice or Endpoints), before selection.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The backend.
    pub backend: Backend,
    /// `conditions.ready` (unset already resolved to `true`).
    pub ready: bool,
    /// `conditions.serving` (unset already resolved to `ready`).
    pub serving: bool,
    /// `conditions.terminating` (unset already resolved to `false`).
    pub terminating: bool,
}

/// The endpoints of one service port that may take new traffic (see the module docs).
#[derive(Debug)]
pub struct EndpointSet {
    generation: u64,
    /// Selected backends in publication order (slice order, then endpoint order), as
    /// IPVS and iptables list them.
    backends: Box<[Backend]>,
    /// Userspace round-robin order: a permutation of `0..backends.len()`, shuffled.
    order: Box<[u32]>,
    position: FnvHashMap<EndpointKey, u32>,
    /// Per backend: the generation since which it has been selected without a break
    /// (see [`since`](Self::since)).
    since: Box<[u64]>,
    fallback: bool,
    published: usize,
    /// Round-robin cursors, one per stripe (see the module docs).
    rr: Box<[CachePadded<AtomicU64>]>,
    pub(crate) maglev: OnceLock<MaglevTable>,
    pub(crate) chain: OnceLock<IptablesChain>,
}

impl EndpointSet {
    /// Applies the selection rules to `candidates` (duplicates of one address are kept
    /// once) and shuffles the round-robin order with `shuffle_seed`.
    pub fn build(generation: u64, candidates: &[Candidate], shuffle_seed: u64) -> EndpointSet {
        EndpointSet::build_after(generation, candidates, shuffle_seed, None)
    }

    /// [`build`](Self::build) as the successor of `prev` (the port's previous version):
    /// a backend selected in `prev` and still selected keeps its
    /// [`since`](Self::since); any other starts at `generation`. A switch between ready
    /// and the serving+terminating fallback restarts every backend (each stopped being
    /// ready, or became ready).
    pub fn build_after(
        generation: u64,
        candidates: &[Candidate],
        shuffle_seed: u64,
        prev: Option<&EndpointSet>,
    ) -> EndpointSet {
        let ready: Vec<&Candidate> = candidates.iter().filter(|c| c.ready).collect();
        let (chosen, fallback) = if ready.is_empty() {
            let term: Vec<&Candidate> = candidates
                .iter()
                .filter(|c| c.serving && c.terminating)
                .collect();
            let fb = !term.is_empty();
            (term, fb)
        } else {
            (ready, false)
        };
        let mut position = FnvHashMap::with_capacity_and_hasher(chosen.len(), Default::default());
        let mut backends = Vec::with_capacity(chosen.len());
        for c in chosen {
            let k = c.backend.key();
            if let std::collections::hash_map::Entry::Vacant(v) = position.entry(k) {
                v.insert(backends.len() as u32);
                backends.push(c.backend.clone());
            }
        }
        let n = backends.len();
        let prev = prev.filter(|p| p.fallback == fallback);
        let since = backends
            .iter()
            .map(|b| {
                prev.and_then(|p| p.position(b.key()).map(|i| p.since[i]))
                    .unwrap_or(generation)
            })
            .collect();
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.shuffle(&mut SmallRng::seed_from_u64(shuffle_seed));
        EndpointSet {
            generation,
            backends: backends.into_boxed_slice(),
            order: order.into_boxed_slice(),
            position,
            since,
            fallback,
            published: candidates.len(),
            // Stripe s starts at ⌊s·n/RR_STRIPES⌋ (see the module docs).
            rr: (0..RR_STRIPES)
                .map(|s| CachePadded::new(AtomicU64::new((s * n / RR_STRIPES) as u64)))
                .collect(),
            maglev: OnceLock::new(),
            chain: OnceLock::new(),
        }
    }

    /// The table version this set belongs to (unique per set within a router).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The selected backends, in publication order.
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// Number of selected backends.
    pub fn len(&self) -> usize {
        self.backends.len()
    }

    /// Whether no backend may take traffic.
    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    /// Whether the set is the serving+terminating fallback (no endpoint was ready).
    pub fn is_terminating_fallback(&self) -> bool {
        self.fallback
    }

    /// Number of endpoints published for this port (selected or not).
    pub fn published(&self) -> usize {
        self.published
    }

    /// The index of the backend with address `key`, if it is selected.
    #[inline]
    pub fn position(&self, key: EndpointKey) -> Option<usize> {
        self.position.get(&key).map(|&p| p as usize)
    }

    /// The generation since which backend `index` has been selected without a break
    /// (this set's generation when it was not selected in the previous version).
    /// ClientIP affinity uses it to drop an entry whose endpoint went away, even if it
    /// came back since.
    #[inline]
    pub fn since(&self, index: usize) -> u64 {
        self.since.get(index).copied().unwrap_or(self.generation)
    }

    /// Whether `key` is a selected backend and has been in every version since
    /// generation `born` (an affinity entry made on that version still holds; with
    /// `born` = [`crate::affinity::UNVERSIONED`], merely whether it is selected).
    pub fn holds(&self, key: EndpointKey, born: u64) -> bool {
        self.position(key).is_some_and(|i| self.since(i) <= born)
    }

    /// Whether `key` is a selected backend.
    pub fn contains(&self, key: EndpointKey) -> bool {
        self.position.contains_key(&key)
    }

    /// Userspace round-robin: the next backend of the shuffled order on the calling
    /// thread's stripe (one relaxed `fetch_add` on a cursor no other running thread
    /// uses, see the module docs). Panics never; `None` on an empty set.
    #[inline]
    pub fn next_round_robin(&self) -> Option<usize> {
        self.next_round_robin_on(thread_stripe())
    }

    /// Round-robin on stripe `stripe % RR_STRIPES`: what
    /// [`next_round_robin`](Self::next_round_robin) does with the calling thread's stripe.
    #[inline]
    pub fn next_round_robin_on(&self, stripe: usize) -> Option<usize> {
        let n = self.order.len() as u64;
        if n == 0 {
            return None;
        }
        let c = self.rr[stripe % RR_STRIPES].fetch_add(1, Ordering::Relaxed);
        Some(self.order[(c % n) as usize] as usize)
    }

    /// The shuffled round-robin order (indexes into [`backends`](Self::backends)).
    pub fn round_robin_order(&self) -> &[u32] {
        &self.order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(i: u8, ready: bool, serving: bool, terminating: bool) -> Candidate {
        Candidate {
            backend: Backend {
                ip: Ipv4Addr::new(10, 0, 0, i),
                port: 8080,
                pod: None,
                node: None,
            },
            ready,
            serving,
            terminating,
        }
    }

    #[test]
    fn only_ready_endpoints_are_selected() {
        let s = EndpointSet::build(
            1,
            &[cand(1, true, true, false), cand(2, false, false, false)],
            7,
        );
        assert_eq!(s.len(), 1);
        assert_eq!(s.backends()[0].ip, Ipv4Addr::new(10, 0, 0, 1));
        assert!(!s.is_terminating_fallback());
        assert_eq!(s.published(), 2);
    }

    #[test]
    fn serving_terminating_fallback_only_when_none_ready() {
        // One ready + one serving-terminating: only the ready one.
        let s = EndpointSet::build(
            1,
            &[cand(1, true, true, false), cand(2, false, true, true)],
            7,
        );
        assert_eq!(s.len(), 1);
        assert!(!s.is_terminating_fallback());
        // None ready: serving+terminating ones, not the non-serving terminating one.
        let s = EndpointSet::build(
            1,
            &[
                cand(2, false, true, true),
                cand(3, false, false, true),
                cand(4, false, false, false),
            ],
            7,
        );
        assert_eq!(s.len(), 1);
        assert_eq!(s.backends()[0].ip, Ipv4Addr::new(10, 0, 0, 2));
        assert!(s.is_terminating_fallback());
        // Nothing usable: empty.
        let s = EndpointSet::build(1, &[cand(3, false, false, true)], 7);
        assert!(s.is_empty());
        assert_eq!(s.next_round_robin(), None);
    }

    #[test]
    fn round_robin_is_a_shuffled_cycle_that_restarts_per_version() {
        let c: Vec<Candidate> = (0..10).map(|i| cand(i, true, true, false)).collect();
        let a = EndpointSet::build(1, &c, 1);
        let b = EndpointSet::build(2, &c, 2);
        let ca: Vec<usize> = (0..10).map(|_| a.next_round_robin().unwrap()).collect();
        let cb: Vec<usize> = (0..10).map(|_| b.next_round_robin().unwrap()).collect();
        let mut sa = ca.clone();
        sa.sort_unstable();
        assert_eq!(sa, (0..10).collect::<Vec<_>>());
        assert_ne!(ca, cb, "each version is reshuffled");
        assert_ne!(ca, (0..10).collect::<Vec<_>>(), "order is shuffled");
        assert_eq!(a.next_round_robin(), Some(ca[0]), "the cycle repeats");
    }

    #[test]
    fn stripes_start_spread_out_and_each_cycles_the_whole_order() {
        let n = 16;
        let c: Vec<Candidate> = (0..n as u8).map(|i| cand(i, true, true, false)).collect();
        let s = EndpointSet::build(1, &c, 3);
        let order: Vec<usize> = s.round_robin_order().iter().map(|&i| i as usize).collect();
        for stripe in 0..RR_STRIPES {
            let start = stripe * n / RR_STRIPES;
            let picks: Vec<usize> = (0..2 * n)
                .map(|_| s.next_round_robin_on(stripe).unwrap())
                .collect();
            // The shuffled order, rotated to the stripe's offset, twice.
            let want: Vec<usize> = (0..2 * n).map(|i| order[(start + i) % n]).collect();
            assert_eq!(picks, want, "stripe {stripe}");
        }
        // Stripe numbers wrap.
        let next0 = order[0];
        assert_eq!(s.next_round_robin_on(RR_STRIPES), Some(next0));
        // A new version restarts every stripe at its offset.
        let s2 = EndpointSet::build(2, &c, 3);
        assert_eq!(s2.next_round_robin_on(0), Some(order[0]));
        assert_eq!(s2.next_round_robin_on(1), Some(order[n / RR_STRIPES]));
    }

    #[test]
    fn short_bursts_on_different_stripes_pick_different_endpoints() {
        let n = 64;
        let c: Vec<Candidate> = (0..n as u8).map(|i| cand(i, true, true, false)).collect();
        let s = EndpointSet::build(1, &c, 5);
        let mut seen = std::collections::HashSet::new();
        for stripe in 0..RR_STRIPES {
            for _ in 0..n / RR_STRIPES {
                assert!(seen.insert(s.next_round_robin_on(stripe).unwrap()));
            }
        }
        assert_eq!(seen.len(), n);
    }

    #[test]
    fn each_thread_keeps_its_stripe() {
        let a = thread_stripe();
        assert!(a < RR_STRIPES);
        assert_eq!(thread_stripe(), a);
        let b = std::thread::spawn(thread_stripe).join().unwrap();
        assert!(b < RR_STRIPES);
    }

    #[test]
    fn key_round_trips() {
        let k = endpoint_key(Ipv4Addr::new(10, 244, 1, 7), 8080);
        assert_eq!(key_addr(k), "10.244.1.7:8080".parse().unwrap());
    }
}
