//! The event handler: applies each event's [`Change`] to the projections and rollups in the
//! consumer's transaction (scoped to the event's organization), so an event counts exactly
//! once: the consumer records its id in `event_inbox` in the same transaction, and a replay
//! of the stream is skipped event by event.
//!
//! Invariants: open counts change only with the state analytics holds (a task it never saw
//! created is added when first seen, never subtracted); completions and visits are keyed by
//! their event id as well.

use events::consumer::{EventTx, Handler, HandlerError};
use mesh::ids::OrganizationId;
use taskmesh::events::v1::Event;

use crate::domain::changes::{Change, change};
use crate::domain::{OPEN_CATEGORIES, day, slot};

/// Projects' events.
pub const PROJECTS_EVENTS: &str = "taskmesh.projects.>";
/// Tenancy's membership events (only these: its other events may carry secrets).
pub const MEMBER_EVENTS: &str = "taskmesh.tenancy.member.>";
/// Documents' events.
pub const DOCUMENTS_EVENTS: &str = "taskmesh.documents.>";
/// Share links' events.
pub const LINKS_EVENTS: &str = "taskmesh.links.>";

const BUMP: &str = "insert into task_slots (organization_id, project_id, slot, created, completed, reopened, comments, work_logged_ms, uploads, backlog_delta, todo_delta, in_progress_delta) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) on conflict (organization_id, project_id, slot) do update set created = task_slots.created + excluded.created, completed = task_slots.completed + excluded.completed, reopened = task_slots.reopened + excluded.reopened, comments = task_slots.comments + excluded.comments, work_logged_ms = task_slots.work_logged_ms + excluded.work_logged_ms, uploads = task_slots.uploads + excluded.uploads, backlog_delta = task_slots.backlog_delta + excluded.backlog_delta, todo_delta = task_slots.todo_delta + excluded.todo_delta, in_progress_delta = task_slots.in_progress_delta + excluded.in_progress_delta";

/// Counter changes of one slot.
#[derive(Clone, Copy, Debug, Default)]
struct Bump {
    created: i64,
    completed: i64,
    reopened: i64,
    comments: i64,
    work_logged_ms: i64,
    uploads: i64,
    open: [i64; 3],
}

impl Bump {
    /// Adds `by` to the open count of `category` (if it is an open one).
    fn open(mut self, category: &str, by: i64) -> Self {
        if let Some(i) = OPEN_CATEGORIES.iter().position(|c| *c == category) {
            self.open[i] += by;
        }
        self
    }
}

macro_rules! bump {
    ($connection:expr, $organization:expr, $project:expr, $at:expr, $bump:expr) => {{
        let bump: Bump = $bump;
        sqlx::query(BUMP)
            .bind($organization)
            .bind($project)
            .bind(slot($at))
            .bind(bump.created)
            .bind(bump.completed)
            .bind(bump.reopened)
            .bind(bump.comments)
            .bind(bump.work_logged_ms)
            .bind(bump.uploads)
            .bind(bump.open[0])
            .bind(bump.open[1])
            .bind(bump.open[2])
            .execute(&mut *$connection)
            .await?;
    }};
}

/// The consumer handler of analytics.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rollups;

#[async_trait::async_trait]
impl Handler for Rollups {
    async fn handle(&self, tx: EventTx<'_>, event: &Event) -> Result<(), HandlerError> {
        let Ok(organization) = event.tenant_id.parse::<OrganizationId>() else {
            return Ok(());
        };
        let Some(change) = change(event).map_err(HandlerError)? else {
            return Ok(());
        };
        let org = organization.to_string();
        let at = event
            .occurred_at
            .as_ref()
            .map(mesh::time::millis)
            .unwrap_or_else(mesh::time::now_millis);
        events::on_connection!(tx, |connection, enqueue| {
            match &change {
                Change::TaskCreated {
                    task,
                    project,
                    category,
                    restored,
                    due_at,
                } => {
                    let first_in_progress = (category == "in_progress").then_some(at);
                    let inserted = sqlx::query("insert into tasks (task_id, organization_id, project_id, category, created_at, first_in_progress_at, due_at, deleted) values ($1, $2, $3, $4, $5, $6, $7, false) on conflict (task_id) do nothing")
                        .bind(task).bind(&org).bind(project).bind(category).bind(at).bind(first_in_progress).bind(due_at)
                        .execute(&mut *connection).await?.rows_affected() == 1;
                    let revived = !inserted && *restored && sqlx::query("update tasks set deleted = false, category = $2, due_at = $3 where task_id = $1 and deleted")
                        .bind(task).bind(category).bind(due_at)
                        .execute(&mut *connection).await?.rows_affected() == 1;
                    if inserted || revived {
                        let created = i64::from(inserted && !*restored);
                        bump!(
                            connection,
                            &org,
                            project,
                            at,
                            Bump {
                                created,
                                ..Bump::default()
                            }
                            .open(category, 1)
                        );
                    }
                }
                Change::TaskMoved { task, project, to } => {
                    let known: Option<(String, Option<i64>, bool)> = sqlx::query_as("select category, first_in_progress_at, deleted from tasks where task_id = $1")
                        .bind(task).fetch_optional(&mut *connection).await?;
                    match known {
                        Some((from, first, false)) => {
                            let first = first.or((to == "in_progress").then_some(at));
                            sqlx::query("update tasks set category = $2, first_in_progress_at = $3 where task_id = $1")
                                .bind(task).bind(to).bind(first).execute(&mut *connection).await?;
                            let reopened =
                                i64::from(from == "done" && OPEN_CATEGORIES.contains(&to.as_str()));
                            bump!(
                                connection,
                                &org,
                                project,
                                at,
                                Bump {
                                    reopened,
                                    ..Bump::default()
                                }
                                .open(&from, -1)
                                .open(to, 1)
                            );
                        }
                        Some((_, _, true)) => {}
                        None => {
                            // First seen now (created before analytics ran): open from here on.
                            sqlx::query("insert into tasks (task_id, organization_id, project_id, category, created_at, first_in_progress_at, due_at, deleted) values ($1, $2, $3, $4, $5, $6, null, false)")
                                .bind(task).bind(&org).bind(project).bind(to).bind(at).bind((to == "in_progress").then_some(at))
                                .execute(&mut *connection).await?;
                            bump!(connection, &org, project, at, Bump::default().open(to, 1));
                        }
                    }
                }
                Change::TaskCompleted { task, project } => {
                    let known: Option<(i64, Option<i64>)> = sqlx::query_as(
                        "select created_at, first_in_progress_at from tasks where task_id = $1",
                    )
                    .bind(task)
                    .fetch_optional(&mut *connection)
                    .await?;
                    let (created_at, first) = known.unwrap_or((at, None));
                    let recorded = sqlx::query("insert into task_completions (source_event_id, organization_id, project_id, task_id, completed_at, lead_ms, cycle_ms) values ($1, $2, $3, $4, $5, $6, $7) on conflict (source_event_id) do nothing")
                        .bind(&event.id).bind(&org).bind(project).bind(task).bind(at).bind(at - created_at).bind(first.map(|first| at - first))
                        .execute(&mut *connection).await?.rows_affected() == 1;
                    if recorded {
                        bump!(
                            connection,
                            &org,
                            project,
                            at,
                            Bump {
                                completed: 1,
                                ..Bump::default()
                            }
                        );
                    }
                }
                Change::TaskDeleted { task } => {
                    let known: Option<(String, String)> = sqlx::query_as("update tasks set deleted = true where task_id = $1 and not deleted returning project_id, category")
                        .bind(task).fetch_optional(&mut *connection).await?;
                    if let Some((project, category)) = known {
                        bump!(
                            connection,
                            &org,
                            &project,
                            at,
                            Bump::default().open(&category, -1)
                        );
                    }
                }
                Change::TaskDue { task, due_at } => {
                    sqlx::query("update tasks set due_at = $2 where task_id = $1")
                        .bind(task)
                        .bind(due_at)
                        .execute(&mut *connection)
                        .await?;
                }
                Change::Comment { project } => {
                    bump!(
                        connection,
                        &org,
                        project,
                        at,
                        Bump {
                            comments: 1,
                            ..Bump::default()
                        }
                    );
                }
                Change::Work { project, at, ms } => {
                    bump!(
                        connection,
                        &org,
                        project,
                        *at,
                        Bump {
                            work_logged_ms: *ms,
                            ..Bump::default()
                        }
                    );
                }
                Change::Project {
                    project,
                    archived,
                    deleted,
                } => {
                    sqlx::query("insert into projects (project_id, organization_id, archived, deleted) values ($1, $2, false, false) on conflict (project_id) do nothing")
                        .bind(project).bind(&org).execute(&mut *connection).await?;
                    sqlx::query("update projects set archived = coalesce($2, archived), deleted = deleted or $3 where project_id = $1")
                        .bind(project).bind(archived).bind(deleted).execute(&mut *connection).await?;
                }
                Change::ProjectMember {
                    project,
                    user,
                    added,
                } => {
                    let sql = if *added {
                        "insert into project_members (organization_id, project_id, user_id) values ($1, $2, $3) on conflict (project_id, user_id) do nothing"
                    } else {
                        "delete from project_members where organization_id = $1 and project_id = $2 and user_id = $3"
                    };
                    sqlx::query(sql)
                        .bind(&org)
                        .bind(project)
                        .bind(user)
                        .execute(&mut *connection)
                        .await?;
                }
                Change::Member { user, added } => {
                    let sql = if *added {
                        "insert into members (organization_id, user_id) values ($1, $2) on conflict (organization_id, user_id) do nothing"
                    } else {
                        "delete from members where organization_id = $1 and user_id = $2"
                    };
                    sqlx::query(sql)
                        .bind(&org)
                        .bind(user)
                        .execute(&mut *connection)
                        .await?;
                }
                Change::Document {
                    document,
                    project,
                    deleted,
                } => {
                    sqlx::query("insert into documents (document_id, organization_id, project_id, deleted) values ($1, $2, $3, $4) on conflict (document_id) do update set deleted = documents.deleted or excluded.deleted")
                        .bind(document).bind(&org).bind(project).bind(deleted).execute(&mut *connection).await?;
                }
                Change::Version {
                    document,
                    project,
                    version,
                    sha256,
                    size_bytes,
                } => {
                    let stored = sqlx::query("insert into document_versions (organization_id, document_id, version, sha256, size_bytes) values ($1, $2, $3, $4, $5) on conflict (document_id, version) do nothing")
                        .bind(&org).bind(document).bind(version).bind(sha256).bind(size_bytes)
                        .execute(&mut *connection).await?.rows_affected() == 1;
                    let known: Option<String> = sqlx::query_scalar(
                        "select project_id from documents where document_id = $1",
                    )
                    .bind(document)
                    .fetch_optional(&mut *connection)
                    .await?;
                    let project = Some(project.clone())
                        .filter(|p| !p.is_empty())
                        .or(known)
                        .unwrap_or_default();
                    if stored {
                        bump!(
                            connection,
                            &org,
                            &project,
                            at,
                            Bump {
                                uploads: 1,
                                ..Bump::default()
                            }
                        );
                    }
                }
                Change::Link {
                    link,
                    slug,
                    deleted,
                } => {
                    sqlx::query("insert into links (link_id, organization_id, slug, deleted) values ($1, $2, $3, $4) on conflict (link_id) do update set deleted = links.deleted or excluded.deleted")
                        .bind(link).bind(&org).bind(slug).bind(deleted).execute(&mut *connection).await?;
                }
                Change::Visit(visit) => {
                    sqlx::query("insert into link_visits (source_event_id, organization_id, link_id, day, visitor_hash, referrer_host, browser, os, device_class, country, bot) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) on conflict (source_event_id) do nothing")
                        .bind(&event.id).bind(&org).bind(&visit.link).bind(day(visit.at)).bind(&visit.visitor_hash)
                        .bind(&visit.referrer_host).bind(&visit.browser).bind(&visit.os).bind(&visit.device_class).bind(&visit.country).bind(visit.bot)
                        .execute(&mut *connection).await?;
                }
            }
            sqlx::query("insert into progress (organization_id, applied_until) values ($1, $2) on conflict (organization_id) do update set applied_until = case when excluded.applied_until > progress.applied_until then excluded.applied_until else progress.applied_until end")
                .bind(&org).bind(at).execute(&mut *connection).await?;
            Ok(())
        })
    }
}
