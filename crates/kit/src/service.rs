//! How a service registers itself.
//!
//! A service crate exposes one `pub const SERVICE: ServiceDefinition`: its name (also its
//! config section, its database file or schema, and the `taskmesh.<name>.v1` package it
//! serves), its migrations, and a `build` function that turns a [`ServiceContext`] into a
//! [`Built`] service (the tonic server to mount and any background workers). The binary lists
//! the definitions once and calls [`start`] for the selected ones; nothing else anywhere
//! names a service.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use events::{Bus, OutboxRelay};
use futures::future::BoxFuture;
use mesh::Config;
use mesh::db::{Database, Migrations};
use mesh::peers::{PeerChannel, Peers};
use mesh::server::{GrpcService, GrpcServices, Shutdown};

use crate::store::Storage;

/// Why a service could not be built (bad config section, unreachable peer, storage).
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// Everything the binary needs to know about a service.
#[derive(Clone, Copy)]
pub struct ServiceDefinition {
    /// The service's name: `identity`, `projects`, ...
    pub name: &'static str,
    /// Its migrations (both backends).
    pub migrations: fn() -> Migrations,
    /// Builds the service over a migrated database.
    pub build: fn(ServiceContext) -> BoxFuture<'static, Result<Built, BuildError>>,
}

impl std::fmt::Debug for ServiceDefinition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceDefinition")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a service is built from.
pub struct ServiceContext {
    name: &'static str,
    config: Config,
    storage: Storage,
    bus: Arc<dyn Bus>,
    peers: Peers,
    relay: OutboxRelay,
    service_keys: Option<Arc<mesh::auth::ServiceKeys>>,
}

/// Mints this service's credentials for calling another service for no user (see
/// `mesh::auth::service`): issuer fixed to the service's name.
#[derive(Clone, Debug)]
pub struct ServiceCredentials {
    issuer: &'static str,
    keys: Arc<mesh::auth::ServiceKeys>,
}

impl ServiceCredentials {
    /// A one-minute credential for service `audience` in `organization_id`.
    pub fn mint(
        &self,
        audience: &str,
        organization_id: mesh::ids::OrganizationId,
    ) -> Result<String, mesh::ServiceError> {
        self.keys
            .mint(
                self.issuer,
                audience,
                organization_id,
                mesh::auth::service::MAX_LIFETIME,
            )
            .map_err(|error| mesh::ServiceError::internal("kit", &error))
    }
}

impl ServiceContext {
    /// The context of service `name` over its migrated `database`.
    pub fn new(
        name: &'static str,
        config: &Config,
        database: Database,
        bus: Arc<dyn Bus>,
        peers: Peers,
    ) -> Self {
        let relay = OutboxRelay::new(
            database.clone(),
            bus.clone(),
            Duration::from_millis(config.events.relay_poll_ms),
        );
        Self {
            name,
            config: config.clone(),
            storage: Storage::new(database, relay.waker()),
            bus,
            peers,
            relay,
            service_keys: None,
        }
    }

    /// The deployment's service key, for services that mint service credentials.
    pub fn with_service_keys(mut self, keys: Arc<mesh::auth::ServiceKeys>) -> Self {
        self.service_keys = Some(keys);
        self
    }

    /// This service's credential minter; an error when the process has no service key.
    pub fn service_credentials(&self) -> Result<ServiceCredentials, BuildError> {
        let keys = self
            .service_keys
            .clone()
            .ok_or("this process has no service key (auth.service_key)")?;
        Ok(ServiceCredentials {
            issuer: self.name,
            keys,
        })
    }

    /// The service's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The process configuration (auth, server limits, events, ...).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The service's own config section (`[<name>]`), typed by the service; defaults where
    /// unset, unknown keys refused.
    pub fn section<T>(&self) -> Result<T, BuildError>
    where
        T: serde::de::DeserializeOwned + Default,
    {
        Ok(self.config.section(self.name)?)
    }

    /// The service database with its outbox relay's waker.
    pub fn storage(&self) -> Storage {
        self.storage.clone()
    }

    /// The event bus (for consumers; producers write to the outbox through [`Storage`]).
    pub fn bus(&self) -> Arc<dyn Bus> {
        self.bus.clone()
    }

    /// A channel to peer service `service`, in-process or remote as configured.
    pub fn peer(&self, service: &str) -> Result<PeerChannel, BuildError> {
        Ok(self.peers.channel(service)?)
    }

    /// The largest message the service's tonic server should encode or decode.
    pub fn max_message_bytes(&self) -> usize {
        self.config.server.max_message_bytes
    }
}

type Mount = Box<dyn FnOnce(&mut GrpcServices) + Send>;
type Worker = Box<dyn FnOnce(Shutdown) -> BoxFuture<'static, ()> + Send>;

/// A built service: the server to mount and its background work.
pub struct Built {
    mounts: Vec<Mount>,
    workers: Vec<(&'static str, Worker)>,
}

impl Built {
    /// A service answering with the generated tonic `server`.
    pub fn new<S: GrpcService>(server: S) -> Self {
        Self {
            mounts: Vec::new(),
            workers: Vec::new(),
        }
        .also(server)
    }

    /// Adds another generated tonic server of the same service (a package with several
    /// gRPC services, like projects' ProjectService, BoardService and TaskService).
    pub fn also<S: GrpcService>(mut self, server: S) -> Self {
        self.mounts
            .push(Box::new(move |services: &mut GrpcServices| {
                services.add(server);
            }));
        self
    }

    /// Adds plain HTTP routes the service serves beside its gRPC API (see
    /// `mesh::server::GrpcServices::add_http`).
    pub fn http(mut self, routes: axum::Router) -> Self {
        self.mounts
            .push(Box::new(move |services: &mut GrpcServices| {
                services.add_http(routes);
            }));
        self
    }

    /// Adds background work that runs until the shutdown signal (key rotation, consumers,
    /// schedulers). The outbox relay is not one of these: [`start`] runs it for every service.
    pub fn worker<F, Fut>(mut self, name: &'static str, run: F) -> Self
    where
        F: FnOnce(Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.workers
            .push((name, Box::new(move |shutdown| Box::pin(run(shutdown)))));
        self
    }

    /// Adds a durable consumer named `name` of `subject` (one service's stream, or part of
    /// it) from its beginning, applying each event with `handler` exactly once (up to 10
    /// deliveries, then dead-lettered). A bus that cannot be reached yet is retried every
    /// second; being durable, the consumer misses nothing published meanwhile.
    pub fn consumer(
        self,
        context: &ServiceContext,
        name: &'static str,
        subject: &str,
        handler: std::sync::Arc<dyn events::consumer::Handler>,
    ) -> Self {
        let consumer = events::Consumer::new(
            events::ConsumerConfig {
                name: name.into(),
                filter_subjects: vec![subject.into()],
                ack_wait: std::time::Duration::from_secs(30),
                ephemeral: false,
                start: events::StartAt::Beginning,
            },
            context.bus(),
            context.storage().database,
            handler,
            10,
        );
        self.worker(name, move |shutdown| async move {
            while let Err(error) = consumer.clone().run(shutdown.clone()).await {
                tracing::warn!(consumer = name, %error, "cannot consume events yet; retrying");
                tokio::select! {
                    () = shutdown.wait() => return,
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                }
            }
        })
    }
}

/// Builds the service of `definition` from `context`, mounts it on `services`, and spawns
/// its outbox relay and workers until `shutdown`.
pub async fn start(
    definition: &ServiceDefinition,
    context: ServiceContext,
    services: &mut GrpcServices,
    shutdown: &Shutdown,
) -> Result<(), BuildError> {
    let relay = context.relay.clone();
    let built = (definition.build)(context).await?;
    for mount in built.mounts {
        mount(services);
    }
    tokio_spawn(relay.run(shutdown.clone()));
    for (name, run) in built.workers {
        tracing::debug!(service = definition.name, worker = name, "worker started");
        tokio_spawn(run(shutdown.clone()));
    }
    Ok(())
}

fn tokio_spawn(future: impl Future<Output = ()> + Send + 'static) {
    drop(tokio::spawn(future));
}
