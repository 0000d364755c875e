//! Provisioning a pool: for each user, sign up (or sign in when the account
//! exists), then create a thread; with bounded parallelism and retries.
//!
//! The exchange, per user `i` (credentials from [`user_credentials`]):
//! 1. `POST <sign-up>` `{"email","password","name"}`. A 2xx gives the token
//!    (JSON `token`, else the `set-auth-token` header): the user is
//!    *created*. A 422, or an error `code` starting with
//!    `USER_ALREADY_EXISTS` (Better Auth's answer for a taken email), goes
//!    to step 2.
//! 2. `POST <sign-in>` `{"email","password"}`. A 2xx gives the token: the
//!    user is *reused*.
//! 3. Optionally (`convex_token`), `GET <convex-token>` with the session
//!    token: Better Auth's Convex plugin answers `{"token"}`, the token the
//!    Convex deployment accepts. It replaces the session token from here on.
//! 4. The thread, as the user (`Authorization: Bearer <token>`), either
//!    `POST <thread route>` `{}` whose 2xx gives JSON `threadId` (else `id`),
//!    or a Convex mutation whose value is the thread id (or holds it at a
//!    configured path).
//!
//! Each call is retried on network errors, 408, 429 (after `Retry-After`
//! when given) and 5xx, per [`RetryPolicy`]. A rerun signs in the same
//! accounts; its tokens are new sessions and its threads new threads (the
//! endpoints offer no cheap way to look up an old one).
//!
//! The first user is provisioned alone: when it gets no HTTP answer at all
//! from an endpoint, the origin is taken as unreachable and nothing else is
//! attempted. After that, up to `parallelism` users are in flight at once.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::accounts::{UserCredentials, user_credentials};
use super::file::PoolEntry;
use super::retry::{RetryPolicy, retry_after, retryable_status};
use crate::convex::{self, FunctionAuth, FunctionError, FunctionKind, FunctionPath};
use crate::http::{Client, ErrorClass, OutgoingRequest};
use crate::rng::SplitMix64;

/// The endpoints a pool is built with, as absolute URLs.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoints {
    /// Email sign-up (Better Auth: `/api/auth/sign-up/email` on the app origin).
    pub sign_up: http::Uri,
    /// Email sign-in (Better Auth: `/api/auth/sign-in/email` on the app origin).
    pub sign_in: http::Uri,
    /// Token exchange for the Convex deployment (Better Auth's Convex
    /// plugin: `/api/auth/convex/token`), if any.
    pub convex_token: Option<http::Uri>,
    /// Thread creation, as the user.
    pub thread: ThreadCreation,
}

/// How a user's thread is created.
#[derive(Debug, Clone, PartialEq)]
pub enum ThreadCreation {
    /// `POST {}` to this URL; the answer's JSON `threadId` (else `id`).
    Route(http::Uri),
    /// A Convex mutation at the deployment's function URL.
    Function {
        /// The deployment's `.convex.cloud` URL.
        url: http::Uri,
        /// The mutation.
        function: FunctionPath,
        /// Its arguments.
        args: Value,
        /// Where the id is in its value (`a.b`); `None`: the value itself
        /// when a string, else its `threadId`, `_id` or `id`.
        id_path: Option<String>,
    },
}

impl ThreadCreation {
    /// The URL or function, for messages.
    fn describe(&self) -> String {
        match self {
            ThreadCreation::Route(url) => url.to_string(),
            ThreadCreation::Function { url, function, .. } => format!("{function} at {url}"),
        }
    }
}

/// `origin` (an absolute http(s) URL, possibly with a base path) joined
/// with `path` (which must start with `/`).
pub fn join_url(origin: &http::Uri, path: &str) -> Result<http::Uri, String> {
    if !path.starts_with('/') {
        return Err(format!("path {path:?} must start with '/'"));
    }
    let base = origin.to_string();
    let joined = format!("{}{path}", base.trim_end_matches('/'));
    joined
        .parse()
        .map_err(|e| format!("{joined:?} is not a valid URL ({e})"))
}

/// What to provision.
#[derive(Debug, Clone)]
pub struct ProvisionConfig {
    /// Email prefix (checked with [`super::check_name`]).
    pub prefix: String,
    /// Seed of the credentials (checked with [`super::check_name`]).
    pub seed: String,
    /// Index of the first user.
    pub start: u32,
    /// Number of users, at least 1; `start + count - 1` must fit a `u32`.
    pub count: u32,
    /// Where to send the calls.
    pub endpoints: Endpoints,
    /// Most users in flight at once (at least 1).
    pub parallelism: usize,
    /// Retries of each call.
    pub retry: RetryPolicy,
}

/// A step of provisioning one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Signing up.
    SignUp,
    /// Signing in (the account existed).
    SignIn,
    /// Exchanging the session token for a Convex token.
    ConvexToken,
    /// Creating the thread.
    CreateThread,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::SignUp => "sign-up",
            Step::SignIn => "sign-in",
            Step::ConvexToken => "Convex token exchange",
            Step::CreateThread => "thread creation",
        })
    }
}

/// Why one user could not be provisioned. Messages name the step and the
/// URL; they never contain a password or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvisionError {
    /// No HTTP answer at all, after every attempt.
    #[error("{step}: cannot reach {url}: {} after {attempts} attempt(s)", class.as_str())]
    Unreachable {
        /// The step.
        step: Step,
        /// The URL called.
        url: String,
        /// The network error of the last attempt.
        class: ErrorClass,
        /// Attempts made.
        attempts: u32,
    },
    /// An answer that is not a success (after retries, if it was retryable).
    #[error("{step} at {url} answered {status}{}{}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
            if *attempts > 1 { format!(" after {attempts} attempts") } else { String::new() })]
    Status {
        /// The step.
        step: Step,
        /// The URL called.
        url: String,
        /// The status of the last answer.
        status: u16,
        /// The error `code` of a JSON error body, if it had a plain one.
        code: Option<String>,
        /// Attempts made.
        attempts: u32,
    },
    /// The thread mutation failed or was refused.
    #[error("{step}: {error}")]
    Function {
        /// The step.
        step: Step,
        /// Why.
        error: FunctionError,
    },
    /// A success without what it should carry.
    #[error("{step} at {url} answered {status} without {missing}")]
    BadResponse {
        /// The step.
        step: Step,
        /// The URL called.
        url: String,
        /// The (successful) status.
        status: u16,
        /// What was missing, e.g. `a token (JSON "token" or header set-auth-token)`.
        missing: &'static str,
    },
}

impl ProvisionError {
    /// Whether no HTTP answer came at all (refused, DNS, timeouts, TLS...).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ProvisionError::Unreachable { .. })
    }
}

/// How a user was provisioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOutcome {
    /// Signed up now.
    Created,
    /// The account existed; signed in.
    Reused,
}

/// Told about each user as it finishes (from the task that drives the run).
pub trait ProvisionProgress: Sync {
    /// User `index` (with `email`) is done, one way or the other.
    fn user_finished(&self, index: u32, email: &str, result: Result<UserOutcome, &ProvisionError>);
}

/// A user that could not be provisioned.
#[derive(Debug, Clone)]
pub struct UserFailure {
    /// Its index.
    pub index: u32,
    /// Its email (not a secret).
    pub email: String,
    /// What went wrong.
    pub error: ProvisionError,
}

/// The outcome of a run over all users.
#[derive(Debug, Clone, Default)]
pub struct ProvisionReport {
    /// The entries of the users that succeeded, in index order.
    pub entries: Vec<PoolEntry>,
    /// Users signed up now.
    pub created: u32,
    /// Users that existed and were signed in.
    pub reused: u32,
    /// Users that failed, in index order.
    pub failures: Vec<UserFailure>,
}

/// Provisions users `start .. start + count`. `Err` only when the first
/// user got no HTTP answer from an endpoint (the origin is unreachable);
/// every other failure is counted in the report.
pub async fn provision(
    client: &Client,
    config: &ProvisionConfig,
    progress: &dyn ProvisionProgress,
) -> Result<ProvisionReport, ProvisionError> {
    let jitter_seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()).rotate_left(32);
    let user = |index: u32| {
        let creds = user_credentials(&config.prefix, &config.seed, index);
        let caller = Caller {
            client,
            retry: config.retry,
            rng_seed: SplitMix64::derive(jitter_seed, u64::from(index)),
        };
        async move {
            let result = caller.provision_user(&creds, &config.endpoints).await;
            (index, creds.email, result)
        }
    };
    let mut report = ProvisionReport::default();
    let mut results = Vec::with_capacity(config.count as usize);
    let mut record = |(index, email, result): (u32, String, Result<_, ProvisionError>)| {
        progress.user_finished(index, &email, result.as_ref().map(|(_, outcome)| *outcome));
        results.push((index, email, result));
    };

    let first = user(config.start).await;
    if let (_, _, Err(e)) = &first
        && e.is_unreachable()
    {
        return Err(e.clone());
    }
    record(first);
    let rest = (1..config.count).map(|offset| config.start + offset);
    let mut stream = futures_util::stream::iter(rest)
        .map(user)
        .buffer_unordered(config.parallelism.max(1));
    while let Some(done) = stream.next().await {
        record(done);
    }
    drop(stream);

    results.sort_by_key(|(index, _, _)| *index);
    for (index, email, result) in results {
        match result {
            Ok((entry, outcome)) => {
                match outcome {
                    UserOutcome::Created => report.created += 1,
                    UserOutcome::Reused => report.reused += 1,
                }
                report.entries.push(entry);
            }
            Err(error) => report.failures.push(UserFailure {
                index,
                email,
                error,
            }),
        }
    }
    Ok(report)
}

/// An answer, after retries.
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
    attempts: u32,
}

/// Sends the calls of one user, with retries.
struct Caller<'a> {
    client: &'a Client,
    retry: RetryPolicy,
    rng_seed: u64,
}

impl Caller<'_> {
    async fn provision_user(
        &self,
        creds: &UserCredentials,
        endpoints: &Endpoints,
    ) -> Result<(PoolEntry, UserOutcome), ProvisionError> {
        let mut rng = SplitMix64::new(self.rng_seed);
        let sign_up = json!({"email": creds.email, "password": creds.password, "name": creds.name});
        let answer = self
            .call(
                Step::SignUp,
                http::Method::POST,
                &endpoints.sign_up,
                Some(&sign_up),
                None,
                &mut rng,
            )
            .await?;
        let code = error_code(&answer.body);
        let exists = answer.status == 422
            || code
                .as_deref()
                .is_some_and(|c| c.starts_with("USER_ALREADY_EXISTS"));
        let (answer, step, outcome) = if exists {
            let sign_in = json!({"email": creds.email, "password": creds.password});
            let answer = self
                .call(
                    Step::SignIn,
                    http::Method::POST,
                    &endpoints.sign_in,
                    Some(&sign_in),
                    None,
                    &mut rng,
                )
                .await?;
            (answer, Step::SignIn, UserOutcome::Reused)
        } else {
            (answer, Step::SignUp, UserOutcome::Created)
        };
        let url = if step == Step::SignUp {
            &endpoints.sign_up
        } else {
            &endpoints.sign_in
        };
        let answer = success(step, url, answer)?;
        let mut token = token(&answer).ok_or_else(|| ProvisionError::BadResponse {
            step,
            url: url.to_string(),
            status: answer.status,
            missing: if answer_has_null_token(&answer.body) {
                "a token (JSON \"token\" is null: does the app require email verification?)"
            } else {
                "a token (header set-auth-token or JSON \"token\")"
            },
        })?;
        if let Some(exchange) = &endpoints.convex_token {
            let answer = self
                .call(
                    Step::ConvexToken,
                    http::Method::GET,
                    exchange,
                    None,
                    Some(&token),
                    &mut rng,
                )
                .await?;
            let answer = success(Step::ConvexToken, exchange, answer)?;
            token = json_token(&answer.body).ok_or_else(|| ProvisionError::BadResponse {
                step: Step::ConvexToken,
                url: exchange.to_string(),
                status: answer.status,
                missing: "a token (JSON \"token\")",
            })?;
        }
        let thread_id = self
            .create_thread(&endpoints.thread, &token, &mut rng)
            .await?;
        Ok((
            PoolEntry {
                auth_token: token,
                thread_id,
            },
            outcome,
        ))
    }

    /// Creates the user's thread and returns its id.
    async fn create_thread(
        &self,
        thread: &ThreadCreation,
        token: &str,
        rng: &mut SplitMix64,
    ) -> Result<String, ProvisionError> {
        let step = Step::CreateThread;
        let missing = |status| ProvisionError::BadResponse {
            step,
            url: thread.describe(),
            status,
            missing: "a thread id (a string, or JSON \"threadId\", \"_id\" or \"id\")",
        };
        match thread {
            ThreadCreation::Route(url) => {
                let answer = self
                    .call(
                        step,
                        http::Method::POST,
                        url,
                        Some(&json!({})),
                        Some(token),
                        rng,
                    )
                    .await?;
                let answer = success(step, url, answer)?;
                serde_json::from_slice::<Value>(&answer.body)
                    .ok()
                    .and_then(|v| thread_id(&v, None))
                    .ok_or_else(|| missing(answer.status))
            }
            ThreadCreation::Function {
                url,
                function,
                args,
                id_path,
            } => {
                let value = self.mutation(url, function, args, token, rng).await?;
                thread_id(&value, id_path.as_deref()).ok_or_else(|| missing(200))
            }
        }
    }

    /// Runs a mutation as the user, retried like every call.
    async fn mutation(
        &self,
        url: &http::Uri,
        function: &FunctionPath,
        args: &Value,
        token: &str,
        rng: &mut SplitMix64,
    ) -> Result<Value, ProvisionError> {
        let auth = FunctionAuth::User(token.to_owned());
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = convex::call(
                self.client,
                url,
                FunctionKind::Mutation,
                function,
                args,
                &auth,
            )
            .await;
            let retry = match &result {
                Err(FunctionError::Unreachable { .. }) => true,
                Err(FunctionError::Rejected { status, .. }) => retryable_status(*status),
                _ => false,
            };
            if !retry || attempt >= max_attempts {
                return result.map_err(|error| match error {
                    FunctionError::Unreachable { url, class, .. } => ProvisionError::Unreachable {
                        step: Step::CreateThread,
                        url,
                        class,
                        attempts: attempt,
                    },
                    error => ProvisionError::Function {
                        step: Step::CreateThread,
                        error,
                    },
                });
            }
            tokio::time::sleep(self.retry.delay(attempt, None, rng)).await;
        }
    }

    /// Sends `body` (as JSON, when given) until an answer is final or
    /// attempts run out. `Err` only when no attempt got an answer.
    async fn call(
        &self,
        step: Step,
        method: http::Method,
        url: &http::Uri,
        body: Option<&Value>,
        bearer: Option<&str>,
        rng: &mut SplitMix64,
    ) -> Result<Answer, ProvisionError> {
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        if let Some(origin) = origin_of(url) {
            // Better Auth checks the Origin of state-changing requests.
            headers.insert(http::header::ORIGIN, origin);
        }
        if let Some(token) = bearer {
            let mut value =
                http::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                    ProvisionError::BadResponse {
                        step,
                        url: url.to_string(),
                        status: 200,
                        missing: "a token that can be sent in an HTTP header",
                    }
                })?;
            value.set_sensitive(true);
            headers.insert(http::header::AUTHORIZATION, value);
        }
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = OutgoingRequest {
                method: method.clone(),
                uri: url.clone(),
                headers: headers.clone(),
                body: body.clone(),
            };
            let result = self.client.send_collect(request).await;
            let wait = match &result {
                Ok((status, headers, _)) if retryable_status(*status) => retry_after(headers),
                Ok(_) => None,
                Err(_) => None,
            };
            let retry = match &result {
                Ok((status, _, _)) => retryable_status(*status),
                Err(_) => true,
            };
            if !retry || attempt >= max_attempts {
                return match result {
                    Ok((status, headers, body)) => Ok(Answer {
                        status,
                        headers,
                        body,
                        attempts: attempt,
                    }),
                    Err(class) => Err(ProvisionError::Unreachable {
                        step,
                        url: url.to_string(),
                        class,
                        attempts: attempt,
                    }),
                };
            }
            tokio::time::sleep(self.retry.delay(attempt, wait, rng)).await;
        }
    }
}

/// The answer if it is a 2xx, else the error naming its status.
fn success(step: Step, url: &http::Uri, answer: Answer) -> Result<Answer, ProvisionError> {
    if (200..300).contains(&answer.status) {
        Ok(answer)
    } else {
        Err(ProvisionError::Status {
            step,
            url: url.to_string(),
            status: answer.status,
            code: error_code(&answer.body),
            attempts: answer.attempts,
        })
    }
}

/// The token of a sign-up or sign-in answer: the `set-auth-token` header
/// (Better Auth's bearer plugin, the token its bearer auth accepts), else
/// JSON `token`.
fn token(answer: &Answer) -> Option<String> {
    answer
        .headers
        .get("set-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .filter(|t| usable_token(t))
        .or_else(|| json_token(&answer.body))
}

/// JSON `token` of an answer, when usable as a bearer token.
fn json_token(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_owned))
        .filter(|t| usable_token(t))
}

fn usable_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether an answer says `"token": null` (Better Auth's sign-up when the
/// email must be verified first).
fn answer_has_null_token(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .is_some_and(|v| v.get("token").is_some_and(Value::is_null))
}

/// The thread id in `value`: at `path` (dot-separated keys) when given;
/// else the value itself when a string, else its `threadId`, `_id` or `id`.
/// A string, or a number written as one.
fn thread_id(value: &Value, path: Option<&str>) -> Option<String> {
    let id = |v: &Value| match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match path {
        Some(path) => path
            .split('.')
            .try_fold(value, |v, key| v.get(key))
            .and_then(id),
        None => id(value).filter(|_| value.is_string()).or_else(|| {
            ["threadId", "_id", "id"]
                .iter()
                .find_map(|key| value.get(key).and_then(id))
        }),
    }
}

/// The `code` of a JSON error body, when it is a plain identifier (so that
/// nothing the server echoes back ends up in our messages).
fn error_code(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let code = value.get("code")?.as_str()?;
    (!code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
    .then(|| code.to_owned())
}

/// `scheme://authority` of `url`, as an `Origin` header value.
fn origin_of(url: &http::Uri) -> Option<http::HeaderValue> {
    let origin = format!("{}://{}", url.scheme_str()?, url.authority()?);
    http::HeaderValue::from_str(&origin).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_ids_are_found_where_the_answer_keeps_them() {
        assert_eq!(thread_id(&json!("k57a"), None).as_deref(), Some("k57a"));
        assert_eq!(
            thread_id(&json!({"_id": "k1", "x": 1}), None).as_deref(),
            Some("k1")
        );
        assert_eq!(
            thread_id(&json!({"threadId": 7}), None).as_deref(),
            Some("7")
        );
        assert_eq!(
            thread_id(&json!({"thread": {"key": "t9"}}), Some("thread.key")).as_deref(),
            Some("t9")
        );
        assert_eq!(thread_id(&json!({"thread": {}}), Some("thread.key")), None);
        assert_eq!(thread_id(&json!(""), None), None);
        assert_eq!(thread_id(&json!(null), None), None);
    }

    #[test]
    fn the_bearer_header_is_preferred_and_null_tokens_are_named() {
        let mut headers = http::HeaderMap::new();
        headers.insert("set-auth-token", "signed.tok".parse().expect("value"));
        let answer = Answer {
            status: 200,
            headers,
            body: Bytes::from_static(br#"{"token":"raw"}"#),
            attempts: 1,
        };
        assert_eq!(token(&answer).as_deref(), Some("signed.tok"));
        assert!(answer_has_null_token(br#"{"token":null,"user":{}}"#));
        assert!(!answer_has_null_token(br#"{"user":{}}"#));
    }
}
