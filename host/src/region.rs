//! Region readiness: does a single-region launch still hold for the
//! expected peak, or is the multi-region program (active-standby or
//! active-active) triggered?
//!
//! Inputs are the region rollout policy, the expected peak of concurrent
//! streams, the current topology and the most recent milestone results.
//! Milestone results are, per milestone (`m1_1k`, `m2_5k`, `m3_20k`), the
//! newest `milestone-gate-<milestone>-*.json` in the output directory (its
//! achieved concurrency and verdict); without one, the newest
//! `load-drill-<milestone>-*.json` drill report: the policy's scenario
//! (`chat_stream_http`) must have run, its achieved concurrency is the
//! highest peak of its closed-model stages, and the milestone passed when
//! that scenario's SLO gate passed.
//!
//! The decision ([`decide_region_readiness`]):
//! - capacity = the policy's single-region capacity, lowered to the
//!   concurrency of any milestone whose latest run failed (the region did
//!   not hold that load);
//! - required = expected peak × headroom factor; utilization = required /
//!   capacity. Without a forecast, the decision rests on the measured
//!   evidence alone: the expected peak is the highest concurrency the
//!   milestones drilled (what the team rehearses for), and it says so;
//! - active-active when utilization is above its trigger, else
//!   active-standby when above its trigger, else single region;
//! - the program is triggered when that topology is beyond the current one.
//!
//! A required load above the highest passing milestone is reported as
//! unproven (a warning), not as a trigger.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::policy::{MILESTONES, RegionRolloutPolicy};
use crate::report::{DrillStatus, MilestoneGateReport, ReportHeader};

/// A deployment topology, from least to most regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topology {
    /// One region.
    SingleRegion,
    /// One serving region and a warm standby.
    ActiveStandby,
    /// Two or more regions serving at once.
    ActiveActive,
}

impl Topology {
    /// `single_region`, `active_standby` or `active_active`.
    pub fn as_str(self) -> &'static str {
        match self {
            Topology::SingleRegion => "single_region",
            Topology::ActiveStandby => "active_standby",
            Topology::ActiveActive => "active_active",
        }
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Topology {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "single_region" => Ok(Topology::SingleRegion),
            "active_standby" => Ok(Topology::ActiveStandby),
            "active_active" => Ok(Topology::ActiveActive),
            _ => Err("expected single_region, active_standby or active_active".into()),
        }
    }
}

/// One milestone's most recent result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MilestoneEvidence {
    /// `m1_1k`, `m2_5k` or `m3_20k`.
    pub milestone: String,
    /// The report's file name.
    pub report: String,
    /// When the drill finished.
    pub finished_at: String,
    /// The scenario's highest closed-model concurrency that sent requests.
    pub achieved_concurrency: u64,
    /// Whether the scenario's SLO gate passed.
    pub passed: bool,
}

/// What the decision is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionInputs {
    /// Expected peak of concurrent streams (the business forecast), if given.
    pub expected_peak_streams: Option<u64>,
    /// The topology in place.
    pub current_topology: Topology,
    /// The most recent milestone results.
    pub evidence: Vec<MilestoneEvidence>,
}

/// The decision, with its figures and reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionDecision {
    /// The topology the expected peak needs.
    pub required_topology: Topology,
    /// Whether it is beyond the current topology (the program is triggered).
    pub triggered: bool,
    /// Expected peak × headroom factor.
    pub required_streams: f64,
    /// The policy's single-region capacity.
    pub declared_capacity_streams: u64,
    /// The capacity used: declared, lowered by failed milestones.
    pub effective_capacity_streams: u64,
    /// Highest concurrency of a passing milestone, if any.
    pub proven_streams: Option<u64>,
    /// Required streams / effective capacity.
    pub utilization: f64,
    /// Why, in order: the arithmetic, the evidence, the trigger.
    pub reasons: Vec<String>,
    /// What the operator should know (unproven capacity, no evidence).
    pub warnings: Vec<String>,
}

/// Decides whether the current topology suffices (see the module docs).
pub fn decide_region_readiness(
    policy: &RegionRolloutPolicy,
    inputs: &RegionInputs,
) -> RegionDecision {
    let declared = policy.single_region_capacity_streams;
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    let proven = inputs
        .evidence
        .iter()
        .filter(|e| e.passed)
        .map(|e| e.achieved_concurrency)
        .max();
    let mut effective = declared;
    for e in &inputs.evidence {
        if e.passed {
            reasons.push(format!(
                "milestone {} passed at {} concurrent streams ({})",
                e.milestone, e.achieved_concurrency, e.report
            ));
        } else {
            reasons.push(format!(
                "milestone {} failed at {} concurrent streams ({}): one region holds less than that",
                e.milestone, e.achieved_concurrency, e.report
            ));
            effective = effective.min(e.achieved_concurrency.max(1));
        }
    }
    if inputs.evidence.is_empty() {
        warnings.push(
            "no milestone results found: the capacity is the policy's declared figure, not proven by a drill"
                .to_owned(),
        );
    }
    let drilled = inputs.evidence.iter().map(|e| e.achieved_concurrency).max();
    let peak = match (inputs.expected_peak_streams, drilled) {
        (Some(peak), _) => peak,
        (None, Some(drilled)) => {
            warnings.push(format!(
                "no forecast (--expected-peak-streams or RELIABILITY_EXPECTED_PEAK_STREAMS): \
                 decided from the measured evidence alone, taking the highest concurrency \
                 drilled, {drilled} streams, as the peak"
            ));
            drilled
        }
        (None, None) => {
            warnings.push(
                "no forecast and no milestone results: nothing calls for more than one region"
                    .to_owned(),
            );
            0
        }
    };
    let required = peak as f64 * policy.headroom_factor;
    let utilization = required / effective as f64;
    reasons.push(format!(
        "{} {} streams x headroom {} = {} required; single-region capacity {}{} -> utilization {:.2}",
        if inputs.expected_peak_streams.is_some() {
            "expected peak"
        } else {
            "peak drilled"
        },
        peak,
        policy.headroom_factor,
        required.ceil(),
        effective,
        if effective < declared {
            format!(" (declared {declared}, lowered by a failed milestone)")
        } else {
            String::new()
        },
        utilization
    ));
    let required_topology = if utilization > policy.active_active.utilization_above {
        reasons.push(format!(
            "active_active: utilization {:.2} > {}: {}",
            utilization, policy.active_active.utilization_above, policy.active_active.reason
        ));
        Topology::ActiveActive
    } else if utilization > policy.active_standby.utilization_above {
        reasons.push(format!(
            "active_standby: utilization {:.2} > {}: {}",
            utilization, policy.active_standby.utilization_above, policy.active_standby.reason
        ));
        Topology::ActiveStandby
    } else {
        reasons.push(format!(
            "single_region holds: utilization {:.2} <= {} (the active_standby trigger)",
            utilization, policy.active_standby.utilization_above
        ));
        Topology::SingleRegion
    };
    let triggered = required_topology > inputs.current_topology;
    if triggered {
        reasons.push(format!(
            "multi-region program triggered: {} is needed, the current topology is {}",
            required_topology, inputs.current_topology
        ));
    } else {
        reasons.push(format!(
            "the current topology ({}) suffices",
            inputs.current_topology
        ));
    }
    if !triggered && proven.is_none_or(|p| (p as f64) < required) && !inputs.evidence.is_empty() {
        warnings.push(format!(
            "the required {} streams are not yet proven by a passing milestone (highest: {})",
            required.ceil(),
            proven.map_or_else(|| "none".to_owned(), |p| p.to_string())
        ));
    }
    RegionDecision {
        required_topology,
        triggered,
        required_streams: required,
        declared_capacity_streams: declared,
        effective_capacity_streams: effective,
        proven_streams: proven,
        utilization,
        reasons,
        warnings,
    }
}

/// The evidence of one drill report, if it ran `scenario`.
fn evidence_of(
    milestone: &str,
    file: &str,
    report: &Value,
    scenario: &str,
) -> Option<MilestoneEvidence> {
    let s = report
        .get("scenarios")?
        .as_array()?
        .iter()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(scenario))?;
    if s.get("skipped").is_some_and(|v| !v.is_null()) {
        return None;
    }
    let achieved = s
        .get("stages")?
        .as_array()?
        .iter()
        .filter(|st| st.get("requests").and_then(Value::as_u64).unwrap_or(0) > 0)
        .filter(|st| st.get("load").and_then(|l| l.get("concurrency")).is_some())
        .filter_map(|st| st.get("peak_concurrency")?.as_u64())
        .max()?;
    let passed = s.get("slo_gate")?.get("verdict")?.as_str()? == "pass";
    Some(MilestoneEvidence {
        milestone: milestone.to_owned(),
        report: file.to_owned(),
        finished_at: report
            .get("finished_at")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        achieved_concurrency: achieved,
        passed,
    })
}

/// Reads the newest `load-drill-<milestone>-*.json` of each milestone in
/// `dir` (file names sort by time). Returns the evidence, and warnings for
/// reports that cannot be used. A missing directory is no evidence.
pub fn read_milestone_evidence(
    dir: &Path,
    scenario: &str,
) -> (Vec<MilestoneEvidence>, Vec<String>) {
    let mut evidence = Vec::new();
    let mut warnings = Vec::new();
    let names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    let newest = |prefix: &str| {
        names
            .iter()
            .filter(|n| n.starts_with(prefix) && n.ends_with(".json"))
            .max()
    };
    for milestone in MILESTONES {
        if let Some(gate) = newest(&format!("milestone-gate-{milestone}-")) {
            let path = dir.join(gate);
            match std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| serde_json::from_str::<MilestoneGateReport>(&t).ok())
            {
                Some(report) => evidence.push(MilestoneEvidence {
                    milestone: milestone.to_string(),
                    report: gate.clone(),
                    finished_at: report.header.finished_at,
                    achieved_concurrency: report.achieved_concurrency,
                    passed: report.status == DrillStatus::Pass,
                }),
                None => warnings.push(format!(
                    "{}: not a readable milestone gate report, ignored",
                    path.display()
                )),
            }
            continue;
        }
        let prefix = format!("load-drill-{milestone}-");
        let Some(newest) = names
            .iter()
            .filter(|n| n.starts_with(&prefix) && n.ends_with(".json"))
            .max()
        else {
            continue;
        };
        let path = dir.join(newest);
        let parsed = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        match parsed {
            None => warnings.push(format!(
                "{}: not a readable JSON report, ignored",
                path.display()
            )),
            Some(report) => match evidence_of(milestone, newest, &report, scenario) {
                Some(e) => evidence.push(e),
                None => warnings.push(format!(
                    "{}: no closed-model stage of {scenario} with requests, ignored",
                    path.display()
                )),
            },
        }
    }
    (evidence, warnings)
}

/// Whether the current topology suffices (`pass`) or the multi-region
/// program is triggered (`fail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionStatus {
    /// The current topology suffices.
    Pass,
    /// The multi-region program is triggered.
    Fail,
}

impl RegionStatus {
    /// `pass` or `fail`, as the report writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            RegionStatus::Pass => "pass",
            RegionStatus::Fail => "fail",
        }
    }
}

impl RegionDecision {
    /// The status of this decision.
    pub fn status(&self) -> RegionStatus {
        if self.triggered {
            RegionStatus::Fail
        } else {
            RegionStatus::Pass
        }
    }
}

/// The report of `relhost region-readiness`: `region-readiness-<timestamp>.json`,
/// schema `schemas/region-readiness.schema.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionReadinessReport {
    /// Version, kind, start and end, command line.
    #[serde(flatten)]
    pub header: ReportHeader,
    /// Whether the current topology suffices.
    pub status: RegionStatus,
    /// The effective configuration.
    pub config: Value,
    /// `RELIABILITY_REGION_ID`, when set.
    pub region_id: Option<String>,
    /// The topology in place.
    pub current_topology: Topology,
    /// Whether the result is advisory (`RELIABILITY_REGION_READINESS_ONLY`): exit 0 either way.
    pub readiness_only: bool,
    /// The expected peak of concurrent streams, when a forecast was given.
    pub expected_peak_streams: Option<u64>,
    /// The milestone results used.
    pub evidence: Vec<MilestoneEvidence>,
    /// The decision.
    pub decision: RegionDecision,
    /// Reports that could not be used, and the decision's warnings.
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{PolicyDocument, RegionRolloutPolicy};

    fn inputs(peak: u64, current: Topology, evidence: Vec<MilestoneEvidence>) -> RegionInputs {
        RegionInputs {
            expected_peak_streams: Some(peak),
            current_topology: current,
            evidence,
        }
    }

    fn ev(m: &str, c: u64, passed: bool) -> MilestoneEvidence {
        MilestoneEvidence {
            milestone: m.into(),
            report: format!("load-drill-{m}-x.json"),
            finished_at: String::new(),
            achieved_concurrency: c,
            passed,
        }
    }

    #[test]
    fn decision_flips_as_the_peak_crosses_capacity() {
        // Capacity 20000, headroom 1.25, standby above 0.8, active-active above 1.0.
        let p = RegionRolloutPolicy::builtin(&()).unwrap();
        let d = |peak| decide_region_readiness(&p, &inputs(peak, Topology::SingleRegion, vec![]));
        assert_eq!(d(5_000).required_topology, Topology::SingleRegion);
        assert!(!d(5_000).triggered);
        assert_eq!(d(12_800).required_topology, Topology::SingleRegion); // 16000 / 20000 = 0.8
        assert_eq!(d(12_801).required_topology, Topology::ActiveStandby);
        assert!(d(12_801).triggered);
        assert_eq!(d(16_000).required_topology, Topology::ActiveStandby); // exactly 1.0
        assert_eq!(d(16_001).required_topology, Topology::ActiveActive);
        assert!((d(5_000).utilization - 0.3125).abs() < 1e-9);
    }

    #[test]
    fn current_topology_and_failed_milestones_count() {
        let p = RegionRolloutPolicy::builtin(&()).unwrap();
        let standby = decide_region_readiness(&p, &inputs(14_000, Topology::ActiveStandby, vec![]));
        assert_eq!(standby.required_topology, Topology::ActiveStandby);
        assert!(!standby.triggered, "active-standby in place suffices");
        // m2_5k failed at 5000: capacity at most 5000, so 5000 × 1.25 needs two active regions.
        let failed = decide_region_readiness(
            &p,
            &inputs(
                5_000,
                Topology::SingleRegion,
                vec![ev("m1_1k", 1000, true), ev("m2_5k", 5000, false)],
            ),
        );
        assert_eq!(failed.effective_capacity_streams, 5000);
        assert_eq!(failed.proven_streams, Some(1000));
        assert_eq!(failed.required_topology, Topology::ActiveActive);
        assert!(failed.triggered);
        assert!(failed.reasons.iter().any(|r| r.contains("m2_5k failed")));
        // Passing evidence below the required load: holds, but unproven.
        let unproven = decide_region_readiness(
            &p,
            &inputs(5_000, Topology::SingleRegion, vec![ev("m1_1k", 1000, true)]),
        );
        assert!(!unproven.triggered);
        assert!(
            unproven
                .warnings
                .iter()
                .any(|w| w.contains("not yet proven"))
        );
    }

    #[test]
    fn topologies_parse() {
        assert_eq!(
            "active_active".parse::<Topology>(),
            Ok(Topology::ActiveActive)
        );
        assert!("multi".parse::<Topology>().is_err());
    }
}
