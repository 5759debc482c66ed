//! The documents store: documents and their immutable versions per organization (row-level
//! security on PostgreSQL). Every change writes its events to the outbox in the same
//! transaction. Contents are not here: versions name their blob by SHA-256.
//!
//! Invariants: version numbers are 1, 2, 3, ... per document, assigned in the transaction
//! that adds the version; storage use counts each distinct content once per organization
//! and a new version that would pass the quota is refused in the same transaction; a
//! document of a deleted task is hidden from every read until it is shown again or purged.

pub mod sql;

#[cfg(feature = "testsuite")]
pub mod conformance;

use mesh::ids::{OrganizationId, UserId};

/// Store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// The store's failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such document (or it is hidden).
    #[error("document not found")]
    NotFound,
    /// The etag is stale.
    #[error("the document changed; reload and retry")]
    EtagMismatch,
    /// The organization's storage quota would be passed.
    #[error("the storage quota of {quota} bytes would be exceeded")]
    QuotaExceeded {
        /// The quota.
        quota: i64,
    },
    /// A database failure.
    #[error(transparent)]
    Service(#[from] mesh::ServiceError),
}

/// A document.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DocumentRecord {
    /// Id (UUIDv7 text).
    pub id: String,
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Project.
    pub project_id: String,
    /// Attached task.
    pub task_id: Option<String>,
    /// Title.
    pub title: String,
    /// `project`, `organization` or `private`.
    pub visibility: String,
    /// Creator.
    pub created_by_user_id: UserId,
    /// Current version number.
    pub current_version: i64,
    /// Hidden with its deleted task.
    pub hidden: bool,
    /// The create's idempotency key.
    pub create_request_id: Option<String>,
    /// Row version, for etags.
    pub version: i64,
    /// Created.
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
}

/// One version.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct VersionRecord {
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Document.
    pub document_id: String,
    /// Number (assigned by the store when adding).
    pub version: i64,
    /// Content hash (lowercase hex).
    pub sha256: String,
    /// Bytes.
    pub size_bytes: i64,
    /// Sniffed media type.
    pub content_type: String,
    /// Declared media type ("" when none).
    pub declared_content_type: String,
    /// Display file name.
    pub file_name: String,
    /// Uploader.
    pub created_by_user_id: UserId,
    /// For a restore, the version copied; 0 otherwise.
    pub restored_from_version: i64,
    /// The upload's idempotency key.
    pub request_id: Option<String>,
    /// Created.
    pub created_at: i64,
}

/// Documents as the API uses them.
#[async_trait::async_trait]
pub trait DocumentsStore: Send + Sync {
    /// Creates `document` with `first` as version 1, unless the organization's storage
    /// would pass `quota` bytes.
    async fn create(
        &self,
        document: &DocumentRecord,
        first: &VersionRecord,
        quota: i64,
    ) -> StoreResult<()>;

    /// A visible document.
    async fn get(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<DocumentRecord>>;

    /// Adds `next` as the next version if the document's row version is still `expected`
    /// (any when `None`) and the quota holds; returns the document and the version as stored.
    async fn add_version(
        &self,
        organization_id: OrganizationId,
        id: &str,
        expected: Option<i64>,
        next: &VersionRecord,
        quota: i64,
    ) -> StoreResult<(DocumentRecord, VersionRecord)>;

    /// One version of a visible document (`0`: the current one).
    async fn version(
        &self,
        organization_id: OrganizationId,
        id: &str,
        number: i64,
    ) -> StoreResult<Option<VersionRecord>>;

    /// The versions of a visible document, newest first.
    async fn versions(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Vec<VersionRecord>>;

    /// Deletes a document with its versions; returns the contents no document of the
    /// organization uses any more (to delete from blob storage).
    async fn delete(
        &self,
        organization_id: OrganizationId,
        id: &str,
        expected: Option<i64>,
        actor: UserId,
    ) -> StoreResult<Vec<String>>;

    /// Hides (`true`) or shows again the documents of a task; returns how many changed.
    async fn set_task_hidden(
        &self,
        organization_id: OrganizationId,
        task_id: &str,
        hidden: bool,
    ) -> StoreResult<u64>;

    /// Deletes the documents of a purged task; returns the contents no longer used.
    async fn purge_task(
        &self,
        organization_id: OrganizationId,
        task_id: &str,
    ) -> StoreResult<Vec<String>>;

    /// Bytes the organization uses (each distinct content once).
    async fn usage(&self, organization_id: OrganizationId) -> StoreResult<i64>;
}
