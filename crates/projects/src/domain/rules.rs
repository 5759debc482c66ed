//! Field rules, roles and workflows.

use mesh::auth::OrganizationRole;
use serde::{Deserialize, Serialize};

use super::{ProjectsError, invalid};

/// Longest description (projects, boards, tasks) and comment body, in bytes.
pub const MAX_TEXT_BYTES: usize = 65_536;
/// Most assignees per task.
pub const MAX_ASSIGNEES: usize = 10;
/// Most labels per task.
pub const MAX_TASK_LABELS: usize = 20;
/// Most mentioned users per comment.
pub const MAX_MENTIONS: usize = 50;
/// Most columns per board.
pub const MAX_COLUMNS: i64 = 50;
/// Most boards per project.
pub const MAX_BOARDS: i64 = 100;
/// Most labels per project.
pub const MAX_LABELS: i64 = 500;
/// Most workflow transitions per board.
pub const MAX_TRANSITIONS: usize = 500;
/// Undo window.
pub const UNDO_WINDOW_MILLIS: i64 = 24 * 3_600_000;
/// Most actions per undo stack.
pub const UNDO_DEPTH: i64 = 50;

/// Coarse status of a column (and of the tasks in it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusCategory {
    /// Not planned yet.
    Backlog,
    /// Ready to start.
    Todo,
    /// Being worked on.
    InProgress,
    /// Finished: counts as completed.
    Done,
    /// Closed without being done.
    Cancelled,
}

impl StatusCategory {
    /// Every category, in workflow order.
    pub const ALL: [StatusCategory; 5] = [
        Self::Backlog,
        Self::Todo,
        Self::InProgress,
        Self::Done,
        Self::Cancelled,
    ];

    /// Stored and event form: `in_progress`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backlog => "backlog",
            Self::Todo => "todo",
            Self::InProgress => "in_progress",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
        }
    }

    /// From the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|category| category.as_str() == text)
    }

    /// Open = neither done nor cancelled.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Done | Self::Cancelled)
    }
}

/// Priority, in the order filters and sorts compare it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Explicitly none.
    None = 0,
    /// Low.
    Low = 1,
    /// Normal.
    Medium = 2,
    /// High.
    High = 3,
    /// Urgent.
    Urgent = 4,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 5] = [
        Self::None,
        Self::Low,
        Self::Medium,
        Self::High,
        Self::Urgent,
    ];

    /// The stored order value.
    pub fn level(self) -> i64 {
        self as i64
    }

    /// From the stored order value.
    pub fn from_level(level: i64) -> Self {
        Self::ALL
            .into_iter()
            .find(|priority| priority.level() == level)
            .unwrap_or(Self::Medium)
    }

    /// Event form: `urgent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Urgent => "urgent",
        }
    }
}

/// A user's role in one project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectRole {
    /// Reads.
    Viewer,
    /// Writes tasks, comments, work logs.
    Member,
    /// Manages the project.
    Owner,
}

impl ProjectRole {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Member => "member",
            Self::Owner => "owner",
        }
    }

    /// From the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "viewer" => Some(Self::Viewer),
            "member" => Some(Self::Member),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }
}

/// The role a caller acts with in a project: organization owners and admins are owners of
/// every project; others have their explicit membership, or none.
pub fn effective_role(
    organization_role: Option<OrganizationRole>,
    membership: Option<ProjectRole>,
) -> Option<ProjectRole> {
    match organization_role {
        Some(OrganizationRole::Owner | OrganizationRole::Admin) => Some(ProjectRole::Owner),
        Some(OrganizationRole::Guest) => membership.map(|_| ProjectRole::Viewer),
        Some(OrganizationRole::Member) => membership,
        None => None,
    }
}

/// Checks that `role` is at least `minimum`.
pub fn require(role: ProjectRole, minimum: ProjectRole) -> Result<(), ProjectsError> {
    if role >= minimum {
        Ok(())
    } else {
        Err(ProjectsError::RoleInsufficient(match minimum {
            ProjectRole::Owner => "this needs the project owner role",
            ProjectRole::Member => "this needs the project member role",
            ProjectRole::Viewer => "this needs access to the project",
        }))
    }
}

/// A project key: `^[A-Z][A-Z0-9]{1,9}$`.
pub fn project_key(key: &str) -> Result<String, ProjectsError> {
    if key.is_empty() {
        return Err(ProjectsError::FieldRequired("project.key"));
    }
    let bytes = key.as_bytes();
    let valid = (2..=10).contains(&bytes.len())
        && bytes[0].is_ascii_uppercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !valid {
        return Err(invalid(
            "project.key",
            "must be 2 to 10 uppercase letters and digits, starting with a letter",
        ));
    }
    Ok(key.to_string())
}

/// A display name of 1 to `max` characters without control characters; trimmed.
pub fn name(field: &'static str, text: &str, max: usize) -> Result<String, ProjectsError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ProjectsError::FieldRequired(field));
    }
    if text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("must be 1 to {max} characters without control characters"),
        ));
    }
    Ok(text.to_string())
}

/// A task title: 1 to 500 characters, not only whitespace, no line breaks; never truncated.
pub fn title(field: &'static str, text: &str) -> Result<String, ProjectsError> {
    if text.trim().is_empty() {
        return Err(ProjectsError::FieldRequired(field));
    }
    if text.chars().count() > 500 || text.chars().any(char::is_control) {
        return Err(invalid(
            field,
            "must be 1 to 500 characters without control characters",
        ));
    }
    Ok(text.trim().to_string())
}

/// Free text up to `max` bytes (Markdown; stored as written).
pub fn text(field: &'static str, text: &str, max: usize) -> Result<String, ProjectsError> {
    if text.len() > max {
        return Err(invalid(field, format!("must be at most {max} bytes")));
    }
    Ok(text.to_string())
}

/// A `#rrggbb` color, returned lowercase.
pub fn color(field: &'static str, text: &str) -> Result<String, ProjectsError> {
    if text.is_empty() {
        return Err(ProjectsError::FieldRequired(field));
    }
    let valid = text.len() == 7
        && text.starts_with('#')
        && text[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(invalid(field, "must be #RRGGBB"));
    }
    Ok(text.to_ascii_lowercase())
}

/// The optional idempotency key of a create.
pub fn request_id(text: &str) -> Result<Option<String>, ProjectsError> {
    mesh::validate::request_id(text).map_err(|description| invalid("request_id", description))
}

/// The users a comment body mentions with `@[name](user:<uuid>)`, deduplicated, in order of
/// first appearance. A token whose id is not a UUID is plain text.
pub fn mentions(body: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("@[") {
        rest = &rest[start + 2..];
        let Some(close) = rest.find("](user:") else {
            break;
        };
        let name = &rest[..close];
        let after = &rest[close + "](user:".len()..];
        let valid_name = name.chars().count() <= 100 && !name.contains(['\n', '\r', ']']);
        if let Some(end) = after.find(')') {
            let id = &after[..end];
            if valid_name
                && let Ok(uuid) = uuid::Uuid::parse_str(id)
                && id.len() == 36
            {
                let id = uuid.hyphenated().to_string();
                if !found.contains(&id) {
                    found.push(id);
                }
            }
        }
        rest = &rest[close..];
    }
    found
}

/// A board's workflow rules (stored as JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workflow {
    /// Only listed moves are allowed.
    pub restricted: bool,
    /// Allowed moves.
    pub transitions: Vec<Transition>,
}

/// One allowed move.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// Column left; `None` = any column.
    pub from_column_id: Option<String>,
    /// Column entered.
    pub to_column_id: String,
    /// Roles allowed; empty = every role that moves tasks.
    pub allowed_roles: Vec<ProjectRole>,
}

impl Workflow {
    /// Whether `role` may move a task from `from` (a column of this board, or `None` when it
    /// comes from another board) to `to`. Reordering within a column is always allowed.
    pub fn allows(&self, from: Option<&str>, to: &str, role: ProjectRole) -> bool {
        if !self.restricted || from == Some(to) {
            return true;
        }
        self.transitions.iter().any(|transition| {
            transition.to_column_id == to
                && (transition.from_column_id.is_none()
                    || transition.from_column_id.as_deref() == from)
                && (transition.allowed_roles.is_empty() || transition.allowed_roles.contains(&role))
        })
    }

    /// Checks the rules against the board's `columns`.
    pub fn validate(&self, columns: &[String]) -> Result<(), ProjectsError> {
        let field = "board.workflow";
        if self.transitions.len() > MAX_TRANSITIONS {
            return Err(invalid(field, "at most 500 transitions"));
        }
        let mut seen = std::collections::HashSet::new();
        for transition in &self.transitions {
            if !columns.contains(&transition.to_column_id) {
                return Err(invalid(field, "to_column_id must be a column of the board"));
            }
            if let Some(from) = &transition.from_column_id {
                if !columns.contains(from) {
                    return Err(invalid(
                        field,
                        "from_column_id must be empty or a column of the board",
                    ));
                }
                if *from == transition.to_column_id {
                    return Err(invalid(field, "a transition must change column"));
                }
            }
            if transition.allowed_roles.contains(&ProjectRole::Viewer) {
                return Err(invalid(
                    field,
                    "allowed_roles may hold only MEMBER and OWNER",
                ));
            }
            if !seen.insert((&transition.from_column_id, &transition.to_column_id)) {
                return Err(invalid(field, "duplicate transition"));
            }
        }
        Ok(())
    }

    /// The rules without any transition naming `column_id`.
    pub fn without_column(mut self, column_id: &str) -> Self {
        self.transitions.retain(|transition| {
            transition.to_column_id != column_id
                && transition.from_column_id.as_deref() != Some(column_id)
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_colors_and_titles() {
        assert!(project_key("WEB").is_ok());
        assert!(project_key("W2").is_ok());
        for bad in ["W", "web", "2WEB", "WEB-1", "ABCDEFGHIJK"] {
            assert!(project_key(bad).is_err(), "{bad}");
        }
        assert_eq!(color("c", "#A1B2C3").unwrap(), "#a1b2c3");
        assert!(color("c", "red").is_err());
        assert!(title("t", &"x".repeat(500)).is_ok());
        assert!(title("t", &"x".repeat(501)).is_err());
        assert!(title("t", "   ").is_err());
    }

    #[test]
    fn mentions_are_parsed_deduplicated_and_strict() {
        let ada = "0190a5b4-8c1e-7b3a-9f00-1c2d3e4f5a6b";
        let bob = "0190a5b4-8c1e-7b3a-9f00-1c2d3e4f5a6c";
        let body = format!(
            "hi @[Ada Lovelace](user:{ada}) and @[Bob](user:{bob}), again @[Ada](user:{ada}); \
             not @[x](user:nope) nor @[broken"
        );
        assert_eq!(mentions(&body), vec![ada.to_string(), bob.to_string()]);
        assert!(mentions("@[a\nb](user:0190a5b4-8c1e-7b3a-9f00-1c2d3e4f5a6b)").is_empty());
    }

    #[test]
    fn workflows_allow_only_listed_moves_for_listed_roles() {
        let workflow = Workflow {
            restricted: true,
            transitions: vec![
                Transition {
                    from_column_id: Some("todo".into()),
                    to_column_id: "doing".into(),
                    allowed_roles: vec![],
                },
                Transition {
                    from_column_id: None,
                    to_column_id: "done".into(),
                    allowed_roles: vec![ProjectRole::Owner],
                },
            ],
        };
        assert!(workflow.allows(Some("todo"), "doing", ProjectRole::Member));
        assert!(!workflow.allows(Some("doing"), "todo", ProjectRole::Owner));
        assert!(workflow.allows(Some("doing"), "doing", ProjectRole::Member));
        assert!(workflow.allows(Some("doing"), "done", ProjectRole::Owner));
        assert!(!workflow.allows(Some("doing"), "done", ProjectRole::Member));
        assert!(workflow.allows(None, "done", ProjectRole::Owner));
        assert!(Workflow::default().allows(Some("a"), "b", ProjectRole::Member));
        let columns = ["todo".to_string(), "doing".into(), "done".into()];
        assert!(workflow.validate(&columns).is_ok());
        assert!(workflow.clone().without_column("done").transitions.len() == 1);
    }

    #[test]
    fn organization_admins_own_every_project_and_guests_only_view() {
        use OrganizationRole::*;
        assert_eq!(effective_role(Some(Admin), None), Some(ProjectRole::Owner));
        assert_eq!(effective_role(Some(Member), None), None);
        assert_eq!(
            effective_role(Some(Guest), Some(ProjectRole::Owner)),
            Some(ProjectRole::Viewer)
        );
        assert_eq!(
            effective_role(Some(Member), Some(ProjectRole::Member)),
            Some(ProjectRole::Member)
        );
    }
}
