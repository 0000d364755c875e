//! Account linking endpoints: `GET /api/gmail/oauth/start`,
//! `GET /api/gmail/oauth/callback` and `POST /api/whatsapp/link-code`
//! (see [`crate::linking`] for the flows and their limits).

use http::header::{HeaderValue, LOCATION};
use http::{HeaderMap, StatusCode};
use serde_json::json;

use super::auth::authenticate;
use super::{Resp, error_code, json, query_get, too_many};
use crate::linking::{ExchangeError, LINK_CODE_TTL};
use crate::resilience::rate_limit::RateLimiter;
use crate::state::SimState;

/// Where a linked Gmail account lands.
const CONNECTED: &str = "/settings/integrations?gmail=connected";

/// Counts one request of `user` against `limiter`: the 429 when over.
fn limited(
    state: &SimState,
    limiter: &RateLimiter,
    bucket: &'static str,
    user: u32,
) -> Option<Resp> {
    let key = crate::rng::splitmix64(u64::from(user) ^ crate::rng::fnv1a(bucket));
    let wait = limiter.check(key).err()?;
    let id = state
        .auth
        .user(user)
        .map(|u| u.id.clone())
        .unwrap_or_default();
    state.stats.count_keyed(bucket, &id);
    Some(too_many(wait, "RATE_LIMITED", "rate limit exceeded"))
}

/// Starts the flow: a single-use `state` and Google's authorization URL.
pub(crate) fn oauth_start(state: &SimState, headers: &HeaderMap) -> Resp {
    let user = match authenticate(state, headers) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let linking = &state.linking;
    if let Some(r) = limited(state, &linking.rl_oauth, "rate_limit:gmail_oauth", user.idx) {
        return r;
    }
    let oauth_state = linking.issue_state(user.idx);
    let url = format!(
        "https://accounts.google.com/o/oauth2/v2/auth?client_id=relhost-sim&response_type=code&access_type=offline&scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fgmail.readonly&state={oauth_state}"
    );
    state.stats.count(("gmail_oauth", "started", ""), 1);
    json(StatusCode::OK, &json!({ "url": url, "state": oauth_state }))
}

/// Finishes the flow: redeems `state`, exchanges `code`, and redirects.
pub(crate) async fn oauth_callback(state: &SimState, query: Option<&str>) -> Resp {
    let (Some(code), Some(oauth_state)) = (query_get(query, "code"), query_get(query, "state"))
    else {
        return error_code(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "?code= and ?state= are required",
        );
    };
    if code.is_empty() {
        return error_code(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "empty ?code=");
    }
    let linking = &state.linking;
    let Some(user) = linking.redeem_state(&oauth_state) else {
        return error_code(
            StatusCode::BAD_REQUEST,
            "INVALID_STATE",
            "unknown, used or expired ?state=",
        );
    };
    if let Some(r) = limited(state, &linking.rl_oauth, "rate_limit:gmail_oauth", user) {
        return r;
    }
    let stats = &state.stats;
    match linking.exchange(&state.faults, &state.stats).await {
        Ok(()) => {
            stats.count(("gmail_oauth", "connected", ""), 1);
            let mut r = json(StatusCode::FOUND, &json!({ "location": CONNECTED }));
            r.headers_mut()
                .insert(LOCATION, HeaderValue::from_static(CONNECTED));
            r
        }
        Err(e) => {
            stats.count(("gmail_oauth", "exchange_failed", e.name()), 1);
            let status = match e {
                ExchangeError::CircuitOpen => StatusCode::SERVICE_UNAVAILABLE,
                ExchangeError::BulkheadFull => {
                    stats.count(("bulkhead", "gmail_oauth", "rejected"), 1);
                    state
                        .bulkhead_alerts
                        .saturated("gmail_oauth", linking.bulkhead.max_concurrent());
                    StatusCode::SERVICE_UNAVAILABLE
                }
                ExchangeError::Failed => StatusCode::BAD_GATEWAY,
                ExchangeError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            };
            error_code(
                status,
                "OAUTH_EXCHANGE_FAILED",
                &format!("Google token exchange failed: {}", e.name()),
            )
        }
    }
}

/// Issues a code that links a WhatsApp number to the bearer's user.
pub(crate) fn link_code(state: &SimState, headers: &HeaderMap) -> Resp {
    let user = match authenticate(state, headers) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let linking = &state.linking;
    if let Some(r) = limited(
        state,
        &linking.rl_link_code,
        "rate_limit:wa_link_code",
        user.idx,
    ) {
        return r;
    }
    let code = linking.issue_link_code(user.idx);
    state.stats.count(("wa_link_code", "issued", ""), 1);
    json(
        StatusCode::OK,
        &json!({ "code": code, "expiresInMs": LINK_CODE_TTL.as_millis() as u64 }),
    )
}
