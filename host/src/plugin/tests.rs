//! Sandbox tests: built-in plugins load, hostile plugins fail cleanly and
//! every escape attempt is denied.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::wit::{Load, Stage};
use super::*;

fn runtime() -> Runtime {
    test_runtime(
        Limits {
            deadline: Duration::from_millis(50),
            memory_bytes: 16 << 20,
            ..Limits::default()
        },
        None,
        Params::new(),
    )
}

fn stage(name: &str) -> Stage {
    Stage {
        name: name.into(),
        load: Load::Rate(1.0),
        duration_ms: 1_000,
        ramp_ms: 0,
        max_requests: None,
    }
}

fn ctx(stage: &str) -> CallContext {
    CallContext {
        scenario: "hostile".into(),
        stage: stage.into(),
        iteration: 7,
        worker: 0,
        credential: None,
    }
}

async fn load(source: PluginSource, secrets: Secrets) -> Result<ScenarioPlugin, PluginError> {
    runtime()
        .load_scenario(&source, Arc::new(secrets), 42)
        .await
}

async fn hostile() -> ScenarioInstance {
    let mut secrets = Secrets::default();
    secrets.insert("HOSTILE_DECLARED", "declared-value");
    secrets.insert("WHATSAPP_APP_SECRET", "not-for-this-plugin");
    let plugin = load(PluginSource::File(artifacts::HOSTILE.into()), secrets)
        .await
        .expect("hostile plugin loads");
    plugin.instantiate(1).await.expect("instance")
}

async fn probe(instance: &mut ScenarioInstance, stage: &str) -> String {
    let request = instance
        .build_request(&ctx(stage))
        .await
        .expect("probe call");
    String::from_utf8(request.body).expect("utf-8 body")
}

#[tokio::test]
async fn builtins_describe_themselves() {
    for name in artifacts::BUILTIN_SCENARIOS {
        let plugin = load(PluginSource::Builtin(name.to_string()), Secrets::default())
            .await
            .expect("built-in loads");
        let d = plugin.descriptor();
        assert_eq!(d.name, *name);
        assert!(d.endpoint.starts_with("/api/"), "{}", d.endpoint);
        assert_eq!(d.event_stream, *name == "chat_stream_http");
        assert_eq!(d.needs_credential, *name == "chat_stream_http");
        assert_eq!(plugin.sha256().len(), 64);
        assert_eq!(plugin.source(), format!("builtin:{name}"));
    }
}

#[tokio::test]
async fn whatsapp_signs_only_when_the_secret_is_set() {
    for (secret, signed) in [(None, false), (Some("app-secret"), true)] {
        let mut secrets = Secrets::default();
        if let Some(value) = secret {
            secrets.insert("WHATSAPP_APP_SECRET", value);
        }
        let plugin = load(PluginSource::Builtin("whatsapp_webhook".into()), secrets)
            .await
            .expect("loads");
        let mut instance = plugin.instantiate(0).await.expect("instance");
        let RequestPlan::Template(template) = instance.plan(&stage("steady")).await.expect("plan")
        else {
            panic!("whatsapp_webhook plans a template");
        };
        assert_eq!(template.signing.is_some(), signed);
        assert!(!String::from_utf8_lossy(&template.request.body).contains("app-secret"));
    }
}

#[tokio::test]
async fn gmail_adds_the_verify_token_placeholder_when_set() {
    let mut secrets = Secrets::default();
    secrets.insert("GMAIL_PUBSUB_VERIFY_TOKEN", "verify-me");
    let plugin = load(PluginSource::Builtin("gmail_push_webhook".into()), secrets)
        .await
        .expect("loads");
    let mut instance = plugin.instantiate(0).await.expect("instance");
    let RequestPlan::Template(template) = instance.plan(&stage("steady")).await.expect("plan")
    else {
        panic!("gmail_push_webhook plans a template");
    };
    assert_eq!(
        template.request.query,
        vec![(
            "token".to_string(),
            "{{secret.GMAIL_PUBSUB_VERIFY_TOKEN}}".to_string()
        )]
    );
}

#[tokio::test]
async fn a_trap_is_reported_and_the_instance_recovers() {
    let mut instance = hostile().await;
    let err = instance.build_request(&ctx("trap")).await.unwrap_err();
    assert!(matches!(err.fault(), Some(PluginFault::Trap(_))), "{err}");
    assert!(
        err.to_string()
            .starts_with("plugin hostile: build-request trapped"),
        "{err}"
    );
    assert_eq!(probe(&mut instance, "plain").await, "");
}

#[tokio::test]
async fn an_endless_loop_or_a_sleep_on_the_host_hits_the_deadline() {
    // Spinning is guest code, checked at each epoch tick; sleeping is a
    // WASI clock subscription the host serves, bounded in wall time.
    for stage in ["spin", "sleep"] {
        let mut instance = hostile().await;
        let started = Instant::now();
        let err = instance.build_request(&ctx(stage)).await.unwrap_err();
        assert_eq!(
            err.fault(),
            Some(&PluginFault::Deadline(Duration::from_millis(50))),
            "{stage}: {err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{stage}: took {:?}",
            started.elapsed()
        );
        assert_eq!(probe(&mut instance, "plain").await, "");
    }
}

#[tokio::test]
async fn a_memory_hog_hits_the_cap() {
    let mut instance = hostile().await;
    let err = instance.build_request(&ctx("hog")).await.unwrap_err();
    assert_eq!(err.fault(), Some(&PluginFault::Memory(16)), "{err}");
    assert!(err.to_string().contains("memory cap of 16 MiB"), "{err}");
}

#[tokio::test]
async fn escapes_are_denied() {
    let mut instance = hostile().await;
    let fs = probe(&mut instance, "fs").await;
    assert!(fs.starts_with("fs:denied:"), "{fs}");
    assert_eq!(probe(&mut instance, "env").await, "env:vars=0:home=false");
    let net = probe(&mut instance, "net").await;
    assert!(net.starts_with("net:denied:"), "{net}");
    assert_eq!(probe(&mut instance, "clock").await, "clock:0");
    assert_eq!(
        probe(&mut instance, "secret").await,
        "secret:declared=true:undeclared=false"
    );
}

#[tokio::test]
async fn the_stop_signal_interrupts_a_call_asleep_or_spinning() {
    for (describe, stage) in [(None, "sleep"), (None, "spin"), (Some("sleep"), "")] {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let params: Params = describe
            .map(|how| ("hostile_describe".to_string(), how.to_string()))
            .into_iter()
            .collect();
        let limits = Limits {
            deadline: Duration::from_secs(600),
            ..Limits::default()
        };
        let runtime = test_runtime(limits, Some(stopped), params);
        let source = PluginSource::File(artifacts::HOSTILE.into());
        let call = async {
            let plugin = runtime
                .load_scenario(&source, Arc::new(Secrets::default()), 1)
                .await?;
            plugin
                .instantiate(0)
                .await?
                .build_request(&ctx(stage))
                .await
        };
        // On the same thread as the call: a guest spinning for long
        // yields to the runtime, so the signal's task gets to run.
        let interrupt = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            stop.send_replace(true);
        };
        let started = Instant::now();
        let (result, ()) = tokio::join!(call, interrupt);
        let err = result.expect_err("interrupted");
        assert_eq!(err.fault(), Some(&PluginFault::Interrupted), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{stage}: took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn calls_made_after_the_stop_run_to_their_end_or_deadline() {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let limits = Limits {
        deadline: Duration::from_millis(50),
        ..Limits::default()
    };
    let runtime = test_runtime(limits, Some(stopped), Params::new());
    let plugin = runtime
        .load_scenario(
            &PluginSource::File(artifacts::HOSTILE.into()),
            Arc::new(Secrets::default()),
            1,
        )
        .await
        .expect("loads");
    let mut instance = plugin.instantiate(0).await.expect("instance");
    stop.send_replace(true);
    // The gates of a partial report still run; a hung call still ends.
    assert!(instance.build_request(&ctx("plain")).await.is_ok());
    let err = instance.build_request(&ctx("sleep")).await.unwrap_err();
    assert_eq!(
        err.fault(),
        Some(&PluginFault::Deadline(Duration::from_millis(50))),
        "{err}"
    );
}

#[tokio::test]
async fn a_plugin_that_sleeps_while_describing_fails_to_load() {
    let err = load(
        PluginSource::File(artifacts::HOSTILE_LOAD.into()),
        Secrets::default(),
    )
    .await
    .err()
    .expect("must not load");
    assert!(
        matches!(err.fault(), Some(PluginFault::Deadline(_))),
        "{err}"
    );
    assert!(err.to_string().contains("hostile_load.wasm"), "{err}");
}

#[tokio::test]
async fn a_component_of_another_world_is_refused() {
    let err = load(
        PluginSource::File(artifacts::NOT_SCENARIO.into()),
        Secrets::default(),
    )
    .await
    .err()
    .expect("must not load");
    assert!(matches!(err, PluginError::WorldMismatch { .. }), "{err}");
    assert!(err.to_string().contains("not_scenario.wasm"), "{err}");
}

#[tokio::test]
async fn bytes_that_are_not_a_component_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, bytes) in [
        ("garbage.wasm", &b"definitely not wasm"[..]),
        ("core.wasm", &b"\0asm\x01\0\0\0"[..]),
    ] {
        let path: PathBuf = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let err = load(PluginSource::File(path), Secrets::default())
            .await
            .err()
            .expect("must not load");
        assert!(matches!(err, PluginError::NotComponent { .. }), "{err}");
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[tokio::test]
async fn unknown_builtins_and_missing_files_are_named() {
    let err = load(PluginSource::Builtin("nope".into()), Secrets::default())
        .await
        .err()
        .expect("unknown");
    assert!(
        err.to_string().contains("valid: gmail_push_webhook"),
        "{err}"
    );
    let err = load(
        PluginSource::File("/nonexistent/x.wasm".into()),
        Secrets::default(),
    )
    .await
    .err()
    .expect("missing");
    assert!(err.to_string().contains("/nonexistent/x.wasm"), "{err}");
}

async fn rotation(
    name: &str,
    pool_size: u32,
    seed: u64,
    stride: Option<u32>,
) -> Result<RotationPlugin, PluginError> {
    runtime()
        .load_rotation(
            &PluginSource::Builtin(name.into()),
            RotationConfig {
                pool_size,
                seed,
                stride,
            },
        )
        .await
}

async fn picks(plugin: &RotationPlugin, first: u64, step: u64, count: u32) -> Vec<u32> {
    let mut instance = plugin.instantiate(3).await.expect("instance");
    instance.pick(first, step, count).await.expect("pick")
}

#[tokio::test]
async fn round_robin_cycles_through_the_pool() {
    let plugin = rotation("round_robin", 5, 1, None).await.expect("loads");
    assert_eq!(plugin.info().name, "round_robin");
    assert_eq!(plugin.info().reachable, 5);
    assert_eq!(picks(&plugin, 0, 1, 7).await, vec![0, 1, 2, 3, 4, 0, 1]);
    assert_eq!(picks(&plugin, 1, 2, 3).await, vec![1, 3, 0]);
}

#[tokio::test]
async fn stride_reaches_the_whole_pool_when_coprime_and_warns_otherwise() {
    let plugin = rotation("stride", 40, 7, Some(11)).await.expect("loads");
    assert!(plugin.info().warnings.is_empty());
    let mut seen = picks(&plugin, 0, 1, 40).await;
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 40, "stride 11 reaches all 40");

    let narrow = rotation("stride", 40, 7, Some(10)).await.expect("loads");
    assert_eq!(narrow.info().reachable, 4);
    assert!(
        narrow.info().warnings[0].contains("reaches only 4 of 40"),
        "{:?}",
        narrow.info().warnings
    );
    let mut seen = picks(&narrow, 0, 1, 400).await;
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 4);

    let default = rotation("stride", 40, 7, None).await.expect("loads");
    assert_eq!(
        default.info().reachable,
        40,
        "the default stride is coprime"
    );

    let err = rotation("stride", 40, 7, Some(0))
        .await
        .err()
        .expect("stride 0");
    assert!(matches!(err, PluginError::Config { .. }), "{err}");
    assert!(
        err.to_string().contains("stride must be at least 1"),
        "{err}"
    );
}

#[tokio::test]
async fn random_is_reproducible_per_seed_and_split_invariant() {
    let a = rotation("random", 40, 42, None).await.expect("loads");
    let b = rotation("random", 40, 42, None).await.expect("loads");
    let c = rotation("random", 40, 43, None).await.expect("loads");
    let first = picks(&a, 0, 1, 64).await;
    assert_eq!(first, picks(&b, 0, 1, 64).await, "same seed, same sequence");
    assert_ne!(
        first,
        picks(&c, 0, 1, 64).await,
        "another seed, another sequence"
    );
    assert!(first.iter().all(|i| *i < 40));
    let odd = picks(&a, 1, 2, 32).await;
    let every_other: Vec<u32> = first.iter().skip(1).step_by(2).copied().collect();
    assert_eq!(
        odd, every_other,
        "a worker's share agrees with the whole sequence"
    );
}

#[tokio::test]
async fn a_scenario_is_not_a_rotation() {
    let err = runtime()
        .load_rotation(
            &PluginSource::Builtin("whatsapp_webhook".into()),
            RotationConfig {
                pool_size: 3,
                seed: 1,
                stride: None,
            },
        )
        .await
        .err()
        .expect("must not load");
    assert!(
        err.to_string()
            .contains(&format!("relhost:plugin/rotation@{WIT_VERSION}")),
        "{err}"
    );
}

/// The built-in WhatsApp scenario as built against `relhost:plugin@0.1.0`,
/// before the payload-builder world came.
const WIT_0_1_0_SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/plugins/whatsapp_webhook-wit-0.1.0.wasm"
);

#[tokio::test]
async fn components_of_an_older_wit_version_keep_loading() {
    let plugin = load(
        PluginSource::File(WIT_0_1_0_SCENARIO.into()),
        Secrets::default(),
    )
    .await
    .expect("a 0.1.0 component loads");
    assert_eq!(plugin.descriptor().name, "whatsapp_webhook");
    let world = runtime()
        .world_of(&PluginSource::File(WIT_0_1_0_SCENARIO.into()))
        .expect("world");
    assert!(
        world
            .imports
            .iter()
            .any(|i| i == "relhost:plugin/host@0.1.0"),
        "{:?}",
        world.imports
    );
    let mut instance = plugin.instantiate(0).await.expect("instance");
    assert!(matches!(
        instance.plan(&stage("steady")).await,
        Ok(RequestPlan::Template(_))
    ));
}

/// A data directory `corpus` with `a.txt`, a file beside it outside, and a
/// symlink `leak` inside pointing at that file.
fn corpus() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().expect("tempdir");
    let corpus = root.path().join("corpus");
    std::fs::create_dir(&corpus).expect("mkdir");
    std::fs::write(corpus.join("a.txt"), b"inside").expect("write");
    std::fs::write(root.path().join("outside.txt"), b"secret").expect("write");
    std::os::unix::fs::symlink(root.path().join("outside.txt"), corpus.join("leak"))
        .expect("symlink");
    (root, corpus)
}

fn batch(stage: &str, first: u64, count: u32) -> Batch {
    Batch {
        scenario: "whatsapp_webhook".into(),
        stage: stage.into(),
        first,
        count,
        seed: 11,
    }
}

async fn hostile_builder(corpus: &std::path::Path) -> PayloadInstance {
    let plugin = runtime()
        .load_payload_builder(
            &PluginSource::File(artifacts::PAYLOAD_HOSTILE.into()),
            &[("corpus".into(), corpus.to_path_buf())],
            1 << 20,
            7,
        )
        .await
        .expect("the hostile builder loads");
    assert_eq!(plugin.data()[0].files, 1, "the leak is not counted");
    plugin.instantiate(0).await.expect("instance")
}

#[tokio::test]
async fn a_builder_reads_its_data_and_nothing_else() {
    let (_root, corpus) = corpus();
    let mut builder = hostile_builder(&corpus).await;
    let body = |p: &[Payload]| String::from_utf8_lossy(&p[0].body).into_owned();
    let read = builder.build(&batch("steady", 0, 2)).await.expect("build");
    assert_eq!((read.len(), body(&read).as_str()), (2, "inside"));
    for stage in ["outside", "symlink", "write"] {
        let got = builder.build(&batch(stage, 0, 1)).await.expect("probes");
        let text = body(&got);
        assert!(!text.contains("LEAK"), "{stage}: {text}");
        assert!(text.contains("=denied"), "{stage}: {text}");
    }
    assert!(!corpus.join("new.txt").exists());
    assert_eq!(
        std::fs::read(corpus.join("a.txt")).expect("read"),
        b"inside"
    );
}

#[tokio::test]
async fn a_builder_that_breaks_the_contract_fails_its_call() {
    let (_root, corpus) = corpus();
    let mut builder = hostile_builder(&corpus).await;
    for (stage, expected) in [
        ("huge", "returned 9 payloads for a batch of 4"),
        ("refuse", "refused the batch: no batches today"),
    ] {
        let err = builder
            .build(&batch(stage, 0, 4))
            .await
            .expect_err(stage)
            .to_string();
        assert!(err.contains(expected), "{stage}: {err}");
    }
    let started = Instant::now();
    let err = builder.build(&batch("spin", 0, 1)).await.expect_err("spin");
    assert!(
        matches!(err.fault(), Some(PluginFault::Deadline(_))),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // The instance is replaced after the failure.
    assert!(builder.build(&batch("steady", 0, 1)).await.is_ok());
}

#[tokio::test]
async fn data_is_granted_only_when_given_and_within_the_cap() {
    let (_root, corpus) = corpus();
    let source = PluginSource::File(artifacts::PAYLOAD_HOSTILE.into());
    let missing = runtime()
        .load_payload_builder(&source, &[], 1 << 20, 0)
        .await
        .err()
        .expect("refused without its data")
        .to_string();
    assert!(missing.contains("--plugin-data=corpus=DIR"), "{missing}");
    let over = runtime()
        .load_payload_builder(&source, &[("corpus".into(), corpus)], 3, 0)
        .await
        .err()
        .expect("refused over the cap")
        .to_string();
    assert!(over.contains("holds more than 3 bytes"), "{over}");
}

#[tokio::test]
async fn the_whatsapp_replay_sends_every_recording_once_per_round() {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..5 {
        std::fs::write(
            dir.path().join(format!("{i}.json")),
            format!("{{\"n\":{i}}}"),
        )
        .expect("write");
    }
    let plugin = runtime()
        .load_payload_builder(
            &PluginSource::Builtin("whatsapp_replay".into()),
            &[("webhooks".into(), dir.path().to_path_buf())],
            1 << 20,
            0,
        )
        .await
        .expect("loads");
    assert_eq!(plugin.info().scenarios, ["whatsapp_webhook"]);
    let mut a = plugin.instantiate(0).await.expect("instance");
    let mut b = plugin.instantiate(1).await.expect("instance");
    let whole = a.build(&batch("steady", 0, 10)).await.expect("build");
    let bodies: Vec<String> = whole
        .iter()
        .map(|p| String::from_utf8_lossy(&p.body).into_owned())
        .collect();
    for round in bodies.chunks(5) {
        let mut sorted = round.to_vec();
        sorted.sort();
        assert_eq!(sorted.len(), 5);
        sorted.dedup();
        assert_eq!(sorted.len(), 5, "each recording once per round: {round:?}");
    }
    assert_ne!(bodies[..5], bodies[5..], "rounds are shuffled apart");
    // Another worker building a batch in the middle agrees.
    let middle = b.build(&batch("steady", 3, 4)).await.expect("build");
    let middle: Vec<String> = middle
        .iter()
        .map(|p| String::from_utf8_lossy(&p.body).into_owned())
        .collect();
    assert_eq!(middle, bodies[3..7]);
}

#[tokio::test]
async fn the_chat_corpus_draws_prompts_and_leaves_the_thread_to_the_host() {
    use crate::engine::{FillContext, PayloadTemplate, RequestLimits, RequestTemplate};

    let dir = tempfile::tempdir().expect("tempdir");
    let prompts = [
        "What is \"load\"?",
        "Show {{uuid}} literally",
        "hello\tworld",
    ];
    std::fs::write(
        dir.path().join("a.txt"),
        format!("{}\n\n{}\n", prompts[0], prompts[1]),
    )
    .expect("write");
    std::fs::write(dir.path().join("b.txt"), prompts[2]).expect("write");
    std::fs::write(dir.path().join("ignored.md"), "not a prompt").expect("write");
    let plugin = runtime()
        .load_payload_builder(
            &PluginSource::Builtin("chat_corpus".into()),
            &[("corpus".into(), dir.path().to_path_buf())],
            1 << 20,
            3,
        )
        .await
        .expect("loads");
    let mut instance = plugin.instantiate(0).await.expect("instance");
    let built = instance.build(&batch("steady", 0, 3)).await.expect("build");
    let chat = Template {
        request: Request {
            method: Method::Post,
            path: "/api/chat".into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: b"{}".to_vec(),
        },
        signing: None,
    };
    let base: http::Uri = "http://127.0.0.1:1".parse().expect("uri");
    let mut template = RequestTemplate::compile(
        &chat,
        &base,
        &[],
        &Secrets::default(),
        0,
        RequestLimits::default(),
    )
    .expect("compile");
    let mut seen = Vec::new();
    for (i, payload) in built.iter().enumerate() {
        let payload = PayloadTemplate::compile(payload, RequestLimits::default()).expect("payload");
        let ctx = FillContext {
            iteration: i as u64,
            worker: 0,
            credential: Some(("token", "thread-7")),
            payload: Some(&payload),
        };
        let request = template.fill(&ctx).expect("fill");
        let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json");
        assert_eq!(body["threadId"], "thread-7");
        seen.push(body["message"].as_str().expect("message").to_owned());
    }
    seen.sort();
    let mut expected: Vec<String> = prompts.iter().map(|p| (*p).to_owned()).collect();
    expected.sort();
    assert_eq!(seen, expected, "each prompt once per round, as written");
}
