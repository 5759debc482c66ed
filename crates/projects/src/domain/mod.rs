//! Projects' rules, free of transport and storage: keys, names, colors, status categories
//! and priorities, project roles and who may do what, mentions, ranks, workflow rules, the
//! task filter grammar, and the one error enum.

pub mod filter;
pub mod rank;
pub mod rules;

use mesh::error::{ErrorCode, ServiceError};

pub use rules::*;

mesh::uuid_id! {
    /// A project.
    ProjectId = "a project id",
    /// A board.
    BoardId = "a board id",
    /// A column.
    ColumnId = "a column id",
    /// A task.
    TaskId = "a task id",
}

/// Error domain of projects.
pub const DOMAIN: &str = "projects.taskmesh";

/// Projects' failures in its own words.
#[derive(Debug, thiserror::Error)]
pub enum ProjectsError {
    /// A field is malformed.
    #[error("invalid {field}: {description}")]
    InvalidField {
        /// Request field path.
        field: &'static str,
        /// What is wrong.
        description: String,
    },
    /// A required field is missing.
    #[error("{0} is required")]
    FieldRequired(&'static str),
    /// No such project (or not readable; indistinguishable).
    #[error("project not found")]
    ProjectNotFound,
    /// No such board.
    #[error("board not found")]
    BoardNotFound,
    /// No such column.
    #[error("column not found")]
    ColumnNotFound,
    /// No such task.
    #[error("task not found")]
    TaskNotFound,
    /// No such label.
    #[error("label not found")]
    LabelNotFound,
    /// No such comment.
    #[error("comment not found")]
    CommentNotFound,
    /// No such work log.
    #[error("work log not found")]
    WorkLogNotFound,
    /// No such project member.
    #[error("project member not found")]
    ProjectMemberNotFound,
    /// The user is not a member of the organization.
    #[error("user not found in this organization")]
    UserNotFound,
    /// The caller's role does not allow this.
    #[error("{0}")]
    RoleInsufficient(&'static str),
    /// The project key is used.
    #[error("another project of the organization has this key")]
    ProjectKeyTaken,
    /// The label name is used.
    #[error("another label of the project has this name")]
    LabelNameTaken,
    /// The column name is used.
    #[error("another column of the board has this name")]
    ColumnNameTaken,
    /// Already a project member.
    #[error("the user is already a member of the project")]
    ProjectMemberExists,
    /// The project is archived.
    #[error("the project is archived (read-only)")]
    ProjectArchived,
    /// The lead is not an organization member.
    #[error("the lead must be a member of the organization")]
    LeadNotOrganizationMember,
    /// The lead is not a project member.
    #[error("the lead must be a member of the project")]
    LeadNotProjectMember,
    /// The board is not in the project.
    #[error("the board is not a board of the project")]
    BoardNotInProject,
    /// Guests may only be viewers.
    #[error("organization guests can only be project viewers")]
    GuestMustBeViewer,
    /// The last explicit owner cannot go.
    #[error("a project must keep at least one owner")]
    LastProjectOwner,
    /// The default board cannot be deleted.
    #[error("the project's default board cannot be deleted; choose another default first")]
    BoardIsDefault,
    /// Tasks are on the board.
    #[error("the board holds tasks; move or delete them first")]
    BoardNotEmpty,
    /// Tasks are in the column.
    #[error("the column holds tasks; name a column to move them to")]
    ColumnNotEmpty,
    /// The only column of a board.
    #[error("a board must keep at least one column")]
    LastColumn,
    /// The column is full.
    #[error("column {name:?} is at its WIP limit ({wip_limit})")]
    WipLimitExceeded {
        /// Column id.
        column_id: String,
        /// Column name.
        name: String,
        /// The limit.
        wip_limit: i64,
    },
    /// The workflow forbids the move.
    #[error("the board's workflow does not allow this move")]
    TransitionNotAllowed {
        /// Column left.
        from_column_id: String,
        /// Column entered.
        to_column_id: String,
    },
    /// The column is not in the task's project.
    #[error("the column is not a column of the project")]
    ColumnNotInProject,
    /// A label is not in the task's project.
    #[error("the label is not a label of the project")]
    LabelNotInProject,
    /// The parent is not a task of the same project.
    #[error("the parent task is not a task of the project")]
    ParentTaskNotInProject,
    /// The parent would form a cycle.
    #[error("a task cannot be its own ancestor")]
    TaskParentCycle,
    /// An assignee cannot see the project.
    #[error("user {0} cannot see the project")]
    AssigneeNotProjectMember(String),
    /// A mentioned user cannot see the project.
    #[error("mentioned user {0} cannot see the project")]
    MentionedUserCannotSeeProject(String),
    /// The move's neighbour is not in the target column.
    #[error("the anchor task is not in the target column; refresh and retry")]
    AnchorTaskNotInColumn,
    /// Only the author edits a comment.
    #[error("only the author can do this to the comment")]
    NotCommentAuthor,
    /// Only the author deletes a work log (or an owner).
    #[error("only its author or a project owner can delete the work log")]
    NotWorkLogAuthor,
    /// Undo stack empty.
    #[error("nothing to undo")]
    NothingToUndo,
    /// Redo stack empty.
    #[error("nothing to redo")]
    NothingToRedo,
    /// The expected action is not on top.
    #[error("the undo stack changed; call GetUndoState again")]
    UndoStackChanged,
    /// Someone changed the task since.
    #[error("the task was changed since; the action was dropped from the stack")]
    TaskChangedSince,
    /// Optimistic concurrency conflict.
    #[error("the resource changed; reload and retry")]
    EtagMismatch,
    /// Bad order_by.
    #[error("invalid order_by: {0}")]
    OrderByInvalid(String),
    /// A quota.
    #[error("{1}")]
    LimitReached(&'static str, &'static str),
    /// Bad resume token.
    #[error("invalid resume_token")]
    ResumeTokenInvalid,
    /// The watcher fell behind.
    #[error("the stream fell too far behind; resubscribe with the last resume_token")]
    WatchOverrun,
    /// Too many streams.
    #[error("too many open streams")]
    StreamLimitReached,
    /// A concurrent change won; the unit of work wrote nothing (retried, or ABORTED).
    #[error("the resource changed concurrently; retry")]
    Conflict,
    /// A failure already in wire form (storage, peers, shared request rules).
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<ProjectsError> for ServiceError {
    fn from(error: ProjectsError) -> Self {
        use ProjectsError::*;
        let message = error.to_string();
        let new = |code, reason: &str| ServiceError::new(code, DOMAIN, reason, message.clone());
        let precondition = |reason: &str| new(ErrorCode::FailedPrecondition, reason);
        match error {
            InvalidField { field, description } => {
                ServiceError::invalid_field(DOMAIN, field, description)
            }
            FieldRequired(field) => new(ErrorCode::InvalidArgument, "FIELD_REQUIRED")
                .with_field_violation(field, "is required"),
            ProjectNotFound => new(ErrorCode::NotFound, "PROJECT_NOT_FOUND"),
            BoardNotFound => new(ErrorCode::NotFound, "BOARD_NOT_FOUND"),
            ColumnNotFound => new(ErrorCode::NotFound, "COLUMN_NOT_FOUND"),
            TaskNotFound => new(ErrorCode::NotFound, "TASK_NOT_FOUND"),
            LabelNotFound => new(ErrorCode::NotFound, "LABEL_NOT_FOUND"),
            CommentNotFound => new(ErrorCode::NotFound, "COMMENT_NOT_FOUND"),
            WorkLogNotFound => new(ErrorCode::NotFound, "WORK_LOG_NOT_FOUND"),
            ProjectMemberNotFound => new(ErrorCode::NotFound, "PROJECT_MEMBER_NOT_FOUND"),
            UserNotFound => new(ErrorCode::NotFound, "USER_NOT_FOUND"),
            RoleInsufficient(_) => new(ErrorCode::PermissionDenied, "ROLE_INSUFFICIENT"),
            ProjectKeyTaken => new(ErrorCode::AlreadyExists, "PROJECT_KEY_TAKEN"),
            LabelNameTaken => new(ErrorCode::AlreadyExists, "LABEL_NAME_TAKEN"),
            ColumnNameTaken => new(ErrorCode::AlreadyExists, "COLUMN_NAME_TAKEN"),
            ProjectMemberExists => new(ErrorCode::AlreadyExists, "PROJECT_MEMBER_EXISTS"),
            ProjectArchived => precondition("PROJECT_ARCHIVED"),
            LeadNotOrganizationMember => precondition("LEAD_NOT_ORGANIZATION_MEMBER"),
            LeadNotProjectMember => precondition("LEAD_NOT_PROJECT_MEMBER"),
            BoardNotInProject => precondition("BOARD_NOT_IN_PROJECT"),
            GuestMustBeViewer => precondition("GUEST_MUST_BE_VIEWER"),
            LastProjectOwner => precondition("LAST_PROJECT_OWNER"),
            BoardIsDefault => precondition("BOARD_IS_DEFAULT"),
            BoardNotEmpty => precondition("BOARD_NOT_EMPTY"),
            ColumnNotEmpty => precondition("COLUMN_NOT_EMPTY"),
            LastColumn => precondition("LAST_COLUMN"),
            WipLimitExceeded {
                column_id,
                wip_limit,
                ..
            } => precondition("WIP_LIMIT_EXCEEDED")
                .with_metadata("column_id", column_id)
                .with_metadata("wip_limit", wip_limit.to_string()),
            TransitionNotAllowed {
                from_column_id,
                to_column_id,
            } => precondition("TRANSITION_NOT_ALLOWED")
                .with_metadata("from_column_id", from_column_id)
                .with_metadata("to_column_id", to_column_id),
            ColumnNotInProject => precondition("COLUMN_NOT_IN_PROJECT"),
            LabelNotInProject => precondition("LABEL_NOT_IN_PROJECT"),
            ParentTaskNotInProject => precondition("PARENT_TASK_NOT_IN_PROJECT"),
            TaskParentCycle => precondition("TASK_PARENT_CYCLE"),
            AssigneeNotProjectMember(user) => {
                precondition("ASSIGNEE_NOT_PROJECT_MEMBER").with_metadata("user_id", user)
            }
            MentionedUserCannotSeeProject(user) => {
                precondition("MENTIONED_USER_CANNOT_SEE_PROJECT").with_metadata("user_id", user)
            }
            AnchorTaskNotInColumn => precondition("ANCHOR_TASK_NOT_IN_COLUMN"),
            NotCommentAuthor => new(ErrorCode::PermissionDenied, "NOT_COMMENT_AUTHOR"),
            NotWorkLogAuthor => new(ErrorCode::PermissionDenied, "NOT_WORK_LOG_AUTHOR"),
            NothingToUndo => precondition("NOTHING_TO_UNDO"),
            NothingToRedo => precondition("NOTHING_TO_REDO"),
            UndoStackChanged => new(ErrorCode::Aborted, "UNDO_STACK_CHANGED"),
            TaskChangedSince => new(ErrorCode::Aborted, "TASK_CHANGED_SINCE"),
            EtagMismatch | Conflict => ServiceError::new(
                ErrorCode::Aborted,
                DOMAIN,
                "ETAG_MISMATCH",
                "the resource changed; reload and retry",
            ),
            OrderByInvalid(description) => new(ErrorCode::InvalidArgument, "ORDER_BY_INVALID")
                .with_field_violation("order_by", description),
            LimitReached(reason, _) => new(ErrorCode::ResourceExhausted, reason),
            ResumeTokenInvalid => new(ErrorCode::InvalidArgument, "RESUME_TOKEN_INVALID")
                .with_field_violation("resume_token", "is not a token of this board"),
            WatchOverrun => new(ErrorCode::Aborted, "WATCH_OVERRUN"),
            StreamLimitReached => new(ErrorCode::ResourceExhausted, "STREAM_LIMIT_REACHED"),
            Service(error) => error,
        }
    }
}

impl ProjectsError {
    /// The ErrorInfo reason this error is reported with.
    pub fn reason(self) -> String {
        ServiceError::from(self).reason().to_string()
    }
}

/// An `InvalidField` error.
pub fn invalid(field: &'static str, description: impl Into<String>) -> ProjectsError {
    ProjectsError::InvalidField {
        field,
        description: description.into(),
    }
}
