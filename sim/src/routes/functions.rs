//! The Convex function API: `POST /api/query`, `/api/mutation` and
//! `/api/action` with `{"path": "module:function", "args": {...},
//! "format": "json"}`, answered as a Convex deployment answers them:
//!
//! - 200 `{"status":"success","value":...,"logLines":[]}`;
//! - 560 `{"status":"error","errorMessage":...,"errorData":...,"logLines":[]}`
//!   when the function itself throws;
//! - 400 `{"code","message"}` for a malformed request, arguments that do not
//!   match the function's validator, or the wrong kind of call;
//! - 401 for a wrong admin key (`BadAdminKey`) or user token
//!   (`Unauthenticated`);
//! - 404 `FunctionNotFound` for an unknown function, and for an internal
//!   function called without the admin key (`Authorization: Convex <key>`).
//!
//! Functions: `ops:getReliabilitySnapshot`, `ops:listFaults` and
//! `toolCache:listNamespaceStats` (internal queries), `ops:setFaults` and
//! `toolCache:clearNamespace` (internal mutations), and `threads:create` (a
//! public mutation for the signed-in user, `Bearer`).

use std::sync::Arc;

use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde_json::{Map, Value, json};

use super::{Resp, body_error, json as json_resp};
use crate::auth_store::{User, ct_eq};
use crate::body::read_body;
use crate::state::SimState;
use crate::stats::MAX_WINDOW_MINUTES;

/// Largest `limit` of the list functions.
const MAX_LIMIT: u64 = 10_000;
/// Longest thread title.
const MAX_TITLE: usize = 200;

/// The kind of a function, and the route that calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Query,
    Mutation,
    Action,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Query => "Query",
            Kind::Mutation => "Mutation",
            Kind::Action => "Action",
        }
    }
}

/// Who calls.
enum Caller {
    Admin,
    User(Arc<User>),
    Anonymous,
}

/// Why a call did not succeed.
enum Failure {
    /// 400 with a code.
    BadRequest(&'static str, String),
    /// 401 with a code.
    Unauthorized(&'static str, String),
    /// 404.
    NotFound(String),
    /// 560: the function threw.
    Thrown { message: String, data: Value },
}

impl Failure {
    fn response(self) -> Resp {
        let coded = |status, code: &str, message: String| {
            json_resp(status, &json!({"code": code, "message": message}))
        };
        match self {
            Failure::BadRequest(code, m) => coded(StatusCode::BAD_REQUEST, code, m),
            Failure::Unauthorized(code, m) => coded(StatusCode::UNAUTHORIZED, code, m),
            Failure::NotFound(m) => coded(StatusCode::NOT_FOUND, "FunctionNotFound", m),
            Failure::Thrown { message, data } => thrown(&message, data),
        }
    }
}

/// The 560 answer of a function that threw `message`.
pub(crate) fn thrown(message: &str, data: Value) -> Resp {
    let status = StatusCode::from_u16(560).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_resp(
        status,
        &json!({
            "status": "error",
            "errorMessage": format!("Uncaught Error: {message}"),
            "errorData": data,
            "logLines": [],
        }),
    )
}

type Run = fn(&SimState, &Caller, &Args) -> Result<Value, Failure>;

struct Function {
    path: &'static str,
    kind: Kind,
    internal: bool,
    run: Run,
}

const FUNCTIONS: [Function; 6] = [
    Function {
        path: "ops:getReliabilitySnapshot",
        kind: Kind::Query,
        internal: true,
        run: get_reliability_snapshot,
    },
    Function {
        path: "toolCache:listNamespaceStats",
        kind: Kind::Query,
        internal: true,
        run: list_namespace_stats,
    },
    Function {
        path: "toolCache:clearNamespace",
        kind: Kind::Mutation,
        internal: true,
        run: clear_namespace,
    },
    Function {
        path: "ops:listFaults",
        kind: Kind::Query,
        internal: true,
        run: list_faults,
    },
    Function {
        path: "ops:setFaults",
        kind: Kind::Mutation,
        internal: true,
        run: set_faults,
    },
    Function {
        path: "threads:create",
        kind: Kind::Mutation,
        internal: false,
        run: create_thread,
    },
];

/// Handles `POST /api/query|mutation|action`.
pub(crate) async fn call(state: &Arc<SimState>, kind: Kind, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let bytes = match read_body(&parts.headers, body).await {
        Ok(b) => b,
        Err(e) => return body_error(e),
    };
    match serve(state, kind, &parts.headers, &bytes) {
        Ok(value) => json_resp(
            StatusCode::OK,
            &json!({"status": "success", "value": value, "logLines": []}),
        ),
        Err(failure) => failure.response(),
    }
}

fn serve(
    state: &SimState,
    kind: Kind,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<Value, Failure> {
    let request: Value = serde_json::from_slice(body)
        .map_err(|e| Failure::BadRequest("BadJsonBody", format!("invalid JSON body: {e}")))?;
    let path = request.get("path").and_then(Value::as_str).ok_or_else(|| {
        Failure::BadRequest(
            "BadRequest",
            "the body needs \"path\": \"module:function\"".into(),
        )
    })?;
    match request.get("format").and_then(Value::as_str) {
        None | Some("json" | "convex_encoded_json") => {}
        Some(other) => {
            return Err(Failure::BadRequest(
                "BadRequest",
                format!("unsupported format {other:?}; expected \"json\""),
            ));
        }
    }
    let args = match request.get("args") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        // The npm client sends `[args]`.
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_object() => {
            a[0].as_object().cloned().unwrap_or_default()
        }
        Some(_) => {
            return Err(Failure::BadRequest(
                "BadRequest",
                "\"args\" must be an object".into(),
            ));
        }
    };
    let caller = caller(state, headers)?;
    let path = canonical(path);
    let function = FUNCTIONS
        .iter()
        .find(|f| f.path == path && (!f.internal || matches!(caller, Caller::Admin)))
        .ok_or_else(|| {
            Failure::NotFound(format!(
                "Could not find public function for '{path}'. Did you forget to run `npx convex dev` or `npx convex deploy`?"
            ))
        })?;
    if function.kind != kind {
        return Err(Failure::BadRequest(
            "BadRequest",
            format!(
                "Trying to execute {path} as {}, but it is defined as {}.",
                kind.name(),
                function.kind.name()
            ),
        ));
    }
    (function.run)(state, &caller, &Args { path, map: &args })
}

/// `module:function`, with `.js` and a missing function name (`default`)
/// as Convex accepts them.
fn canonical(path: &str) -> String {
    let (module, function) = path.split_once(':').unwrap_or((path, "default"));
    format!("{}:{function}", module.trim_end_matches(".js"))
}

fn caller(state: &SimState, headers: &http::HeaderMap) -> Result<Caller, Failure> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(Caller::Anonymous);
    };
    let value = value.to_str().unwrap_or_default().trim();
    let (scheme, credential) = value.split_once(' ').unwrap_or((value, ""));
    let credential = credential.trim();
    if scheme.eq_ignore_ascii_case("convex") {
        return if ct_eq(credential.as_bytes(), state.deploy_key.as_bytes()) {
            Ok(Caller::Admin)
        } else {
            Err(Failure::Unauthorized(
                "BadAdminKey",
                "The provided admin key was invalid for this instance".into(),
            ))
        };
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        return state
            .auth
            .user_by_token(credential)
            .map(Caller::User)
            .ok_or_else(|| {
                Failure::Unauthorized(
                    "Unauthenticated",
                    "Could not verify the token: it is expired or was never issued".into(),
                )
            });
    }
    Err(Failure::Unauthorized(
        "Unauthenticated",
        "Authorization must be `Bearer <token>` or `Convex <admin key>`".into(),
    ))
}

/// A function's arguments, checked against its validator.
struct Args<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl Args<'_> {
    fn invalid(&self, detail: String) -> Failure {
        Failure::BadRequest(
            "ArgumentValidationError",
            format!("ArgumentValidationError for {}: {detail}", self.path),
        )
    }

    /// Refuses fields the validator does not know.
    fn only(&self, fields: &[&str]) -> Result<(), Failure> {
        match self.map.keys().find(|k| !fields.contains(&k.as_str())) {
            Some(extra) => Err(self.invalid(format!(
                "Object contains extra field `{extra}` that is not in the validator"
            ))),
            None => Ok(()),
        }
    }

    fn number(&self, field: &str) -> Result<Option<f64>, Failure> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(self.invalid(format!(
                "Value `{other}` does not match validator v.number() at path .{field}"
            ))),
        }
    }

    fn string(&self, field: &str) -> Result<Option<&str>, Failure> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.invalid(format!(
                "Value `{other}` does not match validator v.string() at path .{field}"
            ))),
        }
    }
}

/// A whole number in `range` (the function throws otherwise, as the
/// backend's own checks do).
fn whole(field: &str, value: f64, max: u64) -> Result<u64, Failure> {
    if value.fract() == 0.0 && value >= 1.0 && value <= max as f64 {
        Ok(value as u64)
    } else {
        Err(Failure::Thrown {
            message: format!("{field} must be an integer from 1 to {max}, got {value}"),
            data: Value::Null,
        })
    }
}

fn get_reliability_snapshot(state: &SimState, _: &Caller, args: &Args) -> Result<Value, Failure> {
    args.only(&["minutes", "limit"])?;
    let minutes = match args.number("minutes")? {
        Some(m) => whole("minutes", m, u64::from(MAX_WINDOW_MINUTES))? as u32,
        None => state.cfg.ops.default_window_minutes,
    };
    let limit = match args.number("limit")? {
        Some(l) => whole("limit", l, MAX_LIMIT)? as usize,
        None => state.cfg.ops.max_rows_per_section,
    };
    Ok(super::ops::snapshot(state, minutes, limit))
}

fn list_namespace_stats(state: &SimState, _: &Caller, args: &Args) -> Result<Value, Failure> {
    args.only(&["limit"])?;
    let limit = match args.number("limit")? {
        Some(l) => whole("limit", l, MAX_LIMIT)? as usize,
        None => state.cfg.ops.max_rows_per_section,
    };
    Ok(state.tool_cache.stats(limit))
}

fn clear_namespace(state: &SimState, _: &Caller, args: &Args) -> Result<Value, Failure> {
    args.only(&["namespace"])?;
    let namespace = args
        .string("namespace")?
        .ok_or_else(|| args.invalid("Object is missing the required field `namespace`".into()))?;
    let deleted = state.tool_cache.clear(namespace);
    Ok(json!({"namespace": namespace, "deleted": deleted}))
}

fn list_faults(state: &SimState, _: &Caller, args: &Args) -> Result<Value, Failure> {
    args.only(&[])?;
    Ok(super::ops::faults_json(state))
}

fn set_faults(state: &SimState, _: &Caller, args: &Args) -> Result<Value, Failure> {
    args.only(&["faults"])?;
    let Some(Value::Array(items)) = args.map.get("faults") else {
        return Err(args.invalid("Object is missing the required field `faults` (an array)".into()));
    };
    let faults = super::ops::parse_faults(items).map_err(|message| Failure::Thrown {
        message,
        data: json!({ "valid_endpoints": crate::faults::VALID_ENDPOINTS, "valid_faults": crate::faults::VALID_FAULTS }),
    })?;
    state.faults.replace(faults);
    Ok(super::ops::faults_json(state))
}

fn create_thread(state: &SimState, caller: &Caller, args: &Args) -> Result<Value, Failure> {
    args.only(&["title"])?;
    if args
        .string("title")?
        .is_some_and(|t| t.chars().count() > MAX_TITLE)
    {
        return Err(Failure::Thrown {
            message: format!("title is longer than {MAX_TITLE} characters"),
            data: Value::Null,
        });
    }
    let Caller::User(user) = caller else {
        return Err(Failure::Thrown {
            message: "Not authenticated".into(),
            data: json!({"code": "UNAUTHENTICATED"}),
        });
    };
    Ok(Value::String(state.auth.create_thread(user)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_canonical() {
        assert_eq!(
            canonical("ops:getReliabilitySnapshot"),
            "ops:getReliabilitySnapshot"
        );
        assert_eq!(canonical("ops.js:x"), "ops:x");
        assert_eq!(canonical("threads"), "threads:default");
    }

    #[test]
    fn whole_numbers_are_bounded() {
        assert_eq!(whole("m", 30.0, 60).ok(), Some(30));
        for bad in [0.0, 61.0, 1.5, -1.0] {
            assert!(whole("m", bad, 60).is_err(), "{bad}");
        }
    }
}
