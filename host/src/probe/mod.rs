//! Synthetic probes: one checked request per entrypoint.
//!
//! A probe's request comes from the scenario plugin itself: the plugin
//! plans a one-request stage, and its template is compiled and filled
//! natively ([`RequestTemplate`]) exactly as in a drill (a `per-request`
//! plugin builds it with one guest call). The response is then checked:
//!
//! - `status`: one of the scenario's expected 2xx statuses (all of its
//!   expected statuses when it declares no 2xx one);
//! - `latency`: the whole exchange, head and body, within the ceiling;
//! - `body`: an event-stream scenario must answer an SSE stream with at
//!   least one `event: token`, a final `event: done`, and no `event: error`
//!   (a provider failure mid-stream arrives inside a 200); any other
//!   scenario must answer a JSON object.
//!
//! A failed attempt is retried after `backoff`, doubled each time; the
//! last attempt is the one reported.

mod suite;

pub use suite::{ProbeOutcomeFile, ProbeSuite, SuiteError};

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::{Credential, FillContext, RequestLimits, RequestTemplate, TemplateError};
use crate::http::{Client, OutgoingRequest};
use crate::plugin::{self, PluginError, ScenarioPlugin, Secrets, wit};
use crate::report::{
    Observed, PluginInfo, ProbeCheck, ProbeOutcome, ReportHeader, TargetInfo, Verdict,
};

/// How probes are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSettings {
    /// Attempts after the first, for a failing probe.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub backoff: Duration,
}

/// A probe ready to send.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    /// The scenario probed.
    pub scenario: String,
    /// Its endpoint, e.g. `/api/chat`.
    pub endpoint: String,
    /// Statuses that pass.
    pub expected_statuses: Vec<u16>,
    /// Whether the answer is an event stream.
    pub event_stream: bool,
    /// Latency ceiling in ms.
    pub latency_ceiling_ms: f64,
    /// Why the probe is skipped (e.g. no credential), when it is.
    pub skip: Option<String>,
    request: Option<OutgoingRequest>,
}

/// Why a probe could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The plugin failed to plan or build the request.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The plugin's template does not compile or fill.
    #[error("plugin {scenario}: template: {source}")]
    Template {
        /// The scenario.
        scenario: String,
        /// What is wrong.
        #[source]
        source: TemplateError,
    },
}

/// How a probe run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeStatus {
    /// Every probe passed (skipped ones aside, as long as one ran).
    Pass,
    /// A probe failed, or none ran.
    Fail,
    /// The run could not be carried out.
    Error,
}

impl ProbeStatus {
    /// The status of a set of outcomes.
    pub fn of(outcomes: &[ProbeOutcome]) -> ProbeStatus {
        let failed = outcomes.iter().any(|o| o.verdict == Verdict::Fail);
        let ran = outcomes.iter().any(|o| o.verdict == Verdict::Pass);
        if failed || !ran {
            ProbeStatus::Fail
        } else {
            ProbeStatus::Pass
        }
    }
}

/// The report of `relhost probe`: `synthetic-probes-<timestamp>.json`,
/// schema `schemas/synthetic-probes.schema.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeReport {
    /// Version, kind, start and end, command line.
    #[serde(flatten)]
    pub header: ReportHeader,
    /// How the run ended.
    pub status: ProbeStatus,
    /// The effective configuration, secrets by name only.
    pub config: serde_json::Value,
    /// What was probed.
    pub target: TargetInfo,
    /// The plugins that built the requests.
    pub plugins: Vec<PluginInfo>,
    /// One entry per probe, in run order.
    pub probes: Vec<ProbeOutcome>,
}

/// Builds the probe of `plugin`'s scenario against `base_url`: plans a
/// one-request stage and fills the request. A scenario that needs a
/// credential gets `credential`, or is skipped without one.
pub async fn prepare_probe(
    plugin: &ScenarioPlugin,
    base_url: &http::Uri,
    secrets: &Secrets,
    credential: Option<&Credential>,
    latency_ceiling_ms: f64,
    seed: u64,
) -> Result<ProbeSpec, ProbeError> {
    let d = plugin.descriptor();
    let success: Vec<u16> = d
        .expected_statuses
        .iter()
        .copied()
        .filter(|s| (200..300).contains(s))
        .collect();
    let mut spec = ProbeSpec {
        scenario: d.name.clone(),
        endpoint: d.endpoint.clone(),
        expected_statuses: if success.is_empty() {
            d.expected_statuses.clone()
        } else {
            success
        },
        event_stream: d.event_stream,
        latency_ceiling_ms,
        skip: None,
        request: None,
    };
    if d.needs_credential && credential.is_none() {
        spec.skip = Some(
            "needs a credential: set RELIABILITY_AUTH_TOKEN and RELIABILITY_THREAD_ID (or RELIABILITY_CHAT_AUTH_POOL_JSON)".into(),
        );
        return Ok(spec);
    }
    let stage = wit::Stage {
        name: "probe".into(),
        load: wit::Load::Rate(1.0),
        duration_ms: 1000,
        ramp_ms: 0,
        max_requests: Some(1),
    };
    let mut instance = plugin.instantiate(0).await?;
    let template = match instance.plan(&stage).await? {
        plugin::RequestPlan::Template(template) => template,
        plugin::RequestPlan::PerRequest => {
            let call = plugin::CallContext {
                scenario: d.name.clone(),
                stage: stage.name.clone(),
                iteration: 0,
                worker: 0,
                credential: credential.map(|c| wit::Credential {
                    index: 0,
                    thread_id: c.thread_id.clone(),
                }),
            };
            plugin::Template {
                request: instance.build_request(&call).await?,
                signing: None,
            }
        }
    };
    let template_error = |source| ProbeError::Template {
        scenario: d.name.clone(),
        source,
    };
    let mut compiled = RequestTemplate::compile(
        &template,
        base_url,
        &d.secrets,
        secrets,
        seed,
        RequestLimits::default(),
    )
    .map_err(template_error)?;
    let ctx = FillContext {
        iteration: 0,
        worker: 0,
        credential: credential.map(|c| (c.token.as_str(), c.thread_id.as_str())),
        payload: None,
    };
    spec.request = Some(compiled.fill(&ctx).map_err(template_error)?);
    Ok(spec)
}

/// What an SSE body held.
#[derive(Debug, Default, PartialEq, Eq)]
struct StreamShape {
    tokens: u32,
    last_event: Option<String>,
    errors: u32,
}

/// Reads the `event:` names of a complete SSE body.
fn stream_shape(body: &str) -> StreamShape {
    let mut shape = StreamShape::default();
    let normalized = body.replace("\r\n", "\n").replace('\r', "\n");
    for block in normalized.split("\n\n") {
        let mut name: Option<&str> = None;
        let mut has_data = false;
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = Some(v.trim());
            } else if line.starts_with("data:") {
                has_data = true;
            }
        }
        let name = match (name, has_data) {
            (Some(n), _) => n,
            (None, true) => "message",
            (None, false) => continue,
        };
        match name {
            "token" => shape.tokens += 1,
            "error" => shape.errors += 1,
            _ => {}
        }
        shape.last_event = Some(name.to_owned());
    }
    shape
}

fn body_check(event_stream: bool, status: u16, body: &[u8]) -> ProbeCheck {
    let (observed, ok, expected) = if status == 204 {
        // No Content: the scenario accepts it, and it has no body to check.
        let ok = body.is_empty();
        let observed = if ok {
            "no body (204 No Content)".to_owned()
        } else {
            format!("a body after 204: {:?}", crate::http::body_excerpt(body))
        };
        (observed, ok, "no body after 204, else a JSON object")
    } else if event_stream {
        let text = String::from_utf8_lossy(body);
        let s = stream_shape(&text);
        let ok = s.tokens >= 1 && s.errors == 0 && s.last_event.as_deref() == Some("done");
        (
            format!(
                "{} token event(s), {} error event(s), last event {}",
                s.tokens,
                s.errors,
                s.last_event.as_deref().unwrap_or("none")
            ),
            ok,
            "an SSE stream: at least 1 token event, a final done event, no error event",
        )
    } else {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v) if v.is_object() => ("a JSON object".to_owned(), true, "a JSON object"),
            Ok(_) => ("JSON, but not an object".to_owned(), false, "a JSON object"),
            Err(_) => (
                format!("not JSON: {:?}", crate::http::body_excerpt(body)),
                false,
                "a JSON object",
            ),
        }
    };
    ProbeCheck {
        name: "body".into(),
        observed: Observed::Text(observed),
        expected: expected.into(),
        verdict: if ok { Verdict::Pass } else { Verdict::Fail },
    }
}

fn verdict(ok: bool) -> Verdict {
    if ok { Verdict::Pass } else { Verdict::Fail }
}

/// One attempt: the outcome with `attempts` left at 1.
async fn attempt(client: &Client, spec: &ProbeSpec, request: OutgoingRequest) -> ProbeOutcome {
    let started = tokio::time::Instant::now();
    let answer = client.send_collect(request).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let expected_statuses = format!(
        "one of {}",
        spec.expected_statuses
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let latency_check = ProbeCheck {
        name: "latency".into(),
        observed: Observed::Number((latency_ms * 1000.0).round() / 1000.0),
        expected: format!("<= {} ms", spec.latency_ceiling_ms),
        verdict: verdict(latency_ms <= spec.latency_ceiling_ms),
    };
    let mut outcome = ProbeOutcome {
        scenario: spec.scenario.clone(),
        endpoint: spec.endpoint.clone(),
        attempts: 1,
        status: None,
        latency_ms: Some((latency_ms * 1000.0).round() / 1000.0),
        checks: Vec::new(),
        verdict: Verdict::Fail,
        message: None,
    };
    match answer {
        Err(class) => {
            outcome.message = Some(format!("no answer: {}", class.as_str()));
            outcome.checks = vec![
                ProbeCheck {
                    name: "status".into(),
                    observed: Observed::Text(class.as_str().to_owned()),
                    expected: expected_statuses,
                    verdict: Verdict::Fail,
                },
                latency_check,
            ];
        }
        Ok((status, _headers, body)) => {
            outcome.status = Some(status);
            let status_ok = spec.expected_statuses.contains(&status);
            outcome.checks = vec![
                ProbeCheck {
                    name: "status".into(),
                    observed: Observed::Number(f64::from(status)),
                    expected: expected_statuses,
                    verdict: verdict(status_ok),
                },
                latency_check,
                body_check(spec.event_stream, status, &body),
            ];
            if !status_ok && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                outcome.message = v.get("error").and_then(|e| e.as_str()).map(str::to_owned);
            }
        }
    }
    outcome.verdict = verdict(outcome.checks.iter().all(|c| c.verdict == Verdict::Pass));
    outcome
}

/// Runs one probe, retrying a failure up to `settings.retries` times.
pub async fn run_probe(client: &Client, spec: &ProbeSpec, settings: ProbeSettings) -> ProbeOutcome {
    let Some(request) = &spec.request else {
        return ProbeOutcome {
            scenario: spec.scenario.clone(),
            endpoint: spec.endpoint.clone(),
            attempts: 0,
            status: None,
            latency_ms: None,
            checks: Vec::new(),
            verdict: Verdict::Skipped,
            message: spec
                .skip
                .clone()
                .or_else(|| Some("no request was built".into())),
        };
    };
    let mut backoff = settings.backoff;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut outcome = attempt(client, spec, request.clone()).await;
        outcome.attempts = attempts;
        if outcome.verdict == Verdict::Pass || attempts > settings.retries {
            return outcome;
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2);
    }
}

/// Runs the probes one after the other.
pub async fn run_probes(
    client: &Client,
    specs: &[ProbeSpec],
    settings: ProbeSettings,
) -> Vec<ProbeOutcome> {
    let mut outcomes = Vec::with_capacity(specs.len());
    for spec in specs {
        outcomes.push(run_probe(client, spec, settings).await);
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_shapes() {
        let ok = "event: token\ndata: {}\n\nevent: token\ndata: {}\n\nevent: done\ndata: {}\n\n";
        let s = stream_shape(ok);
        assert_eq!(
            (s.tokens, s.errors, s.last_event.as_deref()),
            (2, 0, Some("done"))
        );
        assert_eq!(body_check(true, 200, ok.as_bytes()).verdict, Verdict::Pass);
        let failed = "event: token\ndata: {}\n\nevent: error\ndata: {\"status\":503}\n\n";
        assert_eq!(
            body_check(true, 200, failed.as_bytes()).verdict,
            Verdict::Fail
        );
        let cut = "event: token\r\ndata: {}\r\n\r\n";
        assert_eq!(body_check(true, 200, cut.as_bytes()).verdict, Verdict::Fail);
        let no_tokens = "event: done\ndata: {}\n\n";
        assert_eq!(
            body_check(true, 200, no_tokens.as_bytes()).verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn json_bodies() {
        assert_eq!(
            body_check(false, 200, br#"{"ok":true}"#).verdict,
            Verdict::Pass
        );
        assert_eq!(body_check(false, 200, b"[1]").verdict, Verdict::Fail);
        let c = body_check(false, 200, b"<html>");
        assert_eq!(c.verdict, Verdict::Fail);
        assert_eq!(c.observed, Observed::Text("not JSON: \"<html>\"".into()));
        // 204 No Content, which the Gmail scenario accepts, has no body to check.
        assert_eq!(body_check(false, 204, b"").verdict, Verdict::Pass);
        assert_eq!(body_check(false, 204, b"{}").verdict, Verdict::Fail);
    }

    #[test]
    fn status_of_outcomes() {
        let o = |v| ProbeOutcome {
            scenario: "s".into(),
            endpoint: "/".into(),
            attempts: 1,
            status: None,
            latency_ms: None,
            checks: vec![],
            verdict: v,
            message: None,
        };
        assert_eq!(
            ProbeStatus::of(&[o(Verdict::Pass), o(Verdict::Skipped)]),
            ProbeStatus::Pass
        );
        assert_eq!(
            ProbeStatus::of(&[o(Verdict::Pass), o(Verdict::Fail)]),
            ProbeStatus::Fail
        );
        assert_eq!(ProbeStatus::of(&[o(Verdict::Skipped)]), ProbeStatus::Fail);
    }
}
