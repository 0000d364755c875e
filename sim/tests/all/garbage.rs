//! Garbage at every endpoint: the sim answers 4xx, never panics, and
//! stays up.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use relhost_sim::{SimConfig, splitmix64};

use crate::support;

const PATHS: [&str; 9] = [
    "/api/chat",
    "/api/gmail/push",
    "/api/whatsapp/webhook",
    "/api/auth/sign-up/email",
    "/api/auth/sign-in/email",
    "/api/threads",
    "/api/ops/faults",
    "/api/ops/reliability-snapshot",
    "/healthz",
];

fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| splitmix64(seed ^ (i as u64).wrapping_mul(0x9E37)) as u8)
        .collect()
}

#[tokio::test]
async fn garbage_everywhere() {
    let cfg = SimConfig {
        whatsapp_app_secret: Some("s".into()),
        gmail_verify_token: Some("t".into()),
        ..Default::default()
    };
    let sim = support::start(cfg).await;
    let c = sim.handle.provision_user("g@example.com", "password1");
    let user_auth = format!("Bearer {}", c.token);
    let ops_auth = format!("Bearer {}", sim.handle.ops_token());
    let bodies: Vec<Bytes> = vec![
        Bytes::from(random_bytes(1, 64)),
        Bytes::from(random_bytes(2, 4096)),
        Bytes::from_static(b""),
        Bytes::from_static(b"{"),
        Bytes::from_static(b"null"),
        Bytes::from_static(
            b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        ),
        Bytes::from_static(b"{\"message\":{\"data\":\"%%%%\"}}"),
        Bytes::from_static(b"{\"message\":{\"data\":\"eyJlbWFpbEFkZHJlc3MiOjF9\"}}"),
        Bytes::from_static(b"{\"threadId\":null,\"message\":[1]}"),
        Bytes::from_static(b"{\"email\":\"\\ud800\",\"password\":1}"),
        Bytes::from_static(b"{\"faults\":[{\"endpoint\":\"chat\",\"latency\":{}}]}"),
        Bytes::from_static(
            b"{\"faults\":[{\"endpoint\":\"chat\",\"stall\":\"1s\",\"every\":\"1ms\"}]}",
        ),
        Bytes::from_static(b"{\"faults\":[7, null]}"),
    ];
    let content_types = [
        "application/json",
        "text/plain",
        "application/octet-stream",
        "multipart/form-data; boundary=x",
    ];
    let auths = [
        "",
        "Bearer",
        "Basic Zm9vOmJhcg==",
        user_auth.as_str(),
        ops_auth.as_str(),
    ];
    let queries = [
        "",
        "?token=%",
        "?token=%ff%fe",
        "?minutes=99999999999999999999&limit=-",
        "?hub.mode=subscribe&hub.challenge=%zz",
        "?&&==&",
    ];
    let mut sent = 0usize;
    for (i, path) in PATHS.iter().enumerate() {
        for (j, body) in bodies.iter().enumerate() {
            let method =
                [Method::POST, Method::GET, Method::DELETE, Method::PATCH][(i + j) % 4].clone();
            let ct = content_types[(i + j) % content_types.len()];
            let auth = auths[(i * 3 + j) % auths.len()];
            let q = queries[(i + 2 * j) % queries.len()];
            let mut headers = vec![("content-type", ct), ("x-hub-signature-256", "sha256=00")];
            if !auth.is_empty() {
                headers.push(("authorization", auth));
            }
            let r = sim
                .send(
                    method.clone(),
                    &format!("{path}{q}"),
                    &headers,
                    body.clone(),
                )
                .await;
            sent += 1;
            let s = r.status.as_u16();
            assert!(s < 500, "{method} {path}{q} -> {s}: {:?}", r.body);
            if s >= 400
                && r.status != StatusCode::PAYLOAD_TOO_LARGE
                && path != &"/api/whatsapp/webhook"
            {
                assert!(
                    serde_json::from_slice::<serde_json::Value>(&r.body)
                        .is_ok_and(|v| v["error"].is_string()),
                    "{method} {path} -> {s}: error body {:?}",
                    r.body
                );
            }
        }
    }
    assert!(sent > 100);

    // Over 1 MiB: 413, by content-length and while reading a chunked body.
    let huge = Bytes::from(vec![b'{'; (1 << 20) + 10]);
    for path in &PATHS[..7] {
        let auth = if path.starts_with("/api/ops") {
            ops_auth.as_str()
        } else {
            user_auth.as_str()
        };
        let headers = [("authorization", auth)];
        let r = sim
            .send(
                Method::POST,
                &format!("{path}?token=t"),
                &headers,
                huge.clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
    let addr = sim.handle.local_addr();
    let status_line = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let _ = s.write_all(b"POST /api/gmail/push?token=t HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n");
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..20 {
            if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).is_err()
                || s.write_all(&chunk).is_err()
                || s.write_all(b"\r\n").is_err()
            {
                break;
            }
        }
        let mut buf = vec![0u8; 512];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or("").to_owned()
    })
    .await
    .expect("task");
    assert!(status_line.contains("413"), "{status_line:?}");

    // Raw garbage instead of HTTP, and a truncated h2 preface.
    for (k, junk) in [
        random_bytes(9, 300),
        b"GET / HTTP/9.9\r\n\r\n".to_vec(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x09".to_vec(),
        b"GET /healthz?\xff\xfe HTTP/1.1\r\nhost: \x01\r\n\r\n".to_vec(),
    ]
    .into_iter()
    .enumerate()
    {
        tokio::task::spawn_blocking(move || {
            if let Ok(mut s) = std::net::TcpStream::connect(addr) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = s.write_all(&junk);
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
            }
            k
        })
        .await
        .expect("task");
    }

    // Still up and answering.
    assert_eq!(sim.get("/healthz").await.status, StatusCode::OK);
    let s = sim.chat(&c.token, &c.thread_id).await;
    assert_eq!(s.count("done"), 1);
    sim.handle.shutdown().await;
}
