//! [`StageMetrics`] as segment reports carry it: every counter, the HDR
//! histograms in HdrHistogram's V2 format compressed with DEFLATE (base64,
//! as HdrHistogram's logs write them), and the per-second series. Decoding
//! gives back a recorder that merges exactly as the original would.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize, Serializer};

use super::{STATUS_MAX, STATUS_MIN, SseMetrics, StageMetrics};
use crate::http::Connections;
use crate::http::ErrorClass;
use crate::metrics::hist::{MAX_TRACKED_US, SIGFIG};
use crate::metrics::reasons::ErrorReasons;
use crate::metrics::series::Series;

/// The serialized form of a recorder.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    sent: u64,
    /// Status code → count, the codes that were seen.
    statuses: BTreeMap<u16, u64>,
    /// Error class → count, the classes that were seen.
    network: BTreeMap<ErrorClass, u64>,
    /// What the network errors were, in words: `(class, reason, count)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    reasons: Vec<(ErrorClass, String, u64)>,
    unknown_status: u64,
    plugin_errors: u64,
    late_starts: u64,
    plugin_total_us: u64,
    latency: Hdr,
    service: Hdr,
    send_lag: Hdr,
    plugin_time: Hdr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sse: Option<SseWire>,
    #[serde(default, skip_serializing_if = "Connections::is_empty")]
    connections: Connections,
    series: Series,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SseWire {
    streams: u64,
    ttfb: Hdr,
    first_event: Hdr,
    duration: Hdr,
    events: u64,
    without_events: u64,
    cut: u64,
}

/// A histogram as base64 of its V2 + DEFLATE encoding.
struct Hdr(Histogram<u64>);

impl Serialize for Hdr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.0, &mut bytes)
            .map_err(|e| serde::ser::Error::custom(format!("histogram: {e:?}")))?;
        serializer.serialize_str(&BASE64.encode(bytes))
    }
}

/// The cookie of HdrHistogram's V2 encoding, compressed and not.
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;
const V2_COOKIE: u32 = 0x1c84_9313;
/// The V2 header: cookie, payload length, normalizing offset, digits,
/// lowest and highest value, integer-to-double ratio.
const V2_HEADER: usize = 40;
/// The most a histogram may take inflated: a 3-digit histogram up to an
/// hour holds about 25,000 counts of at most 9 bytes each.
const MAX_INFLATED: u64 = 1 << 20;

impl<'de> Deserialize<'de> for Hdr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        decode(&text).map(Hdr).map_err(serde::de::Error::custom)
    }
}

/// Decodes a histogram, checking its header before anything is sized by
/// it: a report is untrusted input.
fn decode(text: &str) -> Result<Histogram<u64>, String> {
    use std::io::Read as _;
    let bytes = BASE64
        .decode(text.as_bytes())
        .map_err(|e| format!("histogram: not base64: {e}"))?;
    let word = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    if word(&bytes, 0) != Some(V2_COMPRESSED_COOKIE) || bytes.len() < 8 {
        return Err("histogram: not HdrHistogram's compressed V2 encoding".into());
    }
    let mut inflated = Vec::new();
    flate2::read::ZlibDecoder::new(&bytes[8..])
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| format!("histogram: cannot inflate: {e}"))?;
    if inflated.len() as u64 > MAX_INFLATED {
        return Err(format!(
            "histogram: more than {MAX_INFLATED} bytes inflated"
        ));
    }
    let long = |at: usize| -> Option<u64> {
        Some(u64::from_be_bytes(
            inflated.get(at..at + 8)?.try_into().ok()?,
        ))
    };
    let (cookie, payload, digits, high) = (
        word(&inflated, 0),
        word(&inflated, 4),
        word(&inflated, 12),
        long(24),
    );
    let fits = cookie == Some(V2_COOKIE)
        && payload.is_some_and(|p| p as usize == inflated.len().saturating_sub(V2_HEADER))
        && digits == Some(u32::from(SIGFIG))
        && high.is_some_and(|h| h <= 2 * MAX_TRACKED_US);
    if !fits {
        return Err(format!(
            "histogram: its header is not of a {SIGFIG}-digit histogram of up to {MAX_TRACKED_US} µs"
        ));
    }
    let mut h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut inflated.as_slice())
        .map_err(|e| format!("histogram: {e:?}"))?;
    h.auto(true);
    Ok(h)
}

impl Serialize for StageMetrics {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let statuses = (STATUS_MIN..=STATUS_MAX)
            .zip(self.statuses.iter().copied())
            .chain(self.odd_statuses.iter().copied())
            .filter(|&(_, n)| n > 0)
            .collect();
        let network = ErrorClass::ALL
            .iter()
            .map(|c| (*c, self.network[c.index()]))
            .filter(|&(_, n)| n > 0)
            .collect();
        Wire {
            sent: self.sent,
            statuses,
            network,
            reasons: self
                .reasons
                .as_ref()
                .map(|r| r.entries())
                .unwrap_or_default(),
            unknown_status: self.unknown_status,
            plugin_errors: self.plugin_errors,
            late_starts: self.late_starts,
            plugin_total_us: self.plugin_total_us,
            latency: Hdr(self.latency.clone()),
            service: Hdr(self.service.clone()),
            send_lag: Hdr(self.send_lag.clone()),
            plugin_time: Hdr(self.plugin_time.clone()),
            sse: self.sse.as_ref().map(|s| SseWire {
                streams: s.streams,
                ttfb: Hdr(s.ttfb.clone()),
                first_event: Hdr(s.first_event.clone()),
                duration: Hdr(s.duration.clone()),
                events: s.events,
                without_events: s.without_events,
                cut: s.cut,
            }),
            connections: self.connections,
            series: self.series.clone(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for StageMetrics {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        let mut m = StageMetrics::new();
        m.sent = wire.sent;
        for (code, n) in wire.statuses {
            if (STATUS_MIN..=STATUS_MAX).contains(&code) {
                m.statuses[usize::from(code - STATUS_MIN)] = n;
            } else {
                m.odd_statuses.push((code, n));
            }
        }
        for (class, n) in wire.network {
            m.network[class.index()] = n;
        }
        if !wire.reasons.is_empty() {
            let mut reasons = ErrorReasons::default();
            for (class, reason, n) in &wire.reasons {
                reasons.add(*class, reason, *n);
            }
            m.reasons = Some(Box::new(reasons));
        }
        m.unknown_status = wire.unknown_status;
        m.plugin_errors = wire.plugin_errors;
        m.late_starts = wire.late_starts;
        m.plugin_total_us = wire.plugin_total_us;
        m.latency = wire.latency.0;
        m.service = wire.service.0;
        m.send_lag = wire.send_lag.0;
        m.plugin_time = wire.plugin_time.0;
        m.sse = wire.sse.map(|s| {
            Box::new(SseMetrics {
                streams: s.streams,
                ttfb: s.ttfb.0,
                first_event: s.first_event.0,
                duration: s.duration.0,
                events: s.events,
                without_events: s.without_events,
                cut: s.cut,
            })
        });
        m.connections = wire.connections;
        m.series = wire.series;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Sample, SseSample};

    fn sample(i: u64) -> Sample {
        Sample {
            result: match i % 13 {
                0 => Err(ErrorClass::Reset),
                1 => Ok(503),
                2 => Ok(700),
                _ => Ok(200),
            },
            expected: i % 13 > 2,
            latency_us: 100 + i * i % 250_000,
            service_us: 90 + i * 7 % 90_000,
            send_lag_us: i % 1_700,
            plugin_us: i % 30,
            sse: i.is_multiple_of(3).then_some(SseSample {
                ttfb_us: 1_000 + i % 5_000,
                first_event_us: (!i.is_multiple_of(6)).then_some(2_000 + i),
                events: (i % 9) as u32,
                duration_us: 50_000 + i,
                cut: i.is_multiple_of(27),
            }),
            second: (i / 400) as u32,
        }
    }

    fn encoded(m: &StageMetrics) -> String {
        serde_json::to_string(m).expect("serializes")
    }

    #[test]
    fn split_recorders_merged_from_their_encoding_equal_one_recorder() {
        let mut one = StageMetrics::new();
        let mut parts: Vec<StageMetrics> = (0..4).map(|_| StageMetrics::new()).collect();
        for i in 0..5_000u64 {
            one.record(&sample(i));
            parts[(i * 7 % 4) as usize].record(&sample(i));
            if i.is_multiple_of(13) {
                one.error_reason(ErrorClass::Reset, "connection reset by peer");
                parts[(i * 7 % 4) as usize]
                    .error_reason(ErrorClass::Reset, "connection reset by peer");
            }
        }
        let mut merged = StageMetrics::new();
        for part in &parts {
            let back: StageMetrics = serde_json::from_str(&encoded(part)).expect("decodes");
            assert_eq!(
                encoded(&back),
                encoded(part),
                "a round trip changes nothing"
            );
            merged.merge(&back);
        }
        let elapsed = std::time::Duration::from_secs(13);
        assert_eq!(merged.summarize(elapsed), one.summarize(elapsed));
        assert_eq!(merged.seconds(), one.seconds());
        assert_eq!(encoded(&merged), encoded(&one));
    }

    #[test]
    fn the_longest_latency_round_trips() {
        let mut m = StageMetrics::new();
        let mut s = sample(1);
        s.latency_us = MAX_TRACKED_US * 5;
        m.record(&s);
        let back: StageMetrics = serde_json::from_str(&encoded(&m)).expect("decodes");
        assert_eq!(back, m);
    }

    #[test]
    fn a_header_that_claims_gigabytes_is_refused_before_anything_is_sized() {
        use std::io::Write as _;
        // A V2 header of a 3-digit histogram whose payload claims 4 GiB.
        let mut inner = Vec::new();
        for word in [V2_COOKIE, 0xFFFF_FFF0, 0, 3] {
            inner.extend(word.to_be_bytes());
        }
        for long in [1u64, 2, 1f64.to_bits()] {
            inner.extend(long.to_be_bytes());
        }
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&inner).expect("deflate");
        let deflated = zlib.finish().expect("deflate");
        let mut bytes = V2_COMPRESSED_COOKIE.to_be_bytes().to_vec();
        bytes.extend((deflated.len() as u32).to_be_bytes());
        bytes.extend(deflated);
        let error = decode(&BASE64.encode(bytes)).expect_err("refused");
        assert!(error.contains("header"), "{error}");
    }

    #[test]
    fn damaged_encodings_are_refused() {
        let mut m = StageMetrics::new();
        m.record(&sample(5));
        let good: serde_json::Value = serde_json::from_str(&encoded(&m)).expect("json");
        for (field, value) in [
            ("latency", serde_json::json!("not base64!")),
            ("latency", serde_json::json!("SElTVEZBQUFB")),
            ("sent", serde_json::json!(-1)),
            ("network", serde_json::json!({"no_such_class": 1})),
            (
                "series",
                serde_json::json!({"base": 0, "points": [{
                    "requests": 1, "errors": 0, "success_2xx": 1, "status_5xx": 0,
                    "network": 0, "unknown": 0,
                    "latency": {"first": u64::MAX, "counts": [1]}
                }]}),
            ),
            (
                "series",
                serde_json::json!({"base": u32::MAX, "points": []}),
            ),
        ] {
            let mut bad = good.clone();
            bad[field] = value;
            assert!(
                serde_json::from_value::<StageMetrics>(bad).is_err(),
                "{field}"
            );
        }
    }
}
