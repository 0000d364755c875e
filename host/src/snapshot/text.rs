//! The reliability snapshot as readable text: one titled section per
//! concern, aligned columns, absent sections left out. Works on any JSON
//! object (a target other than relhost-sim may lack sections or add some);
//! it never fails on unexpected shapes.

use std::io::{self, Write};

use serde_json::Value;

/// Cell text of a JSON value: strings bare, numbers trimmed, null as `-`.
fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.fract() != 0.0 => format!("{f:.2}"),
            _ => n.to_string(),
        },
        Some(other) => other.to_string(),
    }
}

/// Writes `rows` under `headers`, columns aligned, two spaces indented.
fn table(out: &mut dyn Write, headers: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: Vec<&str>| -> io::Result<()> {
        let mut text = String::from(" ");
        for (c, w) in cells.iter().zip(&widths) {
            text.push(' ');
            text.push_str(c);
            text.push_str(&" ".repeat(w.saturating_sub(c.chars().count()) + 1));
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, headers.to_vec())?;
    for row in rows {
        line(out, row.iter().map(String::as_str).collect())?;
    }
    Ok(())
}

/// Rows of an array of objects, one cell per key.
fn rows_of(v: Option<&Value>, keys: &[&str]) -> Vec<Vec<String>> {
    v.and_then(Value::as_array)
        .map(|rows| {
            rows.iter()
                .map(|r| keys.iter().map(|k| cell(r.get(*k))).collect())
                .collect()
        })
        .unwrap_or_default()
}

fn section(
    out: &mut dyn Write,
    title: &str,
    headers: &[&str],
    rows: &[Vec<String>],
) -> io::Result<()> {
    writeln!(out, "\n{title}")?;
    if rows.is_empty() {
        writeln!(out, "  (none)")
    } else {
        table(out, headers, rows)
    }
}

/// Writes an array of objects as a table, one column per key (in order of
/// first appearance); anything else as indented JSON.
pub fn write_rows(out: &mut dyn Write, rows: &Value) -> io::Result<()> {
    let Some(items) = rows.as_array().filter(|a| a.iter().all(Value::is_object)) else {
        return writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(rows).unwrap_or_default()
        );
    };
    let mut keys: Vec<&str> = Vec::new();
    for key in items
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|o| o.keys())
    {
        if !keys.contains(&key.as_str()) {
            keys.push(key);
        }
    }
    if items.is_empty() {
        return writeln!(out, "  (none)");
    }
    table(out, &keys, &rows_of(Some(rows), &keys))
}

/// Writes `snapshot` readably: the window, requests by endpoint and status,
/// latency, circuits and their transitions, rate limits, bulkheads,
/// admission, provider failovers and calls, the tool queue and cache, chat streams,
/// active faults and
/// the effective runtime knobs.
pub fn write_snapshot_text(out: &mut dyn Write, snapshot: &Value) -> io::Result<()> {
    let g = |k: &str| snapshot.get(k);
    writeln!(
        out,
        "reliability snapshot: generated {}, window {} min, up to {} rows per section",
        cell(g("generated_at")),
        cell(g("window_minutes")),
        cell(g("limit"))
    )?;

    if let Some(requests) = g("requests") {
        let rows = rows_of(
            requests.get("by_endpoint_status"),
            &["endpoint", "status", "count"],
        );
        section(
            out,
            &format!("requests (total {})", cell(requests.get("total"))),
            &["endpoint", "status", "count"],
            &rows,
        )?;
    }
    if g("latency").is_some() {
        let keys = [
            "endpoint", "count", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms",
        ];
        section(
            out,
            "latency (ms, inside the target)",
            &keys,
            &rows_of(g("latency"), &keys),
        )?;
    }
    if g("circuits").is_some() {
        let keys = [
            "provider",
            "state",
            "consecutive_failures",
            "threshold",
            "cooldown_ms",
            "transitions_in_window",
        ];
        section(out, "circuits", &keys, &rows_of(g("circuits"), &keys))?;
    }
    if let Some(t) = g("circuit_transitions") {
        let keys = ["provider", "from", "to", "at"];
        section(
            out,
            &format!(
                "circuit transitions (total {}, newest first)",
                cell(t.get("total"))
            ),
            &keys,
            &rows_of(t.get("rows"), &keys),
        )?;
    }
    if let Some(r) = g("rate_limit") {
        let mut rows: Vec<Vec<String>> = r
            .get("by_bucket")
            .and_then(Value::as_object)
            .map(|b| {
                b.iter()
                    .map(|(k, v)| vec![k.clone(), "(all)".into(), cell(Some(v))])
                    .collect()
            })
            .unwrap_or_default();
        rows.extend(rows_of(r.get("rejections"), &["bucket", "key", "count"]));
        section(
            out,
            &format!(
                "rate-limit rejections (total {})",
                cell(r.get("rejections_total"))
            ),
            &["bucket", "key", "count"],
            &rows,
        )?;
    }
    if g("bulkheads").is_some() {
        let keys = [
            "provider",
            "max_concurrent",
            "in_use",
            "rejections",
            "expired_leases",
        ];
        section(out, "bulkheads", &keys, &rows_of(g("bulkheads"), &keys))?;
    }
    if let Some(a) = g("admission") {
        let keys = ["decision", "reason", "count"];
        section(
            out,
            &format!(
                "admission (enforced {}, store {}, global in flight {})",
                cell(a.get("enforced")),
                cell(a.get("store")),
                cell(a.get("global_inflight"))
            ),
            &keys,
            &rows_of(a.get("decisions"), &keys),
        )?;
        if let Some(health) = a.get("store_health").and_then(Value::as_object) {
            let mut rows: Vec<Vec<String>> = health
                .iter()
                .map(|(k, v)| vec![k.clone(), cell(Some(v))])
                .collect();
            if let Some(redis) = a.get("redis").filter(|r| r.is_object()) {
                for k in ["tickets", "expired_tickets"] {
                    rows.push(vec![k.to_owned(), cell(redis.get(k))]);
                }
            }
            section(
                out,
                &format!(
                    "admission store (fail closed {})",
                    cell(a.get("fail_closed_on_store_error"))
                ),
                &["figure", "value"],
                &rows,
            )?;
        }
    }
    if let Some(gw) = g("gateway") {
        let rows = vec![vec![
            cell(gw.get("mode")),
            cell(gw.get("shadow_would_reject")),
            cell(gw.get("health_enabled")),
        ]];
        section(
            out,
            "chat gateway",
            &["mode", "shadow_would_reject", "health_enabled"],
            &rows,
        )?;
    }
    if let Some(f) = g("provider_failovers") {
        let keys = ["from", "to", "reason", "count"];
        section(
            out,
            &format!("provider failovers (total {})", cell(f.get("total"))),
            &keys,
            &rows_of(f.get("rows"), &keys),
        )?;
    }
    if g("provider_calls").is_some() {
        let keys = ["provider", "outcome", "count"];
        section(
            out,
            "provider calls",
            &keys,
            &rows_of(g("provider_calls"), &keys),
        )?;
    }
    if let Some(q) = g("tool_queue") {
        let keys = [
            "kind",
            "queued",
            "running",
            "oldest_queued_age_ms",
            "completed",
            "retries",
            "dead_lettered",
            "rejected",
        ];
        section(
            out,
            &format!(
                "tool queue (DLQ {}, oldest queued {} ms, enforced {})",
                cell(q.get("dlq_size")),
                cell(q.get("oldest_queued_age_ms")),
                cell(q.get("enforced"))
            ),
            &keys,
            &rows_of(q.get("by_kind"), &keys),
        )?;
        if let Some(alerts) = q.get("alerts") {
            let keys = ["alert", "value", "max", "at"];
            section(
                out,
                &format!(
                    "tool-queue alerts (fired {}, in the last {} min)",
                    cell(alerts.get("fired_total")),
                    cell(alerts.get("window_minutes"))
                ),
                &keys,
                &rows_of(alerts.get("in_window"), &keys),
            )?;
        }
    }
    if let Some(t) = g("tool_cache") {
        let keys = ["namespace", "entries"];
        section(
            out,
            &format!(
                "tool cache (hits {}, misses {})",
                cell(t.get("hits_total")),
                cell(t.get("misses_total"))
            ),
            &keys,
            &rows_of(t.get("namespaces"), &keys),
        )?;
    }
    if let Some(c) = g("chat_streams").and_then(Value::as_object) {
        let rows: Vec<Vec<String>> = c
            .iter()
            .map(|(k, v)| vec![k.clone(), cell(Some(v))])
            .collect();
        section(
            out,
            &format!("chat streams (unique users {})", cell(g("unique_users"))),
            &["outcome", "count"],
            &rows,
        )?;
    }
    if let Some(f) = g("faults") {
        let rows: Vec<Vec<String>> = f
            .get("active")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|x| vec![cell(x.get("spec"))]).collect())
            .unwrap_or_default();
        section(out, "active faults", &["spec"], &rows)?;
    }
    if let Some(k) = g("knobs").and_then(Value::as_object) {
        let rows: Vec<Vec<String>> = k
            .iter()
            .map(|(k, v)| vec![k.clone(), cell(Some(v))])
            .collect();
        section(out, "effective knobs", &["knob", "value"], &rows)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_sections_and_tolerates_odd_shapes() {
        let s = json!({
            "generated_at": "2026-11-27T00:00:00.000Z", "window_minutes": 15, "limit": 100,
            "requests": {"total": 9, "by_endpoint_status": [{"endpoint": "POST /api/chat", "status": 200, "count": 7}]},
            "circuits": [{"provider": "primary", "state": "open", "consecutive_failures": 5}],
            "rate_limit": {"rejections_total": 1, "by_bucket": {"whatsapp": 1}, "rejections": "odd"},
            "admission": {"enforced": true, "store": "redis", "decisions": [],
                          "store_health": {"errors": 3, "failed_open": 3}, "redis": {"tickets": 2, "expired_tickets": 1}},
            "gateway": {"mode": "shadow", "shadow_would_reject": 4},
            "tool_queue": {"dlq_size": 2, "by_kind": [], "alerts": {"fired_total": 1, "window_minutes": 15,
                           "in_window": [{"alert": "dlq", "value": 2, "max": 0, "at": "2026-11-27T00:00:00.000Z"}]}},
            "knobs": {"RATE_LIMIT_CHAT_STREAM_MAX": 6000, "WHATSAPP_APP_SECRET": "<set>"}
        });
        let mut out = Vec::new();
        write_snapshot_text(&mut out, &s).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("requests (total 9)"), "{text}");
        assert!(text.contains("POST /api/chat  200     7"), "{text}");
        assert!(text.contains("primary   open"), "{text}");
        assert!(text.contains("effective knobs"), "{text}");
        assert!(text.contains("WHATSAPP_APP_SECRET         <set>"), "{text}");
        assert!(
            text.contains("admission (enforced true, store redis"),
            "{text}"
        );
        assert!(text.contains("expired_tickets  1"), "{text}");
        assert!(text.contains("shadow  4"), "{text}");
        assert!(
            text.contains("tool-queue alerts (fired 1, in the last 15 min)"),
            "{text}"
        );
        assert!(text.contains("dlq    2      0"), "{text}");
        let mut out = Vec::new();
        write_snapshot_text(&mut out, &json!({"unexpected": true})).unwrap();
    }
}
