//! Scenario plugins: the loaded plugin (shared) and its per-worker instances.

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmtime::{Store, Trap};

use super::bindings::relhost::plugin::scenario_types::{
    CallContext, Descriptor, RequestPlan, ResponseSummary, Verdict,
};
use super::bindings::relhost::plugin::types::{Load, Request, Stage};
use super::bindings::{Scenario, ScenarioPre};
use super::error::{PluginError, PluginFault};
use super::runtime::{RuntimeInner, root_cause};
use super::sandbox::Limits;
use super::secrets::Secrets;
use super::state::{Grants, PluginState};
use crate::rng::SplitMix64;

/// What every instance of one plugin shares.
pub(crate) struct PluginCore {
    pub(crate) runtime: Arc<RuntimeInner>,
    pub(crate) pre: ScenarioPre<PluginState>,
    pub(crate) label: String,
    pub(crate) sha256: String,
    pub(crate) seed: u64,
}

/// A loaded, validated scenario plugin. Cheap to clone; instantiate once per worker.
#[derive(Clone)]
pub struct ScenarioPlugin {
    core: Arc<PluginCore>,
    grants: Arc<Grants>,
    descriptor: Arc<Descriptor>,
}

impl ScenarioPlugin {
    pub(crate) async fn describe_and_build(
        core: PluginCore,
        loading: Arc<Grants>,
        secrets: Arc<Secrets>,
    ) -> Result<Self, PluginError> {
        let core = Arc::new(core);
        let mut instance = ScenarioInstance::new(Arc::clone(&core), loading, 0).await?;
        let descriptor = instance.describe().await?;
        validate(&descriptor).map_err(|reason| PluginError::Descriptor {
            plugin: core.label.clone(),
            reason,
        })?;
        let grants = Arc::new(Grants {
            plugin: descriptor.name.clone(),
            declared: descriptor.secrets.iter().cloned().collect::<BTreeSet<_>>(),
            secrets,
        });
        Ok(ScenarioPlugin {
            core,
            grants,
            descriptor: Arc::new(descriptor),
        })
    }

    /// The same plugin, granted `secrets` (of which it sees only those it declared).
    pub fn with_secrets(&self, secrets: Arc<Secrets>) -> ScenarioPlugin {
        ScenarioPlugin {
            core: Arc::clone(&self.core),
            grants: Arc::new(Grants {
                plugin: self.grants.plugin.clone(),
                declared: self.grants.declared.clone(),
                secrets,
            }),
            descriptor: Arc::clone(&self.descriptor),
        }
    }

    /// What the plugin said about itself.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// Where the plugin came from (`builtin:NAME` or a path).
    pub fn source(&self) -> &str {
        &self.core.label
    }

    /// SHA-256 of the component's bytes, lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.core.sha256
    }

    /// A fresh instance for one worker, with its own store and random sequence.
    pub async fn instantiate(&self, worker: u32) -> Result<ScenarioInstance, PluginError> {
        ScenarioInstance::new(Arc::clone(&self.core), Arc::clone(&self.grants), worker).await
    }
}

/// One instance of a scenario plugin, owned by one worker. After a failed
/// call the instance is replaced by a fresh one before the next call.
pub struct ScenarioInstance {
    core: Arc<PluginCore>,
    grants: Arc<Grants>,
    worker: u32,
    store: Store<PluginState>,
    bindings: Scenario,
    poisoned: bool,
}

impl ScenarioInstance {
    async fn new(
        core: Arc<PluginCore>,
        grants: Arc<Grants>,
        worker: u32,
    ) -> Result<Self, PluginError> {
        let (store, bindings) = instantiate(&core, &grants, worker).await?;
        Ok(ScenarioInstance {
            core,
            grants,
            worker,
            store,
            bindings,
            poisoned: false,
        })
    }

    /// Asks the plugin to describe itself.
    pub async fn describe(&mut self) -> Result<Descriptor, PluginError> {
        self.prepare().await?;
        let result = self.bindings.call_describe(&mut self.store).await;
        self.finish("describe", result)
    }

    /// How the requests of `stage` are built.
    pub async fn plan(&mut self, stage: &Stage) -> Result<RequestPlan, PluginError> {
        self.prepare().await?;
        let result = self.bindings.call_plan(&mut self.store, stage).await;
        self.finish("plan", result)
    }

    /// Builds one request.
    pub async fn build_request(&mut self, ctx: &CallContext) -> Result<Request, PluginError> {
        self.prepare().await?;
        let result = self.bindings.call_build_request(&mut self.store, ctx).await;
        self.finish("build-request", result)
    }

    /// Judges one response.
    pub async fn judge(&mut self, summary: ResponseSummary) -> Result<Verdict, PluginError> {
        self.prepare().await?;
        let result = self.bindings.call_judge(&mut self.store, summary).await;
        self.finish("judge", result)
    }

    /// Replaces a poisoned instance and arms the call deadline.
    async fn prepare(&mut self) -> Result<(), PluginError> {
        if self.poisoned {
            let (store, bindings) = instantiate(&self.core, &self.grants, self.worker).await?;
            self.store = store;
            self.bindings = bindings;
            self.poisoned = false;
        }
        let ticks = self.core.runtime.limits.deadline_ticks();
        self.store.set_epoch_deadline(ticks);
        Ok(())
    }

    fn finish<T>(
        &mut self,
        call: &'static str,
        result: wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        result.map_err(|error| {
            self.poisoned = true;
            let limits = self.core.runtime.limits;
            call_error(&self.grants.plugin, call, &error, &mut self.store, &limits)
        })
    }
}

async fn instantiate(
    core: &PluginCore,
    grants: &Arc<Grants>,
    worker: u32,
) -> Result<(Store<PluginState>, Scenario), PluginError> {
    let limits = core.runtime.limits;
    let seed = SplitMix64::derive(core.seed, u64::from(worker));
    let state = PluginState::new(Arc::clone(grants), &limits, seed);
    let mut store = Store::new(core.runtime.sandbox.engine(), state);
    store.limiter(|state| &mut state.memory);
    store.epoch_deadline_trap();
    // Instantiation runs guest code: it gets a deadline too.
    store.set_epoch_deadline(limits.deadline_ticks());
    match core.pre.instantiate_async(&mut store).await {
        Ok(bindings) => Ok((store, bindings)),
        Err(error) => Err(call_error(
            &grants.plugin,
            "instantiate",
            &error,
            &mut store,
            &limits,
        )),
    }
}

/// Classifies a failed guest call by what the sandbox saw, not by message text.
fn call_error(
    plugin: &str,
    call: &'static str,
    error: &wasmtime::Error,
    store: &mut Store<PluginState>,
    limits: &Limits,
) -> PluginError {
    let fault = if store.data_mut().memory.take_hit() {
        PluginFault::Memory(limits.memory_mib())
    } else if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        PluginFault::Deadline(limits.deadline)
    } else {
        PluginFault::Trap(root_cause(error))
    };
    PluginError::Call {
        plugin: plugin.to_string(),
        call,
        fault,
    }
}

/// Checks what a plugin said about itself.
fn validate(d: &Descriptor) -> Result<(), String> {
    let snake = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    if !snake(&d.name) {
        return Err(format!(
            "name {:?} must be snake_case (a-z, 0-9, _), starting with a letter",
            d.name
        ));
    }
    semver::Version::parse(&d.version)
        .map_err(|e| format!("version {:?} is not a semantic version: {e}", d.version))?;
    if !d.endpoint.starts_with('/') {
        return Err(format!("endpoint {:?} must start with '/'", d.endpoint));
    }
    if d.expected_statuses.is_empty() {
        return Err("expected-statuses is empty".into());
    }
    if let Some(bad) = d
        .expected_statuses
        .iter()
        .find(|s| !(100..=599).contains(*s))
    {
        return Err(format!("expected status {bad} is not in 100..=599"));
    }
    if let Some(bad) = d.secrets.iter().find(|s| {
        s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    }) {
        return Err(format!("secret name {bad:?} must be UPPER_SNAKE_CASE"));
    }
    if d.default_stages.is_empty() {
        return Err("default-stages is empty".into());
    }
    for stage in &d.default_stages {
        validate_stage(stage).map_err(|e| format!("default stage {:?}: {e}", stage.name))?;
    }
    Ok(())
}

fn validate_stage(stage: &Stage) -> Result<(), String> {
    if stage.name.is_empty() {
        return Err("name is empty".into());
    }
    if stage.duration_ms == 0 {
        return Err("duration-ms must be > 0".into());
    }
    if stage.ramp_ms > stage.duration_ms {
        return Err("ramp-ms must not exceed duration-ms".into());
    }
    match stage.load {
        Load::Rate(rate) if !(rate.is_finite() && rate > 0.0) => {
            Err(format!("rate {rate} must be a finite number > 0"))
        }
        Load::Concurrency(0) => Err("concurrency must be >= 1".into()),
        _ => Ok(()),
    }
}
