//! A tower layer that authenticates every request before it reaches a gRPC handler.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tower::{Layer, Service};

use super::Authenticator;
use crate::error::ServiceError;

/// Runs the [`Authenticator`] on the `authorization` header, if present. A valid credential
/// puts its [`super::Principal`] into the request extensions (tonic hands them to the
/// handler); an invalid one is answered UNAUTHENTICATED without calling the handler.
#[derive(Clone)]
pub struct AuthLayer {
    authenticator: Arc<Authenticator>,
}

impl AuthLayer {
    /// A layer using `authenticator`.
    pub fn new(authenticator: Arc<Authenticator>) -> Self {
        Self { authenticator }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            authenticator: self.authenticator.clone(),
        }
    }
}

/// The service produced by [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    authenticator: Arc<Authenticator>,
}

impl<S, B, ResBody> Service<http::Request<B>> for AuthService<S>
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

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // Take the service that was driven to readiness; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let authenticator = self.authenticator.clone();
        Box::pin(async move {
            let header = request.headers().get(http::header::AUTHORIZATION).cloned();
            if let Some(value) = header {
                if let Some(verdict) = value
                    .to_str()
                    .ok()
                    .and_then(|text| authenticator.authenticate_service(text))
                {
                    match verdict {
                        Ok(caller) => {
                            request.extensions_mut().insert(caller);
                        }
                        Err(error) => {
                            let status = ServiceError::from(error).into_status();
                            return Ok(status.into_http());
                        }
                    }
                    return inner.call(request).await;
                }
                let verdict = match value.to_str() {
                    Ok(text) => authenticator.authenticate(text).await,
                    Err(_) => Err(super::AuthError::Malformed),
                };
                match verdict {
                    Ok(principal) => {
                        tracing::Span::current()
                            .record("user_id", tracing::field::display(principal.user_id));
                        if let Some(organization_id) = principal.organization_id {
                            tracing::Span::current()
                                .record("tenant", tracing::field::display(organization_id));
                        }
                        request.extensions_mut().insert(principal);
                    }
                    Err(error) => {
                        let status = ServiceError::from(error).into_status();
                        return Ok(status.into_http());
                    }
                }
            }
            inner.call(request).await
        })
    }
}
