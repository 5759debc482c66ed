//! The events projects publishes: each subject bound to its payload message, in one place.

use kit::Topic;
use taskmesh::events::v1::{
    BoardChanged, CommentCreated, CommentDeleted, CommentUpdated, ProjectArchived, ProjectCreated,
    ProjectDeleted, ProjectMemberAdded, ProjectMemberRemoved, ProjectUnarchived, ProjectUpdated,
    TaskAssigned, TaskCompleted, TaskCreated, TaskDeleted, TaskMoved, TaskUpdated, WorkLogDeleted,
    WorkLogged,
};

/// A project was created.
pub const PROJECT_CREATED: Topic<ProjectCreated> = Topic::new("taskmesh.projects.project.created");
/// A project's fields changed.
pub const PROJECT_UPDATED: Topic<ProjectUpdated> = Topic::new("taskmesh.projects.project.updated");
/// A project was archived.
pub const PROJECT_ARCHIVED: Topic<ProjectArchived> =
    Topic::new("taskmesh.projects.project.archived");
/// A project was made active again.
pub const PROJECT_UNARCHIVED: Topic<ProjectUnarchived> =
    Topic::new("taskmesh.projects.project.unarchived");
/// A project was deleted.
pub const PROJECT_DELETED: Topic<ProjectDeleted> = Topic::new("taskmesh.projects.project.deleted");
/// A user joined a project.
pub const PROJECT_MEMBER_ADDED: Topic<ProjectMemberAdded> =
    Topic::new("taskmesh.projects.project_member.added");
/// A user left a project.
pub const PROJECT_MEMBER_REMOVED: Topic<ProjectMemberRemoved> =
    Topic::new("taskmesh.projects.project_member.removed");
/// A task was created (or restored).
pub const TASK_CREATED: Topic<TaskCreated> = Topic::new("taskmesh.projects.task.created");
/// A task's fields changed.
pub const TASK_UPDATED: Topic<TaskUpdated> = Topic::new("taskmesh.projects.task.updated");
/// A task changed column.
pub const TASK_MOVED: Topic<TaskMoved> = Topic::new("taskmesh.projects.task.moved");
/// A task's assignees changed.
pub const TASK_ASSIGNED: Topic<TaskAssigned> = Topic::new("taskmesh.projects.task.assigned");
/// A task entered a done column.
pub const TASK_COMPLETED: Topic<TaskCompleted> = Topic::new("taskmesh.projects.task.completed");
/// A task was deleted.
pub const TASK_DELETED: Topic<TaskDeleted> = Topic::new("taskmesh.projects.task.deleted");
/// A comment was added.
pub const COMMENT_CREATED: Topic<CommentCreated> = Topic::new("taskmesh.projects.comment.created");
/// A comment's body was edited.
pub const COMMENT_UPDATED: Topic<CommentUpdated> = Topic::new("taskmesh.projects.comment.updated");
/// A comment was deleted (restorable for the undo window).
pub const COMMENT_DELETED: Topic<CommentDeleted> = Topic::new("taskmesh.projects.comment.deleted");
/// Time was logged.
pub const WORK_LOGGED: Topic<WorkLogged> = Topic::new("taskmesh.projects.task.work_logged");
/// A work log was deleted.
pub const WORK_LOG_DELETED: Topic<WorkLogDeleted> =
    Topic::new("taskmesh.projects.task.work_log_deleted");
/// A board's change feed advanced (wakes WatchBoard streams on every replica).
pub const BOARD_CHANGED: Topic<BoardChanged> = Topic::new("taskmesh.projects.board.changed");
