//! Reading a drill report back: `relhost merge` reads segments', the gates
//! and the canary read finished (merged) drills'.

use std::path::{Path, PathBuf};

use super::{DrillReport, MergedSection};

/// The largest report file read: an hour-long segment, with its series,
/// stays far below.
const MAX_REPORT_BYTES: u64 = 256 << 20;

/// Why a drill report cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is a drill report, but not a merged one.
    #[error(
        "{path}: not a merged drill's report (`relhost merge` the drill's segments \
         and give the merged report)"
    )]
    NotMerged {
        /// The file.
        path: PathBuf,
    },
    /// The file is not a drill report.
    #[error("{path}: not a load drill report: {message}")]
    NotADrillReport {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Reads and parses a `load-drill-*.json`.
pub fn read_drill_report(path: &Path) -> Result<DrillReport, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_REPORT_BYTES {
        return Err(ReadError::NotADrillReport {
            path: path.to_owned(),
            message: format!("{size} bytes, more than a report can be"),
        });
    }
    let text = std::fs::read(path).map_err(io)?;
    serde_json::from_slice(&text).map_err(|e| ReadError::NotADrillReport {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Reads a merged drill's report (`relhost merge` writes one): the report,
/// and its merged section with the record of every measurement.
pub fn read_merged_drill(path: &Path) -> Result<(DrillReport, MergedSection), ReadError> {
    let mut report = read_drill_report(path)?;
    let merged = report.merged.take().ok_or_else(|| ReadError::NotMerged {
        path: path.to_owned(),
    })?;
    Ok((report, merged))
}
