//! relhost against a backend reached only as a Convex deployment is: HTTP
//! actions on one address (`NAME.convex.site`), the function API on
//! another (`NAME.convex.cloud`), no REST ops routes. The snapshot, the
//! release gate and the game day read `ops:getReliabilitySnapshot`; the
//! seed's pool command signs users up through Better Auth and creates their
//! threads with a mutation; tool-cache stats and clear; `convex run`.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(120);

/// `relhost ARGS --base-url=SITE --convex-url=CLOUD --output-dir=OUT` with
/// `key` as `CONVEX_DEPLOY_KEY`.
fn against(sim: &Sim, key: &str, args: &[&str], out: &Path) -> std::process::Output {
    let mut cmd = relhost();
    cmd.args(args)
        .arg(format!("--base-url={}", sim.base_url))
        .arg(format!("--convex-url={}", sim.functions_url))
        .arg("--output-dir")
        .arg(out)
        .env("CONVEX_DEPLOY_KEY", key);
    run_bounded(cmd, LIMIT)
}

/// A snapshot read through the function API, as the deploy key's admin.
fn snapshot(sim: &Sim) -> Value {
    let out = tempfile::tempdir().expect("tempdir");
    let output = against(sim, DEPLOY_KEY, &["snapshot", "--quiet"], out.path());
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    only_report(out.path(), "reliability-snapshot-")["snapshot"].clone()
}

fn mutations_answered(snapshot: &Value) -> u64 {
    snapshot["requests"]["by_endpoint_status"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["endpoint"] == "POST /api/mutation" && r["status"] == 200)
        .filter_map(|r| r["count"].as_u64())
        .sum()
}

#[test]
fn snapshot_gate_and_gameday_pass_through_the_function_api_alone() {
    let sim = Sim::start_convex(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");

    let output = against(&sim, DEPLOY_KEY, &["snapshot", "--minutes=5"], out.path());
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(out.path(), "reliability-snapshot-");
    assert_matches_schema(&report, "reliability-snapshot");
    assert_eq!(report["request"]["source"]["kind"], "convex_function");
    assert_eq!(
        report["request"]["source"]["function"],
        "ops:getReliabilitySnapshot"
    );
    assert_eq!(report["snapshot"]["window_minutes"], 5);
    assert!(!describe(&output).contains(DEPLOY_KEY));
    assert!(
        !std::fs::read_to_string(
            out.path()
                .read_dir()
                .expect("dir")
                .next()
                .expect("a file")
                .expect("entry")
                .path()
        )
        .expect("report")
        .contains(DEPLOY_KEY)
    );

    let pool = make_pool(&sim, out.path(), "cxgate", 2);
    let pool_arg = format!("--chat-auth-pool-file={}", pool.display());
    let output = against(
        &sim,
        DEPLOY_KEY,
        &["gate", "--profile=quick", &pool_arg, "--quiet"],
        out.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(out.path(), "release-gate-");
    assert_matches_schema(&report, "release-gate");
    assert_eq!(
        report["config"]["snapshot_source"]["kind"],
        "convex_function"
    );
    assert!(
        report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .any(|c| c["source"] == "snapshot" && c["verdict"] == "pass"),
        "snapshot checks ran"
    );

    let output = against(
        &sim,
        DEPLOY_KEY,
        &["gameday", "--profiles=quick", &pool_arg, "--quiet"],
        out.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(out.path(), "game-day-");
    assert_matches_schema(&report, "game-day");
    assert!(
        report["phases"][0]["snapshot"]["error"].is_null(),
        "{}",
        report["phases"][0]
    );
}

#[test]
fn a_wrong_deploy_key_or_a_failing_function_is_named() {
    let sim = Sim::start_convex(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let output = against(&sim, "wrong-key-9876543210", &["snapshot"], out.path());
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ops:getReliabilitySnapshot") && stderr.contains("CONVEX_DEPLOY_KEY"),
        "{stderr}"
    );
    assert!(!describe(&output).contains("wrong-key-9876543210"));

    let failing = Sim::start_convex(&["--fault=functions:error_rate=1"], &[]);
    let profile = profile_file(
        out.path(),
        "webhooks-only",
        json!({ "whatsapp_webhook": { "stages": [{ "name": "steady", "rate": 20, "duration": "1s" }] } }),
    );
    let mut cmd = relhost();
    cmd.args(["gate", "--quiet", "--profile"])
        .arg(&profile)
        .arg(format!("--base-url={}", failing.base_url))
        .arg(format!("--convex-url={}", failing.functions_url))
        .arg("--output-dir")
        .arg(out.path())
        .env("CONVEX_DEPLOY_KEY", DEPLOY_KEY);
    let output = run_bounded(cmd, LIMIT);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let report = only_report(out.path(), "release-gate-");
    let snapshot_check = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["source"] == "snapshot")
        .expect("a snapshot check")
        .clone();
    assert_eq!(snapshot_check["verdict"], "fail");
    let message = snapshot_check["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("ops:getReliabilitySnapshot failed"),
        "{message}"
    );

    let mut cmd = relhost();
    cmd.args(["gameday", "--quiet", "--profiles"])
        .arg(&profile)
        .arg(format!("--base-url={}", failing.base_url))
        .arg(format!("--convex-url={}", failing.functions_url))
        .arg("--output-dir")
        .arg(out.path())
        .env("CONVEX_DEPLOY_KEY", DEPLOY_KEY);
    let output = run_bounded(cmd, LIMIT);
    assert_eq!(
        output.status.code(),
        Some(3),
        "the hypothesis cannot hold: aborted; {}",
        describe(&output)
    );
    let report = only_report(out.path(), "game-day-");
    assert_eq!(report["status"], "aborted");
    let error = report["phases"][0]["snapshot"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("ops:getReliabilitySnapshot failed"),
        "{error}"
    );
}

#[test]
fn the_seeds_pool_command_creates_threads_by_mutation_and_the_drill_passes() {
    let sim = Sim::start_convex(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    for (prefix, extra) in [
        ("cxpool", None),
        ("cxjwt", Some("--convex-token-path=/api/auth/convex/token")),
    ] {
        let mut cmd = relhost();
        cmd.args(["pool", "--count=4", "--seed=20260219a", "--output-dir"])
            .arg(out.path())
            .arg(format!("--prefix={prefix}"))
            .arg(format!("--app-origin={}", sim.base_url))
            .arg(format!("--convex-url={}", sim.functions_url))
            .args(extra);
        let output = run_bounded(cmd, LIMIT);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        let path = out
            .path()
            .join(format!("chat-auth-pool-{prefix}-20260219a-1-4.json"));
        let entries = relhost::pool::load_pool_file(&path).expect("a pool file");
        assert_eq!(entries.len(), 4);
        for entry in &entries {
            assert!(
                !describe(&output).contains(&entry.auth_token),
                "token printed"
            );
        }
    }
    assert_eq!(
        mutations_answered(&snapshot(&sim)),
        8,
        "8 threads:create mutations"
    );

    let pool = out.path().join("chat-auth-pool-cxjwt-20260219a-1-4.json");
    let mut cmd = relhost();
    cmd.args([
        "drill",
        "--profile=quick",
        "--scenarios=chat_stream_http",
        "--quiet",
        "--output-dir",
    ])
    .arg(out.path())
    .arg(format!("--chat-auth-pool-file={}", pool.display()))
    .arg(format!("--convex-url={}", sim.functions_url))
    .arg(format!("--base-url={}", sim.base_url));
    let output = run_bounded(cmd, LIMIT);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(out.path(), "load-drill-");
    let chat = scenario(&report, "chat_stream_http");
    assert_eq!(chat["slo_gate"]["verdict"], "pass");
    assert_eq!(chat["credentials"]["pool_size"], 4);
    assert_eq!(snapshot(&sim)["unique_users"], 4, "every pool user chatted");
}

#[test]
fn tool_cache_stats_and_clear_change_what_the_snapshot_shows() {
    let sim = Sim::start_convex(&[], &[("SIM_TOOL_CALL_PCT", "100")]);
    let (status, user) = call(
        http::Method::POST,
        &format!("{}/api/auth/sign-up/email", sim.base_url),
        None,
        Some(json!({"email": "cache@example.com", "password": "password-123", "name": "c"})),
    );
    assert_eq!(status, 200, "{user}");
    let token = user["token"].as_str().expect("token").to_owned();
    let (_, thread) = call(
        http::Method::POST,
        &format!("{}/api/threads", sim.base_url),
        Some(&token),
        Some(json!({})),
    );
    let thread = thread["threadId"].as_str().expect("thread").to_owned();
    for _ in 0..3 {
        let (status, _) = call(
            http::Method::POST,
            &format!("{}/api/chat", sim.base_url),
            Some(&token),
            Some(json!({"threadId": thread, "message": "best running shoes"})),
        );
        assert_eq!(status, 200);
    }
    let before = snapshot(&sim);
    assert_eq!(
        before["tool_cache"]["hits_total"], 2,
        "{}",
        before["tool_cache"]
    );
    let namespace = before["tool_cache"]["namespaces"][0]["namespace"]
        .as_str()
        .expect("a namespace")
        .to_owned();
    assert_eq!(before["tool_cache"]["namespaces"][0]["entries"], 1);

    let out = tempfile::tempdir().expect("tempdir");
    let output = against(
        &sim,
        DEPLOY_KEY,
        &["tool-cache", "stats", "--limit=5000"],
        out.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("namespace") && stdout.contains(&namespace),
        "{stdout}"
    );
    let report = only_report(out.path(), "tool-cache-stats-");
    assert_matches_schema(&report, "tool-cache");
    assert_eq!(report["request"]["args"], json!({"limit": 5000}));
    assert_eq!(report["result"]["namespaces"][0]["hits"], 2);

    let ns_arg = format!("--namespace={namespace}");
    let output = against(
        &sim,
        DEPLOY_KEY,
        &["tool-cache", "clear", &ns_arg],
        out.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(out.path(), "tool-cache-clear-");
    assert_matches_schema(&report, "tool-cache");
    assert_eq!(report["result"]["deleted"], 1);
    assert_eq!(
        snapshot(&sim)["tool_cache"]["namespaces"][0]["entries"],
        0,
        "cleared"
    );

    let output = against(
        &sim,
        "wrong-key-9876543210",
        &["tool-cache", "clear", &ns_arg],
        out.path(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("toolCache:clearNamespace"));
}

#[test]
fn convex_run_prints_values_and_names_failures() {
    let sim = Sim::start_convex(&[], &[]);
    let run = |args: &[&str], key: &str| {
        let mut cmd = relhost();
        cmd.args(["convex", "run"])
            .args(args)
            .arg(format!("--convex-url={}", sim.functions_url))
            .env("CONVEX_DEPLOY_KEY", key);
        run_bounded(cmd, LIMIT)
    };
    let output = run(
        &[
            "ops:getReliabilitySnapshot",
            r#"{"minutes":30,"limit":100}"#,
        ],
        DEPLOY_KEY,
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let value: Value = serde_json::from_slice(&output.stdout).expect("the value as JSON");
    assert_eq!(value["window_minutes"], 30);

    let output = run(
        &["ops:getReliabilitySnapshot", r#"{"minutes":0}"#],
        DEPLOY_KEY,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("ops:getReliabilitySnapshot failed"));
    let output = run(
        &[
            "--kind=mutation",
            "toolCache:clearNamespace",
            r#"{"namespace":"search_web_v1"}"#,
        ],
        DEPLOY_KEY,
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let output = run(&["ops:getReliabilitySnapshot"], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("internal functions need the deploy key")
    );
    let output = run(&["ops", "{}"], DEPLOY_KEY);
    assert_eq!(output.status.code(), Some(2), "a path without ':'");
    let output = run(&["ops:x", "[1]"], DEPLOY_KEY);
    assert_eq!(
        output.status.code(),
        Some(2),
        "arguments that are not an object"
    );
}
