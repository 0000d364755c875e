//! `relhost load URL`: an ad-hoc run against one URL, as wrk and oha offer:
//! `-c 64 -z 10s` holds 64 connections busy (closed model), `-q 50000 -z 10s`
//! sends 50,000 requests per second at their intended times (open model,
//! with `-c` capping the requests in flight). The requests are built by the
//! built-in `http_request` plugin from `-m`, `-H` and `-d` (or by `--plugin`),
//! so the plugin path is what gets measured; the report and the summary are
//! a drill's.

use std::time::Duration;

use clap::Args;

use super::args;
use super::drill::DrillArgs;
use super::error::CliError;
use super::printer::Printer;
use super::progress::ConsoleProgress;
use super::signals::stop_on_signal;
use crate::drill::{self, ProfileChoice, TargetChoice};
use crate::exit::Exit;
use crate::plugin::artifacts::LOAD_SCENARIO;
use crate::policy::{Load, Profile, ScenarioPlan, Stage};

/// Run an ad-hoc load against one URL (closed model with -c, open model with -q).
#[derive(Debug, Args)]
pub struct LoadCommand {
    /// The URL to load, e.g. http://127.0.0.1:8080/api/items?page=1.
    #[arg(value_name = "URL", value_parser = parse_url)]
    url: http::Uri,
    /// Requests in flight (closed model): over HTTP/1.1 one connection
    /// each, with --http2 streams spread over --h2-connections. With
    /// --rate, the most requests in flight.
    #[arg(short = 'c', long = "connections", default_value = "50", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    connections: u32,
    /// How long to run.
    #[arg(short = 'z', long = "duration", default_value = "10s", value_name = "DURATION",
          value_parser = args::positive_duration)]
    duration: Duration,
    /// Requests per second, sent at their intended times (open model).
    #[arg(short = 'q', long = "rate", value_name = "N", value_parser = args::rate)]
    rate: Option<f64>,
    /// Stop after this many requests.
    #[arg(short = 'n', long = "requests", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,
    /// HTTP method.
    #[arg(short = 'm', long = "method", default_value = "GET", value_name = "METHOD", value_parser = parse_method)]
    method: String,
    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    headers: Vec<String>,
    /// The request body.
    #[arg(short = 'd', long = "body", value_name = "BODY")]
    body: Option<String>,
    #[command(flatten)]
    drill: DrillArgs,
}

impl LoadCommand {
    /// Runs the load and writes its report.
    pub async fn run(self) -> Result<Exit, CliError> {
        let stop = stop_on_signal();
        let printer = Printer::stdout(self.drill.quiet());
        let progress = ConsoleProgress::new(self.drill.quiet());
        let base = origin(&self.url)?;
        let path = self
            .url
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        let mut params = vec![
            ("method".to_string(), self.method.clone()),
            ("path".to_string(), path),
        ];
        for header in &self.headers {
            if let Some((name, value)) = header.split_once(':') {
                crate::redact::register_credential(name, value);
            }
        }
        if !self.headers.is_empty() {
            params.push(("headers".to_string(), self.headers.join("\n")));
        }
        if let Some(body) = &self.body {
            params.push(("body".to_string(), body.clone()));
        }
        // A Host header the operator gives is theirs to give; a plugin's is refused.
        let host_header = self.headers.iter().any(|h| {
            h.split_once(':')
                .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("host"))
        });
        let mut options = self.drill.options()?;
        options.target = TargetChoice::Url(base);
        options.profile = ProfileChoice::Inline(self.profile());
        options.params.extend(params);
        options.max_in_flight = u64::from(self.connections);
        options.allow_host_header = host_header;
        let prepared = drill::prepare(&options, &progress, &stop).await?;
        let outcome = prepared.run(stop, &progress).await?;
        printer.summary(&outcome.report);
        printer.line(&format!("report: {}", outcome.path.display()));
        prepared.shutdown().await;
        Ok(outcome.report.status.into())
    }

    /// One stage: the rate (open model) or the connections (closed model).
    fn profile(&self) -> Profile {
        let load = match self.rate {
            Some(rate) => Load::Rate(rate),
            None => Load::Concurrency(self.connections),
        };
        Profile {
            name: "load".into(),
            description: format!("relhost load {}", self.url),
            scenarios: vec![ScenarioPlan {
                scenario: LOAD_SCENARIO.into(),
                stages: vec![Stage {
                    name: "load".into(),
                    load,
                    duration: self.duration,
                    ramp: Duration::ZERO,
                    max_requests: self.requests,
                    think_time: Duration::ZERO,
                }],
            }],
        }
    }
}

/// `scheme://authority` of a URL.
fn origin(url: &http::Uri) -> Result<http::Uri, CliError> {
    let (Some(scheme), Some(authority)) = (url.scheme_str(), url.authority()) else {
        return Err(CliError::BadInput(format!(
            "URL {url}: expected http:// or https:// with a host"
        )));
    };
    format!("{scheme}://{authority}")
        .parse()
        .map_err(|e| CliError::BadInput(format!("URL {url}: {e}")))
}

fn parse_url(text: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = text
        .parse()
        .map_err(|e| format!("expected an absolute URL like http://127.0.0.1:8080/path ({e})"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(
            "expected an absolute http:// or https:// URL, like http://127.0.0.1:8080/path".into(),
        ),
    }
}

fn parse_method(text: &str) -> Result<String, String> {
    const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    let upper = text.to_ascii_uppercase();
    if METHODS.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(format!("expected one of {}", METHODS.join(", ")))
    }
}

fn parse_header(text: &str) -> Result<String, String> {
    match text.split_once(':') {
        Some((name, _)) if http::header::HeaderName::from_bytes(name.trim().as_bytes()).is_ok() => {
            Ok(text.to_string())
        }
        _ => Err("expected `Name: value`, like `Content-Type: application/json`".into()),
    }
}
