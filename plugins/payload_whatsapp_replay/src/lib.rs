//! `whatsapp_replay`: replays recorded WhatsApp Cloud API webhook bodies
//! (message, status, reaction, media events) from the data directory
//! `webhooks`, one file per body, in seeded rounds: every round of N
//! requests sends each of the N files once. The host signs each body when
//! the scenario signs (`WHATSAPP_APP_SECRET`).

use std::sync::OnceLock;

use relhost_plugin_sdk::payload::{self, Batch, BuilderInfo, Guest, Payload};
use relhost_plugin_sdk::*;

/// The data directory of recorded bodies.
const DATA: &str = "webhooks";

static FILES: OnceLock<payload::DataFiles> = OnceLock::new();

struct WhatsappReplay;

impl Guest for WhatsappReplay {
    fn describe() -> BuilderInfo {
        BuilderInfo {
            name: "whatsapp_replay".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Replays recorded WhatsApp webhook bodies from the webhooks data directory, in seeded order".into(),
            scenarios: vec!["whatsapp_webhook".into()],
            data: vec![DATA.into()],
        }
    }

    fn build(batch: Batch) -> Result<Vec<Payload>, String> {
        let files = payload::load_once(&FILES, DATA)?;
        Ok(payload::replay(&batch, files, |(_, bytes)| {
            payload::body(bytes.clone())
        }))
    }
}

export_payload_builder!(WhatsappReplay);
