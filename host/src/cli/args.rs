//! Typed values of flags: parsers whose errors state the expected form.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::error::CliError;
use crate::http::ClientConfig;
use crate::policy::{self, OwnershipMatrix, PolicyDocument};

/// Where a gate-like command also writes its outcome for CI.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CiOutputArgs {
    /// Also write the outcome as JUnit XML here.
    #[arg(long, value_name = "PATH")]
    pub(crate) junit: Option<PathBuf>,
    /// Also write a Markdown summary here.
    #[arg(long, value_name = "PATH")]
    pub(crate) summary: Option<PathBuf>,
}

/// Where a command reads and saves reports, and whether it prints anything.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct OutputArgs {
    /// Where reports are read and written.
    #[arg(
        long,
        env = "RELIABILITY_OUTPUT_DIR",
        default_value = ".output/reliability",
        value_name = "DIR"
    )]
    pub(crate) output_dir: PathBuf,
    /// Print nothing but errors.
    #[arg(long)]
    pub(crate) quiet: bool,
}

/// A finished drill a gate judges instead of drilling.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct JudgedDrillArgs {
    /// Judge this merged drill (`relhost merge`) instead of drilling: of
    /// the same profile, target and SLO baseline, run to its end.
    #[arg(long, value_name = "FILE")]
    pub(crate) drill_report: Option<PathBuf>,
}

/// The ownership matrix that names every check's owner.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct OwnershipArgs {
    /// Ownership matrix file (default: the built-in policies/ownership-matrix.json).
    #[arg(long, env = "RELIABILITY_OWNERSHIP_MATRIX", value_name = "FILE")]
    ownership_matrix: Option<PathBuf>,
}

impl OwnershipArgs {
    /// The matrix from the file, or the built-in one.
    pub(crate) fn load(&self) -> Result<OwnershipMatrix, CliError> {
        Ok(OwnershipMatrix::file_or_builtin(
            self.ownership_matrix.as_deref(),
            &(),
        )?)
    }
}

/// HTTP client flags, shared by the commands that talk to a target.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ClientArgs {
    /// TCP connect (and TLS handshake) timeout.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = positive_duration)]
    pub(crate) connect_timeout: Duration,
    /// Time allowed until the response head.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = positive_duration)]
    pub(crate) request_timeout: Duration,
    /// Longest gap allowed between chunks of a response body or event stream.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = positive_duration)]
    pub(crate) stream_idle_timeout: Duration,
    /// Use HTTP/2 (h2c prior knowledge on http://, ALPN on https://).
    /// Requests in flight are streams, spread over --h2-connections.
    #[arg(long)]
    pub(crate) http2: bool,
    /// With --http2: HTTP/2 connections to the target, spread evenly over
    /// the workers (of all segments, when split; default: one per worker). Each carries its share of the
    /// requests in flight as streams, up to the server's limit: h2load's
    /// `-c 64 -m 10` is `--h2-connections=64 -c 640`.
    #[arg(long, value_name = "N", requires = "http2",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) h2_connections: Option<u32>,
    /// PEM file with extra root certificates (a private CA).
    #[arg(long, value_name = "PEM")]
    pub(crate) ca_cert: Option<PathBuf>,
}

impl ClientArgs {
    /// The client settings the flags give.
    pub(crate) fn config(&self) -> ClientConfig {
        ClientConfig {
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            stream_idle_timeout: self.stream_idle_timeout,
            http2: self.http2,
            ca_cert: self.ca_cert.clone(),
            http2_connections: self.h2_connections.unwrap_or(0),
            ..ClientConfig::default()
        }
    }

    /// A client for a few calls in turn (one idle connection kept).
    pub(crate) fn single_client(&self) -> Result<crate::http::Client, CliError> {
        crate::http::Client::new(&ClientConfig {
            max_idle_per_host: 1,
            ..self.config()
        })
        .map_err(CliError::from)
    }
}

/// A duration like `100ms`, `5s` or `2m`, at most 30 days.
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    policy::parse_duration(text)
}

/// An instant in RFC 3339, UTC (`2026-12-05T10:00:00Z`, fractions allowed).
pub(crate) fn instant(text: &str) -> Result<std::time::SystemTime, String> {
    humantime::parse_rfc3339(text)
        .map_err(|e| format!("{text:?}: {e}; expected RFC 3339 in UTC, e.g. 2026-12-05T10:00:00Z"))
}

/// A duration greater than zero (a timeout, a run's length), at most 30 days.
pub(crate) fn positive_duration(text: &str) -> Result<Duration, String> {
    policy::parse_duration_within(text, Duration::from_millis(1), policy::MAX_DURATION)
}

/// The longest a plugin call may run: from 1 ms to 10 minutes.
pub(crate) fn plugin_deadline(text: &str) -> Result<Duration, String> {
    policy::parse_duration_within(text, Duration::from_millis(1), Duration::from_secs(600))
}

/// Arrivals per second, greater than 0 and at most [`policy::MAX_RATE`].
pub(crate) fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= policy::MAX_RATE => Ok(v),
        _ => Err(format!(
            "expected requests per second greater than 0 and at most {}, like 50000",
            policy::MAX_RATE
        )),
    }
}

/// The largest scale factor: a stage scaled by more is a typo.
const MAX_SCALE: f64 = 10_000.0;

/// A positive, finite multiplier like `0.5` or `20`, at most 10000.
pub(crate) fn scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= MAX_SCALE => Ok(v),
        _ => Err("expected a number greater than 0 and at most 10000, like 0.5 or 20".into()),
    }
}

/// A fraction from 0 to 1, like `0.8`.
pub(crate) fn fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("expected a number from 0 to 1, like 0.8".into()),
    }
}

/// `NAME=VALUE`, e.g. a plugin parameter.
pub(crate) fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err("expected NAME=VALUE, like region=eu-west-1".into()),
    }
}

/// A size in MiB, at least 1.
pub(crate) fn mebibytes(text: &str) -> Result<u64, String> {
    let digits = text.trim_end_matches("MiB").trim_end_matches("M");
    match digits.parse::<u64>() {
        Ok(v) if (1..=65_536).contains(&v) => Ok(v),
        _ => Err("expected a whole number of MiB between 1 and 65536, like 64 or 64MiB".into()),
    }
}

/// A comma-separated list of names; empty items are refused.
pub(crate) fn names(text: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = text.split(',').map(|s| s.trim().to_string()).collect();
    if names.iter().any(String::is_empty) {
        return Err(
            "expected comma-separated names like gmail_push_webhook,whatsapp_webhook".into(),
        );
    }
    Ok(names)
}

/// Parses a JSON object (function arguments).
pub(crate) fn json_object(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) if value.is_object() => Ok(value),
        Ok(_) => Err("expected a JSON object, like '{\"minutes\":30}'".into()),
        Err(e) => Err(format!(
            "not JSON ({e}); expected an object like '{{\"minutes\":30}}'"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_state_the_expected_form() {
        assert_eq!(duration("150ms"), Ok(Duration::from_millis(150)));
        assert!(duration("soon").unwrap_err().contains("like 100ms"));
        assert!(duration("500000000000y").is_err());
        assert!(positive_duration("0s").is_err());
        assert!(plugin_deadline("0s").is_err() && plugin_deadline("11m").is_err());
        assert!(scale("1e300").is_err());
        assert_eq!(scale("0.5"), Ok(0.5));
        assert!(scale("0").is_err() && scale("-1").is_err() && scale("inf").is_err());
        assert_eq!(fraction("0.8"), Ok(0.8));
        assert!(fraction("1.5").is_err() && fraction("-0.1").is_err() && fraction("x").is_err());
        assert_eq!(mebibytes("64MiB"), Ok(64));
        assert!(mebibytes("0").is_err());
        assert_eq!(names("a, b"), Ok(vec!["a".to_string(), "b".to_string()]));
        assert!(names("a,,b").is_err());
    }
}
