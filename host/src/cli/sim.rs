//! `relhost sim`: serve relhost-sim, the built-in reference target.

use clap::Args;

use super::error::CliError;
use super::printer::Printer;
use super::signals::wait_for_signal;
use crate::exit::Exit;

/// Serve relhost-sim until Ctrl-C or SIGTERM. The first line of output is
/// `relhost-sim listening on http://ADDR`.
#[derive(Debug, Args)]
pub struct SimCommand {
    #[command(flatten)]
    args: relhost_sim::SimArgs,
}

impl SimCommand {
    /// Serves the sim until a signal arrives.
    pub async fn run(self) -> Result<Exit, CliError> {
        let listen = self.args.listen();
        let generated_token = self.args.ops_token.is_none();
        let config = self
            .args
            .into_config()
            .map_err(|e| CliError::BadInput(e.to_string()))?;
        let sim = relhost_sim::start(listen, config)
            .await
            .map_err(|e| CliError::CannotRun(format!("cannot listen on {listen}: {e}")))?;
        let printer = Printer::stdout(false);
        printer.line(&format!("relhost-sim listening on {}", sim.base_url()));
        if generated_token {
            // A token the user chose is theirs to know; a generated one is
            // only useful if shown once.
            printer.line(&format!("ops token (generated): {}", sim.ops_token()));
        }
        wait_for_signal().await;
        sim.shutdown().await;
        Ok(Exit::Pass)
    }
}
