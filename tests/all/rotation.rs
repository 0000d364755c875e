//! Chat drills over a multi-user pool: rotation strategies, coverage gates,
//! and what the sim saw on its side.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// Drills the chat scenario with 4 users, `requests` requests and extra flags.
fn chat_drill(
    sim: &Sim,
    dir: &Path,
    name: &str,
    requests: u32,
    flags: &[&str],
) -> (std::process::Output, Value) {
    chat_drill_of(sim, dir, name, 4, requests, flags)
}

/// Drills the chat scenario with `users` users, `requests` requests and extra flags.
fn chat_drill_of(
    sim: &Sim,
    dir: &Path,
    name: &str,
    users: u32,
    requests: u32,
    flags: &[&str],
) -> (std::process::Output, Value) {
    let profile = profile_file(
        dir,
        name,
        json!({ "chat_stream_http": { "stages": [
            { "name": "streams", "concurrency": users, "duration": "20s", "requests": requests }
        ] } }),
    );
    let out = dir.join(name);
    let mut cmd = relhost();
    cmd.args(["drill", "--base-url", &sim.base_url, "--profile"])
        .arg(&profile)
        .args(flags)
        .arg("--output-dir")
        .arg(&out);
    let output = run_bounded(cmd, Duration::from_secs(60));
    let report = only_report(&out, &format!("load-drill-{name}-"));
    assert_valid_drill_report(&report);
    (output, report)
}

fn gate_check<'a>(chat: &'a Value, name: &str) -> &'a Value {
    chat["slo_gate"]["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {name} check in {}", chat["slo_gate"]))
}

#[test]
fn stride_11_over_a_40_user_pool_touches_every_user_on_the_server() {
    let sim = Sim::start(&[], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = make_pool(&sim, dir.path(), "rot", 40);
    let pool_text = std::fs::read_to_string(&pool).expect("pool file");
    let before = snapshot(&sim, 60)["unique_users"].as_u64().unwrap_or(0);
    assert_eq!(before, 0, "nobody chatted yet");

    let (output, report) = chat_drill(
        &sim,
        dir.path(),
        "stride",
        80,
        &[
            "--chat-auth-pool-file",
            pool.to_str().expect("utf-8 path"),
            "--chat-rotation-mode=stride",
            "--chat-rotation-stride=11",
            "--chat-min-unique-coverage=1",
            "--chat-min-unique-users=40",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let chat = scenario(&report, "chat_stream_http");
    assert_eq!(chat["totals"]["status_counts"], json!({ "200": 80 }));
    let credentials = &chat["credentials"];
    assert_eq!(credentials["pool_size"], 40);
    assert_eq!(credentials["unique_used"], 40);
    assert_eq!(credentials["coverage"], 1.0);
    assert_eq!(
        (
            credentials["min_uses"].as_u64(),
            credentials["max_uses"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(credentials["rotation"]["name"], "stride");
    assert_eq!(gate_check(chat, "unique_users")["verdict"], "pass");
    assert_eq!(gate_check(chat, "unique_coverage")["verdict"], "pass");

    // The sim saw every one of the 40 users, twice each.
    let snap = snapshot(&sim, 60);
    assert_eq!(snap["unique_users"], 40, "{}", snap["chat_users"]);
    let users = snap["chat_users"].as_array().expect("chat_users");
    assert!(users.iter().all(|u| u["requests"] == 2), "{users:?}");

    // No token reached the report or the output.
    let entries: Vec<Value> = serde_json::from_str(&pool_text).expect("pool JSON");
    let report_text = report.to_string();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for entry in &entries {
        let token = entry["authToken"].as_str().expect("token");
        assert!(
            !report_text.contains(token) && !printed.contains(token),
            "a token leaked"
        );
    }
}

#[test]
fn a_stride_sharing_a_factor_warns_and_fails_the_coverage_gate() {
    let sim = Sim::start(&[], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = make_pool(&sim, dir.path(), "rot", 8);
    let (output, report) = chat_drill(
        &sim,
        dir.path(),
        "narrow",
        16,
        &[
            "--chat-auth-pool-file",
            pool.to_str().expect("utf-8 path"),
            "--chat-rotation-mode=stride",
            "--chat-rotation-stride=4",
            "--chat-min-unique-coverage=0.9",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let chat = scenario(&report, "chat_stream_http");
    assert_eq!(chat["credentials"]["unique_used"], 2);
    assert_eq!(chat["credentials"]["rotation"]["reachable"], 2);
    let check = gate_check(chat, "unique_coverage");
    assert_eq!(
        (check["verdict"].as_str(), check["observed"].as_f64()),
        (Some("fail"), Some(0.25))
    );
    assert!(
        report["warnings"]
            .to_string()
            .contains("reaches only 2 of 8"),
        "{}",
        report["warnings"]
    );
}

#[test]
fn random_rotation_repeats_per_seed() {
    let sim = Sim::start(&[], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = make_pool(&sim, dir.path(), "rot", 10);
    let pool = pool.to_str().expect("utf-8 path").to_string();
    let run = |name: &str, seed: &str| {
        let (output, report) = chat_drill(
            &sim,
            dir.path(),
            name,
            12,
            &[
                "--chat-auth-pool-file",
                &pool,
                "--chat-rotation-mode=random",
                "--chat-rotation-seed",
                seed,
            ],
        );
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        scenario(&report, "chat_stream_http")["credentials"].clone()
    };
    let a = run("random-a", "alpha");
    let b = run("random-b", "alpha");
    let c = run("random-c", "omega");
    assert_eq!(a, b, "the same seed gives the same picks");
    assert_ne!(
        (
            a["unique_used"].clone(),
            a["min_uses"].clone(),
            a["max_uses"].clone()
        ),
        (
            c["unique_used"].clone(),
            c["min_uses"].clone(),
            c["max_uses"].clone()
        ),
        "another seed gives another sequence"
    );
}

#[test]
fn bad_pools_and_rotation_flags_are_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing_thread = dir.path().join("pool.json");
    std::fs::write(
        &missing_thread,
        r#"[{"authToken":"tok-secret-1","threadId":"t1"},{"authToken":"tok-secret-2"}]"#,
    )
    .expect("write");
    // (flags, environment, expected in the message)
    type Case<'a> = (Vec<String>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![format!(
                "--chat-auth-pool-file={}",
                missing_thread.display()
            )],
            vec![],
            "threadId",
        ),
        (
            vec!["--chat-auth-pool-file=/nonexistent/pool.json".into()],
            vec![],
            "/nonexistent/pool.json",
        ),
        (
            vec![],
            vec![("RELIABILITY_CHAT_AUTH_POOL_JSON", "[]")],
            "RELIABILITY_CHAT_AUTH_POOL_JSON",
        ),
        (
            vec!["--chat-rotation-stride=0".into()],
            vec![],
            "--chat-rotation-stride",
        ),
        (
            vec!["--chat-min-unique-coverage=1.5".into()],
            vec![],
            "from 0 to 1",
        ),
        (
            vec!["--chat-rotation-mode=sideways".into()],
            vec![],
            "round_robin",
        ),
    ];
    for (args, env, expected) in cases {
        let mut cmd = relhost();
        cmd.args(["drill", "--quick=true"])
            .args(&args)
            .envs(env.iter().copied());
        cmd.arg("--output-dir").arg(dir.path().join("reports"));
        let output = run_bounded(cmd, Duration::from_secs(30));
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            describe(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("tok-secret"), "a token leaked: {stderr}");
    }
    assert!(missing_thread.exists() && !dir.path().join("reports").exists());
}

/// Chat requests per user so far, as the sim counted them.
fn chats_per_user(sim: &Sim) -> BTreeMap<String, u64> {
    snapshot(sim, 60)["chat_users"]
        .as_array()
        .expect("chat_users")
        .iter()
        .map(|u| {
            let id = u["user_id"].as_str().expect("user_id").to_string();
            (id, u["requests"].as_u64().expect("requests"))
        })
        .collect()
}

/// What the sim counted per user between two readings (users with none left out).
fn difference(
    after: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(id, n)| (id.clone(), n - before.get(id).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[test]
fn rotation_reaches_every_entry_whatever_the_workers_and_the_spread_of_users() {
    let sim = Sim::start(&[], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = make_pool(&sim, dir.path(), "dense", 40);
    let pool = format!("--chat-auth-pool-file={}", pool.display());
    // Three users on four workers leave one worker without a user, and
    // split the others unevenly; five users on four workers give one two.
    for (workers, users) in [(1, 3), (2, 3), (4, 3), (4, 5)] {
        for mode in [
            &["--chat-rotation-mode=round_robin"][..],
            &["--chat-rotation-mode=stride", "--chat-rotation-stride=11"],
        ] {
            let before = chats_per_user(&sim);
            let name = format!("dense-w{workers}-u{users}-{}", mode.len());
            let workers_flag = format!("--workers={workers}");
            let mut flags = vec![pool.as_str(), workers_flag.as_str()];
            flags.extend(mode);
            let (output, report) = chat_drill_of(&sim, dir.path(), &name, users, 40, &flags);
            assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
            let seen = difference(&chats_per_user(&sim), &before);
            assert_eq!(
                (seen.len(), seen.values().max().copied()),
                (40, Some(1)),
                "{name}: the target saw {seen:?}"
            );
            let credentials = &scenario(&report, "chat_stream_http")["credentials"];
            assert_eq!(
                (&credentials["unique_used"], &credentials["max_uses"]),
                (&json!(40), &json!(1)),
                "{name}"
            );
        }
    }
}

#[test]
fn random_rotation_gives_the_same_picks_whatever_the_workers() {
    let sim = Sim::start(&[], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = make_pool(&sim, dir.path(), "rnd", 12);
    let pool = format!("--chat-auth-pool-file={}", pool.display());
    let mut seen = Vec::new();
    for (workers, users) in [(1, 2), (4, 3)] {
        let before = chats_per_user(&sim);
        let workers_flag = format!("--workers={workers}");
        let (output, _) = chat_drill_of(
            &sim,
            dir.path(),
            &format!("rnd-w{workers}"),
            users,
            30,
            &[
                &pool,
                &workers_flag,
                "--chat-rotation-mode=random",
                "--chat-rotation-seed=alpha",
            ],
        );
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        seen.push(difference(&chats_per_user(&sim), &before));
    }
    assert_eq!(seen[0].values().sum::<u64>(), 30);
    assert_eq!(seen[0], seen[1], "the same seed picks the same users");
}
