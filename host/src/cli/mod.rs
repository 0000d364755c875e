//! The command line: one module per subcommand, one printer for output.
//!
//! Every seed script `npm run reliability:X -- ARGS` is `relhost X ARGS`,
//! with the same flags (`--name=value` and `--name value`) and the same
//! environment variables as fallbacks.

mod args;
mod canary;
mod convex;
mod dashboard;
mod deployment;
mod drill;
mod error;
mod gameday;
mod gate;
mod k8s;
mod live_outputs;
mod load;
mod merge;
mod milestone;
mod plugin;
mod pool;
mod printer;
mod probe;
mod progress;
mod region;
mod signals;
mod sim;
mod snapshot;
mod tool_cache;

use clap::{Parser, Subcommand};

pub use canary::CanaryCommand;
pub use convex::ConvexCommand;
pub use dashboard::DashboardCommand;
pub use drill::DrillCommand;
pub use error::CliError;
pub use gameday::GamedayCommand;
pub use gate::GateCommand;
pub use k8s::K8sCommand;
pub use load::LoadCommand;
pub use merge::MergeCommand;
pub use milestone::MilestoneGateCommand;
pub use plugin::PluginCommand;
pub use pool::PoolCommand;
pub use probe::ProbeCommand;
pub use region::RegionReadinessCommand;
pub use sim::SimCommand;
pub use snapshot::SnapshotCommand;
pub use tool_cache::ToolCacheCommand;

use crate::exit::Exit;

/// relhost: reliability drills with sandboxed WebAssembly scenario plugins.
#[derive(Debug, Parser)]
#[command(name = "relhost", version, about, max_term_width = 100)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare a candidate with its control under the same load (Mann–Whitney per metric).
    Canary(Box<CanaryCommand>),
    /// Run a Convex function of the deployment (as `npx convex run`).
    Convex(Box<ConvexCommand>),
    /// Summarize the reports as an SLO dashboard: JSON, Markdown and an offline HTML page.
    Dashboard(Box<DashboardCommand>),
    /// Run a load drill: staged load against the target's endpoints, SLO gates, a report.
    #[command(visible_alias = "run")]
    Drill(Box<DrillCommand>),
    /// The release gate: synthetic probes, a drill, live snapshot checks and burn-rate gates.
    Gate(Box<GateCommand>),
    /// A game day: drills framed by a steady-state hypothesis, with a fault schedule.
    Gameday(Box<GamedayCommand>),
    /// Write Kubernetes manifests that run a drill as N segments and merge them.
    K8s(Box<K8sCommand>),
    /// An ad-hoc load against one URL, as wrk and oha offer (-c, -q, -z, -m, -H, -d).
    Load(Box<LoadCommand>),
    /// Merge the reports of a drill's segments into the report of one run.
    Merge(Box<MergeCommand>),
    /// A milestone gate: the milestone's profile, judged by the milestone policy.
    MilestoneGate(Box<MilestoneGateCommand>),
    /// Inspect, scaffold, push, pull and list plugins (OCI registries and a local one).
    Plugin(Box<PluginCommand>),
    /// Create (or sign in) load-test users and write a chat auth pool file.
    Pool(Box<PoolCommand>),
    /// Run synthetic probes: one checked request per entrypoint.
    Probe(Box<ProbeCommand>),
    /// Decide whether single-region launch holds or the multi-region program is triggered.
    RegionReadiness(Box<RegionReadinessCommand>),
    /// Serve relhost-sim, the built-in reference target.
    Sim(Box<SimCommand>),
    /// Fetch, print and save the target's live reliability snapshot.
    Snapshot(Box<SnapshotCommand>),
    /// Read (stats) or clear a namespace of the backend's tool cache.
    ToolCache(Box<ToolCacheCommand>),
}

/// Parses the command line, runs the command and maps its outcome to an exit code.
pub fn run() -> Exit {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::BadInput
            } else {
                Exit::Pass
            };
            let _ = e.print();
            return code;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("relhost: error: cannot start the async runtime: {e}");
            return Exit::CannotRun;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Dashboard(command) => command.run().await,
            Command::Canary(command) => command.run().await,
            Command::Convex(command) => command.run().await,
            Command::Drill(command) => command.run().await,
            Command::Gate(command) => command.run().await,
            Command::Gameday(command) => command.run().await,
            Command::K8s(command) => command.run().await,
            Command::Load(command) => command.run().await,
            Command::Merge(command) => command.run().await,
            Command::MilestoneGate(command) => command.run().await,
            Command::Plugin(command) => command.run().await,
            Command::Pool(command) => command.run().await,
            Command::Probe(command) => command.run().await,
            Command::RegionReadiness(command) => command.run().await,
            Command::Sim(command) => command.run().await,
            Command::Snapshot(command) => command.run().await,
            Command::ToolCache(command) => command.run().await,
        }
    });
    // Don't wait for tasks blocked on the network once the command is done.
    runtime.shutdown_background();
    match outcome {
        Ok(exit) => exit,
        Err(error) => {
            eprintln!("relhost: error: {}", crate::redact::text(&chain(&error)));
            error.exit()
        }
    }
}

/// An error and its causes on one line (a cause its message already
/// includes is not repeated).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
