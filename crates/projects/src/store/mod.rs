//! Projects' storage: the [`ProjectsStore`] trait, records, the SQL implementation for
//! SQLite and PostgreSQL ([`sql`]), and the `conformance` suite both must pass (feature
//! `testsuite`).
//!
//! Writes are units of work: the API reads what it needs, decides (rules, activity, undo,
//! events, board feed) and hands the store a list of [`Op`]s that [`ProjectsStore::apply`]
//! runs in one transaction with the events. Every update of an existing row is guarded by
//! the version the API read (`where version = $read`), so a concurrent change makes the
//! whole unit fail with [`ProjectsError::Conflict`] and write nothing; the API then reads
//! again and retries, or answers ABORTED when the client sent an etag.
//!
//! Invariants: every query filters by `organization_id` and, on PostgreSQL, runs scoped to
//! that tenant (row-level security is the second wall); a column's WIP limit is checked
//! under a lock of the column row in the transaction that moves tasks into it; each board's
//! feed rows get gapless sequence numbers in commit order (the board row is locked to take
//! the next one).

#[cfg(feature = "testsuite")]
pub mod conformance;
pub mod records;
pub mod sql;
mod sql_bulk;
pub mod sql_departures;
mod sql_history;
mod sql_reads;

pub use kit::Effects;
use mesh::ids::{OrganizationId, UserId};
use mesh::paging::{KeyKind, Keyset, Page, PageRequest};
pub use records::*;

use crate::domain::filter::{Clause, Compare, TaskOrder};
use crate::domain::{BoardId, ColumnId, ProjectId, ProjectsError, TaskId};

/// Result of storage operations.
pub type StoreResult<T> = Result<T, ProjectsError>;

/// One write of a unit of work.
#[derive(Clone, Debug)]
pub enum Op {
    /// A new project (`ProjectKeyTaken` on a used key).
    InsertProject(ProjectRecord),
    /// A project's new state, if still at `expected`.
    UpdateProject(ProjectRecord, i64),
    /// A new project member (`ProjectMemberExists`).
    InsertMember(MemberRecord),
    /// A member's new role, if still at `expected`.
    UpdateMember(MemberRecord, i64),
    /// Removes a member, if still at `expected`.
    DeleteMember(ProjectId, UserId, i64),
    /// A new label (`LabelNameTaken`).
    InsertLabel(LabelRecord),
    /// A label's new state (`LabelNameTaken`).
    UpdateLabel(LabelRecord, i64),
    /// Removes a label from every task and deletes it.
    DeleteLabel(String, i64),
    /// A new board.
    InsertBoard(BoardRecord),
    /// A board's new state.
    UpdateBoard(BoardRecord, i64),
    /// Deletes a board and its columns.
    DeleteBoard(BoardId, i64),
    /// A new column (`ColumnNameTaken`).
    InsertColumn(ColumnRecord),
    /// A column's new state (`ColumnNameTaken`); tasks in it follow its position and status.
    UpdateColumn(ColumnRecord, i64),
    /// Deletes an empty column.
    DeleteColumn(ColumnId, i64),
    /// Takes task number `number` of a project whose counter is at `number - 1`.
    TakeTaskNumber(ProjectId, i64),
    /// A new task.
    InsertTask(TaskRecord),
    /// A task's new state (fields, place, deletion), if still at `expected`.
    UpdateTask(TaskRecord, i64),
    /// Replaces a task's assignees (in order).
    SetAssignees(TaskId, Vec<UserId>),
    /// Replaces a task's labels.
    SetLabels(TaskId, Vec<String>),
    /// Fails with `WipLimitExceeded` when the column holds more than its limit (locks it).
    CheckWip(ColumnRecord),
    /// Deletes a project's tasks deleted before the time (the undo window is over).
    PurgeTasks(ProjectId, i64),
    /// A new comment.
    InsertComment(CommentRecord),
    /// A comment's new body, or its deletion (a tombstone) or restoration, if its version is
    /// still the one given.
    UpdateComment(CommentRecord, i64),
    /// Deletes a project's comments deleted before the time (the undo window is over).
    PurgeComments(ProjectId, i64),
    /// A new work log.
    InsertWorkLog(WorkLogRecord),
    /// Deletes a work log.
    DeleteWorkLog(String),
    /// An activity entry.
    InsertActivity(ActivityRecord),
    /// Pushes an action on its user's undo stack: clears their redo stack in the project and
    /// keeps the newest [`crate::domain::UNDO_DEPTH`].
    PushUndo(UndoRecord),
    /// Moves an action to a stack at a height.
    MoveUndo(String, UndoStack, i64),
    /// Drops an action from the stacks.
    DropUndo(String),
    /// Appends to a board's change feed (WatchBoard); drops entries older than the time.
    Feed(FeedEntry),
}

/// A board feed entry to append.
#[derive(Clone, Debug)]
pub struct FeedEntry {
    /// Board.
    pub board_id: BoardId,
    /// Who caused it.
    pub actor_user_id: String,
    /// The encoded WatchBoardResponse (without resume token).
    pub payload: Vec<u8>,
    /// When.
    pub created_at: i64,
    /// Entries before this time are dropped.
    pub retain_after: i64,
}

/// One stored board feed entry.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct FeedRecord {
    /// Position on the board's feed.
    pub seq: i64,
    /// Who caused it.
    pub actor_user_id: String,
    /// Encoded message.
    pub payload: Vec<u8>,
    /// When.
    pub created_at: i64,
}

/// Which projects a task list searches.
#[derive(Clone, Debug)]
pub enum TaskScope {
    /// One project.
    Project(ProjectId),
    /// Several (the readable active projects).
    Projects(Vec<ProjectId>),
}

/// Which work logs a list returns.
#[derive(Clone, Debug)]
pub enum WorkLogScope {
    /// Of a task.
    Task(TaskId),
    /// Of a project's live tasks.
    Project(ProjectId),
    /// Of a user, in these projects.
    User(UserId, Vec<ProjectId>),
}

/// A condition of the AND-only filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimpleCondition {
    /// Column equals (or not).
    Equals(&'static str, String, bool),
    /// Time column compares.
    Time(&'static str, Compare, i64),
}

/// The keyset of a task order.
pub fn task_keyset(order: TaskOrder, descending: bool, full_view: bool) -> Keyset {
    use mesh::paging::Direction::{Ascending, Descending};
    let direction = if descending { Descending } else { Ascending };
    let columns: &'static [(&'static str, KeyKind)] = match order {
        TaskOrder::Rank => &[
            ("t.board_id", KeyKind::Text),
            ("t.column_position", KeyKind::Int),
            ("t.rank", KeyKind::Text),
            ("t.id", KeyKind::Text),
        ],
        TaskOrder::Created => &[("t.created_at", KeyKind::Int), ("t.id", KeyKind::Text)],
        TaskOrder::Updated => &[("t.updated_at", KeyKind::Int), ("t.id", KeyKind::Text)],
        TaskOrder::Priority => &[("t.priority", KeyKind::Int), ("t.id", KeyKind::Text)],
        TaskOrder::Start if descending => {
            &[("t.start_desc", KeyKind::Int), ("t.id", KeyKind::Text)]
        }
        TaskOrder::Start => &[("t.start_asc", KeyKind::Int), ("t.id", KeyKind::Text)],
        TaskOrder::Due if descending => &[("t.due_desc", KeyKind::Int), ("t.id", KeyKind::Text)],
        TaskOrder::Due => &[("t.due_asc", KeyKind::Int), ("t.id", KeyKind::Text)],
    };
    let keyset = Keyset::new(columns, direction);
    if full_view {
        keyset.with_max_page_size(10)
    } else {
        keyset
    }
}

/// Projects by name.
pub const PROJECTS_ORDER: Keyset = Keyset::new(
    &[("name", KeyKind::Text), ("id", KeyKind::Text)],
    mesh::paging::Direction::Ascending,
)
.with_max_page_size(20);
/// Members, oldest first.
pub const MEMBERS_ORDER: Keyset = Keyset::new(
    &[("created_at", KeyKind::Int), ("user_id", KeyKind::Text)],
    mesh::paging::Direction::Ascending,
);
/// Labels by name.
pub const LABELS_ORDER: Keyset = Keyset::new(
    &[("name_key", KeyKind::Text), ("id", KeyKind::Text)],
    mesh::paging::Direction::Ascending,
);
/// Boards, oldest first.
pub const BOARDS_ORDER: Keyset = Keyset::CREATED_ASCENDING.with_max_page_size(10);

/// The keyset of comments (oldest or newest first).
pub fn comments_keyset(descending: bool) -> Keyset {
    let keyset = if descending {
        Keyset::CREATED_DESCENDING
    } else {
        Keyset::CREATED_ASCENDING
    };
    keyset.with_max_page_size(20)
}

/// The keyset of activity lists.
pub fn activity_keyset(descending: bool) -> Keyset {
    if descending {
        Keyset::CREATED_DESCENDING
    } else {
        Keyset::CREATED_ASCENDING
    }
}

/// The keyset of work log lists: by start or creation time.
pub fn work_log_keyset(by_start: bool, descending: bool) -> Keyset {
    use mesh::paging::Direction::{Ascending, Descending};
    let direction = if descending { Descending } else { Ascending };
    if by_start {
        Keyset::new(
            &[("w.started_at", KeyKind::Int), ("w.id", KeyKind::Text)],
            direction,
        )
    } else {
        Keyset::new(
            &[("w.created_at", KeyKind::Int), ("w.id", KeyKind::Text)],
            direction,
        )
    }
}

/// Projects' storage.
#[async_trait::async_trait]
pub trait ProjectsStore: Send + Sync {
    /// Runs `ops` and writes `effects` in one transaction; nothing is written when one fails.
    async fn apply(
        &self,
        organization_id: OrganizationId,
        ops: Vec<Op>,
        effects: Effects,
    ) -> StoreResult<()>;

    /// A live (not deleted) project.
    async fn project(
        &self,
        organization_id: OrganizationId,
        id: ProjectId,
    ) -> StoreResult<Option<ProjectRecord>>;
    /// A live project by key.
    async fn project_by_key(
        &self,
        organization_id: OrganizationId,
        key: &str,
    ) -> StoreResult<Option<ProjectRecord>>;
    /// The project a user created with an idempotency key.
    async fn project_by_request(
        &self,
        organization_id: OrganizationId,
        user_id: UserId,
        request_id: &str,
    ) -> StoreResult<Option<ProjectRecord>>;
    /// Live projects: all (`member` None) or those `member` belongs to; archived or active;
    /// by lead; matching every word.
    async fn projects(
        &self,
        organization_id: OrganizationId,
        query: &ProjectQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<ProjectRecord>>;
    /// Ids of live, active projects `member` belongs to (all when `None`).
    async fn readable_projects(
        &self,
        organization_id: OrganizationId,
        member: Option<UserId>,
        include_archived: bool,
    ) -> StoreResult<Vec<ProjectId>>;

    /// A live project with `user_id`'s explicit role in it (none if not a member), read in
    /// one statement: the access check of almost every call.
    async fn project_access(
        &self,
        organization_id: OrganizationId,
        id: ProjectId,
        user_id: UserId,
    ) -> StoreResult<Option<(ProjectRecord, Option<String>)>>;

    /// A project membership.
    async fn member(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
        user_id: UserId,
    ) -> StoreResult<Option<MemberRecord>>;
    /// Memberships, oldest first.
    async fn members(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
        page: &PageRequest,
    ) -> StoreResult<Page<MemberRecord>>;
    /// Number of explicit owners.
    async fn owner_count(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
    ) -> StoreResult<i64>;

    /// A label.
    async fn label(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<LabelRecord>>;
    /// Labels by name.
    async fn labels(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
        page: &PageRequest,
    ) -> StoreResult<Page<LabelRecord>>;
    /// How many labels, boards and explicit members a project has.
    async fn project_counts(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
    ) -> StoreResult<(i64, i64, i64)>;
    /// A label created with an idempotency key.
    async fn label_by_request(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
        user_id: UserId,
        request_id: &str,
    ) -> StoreResult<Option<LabelRecord>>;

    /// A board with its columns in order.
    async fn board(
        &self,
        organization_id: OrganizationId,
        id: BoardId,
    ) -> StoreResult<Option<(BoardRecord, Vec<ColumnRecord>)>>;
    /// Boards with their columns, oldest first.
    async fn boards(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
        page: &PageRequest,
    ) -> StoreResult<Page<(BoardRecord, Vec<ColumnRecord>)>>;
    /// A board created with an idempotency key.
    async fn board_by_request(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
        user_id: UserId,
        request_id: &str,
    ) -> StoreResult<Option<BoardRecord>>;
    /// The project of a board, without its columns (a cheap "is it still there").
    async fn board_project(
        &self,
        organization_id: OrganizationId,
        id: BoardId,
    ) -> StoreResult<Option<ProjectId>>;
    /// A column (with its task count).
    async fn column(
        &self,
        organization_id: OrganizationId,
        id: ColumnId,
    ) -> StoreResult<Option<ColumnRecord>>;
    /// A column created with an idempotency key.
    async fn column_by_request(
        &self,
        organization_id: OrganizationId,
        board_id: BoardId,
        user_id: UserId,
        request_id: &str,
    ) -> StoreResult<Option<ColumnRecord>>;

    /// A task (deleted ones only with `include_deleted`), with assignees and labels.
    async fn task(
        &self,
        organization_id: OrganizationId,
        id: TaskId,
        include_deleted: bool,
    ) -> StoreResult<Option<TaskRecord>>;
    /// A live task by project and number.
    async fn task_by_number(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
        number: i64,
    ) -> StoreResult<Option<TaskRecord>>;
    /// A task created with an idempotency key.
    async fn task_by_request(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
        user_id: UserId,
        request_id: &str,
    ) -> StoreResult<Option<TaskRecord>>;
    /// Live tasks matching every clause, in the page's order.
    async fn tasks(
        &self,
        organization_id: OrganizationId,
        scope: &TaskScope,
        clauses: &[Clause],
        page: &PageRequest,
    ) -> StoreResult<Page<TaskRecord>>;
    /// The live descendants of a task (any depth), parents before children.
    async fn descendants(
        &self,
        organization_id: OrganizationId,
        id: TaskId,
    ) -> StoreResult<Vec<TaskRecord>>;
    /// The tasks a deletion action tombstoned.
    async fn deleted_by(
        &self,
        organization_id: OrganizationId,
        action_id: &str,
    ) -> StoreResult<Vec<TaskRecord>>;
    /// The live tasks of a column, in rank order.
    async fn column_tasks(
        &self,
        organization_id: OrganizationId,
        column_id: ColumnId,
    ) -> StoreResult<Vec<TaskRecord>>;
    /// Live tasks of a board in board order, after `after` (board position, rank, id), at
    /// most `limit`.
    async fn board_tasks(
        &self,
        organization_id: OrganizationId,
        board_id: BoardId,
        after: Option<(i64, String, String)>,
        limit: i64,
    ) -> StoreResult<Vec<TaskRecord>>;
    /// The ranks just above and below a place in a column: (before, after) of the task
    /// `anchor` (placing the moved task before it when `before` is true), or the bottom.
    async fn neighbour_ranks(
        &self,
        organization_id: OrganizationId,
        column_id: ColumnId,
        anchor: Option<(&str, bool)>,
        exclude: Option<TaskId>,
    ) -> StoreResult<(Option<String>, Option<String>)>;
    /// Live tasks of a project that carry the label, or that `user` is assigned to and open.
    async fn tasks_with(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
        label_id: Option<&str>,
        open_assigned_to: Option<UserId>,
    ) -> StoreResult<Vec<TaskRecord>>;
    /// Ids of the project's live tasks, their keys and status categories.
    async fn live_tasks(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
    ) -> StoreResult<Vec<(String, String, String)>>;

    /// A comment of a live task; a deleted one (still restorable) only with `deleted`.
    async fn comment(
        &self,
        organization_id: OrganizationId,
        id: &str,
        deleted: bool,
    ) -> StoreResult<Option<CommentRecord>>;
    /// A comment created with an idempotency key.
    async fn comment_by_request(
        &self,
        organization_id: OrganizationId,
        task_id: TaskId,
        user_id: UserId,
        request_id: &str,
    ) -> StoreResult<Option<CommentRecord>>;
    /// Live comments of a task.
    async fn comments(
        &self,
        organization_id: OrganizationId,
        task_id: TaskId,
        page: &PageRequest,
    ) -> StoreResult<Page<CommentRecord>>;

    /// A work log of a live task.
    async fn work_log(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<WorkLogRecord>>;
    /// A work log created with an idempotency key.
    async fn work_log_by_request(
        &self,
        organization_id: OrganizationId,
        task_id: TaskId,
        user_id: UserId,
        request_id: &str,
    ) -> StoreResult<Option<WorkLogRecord>>;
    /// Work logs of a scope, of live tasks.
    async fn work_logs(
        &self,
        organization_id: OrganizationId,
        scope: &WorkLogScope,
        conditions: &[SimpleCondition],
        page: &PageRequest,
    ) -> StoreResult<Page<WorkLogRecord>>;

    /// Activity of a task, or of a project (`task` None), matching every condition.
    async fn activity(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
        task_id: Option<TaskId>,
        conditions: &[SimpleCondition],
        page: &PageRequest,
    ) -> StoreResult<Page<ActivityRecord>>;
    /// One activity entry.
    async fn activity_entry(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<ActivityRecord>>;
    /// The entry a user's undo or redo with this idempotency key wrote.
    async fn activity_by_request(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
        user_id: UserId,
        request_id: &str,
    ) -> StoreResult<Option<ActivityRecord>>;

    /// The top of a user's undo or redo stack in a project (unexpired), and the stack's depth.
    async fn undo_top(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
        user_id: UserId,
        stack: UndoStack,
        now: i64,
    ) -> StoreResult<(Option<UndoRecord>, i64)>;
    /// The highest height on a user's stacks in a project.
    async fn undo_height(
        &self,
        organization_id: OrganizationId,
        project_id: ProjectId,
        user_id: UserId,
    ) -> StoreResult<i64>;

    /// Bulk-loads `count` tasks into `column` (benchmarks and scale tests): numbers continue
    /// the project's sequence; ranks, priorities, due and start times vary.
    async fn seed_tasks(
        &self,
        organization_id: OrganizationId,
        column: &ColumnRecord,
        reporter: UserId,
        count: i64,
        created_from: i64,
    ) -> StoreResult<()>;

    /// A board's feed: the current head and the oldest retained position.
    async fn feed_head(
        &self,
        organization_id: OrganizationId,
        board_id: BoardId,
    ) -> StoreResult<(i64, Option<i64>)>;
    /// Feed entries after `seq`, at most `limit`.
    async fn feed_since(
        &self,
        organization_id: OrganizationId,
        board_id: BoardId,
        seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<FeedRecord>>;
}

/// What ListProjects asks for.
#[derive(Clone, Debug, Default)]
pub struct ProjectQuery {
    /// Only projects this user is an explicit member of (`None`: all).
    pub member: Option<UserId>,
    /// Archived instead of active.
    pub archived: bool,
    /// With this lead.
    pub lead: Option<String>,
    /// Every word in key, name or description (lowercase).
    pub words: Vec<String>,
}
