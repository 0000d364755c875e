//! The load engine: stages, schedules, workers and request templates.

mod credentials;
mod drill;
mod due;
mod job;
mod live;
mod pacer;
mod payloads;
mod rotation;
mod schedule;
mod segment;
mod template;
mod worker;

pub use credentials::{Credential, Credentials};
pub(crate) use drill::policy_stage;
pub use drill::{
    DrillPlan, EngineError, NoProgress, Progress, ScenarioResult, ScenarioSpec, prepare, run,
};
pub use live::{LiveBuckets, LiveStats, LiveTotals, in_flight};
pub use schedule::{RateSchedule, UserRamp};
pub use segment::{MAX_SEGMENTS, Segment, SegmentError};
pub use template::{
    FillContext, MAX_HEADER_BYTES, MAX_HEADERS, PayloadTemplate, RequestLimits, RequestTemplate,
    TemplateError,
};
pub use worker::LATE_START;
