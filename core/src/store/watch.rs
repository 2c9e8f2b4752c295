//! The per-kind watch log and its watchers.
//!
//! Each kind has one [`WatchLog`]: a bounded ring of [`WatchEvent`]s in resourceVersion
//! order behind one mutex, plus a condvar for blocking waits. Event `i` of the kind's
//! history has sequence number `i`; the ring holds sequence numbers
//! `first_seq .. first_seq + len`. A [`Watcher`] is a cursor (the next sequence number
//! it will deliver). Pushing past the window drops the oldest event (and with it the
//! log's reference to that object version) and records its resourceVersion as
//! `evicted_rv`: a watch can start from any `rv >= evicted_rv`, and a watcher whose
//! cursor fell below `first_seq` gets [`Error::Expired`] — never a silent gap.
//!
//! The hand-off is plain mutex + condvar (`parking_lot`), no lock-free code, so no loom
//! model is needed: every access to the ring happens under its mutex.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::{Error, Result};
use crate::model::{Kind, Object};

/// What happened to the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchEventType {
    /// Created.
    Added,
    /// Changed (including "deletion requested": deletionTimestamp set).
    Modified,
    /// Removed; the event carries the last state.
    Deleted,
}

/// One change to one object.
#[derive(Clone, Debug)]
pub struct WatchEvent {
    /// What happened.
    pub type_: WatchEventType,
    /// The object after the change (for `Deleted`: its last state, with the
    /// resourceVersion of the deletion).
    pub object: Arc<Object>,
    /// The store's resourceVersion of this change (= `object.meta().resource_version`).
    pub resource_version: u64,
}

/// One kind's event log. See the module docs.
pub(crate) struct WatchLog {
    kind: Kind,
    state: Mutex<LogState>,
    cond: Condvar,
}

/// The ring, guarded by [`WatchLog::state`].
pub(crate) struct LogState {
    events: VecDeque<WatchEvent>,
    /// Sequence number of `events[0]`.
    first_seq: u64,
    /// resourceVersion of the newest evicted event (0: nothing evicted yet).
    evicted_rv: u64,
    window: usize,
}

impl WatchLog {
    pub(crate) fn new(kind: Kind, window: usize) -> Self {
        WatchLog {
            kind,
            state: Mutex::new(LogState {
                events: VecDeque::new(),
                first_seq: 0,
                evicted_rv: 0,
                window: window.max(1),
            }),
            cond: Condvar::new(),
        }
    }

    /// Locks the ring (writers: to draw a resourceVersion and push its event).
    pub(crate) fn lock(&self) -> MutexGuard<'_, LogState> {
        self.state.lock()
    }

    /// Wakes blocked watchers. Call after releasing the lock.
    pub(crate) fn notify(&self) {
        self.cond.notify_all();
    }

    /// A watcher positioned after `rv` (see [`crate::store::Store::watch`]).
    pub(crate) fn watcher(self: &Arc<Self>, rv: u64) -> Result<Watcher> {
        let st = self.state.lock();
        let next_seq = if rv == 0 {
            st.first_seq
        } else {
            if rv < st.evicted_rv {
                return Err(Error::Expired {
                    requested: rv,
                    oldest: st.evicted_rv,
                });
            }
            st.first_seq + st.events.partition_point(|e| e.resource_version <= rv) as u64
        };
        Ok(Watcher {
            log: Arc::clone(self),
            cursor: Cursor { next_seq, rv },
        })
    }

    /// Checks the ring's invariants (for `check_indexes`).
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        let st = self.state.lock();
        if st.events.len() > st.window {
            return Err(format!(
                "{}: {} events retained, window {}",
                self.kind,
                st.events.len(),
                st.window
            ));
        }
        let mut prev = st.evicted_rv;
        for e in &st.events {
            if e.resource_version <= prev {
                return Err(format!(
                    "{}: watch log out of order: rv {} after {}",
                    self.kind, e.resource_version, prev
                ));
            }
            if e.object.meta().resource_version != e.resource_version
                || e.object.kind() != self.kind
            {
                return Err(format!(
                    "{}: event rv {} carries a wrong object",
                    self.kind, e.resource_version
                ));
            }
            prev = e.resource_version;
        }
        Ok(())
    }

    /// Number of retained events and the oldest resourceVersion a watch can start from.
    pub(crate) fn retained(&self) -> (usize, u64) {
        let st = self.state.lock();
        (st.events.len(), st.evicted_rv)
    }
}

impl LogState {
    /// Appends an event; returns the evicted one (drop it after unlocking).
    pub(crate) fn push(&mut self, event: WatchEvent) -> Option<WatchEvent> {
        let evicted = if self.events.len() >= self.window {
            let old = self.events.pop_front();
            if let Some(old) = &old {
                self.evicted_rv = old.resource_version;
                self.first_seq += 1;
            }
            old
        } else {
            None
        };
        self.events.push_back(event);
        evicted
    }
}

/// A cursor into one kind's event log: every event after its starting resourceVersion,
/// each exactly once, in resourceVersion order — or [`Error::Expired`] once it has
/// fallen out of the retained window (then it stays expired: list again and start a
/// new watch).
///
/// A watcher pins nothing: the window alone decides which events (and so which old
/// object versions) are retained, so a stalled watcher costs no memory — it expires.
pub struct Watcher {
    log: Arc<WatchLog>,
    cursor: Cursor,
}

/// A watcher's position.
struct Cursor {
    /// Sequence number of the next event to deliver.
    next_seq: u64,
    /// resourceVersion of the last event delivered (or the starting one).
    rv: u64,
}

impl Cursor {
    /// Whether the log holds an event after the cursor (or has dropped some: then the
    /// next take reports the expiry).
    fn pending(&self, st: &LogState) -> bool {
        self.next_seq < st.first_seq + st.events.len() as u64
    }

    fn expired(&self, st: &LogState) -> Error {
        Error::Expired {
            requested: self.rv,
            oldest: st.evicted_rv,
        }
    }

    /// Copies up to `max` events after the cursor into `out` and advances.
    fn take(&mut self, st: &LogState, out: &mut Vec<WatchEvent>, max: usize) -> Result<usize> {
        if self.next_seq < st.first_seq {
            return Err(self.expired(st));
        }
        let start = (self.next_seq - st.first_seq) as usize;
        let n = st.events.len().saturating_sub(start).min(max);
        out.extend(st.events.range(start..start + n).cloned());
        if n > 0 {
            self.next_seq += n as u64;
            self.rv = st.events[start + n - 1].resource_version;
        }
        Ok(n)
    }
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("kind", &self.log.kind)
            .field("resource_version", &self.cursor.rv)
            .finish()
    }
}

impl Watcher {
    /// The kind watched.
    pub fn kind(&self) -> Kind {
        self.log.kind
    }

    /// The resourceVersion of the last event delivered (or the starting one).
    pub fn resource_version(&self) -> u64 {
        self.cursor.rv
    }

    /// Up to `max` pending events, oldest first, without blocking (empty when caught up).
    ///
    /// # Errors
    ///
    /// [`Error::Expired`] when events this watcher has not seen were dropped from the
    /// window.
    pub fn poll(&mut self, max: usize) -> Result<Vec<WatchEvent>> {
        let mut out = Vec::new();
        self.poll_into(&mut out, max)?;
        Ok(out)
    }

    /// Like [`poll`](Self::poll), appending to `out` (no allocation when `out` has
    /// room). Returns how many events were appended.
    ///
    /// # Errors
    ///
    /// [`Error::Expired`], as [`poll`](Self::poll).
    pub fn poll_into(&mut self, out: &mut Vec<WatchEvent>, max: usize) -> Result<usize> {
        let st = self.log.state.lock();
        self.cursor.take(&st, out, max)
    }

    /// Whether an event after the cursor is in the log (or the watcher has expired:
    /// the next poll reports it).
    pub fn has_pending(&self) -> bool {
        self.cursor.pending(&self.log.state.lock())
    }

    /// Waits up to `timeout` until an event after the cursor is in the log, without
    /// taking it; `true` if one is (then [`poll_into`](Self::poll_into) takes it with
    /// whatever else arrived meanwhile).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let log = &self.log;
        let mut st = log.state.lock();
        loop {
            if self.cursor.pending(&st) {
                return true;
            }
            match deadline {
                Some(d) => {
                    if log.cond.wait_until(&mut st, d).timed_out() {
                        return self.cursor.pending(&st);
                    }
                }
                None => log.cond.wait(&mut st),
            }
        }
    }

    /// The next event, waiting up to `timeout` for one (for real-time runtimes).
    /// `Ok(None)` when none arrived in time.
    ///
    /// # Errors
    ///
    /// [`Error::Expired`], as [`poll`](Self::poll).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<WatchEvent>> {
        let deadline = Instant::now().checked_add(timeout);
        let log = &self.log;
        let mut st = log.state.lock();
        let mut one = Vec::with_capacity(1);
        loop {
            if self.cursor.take(&st, &mut one, 1)? == 1 {
                return Ok(one.pop());
            }
            match deadline {
                Some(d) => {
                    if log.cond.wait_until(&mut st, d).timed_out() {
                        let n = self.cursor.take(&st, &mut one, 1)?;
                        return Ok(if n == 1 { one.pop() } else { None });
                    }
                }
                None => log.cond.wait(&mut st),
            }
        }
    }
}
