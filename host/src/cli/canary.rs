//! `relhost canary`: drills a control and a candidate with the same arrival
//! schedule and judges the candidate against the control from the canary
//! policy (Mann–Whitney U per metric, a weighted score, critical metrics);
//! see [`crate::canary::run`].
//!
//! Writes `canary-check-<timestamp>.json` and each side's drill report
//! (`load-drill-<profile>-control-...`, `...-candidate-...`), optionally
//! JUnit XML and a Markdown summary. Exit codes: 0 pass; 1 fail; 2 bad
//! input (the same URL twice); 3 the run could not be carried out; 4
//! marginal; 5 inconclusive; 130 interrupted.

use std::path::{Path, PathBuf};

use clap::Args;

use super::args::CiOutputArgs;
use super::deployment::parse_base_url;
use super::drill::DrillArgs;
use super::error::CliError;
use super::printer::Printer;
use super::progress::ConsoleProgress;
use super::signals::stop_on_signal;
use crate::canary::{Canary, CanaryReport, CanaryVerdict, Classification, MetricResult};
use crate::exit::Exit;
use crate::policy::{CanaryPolicy, PolicyDocument};
use crate::report::{JunitCase, MarkdownSummary, SummaryRow, write_junit};

/// Compare a candidate with its control under the same load.
#[derive(Debug, Args)]
#[command(mut_arg("base_url", |a| a
    .long("control-url")
    .env("RELIABILITY_CONTROL_URL")
    .help("Base URL of the control (the current release); with neither URL, two built-in relhost-sims are compared")))]
#[command(mut_arg("convex_url", |a| a.hide(true).env(None::<&str>)))]
pub struct CanaryCommand {
    #[command(flatten)]
    drill: DrillArgs,
    /// Base URL of the candidate (the new release); must differ from --control-url.
    #[arg(long, env = "RELIABILITY_CANDIDATE_URL", value_name = "URL", value_parser = parse_base_url)]
    candidate_url: Option<http::Uri>,
    /// Canary policy file (default: the built-in policies/canary-policy.json).
    #[arg(
        long = "policy",
        env = "RELIABILITY_CANARY_POLICY",
        value_name = "FILE"
    )]
    policy: Option<PathBuf>,
    /// Fewest samples each side needs for a metric to be judged (requests or
    /// streams; seconds for throughput); fewer makes the canary inconclusive.
    #[arg(long, default_value = "5", value_name = "N",
          value_parser = clap::value_parser!(u32).range(2..=100000))]
    min_samples: u32,
    /// Judge this merged drill (`relhost merge`) as the control instead of
    /// drilling; needs --candidate-report.
    #[arg(long, value_name = "FILE", requires = "candidate_report")]
    control_report: Option<PathBuf>,
    /// Judge this merged drill as the candidate; needs --control-report.
    #[arg(long, value_name = "FILE", requires = "control_report")]
    candidate_report: Option<PathBuf>,
    /// `--junit` and `--summary` outputs for CI.
    #[command(flatten)]
    ci: CiOutputArgs,
}

impl CanaryCommand {
    /// Runs both drills, judges the candidate and writes the reports.
    pub async fn run(self) -> Result<Exit, CliError> {
        let stop = stop_on_signal();
        let printer = Printer::stdout(self.drill.quiet());
        let progress = ConsoleProgress::new(self.drill.quiet());
        let canary = Canary {
            policy: CanaryPolicy::file_or_builtin(self.policy.as_deref(), &())?,
            policy_label: CanaryPolicy::origin_of(self.policy.as_deref()).to_string(),
            candidate_url: self.candidate_url.clone(),
            min_samples: self.min_samples,
        };
        let outcome = match (&self.control_report, &self.candidate_report) {
            (Some(control), Some(candidate)) => canary.judge_reports(
                (control, candidate),
                crate::redact::command_line(),
                self.drill.output_dir(),
            )?,
            _ => canary.run(&self.drill.options()?, stop, &progress).await?,
        };
        let report = &outcome.report;
        print_report(&printer, report, &outcome.path);
        write_outputs(
            report,
            &outcome.path,
            self.ci.junit.as_deref(),
            self.ci.summary.as_deref(),
        )?;
        Ok(if report.interrupted {
            Exit::Interrupted
        } else {
            exit_of(report.verdict)
        })
    }
}

/// The exit code of a verdict.
fn exit_of(verdict: CanaryVerdict) -> Exit {
    match verdict {
        CanaryVerdict::Pass => Exit::Pass,
        CanaryVerdict::Fail => Exit::Fail,
        CanaryVerdict::Marginal => Exit::Marginal,
        CanaryVerdict::Inconclusive => Exit::Inconclusive,
    }
}

fn verdict_word(v: CanaryVerdict) -> &'static str {
    match v {
        CanaryVerdict::Pass => "pass",
        CanaryVerdict::Marginal => "marginal",
        CanaryVerdict::Fail => "fail",
        CanaryVerdict::Inconclusive => "inconclusive",
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v}"))
}

/// A metric's line: class, values and sample sizes, p-value, effect.
fn describe(m: &MetricResult) -> String {
    let effect = match (m.classification, m.effect) {
        (Classification::Nodata, _) => "-".to_owned(),
        (_, Some(e)) => format!("{e:+}"),
        (_, None) => "unbounded (from 0)".to_owned(),
    };
    format!(
        "{:?} (control {} with n={}, candidate {} with n={}, p {}, effect {effect}, allowed {} and {})",
        m.classification,
        m.control.value,
        m.control.n,
        m.candidate.value,
        m.candidate.n,
        opt(m.p_value),
        m.allowed_relative_change,
        m.allowed_absolute_change
    )
    .to_lowercase()
}

fn print_report(printer: &Printer, report: &CanaryReport, path: &Path) {
    for m in &report.metrics {
        printer.line(&format!(
            "{:<12}  {:<20} {:<20} {}",
            verdict_word(m.verdict),
            m.scenario,
            m.metric,
            describe(m)
        ));
    }
    for reason in &report.reasons {
        printer.line(&format!("  {reason}"));
    }
    printer.line(&format!(
        "canary: {} (score {} / pass {}, marginal {})",
        verdict_word(report.verdict).to_uppercase(),
        report.score,
        report.pass_score,
        report.marginal_score
    ));
    printer.line(&format!("control report: {}", report.control.drill_report));
    printer.line(&format!(
        "candidate report: {}",
        report.candidate.drill_report
    ));
    printer.line(&format!("report: {}", path.display()));
}

/// `--junit` (one case per metric; regressions fail, nodata is skipped)
/// and `--summary`.
fn write_outputs(
    report: &CanaryReport,
    path: &Path,
    junit: Option<&Path>,
    summary: Option<&Path>,
) -> Result<(), CliError> {
    let title = "relhost canary";
    if let Some(junit) = junit {
        let cases: Vec<JunitCase> = report
            .metrics
            .iter()
            .map(|m| JunitCase {
                classname: format!("canary.{}", m.scenario),
                name: m.metric.clone(),
                time_s: 0.0,
                failure: (m.verdict == CanaryVerdict::Fail).then(|| describe(m)),
                skipped: m.verdict == CanaryVerdict::Inconclusive,
            })
            .collect();
        write_junit(junit, title, &cases)?;
    }
    if let Some(summary) = summary {
        let mut md = MarkdownSummary::new(
            title,
            verdict_word(report.verdict),
            format!(
                "score {} (pass {}, marginal {}); report {}",
                report.score,
                report.pass_score,
                report.marginal_score,
                path.display()
            ),
        );
        for reason in &report.reasons {
            md.note(reason.clone());
        }
        for m in &report.metrics {
            md.row(SummaryRow {
                check: format!("{} {}", m.scenario, m.metric),
                owner: String::new(),
                observed: format!("{} (control {})", m.candidate.mean, m.control.mean),
                expected: describe(m),
                verdict: verdict_word(m.verdict).to_owned(),
            });
        }
        md.write(summary)?;
    }
    Ok(())
}
