//! `relhost snapshot`, `relhost probe` and `relhost region-readiness` end to
//! end: the real binary against the real sim.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// Variables of these commands that the tests control.
const OPS_ENV: &[&str] = &[
    "RELIABILITY_EXPECTED_PEAK_STREAMS",
    "RELIABILITY_REGION_ID",
    "RELIABILITY_TOPOLOGY_MODE",
    "RELIABILITY_REGION_READINESS_ONLY",
    "RELIABILITY_RELEASE_GATE_POLICY",
    "RELIABILITY_OWNERSHIP_MATRIX",
    "RELIABILITY_REGION_ROLLOUT_POLICY",
    "RELIABILITY_CHAT_AUTH_POOL_JSON",
    "RELIABILITY_CHAT_AUTH_POOL_FILE",
];

fn cmd(args: &[&str], out: &Path) -> Command {
    let mut cmd = relhost();
    for name in OPS_ENV {
        cmd.env_remove(name);
    }
    cmd.args(args).arg("--output-dir").arg(out);
    cmd
}

fn run(cmd: Command) -> Output {
    run_bounded(cmd, Duration::from_secs(60))
}

/// A user with a thread on the sim: (token, thread id).
fn chat_user(sim: &Sim) -> (String, String) {
    let (status, body) = call(
        http::Method::POST,
        &format!("{}/api/auth/sign-up/email", sim.base_url),
        None,
        Some(
            json!({"email": "probe@example.com", "password": "probe-password-1", "name": "probe"}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().expect("token").to_string();
    let (status, body) = call(
        http::Method::POST,
        &format!("{}/api/threads", sim.base_url),
        Some(&token),
        Some(json!({})),
    );
    assert_eq!(status, 200, "{body}");
    (
        token,
        body["threadId"].as_str().expect("threadId").to_string(),
    )
}

fn probe_cmd(sim: &Sim, out: &Path, extra: &[&str]) -> Command {
    let (token, thread) = chat_user(sim);
    let base = format!("--base-url={}", sim.base_url);
    let mut args = vec!["probe", base.as_str()];
    args.extend_from_slice(extra);
    let mut c = cmd(&args, out);
    c.env("RELIABILITY_AUTH_TOKEN", token)
        .env("RELIABILITY_THREAD_ID", thread);
    c
}

#[test]
fn probe_passes_on_a_healthy_sim_and_writes_junit_and_summary() {
    let sim = Sim::start(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let junit = out.path().join("ci/probe.xml");
    let summary = out.path().join("ci/probe.md");
    let mut c = probe_cmd(&sim, out.path(), &[]);
    c.arg(format!("--junit={}", junit.display()))
        .arg(format!("--summary={}", summary.display()));
    let token = env_of(&c, "RELIABILITY_AUTH_TOKEN");
    let output = run(c);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("probes: PASS"), "{stdout}");
    let report = only_report(out.path(), "synthetic-probes-");
    assert_matches_schema(&report, "synthetic-probes");
    assert_eq!(report["status"], "pass");
    let probes = report["probes"].as_array().expect("probes");
    assert_eq!(probes.len(), 3);
    for p in probes {
        assert_eq!(p["verdict"], "pass", "{p}");
        assert_eq!(p["attempts"], 1);
        assert_eq!(p["status"], 200);
    }
    assert!(
        !report.to_string().contains(&token),
        "the bearer token leaked into the report"
    );
    assert!(!stdout.contains(&token), "the bearer token was printed");

    let cases = junit_cases(&std::fs::read_to_string(&junit).expect("junit written"));
    assert_eq!(cases.len(), 9, "{cases:?}");
    assert!(
        cases
            .iter()
            .all(|(_, _, failed, skipped)| !failed && !skipped)
    );
    assert!(
        cases
            .iter()
            .any(|(c, n, _, _)| c == "probe.chat_stream_http" && n == "body")
    );
    let md = std::fs::read_to_string(&summary).expect("summary written");
    assert!(md.starts_with("# relhost probe\n"), "{md}");
    assert!(
        md.contains("| chat_stream_http: body | chat-platform |"),
        "{md}"
    );
}

/// The value a command sets for `name`.
fn env_of(c: &Command, name: &str) -> String {
    c.get_envs()
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v)
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_else(|| panic!("{name} is not set"))
}

#[test]
fn probe_fails_on_injected_faults_and_names_the_failing_probes() {
    let sim = Sim::start(
        &[
            "--fault=whatsapp:error_rate=1,status=503",
            "--fault=chat:provider_outage=both",
        ],
        &[],
    );
    let out = tempfile::tempdir().expect("tempdir");
    let junit = out.path().join("probe.xml");
    let mut c = probe_cmd(&sim, out.path(), &["--retries=1", "--backoff=10ms"]);
    c.arg(format!("--junit={}", junit.display()));
    let output = run(c);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("probes: FAIL (whatsapp_webhook, chat_stream_http)"),
        "{stdout}"
    );
    assert!(stdout.contains("status failed: observed 503"), "{stdout}");
    assert!(stdout.contains("body failed"), "{stdout}");

    let report = only_report(out.path(), "synthetic-probes-");
    assert_matches_schema(&report, "synthetic-probes");
    assert_eq!(report["status"], "fail");
    let probe = |name: &str| -> &Value {
        report["probes"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["scenario"] == name))
            .expect("probe")
    };
    assert_eq!(probe("gmail_push_webhook")["verdict"], "pass");
    let wa = probe("whatsapp_webhook");
    assert_eq!(
        (
            wa["verdict"].as_str(),
            wa["status"].as_u64(),
            wa["attempts"].as_u64()
        ),
        (Some("fail"), Some(503), Some(2))
    );
    // The provider outage arrives as `event: error` inside a 200.
    let chat = probe("chat_stream_http");
    assert_eq!(chat["status"], 200, "{chat}");
    assert_eq!(chat["verdict"], "fail");
    let body = chat["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "body"))
        .expect("body check");
    assert_eq!(body["verdict"], "fail");
    assert!(
        body["observed"]
            .as_str()
            .is_some_and(|o| o.contains("1 error event")),
        "{body}"
    );

    let cases = junit_cases(&std::fs::read_to_string(&junit).expect("junit written"));
    let failed: Vec<String> = cases
        .iter()
        .filter(|c| c.2)
        .map(|c| format!("{}.{}", c.0, c.1))
        .collect();
    assert_eq!(
        failed,
        [
            "probe.whatsapp_webhook.status",
            "probe.chat_stream_http.body"
        ]
    );
}

#[test]
fn probe_against_nothing_cannot_run() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let out = tempfile::tempdir().expect("tempdir");
    let base = format!("--base-url=http://127.0.0.1:{port}");
    let output = run(cmd(&["probe", &base], out.path()));
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unreachable"));
}

#[test]
fn snapshot_prints_saves_and_reflects_traffic() {
    let sim = Sim::start(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let output = run(probe_cmd(
        &sim,
        out.path(),
        &["--scenarios=whatsapp_webhook,gmail_push_webhook", "--quiet"],
    ));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    let base = format!("--base-url={}", sim.base_url);
    let junit = out.path().join("snapshot.xml");
    let mut c = cmd(
        &["snapshot", &base, "--minutes=5", "--limit=50"],
        out.path(),
    );
    c.env("RELIABILITY_OPS_TOKEN", "test-ops-token")
        .arg(format!("--junit={}", junit.display()));
    let output = run(c);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for section in [
        "requests (total",
        "latency",
        "circuits",
        "rate-limit rejections",
        "bulkheads",
        "admission",
        "provider failovers",
        "effective knobs",
    ] {
        assert!(stdout.contains(section), "no {section} in {stdout}");
    }
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("POST /api/whatsapp/webhook")
                && l.split_whitespace().nth(2) == Some("200")),
        "{stdout}"
    );
    assert!(stdout.contains("RATE_LIMIT_CHAT_STREAM_MAX"), "{stdout}");
    assert!(
        !stdout.contains("test-ops-token"),
        "the ops token was printed"
    );
    let saved = only_report(out.path(), "reliability-snapshot-");
    assert_matches_schema(&saved, "reliability-snapshot");
    assert_eq!(saved["status"], "pass");
    assert_eq!(saved["snapshot"]["window_minutes"], 5);
    assert_eq!(saved["request"]["source"]["kind"], "rest");
    assert_eq!(saved["request"]["source"]["ops_token"], "<set>");
    assert!(!saved.to_string().contains("test-ops-token"));
    let wa: u64 = saved["snapshot"]["requests"]["by_endpoint_status"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["endpoint"] == "POST /api/whatsapp/webhook" && r["status"] == 200)
        .filter_map(|r| r["count"].as_u64())
        .sum();
    assert_eq!(wa, 1, "the probe's webhook shows in the snapshot");
    let cases = junit_cases(&std::fs::read_to_string(&junit).expect("junit"));
    assert_eq!(
        cases,
        [(
            "snapshot".to_string(),
            "snapshot_reachable".to_string(),
            false,
            false
        )]
    );
}

#[test]
fn snapshot_with_a_wrong_token_is_a_failed_check_with_the_reason() {
    let sim = Sim::start(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let base = format!("--base-url={}", sim.base_url);
    let summary = out.path().join("s.md");
    let mut c = cmd(
        &["snapshot", &base, "--ops-token=not-the-token"],
        out.path(),
    );
    c.arg(format!("--summary={}", summary.display()));
    let output = run(c);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("answered 401: the ops token is missing or wrong"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let all = format!("{}{stderr}", String::from_utf8_lossy(&output.stdout));
    assert!(
        !all.contains("not-the-token"),
        "the token was printed: {all}"
    );
    let saved = only_report(out.path(), "reliability-snapshot-");
    assert_matches_schema(&saved, "reliability-snapshot");
    assert_eq!(saved["status"], "fail");
    assert!(saved["error"].as_str().is_some_and(|e| e.contains("401")));
    assert!(!saved.to_string().contains("not-the-token"), "{saved}");
    let md = std::fs::read_to_string(&summary).expect("summary");
    assert!(md.contains("**FAIL**") && md.contains("401"), "{md}");

    // A path that answers something other than the snapshot: 404 JSON.
    let output = run(cmd(
        &[
            "snapshot",
            &base,
            "--ops-token=test-ops-token",
            "--snapshot-path=/api/nope",
        ],
        out.path(),
    ));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("answered 404"),
        "{}",
        describe(&output)
    );
}

#[test]
fn snapshot_of_an_unreachable_target_cannot_run() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let out = tempfile::tempdir().expect("tempdir");
    let base = format!("--base-url=http://127.0.0.1:{port}");
    let output = run(cmd(&["snapshot", &base], out.path()));
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unreachable: connect_refused"));
}

/// A minimal milestone drill report: the chat scenario at `concurrency`.
fn milestone_report(dir: &Path, milestone: &str, stamp: &str, concurrency: u64, verdict: &str) {
    let report = json!({
        "schema_version": 1, "kind": "load_drill", "status": if verdict == "pass" { "pass" } else { "fail" },
        "finished_at": "2026-01-01T00:00:00.000Z", "profile": milestone,
        "scenarios": [{
            "name": "chat_stream_http",
            "stages": [
                {"name": "warmup", "load": {"model": "closed", "concurrency": concurrency / 10, "think_time_s": 0.0}, "requests": 10, "peak_concurrency": concurrency / 10},
                {"name": "hold", "load": {"model": "closed", "concurrency": concurrency, "think_time_s": 0.0}, "requests": 100, "peak_concurrency": concurrency}
            ],
            "slo_gate": {"verdict": verdict, "checks": []}
        }]
    });
    std::fs::create_dir_all(dir).expect("dir");
    std::fs::write(
        dir.join(format!("load-drill-{milestone}-{stamp}.json")),
        serde_json::to_vec_pretty(&report).expect("serialize"),
    )
    .expect("write");
}

fn readiness(out: &Path, peak: &str, env: &[(&str, &str)]) -> (Output, Value) {
    let reports = out.join("reports");
    let mut c = cmd(
        &[
            "region-readiness",
            &format!("--expected-peak-streams={peak}"),
        ],
        &reports,
    );
    c.envs(env.iter().copied());
    let output = run(c);
    let newest = std::fs::read_dir(&reports)
        .expect("reports")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("region-readiness-"))
        })
        .max()
        .expect("a region readiness report");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&newest).expect("read")).expect("JSON");
    std::fs::remove_file(newest).expect("remove");
    assert_matches_schema(&report, "region-readiness");
    (output, report)
}

#[test]
fn region_readiness_flips_as_the_expected_peak_crosses_capacity() {
    let out = tempfile::tempdir().expect("tempdir");
    let reports = out.path().join("reports");
    milestone_report(&reports, "m1_1k", "20260101T000000Z", 1000, "fail");
    milestone_report(&reports, "m1_1k", "20260102T000000Z", 1000, "pass"); // newer: counts
    milestone_report(&reports, "m2_5k", "20260102T000000Z", 5000, "pass");

    // Capacity 20000, headroom 1.25: standby above 0.8, active-active above 1.0.
    let (output, r) = readiness(
        out.path(),
        "5000",
        &[("RELIABILITY_REGION_ID", "eu-west-1")],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(r["decision"]["required_topology"], "single_region");
    assert_eq!(r["decision"]["proven_streams"], 5000);
    assert_eq!(r["region_id"], "eu-west-1");
    assert_eq!(r["evidence"].as_array().map(Vec::len), Some(2));
    assert!(String::from_utf8_lossy(&output.stdout).contains("single_region suffices"));

    let (output, r) = readiness(out.path(), "14000", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(r["status"], "fail");
    assert_eq!(r["decision"]["required_topology"], "active_standby");
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("multi-region program TRIGGERED: active_standby needed")
    );

    let (output, r) = readiness(out.path(), "30000", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(r["decision"]["required_topology"], "active_active");

    // The same peak with active-active in place suffices; readiness-only never fails.
    let (output, _) = readiness(
        out.path(),
        "30000",
        &[("RELIABILITY_TOPOLOGY_MODE", "active_active")],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let (output, r) = readiness(
        out.path(),
        "30000",
        &[("RELIABILITY_REGION_READINESS_ONLY", "true")],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        (r["status"].as_str(), r["readiness_only"].as_bool()),
        (Some("fail"), Some(true))
    );

    // A failed m3_20k at 8000 streams lowers the capacity: 5000 × 1.25 / 8000 > 0.8.
    milestone_report(&reports, "m3_20k", "20260103T000000Z", 8000, "fail");
    let (output, r) = readiness(out.path(), "5500", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(r["decision"]["effective_capacity_streams"], 8000);
    assert_eq!(r["decision"]["required_topology"], "active_standby");
}

#[test]
fn a_policy_naming_an_unknown_owner_is_bad_input_with_file_line_and_field() {
    let out = tempfile::tempdir().expect("tempdir");
    let policy = out.path().join("gate.json");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/release-gate-policy.json"),
    )
    .expect("policy");
    std::fs::write(
        &policy,
        text.replacen(
            "\"owner\": \"messaging-integrations\"",
            "\"owner\": \"edge-team\"",
            1,
        ),
    )
    .expect("write");
    let output = run(cmd(
        &["probe", &format!("--policy={}", policy.display())],
        out.path(),
    ));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "gate.json: line 32, column 16: snapshot_checks[1].owner: unknown owner \"edge-team\""
        ),
        "{stderr}"
    );
}
