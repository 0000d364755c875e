//! Errors of the command line, and the exit code each one maps to.

use crate::atomic_file::WriteError;
use crate::drill::DrillError;
use crate::exit::Exit;
use crate::gameday::GameDayError;
use crate::http::HttpError;
use crate::plugin::PluginError;
use crate::policy::PolicyError;
use crate::pool::PoolError;
use crate::probe::SuiteError;
use crate::registry::RegistryError;
use crate::release_gate::GateError;

/// Why a command failed. Each variant keeps its cause, so the one-line
/// message shows the whole chain.
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
    /// A plugin reference cannot be resolved, or the registry used.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A credential pool cannot be read or written.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// A knob of the built-in relhost-sim is wrong.
    #[error(transparent)]
    SimConfig(#[from] relhost_sim::ConfigError),
    /// An HTTP client cannot be built from the flags (a bad CA file).
    #[error(transparent)]
    Client(#[from] HttpError),
    /// A drill could not be prepared or run.
    #[error(transparent)]
    Drill(#[from] DrillError),
    /// Segments could not be merged.
    #[error(transparent)]
    Merge(#[from] crate::merge::MergeError),
    /// A game day could not be carried out.
    #[error(transparent)]
    GameDay(#[from] GameDayError),
    /// The release gate could not be carried out.
    #[error(transparent)]
    Gate(#[from] GateError),
    /// The synthetic probes could not be carried out.
    #[error(transparent)]
    Probes(#[from] SuiteError),
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
            CliError::Drill(e) => e.exit(),
            CliError::GameDay(e) => e.exit(),
            CliError::Merge(e) => e.exit(),
            CliError::Gate(e) => e.exit(),
            CliError::Probes(e) => e.exit(),
            CliError::Registry(e) if e.is_unreachable() => Exit::CannotRun,
            CliError::BadInput(_)
            | CliError::Policy(_)
            | CliError::Plugin(_)
            | CliError::Registry(_)
            | CliError::Pool(_)
            | CliError::SimConfig(_)
            | CliError::Client(_) => Exit::BadInput,
            CliError::CannotRun(_) | CliError::Report(_) => Exit::CannotRun,
        }
    }
}
