//! `GET /l/{slug}` and `POST /l/{slug}` (the password form): the share page, served beside
//! the gRPC API (the edge mounts it in all-in-one; in the mesh an ingress routes `/l/` to
//! the links process). HTML by default ([`crate::page`]), the ResolveLinkResponse in
//! protobuf JSON when `accept` asks for `application/json`.
//!
//! Invariants: the page never redirects; the visitor is what this process observed; the form
//! carries no state (only the password is posted back to the same path); every failure that
//! ResolveLink reports as NOT_FOUND is the same 404.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::api::{LinksApi, Visitor};
use crate::domain::LinksError;
use crate::page;

/// Largest password form body read.
const MAX_FORM_BYTES: usize = 4 * 1024;

/// The page routes.
pub fn routes(api: Arc<LinksApi>) -> Router {
    Router::new()
        .route("/l/{slug}", get(show).post(submit))
        .with_state(api)
}

fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let json = accept.find("application/json");
    let html = accept.find("text/html");
    match (json, html) {
        (Some(json), Some(html)) => json < html,
        (Some(_), None) => true,
        _ => false,
    }
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    for (name, value) in page::HEADERS {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

fn json(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn answer(
    api: &LinksApi,
    slug: &str,
    password: &str,
    headers: &HeaderMap,
    posted: bool,
) -> Response {
    let visitor = Visitor::from_headers(headers);
    let as_json = wants_json(headers);
    let result = api.resolve(slug, password, "", &visitor).await;
    let failure = |status: StatusCode, reason: &str, page_body: String| {
        if as_json {
            json(status, serde_json::json!({ "error": reason }).to_string())
        } else {
            html(status, page_body)
        }
    };
    match result {
        Ok(view) => {
            if as_json {
                match mesh::json::to_json(&view) {
                    Ok(body) => json(StatusCode::OK, body),
                    Err(error) => {
                        tracing::warn!(%error, "share page: cannot write JSON");
                        failure(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "INTERNAL",
                            page::not_found(),
                        )
                    }
                }
            } else {
                html(StatusCode::OK, page::view(&view))
            }
        }
        Err(LinksError::PasswordRequired) => failure(
            StatusCode::UNAUTHORIZED,
            "LINK_PASSWORD_REQUIRED",
            page::password_form(posted),
        ),
        Err(LinksError::PasswordInvalid) => failure(
            StatusCode::FORBIDDEN,
            "LINK_PASSWORD_INVALID",
            page::password_form(true),
        ),
        Err(LinksError::AttemptsExceeded(wait)) => {
            let mut response = failure(
                StatusCode::TOO_MANY_REQUESTS,
                "LINK_PASSWORD_ATTEMPTS_EXCEEDED",
                page::password_form(true),
            );
            let seconds = wait.as_secs().max(1);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
        Err(LinksError::LinkNotFound) => {
            failure(StatusCode::NOT_FOUND, "LINK_NOT_FOUND", page::not_found())
        }
        Err(error) => {
            tracing::warn!(%error, "share page: cannot resolve");
            let mut response = failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                page::not_found(),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

async fn show(
    State(api): State<Arc<LinksApi>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer(&api, &slug, "", &headers, false).await
}

async fn submit(
    State(api): State<Arc<LinksApi>>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > MAX_FORM_BYTES {
        return html(StatusCode::PAYLOAD_TOO_LARGE, page::password_form(true));
    }
    let password = url::form_urlencoded::parse(&body)
        .find(|(name, _)| name == "password")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    answer(&api, &slug, &password, &headers, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_only_when_preferred() {
        let mut headers = HeaderMap::new();
        assert!(!wants_json(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(wants_json(&headers));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/json;q=0.9"),
        );
        assert!(!wants_json(&headers));
    }
}
