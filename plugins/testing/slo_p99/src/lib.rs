//! A team's own evaluator: p99 latency at most twice the p95 threshold.

use relhost_plugin_sdk::export_slo_evaluator;
use relhost_plugin_sdk::slo::*;

struct P99;

impl Guest for P99 {
    fn describe() -> EvaluatorInfo {
        EvaluatorInfo {
            name: "p99_twice_p95".into(),
            version: "1.0.0".into(),
            thresholds: vec!["p95_ms".into()],
        }
    }

    fn evaluate(summary: ScenarioSummary, thresholds: Vec<(String, f64)>) -> Vec<SloCheck> {
        threshold(&thresholds, "p95_ms")
            .map(|p95| {
                vec![check(
                    "p99_latency_ms",
                    summary.p99_ms,
                    2.0 * p95,
                    Comparator::AtMost,
                    Unit::Ms,
                )]
            })
            .unwrap_or_default()
    }
}

export_slo_evaluator!(P99);
