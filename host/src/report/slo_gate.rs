//! The SLO gate: a scenario's totals checked against its thresholds.

use serde::{Deserialize, Serialize};

pub use crate::policy::Comparator;

/// A gate's or a check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within the threshold.
    Pass,
    /// Outside the threshold (or nothing was measured).
    Fail,
    /// The scenario did not run (gates only, never a check).
    Skipped,
}

/// The unit of a check's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Milliseconds.
    Ms,
    /// A fraction (of requests sent, or of a pool).
    Ratio,
    /// A count (of users, of requests).
    Count,
    /// A burn rate: error ratio over the error budget (1 = on budget).
    Burn,
}

/// One check of a gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// `p95_latency_ms`, `rate_5xx`, `network_error_rate`,
    /// `unknown_status_rate`, `success_2xx_rate`, or a check added to the
    /// gate such as `unique_users` and `unique_coverage`.
    pub name: String,
    /// The measured value.
    pub observed: f64,
    /// The threshold from the SLO baseline.
    pub threshold: f64,
    /// How `observed` must relate to `threshold`.
    pub comparator: Comparator,
    /// The outcome.
    pub verdict: Verdict,
    /// The unit of `observed` and `threshold`.
    pub unit: Unit,
    /// Why the check failed regardless of the values, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A scenario's gate: `pass` when every check passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateResult {
    /// The overall outcome.
    pub verdict: Verdict,
    /// Every check, in a fixed order.
    pub checks: Vec<Check>,
}

impl GateResult {
    /// A gate over `checks`: `pass` when there is at least one and all passed.
    pub fn from_checks(checks: Vec<Check>) -> GateResult {
        let passed = !checks.is_empty() && checks.iter().all(|c| c.verdict == Verdict::Pass);
        GateResult {
            verdict: if passed { Verdict::Pass } else { Verdict::Fail },
            checks,
        }
    }

    /// The checks that failed.
    pub fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.verdict == Verdict::Fail)
    }

    /// Adds a check (e.g. a coverage floor) and fails the gate if it fails.
    pub fn add_check(
        &mut self,
        name: &str,
        observed: f64,
        threshold: f64,
        comparator: Comparator,
        unit: Unit,
    ) {
        let verdict = if comparator.holds(observed, threshold) {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        self.checks.push(Check {
            name: name.to_owned(),
            observed,
            threshold,
            comparator,
            verdict,
            unit,
            message: None,
        });
        if verdict == Verdict::Fail {
            self.verdict = Verdict::Fail;
        }
    }
}
