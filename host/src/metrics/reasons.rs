//! What network errors were, in words: per error class, its most frequent
//! distinct reasons with counts, as oha's error distribution shows them,
//! but keyed by the typed class first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::http::ErrorClass;

/// Distinct reasons kept per class; further ones are counted together.
const MAX_REASONS: usize = 8;
/// Reasons a summary lists per class, most frequent first.
const SHOWN: usize = 5;
/// What reasons past [`MAX_REASONS`] are counted as.
const OTHERS: &str = "(other reasons)";

/// Counts of distinct reasons, per error class.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ErrorReasons {
    counts: BTreeMap<(ErrorClass, Box<str>), u64>,
}

impl ErrorReasons {
    /// Counts `n` failures of `class` for `reason`.
    pub(crate) fn add(&mut self, class: ErrorClass, reason: &str, n: u64) {
        if let Some(count) = self.counts.get_mut(&(class, reason.into())) {
            *count = count.saturating_add(n);
            return;
        }
        let distinct = self.counts.keys().filter(|(c, _)| *c == class).count();
        let reason = if distinct < MAX_REASONS {
            reason
        } else {
            OTHERS
        };
        let count = self.counts.entry((class, reason.into())).or_insert(0);
        *count = count.saturating_add(n);
    }

    /// Adds another tally's counts.
    pub(crate) fn merge(&mut self, other: &ErrorReasons) {
        for ((class, reason), n) in &other.counts {
            self.add(*class, reason, *n);
        }
    }

    /// Every `(class, reason, count)` kept.
    pub(crate) fn entries(&self) -> Vec<(ErrorClass, String, u64)> {
        self.counts
            .iter()
            .map(|((class, reason), n)| (*class, reason.to_string(), *n))
            .collect()
    }

    /// Per class name, its most frequent reasons.
    pub(crate) fn summarize(&self) -> BTreeMap<String, Vec<ReasonCount>> {
        let mut out: BTreeMap<String, Vec<ReasonCount>> = BTreeMap::new();
        for ((class, reason), count) in &self.counts {
            out.entry(class.as_str().to_string())
                .or_default()
                .push(ReasonCount {
                    reason: reason.to_string(),
                    count: *count,
                });
        }
        for reasons in out.values_mut() {
            reasons.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
            reasons.truncate(SHOWN);
        }
        out
    }
}

/// One reason and how many failures it explains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonCount {
    /// What the failure was, e.g. `connect to 127.0.0.1:9: Connection refused (os error 111)`.
    pub reason: String,
    /// Failures with this reason.
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_counted_bounded_and_ranked() {
        let mut a = ErrorReasons::default();
        a.add(ErrorClass::Tls, "bad certificate", 3);
        for i in 0..10 {
            a.add(ErrorClass::Reset, &format!("reset {i}"), 1);
        }
        let mut b = ErrorReasons::default();
        b.add(ErrorClass::Tls, "bad certificate", 2);
        b.add(ErrorClass::Tls, "handshake timed out", 1);
        a.merge(&b);
        let summary = a.summarize();
        assert_eq!(
            summary["tls"],
            [
                ReasonCount {
                    reason: "bad certificate".into(),
                    count: 5
                },
                ReasonCount {
                    reason: "handshake timed out".into(),
                    count: 1
                }
            ]
        );
        // Eight distinct resets are kept, the ninth and tenth counted together.
        assert_eq!(summary["reset"][0].reason, OTHERS);
        assert_eq!(summary["reset"][0].count, 2);
        assert_eq!(summary["reset"].len(), SHOWN);
    }
}
