//! A suite of synthetic probes: one checked request per scenario against a
//! target (or the built-in relhost-sim with a demo user), written as
//! `synthetic-probes-<timestamp>.json`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{ProbeError, ProbeReport, ProbeSettings, ProbeStatus, prepare_probe, run_probes};
use crate::atomic_file::{WriteError, check_writable};
use crate::drill::{CredentialSource, DrillError, Target, TargetChoice};
use crate::engine::{Credentials, Progress};
use crate::exit::Exit;
use crate::http::{Client, ClientConfig, HttpError};
use crate::plugin::{Limits, Params, PluginError, PluginSource, Runtime, Secrets};
use crate::policy::{OwnershipMatrix, ReleaseGatePolicy};
use crate::report::{PluginInfo, ReportHeader, ReportKind, compact_timestamp, write_json_atomic};

/// Why the probes could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The target could not be brought up or reached.
    #[error(transparent)]
    Target(#[from] DrillError),
    /// A scenario plugin cannot be loaded.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A probe cannot be built from its plugin.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The client cannot be built.
    #[error(transparent)]
    Client(#[from] HttpError),
    /// The report cannot be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl SuiteError {
    /// The exit code: 2 for bad input, 3 for what could not be carried out.
    pub fn exit(&self) -> Exit {
        match self {
            SuiteError::Target(e) => e.exit(),
            SuiteError::Plugin(_) | SuiteError::Probe(_) | SuiteError::Client(_) => Exit::BadInput,
            SuiteError::Write(_) => Exit::CannotRun,
        }
    }
}

/// What to probe and how.
#[derive(Debug, Clone)]
pub struct ProbeSuite {
    /// The built-in scenarios to probe.
    pub scenarios: Vec<String>,
    /// The policy whose probe settings apply where these leave them open.
    pub policy: ReleaseGatePolicy,
    /// The owners, named in the report's configuration.
    pub owners: OwnershipMatrix,
    /// Retries of a failing probe (default: the policy's).
    pub retries: Option<u32>,
    /// Wait before the first retry (default: the policy's).
    pub backoff: Option<Duration>,
    /// Latency ceiling of every probe (default: the policy's, per scenario).
    pub latency_ceiling: Option<Duration>,
    /// Where requests go.
    pub target: TargetChoice,
    /// The operator's credentials (the chat probe uses the first).
    pub credentials: (Credentials, CredentialSource),
    /// The client's settings.
    pub client: ClientConfig,
    /// Seed of the requests' random values.
    pub seed: u64,
    /// Where compiled plugins are cached.
    pub compile_cache: PathBuf,
    /// Where the report is written.
    pub output_dir: PathBuf,
    /// The command line, as the report records it.
    pub command_line: Vec<String>,
}

/// Finished probes: their report and its file.
#[derive(Debug)]
pub struct ProbeOutcomeFile {
    /// The report.
    pub report: ProbeReport,
    /// Its file.
    pub path: PathBuf,
}

impl ProbeSuite {
    /// Probes every scenario once (with the retries) and writes the report.
    pub async fn run(&self, progress: &dyn Progress) -> Result<ProbeOutcomeFile, SuiteError> {
        let started = SystemTime::now();
        check_writable(&self.output_dir)?;
        let (credentials, source) = self.credentials.clone();
        let target = Target::resolve(self.target.clone(), credentials, source, 1).await?;
        if target.sim.is_some() {
            progress.note(&format!(
                "no --base-url or RELIABILITY_BASE_URL: probing the built-in relhost-sim at {}",
                target.base_url.to_string().trim_end_matches('/')
            ));
        }
        let outcome = self.probe(&target, started).await;
        target.shutdown().await;
        outcome
    }

    async fn probe(
        &self,
        target: &Target,
        started: SystemTime,
    ) -> Result<ProbeOutcomeFile, SuiteError> {
        target.check_reachable(self.client.connect_timeout).await?;
        let policy = &self.policy;
        let settings = ProbeSettings {
            retries: self.retries.unwrap_or(policy.probes.retries),
            backoff: self.backoff.unwrap_or(policy.probes.backoff),
        };
        let runtime = Runtime::with_params(
            Limits::default(),
            Params::new(),
            None,
            Some(&self.compile_cache),
        )?;
        let mut plugins = Vec::new();
        for name in &self.scenarios {
            let plugin = runtime
                .load_scenario(
                    &PluginSource::Builtin(name.clone()),
                    Arc::new(Secrets::default()),
                    self.seed,
                )
                .await?;
            plugins.push(plugin);
        }
        let secret_names: Vec<&str> = plugins
            .iter()
            .flat_map(|p| p.descriptor().secrets.iter().map(String::as_str))
            .collect();
        let secrets = Arc::new(Secrets::from_env(secret_names));
        let credential = target.credentials.get(0);
        let mut specs = Vec::with_capacity(plugins.len());
        for plugin in &mut plugins {
            *plugin = plugin.with_secrets(Arc::clone(&secrets));
            let name = plugin.descriptor().name.clone();
            let ceiling = self.latency_ceiling.map_or_else(
                || policy.probes.latency_ceiling_ms(&name),
                |d| d.as_secs_f64() * 1000.0,
            );
            let spec = prepare_probe(
                plugin,
                &target.base_url,
                &secrets,
                credential,
                ceiling,
                self.seed,
            )
            .await?;
            specs.push(spec);
        }

        let client = Client::new(&ClientConfig {
            max_idle_per_host: 4,
            ..self.client.clone()
        })?;
        let outcomes = run_probes(&client, &specs, settings).await;
        let status = ProbeStatus::of(&outcomes);
        let report = ProbeReport {
            header: ReportHeader::new(
                ReportKind::SyntheticProbes,
                started,
                self.command_line.clone(),
            ),
            status,
            config: serde_json::json!({
                "scenarios": self.scenarios,
                "retries": settings.retries,
                "backoff_ms": settings.backoff.as_millis() as u64,
                "latency_ceiling_ms": specs.iter().map(|s| (s.scenario.clone(), serde_json::json!(s.latency_ceiling_ms))).collect::<serde_json::Map<String, serde_json::Value>>(),
                "policy": policy.origin().to_string(),
                "ownership_matrix": self.owners.origin().to_string(),
                "credentials": target.source.label(),
                "secrets_set": format!("{secrets:?}"),
                "connect_timeout_ms": self.client.connect_timeout.as_millis() as u64,
                "request_timeout_ms": self.client.request_timeout.as_millis() as u64,
                "http2": self.client.http2,
                "seed": self.seed,
            }),
            target: target.info(),
            plugins: plugins.iter().map(PluginInfo::of).collect(),
            probes: outcomes,
        };
        let name = format!("synthetic-probes-{}.json", compact_timestamp(started));
        let path = write_json_atomic(&self.output_dir, &name, &report)?;
        Ok(ProbeOutcomeFile { report, path })
    }
}
