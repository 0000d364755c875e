//! The canary policy (`policies/canary-policy.json`): how a candidate is
//! compared with its control, for `relhost canary`.
//!
//! ```json
//! { "schema_version": 1, "description": "...",
//!   "confidence_level": 0.95, "allowed_relative_increase": 0.1,
//!   "pass_score": 0.9, "marginal_score": 0.75,
//!   "metrics": {
//!     "p95_latency_ms": { "weight": 0.3, "direction": "lower_is_better",
//!                         "allowed_relative_increase": 0.2 },
//!     "success_2xx_rate": { "weight": 0.2, "direction": "higher_is_better" } },
//!   "critical_metrics": ["rate_5xx"] }
//! ```
//!
//! A metric regresses when it moves the wrong way by more than its allowed
//! relative change (`allowed_relative_increase`, per metric or the default;
//! for a `higher_is_better` metric it is the allowed relative decrease).
//! Weights are positive and add up to 1; the weighted share of metrics that
//! did not regress is the score: at least `pass_score` passes, at least
//! `marginal_score` is marginal, else the canary fails. A regressing
//! critical metric fails it regardless of the score.

use serde::Deserialize;

use super::document::PolicyDocument;
use super::error::{Origin, PolicyError};
use super::locate::{join_index, join_key};
use super::ordered::OrderedMap;
use super::refs;

const BUILTIN_CANARY: &str = include_str!("../../../policies/canary-policy.json");

/// Metrics a canary can compare (figures of a drill report's scenario).
pub const CANARY_METRICS: &[&str] = &[
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "rate_5xx",
    "network_error_rate",
    "unknown_status_rate",
    "success_2xx_rate",
    "throughput_rps",
    "ttfb_p95_ms",
    "first_event_p95_ms",
];

/// Which way a metric should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Latencies, error rates.
    LowerIsBetter,
    /// Success rates, throughput.
    HigherIsBetter,
}

/// One compared metric.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryMetric {
    /// One of [`CANARY_METRICS`].
    pub name: String,
    /// Its share of the score.
    pub weight: f64,
    /// Which way is better.
    pub direction: Direction,
    /// The relative change in the bad direction that is still accepted.
    pub allowed_relative_increase: f64,
    /// The change in the bad direction, in the metric's unit, that is
    /// still accepted however large relative to the control: a change
    /// regresses only beyond both allowances.
    pub allowed_absolute_increase: f64,
}

/// The absolute change accepted for a metric the policy gives none:
/// 5 ms for times (below the noise of a network hop and of a scheduler),
/// nothing for shares and rates.
pub fn default_absolute_increase(metric: &str) -> f64 {
    if metric.ends_with("_ms") { 5.0 } else { 0.0 }
}

/// The validated canary policy.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryPolicy {
    /// What the policy is.
    pub description: String,
    /// Confidence level of the statistical comparison (0.5 < c < 1).
    pub confidence_level: f64,
    /// Default allowed relative change.
    pub allowed_relative_increase: f64,
    /// Score at or above which the canary passes.
    pub pass_score: f64,
    /// Score at or above which the canary is marginal.
    pub marginal_score: f64,
    /// The metrics, in file order.
    pub metrics: Vec<CanaryMetric>,
    /// Metrics whose regression fails the canary outright.
    pub critical_metrics: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    schema_version: u32,
    #[serde(default)]
    description: String,
    confidence_level: f64,
    allowed_relative_increase: f64,
    pass_score: f64,
    marginal_score: f64,
    metrics: OrderedMap<RawMetric>,
    #[serde(default)]
    critical_metrics: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    weight: f64,
    direction: Direction,
    #[serde(default)]
    allowed_relative_increase: Option<f64>,
    #[serde(default)]
    allowed_absolute_increase: Option<f64>,
}

fn relative(doc: &refs::Source, path: &str, v: f64) -> Result<(), PolicyError> {
    if (0.0..=10.0).contains(&v) {
        Ok(())
    } else {
        Err(doc.doc().invalid(
            path,
            format!("expected a relative change from 0 to 10 (0.1 is 10%), got {v}"),
        ))
    }
}

impl PolicyDocument for CanaryPolicy {
    const KIND: &'static str = "canary policy";
    const BUILTIN_NAME: &'static str = "canary-policy";
    const BUILTIN_TEXT: &'static str = BUILTIN_CANARY;
    type Context = ();

    fn parse(text: &str, origin: &Origin, _: &()) -> Result<Self, PolicyError> {
        parse_canary_policy(text, origin)
    }
}

/// Parses and validates canary policy text.
pub(super) fn parse_canary_policy(
    text: &str,
    origin: &Origin,
) -> Result<CanaryPolicy, PolicyError> {
    let source = refs::Source::new(origin, text);
    let doc = source.doc();
    let raw: RawPolicy = doc.parse(text)?;
    refs::schema_version(&doc, raw.schema_version)?;
    if !(raw.confidence_level > 0.5 && raw.confidence_level < 1.0) {
        return Err(doc.invalid(
            "confidence_level",
            format!(
                "expected a level strictly between 0.5 and 1 (e.g. 0.95), got {}",
                raw.confidence_level
            ),
        ));
    }
    relative(
        &source,
        "allowed_relative_increase",
        raw.allowed_relative_increase,
    )?;
    refs::fraction(&doc, "pass_score", raw.pass_score)?;
    refs::fraction(&doc, "marginal_score", raw.marginal_score)?;
    if raw.marginal_score > raw.pass_score {
        return Err(doc.invalid(
            "marginal_score",
            format!(
                "expected at most pass_score ({}), got {}",
                raw.pass_score, raw.marginal_score
            ),
        ));
    }
    if raw.metrics.0.is_empty() {
        return Err(doc.invalid("metrics", "expected at least one metric"));
    }
    let mut metrics = Vec::with_capacity(raw.metrics.0.len());
    for (name, m) in raw.metrics.0 {
        let base = join_key("metrics", &name);
        if !CANARY_METRICS.contains(&name.as_str()) {
            return Err(doc.invalid(
                &base,
                format!(
                    "unknown metric {name:?}; valid: {}",
                    CANARY_METRICS.join(", ")
                ),
            ));
        }
        refs::positive(&doc, &join_key(&base, "weight"), m.weight, "a weight")?;
        let allowed = m
            .allowed_relative_increase
            .unwrap_or(raw.allowed_relative_increase);
        relative(
            &source,
            &join_key(&base, "allowed_relative_increase"),
            allowed,
        )?;
        let absolute = m
            .allowed_absolute_increase
            .unwrap_or_else(|| default_absolute_increase(&name));
        if !(absolute.is_finite() && absolute >= 0.0) {
            return Err(doc.invalid(
                &join_key(&base, "allowed_absolute_increase"),
                format!("expected a change of 0 or more in the metric's unit, got {absolute}"),
            ));
        }
        metrics.push(CanaryMetric {
            name,
            weight: m.weight,
            direction: m.direction,
            allowed_relative_increase: allowed,
            allowed_absolute_increase: absolute,
        });
    }
    let total: f64 = metrics.iter().map(|m| m.weight).sum();
    if (total - 1.0).abs() > 1e-6 {
        return Err(doc.invalid(
            "metrics",
            format!("expected the weights to add up to 1, they add up to {total}"),
        ));
    }
    for (i, name) in raw.critical_metrics.iter().enumerate() {
        if !metrics.iter().any(|m| &m.name == name) {
            let known: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
            return Err(doc.invalid(
                &join_index("critical_metrics", i),
                format!(
                    "unknown metric {name:?}: a critical metric must be one of the policy's metrics: {}",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(CanaryPolicy {
        description: raw.description,
        confidence_level: raw.confidence_level,
        allowed_relative_increase: raw.allowed_relative_increase,
        pass_score: raw.pass_score,
        marginal_score: raw.marginal_score,
        metrics,
        critical_metrics: raw.critical_metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_policy_loads() {
        let p = CanaryPolicy::builtin(&()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.critical_metrics, ["rate_5xx"]);
        let p95 = p
            .metrics
            .iter()
            .find(|m| m.name == "p95_latency_ms")
            .unwrap();
        assert_eq!(p95.allowed_relative_increase, 0.2);
        assert_eq!(p95.allowed_absolute_increase, 5.0);
        let r = p.metrics.iter().find(|m| m.name == "rate_5xx").unwrap();
        assert_eq!(r.allowed_relative_increase, 0.1);
    }
}
