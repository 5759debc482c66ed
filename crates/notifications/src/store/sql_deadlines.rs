//! The `tracked_tasks` projection kept from projects' task events (watchers, due time, open
//! or not), the watchers a status change tells, and the due-reminder scan that tells each
//! assignee once when a task is due soon and once when it is overdue.
//!
//! Invariants: a reminder is a notification whose source is `due-soon:<task>:<due millis>` or
//! `overdue:<task>:<due millis>`, so the notifications' uniqueness makes it fire once per task
//! and due time whatever the number of replicas or restarts; moving the due time re-arms both;
//! closed (done, cancelled) and deleted tasks are never reminded.

use events::consumer::HandlerError;
use prost::Name;
use prost_types::value::Kind as ValueKind;
use taskmesh::events::v1::{
    Event, TaskAssigned, TaskCompleted, TaskCreated, TaskDeleted, TaskMoved, TaskUpdated,
};

use super::sql::{SqlNotificationsStore, created_event, insert_record, records};
use super::sql_inbox::decode;
use super::{Source, StoreResult};
use crate::domain::fanout::Draft;
use crate::domain::{Kind, MAX_TITLE_CHARS, NotificationsError, clip};

/// Whether a task in a column of `category` still needs doing.
pub(super) fn open(category: &str) -> bool {
    !matches!(category, "done" | "cancelled")
}

/// A change to one task's row of the projection.
#[derive(Debug)]
pub enum DeadlineChange {
    /// Created or restored: the whole row.
    Upsert {
        organization_id: String,
        task: Box<TaskCreated>,
    },
    /// New title and/or due time (`Some(None)`: the due time was cleared).
    Fields {
        task_id: String,
        title: Option<String>,
        due_at: Option<Option<i64>>,
    },
    /// New assignees.
    Assignees { task_id: String, users: String },
    /// Opened or closed.
    Open { task_id: String, open: bool },
    /// Deleted.
    Delete { task_id: String },
}

/// What `event` changes in the projection, if anything.
pub fn deadline_change(event: &Event) -> Result<Option<DeadlineChange>, HandlerError> {
    let kind = event.payload_type.as_str();
    Ok(Some(if kind == TaskCreated::full_name() {
        DeadlineChange::Upsert {
            organization_id: event.tenant_id.clone(),
            task: Box::new(decode(event)?),
        }
    } else if kind == TaskUpdated::full_name() {
        let updated: TaskUpdated = decode(event)?;
        let text =
            |value: &Option<prost_types::Value>| match value.as_ref().and_then(|v| v.kind.as_ref())
            {
                Some(ValueKind::StringValue(text)) => Some(text.clone()),
                _ => None,
            };
        let mut title = None;
        let mut due_at = None;
        for change in &updated.changed_fields {
            match change.field.as_str() {
                "title" => title = text(&change.new_value),
                "due_time" => {
                    due_at = Some(
                        text(&change.new_value).and_then(|time| mesh::time::rfc3339_millis(&time)),
                    )
                }
                _ => {}
            }
        }
        if title.is_none() && due_at.is_none() {
            return Ok(None);
        }
        DeadlineChange::Fields {
            task_id: updated.task_id,
            title,
            due_at,
        }
    } else if kind == TaskAssigned::full_name() {
        let assigned: TaskAssigned = decode(event)?;
        DeadlineChange::Assignees {
            task_id: assigned.task_id,
            users: assigned.assignee_user_ids.join(","),
        }
    } else if kind == TaskMoved::full_name() {
        let moved: TaskMoved = decode(event)?;
        DeadlineChange::Open {
            task_id: moved.task_id,
            open: open(&moved.to_status_category),
        }
    } else if kind == TaskCompleted::full_name() {
        DeadlineChange::Open {
            task_id: decode::<TaskCompleted>(event)?.task_id,
            open: false,
        }
    } else if kind == TaskDeleted::full_name() {
        DeadlineChange::Delete {
            task_id: decode::<TaskDeleted>(event)?.task_id,
        }
    } else {
        return Ok(None);
    }))
}

/// Applies a [`DeadlineChange`] on `$connection` (either backend).
macro_rules! track_deadline {
    ($connection:expr, $change:expr, $now:expr) => {{
        use crate::store::sql_deadlines::DeadlineChange;
        match $change {
            DeadlineChange::Upsert {
                organization_id,
                task,
            } => {
                let due_at = task.due_time.as_ref().map(mesh::time::millis);
                sqlx::query("insert into tracked_tasks (task_id, organization_id, project_id, task_key, title, due_at, open, assignee_user_ids, updated_at, reporter_user_id) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (task_id) do update set title = $5, due_at = $6, open = $7, assignee_user_ids = $8, updated_at = $9, reporter_user_id = $10")
                    .bind(&task.task_id)
                    .bind(organization_id)
                    .bind(&task.project_id)
                    .bind(&task.key)
                    .bind(&task.title)
                    .bind(due_at)
                    .bind(crate::store::sql_deadlines::open(&task.status_category))
                    .bind(task.assignee_user_ids.join(","))
                    .bind($now)
                    .bind(&task.reporter_user_id)
                    .execute(&mut *$connection)
                    .await?;
            }
            DeadlineChange::Fields {
                task_id,
                title,
                due_at,
            } => {
                if let Some(title) = title {
                    sqlx::query("update tracked_tasks set title = $2, updated_at = $3 where task_id = $1")
                        .bind(&task_id)
                        .bind(title)
                        .bind($now)
                        .execute(&mut *$connection)
                        .await?;
                }
                if let Some(due_at) = due_at {
                    sqlx::query("update tracked_tasks set due_at = $2, updated_at = $3 where task_id = $1")
                        .bind(&task_id)
                        .bind(due_at)
                        .bind($now)
                        .execute(&mut *$connection)
                        .await?;
                }
            }
            DeadlineChange::Assignees { task_id, users } => {
                sqlx::query("update tracked_tasks set assignee_user_ids = $2, updated_at = $3 where task_id = $1")
                    .bind(&task_id)
                    .bind(users)
                    .bind($now)
                    .execute(&mut *$connection)
                    .await?;
            }
            DeadlineChange::Open { task_id, open } => {
                sqlx::query("update tracked_tasks set open = $2, updated_at = $3 where task_id = $1")
                    .bind(&task_id)
                    .bind(open)
                    .bind($now)
                    .execute(&mut *$connection)
                    .await?;
            }
            DeadlineChange::Delete { task_id } => {
                sqlx::query("delete from tracked_tasks where task_id = $1")
                    .bind(&task_id)
                    .execute(&mut *$connection)
                    .await?;
            }
        }
    }};
}
pub(super) use track_deadline;

const OVERDUE_SCAN: &str = "select task_id, organization_id, project_id, task_key, title, due_at, assignee_user_ids from tracked_tasks where open and due_at is not null and due_at > $1 and due_at <= $2 and (overdue_reminded_due_at is null or overdue_reminded_due_at <> due_at) order by due_at limit 200";
const SOON_SCAN: &str = "select task_id, organization_id, project_id, task_key, title, due_at, assignee_user_ids from tracked_tasks where open and due_at is not null and due_at > $1 and due_at <= $2 and (soon_reminded_due_at is null or soon_reminded_due_at <> due_at) order by due_at limit 200";
const OVERDUE_MARK: &str =
    "update tracked_tasks set overdue_reminded_due_at = $2 where task_id = $1 and due_at = $2";
const SOON_MARK: &str =
    "update tracked_tasks set soon_reminded_due_at = $2 where task_id = $1 and due_at = $2";

/// The title and watchers (reporter, then assignees) of a tracked task, on `$connection`;
/// `None` for a task notifications never saw created.
macro_rules! watchers {
    ($connection:expr, $task_id:expr) => {{
        let row: Option<(String, String, String)> = sqlx::query_as(
            "select title, reporter_user_id, assignee_user_ids from tracked_tasks where task_id = $1",
        )
        .bind($task_id)
        .fetch_optional(&mut *$connection)
        .await?;
        row.map(|(title, reporter, assignees)| {
            let mut watchers = vec![reporter];
            watchers.extend(
                assignees
                    .split(',')
                    .filter(|user| !user.is_empty())
                    .map(str::to_string),
            );
            (title, watchers)
        })
    }};
}
pub(super) use watchers;

/// One row the scan found.
#[derive(sqlx::FromRow)]
struct Due {
    task_id: String,
    organization_id: String,
    project_id: String,
    task_key: String,
    title: String,
    due_at: i64,
    assignee_user_ids: String,
}

impl SqlNotificationsStore {
    /// Sends the reminders due at `now` (due within `window` millis, or overdue); returns how
    /// many notifications were created.
    pub(super) async fn remind(&self, now: i64, window: i64, app_url: &str) -> StoreResult<u64> {
        let mut created = 0;
        for (kind, scan, mark) in [
            (Kind::TaskOverdue, OVERDUE_SCAN, OVERDUE_MARK),
            (Kind::TaskDueSoon, SOON_SCAN, SOON_MARK),
        ] {
            let (low, high) = match kind {
                Kind::TaskOverdue => (i64::MIN, now),
                _ => (now, now + window),
            };
            let rows: Vec<Due> = mesh::read_one!(&self.0.database, None, None, |tx| {
                Ok::<_, NotificationsError>(
                    sqlx::query_as(scan)
                        .bind(low)
                        .bind(high)
                        .fetch_all(&mut *tx)
                        .await?,
                )
            })?;
            for row in rows {
                created += self.remind_one(&row, kind, mark, now, app_url).await?;
            }
        }
        Ok(created)
    }

    async fn remind_one(
        &self,
        row: &Due,
        kind: Kind,
        mark: &'static str,
        now: i64,
        app_url: &str,
    ) -> StoreResult<u64> {
        let Ok(organization) = row.organization_id.parse() else {
            return Ok(0);
        };
        let (prefix, text) = match kind {
            Kind::TaskOverdue => ("overdue", "is overdue"),
            _ => ("due-soon", "is due soon"),
        };
        let title = clip(
            &format!("{} \"{}\" {text}", row.task_key, row.title),
            MAX_TITLE_CHARS,
        );
        let drafts: Vec<Draft> = row
            .assignee_user_ids
            .split(',')
            .filter(|user| !user.is_empty())
            .map(|user| Draft {
                recipient_user_id: user.to_string(),
                kind: Some(kind),
                title: title.clone(),
                body: String::new(),
                project_id: Some(row.project_id.clone()),
                task_id: Some(row.task_id.clone()),
                ..Draft::default()
            })
            .collect();
        let source = Source {
            event_id: format!("{prefix}:{}:{}", row.task_id, row.due_at),
            actor_user_id: None,
            at: now,
        };
        let records = records(organization, &source, &drafts);
        kit::change!(&self.0, Some(organization), None, |tx, effects| {
            let mut created = 0;
            for record in &records {
                if insert_record!(&mut *tx, record) {
                    created += 1;
                    effects.events.push(created_event(record));
                    super::sql_inbox::mail_notification!(
                        &mut *tx,
                        record,
                        &source.event_id,
                        app_url,
                        now
                    );
                }
            }
            sqlx::query(mark)
                .bind(&row.task_id)
                .bind(row.due_at)
                .execute(&mut *tx)
                .await?;
            Ok::<_, NotificationsError>(created)
        })
    }
}
