//! One way to read every policy document: a file given by the operator, or
//! the copy built into the binary from `policies/`.

use std::path::Path;

use super::error::{Origin, PolicyError};

/// A strict JSON policy document with a built-in copy. Implementors say
/// how to parse and validate; reading, naming and the fallback to the
/// built-in copy are the same for all.
pub trait PolicyDocument: Sized {
    /// What the document is called in errors, e.g. `canary policy`.
    const KIND: &'static str;
    /// The built-in copy's name (its file under `policies/`, without `.json`).
    const BUILTIN_NAME: &'static str;
    /// The built-in copy's text.
    const BUILTIN_TEXT: &'static str;
    /// What the document is checked against besides itself (the ownership
    /// matrix, for the release gate policy); `()` for most.
    type Context: ?Sized;

    /// Parses and validates `text`; `origin` names it in errors, which
    /// carry the line, column and field.
    fn parse(text: &str, origin: &Origin, context: &Self::Context) -> Result<Self, PolicyError>;

    /// The built-in copy.
    fn builtin(context: &Self::Context) -> Result<Self, PolicyError> {
        Self::parse(Self::BUILTIN_TEXT, &Self::origin_of(None), context)
    }

    /// Where the document comes from: the file when one is given, else the
    /// built-in copy (reports name it so).
    fn origin_of(path: Option<&Path>) -> Origin {
        match path {
            Some(path) => Origin::File(path.to_owned()),
            None => Origin::Builtin {
                kind: Self::KIND,
                name: Self::BUILTIN_NAME.to_owned(),
            },
        }
    }

    /// Reads and validates a file.
    fn load(path: &Path, context: &Self::Context) -> Result<Self, PolicyError> {
        Self::parse(&read(path)?, &Origin::File(path.to_owned()), context)
    }

    /// The file when one is given, else the built-in copy.
    fn file_or_builtin(path: Option<&Path>, context: &Self::Context) -> Result<Self, PolicyError> {
        match path {
            Some(path) => Self::load(path, context),
            None => Self::builtin(context),
        }
    }

    /// The text of the file when one is given, else of the built-in copy.
    fn text_of(path: Option<&Path>) -> Result<String, PolicyError> {
        match path {
            Some(path) => read(path),
            None => Ok(Self::BUILTIN_TEXT.to_owned()),
        }
    }
}

/// Reads a document's text.
pub(crate) fn read(path: &Path) -> Result<String, PolicyError> {
    std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
        path: path.to_owned(),
        source,
    })
}
