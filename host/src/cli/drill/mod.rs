//! `relhost drill` (alias `run`): staged load against the target's
//! endpoints, SLO gates per scenario, and a report.

pub(super) mod credentials;
mod payloads;
pub(super) mod report;
mod scenarios;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::Args;
use clap::builder::BoolishValueParser;
use tokio::sync::watch;

use self::credentials::{RotationChoice, RotationMode, parse_seed};
use self::payloads::PayloadBuilders;
use self::report::{CoverageGoals, RunInfo, drill_report};
use self::scenarios::{Catalog, grant_secrets};
use super::args::{self, ClientArgs};
use super::deployment::DeploymentArgs;
use super::error::CliError;
use super::live_outputs::LiveOutputArgs;
use super::plugin::{COMPILED, RegistryArgs};
use super::printer::Printer;
use super::progress::ConsoleProgress;
use super::signals::stop_on_signal;
use super::target::Target;
use crate::engine::{self, DrillPlan, RequestLimits};
use crate::exit::Exit;
use crate::http::ClientConfig;
use crate::output::Exporter;
use crate::plugin::{Limits, Runtime, Secrets};
use crate::policy::{self, Profile, Scale, SloBaseline};
use crate::report::{DrillReport, check_writable, report_file_name, write_json_atomic};
use crate::slo::Evaluators;

/// Run a load drill. With no base URL anywhere, relhost starts relhost-sim
/// in-process on 127.0.0.1 and drills that.
#[derive(Debug, Args)]
pub struct DrillCommand {
    #[command(flatten)]
    args: DrillArgs,
}

/// The flags of a drill, shared by the commands that run one (`drill`,
/// `gate`, `milestone-gate`).
#[derive(Debug, Args)]
pub(crate) struct DrillArgs {
    /// Load profile: quick, standard, burst, soak, m1_1k, m2_5k, m3_20k, or a JSON file.
    #[arg(long, default_value = "standard", value_name = "NAME|FILE")]
    profile: String,
    /// Shorthand for --profile=quick.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          value_parser = BoolishValueParser::new())]
    quick: Option<bool>,
    /// Scenarios to run, comma-separated (default: the profile's, or the --plugin ones).
    #[arg(long, value_name = "A,B", value_parser = args::names)]
    scenarios: Option<std::vec::Vec<String>>,
    /// The target: its base URL, Convex URL and deploy key.
    #[command(flatten)]
    deployment: DeploymentArgs,
    /// Live metrics outputs.
    #[command(flatten)]
    outputs: LiveOutputArgs,
    /// This run's id in live metrics.
    #[arg(skip = new_run_id())]
    run_id: String,
    /// Multiplies the chat stages' rates and request caps.
    #[arg(long, default_value = "1", value_name = "X", value_parser = args::scale)]
    chat_load_scale: f64,
    /// Multiplies the chat stages' concurrency.
    #[arg(long, default_value = "1", value_name = "X", value_parser = args::scale)]
    chat_concurrency_scale: f64,
    /// Multiplies the chat stages' durations and ramps.
    #[arg(long, default_value = "1", value_name = "X", value_parser = args::scale)]
    chat_duration_scale: f64,
    /// A scenario plugin to drill (repeatable): a component file, or a registry
    /// reference (oci://HOST/NS/NAME@^1.2, local:NS/NAME:1.2.3); replaces a built-in of the same name.
    #[arg(long = "plugin", value_name = "PATH.wasm|REF")]
    plugins: Vec<PathBuf>,
    /// A payload builder for a scenario, `SCENARIO=SOURCE` (repeatable): a
    /// component file, a registry reference, or a built-in (whatsapp_replay,
    /// chat_corpus). Its bodies replace the scenario's; the host still signs them.
    #[arg(long = "payload-plugin", value_name = "SCENARIO=PATH.wasm|REF|BUILTIN", value_parser = args::key_value)]
    payload_plugins: Vec<(String, String)>,
    /// A data directory for the payload builders that declare it,
    /// `NAME=DIR` (repeatable): granted read-only, nothing outside it.
    #[arg(long = "plugin-data", value_name = "NAME=DIR", value_parser = args::key_value)]
    plugin_data: Vec<(String, String)>,
    /// Most bytes a granted data directory may hold.
    #[arg(long, default_value = "67108864", value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(1..))]
    plugin_data_max_bytes: u64,
    /// An SLO evaluator plugin whose checks join every scenario's gate (repeatable).
    #[arg(long = "slo-plugin", value_name = "PATH.wasm")]
    slo_plugins: Vec<PathBuf>,
    /// SLO baseline file (default: the built-in policies/slo-baseline.json).
    #[arg(long, env = "RELIABILITY_SLO_BASELINE", value_name = "FILE")]
    slo_baseline: Option<PathBuf>,
    /// Where reports are written.
    #[arg(
        long,
        env = "RELIABILITY_OUTPUT_DIR",
        default_value = ".output/reliability",
        value_name = "DIR"
    )]
    output_dir: PathBuf,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
    /// Longest a single plugin call may run, waits on the host included (1ms to 10m).
    #[arg(long, default_value = "100ms", value_name = "DURATION", value_parser = args::plugin_deadline)]
    plugin_deadline: Duration,
    /// Memory cap of each plugin instance, in MiB.
    #[arg(long, default_value = "64", value_name = "MIB", value_parser = args::mebibytes)]
    plugin_memory: u64,
    /// Largest request body, in MiB, whatever a plugin builds.
    #[arg(long, default_value = "4", value_name = "MIB", value_parser = args::mebibytes)]
    max_request_body: u64,
    /// Connect, request and stream-idle timeouts, HTTP/2, a private CA.
    #[command(flatten)]
    client: ClientArgs,
    /// Workers per scenario, each with its own connections (default: one per CPU).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    workers: Option<u32>,
    /// Most requests in flight at once, over all workers.
    #[arg(long, default_value = "50000", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_in_flight: u64,
    /// After Ctrl-C or SIGTERM, how long to wait for requests in flight.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = args::duration)]
    grace: Duration,
    /// Seed of every random sequence (payload ids, plugin randomness).
    #[arg(long, env = "RELIABILITY_SEED", default_value = "1", value_name = "N")]
    seed: u64,
    /// Chat auth pool: a JSON file of `[{"authToken", "threadId"}]` (see `relhost pool`).
    #[arg(long, env = "RELIABILITY_CHAT_AUTH_POOL_FILE", value_name = "FILE")]
    chat_auth_pool_file: Option<PathBuf>,
    /// How chat requests pick their credential from the pool.
    #[arg(
        long,
        env = "RELIABILITY_CHAT_ROTATION_MODE",
        value_enum,
        default_value = "round_robin"
    )]
    chat_rotation_mode: RotationMode,
    /// Step of the stride mode (default: coprime with the pool size).
    #[arg(long, env = "RELIABILITY_CHAT_ROTATION_STRIDE", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    chat_rotation_stride: Option<u32>,
    /// Seed of the stride offset and the random mode: a number or any string (default: --seed).
    #[arg(long, env = "RELIABILITY_CHAT_ROTATION_SEED", value_name = "SEED", value_parser = parse_seed)]
    chat_rotation_seed: Option<u64>,
    /// A rotation strategy plugin (a file or a registry reference); replaces --chat-rotation-mode.
    #[arg(long, value_name = "PATH.wasm|REF")]
    chat_rotation_plugin: Option<PathBuf>,
    /// Gate: the share of the pool the chat scenario must touch (0 to 1).
    #[arg(long, env = "RELIABILITY_CHAT_MIN_UNIQUE_COVERAGE", value_name = "0-1", value_parser = args::fraction)]
    chat_min_unique_coverage: Option<f64>,
    /// Gate: the number of distinct users the chat scenario must touch.
    #[arg(long, env = "RELIABILITY_CHAT_MIN_UNIQUE_USERS", value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    chat_min_unique_users: Option<u64>,
    /// Grant plugins that declare it this environment variable as a secret
    /// (repeatable); WHATSAPP_APP_SECRET and GMAIL_PUBSUB_VERIFY_TOKEN are granted without it.
    #[arg(long = "allow-secret", value_name = "NAME", value_parser = scenarios::allowed_secret)]
    allow_secrets: Vec<String>,
    /// A run parameter for plugins, `NAME=VALUE` (repeatable; the `param` import).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = args::key_value)]
    params: Vec<(String, String)>,
    /// Registry plugins: local registry, cache, lock file, --locked, --forbid-secret.
    #[command(flatten)]
    registry: RegistryArgs,
    /// A profile given by the command rather than by a flag (`relhost load`).
    #[arg(skip)]
    inline_profile: Option<Profile>,
    /// The operator gave a `Host` header (`relhost load -H "Host: ..."`).
    #[arg(skip)]
    allow_host_header: bool,
    /// Demo users to provision on the built-in sim when no credential is given.
    #[arg(skip = 1u64)]
    demo_users: u64,
}

/// A drill ready to run: plugins, policies and evaluators loaded and
/// checked, the target up.
pub(crate) struct PreparedDrill {
    pub(crate) started: SystemTime,
    /// What the operator should know about the preparation (secrets not granted).
    pub(crate) warnings: Vec<String>,
    pub(crate) profile: Profile,
    pub(crate) baseline: SloBaseline,
    pub(crate) evaluators: Evaluators,
    pub(crate) plan: DrillPlan,
    pub(crate) target: Target,
    pub(crate) secrets: Arc<Secrets>,
}

impl PreparedDrill {
    /// Stops the in-process sim, if the drill started one.
    pub(crate) async fn shutdown(self) {
        if let Some(sim) = self.target.sim {
            sim.shutdown().await;
        }
    }
}

/// A finished drill: its report and the file it was written to.
pub(crate) struct DrillOutcome {
    pub(crate) report: DrillReport,
    pub(crate) path: PathBuf,
}

impl DrillCommand {
    /// Runs the drill and writes its report.
    pub async fn run(self) -> Result<Exit, CliError> {
        let started = SystemTime::now();
        // From here on, Ctrl-C or SIGTERM ends the drill with a report.
        let stop = stop_on_signal();
        let printer = Printer::stdout(self.args.quiet);
        let progress = ConsoleProgress::new(self.args.quiet);
        let prepared = self.args.prepare(&progress, started, &stop).await?;
        let outcome = self.args.execute(&prepared, stop, &progress).await?;
        printer.summary(&outcome.report);
        printer.line(&format!("report: {}", outcome.path.display()));
        prepared.shutdown().await;
        Ok(outcome.report.status.into())
    }
}

impl DrillArgs {
    /// Whether to print nothing but errors.
    pub(crate) fn quiet(&self) -> bool {
        self.quiet
    }

    /// The target given, if any (none: the built-in sim).
    pub(crate) fn base_url(&self) -> Option<http::Uri> {
        self.deployment.base_url()
    }

    /// The target deployment's URLs and key.
    pub(crate) fn deployment(&self) -> &DeploymentArgs {
        &self.deployment
    }

    /// Where reports go.
    pub(crate) fn output_dir(&self) -> &std::path::Path {
        &self.output_dir
    }

    /// The concurrency multiplier of the chat stages.
    pub(crate) fn chat_concurrency_scale(&self) -> f64 {
        self.chat_concurrency_scale
    }

    /// Provisions `users` demo users on the built-in sim when the operator
    /// gives no credential (a milestone's unique-user floor).
    pub(crate) fn set_demo_users(&mut self, users: u64) {
        self.demo_users = users;
    }

    /// Runs `profile` instead of `--profile` (the milestone gate's milestones).
    pub(crate) fn set_profile(&mut self, profile: &str) {
        self.profile = profile.to_string();
        self.quick = None;
    }

    /// Runs `profile` against `base_url`, with extra plugin parameters
    /// (`relhost load`). The profile's single scenario plan applies to
    /// whichever scenario runs: the built-in request builder or `--plugin`.
    pub(crate) fn set_inline(
        &mut self,
        base_url: http::Uri,
        profile: Profile,
        params: Vec<(String, String)>,
        max_in_flight: u64,
        allow_host_header: bool,
    ) {
        self.deployment.set_base_url(base_url);
        self.inline_profile = Some(profile);
        self.params.extend(params);
        self.max_in_flight = max_in_flight;
        self.allow_host_header = allow_host_header;
    }

    /// Loads and checks everything the drill needs and brings the target up.
    pub(crate) async fn prepare(
        &self,
        progress: &ConsoleProgress,
        started: SystemTime,
        stop: &watch::Receiver<bool>,
    ) -> Result<PreparedDrill, CliError> {
        let profile = self.profile()?;
        // Found out now, not after the whole drill ran.
        check_writable(&self.output_dir)?;
        // Credential-like plugin parameters (`--param api_key=...`) are
        // masked wherever they end up.
        for (name, value) in &self.params {
            crate::redact::register_credential(name, value);
        }
        let baseline = match &self.slo_baseline {
            Some(path) => policy::load_slo_baseline(path)?,
            None => policy::builtin_slo_baseline()?,
        };
        let scale = Scale {
            load: self.chat_load_scale,
            concurrency: self.chat_concurrency_scale,
            duration: self.chat_duration_scale,
        };
        scale.check()?;
        let resolve = self.registry.options(self.client.ca_cert.clone());
        let runtime = Runtime::with_params(
            Limits {
                deadline: self.plugin_deadline,
                memory_bytes: self.plugin_memory << 20,
                ..Limits::default()
            },
            self.params.iter().cloned().collect(),
            Some(stop.clone()),
            Some(&resolve.cache_dir.join(COMPILED)),
        )?;
        let evaluators = Evaluators::load(&runtime, &self.slo_plugins).await?;
        let mut catalog = Catalog::load(&runtime, &self.plugins, &resolve, self.seed).await?;
        let mut scenarios = catalog
            .select(&profile, self.scenarios.as_deref(), scale)
            .await?;
        if let Some(plan) = self
            .inline_profile
            .as_ref()
            .and_then(|p| p.scenarios.first())
        {
            for spec in &mut scenarios {
                spec.stages = plan.stages.clone();
            }
        }
        let builders = PayloadBuilders {
            given: &self.payload_plugins,
            data: &self.plugin_data,
            max_data_bytes: self.plugin_data_max_bytes,
        };
        for warning in builders
            .attach(&runtime, &mut scenarios, &resolve, self.seed)
            .await?
        {
            progress.note(&format!("warning: {warning}"));
        }
        let (secrets, secret_warnings) = grant_secrets(&mut scenarios, &self.allow_secrets);
        for warning in &secret_warnings {
            progress.note(&format!("warning: {warning}"));
        }

        let (credentials, source) =
            credentials::from_operator(self.chat_auth_pool_file.as_deref())?;
        let target = Target::resolve(self.base_url(), credentials, source, self.demo_users).await?;
        if target.sim.is_some() {
            progress.note(&format!(
                "no --base-url or RELIABILITY_BASE_URL: drilling the built-in relhost-sim at {}",
                target.base_url.to_string().trim_end_matches('/')
            ));
        }
        target.check_reachable(self.client.connect_timeout).await?;
        let rotation = if target.credentials.is_empty() {
            None
        } else {
            let choice = RotationChoice {
                mode: self.chat_rotation_mode,
                plugin: self.chat_rotation_plugin.clone(),
                stride: self.chat_rotation_stride,
                seed: self.chat_rotation_seed.unwrap_or(self.seed),
                resolve: resolve.clone(),
            };
            Some(credentials::load_rotation(&runtime, &choice, target.credentials.len()).await?)
        };
        let workers = self.workers.unwrap_or_else(default_workers);
        let plan = DrillPlan {
            base_url: target.base_url.clone(),
            scenarios,
            client: self.client_config(),
            workers,
            max_in_flight: (self.max_in_flight / u64::from(workers)).max(1) as usize,
            grace: self.grace,
            seed: self.seed,
            secrets: Arc::clone(&secrets),
            credentials: Arc::new(target.credentials.clone()),
            rotation,
            request_limits: RequestLimits {
                max_body_bytes: usize::try_from(self.max_request_body << 20).unwrap_or(usize::MAX),
                allow_host_header: self.allow_host_header,
            },
        };
        engine::prepare(&plan).await?;
        Ok(PreparedDrill {
            started,
            warnings: secret_warnings,
            profile,
            baseline,
            evaluators,
            plan,
            target,
            secrets,
        })
    }

    /// Runs a prepared drill, evaluates its gates and writes its report.
    pub(crate) async fn execute(
        &self,
        prepared: &PreparedDrill,
        stop: watch::Receiver<bool>,
        progress: &ConsoleProgress,
    ) -> Result<DrillOutcome, CliError> {
        let PreparedDrill {
            started,
            warnings,
            profile,
            baseline,
            evaluators,
            plan,
            target,
            secrets,
        } = prepared;
        let exporter = self.start_outputs(profile, None)?;
        let results = run_exported(plan, stop.clone(), progress, exporter.as_ref()).await?;
        let interrupted = *stop.borrow();
        let info = RunInfo {
            started: *started,
            command_line: crate::redact::command_line(),
            config: self.effective_config(profile, plan, secrets),
            target: target.info(),
            profile: profile.name.clone(),
            interrupted,
            credential_source: target.source.label(),
            rotation: plan.rotation.clone(),
            coverage: CoverageGoals {
                min_unique_coverage: self.chat_min_unique_coverage,
                min_unique_users: self.chat_min_unique_users,
            },
            warnings: warnings.clone(),
        };
        let mut report = drill_report(info, &results, baseline, evaluators).await;
        if let Some(exporter) = exporter {
            let warnings = exporter.finish(&report).await;
            for warning in &warnings {
                progress.note(&format!("warning: {warning}"));
            }
            report.warnings.extend(warnings);
        }
        let name = report_file_name("load-drill", &profile.name, *started);
        let path = write_json_atomic(&self.output_dir, &name, &report)?;
        Ok(DrillOutcome { report, path })
    }

    /// Starts the live outputs of a drill of `profile` (none without
    /// `--out`); `side` labels a canary's control or candidate.
    pub(crate) fn start_outputs(
        &self,
        profile: &Profile,
        side: Option<&str>,
    ) -> Result<Option<Exporter>, CliError> {
        let command = std::env::args().nth(1).unwrap_or_default();
        let mut labels = vec![
            ("run_id", self.run_id.clone()),
            ("command", command),
            ("profile", profile.name.clone()),
        ];
        if let Some(side) = side {
            labels.push(("side", side.to_owned()));
        }
        self.outputs.start(labels)
    }

    fn profile(&self) -> Result<Profile, CliError> {
        if let Some(profile) = &self.inline_profile {
            return Ok(profile.clone());
        }
        let name = if self.quick == Some(true) {
            "quick"
        } else {
            self.profile.as_str()
        };
        if name.ends_with(".json") || name.contains('/') {
            Ok(policy::load_profile_file(std::path::Path::new(name))?)
        } else {
            Ok(policy::builtin_profile(name)?)
        }
    }

    /// Client settings from the flags.
    pub(crate) fn client_config(&self) -> ClientConfig {
        self.client.config()
    }

    /// The configuration the drill ran with; secrets appear by name only.
    fn effective_config(
        &self,
        profile: &Profile,
        plan: &DrillPlan,
        secrets: &Secrets,
    ) -> serde_json::Value {
        let scenarios: Vec<&str> = plan
            .scenarios
            .iter()
            .map(|s| s.plugin.descriptor().name.as_str())
            .collect();
        serde_json::json!({
            "profile": profile.name,
            "scenarios": scenarios,
            "chat_load_scale": self.chat_load_scale,
            "chat_concurrency_scale": self.chat_concurrency_scale,
            "chat_duration_scale": self.chat_duration_scale,
            "workers": plan.workers,
            "run_id": self.run_id,
            "outputs": self.outputs.describe(),
            "max_in_flight": self.max_in_flight,
            "connect_timeout_ms": self.client.connect_timeout.as_millis() as u64,
            "request_timeout_ms": self.client.request_timeout.as_millis() as u64,
            "stream_idle_timeout_ms": self.client.stream_idle_timeout.as_millis() as u64,
            "http2": self.client.http2,
            "ca_cert": self.client.ca_cert.as_ref().map(|p| p.display().to_string()),
            "plugin_deadline_ms": self.plugin_deadline.as_millis() as u64,
            "plugin_memory_mib": self.plugin_memory,
            "max_request_body_mib": self.max_request_body,
            "grace_ms": self.grace.as_millis() as u64,
            "seed": self.seed,
            "secrets_set": format!("{secrets:?}"),
            "allowed_secrets": self.allow_secrets,
            "credentials": plan.credentials.len(),
            "chat_rotation_mode": self.chat_rotation_plugin.as_ref().map_or_else(
                || format!("{:?}", self.chat_rotation_mode),
                |p| p.display().to_string(),
            ),
            "chat_rotation_stride": self.chat_rotation_stride,
            "chat_min_unique_coverage": self.chat_min_unique_coverage,
            "chat_min_unique_users": self.chat_min_unique_users,
        })
    }
}

fn default_workers() -> u32 {
    std::thread::available_parallelism().map_or(2, |n| n.get() as u32)
}

/// Runs `plan`, telling `progress` and, when there is one, `exporter`.
pub(crate) async fn run_exported(
    plan: &DrillPlan,
    stop: watch::Receiver<bool>,
    progress: &dyn engine::Progress,
    exporter: Option<&Exporter>,
) -> Result<Vec<engine::ScenarioResult>, engine::EngineError> {
    match exporter {
        Some(exporter) => engine::run(plan, stop, &exporter.progress(progress)).await,
        None => engine::run(plan, stop, progress).await,
    }
}

/// A run id: 16 hex digits from the clock and the process id.
fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!(
        "{:016x}",
        crate::rng::SplitMix64::derive(nanos, u64::from(std::process::id()))
    )
}
