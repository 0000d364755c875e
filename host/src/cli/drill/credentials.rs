//! Where a drill's credentials come from, and how requests rotate over them.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

use crate::cli::error::CliError;
use crate::cli::plugin::registry_error;
use crate::engine::{Credential, Credentials};
use crate::plugin::{PluginSource, RotationConfig, RotationPlugin, Runtime};
use crate::pool::{self, PoolEntry};
use crate::registry::{self, ResolveOptions};

/// Environment variable holding an inline pool.
pub(crate) const POOL_JSON_ENV: &str = "RELIABILITY_CHAT_AUTH_POOL_JSON";

/// The built-in rotation strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub(crate) enum RotationMode {
    /// Request `n` uses entry `n mod size`.
    RoundRobin,
    /// Request `n` uses entry `(offset + n × stride) mod size`.
    Stride,
    /// Seeded pseudo-random entries.
    Random,
}

impl RotationMode {
    fn plugin(self) -> &'static str {
        match self {
            RotationMode::RoundRobin => "round_robin",
            RotationMode::Stride => "stride",
            RotationMode::Random => "random",
        }
    }
}

/// Where the credentials came from, for the report (never the tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CredentialSource {
    /// A pool file.
    PoolFile(PathBuf),
    /// `RELIABILITY_CHAT_AUTH_POOL_JSON`.
    PoolJson,
    /// `RELIABILITY_AUTH_TOKEN` and `RELIABILITY_THREAD_ID`.
    Env,
    /// A demo user provisioned on the in-process sim.
    Demo,
    /// None: scenarios that need a credential are skipped.
    None,
}

impl CredentialSource {
    /// How the source is named in reports.
    pub(crate) fn label(&self) -> String {
        match self {
            CredentialSource::PoolFile(path) => format!("pool file {}", path.display()),
            CredentialSource::PoolJson => POOL_JSON_ENV.to_string(),
            CredentialSource::Env => "RELIABILITY_AUTH_TOKEN".to_string(),
            CredentialSource::Demo => "demo user on the built-in relhost-sim".to_string(),
            CredentialSource::None => "none".to_string(),
        }
    }
}

/// Reads the credentials the operator gave: a pool file, an inline pool,
/// or the single token and thread; in that order of precedence.
pub(crate) fn from_operator(
    pool_file: Option<&Path>,
) -> Result<(Credentials, CredentialSource), CliError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(path) = pool_file {
        let entries = pool::load_pool_file(path).map_err(|e| CliError::BadInput(e.to_string()))?;
        return Ok((
            from_entries(entries),
            CredentialSource::PoolFile(path.to_path_buf()),
        ));
    }
    if let Some(json) = var(POOL_JSON_ENV) {
        let entries = pool::parse_pool_json(&json, POOL_JSON_ENV)
            .map_err(|e| CliError::BadInput(e.to_string()))?;
        return Ok((from_entries(entries), CredentialSource::PoolJson));
    }
    match (var("RELIABILITY_AUTH_TOKEN"), var("RELIABILITY_THREAD_ID")) {
        (Some(token), Some(thread_id)) => Ok((
            Credentials::new(vec![Credential { token, thread_id }]),
            CredentialSource::Env,
        )),
        (None, None) => Ok((Credentials::default(), CredentialSource::None)),
        (Some(_), None) => Err(CliError::BadInput(
            "RELIABILITY_AUTH_TOKEN is set but RELIABILITY_THREAD_ID is not: the chat scenario needs both".into(),
        )),
        (None, Some(_)) => Err(CliError::BadInput(
            "RELIABILITY_THREAD_ID is set but RELIABILITY_AUTH_TOKEN is not: the chat scenario needs both".into(),
        )),
    }
}

fn from_entries(entries: Vec<PoolEntry>) -> Credentials {
    Credentials::new(
        entries
            .into_iter()
            .map(|e| Credential {
                token: e.auth_token,
                thread_id: e.thread_id,
            })
            .collect(),
    )
}

/// The rotation flags.
#[derive(Debug, Clone)]
pub(crate) struct RotationChoice {
    pub(crate) mode: RotationMode,
    pub(crate) plugin: Option<PathBuf>,
    pub(crate) stride: Option<u32>,
    pub(crate) seed: u64,
    /// How a registry reference in `plugin` is resolved.
    pub(crate) resolve: ResolveOptions,
}

/// Loads and configures the rotation strategy for a pool of `pool_size`.
pub(crate) async fn load_rotation(
    runtime: &Runtime,
    choice: &RotationChoice,
    pool_size: usize,
) -> Result<RotationPlugin, CliError> {
    let source = match &choice.plugin {
        Some(path) => PluginSource::File(
            registry::resolve_plugin_ref(path, &choice.resolve)
                .await
                .map_err(registry_error)?,
        ),
        None => PluginSource::Builtin(choice.mode.plugin().to_string()),
    };
    let pool_size = u32::try_from(pool_size).map_err(|_| {
        CliError::BadInput(format!(
            "the credential pool has {pool_size} entries; at most {} are supported",
            u32::MAX
        ))
    })?;
    let config = RotationConfig {
        pool_size,
        seed: choice.seed,
        stride: choice.stride,
    };
    Ok(runtime.load_rotation(&source, config).await?)
}

/// A seed from `--chat-rotation-seed`: a number as is, any other text hashed (FNV-1a).
pub(crate) fn parse_seed(text: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err("expected a number or a non-empty string".into());
    }
    Ok(text.parse::<u64>().unwrap_or_else(|_| {
        text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_numbers_or_hashed_text() {
        assert_eq!(parse_seed("42"), Ok(42));
        assert_eq!(parse_seed("20260219a"), parse_seed("20260219a"));
        assert_ne!(parse_seed("20260219a"), parse_seed("20260219b"));
        assert!(parse_seed("").is_err());
    }
}
