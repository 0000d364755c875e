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
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::Args;

use super::args::{self, CiOutputArgs, ClientArgs, OutputArgs, OwnershipArgs};
use super::deployment::{parse_base_url, target_choice};
use super::error::CliError;
use super::printer::Printer;
use super::progress::ConsoleProgress;
use crate::drill::Target;
use crate::drill::auth_pool;
use crate::engine::Progress;
use crate::exit::Exit;
use crate::http::{Client, ClientConfig};
use crate::plugin::{PluginSource, Secrets, artifacts};
use crate::policy::{OwnershipMatrix, PolicyDocument, ReleaseGatePolicy};
use crate::probe::{self, ProbeReport, ProbeSettings, ProbeStatus};
use crate::report::{self, ProbeOutcome};
use crate::report::{
    JunitCase, MarkdownSummary, PluginInfo, ReportKind, SCHEMA_VERSION, SummaryRow, TargetInfo,
    Verdict, compact_timestamp, rfc3339_millis, write_json_atomic, write_junit,
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
        let started = SystemTime::now();
        let printer = Printer::stdout(self.output.quiet);
        let progress = ConsoleProgress::new(self.output.quiet);
        let owners = self.owners.load()?;
        crate::report::check_writable(&self.output.output_dir)?;
        let gate = ReleaseGatePolicy::file_or_builtin(self.policy.as_deref(), &owners)?;
        let scenarios = self.scenarios(&gate)?;
        let settings = ProbeSettings {
            retries: self.retries.unwrap_or(gate.probes.retries),
            backoff: self.backoff.unwrap_or(gate.probes.backoff),
        };

        let (creds, source) = auth_pool::from_operator(self.chat_auth_pool_file.as_deref())?;
        let target =
            Target::resolve(target_choice(self.base_url.clone())?, creds, source, 1).await?;
        if target.sim.is_some() {
            progress.note(&format!(
                "no --base-url or RELIABILITY_BASE_URL: probing the built-in relhost-sim at {}",
                target.base_url.to_string().trim_end_matches('/')
            ));
        }
        target.check_reachable(self.client.connect_timeout).await?;

        let runtime = crate::cli::plugin::runtime()?;
        let mut plugins = Vec::new();
        for name in &scenarios {
            let plugin = runtime
                .load_scenario(
                    &PluginSource::Builtin(name.clone()),
                    Arc::new(Secrets::default()),
                    self.seed,
                )
                .await?;
            plugins.push(plugin);
        }
        let secret_names: Vec<&str> = plugins
            .iter()
            .flat_map(|p| p.descriptor().secrets.iter().map(String::as_str))
            .collect();
        let secrets = Arc::new(Secrets::from_env(secret_names));
        let credential = target.credentials.get(0);
        let mut specs = Vec::with_capacity(plugins.len());
        for plugin in &mut plugins {
            *plugin = plugin.with_secrets(Arc::clone(&secrets));
            let name = plugin.descriptor().name.clone();
            let ceiling = self.latency_ceiling.map_or_else(
                || gate.probes.latency_ceiling_ms(&name),
                |d| d.as_secs_f64() * 1000.0,
            );
            let spec = probe::prepare_probe(
                plugin,
                &target.base_url,
                &secrets,
                credential,
                ceiling,
                self.seed,
            )
            .await?;
            specs.push(spec);
        }

        let client = Client::new(&self.client_config())?;
        let outcomes = probe::run_probes(&client, &specs, settings).await;
        let status = ProbeStatus::of(&outcomes);
        let report = ProbeReport {
            schema_version: SCHEMA_VERSION,
            kind: ReportKind::SyntheticProbes,
            started_at: rfc3339_millis(started),
            finished_at: rfc3339_millis(SystemTime::now()),
            status,
            command_line: crate::redact::command_line(),
            config: serde_json::json!({
                "scenarios": scenarios,
                "retries": settings.retries,
                "backoff_ms": settings.backoff.as_millis() as u64,
                "latency_ceiling_ms": specs.iter().map(|s| (s.scenario.clone(), serde_json::json!(s.latency_ceiling_ms))).collect::<serde_json::Map<String, serde_json::Value>>(),
                "policy": gate.origin().to_string(),
                "ownership_matrix": owners.origin().to_string(),
                "credentials": target.source.label(),
                "secrets_set": format!("{secrets:?}"),
                "connect_timeout_ms": self.client.connect_timeout.as_millis() as u64,
                "request_timeout_ms": self.client.request_timeout.as_millis() as u64,
                "http2": self.client.http2,
                "seed": self.seed,
            }),
            target: TargetInfo {
                base_url: target.base_url.to_string(),
                in_process_sim: target.sim.is_some(),
            },
            plugins: plugins.iter().map(PluginInfo::of).collect(),
            probes: outcomes,
        };
        let name = format!("synthetic-probes-{}.json", compact_timestamp(started));
        let path = write_json_atomic(&self.output.output_dir, &name, &report)?;
        print_outcomes(&printer, &report.probes);
        printer.line(&format!("report: {}", path.display()));
        write_ci_outputs(&self, &report, &owners, &path)?;
        if let Some(sim) = target.sim {
            sim.shutdown().await;
        }
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

    fn client_config(&self) -> ClientConfig {
        ClientConfig {
            max_idle_per_host: 4,
            ..self.client.config()
        }
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
