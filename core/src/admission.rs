//! Mutating admission at create time: the two default-on admission plugins of the API
//! server whose effect shows in an object's spec.
//!
//! [`crate::store::Store::create`] calls [`Admission::admit`] on every object it is
//! asked to create (by a manifest, a scenario step or a controller) after the namespace
//! check and before the object is stored — as upstream's admission chain runs on
//! `CREATE` only; updates are not admitted.
//!
//! - **DefaultTolerationSeconds** (`plugin/pkg/admission/defaulttolerationseconds`): a
//!   Pod that does not tolerate `node.kubernetes.io/not-ready:NoExecute` gets the
//!   toleration `{key: node.kubernetes.io/not-ready, operator: Exists, effect:
//!   NoExecute, tolerationSeconds: N}`, and likewise for
//!   `node.kubernetes.io/unreachable`, appended in that order. A toleration tolerates
//!   one of them when its key is that key or empty and its effect is `NoExecute` or
//!   empty (upstream's exact test, whatever the operator). `N` is
//!   [`AdmissionConfig::default_toleration_seconds`] (`--default-not-ready-toleration-
//!   seconds` / `--default-unreachable-toleration-seconds`, 300); `None` turns the
//!   plugin off. DaemonSet pods already carry their own (forever) tolerations from the
//!   DaemonSet controller, so they are left alone.
//! - **DefaultStorageClass** (`plugin/pkg/admission/storage/storageclass/setdefault`):
//!   a PersistentVolumeClaim created without `spec.storageClassName` gets the name of
//!   the default StorageClass — the newest StorageClass annotated
//!   `storageclass.kubernetes.io/is-default-class: "true"`
//!   ([`crate::controllers::volumes::default_class`]), read from the store. An explicit
//!   `""` (no class) is kept, and with no default class the field stays unset.
//!
//! # Cost and concurrency
//!
//! Pods are created by the hundred thousand from a few templates whose spec is one
//! shared `Arc<PodSpec>`. Admitted specs are remembered (input `Arc` → admitted `Arc`)
//! in [`MEMO_SLOTS`] shards chosen by the input's address, each a map of up to
//! [`MEMO_PER_SLOT`] entries (cleared when full), so the pods of one template share one
//! admitted spec even when thousands of templates create pods interleaved: the
//! tolerations are cloned once per template, not per pod. (An entry holds its input
//! `Arc`, so the address cannot be reused while it is remembered.) A pod that already
//! tolerates both taints is not touched. Each shard is a `parking_lot::Mutex` taken
//! with `try_lock`: a creating thread that finds it busy computes the admitted spec on
//! its own (same result, one more allocation), so concurrent creates never wait on each
//! other here. The two default tolerations are built once per [`Admission`].

use std::sync::Arc;

use parking_lot::Mutex;

use crate::intern::intern;
use crate::model::{Kind, Object, PodSpec, TaintEffect, Toleration, TolerationOperator};
use crate::store::Store;

/// The taint key of a node whose Ready condition is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint key of a node whose Ready condition is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The API server's default `tolerationSeconds` of the two default tolerations.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// What the admission plugins do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// DefaultTolerationSeconds: the `tolerationSeconds` of the default not-ready and
    /// unreachable tolerations (300); `None` disables the plugin.
    pub default_toleration_seconds: Option<i64>,
    /// DefaultStorageClass: whether claims without a class get the default class
    /// (on, as upstream's default plugin set).
    pub default_storage_class: bool,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            default_toleration_seconds: Some(DEFAULT_TOLERATION_SECONDS),
            default_storage_class: true,
        }
    }
}

/// Remembered pod specs of one shard: input address → (as given, as admitted).
type SpecMemo = fnv::FnvHashMap<usize, (Arc<PodSpec>, Arc<PodSpec>)>;

/// Shards of the admitted-spec memory (see the [module docs](self#cost-and-concurrency)).
pub const MEMO_SLOTS: usize = 64;

/// Entries per shard of the admitted-spec memory before it is cleared.
pub const MEMO_PER_SLOT: usize = 512;

/// The admission chain of a store (see the [module docs](self)). Cloning shares the
/// memory of the last admitted pod spec.
#[derive(Clone, Debug)]
pub struct Admission {
    config: AdmissionConfig,
    /// The two default tolerations (not-ready, unreachable), built once.
    defaults: Arc<[Toleration; 2]>,
    memo: Arc<[Mutex<SpecMemo>]>,
}

impl Default for Admission {
    fn default() -> Self {
        Admission::new(AdmissionConfig::default())
    }
}

impl PartialEq for Admission {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
    }
}

/// The default toleration of `key` (`Exists`, `NoExecute`, for `seconds`).
fn default_toleration(key: &str, seconds: i64) -> Toleration {
    Toleration {
        key: Some(intern(key)),
        operator: TolerationOperator::Exists,
        value: None,
        effect: Some(TaintEffect::NoExecute),
        toleration_seconds: Some(seconds),
    }
}

/// Whether one of `tolerations` covers the `NoExecute` taint `key` in upstream's sense
/// (key equal or empty, effect `NoExecute` or empty).
pub fn tolerates_no_execute(tolerations: &[Toleration], key: &str) -> bool {
    tolerations.iter().any(|t| {
        t.key.as_deref().is_none_or(|k| k.is_empty() || k == key)
            && t.effect.is_none_or(|e| e == TaintEffect::NoExecute)
    })
}

/// `tolerations` with the DefaultTolerationSeconds defaults (`seconds`) appended, or
/// `None` when the pod already tolerates both taints.
pub fn with_default_tolerations(
    tolerations: &[Toleration],
    seconds: i64,
) -> Option<Vec<Toleration>> {
    let defaults = [
        default_toleration(TAINT_NOT_READY, seconds),
        default_toleration(TAINT_UNREACHABLE, seconds),
    ];
    add_defaults(tolerations, &defaults)
}

fn add_defaults(tolerations: &[Toleration], defaults: &[Toleration; 2]) -> Option<Vec<Toleration>> {
    let not_ready = tolerates_no_execute(tolerations, TAINT_NOT_READY);
    let unreachable = tolerates_no_execute(tolerations, TAINT_UNREACHABLE);
    if not_ready && unreachable {
        return None;
    }
    let mut out = Vec::with_capacity(tolerations.len() + 2);
    out.extend_from_slice(tolerations);
    if !not_ready {
        out.push(defaults[0].clone());
    }
    if !unreachable {
        out.push(defaults[1].clone());
    }
    Some(out)
}

impl Admission {
    /// An admission chain with this configuration.
    pub fn new(config: AdmissionConfig) -> Self {
        let s = config
            .default_toleration_seconds
            .unwrap_or(DEFAULT_TOLERATION_SECONDS);
        Admission {
            config,
            defaults: Arc::new([
                default_toleration(TAINT_NOT_READY, s),
                default_toleration(TAINT_UNREACHABLE, s),
            ]),
            memo: (0..MEMO_SLOTS)
                .map(|_| Mutex::new(SpecMemo::default()))
                .collect(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AdmissionConfig {
        &self.config
    }

    /// `spec` as DefaultTolerationSeconds admits it: `None` when unchanged (plugin off,
    /// or both taints already tolerated).
    pub fn admit_pod_spec(&self, spec: &Arc<PodSpec>) -> Option<Arc<PodSpec>> {
        self.config.default_toleration_seconds?;
        let addr = Arc::as_ptr(spec) as usize;
        let slot =
            &self.memo[((addr >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) & (MEMO_SLOTS - 1)];
        if let Some(memo) = slot.try_lock() {
            if let Some((given, admitted)) = memo.get(&addr) {
                if Arc::ptr_eq(given, spec) {
                    return Some(Arc::clone(admitted));
                }
            }
        }
        let tolerations = add_defaults(&spec.tolerations, &self.defaults)?;
        let mut admitted = PodSpec::clone(spec);
        admitted.tolerations = tolerations;
        let admitted = Arc::new(admitted);
        if let Some(mut memo) = slot.try_lock() {
            if memo.len() >= MEMO_PER_SLOT {
                memo.clear();
            }
            memo.insert(addr, (Arc::clone(spec), Arc::clone(&admitted)));
        }
        Some(admitted)
    }

    /// Admits `obj`, about to be created in `store` (see the [module docs](self)).
    pub fn admit(&self, store: &Store, obj: &mut Object) {
        match obj {
            Object::Pod(pod) => {
                if let Some(spec) = self.admit_pod_spec(&pod.spec) {
                    pod.spec = spec;
                }
            }
            Object::PersistentVolumeClaim(claim)
                if self.config.default_storage_class && claim.spec.storage_class_name.is_none() =>
            {
                let Ok(objs) = store.list(Kind::StorageClass, None, None, None) else {
                    return;
                };
                let classes: Vec<_> = objs.iter().filter_map(|o| o.as_storage_class()).collect();
                if let Some(c) = crate::controllers::volumes::default_class(&classes) {
                    claim.spec.storage_class_name = Some(c.meta.name.clone());
                }
            }
            _ => {}
        }
    }

    /// For a re-apply (`kubectl apply` of an object that exists): what admission wrote
    /// at creation survives when the manifest leaves it unset — a claim's default
    /// class, and a pod's default tolerations when the manifest's spec admits to the
    /// stored one.
    pub fn keep_admitted(&self, stored: &Object, new: &mut Object) {
        match (new, stored) {
            (Object::PersistentVolumeClaim(n), Object::PersistentVolumeClaim(s))
                if n.spec.storage_class_name.is_none() =>
            {
                n.spec.storage_class_name = s.spec.storage_class_name.clone();
            }
            (Object::Pod(n), Object::Pod(s)) => {
                if let Some(spec) = self.admit_pod_spec(&n.spec) {
                    if *spec == *s.spec {
                        n.spec = Arc::clone(&s.spec);
                    }
                }
            }
            _ => {}
        }
    }
}
