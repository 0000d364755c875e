//! Canary comparison (`relhost canary`): a control and a candidate drilled
//! with the same arrival schedule, judged metric by metric as Kayenta's
//! judge does.
//!
//! - [`mann_whitney`](mod@mann_whitney) is the two-sided Mann–Whitney U test (normal
//!   approximation, tie and continuity corrections).
//! - [`judge`](mod@judge) compares, per scenario and policy metric, the
//!   per-request samples of both sides (per second for throughput); a
//!   metric is `high` or `low` when the test is significant at the
//!   policy's confidence level *and* the candidate's value moved by more
//!   than both the allowed relative and absolute changes; `nodata` when a
//!   side has fewer than the minimum samples. Then a weighted score and a
//!   verdict (pass / marginal / fail / inconclusive).
//! - [`report`] holds `canary-check-<timestamp>.json`;
//! - [`run`](mod@run) drills both sides and judges them ([`Canary`]).

pub mod judge;
pub mod mann_whitney;
pub mod report;
pub mod run;

#[cfg(test)]
mod tests;

pub use judge::{
    CanaryVerdict, Classification, Classified, JudgeSettings, Judgement, MetricResult,
    MetricSample, SampleSummary, ScenarioSamples, judge, metric_sample,
};
pub use mann_whitney::{MannWhitney, mann_whitney};
pub use report::{CanaryReport, SAMPLES, ScenarioFigures, SideSummary};
pub use run::{Canary, CanaryOutcome};
