//! `relhost canary` end to end: a control and a candidate sim (or one sim
//! under two names), drilled with the same schedule and judged.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// A webhook-only profile: `rate` arrivals per second for `seconds`.
fn profile(dir: &Path, name: &str, rate: u32, seconds: u32) -> std::path::PathBuf {
    profile_file(
        dir,
        name,
        json!({
            "whatsapp_webhook": {
                "stages": [{ "name": "steady", "rate": rate, "duration": format!("{seconds}s") }]
            },
        }),
    )
}

/// Runs the canary between two sims with `profile` (a name or a file);
/// returns its exit code and report.
fn canary(control: &Sim, candidate: &Sim, dir: &Path, profile: &str) -> (i32, Value) {
    let profile = format!("--profile={profile}");
    canary_with(
        &[
            "--control-url",
            &control.base_url,
            "--candidate-url",
            &candidate.base_url,
            &profile,
        ],
        dir,
    )
}

/// Runs `relhost canary ARGS`; returns its exit code and report.
fn canary_with(args: &[&str], dir: &Path) -> (i32, Value) {
    let mut cmd = relhost();
    cmd.arg("canary")
        .args(args)
        .arg("--output-dir")
        .arg(dir)
        .arg("--junit")
        .arg(dir.join("canary.xml"))
        .arg("--summary")
        .arg(dir.join("canary.md"));
    let output = run_bounded(cmd, Duration::from_secs(120));
    let code = output.status.code().unwrap_or(-1);
    assert!(
        [0, 1, 4, 5].contains(&code),
        "unexpected exit: {}",
        describe(&output)
    );
    let report = only_report(dir, "canary-check-");
    assert_matches_schema(&report, "canary-check");
    for side in ["control", "candidate"] {
        let path = report[side]["drill_report"].as_str().expect("drill report");
        let drill: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON");
        assert_valid_drill_report(&drill);
    }
    (code, report)
}

fn metric<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["metrics"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["metric"] == name))
        .unwrap_or_else(|| panic!("no metric {name}: {report:#}"))
}

#[test]
fn two_identical_targets_pass_on_the_quick_profile() {
    // The seed's own example, with the built-in policy: two servers alike.
    let (control, candidate) = (
        Sim::start(&["--seed=3"], &[]),
        Sim::start(&["--seed=3"], &[]),
    );
    let out = tempfile::tempdir().expect("tempdir");
    let (code, report) = canary(&control, &candidate, out.path(), "quick");
    assert_eq!(
        (code, &report["verdict"]),
        (0, &json!("pass")),
        "{report:#}"
    );
    assert_eq!(report["score"], 100.0);
    // Per request: about 120 webhooks a side, not 4 seconds.
    let p95 = metric(&report, "p95_latency_ms");
    assert!(p95["control"]["n"].as_u64() >= Some(100), "{p95:#}");
    assert!(p95["candidate"]["n"].as_u64() >= Some(100), "{p95:#}");
    let xml = std::fs::read_to_string(out.path().join("canary.xml")).expect("junit");
    let cases = junit_cases(&xml);
    assert_eq!(cases.len(), 8, "four metrics of two webhooks");
    assert!(
        cases
            .iter()
            .all(|(_, _, failed, skipped)| !failed && !skipped)
    );
    let md = std::fs::read_to_string(out.path().join("canary.md")).expect("summary");
    assert!(md.contains("pass"), "{md}");
}

#[test]
fn a_bare_canary_compares_two_built_in_sims() {
    let out = tempfile::tempdir().expect("tempdir");
    let (code, report) = canary_with(&["--profile=quick"], out.path());
    assert_eq!(
        (code, &report["verdict"]),
        (0, &json!("pass")),
        "{report:#}"
    );
    assert_ne!(
        report["control"]["base_url"],
        report["candidate"]["base_url"]
    );
    // Each sim has its own demo user, so the chat streams are compared too.
    assert!(
        report["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .any(|m| m["metric"] == "first_event_p95_ms"),
        "{report:#}"
    );
}

#[test]
fn added_latency_fails_the_canary_on_latency() {
    let control = Sim::start(&["--seed=3"], &[]);
    let candidate = Sim::start(&["--seed=3", "--fault=all:latency=200ms"], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let (code, report) = canary(&control, &candidate, out.path(), "quick");
    assert_eq!(
        (code, &report["verdict"]),
        (1, &json!("fail")),
        "{report:#}"
    );
    let p95 = metric(&report, "p95_latency_ms");
    assert_eq!(p95["classification"], "high", "{p95:#}");
    assert_eq!(p95["verdict"], "fail");
    assert!(p95["p_value"].as_f64() < Some(0.05));
    assert!(p95["effect"].as_f64() > Some(1.0), "{p95:#}");
    assert_eq!(metric(&report, "rate_5xx")["verdict"], "pass");
}

#[test]
fn injected_errors_fail_the_canary_on_errors() {
    let control = Sim::start(&["--seed=3"], &[]);
    let candidate = Sim::start(
        &["--seed=3", "--fault=whatsapp:error_rate=0.05,status=503"],
        &[],
    );
    let out = tempfile::tempdir().expect("tempdir");
    let p = profile(out.path(), "canary-errors", 50, 8);
    let (code, report) = canary(&control, &candidate, out.path(), &p.display().to_string());
    assert_eq!(
        (code, &report["verdict"]),
        (1, &json!("fail")),
        "{report:#}"
    );
    let errors = metric(&report, "rate_5xx");
    assert_eq!(errors["classification"], "high", "{errors:#}");
    assert!(
        report["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("critical metric regressed: whatsapp_webhook.rate_5xx")),
        "{report:#}"
    );
    let xml = std::fs::read_to_string(out.path().join("canary.xml")).expect("junit");
    assert!(
        junit_cases(&xml)
            .iter()
            .any(|(_, name, failed, _)| name == "rate_5xx" && *failed)
    );
}

#[test]
fn too_short_a_run_is_inconclusive() {
    let (control, candidate) = (
        Sim::start(&["--seed=3"], &[]),
        Sim::start(&["--seed=3"], &[]),
    );
    let out = tempfile::tempdir().expect("tempdir");
    // Two requests a side: fewer than the 5 samples a metric needs.
    let p = profile(out.path(), "canary-short", 2, 1);
    let (code, report) = canary(&control, &candidate, out.path(), &p.display().to_string());
    assert_eq!(
        (code, &report["verdict"]),
        (5, &json!("inconclusive")),
        "{report:#}"
    );
    assert!(
        report["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .all(|m| m["classification"] == "nodata" && m["p_value"].is_null())
    );
}

#[test]
fn the_same_url_twice_is_refused() {
    let sim = Sim::start(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let mut cmd = relhost();
    cmd.args([
        "canary",
        "--control-url",
        &sim.base_url,
        "--candidate-url",
        &format!("{}/", sim.base_url),
        "--profile=quick",
        "--output-dir",
    ])
    .arg(out.path());
    let output = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("are the same"));
    let mut cmd = relhost();
    cmd.args(["canary", "--candidate-url", &sim.base_url]);
    let output = run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("give both --control-url and --candidate-url"),
        "{}",
        describe(&output)
    );
}
