//! Hostile plugins end to end: a plugin that sleeps, floods, bloats or
//! forges never hangs relhost, never takes it down, and never loses the
//! report.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use relhost::plugin::artifacts::{HOSTILE, HOSTILE_LOAD, ROTATION_HOSTILE, SLO_SPIN};
use serde_json::{Value, json};

use crate::support::*;

/// Drills the hostile plugin through `stages` with extra flags; returns
/// the run and its report.
fn hostile_drill(
    sim: &Sim,
    dir: &Path,
    stages: &[(&str, u32, u32)],
    flags: &[&str],
) -> (Output, Value) {
    let profile = hostile_profile(dir, stages);
    let mut cmd = relhost();
    cmd.args(["drill", "--base-url", &sim.base_url])
        .arg(format!("--plugin={HOSTILE}"))
        .arg("--profile")
        .arg(&profile)
        .args(flags)
        .arg("--output-dir")
        .arg(dir);
    let output = run_bounded(cmd, Duration::from_secs(60));
    let report = only_report(dir, "load-drill-hostile-");
    assert_valid_drill_report(&report);
    (output, report)
}

fn stage<'a>(report: &'a Value, name: &str) -> &'a Value {
    scenario(report, "hostile")["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no stage {name}"))
}

#[test]
fn requests_a_plugin_cannot_build_are_counted_and_fail_the_gate() {
    let sim = Sim::start(&[], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let (output, report) = hostile_drill(
        &sim,
        dir.path(),
        &[
            ("plain", 10, 1),
            ("sleep", 5, 1),
            ("headers", 5, 1),
            ("big", 5, 1),
            ("host", 5, 1),
        ],
        &["--workers=2"],
    );
    // Each sleeping call is cut at the 100 ms deadline.
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(
        stage(&report, "plain")["status_counts"],
        json!({ "200": 10 })
    );
    for name in ["sleep", "headers", "big", "host"] {
        let s = stage(&report, name);
        assert_eq!(
            (s["requests"].as_u64(), s["plugin_errors"].as_u64()),
            (Some(0), Some(5)),
            "{name}: {s}"
        );
    }
    let warnings = report["warnings"].to_string();
    for expected in [
        "build-request exceeded its 100ms deadline",
        "24577 headers; a request carries at most 256",
        "a body of 5242880 bytes; the run allows at most 4194304",
        "a Host header",
    ] {
        assert!(warnings.contains(expected), "{expected}: {warnings}");
    }
    let gate = &scenario(&report, "hostile")["slo_gate"];
    let plugin_errors = gate["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "plugin_error_rate"))
        .expect("plugin_error_rate check");
    assert_eq!(plugin_errors["verdict"], "fail", "{gate}");
    let observed = plugin_errors["observed"].as_f64().expect("observed");
    assert!((observed - 20.0 / 30.0).abs() < 1e-5, "{plugin_errors}");
    // The sim saw the plain requests only.
    assert_eq!(
        snapshot(&sim, 60)["requests"]["total"],
        10,
        "nothing but the plain stage reached the target"
    );
}

#[test]
fn an_interrupt_ends_a_plugin_call_that_sleeps() {
    let sim = Sim::start(&[], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = hostile_profile(dir.path(), &[("sleep", 5, 60)]);
    let mut cmd = relhost();
    cmd.args([
        "drill",
        "--base-url",
        &sim.base_url,
        "--plugin-deadline=10m",
    ])
    .arg(format!("--plugin={HOSTILE}"))
    .arg("--profile")
    .arg(&profile)
    .arg("--output-dir")
    .arg(dir.path())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    assert!(
        lines.any(|line| line.is_ok_and(|l| l.starts_with("stage hostile/sleep"))),
        "the stage never started"
    );
    let drain = std::thread::spawn(move || lines.count());
    std::thread::sleep(Duration::from_secs(1));
    let interrupted = Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let watchdog = std::thread::spawn({
        let pid = child.id();
        move || {
            std::thread::sleep(Duration::from_secs(30));
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
    });
    let output = child.wait_with_output().expect("wait");
    let _ = drain.join();
    drop(watchdog);
    assert!(
        interrupted.elapsed() < Duration::from_secs(10),
        "took {:?} after Ctrl-C",
        interrupted.elapsed()
    );
    assert_eq!(output.status.code(), Some(130), "{}", describe(&output));
    let report = only_report(dir.path(), "load-drill-hostile-");
    assert_valid_drill_report(&report);
    assert_eq!(report["status"], "interrupted");
    assert!(
        report["warnings"].to_string().contains("was interrupted"),
        "{}",
        report["warnings"]
    );
}

#[test]
fn a_plugin_that_sleeps_while_loading_is_bad_input_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        vec!["plugin", "inspect", HOSTILE_LOAD],
        vec!["drill", "--quick=true", "--plugin", HOSTILE_LOAD],
    ] {
        let mut cmd = relhost();
        cmd.args(&args).arg("--output-dir").arg(dir.path());
        if args[0] == "plugin" {
            cmd = relhost();
            cmd.args(&args);
        }
        let started = Instant::now();
        let output = run_bounded(cmd, Duration::from_secs(60));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{args:?} took {:?}",
            started.elapsed()
        );
        assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("hostile_load.wasm") && stderr.contains("describe exceeded its"),
            "{stderr}"
        );
    }
}

#[test]
fn a_rotation_or_evaluator_that_sleeps_or_bloats_fails_alone_and_small() {
    let sim = Sim::start(&[], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = make_pool(&sim, dir.path(), "bloat", 2);
    let profile = profile_file(
        dir.path(),
        "chat",
        json!({ "chat_stream_http": { "stages": [
            { "name": "streams", "concurrency": 2, "duration": "1s", "requests": 4 }
        ] } }),
    );
    let run = |name: &str, params: &[&str]| {
        let out = dir.path().join(name);
        let mut cmd = relhost();
        cmd.args(["drill", "--base-url", &sim.base_url])
            .arg(format!("--chat-auth-pool-file={}", pool.display()))
            .arg(format!("--chat-rotation-plugin={ROTATION_HOSTILE}"))
            .arg(format!("--slo-plugin={SLO_SPIN}"))
            .arg("--profile")
            .arg(&profile)
            .args(params.iter().map(|p| format!("--param={p}")))
            .arg("--output-dir")
            .arg(&out);
        let output = run_bounded(cmd, Duration::from_secs(60));
        let file = std::fs::read_dir(&out)
            .unwrap_or_else(|_| panic!("no report: {}", describe(&output)))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .expect("a report");
        let size = std::fs::metadata(&file).expect("report").len();
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("JSON");
        assert_valid_drill_report(&report);
        (output, report, size)
    };

    // A rotation asleep in pick: the chat requests are plugin errors.
    let (output, report, _) = run("sleep", &["rotation_hostile=sleep", "slo_spin=none"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let chat = scenario(&report, "chat_stream_http");
    assert_eq!(chat["totals"]["requests"], 0, "{chat}");
    assert!(
        report["warnings"]
            .to_string()
            .contains("pick exceeded its 100ms deadline"),
        "{}",
        report["warnings"]
    );

    // Bloated strings stay bounded and escaped; an evaluator that sleeps
    // fails its own check only.
    for (name, params) in [
        ("bloat", ["rotation_hostile=bloat", "slo_spin=bloat"]),
        ("asleep", ["rotation_hostile=none", "slo_spin=sleep"]),
    ] {
        let (output, report, size) = run(name, &params);
        assert!(size < 200_000, "{name}: a report of {size} bytes");
        let text = report.to_string();
        assert!(
            !text.contains('\u{1b}'),
            "{name}: a raw escape reached the report"
        );
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        let checks = scenario(&report, "chat_stream_http")["slo_gate"]["checks"].to_string();
        let expected = if name == "bloat" {
            "… ("
        } else {
            "evaluate exceeded its 100ms deadline"
        };
        assert!(checks.contains(expected), "{name}: {checks}");
    }
}

#[test]
fn plugin_log_lines_are_escaped_named_and_capped() {
    let sim = Sim::start(&[], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let (output, _) = hostile_drill(&sim, dir.path(), &[("log", 2, 1)], &["--workers=1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains('\u{1b}'), "a raw escape reached stderr");
    let plugin_lines: Vec<&str> = stderr.lines().filter(|l| l.contains("Result")).collect();
    assert!(
        plugin_lines
            .iter()
            .all(|l| l.starts_with("[plugin hostile] info: done\\n")),
        "{plugin_lines:?}"
    );
    assert!(
        !stderr.lines().any(|l| l.starts_with("relhost: all gates")),
        "a forged line: {stderr}"
    );
    // Two calls of 1,000 lines each within about a second: at most 20 a
    // second pass, and the rest are counted.
    assert!(plugin_lines.len() <= 60, "{} lines", plugin_lines.len());
    assert!(stderr.contains("dropping lines"), "{stderr}");
}
