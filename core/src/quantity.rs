//! Kubernetes resource quantities (`500m`, `2`, `128Mi`, `1G`, `1e3`).
//!
//! kubesim keeps CPU in millicores and everything else (memory, storage) in bytes or
//! plain units, as `i64`. Parsing follows the API's suffixes: binary `Ki Mi Gi Ti Pi Ei`,
//! decimal `n u m k M G T P E`, and decimal exponents `e`/`E`. Values are rounded up to
//! the unit kept, as the API server rounds quantities up.

/// Parses a quantity into its value multiplied by `scale` (1000 for millicores, 1 for
/// bytes), rounded up.
pub fn parse_scaled(text: &str, scale: i64) -> Result<i64, String> {
    let s = text.trim();
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(num_end);
    if num.is_empty() || num == "+" || num == "-" {
        return Err(format!("quantity {text:?} must start with a number"));
    }
    let value: f64 = num
        .parse()
        .map_err(|_| format!("quantity {text:?} has an invalid number"))?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => {
            let exp: i32 = e[1..]
                .parse()
                .map_err(|_| format!("quantity {text:?} has an invalid exponent"))?;
            10f64.powi(exp)
        }
        other => return Err(format!("quantity {text:?} has an unknown suffix {other:?}")),
    };
    let v = value * factor * scale as f64;
    if !v.is_finite() || v.abs() > i64::MAX as f64 {
        return Err(format!("quantity {text:?} is out of range"));
    }
    // Round up, tolerating float noise just above an integer.
    let rounded = if (v - v.round()).abs() < 1e-6 {
        v.round()
    } else {
        v.ceil()
    };
    Ok(rounded as i64)
}

/// CPU quantity → millicores (`"500m"` → 500, `"2"` → 2000).
pub fn parse_cpu_millis(text: &str) -> Result<i64, String> {
    parse_scaled(text, 1000)
}

/// Memory/storage quantity → bytes (`"128Mi"` → 134217728).
pub fn parse_bytes(text: &str) -> Result<i64, String> {
    parse_scaled(text, 1)
}

/// Renders millicores as Kubernetes does (`500m`, `2`).
pub fn format_cpu_millis(m: i64) -> String {
    if m % 1000 == 0 {
        (m / 1000).to_string()
    } else {
        format!("{m}m")
    }
}

/// Renders bytes with the largest exact binary suffix (`128Mi`, `8Gi`, `1000`).
pub fn format_bytes(b: i64) -> String {
    const SUFFIXES: [(&str, i64); 5] = [
        ("Pi", 1 << 50),
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (s, f) in SUFFIXES {
        if b != 0 && b % f == 0 {
            return format!("{}{s}", b / f);
        }
    }
    b.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu() {
        assert_eq!(parse_cpu_millis("500m"), Ok(500));
        assert_eq!(parse_cpu_millis("2"), Ok(2000));
        assert_eq!(parse_cpu_millis("0.1"), Ok(100));
        assert_eq!(parse_cpu_millis("250u"), Ok(1)); // rounded up
        assert_eq!(format_cpu_millis(1500), "1500m");
        assert_eq!(format_cpu_millis(2000), "2");
    }

    #[test]
    fn memory() {
        assert_eq!(parse_bytes("128Mi"), Ok(128 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1_000_000_000));
        assert_eq!(parse_bytes("1e3"), Ok(1000));
        assert_eq!(format_bytes(8 << 30), "8Gi");
        assert!(parse_bytes("12Q").is_err());
        assert!(parse_bytes("Mi").is_err());
    }
}
