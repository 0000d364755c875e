//! `game-day-<timestamp>.json` (kind `game_day`, `schemas/game-day.schema.json`):
//! the phases in order (before, one per drill, after) with what happened in
//! each, and whether the system recovered.

use serde::{Deserialize, Serialize};

use super::highlights::Highlights;
use super::hypothesis::HypothesisResult;
use crate::report::ProbeOutcome;
use crate::report::{DrillStatus, ReportHeader, TargetInfo, Verdict};

/// How a game day ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GameDayStatus {
    /// The hypothesis held before and after (within the recovery wait) and every drill passed its gates (exit 0).
    Recovered,
    /// The hypothesis held before but not after the recovery wait (exit 1).
    Deviated,
    /// The system recovered, but a drill failed its gates (exit 1).
    DrillFailed,
    /// The hypothesis did not hold before; no drill ran (exit 3).
    Aborted,
    /// Ctrl-C or SIGTERM (exit 130).
    Interrupted,
}

/// What a phase is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    /// The hypothesis before any drill.
    Before,
    /// One drill with its fault schedule.
    Drill,
    /// The hypothesis after the last drill, with the recovery wait.
    After,
}

/// A fault schedule step as it was applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedFault {
    /// When the plan asked for it, in ms from the drill's start.
    pub planned_at_ms: u64,
    /// When it was applied, in ms from the drill's start.
    pub applied_at_ms: u64,
    /// The fault specs in force from then on (empty: cleared).
    pub faults: Vec<String>,
    /// Whether this is the clearing at the end of the drill.
    pub end_of_drill: bool,
    /// Why the fault endpoint refused, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A drill's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillPhase {
    /// The profile drilled.
    pub profile: String,
    /// The drill's status.
    pub status: DrillStatus,
    /// Its `load-drill-*.json`.
    pub report: String,
    /// Each scenario's gate verdict.
    pub verdicts: Vec<ScenarioVerdict>,
}

/// One scenario's gate verdict in a drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioVerdict {
    /// The scenario.
    pub scenario: String,
    /// Its SLO gate's verdict.
    pub verdict: Verdict,
}

/// The snapshot at the end of a phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSnapshot {
    /// When it was taken (RFC 3339).
    pub taken_at: String,
    /// Why it could not be read, when it could not.
    pub error: Option<String>,
    /// What changed during the phase.
    pub highlights: Option<Highlights>,
    /// The snapshot as read (the whole 60-minute history).
    pub snapshot: Option<serde_json::Value>,
}

/// One phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// `before`, `drill:<profile>` or `after`.
    pub name: String,
    /// What the phase is.
    pub kind: PhaseKind,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended (RFC 3339).
    pub finished_at: String,
    /// The synthetic probes of the hypothesis, when they ran.
    pub probes: Vec<ProbeOutcome>,
    /// The hypothesis at the end of the phase (for `after`, the last evaluation).
    pub hypothesis: Option<HypothesisResult>,
    /// The drill, for drill phases.
    pub drill: Option<DrillPhase>,
    /// The fault schedule as applied, for drill phases.
    pub faults: Vec<AppliedFault>,
    /// The snapshot at the end of the phase.
    pub snapshot: PhaseSnapshot,
}

/// The recovery wait after the last drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// Whether the hypothesis held at the first check after the faults were cleared.
    pub held_at_once: bool,
    /// Whether it held within the recovery timeout.
    pub recovered: bool,
    /// From the faults' clearing to the first check where it held, in ms.
    pub recovery_ms: Option<u64>,
    /// The longest wait allowed, in ms.
    pub timeout_ms: u64,
    /// Evaluations of the hypothesis made.
    pub attempts: u32,
}

/// The game-day report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GameDayReport {
    /// Version, kind, start and end, command line.
    #[serde(flatten)]
    pub header: ReportHeader,
    /// How the game day ended.
    pub status: GameDayStatus,
    /// The plan: where it came from, the hypothesis and schedule as read.
    pub plan: serde_json::Value,
    /// The profiles, in the order drilled.
    pub profiles: Vec<String>,
    /// The target.
    pub target: TargetInfo,
    /// Whether the hypothesis held before the first drill.
    pub hypothesis_held_before: bool,
    /// Whether the hypothesis held after the last drill (within the recovery wait).
    pub recovered: Option<bool>,
    /// The recovery wait, when the game day got that far.
    pub recovery: Option<Recovery>,
    /// The phases, in order.
    pub phases: Vec<Phase>,
    /// Things worth knowing that did not fail the run.
    pub warnings: Vec<String>,
}
