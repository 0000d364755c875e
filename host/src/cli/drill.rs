//! `relhost drill` (alias `run`): staged load against the target's
//! endpoints, SLO gates per scenario, and a report.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::Args;
use clap::builder::BoolishValueParser;

use super::args::{self, ClientArgs, OutputArgs};
use super::deployment::DeploymentArgs;
use super::error::CliError;
use super::live_outputs::LiveOutputArgs;
use super::plugin::RegistryArgs;
use super::printer::Printer;
use super::progress::ConsoleProgress;
use super::signals::stop_on_signal;
use crate::drill::auth_pool::{self, parse_seed};
use crate::drill::scenarios::allowed_secret;
use crate::drill::{
    self, CoverageGoals, DrillOptions, ProfileChoice, RotationChoice, RotationMode,
};
use crate::engine::Segment;
use crate::exit::Exit;
use crate::plugin::Limits;
use crate::policy::Scale;
use crate::report::DrillStatus;

/// Run a load drill. With no base URL anywhere, relhost starts relhost-sim
/// in-process on 127.0.0.1 and drills that.
#[derive(Debug, Args)]
pub struct DrillCommand {
    #[command(flatten)]
    args: DrillArgs,
    #[command(flatten)]
    segment: SegmentArgs,
}

/// One segment of a drill split over several processes or pods.
#[derive(Debug, Args)]
pub(crate) struct SegmentArgs {
    /// Run segment I of N of the drill (I counts from 0); `relhost merge`
    /// joins the N reports into the report of one run. Default: from
    /// JOB_COMPLETION_INDEX and RELHOST_SEGMENTS, as a Kubernetes Indexed Job sets them.
    #[arg(long, value_name = "I/N", value_parser = clap::value_parser!(Segment))]
    segment: Option<Segment>,
    /// Start the load at this instant, RFC 3339 in UTC (e.g.
    /// 2026-12-05T10:00:00Z), so that segments line up.
    #[arg(long, value_name = "RFC3339", value_parser = args::instant)]
    start_at: Option<SystemTime>,
}

/// The environment variable holding a Kubernetes Indexed Job pod's index.
const JOB_COMPLETION_INDEX: &str = "JOB_COMPLETION_INDEX";
/// The environment variable holding the number of segments.
const RELHOST_SEGMENTS: &str = "RELHOST_SEGMENTS";

/// The furthest ahead `--start-at` may be: further is taken for a typo.
const MAX_START_AHEAD: Duration = Duration::from_secs(24 * 3600);

impl SegmentArgs {
    /// When the load starts: refused more than a day ahead.
    fn start_at(&self) -> Result<Option<SystemTime>, CliError> {
        let Some(at) = self.start_at else {
            return Ok(None);
        };
        match at.duration_since(SystemTime::now()) {
            Ok(ahead) if ahead > MAX_START_AHEAD => Err(CliError::BadInput(format!(
                "--start-at {}: {} ahead, more than a day",
                humantime::format_rfc3339_seconds(at),
                humantime::format_duration(Duration::from_secs(ahead.as_secs()))
            ))),
            _ => Ok(Some(at)),
        }
    }

    /// The segment this process runs: the flag, else the Indexed Job's
    /// environment; `None`: the drill is not split.
    fn segment(&self) -> Result<Option<Segment>, CliError> {
        if let Some(segment) = self.segment {
            return Ok(Some(segment));
        }
        let Some(count) = std::env::var_os(RELHOST_SEGMENTS) else {
            return Ok(None);
        };
        let number = |name: &str, value: Option<std::ffi::OsString>| -> Result<u32, CliError> {
            let value = value.ok_or_else(|| {
                CliError::BadInput(format!(
                    "{RELHOST_SEGMENTS} is set, so {name} must say which segment this is"
                ))
            })?;
            value
                .to_str()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| {
                    CliError::BadInput(format!("{name}: {value:?} is not a whole number"))
                })
        };
        let count = number(RELHOST_SEGMENTS, Some(count))?;
        let index = number(JOB_COMPLETION_INDEX, std::env::var_os(JOB_COMPLETION_INDEX))?;
        Segment::new(index, count).map(Some).map_err(|e| {
            CliError::BadInput(format!(
                "{JOB_COMPLETION_INDEX} and {RELHOST_SEGMENTS}: {e}"
            ))
        })
    }
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
    /// Where reports are written; quiet.
    #[command(flatten)]
    output: OutputArgs,
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
    /// Most requests in flight at once, over all workers (of a segment, when
    /// split): connections over HTTP/1.1, streams over --h2-connections with --http2.
    #[arg(long, default_value = "50000", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_in_flight: u64,
    /// Open the connections before the load starts (each worker up to its
    /// share of the requests in flight, --max-in-flight or `load -c`, at
    /// most 1,024; with --http2 all of --h2-connections), so its first
    /// requests find them open. They are counted in the first stage.
    #[arg(long)]
    preconnect: bool,
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
    #[arg(long = "allow-secret", value_name = "NAME", value_parser = allowed_secret)]
    allow_secrets: Vec<String>,
    /// A run parameter for plugins, `NAME=VALUE` (repeatable; the `param` import).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = args::key_value)]
    params: Vec<(String, String)>,
    /// Registry plugins: local registry, cache, lock file, --locked, --forbid-secret.
    #[command(flatten)]
    registry: RegistryArgs,
}

impl DrillCommand {
    /// Runs the drill and writes its report.
    pub async fn run(self) -> Result<Exit, CliError> {
        // From here on, Ctrl-C or SIGTERM ends the drill with a report.
        let stop = stop_on_signal();
        let printer = Printer::stdout(self.args.quiet());
        let progress = ConsoleProgress::new(self.args.quiet());
        let mut options = self.args.options()?;
        options.segment = self.segment.segment()?;
        options.start_at = self.segment.start_at()?;
        let prepared = drill::prepare(&options, &progress, &stop).await?;
        let outcome = prepared.run(stop, &progress).await?;
        printer.summary(&outcome.report);
        printer.line(&format!("report: {}", outcome.path.display()));
        prepared.shutdown().await;
        let status = outcome.report.status;
        match options.segment {
            // A segment's gates see a part of the drill (a coverage floor,
            // say, cannot hold on a part): the merge judges the drill, and
            // a segment that ran to its end succeeded.
            Some(segment) if status == DrillStatus::Fail => {
                printer.line(&format!(
                    "segment {segment}: its gates judge this segment alone; \
                     `relhost merge` judges the drill"
                ));
                Ok(Exit::Pass)
            }
            _ => Ok(status.into()),
        }
    }
}

impl DrillArgs {
    /// Whether to print nothing but errors.
    pub(crate) fn quiet(&self) -> bool {
        self.output.quiet
    }

    /// The target deployment's URLs and key.
    pub(crate) fn deployment(&self) -> &DeploymentArgs {
        &self.deployment
    }

    /// Where reports go.
    pub(crate) fn output_dir(&self) -> &std::path::Path {
        &self.output.output_dir
    }

    /// The checked options of the drill these flags ask for: the profile,
    /// the target (the built-in sim, with its knobs from the environment,
    /// when no URL is given), the credentials and the live outputs'
    /// authentication from the environment.
    pub(crate) fn options(&self) -> Result<DrillOptions, CliError> {
        let target = self.deployment.target()?;
        let profile = if self.quick == Some(true) {
            "quick"
        } else {
            self.profile.as_str()
        };
        Ok(DrillOptions {
            profile: ProfileChoice::Named(profile.to_owned()),
            scenarios: self.scenarios.clone(),
            target,
            demo_users: 1,
            chat_scale: Scale {
                load: self.chat_load_scale,
                concurrency: self.chat_concurrency_scale,
                duration: self.chat_duration_scale,
            },
            plugins: self.plugins.clone(),
            payload_plugins: self.payload_plugins.clone(),
            plugin_data: self.plugin_data.clone(),
            plugin_data_max_bytes: self.plugin_data_max_bytes,
            slo_plugins: self.slo_plugins.clone(),
            slo_baseline: self.slo_baseline.clone(),
            output_dir: self.output.output_dir.clone(),
            outputs: self.outputs.resolve()?,
            run_id: drill::new_run_id(),
            command_line: crate::redact::command_line(),
            plugin_limits: Limits {
                deadline: self.plugin_deadline,
                memory_bytes: self.plugin_memory << 20,
                ..Limits::default()
            },
            max_request_body: usize::try_from(self.max_request_body << 20).unwrap_or(usize::MAX),
            client: self.client.config(),
            workers: self.workers,
            segment: None,
            start_at: None,
            max_in_flight: self.max_in_flight,
            preconnect: self.preconnect,
            grace: self.grace,
            seed: self.seed,
            credentials: auth_pool::from_operator(self.chat_auth_pool_file.as_deref())?,
            rotation: RotationChoice {
                mode: self.chat_rotation_mode,
                plugin: self.chat_rotation_plugin.clone(),
                stride: self.chat_rotation_stride,
                seed: self.chat_rotation_seed,
            },
            coverage: CoverageGoals {
                min_unique_coverage: self.chat_min_unique_coverage,
                min_unique_users: self.chat_min_unique_users,
            },
            allow_secrets: self.allow_secrets.clone(),
            params: self.params.clone(),
            resolve: self.registry.options(self.client.ca_cert.clone()),
            allow_host_header: false,
        })
    }
}
