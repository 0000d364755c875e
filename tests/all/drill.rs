//! `relhost drill` end to end: the real binary against the real sim.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

fn check<'a>(scenario: &'a Value, name: &str) -> &'a Value {
    scenario["slo_gate"]["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name}"))
}

fn assert_counts_add_up(scenario: &Value) {
    let totals = &scenario["totals"];
    let sent = totals["requests"].as_u64().expect("requests");
    assert_eq!(
        sent,
        sum_counts(&totals["status_counts"]) + sum_counts(&totals["network_errors"]),
        "sent != statuses + network errors in {totals}"
    );
    let stage_sum: u64 = scenario["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["requests"].as_u64().expect("stage requests"))
        .sum();
    assert_eq!(sent, stage_sum, "stages do not add up to the totals");
}

#[test]
fn quick_drill_of_the_built_in_target_passes() {
    let out = tempfile::tempdir().expect("tempdir");
    let mut cmd = relhost();
    cmd.args(["drill", "--quick=true", "--output-dir"])
        .arg(out.path());
    let output = run_bounded(cmd, Duration::from_secs(90));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("drilling the built-in relhost-sim at http://127.0.0.1:"),
        "{stderr}"
    );
    let report = only_report(out.path(), "load-drill-quick-");
    assert_valid_drill_report(&report);
    assert_eq!(report["status"], "pass");
    assert_eq!(report["target"]["in_process_sim"], true);
    for name in ["gmail_push_webhook", "whatsapp_webhook", "chat_stream_http"] {
        let s = scenario(&report, name);
        assert!(
            s["totals"]["requests"].as_u64().unwrap_or(0) > 0,
            "{name} sent nothing"
        );
        assert_eq!(
            s["slo_gate"]["verdict"], "pass",
            "{name}: {}",
            s["slo_gate"]
        );
        assert_counts_add_up(s);
    }
    let plugins = report["plugins"].as_array().expect("plugins");
    assert!(
        plugins
            .iter()
            .all(|p| p["sha256"].as_str().is_some_and(|d| d.len() == 64))
    );
    // SSE figures are present and plausible.
    let sse = &scenario(&report, "chat_stream_http")["totals"]["sse"];
    assert!(sse["streams"].as_u64().unwrap_or(0) > 0, "{sse}");
    assert!(
        sse["events_per_stream"].as_f64().unwrap_or(0.0) >= 1.0,
        "{sse}"
    );
    let first_event = sse["first_event_ms"]["p50"].as_f64().expect("first event");
    let duration = sse["stream_duration_ms"]["p50"].as_f64().expect("duration");
    assert!(first_event > 0.0 && first_event <= duration, "{sse}");
    assert_eq!(sse["streams_cut"], 0, "{sse}");
    // Four users: the chat stage held (about) four streams at once, never more.
    let peak = scenario(&report, "chat_stream_http")["stages"][0]["peak_concurrency"]
        .as_u64()
        .expect("peak_concurrency");
    assert!((3..=4).contains(&peak), "peak concurrency {peak}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("report: "), "{stdout}");
}

#[test]
fn injected_faults_are_counted_exactly_and_fail_the_gate() {
    let sim = Sim::start(
        &[
            "--seed=7",
            "--fault=whatsapp:error_rate=0.05,status=503",
            "--fault=gmail:reset_rate=0.05",
        ],
        &[],
    );
    let out = tempfile::tempdir().expect("tempdir");
    let profile = profile_file(
        out.path(),
        "faulty",
        json!({
            "whatsapp_webhook": { "stages": [rate_stage("steady", 200, 2)] },
            "gmail_push_webhook": { "stages": [rate_stage("steady", 200, 2)] },
        }),
    );
    let mut cmd = relhost();
    cmd.args(["drill", "--base-url", &sim.base_url, "--profile"])
        .arg(&profile)
        .arg("--output-dir")
        .arg(out.path());
    let output = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let report = only_report(out.path(), "load-drill-faulty-");
    assert_valid_drill_report(&report);
    assert_eq!(report["status"], "fail");

    let whatsapp = scenario(&report, "whatsapp_webhook");
    assert_eq!(whatsapp["totals"]["requests"], 400);
    assert_counts_add_up(whatsapp);
    let errors = whatsapp["totals"]["status_counts"]["503"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        (5..=45).contains(&errors),
        "about 5% of 400 should be 503: {errors}"
    );
    assert_eq!(whatsapp["slo_gate"]["verdict"], "fail");
    assert_eq!(check(whatsapp, "rate_5xx")["verdict"], "fail");

    let gmail = scenario(&report, "gmail_push_webhook");
    assert_eq!(gmail["totals"]["requests"], 400);
    assert_counts_add_up(gmail);
    let resets = sum_counts(&gmail["totals"]["network_errors"]);
    assert!(
        (5..=45).contains(&resets),
        "about 5% of 400 should be network errors: {}",
        gmail["totals"]
    );
    // Each class says what it was, in words, with counts adding up.
    let reasons = gmail["totals"]["network_error_reasons"]
        .as_object()
        .expect("reasons");
    let explained: u64 = reasons
        .values()
        .flat_map(|r| r.as_array().expect("list").iter())
        .map(|r| r["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(explained, resets, "{reasons:?}");
    assert!(
        reasons
            .values()
            .flatten_reasons()
            .any(|r| r.contains("reset by peer")),
        "{reasons:?}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("Network errors:") && stdout.contains("reset by peer"),
        "{stdout}"
    );
}

/// The reason texts of a report's reason lists.
trait FlattenReasons<'a> {
    fn flatten_reasons(self) -> impl Iterator<Item = &'a str>;
}

impl<'a, I: Iterator<Item = &'a Value>> FlattenReasons<'a> for I {
    fn flatten_reasons(self) -> impl Iterator<Item = &'a str> {
        self.flat_map(|list| list.as_array().into_iter().flatten())
            .filter_map(|r| r["reason"].as_str())
    }
}

#[test]
fn a_wrong_signature_shows_as_401s() {
    let sim = Sim::start(&[], &[("WHATSAPP_APP_SECRET", "the-server-secret")]);
    let out = tempfile::tempdir().expect("tempdir");
    let profile = profile_file(
        out.path(),
        "signed",
        json!({ "whatsapp_webhook": { "stages": [rate_stage("steady", 50, 1)] } }),
    );
    let run = |secret: &str| {
        let mut cmd = relhost();
        cmd.args(["drill", "--base-url", &sim.base_url, "--profile"])
            .arg(&profile)
            .arg("--output-dir")
            .arg(out.path().join(secret))
            .env("WHATSAPP_APP_SECRET", secret);
        let output = run_bounded(cmd, Duration::from_secs(60));
        (
            output,
            only_report(&out.path().join(secret), "load-drill-signed-"),
        )
    };
    let (output, report) = run("a-wrong-secret");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let whatsapp = scenario(&report, "whatsapp_webhook");
    assert_eq!(whatsapp["totals"]["status_counts"], json!({ "401": 50 }));
    assert_eq!(whatsapp["totals"]["unknown_status"], 50);
    let text = serde_json::to_string(&report).expect("serialize");
    assert!(
        !text.contains("a-wrong-secret"),
        "the secret leaked into the report"
    );

    let (output, report) = run("the-server-secret");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let whatsapp = scenario(&report, "whatsapp_webhook");
    assert_eq!(whatsapp["totals"]["status_counts"], json!({ "200": 50 }));
    let text = serde_json::to_string(&report).expect("serialize");
    assert!(
        !text.contains("the-server-secret"),
        "the secret leaked into the report"
    );
}

#[test]
fn an_external_plugin_drives_the_drill_and_its_traps_are_counted() {
    let sim = Sim::start(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let profile = hostile_profile(out.path(), &[("plain", 40, 1), ("trap", 20, 1)]);
    let mut cmd = relhost();
    cmd.args(["run", "--base-url", &sim.base_url, "--profile"])
        .arg(&profile)
        .arg(format!("--plugin={}", relhost::plugin::artifacts::HOSTILE))
        .arg("--output-dir")
        .arg(out.path());
    let output = run_bounded(cmd, Duration::from_secs(60));
    let report = only_report(out.path(), "load-drill-hostile-");
    assert_valid_drill_report(&report);
    let hostile = scenario(&report, "hostile");
    assert_eq!(
        report["scenarios"].as_array().map(Vec::len),
        Some(1),
        "only the plugin's scenario runs"
    );
    let stages = hostile["stages"].as_array().expect("stages");
    assert_eq!(
        stages[0]["status_counts"],
        json!({ "200": 40 }),
        "{}",
        describe(&output)
    );
    assert_eq!(stages[1]["requests"], 0);
    assert_eq!(stages[1]["plugin_errors"], 20);
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("plugin hostile: build-request trapped"),
        "{warnings}"
    );
    assert_eq!(
        report["plugins"][0]["source"],
        relhost::plugin::artifacts::HOSTILE
    );
}

#[test]
fn a_plugin_that_cannot_load_is_bad_input() {
    let out = tempfile::tempdir().expect("tempdir");
    for (plugin, expected) in [
        (
            relhost::plugin::artifacts::HOSTILE_LOAD,
            "describe exceeded its",
        ),
        (
            relhost::plugin::artifacts::NOT_SCENARIO,
            "not a component of the relhost:plugin/scenario",
        ),
    ] {
        let mut cmd = relhost();
        cmd.args(["drill", "--quick=true", "--plugin", plugin, "--output-dir"])
            .arg(out.path());
        let output = run_bounded(cmd, Duration::from_secs(30));
        assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(plugin) && stderr.contains(expected),
            "{stderr}"
        );
    }
    assert!(
        std::fs::read_dir(out.path())
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "no report on bad input"
    );
}

#[test]
fn bad_input_names_what_is_wrong() {
    let out = tempfile::tempdir().expect("tempdir");
    let broken = out.path().join("broken.json");
    std::fs::write(&broken, "{\n  \"name\": \"broken\",\n  \"scenarios\": { \"whatsapp_webhook\": { \"stages\": [ { \"name\": \"x\", \"rate\": -1, \"duration\": \"1s\" } ] } }\n}\n")
        .expect("write");
    let long_chat = profile_file(
        out.path(),
        "long-chat",
        json!({ "chat_stream_http": { "stages": [
            { "name": "days", "concurrency": 1, "duration": "2days" }
        ] } }),
    );
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--profile=nope".into()], "quick"),
        (
            vec!["--quick=true".into(), "--scenarios=nope".into()],
            "valid: chat_stream_http",
        ),
        (
            vec![format!("--profile={}", broken.display())],
            "broken.json",
        ),
        (
            vec!["--chat-load-scale=0".into()],
            "expected a number greater than 0",
        ),
        (vec!["--plugin-deadline=soon".into()], "like 100ms"),
        (vec!["--plugin-deadline=0s".into()], "from 1ms to 10m"),
        (
            vec!["--request-timeout=500000000000y".into()],
            "--request-timeout",
        ),
        (vec!["--chat-duration-scale=1e300".into()], "at most 10000"),
        (
            vec![
                "--chat-duration-scale=20".into(),
                format!("--profile={}", long_chat.display()),
            ],
            "would last",
        ),
        (vec!["--base-url=ftp://x".into()], "http://"),
    ];
    for (args, expected) in cases {
        let mut cmd = relhost();
        cmd.arg("drill")
            .args(&args)
            .arg("--output-dir")
            .arg(out.path().join("reports"));
        let output = run_bounded(cmd, Duration::from_secs(30));
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            describe(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(
        !out.path().join("reports").exists(),
        "no report on bad input"
    );
}

#[test]
fn an_unreachable_target_cannot_run() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let out = tempfile::tempdir().expect("tempdir");
    let mut cmd = relhost();
    cmd.args([
        "drill",
        "--quick=true",
        &format!("--base-url=http://127.0.0.1:{port}"),
        "--output-dir",
    ])
    .arg(out.path());
    let output = run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&format!("127.0.0.1:{port}")));
}

#[test]
fn an_interrupt_writes_a_partial_report() {
    let sim = Sim::start(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let profile = profile_file(
        out.path(),
        "long",
        json!({ "whatsapp_webhook": { "stages": [rate_stage("steady", 50, 60)] } }),
    );
    let mut cmd = relhost();
    cmd.args([
        "drill",
        "--base-url",
        &sim.base_url,
        "--grace=2s",
        "--profile",
    ])
    .arg(&profile)
    .arg("--output-dir")
    .arg(out.path())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    // Interrupt 3 s into the stage.
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let started =
        lines.any(|line| line.is_ok_and(|l| l.starts_with("stage whatsapp_webhook/steady")));
    assert!(started, "the stage never started");
    let drain = std::thread::spawn(move || lines.count());
    std::thread::sleep(Duration::from_secs(3));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let output = child.wait_with_output().expect("wait");
    let _ = drain.join();
    assert_eq!(output.status.code(), Some(130), "{}", describe(&output));
    let report = only_report(out.path(), "load-drill-long-");
    assert_valid_drill_report(&report);
    assert_eq!(report["status"], "interrupted");
    let whatsapp = scenario(&report, "whatsapp_webhook");
    let sent = whatsapp["totals"]["requests"].as_u64().unwrap_or(0);
    assert!((50..=250).contains(&sent), "about 3 s at 50/s: {sent}");
    assert_counts_add_up(whatsapp);
}

#[test]
fn http2_drills_the_sim_over_h2c() {
    let sim = Sim::start(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let profile = profile_file(
        out.path(),
        "h2",
        json!({ "whatsapp_webhook": { "stages": [rate_stage("steady", 100, 1)] } }),
    );
    let mut cmd = relhost();
    cmd.args(["drill", "--http2", "--base-url", &sim.base_url, "--profile"])
        .arg(&profile)
        .arg("--output-dir")
        .arg(out.path());
    let output = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(out.path(), "load-drill-h2-");
    assert_eq!(
        scenario(&report, "whatsapp_webhook")["totals"]["status_counts"],
        json!({ "200": 100 })
    );
    assert_eq!(report["config"]["http2"], true);
}

#[test]
fn streams_cut_mid_way_are_counted() {
    let out = tempfile::tempdir().expect("tempdir");
    let profile = profile_file(
        out.path(),
        "cut",
        json!({ "chat_stream_http": { "stages": [
            { "name": "streams", "concurrency": 2, "duration": "3s", "requests": 10 }
        ] } }),
    );
    let mut cmd = relhost();
    cmd.args(["drill", "--profile"])
        .arg(&profile)
        .arg("--output-dir")
        .arg(out.path())
        .env("SIM_FAULTS", "chat:truncate_after=3");
    let output = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let report = only_report(out.path(), "load-drill-cut-");
    let chat = scenario(&report, "chat_stream_http");
    assert_eq!(chat["totals"]["requests"], 10);
    assert_eq!(
        chat["totals"]["network_errors"],
        json!({ "body_aborted": 10 })
    );
    let sse = &chat["totals"]["sse"];
    assert_eq!(sse["streams_cut"], 10, "{sse}");
    assert_eq!(
        sse["events_total"], 30,
        "three events per cut stream: {sse}"
    );
    assert_counts_add_up(chat);
}

#[test]
fn a_teams_slo_evaluator_joins_the_gate_and_a_runaway_one_fails_it() {
    let sim = Sim::start(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let profile = profile_file(
        out.path(),
        "slo",
        json!({ "gmail_push_webhook": { "stages": [rate_stage("steady", 50, 1)] } }),
    );
    let run = |evaluator: &str, dir: &str| {
        let mut cmd = relhost();
        cmd.args(["drill", "--base-url", &sim.base_url, "--profile"])
            .arg(&profile)
            .arg(format!("--slo-plugin={evaluator}"))
            .arg("--output-dir")
            .arg(out.path().join(dir));
        let output = run_bounded(cmd, Duration::from_secs(60));
        (
            output,
            only_report(&out.path().join(dir), "load-drill-slo-"),
        )
    };
    let (output, report) = run(relhost::plugin::artifacts::SLO_P99, "p99");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_valid_drill_report(&report);
    let gmail = scenario(&report, "gmail_push_webhook");
    assert_eq!(check(gmail, "p99_latency_ms")["threshold"], 3000.0);
    assert_eq!(check(gmail, "p99_latency_ms")["verdict"], "pass");
    let kinds: Vec<&str> = report["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .filter_map(|p| p["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"slo-evaluator"), "{kinds:?}");

    let (output, report) = run(relhost::plugin::artifacts::SLO_SPIN, "spin");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_valid_drill_report(&report);
    let runaway = check(scenario(&report, "gmail_push_webhook"), "evaluator:spin");
    assert_eq!(runaway["verdict"], "fail");
    assert!(
        runaway["message"]
            .as_str()
            .is_some_and(|m| m.contains("fuel") || m.contains("deadline")),
        "{runaway}"
    );
}

#[test]
fn closed_model_stages_hand_users_over_without_draining() {
    // Streams of 3 s; three 2-s stages of 10 users. Handed over, each user
    // sends at 0 s and 3 s and the run ends at about 6 s; drained at every
    // boundary, it would send at 0, 3 and 6 s and end at about 9 s.
    let sim = Sim::start(
        &[
            "--sim-chat-ttft-ms=3000",
            "--sim-chat-tokens=1",
            "--sim-chat-token-gap-ms=0",
        ],
        &[],
    );
    let out = tempfile::tempdir().expect("tempdir");
    let pool = make_pool(&sim, out.path(), "handover", 2);
    let stage = |name: &str| json!({ "name": name, "concurrency": 10, "duration": "2s" });
    let profile = profile_file(
        out.path(),
        "handover",
        json!({ "chat_stream_http": { "stages": [stage("a"), stage("b"), stage("c")] } }),
    );
    let mut cmd = relhost();
    cmd.args(["drill", "--workers=3", "--base-url", &sim.base_url])
        .arg(format!("--chat-auth-pool-file={}", pool.display()))
        .arg("--profile")
        .arg(&profile)
        .arg("--output-dir")
        .arg(out.path());
    let output = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(out.path(), "load-drill-handover-");
    assert_valid_drill_report(&report);
    let chat = scenario(&report, "chat_stream_http");
    assert_counts_add_up(chat);
    let stages = chat["stages"].as_array().expect("stages");
    let requests: Vec<u64> = stages
        .iter()
        .map(|s| s["requests"].as_u64().expect("requests"))
        .collect();
    // A request crossing a boundary belongs to the stage that started it.
    assert_eq!(requests, [10, 10, 0], "{stages:#?}");
    let elapsed = chat["totals"]["elapsed_s"].as_f64().expect("elapsed");
    assert!((6.0..7.5).contains(&elapsed), "ran {elapsed} s");
    // The first two windows are the stages' own 2 s; the last one drains.
    let windows: Vec<f64> = stages
        .iter()
        .map(|s| s["elapsed_s"].as_f64().expect("elapsed_s"))
        .collect();
    assert!((windows[0] - 2.0).abs() < 0.01, "{windows:?}");
    assert!((windows[1] - 2.0).abs() < 0.01, "{windows:?}");
    for s in stages {
        assert_eq!(s["peak_concurrency"], 10, "{s}");
    }
    // Counted at the target: 20 streams, not 30.
    let streams = &snapshot(&sim, 60)["chat_streams"];
    assert_eq!(streams["started"], 20, "{streams}");
}

#[test]
fn an_output_directory_that_cannot_be_written_is_found_before_any_load() {
    let sim = Sim::start(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let file = out.path().join("not-a-dir");
    std::fs::write(&file, "x").expect("write");
    let profile = profile_file(
        out.path(),
        "long",
        json!({ "whatsapp_webhook": { "stages": [rate_stage("steady", 20, 60)] } }),
    );
    let started = std::time::Instant::now();
    let mut cmd = relhost();
    cmd.args(["drill", "--base-url", &sim.base_url, "--profile"])
        .arg(&profile)
        .arg("--output-dir")
        .arg(file.join("reports"));
    let output = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(started.elapsed() < Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not-a-dir/reports") && stderr.contains("Not a directory"),
        "{stderr}"
    );
    assert_eq!(
        snapshot(&sim, 60)["requests"]["total"],
        0,
        "no load was sent"
    );
}
