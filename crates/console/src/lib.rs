//! The web console: the browser app (built from `crates/console/web` into `assets/`),
//! embedded in the binary and served by the edge at `/`, so one binary carries its own UI and
//! nothing is read from disk at run time.
//!
//! Routes: `GET /` (the page), `GET /assets/app.js`, `GET /assets/app.css`; any other path
//! under `/assets/` is 404. HEAD answers wherever GET does; other methods get 405.
//!
//! Invariants:
//! - Only the files embedded here are served: no request path reaches the file system.
//! - Every response carries the security headers: the page runs only its own script and
//!   style, talks only to the origin it came from (grpc-web to the same edge), is never
//!   framed, never sniffed, and sends no referrer ([`CONTENT_SECURITY_POLICY`]).
//! - Every file is revalidated (`cache-control: no-cache`) against a strong `etag` derived
//!   from its uncompressed bytes: a new binary is picked up on the next load, an unchanged
//!   file costs a 304.
//! - A client that accepts gzip gets the precompressed sibling (`<file>.gz`, written by the
//!   web build, deterministically: no name, no mtime); nothing is compressed per request.
//! - The console holds no secret and sits outside the edge's authentication: the page is
//!   public; the data it shows comes through grpc-web calls, authenticated like any other.

use std::sync::LazyLock;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};

/// What the page may load and from where: only its own files (and `data:` images), no
/// inline script or style, no plugins, no `<base>` rewriting, no form posts, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// On every response, errors included. `cache-control: no-cache` lets browsers keep a copy
/// but makes them ask first, so an upgraded binary is never hidden behind a stale script.
const COMMON_HEADERS: [(HeaderName, &str); 6] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    // For browsers that predate `frame-ancestors`.
    (header::X_FRAME_OPTIONS, "DENY"),
    // A page opened from the console cannot reach back into it through `window.opener`.
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
    (header::CACHE_CONTROL, "no-cache"),
];

/// One embedded file.
struct Asset {
    /// The URL path it is served at.
    path: &'static str,
    content_type: &'static str,
    raw: &'static [u8],
    gzip: &'static [u8],
    /// Hashed on first use rather than at startup: a process whose console is never loaded
    /// (or is turned off) pays nothing.
    etag: LazyLock<HeaderValue>,
    /// The gzip body's own validator: a strong etag names one representation's bytes
    /// (RFC 9110 §8.8.3), and the two encodings differ.
    etag_gzip: LazyLock<HeaderValue>,
}

/// An [`Asset`] from `assets/<file>` and `assets/<file>.gz`. A missing file fails the build:
/// the binary can never ship a console with a hole in it.
macro_rules! asset {
    ($path:literal, $file:literal, $content_type:literal) => {{
        const RAW: &[u8] = include_bytes!(concat!("../assets/", $file));
        Asset {
            path: $path,
            content_type: $content_type,
            raw: RAW,
            gzip: include_bytes!(concat!("../assets/", $file, ".gz")),
            etag: LazyLock::new(|| etag_of(RAW, "")),
            etag_gzip: LazyLock::new(|| etag_of(RAW, "-gz")),
        }
    }};
}

static ASSETS: [Asset; 3] = [
    asset!("/", "index.html", "text/html; charset=utf-8"),
    asset!("/assets/app.js", "app.js", "text/javascript; charset=utf-8"),
    asset!("/assets/app.css", "app.css", "text/css; charset=utf-8"),
];

/// The console's routes, with no fallback so that it merges beside other routers (the
/// edge's gRPC router keeps its own).
pub fn router() -> Router {
    let mut router = Router::new();
    for asset in &ASSETS {
        router = router.route(
            asset.path,
            get(move |request: HeaderMap| async move { serve(asset, &request) }),
        );
    }
    // Without these, an unknown asset would fall through to the edge's gRPC fallback and
    // get a gRPC UNIMPLEMENTED a browser cannot read.
    router
        .route("/assets", get(not_found))
        .route("/assets/", get(not_found))
        .route("/assets/{*rest}", get(not_found))
        // A layer on the router also covers its 405 answers, so no response escapes it.
        .layer(axum::middleware::map_response(with_common_headers))
}

/// The embedded files as (path, bytes, gzip bytes), for checks that the build put a
/// complete and consistent set into the binary.
pub fn assets() -> impl Iterator<Item = (&'static str, &'static [u8], &'static [u8])> {
    ASSETS
        .iter()
        .map(|asset| (asset.path, asset.raw, asset.gzip))
}

fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let gzip = accepts_gzip(request);
    let etag = if gzip {
        &*asset.etag_gzip
    } else {
        &*asset.etag
    };
    let mut response = if matches_etag(request, etag) {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut response = Response::new(Body::from(if gzip { asset.gzip } else { asset.raw }));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        if gzip {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag.clone());
    // The body depends on accept-encoding: a shared cache must not hand gzip to a client
    // that did not ask for it.
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "not found\n")
}

async fn with_common_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in COMMON_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A strong validator: the first 128 bits of the SHA-256 of the uncompressed file, in hex,
/// then `suffix` (which tells the encodings apart).
fn etag_of(bytes: &[u8], suffix: &str) -> HeaderValue {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    HeaderValue::from_str(&format!("\"{hex}{suffix}\""))
        .expect("a quoted hex string is a header value")
}

/// `if-none-match` names `etag` or is `*` (RFC 9110 §13.1.2: a list, compared weakly).
fn matches_etag(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let etag = etag.as_bytes();
    list_items(request, header::IF_NONE_MATCH)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == etag)
}

/// `accept-encoding` allows gzip (RFC 9110 §12.5.3): listed by name (or `x-gzip`), or
/// covered by `*`, with a quality above zero. `gzip;q=0` refuses it, even beside `*`.
fn accepts_gzip(request: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    for item in list_items(request, header::ACCEPT_ENCODING) {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim();
        let quality = parts
            .find_map(|parameter| {
                let (name, value) = parameter.split_once('=')?;
                // An unreadable quality counts as a refusal: plain bytes are always safe.
                name.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| value.trim().parse::<f32>().unwrap_or(0.0))
            })
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(quality);
        } else if coding == "*" {
            any = Some(quality);
        }
    }
    gzip.or(any).is_some_and(|quality| quality > 0.0)
}

/// The trimmed, non-empty items of a comma-separated header, across all its lines.
fn list_items(request: &HeaderMap, name: HeaderName) -> impl Iterator<Item = &str> {
    request
        .get_all(name)
        .into_iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
}
