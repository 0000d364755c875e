//! One finished request, as the engine hands it to a recorder.

use crate::http::ErrorClass;

/// The measured outcome of one request. All durations are in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// The status code, or the network error class when there was no complete response.
    pub result: Result<u16, ErrorClass>,
    /// Whether the status is one the scenario declares as expected
    /// (false for network errors).
    pub expected: bool,
    /// Latency from the intended send time to the end of the response
    /// (coordinated-omission corrected).
    pub latency_us: u64,
    /// Latency from the actual send time to the end of the response.
    pub service_us: u64,
    /// Actual minus intended send time (0 in the closed model).
    pub send_lag_us: u64,
    /// Time spent inside plugins for this request (not part of the latencies).
    pub plugin_us: u64,
    /// Event-stream figures, for scenarios whose responses are event streams.
    pub sse: Option<SseSample>,
    /// Whole seconds since the start of the drill at which the request finished,
    /// for the per-second time series.
    pub second: u32,
}

/// Figures of one event-stream response, measured from the actual send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseSample {
    /// Time to the first byte of the response body (or head, if no body byte came).
    pub ttfb_us: u64,
    /// Time to the first complete event, if any arrived.
    pub first_event_us: Option<u64>,
    /// Complete events received.
    pub events: u32,
    /// Time from send to the end (or cut) of the stream.
    pub duration_us: u64,
    /// The stream was cut mid-way (after the head, before its normal end).
    pub cut: bool,
}
