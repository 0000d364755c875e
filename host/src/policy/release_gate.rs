//! The release gate policy (`policies/release-gate-policy.json`): which
//! synthetic probes run and how, which live snapshot checks the gate makes
//! (each with an owner from the ownership matrix), and the burn-rate gate's
//! windows and thresholds.
//!
//! ```json
//! { "schema_version": 1, "description": "...", "plugin_scenarios": [],
//!   "probes": { "scenarios": ["whatsapp_webhook"], "retries": 2, "backoff_ms": 500,
//!               "latency_ceiling_ms": { "default": 1500, "chat_stream_http": 12000 } },
//!   "snapshot": { "minutes": 20, "limit": 150 },
//!   "snapshot_checks": [
//!     { "id": "open_circuits", "metric": "circuits[state=open]", "comparator": "<=",
//!       "threshold": 0, "owner": "chat-platform", "when_missing": "fail" } ],
//!   "burn_rate": { "long_window_s": 60, "short_window_divisor": 12,
//!                  "default_objective": 0.99, "fail_burn_rate": 14.4, "warn_burn_rate": 6 } }
//! ```
//!
//! Metric paths are described in [`MetricPath`]. The burn rate is the error
//! ratio divided by the error budget (`1 - objective`, the objective from
//! the SLO baseline or `default_objective`), evaluated over a long window and
//! a short one (`long / short_window_divisor`, 12 as in the SRE workbook's
//! multiwindow, multi-burn-rate alerts); a window fails above
//! `fail_burn_rate`.

use std::time::Duration;

use serde::Deserialize;

use super::Comparator;
use super::document::PolicyDocument;
use super::error::{Origin, PolicyError};
use super::locate::{join_index, join_key};
use super::metric::MetricPath;
use super::ordered::OrderedMap;
use super::ownership::OwnershipMatrix;
use super::refs::{self, Source};

const BUILTIN_RELEASE_GATE: &str = include_str!("../../../policies/release-gate-policy.json");

/// The probes the release gate (and `relhost probe`) run.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbePolicy {
    /// Scenarios probed, in order.
    pub scenarios: Vec<String>,
    /// Attempts after the first one, when a probe fails.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub backoff: Duration,
    /// Latency ceiling for scenarios not listed, in ms.
    pub default_latency_ceiling_ms: f64,
    /// Per-scenario latency ceilings, in ms.
    pub latency_ceiling_ms: Vec<(String, f64)>,
}

impl ProbePolicy {
    /// The latency ceiling for `scenario`, in ms.
    pub fn latency_ceiling_ms(&self, scenario: &str) -> f64 {
        self.latency_ceiling_ms
            .iter()
            .find(|(s, _)| s == scenario)
            .map_or(self.default_latency_ceiling_ms, |(_, ms)| *ms)
    }
}

/// The snapshot window the gate asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotWindow {
    /// Minutes of history (1–60).
    pub minutes: u32,
    /// Rows per section (1–10000).
    pub limit: u32,
}

/// What a check does when its metric is absent from the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenMissing {
    /// The check fails (the default).
    #[default]
    Fail,
    /// The check is skipped, with the reason (targets without that feature).
    Skip,
}

/// One live snapshot check.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotCheck {
    /// Unique id, `snake_case`; the check's name in reports.
    pub id: String,
    /// What the check guards.
    pub description: String,
    /// Where the value is read in the snapshot.
    pub metric: MetricPath,
    /// How the value must relate to the threshold.
    pub comparator: Comparator,
    /// The threshold.
    pub threshold: f64,
    /// The owner's id in the ownership matrix.
    pub owner: String,
    /// What happens when the metric is absent.
    pub when_missing: WhenMissing,
}

impl SnapshotCheck {
    /// Whether `observed` satisfies the check.
    pub fn holds(&self, observed: f64) -> bool {
        self.comparator.holds(observed, self.threshold)
    }
}

/// The burn-rate gate's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnRatePolicy {
    /// The long window.
    pub long_window: Duration,
    /// The short window is the long one divided by this (12 by default).
    pub short_window_divisor: u32,
    /// Objective for scenarios whose SLO baseline has none.
    pub default_objective: f64,
    /// A window whose burn rate is above this fails.
    pub fail_burn_rate: f64,
    /// A window whose burn rate is above this warns (at most `fail_burn_rate`).
    pub warn_burn_rate: Option<f64>,
}

impl BurnRatePolicy {
    /// `long_window / short_window_divisor`.
    pub fn short_window(&self) -> Duration {
        self.long_window / self.short_window_divisor
    }

    /// Burn rate of an error ratio against `objective`: `ratio / (1 - objective)`.
    pub fn burn_rate(error_ratio: f64, objective: f64) -> f64 {
        error_ratio / (1.0 - objective)
    }
}

/// The validated release gate policy.
#[derive(Debug, Clone)]
pub struct ReleaseGatePolicy {
    /// What the policy is.
    pub description: String,
    /// Scenarios from plugins that the policy may name.
    pub plugin_scenarios: Vec<String>,
    /// The synthetic probes.
    pub probes: ProbePolicy,
    /// The snapshot window.
    pub snapshot: SnapshotWindow,
    /// The snapshot checks, in file order.
    pub snapshot_checks: Vec<SnapshotCheck>,
    /// The burn-rate gate.
    pub burn_rate: BurnRatePolicy,
    source: Source,
}

impl PartialEq for ReleaseGatePolicy {
    fn eq(&self, other: &Self) -> bool {
        self.description == other.description
            && self.plugin_scenarios == other.plugin_scenarios
            && self.probes == other.probes
            && self.snapshot == other.snapshot
            && self.snapshot_checks == other.snapshot_checks
            && self.burn_rate == other.burn_rate
    }
}

impl ReleaseGatePolicy {
    /// Where the policy came from.
    pub fn origin(&self) -> &Origin {
        self.source.origin()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    schema_version: u32,
    #[serde(default)]
    description: String,
    #[serde(default)]
    plugin_scenarios: Vec<String>,
    probes: RawProbes,
    snapshot: RawWindow,
    snapshot_checks: Vec<RawCheck>,
    burn_rate: RawBurnRate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbes {
    scenarios: Vec<String>,
    retries: u32,
    backoff_ms: u64,
    latency_ceiling_ms: OrderedMap<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    minutes: u32,
    limit: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    id: String,
    #[serde(default)]
    description: String,
    metric: String,
    comparator: Comparator,
    threshold: f64,
    owner: String,
    #[serde(default)]
    when_missing: WhenMissing,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBurnRate {
    long_window_s: u64,
    #[serde(default = "twelve")]
    short_window_divisor: u32,
    default_objective: f64,
    fail_burn_rate: f64,
    #[serde(default)]
    warn_burn_rate: Option<f64>,
}

fn twelve() -> u32 {
    12
}

impl PolicyDocument for ReleaseGatePolicy {
    const KIND: &'static str = "release gate policy";
    const BUILTIN_NAME: &'static str = "release-gate-policy";
    const BUILTIN_TEXT: &'static str = BUILTIN_RELEASE_GATE;
    type Context = OwnershipMatrix;

    fn parse(text: &str, origin: &Origin, context: &OwnershipMatrix) -> Result<Self, PolicyError> {
        parse_release_gate_policy(text, origin, context)
    }
}

/// Parses and validates release gate policy text.
pub(super) fn parse_release_gate_policy(
    text: &str,
    origin: &Origin,
    owners: &OwnershipMatrix,
) -> Result<ReleaseGatePolicy, PolicyError> {
    let source = Source::new(origin, text);
    let doc = source.doc();
    let raw: RawPolicy = doc.parse(text)?;
    refs::schema_version(&doc, raw.schema_version)?;
    refs::plugin_scenarios(&doc, &raw.plugin_scenarios)?;
    let extra = &raw.plugin_scenarios;

    // Probes.
    let p = raw.probes;
    if p.scenarios.is_empty() {
        return Err(doc.invalid("probes.scenarios", "expected at least one scenario"));
    }
    for (i, name) in p.scenarios.iter().enumerate() {
        let path = join_index("probes.scenarios", i);
        refs::scenario(&doc, &path, name, extra)?;
        if p.scenarios[..i].contains(name) {
            return Err(doc.invalid(&path, format!("scenario {name:?} is listed twice")));
        }
    }
    if p.retries > 10 {
        return Err(doc.invalid(
            "probes.retries",
            format!("expected at most 10 retries, got {}", p.retries),
        ));
    }
    if p.backoff_ms > 60_000 {
        return Err(doc.invalid(
            "probes.backoff_ms",
            format!("expected at most 60000 ms, got {}", p.backoff_ms),
        ));
    }
    let mut default_ceiling = None;
    let mut ceilings = Vec::new();
    for (key, ms) in p.latency_ceiling_ms.0 {
        let path = join_key("probes.latency_ceiling_ms", &key);
        refs::positive(&doc, &path, ms, "milliseconds")?;
        if key == "default" {
            default_ceiling = Some(ms);
        } else {
            refs::scenario(&doc, &path, &key, extra)?;
            ceilings.push((key, ms));
        }
    }
    let default_latency_ceiling_ms = default_ceiling.ok_or_else(|| {
        doc.invalid(
            "probes.latency_ceiling_ms",
            "missing key `default` (the ceiling of scenarios not listed)",
        )
    })?;

    // Snapshot window.
    if !(1..=60).contains(&raw.snapshot.minutes) {
        return Err(doc.invalid(
            "snapshot.minutes",
            format!("expected 1 to 60 minutes, got {}", raw.snapshot.minutes),
        ));
    }
    if !(1..=10_000).contains(&raw.snapshot.limit) {
        return Err(doc.invalid(
            "snapshot.limit",
            format!("expected 1 to 10000 rows, got {}", raw.snapshot.limit),
        ));
    }

    // Snapshot checks.
    let mut checks: Vec<SnapshotCheck> = Vec::with_capacity(raw.snapshot_checks.len());
    for (i, c) in raw.snapshot_checks.into_iter().enumerate() {
        let base = join_index("snapshot_checks", i);
        let id_ok = !c.id.is_empty()
            && c.id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !id_ok {
            return Err(doc.invalid(
                &join_key(&base, "id"),
                format!(
                    "invalid check id {:?}: expected snake_case like open_circuits",
                    c.id
                ),
            ));
        }
        if checks.iter().any(|x| x.id == c.id) {
            return Err(doc.invalid(
                &join_key(&base, "id"),
                format!("check id {:?} is used twice", c.id),
            ));
        }
        let metric: MetricPath =
            c.metric
                .parse()
                .map_err(|e: super::metric::MetricPathError| {
                    doc.invalid(&join_key(&base, "metric"), e.to_string())
                })?;
        if !(c.threshold.is_finite() && c.threshold >= 0.0) {
            return Err(doc.invalid(
                &join_key(&base, "threshold"),
                format!(
                    "expected a finite number of at least 0, got {}",
                    c.threshold
                ),
            ));
        }
        let owner_path = join_key(&base, "owner");
        if owners.owner(&c.owner).is_none() {
            let ids: Vec<&str> = owners.owners.iter().map(|o| o.id.as_str()).collect();
            return Err(doc.invalid(
                &owner_path,
                format!(
                    "unknown owner {:?}; valid (from the ownership matrix): {}",
                    c.owner,
                    ids.join(", ")
                ),
            ));
        }
        if let Some(listed) = owners.explicit_owner_of_check(&c.id)
            && listed.id != c.owner
        {
            return Err(doc.invalid(
                &owner_path,
                format!(
                    "check {:?} names owner {:?}, but the ownership matrix gives it to {:?}",
                    c.id, c.owner, listed.id
                ),
            ));
        }
        checks.push(SnapshotCheck {
            id: c.id,
            description: c.description,
            metric,
            comparator: c.comparator,
            threshold: c.threshold,
            owner: c.owner,
            when_missing: c.when_missing,
        });
    }

    // Burn rate.
    let b = raw.burn_rate;
    if !(2..=60).contains(&b.short_window_divisor) {
        return Err(doc.invalid(
            "burn_rate.short_window_divisor",
            format!(
                "expected 2 to 60 (12 in the SRE workbook), got {}",
                b.short_window_divisor
            ),
        ));
    }
    if b.long_window_s < u64::from(b.short_window_divisor) || b.long_window_s > 30 * 86_400 {
        return Err(doc.invalid(
            "burn_rate.long_window_s",
            format!(
                "expected {} to 2592000 seconds (the short window is at least 1 s), got {}",
                b.short_window_divisor, b.long_window_s
            ),
        ));
    }
    if !(b.default_objective > 0.0 && b.default_objective < 1.0) {
        return Err(doc.invalid(
            "burn_rate.default_objective",
            format!(
                "expected a fraction strictly between 0 and 1 (e.g. 0.99), got {}",
                b.default_objective
            ),
        ));
    }
    refs::positive(
        &doc,
        "burn_rate.fail_burn_rate",
        b.fail_burn_rate,
        "a burn rate",
    )?;
    if let Some(warn) = b.warn_burn_rate {
        refs::positive(&doc, "burn_rate.warn_burn_rate", warn, "a burn rate")?;
        if warn > b.fail_burn_rate {
            return Err(doc.invalid(
                "burn_rate.warn_burn_rate",
                format!(
                    "expected at most fail_burn_rate ({}), got {warn}",
                    b.fail_burn_rate
                ),
            ));
        }
    }

    let ids: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
    owners.check_known_checks(&ids)?;

    Ok(ReleaseGatePolicy {
        description: raw.description,
        plugin_scenarios: raw.plugin_scenarios,
        probes: ProbePolicy {
            scenarios: p.scenarios,
            retries: p.retries,
            backoff: Duration::from_millis(p.backoff_ms),
            default_latency_ceiling_ms,
            latency_ceiling_ms: ceilings,
        },
        snapshot: SnapshotWindow {
            minutes: raw.snapshot.minutes,
            limit: raw.snapshot.limit,
        },
        snapshot_checks: checks,
        burn_rate: BurnRatePolicy {
            long_window: Duration::from_secs(b.long_window_s),
            short_window_divisor: b.short_window_divisor,
            default_objective: b.default_objective,
            fail_burn_rate: b.fail_burn_rate,
            warn_burn_rate: b.warn_burn_rate,
        },
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::OwnershipMatrix;

    #[test]
    fn builtin_policy_loads() {
        let owners = OwnershipMatrix::builtin(&()).unwrap_or_else(|e| panic!("{e}"));
        let p = ReleaseGatePolicy::builtin(&owners).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.probes.scenarios.len(), 3);
        assert_eq!(p.probes.latency_ceiling_ms("chat_stream_http"), 12000.0);
        assert_eq!(p.probes.latency_ceiling_ms("whatsapp_webhook"), 1500.0);
        assert_eq!(p.burn_rate.short_window(), Duration::from_secs(5));
        assert!((BurnRatePolicy::burn_rate(0.02, 0.99) - 2.0).abs() < 1e-9);
        let dlq = p
            .snapshot_checks
            .iter()
            .find(|c| c.id == "dlq_size")
            .unwrap();
        assert_eq!(dlq.when_missing, WhenMissing::Skip);
        assert!(dlq.holds(0.0) && !dlq.holds(1.0));
    }
}
