//! `--payload-plugin` and `--plugin-data`: the payload builders a drill's
//! scenarios use, and the data directories granted to them.

use std::path::{Path, PathBuf};

use super::DrillError;
use crate::engine::ScenarioSpec;
use crate::plugin::{PluginSource, Runtime, artifacts};
use crate::registry::{self, ResolveOptions};

/// The payload builders asked for and the data offered to them.
pub(crate) struct PayloadBuilders<'a> {
    /// `SCENARIO=SOURCE` pairs.
    pub(crate) given: &'a [(String, String)],
    /// `NAME=DIR` pairs.
    pub(crate) data: &'a [(String, String)],
    /// Most bytes a data directory may hold.
    pub(crate) max_data_bytes: u64,
}

impl PayloadBuilders<'_> {
    /// Loads each builder, grants it the data it declares, and attaches it
    /// to its scenario. Returns warnings (data offered that no builder reads).
    pub(crate) async fn attach(
        &self,
        runtime: &Runtime,
        specs: &mut [ScenarioSpec],
        resolve: &ResolveOptions,
        seed: u64,
    ) -> Result<Vec<String>, DrillError> {
        let bad = DrillError::Invalid;
        let mut data: Vec<(String, PathBuf)> = Vec::with_capacity(self.data.len());
        for (name, dir) in self.data {
            if data.iter().any(|(n, _)| n == name) {
                return Err(bad(format!("--plugin-data: {name:?} is given twice")));
            }
            data.push((name.clone(), PathBuf::from(dir)));
        }
        let mut read = Vec::new();
        for (scenario, value) in self.given {
            let drilled: Vec<String> = specs
                .iter()
                .map(|s| s.plugin.descriptor().name.clone())
                .collect();
            let Some(spec) = specs
                .iter_mut()
                .find(|s| &s.plugin.descriptor().name == scenario)
            else {
                return Err(bad(format!(
                    "--payload-plugin={scenario}=…: scenario {scenario:?} is not drilled; drilled: {}",
                    drilled.join(", ")
                )));
            };
            if spec.payload.is_some() {
                return Err(bad(format!(
                    "--payload-plugin: scenario {scenario:?} is given two payload builders"
                )));
            }
            let (source, published) = source(value, resolve).await?;
            // The operator's --plugin-data wins over what was published.
            let mut granted = data.clone();
            for (name, dir) in published {
                if !granted.iter().any(|(n, _)| *n == name) {
                    granted.push((name, dir));
                }
            }
            let builder = runtime
                .load_payload_builder(&source, &granted, self.max_data_bytes, seed)
                .await?;
            let info = builder.info();
            if !info.scenarios.is_empty() && !info.scenarios.contains(scenario) {
                return Err(bad(format!(
                    "--payload-plugin={scenario}={value}: builder {} builds for {}, not {scenario}",
                    info.name,
                    info.scenarios.join(", ")
                )));
            }
            read.extend(info.data.iter().cloned());
            spec.payload = Some(builder);
        }
        Ok(data
            .iter()
            .filter(|(name, _)| !read.contains(name))
            .map(|(name, _)| format!("--plugin-data={name}=…: no payload builder reads it"))
            .collect())
    }
}

/// Where a builder comes from — a built-in's name (when no file of that
/// name exists), a registry reference, or a file — and the data
/// directories published with it.
async fn source(
    value: &str,
    resolve: &ResolveOptions,
) -> Result<(PluginSource, Vec<(String, PathBuf)>), DrillError> {
    if artifacts::BUILTIN_PAYLOAD_BUILDERS.contains(&value) && !Path::new(value).exists() {
        return Ok((PluginSource::Builtin(value.to_owned()), Vec::new()));
    }
    let (path, data) = registry::resolve_plugin_with_data(Path::new(value), resolve).await?;
    Ok((PluginSource::File(path), data))
}
