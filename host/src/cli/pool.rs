//! `relhost pool`: provisions a multi-user chat auth pool (the seed's
//! `reliability:pool`) and writes
//! `chat-auth-pool-<prefix>-<seed>-<start>-<count>.json`.
//!
//! The file is written only when every user succeeded, so a pool file always
//! has exactly `count` entries; otherwise the command lists the failures and
//! exits 1 with no file (an older file of the same name is left as it was).
//! When the first user gets no HTTP answer from an endpoint, the command
//! stops with exit 3 and the URL. Tokens and passwords are never printed.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::args::{self, OutputArgs};
use super::error::CliError;
use super::printer::Printer;
use crate::convex::FunctionPath;
use crate::exit::Exit;
use crate::http::{Client, ClientConfig};
use crate::pool::{
    self, Endpoints, PoolError, ProvisionConfig, ProvisionError, ProvisionProgress, RetryPolicy,
    ThreadCreation, UserOutcome,
};

/// Create (or sign in) `count` load-test users, each with a bearer token and
/// a thread, and write them as a chat auth pool file (mode 0600).
#[derive(Debug, Args)]
pub struct PoolCommand {
    /// Number of users (1 to 100000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    count: u32,
    /// Origin of the app serving the auth endpoints, e.g. http://localhost:3000.
    #[arg(long, value_name = "URL", value_parser = parse_origin)]
    app_origin: http::Uri,
    /// The Convex deployment's function URL (https://NAME.convex.cloud): threads are
    /// created there by --thread-function, as each user.
    #[arg(long, env = "CONVEX_URL", value_name = "URL", value_parser = parse_origin)]
    convex_url: Option<http::Uri>,
    /// The Convex mutation that creates a user's thread.
    #[arg(long, default_value = "threads:create", value_name = "MODULE:FUNCTION")]
    thread_function: FunctionPath,
    /// Arguments of --thread-function (a JSON object).
    #[arg(long, default_value = "{}", value_name = "JSON", value_parser = args::json_object)]
    thread_args: serde_json::Value,
    /// Where the thread id is in the mutation's value (dot-separated keys); default:
    /// the value itself, or its threadId, _id or id.
    #[arg(long, value_name = "PATH")]
    thread_id_path: Option<String>,
    /// Better Auth's Convex token endpoint on the app origin (e.g. /api/auth/convex/token):
    /// the session token is exchanged there for the token the deployment accepts.
    #[arg(long, value_name = "PATH", value_parser = parse_path)]
    convex_token_path: Option<String>,
    /// Email prefix of the users (letters, digits, '_', '-').
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    prefix: String,
    /// Seed of the users' credentials (letters, digits, '_', '-').
    #[arg(long, value_name = "SEED", value_parser = parse_name)]
    seed: String,
    /// Index of the first user.
    #[arg(long, default_value = "1", value_name = "N")]
    start: u32,
    /// Where reports are read and written; --quiet.
    #[command(flatten)]
    output: OutputArgs,
    /// Sign-up path on the app origin.
    #[arg(long, default_value = "/api/auth/sign-up/email", value_name = "PATH", value_parser = parse_path)]
    sign_up_path: String,
    /// Sign-in path on the app origin (used when the user exists).
    #[arg(long, default_value = "/api/auth/sign-in/email", value_name = "PATH", value_parser = parse_path)]
    sign_in_path: String,
    /// Thread-creation route on the app origin (POST {}, answering {threadId});
    /// default without --convex-url: /api/threads.
    #[arg(long, value_name = "PATH", value_parser = parse_path)]
    thread_path: Option<String>,
    /// Most users provisioned at once.
    #[arg(long, default_value = "8", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    parallelism: u32,
    /// Attempts per call, the first included (retried: network errors, 408, 429, 5xx).
    #[arg(long, default_value = "5", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
    max_attempts: u32,
    /// TCP (and TLS) connect timeout.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = args::duration)]
    connect_timeout: Duration,
    /// Time allowed for each answer, body included.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = args::duration)]
    request_timeout: Duration,
    /// PEM file with extra root certificates (a private CA).
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
}

/// Failures listed one by one; beyond this, only their number.
const MAX_FAILURES_LISTED: usize = 20;

impl PoolCommand {
    /// Provisions the users and writes the pool file.
    pub async fn run(self) -> Result<Exit, CliError> {
        let printer = Printer::stdout(self.output.quiet);
        if self.start.checked_add(self.count - 1).is_none() {
            return Err(CliError::BadInput(format!(
                "--start={} with --count={}: the last index does not fit a 32-bit number",
                self.start, self.count
            )));
        }
        let config = self.provision_config()?;
        let client = Client::new(&ClientConfig {
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            stream_idle_timeout: self.request_timeout,
            http2: false,
            ca_cert: self.ca_cert.clone(),
            max_idle_per_host: config.parallelism,
            ..ClientConfig::default()
        })
        .map_err(|e| CliError::BadInput(error_chain(&e)))?;
        let file_name = pool::pool_file_name(&self.prefix, &self.seed, self.start, self.count);

        let progress = Console::new(self.output.quiet, self.count);
        let report = match pool::provision(&client, &config, &progress).await {
            Ok(report) => report,
            Err(error) => {
                progress.finish();
                return Err(unreachable(&error));
            }
        };
        progress.finish();

        let failed = report.failures.len();
        for failure in report.failures.iter().take(MAX_FAILURES_LISTED) {
            eprintln!(
                "relhost: user {} ({}): {}",
                failure.index, failure.email, failure.error
            );
        }
        if failed > MAX_FAILURES_LISTED {
            eprintln!(
                "relhost: ... and {} more failed users",
                failed - MAX_FAILURES_LISTED
            );
        }
        printer.line(&format!(
            "created {}, reused {}, failed {failed}",
            report.created, report.reused
        ));
        if failed > 0 {
            eprintln!(
                "relhost: error: {failed} of {} users failed; no pool file written ({} not changed)",
                self.count,
                self.output.output_dir.join(&file_name).display()
            );
            return Ok(Exit::Fail);
        }
        let path = pool::write_pool_file(&self.output.output_dir, &file_name, &report.entries)
            .map_err(|e| match e {
                PoolError::Write(e) => CliError::Report(e),
                other => CliError::CannotRun(other.to_string()),
            })?;
        printer.line(&format!("pool: {}", path.display()));
        Ok(Exit::Pass)
    }

    fn provision_config(&self) -> Result<ProvisionConfig, CliError> {
        let join = |origin: &http::Uri, path: &str, flag: &str| {
            pool::join_url(origin, path).map_err(|e| CliError::BadInput(format!("{flag}: {e}")))
        };
        let thread = match (&self.thread_path, &self.convex_url) {
            (Some(path), _) => {
                ThreadCreation::Route(join(&self.app_origin, path, "--thread-path")?)
            }
            (None, Some(url)) => ThreadCreation::Function {
                url: url.clone(),
                function: self.thread_function.clone(),
                args: self.thread_args.clone(),
                id_path: self.thread_id_path.clone(),
            },
            (None, None) => {
                ThreadCreation::Route(join(&self.app_origin, "/api/threads", "--thread-path")?)
            }
        };
        let convex_token = self
            .convex_token_path
            .as_deref()
            .map(|path| join(&self.app_origin, path, "--convex-token-path"))
            .transpose()?;
        Ok(ProvisionConfig {
            prefix: self.prefix.clone(),
            seed: self.seed.clone(),
            start: self.start,
            count: self.count,
            endpoints: Endpoints {
                sign_up: join(&self.app_origin, &self.sign_up_path, "--sign-up-path")?,
                sign_in: join(&self.app_origin, &self.sign_in_path, "--sign-in-path")?,
                convex_token,
                thread,
            },
            parallelism: self.parallelism as usize,
            retry: RetryPolicy {
                max_attempts: self.max_attempts,
                ..RetryPolicy::default()
            },
        })
    }
}

/// Exit 3: the first user got no answer from an origin.
fn unreachable(error: &ProvisionError) -> CliError {
    CliError::CannotRun(format!("origin unreachable: {error}"))
}

/// An error and its sources, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(&format!(": {e}"));
        source = e.source();
    }
    text
}

/// Parses `--app-origin`/`--convex-url`: an absolute http(s) URL without a query.
fn parse_origin(text: &str) -> Result<http::Uri, String> {
    let expected =
        "expected an absolute http:// or https:// URL without a query, like http://localhost:3000";
    let uri: http::Uri = text.parse().map_err(|e| format!("{expected} ({e})"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) if uri.query().is_none() => Ok(uri),
        _ => Err(expected.into()),
    }
}

/// Parses `--prefix`/`--seed`.
fn parse_name(text: &str) -> Result<String, String> {
    pool::check_name(text).map(|()| text.to_owned())
}

/// Parses an endpoint path: starts with `/`, no query, no spaces.
fn parse_path(text: &str) -> Result<String, String> {
    if text.starts_with('/')
        && text.parse::<http::uri::PathAndQuery>().is_ok()
        && !text.contains('?')
    {
        Ok(text.to_owned())
    } else {
        Err("expected a path starting with '/', like /api/auth/sign-up/email".into())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Quiet,
    Bar,
    Lines,
}

/// Progress on stderr: a bar on a terminal, a line every 10% otherwise,
/// nothing when quiet.
struct Console {
    mode: Mode,
    bar: Option<ProgressBar>,
    total: u32,
    started: Instant,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    created: u32,
    reused: u32,
    failed: u32,
    next_line: u32,
}

impl Counts {
    fn done(&self) -> u32 {
        self.created + self.reused + self.failed
    }

    fn describe(&self) -> String {
        format!(
            "created {}, reused {}, failed {}",
            self.created, self.reused, self.failed
        )
    }
}

impl Console {
    fn new(quiet: bool, total: u32) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        };
        let bar = (mode == Mode::Bar).then(|| {
            let bar = ProgressBar::new(u64::from(total));
            bar.set_style(
                ProgressStyle::with_template(
                    "users [{bar:24}] {pos}/{len} {elapsed_precise} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        if mode == Mode::Lines {
            eprintln!("provisioning {total} users");
        }
        Console {
            mode,
            bar,
            total,
            started: Instant::now(),
            counts: Mutex::new(Counts::default()),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl ProvisionProgress for Console {
    fn user_finished(
        &self,
        _index: u32,
        _email: &str,
        result: Result<UserOutcome, &ProvisionError>,
    ) {
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        match result {
            Ok(UserOutcome::Created) => counts.created += 1,
            Ok(UserOutcome::Reused) => counts.reused += 1,
            Err(_) => counts.failed += 1,
        }
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(u64::from(counts.done()));
                    bar.set_message(counts.describe());
                }
            }
            Mode::Lines => {
                let done = counts.done();
                // A line at each 10% step and at the end.
                let step = self.total.div_ceil(10);
                if done >= counts.next_line || done == self.total {
                    counts.next_line = (done / step + 1) * step;
                    let elapsed = self.started.elapsed().as_secs_f64();
                    eprintln!(
                        "  users {done}/{} in {elapsed:.1} s: {}",
                        self.total,
                        counts.describe()
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_parsers_state_the_expected_form() {
        assert!(parse_origin("http://localhost:3000").is_ok());
        assert!(parse_origin("https://admired-antelope-676.convex.cloud").is_ok());
        for bad in ["localhost:3000", "ftp://x", "http://x/?a=1", "/api"] {
            assert!(parse_origin(bad).unwrap_err().contains("http://"), "{bad}");
        }
        assert!(parse_path("/api/threads").is_ok());
        for bad in ["api/threads", "/a b", "/a?b=1", ""] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
        assert!(parse_name("loadtestmulti").is_ok());
        assert!(parse_name("a b").is_err());
    }
}
