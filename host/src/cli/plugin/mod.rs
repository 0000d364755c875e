//! `relhost plugin`: inspect, scaffold, publish and fetch plugins.
//!
//! References: `oci://HOST[:PORT]/NS/NAME[:VERSION|@REQUIREMENT]` for an OCI
//! registry, `local:NS/NAME…` (or just `NS/NAME…` in these commands) for the
//! local directory registry. See [`crate::registry`].

mod scaffold;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clap::{Args, Subcommand};

use super::error::CliError;
use super::printer::Printer;
use crate::exit::Exit;
use crate::plugin::{COMPILED_CACHE, Limits, Params, PluginSource, Runtime, artifacts};
use crate::registry::inspect::{Inspection, inspect};
use crate::registry::{self, CapabilityPolicy, Reference, ResolveOptions, artifact::Artifact};
use crate::report::{rfc3339_millis, write_bytes_atomic};

pub(crate) use scaffold::Kind;

/// Inspect, scaffold, push, pull and list plugins.
#[derive(Debug, Args)]
pub struct PluginCommand {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Print a component's manifest, world, imports and exports.
    Inspect(InspectArgs),
    /// Scaffold a plugin crate that builds with one cargo command.
    New(NewArgs),
    /// Publish a component as NS/NAME:VERSION (semver) to a registry.
    Push(PushArgs),
    /// Resolve, download, verify, cache and lock a plugin.
    Pull(PullArgs),
    /// List a plugin's published versions (semver order).
    List(ListArgs),
    /// Write a built-in plugin's component to a file.
    Export(ExportArgs),
}

/// Where registry plugins come from and how runs pin them; shared by
/// `relhost run` and `relhost plugin`.
#[derive(Debug, Clone, Args)]
pub(crate) struct RegistryArgs {
    /// The local directory registry [default: ~/.relhost/registry].
    #[arg(long, env = "RELHOST_REGISTRY_DIR", value_name = "DIR")]
    registry_dir: Option<PathBuf>,
    /// The cache of pulled plugins [default: ~/.relhost/cache].
    #[arg(long, env = "RELHOST_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// The lock file recording each registry plugin's version and sha256.
    #[arg(long, default_value = "relhost.lock", value_name = "FILE")]
    lock_file: PathBuf,
    /// Fail (exit 2) instead of changing the lock file.
    #[arg(long)]
    locked: bool,
    /// Refuse any plugin that declares this secret (repeatable).
    #[arg(long = "forbid-secret", value_name = "NAME")]
    forbid_secrets: Vec<String>,
}

impl RegistryArgs {
    /// The resolve options, with `ca_cert` for HTTPS registries.
    pub(crate) fn options(&self, ca_cert: Option<PathBuf>) -> ResolveOptions {
        let defaults = ResolveOptions::default();
        ResolveOptions {
            registry_dir: self.registry_dir.clone().unwrap_or(defaults.registry_dir),
            cache_dir: self.cache_dir.clone().unwrap_or(defaults.cache_dir),
            lock_file: self.lock_file.clone(),
            locked: self.locked,
            ca_cert,
            policy: CapabilityPolicy {
                forbidden_secrets: self.forbid_secrets.clone(),
            },
        }
    }
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// A component file, or a registry reference (oci://… or local:…).
    #[arg(value_name = "FILE.wasm|REF")]
    plugin: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// PEM file with extra root certificates for HTTPS registries.
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Debug, Args)]
struct NewArgs {
    /// The plugin's name, snake_case (also the crate and scenario name).
    name: String,
    /// What the plugin is.
    #[arg(long, value_enum, default_value = "scenario")]
    kind: Kind,
    /// Where the crate's directory NAME is created.
    #[arg(long, default_value = ".", value_name = "PATH")]
    dir: PathBuf,
    /// Depend on the SDK at this path [default: the SDK this relhost was built from, if present].
    #[arg(long, value_name = "PATH", conflicts_with = "sdk_git")]
    sdk_path: Option<PathBuf>,
    /// Depend on the SDK from this git repository instead.
    #[arg(long, value_name = "URL")]
    sdk_git: Option<String>,
}

#[derive(Debug, Args)]
struct PushArgs {
    /// The component to publish.
    #[arg(value_name = "FILE.wasm")]
    file: PathBuf,
    /// oci://HOST[:PORT]/NS/NAME:VERSION, or local:NS/NAME:VERSION (or NS/NAME:VERSION).
    #[arg(value_name = "REF")]
    reference: String,
    /// Replace the version if it is already published.
    #[arg(long)]
    force: bool,
    /// Publish even if the plugin describes itself with another version.
    #[arg(long)]
    allow_version_mismatch: bool,
    /// A data directory the payload builder declares, `NAME=DIR`, published
    /// with it as a layer (repeatable).
    #[arg(long = "data", value_name = "NAME=DIR", value_parser = super::args::key_value)]
    data: Vec<(String, String)>,
    /// PEM file with extra root certificates for HTTPS registries.
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Debug, Args)]
struct PullArgs {
    /// REF[:VERSION|@REQUIREMENT], e.g. oci://ghcr.io/team/x@^1.2 or local:team/x.
    #[arg(value_name = "REF")]
    reference: String,
    /// Also copy the component to this file.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// PEM file with extra root certificates for HTTPS registries.
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// oci://HOST[:PORT]/NS/NAME or local:NS/NAME (an @REQUIREMENT filters).
    #[arg(value_name = "REF")]
    reference: String,
    /// Print a JSON array.
    #[arg(long)]
    json: bool,
    /// PEM file with extra root certificates for HTTPS registries.
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// A built-in plugin: a scenario (whatsapp_webhook, …) or a rotation (round_robin, …).
    name: String,
    /// Where to write the component.
    #[arg(value_name = "OUT.wasm")]
    output: PathBuf,
}

impl PluginCommand {
    /// Runs the subcommand.
    pub async fn run(self) -> Result<Exit, CliError> {
        let printer = Printer::stdout(false);
        match self.action {
            Action::Inspect(args) => args.run(printer).await,
            Action::New(args) => {
                let sdk = scaffold::Sdk::choose(args.sdk_path, args.sdk_git);
                let dir = scaffold::create(&args.dir, &args.name, args.kind, &sdk)?;
                printer.line(&format!(
                    "created {} ({} plugin); build it with:\n  cd {} && cargo build --release --target wasm32-wasip2\nthe component: {}",
                    dir.display(),
                    args.kind.as_str(),
                    dir.display(),
                    dir.join("target/wasm32-wasip2/release")
                        .join(format!("{}.wasm", args.name))
                        .display()
                ));
                Ok(Exit::Pass)
            }
            Action::Push(args) => args.run(printer).await,
            Action::Pull(args) => args.run(printer).await,
            Action::List(args) => args.run(printer).await,
            Action::Export(args) => {
                let bytes = artifacts::builtin(&args.name).ok_or_else(|| {
                    CliError::BadInput(format!(
                        "unknown built-in plugin {:?}; valid: {}",
                        args.name,
                        artifacts::BUILTIN_SCENARIOS
                            .iter()
                            .chain(artifacts::BUILTIN_ROTATIONS)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
                let path = write_file(&args.output, bytes)?;
                printer.line(&format!("wrote {}", path.display()));
                Ok(Exit::Pass)
            }
        }
    }
}

/// A runtime with the default limits and the compile cache under the
/// plugin cache directory (`RELHOST_CACHE_DIR`, else `~/.relhost/cache`).
pub(crate) fn runtime() -> Result<Runtime, CliError> {
    Ok(Runtime::with_params(
        Limits::default(),
        Params::new(),
        None,
        Some(&compile_cache()),
    )?)
}

/// The compiled-plugin cache under the plugin cache directory
/// (`RELHOST_CACHE_DIR`, else `~/.relhost/cache`).
pub(crate) fn compile_cache() -> PathBuf {
    registry::default_dir(registry::CACHE_DIR_ENV, "cache").join(COMPILED_CACHE)
}

/// Writes a file atomically; `path` names the file.
fn write_file(path: &Path, bytes: &[u8]) -> Result<PathBuf, CliError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| CliError::BadInput(format!("{}: not a file name", path.display())))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok(write_bytes_atomic(dir, name, bytes, None)?)
}

impl InspectArgs {
    async fn run(self, printer: Printer) -> Result<Exit, CliError> {
        let options = self.registry.options(self.ca_cert.clone());
        let file = registry::resolve_plugin_ref(&self.plugin, &options).await?;
        let inspection = inspect(&runtime()?, &PluginSource::File(file)).await?;
        if self.json {
            let text = serde_json::to_string_pretty(&inspection)
                .map_err(|e| CliError::CannotRun(e.to_string()))?;
            printer.line(&text);
        } else {
            printer.line(&describe(&inspection));
        }
        options
            .policy
            .check(&inspection.name, &inspection.secrets)?;
        Ok(Exit::Pass)
    }
}

/// The human form of an inspection.
fn describe(i: &Inspection) -> String {
    let none = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let mut text = format!(
        "{} {} ({} plugin)\n  {:<18}{}\n  {:<18}{}\n  {:<18}{}\n  {:<18}{}\n  {:<18}none\n",
        i.name,
        i.version,
        i.kind.as_str(),
        "world",
        i.component.target,
        "sha256",
        i.sha256,
        "description",
        i.description,
        "secrets",
        none(&i.secrets),
        "data files",
    );
    if let Some(details) = i.details.as_object() {
        for (key, value) in details {
            let value = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            text.push_str(&format!("  {:<18}{value}\n", key.replace('_', " ")));
        }
    }
    text.push_str("imports\n");
    for name in &i.component.imports {
        text.push_str(&format!("  {name}\n"));
    }
    text.push_str("exports\n");
    for name in &i.component.exports {
        text.push_str(&format!("  {name}\n"));
    }
    text.trim_end().to_string()
}

impl PushArgs {
    async fn run(self, printer: Printer) -> Result<Exit, CliError> {
        let reference = Reference::parse(&self.reference, true)?;
        let registry::reference::Selector::Exact(version) = reference.selector.clone() else {
            return Err(CliError::BadInput(format!(
                "{reference}: push needs one version: NS/NAME:VERSION (semver, e.g. 1.2.3)"
            )));
        };
        let wasm = std::fs::read(&self.file).map_err(|e| {
            CliError::BadInput(format!("{}: cannot read it: {e}", self.file.display()))
        })?;
        let inspection = inspect(&runtime()?, &PluginSource::File(self.file.clone())).await?;
        if inspection.version != version.to_string() && !self.allow_version_mismatch {
            return Err(CliError::BadInput(format!(
                "{}: the plugin describes itself as {} {}, but {reference} publishes version {version}; \
                 bump the plugin's version or pass --allow-version-mismatch",
                self.file.display(),
                inspection.name,
                inspection.version
            )));
        }
        let mut data = Vec::with_capacity(self.data.len());
        for (name, dir) in &self.data {
            if !inspection.data.contains(name) {
                return Err(CliError::BadInput(format!(
                    "--data={name}={dir}: {} declares no data directory {name:?} (it declares: {})",
                    inspection.name,
                    if inspection.data.is_empty() {
                        "none".to_string()
                    } else {
                        inspection.data.join(", ")
                    }
                )));
            }
            if data.iter().any(|(n, _)| n == name) {
                return Err(CliError::BadInput(format!(
                    "--data: {name:?} is given twice"
                )));
            }
            let tar = registry::data::pack(Path::new(dir))
                .map_err(|e| CliError::BadInput(format!("--data={name}={dir}: {e}")))?;
            data.push((name.clone(), tar));
        }
        let artifact = Artifact::build(
            wasm,
            data,
            &inspection.manifest(version),
            inspection.component.clone(),
            rfc3339_millis(SystemTime::now()),
        );
        let options = self.registry.options(self.ca_cert.clone());
        let digest = registry::push(&reference, &artifact, &options, self.force).await?;
        printer.line(&format!(
            "pushed {reference} ({} {} plugin)\n  manifest  {digest}\n  wasm      sha256:{}",
            inspection.name,
            inspection.kind.as_str(),
            inspection.sha256
        ));
        Ok(Exit::Pass)
    }
}

impl PullArgs {
    async fn run(self, printer: Printer) -> Result<Exit, CliError> {
        let reference = Reference::parse(&self.reference, true)?;
        let options = self.registry.options(self.ca_cert.clone());
        let resolved = registry::resolve(&reference, &options).await?;
        let mut text = format!(
            "{reference} -> {} sha256:{}\n  cached  {}{}\n  lock    {} ({})",
            resolved.version,
            resolved.sha256,
            resolved.path.display(),
            if resolved.from_cache {
                " (already cached)"
            } else {
                ""
            },
            options.lock_file.display(),
            if resolved.lock_updated {
                "updated"
            } else {
                "unchanged"
            },
        );
        for (name, dir) in &resolved.data {
            text.push_str(&format!("\n  data    {name}: {}", dir.display()));
        }
        if let Some(output) = &self.output {
            let bytes = std::fs::read(&resolved.path)
                .map_err(|e| CliError::CannotRun(format!("{}: {e}", resolved.path.display())))?;
            let path = write_file(output, &bytes)?;
            text.push_str(&format!("\n  copied  {}", path.display()));
        }
        printer.line(&text);
        Ok(Exit::Pass)
    }
}

impl ListArgs {
    async fn run(self, printer: Printer) -> Result<Exit, CliError> {
        let reference = Reference::parse(&self.reference, true)?;
        let options = self.registry.options(self.ca_cert.clone());
        let versions = registry::list(&reference, &options).await?;
        let versions: Vec<String> = versions.iter().map(ToString::to_string).collect();
        if self.json {
            printer.line(&serde_json::Value::from(versions).to_string());
        } else {
            for version in versions {
                printer.line(&version);
            }
        }
        Ok(Exit::Pass)
    }
}
