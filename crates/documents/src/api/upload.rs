//! Writing contents: CreateDocument, UploadDocumentVersion (client stream),
//! UploadDocumentVersionUnary and RestoreDocumentVersion.
//!
//! Order of an upload: check the metadata and the caller's access; replay a known
//! request id without reading the bytes; stage the bytes (cap, hash, sniff as they arrive);
//! take the content off the blob deletion queue; place the blob; commit the version (the
//! quota checked in that transaction). A failure before the commit leaves no row, and no
//! blob but one queued for deletion when the commit itself failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use taskmesh::documents::v1::upload_document_version_metadata::Target as WireTarget;
use taskmesh::documents::v1::upload_document_version_request::Payload;
use taskmesh::documents::v1::*;
use tonic::{Request, Streaming};

use super::{Caller, DocumentsApi, Result, convert};
use crate::blobs::Expected;
use crate::domain::access::Visibility;
use crate::domain::{DocumentsError, rules};
use crate::store::{DocumentRecord, StoreError, VersionRecord};

/// Size limits of documents.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest version, in bytes.
    pub max_document_bytes: u64,
    /// Storage per organization, in bytes (each content once).
    pub quota_bytes: i64,
}

/// Where an upload goes.
enum Target {
    Existing(DocumentRecord),
    New {
        title: String,
        project_id: String,
        task_id: Option<String>,
        visibility: Visibility,
    },
}

/// A checked upload, before its bytes.
struct Plan {
    target: Target,
    file_name: String,
    declared: String,
    expected: Expected,
    etag: Option<i64>,
    request_id: Option<String>,
}

fn request_id(text: &str, field: &'static str) -> Result<Option<String>> {
    mesh::validate::request_id(text)
        .map_err(|description| DocumentsError::invalid(field, description))
}

impl DocumentsApi {
    async fn plan(
        &self,
        caller: &Caller,
        metadata: &UploadDocumentVersionMetadata,
        limit: u64,
    ) -> Result<Plan> {
        caller.ensure_can_write()?;
        let file_name = rules::file_name("metadata.file_name", &metadata.file_name)?;
        let declared = rules::content_type("metadata.content_type", &metadata.content_type)?;
        let sha256 = rules::sha256("metadata.expected_sha256", &metadata.expected_sha256)?;
        let size = match metadata.expected_size {
            Some(size) if size < 0 => {
                return Err(DocumentsError::invalid(
                    "metadata.expected_size",
                    "must not be negative",
                ));
            }
            Some(size) if size as u64 > limit => return Err(DocumentsError::TooLarge { limit }),
            other => other.map(|size| size as u64),
        };
        let request_id = request_id(&metadata.request_id, "metadata.request_id")?;
        let (target, etag) = match &metadata.target {
            None => {
                return Err(DocumentsError::invalid(
                    "metadata.target",
                    "document_id or new_document is required",
                ));
            }
            Some(WireTarget::DocumentId(id)) => {
                let etag = mesh::request::expected_version(super::DOMAIN, &metadata.etag)?;
                (
                    Target::Existing(self.writable(caller, id).await?.document),
                    etag,
                )
            }
            Some(WireTarget::NewDocument(new)) => {
                let title = match new.title.trim() {
                    "" if !file_name.is_empty() => {
                        rules::title("metadata.new_document.title", &file_name)?
                    }
                    title => rules::title("metadata.new_document.title", title)?,
                };
                let visibility = convert::visibility_of(new.visibility).ok_or_else(|| {
                    DocumentsError::invalid("metadata.new_document.visibility", "unknown value")
                })?;
                self.check_target(caller, &new.project_id, &new.task_id)
                    .await?;
                let target = Target::New {
                    title,
                    project_id: new.project_id.clone(),
                    task_id: Some(new.task_id.clone()).filter(|task| !task.is_empty()),
                    visibility,
                };
                (target, None)
            }
        };
        Ok(Plan {
            target,
            file_name,
            declared,
            expected: Expected { size, sha256 },
            etag,
            request_id,
        })
    }

    /// The version a request id already made, with its document.
    async fn replay(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
    ) -> Result<Option<(DocumentRecord, VersionRecord)>> {
        let Some(request_id) = request_id else {
            return Ok(None);
        };
        let Some(version) = self
            .store
            .by_request(caller.organization_id, caller.user_id, request_id)
            .await?
        else {
            return Ok(None);
        };
        let row = self
            .store
            .get(caller.organization_id, &version.document_id)
            .await?
            .ok_or(DocumentsError::DocumentNotFound)?;
        Ok(Some((row.document, version)))
    }

    /// Receives `chunks` for `plan` and commits the version.
    async fn commit<S>(
        &self,
        caller: &Caller,
        plan: Plan,
        chunks: S,
        limit: u64,
    ) -> Result<(DocumentRecord, VersionRecord)>
    where
        S: Stream<Item = std::result::Result<Bytes, String>> + Unpin,
    {
        if let Some(done) = self.replay(caller, plan.request_id.as_deref()).await? {
            return Ok(done);
        }
        let organization = caller.organization_id.to_string();
        let staged = self
            .blobs
            .stage(&organization, chunks, limit, &plan.expected)
            .await?;
        // Refuse before placing a blob when the quota is plainly used up (the commit checks
        // again, exactly, in its transaction).
        let used = self.store.usage(caller.organization_id).await?;
        if used + staged.size_bytes as i64 > self.limits.quota_bytes
            && !self.blobs.exists(&organization, &staged.sha256).await?
        {
            self.blobs.discard(staged).await;
            return Err(DocumentsError::QuotaExceeded {
                quota: self.limits.quota_bytes,
            });
        }
        let now = mesh::time::now_millis();
        let content_type =
            rules::served_type(staged.sniffed_content_type.as_deref(), &plan.declared);
        self.store
            .claim_content(caller.organization_id, &staged.sha256)
            .await?;
        let stored = self.blobs.place(staged).await?;
        let file_name = match (&plan.file_name, &plan.target) {
            (name, _) if !name.is_empty() => name.clone(),
            (_, Target::New { title, .. }) => title.clone(),
            (_, Target::Existing(document)) => document.title.clone(),
        };
        let version = VersionRecord {
            organization_id: caller.organization_id,
            document_id: String::new(),
            version: 1,
            sha256: stored.sha256.clone(),
            size_bytes: stored.size_bytes as i64,
            content_type,
            declared_content_type: plan.declared.clone(),
            file_name,
            created_by_user_id: caller.user_id,
            restored_from_version: 0,
            request_id: plan.request_id.clone(),
            created_at: now,
        };
        let committed = match plan.target {
            Target::Existing(document) => {
                self.store
                    .add_version(
                        caller.organization_id,
                        &document.id,
                        plan.etag,
                        &version,
                        self.limits.quota_bytes,
                    )
                    .await
            }
            Target::New {
                title,
                project_id,
                task_id,
                visibility,
            } => {
                let document = DocumentRecord {
                    id: uuid::Uuid::now_v7().to_string(),
                    organization_id: caller.organization_id,
                    project_id,
                    task_id,
                    title,
                    visibility: visibility.as_str().to_string(),
                    created_by_user_id: caller.user_id,
                    current_version: 1,
                    hidden: false,
                    create_request_id: plan.request_id.clone(),
                    version: 1,
                    created_at: now,
                    updated_at: now,
                };
                let first = VersionRecord {
                    document_id: document.id.clone(),
                    ..version
                };
                self.store
                    .create(&document, &first, self.limits.quota_bytes)
                    .await
                    .map(|()| (document, first))
            }
        };
        match committed {
            Ok(done) => Ok(done),
            Err(error) => {
                if stored.created
                    && let Err(queue) = self
                        .store
                        .queue_garbage(caller.organization_id, &stored.sha256)
                        .await
                {
                    tracing::warn!(%queue, "cannot queue an unused content for deletion");
                }
                // A concurrent call with the same request id won: answer its result.
                if matches!(&error, StoreError::Service(_))
                    && let Some(done) = self.replay(caller, plan.request_id.as_deref()).await?
                {
                    return Ok(done);
                }
                Err(error.into())
            }
        }
    }

    fn inline_limit(&self) -> u64 {
        self.limits.max_document_bytes.min(rules::MAX_INLINE_BYTES)
    }

    pub(super) async fn create(
        &self,
        request: Request<CreateDocumentRequest>,
    ) -> Result<CreateDocumentResponse> {
        let caller = Caller::of(&request)?;
        let message = request.into_inner();
        let limit = self.inline_limit();
        if message.content.len() as u64 > limit {
            return Err(DocumentsError::TooLarge { limit });
        }
        let title = rules::title("title", &message.title)?;
        let metadata = UploadDocumentVersionMetadata {
            target: Some(WireTarget::NewDocument(NewDocumentMetadata {
                title,
                task_id: message.task_id,
                project_id: message.project_id,
                visibility: message.visibility,
            })),
            file_name: message.file_name,
            expected_size: None,
            expected_sha256: String::new(),
            content_type: message.content_type,
            etag: String::new(),
            request_id: message.request_id,
        };
        let plan = self.plan(&caller, &metadata, limit).await?;
        let chunks = futures::stream::iter([Ok(Bytes::from(message.content))]);
        let (document, version) = self.commit(&caller, plan, chunks, limit).await?;
        Ok(CreateDocumentResponse {
            document: Some(convert::document(&document, &version)),
        })
    }

    pub(super) async fn upload_unary(
        &self,
        request: Request<UploadDocumentVersionUnaryRequest>,
    ) -> Result<UploadDocumentVersionUnaryResponse> {
        let caller = Caller::of(&request)?;
        let message = request.into_inner();
        let limit = self.inline_limit();
        let metadata = message
            .metadata
            .ok_or_else(|| DocumentsError::invalid("metadata", "required"))?;
        let plan = self.plan(&caller, &metadata, limit).await?;
        if message.content.len() as u64 > limit {
            return Err(DocumentsError::TooLarge { limit });
        }
        let chunks = futures::stream::iter([Ok(Bytes::from(message.content))]);
        let (document, version) = self.commit(&caller, plan, chunks, limit).await?;
        Ok(UploadDocumentVersionUnaryResponse {
            document: Some(convert::document(&document, &version)),
            version: Some(convert::version(&version)),
        })
    }

    pub(super) async fn upload_stream(
        &self,
        request: Request<Streaming<UploadDocumentVersionRequest>>,
    ) -> Result<UploadDocumentVersionResponse> {
        let caller = Caller::of(&request)?;
        let mut stream = request.into_inner();
        let metadata = match stream.message().await {
            Ok(Some(UploadDocumentVersionRequest {
                payload: Some(Payload::Metadata(metadata)),
            })) => metadata,
            Ok(_) => {
                return Err(DocumentsError::UploadSequence(
                    "the first message must carry metadata",
                ));
            }
            Err(status) => {
                return Err(DocumentsError::Service(mesh::ServiceError::new(
                    mesh::ErrorCode::Aborted,
                    super::DOMAIN,
                    "UPLOAD_INTERRUPTED",
                    format!("the upload stream ended abnormally: {}", status.message()),
                )));
            }
        };
        let limit = self.limits.max_document_bytes;
        let plan = self.plan(&caller, &metadata, limit).await?;
        let out_of_sequence = Arc::new(AtomicBool::new(false));
        let flag = out_of_sequence.clone();
        let chunks = stream.map(move |message| match message {
            Ok(UploadDocumentVersionRequest {
                payload: Some(Payload::Chunk(bytes)),
            }) => Ok(Bytes::from(bytes)),
            Ok(_) => {
                flag.store(true, Ordering::Relaxed);
                Err("metadata sent twice".to_string())
            }
            Err(status) => Err(status.message().to_string()),
        });
        let result = self.commit(&caller, plan, chunks, limit).await;
        if out_of_sequence.load(Ordering::Relaxed) {
            return Err(DocumentsError::UploadSequence(
                "metadata must be sent once, first",
            ));
        }
        let (document, version) = result?;
        Ok(UploadDocumentVersionResponse {
            document: Some(convert::document(&document, &version)),
            version: Some(convert::version(&version)),
        })
    }

    pub(super) async fn restore(
        &self,
        request: Request<RestoreDocumentVersionRequest>,
    ) -> Result<RestoreDocumentVersionResponse> {
        let caller = Caller::of(&request)?;
        let message = request.get_ref();
        let expected = mesh::request::expected_version(super::DOMAIN, &message.etag)?;
        let request_id = request_id(&message.request_id, "request_id")?;
        if message.version <= 0 {
            return Err(DocumentsError::invalid(
                "version",
                "must be a version number (1 or more)",
            ));
        }
        let row = self.writable(&caller, &message.document_id).await?;
        if let Some((document, version)) = self.replay(&caller, request_id.as_deref()).await? {
            return Ok(RestoreDocumentVersionResponse {
                document: Some(convert::document(&document, &version)),
                version: Some(convert::version(&version)),
            });
        }
        let old = self
            .store
            .version(caller.organization_id, &row.document.id, message.version)
            .await?
            .ok_or(DocumentsError::VersionNotFound)?;
        if old.version == row.document.current_version {
            return Err(DocumentsError::VersionIsCurrent(old.version));
        }
        let next = VersionRecord {
            created_by_user_id: caller.user_id,
            restored_from_version: old.version,
            request_id,
            created_at: mesh::time::now_millis(),
            ..old
        };
        let (document, version) = self
            .store
            .add_version(
                caller.organization_id,
                &row.document.id,
                expected,
                &next,
                self.limits.quota_bytes,
            )
            .await?;
        Ok(RestoreDocumentVersionResponse {
            document: Some(convert::document(&document, &version)),
            version: Some(convert::version(&version)),
        })
    }
}
