//! Request routing, the fault middleware, and response helpers shared by
//! the endpoint families (one module each).

pub(crate) mod auth;
pub(crate) mod chat;
pub(crate) mod functions;
pub(crate) mod gmail;
pub(crate) mod linking;
pub(crate) mod ops;
pub(crate) mod whatsapp;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::body::{BodyError, SimBody};
use crate::conn::ConnCtl;
use crate::faults::FaultEndpoint;
use crate::state::SimState;
use crate::stats::Route;

/// A response of the sim.
pub(crate) type Resp = Response<SimBody>;

/// Returned to hyper to abort the connection (the reset fault).
#[derive(Debug, thiserror::Error)]
#[error("connection reset by an injected fault")]
pub(crate) struct ConnAbort;

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A JSON response from bytes already serialized.
pub(crate) fn json_bytes(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(SimBody::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, JSON);
    r
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, v: &serde_json::Value) -> Resp {
    json_bytes(status, serde_json::to_vec(v).unwrap_or_default())
}

/// `{"error": msg}`.
pub(crate) fn error(status: StatusCode, msg: &str) -> Resp {
    json(status, &serde_json::json!({ "error": msg }))
}

/// `{"error": msg, "code": code, "message": msg}` (Better Auth style).
pub(crate) fn error_code(status: StatusCode, code: &str, msg: &str) -> Resp {
    json(
        status,
        &serde_json::json!({ "error": msg, "code": code, "message": msg }),
    )
}

/// A 413 or 400 for a body that could not be read.
pub(crate) fn body_error(e: BodyError) -> Resp {
    match e {
        BodyError::TooLarge => error(StatusCode::PAYLOAD_TOO_LARGE, "request body exceeds 1 MiB"),
        BodyError::Read => error(StatusCode::BAD_REQUEST, "request body could not be read"),
    }
}

/// A 400 for JSON that does not parse into what the endpoint expects.
pub(crate) fn bad_json(what: &str, e: &serde_json::Error) -> Resp {
    error(StatusCode::BAD_REQUEST, &format!("malformed {what}: {e}"))
}

/// A 429 with `Retry-After` (seconds, rounded up) and `retry-after-ms`.
pub(crate) fn too_many(wait: std::time::Duration, code: &str, msg: &str) -> Resp {
    retry_later(StatusCode::TOO_MANY_REQUESTS, wait, code, msg)
}

/// An error `status` with `Retry-After` (seconds, rounded up) and
/// `retry-after-ms`.
pub(crate) fn retry_later(
    status: StatusCode,
    wait: std::time::Duration,
    code: &str,
    msg: &str,
) -> Resp {
    let ms = wait.as_millis() as u64;
    let mut r = json(
        status,
        &serde_json::json!({ "error": msg, "code": code, "retryAfterMs": ms }),
    );
    let secs = crate::resilience::rate_limit::retry_after_secs(wait);
    r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    r.headers_mut()
        .insert("retry-after-ms", HeaderValue::from(ms));
    r
}

/// The bearer token of a request.
pub(crate) fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The rate-limit source of a request: the first `x-forwarded-for` entry,
/// else the peer address. Returns its hash and a printable form.
pub(crate) fn source<'a>(headers: &'a http::HeaderMap, peer: IpAddr) -> (u64, Source<'a>) {
    if let Some(first) = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        return (crate::rng::fnv1a(first), Source::Forwarded(first));
    }
    let h = match peer {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let b = v6.to_bits();
            (b as u64) ^ ((b >> 64) as u64)
        }
    };
    (crate::rng::splitmix64(h), Source::Peer(peer))
}

/// A request source, printed only when it is counted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    Forwarded(&'a str),
    Peer(IpAddr),
}

impl std::fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Forwarded(s) => f.write_str(s),
            Source::Peer(ip) => write!(f, "{ip}"),
        }
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex; `None` on odd length or a non-hex digit.
pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|p| Some(hex_val(p[0])? << 4 | hex_val(p[1])?))
        .collect()
}

/// Percent-decodes a query component (`+` is a space); invalid escapes are
/// kept as they are, invalid UTF-8 is replaced.
pub(crate) fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The first value of `key` in a query string.
pub(crate) fn query_get<'a>(query: Option<&'a str>, key: &str) -> Option<Cow<'a, str>> {
    query?
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k) == key).then(|| percent_decode(v))
        })
        .next()
}

/// What a path answers: its route, its fault endpoint and allowed methods.
fn route_of(path: &str) -> Option<(Route, Option<FaultEndpoint>, &'static str)> {
    Some(match path {
        "/api/query" => (Route::FunctionQuery, Some(FaultEndpoint::Functions), "POST"),
        "/api/mutation" => (
            Route::FunctionMutation,
            Some(FaultEndpoint::Functions),
            "POST",
        ),
        "/api/action" => (
            Route::FunctionAction,
            Some(FaultEndpoint::Functions),
            "POST",
        ),
        "/api/chat" => (Route::Chat, Some(FaultEndpoint::Chat), "POST"),
        "/api/chat/health" => (Route::ChatHealth, None, "GET"),
        "/api/gmail/oauth/start" => (Route::GmailOauthStart, Some(FaultEndpoint::Gmail), "GET"),
        "/api/gmail/oauth/callback" => {
            (Route::GmailOauthCallback, Some(FaultEndpoint::Gmail), "GET")
        }
        "/api/whatsapp/link-code" => (Route::WaLinkCode, Some(FaultEndpoint::Whatsapp), "POST"),
        "/api/gmail/push" => (Route::GmailPush, Some(FaultEndpoint::Gmail), "POST"),
        "/api/whatsapp/webhook" => (
            Route::WhatsappWebhook,
            Some(FaultEndpoint::Whatsapp),
            "GET, POST",
        ),
        "/api/auth/sign-up/email" => (Route::AuthSignUp, Some(FaultEndpoint::Auth), "POST"),
        "/api/auth/sign-in/email" => (Route::AuthSignIn, Some(FaultEndpoint::Auth), "POST"),
        "/api/auth/convex/token" => (Route::AuthConvexToken, Some(FaultEndpoint::Auth), "GET"),
        "/api/threads" => (Route::Threads, Some(FaultEndpoint::Auth), "POST"),
        "/healthz" => (Route::Healthz, None, "GET, HEAD"),
        "/api/ops/reliability-snapshot" => (Route::OpsSnapshot, None, "GET"),
        "/api/ops/faults" => (Route::OpsFaults, None, "GET, POST, DELETE"),
        _ => return None,
    })
}

/// Handles one request: route, faults, handler, statistics.
pub(crate) async fn handle(
    state: Arc<SimState>,
    conn: Arc<ConnCtl>,
    req: Request<Incoming>,
) -> Result<Resp, ConnAbort> {
    let start = Instant::now();
    let (route, resp) = dispatch(&state, &conn, req).await?;
    state
        .stats
        .record_request(route, resp.status().as_u16(), start.elapsed());
    Ok(resp)
}

async fn dispatch(
    state: &Arc<SimState>,
    conn: &ConnCtl,
    req: Request<Incoming>,
) -> Result<(Route, Resp), ConnAbort> {
    let rest_ops = state.cfg.rest_ops;
    let Some((mut route, fault_ep, allow)) = route_of(req.uri().path()).filter(|(route, ..)| {
        conn.surface.serves(*route)
            && (rest_ops || !matches!(route, Route::OpsSnapshot | Route::OpsFaults))
    }) else {
        return Ok((
            Route::NotFound,
            error(StatusCode::NOT_FOUND, "no such route"),
        ));
    };
    let method = req.method().clone();
    if !allow.split(", ").any(|m| m == method.as_str()) {
        let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        return Ok((route, r));
    }
    if route == Route::WhatsappWebhook && method == Method::GET {
        route = Route::WhatsappVerify;
    }
    let decision = match fault_ep {
        Some(ep) => state.faults.decide(ep),
        None => None,
    };
    if let (Some(d), Some(ep)) = (&decision, fault_ep) {
        for kind in d.fired.names() {
            state.stats.count(("fault", ep.name(), kind), 1);
        }
        if !d.delay.is_zero() {
            tokio::time::sleep(d.delay).await;
        }
        if d.reset {
            conn.reset();
            return Err(ConnAbort);
        }
        if let Some(status) = d.error_status
            && ep == FaultEndpoint::Functions
        {
            // A function that fails answers as a function does: 560.
            let data = serde_json::json!({ "code": "INJECTED_FAULT", "status": status });
            return Ok((route, functions::thrown("injected fault", data)));
        }
        if let Some(status) = d.error_status {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let r = json(
                code,
                &serde_json::json!({ "error": "injected fault", "code": "INJECTED_FAULT", "status": status }),
            );
            return Ok((route, r));
        }
    }
    let peer = conn.peer.ip();
    let resp = match route {
        Route::Chat => chat::chat(state, req, decision).await,
        Route::ChatHealth => chat::health(state).await,
        Route::GmailOauthStart => linking::oauth_start(state, req.headers()),
        Route::GmailOauthCallback => linking::oauth_callback(state, req.uri().query()).await,
        Route::WaLinkCode => linking::link_code(state, req.headers()),
        Route::GmailPush => gmail::push(state, req, peer).await,
        Route::WhatsappWebhook => whatsapp::webhook(state, req, peer).await,
        Route::WhatsappVerify => whatsapp::verify(state, &req),
        Route::AuthSignUp => auth::sign_up(state, req).await,
        Route::AuthSignIn => auth::sign_in(state, req).await,
        Route::AuthConvexToken => auth::convex_token(state, req.headers()),
        Route::Threads => auth::create_thread(state, req).await,
        Route::Healthz => json_bytes(StatusCode::OK, &b"{\"status\":\"ok\"}"[..]),
        Route::OpsSnapshot => ops::snapshot_route(state, &req),
        Route::OpsFaults => ops::faults_route(state, req).await,
        Route::FunctionQuery => functions::call(state, functions::Kind::Query, req).await,
        Route::FunctionMutation => functions::call(state, functions::Kind::Mutation, req).await,
        Route::FunctionAction => functions::call(state, functions::Kind::Action, req).await,
        Route::NotFound => error(StatusCode::NOT_FOUND, "no such route"),
    };
    Ok((route, resp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
        assert_eq!(
            query_get(Some("a=1&hub.mode=subscribe&x"), "hub.mode").as_deref(),
            Some("subscribe")
        );
        assert_eq!(query_get(Some("x"), "x").as_deref(), Some(""));
        assert_eq!(query_get(None, "x"), None);
    }

    #[test]
    fn hex_decoding() {
        assert_eq!(decode_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex("é1"), None);
    }

    #[test]
    fn bearer_parsing() {
        let mut h = http::HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert("authorization", HeaderValue::from_static("Bearer  abc "));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert("authorization", HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert("authorization", HeaderValue::from_static("Bearer"));
        assert_eq!(bearer(&h), None);
    }
}
