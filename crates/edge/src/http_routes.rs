//! Plain HTTP endpoints beside gRPC: `/healthz` (the process is alive), `/readyz` (it can
//! serve: not shutting down and every dependency answers), `/metrics` (Prometheus text), and
//! `/.well-known/jwks.json` (identity's public keys, RFC 7517) for non-gRPC verifiers.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use mesh::server::Shutdown;

/// One dependency `/readyz` checks (a database, the event bus).
#[async_trait::async_trait]
pub trait ReadinessCheck: Send + Sync {
    /// A short name for the report.
    fn name(&self) -> &str;
    /// `Err` with a short reason when not ready.
    async fn check(&self) -> Result<(), String>;
}

/// The checks behind `/readyz`.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<Arc<dyn ReadinessCheck>>,
}

impl Readiness {
    /// Adds a check.
    pub fn with(mut self, check: Arc<dyn ReadinessCheck>) -> Self {
        self.checks.push(check);
        self
    }
}

/// The HTTP routes.
pub fn router(
    readiness: Readiness,
    shutdown: Shutdown,
    jwks: Option<Arc<dyn mesh::auth::KeySource>>,
) -> Router {
    let router = match jwks {
        Some(source) => Router::new().route(
            "/.well-known/jwks.json",
            get(move || {
                let source = source.clone();
                async move {
                    match source.fetch_keys().await {
                        Ok(keys) => {
                            let keys: Vec<_> = keys
                                .into_iter()
                                .map(|key| serde_json::json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": key.kid, "x": key.x}))
                                .collect();
                            let body = serde_json::json!({ "keys": keys }).to_string();
                            (StatusCode::OK, [(http::header::CONTENT_TYPE, "application/json"), (http::header::CACHE_CONTROL, "public, max-age=300")], body)
                        }
                        Err(_) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            [(http::header::CONTENT_TYPE, "application/json"), (http::header::CACHE_CONTROL, "no-store")],
                            r#"{"error":"keys temporarily unavailable"}"#.to_string(),
                        ),
                    }
                }
            }),
        ),
        None => Router::new(),
    };
    router
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let readiness = readiness.clone();
                let shutdown = shutdown.clone();
                async move {
                    if shutdown.is_triggered() {
                        return (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "shutting down\n".to_string(),
                        );
                    }
                    let mut report = String::new();
                    let mut ready = true;
                    for check in &readiness.checks {
                        match check.check().await {
                            Ok(()) => report.push_str(&format!("{}: ok\n", check.name())),
                            Err(reason) => {
                                ready = false;
                                report.push_str(&format!("{}: {reason}\n", check.name()));
                            }
                        }
                    }
                    let status = if ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    (
                        status,
                        if report.is_empty() {
                            "ok\n".to_string()
                        } else {
                            report
                        },
                    )
                }
            }),
        )
        .route(
            "/metrics",
            get(|| async { mesh::telemetry::metrics_handle().render() }),
        )
}
