//! Helpers shared by the gate policies: reading a document, keeping its
//! text for errors found after parsing (cross-file references), and the
//! checks every policy makes (schema version, scenario names, ranges).

use std::sync::Arc;

use super::error::{Doc, Origin, PolicyError};
use crate::plugin::artifacts::BUILTIN_SCENARIOS;

/// A parsed document's origin and text, so that a reference checked later
/// (against another policy) can still be reported with its line and column.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    origin: Origin,
    text: Arc<str>,
}

impl Source {
    pub(crate) fn new(origin: &Origin, text: &str) -> Self {
        Source {
            origin: origin.clone(),
            text: Arc::from(text),
        }
    }

    /// An error builder over the kept text.
    pub(crate) fn doc(&self) -> Doc<'_> {
        Doc::new(&self.origin, &self.text)
    }

    /// Where the document came from.
    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }
}

/// Only `schema_version` 1 is understood.
pub(crate) fn schema_version(doc: &Doc<'_>, version: u32) -> Result<(), PolicyError> {
    if version == 1 {
        Ok(())
    } else {
        Err(doc.invalid(
            "schema_version",
            format!("unsupported schema_version {version}; expected 1"),
        ))
    }
}

/// A scenario a policy may name: a built-in one or one of `extra` (the
/// policy's own `plugin_scenarios`).
pub(crate) fn scenario(
    doc: &Doc<'_>,
    path: &str,
    name: &str,
    extra: &[String],
) -> Result<(), PolicyError> {
    if BUILTIN_SCENARIOS.contains(&name) || extra.iter().any(|e| e == name) {
        return Ok(());
    }
    let mut valid: Vec<&str> = BUILTIN_SCENARIOS.to_vec();
    valid.extend(extra.iter().map(String::as_str));
    Err(doc.invalid(
        path,
        format!(
            "unknown scenario {name:?}; valid: {} (list a plugin's scenario in plugin_scenarios)",
            valid.join(", ")
        ),
    ))
}

/// Plugin scenario names: `snake_case`, distinct, not a built-in one.
pub(crate) fn plugin_scenarios(doc: &Doc<'_>, names: &[String]) -> Result<(), PolicyError> {
    for (i, name) in names.iter().enumerate() {
        let path = format!("plugin_scenarios[{i}]");
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(doc.invalid(
                &path,
                format!("invalid scenario name {name:?}: expected snake_case like my_webhook"),
            ));
        }
        if BUILTIN_SCENARIOS.contains(&name.as_str()) || names[..i].contains(name) {
            return Err(doc.invalid(
                &path,
                format!("scenario {name:?} is listed twice (or is a built-in scenario)"),
            ));
        }
    }
    Ok(())
}

/// A finite number greater than 0.
pub(crate) fn positive(
    doc: &Doc<'_>,
    path: &str,
    value: f64,
    unit: &str,
) -> Result<(), PolicyError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(doc.invalid(path, format!("expected {unit} greater than 0, got {value}")))
    }
}

/// A fraction from 0 to 1.
pub(crate) fn fraction(doc: &Doc<'_>, path: &str, value: f64) -> Result<(), PolicyError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(doc.invalid(
            path,
            format!("expected a fraction between 0 and 1 (0.01 is 1%), got {value}"),
        ))
    }
}

/// A non-empty string (after trimming).
pub(crate) fn non_empty(doc: &Doc<'_>, path: &str, value: &str) -> Result<(), PolicyError> {
    if value.trim().is_empty() {
        Err(doc.invalid(path, "expected a non-empty string"))
    } else {
        Ok(())
    }
}
