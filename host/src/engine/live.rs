//! Live figures for the progress display and the live outputs: each
//! worker owns its own counters (no cache line shared between workers); a
//! reader sums them.
//!
//! Only the worker writes its counters, so a count is a relaxed load and
//! store (no locked instruction on the hot path); readers may see a figure
//! one request behind.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::http::ErrorClass;
use crate::metrics::Sample;

/// Lowest status code with its own counter.
const STATUS_MIN: u16 = 100;
/// Status codes with their own counter (100 to 599), and one more slot for
/// any other code.
const STATUS_SLOTS: usize = 501;
/// The slot of codes outside 100 to 599.
const OTHER_STATUS: usize = STATUS_SLOTS - 1;
/// The slots of 5xx codes.
const SLOTS_5XX: std::ops::Range<usize> = 400..500;
/// Bits of precision below each power of two (2 bits: within 25%).
const SUB_BITS: u32 = 2;
/// Sub-buckets per power of two.
const SUB: u32 = 1 << SUB_BITS;
/// Buckets: powers of two of microseconds up to ~1.2 hours.
const BUCKETS: usize = 32 * SUB as usize;

/// Adds `n` to a counter only this worker writes.
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// Counters of one worker in fixed-size arrays, one per kind of figure.
#[derive(Debug)]
struct Counters<const N: usize>([AtomicU64; N]);

impl<const N: usize> Default for Counters<N> {
    fn default() -> Self {
        Counters(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl<const N: usize> Counters<N> {
    #[inline]
    fn bump(&self, i: usize) {
        if let Some(c) = self.0.get(i) {
            bump(c, 1);
        }
    }

    fn add_to(&self, sums: &mut [u64]) {
        for (sum, c) in sums.iter_mut().zip(&self.0) {
            *sum += c.load(Ordering::Relaxed);
        }
    }
}

/// One worker's live counters.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct LiveStats {
    in_flight: AtomicU64,
    plugin_errors: AtomicU64,
    plugin_us: AtomicU64,
    streams: AtomicU64,
    events: AtomicU64,
    cut: AtomicU64,
    status: Counters<STATUS_SLOTS>,
    network: Counters<{ ErrorClass::ALL.len() }>,
    latency: Counters<BUCKETS>,
    service: Counters<BUCKETS>,
    send_lag: Counters<BUCKETS>,
    first_byte: Counters<BUCKETS>,
    first_event: Counters<BUCKETS>,
}

impl LiveStats {
    /// Counts one finished request: its status or network error class
    /// (requests and errors are their sums), its latencies, send lag and
    /// plugin time, and its event-stream figures.
    #[inline]
    pub fn record(&self, sample: &Sample) {
        match sample.result {
            Ok(status) => {
                let slot = usize::from(status.wrapping_sub(STATUS_MIN)).min(OTHER_STATUS);
                self.status.bump(slot);
            }
            Err(class) => self.network.bump(class.index()),
        }
        self.latency.bump(bucket(sample.latency_us));
        self.service.bump(bucket(sample.service_us));
        self.send_lag.bump(bucket(sample.send_lag_us));
        if sample.plugin_us > 0 {
            bump(&self.plugin_us, sample.plugin_us);
        }
        if let Some(sse) = &sample.sse {
            bump(&self.streams, 1);
            bump(&self.events, u64::from(sse.events));
            if sse.cut {
                bump(&self.cut, 1);
            }
            self.first_byte.bump(bucket(sse.ttfb_us));
            if let Some(us) = sse.first_event_us {
                self.first_event.bump(bucket(us));
            }
        }
    }

    /// Counts a request a plugin failed to build or judge.
    pub fn plugin_error(&self) {
        bump(&self.plugin_errors, 1);
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

/// Counts per bucket of a latency-like figure, summed over workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveBuckets(Vec<u64>);

impl Default for LiveBuckets {
    fn default() -> Self {
        LiveBuckets(vec![0; BUCKETS])
    }
}

impl LiveBuckets {
    /// The approximate quantile `q` (0..1) in milliseconds (each bucket's
    /// upper bound, within 25%); `None` when empty.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total: u64 = self.0.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.0.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(upper_bound_us(i) as f64 / 1000.0);
            }
        }
        None
    }

    fn since(&self, earlier: &LiveBuckets) -> LiveBuckets {
        LiveBuckets(diff(&self.0, &earlier.0))
    }
}

fn diff(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter().zip(b).map(|(x, y)| x.saturating_sub(*y)).collect()
}

/// A point-in-time sum over all workers' counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTotals {
    /// Requests finished.
    pub sent: u64,
    /// Requests that ended in a 5xx or a network error.
    pub errors: u64,
    /// Requests a plugin failed to build or judge.
    pub plugin_errors: u64,
    /// Microseconds spent in plugins.
    pub plugin_us: u64,
    /// Event streams finished.
    pub streams: u64,
    /// Events received.
    pub events: u64,
    /// Event streams cut before their end.
    pub cut: u64,
    /// Latency from the intended send time.
    pub latency: LiveBuckets,
    /// Latency from the actual send time.
    pub service: LiveBuckets,
    /// Actual minus intended send time.
    pub send_lag: LiveBuckets,
    /// Event streams' time to their first byte.
    pub first_byte: LiveBuckets,
    /// Event streams' time to their first event.
    pub first_event: LiveBuckets,
    status: Vec<u64>,
    network: Vec<u64>,
}

impl Default for LiveTotals {
    fn default() -> Self {
        LiveTotals {
            sent: 0,
            errors: 0,
            plugin_errors: 0,
            plugin_us: 0,
            streams: 0,
            events: 0,
            cut: 0,
            latency: LiveBuckets::default(),
            service: LiveBuckets::default(),
            send_lag: LiveBuckets::default(),
            first_byte: LiveBuckets::default(),
            first_event: LiveBuckets::default(),
            status: vec![0; STATUS_SLOTS],
            network: vec![0; ErrorClass::ALL.len()],
        }
    }
}

impl LiveTotals {
    /// Sums the workers' counters.
    pub fn read(stats: &[std::sync::Arc<LiveStats>]) -> Self {
        let mut t = LiveTotals::default();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for s in stats {
            t.plugin_errors += load(&s.plugin_errors);
            t.plugin_us += load(&s.plugin_us);
            t.streams += load(&s.streams);
            t.events += load(&s.events);
            t.cut += load(&s.cut);
            s.latency.add_to(&mut t.latency.0);
            s.service.add_to(&mut t.service.0);
            s.send_lag.add_to(&mut t.send_lag.0);
            s.first_byte.add_to(&mut t.first_byte.0);
            s.first_event.add_to(&mut t.first_event.0);
            s.status.add_to(&mut t.status);
            s.network.add_to(&mut t.network);
        }
        let network: u64 = t.network.iter().sum();
        t.sent = t.status.iter().sum::<u64>() + network;
        t.errors = t.status[SLOTS_5XX].iter().sum::<u64>() + network;
        t
    }

    /// Requests per status code from 100 to 599, codes with none left out
    /// (another code counts in `sent` only).
    pub fn statuses(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        (STATUS_MIN..)
            .zip(&self.status[..OTHER_STATUS])
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
        LiveTotals {
            sent: self.sent.saturating_sub(earlier.sent),
            errors: self.errors.saturating_sub(earlier.errors),
            plugin_errors: self.plugin_errors.saturating_sub(earlier.plugin_errors),
            plugin_us: self.plugin_us.saturating_sub(earlier.plugin_us),
            streams: self.streams.saturating_sub(earlier.streams),
            events: self.events.saturating_sub(earlier.events),
            cut: self.cut.saturating_sub(earlier.cut),
            latency: self.latency.since(&earlier.latency),
            service: self.service.since(&earlier.service),
            send_lag: self.send_lag.since(&earlier.send_lag),
            first_byte: self.first_byte.since(&earlier.first_byte),
            first_event: self.first_event.since(&earlier.first_event),
            status: diff(&self.status, &earlier.status),
            network: diff(&self.network, &earlier.network),
        }
    }

    /// The approximate latency quantile `q` (0..1) in milliseconds of the
    /// requests finished between `earlier` and `self`.
    pub fn quantile_ms_since(&self, earlier: &LiveTotals, q: f64) -> Option<f64> {
        self.latency.since(&earlier.latency).quantile_ms(q)
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
    use crate::metrics::SseSample;
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

    fn sample(ms: u64, result: Result<u16, ErrorClass>) -> Sample {
        Sample {
            result,
            expected: true,
            latency_us: ms * 1000,
            service_us: ms * 500,
            send_lag_us: 100,
            plugin_us: 3,
            sse: Some(SseSample {
                ttfb_us: 2000,
                first_event_us: Some(4000),
                events: 2,
                duration_us: ms * 500,
                cut: ms == 100,
            }),
            second: 0,
        }
    }

    #[test]
    fn every_figure_adds_up_and_quantiles_cover_the_interval() {
        let stats = Arc::new(LiveStats::default());
        let start = LiveTotals::read(std::slice::from_ref(&stats));
        for ms in 1..=100 {
            let result = match ms {
                100 => Err(ErrorClass::Reset),
                99 => Ok(503),
                _ => Ok(200),
            };
            stats.record(&sample(ms, result));
        }
        stats.plugin_error();
        let now = LiveTotals::read(std::slice::from_ref(&stats));
        assert_eq!((now.sent, now.errors, now.plugin_errors), (100, 2, 1));
        assert_eq!(
            (now.streams, now.events, now.cut, now.plugin_us),
            (100, 200, 1, 300)
        );
        assert_eq!(now.statuses().collect::<Vec<_>>(), [(200, 98), (503, 1)]);
        assert_eq!(
            now.network_errors().collect::<Vec<_>>(),
            [(ErrorClass::Reset, 1)]
        );
        let p95 = now.quantile_ms_since(&start, 0.95).expect("samples");
        assert!((95.0..=120.0).contains(&p95), "{p95}");
        let service = now.service.quantile_ms(0.95).expect("samples");
        assert!((47.5..=60.0).contains(&service), "{service}");
        assert!(
            now.first_event
                .quantile_ms(0.5)
                .is_some_and(|ms| (4.0..=5.0).contains(&ms))
        );
        assert_eq!(now.quantile_ms_since(&now, 0.95), None);
        assert_eq!(now.since(&now).statuses().count(), 0);
        assert_eq!(now.since(&start).sent, 100);
        stats.record(&sample(1, Ok(700)));
        let odd = LiveTotals::read(std::slice::from_ref(&stats));
        assert_eq!((odd.sent, odd.statuses().count()), (101, 2));
    }
}
