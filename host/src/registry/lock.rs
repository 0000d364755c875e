//! `relhost.lock`: the exact plugin versions and digests a project runs.
//!
//! ```json
//! {
//!   "version": 1,
//!   "plugins": [
//!     {
//!       "name": "ns/whatsapp_webhook",
//!       "registry": "oci://registry.example.com",
//!       "requirement": "^1.2",
//!       "version": "1.2.7",
//!       "sha256": "<64 hex digits of the wasm layer>",
//!       "data": { "webhooks": "<64 hex digits of its tar layer>" }
//!     }
//!   ]
//! }
//! ```
//!
//! An entry is keyed by registry and name. JSON, so no new dependency; the
//! file is sorted and pretty-printed so that diffs stay readable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use semver::Version;
use serde::{Deserialize, Serialize};

use super::artifact::is_sha256_hex;
use super::error::RegistryError;
use crate::atomic_file::write_bytes_atomic;

/// The lock file format version.
const FORMAT: u32 = 1;

/// One locked plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// The repository, `NS/NAME`.
    pub name: String,
    /// `local` or `oci://HOST[:PORT]`.
    pub registry: String,
    /// The requirement it was resolved from (`^1.2`, `=1.2.3`, `*`).
    pub requirement: String,
    /// The resolved version.
    pub version: Version,
    /// Lowercase hex sha256 of the wasm layer.
    pub sha256: String,
    /// The data layers, by directory name: lowercase hex sha256 of each tar.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

/// The whole lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    /// Format version (1).
    pub version: u32,
    /// Locked plugins, sorted by registry and name.
    pub plugins: Vec<LockEntry>,
}

impl Default for LockFile {
    fn default() -> Self {
        LockFile {
            version: FORMAT,
            plugins: Vec::new(),
        }
    }
}

impl LockFile {
    /// Reads a lock file; a missing file is an empty lock.
    pub fn load(path: &Path) -> Result<LockFile, RegistryError> {
        let bad = |reason: String| RegistryError::BadLockFile {
            path: path.to_path_buf(),
            reason,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockFile::default()),
            Err(e) => return Err(bad(format!("cannot read it: {e}"))),
        };
        let lock: LockFile = serde_json::from_str(&text)
            .map_err(|e| bad(format!("line {}, column {}: {e}", e.line(), e.column())))?;
        if lock.version != FORMAT {
            return Err(bad(format!(
                "version {} is not supported (expected {FORMAT})",
                lock.version
            )));
        }
        for (i, entry) in lock.plugins.iter().enumerate() {
            if !is_sha256_hex(&entry.sha256) {
                return Err(bad(format!(
                    "plugins[{i}].sha256: expected 64 lowercase hex digits"
                )));
            }
            if let Some(name) = entry
                .data
                .iter()
                .find(|(_, hex)| !is_sha256_hex(hex))
                .map(|(n, _)| n)
            {
                return Err(bad(format!(
                    "plugins[{i}].data.{name}: expected 64 lowercase hex digits"
                )));
            }
        }
        Ok(lock)
    }

    /// The entry of `name` in `registry`.
    pub fn find(&self, registry: &str, name: &str) -> Option<&LockEntry> {
        self.plugins
            .iter()
            .find(|e| e.registry == registry && e.name == name)
    }

    /// Adds or replaces the entry with the same registry and name.
    pub fn upsert(&mut self, entry: LockEntry) {
        self.plugins
            .retain(|e| !(e.registry == entry.registry && e.name == entry.name));
        self.plugins.push(entry);
        self.plugins.sort_by(|a, b| {
            (a.registry.as_str(), a.name.as_str()).cmp(&(b.registry.as_str(), b.name.as_str()))
        });
    }

    /// Writes the lock file atomically.
    pub fn save(&self, path: &Path) -> Result<(), RegistryError> {
        let (dir, file) = split(path)?;
        let mut bytes =
            serde_json::to_vec_pretty(self).map_err(|e| RegistryError::BadLockFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        bytes.push(b'\n');
        write_bytes_atomic(&dir, &file, &bytes, None)?;
        Ok(())
    }
}

fn split(path: &Path) -> Result<(PathBuf, String), RegistryError> {
    let file =
        path.file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| RegistryError::BadLockFile {
                path: path.to_path_buf(),
                reason: "not a file name".into(),
            })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, file.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, version: &str) -> LockEntry {
        LockEntry {
            name: name.into(),
            registry: "oci://127.0.0.1:5000".into(),
            requirement: "^1.2".into(),
            version: Version::parse(version).expect("version"),
            sha256: "ab".repeat(32),
            data: BTreeMap::new(),
        }
    }

    #[test]
    fn round_trips_and_replaces_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("relhost.lock");
        assert_eq!(
            LockFile::load(&path).expect("missing is empty"),
            LockFile::default()
        );
        let mut lock = LockFile::default();
        lock.upsert(entry("ns/b", "1.2.0"));
        lock.upsert(entry("ns/a", "1.2.0"));
        lock.upsert(entry("ns/b", "1.3.0"));
        lock.save(&path).expect("save");
        let read = LockFile::load(&path).expect("load");
        assert_eq!(read, lock);
        assert_eq!(read.plugins.len(), 2);
        assert_eq!(read.plugins[0].name, "ns/a");
        let b = read.find("oci://127.0.0.1:5000", "ns/b").expect("b");
        assert_eq!(b.version, Version::new(1, 3, 0));
        assert!(read.find("local", "ns/b").is_none());
    }

    #[test]
    fn refuses_malformed_lock_files_with_the_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("relhost.lock");
        std::fs::write(&path, "{\"version\": 1, \"plugins\": [{\"name\": 1}]}").expect("write");
        let error = LockFile::load(&path).expect_err("bad").to_string();
        assert!(
            error.contains("relhost.lock") && error.contains("line 1"),
            "{error}"
        );
        let mut bad = LockFile::default();
        bad.plugins.push(LockEntry {
            sha256: "XYZ".into(),
            ..entry("ns/a", "1.0.0")
        });
        std::fs::write(&path, serde_json::to_vec(&bad).expect("json")).expect("write");
        let error = LockFile::load(&path).expect_err("bad sha").to_string();
        assert!(error.contains("plugins[0].sha256"), "{error}");
    }
}
