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

static BODIES: OnceLock<Result<Vec<Vec<u8>>, String>> = OnceLock::new();

/// The recorded bodies, read once per instance.
fn bodies() -> Result<&'static [Vec<u8>], String> {
    BODIES
        .get_or_init(|| {
            let files = payload::read_dir_sorted(DATA)?;
            if files.is_empty() {
                return Err(format!("data directory {DATA} holds no file"));
            }
            Ok(files.into_iter().map(|(_, bytes)| bytes).collect())
        })
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
}

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
        let bodies = bodies()?;
        Ok(payload::replay(&batch, bodies, |b| payload::body(b.clone())))
    }
}

export_payload_builder!(WhatsappReplay);
