//! What a drill's report is built from ([`RunRecord`]), which the report
//! of a segment carries whole ([`SegmentSection`]) so that `relhost merge`
//! builds the report of the drill as one run's: the same records, summed
//! and merged, through the same code.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::StageMetrics;
use crate::policy::{Load, Stage};

use super::types::{RotationReport, StageRun};

/// The version of [`SegmentSection`]'s layout; `relhost merge` reads this one only.
pub const SEGMENT_FORMAT: u32 = 1;

/// Coverage floors for scenarios that use the credential pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageGoals {
    /// The share of the pool that must carry a request.
    pub min_unique_coverage: Option<f64>,
    /// The number of distinct entries that must carry a request.
    pub min_unique_users: Option<u64>,
}

/// Everything a drill report is computed from, besides the plugins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// Per scenario, in run order.
    pub scenarios: Vec<ScenarioRecord>,
    /// The SLO baseline's text, as the gates read it.
    pub slo_baseline: String,
    /// Where the credentials came from.
    pub credential_source: String,
    /// The rotation strategy, when there were credentials.
    pub rotation: Option<RotationReport>,
    /// The coverage floors of the scenarios that use the credentials.
    pub coverage: CoverageGoals,
    /// Whether a stop signal ended the run.
    pub interrupted: bool,
}

/// What happened to one scenario, losslessly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioRecord {
    /// The scenario's name.
    pub name: String,
    /// The endpoint it drives.
    pub endpoint: String,
    /// Whether its responses are event streams.
    pub event_stream: bool,
    /// Per stage run, in order.
    pub runs: Vec<StageRecord>,
    /// Why the scenario did not run, when it did not.
    pub skipped: Option<String>,
    /// Distinct plugin error messages seen at run time.
    pub plugin_errors: Vec<String>,
    /// Requests abandoned in flight at an interrupt.
    pub abandoned: u64,
    /// Requests per credential-pool index (empty when the scenario used none).
    pub credential_uses: Vec<u64>,
    /// What went wrong with the run itself.
    pub errors: Vec<String>,
}

/// One stage's run: its plan, every measurement, its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRecord {
    /// The stage as planned (after scaling).
    pub stage: StagePlan,
    /// Every measurement of the stage.
    pub metrics: StageMetrics,
    /// How long the stage ran, in µs.
    pub elapsed_us: u64,
    /// The most requests in flight at once (sampled).
    pub peak_concurrency: u64,
}

/// A [`Stage`] as records carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagePlan {
    /// The stage's name.
    pub name: String,
    /// Arrivals per second (open model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Users (closed model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Length, in µs.
    pub duration_us: u64,
    /// Ramp, in µs.
    pub ramp_us: u64,
    /// Request cap.
    pub max_requests: Option<u64>,
    /// Closed model: pause between a user's requests, in µs.
    pub think_time_us: u64,
}

impl From<&Stage> for StagePlan {
    fn from(stage: &Stage) -> Self {
        let (rate, concurrency) = match stage.load {
            Load::Rate(rate) => (Some(rate), None),
            Load::Concurrency(users) => (None, Some(users)),
        };
        StagePlan {
            name: stage.name.clone(),
            rate,
            concurrency,
            duration_us: micros(stage.duration),
            ramp_us: micros(stage.ramp),
            max_requests: stage.max_requests,
            think_time_us: micros(stage.think_time),
        }
    }
}

impl TryFrom<&StagePlan> for Stage {
    type Error = String;

    fn try_from(plan: &StagePlan) -> Result<Self, Self::Error> {
        let load = match (plan.rate, plan.concurrency) {
            (Some(rate), None) => Load::Rate(rate),
            (None, Some(users)) => Load::Concurrency(users),
            _ => {
                return Err(format!(
                    "stage {:?}: exactly one of rate and concurrency",
                    plan.name
                ));
            }
        };
        Ok(Stage {
            name: plan.name.clone(),
            load,
            duration: Duration::from_micros(plan.duration_us),
            ramp: Duration::from_micros(plan.ramp_us),
            max_requests: plan.max_requests,
            think_time: Duration::from_micros(plan.think_time_us),
        })
    }
}

impl StageRecord {
    /// The record of a stage's run.
    pub fn of(run: &StageRun) -> Self {
        StageRecord {
            stage: StagePlan::from(&run.stage),
            metrics: run.metrics.clone(),
            elapsed_us: micros(run.elapsed),
            peak_concurrency: run.peak_concurrency,
        }
    }

    /// The stage's run, as the report reads it.
    pub fn run(&self) -> Result<StageRun, String> {
        Ok(StageRun {
            stage: Stage::try_from(&self.stage)?,
            metrics: self.metrics.clone(),
            elapsed: Duration::from_micros(self.elapsed_us),
            peak_concurrency: self.peak_concurrency,
        })
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// What a segment's report says of its segment, and the record it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentSection {
    /// The layout's version ([`SEGMENT_FORMAT`]).
    pub format: u32,
    /// The segment's index, from 0.
    pub index: u32,
    /// How many segments the drill has.
    pub count: u32,
    /// The instant the segments agreed to start at (`--start-at`), if any.
    pub start_at: Option<String>,
    /// When this segment's load began, by its own clock (RFC 3339).
    pub load_started_at: String,
    /// How late the load began after `start_at`, in ms.
    pub start_skew_ms: Option<f64>,
    /// What every segment of the drill must share: profile, stages,
    /// configuration, target, plugins and their digests, seed.
    pub plan: serde_json::Value,
    /// The run, losslessly.
    pub record: RunRecord,
}

/// What a merged report says of the segments it joined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergedSection {
    /// How many segments were joined.
    pub count: u32,
    /// Per segment, in index order.
    pub segments: Vec<MergedSegment>,
    /// The largest start skew over the segments, in ms (with `--start-at`).
    pub max_start_skew_ms: Option<f64>,
    /// The merged run, losslessly (a canary compares merged drills by it).
    pub record: RunRecord,
}

/// One joined segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergedSegment {
    /// Its index.
    pub index: u32,
    /// Its report file.
    pub report: String,
    /// Its status.
    pub status: super::DrillStatus,
    /// When its load began, by its own clock.
    pub load_started_at: String,
    /// Its load's start after the earliest segment's, in ms.
    pub offset_ms: f64,
    /// How late its load began after `--start-at`, in ms.
    pub start_skew_ms: Option<f64>,
}
