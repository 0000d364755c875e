//! `relhost k8s --segments=N --image=IMAGE -- DRILL FLAGS`: the Kubernetes
//! manifests that run a drill as N segments and merge them (see
//! [`crate::k8s`]). The drill's flags are checked as `relhost drill`
//! checks them; the files they name go into the ConfigMap and their flags
//! point at its mount; a chat auth pool, which holds tokens, is read from
//! the operator's Secret instead.
//!
//! Exit codes: 0 written; 2 bad input (a flag the manifests set, a data
//! directory, files too large for a ConfigMap, no target).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::{Args, CommandFactory, Parser};

use super::Cli;
use super::args;
use super::error::CliError;
use super::printer::Printer;
use crate::exit::Exit;
use crate::k8s::{CONFIG_DIR, ConfigFile, Deployment, MAX_CONFIG_BYTES, SECRETS_DIR};
use crate::report::{file_name_safe, write_json_atomic};

/// Write Kubernetes manifests that run a drill as N segments and merge them.
#[derive(Debug, Args)]
pub struct K8sCommand {
    /// Segments: pods of the Indexed Job, one segment of the drill each.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    segments: u32,
    /// The relhost image (see the Dockerfile), e.g. registry.example/relhost:0.1.0.
    #[arg(long, value_name = "IMAGE")]
    image: String,
    /// Prefix of the objects' names (a DNS label).
    #[arg(long, default_value = "relhost-drill", value_name = "NAME", value_parser = dns_label)]
    name: String,
    /// The namespace of the objects (default: kubectl's current one).
    #[arg(long, value_name = "NAMESPACE", value_parser = dns_label)]
    namespace: Option<String>,
    /// The Secret whose keys the pods get as environment variables (tokens,
    /// app secrets) and as files under /relhost/secrets (the chat auth pool).
    #[arg(long, value_name = "NAME", value_parser = dns_label)]
    secret: Option<String>,
    /// Size of the reports volume.
    #[arg(long, default_value = "1Gi", value_name = "QUANTITY")]
    storage: String,
    /// Storage class of the reports volume; it must offer ReadWriteMany.
    #[arg(long, value_name = "CLASS")]
    storage_class: Option<String>,
    /// The segments start this long after the manifests are written, so
    /// that every pod is scheduled by then (at most a day).
    #[arg(long, default_value = "2m", value_name = "DURATION", value_parser = start_in)]
    start_in: Duration,
    /// How long the merge waits for every segment's report.
    #[arg(long, default_value = "1h", value_name = "DURATION", value_parser = args::positive_duration)]
    merge_wait: Duration,
    /// Where the manifests are written.
    #[arg(long, default_value = ".output/k8s", value_name = "DIR")]
    output_dir: PathBuf,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
    /// The flags of `relhost drill`, after `--`.
    #[arg(last = true, value_name = "DRILL FLAGS")]
    drill: Vec<String>,
}

/// Flags whose value is a file the pods read from the ConfigMap.
const FILE_FLAGS: &[&str] = &["profile", "slo-baseline", "slo-plugin", "ca-cert"];

/// Where a plugin flag's pods find the plugin.
enum Shipped {
    /// A file, shipped: its path in the pods.
    File(String),
    /// An `oci://` reference, pulled by the pods at the locked digest.
    Registry(String),
    /// Anything else (a built-in's name).
    Other(String),
}

/// Ships a plugin file, keeps a registry reference, refuses the local
/// registry (which is on this machine) and a path that is no file.
fn plugin_source(flag: &str, source: &str, files: &mut Files) -> Result<Shipped, CliError> {
    let path = Path::new(source);
    if path.is_file() {
        return files.add(path).map(Shipped::File);
    }
    if source.starts_with("oci://") {
        return Ok(Shipped::Registry(source.to_owned()));
    }
    if source.starts_with("local:") {
        return Err(bad(format!(
            "--{flag}={source}: the local registry is on this machine; \
             push the plugin to an OCI registry the cluster can reach"
        )));
    }
    if source.contains('/') || source.ends_with(".wasm") {
        return Err(bad(format!("--{flag}={source}: no such file here")));
    }
    Ok(Shipped::Other(source.to_owned()))
}

/// Flags the manifests set themselves.
const SET_BY_MANIFESTS: &[&str] = &["segment", "start-at", "output-dir", "lock-file", "locked"];

impl K8sCommand {
    /// Checks the drill's flags and writes the manifests.
    pub async fn run(self) -> Result<Exit, CliError> {
        let printer = Printer::stdout(self.quiet);
        let flags = normalize(&self.drill)?;
        let mut files = Files::default();
        let mut drill_args = Vec::new();
        let mut registry_plugins = false;
        let (mut has_target, mut workers) = (false, None);
        for (name, value) in &flags {
            let Some(value) = value else {
                drill_args.push(format!("--{name}"));
                continue;
            };
            let value = match name.as_str() {
                n if SET_BY_MANIFESTS.contains(&n) => {
                    return Err(bad(format!("--{n}: the manifests set it; leave it out")));
                }
                "plugin-data" => {
                    return Err(bad(
                        "--plugin-data: a data directory does not fit a ConfigMap; \
                         bake it into the image or mount a volume, and give its path"
                            .into(),
                    ));
                }
                "chat-auth-pool-file" => {
                    if self.secret.is_none() {
                        return Err(bad(
                            "--chat-auth-pool-file: the pool holds tokens, which go in a \
                             Secret: give --secret and create it with the pool under the \
                             key chat-auth-pool.json"
                                .into(),
                        ));
                    }
                    format!("{SECRETS_DIR}/chat-auth-pool.json")
                }
                "param" => {
                    let (param, _) = value.split_once('=').unwrap_or((value, ""));
                    if crate::redact::is_credential_header(param) {
                        return Err(bad(format!(
                            "--param {param}: a credential would be written into the manifests \
                             in the clear; give it to the pods through the Secret instead"
                        )));
                    }
                    value.clone()
                }
                "base-url" => {
                    has_target = true;
                    value.clone()
                }
                "workers" => {
                    workers = value.parse().ok();
                    value.clone()
                }
                "profile" if !(value.ends_with(".json") || value.contains('/')) => value.clone(),
                "payload-plugin" => {
                    let (scenario, source) = value.split_once('=').unwrap_or(("", value));
                    let source = match plugin_source(name, source, &mut files)? {
                        Shipped::Registry(source) => {
                            registry_plugins = true;
                            source
                        }
                        // A built-in builder's name.
                        Shipped::File(path) | Shipped::Other(path) => path,
                    };
                    format!("{scenario}={source}")
                }
                "plugin" | "chat-rotation-plugin" => {
                    match plugin_source(name, value, &mut files)? {
                        Shipped::Registry(source) => {
                            registry_plugins = true;
                            source
                        }
                        Shipped::File(path) => path,
                        Shipped::Other(_) => {
                            return Err(bad(format!(
                                "--{name}={value}: neither a file nor an oci:// reference"
                            )));
                        }
                    }
                }
                n if FILE_FLAGS.contains(&n) => {
                    if !Path::new(value).is_file() {
                        return Err(bad(format!("--{n}={value}: no such file here")));
                    }
                    files.add(Path::new(value))?
                }
                _ => value.clone(),
            };
            drill_args.push(format!("--{name}={value}"));
        }
        if !has_target {
            return Err(bad(
                "--base-url: segments drill one target the cluster can reach; give it".into(),
            ));
        }
        let Some(workers) = workers else {
            return Err(bad(
                "--workers: the segments must agree on it (a pod would take its node's CPU \
                 count); give it"
                    .into(),
            ));
        };
        if registry_plugins {
            // Registry plugins run at the digests the lock file pins.
            let lock = Path::new("relhost.lock");
            if !lock.is_file() {
                return Err(bad(
                    "registry plugins are pinned by relhost.lock, and there is none here: \
                     run the drill once (or `relhost plugin pull`) to write it"
                        .into(),
                ));
            }
            let key = files.add(lock)?;
            drill_args.push(format!("--lock-file={key}"));
            drill_args.push("--locked".into());
        }
        let deployment = Deployment {
            name: self.name,
            namespace: self.namespace,
            image: self.image,
            segments: self.segments,
            workers,
            start_at: SystemTime::now() + self.start_in,
            secret: self.secret,
            storage: self.storage,
            storage_class: self.storage_class,
            merge_wait: self.merge_wait,
            drill_args,
            files: files.files,
        };
        for manifest in deployment.manifests() {
            let path = write_json_atomic(&self.output_dir, &manifest.file_name, &manifest.object)?;
            printer.line(&format!("wrote {}", path.display()));
        }
        printer.line(&format!(
            "the segments start at {}: kubectl apply --server-side -f {} now; the merge \
             job's outcome is the drill's verdict, its report in {}/merged",
            humantime::format_rfc3339_seconds(deployment.start_at),
            self.output_dir.display(),
            deployment.reports_dir()
        ));
        Ok(Exit::Pass)
    }
}

/// The files the drill's flags name, as ConfigMap entries.
#[derive(Default)]
struct Files {
    files: Vec<ConfigFile>,
    bytes: usize,
}

impl Files {
    /// Adds `path`; gives back where the pods find it.
    fn add(&mut self, path: &Path) -> Result<String, CliError> {
        let bytes = std::fs::read(path)
            .map_err(|e| bad(format!("{}: cannot read: {e}", path.display())))?;
        self.bytes += bytes.len();
        if self.bytes > MAX_CONFIG_BYTES {
            return Err(bad(format!(
                "{}: the files the drill reads come to more than a ConfigMap holds \
                 ({MAX_CONFIG_BYTES} bytes): publish plugins to a registry and name them by reference",
                path.display()
            )));
        }
        let name = file_name_safe(path.file_name().and_then(|n| n.to_str()).unwrap_or("file"));
        let key = format!("{}-{name}", self.files.len());
        self.files.push(ConfigFile {
            key: key.clone(),
            bytes,
        });
        Ok(format!("{CONFIG_DIR}/{key}"))
    }
}

/// The drill's flags as `(name, value)`, checked as `relhost drill`
/// checks them.
fn normalize(tokens: &[String]) -> Result<Vec<(String, Option<String>)>, CliError> {
    let mut argv = vec!["relhost".to_owned(), "drill".to_owned()];
    argv.extend(tokens.iter().cloned());
    if let Err(e) = Cli::try_parse_from(&argv) {
        return Err(bad(format!(
            "the drill's flags: {}",
            e.render().to_string().trim()
        )));
    }
    let mut command = Cli::command();
    // Built, the arguments know how many values they take.
    command.build();
    let drill = command
        .find_subcommand("drill")
        .expect("relhost has a drill command");
    let mut flags = Vec::new();
    let mut tokens = tokens.iter();
    while let Some(token) = tokens.next() {
        let Some(flag) = token.strip_prefix("--") else {
            return Err(bad(format!("the drill's flags: {token:?} is not a flag")));
        };
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (flag, None),
        };
        let takes_value = drill
            .get_arguments()
            .find(|a| a.get_long() == Some(name))
            .and_then(|a| a.get_num_args())
            .is_some_and(|n| n.min_values() > 0);
        let value = match inline {
            Some(value) => Some(value),
            None if takes_value => tokens.next().cloned(),
            None => None,
        };
        flags.push((name.to_owned(), value));
    }
    Ok(flags)
}

/// A delay of at most a day (as `relhost drill --start-at` takes).
fn start_in(text: &str) -> Result<Duration, String> {
    crate::policy::parse_duration_within(
        text,
        Duration::from_secs(1),
        Duration::from_secs(24 * 3600),
    )
}

fn bad(message: String) -> CliError {
    CliError::BadInput(format!("k8s: {message}"))
}

/// A DNS label: lower-case letters, digits and `-`, at most 63.
fn dns_label(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 40
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !text.starts_with('-')
        && !text.ends_with('-');
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?}: lower-case letters, digits and '-', at most 40 characters \
             (suffixes make it a name of at most 63)"
        ))
    }
}
