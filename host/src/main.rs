//! The `relhost` binary.

use std::process::ExitCode;

fn main() -> ExitCode {
    relhost::cli::run().into()
}
