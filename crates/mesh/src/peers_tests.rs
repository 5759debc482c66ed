//! Peer channels: in-process transport, deadline and credential propagation, retries and
//! the circuit breaker.

use std::sync::{Arc, Mutex};

use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use super::*;
use crate::config::ServerConfig;
use crate::server::{Shutdown, serve_incoming};

/// grpc-timeout, authorization and x-request-id of one received call.
type SeenMetadata = (Option<String>, Option<String>, Option<String>);

/// A health service that records the metadata it received.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<SeenMetadata>>>,
}

#[tonic::async_trait]
impl Health for Recorder {
    async fn check(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, tonic::Status> {
        let get = |key: &str| {
            request
                .metadata()
                .get(key)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        self.seen.lock().unwrap().push((
            get("grpc-timeout"),
            get("authorization"),
            get("x-request-id"),
        ));
        Ok(tonic::Response::new(HealthCheckResponse { status: 1 }))
    }

    type WatchStream = futures::stream::Empty<Result<HealthCheckResponse, tonic::Status>>;

    async fn watch(
        &self,
        _request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        Ok(tonic::Response::new(futures::stream::empty()))
    }
}

#[tokio::test]
async fn in_process_calls_carry_deadline_credentials_and_request_id() {
    let recorder = Recorder::default();
    let (in_process, incoming) = InProcess::new();
    let shutdown = Shutdown::new();
    let router = axum::Router::new().route_service(
        "/grpc.health.v1.Health/{*rest}",
        HealthServer::new(recorder.clone()),
    );
    let server = tokio::spawn(serve_incoming(
        incoming,
        router,
        ServerConfig::default(),
        None,
        shutdown.clone(),
    ));

    let peers = Peers::new(BTreeMap::new(), Some(in_process));
    assert!(!peers.is_remote("identity"));
    let mut client = HealthClient::new(peers.channel("identity").unwrap());

    // An inbound request with a deadline, a token and a request id...
    let mut inbound = tonic::Request::new(());
    inbound
        .metadata_mut()
        .insert("grpc-timeout", "5S".parse().unwrap());
    inbound
        .metadata_mut()
        .insert("authorization", "Bearer abc".parse().unwrap());
    inbound
        .metadata_mut()
        .insert("x-request-id", "req-1".parse().unwrap());
    let context = CallContext::from_request(&inbound);
    assert!(context.remaining().unwrap() <= Duration::from_secs(5));

    // ...hands them to the outbound call.
    let response = client
        .check(context.outbound(HealthCheckRequest {
            service: String::new(),
        }))
        .await
        .unwrap();
    assert_eq!(response.into_inner().status, 1);
    let seen = recorder.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let (timeout, authorization, request_id) = &seen[0];
    let timeout = parse_grpc_timeout(timeout.as_deref().unwrap()).unwrap();
    assert!(timeout <= Duration::from_secs(5) && timeout > Duration::ZERO);
    assert_eq!(authorization.as_deref(), Some("Bearer abc"));
    assert_eq!(request_id.as_deref(), Some("req-1"));

    shutdown.trigger();
    server.await.unwrap().unwrap();
}

#[test]
fn grpc_timeouts_parse_per_the_spec() {
    assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
    assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
    assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3_600)));
    assert_eq!(parse_grpc_timeout("5x"), None);
    assert_eq!(parse_grpc_timeout("123456789S"), None);
    assert_eq!(parse_grpc_timeout(""), None);
}

#[tokio::test]
async fn only_unavailable_is_retried_and_only_a_few_times() {
    let attempts = Arc::new(Mutex::new(0));
    let counter = attempts.clone();
    let result: Result<(), tonic::Status> = retry_idempotent(|| {
        let counter = counter.clone();
        async move {
            *counter.lock().unwrap() += 1;
            Err(tonic::Status::unavailable("down"))
        }
    })
    .await;
    assert_eq!(result.unwrap_err().code(), tonic::Code::Unavailable);
    assert_eq!(*attempts.lock().unwrap(), 4, "one call plus three retries");

    *attempts.lock().unwrap() = 0;
    let counter = attempts.clone();
    let result: Result<(), tonic::Status> = retry_idempotent(|| {
        let counter = counter.clone();
        async move {
            *counter.lock().unwrap() += 1;
            Err(tonic::Status::invalid_argument("bad"))
        }
    })
    .await;
    assert_eq!(result.unwrap_err().code(), tonic::Code::InvalidArgument);
    assert_eq!(*attempts.lock().unwrap(), 1);

    let counter = attempts.clone();
    *attempts.lock().unwrap() = 0;
    let result = retry_idempotent(|| {
        let counter = counter.clone();
        async move {
            let mut attempts = counter.lock().unwrap();
            *attempts += 1;
            if *attempts < 3 {
                Err(tonic::Status::unavailable("flaky"))
            } else {
                Ok(*attempts)
            }
        }
    })
    .await;
    assert_eq!(result.unwrap(), 3);
}

#[tokio::test]
async fn a_dead_remote_peer_opens_the_circuit() {
    // A port that was just free: nothing listens there.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let peers = Peers::new(
        BTreeMap::from([("projects".to_string(), format!("http://{address}"))]),
        None,
    );
    assert!(peers.is_remote("projects"));
    let mut client = HealthClient::new(peers.channel("projects").unwrap());
    let mut messages = Vec::new();
    for _ in 0..8 {
        let status = client
            .check(HealthCheckRequest::default())
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        messages.push(status.message().to_string());
    }
    assert!(
        messages.last().unwrap().contains("circuit is open"),
        "circuit never opened: {messages:?}"
    );
    assert!(matches!(
        peers.channel("nowhere"),
        Err(PeerError::NotConfigured(_))
    ));
    assert!(matches!(
        remote_channel("x", "not a uri"),
        Err(PeerError::InvalidAddress { .. })
    ));
}
