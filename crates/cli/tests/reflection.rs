//! Reflection at an edge-only door: `taskmesh serve --service edge` with `[peers]` pointing at
//! identity and tenancy (here an all-in-one process) lists and describes the forwarded
//! services, so grpcurl and buf curl against the public door see them; calls are still
//! forwarded, and health does not claim the forwarded services.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mesh::Config;
use mesh::server::Shutdown;
use prost::Message;
use support::Mesh;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

const IDENTITY: &str = "taskmesh.identity.v1.IdentityService";
const TENANCY: &str = "taskmesh.tenancy.v1.TenancyService";
/// Every test here is over within this (startup, migrations, password hashing, grpcurl).
const BOUND: Duration = Duration::from_secs(120);

/// An edge-only process (`--service edge`) whose peers are the backend's services.
struct Door {
    address: SocketAddr,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    channel: Channel,
    _data: tempfile::TempDir,
}

impl Door {
    /// Starts the door in front of `backend`. Both listeners are bound before this returns,
    /// so calls queue until each process serves: no readiness polling is needed.
    async fn start(backend: &Mesh) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut config = Config::load(None, Vec::new()).unwrap();
        config.data_dir = data.path().to_path_buf();
        config.auth.introspection_cache_ms = 0;
        let backend_url = format!("http://{}", backend.address);
        config.peers = BTreeMap::from([
            ("identity".to_string(), backend_url.clone()),
            ("tenancy".to_string(), backend_url),
        ]);
        let selection = cli::services::select(&["edge".into()]).unwrap();
        assert!(selection.services.is_empty(), "edge only: {selection:?}");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let bus: Arc<dyn events::Bus> = Arc::new(events::memory::InProcessBus::default());
        let task = tokio::spawn(cli::runtime::serve_with_bus(
            config,
            selection,
            listener,
            shutdown.clone(),
            |_, _| {},
            bus,
        ));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect_lazy();
        Self {
            address,
            shutdown,
            task,
            channel,
            _data: data,
        }
    }

    async fn stop(self) {
        self.shutdown.trigger();
        self.task.await.unwrap().unwrap();
    }

    /// One reflection v1 request and its answer.
    async fn reflect(&self, request: MessageRequest) -> MessageResponse {
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        };
        let mut stream = ServerReflectionClient::new(self.channel.clone())
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let response: ServerReflectionResponse = stream.message().await.unwrap().unwrap();
        response.message_response.expect("a reflection answer")
    }
}

#[tokio::test]
async fn edge_only_door_reflects_and_forwards_its_peers_services() {
    tokio::time::timeout(BOUND, async {
        let backend = Mesh::start().await;
        let door = Door::start(&backend).await;

        // ListServices names the forwarded services (and only the configured packages).
        let MessageResponse::ListServicesResponse(list) = door
            .reflect(MessageRequest::ListServices(String::new()))
            .await
        else {
            panic!("expected a service list");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        for expected in [
            IDENTITY,
            TENANCY,
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ] {
            assert!(
                names.iter().any(|name| name == expected),
                "{expected} in {names:?}"
            );
        }
        assert!(
            !names
                .iter()
                .any(|name| name.starts_with("taskmesh.projects.")),
            "projects is not a peer: {names:?}"
        );
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "listed once: {names:?}");

        // FileContainingSymbol describes a forwarded service.
        let MessageResponse::FileDescriptorResponse(files) = door
            .reflect(MessageRequest::FileContainingSymbol(TENANCY.into()))
            .await
        else {
            panic!("expected the file declaring {TENANCY}");
        };
        let declares_tenancy = files.file_descriptor_proto.iter().any(|bytes| {
            let file = prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap();
            file.package() == "taskmesh.tenancy.v1"
                && file
                    .service
                    .iter()
                    .any(|service| service.name() == "TenancyService")
        });
        assert!(declares_tenancy, "a descriptor declaring {TENANCY}");

        // Health answers for the door itself, not for services it forwards.
        let mut health = HealthClient::new(door.channel.clone());
        let overall = health
            .check(HealthCheckRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(overall.status, 1, "the door is SERVING");
        let forwarded = health
            .check(HealthCheckRequest {
                service: TENANCY.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(forwarded.code(), tonic::Code::NotFound, "{forwarded:?}");

        // Calls are still forwarded: sign up (identity) and create an organization (tenancy)
        // through the door.
        let (_, tokens) = support::sign_up(&door.channel, "rhea@example.com").await;
        let organization = support::create_organization(&door.channel, &tokens, "rheaco").await;
        assert_eq!(organization.slug, "rheaco");

        door.stop().await;
        backend.stop().await;
    })
    .await
    .expect("bounded in time");
}

/// grpcurl from `TASKMESH_TEST_GRPCURL` (CI sets it: a missing file there fails), else from
/// `PATH`; `None` when neither has it.
fn grpcurl_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TASKMESH_TEST_GRPCURL").filter(|path| !path.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "TASKMESH_TEST_GRPCURL={} is not a file",
            path.display()
        );
        return Some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("grpcurl"))
        .find(|path| path.is_file())
}

/// Runs grpcurl against `address` and returns its stdout; fails on a non-zero exit, and
/// kills it after a minute.
async fn grpcurl(binary: &PathBuf, address: SocketAddr, args: &[&str]) -> String {
    let child = std::process::Command::new(binary)
        .args(["-plaintext", "-connect-timeout", "30", "-max-time", "60"])
        .arg(address.to_string())
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let waited = tokio::time::timeout(
        Duration::from_secs(75),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    let Ok(joined) = waited else {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("grpcurl {args:?} did not finish in time");
    };
    let output = joined.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "grpcurl {args:?} exited with {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn grpcurl_lists_and_describes_forwarded_services_at_the_door() {
    let Some(binary) = grpcurl_binary() else {
        println!("skipped: grpcurl not found (set TASKMESH_TEST_GRPCURL or put grpcurl on PATH)");
        return;
    };
    tokio::time::timeout(BOUND, async {
        let backend = Mesh::start().await;
        let door = Door::start(&backend).await;

        let list = grpcurl(&binary, door.address, &["list"]).await;
        let listed: Vec<&str> = list.lines().map(str::trim).collect();
        for expected in [IDENTITY, TENANCY, "grpc.health.v1.Health"] {
            assert!(
                listed.contains(&expected),
                "{expected} in grpcurl list:\n{list}"
            );
        }

        let described = grpcurl(&binary, door.address, &["describe", TENANCY]).await;
        for expected in [
            "taskmesh.tenancy.v1.TenancyService is a service",
            "rpc CreateOrganization",
            "rpc ListMembers",
        ] {
            assert!(
                described.contains(expected),
                "{expected:?} in grpcurl describe:\n{described}"
            );
        }

        door.stop().await;
        backend.stop().await;
    })
    .await
    .expect("bounded in time");
}
