//! kubesim-core: the Kubernetes control plane, as a library.
//!
//! The crate holds everything that is not the data path:
//!
//! - [`model`]: compact Rust types for the Kubernetes kinds kubesim simulates
//!   ([`model::Object`] is the sum of them), rendered back to Kubernetes JSON with
//!   [`model::Object::to_json`].
//! - [`selector`]: label selectors (`matchLabels`/`matchExpressions` and the string form
//!   `a=b,c!=d,e in (x,y),f notin (z),g,!h`).
//! - [`manifest`]: real Kubernetes YAML in, validated [`model::Object`]s out, with errors
//!   that name file, document, field path and reason.
//! - [`store`]: the lock-light, label-indexed object store with optimistic concurrency
//!   and an ordered watch.
//! - [`workqueue`]: a work queue with client-go semantics (queued at most once, never
//!   processed twice at once, delayed and rate-limited adds in real or virtual time).
//! - [`dispatch`]: sharding strategies that hand keys to N workers (`shared`, `hash`,
//!   `namespace`, `owner`, `consistent`, `steal`) with per-key exclusivity.
//! - [`runtime`]: the controller runtime — controllers declare their watches, map events
//!   to keys and reconcile them on sharded workers, in real time
//!   ([`runtime::Runtime`]) or in deterministic virtual time
//!   ([`runtime::Simulation`]).
//! - [`dns`]: cluster DNS answers (`A`/`SRV` for Services, headless endpoints and
//!   StatefulSet pods, as CoreDNS gives them) computed from the store
//!   ([`dns::DnsView`]).
//! - [`cluster`]: a simulated cluster in virtual time — store, Nodes, StorageClass and
//!   every controller wired into a [`runtime::Simulation`] ([`cluster::Cluster`]).
//!
//! # Example
//!
//! ```
//! use kubesim_core::{manifest, store::Store, selector::LabelSelector, model::Kind};
//!
//! let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-1\n  labels: {app: web}\n\
//!             spec:\n  containers: [{name: web, image: nginx}]\n";
//! let objects = manifest::load_str(yaml, "inline.yaml").unwrap();
//! let store = Store::new();
//! for obj in objects {
//!     store.create(obj).unwrap();
//! }
//! let web: LabelSelector = "app=web".parse().unwrap();
//! let pods = store.list(Kind::Pod, Some("default"), Some(&web), None).unwrap();
//! assert_eq!(pods.len(), 1);
//! ```
#![deny(missing_docs)]

pub mod admission;
pub mod apply;
pub mod cluster;
pub mod controllers;
pub mod dispatch;
pub mod dns;
pub mod intern;
pub mod invariants;
pub mod manifest;
pub mod model;
pub mod quantity;
pub mod runtime;
pub mod selector;
pub mod store;
pub mod time;
pub mod validation;
pub mod workqueue;
