//! Kubernetes manifests of a drill split into segments: an Indexed Job
//! whose pods run one segment each (Kubernetes sets `JOB_COMPLETION_INDEX`,
//! the manifest `RELHOST_SEGMENTS`), all starting at one `--start-at`; a
//! ConfigMap with the files the drill reads (profile, baseline, plugins,
//! the lock file that pins registry plugins by digest); the operator's
//! Secret for credentials, as environment and as files; a volume the
//! segments write their reports to; and a merge Job that waits for every
//! segment, merges them and exits with the merged drill's verdict.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

/// Where the ConfigMap's files are mounted in the pods.
pub const CONFIG_DIR: &str = "/relhost/config";
/// Where the Secret's files are mounted in the pods.
pub const SECRETS_DIR: &str = "/relhost/secrets";
/// Where the reports volume is mounted.
pub const REPORTS_DIR: &str = "/reports";
/// The plugin cache of a pod (an empty directory).
const CACHE_DIR: &str = "/relhost/cache";
/// The user (and group) the image runs as (the Dockerfile's `USER`).
pub const IMAGE_USER: u32 = 65532;
/// The most a ConfigMap may hold (Kubernetes refuses larger objects).
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// A file the drill reads, shipped in the ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// Its key in the ConfigMap (its name under [`CONFIG_DIR`]).
    pub key: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A segmented drill as Kubernetes runs it.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The prefix of every object's name (a DNS label).
    pub name: String,
    /// The namespace, when not the current one.
    pub namespace: Option<String>,
    /// The relhost image.
    pub image: String,
    /// How many segments (pods).
    pub segments: u32,
    /// Workers per segment: the CPUs each segment's pod requests.
    pub workers: u32,
    /// When the segments start their load.
    pub start_at: SystemTime,
    /// The Secret with credentials: its keys become environment variables
    /// and files under [`SECRETS_DIR`].
    pub secret: Option<String>,
    /// The reports volume's size, e.g. `1Gi`.
    pub storage: String,
    /// Its storage class (it must offer ReadWriteMany).
    pub storage_class: Option<String>,
    /// How long the merge waits for the segments.
    pub merge_wait: Duration,
    /// The flags of `relhost drill` as the pods run them (paths under
    /// [`CONFIG_DIR`] and [`SECRETS_DIR`]), without segment, start and
    /// output directory, which the manifests set.
    pub drill_args: Vec<String>,
    /// The files the flags name.
    pub files: Vec<ConfigFile>,
}

/// One manifest: its file name and the object.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// `<name>-<what>.json`.
    pub file_name: String,
    /// The Kubernetes object.
    pub object: Value,
}

impl Deployment {
    /// This run's name: the prefix and the start time (reports go in a
    /// directory of that name, so runs do not mix).
    pub fn run_name(&self) -> String {
        let at = crate::report::compact_timestamp(self.start_at).to_ascii_lowercase();
        format!("{}-{at}", self.name)
    }

    /// The directory of this run's reports in the pods.
    pub fn reports_dir(&self) -> String {
        format!("{REPORTS_DIR}/{}", self.run_name())
    }

    /// The arguments of a segment's pod.
    pub fn segment_args(&self) -> Vec<String> {
        let mut args = vec!["drill".to_owned()];
        args.extend(self.drill_args.iter().cloned());
        args.push(format!(
            "--start-at={}",
            humantime::format_rfc3339_millis(self.start_at)
        ));
        args.push(format!("--output-dir={}", self.reports_dir()));
        args
    }

    /// The arguments of the merge's pod.
    pub fn merge_args(&self) -> Vec<String> {
        vec![
            "merge".to_owned(),
            format!("--wait={}s", self.merge_wait.as_secs()),
            self.reports_dir(),
            format!("--output-dir={}/merged", self.reports_dir()),
        ]
    }

    /// The ConfigMap, the reports volume, the segments' Job and the merge's.
    pub fn manifests(&self) -> Vec<Manifest> {
        let manifest = |what: &str, object: Value| Manifest {
            file_name: format!("{}-{what}.json", self.name),
            object,
        };
        vec![
            manifest("config", self.config_map()),
            manifest("reports", self.reports_claim()),
            manifest("segments", self.segments_job()),
            manifest("merge", self.merge_job()),
        ]
    }

    fn metadata(&self, name: &str) -> Value {
        let mut metadata = json!({
            "name": name,
            "labels": {
                "app.kubernetes.io/name": "relhost",
                "app.kubernetes.io/instance": self.name,
                "relhost/run": self.run_name(),
            },
        });
        if let Some(namespace) = &self.namespace {
            metadata["namespace"] = json!(namespace);
        }
        metadata
    }

    fn config_map_name(&self) -> String {
        format!("{}-config", self.name)
    }

    fn claim_name(&self) -> String {
        format!("{}-reports", self.name)
    }

    fn config_map(&self) -> Value {
        let mut data = serde_json::Map::new();
        let mut binary = serde_json::Map::new();
        for file in &self.files {
            match std::str::from_utf8(&file.bytes) {
                Ok(text) => data.insert(file.key.clone(), json!(text)),
                Err(_) => binary.insert(file.key.clone(), json!(BASE64.encode(&file.bytes))),
            };
        }
        let mut object = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": self.metadata(&self.config_map_name()),
            "data": data,
        });
        if !binary.is_empty() {
            object["binaryData"] = Value::Object(binary);
        }
        object
    }

    fn reports_claim(&self) -> Value {
        let mut spec = json!({
            "accessModes": ["ReadWriteMany"],
            "resources": { "requests": { "storage": self.storage } },
        });
        if let Some(class) = &self.storage_class {
            spec["storageClassName"] = json!(class);
        }
        json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": self.metadata(&self.claim_name()),
            "spec": spec,
        })
    }

    /// A pod running `relhost ARGS` with the config, the reports and the
    /// Secret mounted.
    fn pod(&self, container: &str, args: Vec<String>, env: Vec<Value>) -> Value {
        let mut env = env;
        env.push(json!({ "name": "RELHOST_CACHE_DIR", "value": CACHE_DIR }));
        let mut mounts = vec![
            json!({ "name": "config", "mountPath": CONFIG_DIR, "readOnly": true }),
            json!({ "name": "reports", "mountPath": REPORTS_DIR }),
            json!({ "name": "cache", "mountPath": CACHE_DIR }),
        ];
        let mut volumes = vec![
            json!({ "name": "config", "configMap": { "name": self.config_map_name() } }),
            json!({ "name": "reports", "persistentVolumeClaim": { "claimName": self.claim_name() } }),
            json!({ "name": "cache", "emptyDir": {} }),
        ];
        let mut container = json!({
            "name": container,
            "image": self.image,
            "args": args,
            "env": env,
            "volumeMounts": [],
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "runAsNonRoot": true,
            },
        });
        if let Some(secret) = &self.secret {
            container["envFrom"] = json!([{ "secretRef": { "name": secret } }]);
            mounts.push(json!({ "name": "secrets", "mountPath": SECRETS_DIR, "readOnly": true }));
            volumes.push(json!({
                "name": "secrets",
                "secret": { "secretName": secret, "defaultMode": 0o440 },
            }));
        }
        container["volumeMounts"] = Value::Array(mounts);
        json!({
            "metadata": { "labels": { "relhost/run": self.run_name() } },
            "spec": {
                "restartPolicy": "Never",
                // The image's user; the Secret's files and the reports
                // volume belong to its group.
                "securityContext": {
                    "runAsUser": IMAGE_USER,
                    "runAsGroup": IMAGE_USER,
                    "fsGroup": IMAGE_USER,
                },
                "containers": [container],
                "volumes": volumes,
            },
        })
    }

    fn segments_job(&self) -> Value {
        let env = vec![json!({ "name": "RELHOST_SEGMENTS", "value": self.segments.to_string() })];
        let mut template = self.pod("segment", self.segment_args(), env);
        template["spec"]["containers"][0]["resources"] =
            json!({ "requests": { "cpu": self.workers.to_string() } });
        // One segment per node where the cluster allows: segments exist to
        // add machines.
        template["spec"]["affinity"] = json!({
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": { "matchLabels": { "relhost/run": self.run_name() } },
                    },
                }],
            },
        });
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": self.metadata(&format!("{}-segments", self.name)),
            "spec": {
                "completionMode": "Indexed",
                "completions": self.segments,
                "parallelism": self.segments,
                // A segment run twice would be counted twice: the merge
                // refuses a segment given twice, so none is retried.
                "backoffLimit": 0,
                "template": template,
            },
        })
    }

    fn merge_job(&self) -> Value {
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": self.metadata(&format!("{}-merge", self.name)),
            "spec": {
                "completions": 1,
                "backoffLimit": 0,
                "template": self.pod("merge", self.merge_args(), Vec::new()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Deployment {
        Deployment {
            name: "launch".into(),
            namespace: Some("drills".into()),
            image: "registry.example/relhost:1".into(),
            segments: 4,
            workers: 2,
            start_at: humantime::parse_rfc3339("2026-12-05T10:00:00Z").expect("an instant"),
            secret: Some("relhost-secrets".into()),
            storage: "1Gi".into(),
            storage_class: None,
            merge_wait: Duration::from_secs(1800),
            drill_args: vec!["--base-url=https://x.convex.site".into()],
            files: vec![
                ConfigFile {
                    key: "profile.json".into(),
                    bytes: b"{}".to_vec(),
                },
                ConfigFile {
                    key: "plugin.wasm".into(),
                    bytes: vec![0, 0x61, 0x73, 0x6d, 0xff],
                },
            ],
        }
    }

    #[test]
    fn segments_start_together_and_report_where_the_merge_reads() {
        let d = deployment();
        assert_eq!(d.run_name(), "launch-20261205t100000z");
        assert_eq!(
            d.segment_args(),
            [
                "drill",
                "--base-url=https://x.convex.site",
                "--start-at=2026-12-05T10:00:00.000Z",
                "--output-dir=/reports/launch-20261205t100000z",
            ]
        );
        assert_eq!(
            d.merge_args(),
            [
                "merge",
                "--wait=1800s",
                "/reports/launch-20261205t100000z",
                "--output-dir=/reports/launch-20261205t100000z/merged",
            ]
        );
        let manifests = d.manifests();
        let config = &manifests[0].object;
        assert_eq!(config["data"]["profile.json"], "{}");
        assert_eq!(config["binaryData"]["plugin.wasm"], "AGFzbf8=");
        let job = &manifests[2].object;
        assert_eq!(job["spec"]["completions"], 4);
        assert_eq!(job["spec"]["completionMode"], "Indexed");
        let container = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container["env"][0],
            json!({"name": "RELHOST_SEGMENTS", "value": "4"})
        );
        assert_eq!(
            container["envFrom"][0]["secretRef"]["name"],
            "relhost-secrets"
        );
    }
}
