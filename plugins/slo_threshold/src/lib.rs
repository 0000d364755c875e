//! `threshold`: the seed's SLO gates. p95 latency, 5xx rate, network error
//! rate and unknown status rate at most their thresholds, and the 2xx rate
//! at least its floor when the policy sets one. A scenario that sent nothing
//! fails every check: nothing was measured.

use relhost_plugin_sdk::export_slo_evaluator;
use relhost_plugin_sdk::slo::*;

struct Threshold;

/// The checks, in report order: (name, threshold name, comparator, unit).
const CHECKS: [(&str, &str, Comparator, Unit); 5] = [
    ("p95_latency_ms", "p95_ms", Comparator::AtMost, Unit::Ms),
    ("rate_5xx", "max_5xx_rate", Comparator::AtMost, Unit::Ratio),
    (
        "network_error_rate",
        "max_network_error_rate",
        Comparator::AtMost,
        Unit::Ratio,
    ),
    (
        "unknown_status_rate",
        "max_unknown_status_rate",
        Comparator::AtMost,
        Unit::Ratio,
    ),
    (
        "success_2xx_rate",
        "min_success_2xx_rate",
        Comparator::AtLeast,
        Unit::Ratio,
    ),
];

fn observed(summary: &ScenarioSummary, check: &str) -> f64 {
    match check {
        "p95_latency_ms" => summary.p95_ms,
        "rate_5xx" => summary.rate_5xx,
        "network_error_rate" => summary.network_error_rate,
        "unknown_status_rate" => summary.unknown_status_rate,
        _ => summary.success_2xx_rate,
    }
}

impl Guest for Threshold {
    fn describe() -> EvaluatorInfo {
        EvaluatorInfo {
            name: "threshold".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            thresholds: CHECKS.iter().map(|(_, t, _, _)| (*t).into()).collect(),
        }
    }

    fn evaluate(summary: ScenarioSummary, thresholds: Vec<(String, f64)>) -> Vec<SloCheck> {
        CHECKS
            .iter()
            .filter_map(|(name, key, comparator, unit)| {
                let limit = threshold(&thresholds, key)?;
                let mut c = check(name, observed(&summary, name), limit, *comparator, *unit);
                if summary.requests == 0 {
                    c.passed = false;
                    c.message = Some("no requests were sent, so nothing was measured".into());
                }
                Some(c)
            })
            .collect()
    }
}

export_slo_evaluator!(Threshold);
