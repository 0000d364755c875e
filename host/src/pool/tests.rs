//! Provisioning against the real relhost-sim (in-process, on 127.0.0.1:0)
//! and against small servers that answer the way some auth servers do.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::*;
use crate::http::{Client, ClientConfig, ErrorClass};

async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), test)
        .await
        .expect("test exceeded its 20 s bound")
}

#[derive(Default)]
struct Seen(Mutex<Vec<(u32, Result<UserOutcome, String>)>>);

impl ProvisionProgress for Seen {
    fn user_finished(
        &self,
        index: u32,
        _email: &str,
        result: Result<UserOutcome, &ProvisionError>,
    ) {
        if let Ok(mut seen) = self.0.lock() {
            seen.push((index, result.map_err(ToString::to_string)));
        }
    }
}

fn client() -> Client {
    Client::new(&ClientConfig {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        stream_idle_timeout: Duration::from_secs(5),
        max_idle_per_host: 8,
        ..ClientConfig::default()
    })
    .expect("client")
}

fn config(base: &str, count: u32) -> ProvisionConfig {
    let origin: http::Uri = base.parse().expect("base url");
    ProvisionConfig {
        prefix: "unit".into(),
        seed: "s1".into(),
        start: 1,
        count,
        endpoints: Endpoints {
            sign_up: join_url(&origin, "/api/auth/sign-up/email").expect("url"),
            sign_in: join_url(&origin, "/api/auth/sign-in/email").expect("url"),
            convex_token: None,
            thread: ThreadCreation::Route(join_url(&origin, "/api/threads").expect("url")),
        },
        parallelism: 3,
        retry: RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(1),
        },
    }
}

#[tokio::test]
async fn creates_then_reuses_users_on_the_sim() {
    bounded(async {
        let sim = relhost_sim::start(([127, 0, 0, 1], 0).into(), Default::default())
            .await
            .expect("sim");
        let config = config(&sim.base_url(), 7);
        let seen = Seen::default();
        let first = provision(&client(), &config, &seen)
            .await
            .expect("provisioned");
        assert_eq!((first.created, first.reused), (7, 0));
        assert!(first.failures.is_empty(), "{:?}", first.failures);
        assert_eq!(first.entries.len(), 7);
        assert_eq!(seen.0.lock().unwrap().len(), 7);
        assert_eq!(
            seen.0.lock().unwrap()[0].0,
            1,
            "the first user goes alone, first"
        );

        let second = provision(&client(), &config, &Seen::default())
            .await
            .expect("provisioned");
        assert_eq!((second.created, second.reused), (0, 7));
        // New sessions: the old and the new tokens both work.
        for entry in first.entries.iter().chain(&second.entries) {
            assert!(!entry.auth_token.is_empty() && !entry.thread_id.is_empty());
        }
        // Signing in with the derived credentials works: they are what was registered.
        let creds = user_credentials("unit", "s1", 7);
        let request = OutgoingRequest {
            method: http::Method::POST,
            uri: config.endpoints.sign_in.clone(),
            headers: {
                let mut h = http::HeaderMap::new();
                h.insert(
                    http::header::CONTENT_TYPE,
                    "application/json".parse().unwrap(),
                );
                h
            },
            body: Bytes::from(
                serde_json::json!({"email": creds.email, "password": creds.password}).to_string(),
            ),
        };
        let (status, _, _) = client().send_collect(request).await.expect("sign-in");
        assert_eq!(status, 200);
        sim.shutdown().await;
    })
    .await;
}

use crate::http::OutgoingRequest;

#[tokio::test]
async fn injected_503s_are_retried() {
    bounded(async {
        let sim = relhost_sim::start(([127, 0, 0, 1], 0).into(), Default::default())
            .await
            .expect("sim");
        sim.set_faults(vec![
            "auth:error_rate=0.4,status=503".parse().expect("fault"),
        ]);
        let report = provision(&client(), &config(&sim.base_url(), 8), &Seen::default())
            .await
            .expect("provisioned");
        assert_eq!(report.created, 8, "{:?}", report.failures);
        let snap = sim.snapshot(15, 100);
        let injected = snap["faults"]["injected"].to_string();
        assert!(
            injected.contains("error_rate"),
            "faults were injected: {injected}"
        );
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_wrong_password_fails_that_user_only_and_leaks_nothing() {
    bounded(async {
        let sim = relhost_sim::start(([127, 0, 0, 1], 0).into(), Default::default())
            .await
            .expect("sim");
        let taken = user_credentials("unit", "s1", 2);
        sim.provision_user(&taken.email, "someone-elses-password");
        let report = provision(&client(), &config(&sim.base_url(), 3), &Seen::default())
            .await
            .expect("provisioned");
        assert_eq!((report.created, report.reused), (2, 0));
        assert_eq!(report.failures.len(), 1);
        let failure = &report.failures[0];
        assert_eq!(failure.index, 2);
        let message = failure.error.to_string();
        assert!(
            message.starts_with("sign-in at http://")
                && message
                    .contains("/api/auth/sign-in/email answered 401 INVALID_EMAIL_OR_PASSWORD"),
            "{message}"
        );
        assert!(!message.contains(&taken.password));
        sim.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_origin_stops_at_the_first_user() {
    bounded(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let mut config = config(&format!("http://{addr}"), 5);
        config.retry.max_attempts = 2;
        let seen = Seen::default();
        let error = provision(&client(), &config, &seen).await.unwrap_err();
        assert!(error.is_unreachable());
        assert!(
            matches!(
                &error,
                ProvisionError::Unreachable {
                    step: Step::SignUp,
                    class: ErrorClass::ConnectRefused,
                    attempts: 2,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains(&addr.to_string()), "{error}");
        assert!(seen.0.lock().unwrap().is_empty(), "nothing else attempted");
    })
    .await;
}

/// A server that answers the first sign-up with 429 `Retry-After: 0`, then
/// puts the token only in `set-auth-token`, and the thread id only in `id`.
#[tokio::test]
async fn retry_after_header_token_and_id_fallbacks() {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sign_ups = std::sync::Arc::new(AtomicU32::new(0));
        let counter = sign_ups.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let counter = counter.clone();
                        async move {
                            let mut res = hyper::Response::new(Full::new(Bytes::new()));
                            match req.uri().path() {
                                "/auth/up" if counter.fetch_add(1, Ordering::SeqCst) == 0 => {
                                    *res.status_mut() = hyper::StatusCode::TOO_MANY_REQUESTS;
                                    res.headers_mut()
                                        .insert("retry-after", "0".parse().unwrap());
                                }
                                "/auth/up" => {
                                    *res.body_mut() = Full::new(Bytes::from(r#"{"token":null}"#));
                                    res.headers_mut()
                                        .insert("set-auth-token", "hdr-tok".parse().unwrap());
                                }
                                "/t" if req.headers()["authorization"] == "Bearer hdr-tok" => {
                                    *res.body_mut() = Full::new(Bytes::from(r#"{"id":42}"#));
                                }
                                _ => *res.status_mut() = hyper::StatusCode::NOT_FOUND,
                            }
                            Ok::<_, Infallible>(res)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        let origin: http::Uri = format!("http://{addr}").parse().unwrap();
        let mut config = config(&format!("http://{addr}"), 1);
        config.endpoints = Endpoints {
            sign_up: join_url(&origin, "/auth/up").unwrap(),
            sign_in: join_url(&origin, "/auth/in").unwrap(),
            convex_token: None,
            thread: ThreadCreation::Route(join_url(&origin, "/t").unwrap()),
        };
        let report = provision(&client(), &config, &Seen::default())
            .await
            .unwrap();
        assert_eq!(report.failures.len(), 0, "{:?}", report.failures);
        assert_eq!(report.entries[0].auth_token, "hdr-tok");
        assert_eq!(report.entries[0].thread_id, "42");
        assert_eq!(sign_ups.load(Ordering::SeqCst), 2);
    })
    .await;
}

#[test]
fn urls_join_with_base_paths() {
    let origin: http::Uri = "https://app.example.com/base/".parse().unwrap();
    assert_eq!(
        join_url(&origin, "/api/threads").unwrap().to_string(),
        "https://app.example.com/base/api/threads"
    );
    let bare: http::Uri = "http://127.0.0.1:3000".parse().unwrap();
    assert_eq!(
        join_url(&bare, "/api/auth/sign-up/email")
            .unwrap()
            .to_string(),
        "http://127.0.0.1:3000/api/auth/sign-up/email"
    );
    assert!(join_url(&bare, "api/threads").is_err());
}
