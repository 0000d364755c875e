//! `relhost milestone-gate --milestone=m1_1k|m2_5k|m3_20k`: drills the
//! milestone's profile (with the chat pool and scaling flags) and checks the
//! chat scenario against `policies/milestone-gate-policy.json` (see
//! [`crate::milestone_gate`]); the floor scales with `--chat-concurrency-scale`.
//!
//! Exit codes: 0 every check passed; 1 a check failed; 2 bad input; 3 the
//! run could not be carried out; 130 interrupted.

use std::path::PathBuf;

use clap::Args;

use super::args::{CiOutputArgs, JudgedDrillArgs, OwnershipArgs};
use super::drill::DrillArgs;
use super::error::CliError;
use super::printer::Printer;
use super::progress::ConsoleProgress;
use super::signals::stop_on_signal;
use crate::drill;
use crate::exit::Exit;
use crate::milestone_gate::{MilestoneGate, MilestoneOutcome};
use crate::policy::{MilestoneGatePolicy, PolicyDocument};
use crate::report::{DrillStatus, Verdict, runbook_section, write_gate_outputs};

/// Run a milestone gate: the milestone's profile, judged by the milestone policy.
#[derive(Debug, Args)]
pub struct MilestoneGateCommand {
    /// The milestone, whose profile is drilled (any --profile is ignored).
    #[arg(long, value_parser = ["m1_1k", "m2_5k", "m3_20k"])]
    milestone: String,
    #[command(flatten)]
    drill: DrillArgs,
    #[command(flatten)]
    judged: JudgedDrillArgs,
    /// Milestone gate policy file (default: the built-in policies/milestone-gate-policy.json).
    #[arg(
        long = "policy",
        env = "RELIABILITY_MILESTONE_GATE_POLICY",
        value_name = "FILE"
    )]
    policy: Option<PathBuf>,
    /// The ownership matrix.
    #[command(flatten)]
    owners: OwnershipArgs,
    /// `--junit` and `--summary` outputs for CI.
    #[command(flatten)]
    ci: CiOutputArgs,
}

impl MilestoneGateCommand {
    /// Runs the milestone's drill, checks it and writes the gate's report.
    pub async fn run(self) -> Result<Exit, CliError> {
        let stop = stop_on_signal();
        let printer = Printer::stdout(self.drill.quiet());
        let progress = ConsoleProgress::new(self.drill.quiet());
        let gate = MilestoneGate::new(
            &self.milestone,
            MilestoneGatePolicy::file_or_builtin(self.policy.as_deref(), &())?,
            MilestoneGatePolicy::origin_of(self.policy.as_deref()).to_string(),
            self.owners.load()?,
        )?
        .judging(self.judged.drill_report.clone());
        let options = gate.drill_options(self.drill.options()?);
        let prepared = drill::prepare(&options, &progress, &stop).await?;
        let outcome = gate.run(&prepared, stop, &progress).await;
        prepared.shutdown().await;
        let outcome = outcome?;
        print_outcome(&printer, &self.milestone, &outcome);
        write_gate_outputs(
            &format!("relhost milestone gate {}", self.milestone),
            &outcome.report.checks,
            &outcome.path,
            self.ci.junit.as_deref(),
            self.ci.summary.as_deref(),
        )?;
        Ok(outcome.report.status.into())
    }
}

/// One line per check, the verdict with the achieved concurrency, the files.
fn print_outcome(printer: &Printer, milestone: &str, outcome: &MilestoneOutcome) {
    let report = &outcome.report;
    for c in &report.checks {
        let observed = c
            .observed
            .map_or_else(|| "-".to_owned(), |v| format!("{v}"));
        let expected = match (c.comparator, c.threshold) {
            (Some(cmp), Some(t)) => format!("{} {t}", cmp.as_str()),
            _ => String::new(),
        };
        let verdict = if c.verdict == Verdict::Pass {
            "pass"
        } else {
            "FAIL"
        };
        let runbook = match runbook_section(&c.name) {
            Some(section) if c.verdict == Verdict::Fail => format!("  runbook {section}"),
            _ => String::new(),
        };
        printer.line(&format!(
            "{verdict:<4}  {:<24} {observed:>12} {expected}{runbook}",
            c.name
        ));
    }
    printer.line(&format!(
        "milestone {milestone}: {} (achieved {} concurrent streams, floor {})",
        if report.status == DrillStatus::Pass {
            "PASS"
        } else {
            "FAIL"
        },
        report.achieved_concurrency,
        outcome.floor
    ));
    printer.line(&format!("drill report: {}", outcome.drill_path.display()));
    printer.line(&format!("report: {}", outcome.path.display()));
}
