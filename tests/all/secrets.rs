//! Secrets end to end: every command, given a marker value in every
//! secret-bearing flag and variable, writes it in no file and no output;
//! plugins get only the secrets the run allows.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use relhost::plugin::artifacts::HOSTILE;
use serde_json::{Value, json};

use crate::support::*;

const OPS_TOKEN: &str = "leak-ops-token-5d1e9a";
const WHATSAPP: &str = "leak-whatsapp-secret-5d1e9a";
const GMAIL: &str = "leak-gmail-token-5d1e9a";
const HEADER: &str = "leak-header-token-5d1e9a";
const PLUGIN: &str = "leak-plugin-secret-5d1e9a";
const REGISTRY: &str = "leak-registry-password-5d1e9a";

/// Every file below `dir`, as text.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned();
            out.push((path.display().to_string(), text));
        }
    }
    out
}

#[test]
fn no_secret_reaches_a_file_or_the_output_of_any_command() {
    let sim = Sim::start_as(
        OPS_TOKEN,
        &[],
        &[
            ("WHATSAPP_APP_SECRET", WHATSAPP),
            ("GMAIL_PUBSUB_VERIFY_TOKEN", GMAIL),
        ],
    );
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("reports");
    let pools = work.path().join("pools");
    let pool = make_pool(&sim, &pools, "leak", 3);
    let pool_json = std::fs::read_to_string(&pool).expect("pool");
    let entries: Vec<Value> = serde_json::from_str(&pool_json).expect("pool JSON");
    let tokens: Vec<String> = entries
        .iter()
        .map(|e| e["authToken"].as_str().expect("token").to_string())
        .collect();
    let thread = entries[0]["threadId"].as_str().expect("thread").to_string();
    let tiny = profile_file(
        work.path(),
        "tiny",
        json!({
            "whatsapp_webhook": { "stages": [{ "name": "s", "rate": 10, "duration": "1s" }] },
            "gmail_push_webhook": { "stages": [{ "name": "s", "rate": 10, "duration": "1s" }] },
            "chat_stream_http": { "stages": [{ "name": "s", "concurrency": 2, "duration": "1s", "requests": 4 }] },
        }),
    );
    let hostile = hostile_profile(
        work.path(),
        &[
            ("leak_header", 5, 1),
            ("leak_path", 5, 1),
            ("log", 5, 1),
            ("secret", 5, 1),
        ],
    );
    let by_name = sim.base_url.replace("127.0.0.1", "localhost");
    let secrets = [
        ("WHATSAPP_APP_SECRET", WHATSAPP),
        ("GMAIL_PUBSUB_VERIFY_TOKEN", GMAIL),
        ("RELIABILITY_AUTH_TOKEN", tokens[0].as_str()),
        ("RELIABILITY_THREAD_ID", thread.as_str()),
        ("RELHOST_REGISTRY_USERNAME", "someone"),
        ("RELHOST_REGISTRY_PASSWORD", REGISTRY),
        ("HOSTILE_DECLARED", PLUGIN),
    ];
    let out_dir = format!("--output-dir={}", out.display());
    let tiny_flag = format!("--profile={}", tiny.display());
    let base = format!("--base-url={}", sim.base_url);
    let ops = format!("--ops-token={OPS_TOKEN}");
    let pool_flag = format!("--chat-auth-pool-file={}", pool.display());
    let junit = format!("--junit={}", out.join("ci.xml").display());
    let summary = format!("--summary={}", out.join("ci.md").display());
    // (arguments, extra environment)
    type Run<'a> = (Vec<String>, Vec<(&'a str, &'a str)>);
    let commands: Vec<Run> = vec![
        (
            vec![
                "drill".into(),
                base.clone(),
                format!("--plugin={HOSTILE}"),
                format!("--profile={}", hostile.display()),
                "--allow-secret=HOSTILE_DECLARED".into(),
            ],
            vec![],
        ),
        (
            vec!["drill".into(), base.clone(), tiny_flag.clone()],
            vec![],
        ),
        (
            vec![
                "load".into(),
                format!("{}/healthz", sim.base_url),
                "-n".into(),
                "5".into(),
                "-H".into(),
                format!("Authorization: Bearer {HEADER}"),
                format!("--header=X-Api-Key: {HEADER}"),
            ],
            vec![],
        ),
        (
            vec![
                "gate".into(),
                base.clone(),
                tiny_flag.clone(),
                ops.clone(),
                junit.clone(),
            ],
            vec![],
        ),
        (
            vec!["probe".into(), base.clone(), summary.clone()],
            vec![("RELIABILITY_CHAT_AUTH_POOL_JSON", pool_json.as_str())],
        ),
        (
            vec![
                "snapshot".into(),
                base.clone(),
                "--ops-token".into(),
                OPS_TOKEN.into(),
            ],
            vec![],
        ),
        (
            vec![
                "gameday".into(),
                base.clone(),
                format!("--profiles={}", tiny.display()),
                "--recovery-timeout=5s".into(),
            ],
            vec![("RELIABILITY_OPS_TOKEN", OPS_TOKEN)],
        ),
        (
            vec![
                "canary".into(),
                format!("--control-url={}", sim.base_url),
                format!("--candidate-url={by_name}"),
                tiny_flag.clone(),
                pool_flag.clone(),
            ],
            vec![],
        ),
        (
            vec![
                "milestone-gate".into(),
                "--milestone=m1_1k".into(),
                base.clone(),
                pool_flag.clone(),
                "--chat-concurrency-scale=0.01".into(),
                "--chat-duration-scale=0.02".into(),
            ],
            vec![],
        ),
        (
            vec![
                "region-readiness".into(),
                "--expected-peak-streams=10".into(),
            ],
            vec![],
        ),
        (vec!["dashboard".into()], vec![]),
        (
            vec![
                "plugin".into(),
                "list".into(),
                "oci://127.0.0.1:9/team/none".into(),
            ],
            vec![],
        ),
    ];
    let mut printed = String::new();
    for (args, env) in &commands {
        let mut cmd: Command = relhost();
        cmd.args(args)
            .envs(secrets.iter().copied())
            .envs(env.iter().copied());
        if args[0] != "plugin" {
            cmd.arg(&out_dir);
        }
        let output: Output = run_bounded(cmd, Duration::from_secs(120));
        assert!(
            matches!(output.status.code(), Some(0..=5)),
            "{args:?}: {}",
            describe(&output)
        );
        printed.push_str(&describe(&output));
    }
    let written = files(&out);
    assert!(written.len() >= 12, "{} files", written.len());
    let markers = [OPS_TOKEN, WHATSAPP, GMAIL, HEADER, PLUGIN, REGISTRY]
        .into_iter()
        .chain(tokens.iter().map(String::as_str));
    for marker in markers {
        assert!(
            !printed.contains(marker),
            "{marker} was printed:\n{printed}"
        );
        for (path, text) in &written {
            assert!(!text.contains(marker), "{marker} is in {path}");
        }
    }
    // The hostile plugin got its secret (the operator allowed it) and its
    // attempts to put it in a header name and a path were refused, masked.
    let hostile = written
        .iter()
        .find(|(path, _)| path.contains("load-drill-hostile-"))
        .map(|(_, text)| text.as_str())
        .expect("hostile report");
    assert!(
        hostile.contains("invalid header \\\"x leak ***\\\""),
        "{hostile}"
    );
    assert!(hostile.contains("invalid request target"), "{hostile}");
    // The gate's report records the command line with the token masked.
    assert!(
        printed.contains("--ops-token=***")
            || written.iter().any(|(_, t)| t.contains("--ops-token=***"))
    );
}

#[test]
fn plugins_get_only_the_secrets_the_run_allows() {
    let sim = Sim::start(&[], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = hostile_profile(dir.path(), &[("plain", 2, 1)]);
    let run = |flags: &[&str]| {
        let mut cmd = relhost();
        cmd.args(["drill", "--base-url", &sim.base_url])
            .arg(format!("--plugin={HOSTILE}"))
            .arg("--profile")
            .arg(&profile)
            .args(flags)
            .env("HOSTILE_DECLARED", PLUGIN)
            .arg("--output-dir")
            .arg(dir.path().join(flags.len().to_string()));
        run_bounded(cmd, Duration::from_secs(60))
    };
    // Declared but not allowed: not granted, and the report says so.
    let output = run(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = only_report(&dir.path().join("0"), "load-drill-hostile-");
    assert!(
        report["warnings"]
            .to_string()
            .contains("declares secret HOSTILE_DECLARED, which this run does not grant"),
        "{}",
        report["warnings"]
    );
    // relhost's own credentials are never granted.
    let output = run(&["--allow-secret=RELIABILITY_OPS_TOKEN"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("RELIABILITY_OPS_TOKEN is one of relhost's own credentials"),
        "{}",
        describe(&output)
    );
}
