//! `relhost canary`: drills a control and a candidate with the same arrival
//! schedule and judges the candidate against the control from the canary
//! policy (Mann–Whitney U per metric, a weighted score, critical metrics).
//!
//! Both sides are prepared from the same drill flags (profile, scenarios,
//! seed, credentials, plugins), each with its own plugin instances and
//! connections; their plans differ only in the base URL. The two engines
//! run concurrently in one process (`tokio::join!`), each scheduling its
//! arrivals from its own start, so their intended send times coincide
//! (within the scheduler's jitter, and within a stage's drain time when one
//! side is slower) and neither target gets a quieter moment.
//!
//! Writes `canary-check-<timestamp>.json` and each side's drill report
//! (`load-drill-<profile>-control-...`, `...-candidate-...`), optionally
//! JUnit XML and a Markdown summary. Exit codes: 0 pass; 1 fail; 2 bad
//! input (the same URL twice); 3 the run could not be carried out; 4
//! marginal; 5 inconclusive; 130 interrupted.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clap::Args;

use super::args::CiOutputArgs;
use super::deployment::parse_base_url;
use super::drill::DrillArgs;
use super::error::CliError;
use super::printer::Printer;
use super::progress::ConsoleProgress;
use super::signals::stop_on_signal;
use crate::canary::{
    CanaryReport, CanaryVerdict, Classification, JudgeSettings, MetricResult, SAMPLES,
    ScenarioFigures, ScenarioSamples, SideSummary, judge,
};
use crate::drill::{self, CoverageGoals, PreparedDrill};
use crate::engine::ScenarioResult;
use crate::engine::{NoProgress, Progress};
use crate::exit::Exit;
use crate::metrics::StageMetrics;
use crate::policy::{CanaryPolicy, PolicyDocument};
use crate::redact;
use crate::report::{
    DrillReport, JunitCase, MarkdownSummary, ReportKind, SCHEMA_VERSION, SummaryRow,
    compact_timestamp, report_file_name, rfc3339_millis, write_json_atomic, write_junit,
};

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
    /// `--junit` and `--summary` outputs for CI.
    #[command(flatten)]
    ci: CiOutputArgs,
}

/// One side's finished run.
struct Side {
    report: DrillReport,
    path: PathBuf,
    /// Per scenario (report order), its measurements over all stages.
    measured: Vec<StageMetrics>,
}

/// A URL as compared for sameness: scheme and host lower-cased, no trailing slash.
fn same_target(a: &http::Uri, b: &http::Uri) -> bool {
    let key = |u: &http::Uri| u.to_string().trim_end_matches('/').to_ascii_lowercase();
    key(a) == key(b)
}

impl CanaryCommand {
    /// Runs both drills, judges the candidate and writes the reports.
    pub async fn run(self) -> Result<Exit, CliError> {
        let started = SystemTime::now();
        let stop = stop_on_signal();
        let printer = Printer::stdout(self.drill.quiet());
        let progress = ConsoleProgress::new(self.drill.quiet());
        let policy = CanaryPolicy::file_or_builtin(self.policy.as_deref(), &())?;
        match (self.drill.deployment().base_url(), &self.candidate_url) {
            (Some(control), Some(candidate)) if same_target(&control, candidate) => {
                return Err(CliError::BadInput(format!(
                    "--control-url and --candidate-url are the same ({candidate}): a canary compares two deployments"
                )));
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(CliError::BadInput(
                    "give both --control-url and --candidate-url (or RELIABILITY_CONTROL_URL and \
                     RELIABILITY_CANDIDATE_URL), or neither to compare two built-in relhost-sims"
                        .into(),
                ));
            }
            _ => {}
        }
        // Without URLs, each side starts its own built-in sim.
        let options = self.drill.options()?;
        let control = drill::prepare(&options, &progress, &stop).await?;
        let mut candidate = match drill::prepare(&options, &NoProgress, &stop).await {
            Ok(candidate) => candidate,
            Err(e) => {
                control.shutdown().await;
                return Err(e.into());
            }
        };
        if let Some(url) = &self.candidate_url {
            candidate.plan.base_url = url.clone();
            candidate.target.base_url = url.clone();
            candidate
                .target
                .check_reachable(options.client.connect_timeout)
                .await?;
        }

        progress.note("canary: drilling control and candidate with the same schedule");
        let control_out = control.start_outputs(Some("control"))?;
        let candidate_out = candidate.start_outputs(Some("candidate"))?;
        let (control_results, candidate_results) = tokio::join!(
            control.run_load(stop.clone(), &progress, control_out.as_ref()),
            candidate.run_load(stop.clone(), &NoProgress, candidate_out.as_ref()),
        );
        let interrupted = *stop.borrow();
        let control_side = self
            .side(&control, &control_results?, "control", interrupted)
            .await?;
        let candidate_side = self
            .side(&candidate, &candidate_results?, "candidate", interrupted)
            .await?;

        let mut warnings = Vec::new();
        for (exporter, side) in [
            (control_out, &control_side),
            (candidate_out, &candidate_side),
        ] {
            if let Some(exporter) = exporter {
                warnings.extend(exporter.finish(&side.report).await);
            }
        }
        let mut compared = Vec::new();
        for (i, (c, k)) in control_side
            .report
            .scenarios
            .iter()
            .zip(&candidate_side.report.scenarios)
            .enumerate()
        {
            match (&c.skipped, &k.skipped) {
                (None, None) => compared.push(ScenarioSamples {
                    name: &c.name,
                    event_stream: c.event_stream,
                    control: &control_side.measured[i],
                    candidate: &candidate_side.measured[i],
                }),
                (reason, other) => warnings.push(format!(
                    "{}: not compared: {}",
                    c.name,
                    reason
                        .as_ref()
                        .or(other.as_ref())
                        .map_or("", String::as_str)
                )),
            }
        }
        let settings = JudgeSettings {
            min_samples: self.min_samples as usize,
        };
        let judgement = judge(&policy, &compared, settings);
        let report = CanaryReport {
            schema_version: SCHEMA_VERSION,
            kind: ReportKind::CanaryCheck,
            verdict: judgement.verdict,
            interrupted,
            started_at: rfc3339_millis(started),
            finished_at: rfc3339_millis(SystemTime::now()),
            command_line: redact::command_line(),
            config: serde_json::json!({
                "policy": self.policy.as_ref().map_or_else(
                    || "builtin:canary-policy".to_owned(),
                    |p| p.display().to_string(),
                ),
                "profile": control.profile.name,
                "confidence_level": policy.confidence_level,
                "min_samples": self.min_samples,
                "critical_metrics": policy.critical_metrics,
                "seed": control.plan.seed,
                "workers": control.plan.workers,
            }),
            samples: SAMPLES.into(),
            control: summary(&control_side),
            candidate: summary(&candidate_side),
            metrics: judgement.metrics,
            score: judgement.score,
            pass_score: policy.pass_score * 100.0,
            marginal_score: policy.marginal_score * 100.0,
            reasons: judgement.reasons,
            warnings,
        };
        let name = format!("canary-check-{}.json", compact_timestamp(started));
        let path = write_json_atomic(self.drill.output_dir(), &name, &report)?;
        print_report(&printer, &report, &path);
        write_outputs(
            &report,
            &path,
            self.ci.junit.as_deref(),
            self.ci.summary.as_deref(),
        )?;
        control.shutdown().await;
        candidate.shutdown().await;
        Ok(if interrupted {
            Exit::Interrupted
        } else {
            exit_of(report.verdict)
        })
    }

    /// Builds and writes one side's drill report.
    async fn side(
        &self,
        prepared: &PreparedDrill,
        results: &[ScenarioResult],
        label: &str,
        interrupted: bool,
    ) -> Result<Side, CliError> {
        let config = serde_json::json!({
            "canary_side": label,
            "profile": prepared.profile.name,
            "workers": prepared.plan.workers,
            "seed": prepared.plan.seed,
            "credentials": prepared.plan.credentials.len(),
            "secrets_set": format!("{:?}", prepared.secrets),
        });
        let report = prepared
            .report(results, interrupted, config, CoverageGoals::default())
            .await;
        let measured = results
            .iter()
            .map(|result| {
                let mut all = StageMetrics::new();
                for run in &result.runs {
                    all.merge(&run.metrics);
                }
                all
            })
            .collect();
        let name = report_file_name(
            "load-drill",
            &format!("{}-{label}", prepared.profile.name),
            prepared.started,
        );
        let path = write_json_atomic(self.drill.output_dir(), &name, &report)?;
        Ok(Side {
            report,
            path,
            measured,
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

fn summary(side: &Side) -> SideSummary {
    SideSummary {
        base_url: side.report.target.base_url.clone(),
        drill_report: side.path.display().to_string(),
        drill_status: side.report.status,
        scenarios: side
            .report
            .scenarios
            .iter()
            .zip(&side.measured)
            .map(|(s, measured)| ScenarioFigures::of(s, measured.seconds().len()))
            .collect(),
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
