//! The per-second time series: throughput, errors and p95 latency per second
//! with bounded memory; per-second detail ([`SecondStats`]: outcome counts,
//! p50/p95/p99 latency, SSE first byte and first event) for comparisons such
//! as `relhost canary`.
//!
//! Each second holds a compact log-linear histogram (16 linear sub-buckets per
//! power of two, so a bucket is at most 1/16 wide relative to its value and
//! the reported midpoint is within ~3%) of `u32` counters, stored only over
//! the range of buckets the second's latencies fell in: a few dozen buckets,
//! a few hundred bytes per second, so a long soak's series grows by little.
//! A stage keeps at most [`MAX_POINTS`] seconds; memory is allocated when a
//! second starts or its range widens, never per request.

use serde::{Deserialize, Serialize};

use super::hist::{MAX_TRACKED_US, us_to_ms};
use super::sample::Sample;
use super::summary::TimePoint;

/// The most seconds one recorder keeps (one hour). Samples that would extend
/// the series beyond this span are counted in the totals but not in the series.
pub(crate) const MAX_POINTS: usize = 3600;

/// Values below `2^PRECISION_BITS` get their own bucket.
const PRECISION_BITS: u32 = 5;
const HALF: usize = 1 << (PRECISION_BITS - 1);
/// Buckets needed for values up to `u32::MAX` µs (the highest index is below it).
#[cfg(test)]
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

/// One second of per-second detail, as [`StageMetrics::seconds`](super::StageMetrics::seconds) reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SecondStats {
    /// Seconds since the drill start.
    pub second: u32,
    /// Requests that finished in this second.
    pub requests: u64,
    /// Of those, answered 2xx.
    pub success_2xx: u64,
    /// Of those, answered 5xx.
    pub status_5xx: u64,
    /// Of those, ended in a network error.
    pub network_errors: u64,
    /// Of those, answered with a status the scenario does not expect.
    pub unknown_status: u64,
    /// Median latency from the intended send time, in ms (within ~3%).
    pub p50_ms: f64,
    /// 95th percentile latency, in ms (within ~3%).
    pub p95_ms: f64,
    /// 99th percentile latency, in ms (within ~3%).
    pub p99_ms: f64,
    /// 95th percentile SSE time to first byte, in ms, when streams finished in this second.
    pub ttfb_p95_ms: Option<f64>,
    /// 95th percentile SSE time to first event, in ms, when streams with an
    /// event finished in this second.
    pub first_event_p95_ms: Option<f64>,
}

/// Event-stream histograms of one second, allocated on its first stream.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SseSecond {
    ttfb: Buckets,
    first_event: Buckets,
}

/// One second of the series.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Second {
    requests: u32,
    errors: u32,
    success_2xx: u32,
    status_5xx: u32,
    network: u32,
    unknown: u32,
    latency: Buckets,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sse: Option<Box<SseSecond>>,
}

/// Bucket counters over the contiguous range of buckets seen so far.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Buckets {
    first: usize,
    counts: Vec<u32>,
}

impl Buckets {
    /// Widens the stored range to cover `lo..=hi`.
    fn cover(&mut self, lo: usize, hi: usize) {
        if self.counts.is_empty() {
            self.first = lo;
            self.counts = vec![0; hi - lo + 1];
            return;
        }
        if lo < self.first {
            let extra = self.first - lo;
            self.counts.splice(0..0, std::iter::repeat_n(0, extra));
            self.first = lo;
        }
        let last = self.first + self.counts.len() - 1;
        if hi > last {
            self.counts.resize(hi - self.first + 1, 0);
        }
    }

    fn bump(&mut self, idx: usize) {
        self.cover(idx, idx);
        bump(&mut self.counts[idx - self.first]);
    }

    fn add(&mut self, other: &Buckets) {
        if other.counts.is_empty() {
            return;
        }
        self.cover(other.first, other.first + other.counts.len() - 1);
        let offset = other.first - self.first;
        for (a, b) in self.counts[offset..].iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
    }

    fn quantile_us(&self, percent: u64) -> Option<f64> {
        let total: u64 = self.counts.iter().map(|&c| u64::from(c)).sum();
        if total == 0 {
            return None;
        }
        let rank = (total * percent).div_ceil(100).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Some(bucket_mid(self.first + i));
            }
        }
        Some(bucket_mid(self.first + self.counts.len() - 1))
    }
}

fn bump(counter: &mut u32) {
    *counter = counter.saturating_add(1);
}

impl Second {
    fn empty() -> Self {
        Second {
            requests: 0,
            errors: 0,
            success_2xx: 0,
            status_5xx: 0,
            network: 0,
            unknown: 0,
            latency: Buckets::default(),
            sse: None,
        }
    }

    fn count(&mut self, latency_us: u64, error: bool) {
        bump(&mut self.requests);
        if error {
            bump(&mut self.errors);
        }
        self.latency.bump(bucket_of(latency_us));
    }

    fn add(&mut self, other: &Second) {
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        self.success_2xx = self.success_2xx.saturating_add(other.success_2xx);
        self.status_5xx = self.status_5xx.saturating_add(other.status_5xx);
        self.network = self.network.saturating_add(other.network);
        self.unknown = self.unknown.saturating_add(other.unknown);
        self.latency.add(&other.latency);
        if let Some(o) = &other.sse {
            match &mut self.sse {
                Some(s) => {
                    s.ttfb.add(&o.ttfb);
                    s.first_event.add(&o.first_event);
                }
                None => self.sse = Some(o.clone()),
            }
        }
    }

    /// The p95 of this second's latencies in µs (bucket midpoint).
    fn p95_us(&self) -> f64 {
        self.latency.quantile_us(95).unwrap_or(0.0)
    }
}

/// A per-second series starting at `base` (seconds since the drill start).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawSeries")]
pub(crate) struct Series {
    base: u32,
    points: Vec<Second>,
}

/// A series as decoded, before its bounds are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeries {
    base: u32,
    points: Vec<Second>,
}

/// The last second a decoded series may reach: a week of drilling.
const MAX_DECODED_SECOND: usize = 7 * 24 * 3600;

impl TryFrom<RawSeries> for Series {
    type Error = String;

    fn try_from(raw: RawSeries) -> Result<Self, Self::Error> {
        if raw.points.len() > MAX_DECODED_SECOND
            || raw.base as usize > MAX_DECODED_SECOND - raw.points.len()
        {
            return Err(format!(
                "series: seconds {}..{} reach past a week",
                raw.base,
                raw.base as usize + raw.points.len()
            ));
        }
        let last_bucket = bucket_of(u64::from(u32::MAX));
        let fits =
            |b: &Buckets| b.first <= last_bucket + 1 && b.counts.len() <= last_bucket + 1 - b.first;
        for second in &raw.points {
            let sse = second.sse.iter().flat_map(|s| [&s.ttfb, &s.first_event]);
            if !std::iter::once(&second.latency).chain(sse).all(fits) {
                return Err(format!("series: a bucket past the last ({last_bucket})"));
            }
        }
        Ok(Series {
            base: raw.base,
            points: raw.points,
        })
    }
}

impl Series {
    /// Records one finished request by its second, latency and error flag only.
    #[cfg(test)]
    pub(crate) fn record(&mut self, second: u32, latency_us: u64, error: bool) {
        if let Some(slot) = self.slot(second) {
            slot.count(latency_us, error);
        }
    }

    /// Records one finished request (`error`: 5xx or network error).
    /// Allocates only when a new second begins or a second sees its first
    /// event stream.
    #[inline]
    pub(crate) fn record_sample(&mut self, s: &Sample, error: bool) {
        let Some(slot) = self.slot(s.second) else {
            return;
        };
        slot.count(s.latency_us, error);
        match s.result {
            Ok(code) => {
                if (200..=299).contains(&code) {
                    bump(&mut slot.success_2xx);
                } else if (500..=599).contains(&code) {
                    bump(&mut slot.status_5xx);
                }
                if !s.expected {
                    bump(&mut slot.unknown);
                }
            }
            Err(_) => bump(&mut slot.network),
        }
        if let Some(sse) = &s.sse {
            let d = slot.sse.get_or_insert_with(|| {
                Box::new(SseSecond {
                    ttfb: Buckets::default(),
                    first_event: Buckets::default(),
                })
            });
            d.ttfb.bump(bucket_of(sse.ttfb_us));
            if let Some(us) = sse.first_event_us {
                d.first_event.bump(bucket_of(us));
            }
        }
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

impl Series {
    /// Per-second detail: one entry per second that saw any request.
    pub(crate) fn seconds(&self) -> Vec<SecondStats> {
        let ms = |us: Option<f64>| us.map(us_to_ms);
        self.points
            .iter()
            .enumerate()
            .filter(|(_, p)| p.requests > 0)
            .map(|(i, p)| SecondStats {
                second: self.base + i as u32,
                requests: u64::from(p.requests),
                success_2xx: u64::from(p.success_2xx),
                status_5xx: u64::from(p.status_5xx),
                network_errors: u64::from(p.network),
                unknown_status: u64::from(p.unknown),
                p50_ms: ms(p.latency.quantile_us(50)).unwrap_or(0.0),
                p95_ms: ms(p.latency.quantile_us(95)).unwrap_or(0.0),
                p99_ms: ms(p.latency.quantile_us(99)).unwrap_or(0.0),
                ttfb_p95_ms: p.sse.as_ref().and_then(|d| ms(d.ttfb.quantile_us(95))),
                first_event_p95_ms: p
                    .sse
                    .as_ref()
                    .and_then(|d| ms(d.first_event.quantile_us(95))),
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

    fn sample(second: u32, ms: u64, result: Result<u16, crate::http::ErrorClass>) -> Sample {
        Sample {
            result,
            expected: result == Ok(200),
            latency_us: ms * 1000,
            service_us: ms * 1000,
            send_lag_us: 0,
            plugin_us: 0,
            sse: None,
            second,
        }
    }

    #[test]
    fn per_second_detail_counts_outcomes_and_percentiles() {
        let mut a = Series::default();
        for i in 1..=100u64 {
            let result = match i {
                1..=3 => Ok(503),
                4 => Err(crate::http::ErrorClass::Reset),
                5 => Ok(404),
                _ => Ok(200),
            };
            a.record_sample(&sample(7, i, result), matches!(result, Ok(503) | Err(_)));
        }
        let mut b = Series::default();
        let mut streamed = sample(7, 10, Ok(200));
        streamed.sse = Some(crate::metrics::SseSample {
            ttfb_us: 40_000,
            first_event_us: Some(80_000),
            events: 1,
            duration_us: 90_000,
            cut: false,
        });
        b.record_sample(&streamed, false);
        a.merge(&b);
        let s = a.seconds();
        assert_eq!(s.len(), 1);
        let s = s[0];
        assert_eq!(
            (
                s.second,
                s.requests,
                s.success_2xx,
                s.status_5xx,
                s.network_errors,
                s.unknown_status
            ),
            (7, 101, 96, 3, 1, 4)
        );
        assert!((s.p50_ms - 50.0).abs() < 2.0, "{}", s.p50_ms);
        assert!((s.p99_ms - 99.0).abs() < 3.5, "{}", s.p99_ms);
        assert_eq!(a.points()[0].errors, 4);
        assert!((s.ttfb_p95_ms.unwrap_or(0.0) - 40.0).abs() < 1.5);
        assert!((s.first_event_p95_ms.unwrap_or(0.0) - 80.0).abs() < 3.0);
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
