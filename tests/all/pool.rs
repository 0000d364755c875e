//! `relhost pool` against a real `relhost sim` child: users created, then
//! reused on a rerun, the file's name, mode and shape, what the sim saw,
//! and the exit codes of failures.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `relhost pool` with `args` and the output directory.
fn pool(args: &[&str], out: &Path) -> std::process::Output {
    let mut cmd = relhost();
    cmd.arg("pool").args(args).arg("--output-dir").arg(out);
    run_bounded(cmd, LIMIT)
}

/// The count of `endpoint` answered with `status` in the sim's snapshot.
fn answered(snapshot: &Value, endpoint: &str, status: u64) -> u64 {
    snapshot["requests"]["by_endpoint_status"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["endpoint"] == endpoint && r["status"] == status)
        })
        .and_then(|r| r["count"].as_u64())
        .unwrap_or(0)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn creates_users_then_reuses_them() {
    let sim = Sim::start(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    let origin = format!("--app-origin={}", sim.base_url);
    let args = [
        "--count=5",
        origin.as_str(),
        "--prefix=t",
        "--seed=s1",
        "--parallelism=3",
    ];
    let first = pool(&args, out.path());
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("created 5, reused 0, failed 0"), "{stdout}");
    assert_eq!(files_in(out.path()), ["chat-auth-pool-t-s1-1-5.json"]);
    let path = out.path().join("chat-auth-pool-t-s1-1-5.json");
    assert!(stdout.contains(&path.display().to_string()), "{stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let entries = relhost::pool::load_pool_file(&path).expect("a valid pool file");
    assert_eq!(entries.len(), 5);
    let raw: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
    assert!(
        raw[0]["authToken"].is_string() && raw[0]["threadId"].is_string(),
        "{raw}"
    );
    for entry in &entries {
        // Each token works and owns its thread: the sim lets it chat there.
        let (status, _) = call(
            http::Method::POST,
            &format!("{}/api/chat", sim.base_url),
            Some(&entry.auth_token),
            Some(json!({"threadId": entry.thread_id, "message": "hi"})),
        );
        assert_eq!(status, 200);
        assert!(
            !describe(&first).contains(&entry.auth_token),
            "token printed"
        );
    }

    let second = pool(&args, out.path());
    assert_eq!(second.status.code(), Some(0), "{}", describe(&second));
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains("created 0, reused 5, failed 0"), "{stdout}");
    assert_eq!(files_in(out.path()), ["chat-auth-pool-t-s1-1-5.json"]);
    let again = relhost::pool::load_pool_file(&path).expect("a valid pool file");
    assert_eq!(again.len(), 5);
    for entry in &again {
        assert!(
            !describe(&second).contains(&entry.auth_token),
            "token printed"
        );
    }

    // The sim saw 5 sign-ups, then 5 "exists" answers and 5 sign-ins.
    let (status, snapshot) = call(
        http::Method::GET,
        &format!("{}/api/ops/reliability-snapshot", sim.base_url),
        Some("test-ops-token"),
        None,
    );
    assert_eq!(status, 200, "{snapshot}");
    assert_eq!(answered(&snapshot, "POST /api/auth/sign-up/email", 200), 5);
    assert_eq!(answered(&snapshot, "POST /api/auth/sign-up/email", 422), 5);
    assert_eq!(answered(&snapshot, "POST /api/auth/sign-in/email", 200), 5);
    assert_eq!(answered(&snapshot, "POST /api/threads", 200), 10);
    assert_eq!(
        snapshot["unique_users"], 5,
        "the 5 chat calls came from 5 users"
    );

    // The derived credentials are the registered ones.
    let creds = relhost::pool::user_credentials("t", "s1", 3);
    let (status, body) = call(
        http::Method::POST,
        &format!("{}/api/auth/sign-in/email", sim.base_url),
        None,
        Some(json!({"email": creds.email, "password": creds.password})),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_failed_user_means_exit_1_and_no_file() {
    let sim = Sim::start(&[], &[]);
    let out = tempfile::tempdir().expect("tempdir");
    // User 2 exists with another password: its sign-in is refused.
    let taken = relhost::pool::user_credentials("t", "s2", 2);
    let (status, _) = call(
        http::Method::POST,
        &format!("{}/api/auth/sign-up/email", sim.base_url),
        None,
        Some(json!({"email": taken.email, "password": "another-password"})),
    );
    assert_eq!(status, 200);
    let origin = format!("--app-origin={}", sim.base_url);
    let output = pool(
        &["--count=3", &origin, "--prefix=t", "--seed=s2", "--quiet"],
        out.path(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("user 2 (t+s2-2@loadtest.relhost.invalid): sign-in at")
            && stderr.contains("answered 401"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 of 3 users failed; no pool file written"),
        "{stderr}"
    );
    assert!(!stderr.contains(&taken.password));
    assert!(output.stdout.is_empty(), "quiet: {}", describe(&output));
    assert!(files_in(out.path()).is_empty());
}

#[test]
fn an_unreachable_origin_cannot_run() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let out = tempfile::tempdir().expect("tempdir");
    let origin = format!("--app-origin=http://127.0.0.1:{port}");
    let output = pool(
        &[
            "--count=3",
            &origin,
            "--prefix=t",
            "--seed=s1",
            "--max-attempts=2",
        ],
        out.path(),
    );
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("http://127.0.0.1:{port}/api/auth/sign-up/email")),
        "{stderr}"
    );
    assert!(files_in(out.path()).is_empty());
}

#[test]
fn bad_flags_are_bad_input() {
    let out = tempfile::tempdir().expect("tempdir");
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--count=0",
                "--app-origin=http://127.0.0.1:9",
                "--prefix=t",
                "--seed=s1",
            ],
            "--count",
        ),
        (
            &[
                "--count=2",
                "--app-origin=ftp://x",
                "--prefix=t",
                "--seed=s1",
            ],
            "http://",
        ),
        (
            &[
                "--count=2",
                "--app-origin=http://127.0.0.1:9",
                "--prefix=a b",
                "--seed=s1",
            ],
            "ASCII letters",
        ),
        (
            &["--count=2", "--app-origin=http://127.0.0.1:9", "--prefix=t"],
            "--seed",
        ),
        (
            &[
                "--count=2",
                "--app-origin=http://127.0.0.1:9",
                "--prefix=t",
                "--seed=s1",
                "--thread-path=threads",
            ],
            "starting with '/'",
        ),
    ];
    for (args, expected) in cases {
        let output = pool(args, out.path());
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            describe(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert!(files_in(out.path()).is_empty());
}
