//! Better Auth-style sign-up, sign-in and threads.

use http::{Method, StatusCode};
use serde_json::json;

use crate::support::start_default;

#[tokio::test]
async fn sign_up_sign_in_and_threads() {
    let sim = start_default().await;
    let body = json!({"email": "Ada@Example.com", "password": "correct horse", "name": "Ada"});
    let r = sim.post_json("/api/auth/sign-up/email", &[], &body).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let j = r.json();
    let token = j["token"].as_str().expect("token").to_owned();
    assert_eq!(r.header("set-auth-token"), Some(token.as_str()));
    assert_eq!(j["user"]["email"], "ada@example.com");
    assert_eq!(j["user"]["name"], "Ada");
    let user_id = j["user"]["id"].as_str().expect("id").to_owned();

    // Existing email: 422 USER_ALREADY_EXISTS.
    let r = sim.post_json("/api/auth/sign-up/email", &[], &body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["code"], "USER_ALREADY_EXISTS");

    // Wrong password and unknown user: 401.
    let r = sim
        .post_json(
            "/api/auth/sign-in/email",
            &[],
            &json!({"email": "ada@example.com", "password": "wrong password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["code"], "INVALID_EMAIL_OR_PASSWORD");
    let r = sim
        .post_json(
            "/api/auth/sign-in/email",
            &[],
            &json!({"email": "bob@example.com", "password": "correct horse"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Right password: a new token.
    let r = sim
        .post_json(
            "/api/auth/sign-in/email",
            &[],
            &json!({"email": "ada@example.com", "password": "correct horse"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let token2 = r.json()["token"].as_str().expect("token").to_owned();
    assert_ne!(token, token2);
    assert_eq!(r.json()["user"]["id"], user_id.as_str());

    // Threads need a bearer token.
    let r = sim.send(Method::POST, "/api/threads", &[], "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = sim
        .send(
            Method::POST,
            "/api/threads",
            &[("authorization", "Bearer nope")],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let auth = format!("Bearer {token2}");
    let r = sim
        .send(
            Method::POST,
            "/api/threads",
            &[("authorization", &auth)],
            "{}",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let thread = r.json()["threadId"].as_str().expect("thread").to_owned();
    assert!(thread.starts_with("thr_"));

    // The thread works for chat with either token of the user.
    let s = sim.chat(&token, &thread).await;
    assert_eq!(s.status, StatusCode::OK);
    assert_eq!(s.count("done"), 1);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn sign_up_validation() {
    let sim = start_default().await;
    let r = sim
        .post_json(
            "/api/auth/sign-up/email",
            &[],
            &json!({"email": "x@y.z", "password": "short"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["code"], "PASSWORD_TOO_SHORT");
    let r = sim
        .post_json(
            "/api/auth/sign-up/email",
            &[],
            &json!({"email": "nope", "password": "long enough"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["code"], "INVALID_EMAIL");
    let r = sim
        .post_json("/api/auth/sign-up/email", &[], &json!({"email": "x@y.z"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("password"))
    );
    sim.handle.shutdown().await;
}
