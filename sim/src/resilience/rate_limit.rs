//! Fixed-window rate limits per key (a user id or a request source).
//!
//! Keys are 64-bit hashes, spread over sharded maps so that concurrent
//! requests rarely contend; stale windows are evicted when a shard grows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::lock;
use crate::config::RateLimitRule;

const SHARDS: usize = 16;
const EVICT_ABOVE: usize = 4_096;

#[derive(Debug, Clone, Copy)]
struct Window {
    start_ms: u64,
    count: u64,
}

/// A fixed-window limiter: `rule.max` requests per key per `rule.window`.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rule: RateLimitRule,
    start: Instant,
    shards: Vec<Mutex<HashMap<u64, Window>>>,
}

impl RateLimiter {
    pub(crate) fn new(rule: RateLimitRule) -> Self {
        Self {
            rule,
            start: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Counts a request of `key`: `Err(retry_after)` when over the limit.
    pub(crate) fn check(&self, key: u64) -> Result<(), Duration> {
        self.check_at(key, self.start.elapsed())
    }

    fn check_at(&self, key: u64, now: Duration) -> Result<(), Duration> {
        if self.rule.max == 0 {
            return Ok(());
        }
        let now_ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        let window_ms = u64::try_from(self.rule.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut map = lock(&self.shards[(key as usize) % SHARDS]);
        if map.len() > EVICT_ABOVE {
            map.retain(|_, w| now_ms.saturating_sub(w.start_ms) < window_ms);
        }
        let w = map.entry(key).or_insert(Window {
            start_ms: now_ms,
            count: 0,
        });
        if now_ms.saturating_sub(w.start_ms) >= window_ms {
            *w = Window {
                start_ms: now_ms,
                count: 0,
            };
        }
        if w.count >= self.rule.max {
            let left = (w.start_ms + window_ms).saturating_sub(now_ms).max(1);
            return Err(Duration::from_millis(left));
        }
        w.count += 1;
        Ok(())
    }
}

/// The Retry-After header value (whole seconds, at least 1) of a wait.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_millis().div_ceil(1000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max: u64, window_ms: u64) -> RateLimiter {
        RateLimiter::new(RateLimitRule {
            max,
            window: Duration::from_millis(window_ms),
        })
    }

    #[test]
    fn limits_within_a_window_and_resets_after() {
        let l = limiter(3, 1_000);
        let t = Duration::from_millis(10);
        for _ in 0..3 {
            assert!(l.check_at(1, t).is_ok());
        }
        let wait = l
            .check_at(1, Duration::from_millis(400))
            .expect_err("limited");
        assert_eq!(wait, Duration::from_millis(610));
        // Another key has its own window.
        assert!(l.check_at(2, Duration::from_millis(400)).is_ok());
        // The next window starts fresh.
        assert!(l.check_at(1, Duration::from_millis(1_010)).is_ok());
    }

    #[test]
    fn zero_max_is_off() {
        let l = limiter(0, 1_000);
        for _ in 0..100 {
            assert!(l.check(7).is_ok());
        }
    }

    #[test]
    fn evicts_stale_windows() {
        let l = limiter(1, 10);
        for k in 0..(EVICT_ABOVE as u64 * SHARDS as u64 + 100) {
            let _ = l.check_at(k, Duration::ZERO);
        }
        let _ = l.check_at(0, Duration::from_millis(100));
        assert!(lock(&l.shards[0]).len() < EVICT_ABOVE);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1_001)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
