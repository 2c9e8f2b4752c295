//! kubesim-loadgen: simulated traffic through the kubesim router, in virtual time.
//!
//! A discrete-event simulation ([`sim`]) sends requests from simulated clients through
//! [`kubesim_router::Router::route`] to simulated backends ([`backend`]: one FIFO server
//! per endpoint with a service-time model) and records every latency in an
//! HdrHistogram ([`report`]). It runs open loop (constant rate; latency from the
//! intended send time, so coordinated omission is corrected, as wrk2 does) or closed
//! loop (C clients), with client IPs drawn uniformly or by Zipf(s) ([`dist`]).
//!
//! The world the traffic runs in is an [`Environment`] ([`env`](mod@env)): it owns the router,
//! moves with virtual time and says which endpoints are Ready at each instant.
//! [`SyntheticService`] is a fixed Service with N always-Ready endpoints; `kubesim
//! route` implements the trait on a simulated cluster running a rolling update.
//!
//! [`output`] writes the binary's run folder (CSV, summary, JSON, SVG).
//!
//! **Architecture invariant:** the simulation never reads the wall clock and owns every
//! random draw (seeded): the same settings give the same report.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use kubesim_loadgen::{run, LoadConfig, Mode, Stop, SyntheticService, ServiceTime};
//! use kubesim_router::Algorithm;
//!
//! let mut env = SyntheticService::new(4, false, 1).unwrap();
//! let cfg = LoadConfig {
//!     mode: Mode::Closed { clients: 4, think: Duration::ZERO },
//!     stop: Stop::Requests(4_000),
//!     service_time: ServiceTime::Fixed(Duration::from_millis(1)),
//!     ..LoadConfig::default()
//! };
//! let balancer = Algorithm::RoundRobin.build();
//! let report = run(&mut env, balancer.as_ref(), &cfg, &mut |_| {}).unwrap();
//! // Four clients, four endpoints, 1 ms each: 4,000 requests per second.
//! assert!((report.throughput_rps - 4_000.0).abs() < 1.0);
//! assert_eq!(report.errors.total(), 0);
//! ```

#![deny(missing_docs)]

pub mod backend;
pub mod dist;
pub mod env;
pub mod output;
pub mod report;
pub mod sim;

pub use backend::{parse_duration, ServiceTime, Stall};
pub use dist::ClientDist;
pub use env::{Environment, SyntheticService};
pub use report::{Errors, LatencySummary, LoadReport};
pub use sim::{run, LoadConfig, Mode, Stop};
