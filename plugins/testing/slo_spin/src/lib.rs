//! An evaluator that never finishes evaluating: it must run out of fuel.

use relhost_plugin_sdk::export_slo_evaluator;
use relhost_plugin_sdk::slo::*;

struct Spin;

impl Guest for Spin {
    fn describe() -> EvaluatorInfo {
        EvaluatorInfo {
            name: "spin".into(),
            version: "0.0.1".into(),
            thresholds: Vec::new(),
        }
    }

    fn evaluate(_summary: ScenarioSummary, _thresholds: Vec<(String, f64)>) -> Vec<SloCheck> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

export_slo_evaluator!(Spin);
