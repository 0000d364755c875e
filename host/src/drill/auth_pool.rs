//! The chat auth pool of a drill: where its credentials come from, and how
//! requests rotate over them.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::DrillError;
use crate::engine::{Credential, Credentials};
use crate::plugin::{PluginSource, RotationConfig, RotationPlugin, Runtime};
use crate::pool::{self, POOL_JSON_ENV, PoolEntry};
use crate::registry::{self, ResolveOptions};

/// The built-in rotation strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum RotationMode {
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
pub enum CredentialSource {
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
    pub fn label(&self) -> String {
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
pub fn from_operator(
    pool_file: Option<&Path>,
) -> Result<(Credentials, CredentialSource), DrillError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(path) = pool_file {
        let entries = pool::load_pool_file(path)?;
        return Ok((
            from_entries(entries),
            CredentialSource::PoolFile(path.to_path_buf()),
        ));
    }
    if let Some(json) = var(POOL_JSON_ENV) {
        let entries = pool::parse_pool_json(&json, POOL_JSON_ENV)?;
        return Ok((from_entries(entries), CredentialSource::PoolJson));
    }
    match (var("RELIABILITY_AUTH_TOKEN"), var("RELIABILITY_THREAD_ID")) {
        (Some(token), Some(thread_id)) => Ok((
            Credentials::new(vec![Credential { token, thread_id }]),
            CredentialSource::Env,
        )),
        (None, None) => Ok((Credentials::default(), CredentialSource::None)),
        (Some(_), None) => Err(DrillError::Invalid(
            "RELIABILITY_AUTH_TOKEN is set but RELIABILITY_THREAD_ID is not: the chat scenario needs both".into(),
        )),
        (None, Some(_)) => Err(DrillError::Invalid(
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

/// How requests rotate over the credentials.
#[derive(Debug, Clone)]
pub struct RotationChoice {
    /// The built-in strategy, unless `plugin` is given.
    pub mode: RotationMode,
    /// A strategy plugin: a file or a registry reference.
    pub plugin: Option<PathBuf>,
    /// The stride mode's step (default: coprime with the pool size).
    pub stride: Option<u32>,
    /// Seed of the stride offset and the random mode (default: the drill's).
    pub seed: Option<u64>,
}

impl RotationChoice {
    /// How reports name the strategy.
    pub fn describe(&self) -> String {
        self.plugin
            .as_ref()
            .map_or_else(|| format!("{:?}", self.mode), |p| p.display().to_string())
    }
}

/// Loads and configures the rotation strategy for a pool of `pool_size`.
pub(crate) async fn load_rotation(
    runtime: &Runtime,
    choice: &RotationChoice,
    resolve: &ResolveOptions,
    seed: u64,
    pool_size: usize,
) -> Result<RotationPlugin, DrillError> {
    let source = match &choice.plugin {
        Some(path) => PluginSource::File(registry::resolve_plugin_ref(path, resolve).await?),
        None => PluginSource::Builtin(choice.mode.plugin().to_string()),
    };
    let pool_size = u32::try_from(pool_size).map_err(|_| {
        DrillError::Invalid(format!(
            "the credential pool has {pool_size} entries; at most {} are supported",
            u32::MAX
        ))
    })?;
    let config = RotationConfig {
        pool_size,
        seed: choice.seed.unwrap_or(seed),
        stride: choice.stride,
    };
    Ok(runtime.load_rotation(&source, config).await?)
}

/// A seed from `--chat-rotation-seed`: a number as is, any other text hashed (FNV-1a).
pub fn parse_seed(text: &str) -> Result<u64, String> {
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
