//! Boots the real all-in-one mesh in-process on a loopback port (the code `taskmesh serve`
//! runs), with an in-process event bus the test can read, and typed clients for it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use events::memory::InProcessBus;
use mesh::Config;
use mesh::server::Shutdown;
use taskmesh::identity::v1::identity_service_client::IdentityServiceClient;
use taskmesh::identity::v1::*;
use taskmesh::tenancy::v1::tenancy_service_client::TenancyServiceClient;
use taskmesh::tenancy::v1::*;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

pub struct Mesh {
    pub address: SocketAddr,
    pub bus: InProcessBus,
    pub shutdown: Shutdown,
    pub task: JoinHandle<anyhow::Result<()>>,
    pub data: tempfile::TempDir,
    pub channel: Channel,
}

impl Mesh {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut config = Config::load(None, Vec::new()).unwrap();
        config.data_dir = data.path().to_path_buf();
        // Revocations must show at once in tests; production caches briefly.
        config.auth.introspection_cache_ms = 0;
        config
            .update_section("identity", |identity: &mut identity::IdentityConfig| {
                identity.password_hash_concurrency = 2;
            })
            .unwrap();
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let bus = InProcessBus::default();
        let shutdown = Shutdown::new();
        let selection = cli::services::select(&[]).unwrap();
        let (listening, ready) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(cli::runtime::serve_with_bus(
            config,
            selection,
            listener,
            shutdown.clone(),
            move |_, _| {
                let _ = listening.send(());
            },
            Arc::new(bus.clone()),
        ));
        // Serving starts after the migrations; tests begin when the mesh answers.
        tokio::time::timeout(std::time::Duration::from_secs(60), ready)
            .await
            .expect("the mesh did not start")
            .expect("the mesh failed to start");
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect_lazy();
        Self {
            address,
            bus,
            shutdown,
            task,
            data,
            channel,
        }
    }

    pub fn identity(&self) -> IdentityServiceClient<Channel> {
        IdentityServiceClient::new(self.channel.clone())
    }

    pub fn tenancy(&self) -> TenancyServiceClient<Channel> {
        TenancyServiceClient::new(self.channel.clone())
    }

    pub async fn stop(self) {
        self.shutdown.trigger();
        self.task.await.unwrap().unwrap();
    }

    /// Signs up a user; returns (user, tokens).
    pub async fn sign_up(&self, email: &str) -> (User, AuthTokens) {
        sign_up(&self.channel, email).await
    }

    /// Creates an organization with an unscoped token and switches to it; returns the
    /// organization and tokens scoped to it.
    pub async fn create_organization(
        &self,
        tokens: &AuthTokens,
        slug: &str,
    ) -> (Organization, AuthTokens) {
        let organization = create_organization(&self.channel, tokens, slug).await;
        let scoped = self.switch(tokens, &organization.id).await.unwrap();
        (organization, scoped)
    }

    pub async fn switch(
        &self,
        tokens: &AuthTokens,
        organization_id: &str,
    ) -> Result<AuthTokens, tonic::Status> {
        Ok(self
            .identity()
            .switch_organization(bearer(
                SwitchOrganizationRequest {
                    organization_id: organization_id.into(),
                },
                &tokens.access_token,
            ))
            .await?
            .into_inner()
            .tokens
            .unwrap())
    }

    /// Invites `email` with `role` as the holder of `inviter` (an access token); returns the
    /// invitation's secret token.
    pub async fn invite(
        &self,
        inviter: &str,
        organization_id: &str,
        email: &str,
        role: taskmesh::tenancy::v1::OrganizationRole,
    ) -> String {
        self.tenancy()
            .create_invitation(bearer(
                CreateInvitationRequest {
                    organization_id: organization_id.into(),
                    email: email.into(),
                    role: role as i32,
                    ttl: None,
                    request_id: String::new(),
                },
                inviter,
            ))
            .await
            .unwrap()
            .into_inner()
            .token
    }

    /// Invites `email` with `role` and has `invitee` accept; returns the invitee's tokens
    /// scoped to the organization.
    pub async fn invite_and_join(
        &self,
        admin: &AuthTokens,
        organization_id: &str,
        email: &str,
        role: taskmesh::tenancy::v1::OrganizationRole,
        invitee: &AuthTokens,
    ) -> AuthTokens {
        let token = self
            .invite(&admin.access_token, organization_id, email, role)
            .await;
        self.tenancy()
            .accept_invitation(bearer(
                AcceptInvitationRequest { token },
                &invitee.access_token,
            ))
            .await
            .unwrap();
        self.switch(invitee, organization_id).await.unwrap()
    }
}

/// Signs up `email` (display name: the part before `@`) through whatever door `channel`
/// reaches; returns (user, tokens).
pub async fn sign_up(channel: &Channel, email: &str) -> (User, AuthTokens) {
    let response = IdentityServiceClient::new(channel.clone())
        .sign_up(SignUpRequest {
            email: email.into(),
            password: "correct-horse-7".into(),
            display_name: email.split('@').next().unwrap().into(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    (response.user.unwrap(), response.tokens.unwrap())
}

/// Creates an organization named after `slug` with an unscoped token through whatever door
/// `channel` reaches.
pub async fn create_organization(
    channel: &Channel,
    tokens: &AuthTokens,
    slug: &str,
) -> Organization {
    TenancyServiceClient::new(channel.clone())
        .create_organization(bearer(
            CreateOrganizationRequest {
                name: slug.to_uppercase(),
                slug: slug.into(),
                request_id: String::new(),
            },
            &tokens.access_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap()
}

pub fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

pub fn reason(status: &tonic::Status) -> String {
    mesh::error::reason_of(status).unwrap_or_default()
}

/// Asserts a call failed with `code` and `reason`.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: tonic::Code,
    expected_reason: &str,
) {
    match result {
        Ok(value) => panic!("expected {code:?} {expected_reason}, got {value:?}"),
        Err(status) => {
            assert_eq!(
                (status.code(), reason(&status).as_str()),
                (code, expected_reason),
                "{status:?}"
            );
        }
    }
}

/// Runs `count` copies of `call` at once and returns their results.
pub async fn at_once<F, Fut, T>(count: usize, call: F) -> Vec<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = (0..count).map(|_| tokio::spawn(call())).collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

/// How long a test waits for a revocation to arrive before it calls the run hung. A guard,
/// not a claim: the tests that use it make every other way to a refusal (expiry, the introspection
/// cache) take far longer, so any refusal is the revocation event's, and they print how long
/// it took (about 20 ms) instead of asserting a figure (timings are measured, not asserted).
const HUNG: std::time::Duration = std::time::Duration::from_secs(30);

/// Polls `call` until it is refused with UNAUTHENTICATED `TOKEN_REVOKED`; returns how long
/// that took.
pub async fn refused_after_revocation<F, Fut, T>(mut call: F) -> std::time::Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let started = std::time::Instant::now();
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(20));
    loop {
        ticks.tick().await;
        if let Err(status) = call().await {
            assert_eq!(
                (status.code(), reason(&status).as_str()),
                (tonic::Code::Unauthenticated, "TOKEN_REVOKED"),
                "{status:?}"
            );
            return started.elapsed();
        }
        assert!(
            started.elapsed() < HUNG,
            "still accepted {HUNG:?} after the revocation"
        );
    }
}

/// Creates a project with `key` (also its name) as the holder of `token` through whatever
/// door `channel` reaches; returns it.
pub async fn create_project(
    channel: &Channel,
    token: &str,
    key: &str,
) -> taskmesh::projects::v1::Project {
    use taskmesh::projects::v1::*;
    project_service_client::ProjectServiceClient::new(channel.clone())
        .create_project(bearer(
            CreateProjectRequest {
                project: Some(Project {
                    key: key.into(),
                    name: key.into(),
                    ..Project::default()
                }),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap()
}

/// Adds `user_id` to `project_id` with the default role, as the holder of `token`.
pub async fn add_project_member(channel: &Channel, token: &str, project_id: &str, user_id: &str) {
    use taskmesh::projects::v1::*;
    project_service_client::ProjectServiceClient::new(channel.clone())
        .add_project_member(bearer(
            AddProjectMemberRequest {
                project_id: project_id.into(),
                user_id: user_id.into(),
                role: 0,
            },
            token,
        ))
        .await
        .unwrap();
}

/// Creates `task` as the holder of `token`; returns it as created.
pub async fn create_task(
    channel: &Channel,
    token: &str,
    task: taskmesh::projects::v1::Task,
) -> taskmesh::projects::v1::Task {
    use taskmesh::projects::v1::*;
    task_service_client::TaskServiceClient::new(channel.clone())
        .create_task(bearer(
            CreateTaskRequest {
                task: Some(task),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap()
}

/// The latest event on `subject`: a fresh durable consumer starts at the oldest retained
/// message, so this waits for the relay to publish without polling.
pub async fn wait_for_event(mesh: &Mesh, subject: &str) -> taskmesh::events::v1::Event {
    wait_for_event_where(mesh, subject, |_| true).await;
    // Only the newest one matters to callers.
    let newest = mesh.bus.messages(subject).last().cloned().unwrap();
    events::envelope::decode(&newest).unwrap()
}

/// The first event on `subject` (from the oldest retained) for which `wanted` holds, waiting
/// for it to be published (at most 15 seconds).
pub async fn wait_for_event_where(
    mesh: &Mesh,
    subject: &str,
    wanted: impl Fn(&taskmesh::events::v1::Event) -> bool,
) -> taskmesh::events::v1::Event {
    use events::Bus;
    let consumer = events::ConsumerConfig {
        name: format!("test-{}", uuid::Uuid::now_v7().simple()),
        filter_subjects: vec![subject.to_string()],
        ack_wait: std::time::Duration::from_secs(30),
        ..Default::default()
    };
    let mut subscription = mesh.bus.subscribe(&consumer).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let delivery = tokio::time::timeout_at(deadline, subscription.next())
            .await
            .unwrap_or_else(|_| panic!("no matching {subject} event"))
            .unwrap();
        let event: taskmesh::events::v1::Event =
            events::envelope::decode(&delivery.message).unwrap();
        if wanted(&event) {
            return event;
        }
    }
}
