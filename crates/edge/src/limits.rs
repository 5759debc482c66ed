//! Rate limits and request size limits, answered as gRPC statuses.
//!
//! Rate limits are GCRA token buckets (governor) keyed by source IP (before authentication,
//! so floods of bad credentials are limited too) or by user (after authentication). A refusal
//! is RESOURCE_EXHAUSTED with reason `RATE_LIMITED`, `RetryInfo` and `retry-after`.
//! The body limit refuses a declared `content-length` above the maximum at once and cuts a
//! streamed body when it passes the maximum; both are RESOURCE_EXHAUSTED (`REQUEST_TOO_LARGE`).

use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http_body::Frame;
use mesh::auth::Principal;
use mesh::error::{ErrorCode, ServiceError};
use tower::{Layer, Service};

/// Error domain of edge refusals.
pub const EDGE_DOMAIN: &str = "edge.taskmesh";

/// What a limiter counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    SourceIp,
    Principal,
}

/// A keyed rate limit.
#[derive(Clone)]
pub struct RateLimitLayer {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    kind: KeyKind,
}

impl RateLimitLayer {
    fn new(per_second: u32, burst: u32, kind: KeyKind) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).expect("at least 1");
        let burst = NonZeroU32::new(burst.max(per_second).max(1)).expect("at least 1");
        Self {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )),
            kind,
        }
    }

    /// Limits each client address (the real one, `x-taskmesh-client-ip` as the outermost
    /// layer decided it; in-process calls are not limited again).
    pub fn per_ip(per_second: u32, burst: u32) -> Self {
        Self::new(per_second, burst, KeyKind::SourceIp)
    }

    /// Limits each authenticated user; anonymous calls pass (the IP limit covers them).
    pub fn per_principal(per_second: u32, burst: u32) -> Self {
        Self::new(per_second, burst, KeyKind::Principal)
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service produced by [`RateLimitLayer`].
#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    layer: RateLimitLayer,
}

impl<S> RateLimit<S> {
    fn key<B>(&self, request: &http::Request<B>) -> Option<String> {
        match self.layer.kind {
            KeyKind::SourceIp => request
                .extensions()
                .get::<tonic::transport::server::TcpConnectInfo>()
                .and_then(|info| info.remote_addr())
                .map(|address| {
                    request
                        .headers()
                        .get(mesh::telemetry::CLIENT_IP_HEADER)
                        .and_then(|value| value.to_str().ok())
                        .map_or_else(|| address.ip().to_string(), str::to_string)
                }),
            KeyKind::Principal => request
                .extensions()
                .get::<Principal>()
                .map(|principal| principal.user_id.to_string()),
        }
    }
}

impl<S, B, ResBody> Service<http::Request<B>> for RateLimit<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if let Some(key) = self.key(&request) {
            let limiter = &self.layer.limiter;
            if let Err(not_until) = limiter.check_key(&key) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                metrics::counter!("taskmesh_edge_rate_limited_total", "kind" => format!("{:?}", self.layer.kind)).increment(1);
                let status = ServiceError::new(
                    ErrorCode::ResourceExhausted,
                    EDGE_DOMAIN,
                    "RATE_LIMITED",
                    "too many requests; retry later",
                )
                .with_retry_after(wait)
                .into_status();
                // The status's metadata (including `retry-after`) becomes response headers.
                let response = status.into_http::<ResBody>();
                return Box::pin(async move { Ok(response) });
            }
            // Forget idle keys now and then so the table cannot grow without bound.
            if limiter.len() > 100_000 {
                limiter.retain_recent();
            }
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move { inner.call(request).await })
    }
}

/// Caps request bodies.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimitLayer {
    max_bytes: usize,
}

impl BodyLimitLayer {
    /// At most `max_bytes` per request body.
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes }
    }
}

impl<S> Layer<S> for BodyLimitLayer {
    type Service = BodyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BodyLimit {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

/// The service produced by [`BodyLimitLayer`].
#[derive(Clone)]
pub struct BodyLimit<S> {
    inner: S,
    max_bytes: usize,
}

fn too_large(max_bytes: usize) -> tonic::Status {
    ServiceError::new(
        ErrorCode::ResourceExhausted,
        EDGE_DOMAIN,
        "REQUEST_TOO_LARGE",
        format!("request body exceeds {max_bytes} bytes"),
    )
    .into_status()
}

impl<S, B, ResBody> Service<http::Request<B>> for BodyLimit<S>
where
    S: Service<http::Request<LimitedBody<B>>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let declared = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        // Uploads stream past the body limit: the service caps their total as bytes arrive
        // and every message is capped by the message size limit.
        if mesh::server::is_client_streaming(request.uri().path()) {
            return Box::pin(self.inner.call(request.map(|body| LimitedBody {
                inner: body,
                remaining: usize::MAX,
                max_bytes: usize::MAX,
            })));
        }
        if declared.is_some_and(|length| length > self.max_bytes as u64) {
            let response = too_large(self.max_bytes).into_http::<ResBody>();
            return Box::pin(async move { Ok(response) });
        }
        let max_bytes = self.max_bytes;
        let future = self.inner.call(request.map(|body| LimitedBody {
            inner: body,
            remaining: max_bytes,
            max_bytes,
        }));
        Box::pin(future)
    }
}

pin_project_lite::pin_project! {
    /// A body that fails with RESOURCE_EXHAUSTED once it has yielded more than its limit.
    pub struct LimitedBody<B> {
        #[pin]
        inner: B,
        remaining: usize,
        max_bytes: usize,
    }
}

impl<B> http_body::Body for LimitedBody<B>
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if data.len() > *this.remaining {
                        // tonic finds a `Status` in the error chain and sends it as is.
                        return Poll::Ready(Some(Err(Box::new(too_large(*this.max_bytes)))));
                    }
                    *this.remaining -= data.len();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
