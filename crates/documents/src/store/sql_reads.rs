//! Reads of [`SqlDocumentsStore`]: a document with its current version, the filtered and
//! ordered list of what a caller may read (keyset pages), versions; and metadata updates.

use mesh::ids::OrganizationId;
use mesh::paging::{Key, Page, PageRequest};
use sqlx::QueryBuilder;

use super::sql::SqlDocumentsStore;
use super::{
    DocumentRecord, DocumentRow, MetadataChange, Readable, StoreError, StoreResult, VersionRecord,
};
use crate::domain::filter::{Bound, DocumentQuery};

/// A document joined with its current version.
const ROW: &str = "select d.*, v.sha256, v.size_bytes, v.content_type, v.declared_content_type, v.file_name from documents d join document_versions v on v.document_id = d.id and v.version = d.current_version where d.organization_id = ";

fn push_range<DB>(query: &mut QueryBuilder<DB>, column: &str, (after, before): (Bound, Bound))
where
    DB: sqlx::Database,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if let Some((millis, inclusive)) = after {
        query
            .push(format!(
                " and {column} {} ",
                if inclusive { ">=" } else { ">" }
            ))
            .push_bind(millis);
    }
    if let Some((millis, inclusive)) = before {
        query
            .push(format!(
                " and {column} {} ",
                if inclusive { "<=" } else { "<" }
            ))
            .push_bind(millis);
    }
}

fn push_list<DB>(
    query: &mut QueryBuilder<DB>,
    organization_id: OrganizationId,
    readable: &Readable,
    filter: &DocumentQuery,
) where
    DB: sqlx::Database,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    query
        .push(ROW)
        .push_bind(organization_id.to_string())
        .push(" and not d.hidden and ((d.visibility <> 'project' and d.created_by_user_id = ")
        .push_bind(readable.user_id.to_string())
        .push(")");
    if readable.every_shared {
        query.push(" or d.visibility <> 'private'");
    } else {
        if readable.organization_wide {
            query.push(" or d.visibility = 'organization'");
        }
        if !readable.projects.is_empty() {
            query.push(" or (d.visibility <> 'private' and d.project_id in (");
            let mut list = query.separated(", ");
            for project in &readable.projects {
                list.push_bind(project.clone());
            }
            query.push("))");
        }
    }
    query.push(")");
    if let Some(project) = &filter.project_id {
        query
            .push(" and d.project_id = ")
            .push_bind(project.clone());
    }
    if let Some(visibility) = filter.visibility {
        query
            .push(" and d.visibility = ")
            .push_bind(visibility.as_str().to_string());
    }
    match filter.task_id.as_deref() {
        Some("") => {
            query.push(" and d.task_id is null");
        }
        Some(task) => {
            query.push(" and d.task_id = ").push_bind(task.to_string());
        }
        None => {}
    }
    if let Some(title) = &filter.title {
        // Escaped so that `%` and `_` in the text match themselves.
        let pattern = title
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        query
            .push(" and lower(d.title) like ")
            .push_bind(format!("%{pattern}%"))
            .push(" escape '\\'");
    }
    if let Some(user) = &filter.created_by_user_id {
        query
            .push(" and d.created_by_user_id = ")
            .push_bind(user.clone());
    }
    if let Some(kind) = &filter.content_type {
        query.push(" and v.content_type = ").push_bind(kind.clone());
    }
    push_range(query, "d.updated_at", filter.updated);
    push_range(query, "d.created_at", filter.created);
}

fn position(row: &DocumentRow, columns: &[(&str, mesh::paging::KeyKind)]) -> Vec<Key> {
    columns
        .iter()
        .map(|(column, _)| match *column {
            "d.updated_at" => Key::Int(row.document.updated_at),
            "d.created_at" => Key::Int(row.document.created_at),
            "d.title" => Key::Text(row.document.title.clone()),
            "v.size_bytes" => Key::Int(row.size_bytes),
            _ => Key::Text(row.document.id.clone()),
        })
        .collect()
}

impl SqlDocumentsStore {
    pub(super) async fn get_row(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<DocumentRow>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            let mut query = QueryBuilder::new(ROW);
            query
                .push_bind(organization_id.to_string())
                .push(" and d.id = ")
                .push_bind(id.to_string())
                .push(" and not d.hidden");
            Ok::<_, StoreError>(query.build_query_as().fetch_optional(&mut *tx).await?)
        })
    }

    pub(super) async fn list_rows(
        &self,
        organization_id: OrganizationId,
        readable: &Readable,
        filter: &DocumentQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<DocumentRow>> {
        let columns = page.keyset().columns;
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            let mut query = QueryBuilder::new("");
            push_list(&mut query, organization_id, readable, filter);
            page.push_keyset(&mut query);
            let rows: Vec<DocumentRow> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok::<_, StoreError>(page.finish(rows, |row| position(row, columns)))
        })
    }

    pub(super) async fn update_metadata(
        &self,
        organization_id: OrganizationId,
        id: &str,
        expected: Option<i64>,
        change: &MetadataChange,
        at: i64,
    ) -> StoreResult<DocumentRow> {
        kit::change!(&self.0, Some(organization_id), None, |tx, _effects| {
            let current: Option<DocumentRecord> = sqlx::query_as(
                "select * from documents where organization_id = $1 and id = $2 and not hidden",
            )
            .bind(organization_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let current = current.ok_or(StoreError::NotFound)?;
            if expected.is_some_and(|expected| expected != current.version) {
                return Err(StoreError::EtagMismatch);
            }
            let title = change.title.clone().unwrap_or(current.title);
            let task = change.task_id.clone().unwrap_or(current.task_id);
            let visibility = change.visibility.clone().unwrap_or(current.visibility);
            let changed = sqlx::query("update documents set title = $3, task_id = $4, visibility = $5, version = version + 1, updated_at = $6 where organization_id = $1 and id = $2 and version = $7")
                .bind(organization_id)
                .bind(id)
                .bind(&title)
                .bind(&task)
                .bind(&visibility)
                .bind(at)
                .bind(current.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed != 1 {
                return Err(StoreError::EtagMismatch);
            }
            let mut query = QueryBuilder::new(ROW);
            query
                .push_bind(organization_id.to_string())
                .push(" and d.id = ")
                .push_bind(id.to_string());
            Ok::<_, StoreError>(query.build_query_as().fetch_one(&mut *tx).await?)
        })
    }

    pub(super) async fn version_page(
        &self,
        organization_id: OrganizationId,
        id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<VersionRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            let mut query = QueryBuilder::new(
                "select v.* from document_versions v join documents d on d.id = v.document_id where v.organization_id = ",
            );
            query
                .push_bind(organization_id.to_string())
                .push(" and v.document_id = ")
                .push_bind(id.to_string())
                .push(" and not d.hidden");
            page.push_keyset(&mut query);
            let rows: Vec<VersionRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok::<_, StoreError>(page.finish(rows, |row| vec![Key::Int(row.version)]))
        })
    }
}
