//! `taskmesh`: the one binary. `serve` runs the mesh (all-in-one by default), `migrate`
//! applies database migrations with the owner role, `bench` measures the mesh.

use cli::{runtime, services};
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use mesh::Config;

/// taskmesh: a multi-tenant work-management backend as a gRPC service mesh.
#[derive(Debug, Parser)]
#[command(name = "taskmesh", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the mesh: every implemented service plus the edge on one port (default), or one
    /// service with `--service`.
    Serve(ServeArgs),
    /// Apply database migrations (run with the schema owner's credentials).
    Migrate(CommonArgs),
    /// Measure the mesh on this machine: throughput, latency percentiles and memory per
    /// scenario, as ratios of a bare tonic baseline (see docs/benchmarks.md).
    Bench(BenchArgs),
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// TOML configuration file for the in-process server.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    options: cli::bench::Options,
}

#[derive(Debug, clap::Args)]
struct CommonArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for embedded SQLite files (default ./data).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Limit to these services (repeatable; default: all implemented services).
    #[arg(long = "service", value_name = "NAME")]
    services: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Address to listen on (default 127.0.0.1:50051; port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
}

fn load_config(args: &CommonArgs, listen: Option<SocketAddr>) -> anyhow::Result<Config> {
    // The only place that reads the process environment.
    let mut config = Config::load(args.config.as_deref(), std::env::vars())?;
    config.ensure_sections(&services::names())?;
    if let Some(data_dir) = &args.data_dir {
        config.data_dir = data_dir.clone();
    }
    if let Some(listen) = listen {
        config.listen = listen;
    }
    Ok(config)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => {
                let config = load_config(&args.common, args.listen)?;
                mesh::telemetry::init_logging(&config.log);
                let selection = services::select(&args.common.services)?;
                let shutdown = mesh::server::Shutdown::new();
                runtime::spawn_signal_handler(shutdown.clone());
                let listener = tokio::net::TcpListener::bind(config.listen).await?;
                let console = config.edge.console && selection.names().contains(&"identity");
                let banner = move |address, selection: &services::Selection| {
                    runtime::print_banner(address, selection, console)
                };
                runtime::serve(config, selection, listener, shutdown, banner).await
            }
            Command::Migrate(args) => {
                let config = load_config(&args, None)?;
                mesh::telemetry::init_logging(&config.log);
                let selection = services::select(&args.services)?;
                runtime::migrate(&config, &selection).await
            }
            Command::Bench(args) => {
                let common = CommonArgs {
                    config: args.config,
                    data_dir: None,
                    services: Vec::new(),
                };
                let config = load_config(&common, None)?;
                cli::bench::run(config, args.options).await
            }
        }
    })
}
