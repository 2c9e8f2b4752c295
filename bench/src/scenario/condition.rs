//! Conditions of `expect` and `wait` steps, evaluated on the store: select the objects
//! (a kind, or one named object, with a label selector), keep those matching `where`,
//! then check `count`, `names` and `fields` (SCENARIOS.md, "Conditions").

use std::collections::BTreeSet;
use std::sync::Arc;

use kubesim_core::model::Object;
use kubesim_core::store::Store;
use serde_json::Value;

use super::parse::Condition;

/// The outcome of one evaluation.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Whether the condition holds.
    pub ok: bool,
    /// What was expected, in words.
    pub expected: String,
    /// What was found, in words (one line per object that disagrees).
    pub found: Vec<String>,
    /// The objects involved (those selected, before `where` when nothing is kept).
    pub objects: Vec<Arc<Object>>,
}

/// Whether two JSON values are equal as scenario values: numbers by value (`3` equals
/// `3.0`), everything else structurally; a number never equals a string.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// The condition in words (`pods -l app=kubia where … count=3 fields …`).
pub fn describe(c: &Condition, namespace: &str) -> String {
    let mut s = match &c.name {
        Some(n) => format!("{}/{}", c.kind.name().to_ascii_lowercase(), n),
        None => c.kind.plural().to_string(),
    };
    if c.kind.namespaced() {
        s.push_str(&format!(" -n {namespace}"));
    }
    if c.name.is_some() && c.count.is_none() {
        s.push_str(" exists");
    }
    if let Some(sel) = &c.selector {
        s.push_str(&format!(" -l {sel}"));
    }
    let pairs = |v: &[(String, crate::kubectl::FieldPath, Value)]| {
        v.iter()
            .map(|(p, _, want)| format!("{p}={want}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !c.where_.is_empty() {
        s.push_str(&format!(" where {}", pairs(&c.where_)));
    }
    if let Some(n) = c.count {
        s.push_str(&format!(": count {n}"));
    }
    if let Some(names) = &c.names {
        s.push_str(&format!(": names [{}]", names.join(", ")));
    }
    if !c.fields.is_empty() {
        s.push_str(&format!(": fields {}", pairs(&c.fields)));
    }
    s
}

/// Evaluates `c` on `store` (`namespace`: the step's, unless the condition names one).
pub fn evaluate(store: &Store, c: &Condition, namespace: &str) -> Outcome {
    let ns = c.namespace.as_deref().unwrap_or(namespace);
    let expected = describe(c, ns);
    let selected: Vec<Arc<Object>> = match &c.name {
        Some(name) => store
            .try_get(c.kind, ns, name)
            .filter(|o| c.selector.as_ref().is_none_or(|s| s.matches(o.labels())))
            .into_iter()
            .collect(),
        None => match store.list(c.kind, Some(ns), c.selector.as_ref(), None) {
            Ok(v) => v,
            Err(e) => {
                return Outcome {
                    ok: false,
                    expected,
                    found: vec![e.to_string()],
                    objects: Vec::new(),
                }
            }
        },
    };
    let rendered: Vec<(Arc<Object>, Value)> = selected
        .into_iter()
        .map(|o| {
            let j = o.to_json();
            (o, j)
        })
        .collect();
    let kept: Vec<&(Arc<Object>, Value)> = rendered
        .iter()
        .filter(|(_, j)| {
            c.where_
                .iter()
                .all(|(_, p, want)| json_eq(&p.eval(j), want))
        })
        .collect();
    let mut found = Vec::new();
    let names: BTreeSet<String> = kept.iter().map(|(o, _)| o.name().to_string()).collect();
    let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
    if let (Some(name), None) = (&c.name, c.count) {
        if kept.is_empty() {
            found.push(if rendered.is_empty() {
                format!("{}/{name} not found", c.kind.name().to_ascii_lowercase())
            } else {
                format!(
                    "{}/{name} does not match where",
                    c.kind.name().to_ascii_lowercase()
                )
            });
        }
    }
    if let Some(n) = c.count {
        if kept.len() != n {
            found.push(format!("count {} [{}]", kept.len(), list(&names)));
        }
    }
    if let Some(want) = &c.names {
        let want: BTreeSet<String> = want.iter().cloned().collect();
        if want != names {
            found.push(format!("names [{}]", list(&names)));
        }
    }
    for (o, j) in &kept {
        let bad: Vec<String> = c
            .fields
            .iter()
            .filter_map(|(p, path, want)| {
                let got = path.eval(j);
                (!json_eq(&got, want)).then(|| format!("{p}={got} (want {want})"))
            })
            .collect();
        if !bad.is_empty() {
            found.push(format!(
                "{}/{}: {}",
                o.kind().name().to_ascii_lowercase(),
                o.name(),
                bad.join(", ")
            ));
        }
    }
    let objects: Vec<Arc<Object>> = if kept.is_empty() {
        rendered.iter().map(|(o, _)| o.clone()).collect()
    } else {
        kept.iter().map(|(o, _)| o.clone()).collect()
    };
    Outcome {
        ok: found.is_empty(),
        expected,
        found,
        objects,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use kubesim_core::manifest;
    use kubesim_core::store::Store;
    use serde_json::json;

    use super::*;
    use crate::scenario::parse::{parse_str, Action};

    /// The condition of `expect: <cond>`.
    fn cond(text: &str) -> Condition {
        let yaml = format!("name: t\nsteps:\n- expect: {text}\n");
        let s = parse_str(&yaml, "t.yaml", Path::new(".")).unwrap();
        match &s.steps[0].action {
            Action::Expect(c) => c.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn store() -> Store {
        let store = Store::new();
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {app: x}}\ndata: {n: \"1\"}\n---\n\
                    apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, labels: {app: x}}\ndata: {n: \"2\"}\n---\n\
                    apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {app: y}}\ndata: {n: \"2\"}\n";
        for o in manifest::load_str(yaml, "cm.yaml").unwrap() {
            store.create(o).unwrap();
        }
        store
    }

    fn check(text: &str, ok: bool) {
        let o = evaluate(&store(), &cond(text), "default");
        assert_eq!(
            o.ok, ok,
            "{text}: expected {}, found {:?}",
            o.expected, o.found
        );
    }

    #[test]
    fn selection_where_count_names_fields() {
        check("{target: cm, count: 3}", true);
        check("{target: cm, selector: \"app=x\", count: 2}", true);
        check("{target: cm, selector: \"app=x\", count: 3}", false);
        check("{target: cm, where: {data.n: \"2\"}, names: [b, c]}", true);
        check("{target: cm, where: {data.n: \"2\"}, names: [b]}", false);
        check(
            "{target: cm, selector: \"app=x\", fields: {metadata.labels.app: x}}",
            true,
        );
        check("{target: cm, fields: {metadata.labels.app: x}}", false);
        // A number never equals a string.
        check("{target: cm/a, fields: {data.n: 1}}", false);
        check(
            "{target: cm/a, fields: {data.n: \"1\", data.missing: null}}",
            true,
        );
        // A named object that does not exist fails, unless count says 0.
        check("{target: cm/zz}", false);
        check("{target: cm/zz, fields: {data.n: null}}", false);
        check("{target: cm/zz, count: 0}", true);
        check("{target: cm/a, count: 0}", false);
        // Other namespaces are not seen.
        check("{target: cm, namespace: other, count: 0}", true);
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_eq(&json!(3), &json!(3.0)));
        assert!(!json_eq(&json!(3), &json!("3")));
        assert!(json_eq(&json!({"a": [1, 2]}), &json!({"a": [1.0, 2]})));
        assert!(!json_eq(&json!(null), &json!(0)));
    }

    #[test]
    fn failures_say_what_was_found() {
        let o = evaluate(
            &store(),
            &cond("{target: cm, selector: \"app=x\", count: 1, fields: {data.n: \"1\"}}"),
            "default",
        );
        assert!(!o.ok);
        assert_eq!(
            o.expected,
            "configmaps -n default -l app=x: count 1: fields data.n=\"1\""
        );
        assert_eq!(o.found[0], "count 2 [a, b]");
        assert_eq!(o.found[1], "configmap/b: data.n=\"2\" (want \"1\")");
        assert_eq!(o.objects.len(), 2);
    }
}
