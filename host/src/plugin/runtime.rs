//! Loading plugins: compile once per run, check the world, pre-instantiate.

use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};

use super::artifacts;
use super::bindings::rotation::Rotation;
use super::bindings::rotation::relhost::plugin::rotation_types;
use super::bindings::scenario::Scenario;
use super::error::PluginError;
use super::instance::{PluginCore, World};
use super::rotation::{RotationConfig, RotationPlugin};
use super::sandbox::{Limits, SandboxEngine};
use super::scenario::ScenarioPlugin;
use super::secrets::Secrets;
use super::state::{Grants, PluginState};

/// Where a plugin comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// A plugin embedded in the binary, by name.
    Builtin(String),
    /// A component file.
    File(PathBuf),
}

impl PluginSource {
    /// How the source is named in reports and messages.
    pub fn label(&self) -> String {
        match self {
            PluginSource::Builtin(name) => format!("builtin:{name}"),
            PluginSource::File(path) => path.display().to_string(),
        }
    }

    fn bytes(&self) -> Result<std::borrow::Cow<'static, [u8]>, PluginError> {
        match self {
            PluginSource::Builtin(name) => artifacts::builtin(name)
                .map(std::borrow::Cow::Borrowed)
                .ok_or_else(|| PluginError::UnknownBuiltin {
                    name: name.clone(),
                    valid: artifacts::BUILTIN_SCENARIOS
                        .iter()
                        .chain(artifacts::BUILTIN_ROTATIONS)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            PluginSource::File(path) => {
                std::fs::read(path)
                    .map(std::borrow::Cow::Owned)
                    .map_err(|source| PluginError::Read {
                        path: path.clone(),
                        source,
                    })
            }
        }
    }
}

/// The plugin runtime of one run: one engine, one linker, shared limits.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) sandbox: SandboxEngine,
    linker: Linker<PluginState>,
    pub(crate) limits: Limits,
}

impl Runtime {
    /// A runtime whose guest calls and instances obey `limits`.
    pub fn new(limits: Limits) -> Result<Self, PluginError> {
        let sandbox = SandboxEngine::new()?;
        let mut linker = Linker::new(sandbox.engine());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| PluginError::Runtime(e.to_string()))?;
        Scenario::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| PluginError::Runtime(e.to_string()))?;
        // The rotation world shares `host` and `types`; it adds its own types only.
        rotation_types::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| PluginError::Runtime(e.to_string()))?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                sandbox,
                linker,
                limits,
            }),
        })
    }

    /// The limits every guest call and instance obeys.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Compiles a scenario plugin, checks that it implements the scenario
    /// world, and asks it to describe itself. `seed` seeds the instances'
    /// random sequences. `secrets` are granted as far as the plugin declares them.
    pub async fn load_scenario(
        &self,
        source: &PluginSource,
        secrets: Arc<Secrets>,
        seed: u64,
    ) -> Result<ScenarioPlugin, PluginError> {
        let core = self.compile::<Scenario>(source, seed)?;
        let loading = Arc::new(Grants {
            plugin: core.label.clone(),
            declared: Default::default(),
            secrets: Arc::clone(&secrets),
        });
        ScenarioPlugin::describe_and_build(core, loading, secrets).await
    }

    /// Compiles a rotation strategy, checks that it implements the rotation
    /// world, and configures it for a pool.
    pub async fn load_rotation(
        &self,
        source: &PluginSource,
        config: RotationConfig,
    ) -> Result<RotationPlugin, PluginError> {
        let core = self.compile::<Rotation>(source, config.seed)?;
        RotationPlugin::configure(core, config).await
    }

    /// Reads, digests and compiles a component, and checks it against world `W`.
    fn compile<W: World>(
        &self,
        source: &PluginSource,
        seed: u64,
    ) -> Result<PluginCore<W>, PluginError> {
        let label = source.label();
        let bytes = source.bytes()?;
        let sha256 = hex(&Sha256::digest(&bytes));
        let component = Component::new(self.inner.sandbox.engine(), &bytes).map_err(|e| {
            PluginError::NotComponent {
                plugin: label.clone(),
                reason: root_cause(&e),
            }
        })?;
        let mismatch = |e: wasmtime::Error| PluginError::WorldMismatch {
            plugin: label.clone(),
            world: W::NAME,
            reason: root_cause(&e),
        };
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(mismatch)?;
        let pre = W::pre(pre).map_err(mismatch)?;
        Ok(PluginCore {
            runtime: Arc::clone(&self.inner),
            pre,
            label,
            sha256,
            seed,
        })
    }
}

/// The innermost cause of a wasmtime error, on one line.
pub(crate) fn root_cause(error: &wasmtime::Error) -> String {
    let root = error.root_cause().to_string();
    root.lines().next().unwrap_or_default().to_string()
}

/// Lowercase hex of a digest.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
