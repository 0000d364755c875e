//! The Convex function API: request and answer shapes, admin keys, user
//! identity, the tool cache, the split of `.convex.site` and `.convex.cloud`.

use http::{Method, StatusCode};
use relhost_sim::{SimConfig, ToolCacheConfig};
use serde_json::{Value, json};

use crate::support::{self, Sim, client, start};

const KEY: &str = "prod:relhost-test|admin-key-0123456789";

fn config() -> SimConfig {
    SimConfig {
        deploy_key: Some(KEY.into()),
        tool_cache: ToolCacheConfig {
            tool_call_pct: 100.0,
            ..SimConfig::default().tool_cache
        },
        ..SimConfig::default()
    }
}

/// Calls `path` through `/api/<route>` with an `authorization` header.
async fn call(
    sim: &Sim,
    route: &str,
    path: &str,
    args: Value,
    auth: Option<&str>,
) -> (StatusCode, Value) {
    let body = json!({"path": path, "args": args, "format": "json"});
    let mut headers = vec![];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    let r = sim
        .post_json(&format!("/api/{route}"), &headers, &body)
        .await;
    (r.status, r.json())
}

fn admin() -> Option<&'static str> {
    Some("Convex prod:relhost-test|admin-key-0123456789")
}

#[tokio::test]
async fn answers_have_convex_shapes() {
    let sim = start(config()).await;
    let snapshot = "ops:getReliabilitySnapshot";
    let (status, v) = call(&sim, "query", snapshot, json!({"minutes": 5}), admin()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "success");
    assert_eq!(v["value"]["window_minutes"], 5);
    assert!(v["logLines"].is_array());
    let (_, v) = call(&sim, "query", snapshot, json!({}), admin()).await;
    assert_eq!(
        v["value"]["window_minutes"], 15,
        "the backend's default window"
    );

    let (status, v) = call(&sim, "query", snapshot, json!({"minutes": 0}), admin()).await;
    assert_eq!(status.as_u16(), 560, "a function that throws: {v}");
    assert_eq!(v["status"], "error");
    assert!(
        v["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("minutes")),
        "{v}"
    );

    // (route, arguments, status, code) of calls the deployment refuses.
    let refused = [
        (
            "query",
            json!({"minutes": "5"}),
            400,
            "ArgumentValidationError",
        ),
        (
            "query",
            json!({"window": 5}),
            400,
            "ArgumentValidationError",
        ),
        ("mutation", json!({}), 400, "BadRequest"),
    ];
    for (route, args, status, code) in refused {
        let (got, v) = call(&sim, route, snapshot, args, admin()).await;
        assert_eq!(
            (got.as_u16(), v["code"].as_str()),
            (status, Some(code)),
            "{v}"
        );
    }
    let (status, v) = call(&sim, "query", "ops:nothing", json!({}), admin()).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("FunctionNotFound"))
    );
    let r = sim.post_json("/api/query", &[], &json!({"args": {}})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "no path");
    let r = sim.send(Method::POST, "/api/query", &[], "{not json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn internal_functions_need_the_admin_key() {
    let sim = start(config()).await;
    let (status, v) = call(&sim, "query", "ops:getReliabilitySnapshot", json!({}), None).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("FunctionNotFound")),
        "hidden without the key"
    );
    let (status, v) = call(
        &sim,
        "query",
        "ops:getReliabilitySnapshot",
        json!({}),
        Some("Convex wrong-key"),
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("BadAdminKey"))
    );
    assert!(
        !v.to_string().contains("admin-key-0123"),
        "the key is never echoed"
    );
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn threads_are_created_for_the_signed_in_user() {
    let sim = start(config()).await;
    let creds = sim.handle.provision_user("fn@example.com", "password-123");
    let bearer = format!("Bearer {}", creds.token);
    let (status, v) = call(&sim, "mutation", "threads:create", json!({}), Some(&bearer)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let thread = v["value"].as_str().expect("a thread id").to_owned();
    assert_ne!(thread, creds.thread_id);
    let stream = sim.chat(&creds.token, &thread).await;
    assert_eq!(
        stream.status,
        StatusCode::OK,
        "the new thread is the user's"
    );

    let (status, v) = call(&sim, "mutation", "threads:create", json!({}), None).await;
    assert_eq!(status.as_u16(), 560);
    assert!(
        v["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("Not authenticated"))
    );
    let (status, v) = call(
        &sim,
        "mutation",
        "threads:create",
        json!({}),
        Some("Bearer nope"),
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("Unauthenticated"))
    );
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn the_tool_cache_fills_lists_and_clears() {
    let sim = start(config()).await;
    let creds = sim
        .handle
        .provision_user("cache@example.com", "password-123");
    for _ in 0..3 {
        assert_eq!(
            sim.chat(&creds.token, &creds.thread_id).await.status,
            StatusCode::OK
        );
    }
    let (_, v) = call(
        &sim,
        "query",
        "toolCache:listNamespaceStats",
        json!({"limit": 5000}),
        admin(),
    )
    .await;
    let rows = v["value"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .clone();
    assert_eq!(rows.len(), 1, "{v}");
    let (hits, misses) = (rows[0]["hits"].as_u64(), rows[0]["misses"].as_u64());
    assert_eq!(
        (hits, misses),
        (Some(2), Some(1)),
        "one message: a miss, then hits"
    );
    assert_eq!(rows[0]["entries"], 1);
    let namespace = rows[0]["namespace"].as_str().expect("name").to_owned();

    let snapshot = sim.snapshot("").await;
    assert_eq!(snapshot["tool_cache"]["hits_total"], 2);
    assert_eq!(snapshot["tool_cache"]["namespaces"][0]["entries"], 1);

    let (status, v) = call(
        &sim,
        "mutation",
        "toolCache:clearNamespace",
        json!({"namespace": namespace}),
        admin(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["value"]["deleted"], 1);
    let snapshot = sim.snapshot("").await;
    assert_eq!(
        snapshot["tool_cache"]["namespaces"][0]["entries"], 0,
        "cleared"
    );
    sim.chat(&creds.token, &creds.thread_id).await;
    assert_eq!(
        sim.snapshot("").await["tool_cache"]["misses_total"],
        2,
        "a cleared entry misses"
    );
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn a_split_sim_serves_functions_and_actions_apart_and_rest_ops_can_be_off() {
    let cfg = SimConfig {
        rest_ops: false,
        ..config()
    };
    let loopback = "127.0.0.1:0".parse().expect("addr");
    let handle = relhost_sim::start_at(loopback, Some(loopback), cfg)
        .await
        .expect("starts");
    assert_ne!(handle.base_url(), handle.functions_url());
    let site = Sim {
        handle,
        client: client(),
    };
    let r = site
        .post_json(
            "/api/query",
            &[],
            &json!({"path": "ops:getReliabilitySnapshot"}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "no function API on the site"
    );
    let r = site
        .ops(Method::GET, "/api/ops/reliability-snapshot", "")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "REST ops routes off");
    let r = site.post_json("/api/chat", &[], &json!({})).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "HTTP actions on the site"
    );

    let functions = client();
    let req = http::Request::post(format!("{}/api/query", site.handle.functions_url()))
        .header("authorization", admin().expect("key"))
        .body(http_body_util::Full::new(bytes::Bytes::from(
            json!({"path": "ops:getReliabilitySnapshot", "args": {}, "format": "json"}).to_string(),
        )))
        .expect("request");
    let r = site.send_with(&functions, req).await.expect("answer");
    assert_eq!(r.status, StatusCode::OK);
    let req = http::Request::post(format!("{}/api/chat", site.handle.functions_url()))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let r = site.send_with(&functions, req).await.expect("answer");
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "no HTTP actions on the cloud URL"
    );
    site.handle.shutdown().await;
}

#[tokio::test]
async fn an_injected_function_fault_is_a_function_failure() {
    let cfg = SimConfig {
        faults: vec!["functions:error_rate=1".parse().expect("spec")],
        ..config()
    };
    let sim = start(cfg).await;
    let (status, v) = call(
        &sim,
        "query",
        "ops:getReliabilitySnapshot",
        json!({}),
        admin(),
    )
    .await;
    assert_eq!(status.as_u16(), 560);
    assert_eq!(v["errorData"]["code"], "INJECTED_FAULT");
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn faults_are_set_and_listed_through_functions() {
    let sim = start(config()).await;
    let faults = json!({"faults": ["chat:latency=5ms", {"endpoint": "gmail", "error_rate": 1}]});
    let (status, v) = call(&sim, "mutation", "ops:setFaults", faults, admin()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (_, v) = call(&sim, "query", "ops:listFaults", json!({}), admin()).await;
    assert_eq!(v["value"]["faults"].as_array().map(Vec::len), Some(2));

    let bad = json!({"faults": ["chat:explode=1"]});
    let (status, v) = call(&sim, "mutation", "ops:setFaults", bad, admin()).await;
    assert_eq!(status.as_u16(), 560);
    assert!(
        v["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("faults[0]")),
        "{v}"
    );
    let (_, v) = call(&sim, "query", "ops:listFaults", json!({}), admin()).await;
    assert_eq!(
        v["value"]["faults"].as_array().map(Vec::len),
        Some(2),
        "unchanged"
    );
    let (status, _) = call(
        &sim,
        "mutation",
        "ops:setFaults",
        json!({"faults": []}),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "internal: needs the admin key"
    );
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn a_tool_provider_outage_retries_then_dead_letters_jobs() {
    let (dsn, events) = support::sentry().await;
    let mut cfg = config();
    cfg.tool_alerts.sentry_dsn = Some(dsn);
    cfg.faults = vec!["serper:provider_outage=primary".parse().expect("spec")];
    cfg.tool_queue.poll = std::time::Duration::from_millis(5);
    cfg.tool_queue.retry_base = std::time::Duration::from_millis(10);
    cfg.tool_queue.max_attempts = 2;
    cfg.tool_queue.wait = std::time::Duration::from_secs(5);
    let sim = start(cfg).await;
    let creds = sim
        .handle
        .provision_user("tools@example.com", "password-123");
    for i in 0..12 {
        let body = json!({"threadId": creds.thread_id, "message": format!("question {i}")});
        let auth = format!("Bearer {}", creds.token);
        let r = sim
            .post_json("/api/chat", &[("authorization", &auth)], &body)
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "the answer comes despite the tool"
        );
    }
    let snapshot = sim.snapshot("").await;
    let queue = &snapshot["tool_queue"];
    let web = &queue["by_kind"][0];
    assert_eq!(web["kind"], "web");
    let web_jobs = web["enqueued"].as_u64().expect("enqueued");
    assert!(web_jobs > 0, "{queue}");
    assert_eq!(web["dead_lettered"].as_u64(), Some(web_jobs), "{queue}");
    assert_eq!(web["retries"].as_u64(), Some(web_jobs), "one retry each");
    assert!(queue["dlq_size"].as_u64() >= Some(web_jobs), "{queue}");
    assert_eq!(
        queue["by_kind"][1]["dead_lettered"], 0,
        "eBay is up: {queue}"
    );
    let serper = snapshot["circuits"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["provider"] == "serper"))
        .expect("the Serper circuit");
    assert_eq!(serper["state"], "open", "{serper}");
    let failed: u64 = snapshot["tool_providers"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["provider"] == "serper" && r["outcome"] != "ok")
        .filter_map(|r| r["count"].as_u64())
        .sum();
    assert_eq!(
        failed,
        2 * web_jobs,
        "every attempt failed or met the open circuit"
    );
    assert!(snapshot["knobs"]["TOOL_JOB_MAX_ATTEMPTS"] == 2);
    assert_eq!(snapshot["knobs"]["TOOL_QUEUE_SENTRY_DSN"], "<set>");

    // The dead letters fire the DLQ alert (checked once a second), which
    // reaches the Sentry DSN.
    support::wait_until("the DLQ alert at the Sentry DSN", async || {
        (!events.lock().expect("lock").is_empty()).then_some(())
    })
    .await;
    let alerts = &sim.snapshot("").await["tool_queue"]["alerts"];
    assert!(
        alerts["in_window"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["alert"] == "dlq")),
        "{alerts}"
    );
    let got = events.lock().expect("lock").clone();
    let event = got.first().expect("an event at the DSN");
    assert!(event.starts_with("POST /api/42/store/ "), "{event}");
    assert!(
        event
            .to_ascii_lowercase()
            .contains("x-sentry-auth: sentry sentry_version=7, sentry_key=publickey"),
        "{event}"
    );
    assert!(event.contains("tool queue alert: dlq"), "{event}");
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn model_classes_choose_the_model_of_each_answer() {
    let mut cfg = config();
    cfg.tool_cache.tool_call_pct = 0.0;
    cfg.models.agent[0] = "acme/agent-large".into();
    let sim = start(cfg).await;
    let creds = sim
        .handle
        .provision_user("models@example.com", "password-123");
    let auth = format!("Bearer {}", creds.token);
    let ask =
        |class: Value| json!({"threadId": creds.thread_id, "message": "hi", "modelClass": class});
    let r = sim
        .post_json(
            "/api/chat",
            &[("authorization", &auth)],
            &ask(json!("agent")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert!(text.contains(r#""model":"acme/agent-large""#), "{text}");
    let r = sim
        .post_json("/api/chat", &[("authorization", &auth)], &ask(Value::Null))
        .await;
    assert!(
        String::from_utf8_lossy(&r.body).contains(r#""modelClass":"fast""#),
        "the default class"
    );
    let r = sim
        .post_json(
            "/api/chat",
            &[("authorization", &auth)],
            &ask(json!("huge")),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let snapshot = sim.snapshot("").await;
    let agent = snapshot["chat_models"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["class"] == "agent"))
        .expect("agent row");
    assert_eq!(agent["model"], "acme/agent-large");
    assert_eq!(snapshot["region"]["topology_mode"], "single_region");
    sim.handle.shutdown().await;
}
