//! Sets and clears the target's injected faults: through relhost-sim's REST
//! fault endpoint (`GET` is it there and is the token right, `POST
//! {"faults": [specs]}` replace the set, `DELETE` clear), or, on a target
//! reached as a Convex deployment, through its internal functions
//! `ops:listFaults` and `ops:setFaults`. The ops token and the deploy key
//! never appear in an error.

use bytes::Bytes;

use crate::convex::{self, FunctionAuth, FunctionError, FunctionKind, FunctionPath};
use crate::http::{Client, ErrorClass, OutgoingRequest};
use crate::http::{body_excerpt, join_url};

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
    /// A fault function failed or was refused.
    #[error("{0}")]
    Function(FunctionError),
}

/// How faults reach the target.
#[derive(Debug, Clone)]
pub enum FaultTransport {
    /// relhost-sim's REST fault endpoint at `base_url` + `path`.
    Rest {
        /// The target's base URL.
        base_url: http::Uri,
        /// The endpoint's path.
        path: String,
        /// The ops token, if any.
        token: Option<String>,
    },
    /// The functions `ops:listFaults` and `ops:setFaults` at the
    /// deployment's function URL, as the deploy key's admin.
    Functions {
        /// The `.convex.cloud` URL.
        url: http::Uri,
        /// The deploy key, if any.
        deploy_key: Option<String>,
    },
}

/// Talks to one target's fault injection.
#[derive(Debug, Clone)]
pub struct FaultInjector {
    client: Client,
    transport: FaultTransport,
}

impl FaultInjector {
    /// An injector over `transport`.
    pub fn new(client: Client, transport: FaultTransport) -> Self {
        FaultInjector { client, transport }
    }

    /// Checks that fault injection is there and takes the credential.
    pub async fn check(&self) -> Result<(), FaultError> {
        match &self.transport {
            FaultTransport::Rest { .. } => self.send(http::Method::GET, None).await,
            FaultTransport::Functions { url, deploy_key } => {
                self.call(url, deploy_key.as_deref(), None).await
            }
        }
    }

    /// Replaces the target's faults with `specs`; an empty set clears them.
    pub async fn set(&self, specs: &[String]) -> Result<(), FaultError> {
        match &self.transport {
            FaultTransport::Rest { .. } if specs.is_empty() => {
                self.send(http::Method::DELETE, None).await
            }
            FaultTransport::Rest { .. } => self.send(http::Method::POST, Some(specs)).await,
            FaultTransport::Functions { url, deploy_key } => {
                self.call(url, deploy_key.as_deref(), Some(specs)).await
            }
        }
    }

    /// Clears every fault.
    pub async fn clear(&self) -> Result<(), FaultError> {
        self.set(&[]).await
    }

    /// `ops:listFaults` (no specs) or `ops:setFaults` through the functions.
    async fn call(
        &self,
        url: &http::Uri,
        deploy_key: Option<&str>,
        specs: Option<&[String]>,
    ) -> Result<(), FaultError> {
        let (kind, function, args) = match specs {
            None => (FunctionKind::Query, "ops:listFaults", serde_json::json!({})),
            Some(specs) => (
                FunctionKind::Mutation,
                "ops:setFaults",
                serde_json::json!({ "faults": specs }),
            ),
        };
        let path: FunctionPath = function.parse().map_err(FaultError::InvalidUrl)?;
        let auth = deploy_key.map_or(FunctionAuth::Anonymous, |key| {
            FunctionAuth::Admin(key.to_owned())
        });
        convex::call(&self.client, url, kind, &path, &args, &auth)
            .await
            .map(|_| ())
            .map_err(FaultError::Function)
    }

    /// One request to the REST endpoint, with `{"faults": specs}` when
    /// given (the function transport sends nothing here).
    async fn send(&self, method: http::Method, specs: Option<&[String]>) -> Result<(), FaultError> {
        let FaultTransport::Rest {
            base_url,
            path,
            token,
        } = &self.transport
        else {
            return Ok(());
        };
        let body = specs.map_or_else(Bytes::new, |specs| {
            Bytes::from(serde_json::json!({ "faults": specs }).to_string())
        });
        let uri = join_url(base_url, path, "").map_err(FaultError::InvalidUrl)?;
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
        if let Some(token) = token
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
                path: path.clone(),
                status,
            }),
            _ => {
                let message = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| body_excerpt(&body));
                Err(FaultError::Status { status, message })
            }
        }
    }
}
