//! `gmail_push_webhook`: drills `POST /api/gmail/push` with Pub/Sub push envelopes.
//!
//! When `GMAIL_PUBSUB_VERIFY_TOKEN` is set, the request carries it as the
//! `token` query parameter; the host fills `{{secret.GMAIL_PUBSUB_VERIFY_TOKEN}}`
//! so the value never enters the plugin.

use relhost_plugin_sdk::*;

const ENDPOINT: &str = "/api/gmail/push";
const VERIFY_TOKEN: &str = "GMAIL_PUBSUB_VERIFY_TOKEN";
/// Base64 of `{"emailAddress":"reliability-drill@example.com","historyId":"4242"}`.
const DATA: &str =
    "eyJlbWFpbEFkZHJlc3MiOiJyZWxpYWJpbGl0eS1kcmlsbEBleGFtcGxlLmNvbSIsImhpc3RvcnlJZCI6IjQyNDIifQ==";

struct GmailPush;

impl TemplateScenario for GmailPush {
    fn descriptor() -> Descriptor {
        Descriptor {
            name: "gmail_push_webhook".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Gmail Pub/Sub push notifications to /api/gmail/push".into(),
            endpoint: ENDPOINT.into(),
            expected_statuses: vec![200, 202, 204],
            event_stream: false,
            default_stages: vec![
                rate_stage("warmup", 10.0, 5_000, 2_000),
                rate_stage("steady", 40.0, 15_000, 0),
            ],
            secrets: vec![VERIFY_TOKEN.into()],
            needs_credential: false,
            judges_responses: false,
        }
    }

    fn template() -> Template {
        let query = if host::has_secret(VERIFY_TOKEN) {
            vec![(
                "token".to_string(),
                format!("{{{{secret.{VERIFY_TOKEN}}}}}"),
            )]
        } else {
            Vec::new()
        };
        let body = format!(
            r#"{{"message":{{"data":"{DATA}","messageId":"{{{{uuid}}}}","publishTime":"{{{{now_s}}}}"}},"subscription":"projects/reliability/subscriptions/gmail-push"}}"#
        );
        json_post(ENDPOINT, query, Vec::new(), &body, None)
    }
}

export_scenario!(GmailPush);
