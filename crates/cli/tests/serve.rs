//! The real binary: `taskmesh serve` on a free port, what a newcomer and a scripted client
//! see (banner, health, reflection v1 and v1alpha, grpc-web), then SIGTERM and a clean exit.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

struct Server {
    child: Child,
    address: String,
    banner: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Starts the binary and reads its banner (bounded: the reader thread gives up with the
/// process).
fn start() -> Server {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskmesh"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("TASKMESH_LOG__FILTER", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut banner = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            banner.push_str(&line);
            banner.push('\n');
            if line.contains("curl http://") {
                let _ = sender.send(banner.clone());
            }
        }
    });
    let banner = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("banner within a minute");
    let address = banner
        .split_whitespace()
        .find_map(|word| word.strip_prefix("http://"))
        .expect("banner names the address")
        .to_string();
    Server {
        child,
        address,
        banner,
        _data: data,
    }
}

#[tokio::test]
async fn serve_answers_health_and_reflection_then_stops_on_sigterm() {
    let mut server = start();
    assert!(
        server.banner.contains("grpcurl -plaintext"),
        "banner suggests a first call: {}",
        server.banner
    );
    let url = format!("http://{}", server.address);
    let channel = tonic::transport::Endpoint::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();

    let status = HealthClient::new(channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .unwrap();
    assert_eq!(status.into_inner().status, 1);

    // Reflection v1 (buf curl, grpcui) and v1alpha (grpcurl 1.8, Python grpcio).
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient as V1;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest as V1Request;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse as V1Response;
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(V1Request::ListServices(String::new())),
    };
    let mut stream = V1::new(channel.clone())
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(V1Response::ListServicesResponse(list)) =
        stream.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.reflection.v1alpha.ServerReflection".to_string()),
        "{names:?}"
    );

    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as V1Alpha;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
    let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(AlphaRequest::FileContainingSymbol(
            "grpc.health.v1.Health".into(),
        )),
    };
    let mut stream = V1Alpha::new(channel.clone())
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    assert!(
        stream
            .message()
            .await
            .unwrap()
            .unwrap()
            .message_response
            .is_some()
    );

    // The same health check over grpc-web (HTTP/1.1).
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let web = tower::ServiceBuilder::new()
        .layer(tonic_web::GrpcWebClientLayer::new())
        .service(http);
    let status = HealthClient::with_origin(web, url.parse().unwrap())
        .check(HealthCheckRequest::default())
        .await
        .unwrap();
    assert_eq!(status.into_inner().status, 1);

    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = tokio::task::spawn_blocking(move || server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        exit.success(),
        "taskmesh exited with {exit:?} after SIGTERM"
    );
}

#[test]
fn unimplemented_services_are_refused_at_startup() {
    let output = Command::new(env!("CARGO_BIN_EXE_taskmesh"))
        .args(["serve", "--listen", "127.0.0.1:0", "--service", "billing"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown service"));
}
