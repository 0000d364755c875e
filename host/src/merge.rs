//! `relhost merge`: the reports of a drill's segments joined into the
//! report of one run.
//!
//! Each segment's report carries its run's record (every counter, the HDR
//! histograms, the per-second series, credential uses) and the plan every
//! segment must share. Merging checks that the segments are all there,
//! once each, of one plan; adds the counters; merges the histograms and
//! series; and builds the report through the same code as a single run's,
//! so its percentiles, SLO gates, coverage checks and burn-rate series are
//! evaluated on the merged data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::atomic_file::WriteError;
use crate::drill::report::{RunInfo, drill_report};
use crate::engine::MAX_SEGMENTS;
use crate::exit::Exit;
use crate::plugin::{
    COMPILED_CACHE, Limits, LoadedPlugin, PluginError, Runtime, SloEvaluatorPlugin,
};
use crate::policy::{Origin, PolicyDocument, PolicyError, SloBaseline};
use crate::report::{
    DrillReport, MergedSection, MergedSegment, ReadError, RunRecord, SEGMENT_FORMAT,
    ScenarioRecord, SegmentSection, StageRecord, millis_between, read_drill_report,
    report_file_name, write_json_atomic,
};
use crate::slo::Evaluators;

/// What to merge and where the merged report goes.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// Segment reports, or directories holding them (every `load-drill-*.json`).
    pub inputs: Vec<PathBuf>,
    /// Where the merged report is written.
    pub output_dir: PathBuf,
    /// The command line, as the merged report records it.
    pub command_line: Vec<String>,
    /// Where compiled plugins are cached (the team's SLO evaluators).
    pub cache_dir: PathBuf,
    /// How long to wait for segments still missing (a Kubernetes merge
    /// step starts beside the segments' pods); `None`: not at all.
    pub wait: Option<Duration>,
}

/// The merged report and its file.
pub struct MergeOutcome {
    /// The report.
    pub report: DrillReport,
    /// Where it was written.
    pub path: PathBuf,
}

/// Why segments cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A report cannot be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A directory cannot be listed.
    #[error("{path}: cannot list: {source}")]
    List {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A segment's record is damaged.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A segment's report is of another layout.
    #[error("{path}: segment format {format}; this relhost reads format {SEGMENT_FORMAT}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Its format.
        format: u32,
    },
    /// A report is not a segment's.
    #[error("{path}: not a segment's report (run `relhost drill --segment=I/N`)")]
    NotASegment {
        /// The file.
        path: PathBuf,
    },
    /// Nothing to merge.
    #[error("no segment reports in {0}")]
    Nothing(String),
    /// Segments of the drill are missing.
    #[error("{0}")]
    Missing(String),
    /// The segments do not make up one drill.
    #[error("{0}")]
    Segments(String),
    /// The SLO baseline the segments recorded is unusable.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The team's SLO evaluators cannot be loaded.
    #[error("SLO evaluator")]
    Plugin(#[from] PluginError),
    /// An SLO evaluator changed since the segments ran it.
    #[error(
        "SLO evaluator {source_path} changed since the segments ran it (sha256 {now}, the segments ran {then})"
    )]
    PluginChanged {
        /// Where it is loaded from.
        source_path: String,
        /// Its digest now.
        now: String,
        /// The digest the segments recorded.
        then: String,
    },
    /// The merged report cannot be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// How often a waiting merge looks for the segments again.
const WAIT_POLL: Duration = Duration::from_secs(2);

impl MergeError {
    /// Whether segments may yet arrive: none, or not all, are there.
    fn is_incomplete(&self) -> bool {
        match self {
            MergeError::Nothing(_) | MergeError::Missing(_) | MergeError::List { .. } => true,
            // The segments' directory, not made yet.
            MergeError::Read(ReadError::Io { source, .. }) => {
                source.kind() == std::io::ErrorKind::NotFound
            }
            _ => false,
        }
    }

    /// 2 for what the operator gave, 3 when the report cannot be written.
    pub fn exit(&self) -> Exit {
        match self {
            MergeError::Write(_) => Exit::CannotRun,
            _ => Exit::BadInput,
        }
    }
}

/// One segment's report.
struct Part {
    path: PathBuf,
    report: DrillReport,
    segment: Box<SegmentSection>,
}

/// Reads the segments, checks that they make up one drill, and writes
/// the merged report.
pub async fn merge(options: &MergeOptions) -> Result<MergeOutcome, MergeError> {
    let deadline = options.wait.map(|wait| Instant::now() + wait);
    let parts = loop {
        match read_parts(&options.inputs).and_then(check_parts) {
            Ok(parts) => break parts,
            Err(e) if e.is_incomplete() && deadline.is_some_and(|d| Instant::now() < d) => {
                tokio::time::sleep(WAIT_POLL).await;
            }
            Err(e) => return Err(e),
        }
    };
    let first = &parts[0];
    let record = merge_records(&parts);
    let origin = Origin::File(first.path.clone());
    let baseline = SloBaseline::parse(&record.slo_baseline, &origin, &())?;
    let evaluators = load_evaluators(first, &options.cache_dir).await?;
    let started = parts
        .iter()
        .filter_map(|p| humantime::parse_rfc3339_weak(&p.report.header.started_at).ok())
        .min()
        .unwrap_or_else(SystemTime::now);
    let mut config = first.report.config.clone();
    if let Some(config) = config.as_object_mut() {
        config.remove("run_id");
        config.insert("segments".into(), parts.len().into());
    }
    let info = RunInfo {
        started,
        command_line: options.command_line.clone(),
        config,
        target: first.report.target.clone(),
        profile: first.report.profile.clone(),
        warnings: Vec::new(),
    };
    let mut report = drill_report(
        info,
        &record,
        first.report.plugins.clone(),
        &baseline,
        &evaluators,
    )
    .await;
    report.merged = Some(merged_section(&parts, record));
    let name = report_file_name("load-drill", &report.profile, SystemTime::now());
    let path = write_json_atomic(&options.output_dir, &name, &report)?;
    Ok(MergeOutcome { report, path })
}

/// Reads every report given, directories' `load-drill-*.json` included
/// (a directory's merged and whole-drill reports are passed over).
fn read_parts(inputs: &[PathBuf]) -> Result<Vec<Part>, MergeError> {
    let mut parts = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|source| MergeError::List {
                    path: input.clone(),
                    source,
                })?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| {
                    path.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("load-drill-") && n.ends_with(".json"))
                })
                .collect();
            files.sort();
            for path in files {
                let report = read_drill_report(&path)?;
                // Merged and whole drills may share the directory.
                if report.merged.is_some() || report.segment.is_none() {
                    continue;
                }
                parts.push(part(path, report)?);
            }
        } else {
            let report = read_drill_report(input)?;
            parts.push(part(input.clone(), report)?);
        }
    }
    if parts.is_empty() {
        let inputs: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        return Err(MergeError::Nothing(inputs.join(", ")));
    }
    Ok(parts)
}

fn part(path: PathBuf, mut report: DrillReport) -> Result<Part, MergeError> {
    let Some(segment) = report.segment.take() else {
        return Err(MergeError::NotASegment { path });
    };
    if segment.format != SEGMENT_FORMAT {
        return Err(MergeError::Format {
            path,
            format: segment.format,
        });
    }
    let refuse = |message: String| MergeError::Parse {
        path: path.clone(),
        message,
    };
    if segment.count == 0 || segment.count > MAX_SEGMENTS || segment.index >= segment.count {
        return Err(refuse(format!(
            "segment {}/{}: the index counts from 0 below the count, at most {MAX_SEGMENTS}",
            segment.index, segment.count
        )));
    }
    let pool = report.config["credentials"].as_u64().unwrap_or(0);
    for scenario in &segment.record.scenarios {
        if scenario.credential_uses.len() as u64 > pool {
            return Err(refuse(format!(
                "scenario {}: uses of {} credentials, but the pool held {pool}",
                scenario.name,
                scenario.credential_uses.len()
            )));
        }
        for run in &scenario.runs {
            run.run()
                .map_err(|e| refuse(format!("scenario {}: {e}", scenario.name)))?;
        }
    }
    Ok(Part {
        path,
        report,
        segment,
    })
}

/// Orders the parts by index after checking that there is one of each
/// index, all of the same count and plan.
fn check_parts(parts: Vec<Part>) -> Result<Vec<Part>, MergeError> {
    let name = |p: &Part| {
        format!(
            "segment {}/{} ({})",
            p.segment.index,
            p.segment.count,
            p.path.display()
        )
    };
    let count = parts[0].segment.count;
    if let Some(other) = parts.iter().find(|p| p.segment.count != count) {
        return Err(MergeError::Segments(format!(
            "{} and {} are segments of drills split differently",
            name(&parts[0]),
            name(other)
        )));
    }
    let mut by_index: BTreeMap<u32, Part> = BTreeMap::new();
    for part in parts {
        if part.segment.index >= count {
            return Err(MergeError::Segments(format!(
                "{}: the index is not below the count",
                name(&part)
            )));
        }
        if let Some(earlier) = by_index.get(&part.segment.index) {
            return Err(MergeError::Segments(format!(
                "{} is given twice: {} and {}",
                format_args!("segment {}/{count}", part.segment.index),
                earlier.path.display(),
                part.path.display()
            )));
        }
        by_index.insert(part.segment.index, part);
    }
    let missing: Vec<String> = (0..count)
        .filter(|i| !by_index.contains_key(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing(format!(
            "segment {} missing: a merge needs all {count} segments of the drill",
            missing.join(", ")
        )));
    }
    let parts: Vec<Part> = by_index.into_values().collect();
    for part in &parts[1..] {
        if let Some((at, first, other)) = difference(&parts[0].segment.plan, &part.segment.plan) {
            return Err(MergeError::Segments(format!(
                "{} is from another drill than {}: {at} is {other} there, {first} here",
                name(part),
                name(&parts[0])
            )));
        }
    }
    Ok(parts)
}

/// The first place two plans differ: its path and the two values.
fn difference(a: &serde_json::Value, b: &serde_json::Value) -> Option<(String, String, String)> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys()) {
                let (va, vb) = (
                    x.get(key).unwrap_or(&Value::Null),
                    y.get(key).unwrap_or(&Value::Null),
                );
                if let Some((at, p, q)) = difference(va, vb) {
                    let at = if at.is_empty() {
                        key.clone()
                    } else {
                        format!("{key}.{at}")
                    };
                    return Some((at, p, q));
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (p, q))| {
                difference(p, q).map(|(at, p, q)| {
                    let at = if at.is_empty() {
                        format!("[{i}]")
                    } else {
                        format!("[{i}].{at}")
                    };
                    (at, p, q)
                })
            })
        }
        _ if a == b => None,
        _ => Some((String::new(), brief(a), brief(b))),
    }
}

/// A value as an error message shows it: at most 60 characters.
fn brief(value: &serde_json::Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// The record of the whole drill: counters added, histograms and series
/// merged, credential uses added per pool entry.
fn merge_records(parts: &[Part]) -> RunRecord {
    let first = &parts[0].segment.record;
    let mut record = RunRecord {
        scenarios: Vec::with_capacity(first.scenarios.len()),
        interrupted: parts.iter().any(|p| p.segment.record.interrupted),
        ..first.clone()
    };
    for (index, scenario) in first.scenarios.iter().enumerate() {
        let all: Vec<(&Part, &ScenarioRecord)> = parts
            .iter()
            .filter_map(|p| p.segment.record.scenarios.get(index).map(|s| (p, s)))
            .collect();
        record.scenarios.push(merge_scenario(scenario, &all));
    }
    if let Some(rotation) = &mut record.rotation {
        for part in &parts[1..] {
            for warning in part
                .segment
                .record
                .rotation
                .iter()
                .flat_map(|r| &r.warnings)
            {
                if !rotation.warnings.contains(warning) {
                    rotation.warnings.push(warning.clone());
                }
            }
        }
    }
    record
}

fn merge_scenario(first: &ScenarioRecord, all: &[(&Part, &ScenarioRecord)]) -> ScenarioRecord {
    let mut merged = ScenarioRecord {
        runs: Vec::new(),
        skipped: None,
        plugin_errors: Vec::new(),
        abandoned: 0,
        credential_uses: Vec::new(),
        errors: Vec::new(),
        ..first.clone()
    };
    let label = |p: &Part| format!("segment {}/{}", p.segment.index, p.segment.count);
    let ran: Vec<_> = all.iter().filter(|(_, s)| s.skipped.is_none()).collect();
    if ran.is_empty() {
        merged.skipped = first.skipped.clone();
    }
    for (part, scenario) in all {
        if let (Some(reason), false) = (&scenario.skipped, ran.is_empty()) {
            merged
                .errors
                .push(format!("{} skipped it: {reason}", label(part)));
        }
        for message in &scenario.plugin_errors {
            if !merged.plugin_errors.contains(message) {
                merged.plugin_errors.push(message.clone());
            }
        }
        merged.abandoned = merged.abandoned.saturating_add(scenario.abandoned);
        if merged.credential_uses.len() < scenario.credential_uses.len() {
            merged
                .credential_uses
                .resize(scenario.credential_uses.len(), 0);
        }
        for (total, uses) in merged
            .credential_uses
            .iter_mut()
            .zip(&scenario.credential_uses)
        {
            *total = total.saturating_add(*uses);
        }
        for error in &scenario.errors {
            merged.errors.push(format!("{}: {error}", label(part)));
        }
        for (i, run) in scenario.runs.iter().enumerate() {
            match merged.runs.get_mut(i) {
                Some(stage) => merge_stage(stage, run),
                None => merged.runs.push(run.clone()),
            }
        }
    }
    merged
}

/// Adds a segment's run of a stage: its measurements merge, its window is
/// the longest, and its peak adds (the segments' peaks may not coincide:
/// the sum is an upper bound).
fn merge_stage(stage: &mut StageRecord, other: &StageRecord) {
    stage.metrics.merge(&other.metrics);
    stage.elapsed_us = stage.elapsed_us.max(other.elapsed_us);
    stage.peak_concurrency = stage
        .peak_concurrency
        .saturating_add(other.peak_concurrency);
}

/// The built-in evaluators and the team's, loaded from where the segments
/// loaded them and checked against the digests they recorded.
async fn load_evaluators(first: &Part, cache_dir: &Path) -> Result<Evaluators, MergeError> {
    let recorded: Vec<_> = first
        .report
        .plugins
        .iter()
        .filter(|p| p.kind == SloEvaluatorPlugin::WORLD)
        .collect();
    let extra: Vec<PathBuf> = recorded
        .iter()
        .filter(|p| !p.source.starts_with("builtin:"))
        .map(|p| PathBuf::from(&p.source))
        .collect();
    let runtime = Runtime::with_params(
        Limits::default(),
        Default::default(),
        None,
        Some(&cache_dir.join(COMPILED_CACHE)),
    )?;
    let evaluators = Evaluators::load(&runtime, &extra).await?;
    for (loaded, recorded) in evaluators.plugins().zip(&recorded) {
        if loaded.sha256() != recorded.sha256 {
            return Err(MergeError::PluginChanged {
                source_path: recorded.source.clone(),
                now: loaded.sha256().to_owned(),
                then: recorded.sha256.clone(),
            });
        }
    }
    Ok(evaluators)
}

/// What the merged report says of its segments.
fn merged_section(parts: &[Part], record: RunRecord) -> MergedSection {
    let started: Vec<Option<SystemTime>> = parts
        .iter()
        .map(|p| humantime::parse_rfc3339_weak(&p.segment.load_started_at).ok())
        .collect();
    let earliest = started.iter().flatten().min().copied();
    let segments = parts
        .iter()
        .zip(&started)
        .map(|(part, at)| MergedSegment {
            index: part.segment.index,
            report: part.path.display().to_string(),
            status: part.report.status,
            load_started_at: part.segment.load_started_at.clone(),
            offset_ms: match (earliest, at) {
                (Some(earliest), Some(at)) => millis_between(earliest, *at),
                _ => 0.0,
            },
            start_skew_ms: part.segment.start_skew_ms,
        })
        .collect();
    MergedSection {
        count: parts.len() as u32,
        segments,
        max_start_skew_ms: parts
            .iter()
            .filter_map(|p| p.segment.start_skew_ms)
            .reduce(f64::max),
        record,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_difference_is_named_by_its_path() {
        let a = json!({"config": {"seed": 1, "workers": 2}, "scenarios": [{"sha256": "aa"}]});
        let mut b = a.clone();
        assert_eq!(difference(&a, &b), None);
        b["config"]["seed"] = json!(2);
        assert_eq!(
            difference(&a, &b),
            Some(("config.seed".into(), "1".into(), "2".into()))
        );
        let mut c = a.clone();
        c["scenarios"][0]["sha256"] = json!("bb");
        assert_eq!(
            difference(&a, &c).map(|d| d.0),
            Some("scenarios.[0].sha256".into())
        );
        let mut d = a.clone();
        d["extra"] = json!(true);
        assert_eq!(difference(&a, &d).map(|d| d.0), Some("extra".into()));
    }
}
