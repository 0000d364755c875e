//! Criterion benchmarks of relhost's per-request hot paths, through the
//! crate's public API only.
//!
//! - `plugin/build_request_per_call`: one wasmtime guest call that returns a
//!   request (the `per-request` plan's cost).
//! - `template/*`: the host's native template fill (the `template` plan's
//!   cost), with HMAC signing and with a credential.
//! - `payload/batch_256_whatsapp_replay_signed`: a payload builder's batch
//!   of 256 requests, built, compiled and filled signed (per request: the
//!   time over 256, or one over the throughput).
//! - `metrics/record`, `schedule/time_of`, `live/record`: the bookkeeping
//!   every request pays.
//!
//! Run: `cargo bench -p relhost --bench hot_path`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use relhost::engine::{
    FillContext, LiveStats, PayloadTemplate, RateSchedule, RequestLimits, RequestTemplate,
};
use relhost::http::ErrorClass;
use relhost::metrics::{Sample, SseSample, StageMetrics};
use relhost::plugin::{
    Batch, CallContext, Limits, LoadedPlugin, PluginSource, RequestPlan, RotationConfig, Runtime,
    ScenarioPlugin, Secrets, Template,
};

const BASE_URL: &str = "http://127.0.0.1:8080";

/// A current-thread runtime, as each engine worker's tasks see it.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn whatsapp_secrets() -> Arc<Secrets> {
    let mut secrets = Secrets::default();
    secrets.insert("WHATSAPP_APP_SECRET", "bench-app-secret-0123456789");
    Arc::new(secrets)
}

fn load(
    rt: &tokio::runtime::Runtime,
    plugins: &Runtime,
    name: &str,
    secrets: Arc<Secrets>,
) -> ScenarioPlugin {
    rt.block_on(plugins.load_scenario(&PluginSource::Builtin(name.into()), secrets, 1))
        .unwrap_or_else(|e| panic!("load builtin {name}: {e}"))
}

/// The built-in WhatsApp scenario's template, compiled with signing on.
fn whatsapp_signed(
    rt: &tokio::runtime::Runtime,
    plugins: &Runtime,
    base: &http::Uri,
) -> RequestTemplate {
    let secrets = whatsapp_secrets();
    let whatsapp = load(rt, plugins, "whatsapp_webhook", Arc::clone(&secrets));
    let template = template_of(rt, &whatsapp);
    assert!(
        template.signing.is_some(),
        "signing is on with the secret set"
    );
    RequestTemplate::compile(
        &template,
        base,
        &whatsapp.descriptor().secrets,
        &secrets,
        1,
        RequestLimits::default(),
    )
    .expect("compile whatsapp template")
}

/// The plugin's template for its first default stage.
fn template_of(rt: &tokio::runtime::Runtime, plugin: &ScenarioPlugin) -> Template {
    let stage = plugin.descriptor().default_stages[0].clone();
    rt.block_on(async {
        let mut instance = plugin.instantiate(0).await.expect("instantiate");
        match instance.plan(&stage).await.expect("plan") {
            RequestPlan::Template(template) => template,
            RequestPlan::PerRequest => panic!("{} plans per request", plugin.source()),
        }
    })
}

fn plugin_benches(c: &mut Criterion) {
    let rt = runtime();
    let plugins = Runtime::new(Limits::default()).expect("plugin runtime");
    let plugin = load(&rt, &plugins, "whatsapp_webhook", whatsapp_secrets());
    let mut instance = rt.block_on(plugin.instantiate(0)).expect("instantiate");
    let stage = &plugin.descriptor().default_stages[0];
    let mut ctx = CallContext {
        scenario: plugin.descriptor().name.clone(),
        stage: stage.name.clone(),
        iteration: 0,
        worker: 0,
        credential: None,
    };

    let mut group = c.benchmark_group("plugin");
    group.bench_function("build_request_per_call", |b| {
        // One `block_on` per batch: entering the runtime per call would
        // dominate a ~µs call.
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    ctx.iteration += 1;
                    let request = instance.build_request(&ctx).await.expect("build-request");
                    black_box(request);
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

/// One rotation call picks indices for 256 requests; the per-request cost
/// of rotation is this figure divided by 256.
fn rotation_benches(c: &mut Criterion) {
    let rt = runtime();
    let plugins = Runtime::new(Limits::default()).expect("plugin runtime");
    let mut group = c.benchmark_group("rotation");
    for name in ["round_robin", "stride", "random"] {
        let config = RotationConfig {
            pool_size: 40,
            seed: 7,
            stride: None,
        };
        let rotation = rt
            .block_on(plugins.load_rotation(&PluginSource::Builtin(name.into()), config))
            .expect("rotation loads");
        let mut instance = rt.block_on(rotation.instantiate(0)).expect("instantiate");
        let mut first = 0u64;
        group.bench_function(format!("pick_256_{name}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        first += 512;
                        black_box(instance.pick(first, 2, 256).await.expect("pick"));
                    }
                    start.elapsed()
                })
            });
        });
    }
    group.finish();
}

fn template_benches(c: &mut Criterion) {
    let rt = runtime();
    let plugins = Runtime::new(Limits::default()).expect("plugin runtime");
    let base: http::Uri = BASE_URL.parse().expect("base url");

    let mut whatsapp = whatsapp_signed(&rt, &plugins, &base);

    let chat = load(
        &rt,
        &plugins,
        "chat_stream_http",
        Arc::new(Secrets::default()),
    );
    let template = template_of(&rt, &chat);
    let mut chat = RequestTemplate::compile(
        &template,
        &base,
        &chat.descriptor().secrets,
        &Secrets::default(),
        1,
        RequestLimits::default(),
    )
    .expect("compile chat template");
    assert!(chat.uses_credential());

    let mut group = c.benchmark_group("template");
    let mut iteration = 0u64;
    group.bench_function("fill_whatsapp_signed", |b| {
        b.iter(|| {
            iteration += 1;
            let ctx = fill_context(iteration, None);
            whatsapp.fill(black_box(&ctx)).expect("fill")
        });
    });
    // What the plain-TCP HTTP/1.1 path pays: the same request written as
    // wire bytes into a reused buffer.
    let mut wire = Vec::new();
    group.bench_function("fill_wire_whatsapp_signed", |b| {
        b.iter(|| {
            iteration += 1;
            let ctx = fill_context(iteration, None);
            whatsapp
                .fill_wire(black_box(&ctx), &mut wire)
                .expect("fill");
            wire.len()
        });
    });
    let credential = Some(("bench-bearer-token-0123456789abcdef", "thread-0001"));
    group.bench_function("fill_chat_with_credential", |b| {
        b.iter(|| {
            iteration += 1;
            let ctx = fill_context(iteration, credential);
            chat.fill(black_box(&ctx)).expect("fill")
        });
    });
    group.finish();
}

/// The context of request `iteration` of worker 0.
fn fill_context<'a>(iteration: u64, credential: Option<(&'a str, &'a str)>) -> FillContext<'a> {
    FillContext {
        iteration,
        worker: 0,
        credential,
        payload: None,
    }
}

/// A payload builder's batch of 256, per request: the guest call that
/// builds it, each payload compiled, and each request written signed as
/// wire bytes (compare with `template/fill_wire_whatsapp_signed`).
fn payload_benches(c: &mut Criterion) {
    let rt = runtime();
    let plugins = Runtime::new(Limits::default()).expect("plugin runtime");
    let base: http::Uri = BASE_URL.parse().expect("base url");
    let data = tempfile::tempdir().expect("tempdir");
    for i in 0..50 {
        let body = format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{i}","changes":[{{"field":"messages"}}]}}]}}"#
        );
        std::fs::write(data.path().join(format!("{i:03}.json")), body).expect("write");
    }
    let builder = rt
        .block_on(plugins.load_payload_builder(
            &PluginSource::Builtin("whatsapp_replay".into()),
            &[("webhooks".into(), data.path().to_path_buf())],
            1 << 20,
            1,
        ))
        .expect("load whatsapp_replay");
    let mut instance = rt.block_on(builder.instantiate(0)).expect("instantiate");
    let mut whatsapp = whatsapp_signed(&rt, &plugins, &base);

    let mut group = c.benchmark_group("payload");
    group.throughput(Throughput::Elements(256));
    let mut first = 0u64;
    let mut wire = Vec::new();
    group.bench_function("batch_256_whatsapp_replay_signed", |b| {
        b.iter(|| {
            let batch = Batch {
                scenario: "whatsapp_webhook".into(),
                stage: "steady".into(),
                first,
                count: 256,
                seed: 1,
            };
            let payloads = rt.block_on(instance.build(&batch)).expect("build");
            for (i, payload) in payloads.iter().enumerate() {
                let payload =
                    PayloadTemplate::compile(payload, RequestLimits::default()).expect("compile");
                let ctx = FillContext {
                    payload: Some(&payload),
                    ..fill_context(first + i as u64, None)
                };
                whatsapp
                    .fill_wire(black_box(&ctx), &mut wire)
                    .expect("fill");
            }
            first += 256;
            wire.len()
        });
    });
    group.finish();
}

/// Latencies that vary like real ones (1–60 ms), so the histogram's bucket
/// index is not the same every time.
fn latencies() -> Vec<u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1_000 + x % 59_000
        })
        .collect()
}

/// A request's figures: latency from `latencies`, 1% resets, an event
/// stream when `sse`.
fn sample(latencies: &[u64], i: usize, sse: bool) -> Sample {
    let latency_us = latencies[i % latencies.len()];
    Sample {
        result: if i.is_multiple_of(100) {
            Err(ErrorClass::Reset)
        } else {
            Ok(200)
        },
        expected: true,
        latency_us,
        service_us: latency_us - 200,
        send_lag_us: 200,
        plugin_us: 3,
        sse: sse.then_some(SseSample {
            ttfb_us: latency_us / 4,
            first_event_us: Some(latency_us / 3),
            events: 40,
            duration_us: latency_us,
            cut: false,
        }),
        second: 7,
    }
}

fn metrics_benches(c: &mut Criterion) {
    let latencies = latencies();
    let mut group = c.benchmark_group("metrics");
    for (name, sse) in [("record", false), ("record_sse", true)] {
        let mut metrics = StageMetrics::new();
        let mut i = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                metrics.record(black_box(&sample(&latencies, i, sse)));
            });
        });
        black_box(&metrics);
    }
    group.finish();
}

fn schedule_benches(c: &mut Criterion) {
    // 0 -> 100/s over 2 s, then 100/s until 10 s: arrivals 0..100 are in the ramp.
    let schedule = RateSchedule::new(
        0.0,
        100.0,
        Duration::from_secs(2),
        Duration::from_secs(10),
        None,
    );
    assert_eq!(schedule.total(), 900);
    let mut group = c.benchmark_group("schedule");
    group.bench_function("time_of_in_ramp", |b| {
        b.iter(|| schedule.time_of(black_box(57)));
    });
    group.bench_function("time_of_after_ramp", |b| {
        b.iter(|| schedule.time_of(black_box(543)));
    });
    group.finish();
}

fn live_benches(c: &mut Criterion) {
    let latencies = latencies();
    let mut group = c.benchmark_group("live");
    for (name, sse) in [("record", false), ("record_sse", true)] {
        let stats = LiveStats::default();
        let mut i = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                stats.record(black_box(&sample(&latencies, i, sse)));
            });
        });
    }
    group.finish();
}

/// Runs every group (what `criterion_group!` and `criterion_main!` would
/// generate, minus the undocumented items).
fn main() {
    let mut c = Criterion::default().configure_from_args();
    plugin_benches(&mut c);
    rotation_benches(&mut c);
    template_benches(&mut c);
    payload_benches(&mut c);
    metrics_benches(&mut c);
    schedule_benches(&mut c);
    live_benches(&mut c);
    Criterion::default().configure_from_args().final_summary();
}
