//! Better Auth-style email sign-up and sign-in, and thread creation.
//!
//! Sign-up and sign-in answer `{"token": ..., "user": {...}}` and the
//! bearer plugin's `set-auth-token` header; the token is then a bearer
//! token for `/api/threads` and `/api/chat`.

use std::sync::Arc;

use http::header::HeaderValue;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;

use super::{Resp, bad_json, bearer, body_error, error_code, json};
use crate::auth_store::{AuthError, User};
use crate::body::read_body;
use crate::state::SimState;

#[derive(Debug, Deserialize)]
struct EmailBody {
    email: String,
    password: String,
    #[serde(default)]
    name: Option<String>,
}

fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn user_json(u: &User) -> serde_json::Value {
    let created = rfc3339(u.created_at);
    json!({
        "id": u.id,
        "email": u.email,
        "name": u.name,
        "emailVerified": false,
        "image": null,
        "createdAt": created,
        "updatedAt": created,
    })
}

fn with_token(mut r: Resp, token: &str) -> Resp {
    if let Ok(v) = HeaderValue::from_str(token) {
        r.headers_mut().insert("set-auth-token", v);
        r.headers_mut().insert(
            "access-control-expose-headers",
            HeaderValue::from_static("set-auth-token"),
        );
    }
    r
}

async fn parse_email_body(req: Request<Incoming>) -> Result<EmailBody, Resp> {
    let (parts, body) = req.into_parts();
    let bytes = read_body(&parts.headers, body).await.map_err(body_error)?;
    serde_json::from_slice::<EmailBody>(&bytes).map_err(|e| bad_json("JSON body", &e))
}

/// `POST /api/auth/sign-up/email`.
pub(crate) async fn sign_up(state: &Arc<SimState>, req: Request<Incoming>) -> Resp {
    let b = match parse_email_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let email = b.email.trim();
    if email.len() > 254 || !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
        return error_code(StatusCode::BAD_REQUEST, "INVALID_EMAIL", "Invalid email");
    }
    if b.password.chars().count() < 8 {
        return error_code(
            StatusCode::BAD_REQUEST,
            "PASSWORD_TOO_SHORT",
            "Password too short",
        );
    }
    if b.password.chars().count() > 128 {
        return error_code(
            StatusCode::BAD_REQUEST,
            "PASSWORD_TOO_LONG",
            "Password too long",
        );
    }
    let name = b.name.unwrap_or_default();
    match state.auth.sign_up(email, &b.password, &name) {
        Ok((user, token)) => with_token(
            json(
                StatusCode::OK,
                &json!({ "token": token, "user": user_json(&user) }),
            ),
            &token,
        ),
        Err(AuthError::UserExists) => error_code(
            StatusCode::UNPROCESSABLE_ENTITY,
            "USER_ALREADY_EXISTS",
            "User already exists",
        ),
        Err(AuthError::InvalidCredentials) => error_code(
            StatusCode::UNAUTHORIZED,
            "INVALID_EMAIL_OR_PASSWORD",
            "Invalid email or password",
        ),
    }
}

/// `POST /api/auth/sign-in/email`.
pub(crate) async fn sign_in(state: &Arc<SimState>, req: Request<Incoming>) -> Resp {
    let b = match parse_email_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match state.auth.sign_in(&b.email, &b.password) {
        Ok((user, token)) => with_token(
            json(
                StatusCode::OK,
                &json!({ "redirect": false, "token": token, "url": null, "user": user_json(&user) }),
            ),
            &token,
        ),
        Err(_) => error_code(
            StatusCode::UNAUTHORIZED,
            "INVALID_EMAIL_OR_PASSWORD",
            "Invalid email or password",
        ),
    }
}

/// The user of a request's bearer token, or the 401 to answer.
pub(crate) fn authenticate(
    state: &SimState,
    headers: &http::HeaderMap,
) -> Result<Arc<User>, Box<Resp>> {
    let Some(token) = bearer(headers) else {
        return Err(Box::new(error_code(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "missing bearer token",
        )));
    };
    state.auth.user_by_token(token).ok_or_else(|| {
        Box::new(error_code(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "invalid bearer token",
        ))
    })
}

/// `GET /api/auth/convex/token`: exchanges a session token for a token of
/// the Convex function API (`{"token"}`), as Better Auth's Convex plugin
/// does; here both are session tokens of the same user.
pub(crate) fn convex_token(state: &SimState, headers: &http::HeaderMap) -> Resp {
    match authenticate(state, headers) {
        Ok(user) => json(
            StatusCode::OK,
            &json!({ "token": state.auth.issue_token(&user) }),
        ),
        Err(r) => *r,
    }
}

/// `POST /api/threads`: creates a thread of the bearer's user. The body, if
/// any, is read (and size-checked) but not needed.
pub(crate) async fn create_thread(state: &Arc<SimState>, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let user = match authenticate(state, &parts.headers) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let bytes = match read_body(&parts.headers, body).await {
        Ok(b) => b,
        Err(e) => return body_error(e),
    };
    if !bytes.iter().all(u8::is_ascii_whitespace)
        && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
    {
        return bad_json("JSON body", &e);
    }
    let id = state.auth.create_thread(&user);
    json(
        StatusCode::OK,
        &json!({ "threadId": id, "id": id, "userId": user.id }),
    )
}
