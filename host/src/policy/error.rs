//! [`PolicyError`]: what is wrong with a profile or policy, and where.

use std::fmt;
use std::path::PathBuf;

use super::locate::JsonIndex;

/// Where a policy document came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file on disk.
    File(PathBuf),
    /// A document embedded in the binary, e.g. `builtin profile "quick"`.
    Builtin {
        /// What kind of document (`profile`, `SLO baseline`).
        kind: &'static str,
        /// Its name.
        name: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Builtin { kind, name } => write!(f, "builtin {kind} \"{name}\""),
        }
    }
}

/// An error reading or validating a profile or policy document.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The document is malformed or a value is out of range.
    #[error("{}", invalid_message(origin, *position, path, message))]
    Invalid {
        /// The document.
        origin: Origin,
        /// 1-based line and column, when known.
        position: Option<(usize, usize)>,
        /// JSON path of the offending field (`scenarios.chat_stream_http.stages[1].rate`),
        /// empty for the document as a whole.
        path: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// No builtin profile has this name.
    #[error("unknown profile \"{name}\"; valid profiles: {}", valid.join(", "))]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The builtin profile names.
        valid: &'static [&'static str],
    },
    /// A scale factor is not a finite positive number.
    #[error("invalid {which} scale {value}: expected a finite number greater than 0")]
    InvalidScale {
        /// `load`, `concurrency` or `duration`.
        which: &'static str,
        /// The value given.
        value: f64,
    },
}

fn invalid_message(
    origin: &Origin,
    position: Option<(usize, usize)>,
    path: &str,
    message: &str,
) -> String {
    let mut s = origin.to_string();
    if let Some((line, column)) = position {
        s.push_str(&format!(": line {line}, column {column}"));
    }
    if !path.is_empty() {
        s.push_str(": ");
        s.push_str(path);
    }
    s.push_str(": ");
    s.push_str(message);
    s
}

/// Builds errors for one document: knows its origin and text.
pub(crate) struct Doc<'a> {
    pub(crate) origin: &'a Origin,
    pub(crate) index: JsonIndex<'a>,
}

impl<'a> Doc<'a> {
    pub(crate) fn new(origin: &'a Origin, text: &'a str) -> Self {
        Doc {
            origin,
            index: JsonIndex::new(text),
        }
    }

    /// A semantic error at `path`, located through the index.
    pub(crate) fn invalid(&self, path: &str, message: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            origin: self.origin.clone(),
            position: self.index.position_of(path),
            path: path.to_owned(),
            message: message.into(),
        }
    }

    /// Parses `text` as `T`, with errors located. The document must be a
    /// JSON object (serde would otherwise accept a struct as an array).
    pub(crate) fn parse<T: serde::de::DeserializeOwned>(
        &self,
        text: &str,
    ) -> Result<T, PolicyError> {
        let trimmed = text.trim_start();
        if !trimmed.is_empty() && !trimmed.starts_with('{') {
            let offset = text.len() - trimmed.len();
            let before = &text[..offset];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |p| p + 1) + 1;
            return Err(PolicyError::Invalid {
                origin: self.origin.clone(),
                position: Some((line, column)),
                path: String::new(),
                message: "expected a JSON object (`{ ... }`) at the top level".to_owned(),
            });
        }
        serde_json::from_str(text).map_err(|e| self.serde_error(&e))
    }

    /// A serde_json error, with the path of the innermost field at its position.
    fn serde_error(&self, err: &serde_json::Error) -> PolicyError {
        let (line, column) = (err.line(), err.column());
        let full = err.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        let (position, path) = if line == 0 {
            (None, String::new())
        } else {
            let path = if err.is_syntax() || err.is_eof() {
                String::new()
            } else {
                self.index.path_at(line, column).to_owned()
            };
            (Some((line, column)), path)
        };
        PolicyError::Invalid {
            origin: self.origin.clone(),
            position,
            path,
            message,
        }
    }
}
