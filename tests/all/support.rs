//! Helpers: run the real binary with a clean environment, start the real
//! sim as a child process, read reports.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use relhost::http::{Client, ClientConfig, OutgoingRequest};
use serde_json::Value;

/// Environment variables the tests control; removed from every child.
const CONTROLLED_ENV: &[&str] = &[
    "RELIABILITY_BASE_URL",
    "RELIABILITY_AUTH_TOKEN",
    "RELIABILITY_THREAD_ID",
    "RELIABILITY_CHAT_AUTH_POOL_FILE",
    "RELIABILITY_CHAT_AUTH_POOL_JSON",
    "RELIABILITY_EXPECTED_PEAK_STREAMS",
    "RELHOST_REGISTRY_USERNAME",
    "RELHOST_REGISTRY_PASSWORD",
    "RELIABILITY_OUTPUT_DIR",
    "RELIABILITY_SLO_BASELINE",
    "RELIABILITY_OPS_TOKEN",
    "RELIABILITY_SEED",
    "WHATSAPP_APP_SECRET",
    "GMAIL_PUBSUB_VERIFY_TOKEN",
    "SIM_FAULTS",
    "SIM_SEED",
    "SIM_REST_OPS",
    "SIM_TOOL_CALL_PCT",
    "CONVEX_URL",
    "CONVEX_DEPLOY_KEY",
    "RELHOST_CONVEX_USER_TOKEN",
    "RUST_BACKTRACE",
    "RELHOST_SEGMENTS",
    "JOB_COMPLETION_INDEX",
];

/// The `relhost` binary with a controlled environment. Its plugin cache
/// (compiled plugins) is one temporary directory per test process, never
/// the user's `~/.relhost`; a test may point it elsewhere.
pub(crate) fn relhost() -> Command {
    machine_shared();
    static CACHE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(|| tempfile::tempdir().expect("tempdir"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_relhost"));
    for name in CONTROLLED_ENV {
        cmd.env_remove(name);
    }
    cmd.env("RELHOST_CACHE_DIR", cache.path());
    cmd.stdin(Stdio::null());
    cmd
}

/// Every test holds the machine shared from its first command, sim or
/// target on ([`machine_shared`]); a test that times sends holds it alone
/// ([`machine_to_myself`]), so that no other test's processes take the time
/// its sends are measured by (on two cores, one busy relhost is enough).
static MACHINE: RwLock<()> = RwLock::new(());

thread_local! {
    /// Whether this test holds the machine alone.
    static ALONE: Cell<bool> = const { Cell::new(false) };
    /// This test's shared hold, released when its thread ends.
    static SHARED: RefCell<Option<RwLockReadGuard<'static, ()>>> = const { RefCell::new(None) };
}

/// Holds the machine shared for the rest of this test. Call it from the
/// test's own thread (a thread it spawns would wait on a waiting
/// [`machine_to_myself`] that waits on the test).
pub(crate) fn machine_shared() {
    if ALONE.with(Cell::get) {
        return;
    }
    SHARED.with(|shared| {
        let mut shared = shared.borrow_mut();
        if shared.is_none() {
            *shared = Some(MACHINE.read().unwrap_or_else(PoisonError::into_inner));
        }
    });
}

/// The machine to this test alone while the guard lives.
pub(crate) struct Alone {
    _guard: RwLockWriteGuard<'static, ()>,
}

impl Drop for Alone {
    fn drop(&mut self) {
        ALONE.with(|alone| alone.set(false));
    }
}

/// Takes the machine for this test alone; call it first.
pub(crate) fn machine_to_myself() -> Alone {
    let guard = MACHINE.write().unwrap_or_else(PoisonError::into_inner);
    ALONE.with(|alone| alone.set(true));
    Alone { _guard: guard }
}

/// Runs a command to completion, killing it after `limit`.
pub(crate) fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn relhost");
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            if !process_alive(pid) {
                return;
            }
        }
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    });
    let output = child.wait_with_output().expect("wait for relhost");
    let _ = watchdog.join();
    output
}

fn process_alive(pid: u32) -> bool {
    // A zombie (exited, not yet reaped) counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.contains(") Z "))
        .unwrap_or(false)
}

/// A `relhost sim` child process, killed when dropped.
pub(crate) struct Sim {
    child: Child,
    /// `http://127.0.0.1:PORT`: HTTP actions (as `NAME.convex.site`).
    pub(crate) base_url: String,
    /// `http://127.0.0.1:PORT` of the Convex function API (as
    /// `NAME.convex.cloud`): the base URL unless started split.
    pub(crate) functions_url: String,
}

/// The deploy key of test sims.
pub(crate) const DEPLOY_KEY: &str = "test-deploy-key-0123456789";

impl Sim {
    /// Starts `relhost sim --listen=127.0.0.1:0` with extra arguments and environment.
    pub(crate) fn start(args: &[&str], env: &[(&str, &str)]) -> Sim {
        Sim::start_as("test-ops-token", args, env)
    }

    /// [`Sim::start`] with the given ops token.
    pub(crate) fn start_as(ops_token: &str, args: &[&str], env: &[(&str, &str)]) -> Sim {
        machine_shared();
        let mut cmd = relhost();
        cmd.args(["sim", "--listen=127.0.0.1:0"])
            .arg(format!("--ops-token={ops_token}"))
            .arg(format!("--deploy-key={DEPLOY_KEY}"))
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn relhost sim");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stdout = BufReader::new(stdout);
        let mut line = |prefix: &str| {
            let mut text = String::new();
            stdout
                .read_line(&mut text)
                .expect("read the sim's first lines");
            text.trim()
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("unexpected line from relhost sim: {text:?}"))
                .to_string()
        };
        let base_url = line("relhost-sim listening on ");
        let functions_url = line("function API on ");
        Sim {
            child,
            base_url,
            functions_url,
        }
    }

    /// Starts a sim whose function API has its own address, with the REST
    /// ops routes off: reachable only as a Convex deployment is.
    pub(crate) fn start_convex(args: &[&str], env: &[(&str, &str)]) -> Sim {
        let mut all = vec!["--functions-listen=127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut env = env.to_vec();
        env.push(("SIM_REST_OPS", "false"));
        Sim::start(&all, &env)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The one report file in `dir` whose name starts with `prefix`.
pub(crate) fn only_report(dir: &Path, prefix: &str) -> Value {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json"))
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        files.len(),
        1,
        "expected one {prefix}* report in {}: {files:?}",
        dir.display()
    );
    let text = std::fs::read_to_string(&files[0]).expect("read report");
    serde_json::from_str(&text).expect("report is JSON")
}

/// Fails unless `report` validates against the published drill-report schema.
pub(crate) fn assert_valid_drill_report(report: &Value) {
    assert_matches_schema(report, "load-drill");
}

/// Fails unless `report` validates against `schemas/<name>.schema.json`.
pub(crate) fn assert_matches_schema(report: &Value, name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../schemas/{name}.schema.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read schema"))
        .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match {name}: {errors:#?}"
    );
}

/// A profile file with one scenario and the given stages (JSON).
pub(crate) fn profile_file(dir: &Path, name: &str, scenarios: Value) -> PathBuf {
    let path = dir.join(format!("{name}.json"));
    let profile = serde_json::json!({
        "name": name,
        "description": "test profile",
        "scenarios": scenarios,
    });
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&profile).expect("serialize"),
    )
    .expect("write profile");
    path
}

/// A stage of `rate` requests per second for `seconds`.
pub(crate) fn rate_stage(name: &str, rate: u32, seconds: u32) -> Value {
    serde_json::json!({ "name": name, "rate": rate, "duration": format!("{seconds}s") })
}

/// A profile `hostile` for the hostile test plugin: its `(stage, rate,
/// seconds)` stages, each stage name choosing how the plugin misbehaves.
pub(crate) fn hostile_profile(dir: &Path, stages: &[(&str, u32, u32)]) -> PathBuf {
    let stages: Vec<Value> = stages
        .iter()
        .map(|&(name, rate, seconds)| rate_stage(name, rate, seconds))
        .collect();
    profile_file(
        dir,
        "hostile",
        serde_json::json!({ "hostile": { "stages": stages } }),
    )
}

/// The scenario named `name` in a drill report.
pub(crate) fn scenario<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["scenarios"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no scenario {name} in the report"))
}

/// Sum of a `{"key": count}` object's counts.
pub(crate) fn sum_counts(counts: &Value) -> u64 {
    counts
        .as_object()
        .map(|o| o.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}

/// Text of the output streams, for assertion messages.
pub(crate) fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// One HTTP call from the test, through relhost's own client.
pub(crate) fn call(
    method: http::Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = Client::new(&ClientConfig::default()).expect("client");
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            "application/json".parse().expect("value"),
        );
        if let Some(token) = bearer {
            headers.insert(
                http::header::AUTHORIZATION,
                format!("Bearer {token}").parse().expect("value"),
            );
        }
        let request = OutgoingRequest {
            method,
            uri: url.parse().expect("url"),
            headers,
            body: body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())),
        };
        let (status, _, body) = client.send_collect(request).await.expect("answer");
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    })
}

/// The sim's reliability snapshot over the last `minutes`.
pub(crate) fn snapshot(sim: &Sim, minutes: u32) -> Value {
    let url = format!(
        "{}/api/ops/reliability-snapshot?minutes={minutes}&limit=1000",
        sim.base_url
    );
    let (status, body) = call(http::Method::GET, &url, Some("test-ops-token"), None);
    assert_eq!(status, 200, "snapshot: {body}");
    body
}

/// A JUnit document's test cases as `(classname, name, failed, skipped)`,
/// after checking that it is well-formed: declaration, balanced tags,
/// quoted attributes, known entities only.
pub(crate) fn junit_cases(xml: &str) -> Vec<(String, String, bool, bool)> {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("XML declaration");
    let mut stack: Vec<String> = Vec::new();
    let mut cases: Vec<(String, String, bool, bool)> = Vec::new();
    let mut rest = body;
    let attr = |tag: &str, name: &str| -> String {
        let key = format!(" {name}=\"");
        let start = tag
            .find(&key)
            .map(|i| i + key.len())
            .unwrap_or_else(|| panic!("no {name} in <{tag}>"));
        let end = tag[start..].find('"').expect("closing quote") + start;
        tag[start..end].to_string()
    };
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        assert!(!text.contains('>'), "raw > in text {text:?}");
        for (i, _) in text.match_indices('&') {
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| text[i..].starts_with(e)),
                "bad entity in {text:?}"
            );
        }
        let close = rest[open..].find('>').expect("tag closes") + open;
        let tag = &rest[open + 1..close];
        assert!(!tag.contains('<'), "< inside a tag: {tag:?}");
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in {tag:?}"
        );
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
        } else {
            let self_closing = tag.ends_with('/');
            let name = tag
                .trim_end_matches('/')
                .split_whitespace()
                .next()
                .expect("name")
                .to_string();
            match name.as_str() {
                "testcase" => cases.push((attr(tag, "classname"), attr(tag, "name"), false, false)),
                "failure" => cases.last_mut().expect("failure in a testcase").2 = true,
                "skipped" => cases.last_mut().expect("skipped in a testcase").3 = true,
                _ => {}
            }
            if !self_closing {
                stack.push(name);
            }
        }
        rest = &rest[close + 1..];
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
    assert!(rest.trim().is_empty());
    cases
}

/// Creates `count` users on the sim with `relhost pool`; returns the pool file.
pub(crate) fn make_pool(sim: &Sim, dir: &Path, prefix: &str, count: u32) -> PathBuf {
    let mut cmd = relhost();
    cmd.args([
        "pool",
        &format!("--count={count}"),
        &format!("--app-origin={}", sim.base_url),
        &format!("--convex-url={}", sim.functions_url),
        &format!("--prefix={prefix}"),
        "--seed=s1",
        "--quiet",
        "--output-dir",
    ])
    .arg(dir);
    let output = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    dir.join(format!("chat-auth-pool-{prefix}-s1-1-{count}.json"))
}

/// A program a test needs: `$env` when set, else Debian's `binary`.
/// Tests install nothing (`.ci/run` installs `package`): when it is missing
/// the test says so and is skipped (`None`), except under `CI`, where a
/// missing program fails.
pub(crate) fn test_program(env: &str, binary: &str, package: &str) -> Option<PathBuf> {
    machine_shared();
    let path = std::env::var_os(env).map_or_else(|| PathBuf::from(binary), PathBuf::from);
    if path.exists() {
        return Some(path);
    }
    let missing = format!(
        "{} not found: install Debian's {package} (.ci/run does) or set {env}",
        path.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{missing}");
    eprintln!("skipped: {missing}");
    None
}

/// A request a [`recorder`] received: its lower-cased headers and its body.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Recorded {
    /// The value of header `name` (lower case), if sent.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 target on 127.0.0.1 that answers 200 to everything
/// and records each request it got.
pub(crate) fn recorder() -> (u16, Arc<Mutex<Vec<Recorded>>>) {
    machine_shared();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let sink = Arc::clone(&sink);
            std::thread::spawn(move || record(stream, &sink));
        }
    });
    (port, received)
}

fn record(stream: TcpStream, sink: &Mutex<Vec<Recorded>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        sink.lock().expect("lock").push(Recorded { headers, body });
        let _ = writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    }
}

/// `sha256=<hex>`: the HMAC-SHA256 of `body` keyed with `secret`, as
/// WhatsApp's `X-Hub-Signature-256` carries it.
pub(crate) fn hub_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}
