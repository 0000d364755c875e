//! The CNCF Wasm OCI artifact layout, and relhost's plugin manifest.
//!
//! An artifact is an OCI image manifest (`application/vnd.oci.image.manifest.v1+json`)
//! with one config blob (`application/vnd.wasm.config.v0+json`: the
//! component's imports, exports and target world, plus relhost's manifest
//! under `relhost`) and one layer (`application/wasm`: the component). The
//! relhost manifest is repeated as `dev.relhost.plugin.*` manifest
//! annotations, so `crane manifest` or a registry UI shows it.

use std::collections::BTreeMap;

use semver::Version;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::data::{DATA_MEDIA_TYPE, DATA_NAME_ANNOTATION, MAX_DATA_BYTES, MAX_DATA_LAYERS};

/// Media type of the manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of the config blob.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// Media type of the component layer.
pub const WASM_MEDIA_TYPE: &str = "application/wasm";
/// The WIT package version the host implements.
pub const WORLD_VERSION: &str = crate::plugin::WIT_VERSION;

/// What a plugin is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// A scenario (`relhost:plugin/scenario`).
    Scenario,
    /// An auth-pool rotation strategy (`relhost:plugin/rotation`).
    Rotation,
    /// An SLO evaluator (`relhost:plugin/slo-evaluator`).
    SloEvaluator,
    /// A payload builder (reserved: no world yet).
    PayloadBuilder,
}

impl PluginKind {
    /// The kind of a component of world `world` (`scenario`, `rotation`,
    /// `slo-evaluator`, `payload-builder`).
    pub fn of_world(world: &str) -> Option<PluginKind> {
        match world {
            "scenario" => Some(PluginKind::Scenario),
            "rotation" => Some(PluginKind::Rotation),
            "slo-evaluator" => Some(PluginKind::SloEvaluator),
            "payload-builder" => Some(PluginKind::PayloadBuilder),
            _ => None,
        }
    }

    /// The kind's name (`scenario`, `rotation`, `slo-evaluator`, `payload-builder`).
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Scenario => "scenario",
            PluginKind::Rotation => "rotation",
            PluginKind::SloEvaluator => "slo-evaluator",
            PluginKind::PayloadBuilder => "payload-builder",
        }
    }
}

/// relhost's manifest of a plugin: what it is and what it may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginManifest {
    /// The plugin's name (its descriptor's).
    pub name: String,
    /// The published version.
    pub version: Version,
    /// What it is for.
    pub kind: PluginKind,
    /// The WIT world, e.g. `relhost:plugin/scenario`.
    pub world: String,
    /// The WIT package version, e.g. `0.1.0`.
    pub world_version: String,
    /// Secrets the plugin declares, by name.
    pub secrets: Vec<String>,
    /// The data directories the plugin reads, by name (payload builders).
    pub data_files: Vec<String>,
    /// One line about the plugin.
    pub description: String,
}

/// The component section of the Wasm config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentInfo {
    /// Export names.
    pub exports: Vec<String>,
    /// Import names.
    pub imports: Vec<String>,
    /// The target world, e.g. `relhost:plugin/scenario@0.1.0`.
    pub target: String,
}

/// The config blob (`application/vnd.wasm.config.v0+json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// RFC 3339 creation time.
    pub created: String,
    /// Always `wasm`.
    pub architecture: String,
    /// Always `wasip2`.
    pub os: String,
    /// The layers' digests.
    pub layer_digests: Vec<String>,
    /// Imports, exports and target world.
    pub component: ComponentInfo,
    /// relhost's manifest (absent in artifacts from other tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relhost: Option<PluginManifest>,
}

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciDescriptor {
    /// The content's media type.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest media type.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: OciDescriptor,
    /// The layers.
    pub layers: Vec<OciDescriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl OciManifest {
    /// The data layers: each directory's name and the hex sha256 of its
    /// tar; an error says what is malformed.
    pub fn data_layers(&self) -> Result<Vec<(String, String)>, String> {
        let mut layers: Vec<(String, String)> = Vec::new();
        let data: Vec<&OciDescriptor> = self
            .layers
            .iter()
            .filter(|l| l.media_type == DATA_MEDIA_TYPE)
            .collect();
        if data.len() > MAX_DATA_LAYERS {
            return Err(format!(
                "{} data layers; at most {MAX_DATA_LAYERS}",
                data.len()
            ));
        }
        let total: u64 = data.iter().map(|l| l.size).sum();
        if total > MAX_DATA_BYTES {
            return Err(format!(
                "data layers of {total} bytes in all; at most {MAX_DATA_BYTES}"
            ));
        }
        for layer in data {
            let name = layer
                .annotations
                .get(DATA_NAME_ANNOTATION)
                .ok_or_else(|| format!("a data layer without {DATA_NAME_ANNOTATION}"))?;
            crate::plugin::untrusted::check_name(name)
                .map_err(|e| format!("data layer {name:?}: {e}"))?;
            if layers.iter().any(|(n, _)| n == name) {
                return Err(format!("two data layers named {name:?}"));
            }
            layers.push((name.clone(), parse_digest(&layer.digest)?.to_string()));
        }
        Ok(layers)
    }

    /// The one wasm layer; an error says why the manifest is not a Wasm artifact.
    pub fn wasm_layer(&self) -> Result<&OciDescriptor, String> {
        if self.config.media_type != CONFIG_MEDIA_TYPE {
            return Err(format!(
                "config media type is {:?}, expected {CONFIG_MEDIA_TYPE:?}",
                self.config.media_type
            ));
        }
        let wasm: Vec<&OciDescriptor> = self
            .layers
            .iter()
            .filter(|l| l.media_type == WASM_MEDIA_TYPE)
            .collect();
        match wasm.as_slice() {
            [layer] => {
                parse_digest(&layer.digest)?;
                Ok(layer)
            }
            _ => Err(format!(
                "expected exactly one {WASM_MEDIA_TYPE} layer, found {}",
                wasm.len()
            )),
        }
    }
}

/// A ready-to-push artifact: the exact bytes of each blob and their digests.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The manifest's bytes.
    pub manifest: Vec<u8>,
    /// The config blob's bytes.
    pub config: Vec<u8>,
    /// The component.
    pub wasm: Vec<u8>,
    /// Data layers: each directory's name and its tar.
    pub data: Vec<(String, Vec<u8>)>,
}

impl Artifact {
    /// Builds the artifact of a component with its manifest and component info.
    pub fn build(
        wasm: Vec<u8>,
        data: Vec<(String, Vec<u8>)>,
        plugin: &PluginManifest,
        component: ComponentInfo,
        created: String,
    ) -> Artifact {
        let wasm_digest = digest_of(&wasm);
        let config = WasmConfig {
            created: created.clone(),
            architecture: "wasm".into(),
            os: "wasip2".into(),
            layer_digests: std::iter::once(wasm_digest.clone())
                .chain(data.iter().map(|(_, tar)| digest_of(tar)))
                .collect(),
            component,
            relhost: Some(plugin.clone()),
        };
        let config = serde_json::to_vec(&config).unwrap_or_default();
        let mut annotations = BTreeMap::new();
        let mut put = |k: &str, v: String| annotations.insert(k.to_string(), v);
        put("org.opencontainers.image.created", created);
        put("org.opencontainers.image.title", plugin.name.clone());
        put(
            "org.opencontainers.image.version",
            plugin.version.to_string(),
        );
        put(
            "org.opencontainers.image.description",
            plugin.description.clone(),
        );
        put("dev.relhost.plugin.kind", plugin.kind.as_str().into());
        put(
            "dev.relhost.plugin.world",
            format!("{}@{}", plugin.world, plugin.world_version),
        );
        put("dev.relhost.plugin.secrets", plugin.secrets.join(","));
        put("dev.relhost.plugin.data-files", plugin.data_files.join(","));
        let manifest = OciManifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.into()),
            config: OciDescriptor {
                media_type: CONFIG_MEDIA_TYPE.into(),
                digest: digest_of(&config),
                size: config.len() as u64,
                annotations: BTreeMap::new(),
            },
            layers: std::iter::once(OciDescriptor {
                media_type: WASM_MEDIA_TYPE.into(),
                digest: wasm_digest,
                size: wasm.len() as u64,
                annotations: BTreeMap::from([(
                    "org.opencontainers.image.title".to_string(),
                    format!("{}.wasm", plugin.name),
                )]),
            })
            .chain(data.iter().map(|(name, tar)| OciDescriptor {
                media_type: DATA_MEDIA_TYPE.into(),
                digest: digest_of(tar),
                size: tar.len() as u64,
                annotations: BTreeMap::from([
                    (
                        "org.opencontainers.image.title".to_string(),
                        format!("{name}.tar"),
                    ),
                    (DATA_NAME_ANNOTATION.to_string(), name.clone()),
                ]),
            }))
            .collect(),
            annotations,
        };
        Artifact {
            manifest: serde_json::to_vec(&manifest).unwrap_or_default(),
            config,
            wasm,
            data,
        }
    }

    /// The blobs to upload before the manifest: `(digest, bytes)`.
    pub fn blobs(&self) -> Vec<(String, &[u8])> {
        [
            (digest_of(&self.config), self.config.as_slice()),
            (digest_of(&self.wasm), self.wasm.as_slice()),
        ]
        .into_iter()
        .chain(
            self.data
                .iter()
                .map(|(_, tar)| (digest_of(tar), tar.as_slice())),
        )
        .collect()
    }
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// The hex part of a `sha256:<64 lowercase hex>` digest; anything else is
/// refused (digests become file names, so this also stops path tricks).
pub fn parse_digest(digest: &str) -> Result<&str, String> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if is_sha256_hex(hex) => Ok(hex),
        _ => Err(format!(
            "digest {digest:?} is not sha256:<64 lowercase hex digits>"
        )),
    }
}

/// Whether `hex` is 64 lowercase hex digits.
pub fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Why `bytes` are not a WebAssembly component, if they are not.
pub fn not_a_component(bytes: &[u8]) -> Option<String> {
    const MAGIC: &[u8] = b"\0asm";
    match bytes.get(..8) {
        Some(head) if head.starts_with(MAGIC) => match &head[4..] {
            [0x0d, 0x00, 0x01, 0x00] => None,
            [0x01, 0x00, 0x00, 0x00] => Some("a core WebAssembly module, not a component".into()),
            other => Some(format!("unknown WebAssembly version {other:02x?}")),
        },
        _ => Some("no WebAssembly header".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> PluginManifest {
        PluginManifest {
            name: "x".into(),
            version: Version::new(1, 2, 3),
            kind: PluginKind::Scenario,
            world: "relhost:plugin/scenario".into(),
            world_version: WORLD_VERSION.into(),
            secrets: vec!["APP_SECRET".into()],
            data_files: Vec::new(),
            description: "d".into(),
        }
    }

    #[test]
    fn builds_the_cncf_wasm_layout() {
        let wasm = b"\0asm\x0d\x00\x01\x00rest".to_vec();
        let component = ComponentInfo {
            exports: vec!["describe".into()],
            imports: vec!["relhost:plugin/host@0.1.0".into()],
            target: "relhost:plugin/scenario@0.1.0".into(),
        };
        let artifact =
            Artifact::build(wasm.clone(), Vec::new(), &manifest(), component, "t".into());
        let parsed: OciManifest = serde_json::from_slice(&artifact.manifest).expect("json");
        assert_eq!(parsed.media_type.as_deref(), Some(MANIFEST_MEDIA_TYPE));
        assert_eq!(parsed.config.digest, digest_of(&artifact.config));
        let layer = parsed.wasm_layer().expect("one wasm layer");
        assert_eq!(layer.digest, digest_of(&wasm));
        assert_eq!(
            parsed.annotations["dev.relhost.plugin.secrets"],
            "APP_SECRET"
        );
        let config: WasmConfig = serde_json::from_slice(&artifact.config).expect("json");
        assert_eq!(config.architecture, "wasm");
        assert_eq!(config.os, "wasip2");
        assert_eq!(config.layer_digests, vec![layer.digest.clone()]);
        assert_eq!(config.relhost, Some(manifest()));
        let raw: serde_json::Value = serde_json::from_slice(&artifact.config).expect("json");
        assert!(raw.get("layerDigests").is_some(), "{raw}");
        assert_eq!(raw["relhost"]["kind"], "scenario");
    }

    #[test]
    fn digests_and_headers_are_checked() {
        assert!(parse_digest(&digest_of(b"x")).is_ok());
        assert!(parse_digest("sha256:../../etc/passwd").is_err());
        assert!(parse_digest("sha512:00").is_err());
        assert_eq!(not_a_component(b"\0asm\x0d\x00\x01\x00"), None);
        assert!(not_a_component(b"\0asm\x01\x00\x00\x00").is_some());
        assert!(not_a_component(b"hello").is_some());
    }
}
