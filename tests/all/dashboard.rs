//! `relhost dashboard` end to end: reports from real drills against real
//! sims (one with faults), the dashboard built from them, and its HTML
//! rendered in headless Chromium (Debian's `chromium` package), which must
//! draw every chart and log no errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// Where Debian's `chromium` package installs the browser.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The charts the page draws, by figure id (`chart-<id>`).
const CHARTS: &[&str] = &[
    "latency-series",
    "latency-runs",
    "error-rates",
    "throughput-runs",
    "burn-rate",
    "throughput-stages",
    "status-mix",
    "canary",
];

/// The browser: `RELHOST_TEST_CHROMIUM` or Debian's (`None`: skipped).
fn chromium() -> Option<PathBuf> {
    test_program("RELHOST_TEST_CHROMIUM", CHROMIUM, "chromium")
}

/// Loads `page` in headless Chromium, offline, and returns (DOM, stderr).
fn render_in_chromium(chromium: &Path, page: &Path) -> (String, String) {
    let profile = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg("--dump-dom")
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null());
    let output = run_bounded(cmd, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(0),
        "chromium failed: {}",
        describe(&output)
    );
    (String::from_utf8_lossy(&output.stdout).into_owned(), stderr)
}

/// The opening tag of the element with `id` in `dom`.
fn tag_with_id<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element #{id} in the DOM"));
    let start = dom[..at].rfind('<').expect("tag start");
    let end = at + dom[at..].find('>').expect("tag end");
    &dom[start..=end]
}

fn drill(sim: &Sim, profile: &Path, out: &Path, expect: i32) {
    let mut cmd = relhost();
    cmd.args(["drill", "--quiet", "--base-url", &sim.base_url, "--profile"])
        .arg(profile)
        .arg("--output-dir")
        .arg(out);
    let output = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(expect), "{}", describe(&output));
}

fn run_dashboard(out: &Path) -> std::process::Output {
    let mut cmd = relhost();
    cmd.args(["dashboard", "--output-dir"]).arg(out);
    run_bounded(cmd, Duration::from_secs(30))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON")
}

#[test]
fn dashboard_of_real_drills_renders_in_headless_chromium() {
    // Skip (or fail, under CI) before the drills when the browser is missing.
    let Some(chromium) = chromium() else {
        return;
    };
    let clean = Sim::start(&["--seed=3"], &[]);
    let faulty = Sim::start(
        &[
            "--seed=7",
            "--fault=whatsapp:error_rate=0.05,status=503",
            "--fault=gmail:reset_rate=0.05",
        ],
        &[],
    );
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path();
    let scenarios = json!({
        "whatsapp_webhook": { "stages": [
            { "name": "warm", "rate": 40, "duration": "1s" },
            { "name": "peak", "rate": 120, "duration": "1s" },
        ] },
        "gmail_push_webhook": { "stages": [
            { "name": "steady", "rate": 60, "duration": "2s" },
        ] },
    });
    let profiles = tempfile::tempdir().expect("tempdir");
    for (name, sim, expect) in [
        ("baseline", &clean, 0),
        ("faulty", &faulty, 1),
        ("recovered", &clean, 0),
    ] {
        let profile = profile_file(profiles.path(), name, scenarios.clone());
        drill(sim, &profile, dir, expect);
    }
    // A canary report as `relhost canary` writes it (its own tests run the
    // command), a foreign JSON file and a broken one.
    let figures = |value: f64| json!({ "n": 40, "mean": value, "median": value, "value": value });
    let metric = |name: &str, control: f64, candidate: f64| {
        json!({
            "scenario": "whatsapp_webhook", "metric": name, "direction": "increase",
            "weight": 1.0, "critical": true,
            "control": figures(control), "candidate": figures(candidate),
            "u": 12.0, "p_value": 0.001, "effect": 1.0, "difference": candidate - control,
            "allowed_relative_change": 0.1, "allowed_absolute_change": 0.01,
            "classification": "high", "verdict": "fail"
        })
    };
    let side = |url: &str| {
        json!({ "base_url": url, "drill_report": "load-drill.json", "drill_status": "pass",
                "scenarios": [] })
    };
    std::fs::write(
        dir.join("canary-check-20991231T000000Z.json"),
        serde_json::to_vec(&json!({
            "schema_version": 1, "kind": "canary_check", "verdict": "fail", "interrupted": false,
            "started_at": "2099-12-31T00:00:00.000Z", "finished_at": "2099-12-31T00:00:10.000Z",
            "command_line": ["relhost", "canary"], "config": {}, "samples": "per request",
            "control": side("http://control"), "candidate": side("http://candidate"),
            "metrics": [
                metric("p95_latency_ms", 12.5, 212.0),
                metric("rate_5xx", 0.0, 0.05),
            ],
            "score": 0.0, "pass_score": 95.0, "marginal_score": 75.0,
            "reasons": ["p95_latency_ms is critical and regressed"], "warnings": []
        }))
        .expect("serialize"),
    )
    .expect("write canary");
    std::fs::write(dir.join("package.json"), r#"{"name": "not-a-report"}"#).expect("write");
    std::fs::write(dir.join("broken.json"), "{ \"kind\": ").expect("write");

    let output = run_dashboard(dir);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for name in ["package.json", "broken.json"] {
        assert!(
            stderr.contains(&format!("skipped {}", dir.join(name).display())),
            "no warning naming {name}: {stderr}"
        );
    }

    let dashboard = read_json(&dir.join("slo-dashboard.json"));
    assert_matches_schema(&dashboard, "slo-dashboard");
    assert_eq!(dashboard["reports"]["load_drill"], 3);
    assert_eq!(dashboard["reports"]["canary_check"], 1);
    assert_eq!(dashboard["reports"]["skipped"], 2);
    let skipped: Vec<&str> = dashboard["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .filter_map(|s| s["file"].as_str())
        .collect();
    assert_eq!(skipped, ["broken.json", "package.json"]);
    let scenario = |name: &str| {
        dashboard["scenarios"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name))
            .unwrap_or_else(|| panic!("no scenario {name}: {dashboard}"))
            .clone()
    };
    let whatsapp = scenario("whatsapp_webhook");
    let trend = whatsapp["trend"].as_array().expect("trend");
    assert_eq!(trend.len(), 3, "{whatsapp}");
    let profiles: Vec<&str> = trend.iter().filter_map(|p| p["profile"].as_str()).collect();
    assert_eq!(
        profiles,
        ["baseline", "faulty", "recovered"],
        "not in time order"
    );
    assert_eq!(trend[1]["verdict"], "fail");
    assert!(
        trend[1]["burn_rate"].as_f64().unwrap_or(0.0) > 1.0,
        "5% errors against a 99% objective burn about 5x: {}",
        trend[1]
    );
    assert_eq!(trend[0]["burn_rate"], 0.0);
    assert_eq!(whatsapp["latest_verdict"], "pass");
    let budget = &whatsapp["budget"];
    let burn = budget["burn_rate"].as_f64().expect("burn");
    let ratio = budget["error_ratio"].as_f64().expect("ratio");
    assert!((burn - ratio / (1.0 - 0.99)).abs() < 1e-3, "{budget}");
    assert!(
        (budget["remaining"].as_f64().expect("remaining") - (1.0 - burn)).abs() < 1e-6,
        "{budget}"
    );
    let gmail = scenario("gmail_push_webhook");
    assert!(
        gmail["trend"][1]["network_error_rate"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0,
        "{gmail}"
    );
    let stages = dashboard["latest_drill"]["scenarios"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "whatsapp_webhook"))
        .map(|s| s["stages"].as_array().map_or(0, Vec::len));
    assert_eq!(stages, Some(2), "throughput per stage");
    assert_eq!(
        dashboard["canary"]["metrics"].as_array().map(Vec::len),
        Some(2)
    );

    let markdown = std::fs::read_to_string(dir.join("slo-dashboard.md")).expect("markdown");
    assert!(
        markdown.contains("| whatsapp_webhook | **pass** |"),
        "{markdown}"
    );
    assert!(markdown.contains("broken.json"), "{markdown}");

    let page = dir.join("slo-dashboard.html");
    let html = std::fs::read_to_string(&page).expect("html");
    let lower = html.to_ascii_lowercase();
    assert!(
        !lower.contains("http://") && !lower.contains("https://"),
        "the page references the network"
    );

    let (dom, log) = render_in_chromium(&chromium, &page);
    assert!(
        tag_with_id(&dom, "page-errors").contains("id=\"page-errors\"")
            && dom.contains("<ul id=\"page-errors\"></ul>"),
        "the page reported script errors: {dom}"
    );
    assert!(
        dom.contains("data-checked=\"true\""),
        "the page's chart check did not run: {dom}"
    );
    for id in CHARTS {
        let tag = tag_with_id(&dom, &format!("chart-{id}"));
        assert!(
            tag.contains("data-drawn=\"true\""),
            "chart {id} was not drawn: {tag}"
        );
        assert!(!tag.contains("data-marks=\"0\""), "chart {id}: {tag}");
    }
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
}

#[test]
fn no_reports_still_writes_a_dashboard_that_says_so() {
    let out = tempfile::tempdir().expect("tempdir");
    let output = run_dashboard(out.path());
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let dashboard = read_json(&out.path().join("slo-dashboard.json"));
    assert_matches_schema(&dashboard, "slo-dashboard");
    assert!(
        dashboard["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("no reports found")),
        "{dashboard}"
    );
    let markdown = std::fs::read_to_string(out.path().join("slo-dashboard.md")).expect("md");
    assert!(markdown.contains("no reports found"), "{markdown}");
    assert!(markdown.contains("No canary runs."), "{markdown}");
    let html = std::fs::read_to_string(out.path().join("slo-dashboard.html")).expect("html");
    assert!(html.contains("id=\"no-reports\""));
    // Its own output is not a report on the next run.
    let output = run_dashboard(out.path());
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("skipped"),
        "{}",
        describe(&output)
    );
}

#[test]
fn an_unreadable_output_dir_or_bad_flags_exit_2() {
    let out = tempfile::tempdir().expect("tempdir");
    let output = run_dashboard(&out.path().join("missing"));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot read the output directory"),
        "{}",
        describe(&output)
    );
    let mut cmd = relhost();
    cmd.args(["dashboard", "--no-such-flag"]);
    let output = run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}
