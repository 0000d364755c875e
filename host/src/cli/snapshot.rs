//! `relhost snapshot`: fetch the target's live reliability snapshot, print
//! it readably and save it as `reliability-snapshot-<timestamp>.json`.
//!
//! The snapshot is the Convex query `ops:getReliabilitySnapshot` when the
//! deployment's function URL is known (`--convex-url`, `CONVEX_URL`, a base
//! URL on `NAME.convex.site`), else the REST route; with no target at all,
//! the built-in relhost-sim's.
//!
//! Exit codes: 0 the snapshot was fetched; 1 the backend answered but not
//! with a snapshot (the deploy key or ops token refused, the function
//! failed, another status, not JSON), with its reason; 2 bad flags; 3 the
//! target is unreachable.

use std::time::SystemTime;

use clap::Args;
use serde_json::{Value, json};

use super::args::{CiOutputArgs, ClientArgs, OutputArgs};
use super::deployment::target_choice;
use super::deployment::{DeploymentArgs, SnapshotSourceArgs};
use super::error::CliError;
use super::printer::Printer;
use crate::drill::{CredentialSource, Target};
use crate::engine::Credentials;
use crate::exit::Exit;
use crate::report::{
    JunitCase, MarkdownSummary, ReportKind, SCHEMA_VERSION, SummaryRow, TargetInfo,
    compact_timestamp, rfc3339_millis, write_json_atomic, write_junit,
};
use crate::snapshot::{self, SnapshotError};

/// Fetch the target's reliability snapshot (its ops endpoint), print it and save it.
#[derive(Debug, Args)]
pub struct SnapshotCommand {
    /// Minutes of history (1 to 60); default: the backend's (OPS_DEFAULT_WINDOW_MINUTES).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=60))]
    minutes: Option<u32>,
    /// Rows per section (1 to 10000); default: the backend's (OPS_MAX_ROWS_PER_SECTION).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: Option<u32>,
    /// The target: its base URL, Convex URL and deploy key; without any, the built-in relhost-sim.
    #[command(flatten)]
    deployment: DeploymentArgs,
    /// Where the snapshot is read.
    #[command(flatten)]
    source: SnapshotSourceArgs,
    /// The snapshot's folder, and quiet.
    #[command(flatten)]
    output: OutputArgs,
    /// `--junit` and `--summary` outputs for CI.
    #[command(flatten)]
    ci: CiOutputArgs,
    /// Connect, request and stream-idle timeouts, HTTP/2, a private CA.
    #[command(flatten)]
    client: ClientArgs,
}

impl SnapshotCommand {
    /// Fetches, prints and saves the snapshot.
    pub async fn run(self) -> Result<Exit, CliError> {
        let started = SystemTime::now();
        let printer = Printer::stdout(self.output.quiet);
        crate::report::check_writable(&self.output.output_dir)?;
        let base_url = self.deployment.base_url();
        // Without any target, the built-in sim, with its own keys.
        let sim = match (&base_url, self.deployment.convex_url()) {
            (None, None) => {
                let target = Target::resolve(
                    target_choice(None)?,
                    Credentials::default(),
                    CredentialSource::None,
                    1,
                )
                .await?;
                target.sim
            }
            _ => None,
        };
        let base_url = match &sim {
            Some(sim) => Some(sim.base_url().parse().map_err(|e| {
                CliError::CannotRun(format!("relhost-sim reported a bad address: {e}"))
            })?),
            None => base_url,
        };
        let source = self
            .source
            .source(&self.deployment, base_url.as_ref(), sim.as_ref())?;
        let target = TargetInfo {
            base_url: base_url.as_ref().map_or_else(
                || {
                    source.describe()["url"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                },
                ToString::to_string,
            ),
            in_process_sim: sim.is_some(),
        };
        if sim.is_some() && !self.output.quiet {
            eprintln!(
                "no target (--base-url, --convex-url): reading the built-in relhost-sim's snapshot at {}",
                target.base_url.trim_end_matches('/')
            );
        }
        let client = self.client.single_client()?;
        let clock = tokio::time::Instant::now();
        let result = source.fetch(&client, self.minutes, self.limit).await;
        let elapsed = clock.elapsed().as_secs_f64();

        let (status, snapshot, error) = match &result {
            Ok(snapshot) => ("pass", snapshot.clone(), None),
            Err(e) if e.is_unreachable() => ("error", Value::Null, Some(e.to_string())),
            Err(e) => ("fail", Value::Null, Some(e.to_string())),
        };
        let mut report = json!({
            "schema_version": SCHEMA_VERSION,
            "kind": ReportKind::ReliabilitySnapshot,
            "started_at": rfc3339_millis(started),
            "finished_at": rfc3339_millis(SystemTime::now()),
            "status": status,
            "command_line": crate::redact::command_line(),
            "target": target,
            "request": {
                "source": source.describe(),
                "minutes": self.minutes,
                "limit": self.limit,
            },
            "snapshot": snapshot,
        });
        if let Some(error) = &error {
            report["error"] = Value::String(error.clone());
        }
        let name = format!("reliability-snapshot-{}.json", compact_timestamp(started));
        let path = write_json_atomic(&self.output.output_dir, &name, &report)?;

        match &result {
            Ok(snapshot) => {
                let mut text = Vec::new();
                // Writing to a Vec cannot fail.
                let _ = snapshot::write_snapshot_text(&mut text, snapshot);
                for line in String::from_utf8_lossy(&text).lines() {
                    printer.line(line);
                }
            }
            Err(e) => eprintln!(
                "relhost: snapshot check failed: {}",
                crate::redact::text(&e.to_string())
            ),
        }
        printer.line(&format!("snapshot: {}", path.display()));
        self.write_ci_outputs(&result, elapsed, &target.base_url, &path)?;
        if let Some(sim) = sim {
            sim.shutdown().await;
        }
        Ok(match result {
            Ok(_) => Exit::Pass,
            Err(e) if e.is_unreachable() => Exit::CannotRun,
            Err(_) => Exit::Fail,
        })
    }

    fn write_ci_outputs(
        &self,
        result: &Result<Value, SnapshotError>,
        elapsed: f64,
        base_url: &str,
        saved: &std::path::Path,
    ) -> Result<(), CliError> {
        let failure = result.as_ref().err().map(ToString::to_string);
        if let Some(junit) = &self.ci.junit {
            let case = JunitCase {
                classname: "snapshot".into(),
                name: "snapshot_reachable".into(),
                time_s: elapsed,
                failure: failure.clone(),
                skipped: false,
            };
            write_junit(junit, "relhost snapshot", &[case])?;
        }
        if let Some(summary) = &self.ci.summary {
            let (verdict, detail) = match &failure {
                None => ("pass", "the reliability snapshot was fetched".to_owned()),
                Some(reason) => ("fail", reason.clone()),
            };
            let mut md = MarkdownSummary::new("relhost snapshot", verdict, detail);
            md.note(format!("target: {base_url}"))
                .note(format!("saved: {}", saved.display()));
            if let Ok(s) = result {
                let figure = |path: &str| {
                    path.parse::<crate::policy::MetricPath>()
                        .ok()
                        .and_then(|p| p.eval(s))
                        .map_or_else(|| "-".to_owned(), |v| v.to_string())
                };
                for (label, path) in [
                    ("requests", "requests.total"),
                    ("open circuits", "circuits[state=open]"),
                    ("rate-limit rejections", "rate_limit.rejections_total"),
                    ("bulkhead rejections", "bulkheads[*].rejections"),
                    (
                        "admission rejections",
                        "admission.decisions[decision=rejected].count",
                    ),
                    ("provider failovers", "provider_failovers.total"),
                ] {
                    md.note(format!("{label}: {}", figure(path)));
                }
            }
            md.row(SummaryRow {
                check: "snapshot_reachable".into(),
                owner: String::new(),
                observed: failure.clone().unwrap_or_else(|| "a JSON snapshot".into()),
                expected: "a JSON snapshot".into(),
                verdict: verdict.into(),
            });
            md.write(summary)?;
        }
        Ok(())
    }
}
