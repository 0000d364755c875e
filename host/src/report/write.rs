//! Report files: written whole ([`crate::atomic_file`]) with every known
//! secret masked, and their names and timestamps.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::atomic_file::{WriteError, write_bytes_atomic};

/// Writes a report: `value` as pretty JSON to `dir/file_name` atomically,
/// every secret the process knows masked (`crate::redact`); returns the
/// final path. Creates `dir` as needed.
pub fn write_json_atomic(
    dir: &Path,
    file_name: &str,
    value: &impl Serialize,
) -> Result<PathBuf, WriteError> {
    let json = serde_json::to_string_pretty(value).map_err(WriteError::Serialize)?;
    let mut text = crate::redact::json(&json);
    text.push('\n');
    write_bytes_atomic(dir, file_name, text.as_bytes(), None)
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-27T00:30:12.345Z`.
pub fn rfc3339_millis(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// RFC 3339 UTC with microseconds, e.g. `2026-11-27T00:30:12.345678Z`.
pub fn rfc3339_micros(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// How long after `from` `to` came, in ms to the µs (negative: before).
pub fn millis_between(from: SystemTime, to: SystemTime) -> f64 {
    let ms = match to.duration_since(from) {
        Ok(after) => after.as_secs_f64() * 1e3,
        Err(before) => -before.duration().as_secs_f64() * 1e3,
    };
    (ms * 1e3).round() / 1e3
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
    format!(
        "{kind}-{}-{}.json",
        file_name_safe(profile),
        compact_timestamp(at)
    )
}

/// `text` with every character but letters, digits, `_`, `-` and `.` as
/// `_`: a part of a file name (or a ConfigMap key) whatever `text` held.
pub fn file_name_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
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
        assert!(matches!(err, WriteError::Serialize(_)));
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }
}
