//! Tool-queue alerting: once a second the runner compares the queue with
//! its maxima (queued jobs, jobs dead-lettered within the window, the
//! oldest queued and running ages). An alert fires when a figure passes its
//! maximum and the same alert has not fired within the cooldown; it is kept
//! in the snapshot for the window and, with a DSN, sent as a Sentry event
//! (`POST /api/<project>/store/` with `X-Sentry-Auth`).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::config::ToolAlertConfig;
use crate::sentry::Sentry;
use crate::tool_queue::AlertFigures;

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
    last_checked: Option<Instant>,
}

/// The alerting state.
#[derive(Debug)]
pub(crate) struct ToolAlerts {
    cfg: ToolAlertConfig,
    inner: Mutex<Inner>,
    sentry: Sentry,
}

impl ToolAlerts {
    pub(crate) fn new(cfg: ToolAlertConfig) -> Self {
        ToolAlerts {
            sentry: Sentry::new(cfg.sentry_dsn.as_deref()),
            cfg,
            inner: Mutex::new(Inner::default()),
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

    /// Sends fired alerts to the DSN in the background, if there is one.
    pub(crate) fn send_later(&self, events: Vec<Value>) {
        self.sentry.send_later(events);
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
            "sentry": self.sentry.view(),
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
    crate::sentry::event(
        "tool_queue",
        f.at_wall,
        format!(
            "tool queue alert: {} is {} (max {})",
            f.watched.name(),
            f.value,
            f.max
        ),
        json!({ "alert": f.watched.name() }),
        json!({ "value": f.value, "max": f.max }),
    )
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
}
