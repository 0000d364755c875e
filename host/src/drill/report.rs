//! Turns a drill's results into its report.

use std::time::SystemTime;

use crate::engine::ScenarioResult;
use crate::plugin::{LoadedPlugin, RotationPlugin};
use crate::policy::SloBaseline;
pub use crate::report::CoverageGoals;
use crate::report::{
    Comparator, CredentialsReport, DataInfo, DrillReport, DrillStatus, PluginInfo, ReportHeader,
    ReportKind, RotationReport, RunRecord, ScenarioRecord, ScenarioReport, StageRecord, StageRun,
    TargetInfo, Unit,
};
use crate::slo::Evaluators;

/// What the report says about the run besides the record.
pub(crate) struct RunInfo {
    pub(crate) started: SystemTime,
    pub(crate) command_line: Vec<String>,
    pub(crate) config: serde_json::Value,
    pub(crate) target: TargetInfo,
    pub(crate) profile: String,
    /// What the operator should know from before the run.
    pub(crate) warnings: Vec<String>,
}

/// What the drill's results come to, losslessly: the record its report is
/// built from (and a segment's report carries).
pub(crate) fn run_record(
    results: &[ScenarioResult],
    interrupted: bool,
    (credential_source, rotation): (String, Option<&RotationPlugin>),
    coverage: CoverageGoals,
    slo_baseline: String,
) -> RunRecord {
    RunRecord {
        scenarios: results
            .iter()
            .map(|result| {
                let d = result.plugin.descriptor();
                ScenarioRecord {
                    name: d.name.clone(),
                    endpoint: d.endpoint.clone(),
                    event_stream: d.event_stream,
                    runs: result.runs.iter().map(StageRecord::of).collect(),
                    skipped: result.skipped.clone(),
                    plugin_errors: result.plugin_errors.clone(),
                    abandoned: result.abandoned,
                    credential_uses: result.credential_uses.clone(),
                    errors: result.errors.clone(),
                }
            })
            .collect(),
        slo_baseline,
        credential_source,
        rotation: rotation.map(rotation_report),
        coverage,
        interrupted,
    }
}

/// The plugins a drill's report lists: scenarios, payload builders, the
/// rotation strategy, the SLO evaluators.
pub(crate) fn plugin_infos(
    results: &[ScenarioResult],
    rotation: Option<&RotationPlugin>,
    evaluators: &Evaluators,
) -> Vec<PluginInfo> {
    let mut plugins: Vec<PluginInfo> = results.iter().map(|r| PluginInfo::of(&r.plugin)).collect();
    plugins.extend(results.iter().filter_map(|r| r.payload.as_ref()).map(|b| {
        PluginInfo {
            data: b
                .data()
                .iter()
                .map(|d| DataInfo {
                    name: d.name.clone(),
                    path: d.path.display().to_string(),
                    files: d.files,
                    bytes: d.bytes,
                })
                .collect(),
            ..PluginInfo::of(b)
        }
    }));
    plugins.extend(rotation.map(PluginInfo::of));
    plugins.extend(evaluators.plugins().map(PluginInfo::of));
    plugins
}

/// Builds the drill report: per scenario the stages, the totals and the
/// SLO gate from the evaluators.
pub(crate) async fn drill_report(
    info: RunInfo,
    record: &RunRecord,
    plugins: Vec<PluginInfo>,
    baseline: &SloBaseline,
    evaluators: &Evaluators,
) -> DrillReport {
    let mut warnings = info.warnings.clone();
    let mut scenarios = Vec::with_capacity(record.scenarios.len());
    for scenario in &record.scenarios {
        for message in &scenario.plugin_errors {
            warnings.push(format!("{}: {message}", scenario.name));
        }
        if scenario.abandoned > 0 {
            warnings.push(format!(
                "{}: {} requests were still in flight when the grace period ended and are not counted",
                scenario.name, scenario.abandoned
            ));
        }
        for error in &scenario.errors {
            warnings.push(format!("{}: {error}", scenario.name));
        }
        if let Some(reason) = &scenario.skipped {
            scenarios.push(ScenarioReport::skipped(
                &scenario.name,
                &scenario.endpoint,
                scenario.event_stream,
                reason,
            ));
            continue;
        }
        let runs: Vec<StageRun> = match scenario.runs.iter().map(StageRecord::run).collect() {
            Ok(runs) => runs,
            Err(message) => {
                warnings.push(format!("{}: {message}", scenario.name));
                Vec::new()
            }
        };
        let mut report = ScenarioReport::from_stages(
            &scenario.name,
            &scenario.endpoint,
            scenario.event_stream,
            &runs,
        );
        report.slo_gate = evaluators
            .gate(
                &scenario.name,
                &report.totals,
                &report.timeseries,
                baseline.thresholds_for(&scenario.name),
            )
            .await;
        if !scenario.errors.is_empty() {
            // Part of the run is lost, so nothing can pass.
            report.slo_gate.add_check(
                "run_errors",
                scenario.errors.len() as f64,
                0.0,
                Comparator::AtMost,
                Unit::Count,
            );
        }
        if report.totals.late_starts > 0 {
            warnings.push(format!(
                "{}: {} requests started more than {:?} after their intended time; \
                 latency_ms includes the delay (coordinated-omission corrected)",
                scenario.name,
                report.totals.late_starts,
                crate::engine::LATE_START
            ));
        }
        if let (Some(rotation), false) = (&record.rotation, scenario.credential_uses.is_empty()) {
            let credentials = CredentialsReport::from_uses(
                &record.credential_source,
                rotation.clone(),
                &scenario.credential_uses,
            );
            for warning in &credentials.rotation.warnings {
                warnings.push(format!(
                    "{}: rotation {}: {warning}",
                    scenario.name, credentials.rotation.name
                ));
            }
            add_coverage_checks(&mut report, &credentials, record.coverage);
            report.credentials = Some(credentials);
        }
        scenarios.push(report);
    }
    let status = if record.interrupted {
        DrillStatus::Interrupted
    } else {
        DrillReport::status_from_gates(&scenarios)
    };
    DrillReport {
        header: ReportHeader::new(ReportKind::LoadDrill, info.started, info.command_line),
        status,
        config: info.config,
        target: info.target,
        profile: info.profile,
        plugins,
        scenarios,
        warnings,
        error: None,
        segment: None,
        merged: None,
    }
}

fn rotation_report(rotation: &RotationPlugin) -> RotationReport {
    let info = rotation.info();
    RotationReport {
        name: info.name.clone(),
        version: info.version.clone(),
        source: rotation.source().to_string(),
        reachable: u64::from(info.reachable),
        warnings: info.warnings.clone(),
    }
}

/// Adds the coverage floors to the scenario's gate.
fn add_coverage_checks(
    report: &mut ScenarioReport,
    credentials: &CredentialsReport,
    goals: CoverageGoals,
) {
    if let Some(min) = goals.min_unique_users {
        report.slo_gate.add_check(
            "unique_users",
            credentials.unique_used as f64,
            min as f64,
            Comparator::AtLeast,
            Unit::Count,
        );
    }
    if let Some(min) = goals.min_unique_coverage {
        report.slo_gate.add_check(
            "unique_coverage",
            credentials.coverage,
            min,
            Comparator::AtLeast,
            Unit::Ratio,
        );
    }
}
