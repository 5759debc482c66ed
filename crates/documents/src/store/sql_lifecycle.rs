//! What happens after a delete, in [`SqlDocumentsStore`]: contents queued for blob deletion
//! and collected once unused past a grace period; documents hidden with their deleted task
//! and purged when its undo window ends (or at once with a deleted project), through
//! [`TaskLifecycle`], the consumer of projects' events.
//!
//! Invariant: a blob is deleted only while its `blob_garbage` row is deleted in the same
//! open transaction, the row is older than the cutoff and no version uses the content. An
//! upload queues its content afresh ([`SqlDocumentsStore::claim`]) before placing the bytes:
//! it waits for a collection in progress (PostgreSQL's row lock, SQLite's one writer) and
//! then writes its blob anew, and a collection after it skips the content until the grace
//! period has passed; by then the upload has committed (the version keeps the blob) or
//! failed (the blob is garbage, and collected). The grace period covers an upload's time
//! between claiming and committing.

use events::consumer::{EventTx, Handler, HandlerError};
use mesh::ids::OrganizationId;
use prost::Message;
use prost::Name;
use taskmesh::events::v1::{Event, ProjectDeleted, TaskCreated, TaskDeleted};

use super::sql::{SqlDocumentsStore, delete_documents, deleted};
use super::{ContentRemover, DocumentRecord, Purge, StoreError, StoreResult};

/// Projects' events (documents follows task deletes, restores and project deletes).
pub const PROJECTS_EVENTS: &str = "taskmesh.projects.>";

const HIDE: &str =
    "update documents set hidden = $3 where organization_id = $1 and task_id = $2 and hidden <> $3";
const SCHEDULE: &str = "insert into purges (organization_id, scope, target_id, purge_after) values ($1, $2, $3, $4) on conflict (organization_id, scope, target_id) do update set purge_after = excluded.purge_after";
const UNSCHEDULE: &str =
    "delete from purges where organization_id = $1 and scope = $2 and target_id = $3";

impl SqlDocumentsStore {
    pub(super) async fn claim(
        &self,
        organization_id: OrganizationId,
        sha256: &str,
    ) -> StoreResult<()> {
        mesh::transaction!(&self.0.database, Some(organization_id), None, |tx| {
            sqlx::query(super::sql::QUEUE_GARBAGE)
                .bind(organization_id)
                .bind(sha256)
                .bind(mesh::time::now_millis())
                .execute(&mut *tx)
                .await?;
            Ok::<_, StoreError>(())
        })
    }

    pub(super) async fn collect(
        &self,
        cutoff: i64,
        limit: i64,
        remover: &dyn ContentRemover,
    ) -> StoreResult<usize> {
        let due: Vec<(OrganizationId, String)> = mesh::read_one!(
            &self.0.database,
            None,
            None,
            |tx| {
                Ok::<_, StoreError>(sqlx::query_as("select organization_id, sha256 from blob_garbage where since < $1 order by since limit $2")
                    .bind(cutoff)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?)
            }
        )?;
        let mut removed = 0;
        for (organization_id, sha256) in due {
            let deleted = mesh::transaction!(
                &self.0.database,
                Some(organization_id),
                None,
                |tx| {
                    // Deleting the row first holds it (row lock / the one writer) while the blob goes.
                    let taken = sqlx::query("delete from blob_garbage where organization_id = $1 and sha256 = $2 and since < $3")
                    .bind(organization_id)
                    .bind(&sha256)
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected() == 1;
                    let used: Option<i64> = sqlx::query_scalar("select cast(1 as bigint) from document_versions where organization_id = $1 and sha256 = $2 limit 1")
                    .bind(organization_id)
                    .bind(&sha256)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if !taken || used.is_some() {
                        return Ok::<_, StoreError>(false);
                    }
                    remover
                        .remove(&organization_id.to_string(), &sha256)
                        .await
                        .map_err(|error| {
                            StoreError::Service(mesh::ServiceError::dependency_unavailable(
                                crate::domain::DOMAIN,
                                &error,
                            ))
                        })?;
                    Ok(true)
                }
            )?;
            removed += usize::from(deleted);
        }
        Ok(removed)
    }

    pub(super) async fn purges(&self, now: i64, limit: i64) -> StoreResult<usize> {
        let due: Vec<Purge> = mesh::read_one!(&self.0.database, None, None, |tx| {
            Ok::<_, StoreError>(sqlx::query_as("select organization_id, scope, target_id from purges where purge_after <= $1 order by purge_after limit $2")
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?)
        })?;
        for purge in &due {
            let organization_id = purge.organization_id;
            kit::change!(&self.0, Some(organization_id), None, |tx, effects| {
                let select = if purge.scope == "project" {
                    "select * from documents where organization_id = $1 and project_id = $2"
                } else {
                    "select * from documents where organization_id = $1 and task_id = $2"
                };
                let documents: Vec<DocumentRecord> = sqlx::query_as(select)
                    .bind(organization_id)
                    .bind(&purge.target_id)
                    .fetch_all(&mut *tx)
                    .await?;
                let (_unused, sizes) = delete_documents!(tx, organization_id, &documents);
                for (document, bytes) in documents.iter().zip(sizes) {
                    effects.events.push(deleted(document, bytes, true, None));
                }
                sqlx::query(UNSCHEDULE)
                    .bind(organization_id)
                    .bind(&purge.scope)
                    .bind(&purge.target_id)
                    .execute(&mut *tx)
                    .await?;
                Ok::<_, StoreError>(())
            })?;
        }
        Ok(due.len())
    }
}

/// What a projects event means for documents.
enum Step {
    /// Hide the task's documents until `purge_after`.
    TaskDeleted { task: String, purge_after: i64 },
    /// Show them again.
    TaskRestored { task: String },
    /// Delete the project's documents.
    ProjectDeleted { project: String },
}

fn step(event: &Event) -> Result<Option<Step>, HandlerError> {
    let decode_error = |error: prost::DecodeError| {
        HandlerError(format!("undecodable {}: {error}", event.payload_type))
    };
    let kind = event.payload_type.as_str();
    Ok(if kind == TaskDeleted::full_name() {
        let deleted = TaskDeleted::decode(event.payload.as_slice()).map_err(decode_error)?;
        let purge_after = match (&deleted.restore_expire_time, deleted.project_deleted) {
            (Some(until), false) => mesh::time::millis(until),
            _ => 0,
        };
        Some(Step::TaskDeleted {
            task: deleted.task_id,
            purge_after,
        })
    } else if kind == TaskCreated::full_name() {
        let created = TaskCreated::decode(event.payload.as_slice()).map_err(decode_error)?;
        created.restored.then_some(Step::TaskRestored {
            task: created.task_id,
        })
    } else if kind == ProjectDeleted::full_name() {
        let deleted = ProjectDeleted::decode(event.payload.as_slice()).map_err(decode_error)?;
        Some(Step::ProjectDeleted {
            project: deleted.project_id,
        })
    } else {
        None
    })
}

/// The consumer of projects' events: a deleted task's documents are hidden at once (in the
/// consumer's transaction) and their purge scheduled for the end of the undo window; a
/// restored task's shown again and the purge cancelled; a deleted project's purged at once.
pub struct TaskLifecycle;

#[async_trait::async_trait]
impl Handler for TaskLifecycle {
    async fn handle(&self, tx: EventTx<'_>, event: &Event) -> Result<(), HandlerError> {
        let Ok(organization) = event.tenant_id.parse::<OrganizationId>() else {
            return Ok(());
        };
        let Some(step) = step(event)? else {
            return Ok(());
        };
        let org = organization.to_string();
        events::on_connection!(tx, |connection, enqueue| {
            match &step {
                Step::TaskDeleted { task, purge_after } => {
                    sqlx::query(HIDE)
                        .bind(&org)
                        .bind(task)
                        .bind(true)
                        .execute(&mut *connection)
                        .await?;
                    sqlx::query(SCHEDULE)
                        .bind(&org)
                        .bind("task")
                        .bind(task)
                        .bind(purge_after)
                        .execute(&mut *connection)
                        .await?;
                }
                Step::TaskRestored { task } => {
                    sqlx::query(HIDE)
                        .bind(&org)
                        .bind(task)
                        .bind(false)
                        .execute(&mut *connection)
                        .await?;
                    sqlx::query(UNSCHEDULE)
                        .bind(&org)
                        .bind("task")
                        .bind(task)
                        .execute(&mut *connection)
                        .await?;
                }
                Step::ProjectDeleted { project } => {
                    sqlx::query("update documents set hidden = true where organization_id = $1 and project_id = $2").bind(&org).bind(project).execute(&mut *connection).await?;
                    sqlx::query(SCHEDULE)
                        .bind(&org)
                        .bind("project")
                        .bind(project)
                        .bind(0_i64)
                        .execute(&mut *connection)
                        .await?;
                }
            }
        });
        Ok(())
    }
}

/// The SQL of hiding a task's documents, shared with the store's own method.
pub(super) const HIDE_TASK: &str = HIDE;
