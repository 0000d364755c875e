//! Errors of the command line, and the exit code each one maps to.

use crate::engine::EngineError;
use crate::exit::Exit;
use crate::plugin::PluginError;
use crate::policy::PolicyError;
use crate::report::WriteError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag, an environment variable or a file is wrong.
    #[error("{0}")]
    BadInput(String),
    /// A profile or policy file is wrong.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A plugin cannot be loaded or used.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The drill could not be prepared.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The run could not be carried out (target unreachable, no runtime).
    #[error("{0}")]
    CannotRun(String),
    /// A report could not be written.
    #[error(transparent)]
    Report(#[from] WriteError),
}

impl CliError {
    /// The exit code for this error.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::BadInput(_)
            | CliError::Policy(_)
            | CliError::Plugin(_)
            | CliError::Engine(_) => Exit::BadInput,
            CliError::CannotRun(_) | CliError::Report(_) => Exit::CannotRun,
        }
    }
}
