//! Atomic report files and their names.
//!
//! A report is written to a temporary file in the target directory, flushed
//! to disk, then renamed over the final name, so a reader never sees a
//! half-written file (even if relhost is killed mid-write).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::Serialize;

/// An error writing a report file.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The output directory could not be created.
    #[error("cannot create report directory {}", path.display())]
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
    #[error("cannot serialize the report")]
    Serialize(#[source] serde_json::Error),
    /// The file name is empty or contains a path separator.
    #[error("invalid report file name {0:?}: expected a plain file name")]
    InvalidFileName(String),
}

/// Writes a report: `value` as pretty JSON to `dir/file_name` atomically,
/// every secret the process knows masked (`crate::redact`); returns the
/// final path. Creates `dir` as needed.
pub fn write_json_atomic(
    dir: &Path,
    file_name: &str,
    value: &impl Serialize,
) -> Result<PathBuf, ReportError> {
    let json = serde_json::to_string_pretty(value).map_err(ReportError::Serialize)?;
    let mut text = crate::redact::json(&json);
    text.push('\n');
    write_bytes_atomic(dir, file_name, text.as_bytes(), None)
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
) -> Result<PathBuf, ReportError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(ReportError::Serialize)?;
    bytes.push(b'\n');
    write_bytes_atomic(dir, file_name, &bytes, mode)
}

/// Checks, before a run, that reports can be written to `dir`: creates it
/// as needed and a file in it, then removes what it made (the directories
/// too, so that a run refused later leaves nothing behind). The error names
/// the directory and the system's reason.
pub fn check_writable(dir: &Path) -> Result<(), ReportError> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    let result = fs::create_dir_all(dir)
        .map_err(|source| ReportError::CreateDir {
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
) -> Result<PathBuf, ReportError> {
    if file_name.is_empty()
        || file_name == "."
        || file_name == ".."
        || file_name.contains(['/', '\\'])
    {
        return Err(ReportError::InvalidFileName(file_name.to_owned()));
    }
    fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
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
        fs::rename(&tmp, &target).map_err(|source| ReportError::Rename {
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

fn write_temp(tmp: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), ReportError> {
    let err = |source| ReportError::Write {
        path: tmp.to_owned(),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut file = options.open(tmp).map_err(err)?;
    #[cfg(unix)]
    if let Some(mode) = mode {
        // The umask may have removed bits at creation; set them exactly.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(err)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    Ok(())
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-27T00:30:12.345Z`.
pub fn rfc3339_millis(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A compact UTC timestamp for file names, `YYYYMMDDTHHMMSSZ`, e.g.
/// `20261127T003012Z` (basic ISO 8601, second precision, sorts by time).
pub fn compact_timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect()
}

/// The seed's report file name: `<kind>-<profile>-<timestamp>.json`, e.g.
/// `load-drill-quick-20261127T003012Z.json` (timestamp as in
/// [`compact_timestamp`]). Characters of `profile` other than letters,
/// digits, `_`, `-` and `.` become `_` (a profile may be given as a path).
pub fn report_file_name(kind: &str, profile: &str, at: SystemTime) -> String {
    let profile: String = profile
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{kind}-{profile}-{}.json", compact_timestamp(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn file_names_and_timestamps() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_739_412_345);
        assert_eq!(rfc3339_millis(t), "2026-11-27T00:30:12.345Z");
        assert_eq!(compact_timestamp(t), "20261127T003012Z");
        assert_eq!(
            report_file_name("load-drill", "quick", t),
            "load-drill-quick-20261127T003012Z.json"
        );
        assert_eq!(
            report_file_name("load-drill", "../my profile", t),
            "load-drill-.._my_profile-20261127T003012Z.json"
        );
    }

    #[test]
    fn writability_is_checked_without_leaving_anything() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b/reports");
        check_writable(&dir).unwrap();
        assert!(!root.path().join("a").exists(), "what it made is removed");
        // A file where a directory should be: refused, with the system's reason.
        std::fs::write(root.path().join("file"), "x").unwrap();
        let err = check_writable(&root.path().join("file/reports")).unwrap_err();
        assert!(matches!(err, ReportError::CreateDir { .. }), "{err}");
        let reason = std::error::Error::source(&err).map(ToString::to_string);
        assert!(
            reason.is_some_and(|r| r.contains("Not a directory")),
            "{err:?}"
        );
    }

    #[test]
    fn atomic_write_creates_dir_and_replaces() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(".output/reliability");
        let p = write_json_atomic(&dir, "r.json", &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(p, dir.join("r.json"));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\n  \"a\": 1\n}\n");
        write_json_atomic(&dir, "r.json", &serde_json::json!({"a": 2})).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["a"], 2);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["r.json"], "no temp files left behind");
    }

    #[test]
    fn failed_serialization_leaves_no_file() {
        struct Bad;
        impl Serialize for Bad {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("boom"))
            }
        }
        let root = tempfile::tempdir().unwrap();
        let err = write_json_atomic(root.path(), "r.json", &Bad).unwrap_err();
        assert!(matches!(err, ReportError::Serialize(_)));
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn rejects_paths_as_file_names() {
        let root = tempfile::tempdir().unwrap();
        for bad in ["", "a/b.json", "..", "."] {
            assert!(matches!(
                write_json_atomic(root.path(), bad, &1),
                Err(ReportError::InvalidFileName(_))
            ));
        }
    }

    #[cfg(unix)]
    #[test]
    fn mode_is_applied() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let p = write_json_atomic_with_mode(root.path(), "pool.json", &1, Some(0o600)).unwrap();
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
