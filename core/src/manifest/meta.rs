//! Metadata, labels, selectors and the small shared value types (IntOrString, quantities,
//! uids, object references, timestamps).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::apimachinery::pkg::util::intstr;

use super::field::{at, detail, idx, quote, FieldError, FieldResult};
use crate::intern::{intern, Str, StrMap};
use crate::model::{IntOrString, Kind, ObjectMeta, ObjectRef, OwnerReference, TemplateMeta, Uid};
use crate::selector::{LabelSelector, Operator, Requirement};
use crate::time::Timestamp;
use crate::validation;

/// Max total size of an object's annotations (keys + values), as the API server allows.
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// How an object's name is validated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// DNS-1123 subdomain (most kinds).
    Subdomain,
    /// DNS-1123 label (Namespaces).
    Label,
    /// DNS-1035 label (Services).
    Dns1035,
}

impl NameRule {
    fn check(self, name: &str) -> Result<(), String> {
        match self {
            NameRule::Subdomain => validation::dns1123_subdomain(name),
            NameRule::Label => validation::dns1123_label(name),
            NameRule::Dns1035 => super::field::dns1035_label(name),
        }
    }

    /// The rule upstream applies to a kind's names.
    pub fn for_kind(kind: Kind) -> NameRule {
        match kind {
            Kind::Namespace => NameRule::Label,
            Kind::Service => NameRule::Dns1035,
            _ => NameRule::Subdomain,
        }
    }
}

/// Converts and validates `metadata`. Store-assigned fields (uid, resourceVersion,
/// generation, creationTimestamp, deletionTimestamp, deletionGracePeriodSeconds,
/// managedFields, selfLink) are ignored: the store sets them.
pub(crate) fn object_meta(m: &meta::ObjectMeta, kind: Kind) -> FieldResult<ObjectMeta> {
    let name = m.name.as_deref().unwrap_or("");
    let generate_name = m.generate_name.as_deref().filter(|g| !g.is_empty());
    let rule = NameRule::for_kind(kind);
    if name.is_empty() {
        match generate_name {
            None => {
                return Err(FieldError::required(
                    "metadata.name",
                    "name or generateName is required",
                ))
            }
            Some(g) => {
                // The prefix is validated as a name with a generated suffix appended.
                let candidate = format!("{}x", g.trim_end_matches('-'));
                rule.check(&candidate).map_err(|e| {
                    FieldError::invalid("metadata.generateName", quote(g), detail(&e))
                })?;
            }
        }
    } else {
        rule.check(name)
            .map_err(|e| FieldError::invalid("metadata.name", quote(name), detail(&e)))?;
    }

    let ns = m.namespace.as_deref().unwrap_or("");
    let namespace = if kind.namespaced() {
        let ns = if ns.is_empty() { "default" } else { ns };
        validation::dns1123_label(ns)
            .map_err(|e| FieldError::invalid("metadata.namespace", quote(ns), detail(&e)))?;
        intern(ns)
    } else {
        // The API server clears a namespace given to a cluster-scoped object
        // (apiserver `EnsureObjectNamespaceMatchesRequestNamespace`), so a manifest a real
        // cluster accepts is accepted here too.
        Str::default()
    };

    let labels = labels(m.labels.as_ref(), "metadata.labels")?;
    let annotations = annotations(m.annotations.as_ref(), "metadata.annotations")?;

    let mut owner_references = Vec::new();
    for (i, r) in m.owner_references.iter().flatten().enumerate() {
        owner_references.push(owner_reference(r, &idx("metadata.ownerReferences", i))?);
    }
    if owner_references.iter().filter(|r| r.controller).count() > 1 {
        return Err(FieldError::invalid(
            "metadata.ownerReferences",
            "[...]",
            "Only one reference can have Controller set to true",
        ));
    }

    let mut finalizers = Vec::new();
    for (i, f) in m.finalizers.iter().flatten().enumerate() {
        validation::label_key(f).map_err(|e| {
            FieldError::invalid(idx("metadata.finalizers", i), quote(f), detail(&e))
        })?;
        if !finalizers.iter().any(|x: &Str| x.as_str() == f) {
            finalizers.push(intern(f));
        }
    }

    Ok(ObjectMeta {
        name: Str::new(name),
        namespace,
        generate_name: generate_name.map(Str::new),
        labels,
        annotations,
        owner_references: owner_references.into(),
        finalizers: finalizers.into(),
        ..Default::default()
    })
}

fn owner_reference(r: &meta::OwnerReference, path: &str) -> FieldResult<OwnerReference> {
    if r.kind.is_empty() {
        return Err(FieldError::required(
            at(path, "kind"),
            "kind must not be empty",
        ));
    }
    let kind: Kind = r.kind.parse().map_err(|_| {
        FieldError::invalid(
            at(path, "kind"),
            quote(&r.kind),
            "kubesim does not model this kind",
        )
    })?;
    if r.name.is_empty() {
        return Err(FieldError::required(
            at(path, "name"),
            "name must not be empty",
        ));
    }
    if r.uid.is_empty() {
        return Err(FieldError::required(
            at(path, "uid"),
            "uid must not be empty",
        ));
    }
    Ok(OwnerReference {
        kind,
        name: Str::new(&r.name),
        uid: parse_uid(&r.uid),
        controller: r.controller.unwrap_or(false),
        block_owner_deletion: r.block_owner_deletion.unwrap_or(false),
    })
}

/// Parses a uid: the UUID form [`Uid`]'s `Display` writes maps back to its number;
/// any other text maps to a stable 64-bit FNV-1a hash of it.
pub(crate) fn parse_uid(s: &str) -> Uid {
    parse_uid_exact(s).unwrap_or_else(|| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in s.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Uid(h)
    })
}

fn parse_uid_exact(s: &str) -> Option<Uid> {
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() != 5 || parts.iter().map(|p| p.len()).ne([8, 4, 4, 4, 12]) {
        return None;
    }
    let hex = |p: &str| u64::from_str_radix(p, 16).ok();
    let hi = hex(parts[0])?;
    let low48 = hex(parts[4])?;
    let v = (hi << 32) | (low48 & 0xffff_ffff);
    let candidate = Uid(v);
    (candidate.to_string() == s).then_some(candidate)
}

/// Labels: keys are qualified names, values label values. The error names the map
/// (`metadata.labels`), as the API server does.
pub(crate) fn labels(m: Option<&BTreeMap<String, String>>, path: &str) -> FieldResult<StrMap> {
    let Some(m) = m else { return Ok(StrMap::new()) };
    for (k, v) in m {
        validation::label_key(k).map_err(|e| FieldError::invalid(path, quote(k), detail(&e)))?;
        validation::label_value(v).map_err(|e| FieldError::invalid(path, quote(v), detail(&e)))?;
    }
    Ok(StrMap::from_pairs(m.iter()))
}

/// Annotations: keys are qualified names (lower-cased first, as upstream does); the
/// total size is at most 256 KiB.
pub(crate) fn annotations(m: Option<&BTreeMap<String, String>>, path: &str) -> FieldResult<StrMap> {
    let Some(m) = m else { return Ok(StrMap::new()) };
    let mut total = 0;
    for (k, v) in m {
        validation::label_key(&k.to_ascii_lowercase())
            .map_err(|e| FieldError::invalid(path, quote(k), detail(&e)))?;
        total += k.len() + v.len();
    }
    if total > ANNOTATIONS_MAX_BYTES {
        return Err(FieldError::new(
            path,
            format!("Too long: must have at most {ANNOTATIONS_MAX_BYTES} bytes"),
        ));
    }
    Ok(StrMap::from_pairs(m.iter()))
}

/// `template.metadata`: labels and annotations (the rest of a template's metadata is
/// not kept).
pub(crate) fn template_meta(m: Option<&meta::ObjectMeta>, path: &str) -> FieldResult<TemplateMeta> {
    let Some(m) = m else {
        return Ok(TemplateMeta::default());
    };
    Ok(TemplateMeta {
        labels: labels(m.labels.as_ref(), &at(path, "labels"))?,
        annotations: annotations(m.annotations.as_ref(), &at(path, "annotations"))?,
    })
}

/// A label selector, validated as `ValidateLabelSelector` does.
pub(crate) fn label_selector(s: &meta::LabelSelector, path: &str) -> FieldResult<LabelSelector> {
    let match_labels = labels(s.match_labels.as_ref(), &at(path, "matchLabels"))?;
    let mut match_expressions = Vec::new();
    for (i, r) in s.match_expressions.iter().flatten().enumerate() {
        let p = idx(&at(path, "matchExpressions"), i);
        validation::label_key(&r.key)
            .map_err(|e| FieldError::invalid(at(&p, "key"), quote(&r.key), detail(&e)))?;
        let operator = Operator::from_api_name(&r.operator).ok_or_else(|| {
            FieldError::invalid(
                at(&p, "operator"),
                quote(&r.operator),
                "not a valid selector operator",
            )
        })?;
        let values = r.values.as_deref().unwrap_or(&[]);
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                return Err(FieldError::required(
                    at(&p, "values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ))
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return Err(FieldError::forbidden(
                    at(&p, "values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ))
            }
            _ => {}
        }
        let mut vals: Vec<Str> = Vec::with_capacity(values.len());
        for (j, v) in values.iter().enumerate() {
            validation::label_value(v).map_err(|e| {
                FieldError::invalid(idx(&at(&p, "values"), j), quote(v), detail(&e))
            })?;
            vals.push(intern(v));
        }
        vals.sort();
        vals.dedup();
        match_expressions.push(Requirement {
            key: intern(&r.key),
            operator,
            values: vals,
        });
    }
    Ok(LabelSelector {
        match_labels,
        match_expressions,
    })
}

/// IntOrString → the model's.
pub(crate) fn int_or_string(v: &intstr::IntOrString) -> IntOrString {
    match v {
        intstr::IntOrString::Int(i) => IntOrString::Int(*i),
        intstr::IntOrString::String(s) => IntOrString::String(intern(s)),
    }
}

/// A quantity as millicores.
pub(crate) fn cpu_millis(q: &Quantity, path: &str) -> FieldResult<i64> {
    let v = crate::quantity::parse_cpu_millis(&q.0).map_err(|e| quantity_error(q, path, &e))?;
    non_negative_quantity(q, v, path)
}

/// A quantity as bytes (or plain units).
pub(crate) fn bytes(q: &Quantity, path: &str) -> FieldResult<i64> {
    let v = crate::quantity::parse_bytes(&q.0).map_err(|e| quantity_error(q, path, &e))?;
    non_negative_quantity(q, v, path)
}

fn quantity_error(q: &Quantity, path: &str, e: &str) -> FieldError {
    FieldError::invalid(
        path,
        quote(&q.0),
        &format!("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' ({e})"),
    )
}

fn non_negative_quantity(q: &Quantity, v: i64, path: &str) -> FieldResult<i64> {
    if v < 0 {
        return Err(FieldError::invalid(
            path,
            quote(&q.0),
            "must be greater than or equal to 0",
        ));
    }
    Ok(v)
}

/// An IPv4 address.
pub(crate) fn ipv4(s: &str, path: &str) -> FieldResult<Ipv4Addr> {
    s.parse::<Ipv4Addr>().map_err(|_| {
        if s.parse::<std::net::Ipv6Addr>().is_ok() {
            FieldError::invalid(path, quote(s), "kubesim simulates IPv4 only")
        } else {
            FieldError::invalid(
                path,
                quote(s),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            )
        }
    })
}

/// A timestamp.
pub(crate) fn time(t: &meta::Time) -> Timestamp {
    Timestamp(t.0.as_millisecond())
}

/// An `ObjectReference` whose kind defaults to `default_kind` when absent.
pub(crate) fn object_ref(
    r: &core::ObjectReference,
    default_kind: Option<Kind>,
    path: &str,
) -> FieldResult<ObjectRef> {
    let kind = match r.kind.as_deref().filter(|k| !k.is_empty()) {
        Some(k) => k.parse::<Kind>().map_err(|_| {
            FieldError::invalid(
                at(path, "kind"),
                quote(k),
                "kubesim does not model this kind",
            )
        })?,
        None => default_kind.ok_or_else(|| FieldError::required(at(path, "kind"), ""))?,
    };
    let name = r.name.as_deref().unwrap_or("");
    if name.is_empty() {
        return Err(FieldError::required(at(path, "name"), ""));
    }
    Ok(ObjectRef {
        kind,
        namespace: intern(r.namespace.as_deref().unwrap_or("")),
        name: Str::new(name),
        uid: r.uid.as_deref().filter(|u| !u.is_empty()).map(parse_uid),
    })
}

/// Parses one of `allowed` (API spellings) or fails with `Unsupported value`; `None`
/// gives `default`.
pub(crate) fn one_of<'a>(
    v: Option<&'a str>,
    default: &'a str,
    allowed: &[&str],
    path: &str,
) -> FieldResult<&'a str> {
    let v = v.filter(|s| !s.is_empty()).unwrap_or(default);
    if allowed.contains(&v) {
        Ok(v)
    } else {
        Err(FieldError::unsupported(path, v, allowed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_round_trips_through_its_display_form() {
        for v in [0u64, 1, 0x1234_5678_9abc_def0, u64::MAX] {
            assert_eq!(parse_uid(&Uid(v).to_string()), Uid(v));
        }
        // Foreign uids hash stably.
        let a = parse_uid("6f1c9a0e-aaaa-bbbb-cccc-0123456789ab");
        assert_eq!(a, parse_uid("6f1c9a0e-aaaa-bbbb-cccc-0123456789ab"));
        assert_ne!(a, parse_uid("6f1c9a0e-aaaa-bbbb-cccc-0123456789ac"));
    }

    #[test]
    fn selector_operators_and_values() {
        let sel = |op: &str, vals: Option<Vec<&str>>| meta::LabelSelector {
            match_expressions: Some(vec![meta::LabelSelectorRequirement {
                key: "tier".into(),
                operator: op.into(),
                values: vals.map(|v| v.into_iter().map(String::from).collect()),
            }]),
            match_labels: None,
        };
        let s = label_selector(&sel("In", Some(vec!["b", "a", "b"])), "spec.selector").unwrap();
        assert_eq!(
            s.match_expressions[0].values,
            vec![Str::new("a"), Str::new("b")]
        );
        let e = label_selector(&sel("In", None), "spec.selector").unwrap_err();
        assert_eq!(e.field, "spec.selector.matchExpressions[0].values");
        let e = label_selector(&sel("Exists", Some(vec!["x"])), "spec.selector").unwrap_err();
        assert!(e.reason.starts_with("Forbidden"));
        let e = label_selector(&sel("Near", Some(vec!["x"])), "spec.selector").unwrap_err();
        assert_eq!(e.field, "spec.selector.matchExpressions[0].operator");
    }
}
