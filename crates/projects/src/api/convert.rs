//! Records → protobuf messages, and the events and board feed entries of projects' changes.

use std::collections::BTreeSet;

use events::EventMessage;
use kit::Topic;
use mesh::ids::OrganizationId;
use mesh::time::{optional_timestamp, timestamp};
use taskmesh::events::v1 as wire_events;
use taskmesh::projects::v1 as wire;
use taskmesh::projects::v1::watch_board_response::Event as WatchEvent;

pub(super) use mesh::request::etag;

use super::{Caller, ProjectsApi, Result};
use crate::domain::{BoardId, Priority, ProjectRole, StatusCategory, Transition, Workflow};
use crate::store::*;

pub(super) fn status_to_wire(category: &str) -> i32 {
    match StatusCategory::parse(category) {
        Some(StatusCategory::Todo) => wire::StatusCategory::Todo as i32,
        Some(StatusCategory::InProgress) => wire::StatusCategory::InProgress as i32,
        Some(StatusCategory::Done) => wire::StatusCategory::Done as i32,
        Some(StatusCategory::Backlog) => wire::StatusCategory::Backlog as i32,
        Some(StatusCategory::Cancelled) => wire::StatusCategory::Cancelled as i32,
        None => wire::StatusCategory::Unspecified as i32,
    }
}

pub(super) fn status_from_wire(value: i32) -> Option<StatusCategory> {
    match wire::StatusCategory::try_from(value).ok()? {
        wire::StatusCategory::Todo => Some(StatusCategory::Todo),
        wire::StatusCategory::InProgress => Some(StatusCategory::InProgress),
        wire::StatusCategory::Done => Some(StatusCategory::Done),
        wire::StatusCategory::Backlog => Some(StatusCategory::Backlog),
        wire::StatusCategory::Cancelled => Some(StatusCategory::Cancelled),
        wire::StatusCategory::Unspecified => None,
    }
}

pub(super) fn priority_to_wire(level: i64) -> i32 {
    match Priority::from_level(level) {
        Priority::None => wire::TaskPriority::None as i32,
        Priority::Low => wire::TaskPriority::Low as i32,
        Priority::Medium => wire::TaskPriority::Medium as i32,
        Priority::High => wire::TaskPriority::High as i32,
        Priority::Urgent => wire::TaskPriority::Urgent as i32,
    }
}

/// `None` for UNSPECIFIED (or unknown numbers).
pub(super) fn priority_from_wire(value: i32) -> Option<Priority> {
    match wire::TaskPriority::try_from(value).ok()? {
        wire::TaskPriority::None => Some(Priority::None),
        wire::TaskPriority::Low => Some(Priority::Low),
        wire::TaskPriority::Medium => Some(Priority::Medium),
        wire::TaskPriority::High => Some(Priority::High),
        wire::TaskPriority::Urgent => Some(Priority::Urgent),
        wire::TaskPriority::Unspecified => None,
    }
}

pub(super) fn role_to_wire(role: ProjectRole) -> i32 {
    match role {
        ProjectRole::Owner => wire::ProjectRole::Owner as i32,
        ProjectRole::Member => wire::ProjectRole::Member as i32,
        ProjectRole::Viewer => wire::ProjectRole::Viewer as i32,
    }
}

pub(super) fn role_from_wire(value: i32) -> Option<ProjectRole> {
    match wire::ProjectRole::try_from(value).ok()? {
        wire::ProjectRole::Owner => Some(ProjectRole::Owner),
        wire::ProjectRole::Member => Some(ProjectRole::Member),
        wire::ProjectRole::Viewer => Some(ProjectRole::Viewer),
        wire::ProjectRole::Unspecified => None,
    }
}

pub(super) fn project(record: &ProjectRecord) -> wire::Project {
    wire::Project {
        id: record.id.to_string(),
        organization_id: record.organization_id.to_string(),
        key: record.key.clone(),
        name: record.name.clone(),
        description: record.description.clone(),
        lead_user_id: record
            .lead_user_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        state: if record.is_archived() {
            wire::ProjectState::Archived as i32
        } else {
            wire::ProjectState::Active as i32
        },
        default_board_id: record.default_board_id.to_string(),
        creator_user_id: record.creator_user_id.to_string(),
        archive_time: optional_timestamp(record.archived_at),
        create_time: Some(timestamp(record.created_at)),
        update_time: Some(timestamp(record.updated_at)),
        etag: etag(record.version),
    }
}

pub(super) fn member(record: &MemberRecord) -> wire::ProjectMember {
    wire::ProjectMember {
        organization_id: record.organization_id.to_string(),
        project_id: record.project_id.to_string(),
        user_id: record.user_id.to_string(),
        role: ProjectRole::parse(&record.role).map_or(0, role_to_wire),
        create_time: Some(timestamp(record.created_at)),
        update_time: Some(timestamp(record.updated_at)),
        etag: etag(record.version),
    }
}

pub(super) fn label(record: &LabelRecord) -> wire::Label {
    wire::Label {
        id: record.id.clone(),
        organization_id: record.organization_id.to_string(),
        project_id: record.project_id.to_string(),
        name: record.name.clone(),
        description: record.description.clone(),
        color: record.color.clone(),
        create_time: Some(timestamp(record.created_at)),
        update_time: Some(timestamp(record.updated_at)),
        etag: etag(record.version),
    }
}

pub(super) fn workflow_of(board: &BoardRecord) -> Workflow {
    serde_json::from_str(&board.workflow).unwrap_or_default()
}

pub(super) fn workflow_to_wire(workflow: &Workflow) -> wire::BoardWorkflow {
    wire::BoardWorkflow {
        restricted: workflow.restricted,
        transitions: workflow
            .transitions
            .iter()
            .map(|transition| wire::WorkflowTransition {
                from_column_id: transition.from_column_id.clone().unwrap_or_default(),
                to_column_id: transition.to_column_id.clone(),
                allowed_roles: transition
                    .allowed_roles
                    .iter()
                    .map(|role| role_to_wire(*role))
                    .collect(),
            })
            .collect(),
    }
}

/// A wire workflow in domain form; roles other than MEMBER and OWNER are refused.
pub(super) fn workflow_from_wire(workflow: &wire::BoardWorkflow) -> Result<Workflow> {
    let mut transitions = Vec::new();
    for transition in &workflow.transitions {
        let mut roles = Vec::new();
        for role in &transition.allowed_roles {
            match role_from_wire(*role) {
                Some(role @ (ProjectRole::Member | ProjectRole::Owner)) => roles.push(role),
                _ => {
                    return Err(crate::domain::invalid(
                        "board.workflow",
                        "allowed_roles may hold only PROJECT_ROLE_MEMBER and PROJECT_ROLE_OWNER",
                    ));
                }
            }
        }
        transitions.push(Transition {
            from_column_id: Some(transition.from_column_id.clone()).filter(|id| !id.is_empty()),
            to_column_id: transition.to_column_id.clone(),
            allowed_roles: roles,
        });
    }
    Ok(Workflow {
        restricted: workflow.restricted,
        transitions,
    })
}

pub(super) fn column(record: &ColumnRecord) -> wire::Column {
    wire::Column {
        id: record.id.to_string(),
        organization_id: record.organization_id.to_string(),
        board_id: record.board_id.to_string(),
        name: record.name.clone(),
        position: record.position as i32,
        wip_limit: record.wip_limit as i32,
        status_category: status_to_wire(&record.status_category),
        task_count: record.task_count,
        create_time: Some(timestamp(record.created_at)),
        update_time: Some(timestamp(record.updated_at)),
        etag: etag(record.version),
    }
}

pub(super) fn board(record: &BoardRecord, columns: &[ColumnRecord]) -> wire::Board {
    wire::Board {
        id: record.id.to_string(),
        organization_id: record.organization_id.to_string(),
        project_id: record.project_id.to_string(),
        name: record.name.clone(),
        description: record.description.clone(),
        columns: columns.iter().map(column).collect(),
        create_time: Some(timestamp(record.created_at)),
        update_time: Some(timestamp(record.updated_at)),
        etag: etag(record.version),
        workflow: Some(workflow_to_wire(&workflow_of(record))),
    }
}

fn duration(millis: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: millis.div_euclid(1_000),
        nanos: (millis.rem_euclid(1_000) * 1_000_000) as i32,
    }
}

/// A task; `full` includes the description.
pub(super) fn task(record: &TaskRecord, full: bool) -> wire::Task {
    wire::Task {
        id: record.id.to_string(),
        organization_id: record.organization_id.to_string(),
        project_id: record.project_id.to_string(),
        key: record.key.clone(),
        number: record.number,
        title: record.title.clone(),
        description: if full {
            record.description.clone()
        } else {
            String::new()
        },
        board_id: record.board_id.to_string(),
        column_id: record.column_id.to_string(),
        status_category: status_to_wire(&record.status_category),
        rank: record.rank.clone(),
        priority: priority_to_wire(record.priority),
        reporter_user_id: record.reporter_user_id.to_string(),
        label_ids: record.label_ids.clone(),
        parent_task_id: record
            .parent_task_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        subtask_count: record.subtask_count,
        comment_count: record.comment_count,
        due_time: optional_timestamp(record.due_at),
        estimate: record.estimate_ms.map(duration),
        time_spent: Some(duration(record.time_spent_ms)),
        complete_time: optional_timestamp(record.completed_at),
        create_time: Some(timestamp(record.created_at)),
        update_time: Some(timestamp(record.updated_at)),
        etag: etag(record.version),
        assignee_user_ids: record
            .assignee_user_ids
            .iter()
            .map(ToString::to_string)
            .collect(),
        start_time: optional_timestamp(record.start_at),
    }
}

pub(super) fn comment(record: &CommentRecord) -> wire::Comment {
    wire::Comment {
        id: record.id.clone(),
        organization_id: record.organization_id.to_string(),
        task_id: record.task_id.to_string(),
        author_user_id: record.author_user_id.to_string(),
        body: record.body.clone(),
        create_time: Some(timestamp(record.created_at)),
        update_time: Some(timestamp(record.updated_at)),
        etag: etag(record.version),
        mentioned_user_ids: serde_json::from_str(&record.mentioned_user_ids).unwrap_or_default(),
    }
}

pub(super) fn work_log(record: &WorkLogRecord) -> wire::WorkLog {
    wire::WorkLog {
        id: record.id.clone(),
        organization_id: record.organization_id.to_string(),
        task_id: record.task_id.to_string(),
        user_id: record.user_id.to_string(),
        duration: Some(duration(record.duration_ms)),
        start_time: Some(timestamp(record.started_at)),
        description: record.description.clone(),
        create_time: Some(timestamp(record.created_at)),
        etag: etag(1),
        project_id: record.project_id.to_string(),
        task_key: record.task_key.clone(),
    }
}

/// A JSON value as a `google.protobuf.Value`.
pub(super) fn json_value(value: &serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(value) => Kind::BoolValue(*value),
        serde_json::Value::Number(value) => Kind::NumberValue(value.as_f64().unwrap_or_default()),
        serde_json::Value::String(value) => Kind::StringValue(value.clone()),
        serde_json::Value::Array(values) => Kind::ListValue(prost_types::ListValue {
            values: values.iter().map(json_value).collect(),
        }),
        serde_json::Value::Object(map) => Kind::StructValue(prost_types::Struct {
            fields: map
                .iter()
                .map(|(key, value)| (key.clone(), json_value(value)))
                .collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

/// One recorded field change (stored as JSON in activity entries).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Change {
    pub field: String,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
    #[serde(default)]
    pub omitted: bool,
}

pub(super) fn changes_of(record: &ActivityRecord) -> Vec<Change> {
    serde_json::from_str(&record.field_changes).unwrap_or_default()
}

pub(super) fn activity_kind(kind: &str) -> i32 {
    use wire::TaskActivityKind as K;
    (match kind {
        "created" => K::Created,
        "updated" => K::Updated,
        "moved" => K::Moved,
        "deleted" => K::Deleted,
        "restored" => K::Restored,
        "commented" => K::Commented,
        "comment_updated" => K::CommentUpdated,
        "comment_deleted" => K::CommentDeleted,
        "comment_restored" => K::CommentRestored,
        "work_logged" => K::WorkLogged,
        "work_log_deleted" => K::WorkLogDeleted,
        _ => K::Unspecified,
    }) as i32
}

pub(super) fn activity(record: &ActivityRecord) -> wire::TaskActivity {
    wire::TaskActivity {
        id: record.id.clone(),
        organization_id: record.organization_id.to_string(),
        project_id: record.project_id.to_string(),
        task_id: record.task_id.to_string(),
        actor_user_id: record.actor_user_id.to_string(),
        kind: activity_kind(&record.kind),
        field_changes: changes_of(record)
            .iter()
            .map(|change| wire::FieldChange {
                field: change.field.clone(),
                old_value: (!change.omitted).then(|| json_value(&change.old)),
                new_value: (!change.omitted).then(|| json_value(&change.new)),
                values_omitted: change.omitted,
            })
            .collect(),
        comment_id: record.comment_id.clone().unwrap_or_default(),
        work_log_id: record.work_log_id.clone().unwrap_or_default(),
        undo_of_activity_id: record.undo_of_activity_id.clone().unwrap_or_default(),
        redo_of_activity_id: record.redo_of_activity_id.clone().unwrap_or_default(),
        create_time: Some(timestamp(record.created_at)),
        task_key: record.task_key.clone(),
    }
}

/// Field changes in event form.
pub(super) fn event_changes(changes: &[Change]) -> Vec<wire_events::FieldChange> {
    changes
        .iter()
        .map(|change| wire_events::FieldChange {
            field: change.field.clone(),
            old_value: (!change.omitted).then(|| json_value(&change.old)),
            new_value: (!change.omitted).then(|| json_value(&change.new)),
            values_omitted: change.omitted,
        })
        .collect()
}

pub(super) fn project_resource(
    organization_id: OrganizationId,
    project: impl std::fmt::Display,
) -> String {
    format!("organizations/{organization_id}/projects/{project}")
}

pub(super) fn task_resource(
    organization_id: OrganizationId,
    task: impl std::fmt::Display,
) -> String {
    format!("organizations/{organization_id}/tasks/{task}")
}

/// One unit of work being assembled: store ops, events, board feed entries.
pub(super) struct Unit<'a> {
    pub caller: &'a Caller,
    pub now: i64,
    pub ops: Vec<Op>,
    events: Vec<EventMessage>,
    boards: BTreeSet<BoardId>,
    retention: i64,
}

impl<'a> Unit<'a> {
    pub fn new(api: &ProjectsApi, caller: &'a Caller) -> Self {
        Self {
            caller,
            now: super::now(),
            ops: Vec::new(),
            events: Vec::new(),
            boards: BTreeSet::new(),
            retention: api.config.watch_retention_secs as i64 * 1_000,
        }
    }

    pub fn op(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// An event by the caller.
    pub fn event<P: prost::Name>(&mut self, topic: Topic<P>, resource: String, payload: &P) {
        self.events.push(
            topic
                .event(resource, payload)
                .tenant(self.caller.organization_id)
                .user_actor(self.caller.user_id)
                .request_id(self.caller.request_id.clone())
                .build(),
        );
    }

    /// A change watchers of `board` receive.
    pub fn feed(&mut self, board: BoardId, event: WatchEvent) {
        let message = wire::WatchBoardResponse {
            resume_token: String::new(),
            event_time: Some(timestamp(self.now)),
            actor_user_id: self.caller.user_id.to_string(),
            event: Some(event),
        };
        self.ops.push(Op::Feed(FeedEntry {
            board_id: board,
            actor_user_id: self.caller.user_id.to_string(),
            payload: prost::Message::encode_to_vec(&message),
            created_at: self.now,
            retain_after: self.now - self.retention,
        }));
        self.boards.insert(board);
    }

    /// Commits the unit; wakes this process's watchers of the boards it fed (other replicas
    /// hear of it through the `board.changed` events).
    pub async fn commit(mut self, api: &ProjectsApi) -> Result<()> {
        for board in &self.boards {
            let payload = wire_events::BoardChanged {
                board_id: board.to_string(),
            };
            self.events.push(
                crate::events::BOARD_CHANGED
                    .event(
                        format!(
                            "organizations/{}/boards/{board}",
                            self.caller.organization_id
                        ),
                        &payload,
                    )
                    .tenant(self.caller.organization_id)
                    .user_actor(self.caller.user_id)
                    .request_id(self.caller.request_id.clone())
                    .build(),
            );
        }
        let effects = Effects {
            events: self.events,
            audit: Vec::new(),
        };
        api.store
            .apply(self.caller.organization_id, self.ops, effects)
            .await?;
        for board in self.boards {
            api.hub.notify(board);
        }
        Ok(())
    }
}
