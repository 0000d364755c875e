//! The steady-state hypothesis, evaluated: one check per probe and per
//! snapshot condition, each with its observed value and verdict.
//!
//! Snapshot conditions read the sim's snapshot format:
//! - `open_circuits`: circuits whose state is `open`;
//! - `5xx_ratio`: requests answered 500–599 over all requests in the window
//!   (0 with no requests);
//! - `p95_ms`: the highest `p95_ms` of any endpoint in the window (skipped
//!   with no requests);
//! - custom checks: a [`MetricPath`](crate::policy::MetricPath) each.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::policy::Hypothesis;
use crate::policy::{OwnershipMatrix, WhenMissing};
use crate::report::ProbeOutcome;
use crate::report::{Comparator, Verdict, runbook_section};

/// One condition of the hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HypothesisCheck {
    /// `probe:<scenario>`, `open_circuits`, `5xx_ratio`, `p95_ms` or a custom id.
    pub name: String,
    /// Who answers for it (the ownership matrix's owner of the check, or of
    /// the probe's scenario).
    pub owner: String,
    /// The value observed, when there was one.
    pub observed: Option<f64>,
    /// The threshold, for snapshot conditions.
    pub threshold: Option<f64>,
    /// `<=` or `>=`, for snapshot conditions.
    pub comparator: Option<Comparator>,
    /// Pass, fail, or skipped (nothing to measure).
    pub verdict: Verdict,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The hypothesis at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HypothesisResult {
    /// Whether every condition passed (skipped ones aside).
    pub holds: bool,
    /// The conditions.
    pub checks: Vec<HypothesisCheck>,
}

impl HypothesisResult {
    /// The failed conditions, as `name = observed (expected <= threshold):
    /// message; owner O; runbook RUNBOOK.md#section` text. The section is
    /// the check's own (a probe's is `probe_status`), else `hypothesis`.
    pub fn failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| c.verdict == Verdict::Fail)
            .map(|c| {
                let mut text = c.name.clone();
                if let (Some(o), Some(t), Some(cmp)) = (c.observed, c.threshold, c.comparator) {
                    text.push_str(&format!(" = {o} (expected {} {t})", cmp.as_str()));
                }
                if let Some(m) = &c.message {
                    text.push_str(&format!(": {m}"));
                }
                let section = if c.name.starts_with("probe:") {
                    "probe_status"
                } else {
                    c.name.as_str()
                };
                let runbook = runbook_section(section)
                    .or_else(|| runbook_section("hypothesis"))
                    .unwrap_or_default();
                text.push_str(&format!("; owner {}; runbook {runbook}", c.owner));
                text
            })
            .collect()
    }
}

fn compare(
    name: &str,
    owner: &str,
    observed: Option<f64>,
    comparator: Comparator,
    threshold: f64,
    missing: WhenMissing,
) -> HypothesisCheck {
    let (verdict, message) = match observed {
        Some(v) => {
            let holds = comparator.holds(v, threshold);
            (if holds { Verdict::Pass } else { Verdict::Fail }, None)
        }
        None if missing == WhenMissing::Skip => {
            (Verdict::Skipped, Some("not in the snapshot".to_owned()))
        }
        None => (Verdict::Fail, Some("not in the snapshot".to_owned())),
    };
    HypothesisCheck {
        name: name.to_owned(),
        owner: owner.to_owned(),
        observed,
        threshold: Some(threshold),
        comparator: Some(comparator),
        verdict,
        message,
    }
}

/// A snapshot condition with its observed value.
struct Condition {
    name: String,
    comparator: Comparator,
    threshold: f64,
    missing: WhenMissing,
    observed: Option<f64>,
}

/// Circuits whose state is `open`.
pub(crate) fn open_circuits(snapshot: &Value) -> Option<f64> {
    let circuits = snapshot.get("circuits")?.as_array()?;
    Some(circuits.iter().filter(|c| c["state"] == "open").count() as f64)
}

/// Requests answered 5xx in the snapshot's window, and all requests.
pub(crate) fn server_errors(snapshot: &Value) -> Option<(f64, f64)> {
    let requests = snapshot.get("requests")?;
    let total = requests.get("total")?.as_f64()?;
    let errors = requests
        .get("by_endpoint_status")?
        .as_array()?
        .iter()
        .filter(|row| {
            row["status"]
                .as_u64()
                .is_some_and(|s| (500..600).contains(&s))
        })
        .filter_map(|row| row["count"].as_f64())
        .fold(0.0, |sum, count| sum + count);
    Some((errors, total))
}

fn max_p95(snapshot: &Value) -> Option<f64> {
    snapshot
        .get("latency")?
        .as_array()?
        .iter()
        .filter_map(|row| row["p95_ms"].as_f64())
        .reduce(f64::max)
}

/// Evaluates `hypothesis` over probe outcomes and a snapshot (or why the
/// snapshot could not be read, which fails every snapshot condition); each
/// check names its owner from `owners`.
pub fn evaluate_hypothesis(
    hypothesis: &Hypothesis,
    owners: &OwnershipMatrix,
    probes: &[ProbeOutcome],
    snapshot: Result<&Value, &str>,
) -> HypothesisResult {
    let mut checks = Vec::new();
    for probe in probes {
        let failed: Vec<&str> = probe.failed_checks().map(|c| c.name.as_str()).collect();
        let message = if failed.is_empty() {
            probe.message.clone()
        } else {
            Some(format!(
                "failed {}{}",
                failed.join(", "),
                probe
                    .message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ))
        };
        checks.push(HypothesisCheck {
            name: format!("probe:{}", probe.scenario),
            owner: owners
                .owner_for("probe_status", Some(&probe.scenario))
                .id
                .clone(),
            observed: probe.status.map(f64::from),
            threshold: None,
            comparator: None,
            verdict: probe.verdict,
            message: if probe.verdict == Verdict::Pass {
                None
            } else {
                message
            },
        });
    }
    let read = |f: &dyn Fn(&Value) -> Option<f64>| snapshot.ok().and_then(f);
    let mut wanted: Vec<Condition> = Vec::new();
    if let Some(max) = hypothesis.max_open_circuits {
        wanted.push(Condition {
            name: "open_circuits".into(),
            comparator: Comparator::AtMost,
            threshold: max,
            missing: WhenMissing::Fail,
            observed: read(&open_circuits),
        });
    }
    if let Some(max) = hypothesis.max_5xx_ratio {
        wanted.push(Condition {
            name: "5xx_ratio".into(),
            comparator: Comparator::AtMost,
            threshold: max,
            missing: WhenMissing::Fail,
            observed: read(&|s| {
                server_errors(s)
                    .map(|(errors, total)| if total > 0.0 { errors / total } else { 0.0 })
            }),
        });
    }
    if let Some(max) = hypothesis.max_p95_ms {
        wanted.push(Condition {
            name: "p95_ms".into(),
            comparator: Comparator::AtMost,
            threshold: max,
            missing: WhenMissing::Skip,
            observed: read(&max_p95),
        });
    }
    for check in &hypothesis.checks {
        wanted.push(Condition {
            name: check.id.clone(),
            comparator: check.comparator,
            threshold: check.threshold,
            missing: check.when_missing,
            observed: read(&|s| check.metric.eval(s)),
        });
    }
    for c in wanted {
        let owner = &owners.owner_for(&c.name, None).id;
        checks.push(match snapshot {
            Ok(_) => compare(
                &c.name,
                owner,
                c.observed,
                c.comparator,
                c.threshold,
                c.missing,
            ),
            Err(reason) => HypothesisCheck {
                verdict: Verdict::Fail,
                message: Some(format!("snapshot unavailable: {reason}")),
                ..compare(&c.name, owner, None, c.comparator, c.threshold, c.missing)
            },
        });
    }
    let holds = checks.iter().all(|c| c.verdict != Verdict::Fail);
    HypothesisResult { holds, checks }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyDocument;
    use serde_json::json;

    fn snapshot(open: bool, errors: u64) -> Value {
        json!({
            "requests": {"total": 100, "by_endpoint_status": [
                {"endpoint": "POST /api/chat", "status": 200, "count": 100 - errors},
                {"endpoint": "POST /api/chat", "status": 503, "count": errors}]},
            "latency": [{"endpoint": "POST /api/chat", "p95_ms": 40.0},
                        {"endpoint": "POST /api/gmail/push", "p95_ms": 3.0}],
            "circuits": [{"provider": "primary", "state": if open { "open" } else { "closed" }},
                         {"provider": "secondary", "state": "closed"}]
        })
    }

    fn owners() -> OwnershipMatrix {
        OwnershipMatrix::builtin(&()).expect("matrix")
    }

    #[test]
    fn a_healthy_snapshot_holds() {
        let h = Hypothesis::default();
        let r = evaluate_hypothesis(&h, &owners(), &[], Ok(&snapshot(false, 0)));
        assert!(r.holds, "{r:?}");
        let names: Vec<&str> = r.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["open_circuits", "5xx_ratio", "p95_ms"]);
        let owners: Vec<&str> = r.checks.iter().map(|c| c.owner.as_str()).collect();
        assert_eq!(owners, ["chat-platform", "reliability", "reliability"]);
        assert_eq!(r.checks[2].observed, Some(40.0));
    }

    #[test]
    fn open_circuits_and_errors_break_it() {
        let h = Hypothesis::default();
        let r = evaluate_hypothesis(&h, &owners(), &[], Ok(&snapshot(true, 5)));
        assert!(!r.holds);
        let failures = r.failures();
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[0].starts_with("open_circuits = 1"), "{failures:?}");
        assert!(
            failures[0].ends_with("owner chat-platform; runbook RUNBOOK.md#open_circuits"),
            "{failures:?}"
        );
        assert!(
            failures[1].ends_with("owner reliability; runbook RUNBOOK.md#hypothesis"),
            "{failures:?}"
        );
        assert!(failures[1].starts_with("5xx_ratio = 0.05"), "{failures:?}");
    }

    #[test]
    fn an_unreadable_snapshot_fails_every_snapshot_condition() {
        let r = evaluate_hypothesis(&Hypothesis::default(), &owners(), &[], Err("401"));
        assert!(!r.holds);
        assert!(r.checks.iter().all(|c| c.verdict == Verdict::Fail));
    }

    #[test]
    fn no_traffic_means_no_errors_and_no_p95() {
        let s = json!({"requests": {"total": 0, "by_endpoint_status": []}, "latency": [], "circuits": []});
        let r = evaluate_hypothesis(&Hypothesis::default(), &owners(), &[], Ok(&s));
        assert!(r.holds, "{r:?}");
        assert_eq!(r.checks[1].observed, Some(0.0));
        assert_eq!(r.checks[2].verdict, Verdict::Skipped);
    }
}
