//! Turns a drill's results into its report.

use std::time::SystemTime;

use crate::engine::ScenarioResult;
use crate::plugin::{LoadedPlugin, RotationPlugin};
use crate::policy::SloBaseline;
use crate::report::{
    Comparator, CredentialsReport, DataInfo, DrillReport, DrillStatus, PluginInfo, ReportHeader,
    ReportKind, RotationReport, ScenarioReport, TargetInfo, Unit,
};
use crate::slo::Evaluators;

/// Coverage floors for scenarios that use the credential pool.
#[derive(Debug, Clone, Copy, Default)]
pub struct CoverageGoals {
    /// The share of the pool that must carry a request.
    pub min_unique_coverage: Option<f64>,
    /// The number of distinct entries that must carry a request.
    pub min_unique_users: Option<u64>,
}

/// What the report says about the run besides the results.
pub(crate) struct RunInfo {
    pub(crate) started: SystemTime,
    pub(crate) command_line: Vec<String>,
    pub(crate) config: serde_json::Value,
    pub(crate) target: TargetInfo,
    pub(crate) profile: String,
    pub(crate) interrupted: bool,
    /// Where the credentials came from.
    pub(crate) credential_source: String,
    /// The rotation strategy, when there were credentials.
    pub(crate) rotation: Option<RotationPlugin>,
    pub(crate) coverage: CoverageGoals,
    /// What the operator should know from before the run.
    pub(crate) warnings: Vec<String>,
}

/// Builds the drill report: per scenario the stages, the totals and the
/// SLO gate from the evaluators.
pub(crate) async fn drill_report(
    info: RunInfo,
    results: &[ScenarioResult],
    baseline: &SloBaseline,
    evaluators: &Evaluators,
) -> DrillReport {
    let mut warnings = info.warnings.clone();
    let mut scenarios = Vec::with_capacity(results.len());
    for result in results {
        let d = result.plugin.descriptor();
        for message in &result.plugin_errors {
            warnings.push(format!("{}: {message}", d.name));
        }
        if result.abandoned > 0 {
            warnings.push(format!(
                "{}: {} requests were still in flight when the grace period ended and are not counted",
                d.name, result.abandoned
            ));
        }
        for error in &result.errors {
            warnings.push(format!("{}: {error}", d.name));
        }
        if let Some(reason) = &result.skipped {
            scenarios.push(ScenarioReport::skipped(
                &d.name,
                &d.endpoint,
                d.event_stream,
                reason,
            ));
            continue;
        }
        let mut report =
            ScenarioReport::from_stages(&d.name, &d.endpoint, d.event_stream, &result.runs);
        report.slo_gate = evaluators
            .gate(
                &d.name,
                &report.totals,
                &report.timeseries,
                baseline.thresholds_for(&d.name),
            )
            .await;
        if !result.errors.is_empty() {
            // Part of the run is lost, so nothing can pass.
            report.slo_gate.add_check(
                "run_errors",
                result.errors.len() as f64,
                0.0,
                Comparator::AtMost,
                Unit::Count,
            );
        }
        if report.totals.late_starts > 0 {
            warnings.push(format!(
                "{}: {} requests started more than {:?} after their intended time; \
                 latency_ms includes the delay (coordinated-omission corrected)",
                d.name,
                report.totals.late_starts,
                crate::engine::LATE_START
            ));
        }
        if let (Some(rotation), false) = (&info.rotation, result.credential_uses.is_empty()) {
            let credentials =
                credentials_report(&info.credential_source, rotation, &result.credential_uses);
            for warning in &credentials.rotation.warnings {
                warnings.push(format!(
                    "{}: rotation {}: {warning}",
                    d.name, credentials.rotation.name
                ));
            }
            add_coverage_checks(&mut report, &credentials, info.coverage);
            report.credentials = Some(credentials);
        }
        scenarios.push(report);
    }
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
    plugins.extend(info.rotation.iter().map(PluginInfo::of));
    plugins.extend(evaluators.plugins().map(PluginInfo::of));
    let status = if info.interrupted {
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
    }
}

fn credentials_report(source: &str, rotation: &RotationPlugin, uses: &[u64]) -> CredentialsReport {
    let info = rotation.info();
    let rotation = RotationReport {
        name: info.name.clone(),
        version: info.version.clone(),
        source: rotation.source().to_string(),
        reachable: u64::from(info.reachable),
        warnings: info.warnings.clone(),
    };
    CredentialsReport::from_uses(source, rotation, uses)
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
