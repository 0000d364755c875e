//! When one worker's requests are due, stage after stage.
//!
//! Open model: of `stride` workers (over every segment of the drill), the
//! worker takes every `stride`-th arrival of the scenario's schedule.
//! Closed model: the worker runs every `stride`-th user, each sending its
//! next request when its previous one ended (plus think time).
//! Stages hand over instead of draining: a user carries on from one
//! closed-model stage into the next (if the next has room for it), new
//! users join at their ramp times, and a request in flight at a boundary
//! belongs to the stage that started it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::job::{ScenarioJob, Shape};
use super::schedule::RateSchedule;

/// A request that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    /// The stage it belongs to.
    pub(crate) stage: usize,
    /// The closed-model user sending it (`None` in the open model).
    pub(crate) user: Option<u32>,
}

/// The worker's share of an open-model stage's arrivals.
#[derive(Debug)]
struct Arrivals {
    schedule: RateSchedule,
    /// The next arrival of the worker's share.
    next: u64,
    /// When it is due (`None`: past the schedule's last).
    at: Option<Instant>,
}

/// One worker's due requests.
#[derive(Debug)]
pub(crate) struct Due {
    /// The worker's global id (over every segment).
    id: u32,
    /// Workers of the whole drill.
    stride: u32,
    /// The stage in force.
    stage: usize,
    /// Its arrivals, when it is an open-model stage.
    arrivals: Option<Arrivals>,
    /// Closed-model users' next start times.
    starts: BinaryHeap<Reverse<(Instant, u32)>>,
    /// Per user of this worker (`user / stride`): waiting in `starts` or
    /// in flight, so not to be started again when a stage begins.
    present: Vec<bool>,
}

impl Due {
    /// The requests of the worker with global id `id`, from the
    /// scenario's first stage.
    pub(crate) fn new(id: u32, job: &ScenarioJob) -> Self {
        let mut due = Due {
            id,
            stride: job.stride,
            stage: 0,
            arrivals: None,
            starts: BinaryHeap::new(),
            present: Vec::new(),
        };
        due.enter(job, 0);
        due
    }

    /// The stage in force.
    pub(crate) fn stage(&self) -> usize {
        self.stage
    }

    /// Whether the stage in force is an open-model one.
    pub(crate) fn is_open(&self) -> bool {
        self.arrivals.is_some()
    }

    /// When the next request is due, if one is due before the stage ends.
    pub(crate) fn peek(&self, job: &ScenarioJob) -> Option<Instant> {
        let at = match &self.arrivals {
            Some(arrivals) => arrivals.at?,
            None => self.starts.peek()?.0.0,
        };
        (at < job.stages[self.stage].ends).then_some(at)
    }

    /// When the next stage begins, if there is one.
    pub(crate) fn next_stage(&self, job: &ScenarioJob) -> Option<Instant> {
        job.stages.get(self.stage + 1).map(|stage| stage.started)
    }

    /// Moves on to the next stage (when [`Due::next_stage`] has come).
    pub(crate) fn advance(&mut self, job: &ScenarioJob) {
        self.enter(job, self.stage + 1);
    }

    fn slot(&self, user: u32) -> usize {
        (user / self.stride) as usize
    }

    fn enter(&mut self, job: &ScenarioJob, index: usize) {
        self.stage = index;
        let stage = &job.stages[index];
        match &stage.shape {
            Shape::Open { schedule, first } => {
                // Users leave at a closed stage's end; those in flight
                // finish in the stage that started them.
                for Reverse((_, user)) in std::mem::take(&mut self.starts) {
                    let slot = self.slot(user);
                    self.present[slot] = false;
                }
                // The stage's first arrival whose scenario-wide index
                // falls to this worker.
                let stride = u64::from(self.stride);
                let next = (u64::from(self.id) + stride - first % stride) % stride;
                self.arrivals = Some(Arrivals {
                    schedule: *schedule,
                    next,
                    at: schedule.time_of(next).map(|t| stage.started + t),
                });
            }
            Shape::Closed { users, .. } => {
                self.arrivals = None;
                for user in (self.id..users.peak()).step_by(self.stride as usize) {
                    let slot = self.slot(user);
                    if slot >= self.present.len() {
                        self.present.resize(slot + 1, false);
                    }
                    if self.present[slot] {
                        continue;
                    }
                    if let Some(after) = users.start_of(user) {
                        self.starts.push(Reverse((stage.started + after, user)));
                        self.present[slot] = true;
                    }
                }
            }
        }
    }

    /// Takes the next due request (call when [`Due::peek`] says it is due);
    /// `None` when it turned out not to be sent (a user that left, a cap).
    pub(crate) fn pop(&mut self, job: &ScenarioJob) -> Option<(Instant, Ticket)> {
        let stage = &job.stages[self.stage];
        if let Some(arrivals) = &mut self.arrivals {
            let due = arrivals.at?;
            arrivals.next += u64::from(self.stride);
            arrivals.at = arrivals
                .schedule
                .time_of(arrivals.next)
                .map(|t| stage.started + t);
            let ticket = Ticket {
                stage: self.stage,
                user: None,
            };
            return Some((due, ticket));
        }
        let Shape::Closed {
            users, remaining, ..
        } = &stage.shape
        else {
            return None;
        };
        let Reverse((at, user)) = self.starts.pop()?;
        let slot = self.slot(user);
        if !users.is_active(user, at.saturating_duration_since(stage.started)) {
            self.present[slot] = false;
            return None;
        }
        if let Some(remaining) = remaining {
            let took =
                remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
            if took.is_err() {
                // The stage's cap is spent: its users stop until the next stage.
                self.present[slot] = false;
                for Reverse((_, user)) in std::mem::take(&mut self.starts) {
                    let slot = self.slot(user);
                    self.present[slot] = false;
                }
                return None;
            }
        }
        let ticket = Ticket {
            stage: self.stage,
            user: Some(user),
        };
        Some((at, ticket))
    }

    /// A closed-model user's request ended (or could not be built) at
    /// `ended`: its next one is due after the think time of the stage in
    /// force, in this stage or a later one.
    pub(crate) fn finished(&mut self, user: u32, job: &ScenarioJob, ended: Instant) {
        let slot = self.slot(user);
        let stage = &job.stages[self.stage];
        if let Shape::Closed { think_time, .. } = &stage.shape {
            let next = ended + *think_time;
            if next < stage.ends || self.stage + 1 < job.stages.len() {
                self.starts.push(Reverse((next, user)));
                return;
            }
        }
        self.present[slot] = false;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::engine::Segment;
    use crate::plugin::RequestPlan;
    use crate::policy::{Load, Stage};

    fn stage(name: &str, load: Load, secs: u64, ramp: u64, cap: Option<u64>) -> Stage {
        Stage {
            name: name.into(),
            load,
            duration: Duration::from_secs(secs),
            ramp: Duration::from_secs(ramp),
            max_requests: cap,
            think_time: Duration::ZERO,
        }
    }

    fn job(stages: &[Stage], workers: u32) -> ScenarioJob {
        segment_job(stages, workers, Segment::WHOLE, Instant::now())
    }

    fn segment_job(stages: &[Stage], workers: u32, segment: Segment, now: Instant) -> ScenarioJob {
        let plans = stages.iter().map(|_| RequestPlan::PerRequest).collect();
        ScenarioJob::new(stages, plans, (now, now), (workers, segment), usize::MAX)
    }

    /// Runs worker `id` as if every request took `took`, with the clock
    /// jumping to each due time; returns `(stage, user, seconds)` of each send.
    fn sends(job: &ScenarioJob, id: u32, took: Duration) -> Vec<(usize, Option<u32>, f64)> {
        let start = job.stages[0].started;
        let mut due = Due::new(job.segment.global_worker(id), job);
        let mut sent = Vec::new();
        loop {
            match due.peek(job) {
                Some(_) => {
                    if let Some((at, ticket)) = due.pop(job) {
                        sent.push((ticket.stage, ticket.user, (at - start).as_secs_f64()));
                        if let Some(user) = ticket.user {
                            due.finished(user, job, at + took);
                        }
                    }
                }
                None if due.next_stage(job).is_some() => due.advance(job),
                None => return sent,
            }
        }
    }

    #[test]
    fn users_carry_over_from_one_stage_into_the_next() {
        // Three 2 s stages of 2 users, 3 s per request: each user sends at
        // 0 s and 3 s, the second request in the second stage; nobody
        // waits for a stage to drain.
        let stages: Vec<Stage> = ["a", "b", "c"]
            .iter()
            .map(|n| stage(n, Load::Concurrency(2), 2, 0, None))
            .collect();
        let job = job(&stages, 1);
        let sent = sends(&job, 0, Duration::from_secs(3));
        let at: Vec<(usize, f64)> = sent.iter().map(|(s, _, t)| (*s, t.round())).collect();
        assert_eq!(at, [(0, 0.0), (0, 0.0), (1, 3.0), (1, 3.0)]);
    }

    #[test]
    fn a_ramp_adds_users_at_their_times_and_a_smaller_stage_lets_users_go() {
        // 2 users for 2 s, then a ramp to 4 over 2 s, then 1 user; 1 s per request.
        let stages = [
            stage("two", Load::Concurrency(2), 2, 0, None),
            stage("ramp", Load::Concurrency(4), 2, 2, None),
            stage("one", Load::Concurrency(1), 2, 0, None),
        ];
        let job = job(&stages, 1);
        let sent = sends(&job, 0, Duration::from_secs(1));
        let users_in = |s: usize| {
            let mut users: Vec<u32> = sent
                .iter()
                .filter(|(stage, ..)| *stage == s)
                .filter_map(|(_, u, _)| *u)
                .collect();
            users.sort_unstable();
            users.dedup();
            users
        };
        assert_eq!(users_in(0), [0, 1]);
        assert_eq!(users_in(1), [0, 1, 2, 3]);
        assert_eq!(users_in(2), [0]);
        // User 2 joins half-way into its slot of the ramp (2 s + 0.5 s),
        // user 3 at 3.5 s.
        let first = |user: u32| {
            sent.iter()
                .find(|(_, u, _)| *u == Some(user))
                .map(|(_, _, t)| *t)
        };
        assert_eq!(first(2), Some(2.5));
        assert_eq!(first(3), Some(3.5));
        // Per second of the run: 2, 2, then 3 and 4 users, then 1.
        assert_eq!(sent.len(), 2 + 2 + 2 + 2 + 1 + 2 + 1 + 1);
    }

    #[test]
    fn workers_split_users_and_arrivals_without_overlap() {
        let stages = [
            stage("users", Load::Concurrency(5), 1, 0, None),
            stage("rate", Load::Rate(10.0), 1, 0, None),
        ];
        let job = job(&stages, 2);
        let took = Duration::from_millis(600);
        let (w0, w1) = (sends(&job, 0, took), sends(&job, 1, took));
        let users = |sent: &[(usize, Option<u32>, f64)]| {
            let mut users: Vec<u32> = sent.iter().filter_map(|(_, u, _)| *u).collect();
            users.sort_unstable();
            users.dedup();
            users
        };
        assert_eq!(users(&w0), [0, 2, 4]);
        assert_eq!(users(&w1), [1, 3]);
        let open = |sent: &[(usize, Option<u32>, f64)]| {
            sent.iter()
                .filter(|(s, u, _)| *s == 1 && u.is_none())
                .count()
        };
        assert_eq!(open(&w0) + open(&w1), 10);
    }

    #[test]
    fn a_spent_cap_stops_the_stage_and_the_next_stage_starts_its_users_again() {
        let stages = [
            stage("capped", Load::Concurrency(3), 2, 0, Some(4)),
            stage("next", Load::Concurrency(3), 1, 0, None),
        ];
        let job = job(&stages, 1);
        let sent = sends(&job, 0, Duration::from_millis(400));
        assert_eq!(sent.iter().filter(|(s, ..)| *s == 0).count(), 4);
        let next: Vec<f64> = sent
            .iter()
            .filter(|(s, ..)| *s == 1)
            .map(|(.., t)| *t)
            .collect();
        // Three users from 2 s, 0.4 s per request, until 3 s.
        assert_eq!(next.len(), 9, "{next:?}");
        assert_eq!(next[0], 2.0);
    }

    #[test]
    fn segments_of_a_drill_send_what_one_run_sends() {
        // Open stages whose arrival counts are not multiples of the
        // workers, closed stages with and without a cap, uneven workers.
        let stages = [
            stage("warm", Load::Rate(7.0), 1, 0, None),
            stage("users", Load::Concurrency(5), 1, 0, None),
            stage("capped", Load::Concurrency(5), 1, 0, Some(13)),
            stage("ramp", Load::Rate(23.0), 2, 1, Some(31)),
        ];
        let took = Duration::from_millis(300);
        let now = Instant::now();
        let all_sends = |segments: u32, workers: u32| {
            let mut all = Vec::new();
            for index in 0..segments {
                let segment = Segment::new(index, segments).expect("a segment");
                let job = segment_job(&stages, workers, segment, now);
                for id in 0..workers {
                    all.extend(
                        sends(&job, id, took)
                            .into_iter()
                            .map(|(s, u, t)| (s, u, (t * 1e6).round() as u64)),
                    );
                }
            }
            all.sort_unstable();
            all
        };
        let in_stage = |sent: &[(usize, Option<u32>, u64)], stage: usize| -> Vec<_> {
            sent.iter().filter(|(s, ..)| *s == stage).copied().collect()
        };
        let one = all_sends(1, 1);
        let counts: Vec<usize> = (0..4).map(|s| in_stage(&one, s).len()).collect();
        assert_eq!(counts, [7, 5 * 4, 13, 31]);
        for (segments, workers) in [(1, 3), (2, 1), (2, 3), (4, 2), (3, 5)] {
            let split = all_sends(segments, workers);
            let what = format!("{segments} segments of {workers} workers");
            // Arrivals and uncapped users: the same sends at the same times.
            for stage in [0, 1, 3] {
                assert_eq!(in_stage(&split, stage), in_stage(&one, stage), "{what}");
            }
            // A capped closed stage: exactly the cap, over the same users.
            let capped = in_stage(&split, 2);
            assert_eq!(capped.len(), 13, "{what}");
            let mut users: Vec<_> = capped.iter().filter_map(|(_, u, _)| *u).collect();
            users.sort_unstable();
            users.dedup();
            assert_eq!(users, [0, 1, 2, 3, 4], "{what}");
        }
    }
}
