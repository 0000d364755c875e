//! A minimal Sentry client: events are posted to the DSN's store endpoint
//! (`POST /api/<project>/store/` with `X-Sentry-Auth`), each bounded in
//! time, and counted as sent or failed. Tool-queue alerts and saturated
//! bulkheads report through it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// How long a Sentry delivery may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a DSN sends events, and its public key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dsn {
    store: String,
    key: String,
}

/// Parses `scheme://KEY@HOST[:PORT]/PROJECT`.
fn parse_dsn(dsn: &str) -> Option<Dsn> {
    let (scheme, rest) = dsn.split_once("://")?;
    let (key, rest) = rest.split_once('@')?;
    let (host, project) = rest.rsplit_once('/')?;
    let key = key.split(':').next()?;
    if key.is_empty() || host.is_empty() || project.is_empty() {
        return None;
    }
    Some(Dsn {
        store: format!("{scheme}://{host}/api/{project}/store/"),
        key: key.to_owned(),
    })
}

#[derive(Debug)]
struct Inner {
    dsn: Option<Dsn>,
    client: Client<HttpConnector, Full<Bytes>>,
    sent: AtomicU64,
    failures: AtomicU64,
}

/// A Sentry client for one DSN (or none: events are dropped uncounted).
/// Clones share the counters.
#[derive(Debug, Clone)]
pub(crate) struct Sentry(Arc<Inner>);

impl Sentry {
    pub(crate) fn new(dsn: Option<&str>) -> Self {
        Sentry(Arc::new(Inner {
            dsn: dsn.and_then(parse_dsn),
            client: Client::builder(TokioExecutor::new()).build_http(),
            sent: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }))
    }

    /// Sends `events` in the background, if there is a DSN.
    pub(crate) fn send_later(&self, events: Vec<Value>) {
        if self.0.dsn.is_none() || events.is_empty() {
            return;
        }
        let sentry = self.clone();
        tokio::spawn(async move { sentry.send(events).await });
    }

    async fn send(&self, events: Vec<Value>) {
        let Some(dsn) = &self.0.dsn else {
            return;
        };
        for event in events {
            let auth = format!(
                "Sentry sentry_version=7, sentry_key={}, sentry_client=relhost-sim/{}",
                dsn.key,
                env!("CARGO_PKG_VERSION")
            );
            let request = http::Request::post(&dsn.store)
                .header(http::header::CONTENT_TYPE, "application/json")
                .header("x-sentry-auth", auth)
                .body(Full::new(Bytes::from(event.to_string())));
            let ok = match request {
                Ok(request) => matches!(
                    tokio::time::timeout(SEND_TIMEOUT, self.0.client.request(request)).await,
                    Ok(Ok(response)) if response.status().is_success()
                ),
                Err(_) => false,
            };
            let counter = if ok { &self.0.sent } else { &self.0.failures };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `{"dsn": "<set>"|"<unset>", "sent", "send_failures"}`.
    pub(crate) fn view(&self) -> Value {
        json!({
            "dsn": if self.0.dsn.is_some() { "<set>" } else { "<unset>" },
            "sent": self.0.sent.load(Ordering::Relaxed),
            "send_failures": self.0.failures.load(Ordering::Relaxed),
        })
    }
}

/// A warning event from `logger` with a message, tags and extra data.
pub(crate) fn event(
    logger: &str,
    at: SystemTime,
    message: String,
    tags: Value,
    extra: Value,
) -> Value {
    let id = format!(
        "{:016x}{:016x}",
        crate::rng::os_random_u64(),
        crate::rng::os_random_u64()
    );
    json!({
        "event_id": id,
        "timestamp": humantime::format_rfc3339_millis(at).to_string(),
        "level": "warning",
        "logger": logger,
        "platform": "other",
        "message": message,
        "tags": tags,
        "extra": extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsns_name_the_store_endpoint_and_key() {
        assert_eq!(
            parse_dsn("http://abc123@127.0.0.1:9000/42"),
            Some(Dsn {
                store: "http://127.0.0.1:9000/api/42/store/".into(),
                key: "abc123".into()
            })
        );
        assert_eq!(parse_dsn("http://127.0.0.1/42"), None);
        assert_eq!(parse_dsn("nonsense"), None);
    }

    #[test]
    fn events_are_warnings_with_an_id() {
        let e = event(
            "x",
            SystemTime::now(),
            "m".into(),
            json!({"a": 1}),
            json!({}),
        );
        assert_eq!(e["level"], "warning");
        assert_eq!(e["event_id"].as_str().map(str::len), Some(32));
    }
}
