//! The region rollout policy (`policies/region-rollout-policy.json`): one
//! region's capacity in concurrent streams, the headroom kept above the
//! expected peak, and when the multi-region program is triggered.
//!
//! ```json
//! { "schema_version": 1, "description": "...", "scenario": "chat_stream_http",
//!   "single_region_capacity_streams": 20000, "headroom_factor": 1.25,
//!   "triggers": {
//!     "active_standby": { "utilization_above": 0.8, "reason": "..." },
//!     "active_active": { "utilization_above": 1.0, "reason": "..." } } }
//! ```
//!
//! Utilization is `expected peak × headroom_factor / capacity`; a trigger
//! fires when utilization is above its `utilization_above`. The decision
//! itself is [`crate::region::decide_region_readiness`].

use serde::Deserialize;

use super::document::PolicyDocument;
use super::error::{Origin, PolicyError};
use super::refs;

const BUILTIN_REGION_ROLLOUT: &str = include_str!("../../../policies/region-rollout-policy.json");

/// When a topology is triggered, and why.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyTrigger {
    /// Fires when utilization (peak × headroom / capacity) is above this.
    pub utilization_above: f64,
    /// The reason given when it fires.
    pub reason: String,
}

/// The validated region rollout policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionRolloutPolicy {
    /// What the policy is.
    pub description: String,
    /// The scenario whose milestone results prove capacity (`chat_stream_http`).
    pub scenario: String,
    /// Scenarios from plugins that the policy may name.
    pub plugin_scenarios: Vec<String>,
    /// Concurrent streams one region carries.
    pub single_region_capacity_streams: u64,
    /// Capacity kept above the expected peak (1.25 = 25% headroom).
    pub headroom_factor: f64,
    /// When a warm standby region is needed.
    pub active_standby: TopologyTrigger,
    /// When two active regions are needed.
    pub active_active: TopologyTrigger,
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
    single_region_capacity_streams: u64,
    headroom_factor: f64,
    triggers: RawTriggers,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTriggers {
    active_standby: TopologyTrigger,
    active_active: TopologyTrigger,
}

impl PolicyDocument for RegionRolloutPolicy {
    const KIND: &'static str = "region rollout policy";
    const BUILTIN_NAME: &'static str = "region-rollout-policy";
    const BUILTIN_TEXT: &'static str = BUILTIN_REGION_ROLLOUT;
    type Context = ();

    fn parse(text: &str, origin: &Origin, _: &()) -> Result<Self, PolicyError> {
        parse_region_rollout_policy(text, origin)
    }
}

/// Parses and validates region rollout policy text.
pub(super) fn parse_region_rollout_policy(
    text: &str,
    origin: &Origin,
) -> Result<RegionRolloutPolicy, PolicyError> {
    let source = refs::Source::new(origin, text);
    let doc = source.doc();
    let raw: RawPolicy = doc.parse(text)?;
    refs::schema_version(&doc, raw.schema_version)?;
    refs::plugin_scenarios(&doc, &raw.plugin_scenarios)?;
    refs::scenario(&doc, "scenario", &raw.scenario, &raw.plugin_scenarios)?;
    if !(1..=100_000_000).contains(&raw.single_region_capacity_streams) {
        return Err(doc.invalid(
            "single_region_capacity_streams",
            format!(
                "expected 1 to 100000000 concurrent streams, got {}",
                raw.single_region_capacity_streams
            ),
        ));
    }
    if !(1.0..=10.0).contains(&raw.headroom_factor) {
        return Err(doc.invalid(
            "headroom_factor",
            format!(
                "expected a factor from 1 (no headroom) to 10, got {}",
                raw.headroom_factor
            ),
        ));
    }
    for (name, t) in [
        ("active_standby", &raw.triggers.active_standby),
        ("active_active", &raw.triggers.active_active),
    ] {
        let base = format!("triggers.{name}");
        if !(t.utilization_above > 0.0 && t.utilization_above <= 10.0) {
            return Err(doc.invalid(
                &format!("{base}.utilization_above"),
                format!(
                    "expected a utilization above 0 and at most 10 (1.0 is one region full), got {}",
                    t.utilization_above
                ),
            ));
        }
        refs::non_empty(&doc, &format!("{base}.reason"), &t.reason)?;
    }
    if raw.triggers.active_standby.utilization_above > raw.triggers.active_active.utilization_above
    {
        return Err(doc.invalid(
            "triggers.active_standby.utilization_above",
            format!(
                "expected at most triggers.active_active.utilization_above ({}), got {}: active-standby comes before active-active",
                raw.triggers.active_active.utilization_above,
                raw.triggers.active_standby.utilization_above
            ),
        ));
    }
    Ok(RegionRolloutPolicy {
        description: raw.description,
        scenario: raw.scenario,
        plugin_scenarios: raw.plugin_scenarios,
        single_region_capacity_streams: raw.single_region_capacity_streams,
        headroom_factor: raw.headroom_factor,
        active_standby: raw.triggers.active_standby,
        active_active: raw.triggers.active_active,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_policy_loads() {
        let p = RegionRolloutPolicy::builtin(&()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.single_region_capacity_streams, 20_000);
        assert!(p.active_standby.utilization_above < p.active_active.utilization_above);
    }
}
