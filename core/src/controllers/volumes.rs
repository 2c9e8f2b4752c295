//! The PersistentVolume controller: binds claims to volumes, provisions volumes for
//! claims of a StorageClass, and reclaims volumes whose claim is gone (upstream's
//! `persistentvolume-controller` and a simulated dynamic provisioner).
//!
//! # One queue key
//!
//! Binding is an allocation: in virtual time every reconcile of a round reads the same
//! store snapshot, so two reconciles of two claims could both take the same volume.
//! Hence, as for the scheduler, **every PersistentVolume, PersistentVolumeClaim and
//! StorageClass event maps to one key**, [`queue_key`] (`PersistentVolumeClaim` /
//! namespace `""` / name `volume-binder`; no real claim has it, claims always have a
//! namespace), and one reconcile does all the work, remembering the volumes it took so
//! that no volume is given twice. Pod events map to the key only for pods (not being
//! deleted) that use a claim which is not `Bound` (they may be the first consumer of a
//! `WaitForFirstConsumer` claim).
//!
//! # One reconcile, in this order
//!
//! 1. **Volumes whose claim is gone** (the PV's `claimRef` has a uid and no claim with
//!    that namespace/name/uid exists), per the PV's reclaim policy: `Retain` → phase
//!    `Released` (claimRef kept, never bound again); `Delete` → the PV is deleted (uid
//!    precondition); `Recycle` → claimRef cleared and phase `Available` (the scrub is
//!    instantaneous; Event `VolumeRecycled`), so it can be bound again from the next
//!    round on. A volume whose claim exists and names it but whose phase is not
//!    `Bound` (an interrupted bind) gets phase `Bound`.
//! 2. **Claims**, by (`creationTimestamp`, namespace, name), skipping claims being
//!    deleted:
//!    - `Pending` with `spec.volumeName` (pre-bound): bound to that volume if it exists,
//!      is `Available`, is not reserved for another claim, is not taken this round, and
//!      satisfies the claim's size, access modes and effective class (the selector is
//!      not checked, as upstream); otherwise it stays Pending with a `FailedBinding`
//!      Event saying why.
//!    - `Pending` otherwise: a volume pre-bound to the claim (`claimRef` naming it,
//!      without uid or with its uid — e.g. the PV of an interrupted bind) that fits is
//!      taken first; else the **smallest** fitting `Available`, unreserved volume
//!      (by capacity, then name). A volume fits ([`volume_fits`]) when its capacity ≥
//!      the request, its access modes ⊇ the claim's, its class equals the claim's
//!      [`effective_class`] and the claim's selector (if any) matches its labels.
//!    - None fits and the effective class names a StorageClass whose provisioner is not
//!      [`NO_PROVISIONER`]: a volume [`provisioned_name`] (`pvc-<claim uid>`) is created
//!      with exactly the requested size, the claim's access modes, the class's reclaim
//!      policy, `claimRef` set to the claim (with uid) and phase `Available`, annotated
//!      [`ANNOTATION_PROVISIONED_BY`]; Event `ProvisioningSucceeded` on the claim. Its
//!      creation event brings the key back, and the next round binds the claim to it
//!      as a pre-bound volume (upstream too provisions, then binds) — so a failed
//!      create never leaves a claim pointing at a missing volume.
//!    - Otherwise the claim stays Pending: `FailedBinding` ("no persistent volumes
//!      available for this claim and no storage class is set"), or
//!      `ProvisioningFailed` when the class does not exist or cannot provision.
//!    - `Bound` claims are checked: volume gone → phase `Lost`; volume `claimRef` to
//!      another claim → `Lost`; volume with no `claimRef` (an interrupted bind) → the
//!      volume side is written again.
//!
//! A bind writes the volume first (spec `claimRef` with the claim's uid, resourceVersion
//! precondition; then status `Bound`), then the claim (spec `volumeName`, then status
//! `Bound` with the volume's capacity and access modes), as upstream does: a crash
//! in between leaves a volume pointing at a claim, which the next round completes.
//!
//! # Simplifications
//!
//! - **WaitForFirstConsumer**: a claim of such a class is neither bound nor
//!   provisioned until a pod (not being deleted) in its namespace uses it; Event
//!   `WaitForFirstConsumer` meanwhile. Upstream also waits for the scheduler to pick a
//!   node (and provisions on it); kubesim's scheduler treats every claim as
//!   Immediate (it keeps pods with unbound claims Pending), so waiting for
//!   `spec.nodeName` would never end — the existence of a consumer is the trigger, and
//!   topology is not modelled.
//! - A claim created without `storageClassName` gets the default class written in at
//!   creation by the DefaultStorageClass admission ([`crate::admission`]). A claim
//!   that still has none (no default class then) is bound with the default class *at
//!   reconcile time* (upstream's retroactive assignment would write it into the claim;
//!   kubesim does not write it). With several default classes the newest wins (by
//!   creation time, then name).
//! - Any provisioner but [`NO_PROVISIONER`] is served by the simulated provisioner
//!   ([`PROVISIONER`] is the suggested name); provisioning is instantaneous. A
//!   `Delete` volume is simply deleted; `Recycle` scrubs instantly.
//! - Not modelled: volume modes (Filesystem/Block), data sources, expansion, the
//!   `pvc-protection`/`pv-protection` finalizers, node affinity of volumes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::dispatch::{stable_hash, Affinity};
use crate::intern::{intern, Str};
use crate::model::{
    EventType, Kind, Object, ObjectKey, ObjectMeta, ObjectRef, PersistentVolume,
    PersistentVolumeClaim, PvPhase, PvSpec, PvStatus, PvcPhase, ReclaimPolicy, StorageClass,
    VolumeBindingMode, VolumeSource,
};
use crate::runtime::{Controller, Ctx, ReconcileError, Requeue, Routed, StoreView};
use crate::store::{DeleteOptions, WatchEvent, WatchEventType};

/// The controller's name: the `source` of its Events, as upstream's.
pub const CONTROLLER_NAME: &str = "persistentvolume-controller";

/// The name of the single queue key (see [`queue_key`]).
pub const QUEUE_KEY_NAME: &str = "volume-binder";

/// The provisioner name of kubesim's simulated provisioner (what the scenarios'
/// default class `standard` uses). Any provisioner but [`NO_PROVISIONER`] is served.
pub const PROVISIONER: &str = "kubesim.io/hostpath";

/// Upstream's provisioner name for classes without dynamic provisioning.
pub const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";

/// Annotation set on provisioned volumes: the provisioner that made them.
pub const ANNOTATION_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";

/// Message of the `FailedBinding` Event of a claim with no fitting volume and no class.
pub const NO_VOLUME_NO_CLASS: &str =
    "no persistent volumes available for this claim and no storage class is set";

/// The one key all binding work maps to (see the module docs).
pub fn queue_key() -> ObjectKey {
    ObjectKey::new(Kind::PersistentVolumeClaim, "", QUEUE_KEY_NAME)
}

/// The default StorageClass among `classes`: the newest (creation time, then name)
/// marked with the default-class annotation.
pub fn default_class<'a>(classes: &[&'a StorageClass]) -> Option<&'a StorageClass> {
    classes
        .iter()
        .copied()
        .filter(|c| c.is_default())
        .max_by(|a, b| {
            (a.meta.creation_timestamp, &a.meta.name)
                .cmp(&(b.meta.creation_timestamp, &b.meta.name))
        })
}

/// The class a claim asks for: its `storageClassName` when set (`""` = no class),
/// else the default class's name (`default`), else `""`.
pub fn effective_class(claim: &PersistentVolumeClaim, default: Option<&str>) -> Str {
    match &claim.spec.storage_class_name {
        Some(c) => c.clone(),
        None => intern(default.unwrap_or("")),
    }
}

/// A volume's class (`None` and `""` both mean no class).
pub fn volume_class(pv: &PersistentVolume) -> &str {
    pv.spec.storage_class_name.as_deref().unwrap_or("")
}

/// Why `pv` cannot satisfy `claim` of effective class `class` (upstream's wording
/// where it has one), checking size, class and access modes — not the selector.
///
/// # Errors
///
/// The first mismatch.
pub fn check_satisfies(
    pv: &PersistentVolume,
    claim: &PersistentVolumeClaim,
    class: &str,
) -> Result<(), &'static str> {
    if pv.spec.capacity_bytes < claim.spec.request_bytes {
        return Err("requested PV is too small");
    }
    if volume_class(pv) != class {
        return Err("storageClassName does not match");
    }
    if !claim
        .spec
        .access_modes
        .iter()
        .all(|m| pv.spec.access_modes.contains(m))
    {
        return Err("incompatible accessMode");
    }
    Ok(())
}

/// Whether `pv` fits `claim` of effective class `class`: [`check_satisfies`] and the
/// claim's label selector (if any) matches the volume's labels. (Availability is not
/// checked here.)
pub fn volume_fits(pv: &PersistentVolume, claim: &PersistentVolumeClaim, class: &str) -> bool {
    check_satisfies(pv, claim, class).is_ok()
        && claim
            .spec
            .selector
            .as_ref()
            .is_none_or(|s| s.matches(&pv.meta.labels))
}

/// The name of the volume provisioned for a claim: `pvc-<claim uid>`.
pub fn provisioned_name(claim: &PersistentVolumeClaim) -> String {
    format!("pvc-{}", claim.meta.uid)
}

/// The `claimRef` a volume bound to `claim` carries.
pub fn claim_ref(claim: &PersistentVolumeClaim) -> ObjectRef {
    ObjectRef {
        kind: Kind::PersistentVolumeClaim,
        namespace: claim.meta.namespace.clone(),
        name: claim.meta.name.clone(),
        uid: Some(claim.meta.uid),
    }
}

/// Whether a `claimRef` designates `claim` (same namespace and name, and no uid or the
/// claim's uid).
fn ref_designates(r: &ObjectRef, claim: &PersistentVolumeClaim) -> bool {
    r.namespace == claim.meta.namespace
        && r.name == claim.meta.name
        && r.uid.is_none_or(|u| u == claim.meta.uid)
}

/// Whether `pv` may be given to `claim`: `Available` and not reserved for another
/// claim.
fn available_for(pv: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    pv.status.phase == PvPhase::Available
        && !pv.meta.is_being_deleted()
        && pv
            .spec
            .claim_ref
            .as_ref()
            .is_none_or(|r| ref_designates(r, claim))
}

/// The volume (among `pvs`, sorted by name) `claim` of effective class `class` should
/// get: a fitting volume pre-bound to it, else the smallest fitting available one (by
/// capacity, then name), skipping `taken`.
pub fn choose_volume<'a>(
    pvs: &[&'a PersistentVolume],
    claim: &PersistentVolumeClaim,
    class: &str,
    taken: &HashSet<Str>,
) -> Option<&'a PersistentVolume> {
    let usable = |pv: &&&'a PersistentVolume| {
        !taken.contains(&pv.meta.name) && available_for(pv, claim) && volume_fits(pv, claim, class)
    };
    if let Some(pv) = pvs
        .iter()
        .filter(usable)
        .find(|pv| pv.spec.claim_ref.is_some())
    {
        return Some(pv);
    }
    pvs.iter()
        .filter(usable)
        .filter(|pv| pv.spec.claim_ref.is_none())
        .min_by(|a, b| {
            (a.spec.capacity_bytes, &a.meta.name).cmp(&(b.spec.capacity_bytes, &b.meta.name))
        })
        .copied()
}

/// The claims (namespace, name) used by pods not being deleted.
fn consumed_claims(store: StoreView<'_>) -> Result<HashSet<(Str, Str)>, ReconcileError> {
    let mut out = HashSet::new();
    for obj in store.list(Kind::Pod, None, None, None)? {
        let Some(pod) = obj.as_pod() else { continue };
        if pod.meta.is_being_deleted() {
            continue;
        }
        for v in &pod.spec.volumes {
            if let VolumeSource::PersistentVolumeClaim(c) = &v.source {
                out.insert((pod.meta.namespace.clone(), c.clone()));
            }
        }
    }
    Ok(out)
}

/// The PV controller with its simulated provisioner. See the [module docs](self).
#[derive(Debug, Default)]
pub struct VolumeBinder;

impl VolumeBinder {
    /// A binder.
    pub fn new() -> Self {
        VolumeBinder
    }
}

fn routed_key() -> Routed<ObjectKey> {
    Routed::new(queue_key(), Affinity::from_hashes(stable_hash(""), None))
}

/// Records the writes binding `pv` to `claim`: volume spec, volume status, claim spec,
/// claim status (each only if it changes).
fn bind(ctx: &mut Ctx<'_>, pv: &PersistentVolume, claim: &PersistentVolumeClaim) {
    bind_volume_side(ctx, pv, claim);
    let mut spec = claim.clone();
    spec.spec.volume_name = Some(pv.meta.name.clone());
    if spec.spec != claim.spec {
        ctx.update(Object::from(spec));
    }
    let mut status = claim.clone();
    status.meta.resource_version = 0;
    status.status.phase = PvcPhase::Bound;
    status.status.capacity_bytes = Some(pv.spec.capacity_bytes);
    status.status.access_modes = pv.spec.access_modes.clone();
    if status.status != claim.status {
        ctx.update_status(Object::from(status));
    }
}

/// Records the volume half of a bind: `claimRef` (resourceVersion precondition), then
/// phase `Bound`.
fn bind_volume_side(ctx: &mut Ctx<'_>, pv: &PersistentVolume, claim: &PersistentVolumeClaim) {
    let want = Some(claim_ref(claim));
    if pv.spec.claim_ref != want {
        let mut spec = pv.clone();
        spec.spec.claim_ref = want;
        ctx.update(Object::from(spec));
    }
    set_volume_phase(ctx, pv, PvPhase::Bound);
}

fn set_volume_phase(ctx: &mut Ctx<'_>, pv: &PersistentVolume, phase: PvPhase) {
    if pv.status.phase != phase {
        let mut status = pv.clone();
        status.meta.resource_version = 0;
        status.status.phase = phase;
        ctx.update_status(Object::from(status));
    }
}

fn set_claim_lost(ctx: &mut Ctx<'_>, obj: &Object, claim: &PersistentVolumeClaim, message: &str) {
    let mut status = claim.clone();
    status.meta.resource_version = 0;
    status.status.phase = PvcPhase::Lost;
    ctx.update_status(Object::from(status)).on_success(
        obj,
        EventType::Warning,
        "ClaimLost",
        message,
    );
}

impl VolumeBinder {
    /// Step 1 of the reconcile: volumes whose claim is gone, and volumes whose bind was
    /// interrupted after the claim side.
    fn sync_volumes(ctx: &mut Ctx<'_>, pv_objs: &[Arc<Object>]) {
        let store = ctx.store();
        for obj in pv_objs {
            let Some(pv) = obj.as_persistent_volume() else {
                continue;
            };
            let Some(r) = &pv.spec.claim_ref else {
                continue;
            };
            let Some(uid) = r.uid else {
                // Reserved for a claim that may not exist yet.
                continue;
            };
            let claim_obj = store.try_get(Kind::PersistentVolumeClaim, &r.namespace, &r.name);
            let claim = claim_obj
                .as_deref()
                .and_then(Object::as_pvc)
                .filter(|c| c.meta.uid == uid);
            if let Some(claim) = claim {
                if claim.spec.volume_name.as_ref() == Some(&pv.meta.name)
                    && pv.status.phase != PvPhase::Bound
                {
                    set_volume_phase(ctx, pv, PvPhase::Bound);
                }
                continue;
            }
            if pv.meta.is_being_deleted() {
                continue;
            }
            match pv.spec.reclaim_policy {
                ReclaimPolicy::Retain => set_volume_phase(ctx, pv, PvPhase::Released),
                ReclaimPolicy::Delete => {
                    let opts = DeleteOptions {
                        preconditions_uid: Some(pv.meta.uid),
                        ..Default::default()
                    };
                    ctx.delete(Kind::PersistentVolume, "", &pv.meta.name, opts);
                }
                ReclaimPolicy::Recycle => {
                    let mut spec = pv.clone();
                    spec.spec.claim_ref = None;
                    ctx.update(Object::from(spec));
                    let mut status = pv.clone();
                    status.meta.resource_version = 0;
                    status.status.phase = PvPhase::Available;
                    ctx.update_status(Object::from(status)).on_success(
                        obj,
                        EventType::Normal,
                        "VolumeRecycled",
                        format!("Volume recycled: {}", pv.meta.name),
                    );
                }
            }
        }
    }
}

impl Controller for VolumeBinder {
    fn name(&self) -> &'static str {
        CONTROLLER_NAME
    }

    fn primary(&self) -> Kind {
        Kind::PersistentVolumeClaim
    }

    fn watches(&self) -> &[Kind] {
        &[Kind::Pod, Kind::PersistentVolume, Kind::StorageClass]
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        let wanted = match &*ev.object {
            Object::PersistentVolume(_)
            | Object::PersistentVolumeClaim(_)
            | Object::StorageClass(_) => true,
            Object::Pod(pod) => {
                ev.type_ != WatchEventType::Deleted
                    && !pod.meta.is_being_deleted()
                    && pod.spec.volumes.iter().any(|v| match &v.source {
                        VolumeSource::PersistentVolumeClaim(c) => store
                            .try_get(Kind::PersistentVolumeClaim, &pod.meta.namespace, c)
                            .is_some_and(|o| {
                                o.as_pvc()
                                    .is_some_and(|c| c.status.phase == PvcPhase::Pending)
                            }),
                        _ => false,
                    })
            }
            _ => false,
        };
        if wanted {
            out.push(routed_key());
        }
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        if *key != queue_key() {
            // A claim's own key (not made by this controller): nothing to do.
            return Ok(Requeue::Done);
        }
        let store = ctx.store();
        let class_objs = store.list(Kind::StorageClass, None, None, None)?;
        let classes: Vec<&StorageClass> = class_objs
            .iter()
            .filter_map(|o| o.as_storage_class())
            .collect();
        let by_name: HashMap<&str, &StorageClass> =
            classes.iter().map(|c| (c.meta.name.as_str(), *c)).collect();
        let default = default_class(&classes).map(|c| c.meta.name.clone());
        let pv_objs = store.list(Kind::PersistentVolume, None, None, None)?;
        let pvs: Vec<&PersistentVolume> = pv_objs
            .iter()
            .filter_map(|o| o.as_persistent_volume())
            .collect();

        VolumeBinder::sync_volumes(ctx, &pv_objs);

        let mut claim_objs = store.list(Kind::PersistentVolumeClaim, None, None, None)?;
        claim_objs.sort_by(|a, b| {
            let (ma, mb) = (a.meta(), b.meta());
            (ma.creation_timestamp, &ma.namespace, &ma.name).cmp(&(
                mb.creation_timestamp,
                &mb.namespace,
                &mb.name,
            ))
        });
        let mut taken: HashSet<Str> = HashSet::new();
        let mut consumers: Option<HashSet<(Str, Str)>> = None;
        let find_pv = |name: &str| {
            pvs.binary_search_by(|pv| pv.meta.name.as_str().cmp(name))
                .ok()
                .map(|i| pvs[i])
        };
        for obj in &claim_objs {
            let Some(claim) = obj.as_pvc() else { continue };
            if claim.meta.is_being_deleted() {
                continue;
            }
            match claim.status.phase {
                PvcPhase::Lost => continue,
                PvcPhase::Bound => {
                    let Some(name) = &claim.spec.volume_name else {
                        continue;
                    };
                    match find_pv(name) {
                        None => set_claim_lost(
                            ctx,
                            obj,
                            claim,
                            "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
                        ),
                        Some(pv) => match &pv.spec.claim_ref {
                            None if pv.status.phase == PvPhase::Available
                                && taken.insert(pv.meta.name.clone()) =>
                            {
                                bind_volume_side(ctx, pv, claim)
                            }
                            Some(r) if !ref_designates(r, claim) => set_claim_lost(
                                ctx,
                                obj,
                                claim,
                                "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!",
                            ),
                            _ => {}
                        },
                    }
                    continue;
                }
                PvcPhase::Pending => {}
            }
            let class = effective_class(claim, default.as_deref());
            if let Some(name) = &claim.spec.volume_name {
                let problem = match find_pv(name) {
                    None => Err(format!("volume \"{name}\" not found")),
                    Some(pv) if taken.contains(&pv.meta.name) || !available_for(pv, claim) => Err(
                        format!("volume \"{name}\" already bound to a different claim."),
                    ),
                    Some(pv) => check_satisfies(pv, claim, &class)
                        .map(|()| pv)
                        .map_err(|why| {
                            format!("Cannot bind to requested volume \"{name}\": {why}")
                        }),
                };
                match problem {
                    Ok(pv) => {
                        taken.insert(pv.meta.name.clone());
                        bind(ctx, pv, claim);
                    }
                    Err(message) => {
                        ctx.event(obj, EventType::Warning, "FailedBinding", message);
                    }
                }
                continue;
            }
            let sc = by_name.get(class.as_str()).copied();
            if sc.is_some_and(|c| c.volume_binding_mode == VolumeBindingMode::WaitForFirstConsumer)
            {
                if consumers.is_none() {
                    consumers = Some(consumed_claims(store)?);
                }
                let used = consumers.as_ref().is_some_and(|set| {
                    set.contains(&(claim.meta.namespace.clone(), claim.meta.name.clone()))
                });
                if !used {
                    ctx.event(
                        obj,
                        EventType::Normal,
                        "WaitForFirstConsumer",
                        "waiting for first consumer to be created before binding",
                    );
                    continue;
                }
            }
            if let Some(pv) = choose_volume(&pvs, claim, &class, &taken) {
                taken.insert(pv.meta.name.clone());
                bind(ctx, pv, claim);
                continue;
            }
            if class.is_empty() {
                ctx.event(obj, EventType::Normal, "FailedBinding", NO_VOLUME_NO_CLASS);
                continue;
            }
            let Some(sc) = sc else {
                ctx.event(
                    obj,
                    EventType::Warning,
                    "ProvisioningFailed",
                    format!("storageclass.storage.k8s.io \"{class}\" not found"),
                );
                continue;
            };
            if sc.provisioner.is_empty() || sc.provisioner.as_str() == NO_PROVISIONER {
                ctx.event(
                    obj,
                    EventType::Normal,
                    "FailedBinding",
                    format!(
                        "no persistent volumes available for this claim and storage class \"{class}\" has no dynamic provisioner"
                    ),
                );
                continue;
            }
            let name = provisioned_name(claim);
            if taken.contains(name.as_str()) || find_pv(&name).is_some() {
                // A volume of that name exists but does not fit (changed by hand):
                // never create a second one.
                ctx.event(
                    obj,
                    EventType::Warning,
                    "ProvisioningFailed",
                    format!("volume \"{name}\" already exists and does not fit the claim"),
                );
                continue;
            }
            let mut meta = ObjectMeta::named("", &name);
            meta.annotations = meta
                .annotations
                .with(ANNOTATION_PROVISIONED_BY, sc.provisioner.as_str());
            let pv = PersistentVolume {
                meta,
                spec: PvSpec {
                    capacity_bytes: claim.spec.request_bytes,
                    access_modes: claim.spec.access_modes.clone(),
                    storage_class_name: Some(class.clone()),
                    reclaim_policy: sc.reclaim_policy,
                    claim_ref: Some(claim_ref(claim)),
                    host_path: Some(intern(&format!(
                        "/tmp/hostpath-provisioner/{}/{}",
                        claim.meta.namespace, claim.meta.name
                    ))),
                },
                status: PvStatus {
                    phase: PvPhase::Available,
                },
            };
            let message = format!(
                "Successfully provisioned volume {name} using {}",
                sc.provisioner
            );
            ctx.create(Object::from(pv))
                .on_success(obj, EventType::Normal, "ProvisioningSucceeded", message)
                .on_failure(
                    obj,
                    EventType::Warning,
                    "ProvisioningFailed",
                    "Failed to create volume",
                );
            taken.insert(intern(&name));
        }
        Ok(Requeue::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intern::StrMap;
    use crate::model::{AccessMode, PvcSpec, PvcStatus, Uid};
    use crate::selector::LabelSelector;

    const GI: i64 = 1 << 30;

    fn pv(name: &str, gi: i64, modes: &[AccessMode], class: Option<&str>) -> PersistentVolume {
        PersistentVolume {
            meta: ObjectMeta::named("", name),
            spec: PvSpec {
                capacity_bytes: gi * GI,
                access_modes: modes.to_vec(),
                storage_class_name: class.map(intern),
                ..Default::default()
            },
            status: PvStatus::default(),
        }
    }

    fn claim(gi: i64, class: Option<&str>) -> PersistentVolumeClaim {
        let mut meta = ObjectMeta::named("default", "data");
        meta.uid = Uid(7);
        PersistentVolumeClaim {
            meta,
            spec: PvcSpec {
                access_modes: vec![AccessMode::ReadWriteOnce],
                request_bytes: gi * GI,
                storage_class_name: class.map(intern),
                ..Default::default()
            },
            status: PvcStatus::default(),
        }
    }

    fn class(name: &str, default: bool, ts: i64) -> StorageClass {
        let mut meta = ObjectMeta::named("", name);
        meta.creation_timestamp = crate::time::Timestamp(ts);
        if default {
            meta.annotations = meta
                .annotations
                .with(crate::model::ANNOTATION_DEFAULT_CLASS, "true");
        }
        StorageClass {
            meta,
            provisioner: intern(PROVISIONER),
            reclaim_policy: ReclaimPolicy::Delete,
            volume_binding_mode: VolumeBindingMode::Immediate,
            allow_volume_expansion: false,
        }
    }

    #[test]
    fn effective_class_rules() {
        assert_eq!(
            effective_class(&claim(1, None), Some("standard")).as_str(),
            "standard"
        );
        assert_eq!(effective_class(&claim(1, None), None).as_str(), "");
        assert_eq!(
            effective_class(&claim(1, Some("")), Some("standard")).as_str(),
            ""
        );
        assert_eq!(
            effective_class(&claim(1, Some("fast")), Some("standard")).as_str(),
            "fast"
        );
    }

    #[test]
    fn default_class_is_newest_annotated() {
        let (a, b, c) = (
            class("a", true, 1),
            class("b", true, 5),
            class("c", false, 9),
        );
        assert_eq!(
            default_class(&[&a, &b, &c]).unwrap().meta.name.as_str(),
            "b"
        );
        assert!(default_class(&[&c]).is_none());
    }

    #[test]
    fn fits_checks_size_modes_class_selector() {
        let rwo = [AccessMode::ReadWriteOnce];
        let c = claim(2, Some(""));
        assert!(volume_fits(&pv("a", 2, &rwo, None), &c, ""));
        assert!(volume_fits(&pv("a", 2, &rwo, Some("")), &c, ""));
        assert_eq!(
            check_satisfies(&pv("a", 1, &rwo, None), &c, ""),
            Err("requested PV is too small")
        );
        assert!(!volume_fits(
            &pv("a", 2, &[AccessMode::ReadOnlyMany], None),
            &c,
            ""
        ));
        assert!(!volume_fits(&pv("a", 2, &rwo, Some("fast")), &c, ""));
        let mut sel = c.clone();
        sel.spec.selector = Some(LabelSelector {
            match_labels: StrMap::from_iter([("tier", "gold")]),
            match_expressions: vec![],
        });
        let mut gold = pv("g", 2, &rwo, None);
        assert!(!volume_fits(&gold, &sel, ""));
        gold.meta.labels = gold.meta.labels.with("tier", "gold");
        assert!(volume_fits(&gold, &sel, ""));
    }

    #[test]
    fn choose_smallest_then_name_skipping_taken_and_reserved() {
        let rwo = [AccessMode::ReadWriteOnce];
        let (a, b, c, d) = (
            pv("a", 10, &rwo, None),
            pv("b", 5, &rwo, None),
            pv("c", 5, &rwo, None),
            pv("d", 1, &rwo, None),
        );
        let cl = claim(2, None);
        let pvs = [&a, &b, &c, &d];
        let mut taken = HashSet::new();
        assert_eq!(
            choose_volume(&pvs, &cl, "", &taken)
                .unwrap()
                .meta
                .name
                .as_str(),
            "b"
        );
        taken.insert(intern("b"));
        assert_eq!(
            choose_volume(&pvs, &cl, "", &taken)
                .unwrap()
                .meta
                .name
                .as_str(),
            "c"
        );
        // A volume reserved for this claim wins even when larger.
        let mut mine = a.clone();
        mine.spec.claim_ref = Some(claim_ref(&cl));
        assert_eq!(
            choose_volume(&[&mine, &c], &cl, "", &HashSet::new())
                .unwrap()
                .meta
                .name
                .as_str(),
            "a"
        );
        // Reserved for another claim: never chosen.
        let mut other = c.clone();
        other.spec.claim_ref = Some(ObjectRef {
            name: intern("other"),
            ..claim_ref(&cl)
        });
        assert!(choose_volume(&[&other], &cl, "", &HashSet::new()).is_none());
        assert_eq!(provisioned_name(&cl), format!("pvc-{}", Uid(7)));
    }
}
