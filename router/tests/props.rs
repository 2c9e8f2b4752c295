//! Property tests: routing safety under random table churn, affinity stickiness,
//! the affinity table against a plain map model, Maglev disruption, round-robin
//! fairness.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use kubesim_core::manifest;
use kubesim_core::model::Kind;
use kubesim_core::store::{DeleteOptions, Store};
use kubesim_core::time::Timestamp;
use kubesim_router::affinity::{AffinityKey, AffinityTable, SHARDS};
use kubesim_router::balance::{
    Algorithm, MaglevTable, PickContext, RoundRobin, MAGLEV_DEFAULT_SIZE,
};
use kubesim_router::endpoints::{Backend, Candidate, EndpointSet};
use kubesim_router::{Destination, RouteError, Router};
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::SeedableRng;

/// Endpoint conditions: 0 ready, 1 not ready, 2 serving+terminating, 3 terminating.
const CONDS: [&str; 4] = [
    "{ready: true, serving: true, terminating: false}",
    "{ready: false, serving: false, terminating: false}",
    "{ready: false, serving: true, terminating: true}",
    "{ready: false, serving: false, terminating: true}",
];

#[derive(Clone, Debug)]
enum Op {
    /// Write slice `i` with these (endpoint number, condition) pairs.
    SetSlice(u8, Vec<(u8, u8)>),
    DeleteSlice(u8),
    /// A connection from client `c` after `dt` ms, with algorithm `a`.
    Pick {
        c: u8,
        dt: u16,
        a: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..3u8, prop::collection::vec((0..12u8, 0..4u8), 0..8))
            .prop_map(|(i, e)| Op::SetSlice(i, e)),
        1 => (0..3u8).prop_map(Op::DeleteSlice),
        6 => (0..6u8, 0..20_000u16, 0..8u8).prop_map(|(c, dt, a)| Op::Pick { c, dt, a }),
    ]
}

fn service_yaml(affinity: bool) -> String {
    let aff = if affinity {
        "sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 30}}, "
    } else {
        ""
    };
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\n\
         spec: {{clusterIP: 10.96.0.10, {aff}selector: {{app: web}}, ports: [{{name: http, port: 80}}]}}\n"
    )
}

fn ep_ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 244, 0, n + 1)
}

fn write_slice(store: &Store, i: u8, eps: &[(u8, u8)]) {
    let mut y = format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata: {{name: web-{i}, labels: {{kubernetes.io/service-name: web}}}}\n\
         addressType: IPv4\nports: [{{name: http, port: 8080, protocol: TCP}}]\n"
    );
    if eps.is_empty() {
        y.push_str("endpoints: []\n");
    } else {
        y.push_str("endpoints:\n");
        for (n, c) in eps {
            y.push_str(&format!(
                "- addresses: [{}]\n  conditions: {}\n",
                ep_ip(*n),
                CONDS[*c as usize]
            ));
        }
    }
    let obj = manifest::load_str(&y, "slice.yaml").unwrap().pop().unwrap();
    match store.try_get(Kind::EndpointSlice, "default", obj.name()) {
        Some(old) => {
            let mut obj = obj;
            obj.meta_mut().resource_version = old.meta().resource_version;
            store.update(obj).unwrap();
        }
        None => {
            store.create(obj).unwrap();
        }
    }
}

/// The model: the selected endpoint IPs given the live slices.
fn selected(slices: &BTreeMap<u8, Vec<(u8, u8)>>) -> BTreeSet<Ipv4Addr> {
    selected_mode(slices).0
}

/// The selected endpoint IPs and whether they are the serving+terminating fallback.
fn selected_mode(slices: &BTreeMap<u8, Vec<(u8, u8)>>) -> (BTreeSet<Ipv4Addr>, bool) {
    let all: Vec<(u8, u8)> = slices.values().flatten().copied().collect();
    let ready: BTreeSet<Ipv4Addr> = all
        .iter()
        .filter(|e| e.1 == 0)
        .map(|e| ep_ip(e.0))
        .collect();
    if !ready.is_empty() {
        return (ready, false);
    }
    let term: BTreeSet<Ipv4Addr> = all
        .iter()
        .filter(|e| e.1 == 2)
        .map(|e| ep_ip(e.0))
        .collect();
    let fallback = !term.is_empty();
    (term, fallback)
}

/// Upstream drops an affinity entry at once when its endpoint leaves the selected set
/// or stops being ready (a switch to or from the fallback), even if it comes back.
fn drop_gone(
    pinned: &mut BTreeMap<u8, (SocketAddrV4, i64)>,
    before: &(BTreeSet<Ipv4Addr>, bool),
    after: &(BTreeSet<Ipv4Addr>, bool),
) {
    pinned.retain(|_, (ep, _)| {
        before.1 == after.1 && before.0.contains(ep.ip()) && after.0.contains(ep.ip())
    });
}

fn run_churn(ops: Vec<Op>, affinity: bool) -> Result<(), TestCaseError> {
    let store = Store::new();
    for obj in manifest::load_str(&service_yaml(affinity), "svc.yaml").unwrap() {
        store.create(obj).unwrap();
    }
    let router = Router::default();
    router.sync(&store).unwrap();
    let balancers: Vec<Box<dyn kubesim_router::Balancer>> =
        Algorithm::ALL.iter().map(|a| a.build()).collect();
    let mut rng = SmallRng::seed_from_u64(5);
    let mut slices: BTreeMap<u8, Vec<(u8, u8)>> = BTreeMap::new();
    // Affinity model: client → (endpoint, last used).
    let mut pinned: BTreeMap<u8, (SocketAddrV4, i64)> = BTreeMap::new();
    let mut now = 0i64;
    let dest = Destination::tcp(Ipv4Addr::new(10, 96, 0, 10), 80);
    for op in ops {
        match op {
            Op::SetSlice(i, eps) => {
                let before = selected_mode(&slices);
                write_slice(&store, i, &eps);
                slices.insert(i, eps);
                router.sync(&store).unwrap();
                drop_gone(&mut pinned, &before, &selected_mode(&slices));
            }
            Op::DeleteSlice(i) => {
                let before = selected_mode(&slices);
                if slices.remove(&i).is_some() {
                    store
                        .delete(
                            Kind::EndpointSlice,
                            "default",
                            &format!("web-{i}"),
                            &DeleteOptions::default(),
                        )
                        .unwrap();
                    router.sync(&store).unwrap();
                    drop_gone(&mut pinned, &before, &selected_mode(&slices));
                }
            }
            Op::Pick { c, dt, a } => {
                now += i64::from(dt);
                let b = &balancers[a as usize];
                let client = SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, c), 40000 + u16::from(c));
                let want = selected(&slices);
                let got = router.route(&dest, client, Timestamp(now), b.as_ref(), &mut rng);
                match got {
                    Err(RouteError::NoEndpoints { .. }) => {
                        prop_assert!(want.is_empty(), "NoEndpoints with {want:?}");
                        continue;
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
                    Ok(r) => {
                        prop_assert!(
                            want.contains(r.endpoint.ip()),
                            "{} not in {want:?}",
                            r.endpoint
                        );
                        prop_assert_eq!(r.endpoint.port(), 8080);
                        if affinity {
                            match pinned.get(&c) {
                                Some(&(ep, last))
                                    if want.contains(ep.ip()) && now - last < 30_000 =>
                                {
                                    prop_assert!(r.affinity_hit, "should stick to {ep}");
                                    prop_assert_eq!(r.endpoint, ep);
                                }
                                Some(&(ep, _)) => {
                                    prop_assert!(!r.affinity_hit);
                                    if !want.contains(ep.ip()) {
                                        prop_assert_ne!(r.endpoint, ep);
                                    }
                                }
                                None => prop_assert!(!r.affinity_hit),
                            }
                            pinned.insert(c, (r.endpoint, now));
                        } else {
                            prop_assert!(!r.affinity_hit);
                        }
                    }
                }
                // Interleave incremental sweeping; it must never change an answer.
                router.sweep_affinity(Timestamp(now), 4);
            }
        }
    }
    Ok(())
}

/// Round-robin picks per endpoint of two threads that start together and pick
/// `picks` times each.
fn two_thread_round_robin(set: &Arc<EndpointSet>, picks: usize) -> Vec<usize> {
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (set, barrier) = (set.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut local = vec![0usize; set.len()];
                barrier.wait();
                for _ in 0..picks {
                    local[set.next_round_robin().unwrap()] += 1;
                }
                local
            })
        })
        .collect();
    let mut total = vec![0usize; set.len()];
    for h in handles {
        for (t, l) in total.iter_mut().zip(h.join().unwrap()) {
            *t += l;
        }
    }
    total
}

fn set_of(n: usize, seed: u64) -> EndpointSet {
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
    EndpointSet::build(1, &c, seed)
}

/// An operation on the affinity table model test.
#[derive(Clone, Debug)]
enum AffOp {
    /// Client `c` of service `svc` connects after `dt` ms (lookup; on a miss, pick the
    /// `pick`-th backend and insert).
    Connect { svc: u8, c: u8, dt: u16, pick: u8 },
    /// Client `c` of service `svc` looks up after `dt` ms and, on a miss, goes away
    /// (a voided entry it meets is removed, not overwritten).
    Peek { svc: u8, c: u8, dt: u16 },
    /// The endpoint set changes to version `v` after `dt` ms.
    Flip { v: u8, dt: u16 },
    /// A sweep of every shard after `dt` ms.
    Sweep { dt: u16 },
}

fn aff_op() -> impl Strategy<Value = AffOp> {
    prop_oneof![
        6 => (1u8..3, any::<u8>(), 0u16..4_000, any::<u8>())
            .prop_map(|(svc, c, dt, pick)| AffOp::Connect { svc, c: c % 40, dt, pick }),
        2 => (1u8..3, any::<u8>(), 0u16..4_000)
            .prop_map(|(svc, c, dt)| AffOp::Peek { svc, c: c % 40, dt }),
        1 => (0u8..3, 0u16..100).prop_map(|(v, dt)| AffOp::Flip { v, dt }),
        1 => (0u16..4_000).prop_map(|dt| AffOp::Sweep { dt }),
    ]
}

/// The candidates of three versions of one port's endpoints (overlapping address
/// ranges, different orders).
fn aff_candidates() -> Vec<Vec<Candidate>> {
    [(0u32, 6u32), (3, 9), (5, 7)]
        .iter()
        .map(|&(lo, hi)| {
            let c: Vec<Candidate> = (lo..hi)
                .rev()
                .map(|i| Candidate {
                    backend: Backend {
                        ip: Ipv4Addr::from(0x0a00_0000 + i),
                        port: 80,
                        pod: None,
                        node: None,
                    },
                    ready: true,
                    serving: true,
                    terminating: false,
                })
                .collect();
            c
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The sharded affinity table answers exactly like a plain map holding
    /// (endpoint, last use, void) per key: a hit while the entry is fresh and its
    /// endpoint has been in every set version since the entry was made (refreshing it),
    /// a miss otherwise, which removes a fresh but voided entry; a full sweep drops
    /// expired entries and voided ones (endpoint not in the current set, or back after
    /// leaving). The table holds exactly the model's entries throughout.
    #[test]
    fn affinity_table_matches_a_map_model(ops in prop::collection::vec(aff_op(), 1..300)) {
        let cands = aff_candidates();
        let mut gen = 1u64;
        let mut set = EndpointSet::build(gen, &cands[0], 0);
        let timeout = std::time::Duration::from_secs(5);
        let t = AffinityTable::new();
        // key → (endpoint, last use, void: its endpoint left a version since).
        let mut model: std::collections::HashMap<AffinityKey, (u64, i64, bool)> =
            Default::default();
        let mut now = 0i64;
        for op in ops {
            match op {
                AffOp::Connect { svc, c, dt, pick } => {
                    now += i64::from(dt);
                    let set = &set;
                    let k = AffinityKey::new(u32::from(svc), 0, Ipv4Addr::new(10, 1, 0, c));
                    let want = model.get_mut(&k).and_then(|(ep, last, void)| {
                        let pos = set.position(*ep)?;
                        (!*void && now - *last < 5_000).then(|| {
                            *last = (*last).max(now);
                            pos
                        })
                    });
                    let got = t.lookup(k, set, Timestamp(now));
                    prop_assert_eq!(got, want, "{:?} at {}", k, now);
                    if got.is_none() {
                        let i = usize::from(pick) % set.len();
                        t.insert_at(k, set, i, Timestamp(now), timeout);
                        model.insert(k, (set.backends()[i].key(), now, false));
                    }
                }
                AffOp::Peek { svc, c, dt } => {
                    now += i64::from(dt);
                    let set = &set;
                    let k = AffinityKey::new(u32::from(svc), 0, Ipv4Addr::new(10, 1, 0, c));
                    let mut want = None;
                    if let Some(&(ep, last, void)) = model.get(&k) {
                        if now - last < 5_000 {
                            if void {
                                model.remove(&k);
                            } else {
                                want = set.position(ep);
                                model.insert(k, (ep, now.max(last), false));
                            }
                        }
                    }
                    let got = t.lookup(k, set, Timestamp(now));
                    prop_assert_eq!(got, want, "{:?} at {}", k, now);
                    prop_assert_eq!(t.len(), model.len());
                }
                AffOp::Flip { v: nv, dt } => {
                    now += i64::from(dt);
                    gen += 1;
                    let next = EndpointSet::build_after(gen, &cands[usize::from(nv)], gen, Some(&set));
                    for (ep, _, void) in model.values_mut() {
                        *void |= !next.contains(*ep);
                    }
                    set = next;
                }
                AffOp::Sweep { dt } => {
                    now += i64::from(dt);
                    let set = &set;
                    let r = t.sweep(Timestamp(now), SHARDS, |_, ep, born| set.holds(ep, born));
                    let before = model.len();
                    model.retain(|_, (_, last, void)| now - *last < 5_000 && !*void);
                    prop_assert_eq!(r.expired + r.stale, before - model.len());
                    prop_assert_eq!(t.len(), model.len());
                }
            }
        }
        for (k, (ep, last, _)) in &model {
            prop_assert_eq!(t.get(*k), Some((*ep, Timestamp(*last))));
        }
    }

    /// Never routes to an endpoint that is not selected in the current table, for every
    /// algorithm, under random slice writes and deletes interleaved with picks; no
    /// endpoints at all is the explicit error.
    #[test]
    fn never_routes_outside_the_current_table(ops in prop::collection::vec(op(), 1..60)) {
        run_churn(ops, false)?;
    }

    /// ClientIP affinity sticks while its endpoint is selected and within the timeout
    /// (refreshed on use), and moves otherwise.
    #[test]
    fn affinity_sticks_while_alive_and_fresh(ops in prop::collection::vec(op(), 1..60)) {
        run_churn(ops, true)?;
    }

    /// Removing one of N backends moves the removed backend's slots (≈1/N of the table)
    /// and only a small extra share of the others.
    #[test]
    fn maglev_disruption_on_one_removal_is_near_one_over_n(n in 5usize..60, victim_seed in any::<u64>(), base in any::<u32>()) {
        let names: Vec<String> = (0..n).map(|i| format!("10.{}.{}.{}:8080", base % 200, i / 250, i % 250)).collect();
        let victim = (victim_seed % n as u64) as usize;
        let before = MaglevTable::build(&names, MAGLEV_DEFAULT_SIZE);
        let mut rest = names.clone();
        rest.remove(victim);
        let after = MaglevTable::build(&rest, MAGLEV_DEFAULT_SIZE);
        let m = before.entries().len() as f64;
        let (mut lost, mut moved) = (0usize, 0usize);
        for (b, a) in before.entries().iter().zip(after.entries()) {
            let b = *b as usize;
            if b == victim {
                lost += 1;
                continue;
            }
            let a = *a as usize;
            let a_orig = if a >= victim { a + 1 } else { a };
            if a_orig != b {
                moved += 1;
            }
        }
        let lost_f = lost as f64 / m;
        let moved_f = moved as f64 / m;
        prop_assert!((lost_f - 1.0 / n as f64).abs() < 0.002, "lost {lost_f} vs 1/N");
        // Extra disruption of surviving backends' slots: bounded by 1/N itself (the
        // Maglev paper reports well under that for M ≫ N).
        prop_assert!(moved_f <= 1.0 / n as f64, "moved {moved_f} for N={n}");
    }

    /// Concurrent round-robin keeps shares even after any number of picks: two threads
    /// picking `picks` times each from one set (each on its own cursor stripe, or both
    /// on one), every endpoint's count is within 2 of every other's and the total is
    /// exact — each stripe hands out whole cycles plus at most one partial one.
    #[test]
    fn round_robin_shares_stay_even_on_two_threads(
        n in 1usize..300,
        picks in 1usize..3000,
        seed in any::<u64>(),
    ) {
        let set = Arc::new(set_of(n, seed));
        let total = two_thread_round_robin(&set, picks);
        let (min, max) = (*total.iter().min().unwrap(), *total.iter().max().unwrap());
        prop_assert_eq!(total.iter().sum::<usize>(), 2 * picks);
        prop_assert!(max - min <= 2, "min {min} max {max} over {n} endpoints: {total:?}");
    }

    /// Round-robin is exactly fair over full cycles, single-threaded and split across
    /// two threads.
    #[test]
    fn round_robin_is_exactly_fair(n in 1usize..300, cycles in 1usize..5, seed in any::<u64>()) {
        let set = Arc::new(set_of(n, seed));
        let mut counts = vec![0usize; n];
        let mut rng = SmallRng::seed_from_u64(seed);
        let ctx = PickContext {
            set: &set,
            service_id: 1,
            port_index: 0,
            client: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1),
            now: Timestamp(0),
        };
        use kubesim_router::Balancer;
        for _ in 0..n * cycles {
            counts[RoundRobin.pick(&ctx, &mut rng).unwrap()] += 1;
        }
        prop_assert!(counts.iter().all(|&c| c == cycles), "{counts:?}");
        let total = two_thread_round_robin(&set, n * cycles);
        prop_assert!(total.iter().all(|&c| c == 2 * cycles), "{total:?}");
    }
}
