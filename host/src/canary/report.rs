//! `canary-check-<timestamp>.json`, schema `schemas/canary-check.schema.json`.

use serde::{Deserialize, Serialize};

use super::judge::{CanaryVerdict, MetricResult};
use crate::report::{DrillStatus, ReportHeader, ScenarioReport};

/// What the samples of every metric are, as the report states it.
pub const SAMPLES: &str = "per request over the scenario's run (all stages): every request's \
    latency from its intended send time (HDR buckets within 0.1%; values in a bucket are ties), \
    every request's outcome (1 or 0) for the rates, every stream's first-byte and first-event \
    time; per second for throughput_rps. The Mann-Whitney test compares the samples; effect and \
    difference compare the metric's value (the percentile, the share, the mean rate)";

/// A canary comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryReport {
    /// Version, kind, start and end, command line.
    #[serde(flatten)]
    pub header: ReportHeader,
    /// Pass, marginal, fail or inconclusive.
    pub verdict: CanaryVerdict,
    /// Whether Ctrl-C or SIGTERM cut the run short.
    pub interrupted: bool,
    /// The effective configuration: policy, profile, confidence, sample floor.
    pub config: serde_json::Value,
    /// What each metric's samples are.
    pub samples: String,
    /// The control's run.
    pub control: SideSummary,
    /// The candidate's run.
    pub candidate: SideSummary,
    /// Every judged (scenario, metric).
    pub metrics: Vec<MetricResult>,
    /// 0–100: the weight of passing metrics over that of all judged ones.
    pub score: f64,
    /// Score at or above which the canary passes (0–100).
    pub pass_score: f64,
    /// Score at or above which the canary is marginal (0–100).
    pub marginal_score: f64,
    /// Why the verdict is what it is.
    pub reasons: Vec<String>,
    /// What the operator should know.
    pub warnings: Vec<String>,
}

/// One side's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SideSummary {
    /// The base URL drilled.
    pub base_url: String,
    /// The side's own drill report file.
    pub drill_report: String,
    /// The side's drill status (its SLO gates).
    pub drill_status: DrillStatus,
    /// Per scenario, its headline figures.
    pub scenarios: Vec<ScenarioFigures>,
}

/// A scenario's headline figures on one side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFigures {
    /// The scenario.
    pub name: String,
    /// Why it did not run, when it did not.
    pub skipped: Option<String>,
    /// Requests sent.
    pub requests: u64,
    /// Seconds with at least one finished request (the sample size).
    pub seconds: u64,
    /// Requests per second over the run.
    pub throughput_rps: f64,
    /// Latency percentiles over the run, in ms.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Share answered 5xx.
    pub rate_5xx: f64,
    /// Share ended by a network error.
    pub network_error_rate: f64,
    /// Share answered 2xx.
    pub success_2xx_rate: f64,
}

impl ScenarioFigures {
    /// The figures of a drill report's scenario, with its number of seconds.
    pub fn of(s: &ScenarioReport, seconds: usize) -> Self {
        let t = &s.totals;
        ScenarioFigures {
            name: s.name.clone(),
            skipped: s.skipped.clone(),
            requests: t.requests,
            seconds: seconds as u64,
            throughput_rps: t.throughput_rps,
            p50_ms: t.latency_ms.p50,
            p95_ms: t.latency_ms.p95,
            p99_ms: t.latency_ms.p99,
            rate_5xx: t.rate_5xx,
            network_error_rate: t.network_error_rate,
            success_2xx_rate: t.success_2xx_rate,
        }
    }
}
