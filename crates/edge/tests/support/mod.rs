//! A test double of a taskmesh service (analytics: three small methods) and helpers to run
//! an edge around it on a loopback port.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use edge::{EdgeOptions, Readiness, RoutingTable};
use mesh::auth::{AccessClaims, Authenticator, JwksCache, SigningKey, TokenVerifier};
use mesh::config::EdgeConfig;
use mesh::error::ServiceError;
use mesh::server::{GrpcServices, Health, Shutdown};
use taskmesh::analytics::v1::analytics_service_server::{AnalyticsService, AnalyticsServiceServer};
use taskmesh::analytics::v1::*;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Answers with a marker so tests can tell which process handled a call.
#[derive(Clone)]
pub struct TestAnalytics {
    pub marker: i64,
    pub calls: Arc<AtomicUsize>,
    /// GetLinkMetrics waits for a permit here: an in-flight call the test controls.
    pub gate: Arc<Semaphore>,
    pub entered: Arc<Semaphore>,
}

impl TestAnalytics {
    pub fn new(marker: i64) -> Self {
        Self {
            marker,
            calls: Arc::default(),
            gate: Arc::new(Semaphore::new(0)),
            entered: Arc::new(Semaphore::new(0)),
        }
    }
}

#[tonic::async_trait]
impl AnalyticsService for TestAnalytics {
    async fn get_task_metrics(
        &self,
        request: tonic::Request<GetTaskMetricsRequest>,
    ) -> Result<tonic::Response<GetTaskMetricsResponse>, tonic::Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let request = request.into_inner();
        let start = request.start_time.map(|t| t.seconds).unwrap_or_default();
        let end = request.end_time.map(|t| t.seconds).unwrap_or_default();
        if end <= start {
            return Err(ServiceError::invalid_field(
                "analytics.taskmesh",
                "end_time",
                "must be after start_time",
            )
            .with_field_violation("start_time", "must be before end_time")
            .into_status());
        }
        Ok(tonic::Response::new(GetTaskMetricsResponse::default()))
    }

    async fn get_link_metrics(
        &self,
        _request: tonic::Request<GetLinkMetricsRequest>,
    ) -> Result<tonic::Response<GetLinkMetricsResponse>, tonic::Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.entered.add_permits(1);
        let _permit = self
            .gate
            .acquire()
            .await
            .map_err(|_| tonic::Status::aborted("gate closed"))?;
        Ok(tonic::Response::new(GetLinkMetricsResponse {
            visit_count: self.marker,
            ..Default::default()
        }))
    }

    async fn get_organization_dashboard(
        &self,
        request: tonic::Request<GetOrganizationDashboardRequest>,
    ) -> Result<tonic::Response<GetOrganizationDashboardResponse>, tonic::Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let principal = mesh::auth::require_principal(&request)?;
        let organization_id = principal.organization()?;
        Ok(tonic::Response::new(GetOrganizationDashboardResponse {
            dashboard: Some(OrganizationDashboard {
                organization_id: organization_id.to_string(),
                project_count: self.marker,
                ..Default::default()
            }),
        }))
    }
}

/// Signs tokens the edge under test accepts.
pub struct Tokens {
    pub key: SigningKey,
}

impl Tokens {
    pub fn new() -> Self {
        Self {
            key: SigningKey::generate("test-key"),
        }
    }

    pub fn authenticator(&self) -> Arc<Authenticator> {
        let keys = JwksCache::new(Arc::new(vec![self.key.public_key()]), Duration::ZERO);
        let verifier = TokenVerifier::new("taskmesh", "taskmesh", Duration::from_secs(5), keys);
        Arc::new(Authenticator::new(Arc::new(verifier), None))
    }

    pub fn access_token(&self, organization_id: mesh::ids::OrganizationId) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        self.key
            .sign(&AccessClaims {
                iss: "taskmesh".into(),
                aud: "taskmesh".into(),
                sub: mesh::ids::UserId::new().to_string(),
                org: Some(organization_id.to_string()),
                role: Some("member".into()),
                typ: "access".into(),
                iat: now,
                nbf: now,
                exp: now + 600,
                jti: uuid_like(),
                sid: None,
            })
            .unwrap()
    }
}

fn uuid_like() -> String {
    mesh::ids::EventId::new().to_string()
}

/// A running edge.
pub struct RunningEdge {
    pub address: SocketAddr,
    pub shutdown: Shutdown,
    pub health: Health,
    pub task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl RunningEdge {
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(self.url())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn stop(self) {
        self.shutdown.trigger();
        self.task.await.unwrap().unwrap();
    }
}

/// Default edge settings for tests: any origin on the allow-list below, generous limits.
pub fn test_config() -> EdgeConfig {
    EdgeConfig {
        cors_allowed_origins: vec!["https://app.example.test".into()],
        ..EdgeConfig::default()
    }
}

/// Starts an edge on a loopback port with `service` mounted in-process.
pub async fn start_edge(
    service: Option<TestAnalytics>,
    config: EdgeConfig,
    authenticator: Option<Arc<Authenticator>>,
    routing: RoutingTable,
) -> RunningEdge {
    let server = mesh::config::ServerConfig {
        shutdown_grace_ms: 20_000,
        ..Default::default()
    };
    start_edge_with(service, config, authenticator, routing, server).await
}

/// [`start_edge`] with explicit server limits.
pub async fn start_edge_with(
    service: Option<TestAnalytics>,
    config: EdgeConfig,
    authenticator: Option<Arc<Authenticator>>,
    routing: RoutingTable,
    server_config: mesh::config::ServerConfig,
) -> RunningEdge {
    let mut services = GrpcServices::new();
    if let Some(service) = service {
        services.add(AnalyticsServiceServer::new(service));
    }
    let (grpc, health) = services.into_router().await.unwrap();
    let shutdown = Shutdown::new();
    let edge = edge::service(
        grpc,
        EdgeOptions {
            config,
            authenticator,
            routing,
            readiness: Readiness::default(),
            shutdown: shutdown.clone(),
            jwks: Some(Arc::new(vec![
                SigningKey::generate("published-key").public_key(),
            ])),
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(mesh::server::serve(
        listener,
        edge,
        server_config,
        Some(health.clone()),
        shutdown.clone(),
    ));
    RunningEdge {
        address,
        shutdown,
        health,
        task,
    }
}
