//! The report view of a recorder: counts, rates, percentiles in milliseconds
//! and the per-second series, ready to serialize.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::reasons::ReasonCount;
use crate::http::Connections;

/// Latency percentiles in milliseconds, rounded to 3 decimals (all 0 when
/// nothing was recorded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// Time spent inside plugins, reported apart from target latency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginTime {
    /// Mean per request, in microseconds.
    pub mean: f64,
    /// 99th percentile per request, in microseconds.
    pub p99: f64,
    /// Sum over all requests, in milliseconds.
    pub total_ms: f64,
}

/// Event-stream (SSE) figures, measured from the actual send time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SseSummary {
    /// Responses read as event streams.
    pub streams: u64,
    /// Time to the first byte of the body.
    pub ttfb_ms: Percentiles,
    /// Time to the first complete event (streams that had one).
    pub first_event_ms: Percentiles,
    /// Time from send to the end (or cut) of the stream.
    pub stream_duration_ms: Percentiles,
    /// Complete events received over all streams.
    pub events_total: u64,
    /// Mean events per stream.
    pub events_per_stream: f64,
    /// Streams that ended without a single complete event.
    pub streams_without_events: u64,
    /// Streams cut mid-way.
    pub streams_cut: u64,
}

/// One second of the time series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimePoint {
    /// Seconds since the drill start.
    pub second: u32,
    /// Requests that finished in this second.
    pub requests: u64,
    /// Of those, 5xx responses and network errors.
    pub errors: u64,
    /// 95th percentile latency (from the intended send time) in this second,
    /// in milliseconds (log-bucketed, within ~3%).
    pub p95_ms: f64,
}

/// Everything a report says about one stage (or a scenario's totals).
///
/// Invariant: `requests == sum(status_counts) + sum(network_errors)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// Requests sent (each ends in exactly one status or network error class).
    pub requests: u64,
    /// Wall-clock seconds the stage (or scenario) ran.
    pub elapsed_s: f64,
    /// `requests / elapsed_s` (0 when nothing ran).
    pub throughput_rps: f64,
    /// Status code (as a string, e.g. `"200"`) to count.
    pub status_counts: BTreeMap<String, u64>,
    /// Network error class (e.g. `"reset"`) to count; only non-zero classes.
    pub network_errors: BTreeMap<String, u64>,
    /// Per network error class, its most frequent reasons in words.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub network_error_reasons: BTreeMap<String, Vec<ReasonCount>>,
    /// Responses with a status the scenario does not declare as expected.
    pub unknown_status: u64,
    /// Requests that could not be built or judged because a plugin failed
    /// (not sent, so not part of `requests`).
    pub plugin_errors: u64,
    /// Requests whose actual send lagged the intended time beyond the
    /// engine's tolerance.
    pub late_starts: u64,
    /// Latency from the intended send time (coordinated-omission corrected).
    pub latency_ms: Percentiles,
    /// Latency from the actual send time.
    pub service_latency_ms: Percentiles,
    /// Actual minus intended send time.
    pub send_lag_ms: Percentiles,
    /// Time spent in plugins.
    pub plugin_time_us: PluginTime,
    /// Share of requests answered 5xx (0 when none were sent).
    pub rate_5xx: f64,
    /// Share of requests that ended in a network error.
    pub network_error_rate: f64,
    /// Share of requests answered with a status the scenario does not expect.
    pub unknown_status_rate: f64,
    /// Share of requests answered 2xx.
    pub success_2xx_rate: f64,
    /// Event-stream figures, present when any response was an event stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<SseSummary>,
    /// Connections opened (absent when none were).
    #[serde(default, skip_serializing_if = "Connections::is_empty")]
    pub connections: Connections,
    /// Per-second series (seconds since the drill start); may be omitted in
    /// reports that carry it elsewhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeseries: Vec<TimePoint>,
}

impl StageSummary {
    /// Sum of all status counts.
    pub fn status_total(&self) -> u64 {
        self.status_counts.values().sum()
    }

    /// Sum of all network error counts.
    pub fn network_error_total(&self) -> u64 {
        self.network_errors.values().sum()
    }
}
