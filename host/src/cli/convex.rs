//! `relhost convex run module:function '{json args}'`: runs any function of
//! the Convex deployment, like `npx convex run`, and prints its value as
//! JSON. As the deploy key's admin when `CONVEX_DEPLOY_KEY` is set (internal
//! functions), as a user with `--user-token`.
//!
//! Exit codes: 0 the function returned; 1 it failed or the deployment
//! refused the call (the message names the function); 2 bad input; 3 the
//! deployment is unreachable.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::args::{self, ClientArgs};
use super::deployment::DeploymentArgs;
use super::error::CliError;
use super::printer::Printer;
use crate::convex::{self, FunctionAuth, FunctionError, FunctionKind, FunctionPath};
use crate::exit::Exit;

/// Run Convex functions on the deployment.
#[derive(Debug, Args)]
pub struct ConvexCommand {
    #[command(subcommand)]
    command: ConvexSubcommand,
}

#[derive(Debug, Subcommand)]
enum ConvexSubcommand {
    /// Run a query, mutation or action and print its value (as `npx convex run`).
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The function: module:function.
    function: FunctionPath,
    /// Its arguments: a JSON object.
    #[arg(default_value = "{}", value_name = "ARGS_JSON", value_parser = args::json_object)]
    args: Value,
    /// The function's kind: query, mutation or action.
    #[arg(long, default_value = "query", value_name = "KIND")]
    kind: FunctionKind,
    /// Call as this user (a Better Auth bearer token) instead of the deploy key's admin.
    #[arg(
        long,
        env = "RELHOST_CONVEX_USER_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    user_token: Option<String>,
    /// The deployment: its URLs and deploy key.
    #[command(flatten)]
    deployment: DeploymentArgs,
    /// Timeouts and a private CA.
    #[command(flatten)]
    client: ClientArgs,
}

impl ConvexCommand {
    /// Runs the subcommand.
    pub async fn run(self) -> Result<Exit, CliError> {
        match self.command {
            ConvexSubcommand::Run(run) => run.run().await,
        }
    }
}

impl RunArgs {
    async fn run(self) -> Result<Exit, CliError> {
        let url = self.deployment.required_convex_url()?;
        let auth = match self.user_token.clone().filter(|t| !t.is_empty()) {
            Some(token) => {
                crate::redact::register(&token);
                FunctionAuth::User(token)
            }
            None => self.deployment.admin(),
        };
        let client = self.client.single_client()?;
        let result =
            convex::call(&client, &url, self.kind, &self.function, &self.args, &auth).await;
        match result {
            Ok(value) => {
                Printer::stdout(false)
                    .line(&serde_json::to_string_pretty(&value).unwrap_or_default());
                Ok(Exit::Pass)
            }
            Err(e) => Ok(report_failure(&e)),
        }
    }
}

/// Prints a failed call and returns its exit code: 3 when the deployment
/// gave no answer, else 1.
pub(crate) fn report_failure(error: &FunctionError) -> Exit {
    eprintln!("relhost: {}", crate::redact::text(&error.to_string()));
    if error.is_unreachable() {
        Exit::CannotRun
    } else {
        Exit::Fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_json_objects() {
        assert!(args::json_object(r#"{"minutes":30,"limit":100}"#).is_ok());
        assert!(
            args::json_object("[1]")
                .unwrap_err()
                .contains("JSON object")
        );
        assert!(
            args::json_object("{minutes:30}")
                .unwrap_err()
                .contains("not JSON")
        );
    }
}
