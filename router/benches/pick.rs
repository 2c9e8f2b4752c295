//! Criterion benches for the router (issue 5), baselines in the same run:
//!
//! - `pick/<algo>/<n>/<t>t`: one balancer pick over `n` ready endpoints, on `t` threads
//!   (each thread picks from the same endpoint set; the figure is per thread: one
//!   criterion iteration = one pick on every thread);
//! - `route/hash` vs `route/iptables-scan`: a full route (index lookup, port, pick)
//!   among 1,000 ClusterIP services — hash dispatch vs iptables' linear
//!   `KUBE-SERVICES` scan;
//! - `affinity/{hit,hit-refresh,miss}/{sharded,mutex-hashmap}/…/<t>t`: the ClientIP
//!   affinity table vs a `Mutex<HashMap>` baseline, with the same clients on the same
//!   threads (`hit`: the virtual time stands still within a sample, so a hit writes
//!   nothing; `hit-refresh`: it advances 1 ms per lookup, so every hit refreshes its
//!   entry's last-used time);
//! - `update/incremental` vs `update/rebuild-all`: the table update after one endpoint
//!   changes in a 1,000-endpoint service (10 slices) among 100 services.
//!
//! Run: `cargo bench -p kubesim-router --bench pick`.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kubesim_core::manifest;
use kubesim_core::store::{WatchEvent, WatchEventType};
use kubesim_core::time::Timestamp;
use kubesim_router::affinity::{AffinityKey, AffinityTable};
use kubesim_router::balance::{Algorithm, Balancer, PickContext, RoundRobin};
use kubesim_router::endpoints::{Backend, Candidate, EndpointSet};
use kubesim_router::{Destination, Router};
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::SeedableRng;

fn set_of(n: usize) -> EndpointSet {
    let c: Vec<Candidate> = (0..n)
        .map(|i| Candidate {
            backend: Backend {
                ip: Ipv4Addr::from(0x0af4_0000 + i as u32),
                port: 8080,
                pod: None,
                node: None,
            },
            ready: true,
            serving: true,
            terminating: false,
        })
        .collect();
    EndpointSet::build(1, &c, 42)
}

/// Runs `f(thread, iters)` on `threads` threads started together; the wall time.
fn parallel(threads: usize, iters: u64, f: impl Fn(usize, u64) + Sync) -> Duration {
    if threads == 1 {
        let t = Instant::now();
        f(0, iters);
        return t.elapsed();
    }
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (barrier, f) = (&barrier, &f);
            s.spawn(move || {
                barrier.wait();
                f(t, iters);
            });
        }
        barrier.wait();
        let start = Instant::now();
        // The scope joins the threads before returning.
        start
    })
    .elapsed()
}

fn bench_pick(c: &mut Criterion) {
    let mut g = c.benchmark_group("pick");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_millis(800));
    g.sample_size(15);
    for algo in Algorithm::ALL {
        for n in [10usize, 100, 1_000, 10_000] {
            let set = set_of(n);
            let balancer = algo.build();
            // Load-aware algorithms get feedback for every endpoint first.
            for b in set.backends() {
                balancer.opened(b.key(), Timestamp(0));
                balancer.closed(b.key(), Duration::from_millis(5), Timestamp(0));
            }
            for threads in [1usize, 2] {
                g.bench_function(format!("{algo}/{n}/{threads}t"), |b| {
                    b.iter_custom(|iters| {
                        parallel(threads, iters, |t, iters| {
                            let mut rng = SmallRng::seed_from_u64(t as u64);
                            for i in 0..iters {
                                let ctx = PickContext {
                                    set: &set,
                                    service_id: 1,
                                    port_index: 0,
                                    client: SocketAddrV4::new(
                                        Ipv4Addr::from(((t as u32) << 24) | (i as u32 & 0xFFFF)),
                                        (i >> 16) as u16,
                                    ),
                                    now: Timestamp(0),
                                };
                                black_box(balancer.pick(black_box(&ctx), &mut rng));
                            }
                        })
                    })
                });
            }
        }
    }
    g.finish();
}

fn yaml_service(i: usize, affinity: bool) -> String {
    let aff = if affinity {
        "sessionAffinity: ClientIP, "
    } else {
        ""
    };
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}}}\n\
         spec: {{clusterIP: 10.96.{}.{}, {aff}selector: {{app: svc-{i}}}, ports: [{{name: http, port: 80}}]}}\n",
        i / 250,
        i % 250 + 1
    )
}

fn yaml_slice(svc: usize, slice: usize, n: usize, offset: u32) -> String {
    let mut y = format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata: {{name: svc-{svc}-{slice}, labels: {{kubernetes.io/service-name: svc-{svc}}}}}\n\
         addressType: IPv4\nports: [{{name: http, port: 8080, protocol: TCP}}]\nendpoints:\n"
    );
    for e in 0..n {
        let ip = Ipv4Addr::from(
            0x0a00_0000 + ((svc as u32) << 14) + (slice as u32) * 128 + e as u32 + offset,
        );
        y.push_str(&format!(
            "- addresses: [{ip}]\n  conditions: {{ready: true}}\n"
        ));
    }
    y
}

fn added(yaml: &str, rv: &mut u64) -> WatchEvent {
    let mut obj = manifest::load_str(yaml, "bench.yaml")
        .unwrap()
        .pop()
        .unwrap();
    obj.meta_mut().namespace = kubesim_core::intern::Str::new("default");
    *rv += 1;
    obj.meta_mut().resource_version = *rv;
    WatchEvent {
        type_: WatchEventType::Added,
        resource_version: *rv,
        object: Arc::new(obj),
    }
}

/// A router with `services` services; service 0 has `big` endpoints in slices of 100,
/// the others `small` endpoints each.
fn router_with(services: usize, big: usize, small: usize) -> Router {
    let router = Router::default();
    let mut rv = 0;
    let mut events = Vec::new();
    for i in 0..services {
        events.push(added(&yaml_service(i, false), &mut rv));
        let n = if i == 0 { big } else { small };
        for s in 0..n.div_ceil(100) {
            events.push(added(&yaml_slice(i, s, (n - s * 100).min(100), 0), &mut rv));
        }
    }
    router.apply_events(&events);
    router
}

fn bench_route(c: &mut Criterion) {
    let mut g = c.benchmark_group("route");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(1));
    g.sample_size(15);
    let router = router_with(1_000, 10, 10);
    let dests: Vec<Destination> = (0..1_000)
        .map(|i| {
            Destination::tcp(
                Ipv4Addr::new(10, 96, (i / 250) as u8, (i % 250 + 1) as u8),
                80,
            )
        })
        .collect();
    for (name, balancer) in [
        ("hash", Algorithm::RoundRobin.build()),
        ("iptables-scan", Algorithm::Iptables.build()),
    ] {
        g.bench_function(format!("{name}/1000-services"), |b| {
            let mut rng = SmallRng::seed_from_u64(1);
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 1) % dests.len();
                let client = SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 1), 1000);
                black_box(
                    router
                        .route(&dests[i], client, Timestamp(0), balancer.as_ref(), &mut rng)
                        .unwrap(),
                )
            })
        });
    }
    g.finish();
}

/// The baseline affinity table: one `Mutex<HashMap>`.
struct MutexAffinity {
    map: Mutex<HashMap<u64, (u64, i64, i64)>>,
}

impl MutexAffinity {
    fn lookup(&self, key: u64, set: &EndpointSet, now: i64) -> Option<usize> {
        let mut m = self.map.lock();
        let e = m.get_mut(&key)?;
        if now - e.1 >= e.2 {
            return None;
        }
        let p = set.position(e.0)?;
        e.1 = now;
        Some(p)
    }
    fn insert(&self, key: u64, ep: u64, now: i64, ttl: i64) {
        self.map.lock().insert(key, (ep, now, ttl));
    }
}

const HOT_CLIENTS: u32 = 1 << 10;
const BIG_CLIENTS: u32 = 1 << 16;

fn bench_affinity(c: &mut Criterion) {
    let mut g = c.benchmark_group("affinity");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(1));
    g.sample_size(15);
    let set = set_of(100);
    let ttl = Duration::from_secs(10_800);
    let ttl_ms = ttl.as_millis() as i64;
    let sharded = AffinityTable::new();
    let mutex = MutexAffinity {
        map: Mutex::new(HashMap::new()),
    };
    for t in 0..2u32 {
        for i in 0..BIG_CLIENTS {
            let ip = Ipv4Addr::from((t << 24) | i);
            let ep = set.backends()[(i % 100) as usize].key();
            sharded.insert(AffinityKey::new(1, 0, ip), ep, Timestamp(0), ttl);
            mutex.insert(u64::from(u32::from(ip)), ep, 0, ttl_ms);
        }
    }
    let now = AtomicI64::new(1);
    for threads in [1usize, 2] {
        // Hit, with a hot set of 1,024 clients per thread (cache-resident) and of 65,536
        // (the tables no longer fit in cache: memory latency dominates both).
        for clients in [HOT_CLIENTS, BIG_CLIENTS] {
            g.bench_function(format!("hit/sharded/{clients}-clients/{threads}t"), |b| {
                b.iter_custom(|iters| {
                    let t0 = now.fetch_add(1, Ordering::Relaxed);
                    parallel(threads, iters, |t, iters| {
                        for i in 0..iters {
                            let ip = Ipv4Addr::from(((t as u32) << 24) | (i as u32 % clients));
                            let k = AffinityKey::new(1, 0, ip);
                            black_box(sharded.lookup(k, &set, Timestamp(t0)));
                        }
                    })
                })
            });
            g.bench_function(
                format!("hit/mutex-hashmap/{clients}-clients/{threads}t"),
                |b| {
                    b.iter_custom(|iters| {
                        let t0 = now.fetch_add(1, Ordering::Relaxed);
                        parallel(threads, iters, |t, iters| {
                            for i in 0..iters {
                                let ip = ((t as u32) << 24) | (i as u32 % clients);
                                black_box(mutex.lookup(u64::from(ip), &set, t0));
                            }
                        })
                    })
                },
            );
        }
        // Hit with a refresh: virtual time advances 1 ms per lookup, so every hit also
        // writes its entry's last-used time (both tables; same clients and threads).
        g.bench_function(
            format!("hit-refresh/sharded/{HOT_CLIENTS}-clients/{threads}t"),
            |b| {
                b.iter_custom(|iters| {
                    let t0 = now.fetch_add(iters as i64, Ordering::Relaxed);
                    parallel(threads, iters, |t, iters| {
                        for i in 0..iters {
                            let ip = Ipv4Addr::from(((t as u32) << 24) | (i as u32 % HOT_CLIENTS));
                            let k = AffinityKey::new(1, 0, ip);
                            black_box(sharded.lookup(k, &set, Timestamp(t0 + i as i64)));
                        }
                    })
                })
            },
        );
        g.bench_function(
            format!("hit-refresh/mutex-hashmap/{HOT_CLIENTS}-clients/{threads}t"),
            |b| {
                b.iter_custom(|iters| {
                    let t0 = now.fetch_add(iters as i64, Ordering::Relaxed);
                    parallel(threads, iters, |t, iters| {
                        for i in 0..iters {
                            let ip = ((t as u32) << 24) | (i as u32 % HOT_CLIENTS);
                            black_box(mutex.lookup(u64::from(ip), &set, t0 + i as i64));
                        }
                    })
                })
            },
        );
        // Miss: an unknown client — lookup, round-robin pick, insert.
        g.bench_function(format!("miss/sharded/{threads}t"), |b| {
            let table = AffinityTable::new();
            b.iter_custom(|iters| {
                let t0 = now.fetch_add(1, Ordering::Relaxed);
                parallel(threads, iters, |t, iters| {
                    let mut rng = SmallRng::seed_from_u64(t as u64);
                    for i in 0..iters {
                        let ip =
                            Ipv4Addr::from((((t as u32) | 0x10) << 24) | (i as u32 & 0xFF_FFFF));
                        let k = AffinityKey::new(2, 0, ip);
                        // Expired entries from earlier samples count as misses.
                        if table.lookup(k, &set, Timestamp(t0 + ttl_ms)).is_none() {
                            let ctx = PickContext {
                                set: &set,
                                service_id: 2,
                                port_index: 0,
                                client: SocketAddrV4::new(ip, 1),
                                now: Timestamp(t0),
                            };
                            let p = RoundRobin.pick(&ctx, &mut rng).unwrap();
                            table.insert(k, set.backends()[p].key(), Timestamp(t0), ttl);
                        }
                    }
                })
            })
        });
        g.bench_function(format!("miss/mutex-hashmap/{threads}t"), |b| {
            let table = MutexAffinity {
                map: Mutex::new(HashMap::new()),
            };
            b.iter_custom(|iters| {
                let t0 = now.fetch_add(1, Ordering::Relaxed);
                parallel(threads, iters, |t, iters| {
                    let mut rng = SmallRng::seed_from_u64(t as u64);
                    for i in 0..iters {
                        let key = (2u64 << 40)
                            | u64::from((((t as u32) | 0x10) << 24) | (i as u32 & 0xFF_FFFF));
                        if table.lookup(key, &set, t0 + ttl_ms).is_none() {
                            let ctx = PickContext {
                                set: &set,
                                service_id: 2,
                                port_index: 0,
                                client: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1),
                                now: Timestamp(t0),
                            };
                            let p = RoundRobin.pick(&ctx, &mut rng).unwrap();
                            table.insert(key, set.backends()[p].key(), t0, ttl_ms);
                        }
                    }
                })
            })
        });
    }
    g.finish();
}

fn bench_update(c: &mut Criterion) {
    let mut g = c.benchmark_group("update");
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(20);
    let router = router_with(100, 1_000, 10);
    // Two versions of service 0's first slice: endpoint 0 swapped for a new address.
    let mut rv = 1_000_000;
    let mut a = added(&yaml_slice(0, 0, 100, 0), &mut rv);
    let mut b = added(
        &yaml_slice(0, 0, 100, 0).replacen(
            "conditions: {ready: true}",
            "conditions: {ready: false}",
            1,
        ),
        &mut rv,
    );
    a.type_ = WatchEventType::Modified;
    b.type_ = WatchEventType::Modified;
    let events = [a, b];
    let mut flip = 0usize;
    g.bench_function("incremental/1-endpoint-of-1000", |bch| {
        bch.iter(|| {
            flip ^= 1;
            black_box(router.apply_events(std::slice::from_ref(&events[flip])))
        })
    });
    g.bench_function("rebuild-all/1-endpoint-of-1000", |bch| {
        bch.iter(|| {
            flip ^= 1;
            router.apply_events(std::slice::from_ref(&events[flip]));
            black_box(router.rebuild_all())
        })
    });
    g.finish();
    // Sanity: the flips really change the table.
    let st = router.service("default", "svc-0").unwrap();
    assert!(st.ports[0].endpoints.len() >= 999);
}

criterion_group!(
    benches,
    bench_pick,
    bench_route,
    bench_affinity,
    bench_update
);
criterion_main!(benches);
