//! Saturated bulkheads reported to Sentry (`SENTRY_DSN`): a bulkhead that
//! refuses a lease is reported at most once per
//! `BULKHEAD_SENTRY_COOLDOWN_MS`; refusals within the cooldown are counted
//! as suppressed, so a saturated bulkhead does not flood the DSN.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::resilience::lock;
use crate::sentry::{Sentry, event};

/// The reporting state of every bulkhead.
#[derive(Debug)]
pub(crate) struct BulkheadAlerts {
    cooldown: Duration,
    last: Mutex<HashMap<&'static str, Instant>>,
    reported: AtomicU64,
    suppressed: AtomicU64,
    sentry: Sentry,
}

impl BulkheadAlerts {
    pub(crate) fn new(cooldown: Duration, dsn: Option<&str>) -> Self {
        Self {
            cooldown,
            last: Mutex::new(HashMap::new()),
            reported: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            sentry: Sentry::new(dsn),
        }
    }

    /// Notes that `bulkhead` refused a lease with `max` leases held;
    /// returns the event when it is reported (outside the cooldown).
    pub(crate) fn saturated(&self, bulkhead: &'static str, max: u64) -> Option<Value> {
        let now = Instant::now();
        {
            let mut last = lock(&self.last);
            if last
                .get(bulkhead)
                .is_some_and(|t| now.duration_since(*t) < self.cooldown)
            {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            last.insert(bulkhead, now);
        }
        self.reported.fetch_add(1, Ordering::Relaxed);
        let e = event(
            "bulkhead",
            SystemTime::now(),
            format!("bulkhead saturated: {bulkhead} ({max} leases held)"),
            json!({ "bulkhead": bulkhead }),
            json!({ "max_concurrent": max }),
        );
        self.sentry.send_later(vec![e.clone()]);
        Some(e)
    }

    /// The snapshot's `bulkhead_alerts`.
    pub(crate) fn view(&self) -> Value {
        json!({
            "cooldown_ms": self.cooldown.as_millis() as u64,
            "reported": self.reported.load(Ordering::Relaxed),
            "suppressed": self.suppressed.load(Ordering::Relaxed),
            "sentry": self.sentry.view(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_once_per_cooldown_per_bulkhead() {
        let alerts = BulkheadAlerts::new(Duration::from_secs(60), None);
        assert!(alerts.saturated("primary", 4).is_some());
        assert!(alerts.saturated("primary", 4).is_none());
        assert!(alerts.saturated("serper", 8).is_some());
        let view = alerts.view();
        assert_eq!(
            (view["reported"].as_u64(), view["suppressed"].as_u64()),
            (Some(2), Some(1))
        );

        let eager = BulkheadAlerts::new(Duration::ZERO, None);
        assert!(eager.saturated("primary", 1).is_some());
        assert!(eager.saturated("primary", 1).is_some());
    }
}
