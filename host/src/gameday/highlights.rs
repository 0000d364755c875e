//! What a phase did to the target, read from two snapshots: the one taken
//! at the end of the previous phase and the one at the end of this phase.
//!
//! Phase snapshots ask for the sim's whole history (60 minutes), so that a
//! counter's difference between two of them is what happened in between;
//! the first phase's figures count from the start of that history.
//! Circuit transitions are those timestamped after the previous snapshot.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::hypothesis::{open_circuits, server_errors};

/// One circuit's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitState {
    /// The provider (`primary`, `secondary`).
    pub provider: String,
    /// `closed`, `open` or `half_open`.
    pub state: String,
}

/// One circuit transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The provider.
    pub provider: String,
    /// State before.
    pub from: String,
    /// State after.
    pub to: String,
    /// When (RFC 3339).
    pub at: String,
}

/// Rejections during the phase, by mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Rejections {
    /// Rate-limit 429s.
    pub rate_limit: f64,
    /// Provider bulkhead rejections.
    pub bulkhead: f64,
    /// Admission rejections (enforced ones).
    pub admission: f64,
}

/// What the tool queue did during the phase (targets with a tool queue).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ToolQueueHighlights {
    /// Jobs queued at the end of the phase.
    pub queued: f64,
    /// Dead letters held at the end of the phase.
    pub dlq_size: f64,
    /// Oldest queued job at the end of the phase, in ms.
    pub oldest_queued_age_ms: f64,
    /// Jobs dead-lettered during the phase.
    pub dead_lettered: f64,
    /// Attempts retried during the phase.
    pub retries: f64,
    /// Tool-queue alerts fired during the phase.
    pub alerts_fired: f64,
}

impl ToolQueueHighlights {
    /// The queue's lifetime counters and alert total, when there is a queue.
    fn counters(s: &Value) -> Option<(f64, f64, f64)> {
        let q = s.get("tool_queue").filter(|q| q.is_object())?;
        let per_kind = |key: &str| {
            q.get("by_kind")
                .and_then(Value::as_array)
                .map(|rows| rows.iter().filter_map(|r| r[key].as_f64()).sum())
                .unwrap_or(0.0)
        };
        Some((
            per_kind("dead_lettered"),
            per_kind("retries"),
            number(q, &["alerts", "fired_total"]),
        ))
    }

    fn between(previous: Option<&Value>, current: &Value) -> Option<Self> {
        let (dead, retries, alerts) = Self::counters(current)?;
        let (dead0, retries0, alerts0) = previous.and_then(Self::counters).unwrap_or_default();
        Some(ToolQueueHighlights {
            queued: number(current, &["tool_queue", "queued"]),
            dlq_size: number(current, &["tool_queue", "dlq_size"]),
            oldest_queued_age_ms: number(current, &["tool_queue", "oldest_queued_age_ms"]),
            dead_lettered: delta(dead, dead0),
            retries: delta(retries, retries0),
            alerts_fired: delta(alerts, alerts0),
        })
    }
}

/// The highlights of one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Highlights {
    /// Requests the target counted during the phase.
    pub requests: f64,
    /// Of which answered 500–599.
    pub server_errors: f64,
    /// Circuits open at the end of the phase.
    pub open_circuits: f64,
    /// Every circuit's state at the end of the phase.
    pub circuits: Vec<CircuitState>,
    /// Circuit transitions during the phase, oldest first.
    pub circuit_transitions: Vec<Transition>,
    /// Provider failovers during the phase.
    pub failovers: f64,
    /// Rejections during the phase.
    pub rejections: Rejections,
    /// Faults injected during the phase (requests a fault acted on).
    pub faults_injected: f64,
    /// Fault specs in force at the end of the phase.
    pub active_faults: Vec<String>,
    /// The tool queue, when the target has one.
    pub tool_queue: Option<ToolQueueHighlights>,
}

fn number(v: &Value, path: &[&str]) -> f64 {
    path.iter()
        .try_fold(v, |v, key| v.get(*key))
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
}

fn sum_rows(v: &Value, path: &[&str], keep: impl Fn(&Value) -> bool) -> f64 {
    path.iter()
        .try_fold(v, |v, key| v.get(*key))
        .and_then(Value::as_array)
        .map(|rows| {
            rows.iter()
                .filter(|r| keep(r))
                .filter_map(|r| r["count"].as_f64().or_else(|| r["rejections"].as_f64()))
                .fold(0.0, |sum, count| sum + count)
        })
        .unwrap_or(0.0)
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Counters that only grow (within the snapshot's history).
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    requests: f64,
    server_errors: f64,
    failovers: f64,
    rejections: Rejections,
    faults_injected: f64,
}

impl Counters {
    fn of(s: &Value) -> Self {
        let (server_errors, requests) = server_errors(s).unwrap_or_default();
        Counters {
            requests,
            server_errors,
            failovers: number(s, &["provider_failovers", "total"]),
            rejections: Rejections {
                rate_limit: number(s, &["rate_limit", "rejections_total"]),
                bulkhead: sum_rows(s, &["bulkheads"], |_| true),
                admission: sum_rows(s, &["admission", "decisions"], |r| {
                    r["decision"] == "rejected"
                }),
            },
            faults_injected: sum_rows(s, &["faults", "injected"], |_| true),
        }
    }
}

fn delta(now: f64, before: f64) -> f64 {
    (now - before).max(0.0)
}

impl Highlights {
    /// The highlights of the phase that ended with `current`, after `previous`.
    pub fn between(previous: Option<&Value>, current: &Value) -> Highlights {
        let now = Counters::of(current);
        let before = previous.map(Counters::of).unwrap_or_default();
        let since = previous.map(|p| text(p, "generated_at"));
        let mut circuit_transitions: Vec<Transition> = current
            .pointer("/circuit_transitions/rows")
            .and_then(Value::as_array)
            .map(|rows| {
                rows.iter()
                    .map(|r| Transition {
                        provider: text(r, "provider"),
                        from: text(r, "from"),
                        to: text(r, "to"),
                        at: text(r, "at"),
                    })
                    .filter(|t| since.as_ref().is_none_or(|s| t.at.as_str() > s.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        // The snapshot lists them newest first; a stable sort of the
        // reversed list keeps same-millisecond transitions in their order.
        circuit_transitions.reverse();
        circuit_transitions.sort_by(|a, b| a.at.cmp(&b.at));
        let circuits = current
            .get("circuits")
            .and_then(Value::as_array)
            .map(|rows| {
                rows.iter()
                    .map(|r| CircuitState {
                        provider: text(r, "provider"),
                        state: text(r, "state"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let active_faults = current
            .pointer("/faults/active")
            .and_then(Value::as_array)
            .map(|rows| rows.iter().map(|r| text(r, "spec")).collect())
            .unwrap_or_default();
        Highlights {
            requests: delta(now.requests, before.requests),
            server_errors: delta(now.server_errors, before.server_errors),
            open_circuits: open_circuits(current).unwrap_or(0.0),
            circuits,
            circuit_transitions,
            failovers: delta(now.failovers, before.failovers),
            rejections: Rejections {
                rate_limit: delta(now.rejections.rate_limit, before.rejections.rate_limit),
                bulkhead: delta(now.rejections.bulkhead, before.rejections.bulkhead),
                admission: delta(now.rejections.admission, before.rejections.admission),
            },
            faults_injected: delta(now.faults_injected, before.faults_injected),
            active_faults,
            tool_queue: ToolQueueHighlights::between(previous, current),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snap(at: &str, failovers: u64, transitions: Value, state: &str) -> Value {
        json!({
            "generated_at": at,
            "requests": {"total": failovers * 10, "by_endpoint_status": [{"status": 200, "count": failovers * 10}]},
            "circuits": [{"provider": "primary", "state": state}],
            "circuit_transitions": {"total": 0, "rows": transitions},
            "provider_failovers": {"total": failovers, "rows": []},
            "rate_limit": {"rejections_total": 0},
            "bulkheads": [{"provider": "primary", "rejections": 1}],
            "admission": {"decisions": [{"decision": "rejected", "count": 2}, {"decision": "admitted", "count": 9}]},
            "faults": {"active": [{"spec": "chat:provider_outage=primary"}], "injected": [{"count": 4}]}
        })
    }

    #[test]
    fn phases_count_what_changed_since_the_previous_one() {
        let before = snap("2026-01-01T00:00:01.000Z", 0, json!([]), "closed");
        let after = snap(
            "2026-01-01T00:00:09.000Z",
            7,
            json!([
                {"provider": "primary", "from": "open", "to": "half_open", "at": "2026-01-01T00:00:05.000Z"},
                {"provider": "primary", "from": "closed", "to": "open", "at": "2026-01-01T00:00:03.000Z"},
                {"provider": "primary", "from": "x", "to": "y", "at": "2026-01-01T00:00:00.500Z"}
            ]),
            "open",
        );
        let h = Highlights::between(Some(&before), &after);
        assert_eq!(h.failovers, 7.0);
        assert_eq!(h.requests, 70.0);
        assert_eq!(h.open_circuits, 1.0);
        assert_eq!(h.circuit_transitions.len(), 2, "older ones are left out");
        assert_eq!(h.circuit_transitions[0].to, "open", "oldest first");
        assert_eq!(h.rejections.admission, 0.0);
        assert_eq!(h.active_faults, ["chat:provider_outage=primary"]);

        let first = Highlights::between(None, &before);
        assert_eq!(first.rejections.admission, 2.0);
        assert_eq!(first.rejections.bulkhead, 1.0);
        assert_eq!(first.faults_injected, 4.0);
        assert_eq!(first.tool_queue, None, "no tool queue, no highlights");
    }

    #[test]
    fn tool_queue_counters_are_counted_per_phase() {
        let queue = |dead: u64, retries: u64, fired: u64, dlq: u64| {
            json!({"tool_queue": {"queued": 3, "dlq_size": dlq, "oldest_queued_age_ms": 40,
                "by_kind": [{"dead_lettered": dead, "retries": retries}, {"dead_lettered": 1, "retries": 0}],
                "alerts": {"fired_total": fired}}})
        };
        let h = Highlights::between(Some(&queue(2, 5, 1, 3)), &queue(6, 9, 3, 7));
        let q = h.tool_queue.expect("a queue");
        assert_eq!(
            (q.dead_lettered, q.retries, q.alerts_fired),
            (4.0, 4.0, 2.0)
        );
        assert_eq!(
            (q.queued, q.dlq_size, q.oldest_queued_age_ms),
            (3.0, 7.0, 40.0)
        );
    }
}
