//! Rotation strategies: which credential of the pool each request uses.

use std::sync::Arc;

pub use super::bindings::rotation::relhost::plugin::rotation_types::{
    RotationConfig, RotationInfo,
};
use super::bindings::rotation::{Rotation, RotationPre};
use super::error::{PluginError, PluginFault};
use super::instance::{Instance, PluginCore, guest_call, world};
use super::secrets::Secrets;
use super::state::Grants;
use super::untrusted;

world!(Rotation, RotationPre, "rotation");

/// A loaded rotation strategy, configured for one pool. Cheap to clone;
/// instantiate once per worker.
#[derive(Clone)]
pub struct RotationPlugin {
    core: Arc<PluginCore<Rotation>>,
    grants: Arc<Grants>,
    config: RotationConfig,
    info: Arc<RotationInfo>,
}

impl RotationPlugin {
    pub(crate) async fn configure(
        core: PluginCore<Rotation>,
        config: RotationConfig,
    ) -> Result<Self, PluginError> {
        let core = Arc::new(core);
        let grants = Arc::new(Grants::new(
            &core.label,
            Default::default(),
            Arc::new(Secrets::default()),
        ));
        let mut instance = Instance::new(Arc::clone(&core), Arc::clone(&grants), 0).await?;
        let info = configure(&mut instance, &core.label, config).await?;
        let grants = Arc::new(Grants::new(
            &info.name,
            Default::default(),
            Arc::new(Secrets::default()),
        ));
        Ok(RotationPlugin {
            core,
            grants,
            config,
            info: Arc::new(info),
        })
    }

    /// What the configured strategy said about itself.
    pub fn info(&self) -> &RotationInfo {
        &self.info
    }

    /// A configured instance for one worker.
    pub async fn instantiate(&self, worker: u32) -> Result<RotationInstance, PluginError> {
        let mut instance =
            Instance::new(Arc::clone(&self.core), Arc::clone(&self.grants), worker).await?;
        configure(&mut instance, &self.info.name, self.config).await?;
        Ok(RotationInstance {
            instance,
            config: self.config,
            plugin: self.info.name.clone(),
        })
    }
}

super::loaded_plugin!(RotationPlugin, "rotation", info);

async fn configure(
    instance: &mut Instance<Rotation>,
    plugin: &str,
    config: RotationConfig,
) -> Result<RotationInfo, PluginError> {
    let info = guest_call!(*instance, "configure", call_configure(config))?;
    let mut info = info.map_err(|reason| PluginError::Config {
        plugin: plugin.to_string(),
        reason: untrusted::clean(&reason, untrusted::MAX_TEXT),
    })?;
    untrusted::check_name(&info.name)
        .and_then(|()| untrusted::check_version(&info.version))
        .map_err(|reason| PluginError::Descriptor {
            plugin: plugin.to_string(),
            reason,
        })?;
    info.warnings = untrusted::clean_all(&info.warnings);
    if info.reachable == 0 || info.reachable > config.pool_size {
        return Err(PluginError::Config {
            plugin: plugin.to_string(),
            reason: format!(
                "says it reaches {} entries of a pool of {}",
                info.reachable, config.pool_size
            ),
        });
    }
    Ok(info)
}

/// One worker's instance of a rotation strategy.
pub struct RotationInstance {
    instance: Instance<Rotation>,
    config: RotationConfig,
    plugin: String,
}

impl RotationInstance {
    /// Pool indices for requests `first`, `first + step`, ... (`count` of them),
    /// each checked to be inside the pool.
    pub async fn pick(
        &mut self,
        first: u64,
        step: u64,
        count: u32,
    ) -> Result<Vec<u32>, PluginError> {
        let picks = guest_call!(self.instance, "pick", call_pick(first, step, count))?;
        let broke = |what: String| PluginError::Call {
            plugin: self.plugin.clone(),
            call: "pick",
            fault: PluginFault::Contract(what),
        };
        if picks.len() != count as usize {
            return Err(broke(format!(
                "returned {} indices for {count} requests",
                picks.len()
            )));
        }
        if let Some(bad) = picks.iter().find(|i| **i >= self.config.pool_size) {
            return Err(broke(format!(
                "returned index {bad} for a pool of {}",
                self.config.pool_size
            )));
        }
        Ok(picks)
    }
}
