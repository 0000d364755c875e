//! One worker: owns its connection pool, its plugin instance and its
//! recorders, and sends the share of a scenario's requests that falls to it
//! (see [`Due`]), stage after stage without draining in between. Building
//! and recording happen in the worker's own loop; only the network
//! exchange is in flight, so nothing is shared between workers but the
//! scenario's request sequence and its stages' request caps.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};

use super::credentials::Credentials;
use super::due::{Due, Ticket};
use super::job::ScenarioJob;
use super::live::LiveStats;
use super::pacer::{DENSE, Pacer};
use super::payloads::{PayloadFeed, Taken};
use super::rotation::Picker;
use super::template::{FillContext, RequestLimits, RequestTemplate, TemplateError};
use crate::http::{Client, Connections, Exchange, Origin, OutgoingRequest, Receive};
use crate::metrics::{Sample, SseSample, StageMetrics};
use crate::plugin::{
    self, CallContext, PayloadInstance, ResponseSummary, ScenarioInstance, Secrets, wit,
};

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
    pub(crate) request_limits: RequestLimits,
    /// Bodies from a payload builder, when the scenario has one.
    pub(crate) payloads: Option<Arc<PayloadFeed>>,
}

/// What a worker hands over for one stage, once it has moved past the
/// stage and the stage's last request ended.
pub(crate) struct StageOutput {
    /// The stage's index.
    pub(crate) stage: usize,
    pub(crate) metrics: StageMetrics,
    /// Distinct plugin error messages (at most a few).
    pub(crate) plugin_errors: Vec<String>,
    /// Requests still in flight when an interrupt's grace period ended.
    pub(crate) abandoned: u64,
}

impl StageOutput {
    fn new(stage: usize) -> Self {
        StageOutput {
            stage,
            metrics: StageMetrics::new(),
            plugin_errors: Vec::new(),
            abandoned: 0,
        }
    }
}

/// A stage the worker has entered.
struct StageState {
    output: StageOutput,
    /// The stage's template, compiled for this worker (`None`: per-request).
    template: Option<Result<RequestTemplate, String>>,
    /// Requests of the stage in flight.
    in_flight: usize,
    /// The worker sends no more requests of the stage.
    left: bool,
    /// The output was handed over.
    handed_over: bool,
}

/// A request in flight and what is known about it.
struct Flight {
    /// When it was due (the closed model has no intended times: a user
    /// sends when its previous request ended, so it is `actual`).
    intended: Instant,
    /// When the exchange started: the flight's first poll.
    actual: Instant,
    plugin_us: u64,
    ticket: Ticket,
    receive: Receive,
}

/// A request ready to send.
enum Payload {
    /// Built as a request, for the client to write (boxed: the wire form
    /// is the common one, and a flight's size counts per stream).
    Request(Box<OutgoingRequest>),
    /// Already written as HTTP/1.1, for the HTTP/1.1 load path (plain or TLS).
    Wire { origin: Arc<Origin>, bytes: Vec<u8> },
}

/// Sends one request due at `intended` (`None`: the closed model); gives
/// back the wire buffer for reuse.
async fn send_one(
    client: Client,
    payload: Payload,
    sse: bool,
    receive: Receive,
    intended: Option<Instant>,
    plugin_us: u64,
    ticket: Ticket,
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
        ticket,
        receive,
    };
    (flight, exchange, buffer)
}

/// How long a closed-model user waits before it tries again after its
/// request could not be built.
const BUILD_RETRY: Duration = Duration::from_millis(10);

/// Distinct plugin error messages kept per worker and stage.
const MAX_ERROR_MESSAGES: usize = 5;

/// One worker of one scenario.
pub(crate) struct Worker {
    id: u32,
    client: Client,
    instance: ScenarioInstance,
    /// The worker's instance of the scenario's payload builder, if any.
    builder: Option<PayloadInstance>,
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
    /// Connections opened before the first stage, counted in it.
    preconnected: Connections,
}

impl Worker {
    pub(crate) fn new(
        id: u32,
        client: Client,
        (instance, builder): (ScenarioInstance, Option<PayloadInstance>),
        picker: Option<Picker>,
        scenario: Arc<ScenarioContext>,
        live: Arc<LiveStats>,
    ) -> Self {
        Worker {
            id,
            client,
            instance,
            builder,
            picker,
            scenario,
            live,
            pacer: Pacer::new(),
            ticked_reads: 0,
            buffers: Vec::new(),
            preconnected: Connections::default(),
        }
    }

    /// Opens up to `count` connections to `base` before the load starts
    /// (see [`Client::preconnect`]); the first stage counts them.
    pub(crate) async fn preconnect(&mut self, base: &http::Uri, count: usize) {
        let opened = self.client.preconnect(base, count).await;
        self.preconnected.merge(&opened);
    }

    /// Requests per credential-pool index so far (empty without a pool).
    pub(crate) fn credential_uses(&self) -> &[u64] {
        self.picker.as_ref().map_or(&[], Picker::uses)
    }

    /// Runs this worker's share of a scenario, stage after stage, and
    /// hands each stage's output to `outputs` once the worker has moved
    /// past it and its last request ended. When `stop` turns true the
    /// worker stops scheduling and waits up to `grace` for what is in flight.
    pub(crate) async fn run(
        &mut self,
        job: &ScenarioJob,
        mut stop: watch::Receiver<bool>,
        grace: Duration,
        outputs: &mpsc::UnboundedSender<StageOutput>,
    ) {
        // Templates for the HTTP/1.1 path (plain or TLS) are written as wire bytes.
        let origin = self
            .client
            .http1_origin(&self.scenario.base_url)
            .map(Arc::new);
        let mut stages: Vec<StageState> = Vec::with_capacity(job.stages.len());
        let mut due = Due::new(self.id, job);
        stages.push(self.enter(job, 0));
        let preconnected = std::mem::take(&mut self.preconnected);
        stages[0].output.metrics.opened(&preconnected);
        let mut in_flight = FuturesUnordered::new();
        let mut stopping: Option<Instant> = None;
        // The pacer ticked: responses read at ticks are read once the
        // tick's sends are out.
        let mut ticked = false;
        loop {
            if stopping.is_none() && *stop.borrow() {
                stopping = Some(Instant::now() + grace);
            }
            let mut next = None;
            let mut switch = None;
            if stopping.is_none() {
                next = due.peek(job);
                if next.is_none() {
                    switch = due.next_stage(job);
                    if switch.is_some_and(|at| at <= Instant::now()) {
                        leave(&mut stages[due.stage()], outputs);
                        due.advance(job);
                        stages.push(self.enter(job, due.stage()));
                        continue;
                    }
                }
            }
            if next.is_none() && switch.is_none() && in_flight.is_empty() {
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
                    self.finish_request(done, job, &mut stages, &mut due, outputs)
                        .await;
                }
            } else {
                if std::mem::take(&mut ticked) {
                    self.client.tick();
                }
                // Responses read at ticks need the pacer to tick.
                let reads_wait = self.ticked_reads > 0;
                // Wake for the next send when one may go out, else for the next stage.
                let wake = next.filter(|_| can_send).or(switch);
                tokio::select! {
                    biased;
                    Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                        self.live.set_in_flight(in_flight.len());
                        self.finish_request(done, job, &mut stages, &mut due, outputs).await;
                        continue;
                    }
                    () = async {
                        match wake.filter(|_| !reads_wait) {
                            Some(at) => self.pacer.wait_until(at).await,
                            None => self.pacer.next_tick().await,
                        }
                    }, if wake.is_some() || reads_wait => {
                        ticked = true;
                        if !(can_send && next.is_some_and(|at| at <= self.pacer.horizon())) {
                            continue;
                        }
                    }
                    _ = stop.changed(), if stopping.is_none() => continue,
                    // (Disabled but still built while not stopping: no clock read for it.)
                    _ = sleep_until(stopping.unwrap_or(job.drill_started)), if stopping.is_some() => {
                        break;
                    }
                }
            }
            let Some((intended, ticket)) = due.pop(job) else {
                continue;
            };
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
            let stage = &mut stages[ticket.stage];
            match self
                .build(stage.template.as_mut(), origin.as_ref(), job, ticket)
                .await
            {
                Ok((payload, plugin_us)) => {
                    self.ticked_reads += usize::from(receive == Receive::AtTicks);
                    stage.in_flight += 1;
                    in_flight.push(send_one(
                        self.client.clone(),
                        payload,
                        self.scenario.event_stream,
                        receive,
                        ticket.user.is_none().then_some(intended),
                        plugin_us,
                        ticket,
                    ));
                    self.live.set_in_flight(in_flight.len());
                }
                Err(message) => {
                    stage.output.metrics.plugin_error();
                    self.live.plugin_error();
                    keep_error(&mut stage.output.plugin_errors, message);
                    // The user tries again after a pause: a plugin that
                    // fails at once must not spin the worker.
                    if let Some(user) = ticket.user {
                        due.finished(user, job, Instant::now() + BUILD_RETRY);
                    }
                }
            }
        }
        self.pacer.rest();
        // Flights abandoned at an interrupt are gone.
        self.ticked_reads = 0;
        self.live.set_in_flight(0);
        for stage in &mut stages {
            stage.output.abandoned = stage.in_flight as u64;
            stage.in_flight = 0;
            leave(stage, outputs);
        }
    }

    /// Enters stage `index`: compiles its template for this worker.
    fn enter(&self, job: &ScenarioJob, index: usize) -> StageState {
        let seed = crate::rng::SplitMix64::derive(
            self.scenario.seed,
            u64::from(self.id) | (index as u64) << 32,
        );
        let template = match &job.stages[index].plan {
            plugin::RequestPlan::Template(t) => Some(self.compile(t, seed)),
            plugin::RequestPlan::PerRequest => None,
        };
        StageState {
            output: StageOutput::new(index),
            template,
            in_flight: 0,
            left: false,
            handed_over: false,
        }
    }

    /// Records a finished request, lets its user send again, and hands its
    /// stage over when that was the stage's last request.
    async fn finish_request(
        &mut self,
        (flight, exchange, buffer): (Flight, Exchange, Option<Vec<u8>>),
        job: &ScenarioJob,
        stages: &mut [StageState],
        due: &mut Due,
        outputs: &mpsc::UnboundedSender<StageOutput>,
    ) {
        self.buffers.extend(buffer);
        self.ticked_reads -= usize::from(flight.receive == Receive::AtTicks);
        let stage = &mut stages[flight.ticket.stage];
        stage.in_flight -= 1;
        self.finish(&flight, &exchange, job, &mut stage.output)
            .await;
        if stage.left {
            leave(stage, outputs);
        }
        if let Some(user) = flight.ticket.user {
            due.finished(user, job, flight.actual + exchange.total);
        }
    }

    fn compile(&self, template: &plugin::Template, seed: u64) -> Result<RequestTemplate, String> {
        RequestTemplate::compile(
            template,
            &self.scenario.base_url,
            &self.scenario.declared_secrets,
            &self.scenario.secrets,
            seed,
            self.scenario.request_limits,
        )
        .map_err(|e| format!("plugin {}: template: {e}", self.scenario.name))
    }

    /// Builds the scenario's next request: fills the stage's template, or
    /// asks the plugin.
    async fn build(
        &mut self,
        template: Option<&mut Result<RequestTemplate, String>>,
        origin: Option<&Arc<Origin>>,
        job: &ScenarioJob,
        ticket: Ticket,
    ) -> Result<(Payload, u64), String> {
        let sequence = job.next_sequence();
        // Workers of scenarios that need a credential have a picker.
        let credential = match &mut self.picker {
            Some(picker) => {
                let index = picker.index(sequence).await.map_err(|e| e.to_string())?;
                self.scenario.credentials.get(index).map(|c| (index, c))
            }
            None => None,
        };
        // A payload builder's batch call counts against the request that
        // made it; without a builder the template path reads no clock.
        let (taken, build_us) = match (&self.scenario.payloads, self.builder.as_mut()) {
            (Some(feed), Some(builder)) => {
                let started = std::time::Instant::now();
                let stage = &job.stages[ticket.stage].name;
                let taken = feed.take(builder, ticket.stage, stage, sequence).await?;
                (Some(taken), started.elapsed().as_micros() as u64)
            }
            _ => (None, 0),
        };
        let ctx = FillContext {
            iteration: sequence,
            worker: self.id,
            credential: credential.map(|(_, c)| (c.token.as_str(), c.thread_id.as_str())),
            payload: taken.as_ref().map(Taken::payload).transpose()?,
        };
        if let Some(template) = template {
            let template = template.as_mut().map_err(|e| e.clone())?;
            return fill(template, origin, &ctx, &mut self.buffers)
                .map(|p| (p, build_us))
                .map_err(|e| format!("plugin {}: template: {e}", self.scenario.name));
        }
        let call = CallContext {
            scenario: self.scenario.name.clone(),
            stage: job.stages[ticket.stage].name.clone(),
            iteration: sequence,
            worker: self.id,
            credential: credential.map(|(index, c)| wit::Credential {
                index,
                thread_id: c.thread_id.clone(),
            }),
        };
        let started = std::time::Instant::now();
        let request = self.instance.build_request(&call).await;
        let plugin_us = build_us + started.elapsed().as_micros() as u64;
        let request = request.map_err(|e| e.to_string())?;
        let template = plugin::Template {
            request,
            signing: None,
        };
        let seed = crate::rng::SplitMix64::derive(self.scenario.seed, sequence);
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
        job: &ScenarioJob,
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
                Ok(wit::Verdict::Pass) => {}
                Ok(wit::Verdict::Fail(_)) => expected = false,
                Err(e) => {
                    output.metrics.plugin_error();
                    self.live.plugin_error();
                    keep_error(&mut output.plugin_errors, e.to_string());
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
        output.metrics.opened(&ex.connections);
        self.live.record(&sample);
        if let (Err(class), Some(reason)) = (ex.result, &ex.reason) {
            output.metrics.error_reason(class, reason);
        }
    }
}

/// Fills request `ctx` from `template`: as HTTP/1.1 bytes, in a recycled
/// buffer, for the HTTP/1.1 path (`origin`), else as a request.
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

/// Keeps a plugin error message, once, up to [`MAX_ERROR_MESSAGES`].
fn keep_error(messages: &mut Vec<String>, message: String) {
    if messages.len() < MAX_ERROR_MESSAGES && !messages.contains(&message) {
        messages.push(message);
    }
}

/// The worker sends no more requests of `stage`: hands its output over
/// once none is in flight.
fn leave(stage: &mut StageState, outputs: &mpsc::UnboundedSender<StageOutput>) {
    stage.left = true;
    if stage.in_flight == 0 && !stage.handed_over {
        stage.handed_over = true;
        let index = stage.output.stage;
        let output = std::mem::replace(&mut stage.output, StageOutput::new(index));
        // The receiver outlives the workers; nothing to do if it did not.
        let _ = outputs.send(output);
    }
}
