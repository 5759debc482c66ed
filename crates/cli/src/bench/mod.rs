//! `taskmesh bench`: measures the mesh on this machine. Starts an all-in-one server in this
//! process on a temporary data dir (or targets a running one), seeds a project, drives each
//! scenario over N HTTP/2 connections × M concurrent streams, and reports per-RPC throughput,
//! latency percentiles (HDR histograms), failures by status code, resident memory, and each
//! scenario's throughput as a ratio of `baseline` (a bare tonic server in the same process,
//! same runtime, same concurrency): absolute numbers on shared machines are noise, ratios
//! from one run are not.
//!
//! Nothing here is asserted: CI runs every scenario briefly so the command keeps working, and
//! docs/benchmarks.md records figures from one run.

mod live;
mod load;
mod report;
mod scenarios;
mod world;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mesh::Config;
use tonic::transport::Channel;

use load::{Budget, Shape, Workload};
use report::{Report, ScenarioReport};
use scenarios::{Baseline, Calls, Mix, Mixed};

/// Every scenario, in the order `all` runs them.
pub const SCENARIOS: &[&str] = &[
    "baseline",
    "get-task",
    "list-tasks",
    "create-task",
    "move-task",
    "kanban",
    "login",
    "share",
    "download",
    "upload",
    "watch",
    "events",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Store {
    /// Embedded SQLite in a temporary directory.
    Sqlite,
    /// A scratch database on the PostgreSQL server at --database-url (dropped afterwards).
    Postgres,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BusKind {
    /// The in-process event bus.
    InProcess,
    /// NATS JetStream at --nats-url, under a scratch namespace (streams deleted afterwards).
    Nats,
}

/// Options of `taskmesh bench`.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// Scenarios to run, comma-separated, or `all`: baseline, get-task, list-tasks,
    /// create-task, move-task, kanban, login (argon2id logins alongside kanban), share
    /// (ResolveLink: a share page's view, a visit counted), download (DownloadDocument of
    /// 256 KiB), upload (UploadDocumentVersion of a new 1 MiB document), watch (WatchBoard delivery lag), events (outbox → consumer lag). Baseline
    /// always runs first.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    pub scenario: Vec<String>,
    /// HTTP/2 connections the workers share.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Concurrent streams (closed-loop workers) per connection.
    #[arg(long, default_value_t = 16)]
    pub streams: usize,
    /// How long each scenario runs, e.g. 10s, 500ms, 1m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Run each scenario for this many calls instead of --duration.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Tasks to seed in the bench project (bulk insert).
    #[arg(long, default_value_t = 1_000)]
    pub tasks: i64,
    /// Projects `create-task` spreads its creations over, round robin (creations in one
    /// project take turns for the next task number; more projects measure parallel teams).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub projects: u16,
    /// WatchBoard streams open during `watch` (all the bench user's: the in-process server's
    /// per-user stream cap is raised to admit them; a --target's must admit them).
    #[arg(long, default_value_t = 100)]
    pub watchers: usize,
    /// Writes per second during `watch` and `events` (paced: delivery lag is measured at a
    /// steady write rate, not with writers saturating the server).
    #[arg(long, default_value_t = 100.0)]
    pub write_rate: f64,
    /// Concurrent logins during `login`.
    #[arg(long, default_value_t = 4)]
    pub login_streams: usize,
    /// Where the in-process server keeps its data.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub store: Store,
    /// Which event bus the in-process server uses.
    #[arg(long, value_enum, default_value = "in-process")]
    pub bus: BusKind,
    /// PostgreSQL server for --store postgres (a user allowed to create databases).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub database_url: String,
    /// NATS server for --bus nats.
    #[arg(
        long,
        env = "TASKMESH_BENCH_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: String,
    /// Measure a running mesh at this URL (e.g. http://127.0.0.1:50051) instead of starting
    /// one; a fresh user signs up there, and tasks are seeded through CreateTask.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Exit with an error when any call failed or a scenario completed none (for CI: checks
    /// the command works, asserts no figure).
    #[arg(long)]
    pub check: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, "s"), |at| text.split_at(at));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("not a duration: {text:?} (e.g. 10s, 500ms, 1m)"))?;
    let seconds = match unit {
        "ms" => value / 1_000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("unknown unit {unit:?} (ms, s, m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|error| error.to_string())
}

/// The scenarios asked for, in run order, baseline first.
fn selected(options: &Options) -> anyhow::Result<Vec<&'static str>> {
    let mut wanted: Vec<&'static str> = vec!["baseline"];
    for name in &options.scenario {
        if name == "all" {
            wanted.extend(SCENARIOS);
            continue;
        }
        let known = SCENARIOS
            .iter()
            .find(|scenario| **scenario == name.as_str())
            .with_context(|| {
                format!("unknown scenario {name:?}; known: {}", SCENARIOS.join(", "))
            })?;
        wanted.push(known);
    }
    Ok(SCENARIOS
        .iter()
        .copied()
        .filter(|scenario| wanted.contains(scenario))
        .collect())
}

async fn connections(url: &str, count: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        channels.push(world::connect(url).await?);
    }
    Ok(channels)
}

/// A bare tonic server answering grpc.health.v1.Health/Check, with no layers; returns its URL.
async fn baseline_server() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (_reporter, health) = tonic_health::server::health_reporter();
    // Accepted connections get TCP_NODELAY, as the mesh's do (without it, Nagle's algorithm
    // and delayed ACKs stall some responses by 40 ms).
    let incoming = accept_nodelay(listener);
    tokio::spawn(async move {
        // Keep the reporter alive with the server.
        let _reporter = _reporter;
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(incoming)
            .await
    });
    Ok(format!("http://{address}"))
}

/// The connections `listener` accepts, with TCP_NODELAY set.
fn accept_nodelay(
    listener: tokio::net::TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(|accepted| {
        let stream = accepted?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}

/// Runs the bench and prints its report.
pub async fn run(config: Config, options: Options) -> anyhow::Result<()> {
    let wanted = selected(&options)?;
    let server = match &options.target {
        Some(_) => None,
        None => Some(
            world::Server::start(
                config,
                (options.store == Store::Postgres).then_some(options.database_url.as_str()),
                (options.bus == BusKind::Nats).then_some(options.nats_url.as_str()),
                options.watchers,
            )
            .await?,
        ),
    };
    let url = match (&options.target, &server) {
        (Some(target), _) => target.clone(),
        (None, Some(server)) => format!("http://{}", server.address),
        (None, None) => unreachable!("a server starts when there is no target"),
    };
    let result = measure(&options, &wanted, &url, server.as_ref()).await;
    if let Some(server) = server {
        server.stop().await?;
    }
    let report = result?;
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report.json())?);
    } else {
        report.print();
    }
    if options.check {
        let problems = report.problems();
        anyhow::ensure!(
            problems.is_empty(),
            "bench check failed: {}",
            problems.join("; ")
        );
    }
    Ok(())
}

async fn measure(
    options: &Options,
    wanted: &[&'static str],
    url: &str,
    server: Option<&world::Server>,
) -> anyhow::Result<Report> {
    let shape = Shape {
        connections: options.connections,
        streams: options.streams.max(1),
        budget: match options.requests {
            Some(count) => Budget::Requests(count),
            None => Budget::Duration(options.duration),
        },
    };
    let base_url = baseline_server().await?;
    let base_channels = connections(&base_url, shape.connections).await?;
    let channels = connections(url, shape.connections).await?;
    let needs_world = wanted.iter().any(|scenario| *scenario != "baseline");
    let world = match needs_world {
        true => Some(world::build(&channels[0], server, options.tasks, options.projects).await?),
        false => None,
    };
    let mut settings = BTreeMap::new();
    settings.insert("connections", shape.connections.to_string());
    settings.insert("streams", shape.streams.to_string());
    settings.insert(
        "budget",
        match shape.budget {
            Budget::Duration(duration) => format!("{:?}", duration),
            Budget::Requests(count) => format!("{count} calls"),
        },
    );
    settings.insert("tasks", options.tasks.to_string());
    settings.insert(
        "store",
        match (&options.target, options.store) {
            (Some(target), _) => format!("target {target}"),
            (None, Store::Sqlite) => "sqlite".into(),
            (None, Store::Postgres) => "postgres".into(),
        },
    );
    settings.insert(
        "bus",
        match options.bus {
            BusKind::InProcess => "in-process".into(),
            BusKind::Nats => "nats".into(),
        },
    );
    let mut report = Report {
        machine: report::machine(),
        settings,
        idle_resident_bytes: report::resident_bytes(),
        scenarios: Vec::new(),
    };
    report
        .settings
        .insert("write_rate", format!("{}/s", options.write_rate));
    report
        .settings
        .insert("watchers", options.watchers.to_string());
    report
        .settings
        .insert("projects", options.projects.to_string());
    // Paced writers need few workers: one connection, four streams.
    let writers_shape = Shape {
        connections: 1,
        streams: 4,
        budget: shape.budget,
    };
    let calls = world.map(Calls::new);
    for name in wanted {
        let mixed = |mix: Mix| -> anyhow::Result<Arc<dyn Workload>> {
            let calls = calls.clone().context("scenario needs a project")?;
            Ok(Arc::new(Mixed { calls, mix }))
        };
        if !options.quiet {
            eprintln!("running {name}");
        }
        let (recorder, wall) = match *name {
            "baseline" => {
                load::drive(
                    name,
                    &base_channels,
                    shape,
                    Arc::new(Baseline),
                    options.quiet,
                )
                .await
            }
            "get-task" => {
                load::drive(name, &channels, shape, mixed(Mix::GetTask)?, options.quiet).await
            }
            "list-tasks" => {
                load::drive(
                    name,
                    &channels,
                    shape,
                    mixed(Mix::ListTasks)?,
                    options.quiet,
                )
                .await
            }
            "create-task" => {
                load::drive(
                    name,
                    &channels,
                    shape,
                    mixed(Mix::CreateTask)?,
                    options.quiet,
                )
                .await
            }
            "move-task" => {
                load::drive(name, &channels, shape, mixed(Mix::MoveTask)?, options.quiet).await
            }
            "kanban" => {
                load::drive(name, &channels, shape, mixed(Mix::Kanban)?, options.quiet).await
            }
            "share" => load::drive(name, &channels, shape, mixed(Mix::Share)?, options.quiet).await,
            "download" => {
                load::drive(name, &channels, shape, mixed(Mix::Download)?, options.quiet).await
            }
            "upload" => {
                load::drive(name, &channels, shape, mixed(Mix::Upload)?, options.quiet).await
            }
            "login" => {
                let login_channel = connections(url, 1).await?;
                let logins = Shape {
                    connections: 1,
                    streams: options.login_streams.max(1),
                    budget: shape.budget,
                };
                let (kanban, login) = tokio::join!(
                    load::drive(name, &channels, shape, mixed(Mix::Kanban)?, options.quiet),
                    load::drive(name, &login_channel, logins, mixed(Mix::Login)?, true),
                );
                let (mut recorder, wall) = kanban;
                recorder.merge(login.0);
                (recorder, wall.max(login.1))
            }
            "watch" => {
                let calls = calls.as_ref().context("scenario needs a project")?;
                let writers = load::Paced::new(mixed(Mix::MoveTask)?, options.write_rate);
                live::watch(
                    url,
                    &calls.world,
                    options.watchers,
                    &channels,
                    writers_shape,
                    writers,
                    options.quiet,
                )
                .await?
            }
            "events" => match server {
                Some(server) => {
                    live::events(
                        server.bus.clone(),
                        &channels,
                        writers_shape,
                        load::Paced::new(mixed(Mix::CreateTask)?, options.write_rate),
                        options.quiet,
                    )
                    .await?
                }
                None => {
                    eprintln!("events: skipped (needs the in-process server's bus, not --target)");
                    continue;
                }
            },
            other => anyhow::bail!("unknown scenario {other}"),
        };
        report.scenarios.push(ScenarioReport {
            name: name.to_string(),
            wall,
            recorder,
            resident_bytes: report::resident_bytes(),
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
