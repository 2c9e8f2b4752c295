//! [`OwnWrites`]: a controller's memory of the object versions it wrote itself, so that
//! `map_event` can skip the echo of its own write.

use fnv::FnvHashMap;
use parking_lot::Mutex;

use super::{WriteOutcome, WriteResult};
use crate::model::ObjectKey;
use crate::store::{WatchEvent, WatchEventType};

/// The resourceVersion of the last version of each object a controller wrote
/// (recorded in [`Controller::applied`](super::Controller::applied)), so that its
/// `map_event` can recognise the watch event of that very version — the echo of its
/// own write — and skip it.
///
/// Skipping an echo is exact when the controller's reconcile is a function of the
/// stored object that it just brought to the state it wants: reconciling that same
/// version again writes nothing (and in virtual time happens at the same instant, so
/// even its requeue decision is the one already made). Any other version — a write by
/// someone else, or a later one — is not an echo and is mapped as usual.
///
/// Concurrency: one mutex; `record` runs in `applied`, `is_echo` in `map_event`. In
/// virtual time both run on the driver thread, writes being applied (phase 4) before
/// their events are pumped (next round's phase 1), so every echo is recognised. In
/// real time an event may reach `map_event` before `applied` recorded its write: it is
/// then mapped (a redundant, harmless reconcile) and the entry stays until the object's
/// next event or deletion.
#[derive(Debug, Default)]
pub struct OwnWrites {
    written: Mutex<FnvHashMap<ObjectKey, u64>>,
}

impl OwnWrites {
    /// An empty memory.
    pub fn new() -> Self {
        OwnWrites::default()
    }

    /// Records the versions `results` wrote (creates, updates, status updates, binds;
    /// deletes forget the object).
    pub fn record(&self, results: &[WriteResult]) {
        let mut w = self.written.lock();
        for r in results {
            match &r.outcome {
                WriteOutcome::Written(o) => {
                    w.insert(ObjectKey::of(o), o.meta().resource_version);
                }
                WriteOutcome::Deleted(_) => {
                    w.remove(&r.key);
                }
                WriteOutcome::Failed(_) | WriteOutcome::Skipped => {}
            }
        }
    }

    /// Whether `ev` is the echo of the last write recorded for its object. Any event of
    /// the object clears the entry (a later echo cannot match an older version).
    pub fn is_echo(&self, ev: &WatchEvent) -> bool {
        let mut w = self.written.lock();
        if w.is_empty() {
            return false;
        }
        let key = ObjectKey::of(&ev.object);
        match w.remove(&key) {
            Some(rv) => ev.type_ != WatchEventType::Deleted && rv == ev.resource_version,
            None => false,
        }
    }

    /// Objects remembered (for tests and debugging).
    pub fn len(&self) -> usize {
        self.written.lock().len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{ConfigMap, Kind, Object, ObjectMeta};
    use crate::runtime::Verb;
    use crate::store::{Deleted, Store};

    fn ev(obj: &Arc<Object>, type_: WatchEventType) -> WatchEvent {
        WatchEvent {
            type_,
            object: Arc::clone(obj),
            resource_version: obj.meta().resource_version,
        }
    }

    #[test]
    fn only_the_written_version_is_an_echo() {
        let store = Store::new();
        let cm = Object::from(ConfigMap {
            meta: ObjectMeta::named("default", "a"),
            data: vec![],
        });
        let mine = store.create(cm).unwrap();
        let own = OwnWrites::new();
        let written = |o: &Arc<Object>| WriteResult {
            verb: Verb::Create,
            key: ObjectKey::of(o),
            outcome: WriteOutcome::Written(Arc::clone(o)),
        };
        own.record(&[written(&mine)]);
        assert_eq!(own.len(), 1);
        assert!(own.is_echo(&ev(&mine, WatchEventType::Added)));
        // Seen once: the entry is gone.
        assert!(!own.is_echo(&ev(&mine, WatchEventType::Added)));
        // Someone else's later version is not an echo, and clears the entry.
        own.record(&[written(&mine)]);
        let mut theirs = (*mine).clone();
        theirs.meta_mut().labels = [("x", "y")].into_iter().collect();
        let theirs = store.update(theirs).unwrap();
        assert!(!own.is_echo(&ev(&theirs, WatchEventType::Modified)));
        assert!(own.is_empty());
        // A delete forgets; a Deleted event is never an echo.
        own.record(&[written(&theirs)]);
        let gone = store
            .delete(Kind::ConfigMap, "default", "a", &Default::default())
            .unwrap();
        assert!(!own.is_echo(&ev(&theirs, WatchEventType::Deleted)));
        own.record(&[written(&theirs)]);
        own.record(&[WriteResult {
            verb: Verb::Delete,
            key: ObjectKey::of(&theirs),
            outcome: WriteOutcome::Deleted(Deleted::Gone(Arc::clone(gone.object()))),
        }]);
        assert!(own.is_empty());
    }
}
