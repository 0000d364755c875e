//! `relhost milestone-gate --milestone=m1_1k|m2_5k|m3_20k`: drills the
//! milestone's profile (with the chat pool and scaling flags) and checks the
//! chat scenario against `policies/milestone-gate-policy.json`: latency,
//! error and success rates, the unique-user floor, and the concurrency the
//! drill achieved. Writes `milestone-gate-<milestone>-<timestamp>.json`.
//!
//! The concurrency floor applies at `--chat-concurrency-scale=1` and scales
//! with it, so a scaled-down rehearsal is judged against a scaled-down floor.
//!
//! Exit codes: 0 every check passed; 1 a check failed; 2 bad input; 3 the
//! run could not be carried out; 130 interrupted.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::Args;

use super::args::{CiOutputArgs, OwnershipArgs};
use super::drill::DrillArgs;
use super::error::CliError;
use super::printer::Printer;
use super::progress::ConsoleProgress;
use super::signals::stop_on_signal;
use crate::drill::{self, ProfileChoice};
use crate::exit::Exit;
use crate::policy::{MilestoneGatePolicy, MilestoneThresholds, OwnershipMatrix, PolicyDocument};
use crate::report::{
    Comparator, DrillStatus, MilestoneGateReport, OwnedCheck, ReportKind, SCHEMA_VERSION,
    ScenarioReport, Verdict, compact_timestamp, rfc3339_millis, runbook_section, verdict_of,
    write_gate_outputs, write_json_atomic,
};

/// Run a milestone gate: the milestone's profile, judged by the milestone policy.
#[derive(Debug, Args)]
pub struct MilestoneGateCommand {
    /// The milestone, whose profile is drilled (any --profile is ignored).
    #[arg(long, value_parser = ["m1_1k", "m2_5k", "m3_20k"])]
    milestone: String,
    #[command(flatten)]
    drill: DrillArgs,
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
        let started = SystemTime::now();
        let stop = stop_on_signal();
        let printer = Printer::stdout(self.drill.quiet());
        let progress = ConsoleProgress::new(self.drill.quiet());
        let owners = self.owners.load()?;
        let policy = MilestoneGatePolicy::file_or_builtin(self.policy.as_deref(), &())?;
        let thresholds = policy.milestone(&self.milestone).cloned().ok_or_else(|| {
            CliError::BadInput(format!(
                "milestone gate policy {}: no thresholds for milestone {:?}",
                policy.description, self.milestone
            ))
        })?;
        let mut options = self.drill.options()?;
        options.profile = ProfileChoice::Named(self.milestone.clone());
        // On the built-in sim, as many demo users as the floor asks for.
        options.demo_users = thresholds.min_unique_users;
        let prepared = drill::prepare(&options, &progress, &stop).await?;
        let drill = prepared.run(stop.clone(), &progress).await?;

        let scenario = drill
            .report
            .scenarios
            .iter()
            .find(|s| s.name == policy.scenario);
        let floor = (f64::from(thresholds.min_achieved_concurrency)
            * options.chat_scale.concurrency)
            .ceil();
        let (checks, achieved) = match scenario {
            Some(s) if s.skipped.is_none() => {
                let achieved = s
                    .stages
                    .iter()
                    .map(|st| st.peak_concurrency)
                    .max()
                    .unwrap_or(0);
                (
                    milestone_checks(s, &thresholds, floor, achieved, &owners),
                    achieved,
                )
            }
            other => {
                let reason = other
                    .and_then(|s| s.skipped.clone())
                    .unwrap_or_else(|| format!("the drill did not run {}", policy.scenario));
                let owner = owners.owner_for("milestone", Some(&policy.scenario));
                let check = OwnedCheck {
                    verdict: Verdict::Fail,
                    message: Some(reason),
                    ..OwnedCheck::new("milestone", Some(&policy.scenario), "scenario_ran", owner)
                };
                (vec![check], 0)
            }
        };
        let status = if *stop.borrow() {
            DrillStatus::Interrupted
        } else if verdict_of(&checks) == Verdict::Pass {
            DrillStatus::Pass
        } else {
            DrillStatus::Fail
        };
        let report = MilestoneGateReport {
            schema_version: SCHEMA_VERSION,
            kind: ReportKind::MilestoneGate,
            milestone: self.milestone.clone(),
            status,
            started_at: rfc3339_millis(started),
            finished_at: rfc3339_millis(SystemTime::now()),
            command_line: crate::redact::command_line(),
            config: serde_json::json!({
                "policy": self.policy.as_ref().map_or_else(|| "builtin".to_string(), |p| p.display().to_string()),
                "concurrency_floor": floor,
                "drill": drill.report.config,
            }),
            target: prepared.target.info(),
            drill_report: drill.path.display().to_string(),
            achieved_concurrency: achieved,
            checks,
            warnings: drill.report.warnings.clone(),
        };
        let name = format!(
            "milestone-gate-{}-{}.json",
            self.milestone,
            compact_timestamp(started)
        );
        let path = write_json_atomic(self.drill.output_dir(), &name, &report)?;
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
            "milestone {}: {} (achieved {achieved} concurrent streams, floor {floor})",
            self.milestone,
            if report.status == DrillStatus::Pass {
                "PASS"
            } else {
                "FAIL"
            }
        ));
        printer.line(&format!("drill report: {}", drill.path.display()));
        printer.line(&format!("report: {}", path.display()));
        write_gate_outputs(
            &format!("relhost milestone gate {}", self.milestone),
            &report.checks,
            &path,
            self.ci.junit.as_deref(),
            self.ci.summary.as_deref(),
        )?;
        prepared.shutdown().await;
        Ok(report.status.into())
    }
}

/// The milestone's checks of the chat scenario.
fn milestone_checks(
    s: &ScenarioReport,
    t: &MilestoneThresholds,
    concurrency_floor: f64,
    achieved: u64,
    owners: &OwnershipMatrix,
) -> Vec<OwnedCheck> {
    let unique = s.credentials.as_ref().map_or(0, |c| c.unique_used);
    let specs = [
        (
            "p95_latency_ms",
            s.totals.latency_ms.p95,
            t.p95_ms,
            Comparator::AtMost,
        ),
        (
            "rate_5xx",
            s.totals.rate_5xx,
            t.max_5xx_rate,
            Comparator::AtMost,
        ),
        (
            "network_error_rate",
            s.totals.network_error_rate,
            t.max_network_error_rate,
            Comparator::AtMost,
        ),
        (
            "success_2xx_rate",
            s.totals.success_2xx_rate,
            t.min_success_2xx_rate,
            Comparator::AtLeast,
        ),
        (
            "unique_users",
            unique as f64,
            t.min_unique_users as f64,
            Comparator::AtLeast,
        ),
        (
            "achieved_concurrency",
            achieved as f64,
            concurrency_floor,
            Comparator::AtLeast,
        ),
    ];
    specs
        .into_iter()
        .map(|(name, observed, threshold, comparator)| {
            let holds = comparator.holds(observed, threshold);
            let nothing = s.totals.requests == 0;
            OwnedCheck {
                observed: Some(observed),
                threshold: Some(threshold),
                comparator: Some(comparator),
                verdict: if holds && !nothing {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                },
                message: nothing.then(|| "no requests were sent, so nothing was measured".into()),
                ..OwnedCheck::new(
                    "milestone",
                    Some(&s.name),
                    name,
                    owners.owner_for(name, Some(&s.name)),
                )
            }
        })
        .collect()
}
