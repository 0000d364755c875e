//! Serves the sim outside the `relhost` binary (used for benchmarks):
//! `cargo run --release -p relhost-sim --example serve -- --listen=127.0.0.1:8080`.
//! Takes the same flags and environment variables as `relhost sim`.

use std::io::Write;

use clap::Parser;

/// relhost-sim, standalone.
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    args: relhost_sim::SimArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let listen = cli.args.listen();
    let functions = cli.args.functions_listen();
    let cfg = match cli.args.into_config() {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let sim = match relhost_sim::start_at(listen, functions, cfg).await {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: cannot listen on {listen}: {e}");
            return std::process::ExitCode::from(3);
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "relhost-sim listening on {}", sim.base_url());
        let _ = writeln!(out, "function API on {}", sim.functions_url());
        let _ = writeln!(out, "ops token: {}", sim.ops_token());
        let _ = writeln!(out, "deploy key: {}", sim.deploy_key());
        let _ = out.flush();
    }
    let _ = tokio::signal::ctrl_c().await;
    sim.shutdown().await;
    std::process::ExitCode::SUCCESS
}
