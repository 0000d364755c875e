//! The target's live reliability snapshot: where it is read
//! ([`SnapshotSource`]: a Convex query or the REST route) and how it reads
//! as text ([`write_snapshot_text`]). Used by `relhost snapshot`, the
//! release gate and game days; errors are typed and nothing a target
//! answers makes it panic.

mod text;

use bytes::Bytes;

use crate::convex::{self, FunctionAuth, FunctionError, FunctionKind, FunctionPath};
use crate::http::{Client, ErrorClass, OutgoingRequest, body_excerpt, join_url};

pub use text::{write_rows, write_snapshot_text};

/// The default path of the reliability snapshot endpoint.
pub const DEFAULT_SNAPSHOT_PATH: &str = "/api/ops/reliability-snapshot";
/// The Convex function that reads the reliability snapshot.
pub const DEFAULT_SNAPSHOT_FUNCTION: &str = "ops:getReliabilitySnapshot";

/// Where the reliability snapshot is read.
#[derive(Debug, Clone)]
pub enum SnapshotSource {
    /// A Convex query at the deployment's function URL, as the deploy key's
    /// admin (`npx convex run ops:getReliabilitySnapshot`).
    Function {
        /// The deployment's `.convex.cloud` URL.
        url: http::Uri,
        /// The query.
        function: FunctionPath,
        /// The deploy key, if any.
        deploy_key: Option<String>,
    },
    /// `GET {base_url}{path}?minutes=&limit=` with the ops token.
    Rest {
        /// The target's base URL.
        base_url: http::Uri,
        /// The endpoint's path.
        path: String,
        /// The ops token, if any.
        token: Option<String>,
    },
}

impl SnapshotSource {
    /// Reads the snapshot; `None` leaves `minutes`/`limit` to the backend's
    /// defaults (`OPS_DEFAULT_WINDOW_MINUTES`, `OPS_MAX_ROWS_PER_SECTION`).
    pub async fn fetch(
        &self,
        client: &Client,
        minutes: Option<u32>,
        limit: Option<u32>,
    ) -> Result<serde_json::Value, SnapshotError> {
        match self {
            SnapshotSource::Function {
                url,
                function,
                deploy_key,
            } => {
                let mut args = serde_json::Map::new();
                if let Some(m) = minutes {
                    args.insert("minutes".into(), m.into());
                }
                if let Some(l) = limit {
                    args.insert("limit".into(), l.into());
                }
                let auth = deploy_key
                    .clone()
                    .map_or(FunctionAuth::Anonymous, FunctionAuth::Admin);
                let value = convex::call(
                    client,
                    url,
                    FunctionKind::Query,
                    function,
                    &serde_json::Value::Object(args),
                    &auth,
                )
                .await
                .map_err(SnapshotError::Function)?;
                if value.is_object() {
                    Ok(value)
                } else {
                    Err(SnapshotError::NotAnObject {
                        function: function.to_string(),
                    })
                }
            }
            SnapshotSource::Rest {
                base_url,
                path,
                token,
            } => fetch_snapshot(client, base_url, path, token.as_deref(), minutes, limit).await,
        }
    }

    /// How reports describe the source (no secret).
    pub fn describe(&self) -> serde_json::Value {
        match self {
            SnapshotSource::Function {
                url,
                function,
                deploy_key,
            } => serde_json::json!({
                "kind": "convex_function",
                "url": url.to_string(),
                "function": function.to_string(),
                "deploy_key": if deploy_key.is_some() { "<set>" } else { "<unset>" },
            }),
            SnapshotSource::Rest {
                base_url,
                path,
                token,
            } => serde_json::json!({
                "kind": "rest",
                "url": base_url.to_string(),
                "path": path,
                "ops_token": if token.is_some() { "<set>" } else { "<unset>" },
            }),
        }
    }
}

/// Why the reliability snapshot could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The base URL and path do not form a URL.
    #[error("invalid snapshot URL {0:?}")]
    InvalidUrl(String),
    /// No (complete) HTTP answer: refused, timeout, DNS, TLS, reset, cut body.
    #[error("snapshot endpoint unreachable: {}", .0.as_str())]
    Unreachable(ErrorClass),
    /// The endpoint refused the ops token (401 or 403).
    #[error(
        "snapshot endpoint answered {status}: the ops token is missing or wrong (set --ops-token or RELIABILITY_OPS_TOKEN)"
    )]
    Unauthorized {
        /// 401 or 403.
        status: u16,
    },
    /// Any other non-2xx status.
    #[error("snapshot endpoint answered {status}{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        /// The status.
        status: u16,
        /// The body's `error` string (or its start), when there was one.
        message: Option<String>,
    },
    /// The snapshot function failed or was refused.
    #[error("{0}")]
    Function(FunctionError),
    /// The snapshot function's value is not an object.
    #[error("{function} returned a value that is not a JSON object")]
    NotAnObject {
        /// The function.
        function: String,
    },
    /// A 2xx whose body is not a JSON object.
    #[error("snapshot endpoint answered {status} with a body that is not a JSON object ({detail})")]
    NotJson {
        /// The status.
        status: u16,
        /// The content type and the body's start.
        detail: String,
    },
}

impl SnapshotError {
    /// Whether the target gave no HTTP answer (the command could not be carried out).
    pub fn is_unreachable(&self) -> bool {
        match self {
            SnapshotError::Unreachable(_) => true,
            SnapshotError::Function(e) => e.is_unreachable(),
            _ => false,
        }
    }
}

/// Fetches the target's reliability snapshot:
/// `GET {base_url}{path}?minutes={minutes}&limit={limit}` (each only when
/// given) with the ops token as a bearer token. The token never appears in
/// an error.
async fn fetch_snapshot(
    client: &Client,
    base_url: &http::Uri,
    path: &str,
    token: Option<&str>,
    minutes: Option<u32>,
    limit: Option<u32>,
) -> Result<serde_json::Value, SnapshotError> {
    let query: Vec<String> = [("minutes", minutes), ("limit", limit)]
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
        .collect();
    let uri = join_url(base_url, path, &query.join("&")).map_err(SnapshotError::InvalidUrl)?;
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    if let Some(token) = token {
        // A token with bytes a header cannot carry is sent as no token: the
        // endpoint then answers 401, which names the problem without the value.
        if let Ok(value) = http::HeaderValue::from_str(&format!("Bearer {token}")) {
            let mut value = value;
            value.set_sensitive(true);
            headers.insert(http::header::AUTHORIZATION, value);
        }
    }
    let request = OutgoingRequest {
        method: http::Method::GET,
        uri,
        headers,
        body: Bytes::new(),
    };
    let (status, response_headers, body) = client
        .send_collect(request)
        .await
        .map_err(SnapshotError::Unreachable)?;
    if status == 401 || status == 403 {
        return Err(SnapshotError::Unauthorized { status });
    }
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    if !(200..300).contains(&status) {
        let message = match &parsed {
            Some(v) => v
                .get("error")
                .and_then(|e| e.as_str())
                .map(str::to_owned)
                .or_else(|| Some(body_excerpt(&body))),
            None if body.is_empty() => None,
            None => Some(body_excerpt(&body)),
        };
        return Err(SnapshotError::Status { status, message });
    }
    match parsed {
        Some(value) if value.is_object() => Ok(value),
        _ => {
            let content_type = response_headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("no content-type");
            Err(SnapshotError::NotJson {
                status,
                detail: format!("{content_type}: {:?}", body_excerpt(&body)),
            })
        }
    }
}
