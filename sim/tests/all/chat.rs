//! /api/chat: the stream and its failure paths.

use std::time::Duration;

use http::{Method, StatusCode};
use relhost_sim::{ChatSimConfig, FeatureFlags, SimConfig};
use serde_json::json;

use crate::support::{self, start_default};

#[tokio::test]
async fn streams_tokens_then_done() {
    let cfg = SimConfig {
        chat_sim: ChatSimConfig {
            ttft: Duration::from_millis(60),
            tokens: 5,
            token_gap: Duration::from_millis(10),
        },
        ..Default::default()
    };
    let sim = support::start(cfg).await;
    let c = sim.handle.provision_user("a@example.com", "password1");
    let s = sim.chat(&c.token, &c.thread_id).await;
    assert_eq!(s.status, StatusCode::OK);
    assert_eq!(
        s.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    assert_eq!(
        s.names(),
        vec!["token", "token", "token", "token", "token", "done"]
    );
    assert_eq!(s.events[0].data["provider"], "primary");
    assert_eq!(s.events[4].data["index"], 4);
    assert!(!s.body_error);
    let first = s.first_event_after.expect("an event");
    assert!(first >= Duration::from_millis(60), "ttft {first:?}");
    assert!(s.elapsed >= Duration::from_millis(100), "{:?}", s.elapsed);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn auth_thread_and_body_failures() {
    let sim = start_default().await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    let b = sim.handle.provision_user("b@example.com", "password1");
    // Bad token: 401.
    let s = sim.chat("not-a-token", &a.thread_id).await;
    assert_eq!(s.status, StatusCode::UNAUTHORIZED);
    // No token: 401.
    let r = sim
        .post_json(
            "/api/chat",
            &[],
            &json!({"threadId": a.thread_id, "message": "hi"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Someone else's thread: 403.
    let s = sim.chat(&b.token, &a.thread_id).await;
    assert_eq!(s.status, StatusCode::FORBIDDEN);
    // Unknown thread: 404.
    let s = sim.chat(&a.token, "thr_unknown").await;
    assert_eq!(s.status, StatusCode::NOT_FOUND);
    // Malformed bodies: 400 with a JSON error.
    let auth = format!("Bearer {}", a.token);
    for body in [
        "{",
        "[]",
        "{\"message\":\"no thread\"}",
        "{\"threadId\": 5}",
    ] {
        let r = sim
            .send(Method::POST, "/api/chat", &[("authorization", &auth)], body)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(r.json()["error"].is_string(), "{body}");
    }
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn gateway_flag_off_is_503() {
    let mut cfg = SimConfig::default();
    cfg.flags = FeatureFlags {
        chat_gateway_enabled: false,
        ..cfg.flags
    };
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    let s = sim.chat(&a.token, &a.thread_id).await;
    assert_eq!(s.status, StatusCode::SERVICE_UNAVAILABLE);
    sim.handle.shutdown().await;
}
