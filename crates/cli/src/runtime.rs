//! Wiring a process together: storage, event bus, auth, peers, services, edge, and the
//! listener; then serving until a shutdown signal, draining in-flight calls.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use edge::{EdgeOptions, Readiness, RoutingTable};
use events::Bus;
use kit::{ServiceContext, ServiceDefinition};
use mesh::Config;
use mesh::auth::identity::{IdentityIntrospector, IdentityKeySource};
use mesh::auth::{Authenticator, CachedIntrospector, JwksCache, Revocations, TokenVerifier};
use mesh::peers::{InProcess, Peers};
use mesh::server::{GrpcServices, Shutdown, serve_incoming};
use tokio::net::TcpListener;

use crate::services::Selection;

/// Runs until `shutdown`; `on_listening` is told the bound address (the banner, or a test).
pub async fn serve(
    config: Config,
    selection: Selection,
    listener: TcpListener,
    shutdown: Shutdown,
    on_listening: impl FnOnce(SocketAddr, &Selection),
) -> anyhow::Result<()> {
    let bus = connect_bus(&config).await?;
    serve_with_bus(config, selection, listener, shutdown, on_listening, bus).await
}

/// [`serve`] with a given event bus (tests observe events through it).
pub async fn serve_with_bus(
    config: Config,
    selection: Selection,
    listener: TcpListener,
    shutdown: Shutdown,
    on_listening: impl FnOnce(SocketAddr, &Selection),
    bus: Arc<dyn Bus>,
) -> anyhow::Result<()> {
    let _metrics = mesh::telemetry::metrics_handle();
    // URLs handed out (downloads, share links) name the address actually bound when no
    // public URL is configured (`listen` may say port 0).
    let mut config = config;
    if config.public_url.trim().is_empty() {
        config.public_url = format!("http://{}", listener.local_addr()?);
    }
    let (in_process, incoming) = InProcess::new();
    let peers = Peers::new(config.peers.clone(), Some(in_process));
    // Every process refuses revoked credentials within about a second of their revocation,
    // in whatever topology: it follows identity's revocations on the bus itself.
    let revocations = Arc::new(Revocations::new());
    tokio::spawn(kit::revocations::follow(
        bus.clone(),
        identity::events::CREDENTIAL_REVOKED.subject(),
        revocations.clone(),
        shutdown.clone(),
    ));
    let service_keys = Arc::new(service_keys(&config)?);
    let authenticator = authenticator(&config, &peers, revocations, service_keys.clone())?;

    let mut services = GrpcServices::new();
    for service in config.peers.keys() {
        services.forward(service);
    }
    let mut readiness = Readiness::default();
    for service in &selection.services {
        let database = open_database(&config, service).await?;
        readiness = readiness.with(Arc::new(DatabaseReady {
            name: format!("{} database", service.name),
            database: database.clone(),
        }));
        let context =
            ServiceContext::new(service.name, &config, database, bus.clone(), peers.clone())
                .with_service_keys(service_keys.clone());
        kit::start(service, context, &mut services, &shutdown)
            .await
            .map_err(|error| anyhow::anyhow!("{} service: {error}", service.name))?;
    }
    let (grpc, health) = services.into_router().await?;

    let edge = edge::service(
        grpc,
        EdgeOptions {
            config: config.edge.clone(),
            authenticator: Some(authenticator),
            routing: RoutingTable::new(&config.peers)?,
            readiness,
            shutdown: shutdown.clone(),
            jwks: Some(Arc::new(IdentityKeySource::new(peers.channel("identity")?))),
        },
    );

    // Peers in this process reach each other through the same stack, without sockets.
    let in_process_server = tokio::spawn(serve_incoming(
        incoming,
        edge.clone(),
        config.server.clone(),
        None,
        shutdown.clone(),
    ));

    on_listening(listener.local_addr()?, &selection);
    mesh::server::serve(
        listener,
        edge,
        config.server.clone(),
        Some(health),
        shutdown,
    )
    .await?;
    in_process_server.abort();
    tracing::info!("stopped");
    Ok(())
}

async fn connect_bus(config: &Config) -> anyhow::Result<Arc<dyn Bus>> {
    Ok(match &config.events.nats_url {
        Some(url) => {
            let bus = events::jetstream::JetStreamBus::connect(url, Duration::from_secs(5))
                .await?
                .with_namespace(&config.events.namespace);
            tracing::info!(%url, "event bus: NATS JetStream");
            Arc::new(bus)
        }
        None => Arc::new(events::memory::InProcessBus::default()),
    })
}

/// The service-credential key: configured, or generated once into the data dir.
fn service_keys(config: &Config) -> anyhow::Result<mesh::auth::ServiceKeys> {
    let secret = kit::keys::key_bytes(
        config.auth.service_key.as_ref(),
        "auth.service_key",
        &config.data_dir,
        "service-credential.key",
    )
    .map_err(|error| anyhow::anyhow!(error))?;
    mesh::auth::ServiceKeys::new(&secret)
        .map_err(|error| anyhow::anyhow!("auth.service_key: {error}"))
}

fn authenticator(
    config: &Config,
    peers: &Peers,
    revocations: Arc<Revocations>,
    service_keys: Arc<mesh::auth::ServiceKeys>,
) -> anyhow::Result<Arc<Authenticator>> {
    let identity = peers.channel("identity")?;
    let keys = JwksCache::new(
        Arc::new(IdentityKeySource::new(identity.clone())),
        Duration::from_millis(config.auth.jwks_min_refresh_ms),
    );
    let verifier = TokenVerifier::new(
        &config.auth.issuer,
        &config.auth.audience,
        Duration::from_secs(config.auth.leeway_secs),
        keys,
    );
    let introspector = CachedIntrospector::new(
        Arc::new(IdentityIntrospector::new(identity)),
        Duration::from_millis(config.auth.introspection_cache_ms),
        10_000,
    );
    Ok(Arc::new(
        Authenticator::new(Arc::new(verifier), Some(Arc::new(introspector)))
            .with_revocations(revocations)
            .with_service_keys(service_keys),
    ))
}

/// Migrates `service` with the owner's credentials and grants the runtime role its data
/// privileges.
async fn migrate_service(config: &Config, service: &ServiceDefinition) -> anyhow::Result<()> {
    let mut owner = config.clone();
    if let Some(url) = &config.database.migration_url {
        owner.database.url = Some(url.clone());
    }
    let database = mesh::db::Database::for_service(&owner, service.name).await?;
    database.migrate(&(service.migrations)()).await?;
    database.migrate(&events::migrations()).await?;
    if let Some(role) = &config.database.runtime_role {
        database.grant_runtime_role(role).await?;
    }
    database.close().await;
    Ok(())
}

/// Opens a service's database, migrating first when configured to.
async fn open_database(
    config: &Config,
    service: &ServiceDefinition,
) -> anyhow::Result<mesh::db::Database> {
    if config.database.auto_migrate {
        migrate_service(config, service).await?;
    }
    let database = mesh::db::Database::for_service(config, service.name).await?;
    if let Some(gap) = database.row_level_security_gap().await? {
        tracing::warn!(service = service.name, %gap, "row-level security does not bind the runtime role; use database.runtime_role and a migration_url for the owner in production");
    }
    Ok(database)
}

/// Applies every selected service's migrations.
pub async fn migrate(config: &Config, selection: &Selection) -> anyhow::Result<()> {
    for service in &selection.services {
        migrate_service(config, service).await?;
        println!("migrated {}", service.name);
    }
    Ok(())
}

/// `/readyz`: the database answers.
struct DatabaseReady {
    name: String,
    database: mesh::db::Database,
}

#[async_trait::async_trait]
impl edge::ReadinessCheck for DatabaseReady {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(&self) -> Result<(), String> {
        self.database
            .ping()
            .await
            .map_err(|_| "unreachable".to_string())
    }
}

/// Prints where the process listens and a first call to try (and the web console's address
/// when this process serves it and the services it signs in with).
pub fn print_banner(address: SocketAddr, selection: &Selection, console: bool) {
    let services = if selection.services.is_empty() {
        "none yet (health and reflection only)".to_string()
    } else {
        selection.names().join(", ")
    };
    println!(
        "taskmesh {} listening on http://{address} (native gRPC, grpc-web, /healthz, /readyz, /metrics)\n\
         services: {services}\n\
         try:\n  \
         grpcurl -plaintext {address} list\n  \
         grpcurl -plaintext {address} grpc.health.v1.Health/Check\n  \
         buf curl --protocol grpc --http2-prior-knowledge --list-services http://{address}\n  \
         curl http://{address}/readyz",
        env!("CARGO_PKG_VERSION"),
    );
    if console {
        println!("web console: http://{address}/ (open it in a browser)");
    }
}

/// Triggers `shutdown` on Ctrl-C or SIGTERM.
pub fn spawn_signal_handler(shutdown: Shutdown) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            () = terminate => {}
        }
        tracing::info!("shutdown requested");
        shutdown.trigger();
    });
}
