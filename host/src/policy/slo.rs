//! The SLO baseline: per-scenario gate thresholds (`policies/slo-baseline.json`).
//!
//! ```json
//! { "schema_version": 1,
//!   "description": "...",
//!   "default": { "p95_ms": 1500, "max_5xx_rate": 0.01,
//!                "max_network_error_rate": 0.02, "max_unknown_status_rate": 0.05 },
//!   "scenarios": {
//!     "chat_stream_http": { "endpoint": "/api/chat", "p95_ms": 12000, "max_5xx_rate": 0.05,
//!                           "max_network_error_rate": 0.05, "max_unknown_status_rate": 0.10,
//!                           "min_success_2xx_rate": 0.90 } } }
//! ```
//!
//! Rates are fractions in 0..=1; `max_plugin_error_rate` (optional, 0 when
//! left out) bounds the requests a plugin failed to build or judge.
//! `objective` (optional, e.g. `0.99`) is the
//! availability objective of the burn-rate gate (`crate::slo`): the error
//! budget is `1 - objective`.

use serde::Deserialize;

use super::document::PolicyDocument;
use super::error::{Doc, Origin, PolicyError};
use super::locate::join_key;
use super::ordered::OrderedMap;

const BUILTIN_SLO_BASELINE: &str = include_str!("../../../policies/slo-baseline.json");

/// The gate thresholds for one scenario.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloThresholds {
    /// The endpoint the thresholds were set for (informational).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// 95th percentile latency (from the intended send time) must be at most this, in ms.
    pub p95_ms: f64,
    /// Share of 5xx responses must be at most this.
    pub max_5xx_rate: f64,
    /// Share of network errors must be at most this.
    pub max_network_error_rate: f64,
    /// Share of unexpected statuses must be at most this.
    pub max_unknown_status_rate: f64,
    /// When set, the share of 2xx responses must be at least this.
    #[serde(default)]
    pub min_success_2xx_rate: Option<f64>,
    /// Share of the scenario's requests that a plugin failed to build or
    /// judge (never sent, or not judged) must be at most this (default 0).
    #[serde(default)]
    pub max_plugin_error_rate: f64,
    /// Availability objective (0 < objective < 1) of the burn-rate gate.
    #[serde(default)]
    pub objective: Option<f64>,
}

/// The validated SLO baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct SloBaseline {
    /// What the baseline is.
    pub description: String,
    /// Thresholds for scenarios not listed.
    pub default: SloThresholds,
    /// Per-scenario thresholds, in file order.
    pub scenarios: Vec<(String, SloThresholds)>,
}

impl SloBaseline {
    /// The thresholds for `scenario`, or the default ones.
    pub fn thresholds_for(&self, scenario: &str) -> &SloThresholds {
        self.scenarios
            .iter()
            .find(|(name, _)| name == scenario)
            .map_or(&self.default, |(_, t)| t)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBaseline {
    schema_version: u32,
    #[serde(default)]
    description: String,
    default: SloThresholds,
    #[serde(default)]
    scenarios: Option<OrderedMap<SloThresholds>>,
}

impl PolicyDocument for SloBaseline {
    const KIND: &'static str = "SLO baseline";
    const BUILTIN_NAME: &'static str = "slo-baseline";
    const BUILTIN_TEXT: &'static str = BUILTIN_SLO_BASELINE;
    type Context = ();

    fn parse(text: &str, origin: &Origin, _: &()) -> Result<Self, PolicyError> {
        parse_slo_baseline(text, origin)
    }
}

/// Parses and validates SLO baseline text; `origin` names it in errors.
pub(super) fn parse_slo_baseline(text: &str, origin: &Origin) -> Result<SloBaseline, PolicyError> {
    let doc = Doc::new(origin, text);
    let raw: RawBaseline = doc.parse(text)?;
    if raw.schema_version != 1 {
        return Err(doc.invalid(
            "schema_version",
            format!(
                "unsupported schema_version {}; expected 1",
                raw.schema_version
            ),
        ));
    }
    check_thresholds(&doc, "default", &raw.default)?;
    let scenarios = raw.scenarios.map(|m| m.0).unwrap_or_default();
    for (name, t) in &scenarios {
        check_thresholds(&doc, &join_key("scenarios", name), t)?;
    }
    Ok(SloBaseline {
        description: raw.description,
        default: raw.default,
        scenarios,
    })
}

fn check_thresholds(doc: &Doc<'_>, path: &str, t: &SloThresholds) -> Result<(), PolicyError> {
    if !(t.p95_ms.is_finite() && t.p95_ms > 0.0) {
        return Err(doc.invalid(
            &format!("{path}.p95_ms"),
            format!("expected milliseconds greater than 0, got {}", t.p95_ms),
        ));
    }
    let rates = [
        ("max_5xx_rate", Some(t.max_5xx_rate)),
        ("max_network_error_rate", Some(t.max_network_error_rate)),
        ("max_unknown_status_rate", Some(t.max_unknown_status_rate)),
        ("min_success_2xx_rate", t.min_success_2xx_rate),
        ("max_plugin_error_rate", Some(t.max_plugin_error_rate)),
    ];
    for (field, value) in rates {
        if let Some(v) = value
            && !(0.0..=1.0).contains(&v)
        {
            return Err(doc.invalid(
                &format!("{path}.{field}"),
                format!("expected a fraction between 0 and 1 (0.01 is 1%), got {v}"),
            ));
        }
    }
    if let Some(o) = t.objective
        && !(o > 0.0 && o < 1.0)
    {
        return Err(doc.invalid(
            &format!("{path}.objective"),
            format!("expected a fraction strictly between 0 and 1 (e.g. 0.999), got {o}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_baseline_has_the_seed_gates() {
        let b = SloBaseline::builtin(&()).unwrap_or_else(|e| panic!("{e}"));
        for webhook in [
            "gmail_push_webhook",
            "whatsapp_webhook",
            "some_other_plugin",
        ] {
            let t = b.thresholds_for(webhook);
            assert_eq!(t.p95_ms, 1500.0);
            assert_eq!(t.max_5xx_rate, 0.01);
            assert_eq!(t.max_network_error_rate, 0.02);
            assert_eq!(t.max_unknown_status_rate, 0.05);
            assert_eq!(t.min_success_2xx_rate, None);
        }
        let chat = b.thresholds_for("chat_stream_http");
        assert_eq!(chat.p95_ms, 12000.0);
        assert_eq!(chat.max_5xx_rate, 0.05);
        assert_eq!(chat.max_network_error_rate, 0.05);
        assert_eq!(chat.max_unknown_status_rate, 0.10);
        assert_eq!(chat.min_success_2xx_rate, Some(0.90));
        assert_eq!(chat.endpoint.as_deref(), Some("/api/chat"));
    }

    #[test]
    fn load_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slo.json");
        std::fs::write(&path, BUILTIN_SLO_BASELINE).unwrap();
        assert_eq!(
            SloBaseline::load(&path, &()).unwrap(),
            SloBaseline::builtin(&()).unwrap()
        );
    }
}
