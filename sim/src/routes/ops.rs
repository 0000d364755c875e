//! Ops endpoints (bearer = the ops token): the reliability snapshot and
//! fault management.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::{Resp, bearer, body_error, error, json as json_resp, query_get};
use crate::auth_store::ct_eq;
use crate::body::read_body;
use crate::config::ModelClass;
use crate::faults::{Fault, VALID_ENDPOINTS, VALID_FAULTS};
use crate::provider::Provider;
use crate::resilience::bulkhead::Bulkhead;
use crate::resilience::circuit::Circuit;
use crate::state::SimState;
use crate::stats::MAX_WINDOW_MINUTES;

/// Largest `limit` accepted.
const MAX_LIMIT: usize = 10_000;

/// `None` when the ops token is right, else the 401 to answer.
fn unauthorized(state: &SimState, headers: &http::HeaderMap) -> Option<Resp> {
    match bearer(headers) {
        Some(t) if ct_eq(t.as_bytes(), state.ops_token.as_bytes()) => None,
        Some(_) => Some(error(StatusCode::UNAUTHORIZED, "invalid ops token")),
        None => Some(error(StatusCode::UNAUTHORIZED, "missing ops bearer token")),
    }
}

/// `GET /api/ops/reliability-snapshot?minutes=N&limit=M`.
pub(crate) fn snapshot_route(state: &SimState, req: &Request<Incoming>) -> Resp {
    if let Some(r) = unauthorized(state, req.headers()) {
        return r;
    }
    let q = req.uri().query();
    let minutes = match query_get(q, "minutes") {
        None => state.cfg.ops.default_window_minutes,
        Some(v) => match v.trim().parse::<u32>() {
            Ok(m) if (1..=MAX_WINDOW_MINUTES).contains(&m) => m,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "minutes: expected an integer from 1 to 60",
                );
            }
        },
    };
    let limit = match query_get(q, "limit") {
        None => state.cfg.ops.max_rows_per_section,
        Some(v) => match v.trim().parse::<usize>() {
            Ok(l) if (1..=MAX_LIMIT).contains(&l) => l,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "limit: expected an integer from 1 to 10000",
                );
            }
        },
    };
    json_resp(StatusCode::OK, &snapshot(state, minutes, limit))
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Sorts rows by `count` descending and keeps `limit`; returns the rows
/// and the total count before truncation.
fn top(mut rows: Vec<(u64, Value)>, limit: usize) -> (Vec<Value>, u64, usize) {
    let total = rows.iter().map(|r| r.0).sum();
    let n = rows.len();
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    (
        rows.into_iter().take(limit).map(|r| r.1).collect(),
        total,
        n,
    )
}

/// Builds the snapshot JSON over the last `minutes` minutes.
pub(crate) fn snapshot(state: &SimState, minutes: u32, limit: usize) -> Value {
    let minutes = minutes.clamp(1, MAX_WINDOW_MINUTES);
    let limit = limit.max(1);
    let v = state.stats.window(minutes);
    let counter = |sec: &str, a: &str, b: &str| -> u64 {
        v.counters
            .iter()
            .filter(|((s, x, y), _)| *s == sec && *x == a && (b.is_empty() || *y == b))
            .map(|(_, n)| *n)
            .sum()
    };

    // Requests by endpoint and status.
    let (requests, total_requests, _) = top(
        v.statuses
            .iter()
            .map(|(r, s, n)| (*n, json!({"endpoint": r.name(), "status": s, "count": n})))
            .collect(),
        limit,
    );
    let (latency, _, _) = top(
        v.latency
            .iter()
            .map(|(r, h)| {
                (
                    h.len(),
                    json!({
                        "endpoint": r.name(),
                        "count": h.len(),
                        "p50_ms": us_to_ms(h.value_at_quantile(0.50)),
                        "p90_ms": us_to_ms(h.value_at_quantile(0.90)),
                        "p95_ms": us_to_ms(h.value_at_quantile(0.95)),
                        "p99_ms": us_to_ms(h.value_at_quantile(0.99)),
                        "max_ms": us_to_ms(h.max()),
                        "mean_ms": (h.mean() / 1000.0 * 1000.0).round() / 1000.0,
                    }),
                )
            })
            .collect(),
        limit,
    );

    // Rate-limit rejections by bucket and key.
    let (rl_rows, rl_total, _) = top(
        v.keyed
            .iter()
            .filter_map(|((sec, key), n)| {
                let bucket = sec.strip_prefix("rate_limit:")?;
                Some((*n, json!({"bucket": bucket, "key": key, "count": n})))
            })
            .collect(),
        limit,
    );
    let rl_by_bucket: serde_json::Map<String, Value> = [
        "chat_stream",
        "gmail_push",
        "whatsapp",
        "gmail_oauth",
        "wa_link_code",
    ]
    .iter()
    .map(|b| {
        let n: u64 = v
            .keyed
            .iter()
            .filter(|((s, _), _)| s.strip_prefix("rate_limit:") == Some(b))
            .map(|(_, n)| *n)
            .sum();
        ((*b).to_owned(), Value::from(n))
    })
    .collect();

    // Circuits and transitions within the window.
    let window_start = std::time::Instant::now()
        .checked_sub(Duration::from_secs(u64::from(minutes) * 60))
        .unwrap_or(state.started);
    let mut circuits = Vec::new();
    let mut transitions: Vec<(SystemTime, Value)> = Vec::new();
    let providers: [&Provider; 2] = [&state.primary, &state.secondary];
    // The chat providers, then the tool providers.
    let guarded: Vec<(&str, &Circuit, &Bulkhead)> = providers
        .iter()
        .map(|p| (p.kind.name(), &*p.circuit, &*p.bulkhead))
        .chain(
            state
                .tool_providers
                .iter()
                .map(|t| (t.name, &*t.circuit, &*t.bulkhead)),
        )
        .chain([(
            "gmail_oauth",
            &*state.linking.circuit,
            &*state.linking.bulkhead,
        )])
        .collect();
    for &(name, circuit, _) in &guarded {
        let c = circuit.view();
        circuits.push(json!({
            "provider": name,
            "state": c.state.name(),
            "consecutive_failures": c.consecutive_failures,
            "threshold": c.threshold,
            "cooldown_ms": c.cooldown_ms,
            "transitions_in_window": c.transitions.iter().filter(|t| t.at_instant >= window_start).count(),
        }));
        for t in c
            .transitions
            .iter()
            .filter(|t| t.at_instant >= window_start)
        {
            transitions.push((
                t.at,
                json!({"provider": name, "from": t.from.name(), "to": t.to.name(), "at": rfc3339(t.at)}),
            ));
        }
    }
    transitions.sort_by_key(|t| std::cmp::Reverse(t.0));
    let transitions_total = transitions.len();
    let transitions: Vec<Value> = transitions.into_iter().take(limit).map(|t| t.1).collect();

    let bulkheads: Vec<Value> = guarded
        .iter()
        .map(|&(name, _, bulkhead)| {
            json!({
                "provider": name,
                "max_concurrent": bulkhead.max_concurrent(),
                "in_use": bulkhead.in_use(),
                "rejections": counter("bulkhead", name, "rejected"),
                "expired_leases": counter("bulkhead", name, "expired"),
            })
        })
        .collect();

    let (admission_rows, _, _) = top(
        v.counters
            .iter()
            .filter(|((s, _, _), _)| *s == "admission")
            .map(|((_, d, r), n)| (*n, json!({"decision": d, "reason": r, "count": n})))
            .collect(),
        limit,
    );
    let (failover_rows, failovers_total, _) = top(
        v.counters
            .iter()
            .filter(|((s, _, _), _)| *s == "failover")
            .map(|((_, path, reason), n)| {
                let (from, to) = path.split_once("->").unwrap_or((path, ""));
                (
                    *n,
                    json!({"from": from, "to": to, "reason": reason, "count": n}),
                )
            })
            .collect(),
        limit,
    );
    let (provider_rows, _, _) = top(
        v.counters
            .iter()
            .filter(|((s, _, _), _)| *s == "provider")
            .map(|((_, p, o), n)| (*n, json!({"provider": p, "outcome": o, "count": n})))
            .collect(),
        limit,
    );
    let (fault_rows, _, _) = top(
        v.counters
            .iter()
            .filter(|((s, _, _), _)| *s == "fault")
            .map(|((_, e, k), n)| (*n, json!({"endpoint": e, "fault": k, "count": n})))
            .collect(),
        limit,
    );
    let streams: serde_json::Map<String, Value> = [
        "started",
        "completed",
        "error_event",
        "truncated",
        "client_gone",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), Value::from(counter("chat_stream", k, ""))))
    .collect();

    let tool_cache: Vec<Value> = state
        .tool_cache
        .entry_counts()
        .into_iter()
        .map(|(namespace, entries)| json!({"namespace": namespace, "entries": entries}))
        .collect();
    let (mut hits_total, mut misses_total) = (0, 0);
    let lookups: serde_json::Map<String, Value> = ["web", "product"]
        .iter()
        .map(|tool| {
            let (hits, misses) = (
                counter("tool_cache", tool, "hit"),
                counter("tool_cache", tool, "miss"),
            );
            hits_total += hits;
            misses_total += misses;
            ((*tool).to_owned(), json!({"hits": hits, "misses": misses}))
        })
        .collect();

    let (chat_model_rows, _, _) = top(
        v.counters
            .iter()
            .filter(|((s, _, _), _)| *s == "chat_model")
            .map(|((_, class, provider), n)| {
                let class_of = ModelClass::parse(class).unwrap_or(state.cfg.models.default_class);
                let index = usize::from(*provider == "secondary");
                let model = state.cfg.models.model(class_of, index);
                (
                    *n,
                    json!({"class": class, "provider": provider, "model": model, "streams": n}),
                )
            })
            .collect(),
        limit,
    );
    let mut tool_queue = state.tool_queue.view(std::time::Instant::now(), limit);
    tool_queue["alerts"] = state.tool_alerts.view();
    let (tool_provider_rows, _, _) = top(
        v.counters
            .iter()
            .filter(|((s, _, _), _)| *s == "tool_provider")
            .map(|((_, p, o), n)| (*n, json!({"provider": p, "outcome": o, "count": n})))
            .collect(),
        limit,
    );

    let unique_users = v.chat_users.len();
    let (chat_users, _, _) = top(
        v.chat_users
            .iter()
            .map(|(idx, n)| {
                let (id, email) = state
                    .auth
                    .user(*idx)
                    .map(|u| (u.id.clone(), u.email.clone()))
                    .unwrap_or_default();
                (*n, json!({"user_id": id, "email": email, "requests": n}))
            })
            .collect(),
        limit,
    );

    json!({
        "generated_at": rfc3339(SystemTime::now()),
        "window_minutes": minutes,
        "limit": limit,
        "started_at": rfc3339(state.started_at),
        "uptime_ms": ms(state.started.elapsed()),
        "requests": {
            "total": total_requests,
            "by_endpoint_status": requests,
        },
        "latency": latency,
        "rate_limit": {
            "rejections_total": rl_total,
            "by_bucket": rl_by_bucket,
            "rejections": rl_rows,
        },
        "circuits": circuits,
        "circuit_transitions": {
            "total": transitions_total,
            "rows": transitions,
        },
        "bulkheads": bulkheads,
        "bulkhead_alerts": state.bulkhead_alerts.view(),
        "linking": linking_section(state, &counter),
        "admission": admission_section(state, admission_rows, &counter),
        "gateway": gateway_section(state, &counter),
        "provider_failovers": {
            "total": failovers_total,
            "rows": failover_rows,
        },
        "provider_calls": provider_rows,
        "chat_streams": streams,
        "chat_users": chat_users,
        "unique_users": unique_users,
        "chat_models": chat_model_rows,
        "region": {
            "id": state.cfg.region.id,
            "topology_mode": state.cfg.region.topology,
            "readiness_only": state.cfg.region.readiness_only,
        },
        "tool_queue": tool_queue,
        "tool_providers": tool_provider_rows,
        "tool_cache": {
            "hits_total": hits_total,
            "misses_total": misses_total,
            "by_tool": lookups,
            "namespaces": tool_cache,
        },
        "faults": {
            "active": state.faults.list().iter().map(Fault::to_json).collect::<Vec<_>>(),
            "injected": fault_rows,
        },
        "knobs": state.cfg.knob_values(),
    })
}

/// The admission section: decisions, the tool-call rate, sampled events,
/// and the store (Redis) with its failures.
fn admission_section(
    state: &SimState,
    decisions: Vec<Value>,
    counter: &dyn Fn(&str, &str, &str) -> u64,
) -> Value {
    let cfg = &state.cfg;
    let redis = state.admission.store_view().map(|v| {
        json!({
            "url": cfg.admission_redis.public_url(),
            "key_prefix": cfg.admission_redis.key_prefix,
            "keys": v.keys,
            "tickets": v.tickets,
            "users": v.users,
            "expired_tickets": v.expired,
            "ticket_ttl_ms": ms(cfg.admission.ticket_ttl),
        })
    });
    json!({
        "enforced": cfg.flags.admission_enforce,
        "store": state.admission.mode().name(),
        "fail_closed_on_store_error": cfg.flags.fail_closed_on_redis_error,
        "global_inflight": state.admission.global_inflight(),
        "decisions": decisions,
        "tool_rate": {
            "est_tool_calls_per_msg": cfg.admission.est_tool_calls_per_msg,
            "max_per_sec": cfg.admission.global_max_tool_per_sec,
            "this_second": state.admission.tool_calls_this_second(),
        },
        "events": {
            "sample_pct": cfg.admission.allowed_event_sample_pct,
            "allowed_sampled": counter("admission_event", "allowed", ""),
            "rejected": counter("admission_event", "rejected", ""),
        },
        "store_health": {
            "errors": counter("admission_store", "error", ""),
            "failed_open": counter("admission_store", "failed_open", ""),
            "failed_closed": counter("admission_store", "failed_closed", ""),
            "shadow_rejections": counter("admission_store", "shadow_rejected", ""),
        },
        "redis": redis,
    })
}

/// Account linking: Gmail OAuth flows and WhatsApp link codes.
fn linking_section(state: &SimState, counter: &dyn Fn(&str, &str, &str) -> u64) -> Value {
    let (flows_pending, link_codes_live) = state.linking.live();
    json!({
        "gmail_oauth": {
            "started": counter("gmail_oauth", "started", ""),
            "connected": counter("gmail_oauth", "connected", ""),
            "exchange_failed": counter("gmail_oauth", "exchange_failed", ""),
            "pending": flows_pending,
        },
        "whatsapp_link_codes": {
            "issued": counter("wa_link_code", "issued", ""),
            "live": link_codes_live,
        },
    })
}

/// The chat gateway: enabled, in shadow behind the legacy path, or off.
fn gateway_section(state: &SimState, counter: &dyn Fn(&str, &str, &str) -> u64) -> Value {
    let flags = &state.cfg.flags;
    json!({
        "mode": gateway_mode(state),
        "shadow_would_reject": counter("gateway_shadow", "would_reject", ""),
        "health_enabled": flags.chat_gateway_health_enabled,
    })
}

/// `enabled`, `shadow` or `disabled`.
pub(crate) fn gateway_mode(state: &SimState) -> &'static str {
    let flags = &state.cfg.flags;
    match (flags.chat_gateway_enabled, flags.chat_gateway_shadow) {
        (true, _) => "enabled",
        (false, true) => "shadow",
        (false, false) => "disabled",
    }
}

/// Faults from their JSON forms; the error names the first bad item.
pub(crate) fn parse_faults(items: &[Value]) -> Result<Vec<Fault>, String> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| Fault::from_json(item).map_err(|e| format!("faults[{i}]: {e}")))
        .collect()
}

/// The faults in force and the valid choices.
pub(crate) fn faults_json(state: &SimState) -> Value {
    json!({
        "faults": state.faults.list().iter().map(Fault::to_json).collect::<Vec<_>>(),
        "valid_endpoints": VALID_ENDPOINTS,
        "valid_faults": VALID_FAULTS,
    })
}

/// `GET` lists, `POST` replaces, `DELETE` clears the faults.
pub(crate) async fn faults_route(state: &Arc<SimState>, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    if let Some(r) = unauthorized(state, &parts.headers) {
        return r;
    }
    match parts.method {
        Method::GET => json_resp(StatusCode::OK, &faults_json(state)),
        Method::DELETE => {
            state.faults.replace(Vec::new());
            json_resp(StatusCode::OK, &faults_json(state))
        }
        _ => {
            let bytes = match read_body(&parts.headers, body).await {
                Ok(b) => b,
                Err(e) => return body_error(e),
            };
            let v: Value = match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(e) => return super::bad_json("JSON body", &e),
            };
            let items = match &v {
                Value::Array(a) => a,
                Value::Object(o) => match o.get("faults") {
                    Some(Value::Array(a)) => a,
                    _ => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "expected {\"faults\": [...]} (objects like {\"endpoint\":\"chat\",\"latency\":\"200ms\"} or spec strings)",
                        );
                    }
                },
                _ => return error(StatusCode::BAD_REQUEST, "expected {\"faults\": [...]}"),
            };
            let list = match parse_faults(items) {
                Ok(list) => list,
                Err(message) => {
                    return json_resp(
                        StatusCode::BAD_REQUEST,
                        &json!({
                            "error": message,
                            "valid_endpoints": VALID_ENDPOINTS,
                            "valid_faults": VALID_FAULTS,
                        }),
                    );
                }
            };
            state.faults.replace(list);
            json_resp(StatusCode::OK, &faults_json(state))
        }
    }
}
