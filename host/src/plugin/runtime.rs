//! Loading plugins: compile once per run, check the world, pre-instantiate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::watch;
use wasmtime::component::Component;

use super::artifacts;
use super::bindings::payload::PayloadBuilder;
use super::bindings::rotation::Rotation;
use super::bindings::scenario::Scenario;
use super::bindings::slo::SloEvaluator;
use super::error::{PluginError, root_cause};
use super::instance::{PluginCore, World};
use super::payload::{BuilderInfo, PayloadBuilderPlugin};
use super::rotation::{RotationConfig, RotationPlugin};
use super::sandbox::{Limits, RuntimeInner};
use super::scenario::ScenarioPlugin;
use super::secrets::Secrets;
use super::slo::SloEvaluatorPlugin;
use super::state::{Grants, Params};

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
                        .chain(artifacts::BUILTIN_SLO_EVALUATORS)
                        .chain(artifacts::BUILTIN_PAYLOAD_BUILDERS)
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

/// The plugin runtime of one run: shared limits, and one engine and linker
/// for plain worlds plus one with fuel metering for worlds that need it.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

impl Runtime {
    /// A runtime whose guest calls and instances obey `limits`.
    pub fn new(limits: Limits) -> Result<Self, PluginError> {
        Runtime::with_params(limits, Params::new(), None, None)
    }

    /// A runtime whose plugins see the run parameters `params` (`param`
    /// import), whose calls in progress end when `stop` turns true (a call
    /// interrupted so fails with [`PluginFault::Interrupted`](super::PluginFault)),
    /// and which keeps the native code of what it compiles in
    /// `compile_cache` (without one, plugins compile on every run: about
    /// 200 ms of CPU each).
    pub fn with_params(
        limits: Limits,
        params: Params,
        stop: Option<watch::Receiver<bool>>,
        compile_cache: Option<&Path>,
    ) -> Result<Self, PluginError> {
        Ok(Runtime {
            inner: Arc::new(RuntimeInner::new(limits, params, stop, compile_cache)?),
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
        let loading = Arc::new(Grants::new(
            &core.label,
            Default::default(),
            Arc::clone(&secrets),
        ));
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

    /// Compiles a payload builder, checks that it implements the
    /// payload-builder world, and grants the data directories it declares
    /// from `data` (name → directory), each holding at most `max_data_bytes`.
    pub async fn load_payload_builder(
        &self,
        source: &PluginSource,
        data: &[(String, PathBuf)],
        max_data_bytes: u64,
        seed: u64,
    ) -> Result<PayloadBuilderPlugin, PluginError> {
        let core = self.compile::<PayloadBuilder>(source, seed)?;
        PayloadBuilderPlugin::describe_and_grant(core, data, max_data_bytes).await
    }

    /// Compiles a payload builder and asks it to describe itself, granting
    /// it nothing (for `relhost plugin inspect` and publishing).
    pub async fn describe_payload_builder(
        &self,
        source: &PluginSource,
    ) -> Result<BuilderInfo, PluginError> {
        let core = self.compile::<PayloadBuilder>(source, 0)?;
        PayloadBuilderPlugin::describe(core).await
    }

    /// Compiles an SLO evaluator and checks that it implements the
    /// slo-evaluator world. Its calls run under fuel as well as the deadline.
    pub async fn load_slo_evaluator(
        &self,
        source: &PluginSource,
    ) -> Result<SloEvaluatorPlugin, PluginError> {
        let core = self.compile::<SloEvaluator>(source, 0)?;
        SloEvaluatorPlugin::describe_and_build(core).await
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
        let sandbox = self.inner.sandbox(W::FUELED);
        let component = Component::new(sandbox.engine.engine(), &bytes).map_err(|e| {
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
        let pre = sandbox
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

/// Lowercase hex of a digest.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Which of the host's worlds a component implements, and the names of
/// what it imports and exports (for `relhost plugin inspect` and the OCI config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentWorld {
    /// The world's name: `scenario`, `rotation`, `slo-evaluator` or
    /// `payload-builder`.
    pub world: &'static str,
    /// Import names, e.g. `relhost:plugin/host@0.1.0`.
    pub imports: Vec<String>,
    /// Export names, e.g. `describe`.
    pub exports: Vec<String>,
    /// Lowercase hex sha256 of the component's bytes.
    pub sha256: String,
}

impl Runtime {
    /// Compiles a component and finds which of the host's worlds it
    /// implements. A component of no known world is refused with the
    /// scenario world's mismatch; bytes that are not a component with
    /// [`PluginError::NotComponent`].
    pub fn world_of(&self, source: &PluginSource) -> Result<ComponentWorld, PluginError> {
        fn names<'a>(items: impl Iterator<Item = (&'a str, impl Sized)>) -> Vec<String> {
            items.map(|(name, _)| name.to_string()).collect()
        }
        fn world(component: &Component, name: &'static str, sha256: String) -> ComponentWorld {
            let ty = component.component_type();
            let engine = component.engine();
            ComponentWorld {
                world: name,
                imports: names(ty.imports(engine)),
                exports: names(ty.exports(engine)),
                sha256,
            }
        }
        let scenario = match self.compile::<Scenario>(source, 0) {
            Ok(core) => {
                let component = core.pre.instance_pre().component();
                return Ok(world(component, Scenario::NAME, core.sha256.clone()));
            }
            Err(error @ PluginError::WorldMismatch { .. }) => error,
            Err(error) => return Err(error),
        };
        if let Ok(core) = self.compile::<Rotation>(source, 0) {
            let component = core.pre.instance_pre().component();
            return Ok(world(component, Rotation::NAME, core.sha256.clone()));
        }
        if let Ok(core) = self.compile::<SloEvaluator>(source, 0) {
            let component = core.pre.instance_pre().component();
            return Ok(world(component, SloEvaluator::NAME, core.sha256.clone()));
        }
        if let Ok(core) = self.compile::<PayloadBuilder>(source, 0) {
            let component = core.pre.instance_pre().component();
            return Ok(world(component, PayloadBuilder::NAME, core.sha256.clone()));
        }
        Err(scenario)
    }
}

#[cfg(test)]
mod world_tests {
    use super::*;

    #[test]
    fn world_of_names_the_world_imports_and_exports() {
        let runtime = super::super::test_runtime(Limits::default(), None, Params::new());
        let scenario = runtime
            .world_of(&PluginSource::Builtin("whatsapp_webhook".into()))
            .expect("scenario");
        assert_eq!(scenario.world, "scenario");
        assert!(scenario.exports.iter().any(|e| e == "describe"));
        assert!(
            scenario
                .imports
                .iter()
                .any(|i| i.starts_with("relhost:plugin/host@"))
        );
        assert_eq!(scenario.sha256.len(), 64);
        let rotation = runtime
            .world_of(&PluginSource::Builtin("stride".into()))
            .expect("rotation");
        assert_eq!(rotation.world, "rotation");
        assert!(rotation.exports.iter().any(|e| e == "pick"));
        let other = runtime.world_of(&PluginSource::File(artifacts::NOT_SCENARIO.into()));
        assert!(
            matches!(other, Err(PluginError::WorldMismatch { .. })),
            "{other:?}"
        );
    }
}
