//! The seed's commands run bare, as the seed runs them
//! (`npm run reliability:snapshot`, `:gameday`, `:region-readiness`, ...):
//! without a target they work against the built-in sim, as `drill` does.
//! Reports go to `RELIABILITY_OUTPUT_DIR`, a temporary directory.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// Runs `relhost ARGS` in `dir`, its reports going to `dir` too.
fn bare(dir: &Path, args: &[&str], limit: Duration) -> std::process::Output {
    let mut cmd = relhost();
    cmd.args(args)
        .current_dir(dir)
        .env("RELIABILITY_OUTPUT_DIR", dir);
    run_bounded(cmd, limit)
}

#[test]
fn a_bare_snapshot_reads_the_built_in_sim() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = bare(dir.path(), &["snapshot"], Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(dir.path(), "reliability-snapshot-");
    assert_matches_schema(&report, "reliability-snapshot");
    assert_eq!(report["target"]["in_process_sim"], true, "{report:#}");
    assert!(report["snapshot"]["knobs"].is_object(), "{report:#}");
}

#[test]
fn a_bare_game_day_runs_the_default_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = bare(dir.path(), &["gameday"], Duration::from_secs(180));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(dir.path(), "game-day-");
    assert_matches_schema(&report, "game-day");
    assert_eq!(report["status"], "recovered", "{report:#}");
    assert_eq!(report["profiles"], serde_json::json!(["quick"]));
    only_report(dir.path(), "load-drill-quick-");
}

#[test]
fn a_bare_milestone_gate_provisions_its_users_and_region_readiness_decides_from_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Region readiness with no forecast and no evidence: nothing to decide.
    let output = bare(dir.path(), &["region-readiness"], Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(dir.path(), "region-readiness-");
    assert_matches_schema(&report, "region-readiness");
    assert_eq!(report["expected_peak_streams"], Value::Null);
    assert!(
        report["warnings"].to_string().contains("no forecast"),
        "{report:#}"
    );
    std::fs::remove_file(
        std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("region-readiness-")
            })
            .expect("report")
            .path(),
    )
    .expect("remove");

    // m1_1k at 2% of its concurrency and 5% of its length: 20 streams.
    let output = bare(
        dir.path(),
        &[
            "milestone-gate",
            "--milestone=m1_1k",
            "--chat-concurrency-scale=0.02",
            "--chat-duration-scale=0.05",
        ],
        Duration::from_secs(120),
    );
    let report = only_report(dir.path(), "milestone-gate-m1_1k-");
    assert_matches_schema(&report, "milestone-gate");
    let checks = report["checks"].as_array().expect("checks");
    let unique = checks
        .iter()
        .find(|c| c["name"] == "unique_users")
        .expect("unique_users check");
    assert_eq!(unique["verdict"], "pass", "{unique}");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    // Now the evidence decides: the peak drilled is the milestone's.
    let output = bare(dir.path(), &["region-readiness"], Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(dir.path(), "region-readiness-");
    assert!(
        report["warnings"]
            .to_string()
            .contains("decided from the measured evidence alone"),
        "{report:#}"
    );
    assert!(
        report["decision"]["required_streams"].as_f64() > Some(0.0),
        "{report:#}"
    );
}

#[test]
fn probe_takes_the_pool_file_from_the_environment() {
    let sim = Sim::start(&[], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = make_pool(&sim, dir.path(), "probe", 2);
    let mut cmd = relhost();
    cmd.args([
        "probe",
        "--base-url",
        &sim.base_url,
        "--scenarios=chat_stream_http",
    ])
    .env("RELIABILITY_CHAT_AUTH_POOL_FILE", &pool)
    .arg("--output-dir")
    .arg(dir.path());
    let output = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(dir.path(), "synthetic-probes-");
    assert_eq!(report["probes"][0]["verdict"], "pass", "{report:#}");
    assert_eq!(snapshot(&sim, 60)["unique_users"], 1);
}
