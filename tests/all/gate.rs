//! `relhost gate` and `relhost milestone-gate` end to end: healthy targets
//! pass; injected faults fail the gate, naming the failing checks and their
//! owners; the CI outputs parse.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

fn failed_checks(report: &Value) -> Vec<(String, String, String)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["verdict"] == "fail")
        .map(|c| {
            (
                c["source"].as_str().unwrap_or_default().to_string(),
                c["name"].as_str().unwrap_or_default().to_string(),
                c["owner"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_healthy_release_gate_passes_with_ci_outputs() {
    let out = tempfile::tempdir().expect("tempdir");
    let mut cmd = relhost();
    cmd.args(["gate", "--profile=quick", "--output-dir"])
        .arg(out.path())
        .arg("--junit")
        .arg(out.path().join("gate.xml"))
        .arg("--summary")
        .arg(out.path().join("gate.md"));
    let output = run_bounded(cmd, Duration::from_secs(120));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(out.path(), "release-gate-");
    assert_matches_schema(&report, "release-gate");
    assert_eq!(report["status"], "pass");
    let sources: std::collections::BTreeSet<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["source"].as_str())
        .collect();
    assert_eq!(
        sources.into_iter().collect::<Vec<_>>(),
        ["burn_rate", "drill", "probe", "snapshot"],
        "every part of the gate ran"
    );
    assert!(
        report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .all(|c| c["owner"].as_str().is_some_and(|o| !o.is_empty()))
    );
    assert_eq!(report["burn_rate_gate"].as_array().map(Vec::len), Some(3));
    let dlq = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "dlq_size"))
        .expect("the DLQ check");
    assert_eq!(dlq["verdict"], "pass", "the sim has a tool queue: {dlq}");
    let drill = std::fs::read_to_string(report["drill_report"].as_str().expect("drill report"))
        .expect("drill report file");
    assert_valid_drill_report(&serde_json::from_str(&drill).expect("JSON"));

    let xml = std::fs::read_to_string(out.path().join("gate.xml")).expect("junit");
    let cases = junit_cases(&xml);
    assert_eq!(cases.len(), report["checks"].as_array().map_or(0, Vec::len));
    assert!(cases.iter().all(|(_, _, failed, _)| !failed));
    let md = std::fs::read_to_string(out.path().join("gate.md")).expect("summary");
    assert!(md.contains("PASS"), "{md}");
}

#[test]
fn faults_fail_the_release_gate_and_name_the_owners() {
    let sim = Sim::start(
        &[
            "--seed=3",
            "--fault=whatsapp:error_rate=0.3,status=503",
            "--fault=chat:provider_outage=primary",
        ],
        &[
            ("CIRCUIT_OPENROUTER_PRIMARY_THRESHOLD", "2"),
            ("CIRCUIT_OPENROUTER_PRIMARY_COOLDOWN_MS", "600000"),
        ],
    );
    let out = tempfile::tempdir().expect("tempdir");
    let pool = make_pool(&sim, out.path(), "gate", 2);
    let profile = profile_file(
        out.path(),
        "faulty-gate",
        json!({
            "whatsapp_webhook": { "stages": [{ "name": "steady", "rate": 50, "duration": "2s" }] },
            "chat_stream_http": { "stages": [{ "name": "streams", "concurrency": 2, "duration": "2s", "requests": 10 }] },
        }),
    );
    let mut cmd = relhost();
    cmd.args([
        "gate",
        "--base-url",
        &sim.base_url,
        "--ops-token=test-ops-token",
        "--profile",
    ])
    .arg(&profile)
    .arg("--chat-auth-pool-file")
    .arg(&pool)
    .arg("--output-dir")
    .arg(out.path())
    .arg("--junit")
    .arg(out.path().join("gate.xml"));
    let output = run_bounded(cmd, Duration::from_secs(120));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let report = only_report(out.path(), "release-gate-");
    assert_matches_schema(&report, "release-gate");
    assert_eq!(report["status"], "fail");
    let failed = failed_checks(&report);
    let has = |source: &str, name: &str| failed.iter().any(|(s, n, _)| s == source && n == name);
    assert!(has("drill", "rate_5xx"), "{failed:?}");
    assert!(has("burn_rate", "burn_rate"), "{failed:?}");
    let circuit = failed
        .iter()
        .find(|(s, n, _)| s == "snapshot" && n == "open_circuits");
    assert_eq!(
        circuit.map(|(_, _, owner)| owner.as_str()),
        Some("chat-platform"),
        "{failed:?}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("open_circuits") && stdout.contains("owner "),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("open_circuits") && l.ends_with("runbook RUNBOOK.md#open_circuits")),
        "a failing check names its runbook section: {stdout}"
    );
    let xml = std::fs::read_to_string(out.path().join("gate.xml")).expect("junit");
    assert!(
        junit_cases(&xml)
            .iter()
            .any(|(_, name, failed, _)| name == "open_circuits" && *failed)
    );
}

#[test]
fn a_scaled_down_milestone_gate_passes_and_fails_on_its_floors() {
    let sim = Sim::start(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let run = |pool_size: u32, dir: &str| {
        let pool = make_pool(
            &sim,
            &out.path().join(dir),
            &format!("ms{pool_size}"),
            pool_size,
        );
        let mut cmd = relhost();
        cmd.args([
            "milestone-gate",
            "--milestone=m1_1k",
            "--base-url",
            &sim.base_url,
            "--chat-concurrency-scale=0.01",
            "--chat-duration-scale=0.04",
            "--chat-load-scale=0.01",
            "--chat-auth-pool-file",
        ])
        .arg(&pool)
        .arg("--output-dir")
        .arg(out.path().join(dir))
        .arg("--junit")
        .arg(out.path().join(dir).join("milestone.xml"));
        let output = run_bounded(cmd, Duration::from_secs(120));
        (
            output,
            only_report(&out.path().join(dir), "milestone-gate-m1_1k-"),
        )
    };
    // Ten users at 1% of 1,000 streams: every floor is met.
    let (output, report) = run(10, "pass");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_matches_schema(&report, "milestone-gate");
    assert_eq!(report["config"]["concurrency_floor"], 10.0);
    assert_eq!(report["achieved_concurrency"], 10, "{report:#}");
    assert!(
        junit_cases(
            &std::fs::read_to_string(out.path().join("pass/milestone.xml")).expect("junit")
        )
        .len()
            == 6
    );

    // Region readiness takes the milestone gate's result as its evidence.
    let mut cmd = relhost();
    cmd.args([
        "region-readiness",
        "--expected-peak-streams=5",
        "--output-dir",
    ])
    .arg(out.path().join("pass"));
    let output = run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let readiness = only_report(&out.path().join("pass"), "region-readiness-");
    let evidence = &readiness["evidence"][0];
    assert!(
        evidence["report"]
            .as_str()
            .is_some_and(|r| r.starts_with("milestone-gate-m1_1k-")),
        "{readiness:#}"
    );
    assert_eq!(
        (
            evidence["achieved_concurrency"].as_u64(),
            evidence["passed"].as_bool()
        ),
        (Some(10), Some(true))
    );

    // Five users cannot meet the floor of ten distinct users.
    let (output, report) = run(5, "fail");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_matches_schema(&report, "milestone-gate");
    assert_eq!(
        failed_checks(&report)
            .iter()
            .map(|(_, n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["unique_users"]
    );
}

#[test]
fn a_tool_outage_fails_the_gate_on_the_dead_letter_queue() {
    let sim = Sim::start(
        &["--fault=serper:provider_outage=primary"],
        &[
            ("SIM_TOOL_CALL_PCT", "100"),
            ("TOOL_JOB_POLL_MS", "5"),
            ("TOOL_JOB_RETRY_BASE_MS", "10"),
            ("TOOL_JOB_MAX_ATTEMPTS", "2"),
        ],
    );
    let out = tempfile::tempdir().expect("tempdir");
    let pool = make_pool(&sim, out.path(), "tools", 2);
    let profile = profile_file(
        out.path(),
        "tool-outage",
        json!({ "chat_stream_http": { "stages": [
            { "name": "streams", "concurrency": 2, "duration": "2s", "requests": 10 }
        ] } }),
    );
    let mut cmd = relhost();
    cmd.args([
        "gate",
        "--base-url",
        &sim.base_url,
        "--ops-token=test-ops-token",
        "--profile",
    ])
    .arg(&profile)
    .arg("--chat-auth-pool-file")
    .arg(&pool)
    .arg("--output-dir")
    .arg(out.path());
    let output = run_bounded(cmd, Duration::from_secs(120));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let report = only_report(out.path(), "release-gate-");
    let check = |name: &str| {
        report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("the {name} check ran"))
            .clone()
    };
    let dlq = check("dlq_size");
    assert_eq!(dlq["verdict"], "fail", "{dlq}");
    assert_eq!(dlq["owner"], "tools-platform");
    assert!(dlq["observed"].as_f64().is_some_and(|n| n > 0.0), "{dlq}");
    // The dead letters fired the target's DLQ alert too.
    let alerts = check("tool_queue_alerts");
    assert_eq!(alerts["verdict"], "fail", "{alerts}");
    assert_eq!(alerts["owner"], "tools-platform");
    // Jobs neither wait nor hang once dead-lettered.
    for age in ["tool_queued_age", "tool_running_age"] {
        assert_eq!(check(age)["verdict"], "pass", "{}", check(age));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.lines().any(|l| l.contains("dlq_size")
            && l.contains("owner Tools Platform (#tools-oncall)")
            && l.ends_with("runbook RUNBOOK.md#dlq_size")),
        "the DLQ check names its owner and runbook section: {stdout}"
    );
    let queue = &report["snapshot"]["snapshot"]["tool_queue"];
    assert!(
        queue["by_kind"][0]["retries"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{queue}"
    );
}
