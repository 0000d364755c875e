//! The target of a command (`drill`, `probe`): a base URL, or relhost-sim
//! started in-process.

use std::time::Duration;

use super::drill::credentials::CredentialSource;
use crate::cli::error::CliError;
use crate::engine::{Credential, Credentials};
use crate::report::TargetInfo;

/// What a command sends requests to.
pub(crate) struct Target {
    /// The base URL.
    pub(crate) base_url: http::Uri,
    /// The in-process sim, when relhost started one.
    pub(crate) sim: Option<relhost_sim::SimHandle>,
    /// Credentials for scenarios that need them.
    pub(crate) credentials: Credentials,
    /// Where the credentials came from.
    pub(crate) source: CredentialSource,
}

/// Password of the demo users; the in-process sim is reachable only from this machine.
const DEMO_PASSWORD: &str = "relhost-demo-password";

impl Target {
    /// Uses `base_url`, or starts relhost-sim on 127.0.0.1:0 with its
    /// knobs from the environment and, when the operator gave no
    /// credentials, `demo_users` demo users (at least one) for the chat scenario.
    pub(crate) async fn resolve(
        base_url: Option<http::Uri>,
        credentials: Credentials,
        source: CredentialSource,
        demo_users: u64,
    ) -> Result<Self, CliError> {
        if let Some(base_url) = base_url {
            return Ok(Target {
                base_url,
                sim: None,
                credentials,
                source,
            });
        }
        let config =
            relhost_sim::SimConfig::from_env().map_err(|e| CliError::BadInput(e.to_string()))?;
        let sim = relhost_sim::start(([127, 0, 0, 1], 0).into(), config)
            .await
            .map_err(|e| {
                CliError::CannotRun(format!("cannot start the built-in relhost-sim: {e}"))
            })?;
        let (credentials, source) = if credentials.is_empty() {
            let demo = (0..demo_users.max(1))
                .map(|i| {
                    let user =
                        sim.provision_user(&format!("drill-{i}@relhost-sim.local"), DEMO_PASSWORD);
                    Credential {
                        token: user.token,
                        thread_id: user.thread_id,
                    }
                })
                .collect();
            (Credentials::new(demo), CredentialSource::Demo)
        } else {
            (credentials, source)
        };
        let base_url = sim
            .base_url()
            .parse()
            .map_err(|e| CliError::CannotRun(format!("relhost-sim reported a bad address: {e}")))?;
        Ok(Target {
            base_url,
            sim: Some(sim),
            credentials,
            source,
        })
    }

    /// How reports name the target.
    pub(crate) fn info(&self) -> TargetInfo {
        TargetInfo {
            base_url: self.base_url.to_string(),
            in_process_sim: self.sim.is_some(),
        }
    }

    /// Fails with exit 3 when nothing accepts connections at the target.
    pub(crate) async fn check_reachable(&self, timeout: Duration) -> Result<(), CliError> {
        let authority = self.base_url.authority().ok_or_else(|| {
            CliError::BadInput(format!("--base-url {}: has no host", self.base_url))
        })?;
        let port = authority
            .port_u16()
            .unwrap_or(match self.base_url.scheme_str() {
                Some("https") => 443,
                _ => 80,
            });
        let address = format!(
            "{}:{port}",
            authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
        );
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&address)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(CliError::CannotRun(format!(
                "target {} is unreachable: {e}",
                self.base_url
            ))),
            Err(_) => Err(CliError::CannotRun(format!(
                "target {} is unreachable: no connection within {timeout:?}",
                self.base_url
            ))),
        }
    }
}

/// Parses `--base-url`: an absolute http or https URL.
pub(crate) fn parse_base_url(text: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = text
        .parse()
        .map_err(|e| format!("expected an absolute URL like http://127.0.0.1:8080 ({e})"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) if uri.query().is_none() => Ok(uri),
        _ => Err("expected an absolute http:// or https:// URL without a query, like http://127.0.0.1:8080".into()),
    }
}
