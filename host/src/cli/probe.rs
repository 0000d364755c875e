//! `relhost probe`: synthetic probes, one checked request per entrypoint,
//! and `synthetic-probes-<timestamp>.json`.
//!
//! Which scenarios, how many retries and the latency ceilings come from the
//! release gate policy (`--policy`, default the built-in one); flags
//! override them. Each probe's request is built by its scenario plugin (see
//! [`crate::probe::prepare_probe`]). Credentials and secrets come from the
//! same environment variables as the drill's; with no base URL the built-in
//! relhost-sim is started in-process, with a demo user.
//!
//! Exit codes: 0 every probe passed; 1 a probe failed; 2 bad input (flags,
//! policies, plugins); 3 the target is unreachable.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::args::{self, CiOutputArgs, ClientArgs, OutputArgs, OwnershipArgs};
use super::deployment::{parse_base_url, target_choice};
use super::error::CliError;
use super::printer::Printer;
use super::progress::ConsoleProgress;
use crate::drill::auth_pool;
use crate::exit::Exit;
use crate::plugin::artifacts;
use crate::policy::{OwnershipMatrix, PolicyDocument, ReleaseGatePolicy};
use crate::probe::{ProbeReport, ProbeStatus, ProbeSuite};
use crate::report::{
    self, JunitCase, MarkdownSummary, ProbeOutcome, SummaryRow, Verdict, write_junit,
};

/// Run synthetic probes: one checked request per entrypoint (status, latency, body shape).
#[derive(Debug, Args)]
pub struct ProbeCommand {
    /// Scenarios to probe, comma-separated (default: the release gate policy's).
    #[arg(long, value_name = "A,B", value_parser = args::names)]
    scenarios: Option<std::vec::Vec<String>>,
    /// Base URL of the target; without one, the built-in relhost-sim is probed.
    #[arg(long, env = "RELIABILITY_BASE_URL", value_name = "URL", value_parser = parse_base_url)]
    base_url: Option<http::Uri>,
    /// Chat auth pool (see `relhost pool`): the chat probe uses its first entry.
    #[arg(long, env = "RELIABILITY_CHAT_AUTH_POOL_FILE", value_name = "FILE")]
    chat_auth_pool_file: Option<PathBuf>,
    /// Retries of a failing probe (default: the policy's).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10))]
    retries: Option<u32>,
    /// Wait before the first retry, doubled for each further one (default: the policy's).
    #[arg(long, value_name = "DURATION", value_parser = args::duration)]
    backoff: Option<Duration>,
    /// Latency ceiling of every probe (default: the policy's, per scenario).
    #[arg(long, value_name = "DURATION", value_parser = args::duration)]
    latency_ceiling: Option<Duration>,
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
    /// Where reports are read and written; --quiet.
    #[command(flatten)]
    output: OutputArgs,
    /// `--junit` and `--summary` outputs for CI.
    #[command(flatten)]
    ci: CiOutputArgs,
    /// Connect, request and stream-idle timeouts, HTTP/2, a private CA.
    #[command(flatten)]
    client: ClientArgs,
    /// Seed of the requests' random values.
    #[arg(long, env = "RELIABILITY_SEED", default_value = "1", value_name = "N")]
    seed: u64,
}

impl ProbeCommand {
    /// Runs the probes and writes their report.
    pub async fn run(self) -> Result<Exit, CliError> {
        let printer = Printer::stdout(self.output.quiet);
        let progress = ConsoleProgress::new(self.output.quiet);
        let owners = self.owners.load()?;
        let policy = ReleaseGatePolicy::file_or_builtin(self.policy.as_deref(), &owners)?;
        let suite = ProbeSuite {
            scenarios: self.scenarios(&policy)?,
            policy,
            owners,
            retries: self.retries,
            backoff: self.backoff,
            latency_ceiling: self.latency_ceiling,
            target: target_choice(self.base_url.clone())?,
            credentials: auth_pool::from_operator(self.chat_auth_pool_file.as_deref())?,
            client: self.client.config(),
            seed: self.seed,
            compile_cache: super::plugin::compile_cache(),
            output_dir: self.output.output_dir.clone(),
            command_line: crate::redact::command_line(),
        };
        let outcome = suite.run(&progress).await?;
        let report = &outcome.report;
        print_outcomes(&printer, &report.probes);
        printer.line(&format!("report: {}", outcome.path.display()));
        write_ci_outputs(&self, report, &suite.owners, &outcome.path)?;
        Ok(match report.status {
            ProbeStatus::Pass => Exit::Pass,
            ProbeStatus::Fail => Exit::Fail,
            ProbeStatus::Error => Exit::CannotRun,
        })
    }

    fn scenarios(&self, gate: &ReleaseGatePolicy) -> Result<Vec<String>, CliError> {
        let Some(names) = &self.scenarios else {
            let builtin: Vec<String> = gate
                .probes
                .scenarios
                .iter()
                .filter(|s| artifacts::BUILTIN_SCENARIOS.contains(&s.as_str()))
                .cloned()
                .collect();
            return Ok(builtin);
        };
        if let Some(unknown) = names
            .iter()
            .find(|n| !artifacts::BUILTIN_SCENARIOS.contains(&n.as_str()))
        {
            return Err(CliError::BadInput(format!(
                "--scenarios: unknown scenario {unknown:?}; valid: {}",
                artifacts::BUILTIN_SCENARIOS.join(", ")
            )));
        }
        Ok(names.clone())
    }
}

fn observed_text(o: &report::Observed) -> String {
    match o {
        report::Observed::Number(n) => n.to_string(),
        report::Observed::Text(t) => t.clone(),
    }
}

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Skipped => "skipped",
    }
}

/// One line per probe, then one per failed check.
fn print_outcomes(printer: &Printer, outcomes: &[ProbeOutcome]) {
    let width = outcomes.iter().map(|o| o.scenario.len()).max().unwrap_or(8);
    for o in outcomes {
        let status = o.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
        let latency = o
            .latency_ms
            .map_or_else(|| "-".to_owned(), |l| format!("{l:.1} ms"));
        printer.line(&format!(
            "{:<width$}  {:<24} {:>4}  {:>10}  attempts {}  {}",
            o.scenario,
            o.endpoint,
            status,
            latency,
            o.attempts,
            verdict_text(o.verdict).to_uppercase()
        ));
        for c in o.failed_checks() {
            printer.line(&format!(
                "  {} failed: observed {}, expected {}",
                c.name,
                observed_text(&c.observed),
                c.expected
            ));
        }
        if o.verdict != Verdict::Pass
            && let Some(message) = &o.message
        {
            printer.line(&format!("  {message}"));
        }
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Fail)
        .map(|o| o.scenario.as_str())
        .collect();
    if failed.is_empty() {
        printer.line("probes: PASS");
    } else {
        printer.line(&format!("probes: FAIL ({})", failed.join(", ")));
    }
}

fn write_ci_outputs(
    cmd: &ProbeCommand,
    report: &ProbeReport,
    owners: &OwnershipMatrix,
    saved: &std::path::Path,
) -> Result<(), CliError> {
    if let Some(junit) = &cmd.ci.junit {
        let mut cases = Vec::new();
        for o in &report.probes {
            let classname = format!("probe.{}", o.scenario);
            let time_s = o.latency_ms.unwrap_or(0.0) / 1000.0;
            if o.verdict == Verdict::Skipped {
                cases.push(JunitCase {
                    classname,
                    name: "probe".into(),
                    time_s: 0.0,
                    failure: None,
                    skipped: true,
                });
                continue;
            }
            for c in &o.checks {
                let owner = owners.owner_for(&format!("probe_{}", c.name), Some(&o.scenario));
                cases.push(JunitCase {
                    classname: classname.clone(),
                    name: c.name.clone(),
                    time_s,
                    failure: (c.verdict == Verdict::Fail).then(|| {
                        format!(
                            "observed {}, expected {} (owner: {}, {})",
                            observed_text(&c.observed),
                            c.expected,
                            owner.team,
                            owner.contact
                        )
                    }),
                    skipped: false,
                });
            }
        }
        write_junit(junit, "relhost probe", &cases)?;
    }
    if let Some(summary) = &cmd.ci.summary {
        let failed = report
            .probes
            .iter()
            .filter(|o| o.verdict == Verdict::Fail)
            .count();
        let verdict = if report.status == ProbeStatus::Pass {
            "pass"
        } else {
            "fail"
        };
        let mut md = MarkdownSummary::new(
            "relhost probe",
            verdict,
            format!("{failed} of {} probes failed", report.probes.len()),
        );
        md.note(format!("target: {}", report.target.base_url))
            .note(format!("report: {}", saved.display()));
        for o in &report.probes {
            if o.verdict == Verdict::Skipped {
                md.row(SummaryRow {
                    check: format!("{}: probe", o.scenario),
                    owner: owners
                        .owner_for("probe_status", Some(&o.scenario))
                        .id
                        .clone(),
                    observed: o.message.clone().unwrap_or_default(),
                    expected: "a probe".into(),
                    verdict: "skipped".into(),
                });
            }
            for c in &o.checks {
                md.row(SummaryRow {
                    check: format!("{}: {}", o.scenario, c.name),
                    owner: owners
                        .owner_for(&format!("probe_{}", c.name), Some(&o.scenario))
                        .id
                        .clone(),
                    observed: observed_text(&c.observed),
                    expected: c.expected.clone(),
                    verdict: verdict_text(c.verdict).into(),
                });
            }
        }
        md.write(summary)?;
    }
    Ok(())
}
