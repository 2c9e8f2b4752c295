//! [`Store::bind`]: the API server's `pods/binding` subresource — a pod's node
//! assignment and its `PodScheduled=True` condition in one write.

use std::sync::Arc;

use super::{check_preconditions, not_found, Error, Result, Store, Trash, WatchEventType};
use crate::intern::Str;
use crate::model::{ConditionStatus, Kind, Object, ObjectMeta, Uid};

/// A `Binding` (`POST /api/v1/namespaces/<ns>/pods/<name>/binding`): which node a pod
/// goes to, with optional preconditions on the pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Binding {
    /// The pod's namespace.
    pub namespace: Str,
    /// The pod's name.
    pub name: String,
    /// Bind only if the stored pod has this uid (`Uid(0)`: no precondition).
    pub uid: Uid,
    /// Bind only if the stored pod has this resourceVersion (0: no precondition).
    pub resource_version: u64,
    /// The node (`target.name`).
    pub node: Str,
}

impl Binding {
    /// A binding of the pod `namespace/name` to `node`, without preconditions.
    pub fn new(namespace: &str, name: &str, node: &str) -> Self {
        Binding {
            namespace: Str::from(namespace),
            name: name.to_string(),
            uid: Uid(0),
            resource_version: 0,
            node: Str::from(node),
        }
    }

    /// A binding of `pod` (its namespace and name) to `node`, with the pod's uid and
    /// resourceVersion as preconditions (what a scheduler that read `pod` sends).
    pub fn of(pod: &ObjectMeta, node: &str) -> Self {
        Binding {
            namespace: pod.namespace.clone(),
            name: pod.name.to_string(),
            uid: pod.uid,
            resource_version: pod.resource_version,
            node: Str::from(node),
        }
    }
}

impl Store {
    /// Binds a pod to a node in **one write** (one resourceVersion, one `Modified`
    /// event), as the API server's `pods/binding` subresource does: sets
    /// `spec.nodeName` and the `PodScheduled` condition to True (its transition time
    /// = now, kept if it was True already); a pending "unschedulable" message in
    /// `status.reason` (left by a `PodScheduled=False`) is cleared, as upstream's
    /// condition update replaces the condition's reason and message. `generation`
    /// bumps (the spec changed), as with an update setting `nodeName`.
    ///
    /// Runs under the pod's key lock like every write (see the module docs): the
    /// checks and the write are atomic with respect to every other write of the pod.
    ///
    /// # Errors
    ///
    /// - [`Error::NotFound`]: no such pod;
    /// - [`Error::Conflict`]: the uid or resourceVersion precondition failed;
    /// - [`Error::BindConflict`] (a conflict too, [`Error::is_conflict`]): the pod is
    ///   already assigned to a node (`pod web-1 is already assigned to node "n1"`),
    ///   or being deleted (`pod web-1 is being deleted, cannot be assigned to a
    ///   host`);
    /// - [`Error::Invalid`]: an empty node name.
    pub fn bind(&self, binding: &Binding) -> Result<Arc<Object>> {
        let now = self.clock().now();
        let ks = self.ks(Kind::Pod);
        let (namespace, name) = (binding.namespace.as_str(), binding.name.as_str());
        if binding.node.is_empty() {
            return Err(Error::Invalid {
                kind: Kind::Pod,
                name: name.to_string(),
                reason: "target.name: Required value".to_string(),
            });
        }
        let mut trash = Trash::default();
        let stored;
        let bound = {
            let (mut at, found) = Self::lock_stored(ks, namespace, name)?;
            stored = found;
            let mut sent = ObjectMeta::named(namespace, name);
            sent.uid = binding.uid;
            sent.resource_version = binding.resource_version;
            check_preconditions(&stored, &sent)?;
            let Object::Pod(pod) = &*stored else {
                return Err(not_found(Kind::Pod, namespace, name));
            };
            let refuse = |reason: String| Error::BindConflict {
                namespace: namespace.to_string(),
                name: name.to_string(),
                reason,
            };
            if pod.meta.is_being_deleted() {
                return Err(refuse(format!(
                    "pod {name} is being deleted, cannot be assigned to a host"
                )));
            }
            if let Some(node) = pod.node_name.as_ref().filter(|n| !n.is_empty()) {
                return Err(refuse(format!(
                    "pod {name} is already assigned to node {:?}",
                    node.as_str()
                )));
            }
            let mut new = pod.clone();
            new.node_name = Some(binding.node.clone());
            if new.meta.generation > 0 {
                new.meta.generation += 1;
            }
            if new.status.conditions.scheduled.status == Some(ConditionStatus::False) {
                new.status.reason = None;
            }
            new.status
                .conditions
                .scheduled
                .set(ConditionStatus::True, now);
            let t = WatchEventType::Modified;
            self.put_locked(&mut at, Some(&stored), Object::Pod(new), t, &mut trash)
        };
        ks.log.notify();
        drop(trash);
        drop(stored);
        Ok(bound)
    }
}
