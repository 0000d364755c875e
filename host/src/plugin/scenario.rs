//! Scenario plugins: the loaded plugin (shared) and its per-worker instances.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::bindings::scenario::relhost::plugin::scenario_types::{
    CallContext, Descriptor, RequestPlan, ResponseSummary, Verdict,
};
use super::bindings::scenario::relhost::plugin::types::{Load, Request, Stage};
use super::bindings::scenario::{Scenario, ScenarioPre};
use super::error::PluginError;
use super::instance::{Instance, PluginCore, guest_call, world};
use super::secrets::Secrets;
use super::state::Grants;
use super::untrusted;

world!(Scenario, ScenarioPre, "scenario");

/// A loaded, validated scenario plugin. Cheap to clone; instantiate once per worker.
#[derive(Clone)]
pub struct ScenarioPlugin {
    core: Arc<PluginCore<Scenario>>,
    grants: Arc<Grants>,
    descriptor: Arc<Descriptor>,
}

impl ScenarioPlugin {
    pub(crate) async fn describe_and_build(
        core: PluginCore<Scenario>,
        loading: Arc<Grants>,
        secrets: Arc<Secrets>,
    ) -> Result<Self, PluginError> {
        let core = Arc::new(core);
        let mut instance = ScenarioInstance(Instance::new(Arc::clone(&core), loading, 0).await?);
        let descriptor = instance.describe().await?;
        validate(&descriptor).map_err(|reason| PluginError::Descriptor {
            plugin: core.label.clone(),
            reason,
        })?;
        let grants = Arc::new(Grants::new(
            &descriptor.name,
            descriptor.secrets.iter().cloned().collect::<BTreeSet<_>>(),
            secrets,
        ));
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
            grants: Arc::new(Grants::new(
                &self.grants.plugin,
                self.grants.declared.clone(),
                secrets,
            )),
            descriptor: Arc::clone(&self.descriptor),
        }
    }

    /// What the plugin said about itself.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// A fresh instance for one worker, with its own store and random sequence.
    pub async fn instantiate(&self, worker: u32) -> Result<ScenarioInstance, PluginError> {
        Ok(ScenarioInstance(
            Instance::new(Arc::clone(&self.core), Arc::clone(&self.grants), worker).await?,
        ))
    }
}

super::loaded_plugin!(ScenarioPlugin, "scenario", descriptor);

/// One instance of a scenario plugin, owned by one worker. After a failed
/// call the instance is replaced by a fresh one before the next call.
pub struct ScenarioInstance(Instance<Scenario>);

impl ScenarioInstance {
    /// Asks the plugin to describe itself.
    pub async fn describe(&mut self) -> Result<Descriptor, PluginError> {
        guest_call!(self.0, "describe", call_describe())
    }

    /// How the requests of `stage` are built.
    pub async fn plan(&mut self, stage: &Stage) -> Result<RequestPlan, PluginError> {
        guest_call!(self.0, "plan", call_plan(stage))
    }

    /// Builds one request.
    pub async fn build_request(&mut self, ctx: &CallContext) -> Result<Request, PluginError> {
        guest_call!(self.0, "build-request", call_build_request(ctx))
    }

    /// Judges one response.
    pub async fn judge(&mut self, summary: ResponseSummary) -> Result<Verdict, PluginError> {
        guest_call!(self.0, "judge", call_judge(summary))
    }
}

/// Checks what a plugin said about itself.
fn validate(d: &Descriptor) -> Result<(), String> {
    untrusted::check_name(&d.name)?;
    untrusted::check_version(&d.version)?;
    let long = |field: &str, text: &str, max: usize| {
        (text.len() > max).then(|| format!("{field} is {} bytes long; at most {max}", text.len()))
    };
    if let Some(problem) = long("description", &d.description, untrusted::MAX_TEXT)
        .or_else(|| long("endpoint", &d.endpoint, untrusted::MAX_LABEL))
    {
        return Err(problem);
    }
    if d.description
        .chars()
        .chain(d.endpoint.chars())
        .any(char::is_control)
    {
        return Err("description and endpoint must not hold control characters".into());
    }
    if !d.endpoint.starts_with('/') {
        return Err(format!(
            "endpoint {:?} must start with '/'",
            untrusted::clean(&d.endpoint, untrusted::MAX_LABEL)
        ));
    }
    if d.secrets.len() > untrusted::MAX_ITEMS || d.default_stages.len() > untrusted::MAX_ITEMS {
        return Err(format!(
            "{} secrets and {} default stages; at most {} of each",
            d.secrets.len(),
            d.default_stages.len(),
            untrusted::MAX_ITEMS
        ));
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
            || s.len() > untrusted::MAX_NAME
            || !s
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    }) {
        return Err(format!(
            "secret name {:?} must be UPPER_SNAKE_CASE, at most {} bytes",
            untrusted::clean(bad, untrusted::MAX_NAME),
            untrusted::MAX_NAME
        ));
    }
    if d.default_stages.is_empty() {
        return Err("default-stages is empty".into());
    }
    for stage in &d.default_stages {
        validate_stage(stage).map_err(|e| {
            format!(
                "default stage {:?}: {e}",
                untrusted::clean(&stage.name, untrusted::MAX_NAME)
            )
        })?;
    }
    Ok(())
}

fn validate_stage(stage: &Stage) -> Result<(), String> {
    if stage.name.is_empty()
        || stage.name.len() > untrusted::MAX_NAME
        || stage.name.chars().any(char::is_control)
    {
        return Err(format!(
            "name must be 1 to {} bytes long, without control characters",
            untrusted::MAX_NAME
        ));
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
