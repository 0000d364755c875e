//! JUnit XML for gate-like commands, so CI systems show each check as a
//! test case: one `<testsuite>` per command run, one `<testcase>` per check,
//! a `<failure>` for a failed check and `<skipped/>` for a skipped one.
//!
//! Text and attribute values are escaped (`& < > " '`), and characters XML
//! 1.0 does not allow (most control characters) are replaced by U+FFFD, so
//! the document stays well-formed whatever a target answered.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::atomic_file::{WriteError, write_bytes_atomic};

/// One test case: a check of a gate.
#[derive(Debug, Clone, PartialEq)]
pub struct JunitCase {
    /// The group, e.g. `probe.whatsapp_webhook` or `snapshot`.
    pub classname: String,
    /// The check's name.
    pub name: String,
    /// How long it took, in seconds.
    pub time_s: f64,
    /// Why it failed, when it did.
    pub failure: Option<String>,
    /// Whether it was skipped (ignored when `failure` is set).
    pub skipped: bool,
}

impl JunitCase {
    /// A passing case.
    pub fn pass(classname: impl Into<String>, name: impl Into<String>, time_s: f64) -> Self {
        JunitCase {
            classname: classname.into(),
            name: name.into(),
            time_s,
            failure: None,
            skipped: false,
        }
    }
}

/// Escapes text for an XML attribute value or text node.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn seconds(t: f64) -> String {
    if t.is_finite() && t >= 0.0 {
        format!("{t:.3}")
    } else {
        "0.000".to_owned()
    }
}

/// A JUnit XML document with one `<testsuite>` named `suite` holding `cases`.
pub fn junit_xml(suite: &str, cases: &[JunitCase]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let skipped = cases
        .iter()
        .filter(|c| c.failure.is_none() && c.skipped)
        .count();
    let total: f64 = cases
        .iter()
        .map(|c| c.time_s)
        .filter(|t| t.is_finite() && *t > 0.0)
        .sum();
    let suite = xml_escape(suite);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\">",
        cases.len(),
        seconds(total)
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\">",
        cases.len(),
        seconds(total)
    );
    for case in cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
            xml_escape(&case.classname),
            xml_escape(&case.name),
            seconds(case.time_s)
        );
        match (&case.failure, case.skipped) {
            (Some(message), _) => {
                let message = xml_escape(message);
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{message}\" type=\"check_failed\">{message}</failure>\n    </testcase>"
                );
            }
            (None, true) => out.push_str(">\n      <skipped/>\n    </testcase>\n"),
            (None, false) => out.push_str("/>\n"),
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Writes `text` to `path` atomically (its directory is created as needed).
pub fn write_text_file(path: &Path, text: &str) -> Result<PathBuf, WriteError> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| WriteError::InvalidFileName(path.display().to_string()))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    write_bytes_atomic(dir, file_name, crate::redact::text(text).as_bytes(), None)
}

/// Writes [`junit_xml`] of `suite` and `cases` to `path`, atomically.
pub fn write_junit(path: &Path, suite: &str, cases: &[JunitCase]) -> Result<PathBuf, WriteError> {
    write_text_file(path, &junit_xml(suite, cases))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small well-formedness check: tags nest and close, attributes are
    /// quoted, and every `&` starts a known entity. Returns the element
    /// names in document order.
    fn well_formed(xml: &str) -> Result<Vec<String>, String> {
        let body = xml
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .ok_or("missing XML declaration")?;
        let mut stack: Vec<String> = Vec::new();
        let mut seen = Vec::new();
        let mut rest = body;
        let check_text = |t: &str| -> Result<(), String> {
            let mut r = t;
            while let Some(i) = r.find('&') {
                let after = &r[i..];
                let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| after.starts_with(e));
                if !ok {
                    return Err(format!("bad entity at {after:.10}"));
                }
                r = &after[1..];
            }
            if t.contains('>') {
                return Err(format!("raw > in text {t:?}"));
            }
            Ok(())
        };
        while let Some(open) = rest.find('<') {
            check_text(&rest[..open])?;
            let close = rest[open..].find('>').ok_or("unclosed tag")? + open;
            let tag = &rest[open + 1..close];
            if let Some(name) = tag.strip_prefix('/') {
                let top = stack.pop().ok_or("close without open")?;
                if top != name {
                    return Err(format!("</{name}> closes <{top}>"));
                }
            } else {
                let self_closing = tag.ends_with('/');
                let tag = tag.trim_end_matches('/');
                let name = tag.split_whitespace().next().ok_or("empty tag")?.to_owned();
                // Attributes: name="value" pairs, values without < or raw ".
                let mut attrs = tag[name.len()..].trim();
                while !attrs.is_empty() {
                    let eq = attrs.find("=\"").ok_or("attribute without =\"")?;
                    let value_end = attrs[eq + 2..].find('"').ok_or("unterminated value")? + eq + 2;
                    let value = &attrs[eq + 2..value_end];
                    if value.contains('<') {
                        return Err("< in attribute".into());
                    }
                    check_text(value)?;
                    attrs = attrs[value_end + 1..].trim_start();
                }
                seen.push(name.clone());
                if !self_closing {
                    stack.push(name);
                }
            }
            rest = &rest[close + 1..];
            if stack.is_empty() && !rest.trim().is_empty() {
                return Err("content after the root element".into());
            }
        }
        if !stack.is_empty() {
            return Err(format!("unclosed elements {stack:?}"));
        }
        Ok(seen)
    }

    #[test]
    fn output_is_well_formed_and_escaped() {
        let cases = [
            JunitCase::pass("probe.whatsapp_webhook", "status", 0.012),
            JunitCase {
                classname: "snapshot".into(),
                name: "open_circuits <owner: chat & \"co\">".into(),
                time_s: 0.0,
                failure: Some("observed 2 > threshold 0; body was '<html>\u{1}'".into()),
                skipped: false,
            },
            JunitCase {
                classname: "snapshot".into(),
                name: "dlq_size".into(),
                time_s: f64::NAN,
                failure: None,
                skipped: true,
            },
        ];
        let xml = junit_xml("relhost probe", &cases);
        let names = well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert_eq!(
            names,
            [
                "testsuites",
                "testsuite",
                "testcase",
                "testcase",
                "failure",
                "testcase",
                "skipped"
            ]
        );
        assert!(xml.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""));
        assert!(xml.contains("&lt;owner: chat &amp; &quot;co&quot;&gt;"));
        assert!(xml.contains("&apos;&lt;html&gt;\u{FFFD}&apos;"));
        assert!(well_formed("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a><b></a>").is_err());
        assert!(well_formed("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a x=\"&\"/>").is_err());
    }

    #[test]
    fn empty_suite_is_well_formed() {
        let xml = junit_xml("empty", &[]);
        assert!(well_formed(&xml).is_ok(), "{xml}");
    }
}
