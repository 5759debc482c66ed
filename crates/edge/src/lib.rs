//! The public door: one listener for native gRPC (HTTP/2, h2c) and grpc-web (HTTP/1.1 and
//! HTTP/2, binary and text), plus `/healthz`, `/readyz` and `/metrics`, and (unless
//! `edge.console = false`) the web console at `/` and `/assets/*` (crate `console`).
//!
//! Request path, outermost first: request id, span and metrics (mesh's `RpcLayer`) → browser
//! split (only grpc-web and CORS preflight requests go through CORS and
//! tonic-web; native gRPC skips both) → body size limit → per-IP rate limit → authentication → per-principal
//! rate limit → the routing table (in-process service, or forwarding to the remote address
//! configured for that service). The plain HTTP routes (probes, JWKS, console) sit beside
//! the gRPC router, before authentication and the rate limits: they need no credentials.
//! Invariants: the edge holds no state; every service still verifies tokens itself (the
//! edge is not the only check); a rate-limited call gets RESOURCE_EXHAUSTED with
//! `retry-after`, never an HTTP error a gRPC client cannot read.

pub mod browser;
pub mod http_routes;
pub mod limits;
pub mod routing;

use std::sync::Arc;

use mesh::auth::{AuthLayer, Authenticator};
use mesh::config::EdgeConfig;
use mesh::server::Shutdown;

pub use http_routes::{Readiness, ReadinessCheck};
pub use routing::RoutingTable;

/// Everything the edge needs besides the in-process services.
pub struct EdgeOptions {
    /// CORS, limits.
    pub config: EdgeConfig,
    /// Verifies credentials; `None` accepts only anonymous calls (public methods).
    pub authenticator: Option<Arc<Authenticator>>,
    /// Services forwarded to remote addresses.
    pub routing: RoutingTable,
    /// What `/readyz` checks.
    pub readiness: Readiness,
    /// Flips `/readyz` to 503 when shutting down.
    pub shutdown: Shutdown,
    /// Source of `/.well-known/jwks.json` (identity's published keys), if served.
    pub jwks: Option<Arc<dyn mesh::auth::KeySource>>,
}

/// The edge as one service, ready for `mesh::server::serve`.
pub type EdgeService = tower::util::BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<axum::body::Body>,
    std::convert::Infallible,
>;

/// Builds the edge around `grpc`, the router of in-process gRPC services (with health and
/// reflection, from `mesh::server::GrpcServices::into_router`).
pub fn service(grpc: axum::Router, options: EdgeOptions) -> EdgeService {
    let EdgeOptions {
        config,
        authenticator,
        routing,
        readiness,
        shutdown,
        jwks,
    } = options;
    let mut grpc = grpc.fallback_service(routing.into_service());
    if config.rate_limit.per_principal_per_second > 0 {
        grpc = grpc.layer(limits::RateLimitLayer::per_principal(
            config.rate_limit.per_principal_per_second,
            config.rate_limit.per_principal_burst,
        ));
    }
    if let Some(authenticator) = authenticator {
        grpc = grpc.layer(AuthLayer::new(authenticator));
    }
    if config.rate_limit.per_ip_per_second > 0 {
        grpc = grpc.layer(limits::RateLimitLayer::per_ip(
            config.rate_limit.per_ip_per_second,
            config.rate_limit.per_ip_burst,
        ));
    }
    // Install the metrics recorder before the first request is counted.
    let _ = mesh::telemetry::metrics_handle();
    let mut app = http_routes::router(readiness, shutdown, jwks);
    if config.console {
        app = app.merge(console::router());
    }
    // Merged last: the gRPC router's fallback (forwarding, else UNIMPLEMENTED) answers every
    // path the plain routes do not claim.
    let app = app.merge(grpc);
    // The body limit sits inside the browser split so that its refusal is translated to
    // grpc-web for browsers like every other status.
    tower::util::BoxCloneSyncService::new(
        tower::ServiceBuilder::new()
            .layer(browser::BrowserLayer::new(&config.cors_allowed_origins))
            .layer(limits::BodyLimitLayer::new(config.max_request_bytes))
            .service(app),
    )
}
