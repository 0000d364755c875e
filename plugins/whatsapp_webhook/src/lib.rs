//! `whatsapp_webhook`: drills `POST /api/whatsapp/webhook` with Cloud API
//! message notifications.
//!
//! When `WHATSAPP_APP_SECRET` is set, every body is signed in the
//! `X-Hub-Signature-256` header. The host computes the HMAC over the final
//! body with the named secret, so the key never enters the plugin.

use relhost_plugin_sdk::*;

const ENDPOINT: &str = "/api/whatsapp/webhook";
const APP_SECRET: &str = "WHATSAPP_APP_SECRET";
const BODY: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Reliability Drill"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.{{uuid}}","timestamp":"{{now_s}}","type":"text","text":{"body":"drill message {{iteration}}"}}]}}]}]}"#;

struct WhatsappWebhook;

impl TemplateScenario for WhatsappWebhook {
    fn descriptor() -> Descriptor {
        Descriptor {
            name: "whatsapp_webhook".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "WhatsApp Cloud API webhook notifications to /api/whatsapp/webhook".into(),
            endpoint: ENDPOINT.into(),
            expected_statuses: vec![200],
            event_stream: false,
            default_stages: vec![
                rate_stage("warmup", 10.0, 5_000, 2_000),
                rate_stage("steady", 40.0, 15_000, 0),
            ],
            secrets: vec![APP_SECRET.into()],
            needs_credential: false,
            judges_responses: false,
        }
    }

    fn template() -> Template {
        let signing = host::has_secret(APP_SECRET).then(|| Signing {
            header: "x-hub-signature-256".into(),
            secret: APP_SECRET.into(),
            prefix: "sha256=".into(),
        });
        json_post(ENDPOINT, Vec::new(), Vec::new(), BODY, signing)
    }
}

export_scenario!(WhatsappWebhook);
