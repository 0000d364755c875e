//! How an observed value must relate to its threshold, in every policy
//! document and every check of a report.

use serde::{Deserialize, Serialize};

/// How the observed value must relate to the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparator {
    /// Observed must be at most the threshold.
    #[serde(rename = "<=")]
    AtMost,
    /// Observed must be at least the threshold.
    #[serde(rename = ">=")]
    AtLeast,
}

impl Comparator {
    /// `<=` or `>=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparator::AtMost => "<=",
            Comparator::AtLeast => ">=",
        }
    }

    /// Whether `observed` relates to `threshold` as required.
    pub fn holds(self, observed: f64, threshold: f64) -> bool {
        match self {
            Comparator::AtMost => observed <= threshold,
            Comparator::AtLeast => observed >= threshold,
        }
    }
}
