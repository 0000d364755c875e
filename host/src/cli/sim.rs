//! `relhost sim`: serve relhost-sim, the built-in reference target.

use clap::Args;

use super::error::CliError;
use super::printer::Printer;
use super::signals::wait_for_signal;
use crate::exit::Exit;

/// Serve relhost-sim until Ctrl-C or SIGTERM. The first line of output is
/// `relhost-sim listening on http://ADDR` (`https://` with `--tls-cert`),
/// the second `function API on http://ADDR` (the Convex function API: the
/// same address, or `--functions-listen`).
#[derive(Debug, Args)]
pub struct SimCommand {
    #[command(flatten)]
    args: relhost_sim::SimArgs,
}

impl SimCommand {
    /// Serves the sim until a signal arrives.
    pub async fn run(self) -> Result<Exit, CliError> {
        let listen = self.args.listen();
        let functions = self.args.functions_listen();
        let generated_token = self.args.ops_token.is_none();
        let generated_key = self.args.deploy_key.is_none();
        let tls = self
            .args
            .tls()
            .map_err(|e| CliError::BadInput(e.to_string()))?;
        let config = self.args.into_config()?;
        let sim = relhost_sim::start_tls(listen, functions, config, tls)
            .await
            .map_err(|e| CliError::CannotRun(format!("cannot listen on {listen}: {e}")))?;
        let printer = Printer::stdout(false);
        printer.line(&format!("relhost-sim listening on {}", sim.base_url()));
        printer.line(&format!("function API on {}", sim.functions_url()));
        // A secret the user chose is theirs to know; a generated one is
        // only useful if shown once.
        if generated_token {
            printer.line(&format!("ops token (generated): {}", sim.ops_token()));
        }
        if generated_key {
            printer.line(&format!("deploy key (generated): {}", sim.deploy_key()));
        }
        wait_for_signal().await;
        sim.shutdown().await;
        Ok(Exit::Pass)
    }
}
