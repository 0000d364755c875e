//! `relhost region-readiness`: does a single-region launch still hold for
//! the expected peak of concurrent streams, or is the multi-region program
//! (active-standby or active-active) triggered? Reads
//! `policies/region-rollout-policy.json` (or `--policy`) and the newest
//! milestone drill reports in the output directory (see
//! [`crate::region::read_milestone_evidence`]); writes
//! `region-readiness-<timestamp>.json`.
//!
//! Exit codes: 0 the current topology suffices (or
//! `RELIABILITY_REGION_READINESS_ONLY` is true: the decision is reported,
//! not enforced); 1 the program is triggered; 2 bad input.

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use clap::Args;
use clap::builder::BoolishValueParser;

use super::args::{CiOutputArgs, OutputArgs};
use super::error::CliError;
use super::printer::Printer;
use crate::exit::Exit;
use crate::policy::{PolicyDocument, RegionRolloutPolicy};
use crate::region::{self, RegionInputs, RegionReadinessReport, Topology};
use crate::report::{
    JunitCase, MarkdownSummary, ReportHeader, ReportKind, SummaryRow, compact_timestamp,
    write_json_atomic, write_junit,
};

/// Decide whether single-region launch holds or the multi-region program is triggered.
#[derive(Debug, Args)]
pub struct RegionReadinessCommand {
    /// Business forecast: concurrent chat streams at peak (without one, the
    /// decision rests on the milestone results alone).
    #[arg(long, env = "RELIABILITY_EXPECTED_PEAK_STREAMS", value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    expected_peak_streams: Option<u64>,
    /// The region this launch is for (recorded in the report).
    #[arg(long, env = "RELIABILITY_REGION_ID", value_name = "ID")]
    region_id: Option<String>,
    /// The topology in place: single_region, active_standby or active_active.
    #[arg(long, env = "RELIABILITY_TOPOLOGY_MODE", default_value = "single_region",
          value_name = "MODE", value_parser = parse_topology)]
    topology_mode: Topology,
    /// Report the decision without failing when the program is triggered.
    #[arg(long, env = "RELIABILITY_REGION_READINESS_ONLY", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    readiness_only: Option<bool>,
    /// Region rollout policy file (default: the built-in policies/region-rollout-policy.json).
    #[arg(
        long = "policy",
        env = "RELIABILITY_REGION_ROLLOUT_POLICY",
        value_name = "FILE"
    )]
    policy: Option<PathBuf>,
    /// Where reports are read and written; --quiet.
    #[command(flatten)]
    output: OutputArgs,
    /// `--junit` and `--summary` outputs for CI.
    #[command(flatten)]
    ci: CiOutputArgs,
}

fn parse_topology(text: &str) -> Result<Topology, String> {
    text.parse()
}

impl RegionReadinessCommand {
    /// Decides, prints and writes the report.
    pub async fn run(self) -> Result<Exit, CliError> {
        let started = SystemTime::now();
        let clock = Instant::now();
        let printer = Printer::stdout(self.output.quiet);
        let policy = RegionRolloutPolicy::file_or_builtin(self.policy.as_deref(), &())?;
        let (evidence, mut warnings) =
            region::read_milestone_evidence(&self.output.output_dir, &policy.scenario);
        let inputs = RegionInputs {
            expected_peak_streams: self.expected_peak_streams,
            current_topology: self.topology_mode,
            evidence: evidence.clone(),
        };
        let decision = region::decide_region_readiness(&policy, &inputs);
        warnings.extend(decision.warnings.iter().cloned());
        let readiness_only = self.readiness_only.unwrap_or(false);
        let report = RegionReadinessReport {
            header: ReportHeader::new(
                ReportKind::RegionReadiness,
                started,
                crate::redact::command_line(),
            ),
            status: decision.status(),
            config: serde_json::json!({
                "policy": RegionRolloutPolicy::origin_of(self.policy.as_deref()).to_string(),
                "output_dir": self.output.output_dir.display().to_string(),
                "scenario": policy.scenario,
                "single_region_capacity_streams": policy.single_region_capacity_streams,
                "headroom_factor": policy.headroom_factor,
                "active_standby_utilization_above": policy.active_standby.utilization_above,
                "active_active_utilization_above": policy.active_active.utilization_above,
            }),
            region_id: self.region_id.clone(),
            current_topology: self.topology_mode,
            readiness_only,
            expected_peak_streams: self.expected_peak_streams,
            evidence,
            decision,
            warnings,
        };
        let name = format!("region-readiness-{}.json", compact_timestamp(started));
        let path = write_json_atomic(&self.output.output_dir, &name, &report)?;

        let d = &report.decision;
        let headline = if d.triggered {
            format!(
                "multi-region program TRIGGERED: {} needed (current: {})",
                d.required_topology, report.current_topology
            )
        } else {
            format!(
                "{} suffices (required: {})",
                report.current_topology, d.required_topology
            )
        };
        printer.line(&format!(
            "region readiness{}: {headline}",
            report
                .region_id
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
        for reason in &d.reasons {
            printer.line(&format!("  - {reason}"));
        }
        for warning in &report.warnings {
            printer.line(&format!("  warning: {warning}"));
        }
        if readiness_only && d.triggered {
            printer.line(
                "  readiness only (RELIABILITY_REGION_READINESS_ONLY): reported, not enforced",
            );
        }
        printer.line(&format!("report: {}", path.display()));

        let failure = d.triggered.then(|| d.reasons.join("; "));
        if let Some(junit) = &self.ci.junit {
            let case = JunitCase {
                classname: "region_readiness".into(),
                name: format!("topology {} suffices", report.current_topology),
                time_s: clock.elapsed().as_secs_f64(),
                failure: failure.clone(),
                skipped: false,
            };
            write_junit(junit, "relhost region-readiness", &[case])?;
        }
        if let Some(summary) = &self.ci.summary {
            let mut md = MarkdownSummary::new(
                "relhost region-readiness",
                d.status().as_str(),
                headline.clone(),
            );
            for reason in &d.reasons {
                md.note(reason.clone());
            }
            md.row(SummaryRow {
                check: "utilization".into(),
                owner: String::new(),
                observed: format!("{:.2}", d.utilization),
                expected: format!(
                    "<= {} for single region",
                    policy.active_standby.utilization_above
                ),
                verdict: if d.required_topology == Topology::SingleRegion {
                    "pass"
                } else {
                    "fail"
                }
                .into(),
            });
            md.row(SummaryRow {
                check: "topology".into(),
                owner: String::new(),
                observed: report.current_topology.to_string(),
                expected: format!("at least {}", d.required_topology),
                verdict: d.status().as_str().into(),
            });
            md.write(summary)?;
        }
        Ok(if d.triggered && !readiness_only {
            Exit::Fail
        } else {
            Exit::Pass
        })
    }
}
