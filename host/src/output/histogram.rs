//! Base-2 exponential histograms (OpenTelemetry's `ExponentialHistogram`)
//! of a stage's latencies, from its HDR histograms.

use crate::metrics::Distribution;

/// Scale of the buckets: each is 2^(2^-SCALE) ≈ 4.4% wide.
pub(crate) const SCALE: i32 = 4;

/// An exponential histogram of values in seconds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExpHistogram {
    /// Values that are 0.
    pub(crate) zero_count: u64,
    /// Index of the first bucket.
    pub(crate) offset: i32,
    /// Counts of consecutive buckets from `offset`.
    pub(crate) counts: Vec<u64>,
    /// Values in all.
    pub(crate) count: u64,
    /// Their sum.
    pub(crate) sum: f64,
    /// The smallest and largest value.
    pub(crate) min: f64,
    pub(crate) max: f64,
}

/// The bucket of `value` (> 0): bucket `i` holds (base^i, base^(i+1)].
fn index(value: f64) -> i32 {
    ((value.log2() * f64::from(1 << SCALE)).ceil() as i32) - 1
}

impl ExpHistogram {
    /// The histogram of `distribution` (milliseconds), in seconds; `None`
    /// when it is empty.
    pub(crate) fn of_ms(distribution: &Distribution) -> Option<ExpHistogram> {
        let groups = distribution.groups();
        let (first, last) = (groups.first()?, groups.last()?);
        let mut h = ExpHistogram {
            zero_count: 0,
            offset: 0,
            counts: Vec::new(),
            count: 0,
            sum: 0.0,
            min: first.0 / 1000.0,
            max: last.0 / 1000.0,
        };
        let positive: Vec<(i32, u64)> = groups
            .iter()
            .filter_map(|&(ms, n)| {
                let s = ms / 1000.0;
                h.count += n;
                h.sum += s * n as f64;
                if s > 0.0 {
                    Some((index(s), n))
                } else {
                    h.zero_count += n;
                    None
                }
            })
            .collect();
        if let (Some(lo), Some(hi)) = (positive.first(), positive.last()) {
            h.offset = lo.0;
            h.counts = vec![0; (hi.0 - lo.0 + 1) as usize];
            for (i, n) in positive {
                h.counts[(i - h.offset) as usize] += n;
            }
        }
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fall_in_buckets_that_bound_them() {
        let base = 2f64.powf(2f64.powi(-SCALE));
        for v in [0.0001, 0.001, 0.0123, 0.5, 1.0, 2.0, 37.5] {
            let i = index(v);
            assert!(
                base.powi(i) < v * (1.0 + 1e-12) && v <= base.powi(i + 1) * (1.0 + 1e-12),
                "{v}: {i}"
            );
        }
        let h =
            ExpHistogram::of_ms(&Distribution::of_values(&[0.0, 1.0, 1.0, 10.0])).expect("values");
        assert_eq!((h.count, h.zero_count), (4, 1));
        assert_eq!(h.counts.iter().sum::<u64>(), 3);
        assert_eq!(h.counts.first(), Some(&2));
        assert!((h.sum - 0.012).abs() < 1e-12 && h.max == 0.01 && h.min == 0.0);
        assert_eq!(ExpHistogram::of_ms(&Distribution::default()), None);
    }
}
