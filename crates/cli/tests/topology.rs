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
    start_services(&[service], listener, peers, bus, None).await
}

/// Starts a process running `services` (with its own data directory unless `shared` names
/// one) and returns once it serves.
async fn start_services(
    services: &[&str],
    listener: tokio::net::TcpListener,
    peers: BTreeMap<String, String>,
    bus: Arc<dyn events::Bus>,
    shared: Option<&std::path::Path>,
) -> Process {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::load(None, Vec::new()).unwrap();
    config.data_dir = shared.unwrap_or(data.path()).to_path_buf();
    config.peers = peers;
    config.auth.introspection_cache_ms = 0;
    let names: Vec<String> = services.iter().map(|name| name.to_string()).collect();
    let selection = cli::services::select(&names).unwrap();
    let shutdown = Shutdown::new();
    let (listening, ready) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(cli::runtime::serve_with_bus(
        config,
        selection,
        listener,
        shutdown.clone(),
        move |_, _| {
            let _ = listening.send(());
        },
        bus,
    ));
    tokio::time::timeout(std::time::Duration::from_secs(60), ready)
        .await
        .expect("the process did not start")
        .expect("the process failed to start");
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

/// Two projects replicas over one database: a change committed through one reaches a board
/// watcher connected to the other, woken by the `board.changed` event on the shared bus.
#[tokio::test]
async fn a_board_change_on_one_projects_replica_reaches_a_watcher_on_another() {
    use taskmesh::projects::v1::board_service_client::BoardServiceClient;
    use taskmesh::projects::v1::project_service_client::ProjectServiceClient;
    use taskmesh::projects::v1::task_service_client::TaskServiceClient;
    use taskmesh::projects::v1::watch_board_response::Event;
    use taskmesh::projects::v1::*;

    let bus: Arc<dyn events::Bus> = Arc::new(events::memory::InProcessBus::default());
    let bind = || async { tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let (core_listener, first_listener, second_listener) =
        (bind().await, bind().await, bind().await);
    let url =
        |listener: &tokio::net::TcpListener| format!("http://{}", listener.local_addr().unwrap());
    let (core_url, first_url, second_url) = (
        url(&core_listener),
        url(&first_listener),
        url(&second_listener),
    );
    let core = start_services(
        &["identity", "tenancy"],
        core_listener,
        BTreeMap::new(),
        bus.clone(),
        None,
    )
    .await;
    let peers = BTreeMap::from([
        ("identity".to_string(), core_url.clone()),
        ("tenancy".to_string(), core_url.clone()),
    ]);
    let shared = tempfile::tempdir().unwrap();
    let first = start_services(
        &["projects"],
        first_listener,
        peers.clone(),
        bus.clone(),
        Some(shared.path()),
    )
    .await;
    let second = start_services(
        &["projects"],
        second_listener,
        peers,
        bus.clone(),
        Some(shared.path()),
    )
    .await;
    let channel = |url: &str| {
        tonic::transport::Endpoint::from_shared(url.to_string())
            .unwrap()
            .connect_lazy()
    };

    let (_, tokens) = support::sign_up(&channel(&core_url), "kim@replicas.test").await;
    let organization = support::create_organization(&channel(&core_url), &tokens, "replicas").await;
    let token = IdentityServiceClient::new(channel(&core_url))
        .switch_organization(bearer(
            SwitchOrganizationRequest {
                organization_id: organization.id,
            },
            &tokens.access_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap()
        .access_token;
    let project = ProjectServiceClient::new(channel(&first_url))
        .create_project(bearer(
            CreateProjectRequest {
                project: Some(Project {
                    key: "REP".into(),
                    name: "Replicas".into(),
                    ..Project::default()
                }),
                request_id: String::new(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    let mut stream = BoardServiceClient::new(channel(&second_url))
        .watch_board(bearer(
            WatchBoardRequest {
                board_id: project.default_board_id.clone(),
                resume_token: String::new(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    let hung = std::time::Duration::from_secs(30);
    let snapshot = tokio::time::timeout(hung, stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(snapshot.event, Some(Event::Snapshot(_))));
    TaskServiceClient::new(channel(&first_url))
        .create_task(bearer(
            CreateTaskRequest {
                task: Some(Task {
                    project_id: project.id.clone(),
                    title: "Across replicas".into(),
                    ..Task::default()
                }),
                request_id: String::new(),
            },
            &token,
        ))
        .await
        .unwrap();
    let change = tokio::time::timeout(hung, stream.message())
        .await
        .expect("the other replica never heard of the change")
        .unwrap()
        .unwrap();
    assert!(
        matches!(&change.event, Some(Event::TaskCreated(task)) if task.key == "REP-1"),
        "{change:?}"
    );

    drop(stream);
    for process in [first, second, core] {
        process.shutdown.trigger();
        process.task.await.unwrap().unwrap();
    }
}

/// Notifications in a process of its own, fed over NATS JetStream (a namespace of the
/// test's own) by identity, tenancy and projects in another: an assignment made at one door
/// reaches the assignee's StreamNotifications open at the other, through the durable
/// `taskmesh.projects.>` consumer and the NotificationCreated follower.
#[tokio::test]
async fn an_assignment_reaches_a_notification_stream_in_another_process_over_nats() {
    use taskmesh::notifications::v1::notification_service_client::NotificationServiceClient;
    use taskmesh::notifications::v1::stream_notifications_response::Event as StreamEvent;
    use taskmesh::notifications::v1::{NotificationKind, StreamNotificationsRequest};
    use taskmesh::projects::v1::Task;

    let Some(url) = mesh::testing::nats_url("an_assignment_reaches_a_notification_stream") else {
        return;
    };
    let namespace = mesh::testing::unique_name("tm");
    let connect = || async {
        events::jetstream::JetStreamBus::connect(&url, std::time::Duration::from_secs(5))
            .await
            .unwrap()
            .with_namespace(&namespace)
    };
    let (work_bus, notifications_bus) = (connect().await, connect().await);
    let work_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let notifications_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let work_url = format!("http://{}", work_listener.local_addr().unwrap());
    let notifications_url = format!("http://{}", notifications_listener.local_addr().unwrap());
    let work = start_services(
        &["identity", "tenancy", "projects"],
        work_listener,
        BTreeMap::from([("notifications".to_string(), notifications_url.clone())]),
        Arc::new(work_bus.clone()),
        None,
    )
    .await;
    let notifications = start_services(
        &["notifications"],
        notifications_listener,
        BTreeMap::from([("identity".to_string(), work_url.clone())]),
        Arc::new(notifications_bus.clone()),
        None,
    )
    .await;
    let channel = |url: &str| {
        tonic::transport::Endpoint::from_shared(url.to_string())
            .unwrap()
            .connect_lazy()
    };
    let work_channel = channel(&work_url);
    let identity = IdentityServiceClient::new(work_channel.clone());
    let mut tenancy = TenancyServiceClient::new(work_channel.clone());
    let (_, ada) = support::sign_up(&work_channel, "ada@nats-notify.test").await;
    let (bob_user, bob) = support::sign_up(&work_channel, "bob@nats-notify.test").await;
    let organization = support::create_organization(&work_channel, &ada, "nats-notify").await;
    let scoped = |tokens: AuthTokens| {
        let mut identity = identity.clone();
        let organization = organization.id.clone();
        async move {
            identity
                .switch_organization(bearer(
                    SwitchOrganizationRequest {
                        organization_id: organization,
                    },
                    &tokens.access_token,
                ))
                .await
                .unwrap()
                .into_inner()
                .tokens
                .unwrap()
                .access_token
        }
    };
    let ada_token = scoped(ada.clone()).await;
    let invitation = tenancy
        .create_invitation(bearer(
            CreateInvitationRequest {
                organization_id: organization.id.clone(),
                email: "bob@nats-notify.test".into(),
                role: taskmesh::tenancy::v1::OrganizationRole::Member as i32,
                ttl: None,
                request_id: String::new(),
            },
            &ada_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .token;
    tenancy
        .accept_invitation(bearer(
            AcceptInvitationRequest { token: invitation },
            &bob.access_token,
        ))
        .await
        .unwrap();
    let bob_token = scoped(bob.clone()).await;

    // Bob listens at the notifications process's own door.
    let mut feed = NotificationServiceClient::new(channel(&notifications_url))
        .stream_notifications(bearer(StreamNotificationsRequest::default(), &bob_token))
        .await
        .unwrap()
        .into_inner();
    let hung = std::time::Duration::from_secs(20);
    let first = tokio::time::timeout(hung, feed.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(first.event, Some(StreamEvent::UnreadCount(_))));

    let project = support::create_project(&work_channel, &ada_token, "NATS").await;
    support::add_project_member(&work_channel, &ada_token, &project.id, &bob_user.id).await;
    let task = Task {
        project_id: project.id.clone(),
        title: "Across processes".into(),
        assignee_user_ids: vec![bob_user.id.clone()],
        ..Task::default()
    };
    support::create_task(&work_channel, &ada_token, task).await;
    let notification = loop {
        let message = tokio::time::timeout(hung, feed.message())
            .await
            .expect("the assignment never reached the stream")
            .unwrap()
            .unwrap();
        // First the project membership, then the assignment, in order.
        if let Some(StreamEvent::Notification(notification)) = message.event
            && notification.kind == NotificationKind::TaskAssigned as i32
        {
            break notification;
        }
    };
    assert!(notification.title.contains("Across processes"));

    drop(feed);
    for process in [notifications, work] {
        process.shutdown.trigger();
        process.task.await.unwrap().unwrap();
    }
    work_bus.delete_streams().await.unwrap();
    notifications_bus.delete_streams().await.unwrap();
}

/// The broker goes away mid-stream: notifications still applies every event exactly once.
/// A test-owned nats-server (JetStream, its own store and free port) carries the events of an
/// all-in-one process; while it is down, Ada assigns Bob three tasks (the changes commit, their
/// events wait in the outbox); when it is back, Bob's inbox holds each assignment once.
#[tokio::test]
async fn notifications_and_analytics_apply_every_event_once_across_a_broker_outage() {
    use taskmesh::notifications::v1::notification_service_client::NotificationServiceClient;
    use taskmesh::notifications::v1::{ListNotificationsRequest, Notification};
    use taskmesh::projects::v1::Task;

    if mesh::testing::nats_url(
        "notifications_and_analytics_apply_every_event_once_across_a_broker_outage",
    )
    .is_none()
    {
        return;
    }
    // CI has a nats-server (it runs one); the test starts its own so it can stop it.
    let binary = [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .into_iter()
    .find(|path| std::path::Path::new(path).exists())
    .expect("nats-server is installed where TASKMESH_TEST_NATS_URL is set");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = tempfile::tempdir().unwrap();
    // Started, and returned once it logs that it is ready (its log is read to the end).
    let start_broker = || async {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path())
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut log = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let ready = async {
            while let Some(line) = log.next_line().await.unwrap() {
                if line.contains("Server is ready") {
                    return;
                }
            }
            panic!("nats-server exited before it was ready");
        };
        tokio::time::timeout(std::time::Duration::from_secs(20), ready)
            .await
            .expect("nats-server did not start");
        tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
        child
    };
    let mut broker = start_broker().await;
    let url = format!("nats://127.0.0.1:{port}");
    let bus = events::jetstream::JetStreamBus::connect(&url, std::time::Duration::from_secs(2))
        .await
        .unwrap()
        .with_namespace(&mesh::testing::unique_name("tm"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let process = start_services(
        &[
            "identity",
            "tenancy",
            "projects",
            "notifications",
            "analytics",
        ],
        listener,
        BTreeMap::new(),
        Arc::new(bus.clone()),
        None,
    )
    .await;
    let channel = tonic::transport::Endpoint::from_shared(address)
        .unwrap()
        .connect_lazy();
    let (_, ada) = support::sign_up(&channel, "ada@outage.test").await;
    let (bob_user, bob) = support::sign_up(&channel, "bob@outage.test").await;
    let organization = support::create_organization(&channel, &ada, "outage").await;
    let identity = IdentityServiceClient::new(channel.clone());
    let scoped = |tokens: AuthTokens| {
        let mut identity = identity.clone();
        let organization = organization.id.clone();
        async move {
            identity
                .switch_organization(bearer(
                    SwitchOrganizationRequest {
                        organization_id: organization,
                    },
                    &tokens.access_token,
                ))
                .await
                .unwrap()
                .into_inner()
                .tokens
                .unwrap()
                .access_token
        }
    };
    let ada_token = scoped(ada).await;
    let mut tenancy = TenancyServiceClient::new(channel.clone());
    let invitation = tenancy
        .create_invitation(bearer(
            CreateInvitationRequest {
                organization_id: organization.id.clone(),
                email: "bob@outage.test".into(),
                role: taskmesh::tenancy::v1::OrganizationRole::Member as i32,
                ttl: None,
                request_id: String::new(),
            },
            &ada_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .token;
    tenancy
        .accept_invitation(bearer(
            AcceptInvitationRequest { token: invitation },
            &bob.access_token,
        ))
        .await
        .unwrap();
    let bob_token = scoped(bob).await;
    let project = support::create_project(&channel, &ada_token, "OUT").await;
    support::add_project_member(&channel, &ada_token, &project.id, &bob_user.id).await;
    let assign = |title: &str| Task {
        project_id: project.id.clone(),
        title: title.into(),
        assignee_user_ids: vec![bob_user.id.clone()],
        ..Task::default()
    };
    // Notifications are waited for on the bus (their NotificationCreated events), then counted
    // in Bob's inbox.
    let since = std::time::SystemTime::now();
    let created_for = |tasks: Vec<String>| {
        let bus = bus.clone();
        async move {
            let mut subscription = events::Bus::subscribe(
                &bus,
                &events::ConsumerConfig {
                    name: mesh::testing::unique_name("outage-watch"),
                    filter_subjects: vec!["taskmesh.notifications.notification.created".into()],
                    ack_wait: std::time::Duration::from_secs(30),
                    ephemeral: true,
                    start: events::StartAt::Since(since),
                },
            )
            .await
            .unwrap();
            let mut waiting = tasks;
            while !waiting.is_empty() {
                let delivery =
                    tokio::time::timeout(std::time::Duration::from_secs(60), subscription.next())
                        .await
                        .expect("assignments still missing after the broker came back")
                        .unwrap();
                let envelope = events::envelope::decode(&delivery.message).unwrap();
                let created =
                    <taskmesh::events::v1::NotificationCreated as prost::Message>::decode(
                        envelope.payload.as_slice(),
                    )
                    .unwrap();
                waiting.retain(|task| *task != created.task_id);
                delivery.ack().await.unwrap();
            }
        }
    };
    let inbox = NotificationServiceClient::new(channel.clone());
    let assignments = || {
        let mut inbox = inbox.clone();
        let token = bob_token.clone();
        async move {
            inbox
                .list_notifications(bearer(
                    ListNotificationsRequest {
                        filter: "kind = NOTIFICATION_KIND_TASK_ASSIGNED".into(),
                        ..ListNotificationsRequest::default()
                    },
                    &token,
                ))
                .await
                .unwrap()
                .into_inner()
                .notifications
        }
    };
    let before = support::create_task(&channel, &ada_token, assign("Before")).await;
    created_for(vec![before.id]).await;
    assert_eq!(assignments().await.len(), 1);

    broker.kill().await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "the broker is down while the tasks are assigned"
    );
    let mut during = Vec::new();
    for title in ["During 1", "During 2", "During 3"] {
        during.push(
            support::create_task(&channel, &ada_token, assign(title))
                .await
                .id,
        );
    }
    broker = start_broker().await;
    created_for(during).await;
    let arrived: Vec<Notification> = assignments().await;
    let mut titles: Vec<&str> = arrived.iter().map(|n| n.title.as_str()).collect();
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), 4, "each assignment exactly once: {titles:?}");
    assert_eq!(arrived.len(), 4);
    // Analytics consumed the same stream across the outage: each task counted once.
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        bus.settled("taskmesh.projects.>", "analytics-projects"),
    )
    .await
    .expect("analytics did not catch up")
    .unwrap();
    let now = mesh::time::now_millis();
    let day = 86_400_000;
    let metrics = taskmesh::analytics::v1::analytics_service_client::AnalyticsServiceClient::new(
        channel.clone(),
    )
    .get_task_metrics(bearer(
        taskmesh::analytics::v1::GetTaskMetricsRequest {
            start_time: Some(mesh::time::timestamp(now - day)),
            end_time: Some(mesh::time::timestamp(now + day)),
            ..Default::default()
        },
        &ada_token,
    ))
    .await
    .unwrap()
    .into_inner()
    .total
    .unwrap();
    assert_eq!(
        (metrics.created_count, metrics.todo_count),
        (4, 4),
        "{metrics:?}"
    );

    process.shutdown.trigger();
    process.task.await.unwrap().unwrap();
    bus.delete_streams().await.unwrap();
    broker.kill().await.unwrap();
}
