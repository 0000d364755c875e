//! `relhost gate`: the release gate. Synthetic probes, then a load drill,
//! then checks of the target's live reliability snapshot, and per scenario
//! a burn-rate gate; every check names its owner from the ownership matrix.
//! Writes `release-gate-<timestamp>.json` (and the drill's own report),
//! optionally JUnit XML and a Markdown summary.
//!
//! Exit codes: 0 every check passed; 1 a check failed; 2 bad input; 3 the
//! run could not be carried out; 130 interrupted.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::Args;

use super::args::{CiOutputArgs, OwnershipArgs};
use super::deployment::SnapshotSourceArgs;
use super::drill::DrillArgs;
use super::error::CliError;
use super::printer::Printer;
use super::progress::ConsoleProgress;
use super::signals::stop_on_signal;
use crate::drill::{self, PreparedDrill};
use crate::engine::Progress;
use crate::exit::Exit;
use crate::http::Client;
use crate::policy::{OwnershipMatrix, PolicyDocument, ReleaseGatePolicy, WhenMissing};
use crate::probe::{self, ProbeSettings};
use crate::report::ProbeOutcome;
use crate::report::{
    BurnRateGate, DrillReport, DrillStatus, OwnedCheck, ReleaseGateReport, ReportKind,
    SCHEMA_VERSION, SnapshotSection, Verdict, compact_timestamp, rfc3339_millis, runbook_section,
    verdict_of, write_gate_outputs, write_json_atomic,
};
use crate::slo::BurnSettings;
use crate::snapshot::SnapshotSource;

/// Run the release gate: probes, a drill, snapshot checks and burn-rate gates.
#[derive(Debug, Args)]
pub struct GateCommand {
    #[command(flatten)]
    drill: DrillArgs,
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
        let started = SystemTime::now();
        let stop = stop_on_signal();
        let printer = Printer::stdout(self.drill.quiet());
        let progress = ConsoleProgress::new(self.drill.quiet());
        let owners = self.owners.load()?;
        let policy = ReleaseGatePolicy::file_or_builtin(self.policy.as_deref(), &owners)?;
        let prepared = drill::prepare(&self.drill.options()?, &progress, &stop).await?;
        let source = self.snapshot.source(
            self.drill.deployment(),
            Some(&prepared.target.base_url),
            prepared.target.sim.as_ref(),
        )?;
        let client = Client::new(&prepared.plan.client)?;

        progress.note("gate: synthetic probes");
        let probes = self.probes(&prepared, &policy, &client).await?;
        let mut checks = OwnedCheck::from_probes(&probes, &owners);

        progress.note("gate: load drill");
        let drill = prepared.run(stop.clone(), &progress).await?;
        for scenario in drill
            .report
            .scenarios
            .iter()
            .filter(|s| s.skipped.is_none())
        {
            checks.extend(OwnedCheck::from_gate(
                "drill",
                &scenario.name,
                &scenario.slo_gate,
                &owners,
            ));
        }

        progress.note("gate: live snapshot checks");
        let (snapshot, snapshot_checks) = self.snapshot(&source, &policy, &owners, &client).await;
        checks.extend(snapshot_checks);

        let mut warnings = drill.report.warnings.clone();
        let burn_rate_gate =
            burn_rate_gates(&prepared, &drill.report, &policy, &mut warnings).await;
        for gate in &burn_rate_gate {
            checks.extend(OwnedCheck::from_gate(
                "burn_rate",
                &gate.scenario,
                &gate.gate,
                &owners,
            ));
        }

        let interrupted = *stop.borrow();
        let status = if interrupted {
            DrillStatus::Interrupted
        } else if verdict_of(&checks) == Verdict::Pass {
            DrillStatus::Pass
        } else {
            DrillStatus::Fail
        };
        let report = ReleaseGateReport {
            schema_version: SCHEMA_VERSION,
            kind: ReportKind::ReleaseGate,
            status,
            started_at: rfc3339_millis(started),
            finished_at: rfc3339_millis(SystemTime::now()),
            command_line: crate::redact::command_line(),
            config: serde_json::json!({
                "policy": policy.origin().to_string(),
                "ownership_matrix": owners.origin().to_string(),
                "drill": drill.report.config,
                "snapshot_source": source.describe(),
                "minutes": snapshot.minutes,
                "limit": snapshot.limit,
            }),
            target: prepared.target.info(),
            profile: prepared.profile.name.clone(),
            plugins: drill.report.plugins.clone(),
            probes,
            drill_report: drill.path.display().to_string(),
            snapshot,
            burn_rate_gate,
            checks,
            warnings,
        };
        let name = format!("release-gate-{}.json", compact_timestamp(started));
        let path = write_json_atomic(self.drill.output_dir(), &name, &report)?;
        print_checks(&printer, &report.checks);
        printer.line(&format!("drill report: {}", drill.path.display()));
        printer.line(&format!("report: {}", path.display()));
        write_gate_outputs(
            "relhost release gate",
            &report.checks,
            &path,
            self.ci.junit.as_deref(),
            self.ci.summary.as_deref(),
        )?;
        prepared.shutdown().await;
        Ok(report.status.into())
    }

    /// One probe per drilled scenario that the policy probes.
    async fn probes(
        &self,
        prepared: &PreparedDrill,
        policy: &ReleaseGatePolicy,
        client: &Client,
    ) -> Result<Vec<ProbeOutcome>, CliError> {
        let mut specs = Vec::new();
        for spec in &prepared.plan.scenarios {
            let name = &spec.plugin.descriptor().name;
            if !policy.probes.scenarios.contains(name) {
                continue;
            }
            let probe = probe::prepare_probe(
                &spec.plugin,
                &prepared.target.base_url,
                &prepared.secrets,
                prepared.target.credentials.get(0),
                policy.probes.latency_ceiling_ms(name),
                prepared.plan.seed,
            )
            .await?;
            specs.push(probe);
        }
        let settings = ProbeSettings {
            retries: policy.probes.retries,
            backoff: policy.probes.backoff,
        };
        Ok(probe::run_probes(client, &specs, settings).await)
    }

    /// Reads the live snapshot and checks it; a snapshot that cannot be read
    /// fails every check with the reason.
    async fn snapshot(
        &self,
        source: &SnapshotSource,
        policy: &ReleaseGatePolicy,
        owners: &OwnershipMatrix,
        client: &Client,
    ) -> (SnapshotSection, Vec<OwnedCheck>) {
        let minutes = self.minutes.unwrap_or(policy.snapshot.minutes);
        let limit = self.limit.unwrap_or(policy.snapshot.limit);
        let fetched = source.fetch(client, Some(minutes), Some(limit)).await;
        let checks = policy
            .snapshot_checks
            .iter()
            .map(|check| {
                let owner = owners
                    .owner(&check.owner)
                    .unwrap_or_else(|| owners.owner_for(&check.id, None));
                let mut owned = OwnedCheck {
                    threshold: Some(check.threshold),
                    comparator: Some(check.comparator),
                    ..OwnedCheck::new("snapshot", None, &check.id, owner)
                };
                match &fetched {
                    Err(e) => {
                        owned.verdict = Verdict::Fail;
                        owned.message = Some(format!("snapshot unavailable: {e}"));
                    }
                    Ok(snapshot) => match check.metric.eval(snapshot) {
                        Some(value) => {
                            owned.observed = Some(value);
                            owned.verdict = if check.holds(value) {
                                Verdict::Pass
                            } else {
                                Verdict::Fail
                            };
                        }
                        None if check.when_missing == WhenMissing::Skip => {
                            owned.verdict = Verdict::Skipped;
                            owned.message =
                                Some(format!("{} is not in the snapshot", check.metric));
                        }
                        None => {
                            owned.verdict = Verdict::Fail;
                            owned.message =
                                Some(format!("{} is not in the snapshot", check.metric));
                        }
                    },
                }
                owned
            })
            .collect();
        let (snapshot, error) = match fetched {
            Ok(snapshot) => (Some(snapshot), None),
            Err(e) => (None, Some(e.to_string())),
        };
        (
            SnapshotSection {
                minutes,
                limit,
                error,
                snapshot,
            },
            checks,
        )
    }
}

/// Each drilled scenario's burn-rate gate over the drill's series.
async fn burn_rate_gates(
    prepared: &PreparedDrill,
    drill: &DrillReport,
    policy: &ReleaseGatePolicy,
    warnings: &mut Vec<String>,
) -> Vec<BurnRateGate> {
    let burn = &policy.burn_rate;
    let settings = BurnSettings {
        long_window_s: burn.long_window.as_secs_f64(),
        short_window_divisor: burn.short_window_divisor,
        max_burn: burn.fail_burn_rate,
    };
    let mut gates = Vec::new();
    for scenario in drill.scenarios.iter().filter(|s| s.skipped.is_none()) {
        let mut thresholds = prepared.baseline.thresholds_for(&scenario.name).clone();
        let objective = *thresholds.objective.get_or_insert(burn.default_objective);
        let Some(gate) = prepared
            .evaluators
            .burn_rate_gate(
                &scenario.name,
                &scenario.totals,
                &scenario.timeseries,
                &thresholds,
                settings,
            )
            .await
        else {
            continue;
        };
        if let (Some(warn), Some(check)) = (burn.warn_burn_rate, gate.checks.first())
            && check.verdict == Verdict::Pass
            && check.observed > warn
        {
            warnings.push(format!(
                "{}: burn rate {} is over the warning level {warn}",
                scenario.name, check.observed
            ));
        }
        gates.push(BurnRateGate {
            scenario: scenario.name.clone(),
            objective,
            long_window_s: settings.long_window_s,
            gate,
        });
    }
    gates
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
