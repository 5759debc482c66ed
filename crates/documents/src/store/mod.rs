//! The documents store: documents and their immutable versions per organization (row-level
//! security on PostgreSQL). Every change writes its events to the outbox in the same
//! transaction. Contents are not here: versions name their blob by SHA-256.
//!
//! Invariants: version numbers are 1, 2, 3, ... per document, assigned in the transaction
//! that adds the version; storage use counts each distinct content once per organization
//! and a new version that would pass the quota is refused in the same transaction; a
//! document of a deleted task is hidden from every read until it is shown again or purged.

pub mod sql;
pub mod sql_lifecycle;
pub mod sql_reads;

#[cfg(feature = "testsuite")]
pub mod conformance;

use mesh::ids::{OrganizationId, UserId};
use mesh::paging::{Direction, KeyKind, Keyset, Page, PageRequest};

use crate::domain::filter::DocumentQuery;

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

/// A document with the facts of its current version, as reads return it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DocumentRow {
    /// The document.
    #[sqlx(flatten)]
    pub document: DocumentRecord,
    /// Current content hash.
    pub sha256: String,
    /// Current size.
    pub size_bytes: i64,
    /// Current sniffed media type.
    pub content_type: String,
    /// Current declared media type.
    pub declared_content_type: String,
    /// Current file name.
    pub file_name: String,
}

/// Which documents a caller may list (their readable set, decided by the API).
#[derive(Clone, Debug)]
pub struct Readable {
    /// The caller (their own PRIVATE and ORGANIZATION documents are readable; PROJECT ones
    /// only through `projects`).
    pub user_id: UserId,
    /// Owners and admins: every document not private to someone else.
    pub every_shared: bool,
    /// Members: every ORGANIZATION document.
    pub organization_wide: bool,
    /// PROJECT and ORGANIZATION documents of these projects.
    pub projects: Vec<String>,
}

/// A metadata change (None: unchanged).
#[derive(Clone, Debug, Default)]
pub struct MetadataChange {
    /// New title.
    pub title: Option<String>,
    /// New task (`Some(None)`: detach).
    pub task_id: Option<Option<String>>,
    /// New visibility (stored name).
    pub visibility: Option<String>,
}

/// The sort fields of ListDocuments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentOrder {
    /// Last change.
    Updated,
    /// Creation.
    Created,
    /// Title.
    Title,
    /// Current size.
    Size,
}

impl DocumentOrder {
    /// The keyset of this order in direction `descending`.
    pub fn keyset(self, descending: bool) -> Keyset {
        const UPDATED: &[(&str, KeyKind)] =
            &[("d.updated_at", KeyKind::Int), ("d.id", KeyKind::Text)];
        const CREATED: &[(&str, KeyKind)] =
            &[("d.created_at", KeyKind::Int), ("d.id", KeyKind::Text)];
        const TITLE: &[(&str, KeyKind)] = &[("d.title", KeyKind::Text), ("d.id", KeyKind::Text)];
        const SIZE: &[(&str, KeyKind)] = &[("v.size_bytes", KeyKind::Int), ("d.id", KeyKind::Text)];
        let columns = match self {
            Self::Updated => UPDATED,
            Self::Created => CREATED,
            Self::Title => TITLE,
            Self::Size => SIZE,
        };
        let direction = if descending {
            Direction::Descending
        } else {
            Direction::Ascending
        };
        Keyset::new(columns, direction)
    }
}

/// Versions newest first.
pub const VERSIONS_ORDER: Keyset =
    Keyset::new(&[("v.version", KeyKind::Int)], Direction::Descending);

/// A scheduled purge.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Purge {
    /// Tenant.
    pub organization_id: OrganizationId,
    /// `task` or `project`.
    pub scope: String,
    /// The task or project.
    pub target_id: String,
}

/// Deletes contents from blob storage (the store calls it while it holds the garbage row,
/// so no upload of the same bytes can place its blob in between).
#[async_trait::async_trait]
pub trait ContentRemover: Send + Sync {
    /// Deletes `sha256` of `organization`; nothing when absent.
    async fn remove(&self, organization: &str, sha256: &str) -> Result<(), String>;
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

    /// A visible document with its current version's facts.
    async fn get(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<DocumentRow>>;

    /// A page of the visible documents `readable` admits that match `query`.
    async fn list(
        &self,
        organization_id: OrganizationId,
        readable: &Readable,
        query: &DocumentQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<DocumentRow>>;

    /// Changes a visible document's metadata if its row version is still `expected` (any
    /// when `None`).
    async fn update(
        &self,
        organization_id: OrganizationId,
        id: &str,
        expected: Option<i64>,
        change: &MetadataChange,
        at: i64,
    ) -> StoreResult<DocumentRow>;

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

    /// A page of the versions of a visible document, newest first ([`VERSIONS_ORDER`]).
    async fn versions(
        &self,
        organization_id: OrganizationId,
        id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<VersionRecord>>;

    /// Deletes a document with its versions; returns the contents no document of the
    /// organization uses any more, which are also queued for blob deletion.
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

    /// Deletes the documents of a purged task; returns the contents no longer used (queued
    /// for blob deletion).
    async fn purge_task(
        &self,
        organization_id: OrganizationId,
        task_id: &str,
    ) -> StoreResult<Vec<String>>;

    /// Queues `sha256` for blob deletion once unused (an upload that placed its blob but
    /// could not commit its version).
    async fn queue_garbage(&self, organization_id: OrganizationId, sha256: &str)
    -> StoreResult<()>;

    /// The version `user` created with `request_id`, if any (idempotent uploads).
    async fn by_request(
        &self,
        organization_id: OrganizationId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<VersionRecord>>;

    /// Queues `sha256` afresh before an upload places it: a collection in progress finishes
    /// first, and none takes it before the grace period (by which time the upload has
    /// committed, or failed and left garbage).
    async fn claim_content(&self, organization_id: OrganizationId, sha256: &str)
    -> StoreResult<()>;

    /// Deletes (through `remover`) up to `limit` queued contents queued before `cutoff` that
    /// no version uses; returns how many were deleted.
    async fn collect_garbage(
        &self,
        cutoff: i64,
        limit: i64,
        remover: &dyn ContentRemover,
    ) -> StoreResult<usize>;

    /// Runs the purges due at `now` (up to `limit`); returns how many ran.
    async fn run_purges(&self, now: i64, limit: i64) -> StoreResult<usize>;

    /// Bytes the organization uses (each distinct content once).
    async fn usage(&self, organization_id: OrganizationId) -> StoreResult<i64>;
}
