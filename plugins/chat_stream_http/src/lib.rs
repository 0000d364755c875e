//! `chat_stream_http`: drills `POST /api/chat`, an SSE stream of model tokens.
//!
//! Every request carries the bearer token and thread of the credential the
//! host picked for it (from `RELIABILITY_AUTH_TOKEN` / `RELIABILITY_THREAD_ID`
//! or an auth pool). The token never enters the plugin: the template names it
//! with `{{credential.token}}` and the host fills it in.

use relhost_plugin_sdk::*;

const ENDPOINT: &str = "/api/chat";
const BODY: &str = r#"{"threadId":"{{credential.thread}}","message":"reliability drill {{iteration}}","modelClass":"fast"}"#;

struct ChatStream;

impl TemplateScenario for ChatStream {
    fn descriptor() -> Descriptor {
        Descriptor {
            name: "chat_stream_http".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Chat completions streamed over SSE from /api/chat".into(),
            endpoint: ENDPOINT.into(),
            expected_statuses: vec![200, 429],
            event_stream: true,
            default_stages: vec![
                concurrency_stage("warmup", 2, 5_000, 0),
                concurrency_stage("pressure", 8, 15_000, 5_000),
            ],
            secrets: Vec::new(),
            needs_credential: true,
            judges_responses: false,
        }
    }

    fn template() -> Template {
        json_post(
            ENDPOINT,
            Vec::new(),
            vec![
                header("authorization", "Bearer {{credential.token}}"),
                header("accept", "text/event-stream"),
            ],
            BODY,
            None,
        )
    }
}

export_scenario!(ChatStream);
