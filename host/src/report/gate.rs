//! The SLO gate: a scenario's totals checked against its thresholds.

use serde::{Deserialize, Serialize};

use crate::metrics::StageSummary;
use crate::policy::SloThresholds;

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

    fn holds(self, observed: f64, threshold: f64) -> bool {
        match self {
            Comparator::AtMost => observed <= threshold,
            Comparator::AtLeast => observed >= threshold,
        }
    }
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

/// Checks `summary` against `thresholds`. With zero requests sent every
/// check fails with a message: a drill that sent nothing must not pass.
pub fn evaluate(summary: &StageSummary, thresholds: &SloThresholds) -> GateResult {
    let mut specs = vec![
        (
            "p95_latency_ms",
            summary.latency_ms.p95,
            thresholds.p95_ms,
            Comparator::AtMost,
            Unit::Ms,
        ),
        (
            "rate_5xx",
            summary.rate_5xx,
            thresholds.max_5xx_rate,
            Comparator::AtMost,
            Unit::Ratio,
        ),
        (
            "network_error_rate",
            summary.network_error_rate,
            thresholds.max_network_error_rate,
            Comparator::AtMost,
            Unit::Ratio,
        ),
        (
            "unknown_status_rate",
            summary.unknown_status_rate,
            thresholds.max_unknown_status_rate,
            Comparator::AtMost,
            Unit::Ratio,
        ),
    ];
    if let Some(min) = thresholds.min_success_2xx_rate {
        specs.push((
            "success_2xx_rate",
            summary.success_2xx_rate,
            min,
            Comparator::AtLeast,
            Unit::Ratio,
        ));
    }
    let nothing_sent = summary.requests == 0;
    let checks: Vec<Check> = specs
        .into_iter()
        .map(|(name, observed, threshold, comparator, unit)| {
            let ok = !nothing_sent && comparator.holds(observed, threshold);
            Check {
                name: name.to_owned(),
                observed,
                threshold,
                comparator,
                verdict: if ok { Verdict::Pass } else { Verdict::Fail },
                unit,
                message: nothing_sent
                    .then(|| "no requests were sent, so nothing was measured".to_owned()),
            }
        })
        .collect();
    let verdict = if checks.iter().all(|c| c.verdict == Verdict::Pass) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    GateResult { verdict, checks }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::builtin_slo_baseline;

    fn summary(
        requests: u64,
        p95: f64,
        r5xx: f64,
        net: f64,
        unknown: f64,
        ok: f64,
    ) -> StageSummary {
        let mut s = StageSummary {
            requests,
            rate_5xx: r5xx,
            network_error_rate: net,
            unknown_status_rate: unknown,
            success_2xx_rate: ok,
            ..StageSummary::default()
        };
        s.latency_ms.p95 = p95;
        s
    }

    #[test]
    fn webhook_gate_passes_at_the_threshold() {
        let b = builtin_slo_baseline().unwrap();
        let g = evaluate(
            &summary(100, 1500.0, 0.01, 0.02, 0.05, 0.9),
            b.thresholds_for("gmail_push_webhook"),
        );
        assert_eq!(g.verdict, Verdict::Pass);
        assert_eq!(g.checks.len(), 4, "no 2xx check for webhooks");
    }

    #[test]
    fn five_percent_5xx_fails_the_webhook_gate() {
        let b = builtin_slo_baseline().unwrap();
        let g = evaluate(
            &summary(100, 20.0, 0.05, 0.0, 0.05, 0.95),
            b.thresholds_for("whatsapp_webhook"),
        );
        assert_eq!(g.verdict, Verdict::Fail);
        let failed: Vec<_> = g.failed_checks().map(|c| c.name.as_str()).collect();
        assert_eq!(failed, ["rate_5xx"]);
        let c = g.failed_checks().next().unwrap();
        assert_eq!(
            (c.observed, c.threshold, c.comparator),
            (0.05, 0.01, Comparator::AtMost)
        );
    }

    #[test]
    fn chat_gate_checks_2xx_rate() {
        let b = builtin_slo_baseline().unwrap();
        let g = evaluate(
            &summary(100, 11_000.0, 0.0, 0.0, 0.0, 0.89),
            b.thresholds_for("chat_stream_http"),
        );
        assert_eq!(g.verdict, Verdict::Fail);
        let c = g.failed_checks().next().unwrap();
        assert_eq!(c.name, "success_2xx_rate");
        assert_eq!(c.comparator, Comparator::AtLeast);
        assert_eq!(serde_json::to_value(c.comparator).unwrap(), ">=");
    }

    #[test]
    fn nothing_sent_fails_every_check() {
        let b = builtin_slo_baseline().unwrap();
        let g = evaluate(
            &StageSummary::default(),
            b.thresholds_for("chat_stream_http"),
        );
        assert_eq!(g.verdict, Verdict::Fail);
        assert_eq!(g.checks.len(), 5);
        assert!(
            g.checks
                .iter()
                .all(|c| c.verdict == Verdict::Fail && c.message.is_some())
        );
    }
}
