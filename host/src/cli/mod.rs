//! The command line: one module per subcommand, one printer for output.
//!
//! Every seed script `npm run reliability:X -- ARGS` is `relhost X ARGS`,
//! with the same flags (`--name=value` and `--name value`) and the same
//! environment variables as fallbacks.

mod args;
mod drill;
mod error;
mod pool;
mod printer;
mod progress;
mod signals;
mod sim;

use clap::{Parser, Subcommand};

pub use drill::DrillCommand;
pub use error::CliError;
pub use pool::PoolCommand;
pub use sim::SimCommand;

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
    /// Run a load drill: staged load against the target's endpoints, SLO gates, a report.
    #[command(visible_alias = "run")]
    Drill(Box<DrillCommand>),
    /// Create (or sign in) load-test users and write a chat auth pool file.
    Pool(Box<PoolCommand>),
    /// Serve relhost-sim, the built-in reference target.
    Sim(Box<SimCommand>),
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
            Command::Drill(command) => command.run().await,
            Command::Pool(command) => command.run().await,
            Command::Sim(command) => command.run().await,
        }
    });
    // Don't wait for tasks blocked on the network once the command is done.
    runtime.shutdown_background();
    match outcome {
        Ok(exit) => exit,
        Err(error) => {
            eprintln!("relhost: error: {error}");
            error.exit()
        }
    }
}
