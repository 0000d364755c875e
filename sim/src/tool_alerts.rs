//! Tool-queue alerting: once a second the runner compares the queue with
//! its maxima (queued jobs, jobs dead-lettered within the window, the
//! oldest queued and running ages). An alert fires when a figure passes its
//! maximum and the same alert has not fired within the cooldown; it is kept
//! in the snapshot for the window and, with a DSN, sent as a Sentry event
//! (`POST /api/<project>/store/` with `X-Sentry-Auth`).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::config::ToolAlertConfig;
use crate::tool_queue::AlertFigures;

/// How long a Sentry delivery may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// What an alert watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watched {
    Queued,
    Dlq,
    QueuedAge,
    RunningAge,
}

impl Watched {
    const ALL: [Watched; 4] = [
        Watched::Queued,
        Watched::Dlq,
        Watched::QueuedAge,
        Watched::RunningAge,
    ];

    fn name(self) -> &'static str {
        match self {
            Watched::Queued => "queued",
            Watched::Dlq => "dlq",
            Watched::QueuedAge => "queued_age_ms",
            Watched::RunningAge => "running_age_ms",
        }
    }
}

#[derive(Debug, Clone)]
struct Fired {
    watched: Watched,
    value: u64,
    max: u64,
    at: Instant,
    at_wall: SystemTime,
}

#[derive(Debug, Default)]
struct Inner {
    fired: VecDeque<Fired>,
    total: u64,
    sent: u64,
    send_failures: u64,
    last_checked: Option<Instant>,
}

/// The alerting state.
#[derive(Debug)]
pub(crate) struct ToolAlerts {
    cfg: ToolAlertConfig,
    inner: Mutex<Inner>,
    client: Client<HttpConnector, Full<Bytes>>,
}

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

impl ToolAlerts {
    pub(crate) fn new(cfg: ToolAlertConfig) -> Self {
        ToolAlerts {
            cfg,
            inner: Mutex::new(Inner::default()),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a second has passed since the last check.
    pub(crate) fn due(&self, now: Instant) -> bool {
        let mut g = self.lock();
        let due = self.cfg.enabled
            && g.last_checked
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
        if due {
            g.last_checked = Some(now);
        }
        due
    }

    /// Compares `figures` with the maxima; returns the alerts that fire.
    pub(crate) fn check(&self, figures: &AlertFigures, now: Instant) -> Vec<Value> {
        let ms = |d: Duration| d.as_millis() as u64;
        let mut g = self.lock();
        while g
            .fired
            .front()
            .is_some_and(|f| now.duration_since(f.at) >= self.cfg.window)
        {
            g.fired.pop_front();
        }
        let mut events = Vec::new();
        for watched in Watched::ALL {
            let (value, max) = match watched {
                Watched::Queued => (figures.queued, self.cfg.max_queued),
                Watched::Dlq => (figures.dead_lettered_in_window, self.cfg.max_dlq),
                Watched::QueuedAge => (ms(figures.oldest_queued_age), ms(self.cfg.max_queued_age)),
                Watched::RunningAge => {
                    (ms(figures.oldest_running_age), ms(self.cfg.max_running_age))
                }
            };
            let cooling = g
                .fired
                .iter()
                .any(|f| f.watched == watched && now.duration_since(f.at) < self.cfg.cooldown);
            if value <= max || cooling {
                continue;
            }
            let fired = Fired {
                watched,
                value,
                max,
                at: now,
                at_wall: SystemTime::now(),
            };
            events.push(event(&fired));
            g.fired.push_back(fired);
            g.total += 1;
        }
        events
    }

    /// Sends fired alerts to the DSN, if there is one.
    pub(crate) async fn send(&self, events: Vec<Value>) {
        let Some(dsn) = self.cfg.sentry_dsn.as_deref().and_then(parse_dsn) else {
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
                    tokio::time::timeout(SEND_TIMEOUT, self.client.request(request)).await,
                    Ok(Ok(response)) if response.status().is_success()
                ),
                Err(_) => false,
            };
            let mut g = self.lock();
            if ok {
                g.sent += 1;
            } else {
                g.send_failures += 1;
            }
        }
    }

    /// The snapshot's `alerts` of the tool queue.
    pub(crate) fn view(&self) -> Value {
        let g = self.lock();
        let maxima = json!({
            "queued": self.cfg.max_queued,
            "dlq": self.cfg.max_dlq,
            "queued_age_ms": self.cfg.max_queued_age.as_millis() as u64,
            "running_age_ms": self.cfg.max_running_age.as_millis() as u64,
        });
        json!({
            "enabled": self.cfg.enabled,
            "window_minutes": self.cfg.window.as_secs() / 60,
            "maxima": maxima,
            "fired_total": g.total,
            "sentry": {
                "dsn": if self.cfg.sentry_dsn.is_some() { "<set>" } else { "<unset>" },
                "sent": g.sent,
                "send_failures": g.send_failures,
            },
            "in_window": g.fired.iter().rev().map(|f| json!({
                "alert": f.watched.name(),
                "value": f.value,
                "max": f.max,
                "at": humantime::format_rfc3339_millis(f.at_wall).to_string(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// A Sentry event for an alert.
fn event(f: &Fired) -> Value {
    let id = format!(
        "{:016x}{:016x}",
        crate::rng::os_random_u64(),
        crate::rng::os_random_u64()
    );
    json!({
        "event_id": id,
        "timestamp": humantime::format_rfc3339_millis(f.at_wall).to_string(),
        "level": "warning",
        "logger": "tool_queue",
        "platform": "other",
        "message": format!("tool queue alert: {} is {} (max {})", f.watched.name(), f.value, f.max),
        "tags": { "alert": f.watched.name() },
        "extra": { "value": f.value, "max": f.max },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ToolAlertConfig {
        ToolAlertConfig {
            enabled: true,
            window: Duration::from_secs(300),
            cooldown: Duration::from_secs(60),
            max_queued: 10,
            max_dlq: 0,
            max_queued_age: Duration::from_secs(30),
            max_running_age: Duration::from_secs(60),
            sentry_dsn: None,
        }
    }

    #[test]
    fn alerts_fire_past_their_maxima_once_per_cooldown() {
        let alerts = ToolAlerts::new(config());
        let t = Instant::now();
        let figures = AlertFigures {
            queued: 11,
            dead_lettered_in_window: 2,
            oldest_queued_age: Duration::from_secs(1),
            oldest_running_age: Duration::ZERO,
        };
        let fired = alerts.check(&figures, t);
        assert_eq!(fired.len(), 2, "{fired:?}");
        assert!(
            alerts
                .check(&figures, t + Duration::from_secs(30))
                .is_empty(),
            "cooling down"
        );
        assert_eq!(alerts.check(&figures, t + Duration::from_secs(61)).len(), 2);
        let view = alerts.view();
        assert_eq!(view["fired_total"], 4);
        assert_eq!(view["in_window"].as_array().map(Vec::len), Some(4));
        assert_eq!(fired[0]["level"], "warning");
        assert_eq!(fired[0]["event_id"].as_str().map(str::len), Some(32));
    }

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
}
