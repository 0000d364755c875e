//! Gmail push and WhatsApp webhooks.

use http::{Method, StatusCode};
use relhost_sim::SimConfig;
use serde_json::json;

use crate::support::{self, WA_BODY, gmail_envelope, sign, start_default};

#[tokio::test]
async fn gmail_push_paths() {
    let cfg = SimConfig {
        gmail_verify_token: Some("pubsub-tok".into()),
        ..Default::default()
    };
    let sim = support::start(cfg).await;
    let env = gmail_envelope("u@example.com", 12345);
    let r = sim
        .post_json("/api/gmail/push?token=pubsub-tok", &[], &env)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Missing token 401, wrong token 403.
    let r = sim.post_json("/api/gmail/push", &[], &env).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = sim.post_json("/api/gmail/push?token=nope", &[], &env).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Malformed envelopes: 400.
    for bad in [
        json!({}),
        json!({"message": {}}),
        json!({"message": {"data": "!!!not base64!!!"}}),
        json!({"message": {"data": "aGVsbG8="}}), // "hello": not JSON
        json!({"message": {"data": "e30="}}),     // {}: no emailAddress
        json!([1, 2]),
    ] {
        let r = sim
            .post_json("/api/gmail/push?token=pubsub-tok", &[], &bad)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.json()["error"].is_string());
    }
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn gmail_push_without_token_configured() {
    let sim = start_default().await;
    let r = sim
        .post_json("/api/gmail/push", &[], &gmail_envelope("u@example.com", 1))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn whatsapp_signature_paths() {
    let cfg = SimConfig {
        whatsapp_app_secret: Some("app-secret".into()),
        whatsapp_verify_token: Some("verify-me".into()),
        ..Default::default()
    };
    let sim = support::start(cfg).await;
    let good = sign("app-secret", WA_BODY.as_bytes());
    let r = sim
        .send(
            Method::POST,
            "/api/whatsapp/webhook",
            &[
                ("x-hub-signature-256", &good),
                ("content-type", "application/json"),
            ],
            WA_BODY,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Signature mismatch: wrong secret, or a tampered body.
    let wrong = sign("other-secret", WA_BODY.as_bytes());
    let r = sim
        .send(
            Method::POST,
            "/api/whatsapp/webhook",
            &[("x-hub-signature-256", &wrong)],
            WA_BODY,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("mismatch"))
    );
    let r = sim
        .send(
            Method::POST,
            "/api/whatsapp/webhook",
            &[("x-hub-signature-256", &good)],
            WA_BODY.replace("1", "2"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Missing or malformed: 401.
    let r = sim
        .send(Method::POST, "/api/whatsapp/webhook", &[], WA_BODY)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = sim
        .send(
            Method::POST,
            "/api/whatsapp/webhook",
            &[("x-hub-signature-256", "sha256=xyz")],
            WA_BODY,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Signed but not JSON: 400.
    let junk = "not json";
    let sig = sign("app-secret", junk.as_bytes());
    let r = sim
        .send(
            Method::POST,
            "/api/whatsapp/webhook",
            &[("x-hub-signature-256", &sig)],
            junk,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // GET verification.
    let r = sim
        .get("/api/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=12%2034")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"12 34");
    let r = sim
        .get("/api/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = sim
        .get(
            "/api/whatsapp/webhook?hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = sim.get("/api/whatsapp/webhook").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn whatsapp_unsigned_when_no_secret() {
    let sim = start_default().await;
    let r = sim
        .send(Method::POST, "/api/whatsapp/webhook", &[], WA_BODY)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = sim
        .get("/api/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=any&hub.challenge=abc")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"abc");
    sim.handle.shutdown().await;
}
