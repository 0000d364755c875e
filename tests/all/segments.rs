//! A drill split into segments, as a Kubernetes Indexed Job runs it (one
//! process per `JOB_COMPLETION_INDEX`, `RELHOST_SEGMENTS` of them), and
//! `relhost merge`: the merged report is one run's, counted at the target.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use relhost::metrics::StageMetrics;
use serde_json::{Value, json};

use crate::support::*;

/// Open-model stages of uneven sizes, then a capped closed-model stage.
fn counting_profile(dir: &Path) -> PathBuf {
    profile_file(
        dir,
        "split",
        json!({ "http_request": { "stages": [
            { "name": "warm", "rate": 23, "duration": "1s" },
            { "name": "steady", "rate": 70, "duration": "2s", "requests": 101 },
            { "name": "users", "concurrency": 3, "duration": "1s", "requests": 41 }
        ] } }),
    )
}

/// Requests the counting profile sends, per stage.
const PLANNED: [u64; 3] = [23, 101, 41];

/// `relhost drill` of `profile` against `base_url`, writing to `out`.
fn drill(base_url: &str, profile: &Path, out: &Path, flags: &[&str]) -> std::process::Command {
    let mut cmd = relhost();
    cmd.args(["drill", "--quiet", "--workers=3", "--base-url", base_url])
        .arg("--profile")
        .arg(profile)
        .args(flags)
        .arg("--output-dir")
        .arg(out);
    cmd
}

/// Runs `n` segments of a drill at once as an Indexed Job's pods would,
/// lined up by `--start-at`; each must pass.
fn run_segments(n: u32, make: impl Fn() -> std::process::Command) {
    let start = SystemTime::now() + Duration::from_secs(3);
    let start = humantime::format_rfc3339_millis(start).to_string();
    let runs: Vec<_> = (0..n)
        .map(|index| {
            let mut cmd = make();
            cmd.arg(format!("--start-at={start}"))
                .env("RELHOST_SEGMENTS", n.to_string())
                .env("JOB_COMPLETION_INDEX", index.to_string());
            std::thread::spawn(move || run_bounded(cmd, Duration::from_secs(90)))
        })
        .collect();
    for (index, run) in runs.into_iter().enumerate() {
        let output = run.join().expect("segment thread");
        assert_eq!(
            output.status.code(),
            Some(0),
            "segment {index}/{n}: {}",
            describe(&output)
        );
    }
}

fn merge(inputs: &[&Path], out: &Path) -> Output {
    let mut cmd = relhost();
    cmd.args(["merge", "--quiet"])
        .args(inputs)
        .arg("--output-dir")
        .arg(out);
    run_bounded(cmd, Duration::from_secs(60))
}

fn stage_requests(scenario: &Value) -> Vec<u64> {
    scenario["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["requests"].as_u64().expect("requests"))
        .collect()
}

/// The iterations (`{"n": …}` bodies) a recorder received, sorted.
fn iterations(received: &Arc<Mutex<Vec<Recorded>>>) -> Vec<u64> {
    let mut seen: Vec<u64> = received
        .lock()
        .expect("lock")
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).expect("json body");
            body["n"].as_u64().expect("n")
        })
        .collect();
    seen.sort_unstable();
    seen
}

const PARAMS: &[&str] = &[
    "--scenarios=http_request",
    "--param=method=POST",
    "--param=path=/count",
    r#"--param=body={"n":{{iteration}}}"#,
];

#[test]
fn one_two_and_four_segments_merge_into_the_report_of_one_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = counting_profile(dir.path());
    let total: u64 = PLANNED.iter().sum();

    let (port, received) = recorder();
    let url = format!("http://127.0.0.1:{port}");
    let one_dir = dir.path().join("one");
    let output = run_bounded(
        drill(&url, &profile, &one_dir, PARAMS),
        Duration::from_secs(90),
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let one = only_report(&one_dir, "load-drill-split-");
    assert!(
        one.get("segment").is_none(),
        "a whole run carries no record"
    );
    let one_scenario = scenario(&one, "http_request");
    assert_eq!(stage_requests(one_scenario), PLANNED);
    let one_iterations = iterations(&received);
    assert_eq!(one_iterations.len() as u64, total);

    for n in [1u32, 2, 4] {
        let (port, received) = recorder();
        let url = format!("http://127.0.0.1:{port}");
        let segments = dir.path().join(format!("segments-{n}"));
        run_segments(n, || drill(&url, &profile, &segments, PARAMS));
        let merged_dir = dir.path().join(format!("merged-{n}"));
        let output = merge(&[&segments], &merged_dir);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        let merged = only_report(&merged_dir, "load-drill-split-");
        assert_valid_drill_report(&merged);
        let what = format!("{n} segments");

        // Counted at the target: every request once, as many as one run.
        let seen = iterations(&received);
        assert_eq!(seen.len() as u64, total, "{what}: the target's count");
        let mut distinct = seen.clone();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            seen.len(),
            "{what}: an iteration sent twice"
        );
        // The open-model stages come first: their iterations are one run's.
        let open = (PLANNED[0] + PLANNED[1]) as usize;
        assert_eq!(seen[..open], one_iterations[..open], "{what}");

        let chat = scenario(&merged, "http_request");
        assert_eq!(chat["totals"]["requests"].as_u64(), Some(total), "{what}");
        assert_eq!(stage_requests(chat), PLANNED, "{what}");
        assert_eq!(
            chat["totals"]["status_counts"], one_scenario["totals"]["status_counts"],
            "{what}"
        );
        assert_eq!(merged["status"], one["status"], "{what}: the verdict");
        assert_eq!(
            chat["slo_gate"]["verdict"], one_scenario["slo_gate"]["verdict"],
            "{what}"
        );
        assert_eq!(merged["merged"]["count"], n, "{what}");
        if n == 2 {
            // Beside its segments, the dashboard counts the merged drill once.
            let merged_file = reports_in(&merged_dir).remove(0);
            std::fs::copy(
                &merged_file,
                segments.join(merged_file.file_name().expect("name")),
            )
            .expect("copy");
            let mut cmd = relhost();
            cmd.args(["dashboard", "--quiet", "--output-dir"])
                .arg(&segments);
            let output = run_bounded(cmd, Duration::from_secs(30));
            assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
            let dashboard: Value = serde_json::from_slice(
                &std::fs::read(segments.join("slo-dashboard.json")).expect("dashboard"),
            )
            .expect("JSON");
            assert_eq!(dashboard["reports"]["load_drill"], 1, "{what}");
            assert_eq!(dashboard["reports"]["ignored"], 2, "{what}");
            for file in [
                "slo-dashboard.json",
                "slo-dashboard.md",
                "slo-dashboard.html",
            ] {
                let _ = std::fs::remove_file(segments.join(file));
            }
            std::fs::remove_file(segments.join(merged_file.file_name().expect("name")))
                .expect("remove");
        }

        // Percentiles are those of one histogram holding every segment's samples.
        let mut stages: Vec<StageMetrics> = Vec::new();
        for path in reports_in(&segments) {
            let report: Value =
                serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
            assert_eq!(report["segment"]["count"], n);
            let runs = &report["segment"]["record"]["scenarios"][0]["runs"];
            for (i, run) in runs.as_array().expect("runs").iter().enumerate() {
                let metrics: StageMetrics =
                    serde_json::from_value(run["metrics"].clone()).expect("a recorder");
                match stages.get_mut(i) {
                    Some(all) => all.merge(&metrics),
                    None => stages.push(metrics),
                }
            }
        }
        for (stage, all) in chat["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .zip(&stages)
        {
            let summary = all.summarize(Duration::from_secs(1));
            let expected = &summary.latency_ms;
            let reported = &stage["latency_ms"];
            for (field, value) in [
                ("p50", expected.p50),
                ("p95", expected.p95),
                ("p99", expected.p99),
            ] {
                assert_eq!(
                    reported[field].as_f64(),
                    Some(value),
                    "{what}: stage {} {field}: the histogram of every sample says {value} ms",
                    stage["name"]
                );
            }
        }
    }
}

fn reports_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_union_of_segments_uses_the_auth_pool_as_one_run_does() {
    let credentials = |segments: Option<u32>| -> (Value, u64) {
        let sim = Sim::start(&[], &[]);
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = make_pool(&sim, dir.path(), "seg", 7);
        let profile = profile_file(
            dir.path(),
            "pooled",
            json!({ "chat_stream_http": { "stages": [
                { "name": "steady", "rate": 12, "duration": "2s" }
            ] } }),
        );
        let flags = [
            "--chat-auth-pool-file",
            pool.to_str().expect("utf-8"),
            "--chat-rotation-mode=stride",
            "--chat-rotation-stride=3",
            "--chat-min-unique-users=7",
        ];
        let out = dir.path().join("out");
        let report = match segments {
            None => {
                let output = run_bounded(
                    drill(&sim.base_url, &profile, &out, &flags),
                    Duration::from_secs(90),
                );
                assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
                only_report(&out, "load-drill-pooled-")
            }
            Some(n) => {
                run_segments(n, || drill(&sim.base_url, &profile, &out, &flags));
                let merged = dir.path().join("merged");
                let output = merge(&[&out], &merged);
                assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
                only_report(&merged, "load-drill-pooled-")
            }
        };
        let chat = scenario(&report, "chat_stream_http");
        assert_eq!(chat["totals"]["status_counts"], json!({ "200": 24 }));
        let at_target = snapshot(&sim, 60)["unique_users"].as_u64().unwrap_or(0);
        let mut credentials = chat["credentials"].clone();
        // The pool file is each run's own.
        credentials["source"] = Value::Null;
        credentials["verdict"] = chat["slo_gate"]["verdict"].clone();
        (credentials, at_target)
    };
    let (one, one_at_target) = credentials(None);
    assert_eq!(one["unique_used"], 7);
    assert_eq!(
        (one["min_uses"].as_u64(), one["max_uses"].as_u64()),
        (Some(3), Some(4))
    );
    assert_eq!(one_at_target, 7);
    for n in [2, 4] {
        let (split, at_target) = credentials(Some(n));
        assert_eq!(split, one, "{n} segments");
        assert_eq!(at_target, one_at_target, "{n} segments: users the sim saw");
    }
}

#[test]
fn a_missing_duplicate_or_foreign_segment_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = counting_profile(dir.path());
    let (port, _received) = recorder();
    let url = format!("http://127.0.0.1:{port}");
    let ours = dir.path().join("ours");
    run_segments(2, || drill(&url, &profile, &ours, PARAMS));
    let reports = reports_in(&ours);
    assert_eq!(reports.len(), 2);
    let merged = dir.path().join("merged");

    // Segment 1/2 is missing.
    let output = merge(&[&reports[0]], &merged);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("segment 1/2 missing"),
        "{}",
        describe(&output)
    );
    // Segment 0/2 given twice.
    let output = merge(&[&reports[0], &reports[0], &reports[1]], &merged);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("segment 0/2 is given twice"),
        "{}",
        describe(&output)
    );
    // Segment 1/2 of another drill: another seed.
    let theirs = dir.path().join("theirs");
    let mut flags = PARAMS.to_vec();
    flags.push("--seed=2");
    run_segments(2, || drill(&url, &profile, &theirs, &flags));
    let foreign = reports_in(&theirs);
    let output = merge(&[&reports[0], &foreign[1]], &merged);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("from another drill") && stderr.contains("config.seed"),
        "{}",
        describe(&output)
    );
    // A whole run's report is no segment's.
    let whole = dir.path().join("whole");
    let output = run_bounded(
        drill(&url, &profile, &whole, PARAMS),
        Duration::from_secs(90),
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let output = merge(&[&reports_in(&whole)[0]], &merged);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        !merged.exists(),
        "nothing written: {:?}",
        reports_in(&merged)
    );
    // A start two days ahead is taken for a typo.
    let later = SystemTime::now() + Duration::from_secs(2 * 24 * 3600);
    let later = format!("--start-at={}", humantime::format_rfc3339_seconds(later));
    let mut flags = PARAMS.to_vec();
    flags.push(&later);
    let output = run_bounded(
        drill(&url, &profile, &dir.path().join("later"), &flags),
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("more than a day"),
        "{}",
        describe(&output)
    );
    // Segments must share a target: the built-in sim is each one's own.
    let output = run_bounded(
        {
            let mut cmd = relhost();
            cmd.args(["drill", "--quick", "--segment=0/2", "--output-dir"])
                .arg(dir.path().join("sim"));
            cmd
        },
        Duration::from_secs(60),
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--base-url"),
        "{}",
        describe(&output)
    );
}

/// Segments of `profile` against `sim` (the chat pool, if any), merged:
/// the merged report's path.
fn merged_drill(sim: &Sim, dir: &Path, name: &str, flags: &[&str]) -> PathBuf {
    let segments = dir.join(format!("{name}-segments"));
    run_segments(2, || {
        let mut cmd = relhost();
        cmd.args([
            "drill",
            "--quiet",
            "--workers=2",
            "--base-url",
            &sim.base_url,
        ])
        .args(flags)
        .arg("--output-dir")
        .arg(&segments);
        cmd
    });
    let merged = dir.join(name);
    let output = merge(&[&segments], &merged);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    reports_in(&merged).pop().expect("the merged report")
}

#[test]
fn the_milestone_gate_judges_a_merged_drill() {
    let sim = Sim::start(&[], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = make_pool(&sim, dir.path(), "mg", 10);
    let pool = pool.to_str().expect("utf-8");
    let milestone = [
        "--profile=m1_1k",
        "--chat-concurrency-scale=0.01",
        "--chat-duration-scale=0.04",
        "--chat-load-scale=0.01",
        "--chat-auth-pool-file",
        pool,
    ];
    let merged = merged_drill(&sim, dir.path(), "m1", &milestone);
    let gate = |drill_report: &Path, out: &str| {
        let mut cmd = relhost();
        cmd.args([
            "milestone-gate",
            "--quiet",
            "--milestone=m1_1k",
            "--base-url",
            &sim.base_url,
        ])
        .args(&milestone[1..])
        .arg("--drill-report")
        .arg(drill_report)
        .arg("--output-dir")
        .arg(dir.path().join(out));
        run_bounded(cmd, Duration::from_secs(60))
    };
    let output = gate(&merged, "gate");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(&dir.path().join("gate"), "milestone-gate-m1_1k-");
    assert_matches_schema(&report, "milestone-gate");
    assert_eq!(report["drill_report"], merged.display().to_string());
    // Each segment ran half the ten users.
    assert_eq!(report["achieved_concurrency"], 10, "{report:#}");
    assert!(
        reports_in(&dir.path().join("gate")).len() == 1,
        "nothing drilled: only the gate's report"
    );
    // The release gate probes and reads the snapshot, and judges the
    // merged drill with its burn-rate gates.
    let mut cmd = relhost();
    cmd.args([
        "gate",
        "--quiet",
        "--base-url",
        &sim.base_url,
        "--ops-token=test-ops-token",
    ])
    .args(milestone)
    .arg("--drill-report")
    .arg(&merged)
    .arg("--output-dir")
    .arg(dir.path().join("release"));
    let output = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(&dir.path().join("release"), "release-gate-");
    assert_matches_schema(&report, "release-gate");
    assert_eq!(report["drill_report"], merged.display().to_string());
    let sources: std::collections::BTreeSet<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["source"].as_str())
        .collect();
    assert!(
        ["probe", "drill", "burn_rate"]
            .iter()
            .all(|s| sources.contains(s)),
        "{sources:?}"
    );
    // A segment's report is refused: merge first.
    let segment = reports_in(&dir.path().join("m1-segments")).remove(0);
    let output = gate(&segment, "refused");
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("merge"),
        "{}",
        describe(&output)
    );
}

#[test]
fn the_canary_judges_two_merged_drills() {
    let control = Sim::start(&["--seed=3"], &[]);
    let candidate = Sim::start(&["--seed=3", "--fault=all:latency=200ms"], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = profile_file(
        dir.path(),
        "hooks",
        json!({ "whatsapp_webhook": { "stages": [rate_stage("steady", 40, 3)] } }),
    );
    let flags = ["--profile", profile.to_str().expect("utf-8")];
    let control = merged_drill(&control, dir.path(), "control", &flags);
    let candidate = merged_drill(&candidate, dir.path(), "candidate", &flags);
    let canary = |control: &Path, candidate: &Path, out: &str| {
        let mut cmd = relhost();
        cmd.args(["canary", "--quiet", "--control-report"])
            .arg(control)
            .arg("--candidate-report")
            .arg(candidate)
            .arg("--output-dir")
            .arg(dir.path().join(out));
        let output = run_bounded(cmd, Duration::from_secs(60));
        let report = only_report(&dir.path().join(out), "canary-check-");
        assert_matches_schema(&report, "canary-check");
        (output, report)
    };
    let (output, report) = canary(&control, &candidate, "slower");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let p95 = report["metrics"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["metric"] == "p95_latency_ms"))
        .expect("p95 judged");
    assert_eq!(p95["classification"], "high", "{p95:#}");
    assert_eq!(
        report["candidate"]["drill_report"],
        candidate.display().to_string()
    );
    let (output, report) = canary(&control, &control, "same");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(report["verdict"], "pass");
}
