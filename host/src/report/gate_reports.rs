//! Reports of the release-pipeline gates (`relhost gate`, `relhost
//! milestone-gate`): every check with the team that owns it, and their CI
//! renderings (JUnit XML, Markdown).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::junit::{JunitCase, write_junit};
use super::markdown::{MarkdownSummary, SummaryRow};
use super::probe_outcome::{Observed, ProbeOutcome};
use super::slo_gate::{Comparator, GateResult, Verdict};
use super::types::{DrillStatus, PluginInfo, ReportHeader, TargetInfo};
use crate::atomic_file::WriteError;
use crate::policy::{Owner, OwnershipMatrix};

/// One check of a gate, with its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnedCheck {
    /// Where the check comes from: `probe`, `drill`, `snapshot`, `burn_rate`, `milestone`.
    pub source: String,
    /// The scenario it is about, if any.
    pub scenario: Option<String>,
    /// The check's name.
    pub name: String,
    /// The measured value, when there is one.
    pub observed: Option<f64>,
    /// The threshold, when there is one.
    pub threshold: Option<f64>,
    /// How `observed` must relate to `threshold`.
    pub comparator: Option<Comparator>,
    /// Pass, fail or skipped.
    pub verdict: Verdict,
    /// The owner's id in the ownership matrix.
    pub owner: String,
    /// The owning team.
    pub team: String,
    /// How to reach the team.
    pub contact: String,
    /// Why the check failed or was skipped, or what it saw.
    pub message: Option<String>,
}

impl OwnedCheck {
    /// A check owned by `owner`.
    pub fn new(source: &str, scenario: Option<&str>, name: &str, owner: &Owner) -> Self {
        OwnedCheck {
            source: source.to_owned(),
            scenario: scenario.map(str::to_owned),
            name: name.to_owned(),
            observed: None,
            threshold: None,
            comparator: None,
            verdict: Verdict::Pass,
            owner: owner.id.clone(),
            team: owner.team.clone(),
            contact: owner.contact.clone(),
            message: None,
        }
    }

    /// Every check of a scenario's gate, owned as the matrix says.
    pub fn from_gate(
        source: &str,
        scenario: &str,
        gate: &GateResult,
        owners: &OwnershipMatrix,
    ) -> Vec<Self> {
        gate.checks
            .iter()
            .map(|c| OwnedCheck {
                observed: Some(c.observed),
                threshold: Some(c.threshold),
                comparator: Some(c.comparator),
                verdict: c.verdict,
                message: c.message.clone(),
                ..OwnedCheck::new(
                    source,
                    Some(scenario),
                    &c.name,
                    owners.owner_for(&c.name, Some(scenario)),
                )
            })
            .collect()
    }

    /// Every check of every probe, owned as the matrix says (`probe_status`, ...).
    pub fn from_probes(probes: &[ProbeOutcome], owners: &OwnershipMatrix) -> Vec<Self> {
        probes
            .iter()
            .flat_map(|p| {
                let skipped = (p.verdict == Verdict::Skipped).then(|| {
                    let owner = owners.owner_for("probe_status", Some(&p.scenario));
                    OwnedCheck {
                        verdict: Verdict::Skipped,
                        message: p.message.clone(),
                        ..OwnedCheck::new("probe", Some(&p.scenario), "probe", owner)
                    }
                });
                let checks = p.checks.iter().map(move |c| {
                    let name = format!("probe_{}", c.name);
                    let owner = owners.owner_for(&name, Some(&p.scenario));
                    OwnedCheck {
                        observed: match &c.observed {
                            Observed::Number(n) => Some(*n),
                            Observed::Text(_) => None,
                        },
                        verdict: c.verdict,
                        message: Some(format!("expected {}", c.expected)),
                        ..OwnedCheck::new("probe", Some(&p.scenario), &name, owner)
                    }
                });
                skipped.into_iter().chain(checks)
            })
            .collect()
    }

    fn label(&self) -> String {
        match &self.scenario {
            Some(s) => format!("{}.{s}", self.source),
            None => self.source.clone(),
        }
    }

    fn observed_text(&self) -> String {
        self.observed
            .map_or_else(|| "-".to_owned(), |v| format!("{v}"))
    }

    fn expected_text(&self) -> String {
        match (self.comparator, self.threshold) {
            (Some(c), Some(t)) => format!("{} {t}", c.as_str()),
            _ => self.message.clone().unwrap_or_default(),
        }
    }
}

/// `pass` when no check failed and at least one passed.
pub fn verdict_of(checks: &[OwnedCheck]) -> Verdict {
    let failed = checks.iter().any(|c| c.verdict == Verdict::Fail);
    let passed = checks.iter().any(|c| c.verdict == Verdict::Pass);
    if failed || !passed {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}

/// The live snapshot section of the release gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSection {
    /// Minutes of history asked for.
    pub minutes: u32,
    /// Rows per section asked for.
    pub limit: u32,
    /// Why the snapshot could not be read, when it could not.
    pub error: Option<String>,
    /// The snapshot as read, when it was.
    pub snapshot: Option<serde_json::Value>,
}

/// One scenario's burn-rate gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnRateGate {
    /// The scenario.
    pub scenario: String,
    /// The availability objective used.
    pub objective: f64,
    /// Its long window in seconds (the short one is a twelfth of it).
    pub long_window_s: f64,
    /// The gate.
    pub gate: GateResult,
}

/// `release-gate-<timestamp>.json`, schema `schemas/release-gate.schema.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseGateReport {
    /// Version, kind, start and end, command line.
    #[serde(flatten)]
    pub header: ReportHeader,
    /// How the gate ended.
    pub status: DrillStatus,
    /// The effective configuration, secrets by name only.
    pub config: serde_json::Value,
    /// What was gated.
    pub target: TargetInfo,
    /// The drill's profile.
    pub profile: String,
    /// The plugins used.
    pub plugins: Vec<PluginInfo>,
    /// The synthetic probes.
    pub probes: Vec<ProbeOutcome>,
    /// The drill's own report file.
    pub drill_report: String,
    /// The live snapshot.
    pub snapshot: SnapshotSection,
    /// Per scenario, the burn-rate gate.
    pub burn_rate_gate: Vec<BurnRateGate>,
    /// Every check of the gate, with its owner.
    pub checks: Vec<OwnedCheck>,
    /// What the operator should know.
    pub warnings: Vec<String>,
}

/// `milestone-gate-<milestone>-<timestamp>.json`, schema `schemas/milestone-gate.schema.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MilestoneGateReport {
    /// Version, kind, start and end, command line.
    #[serde(flatten)]
    pub header: ReportHeader,
    /// The milestone (`m1_1k`, `m2_5k`, `m3_20k`).
    pub milestone: String,
    /// How the gate ended.
    pub status: DrillStatus,
    /// The effective configuration, secrets by name only.
    pub config: serde_json::Value,
    /// What was gated.
    pub target: TargetInfo,
    /// The drill's own report file.
    pub drill_report: String,
    /// The most concurrent streams the drill held.
    pub achieved_concurrency: u64,
    /// Every check of the gate, with its owner.
    pub checks: Vec<OwnedCheck>,
    /// What the operator should know.
    pub warnings: Vec<String>,
}

/// Writes `--junit` and `--summary` outputs for a gate's checks.
pub fn write_gate_outputs(
    title: &str,
    checks: &[OwnedCheck],
    report_path: &Path,
    junit: Option<&Path>,
    summary: Option<&Path>,
) -> Result<Vec<PathBuf>, WriteError> {
    let mut written = Vec::new();
    if let Some(path) = junit {
        let cases: Vec<JunitCase> = checks
            .iter()
            .map(|c| JunitCase {
                classname: c.label(),
                name: c.name.clone(),
                time_s: 0.0,
                failure: (c.verdict == Verdict::Fail).then(|| {
                    format!(
                        "observed {}, expected {} (owner {}: {}){}",
                        c.observed_text(),
                        c.expected_text(),
                        c.team,
                        c.contact,
                        c.message
                            .as_deref()
                            .map(|m| format!("; {m}"))
                            .unwrap_or_default()
                    )
                }),
                skipped: c.verdict == Verdict::Skipped,
            })
            .collect();
        written.push(write_junit(path, title, &cases)?);
    }
    if let Some(path) = summary {
        let verdict = verdict_of(checks);
        let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
        let mut md = MarkdownSummary::new(
            title,
            if verdict == Verdict::Pass {
                "pass"
            } else {
                "fail"
            },
            format!(
                "{} checks, {failed} failed; report {}",
                checks.len(),
                report_path.display()
            ),
        );
        for c in checks {
            md.row(SummaryRow {
                check: format!("{} {}", c.label(), c.name),
                owner: format!("{} ({})", c.team, c.contact),
                observed: c.observed_text(),
                expected: c.expected_text(),
                verdict: match c.verdict {
                    Verdict::Pass => "pass",
                    Verdict::Fail => "fail",
                    Verdict::Skipped => "skipped",
                }
                .to_owned(),
            });
        }
        written.push(md.write(path)?);
    }
    Ok(written)
}
