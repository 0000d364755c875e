//! `relhost gate`: the release gate. Synthetic probes, then a load drill,
//! then checks of the target's live reliability snapshot, and per scenario
//! a burn-rate gate; every check names its owner from the ownership matrix.
//! Writes `release-gate-<timestamp>.json` (and the drill's own report),
//! optionally JUnit XML and a Markdown summary.
//!
//! Exit codes: 0 every check passed; 1 a check failed; 2 bad input; 3 the
//! run could not be carried out; 130 interrupted.

use std::path::PathBuf;

use clap::Args;

use super::args::{CiOutputArgs, JudgedDrillArgs, OwnershipArgs};
use super::deployment::SnapshotSourceArgs;
use super::drill::DrillArgs;
use super::error::CliError;
use super::printer::Printer;
use super::progress::ConsoleProgress;
use super::signals::stop_on_signal;
use crate::drill;
use crate::exit::Exit;
use crate::policy::{PolicyDocument, ReleaseGatePolicy};
use crate::release_gate::ReleaseGate;
use crate::report::{OwnedCheck, Verdict, runbook_section, verdict_of, write_gate_outputs};

/// Run the release gate: probes, a drill, snapshot checks and burn-rate gates.
#[derive(Debug, Args)]
pub struct GateCommand {
    #[command(flatten)]
    drill: DrillArgs,
    #[command(flatten)]
    judged: JudgedDrillArgs,
    /// Minutes of snapshot history to check (default: the policy's).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=60))]
    minutes: Option<u32>,
    /// Rows per snapshot section (default: the policy's).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10000))]
    limit: Option<u32>,
    /// Release gate policy file (default: the built-in policies/release-gate-policy.json).
    #[arg(
        long = "policy",
        env = "RELIABILITY_RELEASE_GATE_POLICY",
        value_name = "FILE"
    )]
    policy: Option<PathBuf>,
    /// The ownership matrix.
    #[command(flatten)]
    owners: OwnershipArgs,
    /// Where the live snapshot is read.
    #[command(flatten)]
    snapshot: SnapshotSourceArgs,
    /// `--junit` and `--summary` outputs for CI.
    #[command(flatten)]
    ci: CiOutputArgs,
}

impl GateCommand {
    /// Runs the gate and writes its report.
    pub async fn run(self) -> Result<Exit, CliError> {
        let stop = stop_on_signal();
        let printer = Printer::stdout(self.drill.quiet());
        let progress = ConsoleProgress::new(self.drill.quiet());
        let owners = self.owners.load()?;
        let policy = ReleaseGatePolicy::file_or_builtin(self.policy.as_deref(), &owners)?;
        let prepared = drill::prepare(&self.drill.options()?, &progress, &stop).await?;
        let gate = self
            .snapshot
            .source(
                self.drill.deployment(),
                Some(&prepared.target.base_url),
                prepared.target.sim.as_ref(),
            )
            .map(|source| ReleaseGate {
                policy,
                owners,
                source,
                minutes: self.minutes,
                limit: self.limit,
                drill_report: self.judged.drill_report.clone(),
            });
        let outcome = match gate {
            Ok(gate) => gate
                .run(&prepared, stop, &progress)
                .await
                .map_err(CliError::from),
            Err(e) => Err(e),
        };
        prepared.shutdown().await;
        let outcome = outcome?;
        print_checks(&printer, &outcome.report.checks);
        printer.line(&format!("drill report: {}", outcome.drill_path.display()));
        printer.line(&format!("report: {}", outcome.path.display()));
        write_gate_outputs(
            "relhost release gate",
            &outcome.report.checks,
            &outcome.path,
            self.ci.junit.as_deref(),
            self.ci.summary.as_deref(),
        )?;
        Ok(outcome.report.status.into())
    }
}

/// One line per check, failed ones with their owner.
fn print_checks(printer: &Printer, checks: &[OwnedCheck]) {
    for c in checks {
        let verdict = match c.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Skipped => "skip",
        };
        let scenario = c.scenario.as_deref().unwrap_or("-");
        let observed = c
            .observed
            .map_or_else(|| "-".to_owned(), |v| format!("{v}"));
        let line = format!(
            "{verdict:<4}  {:<9} {scenario:<20} {:<24} {observed:>12}",
            c.source, c.name
        );
        if c.verdict == Verdict::Fail {
            printer.line(&format!(
                "{line}  owner {} ({}){}{}",
                c.team,
                c.contact,
                c.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default(),
                runbook_section(&c.name)
                    .map(|s| format!("; runbook {s}"))
                    .unwrap_or_default()
            ));
        } else {
            printer.line(&line);
        }
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    printer.line(&format!(
        "gate: {} ({} checks, {failed} failed)",
        if verdict_of(checks) == Verdict::Pass {
            "PASS"
        } else {
            "FAIL"
        },
        checks.len()
    ));
}
