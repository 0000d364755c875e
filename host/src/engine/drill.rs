//! Runs a drill: scenarios one after another, each by all its workers
//! through all its stages, the workers' recorders of a stage merged as
//! they hand them over.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};

use super::credentials::Credentials;
use super::job::ScenarioJob;
use super::live::{LiveStats, in_flight};
use super::payloads::PayloadFeed;
use super::rotation::Picker;
use super::segment::Segment;
use super::template::{RequestLimits, RequestTemplate, TemplateError};
use super::worker::{ScenarioContext, StageOutput, Worker};
use crate::http::{Client, ClientConfig, ClientTls, HttpError};
use crate::metrics::StageMetrics;
use crate::plugin::{
    self, PayloadBuilderPlugin, PluginError, RotationPlugin, ScenarioPlugin, Secrets, wit,
};
use crate::policy::{Load, Stage};
use crate::report::StageRun;

/// Why a drill could not run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A plugin failed while the drill was being prepared.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A plugin's request template is unusable.
    #[error("plugin {plugin}: stage {stage:?}: {source}")]
    Template {
        /// The plugin's name.
        plugin: String,
        /// The stage whose plan failed.
        stage: String,
        /// What is wrong.
        source: TemplateError,
    },
    /// The HTTP client could not be built (e.g. an unreadable CA file).
    #[error(transparent)]
    Http(#[from] HttpError),
}

/// Everything a drill needs.
pub struct DrillPlan {
    /// The target, e.g. `http://127.0.0.1:8080`.
    pub base_url: http::Uri,
    /// The scenarios, in run order.
    pub scenarios: Vec<ScenarioSpec>,
    /// Client settings (timeouts, HTTP/2, CA).
    pub client: ClientConfig,
    /// Workers per scenario (each with its own pool and plugin instance).
    pub workers: u32,
    /// The part of the drill this process runs ([`Segment::WHOLE`]: all of it).
    pub segment: Segment,
    /// Requests one worker may have in flight.
    pub max_in_flight: usize,
    /// Open each worker's connections before the scenario's load starts.
    pub preconnect: bool,
    /// How long an interrupted stage waits for requests in flight.
    pub grace: Duration,
    /// Seed of every random sequence of the run.
    pub seed: u64,
    /// Secrets the run may grant to plugins.
    pub secrets: Arc<Secrets>,
    /// Credentials for scenarios that need them.
    pub credentials: Arc<Credentials>,
    /// Picks each request's credential; required when `credentials` is not empty.
    pub rotation: Option<RotationPlugin>,
    /// What a request may be, whatever its plugin asks.
    pub request_limits: RequestLimits,
}

/// One scenario of a drill: its plugin and the stages to run.
pub struct ScenarioSpec {
    /// The loaded plugin.
    pub plugin: ScenarioPlugin,
    /// The stages, already scaled.
    pub stages: Vec<Stage>,
    /// The payload builder that gives its requests their bodies, if any.
    pub payload: Option<PayloadBuilderPlugin>,
}

/// What happened to one scenario.
pub struct ScenarioResult {
    /// The plugin that drove it.
    pub plugin: ScenarioPlugin,
    /// The payload builder that gave its bodies, if any.
    pub payload: Option<PayloadBuilderPlugin>,
    /// Per stage, in run order (stages not started are absent).
    pub runs: Vec<StageRun>,
    /// Why the scenario did not run, when it did not.
    pub skipped: Option<String>,
    /// Distinct plugin error messages seen at run time.
    pub plugin_errors: Vec<String>,
    /// Requests abandoned in flight at an interrupt.
    pub abandoned: u64,
    /// Requests per credential-pool index (empty when the scenario used none).
    pub credential_uses: Vec<u64>,
    /// What went wrong with the run itself (a plugin that failed as the
    /// scenario started, a worker that failed): its figures are incomplete.
    pub errors: Vec<String>,
}

/// Receives the drill's progress.
pub trait Progress: Send + Sync {
    /// A stage starts; `live` are its workers' counters.
    fn stage_started(&self, scenario: &str, stage: &Stage, live: &[Arc<LiveStats>]);
    /// A stage ended.
    fn stage_finished(
        &self,
        scenario: &str,
        stage: &Stage,
        metrics: &StageMetrics,
        elapsed: Duration,
    );
    /// Something the operator should know: a warning, a phase beginning.
    fn note(&self, _text: &str) {}
}

/// Progress nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage_started(&self, _: &str, _: &Stage, _: &[Arc<LiveStats>]) {}

    fn stage_finished(&self, _: &str, _: &Stage, _: &StageMetrics, _: Duration) {}
}

/// Checks every scenario's plans before any request is sent: a plugin
/// whose templates do not compile fails here, not mid-drill.
pub async fn prepare(plan: &DrillPlan) -> Result<(), EngineError> {
    for spec in &plan.scenarios {
        let mut instance = spec.plugin.instantiate(0).await?;
        for stage in &spec.stages {
            if let plugin::RequestPlan::Template(template) =
                instance.plan(&wit_stage(stage)).await?
            {
                RequestTemplate::compile(
                    &template,
                    &plan.base_url,
                    &spec.plugin.descriptor().secrets,
                    &plan.secrets,
                    plan.seed,
                    plan.request_limits,
                )
                .map_err(|source| EngineError::Template {
                    plugin: spec.plugin.descriptor().name.clone(),
                    stage: stage.name.clone(),
                    source,
                })?;
            }
        }
    }
    Ok(())
}

/// Runs every scenario. When `stop` turns true, the running stage stops
/// scheduling, waits up to the grace period, and the drill ends.
pub async fn run(
    plan: &DrillPlan,
    stop: watch::Receiver<bool>,
    progress: &dyn Progress,
) -> Result<Vec<ScenarioResult>, EngineError> {
    let drill_started = Instant::now();
    let tls = ClientTls::new(&plan.client)?;
    let mut results = Vec::new();
    for spec in &plan.scenarios {
        let mut result = ScenarioResult {
            plugin: spec.plugin.clone(),
            payload: spec.payload.clone(),
            runs: Vec::new(),
            skipped: None,
            plugin_errors: Vec::new(),
            abandoned: 0,
            credential_uses: Vec::new(),
            errors: Vec::new(),
        };
        let descriptor = spec.plugin.descriptor();
        if *stop.borrow() {
            result.skipped = Some("interrupted before it started".into());
        } else if descriptor.needs_credential
            && (plan.credentials.is_empty() || plan.rotation.is_none())
        {
            result.skipped = Some(
                "needs a credential: set RELIABILITY_AUTH_TOKEN and RELIABILITY_THREAD_ID, \
                 or drill the built-in target"
                    .into(),
            );
        } else if let Err(error) = run_scenario(
            plan,
            spec,
            &tls,
            drill_started,
            stop.clone(),
            progress,
            &mut result,
        )
        .await
        {
            // A plugin that fails as the scenario starts costs this
            // scenario, not the drill's report.
            result.errors.push(error.to_string());
        }
        results.push(result);
    }
    Ok(results)
}

async fn run_scenario(
    plan: &DrillPlan,
    spec: &ScenarioSpec,
    tls: &ClientTls,
    drill_started: Instant,
    stop: watch::Receiver<bool>,
    progress: &dyn Progress,
    result: &mut ScenarioResult,
) -> Result<(), EngineError> {
    let descriptor = spec.plugin.descriptor();
    let mut expected = Box::new([false; 600]);
    for status in &descriptor.expected_statuses {
        expected[usize::from(*status)] = true;
    }
    let context = Arc::new(ScenarioContext {
        name: descriptor.name.clone(),
        event_stream: descriptor.event_stream,
        judges: descriptor.judges_responses,
        expected,
        declared_secrets: descriptor.secrets.clone(),
        secrets: Arc::clone(&plan.secrets),
        credentials: Arc::clone(&plan.credentials),
        base_url: plan.base_url.clone(),
        seed: plan.seed,
        request_limits: plan.request_limits,
        payloads: spec.payload.as_ref().map(|builder| {
            Arc::new(PayloadFeed::new(
                builder.clone(),
                &descriptor.name,
                plan.seed,
                plan.request_limits,
            ))
        }),
    });
    let mut workers = Vec::with_capacity(plan.workers as usize);
    let mut live = Vec::with_capacity(plan.workers as usize);
    for local in 0..plan.workers {
        // Worker ids are global over the segments: instances, seeds and
        // shares of the schedule differ from every other segment's.
        let id = plan.segment.global_worker(local);
        let stats = Arc::new(LiveStats::default());
        live.push(Arc::clone(&stats));
        let picker = match &plan.rotation {
            Some(rotation) if descriptor.needs_credential => Some(Picker::new(
                rotation.instantiate(id).await?,
                plan.credentials.len(),
            )),
            _ => None,
        };
        let builder = match &spec.payload {
            Some(builder) => Some(builder.instantiate(id).await?),
            None => None,
        };
        workers.push(Worker::new(
            id,
            Client::with_tls(
                &plan
                    .client
                    .worker_share(id, plan.segment.all_workers(plan.workers)),
                tls,
            ),
            (spec.plugin.instantiate(id).await?, builder),
            picker,
            Arc::clone(&context),
            stats,
        ));
    }
    // Every stage's plan is asked for before the first request: stages
    // follow each other without a pause.
    let mut leader = spec
        .plugin
        .instantiate(plan.segment.all_workers(plan.workers))
        .await?;
    let mut plans = Vec::with_capacity(spec.stages.len());
    for stage in &spec.stages {
        plans.push(leader.plan(&wit_stage(stage)).await?);
    }
    if plan.preconnect {
        // The schedule starts once the connections are open (or Ctrl-C).
        let opens = workers
            .iter_mut()
            .map(|worker| worker.preconnect(&plan.base_url, plan.max_in_flight));
        let mut stopped = stop.clone();
        tokio::select! {
            _ = future::join_all(opens) => {}
            _ = stopped.wait_for(|stop| *stop) => {}
        }
    }
    if *stop.borrow() {
        result.skipped = Some("interrupted before it started".into());
        return Ok(());
    }
    let job = Arc::new(ScenarioJob::new(
        &spec.stages,
        plans,
        (Instant::now(), drill_started),
        (plan.workers, plan.segment),
        plan.max_in_flight,
    ));
    let (outputs, mut handed_over) = mpsc::unbounded_channel();
    let handles: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            let job = Arc::clone(&job);
            let stop = stop.clone();
            let grace = plan.grace;
            let outputs = outputs.clone();
            tokio::spawn(async move {
                worker.run(&job, stop, grace, &outputs).await;
                worker.credential_uses().to_vec()
            })
        })
        .collect();
    drop(outputs);

    // Follow the stages as they begin, sample the requests in flight, and
    // merge each stage's outputs as the workers hand them over.
    let mut timeline = Timeline::new(&job, spec, plan.workers, progress);
    let mut sample = tokio::time::interval(PEAK_SAMPLE);
    loop {
        let next_start = timeline.next_start();
        tokio::select! {
            // A stage's start before its outputs: its window ends at the next start.
            biased;
            () = sleep_until(next_start.unwrap_or(job.drill_started)), if next_start.is_some() => {
                timeline.begin(&live, *stop.borrow());
            }
            _ = sample.tick() => timeline.sample(in_flight(&live)),
            output = handed_over.recv() => match output {
                Some(output) => timeline.receive(output, result),
                None => break,
            },
        }
    }
    for (id, handle) in handles.into_iter().enumerate() {
        match handle.await {
            Ok(uses) if descriptor.needs_credential => {
                if result.credential_uses.is_empty() {
                    result.credential_uses = vec![0; plan.credentials.len()];
                }
                for (total, uses) in result.credential_uses.iter_mut().zip(uses) {
                    *total += uses;
                }
            }
            Ok(_) => {}
            Err(error) => result.errors.push(format!(
                "worker {} failed ({}): its requests are not counted",
                plan.segment.global_worker(id as u32),
                panic_message(error)
            )),
        }
    }
    // Stages a failed worker could not hand over end with what arrived.
    let failed = !result.errors.is_empty();
    result.runs = timeline.finish(failed);
    Ok(())
}

/// What a failed worker task said.
fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "it panicked".to_string()),
        Err(error) => error.to_string(),
    }
}

/// How often the requests in flight are sampled for a stage's peak.
const PEAK_SAMPLE: Duration = Duration::from_millis(20);

/// A scenario's stages as the drill follows them: announced as they
/// begin, ended once every worker handed its share over.
struct Timeline<'a> {
    spec: &'a ScenarioSpec,
    progress: &'a dyn Progress,
    /// When each stage begins.
    starts: Vec<Instant>,
    workers: u32,
    /// Stages whose start time came.
    begun: usize,
    /// Stages announced (begun while the drill was not stopping).
    announced: usize,
    stages: Vec<Collected>,
}

/// One stage's outputs, merged as they arrive.
#[derive(Default)]
struct Collected {
    metrics: StageMetrics,
    outputs: u32,
    /// The most requests in flight while the stage was in force.
    peak: u64,
    /// The stage's run, once it ended.
    run: Option<StageRun>,
}

impl<'a> Timeline<'a> {
    fn new(
        job: &ScenarioJob,
        spec: &'a ScenarioSpec,
        workers: u32,
        progress: &'a dyn Progress,
    ) -> Self {
        Timeline {
            spec,
            progress,
            starts: job.stages.iter().map(|stage| stage.started).collect(),
            workers,
            begun: 0,
            announced: 0,
            stages: job.stages.iter().map(|_| Collected::default()).collect(),
        }
    }

    fn scenario(&self) -> &str {
        &self.spec.plugin.descriptor().name
    }

    /// When the next stage begins, if one is left.
    fn next_start(&self) -> Option<Instant> {
        self.starts.get(self.begun).copied()
    }

    /// The next stage's time has come; it is announced unless the drill
    /// is stopping (its workers will not enter it).
    fn begin(&mut self, live: &[Arc<LiveStats>], stopping: bool) {
        if !stopping {
            let stage = &self.spec.stages[self.begun];
            self.progress.stage_started(self.scenario(), stage, live);
            self.announced += 1;
        }
        self.begun += 1;
    }

    /// Attributes a sample of the requests in flight to the stage in force.
    fn sample(&mut self, in_flight: u64) {
        if let Some(stage) = self.begun.checked_sub(1).map(|i| &mut self.stages[i]) {
            stage.peak = stage.peak.max(in_flight);
        }
    }

    /// Merges a worker's output; the stage ends with its last one.
    fn receive(&mut self, output: StageOutput, result: &mut ScenarioResult) {
        let stage = &mut self.stages[output.stage];
        stage.metrics.merge(&output.metrics);
        stage.outputs += 1;
        result.abandoned += output.abandoned;
        for message in output.plugin_errors {
            if !result.plugin_errors.contains(&message) {
                result.plugin_errors.push(message);
            }
        }
        if stage.outputs == self.workers {
            self.end(output.stage);
        }
    }

    /// Ends stage `index`. Its window runs from its start to the next
    /// stage's start, or for the stage the scenario ended in, until its
    /// requests drained, so the windows add up to the scenario's run.
    fn end(&mut self, index: usize) {
        if self.stages[index].run.is_some() {
            return;
        }
        let ends = match self.starts.get(index + 1) {
            Some(next) if index + 1 < self.announced => *next,
            _ => Instant::now(),
        };
        let elapsed = ends.saturating_duration_since(self.starts[index]);
        let metrics = std::mem::take(&mut self.stages[index].metrics);
        let plan = &self.spec.stages[index];
        self.progress
            .stage_finished(self.scenario(), plan, &metrics, elapsed);
        let stage = &mut self.stages[index];
        stage.run = Some(StageRun {
            stage: plan.clone(),
            metrics,
            elapsed,
            peak_concurrency: stage.peak,
        });
    }

    /// Ends every stage not ended yet that has outputs, or that began and
    /// lost them to a failed worker (`failed`); the runs, in stage order.
    fn finish(mut self, failed: bool) -> Vec<StageRun> {
        for index in 0..self.stages.len() {
            let began = index < self.announced;
            if self.stages[index].outputs > 0 || (failed && began) {
                self.end(index);
            }
        }
        self.stages.into_iter().filter_map(|s| s.run).collect()
    }
}

/// A stage as the WIT contract describes it.
pub(crate) fn wit_stage(stage: &Stage) -> wit::Stage {
    wit::Stage {
        name: stage.name.clone(),
        load: match stage.load {
            Load::Rate(rate) => wit::Load::Rate(rate),
            Load::Concurrency(users) => wit::Load::Concurrency(users),
        },
        duration_ms: stage.duration.as_millis() as u64,
        ramp_ms: stage.ramp.as_millis() as u64,
        max_requests: stage.max_requests,
    }
}

/// A stage from a plugin's default stages.
pub(crate) fn policy_stage(stage: &wit::Stage) -> Stage {
    Stage {
        name: stage.name.clone(),
        load: match stage.load {
            wit::Load::Rate(rate) => Load::Rate(rate),
            wit::Load::Concurrency(users) => Load::Concurrency(users),
        },
        duration: Duration::from_millis(stage.duration_ms),
        ramp: Duration::from_millis(stage.ramp_ms),
        max_requests: stage.max_requests,
        think_time: Duration::ZERO,
    }
}
