//! The plugin registry: versioned plugins as Wasm OCI artifacts, pulled by
//! semver requirement, verified by digest, cached by content and locked.
//!
//! - [`reference`](mod@reference): `oci://HOST[:PORT]/NS/NAME[:VERSION|@REQ]` and `local:NS/NAME…`.
//! - [`artifact`]: the CNCF Wasm OCI layout and relhost's plugin manifest.
//! - [`remote`]: the OCI distribution v2 client; [`local`]: the directory
//!   registry (an OCI image layout) used offline.
//! - [`cache`]: `~/.relhost/cache/sha256/<hex>.wasm`; [`lock`]: `relhost.lock`.
//! - [`resolve`](resolve::resolve): requirement → version → verified file.
//!
//! A run turns every `--plugin` and `--chat-rotation-plugin` value into a
//! file with [`resolve_plugin_ref`]: a path stays a path, a reference is
//! resolved, pulled (or found in the cache), verified and locked.

pub mod artifact;
pub mod cache;
pub mod data;
mod error;
pub mod inspect;
pub mod local;
pub mod lock;
pub mod reference;
pub mod remote;
mod resolve;

use std::path::{Path, PathBuf};

pub use error::RegistryError;
pub use reference::{Reference, is_registry_reference};
pub use resolve::{Resolved, list, push, resolve};

/// Environment variable overriding the local registry directory.
pub const REGISTRY_DIR_ENV: &str = "RELHOST_REGISTRY_DIR";
/// Environment variable overriding the cache directory.
pub const CACHE_DIR_ENV: &str = "RELHOST_CACHE_DIR";

/// Capabilities a run refuses, whatever a plugin declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilityPolicy {
    /// Secrets no plugin may declare (`--forbid-secret`).
    pub forbidden_secrets: Vec<String>,
}

impl CapabilityPolicy {
    /// Refuses a plugin that declares a forbidden secret.
    pub fn check(&self, plugin: &str, declared: &[String]) -> Result<(), RegistryError> {
        match declared.iter().find(|s| self.forbidden_secrets.contains(s)) {
            Some(secret) => Err(RegistryError::Forbidden {
                plugin: plugin.to_string(),
                secret: secret.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// Where registry plugins come from and how they are pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveOptions {
    /// The local directory registry.
    pub registry_dir: PathBuf,
    /// The content-addressed cache's root.
    pub cache_dir: PathBuf,
    /// `relhost.lock`.
    pub lock_file: PathBuf,
    /// Fail instead of changing the lock file.
    pub locked: bool,
    /// Extra root certificates for HTTPS registries.
    pub ca_cert: Option<PathBuf>,
    /// Capabilities refused to plugins.
    pub policy: CapabilityPolicy,
}

impl Default for ResolveOptions {
    /// The environment's directories (or `~/.relhost/…`), `./relhost.lock`, not locked.
    fn default() -> Self {
        ResolveOptions {
            registry_dir: default_dir(REGISTRY_DIR_ENV, "registry"),
            cache_dir: default_dir(CACHE_DIR_ENV, "cache"),
            lock_file: PathBuf::from("relhost.lock"),
            locked: false,
            ca_cert: None,
            policy: CapabilityPolicy::default(),
        }
    }
}

/// `$ENV`, else `~/.relhost/<leaf>` (`./.relhost/<leaf>` without a home).
pub fn default_dir(env: &str, leaf: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(env).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".relhost").join(leaf)
}

/// A `--payload-plugin` value as a file and the data directories published
/// with it: a path as is (no data), a registry reference resolved to its
/// verified component and data layers in the cache.
pub async fn resolve_plugin_with_data(
    value: &Path,
    options: &ResolveOptions,
) -> Result<(PathBuf, Vec<(String, PathBuf)>), RegistryError> {
    let Some(text) = value.to_str().filter(|t| is_registry_reference(t)) else {
        return Ok((value.to_path_buf(), Vec::new()));
    };
    let reference = Reference::parse(text, false)?;
    let resolved = resolve(&reference, options).await?;
    Ok((resolved.path, resolved.data))
}

/// A `--plugin` value as a file: a path as is, a registry reference
/// resolved to its verified component in the cache.
pub async fn resolve_plugin_ref(
    value: &Path,
    options: &ResolveOptions,
) -> Result<PathBuf, RegistryError> {
    let Some(text) = value.to_str().filter(|t| is_registry_reference(t)) else {
        return Ok(value.to_path_buf());
    };
    let reference = Reference::parse(text, false)?;
    Ok(resolve(&reference, options).await?.path)
}

#[cfg(test)]
mod tests;
