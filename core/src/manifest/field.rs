//! Field errors: a JSON field path and a reason worded as the API server words it
//! (`Required value`, `Invalid value: 0: …`, `Unsupported value: "x": supported values: …`).

use std::fmt::Display;

/// One validation or conversion error inside an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FieldError {
    /// JSON field path (`spec.template.spec.containers[0].image`); empty for the whole
    /// object.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// Result of a conversion step.
pub(crate) type FieldResult<T> = Result<T, FieldError>;

impl FieldError {
    /// A free-form reason.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// `Required value` (with an optional detail).
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        let reason = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        FieldError::new(field, reason)
    }

    /// `Invalid value: <value>: <detail>`; `value` is already rendered (see [`quote`]).
    pub fn invalid(field: impl Into<String>, value: impl Display, detail: &str) -> Self {
        FieldError::new(field, format!("Invalid value: {value}: {detail}"))
    }

    /// `Unsupported value: "v": supported values: "a", "b"`.
    pub fn unsupported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| quote(s)).collect();
        FieldError::new(
            field,
            format!(
                "Unsupported value: {}: supported values: {}",
                quote(value),
                list.join(", ")
            ),
        )
    }

    /// `Duplicate value: "v"`.
    pub fn duplicate(field: impl Into<String>, value: &str) -> Self {
        FieldError::new(field, format!("Duplicate value: {}", quote(value)))
    }

    /// `Forbidden: <detail>`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        FieldError::new(field, format!("Forbidden: {detail}"))
    }

    /// Prefixes the field path (`items[2]` + `spec.replicas`).
    pub fn under(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else if self.field.starts_with('[') {
            format!("{prefix}{}", self.field)
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

/// A string as Go's `%q` prints it (close enough: Rust's debug form).
pub(crate) fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// A string map as Go's `%#v` prints it: `map[string]string{"app":"web"}`.
pub(crate) fn go_map<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let inner: Vec<String> = pairs
        .map(|(k, v)| format!("{}:{}", quote(k), quote(v)))
        .collect();
    format!("map[string]string{{{}}}", inner.join(", "))
}

/// `base.child` (or `child` when `base` is empty).
pub(crate) fn at(base: &str, child: &str) -> String {
    if base.is_empty() {
        child.to_string()
    } else {
        format!("{base}.{child}")
    }
}

/// `base[i]`.
pub(crate) fn idx(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// `base[key]` (the API server's form for map keys, e.g. `resources.requests[cpu]`).
pub(crate) fn key(base: &str, k: &str) -> String {
    format!("{base}[{k}]")
}

/// Strips the `; got "x"` tail that [`crate::validation`] adds (the value is already in
/// the `Invalid value: "x"` part).
pub(crate) fn detail(msg: &str) -> &str {
    msg.split_once("; got ").map_or(msg, |(d, _)| d)
}

/// `value >= 0` or `Invalid value: v: must be greater than or equal to 0`.
pub(crate) fn non_negative(field: &str, v: i64) -> FieldResult<()> {
    if v < 0 {
        return Err(FieldError::invalid(
            field,
            v,
            "must be greater than or equal to 0",
        ));
    }
    Ok(())
}

/// A port number in 1..=65535.
pub(crate) fn port_number(field: &str, v: i32) -> FieldResult<()> {
    if !(1..=65535).contains(&v) {
        return Err(FieldError::invalid(
            field,
            v,
            "must be between 1 and 65535, inclusive",
        ));
    }
    Ok(())
}

/// An IANA_SVC_NAME (port names): ≤ 15 chars of `[a-z0-9-]`, at least one letter, no
/// leading/trailing or doubled hyphen.
pub(crate) fn port_name(field: &str, name: &str) -> FieldResult<()> {
    let b = name.as_bytes();
    let bad = |d: &str| Err(FieldError::invalid(field, quote(name), d));
    if b.len() > 15 {
        return bad("must be no more than 15 characters");
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    {
        return bad("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
    }
    if name.contains("--") {
        return bad("must not contain consecutive hyphens");
    }
    if !b.iter().any(|c| c.is_ascii_lowercase()) {
        return bad("must contain at least one letter (a-z)");
    }
    if b.first() == Some(&b'-') || b.last() == Some(&b'-') {
        return bad("must not begin or end with a hyphen");
    }
    Ok(())
}

/// A DNS-1035 label (Service names): a DNS-1123 label that starts with a letter.
pub(crate) fn dns1035_label(s: &str) -> Result<(), String> {
    crate::validation::dns1123_label(s).map_err(|_| dns1035_message(s))?;
    if !s.as_bytes()[0].is_ascii_lowercase() {
        return Err(dns1035_message(s));
    }
    Ok(())
}

fn dns1035_message(s: &str) -> String {
    if s.len() > crate::validation::DNS1123_LABEL_MAX {
        return format!(
            "must be no more than {} characters",
            crate::validation::DNS1123_LABEL_MAX
        );
    }
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an \
     alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123')"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_like_the_api_server() {
        assert_eq!(
            FieldError::required("spec.selector", "").reason,
            "Required value"
        );
        assert_eq!(
            FieldError::unsupported("x", "Always", &["OnFailure", "Never"]).reason,
            r#"Unsupported value: "Always": supported values: "OnFailure", "Never""#
        );
        assert_eq!(
            FieldError::invalid("spec.replicas", -1, "no").reason,
            "Invalid value: -1: no"
        );
        assert_eq!(
            go_map([("app", "web")].into_iter()),
            r#"map[string]string{"app":"web"}"#
        );
        assert_eq!(
            FieldError::new("spec", "r").under("items[2]").field,
            "items[2].spec"
        );
        assert_eq!(FieldError::new("", "r").under("items[2]").field, "items[2]");
    }

    #[test]
    fn port_names_and_dns1035() {
        assert!(port_name("p", "http").is_ok());
        assert!(port_name("p", "http-alt2").is_ok());
        assert!(port_name("p", "8080").is_err());
        assert!(port_name("p", "a--b").is_err());
        assert!(port_name("p", "-a").is_err());
        assert!(port_name("p", "abcdefghijklmnop").is_err());
        assert!(dns1035_label("web").is_ok());
        assert!(dns1035_label("1web").is_err());
        assert!(dns1035_label("Web").is_err());
    }
}
