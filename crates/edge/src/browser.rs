//! grpc-web and CORS, only for requests that come from browsers.
//!
//! tonic-web and CORS cost measurable throughput, so a request takes the browser path only
//! when it is grpc-web (`content-type: application/grpc-web...`) or a CORS preflight
//! (`OPTIONS` with `Origin`). Everything else reaches the services untouched.

use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body as AxumBody;
use futures::future::BoxFuture;
use http::{HeaderName, Method, header};
use tower::{Layer, Service, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Headers a browser may send.
const ALLOWED_HEADERS: [&str; 8] = [
    "authorization",
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "x-request-id",
    "x-taskmesh-organization",
    "traceparent",
];

/// Headers a browser script may read (status and error details live in headers).
const EXPOSED_HEADERS: [&str; 6] = [
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "x-request-id",
    "retry-after",
    "content-type",
];

/// Splits browser traffic (grpc-web, CORS) from native gRPC.
#[derive(Clone)]
pub struct BrowserLayer {
    cors: CorsLayer,
}

impl BrowserLayer {
    /// CORS allowing `origins` (`*` allows any origin, without credentials).
    pub fn new(origins: &[String]) -> Self {
        let allow_origin = if origins.iter().any(|origin| origin == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(origins.iter().filter_map(|origin| origin.parse().ok()))
        };
        let cors = CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::POST, Method::OPTIONS])
            .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
            .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
            .max_age(Duration::from_secs(24 * 3_600));
        Self { cors }
    }
}

impl<S> Layer<S> for BrowserLayer {
    type Service = BrowserSplit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BrowserSplit {
            native: inner,
            cors: self.cors.clone(),
        }
    }
}

/// The service produced by [`BrowserLayer`].
#[derive(Clone)]
pub struct BrowserSplit<S> {
    native: S,
    cors: CorsLayer,
}

/// True for requests that need the browser path.
pub fn is_browser_request<B>(request: &http::Request<B>) -> bool {
    let grpc_web = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc-web"));
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ORIGIN);
    grpc_web || preflight
}

impl<S, B> Service<http::Request<B>> for BrowserSplit<S>
where
    S: Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<AxumBody>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<AxumBody>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.native.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let request = request.map(tonic::body::Body::new);
        if is_browser_request(&request) {
            let web = tower::ServiceBuilder::new()
                .layer(self.cors.clone())
                .layer(tonic_web::GrpcWebLayer::new())
                .service(self.native.clone());
            Box::pin(async move {
                let response = web.oneshot(request).await?;
                Ok(response.map(AxumBody::new))
            })
        } else {
            let clone = self.native.clone();
            let mut native = std::mem::replace(&mut self.native, clone);
            Box::pin(async move { native.call(request).await })
        }
    }
}
