//! The dashboard's data, as written to `slo-dashboard.json`
//! (`schemas/slo-dashboard.schema.json`), built from the collected reports.
//!
//! Error-budget burn per scenario: errors are 5xx responses plus network
//! errors, the error ratio is errors over requests sent, and the burn rate
//! is `error ratio / (1 − objective)` with the objective from the SLO
//! baseline ([`DEFAULT_OBJECTIVE`] when the baseline sets none). A burn
//! rate of 1 spends the budget exactly; the budget remaining is
//! `1 − burn rate` (negative: overspent). Each run has its own burn rate;
//! the scenario's budget is computed over every drill's totals together.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use super::collect::{Collected, ReportFile, SkippedFile};
use crate::metrics::StageSummary;
use crate::policy::SloBaseline;
use crate::report::{
    DrillReport, DrillStatus, LoadReport, OwnedCheck, ReportKind, SCHEMA_VERSION, Verdict,
    rfc3339_millis,
};

/// The objective used when the SLO baseline sets none (the release gate
/// policy's `default_objective`).
pub const DEFAULT_OBJECTIVE: f64 = 0.99;

/// Everything the dashboard shows.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    /// The report format version.
    pub schema_version: u32,
    /// Always `slo_dashboard`.
    pub kind: ReportKind,
    /// When the dashboard was built (RFC 3339 UTC, milliseconds).
    pub generated_at: String,
    /// The directory the reports were read from.
    pub output_dir: String,
    /// Where the objectives come from (`builtin` or a file).
    pub slo_baseline: String,
    /// Reports read, per kind.
    pub reports: ReportCounts,
    /// A one-line summary (says so when there are no reports).
    pub summary: String,
    /// The latest verdict of each gate (release, milestone, probes, ...).
    pub gates: Vec<GateVerdict>,
    /// Per scenario: latest verdict, trend across runs, error budget.
    pub scenarios: Vec<ScenarioView>,
    /// The newest drill in detail, when there is one.
    pub latest_drill: Option<LatestDrill>,
    /// The newest canary comparison, when there is one.
    pub canary: Option<CanaryView>,
    /// Every game day, in time order.
    pub game_days: Vec<RunVerdict>,
    /// Files skipped, with the reason.
    pub skipped: Vec<SkippedFile>,
}

/// How many reports of each kind were read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReportCounts {
    /// `load_drill`.
    pub load_drill: usize,
    /// `release_gate`.
    pub release_gate: usize,
    /// `milestone_gate`.
    pub milestone_gate: usize,
    /// `synthetic_probes`.
    pub synthetic_probes: usize,
    /// `region_readiness`.
    pub region_readiness: usize,
    /// `canary_check`.
    pub canary_check: usize,
    /// `game_day`.
    pub game_day: usize,
    /// Files of kinds left out on purpose (snapshots, the dashboard itself).
    pub ignored: usize,
    /// Files skipped (see `skipped`).
    pub skipped: usize,
}

/// The latest verdict of one gate.
#[derive(Debug, Clone, Serialize)]
pub struct GateVerdict {
    /// `release_gate`, `milestone_gate:m1_1k`, `synthetic_probes`, ...
    pub gate: String,
    /// The newest report of this gate.
    pub report: String,
    /// When its run started.
    pub started_at: String,
    /// Its status or verdict as written (`pass`, `fail`, ...), or `unknown`.
    pub verdict: String,
    /// How many runs of this gate were read.
    pub runs: usize,
    /// Names of the failed checks of the newest run, as `source.scenario name`.
    pub failed_checks: Vec<String>,
}

/// A run and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct RunVerdict {
    /// The report file.
    pub report: String,
    /// When the run started.
    pub started_at: String,
    /// Its status or verdict as written, or `unknown`.
    pub verdict: String,
}

/// One scenario over every drill.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioView {
    /// The scenario.
    pub name: String,
    /// Its latest SLO-gate verdict (`pass`, `fail`, `skipped`).
    pub latest_verdict: String,
    /// The drill report that verdict comes from.
    pub latest_report: String,
    /// The availability objective of its error budget.
    pub objective: f64,
    /// The error budget over every drill's totals.
    pub budget: Budget,
    /// One point per drill that ran it, oldest first.
    pub trend: Vec<TrendPoint>,
}

/// An error budget.
#[derive(Debug, Clone, Serialize)]
pub struct Budget {
    /// Requests sent.
    pub requests: u64,
    /// 5xx responses plus network errors.
    pub errors: u64,
    /// `errors / requests` (0 when nothing was sent).
    pub error_ratio: f64,
    /// `error_ratio / (1 − objective)`.
    pub burn_rate: f64,
    /// `1 − burn_rate`: the share of the budget left (negative: overspent).
    pub remaining: f64,
}

/// One scenario in one drill.
#[derive(Debug, Clone, Serialize)]
pub struct TrendPoint {
    /// The drill report.
    pub report: String,
    /// When the drill started.
    pub started_at: String,
    /// The drill's profile.
    pub profile: String,
    /// The scenario's SLO-gate verdict.
    pub verdict: String,
    /// Requests sent.
    pub requests: u64,
    /// 95th percentile latency, ms (coordinated-omission corrected).
    pub p95_ms: f64,
    /// Share of 5xx responses.
    pub rate_5xx: f64,
    /// Share of network errors.
    pub network_error_rate: f64,
    /// Requests per second over the scenario.
    pub throughput_rps: f64,
    /// This run's burn rate.
    pub burn_rate: f64,
}

/// The newest drill.
#[derive(Debug, Clone, Serialize)]
pub struct LatestDrill {
    /// Its report.
    pub report: String,
    /// When it started.
    pub started_at: String,
    /// Its profile.
    pub profile: String,
    /// Its status.
    pub status: String,
    /// The scenarios that ran.
    pub scenarios: Vec<LatestScenario>,
}

/// One scenario of the newest drill.
#[derive(Debug, Clone, Serialize)]
pub struct LatestScenario {
    /// The scenario.
    pub name: String,
    /// Latency percentiles over the scenario, ms.
    pub latency_ms: LatencyFigures,
    /// Per second: `[second, p95_ms, requests, errors]`.
    pub series: Vec<SeriesPoint>,
    /// Per stage: its name, level and throughput.
    pub stages: Vec<StageFigures>,
    /// Responses per status code, and network errors per class (`net:reset`).
    pub status_mix: BTreeMap<String, u64>,
}

/// Latency percentiles, ms.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LatencyFigures {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// One second of a drill.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SeriesPoint {
    /// Seconds since the drill start.
    pub second: u32,
    /// 95th percentile latency in this second, ms.
    pub p95_ms: f64,
    /// Requests finished in this second.
    pub requests: u64,
    /// Of those, 5xx and network errors.
    pub errors: u64,
}

/// One stage of a drill.
#[derive(Debug, Clone, Serialize)]
pub struct StageFigures {
    /// The stage.
    pub name: String,
    /// `rate N/s` or `N users`.
    pub load: String,
    /// Requests sent.
    pub requests: u64,
    /// Requests per second achieved.
    pub throughput_rps: f64,
}

/// The newest canary comparison, read defensively.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryView {
    /// Its report.
    pub report: String,
    /// When it started.
    pub started_at: String,
    /// Its verdict or status as written, or `unknown`.
    pub verdict: String,
    /// Control versus candidate per metric found in the report.
    pub metrics: Vec<CanaryMetricView>,
}

/// One metric of a canary comparison.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryMetricView {
    /// The metric (prefixed with its scenario when the report has one).
    pub name: String,
    /// The control's figure, when the report has a number for it.
    pub control: Option<f64>,
    /// The candidate's figure.
    pub candidate: Option<f64>,
    /// The judge's classification (`pass`, `high`, `low`, ...), when given.
    pub classification: Option<String>,
}

impl Dashboard {
    /// Builds the dashboard from the collected reports.
    pub fn build(
        collected: &Collected,
        baseline: &SloBaseline,
        baseline_source: &str,
        dir: &Path,
    ) -> Dashboard {
        let reports = ReportCounts {
            load_drill: collected.drills.len(),
            release_gate: collected.release_gates.len(),
            milestone_gate: collected.milestone_gates.len(),
            synthetic_probes: collected.probes.len(),
            region_readiness: collected.region_readiness.len(),
            canary_check: collected.canaries.len(),
            game_day: collected.game_days.len(),
            ignored: collected.ignored.len(),
            skipped: collected.skipped.len(),
        };
        let count = collected.report_count();
        let summary = if count == 0 {
            format!(
                "no reports found in {}: run `relhost drill` or a gate first",
                dir.display()
            )
        } else {
            format!(
                "{count} reports: {} drills, {} gate runs, {} canary checks, {} game days; {} files skipped",
                reports.load_drill,
                reports.release_gate
                    + reports.milestone_gate
                    + reports.synthetic_probes
                    + reports.region_readiness,
                reports.canary_check,
                reports.game_day,
                reports.skipped
            )
        };
        Dashboard {
            schema_version: SCHEMA_VERSION,
            kind: ReportKind::SloDashboard,
            generated_at: rfc3339_millis(SystemTime::now()),
            output_dir: dir.display().to_string(),
            slo_baseline: baseline_source.to_owned(),
            reports,
            summary,
            gates: gates(collected),
            scenarios: scenarios(&collected.drills, baseline),
            latest_drill: collected.drills.last().map(latest_drill),
            canary: collected.canaries.last().map(canary),
            game_days: collected
                .game_days
                .iter()
                .map(|r| RunVerdict {
                    report: r.file.clone(),
                    started_at: r.started_at.clone(),
                    verdict: value_verdict(&r.report),
                })
                .collect(),
            skipped: collected.skipped.clone(),
        }
    }

    /// Whether no report at all was read.
    pub fn is_empty(&self) -> bool {
        self.gates.is_empty() && self.scenarios.is_empty() && self.game_days.is_empty()
    }
}

fn status_str(status: DrillStatus) -> &'static str {
    match status {
        DrillStatus::Pass => "pass",
        DrillStatus::Fail => "fail",
        DrillStatus::Error => "error",
        DrillStatus::Interrupted => "interrupted",
    }
}

fn verdict_str(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Skipped => "skipped",
    }
}

/// `verdict`, `status` or `decision.status` of a report read as JSON.
fn value_verdict(report: &Value) -> String {
    [
        "/verdict",
        "/status",
        "/decision/verdict",
        "/decision/status",
    ]
    .iter()
    .find_map(|p| report.pointer(p).and_then(Value::as_str))
    .unwrap_or("unknown")
    .to_owned()
}

fn failed_owned(checks: &[OwnedCheck]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| match &c.scenario {
            Some(s) => format!("{}.{s} {}", c.source, c.name),
            None => format!("{} {}", c.source, c.name),
        })
        .collect()
}

/// Names of failed entries of `report[field]` (objects with a `verdict` or
/// `status` of `fail`), named by `scenario`/`name`/`check`.
fn failed_entries(report: &Value, field: &str) -> Vec<String> {
    report
        .get(field)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|i| value_verdict(i) == "fail")
                .map(|i| {
                    ["scenario", "name", "check", "id"]
                        .iter()
                        .find_map(|k| i.get(*k).and_then(Value::as_str))
                        .unwrap_or("?")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn gates(c: &Collected) -> Vec<GateVerdict> {
    let mut gates = Vec::new();
    if let Some(last) = c.release_gates.last() {
        gates.push(GateVerdict {
            gate: "release_gate".into(),
            report: last.file.clone(),
            started_at: last.started_at.clone(),
            verdict: status_str(last.report.status).into(),
            runs: c.release_gates.len(),
            failed_checks: failed_owned(&last.report.checks),
        });
    }
    let mut milestones: BTreeMap<&str, Vec<&ReportFile<_>>> = BTreeMap::new();
    for m in &c.milestone_gates {
        milestones.entry(&m.report.milestone).or_default().push(m);
    }
    for (milestone, runs) in milestones {
        if let Some(last) = runs.last() {
            gates.push(GateVerdict {
                gate: format!("milestone_gate:{milestone}"),
                report: last.file.clone(),
                started_at: last.started_at.clone(),
                verdict: status_str(last.report.status).into(),
                runs: runs.len(),
                failed_checks: failed_owned(&last.report.checks),
            });
        }
    }
    for (gate, list, field) in [
        ("synthetic_probes", &c.probes, "probes"),
        ("region_readiness", &c.region_readiness, "evidence"),
        ("canary_check", &c.canaries, "metrics"),
        ("game_day", &c.game_days, "phases"),
    ] {
        if let Some(last) = list.last() {
            gates.push(GateVerdict {
                gate: gate.into(),
                report: last.file.clone(),
                started_at: last.started_at.clone(),
                verdict: value_verdict(&last.report),
                runs: list.len(),
                failed_checks: failed_entries(&last.report, field),
            });
        }
    }
    gates
}

/// 5xx responses plus network errors.
fn errors_of(totals: &StageSummary) -> u64 {
    let five_xx: u64 = totals
        .status_counts
        .iter()
        .filter(|(code, _)| code.starts_with('5'))
        .map(|(_, n)| n)
        .sum();
    five_xx + totals.network_error_total()
}

/// `ratio / (1 − objective)`, rounded to 6 decimals.
fn burn(errors: u64, requests: u64, objective: f64) -> (f64, f64) {
    let ratio = if requests == 0 {
        0.0
    } else {
        errors as f64 / requests as f64
    };
    (round6(ratio), round6(ratio / (1.0 - objective)))
}

fn round6(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1e6).round() / 1e6
    } else {
        0.0
    }
}

fn scenarios(drills: &[ReportFile<DrillReport>], baseline: &SloBaseline) -> Vec<ScenarioView> {
    let mut views: Vec<ScenarioView> = Vec::new();
    for drill in drills {
        for s in &drill.report.scenarios {
            let objective = baseline
                .thresholds_for(&s.name)
                .objective
                .unwrap_or(DEFAULT_OBJECTIVE);
            let index = match views.iter().position(|v| v.name == s.name) {
                Some(i) => i,
                None => {
                    views.push(ScenarioView {
                        name: s.name.clone(),
                        latest_verdict: String::new(),
                        latest_report: String::new(),
                        objective,
                        budget: Budget {
                            requests: 0,
                            errors: 0,
                            error_ratio: 0.0,
                            burn_rate: 0.0,
                            remaining: 1.0,
                        },
                        trend: Vec::new(),
                    });
                    views.len() - 1
                }
            };
            let view = &mut views[index];
            view.latest_verdict = verdict_str(s.slo_gate.verdict).into();
            view.latest_report = drill.file.clone();
            if s.skipped.is_some() {
                continue;
            }
            let errors = errors_of(&s.totals);
            view.budget.requests += s.totals.requests;
            view.budget.errors += errors;
            let (_, burn_rate) = burn(errors, s.totals.requests, objective);
            view.trend.push(TrendPoint {
                report: drill.file.clone(),
                started_at: drill.started_at.clone(),
                profile: drill.report.profile.clone(),
                verdict: verdict_str(s.slo_gate.verdict).into(),
                requests: s.totals.requests,
                p95_ms: s.totals.latency_ms.p95,
                rate_5xx: s.totals.rate_5xx,
                network_error_rate: s.totals.network_error_rate,
                throughput_rps: s.totals.throughput_rps,
                burn_rate,
            });
        }
    }
    for view in &mut views {
        let (ratio, burn_rate) = burn(view.budget.errors, view.budget.requests, view.objective);
        view.budget.error_ratio = ratio;
        view.budget.burn_rate = burn_rate;
        view.budget.remaining = round6(1.0 - burn_rate);
    }
    views
}

fn latest_drill(drill: &ReportFile<DrillReport>) -> LatestDrill {
    let scenarios = drill
        .report
        .scenarios
        .iter()
        .filter(|s| s.skipped.is_none())
        .map(|s| {
            let t = &s.totals;
            let mut status_mix: BTreeMap<String, u64> = t.status_counts.clone();
            for (class, n) in &t.network_errors {
                status_mix.insert(format!("net:{class}"), *n);
            }
            LatestScenario {
                name: s.name.clone(),
                latency_ms: LatencyFigures {
                    p50: t.latency_ms.p50,
                    p90: t.latency_ms.p90,
                    p95: t.latency_ms.p95,
                    p99: t.latency_ms.p99,
                },
                series: s
                    .timeseries
                    .iter()
                    .map(|p| SeriesPoint {
                        second: p.second,
                        p95_ms: p.p95_ms,
                        requests: p.requests,
                        errors: p.errors,
                    })
                    .collect(),
                stages: s
                    .stages
                    .iter()
                    .map(|st| StageFigures {
                        name: st.name.clone(),
                        load: match st.load {
                            LoadReport::Open { rate } => format!("rate {rate}/s"),
                            LoadReport::Closed { concurrency, .. } => {
                                format!("{concurrency} users")
                            }
                        },
                        requests: st.summary.requests,
                        throughput_rps: st.summary.throughput_rps,
                    })
                    .collect(),
                status_mix,
            }
        })
        .collect();
    LatestDrill {
        report: drill.file.clone(),
        started_at: drill.started_at.clone(),
        profile: drill.report.profile.clone(),
        status: status_str(drill.report.status).into(),
        scenarios,
    }
}

/// A number out of a canary figure: the number itself, or the first of
/// `value`, `median`, `p50`, `mean`, `observed` in an object.
fn figure(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Object(o) => ["value", "median", "p50", "mean", "observed", "rate"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_f64)),
        _ => None,
    }
}

/// Every object holding both a `control` and a `candidate` figure,
/// anywhere in the report, named by its `metric`/`name` field or its key.
fn canary_metrics(v: &Value, key: &str, scenario: Option<&str>, out: &mut Vec<CanaryMetricView>) {
    match v {
        Value::Object(o) => {
            let scenario = o.get("scenario").and_then(Value::as_str).or(scenario);
            let pair = |a: &str, b: &str| {
                o.get(a)
                    .or_else(|| o.get(b))
                    .map(|x| (figure(x), x.is_object()))
            };
            let control = pair("control", "control_value");
            let candidate = pair("candidate", "candidate_value");
            if let (Some((control, _)), Some((candidate, _))) = (control, candidate)
                && (control.is_some() || candidate.is_some())
            {
                let name = ["metric", "name"]
                    .iter()
                    .find_map(|k| o.get(*k).and_then(Value::as_str))
                    .unwrap_or(key);
                let name = match scenario {
                    Some(s) if !name.starts_with(s) => format!("{s} {name}"),
                    _ => name.to_owned(),
                };
                let classification = ["classification", "class", "verdict", "result"]
                    .iter()
                    .find_map(|k| o.get(*k).and_then(Value::as_str))
                    .map(str::to_owned);
                out.push(CanaryMetricView {
                    name,
                    control,
                    candidate,
                    classification,
                });
                return;
            }
            for (k, child) in o {
                canary_metrics(child, k, scenario, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                canary_metrics(item, key, scenario, out);
            }
        }
        _ => {}
    }
}

fn canary(report: &ReportFile<Value>) -> CanaryView {
    let mut metrics = Vec::new();
    canary_metrics(&report.report, "metric", None, &mut metrics);
    CanaryView {
        report: report.file.clone(),
        started_at: report.started_at.clone(),
        verdict: value_verdict(&report.report),
        metrics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn burn_rate_is_error_ratio_over_budget() {
        let (ratio, rate) = burn(5, 100, 0.99);
        assert_eq!(ratio, 0.05);
        assert!((rate - 5.0).abs() < 1e-9, "{rate}");
        assert_eq!(burn(0, 0, 0.99), (0.0, 0.0));
    }

    #[test]
    fn canary_figures_are_found_in_several_shapes() {
        let report = json!({
            "kind": "canary_check",
            "verdict": "fail",
            "scenarios": [{
                "scenario": "whatsapp_webhook",
                "metrics": [
                    { "metric": "p95_latency_ms", "control": { "median": 10.0 },
                      "candidate": { "median": 210.5 }, "classification": "high" },
                    { "name": "rate_5xx", "control": 0.0, "candidate": 0.05 }
                ]
            }],
            "other": { "ttfb_p95_ms": { "control_value": 3, "candidate_value": 4 } },
            "target": { "control": "http://a", "candidate": "http://b" }
        });
        let file = ReportFile {
            file: "canary-check-1.json".into(),
            started_at: String::new(),
            report,
        };
        let view = canary(&file);
        assert_eq!(view.verdict, "fail");
        let mut names: Vec<&str> = view.metrics.iter().map(|m| m.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "ttfb_p95_ms",
                "whatsapp_webhook p95_latency_ms",
                "whatsapp_webhook rate_5xx"
            ]
        );
        let p95 = view
            .metrics
            .iter()
            .find(|m| m.name.ends_with("p95_latency_ms"))
            .unwrap();
        assert_eq!((p95.control, p95.candidate), (Some(10.0), Some(210.5)));
        assert_eq!(p95.classification.as_deref(), Some("high"));
    }
}
