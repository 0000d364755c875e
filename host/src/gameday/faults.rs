//! Sets and clears the target's injected faults through relhost-sim's
//! fault endpoint: `GET` (is it there, is the token right), `POST
//! {"faults": [specs]}` (replace the set), `DELETE` (clear). The ops token
//! travels as a sensitive bearer header and never appears in an error.

use bytes::Bytes;

use crate::http::{Client, ErrorClass, OutgoingRequest};
use crate::ops::{excerpt, join_url};

/// The default path of the fault endpoint.
pub const DEFAULT_FAULTS_PATH: &str = "/api/ops/faults";

/// Why the fault endpoint did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    /// The base URL and path do not form a URL.
    #[error("invalid fault endpoint URL {0:?}")]
    InvalidUrl(String),
    /// No (complete) HTTP answer.
    #[error("fault endpoint unreachable: {}", .0.as_str())]
    Unreachable(ErrorClass),
    /// The endpoint refused the ops token.
    #[error(
        "fault endpoint answered {status}: the ops token is missing or wrong (set --ops-token or RELIABILITY_OPS_TOKEN)"
    )]
    Unauthorized {
        /// 401 or 403.
        status: u16,
    },
    /// The target has no fault endpoint (it is not relhost-sim).
    #[error(
        "the target has no fault endpoint at {path} (answered {status}); fault schedules need relhost-sim"
    )]
    Missing {
        /// The path asked for.
        path: String,
        /// 404 or 405.
        status: u16,
    },
    /// Any other non-2xx answer.
    #[error("fault endpoint answered {status}: {message}")]
    Status {
        /// The status.
        status: u16,
        /// The body's `error` string, or its start.
        message: String,
    },
}

/// Talks to one target's fault endpoint.
#[derive(Debug, Clone)]
pub struct FaultInjector {
    client: Client,
    base_url: http::Uri,
    path: String,
    token: Option<String>,
}

impl FaultInjector {
    /// An injector for `base_url` + `path`, with the ops token when there is one.
    pub fn new(client: Client, base_url: http::Uri, path: &str, token: Option<String>) -> Self {
        FaultInjector {
            client,
            base_url,
            path: path.to_owned(),
            token,
        }
    }

    /// Checks that the endpoint exists and takes the token (`GET`).
    pub async fn check(&self) -> Result<(), FaultError> {
        self.send(http::Method::GET, Bytes::new()).await
    }

    /// Replaces the target's faults with `specs`; an empty set clears them.
    pub async fn set(&self, specs: &[String]) -> Result<(), FaultError> {
        if specs.is_empty() {
            return self.clear().await;
        }
        let body = serde_json::json!({ "faults": specs }).to_string();
        self.send(http::Method::POST, Bytes::from(body)).await
    }

    /// Clears every fault (`DELETE`).
    pub async fn clear(&self) -> Result<(), FaultError> {
        self.send(http::Method::DELETE, Bytes::new()).await
    }

    async fn send(&self, method: http::Method, body: Bytes) -> Result<(), FaultError> {
        let uri = join_url(&self.base_url, &self.path, "").map_err(FaultError::InvalidUrl)?;
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        if !body.is_empty() {
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
        }
        if let Some(token) = &self.token
            && let Ok(mut value) = http::HeaderValue::from_str(&format!("Bearer {token}"))
        {
            // A token a header cannot carry is sent as none: the 401 names the problem.
            value.set_sensitive(true);
            headers.insert(http::header::AUTHORIZATION, value);
        }
        let request = OutgoingRequest {
            method,
            uri,
            headers,
            body,
        };
        let (status, _, body) = self
            .client
            .send_collect(request)
            .await
            .map_err(FaultError::Unreachable)?;
        match status {
            200..=299 => Ok(()),
            401 | 403 => Err(FaultError::Unauthorized { status }),
            404 | 405 => Err(FaultError::Missing {
                path: self.path.clone(),
                status,
            }),
            _ => {
                let message = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| excerpt(&body));
                Err(FaultError::Status { status, message })
            }
        }
    }
}
