//! The plugin registry against a real OCI registry: Docker's distribution
//! (Debian's `docker-registry`) on 127.0.0.1, one per test, on an
//! ephemeral port. Push, list, pull, semver ranges, the lock file, a drill
//! with a pulled plugin, and refusing blobs changed in the registry. Also
//! `relhost plugin new`: scaffold, build with cargo, load with the runtime.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::*;

/// Where Debian's `docker-registry` package installs the binary.
const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";

/// A `docker-registry serve` child on 127.0.0.1, killed when dropped.
struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    host: String,
    /// The registry's storage root.
    storage: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// A running registry; `None` (skipped) when its program is missing.
    fn start() -> Option<Registry> {
        let bin = test_program(
            "RELHOST_TEST_DOCKER_REGISTRY",
            DOCKER_REGISTRY,
            "docker-registry",
        )?;
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = dir.path().join("storage");
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                     storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                     http:\n  addr: 127.0.0.1:{port}\n",
                    storage.display()
                ),
            )
            .expect("write registry config");
            let mut child = Command::new(&bin)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    break; // the port was taken meanwhile: try another
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Registry {
                        child,
                        host: format!("127.0.0.1:{port}"),
                        storage,
                        _dir: dir,
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "{} did not start listening on 127.0.0.1 after 5 attempts",
            bin.display()
        );
    }

    fn oci(&self, path: &str) -> String {
        format!("oci://{}/{path}", self.host)
    }

    /// The file holding blob `hex` in the registry's storage.
    fn blob_file(&self, hex: &str) -> PathBuf {
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A scratch directory with its own local registry, cache and lock file.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        Work {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `relhost ARGS` in the scratch directory, with its registry, cache and lock.
    fn relhost(&self, args: &[&str], cache: &str) -> Output {
        let mut cmd = relhost();
        cmd.current_dir(self.dir.path())
            .args(args)
            .env("RELHOST_REGISTRY_DIR", self.path("local-registry"))
            .env("RELHOST_CACHE_DIR", self.path(cache))
            .env_remove("RELHOST_REGISTRY_USERNAME")
            .env_remove("RELHOST_REGISTRY_PASSWORD");
        run_bounded(cmd, Duration::from_secs(120))
    }

    /// Writes a built-in plugin's component with `relhost plugin export`.
    fn export(&self, name: &str) -> (PathBuf, String) {
        let path = self.path(&format!("{name}.wasm"));
        let out = self.relhost(
            &["plugin", "export", name, &path.to_string_lossy()],
            "cache",
        );
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let bytes = std::fs::read(&path).expect("exported");
        (path, hex(&Sha256::digest(&bytes)))
    }

    fn lock(&self) -> Value {
        let text = std::fs::read_to_string(self.path("relhost.lock")).expect("relhost.lock");
        serde_json::from_str(&text).expect("lock is JSON")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", describe(out));
}

fn wasm_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join("sha256"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

#[test]
fn push_list_pull_a_semver_range_lock_and_drill_the_pulled_plugin() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let work = Work::new();
    let (whatsapp, whatsapp_sha) = work.export("whatsapp_webhook");
    let (gmail, _) = work.export("gmail_push_webhook");
    let (chat, _) = work.export("chat_stream_http");

    let out = work.relhost(
        &[
            "plugin",
            "push",
            &whatsapp.to_string_lossy(),
            &registry.oci("ns/whatsapp_webhook:0.1.0"),
        ],
        "cache",
    );
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("manifest  sha256:"),
        "{}",
        describe(&out)
    );

    // Three versions whose lexical and semver orders differ.
    for (file, version) in [(&gmail, "0.9.0"), (&whatsapp, "0.10.0"), (&chat, "1.0.0")] {
        let reference = registry.oci(&format!("ns/ranged:{version}"));
        let out = work.relhost(
            &[
                "plugin",
                "push",
                &file.to_string_lossy(),
                &reference,
                "--allow-version-mismatch",
            ],
            "cache",
        );
        assert_exit(&out, 0);
    }
    let out = work.relhost(&["plugin", "list", &registry.oci("ns/ranged")], "cache");
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "0.9.0\n0.10.0\n1.0.0\n");
    let out = work.relhost(
        &["plugin", "list", "--json", &registry.oci("ns/ranged")],
        "cache",
    );
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).expect("json"),
        json!(["0.9.0", "0.10.0", "1.0.0"])
    );

    // A version that exists only with --force, and a version mismatch.
    let out = work.relhost(
        &[
            "plugin",
            "push",
            &whatsapp.to_string_lossy(),
            &registry.oci("ns/whatsapp_webhook:0.1.0"),
        ],
        "cache",
    );
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("already published"),
        "{}",
        describe(&out)
    );
    let out = work.relhost(
        &[
            "plugin",
            "push",
            &whatsapp.to_string_lossy(),
            &registry.oci("ns/whatsapp_webhook:2.0.0"),
        ],
        "cache",
    );
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("--allow-version-mismatch"),
        "{}",
        describe(&out)
    );

    // ^0 resolves to 0.10.0 (semver, not lexical order), pulls, caches and locks it.
    let out = work.relhost(&["plugin", "pull", &registry.oci("ns/ranged@^0")], "cache");
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("-> 0.10.0"), "{}", describe(&out));
    let lock = work.lock();
    let entry = &lock["plugins"][0];
    assert_eq!(entry["name"], "ns/ranged");
    assert_eq!(entry["registry"], format!("oci://{}", registry.host));
    assert_eq!(entry["requirement"], "^0");
    assert_eq!(entry["version"], "0.10.0");
    assert_eq!(entry["sha256"], whatsapp_sha.as_str());
    let cached = work
        .path("cache/sha256")
        .join(format!("{whatsapp_sha}.wasm"));
    assert_eq!(
        std::fs::read(&cached).expect("cached"),
        std::fs::read(&whatsapp).expect("exported")
    );

    // Locked: the same requirement passes, another one would change the lock.
    let out = work.relhost(
        &["plugin", "pull", "--locked", &registry.oci("ns/ranged@^0")],
        "cache",
    );
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("unchanged"), "{}", describe(&out));
    let out = work.relhost(
        &["plugin", "pull", "--locked", &registry.oci("ns/ranged@^1")],
        "cache",
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--locked, but"), "{}", describe(&out));
    assert!(stderr(&out).contains("ns/ranged@^1"), "{}", describe(&out));

    // Unknown tags and unsatisfiable requirements name the reference.
    for reference in [
        registry.oci("ns/ranged:3.0.0"),
        registry.oci("ns/ranged@^5"),
    ] {
        let out = work.relhost(&["plugin", "pull", &reference], "cache");
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(&reference), "{}", describe(&out));
        assert!(
            stderr(&out).contains("available: 0.9.0, 0.10.0, 1.0.0"),
            "{}",
            describe(&out)
        );
    }
    let out = work.relhost(&["plugin", "pull", &registry.oci("ns/missing@^1")], "cache");
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("no such plugin"),
        "{}",
        describe(&out)
    );

    // Inspect the pulled plugin by reference.
    let out = work.relhost(
        &["plugin", "inspect", &registry.oci("ns/ranged@^0")],
        "cache",
    );
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("whatsapp_webhook 0.1.0 (scenario plugin)"),
        "{}",
        describe(&out)
    );

    // A drill with the pulled plugin, against the sim, with a fresh cache.
    let sim = Sim::start(&[], &[]);
    let profile = profile_file(
        work.dir.path(),
        "registry",
        json!({ "whatsapp_webhook": { "stages": [
            { "name": "steady", "rate": 20, "duration": "2s" }
        ] } }),
    );
    let reference = format!("--plugin={}", registry.oci("ns/whatsapp_webhook@^0.1"));
    for locked in [false, true] {
        let mut args = vec![
            "run",
            &reference,
            "--base-url",
            &sim.base_url,
            "--profile",
            profile.to_str().expect("utf-8"),
            "--output-dir",
            if locked { "out-locked" } else { "out" },
            "--quiet",
        ];
        if locked {
            args.push("--locked");
        }
        let out = work.relhost(&args, "drill-cache");
        assert_exit(&out, 0);
        let report = only_report(
            &work.path(if locked { "out-locked" } else { "out" }),
            "load-drill-registry-",
        );
        assert_valid_drill_report(&report);
        let scenario = scenario(&report, "whatsapp_webhook");
        assert!(
            scenario["totals"]["requests"].as_u64().unwrap_or(0) > 0,
            "{scenario}"
        );
        assert!(
            report.to_string().contains(&whatsapp_sha),
            "report names the digest"
        );
    }
    let lock = work.lock();
    assert!(
        lock["plugins"]
            .as_array()
            .expect("plugins")
            .iter()
            .any(|e| e["name"] == "ns/whatsapp_webhook" && e["version"] == "0.1.0"),
        "{lock}"
    );
}

#[test]
fn blobs_changed_in_the_registry_are_refused() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let work = Work::new();
    let (whatsapp, whatsapp_sha) = work.export("whatsapp_webhook");
    let (chat, _) = work.export("chat_stream_http");
    let reference = registry.oci("ns/t@^0.1");
    let push = |file: &Path, force: bool| {
        let mut args = vec![
            "plugin".to_string(),
            "push".into(),
            file.to_string_lossy().into_owned(),
            registry.oci("ns/t:0.1.0"),
            "--allow-version-mismatch".into(),
        ];
        if force {
            args.push("--force".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        work.relhost(&args, "cache")
    };
    assert_exit(&push(&whatsapp, false), 0);
    assert_exit(&work.relhost(&["plugin", "pull", &reference], "cache"), 0);

    // Another component pushed under the locked version: a fresh machine
    // (cold cache) refuses it, locked or not.
    assert_exit(&push(&chat, true), 0);
    for locked in [true, false] {
        let mut args = vec!["plugin", "pull", &reference];
        if locked {
            args.push("--locked");
        }
        let out = work.relhost(&args, if locked { "cold-1" } else { "cold-2" });
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(&whatsapp_sha), "{}", describe(&out));
        assert!(stderr(&out).contains("refusing it"), "{}", describe(&out));
        assert!(stderr(&out).contains(&reference), "{}", describe(&out));
    }
    // The warm cache still holds the reviewed component, verified on load.
    let out = work.relhost(&["plugin", "pull", "--locked", &reference], "cache");
    assert_exit(&out, 0);

    // Bytes changed in the registry's storage: the digest check refuses them
    // and nothing reaches the cache.
    assert_exit(&push(&whatsapp, true), 0);
    let blob = registry.blob_file(&whatsapp_sha);
    let mut bytes = std::fs::read(&blob).expect("blob in the registry storage");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&blob, &bytes).expect("tamper");
    std::fs::remove_file(work.path("relhost.lock")).expect("drop the lock");
    let out = work.relhost(&["plugin", "pull", &reference], "cold-3");
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("tampered"), "{}", describe(&out));
    assert!(stderr(&out).contains(&reference), "{}", describe(&out));
    assert!(
        wasm_files(&work.path("cold-3")).is_empty(),
        "nothing cached"
    );
    assert!(!work.path("relhost.lock").exists(), "nothing locked");
}

#[test]
fn bad_input_and_unreachable_registries_have_their_exit_codes() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let work = Work::new();
    // Not a component: refused at push.
    let text = work.path("notes.wasm");
    std::fs::write(&text, "not wasm").expect("write");
    let out = work.relhost(
        &[
            "plugin",
            "push",
            &text.to_string_lossy(),
            &registry.oci("ns/x:1.0.0"),
        ],
        "cache",
    );
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("not a WebAssembly component"),
        "{}",
        describe(&out)
    );
    // A bad reference states the syntax.
    let out = work.relhost(&["plugin", "pull", "oci://127.0.0.1/NS/x@^1"], "cache");
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("expected oci://HOST"),
        "{}",
        describe(&out)
    );
    // Nobody listening: exit 3, naming the reference, in pull and in a run.
    let dead = format!("oci://127.0.0.1:{}/ns/x@^1", free_port());
    let out = work.relhost(&["plugin", "pull", &dead], "cache");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains(&dead), "{}", describe(&out));
    assert!(stderr(&out).contains("unreachable"), "{}", describe(&out));
    let out = work.relhost(
        &[
            "run",
            &format!("--plugin={dead}"),
            "--base-url=http://127.0.0.1:9",
        ],
        "cache",
    );
    assert_exit(&out, 3);
    // The local directory registry takes the same commands.
    let (whatsapp, _) = work.export("whatsapp_webhook");
    let out = work.relhost(
        &[
            "plugin",
            "push",
            &whatsapp.to_string_lossy(),
            "team/whatsapp_webhook:0.1.0",
        ],
        "cache",
    );
    assert_exit(&out, 0);
    let out = work.relhost(&["plugin", "list", "local:team/whatsapp_webhook"], "cache");
    assert_eq!(stdout(&out), "0.1.0\n", "{}", describe(&out));
    let out = work.relhost(
        &[
            "plugin",
            "inspect",
            "--forbid-secret=WHATSAPP_APP_SECRET",
            "local:team/whatsapp_webhook@^0.1",
        ],
        "cache",
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("forbid"), "{}", describe(&out));
}

/// Builds a scaffolded crate with cargo; returns the component.
fn cargo_build(crate_dir: &Path, name: &str) -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffold-target");
    // The same dependency versions as the built-in plugins.
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/Cargo.lock");
    std::fs::copy(&lock, crate_dir.join("Cargo.lock")).expect("copy Cargo.lock");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(crate_dir)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_ENCODED_RUSTFLAGS")
            || key == "RUSTFLAGS"
            || key.starts_with("CARGO_BUILD_")
            || key.starts_with("CARGO_PROFILE_")
            || key == "CARGO_TARGET_DIR"
        {
            cmd.env_remove(key.as_ref());
        }
    }
    let out = run_bounded(cmd, Duration::from_secs(600));
    assert_exit(&out, 0);
    target
        .join("wasm32-wasip2/release")
        .join(format!("{name}.wasm"))
}

#[test]
fn scaffolded_plugins_build_with_one_cargo_command_and_load() {
    let work = Work::new();
    for (name, kind, banner) in [
        (
            "scaffold_probe",
            "scenario",
            "scaffold_probe 0.1.0 (scenario plugin)",
        ),
        (
            "scaffold_rotation",
            "rotation",
            "scaffold_rotation 0.1.0 (rotation plugin)",
        ),
        (
            "scaffold_payload",
            "payload-builder",
            "scaffold_payload 0.1.0 (payload-builder plugin)",
        ),
    ] {
        let out = work.relhost(
            &[
                "plugin",
                "new",
                name,
                &format!("--kind={kind}"),
                "--dir=crates",
            ],
            "cache",
        );
        assert_exit(&out, 0);
        let component = cargo_build(&work.path("crates").join(name), name);
        let out = work.relhost(
            &["plugin", "inspect", &component.to_string_lossy()],
            "cache",
        );
        assert_exit(&out, 0);
        assert!(stdout(&out).contains(banner), "{}", describe(&out));
    }
    // The scaffolded scenario drills the sim (its endpoint is unknown there:
    // the requests are sent and judged, and the gate fails on the statuses).
    let component = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("scaffold-target/wasm32-wasip2/release/scaffold_probe.wasm");
    let sim = Sim::start(&[], &[]);
    let profile = profile_file(
        work.dir.path(),
        "scaffold",
        json!({ "scaffold_probe": { "stages": [
            { "name": "steady", "rate": 10, "duration": "1s" }
        ] } }),
    );
    let out = work.relhost(
        &[
            "run",
            &format!("--plugin={}", component.display()),
            "--base-url",
            &sim.base_url,
            "--profile",
            profile.to_str().expect("utf-8"),
            "--output-dir=out",
            "--quiet",
        ],
        "cache",
    );
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        describe(&out)
    );
    let report = only_report(&work.path("out"), "load-drill-scaffold-");
    let probe = scenario(&report, "scaffold_probe");
    assert!(
        probe["totals"]["requests"].as_u64().unwrap_or(0) > 0,
        "{probe}"
    );
}

#[test]
fn a_rotation_strategy_comes_from_the_registry_too() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let work = Work::new();
    let (stride, _) = work.export("stride");
    let out = work.relhost(
        &[
            "plugin",
            "push",
            &stride.to_string_lossy(),
            &registry.oci("ns/stride:0.1.0"),
        ],
        "cache",
    );
    assert_exit(&out, 0);
    let profile = profile_file(
        work.dir.path(),
        "rotation",
        json!({ "chat_stream_http": { "stages": [
            { "name": "streams", "concurrency": 1, "duration": "10s", "requests": 2 }
        ] } }),
    );
    // No base URL: the in-process sim provisions a demo user, so the chat
    // scenario has a pool of one and loads the rotation strategy.
    let out = work.relhost(
        &[
            "run",
            &format!("--chat-rotation-plugin={}", registry.oci("ns/stride@^0.1")),
            "--profile",
            profile.to_str().expect("utf-8"),
            "--output-dir=out",
            "--quiet",
        ],
        "cache",
    );
    assert_exit(&out, 0);
    let report = only_report(&work.path("out"), "load-drill-rotation-");
    let chat = scenario(&report, "chat_stream_http");
    assert_eq!(chat["credentials"]["rotation"]["name"], "stride", "{chat}");
    let lock = work.lock();
    assert_eq!(lock["plugins"][0]["name"], "ns/stride", "{lock}");
}

#[test]
fn a_payload_builder_travels_with_its_data_digest_locked() {
    let work = Work::new();
    let (builder, _) = work.export("whatsapp_replay");
    let webhooks = work.path("webhooks");
    std::fs::create_dir(&webhooks).expect("mkdir");
    let mut recorded: Vec<Vec<u8>> = (0..8)
        .map(|i| format!("{{\"object\":\"whatsapp_business_account\",\"n\":{i}}}").into_bytes())
        .collect();
    for (i, body) in recorded.iter().enumerate() {
        std::fs::write(webhooks.join(format!("{i}.json")), body).expect("write");
    }
    // Data a builder does not declare is refused.
    let out = work.relhost(
        &[
            "plugin",
            "push",
            &builder.to_string_lossy(),
            "ns/whatsapp_replay:0.1.0",
            "--data=corpus=webhooks",
        ],
        "cache",
    );
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("declares no data directory \"corpus\""),
        "{}",
        describe(&out)
    );
    let out = work.relhost(
        &[
            "plugin",
            "push",
            &builder.to_string_lossy(),
            "ns/whatsapp_replay:0.1.0",
            "--data=webhooks=webhooks",
        ],
        "cache",
    );
    assert_exit(&out, 0);
    // The published copy is what runs: the directory may change now.
    std::fs::remove_dir_all(&webhooks).expect("remove");

    let (port, received) = recorder();
    let profile = profile_file(
        work.dir.path(),
        "replay",
        json!({ "whatsapp_webhook": { "stages": [
            { "name": "replay", "rate": 200, "duration": "1s", "requests": 8 }
        ] } }),
    );
    let run = |cache: &str| {
        work.relhost(
            &[
                "run",
                "--quiet",
                "--base-url",
                &format!("http://127.0.0.1:{port}"),
                "--scenarios=whatsapp_webhook",
                "--payload-plugin=whatsapp_webhook=local:ns/whatsapp_replay:0.1.0",
                "--profile",
                profile.to_str().expect("utf-8"),
                "--output-dir=out",
            ],
            cache,
        )
    };
    assert_exit(&run("cache"), 0);
    let mut bodies: Vec<Vec<u8>> = received
        .lock()
        .expect("lock")
        .iter()
        .map(|r| r.body.clone())
        .collect();
    bodies.sort();
    recorded.sort();
    assert_eq!(bodies, recorded, "the published recordings, each once");
    let lock = work.lock();
    let entry = &lock["plugins"][0];
    let digest = entry["data"]["webhooks"].as_str().expect("data locked");
    assert_eq!(digest.len(), 64, "{entry}");
    assert!(
        work.path("cache")
            .join("data")
            .join(digest)
            .join("0.json")
            .exists()
    );

    // A lock that records other data is refused, even from a fresh cache.
    let mut tampered = lock.clone();
    tampered["plugins"][0]["data"]["webhooks"] = json!("ab".repeat(32));
    std::fs::write(
        work.path("relhost.lock"),
        serde_json::to_vec_pretty(&tampered).expect("json"),
    )
    .expect("write");
    let out = run("fresh-cache");
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("with data {webhooks=sha256:abab"),
        "{}",
        describe(&out)
    );
}
