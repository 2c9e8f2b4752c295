//! PersistentVolumes, PersistentVolumeClaims (and claim templates) and StorageClasses.

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::storage::v1 as storage;

use super::field::{at, idx, key, FieldError, FieldResult};
use super::meta::{bytes, label_selector, object_meta, object_ref, one_of};
use crate::intern::{intern, Str};
use crate::model::*;

const ACCESS_MODES: [&str; 4] = [
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];

fn access_modes(v: Option<&Vec<String>>, path: &str, detail: &str) -> FieldResult<Vec<AccessMode>> {
    let v = v.map(Vec::as_slice).unwrap_or(&[]);
    if v.is_empty() {
        return Err(FieldError::required(path, detail));
    }
    let mut out = Vec::with_capacity(v.len());
    for (i, m) in v.iter().enumerate() {
        let mode = AccessMode::parse(m)
            .ok_or_else(|| FieldError::unsupported(idx(path, i), m, &ACCESS_MODES))?;
        if !out.contains(&mode) {
            out.push(mode);
        }
    }
    if out.contains(&AccessMode::ReadWriteOncePod) && out.len() > 1 {
        return Err(FieldError::forbidden(
            path,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    Ok(out)
}

/// A claim's spec (of a PVC, or of a StatefulSet's `volumeClaimTemplates` entry).
pub(crate) fn pvc_spec(s: &core::PersistentVolumeClaimSpec, path: &str) -> FieldResult<PvcSpec> {
    let access_modes = access_modes(
        s.access_modes.as_ref(),
        &at(path, "accessModes"),
        "at least 1 access mode is required",
    )?;
    let storage = s
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"));
    let rpath = at(path, "resources");
    let Some(q) = storage else {
        return Err(FieldError::required(key(&rpath, "storage"), ""));
    };
    let request_bytes = bytes(q, &key(&at(&rpath, "requests"), "storage"))?;
    if request_bytes <= 0 {
        return Err(FieldError::invalid(
            key(&at(&rpath, "requests"), "storage"),
            super::field::quote(&q.0),
            "must be greater than zero",
        ));
    }
    let selector = s
        .selector
        .as_ref()
        .map(|sel| label_selector(sel, &at(path, "selector")))
        .transpose()?;
    Ok(PvcSpec {
        access_modes,
        request_bytes,
        storage_class_name: s.storage_class_name.as_deref().map(intern),
        volume_name: s
            .volume_name
            .as_deref()
            .filter(|v| !v.is_empty())
            .map(Str::new),
        selector,
    })
}

/// `v1 PersistentVolumeClaim`.
pub(crate) fn pvc(c: &core::PersistentVolumeClaim) -> FieldResult<PersistentVolumeClaim> {
    let meta = object_meta(&c.metadata, Kind::PersistentVolumeClaim)?;
    let empty = core::PersistentVolumeClaimSpec::default();
    let spec = pvc_spec(c.spec.as_ref().unwrap_or(&empty), "spec")?;
    Ok(PersistentVolumeClaim {
        meta,
        spec,
        status: PvcStatus::default(),
    })
}

/// `v1 PersistentVolume`. kubesim mounts nothing, so a volume without a source is
/// accepted; only `hostPath.path` is kept (for display).
pub(crate) fn pv(v: &core::PersistentVolume) -> FieldResult<PersistentVolume> {
    let meta = object_meta(&v.metadata, Kind::PersistentVolume)?;
    let empty = core::PersistentVolumeSpec::default();
    let s = v.spec.as_ref().unwrap_or(&empty);
    let Some(q) = s.capacity.as_ref().and_then(|c| c.get("storage")) else {
        return Err(FieldError::required("spec.capacity", ""));
    };
    let capacity_bytes = bytes(q, "spec.capacity[storage]")?;
    let access_modes = access_modes(s.access_modes.as_ref(), "spec.accessModes", "")?;
    let reclaim_policy = match one_of(
        s.persistent_volume_reclaim_policy.as_deref(),
        "Retain",
        &["Delete", "Recycle", "Retain"],
        "spec.persistentVolumeReclaimPolicy",
    )? {
        "Delete" => ReclaimPolicy::Delete,
        "Recycle" => ReclaimPolicy::Recycle,
        _ => ReclaimPolicy::Retain,
    };
    let claim_ref = s
        .claim_ref
        .as_ref()
        .map(|r| object_ref(r, Some(Kind::PersistentVolumeClaim), "spec.claimRef"))
        .transpose()?;
    Ok(PersistentVolume {
        meta,
        spec: PvSpec {
            capacity_bytes,
            access_modes,
            storage_class_name: s.storage_class_name.as_deref().map(intern),
            reclaim_policy,
            claim_ref,
            host_path: s.host_path.as_ref().map(|h| Str::new(&h.path)),
        },
        status: PvStatus::default(),
    })
}

/// `storage.k8s.io/v1 StorageClass` (reclaimPolicy Delete, volumeBindingMode Immediate
/// by default).
pub(crate) fn storage_class(c: &storage::StorageClass) -> FieldResult<StorageClass> {
    let meta = object_meta(&c.metadata, Kind::StorageClass)?;
    if c.provisioner.is_empty() {
        return Err(FieldError::required("provisioner", ""));
    }
    let reclaim_policy = match one_of(
        c.reclaim_policy.as_deref(),
        "Delete",
        &["Delete", "Retain"],
        "reclaimPolicy",
    )? {
        "Retain" => ReclaimPolicy::Retain,
        _ => ReclaimPolicy::Delete,
    };
    let volume_binding_mode = match one_of(
        c.volume_binding_mode.as_deref(),
        "Immediate",
        &["Immediate", "WaitForFirstConsumer"],
        "volumeBindingMode",
    )? {
        "WaitForFirstConsumer" => VolumeBindingMode::WaitForFirstConsumer,
        _ => VolumeBindingMode::Immediate,
    };
    Ok(StorageClass {
        meta,
        provisioner: intern(&c.provisioner),
        reclaim_policy,
        volume_binding_mode,
        allow_volume_expansion: c.allow_volume_expansion.unwrap_or(false),
    })
}
