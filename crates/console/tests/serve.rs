//! The console router alone, driven with `oneshot`: the page and its files with their
//! security headers, gzip only when accepted, 304 on a matching etag, 404 for unknown assets,
//! nothing but GET and HEAD; and the embedded `.gz` siblings decode to their sources.

use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

/// Spelled out rather than taken from the crate, so a change to the policy fails here.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const INDEX: &[u8] = include_bytes!("../assets/index.html");
const APP_JS: &[u8] = include_bytes!("../assets/app.js");
const APP_JS_GZ: &[u8] = include_bytes!("../assets/app.js.gz");
const APP_CSS: &[u8] = include_bytes!("../assets/app.css");

async fn call(
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = console::router()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, body)
}

async fn get(path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
    call(Method::GET, path, headers).await
}

fn assert_security_headers(headers: &HeaderMap) {
    assert_eq!(headers["content-security-policy"], CSP);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cross-origin-opener-policy"], "same-origin");
    assert_eq!(headers["cache-control"], "no-cache");
}

fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// The gzip body's etag: the same hash, told apart from the plain body's.
fn gzip_etag_of(bytes: &[u8]) -> String {
    format!("{}-gz\"", etag_of(bytes).trim_end_matches('"'))
}

#[tokio::test]
async fn the_page_is_served_with_its_security_headers() {
    let (status, headers, body) = get("/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_security_headers(&headers);
    assert_eq!(headers["vary"], "accept-encoding");
    assert_eq!(headers["etag"], etag_of(INDEX).as_str());
    assert!(!headers.contains_key("content-encoding"));
    assert_eq!(body, INDEX);

    let (status, headers, body) = get("/assets/app.css", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/css; charset=utf-8");
    assert_security_headers(&headers);
    assert_eq!(body, APP_CSS);
}

#[tokio::test]
async fn gzip_is_served_only_to_clients_that_accept_it() {
    let (status, headers, body) = get("/assets/app.js", &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["vary"], "accept-encoding");
    assert_eq!(
        headers["etag"],
        gzip_etag_of(APP_JS).as_str(),
        "each encoding has its own strong etag"
    );
    assert_security_headers(&headers);
    assert_eq!(body, APP_JS_GZ);
    assert_eq!(gunzipped_check(&body), (crc32(APP_JS), APP_JS.len() as u32));

    for accepted in ["gzip;q=0.5", "deflate, GZIP", "br, *", "x-gzip"] {
        let (_, headers, body) = get("/assets/app.js", &[("accept-encoding", accepted)]).await;
        assert_eq!(headers["content-encoding"], "gzip", "{accepted}");
        assert_eq!(body, APP_JS_GZ, "{accepted}");
    }
    for refused in [
        "",
        "br",
        "gzip;q=0",
        "gzip; q=0.000, br",
        "*, gzip;q=0",
        "*;q=0",
        "identity",
    ] {
        let (status, headers, body) = get("/assets/app.js", &[("accept-encoding", refused)]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!headers.contains_key("content-encoding"), "{refused:?}");
        assert_eq!(body, APP_JS, "{refused:?}");
    }
    let (_, headers, body) = get("/assets/app.js", &[]).await;
    assert!(!headers.contains_key("content-encoding"));
    assert_eq!(body, APP_JS);
}

#[tokio::test]
async fn a_matching_etag_answers_304_without_a_body() {
    let (_, headers, _) = get("/", &[]).await;
    let etag = headers["etag"].to_str().unwrap().to_string();
    for candidate in [
        etag.clone(),
        format!("\"other\", {etag}"),
        format!("W/{etag}"),
        "*".into(),
    ] {
        let (status, headers, body) = get("/", &[("if-none-match", &candidate)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{candidate}");
        assert!(body.is_empty());
        assert_eq!(headers["etag"], etag.as_str());
        assert_eq!(headers["vary"], "accept-encoding");
        assert_security_headers(&headers);
    }
    let (status, headers, _) = get(
        "/assets/app.js",
        &[("if-none-match", &etag), ("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "another file's etag does not match");
    assert_eq!(headers["content-encoding"], "gzip");
    // The plain body's etag does not validate the gzip body, and the other way round.
    let (status, headers, _) = get(
        "/",
        &[("if-none-match", &etag), ("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["etag"], gzip_etag_of(INDEX).as_str());
    let (status, _, _) = get(
        "/",
        &[
            ("if-none-match", &gzip_etag_of(INDEX)),
            ("accept-encoding", "gzip"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, _, body) = get("/", &[("if-none-match", "\"0123\"")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, INDEX);
}

#[tokio::test]
async fn only_the_embedded_files_and_only_get_and_head_are_served() {
    for path in [
        "/assets/nope.js",
        "/assets/",
        "/assets",
        "/assets/app.js/x",
        "/assets/../index.html",
    ] {
        let (status, headers, _) = get(path, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_security_headers(&headers);
    }
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let (status, headers, body) = call(method.clone(), "/", &[]).await;
        assert!(
            status == StatusCode::METHOD_NOT_ALLOWED || status == StatusCode::NOT_FOUND,
            "{method} / answered {status}"
        );
        assert!(body.is_empty());
        assert_security_headers(&headers);
    }
    let (status, headers, body) = call(Method::HEAD, "/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_security_headers(&headers);
    assert!(body.is_empty());
}

#[test]
fn every_precompressed_file_decodes_to_its_source() {
    let assets: Vec<_> = console::assets().collect();
    let paths: Vec<_> = assets.iter().map(|(path, _, _)| *path).collect();
    assert_eq!(paths, ["/", "/assets/app.js", "/assets/app.css"]);
    for (path, raw, gzip) in assets {
        assert_eq!(
            gunzipped_check(gzip),
            (crc32(raw), raw.len() as u32),
            "{path}"
        );
    }
}

/// The CRC-32 and length a gzip member says it decodes to (RFC 1952 trailer), after checking
/// the header is what `gzip -n` writes: deflate, no file name, no time stamp. Without a
/// decompressor in the workspace, this is how the test knows the `.gz` matches its source.
fn gunzipped_check(gzip: &[u8]) -> (u32, u32) {
    assert!(gzip.len() >= 18, "too short for gzip");
    assert_eq!(gzip[..3], [0x1f, 0x8b, 8], "gzip magic and deflate");
    assert_eq!(gzip[3] & 0x08, 0, "no file name (gzip -n)");
    assert_eq!(gzip[4..8], [0, 0, 0, 0], "no time stamp (gzip -n)");
    let trailer = &gzip[gzip.len() - 8..];
    let crc = u32::from_le_bytes(trailer[..4].try_into().unwrap());
    let size = u32::from_le_bytes(trailer[4..].try_into().unwrap());
    (crc, size)
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
