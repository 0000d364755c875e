//! What a synthetic probe found: one outcome per scenario, with its checks.
//! Reports carry them (probe reports, release gates, game-day phases);
//! `ops` runs the probes.

use serde::{Deserialize, Serialize};

use super::Verdict;

/// A check's observed value: a number or a description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Observed {
    /// A measured number (a status, milliseconds).
    Number(f64),
    /// A description (a body's shape, a network error class).
    Text(String),
}

/// One check of a probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeCheck {
    /// `status`, `latency` or `body` (in an ownership matrix: `probe_status`, ...).
    pub name: String,
    /// What was seen.
    pub observed: Observed,
    /// What was expected, e.g. `one of 200, 202` or `<= 1500 ms`.
    pub expected: String,
    /// Pass or fail.
    pub verdict: Verdict,
}

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeOutcome {
    /// The scenario probed.
    pub scenario: String,
    /// Its endpoint.
    pub endpoint: String,
    /// Attempts made (0 when skipped).
    pub attempts: u32,
    /// The last attempt's HTTP status, if a head arrived.
    pub status: Option<u16>,
    /// The last attempt's latency in ms (head and body).
    pub latency_ms: Option<f64>,
    /// The last attempt's checks.
    pub checks: Vec<ProbeCheck>,
    /// Pass when every check passed; skipped when the probe could not run.
    pub verdict: Verdict,
    /// Why the probe was skipped, or the network error of the last attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ProbeOutcome {
    /// The failed checks' names.
    pub fn failed_checks(&self) -> impl Iterator<Item = &ProbeCheck> {
        self.checks.iter().filter(|c| c.verdict == Verdict::Fail)
    }
}
