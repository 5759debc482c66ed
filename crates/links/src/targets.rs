//! What links asks other services. As the caller (their own credential): can they read the
//! task or document they share? As links itself (a service credential for the one
//! organization, minted per call, see `mesh::auth::service`): the read-only views a share
//! page shows, and the display names in them. Handlers see only [`Targets`]; [`PeerTargets`]
//! calls the generated clients the kit's one way ([`mesh::peers::call_peer`]).

use std::time::{Duration, Instant};

use mesh::ids::OrganizationId;
use mesh::peers::{CallContext, Idempotency, PeerChannel, PeerFailure, call_peer};
use taskmesh::documents::v1::document_service_client::DocumentServiceClient;
use taskmesh::documents::v1::{GetDocumentRequest, GetDocumentShareViewRequest};
use taskmesh::links::v1::{SharedComment, SharedDocument, SharedTask};
use taskmesh::projects::v1::task_service_client::TaskServiceClient;
use taskmesh::projects::v1::{
    GetTaskRequest, GetTaskShareViewRequest, TaskView, get_task_request::TaskRef,
};
use taskmesh::tenancy::v1::tenancy_service_client::TenancyServiceClient;
use taskmesh::tenancy::v1::{
    GetMemberDisplayNamesRequest, ResolveOrganizationRequest, resolve_organization_request::Lookup,
};

use crate::domain::{DOMAIN, LinksError};

/// Lookups links needs from projects, documents and tenancy.
#[async_trait::async_trait]
pub trait Targets: Send + Sync {
    /// Whether the caller can read task `id`.
    async fn task_readable(&self, context: &CallContext, id: &str) -> Result<bool, LinksError>;
    /// Whether the caller can read document `id`.
    async fn document_readable(&self, context: &CallContext, id: &str) -> Result<bool, LinksError>;
    /// The share view of task `id` of `organization_id`; `None` when it is gone.
    async fn task_view(
        &self,
        organization_id: OrganizationId,
        id: &str,
        comments: bool,
    ) -> Result<Option<SharedTask>, LinksError>;
    /// The share view of document `id` of `organization_id`, shared by `shared_by`; `None`
    /// when it is gone (or private to someone else).
    async fn document_view(
        &self,
        organization_id: OrganizationId,
        id: &str,
        shared_by: &str,
    ) -> Result<Option<SharedDocument>, LinksError>;
    /// The organization with slug `slug`, if any.
    async fn organization(&self, slug: &str) -> Result<Option<OrganizationId>, LinksError>;
}

/// [`Targets`] over the peers' gRPC APIs.
#[derive(Clone)]
pub struct PeerTargets {
    tasks: TaskServiceClient<PeerChannel>,
    documents: DocumentServiceClient<PeerChannel>,
    tenancy: TenancyServiceClient<PeerChannel>,
    credentials: kit::ServiceCredentials,
}

impl PeerTargets {
    /// Over the projects, documents and tenancy peers.
    pub fn new(
        projects: PeerChannel,
        documents: PeerChannel,
        tenancy: PeerChannel,
        credentials: kit::ServiceCredentials,
    ) -> Self {
        Self {
            tasks: TaskServiceClient::new(projects),
            documents: DocumentServiceClient::new(documents),
            tenancy: TenancyServiceClient::new(tenancy),
            credentials,
        }
    }

    /// A context carrying links' credential for `audience` in `organization_id`.
    fn as_links(
        &self,
        audience: &str,
        organization_id: OrganizationId,
    ) -> Result<CallContext, LinksError> {
        let token = self.credentials.mint(audience, organization_id)?;
        Ok(
            CallContext::with_deadline(Instant::now() + Duration::from_secs(10))
                .with_bearer(&token),
        )
    }
}

/// Absent when the peer refused (not found, not visible, malformed id); the failure in
/// this service's words otherwise.
fn absent_or<T>(result: Result<T, PeerFailure>) -> Result<Option<T>, LinksError> {
    mesh::peers::absent_if_refused(result)
        .map_err(|failure| failure.into_service_error(DOMAIN).into())
}

/// `STATUS_CATEGORY_IN_PROGRESS` → `in_progress`.
fn lower(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

#[async_trait::async_trait]
impl Targets for PeerTargets {
    async fn task_readable(&self, context: &CallContext, id: &str) -> Result<bool, LinksError> {
        let request = GetTaskRequest {
            task_ref: Some(TaskRef::Id(id.to_string())),
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
        Ok(absent_or(response)?.is_some())
    }

    async fn document_readable(&self, context: &CallContext, id: &str) -> Result<bool, LinksError> {
        let request = GetDocumentRequest { id: id.to_string() };
        let response = call_peer(
            "documents",
            context,
            Idempotency::Idempotent,
            request,
            |request| {
                let mut client = self.documents.clone();
                async move { client.get_document(request).await }
            },
        )
        .await;
        Ok(absent_or(response)?.is_some())
    }

    async fn task_view(
        &self,
        organization_id: OrganizationId,
        id: &str,
        comments: bool,
    ) -> Result<Option<SharedTask>, LinksError> {
        let context = self.as_links("projects", organization_id)?;
        let request = GetTaskShareViewRequest {
            task_id: id.to_string(),
            include_comments: comments,
        };
        let response = call_peer(
            "projects",
            &context,
            Idempotency::Idempotent,
            request,
            |request| {
                let mut client = self.tasks.clone();
                async move { client.get_task_share_view(request).await }
            },
        )
        .await;
        let Some(view) = absent_or(response)? else {
            return Ok(None);
        };
        let Some(task) = view.task else {
            return Ok(None);
        };
        let mut people: Vec<String> = task.assignee_user_ids.clone();
        people.extend(
            view.comments
                .iter()
                .map(|comment| comment.author_user_id.clone()),
        );
        people.sort();
        people.dedup();
        let names = if people.is_empty() {
            Default::default()
        } else {
            let context = self.as_links("tenancy", organization_id)?;
            let request = GetMemberDisplayNamesRequest { user_ids: people };
            call_peer(
                "tenancy",
                &context,
                Idempotency::Idempotent,
                request,
                |request| {
                    let mut client = self.tenancy.clone();
                    async move { client.get_member_display_names(request).await }
                },
            )
            .await
            .map_err(|failure| failure.into_service_error(DOMAIN))?
            .display_names
        };
        let name = |id: &str| {
            names
                .get(id)
                .cloned()
                .unwrap_or_else(|| "Former member".into())
        };
        let category = taskmesh::projects::v1::StatusCategory::try_from(task.status_category)
            .map(|category| lower(category.as_str_name(), "STATUS_CATEGORY_"))
            .unwrap_or_default();
        let priority = match taskmesh::projects::v1::TaskPriority::try_from(task.priority) {
            Ok(taskmesh::projects::v1::TaskPriority::Unspecified) | Err(_) => "none".to_string(),
            Ok(priority) => lower(priority.as_str_name(), "TASK_PRIORITY_"),
        };
        Ok(Some(SharedTask {
            key: task.key.clone(),
            title: task.title.clone(),
            description: task.description.clone(),
            status: view.status,
            status_category: category,
            assignee_display_names: task.assignee_user_ids.iter().map(|id| name(id)).collect(),
            due_time: task.due_time,
            priority,
            comments: view
                .comments
                .iter()
                .map(|comment| SharedComment {
                    author_display_name: name(&comment.author_user_id),
                    body: crate::domain::rules::plain_mentions(&comment.body),
                    create_time: comment.create_time,
                })
                .collect(),
        }))
    }

    async fn document_view(
        &self,
        organization_id: OrganizationId,
        id: &str,
        shared_by: &str,
    ) -> Result<Option<SharedDocument>, LinksError> {
        let context = self.as_links("documents", organization_id)?;
        let request = GetDocumentShareViewRequest {
            document_id: id.to_string(),
            shared_by_user_id: shared_by.to_string(),
        };
        let response = call_peer(
            "documents",
            &context,
            Idempotency::Idempotent,
            request,
            |request| {
                let mut client = self.documents.clone();
                async move { client.get_document_share_view(request).await }
            },
        )
        .await;
        let Some(view) = absent_or(response)? else {
            return Ok(None);
        };
        let document = view.document.unwrap_or_default();
        Ok(Some(SharedDocument {
            title: document.title,
            file_name: document.file_name,
            content_type: document.content_type,
            size_bytes: document.size_bytes,
            sha256: document.sha256,
            version: document.current_version,
            download_url: view.download_url,
            download_url_expire_time: view.download_url_expire_time,
        }))
    }

    async fn organization(&self, slug: &str) -> Result<Option<OrganizationId>, LinksError> {
        let context = CallContext::with_deadline(Instant::now() + Duration::from_secs(10));
        let request = ResolveOrganizationRequest {
            lookup: Some(Lookup::Slug(slug.to_string())),
        };
        let response = call_peer(
            "tenancy",
            &context,
            Idempotency::Idempotent,
            request,
            |request| {
                let mut client = self.tenancy.clone();
                async move { client.resolve_organization(request).await }
            },
        )
        .await;
        Ok(absent_or(response)?.and_then(|organization| organization.organization_id.parse().ok()))
    }
}
