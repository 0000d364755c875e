//! Files written whole: a temporary file in the target directory, flushed
//! to disk, then renamed over the final name, so that a reader never sees a
//! half-written file (even if relhost is killed mid-write). Reports, lock
//! files, pool files and cached plugins are all written so.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// An error writing a file.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The output directory could not be created.
    #[error("cannot create directory {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The temporary file could not be created, written or flushed.
    #[error("cannot write {}", path.display())]
    Write {
        /// The temporary file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The temporary file could not be renamed to its final name.
    #[error("cannot rename {} to {}", from.display(), to.display())]
    Rename {
        /// The temporary file.
        from: PathBuf,
        /// The final name.
        to: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The value could not be serialized.
    #[error("cannot serialize the document")]
    Serialize(#[source] serde_json::Error),
    /// The file name is empty or contains a path separator.
    #[error("invalid file name {0:?}: expected a plain file name")]
    InvalidFileName(String),
}

/// Writes `value` as pretty JSON to `dir/file_name` atomically, as it is
/// (for files meant to hold credentials, such as a pool file), with unix
/// permission bits for the new file (e.g. `Some(0o600)`); the mode is
/// ignored on other platforms.
pub fn write_json_atomic_with_mode(
    dir: &Path,
    file_name: &str,
    value: &impl Serialize,
    mode: Option<u32>,
) -> Result<PathBuf, WriteError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(WriteError::Serialize)?;
    bytes.push(b'\n');
    write_bytes_atomic(dir, file_name, &bytes, mode)
}

/// Checks, before a run, that reports can be written to `dir`: creates it
/// as needed and a file in it, then removes what it made (the directories
/// too, so that a run refused later leaves nothing behind). The error names
/// the directory and the system's reason.
pub fn check_writable(dir: &Path) -> Result<(), WriteError> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    let result = fs::create_dir_all(dir)
        .map_err(|source| WriteError::CreateDir {
            path: dir.to_owned(),
            source,
        })
        .and_then(|()| {
            let probe = dir.join(format!(".relhost-write-check.{}.tmp", std::process::id()));
            write_temp(&probe, b"", None)?;
            let _ = fs::remove_file(&probe);
            Ok(())
        });
    // Innermost first; a directory something else wrote into stays.
    for made in missing {
        let _ = fs::remove_dir(made);
    }
    result
}

/// Writes `bytes` to `dir/file_name` atomically (temp file in the same
/// directory, fsync, rename, fsync of the directory) and returns the final
/// path.
pub fn write_bytes_atomic(
    dir: &Path,
    file_name: &str,
    bytes: &[u8],
    mode: Option<u32>,
) -> Result<PathBuf, WriteError> {
    if file_name.is_empty()
        || file_name == "."
        || file_name == ".."
        || file_name.contains(['/', '\\'])
    {
        return Err(WriteError::InvalidFileName(file_name.to_owned()));
    }
    fs::create_dir_all(dir).map_err(|source| WriteError::CreateDir {
        path: dir.to_owned(),
        source,
    })?;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let target = dir.join(file_name);
    let result = write_temp(&tmp, bytes, mode).and_then(|()| {
        fs::rename(&tmp, &target).map_err(|source| WriteError::Rename {
            from: tmp.clone(),
            to: target.clone(),
            source,
        })
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    // Make the rename itself durable; best effort (not every platform or
    // file system supports syncing a directory).
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(target)
}

fn write_temp(tmp: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), WriteError> {
    let err = |source| WriteError::Write {
        path: tmp.to_owned(),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    if let Some(mode) = mode {
        options.mode(mode);
    }
    let mut file = options.open(tmp).map_err(err)?;
    if let Some(mode) = mode {
        // The umask may have removed bits at creation; set them exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(err)?;
    }
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writability_is_checked_without_leaving_anything() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b/reports");
        check_writable(&dir).unwrap();
        assert!(!root.path().join("a").exists(), "what it made is removed");
        // A file where a directory should be: refused, with the system's reason.
        std::fs::write(root.path().join("file"), "x").unwrap();
        let err = check_writable(&root.path().join("file/reports")).unwrap_err();
        assert!(matches!(err, WriteError::CreateDir { .. }), "{err}");
        let reason = std::error::Error::source(&err).map(ToString::to_string);
        assert!(
            reason.is_some_and(|r| r.contains("Not a directory")),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_paths_as_file_names() {
        let root = tempfile::tempdir().unwrap();
        for bad in ["", "a/b.json", "..", "."] {
            assert!(matches!(
                write_json_atomic_with_mode(root.path(), bad, &1, None),
                Err(WriteError::InvalidFileName(_))
            ));
        }
    }

    #[test]
    fn mode_is_applied() {
        let root = tempfile::tempdir().unwrap();
        let p = write_json_atomic_with_mode(root.path(), "pool.json", &1, Some(0o600)).unwrap();
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
