//! `POST /api/gmail/push`: a Pub/Sub push envelope whose base64
//! `message.data` is a Gmail notification (`emailAddress`, `historyId`).
//! `?token=` must match `GMAIL_PUBSUB_VERIFY_TOKEN` when it is set.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use super::{Resp, bad_json, body_error, error, json_bytes, query_get, source, too_many};
use crate::auth_store::ct_eq;
use crate::body::read_body;
use crate::state::SimState;
use crate::tool_queue::{Qos, ToolKind};

#[derive(Debug, Deserialize)]
struct Envelope {
    message: Message,
    #[serde(default)]
    #[allow(dead_code)]
    subscription: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Message {
    data: String,
    #[serde(default, rename = "messageId", alias = "message_id")]
    #[allow(dead_code)]
    message_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    email_address: String,
    history_id: HistoryId,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum HistoryId {
    Number(#[allow(dead_code)] u64),
    Text(String),
}

fn decode_data(data: &str) -> Option<Vec<u8>> {
    let d = data.trim();
    STANDARD
        .decode(d)
        .or_else(|_| URL_SAFE.decode(d))
        .or_else(|_| {
            let unpadded = d.trim_end_matches('=');
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(unpadded)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(unpadded))
        })
        .ok()
}

/// Handles one push.
pub(crate) async fn push(state: &Arc<SimState>, req: Request<Incoming>, peer: IpAddr) -> Resp {
    let (parts, body) = req.into_parts();
    let (key, src) = source(&parts.headers, peer);
    if let Err(wait) = state.rl_gmail.check(key) {
        state
            .stats
            .count_keyed("rate_limit:gmail_push", &src.to_string());
        return too_many(wait, "RATE_LIMITED", "gmail push rate limit exceeded");
    }
    if let Some(expected) = &state.cfg.gmail_verify_token {
        match query_get(parts.uri.query(), "token") {
            None => return error(StatusCode::UNAUTHORIZED, "missing ?token="),
            Some(t) if !ct_eq(t.as_bytes(), expected.as_bytes()) => {
                return error(StatusCode::FORBIDDEN, "invalid ?token=");
            }
            Some(_) => {}
        }
    }
    let bytes = match read_body(&parts.headers, body).await {
        Ok(b) => b,
        Err(e) => return body_error(e),
    };
    let env: Envelope = match serde_json::from_slice(&bytes) {
        Ok(e) => e,
        Err(e) => return bad_json("Pub/Sub envelope", &e),
    };
    let Some(data) = decode_data(&env.message.data) else {
        return error(
            StatusCode::BAD_REQUEST,
            "malformed Pub/Sub envelope: message.data is not base64",
        );
    };
    let note: Notification = match serde_json::from_slice(&data) {
        Ok(n) => n,
        Err(e) => return bad_json("Gmail notification in message.data", &e),
    };
    if let HistoryId::Text(t) = &note.history_id
        && t.trim().parse::<u64>().is_err()
    {
        return error(
            StatusCode::BAD_REQUEST,
            "malformed Gmail notification: historyId is not a number",
        );
    }
    // Triage of the new mail may search the web: a batch tool job that
    // nobody waits for.
    let key = format!("{}#{:?}", note.email_address, note.history_id);
    if state.tool_cache.calls_tool(&key)
        && state
            .tool_queue
            .enqueue(ToolKind::Web, Qos::Batch, std::time::Instant::now())
            .is_err()
    {
        state.stats.count(("tool_jobs", "web", "queue_full"), 1);
    }
    json_bytes(StatusCode::OK, &b"{\"ok\":true}"[..])
}
