//! WatchBoard called directly on a real SQLite store with a scripted organization directory:
//! resuming after a disconnect, tokens of other boards and of pruned history, the overrun
//! bound, and wake-ups arriving through the bus from other replicas.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use mesh::auth::{OrganizationRole, Principal, Scope, TokenKind};
use mesh::ids::{OrganizationId, UserId};
use mesh::peers::CallContext;
use taskmesh::projects::v1::board_service_server::BoardService;
use taskmesh::projects::v1::project_service_server::ProjectService;
use taskmesh::projects::v1::task_service_server::TaskService;
use taskmesh::projects::v1::watch_board_response::Event;
use taskmesh::projects::v1::*;
use tonic::Request;

use super::watch::{self, Hub, QUEUE};
use super::*;
use crate::store::sql::SqlProjectsStore;

/// Everyone asked about is an organization member.
struct Everyone;

#[async_trait::async_trait]
impl OrganizationDirectory for Everyone {
    async fn role(
        &self,
        _: &CallContext,
        _: OrganizationId,
        _: UserId,
    ) -> Result<Option<OrganizationRole>> {
        Ok(Some(OrganizationRole::Member))
    }
}

/// A hang guard for stream reads, not a timing claim.
const HUNG: Duration = Duration::from_secs(30);

async fn api(retention_secs: u64) -> (ProjectsApi, impl Drop) {
    let (database, dir) =
        mesh::testing::sqlite(&[&crate::migrations(), &events::migrations()]).await;
    let api = ProjectsApi {
        store: Arc::new(SqlProjectsStore(kit::Storage::detached(database))),
        directory: Arc::new(Everyone),
        config: ProjectsConfig {
            watch_retention_secs: retention_secs,
            ..ProjectsConfig::default()
        },
        hub: Hub::default(),
    };
    (api, dir)
}

fn signed_in<T>(user: UserId, organization: OrganizationId, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(Principal {
        user_id: user,
        organization_id: Some(organization),
        role: Some(OrganizationRole::Owner),
        token_kind: TokenKind::Access,
        scope: Scope::ReadWrite,
        session_id: None,
        token_id: "test".into(),
    });
    request
}

struct World {
    api: ProjectsApi,
    user: UserId,
    organization: OrganizationId,
    project: Project,
    _dir: Box<dyn std::any::Any>,
}

impl World {
    async fn new(retention_secs: u64) -> Self {
        let (api, dir) = api(retention_secs).await;
        let (user, organization) = (UserId::new(), OrganizationId::new());
        let project = ProjectService::create_project(
            &api,
            signed_in(
                user,
                organization,
                CreateProjectRequest {
                    project: Some(Project {
                        key: "LIVE".into(),
                        name: "Live".into(),
                        ..Project::default()
                    }),
                    request_id: String::new(),
                },
            ),
        )
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
        Self {
            api,
            user,
            organization,
            project,
            _dir: Box::new(dir),
        }
    }

    fn request<T>(&self, message: T) -> Request<T> {
        signed_in(self.user, self.organization, message)
    }

    async fn task(&self, title: &str) -> Task {
        let request = self.request(CreateTaskRequest {
            task: Some(Task {
                project_id: self.project.id.clone(),
                title: title.into(),
                ..Task::default()
            }),
            request_id: String::new(),
        });
        TaskService::create_task(&self.api, request)
            .await
            .unwrap()
            .into_inner()
            .task
            .unwrap()
    }

    async fn watch(
        &self,
        resume_token: &str,
    ) -> std::result::Result<watch::WatchStream, tonic::Status> {
        let request = self.request(WatchBoardRequest {
            board_id: self.project.default_board_id.clone(),
            resume_token: resume_token.into(),
        });
        BoardService::watch_board(&self.api, request)
            .await
            .map(tonic::Response::into_inner)
    }
}

async fn next(stream: &mut watch::WatchStream) -> WatchBoardResponse {
    tokio::time::timeout(HUNG, stream.next())
        .await
        .expect("watch stream hung")
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_resumed_stream_replays_exactly_what_it_missed() {
    let world = World::new(600).await;
    let mut stream = world.watch("").await.unwrap();
    let snapshot = next(&mut stream).await;
    assert!(matches!(&snapshot.event, Some(Event::Snapshot(chunk)) if chunk.complete));
    world.task("First").await;
    let first = next(&mut stream).await;
    assert!(matches!(&first.event, Some(Event::TaskCreated(task)) if task.key == "LIVE-1"));
    drop(stream);

    // Changes while disconnected arrive on resume, in order, without a snapshot.
    world.task("Second").await;
    world.task("Third").await;
    let mut resumed = world.watch(&first.resume_token).await.unwrap();
    for key in ["LIVE-2", "LIVE-3"] {
        let message = next(&mut resumed).await;
        assert!(
            matches!(&message.event, Some(Event::TaskCreated(task)) if task.key == key),
            "{message:?}"
        );
    }
    // Resuming from the newest token sends nothing old.
    world.task("Fourth").await;
    let message = next(&mut resumed).await;
    assert!(matches!(&message.event, Some(Event::TaskCreated(task)) if task.key == "LIVE-4"));

    // A token of another board, or garbage, is refused.
    let board = BoardService::create_board(
        &world.api,
        world.request(CreateBoardRequest {
            board: Some(Board {
                project_id: world.project.id.clone(),
                name: "Other".into(),
                ..Board::default()
            }),
            request_id: String::new(),
        }),
    )
    .await
    .unwrap()
    .into_inner()
    .board
    .unwrap();
    let other = BoardService::watch_board(
        &world.api,
        world.request(WatchBoardRequest {
            board_id: board.id,
            resume_token: String::new(),
        }),
    )
    .await
    .unwrap()
    .into_inner()
    .next()
    .await
    .unwrap()
    .unwrap();
    for token in [other.resume_token.as_str(), "garbage"] {
        let status = world.watch(token).await.err().unwrap();
        assert_eq!(
            mesh::error::reason_of(&status).as_deref(),
            Some("RESUME_TOKEN_INVALID")
        );
    }
}

#[tokio::test]
async fn a_token_older_than_the_kept_history_gets_a_fresh_snapshot() {
    // Nothing is kept beyond the newest change.
    let world = World::new(0).await;
    let mut stream = world.watch("").await.unwrap();
    let snapshot = next(&mut stream).await;
    drop(stream);
    world.task("One").await;
    world.task("Two").await;
    world.task("Three").await;
    let mut resumed = world.watch(&snapshot.resume_token).await.unwrap();
    let message = next(&mut resumed).await;
    let Some(Event::Snapshot(chunk)) = message.event else {
        panic!("{message:?}")
    };
    assert!(chunk.complete);
    assert_eq!((chunk.tasks.len(), chunk.total_task_count), (3, 3));
}

#[tokio::test]
async fn a_stream_that_falls_behind_is_ended_not_waited_for() {
    let (sender, mut receiver) = tokio::sync::mpsc::channel(QUEUE + 1);
    let message = WatchBoardResponse::default();
    for _ in 0..QUEUE {
        assert!(watch::send(&sender, message.clone()).await.unwrap());
    }
    // The queue is full but for the slot kept for the overrun status: the writer is told at
    // once instead of waiting for the reader.
    let overrun = watch::send(&sender, message).await.unwrap_err();
    assert_eq!(overrun.reason(), "WATCH_OVERRUN");
    assert_eq!(receiver.len(), QUEUE);
    receiver.close();
}

#[tokio::test]
async fn board_changes_from_other_replicas_wake_the_streams_here() {
    let bus = events::memory::InProcessBus::default();
    let hub = Hub::default();
    let shutdown = mesh::server::Shutdown::new();
    let board = crate::domain::BoardId::new();
    let notify = hub.entry(board);
    let woken = notify.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let follower = tokio::spawn(watch::follow(
        Arc::new(bus.clone()),
        hub.clone(),
        shutdown.clone(),
    ));
    // Another replica committed a change to the board: its relay published board.changed.
    let message = crate::events::BOARD_CHANGED
        .event(
            format!("organizations/x/boards/{board}"),
            &taskmesh::events::v1::BoardChanged {
                board_id: board.to_string(),
            },
        )
        .build();
    events::Bus::publish(&bus, &message).await.unwrap();
    tokio::time::timeout(HUNG, woken)
        .await
        .expect("the change did not wake the board's streams");
    // Shutting down ends the follower and tells streams to resume elsewhere.
    shutdown.trigger();
    tokio::time::timeout(HUNG, follower).await.unwrap().unwrap();
    assert!(hub.draining());
}
