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
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::Notify;
    use tower::{Layer, ServiceExt};

    use super::DeadlineLayer;

    type Response = http::Response<tonic::body::Body>;

    /// A handler that answers once `gate` opens (never, unless the test opens it).
    fn gated(
        gate: Arc<Notify>,
    ) -> impl tower::Service<
        http::Request<()>,
        Response = Response,
        Error = Infallible,
        Future = impl Future<Output = Result<Response, Infallible>> + Send,
    > + Clone {
        tower::service_fn(move |_request: http::Request<()>| {
            let gate = gate.clone();
            async move {
                gate.notified().await;
                Ok::<_, Infallible>(http::Response::new(tonic::body::Body::empty()))
            }
        })
    }

    fn status(response: &Response) -> Option<&str> {
        response
            .headers()
            .get("grpc-status")
            .and_then(|value| value.to_str().ok())
    }

    /// The clock is paused: time moves only when the test advances it.
    #[tokio::test(start_paused = true)]
    async fn uploads_get_their_own_longer_cap() {
        let layer =
            DeadlineLayer::new(Duration::from_millis(100)).with_uploads(Duration::from_secs(60));
        let gate = Arc::new(Notify::new());
        let call = |path: &str| {
            let request = http::Request::builder().uri(path).body(()).unwrap();
            tokio::spawn(layer.layer(gated(gate.clone())).oneshot(request))
        };
        let unary = call("/taskmesh.documents.v1.DocumentService/GetDocument");
        let upload = call("/taskmesh.documents.v1.DocumentService/UploadDocumentVersion");
        tokio::time::advance(Duration::from_secs(1)).await;
        let unary = unary.await.unwrap().unwrap();
        assert_eq!(
            status(&unary),
            Some("4"),
            "DEADLINE_EXCEEDED at the default"
        );
        assert!(!upload.is_finished(), "an upload runs past the default");
        gate.notify_one();
        let upload = upload.await.unwrap().unwrap();
        assert_eq!(status(&upload), None, "the upload answered");
    }
}
