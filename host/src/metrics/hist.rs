//! HDR histogram construction and percentile extraction shared by the recorders.

use hdrhistogram::Histogram;

use super::summary::Percentiles;

/// The largest value (µs) a histogram tracks: one hour. Larger values are
/// recorded as one hour.
pub(crate) const MAX_TRACKED_US: u64 = 3_600_000_000;

/// Significant decimal digits kept by every latency histogram.
pub(crate) const SIGFIG: u8 = 3;

/// Initial upper bound (µs) of a histogram: one second. Histograms grow on
/// demand (at most a few times, up to [`MAX_TRACKED_US`]), so a worker that
/// only sees fast responses keeps a small footprint.
const INITIAL_HIGH_US: u64 = 1_000_000;

/// A new microsecond histogram with 3 significant digits that resizes itself.
pub(crate) fn new_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, INITIAL_HIGH_US, SIGFIG)
        .expect("static histogram bounds are valid");
    h.auto(true);
    h
}

/// Records one value, clamped to [`MAX_TRACKED_US`].
#[inline]
pub(crate) fn record(h: &mut Histogram<u64>, value_us: u64) {
    // `record` grows the histogram (auto-resize); `saturating_record` would
    // clamp to the current range instead. The clamp keeps growth bounded, so
    // the error branch is unreachable in practice.
    if h.record(value_us.min(MAX_TRACKED_US)).is_err() {
        h.saturating_record(value_us);
    }
}

/// Adds `other` into `into`. Both auto-resize, so addition cannot fail on range.
pub(crate) fn add(into: &mut Histogram<u64>, other: &Histogram<u64>) {
    into.add(other)
        .expect("auto-resizing histograms with the same precision always add");
}

/// Microseconds to milliseconds, rounded to 3 decimals.
pub(crate) fn us_to_ms(us: f64) -> f64 {
    round3(us / 1000.0)
}

/// Rounds to 3 decimals.
pub(crate) fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Percentiles of a microsecond histogram, in milliseconds (all 0 when empty).
pub(crate) fn percentiles_ms(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    let q = |q: f64| us_to_ms(h.value_at_quantile(q) as f64);
    Percentiles {
        p50: q(0.50),
        p90: q(0.90),
        p95: q(0.95),
        p99: q(0.99),
        p999: q(0.999),
        max: us_to_ms(h.max() as f64),
        mean: us_to_ms(h.mean()),
    }
}
