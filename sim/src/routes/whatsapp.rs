//! `/api/whatsapp/webhook`: POST deliveries signed with
//! `X-Hub-Signature-256: sha256=<hex>` (HMAC-SHA256 of the raw body with
//! `WHATSAPP_APP_SECRET`, checked in constant time when the secret is set),
//! and the GET `hub.challenge` verification.

use std::net::IpAddr;
use std::sync::Arc;

use hmac::Mac;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{
    Resp, bad_json, body_error, decode_hex, error, json_bytes, query_get, source, too_many,
};
use crate::auth_store::ct_eq;
use crate::body::{SimBody, read_body};
use crate::state::SimState;

/// The parts of a delivery the sim checks: a JSON object whose `object` is
/// a string and `entry` an array, when present.
#[derive(Debug, Deserialize)]
struct Delivery {
    #[serde(default)]
    #[allow(dead_code)]
    object: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    entry: Option<Vec<IgnoredAny>>,
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigError {
    Missing,
    Malformed,
    Mismatch,
}

/// Checks `X-Hub-Signature-256` against the body.
pub(crate) fn check_signature(
    mac: &hmac::Hmac<sha2::Sha256>,
    header: Option<&HeaderValue>,
    body: &[u8],
) -> Result<(), SigError> {
    let v = header
        .ok_or(SigError::Missing)?
        .to_str()
        .map_err(|_| SigError::Malformed)?;
    let v = v.trim();
    let hex = v
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("sha256="))
        .map(|_| &v[7..])
        .ok_or(SigError::Malformed)?;
    let sig = decode_hex(hex)
        .filter(|s| s.len() == 32)
        .ok_or(SigError::Malformed)?;
    let mut m = mac.clone();
    m.update(body);
    // verify_slice compares in constant time.
    m.verify_slice(&sig).map_err(|_| SigError::Mismatch)
}

/// POST: one delivery.
pub(crate) async fn webhook(state: &Arc<SimState>, req: Request<Incoming>, peer: IpAddr) -> Resp {
    let (parts, body) = req.into_parts();
    let (key, src) = source(&parts.headers, peer);
    if let Err(wait) = state.rl_whatsapp.check(key) {
        state
            .stats
            .count_keyed("rate_limit:whatsapp", &src.to_string());
        return too_many(wait, "RATE_LIMITED", "whatsapp webhook rate limit exceeded");
    }
    let bytes = match read_body(&parts.headers, body).await {
        Ok(b) => b,
        Err(e) => return body_error(e),
    };
    if let Some(mac) = &state.whatsapp_mac {
        match check_signature(mac, parts.headers.get("x-hub-signature-256"), &bytes) {
            Ok(()) => {}
            Err(SigError::Missing) => {
                return error(StatusCode::UNAUTHORIZED, "missing X-Hub-Signature-256");
            }
            Err(SigError::Malformed) => {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "malformed X-Hub-Signature-256 (expected sha256=<64 hex>)",
                );
            }
            Err(SigError::Mismatch) => {
                return error(StatusCode::UNAUTHORIZED, "X-Hub-Signature-256 mismatch");
            }
        }
    }
    if let Err(e) = serde_json::from_slice::<Delivery>(&bytes) {
        return bad_json("WhatsApp delivery", &e);
    }
    json_bytes(StatusCode::OK, &b"{\"ok\":true}"[..])
}

/// GET: `hub.mode=subscribe&hub.verify_token=...&hub.challenge=...` echoes
/// the challenge; anything else is 403.
pub(crate) fn verify(state: &SimState, req: &Request<Incoming>) -> Resp {
    let q = req.uri().query();
    let mode = query_get(q, "hub.mode");
    let token = query_get(q, "hub.verify_token");
    let challenge = query_get(q, "hub.challenge");
    let token_ok = match &state.cfg.whatsapp_verify_token {
        None => true,
        Some(expected) => token.is_some_and(|t| ct_eq(t.as_bytes(), expected.as_bytes())),
    };
    match (mode.as_deref(), challenge) {
        (Some("subscribe"), Some(ch)) if token_ok => {
            let mut r = Response::new(SimBody::full(ch.into_owned()));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
        _ => error(StatusCode::FORBIDDEN, "verification failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::Hmac;
    use sha2::Sha256;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("any key");
        m.update(body);
        let out = m.finalize().into_bytes();
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    }

    #[test]
    fn hmac_check() {
        let mac = Hmac::<Sha256>::new_from_slice(b"s3cret").expect("key");
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let good = HeaderValue::from_str(&sign(b"s3cret", body)).expect("header");
        assert_eq!(check_signature(&mac, Some(&good), body), Ok(()));
        let upper = HeaderValue::from_str(
            &sign(b"s3cret", body)
                .replace("sha256=", "SHA256=")
                .to_uppercase(),
        )
        .expect("header");
        assert_eq!(check_signature(&mac, Some(&upper), body), Ok(()));
        let bad = HeaderValue::from_str(&sign(b"other", body)).expect("header");
        assert_eq!(
            check_signature(&mac, Some(&bad), body),
            Err(SigError::Mismatch)
        );
        assert_eq!(
            check_signature(&mac, Some(&good), b"tampered"),
            Err(SigError::Mismatch)
        );
        assert_eq!(check_signature(&mac, None, body), Err(SigError::Missing));
        for v in ["sha1=abcd", "sha256=zz", "sha256=", "sha256", "é"] {
            let h = HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("x"));
            assert_eq!(
                check_signature(&mac, Some(&h), body),
                Err(SigError::Malformed),
                "{v}"
            );
        }
    }
}
