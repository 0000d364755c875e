//! The pool file: the seed's JSON array `[{"authToken": ..., "threadId": ...}]`,
//! read strictly and written atomically with mode 0600.
//!
//! Reading checks the shape by hand (not through serde's typed errors) so
//! that every error names the origin, the entry index and the field, and
//! never quotes a value from the input: a token must not leak into a log
//! because its file was malformed. Fields other than `authToken` and
//! `threadId` are ignored (generators may add some, e.g. an email).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::atomic_file::{WriteError, write_json_atomic_with_mode};

/// The environment variable holding an inline pool, used as the origin of
/// its errors.
pub const POOL_JSON_ENV: &str = "RELIABILITY_CHAT_AUTH_POOL_JSON";

/// Unix permission bits of a written pool file: owner read/write only.
pub const POOL_FILE_MODE: u32 = 0o600;

/// One pool entry: a bearer token and a thread that belongs to its user.
/// `Debug` never prints the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolEntry {
    /// The bearer token (`authToken` in the file). A secret.
    pub auth_token: String,
    /// The thread id (`threadId` in the file).
    pub thread_id: String,
}

impl fmt::Debug for PoolEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolEntry")
            .field("auth_token", &"<redacted>")
            .field("thread_id", &self.thread_id)
            .finish()
    }
}

/// A pool file or inline pool that cannot be used, or a pool file that
/// cannot be written. Messages name the origin (a path or
/// [`POOL_JSON_ENV`]), the entry index (0-based, as in `$[3]`) and the
/// field; they never contain a value from the input.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The file does not exist.
    #[error("chat auth pool file {} does not exist", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but cannot be read.
    #[error("cannot read chat auth pool file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The text is not JSON (or not UTF-8).
    #[error("{origin}: not valid JSON ({what} at line {line}, column {column})")]
    NotJson {
        /// The file or variable.
        origin: String,
        /// The kind of problem: `a syntax error`, `unexpected end of input`, ...
        what: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The top-level value is not an array.
    #[error(
        "{origin}: expected a JSON array of {{\"authToken\", \"threadId\"}} objects, found {found}"
    )]
    NotArray {
        /// The file or variable.
        origin: String,
        /// The JSON type found.
        found: &'static str,
    },
    /// The array has no entries.
    #[error(
        "{origin}: the pool is empty; expected at least one {{\"authToken\", \"threadId\"}} entry"
    )]
    Empty {
        /// The file or variable.
        origin: String,
    },
    /// An entry is not an object.
    #[error(
        "{origin}: entry {index} ($[{index}]): expected an object with authToken and threadId, found {found}"
    )]
    EntryNotObject {
        /// The file or variable.
        origin: String,
        /// 0-based index of the entry.
        index: usize,
        /// The JSON type found.
        found: &'static str,
    },
    /// An entry lacks a field.
    #[error("{origin}: entry {index} ($[{index}]): field {field} is missing")]
    MissingField {
        /// The file or variable.
        origin: String,
        /// 0-based index of the entry.
        index: usize,
        /// `authToken` or `threadId`.
        field: &'static str,
    },
    /// A field is not a string.
    #[error("{origin}: entry {index} ($[{index}]): field {field} must be a string, found {found}")]
    FieldNotString {
        /// The file or variable.
        origin: String,
        /// 0-based index of the entry.
        index: usize,
        /// `authToken` or `threadId`.
        field: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A field is empty or only whitespace.
    #[error("{origin}: entry {index} ($[{index}]): field {field} is empty")]
    EmptyField {
        /// The file or variable.
        origin: String,
        /// 0-based index of the entry.
        index: usize,
        /// `authToken` or `threadId`.
        field: &'static str,
    },
    /// A token that cannot be sent as `Authorization: Bearer <token>`.
    #[error(
        "{origin}: entry {index} ($[{index}]): field authToken contains whitespace or characters not allowed in an HTTP header"
    )]
    BadToken {
        /// The file or variable.
        origin: String,
        /// 0-based index of the entry.
        index: usize,
    },
    /// The pool file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Reads and checks a pool file (see [`parse_pool_json`]).
pub fn load_pool_file(path: &Path) -> Result<Vec<PoolEntry>, PoolError> {
    let bytes = std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            PoolError::Missing {
                path: path.to_owned(),
            }
        } else {
            PoolError::Read {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    let origin = path.display().to_string();
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        PoolError::NotJson {
            origin: origin.clone(),
            what: "invalid UTF-8",
            line,
            column,
        }
    })?;
    parse_pool_json(text, &origin)
}

/// Parses a pool from JSON text; `origin` names where it came from in
/// errors (a path, or [`POOL_JSON_ENV`]). Strict: the text must be a
/// non-empty array of objects, each with non-empty string `authToken` and
/// `threadId`; the token must be sendable in an HTTP header.
pub fn parse_pool_json(text: &str, origin: &str) -> Result<Vec<PoolEntry>, PoolError> {
    let value: Value = serde_json::from_str(text).map_err(|e| PoolError::NotJson {
        origin: origin.to_owned(),
        what: match e.classify() {
            serde_json::error::Category::Eof => "unexpected end of input",
            serde_json::error::Category::Io => "a read error",
            serde_json::error::Category::Syntax | serde_json::error::Category::Data => {
                "a syntax error"
            }
        },
        line: e.line(),
        column: e.column(),
    })?;
    let Value::Array(items) = value else {
        return Err(PoolError::NotArray {
            origin: origin.to_owned(),
            found: type_name(&value),
        });
    };
    if items.is_empty() {
        return Err(PoolError::Empty {
            origin: origin.to_owned(),
        });
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| entry(item, index, origin))
        .collect()
}

fn entry(item: Value, index: usize, origin: &str) -> Result<PoolEntry, PoolError> {
    let Value::Object(mut object) = item else {
        return Err(PoolError::EntryNotObject {
            origin: origin.to_owned(),
            index,
            found: type_name(&item),
        });
    };
    let mut field = |field: &'static str| -> Result<String, PoolError> {
        match object.remove(field) {
            None => Err(PoolError::MissingField {
                origin: origin.to_owned(),
                index,
                field,
            }),
            Some(Value::String(s)) if s.trim().is_empty() => Err(PoolError::EmptyField {
                origin: origin.to_owned(),
                index,
                field,
            }),
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(PoolError::FieldNotString {
                origin: origin.to_owned(),
                index,
                field,
                found: type_name(&other),
            }),
        }
    };
    let auth_token = field("authToken")?;
    let thread_id = field("threadId")?;
    if !auth_token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(PoolError::BadToken {
            origin: origin.to_owned(),
            index,
        });
    }
    Ok(PoolEntry {
        auth_token,
        thread_id,
    })
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The seed's pool file name:
/// `chat-auth-pool-<prefix>-<seed>-<start>-<count>.json`.
pub fn pool_file_name(prefix: &str, seed: &str, start: u32, count: u32) -> String {
    format!("chat-auth-pool-{prefix}-{seed}-{start}-{count}.json")
}

/// Writes `entries` as `dir/file_name` atomically (temp file, fsync,
/// rename) with mode 0600, creating `dir` as needed; returns the path.
pub fn write_pool_file(
    dir: &Path,
    file_name: &str,
    entries: &[PoolEntry],
) -> Result<PathBuf, PoolError> {
    Ok(write_json_atomic_with_mode(
        dir,
        file_name,
        &entries,
        Some(POOL_FILE_MODE),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "tok-SECRET-9f8e7d";

    fn err(text: &str) -> String {
        parse_pool_json(text, "pool.json").unwrap_err().to_string()
    }

    #[test]
    fn parses_the_seed_shape_and_ignores_other_fields() {
        let pool = parse_pool_json(
            r#"[{"authToken":"a1","threadId":"t1"},{"authToken":"a2","threadId":"t2","email":"x@y"}]"#,
            "pool.json",
        )
        .unwrap();
        assert_eq!(pool.len(), 2);
        assert_eq!(pool[1].auth_token, "a2");
        assert_eq!(pool[1].thread_id, "t2");
    }

    #[test]
    fn each_bad_shape_names_origin_entry_and_field() {
        let cases = [
            ("{", "pool.json: not valid JSON (unexpected end of input"),
            (
                "[1,]",
                "pool.json: not valid JSON (a syntax error at line 1",
            ),
            (r#"{"authToken":"a"}"#, "expected a JSON array"),
            ("[]", "pool.json: the pool is empty"),
            (
                r#"[{"authToken":"a","threadId":"t"}, 7]"#,
                "entry 1 ($[1]): expected an object with authToken and threadId, found a number",
            ),
            (
                r#"[{"threadId":"t"}]"#,
                "entry 0 ($[0]): field authToken is missing",
            ),
            (
                r#"[{"authToken":"a"}]"#,
                "entry 0 ($[0]): field threadId is missing",
            ),
            (
                r#"[{"authToken":"","threadId":"t"}]"#,
                "field authToken is empty",
            ),
            (
                r#"[{"authToken":"a","threadId":"  "}]"#,
                "field threadId is empty",
            ),
            (
                r#"[{"authToken":"a","threadId":3}]"#,
                "field threadId must be a string, found a number",
            ),
            (
                r#"[{"authToken":"a b","threadId":"t"}]"#,
                "field authToken contains whitespace",
            ),
        ];
        for (text, expected) in cases {
            let message = err(text);
            assert!(message.contains(expected), "{text}: {message}");
            assert!(message.starts_with("pool.json: "), "{text}: {message}");
        }
    }

    #[test]
    fn no_error_message_contains_a_token() {
        let inputs = [
            format!(r#"[{{"authToken":"{SECRET}"}}]"#),
            format!(r#"[{{"authToken":"{SECRET}","threadId":""}}]"#),
            format!(r#"[{{"authToken":"{SECRET}","threadId":7}}]"#),
            format!(r#"[{{"authToken":"{SECRET} x","threadId":"t"}}]"#),
            format!(r#"[{{"authToken":"{SECRET}","threadId":"t"}}, "{SECRET}"]"#),
            format!(r#"[{{"authToken":"{SECRET}","threadId":"t"}} "{SECRET}"]"#),
            format!(r#"{{"authToken":"{SECRET}","threadId":"t"}}"#),
            format!(r#"[{{"authToken":{SECRET},"threadId":"t"}}]"#),
            format!(r#"[{{"authToken":["{SECRET}"],"threadId":"t"}}]"#),
        ];
        for text in &inputs {
            let e = parse_pool_json(text, POOL_JSON_ENV).unwrap_err();
            let message = e.to_string();
            assert!(message.starts_with(POOL_JSON_ENV), "{message}");
            assert!(!message.contains("SECRET"), "token leaked: {message}");
            assert!(!format!("{e:?}").contains("SECRET"), "token leaked: {e:?}");
        }
    }

    #[test]
    fn debug_redacts_the_token() {
        let entry = PoolEntry {
            auth_token: SECRET.into(),
            thread_id: "t1".into(),
        };
        let debug = format!("{entry:?}");
        assert!(!debug.contains(SECRET) && debug.contains("t1"), "{debug}");
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        let e = load_pool_file(&missing).unwrap_err();
        assert!(matches!(e, PoolError::Missing { .. }));
        assert!(e.to_string().contains("nope.json"), "{e}");

        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, b"[\n{\"authToken\": \"\xff\"}]").unwrap();
        let e = load_pool_file(&bad).unwrap_err().to_string();
        assert!(
            e.contains("bad.json") && e.contains("invalid UTF-8 at line 2"),
            "{e}"
        );
    }

    #[test]
    fn file_name_matches_the_seed() {
        assert_eq!(
            pool_file_name("loadtestmulti", "20260219a", 1, 40),
            "chat-auth-pool-loadtestmulti-20260219a-1-40.json"
        );
    }

    #[test]
    fn written_file_round_trips_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let entries = vec![PoolEntry {
            auth_token: "a1".into(),
            thread_id: "t1".into(),
        }];
        let path = write_pool_file(&dir.path().join("out"), "p.json", &entries).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"authToken\": \"a1\""), "{text}");
        assert_eq!(load_pool_file(&path).unwrap(), entries);
    }
}
