//! The StatefulSet controller: pods with stable identities `<set>-<ordinal>` and their
//! own claims (upstream `pkg/controller/statefulset`).
//!
//! # Keys and events
//!
//! Keys are StatefulSets. A StatefulSet event → its key; a Pod whose controller
//! reference names an existing StatefulSet (same uid) → that key; a Pod without a
//! controller, not being deleted → every StatefulSet of its namespace whose selector
//! matches (adoption). There are no expectations (as upstream): pod names are fixed, so
//! a create that raced another one fails with AlreadyExists and changes nothing.
//!
//! # A reconcile (upstream `UpdateStatefulSet` / `updateStatefulSet`)
//!
//! 1. **Claim** the pods ([`claim_pods`]): owned and
//!    matching (any phase, being deleted or not), orphans adopted, non-matching
//!    released. Pods whose names are not `<set>-<n>` are ignored (`isMemberOf`).
//! 2. **Revisions**: the update revision is `<set>-<template hash>`
//!    ([`revision_name`]); the current revision is `status.currentRevision` (the
//!    update revision when unset). Pods carry theirs in `controller-revision-hash`.
//! 3. Pods with ordinal < `spec.replicas` are the *replicas*, the others the
//!    *condemned* (sorted from the highest ordinal). The *first unhealthy* pod is the
//!    lowest-ordinal pod that is not Running-and-Ready or is being deleted.
//! 4. A StatefulSet being deleted only gets its status.
//! 5. **Replicas**, ordinal 0 up (`processReplica`); `OrderedReady` (monotonic) stops
//!    the pass at the first blocking pod, `Parallel` goes on:
//!    - a missing pod is created — its claims first (each
//!      `<claim-template>-<set>-<ordinal>` that does not exist yet), then the pod; a
//!      claim still being deleted, or still owned by a pod that was scaled away
//!      (`whenScaled: Delete`), makes the ordinal wait (upstream `PodClaimIsStale`);
//!      monotonic: stop after the create;
//!    - a Failed or Succeeded pod is deleted, and re-created only once it is gone
//!      (stop, in monotonic mode);
//!    - a Pending pod gets its missing claims re-created;
//!    - monotonic: a pod being deleted, not Running and Ready, or not available
//!      (`minReadySeconds`) stops the pass;
//!    - a pod whose identity (labels `statefulset.kubernetes.io/pod-name`,
//!      `apps.kubernetes.io/pod-index`, `hostname`, `subdomain`) or storage (a volume
//!      per claim template) is wrong is updated; its claims get the owner references
//!      the retention policy asks for.
//!
//!    New pods: ordinal < partition (RollingUpdate) → the current revision's template,
//!    else the update revision's (`newVersionedStatefulSetPod`).
//! 6. **Condemned**, highest ordinal first (`processCondemned`): a pod being deleted
//!    stops the pass (monotonic) — scale-down waits for it to be gone; monotonic: a
//!    pod that is not Running-and-Ready (or not available) stops the pass unless it is
//!    the first unhealthy pod; otherwise it is deleted (its claims first given the pod
//!    as owner when `whenScaled: Delete`), and in monotonic mode the pass stops — one
//!    at a time. So nothing is scaled down while a lower pod is unhealthy.
//! 7. **Rolling update** (`RollingUpdate` only; `OnDelete` stops here): from the
//!    highest ordinal down to `partition`, the first pod not at the update revision and
//!    not being deleted is deleted (step 5 re-creates it at the update revision); an
//!    unhealthy pod on the way stops it. One pod at a time, in reverse ordinal order.
//! 8. **Status**: `replicas` (pods that exist), `readyReplicas`, `availableReplicas`,
//!    `currentReplicas`/`updatedReplicas` (pods not being deleted at the current /
//!    update revision), `currentRevision`, `updateRevision`, `observedGeneration`;
//!    when a RollingUpdate is complete (every pod updated and ready) the current
//!    revision becomes the update revision (`completeRollingUpdate`). Requeue when a
//!    ready pod becomes available later, and after 1 s while a stale claim blocks.
//!
//! # At most one pod per identity
//!
//! A replacement is created only when no pod object with the name exists: a pod stuck
//! Terminating on an unreachable node (evicted, but only its kubelet or a force delete
//! removes it) holds its ordinal — and, in OrderedReady mode, the whole set — until it
//! is gone.
//!
//! # Claims and retention (`persistentVolumeClaimRetentionPolicy`)
//!
//! Claim `<template>-<set>-<ordinal>`: the template's labels plus the selector's
//! `matchLabels`, its annotations and spec. `whenDeleted: Delete` gives every claim an
//! owner reference (not controller) to the StatefulSet, so the garbage collector
//! deletes it with the set; `whenScaled: Delete` gives a condemned pod's claims an
//! owner reference to that pod (and drops the StatefulSet's) before the pod is
//! deleted, so the claim goes with the pod.
//! With Retain/Retain (the default) claims have no owners and survive scale-down and
//! deletion; a later pod with the same ordinal mounts the same claim again.
//!
//! # Simplifications (stated)
//!
//! - ControllerRevisions are not objects: the controller remembers the template of
//!   every revision it has seen (per StatefulSet, in memory); a current revision it
//!   never saw falls back to the update template. The hash is
//!   [`template_hash`] (not byte-identical to
//!   upstream's).
//! - No `maxUnavailable` for rolling updates (alpha upstream), no `ordinals.start`, no
//!   history limit, no Parallel slow-start batching (every missing pod is created in
//!   one sync).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::daemonset::{claim_pods, selects, template_hash};
use crate::intern::{SharedList, Str};
use crate::model::{
    EventType, Kind, Object, ObjectKey, ObjectMeta, OwnerReference, PersistentVolumeClaim, Pod,
    PodManagementPolicy, PodPhase, PodStatus, PodTemplateSpec, PvcRetention, PvcStatus,
    StatefulSet, StatefulSetStatus, StatefulSetUpdateStrategy, Uid, Volume, VolumeSource,
};
use crate::runtime::{
    route_key, route_object, Controller, Ctx, ReconcileError, Requeue, Routed, StoreView,
};
use crate::store::{DeleteOptions, WatchEvent, WatchEventType};
use crate::time::Timestamp;

pub use super::daemonset::LABEL_REVISION_HASH;

/// The controller's name (the `source` of its Events), as upstream's.
pub const CONTROLLER_NAME: &str = "statefulset-controller";

/// The pod label naming the pod (upstream `StatefulSetPodNameLabel`).
pub const LABEL_POD_NAME: &str = "statefulset.kubernetes.io/pod-name";

/// The pod label holding its ordinal (upstream `PodIndexLabel`).
pub const LABEL_POD_INDEX: &str = "apps.kubernetes.io/pod-index";

/// How long a sync blocked by a stale claim waits before looking again (claims are not
/// watched).
pub const STALE_CLAIM_RETRY: Duration = Duration::from_secs(1);

/// The ordinal of `pod_name` if it is `<set>-<n>` (upstream `getParentNameAndOrdinal`
/// with the parent checked).
pub fn parse_ordinal(set: &str, pod_name: &str) -> Option<i32> {
    let (parent, ord) = pod_name.rsplit_once('-')?;
    if parent != set || ord.is_empty() || !ord.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    ord.parse().ok()
}

/// `<set>-<ordinal>`.
pub fn pod_name(set: &str, ordinal: i32) -> String {
    format!("{set}-{ordinal}")
}

/// `<claim template>-<set>-<ordinal>`.
pub fn claim_name(template: &str, set: &str, ordinal: i32) -> String {
    format!("{template}-{set}-{ordinal}")
}

/// The revision name of a template: `<set>-<hash>` (what pods carry in
/// `controller-revision-hash`).
pub fn revision_name(set: &StatefulSet, template: &PodTemplateSpec) -> Str {
    Str::from(format!("{}-{}", set.meta.name, template_hash(template)))
}

/// The pod's `controller-revision-hash`, if any.
pub fn pod_revision(pod: &Pod) -> Option<&Str> {
    pod.meta.labels.get(LABEL_REVISION_HASH)
}

/// Running and Ready (upstream `isRunningAndReady`).
pub fn running_and_ready(pod: &Pod) -> bool {
    pod.status.phase == PodPhase::Running && pod.is_ready()
}

/// Running and Ready and not being deleted (upstream `isHealthy`).
pub fn is_healthy(pod: &Pod) -> bool {
    running_and_ready(pod) && !pod.meta.is_being_deleted()
}

/// A new pod for `ordinal` from `template`, at `revision` (upstream
/// `newVersionedStatefulSetPod` for one template): name `<set>-<ordinal>`, the
/// identity and storage of [`with_identity`], and `owner_refs`.
pub fn new_stateful_pod(
    set: &StatefulSet,
    template: &PodTemplateSpec,
    revision: &str,
    ordinal: i32,
    owner_refs: &SharedList<OwnerReference>,
) -> Pod {
    let pod = Pod {
        meta: ObjectMeta {
            name: Str::from(pod_name(&set.meta.name, ordinal)),
            namespace: set.meta.namespace.clone(),
            labels: template.meta.labels.with(LABEL_REVISION_HASH, revision),
            annotations: template.meta.annotations.clone(),
            owner_references: owner_refs.clone(),
            ..ObjectMeta::default()
        },
        spec: Arc::clone(&template.spec),
        node_name: None,
        status: PodStatus::default(),
    };
    with_identity(set, pod, ordinal)
}

/// Whether the pod has its identity: labels `pod-name`/`pod-index`, hostname = name,
/// subdomain = serviceName (upstream `identityMatches`).
pub fn identity_matches(set: &StatefulSet, pod: &Pod, ordinal: i32) -> bool {
    let name = pod.meta.name.as_str();
    pod.meta.labels.get(LABEL_POD_NAME).map(Str::as_str) == Some(name)
        && pod.meta.labels.get(LABEL_POD_INDEX).map(Str::as_str)
            == Some(ordinal.to_string().as_str())
        && pod.spec.hostname.as_deref() == Some(name)
        && pod.spec.subdomain.as_deref() == Some(set.spec.service_name.as_str())
}

/// Whether the pod mounts its claims: for each claim template a volume of that name
/// whose claim is `<template>-<set>-<ordinal>` (upstream `storageMatches`).
pub fn storage_matches(set: &StatefulSet, pod: &Pod, ordinal: i32) -> bool {
    set.spec.volume_claim_templates.iter().all(|t| {
        let want = claim_name(&t.name, &set.meta.name, ordinal);
        pod.spec.volumes.iter().any(|v| {
            v.name == t.name
                && matches!(&v.source, VolumeSource::PersistentVolumeClaim(c) if c.as_str() == want)
        })
    })
}

/// `pod` with its identity and storage set (upstream `updateIdentity` +
/// `updateStorage`); the spec is copied only when it changes.
pub fn with_identity(set: &StatefulSet, mut pod: Pod, ordinal: i32) -> Pod {
    let name = pod.meta.name.clone();
    pod.meta.labels = pod
        .meta
        .labels
        .with(LABEL_POD_NAME, &name)
        .with(LABEL_POD_INDEX, &ordinal.to_string());
    if identity_matches(set, &pod, ordinal) && storage_matches(set, &pod, ordinal) {
        return pod;
    }
    let spec = Arc::make_mut(&mut pod.spec);
    spec.hostname = Some(name.clone());
    spec.subdomain = Some(set.spec.service_name.clone());
    for t in &set.spec.volume_claim_templates {
        let v = Volume {
            name: t.name.clone(),
            source: VolumeSource::PersistentVolumeClaim(Str::from(claim_name(
                &t.name,
                &set.meta.name,
                ordinal,
            ))),
        };
        match spec.volumes.iter_mut().find(|x| x.name == t.name) {
            Some(x) => *x = v,
            None => spec.volumes.push(v),
        }
    }
    pod
}

/// The owner references a claim should have besides foreign ones: the pod when
/// `whenScaled: Delete` and it is condemned (only the pod: the claim must go with it),
/// else the StatefulSet when `whenDeleted: Delete` (upstream
/// `updateClaimOwnerRefForSetAndPod`).
fn wanted_claim_refs(set: &StatefulSet, condemned_pod: Option<&Pod>) -> Vec<OwnerReference> {
    let mut refs = Vec::new();
    let scaled_away =
        condemned_pod.is_some() && set.spec.pvc_retention_when_scaled == PvcRetention::Delete;
    if set.spec.pvc_retention_when_deleted == PvcRetention::Delete && !scaled_away {
        refs.push(OwnerReference {
            kind: Kind::StatefulSet,
            name: set.meta.name.clone(),
            uid: set.meta.uid,
            controller: false,
            block_owner_deletion: false,
        });
    }
    if let Some(p) = condemned_pod {
        if set.spec.pvc_retention_when_scaled == PvcRetention::Delete {
            refs.push(OwnerReference {
                kind: Kind::Pod,
                name: p.meta.name.clone(),
                uid: p.meta.uid,
                controller: false,
                block_owner_deletion: false,
            });
        }
    }
    refs
}

/// The claims of `ordinal` (upstream `getPersistentVolumeClaims`), with the owner
/// references of the retention policy.
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let refs: SharedList<OwnerReference> = wanted_claim_refs(set, None).into();
    set.spec
        .volume_claim_templates
        .iter()
        .map(|t| {
            let mut labels = t.meta.labels.clone();
            for (k, v) in set.spec.selector.match_labels.iter() {
                labels = labels.with(k, v);
            }
            PersistentVolumeClaim {
                meta: ObjectMeta {
                    name: Str::from(claim_name(&t.name, &set.meta.name, ordinal)),
                    namespace: set.meta.namespace.clone(),
                    labels,
                    annotations: t.meta.annotations.clone(),
                    owner_references: refs.clone(),
                    ..ObjectMeta::default()
                },
                spec: t.spec.clone(),
                status: PvcStatus::default(),
            }
        })
        .collect()
}

/// The claim's owner references of the set and its pods replaced by `wanted`
/// (foreign references kept), if that changes them.
fn fixed_claim_refs(
    set: &StatefulSet,
    claim: &Object,
    wanted: &[OwnerReference],
) -> Option<Vec<OwnerReference>> {
    let current = claim.meta().owner_references.as_slice();
    let ours = |r: &OwnerReference| {
        r.uid == set.meta.uid
            || (r.kind == Kind::Pod && parse_ordinal(&set.meta.name, &r.name).is_some())
    };
    let mut mine: Vec<&OwnerReference> = current.iter().filter(|r| ours(r)).collect();
    mine.sort_by_key(|r| r.uid);
    let mut want: Vec<&OwnerReference> = wanted.iter().collect();
    want.sort_by_key(|r| r.uid);
    if mine == want {
        return None;
    }
    let mut out: Vec<OwnerReference> = current.iter().filter(|r| !ours(r)).cloned().collect();
    out.extend(wanted.iter().cloned());
    Some(out)
}

/// What one pass over the pods decided.
#[derive(Default)]
struct Pass {
    stale_claim: bool,
}

/// Templates by revision name of one StatefulSet (with its uid).
type History = (Uid, BTreeMap<Str, PodTemplateSpec>);

/// The StatefulSet controller (see the [module docs](self)).
#[derive(Debug, Default)]
pub struct StatefulSetController {
    /// Templates by revision name, per StatefulSet (with its uid).
    revisions: Mutex<HashMap<ObjectKey, History>>,
}

impl StatefulSetController {
    /// A controller that has seen no revision.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the set's current template and returns the template of `current`
    /// (the update template if `current` was never seen).
    fn remember(
        &self,
        key: &ObjectKey,
        set: &StatefulSet,
        update: &Str,
        current: &Str,
    ) -> PodTemplateSpec {
        let mut all = self.revisions.lock();
        let entry = all
            .entry(key.clone())
            .or_insert_with(|| (set.meta.uid, BTreeMap::new()));
        if entry.0 != set.meta.uid {
            *entry = (set.meta.uid, BTreeMap::new());
        }
        entry
            .1
            .entry(update.clone())
            .or_insert_with(|| set.spec.template.clone());
        entry
            .1
            .get(current)
            .cloned()
            .unwrap_or_else(|| set.spec.template.clone())
    }
}

impl Controller for StatefulSetController {
    fn name(&self) -> &'static str {
        CONTROLLER_NAME
    }

    fn primary(&self) -> Kind {
        Kind::StatefulSet
    }

    fn watches(&self) -> &[Kind] {
        &[Kind::Pod]
    }

    fn map_event(&self, ev: &WatchEvent, store: StoreView<'_>, out: &mut Vec<Routed<ObjectKey>>) {
        match ev.object.as_ref() {
            Object::StatefulSet(_) => out.push(route_object(store, &ev.object)),
            Object::Pod(pod) => map_pod(ev.type_, pod, store, out),
            _ => {}
        }
    }

    fn reconcile(&self, key: &ObjectKey, ctx: &mut Ctx<'_>) -> Result<Requeue, ReconcileError> {
        let store = ctx.store();
        let Some(obj) = store.get_key(key) else {
            self.revisions.lock().remove(key);
            return Ok(Requeue::Done);
        };
        let Some(set) = obj.as_stateful_set() else {
            return Err(ReconcileError::new(format!("{key} is not a StatefulSet")));
        };
        let now = ctx.now();
        let name = set.meta.name.as_str();

        let claimed = claim_pods(ctx, Kind::StatefulSet, &set.meta, &set.spec.selector)?;
        let n = set.spec.replicas.max(0);
        let mut replicas: Vec<Option<Arc<Object>>> = vec![None; n as usize];
        let mut condemned: Vec<(i32, Arc<Object>)> = Vec::new();
        for o in claimed {
            let Some(ord) = parse_ordinal(name, o.name()) else {
                continue;
            };
            if ord < n {
                replicas[ord as usize] = Some(o);
            } else {
                condemned.push((ord, o));
            }
        }
        condemned.sort_by_key(|c| std::cmp::Reverse(c.0));

        let update_rev = revision_name(set, &set.spec.template);
        let current_rev = set
            .status
            .current_revision
            .clone()
            .unwrap_or_else(|| update_rev.clone());
        let current_template = self.remember(key, set, &update_rev, &current_rev);

        let first_unhealthy: Option<i32> = replicas
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.as_ref().map(|o| (i as i32, o)))
            .chain(condemned.iter().rev().map(|(i, o)| (*i, o)))
            .find(|(_, o)| o.as_pod().is_some_and(|p| !is_healthy(p)))
            .map(|(i, _)| i);

        let mut pass = Pass::default();
        if !set.meta.is_being_deleted() {
            let refs: SharedList<OwnerReference> = vec![OwnerReference {
                kind: Kind::StatefulSet,
                name: set.meta.name.clone(),
                uid: set.meta.uid,
                controller: true,
                block_owner_deletion: true,
            }]
            .into();
            let cont = self.process_replicas(
                ctx,
                &obj,
                set,
                &replicas,
                &refs,
                (&current_rev, &current_template),
                &update_rev,
                &mut pass,
            ) && process_condemned(ctx, &obj, set, &condemned, first_unhealthy, now);
            if cont {
                rolling_update(ctx, &obj, set, &replicas, &update_rev);
            }
        }

        // Status.
        let (status, available_in) = compute_status(
            set,
            replicas
                .iter()
                .flatten()
                .chain(condemned.iter().map(|(_, o)| o)),
            &current_rev,
            &update_rev,
            now,
        );
        if status != set.status {
            let mut new = (*obj).clone();
            if let Some(s) = new.as_stateful_set_mut() {
                s.status = status;
            }
            ctx.update_status(new);
        }
        let mut after = available_in;
        if pass.stale_claim {
            after = Some(after.map_or(STALE_CLAIM_RETRY, |a| a.min(STALE_CLAIM_RETRY)));
        }
        Ok(after.map_or(Requeue::Done, Requeue::After))
    }
}

fn map_pod(
    type_: WatchEventType,
    pod: &Pod,
    store: StoreView<'_>,
    out: &mut Vec<Routed<ObjectKey>>,
) {
    let ns = pod.meta.namespace.as_str();
    if let Some(r) = pod.meta.controller_ref() {
        if r.kind != Kind::StatefulSet {
            return;
        }
        if let Some(set) = store.try_get(Kind::StatefulSet, ns, &r.name) {
            if set.meta().uid == r.uid {
                out.push(route_key(store, ObjectKey::of(&set)));
            }
        }
        return;
    }
    if type_ == WatchEventType::Deleted || pod.meta.is_being_deleted() {
        return;
    }
    let Ok(sets) = store.list(Kind::StatefulSet, Some(ns), None, None) else {
        return;
    };
    for s in sets {
        if s.as_stateful_set()
            .is_some_and(|s| selects(&s.spec.selector, &pod.meta.labels))
        {
            out.push(route_object(store, &s));
        }
    }
}

fn event_msg(verb: &str, pod: &str, set: &str) -> String {
    format!("{verb} Pod {pod} in StatefulSet {set} successful")
}

fn fail_msg(verb: &str, pod: &str, set: &str) -> String {
    format!("{verb} Pod {pod} in StatefulSet {set} failed error")
}

/// Records a pod delete with upstream's events.
fn delete_pod(ctx: &mut Ctx<'_>, obj: &Object, set: &StatefulSet, pod: &Pod) {
    let opts = DeleteOptions {
        preconditions_uid: Some(pod.meta.uid),
        ..DeleteOptions::default()
    };
    let (p, s) = (pod.meta.name.as_str(), set.meta.name.as_str());
    ctx.delete(Kind::Pod, &set.meta.namespace, p, opts)
        .on_success(
            obj,
            EventType::Normal,
            "SuccessfulDelete",
            event_msg("delete", p, s),
        )
        .on_failure(
            obj,
            EventType::Warning,
            "FailedDelete",
            fail_msg("delete", p, s),
        );
}

impl StatefulSetController {
    /// Creates the claims of `ordinal` that do not exist. Returns false when one is
    /// stale (being deleted, or owned by a pod: wait for the garbage collector).
    fn create_missing_claims(
        ctx: &mut Ctx<'_>,
        obj: &Object,
        set: &StatefulSet,
        ordinal: i32,
        check_stale: bool,
    ) -> bool {
        let store = ctx.store();
        let pod = pod_name(&set.meta.name, ordinal);
        let mut to_create = Vec::new();
        for claim in claims_for(set, ordinal) {
            match store.try_get(
                Kind::PersistentVolumeClaim,
                &claim.meta.namespace,
                &claim.meta.name,
            ) {
                Some(existing) => {
                    let m = existing.meta();
                    if check_stale
                        && (m.is_being_deleted()
                            || m.owner_references.iter().any(|r| r.kind == Kind::Pod))
                    {
                        return false;
                    }
                }
                None => to_create.push(claim),
            }
        }
        for claim in to_create {
            let c = claim.meta.name.clone();
            ctx.create(Object::from(claim))
                .on_success(
                    obj,
                    EventType::Normal,
                    "SuccessfulCreate",
                    format!(
                        "create Claim {c} Pod {pod} in StatefulSet {} success",
                        set.meta.name
                    ),
                )
                .on_failure(
                    obj,
                    EventType::Warning,
                    "FailedCreate",
                    format!(
                        "create Claim {c} for Pod {pod} in StatefulSet {} failed error",
                        set.meta.name
                    ),
                );
        }
        true
    }

    /// Gives the existing claims of `ordinal` the owner references `wanted`.
    fn fix_claims(ctx: &mut Ctx<'_>, set: &StatefulSet, ordinal: i32, wanted: &[OwnerReference]) {
        let store = ctx.store();
        for t in &set.spec.volume_claim_templates {
            let c = claim_name(&t.name, &set.meta.name, ordinal);
            let Some(claim) = store.try_get(Kind::PersistentVolumeClaim, &set.meta.namespace, &c)
            else {
                continue;
            };
            if claim.meta().is_being_deleted() {
                continue;
            }
            if let Some(refs) = fixed_claim_refs(set, &claim, wanted) {
                let mut new = (*claim).clone();
                new.meta_mut().owner_references = refs.into();
                ctx.update(new);
            }
        }
    }

    /// Step 5 of the module docs. Returns whether the sync goes on.
    #[allow(clippy::too_many_arguments)]
    fn process_replicas(
        &self,
        ctx: &mut Ctx<'_>,
        obj: &Object,
        set: &StatefulSet,
        replicas: &[Option<Arc<Object>>],
        refs: &SharedList<OwnerReference>,
        current: (&Str, &PodTemplateSpec),
        update_rev: &Str,
        pass: &mut Pass,
    ) -> bool {
        let monotonic = set.spec.pod_management_policy == PodManagementPolicy::OrderedReady;
        let now = ctx.now();
        let sname = set.meta.name.as_str();
        let partition = match set.spec.update_strategy {
            StatefulSetUpdateStrategy::RollingUpdate { partition } => Some(partition),
            StatefulSetUpdateStrategy::OnDelete => None,
        };
        for (i, slot) in replicas.iter().enumerate() {
            let ord = i as i32;
            let Some(o) = slot else {
                // Missing: claims first, then the pod.
                if !Self::create_missing_claims(ctx, obj, set, ord, true) {
                    pass.stale_claim = true;
                    if monotonic {
                        return false;
                    }
                    continue;
                }
                let (template, rev) = match partition {
                    Some(p) if ord < p => (current.1, current.0),
                    _ => (&set.spec.template, update_rev),
                };
                let pod = new_stateful_pod(set, template, rev, ord, refs);
                let pname = pod.meta.name.to_string();
                ctx.create(Object::from(pod))
                    .on_success(
                        obj,
                        EventType::Normal,
                        "SuccessfulCreate",
                        event_msg("create", &pname, sname),
                    )
                    .on_failure(
                        obj,
                        EventType::Warning,
                        "FailedCreate",
                        fail_msg("create", &pname, sname),
                    );
                if monotonic {
                    return false;
                }
                continue;
            };
            let Some(pod) = o.as_pod() else { continue };
            if pod.status.phase.is_terminal() {
                if !pod.meta.is_being_deleted() {
                    delete_pod(ctx, obj, set, pod);
                }
                if monotonic {
                    return false;
                }
                continue;
            }
            if pod.status.phase == PodPhase::Pending {
                Self::create_missing_claims(ctx, obj, set, ord, false);
            }
            if monotonic
                && (pod.meta.is_being_deleted()
                    || !running_and_ready(pod)
                    || !pod.is_available(set.spec.min_ready_seconds, now))
            {
                return false;
            }
            Self::fix_claims(ctx, set, ord, &wanted_claim_refs(set, None));
            if !identity_matches(set, pod, ord) || !storage_matches(set, pod, ord) {
                let fixed = with_identity(set, pod.clone(), ord);
                let pname = fixed.meta.name.to_string();
                ctx.update(Object::from(fixed))
                    .on_success(
                        obj,
                        EventType::Normal,
                        "SuccessfulUpdate",
                        event_msg("update", &pname, sname),
                    )
                    .on_failure(
                        obj,
                        EventType::Warning,
                        "FailedUpdate",
                        fail_msg("update", &pname, sname),
                    );
            }
        }
        true
    }
}

/// Step 6 of the module docs. Returns whether the sync goes on.
fn process_condemned(
    ctx: &mut Ctx<'_>,
    obj: &Object,
    set: &StatefulSet,
    condemned: &[(i32, Arc<Object>)],
    first_unhealthy: Option<i32>,
    now: Timestamp,
) -> bool {
    let monotonic = set.spec.pod_management_policy == PodManagementPolicy::OrderedReady;
    for (ord, o) in condemned {
        let Some(pod) = o.as_pod() else { continue };
        if pod.meta.is_being_deleted() {
            if monotonic {
                return false;
            }
            continue;
        }
        let is_first_unhealthy = first_unhealthy == Some(*ord);
        if monotonic
            && !is_first_unhealthy
            && (!running_and_ready(pod) || !pod.is_available(set.spec.min_ready_seconds, now))
        {
            return false;
        }
        StatefulSetController::fix_claims(ctx, set, *ord, &wanted_claim_refs(set, Some(pod)));
        delete_pod(ctx, obj, set, pod);
        if monotonic {
            return false;
        }
    }
    true
}

/// Step 7 of the module docs.
fn rolling_update(
    ctx: &mut Ctx<'_>,
    obj: &Object,
    set: &StatefulSet,
    replicas: &[Option<Arc<Object>>],
    update_rev: &Str,
) {
    let StatefulSetUpdateStrategy::RollingUpdate { partition } = set.spec.update_strategy else {
        return;
    };
    let min = partition.max(0) as usize;
    for target in (min..replicas.len()).rev() {
        let Some(pod) = replicas[target].as_ref().and_then(|o| o.as_pod()) else {
            return; // just created: wait for it
        };
        if pod_revision(pod) != Some(update_rev) && !pod.meta.is_being_deleted() {
            delete_pod(ctx, obj, set, pod);
            return;
        }
        if !is_healthy(pod) {
            return;
        }
    }
}

/// The status over the set's existing pods (upstream `updateStatus` +
/// `completeRollingUpdate`), and the time until a ready pod becomes available.
pub fn compute_status<'a>(
    set: &StatefulSet,
    pods: impl Iterator<Item = &'a Arc<Object>>,
    current_rev: &Str,
    update_rev: &Str,
    now: Timestamp,
) -> (StatefulSetStatus, Option<Duration>) {
    let mut s = StatefulSetStatus {
        observed_generation: set.meta.generation,
        current_revision: Some(current_rev.clone()),
        update_revision: Some(update_rev.clone()),
        collision_count: set.status.collision_count,
        ..StatefulSetStatus::default()
    };
    let min_ready = set.spec.min_ready_seconds;
    let mut next: Option<Duration> = None;
    for o in pods {
        let Some(p) = o.as_pod() else { continue };
        s.replicas += 1;
        if running_and_ready(p) {
            s.ready_replicas += 1;
            if p.is_available(min_ready, now) {
                s.available_replicas += 1;
            } else {
                let at = p
                    .status
                    .conditions
                    .ready
                    .since
                    .plus(Duration::from_secs(min_ready.max(0) as u64));
                let left = at.since(now).max(Duration::from_millis(1));
                next = Some(next.map_or(left, |n| n.min(left)));
            }
        }
        if !p.meta.is_being_deleted() {
            let rev = pod_revision(p);
            if rev == Some(current_rev) {
                s.current_replicas += 1;
            }
            if rev == Some(update_rev) {
                s.updated_replicas += 1;
            }
        }
    }
    if matches!(
        set.spec.update_strategy,
        StatefulSetUpdateStrategy::RollingUpdate { .. }
    ) && s.updated_replicas == s.replicas
        && s.ready_replicas == s.replicas
    {
        s.current_replicas = s.updated_replicas;
        s.current_revision = s.update_revision.clone();
    }
    (s, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ConditionStatus, PodCondition, PodConditions, PodSpec, PvcSpec, PvcTemplate,
        StatefulSetSpec, TemplateMeta,
    };
    use crate::selector::LabelSelector;

    const NOW: Timestamp = Timestamp(Timestamp::VIRTUAL_EPOCH.0 + 10_000_000);

    fn set() -> StatefulSet {
        let mut meta = ObjectMeta::named("default", "web");
        meta.uid = Uid(7);
        meta.generation = 2;
        StatefulSet {
            meta,
            spec: StatefulSetSpec {
                replicas: 3,
                selector: LabelSelector::from_labels([("app", "web")].into_iter().collect()),
                template: PodTemplateSpec {
                    meta: TemplateMeta {
                        labels: [("app", "web")].into_iter().collect(),
                        annotations: Default::default(),
                    },
                    spec: Arc::new(PodSpec {
                        volumes: vec![Volume {
                            name: Str::new("data"),
                            source: VolumeSource::EmptyDir,
                        }],
                        ..PodSpec::default()
                    }),
                },
                service_name: Str::new("websvc"),
                volume_claim_templates: vec![PvcTemplate {
                    name: Str::new("data"),
                    meta: TemplateMeta {
                        labels: [("tier", "db")].into_iter().collect(),
                        annotations: Default::default(),
                    },
                    spec: PvcSpec::default(),
                }],
                ..StatefulSetSpec::default()
            },
            status: StatefulSetStatus::default(),
        }
    }

    #[test]
    fn ordinals_parse_only_for_members() {
        assert_eq!(parse_ordinal("web", "web-0"), Some(0));
        assert_eq!(parse_ordinal("web", "web-12"), Some(12));
        assert_eq!(parse_ordinal("my-web", "my-web-3"), Some(3));
        assert_eq!(parse_ordinal("web", "my-web-3"), None);
        assert_eq!(parse_ordinal("web", "web-"), None);
        assert_eq!(parse_ordinal("web", "web-x"), None);
        assert_eq!(parse_ordinal("web", "web-+1"), None);
        assert_eq!(parse_ordinal("web", "web"), None);
        assert_eq!(claim_name("data", "web", 2), "data-web-2");
        assert_eq!(pod_name("web", 2), "web-2");
    }

    #[test]
    fn new_pods_have_identity_and_storage() {
        let s = set();
        let refs: SharedList<OwnerReference> = Vec::new().into();
        let rev = revision_name(&s, &s.spec.template);
        assert!(rev.starts_with("web-"));
        let p = new_stateful_pod(&s, &s.spec.template, &rev, 1, &refs);
        assert_eq!(p.meta.name.as_str(), "web-1");
        assert_eq!(p.spec.hostname.as_deref(), Some("web-1"));
        assert_eq!(p.spec.subdomain.as_deref(), Some("websvc"));
        assert_eq!(
            p.meta.labels.get(LABEL_POD_NAME).map(Str::as_str),
            Some("web-1")
        );
        assert_eq!(
            p.meta.labels.get(LABEL_POD_INDEX).map(Str::as_str),
            Some("1")
        );
        assert_eq!(pod_revision(&p), Some(&rev));
        // The template's `data` volume is replaced by the claim, not duplicated.
        assert_eq!(p.spec.volumes.len(), 1);
        assert_eq!(
            p.spec.volumes[0].source,
            VolumeSource::PersistentVolumeClaim(Str::new("data-web-1"))
        );
        assert!(identity_matches(&s, &p, 1) && storage_matches(&s, &p, 1));
        assert!(!identity_matches(&s, &p, 2) && !storage_matches(&s, &p, 2));
        // The template itself is untouched.
        assert_eq!(s.spec.template.spec.hostname, None);
    }

    #[test]
    fn claims_and_retention_refs() {
        let mut s = set();
        let c = &claims_for(&s, 0)[0];
        assert_eq!(c.meta.name.as_str(), "data-web-0");
        assert_eq!(c.meta.labels.get("tier").map(Str::as_str), Some("db"));
        assert_eq!(c.meta.labels.get("app").map(Str::as_str), Some("web"));
        assert!(c.meta.owner_references.is_empty(), "Retain: no owners");
        let refs: SharedList<OwnerReference> = Vec::new().into();
        let mut pod = new_stateful_pod(&s, &s.spec.template, "r", 0, &refs);
        pod.meta.uid = Uid(99);
        assert!(wanted_claim_refs(&s, Some(&pod)).is_empty());
        s.spec.pvc_retention_when_deleted = PvcRetention::Delete;
        let w = wanted_claim_refs(&s, None);
        assert_eq!(w.len(), 1);
        assert_eq!(
            (w[0].kind, w[0].uid, w[0].controller),
            (Kind::StatefulSet, Uid(7), false)
        );
        assert_eq!(claims_for(&s, 0)[0].meta.owner_references.len(), 1);
        // Condemned + whenScaled Delete: only the pod.
        s.spec.pvc_retention_when_scaled = PvcRetention::Delete;
        let w = wanted_claim_refs(&s, Some(&pod));
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].kind, w[0].uid), (Kind::Pod, Uid(99)));
        // Fixing keeps foreign owners and is a no-op when already right.
        let mut claim = claims_for(&s, 0).remove(0);
        let foreign = OwnerReference {
            kind: Kind::ConfigMap,
            name: Str::new("x"),
            uid: Uid(5),
            controller: false,
            block_owner_deletion: false,
        };
        claim.meta.owner_references = vec![foreign.clone()].into();
        let obj = Object::from(claim);
        let fixed = fixed_claim_refs(&s, &obj, &w).unwrap();
        assert_eq!(fixed.len(), 2);
        assert!(fixed.contains(&foreign));
        let mut obj2 = obj.clone();
        obj2.meta_mut().owner_references = fixed.into();
        assert!(fixed_claim_refs(&s, &obj2, &w).is_none());
    }

    fn pod(ord: i32, rev: &str, ready: bool, deleting: bool) -> Arc<Object> {
        let s = set();
        let refs: SharedList<OwnerReference> = Vec::new().into();
        let mut p = new_stateful_pod(&s, &s.spec.template, rev, ord, &refs);
        p.status.phase = PodPhase::Running;
        p.status.conditions = PodConditions {
            ready: PodCondition::new(
                if ready {
                    ConditionStatus::True
                } else {
                    ConditionStatus::False
                },
                Timestamp(NOW.0 - 5_000),
            ),
            ..PodConditions::default()
        };
        if deleting {
            p.meta.deletion = Some(Box::new(crate::model::Deletion {
                timestamp: NOW,
                grace_period_seconds: Some(30),
            }));
        }
        Arc::new(Object::from(p))
    }

    #[test]
    fn status_and_complete_rolling_update() {
        let mut s = set();
        let (cur, upd) = (Str::new("web-a"), Str::new("web-b"));
        let pods = [
            pod(0, "web-a", true, false),
            pod(1, "web-b", true, false),
            pod(2, "web-b", false, true),
        ];
        let (st, _) = compute_status(&s, pods.iter(), &cur, &upd, NOW);
        assert_eq!(
            (st.replicas, st.ready_replicas, st.available_replicas),
            (3, 2, 2)
        );
        assert_eq!((st.current_replicas, st.updated_replicas), (1, 1));
        assert_eq!(st.current_revision.as_ref(), Some(&cur));
        assert_eq!(st.observed_generation, 2);
        // minReadySeconds 10: ready 5 s → not available, 5 s left.
        s.spec.min_ready_seconds = 10;
        let (st, next) = compute_status(&s, pods[..2].iter(), &cur, &upd, NOW);
        assert_eq!(st.available_replicas, 0);
        assert_eq!(next, Some(Duration::from_secs(5)));
        // Every pod updated and ready: the update revision becomes current.
        let all = [pod(0, "web-b", true, false), pod(1, "web-b", true, false)];
        let (st, _) = compute_status(&s, all.iter(), &cur, &upd, NOW);
        assert_eq!(st.current_revision.as_ref(), Some(&upd));
        assert_eq!(st.current_replicas, 2);
        // Not with OnDelete.
        s.spec.update_strategy = StatefulSetUpdateStrategy::OnDelete;
        let (st, _) = compute_status(&s, all.iter(), &cur, &upd, NOW);
        assert_eq!(st.current_revision.as_ref(), Some(&cur));
        assert_eq!(st.current_replicas, 0);
    }

    #[test]
    fn health() {
        let p = pod(0, "r", true, false);
        assert!(is_healthy(p.as_pod().unwrap()));
        let p = pod(0, "r", true, true);
        assert!(running_and_ready(p.as_pod().unwrap()) && !is_healthy(p.as_pod().unwrap()));
        let p = pod(0, "r", false, false);
        assert!(!running_and_ready(p.as_pod().unwrap()));
    }
}
