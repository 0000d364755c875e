//! The judge: per scenario and metric, the candidate's per-second samples
//! against the control's (Mann–Whitney U at the policy's confidence level,
//! plus the allowed relative change), then a weighted score and a verdict.

use serde::{Deserialize, Serialize};

use super::mann_whitney::mann_whitney;
use crate::metrics::SecondStats;
use crate::policy::{CanaryMetric, CanaryPolicy, Direction};

/// How a metric's candidate compares with its control (Kayenta's classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// No significant change beyond the allowed relative change.
    Pass,
    /// The candidate is significantly higher, beyond the allowed change.
    High,
    /// The candidate is significantly lower, beyond the allowed change.
    Low,
    /// Too few samples on a side to judge.
    Nodata,
}

/// A metric's (or the canary's) outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryVerdict {
    /// No regression (or, for the canary, a score at or above `pass_score`).
    Pass,
    /// The canary's score is at or above `marginal_score` but below `pass_score`.
    Marginal,
    /// A regression (or, for the canary, a regressing critical metric or a low score).
    Fail,
    /// Too few samples to judge.
    Inconclusive,
}

/// What the judge needs besides the policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JudgeSettings {
    /// Fewest per-second samples each side needs for a metric to be judged.
    pub min_samples: usize,
}

/// A sample's size and centre.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleSummary {
    /// Number of per-second values.
    pub n: u64,
    /// Their mean (0 when empty).
    pub mean: f64,
    /// Their median (0 when empty).
    pub median: f64,
}

impl SampleSummary {
    fn of(values: &[f64]) -> Self {
        if values.is_empty() {
            return SampleSummary {
                n: 0,
                mean: 0.0,
                median: 0.0,
            };
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median = if sorted.len().is_multiple_of(2) {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        } else {
            sorted[mid]
        };
        SampleSummary {
            n: values.len() as u64,
            mean: round6(values.iter().sum::<f64>() / values.len() as f64),
            median: round6(median),
        }
    }
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// One metric of one scenario, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricResult {
    /// The scenario.
    pub scenario: String,
    /// The metric (a policy metric name).
    pub metric: String,
    /// Which way is better.
    pub direction: String,
    /// Its share of the score (the policy weight split over the scenarios it applies to).
    pub weight: f64,
    /// Whether a regression fails the canary outright.
    pub critical: bool,
    /// The control's per-second sample.
    pub control: SampleSummary,
    /// The candidate's per-second sample.
    pub candidate: SampleSummary,
    /// Mann–Whitney U of the candidate (absent without data).
    pub u: Option<f64>,
    /// Two-sided p-value (absent without data).
    pub p_value: Option<f64>,
    /// Relative change of the candidate's mean over the control's; absent
    /// without data or when the control's mean is 0 and the candidate's is not.
    pub effect: Option<f64>,
    /// The relative change the policy accepts in the bad direction.
    pub allowed_relative_change: f64,
    /// Pass, high, low or nodata.
    pub classification: Classification,
    /// Pass, fail (a change in the bad direction) or inconclusive (nodata).
    pub verdict: CanaryVerdict,
}

/// The canary's judgement.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Every judged (scenario, metric), in scenario then policy order.
    pub metrics: Vec<MetricResult>,
    /// 100 × the weight of passing metrics over the weight of all judged ones.
    pub score: f64,
    /// The verdict.
    pub verdict: CanaryVerdict,
    /// Why the verdict is what it is.
    pub reasons: Vec<String>,
}

/// One scenario's per-second detail on both sides.
#[derive(Debug, Clone, Copy)]
pub struct ScenarioSamples<'a> {
    /// The scenario.
    pub name: &'a str,
    /// Whether its responses are event streams (SSE metrics apply).
    pub event_stream: bool,
    /// The control's seconds.
    pub control: &'a [SecondStats],
    /// The candidate's seconds.
    pub candidate: &'a [SecondStats],
}

/// The per-second value of `metric` in one second, `None` when the metric
/// does not apply to it (no stream finished in that second).
pub fn metric_value(metric: &str, s: &SecondStats) -> Option<f64> {
    let share = |count: u64| (s.requests > 0).then(|| count as f64 / s.requests as f64);
    match metric {
        "p50_latency_ms" => Some(s.p50_ms),
        "p95_latency_ms" => Some(s.p95_ms),
        "p99_latency_ms" => Some(s.p99_ms),
        "rate_5xx" => share(s.status_5xx),
        "network_error_rate" => share(s.network_errors),
        "unknown_status_rate" => share(s.unknown_status),
        "success_2xx_rate" => share(s.success_2xx),
        "throughput_rps" => Some(s.requests as f64),
        "ttfb_p95_ms" => s.ttfb_p95_ms,
        "first_event_p95_ms" => s.first_event_p95_ms,
        _ => None,
    }
}

/// Whether a metric applies to a scenario at all.
fn applies(metric: &str, event_stream: bool) -> bool {
    event_stream || !matches!(metric, "ttfb_p95_ms" | "first_event_p95_ms")
}

/// Classifies one metric from its two samples.
pub fn classify(
    metric: &CanaryMetric,
    control: &[f64],
    candidate: &[f64],
    confidence_level: f64,
    settings: JudgeSettings,
) -> (Classification, Option<f64>, Option<f64>, Option<f64>) {
    if control.len() < settings.min_samples.max(1) || candidate.len() < settings.min_samples.max(1)
    {
        return (Classification::Nodata, None, None, None);
    }
    let Some(test) = mann_whitney(control, candidate) else {
        return (Classification::Nodata, None, None, None);
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (c, k) = (mean(control), mean(candidate));
    let effect = if c != 0.0 {
        Some(round6((k - c) / c.abs()))
    } else if k == 0.0 {
        Some(0.0)
    } else {
        None // from zero: an unbounded relative change
    };
    let allowed = metric.allowed_relative_increase;
    let significant = test.p_value < 1.0 - confidence_level;
    let beyond_up = effect.is_none_or(|e| e > allowed) && k > c;
    let beyond_down = effect.is_none_or(|e| e < -allowed) && k < c;
    let class = if significant && test.candidate_higher() && beyond_up {
        Classification::High
    } else if significant && !test.candidate_higher() && beyond_down {
        Classification::Low
    } else {
        Classification::Pass
    };
    (
        class,
        Some(test.u),
        Some((test.p_value * 1e9).round() / 1e9),
        effect,
    )
}

/// Whether a classification is a regression for a metric with `direction`.
pub fn regresses(class: Classification, direction: Direction) -> bool {
    matches!(
        (class, direction),
        (Classification::High, Direction::LowerIsBetter)
            | (Classification::Low, Direction::HigherIsBetter)
    )
}

/// Judges every scenario's metrics and scores the canary.
///
/// Each policy metric's weight is split equally over the scenarios it
/// applies to. The score is 100 × the weight of passing metrics over the
/// weight of all of them. The verdict: `fail` when a critical metric
/// regresses, or when the score would stay under `marginal_score` even if
/// every metric without data passed; else `inconclusive` when any metric
/// lacks data; else `pass` at or above `pass_score`, `marginal` at or above
/// `marginal_score`, `fail` below.
pub fn judge(
    policy: &CanaryPolicy,
    scenarios: &[ScenarioSamples<'_>],
    settings: JudgeSettings,
) -> Judgement {
    let mut metrics = Vec::new();
    for m in &policy.metrics {
        let applicable = scenarios
            .iter()
            .filter(|s| applies(&m.name, s.event_stream))
            .count();
        for s in scenarios
            .iter()
            .filter(|s| applies(&m.name, s.event_stream))
        {
            let values = |seconds: &[SecondStats]| -> Vec<f64> {
                seconds
                    .iter()
                    .filter_map(|p| metric_value(&m.name, p))
                    .collect()
            };
            let (control, candidate) = (values(s.control), values(s.candidate));
            let (classification, u, p_value, effect) =
                classify(m, &control, &candidate, policy.confidence_level, settings);
            let verdict = if classification == Classification::Nodata {
                CanaryVerdict::Inconclusive
            } else if regresses(classification, m.direction) {
                CanaryVerdict::Fail
            } else {
                CanaryVerdict::Pass
            };
            metrics.push(MetricResult {
                scenario: s.name.to_owned(),
                metric: m.name.clone(),
                direction: match m.direction {
                    Direction::LowerIsBetter => "lower_is_better",
                    Direction::HigherIsBetter => "higher_is_better",
                }
                .to_owned(),
                weight: round6(m.weight / applicable as f64),
                critical: policy.critical_metrics.contains(&m.name),
                control: SampleSummary::of(&control),
                candidate: SampleSummary::of(&candidate),
                u,
                p_value,
                effect,
                allowed_relative_change: m.allowed_relative_increase,
                classification,
                verdict,
            });
        }
    }
    score(policy, metrics)
}

/// Scores judged metrics and decides the verdict (see [`judge`]).
pub fn score(policy: &CanaryPolicy, metrics: Vec<MetricResult>) -> Judgement {
    let weight_of = |v: CanaryVerdict| -> f64 {
        metrics
            .iter()
            .filter(|m| m.verdict == v)
            .map(|m| m.weight)
            .sum()
    };
    let total: f64 = metrics.iter().map(|m| m.weight).sum();
    let (passed, nodata) = (
        weight_of(CanaryVerdict::Pass),
        weight_of(CanaryVerdict::Inconclusive),
    );
    let pct = |w: f64| {
        if total > 0.0 {
            (w / total * 100.0 * 100.0).round() / 100.0
        } else {
            0.0
        }
    };
    let score = pct(passed);
    let best = pct(passed + nodata);
    let (pass_at, marginal_at) = (policy.pass_score * 100.0, policy.marginal_score * 100.0);
    let mut reasons = Vec::new();
    let critical: Vec<String> = metrics
        .iter()
        .filter(|m| m.critical && m.verdict == CanaryVerdict::Fail)
        .map(|m| format!("{}.{}", m.scenario, m.metric))
        .collect();
    let nodata_names: Vec<String> = metrics
        .iter()
        .filter(|m| m.verdict == CanaryVerdict::Inconclusive)
        .map(|m| format!("{}.{}", m.scenario, m.metric))
        .collect();
    let verdict = if metrics.is_empty() {
        reasons.push("no metric could be compared: no scenario ran on both sides".into());
        CanaryVerdict::Inconclusive
    } else if !critical.is_empty() {
        reasons.push(format!(
            "critical metric regressed: {}",
            critical.join(", ")
        ));
        CanaryVerdict::Fail
    } else if best < marginal_at {
        reasons.push(format!(
            "score {score} (at most {best} with the metrics lacking data) is under the marginal score {marginal_at}"
        ));
        CanaryVerdict::Fail
    } else if !nodata_names.is_empty() {
        reasons.push(format!("too few samples for: {}", nodata_names.join(", ")));
        CanaryVerdict::Inconclusive
    } else if score >= pass_at {
        CanaryVerdict::Pass
    } else if score >= marginal_at {
        reasons.push(format!("score {score} is under the pass score {pass_at}"));
        CanaryVerdict::Marginal
    } else {
        reasons.push(format!(
            "score {score} is under the marginal score {marginal_at}"
        ));
        CanaryVerdict::Fail
    };
    let regressed: Vec<String> = metrics
        .iter()
        .filter(|m| !m.critical && m.verdict == CanaryVerdict::Fail)
        .map(|m| format!("{}.{}", m.scenario, m.metric))
        .collect();
    if !regressed.is_empty() {
        reasons.push(format!("regressed: {}", regressed.join(", ")));
    }
    Judgement {
        metrics,
        score,
        verdict,
        reasons,
    }
}
