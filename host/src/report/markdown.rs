//! A Markdown summary for gate-like commands (`--summary=PATH`), for CI
//! job summaries: a title, a verdict line, optional notes, and a table of
//! checks with their owners.
//!
//! ```text
//! # relhost probe
//!
//! **FAIL**: 1 of 3 probes failed
//!
//! | check | owner | observed | expected | verdict |
//! |---|---|---|---|---|
//! | whatsapp_webhook: status | messaging-integrations | 503 | one of 200 | ❌ fail |
//! ```
//!
//! Cell text is escaped so a `|` or a newline in a value cannot break the table.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::junit::write_text_file;
use crate::atomic_file::WriteError;

/// One row of the checks table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// The check's name.
    pub check: String,
    /// Who owns it (empty when nobody is named).
    pub owner: String,
    /// The observed value, as text.
    pub observed: String,
    /// The expected value or threshold, as text.
    pub expected: String,
    /// `pass`, `fail`, `skipped`, `warn`.
    pub verdict: String,
}

/// Builds a Markdown summary.
#[derive(Debug, Clone, Default)]
pub struct MarkdownSummary {
    title: String,
    verdict: String,
    detail: String,
    notes: Vec<String>,
    rows: Vec<SummaryRow>,
}

/// Escapes text for a table cell: `|` and newlines would end the cell.
pub fn md_cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

fn mark(verdict: &str) -> &'static str {
    match verdict {
        "pass" => "✅",
        "fail" => "❌",
        "warn" | "marginal" => "⚠️",
        _ => "➖",
    }
}

impl MarkdownSummary {
    /// A summary titled `title`, with the overall `verdict` (`pass`, `fail`,
    /// ...) and a one-line `detail`.
    pub fn new(
        title: impl Into<String>,
        verdict: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        MarkdownSummary {
            title: title.into(),
            verdict: verdict.into(),
            detail: detail.into(),
            ..MarkdownSummary::default()
        }
    }

    /// Adds a bullet under the verdict line (target, report path, ...).
    pub fn note(&mut self, text: impl Into<String>) -> &mut Self {
        self.notes.push(text.into());
        self
    }

    /// Adds a row to the checks table.
    pub fn row(&mut self, row: SummaryRow) -> &mut Self {
        self.rows.push(row);
        self
    }

    /// The Markdown text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# {}\n", self.title.replace(['\r', '\n'], " "));
        let _ = writeln!(
            out,
            "{} **{}**: {}\n",
            mark(&self.verdict),
            self.verdict.to_uppercase(),
            self.detail.replace(['\r', '\n'], " ")
        );
        if !self.notes.is_empty() {
            for note in &self.notes {
                let _ = writeln!(out, "- {}", note.replace(['\r', '\n'], " "));
            }
            out.push('\n');
        }
        if !self.rows.is_empty() {
            out.push_str(
                "| check | owner | observed | expected | verdict |\n|---|---|---|---|---|\n",
            );
            for r in &self.rows {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} {} |",
                    md_cell(&r.check),
                    md_cell(&r.owner),
                    md_cell(&r.observed),
                    md_cell(&r.expected),
                    mark(&r.verdict),
                    md_cell(&r.verdict)
                );
            }
        }
        out
    }

    /// Writes [`MarkdownSummary::render`] to `path`, atomically.
    pub fn write(&self, path: &Path) -> Result<PathBuf, WriteError> {
        write_text_file(path, &self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_table_with_escaped_cells() {
        let mut s = MarkdownSummary::new("relhost probe", "fail", "1 of 2 probes failed");
        s.note("target: http://127.0.0.1:1").row(SummaryRow {
            check: "whatsapp_webhook: status".into(),
            owner: "messaging-integrations".into(),
            observed: "503 | bad\nline".into(),
            expected: "one of 200".into(),
            verdict: "fail".into(),
        });
        let text = s.render();
        assert!(text.starts_with("# relhost probe\n\n❌ **FAIL**: 1 of 2 probes failed\n"));
        assert!(text.contains("- target: http://127.0.0.1:1\n"));
        assert!(
            text.contains("| 503 \\| bad line | one of 200 | ❌ fail |"),
            "{text}"
        );
        assert_eq!(text.lines().filter(|l| l.starts_with('|')).count(), 3);
    }
}
