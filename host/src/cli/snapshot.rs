//! `relhost snapshot`: fetch the target's live reliability snapshot, print
//! it readably and save it as `reliability-snapshot-<timestamp>.json`.
//!
//! Exit codes: 0 the snapshot was fetched; 1 the endpoint answered but not
//! with a snapshot (401/403: the ops token; another status; not JSON), a
//! failed check with its reason; 2 bad flags; 3 the target is unreachable.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::Args;
use serde_json::{Value, json};

use super::args::{CiOutputArgs, ClientArgs};
use super::drill::credentials::CredentialSource;
use super::error::CliError;
use super::printer::Printer;
use super::target::{Target, parse_base_url};
use crate::engine::Credentials;
use crate::exit::Exit;
use crate::http::{Client, ClientConfig};
use crate::ops::{self, DEFAULT_SNAPSHOT_PATH, SnapshotError};
use crate::report::{
    JunitCase, MarkdownSummary, SCHEMA_VERSION, SummaryRow, compact_timestamp, rfc3339_millis,
    write_json_atomic, write_junit,
};

/// The `kind` of a saved snapshot.
const SNAPSHOT_KIND: &str = "reliability_snapshot";

/// Fetch the target's reliability snapshot (its ops endpoint), print it and save it.
#[derive(Debug, Args)]
pub struct SnapshotCommand {
    /// Minutes of history (1 to 60).
    #[arg(long, default_value = "30", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=60))]
    minutes: u32,
    /// Rows per section (1 to 10000).
    #[arg(long, default_value = "100", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: u32,
    /// Base URL of the target; without one, the built-in relhost-sim's snapshot.
    #[arg(long, env = "RELIABILITY_BASE_URL", value_name = "URL", value_parser = parse_base_url)]
    base_url: Option<http::Uri>,
    /// Path of the snapshot endpoint.
    #[arg(long, default_value = DEFAULT_SNAPSHOT_PATH, value_name = "PATH")]
    snapshot_path: String,
    /// Bearer token of the ops endpoint (never printed or saved).
    #[arg(
        long,
        env = "RELIABILITY_OPS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    ops_token: Option<String>,
    /// Where the snapshot is saved.
    #[arg(
        long,
        env = "RELIABILITY_OUTPUT_DIR",
        default_value = ".output/reliability",
        value_name = "DIR"
    )]
    output_dir: PathBuf,
    /// `--junit` and `--summary` outputs for CI.
    #[command(flatten)]
    ci: CiOutputArgs,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
    /// Connect, request and stream-idle timeouts, HTTP/2, a private CA.
    #[command(flatten)]
    client: ClientArgs,
}

impl SnapshotCommand {
    /// Fetches, prints and saves the snapshot.
    pub async fn run(self) -> Result<Exit, CliError> {
        let started = SystemTime::now();
        let printer = Printer::stdout(self.quiet);
        crate::report::check_writable(&self.output_dir)?;
        // Without a target, the built-in sim, with its own ops token.
        let target = Target::resolve(
            self.base_url.clone(),
            Credentials::default(),
            CredentialSource::None,
            1,
        )
        .await?;
        let base_url = target.base_url.clone();
        let ops_token = match &target.sim {
            Some(sim) => Some(sim.ops_token().to_string()),
            None => self.ops_token.clone(),
        };
        if let Some(token) = &ops_token {
            crate::redact::register(token);
        }
        if target.sim.is_some() && !self.quiet {
            eprintln!(
                "no --base-url or RELIABILITY_BASE_URL: reading the built-in relhost-sim's snapshot at {}",
                base_url.to_string().trim_end_matches('/')
            );
        }
        let client = Client::new(&ClientConfig {
            max_idle_per_host: 1,
            ..self.client.config()
        })
        .map_err(|e| CliError::BadInput(e.to_string()))?;
        let clock = tokio::time::Instant::now();
        let result = ops::fetch_snapshot(
            &client,
            &base_url,
            &self.snapshot_path,
            ops_token.as_deref(),
            self.minutes,
            self.limit,
        )
        .await;
        let elapsed = clock.elapsed().as_secs_f64();

        let (status, snapshot, error) = match &result {
            Ok(snapshot) => ("pass", snapshot.clone(), None),
            Err(e) if e.is_unreachable() => ("error", Value::Null, Some(e.to_string())),
            Err(e) => ("fail", Value::Null, Some(e.to_string())),
        };
        let mut report = json!({
            "schema_version": SCHEMA_VERSION,
            "kind": SNAPSHOT_KIND,
            "started_at": rfc3339_millis(started),
            "finished_at": rfc3339_millis(SystemTime::now()),
            "status": status,
            "command_line": crate::redact::command_line(),
            "target": target.info(),
            "request": {
                "path": self.snapshot_path,
                "minutes": self.minutes,
                "limit": self.limit,
                "ops_token": if ops_token.is_some() { "<set>" } else { "<unset>" },
            },
            "snapshot": snapshot,
        });
        if let Some(error) = &error {
            report["error"] = Value::String(error.clone());
        }
        let name = format!("reliability-snapshot-{}.json", compact_timestamp(started));
        let path = write_json_atomic(&self.output_dir, &name, &report)?;

        match &result {
            Ok(snapshot) => {
                let mut text = Vec::new();
                // Writing to a Vec cannot fail.
                let _ = ops::write_snapshot_text(&mut text, snapshot);
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
        self.write_ci_outputs(&result, elapsed, &base_url, &path)?;
        if let Some(sim) = target.sim {
            sim.shutdown().await;
        }
        Ok(match result {
            Ok(_) => Exit::Pass,
            Err(SnapshotError::Unreachable(_)) => Exit::CannotRun,
            Err(_) => Exit::Fail,
        })
    }

    fn write_ci_outputs(
        &self,
        result: &Result<Value, SnapshotError>,
        elapsed: f64,
        base_url: &http::Uri,
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
