//! [`DocumentsStore`] on SQLite and PostgreSQL, written once for both; every change writes
//! its events through `kit::change!` in its organization's scope.

use events::EventMessage;
use mesh::ids::{OrganizationId, UserId};
use taskmesh::events::v1::{DocumentCreated, DocumentDeleted, DocumentVersionUploaded};

use mesh::paging::{Page, PageRequest};

use super::{
    ContentRemover, DocumentRecord, DocumentRow, DocumentsStore, MetadataChange, Readable,
    StoreError, StoreResult, VersionRecord,
};
use crate::domain::filter::DocumentQuery;
use crate::events::{DOCUMENT_CREATED, DOCUMENT_DELETED, DOCUMENT_VERSION_UPLOADED};

mesh::storage_errors_into!(StoreError);

/// The documents database as the service sees it.
pub struct SqlDocumentsStore(pub kit::Storage);

/// Documents' migrations (its tables) for either backend.
pub fn migrations() -> mesh::db::Migrations {
    mesh::migrations!(
        "_documents_migrations",
        "../../migrations/documents/sqlite",
        "../../migrations/documents/postgres"
    )
}

const USAGE: &str = "select cast(coalesce(sum(size_bytes), 0) as bigint) from (select sha256, max(size_bytes) as size_bytes from document_versions where organization_id = $1 group by sha256) contents";
pub(crate) const QUEUE_GARBAGE: &str = "insert into blob_garbage (organization_id, sha256, since) values ($1, $2, $3) on conflict (organization_id, sha256) do update set since = excluded.since";
const INSERT_VERSION: &str = "insert into document_versions (organization_id, document_id, version, sha256, size_bytes, content_type, declared_content_type, file_name, created_by_user_id, restored_from_version, request_id, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

pub(super) fn resource(document: &DocumentRecord) -> String {
    format!(
        "organizations/{}/documents/{}",
        document.organization_id, document.id
    )
}

fn uploaded(document: &DocumentRecord, version: &VersionRecord) -> EventMessage {
    DOCUMENT_VERSION_UPLOADED
        .event(
            format!("{}/versions/{}", resource(document), version.version),
            &DocumentVersionUploaded {
                document_id: document.id.clone(),
                version: version.version,
                size_bytes: version.size_bytes,
                sha256: version.sha256.clone(),
                content_type: version.content_type.clone(),
                task_id: document.task_id.clone().unwrap_or_default(),
                file_name: version.file_name.clone(),
                project_id: document.project_id.clone(),
            },
        )
        .tenant(document.organization_id)
        .user_actor(version.created_by_user_id)
        .build()
}

pub(super) fn deleted(
    document: &DocumentRecord,
    bytes: i64,
    task_deleted: bool,
    actor: Option<UserId>,
) -> EventMessage {
    let event = DOCUMENT_DELETED
        .event(
            resource(document),
            &DocumentDeleted {
                document_id: document.id.clone(),
                task_id: document.task_id.clone().unwrap_or_default(),
                total_size_bytes: bytes,
                task_deleted,
                project_id: document.project_id.clone(),
            },
        )
        .tenant(document.organization_id);
    match actor {
        Some(user) => event.user_actor(user),
        None => event.service_actor("documents"),
    }
    .build()
}

/// Inserts `$version` on `$tx` after checking `$quota` against the organization's use (a
/// content already stored costs nothing).
macro_rules! insert_version {
    ($tx:expr, $version:expr, $quota:expr) => {{
        let version: &VersionRecord = $version;
        // Uploads of one organization check the quota one at a time.
        sqlx::query("insert into usage_locks (organization_id) values ($1) on conflict (organization_id) do update set organization_id = excluded.organization_id")
            .bind(version.organization_id)
            .execute(&mut *$tx)
            .await?;
        let known: Option<i64> = sqlx::query_scalar("select size_bytes from document_versions where organization_id = $1 and sha256 = $2 limit 1")
            .bind(version.organization_id)
            .bind(&version.sha256)
            .fetch_optional(&mut *$tx)
            .await?;
        if known.is_none() {
            let used: i64 = sqlx::query_scalar(USAGE).bind(version.organization_id).fetch_one(&mut *$tx).await?;
            if used + version.size_bytes > $quota {
                return Err(StoreError::QuotaExceeded { quota: $quota });
            }
        }
        sqlx::query(INSERT_VERSION)
            .bind(version.organization_id)
            .bind(&version.document_id)
            .bind(version.version)
            .bind(&version.sha256)
            .bind(version.size_bytes)
            .bind(&version.content_type)
            .bind(&version.declared_content_type)
            .bind(&version.file_name)
            .bind(version.created_by_user_id)
            .bind(version.restored_from_version)
            .bind(&version.request_id)
            .bind(version.created_at)
            .execute(&mut *$tx)
            .await?;
    }};
}

/// Deletes `$documents` (all of one organization) and their versions on `$tx`; evaluates to
/// (the contents no longer used, bytes per document).
macro_rules! delete_documents {
    ($tx:expr, $organization:expr, $documents:expr) => {{
        let mut contents: Vec<String> = Vec::new();
        let mut sizes: Vec<i64> = Vec::new();
        for document in $documents {
            let versions: Vec<(String, i64)> = sqlx::query_as("select sha256, size_bytes from document_versions where organization_id = $1 and document_id = $2")
                .bind($organization)
                .bind(&document.id)
                .fetch_all(&mut *$tx)
                .await?;
            sizes.push(versions.iter().map(|(_, size)| size).sum());
            sqlx::query("delete from document_versions where organization_id = $1 and document_id = $2")
                .bind($organization)
                .bind(&document.id)
                .execute(&mut *$tx)
                .await?;
            sqlx::query("delete from documents where organization_id = $1 and id = $2")
                .bind($organization)
                .bind(&document.id)
                .execute(&mut *$tx)
                .await?;
            contents.extend(versions.into_iter().map(|(sha, _)| sha));
        }
        contents.sort();
        contents.dedup();
        let mut unused = Vec::new();
        for sha in contents {
            let still: Option<i64> = sqlx::query_scalar("select cast(1 as bigint) from document_versions where organization_id = $1 and sha256 = $2 limit 1")
                .bind($organization)
                .bind(&sha)
                .fetch_optional(&mut *$tx)
                .await?;
            if still.is_none() {
                sqlx::query($crate::store::sql::QUEUE_GARBAGE)
                    .bind($organization)
                    .bind(&sha)
                    .bind(mesh::time::now_millis())
                    .execute(&mut *$tx)
                    .await?;
                unused.push(sha);
            }
        }
        (unused, sizes)
    }};
}

pub(super) use delete_documents;

/// The visible document `$id` on `$tx`, if its row version is `$expected` (any when `None`);
/// returns NotFound / EtagMismatch from the enclosing function otherwise.
macro_rules! visible_at {
    ($tx:expr, $organization:expr, $id:expr, $expected:expr) => {{
        let current: Option<DocumentRecord> = sqlx::query_as(
            "select * from documents where organization_id = $1 and id = $2 and not hidden",
        )
        .bind($organization)
        .bind($id)
        .fetch_optional(&mut *$tx)
        .await?;
        let current = current.ok_or(StoreError::NotFound)?;
        if $expected.is_some_and(|expected: i64| expected != current.version) {
            return Err(StoreError::EtagMismatch);
        }
        current
    }};
}

#[async_trait::async_trait]
impl DocumentsStore for SqlDocumentsStore {
    async fn create(
        &self,
        document: &DocumentRecord,
        first: &VersionRecord,
        quota: i64,
    ) -> StoreResult<()> {
        kit::change!(
            &self.0,
            Some(document.organization_id),
            None,
            |tx, effects| {
                sqlx::query("insert into documents (id, organization_id, project_id, task_id, title, visibility, created_by_user_id, current_version, hidden, create_request_id, version, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, 1, false, $8, 1, $9, $9)")
                .bind(&document.id)
                .bind(document.organization_id)
                .bind(&document.project_id)
                .bind(&document.task_id)
                .bind(&document.title)
                .bind(&document.visibility)
                .bind(document.created_by_user_id)
                .bind(&document.create_request_id)
                .bind(document.created_at)
                .execute(&mut *tx)
                .await?;
                insert_version!(tx, first, quota);
                effects.events.push(
                    DOCUMENT_CREATED
                        .event(
                            resource(document),
                            &DocumentCreated {
                                document_id: document.id.clone(),
                                title: document.title.clone(),
                                file_name: first.file_name.clone(),
                                content_type: first.content_type.clone(),
                                task_id: document.task_id.clone().unwrap_or_default(),
                                project_id: document.project_id.clone(),
                            },
                        )
                        .tenant(document.organization_id)
                        .user_actor(document.created_by_user_id)
                        .build(),
                );
                effects.events.push(uploaded(document, first));
                Ok::<_, StoreError>(())
            }
        )
    }

    async fn get(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<DocumentRow>> {
        self.get_row(organization_id, id).await
    }

    async fn list(
        &self,
        organization_id: OrganizationId,
        readable: &Readable,
        query: &DocumentQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<DocumentRow>> {
        self.list_rows(organization_id, readable, query, page).await
    }

    async fn update(
        &self,
        organization_id: OrganizationId,
        id: &str,
        expected: Option<i64>,
        change: &MetadataChange,
        at: i64,
    ) -> StoreResult<DocumentRow> {
        self.update_metadata(organization_id, id, expected, change, at)
            .await
    }

    async fn add_version(
        &self,
        organization_id: OrganizationId,
        id: &str,
        expected: Option<i64>,
        next: &VersionRecord,
        quota: i64,
    ) -> StoreResult<(DocumentRecord, VersionRecord)> {
        kit::change!(&self.0, Some(organization_id), None, |tx, effects| {
            let current = visible_at!(tx, organization_id, id, expected);
            // The guarded update first: it takes the document's row, so a concurrent upload
            // that read the same state waits, then finds the version moved on (ETAG_MISMATCH)
            // instead of colliding on the version number.
            let changed = sqlx::query("update documents set current_version = current_version + 1, version = version + 1, updated_at = $3 where organization_id = $1 and id = $2 and version = $4")
                .bind(organization_id)
                .bind(id)
                .bind(next.created_at)
                .bind(current.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed != 1 {
                return Err(StoreError::EtagMismatch);
            }
            let version = VersionRecord {
                organization_id,
                document_id: id.to_string(),
                version: current.current_version + 1,
                ..next.clone()
            };
            insert_version!(tx, &version, quota);
            let document = DocumentRecord {
                current_version: version.version,
                version: current.version + 1,
                updated_at: version.created_at,
                ..current
            };
            effects.events.push(uploaded(&document, &version));
            Ok::<_, StoreError>((document, version))
        })
    }

    async fn version(
        &self,
        organization_id: OrganizationId,
        id: &str,
        number: i64,
    ) -> StoreResult<Option<VersionRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, StoreError>(sqlx::query_as("select v.* from document_versions v join documents d on d.id = v.document_id where v.organization_id = $1 and v.document_id = $2 and not d.hidden and v.version = case when $3 = 0 then d.current_version else $3 end")
                .bind(organization_id)
                .bind(id)
                .bind(number)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    async fn versions(
        &self,
        organization_id: OrganizationId,
        id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<VersionRecord>> {
        self.version_page(organization_id, id, page).await
    }

    async fn delete(
        &self,
        organization_id: OrganizationId,
        id: &str,
        expected: Option<i64>,
        actor: UserId,
    ) -> StoreResult<Vec<String>> {
        kit::change!(&self.0, Some(organization_id), None, |tx, effects| {
            let current = visible_at!(tx, organization_id, id, expected);
            let (unused, sizes) =
                delete_documents!(tx, organization_id, std::slice::from_ref(&current));
            effects
                .events
                .push(deleted(&current, sizes[0], false, Some(actor)));
            Ok::<_, StoreError>(unused)
        })
    }

    async fn set_task_hidden(
        &self,
        organization_id: OrganizationId,
        task_id: &str,
        hidden: bool,
    ) -> StoreResult<u64> {
        mesh::transaction!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, StoreError>(
                sqlx::query(super::sql_lifecycle::HIDE_TASK)
                    .bind(organization_id)
                    .bind(task_id)
                    .bind(hidden)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected(),
            )
        })
    }

    async fn purge_task(
        &self,
        organization_id: OrganizationId,
        task_id: &str,
    ) -> StoreResult<Vec<String>> {
        kit::change!(&self.0, Some(organization_id), None, |tx, effects| {
            let documents: Vec<DocumentRecord> = sqlx::query_as(
                "select * from documents where organization_id = $1 and task_id = $2",
            )
            .bind(organization_id)
            .bind(task_id)
            .fetch_all(&mut *tx)
            .await?;
            let (unused, sizes) = delete_documents!(tx, organization_id, &documents);
            for (document, bytes) in documents.iter().zip(sizes) {
                effects.events.push(deleted(document, bytes, true, None));
            }
            Ok::<_, StoreError>(unused)
        })
    }

    async fn queue_garbage(
        &self,
        organization_id: OrganizationId,
        sha256: &str,
    ) -> StoreResult<()> {
        mesh::transaction!(&self.0.database, Some(organization_id), None, |tx| {
            sqlx::query(QUEUE_GARBAGE)
                .bind(organization_id)
                .bind(sha256)
                .bind(mesh::time::now_millis())
                .execute(&mut *tx)
                .await?;
            Ok::<_, StoreError>(())
        })
    }

    async fn by_request(
        &self,
        organization_id: OrganizationId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<VersionRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, StoreError>(sqlx::query_as("select v.* from document_versions v join documents d on d.id = v.document_id where v.organization_id = $1 and v.created_by_user_id = $2 and v.request_id = $3 and not d.hidden")
                .bind(organization_id)
                .bind(user)
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    async fn claim_content(
        &self,
        organization_id: OrganizationId,
        sha256: &str,
    ) -> StoreResult<()> {
        self.claim(organization_id, sha256).await
    }

    async fn collect_garbage(
        &self,
        cutoff: i64,
        limit: i64,
        remover: &dyn ContentRemover,
    ) -> StoreResult<usize> {
        self.collect(cutoff, limit, remover).await
    }

    async fn run_purges(&self, now: i64, limit: i64) -> StoreResult<usize> {
        self.purges(now, limit).await
    }

    async fn usage(&self, organization_id: OrganizationId) -> StoreResult<i64> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, StoreError>(
                sqlx::query_scalar(USAGE)
                    .bind(organization_id)
                    .fetch_one(&mut *tx)
                    .await?,
            )
        })
    }
}
