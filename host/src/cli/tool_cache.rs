//! `relhost tool-cache stats|clear`: the seed's tool-cache operations
//! (`toolCache:listNamespaceStats`, `toolCache:clearNamespace`) as Convex
//! function calls, printed as tables and saved as
//! `tool-cache-<operation>-<timestamp>.json`.
//!
//! Exit codes: 0 done; 1 the function failed or the deployment refused the
//! call; 2 bad input; 3 the deployment is unreachable.

use std::time::SystemTime;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::args::{ClientArgs, OutputArgs};
use super::convex::report_failure;
use super::deployment::DeploymentArgs;
use super::error::CliError;
use super::printer::Printer;
use crate::convex::{self, FunctionKind, FunctionPath};
use crate::exit::Exit;
use crate::report::{
    ReportKind, SCHEMA_VERSION, compact_timestamp, rfc3339_millis, write_json_atomic,
};

/// Read or clear the backend's tool cache (Convex functions).
#[derive(Debug, Args)]
pub struct ToolCacheCommand {
    #[command(subcommand)]
    operation: Operation,
}

#[derive(Debug, Subcommand)]
enum Operation {
    /// Per-namespace entries, hits and misses (toolCache:listNamespaceStats).
    Stats {
        /// Cache rows to scan (1 to 100000; default: the backend's).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
        limit: Option<u32>,
        /// The query that lists the namespaces.
        #[arg(
            long,
            default_value = "toolCache:listNamespaceStats",
            value_name = "MODULE:FUNCTION"
        )]
        function: FunctionPath,
        #[command(flatten)]
        common: Common,
    },
    /// Delete every entry of a namespace (toolCache:clearNamespace).
    Clear {
        /// The namespace, e.g. search_web_v1.
        #[arg(long, value_name = "NAME", value_parser = parse_namespace)]
        namespace: String,
        /// The mutation that clears a namespace.
        #[arg(
            long,
            default_value = "toolCache:clearNamespace",
            value_name = "MODULE:FUNCTION"
        )]
        function: FunctionPath,
        #[command(flatten)]
        common: Common,
    },
}

/// Flags of both operations.
#[derive(Debug, Args)]
struct Common {
    /// The deployment: its URLs and deploy key.
    #[command(flatten)]
    deployment: DeploymentArgs,
    /// The report's folder, and quiet.
    #[command(flatten)]
    output: OutputArgs,
    /// Timeouts and a private CA.
    #[command(flatten)]
    client: ClientArgs,
}

impl ToolCacheCommand {
    /// Calls the function, prints its answer and saves the report.
    pub async fn run(self) -> Result<Exit, CliError> {
        let started = SystemTime::now();
        let (name, kind, function, args, common) = match self.operation {
            Operation::Stats {
                limit,
                function,
                common,
            } => {
                let args = limit.map_or_else(|| json!({}), |l| json!({ "limit": l }));
                ("stats", FunctionKind::Query, function, args, common)
            }
            Operation::Clear {
                namespace,
                function,
                common,
            } => {
                let args = json!({ "namespace": namespace });
                ("clear", FunctionKind::Mutation, function, args, common)
            }
        };
        crate::report::check_writable(&common.output.output_dir)?;
        let url = common.deployment.required_convex_url()?;
        let client = common.client.single_client()?;
        let auth = common.deployment.admin();
        let result = convex::call(&client, &url, kind, &function, &args, &auth).await;
        let (status, value, error) = match &result {
            Ok(value) => ("pass", value.clone(), None),
            Err(e) if e.is_unreachable() => ("error", Value::Null, Some(e.to_string())),
            Err(e) => ("fail", Value::Null, Some(e.to_string())),
        };
        let mut report = json!({
            "schema_version": SCHEMA_VERSION,
            "kind": ReportKind::ToolCache,
            "operation": name,
            "started_at": rfc3339_millis(started),
            "finished_at": rfc3339_millis(SystemTime::now()),
            "status": status,
            "command_line": crate::redact::command_line(),
            "convex_url": url.to_string(),
            "request": {
                "function": function.to_string(),
                "kind": kind.as_str(),
                "args": args,
                "deploy_key": if matches!(auth, convex::FunctionAuth::Admin(_)) { "<set>" } else { "<unset>" },
            },
            "result": value,
        });
        if let Some(error) = error {
            report["error"] = Value::String(crate::redact::text(&error));
        }
        let file = format!("tool-cache-{name}-{}.json", compact_timestamp(started));
        let path = write_json_atomic(&common.output.output_dir, &file, &report)?;
        let printer = Printer::stdout(common.output.quiet);
        let exit = match &result {
            Ok(value) => {
                print_result(&printer, name, value);
                Exit::Pass
            }
            Err(e) => report_failure(e),
        };
        printer.line(&format!("report: {}", path.display()));
        Ok(exit)
    }
}

/// Stats as a table of namespaces (and the scan's figures); anything else
/// as it came.
fn print_result(printer: &Printer, operation: &str, value: &Value) {
    let mut text = Vec::new();
    match value.get("namespaces") {
        Some(rows) if operation == "stats" => {
            let _ = crate::snapshot::write_rows(&mut text, rows);
            if let Some(map) = value.as_object() {
                for (k, v) in map.iter().filter(|(k, _)| *k != "namespaces") {
                    text.extend(format!("{k}: {v}\n").bytes());
                }
            }
        }
        _ => {
            let _ = crate::snapshot::write_rows(&mut text, value);
        }
    }
    for line in String::from_utf8_lossy(&text).lines() {
        printer.line(line);
    }
}

/// Parses `--namespace`: a cache namespace name.
fn parse_namespace(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if valid {
        Ok(text.to_owned())
    } else {
        Err(
            "expected a namespace name like search_web_v1 (letters, digits, '_', '-', '.', ':')"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_names() {
        assert!(parse_namespace("search_web_v1").is_ok());
        for bad in ["", "a b", "x/../y", "é"] {
            assert!(parse_namespace(bad).is_err(), "{bad}");
        }
    }
}
