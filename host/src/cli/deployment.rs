//! The target deployment's URLs and keys, and where its reliability
//! snapshot is read: flags shared by every command that talks to the
//! backend.
//!
//! A Convex deployment has two URLs: HTTP actions at `NAME.convex.site`
//! (the drill's base URL) and functions at `NAME.convex.cloud`. Given one,
//! the other is derived; both can be given (self-hosted Convex, custom
//! domains).

use clap::{Args, ValueEnum};

use super::error::CliError;
use crate::convex::{self, FunctionAuth, FunctionPath};
use crate::drill::TargetChoice;
use crate::snapshot::{DEFAULT_SNAPSHOT_FUNCTION, DEFAULT_SNAPSHOT_PATH, SnapshotSource};

/// `--base-url`, `--convex-url` and `--deploy-key`.
#[derive(Debug, Clone, Args)]
pub(crate) struct DeploymentArgs {
    /// Base URL of the target's HTTP actions (https://NAME.convex.site); derived from
    /// --convex-url on NAME.convex.cloud; without either, the built-in relhost-sim.
    #[arg(long, env = "RELIABILITY_BASE_URL", value_name = "URL", value_parser = parse_base_url)]
    base_url: Option<http::Uri>,
    /// URL of the Convex deployment's functions (https://NAME.convex.cloud); derived from
    /// --base-url on NAME.convex.site, or from a prod:/dev: deploy key.
    #[arg(long, env = "CONVEX_URL", value_name = "URL", value_parser = parse_base_url)]
    convex_url: Option<http::Uri>,
    /// Convex deploy key, for internal functions such as ops:* (never printed or saved).
    #[arg(
        long,
        env = "CONVEX_DEPLOY_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    deploy_key: Option<String>,
}

impl DeploymentArgs {
    /// The base URL of HTTP actions: given, or derived from the Convex URL.
    pub(crate) fn base_url(&self) -> Option<http::Uri> {
        self.base_url
            .clone()
            .or_else(|| self.convex_url.as_ref().and_then(convex::site_of))
    }

    /// Where requests go: the base URL, else the built-in relhost-sim.
    pub(crate) fn target(&self) -> Result<TargetChoice, CliError> {
        target_choice(self.base_url())
    }

    /// The URL of the deployment's functions: given, or derived from the
    /// base URL or the deploy key.
    pub(crate) fn convex_url(&self) -> Option<http::Uri> {
        self.convex_url
            .clone()
            .or_else(|| self.base_url.as_ref().and_then(convex::cloud_of))
            .or_else(|| {
                self.deploy_key
                    .as_deref()
                    .and_then(convex::cloud_from_deploy_key)
            })
    }

    /// The deploy key, registered as a secret so that no output shows it.
    pub(crate) fn deploy_key(&self) -> Option<String> {
        let key = self.deploy_key.clone().filter(|k| !k.is_empty())?;
        crate::redact::register(&key);
        Some(key)
    }

    /// The function URL, required (commands that only call functions).
    pub(crate) fn required_convex_url(&self) -> Result<http::Uri, CliError> {
        self.convex_url().ok_or_else(|| {
            CliError::BadInput(
                "no Convex deployment: give --convex-url or CONVEX_URL (https://NAME.convex.cloud), \
                 a --base-url on NAME.convex.site, or a prod:/dev: CONVEX_DEPLOY_KEY"
                    .into(),
            )
        })
    }

    /// The deploy key as admin credentials, else anonymous.
    pub(crate) fn admin(&self) -> FunctionAuth {
        self.deploy_key()
            .map_or(FunctionAuth::Anonymous, FunctionAuth::Admin)
    }
}

/// Where the snapshot comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SourceChoice {
    /// The Convex function when the deployment's function URL is known, else the REST route.
    Auto,
    /// The Convex function (--snapshot-function).
    Convex,
    /// The REST route (--snapshot-path) with the ops token.
    Rest,
}

/// `--snapshot-source`, `--snapshot-function`, `--snapshot-path`, `--ops-token`.
#[derive(Debug, Clone, Args)]
pub(crate) struct SnapshotSourceArgs {
    /// Where the live reliability snapshot is read.
    #[arg(long, value_enum, default_value = "auto", value_name = "SOURCE")]
    snapshot_source: SourceChoice,
    /// Convex query of the snapshot, called with {minutes, limit} as the deploy key's admin.
    #[arg(long, default_value = DEFAULT_SNAPSHOT_FUNCTION, value_name = "MODULE:FUNCTION")]
    snapshot_function: FunctionPath,
    /// Path of the REST snapshot endpoint.
    #[arg(long, default_value = DEFAULT_SNAPSHOT_PATH, value_name = "PATH")]
    snapshot_path: String,
    /// Bearer token of the REST ops endpoints (the built-in sim's own when it is the target).
    #[arg(
        long,
        env = "RELIABILITY_OPS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    ops_token: Option<String>,
}

impl SnapshotSourceArgs {
    /// The snapshot source of a target at `base_url` (`None`: only the
    /// function URL is known), or of the built-in `sim`.
    pub(crate) fn source(
        &self,
        deployment: &DeploymentArgs,
        base_url: Option<&http::Uri>,
        sim: Option<&relhost_sim::SimHandle>,
    ) -> Result<SnapshotSource, CliError> {
        let (convex_url, deploy_key) = match sim {
            Some(sim) => (
                sim.functions_url().parse().ok(),
                Some(sim.deploy_key().to_owned()),
            ),
            None => (deployment.convex_url(), deployment.deploy_key()),
        };
        if let Some(key) = &deploy_key {
            crate::redact::register(key);
        }
        let token = self.ops_token(sim);
        let function = |url: http::Uri| SnapshotSource::Function {
            url,
            function: self.snapshot_function.clone(),
            deploy_key: deploy_key.clone(),
        };
        let rest = |base_url: &http::Uri| SnapshotSource::Rest {
            base_url: base_url.clone(),
            path: self.snapshot_path.clone(),
            token: token.clone(),
        };
        match (self.snapshot_source, convex_url, base_url) {
            (SourceChoice::Auto | SourceChoice::Convex, Some(url), _) => Ok(function(url)),
            (SourceChoice::Convex, None, _) => Err(CliError::BadInput(
                "--snapshot-source=convex needs the deployment's function URL: --convex-url or CONVEX_URL (or a --base-url on NAME.convex.site)".into(),
            )),
            (SourceChoice::Auto | SourceChoice::Rest, _, Some(base_url)) => Ok(rest(base_url)),
            (_, _, None) => Err(CliError::BadInput(
                "--snapshot-source=rest needs --base-url or RELIABILITY_BASE_URL".into(),
            )),
        }
    }

    /// The ops token of the REST ops routes: the built-in `sim`'s own, or
    /// the operator's; registered as a secret.
    pub(crate) fn ops_token(&self, sim: Option<&relhost_sim::SimHandle>) -> Option<String> {
        let token = match sim {
            Some(sim) => Some(sim.ops_token().to_owned()),
            None => self.ops_token.clone().filter(|t| !t.is_empty()),
        };
        if let Some(token) = &token {
            crate::redact::register(token);
        }
        token
    }
}

/// `base_url`, or the built-in relhost-sim with its knobs from the environment.
pub(crate) fn target_choice(base_url: Option<http::Uri>) -> Result<TargetChoice, CliError> {
    Ok(match base_url {
        Some(url) => TargetChoice::Url(url),
        None => TargetChoice::BuiltinSim(Box::new(relhost_sim::SimConfig::from_env()?)),
    })
}

/// Parses `--base-url`: an absolute http or https URL.
pub(crate) fn parse_base_url(text: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = text
        .parse()
        .map_err(|e| format!("expected an absolute URL like http://127.0.0.1:8080 ({e})"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) if uri.query().is_none() => Ok(uri),
        _ => Err("expected an absolute http:// or https:// URL without a query, like http://127.0.0.1:8080".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        deployment: DeploymentArgs,
        #[command(flatten)]
        snapshot: SnapshotSourceArgs,
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("t").chain(args.iter().copied())).expect("parses")
    }

    fn kind(cli: &Cli) -> Result<String, CliError> {
        let base = cli.deployment.base_url();
        cli.snapshot
            .source(&cli.deployment, base.as_ref(), None)
            .map(|s| format!("{} {}", s.describe()["kind"], s.describe()["url"]))
    }

    #[test]
    fn either_url_gives_the_other() {
        let cli = parse(&["--convex-url=https://admired-antelope-676.convex.cloud"]);
        assert_eq!(
            cli.deployment.base_url().map(|u| u.to_string()),
            Some("https://admired-antelope-676.convex.site/".into())
        );
        let cli = parse(&["--base-url=https://admired-antelope-676.convex.site"]);
        assert_eq!(
            kind(&cli).ok(),
            Some("\"convex_function\" \"https://admired-antelope-676.convex.cloud/\"".into())
        );
    }

    #[test]
    fn sources_follow_what_is_known() {
        let cli = parse(&["--base-url=http://127.0.0.1:9"]);
        assert!(kind(&cli).is_ok_and(|k| k.starts_with("\"rest\"")));
        let cli = parse(&["--base-url=http://127.0.0.1:9", "--snapshot-source=convex"]);
        assert!(kind(&cli).is_err_and(|e| e.to_string().contains("--convex-url")));
        let cli = parse(&[
            "--base-url=http://127.0.0.1:9",
            "--convex-url=http://127.0.0.1:10",
            "--snapshot-source=rest",
        ]);
        assert!(kind(&cli).is_ok_and(|k| k.starts_with("\"rest\"")));
        let cli = parse(&["--convex-url=http://127.0.0.1:10"]);
        assert!(kind(&cli).is_ok_and(|k| k.starts_with("\"convex_function\"")));
        assert!(
            Cli::try_parse_from(["t", "--snapshot-function=nope"]).is_err(),
            "a function path is checked"
        );
    }
}
