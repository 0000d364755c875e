//! Turns a drill's results into its report.

use std::time::SystemTime;

use crate::engine::ScenarioResult;
use crate::policy::SloBaseline;
use crate::report::{
    DrillReport, DrillStatus, PluginInfo, ReportKind, SCHEMA_VERSION, ScenarioReport, TargetInfo,
    rfc3339_millis,
};

/// What the report says about the run besides the results.
pub(crate) struct RunInfo {
    pub(crate) started: SystemTime,
    pub(crate) command_line: Vec<String>,
    pub(crate) config: serde_json::Value,
    pub(crate) target: TargetInfo,
    pub(crate) profile: String,
    pub(crate) interrupted: bool,
}

/// Builds the drill report: per scenario the stages, the totals and the SLO gate.
pub(crate) fn drill_report(
    info: RunInfo,
    results: &[ScenarioResult],
    baseline: &SloBaseline,
) -> DrillReport {
    let mut warnings = Vec::new();
    let scenarios: Vec<ScenarioReport> = results
        .iter()
        .map(|result| {
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
            match &result.skipped {
                Some(reason) => ScenarioReport::skipped(&d.name, &d.endpoint, d.event_stream, reason),
                None => {
                    let report = ScenarioReport::from_stages(
                        &d.name,
                        &d.endpoint,
                        d.event_stream,
                        &result.runs,
                        baseline.thresholds_for(&d.name),
                    );
                    if report.totals.late_starts > 0 {
                        warnings.push(format!(
                            "{}: {} requests started more than {:?} after their intended time; \
                             latency_ms includes the delay (coordinated-omission corrected)",
                            d.name,
                            report.totals.late_starts,
                            crate::engine::LATE_START
                        ));
                    }
                    report
                }
            }
        })
        .collect();
    let plugins = results
        .iter()
        .map(|r| PluginInfo {
            name: r.plugin.descriptor().name.clone(),
            version: r.plugin.descriptor().version.clone(),
            kind: "scenario".into(),
            source: r.plugin.source().to_string(),
            sha256: r.plugin.sha256().to_string(),
        })
        .collect();
    let status = if info.interrupted {
        DrillStatus::Interrupted
    } else {
        DrillReport::status_from_gates(&scenarios)
    };
    DrillReport {
        schema_version: SCHEMA_VERSION,
        kind: ReportKind::LoadDrill,
        status,
        started_at: rfc3339_millis(info.started),
        finished_at: rfc3339_millis(SystemTime::now()),
        command_line: info.command_line,
        config: info.config,
        target: info.target,
        profile: info.profile,
        plugins,
        scenarios,
        warnings,
        error: None,
    }
}
