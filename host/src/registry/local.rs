//! The local directory registry: an OCI image layout, for offline use.
//!
//! ```text
//! <dir>/oci-layout              {"imageLayoutVersion": "1.0.0"}
//! <dir>/index.json              an OCI image index; each manifest is tagged with the
//!                               annotation org.opencontainers.image.ref.name = "NS/NAME:VERSION"
//! <dir>/blobs/sha256/<hex>      manifests, configs and components, by digest
//! ```
//!
//! The default directory is `~/.relhost/registry` (`--registry-dir`,
//! `RELHOST_REGISTRY_DIR`). Tools that read OCI layouts (`oras`, `skopeo`)
//! can copy from it. Every file is written atomically; two concurrent pushes
//! to the same directory may lose one index update (push again).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::artifact::{Artifact, MANIFEST_MEDIA_TYPE, OciDescriptor, digest_of, parse_digest};
use super::error::RegistryError;
use crate::atomic_file::write_bytes_atomic;

/// The annotation that names a tagged manifest in `index.json`.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `index.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<OciDescriptor>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            schema_version: 2,
            media_type: Some("application/vnd.oci.image.index.v1+json".into()),
            manifests: Vec::new(),
        }
    }
}

/// A local registry directory.
#[derive(Debug, Clone)]
pub struct LocalRegistry {
    dir: PathBuf,
}

impl LocalRegistry {
    /// The registry in `dir` (created on first push).
    pub fn new(dir: impl Into<PathBuf>) -> LocalRegistry {
        LocalRegistry { dir: dir.into() }
    }

    /// The registry's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn index(&self) -> Result<Index, RegistryError> {
        let path = self.dir.join("index.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                RegistryError::io(
                    path,
                    "not an OCI image index",
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(RegistryError::io(path, "cannot read", e)),
        }
    }

    /// The tags of `repository`, as stored.
    pub fn tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        let prefix = format!("{repository}:");
        Ok(self
            .index()?
            .manifests
            .iter()
            .filter_map(|m| m.annotations.get(REF_NAME)?.strip_prefix(&prefix))
            .map(str::to_string)
            .collect())
    }

    /// The manifest bytes and digest of `repository:tag`, if tagged.
    pub fn manifest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<(Vec<u8>, String)>, RegistryError> {
        let name = format!("{repository}:{tag}");
        let index = self.index()?;
        let Some(entry) = index
            .manifests
            .iter()
            .find(|m| m.annotations.get(REF_NAME) == Some(&name))
        else {
            return Ok(None);
        };
        let bytes = self.blob(&entry.digest)?;
        Ok(Some((bytes, entry.digest.clone())))
    }

    /// The bytes stored under `digest` (not verified: the caller verifies).
    pub fn blob(&self, digest: &str) -> Result<Vec<u8>, RegistryError> {
        let path = self.blob_path(digest)?;
        std::fs::read(&path).map_err(|e| RegistryError::io(path, "cannot read blob", e))
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf, RegistryError> {
        let hex = parse_digest(digest).map_err(|reason| {
            RegistryError::io(
                self.dir.join("index.json"),
                "bad digest",
                std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
            )
        })?;
        Ok(self.dir.join("blobs").join("sha256").join(hex))
    }

    fn put_blob(&self, bytes: &[u8]) -> Result<String, RegistryError> {
        let digest = digest_of(bytes);
        let path = self.blob_path(&digest)?;
        if !path.exists() {
            let dir = self.dir.join("blobs").join("sha256");
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            write_bytes_atomic(&dir, &name, bytes, None)?;
        }
        Ok(digest)
    }

    /// Stores an artifact and tags it `repository:tag`; returns the manifest digest.
    pub fn push(
        &self,
        repository: &str,
        tag: &str,
        artifact: &Artifact,
    ) -> Result<String, RegistryError> {
        for (_, bytes) in artifact.blobs() {
            self.put_blob(bytes)?;
        }
        let digest = self.put_blob(&artifact.manifest)?;
        let layout = self.dir.join("oci-layout");
        if !layout.exists() {
            write_bytes_atomic(
                &self.dir,
                "oci-layout",
                br#"{"imageLayoutVersion":"1.0.0"}"#,
                None,
            )?;
        }
        let name = format!("{repository}:{tag}");
        let mut index = self.index()?;
        index
            .manifests
            .retain(|m| m.annotations.get(REF_NAME) != Some(&name));
        index.manifests.push(OciDescriptor {
            media_type: MANIFEST_MEDIA_TYPE.into(),
            digest: digest.clone(),
            size: artifact.manifest.len() as u64,
            annotations: BTreeMap::from([(REF_NAME.to_string(), name)]),
        });
        let mut bytes = serde_json::to_vec_pretty(&index).unwrap_or_default();
        bytes.push(b'\n');
        write_bytes_atomic(&self.dir, "index.json", &bytes, None)?;
        Ok(digest)
    }
}
