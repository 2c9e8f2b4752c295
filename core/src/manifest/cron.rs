//! CronJob schedule validation: the syntax `cron.ParseStandard` (robfig/cron v3, which
//! the API server uses) accepts — five fields (minute, hour, day of month, month, day of
//! week) of `*`, `?`, numbers, names (`JAN`, `MON`), ranges `a-b`, steps `/n` and lists,
//! or one of the descriptors `@yearly @annually @monthly @weekly @daily @midnight
//! @hourly`. Error texts follow robfig's. Evaluating a schedule is not done here.

/// (name, min, max, names) of the five fields.
const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day of month", 1, 31, &[]),
    (
        "month",
        1,
        12,
        &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    ),
    (
        "day of week",
        0,
        6,
        &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    ),
];

const DESCRIPTORS: [&str; 7] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// Checks a schedule; `Err` carries the reason.
pub(crate) fn validate(spec: &str) -> Result<(), String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err("empty spec string".into());
    }
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        return Err("cannot use TZ or CRON_TZ in schedule, use timeZone field instead".into());
    }
    if spec.starts_with('@') {
        return if DESCRIPTORS.contains(&spec) {
            Ok(())
        } else {
            Err(format!("unrecognized descriptor: {spec}"))
        };
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    for (text, (what, min, max, names)) in fields.iter().zip(FIELDS) {
        for expr in text.split(',') {
            check_expr(expr, min, max, names).map_err(|e| format!("{e} (in the {what} field)"))?;
        }
    }
    Ok(())
}

fn check_expr(expr: &str, min: u32, max: u32, names: &[&str]) -> Result<(), String> {
    let (range, step) = match expr.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (expr, None),
    };
    let (start, end) = if range == "*" || range == "?" {
        (min, max)
    } else {
        match range.split_once('-') {
            Some((a, b)) => (value(a, names)?, value(b, names)?),
            None => {
                let v = value(range, names)?;
                // `a/n` means a through the maximum.
                (v, if step.is_some() { max } else { v })
            }
        }
    };
    if let Some(s) = step {
        let n: u32 = s
            .parse()
            .map_err(|_| format!("failed to parse int from {s}"))?;
        if n == 0 {
            return Err(format!("step of range should be a positive number: {expr}"));
        }
    }
    if start < min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({min}): {expr}"
        ));
    }
    if end > max {
        return Err(format!(
            "end of range ({end}) above maximum ({max}): {expr}"
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    Ok(())
}

fn value(s: &str, names: &[&str]) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        // Month names start at 1, weekday names at 0.
        return Ok(if names.len() == 12 {
            i as u32 + 1
        } else {
            i as u32
        });
    }
    s.parse()
        .map_err(|_| format!("failed to parse int from {s}"))
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_standard_schedules() {
        for s in [
            "*/1 * * * *",
            "0 0 * * *",
            "5,10-20/5 1-3 ? JAN-mar mon-FRI",
            "15 */2 1 * 0",
            "0 12 * * 6",
            "@hourly",
            "@daily",
            "@weekly",
            "@monthly",
            "@yearly",
            "@annually",
            "@midnight",
            "3/10 * * * *",
        ] {
            assert_eq!(validate(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn rejects_malformed_schedules() {
        let cases = [
            ("", "empty spec string"),
            ("* * * *", "expected exactly 5 fields, found 4"),
            ("* * * * * *", "expected exactly 5 fields, found 6"),
            ("60 * * * *", "end of range (60) above maximum (59)"),
            ("* 24 * * *", "above maximum (23)"),
            ("* * 0 * *", "below minimum (1)"),
            ("* * * 13 *", "above maximum (12)"),
            ("* * * * 7", "above maximum (6)"),
            ("5-1 * * * *", "beyond end of range"),
            ("*/0 * * * *", "step of range should be a positive number"),
            ("x * * * *", "failed to parse int from x"),
            ("1,,2 * * * *", "failed to parse int from"),
            ("@every 5m", "unrecognized descriptor"),
            ("@fortnightly", "unrecognized descriptor"),
            ("TZ=UTC * * * * *", "cannot use TZ"),
        ];
        for (s, want) in cases {
            let e = validate(s).unwrap_err();
            assert!(e.contains(want), "{s}: {e}");
        }
    }
}
