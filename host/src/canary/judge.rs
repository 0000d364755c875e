//! The judge: per scenario and metric, the candidate's sample against the
//! control's (Mann–Whitney U at the policy's confidence level, plus the
//! allowed relative and absolute changes), then a weighted score and a
//! verdict.
//!
//! Samples are per request wherever a metric is one: every request's
//! latency (from the HDR histograms, whose buckets are tie groups), every
//! request's outcome (0 or 1) for the rates, every stream's first-byte
//! and first-event time. A 4-second stage at 30 requests a second gives
//! 120 values a side, where per-second values would give 4. Throughput
//! alone is per second. The test asks whether the candidate's values tend
//! to be higher or lower; the metric's own value (the p95, the rate) says
//! by how much.

use serde::{Deserialize, Serialize};

use super::mann_whitney::mann_whitney_of;
use crate::metrics::{Distribution, StageMetrics};
use crate::policy::{CanaryMetric, CanaryPolicy, Direction};

/// How a metric's candidate compares with its control (Kayenta's classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// No significant change beyond the allowed relative and absolute changes.
    Pass,
    /// The candidate is significantly higher, beyond both allowed changes.
    High,
    /// The candidate is significantly lower, beyond both allowed changes.
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
    /// Fewest samples (requests or streams; seconds for throughput) each
    /// side needs for a metric to be judged.
    pub min_samples: usize,
}

/// A sample's size, centre and the metric's value over it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleSummary {
    /// Number of values: requests (or streams), or seconds for throughput.
    pub n: u64,
    /// Their mean (0 when empty).
    pub mean: f64,
    /// Their median (0 when empty).
    pub median: f64,
    /// The metric over the sample: the percentile, the share, the mean rate.
    pub value: f64,
}

impl SampleSummary {
    fn of(sample: &MetricSample) -> Self {
        SampleSummary {
            n: sample.values.len(),
            mean: round6(sample.values.mean()),
            median: round6(sample.values.quantile(0.5)),
            value: round6(sample.value),
        }
    }
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6 + 0.0
}

/// One side's sample of a metric: its values and the metric over them.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSample {
    /// The values compared, as `(value, count)` groups.
    pub values: Distribution,
    /// The metric's value (a percentile, a share, a mean).
    pub value: f64,
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
    /// The control's sample.
    pub control: SampleSummary,
    /// The candidate's sample.
    pub candidate: SampleSummary,
    /// Mann–Whitney U of the candidate (absent without data).
    pub u: Option<f64>,
    /// Two-sided p-value (absent without data).
    pub p_value: Option<f64>,
    /// Relative change of the candidate's value over the control's; absent
    /// without data or when the control's value is 0 and the candidate's is not.
    pub effect: Option<f64>,
    /// The candidate's value minus the control's, in the metric's unit
    /// (absent without data).
    pub difference: Option<f64>,
    /// The relative change the policy accepts in the bad direction.
    pub allowed_relative_change: f64,
    /// The absolute change the policy accepts in the bad direction.
    pub allowed_absolute_change: f64,
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

/// One scenario's measurements on both sides, all stages merged.
#[derive(Debug, Clone, Copy)]
pub struct ScenarioSamples<'a> {
    /// The scenario.
    pub name: &'a str,
    /// Whether its responses are event streams (SSE metrics apply).
    pub event_stream: bool,
    /// The control's measurements.
    pub control: &'a StageMetrics,
    /// The candidate's measurements.
    pub candidate: &'a StageMetrics,
}

/// The sample of `metric` in `m`: per request (or stream), but per second
/// for throughput; `None` for a metric the judge does not know.
pub fn metric_sample(metric: &str, m: &StageMetrics) -> Option<MetricSample> {
    let percentile = |values: Distribution, q: f64| MetricSample {
        value: values.quantile(q),
        values,
    };
    let outcomes = m.outcomes();
    let share = |hits: u64| {
        let sent = outcomes.sent;
        MetricSample {
            values: Distribution::of_outcomes(hits, sent),
            value: if sent == 0 {
                0.0
            } else {
                hits as f64 / sent as f64
            },
        }
    };
    Some(match metric {
        "p50_latency_ms" => percentile(m.latency(), 0.50),
        "p95_latency_ms" => percentile(m.latency(), 0.95),
        "p99_latency_ms" => percentile(m.latency(), 0.99),
        "rate_5xx" => share(outcomes.status_5xx),
        "network_error_rate" => share(outcomes.network_errors),
        "unknown_status_rate" => share(outcomes.unknown_status),
        "success_2xx_rate" => share(outcomes.success_2xx),
        "ttfb_p95_ms" => percentile(m.ttfb(), 0.95),
        "first_event_p95_ms" => percentile(m.first_event(), 0.95),
        "throughput_rps" => {
            // Every second from the first to the last, a silent one as 0.
            let seconds = m.seconds();
            let first = seconds.first().map_or(0, |s| s.second);
            let mut per_second =
                vec![0.0; seconds.last().map_or(0, |s| s.second - first + 1) as usize];
            for s in &seconds {
                per_second[(s.second - first) as usize] = s.requests as f64;
            }
            let values = Distribution::of_values(&per_second);
            MetricSample {
                value: values.mean(),
                values,
            }
        }
        _ => return None,
    })
}

/// Whether a metric applies to a scenario at all.
fn applies(metric: &str, event_stream: bool) -> bool {
    event_stream || !matches!(metric, "ttfb_p95_ms" | "first_event_p95_ms")
}

/// How one metric was classified, and the figures that decided it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Classified {
    /// Pass, high, low or nodata.
    pub class: Classification,
    /// Mann–Whitney U of the candidate.
    pub u: Option<f64>,
    /// Its two-sided p-value.
    pub p_value: Option<f64>,
    /// Relative change of the candidate's value.
    pub effect: Option<f64>,
    /// The candidate's value minus the control's.
    pub difference: Option<f64>,
}

/// Classifies one metric from its two samples: `high` (`low`) when the
/// test is significant at `confidence_level` and the candidate's value is
/// higher (lower) than the control's beyond both the allowed relative and
/// the allowed absolute change; `nodata` when a side has fewer than the
/// minimum samples.
pub fn classify(
    metric: &CanaryMetric,
    control: &MetricSample,
    candidate: &MetricSample,
    confidence_level: f64,
    settings: JudgeSettings,
) -> Classified {
    let nodata = Classified {
        class: Classification::Nodata,
        u: None,
        p_value: None,
        effect: None,
        difference: None,
    };
    let min = settings.min_samples.max(1) as u64;
    if control.values.len() < min || candidate.values.len() < min {
        return nodata;
    }
    let Some(test) = mann_whitney_of(&control.values, &candidate.values) else {
        return nodata;
    };
    let (c, k) = (control.value, candidate.value);
    let effect = if c != 0.0 {
        Some(round6((k - c) / c.abs()))
    } else if k == 0.0 {
        Some(0.0)
    } else {
        None // from zero: an unbounded relative change
    };
    let difference = round6(k - c);
    let relative = metric.allowed_relative_increase;
    let absolute = metric.allowed_absolute_increase;
    let significant = test.p_value < 1.0 - confidence_level;
    let up = k > c && effect.is_none_or(|e| e > relative) && difference > absolute;
    let down = k < c && effect.is_none_or(|e| e < -relative) && -difference > absolute;
    // The samples must differ the same way the metric moved.
    let class = match (significant, test.z > 0.0 && up, test.z < 0.0 && down) {
        (true, true, _) => Classification::High,
        (true, _, true) => Classification::Low,
        _ => Classification::Pass,
    };
    Classified {
        class,
        u: Some(test.u),
        p_value: Some((test.p_value * 1e9).round() / 1e9),
        effect,
        difference: Some(difference),
    }
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
            let (Some(control), Some(candidate)) = (
                metric_sample(&m.name, s.control),
                metric_sample(&m.name, s.candidate),
            ) else {
                continue;
            };
            let classified = classify(m, &control, &candidate, policy.confidence_level, settings);
            let classification = classified.class;
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
                u: classified.u,
                p_value: classified.p_value,
                effect: classified.effect,
                difference: classified.difference,
                allowed_relative_change: m.allowed_relative_increase,
                allowed_absolute_change: m.allowed_absolute_increase,
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
    // `+ 0.0`: a sum of nothing is -0.0, which would print as "-0".
    let score = pct(passed) + 0.0;
    let best = pct(passed + nodata) + 0.0;
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
