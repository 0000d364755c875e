//! The WebAssembly plugin runtime: sandbox, host capabilities and loading.
//!
//! Plugins are components of the `relhost:plugin` WIT package (see `wit/`).
//! A plugin gets no filesystem, network, clock or environment of its own: a
//! WASI context with nothing preopened and nothing inherited, plus the
//! `host` interface (`wit/`). Every guest call runs
//! under an epoch deadline and every instance under a memory cap.

pub mod artifacts;
#[allow(missing_docs)] // generated from wit/, which documents every item
mod bindings;
mod epoch;
mod error;
mod host_api;
mod instance;
mod payload;
mod rotation;
mod runtime;
mod sandbox;
mod scenario;
mod secrets;
mod slo;
mod state;
pub mod untrusted;

pub use bindings::scenario::relhost::plugin::scenario_types::{
    CallContext, Descriptor, RequestPlan, ResponseSummary, Signing, Template,
};
pub use bindings::scenario::relhost::plugin::types::{Header, Method, Request};
pub use error::{PluginError, PluginFault};
#[cfg(test)]
pub(crate) use host_api::hmac_sha256_hex;
pub use payload::{
    Batch, BuilderInfo, GrantedData, Payload, PayloadBuilderPlugin, PayloadInstance,
};
pub use rotation::{RotationConfig, RotationInfo, RotationInstance, RotationPlugin};
pub use runtime::{ComponentWorld, PluginSource, Runtime};
pub use sandbox::Limits;
pub use scenario::{ScenarioInstance, ScenarioPlugin};
pub use secrets::Secrets;
pub use slo::{EvaluatorInfo, ScenarioSummary, SeriesPoint, SloCheck, SloEvaluatorPlugin};
pub use state::Params;

/// Types of the WIT contract whose names a native type also has
/// (`policy::Stage`, `report::Verdict`, `engine::Credential`, …): used as
/// `wit::Stage`, so that neither shadows the other.
pub mod wit {
    pub use super::bindings::scenario::relhost::plugin::scenario_types::{Credential, Verdict};
    pub use super::bindings::scenario::relhost::plugin::types::{Load, Stage};
    pub use super::slo::{Comparator, Unit};
}

/// What every loaded plugin tells about itself, as reports list it.
pub trait LoadedPlugin {
    /// Its world as reports name it (`scenario`, `payload-builder`,
    /// `rotation`, `slo-evaluator`).
    const WORLD: &'static str;
    /// Its name.
    fn name(&self) -> &str;
    /// Its semver version.
    fn version(&self) -> &str;
    /// Where it came from (`builtin:NAME` or a path).
    fn source(&self) -> &str;
    /// SHA-256 of the component's bytes, lowercase hex.
    fn sha256(&self) -> &str;
}

/// Implements [`LoadedPlugin`] for a plugin type whose `core` holds its
/// label and digest and whose `$meta` (descriptor or info) its name and version.
macro_rules! loaded_plugin {
    ($plugin:ty, $world:literal, $meta:ident) => {
        impl $crate::plugin::LoadedPlugin for $plugin {
            const WORLD: &'static str = $world;

            fn name(&self) -> &str {
                &self.$meta.name
            }

            fn version(&self) -> &str {
                &self.$meta.version
            }

            fn source(&self) -> &str {
                &self.core.label
            }

            fn sha256(&self) -> &str {
                &self.core.sha256
            }
        }
    };
}
use loaded_plugin;

/// Where compiled plugins are kept, under a plugin cache directory.
pub const COMPILED_CACHE: &str = "compiled";

/// The version of the `relhost:plugin` WIT package the host implements.
/// Components built against an older 0.1 version keep loading.
pub const WIT_VERSION: &str = "0.1.1";

#[cfg(test)]
mod tests;

/// A compile cache for the unit tests: one temporary directory per test
/// process, so each component compiles once per process and nothing is
/// written outside temporary directories.
#[cfg(test)]
pub(crate) fn test_compile_cache() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"))
        .path()
}

/// A runtime for the unit tests, with [`test_compile_cache`].
#[cfg(test)]
pub(crate) fn test_runtime(
    limits: Limits,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
    params: Params,
) -> Runtime {
    Runtime::with_params(limits, params, stop, Some(test_compile_cache())).expect("runtime")
}
