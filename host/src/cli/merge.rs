//! `relhost merge`: the reports of a drill's segments joined into one
//! `load-drill-*.json`, judged as one run.
//!
//! Exit codes: as `relhost drill` (0 pass, 1 a gate failed, 4 interrupted);
//! 2 when the segments do not make up one drill (missing, given twice,
//! from another plan).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::args::{self, OutputArgs};
use super::error::CliError;
use super::printer::Printer;
use crate::exit::Exit;
use crate::merge::{MergeOptions, merge};
use crate::registry::ResolveOptions;

/// Merge the reports of a drill's segments into the report of one run.
#[derive(Debug, Args)]
pub struct MergeCommand {
    /// Segment reports (`relhost drill --segment=I/N`), or directories
    /// holding them: every segment of the drill, once.
    #[arg(required = true, value_name = "REPORT|DIR")]
    inputs: Vec<PathBuf>,
    /// Wait up to this long for segments not there yet (as a Kubernetes
    /// merge step started beside the segments' pods does), e.g. 30m.
    #[arg(long, value_name = "DURATION", value_parser = args::positive_duration)]
    wait: Option<Duration>,
    /// Where the merged report is written; quiet.
    #[command(flatten)]
    output: OutputArgs,
}

impl MergeCommand {
    /// Merges the segments and writes the merged report.
    pub async fn run(self) -> Result<Exit, CliError> {
        let printer = Printer::stdout(self.output.quiet);
        let outcome = merge(&MergeOptions {
            inputs: self.inputs,
            output_dir: self.output.output_dir,
            command_line: crate::redact::command_line(),
            cache_dir: ResolveOptions::default().cache_dir,
            wait: self.wait,
        })
        .await?;
        printer.summary(&outcome.report);
        printer.line(&format!("report: {}", outcome.path.display()));
        Ok(outcome.report.status.into())
    }
}
