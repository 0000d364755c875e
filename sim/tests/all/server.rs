//! Health, routing, HTTP/2 prior knowledge, shutdown.

use bytes::Bytes;
use http::{Method, StatusCode};

use crate::support::{self, start_default};

#[tokio::test]
async fn healthz_over_http1_and_h2c() {
    let sim = start_default().await;
    let r = sim.get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "ok");

    let h2 = support::h2_client();
    let req = sim.build(Method::GET, "/healthz", &[], Bytes::new());
    let r = sim.send_with(&h2, req).await.expect("h2c request");
    assert_eq!(r.status, StatusCode::OK);

    // A chat stream over h2c too.
    let creds = sim.handle.provision_user("h2@example.com", "password1");
    let s = sim.chat_with(&h2, &creds.token, &creds.thread_id).await;
    assert_eq!(s.status, StatusCode::OK);
    assert_eq!(s.count("token"), 16);
    assert_eq!(s.names().last(), Some(&"done"));
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn unknown_route_404_wrong_method_405() {
    let sim = start_default().await;
    let r = sim.get("/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.json()["error"].is_string());
    let r = sim.get("/api/chat").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = sim
        .send(Method::PUT, "/api/whatsapp/webhook", &[], "")
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = sim.send(Method::POST, "/healthz", &[], "").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    sim.handle.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn works_on_a_current_thread_runtime_and_shuts_down() {
    let sim = start_default().await;
    let addr = sim.handle.local_addr();
    assert!(sim.handle.base_url().starts_with("http://127.0.0.1:"));
    let creds = sim.handle.provision_user("ct@example.com", "password1");
    let s = sim.chat(&creds.token, &creds.thread_id).await;
    assert_eq!(s.count("token"), 16);
    let started = std::time::Instant::now();
    sim.handle.shutdown().await;
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_closes_open_streams() {
    let cfg = relhost_sim::SimConfig {
        chat_sim: relhost_sim::ChatSimConfig {
            ttft: std::time::Duration::from_millis(1),
            tokens: 1000,
            token_gap: std::time::Duration::from_millis(100),
        },
        ..Default::default()
    };
    let sim = support::start(cfg).await;
    let creds = sim.handle.provision_user("long@example.com", "password1");
    let mut stream = sim.open_chat(&creds.token, &creds.thread_id).await;
    assert_eq!(stream.status, StatusCode::OK);
    // Streaming once the first token is in; a task reads on.
    stream.next_event().await.expect("a first token");
    let reader = tokio::spawn(stream.finish());
    let started = std::time::Instant::now();
    sim.handle.shutdown().await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    tokio::time::timeout(support::TIMEOUT, reader)
        .await
        .expect("stream ends after shutdown")
        .expect("reader task");
}
