//! The web console through the whole edge over a loopback connection: served at `/` with
//! its security headers and without credentials when `edge.console` is on, absent when it is
//! off, and native gRPC unaffected either way.

mod support;

use edge::RoutingTable;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::*;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// An HTTP/1.1 GET, as a browser loading the page makes it.
async fn get(
    edge: &RunningEdge,
    path: &str,
    headers: &[(&str, &str)],
) -> http::Response<bytes::Bytes> {
    let client: Client<_, http_body_util::Empty<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = http::Request::get(format!("{}{path}", edge.url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(http_body_util::Empty::new()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    http::Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

async fn health_is_serving(edge: &RunningEdge) {
    let mut health = tonic_health::pb::health_client::HealthClient::new(edge.channel().await);
    let checked = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
    assert_eq!(checked.into_inner().status, 1, "SERVING");
}

#[tokio::test]
async fn the_console_is_served_beside_grpc_and_can_be_turned_off() {
    let tokens = Tokens::new();
    // With an authenticator: the page must load without credentials.
    let edge = start_edge(
        Some(TestAnalytics::new(1)),
        test_config(),
        Some(tokens.authenticator()),
        RoutingTable::default(),
    )
    .await;
    let page = get(&edge, "/", &[]).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers()["content-security-policy"], CSP);
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        page.body().as_ref(),
        include_bytes!("../../console/assets/index.html")
    );
    let script = get(&edge, "/assets/app.js", &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(script.status(), 200);
    assert_eq!(script.headers()["content-encoding"], "gzip");
    assert_eq!(
        script.body().as_ref(),
        include_bytes!("../../console/assets/app.js.gz")
    );
    let missing = get(&edge, "/assets/nope.js", &[]).await;
    assert_eq!(missing.status(), 404, "not the gRPC fallback");
    health_is_serving(&edge).await;
    edge.stop().await;

    let mut config = test_config();
    config.console = false;
    let edge = start_edge(
        Some(TestAnalytics::new(1)),
        config,
        Some(tokens.authenticator()),
        RoutingTable::default(),
    )
    .await;
    for path in ["/", "/assets/app.js"] {
        let response = get(&edge, path, &[]).await;
        assert!(
            !response.headers().contains_key("content-security-policy"),
            "{path}"
        );
        // An unclaimed path reaches the gRPC fallback like any other: UNIMPLEMENTED.
        assert_eq!(response.headers()["grpc-status"], "12", "{path}");
        assert!(response.body().is_empty(), "{path}");
    }
    health_is_serving(&edge).await;
    edge.stop().await;
}
