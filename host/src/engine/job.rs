//! A scenario as its workers run it: its stages back to back on one
//! timeline, each with its load shape and request plan, and the
//! scenario-wide request sequence. Shared read-only by the workers (the
//! sequence and request caps are atomics).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::schedule::{RateSchedule, UserRamp};
use crate::plugin;
use crate::policy::{Load, Stage};

/// How a stage's load is shaped.
pub(crate) enum Shape {
    /// Arrivals at intended times; a worker takes every `workers`-th one.
    Open(RateSchedule),
    /// Users, each sending its next request when its previous one ended;
    /// a worker runs every `workers`-th user.
    Closed {
        users: UserRamp,
        think_time: Duration,
        /// Requests left under the stage's cap, shared by the workers.
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
    pub(crate) workers: u32,
    /// Requests one worker may have in flight.
    pub(crate) max_in_flight: usize,
    /// Sequence numbers handed out so far.
    sequence: AtomicU64,
}

impl ScenarioJob {
    /// The stages of a scenario starting at `started`, one after the other,
    /// with the request plans the plugin gave for them.
    pub(crate) fn new(
        stages: &[Stage],
        plans: Vec<plugin::RequestPlan>,
        started: Instant,
        drill_started: Instant,
        workers: u32,
        max_in_flight: usize,
    ) -> Self {
        let mut previous_level = 0.0;
        let mut at = started;
        let stages = stages
            .iter()
            .zip(plans)
            .map(|(stage, plan)| {
                let job = StageJob {
                    name: stage.name.clone(),
                    shape: shape(stage, previous_level),
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
            workers,
            max_in_flight,
            sequence: AtomicU64::new(0),
        }
    }

    /// The sequence number of the next request to be sent: request `k` of
    /// the scenario gets `k` (0, 1, 2, ... over every worker and stage, in
    /// the order requests are built). Credential rotation indexes by it.
    pub(crate) fn next_sequence(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed)
    }
}

/// The stage's load shape; ramps start from the previous stage's level.
fn shape(stage: &Stage, previous_level: f64) -> Shape {
    match stage.load {
        Load::Rate(rate) => Shape::Open(RateSchedule::new(
            if stage.ramp.is_zero() {
                rate
            } else {
                previous_level
            },
            rate,
            stage.ramp,
            stage.duration,
            stage.max_requests,
        )),
        Load::Concurrency(users) => Shape::Closed {
            users: UserRamp::new(
                if stage.ramp.is_zero() {
                    users
                } else {
                    previous_level.round() as u32
                },
                users,
                stage.ramp,
            ),
            think_time: stage.think_time,
            remaining: stage.max_requests.map(AtomicU64::new),
        },
    }
}
