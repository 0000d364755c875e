//! `chat_corpus`: chat messages drawn from a corpus of prompts, one per
//! line of the `.txt` files in the data directory `corpus` (blank lines
//! skipped), in seeded rounds. Each body is
//! `{"threadId":"{{credential.thread}}","message":PROMPT}`: the host fills
//! the thread of the request's credential.

use std::sync::OnceLock;

use relhost_plugin_sdk::payload::{self, Batch, BuilderInfo, Guest, Payload};
use relhost_plugin_sdk::*;

/// The data directory of prompt files.
const DATA: &str = "corpus";

static PROMPTS: OnceLock<Result<Vec<String>, String>> = OnceLock::new();

/// Escapes `text` as a JSON string, quotes included.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `{{` would read as a placeholder: escape the brace.
            '{' => out.push_str("\\u007b"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The prompts, read once per instance.
fn prompts() -> Result<&'static [String], String> {
    PROMPTS
        .get_or_init(|| {
            let prompts: Vec<String> = payload::read_dir_sorted(DATA)?
                .into_iter()
                .filter(|(name, _)| name.ends_with(".txt"))
                .flat_map(|(_, bytes)| {
                    String::from_utf8_lossy(&bytes)
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect();
            if prompts.is_empty() {
                return Err(format!(
                    "data directory {DATA} holds no prompt (.txt lines)"
                ));
            }
            Ok(prompts)
        })
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
}

struct ChatCorpus;

impl Guest for ChatCorpus {
    fn describe() -> BuilderInfo {
        BuilderInfo {
            name: "chat_corpus".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Chat messages drawn from the prompts of the corpus data directory, in seeded order"
                    .into(),
            scenarios: vec!["chat_stream_http".into()],
            data: vec![DATA.into()],
        }
    }

    fn build(batch: Batch) -> Result<Vec<Payload>, String> {
        let prompts = prompts()?;
        Ok(payload::replay(&batch, prompts, |prompt| {
            payload::templated(format!(
                "{{\"threadId\":\"{{{{credential.thread}}}}\",\"message\":{}}}",
                json_string(prompt)
            ))
        }))
    }
}

export_payload_builder!(ChatCorpus);
