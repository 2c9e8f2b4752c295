//! `kubectl apply` (client-side apply): the last-applied configuration and the
//! three-way strategic merge.
//!
//! `kubectl apply` records the manifest it sent in the
//! [`LAST_APPLIED_ANNOTATION`] annotation of the object (the manifest's JSON, without
//! that annotation, keys sorted, with a trailing newline). When the object exists, it
//! computes a strategic merge patch from three documents and sends it:
//!
//! - the *original*: the last-applied configuration stored on the live object (none
//!   when the object was made by `kubectl create` or a controller: nothing is then
//!   deleted, and only the fields the manifest names change);
//! - the *modified*: the new manifest, with its new last-applied annotation;
//! - the *current*: the live object.
//!
//! [`three_way_merge`] computes the document that patch produces:
//!
//! - a field of the modified document is set (maps merge field by field, recursively;
//!   a `null` deletes the field);
//! - a field of the original document that the modified one lacks is deleted;
//! - every other field is kept from the live object (`spec.replicas` after `kubectl
//!   scale` or an HPA, `spec.paused` after `kubectl rollout pause`, defaults, allocated
//!   fields);
//! - lists with a patch merge key (upstream's `patchStrategy:"merge"` struct tags in
//!   `k8s.io/api`) merge item by item on that key: `containers`, `initContainers`,
//!   `ephemeralContainers`, `volumes`, `imagePullSecrets`, `resourceClaims` and
//!   `schedulingGates` by `name`, `hostAliases` by `ip`, `topologySpreadConstraints` by
//!   `topologyKey`, a container's `env` by `name`, `ports` by `containerPort`,
//!   `volumeMounts` by `mountPath`, `volumeDevices` by `devicePath`, a Service's
//!   `ports` by `port`, `metadata.ownerReferences` by `uid`. An item of the modified
//!   list merges with the live item of the same key; a live item whose key the original
//!   list had and the modified list lacks is deleted; other live items are kept (after
//!   in the modified list's order, interleaved with the live-only items by their live
//!   position as upstream's `$setElementOrder` / `mergeSortedSlice` do). A list item
//!   without its merge key makes the whole list replace the live one;
//! - every other list is atomic: the modified list replaces the live one;
//! - `retainKeys` fields (a Deployment's `spec.strategy`, a pod volume): when the merge
//!   changes them, only the keys the modified document gives are kept, so `strategy:
//!   {type: Recreate}` drops the live `rollingUpdate`.
//!
//! The API server's own update rules that apply to the merged document are applied
//! too: a Service switched to a type without node ports loses the node ports the merge
//! kept from the live object (unless the manifest adds new ones), and one switched to
//! ExternalName its unchanged clusterIP (upstream `dropTypeDependentFields`).
//! A DaemonSet switched to `OnDelete` keeps the live `rollingUpdate`, as upstream; the
//! loader accepts and ignores it there, as upstream validation does.
//!
//! The result is an ordinary manifest document: [`crate::cluster::Cluster::apply`]
//! decodes it through [`crate::manifest`] (defaulting, validation), so a field deleted
//! by the merge gets its default again.

use serde_json::{Map, Value};

use crate::model::Kind;

/// The annotation in which `kubectl apply` records the manifest it applied.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The value of [`LAST_APPLIED_ANNOTATION`] for a manifest document, as kubectl writes
/// it: the document without that annotation (and without an `annotations` map left
/// empty by its removal), as compact JSON with sorted keys and a trailing newline.
pub fn last_applied_configuration(doc: &Value) -> String {
    let mut doc = doc.clone();
    if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
        let mut emptied = false;
        if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            emptied = ann.remove(LAST_APPLIED_ANNOTATION).is_some() && ann.is_empty();
        }
        if emptied {
            meta.remove("annotations");
        }
    }
    let mut out = sorted(&doc).to_string();
    out.push('\n');
    out
}

/// `v` with every map rebuilt in key order (so the JSON text is canonical whether or
/// not serde_json preserves insertion order).
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The document `kubectl apply` leaves on the server: `current` (the live object's
/// JSON) patched with the three-way strategic merge patch from `original` (the
/// last-applied configuration, if any) to `modified` (the new manifest). `kind` selects
/// the patch merge keys of the kind's pod spec. See the module docs for the rules.
pub fn three_way_merge(
    kind: Kind,
    original: Option<&Value>,
    modified: &Value,
    current: &Value,
) -> Value {
    let mut path = Vec::new();
    let mut out = merge_value(kind, &mut path, original, modified, Some(current));
    if kind == Kind::Service {
        drop_type_dependent_fields(&mut out, current);
    }
    out
}

/// The API server's `dropTypeDependentFields` on a Service update (`old` is the live
/// document): switching to a type without node ports drops the node ports when the
/// update adds none the live object lacks; switching to ExternalName drops an
/// unchanged clusterIP.
fn drop_type_dependent_fields(new: &mut Value, old: &Value) {
    let type_of = |v: &Value| {
        v.pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string()
    };
    let needs_node_port = |t: &str| t == "NodePort" || t == "LoadBalancer";
    let (old_type, new_type) = (type_of(old), type_of(new));
    let node_ports = |v: &Value| -> Vec<Value> {
        v.pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p.get("nodePort").filter(|n| !n.is_null()).cloned())
                    .collect()
            })
            .unwrap_or_default()
    };
    if needs_node_port(&old_type) && !needs_node_port(&new_type) {
        let live = node_ports(old);
        if node_ports(new).iter().all(|n| live.contains(n)) {
            if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    p.remove("nodePort");
                }
            }
        }
    }
    if old_type != "ExternalName" && new_type == "ExternalName" {
        let same = new.pointer("/spec/clusterIP") == old.pointer("/spec/clusterIP");
        if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
            if same {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
            }
        }
    }
}

/// How a list at some path merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListStrategy {
    /// Item by item on this key.
    MergeKey(&'static str),
    /// Atomic: replaced as a whole.
    Replace,
}

/// The path of a kind's pod spec (map keys from the document root).
fn pod_spec_path(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Pod => &["spec"],
        Kind::ReplicaSet | Kind::Deployment | Kind::DaemonSet | Kind::StatefulSet | Kind::Job => {
            &["spec", "template", "spec"]
        }
        Kind::CronJob => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => &[],
    }
}

/// The strategy of the list at `path` (map keys from the root; list items add no
/// segment).
fn list_strategy(kind: Kind, path: &[String]) -> ListStrategy {
    use ListStrategy::{MergeKey, Replace};
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    if p == ["metadata", "ownerReferences"] {
        return MergeKey("uid");
    }
    if kind == Kind::Service && p == ["spec", "ports"] {
        return MergeKey("port");
    }
    let pod = pod_spec_path(kind);
    if pod.is_empty() || !p.starts_with(pod) {
        return Replace;
    }
    match &p[pod.len()..] {
        ["containers" | "initContainers" | "ephemeralContainers"] => MergeKey("name"),
        ["volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates"] => MergeKey("name"),
        ["hostAliases"] => MergeKey("ip"),
        ["topologySpreadConstraints"] => MergeKey("topologyKey"),
        ["containers" | "initContainers" | "ephemeralContainers", field] => match *field {
            "env" => MergeKey("name"),
            "ports" => MergeKey("containerPort"),
            "volumeMounts" => MergeKey("mountPath"),
            "volumeDevices" => MergeKey("devicePath"),
            _ => Replace,
        },
        _ => Replace,
    }
}

/// Whether the map at `path` is a `retainKeys` field (a list path names its items).
fn retain_keys(kind: Kind, path: &[String]) -> bool {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    if kind == Kind::Deployment && p == ["spec", "strategy"] {
        return true;
    }
    let pod = pod_spec_path(kind);
    !pod.is_empty() && p.starts_with(pod) && p[pod.len()..] == ["volumes"]
}

fn merge_value(
    kind: Kind,
    path: &mut Vec<String>,
    original: Option<&Value>,
    modified: &Value,
    current: Option<&Value>,
) -> Value {
    match (modified, current) {
        (Value::Object(m), Some(Value::Object(c))) => Value::Object(merge_map(
            kind,
            path,
            original.and_then(Value::as_object),
            m,
            c,
        )),
        (Value::Array(m), Some(Value::Array(c))) => match list_strategy(kind, path) {
            ListStrategy::MergeKey(key) => {
                merge_list(kind, path, original.and_then(Value::as_array), m, c, key)
                    .unwrap_or_else(|| without_nulls(modified))
            }
            ListStrategy::Replace => without_nulls(modified),
        },
        _ => without_nulls(modified),
    }
}

fn merge_map(
    kind: Kind,
    path: &mut Vec<String>,
    original: Option<&Map<String, Value>>,
    modified: &Map<String, Value>,
    current: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = current.clone();
    for (k, mv) in modified {
        if mv.is_null() {
            out.remove(k);
            continue;
        }
        path.push(k.clone());
        let merged = merge_value(
            kind,
            path,
            original.and_then(|o| o.get(k)),
            mv,
            current.get(k),
        );
        path.pop();
        out.insert(k.clone(), merged);
    }
    if let Some(o) = original {
        for k in o.keys() {
            if !modified.contains_key(k) {
                out.remove(k);
            }
        }
    }
    if retain_keys(kind, path) && &out != current {
        out.retain(|k, _| modified.get(k).is_some_and(|v| !v.is_null()));
    }
    out
}

/// Merges a list by `key`; `None` when an item of the modified list lacks the key (the
/// list is then replaced).
fn merge_list(
    kind: Kind,
    path: &mut Vec<String>,
    original: Option<&Vec<Value>>,
    modified: &[Value],
    current: &[Value],
    key: &str,
) -> Option<Value> {
    let key_of = |v: &Value| v.get(key).filter(|k| !k.is_null()).cloned();
    let live_index = |k: &Value| current.iter().position(|c| key_of(c).as_ref() == Some(k));
    // The modified list's items, merged with their live and original items, in the
    // modified order, each with its live position.
    let mut patched: Vec<(Value, Option<usize>)> = Vec::with_capacity(modified.len());
    let mut seen: Vec<Value> = Vec::new();
    for m in modified {
        let k = key_of(m)?;
        let at = live_index(&k);
        let orig = original.and_then(|o| o.iter().find(|x| key_of(x).as_ref() == Some(&k)));
        patched.push((
            merge_value(kind, path, orig, m, at.map(|i| &current[i])),
            at,
        ));
        seen.push(k);
    }
    let deleted: Vec<Value> = original
        .map(|o| o.iter().filter_map(key_of).collect())
        .unwrap_or_default();
    // Live items the patch neither names nor deletes, in the live order.
    let server_only: Vec<(usize, &Value)> = current
        .iter()
        .enumerate()
        .filter(|(_, c)| match key_of(c) {
            Some(k) => !seen.contains(&k) && !deleted.contains(&k),
            None => true,
        })
        .collect();
    // Interleave as upstream's `mergeSortedSlice` does: a server-only item goes before
    // the next patched item when that item is live and comes after it there.
    let mut out = Vec::with_capacity(patched.len() + server_only.len());
    let (mut i, mut j) = (0, 0);
    while i < server_only.len() || j < patched.len() {
        let take_server = match (server_only.get(i), patched.get(j)) {
            (Some(_), None) => true,
            (Some((si, _)), Some((_, Some(pi)))) => si < pi,
            _ => false,
        };
        if take_server {
            out.push(server_only[i].1.clone());
            i += 1;
        } else {
            out.push(patched[j].0.clone());
            j += 1;
        }
    }
    Some(Value::Array(out))
}

/// `v` without `null` map values (a patch's `null` deletes; setting a new value never
/// stores one).
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotation_is_sorted_compact_json_without_itself() {
        let doc = json!({"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": "p", "annotations": {LAST_APPLIED_ANNOTATION: "old"}}});
        assert_eq!(
            last_applied_configuration(&doc),
            "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"}}\n"
        );
    }

    #[test]
    fn kept_set_and_deleted_fields() {
        let original = json!({"spec": {"a": 1, "b": 2}});
        let modified = json!({"spec": {"a": 5}});
        let current = json!({"spec": {"a": 1, "b": 2, "c": 3}});
        let out = three_way_merge(Kind::Deployment, Some(&original), &modified, &current);
        assert_eq!(out, json!({"spec": {"a": 5, "c": 3}}));
        // Without an original nothing is deleted.
        let out = three_way_merge(Kind::Deployment, None, &modified, &current);
        assert_eq!(out, json!({"spec": {"a": 5, "b": 2, "c": 3}}));
    }

    #[test]
    fn containers_merge_by_name_and_env_by_name() {
        let p = |v: Value| json!({"spec": {"template": {"spec": {"containers": v}}}});
        let original = p(json!([{"name": "a", "env": [{"name": "X", "value": "1"}]}]));
        let modified = p(json!([{"name": "a", "env": [{"name": "Y", "value": "2"}]}]));
        let current = p(json!([
            {"name": "a", "image": "i", "env": [{"name": "X", "value": "1"}, {"name": "Z", "value": "3"}]},
            {"name": "sidecar"}
        ]));
        let out = three_way_merge(Kind::Deployment, Some(&original), &modified, &current);
        assert_eq!(
            out,
            p(json!([
                {"name": "a", "image": "i", "env": [{"name": "Y", "value": "2"}, {"name": "Z", "value": "3"}]},
                {"name": "sidecar"}
            ]))
        );
    }

    #[test]
    fn live_only_items_keep_their_place() {
        let p = |v: Value| json!({"spec": {"containers": v}});
        let current = p(json!([{"name": "init"}, {"name": "a"}, {"name": "mid"}, {"name": "b"}]));
        let modified = p(json!([{"name": "b"}, {"name": "a"}, {"name": "c"}]));
        // mid (live 2) goes before b (live 3), the next patched item.
        let out = three_way_merge(Kind::Pod, None, &modified, &current);
        assert_eq!(
            out,
            p(
                json!([{"name": "init"}, {"name": "mid"}, {"name": "b"}, {"name": "a"}, {"name": "c"}])
            )
        );
    }

    #[test]
    fn atomic_lists_replace() {
        let p = |v: Value| json!({"spec": {"template": {"spec": {"tolerations": v}}}});
        let out = three_way_merge(
            Kind::Deployment,
            None,
            &p(json!([{"key": "a"}])),
            &p(json!([{"key": "b"}])),
        );
        assert_eq!(out, p(json!([{"key": "a"}])));
    }

    #[test]
    fn retain_keys_drops_rolling_update() {
        let modified = json!({"spec": {"strategy": {"type": "Recreate"}}});
        let current = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let out = three_way_merge(Kind::Deployment, None, &modified, &current);
        assert_eq!(out, modified);
        // Unchanged: nothing is patched, so nothing is dropped.
        let modified = json!({"spec": {"strategy": {"type": "RollingUpdate"}}});
        let out = three_way_merge(Kind::Deployment, None, &modified, &current);
        assert_eq!(out, current);
    }

    #[test]
    fn null_deletes_and_item_without_key_replaces() {
        let modified = json!({"spec": {"a": null, "ports": [{"name": "x"}]}});
        let current = json!({"spec": {"a": 1, "ports": [{"port": 80}]}});
        let out = three_way_merge(Kind::Service, None, &modified, &current);
        assert_eq!(out, json!({"spec": {"ports": [{"name": "x"}]}}));
    }
}
