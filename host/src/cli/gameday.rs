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
use std::time::Duration;

use clap::Args;

use super::args::{self, OwnershipArgs};
use super::deployment::SnapshotSourceArgs;
use super::drill::DrillArgs;
use super::error::CliError;
use super::printer::Printer;
use super::progress::ConsoleProgress;
use super::signals::stop_on_signal;
use crate::drill::PreparedDrill;
use crate::exit::Exit;
use crate::gameday::{self, GameDay, GameDayReport, GameDayStatus, PhaseKind};
use crate::policy::{GameDayPlan, OwnershipMatrix, PolicyDocument};

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

impl GamedayCommand {
    /// Runs the game day and writes its report.
    pub async fn run(self) -> Result<Exit, CliError> {
        let stop = stop_on_signal();
        let printer = Printer::stdout(self.drill.quiet());
        let progress = ConsoleProgress::new(self.drill.quiet());
        let mut plan = GameDayPlan::file_or_builtin(self.plan.as_deref(), &())?;
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
        let options = self.drill.options()?;
        let mut drills = gameday::prepare_drills(&options, &profiles, &progress, &stop).await?;
        let outcome = match self.game_day(plan, owners, profiles, warnings, &drills) {
            Ok(game_day) => game_day
                .run(&mut drills, stop, &progress)
                .await
                .map_err(CliError::from),
            Err(e) => Err(e),
        };
        gameday::shutdown_all(drills).await;
        let outcome = outcome?;
        print_outcome(&printer, &outcome.report);
        printer.line(&format!("report: {}", outcome.path.display()));
        Ok(outcome.report.status.into())
    }

    /// The game day over `drills`: the snapshot and faults of the first
    /// drill's target.
    fn game_day(
        &self,
        plan: GameDayPlan,
        owners: OwnershipMatrix,
        profiles: Vec<String>,
        warnings: Vec<String>,
        drills: &[PreparedDrill],
    ) -> Result<GameDay, CliError> {
        let first = drills
            .first()
            .ok_or_else(|| CliError::BadInput("--profiles names no profile".into()))?;
        let sim = first.target.sim.as_ref();
        Ok(GameDay {
            plan,
            owners,
            profiles,
            source: self.snapshot.source(
                self.drill.deployment(),
                Some(&first.target.base_url),
                sim,
            )?,
            faults_path: self.faults_path.clone(),
            ops_token: self.snapshot.ops_token(sim),
            output_dir: self.drill.output_dir().to_path_buf(),
            command_line: crate::redact::command_line(),
            warnings,
        })
    }
}

/// What the operator reads: the hypothesis failures before, each drill,
/// the recovery and its failures, the status.
fn print_outcome(printer: &Printer, report: &GameDayReport) {
    for phase in &report.phases {
        match (phase.kind, &phase.hypothesis, &phase.drill) {
            (PhaseKind::Before, Some(h), _) if !h.holds => {
                for failure in h.failures() {
                    printer.line(&format!("hypothesis: FAIL {failure}"));
                }
            }
            (PhaseKind::Drill, _, Some(d)) => {
                printer.line(&format!(
                    "drill {}: {:?} ({})",
                    d.profile, d.status, d.report
                ));
            }
            _ => {}
        }
    }
    if let Some(r) = &report.recovery {
        printer.line(&match r.recovery_ms {
            Some(ms) if r.recovered => {
                format!("recovery: the hypothesis holds ({ms} ms after the faults were cleared)")
            }
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
    printer.line(&format!("game day: {}", status_word(report.status)));
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
