//! Deadlines on every inbound call: the caller's `grpc-timeout`, capped by the server's
//! default, or the default when the caller set none. Uploads (client-streaming contract
//! methods) are capped by a separate, longer limit: their duration is the client's bytes. A call that runs out answers
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
    uploads: Duration,
}

impl DeadlineLayer {
    /// Calls without `grpc-timeout`, and calls asking for longer, get `default`.
    pub fn new(default: Duration) -> Self {
        Self {
            default,
            uploads: default,
        }
    }

    /// Client-streaming calls (uploads) get `uploads` instead of the default.
    pub fn with_uploads(self, uploads: Duration) -> Self {
        Self { uploads, ..self }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline {
            inner,
            default: self.default,
            uploads: self.uploads,
        }
    }
}

/// The service produced by [`DeadlineLayer`].
#[derive(Clone, Debug)]
pub struct Deadline<S> {
    inner: S,
    default: Duration,
    uploads: Duration,
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
        let cap = if crate::server::is_client_streaming(request.uri().path()) {
            self.uploads
        } else {
            self.default
        };
        let deadline = requested.map_or(cap, |requested| requested.min(cap));
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use tower::{Layer, ServiceExt};

    use super::DeadlineLayer;

    /// A handler that answers after `work` (virtual time: the test clock is paused).
    fn slow(
        work: Duration,
    ) -> impl tower::Service<
        http::Request<()>,
        Response = http::Response<tonic::body::Body>,
        Error = Infallible,
        Future = impl Future<Output = Result<http::Response<tonic::body::Body>, Infallible>> + Send,
    > + Clone {
        tower::service_fn(move |_request: http::Request<()>| async move {
            tokio::time::sleep(work).await;
            Ok::<_, Infallible>(http::Response::new(tonic::body::Body::empty()))
        })
    }

    fn status(response: &http::Response<tonic::body::Body>) -> Option<&str> {
        response
            .headers()
            .get("grpc-status")
            .and_then(|value| value.to_str().ok())
    }

    #[tokio::test(start_paused = true)]
    async fn uploads_get_their_own_longer_cap() {
        let layer =
            DeadlineLayer::new(Duration::from_millis(100)).with_uploads(Duration::from_secs(60));
        let call = |path: &str| {
            let service = layer.layer(slow(Duration::from_secs(5)));
            let request = http::Request::builder().uri(path).body(()).unwrap();
            service.oneshot(request)
        };
        let unary = call("/taskmesh.documents.v1.DocumentService/GetDocument")
            .await
            .unwrap();
        assert_eq!(
            status(&unary),
            Some("4"),
            "DEADLINE_EXCEEDED at the default"
        );
        let upload = call("/taskmesh.documents.v1.DocumentService/UploadDocumentVersion")
            .await
            .unwrap();
        assert_eq!(status(&upload), None, "an upload runs past the default");
    }
}
