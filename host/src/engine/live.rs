//! Live figures for the progress display: each worker owns its own
//! counters (no cache line shared between workers); a reader sums them.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bits of precision below each power of two (2 bits: within 25%).
const SUB_BITS: u32 = 2;
/// Sub-buckets per power of two.
const SUB: u32 = 1 << SUB_BITS;
/// Buckets: powers of two of microseconds up to ~1.2 hours.
const BUCKETS: usize = 32 * SUB as usize;

/// One worker's live counters. Writers use relaxed atomics; figures read
/// mid-flight may be off by the requests finishing at that instant.
#[derive(Debug)]
#[repr(align(128))]
pub struct LiveStats {
    sent: AtomicU64,
    errors: AtomicU64,
    in_flight: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

impl Default for LiveStats {
    fn default() -> Self {
        LiveStats {
            sent: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl LiveStats {
    /// Counts one finished request.
    pub fn record(&self, latency_us: u64, error: bool) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.latency[bucket(latency_us)].fetch_add(1, Ordering::Relaxed);
    }

    /// Sets how many requests the worker has in flight.
    pub fn set_in_flight(&self, requests: usize) {
        self.in_flight.store(requests as u64, Ordering::Relaxed);
    }
}

/// Requests in flight over all workers, right now.
pub(crate) fn in_flight(stats: &[std::sync::Arc<LiveStats>]) -> u64 {
    stats
        .iter()
        .map(|s| s.in_flight.load(Ordering::Relaxed))
        .sum()
}

/// A point-in-time sum over all workers' counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTotals {
    /// Requests finished.
    pub sent: u64,
    /// Requests that ended in a 5xx or a network error.
    pub errors: u64,
    latency: Vec<u64>,
}

impl LiveTotals {
    /// Sums the workers' counters.
    pub fn read(stats: &[std::sync::Arc<LiveStats>]) -> Self {
        let mut totals = LiveTotals {
            sent: 0,
            errors: 0,
            latency: vec![0; BUCKETS],
        };
        for s in stats {
            totals.sent += s.sent.load(Ordering::Relaxed);
            totals.errors += s.errors.load(Ordering::Relaxed);
            for (sum, b) in totals.latency.iter_mut().zip(&s.latency) {
                *sum += b.load(Ordering::Relaxed);
            }
        }
        totals
    }

    /// The approximate latency quantile `q` (0..1) in milliseconds of the
    /// requests finished between `earlier` and `self`.
    pub fn quantile_ms_since(&self, earlier: &LiveTotals, q: f64) -> Option<f64> {
        let diffs: Vec<u64> = self
            .latency
            .iter()
            .zip(&earlier.latency)
            .map(|(now, then)| now.saturating_sub(*then))
            .collect();
        let total: u64 = diffs.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in diffs.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(upper_bound_us(i) as f64 / 1000.0);
            }
        }
        None
    }
}

impl Default for LiveTotals {
    fn default() -> Self {
        LiveTotals {
            sent: 0,
            errors: 0,
            latency: vec![0; BUCKETS],
        }
    }
}

/// The bucket of a value: its power of two and the next `SUB_BITS` bits.
fn bucket(us: u64) -> usize {
    if us < u64::from(SUB) {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros();
    let sub = (us >> (exp - SUB_BITS)) & u64::from(SUB - 1);
    (((exp - SUB_BITS + 1) * SUB) as usize + sub as usize).min(BUCKETS - 1)
}

/// The largest value that falls into `bucket`.
fn upper_bound_us(bucket: usize) -> u64 {
    let bucket = bucket as u32;
    if bucket < SUB {
        return u64::from(bucket);
    }
    let exp = bucket / SUB + SUB_BITS - 1;
    let sub = u64::from(bucket % SUB);
    let lower = (u64::from(SUB) + sub) << (exp - SUB_BITS);
    lower + (1u64 << (exp - SUB_BITS)) - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn buckets_bound_their_values() {
        for us in [
            0, 1, 3, 4, 5, 7, 8, 100, 1_000, 12_345, 1_000_000, 60_000_000,
        ] {
            let b = bucket(us);
            assert!(
                upper_bound_us(b) >= us,
                "{us} -> {b} -> {}",
                upper_bound_us(b)
            );
            assert!(
                upper_bound_us(b) as f64 <= us as f64 * 1.25 + 1.0,
                "{us} too coarse"
            );
        }
    }

    #[test]
    fn quantile_of_the_interval() {
        let stats = Arc::new(LiveStats::default());
        let start = LiveTotals::read(std::slice::from_ref(&stats));
        for us in 1..=100 {
            stats.record(us * 1000, us > 98);
        }
        let now = LiveTotals::read(std::slice::from_ref(&stats));
        assert_eq!(now.sent, 100);
        assert_eq!(now.errors, 2);
        let p95 = now.quantile_ms_since(&start, 0.95).expect("samples");
        assert!((95.0..=120.0).contains(&p95), "{p95}");
        assert_eq!(now.quantile_ms_since(&now, 0.95), None);
    }
}
