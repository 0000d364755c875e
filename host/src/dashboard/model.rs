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

use super::collect::{Collected, ReportFile, SkippedFile};
use crate::canary::{CanaryReport, CanaryVerdict};
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
    /// Files left out on purpose (snapshots, the dashboard itself, the
    /// reports of a drill's segments).
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
                    verdict: word(&r.report.status),
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

/// A verdict or status as its report writes it (`pass`, `drill_failed`, ...).
fn word<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
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

fn gates(c: &Collected) -> Vec<GateVerdict> {
    let mut gates = Vec::new();
    if let Some(last) = c.release_gates.last() {
        gates.push(GateVerdict {
            gate: "release_gate".into(),
            report: last.file.clone(),
            started_at: last.started_at.clone(),
            verdict: word(&last.report.status),
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
                verdict: word(&last.report.status),
                runs: runs.len(),
                failed_checks: failed_owned(&last.report.checks),
            });
        }
    }
    /// The latest report of a list as a gate verdict.
    fn latest<T>(
        gate: &str,
        list: &[ReportFile<T>],
        verdict: impl Fn(&T) -> String,
        failed: impl Fn(&T) -> Vec<String>,
    ) -> Option<GateVerdict> {
        let last = list.last()?;
        Some(GateVerdict {
            gate: gate.into(),
            report: last.file.clone(),
            started_at: last.started_at.clone(),
            verdict: verdict(&last.report),
            runs: list.len(),
            failed_checks: failed(&last.report),
        })
    }
    gates.extend(latest(
        "synthetic_probes",
        &c.probes,
        |r| word(&r.status),
        |r| {
            r.probes
                .iter()
                .filter(|p| p.verdict == Verdict::Fail)
                .map(|p| p.scenario.clone())
                .collect()
        },
    ));
    gates.extend(latest(
        "region_readiness",
        &c.region_readiness,
        |r| r.status.as_str().to_owned(),
        |r| {
            r.evidence
                .iter()
                .filter(|e| !e.passed)
                .map(|e| e.milestone.clone())
                .collect()
        },
    ));
    gates.extend(latest(
        "canary_check",
        &c.canaries,
        |r| word(&r.verdict),
        |r| {
            r.metrics
                .iter()
                .filter(|m| m.verdict == CanaryVerdict::Fail)
                .map(|m| format!("{} {}", m.scenario, m.metric))
                .collect()
        },
    ));
    gates.extend(latest(
        "game_day",
        &c.game_days,
        |r| word(&r.status),
        |r| {
            r.phases
                .iter()
                .filter(|p| {
                    p.hypothesis.as_ref().is_some_and(|h| !h.holds)
                        || p.drill
                            .as_ref()
                            .is_some_and(|d| d.status != DrillStatus::Pass)
                })
                .map(|p| p.name.clone())
                .collect()
        },
    ));
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
            view.latest_verdict = word(&s.slo_gate.verdict);
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
                verdict: word(&s.slo_gate.verdict),
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
        status: word(&drill.report.status),
        scenarios,
    }
}

fn canary(report: &ReportFile<CanaryReport>) -> CanaryView {
    CanaryView {
        report: report.file.clone(),
        started_at: report.started_at.clone(),
        verdict: word(&report.report.verdict),
        metrics: report
            .report
            .metrics
            .iter()
            .map(|m| CanaryMetricView {
                name: format!("{} {}", m.scenario, m.metric),
                control: Some(m.control.value),
                candidate: Some(m.candidate.value),
                classification: Some(word(&m.classification)),
            })
            .collect(),
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
    fn a_canary_report_shows_each_metric_of_each_side() {
        let summary =
            |value: f64| json!({ "n": 40, "mean": value, "median": value, "value": value });
        let side = json!({ "base_url": "http://a", "drill_report": "d.json",
                           "drill_status": "pass", "scenarios": [] });
        let report = json!({
            "schema_version": 1, "kind": "canary_check", "verdict": "fail", "interrupted": false,
            "started_at": "a", "finished_at": "b", "command_line": [], "config": {},
            "samples": "per request", "control": side, "candidate": side,
            "metrics": [{
                "scenario": "whatsapp_webhook", "metric": "p95_latency_ms",
                "direction": "increase", "weight": 1.0, "critical": true,
                "control": summary(10.0), "candidate": summary(210.5),
                "u": 3.0, "p_value": 0.001, "effect": 20.05, "difference": 200.5,
                "allowed_relative_change": 0.1, "allowed_absolute_change": 5.0,
                "classification": "high", "verdict": "fail"
            }],
            "score": 0.0, "pass_score": 95.0, "marginal_score": 75.0,
            "reasons": [], "warnings": []
        });
        let file = ReportFile {
            file: "canary-check-1.json".into(),
            started_at: String::new(),
            report: serde_json::from_value::<CanaryReport>(report).expect("a canary report"),
        };
        let view = canary(&file);
        assert_eq!(view.verdict, "fail");
        assert_eq!(view.metrics.len(), 1);
        let p95 = &view.metrics[0];
        assert_eq!(p95.name, "whatsapp_webhook p95_latency_ms");
        assert_eq!((p95.control, p95.candidate), (Some(10.0), Some(210.5)));
        assert_eq!(p95.classification.as_deref(), Some("high"));
    }
}
