//! Measurements: histograms, counters, time series and their merging.
//!
//! The engine gives each worker one [`StageMetrics`] per stage and calls
//! [`StageMetrics::record`] for every finished request; recorders are merged
//! at the end of a stage and turned into a [`StageSummary`] for reports.

mod distribution;
mod hist;
mod reasons;
mod sample;
mod series;
mod stage;
mod summary;

pub use distribution::Distribution;
pub use reasons::ReasonCount;
pub use sample::{Sample, SseSample};
pub use series::SecondStats;
pub use stage::{Outcomes, StageMetrics};
pub use summary::{Percentiles, PluginTime, SseSummary, StageSummary, TimePoint};
