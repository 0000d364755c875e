//! [`StageMetrics`]: the per-worker, per-stage recorder on the hot path.

mod wire;

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::distribution::Distribution;
use super::hist::{self, new_histogram, percentiles_ms, round3, us_to_ms};
use super::reasons::ErrorReasons;
use super::sample::{Sample, SseSample};
use super::series::{SecondStats, Series};
use super::summary::{PluginTime, SseSummary, StageSummary};
use crate::http::{Connections, ErrorClass};

/// Lowest status code with its own counter.
const STATUS_MIN: u16 = 100;
/// Highest status code with its own counter.
const STATUS_MAX: u16 = 599;
const STATUS_SLOTS: usize = (STATUS_MAX - STATUS_MIN + 1) as usize;
const NET_CLASSES: usize = ErrorClass::ALL.len();

/// Event-stream histograms and counters, allocated on the first SSE sample.
#[derive(Debug, Clone, PartialEq)]
struct SseMetrics {
    streams: u64,
    ttfb: Histogram<u64>,
    first_event: Histogram<u64>,
    duration: Histogram<u64>,
    events: u64,
    without_events: u64,
    cut: u64,
}

impl SseMetrics {
    fn new() -> Self {
        SseMetrics {
            streams: 0,
            ttfb: new_histogram(),
            first_event: new_histogram(),
            duration: new_histogram(),
            events: 0,
            without_events: 0,
            cut: 0,
        }
    }

    #[inline]
    fn record(&mut self, s: &SseSample) {
        self.streams += 1;
        hist::record(&mut self.ttfb, s.ttfb_us);
        match s.first_event_us {
            Some(us) => hist::record(&mut self.first_event, us),
            None => self.without_events += 1,
        }
        hist::record(&mut self.duration, s.duration_us);
        self.events += u64::from(s.events);
        self.cut += u64::from(s.cut);
    }

    fn merge(&mut self, o: &SseMetrics) {
        self.streams = self.streams.saturating_add(o.streams);
        hist::add(&mut self.ttfb, &o.ttfb);
        hist::add(&mut self.first_event, &o.first_event);
        hist::add(&mut self.duration, &o.duration);
        self.events = self.events.saturating_add(o.events);
        self.without_events = self.without_events.saturating_add(o.without_events);
        self.cut = self.cut.saturating_add(o.cut);
    }

    fn summarize(&self) -> SseSummary {
        SseSummary {
            streams: self.streams,
            ttfb_ms: percentiles_ms(&self.ttfb),
            first_event_ms: percentiles_ms(&self.first_event),
            stream_duration_ms: percentiles_ms(&self.duration),
            events_total: self.events,
            events_per_stream: if self.streams == 0 {
                0.0
            } else {
                round3(self.events as f64 / self.streams as f64)
            },
            streams_without_events: self.without_events,
            streams_cut: self.cut,
        }
    }
}

/// How many requests ended in each outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes {
    /// Requests recorded.
    pub sent: u64,
    /// Answered 2xx.
    pub success_2xx: u64,
    /// Answered 5xx.
    pub status_5xx: u64,
    /// Answered with a status the scenario does not expect.
    pub unknown_status: u64,
    /// Ended in a network error.
    pub network_errors: u64,
}

/// Measurements of one stage on one worker. Each worker owns its recorder
/// (no locks); recorders of all workers (and of segment processes) merge
/// losslessly with [`StageMetrics::merge`].
///
/// Recording never allocates except when a histogram first grows past its
/// initial one-second range, a new second of the time series begins, a
/// status code outside 100..=599 is first seen, or the first event-stream
/// sample arrives.
///
/// Every request goes into the latency histograms, including those that
/// ended in a network error (their latency is the time until the failure).
///
/// Serialized (for segment reports), histograms are in HdrHistogram's
/// compressed V2 format; a decoded recorder merges as the original would.
#[derive(Debug, Clone, PartialEq)]
pub struct StageMetrics {
    sent: u64,
    statuses: Box<[u64; STATUS_SLOTS]>,
    /// Status codes outside 100..=599 (rare), as (code, count).
    odd_statuses: Vec<(u16, u64)>,
    network: [u64; NET_CLASSES],
    /// What the network errors were, in words (allocated at the first).
    reasons: Option<Box<ErrorReasons>>,
    unknown_status: u64,
    plugin_errors: u64,
    late_starts: u64,
    latency: Histogram<u64>,
    service: Histogram<u64>,
    send_lag: Histogram<u64>,
    plugin_time: Histogram<u64>,
    plugin_total_us: u64,
    sse: Option<Box<SseMetrics>>,
    connections: Connections,
    series: Series,
}

impl Default for StageMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl StageMetrics {
    /// An empty recorder.
    pub fn new() -> Self {
        StageMetrics {
            sent: 0,
            statuses: Box::new([0; STATUS_SLOTS]),
            odd_statuses: Vec::new(),
            network: [0; NET_CLASSES],
            reasons: None,
            unknown_status: 0,
            plugin_errors: 0,
            late_starts: 0,
            latency: new_histogram(),
            service: new_histogram(),
            send_lag: new_histogram(),
            plugin_time: new_histogram(),
            plugin_total_us: 0,
            sse: None,
            connections: Connections::default(),
            series: Series::default(),
        }
    }

    /// Records one finished request.
    #[inline]
    pub fn record(&mut self, s: &Sample) {
        self.sent += 1;
        let error = match s.result {
            Ok(code) => {
                if (STATUS_MIN..=STATUS_MAX).contains(&code) {
                    self.statuses[usize::from(code - STATUS_MIN)] += 1;
                } else {
                    self.record_odd_status(code);
                }
                if !s.expected {
                    self.unknown_status += 1;
                }
                (500..=599).contains(&code)
            }
            Err(class) => {
                self.network[class.index()] += 1;
                true
            }
        };
        hist::record(&mut self.latency, s.latency_us);
        hist::record(&mut self.service, s.service_us);
        hist::record(&mut self.send_lag, s.send_lag_us);
        hist::record(&mut self.plugin_time, s.plugin_us);
        self.plugin_total_us = self.plugin_total_us.saturating_add(s.plugin_us);
        if let Some(sse) = &s.sse {
            self.sse
                .get_or_insert_with(|| Box::new(SseMetrics::new()))
                .record(sse);
        }
        self.series.record_sample(s, error);
    }

    #[cold]
    fn record_odd_status(&mut self, code: u16) {
        match self.odd_statuses.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => self.odd_statuses.push((code, 1)),
        }
    }

    /// Notes what a network error recorded with [`record`](Self::record) was, in words.
    #[cold]
    pub fn error_reason(&mut self, class: ErrorClass, reason: &str) {
        self.reasons
            .get_or_insert_with(Default::default)
            .add(class, reason, 1);
    }

    /// Counts the connections a request recorded with [`record`](Self::record) opened.
    #[inline]
    pub fn opened(&mut self, opened: &Connections) {
        if opened.opened > 0 {
            self.connections.merge(opened);
        }
    }

    /// Counts a request that could not be built or judged because a plugin
    /// failed. A request that could not be built was not sent, so it is not
    /// part of the sent count; one that could not be judged was.
    #[inline]
    pub fn plugin_error(&mut self) {
        self.plugin_errors += 1;
    }

    /// Counts a request whose actual send lagged its intended time by more
    /// than the engine's tolerance (call in addition to [`record`](Self::record)).
    #[inline]
    pub fn late_start(&mut self) {
        self.late_starts += 1;
    }

    /// Per-second detail (outcome counts, latency percentiles, SSE first
    /// byte and first event): one entry per second that saw any request.
    pub fn seconds(&self) -> Vec<SecondStats> {
        self.series.seconds()
    }

    /// Requests recorded so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Every request's latency from its intended send time, in ms.
    pub fn latency(&self) -> Distribution {
        Distribution::of_histogram(&self.latency)
    }

    /// Every request's latency from its actual send time, in ms.
    pub fn service_latency(&self) -> Distribution {
        Distribution::of_histogram(&self.service)
    }

    /// Every event stream's time to first byte, in ms (empty without streams).
    pub fn ttfb(&self) -> Distribution {
        self.sse
            .as_ref()
            .map(|sse| Distribution::of_histogram(&sse.ttfb))
            .unwrap_or_default()
    }

    /// Every event stream's time to its first event, in ms.
    pub fn first_event(&self) -> Distribution {
        self.sse
            .as_ref()
            .map(|sse| Distribution::of_histogram(&sse.first_event))
            .unwrap_or_default()
    }

    /// How many requests ended in each outcome.
    pub fn outcomes(&self) -> Outcomes {
        let status = |range: std::ops::RangeInclusive<u16>| -> u64 {
            self.statuses
                [usize::from(range.start() - STATUS_MIN)..=usize::from(range.end() - STATUS_MIN)]
                .iter()
                .sum()
        };
        Outcomes {
            sent: self.sent,
            success_2xx: status(200..=299),
            status_5xx: status(500..=599),
            unknown_status: self.unknown_status,
            network_errors: self.network.iter().sum(),
        }
    }

    /// One recorder holding every measurement of `all`.
    pub fn merged<'a>(all: impl IntoIterator<Item = &'a StageMetrics>) -> StageMetrics {
        let mut merged = StageMetrics::new();
        for metrics in all {
            merged.merge(metrics);
        }
        merged
    }

    /// Adds another recorder's measurements (lossless: histograms add).
    pub fn merge(&mut self, o: &StageMetrics) {
        self.sent = self.sent.saturating_add(o.sent);
        for (a, b) in self.statuses.iter_mut().zip(o.statuses.iter()) {
            *a = a.saturating_add(*b);
        }
        for &(code, n) in &o.odd_statuses {
            match self.odd_statuses.iter_mut().find(|(c, _)| *c == code) {
                Some((_, m)) => *m = m.saturating_add(n),
                None => self.odd_statuses.push((code, n)),
            }
        }
        for (a, b) in self.network.iter_mut().zip(o.network.iter()) {
            *a = a.saturating_add(*b);
        }
        if let Some(other) = &o.reasons {
            self.reasons
                .get_or_insert_with(Default::default)
                .merge(other);
        }
        self.unknown_status = self.unknown_status.saturating_add(o.unknown_status);
        self.plugin_errors = self.plugin_errors.saturating_add(o.plugin_errors);
        self.late_starts = self.late_starts.saturating_add(o.late_starts);
        hist::add(&mut self.latency, &o.latency);
        hist::add(&mut self.service, &o.service);
        hist::add(&mut self.send_lag, &o.send_lag);
        hist::add(&mut self.plugin_time, &o.plugin_time);
        self.plugin_total_us = self.plugin_total_us.saturating_add(o.plugin_total_us);
        self.connections.merge(&o.connections);
        if let Some(other) = &o.sse {
            match &mut self.sse {
                Some(mine) => mine.merge(other),
                None => self.sse = Some(other.clone()),
            }
        }
        self.series.merge(&o.series);
    }

    /// The report view, with throughput over `elapsed`.
    pub fn summarize(&self, elapsed: Duration) -> StageSummary {
        let mut status_counts = BTreeMap::new();
        let mut n_5xx = 0u64;
        let mut n_2xx = 0u64;
        let statuses = self
            .statuses
            .iter()
            .enumerate()
            .map(|(i, &n)| (STATUS_MIN + i as u16, n))
            .chain(self.odd_statuses.iter().copied());
        for (code, n) in statuses.filter(|&(_, n)| n > 0) {
            status_counts.insert(code.to_string(), n);
            match code {
                200..=299 => n_2xx += n,
                500..=599 => n_5xx += n,
                _ => {}
            }
        }
        let network_errors: BTreeMap<String, u64> = ErrorClass::ALL
            .iter()
            .map(|c| (c.as_str().to_owned(), self.network[c.index()]))
            .filter(|&(_, n)| n > 0)
            .collect();
        let n_net: u64 = self.network.iter().sum();
        // Rates keep 6 decimals (one request in a million): readable, and
        // they read back from JSON bit-exact.
        let rate = |n: u64| {
            if self.sent == 0 {
                0.0
            } else {
                ((n as f64 / self.sent as f64) * 1e6).round() / 1e6
            }
        };
        let secs = elapsed.as_secs_f64();
        StageSummary {
            requests: self.sent,
            elapsed_s: round3(secs),
            throughput_rps: if secs > 0.0 {
                round3(self.sent as f64 / secs)
            } else {
                0.0
            },
            status_counts,
            network_errors,
            network_error_reasons: self
                .reasons
                .as_ref()
                .map(|r| r.summarize())
                .unwrap_or_default(),
            unknown_status: self.unknown_status,
            plugin_errors: self.plugin_errors,
            late_starts: self.late_starts,
            latency_ms: percentiles_ms(&self.latency),
            service_latency_ms: percentiles_ms(&self.service),
            send_lag_ms: percentiles_ms(&self.send_lag),
            plugin_time_us: PluginTime {
                mean: if self.plugin_time.is_empty() {
                    0.0
                } else {
                    round3(self.plugin_time.mean())
                },
                p99: self.plugin_time.value_at_quantile(0.99) as f64,
                total_ms: us_to_ms(self.plugin_total_us as f64),
            },
            rate_5xx: rate(n_5xx),
            network_error_rate: rate(n_net),
            unknown_status_rate: rate(self.unknown_status),
            success_2xx_rate: rate(n_2xx),
            sse: self.sse.as_ref().map(|s| s.summarize()),
            connections: self.connections,
            timeseries: self.series.points(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(result: Result<u16, ErrorClass>, latency_ms: u64, second: u32) -> Sample {
        Sample {
            result,
            expected: matches!(result, Ok(200 | 202)),
            latency_us: latency_ms * 1000,
            service_us: latency_ms * 900,
            send_lag_us: latency_ms * 100,
            plugin_us: 3,
            sse: None,
            second,
        }
    }

    /// A mixed, deterministic workload: statuses, odd statuses and network errors.
    fn feed(m: &mut StageMetrics, n: u64, salt: u64) {
        for i in 0..n {
            let r = match (i + salt) % 20 {
                0 => Err(ErrorClass::Reset),
                1 => Err(ErrorClass::RequestTimeout),
                2 => Ok(503),
                3 => Ok(429),
                4 => Ok(700),
                5 | 6 => Ok(202),
                _ => Ok(200),
            };
            m.record(&sample(r, 1 + (i * 7 + salt) % 300, (i / 50) as u32));
        }
    }

    #[test]
    fn sent_equals_statuses_plus_network_errors() {
        let mut m = StageMetrics::new();
        feed(&mut m, 1000, 0);
        let s = m.summarize(Duration::from_secs(10));
        assert_eq!(s.requests, 1000);
        assert_eq!(s.requests, s.status_total() + s.network_error_total());
        assert_eq!(s.network_errors.get("reset"), Some(&50));
        assert_eq!(s.network_errors.get("request_timeout"), Some(&50));
        assert!(
            !s.network_errors.contains_key("dns"),
            "only non-zero classes"
        );
        assert_eq!(s.status_counts.get("700"), Some(&50));
        assert_eq!(s.status_counts.get("503"), Some(&50));
        assert_eq!(s.throughput_rps, 100.0);
        assert_eq!(s.rate_5xx, 0.05);
        assert_eq!(s.network_error_rate, 0.1);
        assert_eq!(s.success_2xx_rate, 0.75);
        // 503, 429, 700 are not expected.
        assert_eq!(s.unknown_status, 150);
        assert_eq!(s.unknown_status_rate, 0.15);
        assert!(s.sse.is_none());
        let series_total: u64 = s.timeseries.iter().map(|p| p.requests).sum();
        assert_eq!(series_total, 1000);
        assert_eq!(s.timeseries.len(), 20);
        let series_errors: u64 = s.timeseries.iter().map(|p| p.errors).sum();
        assert_eq!(series_errors, 150, "5xx + network errors");
    }

    #[test]
    fn empty_recorder_has_zero_rates() {
        let s = StageMetrics::new().summarize(Duration::ZERO);
        assert_eq!(s.requests, 0);
        assert_eq!(s.throughput_rps, 0.0);
        assert_eq!(s.rate_5xx, 0.0);
        assert_eq!(s.success_2xx_rate, 0.0);
        assert_eq!(s.latency_ms.p95, 0.0);
        assert!(s.timeseries.is_empty());
    }

    #[test]
    fn percentiles_in_milliseconds() {
        let mut m = StageMetrics::new();
        for ms in 1..=1000u64 {
            m.record(&sample(Ok(200), ms, 0));
        }
        let s = m.summarize(Duration::from_secs(1));
        let p = s.latency_ms;
        assert!((p.p50 - 500.0).abs() <= 0.5, "{p:?}");
        assert!((p.p95 - 950.0).abs() <= 1.0, "{p:?}");
        assert!((p.p99 - 990.0).abs() <= 1.0, "{p:?}");
        assert!((p.max - 1000.0).abs() <= 1.0, "{p:?}");
        assert!((p.mean - 500.5).abs() <= 0.5, "{p:?}");
        assert!(p.p999 >= p.p99 && p.max >= p.p999);
        assert_eq!(s.plugin_time_us.total_ms, 3.0);
        assert_eq!(s.plugin_time_us.p99, 3.0);
    }

    #[test]
    fn merge_is_lossless() {
        let mut whole = StageMetrics::new();
        feed(&mut whole, 600, 0);
        feed(&mut whole, 400, 7);
        let mut a = StageMetrics::new();
        feed(&mut a, 600, 0);
        let mut b = StageMetrics::new();
        feed(&mut b, 400, 7);
        b.plugin_error();
        b.late_start();
        a.merge(&b);
        let merged = a.summarize(Duration::from_secs(5));
        let mut expected = whole.summarize(Duration::from_secs(5));
        expected.plugin_errors = 1;
        expected.late_starts = 1;
        assert_eq!(merged, expected);
        assert_eq!(
            merged.requests,
            merged.status_total() + merged.network_error_total()
        );
    }

    #[test]
    fn sse_figures() {
        let mut m = StageMetrics::new();
        for i in 0..10u64 {
            let mut s = sample(Ok(200), 2000, 1);
            s.sse = Some(SseSample {
                ttfb_us: 50_000 + i * 1000,
                first_event_us: (i != 0).then_some(80_000),
                events: 20,
                duration_us: 2_000_000,
                cut: i == 9,
            });
            m.record(&s);
        }
        let mut other = StageMetrics::new();
        other.merge(&m);
        let sse = other.summarize(Duration::from_secs(2)).sse.expect("sse");
        assert_eq!(sse.streams, 10);
        assert_eq!(sse.events_total, 200);
        assert_eq!(sse.events_per_stream, 20.0);
        assert_eq!(sse.streams_without_events, 1);
        assert_eq!(sse.streams_cut, 1);
        assert!((sse.first_event_ms.p50 - 80.0).abs() < 0.1);
        assert!((sse.ttfb_ms.max - 59.0).abs() < 0.1);
        assert!((sse.stream_duration_ms.p95 - 2000.0).abs() < 2.5, "{sse:?}");
    }

    #[test]
    fn huge_values_are_clamped_not_lost() {
        let mut m = StageMetrics::new();
        m.record(&Sample {
            latency_us: u64::MAX,
            ..sample(Ok(200), 1, 0)
        });
        let s = m.summarize(Duration::from_secs(1));
        assert_eq!(s.requests, 1);
        assert!(
            (s.latency_ms.max - 3_600_000.0).abs() / 3_600_000.0 < 0.001,
            "{:?}",
            s.latency_ms
        );
    }
}
