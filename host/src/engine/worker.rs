//! One worker: owns its connection pool, its plugin instance and its
//! recorders, and sends the share of a stage's requests that falls to it.
//!
//! Open model: the worker takes every `workers`-th arrival of the stage's
//! schedule and sends it at its intended time, whatever is in flight (up to
//! a cap). Closed model: the worker runs every `workers`-th user, each
//! sending its next request when the previous one ended, after think time.
//! Building and recording happen in the worker's own loop; only the network
//! exchange is in flight, so nothing is shared between workers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::credentials::Credentials;
use super::live::LiveStats;
use super::pacer::{DENSE, Pacer};
use super::rotation::Picker;
use super::schedule::{RateSchedule, UserRamp};
use super::template::{FillContext, RequestTemplate, TemplateError};
use crate::http::{Client, Exchange, Origin, OutgoingRequest, Receive};
use crate::metrics::{Sample, SseSample, StageMetrics};
use crate::plugin::{self, CallContext, ResponseSummary, ScenarioInstance, Secrets, Verdict};

/// A send whose actual start lagged its intended time by more than this is a late start.
pub const LATE_START: Duration = Duration::from_millis(5);

/// What a scenario's workers share (read-only).
pub(crate) struct ScenarioContext {
    pub(crate) name: String,
    pub(crate) event_stream: bool,
    pub(crate) judges: bool,
    pub(crate) expected: Box<[bool; 600]>,
    pub(crate) declared_secrets: Vec<String>,
    pub(crate) secrets: Arc<Secrets>,
    pub(crate) credentials: Arc<Credentials>,
    pub(crate) base_url: http::Uri,
    pub(crate) seed: u64,
}

/// How a stage's load is shaped, for one worker.
pub(crate) enum Shape {
    Open(RateSchedule),
    Closed {
        users: UserRamp,
        think_time: Duration,
        /// Requests left under the stage's cap, shared by the stage's workers.
        remaining: Option<Arc<AtomicU64>>,
    },
}

/// One stage, as a worker runs it.
pub(crate) struct StageJob {
    pub(crate) name: String,
    pub(crate) shape: Shape,
    pub(crate) plan: plugin::RequestPlan,
    pub(crate) started: Instant,
    pub(crate) ends: Instant,
    pub(crate) drill_started: Instant,
    /// First request sequence number of the stage within the scenario.
    pub(crate) sequence_base: u64,
    pub(crate) workers: u32,
    pub(crate) max_in_flight: usize,
}

/// What a worker returns from a stage.
pub(crate) struct StageOutput {
    pub(crate) metrics: StageMetrics,
    /// Distinct plugin error messages (at most a few).
    pub(crate) plugin_errors: Vec<String>,
    /// Requests still in flight when an interrupt's grace period ended.
    pub(crate) abandoned: u64,
    /// One past the highest sequence number this worker used in the stage.
    pub(crate) next_sequence: u64,
}

/// A request in flight and what is known about it.
struct Flight {
    /// When it was due (the closed model has no intended times: a user
    /// sends when its previous request ended, so it is `actual`).
    intended: Instant,
    /// When the exchange started: the flight's first poll.
    actual: Instant,
    plugin_us: u64,
    user: u32,
    receive: Receive,
}

/// A request ready to send.
enum Payload {
    /// Built as a request, for the client to write (boxed: the wire form
    /// is the common one, and a flight's size counts per stream).
    Request(Box<OutgoingRequest>),
    /// Already written as HTTP/1.1, for the plain-TCP load path.
    Wire { origin: Arc<Origin>, bytes: Vec<u8> },
}

/// Sends one request due at `intended` (`None`: the closed model); gives
/// back the wire buffer for reuse.
async fn fly(
    client: Client,
    payload: Payload,
    sse: bool,
    receive: Receive,
    intended: Option<Instant>,
    plugin_us: u64,
    user: u32,
) -> (Flight, Exchange, Option<Vec<u8>>) {
    let actual = Instant::now();
    let (exchange, buffer) = match payload {
        // Boxed: the general client's future is large, and inline it
        // would size every flight's allocation, wire sends included.
        Payload::Request(request) => (Box::pin(client.send(*request, sse)).await, None),
        Payload::Wire { origin, bytes } => (
            client.send_wire(&origin, &bytes, sse, receive).await,
            Some(bytes),
        ),
    };
    let flight = Flight {
        intended: intended.unwrap_or(actual),
        actual,
        plugin_us,
        user,
        receive,
    };
    (flight, exchange, buffer)
}

/// Distinct plugin error messages kept per worker and stage.
const MAX_ERROR_MESSAGES: usize = 5;

/// One worker of one scenario.
pub(crate) struct Worker {
    id: u32,
    client: Client,
    instance: ScenarioInstance,
    /// Picks each request's credential, for scenarios that need one.
    picker: Option<Picker>,
    scenario: Arc<ScenarioContext>,
    live: Arc<LiveStats>,
    /// Waits for the next send time, to within microseconds.
    pacer: Pacer,
    /// Requests in flight whose responses are read at the pacer's ticks.
    ticked_reads: usize,
    /// Wire buffers of finished requests, for the next ones.
    buffers: Vec<Vec<u8>>,
}

impl Worker {
    pub(crate) fn new(
        id: u32,
        client: Client,
        instance: ScenarioInstance,
        picker: Option<Picker>,
        scenario: Arc<ScenarioContext>,
        live: Arc<LiveStats>,
    ) -> Self {
        Worker {
            id,
            client,
            instance,
            picker,
            scenario,
            live,
            pacer: Pacer::new(),
            ticked_reads: 0,
            buffers: Vec::new(),
        }
    }

    /// Requests per credential-pool index so far (empty without a pool).
    pub(crate) fn credential_uses(&self) -> &[u64] {
        self.picker.as_ref().map_or(&[], Picker::uses)
    }

    /// Runs this worker's share of a stage. When `stop` turns true the worker
    /// stops scheduling and waits up to `grace` for what is in flight.
    pub(crate) async fn run_stage(
        &mut self,
        job: &StageJob,
        mut stop: watch::Receiver<bool>,
        grace: Duration,
    ) -> StageOutput {
        let mut output = StageOutput {
            metrics: StageMetrics::new(),
            plugin_errors: Vec::new(),
            abandoned: 0,
            next_sequence: job.sequence_base,
        };
        let seed = crate::rng::SplitMix64::derive(
            self.scenario.seed,
            u64::from(self.id) ^ job.sequence_base,
        );
        // Templates for the plain-TCP HTTP/1.1 path are written as wire bytes.
        let origin = self
            .client
            .http1_origin(&self.scenario.base_url)
            .map(Arc::new);
        let mut template = match &job.plan {
            plugin::RequestPlan::Template(t) => match self.compile(t, seed) {
                Ok(template) => Some(template),
                Err(message) => {
                    note(&mut output.plugin_errors, message);
                    return output;
                }
            },
            plugin::RequestPlan::PerRequest => None,
        };
        let mut due = Due::new(self.id, job);
        let mut in_flight = FuturesUnordered::new();
        let mut stopping: Option<Instant> = None;
        // The pacer ticked: responses read at ticks are read once the
        // tick's sends are out.
        let mut ticked = false;
        loop {
            if stopping.is_none() && *stop.borrow() {
                stopping = Some(Instant::now() + grace);
            }
            let next = if stopping.is_some() {
                None
            } else {
                due.peek(job)
            };
            if next.is_none() && in_flight.is_empty() {
                break;
            }
            let can_send = in_flight.len() < job.max_in_flight;
            // A request already due is sent without waiting for a timer (a
            // closed-model user's next request is due when its last ended).
            // The open model's dense schedules send at the pacer's ticks.
            let horizon = if due.is_open() {
                self.pacer.horizon()
            } else {
                Instant::now()
            };
            let due_now = can_send && next.is_some_and(|at| at <= horizon);
            if due_now {
                // Record what finished meanwhile, without waiting.
                while let Some(Some(done)) = in_flight.next().now_or_never() {
                    self.live.set_in_flight(in_flight.len());
                    self.done(done, job, &mut output, &mut due).await;
                }
            } else {
                if std::mem::take(&mut ticked) {
                    self.client.tick();
                }
                // Responses read at ticks need the pacer to tick.
                let reads_wait = self.ticked_reads > 0;
                tokio::select! {
                    biased;
                    Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                        self.live.set_in_flight(in_flight.len());
                        self.done(done, job, &mut output, &mut due).await;
                        continue;
                    }
                    () = async {
                        match next.filter(|_| can_send && !reads_wait) {
                            Some(at) => self.pacer.wait_until(at).await,
                            None => self.pacer.next_tick().await,
                        }
                    }, if (next.is_some() && can_send) || reads_wait => {
                        ticked = true;
                        if !(can_send && next.is_some_and(|at| at <= self.pacer.horizon())) {
                            continue;
                        }
                    }
                    _ = stop.changed(), if stopping.is_none() => continue,
                    _ = sleep_until(stopping.unwrap_or(job.ends)), if stopping.is_some() => {
                        output.abandoned = in_flight.len() as u64;
                        break;
                    }
                }
            }
            let Some((intended, ticket)) = due.pop(job) else {
                continue;
            };
            let sequence = job.sequence_base + ticket.sequence;
            output.next_sequence = output.next_sequence.max(sequence + 1);
            // While the open model's sends are dense (the pacer ticks for
            // them), their responses are read at the ticks rather than each
            // waking the worker. Such a response holds its connection until
            // a tick, so only while half the connections are to spare.
            let dense = due.is_open()
                && due
                    .peek(job)
                    .is_some_and(|at| at.saturating_duration_since(intended) < DENSE);
            let spare = in_flight.len() < job.max_in_flight / 2;
            let receive = if dense && spare && !self.scenario.event_stream {
                Receive::AtTicks
            } else {
                Receive::OnArrival
            };
            match self
                .build(template.as_mut(), origin.as_ref(), job, sequence, seed)
                .await
            {
                Ok((payload, plugin_us)) => {
                    self.ticked_reads += usize::from(receive == Receive::AtTicks);
                    in_flight.push(fly(
                        self.client.clone(),
                        payload,
                        self.scenario.event_stream,
                        receive,
                        ticket.open.then_some(intended),
                        plugin_us,
                        ticket.user,
                    ));
                    self.live.set_in_flight(in_flight.len());
                }
                Err(message) => {
                    output.metrics.plugin_error();
                    note(&mut output.plugin_errors, message);
                    due.finished(ticket.user, job, Instant::now());
                }
            }
        }
        self.pacer.rest();
        // Flights abandoned at an interrupt are gone.
        self.ticked_reads = 0;
        self.live.set_in_flight(0);
        output
    }

    /// Records a finished request and lets its user send again.
    async fn done(
        &mut self,
        (flight, exchange, buffer): (Flight, Exchange, Option<Vec<u8>>),
        job: &StageJob,
        output: &mut StageOutput,
        due: &mut Due,
    ) {
        self.buffers.extend(buffer);
        self.ticked_reads -= usize::from(flight.receive == Receive::AtTicks);
        self.finish(&flight, &exchange, job, output).await;
        due.finished(flight.user, job, flight.actual + exchange.total);
    }

    fn compile(&self, template: &plugin::Template, seed: u64) -> Result<RequestTemplate, String> {
        RequestTemplate::compile(
            template,
            &self.scenario.base_url,
            &self.scenario.declared_secrets,
            &self.scenario.secrets,
            seed,
        )
        .map_err(|e| format!("plugin {}: template: {e}", self.scenario.name))
    }

    /// Builds request `sequence`: fills the stage's template, or asks the plugin.
    async fn build(
        &mut self,
        template: Option<&mut RequestTemplate>,
        origin: Option<&Arc<Origin>>,
        job: &StageJob,
        sequence: u64,
        seed: u64,
    ) -> Result<(Payload, u64), String> {
        // Workers of scenarios that need a credential have a picker.
        let credential = match &mut self.picker {
            Some(picker) => {
                let index = picker
                    .index(sequence, u64::from(job.workers))
                    .await
                    .map_err(|e| e.to_string())?;
                self.scenario.credentials.get(index).map(|c| (index, c))
            }
            None => None,
        };
        let ctx = FillContext {
            iteration: sequence,
            worker: self.id,
            credential: credential.map(|(_, c)| (c.token.as_str(), c.thread_id.as_str())),
        };
        if let Some(template) = template {
            return fill(template, origin, &ctx, &mut self.buffers)
                .map(|p| (p, 0))
                .map_err(|e| format!("plugin {}: template: {e}", self.scenario.name));
        }
        let call = CallContext {
            scenario: self.scenario.name.clone(),
            stage: job.name.clone(),
            iteration: sequence,
            worker: self.id,
            credential: credential.map(|(index, c)| plugin::Credential {
                index,
                thread_id: c.thread_id.clone(),
            }),
        };
        let started = std::time::Instant::now();
        let request = self.instance.build_request(&call).await;
        let plugin_us = started.elapsed().as_micros() as u64;
        let request = request.map_err(|e| e.to_string())?;
        let template = plugin::Template {
            request,
            signing: None,
        };
        let mut compiled = self.compile(&template, seed)?;
        let payload = fill(&mut compiled, origin, &ctx, &mut self.buffers)
            .map_err(|e| format!("plugin {}: request: {e}", self.scenario.name))?;
        Ok((payload, plugin_us))
    }

    /// Records a finished request.
    async fn finish(
        &mut self,
        flight: &Flight,
        ex: &Exchange,
        job: &StageJob,
        output: &mut StageOutput,
    ) {
        let service_us = micros(ex.total);
        let send_lag = flight.actual.saturating_duration_since(flight.intended);
        if send_lag > LATE_START {
            output.metrics.late_start();
        }
        let send_lag_us = micros(send_lag);
        let latency_us = send_lag_us + service_us;
        let mut expected = match ex.result {
            Ok(status) => self
                .scenario
                .expected
                .get(usize::from(status))
                .copied()
                .unwrap_or(false),
            Err(_) => false,
        };
        let mut plugin_us = flight.plugin_us;
        if let (true, Ok(status)) = (self.scenario.judges, ex.result) {
            let started = std::time::Instant::now();
            let verdict = self
                .instance
                .judge(ResponseSummary {
                    status,
                    latency_us,
                    body_bytes: ex.body_bytes,
                    events: ex.events,
                })
                .await;
            plugin_us += started.elapsed().as_micros() as u64;
            match verdict {
                Ok(Verdict::Pass) => {}
                Ok(Verdict::Fail(_)) => expected = false,
                Err(e) => {
                    output.metrics.plugin_error();
                    note(&mut output.plugin_errors, e.to_string());
                }
            }
        }
        let sse = self.scenario.event_stream.then(|| SseSample {
            ttfb_us: ex.ttfb.map_or(service_us, micros),
            first_event_us: ex.first_event.map(micros),
            events: ex.events,
            duration_us: service_us,
            cut: ex.status.is_some() && ex.result.is_err(),
        });
        let finished = flight.actual + ex.total;
        let sample = Sample {
            result: ex.result,
            expected,
            latency_us,
            service_us,
            send_lag_us,
            plugin_us,
            sse,
            second: finished
                .saturating_duration_since(job.drill_started)
                .as_secs() as u32,
        };
        output.metrics.record(&sample);
        let error = matches!(ex.result, Err(_) | Ok(500..=599));
        self.live.record(latency_us, error);
    }
}

/// Fills request `ctx` from `template`: as HTTP/1.1 bytes, in a recycled
/// buffer, for the plain-TCP path (`origin`), else as a request.
fn fill(
    template: &mut RequestTemplate,
    origin: Option<&Arc<Origin>>,
    ctx: &FillContext<'_>,
    buffers: &mut Vec<Vec<u8>>,
) -> Result<Payload, TemplateError> {
    match origin {
        Some(origin) => {
            let mut bytes = buffers.pop().unwrap_or_default();
            template.fill_wire(ctx, &mut bytes)?;
            Ok(Payload::Wire {
                origin: Arc::clone(origin),
                bytes,
            })
        }
        None => Ok(Payload::Request(Box::new(template.fill(ctx)?))),
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn note(messages: &mut Vec<String>, message: String) {
    if messages.len() < MAX_ERROR_MESSAGES && !messages.contains(&message) {
        messages.push(message);
    }
}

/// A request that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ticket {
    /// Sequence number within the stage.
    sequence: u64,
    /// The closed-model user sending it (0 in the open model).
    user: u32,
    open: bool,
}

/// The worker's due requests: its share of the arrival schedule, or its
/// users' next starts.
enum Due {
    Open {
        schedule: RateSchedule,
        next: u64,
        step: u64,
        /// When arrival `next` is due (`None`: past the schedule's last).
        at: Option<Instant>,
    },
    Closed {
        users: UserRamp,
        think_time: Duration,
        remaining: Option<Arc<AtomicU64>>,
        starts: BinaryHeap<Reverse<(Instant, u32)>>,
        sent: u64,
        id: u32,
        workers: u32,
    },
}

impl Due {
    fn new(id: u32, job: &StageJob) -> Self {
        match &job.shape {
            Shape::Open(schedule) => Due::Open {
                schedule: *schedule,
                next: u64::from(id),
                step: u64::from(job.workers),
                at: schedule.time_of(u64::from(id)).map(|t| job.started + t),
            },
            Shape::Closed {
                users,
                think_time,
                remaining,
            } => {
                let starts = (id..users.peak())
                    .step_by(job.workers as usize)
                    .filter_map(|user| Some(Reverse((job.started + users.start_of(user)?, user))))
                    .collect();
                Due::Closed {
                    users: *users,
                    think_time: *think_time,
                    remaining: remaining.clone(),
                    starts,
                    sent: 0,
                    id,
                    workers: job.workers,
                }
            }
        }
    }

    fn is_open(&self) -> bool {
        matches!(self, Due::Open { .. })
    }

    /// When the next request is due, if one is due before the stage ends.
    fn peek(&self, job: &StageJob) -> Option<Instant> {
        let at = match self {
            Due::Open { at, .. } => (*at)?,
            Due::Closed { starts, .. } => starts.peek()?.0.0,
        };
        (at < job.ends).then_some(at)
    }

    /// Takes the next due request.
    fn pop(&mut self, job: &StageJob) -> Option<(Instant, Ticket)> {
        match self {
            Due::Open {
                schedule,
                next,
                step,
                at,
            } => {
                let due = (*at)?;
                let ticket = Ticket {
                    sequence: *next,
                    user: 0,
                    open: true,
                };
                *next += *step;
                *at = schedule.time_of(*next).map(|t| job.started + t);
                Some((due, ticket))
            }
            Due::Closed {
                users,
                remaining,
                starts,
                sent,
                id,
                workers,
                ..
            } => {
                let Reverse((at, user)) = starts.pop()?;
                if at >= job.ends
                    || !users.is_active(user, at.saturating_duration_since(job.started))
                {
                    return None;
                }
                if let Some(remaining) = remaining {
                    let took = remaining
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
                    if took.is_err() {
                        starts.clear();
                        return None;
                    }
                }
                let ticket = Ticket {
                    sequence: *sent * u64::from(*workers) + u64::from(*id),
                    user,
                    open: false,
                };
                *sent += 1;
                Some((at, ticket))
            }
        }
    }

    /// A user's request ended at `ended`: schedule its next one.
    fn finished(&mut self, user: u32, job: &StageJob, ended: Instant) {
        if let Due::Closed {
            think_time, starts, ..
        } = self
        {
            let next = ended + *think_time;
            if next < job.ends {
                starts.push(Reverse((next, user)));
            }
        }
    }
}
