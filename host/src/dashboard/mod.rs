//! The SLO dashboard (`relhost dashboard`): every report in the output
//! directory, read by its `kind`, summarized as `slo-dashboard.json`,
//! `slo-dashboard.md` and a self-contained `slo-dashboard.html`.
//!
//! - [`collect`](mod@collect) reads the reports (skipping, with a warning, files that are
//!   not JSON or not a known report);
//! - [`model`] turns them into a [`Dashboard`]: the latest verdict per gate
//!   and per scenario, trends across runs, error-budget burn per scenario,
//!   the latest drill's series, the latest canary comparison;
//! - [`svg`] draws its charts as inline SVG, [`html`] lays out the page
//!   (no network fetches: no scripts, fonts or styles from elsewhere) and
//!   [`markdown`] the Markdown summary.
//!
//! [`generate`] does it all and writes the three files atomically.

pub mod collect;
pub mod html;
pub mod markdown;
pub mod model;
pub mod svg;

use std::path::{Path, PathBuf};

pub use collect::{Collected, ReportFile, SkippedFile, collect};
pub use model::{DEFAULT_OBJECTIVE, Dashboard};

use crate::policy::SloBaseline;
use crate::report::{WriteError, write_bytes_atomic, write_json_atomic};

/// File name of the JSON dashboard.
pub const JSON_FILE: &str = "slo-dashboard.json";
/// File name of the Markdown dashboard.
pub const MARKDOWN_FILE: &str = "slo-dashboard.md";
/// File name of the HTML dashboard.
pub const HTML_FILE: &str = "slo-dashboard.html";

/// Why the dashboard could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The output directory could not be listed.
    #[error("cannot read the output directory {}", path.display())]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A dashboard file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// The files [`generate`] wrote, and what it built.
#[derive(Debug)]
pub struct Generated {
    /// The dashboard as written to JSON.
    pub dashboard: Dashboard,
    /// `slo-dashboard.json`.
    pub json: PathBuf,
    /// `slo-dashboard.md`.
    pub markdown: PathBuf,
    /// `slo-dashboard.html`.
    pub html: PathBuf,
}

/// Reads the reports in `dir`, builds the dashboard against `baseline`
/// (named `baseline_source` in the outputs) and writes its three files
/// into `dir`, each atomically.
pub fn generate(
    dir: &Path,
    baseline: &SloBaseline,
    baseline_source: &str,
) -> Result<Generated, DashboardError> {
    let collected = collect(dir)?;
    let dashboard = Dashboard::build(&collected, baseline, baseline_source, dir);
    let json = write_json_atomic(dir, JSON_FILE, &dashboard)?;
    let markdown = write_bytes_atomic(
        dir,
        MARKDOWN_FILE,
        markdown::render(&dashboard).as_bytes(),
        None,
    )?;
    let html = write_bytes_atomic(dir, HTML_FILE, html::render(&dashboard).as_bytes(), None)?;
    Ok(Generated {
        dashboard,
        json,
        markdown,
        html,
    })
}
