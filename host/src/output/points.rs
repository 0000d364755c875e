//! The figures an output exports, as named points with labels: built from
//! the workers' live counters while a stage runs, and from the report's
//! exact stage summaries at the end.

use super::histogram::ExpHistogram;
use crate::engine::{LiveBuckets, LiveTotals};
use crate::metrics::{Percentiles, StageMetrics, StageSummary};

/// How a point's values relate over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A running total (never decreases within a run).
    Counter,
    /// A value at an instant.
    Gauge,
    /// A distribution (OTLP only; Prometheus gets its quantiles).
    Histogram,
}

/// A metric: its names in each ecosystem and its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Metric {
    /// Prometheus name (units and `_total` in the name).
    pub(crate) prometheus: &'static str,
    /// OpenTelemetry name (dotted, unit apart).
    pub(crate) otel: &'static str,
    /// UCUM unit for OpenTelemetry.
    pub(crate) unit: &'static str,
    /// What it is.
    pub(crate) help: &'static str,
    pub(crate) kind: Kind,
}

/// Requests by status class and code (network errors: class `network`,
/// code the error class).
pub(crate) const REQUESTS: Metric = Metric {
    prometheus: "relhost_requests_total",
    otel: "relhost.requests",
    unit: "{request}",
    help: "Requests finished, by status class and code (network errors: status_class=network, code=the error class).",
    kind: Kind::Counter,
};
/// Latency quantiles, corrected (from the intended send time) or service.
pub(crate) const LATENCY: Metric = Metric {
    prometheus: "relhost_request_latency_seconds",
    otel: "relhost.request.latency",
    unit: "s",
    help: "Request latency quantiles: latency=corrected (from the intended send time) or service (from the actual send).",
    kind: Kind::Gauge,
};
/// Send lag quantiles.
pub(crate) const SEND_LAG: Metric = Metric {
    prometheus: "relhost_send_lag_seconds",
    otel: "relhost.send_lag",
    unit: "s",
    help: "Actual minus intended send time, quantiles.",
    kind: Kind::Gauge,
};
/// Requests in flight.
pub(crate) const IN_FLIGHT: Metric = Metric {
    prometheus: "relhost_in_flight_requests",
    otel: "relhost.requests.in_flight",
    unit: "{request}",
    help: "Requests (and event streams) in flight.",
    kind: Kind::Gauge,
};
/// Event streams.
pub(crate) const STREAMS: Metric = Metric {
    prometheus: "relhost_sse_streams_total",
    otel: "relhost.sse.streams",
    unit: "{stream}",
    help: "Event-stream responses.",
    kind: Kind::Counter,
};
/// Events received.
pub(crate) const EVENTS: Metric = Metric {
    prometheus: "relhost_sse_events_total",
    otel: "relhost.sse.events",
    unit: "{event}",
    help: "Server-sent events received.",
    kind: Kind::Counter,
};
/// Streams cut before their end.
pub(crate) const CUT_STREAMS: Metric = Metric {
    prometheus: "relhost_sse_cut_streams_total",
    otel: "relhost.sse.cut_streams",
    unit: "{stream}",
    help: "Event streams cut before their end.",
    kind: Kind::Counter,
};
/// Time to the first byte of a stream.
pub(crate) const FIRST_BYTE: Metric = Metric {
    prometheus: "relhost_sse_first_byte_seconds",
    otel: "relhost.sse.first_byte",
    unit: "s",
    help: "Time to an event stream's first byte, quantiles.",
    kind: Kind::Gauge,
};
/// Time to the first event of a stream.
pub(crate) const FIRST_EVENT: Metric = Metric {
    prometheus: "relhost_sse_first_event_seconds",
    otel: "relhost.sse.first_event",
    unit: "s",
    help: "Time to an event stream's first event, quantiles.",
    kind: Kind::Gauge,
};
/// Plugin failures.
pub(crate) const PLUGIN_ERRORS: Metric = Metric {
    prometheus: "relhost_plugin_errors_total",
    otel: "relhost.plugin.errors",
    unit: "{error}",
    help: "Requests a plugin failed to build or judge.",
    kind: Kind::Counter,
};
/// Time inside plugins.
pub(crate) const PLUGIN_TIME: Metric = Metric {
    prometheus: "relhost_plugin_time_seconds_total",
    otel: "relhost.plugin.time",
    unit: "s",
    help: "Time spent inside plugins.",
    kind: Kind::Counter,
};
/// Service latency as a histogram (OpenTelemetry's HTTP client duration).
pub(crate) const DURATION: Metric = Metric {
    prometheus: "",
    otel: "http.client.request.duration",
    unit: "s",
    help: "Request duration from the actual send to the end of the response.",
    kind: Kind::Histogram,
};
/// Corrected latency as a histogram.
pub(crate) const CORRECTED_DURATION: Metric = Metric {
    prometheus: "",
    otel: "relhost.request.corrected_duration",
    unit: "s",
    help: "Request latency from the intended send time (coordinated-omission corrected).",
    kind: Kind::Histogram,
};
/// SLO gate verdicts at the end.
pub(crate) const GATE: Metric = Metric {
    prometheus: "relhost_slo_gate_passed",
    otel: "relhost.slo_gate.passed",
    unit: "1",
    help: "1 when the scenario's SLO gate passed, 0 when it failed (sent at the end).",
    kind: Kind::Gauge,
};

/// A point's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A counter's or gauge's value.
    Number(f64),
    /// A histogram's buckets.
    Histogram(Box<ExpHistogram>),
}

/// One value of a metric, with its own labels (the run's common labels
/// are added when sent).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    pub(crate) metric: Metric,
    pub(crate) labels: Vec<(&'static str, String)>,
    pub(crate) value: Value,
}

impl Point {
    /// The number of a counter or gauge (`None` for a histogram).
    pub(crate) fn number(&self) -> Option<f64> {
        match self.value {
            Value::Number(n) => Some(n),
            Value::Histogram(_) => None,
        }
    }
}

/// Quantiles exported for latency-like figures.
const QUANTILES: [(&str, f64); 4] = [("0.5", 0.5), ("0.9", 0.9), ("0.95", 0.95), ("0.99", 0.99)];

/// Builds the points of one scenario and stage.
pub(crate) struct Points<'a> {
    scenario: &'a str,
    stage: &'a str,
    out: Vec<Point>,
}

impl<'a> Points<'a> {
    pub(crate) fn new(scenario: &'a str, stage: &'a str) -> Self {
        Points {
            scenario,
            stage,
            out: Vec::new(),
        }
    }

    fn push(&mut self, metric: Metric, extra: &[(&'static str, &str)], value: f64) {
        self.push_value(metric, extra, Value::Number(value));
    }

    fn push_value(&mut self, metric: Metric, extra: &[(&'static str, &str)], value: Value) {
        let mut labels = vec![
            ("scenario", self.scenario.to_owned()),
            ("stage", self.stage.to_owned()),
        ];
        labels.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        self.out.push(Point {
            metric,
            labels,
            value,
        });
    }

    fn status(&mut self, code: u16, count: u64) {
        let class = format!("{}xx", code / 100);
        let code = code.to_string();
        self.push(
            REQUESTS,
            &[("status_class", &class), ("code", &code)],
            count as f64,
        );
    }

    fn network(&mut self, class: &str, count: u64) {
        self.push(
            REQUESTS,
            &[("status_class", "network"), ("code", class)],
            count as f64,
        );
    }

    fn quantiles_ms(&mut self, metric: Metric, extra: &[(&'static str, &str)], p: &Percentiles) {
        for (name, value) in [
            ("0.5", p.p50),
            ("0.9", p.p90),
            ("0.95", p.p95),
            ("0.99", p.p99),
        ] {
            let mut labels = extra.to_vec();
            labels.push(("quantile", name));
            self.push(metric, &labels, value / 1000.0);
        }
    }

    /// Quantiles of the live buckets of an interval (none when it is empty).
    fn live_quantiles(
        &mut self,
        metric: Metric,
        extra: &[(&'static str, &str)],
        buckets: &LiveBuckets,
    ) {
        for (name, q) in QUANTILES {
            if let Some(ms) = buckets.quantile_ms(q) {
                let mut labels = extra.to_vec();
                labels.push(("quantile", name));
                self.push(metric, &labels, ms / 1000.0);
            }
        }
    }

    /// The live figures of a stage: `in_stage` counted since it started,
    /// `interval` since the last export (for the latency quantiles).
    pub(crate) fn live(
        mut self,
        in_stage: &LiveTotals,
        interval: &LiveTotals,
        in_flight: u64,
    ) -> Vec<Point> {
        for (code, count) in in_stage.statuses() {
            self.status(code, count);
        }
        for (class, count) in in_stage.network_errors() {
            self.network(class.as_str(), count);
        }
        self.push(IN_FLIGHT, &[], in_flight as f64);
        self.push(PLUGIN_ERRORS, &[], in_stage.plugin_errors as f64);
        self.push(PLUGIN_TIME, &[], in_stage.plugin_us as f64 / 1e6);
        self.live_quantiles(LATENCY, &[("latency", "corrected")], &interval.latency);
        self.live_quantiles(LATENCY, &[("latency", "service")], &interval.service);
        self.live_quantiles(SEND_LAG, &[], &interval.send_lag);
        if in_stage.streams > 0 {
            self.push(STREAMS, &[], in_stage.streams as f64);
            self.push(EVENTS, &[], in_stage.events as f64);
            self.push(CUT_STREAMS, &[], in_stage.cut as f64);
            self.live_quantiles(FIRST_BYTE, &[], &interval.first_byte);
            self.live_quantiles(FIRST_EVENT, &[], &interval.first_event);
        }
        self.out
    }

    /// The latency histograms of a finished stage.
    pub(crate) fn histograms(mut self, metrics: &StageMetrics) -> Vec<Point> {
        for (metric, distribution) in [
            (CORRECTED_DURATION, metrics.latency()),
            (DURATION, metrics.service_latency()),
        ] {
            if let Some(h) = ExpHistogram::of_ms(&distribution) {
                self.push_value(metric, &[], Value::Histogram(Box::new(h)));
            }
        }
        self.out
    }

    /// The exact figures of a finished stage, from its summary.
    pub(crate) fn summary(mut self, s: &StageSummary) -> Vec<Point> {
        for (code, count) in &s.status_counts {
            match code.parse::<u16>() {
                Ok(code) => self.status(code, *count),
                Err(_) => self.push(
                    REQUESTS,
                    &[("status_class", "other"), ("code", code)],
                    *count as f64,
                ),
            }
        }
        for (class, count) in &s.network_errors {
            self.network(class, *count);
        }
        self.push(IN_FLIGHT, &[], 0.0);
        if s.requests > 0 {
            self.quantiles_ms(LATENCY, &[("latency", "corrected")], &s.latency_ms);
            self.quantiles_ms(LATENCY, &[("latency", "service")], &s.service_latency_ms);
            self.quantiles_ms(SEND_LAG, &[], &s.send_lag_ms);
        }
        self.push(PLUGIN_ERRORS, &[], s.plugin_errors as f64);
        self.push(PLUGIN_TIME, &[], s.plugin_time_us.total_ms / 1000.0);
        if let Some(sse) = &s.sse {
            self.push(STREAMS, &[], sse.streams as f64);
            self.push(EVENTS, &[], sse.events_total as f64);
            self.push(CUT_STREAMS, &[], sse.streams_cut as f64);
            if sse.streams > 0 {
                self.quantiles_ms(FIRST_BYTE, &[], &sse.ttfb_ms);
                self.quantiles_ms(FIRST_EVENT, &[], &sse.first_event_ms);
            }
        }
        self.out
    }
}

/// The gate verdict of a scenario.
pub(crate) fn gate(scenario: &str, passed: bool) -> Point {
    Point {
        metric: GATE,
        labels: vec![("scenario", scenario.to_owned())],
        value: Value::Number(if passed { 1.0 } else { 0.0 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::LiveStats;
    use crate::metrics::{Sample, SseSample};
    use std::sync::Arc;

    #[test]
    fn live_points_carry_every_live_figure() {
        let stats = Arc::new(LiveStats::default());
        let sample = Sample {
            result: Ok(200),
            expected: true,
            latency_us: 5_000,
            service_us: 4_000,
            send_lag_us: 1_000,
            plugin_us: 10,
            sse: Some(SseSample {
                ttfb_us: 500,
                first_event_us: Some(700),
                events: 3,
                duration_us: 4_000,
                cut: false,
            }),
            second: 0,
        };
        for _ in 0..10 {
            stats.record(&sample);
        }
        let totals = LiveTotals::read(&[stats]);
        let points = Points::new("chat", "streams").live(&totals, &totals, 4);
        let names: std::collections::BTreeSet<&str> =
            points.iter().map(|p| p.metric.prometheus).collect();
        for name in [
            REQUESTS,
            IN_FLIGHT,
            LATENCY,
            SEND_LAG,
            STREAMS,
            EVENTS,
            CUT_STREAMS,
            FIRST_BYTE,
            FIRST_EVENT,
            PLUGIN_ERRORS,
            PLUGIN_TIME,
        ]
        .map(|m| m.prometheus)
        {
            assert!(names.contains(name), "{name} missing from {names:?}");
        }
        let events = points
            .iter()
            .find(|p| p.metric == EVENTS)
            .and_then(Point::number);
        assert_eq!(events, Some(30.0));
        assert!(
            points.iter().all(
                |p| p.labels[..2] == [("scenario", "chat".into()), ("stage", "streams".into())]
            )
        );
    }
}
