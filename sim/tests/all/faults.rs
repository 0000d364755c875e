//! Each fault kind, set at start, in process, or over the ops endpoint.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use relhost_sim::{ChatSimConfig, Fault, SimConfig};
use serde_json::json;

use crate::support::{self, WA_BODY, gmail_envelope, start_default};

fn fault(spec: &str) -> Fault {
    spec.parse().expect("valid fault")
}

#[tokio::test]
async fn latency_is_added() {
    let sim = start_default().await;
    let env = gmail_envelope("u@example.com", 1);
    let t = Instant::now();
    assert_eq!(
        sim.post_json("/api/gmail/push", &[], &env).await.status,
        StatusCode::OK
    );
    let base = t.elapsed();
    sim.handle
        .set_faults(vec![fault("gmail:latency=200ms,jitter=50ms")]);
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(
            sim.post_json("/api/gmail/push", &[], &env).await.status,
            StatusCode::OK
        );
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(
            took < Duration::from_millis(200)
                + Duration::from_millis(50)
                + base
                + Duration::from_millis(500)
        );
    }
    // Other endpoints are not delayed: no fault fires on them. (Counted,
    // not timed: a busy machine can take longer than any bound under the
    // injected latency.)
    let r = sim
        .send(Method::POST, "/api/whatsapp/webhook", &[], WA_BODY)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let snap = sim.snapshot("").await;
    assert_eq!(
        snap["faults"]["injected"],
        json!([{"endpoint": "gmail", "fault": "latency", "count": 3}])
    );
    sim.handle.shutdown().await;
}

async fn error_sequence(seed: u64) -> (Vec<u16>, serde_json::Value) {
    let cfg = SimConfig {
        seed,
        faults: vec![fault("whatsapp:error_rate=0.5,status=503")],
        ..Default::default()
    };
    let sim = support::start(cfg).await;
    let mut seq = Vec::new();
    for _ in 0..40 {
        let r = sim
            .send(Method::POST, "/api/whatsapp/webhook", &[], WA_BODY)
            .await;
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(r.json()["code"], "INJECTED_FAULT");
        }
        seq.push(r.status.as_u16());
    }
    let snap = sim.snapshot("").await;
    sim.handle.shutdown().await;
    (seq, snap)
}

#[tokio::test]
async fn error_rate_is_deterministic_for_a_seed() {
    let (a, snap) = error_sequence(7).await;
    let (b, _) = error_sequence(7).await;
    let (c, _) = error_sequence(8).await;
    assert_eq!(a, b, "same seed, same statuses");
    assert_ne!(a, c, "another seed, other statuses");
    let errors = a.iter().filter(|s| **s == 503).count();
    assert!((8..=32).contains(&errors), "{errors} of 40");
    assert!(a.iter().all(|s| *s == 503 || *s == 200));
    let rows = snap["requests"]["by_endpoint_status"]
        .as_array()
        .expect("rows");
    let n503 = rows
        .iter()
        .find(|r| r["endpoint"] == "POST /api/whatsapp/webhook" && r["status"] == 503)
        .expect("503 row");
    assert_eq!(n503["count"], errors as u64);
    let injected = snap["faults"]["injected"].as_array().expect("injected");
    assert!(
        injected
            .iter()
            .any(|r| r["fault"] == "error_rate" && r["count"] == errors as u64)
    );
}

#[tokio::test]
async fn reset_is_seen_by_the_client() {
    let sim = start_default().await;
    sim.handle.set_faults(vec![fault("gmail:reset_rate=1")]);
    // hyper client: an error, no response.
    let req = sim.build(Method::POST, "/api/gmail/push", &[], "{}");
    let res = sim.send_with(&sim.client, req).await;
    assert!(res.is_err(), "expected a connection error");
    // Raw TCP: the read fails with ECONNRESET.
    let addr = sim.handle.local_addr();
    let kind = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(b"POST /api/gmail/push HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
            .expect("write");
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(n) => Err(n),
            Err(e) => Ok(e.kind()),
        }
    })
    .await
    .expect("blocking task");
    assert_eq!(kind, Ok(std::io::ErrorKind::ConnectionReset));
    // Other endpoints are fine, and the sim is still up.
    assert_eq!(sim.get("/healthz").await.status, StatusCode::OK);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn periodic_stall() {
    let sim = start_default().await;
    let body = json!({"email": "a@example.com", "password": "password1"});
    // The period starts when the fault is set; timed from before that, a
    // stalled request takes at least the whole stall however late it came.
    let t = Instant::now();
    sim.handle
        .set_faults(vec![fault("auth:stall=1s,every=60s")]);
    // Inside the first second of the period: waits for the end of the stall.
    let r = sim.post_json("/api/auth/sign-in/email", &[], &body).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let took = t.elapsed();
    assert!(took >= Duration::from_secs(1), "{took:?}");
    // After the stall: not stalled again; only the first request was.
    let r = sim.post_json("/api/auth/sign-in/email", &[], &body).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let snap = sim.snapshot("").await;
    assert_eq!(
        snap["faults"]["injected"],
        json!([{"endpoint": "auth", "fault": "stall", "count": 1}])
    );
    sim.handle.shutdown().await;
}

fn stream_cfg() -> SimConfig {
    SimConfig {
        chat_sim: ChatSimConfig {
            ttft: Duration::from_millis(1),
            tokens: 5,
            token_gap: Duration::from_millis(10),
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn slow_stream_multiplies_the_gap() {
    let sim = support::start(stream_cfg()).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    let base = sim.chat(&a.token, &a.thread_id).await;
    assert_eq!(base.count("token"), 5);
    sim.handle
        .set_faults(vec![fault("chat:slow_stream=5,add=10ms")]);
    let slow = sim.chat(&a.token, &a.thread_id).await;
    assert_eq!(slow.count("token"), 5);
    assert_eq!(slow.count("done"), 1);
    // 4 gaps of 5 x 10 ms + 10 ms, where unslowed they take 4 x 10 ms.
    assert!(
        slow.elapsed >= Duration::from_millis(240),
        "{:?}",
        slow.elapsed
    );
    // Only the stream after the fault was set was slowed.
    let snap = sim.snapshot("").await;
    assert_eq!(
        snap["faults"]["injected"],
        json!([{"endpoint": "chat", "fault": "slow_stream", "count": 1}])
    );
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn truncated_stream_ends_with_a_body_error() {
    let sim = support::start(stream_cfg()).await;
    let a = sim.handle.provision_user("a@example.com", "password1");
    sim.handle.set_faults(vec![fault("chat:truncate_after=2")]);
    let s = sim.chat(&a.token, &a.thread_id).await;
    assert_eq!(s.status, StatusCode::OK);
    assert_eq!(s.names(), vec!["token", "token"]);
    assert!(s.body_error, "the client sees the cut");
    // Over h2c the cut is a stream reset.
    let h2 = support::h2_client();
    let s = sim.chat_with(&h2, &a.token, &a.thread_id).await;
    assert_eq!(s.names(), vec!["token", "token"]);
    assert!(s.body_error);
    let snap = sim.snapshot("").await;
    assert_eq!(snap["chat_streams"]["truncated"], 2);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn faults_over_the_ops_endpoint() {
    let sim = start_default().await;
    // No token: 401.
    let r = sim.send(Method::GET, "/api/ops/faults", &[], "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // JSON form and spec strings.
    let body = json!({"faults": [
        {"endpoint": "gmail", "error_rate": 1, "status": 500},
        "whatsapp:latency=1ms",
    ]});
    let r = sim
        .ops(Method::POST, "/api/ops/faults", &body.to_string())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let list = r.json()["faults"].clone();
    assert_eq!(list[0]["spec"], "gmail:error_rate=1,status=500");
    assert_eq!(list[1]["spec"], "whatsapp:latency=1ms");
    let r = sim
        .post_json("/api/gmail/push", &[], &gmail_envelope("u@x.io", 1))
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let r = sim.ops(Method::GET, "/api/ops/faults", "").await;
    assert_eq!(r.json()["faults"].as_array().map(Vec::len), Some(2));
    // Unknown fault: 400 naming the valid ones; nothing replaced.
    let r = sim
        .ops(
            Method::POST,
            "/api/ops/faults",
            r#"{"faults":[{"endpoint":"chat","explode":1}]}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let err = r.json()["error"].as_str().unwrap_or("").to_owned();
    assert!(
        err.contains("explode") && err.contains("latency, error_rate"),
        "{err}"
    );
    let r = sim
        .ops(
            Method::POST,
            "/api/ops/faults",
            r#"{"faults":["mail:latency=1ms"]}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("valid endpoints"))
    );
    let r = sim.ops(Method::POST, "/api/ops/faults", "nope").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        sim.ops(Method::GET, "/api/ops/faults", "").await.json()["faults"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // DELETE clears.
    let r = sim.ops(Method::DELETE, "/api/ops/faults", "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["faults"], json!([]));
    let r = sim
        .post_json("/api/gmail/push", &[], &gmail_envelope("u@x.io", 1))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    sim.handle.shutdown().await;
}
