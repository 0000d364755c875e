//! A load drill as a library: [`DrillOptions`] say what to run, [`prepare`]
//! loads and checks everything and brings the target up, and
//! [`PreparedDrill::run`] drills, evaluates the SLO gates and writes the
//! report.
//!
//! The commands that drill (`drill`, `load`, `gate`, `milestone-gate`,
//! `canary`, `gameday`) build their options from flags and call this; so
//! can a test or another program:
//!
//! ```no_run
//! # async fn demo() -> Result<(), relhost::drill::DrillError> {
//! use relhost::drill::{self, DrillOptions, ProfileChoice, TargetChoice};
//! use relhost::engine::NoProgress;
//!
//! let mut options = DrillOptions::new(
//!     TargetChoice::Url("http://127.0.0.1:8080".parse().expect("a URL")),
//!     "reports".into(),
//! );
//! options.profile = ProfileChoice::Named("quick".into());
//! let (_stop, stop) = tokio::sync::watch::channel(false);
//! let prepared = drill::prepare(&options, &NoProgress, &stop).await?;
//! let outcome = prepared.run(stop, &NoProgress).await?;
//! println!("{:?} → {}", outcome.report.status, outcome.path.display());
//! prepared.shutdown().await;
//! # Ok(()) }
//! ```

pub mod auth_pool;
mod error;
mod payloads;
pub mod report;
pub mod scenarios;
pub mod target;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

pub use self::auth_pool::{CredentialSource, RotationChoice, RotationMode};
pub use self::error::DrillError;
pub use self::report::CoverageGoals;
pub use self::target::{Target, TargetChoice};

use self::payloads::PayloadBuilders;
use self::report::{RunInfo, drill_report, plugin_infos, run_record};
use self::scenarios::{Catalog, grant_secrets};
use crate::atomic_file::check_writable;
use crate::engine::{
    self, Credentials, DrillPlan, Progress, RequestLimits, ScenarioResult, Segment,
};
use crate::http::{Client, ClientConfig};
use crate::output::{ExportConfig, Exporter, Output};
use crate::plugin::{COMPILED_CACHE, Limits, Runtime, Secrets};
use crate::policy::{self, PolicyDocument, Profile, Scale, SloBaseline};
use crate::registry::ResolveOptions;
use crate::report::{
    DrillReport, DrillStatus, PluginInfo, RunRecord, SEGMENT_FORMAT, SegmentSection, StagePlan,
    millis_between, read_merged_drill, report_file_name, rfc3339_micros, write_json_atomic,
};
use crate::slo::Evaluators;

/// Which profile a drill runs.
#[derive(Debug, Clone)]
pub enum ProfileChoice {
    /// A built-in profile's name, or a JSON file (a name ending in `.json`
    /// or holding a `/`).
    Named(String),
    /// A profile built by the caller (`relhost load`): its first scenario's
    /// stages apply to whichever scenarios run.
    Inline(Profile),
}

impl ProfileChoice {
    /// Loads the profile.
    pub fn load(&self) -> Result<Profile, policy::PolicyError> {
        match self {
            ProfileChoice::Inline(profile) => Ok(profile.clone()),
            ProfileChoice::Named(name) if name.ends_with(".json") || name.contains('/') => {
                policy::load_profile_file(std::path::Path::new(name))
            }
            ProfileChoice::Named(name) => policy::builtin_profile(name),
        }
    }
}

/// Live metrics outputs and how often they are pushed.
#[derive(Debug, Clone)]
pub struct LiveOutputs {
    /// The outputs, with their authentication headers.
    pub outputs: Vec<Output>,
    /// Time between pushes.
    pub interval: Duration,
}

/// Everything a drill needs to know, checked where it can be without I/O.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    /// The load profile.
    pub profile: ProfileChoice,
    /// The scenarios to run (default: the profile's, or the external plugins').
    pub scenarios: Option<Vec<String>>,
    /// Where requests go.
    pub target: TargetChoice,
    /// Demo users to provision on the built-in sim when no credential is given.
    pub demo_users: u64,
    /// Multipliers of the chat scenario's stages.
    pub chat_scale: Scale,
    /// Scenario plugins (files or registry references); each replaces a
    /// built-in of the same name.
    pub plugins: Vec<PathBuf>,
    /// Payload builders: `(scenario, file | reference | built-in)`.
    pub payload_plugins: Vec<(String, String)>,
    /// Data directories offered to payload builders: `(name, dir)`.
    pub plugin_data: Vec<(String, String)>,
    /// Most bytes a granted data directory may hold.
    pub plugin_data_max_bytes: u64,
    /// SLO evaluator plugins whose checks join every scenario's gate.
    pub slo_plugins: Vec<PathBuf>,
    /// The SLO baseline file (default: the built-in one).
    pub slo_baseline: Option<PathBuf>,
    /// Where reports are written.
    pub output_dir: PathBuf,
    /// Live metrics outputs, if any.
    pub outputs: Option<LiveOutputs>,
    /// This run's id in live metrics.
    pub run_id: String,
    /// The command line, secrets masked, as reports record it.
    pub command_line: Vec<String>,
    /// Per-call deadline and memory cap of every plugin.
    pub plugin_limits: Limits,
    /// Largest request body, whatever a plugin builds.
    pub max_request_body: usize,
    /// The load client's settings.
    pub client: ClientConfig,
    /// Workers per scenario (default: one per CPU).
    pub workers: Option<u32>,
    /// The part of the drill this process runs, when it is split
    /// (`relhost merge` joins the parts; their reports carry what it needs).
    pub segment: Option<Segment>,
    /// When the load starts (segments agree on it); `None`: once prepared.
    pub start_at: Option<SystemTime>,
    /// Most requests in flight at once, over all workers.
    pub max_in_flight: u64,
    /// Open the connections before the load starts.
    pub preconnect: bool,
    /// After a stop, how long requests in flight may finish.
    pub grace: Duration,
    /// Seed of every random sequence.
    pub seed: u64,
    /// The operator's credentials and where they came from.
    pub credentials: (Credentials, CredentialSource),
    /// How requests rotate over the credentials.
    pub rotation: RotationChoice,
    /// Coverage floors of the scenarios that use the credentials.
    pub coverage: CoverageGoals,
    /// Secrets plugins may be granted beyond the documented ones.
    pub allow_secrets: Vec<String>,
    /// Run parameters for plugins (the `param` import).
    pub params: Vec<(String, String)>,
    /// How registry references resolve.
    pub resolve: ResolveOptions,
    /// Whether requests may carry a `Host` header the operator gave.
    pub allow_host_header: bool,
}

impl DrillOptions {
    /// The defaults of `relhost drill` against `target`, writing to `output_dir`.
    pub fn new(target: TargetChoice, output_dir: PathBuf) -> Self {
        DrillOptions {
            profile: ProfileChoice::Named("standard".into()),
            scenarios: None,
            target,
            demo_users: 1,
            chat_scale: Scale::default(),
            plugins: Vec::new(),
            payload_plugins: Vec::new(),
            plugin_data: Vec::new(),
            plugin_data_max_bytes: 64 << 20,
            slo_plugins: Vec::new(),
            slo_baseline: None,
            output_dir,
            outputs: None,
            run_id: new_run_id(),
            command_line: Vec::new(),
            plugin_limits: Limits::default(),
            max_request_body: 4 << 20,
            client: ClientConfig::default(),
            workers: None,
            segment: None,
            start_at: None,
            max_in_flight: 50_000,
            preconnect: false,
            grace: Duration::from_secs(5),
            seed: 1,
            credentials: (Credentials::default(), CredentialSource::None),
            rotation: RotationChoice {
                mode: RotationMode::RoundRobin,
                plugin: None,
                stride: None,
                seed: None,
            },
            coverage: CoverageGoals::default(),
            allow_secrets: Vec::new(),
            params: Vec::new(),
            resolve: ResolveOptions::default(),
            allow_host_header: false,
        }
    }
}

/// A drill ready to run: plugins, policies and evaluators loaded and
/// checked, the target up.
pub struct PreparedDrill {
    /// When the drill started (its reports' names and timestamps).
    pub started: SystemTime,
    /// What the operator should know about the preparation (secrets not granted).
    pub warnings: Vec<String>,
    /// The profile.
    pub profile: Profile,
    /// The SLO baseline.
    pub baseline: SloBaseline,
    /// Its text (segment reports carry it, for the merged gates).
    baseline_text: String,
    /// The SLO evaluators.
    pub evaluators: Evaluators,
    /// What the engine runs.
    pub plan: DrillPlan,
    /// Where it runs.
    pub target: Target,
    /// The secrets granted to plugins.
    pub secrets: Arc<Secrets>,
    options: DrillOptions,
}

/// A finished drill: its report and the file it was written to.
pub struct DrillOutcome {
    /// The report.
    pub report: DrillReport,
    /// Where it was written.
    pub path: PathBuf,
}

/// Loads and checks everything the drill needs and brings the target up;
/// `progress` hears the warnings, `stop` ends plugin calls early.
pub async fn prepare(
    options: &DrillOptions,
    progress: &dyn Progress,
    stop: &watch::Receiver<bool>,
) -> Result<PreparedDrill, DrillError> {
    let started = SystemTime::now();
    let profile = options.profile.load()?;
    // Found out now, not after the whole drill ran.
    check_writable(&options.output_dir)?;
    // Credential-like plugin parameters (`--param api_key=...`) are
    // masked wherever they end up.
    for (name, value) in &options.params {
        crate::redact::register_credential(name, value);
    }
    if options.segment.is_some_and(|s| !s.is_whole())
        && matches!(options.target, TargetChoice::BuiltinSim(_))
    {
        return Err(DrillError::Invalid(
            "--segment: the segments of a drill must drill one target; give --base-url \
             (each segment would start a relhost-sim of its own)"
                .into(),
        ));
    }
    let workers = options.workers.unwrap_or_else(default_workers);
    let segment = options.segment.unwrap_or(Segment::WHOLE);
    check_http2_connections(&options.client, segment.all_workers(workers))?;
    let baseline_path = options.slo_baseline.as_deref();
    let baseline_text = SloBaseline::text_of(baseline_path)?;
    let baseline = SloBaseline::parse(&baseline_text, &SloBaseline::origin_of(baseline_path), &())?;
    options.chat_scale.check()?;
    let resolve = &options.resolve;
    let runtime = Runtime::with_params(
        options.plugin_limits,
        options.params.iter().cloned().collect(),
        Some(stop.clone()),
        Some(&resolve.cache_dir.join(COMPILED_CACHE)),
    )?;
    let evaluators = Evaluators::load(&runtime, &options.slo_plugins).await?;
    let mut catalog = Catalog::load(&runtime, &options.plugins, resolve, options.seed).await?;
    let mut scenarios = catalog
        .select(&profile, options.scenarios.as_deref(), options.chat_scale)
        .await?;
    if let ProfileChoice::Inline(inline) = &options.profile
        && let Some(plan) = inline.scenarios.first()
    {
        for spec in &mut scenarios {
            spec.stages = plan.stages.clone();
        }
    }
    let builders = PayloadBuilders {
        given: &options.payload_plugins,
        data: &options.plugin_data,
        max_data_bytes: options.plugin_data_max_bytes,
    };
    for warning in builders
        .attach(&runtime, &mut scenarios, resolve, options.seed)
        .await?
    {
        progress.note(&format!("warning: {warning}"));
    }
    let (secrets, secret_warnings) = grant_secrets(&mut scenarios, &options.allow_secrets);
    for warning in &secret_warnings {
        progress.note(&format!("warning: {warning}"));
    }

    let (credentials, source) = options.credentials.clone();
    let target = Target::resolve(
        options.target.clone(),
        credentials,
        source,
        options.demo_users,
    )
    .await?;
    if target.sim.is_some() {
        progress.note(&format!(
            "no --base-url or RELIABILITY_BASE_URL: drilling the built-in relhost-sim at {}",
            target.base_url.to_string().trim_end_matches('/')
        ));
    }
    let prepared = async {
        target
            .check_reachable(options.client.connect_timeout)
            .await?;
        let rotation = if target.credentials.is_empty() {
            None
        } else {
            Some(
                auth_pool::load_rotation(
                    &runtime,
                    &options.rotation,
                    resolve,
                    options.seed,
                    target.credentials.len(),
                )
                .await?,
            )
        };
        let plan = DrillPlan {
            base_url: target.base_url.clone(),
            scenarios,
            client: options.client.clone(),
            workers,
            segment,
            max_in_flight: (options.max_in_flight / u64::from(workers)).max(1) as usize,
            preconnect: options.preconnect,
            grace: options.grace,
            seed: options.seed,
            secrets: Arc::clone(&secrets),
            credentials: Arc::new(target.credentials.clone()),
            rotation,
            request_limits: RequestLimits {
                max_body_bytes: options.max_request_body,
                allow_host_header: options.allow_host_header,
            },
        };
        engine::prepare(&plan).await?;
        Ok::<_, DrillError>(plan)
    }
    .await;
    match prepared {
        Ok(plan) => Ok(PreparedDrill {
            started,
            warnings: secret_warnings,
            profile,
            baseline,
            baseline_text,
            evaluators,
            plan,
            target,
            secrets,
            options: options.clone(),
        }),
        Err(e) => {
            target.shutdown().await;
            Err(e)
        }
    }
}

impl PreparedDrill {
    /// The options the drill was prepared with.
    pub fn options(&self) -> &DrillOptions {
        &self.options
    }

    /// Runs the drill, evaluates its gates and writes its report as
    /// `load-drill-<profile>-<timestamp>.json` in the output directory; a
    /// segment's report carries its segment and its run's record.
    pub async fn run(
        &self,
        stop: watch::Receiver<bool>,
        progress: &dyn Progress,
    ) -> Result<DrillOutcome, DrillError> {
        let exporter = self.start_outputs(None)?;
        let start = start_at(self.options.start_at, stop.clone(), progress).await;
        let results = self
            .run_load(stop.clone(), progress, exporter.as_ref())
            .await?;
        let interrupted = *stop.borrow();
        let record = self.record(&results, interrupted, self.options.coverage);
        let mut report = self
            .report_of(&record, &results, self.effective_config())
            .await;
        if let Some(segment) = self.options.segment {
            let section = self.segment_section(segment, start, record, &report.plugins);
            report.segment = Some(Box::new(section));
        }
        if let Some(exporter) = exporter {
            let warnings = exporter.finish(&report).await;
            for warning in &warnings {
                progress.note(&format!("warning: {warning}"));
            }
            report.warnings.extend(warnings);
        }
        let mut name = report_file_name("load-drill", &self.profile.name, self.started);
        if let Some(segment) = self.options.segment {
            // Segments may share a directory and a second.
            let stem = name.strip_suffix(".json").unwrap_or(&name);
            name = format!("{stem}-segment-{}-of-{}.json", segment.index, segment.count);
        }
        let path = write_json_atomic(&self.options.output_dir, &name, &report)?;
        Ok(DrillOutcome { report, path })
    }

    /// The drill a gate judges: run now, or, when `given` names the report
    /// of a merged drill (`relhost merge`), that report, checked to be of
    /// this profile, target and SLO baseline, and to have run to its end.
    pub async fn run_or_read(
        &self,
        given: Option<&Path>,
        stop: watch::Receiver<bool>,
        progress: &dyn Progress,
    ) -> Result<DrillOutcome, DrillError> {
        let Some(path) = given else {
            return self.run(stop, progress).await;
        };
        let (report, merged) = read_merged_drill(path)?;
        let refuse = |what: String| {
            Err(DrillError::Invalid(format!(
                "--drill-report {}: {what}",
                path.display()
            )))
        };
        if matches!(report.status, DrillStatus::Interrupted | DrillStatus::Error) {
            return refuse(format!(
                "the drill did not run to its end (status {:?}): a gate judges whole drills",
                report.status
            ));
        }
        if merged.record.slo_baseline != self.baseline_text {
            return refuse(
                "drilled against another SLO baseline than this gate's (--slo-baseline)".into(),
            );
        }
        if report.profile != self.profile.name {
            return refuse(format!(
                "drilled profile {:?}; this gate drills {:?}",
                report.profile, self.profile.name
            ));
        }
        let target = self.target.info().base_url;
        if report.target.base_url != target {
            return refuse(format!(
                "drilled {}; this gate's target is {target}",
                report.target.base_url
            ));
        }
        progress.note(&format!("judging the drill of {}", path.display()));
        Ok(DrillOutcome {
            report,
            path: path.to_owned(),
        })
    }

    /// Runs the load alone, telling `progress` and, when there is one,
    /// `exporter` (a canary runs two sides at once and reports each).
    pub async fn run_load(
        &self,
        stop: watch::Receiver<bool>,
        progress: &dyn Progress,
        exporter: Option<&Exporter>,
    ) -> Result<Vec<ScenarioResult>, DrillError> {
        Ok(match exporter {
            Some(exporter) => engine::run(&self.plan, stop, &exporter.progress(progress)).await?,
            None => engine::run(&self.plan, stop, progress).await?,
        })
    }

    /// Builds the report of `results` with `config` as the configuration
    /// it records.
    pub async fn report(
        &self,
        results: &[ScenarioResult],
        interrupted: bool,
        config: serde_json::Value,
        coverage: CoverageGoals,
    ) -> DrillReport {
        let record = self.record(results, interrupted, coverage);
        self.report_of(&record, results, config).await
    }

    fn record(
        &self,
        results: &[ScenarioResult],
        interrupted: bool,
        coverage: CoverageGoals,
    ) -> RunRecord {
        run_record(
            results,
            interrupted,
            (self.target.source.label(), self.plan.rotation.as_ref()),
            coverage,
            self.baseline_text.clone(),
        )
    }

    async fn report_of(
        &self,
        record: &RunRecord,
        results: &[ScenarioResult],
        config: serde_json::Value,
    ) -> DrillReport {
        let info = RunInfo {
            started: self.started,
            command_line: self.options.command_line.clone(),
            config,
            target: self.target.info(),
            profile: self.profile.name.clone(),
            warnings: self.warnings.clone(),
        };
        let plugins = plugin_infos(results, self.plan.rotation.as_ref(), &self.evaluators);
        drill_report(info, record, plugins, &self.baseline, &self.evaluators).await
    }

    /// What a segment's report says of its segment.
    fn segment_section(
        &self,
        segment: Segment,
        (start_at, load_started): (Option<SystemTime>, SystemTime),
        record: RunRecord,
        plugins: &[PluginInfo],
    ) -> SegmentSection {
        let mut config = self.effective_config();
        // Each segment has its own run id in live metrics.
        if let Some(config) = config.as_object_mut() {
            config.remove("run_id");
        }
        let scenarios: Vec<serde_json::Value> = self
            .plan
            .scenarios
            .iter()
            .map(|s| {
                let stages: Vec<StagePlan> = s.stages.iter().map(StagePlan::from).collect();
                serde_json::json!({ "name": s.plugin.descriptor().name, "stages": stages })
            })
            .collect();
        // Every plugin by what it is, wherever the segment loaded it from.
        let plugins: Vec<serde_json::Value> = plugins
            .iter()
            .map(|p| serde_json::json!({ "name": p.name, "kind": p.kind, "sha256": p.sha256 }))
            .collect();
        SegmentSection {
            format: SEGMENT_FORMAT,
            index: segment.index,
            count: segment.count,
            start_at: start_at.map(rfc3339_micros),
            load_started_at: rfc3339_micros(load_started),
            start_skew_ms: start_at.map(|at| millis_between(at, load_started)),
            plan: serde_json::json!({
                "profile": self.profile.name,
                "target": self.target.base_url.to_string(),
                "config": config,
                "scenarios": scenarios,
                "plugins": plugins,
                "slo_baseline": self.baseline_text,
            }),
            record,
        }
    }

    /// Starts the live outputs (none without any); `side` labels a
    /// canary's control or candidate.
    pub fn start_outputs(&self, side: Option<&str>) -> Result<Option<Exporter>, DrillError> {
        let Some(outputs) = &self.options.outputs else {
            return Ok(None);
        };
        if outputs.outputs.is_empty() {
            return Ok(None);
        }
        let command = self
            .options
            .command_line
            .get(1)
            .cloned()
            .unwrap_or_default();
        let mut labels = vec![
            ("run_id", self.options.run_id.clone()),
            ("command", command),
            ("profile", self.profile.name.clone()),
        ];
        if let Some(side) = side {
            labels.push(("side", side.to_owned()));
        }
        let client = Client::new(&ClientConfig {
            connect_timeout: Duration::from_secs(2),
            request_timeout: outputs
                .interval
                .clamp(Duration::from_secs(1), Duration::from_secs(10)),
            stream_idle_timeout: Duration::from_secs(10),
            max_idle_per_host: 2,
            ..ClientConfig::default()
        })
        .map_err(DrillError::Client)?;
        Ok(Some(Exporter::start(
            ExportConfig {
                outputs: outputs.outputs.clone(),
                interval: outputs.interval,
                labels,
            },
            client,
        )))
    }

    /// The configuration the drill ran with; secrets appear by name only.
    fn effective_config(&self) -> serde_json::Value {
        let options = &self.options;
        let plan = &self.plan;
        let scenarios: Vec<&str> = plan
            .scenarios
            .iter()
            .map(|s| s.plugin.descriptor().name.as_str())
            .collect();
        let outputs: Vec<String> = options
            .outputs
            .iter()
            .flat_map(|o| &o.outputs)
            .map(|o| o.target.to_string())
            .collect();
        serde_json::json!({
            "profile": self.profile.name,
            "scenarios": scenarios,
            "chat_load_scale": options.chat_scale.load,
            "chat_concurrency_scale": options.chat_scale.concurrency,
            "chat_duration_scale": options.chat_scale.duration,
            "workers": plan.workers,
            "run_id": options.run_id,
            "outputs": outputs,
            "max_in_flight": options.max_in_flight,
            "preconnect": options.preconnect,
            "connect_timeout_ms": options.client.connect_timeout.as_millis() as u64,
            "request_timeout_ms": options.client.request_timeout.as_millis() as u64,
            "stream_idle_timeout_ms": options.client.stream_idle_timeout.as_millis() as u64,
            "http2": options.client.http2,
            "http2_connections": options.client.http2.then(|| {
                match options.client.http2_connections {
                    0 => plan.segment.all_workers(plan.workers),
                    total => total,
                }
            }),
            "ca_cert": options.client.ca_cert.as_ref().map(|p| p.display().to_string()),
            "plugin_deadline_ms": options.plugin_limits.deadline.as_millis() as u64,
            "plugin_memory_mib": options.plugin_limits.memory_bytes >> 20,
            "max_request_body_mib": options.max_request_body >> 20,
            "grace_ms": options.grace.as_millis() as u64,
            "seed": options.seed,
            "secrets_set": format!("{:?}", self.secrets),
            "allowed_secrets": options.allow_secrets,
            "credentials": plan.credentials.len(),
            "chat_rotation_mode": options.rotation.describe(),
            "chat_rotation_stride": options.rotation.stride,
            "chat_min_unique_coverage": options.coverage.min_unique_coverage,
            "chat_min_unique_users": options.coverage.min_unique_users,
        })
    }

    /// Stops the in-process sim, if the drill started one.
    pub async fn shutdown(self) {
        self.target.shutdown().await;
    }
}

/// Waits for `at` (unless a stop comes first), telling `progress`; gives
/// back `at` and when the load begins.
async fn start_at(
    at: Option<SystemTime>,
    mut stop: watch::Receiver<bool>,
    progress: &dyn Progress,
) -> (Option<SystemTime>, SystemTime) {
    if let Some(at) = at {
        match at.duration_since(SystemTime::now()) {
            Ok(wait) => {
                progress.note(&format!(
                    "waiting {:.1} s for --start-at {}",
                    wait.as_secs_f64(),
                    humantime::format_rfc3339_millis(at)
                ));
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|stopped| *stopped) => {}
                }
            }
            Err(late) => progress.note(&format!(
                "warning: --start-at {} passed {:.1} s ago: starting now (the report records the skew)",
                humantime::format_rfc3339_millis(at),
                late.duration().as_secs_f64()
            )),
        }
    }
    (at, SystemTime::now())
}

/// Every worker of the drill (of all its segments) needs an HTTP/2
/// connection of its own: `--h2-connections` may not be fewer.
fn check_http2_connections(client: &ClientConfig, workers: u32) -> Result<(), DrillError> {
    match client.http2_connections {
        n if client.http2 && n > 0 && n < workers => Err(DrillError::Invalid(format!(
            "--h2-connections={n} is fewer than the drill's {workers} workers; \
             each worker needs a connection of its own (give --workers={n} or more connections)"
        ))),
        _ => Ok(()),
    }
}

fn default_workers() -> u32 {
    std::thread::available_parallelism().map_or(2, |n| n.get() as u32)
}

/// A run id: 16 hex digits from the clock and the process id.
pub fn new_run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!(
        "{:016x}",
        crate::rng::SplitMix64::derive(nanos, u64::from(std::process::id()))
    )
}
