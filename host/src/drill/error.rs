//! Why a drill could not be prepared or run, and the exit code of each.

use std::time::Duration;

use crate::atomic_file::WriteError;
use crate::engine::EngineError;
use crate::exit::Exit;
use crate::http::HttpError;
use crate::plugin::PluginError;
use crate::policy::PolicyError;
use crate::pool::PoolError;
use crate::registry::RegistryError;
use crate::report::ReadError;

/// Why a drill failed before or after its load ran.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// The options ask for something that cannot be done (an unknown
    /// scenario, a builder for a scenario that is not drilled, …); the
    /// message names the flag.
    #[error("{0}")]
    Invalid(String),
    /// A profile, baseline or scale is wrong.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A plugin cannot be loaded or used.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A plugin reference cannot be resolved.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A credential pool cannot be read.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// The drill's plans do not compile.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The HTTP client of the live outputs cannot be built.
    #[error("--out: cannot build the client")]
    Client(#[source] HttpError),
    /// The built-in relhost-sim did not start.
    #[error("cannot start the built-in relhost-sim")]
    Sim(#[source] std::io::Error),
    /// Nothing accepts connections at the target.
    #[error("target {target} is unreachable")]
    Unreachable {
        /// The base URL.
        target: String,
        /// The connect error.
        #[source]
        source: std::io::Error,
    },
    /// The target did not accept a connection in time.
    #[error("target {target} is unreachable: no connection within {timeout:?}")]
    ConnectTimeout {
        /// The base URL.
        target: String,
        /// The connect timeout.
        timeout: Duration,
    },
    /// A report cannot be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A finished drill's report cannot be read.
    #[error(transparent)]
    Report(#[from] ReadError),
}

impl DrillError {
    /// The exit code for this error: 2 for what the operator gave, 3 for
    /// what could not be carried out.
    pub fn exit(&self) -> Exit {
        match self {
            DrillError::Registry(e) if e.is_unreachable() => Exit::CannotRun,
            DrillError::Invalid(_)
            | DrillError::Policy(_)
            | DrillError::Plugin(_)
            | DrillError::Registry(_)
            | DrillError::Pool(_)
            | DrillError::Engine(_)
            | DrillError::Client(_)
            | DrillError::Report(_) => Exit::BadInput,
            DrillError::Sim(_)
            | DrillError::Unreachable { .. }
            | DrillError::ConnectTimeout { .. }
            | DrillError::Write(_) => Exit::CannotRun,
        }
    }
}
