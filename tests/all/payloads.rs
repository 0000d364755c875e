//! Payload builders through the real binary: recorded bodies replayed
//! exactly and signed by the host, hostile builders contained, bad input
//! refused before any request.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const SECRET: &str = "replay-secret";

/// A directory of `n` recorded webhook bodies, each different.
fn recordings(dir: &Path, n: usize) -> Vec<Vec<u8>> {
    let webhooks = dir.join("webhooks");
    std::fs::create_dir(&webhooks).expect("mkdir");
    let kinds = ["message", "status", "reaction", "media"];
    (0..n)
        .map(|i| {
            let body = json!({
                "object": "whatsapp_business_account",
                "entry": [{ "id": format!("{i:03}"), "changes": [{ "field": kinds[i % 4] }] }]
            })
            .to_string()
            .into_bytes();
            std::fs::write(webhooks.join(format!("{i:03}.json")), &body).expect("write");
            body
        })
        .collect()
}

/// `relhost drill` of the WhatsApp scenario at `port` with the stages
/// given, the payload builder `builder` and the data `data` (NAME=DIR).
fn drill(
    port: u16,
    dir: &Path,
    stages: Value,
    builder: &str,
    data: &str,
    extra: &[&str],
) -> std::process::Output {
    let profile = profile_file(
        dir,
        "replay",
        json!({ "whatsapp_webhook": { "stages": stages } }),
    );
    let mut cmd = relhost();
    cmd.args([
        "drill",
        "--quiet",
        "--base-url",
        &format!("http://127.0.0.1:{port}"),
        "--scenarios=whatsapp_webhook",
        "--workers=3",
        &format!("--payload-plugin=whatsapp_webhook={builder}"),
        &format!("--plugin-data={data}"),
    ])
    .args(extra)
    .arg("--profile")
    .arg(&profile)
    .arg("--output-dir")
    .arg(dir.join("out"))
    .env("WHATSAPP_APP_SECRET", SECRET);
    run_bounded(cmd, Duration::from_secs(60))
}

#[test]
fn the_whatsapp_builder_sends_exactly_the_recorded_bodies_signed() {
    let (port, received) = recorder();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut recorded = recordings(dir.path(), 50);
    let webhooks = format!("webhooks={}", dir.path().join("webhooks").display());
    let stages = json!([{ "name": "replay", "rate": 400, "duration": "2s", "requests": 50 }]);
    let output = drill(port, dir.path(), stages, "whatsapp_replay", &webhooks, &[]);
    // The latency gate may fail on a busy machine (exit 1); what is sent may not.
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        describe(&output)
    );

    let received = received.lock().expect("lock").clone();
    let mut bodies: Vec<Vec<u8>> = received.iter().map(|r| r.body.clone()).collect();
    bodies.sort();
    recorded.sort();
    assert_eq!(
        bodies, recorded,
        "each recording exactly once, nothing else"
    );
    for request in &received {
        assert_eq!(
            request.header("x-hub-signature-256"),
            Some(hub_signature(SECRET, &request.body).as_str())
        );
    }
    let report = only_report(&dir.path().join("out"), "load-drill-");
    assert_valid_drill_report(&report);
    let stage = &scenario(&report, "whatsapp_webhook")["stages"][0];
    assert_eq!(
        (stage["requests"].as_u64(), stage["plugin_errors"].as_u64()),
        (Some(50), Some(0)),
        "{stage}"
    );
    let builder = report["plugins"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["kind"] == "payload-builder"))
        .expect("the builder is in the report");
    assert_eq!(builder["name"], "whatsapp_replay");
    assert_eq!(builder["data"][0]["files"], 50, "{builder}");
}

#[test]
fn hostile_builders_are_contained_and_counted() {
    let (port, received) = recorder();
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).expect("mkdir");
    std::fs::write(corpus.join("a.txt"), b"inside").expect("write");
    std::fs::write(dir.path().join("outside.txt"), b"secret").expect("write");
    std::os::unix::fs::symlink(dir.path().join("outside.txt"), corpus.join("leak"))
        .expect("symlink");
    let stages = json!([
        { "name": "outside", "rate": 100, "duration": "1s", "requests": 5 },
        { "name": "symlink", "rate": 100, "duration": "1s", "requests": 5 },
        { "name": "write", "rate": 100, "duration": "1s", "requests": 5 },
        { "name": "huge", "rate": 100, "duration": "1s", "requests": 5 },
        { "name": "spin", "rate": 20, "duration": "1s", "requests": 3 }
    ]);
    let output = drill(
        port,
        dir.path(),
        stages,
        relhost::plugin::artifacts::PAYLOAD_HOSTILE,
        &format!("corpus={}", corpus.display()),
        &[],
    );
    // The broken batches fail the plugin-error gate; the report is written.
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let received = received.lock().expect("lock").clone();
    assert_eq!(received.len(), 15, "the probing stages were sent");
    for request in &received {
        let body = String::from_utf8_lossy(&request.body);
        assert!(body.contains("=denied") && !body.contains("LEAK"), "{body}");
    }
    assert!(!corpus.join("new.txt").exists());
    let report = only_report(&dir.path().join("out"), "load-drill-");
    assert_valid_drill_report(&report);
    let stage = |name: &str| {
        scenario(&report, "whatsapp_webhook")["stages"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name))
            .unwrap_or_else(|| panic!("no stage {name}"))
            .clone()
    };
    for (name, errors) in [("huge", 5), ("spin", 3)] {
        let s = stage(name);
        assert_eq!(
            (s["requests"].as_u64(), s["plugin_errors"].as_u64()),
            (Some(0), Some(errors)),
            "{name}: {s}"
        );
    }
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("returned 513 payloads for a batch of 256"),
        "{warnings}"
    );
    assert!(
        warnings.contains("build exceeded its 100ms deadline"),
        "{warnings}"
    );
}

#[test]
fn data_that_is_missing_or_too_large_is_refused_before_any_request() {
    let (port, received) = recorder();
    let dir = tempfile::tempdir().expect("tempdir");
    recordings(dir.path(), 3);
    let webhooks = format!("webhooks={}", dir.path().join("webhooks").display());
    let stages = json!([{ "name": "s", "rate": 10, "duration": "1s", "requests": 3 }]);
    let corpus = format!("corpus={}", dir.path().join("webhooks").display());
    let cases: [(&str, &str, &[&str], &str); 4] = [
        (
            "whatsapp_replay",
            &corpus,
            &[],
            "--plugin-data=webhooks=DIR",
        ),
        (
            "whatsapp_replay",
            &webhooks,
            &["--plugin-data-max-bytes=100"],
            "holds more than 100 bytes",
        ),
        (
            "chat_corpus",
            &corpus,
            &[],
            "builds for chat_stream_http, not whatsapp_webhook",
        ),
        (
            "whatsapp_replay",
            &format!("webhooks={}", dir.path().join("nope").display()),
            &[],
            "cannot open the directory",
        ),
    ];
    for (builder, data, extra, expected) in cases {
        let output = drill(port, dir.path(), stages.clone(), builder, data, extra);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{builder} {data}: {}",
            describe(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    assert!(received.lock().expect("lock").is_empty());
    assert!(
        !dir.path().join("out").exists()
            || std::fs::read_dir(dir.path().join("out"))
                .expect("dir")
                .next()
                .is_none()
    );
}
