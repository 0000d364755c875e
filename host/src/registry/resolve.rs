//! Push, list and resolve: the same operations on the local directory
//! registry and on OCI registries, with the lock file and the cache.

use std::collections::BTreeMap;
use std::path::PathBuf;

use semver::Version;

use super::ResolveOptions;
use super::artifact::{
    Artifact, OciManifest, digest_of, not_a_component, parse_digest, sha256_hex,
};
use super::cache::Cache;
use super::error::RegistryError;
use super::local::LocalRegistry;
use super::lock::{LockEntry, LockFile};
use super::reference::{Reference, RegistryLocation, Selector, tag_of};
use super::remote::RemoteRegistry;

/// A registry opened for one reference.
enum Store {
    Local(LocalRegistry),
    Remote(Box<RemoteRegistry>),
}

impl Store {
    fn open(reference: &Reference, options: &ResolveOptions) -> Result<Store, RegistryError> {
        Ok(match &reference.registry {
            RegistryLocation::Local => Store::Local(LocalRegistry::new(&options.registry_dir)),
            RegistryLocation::Oci(host) => Store::Remote(Box::new(RemoteRegistry::new(
                host,
                reference.to_string(),
                options.ca_cert.clone(),
            )?)),
        })
    }

    async fn tags(&self, reference: &Reference) -> Result<Vec<String>, RegistryError> {
        let tags = match self {
            Store::Local(local) => local.tags(&reference.repository)?,
            Store::Remote(remote) => remote.tags(&reference.repository).await?,
        };
        if tags.is_empty() {
            return Err(RegistryError::UnknownRepository {
                reference: reference.to_string(),
            });
        }
        Ok(tags)
    }

    async fn manifest(
        &self,
        reference: &Reference,
        tag: &str,
    ) -> Result<OciManifest, RegistryError> {
        let found = match self {
            Store::Local(local) => local.manifest(&reference.repository, tag)?,
            Store::Remote(remote) => remote.manifest(&reference.repository, tag).await?,
        };
        let (bytes, digest) = found.ok_or_else(|| RegistryError::UnknownTag {
            reference: reference.to_string(),
            version: tag.to_string(),
        })?;
        let actual = digest_of(&bytes);
        if actual != digest {
            return Err(RegistryError::Tampered {
                reference: reference.to_string(),
                expected: digest,
                actual: sha256_hex(&bytes),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| RegistryError::NotWasmArtifact {
            reference: reference.to_string(),
            reason: format!("the manifest is not an OCI image manifest ({e})"),
        })
    }

    async fn blob(&self, reference: &Reference, digest: &str) -> Result<Vec<u8>, RegistryError> {
        match self {
            Store::Local(local) => local.blob(digest),
            Store::Remote(remote) => remote.blob(&reference.repository, digest).await,
        }
    }
}

/// What a reference resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The version chosen.
    pub version: Version,
    /// Lowercase hex sha256 of the component.
    pub sha256: String,
    /// The verified component in the cache.
    pub path: PathBuf,
    /// Its data layers, verified and unpacked in the cache: each
    /// directory's name and path.
    pub data: Vec<(String, PathBuf)>,
    /// Whether the lock file was written.
    pub lock_updated: bool,
    /// Whether the component came from the cache without a download.
    pub from_cache: bool,
}

/// Publishes `artifact` as `reference` (which must name one version).
/// Refuses to replace a published version unless `force`. Returns the
/// manifest digest.
pub async fn push(
    reference: &Reference,
    artifact: &Artifact,
    options: &ResolveOptions,
    force: bool,
) -> Result<String, RegistryError> {
    let Selector::Exact(version) = &reference.selector else {
        return Err(RegistryError::BadReference {
            reference: reference.to_string(),
            reason: "push needs one version: NS/NAME:VERSION (semver, e.g. 1.2.3)".into(),
        });
    };
    let tag = tag_of(version).map_err(|reason| RegistryError::BadReference {
        reference: reference.to_string(),
        reason,
    })?;
    match Store::open(reference, options)? {
        Store::Local(local) => {
            if !force
                && local.tags(&reference.repository)?.contains(&tag)
                && let Some((_, digest)) = local.manifest(&reference.repository, &tag)?
            {
                return Err(RegistryError::AlreadyPublished {
                    reference: reference.to_string(),
                    version: tag,
                    digest,
                });
            }
            local.push(&reference.repository, &tag, artifact)
        }
        Store::Remote(remote) => {
            remote
                .push(&reference.repository, &tag, artifact, force)
                .await
        }
    }
}

/// The published semver versions of the reference's repository, ascending
/// (tags that are not semver are left out).
pub async fn list(
    reference: &Reference,
    options: &ResolveOptions,
) -> Result<Vec<Version>, RegistryError> {
    let store = Store::open(reference, options)?;
    let mut versions: Vec<Version> = store
        .tags(reference)
        .await?
        .iter()
        .filter_map(|t| Version::parse(t).ok())
        .filter(|v| reference.selector.matches(v) || reference.selector.requirement() == "*")
        .collect();
    versions.sort();
    versions.dedup();
    Ok(versions)
}

/// Resolves a reference to a verified component in the cache.
///
/// With a lock entry for the same registry, repository and requirement, the
/// locked version is used and its digest must match (from the cache, without
/// network, or from the registry); otherwise the highest matching version is
/// resolved and recorded, unless `options.locked`, which fails instead.
pub async fn resolve(
    reference: &Reference,
    options: &ResolveOptions,
) -> Result<Resolved, RegistryError> {
    let shown = reference.to_string();
    let lock_label = options.lock_file.display().to_string();
    let registry = reference.registry.label();
    let requirement = reference.selector.requirement();
    let cache = Cache::new(&options.cache_dir);
    let mut lock = LockFile::load(&options.lock_file)?;
    let locked = lock
        .find(&registry, &reference.repository)
        .filter(|e| e.requirement == requirement && reference.selector.matches(&e.version))
        .cloned();

    if let Some(entry) = &locked
        && let Some(path) = cache.get(&entry.sha256)?
        && let Some(data) = cached_data(&cache, &entry.data)?
    {
        return Ok(Resolved {
            version: entry.version.clone(),
            sha256: entry.sha256.clone(),
            path,
            data,
            lock_updated: false,
            from_cache: true,
        });
    }

    let store = Store::open(reference, options)?;
    let version = match &locked {
        Some(entry) => entry.version.clone(),
        None => {
            let tags = store.tags(reference).await?;
            let Some(version) = reference.selector.best(tags.iter().map(String::as_str)) else {
                let mut available: Vec<Version> =
                    tags.iter().filter_map(|t| Version::parse(t).ok()).collect();
                available.sort();
                return Err(RegistryError::NoMatchingVersion {
                    reference: shown,
                    requirement,
                    available: if available.is_empty() {
                        "none".into()
                    } else {
                        available
                            .iter()
                            .map(Version::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                });
            };
            if options.locked {
                let change = match lock.find(&registry, &reference.repository) {
                    Some(old) => format!(
                        "{} {} ({}) would become {version} ({requirement})",
                        reference.repository, old.version, old.requirement
                    ),
                    None => format!(
                        "{} is not locked; it would be locked at {version}",
                        reference.repository
                    ),
                };
                return Err(RegistryError::LockWouldChange {
                    reference: shown,
                    lock: lock_label,
                    change,
                });
            }
            version
        }
    };

    let tag = version.to_string();
    let manifest = store.manifest(reference, &tag).await?;
    let layer = manifest
        .wasm_layer()
        .map_err(|reason| RegistryError::NotWasmArtifact {
            reference: shown.clone(),
            reason,
        })?;
    let hex = parse_digest(&layer.digest)
        .map_err(|reason| RegistryError::NotWasmArtifact {
            reference: shown.clone(),
            reason,
        })?
        .to_string();
    let layers = manifest
        .data_layers()
        .map_err(|reason| RegistryError::NotWasmArtifact {
            reference: shown.clone(),
            reason,
        })?;
    let data_digests: BTreeMap<String, String> = layers.iter().cloned().collect();
    if let Some(entry) = &locked
        && entry.data != data_digests
    {
        let describe = |map: &BTreeMap<String, String>| {
            map.iter()
                .map(|(name, hex)| format!("{name}=sha256:{hex}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(RegistryError::LockMismatch {
            reference: shown,
            lock: lock_label,
            version: tag,
            locked: format!("{} with data {{{}}}", entry.sha256, describe(&entry.data)),
            served: format!("data {{{}}}", describe(&data_digests)),
        });
    }
    if let Some(entry) = &locked
        && entry.sha256 != hex
    {
        return Err(RegistryError::LockMismatch {
            reference: shown,
            lock: lock_label,
            version: tag,
            locked: entry.sha256.clone(),
            served: layer.digest.clone(),
        });
    }
    let (path, from_cache) = match cache.get(&hex)? {
        Some(path) => (path, true),
        None => {
            let bytes = store.blob(reference, &layer.digest).await?;
            let actual = sha256_hex(&bytes);
            if actual != hex {
                return Err(RegistryError::Tampered {
                    reference: shown,
                    expected: layer.digest.clone(),
                    actual,
                });
            }
            if let Some(reason) = not_a_component(&bytes) {
                return Err(RegistryError::NotComponent {
                    reference: shown,
                    reason,
                });
            }
            (cache.put(&hex, &bytes)?, false)
        }
    };
    let mut data = Vec::with_capacity(layers.len());
    for (name, layer_hex) in &layers {
        let dir = match cache.get_data(layer_hex)? {
            Some(dir) => dir,
            None => {
                let digest = format!("sha256:{layer_hex}");
                let bytes = store.blob(reference, &digest).await?;
                let actual = sha256_hex(&bytes);
                if &actual != layer_hex {
                    return Err(RegistryError::Tampered {
                        reference: shown,
                        expected: digest,
                        actual,
                    });
                }
                cache.put_data(layer_hex, &bytes)?
            }
        };
        data.push((name.clone(), dir));
    }

    let entry = LockEntry {
        name: reference.repository.clone(),
        registry,
        requirement,
        version: version.clone(),
        sha256: hex.clone(),
        data: data_digests,
    };
    let lock_updated = lock.find(&entry.registry, &entry.name) != Some(&entry);
    if lock_updated {
        lock.upsert(entry);
        lock.save(&options.lock_file)?;
    }
    Ok(Resolved {
        version,
        sha256: hex,
        path,
        data,
        lock_updated,
        from_cache,
    })
}

/// The locked data layers, each verified and unpacked in the cache; `None`
/// when one is missing there.
fn cached_data(
    cache: &Cache,
    locked: &BTreeMap<String, String>,
) -> Result<Option<Vec<(String, PathBuf)>>, RegistryError> {
    let mut data = Vec::with_capacity(locked.len());
    for (name, hex) in locked {
        match cache.get_data(hex)? {
            Some(dir) => data.push((name.clone(), dir)),
            None => return Ok(None),
        }
    }
    Ok(Some(data))
}
