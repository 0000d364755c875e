//! `relhost k8s`: manifests valid against the Kubernetes API's schemas
//! (v1.31, strict, vendored in tests/fixtures/k8s), and the recipe they
//! describe run on this machine: each pod's command, with the ConfigMap's
//! files where the pods mount them, as processes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::*;

/// The Kubernetes schema of a manifest's kind.
fn schema_of(kind: &str) -> Value {
    let file = match kind {
        "ConfigMap" => "configmap-v1.json",
        "PersistentVolumeClaim" => "persistentvolumeclaim-v1.json",
        "Job" => "job-batch-v1.json",
        other => panic!("no schema for {other}"),
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/k8s")
        .join(file);
    serde_json::from_slice(&std::fs::read(path).expect("schema")).expect("JSON")
}

/// What the Kubernetes API schema says is wrong with `object`.
fn violations(object: &Value) -> Vec<String> {
    let kind = object["kind"].as_str().expect("a kind");
    let mut schema = schema_of(kind);
    // It names no draft ("http://json-schema.org/schema#", which would be
    // fetched); its keywords are draft 4's.
    schema.as_object_mut().expect("an object").remove("$schema");
    let validator = jsonschema::draft4::new(&schema).expect("the schema compiles");
    validator
        .iter_errors(object)
        .map(|e| format!("{kind}: {e} at {}", e.instance_path))
        .collect()
}

fn k8s(dir: &Path, flags: &[&str], drill: &[&str]) -> std::process::Output {
    let mut cmd = relhost();
    cmd.current_dir(dir)
        .args([
            "k8s",
            "--image=registry.example/relhost:0.1.0",
            "--output-dir",
        ])
        .arg(dir.join("manifests"))
        .args(flags)
        .arg("--")
        .args(drill);
    run_bounded(cmd, Duration::from_secs(30))
}

fn manifests(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("manifests"))
        .expect("manifests")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).expect("read")).expect("JSON"))
        .collect()
}

fn of_kind<'a>(manifests: &'a [Value], name_suffix: &str) -> &'a Value {
    manifests
        .iter()
        .find(|m| {
            m["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with(name_suffix))
        })
        .unwrap_or_else(|| panic!("no {name_suffix} manifest"))
}

/// The pod's command line, with the paths it mounts moved under `root`.
fn local_args(job: &Value, root: &Path) -> Vec<String> {
    job["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| {
            let a = a.as_str().expect("a string");
            ["/relhost/config", "/relhost/secrets", "/reports"]
                .iter()
                .fold(a.to_owned(), |a, mount| {
                    a.replace(mount, &root.join(&mount[1..]).display().to_string())
                })
        })
        .collect()
}

#[test]
fn the_manifests_are_valid_kubernetes_objects_and_their_recipe_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, received) = recorder();
    let profile = profile_file(
        dir.path(),
        "podded",
        json!({ "http_request": { "stages": [
            { "name": "steady", "rate": 40, "duration": "2s" }
        ] } }),
    );
    let base_url = format!("--base-url=http://127.0.0.1:{port}");
    let profile_flag = format!("--profile={}", profile.display());
    let output = k8s(
        dir.path(),
        &[
            "--segments=3",
            "--name=launch",
            "--namespace=drills",
            "--secret=relhost-secrets",
            "--start-in=3s",
            "--merge-wait=90s",
        ],
        &[
            &base_url,
            &profile_flag,
            "--scenarios=http_request",
            "--workers",
            "2",
            "--param=path=/pods",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let all = manifests(dir.path());
    assert_eq!(all.len(), 4);
    for manifest in &all {
        assert_eq!(violations(manifest), Vec::<String>::new());
        assert_eq!(manifest["metadata"]["namespace"], "drills");
    }
    // The schemas are strict: they catch what Kubernetes would refuse.
    let mut broken = of_kind(&all, "-segments").clone();
    broken["spec"]["completionMode"] = json!(3);
    broken["spec"]["template"]["spec"]["containers"][0]["argz"] = json!([]);
    assert_eq!(violations(&broken).len(), 2, "{:?}", violations(&broken));

    let segments = of_kind(&all, "-segments");
    assert_eq!(segments["spec"]["completionMode"], "Indexed");
    assert_eq!(segments["spec"]["completions"], 3);
    assert_eq!(segments["spec"]["parallelism"], 3);
    let container = &segments["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["envFrom"][0]["secretRef"]["name"],
        "relhost-secrets"
    );
    assert_eq!(container["resources"]["requests"]["cpu"], "2");
    let pod = &segments["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["fsGroup"], 65532);
    let env = container["env"].as_array().expect("env");
    let segments_env = env
        .iter()
        .find(|e| e["name"] == "RELHOST_SEGMENTS")
        .expect("RELHOST_SEGMENTS");
    assert_eq!(segments_env["value"], "3");
    // The profile travels in the ConfigMap, as it is.
    let config = of_kind(&all, "-config");
    let data = config["data"].as_object().expect("data");
    assert_eq!(data.len(), 1);
    let (key, text) = data.iter().next().expect("the profile");
    assert_eq!(
        text.as_str().expect("text"),
        std::fs::read_to_string(&profile).expect("profile")
    );

    // The recipe, on this machine: the ConfigMap's files where the pods
    // mount them, each pod's command as a process (Kubernetes sets
    // JOB_COMPLETION_INDEX), then the merge's.
    let root = dir.path().join("pod");
    std::fs::create_dir_all(root.join("relhost/config")).expect("mkdir");
    std::fs::write(
        root.join("relhost/config").join(key),
        text.as_str().expect("text"),
    )
    .expect("write");
    for (key, bytes) in config["binaryData"].as_object().into_iter().flatten() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(bytes.as_str().expect("base64"))
            .expect("base64");
        std::fs::write(root.join("relhost/config").join(key), bytes).expect("write");
    }
    let mut merge = relhost();
    merge.args(local_args(of_kind(&all, "-merge"), &root));
    let merge = std::thread::spawn(move || run_bounded(merge, Duration::from_secs(120)));
    let args = local_args(segments, &root);
    let pods: Vec<_> = (0..3)
        .map(|index| {
            let mut cmd = relhost();
            cmd.args(&args)
                .env("RELHOST_SEGMENTS", "3")
                .env("JOB_COMPLETION_INDEX", index.to_string());
            std::thread::spawn(move || run_bounded(cmd, Duration::from_secs(90)))
        })
        .collect();
    for pod in pods {
        let output = pod.join().expect("pod");
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    }
    let output = merge.join().expect("merge");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let reports = std::fs::read_dir(root.join("reports"))
        .expect("reports")
        .next()
        .expect("the run's directory")
        .expect("entry")
        .path();
    let merged = only_report(&reports.join("merged"), "load-drill-podded-");
    assert_eq!(merged["merged"]["count"], 3);
    let counted = received.lock().expect("lock").len() as u64;
    assert_eq!(counted, 80);
    assert_eq!(
        scenario(&merged, "http_request")["totals"]["requests"],
        counted
    );
}

#[test]
fn what_the_manifests_cannot_carry_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = dir.path().join("pool.json");
    std::fs::write(
        &pool,
        r#"[{"authToken": "sekret-token", "threadId": "t1"}]"#,
    )
    .expect("pool");
    let pool_flag = format!("--chat-auth-pool-file={}", pool.display());
    let target = "--base-url=https://drills.example";
    for (flags, drill, says) in [
        (
            vec!["--segments=2"],
            vec![target, "--segment=0/2"],
            "--segment",
        ),
        (vec!["--segments=2"], vec!["--quick"], "--base-url"),
        (
            vec!["--segments=2"],
            vec![target, "--plugin-data=corpus=/tmp"],
            "--plugin-data",
        ),
        (vec!["--segments=2"], vec![target, &pool_flag], "Secret"),
        (
            vec!["--segments=2"],
            vec![target, "--no-such-flag"],
            "no-such-flag",
        ),
        (vec!["--segments=0"], vec![target], "segments"),
        (vec!["--segments=2"], vec![target], "--workers"),
        (
            vec!["--segments=2"],
            vec![target, "--param=api_key=XYZ"],
            "--param api_key",
        ),
        (
            vec!["--segments=2"],
            vec![target, "--plugin=./gone.wasm"],
            "no such file",
        ),
        (
            vec!["--segments=2", "--start-in=2d"],
            vec![target, "--workers=1"],
            "start-in",
        ),
    ] {
        let output = k8s(dir.path(), &flags, &drill);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{drill:?}: {}",
            describe(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(says),
            "{drill:?}: {}",
            describe(&output)
        );
    }
    assert!(!dir.path().join("manifests").exists(), "nothing written");
    // With a Secret, the pool is read from it; its tokens never reach a manifest.
    let output = k8s(
        dir.path(),
        &["--segments=2", "--secret=creds"],
        &[target, &pool_flag, "--workers=1"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let all = manifests(dir.path());
    let text = serde_json::to_string(&all).expect("JSON");
    assert!(!text.contains("sekret-token"));
    assert!(text.contains("--chat-auth-pool-file=/relhost/secrets/chat-auth-pool.json"));
}

#[test]
fn the_image_builds_with_the_toolchain_the_workspace_names_and_runs_as_non_root() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let rust_version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"'))
        .expect("rust-version");
    assert!(
        dockerfile.contains(&format!("FROM rust:{rust_version}-")),
        "the image builds with Rust {rust_version}"
    );
    assert!(dockerfile.contains("rustup target add wasm32-wasip2"));
    // runAsNonRoot (set by the manifests) needs a numeric, non-zero user.
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    let uid: u32 = user
        .split(':')
        .next()
        .and_then(|u| u.parse().ok())
        .expect("numeric");
    assert_ne!(uid, 0);
    assert_eq!(
        uid,
        relhost::k8s::IMAGE_USER,
        "the manifests' securityContext"
    );
    assert!(dockerfile.contains(r#"ENTRYPOINT ["relhost"]"#));
}
