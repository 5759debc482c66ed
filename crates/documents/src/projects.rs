//! What documents asks projects: the caller's role in a project, the project of a task, and
//! the projects the caller can see (for listing). Handlers see only [`ProjectDirectory`];
//! [`ProjectsClient`] calls projects' generated clients the kit's one way
//! ([`mesh::peers::call_peer`]) with the caller's own credential, so projects answers only
//! what the caller may see (a project or task they cannot see reads as absent).

use mesh::peers::{CallContext, Idempotency, PeerChannel, PeerFailure, call_peer};
use taskmesh::projects::v1::project_service_client::ProjectServiceClient;
use taskmesh::projects::v1::task_service_client::TaskServiceClient;
use taskmesh::projects::v1::{
    GetProjectRequest, GetTaskRequest, ListProjectsRequest, ProjectRole as WireRole, TaskView,
    get_task_request::TaskRef,
};

use crate::domain::access::ProjectRole;
use crate::domain::{DOMAIN, DocumentsError};

/// Most projects read for one listing (50 pages of 20).
const MAX_LISTED_PROJECTS: usize = 1_000;

/// Project lookups documents needs, as the caller.
#[async_trait::async_trait]
pub trait ProjectDirectory: Send + Sync {
    /// The caller's role in `project_id`; `None` when they cannot see it.
    async fn role(
        &self,
        context: &CallContext,
        project_id: &str,
    ) -> Result<Option<ProjectRole>, DocumentsError>;

    /// The project of task `task_id`; `None` when the caller cannot see it.
    async fn task_project(
        &self,
        context: &CallContext,
        task_id: &str,
    ) -> Result<Option<String>, DocumentsError>;

    /// The projects the caller can see, active and archived.
    async fn visible_projects(&self, context: &CallContext) -> Result<Vec<String>, DocumentsError>;
}

/// [`ProjectDirectory`] over projects' gRPC API.
#[derive(Clone)]
pub struct ProjectsClient {
    projects: ProjectServiceClient<PeerChannel>,
    tasks: TaskServiceClient<PeerChannel>,
}

impl ProjectsClient {
    /// Over `channel` (the projects peer).
    pub fn new(channel: PeerChannel) -> Self {
        Self {
            projects: ProjectServiceClient::new(channel.clone()),
            tasks: TaskServiceClient::new(channel),
        }
    }
}

/// Absent when the peer refused (not found, not visible, malformed id); the failure in
/// this service's words otherwise.
fn absent_or<T>(result: Result<T, PeerFailure>) -> Result<Option<T>, DocumentsError> {
    mesh::peers::absent_if_refused(result)
        .map_err(|failure| failure.into_service_error(DOMAIN).into())
}

#[async_trait::async_trait]
impl ProjectDirectory for ProjectsClient {
    async fn role(
        &self,
        context: &CallContext,
        project_id: &str,
    ) -> Result<Option<ProjectRole>, DocumentsError> {
        let request = GetProjectRequest {
            id: project_id.to_string(),
        };
        let response = call_peer(
            "projects",
            context,
            Idempotency::Idempotent,
            request,
            |request| {
                let mut client = self.projects.clone();
                async move { client.get_project(request).await }
            },
        )
        .await;
        Ok(absent_or(response)?.and_then(|response| {
            match WireRole::try_from(response.caller_role).ok()? {
                WireRole::Owner => Some(ProjectRole::Owner),
                WireRole::Member => Some(ProjectRole::Member),
                WireRole::Viewer => Some(ProjectRole::Viewer),
                WireRole::Unspecified => None,
            }
        }))
    }

    async fn task_project(
        &self,
        context: &CallContext,
        task_id: &str,
    ) -> Result<Option<String>, DocumentsError> {
        let request = GetTaskRequest {
            task_ref: Some(TaskRef::Id(task_id.to_string())),
            view: TaskView::Basic as i32,
        };
        let response = call_peer(
            "projects",
            context,
            Idempotency::Idempotent,
            request,
            |request| {
                let mut client = self.tasks.clone();
                async move { client.get_task(request).await }
            },
        )
        .await;
        Ok(absent_or(response)?.and_then(|response| response.task.map(|task| task.project_id)))
    }

    async fn visible_projects(&self, context: &CallContext) -> Result<Vec<String>, DocumentsError> {
        let mut ids = Vec::new();
        for state in ["ACTIVE", "ARCHIVED"] {
            let mut page_token = String::new();
            loop {
                let request = ListProjectsRequest {
                    page_size: 20,
                    page_token: page_token.clone(),
                    filter: format!("state = \"{state}\""),
                    order_by: String::new(),
                };
                let response = call_peer(
                    "projects",
                    context,
                    Idempotency::Idempotent,
                    request,
                    |request| {
                        let mut client = self.projects.clone();
                        async move { client.list_projects(request).await }
                    },
                )
                .await
                .map_err(|failure| failure.into_service_error(DOMAIN))?;
                ids.extend(response.projects.into_iter().map(|project| project.id));
                if response.next_page_token.is_empty() || ids.len() >= MAX_LISTED_PROJECTS {
                    break;
                }
                page_token = response.next_page_token;
            }
        }
        ids.truncate(MAX_LISTED_PROJECTS);
        Ok(ids)
    }
}
