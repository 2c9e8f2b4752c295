//! The object model: compact Rust types for the Kubernetes kinds kubesim simulates.
//!
//! These are not the full OpenAPI structs. They keep the fields the controllers, the
//! scheduler, the kubelets and the router read and write, in the smallest shape that
//! serves them:
//!
//! - strings are [`Str`](crate::intern::Str) (one word: a shared, reference-counted
//!   string), interned where values repeat;
//! - labels and annotations are [`StrMap`](crate::intern::StrMap), shared between a
//!   template and the pods made from it;
//! - a pod's spec is an `Arc<PodSpec>` shared with the template it was made from, and
//!   `spec.nodeName` is kept on the [`Pod`] itself so that binding does not copy the spec;
//! - a pod spec keeps every field a user can set, since a template change in any of
//!   them is a rollout upstream: the simulated ones as fields, a container's env,
//!   envFrom, workingDir and volumeMounts in [`ContainerDetails`], and the rest as
//!   canonical JSON ([`Unmodelled`]) — all in the shared `Arc<PodSpec>`, so none of it
//!   costs a pod anything;
//! - every kind but [`Pod`] is boxed inside [`Object`], so the common case (pods) is
//!   one allocation of the pod's own size.
//!
//! Objects are immutable once stored: the store hands out `Arc<Object>`; a change is a
//! modified clone written back with [`crate::store::Store::update`].
//!
//! [`Object::to_json`] renders any object in its Kubernetes JSON form (the shape
//! `kubectl get -o json` prints); scenario field paths read that form.

mod apps;
mod batch;
mod core_kinds;
mod kind;
mod meta;
mod misc;
mod object;
mod pod;
mod render;
mod service;
mod storage;

pub use apps::*;
pub use batch::*;
pub use core_kinds::*;
pub use kind::*;
pub use meta::*;
pub use misc::*;
pub use object::*;
pub use pod::*;
pub use service::*;
pub use storage::*;
