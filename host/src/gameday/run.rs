//! The game day's phase machine: `before` (the hypothesis must hold), one
//! `drill:<profile>` per drill with its fault schedule (every fault cleared
//! when the drill ends, whatever happens), and `after` (the hypothesis
//! polled until it holds or the recovery wait passes). A snapshot closes
//! each phase.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use super::faults::{FaultError, FaultInjector, FaultTransport};
use super::highlights::Highlights;
use super::hypothesis::{HypothesisResult, evaluate_hypothesis};
use super::report::{
    AppliedFault, DrillPhase, GameDayReport, GameDayStatus, Phase, PhaseKind, PhaseSnapshot,
    Recovery, ScenarioVerdict,
};
use crate::atomic_file::WriteError;
use crate::drill::{self, DrillError, DrillOptions, PreparedDrill, ProfileChoice};
use crate::engine::Progress;
use crate::exit::Exit;
use crate::http::{Client, HttpError};
use crate::policy::OwnershipMatrix;
use crate::policy::{FaultAction, FaultStep, GameDayPlan};
use crate::probe::{self, ProbeError, ProbeSettings, ProbeSpec};
use crate::report::ProbeOutcome;
use crate::report::{
    DrillStatus, ReportHeader, ReportKind, compact_timestamp, rfc3339_millis, write_json_atomic,
};
use crate::snapshot::SnapshotSource;

/// Rows per section of the phase snapshots.
const PHASE_SNAPSHOT_LIMIT: u32 = 1000;
/// Minutes of history of the phase snapshots (the sim keeps 60).
const PHASE_SNAPSHOT_MINUTES: u32 = 60;

/// Why a game day could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum GameDayError {
    /// No profile to drill.
    #[error("--profiles names no profile")]
    NoProfiles,
    /// A drill could not be prepared or run.
    #[error(transparent)]
    Drill(#[from] DrillError),
    /// A hypothesis probe cannot be built from its plugin.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The ops client cannot be built.
    #[error(transparent)]
    Client(#[from] HttpError),
    /// The fault endpoint is not usable, and the plan schedules faults.
    #[error("fault schedule")]
    Faults(#[source] FaultError),
    /// The report cannot be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl GameDayError {
    /// The exit code: 2 for bad input, 3 for what could not be carried out.
    pub fn exit(&self) -> Exit {
        match self {
            GameDayError::Drill(e) => e.exit(),
            GameDayError::NoProfiles | GameDayError::Probe(_) | GameDayError::Client(_) => {
                Exit::BadInput
            }
            GameDayError::Faults(_) | GameDayError::Write(_) => Exit::CannotRun,
        }
    }
}

impl From<GameDayStatus> for Exit {
    fn from(status: GameDayStatus) -> Exit {
        match status {
            GameDayStatus::Recovered => Exit::Pass,
            GameDayStatus::Deviated | GameDayStatus::DrillFailed => Exit::Fail,
            GameDayStatus::Aborted => Exit::CannotRun,
            GameDayStatus::Interrupted => Exit::Interrupted,
        }
    }
}

/// Prepares one drill per profile of `options`, all before the first
/// request; on a failure, the ones already up are shut down.
pub async fn prepare_drills(
    options: &DrillOptions,
    profiles: &[String],
    progress: &dyn Progress,
    stop: &watch::Receiver<bool>,
) -> Result<Vec<PreparedDrill>, DrillError> {
    let mut options = options.clone();
    let mut prepared = Vec::with_capacity(profiles.len());
    for profile in profiles {
        options.profile = ProfileChoice::Named(profile.clone());
        match drill::prepare(&options, progress, stop).await {
            Ok(p) => prepared.push(p),
            Err(e) => {
                shutdown_all(prepared).await;
                return Err(e);
            }
        }
    }
    Ok(prepared)
}

/// Shuts down every drill's in-process sim.
pub async fn shutdown_all(prepared: Vec<PreparedDrill>) {
    for p in prepared {
        p.shutdown().await;
    }
}

/// A game day: the plan, who owns each check, and where the target's
/// snapshot and faults are.
#[derive(Debug, Clone)]
pub struct GameDay {
    /// The plan.
    pub plan: GameDayPlan,
    /// Owners of the hypothesis checks.
    pub owners: OwnershipMatrix,
    /// The profiles, as given, in drill order.
    pub profiles: Vec<String>,
    /// Where the snapshot is read.
    pub source: SnapshotSource,
    /// The REST fault endpoint's path, when faults do not go through functions.
    pub faults_path: String,
    /// The REST ops token.
    pub ops_token: Option<String>,
    /// Where the report is written.
    pub output_dir: PathBuf,
    /// The command line, as the report records it.
    pub command_line: Vec<String>,
    /// What the operator should know from before the run.
    pub warnings: Vec<String>,
}

/// A finished game day: its report and where it was written.
#[derive(Debug)]
pub struct GameDayOutcome {
    /// The report.
    pub report: GameDayReport,
    /// Its file.
    pub path: PathBuf,
}

/// What the phases share: the target's ops endpoints and the plan.
struct Ops<'a> {
    client: Client,
    source: &'a SnapshotSource,
    injector: FaultInjector,
    plan: &'a GameDayPlan,
    owners: &'a OwnershipMatrix,
    probes: Vec<ProbeSpec>,
}

impl GameDay {
    /// Runs the phases over `drills` (one per profile, prepared) and
    /// writes `game-day-<timestamp>.json`.
    pub async fn run(
        &self,
        drills: &mut [PreparedDrill],
        stop: watch::Receiver<bool>,
        progress: &dyn Progress,
    ) -> Result<GameDayOutcome, GameDayError> {
        let started = SystemTime::now();
        let plan = &self.plan;
        let Some(first) = drills.first() else {
            return Err(GameDayError::NoProfiles);
        };
        let client = Client::new(&first.plan.client)?;
        let injector = FaultInjector::new(client.clone(), self.fault_transport(first));
        let scheduled = self.profiles.iter().any(|p| !plan.steps_for(p).is_empty());
        if scheduled {
            injector.check().await.map_err(GameDayError::Faults)?;
        }
        let ops = Ops {
            probes: probe_specs(drills, plan).await?,
            client,
            source: &self.source,
            injector,
            plan,
            owners: &self.owners,
        };
        let target = first.target.info();
        let mut phases: Vec<Phase> = Vec::new();

        // Before: the hypothesis must hold.
        progress.note("game day: checking the steady-state hypothesis");
        let phase_start = SystemTime::now();
        let (probe_outcomes, before) = ops.hypothesis(true).await;
        let snapshot = ops.phase_snapshot(None).await;
        let held_before = before.holds;
        let mut last_snapshot = snapshot.snapshot.clone();
        phases.push(Phase {
            name: "before".into(),
            kind: PhaseKind::Before,
            started_at: rfc3339_millis(phase_start),
            finished_at: rfc3339_millis(SystemTime::now()),
            probes: probe_outcomes,
            hypothesis: Some(before),
            drill: None,
            faults: Vec::new(),
            snapshot,
        });

        let mut interrupted = false;
        let mut drill_failed = false;
        let mut recovery = None;
        let mut cleared_at = Instant::now();
        if held_before {
            for k in 0..drills.len() {
                if *stop.borrow() {
                    interrupted = true;
                    break;
                }
                let (phase, status, cleared) = drill_phase(
                    drills,
                    k,
                    &ops,
                    stop.clone(),
                    progress,
                    last_snapshot.as_ref(),
                )
                .await?;
                cleared_at = cleared;
                if let Some(s) = &phase.snapshot.snapshot {
                    last_snapshot = Some(s.clone());
                }
                phases.push(phase);
                match status {
                    DrillStatus::Pass => {}
                    DrillStatus::Interrupted => {
                        interrupted = true;
                        break;
                    }
                    DrillStatus::Fail | DrillStatus::Error => drill_failed = true,
                }
            }
            let (phase, waited) = after_phase(
                &ops,
                stop.clone(),
                interrupted,
                cleared_at,
                last_snapshot.as_ref(),
                progress,
            )
            .await;
            interrupted |= *stop.borrow();
            phases.push(phase);
            recovery = Some(waited);
        }

        let status = if !held_before {
            GameDayStatus::Aborted
        } else if interrupted {
            GameDayStatus::Interrupted
        } else if !recovery.as_ref().is_some_and(|r: &Recovery| r.recovered) {
            GameDayStatus::Deviated
        } else if drill_failed {
            GameDayStatus::DrillFailed
        } else {
            GameDayStatus::Recovered
        };
        let mut warnings = self.warnings.clone();
        if scheduled && plan.recovery_timeout.is_zero() {
            warnings.push("recovery timeout 0: the hypothesis was checked once".into());
        }
        let report = GameDayReport {
            header: ReportHeader::new(ReportKind::GameDay, started, self.command_line.clone()),
            status,
            plan: plan_summary(plan),
            profiles: self.profiles.clone(),
            target,
            hypothesis_held_before: held_before,
            recovered: recovery.as_ref().map(|r| r.recovered),
            recovery,
            phases,
            warnings,
        };
        let name = format!("game-day-{}.json", compact_timestamp(started));
        let path = write_json_atomic(&self.output_dir, &name, &report)?;
        Ok(GameDayOutcome { report, path })
    }

    /// Faults go the way the snapshot is read: through the functions of a
    /// Convex deployment, else the REST endpoint of the first drill's target.
    fn fault_transport(&self, first: &PreparedDrill) -> FaultTransport {
        match &self.source {
            SnapshotSource::Function {
                url, deploy_key, ..
            } => FaultTransport::Functions {
                url: url.clone(),
                deploy_key: deploy_key.clone(),
            },
            SnapshotSource::Rest { .. } => FaultTransport::Rest {
                base_url: first.target.base_url.clone(),
                path: self.faults_path.clone(),
                token: self.ops_token.clone(),
            },
        }
    }
}

impl Ops<'_> {
    /// The phase snapshot (whole history), or why it could not be read.
    async fn phase_snapshot(&self, previous: Option<&serde_json::Value>) -> PhaseSnapshot {
        let fetched = self
            .source
            .fetch(
                &self.client,
                Some(PHASE_SNAPSHOT_MINUTES),
                Some(PHASE_SNAPSHOT_LIMIT),
            )
            .await;
        let taken_at = rfc3339_millis(SystemTime::now());
        match fetched {
            Ok(snapshot) => PhaseSnapshot {
                taken_at,
                error: None,
                highlights: Some(Highlights::between(previous, &snapshot)),
                snapshot: Some(snapshot),
            },
            Err(e) => PhaseSnapshot {
                taken_at,
                error: Some(e.to_string()),
                highlights: None,
                snapshot: None,
            },
        }
    }

    /// The hypothesis now: the probes (when `with_probes` and the plan asks
    /// for them), then the snapshot over the plan's window.
    async fn hypothesis(&self, with_probes: bool) -> (Vec<ProbeOutcome>, HypothesisResult) {
        let h = &self.plan.hypothesis;
        let probes = if with_probes && h.probes {
            let settings = ProbeSettings {
                retries: 0,
                backoff: Duration::from_millis(200),
            };
            probe::run_probes(&self.client, &self.probes, settings).await
        } else {
            Vec::new()
        };
        let fetched = self
            .source
            .fetch(
                &self.client,
                Some(h.window_minutes),
                Some(PHASE_SNAPSHOT_LIMIT),
            )
            .await;
        let result = match &fetched {
            Ok(s) => evaluate_hypothesis(h, self.owners, &probes, Ok(s)),
            Err(e) => evaluate_hypothesis(h, self.owners, &probes, Err(&e.to_string())),
        };
        (probes, result)
    }
}

/// Applies a drill's fault steps at their times from `start`, recording each.
async fn run_schedule(
    injector: FaultInjector,
    steps: Vec<FaultStep>,
    start: Instant,
    applied: Arc<Mutex<Vec<AppliedFault>>>,
) {
    for step in steps {
        tokio::time::sleep_until((start + step.at).into()).await;
        let result = injector.set(&step.faults).await;
        let record = AppliedFault {
            planned_at_ms: step.at.as_millis() as u64,
            applied_at_ms: start.elapsed().as_millis() as u64,
            faults: step.faults,
            end_of_drill: false,
            error: result.err().map(|e| e.to_string()),
        };
        if let Ok(mut list) = applied.lock() {
            list.push(record);
        }
    }
}

/// Drill `k` with its fault schedule; faults are cleared whatever happens.
async fn drill_phase(
    drills: &mut [PreparedDrill],
    k: usize,
    ops: &Ops<'_>,
    stop: watch::Receiver<bool>,
    progress: &dyn Progress,
    previous: Option<&serde_json::Value>,
) -> Result<(Phase, DrillStatus, Instant), GameDayError> {
    // With the in-process sim, every drill runs against the first one's
    // sim (and its demo user), so that phases see one system.
    let shared = k > 0 && drills[0].target.sim.is_some();
    if shared {
        swap_targets(drills, k);
    }
    let drill = &mut drills[k];
    drill.started = SystemTime::now();
    let profile = drill.profile.name.clone();
    progress.note(&format!("game day: drill {profile}"));
    let steps = ops.plan.steps_for(&profile);
    let scheduled = !steps.is_empty();
    let applied = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let schedule = tokio::spawn(run_schedule(
        ops.injector.clone(),
        steps,
        start,
        Arc::clone(&applied),
    ));
    let result = drill.run(stop, progress).await;
    schedule.abort();
    let _ = schedule.await;
    let mut faults: Vec<AppliedFault> = applied.lock().map(|l| l.clone()).unwrap_or_default();
    if scheduled {
        let cleared = ops.injector.clear().await;
        faults.push(AppliedFault {
            planned_at_ms: start.elapsed().as_millis() as u64,
            applied_at_ms: start.elapsed().as_millis() as u64,
            faults: Vec::new(),
            end_of_drill: true,
            error: cleared.err().map(|e| e.to_string()),
        });
    }
    let cleared_at = Instant::now();
    if shared {
        swap_targets(drills, k);
    }
    let outcome = result?;
    let snapshot = ops.phase_snapshot(previous).await;
    let (_, hypothesis) = ops.hypothesis(false).await;
    let report = &outcome.report;
    let phase = Phase {
        name: format!("drill:{profile}"),
        kind: PhaseKind::Drill,
        started_at: report.header.started_at.clone(),
        finished_at: rfc3339_millis(SystemTime::now()),
        probes: Vec::new(),
        hypothesis: Some(hypothesis),
        drill: Some(DrillPhase {
            profile,
            status: report.status,
            report: outcome.path.display().to_string(),
            verdicts: report
                .scenarios
                .iter()
                .map(|s| ScenarioVerdict {
                    scenario: s.name.clone(),
                    verdict: s.slo_gate.verdict,
                })
                .collect(),
        }),
        faults,
        snapshot,
    };
    Ok((phase, report.status, cleared_at))
}

/// The hypothesis after the last drill, polled until it holds or the
/// recovery timeout passes (once only, when interrupted).
async fn after_phase(
    ops: &Ops<'_>,
    mut stop: watch::Receiver<bool>,
    interrupted: bool,
    cleared: Instant,
    previous: Option<&serde_json::Value>,
    progress: &dyn Progress,
) -> (Phase, Recovery) {
    progress.note("game day: checking the hypothesis again");
    let phase_start = SystemTime::now();
    let timeout = ops.plan.recovery_timeout;
    let mut attempts = 0;
    let (mut probes, mut result) = ops.hypothesis(true).await;
    attempts += 1;
    let held_at_once = result.holds;
    while !result.holds && !interrupted && cleared.elapsed() < timeout {
        let pause = ops
            .plan
            .poll_interval
            .min(timeout.saturating_sub(cleared.elapsed()));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        (probes, result) = ops.hypothesis(true).await;
        attempts += 1;
    }
    let recovery = Recovery {
        held_at_once,
        recovered: result.holds,
        recovery_ms: result.holds.then(|| cleared.elapsed().as_millis() as u64),
        timeout_ms: timeout.as_millis() as u64,
        attempts,
    };
    let snapshot = ops.phase_snapshot(previous).await;
    let phase = Phase {
        name: "after".into(),
        kind: PhaseKind::After,
        started_at: rfc3339_millis(phase_start),
        finished_at: rfc3339_millis(SystemTime::now()),
        probes,
        hypothesis: Some(result),
        drill: None,
        faults: Vec::new(),
        snapshot,
    };
    (phase, recovery)
}

/// Swaps drill `k`'s target (and the plan's view of it) with the first drill's.
fn swap_targets(drills: &mut [PreparedDrill], k: usize) {
    let (head, tail) = drills.split_at_mut(k);
    let (first, other) = (&mut head[0], &mut tail[0]);
    std::mem::swap(&mut first.target, &mut other.target);
    for p in [first, other] {
        p.plan.base_url = p.target.base_url.clone();
        p.plan.credentials = Arc::new(p.target.credentials.clone());
    }
}

/// One probe per scenario drilled in any of the drills (the first drill's
/// plugin when several drill it).
async fn probe_specs(
    drills: &[PreparedDrill],
    plan: &GameDayPlan,
) -> Result<Vec<ProbeSpec>, ProbeError> {
    let mut specs = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let Some(first) = drills.first() else {
        return Ok(specs);
    };
    if !plan.hypothesis.probes {
        return Ok(specs);
    }
    for drill in drills {
        for spec in &drill.plan.scenarios {
            let name = spec.plugin.descriptor().name.clone();
            if seen.contains(&name) {
                continue;
            }
            let probe = probe::prepare_probe(
                &spec.plugin,
                &first.target.base_url,
                &drill.secrets,
                first.target.credentials.get(0),
                plan.hypothesis.probe_latency_ceiling_ms,
                drill.plan.seed,
            )
            .await?;
            specs.push(probe);
            seen.push(name);
        }
    }
    Ok(specs)
}

/// The plan as the report records it.
fn plan_summary(plan: &GameDayPlan) -> serde_json::Value {
    let h = &plan.hypothesis;
    let schedule: Vec<serde_json::Value> = plan
        .schedule
        .iter()
        .map(|e| {
            let (action, faults) = match &e.action {
                FaultAction::Add(specs) => ("add", specs.clone()),
                FaultAction::Clear => ("clear", Vec::new()),
            };
            serde_json::json!({
                "at_ms": e.at.as_millis() as u64,
                "action": action,
                "faults": faults,
                "profiles": e.profiles,
            })
        })
        .collect();
    serde_json::json!({
        "origin": plan.origin().to_string(),
        "description": plan.description,
        "hypothesis": {
            "probes": h.probes,
            "probe_latency_ceiling_ms": h.probe_latency_ceiling_ms,
            "window_minutes": h.window_minutes,
            "max_open_circuits": h.max_open_circuits,
            "max_5xx_ratio": h.max_5xx_ratio,
            "max_p95_ms": h.max_p95_ms,
            "checks": h.checks.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        },
        "schedule": schedule,
        "recovery_timeout_ms": plan.recovery_timeout.as_millis() as u64,
        "poll_interval_ms": plan.poll_interval.as_millis() as u64,
    })
}
