//! Which scenarios a drill runs, with which plugin and which stages.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::DrillError;
use crate::engine::ScenarioSpec;
use crate::plugin::{PluginSource, Runtime, ScenarioPlugin, Secrets, artifacts};
use crate::policy::{MAX_DURATION, Profile, Scale, Stage};
use crate::registry::{self, ResolveOptions};

/// The scenario that the seed's chat scaling flags apply to.
pub const CHAT_SCENARIO: &str = "chat_stream_http";

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
    ) -> Result<Self, DrillError> {
        let none = Arc::new(Secrets::default());
        let mut plugins = BTreeMap::new();
        let mut external = Vec::new();
        for file in files {
            let path = registry::resolve_plugin_ref(file, resolve).await?;
            let plugin = runtime
                .load_scenario(&PluginSource::File(path), Arc::clone(&none), seed)
                .await?;
            resolve
                .policy
                .check(&file.display().to_string(), &plugin.descriptor().secrets)?;
            let name = plugin.descriptor().name.clone();
            if external.contains(&name) {
                return Err(DrillError::Invalid(format!(
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
    async fn plugin(&mut self, name: &str) -> Result<Option<ScenarioPlugin>, DrillError> {
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
    ) -> Result<Vec<ScenarioSpec>, DrillError> {
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
                    return Err(DrillError::Invalid(format!(
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
                DrillError::Invalid(format!(
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
                if let Some(long) = stages.iter().find(|s| s.duration > MAX_DURATION) {
                    return Err(DrillError::Invalid(format!(
                        "--chat-duration-scale={}: stage {:?} of {name} would last {}; at most {}",
                        chat_scale.duration,
                        long.name,
                        humantime::format_duration(long.duration),
                        humantime::format_duration(MAX_DURATION)
                    )));
                }
            }
            specs.push(ScenarioSpec {
                plugin,
                stages,
                payload: None,
            });
        }
        Ok(specs)
    }
}

/// Secrets a plugin that declares them is granted without `--allow-secret`:
/// the ones the seed documents for its scenarios.
pub const DOCUMENTED_SECRETS: &[&str] = &["WHATSAPP_APP_SECRET", "GMAIL_PUBSUB_VERIFY_TOKEN"];

/// relhost's own credentials: never granted to a plugin, whatever it
/// declares and whatever the operator allows.
pub const OWN_CREDENTIALS: &[&str] = &[
    "RELIABILITY_OPS_TOKEN",
    "RELIABILITY_AUTH_TOKEN",
    "RELIABILITY_CHAT_AUTH_POOL_JSON",
    "RELHOST_REGISTRY_USERNAME",
    "RELHOST_REGISTRY_PASSWORD",
    "CONVEX_DEPLOY_KEY",
];

/// Checks an `--allow-secret` name: an environment variable that is not
/// one of relhost's own credentials.
pub fn allowed_secret(name: &str) -> Result<String, String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        return Err("expected an environment variable name like MY_APP_SECRET".into());
    }
    if OWN_CREDENTIALS.contains(&name) {
        return Err(format!(
            "{name} is one of relhost's own credentials and is never granted to a plugin"
        ));
    }
    Ok(name.to_string())
}

/// Grants the selected plugins the secrets they declared, as far as the
/// run allows them: the documented ones and `allowed` (`--allow-secret`),
/// read from the environment. Returns what was read, and a warning for
/// every declared secret that is not granted.
pub(crate) fn grant_secrets(
    specs: &mut [ScenarioSpec],
    allowed: &[String],
) -> (Arc<Secrets>, Vec<String>) {
    let grantable =
        |name: &str| DOCUMENTED_SECRETS.contains(&name) || allowed.iter().any(|a| a == name);
    let mut names: Vec<&str> = Vec::new();
    let mut warnings = Vec::new();
    for spec in specs.iter() {
        let d = spec.plugin.descriptor();
        for secret in &d.secrets {
            if OWN_CREDENTIALS.contains(&secret.as_str()) {
                warnings.push(format!(
                    "{}: declares secret {secret}, one of relhost's own credentials, which no plugin is granted",
                    d.name
                ));
            } else if grantable(secret) {
                names.push(secret);
            } else {
                warnings.push(format!(
                    "{}: declares secret {secret}, which this run does not grant (allow it with --allow-secret={secret})",
                    d.name
                ));
            }
        }
    }
    let secrets = Arc::new(Secrets::from_env(names));
    for spec in specs.iter_mut() {
        spec.plugin = spec.plugin.with_secrets(Arc::clone(&secrets));
    }
    (secrets, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_credentials_cannot_be_allowed() {
        assert_eq!(allowed_secret("MY_SECRET"), Ok("MY_SECRET".to_string()));
        assert!(allowed_secret("RELHOST_REGISTRY_PASSWORD").is_err());
        assert!(allowed_secret("my-secret").is_err());
    }
}
