//! One adapter per compared store behind one trait ([`StoreImpl`]), so every workload
//! runs the same code against both.
//!
//! - [`Kubesim`] wraps `kubesim_core::store::Store`.
//! - [`KubeRs`] wraps kube-runtime's reflector cache (`kube::runtime::reflector::store`), the
//!   read side a kube-rs controller lists and gets from. Its `Writer` is not `Clone`
//!   (one reflector owns it), so for the two-thread mixed workload it sits behind a
//!   `parking_lot::Mutex`; single-threaded loads use it directly (`Mutex::get_mut`, no
//!   locking). It has no label index: a label-selective list is a scan of the whole
//!   cache under its read lock (`Store::state_filter_selector`, which is `state()` +
//!   filter without cloning every `Arc` first).

use anyhow::{anyhow, bail, Context, Result};
use k8s_openapi::api::core::v1::Pod as KubePod;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher::Event;
use kubesim_core::model::{ConditionStatus, Kind, Object};
use kubesim_core::store::{Store, StoreConfig};
use kubesim_core::time::Timestamp;
use parking_lot::Mutex;

use crate::workload::{SelectorCase, Workload};

/// Which store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum ImplId {
    /// kubesim's store.
    #[value(name = "kubesim")]
    Kubesim,
    /// kube-runtime's reflector store.
    #[value(name = "kube-rs")]
    KubeRs,
}

impl ImplId {
    /// Both, in report order.
    pub const ALL: [ImplId; 2] = [ImplId::Kubesim, ImplId::KubeRs];

    /// The name in reports and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ImplId::Kubesim => "kubesim",
            ImplId::KubeRs => "kube-rs",
        }
    }
}

impl std::fmt::Display for ImplId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a compared store must do for the benchmark.
pub trait StoreImpl: Sized + Sync {
    /// Which one this is.
    const ID: ImplId;
    /// An object ready to be written (built outside timed regions).
    type Input: Send + Clone;
    /// A pre-built lookup key.
    type Key: Send + Sync;

    /// An empty store, ready to take the workload's pods.
    fn new_empty(w: &Workload) -> Result<Self>;
    /// Pod `idx` as this store takes it.
    fn input(w: &Workload, idx: usize) -> Self::Input;
    /// Writes every input (the timed region of `upsert`); inputs that the store does
    /// not take ownership of are left in the vector for the caller to drop.
    fn upsert_all(&mut self, inputs: &mut Vec<Self::Input>) -> Result<()>;
    /// The key of pod `idx`.
    fn key(w: &Workload, idx: usize) -> Self::Key;
    /// Gets by key; whether it was found.
    fn get(&self, key: &Self::Key) -> bool;
    /// Lists pods by the case's label selector (all namespaces); how many.
    fn list(&self, case: &SelectorCase) -> Result<usize>;
    /// Read-modify-write of one pod, from any thread: even `n` flips the Ready
    /// condition and bumps the restart count (a status write), odd `n` toggles a
    /// `canary` label (a metadata write).
    fn update(&self, key: &Self::Key, n: u64) -> Result<()>;
    /// Number of pods held.
    fn len(&self) -> usize;
    /// Whether it holds no pod.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// kubesim's store.
pub struct Kubesim {
    /// The store.
    pub store: Store,
}

impl Kubesim {
    /// An empty store with a given watch window (events retained for watchers), holding
    /// the workload's namespaces.
    pub fn with_watch_window(w: &Workload, watch_window: Option<usize>) -> Result<Self> {
        let store = match watch_window {
            Some(watch_window) => Store::with_config(StoreConfig {
                watch_window,
                ..Default::default()
            }),
            None => Store::new(),
        };
        for ns in w.kubesim_namespaces() {
            store.create(ns).context("creating a namespace")?;
        }
        Ok(Kubesim { store })
    }
}

/// Mutates a kubesim pod as [`StoreImpl::update`] says; whether it is a status write.
fn modify_kubesim(obj: &mut Object, n: u64) -> Result<bool> {
    let Object::Pod(pod) = obj else {
        bail!("not a pod")
    };
    if n % 2 == 0 {
        let ready = pod.status.conditions.ready.is_true();
        let now = Timestamp(pod.status.conditions.ready.since.millis() + 1000);
        pod.status
            .conditions
            .ready
            .set(ConditionStatus::from_bool(!ready), now);
        pod.status.restart_count += 1;
        Ok(true)
    } else {
        let labels = &pod.meta.labels;
        pod.meta.labels = if labels.contains_key("canary") {
            labels.without("canary")
        } else {
            labels.with("canary", "true")
        };
        Ok(false)
    }
}

impl StoreImpl for Kubesim {
    const ID: ImplId = ImplId::Kubesim;
    type Input = Object;
    type Key = (String, String);

    fn new_empty(w: &Workload) -> Result<Self> {
        Self::with_watch_window(w, None)
    }

    fn input(w: &Workload, idx: usize) -> Object {
        w.kubesim_pod(idx)
    }

    fn upsert_all(&mut self, inputs: &mut Vec<Object>) -> Result<()> {
        for obj in inputs.drain(..) {
            self.store.create(obj)?;
        }
        Ok(())
    }

    fn key(w: &Workload, idx: usize) -> (String, String) {
        let k = w.key(idx);
        (k.namespace, k.name)
    }

    fn get(&self, (ns, name): &(String, String)) -> bool {
        self.store.try_get(Kind::Pod, ns, name).is_some()
    }

    fn list(&self, case: &SelectorCase) -> Result<usize> {
        Ok(self
            .store
            .list(Kind::Pod, None, Some(&case.kubesim), None)?
            .len())
    }

    fn update(&self, (ns, name): &(String, String), n: u64) -> Result<()> {
        // Optimistic concurrency: the precondition is the version we read; another
        // thread may have written the same pod in between, then read again.
        for _ in 0..1000 {
            let current = self
                .store
                .try_get(Kind::Pod, ns, name)
                .ok_or_else(|| anyhow!("pod {ns}/{name} not found"))?;
            let mut obj = Object::clone(&current);
            let result = if modify_kubesim(&mut obj, n)? {
                self.store.update_status(obj)
            } else {
                self.store.update(obj)
            };
            match result {
                Ok(_) => return Ok(()),
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        bail!("pod {ns}/{name}: conflicts on 1000 consecutive updates")
    }

    fn len(&self) -> usize {
        self.store.count(Kind::Pod)
    }
}

/// kube-runtime's reflector store.
pub struct KubeRs {
    /// The read handle (what controllers get from).
    pub reader: reflector::Store<KubePod>,
    /// The write handle (what the reflector's watch stream feeds).
    pub writer: Mutex<reflector::store::Writer<KubePod>>,
}

/// Mutates a kube-rs pod as [`StoreImpl::update`] says.
fn modify_kube(pod: &mut KubePod, n: u64) {
    if n % 2 == 0 {
        if let Some(status) = pod.status.as_mut() {
            if let Some(ready) = status
                .conditions
                .iter_mut()
                .flatten()
                .find(|c| c.type_ == "Ready")
            {
                ready.status = if ready.status == "True" {
                    "False"
                } else {
                    "True"
                }
                .to_string();
            }
            for cs in status.container_statuses.iter_mut().flatten() {
                cs.restart_count += 1;
            }
        }
    } else {
        let labels = pod.metadata.labels.get_or_insert_with(Default::default);
        if labels.remove("canary").is_none() {
            labels.insert("canary".to_string(), "true".to_string());
        }
    }
}

impl KubeRs {
    /// An empty reflector store, marked ready the way a reflector does after its first
    /// (here empty) list: `Init` then `InitDone`. Later objects arrive as `Apply` events,
    /// as watch events do.
    pub fn empty() -> Self {
        let (reader, mut writer) = reflector::store::<KubePod>();
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitDone);
        KubeRs {
            reader,
            writer: Mutex::new(writer),
        }
    }
}

impl StoreImpl for KubeRs {
    const ID: ImplId = ImplId::KubeRs;
    type Input = Event<KubePod>;
    type Key = ObjectRef<KubePod>;

    fn new_empty(_w: &Workload) -> Result<Self> {
        Ok(Self::empty())
    }

    fn input(w: &Workload, idx: usize) -> Event<KubePod> {
        Event::Apply(w.kube_pod(idx))
    }

    fn upsert_all(&mut self, inputs: &mut Vec<Event<KubePod>>) -> Result<()> {
        // `apply_watcher_event` takes the event by reference and clones the object into
        // an `Arc`; the events are dropped by the caller, outside the timed region.
        let writer = self.writer.get_mut();
        for ev in inputs.iter() {
            writer.apply_watcher_event(ev);
        }
        Ok(())
    }

    fn key(w: &Workload, idx: usize) -> ObjectRef<KubePod> {
        let k = w.key(idx);
        ObjectRef::new(&k.name).within(&k.namespace)
    }

    fn get(&self, key: &ObjectRef<KubePod>) -> bool {
        self.reader.get(key).is_some()
    }

    fn list(&self, case: &SelectorCase) -> Result<usize> {
        Ok(self.reader.state_filter_selector(&case.kube).len())
    }

    fn update(&self, key: &ObjectRef<KubePod>, n: u64) -> Result<()> {
        let current = self
            .reader
            .get(key)
            .ok_or_else(|| anyhow!("pod {key} not found"))?;
        let mut pod = KubePod::clone(&current);
        modify_kube(&mut pod, n);
        self.writer.lock().apply_watcher_event(&Event::Apply(pod));
        Ok(())
    }

    fn len(&self) -> usize {
        self.reader.len()
    }
}
