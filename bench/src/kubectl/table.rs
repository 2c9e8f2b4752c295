//! `kubectl get` tables: the columns kubectl's printers
//! (kubernetes/kubernetes `pkg/printers/internalversion`) show for each kind, derived
//! the same way from the object's Kubernetes JSON form.
//!
//! | kind | columns |
//! |------|---------|
//! | pods | NAME READY STATUS RESTARTS AGE NODE |
//! | deployments | NAME READY UP-TO-DATE AVAILABLE AGE |
//! | replicasets | NAME DESIRED CURRENT READY AGE |
//! | daemonsets | NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE |
//! | statefulsets | NAME READY AGE |
//! | jobs | NAME STATUS COMPLETIONS DURATION AGE |
//! | cronjobs | NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE |
//! | services | NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE |
//! | endpoints | NAME ENDPOINTS AGE |
//! | endpointslices | NAME ADDRESSTYPE PORTS ENDPOINTS AGE |
//! | persistentvolumeclaims | NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS AGE |
//! | persistentvolumes | NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS REASON AGE |
//! | horizontalpodautoscalers | NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE |
//! | nodes | NAME STATUS ROLES AGE VERSION |
//! | configmaps | NAME DATA AGE |
//! | namespaces | NAME STATUS AGE |
//! | storageclasses | NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE |
//! | events | LAST SEEN TYPE REASON OBJECT MESSAGE |
//!
//! Pods add NODE (one of `-o wide`'s columns) because a scenario reader usually wants
//! to know where a pod went. `show_labels` appends LABELS (`--show-labels`). When the
//! objects come from more than one namespace a NAMESPACE column comes first, as with
//! `kubectl get -A`.
//!
//! AGE is [`human_duration`], apimachinery's `HumanDuration` (`45s`, `2m30s`, `15m`,
//! `5h`, `3d`). A pod's STATUS is [`pod_status`], kubectl's derivation: the phase, or the
//! pod's reason, or the last container's waiting/terminated reason
//! (`ContainerCreating`, `ErrImagePull`, `ImagePullBackOff`, `Completed`, `Error`),
//! then `Terminating` for a pod being deleted, or `Unknown` for one being deleted on an
//! unreachable node (reason `NodeLost`).
//!
//! RESTARTS is the sum of the containers' `restartCount`, followed, when that is not
//! zero and a container has a `lastState.terminated`, by the time since the latest
//! such `finishedAt` (`3 (45s ago)`), as kubectl's `printPod` does.
//!
//! Cells are laid out as kubectl's tab writer does: every column but the last is padded
//! to its widest cell plus three spaces (at least six characters).

use std::sync::Arc;

use kubesim_core::model::{Kind, Object};
use kubesim_core::time::Timestamp;
use serde_json::Value;

/// The kind a scenario target names (`pod`, `pods`, `po`, `deploy`, `deployments.apps`,
/// `hpa`, `no` …, case-insensitive): kubectl's names, plurals and short names. Only the
/// kind part: `deploy/web` is split at `/` by the caller. This is
/// [`Kind::from_kubectl_name`], the one table of names core keeps.
pub fn kind_from_target(name: &str) -> Option<Kind> {
    Kind::from_kubectl_name(name.trim())
}

/// The table `kubectl get <kind>` prints for `objects` at time `now` (every line ends
/// with `\n`). No objects gives kubectl's `No resources found` line instead.
pub fn render(kind: Kind, objects: &[Arc<Object>], now: Timestamp, show_labels: bool) -> String {
    if objects.is_empty() {
        return "No resources found\n".to_string();
    }
    let jsons: Vec<Value> = objects.iter().map(|o| o.to_json()).collect();
    let multi_ns = objects
        .iter()
        .any(|o| o.namespace() != objects[0].namespace());
    let mut header: Vec<&str> = Vec::new();
    if multi_ns {
        header.push("NAMESPACE");
    }
    header.extend_from_slice(columns(kind));
    if show_labels {
        header.push("LABELS");
    }
    let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    for j in &jsons {
        let mut row = Vec::with_capacity(header.len());
        if multi_ns {
            row.push(str_at(j, &["metadata", "namespace"]).to_string());
        }
        row.extend(cells(kind, j, now));
        if show_labels {
            row.push(format_labels(&j["metadata"]["labels"]));
        }
        rows.push(row);
    }
    layout(&rows)
}

/// The column headers for a kind (without NAMESPACE and LABELS).
pub fn columns(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Pod => &["NAME", "READY", "STATUS", "RESTARTS", "AGE", "NODE"],
        Kind::Deployment => &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        Kind::ReplicaSet => &["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        Kind::DaemonSet => &[
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE SELECTOR",
            "AGE",
        ],
        Kind::StatefulSet => &["NAME", "READY", "AGE"],
        Kind::Job => &["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        Kind::CronJob => &[
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "AGE",
        ],
        Kind::Service => &[
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
        ],
        Kind::Endpoints => &["NAME", "ENDPOINTS", "AGE"],
        Kind::EndpointSlice => &["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"],
        Kind::PersistentVolumeClaim => &[
            "NAME",
            "STATUS",
            "VOLUME",
            "CAPACITY",
            "ACCESS MODES",
            "STORAGECLASS",
            "AGE",
        ],
        Kind::PersistentVolume => &[
            "NAME",
            "CAPACITY",
            "ACCESS MODES",
            "RECLAIM POLICY",
            "STATUS",
            "CLAIM",
            "STORAGECLASS",
            "REASON",
            "AGE",
        ],
        Kind::HorizontalPodAutoscaler => &[
            "NAME",
            "REFERENCE",
            "TARGETS",
            "MINPODS",
            "MAXPODS",
            "REPLICAS",
            "AGE",
        ],
        Kind::Node => &["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        Kind::ConfigMap => &["NAME", "DATA", "AGE"],
        Kind::Namespace => &["NAME", "STATUS", "AGE"],
        Kind::StorageClass => &[
            "NAME",
            "PROVISIONER",
            "RECLAIMPOLICY",
            "VOLUMEBINDINGMODE",
            "ALLOWVOLUMEEXPANSION",
            "AGE",
        ],
        Kind::Event => &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
    }
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> &'v str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or("")
}

fn int_at(v: &Value, path: &[&str]) -> i64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_i64().unwrap_or(0)
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses the RFC 3339 form the JSON carries (`2024-01-01T00:05:30Z`, as
/// [`Timestamp::rfc3339`] writes it; fractional seconds are ignored).
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !text.ends_with('Z') || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    Some(Timestamp(secs * 1000))
}

/// apimachinery's `HumanDuration`: `0s`…`119s`, `2m5s`…`9m59s`, `10m`…`179m`,
/// `3h`…`7h59m`, `8h`…`47h`, `2d`…`7d23h`, `8d`…`729d`, `2y`…`7y364d`, then years.
pub fn human_duration(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// kubectl's `translateTimestampSince`: the age of an RFC 3339 field, `<unknown>` when
/// it is missing.
fn since(ts: &Value, now: Timestamp) -> String {
    match ts.as_str().and_then(parse_rfc3339) {
        Some(t) => human_duration(now.millis() - t.millis()),
        None => "<unknown>".to_string(),
    }
}

fn age(j: &Value, now: Timestamp) -> String {
    since(&j["metadata"]["creationTimestamp"], now)
}

/// `labels.FormatLabels`: `k=v,k2=v2` sorted by key, `<none>` when empty.
fn format_labels(m: &Value) -> String {
    let Some(m) = m.as_object() else {
        return "<none>".to_string();
    };
    if m.is_empty() {
        return "<none>".to_string();
    }
    let mut pairs: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}

/// A condition's status (`"True"`, `"False"`, `"Unknown"`), if the condition is there.
fn condition<'v>(j: &'v Value, type_: &str) -> Option<&'v str> {
    arr(&j["status"]["conditions"])
        .iter()
        .find(|c| c["type"] == type_)
        .and_then(|c| c["status"].as_str())
}

fn has_true_condition(j: &Value, type_: &str) -> bool {
    condition(j, type_) == Some("True")
}

fn cells(kind: Kind, j: &Value, now: Timestamp) -> Vec<String> {
    let name = str_at(j, &["metadata", "name"]).to_string();
    let st = &j["status"];
    let spec = &j["spec"];
    match kind {
        Kind::Pod => {
            let (ready, total, restarts, status) = pod_summary(j);
            vec![
                name,
                format!("{ready}/{total}"),
                status,
                pod_restarts(j, restarts, now),
                age(j, now),
                or_none(str_at(spec, &["nodeName"])),
            ]
        }
        Kind::Deployment => vec![
            name,
            format!(
                "{}/{}",
                int_at(st, &["readyReplicas"]),
                int_at(spec, &["replicas"])
            ),
            int_at(st, &["updatedReplicas"]).to_string(),
            int_at(st, &["availableReplicas"]).to_string(),
            age(j, now),
        ],
        Kind::ReplicaSet => vec![
            name,
            int_at(spec, &["replicas"]).to_string(),
            int_at(st, &["replicas"]).to_string(),
            int_at(st, &["readyReplicas"]).to_string(),
            age(j, now),
        ],
        Kind::DaemonSet => vec![
            name,
            int_at(st, &["desiredNumberScheduled"]).to_string(),
            int_at(st, &["currentNumberScheduled"]).to_string(),
            int_at(st, &["numberReady"]).to_string(),
            int_at(st, &["updatedNumberScheduled"]).to_string(),
            int_at(st, &["numberAvailable"]).to_string(),
            format_labels(&spec["template"]["spec"]["nodeSelector"]),
            age(j, now),
        ],
        Kind::StatefulSet => vec![
            name,
            format!(
                "{}/{}",
                int_at(st, &["readyReplicas"]),
                int_at(spec, &["replicas"])
            ),
            age(j, now),
        ],
        Kind::Job => {
            let completions = match spec["completions"].as_i64() {
                Some(c) => format!("{}/{c}", int_at(st, &["succeeded"])),
                None => {
                    let parallelism = int_at(spec, &["parallelism"]);
                    if parallelism > 1 {
                        format!("{}/1 of {parallelism}", int_at(st, &["succeeded"]))
                    } else {
                        format!("{}/1", int_at(st, &["succeeded"]))
                    }
                }
            };
            let start = st["startTime"].as_str().and_then(parse_rfc3339);
            let end = st["completionTime"].as_str().and_then(parse_rfc3339);
            let duration = match (start, end) {
                (None, _) => String::new(),
                (Some(s), None) => human_duration(now.millis() - s.millis()),
                (Some(s), Some(e)) => human_duration(e.millis() - s.millis()),
            };
            let status = if has_true_condition(j, "Complete") {
                "Complete"
            } else if has_true_condition(j, "Failed") {
                "Failed"
            } else if !j["metadata"]["deletionTimestamp"].is_null() {
                "Terminating"
            } else if has_true_condition(j, "Suspended") {
                "Suspended"
            } else if has_true_condition(j, "FailureTarget") {
                "FailureTarget"
            } else if has_true_condition(j, "SuccessCriteriaMet") {
                "SuccessCriteriaMet"
            } else {
                "Running"
            };
            vec![name, status.to_string(), completions, duration, age(j, now)]
        }
        Kind::CronJob => {
            let suspend = match spec["suspend"].as_bool() {
                Some(true) => "True",
                Some(false) | None => "False",
            };
            let last = if st["lastScheduleTime"].is_null() {
                "<none>".to_string()
            } else {
                since(&st["lastScheduleTime"], now)
            };
            vec![
                name,
                str_at(spec, &["schedule"]).to_string(),
                or_none(str_at(spec, &["timeZone"])),
                suspend.to_string(),
                arr(&st["active"]).len().to_string(),
                last,
                age(j, now),
            ]
        }
        Kind::Service => {
            let type_ = match str_at(spec, &["type"]) {
                "" => "ClusterIP",
                t => t,
            };
            vec![
                name,
                type_.to_string(),
                or_none(str_at(spec, &["clusterIP"])),
                service_external_ip(type_, j),
                service_ports(spec),
                age(j, now),
            ]
        }
        Kind::Endpoints => vec![name, format_endpoints(j), age(j, now)],
        Kind::EndpointSlice => {
            let ports: Vec<String> = arr(&j["ports"])
                .iter()
                .map(|p| match (p["port"].as_i64(), p["name"].as_str()) {
                    (Some(n), _) => n.to_string(),
                    (None, Some(name)) => name.to_string(),
                    (None, None) => "*".to_string(),
                })
                .collect();
            let addresses: Vec<String> = arr(&j["endpoints"])
                .iter()
                .flat_map(|e| arr(&e["addresses"]).iter())
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect();
            vec![
                name,
                str_at(j, &["addressType"]).to_string(),
                list_with_more(&ports, 3),
                list_with_more(&addresses, 3),
                age(j, now),
            ]
        }
        Kind::PersistentVolumeClaim => {
            let phase = if j["metadata"]["deletionTimestamp"].is_null() {
                str_at(st, &["phase"])
            } else {
                "Terminating"
            };
            vec![
                name,
                phase.to_string(),
                str_at(spec, &["volumeName"]).to_string(),
                str_at(st, &["capacity", "storage"]).to_string(),
                access_modes(&st["accessModes"]),
                str_at(spec, &["storageClassName"]).to_string(),
                age(j, now),
            ]
        }
        Kind::PersistentVolume => {
            let phase = if j["metadata"]["deletionTimestamp"].is_null() {
                str_at(st, &["phase"])
            } else {
                "Terminating"
            };
            let claim = &spec["claimRef"];
            let claim = if claim.is_object() {
                format!(
                    "{}/{}",
                    str_at(claim, &["namespace"]),
                    str_at(claim, &["name"])
                )
            } else {
                String::new()
            };
            vec![
                name,
                str_at(spec, &["capacity", "storage"]).to_string(),
                access_modes(&spec["accessModes"]),
                str_at(spec, &["persistentVolumeReclaimPolicy"]).to_string(),
                phase.to_string(),
                claim,
                str_at(spec, &["storageClassName"]).to_string(),
                str_at(st, &["reason"]).to_string(),
                age(j, now),
            ]
        }
        Kind::HorizontalPodAutoscaler => {
            let r = &spec["scaleTargetRef"];
            let min = match spec["minReplicas"].as_i64() {
                Some(m) => m.to_string(),
                None => "<unset>".to_string(),
            };
            vec![
                name,
                format!("{}/{}", str_at(r, &["kind"]), str_at(r, &["name"])),
                hpa_targets(j),
                min,
                int_at(spec, &["maxReplicas"]).to_string(),
                int_at(st, &["currentReplicas"]).to_string(),
                age(j, now),
            ]
        }
        Kind::Node => {
            let mut status = match condition(j, "Ready") {
                Some("True") => "Ready".to_string(),
                Some(_) => "NotReady".to_string(),
                None => "Unknown".to_string(),
            };
            if spec["unschedulable"].as_bool() == Some(true) {
                status.push_str(",SchedulingDisabled");
            }
            vec![
                name,
                status,
                node_roles(&j["metadata"]["labels"]),
                age(j, now),
                str_at(st, &["nodeInfo", "kubeletVersion"]).to_string(),
            ]
        }
        Kind::ConfigMap => {
            let n = j["data"].as_object().map_or(0, |m| m.len())
                + j["binaryData"].as_object().map_or(0, |m| m.len());
            vec![name, n.to_string(), age(j, now)]
        }
        Kind::Namespace => vec![name, str_at(st, &["phase"]).to_string(), age(j, now)],
        Kind::StorageClass => {
            let default = j["metadata"]["annotations"]
                ["storageclass.kubernetes.io/is-default-class"]
                == "true";
            vec![
                if default {
                    format!("{name} (default)")
                } else {
                    name
                },
                str_at(j, &["provisioner"]).to_string(),
                str_at(j, &["reclaimPolicy"]).to_string(),
                str_at(j, &["volumeBindingMode"]).to_string(),
                j["allowVolumeExpansion"]
                    .as_bool()
                    .unwrap_or(false)
                    .to_string(),
                age(j, now),
            ]
        }
        Kind::Event => {
            let o = &j["involvedObject"];
            let object_kind = str_at(o, &["kind"]).to_ascii_lowercase();
            vec![
                since(&j["lastTimestamp"], now),
                str_at(j, &["type"]).to_string(),
                str_at(j, &["reason"]).to_string(),
                format!("{object_kind}/{}", str_at(o, &["name"])),
                str_at(j, &["message"]).to_string(),
            ]
        }
    }
}

/// kubectl's pod summary: (ready containers, containers, restarts, STATUS).
fn pod_summary(j: &Value) -> (usize, usize, i64, String) {
    let st = &j["status"];
    let total = arr(&j["spec"]["containers"]).len();
    let mut reason = str_at(st, &["phase"]).to_string();
    if let Some(r) = st["reason"].as_str().filter(|r| !r.is_empty()) {
        reason = r.to_string();
    }
    let mut ready = 0;
    let mut restarts = 0;
    let mut has_running = false;
    // kubectl walks the container statuses from the last to the first, so the first
    // container's state wins.
    for c in arr(&st["containerStatuses"]).iter().rev() {
        restarts += c["restartCount"].as_i64().unwrap_or(0);
        let state = &c["state"];
        let waiting = state["waiting"]["reason"].as_str().unwrap_or("");
        let terminated = &state["terminated"];
        if !waiting.is_empty() {
            reason = waiting.to_string();
        } else if let Some(r) = terminated["reason"].as_str().filter(|r| !r.is_empty()) {
            reason = r.to_string();
        } else if terminated.is_object() {
            reason = match terminated["signal"].as_i64() {
                Some(sig) if sig != 0 => format!("Signal:{sig}"),
                _ => format!("ExitCode:{}", terminated["exitCode"].as_i64().unwrap_or(0)),
            };
        } else if c["ready"] == true && state["running"].is_object() {
            has_running = true;
            ready += 1;
        }
    }
    if reason == "Completed" && has_running {
        reason = if has_true_condition(j, "Ready") {
            "Running".to_string()
        } else {
            "NotReady".to_string()
        };
    }
    let deleting = !j["metadata"]["deletionTimestamp"].is_null();
    let phase = str_at(st, &["phase"]);
    if deleting && st["reason"] == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }
    (ready, total, restarts, reason)
}

/// kubectl's RESTARTS cell: `restarts`, plus `(<age> ago)` of the latest
/// `lastState.terminated.finishedAt` of the containers when `restarts` is not zero.
fn pod_restarts(j: &Value, restarts: i64, now: Timestamp) -> String {
    let last = arr(&j["status"]["containerStatuses"])
        .iter()
        .filter_map(|c| c["lastState"]["terminated"]["finishedAt"].as_str())
        .filter_map(parse_rfc3339)
        .max();
    match last {
        Some(t) if restarts != 0 => format!(
            "{restarts} ({} ago)",
            human_duration(now.millis() - t.millis())
        ),
        _ => restarts.to_string(),
    }
}

/// kubectl's pod STATUS column for a pod's JSON form (see the module docs).
pub fn pod_status(pod_json: &Value) -> String {
    pod_summary(pod_json).3
}

fn service_external_ip(type_: &str, j: &Value) -> String {
    let external: Vec<String> = arr(&j["spec"]["externalIPs"])
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    match type_ {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let mut ips: Vec<String> = arr(&j["status"]["loadBalancer"]["ingress"])
                .iter()
                .filter_map(|i| i["ip"].as_str().or_else(|| i["hostname"].as_str()))
                .map(str::to_string)
                .collect();
            ips.extend(external);
            if ips.is_empty() {
                "<pending>".to_string()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => str_at(j, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// `80/TCP`, `80:30080/TCP`, comma-separated; `<none>` without ports.
fn service_ports(spec: &Value) -> String {
    let ports: Vec<String> = arr(&spec["ports"])
        .iter()
        .map(|p| {
            let protocol = p["protocol"].as_str().unwrap_or("TCP");
            let port = p["port"].as_i64().unwrap_or(0);
            match p["nodePort"].as_i64() {
                Some(np) if np > 0 => format!("{port}:{np}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    or_none(&ports.join(","))
}

/// The ready `ip:port` pairs, at most three then `+ N more...`; `<none>` when none.
fn format_endpoints(j: &Value) -> String {
    const MAX: usize = 3;
    let mut list = Vec::new();
    let mut count = 0;
    for ss in arr(&j["subsets"]) {
        let addresses = arr(&ss["addresses"]);
        let ports = arr(&ss["ports"]);
        if ports.is_empty() {
            count += addresses.len();
            for a in addresses {
                if list.len() < MAX {
                    list.push(str_at(a, &["ip"]).to_string());
                }
            }
            continue;
        }
        for p in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() < MAX {
                    let ip = str_at(a, &["ip"]);
                    let port = p["port"].as_i64().unwrap_or(0);
                    // net.JoinHostPort brackets IPv6 addresses.
                    if ip.contains(':') {
                        list.push(format!("[{ip}]:{port}"));
                    } else {
                        list.push(format!("{ip}:{port}"));
                    }
                }
            }
        }
    }
    if list.is_empty() {
        return "<none>".to_string();
    }
    let ret = list.join(",");
    if count > MAX {
        format!("{ret} + {} more...", count - MAX)
    } else {
        ret
    }
}

/// kubectl's `listWithMoreString`: at most `max` items, then `+ N more...`; `<unset>`
/// when empty.
fn list_with_more(items: &[String], max: usize) -> String {
    if items.is_empty() {
        return "<unset>".to_string();
    }
    let shown = items[..items.len().min(max)].join(",");
    if items.len() > max {
        format!("{shown} + {} more...", items.len() - max)
    } else {
        shown
    }
}

/// `RWO`, `ROX`, `RWX`, `RWOP`, comma-separated.
fn access_modes(modes: &Value) -> String {
    let mut out: Vec<&str> = Vec::new();
    for (mode, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if arr(modes).iter().any(|m| m == mode) {
            out.push(short);
        }
    }
    out.join(",")
}

/// kubectl's `formatHPAMetrics`: per spec metric, matched with the status metric at
/// the same index, `cpu: 45%/50%` (`<unknown>` before the first measurement, `<auto>`
/// without a utilization target), `cpu: 150m/200m` for an average-value target, and
/// `current/target` (with ` (avg)` for an average value) for Pods, Object and External
/// metrics; the first two, then `+ N more...`; `<none>` without metrics.
fn hpa_targets(j: &Value) -> String {
    const MAX: usize = 2;
    let specs = arr(&j["spec"]["metrics"]);
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let statuses = arr(&j["status"]["currentMetrics"]);
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| hpa_metric(spec, statuses.get(i)))
        .collect();
    let shown = list[..list.len().min(MAX)].join(", ");
    if list.len() > MAX {
        format!("{shown} + {} more...", list.len() - MAX)
    } else {
        shown
    }
}

/// One metric of [`hpa_targets`]; `status` is the status metric at its index.
fn hpa_metric(spec: &Value, status: Option<&Value>) -> String {
    const UNKNOWN: &str = "<unknown>";
    // A quantity as Go prints a `*Quantity`: `<nil>` when absent.
    let q = |v: &Value| v.as_str().unwrap_or("<nil>").to_string();
    let type_ = str_at(spec, &["type"]);
    let key = match type_ {
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        "Pods" => "pods",
        "Object" => "object",
        "External" => "external",
        _ => return "<unknown type>".to_string(),
    };
    let source = &spec[key];
    let target = &source["target"];
    // The status's source of the same type, if set (`statuses[i].Resource != nil`).
    let current = status.map(|s| &s[key]).filter(|c| c.is_object());
    let current_avg = || current.map_or(UNKNOWN.to_string(), |c| q(&c["current"]["averageValue"]));
    let has_avg = !target["averageValue"].is_null();
    match type_ {
        "Resource" | "ContainerResource" => {
            let name = str_at(source, &["name"]);
            if has_avg {
                format!("{name}: {}/{}", current_avg(), q(&target["averageValue"]))
            } else {
                let cur = current
                    .and_then(|c| c["current"]["averageUtilization"].as_i64())
                    .map_or(UNKNOWN.to_string(), |u| format!("{u}%"));
                let tgt = target["averageUtilization"]
                    .as_i64()
                    .map_or("<auto>".to_string(), |u| format!("{u}%"));
                format!("{name}: {cur}/{tgt}")
            }
        }
        "Pods" => format!("{}/{}", current_avg(), q(&target["averageValue"])),
        _ if has_avg => {
            let cur = current
                .and_then(|c| c["current"]["averageValue"].as_str())
                .unwrap_or(UNKNOWN);
            format!("{cur}/{} (avg)", q(&target["averageValue"]))
        }
        _ => {
            let cur = current.map_or(UNKNOWN.to_string(), |c| q(&c["current"]["value"]));
            format!("{cur}/{}", q(&target["value"]))
        }
    }
}

/// Roles from `node-role.kubernetes.io/<role>` and `kubernetes.io/role` labels.
fn node_roles(labels: &Value) -> String {
    let mut roles: Vec<String> = Vec::new();
    if let Some(m) = labels.as_object() {
        for (k, v) in m {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role.to_string());
                }
            } else if k == "kubernetes.io/role" {
                if let Some(v) = v.as_str().filter(|v| !v.is_empty()) {
                    roles.push(v.to_string());
                }
            }
        }
    }
    roles.sort();
    roles.dedup();
    or_none(&roles.join(","))
}

/// Lays rows out as kubectl's tab writer does (min width 6, padding 3).
fn layout(rows: &[Vec<String>]) -> String {
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; ncols];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let width = (widths[i] + 3).max(6);
                let pad = width - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubesim_core::manifest;
    use serde_json::json;

    const T0: Timestamp = Timestamp::VIRTUAL_EPOCH;

    fn at(secs: i64) -> Timestamp {
        Timestamp(T0.millis() + secs * 1000)
    }

    #[test]
    fn human_duration_matches_apimachinery() {
        for (secs, want) in [
            (-5, "<invalid>"),
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (150, "2m30s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (5 * 3600 + 30 * 60, "5h30m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (3 * 86_400 + 5 * 3600, "3d5h"),
            (8 * 86_400, "8d"),
            (729 * 86_400, "729d"),
            (2 * 365 * 86_400 + 86_400 * 10, "2y10d"),
            (9 * 365 * 86_400, "9y"),
        ] {
            assert_eq!(human_duration(secs * 1000), want, "{secs}s");
        }
        // -1 s is tolerated as clock skew.
        assert_eq!(human_duration(-1000), "0s");
    }

    #[test]
    fn rfc3339_roundtrips_with_core() {
        for ms in [0, 1_704_067_200_000, 1_709_251_199_000, 951_782_400_000] {
            let t = Timestamp(ms);
            assert_eq!(parse_rfc3339(&t.rfc3339()), Some(t), "{}", t.rfc3339());
        }
        assert_eq!(parse_rfc3339("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339(""), None);
    }

    #[test]
    fn kind_names_follow_kubectl() {
        for (name, kind) in [
            ("pod", Kind::Pod),
            ("pods", Kind::Pod),
            ("po", Kind::Pod),
            ("rs", Kind::ReplicaSet),
            ("deploy", Kind::Deployment),
            ("deployment", Kind::Deployment),
            ("ds", Kind::DaemonSet),
            ("sts", Kind::StatefulSet),
            ("job", Kind::Job),
            ("jobs", Kind::Job),
            ("cj", Kind::CronJob),
            ("svc", Kind::Service),
            ("ep", Kind::Endpoints),
            ("endpoints", Kind::Endpoints),
            ("endpointslice", Kind::EndpointSlice),
            ("pvc", Kind::PersistentVolumeClaim),
            ("pv", Kind::PersistentVolume),
            ("hpa", Kind::HorizontalPodAutoscaler),
            ("node", Kind::Node),
            ("no", Kind::Node),
            ("cm", Kind::ConfigMap),
            ("Service", Kind::Service),
        ] {
            assert_eq!(kind_from_target(name), Some(kind), "{name}");
        }
        assert_eq!(kind_from_target("widget"), None);
        assert_eq!(kind_from_target(""), None);
    }

    fn pod_json(status: Value, deleting: bool) -> Value {
        let mut meta = json!({"name": "p", "creationTimestamp": T0.rfc3339()});
        if deleting {
            meta["deletionTimestamp"] = json!(at(10).rfc3339());
        }
        json!({
            "metadata": meta,
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": status,
        })
    }

    fn containers(state: Value, ready: bool, restarts: i64) -> Value {
        json!([
            {"name": "a", "ready": ready, "restartCount": restarts, "state": state},
            {"name": "b", "ready": ready, "restartCount": restarts, "state": state},
        ])
    }

    #[test]
    fn pod_status_follows_kubectl() {
        let running = json!({"running": {"startedAt": T0.rfc3339()}});
        let ready_cond = json!([{"type": "Ready", "status": "True"}]);
        let cases = [
            (json!({"phase": "Pending"}), false, "Pending"),
            (
                json!({"phase": "Pending", "containerStatuses": containers(json!({"waiting": {"reason": "ContainerCreating"}}), false, 0)}),
                false,
                "ContainerCreating",
            ),
            (
                json!({"phase": "Pending", "containerStatuses": containers(json!({"waiting": {"reason": "ErrImagePull"}}), false, 0)}),
                false,
                "ErrImagePull",
            ),
            (
                json!({"phase": "Pending", "containerStatuses": containers(json!({"waiting": {"reason": "ImagePullBackOff"}}), false, 0)}),
                false,
                "ImagePullBackOff",
            ),
            (
                json!({"phase": "Running", "conditions": ready_cond, "containerStatuses": containers(running.clone(), true, 0)}),
                false,
                "Running",
            ),
            (
                json!({"phase": "Succeeded", "containerStatuses": containers(json!({"terminated": {"exitCode": 0, "reason": "Completed"}}), false, 0)}),
                false,
                "Completed",
            ),
            (
                json!({"phase": "Failed", "containerStatuses": containers(json!({"terminated": {"exitCode": 1, "reason": "Error"}}), false, 0)}),
                false,
                "Error",
            ),
            (
                json!({"phase": "Failed", "containerStatuses": containers(json!({"terminated": {"exitCode": 137}}), false, 0)}),
                false,
                "ExitCode:137",
            ),
            (
                json!({"phase": "Running", "containerStatuses": containers(running.clone(), true, 0)}),
                true,
                "Terminating",
            ),
            (
                json!({"phase": "Running", "reason": "NodeLost", "containerStatuses": containers(running.clone(), true, 0)}),
                true,
                "Unknown",
            ),
            // A terminal pod being deleted keeps its terminal status.
            (
                json!({"phase": "Succeeded", "containerStatuses": containers(json!({"terminated": {"exitCode": 0, "reason": "Completed"}}), false, 0)}),
                true,
                "Completed",
            ),
            (
                json!({"phase": "Failed", "reason": "Evicted"}),
                false,
                "Evicted",
            ),
        ];
        for (status, deleting, want) in cases {
            let j = pod_json(status.clone(), deleting);
            assert_eq!(pod_status(&j), want, "{status}");
        }
        let j = pod_json(
            json!({"phase": "Running", "containerStatuses": containers(running, true, 2)}),
            false,
        );
        let (ready, total, restarts, _) = pod_summary(&j);
        assert_eq!((ready, total, restarts), (2, 2, 4));
    }

    #[test]
    fn restarts_show_the_time_since_the_latest_last_termination() {
        let running = json!({"running": {"startedAt": at(40).rfc3339()}});
        let ended = |finished: i64| {
            json!({"terminated": {"exitCode": 1, "reason": "Error",
                "startedAt": at(0).rfc3339(), "finishedAt": at(finished).rfc3339()}})
        };
        let pod = |restarts: [i64; 2], last: [Value; 2]| {
            let mut cs = containers(running.clone(), true, 0);
            for (i, (r, l)) in restarts.into_iter().zip(last).enumerate() {
                cs[i]["restartCount"] = json!(r);
                cs[i]["lastState"] = l;
            }
            pod_json(json!({"phase": "Running", "containerStatuses": cs}), false)
        };
        let restarts_cell = |j: &Value, now: i64| cells(Kind::Pod, j, at(now))[3].clone();
        // The latest finishedAt of any container (here the second one's, 30 s).
        let j = pod([1, 2], [ended(5), ended(30)]);
        assert_eq!(restarts_cell(&j, 75), "3 (45s ago)");
        assert_eq!(restarts_cell(&j, 30 + 600), "3 (10m ago)");
        // No last termination known: the count alone.
        let j = pod([1, 0], [json!({}), json!({})]);
        assert_eq!(restarts_cell(&j, 75), "1");
        // A last termination without restarts (the first back-off): just 0.
        let j = pod([0, 0], [ended(5), json!({})]);
        assert_eq!(restarts_cell(&j, 75), "0");
    }

    /// `formatHPAMetrics` of kubectl's printers.go, metric type by metric type.
    #[test]
    fn hpa_targets_follow_kubectl() {
        let res = |name: &str, target: Value| json!({"type": "Resource", "resource": {"name": name, "target": target}});
        let util = |u: i64| json!({"type": "Utilization", "averageUtilization": u});
        let avg = |v: &str| json!({"type": "AverageValue", "averageValue": v});
        let cur = |name: &str, current: Value| json!({"type": "Resource", "resource": {"name": name, "current": current}});
        let hpa = |metrics: Value, current: Value| json!({"spec": {"metrics": metrics}, "status": {"currentMetrics": current}});
        let cases = [
            // Status metrics pair with spec metrics by index, not by name.
            (
                hpa(
                    json!([res("memory", util(60)), res("cpu", util(50))]),
                    json!([cur("cpu", json!({"averageUtilization": 30}))]),
                ),
                "memory: 30%/60%, cpu: <unknown>/50%",
            ),
            // An average-value target shows the average value.
            (
                hpa(
                    json!([res("cpu", avg("200m"))]),
                    json!([cur("cpu", json!({"averageValue": "150m"}))]),
                ),
                "cpu: 150m/200m",
            ),
            (
                hpa(json!([res("cpu", avg("200m"))]), json!([])),
                "cpu: <unknown>/200m",
            ),
            // No utilization target: <auto>.
            (
                hpa(
                    json!([res("cpu", json!({"type": "Utilization"}))]),
                    json!([]),
                ),
                "cpu: <unknown>/<auto>",
            ),
            // Two metrics shown, the rest counted.
            (
                hpa(
                    json!([
                        res("cpu", util(50)),
                        res("memory", util(70)),
                        res("cpu", avg("1")),
                        res("memory", avg("1Gi"))
                    ]),
                    json!([cur("cpu", json!({"averageUtilization": 40}))]),
                ),
                "cpu: 40%/50%, memory: <unknown>/70% + 2 more...",
            ),
            (
                hpa(
                    json!([
                        {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
                        {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "AverageValue", "averageValue": "30"}}},
                    ]),
                    json!([
                        {"type": "Pods", "pods": {"current": {"averageValue": "500"}}},
                        {"type": "External", "external": {"current": {"averageValue": "12"}}},
                    ]),
                ),
                "500/1k, 12/30 (avg)",
            ),
            (
                hpa(
                    json!([
                        {"type": "Object", "object": {"target": {"type": "Value", "value": "10"}}},
                        {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "target": util(60)}},
                        {"type": "Custom"},
                    ]),
                    json!([{"type": "Object", "object": {"current": {"value": "4"}}}]),
                ),
                "4/10, cpu: <unknown>/60% + 1 more...",
            ),
        ];
        for (j, want) in cases {
            assert_eq!(hpa_targets(&j), want, "{j}");
        }
        assert_eq!(
            hpa_metric(&json!({"type": "Custom"}), None),
            "<unknown type>"
        );
    }

    fn load(yaml: &str) -> Vec<Arc<Object>> {
        let objs = manifest::load_str(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"));
        objs.into_iter()
            .map(|mut o| {
                o.meta_mut().creation_timestamp = T0;
                Arc::new(o)
            })
            .collect()
    }

    #[test]
    fn deployment_table_has_kubectl_columns_and_layout() {
        let objs = load(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: pi-web\n  labels: {app: pi, tier: web}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: pi}}\n  template:\n    metadata: {labels: {app: pi}}\n    spec:\n      containers: [{name: web, image: kiamol/ch05-pi}]\n",
        );
        let out = render(Kind::Deployment, &objs, at(150), false);
        assert_eq!(
            out,
            "NAME     READY   UP-TO-DATE   AVAILABLE   AGE\n\
             pi-web   0/3     0            0           2m30s\n"
        );
        let out = render(Kind::Deployment, &objs, at(150), true);
        assert!(
            out.lines().next().unwrap().ends_with("AGE     LABELS"),
            "{out}"
        );
        assert!(out.contains("2m30s   app=pi,tier=web\n"), "{out}");
    }

    #[test]
    fn service_daemonset_job_cronjob_and_pvc_cells() {
        let svc = load(
            "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: NodePort\n  clusterIP: 10.96.0.20\n  selector: {app: web}\n  ports:\n  - {name: http, port: 80, nodePort: 30080}\n  - {name: dns, port: 53, protocol: UDP, nodePort: 30053}\n",
        );
        let j = svc[0].to_json();
        assert_eq!(
            cells(Kind::Service, &j, at(5)),
            [
                "web",
                "NodePort",
                "10.96.0.20",
                "<none>",
                "80:30080/TCP,53:30053/UDP",
                "5s"
            ]
        );
        let lb = json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 8088, "protocol": "TCP"}]}, "status": {"loadBalancer": {}}});
        assert_eq!(service_external_ip("LoadBalancer", &lb), "<pending>");
        assert_eq!(service_ports(&lb["spec"]), "8088/TCP");

        let ds = load(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: pi-proxy}\nspec:\n  selector: {matchLabels: {app: p}}\n  template:\n    metadata: {labels: {app: p}}\n    spec:\n      nodeSelector: {kiamol: ch06}\n      containers: [{name: n, image: nginx}]\n",
        );
        let row = cells(Kind::DaemonSet, &ds[0].to_json(), at(60));
        assert_eq!(
            row,
            ["pi-proxy", "0", "0", "0", "0", "0", "kiamol=ch06", "60s"]
        );

        let job = json!({
            "metadata": {"name": "pi", "creationTimestamp": T0.rfc3339()},
            "spec": {"completions": 5, "parallelism": 2},
            "status": {"succeeded": 5, "startTime": at(1).rfc3339(), "completionTime": at(31).rfc3339(),
                       "conditions": [{"type": "Complete", "status": "True"}]},
        });
        assert_eq!(
            cells(Kind::Job, &job, at(200)),
            ["pi", "Complete", "5/5", "30s", "3m20s"]
        );
        let running = json!({
            "metadata": {"name": "w", "creationTimestamp": T0.rfc3339()},
            "spec": {"parallelism": 3},
            "status": {"active": 3, "startTime": at(0).rfc3339()},
        });
        assert_eq!(
            cells(Kind::Job, &running, at(10)),
            ["w", "Running", "0/1 of 3", "10s", "10s"]
        );
        let failed = json!({
            "metadata": {"name": "f"},
            "spec": {"completions": 1},
            "status": {"failed": 3, "conditions": [{"type": "Failed", "status": "True"}]},
        });
        assert_eq!(
            cells(Kind::Job, &failed, at(10)),
            ["f", "Failed", "0/1", "", "<unknown>"]
        );

        let cj = json!({
            "metadata": {"name": "tick", "creationTimestamp": T0.rfc3339()},
            "spec": {"schedule": "*/1 * * * *", "suspend": false},
            "status": {"active": [{"name": "tick-1"}], "lastScheduleTime": at(60).rfc3339()},
        });
        assert_eq!(
            cells(Kind::CronJob, &cj, at(75)),
            ["tick", "*/1 * * * *", "<none>", "False", "1", "15s", "75s"]
        );

        let pvc = json!({
            "metadata": {"name": "data-kubia-0", "creationTimestamp": T0.rfc3339()},
            "spec": {"volumeName": "pv-a", "storageClassName": ""},
            "status": {"phase": "Bound", "capacity": {"storage": "1Mi"}, "accessModes": ["ReadWriteOnce", "ReadWriteMany"]},
        });
        assert_eq!(
            cells(Kind::PersistentVolumeClaim, &pvc, at(3)),
            ["data-kubia-0", "Bound", "pv-a", "1Mi", "RWO,RWX", "", "3s"]
        );
    }

    #[test]
    fn endpoints_slices_hpa_and_nodes() {
        let ep = json!({
            "metadata": {"name": "web"},
            "subsets": [{
                "addresses": [{"ip": "10.244.0.1"}, {"ip": "10.244.0.2"}, {"ip": "10.244.1.1"}, {"ip": "10.244.1.2"}],
                "ports": [{"port": 80}],
            }],
        });
        assert_eq!(
            format_endpoints(&ep),
            "10.244.0.1:80,10.244.0.2:80,10.244.1.1:80 + 1 more..."
        );
        assert_eq!(format_endpoints(&json!({"subsets": []})), "<none>");
        let not_ready = json!({"subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]});
        assert_eq!(format_endpoints(&not_ready), "<none>");

        let slice = json!({
            "metadata": {"name": "web-abc12"},
            "addressType": "IPv4",
            "ports": [{"port": 80, "name": "http"}],
            "endpoints": [{"addresses": ["10.244.0.1"]}, {"addresses": ["10.244.0.2"]}],
        });
        assert_eq!(
            cells(Kind::EndpointSlice, &slice, at(0))[1..4],
            ["IPv4", "80", "10.244.0.1,10.244.0.2"]
        );

        let hpa = json!({
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 10,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
            "status": {"currentReplicas": 2, "desiredReplicas": 2},
        });
        assert_eq!(
            cells(Kind::HorizontalPodAutoscaler, &hpa, at(0))[1..6],
            ["Deployment/web", "cpu: <unknown>/50%", "1", "10", "2"]
        );
        let mut measured = hpa.clone();
        measured["status"]["currentMetrics"] = json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 90}}}]);
        assert_eq!(hpa_targets(&measured), "cpu: 90%/50%");
        assert_eq!(
            hpa_targets(&json!({"spec": {}, "status": {}})),
            "<none>",
            "no metrics"
        );

        let node = |ready: &str, unschedulable: bool| {
            json!({
                "metadata": {"name": "node-0", "labels": {"node-role.kubernetes.io/control-plane": ""}},
                "spec": {"unschedulable": unschedulable},
                "status": {"conditions": [{"type": "Ready", "status": ready}]},
            })
        };
        assert_eq!(
            cells(Kind::Node, &node("True", false), at(0))[1..3],
            ["Ready", "control-plane"]
        );
        assert_eq!(
            cells(Kind::Node, &node("Unknown", false), at(0))[1],
            "NotReady"
        );
        assert_eq!(
            cells(Kind::Node, &node("True", true), at(0))[1],
            "Ready,SchedulingDisabled"
        );
    }

    #[test]
    fn every_kind_renders_and_namespaces_add_a_column() {
        for kind in Kind::ALL {
            assert!(!columns(kind).is_empty());
            let row = cells(kind, &json!({}), at(0));
            assert_eq!(row.len(), columns(kind).len(), "{kind}");
        }
        let objs = load(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\ndata: {k: v, l: w}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
        );
        let out = render(Kind::ConfigMap, &objs, at(7), false);
        assert_eq!(
            out,
            "NAMESPACE   NAME   DATA   AGE\n\
             x           a      2      7s\n\
             default     b      0      7s\n"
        );
        assert_eq!(render(Kind::Pod, &[], at(0), false), "No resources found\n");
    }
}
