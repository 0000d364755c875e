//! `relhost gameday` end to end: a provider outage in the middle of a game
//! day shows the deviation and the recovery; a target whose hypothesis
//! fails beforehand aborts; a bad plan file is exit 2 naming file, line and
//! field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

fn write_plan(dir: &Path, plan: &Value) -> PathBuf {
    let path = dir.join("plan.json");
    std::fs::write(&path, serde_json::to_vec_pretty(plan).expect("serialize")).expect("write plan");
    path
}

fn phase<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["phases"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no phase {name}"))
}

#[test]
fn a_provider_outage_shows_the_deviation_and_the_recovery() {
    outage_game_day(false);
}

/// The same game day on a target reached only through its Convex function
/// API: snapshots and faults go through `ops:*` functions.
#[test]
fn a_game_day_with_faults_runs_through_the_function_api_alone() {
    outage_game_day(true);
}

fn outage_game_day(convex: bool) {
    let knobs = [
        ("CIRCUIT_OPENROUTER_PRIMARY_THRESHOLD", "2"),
        ("CIRCUIT_OPENROUTER_PRIMARY_COOLDOWN_MS", "500"),
    ];
    let sim = if convex {
        Sim::start_convex(&["--seed=5"], &knobs)
    } else {
        Sim::start(&["--seed=5"], &knobs)
    };
    let out = tempfile::tempdir().expect("tempdir");
    let pool = make_pool(&sim, out.path(), "gd", 2);
    let profile = profile_file(
        out.path(),
        "outage",
        json!({ "chat_stream_http": { "stages": [
            { "name": "streams", "concurrency": 2, "duration": "4s" }
        ] } }),
    );
    let plan = write_plan(
        out.path(),
        &json!({
            "schema_version": 1,
            "description": "primary provider outage from 1s to the end of the drill",
            "hypothesis": { "probes": true, "window_minutes": 1, "max_open_circuits": 0,
                            "max_5xx_ratio": 0.05, "max_p95_ms": 5000 },
            "faults": [ { "at": "1s", "fault": "chat:provider_outage=primary" } ],
            "recovery_timeout": "20s",
            "poll_interval": "200ms"
        }),
    );
    let mut cmd = relhost();
    cmd.args(["gameday", "--base-url", &sim.base_url]);
    if convex {
        cmd.arg(format!("--convex-url={}", sim.functions_url))
            .env("CONVEX_DEPLOY_KEY", DEPLOY_KEY);
    } else {
        cmd.arg("--ops-token=test-ops-token");
    }
    cmd.arg("--profiles")
        .arg(&profile)
        .arg("--plan")
        .arg(&plan)
        .arg("--chat-auth-pool-file")
        .arg(&pool)
        .arg("--output-dir")
        .arg(out.path());
    let output = run_bounded(cmd, Duration::from_secs(120));
    let text = describe(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        !text.contains("test-ops-token"),
        "the ops token is never printed"
    );
    let report = only_report(out.path(), "game-day-");
    assert_matches_schema(&report, "game-day");
    assert!(
        !report.to_string().contains("test-ops-token"),
        "the ops token is masked in the report"
    );
    assert_eq!(report["kind"], "game_day");
    assert_eq!(report["status"], "recovered");
    assert_eq!(report["hypothesis_held_before"], true);
    assert_eq!(report["recovered"], true);
    let names: Vec<&str> = report["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["before", "drill:outage", "after"]);

    let drill = phase(&report, "drill:outage");
    let faults = drill["faults"].as_array().expect("faults");
    assert_eq!(faults.len(), 2, "{faults:?}");
    assert_eq!(faults[0]["faults"], json!(["chat:provider_outage=primary"]));
    assert!(
        faults[0]["applied_at_ms"]
            .as_u64()
            .is_some_and(|ms| ms >= 1000)
    );
    assert_eq!(faults[1]["end_of_drill"], true, "cleared at the end");
    let highlights = &drill["snapshot"]["highlights"];
    assert!(
        highlights["failovers"].as_f64().is_some_and(|f| f > 0.0),
        "{highlights}"
    );
    assert!(
        highlights["circuit_transitions"]
            .as_array()
            .is_some_and(|t| t
                .iter()
                .any(|t| t["provider"] == "primary" && t["to"] == "open")),
        "the primary circuit opened: {highlights}"
    );
    assert!(
        highlights["active_faults"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "faults cleared before the phase snapshot"
    );
    let drill_report = drill["drill"]["report"]
        .as_str()
        .expect("drill report path");
    assert!(Path::new(drill_report).exists());

    let after = phase(&report, "after");
    assert_eq!(after["hypothesis"]["holds"], true);
    assert!(report["recovery"]["recovery_ms"].as_u64().is_some());
    let circuits = &after["snapshot"]["highlights"]["circuits"];
    assert!(
        circuits
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["state"] == "closed")),
        "{circuits}"
    );
    assert!(
        after["snapshot"]["snapshot"]["faults"]["active"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "no fault left in force"
    );
    assert!(!text.contains(DEPLOY_KEY) && !report.to_string().contains(DEPLOY_KEY));
}

#[test]
fn a_failing_hypothesis_aborts_before_any_drill() {
    let sim = Sim::start(&["--fault=whatsapp:error_rate=1,status=503"], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let profile = profile_file(
        out.path(),
        "hooks",
        json!({ "whatsapp_webhook": { "stages": [{ "name": "s", "rate": 20, "duration": "2s" }] } }),
    );
    let mut cmd = relhost();
    cmd.args([
        "gameday",
        "--base-url",
        &sim.base_url,
        "--ops-token=test-ops-token",
    ])
    .arg("--profiles")
    .arg(&profile)
    .arg("--output-dir")
    .arg(out.path());
    let output = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let report = only_report(out.path(), "game-day-");
    assert_matches_schema(&report, "game-day");
    assert_eq!(report["status"], "aborted");
    assert_eq!(report["hypothesis_held_before"], false);
    assert_eq!(report["phases"].as_array().map(Vec::len), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("probe:whatsapp_webhook"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.contains("probe:whatsapp_webhook")
            && l.contains("owner messaging-integrations")
            && l.ends_with("runbook RUNBOOK.md#probe_status")),
        "{stdout}"
    );
    let drills = std::fs::read_dir(out.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("load-drill-"))
        .count();
    assert_eq!(drills, 0, "no drill ran");
}

#[test]
fn a_bad_plan_is_exit_2_naming_file_line_and_field() {
    let out = tempfile::tempdir().expect("tempdir");
    let plan = out.path().join("bad-plan.json");
    std::fs::write(
        &plan,
        "{\n  \"schema_version\": 1,\n  \"faults\": [\n    { \"at\": \"2s\", \"fault\": \"chat:provider_outage=tertiary\" }\n  ]\n}\n",
    )
    .expect("write");
    let mut cmd = relhost();
    cmd.args([
        "gameday",
        "--profiles=quick",
        "--base-url=http://127.0.0.1:9",
    ])
    .arg("--plan")
    .arg(&plan)
    .arg("--output-dir")
    .arg(out.path());
    let output = run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad-plan.json: line 4, column"), "{stderr}");
    assert!(stderr.contains("faults[0].fault"), "{stderr}");
}

#[test]
fn plans_follow_the_published_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let builtin: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("policies/game-day-plan.json")).expect("read"),
    )
    .expect("JSON");
    assert_matches_schema(&builtin, "game-day-plan");
}

#[test]
fn an_interrupted_game_day_clears_its_faults() {
    let sim = Sim::start(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let profile = profile_file(
        out.path(),
        "long",
        json!({ "whatsapp_webhook": { "stages": [{ "name": "s", "rate": 20, "duration": "30s" }] } }),
    );
    let plan = write_plan(
        out.path(),
        &json!({
            "schema_version": 1,
            "hypothesis": { "probes": true, "max_open_circuits": 0 },
            "faults": [ { "at": "200ms", "fault": "whatsapp:latency=10ms" } ]
        }),
    );
    assert_matches_schema(
        &serde_json::from_str(&std::fs::read_to_string(&plan).expect("read")).expect("JSON"),
        "game-day-plan",
    );
    let mut cmd = relhost();
    cmd.args([
        "gameday",
        "--base-url",
        &sim.base_url,
        "--ops-token=test-ops-token",
        "--grace=1s",
    ])
    .arg("--profiles")
    .arg(&profile)
    .arg("--plan")
    .arg(&plan)
    .arg("--output-dir")
    .arg(out.path());
    let pid_file = out.path().join("pid");
    let watcher = {
        let sim_url = sim.base_url.clone();
        let pid_file = pid_file.clone();
        std::thread::spawn(move || {
            // Wait until the fault is in force, then interrupt.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while std::time::Instant::now() < deadline {
                let (_, body) = call(
                    http::Method::GET,
                    &format!("{sim_url}/api/ops/faults"),
                    Some("test-ops-token"),
                    None,
                );
                if body["faults"].as_array().is_some_and(|f| !f.is_empty()) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let pid = std::fs::read_to_string(&pid_file).expect("pid");
            let _ = std::process::Command::new("kill")
                .args(["-TERM", pid.trim()])
                .status();
        })
    };
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    std::fs::write(&pid_file, child.id().to_string()).expect("write pid");
    let output = child.wait_with_output().expect("wait");
    watcher.join().expect("watcher");
    assert_eq!(output.status.code(), Some(130), "{}", describe(&output));
    let report = only_report(out.path(), "game-day-");
    assert_matches_schema(&report, "game-day");
    assert_eq!(report["status"], "interrupted");
    let now = snapshot(&sim, 1);
    assert!(
        now["faults"]["active"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "faults cleared: {}",
        now["faults"]
    );
}

#[test]
fn a_tool_outage_fills_the_dead_letter_queue_and_the_circuit_recovers() {
    let sim = Sim::start(
        &["--seed=7"],
        &[
            ("SIM_TOOL_CALL_PCT", "100"),
            ("TOOL_JOB_POLL_MS", "5"),
            ("TOOL_JOB_RETRY_BASE_MS", "10"),
            ("TOOL_JOB_MAX_ATTEMPTS", "2"),
            ("CIRCUIT_SERPER_THRESHOLD", "2"),
            ("CIRCUIT_SERPER_COOLDOWN_MS", "500"),
        ],
    );
    let out = tempfile::tempdir().expect("tempdir");
    let pool = make_pool(&sim, out.path(), "gdtools", 2);
    let profile = profile_file(
        out.path(),
        "tools",
        json!({ "chat_stream_http": { "stages": [
            { "name": "streams", "concurrency": 2, "duration": "3s", "requests": 16 }
        ] } }),
    );
    let plan = write_plan(
        out.path(),
        &json!({
            "schema_version": 1,
            "hypothesis": { "probes": false, "window_minutes": 1, "max_open_circuits": 0,
                            "max_5xx_ratio": 0.05, "max_p95_ms": 10000,
                            "checks": [ { "id": "tool_queued_age", "metric": "tool_queue.oldest_queued_age_ms",
                                          "comparator": "<=", "threshold": 1000 } ] },
            "faults": [ { "at": "0s", "fault": "serper:provider_outage=primary" } ],
            "recovery_timeout": "20s",
            "poll_interval": "200ms"
        }),
    );
    let mut cmd = relhost();
    cmd.args([
        "gameday",
        "--quiet",
        "--base-url",
        &sim.base_url,
        "--ops-token=test-ops-token",
    ])
    .arg("--profiles")
    .arg(&profile)
    .arg("--plan")
    .arg(&plan)
    .arg("--chat-auth-pool-file")
    .arg(&pool)
    .arg("--output-dir")
    .arg(out.path());
    let output = run_bounded(cmd, Duration::from_secs(120));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(out.path(), "game-day-");
    assert_eq!(report["status"], "recovered");
    assert_matches_schema(&report, "game-day");
    let drill = phase(&report, "drill:tools");
    let during = &drill["snapshot"]["highlights"]["tool_queue"];
    assert!(
        during["dead_lettered"].as_f64().is_some_and(|n| n > 0.0),
        "{during}"
    );
    assert!(
        during["retries"].as_f64().is_some_and(|n| n > 0.0),
        "{during}"
    );
    assert!(
        during["alerts_fired"].as_f64().is_some_and(|n| n > 0.0),
        "{during}"
    );
    // Recovery: the queue drained and nothing more was dead-lettered.
    let after = phase(&report, "after");
    let drained = &after["snapshot"]["highlights"]["tool_queue"];
    assert_eq!(drained["queued"], 0.0, "{drained}");
    assert_eq!(drained["dead_lettered"], 0.0, "{drained}");
    let checks = after["hypothesis"]["checks"].as_array().expect("checks");
    let age = checks
        .iter()
        .find(|c| c["name"] == "tool_queued_age")
        .expect("the plan's queued-age check");
    assert_eq!(
        (&age["verdict"], &age["owner"]),
        (&json!("pass"), &json!("tools-platform"))
    );
    let queue = &drill["snapshot"]["snapshot"]["tool_queue"];
    assert!(queue["dlq_size"].as_u64().is_some_and(|n| n > 0), "{queue}");
    assert!(
        queue["alerts"]["in_window"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["alert"] == "dlq")),
        "{queue}"
    );
    let transitions = &drill["snapshot"]["highlights"]["circuit_transitions"];
    assert!(
        transitions.as_array().is_some_and(|t| t
            .iter()
            .any(|t| t["provider"] == "serper" && t["to"] == "open")),
        "the Serper circuit opened: {transitions}"
    );
    let circuits = &phase(&report, "after")["snapshot"]["highlights"]["circuits"];
    assert!(
        circuits.as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["provider"] == "serper" && c["state"] != "open")),
        // Recovery waits for the circuit to leave `open`; whether its
        // half-open probe has closed it yet depends on the machine's speed.
        "the circuit left open once the fault was cleared: {circuits}"
    );
}
