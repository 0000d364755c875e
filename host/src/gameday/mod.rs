//! Game days: a bundle of drills framed by a steady-state hypothesis, with
//! an optional fault schedule applied to the target while each drill runs.
//!
//! The library half of `relhost gameday`:
//! - the plan ([`crate::policy::GameDayPlan`], a policy document): the
//!   hypothesis, the fault schedule and the recovery wait;
//! - [`evaluate_hypothesis`] ([`hypothesis`]): whether the steady state
//!   holds, from synthetic probes and a reliability snapshot;
//! - [`Highlights`] ([`highlights`]): what changed between two phase
//!   snapshots (circuit transitions, failovers, rejections);
//! - [`FaultInjector`] ([`faults`]): sets and clears relhost-sim's faults
//!   through `POST`/`DELETE /api/ops/faults`;
//! - [`GameDayReport`] ([`report`]): `game-day-<timestamp>.json`, kind
//!   `game_day`, following `schemas/game-day.schema.json`;
//! - [`GameDay`] ([`run`]): the phases over prepared drills, from the
//!   hypothesis before to the recovery after.

pub mod faults;
pub mod highlights;
pub mod hypothesis;
pub mod report;
pub mod run;

pub use faults::{DEFAULT_FAULTS_PATH, FaultError, FaultInjector, FaultTransport};
pub use highlights::Highlights;
pub use hypothesis::{HypothesisCheck, HypothesisResult, evaluate_hypothesis};

pub use report::{
    AppliedFault, DrillPhase, GameDayReport, GameDayStatus, Phase, PhaseKind, PhaseSnapshot,
    Recovery,
};
pub use run::{GameDay, GameDayError, GameDayOutcome, prepare_drills, shutdown_all};
