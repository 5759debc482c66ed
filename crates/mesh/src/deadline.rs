//! Deadlines on every inbound call: the caller's `grpc-timeout`, capped by the server's
//! default, or the default when the caller set none. A call that runs out answers
//! DEADLINE_EXCEEDED (reason `DEADLINE_EXCEEDED`, domain `mesh.taskmesh`) and its handler is
//! dropped, which cancels the database work and peer calls it was awaiting.

use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use tower::{Layer, Service};

use crate::error::{ErrorCode, ServiceError};
use crate::peers::parse_grpc_timeout;

/// Applies deadlines.
#[derive(Clone, Copy, Debug)]
pub struct DeadlineLayer {
    default: Duration,
}

impl DeadlineLayer {
    /// Calls without `grpc-timeout`, and calls asking for longer, get `default`.
    pub fn new(default: Duration) -> Self {
        Self { default }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline {
            inner,
            default: self.default,
        }
    }
}

/// The service produced by [`DeadlineLayer`].
#[derive(Clone, Debug)]
pub struct Deadline<S> {
    inner: S,
    default: Duration,
}

impl<S, B, ResBody> Service<http::Request<B>> for Deadline<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
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
        let requested = request
            .headers()
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .and_then(parse_grpc_timeout);
        let deadline = requested.map_or(self.default, |requested| requested.min(self.default));
        let future = self.inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(deadline, future).await {
                Ok(result) => result,
                Err(_) => Ok(ServiceError::new(
                    ErrorCode::DeadlineExceeded,
                    "mesh.taskmesh",
                    "DEADLINE_EXCEEDED",
                    format!(
                        "the call did not finish within its deadline ({} ms)",
                        deadline.as_millis()
                    ),
                )
                .into_status()
                .into_http()),
            }
        })
    }
}
