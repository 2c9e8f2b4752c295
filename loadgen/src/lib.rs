//! kubesim-loadgen: simulated traffic through the kubesim router.
//!
//! This crate will hold open-loop (constant rate, coordinated-omission corrected) and
//! closed-loop traffic generation, client-IP distributions, simulated backends with
//! service-time models in virtual time, and HdrHistogram measurement of every latency.
//! It is filled in by the router/loadgen work (issue 5); today it is intentionally empty.
