//! An evaluator that never finishes evaluating: it spins (and must run out
//! of fuel), or, as the run parameter `slo_spin` says, `sleep`s, or
//! returns a `bloat`ed check: a 1 MiB name and a 5 MiB message.

use relhost_plugin_sdk::export_slo_evaluator;
use relhost_plugin_sdk::host;
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
        match host::param("slo_spin").as_deref() {
            Some("sleep") => std::thread::sleep(std::time::Duration::from_secs(3600)),
            Some("bloat") => {
                let mut check = check("c", 1.0, 0.0, Comparator::AtMost, Unit::Count);
                check.name = "n".repeat(1 << 20);
                check.message = Some("m\u{1b}[2J".repeat(1 << 20));
                return vec![check];
            }
            _ => {}
        }
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

export_slo_evaluator!(Spin);
