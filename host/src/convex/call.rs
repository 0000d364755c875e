//! One function call through Convex's HTTP API.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::http::{Client, ErrorClass, OutgoingRequest};

/// HTTP status of a function that threw (Convex's `STATUS_CODE_UDF_FAILED`).
const FUNCTION_FAILED: u16 = 560;
/// Longest text of the deployment's quoted in an error.
const MAX_QUOTED: usize = 300;

/// The kind of a function: the route it is called through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// `POST /api/query`.
    Query,
    /// `POST /api/mutation`.
    Mutation,
    /// `POST /api/action`.
    Action,
}

impl FunctionKind {
    fn route(self) -> &'static str {
        match self {
            FunctionKind::Query => "/api/query",
            FunctionKind::Mutation => "/api/mutation",
            FunctionKind::Action => "/api/action",
        }
    }

    /// `query`, `mutation` or `action`.
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionKind::Query => "query",
            FunctionKind::Mutation => "mutation",
            FunctionKind::Action => "action",
        }
    }
}

impl fmt::Display for FunctionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FunctionKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "query" => Ok(FunctionKind::Query),
            "mutation" => Ok(FunctionKind::Mutation),
            "action" => Ok(FunctionKind::Action),
            _ => Err(format!(
                "{s:?} is not a function kind; expected query, mutation or action"
            )),
        }
    }
}

/// A function's path, `module:function` (modules may sit in folders:
/// `folder/module:function`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionPath(String);

impl FromStr for FunctionPath {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let expected = "expected module:function, like ops:getReliabilitySnapshot";
        let (module, function) = s.split_once(':').ok_or(expected)?;
        let ident = |t: &str| {
            !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        if module.split('/').all(ident) && ident(function) && !function.contains(['-', '.']) {
            Ok(FunctionPath(s.to_owned()))
        } else {
            Err(format!("{s:?}: {expected}"))
        }
    }
}

impl fmt::Display for FunctionPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a call authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum FunctionAuth {
    /// The deploy key: `Authorization: Convex <key>` (internal functions).
    Admin(String),
    /// A user's token: `Authorization: Bearer <token>`.
    User(String),
    /// No credential.
    Anonymous,
}

impl fmt::Debug for FunctionAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FunctionAuth::Admin(_) => "Admin(<redacted>)",
            FunctionAuth::User(_) => "User(<redacted>)",
            FunctionAuth::Anonymous => "Anonymous",
        })
    }
}

/// Why a function call did not give a value. Each message names the
/// function; none contains a key or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FunctionError {
    /// No (complete) HTTP answer.
    #[error("{function}: cannot reach the Convex deployment at {url}: {}", class.as_str())]
    Unreachable {
        /// The function.
        function: String,
        /// The URL called.
        url: String,
        /// The network error.
        class: ErrorClass,
    },
    /// The deployment refused the deploy key.
    #[error(
        "{function}: the deployment refused the deploy key ({status}{}): check CONVEX_DEPLOY_KEY or --deploy-key",
        code_suffix(code)
    )]
    AdminKeyRefused {
        /// The function.
        function: String,
        /// 401 or 403.
        status: u16,
        /// The answer's `code`.
        code: Option<String>,
    },
    /// The deployment refused the user's token.
    #[error(
        "{function}: the deployment refused the user's token ({status}{})",
        code_suffix(code)
    )]
    TokenRefused {
        /// The function.
        function: String,
        /// 401 or 403.
        status: u16,
        /// The answer's `code`.
        code: Option<String>,
    },
    /// No such function, or an internal one called without the deploy key.
    #[error("{function}: no such function at {url}{}: {message}",
            if *admin { "" } else { " (internal functions need the deploy key: set CONVEX_DEPLOY_KEY)" })]
    NotFound {
        /// The function.
        function: String,
        /// The deployment's URL.
        url: String,
        /// Whether the call carried the deploy key.
        admin: bool,
        /// The deployment's message.
        message: String,
    },
    /// The function threw (HTTP 560, or `"status": "error"`).
    #[error("{function} failed: {message}{}", data.as_ref().map(|d| format!(" (errorData: {d})")).unwrap_or_default())]
    Failed {
        /// The function.
        function: String,
        /// Its `errorMessage`.
        message: String,
        /// Its `errorData`, as compact JSON, when there was some.
        data: Option<String>,
    },
    /// Any other refusal: bad arguments, the wrong kind of function, a 5xx.
    #[error(
        "{function} ({kind}) was refused: {status}{}: {message}",
        code_suffix(code)
    )]
    Rejected {
        /// The function.
        function: String,
        /// How it was called.
        kind: FunctionKind,
        /// The status.
        status: u16,
        /// The answer's `code`.
        code: Option<String>,
        /// The answer's message (or the body's start).
        message: String,
    },
    /// An answer that is not a function result.
    #[error(
        "{function}: the deployment answered {status} with something that is not a Convex function result ({detail})"
    )]
    BadAnswer {
        /// The function.
        function: String,
        /// The status.
        status: u16,
        /// What it was.
        detail: String,
    },
    /// The key or token cannot be sent in an HTTP header.
    #[error("{function}: the credential holds bytes an HTTP header cannot carry")]
    BadCredential {
        /// The function.
        function: String,
    },
}

impl FunctionError {
    /// Whether the deployment gave no HTTP answer.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, FunctionError::Unreachable { .. })
    }
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
}

/// Runs `path` with `args` on the deployment at `url` (its `.convex.cloud`
/// URL) and returns the function's value.
pub async fn call(
    client: &Client,
    url: &http::Uri,
    kind: FunctionKind,
    path: &FunctionPath,
    args: &Value,
    auth: &FunctionAuth,
) -> Result<Value, FunctionError> {
    let function = path.to_string();
    let base = url.to_string();
    let endpoint = format!("{}{}", base.trim_end_matches('/'), kind.route());
    let uri: http::Uri = endpoint.parse().map_err(|_| FunctionError::BadAnswer {
        function: function.clone(),
        status: 0,
        detail: format!("{endpoint:?} is not a URL"),
    })?;
    let mut headers = http::HeaderMap::new();
    let json_type = http::HeaderValue::from_static("application/json");
    headers.insert(http::header::CONTENT_TYPE, json_type.clone());
    headers.insert(http::header::ACCEPT, json_type);
    headers.insert(
        "convex-client",
        http::HeaderValue::from_static(concat!("relhost-", env!("CARGO_PKG_VERSION"))),
    );
    let credential = match auth {
        FunctionAuth::Admin(key) => Some(format!("Convex {key}")),
        FunctionAuth::User(token) => Some(format!("Bearer {token}")),
        FunctionAuth::Anonymous => None,
    };
    if let Some(credential) = credential {
        let mut value =
            http::HeaderValue::from_str(&credential).map_err(|_| FunctionError::BadCredential {
                function: function.clone(),
            })?;
        value.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, value);
    }
    let body = json!({"path": function, "args": args, "format": "json"});
    let request = OutgoingRequest {
        method: http::Method::POST,
        uri,
        headers,
        body: Bytes::from(body.to_string()),
    };
    let (status, _, body) =
        client
            .send_collect(request)
            .await
            .map_err(|class| FunctionError::Unreachable {
                function: function.clone(),
                url: base.clone(),
                class,
            })?;
    interpret(&function, kind, &base, auth, status, &body)
}

/// The value of an answer, or the error it means.
fn interpret(
    function: &str,
    kind: FunctionKind,
    url: &str,
    auth: &FunctionAuth,
    status: u16,
    body: &[u8],
) -> Result<Value, FunctionError> {
    let function = function.to_owned();
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(quoted)
    };
    if status == 200 || status == FUNCTION_FAILED {
        let Some(Value::Object(answer)) = parsed.as_ref() else {
            return Err(FunctionError::BadAnswer {
                function,
                status,
                detail: format!("body {:?}", quoted(&String::from_utf8_lossy(body))),
            });
        };
        return match answer.get("status").and_then(Value::as_str) {
            Some("success") => Ok(answer.get("value").cloned().unwrap_or(Value::Null)),
            Some("error") => Err(FunctionError::Failed {
                function,
                message: field("errorMessage").unwrap_or_else(|| "(no errorMessage)".into()),
                data: answer
                    .get("errorData")
                    .filter(|d| !d.is_null())
                    .map(|d| quoted(&d.to_string())),
            }),
            _ => Err(FunctionError::BadAnswer {
                function,
                status,
                detail: "no \"status\": \"success\" or \"error\"".into(),
            }),
        };
    }
    let code = field("code")
        .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    let message = field("message")
        .or_else(|| field("errorMessage"))
        .or_else(|| field("error"))
        .unwrap_or_else(|| quoted(&String::from_utf8_lossy(body)));
    match (status, auth) {
        (401 | 403, FunctionAuth::Admin(_)) => Err(FunctionError::AdminKeyRefused {
            function,
            status,
            code,
        }),
        (401 | 403, FunctionAuth::User(_)) => Err(FunctionError::TokenRefused {
            function,
            status,
            code,
        }),
        (404, _) => Err(FunctionError::NotFound {
            function,
            url: url.to_owned(),
            admin: matches!(auth, FunctionAuth::Admin(_)),
            message,
        }),
        _ => Err(FunctionError::Rejected {
            function,
            kind,
            status,
            code,
            message,
        }),
    }
}

/// Text of the deployment's, on one line and bounded.
fn quoted(text: &str) -> String {
    crate::http::excerpt(text, MAX_QUOTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str, auth: &FunctionAuth) -> Result<Value, FunctionError> {
        interpret(
            "ops:get",
            FunctionKind::Query,
            "http://d",
            auth,
            status,
            body.as_bytes(),
        )
    }

    #[test]
    fn paths_and_kinds_parse() {
        for good in [
            "ops:getReliabilitySnapshot",
            "a/b/c:d_1",
            "toolCache:clearNamespace",
        ] {
            assert!(good.parse::<FunctionPath>().is_ok(), "{good}");
        }
        for bad in ["ops", ":f", "m:", "m:f:g", "m x:f", "m:f-1", ""] {
            let e = bad.parse::<FunctionPath>().unwrap_err();
            assert!(e.contains("module:function"), "{bad}: {e}");
        }
        assert_eq!("mutation".parse(), Ok(FunctionKind::Mutation));
        assert!("update".parse::<FunctionKind>().is_err());
    }

    #[test]
    fn success_and_function_errors() {
        let anon = FunctionAuth::Anonymous;
        assert_eq!(
            answer(200, r#"{"status":"success","value":{"a":1}}"#, &anon),
            Ok(json!({"a": 1}))
        );
        let e = answer(
            560,
            r#"{"status":"error","errorMessage":"Uncaught Error: boom\nat x","errorData":{"k":1}}"#,
            &anon,
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("ops:get failed: Uncaught Error: boom at x"),
            "{text}"
        );
        assert!(text.contains(r#"errorData: {"k":1}"#), "{text}");
        assert!(matches!(
            answer(200, "<html>", &anon),
            Err(FunctionError::BadAnswer { .. })
        ));
    }

    #[test]
    fn refusals_name_the_credential_without_its_value() {
        let admin = FunctionAuth::Admin("prod:x|secret-key".into());
        let e = answer(401, r#"{"code":"BadAdminKey","message":"invalid"}"#, &admin).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("ops:get") && text.contains("CONVEX_DEPLOY_KEY"),
            "{text}"
        );
        assert!(!text.contains("secret-key"));
        assert!(format!("{admin:?}").contains("redacted"));
        let e = answer(
            404,
            r#"{"code":"FunctionNotFound","message":"Could not find"}"#,
            &FunctionAuth::Anonymous,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("set CONVEX_DEPLOY_KEY"), "{e}");
        let e = answer(
            400,
            r#"{"code":"ArgumentValidationError","message":"bad"}"#,
            &admin,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "ops:get (query) was refused: 400 ArgumentValidationError: bad"
        );
    }

    #[test]
    fn quoted_text_is_bounded() {
        assert_eq!(quoted("a\nb"), "a b");
        assert_eq!(quoted(&"x".repeat(1000)).chars().count(), MAX_QUOTED + 1);
    }
}
