//! `GET /d/{token}`: the plain-HTTP download behind CreateDownloadUrl, served beside the
//! gRPC API (the edge mounts it in all-in-one; in the mesh an ingress routes `/d/` to the
//! documents process).
//!
//! Invariants: the token is the only credential and grants this one version for five
//! minutes; any failure (bad, expired or foreign token, document deleted or hidden since)
//! answers the same 404; contents are always sent as an attachment with `nosniff`,
//! `no-store` and a sandboxing CSP, so nothing downloaded runs in the edge's origin.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use mesh::ids::OrganizationId;

use crate::blobs::Blobs;
use crate::download::Signer;
use crate::store::DocumentsStore;

#[derive(Clone)]
struct Downloads {
    store: Arc<dyn DocumentsStore>,
    blobs: Blobs,
    signer: Arc<Signer>,
}

/// The download route.
pub fn routes(store: Arc<dyn DocumentsStore>, blobs: Blobs, signer: Arc<Signer>) -> Router {
    Router::new()
        .route("/d/{token}", get(download))
        .with_state(Downloads {
            store,
            blobs,
            signer,
        })
}

/// RFC 8187 `filename*` value: UTF-8, percent-encoded outside attr-char.
fn encoded_file_name(name: &str) -> String {
    let mut out = String::from("UTF-8''");
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A plain ASCII fallback `filename` (quotes, backslashes and non-ASCII replaced).
fn ascii_file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        text,
    )
        .into_response()
}

async fn download(State(state): State<Downloads>, Path(token): Path<String>) -> Response {
    let not_found = || {
        plain(
            StatusCode::NOT_FOUND,
            "This download link does not exist or has expired.\n",
        )
    };
    let Some(token) = state.signer.verify(&token, mesh::time::now_millis()) else {
        return not_found();
    };
    let Ok(organization_id) = token.organization_id.parse::<OrganizationId>() else {
        return not_found();
    };
    let version = match state
        .store
        .version(organization_id, &token.document_id, token.version)
        .await
    {
        Ok(Some(version)) if version.version == token.version => version,
        Ok(_) => return not_found(),
        Err(error) => {
            tracing::warn!(%error, "download: cannot read the version");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "Try again shortly.\n");
        }
    };
    let chunks = match state
        .blobs
        .read(&token.organization_id, &version.sha256)
        .await
    {
        Ok(chunks) => chunks,
        Err(error) => {
            tracing::warn!(%error, "download: cannot read the content");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "Try again shortly.\n");
        }
    };
    let disposition = format!(
        "attachment; filename=\"{}\"; filename*={}",
        ascii_file_name(&version.file_name),
        encoded_file_name(&version.file_name)
    );
    let mut response = Response::new(Body::from_stream(chunks));
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&version.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(version.size_bytes.max(0) as u64),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The content's hash, so a client can verify the bytes like a gRPC download's.
    if let Ok(value) = HeaderValue::from_str(&version.sha256) {
        headers.insert(header::HeaderName::from_static("x-content-sha256"), value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_in_headers() {
        assert_eq!(encoded_file_name("a b€.pdf"), "UTF-8''a%20b%E2%82%AC.pdf");
        assert_eq!(encoded_file_name("x\"y;z"), "UTF-8''x%22y%3Bz");
        assert_eq!(
            ascii_file_name("a \"b\"\\€.txt"),
            "a _b__?.txt".replace('?', "_")
        );
    }
}
