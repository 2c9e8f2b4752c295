//! Field paths into an object's Kubernetes JSON form: the `where` and `fields` keys of a
//! scenario condition (SCENARIOS.md, "Conditions").
//!
//! A path is a chain of steps from the object's root, as `kubectl get -o json` shows it:
//!
//! | form | step | example |
//! |------|------|---------|
//! | `a.b` | a map key | `status.readyReplicas` |
//! | `a[0]`, `a[-1]` | an array index (negative counts from the end, as in kubectl's JSONPath) | `metadata.ownerReferences[0].kind` |
//! | `a[key=value]` | the first array element whose `key` field equals `value` (`key` may be a dotted path) | `status.conditions[type=Ready].status`, `endpoints[conditions.ready=true]` |
//! | `a["k.e/y"]`, `a['k.e/y']` | a map key with dots or slashes | `metadata.labels["app.kubernetes.io/name"]` |
//! | `len(path)` | the length of what `path` reaches | `len(subsets[0].addresses)` |
//!
//! **Missing is null.** Evaluation never fails: a step that finds nothing (a missing key,
//! an index out of range, no matching element, a step into a scalar) makes the whole
//! path [`Value::Null`], so `metadata.deletionTimestamp: null` says "not being deleted".
//!
//! **`len` of a missing field is 0**, as jq's `null | length` is: the API omits empty
//! lists (`omitempty`), so an Endpoints object with no ready pods has no `addresses` at
//! all, and `len(subsets[0].addresses): 0` must hold for it. `len` counts an array's
//! elements, a map's keys and a string's characters (jq's `length`); a number or a
//! boolean has no length and gives `null`.
//!
//! In `[key=value]` the element's field is compared in its string form (`"True"` and
//! `True` alike, `3` for the number 3), since the value is written unquoted in the path.
//! A value with `]`, `"`, `\` or surrounding spaces is written quoted: `[name="a]b"]`.
//!
//! [`FieldPath`] implements [`Display`](fmt::Display) in the canonical spelling, and
//! `FieldPath::parse(&p.to_string()) == Ok(p)` for every path.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// One step of a [`FieldPath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// A map key: `.name` or `["name.with/dots"]`.
    Key(String),
    /// An array index: `[2]`; negative counts from the end (`[-1]` is the last).
    Index(i64),
    /// The first array element whose field `key` (a dotted path within the element)
    /// has the string form `value`: `[type=Ready]`, `[conditions.ready=true]`.
    Match {
        /// The element's field.
        key: String,
        /// The value it must have, in string form.
        value: String,
    },
}

/// A parsed field path: steps from the object's root, optionally wrapped in `len(…)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldPath {
    /// The steps, outermost first. Never empty.
    pub steps: Vec<Step>,
    /// `len(…)`: the path gives the length of what the steps reach.
    pub len: bool,
}

/// Characters a bare key (`a.b`) may hold; any other key is written `["…"]`.
fn is_bare_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$'
}

/// Characters the `key` of a `[key=value]` step may hold.
fn is_match_key_char(c: char) -> bool {
    is_bare_key_char(c) || c == '.' || c == '/'
}

impl FieldPath {
    /// Parses a path. The error names the offending character, its position (0-based,
    /// in characters) and what was expected there.
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        let trimmed = text.trim();
        let (inner, len, offset) = match trimmed.strip_prefix("len(") {
            Some(rest) => {
                let Some(inner) = rest.strip_suffix(')') else {
                    return Err(format!(
                        "field path {text:?}: `len(` is not closed by `)` at the end"
                    ));
                };
                (inner, true, 4)
            }
            None => (trimmed, false, 0),
        };
        let steps = Parser::new(inner, offset)
            .steps()
            .map_err(|e| format!("field path {text:?}: {e}"))?;
        Ok(FieldPath { steps, len })
    }

    /// The value the path reaches in `root` (`Null` when any step finds nothing), or,
    /// for `len(…)`, its length (see the module docs).
    pub fn eval(&self, root: &Value) -> Value {
        let mut cur = root;
        let mut found = true;
        for step in &self.steps {
            match step_into(cur, step) {
                Some(next) => cur = next,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if self.len {
            if !found {
                return Value::from(0u64);
            }
            return match cur {
                Value::Null => Value::from(0u64),
                Value::Array(a) => Value::from(a.len() as u64),
                Value::Object(m) => Value::from(m.len() as u64),
                Value::String(s) => Value::from(s.chars().count() as u64),
                Value::Bool(_) | Value::Number(_) => Value::Null,
            };
        }
        if found {
            cur.clone()
        } else {
            Value::Null
        }
    }
}

/// The string form a `[key=value]` step compares against.
fn string_form(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".to_string()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

fn step_into<'v>(cur: &'v Value, step: &Step) -> Option<&'v Value> {
    match step {
        Step::Key(k) => cur.as_object()?.get(k),
        Step::Index(i) => {
            let arr = cur.as_array()?;
            let idx = if *i < 0 {
                arr.len().checked_sub(i.unsigned_abs() as usize)?
            } else {
                usize::try_from(*i).ok()?
            };
            arr.get(idx)
        }
        Step::Match { key, value } => cur.as_array()?.iter().find(|el| {
            key.split('.')
                .try_fold(*el, |v, k| v.as_object()?.get(k))
                .and_then(string_form)
                .is_some_and(|s| &s == value)
        }),
    }
}

impl FromStr for FieldPath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldPath::parse(s)
    }
}

/// Writes `s` as a double-quoted string, escaping `"` and `\`.
fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A leading `.` is added by FieldPath's Display between steps.
            Step::Key(k) if !k.is_empty() && k.chars().all(is_bare_key_char) => f.write_str(k),
            Step::Key(k) => {
                f.write_str("[")?;
                write_quoted(f, k)?;
                f.write_str("]")
            }
            Step::Index(i) => write!(f, "[{i}]"),
            Step::Match { key, value } => {
                write!(f, "[{key}=")?;
                let bare = !value.is_empty()
                    && !value.starts_with(['"', '\''])
                    && value.trim() == value
                    && !value.contains([']', '\\']);
                if bare {
                    f.write_str(value)?;
                } else {
                    write_quoted(f, value)?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len {
            f.write_str("len(")?;
        }
        for (i, step) in self.steps.iter().enumerate() {
            let bare_key =
                matches!(step, Step::Key(k) if !k.is_empty() && k.chars().all(is_bare_key_char));
            if i > 0 && bare_key {
                f.write_str(".")?;
            }
            write!(f, "{step}")?;
        }
        if self.len {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A recursive-descent parser over the characters of a path.
struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// Added to positions in errors (the `len(` prefix).
    offset: usize,
}

impl Parser {
    fn new(text: &str, offset: usize) -> Self {
        Parser {
            chars: text.chars().collect(),
            pos: 0,
            offset,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn err(&self, why: &str) -> String {
        match self.peek() {
            Some(c) => format!("unexpected {c:?} at {}: {why}", self.pos + self.offset),
            None => format!("unexpected end at {}: {why}", self.pos + self.offset),
        }
    }

    fn steps(mut self) -> Result<Vec<Step>, String> {
        if self.chars.is_empty() {
            return Err("empty path".to_string());
        }
        let mut steps = Vec::new();
        // kubectl's JSONPath spells the root `.status`; allow the leading dot.
        if self.peek() == Some('.') {
            self.pos += 1;
        }
        loop {
            match self.peek() {
                Some('[') => steps.push(self.bracket()?),
                Some(c) if is_bare_key_char(c) => steps.push(Step::Key(self.bare_key())),
                _ => {
                    return Err(self.err(
                        "expected a field name (letters, digits, `_`, `-`; \
                         write keys with dots or slashes as [\"key\"]) or `[`",
                    ))
                }
            }
            // After a step: end, `.` then a key, or `[`.
            match self.peek() {
                None => return Ok(steps),
                Some('.') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) if is_bare_key_char(c) => {}
                        _ => {
                            return Err(self.err(
                                "expected a field name after `.` (write keys with dots or \
                                 slashes as [\"key\"])",
                            ))
                        }
                    }
                }
                Some('[') => {}
                Some(_) => {
                    return Err(self.err(
                        "expected `.`, `[` or the end of the path (write keys with dots or \
                         slashes as [\"key\"])",
                    ))
                }
            }
        }
    }

    fn bare_key(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_bare_key_char) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// A quoted string at `self.pos` (`"…"` or `'…'`, `\` escapes the next character).
    fn quoted(&mut self) -> Result<String, String> {
        let Some(q) = self.peek() else {
            return Err(self.err("expected a quote"));
        };
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(format!(
                        "the quote {q:?} at {} is not closed",
                        open + self.offset
                    ))
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        None => return Err(self.err("expected a character after `\\`")),
                    }
                }
                Some(c) if c == q => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn close(&mut self) -> Result<(), String> {
        if self.peek() == Some(']') {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err("expected `]`"))
        }
    }

    fn bracket(&mut self) -> Result<Step, String> {
        self.pos += 1; // '['
        match self.peek() {
            Some('"') | Some('\'') => {
                let key = self.quoted()?;
                self.close()?;
                Ok(Step::Key(key))
            }
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let start = self.pos;
                self.pos += 1;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let digits: String = self.chars[start..self.pos].iter().collect();
                if self.peek() == Some(']') {
                    let i = digits.parse::<i64>().map_err(|_| {
                        format!(
                            "index {digits:?} at {} is not a number that fits 64 bits",
                            start + self.offset
                        )
                    })?;
                    self.pos += 1;
                    return Ok(Step::Index(i));
                }
                if !self
                    .peek()
                    .is_some_and(|c| c == '=' || is_match_key_char(c))
                {
                    return Err(self.err("expected `]` after an index"));
                }
                // Not an index: a match key that starts with a digit or `-`.
                self.pos = start;
                self.match_step()
            }
            Some(c) if is_match_key_char(c) => self.match_step(),
            Some(']') => Err(self.err("empty `[]`: expected an index, key=value or a quoted key")),
            _ => Err(self.err("expected an index, key=value or a quoted key after `[`")),
        }
    }

    fn match_step(&mut self) -> Result<Step, String> {
        let start = self.pos;
        while self.peek().is_some_and(is_match_key_char) {
            self.pos += 1;
        }
        let key: String = self.chars[start..self.pos].iter().collect();
        if self.peek() != Some('=') {
            return Err(self.err("expected `=` after the key of a [key=value] step"));
        }
        self.pos += 1;
        let value = match self.peek() {
            Some('"') | Some('\'') => self.quoted()?,
            _ => {
                let vstart = self.pos;
                while self.peek().is_some_and(|c| c != ']' && c != '\\') {
                    self.pos += 1;
                }
                let value: String = self.chars[vstart..self.pos].iter().collect();
                if value.is_empty() {
                    return Err(self.err("expected a value after `=` (write \"\" for empty)"));
                }
                value
            }
        };
        self.close()?;
        Ok(Step::Match { key, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn key(k: &str) -> Step {
        Step::Key(k.to_string())
    }

    fn check(path: &str, obj: &Value, expected: Value) {
        let p = FieldPath::parse(path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.eval(obj), expected, "{path}");
    }

    fn pod() -> Value {
        json!({
            "metadata": {
                "name": "web-1",
                "labels": {"app.kubernetes.io/name": "web", "app": "web"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc"}],
            },
            "spec": {"containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "busybox"}]},
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
                ],
                "containerStatuses": [{"restartCount": 3, "ready": false}],
            }
        })
    }

    #[test]
    fn parses_every_form() {
        let p = FieldPath::parse("status.conditions[type=Ready].status").unwrap();
        assert_eq!(
            p.steps,
            vec![
                key("status"),
                key("conditions"),
                Step::Match {
                    key: "type".into(),
                    value: "Ready".into()
                },
                key("status")
            ]
        );
        assert!(!p.len);
        let p = FieldPath::parse("metadata.labels[\"app.kubernetes.io/name\"]").unwrap();
        assert_eq!(
            p.steps,
            vec![
                key("metadata"),
                key("labels"),
                key("app.kubernetes.io/name")
            ]
        );
        assert_eq!(
            FieldPath::parse("metadata.labels['app.kubernetes.io/name']").unwrap(),
            p
        );
        let p = FieldPath::parse("len(subsets[0].addresses)").unwrap();
        assert!(p.len);
        assert_eq!(
            p.steps,
            vec![key("subsets"), Step::Index(0), key("addresses")]
        );
        assert_eq!(
            FieldPath::parse(".status.phase").unwrap(),
            FieldPath::parse("status.phase").unwrap()
        );
        assert_eq!(
            FieldPath::parse("a[-1]").unwrap().steps,
            vec![key("a"), Step::Index(-1)]
        );
    }

    #[test]
    fn evaluates_against_kubernetes_json() {
        let p = pod();
        check("status.phase", &p, json!("Running"));
        check("metadata.ownerReferences[0].kind", &p, json!("ReplicaSet"));
        check("status.conditions[type=Ready].status", &p, json!("False"));
        check(
            "status.conditions[type=Ready].reason",
            &p,
            json!("ContainersNotReady"),
        );
        check("spec.containers[name=b].image", &p, json!("busybox"));
        check("spec.containers[-1].name", &p, json!("b"));
        check("spec.containers[-2].name", &p, json!("a"));
        check(
            "metadata.labels[\"app.kubernetes.io/name\"]",
            &p,
            json!("web"),
        );
        check("status.containerStatuses[0].restartCount", &p, json!(3));
        check(
            "status.containerStatuses[restartCount=3].ready",
            &p,
            json!(false),
        );
        check(
            "status.containerStatuses[ready=false].restartCount",
            &p,
            json!(3),
        );
        check("len(spec.containers)", &p, json!(2));
        check("len(metadata.labels)", &p, json!(2));
        check("len(status.phase)", &p, json!(7));
    }

    #[test]
    fn missing_is_null_and_len_of_missing_is_zero() {
        let p = pod();
        for path in [
            "metadata.deletionTimestamp",
            "spec.containers[5].name",
            "spec.containers[-3].name",
            "status.conditions[type=Nope].status",
            "status.phase.deeper",
            "status.phase[0]",
            "metadata.labels[0]",
            "spec.containers[name=a].ports[0]",
        ] {
            check(path, &p, Value::Null);
        }
        check("len(metadata.finalizers)", &p, json!(0));
        check("len(spec.containers[9].ports)", &p, json!(0));
        check(
            "len(status.containerStatuses[0].restartCount)",
            &p,
            Value::Null,
        );
    }

    #[test]
    fn errors_name_the_character_and_position() {
        for (path, needle) in [
            ("", "empty path"),
            ("a..b", "unexpected '.' at 2"),
            ("a.", "unexpected end at 2"),
            ("a[0", "unexpected end at 3: expected `]`"),
            ("a[0.", "unexpected end at 4: expected `=`"),
            ("a[1 ]", "unexpected ' ' at 3: expected `]`"),
            ("a[]", "unexpected ']' at 2: empty `[]`"),
            ("a[type]", "unexpected ']' at 6: expected `=`"),
            ("a[type=]", "expected a value after `=`"),
            ("a[\"x]", "not closed"),
            (
                "metadata.labels.app.kubernetes.io/name",
                "unexpected '/' at 33",
            ),
            ("a b", "unexpected ' ' at 1"),
            ("len(a", "not closed by `)`"),
            ("len(a.)", "unexpected end at 6"),
            ("a[99999999999999999999]", "fits 64 bits"),
        ] {
            let err = FieldPath::parse(path).unwrap_err();
            assert!(err.contains(needle), "{path:?}: {err}");
            assert!(err.contains(&format!("{path:?}")), "names the path: {err}");
        }
    }

    #[test]
    fn display_is_canonical() {
        for (text, canon) in [
            ("status.conditions[type=Ready].status", None),
            (
                "metadata.labels['a.b/c']",
                Some("metadata.labels[\"a.b/c\"]"),
            ),
            (".status.phase", Some("status.phase")),
            ("len(subsets[0].addresses)", None),
            ("a[k=\"x]y\"]", None),
            ("a[\"\"].b", None),
            ("a[-1][0]", None),
        ] {
            let p = FieldPath::parse(text).unwrap();
            assert_eq!(p.to_string(), canon.unwrap_or(text));
        }
    }

    fn arb_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            "[a-zA-Z0-9_$-]{1,8}".prop_map(Step::Key),
            "[ -~]{0,10}".prop_map(Step::Key),
            any::<i64>().prop_map(Step::Index),
            ("[a-zA-Z0-9_./-]{1,8}", "[ -~]{0,10}")
                .prop_map(|(key, value)| Step::Match { key, value }),
        ]
    }

    proptest! {
        #[test]
        fn parse_display_roundtrip(
            steps in proptest::collection::vec(arb_step(), 1..6),
            len in any::<bool>(),
        ) {
            let p = FieldPath { steps, len };
            let text = p.to_string();
            prop_assert_eq!(FieldPath::parse(&text), Ok(p), "{}", text);
        }

        #[test]
        fn parse_never_panics(text in "[ -~]{0,24}") {
            let _ = FieldPath::parse(&text);
        }
    }
}
