//! The target of a drill or a probe: a base URL, or relhost-sim started
//! in-process.

use std::time::Duration;

use super::DrillError;
use super::auth_pool::CredentialSource;
use crate::engine::{Credential, Credentials};
use crate::report::TargetInfo;

/// Where requests go: a deployment, or a relhost-sim this process starts.
#[derive(Debug, Clone)]
pub enum TargetChoice {
    /// The base URL of the target's HTTP actions.
    Url(http::Uri),
    /// relhost-sim on 127.0.0.1 with these knobs.
    BuiltinSim(Box<relhost_sim::SimConfig>),
}

/// What a command sends requests to.
pub struct Target {
    /// The base URL.
    pub base_url: http::Uri,
    /// The in-process sim, when relhost started one.
    pub sim: Option<relhost_sim::SimHandle>,
    /// Credentials for scenarios that need them.
    pub credentials: Credentials,
    /// Where the credentials came from.
    pub source: CredentialSource,
}

/// Password of the demo users; the in-process sim is reachable only from this machine.
const DEMO_PASSWORD: &str = "relhost-demo-password";

impl Target {
    /// Uses the URL, or starts relhost-sim on 127.0.0.1:0 and, when the
    /// operator gave no credentials, `demo_users` demo users (at least one)
    /// for the chat scenario.
    pub async fn resolve(
        choice: TargetChoice,
        credentials: Credentials,
        source: CredentialSource,
        demo_users: u64,
    ) -> Result<Self, DrillError> {
        let config = match choice {
            TargetChoice::Url(base_url) => {
                return Ok(Target {
                    base_url,
                    sim: None,
                    credentials,
                    source,
                });
            }
            TargetChoice::BuiltinSim(config) => *config,
        };
        let sim = relhost_sim::start(([127, 0, 0, 1], 0).into(), config)
            .await
            .map_err(DrillError::Sim)?;
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
        let base_url = sim.base_url().parse().map_err(|e| {
            DrillError::Sim(std::io::Error::other(format!(
                "relhost-sim reported a bad address: {e}"
            )))
        })?;
        Ok(Target {
            base_url,
            sim: Some(sim),
            credentials,
            source,
        })
    }

    /// How reports name the target.
    pub fn info(&self) -> TargetInfo {
        TargetInfo {
            base_url: self.base_url.to_string(),
            in_process_sim: self.sim.is_some(),
        }
    }

    /// Fails (exit 3) when nothing accepts connections at the target.
    pub async fn check_reachable(&self, timeout: Duration) -> Result<(), DrillError> {
        let authority = self.base_url.authority().ok_or_else(|| {
            DrillError::Invalid(format!("--base-url {}: has no host", self.base_url))
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
        let target = || self.base_url.to_string();
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&address)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(source)) => Err(DrillError::Unreachable {
                target: target(),
                source,
            }),
            Err(_) => Err(DrillError::ConnectTimeout {
                target: target(),
                timeout,
            }),
        }
    }

    /// Stops the in-process sim, if there is one.
    pub async fn shutdown(self) {
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
    }
}
