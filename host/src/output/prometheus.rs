//! Prometheus remote write 1.0: a snappy-compressed protobuf `WriteRequest`
//! of one sample per series, with the headers the protocol requires.

use super::points::{Kind, Point};
use super::protobuf::Message;

/// Content type of a remote-write body.
pub(crate) const CONTENT_TYPE: &str = "application/x-protobuf";
/// The protocol version header's value.
pub(crate) const VERSION: &str = "0.1.0";
/// `MetricMetadata.MetricType.COUNTER`.
const COUNTER: u64 = 1;
/// `MetricMetadata.MetricType.GAUGE`.
const GAUGE: u64 = 2;

/// The body of a push: every counter and gauge as a series (labels sorted
/// by name, `__name__` first) with one sample at `timestamp_ms`,
/// snappy-compressed. Histograms are left out: their quantiles are series.
pub(crate) fn write_request(
    points: &[Point],
    common: &[(&'static str, String)],
    timestamp_ms: i64,
) -> Result<Vec<u8>, snap::Error> {
    let mut request = Message::new();
    for (point, value) in points.iter().filter_map(|p| Some((p, p.number()?))) {
        let mut labels: Vec<(&str, &str)> = vec![("__name__", point.metric.prometheus)];
        labels.extend(common.iter().map(|(k, v)| (*k, v.as_str())));
        labels.extend(point.labels.iter().map(|(k, v)| (*k, v.as_str())));
        labels.sort_by(|a, b| a.0.cmp(b.0));
        let mut series = Message::new();
        for (name, value) in labels {
            let mut label = Message::new();
            label.string(1, name).string(2, value);
            series.message(1, &label);
        }
        let mut sample = Message::new();
        sample.double(1, value).int64(2, timestamp_ms);
        series.message(2, &sample);
        request.message(1, &series);
    }
    // Each family's type and help (`MetricMetadata`), once.
    let mut families: Vec<&str> = Vec::new();
    for point in points.iter().filter(|p| p.number().is_some()) {
        let m = point.metric;
        if families.contains(&m.prometheus) {
            continue;
        }
        families.push(m.prometheus);
        let kind = match m.kind {
            Kind::Counter => COUNTER,
            Kind::Gauge | Kind::Histogram => GAUGE,
        };
        let mut metadata = Message::new();
        metadata
            .uint64(1, kind)
            .string(2, m.prometheus)
            .string(4, m.help);
        request.message(3, &metadata);
    }
    snap::raw::Encoder::new().compress_vec(&request.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::points::REQUESTS;

    #[test]
    fn a_request_is_snappy_protobuf_with_sorted_labels() {
        let points = [Point {
            metric: REQUESTS,
            labels: vec![("scenario", "chat".into()), ("code", "200".into())],
            value: crate::output::points::Value::Number(3.0),
        }];
        let body = write_request(&points, &[("run_id", "r1".into())], 1_000).expect("compresses");
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&body)
            .expect("snappy");
        let text = String::from_utf8_lossy(&raw);
        let order: Vec<usize> = ["__name__", "code", "run_id", "scenario"]
            .iter()
            .map(|l| text.find(l).expect(l))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert!(raw.windows(8).any(|w| w == 3.0f64.to_le_bytes()));
        assert!(text.contains(REQUESTS.help), "the family's help is sent");
    }
}
