//! SLO evaluators: checks from a scenario's figures and the policy's
//! thresholds, computed under fuel so that verdicts are reproducible.

use std::sync::Arc;

pub use super::bindings::slo::relhost::plugin::slo_types::{
    Comparator, EvaluatorInfo, ScenarioSummary, SeriesPoint, SloCheck, Unit,
};
use super::bindings::slo::{SloEvaluator, SloEvaluatorPre};
use super::error::{PluginError, PluginFault};
use super::instance::{Instance, PluginCore, world};
use super::secrets::Secrets;
use super::state::Grants;

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
            Arc::new(Grants {
                plugin: plugin.to_string(),
                declared: Default::default(),
                secrets: Arc::new(Secrets::default()),
            })
        };
        let mut instance = Instance::new(Arc::clone(&core), grants(&core.label), 0).await?;
        let (bindings, store) = instance.prepare().await?;
        let result = bindings.call_describe(store).await;
        let info = instance.finish("describe", result)?;
        let snake = !info.name.is_empty()
            && info.name.starts_with(|c: char| c.is_ascii_lowercase())
            && info
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !snake {
            return Err(PluginError::Descriptor {
                plugin: core.label.clone(),
                reason: format!("name {:?} must be snake_case", info.name),
            });
        }
        semver::Version::parse(&info.version).map_err(|e| PluginError::Descriptor {
            plugin: core.label.clone(),
            reason: format!("version {:?} is not a semantic version: {e}", info.version),
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

    /// Where the plugin came from (`builtin:NAME` or a path).
    pub fn source(&self) -> &str {
        &self.core.label
    }

    /// SHA-256 of the component's bytes, lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.core.sha256
    }

    /// Checks `summary` against `thresholds`, in a fresh instance.
    pub async fn evaluate(
        &self,
        summary: &ScenarioSummary,
        thresholds: &[(String, f64)],
    ) -> Result<Vec<SloCheck>, PluginError> {
        let mut instance =
            Instance::new(Arc::clone(&self.core), Arc::clone(&self.grants), 0).await?;
        let (bindings, store) = instance.prepare().await?;
        let result = bindings.call_evaluate(store, summary, thresholds).await;
        let checks = instance.finish("evaluate", result)?;
        if let Some(bad) = checks
            .iter()
            .find(|c| c.name.is_empty() || !c.observed.is_finite() || !c.threshold.is_finite())
        {
            return Err(PluginError::Call {
                plugin: self.info.name.clone(),
                call: "evaluate",
                fault: PluginFault::Contract(format!(
                    "check {:?} has an empty name or a value that is not a finite number",
                    bad.name
                )),
            });
        }
        Ok(checks)
    }
}
