//! Field paths of scenario conditions (`a.b`, `a[0]`, `a[key=value]`, `a["k.with/dots"]`,
//! `len(path)`), evaluated on an object's Kubernetes JSON form.
//!
//! Temporary stand-in for the kubectl helper's `kubectl::jsonpath::FieldPath` (same
//! API: [`FieldPath::parse`], [`FieldPath::eval`]); replaced by it after the merge.

use serde_json::Value;

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// A map key.
    Key(String),
    /// An array index.
    Index(usize),
    /// The first array element whose `key` (a dotted path) renders as `value`.
    Filter(Vec<String>, String),
}

/// A parsed field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath {
    segments: Vec<Segment>,
    len: bool,
}

impl FieldPath {
    /// Parses a path.
    ///
    /// # Errors
    ///
    /// A message naming what is wrong (empty segment, unclosed bracket, …).
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        let t = text.trim();
        let (inner, len) = match t.strip_prefix("len(") {
            Some(rest) => (
                rest.strip_suffix(')')
                    .ok_or_else(|| format!("{text:?}: len( without a closing )"))?,
                true,
            ),
            None => (t, false),
        };
        let segments = parse_segments(inner).map_err(|e| format!("{text:?}: {e}"))?;
        Ok(FieldPath { segments, len })
    }

    /// The value at the path (`Null` when missing); for `len(path)`, the length of the
    /// array, map or string there (`Null` when missing or a scalar).
    pub fn eval(&self, value: &Value) -> Value {
        let mut cur = value;
        for seg in &self.segments {
            let next = match (seg, cur) {
                (Segment::Key(k), Value::Object(m)) => m.get(k),
                (Segment::Index(i), Value::Array(a)) => a.get(*i),
                (Segment::Filter(path, want), Value::Array(a)) => a.iter().find(|item| {
                    let mut v = *item;
                    for k in path {
                        match v.get(k) {
                            Some(x) => v = x,
                            None => return false,
                        }
                    }
                    match v {
                        Value::String(s) => s == want,
                        Value::Null => false,
                        other => want.as_str() == other.to_string().as_str(),
                    }
                }),
                _ => None,
            };
            match next {
                Some(n) => cur = n,
                None => return Value::Null,
            }
        }
        if self.len {
            return match cur {
                Value::Array(a) => Value::from(a.len()),
                Value::Object(m) => Value::from(m.len()),
                Value::String(s) => Value::from(s.chars().count()),
                _ => Value::Null,
            };
        }
        cur.clone()
    }
}

fn parse_segments(s: &str) -> Result<Vec<Segment>, String> {
    if s.is_empty() {
        return Err("empty path".into());
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut expect_key = true;
    while i < chars.len() {
        match chars[i] {
            '[' => {
                let close = find_close(&chars, i)?;
                let body: String = chars[i + 1..close].iter().collect();
                out.push(bracket(&body)?);
                i = close + 1;
                expect_key = false;
                if i < chars.len() {
                    match chars[i] {
                        '.' => {
                            i += 1;
                            expect_key = true;
                            if i == chars.len() {
                                return Err("trailing '.'".into());
                            }
                        }
                        '[' => {}
                        c => return Err(format!("unexpected {c:?} after ']'")),
                    }
                }
            }
            _ if expect_key => {
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    if chars[i] == ']' {
                        return Err("unexpected ']'".into());
                    }
                    i += 1;
                }
                if i == start {
                    return Err("empty segment".into());
                }
                out.push(Segment::Key(chars[start..i].iter().collect()));
                expect_key = false;
                if i < chars.len() && chars[i] == '.' {
                    i += 1;
                    expect_key = true;
                    if i == chars.len() {
                        return Err("trailing '.'".into());
                    }
                }
            }
            c => return Err(format!("unexpected {c:?}")),
        }
    }
    Ok(out)
}

/// The index of the `]` closing the `[` at `open` (quotes may hold `]`).
fn find_close(chars: &[char], open: usize) -> Result<usize, String> {
    let mut quote: Option<char> = None;
    for (j, &c) in chars.iter().enumerate().skip(open + 1) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == ']' => return Ok(j),
            None => {}
        }
    }
    Err("unclosed '['".into())
}

fn unquote(s: &str) -> Option<&str> {
    let s = s.trim();
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return Some(&s[1..s.len() - 1]);
        }
    }
    None
}

fn bracket(body: &str) -> Result<Segment, String> {
    let b = body.trim();
    if b.is_empty() {
        return Err("empty []".into());
    }
    if let Some(k) = unquote(b) {
        return Ok(Segment::Key(k.to_string()));
    }
    if let Some((k, v)) = b.split_once('=') {
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("[{body}]: empty key before '='"));
        }
        let v = unquote(v).unwrap_or(v.trim());
        let path = k.split('.').map(str::to_string).collect::<Vec<_>>();
        if path.iter().any(String::is_empty) {
            return Err(format!("[{body}]: empty segment in the key"));
        }
        return Ok(Segment::Filter(path, v.to_string()));
    }
    b.parse::<usize>()
        .map(Segment::Index)
        .map_err(|_| format!("[{body}]: expected an index, key=value or a quoted key"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(path: &str, v: &Value) -> Value {
        FieldPath::parse(path).unwrap().eval(v)
    }

    #[test]
    fn forms() {
        let v = json!({
            "metadata": {"annotations": {"deployment.kubernetes.io/revision": "2"},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "x"}]},
            "status": {"conditions": [{"type": "Progressing", "status": "True"},
                                      {"type": "Ready", "status": "False"}],
                       "readyReplicas": 3},
            "subsets": [{"addresses": [{"ip": "1"}, {"ip": "2"}]}]
        });
        assert_eq!(eval("status.readyReplicas", &v), json!(3));
        assert_eq!(
            eval("metadata.ownerReferences[0].kind", &v),
            json!("ReplicaSet")
        );
        assert_eq!(
            eval("status.conditions[type=Ready].status", &v),
            json!("False")
        );
        assert_eq!(
            eval(
                "metadata.annotations[\"deployment.kubernetes.io/revision\"]",
                &v
            ),
            json!("2")
        );
        assert_eq!(eval("len(subsets[0].addresses)", &v), json!(2));
        assert_eq!(eval("status.missing.deeper", &v), Value::Null);
        assert_eq!(eval("metadata.ownerReferences[5]", &v), Value::Null);
        assert_eq!(eval("len(spec.nothing)", &v), Value::Null);
    }

    #[test]
    fn malformed() {
        for bad in [
            "", "a.", "a..b", "a[", "a[]", "a[x]", "len(a", "a]b", "a[0]b",
        ] {
            assert!(FieldPath::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
