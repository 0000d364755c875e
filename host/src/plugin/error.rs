//! Errors of loading and calling plugins. Every message names the plugin.

use std::path::PathBuf;
use std::time::Duration;

use super::WIT_VERSION;

/// What went wrong with a plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin file could not be read.
    #[error("plugin {path}: cannot read it: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No built-in plugin has this name.
    #[error("unknown built-in plugin {name:?}; valid: {valid}")]
    UnknownBuiltin {
        /// The name asked for.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// The bytes are not a WebAssembly component.
    #[error("plugin {plugin}: not a WebAssembly component ({reason})")]
    NotComponent {
        /// The plugin's source.
        plugin: String,
        /// What the compiler said.
        reason: String,
    },
    /// The component does not implement a world the host knows, or imports
    /// something the host does not grant.
    #[error(
        "plugin {plugin}: not a component of the relhost:plugin/{world}@{WIT_VERSION} world ({reason})"
    )]
    WorldMismatch {
        /// The plugin's source.
        plugin: String,
        /// The world the host expected.
        world: &'static str,
        /// What did not match.
        reason: String,
    },
    /// A data directory cannot be granted (missing, too large, not
    /// declared, not given).
    #[error("plugin {plugin}: data: {reason}")]
    Data {
        /// The plugin's name or source.
        plugin: String,
        /// What is wrong.
        reason: String,
    },
    /// The plugin described itself with invalid values.
    #[error("plugin {plugin}: invalid descriptor: {reason}")]
    Descriptor {
        /// The plugin's name or source.
        plugin: String,
        /// What is wrong.
        reason: String,
    },
    /// The plugin refused the configuration it was given.
    #[error("plugin {plugin}: refused its configuration: {reason}")]
    Config {
        /// The plugin's name or source.
        plugin: String,
        /// What the plugin said.
        reason: String,
    },
    /// A guest call failed: deadline, memory cap or trap.
    #[error("plugin {plugin}: {call} {fault}")]
    Call {
        /// The plugin's name.
        plugin: String,
        /// The export that was called (or `instantiate`).
        call: &'static str,
        /// What happened.
        fault: PluginFault,
    },
    /// The wasmtime engine could not be set up.
    #[error("plugin runtime: {0}")]
    Runtime(String),
}

/// How a guest call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginFault {
    /// The call ran past its deadline (in guest code or waiting on the host).
    #[error("exceeded its {0:?} deadline")]
    Deadline(Duration),
    /// The run was interrupted (Ctrl-C, SIGTERM) while the call ran.
    #[error("was interrupted")]
    Interrupted,
    /// The call used up its fuel.
    #[error("ran out of its {0} units of fuel")]
    Fuel(u64),
    /// The instance tried to grow its memory past the cap.
    #[error("exceeded its memory cap of {0} MiB")]
    Memory(u64),
    /// The guest trapped (a panic, an abort, an invalid operation).
    #[error("trapped: {0}")]
    Trap(String),
    /// The guest returned something the contract does not allow.
    #[error("broke the contract: {0}")]
    Contract(String),
}

impl PluginError {
    /// The fault, when this error is a failed guest call.
    pub fn fault(&self) -> Option<&PluginFault> {
        match self {
            PluginError::Call { fault, .. } => Some(fault),
            _ => None,
        }
    }
}

/// The innermost cause of a wasmtime error, on one line.
pub(crate) fn root_cause(error: &wasmtime::Error) -> String {
    let root = error.root_cause().to_string();
    root.lines().next().unwrap_or_default().to_string()
}
