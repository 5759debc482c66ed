//! Server bootstrap shared by every taskmesh process.
//!
//! [`GrpcServices`] collects the gRPC services a process mounts and, with
//! [`GrpcServices::forward`], the services it answers by forwarding them to a peer (the
//! edge's `[peers]`). [`GrpcServices::into_router`] adds `grpc.health.v1` (one status per
//! mounted service plus the overall `""`; a forwarded service's health is its peer's
//! business) and reflection v1 and v1alpha, listing and describing exactly the mounted and
//! forwarded services (each once), so a client of the public door discovers every service
//! it can call and nothing it discovers answers UNIMPLEMENTED here. [`serve`] runs any such
//! service on a listener with the shared limits: deadlines (DEADLINE_EXCEEDED, see
//! [`crate::deadline`]), per-connection concurrency limit with load shedding
//! (RESOURCE_EXHAUSTED), HTTP/1.1 accepted beside HTTP/2 (for grpc-web), and graceful
//! shutdown: health flips to NOT_SERVING, the listener closes, in-flight calls drain for up
//! to the configured grace period, then the server stops.

use std::convert::Infallible;
use std::sync::{Arc, LazyLock};

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic::transport::server::Connected;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::Service;

use crate::config::ServerConfig;
use crate::telemetry::RpcLayer;

/// Service names that are always served.
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
/// Reflection v1.
pub const REFLECTION_V1: &str = "grpc.reflection.v1.ServerReflection";
/// Reflection v1alpha (grpcurl 1.8, Python grpcio-reflection).
pub const REFLECTION_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

/// A generated tonic server that [`GrpcServices::add`] can mount.
pub trait GrpcService:
    Service<
        http::Request<Body>,
        Error = Infallible,
        Response: axum::response::IntoResponse,
        Future: Send + 'static,
    > + NamedService
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> GrpcService for S where
    S: Service<
            http::Request<Body>,
            Error = Infallible,
            Response: axum::response::IntoResponse,
            Future: Send + 'static,
        > + NamedService
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// The gRPC services one process mounts, and those it forwards.
#[derive(Default)]
pub struct GrpcServices {
    routes: RoutesBuilder,
    names: Vec<String>,
    forwarded: Vec<String>,
    http: axum::Router,
}

impl GrpcServices {
    /// No services yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mounts a generated tonic server.
    pub fn add<S: GrpcService>(&mut self, service: S) -> &mut Self {
        self.names.push(S::NAME.to_string());
        self.routes.add_service(service);
        self
    }

    /// Adds plain HTTP routes a service serves beside its gRPC API (a download URL, a public
    /// page). They sit behind the same layers as the gRPC services (request id, limits,
    /// authentication when a credential is sent); their paths must not start with `/taskmesh.`
    /// or `/grpc.`.
    pub fn add_http(&mut self, routes: axum::Router) -> &mut Self {
        self.http = std::mem::take(&mut self.http).merge(routes);
        self
    }

    /// Records that this process answers the gRPC services of package
    /// `taskmesh.<service>.v1` (`service` is a `[peers]` key such as `projects`) by
    /// forwarding them, so reflection lists and describes them. The calls themselves are
    /// forwarded by the edge's routing table; health does not report them.
    ///
    /// The services are those the contracts (`taskmesh::FILE_DESCRIPTOR_SET`) declare in
    /// that package: `forward("projects")` adds `taskmesh.projects.v1.ProjectService`,
    /// `...BoardService` and `...TaskService`. A name that is not a taskmesh package, or one
    /// that declares no service, adds nothing (there is nothing to describe). Forwarding the
    /// same package twice, or a mounted service, lists it once.
    pub fn forward(&mut self, service: &str) -> &mut Self {
        for name in contract_services_of(service) {
            if !self.forwarded.contains(&name) {
                self.forwarded.push(name);
            }
        }
        self
    }

    /// The fully-qualified names of the mounted taskmesh services.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The fully-qualified names of the forwarded taskmesh services (see [`Self::forward`]).
    pub fn forwarded(&self) -> &[String] {
        &self.forwarded
    }

    /// Adds health and reflection and returns the router with its health reporter.
    pub async fn into_router(
        self,
    ) -> Result<(axum::Router, Health), tonic_reflection::server::Error> {
        let Self {
            mut routes,
            names,
            forwarded,
            http,
        } = self;
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let listed = reflected_services(&names, &forwarded);
        let health = Health {
            reporter,
            names: Arc::new(names),
        };
        health.set_all(ServingStatus::Serving).await;

        let reflection = || {
            listed.iter().fold(
                tonic_reflection::server::Builder::configure()
                    .include_reflection_service(false)
                    .register_encoded_file_descriptor_set(taskmesh::FILE_DESCRIPTOR_SET)
                    .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                    .register_encoded_file_descriptor_set(
                        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
                    )
                    .register_encoded_file_descriptor_set(
                        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
                    ),
                |builder, name| builder.with_service_name(name.clone()),
            )
        };
        routes.add_service(health_service);
        routes.add_service(reflection().build_v1()?);
        routes.add_service(reflection().build_v1alpha()?);
        Ok((
            routes.routes().prepare().into_axum_router().merge(http),
            health,
        ))
    }
}

/// What reflection lists: the mounted services, then the forwarded ones not also mounted,
/// then health and reflection themselves; each name once.
fn reflected_services(mounted: &[String], forwarded: &[String]) -> Vec<String> {
    let mut listed: Vec<String> = Vec::new();
    let always = [HEALTH_SERVICE, REFLECTION_V1, REFLECTION_V1ALPHA].map(String::from);
    for name in mounted.iter().chain(forwarded).chain(&always) {
        if !listed.contains(name) {
            listed.push(name.clone());
        }
    }
    listed
}

/// Every service the contracts declare, as (package, fully-qualified service name), decoded
/// once from the descriptor set compiled into the binary.
static CONTRACT_SERVICES: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    let set =
        <prost_types::FileDescriptorSet as prost::Message>::decode(taskmesh::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set compiled in by build.rs decodes");
    set.file
        .iter()
        .flat_map(|file| {
            let package = file.package().to_string();
            file.service
                .iter()
                .map(move |service| (package.clone(), format!("{package}.{}", service.name())))
        })
        .collect()
});

/// The HTTP paths (`/<package>.<Service>/<Method>`) of every contract method whose client
/// streams (an upload): their request bodies are bounded by the service's own cap as bytes
/// arrive, each message by the message size limit, not by the edge's body limit.
static CLIENT_STREAMING: LazyLock<std::collections::HashSet<String>> = LazyLock::new(|| {
    let set =
        <prost_types::FileDescriptorSet as prost::Message>::decode(taskmesh::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set compiled in by build.rs decodes");
    set.file
        .iter()
        .flat_map(|file| {
            let package = file.package().to_string();
            file.service.iter().flat_map(move |service| {
                let prefix = format!("/{package}.{}/", service.name());
                service
                    .method
                    .iter()
                    .filter(|method| method.client_streaming())
                    .map(move |method| format!("{prefix}{}", method.name()))
            })
        })
        .collect()
});

/// Whether `path` is a client-streaming contract method (see [`CLIENT_STREAMING`]): one
/// hash lookup, as the edge asks it of every request.
pub fn is_client_streaming(path: &str) -> bool {
    CLIENT_STREAMING.contains(path)
}

/// The fully-qualified names of the services of package `taskmesh.<service>.v1`, in
/// declaration order; none for a name that is not a taskmesh package.
fn contract_services_of(service: &str) -> Vec<String> {
    let package = format!("taskmesh.{service}.v1");
    CONTRACT_SERVICES
        .iter()
        .filter(|(declared, _)| *declared == package)
        .map(|(_, name)| name.clone())
        .collect()
}

/// The process's health statuses.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    names: Arc<Vec<String>>,
}

impl Health {
    /// Sets every mounted service and the overall status (`""`).
    pub async fn set_all(&self, status: ServingStatus) {
        for name in self.names.iter() {
            self.reporter.set_service_status(name, status).await;
        }
        self.reporter.set_service_status("", status).await;
    }

    /// The reporter, for per-service changes (a dependency went away).
    pub fn reporter(&self) -> &HealthReporter {
        &self.reporter
    }
}

/// A one-shot shutdown signal that many tasks can wait on.
#[derive(Clone)]
pub struct Shutdown {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// Not yet triggered.
    pub fn new() -> Self {
        Self {
            sender: Arc::new(watch::channel(false).0),
        }
    }

    /// Starts the shutdown.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    /// True once triggered.
    pub fn is_triggered(&self) -> bool {
        *self.sender.borrow()
    }

    /// Resolves once triggered.
    pub async fn wait(&self) {
        let mut receiver = self.sender.subscribe();
        let _ = receiver.wait_for(|triggered| *triggered).await;
    }
}

/// Serves `service` on a TCP listener until `shutdown`, then drains. See [`serve_incoming`].
pub async fn serve<S, ResBody>(
    listener: TcpListener,
    service: S,
    config: ServerConfig,
    health: Option<Health>,
    shutdown: Shutdown,
) -> Result<(), tonic::transport::Error>
where
    S: Service<http::Request<Body>, Response = http::Response<ResBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Default + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Nagle's algorithm would hold a response's trailers back until the client acknowledges
    // its headers (a delayed ACK: tens of milliseconds per call on loopback).
    let incoming = tokio_stream::StreamExt::map(TcpListenerStream::new(listener), |accepted| {
        if let Ok(stream) = &accepted
            && let Err(error) = stream.set_nodelay(true)
        {
            tracing::debug!(%error, "cannot disable Nagle's algorithm on a connection");
        }
        accepted
    });
    serve_incoming(incoming, service, config, health, shutdown).await
}

/// Serves `service` on any stream of connections (TCP, or in-process duplex pipes).
///
/// On `shutdown`: every health status becomes NOT_SERVING, no new connection is accepted,
/// in-flight calls finish (up to `config.shutdown_grace`), then this returns.
pub async fn serve_incoming<S, ResBody, I, IO, IE>(
    incoming: I,
    service: S,
    config: ServerConfig,
    health: Option<Health>,
    shutdown: Shutdown,
) -> Result<(), tonic::transport::Error>
where
    S: Service<http::Request<Body>, Response = http::Response<ResBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Default + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: Stream<Item = Result<IO, IE>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let signal = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.wait().await;
            if let Some(health) = health {
                health.set_all(ServingStatus::NotServing).await;
            }
            tracing::info!("shutting down: draining in-flight calls");
        }
    };
    let server = tonic::transport::Server::builder()
        .accept_http1(true)
        .concurrency_limit_per_connection(config.concurrency_limit.max(1))
        .load_shed(true)
        .layer(RpcLayer {
            trusted_proxies: crate::client_ip::TrustedProxies::new(&config.trusted_proxies),
        })
        .layer(
            crate::deadline::DeadlineLayer::new(config.default_deadline())
                .with_uploads(std::time::Duration::from_millis(config.upload_deadline_ms)),
        )
        .serve_with_incoming_shutdown(service, incoming, signal);
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result,
        () = async {
            shutdown.wait().await;
            tokio::time::sleep(config.shutdown_grace()).await;
        } => {
            tracing::warn!("shutdown grace period over: abandoning in-flight calls");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn forwarding_a_package_adds_every_service_it_declares() {
        let mut services = GrpcServices::new();
        services.forward("projects");
        let mut forwarded = services.forwarded().to_vec();
        forwarded.sort();
        assert_eq!(
            forwarded,
            names(&[
                "taskmesh.projects.v1.BoardService",
                "taskmesh.projects.v1.ProjectService",
                "taskmesh.projects.v1.TaskService",
            ])
        );
        assert!(services.names().is_empty(), "forwarding mounts nothing");
    }

    #[test]
    fn forwarding_an_unknown_package_adds_nothing() {
        let mut services = GrpcServices::new();
        services
            .forward("billing")
            .forward("")
            .forward("projects.v1");
        assert!(
            services.forwarded().is_empty(),
            "{:?}",
            services.forwarded()
        );
    }

    #[test]
    fn forwarding_twice_lists_once() {
        let mut services = GrpcServices::new();
        services.forward("tenancy").forward("tenancy");
        assert_eq!(
            services.forwarded(),
            names(&["taskmesh.tenancy.v1.TenancyService"])
        );
    }

    #[test]
    fn reflection_lists_mounted_and_forwarded_services_once() {
        let mounted = names(&["taskmesh.identity.v1.IdentityService"]);
        let forwarded = names(&[
            "taskmesh.identity.v1.IdentityService",
            "taskmesh.tenancy.v1.TenancyService",
        ]);
        assert_eq!(
            reflected_services(&mounted, &forwarded),
            names(&[
                "taskmesh.identity.v1.IdentityService",
                "taskmesh.tenancy.v1.TenancyService",
                HEALTH_SERVICE,
                REFLECTION_V1,
                REFLECTION_V1ALPHA,
            ])
        );
    }

    #[tokio::test]
    async fn health_reports_only_mounted_services() {
        let mut services = GrpcServices::new();
        services.forward("tenancy");
        let (_router, health) = services.into_router().await.unwrap();
        assert!(health.names.is_empty(), "{:?}", health.names);
    }
}
