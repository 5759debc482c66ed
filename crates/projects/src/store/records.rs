//! The rows projects stores, as the API reads and writes them.

use mesh::ids::{OrganizationId, UserId};

use crate::domain::{BoardId, ColumnId, ProjectId, TaskId};

/// A project.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ProjectRecord {
    /// Id.
    pub id: ProjectId,
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Key (`WEB`).
    pub key: String,
    /// Name.
    pub name: String,
    /// Markdown.
    pub description: String,
    /// Lead.
    pub lead_user_id: Option<UserId>,
    /// `active` / `archived`.
    pub state: String,
    /// Board new tasks go to.
    pub default_board_id: BoardId,
    /// Creator.
    pub creator_user_id: UserId,
    /// Create idempotency key.
    pub create_request_id: Option<String>,
    /// Last task number taken.
    pub task_seq: i64,
    /// Archived.
    pub archived_at: Option<i64>,
    /// Deleted (soft).
    pub deleted_at: Option<i64>,
    /// Created.
    pub created_at: i64,
    /// Updated.
    pub updated_at: i64,
    /// Version (etag).
    pub version: i64,
}

impl ProjectRecord {
    /// Whether changes are refused.
    pub fn is_archived(&self) -> bool {
        self.state == "archived"
    }
}

/// A project membership.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MemberRecord {
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Project.
    pub project_id: ProjectId,
    /// User.
    pub user_id: UserId,
    /// `owner` / `member` / `viewer`.
    pub role: String,
    /// Added.
    pub created_at: i64,
    /// Role changed.
    pub updated_at: i64,
    /// Version.
    pub version: i64,
}

/// A label.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct LabelRecord {
    /// Id.
    pub id: String,
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Project.
    pub project_id: ProjectId,
    /// Name.
    pub name: String,
    /// Lowercased name (unique per project).
    pub name_key: String,
    /// Tooltip.
    pub description: String,
    /// `#rrggbb`.
    pub color: String,
    /// Creator.
    pub creator_user_id: UserId,
    /// Create idempotency key.
    pub request_id: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Updated.
    pub updated_at: i64,
    /// Version.
    pub version: i64,
}

/// A board (its columns are [`ColumnRecord`]s).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct BoardRecord {
    /// Id.
    pub id: BoardId,
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Project.
    pub project_id: ProjectId,
    /// Name.
    pub name: String,
    /// Markdown.
    pub description: String,
    /// Workflow rules as JSON ([`crate::domain::Workflow`]).
    pub workflow: String,
    /// Last feed position.
    pub feed_seq: i64,
    /// Creator.
    pub creator_user_id: UserId,
    /// Create idempotency key.
    pub request_id: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Updated.
    pub updated_at: i64,
    /// Version.
    pub version: i64,
}

/// A column.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ColumnRecord {
    /// Id.
    pub id: ColumnId,
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Project.
    pub project_id: ProjectId,
    /// Board.
    pub board_id: BoardId,
    /// Name.
    pub name: String,
    /// Lowercased name (unique per board).
    pub name_key: String,
    /// 0-based position.
    pub position: i64,
    /// 0 = none.
    pub wip_limit: i64,
    /// Stored status category.
    pub status_category: String,
    /// Creator.
    pub creator_user_id: UserId,
    /// Create idempotency key.
    pub request_id: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Updated.
    pub updated_at: i64,
    /// Version.
    pub version: i64,
    /// Live tasks in it (read only).
    #[sqlx(default)]
    pub task_count: i64,
}

/// A task, with what is computed on read.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct TaskRecord {
    /// Id.
    pub id: TaskId,
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Project.
    pub project_id: ProjectId,
    /// Number in the project.
    pub number: i64,
    /// `WEB-42`.
    pub key: String,
    /// Title.
    pub title: String,
    /// Markdown.
    pub description: String,
    /// Board.
    pub board_id: BoardId,
    /// Column.
    pub column_id: ColumnId,
    /// The column's position (board order).
    pub column_position: i64,
    /// The column's status category.
    pub status_category: String,
    /// Rank in the column.
    pub rank: String,
    /// Priority level (0 none .. 4 urgent).
    pub priority: i64,
    /// Reporter.
    pub reporter_user_id: UserId,
    /// Parent task.
    pub parent_task_id: Option<TaskId>,
    /// Planned start.
    pub start_at: Option<i64>,
    /// Due.
    pub due_at: Option<i64>,
    /// Estimate.
    pub estimate_ms: Option<i64>,
    /// Entered a done column.
    pub completed_at: Option<i64>,
    /// Create idempotency key.
    pub create_request_id: Option<String>,
    /// Deleted (tombstone, restorable in the undo window).
    pub deleted_at: Option<i64>,
    /// The delete action that tombstoned it.
    pub deleted_action_id: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Updated.
    pub updated_at: i64,
    /// Version.
    pub version: i64,
    /// Direct live subtasks (read only).
    #[sqlx(default)]
    pub subtask_count: i64,
    /// Comments (read only).
    #[sqlx(default)]
    pub comment_count: i64,
    /// Sum of work logs (read only).
    #[sqlx(default)]
    pub time_spent_ms: i64,
    /// Assignees in order (read separately).
    #[sqlx(skip)]
    pub assignee_user_ids: Vec<UserId>,
    /// Label ids (read separately).
    #[sqlx(skip)]
    pub label_ids: Vec<String>,
}

/// A comment.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct CommentRecord {
    /// Id.
    pub id: String,
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Project.
    pub project_id: ProjectId,
    /// Task.
    pub task_id: TaskId,
    /// Author.
    pub author_user_id: UserId,
    /// Markdown.
    pub body: String,
    /// Mentioned users, JSON array.
    pub mentioned_user_ids: String,
    /// Create idempotency key.
    pub request_id: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Edited.
    pub updated_at: i64,
    /// Version.
    pub version: i64,
    /// When it was deleted (a tombstone kept for the undo window).
    pub deleted_at: Option<i64>,
}

/// A work log.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct WorkLogRecord {
    /// Id.
    pub id: String,
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Project.
    pub project_id: ProjectId,
    /// Task.
    pub task_id: TaskId,
    /// The task's key.
    pub task_key: String,
    /// Who worked.
    pub user_id: UserId,
    /// Duration.
    pub duration_ms: i64,
    /// Started.
    pub started_at: i64,
    /// Note.
    pub description: String,
    /// Create idempotency key.
    pub request_id: Option<String>,
    /// Logged.
    pub created_at: i64,
}

/// An activity entry.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ActivityRecord {
    /// Id (UUIDv7).
    pub id: String,
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Project.
    pub project_id: ProjectId,
    /// Task.
    pub task_id: TaskId,
    /// The task's key.
    pub task_key: String,
    /// Actor.
    pub actor_user_id: UserId,
    /// `created`, `updated`, `moved`, ...
    pub kind: String,
    /// JSON array of `{field, old, new, omitted}`.
    pub field_changes: String,
    /// Comment concerned.
    pub comment_id: Option<String>,
    /// Work log concerned.
    pub work_log_id: Option<String>,
    /// The entry an undo reverted.
    pub undo_of_activity_id: Option<String>,
    /// The entry a redo re-applied.
    pub redo_of_activity_id: Option<String>,
    /// Undo/redo idempotency key.
    pub request_id: Option<String>,
    /// When.
    pub created_at: i64,
}

/// Which stack an undoable action is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UndoStack {
    /// Can be undone.
    Undo,
    /// Was undone; can be redone.
    Redo,
}

impl UndoStack {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Undo => "undo",
            Self::Redo => "redo",
        }
    }
}

/// An undoable action on a stack.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct UndoRecord {
    /// The activity entry of the original action.
    pub activity_id: String,
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Project.
    pub project_id: ProjectId,
    /// Whose stack.
    pub user_id: UserId,
    /// `undo` / `redo`.
    pub stack: String,
    /// `create`, `update`, `move`, `delete`.
    pub kind: String,
    /// The task (the top task of a delete).
    pub task_id: TaskId,
    /// What reverting needs, JSON ([`crate::domain::UndoPayload`]).
    pub payload: String,
    /// Height on its stack.
    pub seq: i64,
    /// Pushed.
    pub created_at: i64,
    /// Leaves the stacks.
    pub expires_at: i64,
}
