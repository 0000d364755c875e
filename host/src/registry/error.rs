//! Errors of references, registries, the cache and the lock file. Every
//! message names the reference (or the file) it is about.

use std::path::PathBuf;

use crate::http::ErrorClass;
use crate::plugin::PluginError;

/// What went wrong while resolving, pulling or pushing a plugin.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The reference does not parse.
    #[error("invalid plugin reference {reference:?}: {reason}")]
    BadReference {
        /// The text given.
        reference: String,
        /// What is wrong, and the expected syntax.
        reason: String,
    },
    /// The registry could not be reached (connect, DNS, TLS, timeout).
    #[error("{reference}: registry {registry} unreachable ({})", class.as_str())]
    Unreachable {
        /// The reference being resolved.
        reference: String,
        /// `oci://HOST[:PORT]`.
        registry: String,
        /// How the transport failed.
        class: ErrorClass,
    },
    /// The registry answered with a status that is not a success.
    #[error(
        "{reference}: registry answered {status} to {what}{}",
        detail_suffix(detail)
    )]
    Status {
        /// The reference.
        reference: String,
        /// What was asked (e.g. `GET /v2/ns/name/tags/list`).
        what: String,
        /// The HTTP status.
        status: u16,
        /// The registry's error message, if any.
        detail: String,
    },
    /// The registry's answer is not what the distribution API promises.
    #[error("{reference}: unexpected answer from the registry: {reason}")]
    Protocol {
        /// The reference.
        reference: String,
        /// What is wrong with the answer.
        reason: String,
    },
    /// The repository does not exist or has no versions.
    #[error("{reference}: no such plugin in the registry")]
    UnknownRepository {
        /// The reference.
        reference: String,
    },
    /// The tag does not exist.
    #[error("{reference}: version {version} is not in the registry")]
    UnknownTag {
        /// The reference.
        reference: String,
        /// The version (tag) asked for.
        version: String,
    },
    /// No published version satisfies the requirement.
    #[error("{reference}: no version satisfies {requirement}; available: {available}")]
    NoMatchingVersion {
        /// The reference.
        reference: String,
        /// The requirement.
        requirement: String,
        /// The published versions, or `none`.
        available: String,
    },
    /// The artifact is not a relhost Wasm OCI artifact.
    #[error("{reference}: not a Wasm plugin artifact: {reason}")]
    NotWasmArtifact {
        /// The reference.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// The blob's bytes do not hash to the digest they were fetched by.
    #[error(
        "{reference}: blob {expected} was tampered with: its content hashes to sha256:{actual}"
    )]
    Tampered {
        /// The reference.
        reference: String,
        /// The digest the manifest (or lock) names.
        expected: String,
        /// What the bytes hash to (hex).
        actual: String,
    },
    /// The registry serves other content than the lock file recorded.
    #[error(
        "{reference}: {lock} records sha256:{locked} for version {version}, but the registry now serves {served}; refusing it (re-lock without --locked if the change is intended)"
    )]
    LockMismatch {
        /// The reference.
        reference: String,
        /// The lock file.
        lock: String,
        /// The version.
        version: String,
        /// The digest in the lock file (hex).
        locked: String,
        /// The digest the registry serves.
        served: String,
    },
    /// `--locked` was given and the lock file would change.
    #[error("{reference}: --locked, but {lock} would change: {change}")]
    LockWouldChange {
        /// The reference.
        reference: String,
        /// The lock file.
        lock: String,
        /// What would change.
        change: String,
    },
    /// A data layer that does not unpack as one (a path leaving its
    /// directory, a link, too many bytes).
    #[error("data layer {digest}: {reason}")]
    BadDataLayer {
        /// The layer's digest.
        digest: String,
        /// What is wrong.
        reason: String,
    },
    /// The lock file cannot be read or parsed.
    #[error("lock file {}: {reason}", path.display())]
    BadLockFile {
        /// The file.
        path: PathBuf,
        /// What is wrong (with line and column when parsing).
        reason: String,
    },
    /// The fetched blob is not a WebAssembly component.
    #[error("{reference}: the wasm layer is not a WebAssembly component ({reason})")]
    NotComponent {
        /// The reference.
        reference: String,
        /// What the bytes are instead.
        reason: String,
    },
    /// `push` would replace an existing version.
    #[error(
        "{reference}: version {version} is already published (digest {digest}); pass --force to replace it"
    )]
    AlreadyPublished {
        /// The reference.
        reference: String,
        /// The version.
        version: String,
        /// The published manifest's digest.
        digest: String,
    },
    /// The plugin declares a capability the policy forbids.
    #[error("plugin {plugin}: declares secret {secret}, which --forbid-secret forbids")]
    Forbidden {
        /// The plugin's name or source.
        plugin: String,
        /// The forbidden secret.
        secret: String,
    },
    /// A file (cache entry, lock file, local registry blob) could not be
    /// written atomically; the message carries the whole cause.
    #[error("{0}")]
    Write(String),
    /// The plugin itself is wrong (not a component, other world, refused to load).
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A local file or directory could not be read or written.
    #[error("{}: {action}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The I/O error (in the message, so not a `source`).
        error: std::io::Error,
    },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

impl From<crate::atomic_file::WriteError> for RegistryError {
    fn from(error: crate::atomic_file::WriteError) -> Self {
        RegistryError::Write(chain(&error))
    }
}

/// An error and its sources on one line, `: `-separated.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl RegistryError {
    /// Whether the error means the registry could not be used at all (exit 3)
    /// rather than bad input (exit 2).
    pub fn is_unreachable(&self) -> bool {
        match self {
            RegistryError::Unreachable { .. } => true,
            RegistryError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
        error: std::io::Error,
    ) -> Self {
        RegistryError::Io {
            path: path.into(),
            action,
            error,
        }
    }
}
