//! The drill report's types, serialized as `load-drill-<profile>-<timestamp>.json`.
//!
//! The published schema is `schemas/load-drill.schema.json`; tests validate
//! real reports against it. Bump [`SCHEMA_VERSION`] on incompatible changes.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::segment::{MergedSection, SegmentSection};

use super::slo_gate::{GateResult, Verdict};
use crate::metrics::{StageMetrics, StageSummary, TimePoint};
use crate::plugin::LoadedPlugin;
use crate::policy::{Load, Stage};

/// The report format version written by this build.
pub const SCHEMA_VERSION: u32 = 1;

/// What a report is: its `kind`, which says how to read the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// A load drill (`relhost drill`, `load`, and the drills of the gates).
    LoadDrill,
    /// The release gate (`relhost gate`).
    ReleaseGate,
    /// A milestone gate (`relhost milestone-gate`).
    MilestoneGate,
    /// Synthetic probes (`relhost probe`).
    SyntheticProbes,
    /// The region-readiness decision (`relhost region-readiness`).
    RegionReadiness,
    /// A canary comparison (`relhost canary`).
    CanaryCheck,
    /// A game day (`relhost gameday`).
    GameDay,
    /// A saved reliability snapshot (`relhost snapshot`).
    ReliabilitySnapshot,
    /// A tool-cache operation (`relhost tool-cache`).
    ToolCache,
    /// The SLO dashboard's data (`relhost dashboard`).
    SloDashboard,
}

/// What every report begins with: its format version and kind, when its
/// run started and ended, and the command line that ran it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportHeader {
    /// The report format version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// What the report is.
    pub kind: ReportKind,
    /// RFC 3339 UTC with milliseconds (see [`rfc3339_millis`](super::rfc3339_millis)).
    pub started_at: String,
    /// RFC 3339 UTC with milliseconds.
    pub finished_at: String,
    /// The exact command line, secrets redacted.
    pub command_line: Vec<String>,
}

impl ReportHeader {
    /// The header of a `kind` report of a run that started at `started`
    /// and ends now.
    pub fn new(kind: ReportKind, started: SystemTime, command_line: Vec<String>) -> Self {
        ReportHeader {
            schema_version: SCHEMA_VERSION,
            kind,
            started_at: super::rfc3339_millis(started),
            finished_at: super::rfc3339_millis(SystemTime::now()),
            command_line,
        }
    }
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillStatus {
    /// Every gate passed.
    Pass,
    /// At least one gate failed.
    Fail,
    /// The run could not be carried out (see `error`).
    Error,
    /// Stopped by a signal; figures cover what ran until then.
    Interrupted,
}

/// A load drill report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillReport {
    /// Version, kind, start and end, command line.
    #[serde(flatten)]
    pub header: ReportHeader,
    /// How the run ended.
    pub status: DrillStatus,
    /// The effective configuration, secrets already redacted by the caller.
    pub config: serde_json::Value,
    /// What was drilled.
    pub target: TargetInfo,
    /// The profile name (or file) used.
    pub profile: String,
    /// The plugins used.
    pub plugins: Vec<PluginInfo>,
    /// One entry per scenario, in run order.
    pub scenarios: Vec<ScenarioReport>,
    /// Things the operator should know (e.g. late starts, a capped series).
    pub warnings: Vec<String>,
    /// Why the run could not be carried out (status `error`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A segment's report: which segment, and the record `relhost merge` needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Box<SegmentSection>>,
    /// A merged report: the segments it joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergedSection>,
}

impl DrillReport {
    /// `Pass` when every scenario's gate passed (or was skipped, as long as
    /// at least one ran), `Fail` otherwise. Callers override with `Error` or
    /// `Interrupted` as the run demands.
    pub fn status_from_gates(scenarios: &[ScenarioReport]) -> DrillStatus {
        let any_failed = scenarios
            .iter()
            .any(|s| s.slo_gate.verdict == Verdict::Fail);
        let any_ran = scenarios
            .iter()
            .any(|s| s.slo_gate.verdict == Verdict::Pass);
        if any_failed || !any_ran {
            DrillStatus::Fail
        } else {
            DrillStatus::Pass
        }
    }
}

/// The drilled target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetInfo {
    /// Base URL requests went to.
    pub base_url: String,
    /// Whether relhost started relhost-sim in-process as the target.
    pub in_process_sim: bool,
}

/// A plugin used by the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginInfo {
    /// The plugin's name.
    pub name: String,
    /// Its semver version.
    pub version: String,
    /// Its world (`scenario`, ...).
    pub kind: String,
    /// Where it came from (`builtin`, a file path, a registry reference).
    pub source: String,
    /// Lowercase hex SHA-256 of the component bytes.
    pub sha256: String,
    /// The data directories granted to it (payload builders).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<DataInfo>,
}

impl PluginInfo {
    /// How a report lists `plugin` (no data directories).
    pub fn of<P: LoadedPlugin>(plugin: &P) -> Self {
        PluginInfo {
            name: plugin.name().to_owned(),
            version: plugin.version().to_owned(),
            kind: P::WORLD.to_owned(),
            source: plugin.source().to_owned(),
            sha256: plugin.sha256().to_owned(),
            data: Vec::new(),
        }
    }
}

/// A data directory granted to a plugin for the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataInfo {
    /// The name the plugin declared.
    pub name: String,
    /// The directory given (`--plugin-data`).
    pub path: String,
    /// Files the plugin can read in it.
    pub files: u64,
    /// Their bytes in all.
    pub bytes: u64,
}

/// One scenario's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioReport {
    /// The scenario (plugin) name.
    pub name: String,
    /// The endpoint drilled, e.g. `/api/chat`.
    pub endpoint: String,
    /// Whether responses are event streams.
    pub event_stream: bool,
    /// Why the scenario did not run, when it did not.
    pub skipped: Option<String>,
    /// All stages merged (its series is in `timeseries`).
    pub totals: StageSummary,
    /// Per stage, in run order.
    pub stages: Vec<StageReport>,
    /// The SLO gate over `totals`.
    pub slo_gate: GateResult,
    /// Per-second series over the whole scenario (seconds since the drill start).
    pub timeseries: Vec<TimePoint>,
    /// How the scenario's requests used the credential pool, when it used one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsReport>,
}

/// How a scenario's requests used the credential pool. Credentials are
/// identified by index; tokens never appear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsReport {
    /// Where the pool came from (a file, an environment variable, a demo user).
    pub source: String,
    /// Entries in the pool.
    pub pool_size: u64,
    /// The rotation strategy.
    pub rotation: RotationReport,
    /// Distinct entries that carried at least one request.
    pub unique_used: u64,
    /// `unique_used / pool_size`.
    pub coverage: f64,
    /// Fewest requests an entry carried.
    pub min_uses: u64,
    /// Most requests an entry carried.
    pub max_uses: u64,
}

/// The rotation strategy a scenario used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationReport {
    /// Strategy name (`round_robin`, `stride`, `random`, or a plugin's).
    pub name: String,
    /// Its version.
    pub version: String,
    /// Where it came from (`builtin:NAME` or a path).
    pub source: String,
    /// Distinct entries the strategy can reach.
    pub reachable: u64,
    /// What the strategy warned about.
    pub warnings: Vec<String>,
}

impl CredentialsReport {
    /// Figures from the requests per pool index.
    pub fn from_uses(source: &str, rotation: RotationReport, uses: &[u64]) -> Self {
        let unique_used = uses.iter().filter(|n| **n > 0).count() as u64;
        let pool_size = uses.len() as u64;
        CredentialsReport {
            source: source.to_owned(),
            pool_size,
            rotation,
            unique_used,
            coverage: if pool_size == 0 {
                0.0
            } else {
                (unique_used as f64 / pool_size as f64 * 1e6).round() / 1e6
            },
            min_uses: uses.iter().copied().min().unwrap_or(0),
            max_uses: uses.iter().copied().max().unwrap_or(0),
        }
    }
}

/// What one stage ran, for [`ScenarioReport::from_stages`].
#[derive(Debug, Clone)]
pub struct StageRun {
    /// The stage as run (after scaling).
    pub stage: Stage,
    /// All workers' recorders for the stage, merged.
    pub metrics: StageMetrics,
    /// How long the stage actually ran.
    pub elapsed: Duration,
    /// The most requests in flight at once (sampled), over all workers.
    pub peak_concurrency: u64,
}

impl ScenarioReport {
    /// Builds a scenario's report: per-stage summaries, totals over all
    /// stages and the scenario's series. Its `slo_gate` fails with no checks
    /// until the caller evaluates it (see `crate::slo::Evaluators::gate`).
    pub fn from_stages(
        name: &str,
        endpoint: &str,
        event_stream: bool,
        runs: &[StageRun],
    ) -> ScenarioReport {
        let mut all = StageMetrics::new();
        let mut elapsed = Duration::ZERO;
        let stages = runs
            .iter()
            .map(|run| {
                all.merge(&run.metrics);
                elapsed += run.elapsed;
                let mut summary = run.metrics.summarize(run.elapsed);
                // The scenario's series covers every stage; don't repeat it.
                summary.timeseries = Vec::new();
                StageReport::new(&run.stage, summary, run.peak_concurrency)
            })
            .collect();
        let mut totals = all.summarize(elapsed);
        let timeseries = std::mem::take(&mut totals.timeseries);
        let slo_gate = GateResult::from_checks(Vec::new());
        ScenarioReport {
            name: name.to_owned(),
            endpoint: endpoint.to_owned(),
            event_stream,
            skipped: None,
            totals,
            stages,
            slo_gate,
            timeseries,
            credentials: None,
        }
    }

    /// A scenario that did not run, with the reason; its gate is `skipped`.
    pub fn skipped(name: &str, endpoint: &str, event_stream: bool, reason: &str) -> ScenarioReport {
        ScenarioReport {
            name: name.to_owned(),
            endpoint: endpoint.to_owned(),
            event_stream,
            skipped: Some(reason.to_owned()),
            totals: StageMetrics::new().summarize(Duration::ZERO),
            stages: Vec::new(),
            slo_gate: GateResult {
                verdict: Verdict::Skipped,
                checks: Vec::new(),
            },
            timeseries: Vec::new(),
            credentials: None,
        }
    }
}

/// How a stage generated load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum LoadReport {
    /// Arrival rate (open model).
    Open {
        /// Arrivals per second.
        rate: f64,
    },
    /// Fixed concurrency (closed model).
    Closed {
        /// Concurrent workers.
        concurrency: u32,
        /// Pause between a worker's requests, in seconds.
        think_time_s: f64,
    },
}

/// One stage's plan and results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageReport {
    /// The stage's name.
    pub name: String,
    /// Open or closed model, with its level.
    pub load: LoadReport,
    /// Planned duration in seconds (`elapsed_s` is what actually ran).
    pub duration_s: f64,
    /// Ramp in seconds.
    pub ramp_s: f64,
    /// The request cap, if any.
    pub max_requests: Option<u64>,
    /// The most requests in flight at once (sampled every 20 ms): for a
    /// closed-model stage, the concurrency it achieved.
    pub peak_concurrency: u64,
    /// The stage's figures.
    #[serde(flatten)]
    pub summary: StageSummary,
}

impl StageReport {
    /// A stage's report from its plan and summary.
    pub fn new(stage: &Stage, summary: StageSummary, peak_concurrency: u64) -> StageReport {
        let load = match stage.load {
            Load::Rate(rate) => LoadReport::Open { rate },
            Load::Concurrency(concurrency) => LoadReport::Closed {
                concurrency,
                think_time_s: stage.think_time.as_secs_f64(),
            },
        };
        StageReport {
            name: stage.name.clone(),
            load,
            duration_s: stage.duration.as_secs_f64(),
            ramp_s: stage.ramp.as_secs_f64(),
            max_requests: stage.max_requests,
            peak_concurrency,
            summary,
        }
    }
}
