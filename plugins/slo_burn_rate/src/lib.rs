//! `burn_rate`: the multiwindow, multi-burn-rate gate of the SRE workbook.
//!
//! Burn rate = error ratio / (1 − objective), where errors are 5xx responses
//! and network errors. It is measured over the last `long_window_s` seconds
//! of the scenario's series and over the last `1 / short_window_divisor` of
//! that window (a twelfth unless the policy says otherwise); the
//! gate fails only when both windows burn faster than `max_burn`, so a
//! short spike that already ended does not fail it, and neither does a
//! slow burn that has stopped. The check's observed value is the smaller of
//! the two burn rates.

use relhost_plugin_sdk::export_slo_evaluator;
use relhost_plugin_sdk::slo::*;

struct BurnRate;

/// Error ratio over the series points in the last `window` seconds.
fn error_ratio(series: &[SeriesPoint], window: u32) -> Option<f64> {
    let last = series.iter().map(|p| p.second).max()?;
    let from = last.saturating_sub(window.saturating_sub(1));
    let (requests, errors) = series
        .iter()
        .filter(|p| p.second >= from)
        .fold((0u64, 0u64), |(r, e), p| (r + p.requests, e + p.errors));
    (requests > 0).then(|| errors as f64 / requests as f64)
}

fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

impl Guest for BurnRate {
    fn describe() -> EvaluatorInfo {
        EvaluatorInfo {
            name: "burn_rate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            thresholds: vec![
                "objective".into(),
                "long_window_s".into(),
                "short_window_divisor".into(),
                "max_burn".into(),
            ],
        }
    }

    fn evaluate(summary: ScenarioSummary, thresholds: Vec<(String, f64)>) -> Vec<SloCheck> {
        let (Some(objective), Some(long), Some(max_burn)) = (
            threshold(&thresholds, "objective"),
            threshold(&thresholds, "long_window_s"),
            threshold(&thresholds, "max_burn"),
        ) else {
            return Vec::new();
        };
        let long = long.max(1.0) as u32;
        let divisor = threshold(&thresholds, "short_window_divisor")
            .unwrap_or(12.0)
            .max(1.0) as u32;
        let short = (long / divisor).max(1);
        let budget = 1.0 - objective;
        let burn = |window| error_ratio(&summary.series, window).map(|ratio| round(ratio / budget));
        match (burn(long), burn(short)) {
            (Some(long_burn), Some(short_burn)) => {
                let mut c = check(
                    "burn_rate",
                    long_burn.min(short_burn),
                    max_burn,
                    Comparator::AtMost,
                    Unit::Burn,
                );
                c.message = Some(format!(
                    "burn {long_burn} over the last {long} s and {short_burn} over the last {short} s; \
                     objective {objective}"
                ));
                vec![c]
            }
            _ => {
                let mut c = check("burn_rate", 0.0, max_burn, Comparator::AtMost, Unit::Burn);
                c.passed = false;
                c.message = Some("no requests in the windows, so nothing was measured".into());
                vec![c]
            }
        }
    }
}

export_slo_evaluator!(BurnRate);
