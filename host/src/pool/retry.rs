//! Retries of provisioning calls: which answers are worth another attempt,
//! and how long to wait before it (exponential backoff with jitter, or the
//! server's `Retry-After`).

use std::time::Duration;

use crate::rng::SplitMix64;

/// How often and how patiently a call is retried. Retried: network errors,
/// 408, 429 and 5xx; anything else is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included (at least 1).
    pub max_attempts: u32,
    /// Backoff after the first failed attempt; doubles after each further one.
    pub base_delay: Duration,
    /// Longest backoff.
    pub max_delay: Duration,
    /// Longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, backoff 250 ms doubling up to 8 s, `Retry-After` up to 60 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based). With a
    /// `Retry-After`, that (capped at `max_retry_after`); otherwise "equal
    /// jitter" backoff: half of `base · 2^(attempt-1)` (capped at
    /// `max_delay`) plus a random share of the other half. Either way up to
    /// 10% more is added at random so that parallel callers spread out.
    pub(crate) fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut SplitMix64,
    ) -> Duration {
        let mut unit = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        match retry_after {
            Some(after) => {
                let after = after.min(self.max_retry_after);
                after + after.mul_f64(0.1 * unit())
            }
            None => {
                let exp = self
                    .base_delay
                    .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
                    .min(self.max_delay);
                let half = exp / 2;
                half + half.mul_f64(unit()) + exp.mul_f64(0.1 * unit())
            }
        }
    }
}

/// Whether an answer with this status deserves another attempt.
pub(crate) fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// `Retry-After` as delta-seconds (the form rate limiters send); an HTTP
/// date or garbage is ignored and the backoff applies instead.
pub(crate) fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let text = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = text.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let policy = RetryPolicy::default();
        let mut rng = SplitMix64::new(1);
        for attempt in 1..=8 {
            let exp = (Duration::from_millis(250) * (1 << (attempt - 1))).min(policy.max_delay);
            for _ in 0..50 {
                let d = policy.delay(attempt, None, &mut rng);
                assert!(d >= exp / 2 && d <= exp + exp / 10, "{attempt}: {d:?}");
            }
        }
        assert!(policy.delay(u32::MAX, None, &mut rng) <= policy.max_delay * 11 / 10);
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let policy = RetryPolicy::default();
        let mut rng = SplitMix64::new(2);
        let d = policy.delay(1, Some(Duration::from_secs(2)), &mut rng);
        assert!(
            d >= Duration::from_secs(2) && d <= Duration::from_millis(2200),
            "{d:?}"
        );
        let d = policy.delay(1, Some(Duration::from_secs(3600)), &mut rng);
        assert!(d <= Duration::from_secs(66), "{d:?}");

        let mut headers = http::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(http::header::RETRY_AFTER, "0.5".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(500)));
        headers.insert(
            http::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn which_statuses_are_retried() {
        for s in [408, 429, 500, 502, 503, 599] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [200, 400, 401, 404, 409, 422] {
            assert!(!retryable_status(s), "{s}");
        }
    }
}
