//! Reports: the drill report's types, the SLO gate, atomic writers and the
//! human summary table.
//!
//! The engine builds one [`ScenarioReport`] per scenario with
//! [`ScenarioReport::from_stages`] (which also evaluates the gate), wraps
//! them in a [`DrillReport`], writes it with [`write_json_atomic`] under
//! [`report_file_name`], and prints [`write_summary_table`]. Gate-like
//! commands also write [`junit_xml`] and a [`MarkdownSummary`] for CI.

mod gate_reports;
mod junit;
mod markdown;
mod probe_outcome;
mod read;
mod runbook;
mod segment;
mod slo_gate;
mod table;
mod types;
mod write;

#[cfg(test)]
mod tests;

pub use crate::atomic_file::{
    WriteError, check_writable, write_bytes_atomic, write_json_atomic_with_mode,
};
pub use gate_reports::{
    BurnRateGate, MilestoneGateReport, OwnedCheck, ReleaseGateReport, SnapshotSection, verdict_of,
    write_gate_outputs,
};
pub use junit::{JunitCase, junit_xml, write_junit, write_text_file, xml_escape};
pub use markdown::{MarkdownSummary, SummaryRow, md_cell};
pub use probe_outcome::{Observed, ProbeCheck, ProbeOutcome};
pub use read::{ReadError, read_drill_report, read_merged_drill};
pub use runbook::runbook_section;
pub use segment::{
    CoverageGoals, MergedSection, MergedSegment, RunRecord, SEGMENT_FORMAT, ScenarioRecord,
    SegmentSection, StagePlan, StageRecord,
};
pub use slo_gate::{Check, Comparator, GateResult, Unit, Verdict};
pub use table::write_summary_table;
pub use types::{
    CredentialsReport, DataInfo, DrillReport, DrillStatus, LoadReport, PluginInfo, ReportHeader,
    ReportKind, RotationReport, SCHEMA_VERSION, ScenarioReport, StageReport, StageRun, TargetInfo,
};
pub use write::{
    compact_timestamp, file_name_safe, millis_between, report_file_name, rfc3339_micros,
    rfc3339_millis, write_json_atomic,
};
