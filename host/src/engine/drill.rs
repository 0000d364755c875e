//! Runs a drill: scenarios one after another, each stage by all workers,
//! recorders merged at the end of every stage.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::credentials::Credentials;
use super::live::{LiveStats, in_flight};
use super::rotation::Picker;
use super::schedule::{RateSchedule, UserRamp};
use super::template::{RequestTemplate, TemplateError};
use super::worker::{ScenarioContext, Shape, StageJob, Worker};
use crate::http::{Client, ClientConfig, ClientTls, HttpError};
use crate::metrics::StageMetrics;
use crate::plugin::{self, PluginError, RotationPlugin, ScenarioPlugin, Secrets};
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
    /// Requests one worker may have in flight.
    pub max_in_flight: usize,
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
}

/// One scenario of a drill: its plugin and the stages to run.
pub struct ScenarioSpec {
    /// The loaded plugin.
    pub plugin: ScenarioPlugin,
    /// The stages, already scaled.
    pub stages: Vec<Stage>,
}

/// What happened to one scenario.
pub struct ScenarioResult {
    /// The plugin that drove it.
    pub plugin: ScenarioPlugin,
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
            runs: Vec::new(),
            skipped: None,
            plugin_errors: Vec::new(),
            abandoned: 0,
            credential_uses: Vec::new(),
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
        } else {
            run_scenario(
                plan,
                spec,
                &tls,
                drill_started,
                stop.clone(),
                progress,
                &mut result,
            )
            .await?;
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
    });
    let mut workers = Vec::with_capacity(plan.workers as usize);
    let mut live = Vec::with_capacity(plan.workers as usize);
    for id in 0..plan.workers {
        let stats = Arc::new(LiveStats::default());
        live.push(Arc::clone(&stats));
        let picker = match &plan.rotation {
            Some(rotation) if descriptor.needs_credential => Some(Picker::new(
                rotation.instantiate(id).await?,
                plan.credentials.len(),
            )),
            _ => None,
        };
        workers.push(Worker::new(
            id,
            Client::with_tls(&plan.client, tls),
            spec.plugin.instantiate(id).await?,
            picker,
            Arc::clone(&context),
            stats,
        ));
    }
    let mut leader = spec.plugin.instantiate(plan.workers).await?;
    let mut previous_level = 0.0;
    let mut sequence_base = 0;
    for stage in &spec.stages {
        if *stop.borrow() {
            break;
        }
        let request_plan = leader.plan(&wit_stage(stage)).await?;
        let started = Instant::now();
        let job = Arc::new(StageJob {
            name: stage.name.clone(),
            shape: shape(stage, previous_level),
            plan: request_plan,
            started,
            ends: started + stage.duration,
            drill_started,
            sequence_base,
            workers: plan.workers,
            max_in_flight: plan.max_in_flight,
        });
        progress.stage_started(&descriptor.name, stage, &live);
        let peak = PeakSampler::start(live.clone());
        let handles: Vec<_> = workers
            .drain(..)
            .map(|mut worker| {
                let job = Arc::clone(&job);
                let stop = stop.clone();
                let grace = plan.grace;
                tokio::spawn(async move {
                    let output = worker.run_stage(&job, stop, grace).await;
                    (worker, output)
                })
            })
            .collect();
        let mut metrics = StageMetrics::new();
        let mut next_sequence = sequence_base;
        for handle in handles {
            let (worker, output) = handle.await.expect("a worker task never panics");
            metrics.merge(&output.metrics);
            next_sequence = next_sequence.max(output.next_sequence);
            result.abandoned += output.abandoned;
            for message in output.plugin_errors {
                if !result.plugin_errors.contains(&message) {
                    result.plugin_errors.push(message);
                }
            }
            workers.push(worker);
        }
        let elapsed = started.elapsed();
        let peak_concurrency = peak.finish().await;
        progress.stage_finished(&descriptor.name, stage, &metrics, elapsed);
        // The next stage's sequence numbers follow this one's, so credentials
        // and payload ids never repeat within a scenario.
        sequence_base = next_sequence;
        previous_level = stage.load.level();
        result.runs.push(StageRun {
            stage: stage.clone(),
            metrics,
            elapsed,
            peak_concurrency,
        });
    }
    if descriptor.needs_credential {
        result.credential_uses = vec![0; plan.credentials.len()];
        for worker in &workers {
            for (total, uses) in result
                .credential_uses
                .iter_mut()
                .zip(worker.credential_uses())
            {
                *total += uses;
            }
        }
    }
    Ok(())
}

/// How often the requests in flight are sampled for a stage's peak.
const PEAK_SAMPLE: Duration = Duration::from_millis(20);

/// Samples the requests in flight over all workers while a stage runs.
struct PeakSampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<u64>,
}

impl PeakSampler {
    fn start(live: Vec<Arc<LiveStats>>) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut peak = 0;
            let mut tick = tokio::time::interval(PEAK_SAMPLE);
            loop {
                peak = peak.max(in_flight(&live));
                tokio::select! {
                    _ = &mut stopped => return peak,
                    _ = tick.tick() => {}
                }
            }
        });
        PeakSampler { stop, task }
    }

    /// The highest number of requests in flight seen during the stage.
    async fn finish(self) -> u64 {
        let _ = self.stop.send(());
        self.task.await.unwrap_or(0)
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
            remaining: stage.max_requests.map(|n| Arc::new(AtomicU64::new(n))),
        },
    }
}

/// A stage as the WIT contract describes it.
pub(crate) fn wit_stage(stage: &Stage) -> plugin::Stage {
    plugin::Stage {
        name: stage.name.clone(),
        load: match stage.load {
            Load::Rate(rate) => plugin::Load::Rate(rate),
            Load::Concurrency(users) => plugin::Load::Concurrency(users),
        },
        duration_ms: stage.duration.as_millis() as u64,
        ramp_ms: stage.ramp.as_millis() as u64,
        max_requests: stage.max_requests,
    }
}

/// A stage from a plugin's default stages.
pub(crate) fn policy_stage(stage: &plugin::Stage) -> Stage {
    Stage {
        name: stage.name.clone(),
        load: match stage.load {
            plugin::Load::Rate(rate) => Load::Rate(rate),
            plugin::Load::Concurrency(users) => Load::Concurrency(users),
        },
        duration: Duration::from_millis(stage.duration_ms),
        ramp: Duration::from_millis(stage.ramp_ms),
        max_requests: stage.max_requests,
        think_time: Duration::ZERO,
    }
}
