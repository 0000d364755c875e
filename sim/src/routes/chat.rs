//! `POST /api/chat`: bearer token and `{"threadId", "message"}` in, an SSE
//! stream of model tokens out.
//!
//! Before the response head: the gateway flag (503), auth (401), the body
//! (400/413), the thread (404/403), the per-user rate limit and admission
//! (429 with Retry-After), and a provider reservation (circuit + bulkhead;
//! 503 when neither provider can take the call). Then a task streams
//! `event: token` events and a final `event: done`; a provider failure
//! becomes `event: failover` (and the secondary continues) or, without a
//! provider left, `event: error` with a 502/503/504 status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::auth::authenticate;
use super::{Resp, bad_json, body_error, error_code, retry_later, too_many};
use crate::auth_store::User;
use crate::body::{SimBody, StreamCut, read_body};
use crate::config::ModelClass;
use crate::faults::{Decision, OutageMode, OutageProvider};
use crate::provider::{Failure, ProviderKind, Reserved};
use crate::resilience::admission::{Reason, StoreMode, Ticket};
use crate::resilience::circuit::CircuitState;
use crate::state::SimState;
use crate::tool_cache::Lookup;
use crate::tool_queue::{JobEnd, Qos};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChatBody {
    thread_id: String,
    #[serde(default)]
    message: Option<String>,
    /// `fast` or `agent` (default `CHAT_DEFAULT_MODEL_CLASS`).
    #[serde(default)]
    model_class: Option<String>,
}

const WORDS: [&str; 16] = [
    "The ",
    "system ",
    "holds ",
    "under ",
    "load ",
    "while ",
    "the ",
    "breaker ",
    "watches ",
    "every ",
    "call ",
    "and ",
    "the ",
    "queue ",
    "drains ",
    "steadily. ",
];

/// Runs the tools a message calls before the model answers: a cached
/// result is used at once; otherwise a tool job is enqueued, and the
/// message waits for its jobs (up to `TOOL_JOB_WAIT_MS`). The answer comes
/// either way: a failed or late tool only costs the wait.
async fn call_tools(state: &SimState, message: &str, qos: Qos) {
    let stats = &state.stats;
    let queue = &state.tool_queue;
    let cfg = *queue.config();
    let mut jobs = Vec::new();
    for (i, tool) in state.tool_cache.tools_for(message).into_iter().enumerate() {
        if i as u32 >= cfg.max_per_run {
            stats.count(("tool_jobs", tool.name(), "over_max_per_run"), 1);
            continue;
        }
        if state.tool_cache.namespace(tool).is_some() {
            let hit = state.tool_cache.lookup(tool, message, 2_048) == Lookup::Hit;
            stats.count(
                ("tool_cache", tool.name(), if hit { "hit" } else { "miss" }),
                1,
            );
            if hit {
                continue;
            }
        }
        match queue.enqueue(tool, qos, Instant::now()) {
            Ok(id) => jobs.push(id),
            Err(_) => stats.count(("tool_jobs", tool.name(), "queue_full"), 1),
        }
    }
    if jobs.is_empty() {
        return;
    }
    let deadline = Instant::now() + cfg.wait;
    loop {
        let ends: Vec<Option<JobEnd>> = jobs.iter().map(|id| queue.ended(*id)).collect();
        if ends.iter().all(Option::is_some) {
            for end in ends.into_iter().flatten() {
                let outcome = match end {
                    JobEnd::Done => "done",
                    JobEnd::DeadLettered => "dead_lettered",
                };
                stats.count(("tool_wait", outcome, ""), 1);
            }
            return;
        }
        if Instant::now() >= deadline {
            stats.count(("tool_wait", "timeout", ""), 1);
            return;
        }
        tokio::time::sleep(cfg.poll).await;
    }
}

/// Handles one chat request.
pub(crate) async fn chat(
    state: &Arc<SimState>,
    req: Request<Incoming>,
    faults: Option<Decision>,
) -> Resp {
    let flags = &state.cfg.flags;
    // The gateway decides; in shadow (gateway off, shadow on) the legacy
    // path serves and the gateway's refusals are only counted.
    let gateway_shadow = !flags.chat_gateway_enabled;
    if gateway_shadow && !flags.chat_gateway_shadow {
        return error_code(
            StatusCode::SERVICE_UNAVAILABLE,
            "CHAT_GATEWAY_DISABLED",
            "chat gateway disabled (FF_CHAT_GATEWAY_ENABLED=false)",
        );
    }
    let (parts, body) = req.into_parts();
    let user = match authenticate(state, &parts.headers) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let bytes = match read_body(&parts.headers, body).await {
        Ok(b) => b,
        Err(e) => return body_error(e),
    };
    let body: ChatBody = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => return bad_json("JSON body", &e),
    };
    match state.auth.thread_owner(&body.thread_id) {
        None => return error_code(StatusCode::NOT_FOUND, "THREAD_NOT_FOUND", "unknown thread"),
        Some(owner) if owner != user.idx => {
            return error_code(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "thread belongs to another user",
            );
        }
        Some(_) => {}
    }
    let class = match body.model_class.as_deref() {
        None => state.cfg.models.default_class,
        Some(name) => match ModelClass::parse(name) {
            Some(class) => class,
            None => {
                return error_code(
                    StatusCode::BAD_REQUEST,
                    "INVALID_MODEL_CLASS",
                    "modelClass must be fast or agent",
                );
            }
        },
    };
    let stats = &state.stats;
    stats.count_chat_user(user.idx);
    let key = crate::rng::splitmix64(u64::from(user.idx) ^ 0xC4A7);
    if let Err(wait) = state.rl_chat.check(key) {
        stats.count_keyed("rate_limit:chat_stream", &user.id);
        return too_many(wait, "RATE_LIMITED", "chat stream rate limit exceeded");
    }
    let ticket = match admit(state, &user, gateway_shadow).await {
        Ok(ticket) => ticket,
        Err(refusal) => return *refusal,
    };
    if let Some(message) = body.message.as_deref() {
        let qos = match class {
            ModelClass::Fast => Qos::Realtime,
            ModelClass::Agent => Qos::Interactive,
        };
        call_tools(state, message, qos).await;
    }
    let failover_enabled = state.cfg.flags.provider_failover_enabled;
    let (start, reserved, initial_failover) = match reserve(state, ProviderKind::Primary) {
        Ok(r) => (ProviderKind::Primary, r, None),
        Err(why) if failover_enabled => match reserve(state, ProviderKind::Secondary) {
            Ok(r) => {
                stats.count(("failover", "primary->secondary", why), 1);
                (ProviderKind::Secondary, r, Some(why))
            }
            Err(why2) => {
                return error_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "PROVIDER_UNAVAILABLE",
                    &format!("no provider available (primary: {why}, secondary: {why2})"),
                );
            }
        },
        Err(why) => {
            return error_code(
                StatusCode::SERVICE_UNAVAILABLE,
                "PROVIDER_UNAVAILABLE",
                &format!("primary provider unavailable ({why}) and failover disabled"),
            );
        }
    };
    let (tx, rx) = mpsc::channel(4);
    let ctx = StreamCtx {
        state: Arc::clone(state),
        class,
        _ticket: ticket,
        faults: faults.unwrap_or_default(),
        failover_enabled,
    };
    stats.count(("chat_stream", "started", ""), 1);
    tokio::spawn(ctx.run(tx, start, reserved, initial_failover));
    let mut r = Response::new(SimBody::Stream(rx));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert("x-sim-provider", HeaderValue::from_static(start.name()));
    let gateway = if gateway_shadow { "shadow" } else { "enabled" };
    h.insert("x-chat-gateway", HeaderValue::from_static(gateway));
    r
}

/// `GET /api/chat/health`: whether the gateway can take messages. `down`
/// (503) when the gateway is off, no chat provider can be called, or the
/// admission store is failing closed; `degraded` when a circuit is open or
/// the store fails open; else `ok`.
pub(crate) async fn health(state: &SimState) -> Resp {
    let flags = &state.cfg.flags;
    if !flags.chat_gateway_health_enabled {
        return error_code(
            StatusCode::NOT_FOUND,
            "HEALTH_DISABLED",
            "chat gateway health disabled (FF_CHAT_GATEWAY_HEALTH_ENABLED=false)",
        );
    }
    let gateway = super::ops::gateway_mode(state);
    let store_ok = state.reach_admission_store().await;
    let mode = state.admission.mode();
    let open = |kind| state.provider(kind).circuit.view().state == CircuitState::Open;
    let (primary_open, secondary_open) =
        (open(ProviderKind::Primary), open(ProviderKind::Secondary));
    let no_provider = primary_open && (secondary_open || !flags.provider_failover_enabled);
    let store_closed = !store_ok && mode == StoreMode::Redis && flags.fail_closed_on_redis_error;
    let status = if gateway == "disabled" || no_provider || store_closed {
        "down"
    } else if primary_open || secondary_open || !store_ok {
        "degraded"
    } else {
        "ok"
    };
    let code = if status == "down" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let circuit = |open: bool| if open { "open" } else { "not_open" };
    super::json(
        code,
        &serde_json::json!({
            "status": status,
            "gateway": gateway,
            "admission": { "store": mode.name(), "reachable": store_ok },
            "providers": [
                { "provider": "primary", "circuit": circuit(primary_open) },
                { "provider": "secondary", "circuit": circuit(secondary_open) },
            ],
        }),
    )
}

/// Admission of one message through the gateway. `Ok(None)`: the gateway,
/// in shadow, would have refused it and the legacy path serves it anyway
/// (holding no ticket). `Err`: the refusal to send, 429, or 503 when the
/// admission store failed closed.
async fn admit(
    state: &SimState,
    user: &User,
    gateway_shadow: bool,
) -> Result<Option<Ticket>, Box<Resp>> {
    let stats = &state.stats;
    let store_ok = state.reach_admission_store().await;
    let mode = state.admission.mode().name();
    if !store_ok {
        stats.count(("admission_store", "error", mode), 1);
    }
    match state.admission.admit(&user.inflight, user.idx, store_ok) {
        Ok((ticket, notes)) => {
            stats.count(("admission", "admitted", "ok"), 1);
            if let Some(why) = notes.shadow {
                stats.count(("admission", "shadow_rejected", why.name()), 1);
            }
            if let Some(why) = notes.store_shadow {
                stats.count(("admission_store", "shadow_rejected", why.name()), 1);
            }
            if notes.failed_open {
                stats.count(("admission_store", "failed_open", ""), 1);
            }
            if notes.sampled {
                stats.count(("admission_event", "allowed", mode), 1);
            }
            Ok(Some(ticket))
        }
        Err(rej) if gateway_shadow => {
            stats.count(("gateway_shadow", "would_reject", rej.reason.name()), 1);
            Ok(None)
        }
        Err(rej) => {
            let reason = rej.reason.name();
            stats.count(("admission", "rejected", reason), 1);
            stats.count(("admission_event", "rejected", reason), 1);
            Err(Box::new(if rej.reason == Reason::StoreUnavailable {
                stats.count(("admission_store", "failed_closed", ""), 1);
                retry_later(
                    StatusCode::SERVICE_UNAVAILABLE,
                    rej.retry_after,
                    "ADMISSION_UNAVAILABLE",
                    "admission store unavailable (FF_FAIL_CLOSED_ON_REDIS_ERROR=true)",
                )
            } else {
                too_many(rej.retry_after, "ADMISSION_REJECTED", reason)
            }))
        }
    }
}

/// Reserves a call on a provider, counting the outcome.
fn reserve(state: &SimState, kind: ProviderKind) -> Result<Reserved, &'static str> {
    let p = state.provider(kind);
    match p.reserve() {
        Ok((r, expired)) => {
            if expired > 0 {
                state
                    .stats
                    .count(("bulkhead", kind.name(), "expired"), expired);
            }
            Ok(r)
        }
        Err((why, expired)) => {
            if expired > 0 {
                state
                    .stats
                    .count(("bulkhead", kind.name(), "expired"), expired);
            }
            if why == crate::provider::Unavailable::BulkheadFull {
                state.stats.count(("bulkhead", kind.name(), "rejected"), 1);
                state
                    .bulkhead_alerts
                    .saturated(kind.name(), p.bulkhead.max_concurrent());
            }
            state.stats.count(("provider", kind.name(), why.name()), 1);
            Err(why.name())
        }
    }
}

struct StreamCtx {
    state: Arc<SimState>,
    class: ModelClass,
    _ticket: Option<Ticket>,
    faults: Decision,
    failover_enabled: bool,
}

type Tx = mpsc::Sender<Result<Bytes, StreamCut>>;

fn event(name: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// Sends a chunk; false when the client is gone.
async fn send(tx: &Tx, b: Bytes) -> bool {
    tx.send(Ok(b)).await.is_ok()
}

/// Sleeps unless the client goes away first; false when it did.
async fn pause(tx: &Tx, d: Duration) -> bool {
    if d.is_zero() {
        return !tx.is_closed();
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = tx.closed() => false,
    }
}

impl StreamCtx {
    fn outage(&self) -> Option<(OutageProvider, OutageMode)> {
        self.faults.outage
    }

    async fn run(
        self,
        tx: Tx,
        start: ProviderKind,
        reserved: Reserved,
        initial: Option<&'static str>,
    ) {
        let stats = &self.state.stats;
        let outcome = self.drive(&tx, start, reserved, initial).await;
        stats.count(("chat_stream", outcome, ""), 1);
    }

    async fn drive(
        &self,
        tx: &Tx,
        mut kind: ProviderKind,
        mut reserved: Reserved,
        initial: Option<&'static str>,
    ) -> &'static str {
        let stats = &self.state.stats;
        if let Some(why) = initial {
            let ev = event(
                "failover",
                &serde_json::json!({"from": "primary", "to": "secondary", "reason": why}),
            );
            if !send(tx, ev).await {
                return "client_gone";
            }
        }
        let ttft = self.state.cfg.chat_sim.ttft;
        loop {
            let provider = self.state.provider(kind);
            let mut last = Failure::Error;
            let attempts = 1 + provider.cfg.retries;
            let mut succeeded = false;
            for attempt in 0..attempts {
                let permit = match reserved.permit.take() {
                    Some(p) => p,
                    None => match provider.circuit.try_acquire() {
                        Some(p) => p,
                        None => break,
                    },
                };
                if attempt > 0 {
                    stats.count(("provider", kind.name(), "retry"), 1);
                }
                let result = tokio::select! {
                    r = provider.first_token(ttft, self.outage()) => r,
                    _ = tx.closed() => return "client_gone",
                };
                match result {
                    Ok(()) => {
                        provider.circuit.success(permit);
                        stats.count(("provider", kind.name(), "ok"), 1);
                        succeeded = true;
                        break;
                    }
                    Err(f) => {
                        last = f;
                        stats.count(("provider", kind.name(), f.name()), 1);
                        if provider.circuit.failure(permit) {
                            break;
                        }
                    }
                }
            }
            if succeeded {
                let out = self.stream_tokens(tx, kind).await;
                drop(reserved);
                return out;
            }
            drop(reserved);
            if kind == ProviderKind::Primary && self.failover_enabled {
                match reserve(&self.state, ProviderKind::Secondary) {
                    Ok(r) => {
                        stats.count(("failover", "primary->secondary", last.name()), 1);
                        let ev = event(
                            "failover",
                            &serde_json::json!({"from": "primary", "to": "secondary", "reason": last.name()}),
                        );
                        if !send(tx, ev).await {
                            return "client_gone";
                        }
                        kind = ProviderKind::Secondary;
                        reserved = r;
                        continue;
                    }
                    Err(why) => {
                        let ev = event(
                            "error",
                            &serde_json::json!({
                                "status": 503,
                                "code": "PROVIDER_UNAVAILABLE",
                                "message": format!("primary failed ({}), secondary unavailable ({why})", last.name()),
                            }),
                        );
                        let _ = send(tx, ev).await;
                        return "error_event";
                    }
                }
            }
            let (status, code) = match last {
                Failure::Timeout => (504, "PROVIDER_TIMEOUT"),
                Failure::Error => (502, "PROVIDER_ERROR"),
            };
            let ev = event(
                "error",
                &serde_json::json!({
                    "status": status,
                    "code": code,
                    "provider": kind.name(),
                    "message": format!("{} provider {}", kind.name(), last.name()),
                }),
            );
            let _ = send(tx, ev).await;
            return "error_event";
        }
    }

    /// Cuts the stream where the next token would have come, so that the
    /// tokens already sent reach the client before the abort.
    async fn cut(&self, tx: &Tx, gap: Duration) -> &'static str {
        if !pause(tx, gap.max(Duration::from_millis(5))).await {
            return "client_gone";
        }
        let _ = tx.send(Err(StreamCut)).await;
        "truncated"
    }

    async fn stream_tokens(&self, tx: &Tx, kind: ProviderKind) -> &'static str {
        let sim = &self.state.cfg.chat_sim;
        let gap = match self.faults.slow {
            Some((factor, add)) => sim.token_gap.mul_f64(factor) + add,
            None => sim.token_gap,
        };
        let cut = self.faults.truncate_after;
        for i in 0..sim.tokens {
            if cut == Some(i) {
                return self.cut(tx, gap).await;
            }
            if i > 0 && !pause(tx, gap).await {
                return "client_gone";
            }
            let text = WORDS[i as usize % WORDS.len()];
            let ev = event(
                "token",
                &serde_json::json!({"index": i, "text": text, "provider": kind.name()}),
            );
            if !send(tx, ev).await {
                return "client_gone";
            }
        }
        if cut.is_some() {
            return self.cut(tx, gap).await;
        }
        let model = self.state.cfg.models.model(self.class, kind as usize);
        self.state
            .stats
            .count(("chat_model", self.class.name(), kind.name()), 1);
        let done = event(
            "done",
            &serde_json::json!({"tokens": sim.tokens, "provider": kind.name(), "model": model, "modelClass": self.class.name()}),
        );
        if !send(tx, done).await {
            return "client_gone";
        }
        "completed"
    }
}
