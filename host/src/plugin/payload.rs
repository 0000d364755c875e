//! Payload builders: plugins that give a scenario's requests their bodies
//! (and extra headers or query), a batch at a time, optionally from data
//! directories granted read-only for the run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use super::bindings::payload::relhost::plugin::payload_types::{Batch, BuilderInfo, Payload};
use super::bindings::payload::{PayloadBuilder, PayloadBuilderPre};
use super::error::{PluginError, PluginFault};
use super::instance::{Instance, PluginCore, guest_call, world};
use super::secrets::Secrets;
use super::state::{DataDir, Grants};
use super::untrusted;

world!(PayloadBuilder, PayloadBuilderPre, "payload-builder");

/// A loaded payload builder, with its data directories granted. Cheap to
/// clone; instantiate once per worker.
#[derive(Clone)]
pub struct PayloadBuilderPlugin {
    core: Arc<PluginCore<PayloadBuilder>>,
    grants: Arc<Grants>,
    info: Arc<BuilderInfo>,
    data: Arc<Vec<GrantedData>>,
}

/// A data directory as granted: where it is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedData {
    /// The name the builder declared.
    pub name: String,
    /// The directory on the host.
    pub path: PathBuf,
    /// Regular files the builder can read in it (symlinks that stay inside
    /// included), and their bytes in all.
    pub files: u64,
    /// Bytes in all.
    pub bytes: u64,
}

impl PayloadBuilderPlugin {
    /// Describes the builder, checks what it says, and grants the data
    /// directories it declares from `given` (name → directory), each
    /// holding at most `max_data_bytes`.
    pub(crate) async fn describe_and_grant(
        core: PluginCore<PayloadBuilder>,
        given: &[(String, PathBuf)],
        max_data_bytes: u64,
    ) -> Result<Self, PluginError> {
        let core = Arc::new(core);
        let info = describe(&core).await?;
        let data_error = |reason: String| PluginError::Data {
            plugin: info.name.clone(),
            reason,
        };
        let mut data = Vec::with_capacity(info.data.len());
        for name in &info.data {
            let Some((_, path)) = given.iter().find(|(n, _)| n == name) else {
                return Err(data_error(format!(
                    "the builder reads data directory {name:?}: grant it with --plugin-data={name}=DIR"
                )));
            };
            data.push(measure(name, path, max_data_bytes).map_err(data_error)?);
        }
        let dirs = data
            .iter()
            .map(|d| DataDir {
                name: d.name.clone(),
                path: d.path.clone(),
            })
            .collect();
        let grants = Arc::new(
            Grants::new(&info.name, BTreeSet::new(), Arc::new(Secrets::default())).with_data(dirs),
        );
        Ok(PayloadBuilderPlugin {
            core,
            grants,
            info: Arc::new(info),
            data: Arc::new(data),
        })
    }

    /// What a builder says about itself, checked, with nothing granted.
    pub(crate) async fn describe(
        core: PluginCore<PayloadBuilder>,
    ) -> Result<BuilderInfo, PluginError> {
        describe(&Arc::new(core)).await
    }

    /// What the builder said about itself.
    pub fn info(&self) -> &BuilderInfo {
        &self.info
    }

    /// The data directories granted to it.
    pub fn data(&self) -> &[GrantedData] {
        &self.data
    }

    /// A fresh instance for one worker.
    pub async fn instantiate(&self, worker: u32) -> Result<PayloadInstance, PluginError> {
        Ok(PayloadInstance {
            instance: Instance::new(Arc::clone(&self.core), Arc::clone(&self.grants), worker)
                .await?,
            plugin: self.info.name.clone(),
        })
    }
}

super::loaded_plugin!(PayloadBuilderPlugin, "payload-builder", info);

/// One instance of a payload builder, owned by one worker.
pub struct PayloadInstance {
    instance: Instance<PayloadBuilder>,
    plugin: String,
}

impl PayloadInstance {
    /// The payloads of `batch`: exactly `batch.count` of them.
    pub async fn build(&mut self, batch: &Batch) -> Result<Vec<Payload>, PluginError> {
        let built = guest_call!(self.instance, "build", call_build(batch))?;
        let contract = |reason: String| PluginError::Call {
            plugin: self.plugin.clone(),
            call: "build",
            fault: PluginFault::Contract(reason),
        };
        let payloads = built.map_err(|reason| {
            contract(format!(
                "refused the batch: {}",
                untrusted::clean(&reason, untrusted::MAX_TEXT)
            ))
        })?;
        if payloads.len() != batch.count as usize {
            return Err(contract(format!(
                "returned {} payloads for a batch of {}",
                payloads.len(),
                batch.count
            )));
        }
        Ok(payloads)
    }
}

/// Asks a builder to describe itself, granting it nothing, and checks the answer.
async fn describe(core: &Arc<PluginCore<PayloadBuilder>>) -> Result<BuilderInfo, PluginError> {
    let loading = Arc::new(Grants::new(
        &core.label,
        BTreeSet::new(),
        Arc::new(Secrets::default()),
    ));
    let mut instance = Instance::new(Arc::clone(core), loading, 0).await?;
    let info = guest_call!(instance, "describe", call_describe())?;
    validate(&info).map_err(|reason| PluginError::Descriptor {
        plugin: core.label.clone(),
        reason,
    })?;
    Ok(info)
}

/// Checks what a builder said about itself.
fn validate(info: &BuilderInfo) -> Result<(), String> {
    untrusted::check_name(&info.name)?;
    untrusted::check_version(&info.version)?;
    if info.description.len() > untrusted::MAX_TEXT {
        return Err(format!(
            "description is {} bytes long; at most {}",
            info.description.len(),
            untrusted::MAX_TEXT
        ));
    }
    for name in info.scenarios.iter().chain(&info.data) {
        untrusted::check_name(name)?;
    }
    if info.data.len() > 16 {
        return Err(format!("{} data directories; at most 16", info.data.len()));
    }
    Ok(())
}

/// Opens `path` as a capability and counts what a plugin can read in it:
/// regular files, and symlinks that resolve inside it (the sandbox refuses
/// the others). More than `max_bytes` in all is refused.
fn measure(name: &str, path: &Path, max_bytes: u64) -> Result<GrantedData, String> {
    let shown = path.display();
    let root = cap_std::fs::Dir::open_ambient_dir(path, cap_std::ambient_authority())
        .map_err(|e| format!("--plugin-data={name}={shown}: cannot open the directory: {e}"))?;
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut pending: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(dir) = pending.pop() {
        let listed = if dir.as_os_str().is_empty() {
            root.entries()
        } else {
            root.read_dir(&dir)
        };
        let entries = match listed {
            Ok(entries) => entries,
            // Gone since it was listed: nothing to read in it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !dir.as_os_str().is_empty() => {
                continue;
            }
            Err(e) => {
                return Err(format!(
                    "--plugin-data={name}={shown}: cannot list {}: {e}",
                    dir.display()
                ));
            }
        };
        for entry in entries {
            let entry = entry.map_err(|e| format!("--plugin-data={name}={shown}: {e}"))?;
            let relative = dir.join(entry.file_name());
            // Follows symlinks, but only within the directory: one that
            // leads outside fails here as it would for the plugin.
            let Ok(meta) = root.metadata(&relative) else {
                continue;
            };
            if meta.is_dir() {
                if !entry.file_type().is_ok_and(|t| t.is_symlink()) {
                    pending.push(relative);
                }
            } else if meta.is_file() {
                files += 1;
                bytes = bytes.saturating_add(meta.len());
                if bytes > max_bytes {
                    return Err(format!(
                        "data directory {name} ({shown}) holds more than {max_bytes} bytes, what a plugin may read (--plugin-data-max-bytes)"
                    ));
                }
            }
        }
    }
    Ok(GrantedData {
        name: name.to_owned(),
        path: path.to_path_buf(),
        files,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measuring_counts_files_inside_and_caps_the_total() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("a.json"), b"12345").expect("write");
        std::fs::write(dir.path().join("sub/b.json"), b"123").expect("write");
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("secret"), vec![0u8; 1000]).expect("write");
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("leak"))
            .expect("symlink");
        std::os::unix::fs::symlink("a.json", dir.path().join("alias")).expect("symlink");
        let got = measure("corpus", dir.path(), 100).expect("within the cap");
        // a.json, sub/b.json and the alias of a.json; not the leak.
        assert_eq!((got.files, got.bytes), (3, 13));
        let err = measure("corpus", dir.path(), 12).expect_err("over the cap");
        assert!(
            err.contains("holds more than 12 bytes") && err.contains("--plugin-data-max-bytes"),
            "{err}"
        );
        let err = measure("corpus", &dir.path().join("nope"), 100).expect_err("missing");
        assert!(err.starts_with("--plugin-data=corpus="), "{err}");
    }
}
