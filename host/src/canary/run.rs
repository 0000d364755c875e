//! A canary run: a control and a candidate drilled with the same arrival
//! schedule, judged against each other (see [`judge`](super::judge)).
//!
//! Both sides are prepared from the same drill options (profile,
//! scenarios, seed, credentials, plugins), each with its own plugin
//! instances and connections; their plans differ only in the base URL. The
//! two engines run concurrently (`tokio::join!`), each scheduling its
//! arrivals from its own start, so their intended send times coincide
//! (within the scheduler's jitter, and within a stage's drain time when
//! one side is slower) and neither target gets a quieter moment.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tokio::sync::watch;

use super::judge::{JudgeSettings, ScenarioSamples, judge};
use super::report::{CanaryReport, SAMPLES, ScenarioFigures, SideSummary};
use crate::drill::{self, CoverageGoals, DrillError, DrillOptions, PreparedDrill, TargetChoice};
use crate::engine::{NoProgress, Progress, ScenarioResult};
use crate::metrics::StageMetrics;
use crate::policy::CanaryPolicy;
use crate::report::{
    DrillReport, DrillStatus, ReportHeader, ReportKind, compact_timestamp, read_merged_drill,
    report_file_name, write_json_atomic,
};

/// A canary: the policy, the candidate's URL (none: a second built-in sim)
/// and the fewest samples a metric needs.
#[derive(Debug, Clone)]
pub struct Canary {
    /// The policy.
    pub policy: CanaryPolicy,
    /// How the report names the policy.
    pub policy_label: String,
    /// The candidate's base URL; the control's is the drill options' target.
    pub candidate_url: Option<http::Uri>,
    /// Fewest samples each side needs for a metric to be judged.
    pub min_samples: u32,
}

/// A finished canary: its report and where it was written.
#[derive(Debug)]
pub struct CanaryOutcome {
    /// The report.
    pub report: CanaryReport,
    /// Its file.
    pub path: PathBuf,
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

impl Canary {
    /// Drills both sides from `options`, judges the candidate and writes
    /// `canary-check-<timestamp>.json` beside each side's drill report.
    pub async fn run(
        &self,
        options: &DrillOptions,
        stop: watch::Receiver<bool>,
        progress: &dyn Progress,
    ) -> Result<CanaryOutcome, DrillError> {
        let started = SystemTime::now();
        let control_url = match &options.target {
            TargetChoice::Url(url) => Some(url.clone()),
            TargetChoice::BuiltinSim(_) => None,
        };
        match (&control_url, &self.candidate_url) {
            (Some(control), Some(candidate)) if same_target(control, candidate) => {
                return Err(DrillError::Invalid(format!(
                    "--control-url and --candidate-url are the same ({candidate}): a canary compares two deployments"
                )));
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(DrillError::Invalid(
                    "give both --control-url and --candidate-url (or RELIABILITY_CONTROL_URL and \
                     RELIABILITY_CANDIDATE_URL), or neither to compare two built-in relhost-sims"
                        .into(),
                ));
            }
            _ => {}
        }
        // Without URLs, each side starts its own built-in sim.
        let control = drill::prepare(options, progress, &stop).await?;
        let mut candidate = match drill::prepare(options, &NoProgress, &stop).await {
            Ok(candidate) => candidate,
            Err(e) => {
                control.shutdown().await;
                return Err(e);
            }
        };
        let outcome = self
            .compare(options, &control, &mut candidate, stop, progress, started)
            .await;
        control.shutdown().await;
        candidate.shutdown().await;
        outcome
    }

    /// Points the candidate at its URL, drills both sides at once, judges
    /// and writes the reports.
    async fn compare(
        &self,
        options: &DrillOptions,
        control: &PreparedDrill,
        candidate: &mut PreparedDrill,
        stop: watch::Receiver<bool>,
        progress: &dyn Progress,
        started: SystemTime,
    ) -> Result<CanaryOutcome, DrillError> {
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
            control.run_load(stop.clone(), progress, control_out.as_ref()),
            candidate.run_load(stop.clone(), &NoProgress, candidate_out.as_ref()),
        );
        let interrupted = *stop.borrow();
        let control_side = side(control, &control_results?, "control", interrupted).await?;
        let candidate_side = side(candidate, &candidate_results?, "candidate", interrupted).await?;

        let mut warnings = Vec::new();
        for (exporter, side) in [
            (control_out, &control_side),
            (candidate_out, &candidate_side),
        ] {
            if let Some(exporter) = exporter {
                warnings.extend(exporter.finish(&side.report).await);
            }
        }
        let context = Context {
            started,
            interrupted,
            command_line: options.command_line.clone(),
            output_dir: options.output_dir.clone(),
            profile: control.profile.name.clone(),
            seed: control.plan.seed.into(),
            workers: control.plan.workers.into(),
        };
        self.judge_sides(&control_side, &candidate_side, context, warnings)
    }

    /// Judges two finished drills, each a `relhost merge`d report (its
    /// record holds every measurement), and writes `canary-check-*.json`
    /// into `output_dir`.
    pub fn judge_reports(
        &self,
        (control, candidate): (&Path, &Path),
        command_line: Vec<String>,
        output_dir: &Path,
    ) -> Result<CanaryOutcome, DrillError> {
        let control = merged_side(control)?;
        let candidate = merged_side(candidate)?;
        if control.report.profile != candidate.report.profile {
            return Err(DrillError::Invalid(format!(
                "--control-report drilled profile {:?}, --candidate-report {:?}: a canary compares one load",
                control.report.profile, candidate.report.profile
            )));
        }
        let config = &control.report.config;
        let context = Context {
            started: SystemTime::now(),
            interrupted: [&control, &candidate]
                .iter()
                .any(|side| side.report.status == DrillStatus::Interrupted),
            command_line,
            output_dir: output_dir.to_owned(),
            profile: control.report.profile.clone(),
            seed: config["seed"].clone(),
            workers: config["workers"].clone(),
        };
        self.judge_sides(&control, &candidate, context, Vec::new())
    }

    /// Compares the sides' scenarios, judges and writes the canary report.
    fn judge_sides(
        &self,
        control_side: &Side,
        candidate_side: &Side,
        context: Context,
        mut warnings: Vec<String>,
    ) -> Result<CanaryOutcome, DrillError> {
        let policy = &self.policy;
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
        let judgement = judge(policy, &compared, settings);
        let report = CanaryReport {
            header: ReportHeader::new(
                ReportKind::CanaryCheck,
                context.started,
                context.command_line,
            ),
            verdict: judgement.verdict,
            interrupted: context.interrupted,
            config: serde_json::json!({
                "policy": self.policy_label,
                "profile": context.profile,
                "confidence_level": policy.confidence_level,
                "min_samples": self.min_samples,
                "critical_metrics": policy.critical_metrics,
                "seed": context.seed,
                "workers": context.workers,
            }),
            samples: SAMPLES.into(),
            control: summary(control_side),
            candidate: summary(candidate_side),
            metrics: judgement.metrics,
            score: judgement.score,
            pass_score: policy.pass_score * 100.0,
            marginal_score: policy.marginal_score * 100.0,
            reasons: judgement.reasons,
            warnings,
        };
        let name = format!("canary-check-{}.json", compact_timestamp(context.started));
        let path = write_json_atomic(&context.output_dir, &name, &report)?;
        Ok(CanaryOutcome { report, path })
    }
}

/// What a canary report says besides the judgement.
struct Context {
    started: SystemTime,
    interrupted: bool,
    command_line: Vec<String>,
    output_dir: PathBuf,
    profile: String,
    seed: serde_json::Value,
    workers: serde_json::Value,
}

/// A side from a merged drill's report: its record's measurements.
fn merged_side(path: &Path) -> Result<Side, DrillError> {
    let (report, merged) = read_merged_drill(path)?;
    let measured = merged
        .record
        .scenarios
        .iter()
        .map(|scenario| StageMetrics::merged(scenario.runs.iter().map(|run| &run.metrics)))
        .collect();
    Ok(Side {
        report,
        path: path.to_owned(),
        measured,
    })
}

/// Builds and writes one side's drill report.
async fn side(
    prepared: &PreparedDrill,
    results: &[ScenarioResult],
    label: &str,
    interrupted: bool,
) -> Result<Side, DrillError> {
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
        .map(|result| StageMetrics::merged(result.runs.iter().map(|run| &run.metrics)))
        .collect();
    let name = report_file_name(
        "load-drill",
        &format!("{}-{label}", prepared.profile.name),
        prepared.started,
    );
    let path = write_json_atomic(&prepared.options().output_dir, &name, &report)?;
    Ok(Side {
        report,
        path,
        measured,
    })
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
