//! The reliability snapshot.

use http::{Method, StatusCode};
use relhost_sim::SimConfig;

use crate::support::{self, WA_BODY, row};

#[tokio::test]
async fn snapshot_needs_the_ops_token() {
    let cfg = SimConfig {
        ops_token: Some("ops-secret".into()),
        ..Default::default()
    };
    let sim = support::start(cfg).await;
    assert_eq!(sim.handle.ops_token(), "ops-secret");
    let r = sim.get("/api/ops/reliability-snapshot").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = sim
        .send(
            Method::GET,
            "/api/ops/reliability-snapshot",
            &[("authorization", "Bearer wrong")],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = sim
        .send(
            Method::GET,
            "/api/ops/reliability-snapshot",
            &[("authorization", "Bearer ops-secret")],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn snapshot_reflects_traffic_and_knobs() {
    let mut cfg = SimConfig {
        whatsapp_app_secret: Some("s".into()),
        ..Default::default()
    };
    cfg.ops.default_window_minutes = 7;
    cfg.ops.max_rows_per_section = 3;
    let sim = support::start(cfg).await;
    assert!(
        sim.handle.ops_token().starts_with("ops_"),
        "generated token"
    );
    for _ in 0..5 {
        sim.send(Method::POST, "/api/whatsapp/webhook", &[], WA_BODY)
            .await; // 401: unsigned
    }
    let sig = support::sign("s", WA_BODY.as_bytes());
    for _ in 0..2 {
        sim.send(
            Method::POST,
            "/api/whatsapp/webhook",
            &[("x-hub-signature-256", &sig)],
            WA_BODY,
        )
        .await;
    }
    sim.get("/healthz").await;
    sim.get("/nope").await;
    let snap = sim.snapshot("").await;
    assert_eq!(snap["window_minutes"], 7);
    assert_eq!(snap["limit"], 3);
    assert!(
        snap["generated_at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );
    let rows = snap["requests"]["by_endpoint_status"]
        .as_array()
        .expect("rows");
    assert_eq!(rows.len(), 3, "capped by the default limit");
    assert_eq!(rows[0]["endpoint"], "POST /api/whatsapp/webhook");
    assert_eq!(rows[0]["status"], 401);
    assert_eq!(rows[0]["count"], 5);
    assert_eq!(snap["requests"]["total"], 9);
    let lat = row(&snap["latency"], "endpoint", "POST /api/whatsapp/webhook").expect("latency row");
    assert_eq!(lat["count"], 7);
    assert!(
        lat["p99_ms"]
            .as_f64()
            .is_some_and(|v| v >= lat["p50_ms"].as_f64().unwrap_or(f64::MAX))
    );
    let knobs = &snap["knobs"];
    assert_eq!(knobs["WHATSAPP_APP_SECRET"], "<set>");
    assert_eq!(knobs["OPS_DEFAULT_WINDOW_MINUTES"], 7);
    assert_eq!(knobs["RATE_LIMIT_CHAT_STREAM_MAX"], 6000);
    assert_eq!(knobs["FF_PROVIDER_FAILOVER_ENABLED"], true);
    for section in [
        "rate_limit",
        "circuits",
        "circuit_transitions",
        "bulkheads",
        "admission",
        "provider_failovers",
        "chat_users",
        "unique_users",
        "faults",
    ] {
        assert!(!snap[section].is_null(), "{section}");
    }
    assert_eq!(
        row(&snap["circuits"], "provider", "primary").expect("c")["state"],
        "closed"
    );

    // Query overrides, and the in-process snapshot is the same shape.
    let snap = sim.snapshot("?minutes=60&limit=100").await;
    assert_eq!(snap["window_minutes"], 60);
    // The first snapshot request is counted too.
    assert_eq!(
        snap["requests"]["by_endpoint_status"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    let local = sim.handle.snapshot(5, 1);
    assert_eq!(local["window_minutes"], 5);
    assert_eq!(
        local["requests"]["by_endpoint_status"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Bad query values: 400.
    for q in [
        "?minutes=0",
        "?minutes=61",
        "?minutes=abc",
        "?limit=0",
        "?limit=-1",
        "?limit=%zz",
    ] {
        let r = sim
            .ops(
                Method::GET,
                &format!("/api/ops/reliability-snapshot{q}"),
                "",
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
    }
    sim.handle.shutdown().await;
}
