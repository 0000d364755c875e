//! What a component is: its world, imports and exports, and what the plugin
//! says about itself when the runtime loads it (`describe` or `configure`).

use std::sync::Arc;

use semver::Version;
use serde::Serialize;
use serde_json::{Value, json};

use super::artifact::{ComponentInfo, PluginKind, PluginManifest, WORLD_VERSION};
use super::error::RegistryError;
use crate::plugin::{PluginError, PluginSource, RotationConfig, Runtime, Secrets};

/// A component, inspected.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// What it is for.
    pub kind: PluginKind,
    /// Its name, as it describes itself.
    pub name: String,
    /// Its version, as it describes itself (not necessarily semver).
    pub version: String,
    /// One line about it.
    pub description: String,
    /// The secrets it declares.
    pub secrets: Vec<String>,
    /// The data directories it reads (payload builders).
    pub data: Vec<String>,
    /// Imports, exports and target world.
    pub component: ComponentInfo,
    /// Lowercase hex sha256 of the component.
    pub sha256: String,
    /// World-specific figures (a scenario's endpoint and statuses, a
    /// rotation's reach, an evaluator's thresholds).
    pub details: Value,
}

impl Inspection {
    /// relhost's manifest for publishing this plugin as `version`.
    pub fn manifest(&self, version: Version) -> PluginManifest {
        PluginManifest {
            name: self.name.clone(),
            version,
            kind: self.kind,
            world: format!("relhost:plugin/{}", self.kind.as_str()),
            world_version: WORLD_VERSION.into(),
            secrets: self.secrets.clone(),
            data_files: self.data.clone(),
            description: self.description.clone(),
        }
    }
}

/// Compiles and loads a component with no secret granted, and reports what it is.
pub async fn inspect(
    runtime: &Runtime,
    source: &PluginSource,
) -> Result<Inspection, RegistryError> {
    let world = runtime.world_of(source)?;
    let kind = PluginKind::of_world(world.world).ok_or_else(|| {
        RegistryError::Plugin(PluginError::Descriptor {
            plugin: source.label(),
            reason: format!("world {} has no plugin kind", world.world),
        })
    })?;
    let component = ComponentInfo {
        exports: world.exports,
        imports: world.imports,
        target: format!("relhost:plugin/{}@{WORLD_VERSION}", world.world),
    };
    let mut data = Vec::new();
    let (name, version, description, secrets, details) = match kind {
        PluginKind::Scenario => {
            let plugin = runtime
                .load_scenario(source, Arc::new(Secrets::default()), 0)
                .await?;
            let d = plugin.descriptor();
            let stages: Vec<&str> = d.default_stages.iter().map(|s| s.name.as_str()).collect();
            let details = json!({
                "endpoint": d.endpoint,
                "expected_statuses": d.expected_statuses,
                "event_stream": d.event_stream,
                "needs_credential": d.needs_credential,
                "judges_responses": d.judges_responses,
                "default_stages": stages,
            });
            (
                d.name.clone(),
                d.version.clone(),
                d.description.clone(),
                d.secrets.clone(),
                details,
            )
        }
        PluginKind::Rotation => {
            let config = RotationConfig {
                pool_size: 1,
                seed: 0,
                stride: None,
            };
            let plugin = runtime.load_rotation(source, config).await?;
            let info = plugin.info();
            let details = json!({
                "reachable_with_pool_of_1": info.reachable,
                "warnings": info.warnings,
            });
            (
                info.name.clone(),
                info.version.clone(),
                format!("auth-pool rotation strategy {}", info.name),
                Vec::new(),
                details,
            )
        }
        PluginKind::SloEvaluator => {
            let plugin = runtime.load_slo_evaluator(source).await?;
            let info = plugin.info();
            let details = json!({ "thresholds": info.thresholds });
            (
                info.name.clone(),
                info.version.clone(),
                format!("SLO evaluator {}", info.name),
                Vec::new(),
                details,
            )
        }
        PluginKind::PayloadBuilder => {
            let info = runtime.describe_payload_builder(source).await?;
            data.clone_from(&info.data);
            let details = json!({ "scenarios": info.scenarios, "data": info.data });
            (
                info.name,
                info.version,
                info.description,
                Vec::new(),
                details,
            )
        }
    };
    Ok(Inspection {
        kind,
        name,
        version,
        description,
        secrets,
        data,
        component,
        sha256: world.sha256,
        details,
    })
}
