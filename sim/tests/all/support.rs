//! Test support: start a sim, talk HTTP/1.1 or h2c to it, read SSE.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use relhost_sim::{ChatSimConfig, SimConfig, SimHandle};
use serde_json::Value;

/// Every request of a test is bounded by this.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Sim {
    pub(crate) handle: SimHandle,
    pub(crate) client: Client<HttpConnector, Full<Bytes>>,
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) name: String,
    pub(crate) data: Value,
}

pub(crate) struct Stream {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) events: Vec<Event>,
    /// The body ended with an error (cut or reset) instead of cleanly.
    pub(crate) body_error: bool,
    pub(crate) elapsed: Duration,
    pub(crate) first_event_after: Option<Duration>,
}

impl Stream {
    pub(crate) fn names(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.name.as_str()).collect()
    }

    pub(crate) fn count(&self, name: &str) -> usize {
        self.events.iter().filter(|e| e.name == name).count()
    }
}

pub(crate) fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub(crate) fn h2_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

pub(crate) async fn start(cfg: SimConfig) -> Sim {
    let handle = relhost_sim::start("127.0.0.1:0".parse().expect("addr"), cfg)
        .await
        .expect("sim starts");
    Sim {
        handle,
        client: client(),
    }
}

pub(crate) async fn start_default() -> Sim {
    start(SimConfig::default()).await
}

/// Chat streams of 1,000 tokens 20 ms apart, far longer than any test
/// waits: a test opens one with [`Sim::open_chat`], so it is in flight
/// for as long as the test needs, reads what it needs and hangs up.
pub(crate) fn long_chat() -> ChatSimConfig {
    ChatSimConfig {
        ttft: Duration::from_millis(1),
        tokens: 1_000,
        token_gap: Duration::from_millis(20),
    }
}

impl Sim {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.handle.base_url(), path)
    }

    pub(crate) fn build(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Request<Full<Bytes>> {
        let mut b = Request::builder().method(method).uri(self.url(path));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Full::new(body.into())).expect("request")
    }

    pub(crate) async fn send_with(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        req: Request<Full<Bytes>>,
    ) -> Result<Reply, Box<dyn std::error::Error + Send + Sync>> {
        let fut = async {
            let resp = client.request(req).await?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(TIMEOUT, fut).await?
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let req = self.build(method, path, headers, body);
        self.send_with(&self.client, req)
            .await
            .unwrap_or_else(|e| panic!("request to {path} failed: {e}"))
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], Bytes::new()).await
    }

    pub(crate) async fn post_json(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> Reply {
        let mut h = vec![("content-type", "application/json")];
        h.extend_from_slice(headers);
        self.send(Method::POST, path, &h, body.to_string()).await
    }

    pub(crate) async fn ops(&self, method: Method, path: &str, body: &str) -> Reply {
        let auth = format!("Bearer {}", self.handle.ops_token());
        self.send(method, path, &[("authorization", &auth)], body.to_owned())
            .await
    }

    pub(crate) async fn snapshot(&self, query: &str) -> Value {
        let r = self
            .ops(
                Method::GET,
                &format!("/api/ops/reliability-snapshot{query}"),
                "",
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.json()
    }

    /// POST /api/chat and read the whole event stream.
    pub(crate) async fn chat(&self, token: &str, thread_id: &str) -> Stream {
        self.chat_with(&self.client, token, thread_id).await
    }

    pub(crate) async fn chat_with(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        token: &str,
        thread_id: &str,
    ) -> Stream {
        self.open_chat_with(client, token, thread_id)
            .await
            .finish()
            .await
    }

    /// POST /api/chat and return once the head is in: the message has been
    /// admitted (or refused) and, if admitted, its stream runs. Events are
    /// read on demand; dropping the stream hangs up.
    pub(crate) async fn open_chat(&self, token: &str, thread_id: &str) -> OpenStream {
        self.open_chat_with(&self.client, token, thread_id).await
    }

    pub(crate) async fn open_chat_with(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        token: &str,
        thread_id: &str,
    ) -> OpenStream {
        let body = serde_json::json!({"threadId": thread_id, "message": "hello"}).to_string();
        let auth = format!("Bearer {token}");
        let req = self.build(
            Method::POST,
            "/api/chat",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body,
        );
        let started = Instant::now();
        let resp = tokio::time::timeout(TIMEOUT, client.request(req))
            .await
            .expect("chat head within timeout")
            .expect("chat request");
        let (parts, body) = resp.into_parts();
        OpenStream {
            status: parts.status,
            headers: parts.headers,
            body,
            started,
            text: String::new(),
            events: Vec::new(),
            ended: false,
            body_error: false,
            first_event_after: None,
        }
    }

    /// The snapshot once `ready` holds for it; panics naming `what` if it
    /// does not within [`WAIT`].
    pub(crate) async fn snapshot_when(&self, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
        wait_until(what, async || {
            let snap = self.snapshot("").await;
            ready(&snap).then_some(snap)
        })
        .await
    }
}

/// A chat stream whose head has arrived and whose events are read as the
/// test asks for them.
pub(crate) struct OpenStream {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    body: Incoming,
    started: Instant,
    /// Received text not yet parsed into events.
    text: String,
    events: Vec<Event>,
    ended: bool,
    body_error: bool,
    first_event_after: Option<Duration>,
}

impl OpenStream {
    /// The next event, waiting for it; `None` once the body has ended.
    pub(crate) async fn next_event(&mut self) -> Option<Event> {
        tokio::time::timeout(TIMEOUT, self.read_event())
            .await
            .expect("chat event within timeout")
    }

    /// Reads the rest of the stream.
    pub(crate) async fn finish(mut self) -> Stream {
        tokio::time::timeout(TIMEOUT, async {
            while self.read_event().await.is_some() {}
        })
        .await
        .expect("chat within timeout");
        Stream {
            status: self.status,
            headers: self.headers,
            events: self.events,
            body_error: self.body_error,
            elapsed: self.started.elapsed(),
            first_event_after: self.first_event_after,
        }
    }

    async fn read_event(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                if let Some(ev) = parse_event(&block) {
                    self.first_event_after.get_or_insert(self.started.elapsed());
                    self.events.push(ev.clone());
                    return Some(ev);
                }
                continue;
            }
            if self.ended {
                return None;
            }
            match self.body.frame().await {
                None => self.ended = true,
                Some(Err(_)) => {
                    self.body_error = true;
                    self.ended = true;
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.text.push_str(&String::from_utf8_lossy(&data));
                    }
                }
            }
        }
    }
}

/// How long a test waits for something it expects to happen.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Calls `check` every few milliseconds until it returns `Some`, and
/// returns that; panics naming `what` if it has not within [`WAIT`].
pub(crate) async fn wait_until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn parse_event(block: &str) -> Option<Event> {
    let mut name = None;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(n) = line.strip_prefix("event: ") {
            name = Some(n.to_owned());
        } else if let Some(d) = line.strip_prefix("data: ") {
            data.push_str(d);
        }
    }
    Some(Event {
        name: name?,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
    })
}

/// `sha256=<hex>` of `body` under `secret`.
pub(crate) fn sign(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    m.update(body);
    let hex: String = m
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// A Pub/Sub push envelope for a Gmail notification.
pub(crate) fn gmail_envelope(email: &str, history_id: u64) -> Value {
    use base64::Engine;
    let data = serde_json::json!({"emailAddress": email, "historyId": history_id}).to_string();
    serde_json::json!({
        "message": {
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "messageId": "m-1",
        },
        "subscription": "projects/p/subscriptions/s",
    })
}

pub(crate) const WA_BODY: &str =
    r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[]}]}"#;

/// Finds the row of `rows` (an array) whose `key` equals `value`.
pub(crate) fn row<'a>(rows: &'a Value, key: &str, value: &str) -> Option<&'a Value> {
    rows.as_array()?.iter().find(|r| r[key] == value)
}

/// A local Sentry: the heads and bodies of the events it got.
pub(crate) async fn sentry() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&got);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let sink = std::sync::Arc::clone(&sink);
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                // One request: read until the body announced by content-length is in.
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&raw).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= length {
                            sink.lock().expect("lock").push(text);
                            let _ = socket
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                                .await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (format!("http://publickey@{addr}/42"), got)
}
