//! The release gate as a library: synthetic probes, then a load drill,
//! then checks of the target's live reliability snapshot, and per scenario
//! a burn-rate gate; every check names its owner from the ownership matrix.
//! [`ReleaseGate::run`] writes `release-gate-<timestamp>.json` beside the
//! drill's own report.

use std::path::PathBuf;
use std::time::SystemTime;

use tokio::sync::watch;

use crate::atomic_file::WriteError;
use crate::drill::{DrillError, PreparedDrill};
use crate::engine::Progress;
use crate::exit::Exit;
use crate::http::{Client, HttpError};
use crate::policy::{OwnershipMatrix, ReleaseGatePolicy, WhenMissing};
use crate::probe::{self, ProbeError, ProbeSettings};
use crate::report::{
    BurnRateGate, DrillReport, DrillStatus, OwnedCheck, ProbeOutcome, ReleaseGateReport,
    ReportHeader, ReportKind, SnapshotSection, Verdict, compact_timestamp, verdict_of,
    write_json_atomic,
};
use crate::slo::BurnSettings;
use crate::snapshot::SnapshotSource;

/// Why the release gate could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The drill could not run.
    #[error(transparent)]
    Drill(#[from] DrillError),
    /// A probe cannot be built from its plugin.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The probes' and snapshot's client cannot be built.
    #[error(transparent)]
    Client(#[from] HttpError),
    /// The report cannot be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl GateError {
    /// The exit code: 2 for bad input, 3 for what could not be carried out.
    pub fn exit(&self) -> Exit {
        match self {
            GateError::Drill(e) => e.exit(),
            GateError::Probe(_) | GateError::Client(_) => Exit::BadInput,
            GateError::Write(_) => Exit::CannotRun,
        }
    }
}

/// The release gate: its policy, the owners of its checks, and where the
/// target's snapshot is read.
#[derive(Debug, Clone)]
pub struct ReleaseGate {
    /// The policy.
    pub policy: ReleaseGatePolicy,
    /// Who owns each check.
    pub owners: OwnershipMatrix,
    /// Where the live snapshot is read.
    pub source: SnapshotSource,
    /// Minutes of snapshot history (default: the policy's).
    pub minutes: Option<u32>,
    /// A finished drill's report (a merged one, say) judged instead of drilling.
    pub drill_report: Option<PathBuf>,
    /// Rows per snapshot section (default: the policy's).
    pub limit: Option<u32>,
}

/// A finished gate: its report, and where it and the drill's were written.
#[derive(Debug)]
pub struct GateOutcome {
    /// The report.
    pub report: ReleaseGateReport,
    /// Its file.
    pub path: PathBuf,
    /// The drill's own report file.
    pub drill_path: PathBuf,
}

impl ReleaseGate {
    /// Probes, drills (`prepared`), checks the snapshot and the burn rates,
    /// and writes the report into the drill's output directory.
    pub async fn run(
        &self,
        prepared: &PreparedDrill,
        stop: watch::Receiver<bool>,
        progress: &dyn Progress,
    ) -> Result<GateOutcome, GateError> {
        let started = SystemTime::now();
        let owners = &self.owners;
        let client = Client::new(&prepared.plan.client)?;

        progress.note("gate: synthetic probes");
        let probes = self.probes(prepared, &client).await?;
        let mut checks = OwnedCheck::from_probes(&probes, owners);

        progress.note("gate: load drill");
        let drill = prepared
            .run_or_read(self.drill_report.as_deref(), stop.clone(), progress)
            .await?;
        for scenario in drill
            .report
            .scenarios
            .iter()
            .filter(|s| s.skipped.is_none())
        {
            checks.extend(OwnedCheck::from_gate(
                "drill",
                &scenario.name,
                &scenario.slo_gate,
                owners,
            ));
        }

        progress.note("gate: live snapshot checks");
        let (snapshot, snapshot_checks) = self.snapshot(&client).await;
        checks.extend(snapshot_checks);

        let mut warnings = drill.report.warnings.clone();
        let burn_rate_gate =
            burn_rate_gates(prepared, &drill.report, &self.policy, &mut warnings).await;
        for gate in &burn_rate_gate {
            checks.extend(OwnedCheck::from_gate(
                "burn_rate",
                &gate.scenario,
                &gate.gate,
                owners,
            ));
        }

        let interrupted = *stop.borrow();
        let status = if interrupted {
            DrillStatus::Interrupted
        } else if verdict_of(&checks) == Verdict::Pass {
            DrillStatus::Pass
        } else {
            DrillStatus::Fail
        };
        let report = ReleaseGateReport {
            header: ReportHeader::new(
                ReportKind::ReleaseGate,
                started,
                prepared.options().command_line.clone(),
            ),
            status,
            config: serde_json::json!({
                "policy": self.policy.origin().to_string(),
                "ownership_matrix": owners.origin().to_string(),
                "drill": drill.report.config,
                "snapshot_source": self.source.describe(),
                "minutes": snapshot.minutes,
                "limit": snapshot.limit,
            }),
            target: prepared.target.info(),
            profile: prepared.profile.name.clone(),
            plugins: drill.report.plugins.clone(),
            probes,
            drill_report: drill.path.display().to_string(),
            snapshot,
            burn_rate_gate,
            checks,
            warnings,
        };
        let name = format!("release-gate-{}.json", compact_timestamp(started));
        let path = write_json_atomic(&prepared.options().output_dir, &name, &report)?;
        Ok(GateOutcome {
            report,
            path,
            drill_path: drill.path,
        })
    }

    /// One probe per drilled scenario that the policy probes.
    async fn probes(
        &self,
        prepared: &PreparedDrill,
        client: &Client,
    ) -> Result<Vec<ProbeOutcome>, ProbeError> {
        let policy = &self.policy;
        let mut specs = Vec::new();
        for spec in &prepared.plan.scenarios {
            let name = &spec.plugin.descriptor().name;
            if !policy.probes.scenarios.contains(name) {
                continue;
            }
            let probe = probe::prepare_probe(
                &spec.plugin,
                &prepared.target.base_url,
                &prepared.secrets,
                prepared.target.credentials.get(0),
                policy.probes.latency_ceiling_ms(name),
                prepared.plan.seed,
            )
            .await?;
            specs.push(probe);
        }
        let settings = ProbeSettings {
            retries: policy.probes.retries,
            backoff: policy.probes.backoff,
        };
        Ok(probe::run_probes(client, &specs, settings).await)
    }

    /// Reads the live snapshot and checks it; a snapshot that cannot be read
    /// fails every check with the reason.
    async fn snapshot(&self, client: &Client) -> (SnapshotSection, Vec<OwnedCheck>) {
        let (policy, owners) = (&self.policy, &self.owners);
        let minutes = self.minutes.unwrap_or(policy.snapshot.minutes);
        let limit = self.limit.unwrap_or(policy.snapshot.limit);
        let fetched = self.source.fetch(client, Some(minutes), Some(limit)).await;
        let checks = policy
            .snapshot_checks
            .iter()
            .map(|check| {
                let owner = owners
                    .owner(&check.owner)
                    .unwrap_or_else(|| owners.owner_for(&check.id, None));
                let mut owned = OwnedCheck {
                    threshold: Some(check.threshold),
                    comparator: Some(check.comparator),
                    ..OwnedCheck::new("snapshot", None, &check.id, owner)
                };
                match &fetched {
                    Err(e) => {
                        owned.verdict = Verdict::Fail;
                        owned.message = Some(format!("snapshot unavailable: {e}"));
                    }
                    Ok(snapshot) => match check.metric.eval(snapshot) {
                        Some(value) => {
                            owned.observed = Some(value);
                            owned.verdict = if check.holds(value) {
                                Verdict::Pass
                            } else {
                                Verdict::Fail
                            };
                        }
                        None if check.when_missing == WhenMissing::Skip => {
                            owned.verdict = Verdict::Skipped;
                            owned.message =
                                Some(format!("{} is not in the snapshot", check.metric));
                        }
                        None => {
                            owned.verdict = Verdict::Fail;
                            owned.message =
                                Some(format!("{} is not in the snapshot", check.metric));
                        }
                    },
                }
                owned
            })
            .collect();
        let (snapshot, error) = match fetched {
            Ok(snapshot) => (Some(snapshot), None),
            Err(e) => (None, Some(e.to_string())),
        };
        (
            SnapshotSection {
                minutes,
                limit,
                error,
                snapshot,
            },
            checks,
        )
    }
}

/// Each drilled scenario's burn-rate gate over the drill's series.
async fn burn_rate_gates(
    prepared: &PreparedDrill,
    drill: &DrillReport,
    policy: &ReleaseGatePolicy,
    warnings: &mut Vec<String>,
) -> Vec<BurnRateGate> {
    let burn = &policy.burn_rate;
    let settings = BurnSettings {
        long_window_s: burn.long_window.as_secs_f64(),
        short_window_divisor: burn.short_window_divisor,
        max_burn: burn.fail_burn_rate,
    };
    let mut gates = Vec::new();
    for scenario in drill.scenarios.iter().filter(|s| s.skipped.is_none()) {
        let mut thresholds = prepared.baseline.thresholds_for(&scenario.name).clone();
        let objective = *thresholds.objective.get_or_insert(burn.default_objective);
        let Some(gate) = prepared
            .evaluators
            .burn_rate_gate(
                &scenario.name,
                &scenario.totals,
                &scenario.timeseries,
                &thresholds,
                settings,
            )
            .await
        else {
            continue;
        };
        if let (Some(warn), Some(check)) = (burn.warn_burn_rate, gate.checks.first())
            && check.verdict == Verdict::Pass
            && check.observed > warn
        {
            warnings.push(format!(
                "{}: burn rate {} is over the warning level {warn}",
                scenario.name, check.observed
            ));
        }
        gates.push(BurnRateGate {
            scenario: scenario.name.clone(),
            objective,
            long_window_s: settings.long_window_s,
            gate,
        });
    }
    gates
}
