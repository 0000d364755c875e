//! Where human output goes: the printer (results, on stdout) and the
//! progress (on stderr) write through a [`Sink`], which any `Write` can
//! back, so what a command prints can be read back in a test.

#![allow(clippy::print_stdout)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::redact;
use crate::report::{DrillReport, write_summary_table};

/// A shared writer of whole lines, secrets masked, flushed as written
/// (other processes read our first lines).
#[derive(Clone)]
pub(crate) struct Sink(Arc<Mutex<dyn Write + Send>>);

impl Sink {
    /// A sink over `writer`.
    pub(crate) fn new(writer: impl Write + Send + 'static) -> Self {
        Sink(Arc::new(Mutex::new(writer)))
    }

    /// Writes `text` and a newline, secrets masked.
    pub(crate) fn line(&self, text: &str) {
        self.write(&format!("{text}\n"));
    }

    /// Writes `text` as it is, secrets masked.
    fn write(&self, text: &str) {
        if let Ok(mut out) = self.0.lock() {
            let _ = out.write_all(redact::text(text).as_bytes());
            let _ = out.flush();
        }
    }
}

/// Writes a command's results, unless quiet.
#[derive(Clone)]
pub(crate) struct Printer {
    sink: Option<Sink>,
}

impl Printer {
    /// A printer to stdout; `quiet` drops everything but errors (which go to stderr).
    pub(crate) fn stdout(quiet: bool) -> Self {
        Printer {
            sink: (!quiet).then(|| Sink::new(std::io::stdout())),
        }
    }

    /// A printer to `sink`.
    #[cfg(test)]
    pub(crate) fn to(sink: Sink) -> Self {
        Printer { sink: Some(sink) }
    }

    /// Prints one line, secrets masked.
    pub(crate) fn line(&self, text: &str) {
        if let Some(sink) = &self.sink {
            sink.line(text);
        }
    }

    /// Prints the drill's summary table.
    pub(crate) fn summary(&self, report: &DrillReport) {
        if let Some(sink) = &self.sink {
            let mut table = Vec::new();
            let _ = write_summary_table(&mut table, report);
            sink.write(&String::from_utf8_lossy(&table));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A sink whose lines can be read back.
    pub(crate) fn buffer() -> (Sink, Arc<Mutex<Vec<u8>>>) {
        #[derive(Clone)]
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("lock").extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let bytes = Arc::new(Mutex::new(Vec::new()));
        (Sink::new(Shared(Arc::clone(&bytes))), bytes)
    }

    #[test]
    fn lines_are_written_whole_with_secrets_masked() {
        let (sink, bytes) = buffer();
        redact::register("printer-test-secret-9137");
        let printer = Printer::to(sink);
        printer.line("token printer-test-secret-9137 used");
        printer.line("report: out.json");
        let text = String::from_utf8(bytes.lock().expect("lock").clone()).expect("utf-8");
        assert_eq!(text, "token *** used\nreport: out.json\n");
    }

    #[test]
    fn a_quiet_printer_prints_nothing() {
        Printer::stdout(true).line("never seen");
        assert!(Printer::stdout(true).sink.is_none());
    }
}
