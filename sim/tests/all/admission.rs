//! Admission through the Redis store, the tool-call rate, sampled events,
//! the chat gateway's shadow mode and health, end to end.

use std::time::Duration;

use http::{Method, StatusCode};
use relhost_sim::{Fault, RedisAdmissionConfig, SimConfig};
use serde_json::Value;

use crate::support::{self, Stream};

fn redis_store() -> RedisAdmissionConfig {
    RedisAdmissionConfig {
        enabled: true,
        shadow: false,
        url: Some("rediss://default:hunter2@cache.internal:6380/0".into()),
        token: Some("rest-token".into()),
        key_prefix: "drill".into(),
    }
}

fn outage() -> Vec<Fault> {
    vec!["redis:provider_outage=both".parse().expect("fault")]
}

fn first_event(stream: &Stream) -> String {
    stream
        .events
        .first()
        .map(|e| e.data.to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_failing_store_admits_when_open_and_refuses_when_closed() {
    for fail_closed in [false, true] {
        let mut cfg = SimConfig {
            admission_redis: redis_store(),
            faults: outage(),
            ..Default::default()
        };
        cfg.flags.fail_closed_on_redis_error = fail_closed;
        let sim = support::start(cfg).await;
        let a = sim.handle.provision_user("a@example.com", "password1");
        let stream = sim.chat(&a.token, &a.thread_id).await;
        let snap = sim.snapshot("").await;
        let health = &snap["admission"]["store_health"];
        assert_eq!(health["errors"], 1, "{health}");
        if fail_closed {
            assert_eq!(
                stream.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{}",
                first_event(&stream)
            );
            assert!(stream.headers.get("retry-after-ms").is_some());
            assert_eq!(health["failed_closed"], 1, "{health}");
            assert_eq!(snap["admission"]["events"]["rejected"], 1);
        } else {
            assert_eq!(stream.status, StatusCode::OK);
            assert_eq!(health["failed_open"], 1, "{health}");
            // Admitted without a ticket: the store never saw the message.
            assert_eq!(snap["admission"]["redis"]["tickets"], 0);
        }
        assert_eq!(snap["admission"]["store"], "redis");
        // The URL is reported without its password, the token not at all.
        let text = snap.to_string();
        assert!(!text.contains("hunter2") && !text.contains("rest-token"));
        assert_eq!(
            snap["knobs"]["ADMISSION_REDIS_URL"],
            "rediss://cache.internal:6380"
        );
        assert_eq!(snap["knobs"]["ADMISSION_REDIS_TOKEN"], "<set>");
        sim.handle.shutdown().await;
    }
}

#[tokio::test]
async fn a_slow_store_delays_admission() {
    let cfg = SimConfig {
        admission_redis: redis_store(),
        faults: vec!["redis:latency=300ms".parse().expect("fault")],
        ..Default::default()
    };
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    let stream = sim.chat(&a.token, &a.thread_id).await;
    assert_eq!(stream.status, StatusCode::OK);
    let first = stream.first_event_after.expect("an event");
    assert!(first >= Duration::from_millis(300), "{first:?}");
    let snap = sim.snapshot("").await;
    assert_eq!(snap["admission"]["redis"]["tickets"], 0, "released");
    assert_eq!(
        snap["admission"]["redis"]["keys"][0],
        "drill:inflight:global"
    );
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn store_tickets_expire_so_a_long_stream_stops_counting() {
    let mut cfg = SimConfig {
        admission_redis: redis_store(),
        chat_sim: support::long_chat(),
        ..Default::default()
    };
    cfg.admission.user_max_inflight = 1;
    cfg.admission.ticket_ttl = Duration::from_millis(50);
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    let first = sim.open_chat(&a.token, &a.thread_id).await;
    assert_eq!(first.status, StatusCode::OK);
    // The first stream runs on while its ticket outlives the TTL.
    sim.snapshot_when("the first stream's store ticket to expire", |snap| {
        snap["admission"]["redis"]["expired_tickets"]
            .as_u64()
            .is_some_and(|n| n >= 1)
    })
    .await;
    let second = sim.open_chat(&a.token, &a.thread_id).await;
    // In memory the second would be refused (user_inflight); the store let
    // the first ticket expire.
    assert_eq!(second.status, StatusCode::OK);
    let snap = sim.snapshot("").await;
    assert_eq!(
        snap["admission"]["global_inflight"], 2,
        "both streams in flight: {}",
        snap["admission"]
    );
    drop((first, second));
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn the_tool_rate_refuses_messages_past_the_estimate() {
    let mut cfg = SimConfig::default();
    cfg.admission.global_max_tool_per_sec = 3;
    cfg.admission.est_tool_calls_per_msg = 2.0;
    cfg.admission.allowed_event_sample_pct = 100.0;
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    let (x, y, z) = tokio::join!(
        sim.chat(&a.token, &a.thread_id),
        sim.chat(&a.token, &a.thread_id),
        sim.chat(&a.token, &a.thread_id)
    );
    let refused = [&x, &y, &z]
        .iter()
        .filter(|s| s.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    // Three messages charge 6 calls against 3 per second: at most one per
    // second gets in, and the three span at most two seconds.
    assert!(refused >= 1, "{:?}", [x.status, y.status, z.status]);
    let snap = sim.snapshot("").await;
    let rows = snap["admission"]["decisions"].as_array().expect("rows");
    assert!(
        rows.iter()
            .any(|r| r["decision"] == "rejected" && r["reason"] == "global_tool_rate"),
        "{rows:?}"
    );
    // Every admission is a sampled event at 100%.
    assert_eq!(
        snap["admission"]["events"]["allowed_sampled"].as_u64(),
        Some(3 - refused as u64)
    );
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn a_gateway_in_shadow_serves_what_it_would_refuse() {
    let mut cfg = SimConfig::default();
    cfg.flags.chat_gateway_enabled = false;
    cfg.flags.chat_gateway_shadow = true;
    cfg.admission.user_max_inflight = 0;
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    let stream = sim.chat(&a.token, &a.thread_id).await;
    assert_eq!(stream.status, StatusCode::OK);
    assert_eq!(
        stream
            .headers
            .get("x-chat-gateway")
            .and_then(|v| v.to_str().ok()),
        Some("shadow")
    );
    let snap = sim.snapshot("").await;
    assert_eq!(snap["gateway"]["mode"], "shadow");
    assert_eq!(snap["gateway"]["shadow_would_reject"], 1);
    let health: Value = sim.get("/api/chat/health").await.json();
    assert_eq!(health["status"], "ok", "{health}");
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn chat_health_follows_the_gateway_the_store_and_its_flag() {
    let sim = support::start_default().await;
    let ok = sim.get("/api/chat/health").await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["status"], "ok");
    sim.handle.shutdown().await;

    let mut off = SimConfig::default();
    off.flags.chat_gateway_enabled = false;
    let sim = support::start(off).await;
    let down = sim.get("/api/chat/health").await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.json()["gateway"], "disabled");
    sim.handle.shutdown().await;

    let mut closed = SimConfig {
        admission_redis: redis_store(),
        faults: outage(),
        ..Default::default()
    };
    closed.flags.fail_closed_on_redis_error = true;
    let sim = support::start(closed).await;
    let r = sim.get("/api/chat/health").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json()["admission"]["reachable"], false);
    sim.handle.shutdown().await;

    let mut hidden = SimConfig::default();
    hidden.flags.chat_gateway_health_enabled = false;
    let sim = support::start(hidden).await;
    let r = sim.send(Method::GET, "/api/chat/health", &[], "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    sim.handle.shutdown().await;
}
