//! A milestone gate as a library: the milestone's profile drilled with as
//! many demo users as its floor asks for, and the chat scenario checked
//! against the milestone gate policy (latency, error and success rates,
//! the unique-user floor, and the concurrency the drill achieved). Writes
//! `milestone-gate-<milestone>-<timestamp>.json`.
//!
//! The concurrency floor applies at a chat concurrency scale of 1 and
//! scales with it, so a scaled-down rehearsal is judged against a
//! scaled-down floor.

use std::path::PathBuf;
use std::time::SystemTime;

use tokio::sync::watch;

use crate::drill::{DrillError, DrillOptions, PreparedDrill, ProfileChoice};
use crate::engine::Progress;
use crate::policy::{MilestoneGatePolicy, MilestoneThresholds, OwnershipMatrix};
use crate::report::{
    Comparator, DrillStatus, MilestoneGateReport, OwnedCheck, ReportHeader, ReportKind,
    ScenarioReport, Verdict, compact_timestamp, verdict_of, write_json_atomic,
};

/// A milestone gate: the milestone, its thresholds and who owns each check.
#[derive(Debug, Clone)]
pub struct MilestoneGate {
    milestone: String,
    policy: MilestoneGatePolicy,
    policy_label: String,
    owners: OwnershipMatrix,
    thresholds: MilestoneThresholds,
    drill_report: Option<PathBuf>,
}

/// A finished milestone gate: its report, the concurrency floor it was
/// judged against, and where it and the drill's report were written.
#[derive(Debug)]
pub struct MilestoneOutcome {
    /// The report.
    pub report: MilestoneGateReport,
    /// The floor of concurrent streams, scaled.
    pub floor: f64,
    /// Its file.
    pub path: PathBuf,
    /// The drill's own report file.
    pub drill_path: PathBuf,
}

impl MilestoneGate {
    /// The gate of `milestone` (`m1_1k`, `m2_5k`, `m3_20k`, also its
    /// profile's name) under `policy`, which `policy_label` names in the
    /// report; refused when the policy has no thresholds for it.
    pub fn new(
        milestone: &str,
        policy: MilestoneGatePolicy,
        policy_label: String,
        owners: OwnershipMatrix,
    ) -> Result<Self, DrillError> {
        let thresholds = policy.milestone(milestone).cloned().ok_or_else(|| {
            DrillError::Invalid(format!(
                "milestone gate policy {}: no thresholds for milestone {milestone:?}",
                policy.description
            ))
        })?;
        Ok(MilestoneGate {
            milestone: milestone.to_owned(),
            policy,
            policy_label,
            owners,
            thresholds,
            drill_report: None,
        })
    }

    /// Judges the report of a finished drill of the milestone (a merged
    /// one, say) instead of drilling.
    pub fn judging(mut self, drill_report: Option<PathBuf>) -> Self {
        self.drill_report = drill_report;
        self
    }

    /// The drill of the milestone: its profile, and on the built-in sim as
    /// many demo users as the unique-user floor asks for.
    pub fn drill_options(&self, mut options: DrillOptions) -> DrillOptions {
        options.profile = ProfileChoice::Named(self.milestone.clone());
        options.demo_users = self.thresholds.min_unique_users;
        options
    }

    /// Runs the milestone's drill (prepared from [`Self::drill_options`]),
    /// or reads the one it judges, checks it and writes the report.
    pub async fn run(
        &self,
        prepared: &PreparedDrill,
        stop: watch::Receiver<bool>,
        progress: &dyn Progress,
    ) -> Result<MilestoneOutcome, DrillError> {
        let started = SystemTime::now();
        let (policy, owners, thresholds) = (&self.policy, &self.owners, &self.thresholds);
        let drill = prepared
            .run_or_read(self.drill_report.as_deref(), stop.clone(), progress)
            .await?;

        let scenario = drill
            .report
            .scenarios
            .iter()
            .find(|s| s.name == policy.scenario);
        let floor = (f64::from(thresholds.min_achieved_concurrency)
            * prepared.options().chat_scale.concurrency)
            .ceil();
        let (checks, achieved) = match scenario {
            Some(s) if s.skipped.is_none() => {
                let achieved = s
                    .stages
                    .iter()
                    .map(|st| st.peak_concurrency)
                    .max()
                    .unwrap_or(0);
                (
                    milestone_checks(s, thresholds, floor, achieved, owners),
                    achieved,
                )
            }
            other => {
                let reason = other
                    .and_then(|s| s.skipped.clone())
                    .unwrap_or_else(|| format!("the drill did not run {}", policy.scenario));
                let owner = owners.owner_for("milestone", Some(&policy.scenario));
                let check = OwnedCheck {
                    verdict: Verdict::Fail,
                    message: Some(reason),
                    ..OwnedCheck::new("milestone", Some(&policy.scenario), "scenario_ran", owner)
                };
                (vec![check], 0)
            }
        };
        let status = if *stop.borrow() {
            DrillStatus::Interrupted
        } else if verdict_of(&checks) == Verdict::Pass {
            DrillStatus::Pass
        } else {
            DrillStatus::Fail
        };
        let report = MilestoneGateReport {
            header: ReportHeader::new(
                ReportKind::MilestoneGate,
                started,
                prepared.options().command_line.clone(),
            ),
            milestone: self.milestone.clone(),
            status,
            config: serde_json::json!({
                "policy": self.policy_label,
                "concurrency_floor": floor,
                "drill": drill.report.config,
            }),
            target: prepared.target.info(),
            drill_report: drill.path.display().to_string(),
            achieved_concurrency: achieved,
            checks,
            warnings: drill.report.warnings.clone(),
        };
        let name = format!(
            "milestone-gate-{}-{}.json",
            self.milestone,
            compact_timestamp(started)
        );
        let path = write_json_atomic(&prepared.options().output_dir, &name, &report)?;
        Ok(MilestoneOutcome {
            report,
            floor,
            path,
            drill_path: drill.path,
        })
    }
}

/// The milestone's checks of the chat scenario.
fn milestone_checks(
    s: &ScenarioReport,
    t: &MilestoneThresholds,
    concurrency_floor: f64,
    achieved: u64,
    owners: &OwnershipMatrix,
) -> Vec<OwnedCheck> {
    let unique = s.credentials.as_ref().map_or(0, |c| c.unique_used);
    let specs = [
        (
            "p95_latency_ms",
            s.totals.latency_ms.p95,
            t.p95_ms,
            Comparator::AtMost,
        ),
        (
            "rate_5xx",
            s.totals.rate_5xx,
            t.max_5xx_rate,
            Comparator::AtMost,
        ),
        (
            "network_error_rate",
            s.totals.network_error_rate,
            t.max_network_error_rate,
            Comparator::AtMost,
        ),
        (
            "success_2xx_rate",
            s.totals.success_2xx_rate,
            t.min_success_2xx_rate,
            Comparator::AtLeast,
        ),
        (
            "unique_users",
            unique as f64,
            t.min_unique_users as f64,
            Comparator::AtLeast,
        ),
        (
            "achieved_concurrency",
            achieved as f64,
            concurrency_floor,
            Comparator::AtLeast,
        ),
    ];
    specs
        .into_iter()
        .map(|(name, observed, threshold, comparator)| {
            let holds = comparator.holds(observed, threshold);
            let nothing = s.totals.requests == 0;
            OwnedCheck {
                observed: Some(observed),
                threshold: Some(threshold),
                comparator: Some(comparator),
                verdict: if holds && !nothing {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                },
                message: nothing.then(|| "no requests were sent, so nothing was measured".into()),
                ..OwnedCheck::new(
                    "milestone",
                    Some(&s.name),
                    name,
                    owners.owner_for(name, Some(&s.name)),
                )
            }
        })
        .collect()
}
