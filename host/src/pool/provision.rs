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
//! 3. `POST <thread>` `{}` with `Authorization: Bearer <token>`. A 2xx
//!    gives the thread id (JSON `threadId`, else `id`).
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

use super::credentials::{UserCredentials, user_credentials};
use super::file::PoolEntry;
use super::retry::{RetryPolicy, retry_after, retryable_status};
use crate::http::{Client, ErrorClass, OutgoingRequest};
use crate::rng::SplitMix64;

/// The three endpoints a pool is built with, as absolute URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Email sign-up (Better Auth: `/api/auth/sign-up/email` on the app origin).
    pub sign_up: http::Uri,
    /// Email sign-in (Better Auth: `/api/auth/sign-in/email` on the app origin).
    pub sign_in: http::Uri,
    /// Thread creation, with the user's bearer token.
    pub thread: http::Uri,
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
    /// Creating the thread.
    CreateThread,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::SignUp => "sign-up",
            Step::SignIn => "sign-in",
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
            .call(Step::SignUp, &endpoints.sign_up, &sign_up, None, &mut rng)
            .await?;
        let code = error_code(&answer.body);
        let exists = answer.status == 422
            || code
                .as_deref()
                .is_some_and(|c| c.starts_with("USER_ALREADY_EXISTS"));
        let (answer, step, outcome) = if exists {
            let sign_in = json!({"email": creds.email, "password": creds.password});
            let answer = self
                .call(Step::SignIn, &endpoints.sign_in, &sign_in, None, &mut rng)
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
        let token = token(&answer).ok_or_else(|| ProvisionError::BadResponse {
            step,
            url: url.to_string(),
            status: answer.status,
            missing: "a token (JSON \"token\" or header set-auth-token)",
        })?;

        let answer = self
            .call(
                Step::CreateThread,
                &endpoints.thread,
                &json!({}),
                Some(&token),
                &mut rng,
            )
            .await?;
        let answer = success(Step::CreateThread, &endpoints.thread, answer)?;
        let thread_id = thread_id(&answer.body).ok_or_else(|| ProvisionError::BadResponse {
            step: Step::CreateThread,
            url: endpoints.thread.to_string(),
            status: answer.status,
            missing: "a thread id (JSON \"threadId\" or \"id\")",
        })?;
        Ok((
            PoolEntry {
                auth_token: token,
                thread_id,
            },
            outcome,
        ))
    }

    /// POSTs `body` as JSON until an answer is final or attempts run out.
    /// `Err` only when no attempt got an answer.
    async fn call(
        &self,
        step: Step,
        url: &http::Uri,
        body: &Value,
        bearer: Option<&str>,
        rng: &mut SplitMix64,
    ) -> Result<Answer, ProvisionError> {
        let body = Bytes::from(body.to_string());
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
                method: http::Method::POST,
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

/// The token of a sign-up or sign-in answer: JSON `token`, else the
/// `set-auth-token` header (Better Auth's bearer plugin).
fn token(answer: &Answer) -> Option<String> {
    let from_json = serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_owned));
    let from_header = || {
        answer
            .headers
            .get("set-auth-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    from_json
        .filter(|t| !t.trim().is_empty())
        .or_else(from_header)
        .filter(|t| !t.trim().is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
}

/// The thread id of a thread-creation answer: JSON `threadId`, else `id`
/// (a string, or a number written as one).
fn thread_id(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    ["threadId", "id"]
        .iter()
        .find_map(|key| match value.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
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
