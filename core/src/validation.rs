//! Name and label validation as the API server does it (apimachinery's
//! `validation.IsDNS1123Subdomain`, `IsQualifiedName`, `IsValidLabelValue`).
//!
//! Every function returns `Err(reason)` with the API server's wording where it has one;
//! callers add the field path.

/// Max length of a DNS-1123 subdomain (object names).
pub const DNS1123_SUBDOMAIN_MAX: usize = 253;
/// Max length of a DNS-1123 label (namespace and service names, label-key prefixes'
/// parts).
pub const DNS1123_LABEL_MAX: usize = 63;
/// Max length of a label value and of a label key's name part.
pub const LABEL_VALUE_MAX: usize = 63;

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Whether `b` is a valid DNS-1123 label, in one pass without allocating (the fast
/// path of [`dns1123_label`], which explains a failure).
fn is_dns1123_label(b: &[u8]) -> bool {
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            b.len() <= DNS1123_LABEL_MAX
                && is_alnum_lower(first)
                && is_alnum_lower(last)
                && b.iter().all(|&c| is_alnum_lower(c) || c == b'-')
        }
        _ => false,
    }
}

/// Whether `b` is a valid DNS-1123 subdomain, in one pass without allocating (the
/// fast path of [`dns1123_subdomain`], which explains a failure): every byte is
/// `[a-z0-9.-]`, a `.` follows an alphanumeric (so no part is empty or ends with `-`),
/// a `-` does not start a part, and the last byte is alphanumeric.
fn is_dns1123_subdomain(b: &[u8]) -> bool {
    if b.is_empty() || b.len() > DNS1123_SUBDOMAIN_MAX {
        return false;
    }
    // The byte before the current one; `.` at the start (no part yet).
    let mut prev = b'.';
    for &c in b {
        let ok = if is_alnum_lower(c) {
            true
        } else if c == b'.' {
            is_alnum_lower(prev)
        } else if c == b'-' {
            prev != b'.'
        } else {
            false
        };
        if !ok {
            return false;
        }
        prev = c;
    }
    is_alnum_lower(prev)
}

/// A DNS-1123 label: ≤ 63 chars of `[a-z0-9-]`, starting and ending alphanumeric.
pub fn dns1123_label(s: &str) -> Result<(), String> {
    if is_dns1123_label(s.as_bytes()) {
        return Ok(());
    }
    label_reason(s)
}

/// [`dns1123_label`]'s full check, with the API server's reason on failure.
fn label_reason(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err("must not be empty".into());
    }
    if b.len() > DNS1123_LABEL_MAX {
        return Err(format!(
            "must be no more than {DNS1123_LABEL_MAX} characters"
        ));
    }
    let ok = b.iter().all(|&c| is_alnum_lower(c) || c == b'-')
        && is_alnum_lower(b[0])
        && is_alnum_lower(b[b.len() - 1]);
    if !ok {
        return Err(format!(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', \
             and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc'); got {s:?}"
        ));
    }
    Ok(())
}

/// A DNS-1123 subdomain (object names): ≤ 253 chars, dot-separated DNS-1123 labels.
pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if is_dns1123_subdomain(s.as_bytes()) {
        return Ok(());
    }
    subdomain_reason(s)
}

/// [`dns1123_subdomain`]'s full check, with the API server's reason on failure.
fn subdomain_reason(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > DNS1123_SUBDOMAIN_MAX {
        return Err(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX} characters"
        ));
    }
    let b = s.as_bytes();
    let ok = b
        .iter()
        .all(|&c| is_alnum_lower(c) || c == b'-' || c == b'.')
        && is_alnum_lower(b[0])
        && is_alnum_lower(b[b.len() - 1])
        && !s.contains("..")
        && s.split('.').all(|part| {
            let p = part.as_bytes();
            !p.is_empty() && is_alnum_lower(p[0]) && is_alnum_lower(p[p.len() - 1])
        });
    if !ok {
        return Err(format!(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', \
             and must start and end with an alphanumeric character (e.g. 'example.com'); got {s:?}"
        ));
    }
    Ok(())
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// The name part of a qualified name / a non-empty label value: ≤ 63 chars of
/// `[A-Za-z0-9._-]`, starting and ending alphanumeric.
fn qualified_name_part(s: &str, what: &str) -> Result<(), String> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if b.len() > LABEL_VALUE_MAX {
        return Err(format!(
            "{what} must be no more than {LABEL_VALUE_MAX} characters"
        ));
    }
    let ok = b
        .iter()
        .all(|&c| is_alnum(c) || c == b'-' || c == b'_' || c == b'.')
        && is_alnum(b[0])
        && is_alnum(b[b.len() - 1]);
    if !ok {
        return Err(format!(
            "{what} must consist of alphanumeric characters, '-', '_' or '.', and must start and end \
             with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc'); got {s:?}"
        ));
    }
    Ok(())
}

/// A label (or annotation) key: an optional DNS-1123 subdomain prefix and `/`, then a
/// name part of ≤ 63 chars of `[A-Za-z0-9._-]`, starting and ending alphanumeric.
pub fn label_key(key: &str) -> Result<(), String> {
    match key.split_once('/') {
        Some((prefix, name)) => {
            if prefix.is_empty() {
                return Err("prefix part must not be empty".into());
            }
            dns1123_subdomain(prefix).map_err(|e| format!("prefix part {e}"))?;
            qualified_name_part(name, "name part")
        }
        None => qualified_name_part(key, "name part"),
    }
}

/// A label value: empty, or ≤ 63 chars of `[A-Za-z0-9._-]` starting and ending
/// alphanumeric.
pub fn label_value(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Ok(());
    }
    qualified_name_part(v, "a valid label")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(dns1123_subdomain("pi-web").is_ok());
        assert!(dns1123_subdomain("a.b-c.d").is_ok());
        assert!(dns1123_subdomain("Pi-web").is_err());
        assert!(dns1123_subdomain("-x").is_err());
        assert!(dns1123_subdomain("x.").is_err());
        assert!(dns1123_subdomain(&"a".repeat(254)).is_err());
        assert!(dns1123_subdomain(&"a".repeat(253)).is_ok());
        assert!(dns1123_label("a.b").is_err());
    }

    /// The one-pass fast paths agree with the full checks on every string of up to
    /// 6 bytes over an alphabet with each character class (and the length limits).
    #[test]
    fn fast_paths_agree_with_the_full_checks() {
        const ALPHABET: &[u8] = b"a0-.A_";
        let mut s = Vec::new();
        fn walk(s: &mut Vec<u8>, depth: usize) {
            let text = std::str::from_utf8(s).unwrap();
            assert_eq!(
                is_dns1123_subdomain(s),
                subdomain_reason(text).is_ok(),
                "subdomain {text:?}"
            );
            assert_eq!(
                is_dns1123_label(s),
                label_reason(text).is_ok(),
                "label {text:?}"
            );
            if depth == 0 {
                return;
            }
            for &c in ALPHABET {
                s.push(c);
                walk(s, depth - 1);
                s.pop();
            }
        }
        walk(&mut s, 6);
        for n in [62, 63, 64, 252, 253, 254] {
            let long = "a".repeat(n);
            assert_eq!(is_dns1123_subdomain(long.as_bytes()), n <= 253);
            assert_eq!(is_dns1123_label(long.as_bytes()), n <= 63);
            assert_eq!(dns1123_subdomain(&long).is_ok(), n <= 253);
            assert_eq!(dns1123_label(&long).is_ok(), n <= 63);
        }
    }

    #[test]
    fn labels() {
        assert!(label_key("app").is_ok());
        assert!(label_key("kubernetes.io/service-name").is_ok());
        assert!(label_key("app.kubernetes.io/name").is_ok());
        assert!(label_key("/x").is_err());
        assert!(label_key("a/b/c").is_err());
        assert!(label_key("-app").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("v1.2_3-x").is_ok());
        assert!(label_value("-v").is_err());
        assert!(label_value(&"v".repeat(64)).is_err());
        assert!(label_value(&"v".repeat(63)).is_ok());
        assert!(label_value("a b").is_err());
    }
}
