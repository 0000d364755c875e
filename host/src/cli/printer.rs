//! The one place that writes human output to stdout.

#![allow(clippy::print_stdout)]

use std::io::Write;

use crate::redact;
use crate::report::{DrillReport, write_summary_table};

/// Writes human output to stdout, unless quiet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    quiet: bool,
}

impl Printer {
    /// A printer to stdout; `quiet` drops everything but errors (which go to stderr).
    pub(crate) fn stdout(quiet: bool) -> Self {
        Printer { quiet }
    }

    /// Prints one line, secrets masked, and flushes it (other processes
    /// read our first lines).
    pub(crate) fn line(&self, text: &str) {
        if !self.quiet {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", redact::text(text));
            let _ = out.flush();
        }
    }

    /// Prints the drill's summary table.
    pub(crate) fn summary(&self, report: &DrillReport) {
        if !self.quiet {
            let mut table = Vec::new();
            let _ = write_summary_table(&mut table, report);
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(redact::text(&String::from_utf8_lossy(&table)).as_bytes());
            let _ = out.flush();
        }
    }
}
