//! DocumentService over tonic: the caller's organization from their token, access decided
//! by `domain::access` with the caller's project role asked of projects when it matters,
//! contents through `blobs`, rows through `store`. Errors leave through `mesh::error` once.
//!
//! Invariant: a document the caller may not read answers exactly like one that does not
//! exist (DOCUMENT_NOT_FOUND), in every RPC.

mod convert;
mod upload;

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use mesh::auth::{OrganizationRole, require_principal};
use mesh::ids::{OrganizationId, UserId};
use mesh::paging::PageRequest;
use mesh::peers::CallContext;
use mesh::request::Updatable;
use taskmesh::documents::v1::document_service_server::DocumentService;
use taskmesh::documents::v1::*;
use tonic::{Request, Response, Status, Streaming};

use crate::blobs::{BlobError, Blobs};
use crate::domain::access::{self, ProjectRole, Subject, Visibility};
use crate::domain::filter::{self, ORDER_FIELDS};
use crate::domain::{DOMAIN, DocumentsError, rules};
use crate::download::{DownloadToken, LIFETIME_MS, Signer};
use crate::projects::ProjectDirectory;
use crate::store::{
    DocumentOrder, DocumentRow, DocumentsStore, MetadataChange, Readable, StoreError,
    VERSIONS_ORDER,
};

pub use upload::Limits;

type Reply<T> = std::result::Result<Response<T>, Status>;
type Result<T> = std::result::Result<T, DocumentsError>;

fn reply<T>(result: Result<T>) -> Reply<T> {
    result
        .map(Response::new)
        .map_err(|error| mesh::ServiceError::from(error).into_status())
}

impl From<StoreError> for DocumentsError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::DocumentNotFound,
            StoreError::EtagMismatch => Self::EtagMismatch,
            StoreError::QuotaExceeded { quota } => Self::QuotaExceeded { quota },
            StoreError::Service(error) => Self::Service(error),
        }
    }
}

impl From<BlobError> for DocumentsError {
    fn from(error: BlobError) -> Self {
        match error {
            BlobError::TooLarge { limit } => Self::TooLarge { limit },
            BlobError::ChecksumMismatch { expected, actual } => {
                Self::ChecksumMismatch { expected, actual }
            }
            BlobError::SizeMismatch { expected, actual } => Self::SizeMismatch { expected, actual },
            BlobError::Upload(cause) => Self::Service(mesh::ServiceError::new(
                mesh::ErrorCode::Aborted,
                DOMAIN,
                "UPLOAD_INTERRUPTED",
                format!("the upload stream ended abnormally: {cause}"),
            )),
            BlobError::NotFound => Self::StorageUnavailable("a stored content is missing".into()),
            BlobError::Storage(error) => Self::StorageUnavailable(error.to_string()),
        }
    }
}

/// Who is calling, from their verified token.
pub(crate) struct Caller {
    pub organization_id: OrganizationId,
    pub user_id: UserId,
    pub role: OrganizationRole,
    pub context: CallContext,
    principal: mesh::auth::Principal,
}

impl Caller {
    fn of<T>(request: &Request<T>) -> Result<Self> {
        let principal = require_principal(request)?;
        let organization_id = principal.organization()?;
        let role = principal.ensure_role(OrganizationRole::Guest)?;
        Ok(Self {
            organization_id,
            user_id: principal.user_id,
            role,
            context: CallContext::from_request(request),
            principal: principal.clone(),
        })
    }

    fn ensure_can_write(&self) -> Result<()> {
        Ok(self.principal.ensure_can_write()?)
    }
}

/// The service.
pub struct DocumentsApi {
    store: Arc<dyn DocumentsStore>,
    blobs: Blobs,
    projects: Arc<dyn ProjectDirectory>,
    signer: Arc<Signer>,
    limits: Limits,
    public_url: String,
}

impl DocumentsApi {
    /// The API over its parts; download URLs start with `public_url`.
    pub fn new(
        store: Arc<dyn DocumentsStore>,
        blobs: Blobs,
        projects: Arc<dyn ProjectDirectory>,
        signer: Arc<Signer>,
        limits: Limits,
        public_url: String,
    ) -> Self {
        Self {
            store,
            blobs,
            projects,
            signer,
            limits,
            public_url,
        }
    }

    /// The caller's role in `project_id` (None: cannot see it).
    async fn project_role(&self, caller: &Caller, project_id: &str) -> Result<Option<ProjectRole>> {
        self.projects.role(&caller.context, project_id).await
    }

    /// A document the caller may read, with their project role when it was needed.
    async fn readable(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(DocumentRow, Option<ProjectRole>)> {
        if id.is_empty() {
            return Err(DocumentsError::invalid("id", "required"));
        }
        let row = self
            .store
            .get(caller.organization_id, id)
            .await?
            .ok_or(DocumentsError::DocumentNotFound)?;
        let subject = subject(caller, &row);
        let role = if access::needs_project_role(caller.role, subject) {
            self.project_role(caller, &row.document.project_id).await?
        } else {
            None
        };
        if !access::can_read(caller.role, role, subject) {
            return Err(DocumentsError::DocumentNotFound);
        }
        Ok((row, role))
    }

    /// One version (0: the current one) of a document the caller may read.
    async fn readable_version(
        &self,
        caller: &Caller,
        id: &str,
        number: i64,
    ) -> Result<(DocumentRow, crate::store::VersionRecord)> {
        let (row, _) = self.readable(caller, id).await?;
        let version = self
            .store
            .version(caller.organization_id, &row.document.id, number.max(0))
            .await?
            .ok_or(DocumentsError::VersionNotFound)?;
        Ok((row, version))
    }

    /// A document the caller may change.
    async fn writable(&self, caller: &Caller, id: &str) -> Result<DocumentRow> {
        caller.ensure_can_write()?;
        let (row, mut role) = self.readable(caller, id).await?;
        let subject = subject(caller, &row);
        if role.is_none()
            && subject.visibility != Visibility::Private
            && !caller.role.at_least(OrganizationRole::Admin)
        {
            role = self.project_role(caller, &row.document.project_id).await?;
        }
        if !access::can_write(caller.role, role, subject) {
            return Err(DocumentsError::RoleInsufficient("change this document"));
        }
        Ok(row)
    }

    /// Checks that the caller may add documents to `project_id`, and that `task_id` (if
    /// any) is a task of it.
    async fn check_target(&self, caller: &Caller, project_id: &str, task_id: &str) -> Result<()> {
        if project_id.is_empty() {
            return Err(DocumentsError::invalid("project_id", "required"));
        }
        let role = self
            .project_role(caller, project_id)
            .await?
            .ok_or(DocumentsError::ProjectNotFound)?;
        if !access::can_add(caller.role, Some(role)) {
            return Err(DocumentsError::RoleInsufficient(
                "add documents to this project",
            ));
        }
        self.check_task(caller, project_id, task_id).await
    }

    async fn check_task(&self, caller: &Caller, project_id: &str, task_id: &str) -> Result<()> {
        if task_id.is_empty() {
            return Ok(());
        }
        match self.projects.task_project(&caller.context, task_id).await? {
            None => Err(DocumentsError::TaskNotFound),
            Some(project) if project != project_id => Err(DocumentsError::invalid(
                "task_id",
                "not a task of the document's project",
            )),
            Some(_) => Ok(()),
        }
    }

    /// The signed URL of one version.
    fn download_url(
        &self,
        organization_id: OrganizationId,
        document_id: &str,
        version: i64,
    ) -> (String, i64) {
        let expires_at = mesh::time::now_millis() + LIFETIME_MS;
        let token = self.signer.sign(&DownloadToken {
            organization_id: organization_id.to_string(),
            document_id: document_id.to_string(),
            version,
            expires_at,
        });
        (format!("{}/d/{token}", self.public_url), expires_at)
    }
}

fn subject(caller: &Caller, row: &DocumentRow) -> Subject {
    Subject {
        visibility: Visibility::parse(&row.document.visibility),
        created_by_caller: row.document.created_by_user_id == caller.user_id,
    }
}

type DownloadStream =
    Pin<Box<dyn Stream<Item = std::result::Result<DownloadDocumentResponse, Status>> + Send>>;

#[tonic::async_trait]
impl DocumentService for DocumentsApi {
    async fn create_document(
        &self,
        request: Request<CreateDocumentRequest>,
    ) -> Reply<CreateDocumentResponse> {
        reply(self.create(request).await)
    }

    async fn upload_document_version(
        &self,
        request: Request<Streaming<UploadDocumentVersionRequest>>,
    ) -> Reply<UploadDocumentVersionResponse> {
        reply(self.upload_stream(request).await)
    }

    async fn upload_document_version_unary(
        &self,
        request: Request<UploadDocumentVersionUnaryRequest>,
    ) -> Reply<UploadDocumentVersionUnaryResponse> {
        reply(self.upload_unary(request).await)
    }

    type DownloadDocumentStream = DownloadStream;

    async fn download_document(
        &self,
        request: Request<DownloadDocumentRequest>,
    ) -> Reply<Self::DownloadDocumentStream> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                let message = request.get_ref();
                let (_, version) = self
                    .readable_version(&caller, &message.id, message.version)
                    .await?;
                let chunks = self
                    .blobs
                    .read(&caller.organization_id.to_string(), &version.sha256)
                    .await?;
                let first = DownloadDocumentResponse {
                    payload: Some(download_document_response::Payload::Metadata(
                        convert::version(&version),
                    )),
                };
                let rest = chunks.map(|chunk| match chunk {
                    Ok(bytes) => Ok(DownloadDocumentResponse {
                        payload: Some(download_document_response::Payload::Chunk(bytes.to_vec())),
                    }),
                    Err(error) => {
                        Err(mesh::ServiceError::from(DocumentsError::from(error)).into_status())
                    }
                });
                let stream: DownloadStream =
                    Box::pin(futures::stream::once(async { Ok(first) }).chain(rest));
                Ok(stream)
            }
            .await,
        )
    }

    async fn get_document(
        &self,
        request: Request<GetDocumentRequest>,
    ) -> Reply<GetDocumentResponse> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                let (row, _) = self.readable(&caller, &request.get_ref().id).await?;
                Ok(GetDocumentResponse {
                    document: Some(convert::row(&row)),
                })
            }
            .await,
        )
    }

    async fn create_download_url(
        &self,
        request: Request<CreateDownloadUrlRequest>,
    ) -> Reply<CreateDownloadUrlResponse> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                let message = request.get_ref();
                let (row, version) = self
                    .readable_version(&caller, &message.document_id, message.version)
                    .await?;
                let (url, expires_at) =
                    self.download_url(caller.organization_id, &row.document.id, version.version);
                Ok(CreateDownloadUrlResponse {
                    url,
                    expire_time: Some(mesh::time::timestamp(expires_at)),
                    version: version.version,
                })
            }
            .await,
        )
    }

    async fn list_documents(
        &self,
        request: Request<ListDocumentsRequest>,
    ) -> Reply<ListDocumentsResponse> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                let message = request.get_ref();
                let query = filter::parse(&message.filter)?;
                let (field, descending) = mesh::request::order_by(
                    DOMAIN,
                    &message.order_by,
                    ORDER_FIELDS,
                    ("update_time", true),
                )?;
                let order = match field {
                    "create_time" => DocumentOrder::Created,
                    "title" => DocumentOrder::Title,
                    "size_bytes" => DocumentOrder::Size,
                    _ => DocumentOrder::Updated,
                };
                let page = PageRequest::new(
                    DOMAIN,
                    message.page_size,
                    &message.page_token,
                    format!("{}|{}", message.filter, message.order_by),
                    order.keyset(descending),
                )?;
                let every_shared = caller.role.at_least(OrganizationRole::Admin);
                let projects = match (&query.project_id, every_shared) {
                    (_, true) => Vec::new(),
                    (Some(project), false) => match self.project_role(&caller, project).await? {
                        Some(_) => vec![project.clone()],
                        None => Vec::new(),
                    },
                    (None, false) => self.projects.visible_projects(&caller.context).await?,
                };
                let readable = Readable {
                    user_id: caller.user_id,
                    every_shared,
                    organization_wide: caller.role.at_least(OrganizationRole::Member),
                    projects,
                };
                let page = self
                    .store
                    .list(caller.organization_id, &readable, &query, &page)
                    .await?;
                Ok(ListDocumentsResponse {
                    documents: page.items.iter().map(convert::row).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_document(
        &self,
        request: Request<UpdateDocumentRequest>,
    ) -> Reply<UpdateDocumentResponse> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                let message = request.get_ref();
                let document = message
                    .document
                    .as_ref()
                    .ok_or_else(|| DocumentsError::invalid("document", "required"))?;
                let paths = mesh::request::update_paths(
                    DOMAIN,
                    message.update_mask.as_ref(),
                    &[
                        Updatable::new("title", !document.title.is_empty()),
                        Updatable::new("task_id", !document.task_id.is_empty()),
                        Updatable::new("visibility", document.visibility != 0),
                    ],
                )?;
                let expected = mesh::request::expected_version(DOMAIN, &document.etag)?;
                let row = self.writable(&caller, &document.id).await?;
                let mut change = MetadataChange::default();
                for path in paths {
                    match path {
                        "title" => {
                            change.title = Some(rules::title("document.title", &document.title)?)
                        }
                        "task_id" => {
                            self.check_task(&caller, &row.document.project_id, &document.task_id)
                                .await?;
                            change.task_id = Some(
                                Some(document.task_id.clone()).filter(|task| !task.is_empty()),
                            );
                        }
                        _ => {
                            let visibility = convert::visibility_of(document.visibility)
                                .ok_or_else(|| {
                                    DocumentsError::invalid("document.visibility", "unknown value")
                                })?;
                            change.visibility = Some(visibility.as_str().to_string());
                        }
                    }
                }
                let row = self
                    .store
                    .update(
                        caller.organization_id,
                        &row.document.id,
                        expected,
                        &change,
                        mesh::time::now_millis(),
                    )
                    .await?;
                Ok(UpdateDocumentResponse {
                    document: Some(convert::row(&row)),
                })
            }
            .await,
        )
    }

    async fn delete_document(
        &self,
        request: Request<DeleteDocumentRequest>,
    ) -> Reply<DeleteDocumentResponse> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                caller.ensure_can_write()?;
                let message = request.get_ref();
                let expected = mesh::request::expected_version(DOMAIN, &message.etag)?;
                let (row, mut role) = self.readable(&caller, &message.id).await?;
                let subject = subject(&caller, &row);
                if role.is_none()
                    && !subject.created_by_caller
                    && !caller.role.at_least(OrganizationRole::Admin)
                {
                    role = self.project_role(&caller, &row.document.project_id).await?;
                }
                if !access::can_delete(caller.role, role, subject) {
                    return Err(DocumentsError::RoleInsufficient("delete this document"));
                }
                self.store
                    .delete(
                        caller.organization_id,
                        &row.document.id,
                        expected,
                        caller.user_id,
                    )
                    .await?;
                Ok(DeleteDocumentResponse {})
            }
            .await,
        )
    }

    async fn list_document_versions(
        &self,
        request: Request<ListDocumentVersionsRequest>,
    ) -> Reply<ListDocumentVersionsResponse> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                let message = request.get_ref();
                let page = PageRequest::new(
                    DOMAIN,
                    message.page_size,
                    &message.page_token,
                    message.document_id.clone(),
                    VERSIONS_ORDER,
                )?;
                let (row, _) = self.readable(&caller, &message.document_id).await?;
                let page = self
                    .store
                    .versions(caller.organization_id, &row.document.id, &page)
                    .await?;
                Ok(ListDocumentVersionsResponse {
                    document_versions: page.items.iter().map(convert::version).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn get_document_share_view(
        &self,
        request: Request<GetDocumentShareViewRequest>,
    ) -> Reply<GetDocumentShareViewResponse> {
        reply(
            async {
                let caller = mesh::auth::require_service_caller(&request, "documents")?;
                let organization_id = caller.organization_id;
                let message = request.get_ref();
                let id = &message.document_id;
                let row = self
                    .store
                    .get(organization_id, id)
                    .await?
                    .filter(|row| {
                        Visibility::parse(&row.document.visibility) != Visibility::Private
                            || row.document.created_by_user_id.to_string()
                                == message.shared_by_user_id
                    })
                    .ok_or(DocumentsError::DocumentNotFound)?;
                let (download_url, expires_at) =
                    self.download_url(organization_id, id, row.document.current_version);
                Ok(GetDocumentShareViewResponse {
                    document: Some(convert::row(&row)),
                    download_url,
                    download_url_expire_time: Some(mesh::time::timestamp(expires_at)),
                })
            }
            .await,
        )
    }

    async fn restore_document_version(
        &self,
        request: Request<RestoreDocumentVersionRequest>,
    ) -> Reply<RestoreDocumentVersionResponse> {
        reply(self.restore(request).await)
    }
}
