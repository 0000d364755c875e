//! `--out` and `--out-interval`: live metrics of every drilling command,
//! with each output's credentials from the environment only.

use std::time::Duration;

use clap::Args;

use super::args;
use super::error::CliError;
use crate::drill::LiveOutputs;
use crate::output::{Output, OutputTarget};

/// Bearer token of the Prometheus remote-write endpoint.
const PROMETHEUS_BEARER_ENV: &str = "RELHOST_OUT_PROMETHEUS_RW_BEARER_TOKEN";
/// Basic-auth user of the Prometheus remote-write endpoint.
const PROMETHEUS_USER_ENV: &str = "RELHOST_OUT_PROMETHEUS_RW_USERNAME";
/// Basic-auth password of the Prometheus remote-write endpoint.
const PROMETHEUS_PASSWORD_ENV: &str = "RELHOST_OUT_PROMETHEUS_RW_PASSWORD";
/// OTLP headers (`key=value,...`), as OpenTelemetry SDKs read them.
const OTLP_HEADER_ENVS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    "OTEL_EXPORTER_OTLP_HEADERS",
];

/// Live metrics outputs.
#[derive(Debug, Clone, Args)]
pub(crate) struct LiveOutputArgs {
    /// Live metrics output, repeatable: prometheus-rw=URL (remote write) or otlp=URL
    /// (OTLP/HTTP); credentials come from the environment only.
    #[arg(
        long = "out",
        env = "RELHOST_OUT",
        value_delimiter = ',',
        value_name = "KIND=URL"
    )]
    outputs: Vec<OutputTarget>,
    /// Time between pushes of live metrics.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = args::positive_duration)]
    out_interval: Duration,
}

impl LiveOutputArgs {
    /// The outputs with their authentication from the environment; `None`
    /// without `--out`.
    pub(crate) fn resolve(&self) -> Result<Option<LiveOutputs>, CliError> {
        if self.outputs.is_empty() {
            return Ok(None);
        }
        let outputs = self
            .outputs
            .iter()
            .map(|target| {
                Ok(Output {
                    target: target.clone(),
                    headers: headers_for(target, &|name| std::env::var(name).ok())?,
                })
            })
            .collect::<Result<Vec<_>, CliError>>()?;
        Ok(Some(LiveOutputs {
            outputs,
            interval: self.out_interval,
        }))
    }
}

/// The authentication headers of `target` from the environment (`env`);
/// every value is registered as a secret.
fn headers_for(
    target: &OutputTarget,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<http::HeaderMap, CliError> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let mut pairs: Vec<(String, String)> = Vec::new();
    match target {
        OutputTarget::PrometheusRw(_) => {
            if let Some(token) = set(PROMETHEUS_BEARER_ENV) {
                pairs.push(("authorization".into(), format!("Bearer {token}")));
            } else if let Some(user) = set(PROMETHEUS_USER_ENV) {
                use base64::Engine;
                let password = set(PROMETHEUS_PASSWORD_ENV).unwrap_or_default();
                crate::redact::register(&password);
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                pairs.push(("authorization".into(), format!("Basic {encoded}")));
            }
        }
        OutputTarget::Otlp(_) => {
            if let Some((var, list)) = OTLP_HEADER_ENVS
                .iter()
                .find_map(|v| set(v).map(|l| (*v, l)))
            {
                for item in list.split(',').filter(|i| !i.trim().is_empty()) {
                    let (key, value) = item.split_once('=').ok_or_else(|| {
                        CliError::BadInput(format!(
                            "{var}: expected key=value pairs separated by ','"
                        ))
                    })?;
                    pairs.push((key.trim().to_owned(), value.trim().to_owned()));
                }
            }
        }
    }
    let mut headers = http::HeaderMap::new();
    for (key, value) in pairs {
        crate::redact::register(&value);
        let name = http::HeaderName::from_bytes(key.as_bytes()).map_err(|_| {
            CliError::BadInput(format!(
                "--out {}: {key:?} is not a header name",
                target.kind()
            ))
        })?;
        let mut value = http::HeaderValue::from_str(&value).map_err(|_| {
            CliError::BadInput(format!(
                "--out {}: the value of {key} is not a header value",
                target.kind()
            ))
        })?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn credentials_come_from_the_environment() {
        let prw: OutputTarget = "prometheus-rw=http://127.0.0.1:1/api/v1/write"
            .parse()
            .expect("target");
        let h = headers_for(&prw, &env(&[(PROMETHEUS_BEARER_ENV, "tok-123456")])).expect("headers");
        assert_eq!(h["authorization"], "Bearer tok-123456");
        assert!(h["authorization"].is_sensitive());
        let h = headers_for(
            &prw,
            &env(&[(PROMETHEUS_USER_ENV, "u"), (PROMETHEUS_PASSWORD_ENV, "p")]),
        )
        .expect("headers");
        assert_eq!(h["authorization"], "Basic dTpw");
        let otlp: OutputTarget = "otlp=http://127.0.0.1:1".parse().expect("target");
        let h = headers_for(
            &otlp,
            &env(&[("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k1, x-org=o")]),
        )
        .expect("headers");
        assert_eq!(
            (h["x-api-key"].to_str().ok(), h["x-org"].to_str().ok()),
            (Some("k1"), Some("o"))
        );
        assert!(headers_for(&otlp, &env(&[("OTEL_EXPORTER_OTLP_HEADERS", "nokey")])).is_err());
        assert!(headers_for(&otlp, &env(&[])).expect("none").is_empty());
    }
}
