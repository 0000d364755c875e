//! A scenario as its workers run it: its stages back to back on one
//! timeline, each with its load shape and request plan, and the
//! scenario-wide request sequence. Shared read-only by the workers (the
//! sequence and request caps are atomics). A segment's job holds the whole
//! drill's schedule; its workers take their global share of it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::schedule::{RateSchedule, UserRamp};
use super::segment::Segment;
use crate::plugin;
use crate::policy::{Load, Stage};

/// How a stage's load is shaped.
pub(crate) enum Shape {
    /// Arrivals at intended times; a worker takes every `stride`-th one
    /// of the scenario's whole schedule.
    Open {
        schedule: RateSchedule,
        /// The index of the stage's first arrival in the scenario's
        /// schedule (the arrivals of the open-model stages before it).
        first: u64,
    },
    /// Users, each sending its next request when its previous one ended;
    /// a worker runs every `stride`-th user.
    Closed {
        users: UserRamp,
        think_time: Duration,
        /// Requests left under the segment's share of the stage's cap,
        /// shared by the segment's workers.
        remaining: Option<AtomicU64>,
    },
}

/// One stage on the scenario's timeline.
pub(crate) struct StageJob {
    pub(crate) name: String,
    pub(crate) shape: Shape,
    pub(crate) plan: plugin::RequestPlan,
    /// When the stage begins: the previous stage's end.
    pub(crate) started: Instant,
    /// When the stage ends and the next one begins.
    pub(crate) ends: Instant,
}

/// A scenario's stages, as its workers run them.
pub(crate) struct ScenarioJob {
    pub(crate) stages: Vec<StageJob>,
    pub(crate) drill_started: Instant,
    /// The segment of the drill this process runs.
    pub(crate) segment: Segment,
    /// Workers of the whole drill: this segment's workers times the segments.
    pub(crate) stride: u32,
    /// Requests one worker may have in flight.
    pub(crate) max_in_flight: usize,
    /// Sequence numbers this segment handed out so far.
    sequence: AtomicU64,
}

impl ScenarioJob {
    /// The stages of a scenario starting at `started`, one after the other,
    /// with the request plans the plugin gave for them; `workers` of
    /// `segment` run them.
    pub(crate) fn new(
        stages: &[Stage],
        plans: Vec<plugin::RequestPlan>,
        (started, drill_started): (Instant, Instant),
        (workers, segment): (u32, Segment),
        max_in_flight: usize,
    ) -> Self {
        let mut previous_level = 0.0;
        let mut arrivals = 0;
        let mut at = started;
        let stages = stages
            .iter()
            .zip(plans)
            .map(|(stage, plan)| {
                let shape = shape(stage, previous_level, arrivals, segment);
                if let Shape::Open { schedule, .. } = &shape {
                    arrivals += schedule.total();
                }
                let job = StageJob {
                    name: stage.name.clone(),
                    shape,
                    plan,
                    started: at,
                    ends: at + stage.duration,
                };
                previous_level = stage.load.level();
                at = job.ends;
                job
            })
            .collect();
        ScenarioJob {
            stages,
            drill_started,
            segment,
            stride: segment.all_workers(workers),
            max_in_flight,
            sequence: AtomicU64::new(0),
        }
    }

    /// The sequence number of the next request to be sent: this segment's
    /// `k`-th request (over every worker and stage, in the order requests
    /// are built) gets the drill-wide number `k × segments + segment`.
    /// Credential rotation indexes by it.
    pub(crate) fn next_sequence(&self) -> u64 {
        self.segment
            .sequence(self.sequence.fetch_add(1, Ordering::Relaxed))
    }
}

/// The stage's load shape; ramps start from the previous stage's level,
/// and `arrivals` came before it.
fn shape(stage: &Stage, previous_level: f64, arrivals: u64, segment: Segment) -> Shape {
    match stage.load {
        Load::Rate(rate) => Shape::Open {
            schedule: RateSchedule::new(
                if stage.ramp.is_zero() {
                    rate
                } else {
                    previous_level
                },
                rate,
                stage.ramp,
                stage.duration,
                stage.max_requests,
            ),
            first: arrivals,
        },
        Load::Concurrency(users) => {
            let ramp = UserRamp::new(
                if stage.ramp.is_zero() {
                    users
                } else {
                    previous_level.round() as u32
                },
                users,
                stage.ramp,
            );
            Shape::Closed {
                users: ramp,
                think_time: stage.think_time,
                remaining: stage
                    .max_requests
                    .map(|cap| AtomicU64::new(segment.share_of(cap, ramp.peak()))),
            }
        }
    }
}
