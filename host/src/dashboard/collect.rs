//! Reading the output directory: every `*.json` file, recognized by its
//! `kind`. Load drills and the release and milestone gates are parsed into
//! their typed reports; probes, region readiness, canary checks and game
//! days are kept as JSON and read defensively (their formats evolve on
//! their own). A file that cannot be read, is not JSON, has no known `kind`
//! or does not parse as its kind is skipped with the reason, never fatal.

use std::fs;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::DashboardError;
use crate::canary::CanaryReport;
use crate::gameday::GameDayReport;
use crate::probe::ProbeReport;
use crate::region::RegionReadinessReport;
use crate::report::{DrillReport, MilestoneGateReport, ReleaseGateReport, ReportKind};

/// A report file and when its run started.
#[derive(Debug, Clone)]
pub struct ReportFile<T> {
    /// The file name inside the output directory.
    pub file: String,
    /// `started_at` of the run (RFC 3339 UTC; sorts by time), or empty.
    pub started_at: String,
    /// The report.
    pub report: T,
}

impl ReportFile<()> {
    fn with<T>(self, report: T) -> ReportFile<T> {
        ReportFile {
            file: self.file,
            started_at: self.started_at,
            report,
        }
    }
}

/// A file that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedFile {
    /// The file name inside the output directory.
    pub file: String,
    /// Why it was skipped.
    pub reason: String,
}

/// Every report found, each list in time order (oldest first).
#[derive(Debug, Default)]
pub struct Collected {
    /// `load_drill` reports.
    pub drills: Vec<ReportFile<DrillReport>>,
    /// `release_gate` reports.
    pub release_gates: Vec<ReportFile<ReleaseGateReport>>,
    /// `milestone_gate` reports.
    pub milestone_gates: Vec<ReportFile<MilestoneGateReport>>,
    /// `synthetic_probes` reports.
    pub probes: Vec<ReportFile<ProbeReport>>,
    /// `region_readiness` reports.
    pub region_readiness: Vec<ReportFile<RegionReadinessReport>>,
    /// `canary_check` reports.
    pub canaries: Vec<ReportFile<CanaryReport>>,
    /// `game_day` reports.
    pub game_days: Vec<ReportFile<GameDayReport>>,
    /// Files the dashboard leaves out: snapshots, its own output, the
    /// reports of a drill's segments (the merged report is the drill).
    pub ignored: Vec<String>,
    /// Files skipped with a reason, by name.
    pub skipped: Vec<SkippedFile>,
}

/// Reads every `*.json` file directly in `dir` (hidden files, such as
/// the atomic writers' temporary files, excluded).
pub fn collect(dir: &Path) -> Result<Collected, DashboardError> {
    let read_dir = |source| DashboardError::ReadDir {
        path: dir.to_owned(),
        source,
    };
    let mut names: Vec<String> = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_dir)? {
        let entry = entry.map_err(read_dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        names.push(name);
    }
    names.sort();
    let mut collected = Collected::default();
    for name in names {
        if let Err(reason) = collected.add(&name, &dir.join(&name)) {
            collected.skipped.push(SkippedFile { file: name, reason });
        }
    }
    fn by_time<T>(list: &mut [ReportFile<T>]) {
        list.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    }
    by_time(&mut collected.drills);
    by_time(&mut collected.release_gates);
    by_time(&mut collected.milestone_gates);
    by_time(&mut collected.probes);
    by_time(&mut collected.region_readiness);
    by_time(&mut collected.canaries);
    by_time(&mut collected.game_days);
    Ok(collected)
}

impl Collected {
    /// How many reports were read (skipped and ignored files excluded).
    pub fn report_count(&self) -> usize {
        self.drills.len()
            + self.release_gates.len()
            + self.milestone_gates.len()
            + self.probes.len()
            + self.region_readiness.len()
            + self.canaries.len()
            + self.game_days.len()
    }

    /// Reads one file into its list, or says why it cannot.
    fn add(&mut self, name: &str, path: &Path) -> Result<(), String> {
        let bytes = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
        let kind = match value.get("kind") {
            None => return Err("not a relhost report (no \"kind\")".to_owned()),
            Some(kind) => serde_json::from_value::<ReportKind>(kind.clone())
                .map_err(|_| format!("unknown report kind {kind}"))?,
        };
        let started_at = value
            .get("started_at")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let file = |name: &str| ReportFile {
            file: name.to_owned(),
            started_at: started_at.clone(),
            report: (),
        };
        let typed = |e: serde_json::Error| format!("not a valid {kind:?} report: {e}");
        match kind {
            ReportKind::LoadDrill => {
                let report: DrillReport = serde_json::from_value(value).map_err(typed)?;
                // A segment is a part of a drill: its merged report is the drill.
                if report.segment.is_some() {
                    self.ignored.push(name.to_owned());
                } else {
                    self.drills.push(file(name).with(report));
                }
            }
            ReportKind::ReleaseGate => {
                let report = serde_json::from_value(value).map_err(typed)?;
                self.release_gates.push(file(name).with(report));
            }
            ReportKind::MilestoneGate => {
                let report = serde_json::from_value(value).map_err(typed)?;
                self.milestone_gates.push(file(name).with(report));
            }
            ReportKind::SyntheticProbes => {
                let report = serde_json::from_value(value).map_err(typed)?;
                self.probes.push(file(name).with(report));
            }
            ReportKind::RegionReadiness => {
                let report = serde_json::from_value(value).map_err(typed)?;
                self.region_readiness.push(file(name).with(report));
            }
            ReportKind::CanaryCheck => {
                let report = serde_json::from_value(value).map_err(typed)?;
                self.canaries.push(file(name).with(report));
            }
            ReportKind::GameDay => {
                let report = serde_json::from_value(value).map_err(typed)?;
                self.game_days.push(file(name).with(report));
            }
            // Left out knowingly: no verdict over time, or its own output.
            ReportKind::ReliabilitySnapshot | ReportKind::ToolCache | ReportKind::SloDashboard => {
                self.ignored.push(name.to_owned());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_and_broken_files_are_skipped_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| fs::write(dir.path().join(name), text).unwrap();
        write("broken.json", "{ not json");
        write("foreign.json", r#"{"hello": "world"}"#);
        write("future.json", r#"{"kind": "time_machine"}"#);
        write("bad-drill.json", r#"{"kind": "load_drill", "status": 3}"#);
        write(
            "canary-check-1.json",
            r#"{"kind": "canary_check", "started_at": "b"}"#,
        );
        write("game-day-1.json", r#"{"kind": "game_day"}"#);
        write("snap.json", r#"{"kind": "reliability_snapshot"}"#);
        write("notes.txt", "not a report");
        write(".tmp.json.1.tmp", "partial");
        let c = collect(dir.path()).unwrap();
        let skipped: Vec<&str> = c.skipped.iter().map(|s| s.file.as_str()).collect();
        assert_eq!(
            skipped,
            [
                "bad-drill.json",
                "broken.json",
                "canary-check-1.json",
                "foreign.json",
                "future.json",
                "game-day-1.json"
            ]
        );
        assert!(
            c.skipped[1].reason.starts_with("not JSON"),
            "{:?}",
            c.skipped
        );
        assert!(
            c.skipped[4].reason.contains("time_machine"),
            "{:?}",
            c.skipped
        );
        // A report is read as its type: a canary without its fields is not one.
        assert!(
            c.skipped[2]
                .reason
                .starts_with("not a valid CanaryCheck report"),
            "{:?}",
            c.skipped
        );
        assert_eq!(c.ignored, ["snap.json"]);
        assert_eq!(c.report_count(), 0);
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = collect(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, DashboardError::ReadDir { .. }));
    }
}
