//! Logs, spans and metrics.
//!
//! Every RPC runs inside a `rpc` span with `service`, `method`, `request_id`, and (once
//! authenticated) `tenant` and `user_id`. `x-request-id` is accepted from the caller when it
//! looks sane, generated otherwise, and echoed on the response. Prometheus metrics:
//! `taskmesh_grpc_requests_total{service,method,code}` and
//! `taskmesh_grpc_request_duration_seconds{service,method}` (histogram). The status code is
//! read from the response headers: errors are sent trailers-only, so a response without
//! `grpc-status` in its headers is a success that reports its status in trailers.

use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower::{Layer, Service};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogConfig, LogFormat};

/// The request-id header.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The caller's real address, decided by the first taskmesh process it reached (see
/// [`crate::client_ip`]) and overwriting anything an untrusted client sent; kept as is on
/// in-process hops.
pub const CLIENT_IP_HEADER: &str = "x-taskmesh-client-ip";

/// Installs the global `tracing` subscriber (once; later calls are no-ops).
pub fn init_logging(config: &LogConfig) {
    let filter = EnvFilter::try_new(&config.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match config.format {
        LogFormat::Human => registry
            .with(tracing_subscriber::fmt::layer().compact())
            .try_init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true))
            .try_init(),
    };
    // Tests and embedders may have installed one already; theirs wins.
    let _ = result;
}

/// Installs the Prometheus recorder once and returns its handle (for `/metrics`).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0,
                    ],
                )
                .expect("static buckets are valid");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may be installed (an embedding application); then ours only
            // renders what it records, which is nothing, and `/metrics` stays valid.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Splits `/package.Service/Method` into its two parts.
pub fn split_path(path: &str) -> (&str, &str) {
    let trimmed = path.trim_start_matches('/');
    match trimmed.split_once('/') {
        Some((service, method)) => (service, method),
        None => ("http", trimmed),
    }
}

/// Accepts a caller's request id if it is short and printable; otherwise mints one.
fn request_id<B>(request: &http::Request<B>) -> String {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty()
                && value.len() <= 128
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// Span, request id, client address and metrics for every request.
#[derive(Clone, Debug, Default)]
pub struct RpcLayer {
    /// Peers that speak for their clients (see [`crate::client_ip`]).
    pub trusted_proxies: crate::client_ip::TrustedProxies,
}

impl<S> Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcService {
            inner,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }
}

/// The service produced by [`RpcLayer`].
#[derive(Clone, Debug)]
pub struct RpcService<S> {
    inner: S,
    trusted_proxies: crate::client_ip::TrustedProxies,
}

impl<S, B, ResBody> Service<http::Request<B>> for RpcService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let request_id = request_id(&request);
        if let Ok(value) = http::HeaderValue::from_str(&request_id) {
            request.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        let peer = request
            .extensions()
            .get::<tonic::transport::server::TcpConnectInfo>()
            .and_then(|info| info.remote_addr());
        if let Some(peer) = peer {
            let client = self.trusted_proxies.client(peer.ip(), request.headers());
            if let Ok(value) = http::HeaderValue::from_str(&client.to_string()) {
                request.headers_mut().insert(CLIENT_IP_HEADER, value);
            }
        }
        let (service, method) = split_path(request.uri().path());
        let (service, method) = (service.to_string(), method.to_string());
        let span = tracing::info_span!(
            "rpc",
            service = %service,
            method = %method,
            request_id = %request_id,
            tenant = tracing::field::Empty,
            user_id = tracing::field::Empty,
            code = tracing::field::Empty,
        );
        let started = Instant::now();
        Box::pin(
            async move {
                let result = inner.call(request).await;
                let elapsed = started.elapsed().as_secs_f64();
                let code = match &result {
                    Ok(response) => response
                        .headers()
                        .get("grpc-status")
                        .and_then(|value| value.to_str().ok())
                        .map(|code| tonic::Code::from_bytes(code.as_bytes()))
                        .unwrap_or(tonic::Code::Ok),
                    Err(_) => tonic::Code::Unknown,
                };
                let code_name = format!("{code:?}");
                tracing::Span::current().record("code", code_name.as_str());
                metrics::counter!(
                    "taskmesh_grpc_requests_total",
                    "service" => service.clone(),
                    "method" => method.clone(),
                    "code" => code_name,
                )
                .increment(1);
                metrics::histogram!(
                    "taskmesh_grpc_request_duration_seconds",
                    "service" => service,
                    "method" => method,
                )
                .record(elapsed);
                tracing::debug!(elapsed_ms = elapsed * 1_000.0, "rpc finished");
                result.map(|mut response| {
                    if let Ok(value) = http::HeaderValue::from_str(&request_id) {
                        response.headers_mut().insert(REQUEST_ID_HEADER, value);
                    }
                    response
                })
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            split_path("/grpc.health.v1.Health/Check"),
            ("grpc.health.v1.Health", "Check")
        );
        assert_eq!(split_path("/healthz"), ("http", "healthz"));
    }

    #[test]
    fn request_ids_are_accepted_only_when_sane() {
        let good = http::Request::builder()
            .header(REQUEST_ID_HEADER, "abc-123")
            .body(())
            .unwrap();
        assert_eq!(request_id(&good), "abc-123");
        let bad = http::Request::builder()
            .header(REQUEST_ID_HEADER, "x".repeat(500))
            .body(())
            .unwrap();
        assert_eq!(request_id(&bad).len(), 36);
    }
}
