//! `relhost plugin new`: a plugin crate that builds with
//! `cargo build --release --target wasm32-wasip2`.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

use crate::cli::error::CliError;

/// The kinds of plugin `relhost plugin new` scaffolds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    /// A scenario (`TemplateScenario`): what to send to one endpoint.
    Scenario,
    /// An auth-pool rotation strategy (`rotation::Guest`).
    Rotation,
    /// A payload builder (`payload::Guest`): request bodies a batch at a
    /// time, from a read-only data directory.
    PayloadBuilder,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Scenario => "scenario",
            Kind::Rotation => "rotation",
            Kind::PayloadBuilder => "payload-builder",
        }
    }
}

/// Where the scaffolded crate gets `relhost-plugin-sdk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sdk {
    /// A path dependency.
    Path(PathBuf),
    /// A git dependency.
    Git(String),
}

/// The SDK in the source tree this binary was built from.
const BUILT_FROM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/sdk");
/// The repository the SDK is published in (the workspace's `repository`).
const SDK_GIT: &str = "https://example.invalid/relhost";

impl Sdk {
    /// `--sdk-path`, else `--sdk-git`, else the SDK this binary was built
    /// from when it still exists, else the project's git repository.
    pub(crate) fn choose(path: Option<PathBuf>, git: Option<String>) -> Sdk {
        if let Some(path) = path {
            return Sdk::Path(std::path::absolute(&path).unwrap_or(path));
        }
        if let Some(git) = git {
            return Sdk::Git(git);
        }
        match std::fs::canonicalize(BUILT_FROM) {
            Ok(path) if path.join("Cargo.toml").exists() => Sdk::Path(path),
            _ => Sdk::Git(SDK_GIT.into()),
        }
    }

    fn dependency(&self) -> String {
        match self {
            Sdk::Path(path) => format!("{{ path = {:?} }}", path.display().to_string()),
            Sdk::Git(url) => format!("{{ git = {url:?} }}"),
        }
    }
}

/// Creates `dir/name` with a Cargo.toml, src/lib.rs, .gitignore and a
/// README; refuses an invalid name or an existing directory.
pub(crate) fn create(dir: &Path, name: &str, kind: Kind, sdk: &Sdk) -> Result<PathBuf, CliError> {
    check_name(name)?;
    let root = dir.join(name);
    if root.exists() {
        return Err(CliError::BadInput(format!(
            "{}: already exists; choose another name or --dir",
            root.display()
        )));
    }
    let fill = |template: &str| {
        template
            .replace("__NAME__", name)
            .replace("__KIND__", kind.as_str())
            .replace("__SDK__", &sdk.dependency())
    };
    let lib = match kind {
        Kind::Scenario => SCENARIO_LIB,
        Kind::Rotation => ROTATION_LIB,
        Kind::PayloadBuilder => PAYLOAD_LIB,
    };
    let files = [
        ("Cargo.toml", fill(CARGO_TOML)),
        ("src/lib.rs", fill(lib)),
        (".gitignore", "/target\n".to_string()),
        ("README.md", fill(README)),
    ];
    for (file, text) in files {
        let path = root.join(file);
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, text)
        };
        write().map_err(|e| {
            CliError::CannotRun(format!("{}: cannot write it: {e}", path.display()))
        })?;
    }
    Ok(root)
}

fn check_name(name: &str) -> Result<(), CliError> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(CliError::BadInput(format!(
            "plugin name {name:?}: expected snake_case (a-z, 0-9, _; starting with a letter), like my_webhook"
        )))
    }
}

const CARGO_TOML: &str = r#"[package]
name = "__NAME__"
version = "0.1.0"
edition = "2024"
description = "relhost __KIND__ plugin __NAME__"
publish = false

# A plugin is a WebAssembly component: a cdylib built for wasm32-wasip2.
[lib]
crate-type = ["cdylib"]

[dependencies]
relhost-plugin-sdk = __SDK__

# A crate of its own, not a member of an enclosing workspace.
[workspace]

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = true
"#;

const README: &str = r#"# __NAME__

A relhost __KIND__ plugin.

```bash
cargo build --release --target wasm32-wasip2
relhost plugin inspect target/wasm32-wasip2/release/__NAME__.wasm
relhost plugin push target/wasm32-wasip2/release/__NAME__.wasm oci://REGISTRY/NS/__NAME__:0.1.0
```
"#;

const SCENARIO_LIB: &str = r##"//! `__NAME__`: a relhost scenario plugin.
//!
//! Build with `cargo build --release --target wasm32-wasip2`; drill with
//! `relhost run --plugin=target/wasm32-wasip2/release/__NAME__.wasm --base-url=URL`.
//! The host fills the template for every request (`{{uuid}}`, `{{iteration}}`,
//! `{{now_ms}}`, `{{secret.NAME}}` for a declared secret, ...): no plugin call
//! per request.

use relhost_plugin_sdk::*;

const ENDPOINT: &str = "/api/__NAME__";

struct Plugin;

impl TemplateScenario for Plugin {
    fn descriptor() -> Descriptor {
        Descriptor {
            name: "__NAME__".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "POST a JSON event to /api/__NAME__".into(),
            endpoint: ENDPOINT.into(),
            expected_statuses: vec![200, 202],
            event_stream: false,
            default_stages: vec![
                rate_stage("warmup", 5.0, 5_000, 2_000),
                rate_stage("steady", 20.0, 10_000, 0),
            ],
            // Names of the secrets the plugin may use; the host grants only these.
            secrets: Vec::new(),
            needs_credential: false,
            judges_responses: false,
        }
    }

    fn template() -> Template {
        let body = r#"{"id":"{{uuid}}","iteration":{{iteration}},"sent_at_ms":{{now_ms}}}"#;
        json_post(ENDPOINT, Vec::new(), Vec::new(), body, None)
    }
}

export_scenario!(Plugin);
"##;

const ROTATION_LIB: &str = r#"//! `__NAME__`: a relhost auth-pool rotation strategy.
//!
//! Build with `cargo build --release --target wasm32-wasip2`; use with
//! `relhost run --chat-rotation-plugin=target/wasm32-wasip2/release/__NAME__.wasm`.
//! Picks must depend only on the configuration and the sequence numbers, so
//! that every worker's instance agrees on the whole sequence.

use std::sync::atomic::{AtomicU64, Ordering};

use relhost_plugin_sdk::export_rotation;
use relhost_plugin_sdk::rotation::*;

/// The pool size, set by `configure`.
static SIZE: AtomicU64 = AtomicU64::new(1);

struct Plugin;

impl Guest for Plugin {
    fn configure(config: RotationConfig) -> Result<RotationInfo, String> {
        if config.pool_size == 0 {
            return Err("the pool is empty".into());
        }
        SIZE.store(u64::from(config.pool_size), Ordering::Relaxed);
        Ok(RotationInfo {
            name: "__NAME__".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reachable: config.pool_size,
            warnings: Vec::new(),
        })
    }

    fn pick(first: u64, step: u64, count: u32) -> Vec<u32> {
        let size = SIZE.load(Ordering::Relaxed);
        picks(first, step, count, |n| (n % size) as u32)
    }
}

export_rotation!(Plugin);
"#;

const PAYLOAD_LIB: &str = r##"//! `__NAME__`: a relhost payload builder.
//!
//! Build with `cargo build --release --target wasm32-wasip2`; use with
//! `relhost run --payload-plugin=SCENARIO=target/wasm32-wasip2/release/__NAME__.wasm
//! --plugin-data=samples=DIR`. Every file of the data directory `samples` is
//! one request body, sent byte for byte; each round of N requests sends
//! each of the N files once, in an order shuffled by the run's seed. The
//! host signs the body when the scenario signs; `payload::templated` makes
//! a body whose placeholders (`{{uuid}}`, `{{credential.thread}}`, ...) it
//! fills. One call builds a whole batch.

use std::sync::OnceLock;

use relhost_plugin_sdk::export_payload_builder;
use relhost_plugin_sdk::payload::{self, Batch, BuilderInfo, Guest, Payload};

/// The data directory, preopened read-only under this name.
const DATA: &str = "samples";

static FILES: OnceLock<Result<Vec<(String, Vec<u8>)>, String>> = OnceLock::new();

struct Plugin;

impl Guest for Plugin {
    fn describe() -> BuilderInfo {
        BuilderInfo {
            name: "__NAME__".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Bodies from the files of the samples data directory".into(),
            // Scenarios it builds for; empty: any.
            scenarios: Vec::new(),
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

export_payload_builder!(Plugin);
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaffolds_a_crate_and_refuses_bad_names_and_existing_dirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sdk = Sdk::Path("/sdk".into());
        let root = create(dir.path(), "my_hook", Kind::Scenario, &sdk).expect("create");
        let toml = std::fs::read_to_string(root.join("Cargo.toml")).expect("toml");
        assert!(
            toml.contains(r#"relhost-plugin-sdk = { path = "/sdk" }"#),
            "{toml}"
        );
        assert!(toml.contains(r#"crate-type = ["cdylib"]"#));
        let lib = std::fs::read_to_string(root.join("src/lib.rs")).expect("lib");
        assert!(lib.contains(r#"name: "my_hook".into()"#) && lib.contains("export_scenario!"));
        assert!(create(dir.path(), "my_hook", Kind::Rotation, &sdk).is_err());
        for bad in ["My", "1x", "a-b", ""] {
            assert!(
                create(dir.path(), bad, Kind::Scenario, &sdk).is_err(),
                "{bad}"
            );
        }
        let git = Sdk::Git("https://example.invalid/relhost".into());
        let root = create(dir.path(), "rot", Kind::Rotation, &git).expect("rotation");
        let lib = std::fs::read_to_string(root.join("src/lib.rs")).expect("lib");
        assert!(lib.contains("export_rotation!(Plugin)"));
        let toml = std::fs::read_to_string(root.join("Cargo.toml")).expect("toml");
        assert!(
            toml.contains(r#"git = "https://example.invalid/relhost""#),
            "{toml}"
        );
    }
}
