//! Decoding: YAML documents → JSON values → k8s-openapi typed structs, with type errors
//! and unknown fields reported at their JSON field path (as `kubectl apply
//! --validate=strict` does).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_path_to_error::Segment;

use super::field::{FieldError, FieldResult};

/// Splits a YAML stream into its documents, each converted to JSON. Entry `i` is
/// document `i`; an empty document is `Value::Null`. Merge keys (`<<`) are applied.
pub(crate) fn yaml_documents(text: &str) -> Vec<(usize, Result<Value, String>)> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let parsed = serde_yaml_ng::Value::deserialize(doc)
            .and_then(|mut v| v.apply_merge().map(|()| v))
            .map_err(|e| e.to_string())
            .and_then(|v| {
                serde_json::to_value(&v).map_err(|e| format!("cannot convert YAML to JSON: {e}"))
            });
        let failed = parsed.is_err();
        out.push((i, parsed));
        if failed {
            // A syntax error ends the stream: later documents cannot be located reliably.
            break;
        }
    }
    out
}

/// Deserializes `value` into `T`, reporting a type error at its JSON field path.
pub(crate) fn typed<T: DeserializeOwned>(value: &Value) -> FieldResult<T> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let field = render_path(e.path());
        FieldError::new(field, e.into_inner().to_string())
    })
}

fn render_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_key(&mut out, key),
            Segment::Enum { variant } => push_key(&mut out, variant),
            Segment::Unknown => push_key(&mut out, "?"),
        }
    }
    out
}

fn push_key(out: &mut String, key: &str) {
    if key.contains(['.', '/']) {
        out.push_str(&format!("[{key}]"));
    } else {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(key);
    }
}

/// Strict field validation: every key of `input` (at any depth) that the typed value
/// `typed` does not carry is an unknown field. Keys whose value is `null` are ignored,
/// as the API server ignores them. Free-form maps (labels, data, resources.requests…)
/// deserialize into maps that keep every key, so they never report.
pub(crate) fn unknown_fields<T: Serialize>(input: &Value, typed: &T) -> FieldResult<()> {
    let back = serde_json::to_value(typed).map_err(|e| FieldError::new("", e.to_string()))?;
    let mut found = Vec::new();
    diff(input, &back, String::new(), &mut found);
    match found.first() {
        None => Ok(()),
        Some(first) => {
            let all: Vec<String> = found
                .iter()
                .map(|p| format!("unknown field {p:?}"))
                .collect();
            Err(FieldError::new(first.clone(), all.join(", ")))
        }
    }
}

fn diff(input: &Value, back: &Value, path: String, found: &mut Vec<String>) {
    match (input, back) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if v.is_null() {
                    continue;
                }
                let mut child = path.clone();
                push_key(&mut child, k);
                match b.get(k) {
                    None => found.push(child),
                    Some(bv) => diff(v, bv, child, found),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_split_and_empty_ones_are_null() {
        let docs = yaml_documents("a: 1\n---\n---\nb: [1, 2]\n");
        let vals: Vec<Value> = docs.into_iter().map(|(_, v)| v.unwrap()).collect();
        assert_eq!(
            vals,
            vec![json!({"a": 1}), Value::Null, json!({"b": [1, 2]})]
        );
    }

    #[test]
    fn merge_keys_apply() {
        let docs = yaml_documents("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n");
        assert_eq!(
            docs[0].1.as_ref().unwrap()["other"],
            json!({"x": 1, "y": 2})
        );
    }

    #[test]
    fn syntax_error_is_reported() {
        let docs = yaml_documents("a: [1, 2\n");
        assert!(docs[0].1.is_err());
    }

    #[test]
    fn diff_finds_nested_unknown_keys_and_skips_nulls() {
        let input = json!({"spec": {"a": 1, "zz": null, "list": [{"b": 1, "c": 2}]}, "top": 1});
        let back = json!({"spec": {"a": 1, "list": [{"b": 1}]}});
        let mut found = Vec::new();
        diff(&input, &back, String::new(), &mut found);
        assert_eq!(found, vec!["spec.list[0].c".to_string(), "top".to_string()]);
    }

    #[test]
    fn type_errors_carry_the_path() {
        use k8s_openapi::api::apps::v1::Deployment;
        let v = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                       "spec": {"template": {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": "x"}]}]}}}});
        let e = typed::<Deployment>(&v).unwrap_err();
        assert_eq!(
            e.field,
            "spec.template.spec.containers[0].ports[0].containerPort"
        );
        assert!(e.reason.contains("invalid type"), "{}", e.reason);
    }
}
