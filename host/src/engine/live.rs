//! Live figures for the progress display and the live outputs: each
//! worker owns its own counters (no cache line shared between workers); a
//! reader sums them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::http::ErrorClass;

/// Lowest status code with its own counter.
const STATUS_MIN: u16 = 100;
/// Status codes with their own counter (100 to 599).
const STATUS_SLOTS: usize = 500;

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
    status: [AtomicU64; STATUS_SLOTS],
    network: [AtomicU64; ErrorClass::ALL.len()],
}

impl Default for LiveStats {
    fn default() -> Self {
        LiveStats {
            sent: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            status: std::array::from_fn(|_| AtomicU64::new(0)),
            network: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl LiveStats {
    /// Counts one finished request: its status, or its network error
    /// class, and its (corrected) latency. A 5xx or a network error counts
    /// as an error.
    pub fn record(&self, latency_us: u64, result: Result<u16, ErrorClass>) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let error = match result {
            Ok(status) => {
                if let Some(slot) = status
                    .checked_sub(STATUS_MIN)
                    .and_then(|i| self.status.get(usize::from(i)))
                {
                    slot.fetch_add(1, Ordering::Relaxed);
                }
                (500..=599).contains(&status)
            }
            Err(class) => {
                self.network[class.index()].fetch_add(1, Ordering::Relaxed);
                true
            }
        };
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
pub fn in_flight(stats: &[std::sync::Arc<LiveStats>]) -> u64 {
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
    status: Vec<u64>,
    network: Vec<u64>,
}

impl LiveTotals {
    /// Sums the workers' counters.
    pub fn read(stats: &[std::sync::Arc<LiveStats>]) -> Self {
        let mut totals = LiveTotals::default();
        let add = |sums: &mut [u64], counters: &[AtomicU64]| {
            for (sum, c) in sums.iter_mut().zip(counters) {
                *sum += c.load(Ordering::Relaxed);
            }
        };
        for s in stats {
            totals.sent += s.sent.load(Ordering::Relaxed);
            totals.errors += s.errors.load(Ordering::Relaxed);
            add(&mut totals.latency, &s.latency);
            add(&mut totals.status, &s.status);
            add(&mut totals.network, &s.network);
        }
        totals
    }

    /// Requests per status code, codes with none left out.
    pub fn statuses(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        (STATUS_MIN..)
            .zip(&self.status)
            .filter(|(_, n)| **n > 0)
            .map(|(code, n)| (code, *n))
    }

    /// Requests per network error class, classes with none left out.
    pub fn network_errors(&self) -> impl Iterator<Item = (ErrorClass, u64)> + '_ {
        ErrorClass::ALL
            .iter()
            .zip(&self.network)
            .filter(|(_, n)| **n > 0)
            .map(|(class, n)| (*class, *n))
    }

    /// `self - earlier`, counter by counter (the figures of an interval).
    pub fn since(&self, earlier: &LiveTotals) -> LiveTotals {
        let diff = |a: &[u64], b: &[u64]| -> Vec<u64> {
            a.iter().zip(b).map(|(x, y)| x.saturating_sub(*y)).collect()
        };
        LiveTotals {
            sent: self.sent.saturating_sub(earlier.sent),
            errors: self.errors.saturating_sub(earlier.errors),
            latency: diff(&self.latency, &earlier.latency),
            status: diff(&self.status, &earlier.status),
            network: diff(&self.network, &earlier.network),
        }
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
            status: vec![0; STATUS_SLOTS],
            network: vec![0; ErrorClass::ALL.len()],
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
            let result = match us {
                100 => Err(ErrorClass::Reset),
                99 => Ok(503),
                _ => Ok(200),
            };
            stats.record(us * 1000, result);
        }
        let now = LiveTotals::read(std::slice::from_ref(&stats));
        assert_eq!(now.sent, 100);
        assert_eq!(now.errors, 2);
        assert_eq!(now.statuses().collect::<Vec<_>>(), [(200, 98), (503, 1)]);
        assert_eq!(
            now.network_errors().collect::<Vec<_>>(),
            [(ErrorClass::Reset, 1)]
        );
        assert_eq!(now.since(&start).sent, 100);
        assert_eq!(now.since(&now).statuses().count(), 0);
        let p95 = now.quantile_ms_since(&start, 0.95).expect("samples");
        assert!((95.0..=120.0).contains(&p95), "{p95}");
        assert_eq!(now.quantile_ms_since(&now, 0.95), None);
    }
}
