//! What a bench run measures against: an all-in-one server started in this process on a
//! temporary data dir (SQLite, or a scratch PostgreSQL database; the in-process bus, or NATS
//! under a scratch namespace), or a running mesh at `--target`; and the data the scenarios use:
//! a signed-in user in an organization with a project, its board's columns, and seeded tasks.
//!
//! Invariants: an in-process run leaves nothing behind (its temporary directory, scratch
//! database and NATS streams are removed when it ends); rate limits stay in the request path
//! but are raised so one load generator is measured, not refused.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use events::Bus;
use mesh::Config;
use mesh::server::Shutdown;
use projects::store::ProjectsStore;
use taskmesh::identity::v1::identity_service_client::IdentityServiceClient;
use taskmesh::identity::v1::*;
use taskmesh::projects::v1::project_service_client::ProjectServiceClient;
use taskmesh::projects::v1::task_service_client::TaskServiceClient;
use taskmesh::projects::v1::*;
use taskmesh::tenancy::v1::tenancy_service_client::TenancyServiceClient;
use taskmesh::tenancy::v1::*;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

/// The password of the bench user (a fresh user per run).
pub const PASSWORD: &str = "bench-horse-correct-7";

/// A server this process started, and what to clean up when it stops.
pub struct Server {
    pub address: SocketAddr,
    pub bus: Arc<dyn Bus>,
    pub config: Config,
    shutdown: Shutdown,
    task: JoinHandle<anyhow::Result<()>>,
    _data: tempfile::TempDir,
    scratch_database: Option<(String, String)>,
    nats: Option<events::jetstream::JetStreamBus>,
}

/// A unique suffix for scratch names.
fn unique() -> String {
    uuid::Uuid::now_v7().simple().to_string()[20..].to_string()
}

impl Server {
    /// Starts the all-in-one mesh on 127.0.0.1:0 with `config` adjusted for a bench run.
    pub async fn start(
        mut config: Config,
        database_url: Option<&str>,
        nats_url: Option<&str>,
        watchers: usize,
    ) -> anyhow::Result<Self> {
        // Every watcher is the bench user: its stream cap must admit them all.
        config.update_section("projects", |projects: &mut projects::ProjectsConfig| {
            projects.max_streams_per_user = projects.max_streams_per_user.max(watchers);
        })?;
        let data = tempfile::tempdir()?;
        config.data_dir = data.path().to_path_buf();
        config.listen = "127.0.0.1:0".parse()?;
        config.edge.rate_limit.per_principal_per_second = 10_000_000;
        config.edge.rate_limit.per_principal_burst = 10_000_000;
        config.edge.rate_limit.per_ip_per_second = 10_000_000;
        config.edge.rate_limit.per_ip_burst = 10_000_000;
        let mut scratch_database = None;
        if let Some(url) = database_url {
            let name = format!("taskmesh_bench_{}", unique());
            let admin = sqlx::PgPool::connect(url)
                .await
                .context("connecting to PostgreSQL")?;
            sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
                .execute(&admin)
                .await
                .context("creating the scratch database (needs CREATEDB)")?;
            admin.close().await;
            config.database.url = Some(mesh::config::Secret::new(with_database(url, &name)?));
            config.database.migration_url = None;
            config.database.runtime_role = None;
            scratch_database = Some((url.to_string(), name));
        }
        let mut nats = None;
        let bus: Arc<dyn Bus> = match nats_url {
            Some(url) => {
                let namespace = format!("bench{}", unique());
                let bus = events::jetstream::JetStreamBus::connect(url, Duration::from_secs(5))
                    .await
                    .context("connecting to NATS")?
                    .with_namespace(&namespace);
                config.events.nats_url = Some(url.to_string());
                config.events.namespace = namespace;
                nats = Some(bus.clone());
                Arc::new(bus)
            }
            None => Arc::new(events::memory::InProcessBus::default()),
        };
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let address = listener.local_addr()?;
        let shutdown = Shutdown::new();
        let (listening, ready) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(crate::runtime::serve_with_bus(
            config.clone(),
            crate::services::select(&[])?,
            listener,
            shutdown.clone(),
            move |_, _| {
                let _ = listening.send(());
            },
            bus.clone(),
        ));
        if ready.await.is_err() {
            let error = task.await?.err();
            anyhow::bail!("the mesh did not start: {error:?}");
        }
        Ok(Self {
            address,
            bus,
            config,
            shutdown,
            task,
            _data: data,
            scratch_database,
            nats,
        })
    }

    /// Stops the server and removes what the run created.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.task).await;
        if let Some(nats) = &self.nats {
            nats.delete_streams().await?;
        }
        if let Some((url, name)) = self.scratch_database {
            let admin = sqlx::PgPool::connect(&url).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "drop database if exists {name} with (force)"
            )))
            .execute(&admin)
            .await?;
            admin.close().await;
        }
        Ok(())
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (server, _) = base
        .rsplit_once('/')
        .filter(|(server, _)| server.contains("//"))
        .context("database url: postgres://user@host:port/database")?;
    Ok(match query {
        "" => format!("{server}/{name}"),
        query => format!("{server}/{name}?{query}"),
    })
}

/// One HTTP/2 connection (tonic opens one per `Channel` it connects).
pub async fn connect(url: &str) -> anyhow::Result<Channel> {
    Endpoint::from_shared(url.to_string())?
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("connecting to {url}"))
}

pub fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// A user in an organization with a project, as the scenarios use it.
#[derive(Clone, Debug)]
pub struct World {
    pub email: String,
    pub user_id: String,
    pub organization_id: String,
    pub token: String,
    pub project_id: String,
    /// Projects CreateTask spreads its creations over (the first is `project_id`).
    pub create_project_ids: Vec<String>,
    pub board_id: String,
    pub columns: Vec<String>,
    /// Ids of tasks to read and move (at most 1,000).
    pub task_ids: Vec<String>,
    /// Page tokens from deep in the rank order (ListTasks).
    pub deep_page_tokens: Vec<String>,
    /// Slug of an unlimited share link to a task, without a password (`share`).
    pub share_slug: String,
    /// A document of [`SHARED_DOCUMENT_BYTES`] (`download`).
    pub document_id: String,
}

/// Size of the document `download` reads.
pub const SHARED_DOCUMENT_BYTES: usize = 256 * 1024;

/// Signs up a fresh user, creates an organization and a project, and fills it with `tasks`
/// tasks: bulk-loaded through the store when `server` is this process's, else through
/// CreateTask. Prints how long seeding took.
pub async fn build(
    channel: &Channel,
    server: Option<&Server>,
    tasks: i64,
    project_count: u16,
) -> anyhow::Result<World> {
    let suffix = unique();
    let email = format!("bench-{suffix}@bench.invalid");
    let mut identity = IdentityServiceClient::new(channel.clone());
    let signed_up = identity
        .sign_up(SignUpRequest {
            email: email.clone(),
            password: PASSWORD.into(),
            display_name: "Bench".into(),
            request_id: String::new(),
        })
        .await
        .context("SignUp")?
        .into_inner();
    let user_id = signed_up.user.context("user")?.id;
    let unscoped = signed_up.tokens.context("tokens")?.access_token;
    let organization = TenancyServiceClient::new(channel.clone())
        .create_organization(bearer(
            CreateOrganizationRequest {
                name: "Bench".into(),
                slug: format!("bench-{suffix}"),
                request_id: String::new(),
            },
            &unscoped,
        ))
        .await
        .context("CreateOrganization")?
        .into_inner()
        .organization
        .context("organization")?;
    let token = identity
        .switch_organization(bearer(
            SwitchOrganizationRequest {
                organization_id: organization.id.clone(),
            },
            &unscoped,
        ))
        .await
        .context("SwitchOrganization")?
        .into_inner()
        .tokens
        .context("tokens")?
        .access_token;
    let mut projects = ProjectServiceClient::new(channel.clone());
    let project = create_project(&mut projects, &token, "BENCH", "Bench").await?;
    let mut create_project_ids = vec![project.id.clone()];
    for number in 2..=project_count {
        let key = format!("BENCH{number}");
        let more = create_project(&mut projects, &token, &key, &format!("Bench {number}")).await?;
        create_project_ids.push(more.id);
    }
    let board =
        taskmesh::projects::v1::board_service_client::BoardServiceClient::new(channel.clone())
            .get_board(bearer(
                GetBoardRequest {
                    id: project.default_board_id.clone(),
                },
                &token,
            ))
            .await
            .context("GetBoard")?
            .into_inner()
            .board
            .context("board")?;
    let columns: Vec<String> = board
        .columns
        .iter()
        .map(|column| column.id.clone())
        .collect();
    let mut world = World {
        email,
        user_id,
        organization_id: organization.id,
        token,
        project_id: project.id,
        create_project_ids,
        board_id: board.id,
        columns,
        task_ids: Vec::new(),
        deep_page_tokens: Vec::new(),
        share_slug: String::new(),
        document_id: String::new(),
    };
    let started = Instant::now();
    match server {
        Some(server) => seed_in_store(server, &world, tasks).await?,
        None => seed_through_api(channel, &world, tasks).await?,
    }
    eprintln!(
        "seeded {tasks} tasks in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    collect(channel, &mut world).await?;
    share(channel, &mut world).await?;
    Ok(world)
}

/// A document and a share link for the `download` and `share` scenarios.
async fn share(channel: &Channel, world: &mut World) -> anyhow::Result<()> {
    use taskmesh::documents::v1::CreateDocumentRequest;
    use taskmesh::documents::v1::document_service_client::DocumentServiceClient;
    use taskmesh::links::v1::link_service_client::LinkServiceClient;
    use taskmesh::links::v1::{CreateLinkRequest, Link, link};
    let content: Vec<u8> = (0..SHARED_DOCUMENT_BYTES)
        .map(|index| (index % 251) as u8)
        .collect();
    world.document_id = DocumentServiceClient::new(channel.clone())
        .create_document(bearer(
            CreateDocumentRequest {
                title: "Bench document".into(),
                content,
                file_name: "bench.bin".into(),
                project_id: world.project_id.clone(),
                ..CreateDocumentRequest::default()
            },
            &world.token,
        ))
        .await
        .context("CreateDocument")?
        .into_inner()
        .document
        .context("document")?
        .id;
    let task = world.task_ids.first().context("a task to share")?.clone();
    world.share_slug = LinkServiceClient::new(channel.clone())
        .create_link(bearer(
            CreateLinkRequest {
                link: Some(Link {
                    target: Some(link::Target::TaskId(task)),
                    ..Link::default()
                }),
                request_id: String::new(),
            },
            &world.token,
        ))
        .await
        .context("CreateLink")?
        .into_inner()
        .link
        .context("link")?
        .slug;
    Ok(())
}

async fn create_project(
    projects: &mut ProjectServiceClient<Channel>,
    token: &str,
    key: &str,
    name: &str,
) -> anyhow::Result<Project> {
    projects
        .create_project(bearer(
            CreateProjectRequest {
                project: Some(Project {
                    key: key.into(),
                    name: name.into(),
                    ..Project::default()
                }),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .context("CreateProject")?
        .into_inner()
        .project
        .context("project")
}

async fn seed_in_store(server: &Server, world: &World, tasks: i64) -> anyhow::Result<()> {
    let database = mesh::db::Database::for_service(&server.config, "projects").await?;
    let store = projects::store::sql::SqlProjectsStore(kit::Storage::detached(database));
    let organization = world.organization_id.parse()?;
    let column = store
        .column(organization, world.columns[0].parse()?)
        .await?
        .context("the first column")?;
    store
        .seed_tasks(
            organization,
            &column,
            world.user_id.parse()?,
            tasks,
            mesh::time::now_millis() - tasks * 1_000,
        )
        .await?;
    store.0.database.close().await;
    Ok(())
}

async fn seed_through_api(channel: &Channel, world: &World, tasks: i64) -> anyhow::Result<()> {
    let mut client = TaskServiceClient::new(channel.clone());
    for number in 0..tasks {
        client
            .create_task(bearer(
                CreateTaskRequest {
                    task: Some(Task {
                        project_id: world.project_id.clone(),
                        title: format!("Seeded task {number}"),
                        ..Task::default()
                    }),
                    request_id: String::new(),
                },
                &world.token,
            ))
            .await
            .context("CreateTask")?;
    }
    Ok(())
}

/// Reads task ids (first pages) and deep page tokens (walking the rank order).
async fn collect(channel: &Channel, world: &mut World) -> anyhow::Result<()> {
    let mut client = TaskServiceClient::new(channel.clone());
    let mut token = String::new();
    for page in 0..20 {
        let response = client
            .list_tasks(bearer(
                ListTasksRequest {
                    project_id: world.project_id.clone(),
                    page_size: 100,
                    page_token: token.clone(),
                    ..ListTasksRequest::default()
                },
                &world.token,
            ))
            .await
            .context("ListTasks")?
            .into_inner();
        if page < 10 {
            world
                .task_ids
                .extend(response.tasks.iter().map(|task| task.id.clone()));
        }
        if response.next_page_token.is_empty() {
            break;
        }
        token = response.next_page_token;
        if page >= 2 {
            world.deep_page_tokens.push(token.clone());
        }
    }
    if world.task_ids.is_empty() {
        anyhow::bail!("the project has no tasks to read; seed some with --tasks");
    }
    Ok(())
}
