//! The discrete-event simulation: requests arrive, are routed through
//! [`Router::route`](kubesim_router::Router::route) at their arrival instant, queue at
//! the chosen endpoint's simulated server and complete; every latency goes into an
//! HdrHistogram.
//!
//! Time is virtual, in nanoseconds since the run's start (the environment's
//! [`start`](crate::env::Environment::start)); the router and the environment see it
//! as millisecond [`Timestamp`]s. Events are handled in time order (ties in the order
//! they were scheduled), and the environment is advanced to each event's millisecond
//! before the event is handled.
//!
//! - **Open loop** ([`Mode::Open`]): request `i` is *intended* at `i / rate`. With
//!   unlimited connections it is sent then. With `connections = K`, at most K requests
//!   are in flight; a request whose time has come waits for a free connection and is
//!   sent when one frees up. Latency is always measured from the intended time (the
//!   coordinated-omission correction of wrk2); `latency_uncorrected` measures from the
//!   actual send, as a tool that stalls with its server would.
//! - **Closed loop** ([`Mode::Closed`]): C clients each send a request, wait for the
//!   response, think, and send the next; intended = actual send time. A request that
//!   cannot be routed is retried after max(think, 1 ms).
//!
//! Each request's client IP is drawn from the [`ClientDist`]; its source port cycles
//! through the ephemeral range, so every request is a new connection (no keep-alive).
//! Load-aware balancers get [`Balancer::opened`] when a request is routed and
//! [`Balancer::closed`] with the latency the proxy observed (completion − send) when it
//! completes.
//!
//! With [`ServiceTime::SlowOne`], the slow endpoint is the lowest address among the
//! destination's endpoints when the run starts (if it goes away, none is slow).
//!
//! Three seeded [`SmallRng`]s — client draws, balancer picks, service times — keep runs
//! reproducible and give every algorithm the same sequence of clients.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use fnv::FnvBuildHasher;
use hdrhistogram::Histogram;
use kubesim_core::time::Timestamp;
use kubesim_router::endpoints::{endpoint_key, key_addr, EndpointKey};
use kubesim_router::Balancer;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::backend::{Server, ServiceTime, Stall};
use crate::dist::{ClientDist, ClientSampler};
use crate::env::Environment;
use crate::report::{
    imbalance, latency_histogram, EndpointShare, Errors, LatencySummary, LoadReport, PhaseReport,
    MAX_LATENCY_NS,
};

/// How requests are generated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Constant rate (requests per virtual second), at most `connections` in flight
    /// (`None`: unlimited).
    Open {
        /// Requests per second.
        rate: f64,
        /// Connection limit, if any.
        connections: Option<usize>,
    },
    /// `clients` concurrent clients, each waiting `think` between a response and its
    /// next request.
    Closed {
        /// Concurrent clients.
        clients: usize,
        /// Think time.
        think: Duration,
    },
}

/// When the run stops issuing requests (in-flight ones still complete).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this many requests.
    Requests(u64),
    /// Once the (intended) send time reaches this virtual duration.
    Duration(Duration),
}

/// The settings of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadConfig {
    /// Open or closed loop.
    pub mode: Mode,
    /// When to stop.
    pub stop: Stop,
    /// Distinct client IPs.
    pub client_ips: u32,
    /// How client IPs are drawn.
    pub client_dist: ClientDist,
    /// Service-time model of the endpoints.
    pub service_time: ServiceTime,
    /// A stall of every endpoint, if any.
    pub stall: Option<Stall>,
    /// Servers per endpoint (requests it serves at once).
    pub concurrency: usize,
    /// Seed of the run's random draws.
    pub seed: u64,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            mode: Mode::Open {
                rate: 1_000.0,
                connections: None,
            },
            stop: Stop::Requests(10_000),
            client_ips: 1_000,
            client_dist: ClientDist::Uniform,
            service_time: ServiceTime::Fixed(Duration::from_millis(1)),
            stall: None,
            concurrency: 1,
            seed: 1,
        }
    }
}

/// Most requests one run may issue (memory and time stay bounded).
pub const MAX_REQUESTS: u64 = 1_000_000_000;
/// Most distinct client IPs (the run keeps 16 bytes of state per client).
pub const MAX_CLIENT_IPS: u32 = 1_000_000;

impl LoadConfig {
    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// A message naming the bad setting.
    pub fn validate(&self) -> Result<(), String> {
        match self.mode {
            Mode::Open { rate, connections } => {
                if !(rate.is_finite() && rate > 0.0 && rate <= 1e9) {
                    return Err(format!("rate must be in (0, 1e9] requests/s, got {rate}"));
                }
                if connections == Some(0) {
                    return Err("connections must be at least 1".into());
                }
                if let Stop::Duration(d) = self.stop {
                    if d.as_secs_f64() * rate > MAX_REQUESTS as f64 {
                        return Err(format!("duration × rate exceeds {MAX_REQUESTS} requests"));
                    }
                }
            }
            Mode::Closed { clients, .. } => {
                if clients == 0 || clients > 1_000_000 {
                    return Err(format!("clients must be in 1..=1000000, got {clients}"));
                }
            }
        }
        match self.stop {
            Stop::Requests(0) => return Err("requests must be at least 1".into()),
            Stop::Requests(n) if n > MAX_REQUESTS => {
                return Err(format!("requests must be at most {MAX_REQUESTS}"))
            }
            Stop::Duration(d) if d.is_zero() => return Err("duration must be positive".into()),
            _ => {}
        }
        if self.client_ips == 0 || self.client_ips > MAX_CLIENT_IPS {
            return Err(format!(
                "client IPs must be in 1..={MAX_CLIENT_IPS}, got {}",
                self.client_ips
            ));
        }
        if self.concurrency == 0 || self.concurrency > 10_000 {
            return Err(format!(
                "endpoint concurrency must be in 1..=10000, got {}",
                self.concurrency
            ));
        }
        Ok(())
    }
}

/// What happens at an instant.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Closed loop: a client sends its next request.
    ClientReady { client: u32 },
    /// A request completes at its endpoint.
    Complete {
        key: EndpointKey,
        intended: u64,
        sent: u64,
        /// The closed-loop client, or `u32::MAX`.
        client: u32,
        phase: u8,
    },
}

#[derive(Clone, Copy, Debug)]
struct Event {
    t: u64,
    seq: u64,
    kind: Kind,
}

impl PartialEq for Event {
    fn eq(&self, o: &Self) -> bool {
        (self.t, self.seq) == (o.t, o.seq)
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Event {
    // Reversed: BinaryHeap is a max-heap, the earliest event must come out first.
    fn cmp(&self, o: &Self) -> CmpOrdering {
        (o.t, o.seq).cmp(&(self.t, self.seq))
    }
}

struct PhaseAcc {
    name: &'static str,
    requests: u64,
    errors: Errors,
    hist: Histogram<u64>,
}

/// The running state of one simulation.
struct State<'a> {
    env: &'a mut dyn Environment,
    balancer: &'a dyn Balancer,
    cfg: &'a LoadConfig,
    start: Timestamp,
    last_ms: i64,
    heap: BinaryHeap<Event>,
    seq: u64,
    clients: ClientSampler,
    client_rng: SmallRng,
    route_rng: SmallRng,
    service_rng: SmallRng,
    servers: HashMap<EndpointKey, Server, FnvBuildHasher>,
    counts: HashMap<EndpointKey, u64, FnvBuildHasher>,
    slow: Option<EndpointKey>,
    stall: Option<(u64, u64)>,
    last_endpoint: Vec<Option<EndpointKey>>,
    port: u16,
    issued: u64,
    completed: u64,
    same: u64,
    repeat: u64,
    affinity_hits: u64,
    errors: Errors,
    hist: Histogram<u64>,
    uncorrected: Histogram<u64>,
    phases: Vec<PhaseAcc>,
    last_completion: u64,
    stopped: bool,
}

const EPHEMERAL: std::ops::Range<u16> = 32_768..61_000;

impl State<'_> {
    fn ts(&self, t_ns: u64) -> Timestamp {
        Timestamp(self.start.0 + (t_ns / 1_000_000) as i64)
    }

    /// Advances the environment to `t`'s millisecond, if it is a new one.
    fn advance(&mut self, t_ns: u64) {
        let ms = (t_ns / 1_000_000) as i64;
        if ms > self.last_ms {
            self.last_ms = ms;
            let ts = self.ts(t_ns);
            self.env.advance_to(ts);
        }
    }

    fn push(&mut self, t: u64, kind: Kind) {
        self.seq += 1;
        self.heap.push(Event {
            t,
            seq: self.seq,
            kind,
        });
    }

    fn phase_index(&mut self) -> u8 {
        let name = self.env.phase();
        if let Some(i) = self.phases.iter().position(|p| p.name == name) {
            return i as u8;
        }
        if self.phases.len() >= usize::from(u8::MAX) {
            return 0;
        }
        self.phases.push(PhaseAcc {
            name,
            requests: 0,
            errors: Errors::default(),
            hist: latency_histogram(),
        });
        (self.phases.len() - 1) as u8
    }

    /// Whether the stop condition holds for a request intended at `intended`.
    fn should_stop(&mut self, intended: u64) -> bool {
        if !self.stopped {
            self.stopped = match self.cfg.stop {
                Stop::Requests(n) => self.issued >= n,
                Stop::Duration(d) => u128::from(intended) >= d.as_nanos(),
            } || self.env.finished();
        }
        self.stopped
    }

    /// Sends one request at `now` (intended at `intended`); returns whether it was
    /// routed (false: an error, no response will come).
    fn send(&mut self, now: u64, intended: u64, client_slot: u32) -> bool {
        self.issued += 1;
        let phase = self.phase_index();
        self.phases[usize::from(phase)].requests += 1;
        let ci = self.clients.sample(&mut self.client_rng);
        self.port = if self.port + 1 >= EPHEMERAL.end {
            EPHEMERAL.start
        } else {
            self.port + 1
        };
        let client = SocketAddrV4::new(ClientSampler::ip(ci), self.port);
        let ts = self.ts(now);
        let dest = self.env.destination();
        let routed = self
            .env
            .router()
            .route(&dest, client, ts, self.balancer, &mut self.route_rng);
        let route = match routed {
            Ok(r) => r,
            Err(_) => {
                self.errors.no_endpoint += 1;
                self.phases[usize::from(phase)].errors.no_endpoint += 1;
                return false;
            }
        };
        if !self.env.is_ready(route.endpoint) {
            self.errors.not_ready += 1;
            self.phases[usize::from(phase)].errors.not_ready += 1;
        }
        if route.affinity_hit {
            self.affinity_hits += 1;
        }
        let key = endpoint_key(*route.endpoint.ip(), route.endpoint.port());
        if let Some(prev) = self.last_endpoint[ci as usize].replace(key) {
            self.repeat += 1;
            if prev == key {
                self.same += 1;
            }
        }
        *self.counts.entry(key).or_default() += 1;
        let slow = self.slow == Some(key);
        let concurrency = self.cfg.concurrency;
        let service = self.cfg.service_time.sample_ns(slow, &mut self.service_rng);
        let server = self
            .servers
            .entry(key)
            .or_insert_with(|| Server::new(concurrency, slow));
        let done = server.admit(now, service, self.stall);
        self.balancer.opened(key, ts);
        self.push(
            done,
            Kind::Complete {
                key,
                intended,
                sent: now,
                client: client_slot,
                phase,
            },
        );
        true
    }

    fn complete(&mut self, t: u64, key: EndpointKey, intended: u64, sent: u64, phase: u8) {
        let ts = self.ts(t);
        self.balancer
            .closed(key, Duration::from_nanos(t - sent), ts);
        let lat = (t - intended).min(MAX_LATENCY_NS);
        self.hist.saturating_record(lat);
        self.uncorrected
            .saturating_record((t - sent).min(MAX_LATENCY_NS));
        if let Some(p) = self.phases.get_mut(usize::from(phase)) {
            p.hist.saturating_record(lat);
        }
        self.completed += 1;
        self.last_completion = self.last_completion.max(t);
    }
}

/// Runs traffic through `env`'s router with `balancer` until `cfg.stop` (or
/// [`Environment::finished`]) and every in-flight request completed. `progress` is
/// called with the number of requests issued so far, every 1,024 requests.
///
/// # Errors
///
/// A message for invalid settings ([`LoadConfig::validate`]).
pub fn run(
    env: &mut dyn Environment,
    balancer: &dyn Balancer,
    cfg: &LoadConfig,
    progress: &mut dyn FnMut(u64),
) -> Result<LoadReport, String> {
    cfg.validate()?;
    let start = env.start();
    env.advance_to(start);
    let dest = env.destination();
    let slow = match cfg.service_time {
        ServiceTime::SlowOne { .. } => env.router().lookup(&dest).and_then(|(st, pi)| {
            st.ports[pi]
                .endpoints
                .backends()
                .iter()
                .map(|b| b.key())
                .min()
        }),
        _ => None,
    };
    let stall = cfg.stall.map(|s| {
        let from = s.at.as_nanos() as u64;
        (from, from.saturating_add(s.duration.as_nanos() as u64))
    });
    let mut st = State {
        env,
        balancer,
        cfg,
        start,
        last_ms: 0,
        heap: BinaryHeap::new(),
        seq: 0,
        clients: ClientSampler::new(cfg.client_dist, cfg.client_ips),
        client_rng: SmallRng::seed_from_u64(cfg.seed),
        route_rng: SmallRng::seed_from_u64(cfg.seed ^ 0x5eed_0001),
        service_rng: SmallRng::seed_from_u64(cfg.seed ^ 0x5eed_0002),
        servers: HashMap::default(),
        counts: HashMap::default(),
        slow,
        stall,
        last_endpoint: vec![None; cfg.client_ips as usize],
        port: EPHEMERAL.start,
        issued: 0,
        completed: 0,
        same: 0,
        repeat: 0,
        affinity_hits: 0,
        errors: Errors::default(),
        hist: latency_histogram(),
        uncorrected: latency_histogram(),
        phases: Vec::new(),
        last_completion: 0,
        stopped: false,
    };
    let retry = |think: Duration| think.max(Duration::from_millis(1)).as_nanos() as u64;
    match cfg.mode {
        Mode::Open { rate, connections } => {
            let period = 1e9 / rate;
            let limit = connections.unwrap_or(usize::MAX);
            let mut in_flight = 0usize;
            let mut waiting: VecDeque<u64> = VecDeque::new();
            let mut next_i: u64 = 0;
            let mut next_arrival: Option<u64> = Some(0);
            loop {
                let heap_t = st.heap.peek().map(|e| e.t);
                // Arrivals go first on a tie with a completion at the same instant.
                let take_arrival = match (next_arrival, heap_t) {
                    (Some(a), Some(h)) => a < h,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => break,
                };
                if take_arrival {
                    let t = next_arrival.unwrap_or(0);
                    st.advance(t);
                    if st.should_stop(t) {
                        next_arrival = None;
                        continue;
                    }
                    next_i += 1;
                    next_arrival = Some((next_i as f64 * period).round() as u64);
                    if in_flight < limit {
                        if st.send(t, t, u32::MAX) {
                            in_flight += 1;
                        }
                    } else {
                        // Counted as issued when it is finally sent.
                        st.issued += 1;
                        waiting.push_back(t);
                    }
                    if st.issued % 1024 == 0 {
                        progress(st.issued);
                    }
                } else if let Some(ev) = st.heap.pop() {
                    st.advance(ev.t);
                    if let Kind::Complete {
                        key,
                        intended,
                        sent,
                        phase,
                        ..
                    } = ev.kind
                    {
                        st.complete(ev.t, key, intended, sent, phase);
                        in_flight -= 1;
                        while in_flight < limit {
                            let Some(intended) = waiting.pop_front() else {
                                break;
                            };
                            st.issued -= 1; // `send` counts it again
                            if st.send(ev.t, intended, u32::MAX) {
                                in_flight += 1;
                            }
                        }
                    }
                }
            }
        }
        Mode::Closed { clients, think } => {
            let think_ns = think.as_nanos() as u64;
            for c in 0..clients {
                st.push(0, Kind::ClientReady { client: c as u32 });
            }
            while let Some(ev) = st.heap.pop() {
                st.advance(ev.t);
                match ev.kind {
                    Kind::ClientReady { client } => {
                        if st.should_stop(ev.t) {
                            continue;
                        }
                        if !st.send(ev.t, ev.t, client) {
                            st.push(ev.t + retry(think), Kind::ClientReady { client });
                        }
                        if st.issued % 1024 == 0 {
                            progress(st.issued);
                        }
                    }
                    Kind::Complete {
                        key,
                        intended,
                        sent,
                        client,
                        phase,
                    } => {
                        st.complete(ev.t, key, intended, sent, phase);
                        st.push(ev.t + think_ns, Kind::ClientReady { client });
                    }
                }
            }
        }
    }
    progress(st.issued);
    Ok(finish(st, &dest))
}

fn finish(st: State<'_>, dest: &kubesim_router::Destination) -> LoadReport {
    let mut counts = st.counts.clone();
    if let Some((state, pi)) = st.env.router().lookup(dest) {
        for b in state.ports[pi].endpoints.backends() {
            counts.entry(b.key()).or_insert(0);
        }
    }
    let mut per: Vec<(SocketAddrV4, u64)> =
        counts.into_iter().map(|(k, n)| (key_addr(k), n)).collect();
    per.sort_unstable_by_key(|&(a, _)| (u32::from(*a.ip()), a.port()));
    let routed: u64 = per.iter().map(|&(_, n)| n).sum();
    let values: Vec<u64> = per.iter().map(|&(_, n)| n).collect();
    let (imb, cv) = imbalance(&values);
    let endpoints = per
        .into_iter()
        .map(|(a, n)| EndpointShare {
            endpoint: a.to_string(),
            requests: n,
            share: if routed == 0 {
                0.0
            } else {
                n as f64 / routed as f64
            },
        })
        .collect();
    let duration_s = st.last_completion as f64 / 1e9;
    let mode = match st.cfg.mode {
        Mode::Open { .. } => "open",
        Mode::Closed { .. } => "closed",
    };
    LoadReport {
        algorithm: st.balancer.name().to_string(),
        mode: mode.to_string(),
        requests: st.issued,
        completed: st.completed,
        duration_s,
        throughput_rps: if duration_s > 0.0 {
            st.completed as f64 / duration_s
        } else {
            0.0
        },
        latency: LatencySummary::of(&st.hist),
        latency_uncorrected: LatencySummary::of(&st.uncorrected),
        endpoints,
        imbalance: imb,
        cv,
        stickiness: if st.repeat == 0 {
            0.0
        } else {
            st.same as f64 / st.repeat as f64
        },
        affinity_hits: st.affinity_hits,
        errors: st.errors,
        phases: st
            .phases
            .iter()
            .map(|p| PhaseReport {
                name: p.name.to_string(),
                requests: p.requests,
                latency: LatencySummary::of(&p.hist),
                errors: p.errors,
            })
            .collect(),
    }
}

/// The IP a client index maps to (re-exported for tests and reports).
pub fn client_ip(i: u32) -> Ipv4Addr {
    ClientSampler::ip(i)
}
