//! SLO evaluators: checks from a scenario's figures and the policy's
//! thresholds, computed under fuel so that verdicts are reproducible.

use std::sync::Arc;

pub use super::bindings::slo::relhost::plugin::slo_types::{
    Comparator, EvaluatorInfo, ScenarioSummary, SeriesPoint, SloCheck, Unit,
};
use super::bindings::slo::{SloEvaluator, SloEvaluatorPre};
use super::error::{PluginError, PluginFault};
use super::instance::{Instance, PluginCore, guest_call, world};
use super::secrets::Secrets;
use super::state::Grants;
use super::untrusted;

world!(SloEvaluator, SloEvaluatorPre, "slo-evaluator", fueled);

/// A loaded SLO evaluator. Every evaluation runs in a fresh instance.
#[derive(Clone)]
pub struct SloEvaluatorPlugin {
    core: Arc<PluginCore<SloEvaluator>>,
    grants: Arc<Grants>,
    info: Arc<EvaluatorInfo>,
}

impl SloEvaluatorPlugin {
    pub(crate) async fn describe_and_build(
        core: PluginCore<SloEvaluator>,
    ) -> Result<Self, PluginError> {
        let core = Arc::new(core);
        let grants = |plugin: &str| {
            Arc::new(Grants::new(
                plugin,
                Default::default(),
                Arc::new(Secrets::default()),
            ))
        };
        let mut instance = Instance::new(Arc::clone(&core), grants(&core.label), 0).await?;
        let info = guest_call!(instance, "describe", call_describe())?;
        untrusted::check_name(&info.name)
            .and_then(|()| untrusted::check_version(&info.version))
            .map_err(|reason| PluginError::Descriptor {
                plugin: core.label.clone(),
                reason,
            })?;
        Ok(SloEvaluatorPlugin {
            grants: grants(&info.name),
            core,
            info: Arc::new(info),
        })
    }

    /// What the evaluator said about itself.
    pub fn info(&self) -> &EvaluatorInfo {
        &self.info
    }

    /// Checks `summary` against `thresholds`, in a fresh instance.
    pub async fn evaluate(
        &self,
        summary: &ScenarioSummary,
        thresholds: &[(String, f64)],
    ) -> Result<Vec<SloCheck>, PluginError> {
        let mut instance =
            Instance::new(Arc::clone(&self.core), Arc::clone(&self.grants), 0).await?;
        let mut checks = guest_call!(instance, "evaluate", call_evaluate(summary, thresholds))?;
        let broke = |what: String| PluginError::Call {
            plugin: self.info.name.clone(),
            call: "evaluate",
            fault: PluginFault::Contract(what),
        };
        if checks.len() > untrusted::MAX_ITEMS {
            return Err(broke(format!(
                "returned {} checks; at most {} are allowed",
                checks.len(),
                untrusted::MAX_ITEMS
            )));
        }
        if let Some(bad) = checks
            .iter()
            .find(|c| c.name.is_empty() || !c.observed.is_finite() || !c.threshold.is_finite())
        {
            return Err(broke(format!(
                "check {:?} has an empty name or a value that is not a finite number",
                untrusted::clean(&bad.name, untrusted::MAX_LABEL)
            )));
        }
        for check in &mut checks {
            check.name = untrusted::clean(&check.name, untrusted::MAX_LABEL);
            check.message = check
                .message
                .as_deref()
                .map(|m| untrusted::clean(m, untrusted::MAX_TEXT));
        }
        Ok(checks)
    }
}

super::loaded_plugin!(SloEvaluatorPlugin, "slo-evaluator", info);
