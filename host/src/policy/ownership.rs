//! The ownership matrix (`policies/ownership-matrix.json`): who owns each
//! surface (scenario) and each gate check, and how to reach them.
//!
//! ```json
//! { "schema_version": 1, "description": "...",
//!   "default_owner": "reliability",
//!   "plugin_scenarios": [],
//!   "owners": {
//!     "chat-platform": { "team": "Chat Platform", "contact": "#chat-oncall",
//!                        "surfaces": ["chat_stream_http"], "checks": ["open_circuits"] } } }
//! ```
//!
//! A check's owner is the owner that lists the check, else the owner of its
//! scenario (surface), else `default_owner` ([`OwnershipMatrix::owner_for`]).
//! A surface or check belongs to at most one owner. Surfaces must be known
//! scenarios; checks must be known checks ([`BUILTIN_CHECKS`] or a release
//! gate's snapshot checks), which is verified when the release gate policy
//! is loaded against the matrix.

use serde::Deserialize;

use super::document::PolicyDocument;
use super::error::{Origin, PolicyError};
use super::locate::{join_index, join_key};
use super::ordered::OrderedMap;
use super::refs::{self, Source};

const BUILTIN_OWNERSHIP_MATRIX: &str = include_str!("../../../policies/ownership-matrix.json");

/// Checks that gate-like commands produce besides a release gate's own
/// snapshot checks: the SLO gate's, the synthetic probes', the burn-rate
/// and milestone gates'. An ownership matrix may name any of these.
pub const BUILTIN_CHECKS: &[&str] = &[
    "p95_latency_ms",
    "rate_5xx",
    "network_error_rate",
    "unknown_status_rate",
    "success_2xx_rate",
    "unique_users",
    "unique_coverage",
    "probe_status",
    "probe_latency",
    "probe_body",
    "burn_rate",
    "burn_rate_long",
    "burn_rate_short",
    "achieved_concurrency",
    "provider_failovers",
    "snapshot_reachable",
];

/// One owner: a team and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The owner's id (the key in `owners`), e.g. `chat-platform`.
    pub id: String,
    /// The team's name.
    pub team: String,
    /// How to reach them (channel, alias, pager).
    pub contact: String,
    /// Scenarios they own.
    pub surfaces: Vec<String>,
    /// Checks they own explicitly.
    pub checks: Vec<String>,
}

/// The validated ownership matrix.
#[derive(Debug, Clone)]
pub struct OwnershipMatrix {
    /// What the matrix is.
    pub description: String,
    /// The owner of anything nobody owns explicitly.
    pub default_owner: String,
    /// Scenarios from plugins that the matrix may name.
    pub plugin_scenarios: Vec<String>,
    /// The owners, in file order.
    pub owners: Vec<Owner>,
    source: Source,
}

impl PartialEq for OwnershipMatrix {
    fn eq(&self, other: &Self) -> bool {
        self.description == other.description
            && self.default_owner == other.default_owner
            && self.plugin_scenarios == other.plugin_scenarios
            && self.owners == other.owners
    }
}

impl OwnershipMatrix {
    /// The owner with this id.
    pub fn owner(&self, id: &str) -> Option<&Owner> {
        self.owners.iter().find(|o| o.id == id)
    }

    /// The owner of `check` (optionally about `scenario`): the owner listing
    /// the check, else the scenario's owner, else the default owner.
    pub fn owner_for(&self, check: &str, scenario: Option<&str>) -> &Owner {
        self.owners
            .iter()
            .find(|o| o.checks.iter().any(|c| c == check))
            .or_else(|| {
                scenario.and_then(|s| {
                    self.owners
                        .iter()
                        .find(|o| o.surfaces.iter().any(|x| x == s))
                })
            })
            .or_else(|| self.owner(&self.default_owner))
            .unwrap_or(&self.owners[0]) // validated: default_owner exists, owners non-empty
    }

    /// The owner that lists `check` explicitly, if any.
    pub fn explicit_owner_of_check(&self, check: &str) -> Option<&Owner> {
        self.owners
            .iter()
            .find(|o| o.checks.iter().any(|c| c == check))
    }

    /// Fails, naming the matrix's file, line and field, when an owner lists
    /// a check that is neither in [`BUILTIN_CHECKS`] nor in `known`.
    pub fn check_known_checks(&self, known: &[&str]) -> Result<(), PolicyError> {
        let doc = self.source.doc();
        for owner in &self.owners {
            for (i, check) in owner.checks.iter().enumerate() {
                if BUILTIN_CHECKS.contains(&check.as_str()) || known.contains(&check.as_str()) {
                    continue;
                }
                let mut valid: Vec<&str> = known.to_vec();
                valid.extend(BUILTIN_CHECKS);
                return Err(doc.invalid(
                    &join_index(&join_key(&join_key("owners", &owner.id), "checks"), i),
                    format!("unknown check {check:?}; valid: {}", valid.join(", ")),
                ));
            }
        }
        Ok(())
    }

    /// Where the matrix came from.
    pub fn origin(&self) -> &Origin {
        self.source.origin()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    schema_version: u32,
    #[serde(default)]
    description: String,
    default_owner: String,
    #[serde(default)]
    plugin_scenarios: Vec<String>,
    owners: OrderedMap<RawOwner>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOwner {
    team: String,
    contact: String,
    #[serde(default)]
    surfaces: Vec<String>,
    #[serde(default)]
    checks: Vec<String>,
}

impl PolicyDocument for OwnershipMatrix {
    const KIND: &'static str = "ownership matrix";
    const BUILTIN_NAME: &'static str = "ownership-matrix";
    const BUILTIN_TEXT: &'static str = BUILTIN_OWNERSHIP_MATRIX;
    type Context = ();

    fn parse(text: &str, origin: &Origin, _: &()) -> Result<Self, PolicyError> {
        parse_ownership_matrix(text, origin)
    }
}

/// Parses and validates ownership matrix text.
pub(super) fn parse_ownership_matrix(
    text: &str,
    origin: &Origin,
) -> Result<OwnershipMatrix, PolicyError> {
    let source = Source::new(origin, text);
    let doc = source.doc();
    let raw: RawMatrix = doc.parse(text)?;
    refs::schema_version(&doc, raw.schema_version)?;
    refs::plugin_scenarios(&doc, &raw.plugin_scenarios)?;
    if raw.owners.0.is_empty() {
        return Err(doc.invalid("owners", "expected at least one owner"));
    }
    let mut owners: Vec<Owner> = Vec::with_capacity(raw.owners.0.len());
    for (id, o) in raw.owners.0 {
        let base = join_key("owners", &id);
        let id_ok = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(doc.invalid(
                &base,
                format!("invalid owner id {id:?}: expected lower-case letters, digits, - and _"),
            ));
        }
        refs::non_empty(&doc, &join_key(&base, "team"), &o.team)?;
        refs::non_empty(&doc, &join_key(&base, "contact"), &o.contact)?;
        for (i, surface) in o.surfaces.iter().enumerate() {
            let path = join_index(&join_key(&base, "surfaces"), i);
            refs::scenario(&doc, &path, surface, &raw.plugin_scenarios)?;
            if let Some(other) = owners.iter().find(|x| x.surfaces.contains(surface)) {
                return Err(doc.invalid(
                    &path,
                    format!("surface {surface:?} is already owned by {:?}", other.id),
                ));
            }
        }
        for (i, check) in o.checks.iter().enumerate() {
            let path = join_index(&join_key(&base, "checks"), i);
            refs::non_empty(&doc, &path, check)?;
            if let Some(other) = owners.iter().find(|x| x.checks.contains(check)) {
                return Err(doc.invalid(
                    &path,
                    format!("check {check:?} is already owned by {:?}", other.id),
                ));
            }
        }
        owners.push(Owner {
            id,
            team: o.team,
            contact: o.contact,
            surfaces: o.surfaces,
            checks: o.checks,
        });
    }
    if !owners.iter().any(|o| o.id == raw.default_owner) {
        let ids: Vec<&str> = owners.iter().map(|o| o.id.as_str()).collect();
        return Err(doc.invalid(
            "default_owner",
            format!(
                "unknown owner {:?}; valid: {}",
                raw.default_owner,
                ids.join(", ")
            ),
        ));
    }
    Ok(OwnershipMatrix {
        description: raw.description,
        default_owner: raw.default_owner,
        plugin_scenarios: raw.plugin_scenarios,
        owners,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_matrix_resolves_owners() {
        let m = OwnershipMatrix::builtin(&()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.owner_for("open_circuits", None).id, "chat-platform");
        assert_eq!(
            m.owner_for("p95_latency_ms", Some("whatsapp_webhook")).id,
            "messaging-integrations"
        );
        assert_eq!(m.owner_for("probe_status", Some("nope")).id, "reliability");
        assert_eq!(m.owner_for("dlq_size", None).id, "tools-platform");
        assert!(
            m.check_known_checks(&[
                "open_circuits",
                "rate_limit_rejections",
                "bulkhead_rejections",
                "admission_rejections",
                "dlq_size",
                "tool_queued_age",
                "tool_running_age",
                "tool_queue_alerts"
            ])
            .is_ok()
        );
        let err = m.check_known_checks(&[]).unwrap_err().to_string();
        assert!(err.contains("owners.tools-platform.checks[0]"), "{err}");
    }
}
