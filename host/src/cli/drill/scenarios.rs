//! Which scenarios a drill runs, with which plugin and which stages.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::error::CliError;
use crate::cli::plugin::registry_error;
use crate::engine::ScenarioSpec;
use crate::plugin::{PluginSource, Runtime, ScenarioPlugin, Secrets, artifacts};
use crate::policy::{Profile, Scale, Stage};
use crate::registry::{self, ResolveOptions};

/// The scenario that the seed's chat scaling flags apply to.
pub(crate) const CHAT_SCENARIO: &str = "chat_stream_http";

/// The plugins a drill may use, by scenario name: the `--plugin` files,
/// and the built-ins, compiled only when a selected scenario needs one.
pub(crate) struct Catalog<'a> {
    runtime: &'a Runtime,
    seed: u64,
    plugins: BTreeMap<String, ScenarioPlugin>,
    external: Vec<String>,
}

impl<'a> Catalog<'a> {
    /// Loads the external plugins: files, or registry references resolved
    /// (pulled, verified and locked) to files; refuses what `resolve.policy` forbids.
    pub(crate) async fn load(
        runtime: &'a Runtime,
        files: &[PathBuf],
        resolve: &ResolveOptions,
        seed: u64,
    ) -> Result<Self, CliError> {
        let none = Arc::new(Secrets::default());
        let mut plugins = BTreeMap::new();
        let mut external = Vec::new();
        for file in files {
            let path = registry::resolve_plugin_ref(file, resolve)
                .await
                .map_err(registry_error)?;
            let plugin = runtime
                .load_scenario(&PluginSource::File(path), Arc::clone(&none), seed)
                .await?;
            resolve
                .policy
                .check(&file.display().to_string(), &plugin.descriptor().secrets)
                .map_err(registry_error)?;
            let name = plugin.descriptor().name.clone();
            if external.contains(&name) {
                return Err(CliError::BadInput(format!(
                    "--plugin {}: scenario {name:?} is already provided by another --plugin",
                    file.display()
                )));
            }
            external.push(name.clone());
            plugins.insert(name, plugin);
        }
        Ok(Catalog {
            runtime,
            seed,
            plugins,
            external,
        })
    }

    /// The plugin of scenario `name`: an external one, or the built-in.
    async fn plugin(&mut self, name: &str) -> Result<Option<ScenarioPlugin>, CliError> {
        if let Some(plugin) = self.plugins.get(name) {
            return Ok(Some(plugin.clone()));
        }
        if !artifacts::BUILTIN_SCENARIOS.contains(&name) && name != artifacts::LOAD_SCENARIO {
            return Ok(None);
        }
        let source = PluginSource::Builtin(name.to_string());
        let plugin = self
            .runtime
            .load_scenario(&source, Arc::new(Secrets::default()), self.seed)
            .await?;
        self.plugins.insert(name.to_string(), plugin.clone());
        Ok(Some(plugin))
    }

    /// Chooses the scenarios: `--scenarios` if given; otherwise the external
    /// plugins if any; otherwise the profile's. Stages come from the profile,
    /// or from the plugin's defaults for a scenario the profile does not list.
    /// The plugins see no secret yet: grant them with [`grant_secrets`].
    pub(crate) async fn select(
        &mut self,
        profile: &Profile,
        requested: Option<&[String]>,
        chat_scale: Scale,
    ) -> Result<Vec<ScenarioSpec>, CliError> {
        let valid: Vec<String> = {
            let mut names: Vec<String> = profile.scenario_names().map(str::to_string).collect();
            names.extend(self.plugins.keys().cloned());
            names.extend(artifacts::BUILTIN_SCENARIOS.iter().map(|s| s.to_string()));
            names.sort_unstable();
            names.dedup();
            names
        };
        let names: Vec<String> = match requested {
            Some(names) => {
                if let Some(unknown) = names.iter().find(|n| !valid.contains(n)) {
                    return Err(CliError::BadInput(format!(
                        "--scenarios: unknown scenario {unknown:?}; valid: {}",
                        valid.join(", ")
                    )));
                }
                names.to_vec()
            }
            None if !self.external.is_empty() => self.external.clone(),
            None => profile.scenario_names().map(str::to_string).collect(),
        };
        let mut specs = Vec::with_capacity(names.len());
        for name in &names {
            let plugin = self.plugin(name).await?.ok_or_else(|| {
                CliError::BadInput(format!(
                    "profile {:?} lists scenario {name:?}, but no plugin provides it; add --plugin=PATH.wasm",
                    profile.name
                ))
            })?;
            let mut stages: Vec<Stage> = match profile.scenario(name) {
                Some(plan) => plan.stages.clone(),
                None => plugin
                    .descriptor()
                    .default_stages
                    .iter()
                    .map(crate::engine::policy_stage)
                    .collect(),
            };
            if name == CHAT_SCENARIO {
                stages = stages.iter().map(|s| s.scaled(chat_scale)).collect();
            }
            specs.push(ScenarioSpec { plugin, stages });
        }
        Ok(specs)
    }
}

/// Grants the selected plugins the secrets they declared (and the
/// built-ins' ones), read from the environment; returns what was read.
pub(crate) fn grant_secrets(specs: &mut [ScenarioSpec], builtin: &[&str]) -> Arc<Secrets> {
    let mut names: Vec<&str> = builtin.to_vec();
    for spec in specs.iter() {
        names.extend(spec.plugin.descriptor().secrets.iter().map(String::as_str));
    }
    let secrets = Arc::new(Secrets::from_env(names));
    for spec in specs.iter_mut() {
        spec.plugin = spec.plugin.with_secrets(Arc::clone(&secrets));
    }
    secrets
}
