//! `relhost gameday`: a bundle of drills (`--profiles=burst,soak`) framed
//! by a steady-state hypothesis, with the plan's fault schedule applied to
//! the target (relhost-sim's `/api/ops/faults`) during each drill.
//!
//! Phases: `before` (probes and snapshot checks; abort when the hypothesis
//! does not hold), one `drill:<profile>` per profile (the schedule timed
//! from the drill's start, every fault cleared when the drill ends, even on
//! failure or interrupt), and `after` (the hypothesis again, polled until it
//! holds or `--recovery-timeout` passes). A snapshot is taken at the end of
//! each phase. Writes `game-day-<timestamp>.json` and each drill's report.
//!
//! Exit codes: 0 the hypothesis held before and after (recovered) and every
//! drill passed its gates; 1 deviated (no recovery) or a drill failed its
//! gates; 2 bad input; 3 the hypothesis did not hold before (aborted) or
//! the run could not be carried out; 130 interrupted.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use tokio::sync::watch;

use super::args::{self, OwnershipArgs};
use super::deployment::SnapshotSourceArgs;
use super::drill::DrillArgs;
use super::error::CliError;
use super::printer::Printer;
use super::progress::ConsoleProgress;
use super::signals::stop_on_signal;
use crate::drill::{self, PreparedDrill, ProfileChoice};
use crate::engine::Progress;
use crate::exit::Exit;
use crate::gameday::{
    self, AppliedFault, DrillPhase, FaultInjector, FaultStep, FaultTransport, GAME_DAY_KIND,
    GameDayPlan, GameDayReport, GameDayStatus, Highlights, HypothesisResult, Phase, PhaseKind,
    PhaseSnapshot, Recovery,
};
use crate::http::Client;
use crate::ops::{self, ProbeError, ProbeOutcome, ProbeSettings, ProbeSpec, SnapshotSource};
use crate::policy::OwnershipMatrix;
use crate::report::{
    DrillStatus, SCHEMA_VERSION, compact_timestamp, rfc3339_millis, write_json_atomic,
};

/// Rows per section of the phase snapshots.
const PHASE_SNAPSHOT_LIMIT: u32 = 1000;
/// Minutes of history of the phase snapshots (the sim keeps 60).
const PHASE_SNAPSHOT_MINUTES: u32 = 60;

/// Run a game day: drills framed by a steady-state hypothesis, with faults.
#[derive(Debug, Args)]
pub struct GamedayCommand {
    #[command(flatten)]
    drill: DrillArgs,
    /// Profiles to drill in turn (names or files), comma-separated; replaces --profile.
    /// Without it, the default bundle: the quick profile.
    #[arg(long, value_name = "A,B", value_parser = args::names, default_value = "quick")]
    profiles: Vec<Vec<String>>,
    /// Game-day plan: hypothesis, fault schedule, recovery wait (default: the built-in policies/game-day-plan.json).
    #[arg(long, env = "RELIABILITY_GAME_DAY_PLAN", value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Longest wait for the hypothesis to hold again after the last drill (default: the plan's).
    #[arg(long, value_name = "DURATION", value_parser = args::duration)]
    recovery_timeout: Option<Duration>,
    /// Where the live snapshot is read.
    #[command(flatten)]
    snapshot: SnapshotSourceArgs,
    /// The ownership matrix that names each hypothesis check's owner.
    #[command(flatten)]
    owners: OwnershipArgs,
    /// Path of the target's fault endpoint (relhost-sim).
    #[arg(long, default_value = gameday::DEFAULT_FAULTS_PATH, value_name = "PATH")]
    faults_path: String,
}

/// What the phases share: the target's ops endpoints and the plan.
struct Ops {
    client: Client,
    source: SnapshotSource,
    injector: FaultInjector,
    plan: GameDayPlan,
    owners: OwnershipMatrix,
    probes: Vec<ProbeSpec>,
}

impl Ops {
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
            ops::run_probes(&self.client, &self.probes, settings).await
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
            Ok(s) => gameday::evaluate_hypothesis(h, &self.owners, &probes, Ok(s)),
            Err(e) => gameday::evaluate_hypothesis(h, &self.owners, &probes, Err(&e.to_string())),
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

impl GamedayCommand {
    /// Runs the game day and writes its report.
    pub async fn run(self) -> Result<Exit, CliError> {
        let started = SystemTime::now();
        let stop = stop_on_signal();
        let printer = Printer::stdout(self.drill.quiet());
        let progress = ConsoleProgress::new(self.drill.quiet());
        let mut plan = match &self.plan {
            Some(path) => gameday::load_game_day_plan(path)?,
            None => gameday::builtin_game_day_plan()?,
        };
        if let Some(timeout) = self.recovery_timeout {
            plan.recovery_timeout = timeout;
        }
        let owners = self.owners.load()?;
        let profiles: Vec<String> = self.profiles.iter().flatten().cloned().collect();
        let mut warnings = Vec::new();
        for entry in &plan.schedule {
            for p in entry.profiles.iter().flatten() {
                if !profiles.contains(p) {
                    warnings.push(format!(
                        "a fault schedule entry names profile {p:?}, which is not drilled"
                    ));
                }
            }
        }

        // Everything is loaded and checked before the first request.
        let mut options = self.drill.options()?;
        let mut prepared: Vec<PreparedDrill> = Vec::with_capacity(profiles.len());
        for profile in &profiles {
            options.profile = ProfileChoice::Named(profile.clone());
            match drill::prepare(&options, &progress, &stop).await {
                Ok(p) => prepared.push(p),
                Err(e) => {
                    shutdown_all(prepared).await;
                    return Err(e.into());
                }
            }
        }
        let outcome = self
            .game_day(
                &plan,
                owners,
                &profiles,
                &mut prepared,
                stop,
                &progress,
                &printer,
                warnings,
                started,
            )
            .await;
        shutdown_all(prepared).await;
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    async fn game_day(
        &self,
        plan: &GameDayPlan,
        owners: OwnershipMatrix,
        profiles: &[String],
        prepared: &mut [PreparedDrill],
        stop: watch::Receiver<bool>,
        progress: &ConsoleProgress,
        printer: &Printer,
        mut warnings: Vec<String>,
        started: SystemTime,
    ) -> Result<Exit, CliError> {
        let Some((first, _)) = prepared.split_first() else {
            return Err(CliError::BadInput("--profiles names no profile".into()));
        };
        let client = Client::new(&first.plan.client)?;
        let base_url = first.target.base_url.clone();
        let sim = first.target.sim.as_ref();
        let token = self.snapshot.ops_token(sim);
        let source = self
            .snapshot
            .source(self.drill.deployment(), Some(&base_url), sim)?;
        // Faults go the way the snapshot is read: through the functions of
        // a Convex deployment, else the REST endpoint.
        let transport = match &source {
            SnapshotSource::Function {
                url, deploy_key, ..
            } => FaultTransport::Functions {
                url: url.clone(),
                deploy_key: deploy_key.clone(),
            },
            SnapshotSource::Rest { .. } => FaultTransport::Rest {
                base_url,
                path: self.faults_path.clone(),
                token,
            },
        };
        let injector = FaultInjector::new(client.clone(), transport);
        let scheduled = profiles.iter().any(|p| !plan.steps_for(p).is_empty());
        if scheduled {
            injector
                .check()
                .await
                .map_err(|e| CliError::CannotRun(format!("fault schedule: {e}")))?;
        }
        let probes = probe_specs(prepared, plan).await?;
        let ops = Ops {
            client,
            source,
            injector,
            plan: plan.clone(),
            owners,
            probes,
        };
        let target = first.target.info();
        let command_line = crate::redact::command_line();
        let mut phases: Vec<Phase> = Vec::new();

        // Before: the hypothesis must hold.
        progress.note("game day: checking the steady-state hypothesis");
        let phase_start = SystemTime::now();
        let (probe_outcomes, before) = ops.hypothesis(true).await;
        let snapshot = ops.phase_snapshot(None).await;
        let held_before = before.holds;
        if !held_before {
            for failure in before.failures() {
                printer.line(&format!("hypothesis: FAIL {failure}"));
            }
        }
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
            for k in 0..prepared.len() {
                if *stop.borrow() {
                    interrupted = true;
                    break;
                }
                let (phase, status, cleared) = self
                    .drill_phase(
                        prepared,
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
                if let Some(d) = &phase.drill {
                    printer.line(&format!(
                        "drill {}: {:?} ({})",
                        d.profile, d.status, d.report
                    ));
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
            let (phase, waited) = self
                .after_phase(
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
        if scheduled && plan.recovery_timeout.is_zero() {
            warnings.push("recovery timeout 0: the hypothesis was checked once".into());
        }
        let report = GameDayReport {
            schema_version: SCHEMA_VERSION,
            kind: GAME_DAY_KIND.into(),
            status,
            started_at: rfc3339_millis(started),
            finished_at: rfc3339_millis(SystemTime::now()),
            command_line,
            plan: plan_summary(plan),
            profiles: profiles.to_vec(),
            target,
            hypothesis_held_before: held_before,
            recovered: recovery.as_ref().map(|r| r.recovered),
            recovery: recovery.clone(),
            phases,
            warnings,
        };
        let name = format!("game-day-{}.json", compact_timestamp(started));
        let path = write_json_atomic(self.drill.output_dir(), &name, &report)?;
        if let Some(r) = &recovery {
            printer.line(&match r.recovery_ms {
                Some(ms) if r.recovered => format!(
                    "recovery: the hypothesis holds ({ms} ms after the faults were cleared)"
                ),
                _ => format!(
                    "recovery: the hypothesis still fails after {} ms",
                    r.timeout_ms
                ),
            });
            let after = report
                .phases
                .iter()
                .rev()
                .find(|p| p.kind == PhaseKind::After);
            if let Some(h) = after.and_then(|p| p.hypothesis.as_ref()) {
                for failure in h.failures() {
                    printer.line(&format!("recovery: FAIL {failure}"));
                }
            }
        }
        printer.line(&format!("game day: {}", status_word(status)));
        printer.line(&format!("report: {}", path.display()));
        Ok(match status {
            GameDayStatus::Recovered => Exit::Pass,
            GameDayStatus::Deviated | GameDayStatus::DrillFailed => Exit::Fail,
            GameDayStatus::Aborted => Exit::CannotRun,
            GameDayStatus::Interrupted => Exit::Interrupted,
        })
    }

    /// Drill `k` with its fault schedule; faults are cleared whatever happens.
    async fn drill_phase(
        &self,
        prepared: &mut [PreparedDrill],
        k: usize,
        ops: &Ops,
        stop: watch::Receiver<bool>,
        progress: &ConsoleProgress,
        previous: Option<&serde_json::Value>,
    ) -> Result<(Phase, DrillStatus, Instant), CliError> {
        // With the in-process sim, every drill runs against the first one's
        // sim (and its demo user), so that phases see one system.
        let shared = k > 0 && prepared[0].target.sim.is_some();
        if shared {
            swap_targets(prepared, k);
        }
        let drill = &mut prepared[k];
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
            swap_targets(prepared, k);
        }
        let outcome = result?;
        let snapshot = ops.phase_snapshot(previous).await;
        let (_, hypothesis) = ops.hypothesis(false).await;
        let report = &outcome.report;
        let phase = Phase {
            name: format!("drill:{profile}"),
            kind: PhaseKind::Drill,
            started_at: report.started_at.clone(),
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
                    .map(|s| gameday::report::ScenarioVerdict {
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
        &self,
        ops: &Ops,
        mut stop: watch::Receiver<bool>,
        interrupted: bool,
        cleared: Instant,
        previous: Option<&serde_json::Value>,
        progress: &ConsoleProgress,
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
}

/// Swaps drill `k`'s target (and the plan's view of it) with the first drill's.
fn swap_targets(prepared: &mut [PreparedDrill], k: usize) {
    let (head, tail) = prepared.split_at_mut(k);
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
    prepared: &[PreparedDrill],
    plan: &GameDayPlan,
) -> Result<Vec<ProbeSpec>, CliError> {
    let mut specs = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let Some(first) = prepared.first() else {
        return Ok(specs);
    };
    if !plan.hypothesis.probes {
        return Ok(specs);
    }
    for drill in prepared {
        for spec in &drill.plan.scenarios {
            let name = spec.plugin.descriptor().name.clone();
            if seen.contains(&name) {
                continue;
            }
            let probe = ops::prepare_probe(
                &spec.plugin,
                &first.target.base_url,
                &drill.secrets,
                first.target.credentials.get(0),
                plan.hypothesis.probe_latency_ceiling_ms,
                drill.plan.seed,
            )
            .await
            .map_err(|e| match e {
                ProbeError::Plugin(e) => CliError::Plugin(e),
                other => CliError::BadInput(other.to_string()),
            })?;
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
                gameday::FaultAction::Add(specs) => ("add", specs.clone()),
                gameday::FaultAction::Clear => ("clear", Vec::new()),
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

fn status_word(status: GameDayStatus) -> &'static str {
    match status {
        GameDayStatus::Recovered => "RECOVERED",
        GameDayStatus::Deviated => "DEVIATED",
        GameDayStatus::DrillFailed => "DRILL FAILED",
        GameDayStatus::Aborted => "ABORTED (the steady-state hypothesis did not hold)",
        GameDayStatus::Interrupted => "INTERRUPTED",
    }
}

async fn shutdown_all(prepared: Vec<PreparedDrill>) {
    for p in prepared {
        p.shutdown().await;
    }
}
