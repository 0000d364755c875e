//! The milestone gate policy (`policies/milestone-gate-policy.json`): per
//! milestone (`m1_1k`, `m2_5k`, `m3_20k`), the thresholds the milestone
//! drill's scenario must meet.
//!
//! ```json
//! { "schema_version": 1, "description": "...", "scenario": "chat_stream_http",
//!   "milestones": {
//!     "m1_1k": { "p95_ms": 12000, "max_5xx_rate": 0.05, "max_network_error_rate": 0.05,
//!                "min_success_2xx_rate": 0.9, "min_unique_users": 10,
//!                "min_achieved_concurrency": 1000 } } }
//! ```
//!
//! A milestone's name is the name of its builtin load profile. Rates are
//! fractions in 0..=1. `min_unique_users` and `min_achieved_concurrency` are
//! floors at full scale; a gate run with `--chat-concurrency-scale` scales
//! the concurrency floor with it.

use serde::Deserialize;

use super::document::PolicyDocument;
use super::error::{Origin, PolicyError};
use super::locate::join_key;
use super::ordered::OrderedMap;
use super::refs;
use super::stage::MAX_CONCURRENCY;

const BUILTIN_MILESTONE_GATE: &str = include_str!("../../../policies/milestone-gate-policy.json");

/// The milestones the gate knows: each is a builtin load profile.
pub const MILESTONES: &[&str] = &["m1_1k", "m2_5k", "m3_20k"];

/// One milestone's thresholds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MilestoneThresholds {
    /// p95 latency (from the intended send time) at most this, in ms.
    pub p95_ms: f64,
    /// Share of 5xx at most this.
    pub max_5xx_rate: f64,
    /// Share of network errors at most this.
    pub max_network_error_rate: f64,
    /// Share of 2xx at least this.
    pub min_success_2xx_rate: f64,
    /// Distinct users (pool entries) the drill must touch.
    pub min_unique_users: u64,
    /// Concurrent streams the drill must reach (its highest closed-model
    /// stage, with the scenario's gate passing).
    pub min_achieved_concurrency: u32,
}

/// The validated milestone gate policy.
#[derive(Debug, Clone, PartialEq)]
pub struct MilestoneGatePolicy {
    /// What the policy is.
    pub description: String,
    /// The scenario the milestones drill (`chat_stream_http`).
    pub scenario: String,
    /// Scenarios from plugins that the policy may name.
    pub plugin_scenarios: Vec<String>,
    /// Per milestone, in file order.
    pub milestones: Vec<(String, MilestoneThresholds)>,
}

impl MilestoneGatePolicy {
    /// The thresholds of `milestone`.
    pub fn milestone(&self, milestone: &str) -> Option<&MilestoneThresholds> {
        self.milestones
            .iter()
            .find(|(m, _)| m == milestone)
            .map(|(_, t)| t)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    schema_version: u32,
    #[serde(default)]
    description: String,
    scenario: String,
    #[serde(default)]
    plugin_scenarios: Vec<String>,
    milestones: OrderedMap<MilestoneThresholds>,
}

impl PolicyDocument for MilestoneGatePolicy {
    const KIND: &'static str = "milestone gate policy";
    const BUILTIN_NAME: &'static str = "milestone-gate-policy";
    const BUILTIN_TEXT: &'static str = BUILTIN_MILESTONE_GATE;
    type Context = ();

    fn parse(text: &str, origin: &Origin, _: &()) -> Result<Self, PolicyError> {
        parse_milestone_gate_policy(text, origin)
    }
}

/// Parses and validates milestone gate policy text.
pub(super) fn parse_milestone_gate_policy(
    text: &str,
    origin: &Origin,
) -> Result<MilestoneGatePolicy, PolicyError> {
    let doc = refs::Source::new(origin, text);
    let doc = doc.doc();
    let raw: RawPolicy = doc.parse(text)?;
    refs::schema_version(&doc, raw.schema_version)?;
    refs::plugin_scenarios(&doc, &raw.plugin_scenarios)?;
    refs::scenario(&doc, "scenario", &raw.scenario, &raw.plugin_scenarios)?;
    if raw.milestones.0.is_empty() {
        return Err(doc.invalid("milestones", "expected at least one milestone"));
    }
    for (name, t) in &raw.milestones.0 {
        let base = join_key("milestones", name);
        if !MILESTONES.contains(&name.as_str()) {
            return Err(doc.invalid(
                &base,
                format!(
                    "unknown milestone {name:?}; valid: {}",
                    MILESTONES.join(", ")
                ),
            ));
        }
        refs::positive(&doc, &join_key(&base, "p95_ms"), t.p95_ms, "milliseconds")?;
        refs::fraction(&doc, &join_key(&base, "max_5xx_rate"), t.max_5xx_rate)?;
        refs::fraction(
            &doc,
            &join_key(&base, "max_network_error_rate"),
            t.max_network_error_rate,
        )?;
        refs::fraction(
            &doc,
            &join_key(&base, "min_success_2xx_rate"),
            t.min_success_2xx_rate,
        )?;
        if t.min_achieved_concurrency == 0 || t.min_achieved_concurrency > MAX_CONCURRENCY {
            return Err(doc.invalid(
                &join_key(&base, "min_achieved_concurrency"),
                format!(
                    "expected 1 to {MAX_CONCURRENCY} concurrent streams, got {}",
                    t.min_achieved_concurrency
                ),
            ));
        }
    }
    Ok(MilestoneGatePolicy {
        description: raw.description,
        scenario: raw.scenario,
        plugin_scenarios: raw.plugin_scenarios,
        milestones: raw.milestones.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_policy_has_every_milestone() {
        let p = MilestoneGatePolicy::builtin(&()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.scenario, "chat_stream_http");
        for m in MILESTONES {
            assert!(p.milestone(m).is_some(), "{m}");
        }
        assert_eq!(
            p.milestone("m2_5k").map(|t| t.min_achieved_concurrency),
            Some(5000)
        );
    }
}
