//! SLO gates computed by evaluator plugins: the built-in threshold gate (the
//! seed's SLO gates), the built-in burn-rate gate, and a team's own
//! evaluators (`--slo-plugin`). Evaluators run sandboxed under fuel and a
//! deadline; one that fails shows as a failed check naming it, never as a
//! lost report.

use std::path::PathBuf;

use crate::metrics::{StageSummary, TimePoint};
use crate::plugin::{
    self, PluginError, PluginSource, Runtime, ScenarioSummary, SeriesPoint, SloEvaluatorPlugin, wit,
};
use crate::policy::SloThresholds;
use crate::report::{Check, Comparator, GateResult, Unit, Verdict};

/// How the burn-rate gate reads the series: the long window, in seconds,
/// the short window as a fraction of it, and the highest burn rate allowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnSettings {
    /// The long window in seconds.
    pub long_window_s: f64,
    /// The short window is the long one divided by this (12 in the SRE workbook).
    pub short_window_divisor: u32,
    /// The burn rate both windows must exceed for the gate to fail.
    pub max_burn: f64,
}

/// The evaluators of a run.
#[derive(Clone)]
pub struct Evaluators {
    threshold: SloEvaluatorPlugin,
    burn_rate: SloEvaluatorPlugin,
    extra: Vec<SloEvaluatorPlugin>,
}

impl Evaluators {
    /// Loads the built-in evaluators and the team's own (`--slo-plugin` files).
    pub async fn load(runtime: &Runtime, extra: &[PathBuf]) -> Result<Self, PluginError> {
        let builtin = |name: &str| PluginSource::Builtin(name.to_string());
        let threshold = runtime.load_slo_evaluator(&builtin("threshold")).await?;
        let burn_rate = runtime.load_slo_evaluator(&builtin("burn_rate")).await?;
        let mut loaded = Vec::with_capacity(extra.len());
        for path in extra {
            loaded.push(
                runtime
                    .load_slo_evaluator(&PluginSource::File(path.clone()))
                    .await?,
            );
        }
        Ok(Evaluators {
            threshold,
            burn_rate,
            extra: loaded,
        })
    }

    /// Every evaluator, for the report's plugin list.
    pub fn plugins(&self) -> impl Iterator<Item = &SloEvaluatorPlugin> {
        [&self.threshold, &self.burn_rate]
            .into_iter()
            .chain(&self.extra)
    }

    /// A scenario's SLO gate: the threshold gate and the team's evaluators.
    pub async fn gate(
        &self,
        scenario: &str,
        totals: &StageSummary,
        series: &[TimePoint],
        thresholds: &SloThresholds,
    ) -> GateResult {
        let summary = scenario_summary(scenario, totals, series);
        let values = threshold_values(thresholds);
        let mut checks = run(&self.threshold, &summary, &values).await;
        for evaluator in &self.extra {
            checks.extend(run(evaluator, &summary, &values).await);
        }
        checks.push(plugin_error_check(totals, thresholds.max_plugin_error_rate));
        GateResult::from_checks(checks)
    }

    /// A scenario's burn-rate gate, when its thresholds set an objective.
    pub async fn burn_rate_gate(
        &self,
        scenario: &str,
        totals: &StageSummary,
        series: &[TimePoint],
        thresholds: &SloThresholds,
        burn: BurnSettings,
    ) -> Option<GateResult> {
        let objective = thresholds.objective?;
        let summary = scenario_summary(scenario, totals, series);
        let values = vec![
            ("objective".to_string(), objective),
            ("long_window_s".to_string(), burn.long_window_s),
            (
                "short_window_divisor".to_string(),
                f64::from(burn.short_window_divisor),
            ),
            ("max_burn".to_string(), burn.max_burn),
        ];
        Some(GateResult::from_checks(
            run(&self.burn_rate, &summary, &values).await,
        ))
    }
}

/// Runs one evaluator; a failure becomes one failed check that names it.
async fn run(
    evaluator: &SloEvaluatorPlugin,
    summary: &ScenarioSummary,
    values: &[(String, f64)],
) -> Vec<Check> {
    match evaluator.evaluate(summary, values).await {
        Ok(checks) => checks.into_iter().map(check).collect(),
        Err(error) => vec![Check {
            name: format!("evaluator:{}", evaluator.info().name),
            observed: 0.0,
            threshold: 0.0,
            comparator: Comparator::AtMost,
            verdict: Verdict::Fail,
            unit: Unit::Count,
            message: Some(error.to_string()),
        }],
    }
}

/// The host's own check: requests a plugin failed to build (never sent)
/// or to judge count against the gate, so a run whose plugin broke
/// cannot pass on the requests that did go out. The rate is plugin errors
/// over requests sent plus plugin errors.
fn plugin_error_check(totals: &StageSummary, max_rate: f64) -> Check {
    let attempted = totals.requests + totals.plugin_errors;
    let rate = if attempted == 0 {
        0.0
    } else {
        totals.plugin_errors as f64 / attempted as f64
    };
    Check {
        name: "plugin_error_rate".to_string(),
        observed: (rate * 1e6).round() / 1e6,
        threshold: max_rate,
        comparator: Comparator::AtMost,
        verdict: if rate <= max_rate {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        unit: Unit::Ratio,
        message: (totals.plugin_errors > 0).then(|| {
            format!(
                "{} requests could not be built or judged by their plugin ({} were sent)",
                totals.plugin_errors, totals.requests
            )
        }),
    }
}

fn check(c: plugin::SloCheck) -> Check {
    Check {
        name: c.name,
        observed: c.observed,
        threshold: c.threshold,
        comparator: match c.comparator {
            wit::Comparator::AtMost => Comparator::AtMost,
            wit::Comparator::AtLeast => Comparator::AtLeast,
        },
        verdict: if c.passed {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        unit: match c.unit {
            wit::Unit::Ms => Unit::Ms,
            wit::Unit::Ratio => Unit::Ratio,
            wit::Unit::Count => Unit::Count,
            wit::Unit::Burn => Unit::Burn,
        },
        message: c.message,
    }
}

/// The thresholds an evaluator receives, by name.
fn threshold_values(t: &SloThresholds) -> Vec<(String, f64)> {
    let mut values = vec![
        ("p95_ms".to_string(), t.p95_ms),
        ("max_5xx_rate".to_string(), t.max_5xx_rate),
        (
            "max_network_error_rate".to_string(),
            t.max_network_error_rate,
        ),
        (
            "max_unknown_status_rate".to_string(),
            t.max_unknown_status_rate,
        ),
    ];
    if let Some(min) = t.min_success_2xx_rate {
        values.push(("min_success_2xx_rate".to_string(), min));
    }
    if let Some(objective) = t.objective {
        values.push(("objective".to_string(), objective));
    }
    values
}

/// What an evaluator is told about a scenario.
fn scenario_summary(
    scenario: &str,
    totals: &StageSummary,
    series: &[TimePoint],
) -> ScenarioSummary {
    let l = &totals.latency_ms;
    ScenarioSummary {
        scenario: scenario.to_string(),
        requests: totals.requests,
        throughput_rps: totals.throughput_rps,
        p50_ms: l.p50,
        p90_ms: l.p90,
        p95_ms: l.p95,
        p99_ms: l.p99,
        max_ms: l.max,
        rate_5xx: totals.rate_5xx,
        network_error_rate: totals.network_error_rate,
        unknown_status_rate: totals.unknown_status_rate,
        success_2xx_rate: totals.success_2xx_rate,
        series: series
            .iter()
            .map(|p| SeriesPoint {
                second: p.second,
                requests: p.requests,
                errors: p.errors,
                p95_ms: p.p95_ms,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
