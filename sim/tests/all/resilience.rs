//! Rate limits, admission, circuits, failover and bulkheads, end to end.

use std::time::Duration;

use http::{Method, StatusCode};
use relhost_sim::{
    AdmissionConfig, BulkheadConfig, ChatSimConfig, CircuitConfig, Fault, RateLimitRule, SimConfig,
};

use crate::support::{self, WA_BODY, row};

fn fault(spec: &str) -> Fault {
    spec.parse().expect("valid fault")
}

#[tokio::test]
async fn webhook_rate_limit_per_source_turns_into_429() {
    let mut cfg = SimConfig::default();
    cfg.rate_limits.whatsapp = RateLimitRule {
        max: 3,
        window: Duration::from_secs(30),
    };
    let sim = support::start(cfg).await;
    for _ in 0..3 {
        let r = sim
            .send(Method::POST, "/api/whatsapp/webhook", &[], WA_BODY)
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = sim
        .send(Method::POST, "/api/whatsapp/webhook", &[], WA_BODY)
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=30).contains(&retry), "{retry}");
    // Another source (x-forwarded-for) has its own window.
    let r = sim
        .send(
            Method::POST,
            "/api/whatsapp/webhook",
            &[("x-forwarded-for", "10.1.2.3, 127.0.0.1")],
            WA_BODY,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let snap = sim.snapshot("").await;
    assert_eq!(snap["rate_limit"]["by_bucket"]["whatsapp"], 1);
    let rejected = row(&snap["rate_limit"]["rejections"], "bucket", "whatsapp").expect("row");
    assert_eq!(rejected["key"], "127.0.0.1");
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn chat_rate_limit_per_user() {
    let mut cfg = SimConfig::default();
    cfg.rate_limits.chat_stream = RateLimitRule {
        max: 2,
        window: Duration::from_secs(60),
    };
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    let b = sim.handle.provision_user("b@example.com", "password1");
    assert_eq!(
        sim.chat(&a.token, &a.thread_id).await.status,
        StatusCode::OK
    );
    assert_eq!(
        sim.chat(&a.token, &a.thread_id).await.status,
        StatusCode::OK
    );
    let s = sim.chat(&a.token, &a.thread_id).await;
    assert_eq!(s.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(s.headers.get("retry-after").is_some());
    // Per user: b is not limited.
    assert_eq!(
        sim.chat(&b.token, &b.thread_id).await.status,
        StatusCode::OK
    );
    let snap = sim.snapshot("").await;
    assert_eq!(snap["rate_limit"]["by_bucket"]["chat_stream"], 1);
    assert_eq!(snap["unique_users"], 2);
    let users = &snap["chat_users"];
    assert_eq!(
        row(users, "email", "a@example.com").expect("a")["requests"],
        3
    );
    assert_eq!(
        row(users, "email", "b@example.com").expect("b")["requests"],
        1
    );
    assert_eq!(
        row(users, "email", "b@example.com").expect("b")["user_id"],
        b.user_id.as_str()
    );
    sim.handle.shutdown().await;
}

fn slow_chat() -> ChatSimConfig {
    ChatSimConfig {
        ttft: Duration::from_millis(1),
        tokens: 20,
        token_gap: Duration::from_millis(20),
    }
}

#[tokio::test]
async fn admission_user_inflight_rejects_with_jittered_retry_after() {
    let cfg = SimConfig {
        chat_sim: support::long_chat(),
        admission: AdmissionConfig {
            user_max_inflight: 1,
            retry_after: Duration::from_millis(2_000),
            retry_after_jitter_pct: 50.0,
            ..SimConfig::default().admission
        },
        ..Default::default()
    };
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    // The first stream holds the user's only in-flight slot while the
    // second message comes in.
    let first = sim.open_chat(&a.token, &a.thread_id).await;
    assert_eq!(first.status, StatusCode::OK);
    let second = sim.open_chat(&a.token, &a.thread_id).await;
    assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
    let ms: u64 = second
        .headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .expect("retry-after-ms");
    assert!((1_000..=3_000).contains(&ms), "{ms}");
    assert!(second.headers.get("retry-after").is_some());
    // The in-flight slot is free again after the stream (here ended by its
    // client hanging up).
    drop(first);
    sim.snapshot_when("the first stream to give its slot back", |snap| {
        snap["admission"]["global_inflight"] == 0
    })
    .await;
    let third = sim.open_chat(&a.token, &a.thread_id).await;
    assert_eq!(third.status, StatusCode::OK);
    drop(third);
    let snap = sim.snapshot("").await;
    let d = &snap["admission"]["decisions"];
    let rejected = d
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["decision"] == "rejected"))
        .expect("rejected row");
    assert_eq!(rejected["reason"], "user_inflight");
    assert_eq!(
        row(d, "decision", "admitted").expect("admitted")["count"],
        2
    );
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn admission_shadow_mode_admits() {
    let mut cfg = SimConfig {
        chat_sim: slow_chat(),
        ..Default::default()
    };
    cfg.admission.user_max_inflight = 0;
    cfg.flags.admission_enforce = false;
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    assert_eq!(
        sim.chat(&a.token, &a.thread_id).await.status,
        StatusCode::OK
    );
    let snap = sim.snapshot("").await;
    let shadow = row(
        &snap["admission"]["decisions"],
        "decision",
        "shadow_rejected",
    )
    .expect("shadow");
    assert_eq!(shadow["reason"], "user_inflight");
    sim.handle.shutdown().await;
}

fn circuit_cfg() -> SimConfig {
    SimConfig {
        circuit_primary: CircuitConfig {
            threshold: 2,
            // Long enough that the calls right after it opens find it open
            // however slow the machine.
            cooldown: Duration::from_secs(1),
        },
        chat_sim: ChatSimConfig {
            ttft: Duration::from_millis(2),
            tokens: 3,
            token_gap: Duration::from_millis(1),
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn circuit_opens_on_outage_fails_over_and_recovers_after_cooldown() {
    let sim = support::start(circuit_cfg()).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    sim.handle
        .set_faults(vec![fault("chat:provider_outage=primary")]);
    // Two primary failures: each fails over to the secondary in-stream.
    for _ in 0..2 {
        let s = sim.chat(&a.token, &a.thread_id).await;
        assert_eq!(s.status, StatusCode::OK);
        assert_eq!(
            s.names(),
            vec!["failover", "token", "token", "token", "done"]
        );
        assert_eq!(s.events[0].data["reason"], "error");
        assert_eq!(s.events[1].data["provider"], "secondary");
    }
    // Circuit open: the call goes straight to the secondary.
    let s = sim.chat(&a.token, &a.thread_id).await;
    assert_eq!(
        s.headers
            .get("x-sim-provider")
            .and_then(|v| v.to_str().ok()),
        Some("secondary")
    );
    assert_eq!(s.events[0].data["reason"], "circuit_open");
    let snap = sim.snapshot("").await;
    assert_eq!(
        row(&snap["circuits"], "provider", "primary").expect("c")["state"],
        "open"
    );
    assert_eq!(snap["provider_failovers"]["total"], 3);

    // Outage over; after the cooldown a probe closes the circuit.
    sim.handle.set_faults(Vec::new());
    // Time passing, not synchronisation: the cooldown (1 s) runs from the
    // opening, which is already behind us, so this outlasts it.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let s = sim.chat(&a.token, &a.thread_id).await;
    assert_eq!(s.events[0].data["provider"], "primary");
    assert_eq!(s.count("failover"), 0);
    let snap = sim.snapshot("").await;
    assert_eq!(
        row(&snap["circuits"], "provider", "primary").expect("c")["state"],
        "closed"
    );
    let t: Vec<(String, String)> = snap["circuit_transitions"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .rev()
        .map(|r| {
            (
                r["from"].as_str().unwrap_or("").to_owned(),
                r["to"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let t: Vec<(&str, &str)> = t.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        t,
        vec![
            ("closed", "open"),
            ("open", "half_open"),
            ("half_open", "closed")
        ]
    );
    assert!(
        snap["circuit_transitions"]["rows"][0]["at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn failover_on_timeout() {
    let mut cfg = circuit_cfg();
    cfg.provider_primary.timeout = Duration::from_millis(100);
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    sim.handle
        .set_faults(vec![fault("chat:provider_outage=primary,mode=hang")]);
    let s = sim.chat(&a.token, &a.thread_id).await;
    assert_eq!(
        s.names(),
        vec!["failover", "token", "token", "token", "done"]
    );
    assert_eq!(s.events[0].data["reason"], "timeout");
    assert!(s.elapsed >= Duration::from_millis(100));
    let snap = sim.snapshot("").await;
    let f = row(&snap["provider_failovers"]["rows"], "reason", "timeout").expect("failover row");
    assert_eq!(f["from"], "primary");
    assert_eq!(f["to"], "secondary");
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn failover_disabled_gives_error_event_then_503() {
    let mut cfg = circuit_cfg();
    cfg.flags.provider_failover_enabled = false;
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    sim.handle
        .set_faults(vec![fault("chat:provider_outage=primary")]);
    for _ in 0..2 {
        let s = sim.chat(&a.token, &a.thread_id).await;
        assert_eq!(s.status, StatusCode::OK);
        assert_eq!(s.names(), vec!["error"]);
        assert_eq!(s.events[0].data["status"], 502);
    }
    // Circuit open and no failover: 503 before streaming.
    let s = sim.chat(&a.token, &a.thread_id).await;
    assert_eq!(s.status, StatusCode::SERVICE_UNAVAILABLE);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn both_providers_down_is_an_error_event() {
    let sim = support::start(circuit_cfg()).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    sim.handle
        .set_faults(vec![fault("chat:provider_outage=both")]);
    let s = sim.chat(&a.token, &a.thread_id).await;
    assert_eq!(s.names(), vec!["failover", "error"]);
    assert_eq!(s.events[1].data["provider"], "secondary");
    assert_eq!(s.events[1].data["status"], 502);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn bulkhead_full_rejects_or_fails_over() {
    let mut cfg = SimConfig {
        chat_sim: support::long_chat(),
        bulkhead_primary: BulkheadConfig {
            max_concurrent: 1,
            lease_ttl: Duration::from_secs(60),
        },
        bulkhead_secondary: BulkheadConfig {
            max_concurrent: 1,
            lease_ttl: Duration::from_secs(60),
        },
        ..Default::default()
    };
    cfg.flags.provider_failover_enabled = true;
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    // Each stream holds its lease while open.
    let mut s1 = sim.open_chat(&a.token, &a.thread_id).await;
    assert_eq!(s1.status, StatusCode::OK);
    let first = s1.next_event().await.expect("s1's first event");
    assert_eq!(first.data["provider"], "primary");
    let mut s2 = sim.open_chat(&a.token, &a.thread_id).await;
    assert_eq!(s2.status, StatusCode::OK);
    let first = s2.next_event().await.expect("s2's first event");
    assert_eq!(first.data["reason"], "bulkhead_full");
    let s3 = sim.open_chat(&a.token, &a.thread_id).await;
    assert_eq!(s3.status, StatusCode::SERVICE_UNAVAILABLE);
    let snap = sim.snapshot("").await;
    let b = row(&snap["bulkheads"], "provider", "primary").expect("primary");
    assert_eq!(b["rejections"], 2);
    assert_eq!(b["max_concurrent"], 1);
    let b = row(&snap["bulkheads"], "provider", "secondary").expect("secondary");
    assert_eq!(b["rejections"], 1);
    drop((s1, s2));
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn a_full_tool_job_bulkhead_is_reported_once_per_cooldown() {
    let mut cfg = SimConfig {
        bulkhead_sentry_cooldown: Duration::from_secs(60),
        ..Default::default()
    };
    cfg.tool_cache.tool_call_pct = 100.0;
    cfg.tool_queue.bulkhead_max = 0;
    cfg.tool_queue.wait = Duration::from_millis(200);
    cfg.tool_queue.poll = Duration::from_millis(5);
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    // The message's tool job can never be claimed; its answer comes after
    // the wait, while the runner keeps being refused.
    assert_eq!(
        sim.chat(&a.token, &a.thread_id).await.status,
        StatusCode::OK
    );
    let snap = sim
        .snapshot_when("the runner to be refused more than once", |snap| {
            snap["tool_queue"]["bulkhead"]["rejections"]
                .as_u64()
                .is_some_and(|n| n > 1)
        })
        .await;
    assert_eq!(
        snap["bulkhead_alerts"]["reported"], 1,
        "{}",
        snap["bulkhead_alerts"]
    );
    sim.handle.shutdown().await;
}
