//! The store's errors, worded like the API server's.

use crate::model::Kind;

/// A store error. The `Display` forms follow the API server's messages
/// (`pods "web-1" not found`, `Operation cannot be fulfilled on pods "web-1": …`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The object does not exist (HTTP 404).
    #[error("{} {name:?} not found{}", kind.plural(), in_namespace(namespace))]
    NotFound {
        /// Kind.
        kind: Kind,
        /// Namespace (empty for cluster-scoped kinds).
        namespace: String,
        /// Name.
        name: String,
    },
    /// An object with this kind, namespace and name exists (HTTP 409).
    #[error("{} {name:?} already exists{}", kind.plural(), in_namespace(namespace))]
    AlreadyExists {
        /// Kind.
        kind: Kind,
        /// Namespace (empty for cluster-scoped kinds).
        namespace: String,
        /// Name.
        name: String,
    },
    /// A precondition failed (HTTP 409): optimistic concurrency.
    ///
    /// For a resourceVersion precondition (`update`, `update_status`), `expected` is the
    /// resourceVersion the caller sent and `actual` the stored one. For a uid
    /// precondition (a non-zero `meta.uid` in an update, or
    /// [`DeleteOptions::preconditions_uid`](super::DeleteOptions::preconditions_uid)),
    /// they are the two uids' numbers ([`Uid`](crate::model::Uid)`.0`): the object was
    /// deleted and re-created in between.
    #[error(
        "Operation cannot be fulfilled on {} {name:?}{}: the object has been modified; please apply \
         your changes to the latest version and try again (expected {expected}, found {actual})",
        kind.plural(),
        in_namespace(namespace)
    )]
    Conflict {
        /// Kind.
        kind: Kind,
        /// Namespace (empty for cluster-scoped kinds).
        namespace: String,
        /// Name.
        name: String,
        /// What the caller expected (resourceVersion or uid).
        expected: u64,
        /// What is stored.
        actual: u64,
    },
    /// A pod binding was refused (HTTP 409, [`Store::bind`](super::Store::bind)): the
    /// pod is already assigned to a node, or is being deleted. The API server's
    /// wording: `Operation cannot be fulfilled on pods/binding "web-1": pod web-1 is
    /// already assigned to node "n1"`.
    #[error("Operation cannot be fulfilled on pods/binding {name:?}: {reason}")]
    BindConflict {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
        /// Why (upstream's message).
        reason: String,
    },
    /// The object's namespace does not exist (the API answers 404 `namespaces "x" not
    /// found`).
    #[error("namespaces {0:?} not found")]
    NamespaceNotFound(String),
    /// The request is invalid (HTTP 422 or 403): a bad name, a namespace on a
    /// cluster-scoped kind, a new finalizer on an object being deleted, a status update
    /// of a kind without status, creating in a terminating namespace …
    #[error("{kind} {name:?} is invalid: {reason}")]
    Invalid {
        /// Kind.
        kind: Kind,
        /// Name (may be empty when the name itself is missing).
        name: String,
        /// What is wrong, with the field path.
        reason: String,
    },
    /// A watch asked for events older than the retained window (HTTP 410 Gone): list
    /// again and watch from the list's resourceVersion.
    #[error("too old resource version: {requested} ({oldest})")]
    Expired {
        /// The resourceVersion the watch started from, or the last one it delivered.
        requested: u64,
        /// The oldest resourceVersion a watch of this kind can start from now.
        oldest: u64,
    },
    /// A field selector could not be parsed, or names a field the kind does not
    /// support (`field label not supported: spec.foo`).
    #[error("invalid field selector: {0}")]
    InvalidFieldSelector(String),
}

fn in_namespace(ns: &str) -> String {
    if ns.is_empty() {
        String::new()
    } else {
        format!(" in namespace {ns:?}")
    }
}

impl Error {
    /// Whether this is [`Error::NotFound`] (or [`Error::NamespaceNotFound`], which the
    /// API also reports as 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. } | Error::NamespaceNotFound(_))
    }

    /// Whether this is [`Error::Conflict`] or [`Error::BindConflict`] (HTTP 409):
    /// re-read and retry.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. } | Error::BindConflict { .. })
    }

    /// Whether this is [`Error::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self, Error::AlreadyExists { .. })
    }

    /// Whether this is [`Error::Expired`]: relist, then watch again.
    pub fn is_expired(&self) -> bool {
        matches!(self, Error::Expired { .. })
    }
}

/// `Result` with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
