//! A measured distribution as ascending `(value, count)` groups: every
//! request's latency from a histogram, or the outcomes of every request
//! (0 or 1), or per-second figures. What a two-sample test compares.

use hdrhistogram::Histogram;

use super::hist::us_to_ms;

/// Ascending `(value, count)` groups; values are distinct.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Distribution {
    groups: Vec<(f64, u64)>,
}

impl Distribution {
    /// The values a microsecond histogram holds, in milliseconds (each
    /// bucket's highest equivalent value, within 0.1%).
    pub(crate) fn of_histogram(h: &Histogram<u64>) -> Distribution {
        Distribution {
            groups: h
                .iter_recorded()
                .map(|v| (us_to_ms(v.value_iterated_to() as f64), v.count_at_value()))
                .collect(),
        }
    }

    /// `hits` ones among `n` (the rest zeros): an outcome of every request.
    pub fn of_outcomes(hits: u64, n: u64) -> Distribution {
        Distribution {
            groups: [(0.0, n.saturating_sub(hits)), (1.0, hits.min(n))]
                .into_iter()
                .filter(|(_, count)| *count > 0)
                .collect(),
        }
    }

    /// Single values (one count each).
    pub fn of_values(values: &[f64]) -> Distribution {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let mut groups: Vec<(f64, u64)> = Vec::new();
        for v in sorted {
            match groups.last_mut() {
                Some((last, count)) if *last == v => *count += 1,
                _ => groups.push((v, 1)),
            }
        }
        Distribution { groups }
    }

    /// The groups, ascending.
    pub fn groups(&self) -> &[(f64, u64)] {
        &self.groups
    }

    /// How many values.
    pub fn len(&self) -> u64 {
        self.groups.iter().map(|(_, n)| n).sum()
    }

    /// Whether there is no value.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The mean (0 when empty).
    pub fn mean(&self) -> f64 {
        let n = self.len();
        if n == 0 {
            return 0.0;
        }
        self.groups.iter().map(|(v, c)| v * *c as f64).sum::<f64>() / n as f64
    }

    /// The value at quantile `q` (0 when empty): the smallest value with at
    /// least `ceil(q × n)` values at or below it, as HdrHistogram reads it.
    pub fn quantile(&self, q: f64) -> f64 {
        let n = self.len();
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (value, count) in &self.groups {
            seen += count;
            if seen >= rank {
                return *value;
            }
        }
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::hist::{new_histogram, record};

    #[test]
    fn a_histogram_reads_as_its_quantiles() {
        let mut h = new_histogram();
        for us in [800, 1_200, 1_200, 5_000, 250_000] {
            record(&mut h, us);
        }
        let d = Distribution::of_histogram(&h);
        assert_eq!(d.len(), 5);
        for q in [0.5, 0.95, 0.99] {
            assert_eq!(
                d.quantile(q),
                us_to_ms(h.value_at_quantile(q) as f64),
                "q {q}"
            );
        }
        let outcomes = Distribution::of_outcomes(2, 10);
        assert_eq!(outcomes.groups(), [(0.0, 8), (1.0, 2)]);
        assert!((outcomes.mean() - 0.2).abs() < 1e-12);
        let values = Distribution::of_values(&[3.0, 1.0, 3.0]);
        assert_eq!(values.groups(), [(1.0, 1), (3.0, 2)]);
        assert_eq!(values.quantile(0.5), 3.0);
    }
}
