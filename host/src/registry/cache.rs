//! The content-addressed cache of pulled components and data layers:
//! `<cache dir>/sha256/<hex>.wasm`, `<cache dir>/sha256/<hex>.tar`, and
//! each data layer unpacked in `<cache dir>/data/<hex>/`.
//!
//! An entry is only ever written whole (temp file, fsync, rename) and only
//! after its bytes were checked against the digest; every read checks the
//! digest again, and a corrupt entry is dropped and fetched anew. A data
//! layer is unpacked into a fresh directory renamed into place.

use std::path::{Path, PathBuf};

use super::artifact::{is_sha256_hex, sha256_hex};
use super::error::RegistryError;
use crate::atomic_file::write_bytes_atomic;

/// A cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// The cache rooted at `root` (entries live in `root/sha256/`).
    pub fn new(root: impl Into<PathBuf>) -> Cache {
        Cache { root: root.into() }
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self) -> PathBuf {
        self.root.join("sha256")
    }

    /// Where the component with this sha256 (hex) lives.
    pub fn path(&self, hex: &str) -> PathBuf {
        self.dir().join(format!("{hex}.wasm"))
    }

    /// The path of a cached, verified component; `None` when absent. A
    /// corrupt entry (its bytes do not hash to its name) is removed.
    pub fn get(&self, hex: &str) -> Result<Option<PathBuf>, RegistryError> {
        self.verified(hex, "wasm")
    }

    /// Stores `bytes`, which must hash to `hex`, and returns the entry's path.
    pub fn put(&self, hex: &str, bytes: &[u8]) -> Result<PathBuf, RegistryError> {
        self.store(hex, "wasm", bytes)
    }

    /// The unpacked directory of a cached data layer whose tar is verified
    /// (and unpacked again when its directory is missing); `None` when the
    /// tar is absent or corrupt.
    pub fn get_data(&self, hex: &str) -> Result<Option<PathBuf>, RegistryError> {
        match self.verified(hex, "tar")? {
            Some(tar) => self.unpacked(hex, &tar).map(Some),
            None => Ok(None),
        }
    }

    /// Stores a data layer's tar, which must hash to `hex`, and returns the
    /// directory it is unpacked in.
    pub fn put_data(&self, hex: &str, bytes: &[u8]) -> Result<PathBuf, RegistryError> {
        let tar = self.store(hex, "tar", bytes)?;
        self.unpacked(hex, &tar)
    }

    /// `data/<hex>`, unpacked from `tar` when missing.
    fn unpacked(&self, hex: &str, tar: &Path) -> Result<PathBuf, RegistryError> {
        let dir = self.root.join("data").join(hex);
        if dir.is_dir() {
            return Ok(dir);
        }
        let bytes = std::fs::read(tar).map_err(|e| RegistryError::io(tar, "cannot read", e))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let partial = self
            .root
            .join("data")
            .join(format!("{hex}.partial-{}-{nanos}", std::process::id()));
        let unpacked = super::data::unpack(&bytes, &partial).map_err(|reason| {
            let _ = std::fs::remove_dir_all(&partial);
            RegistryError::BadDataLayer {
                digest: format!("sha256:{hex}"),
                reason,
            }
        });
        unpacked?;
        if let Err(e) = std::fs::rename(&partial, &dir) {
            let _ = std::fs::remove_dir_all(&partial);
            // Another run may have unpacked it first; anything else fails.
            if !dir.is_dir() {
                return Err(RegistryError::io(
                    dir,
                    "cannot unpack the data layer into",
                    e,
                ));
            }
        }
        Ok(dir)
    }

    fn verified(&self, hex: &str, extension: &str) -> Result<Option<PathBuf>, RegistryError> {
        if !is_sha256_hex(hex) {
            return Ok(None);
        }
        let path = self.dir().join(format!("{hex}.{extension}"));
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RegistryError::io(path, "cannot read the cached plugin", e)),
        };
        if sha256_hex(&bytes) == hex {
            Ok(Some(path))
        } else {
            let _ = std::fs::remove_file(&path);
            Ok(None)
        }
    }

    fn store(&self, hex: &str, extension: &str, bytes: &[u8]) -> Result<PathBuf, RegistryError> {
        let actual = sha256_hex(bytes);
        if actual != hex {
            return Err(RegistryError::Tampered {
                reference: "cache".into(),
                expected: format!("sha256:{hex}"),
                actual,
            });
        }
        Ok(write_bytes_atomic(
            &self.dir(),
            &format!("{hex}.{extension}"),
            bytes,
            None,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_verified_and_written_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::new(dir.path());
        let hex = sha256_hex(b"component");
        assert_eq!(cache.get(&hex).expect("get"), None);
        let path = cache.put(&hex, b"component").expect("put");
        assert_eq!(path, dir.path().join("sha256").join(format!("{hex}.wasm")));
        assert_eq!(cache.get(&hex).expect("get"), Some(path.clone()));

        // Bytes that do not match their digest are never stored.
        let other = sha256_hex(b"other");
        assert!(cache.put(&other, b"tampered").is_err());
        assert!(!cache.path(&other).exists());

        // A corrupted entry is dropped, not served.
        std::fs::write(&path, b"corrupted").expect("corrupt");
        assert_eq!(cache.get(&hex).expect("get"), None);
        assert!(!path.exists());

        // No temporary file is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("sha256"))
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert_eq!(cache.get("../x").expect("get"), None);
    }

    #[test]
    fn data_layers_are_verified_and_unpacked_once() {
        let source = tempfile::tempdir().expect("tempdir");
        std::fs::write(source.path().join("a.json"), b"{}").expect("write");
        let tar = super::super::data::pack(source.path()).expect("pack");
        let hex = sha256_hex(&tar);
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::new(dir.path());
        assert_eq!(cache.get_data(&hex).expect("get"), None);
        let unpacked = cache.put_data(&hex, &tar).expect("put");
        assert_eq!(std::fs::read(unpacked.join("a.json")).expect("read"), b"{}");
        assert_eq!(cache.get_data(&hex).expect("get"), Some(unpacked.clone()));
        // Unpacked again from the verified tar when the directory is gone.
        std::fs::remove_dir_all(&unpacked).expect("remove");
        assert_eq!(cache.get_data(&hex).expect("get"), Some(unpacked.clone()));
        assert!(unpacked.join("a.json").exists());
        // A corrupt tar is dropped, not served.
        std::fs::write(dir.path().join("sha256").join(format!("{hex}.tar")), b"x")
            .expect("corrupt");
        assert_eq!(cache.get_data(&hex).expect("get"), None);
        assert!(
            cache.put_data(&sha256_hex(b"y"), &tar).is_err(),
            "wrong digest"
        );
    }
}
