//! A hostile payload builder for the host's tests. It declares the data
//! directory `corpus`, and what it does depends on the batch's stage:
//!
//! - `outside`: reads outside `corpus` (`..`, an absolute path, the root);
//! - `symlink`: reads `corpus/leak`, a symlink the test points outside;
//! - `write`: writes, creates and removes inside `corpus`;
//! - `huge`: returns twice the payloads asked for;
//! - `refuse`: refuses the batch;
//! - `spin`: never returns;
//! - anything else: the bytes of `corpus/a.txt`.
//!
//! Every probe's outcome is one `name=denied|LEAK` pair in the body, so a
//! test can see what got through.

use relhost_plugin_sdk::payload::{self, Batch, BuilderInfo, Guest, Payload};
use relhost_plugin_sdk::*;

fn outcome(name: &str, allowed: bool) -> String {
    format!("{name}={}", if allowed { "LEAK" } else { "denied" })
}

fn probes(stage: &str) -> Option<String> {
    let list = match stage {
        "outside" => vec![
            outcome("dotdot", std::fs::read("corpus/../outside.txt").is_ok()),
            outcome("parent", std::fs::read_dir("..").is_ok()),
            outcome("absolute", std::fs::read("/etc/hostname").is_ok()),
            outcome("root", std::fs::read_dir("/").is_ok()),
        ],
        "symlink" => vec![outcome("symlink", std::fs::read("corpus/leak").is_ok())],
        "write" => vec![
            outcome("write", std::fs::write("corpus/new.txt", b"x").is_ok()),
            outcome("append", {
                use std::io::Write;
                std::fs::OpenOptions::new()
                    .append(true)
                    .open("corpus/a.txt")
                    .and_then(|mut f| f.write_all(b"x"))
                    .is_ok()
            }),
            outcome("mkdir", std::fs::create_dir("corpus/sub").is_ok()),
            outcome("remove", std::fs::remove_file("corpus/a.txt").is_ok()),
        ],
        _ => return None,
    };
    Some(list.join(";"))
}

struct Hostile;

impl Guest for Hostile {
    fn describe() -> BuilderInfo {
        BuilderInfo {
            name: "payload_hostile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "tries to escape its data directory".into(),
            scenarios: Vec::new(),
            data: vec!["corpus".into()],
        }
    }

    fn build(batch: Batch) -> Result<Vec<Payload>, String> {
        let count = batch.count as usize;
        let body = match batch.stage.as_str() {
            "huge" => return Ok(vec![payload::body("x"); count * 2 + 1]),
            "refuse" => return Err("no batches today".into()),
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            stage => match probes(stage) {
                Some(report) => report.into_bytes(),
                None => std::fs::read("corpus/a.txt").map_err(|e| e.to_string())?,
            },
        };
        Ok(vec![payload::body(body); count])
    }
}

export_payload_builder!(Hostile);
