//! Typed profiles and policies, validated from raw JSON.
//!
//! Documents: load profiles, the SLO baseline, and the gate policies
//! (release gate, milestone gate, region rollout, canary) with the
//! ownership matrix that gives every check an owner.
//!
//! As in ripgrep's low-/high-level arguments, serde reads a raw document and
//! a typed value ([`Profile`], [`SloBaseline`]) is built only after
//! validation; nothing downstream sees strings that should be durations or
//! rates. Errors ([`PolicyError`]) name the file (or builtin document), the
//! line and column, the JSON path of the field, what is wrong and what was
//! expected.

mod canary;
mod comparator;
mod document;
mod duration;
mod error;
mod game_day;
pub(crate) mod locate;
mod metric;
mod milestone;
mod ordered;
mod ownership;
mod profile;
mod refs;
mod region;
mod release_gate;
mod slo;
mod stage;
#[cfg(test)]
mod tests;

pub use canary::{
    CANARY_METRICS, CanaryMetric, CanaryPolicy, Direction, default_absolute_increase,
};
pub use comparator::Comparator;
pub use document::PolicyDocument;
pub use duration::{MAX_DURATION, parse_duration, parse_duration_within};
pub use error::{Origin, PolicyError};
pub use game_day::{CustomCheck, FaultAction, FaultStep, GameDayPlan, Hypothesis, ScheduleEntry};
pub use metric::{MetricPath, MetricPathError};
pub use milestone::{MILESTONES, MilestoneGatePolicy, MilestoneThresholds};
pub use ownership::{BUILTIN_CHECKS, Owner, OwnershipMatrix};
pub use profile::{PROFILE_NAMES, Profile, ScenarioPlan, builtin_profile, load_profile_file};
pub use region::{RegionRolloutPolicy, TopologyTrigger};
pub use release_gate::{
    BurnRatePolicy, ProbePolicy, ReleaseGatePolicy, SnapshotCheck, SnapshotWindow, WhenMissing,
};
pub use slo::{SloBaseline, SloThresholds};
pub use stage::{Load, MAX_CONCURRENCY, MAX_RATE, Scale, Stage, StageProblem};
