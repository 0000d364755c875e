//! The drill's target: a base URL, or relhost-sim started in-process.

use std::time::Duration;

use crate::cli::error::CliError;
use crate::engine::{Credential, Credentials};

/// What the drill sends requests to.
pub(crate) struct Target {
    /// The base URL.
    pub(crate) base_url: http::Uri,
    /// The in-process sim, when relhost started one.
    pub(crate) sim: Option<relhost_sim::SimHandle>,
    /// Credentials for scenarios that need them.
    pub(crate) credentials: Credentials,
}

/// Email of the demo user provisioned on the in-process sim.
const DEMO_EMAIL: &str = "drill@relhost-sim.local";
/// Password of the demo user; the in-process sim is reachable only from this machine.
const DEMO_PASSWORD: &str = "relhost-demo-password";

impl Target {
    /// Uses `base_url`, or starts relhost-sim on 127.0.0.1:0 with its
    /// knobs from the environment and a demo user for the chat scenario.
    pub(crate) async fn resolve(base_url: Option<http::Uri>) -> Result<Self, CliError> {
        let credentials = credentials_from_env()?;
        if let Some(base_url) = base_url {
            return Ok(Target {
                base_url,
                sim: None,
                credentials,
            });
        }
        let config =
            relhost_sim::SimConfig::from_env().map_err(|e| CliError::BadInput(e.to_string()))?;
        let sim = relhost_sim::start(([127, 0, 0, 1], 0).into(), config)
            .await
            .map_err(|e| {
                CliError::CannotRun(format!("cannot start the built-in relhost-sim: {e}"))
            })?;
        let credentials = if credentials.is_empty() {
            let demo = sim.provision_user(DEMO_EMAIL, DEMO_PASSWORD);
            Credentials::new(vec![Credential {
                token: demo.token,
                thread_id: demo.thread_id,
            }])
        } else {
            credentials
        };
        let base_url = sim
            .base_url()
            .parse()
            .map_err(|e| CliError::CannotRun(format!("relhost-sim reported a bad address: {e}")))?;
        Ok(Target {
            base_url,
            sim: Some(sim),
            credentials,
        })
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

/// The credential from `RELIABILITY_AUTH_TOKEN` and `RELIABILITY_THREAD_ID`, if both are set.
fn credentials_from_env() -> Result<Credentials, CliError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (var("RELIABILITY_AUTH_TOKEN"), var("RELIABILITY_THREAD_ID")) {
        (Some(token), Some(thread_id)) => Ok(Credentials::new(vec![Credential { token, thread_id }])),
        (None, None) => Ok(Credentials::default()),
        (Some(_), None) => Err(CliError::BadInput(
            "RELIABILITY_AUTH_TOKEN is set but RELIABILITY_THREAD_ID is not: the chat scenario needs both".into(),
        )),
        (None, Some(_)) => Err(CliError::BadInput(
            "RELIABILITY_THREAD_ID is set but RELIABILITY_AUTH_TOKEN is not: the chat scenario needs both".into(),
        )),
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
