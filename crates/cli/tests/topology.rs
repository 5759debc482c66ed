//! Mesh topology: identity and tenancy in two separate processes (two runtimes on two
//! loopback ports), each reaching the other by address. A client talks to one door only; the
//! other service is forwarded, tokens are verified across the network against identity's
//! JWKS, and identity asks tenancy over the network when it scopes tokens.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use mesh::Config;
use mesh::server::Shutdown;
use support::{assert_refused, bearer};
use taskmesh::identity::v1::identity_service_client::IdentityServiceClient;
use taskmesh::identity::v1::*;
use taskmesh::tenancy::v1::tenancy_service_client::TenancyServiceClient;
use taskmesh::tenancy::v1::*;
use tonic::Code;

struct Process {
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _data: tempfile::TempDir,
}

async fn start(
    service: &str,
    listener: tokio::net::TcpListener,
    peers: BTreeMap<String, String>,
) -> Process {
    let bus: Arc<dyn events::Bus> = Arc::new(events::memory::InProcessBus::default());
    start_on(service, listener, peers, bus).await
}

async fn start_on(
    service: &str,
    listener: tokio::net::TcpListener,
    peers: BTreeMap<String, String>,
    bus: Arc<dyn events::Bus>,
) -> Process {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::load(None, Vec::new()).unwrap();
    config.data_dir = data.path().to_path_buf();
    config.peers = peers;
    config.auth.introspection_cache_ms = 0;
    let selection = cli::services::select(&[service.to_string()]).unwrap();
    let shutdown = Shutdown::new();
    let task = tokio::spawn(cli::runtime::serve_with_bus(
        config,
        selection,
        listener,
        shutdown.clone(),
        |_, _| {},
        bus,
    ));
    Process {
        shutdown,
        task,
        _data: data,
    }
}

#[tokio::test]
async fn identity_and_tenancy_as_separate_processes() {
    let identity_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tenancy_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let identity_url = format!("http://{}", identity_listener.local_addr().unwrap());
    let tenancy_url = format!("http://{}", tenancy_listener.local_addr().unwrap());
    let identity = start(
        "identity",
        identity_listener,
        BTreeMap::from([("tenancy".to_string(), tenancy_url.clone())]),
    )
    .await;
    let tenancy = start(
        "tenancy",
        tenancy_listener,
        BTreeMap::from([("identity".to_string(), identity_url.clone())]),
    )
    .await;

    // The client uses the identity process as its only door; tenancy calls are forwarded.
    let channel = tonic::transport::Endpoint::from_shared(identity_url)
        .unwrap()
        .connect_lazy();
    let mut identity_client = IdentityServiceClient::new(channel.clone());
    let mut tenancy_client = TenancyServiceClient::new(channel.clone());

    let (_, tokens) = support::sign_up(&channel, "ivan@example.com").await;
    // Tenancy (another process) verifies the token against identity's keys over the network,
    // and asks identity (over the network) for the caller's email.
    let organization = support::create_organization(&channel, &tokens, "ivanco").await;
    // Identity asks tenancy (over the network) for the role when scoping tokens.
    let scoped = identity_client
        .switch_organization(bearer(
            SwitchOrganizationRequest {
                organization_id: organization.id.clone(),
            },
            &tokens.access_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    assert_eq!(
        scoped.role,
        taskmesh::identity::v1::OrganizationRole::Owner as i32
    );
    let members = tenancy_client
        .list_members(bearer(
            ListMembersRequest {
                organization_id: organization.id.clone(),
                page_size: 0,
                page_token: String::new(),
            },
            &scoped.access_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(
        members
            .iter()
            .map(|member| member.email.as_str())
            .collect::<Vec<_>>(),
        ["ivan@example.com"]
    );
    // A forged token is refused by the process it is forwarded to as well.
    assert_refused(
        tenancy_client
            .list_members(bearer(
                ListMembersRequest {
                    organization_id: organization.id,
                    page_size: 0,
                    page_token: String::new(),
                },
                "not-a-token",
            ))
            .await,
        Code::Unauthenticated,
        "TOKEN_INVALID",
    );

    for process in [tenancy, identity] {
        process.shutdown.trigger();
        process.task.await.unwrap().unwrap();
    }
}

/// Finding 6 in the mesh topology: identity and tenancy as two processes sharing NATS
/// JetStream (a namespace of the test's own). After Logout at identity, tenancy's own auth
/// layer refuses the session's access token, long before it expires (the figure, about
/// 20 ms, is printed, not asserted).
#[tokio::test]
async fn a_logout_reaches_another_process_over_nats() {
    let Some(url) = mesh::testing::nats_url("a_logout_reaches_another_process_over_nats") else {
        return;
    };
    let namespace = mesh::testing::unique_name("tm");
    let connect = || async {
        events::jetstream::JetStreamBus::connect(&url, std::time::Duration::from_secs(5))
            .await
            .unwrap()
            .with_namespace(&namespace)
    };
    let (identity_bus, tenancy_bus) = (connect().await, connect().await);
    let identity_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tenancy_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let identity_url = format!("http://{}", identity_listener.local_addr().unwrap());
    let tenancy_url = format!("http://{}", tenancy_listener.local_addr().unwrap());
    let identity = start_on(
        "identity",
        identity_listener,
        BTreeMap::from([("tenancy".to_string(), tenancy_url.clone())]),
        Arc::new(identity_bus.clone()),
    )
    .await;
    let tenancy = start_on(
        "tenancy",
        tenancy_listener,
        BTreeMap::from([("identity".to_string(), identity_url.clone())]),
        Arc::new(tenancy_bus.clone()),
    )
    .await;
    let mut identity_client = IdentityServiceClient::new(
        tonic::transport::Endpoint::from_shared(identity_url)
            .unwrap()
            .connect_lazy(),
    );
    // Tenancy is called at its own door: its own auth layer decides.
    let tenancy_client = TenancyServiceClient::new(
        tonic::transport::Endpoint::from_shared(tenancy_url)
            .unwrap()
            .connect_lazy(),
    );
    let tokens = identity_client
        .sign_up(SignUpRequest {
            email: "judy@example.com".into(),
            password: "correct-horse-7".into(),
            display_name: "Judy".into(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    let list = || {
        let mut tenancy = tenancy_client.clone();
        let token = tokens.access_token.clone();
        async move {
            tenancy
                .list_organizations(bearer(ListOrganizationsRequest::default(), &token))
                .await
        }
    };
    list().await.unwrap();
    identity_client
        .logout(bearer(LogoutRequest::default(), &tokens.access_token))
        .await
        .unwrap();
    let took = support::refused_after_revocation(list).await;
    println!("tenancy refused the logged-out session's token after {took:?}");

    for process in [tenancy, identity] {
        process.shutdown.trigger();
        process.task.await.unwrap().unwrap();
    }
    identity_bus.delete_streams().await.unwrap();
    tenancy_bus.delete_streams().await.unwrap();
}
