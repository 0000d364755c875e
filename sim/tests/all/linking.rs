//! Gmail OAuth and WhatsApp link codes: their rate limits, the OAuth
//! circuit and bulkhead, and saturated bulkheads reported to Sentry.

use std::time::Duration;

use http::{Method, StatusCode};
use relhost_sim::{BulkheadConfig, CircuitConfig, RateLimitRule, SimConfig};
use serde_json::Value;

use crate::support::{self, Sim, row};

async fn start_flow(sim: &Sim, token: &str) -> (StatusCode, Value) {
    let auth = format!("Bearer {token}");
    let r = sim
        .send(
            Method::GET,
            "/api/gmail/oauth/start",
            &[("authorization", &auth)],
            "",
        )
        .await;
    (r.status, r.json())
}

async fn callback(sim: &Sim, state: &str) -> support::Reply {
    sim.get(&format!(
        "/api/gmail/oauth/callback?code=4%2F0Aabc&state={state}"
    ))
    .await
}

/// A whole flow: start, then the callback with its `state`.
async fn link_gmail(sim: &Sim, token: &str) -> support::Reply {
    let (_, started) = start_flow(sim, token).await;
    let state = started["state"].as_str().expect("state").to_owned();
    callback(sim, &state).await
}

#[tokio::test]
async fn an_oauth_flow_links_once_and_is_rate_limited_per_user() {
    let mut cfg = SimConfig::default();
    cfg.rate_limits.gmail_oauth = RateLimitRule {
        max: 3,
        window: Duration::from_secs(60),
    };
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    let (status, started) = start_flow(&sim, &a.token).await;
    assert_eq!(status, StatusCode::OK);
    let state = started["state"].as_str().expect("state").to_owned();
    assert!(started["url"].as_str().is_some_and(|u| u.ends_with(&state)));
    let done = callback(&sim, &state).await;
    assert_eq!(done.status, StatusCode::FOUND);
    assert_eq!(
        done.header("location"),
        Some("/settings/integrations?gmail=connected")
    );
    // A state is single use.
    assert_eq!(callback(&sim, &state).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        sim.get("/api/gmail/oauth/callback?code=x").await.status,
        StatusCode::BAD_REQUEST
    );
    // Start + callback used two of three; the third is the last.
    assert_eq!(start_flow(&sim, &a.token).await.0, StatusCode::OK);
    assert_eq!(
        start_flow(&sim, &a.token).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let b = sim.handle.provision_user("b@example.com", "password1");
    assert_eq!(
        start_flow(&sim, &b.token).await.0,
        StatusCode::OK,
        "per user"
    );
    let snap = sim.snapshot("").await;
    assert_eq!(snap["rate_limit"]["by_bucket"]["gmail_oauth"], 1);
    let oauth = &snap["linking"]["gmail_oauth"];
    assert_eq!(
        (oauth["started"].as_u64(), oauth["connected"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(oauth["pending"], 2);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn a_google_outage_opens_the_oauth_circuit() {
    let mut cfg = SimConfig {
        faults: vec!["gmail_oauth:provider_outage=both".parse().expect("fault")],
        ..Default::default()
    };
    cfg.circuit_gmail_oauth = CircuitConfig {
        threshold: 2,
        cooldown: Duration::from_secs(60),
    };
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(link_gmail(&sim, &a.token).await.status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::BAD_GATEWAY,
            StatusCode::BAD_GATEWAY,
            StatusCode::SERVICE_UNAVAILABLE
        ]
    );
    let snap = sim.snapshot("").await;
    let circuit = row(&snap["circuits"], "provider", "gmail_oauth").expect("circuit");
    assert_eq!(circuit["state"], "open");
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn a_saturated_bulkhead_is_reported_to_sentry_once_per_cooldown() {
    let (dsn, events) = support::sentry().await;
    let mut cfg = SimConfig {
        sentry_dsn: Some(dsn),
        bulkhead_sentry_cooldown: Duration::from_secs(60),
        ..Default::default()
    };
    cfg.bulkhead_gmail_oauth = BulkheadConfig {
        max_concurrent: 0,
        lease_ttl: Duration::from_secs(30),
    };
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    for _ in 0..3 {
        assert_eq!(
            link_gmail(&sim, &a.token).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    support::wait_until("the bulkhead event at the Sentry DSN", async || {
        (!events.lock().expect("lock").is_empty()).then_some(())
    })
    .await;
    let got = events.lock().expect("lock").clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("bulkhead saturated: gmail_oauth"),
        "{}",
        got[0]
    );
    let snap = sim.snapshot("").await;
    let alerts = &snap["bulkhead_alerts"];
    assert_eq!(
        (alerts["reported"].as_u64(), alerts["suppressed"].as_u64()),
        (Some(1), Some(2))
    );
    let bulkhead = row(&snap["bulkheads"], "provider", "gmail_oauth").expect("bulkhead");
    assert_eq!(bulkhead["rejections"], 3);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn link_codes_are_issued_per_user_within_their_rate_limit() {
    let mut cfg = SimConfig::default();
    cfg.rate_limits.wa_link_code = RateLimitRule {
        max: 2,
        window: Duration::from_secs(60),
    };
    let sim = support::start(cfg).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    let auth = format!("Bearer {}", a.token);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = sim
            .send(
                Method::POST,
                "/api/whatsapp/link-code",
                &[("authorization", &auth)],
                "",
            )
            .await;
        if r.status == StatusCode::OK {
            let code = r.json()["code"].as_str().expect("code").to_owned();
            assert!(
                code.len() == 8 && code.bytes().all(|b| b.is_ascii_digit()),
                "{code}"
            );
        }
        statuses.push(r.status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let r = sim
        .send(Method::POST, "/api/whatsapp/link-code", &[], "")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let snap = sim.snapshot("").await;
    assert_eq!(snap["linking"]["whatsapp_link_codes"]["live"], 2);
    assert_eq!(snap["rate_limit"]["by_bucket"]["wa_link_code"], 1);
    sim.handle.shutdown().await;
}
