//! A projects API on a real SQLite store with a scripted organization directory, and a
//! signed-in owner with a project, for tests that call the services directly.

use std::sync::Arc;
use std::time::Duration;

use mesh::auth::{OrganizationRole, Principal, Scope, TokenKind};
use mesh::ids::{OrganizationId, UserId};
use mesh::peers::CallContext;
use taskmesh::projects::v1::board_service_server::BoardService;
use taskmesh::projects::v1::project_service_server::ProjectService;
use taskmesh::projects::v1::task_service_server::TaskService;
use taskmesh::projects::v1::*;
use tonic::Request;

use super::watch::{self, Hub};
use super::*;
use crate::store::sql::SqlProjectsStore;

/// Everyone asked about is an organization member.
pub(super) struct Everyone;

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
pub(super) const HUNG: Duration = Duration::from_secs(30);

pub(super) async fn api(retention_secs: u64) -> (ProjectsApi, mesh::db::Database, impl Drop) {
    let (database, dir) =
        mesh::testing::sqlite(&[&crate::migrations(), &events::migrations()]).await;
    let api = ProjectsApi {
        store: Arc::new(SqlProjectsStore(kit::Storage::detached(database.clone()))),
        directory: Arc::new(Everyone),
        config: ProjectsConfig {
            watch_retention_secs: retention_secs,
            ..ProjectsConfig::default()
        },
        hub: Hub::default(),
        numbering: Default::default(),
    };
    (api, database, dir)
}

pub(super) fn signed_in<T>(user: UserId, organization: OrganizationId, message: T) -> Request<T> {
    signed_in_until(user, organization, None, message)
}

/// A request with an access token expiring at `expires_at` (Unix milliseconds).
pub(super) fn signed_in_until<T>(
    user: UserId,
    organization: OrganizationId,
    expires_at: Option<i64>,
    message: T,
) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(Principal {
        user_id: user,
        organization_id: Some(organization),
        role: Some(OrganizationRole::Owner),
        token_kind: TokenKind::Access,
        scope: Scope::ReadWrite,
        session_id: None,
        token_id: "test".into(),
        expires_at,
    });
    request
}

pub(super) struct World {
    pub api: ProjectsApi,
    pub user: UserId,
    pub organization: OrganizationId,
    pub project: Project,
    /// The store's database, whose outbox holds the events the calls published.
    pub database: mesh::db::Database,
    _dir: Box<dyn std::any::Any>,
}

impl World {
    pub async fn new(retention_secs: u64) -> Self {
        let (api, database, dir) = api(retention_secs).await;
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
            database,
            _dir: Box::new(dir),
        }
    }

    /// The events published since the last call on a subject matching `filter`, oldest first:
    /// relays the outbox (marking its rows sent) to a fresh in-process bus and reads it back.
    pub async fn published(&self, filter: &str) -> Vec<taskmesh::events::v1::Event> {
        let bus = ::events::memory::InProcessBus::default();
        let relay = ::events::OutboxRelay::new(
            self.database.clone(),
            Arc::new(bus.clone()),
            Duration::from_secs(60),
        );
        relay.drain().await.unwrap();
        bus.messages(filter)
            .iter()
            .map(|message| ::events::envelope::decode(message).unwrap())
            .collect()
    }

    pub fn request<T>(&self, message: T) -> Request<T> {
        signed_in(self.user, self.organization, message)
    }

    pub async fn task(&self, title: &str) -> Task {
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

    pub async fn watch(
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
