//! `kubesim route`: every balancing algorithm × client distribution × {steady,
//! rollout}, with traffic from [`kubesim_loadgen`] through the
//! [`kubesim_router::Router`] while the real control plane runs on the same store.
//!
//! Each cell is one fresh simulated [`Cluster`] (3 nodes) running a Deployment `web`
//! (`replicas` pods, Ready `ready_after` after they start, one named port) behind a
//! ClusterIP Service (with `sessionAffinity: ClientIP` for the affinity variant). Once
//! every pod is Ready the traffic starts: open loop at `rate` req/s from `client_ips`
//! client IPs (uniform or Zipf), exponential service times, one FIFO server per pod
//! ([`kubesim_loadgen::sim`]).
//!
//! [`ClusterEnv`] is the loadgen's [`Environment`]: before the loadgen handles anything
//! at virtual millisecond `t` it advances the cluster to `t` (every controller, the
//! kubelets, the EndpointSlice controller run what came due), syncs the router from the
//! store's watches and, when the store changed, recomputes the set of Ready pods (Ready
//! condition true, no deletion timestamp). Each routed request is checked against that
//! set: a request routed to a pod that is not Ready at that instant is an error, and
//! must never happen.
//!
//! - `steady`: `steady` of virtual time of traffic on the converged Deployment.
//! - `rollout`: after `warmup`, the Deployment's image changes (`kubectl set image`);
//!   the Deployment controller rolls it (maxSurge 25 %, maxUnavailable 25 %) and the
//!   traffic continues until the rollout completed (`kubectl rollout status`: every
//!   replica updated and available, no old one left) plus `tail`. Latency and errors
//!   during the rollout are reported separately (`rollout_*`).
//!
//! Everything is virtual time and seeded: a cell's figures are the same on every run;
//! only `wall_ms` depends on the machine.

pub mod report;

pub use report::{bench_route, RouteOptions, RouteOutcome, RouteReport};

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use kubesim_core::cluster::{Cluster, ClusterConfig, NodeSpecs};
use kubesim_core::manifest;
use kubesim_core::model::{ClusterIp, Kind};
use kubesim_core::time::Timestamp;
use kubesim_loadgen::backend::format_duration;
use kubesim_loadgen::{ClientDist, Environment, LoadConfig, LoadReport, Mode, ServiceTime, Stop};
use kubesim_router::{Algorithm, Destination, Router, RouterConfig};
use serde::Serialize;

/// A balancing variant of the matrix: an algorithm, with or without ClientIP affinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// The algorithm that picks when affinity has no entry.
    pub algorithm: Algorithm,
    /// `sessionAffinity: ClientIP` on the Service.
    pub affinity: bool,
}

impl Variant {
    /// The nine variants of the table: round-robin, ClientIP affinity (round-robin +
    /// sessionAffinity), random, iptables, ipvs-rr, ipvs-sh, ipvs-lc, maglev, p2c-ewma.
    pub fn all() -> Vec<Variant> {
        let mut v = vec![
            Variant {
                algorithm: Algorithm::RoundRobin,
                affinity: false,
            },
            Variant {
                algorithm: Algorithm::RoundRobin,
                affinity: true,
            },
        ];
        v.extend(
            Algorithm::ALL
                .into_iter()
                .filter(|&a| a != Algorithm::RoundRobin)
                .map(|algorithm| Variant {
                    algorithm,
                    affinity: false,
                }),
        );
        v
    }

    /// `round-robin`, `clientip-affinity`, `maglev`, …
    pub fn name(&self) -> String {
        match (self.algorithm, self.affinity) {
            (Algorithm::RoundRobin, true) => "clientip-affinity".into(),
            (a, true) => format!("{a}+affinity"),
            (a, false) => a.to_string(),
        }
    }
}

/// Traffic through a converged Deployment, or through its rolling update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// No change during the run.
    Steady,
    /// A rolling update during the run.
    Rollout,
}

impl Scenario {
    /// Both, in table order.
    pub const ALL: [Scenario; 2] = [Scenario::Steady, Scenario::Rollout];

    /// `steady` or `rollout`.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::Rollout => "rollout",
        }
    }
}

/// Sizes and traffic settings of the matrix.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouteConfig {
    /// Deployment replicas (the endpoints).
    pub replicas: u32,
    /// Open-loop rate, requests per virtual second.
    pub rate: f64,
    /// Distinct client IPs.
    pub client_ips: u32,
    /// The Zipf exponent of the `zipf` client distribution.
    pub zipf: f64,
    /// Mean of the exponential service time.
    #[serde(serialize_with = "ser_duration")]
    pub service_mean: Duration,
    /// Traffic time of a `steady` cell.
    #[serde(serialize_with = "ser_duration")]
    pub steady: Duration,
    /// Traffic before the rollout starts.
    #[serde(serialize_with = "ser_duration")]
    pub warmup: Duration,
    /// Traffic after the rollout completed.
    #[serde(serialize_with = "ser_duration")]
    pub tail: Duration,
    /// `kubesim.io/ready-after` of the pods.
    #[serde(serialize_with = "ser_duration")]
    pub ready_after: Duration,
    /// Seed of the traffic and the cluster.
    pub seed: u64,
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

impl RouteConfig {
    /// The full run: 10 pods at 60 % utilization (6,000 req/s, 1 ms mean), 10,000
    /// clients, 10 s steady.
    pub fn full() -> RouteConfig {
        RouteConfig {
            replicas: 10,
            rate: 6_000.0,
            client_ips: 10_000,
            zipf: 1.1,
            service_mean: Duration::from_millis(1),
            steady: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            tail: Duration::from_secs(2),
            ready_after: Duration::from_secs(2),
            seed: 0x0052_4f55_5445,
        }
    }

    /// `--quick`: 4 pods at 50 % (2,000 req/s), 1,000 clients, 1 s steady.
    pub fn quick() -> RouteConfig {
        RouteConfig {
            replicas: 4,
            rate: 2_000.0,
            client_ips: 1_000,
            steady: Duration::from_secs(1),
            warmup: Duration::from_millis(500),
            tail: Duration::from_millis(500),
            ready_after: Duration::from_secs(1),
            ..RouteConfig::full()
        }
    }

    /// The client distributions of the matrix: uniform and Zipf.
    pub fn dists(&self) -> [ClientDist; 2] {
        [ClientDist::Uniform, ClientDist::Zipf(self.zipf)]
    }
}

/// The loadgen's environment on a simulated cluster (see the module docs).
pub struct ClusterEnv {
    cluster: Cluster,
    router: Router,
    dest: Destination,
    ready: HashSet<Ipv4Addr>,
    seen_rv: u64,
    rollout_at: Option<Timestamp>,
    new_manifest: String,
    tail: Duration,
    /// When the rollout started, if it did.
    pub rollout_started: Option<Timestamp>,
    /// When the rollout completed, if it did.
    pub rollout_completed: Option<Timestamp>,
    start: Timestamp,
}

impl std::fmt::Debug for ClusterEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterEnv")
            .field("now", &self.cluster.now())
            .field("ready", &self.ready.len())
            .finish_non_exhaustive()
    }
}

/// The Deployment and Service of a cell, with image `image`.
pub fn app_manifest(cfg: &RouteConfig, affinity: bool, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: default}}\n\
         spec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    \
         metadata:\n      labels: {{app: web}}\n      annotations: {{kubesim.io/ready-after: {ready}}}\n    \
         spec:\n      containers:\n      - name: web\n        image: {image}\n        \
         ports: [{{name: http, containerPort: 8080}}]\n\
         ---\napiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default}}\n\
         spec: {{selector: {{app: web}}, ports: [{{name: http, port: 80, targetPort: http}}]{aff}}}\n",
        replicas = cfg.replicas,
        ready = format_duration(cfg.ready_after),
        aff = if affinity {
            ", sessionAffinity: ClientIP"
        } else {
            ""
        },
    )
}

impl ClusterEnv {
    /// A cluster with the cell's Deployment and Service, run until every pod is Ready
    /// and the router routes to all of them; `rollout_after`: start a rollout that long
    /// after the traffic starts.
    ///
    /// # Errors
    ///
    /// When the cluster cannot be built or does not converge in 10 virtual minutes.
    pub fn new(
        cfg: &RouteConfig,
        affinity: bool,
        rollout_after: Option<Duration>,
    ) -> Result<ClusterEnv> {
        let mut cluster = Cluster::new(ClusterConfig {
            nodes: NodeSpecs::Count(3),
            seed: cfg.seed,
            ..ClusterConfig::default()
        })
        .map_err(|e| anyhow!("building the cluster: {e}"))?;
        let objects = manifest::load_str(&app_manifest(cfg, affinity, "nginx:1.26"), "web.yaml")
            .map_err(|e| anyhow!("the cell's manifest: {e}"))?;
        cluster
            .apply(objects)
            .map_err(|e| anyhow!("applying the cell's manifest: {e}"))?;
        let want = cfg.replicas as usize;
        cluster
            .run_until(|s| ready_pods(s).len() == want, Duration::from_secs(600))
            .map_err(|e| anyhow!("the Deployment did not become ready: {e:?}"))?;
        let router = Router::new(RouterConfig {
            seed: cfg.seed,
            ..RouterConfig::default()
        });
        router
            .sync(cluster.store())
            .map_err(|e| anyhow!("syncing the router: {e}"))?;
        let svc = cluster
            .store()
            .get(Kind::Service, "default", "web")
            .map_err(|e| anyhow!("the Service: {e}"))?;
        let ip = match svc.as_service().map(|s| &s.spec.cluster_ip) {
            Some(ClusterIp::Ip(ip)) => *ip,
            other => return Err(anyhow!("the Service has no ClusterIP: {other:?}")),
        };
        let start = cluster.now();
        let ready = ready_pods(cluster.store());
        let seen_rv = cluster.store().resource_version();
        Ok(ClusterEnv {
            router,
            dest: Destination::tcp(ip, 80),
            ready,
            seen_rv,
            rollout_at: rollout_after.map(|d| start.plus(d)),
            new_manifest: app_manifest(cfg, affinity, "nginx:1.27"),
            tail: cfg.tail,
            rollout_started: None,
            rollout_completed: None,
            start,
            cluster,
        })
    }

    /// The cluster.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The virtual time the rollout took, if it completed.
    pub fn rollout_duration(&self) -> Option<Duration> {
        Some(self.rollout_completed?.since(self.rollout_started?))
    }

    fn start_rollout(&mut self) {
        // `kubectl set image deployment/web web=nginx:1.27`; a manifest this module
        // wrote, so a failure is a bug worth a loud message (the rollout never starts
        // and the cell reports no rollout).
        match manifest::load_str(&self.new_manifest, "web-v2.yaml") {
            Ok(objects) => {
                if let Err(e) = self.cluster.apply(objects) {
                    eprintln!("error: starting the rollout: {e}");
                    return;
                }
                self.rollout_started = Some(self.cluster.now());
            }
            Err(e) => eprintln!("error: the rollout manifest: {e}"),
        }
    }

    fn rollout_complete(&self) -> bool {
        let Ok(obj) = self.cluster.store().get(Kind::Deployment, "default", "web") else {
            return false;
        };
        let Some(d) = obj.as_deployment() else {
            return false;
        };
        let want = d.spec.replicas;
        d.status.observed_generation >= d.meta.generation
            && d.status.updated_replicas == want
            && d.status.replicas == want
            && d.status.available_replicas == want
    }
}

/// IPs of the `app=web` pods that are Ready and not being deleted.
pub fn ready_pods(store: &kubesim_core::store::Store) -> HashSet<Ipv4Addr> {
    store
        .list(Kind::Pod, Some("default"), None, None)
        .unwrap_or_default()
        .iter()
        .filter_map(|o| o.as_pod())
        .filter(|p| p.meta.deletion_timestamp().is_none() && p.is_ready())
        .filter_map(|p| p.status.pod_ip)
        .collect()
}

impl Environment for ClusterEnv {
    fn router(&self) -> &Router {
        &self.router
    }

    fn destination(&self) -> Destination {
        self.dest
    }

    fn start(&self) -> Timestamp {
        self.start
    }

    fn advance_to(&mut self, now: Timestamp) {
        let current = self.cluster.now();
        if now > current {
            self.cluster.advance(now.since(current));
        }
        if self.rollout_started.is_none() && self.rollout_at.is_some_and(|t| now >= t) {
            self.start_rollout();
        }
        let rv = self.cluster.store().resource_version();
        if rv != self.seen_rv {
            self.seen_rv = rv;
            if let Err(e) = self.router.sync(self.cluster.store()) {
                eprintln!("error: syncing the router: {e}");
            }
            self.ready = ready_pods(self.cluster.store());
            if self.rollout_started.is_some()
                && self.rollout_completed.is_none()
                && self.rollout_complete()
            {
                self.rollout_completed = Some(self.cluster.now());
            }
        }
    }

    fn is_ready(&self, endpoint: SocketAddrV4) -> bool {
        self.ready.contains(endpoint.ip())
    }

    fn phase(&self) -> &'static str {
        match (self.rollout_started, self.rollout_completed) {
            (None, _) => "steady",
            (Some(_), None) => "rollout",
            (Some(_), Some(_)) => "after",
        }
    }

    fn finished(&self) -> bool {
        self.rollout_completed
            .is_some_and(|t| self.cluster.now() >= t.plus(self.tail))
    }
}

/// One cell's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Variant name (`round-robin`, `clientip-affinity`, …).
    pub algorithm: String,
    /// Client distribution (`uniform`, `zipf:1.1`).
    pub clients: String,
    /// `steady` or `rollout`.
    pub scenario: Scenario,
    /// Requests issued.
    pub requests: u64,
    /// Completed requests per virtual second.
    pub throughput_rps: f64,
    /// Latency from the intended send time, whole run.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Maximum.
    pub max_us: f64,
    /// Max ÷ mean of requests per endpoint (every pod that served, and every current
    /// endpoint).
    pub imbalance: f64,
    /// Coefficient of variation of requests per endpoint.
    pub cv: f64,
    /// Fraction of a returning client's requests that reached its previous endpoint.
    pub stickiness: f64,
    /// Endpoints that served or are in the final table.
    pub endpoints: usize,
    /// Requests the router had no endpoint for.
    pub errors_no_endpoint: u64,
    /// Requests routed to a pod that was not Ready at that instant (must be 0).
    pub errors_not_ready: u64,
    /// Rollout cells: requests issued during the rollout.
    pub rollout_requests: Option<u64>,
    /// Rollout cells: p99 latency of the requests issued during the rollout.
    pub rollout_p99_us: Option<f64>,
    /// Rollout cells: maximum latency during the rollout.
    pub rollout_max_us: Option<f64>,
    /// Rollout cells: errors during the rollout.
    pub rollout_errors: Option<u64>,
    /// Rollout cells: virtual time from the image change to a complete rollout.
    pub rollout_s: Option<f64>,
    /// Wall time of the cell (cluster setup excluded), milliseconds.
    pub wall_ms: f64,
}

impl Row {
    /// Whether the cell had no error of either kind (and its rollout completed).
    pub fn ok(&self) -> bool {
        self.errors_no_endpoint == 0
            && self.errors_not_ready == 0
            && (self.scenario == Scenario::Steady || self.rollout_s.is_some())
    }
}

/// Runs one cell.
///
/// # Errors
///
/// When the cluster cannot be built or the loadgen rejects the settings.
pub fn run_cell(
    cfg: &RouteConfig,
    variant: Variant,
    dist: ClientDist,
    scenario: Scenario,
) -> Result<(Row, LoadReport)> {
    let rollout = (scenario == Scenario::Rollout).then_some(cfg.warmup);
    let mut env = ClusterEnv::new(cfg, variant.affinity, rollout)
        .with_context(|| format!("cell {} {dist} {}", variant.name(), scenario.name()))?;
    let load = LoadConfig {
        mode: Mode::Open {
            rate: cfg.rate,
            connections: None,
        },
        stop: match scenario {
            Scenario::Steady => Stop::Duration(cfg.steady),
            // Until the rollout completed plus the tail (ClusterEnv::finished); the
            // bound only guards against a rollout that never completes.
            Scenario::Rollout => Stop::Duration(Duration::from_secs(900)),
        },
        client_ips: cfg.client_ips,
        client_dist: dist,
        service_time: ServiceTime::Exp(cfg.service_mean),
        stall: None,
        concurrency: 1,
        seed: cfg.seed,
    };
    let balancer = variant.algorithm.build();
    let t0 = Instant::now();
    let report = kubesim_loadgen::run(&mut env, balancer.as_ref(), &load, &mut |_| {})
        .map_err(|e| anyhow!("loadgen: {e}"))?;
    let wall_ms = t0.elapsed().as_secs_f64() * 1e3;
    let during = report.phase("rollout");
    let l = &report.latency;
    let row = Row {
        algorithm: variant.name(),
        clients: dist.to_string(),
        scenario,
        requests: report.requests,
        throughput_rps: report.throughput_rps,
        p50_us: l.p50_us,
        p90_us: l.p90_us,
        p99_us: l.p99_us,
        p999_us: l.p999_us,
        max_us: l.max_us,
        imbalance: report.imbalance,
        cv: report.cv,
        stickiness: report.stickiness,
        endpoints: report.endpoints.len(),
        errors_no_endpoint: report.errors.no_endpoint,
        errors_not_ready: report.errors.not_ready,
        rollout_requests: during.map(|p| p.requests),
        rollout_p99_us: during.map(|p| p.latency.p99_us),
        rollout_max_us: during.map(|p| p.latency.max_us),
        rollout_errors: during.map(|p| p.errors.total()),
        rollout_s: env.rollout_duration().map(|d| d.as_secs_f64()),
        wall_ms,
    };
    Ok((row, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cell's cluster, but routed by a router synced once before the traffic:
    /// the readiness oracle must catch what the real router avoids.
    struct Stale {
        env: ClusterEnv,
        frozen: Router,
    }

    impl Environment for Stale {
        fn router(&self) -> &Router {
            &self.frozen
        }
        fn destination(&self) -> Destination {
            self.env.destination()
        }
        fn start(&self) -> Timestamp {
            self.env.start()
        }
        fn advance_to(&mut self, now: Timestamp) {
            self.env.advance_to(now)
        }
        fn is_ready(&self, endpoint: SocketAddrV4) -> bool {
            self.env.is_ready(endpoint)
        }
        fn phase(&self) -> &'static str {
            self.env.phase()
        }
        fn finished(&self) -> bool {
            self.env.finished()
        }
    }

    fn load(cfg: &RouteConfig) -> LoadConfig {
        LoadConfig {
            mode: Mode::Open {
                rate: cfg.rate,
                connections: None,
            },
            stop: Stop::Duration(Duration::from_secs(120)),
            client_ips: cfg.client_ips,
            service_time: ServiceTime::Exp(cfg.service_mean),
            seed: 3,
            ..LoadConfig::default()
        }
    }

    #[test]
    fn a_rollout_through_the_synced_router_has_no_errors_and_a_stale_one_does() {
        let cfg = RouteConfig::quick();
        let b = Algorithm::RoundRobin.build();
        let mut env = ClusterEnv::new(&cfg, false, Some(cfg.warmup)).unwrap();
        let before: HashSet<Ipv4Addr> = env.ready.clone();
        let r = kubesim_loadgen::run(&mut env, b.as_ref(), &load(&cfg), &mut |_| {}).unwrap();
        assert_eq!(r.errors.total(), 0, "{r:?}");
        let took = env.rollout_duration().expect("the rollout completed");
        assert!(took >= cfg.ready_after, "{took:?}");
        // Every old pod was replaced, and traffic reached old and new pods.
        let after = ready_pods(env.cluster().store());
        assert_eq!(after.len(), cfg.replicas as usize);
        assert!(after.is_disjoint(&before));
        let served: HashSet<Ipv4Addr> = r
            .endpoints
            .iter()
            .filter(|e| e.requests > 0)
            .map(|e| *e.endpoint.parse::<SocketAddrV4>().unwrap().ip())
            .collect();
        assert!(served.is_superset(&before) && served.is_superset(&after));
        let phases: Vec<&str> = r.phases.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(phases, ["steady", "rollout", "after"]);
        // The stale router keeps sending to the old pods after they are deleted.
        let inner = ClusterEnv::new(&cfg, false, Some(cfg.warmup)).unwrap();
        let frozen = Router::default();
        frozen.sync(inner.cluster().store()).unwrap();
        let mut stale = Stale { env: inner, frozen };
        let r = kubesim_loadgen::run(&mut stale, b.as_ref(), &load(&cfg), &mut |_| {}).unwrap();
        assert!(r.errors.not_ready > r.requests / 4, "{:?}", r.errors);
        assert_eq!(r.phase("steady").unwrap().errors.total(), 0);
    }

    #[test]
    fn variants_and_names() {
        let names: Vec<String> = Variant::all().iter().map(Variant::name).collect();
        assert_eq!(
            names,
            [
                "round-robin",
                "clientip-affinity",
                "random",
                "iptables",
                "ipvs-rr",
                "ipvs-sh",
                "ipvs-lc",
                "maglev",
                "p2c-ewma"
            ]
        );
    }
}
