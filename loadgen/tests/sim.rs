//! The traffic simulation against the synthetic service: coordinated-omission
//! correction, closed-loop throughput, load-aware balancers, affinity, errors.

use std::time::Duration;

use kubesim_loadgen::{
    run, ClientDist, Environment, LoadConfig, LoadReport, Mode, ServiceTime, Stall, Stop,
    SyntheticService,
};
use kubesim_router::Algorithm;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn check(endpoints: usize, affinity: bool, algo: Algorithm, cfg: &LoadConfig) -> LoadReport {
    let mut env = SyntheticService::new(endpoints, affinity, 7).unwrap();
    let b = algo.build();
    run(&mut env, b.as_ref(), cfg, &mut |_| {}).unwrap()
}

fn open(rate: f64, connections: Option<usize>) -> Mode {
    Mode::Open { rate, connections }
}

#[test]
fn open_loop_latency_counts_from_the_intended_time_through_a_stall() {
    // One endpoint, 0.1 ms per request, 1,000 req/s; the backend stalls for 500 ms at
    // t = 1 s. A wrk-like client with one connection waits out the stall and sends the
    // queued requests late; measured from the actual send only the one request caught
    // in the stall looks slow. From the intended time, every request scheduled during
    // the stall waits for its end: the latency grows with how early in the stall it was
    // scheduled.
    let cfg = LoadConfig {
        mode: open(1_000.0, Some(1)),
        stop: Stop::Duration(ms(3_000)),
        service_time: ServiceTime::Fixed(Duration::from_micros(100)),
        stall: Some(Stall {
            at: ms(1_000),
            duration: ms(500),
        }),
        ..LoadConfig::default()
    };
    let r = check(1, false, Algorithm::RoundRobin, &cfg);
    assert_eq!(r.requests, 3_000);
    assert_eq!(r.completed, 3_000);
    // 500 of 3,000 requests were scheduled in the stall: p90 and p99 land inside it.
    let c = &r.latency;
    assert!(c.max_us > 499_000.0 && c.max_us < 501_000.0, "{c:?}");
    assert!(c.p99_us > 450_000.0, "{c:?}");
    assert!(c.p90_us > 200_000.0, "{c:?}");
    assert!((c.p50_us - 100.0).abs() < 1.0, "{c:?}");
    // Uncorrected, the stall hides in the 99.9th percentile.
    let u = &r.latency_uncorrected;
    assert!(u.p99_us < 200.0, "{u:?}");
    assert!(u.max_us > 499_000.0, "{u:?}");

    // Without a connection limit the two agree (nothing is ever sent late).
    let cfg2 = LoadConfig {
        mode: open(1_000.0, None),
        ..cfg
    };
    let r2 = check(1, false, Algorithm::RoundRobin, &cfg2);
    assert_eq!(r2.latency, r2.latency_uncorrected);
    assert!(r2.latency.p99_us > 450_000.0);
}

#[test]
fn closed_loop_throughput_is_clients_over_service_time() {
    for clients in [1usize, 2, 4, 8] {
        let cfg = LoadConfig {
            mode: Mode::Closed {
                clients,
                think: Duration::ZERO,
            },
            stop: Stop::Requests(8_000),
            service_time: ServiceTime::Fixed(ms(2)),
            ..LoadConfig::default()
        };
        // Round-robin over 8 single-server endpoints: no client ever queues.
        let r = check(8, false, Algorithm::RoundRobin, &cfg);
        let want = clients as f64 / 0.002;
        assert!(
            (r.throughput_rps - want).abs() < want * 0.001,
            "{clients} clients: {} req/s, want {want}",
            r.throughput_rps
        );
        assert!((r.latency.max_us - 2_000.0).abs() < 2.0, "{:?}", r.latency);
    }
    // Think time lowers it to C / (service + think).
    let cfg = LoadConfig {
        mode: Mode::Closed {
            clients: 4,
            think: ms(2),
        },
        stop: Stop::Requests(4_000),
        service_time: ServiceTime::Fixed(ms(2)),
        ..LoadConfig::default()
    };
    let r = check(8, false, Algorithm::RoundRobin, &cfg);
    assert!(
        (r.throughput_rps - 1_000.0).abs() < 2.0,
        "{}",
        r.throughput_rps
    );
}

#[test]
fn every_algorithm_routes_without_errors_and_spreads_uniform_load() {
    let cfg = LoadConfig {
        mode: open(5_000.0, None),
        stop: Stop::Requests(20_000),
        service_time: ServiceTime::Exp(ms(1)),
        client_ips: 5_000,
        ..LoadConfig::default()
    };
    for algo in Algorithm::ALL {
        let r = check(10, false, algo, &cfg);
        assert_eq!(r.errors.total(), 0, "{algo}");
        assert_eq!(r.completed, 20_000, "{algo}");
        assert_eq!(r.endpoints.len(), 10, "{algo}");
        let shares: f64 = r.endpoints.iter().map(|e| e.share).sum();
        assert!((shares - 1.0).abs() < 1e-9);
        // ipvs-sh maps 256 buckets onto 10 endpoints (26 or 25 each) and Maglev hashes
        // flows: all near-even with many uniform clients. Least-connections is not:
        // the first endpoint with the fewest active connections wins, and at 5 % load
        // per endpoint that is mostly the first in the list.
        if algo == Algorithm::IpvsLc {
            assert!(r.imbalance > 1.25, "{algo}: imbalance {}", r.imbalance);
        } else {
            assert!(r.imbalance < 1.25, "{algo}: imbalance {}", r.imbalance);
        }
        assert!((r.throughput_rps - 5_000.0).abs() < 50.0, "{algo}");
    }
    // Round-robin is exact.
    let r = check(10, false, Algorithm::RoundRobin, &cfg);
    assert_eq!(r.imbalance, 1.0);
    assert_eq!(r.cv, 0.0);
}

#[test]
fn load_aware_balancers_avoid_the_slow_endpoint() {
    // One endpoint of ten takes 20 ms instead of 1 ms; at 2,000 req/s round-robin
    // sends it 200 req/s, far over its 50 req/s capacity, and its queue grows for the
    // whole run. p2c-ewma and least-connections steer around it.
    let cfg = LoadConfig {
        mode: open(2_000.0, None),
        stop: Stop::Duration(ms(5_000)),
        service_time: ServiceTime::SlowOne {
            normal: ms(1),
            slow: ms(20),
        },
        ..LoadConfig::default()
    };
    let rr = check(10, false, Algorithm::RoundRobin, &cfg);
    let p2c = check(10, false, Algorithm::P2cEwma, &cfg);
    let lc = check(10, false, Algorithm::IpvsLc, &cfg);
    let slow = "10.244.0.1:8080";
    let share = |r: &LoadReport| {
        r.endpoints
            .iter()
            .find(|e| e.endpoint == slow)
            .unwrap()
            .share
    };
    assert!((share(&rr) - 0.1).abs() < 1e-3, "{}", share(&rr));
    assert!(share(&p2c) < 0.03, "p2c share {}", share(&p2c));
    assert!(share(&lc) < 0.03, "lc share {}", share(&lc));
    assert!(rr.latency.p99_us > 1_000_000.0, "{:?}", rr.latency);
    assert!(p2c.latency.p99_us < 100_000.0, "{:?}", p2c.latency);
    assert!(lc.latency.p99_us < 100_000.0, "{:?}", lc.latency);
}

#[test]
fn client_ip_affinity_is_sticky_and_zipf_makes_it_uneven() {
    let cfg = LoadConfig {
        mode: open(2_000.0, None),
        stop: Stop::Requests(20_000),
        client_dist: ClientDist::Zipf(1.2),
        client_ips: 1_000,
        service_time: ServiceTime::Fixed(Duration::from_micros(100)),
        ..LoadConfig::default()
    };
    let sticky = check(10, true, Algorithm::RoundRobin, &cfg);
    assert_eq!(sticky.stickiness, 1.0);
    // Every request of a client seen before is an affinity hit.
    let distinct = sticky.requests - sticky.affinity_hits;
    assert!(distinct <= 1_000, "{distinct}");
    // The hottest client alone sends ~1/H(1000,1.2) ≈ 21 % of the traffic to one pod.
    assert!(sticky.imbalance > 1.8, "{}", sticky.imbalance);
    let plain = check(10, false, Algorithm::RoundRobin, &cfg);
    assert_eq!(plain.imbalance, 1.0);
    assert!(plain.stickiness < 0.2, "{}", plain.stickiness);
    assert_eq!(plain.affinity_hits, 0);
    // ipvs-sh is sticky by construction.
    let sh = check(10, false, Algorithm::IpvsSh, &cfg);
    assert_eq!(sh.stickiness, 1.0);
}

#[test]
fn runs_are_deterministic() {
    let cfg = LoadConfig {
        mode: open(3_000.0, None),
        stop: Stop::Requests(5_000),
        service_time: ServiceTime::Exp(ms(1)),
        client_dist: ClientDist::Zipf(1.0),
        ..LoadConfig::default()
    };
    for algo in [Algorithm::Random, Algorithm::P2cEwma, Algorithm::Maglev] {
        assert_eq!(
            check(10, false, algo, &cfg),
            check(10, false, algo, &cfg),
            "{algo}"
        );
    }
}

/// An environment whose only endpoint goes away at 1 s and comes back at 2 s, and
/// which lies about readiness after 2.5 s: the loadgen must count both errors.
struct Flaky {
    inner: SyntheticService,
    now: kubesim_core::time::Timestamp,
    empty: SyntheticService,
}

impl Environment for Flaky {
    fn router(&self) -> &kubesim_router::Router {
        if (1_000..2_000).contains(&self.now.0) {
            self.empty.router()
        } else {
            self.inner.router()
        }
    }
    fn destination(&self) -> kubesim_router::Destination {
        // A port no Service listens on while "empty" (its router has another port).
        self.inner.destination()
    }
    fn start(&self) -> kubesim_core::time::Timestamp {
        kubesim_core::time::Timestamp(0)
    }
    fn advance_to(&mut self, now: kubesim_core::time::Timestamp) {
        assert!(now >= self.now, "time never goes back");
        self.now = now;
    }
    fn is_ready(&self, _: std::net::SocketAddrV4) -> bool {
        self.now.0 < 2_500
    }
    fn phase(&self) -> &'static str {
        if self.now.0 < 1_000 {
            "before"
        } else {
            "after"
        }
    }
}

#[test]
fn missing_and_not_ready_endpoints_are_errors_per_phase() {
    let mut env = Flaky {
        inner: SyntheticService::new(1, false, 1).unwrap(),
        now: kubesim_core::time::Timestamp(0),
        // A router with no Service at all: every route fails.
        empty: {
            let s = SyntheticService::new(1, false, 1).unwrap();
            s.router()
                .resync_full(&kubesim_core::store::Store::new())
                .unwrap();
            s
        },
    };
    let cfg = LoadConfig {
        mode: open(1_000.0, None),
        stop: Stop::Duration(ms(3_000)),
        service_time: ServiceTime::Fixed(Duration::from_micros(10)),
        ..LoadConfig::default()
    };
    let b = Algorithm::RoundRobin.build();
    let r = run(&mut env, b.as_ref(), &cfg, &mut |_| {}).unwrap();
    assert_eq!(r.requests, 3_000);
    assert_eq!(r.errors.no_endpoint, 1_000);
    assert_eq!(r.errors.not_ready, 500);
    assert_eq!(r.completed, 2_000);
    let before = r.phase("before").unwrap();
    let after = r.phase("after").unwrap();
    assert_eq!((before.requests, after.requests), (1_000, 2_000));
    assert_eq!(before.errors.total(), 0);
    assert_eq!(after.errors.total(), 1_500);
}

#[test]
fn bad_settings_are_rejected() {
    let mut env = SyntheticService::new(1, false, 1).unwrap();
    let b = Algorithm::RoundRobin.build();
    for cfg in [
        LoadConfig {
            mode: open(0.0, None),
            ..LoadConfig::default()
        },
        LoadConfig {
            mode: open(f64::NAN, None),
            ..LoadConfig::default()
        },
        LoadConfig {
            mode: Mode::Closed {
                clients: 0,
                think: Duration::ZERO,
            },
            ..LoadConfig::default()
        },
        LoadConfig {
            stop: Stop::Requests(0),
            ..LoadConfig::default()
        },
        LoadConfig {
            client_ips: 0,
            ..LoadConfig::default()
        },
    ] {
        assert!(
            run(&mut env, b.as_ref(), &cfg, &mut |_| {}).is_err(),
            "{cfg:?}"
        );
    }
    assert!(SyntheticService::new(0, false, 1).is_err());
}
