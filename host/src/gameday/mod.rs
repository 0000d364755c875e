//! Game days: a bundle of drills framed by a steady-state hypothesis, with
//! an optional fault schedule applied to the target while each drill runs.
//!
//! The library half of `relhost gameday`:
//! - [`GameDayPlan`] ([`plan`]): the strict plan file (hypothesis, fault
//!   schedule, recovery wait), validated like the policies, with errors that
//!   name the file, line, column and field;
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
pub mod plan;
pub mod report;
pub mod run;

pub use faults::{DEFAULT_FAULTS_PATH, FaultError, FaultInjector, FaultTransport};
pub use highlights::Highlights;
pub use hypothesis::{HypothesisCheck, HypothesisResult, evaluate_hypothesis};
pub use plan::{
    FaultAction, FaultStep, GameDayPlan, Hypothesis, ScheduleEntry, builtin_game_day_plan,
    load_game_day_plan, parse_game_day_plan,
};
pub use report::{
    AppliedFault, DrillPhase, GAME_DAY_KIND, GameDayReport, GameDayStatus, Phase, PhaseKind,
    PhaseSnapshot, Recovery,
};
pub use run::{GameDay, GameDayError, GameDayOutcome, prepare_drills, shutdown_all};
