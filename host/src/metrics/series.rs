//! The per-second time series: throughput, errors and p95 latency per second
//! with bounded memory.
//!
//! Each second holds a compact log-linear histogram (16 linear sub-buckets per
//! power of two, so a bucket is at most 1/16 wide relative to its value and
//! the reported midpoint is within ~3%) of `u32` counters: 464 buckets, under
//! 2 KiB per second. A stage keeps at most [`MAX_POINTS`] seconds; memory is
//! allocated once per new second, never per request.

use super::hist::{MAX_TRACKED_US, us_to_ms};
use super::summary::TimePoint;

/// The most seconds one recorder keeps (one hour). Samples that would extend
/// the series beyond this span are counted in the totals but not in the series.
pub(crate) const MAX_POINTS: usize = 3600;

/// Values below `2^PRECISION_BITS` get their own bucket.
const PRECISION_BITS: u32 = 5;
const HALF: usize = 1 << (PRECISION_BITS - 1);
/// Buckets needed for values up to `u32::MAX` µs.
const BUCKETS: usize = HALF * (33 - PRECISION_BITS as usize) + HALF;

/// The bucket index of a value (µs, clamped to `u32`).
#[inline]
fn bucket_of(v: u64) -> usize {
    let v = v.min(MAX_TRACKED_US).min(u64::from(u32::MAX));
    if v < (1 << PRECISION_BITS) {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    let shift = exp + 1 - PRECISION_BITS;
    let mantissa = (v >> shift) as usize; // in [HALF, 2 * HALF)
    HALF * (exp + 2 - PRECISION_BITS) as usize + (mantissa - HALF)
}

/// The midpoint (µs) of the values a bucket covers.
fn bucket_mid(idx: usize) -> f64 {
    if idx < (1 << PRECISION_BITS) {
        return idx as f64;
    }
    let exp = (idx / HALF) as u32 + PRECISION_BITS - 2;
    let mantissa = (idx % HALF + HALF) as u64;
    let shift = exp + 1 - PRECISION_BITS;
    let low = mantissa << shift;
    let width = 1u64 << shift;
    low as f64 + (width as f64 - 1.0) / 2.0
}

/// One second of the series.
#[derive(Clone)]
struct Second {
    requests: u32,
    errors: u32,
    latency: [u32; BUCKETS],
}

impl Second {
    fn empty() -> Self {
        Second {
            requests: 0,
            errors: 0,
            latency: [0; BUCKETS],
        }
    }

    fn add(&mut self, other: &Second) {
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        for (a, b) in self.latency.iter_mut().zip(other.latency.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    /// The p95 of this second's latencies in µs (bucket midpoint).
    fn p95_us(&self) -> f64 {
        let total: u64 = self.latency.iter().map(|&c| u64::from(c)).sum();
        if total == 0 {
            return 0.0;
        }
        let rank = (total * 95).div_ceil(100).max(1);
        let mut seen = 0u64;
        for (idx, &c) in self.latency.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return bucket_mid(idx);
            }
        }
        bucket_mid(BUCKETS - 1)
    }
}

/// A per-second series starting at `base` (seconds since the drill start).
#[derive(Clone, Default)]
pub(crate) struct Series {
    base: u32,
    points: Vec<Second>,
}

impl Series {
    /// Records one finished request. Allocates only when a new second begins.
    #[inline]
    pub(crate) fn record(&mut self, second: u32, latency_us: u64, error: bool) {
        let Some(slot) = self.slot(second) else {
            return;
        };
        slot.requests = slot.requests.saturating_add(1);
        if error {
            slot.errors = slot.errors.saturating_add(1);
        }
        let b = &mut slot.latency[bucket_of(latency_us)];
        *b = b.saturating_add(1);
    }

    /// The slot for `second`, creating it (and any gap) when the span stays
    /// within [`MAX_POINTS`].
    fn slot(&mut self, second: u32) -> Option<&mut Second> {
        if self.points.is_empty() {
            self.base = second;
            self.points.push(Second::empty());
            return self.points.last_mut();
        }
        if second < self.base {
            // A request that finished in an earlier second was recorded late;
            // rare, so shifting is acceptable.
            let extra = (self.base - second) as usize;
            if extra + self.points.len() > MAX_POINTS {
                return None;
            }
            self.points
                .splice(0..0, std::iter::repeat_n(Second::empty(), extra));
            self.base = second;
            return self.points.first_mut();
        }
        let idx = (second - self.base) as usize;
        if idx >= MAX_POINTS {
            return None;
        }
        if idx >= self.points.len() {
            self.points.resize(idx + 1, Second::empty());
        }
        self.points.get_mut(idx)
    }

    /// Adds another series, aligning seconds. Merged series may span more
    /// than [`MAX_POINTS`] (a scenario's totals over several stages).
    pub(crate) fn merge(&mut self, other: &Series) {
        if other.points.is_empty() {
            return;
        }
        if self.points.is_empty() {
            *self = other.clone();
            return;
        }
        let base = self.base.min(other.base);
        let end =
            (self.base as usize + self.points.len()).max(other.base as usize + other.points.len());
        if base < self.base {
            let extra = (self.base - base) as usize;
            self.points
                .splice(0..0, std::iter::repeat_n(Second::empty(), extra));
            self.base = base;
        }
        self.points.resize(end - base as usize, Second::empty());
        let offset = (other.base - base) as usize;
        for (i, p) in other.points.iter().enumerate() {
            self.points[offset + i].add(p);
        }
    }

    /// The report view: one point per second that saw any request.
    pub(crate) fn points(&self) -> Vec<TimePoint> {
        self.points
            .iter()
            .enumerate()
            .filter(|(_, p)| p.requests > 0)
            .map(|(i, p)| TimePoint {
                second: self.base + i as u32,
                requests: u64::from(p.requests),
                errors: u64::from(p.errors),
                p95_ms: us_to_ms(p.p95_us()),
            })
            .collect()
    }
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("base", &self.base)
            .field("seconds", &self.points.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in (0..5_000_000u64).step_by(7) {
            let b = bucket_of(v);
            assert!(b >= last, "bucket order at {v}");
            assert!(b < BUCKETS);
            last = b;
            let mid = bucket_mid(b);
            let err = (mid - v as f64).abs() / (v.max(1) as f64);
            assert!(err <= 0.04, "value {v} mid {mid} err {err}");
        }
        assert_eq!(bucket_of(u64::MAX), bucket_of(MAX_TRACKED_US));
    }

    #[test]
    fn p95_per_second() {
        let mut s = Series::default();
        for i in 1..=100u64 {
            s.record(3, i * 1000, i > 98);
        }
        s.record(5, 2000, false);
        let pts = s.points();
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0].second, 3);
        assert_eq!(pts[0].requests, 100);
        assert_eq!(pts[0].errors, 2);
        assert!((pts[0].p95_ms - 95.0).abs() < 3.0, "{}", pts[0].p95_ms);
        assert_eq!(pts[1].second, 5);
    }

    #[test]
    fn bounded_and_late_samples() {
        let mut s = Series::default();
        s.record(10, 1, false);
        s.record(9, 1, false);
        s.record(10 + MAX_POINTS as u32, 1, false); // beyond the cap: dropped
        assert_eq!(s.points.len(), 2);
        let pts = s.points();
        assert_eq!(pts[0].second, 9);
        assert_eq!(pts.iter().map(|p| p.requests).sum::<u64>(), 2);
    }

    #[test]
    fn merge_aligns_seconds() {
        let mut a = Series::default();
        a.record(5, 1000, false);
        let mut b = Series::default();
        b.record(2, 1000, true);
        b.record(5, 1000, false);
        a.merge(&b);
        let pts = a.points();
        assert_eq!(
            pts.iter()
                .map(|p| (p.second, p.requests, p.errors))
                .collect::<Vec<_>>(),
            vec![(2, 1, 1), (5, 2, 0)]
        );
    }
}
