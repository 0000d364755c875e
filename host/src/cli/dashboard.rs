//! `relhost dashboard`: read every report in the output directory and
//! write `slo-dashboard.json`, `slo-dashboard.md` and a self-contained
//! `slo-dashboard.html` next to them (see [`crate::dashboard`]).
//!
//! Exit codes: 0 the dashboard was written (also with no reports, which it
//! says); 2 bad flags, an invalid `--slo-baseline` or an output directory
//! that cannot be read; 3 a dashboard file could not be written.

use std::path::PathBuf;

use clap::Args;

use super::args::OutputArgs;
use super::error::CliError;
use super::printer::Printer;
use crate::dashboard::{self, DashboardError};
use crate::exit::Exit;
use crate::policy::{PolicyDocument, SloBaseline};

/// Summarize the reports in the output directory as an SLO dashboard (JSON, Markdown, HTML).
#[derive(Debug, Args)]
pub struct DashboardCommand {
    /// Where reports are read and written; --quiet.
    #[command(flatten)]
    output: OutputArgs,
    /// SLO baseline with each scenario's objective (default: the built-in one).
    #[arg(long, env = "RELIABILITY_SLO_BASELINE", value_name = "FILE")]
    slo_baseline: Option<PathBuf>,
}

impl DashboardCommand {
    /// Builds and writes the dashboard.
    pub async fn run(self) -> Result<Exit, CliError> {
        let printer = Printer::stdout(self.output.quiet);
        let (baseline, source) = match &self.slo_baseline {
            Some(path) => (SloBaseline::load(path, &())?, path.display().to_string()),
            None => (SloBaseline::builtin(&())?, "builtin".to_owned()),
        };
        let generated = match dashboard::generate(&self.output.output_dir, &baseline, &source) {
            Ok(generated) => generated,
            Err(DashboardError::ReadDir { path, source }) => {
                return Err(CliError::BadInput(format!(
                    "cannot read the output directory {}: {source} \
                     (--output-dir or RELIABILITY_OUTPUT_DIR)",
                    path.display()
                )));
            }
            Err(DashboardError::Write(e)) => return Err(e.into()),
        };
        let d = &generated.dashboard;
        for skipped in &d.skipped {
            eprintln!(
                "relhost: warning: skipped {}: {}",
                self.output.output_dir.join(&skipped.file).display(),
                skipped.reason
            );
        }
        printer.line(&d.summary);
        for gate in &d.gates {
            printer.line(&format!(
                "gate {}: {} ({})",
                gate.gate, gate.verdict, gate.report
            ));
        }
        for s in &d.scenarios {
            printer.line(&format!(
                "scenario {}: {}, burn rate {:.3}, budget remaining {:.1}%",
                s.name,
                s.latest_verdict,
                s.budget.burn_rate,
                s.budget.remaining * 100.0
            ));
        }
        for path in [&generated.json, &generated.markdown, &generated.html] {
            printer.line(&format!("dashboard: {}", path.display()));
        }
        Ok(Exit::Pass)
    }
}
