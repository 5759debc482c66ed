//! What notifications asks projects: whether a project exists in the caller's organization
//! (a webhook endpoint scoped to a project). Handlers see only [`ProjectDirectory`];
//! [`ProjectsClient`] calls projects' generated client the kit's one way
//! ([`mesh::peers::call_peer`]) with the caller's own credential, so projects answers only
//! what the caller may see.

use mesh::peers::{CallContext, Idempotency, PeerChannel, call_peer};
use taskmesh::projects::v1::GetProjectRequest;
use taskmesh::projects::v1::project_service_client::ProjectServiceClient;

use crate::domain::NotificationsError;

/// Project lookups notifications needs.
#[async_trait::async_trait]
pub trait ProjectDirectory: Send + Sync {
    /// Whether the caller can see project `project_id` (in the organization of their token).
    async fn exists(
        &self,
        context: &CallContext,
        project_id: &str,
    ) -> Result<bool, NotificationsError>;
}

/// [`ProjectDirectory`] over projects' gRPC API.
#[derive(Clone)]
pub struct ProjectsClient {
    client: ProjectServiceClient<PeerChannel>,
}

impl ProjectsClient {
    /// Over `channel` (the projects peer).
    pub fn new(channel: PeerChannel) -> Self {
        Self {
            client: ProjectServiceClient::new(channel),
        }
    }
}

#[async_trait::async_trait]
impl ProjectDirectory for ProjectsClient {
    async fn exists(
        &self,
        context: &CallContext,
        project_id: &str,
    ) -> Result<bool, NotificationsError> {
        let request = GetProjectRequest {
            id: project_id.to_string(),
        };
        let response = call_peer(
            "projects",
            context,
            Idempotency::Idempotent,
            request,
            |request| {
                let mut client = self.client.clone();
                async move { client.get_project(request).await }
            },
        )
        .await;
        Ok(mesh::peers::absent_if_refused(response)
            .map_err(|failure| failure.into_service_error(crate::domain::DOMAIN))?
            .is_some_and(|response| response.project.is_some()))
    }
}
