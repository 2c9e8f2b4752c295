//! kubectl's view of objects, for the scenario runner (`kubesim run`).
//!
//! - [`jsonpath`]: [`FieldPath`], the `where`/`fields` paths of a scenario condition
//!   (`status.conditions[type=Ready].status`, `len(subsets[0].addresses)`), evaluated on
//!   an object's Kubernetes JSON form ([`kubesim_core::model::Object::to_json`]).
//! - [`table`]: [`render`], `kubectl get`'s table for a kind (its columns, AGE and pod
//!   STATUS derived as kubectl's printers derive them), and [`kind_from_target`] for
//!   the kind part of a scenario target (`deploy`, `pods`, `po`, `hpa` …).
//!
//! Both work on the JSON form, as kubectl works on what the API server returns: they
//! read exactly what a scenario's field paths read, and nothing of the Rust model.

pub mod jsonpath;
pub mod table;

pub use jsonpath::{FieldPath, Step};
pub use table::{kind_from_target, render};
