//! The edge over real loopback connections: native gRPC and grpc-web reach the same
//! handler, errors keep their details, auth, rate and size limits answer gRPC statuses,
//! CORS only on the browser path, forwarding, request ids, HTTP probes, graceful shutdown.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use edge::RoutingTable;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mesh::ids::OrganizationId;
use prost::Message;
use support::*;
use taskmesh::analytics::v1::analytics_service_client::AnalyticsServiceClient;
use taskmesh::analytics::v1::*;
use tonic::Code;
use tonic_types::StatusExt;

type WebClient = AnalyticsServiceClient<
    tonic_web::GrpcWebClientService<
        Client<
            hyper_util::client::legacy::connect::HttpConnector,
            tonic_web::GrpcWebCall<tonic::body::Body>,
        >,
    >,
>;

fn web_client(edge: &RunningEdge) -> WebClient {
    let http = Client::builder(TokioExecutor::new()).build_http();
    let service = tower::ServiceBuilder::new()
        .layer(tonic_web::GrpcWebClientLayer::new())
        .service(http);
    AnalyticsServiceClient::with_origin(service, edge.url().parse().unwrap())
}

fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn bad_range() -> GetTaskMetricsRequest {
    GetTaskMetricsRequest {
        start_time: Some(prost_types::Timestamp {
            seconds: 200,
            nanos: 0,
        }),
        end_time: Some(prost_types::Timestamp {
            seconds: 100,
            nanos: 0,
        }),
        ..Default::default()
    }
}

async fn http1(
    method: http::Method,
    url: String,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> http::Response<bytes::Bytes> {
    use http_body_util::BodyExt;
    let client: Client<_, http_body_util::Full<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(http_body_util::Full::from(body)).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.unwrap();
    let trailers = collected.trailers().cloned();
    let mut response = http::Response::from_parts(parts, collected.to_bytes());
    if let Some(trailers) = trailers {
        response.headers_mut().extend(trailers);
    }
    response
}

#[tokio::test]
async fn native_grpc_and_grpc_web_reach_the_same_handler() {
    let tokens = Tokens::new();
    let service = TestAnalytics::new(42);
    let edge = start_edge(
        Some(service.clone()),
        test_config(),
        Some(tokens.authenticator()),
        RoutingTable::default(),
    )
    .await;
    let organization = OrganizationId::new();
    let token = tokens.access_token(organization);

    let mut native = AnalyticsServiceClient::new(edge.channel().await);
    let dashboard = native
        .get_organization_dashboard(bearer(GetOrganizationDashboardRequest {}, &token))
        .await
        .unwrap();
    let dashboard = dashboard.into_inner().dashboard.unwrap();
    assert_eq!(dashboard.organization_id, organization.to_string());
    assert_eq!(dashboard.project_count, 42);

    let mut web = web_client(&edge);
    let dashboard = web
        .get_organization_dashboard(bearer(GetOrganizationDashboardRequest {}, &token))
        .await
        .unwrap();
    assert_eq!(
        dashboard.into_inner().dashboard.unwrap().organization_id,
        organization.to_string()
    );
    assert_eq!(service.calls.load(Ordering::SeqCst), 2);
    edge.stop().await;
}

#[tokio::test]
async fn error_reasons_and_field_violations_reach_native_and_browser_clients() {
    let edge = start_edge(
        Some(TestAnalytics::new(1)),
        test_config(),
        None,
        RoutingTable::default(),
    )
    .await;
    let mut native = AnalyticsServiceClient::new(edge.channel().await);
    let mut web = web_client(&edge);
    let statuses = [
        native.get_task_metrics(bad_range()).await.unwrap_err(),
        web.get_task_metrics(bad_range()).await.unwrap_err(),
    ];
    for status in statuses {
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let info = details.error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "FIELD_INVALID");
        assert_eq!(info.domain, "analytics.taskmesh");
        let fields: Vec<_> = details
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(fields, ["end_time", "start_time"]);
    }
    edge.stop().await;
}

#[tokio::test]
async fn credentials_are_checked_before_the_handler() {
    let tokens = Tokens::new();
    let service = TestAnalytics::new(1);
    let edge = start_edge(
        Some(service.clone()),
        test_config(),
        Some(tokens.authenticator()),
        RoutingTable::default(),
    )
    .await;
    let mut client = AnalyticsServiceClient::new(edge.channel().await);

    let forged = Tokens::new().access_token(OrganizationId::new());
    let status = client
        .get_organization_dashboard(bearer(GetOrganizationDashboardRequest {}, &forged))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        mesh::error::reason_of(&status).as_deref(),
        Some("TOKEN_INVALID")
    );

    let mut malformed = tonic::Request::new(GetOrganizationDashboardRequest {});
    malformed
        .metadata_mut()
        .insert("authorization", "Basic dXNlcjpwYXNz".parse().unwrap());
    let status = client
        .get_organization_dashboard(malformed)
        .await
        .unwrap_err();
    assert_eq!(
        mesh::error::reason_of(&status).as_deref(),
        Some("AUTHORIZATION_MALFORMED")
    );
    assert_eq!(
        service.calls.load(Ordering::SeqCst),
        0,
        "a refused credential reached the handler"
    );

    // No credential at all reaches the handler, which decides (this method needs one).
    let status = client
        .get_organization_dashboard(GetOrganizationDashboardRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        mesh::error::reason_of(&status).as_deref(),
        Some("CREDENTIALS_MISSING")
    );
    edge.stop().await;
}

#[tokio::test]
async fn rate_limits_answer_resource_exhausted_with_retry_after() {
    let mut config = test_config();
    config.rate_limit.per_ip_per_second = 1;
    config.rate_limit.per_ip_burst = 2;
    let edge = start_edge(
        Some(TestAnalytics::new(1)),
        config,
        None,
        RoutingTable::default(),
    )
    .await;
    let mut client = AnalyticsServiceClient::new(edge.channel().await);
    let mut refused = None;
    for _ in 0..5 {
        if let Err(status) = client.get_task_metrics(bad_range()).await
            && status.code() == Code::ResourceExhausted
        {
            refused = Some(status);
            break;
        }
    }
    let status = refused.expect("the burst of 2 was never exhausted");
    assert_eq!(
        mesh::error::reason_of(&status).as_deref(),
        Some("RATE_LIMITED")
    );
    let retry_after: u64 = status
        .metadata()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert!(status.get_details_retry_info().is_some());
    edge.stop().await;
}

#[tokio::test]
async fn oversized_requests_are_refused_with_a_grpc_status() {
    let mut config = test_config();
    config.max_request_bytes = 1_024;
    let edge = start_edge(
        Some(TestAnalytics::new(1)),
        config,
        None,
        RoutingTable::default(),
    )
    .await;
    let mut client = AnalyticsServiceClient::new(edge.channel().await);
    let request = GetTaskMetricsRequest {
        time_zone: "x".repeat(4_096),
        ..bad_range()
    };
    let status = client.get_task_metrics(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        mesh::error::reason_of(&status).as_deref(),
        Some("REQUEST_TOO_LARGE")
    );
    // A browser declares content-length: refused before the body is read.
    let mut web = web_client(&edge);
    let status = web.get_task_metrics(request).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    edge.stop().await;
}

#[tokio::test]
async fn cors_applies_to_browsers_only_and_grpc_web_text_works() {
    let edge = start_edge(
        Some(TestAnalytics::new(1)),
        test_config(),
        None,
        RoutingTable::default(),
    )
    .await;
    let url = format!(
        "{}/taskmesh.analytics.v1.AnalyticsService/GetTaskMetrics",
        edge.url()
    );

    let preflight = [
        ("origin", "https://app.example.test"),
        ("access-control-request-method", "POST"),
        (
            "access-control-request-headers",
            "content-type,x-grpc-web,authorization",
        ),
    ];
    let allowed = http1(http::Method::OPTIONS, url.clone(), &preflight, Vec::new()).await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.test"
    );

    let evil = [
        ("origin", "https://evil.example.test"),
        ("access-control-request-method", "POST"),
    ];
    let refused = http1(http::Method::OPTIONS, url.clone(), &evil, Vec::new()).await;
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // grpc-web-text: base64 frames, as some browser clients send.
    let message = GetTaskMetricsRequest {
        start_time: Some(prost_types::Timestamp {
            seconds: 1,
            nanos: 0,
        }),
        end_time: Some(prost_types::Timestamp {
            seconds: 2,
            nanos: 0,
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let headers = [
        ("content-type", "application/grpc-web-text"),
        ("x-grpc-web", "1"),
        ("origin", "https://app.example.test"),
        ("x-request-id", "browser-req-1"),
    ];
    let response = http1(
        http::Method::POST,
        url.clone(),
        &headers,
        STANDARD.encode(&frame).into_bytes(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example.test"
    );
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(exposed.contains("grpc-status-details-bin"), "{exposed}");
    assert_eq!(response.headers()["x-request-id"], "browser-req-1");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    let decoded: Vec<u8> = if content_type.starts_with("application/grpc-web-text") {
        String::from_utf8(response.body().to_vec())
            .unwrap()
            .split_inclusive('=')
            .flat_map(|chunk| STANDARD.decode(chunk).unwrap_or_default())
            .collect()
    } else {
        response.body().to_vec()
    };
    let trailer_text = String::from_utf8_lossy(&decoded);
    assert!(trailer_text.contains("grpc-status:0"), "{trailer_text}");

    // Native gRPC with an Origin header does not take the browser path.
    let mut native = tonic::Request::new(bad_range());
    native
        .metadata_mut()
        .insert("origin", "https://app.example.test".parse().unwrap());
    let mut client = AnalyticsServiceClient::new(edge.channel().await);
    let status = client.get_task_metrics(native).await.unwrap_err();
    assert!(
        status
            .metadata()
            .get("access-control-allow-origin")
            .is_none()
    );
    edge.stop().await;
}

#[tokio::test]
async fn remote_services_are_forwarded_with_their_metadata() {
    let tokens = Tokens::new();
    // The backend: the analytics service alone, as in mesh mode.
    let backend = start_edge(
        Some(TestAnalytics::new(7)),
        test_config(),
        Some(tokens.authenticator()),
        RoutingTable::default(),
    )
    .await;
    let routing =
        RoutingTable::new(&BTreeMap::from([("analytics".to_string(), backend.url())])).unwrap();
    assert_eq!(
        routing.forwarded().collect::<Vec<_>>(),
        [("analytics", "/taskmesh.analytics.v1.")]
    );
    let front = start_edge(None, test_config(), Some(tokens.authenticator()), routing).await;

    let organization = OrganizationId::new();
    let token = tokens.access_token(organization);
    let mut client = AnalyticsServiceClient::new(front.channel().await);
    let dashboard = client
        .get_organization_dashboard(bearer(GetOrganizationDashboardRequest {}, &token))
        .await
        .unwrap();
    let dashboard = dashboard.into_inner().dashboard.unwrap();
    assert_eq!(dashboard.project_count, 7, "answered by the backend");
    assert_eq!(
        dashboard.organization_id,
        organization.to_string(),
        "credentials were forwarded"
    );
    let status = client.get_task_metrics(bad_range()).await.unwrap_err();
    assert_eq!(
        mesh::error::reason_of(&status).as_deref(),
        Some("FIELD_INVALID"),
        "details survive forwarding"
    );

    // A service neither local nor forwarded is UNIMPLEMENTED.
    let mut health = tonic_health::pb::health_client::HealthClient::new(front.channel().await);
    let checked = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
    assert_eq!(checked.into_inner().status, 1);
    front.stop().await;
    backend.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_and_http_probes_answer() {
    let edge = start_edge(
        Some(TestAnalytics::new(1)),
        test_config(),
        None,
        RoutingTable::default(),
    )
    .await;
    let mut client = AnalyticsServiceClient::new(edge.channel().await);
    let mut request = tonic::Request::new(bad_range());
    request
        .metadata_mut()
        .insert("x-request-id", "abc-123".parse().unwrap());
    let status = client.get_task_metrics(request).await.unwrap_err();
    assert_eq!(status.metadata().get("x-request-id").unwrap(), "abc-123");
    let status = client.get_task_metrics(bad_range()).await.unwrap_err();
    assert_eq!(
        status.metadata().get("x-request-id").unwrap().len(),
        36,
        "a request id is generated"
    );

    let healthz = http1(
        http::Method::GET,
        format!("{}/healthz", edge.url()),
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(healthz.status(), 200);
    let readyz = http1(
        http::Method::GET,
        format!("{}/readyz", edge.url()),
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(readyz.status(), 200);
    let metrics = http1(
        http::Method::GET,
        format!("{}/metrics", edge.url()),
        &[],
        Vec::new(),
    )
    .await;
    let text = String::from_utf8(metrics.body().to_vec()).unwrap();
    assert!(text.contains("taskmesh_grpc_requests_total"), "{text}");
    assert!(text.contains("GetTaskMetrics"));
    let jwks = http1(
        http::Method::GET,
        format!("{}/.well-known/jwks.json", edge.url()),
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(jwks.headers()["content-type"], "application/json");
    let document: serde_json::Value = serde_json::from_slice(jwks.body()).unwrap();
    assert_eq!(document["keys"][0]["kid"], "published-key");
    assert_eq!(document["keys"][0]["alg"], "EdDSA");
    edge.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_reports_not_serving_and_drains_in_flight_calls() {
    let service = TestAnalytics::new(5);
    let edge = start_edge(
        Some(service.clone()),
        test_config(),
        None,
        RoutingTable::default(),
    )
    .await;
    let channel = edge.channel().await;

    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let mut watch = health
        .watch(tonic_health::pb::HealthCheckRequest {
            service: "taskmesh.analytics.v1.AnalyticsService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        1,
        "SERVING before shutdown"
    );

    let mut client = AnalyticsServiceClient::new(channel);
    let in_flight = tokio::spawn(async move {
        client
            .get_link_metrics(GetLinkMetricsRequest::default())
            .await
    });
    // Wait until the handler is running, then ask the server to stop.
    let _entered = service.entered.acquire().await.unwrap();
    edge.shutdown.trigger();

    let next = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.status, 2, "NOT_SERVING once shutdown starts");
    drop(watch);
    assert!(
        !edge.task.is_finished(),
        "the server stopped before the in-flight call ended"
    );

    // Release the in-flight call: it completes normally, then the server exits.
    service.gate.add_permits(1);
    let response = in_flight
        .await
        .unwrap()
        .expect("in-flight call was cut off");
    assert_eq!(response.into_inner().visit_count, 5);
    tokio::time::timeout(Duration::from_secs(10), edge.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(edge.address).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn calls_past_their_deadline_answer_deadline_exceeded() {
    let service = TestAnalytics::new(1);
    let server = mesh::config::ServerConfig {
        default_deadline_ms: 200,
        ..Default::default()
    };
    let edge = start_edge_with(
        Some(service.clone()),
        test_config(),
        None,
        RoutingTable::default(),
        server,
    )
    .await;
    let mut client = AnalyticsServiceClient::new(edge.channel().await);
    // The handler waits on a gate nobody opens. The caller allows 30 s, but the server caps
    // every call at its default deadline (200 ms here) and answers DEADLINE_EXCEEDED.
    let mut request = tonic::Request::new(GetLinkMetricsRequest::default());
    request.set_timeout(Duration::from_secs(30));
    let status = client.get_link_metrics(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(
        mesh::error::reason_of(&status).as_deref(),
        Some("DEADLINE_EXCEEDED")
    );
    // The server is fine afterwards.
    let status = client.get_task_metrics(bad_range()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    edge.stop().await;
}
