//! OTLP/HTTP protobuf metrics: one `ExportMetricsServiceRequest` per push,
//! counters as cumulative monotonic sums, latency distributions as base-2
//! exponential histograms, the rest as gauges. The run's
//! common labels are resource attributes; a status code is
//! `http.response.status_code` and a network error class `error.type`, as
//! OpenTelemetry's HTTP client conventions name them.

use super::histogram::{ExpHistogram, SCALE};
use super::points::{Kind, Point, Value};
use super::protobuf::Message;

/// Content type of an OTLP/HTTP protobuf body.
pub(crate) const CONTENT_TYPE: &str = "application/x-protobuf";
/// `AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE`.
const CUMULATIVE: u64 = 2;

/// The body of a push. `start_ns` is when the run started (the start of
/// every cumulative sum), `now_ns` the time of the values.
pub(crate) fn export_request(
    points: &[Point],
    common: &[(&'static str, String)],
    start_ns: u64,
    now_ns: u64,
) -> Vec<u8> {
    let mut resource = Message::new();
    resource.message(1, &string_attribute("service.name", "relhost"));
    for (key, value) in common {
        resource.message(1, &string_attribute(&format!("relhost.{key}"), value));
    }
    let mut scope = Message::new();
    scope
        .string(1, "relhost")
        .string(2, env!("CARGO_PKG_VERSION"));
    let mut scope_metrics = Message::new();
    scope_metrics.message(1, &scope);
    // One Metric per name, its points in order.
    let mut names: Vec<&str> = Vec::new();
    for point in points {
        if !names.contains(&point.metric.otel) {
            names.push(point.metric.otel);
        }
    }
    for name in names {
        let of_name: Vec<&Point> = points.iter().filter(|p| p.metric.otel == name).collect();
        let metric = of_name[0].metric;
        let mut data = Message::new();
        for point in &of_name {
            data.message(1, &data_point(point, start_ns, now_ns));
        }
        let mut m = Message::new();
        m.string(1, metric.otel)
            .string(2, metric.help)
            .string(3, metric.unit);
        match metric.kind {
            Kind::Counter => {
                data.uint64(2, CUMULATIVE).boolean(3, true);
                m.message(7, &data);
            }
            Kind::Gauge => {
                m.message(5, &data);
            }
            Kind::Histogram => {
                data.uint64(2, CUMULATIVE);
                m.message(10, &data);
            }
        }
        scope_metrics.message(2, &m);
    }
    let mut resource_metrics = Message::new();
    resource_metrics
        .message(1, &resource)
        .message(2, &scope_metrics);
    let mut request = Message::new();
    request.message(1, &resource_metrics);
    request.into_bytes()
}

fn data_point(point: &Point, start_ns: u64, now_ns: u64) -> Message {
    let mut dp = Message::new();
    // `attributes` is field 7 of a NumberDataPoint, 1 of an
    // ExponentialHistogramDataPoint.
    let attributes_field = match point.value {
        Value::Number(_) => 7,
        Value::Histogram(_) => 1,
    };
    let network = point
        .labels
        .iter()
        .any(|(k, v)| *k == "status_class" && v == "network");
    for (key, value) in &point.labels {
        let attribute = match (*key, network) {
            ("code", false) => match value.parse::<i64>() {
                Ok(code) => int_attribute("http.response.status_code", code),
                Err(_) => string_attribute("relhost.code", value),
            },
            ("code", true) => string_attribute("error.type", value),
            ("quantile", _) => string_attribute("quantile", value),
            (key, _) => string_attribute(&format!("relhost.{key}"), value),
        };
        dp.message(attributes_field, &attribute);
    }
    dp.fixed64(2, start_ns).fixed64(3, now_ns);
    match &point.value {
        Value::Number(n) => {
            dp.double(4, *n);
        }
        Value::Histogram(h) => histogram(&mut dp, h),
    }
    dp
}

/// The fields of an `ExponentialHistogramDataPoint` after its times.
fn histogram(dp: &mut Message, h: &ExpHistogram) {
    let mut positive = Message::new();
    positive.sint32(1, h.offset).packed_uint64(2, &h.counts);
    dp.fixed64(4, h.count)
        .double(5, h.sum)
        .sint32(6, SCALE)
        .fixed64(7, h.zero_count)
        .message(8, &positive)
        .double(12, h.min)
        .double(13, h.max);
}

fn string_attribute(key: &str, value: &str) -> Message {
    let mut any = Message::new();
    any.string(1, value);
    let mut kv = Message::new();
    kv.string(1, key).message(2, &any);
    kv
}

fn int_attribute(key: &str, value: i64) -> Message {
    let mut any = Message::new();
    any.int64(3, value);
    let mut kv = Message::new();
    kv.string(1, key).message(2, &any);
    kv
}
