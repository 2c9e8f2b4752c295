//! kubectl-style tables of objects, for `get` steps and failed steps.
//!
//! Temporary stand-in for the kubectl helper's `kubectl::table::render` (same
//! signature); replaced by it after the merge. Columns follow `kubectl get` for the
//! common kinds, computed from each object's Kubernetes JSON form.

use std::sync::Arc;

use kubesim_core::model::{Kind, Object};
use kubesim_core::time::Timestamp;
use serde_json::Value;

/// kubectl's age: `45s`, `3m12s` (under 10 minutes), `15m`, `2h5m`, `3d`.
pub fn age(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=599 => {
            if s % 60 == 0 {
                format!("{}m", s / 60)
            } else {
                format!("{}m{}s", s / 60, s % 60)
            }
        }
        600..=10_799 => {
            let (h, m) = (s / 3600, (s % 3600) / 60);
            if h == 0 {
                format!("{m}m")
            } else if m == 0 {
                format!("{h}h")
            } else {
                format!("{h}h{m}m")
            }
        }
        10_800..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn get<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(x) => cur = x,
            None => return &Value::Null,
        }
    }
    cur
}

fn num(v: &Value, path: &[&str]) -> i64 {
    get(v, path).as_i64().unwrap_or(0)
}

fn text(v: &Value, path: &[&str]) -> String {
    match get(v, path) {
        Value::Null => "<none>".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn pod_status(j: &Value) -> String {
    if !get(j, &["metadata", "deletionTimestamp"]).is_null() {
        return "Terminating".into();
    }
    if let Some(statuses) = get(j, &["status", "containerStatuses"]).as_array() {
        for s in statuses {
            if let Some(r) = get(s, &["state", "waiting", "reason"]).as_str() {
                return r.to_string();
            }
            if let Some(r) = get(s, &["state", "terminated", "reason"]).as_str() {
                return r.to_string();
            }
        }
    }
    text(j, &["status", "phase"])
}

fn ports(j: &Value) -> String {
    let Some(ports) = get(j, &["spec", "ports"]).as_array() else {
        return "<none>".into();
    };
    ports
        .iter()
        .map(|p| {
            let port = num(p, &["port"]);
            let proto = text(p, &["protocol"]);
            match get(p, &["nodePort"]).as_i64() {
                Some(np) => format!("{port}:{np}/{proto}"),
                None => format!("{port}/{proto}"),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn columns(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Pod => &["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"],
        Kind::Deployment => &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        Kind::ReplicaSet => &["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        Kind::DaemonSet => &[
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
        ],
        Kind::StatefulSet => &["NAME", "READY", "AGE"],
        Kind::Job => &["NAME", "COMPLETIONS", "AGE"],
        Kind::Service => &["NAME", "TYPE", "CLUSTER-IP", "PORT(S)", "AGE"],
        Kind::Node => &["NAME", "STATUS", "AGE"],
        Kind::PersistentVolumeClaim => &["NAME", "STATUS", "VOLUME", "AGE"],
        Kind::PersistentVolume => &["NAME", "STATUS", "CLAIM", "AGE"],
        _ => &["NAME", "AGE"],
    }
}

fn row(kind: Kind, obj: &Object, j: &Value, now: Timestamp) -> Vec<String> {
    let name = obj.name().to_string();
    let age = age(now.since(obj.meta().creation_timestamp));
    match kind {
        Kind::Pod => {
            let statuses = get(j, &["status", "containerStatuses"])
                .as_array()
                .cloned()
                .unwrap_or_default();
            let total = get(j, &["spec", "containers"])
                .as_array()
                .map_or(0, Vec::len);
            let ready = statuses
                .iter()
                .filter(|s| get(s, &["ready"]).as_bool() == Some(true))
                .count();
            let restarts: i64 = statuses.iter().map(|s| num(s, &["restartCount"])).sum();
            vec![
                name,
                format!("{ready}/{total}"),
                pod_status(j),
                restarts.to_string(),
                age,
                text(j, &["status", "podIP"]),
                text(j, &["spec", "nodeName"]),
            ]
        }
        Kind::Deployment => vec![
            name,
            format!(
                "{}/{}",
                num(j, &["status", "readyReplicas"]),
                num(j, &["spec", "replicas"])
            ),
            num(j, &["status", "updatedReplicas"]).to_string(),
            num(j, &["status", "availableReplicas"]).to_string(),
            age,
        ],
        Kind::ReplicaSet => vec![
            name,
            num(j, &["spec", "replicas"]).to_string(),
            num(j, &["status", "replicas"]).to_string(),
            num(j, &["status", "readyReplicas"]).to_string(),
            age,
        ],
        Kind::DaemonSet => {
            let s = |k: &str| num(j, &["status", k]).to_string();
            vec![
                name,
                s("desiredNumberScheduled"),
                s("currentNumberScheduled"),
                s("numberReady"),
                s("updatedNumberScheduled"),
                s("numberAvailable"),
                age,
            ]
        }
        Kind::StatefulSet => vec![
            name,
            format!(
                "{}/{}",
                num(j, &["status", "readyReplicas"]),
                num(j, &["spec", "replicas"])
            ),
            age,
        ],
        Kind::Job => vec![
            name,
            format!(
                "{}/{}",
                num(j, &["status", "succeeded"]),
                get(j, &["spec", "completions"]).as_i64().unwrap_or(1)
            ),
            age,
        ],
        Kind::Service => vec![
            name,
            text(j, &["spec", "type"]),
            text(j, &["spec", "clusterIP"]),
            ports(j),
            age,
        ],
        Kind::Node => {
            let ready = get(j, &["status", "conditions"])
                .as_array()
                .and_then(|c| c.iter().find(|c| get(c, &["type"]) == "Ready"))
                .map(|c| get(c, &["status"]) == "True")
                .unwrap_or(false);
            let mut status = if ready { "Ready" } else { "NotReady" }.to_string();
            if get(j, &["spec", "unschedulable"]).as_bool() == Some(true) {
                status.push_str(",SchedulingDisabled");
            }
            vec![name, status, age]
        }
        Kind::PersistentVolumeClaim => vec![
            name,
            text(j, &["status", "phase"]),
            text(j, &["spec", "volumeName"]),
            age,
        ],
        Kind::PersistentVolume => {
            let claim = match (
                get(j, &["spec", "claimRef", "namespace"]).as_str(),
                get(j, &["spec", "claimRef", "name"]).as_str(),
            ) {
                (Some(ns), Some(n)) => format!("{ns}/{n}"),
                _ => String::new(),
            };
            vec![name, text(j, &["status", "phase"]), claim, age]
        }
        _ => vec![name, age],
    }
}

/// A kubectl-style table of `objects` (all of `kind`) at time `now`; `show_labels`
/// adds kubectl's `LABELS` column.
pub fn render(kind: Kind, objects: &[Arc<Object>], now: Timestamp, show_labels: bool) -> String {
    if objects.is_empty() {
        return "No resources found.\n".to_string();
    }
    let mut header: Vec<String> = columns(kind).iter().map(|s| s.to_string()).collect();
    if show_labels {
        header.push("LABELS".into());
    }
    let mut rows = vec![header];
    for o in objects {
        let j = o.to_json();
        let mut r = row(kind, o, &j, now);
        if show_labels {
            let l: Vec<String> = o.labels().iter().map(|(k, v)| format!("{k}={v}")).collect();
            r.push(if l.is_empty() {
                "<none>".into()
            } else {
                l.join(",")
            });
        }
        rows.push(r);
    }
    let n = rows[0].len();
    let widths: Vec<usize> = (0..n)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == n {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
