//! TaskService: create, get, list and update tasks, and the shared ways a task change is
//! recorded (activity, events, board feed).

use std::collections::HashSet;

use mesh::ids::UserId;
use mesh::request::{Updatable, update_paths};
use mesh::time::{millis, timestamp};
use serde_json::{Value, json};
use taskmesh::events::v1 as wire_events;
use taskmesh::projects::v1::get_task_request::TaskRef;
use taskmesh::projects::v1::watch_board_response::Event as WatchEvent;
use taskmesh::projects::v1::*;
use tonic::Request;

use super::convert::{self, Change, Unit};
use super::undo::{self, UndoPayload};
use super::{
    Access, Caller, ProjectsApi, Result, check_etag, expected, new_id, page_request, parse_id,
    retry,
};
use crate::domain::filter::{self as task_filter};
use crate::domain::{
    self, ColumnId, MAX_ASSIGNEES, MAX_TASK_LABELS, MAX_TEXT_BYTES, Priority, ProjectId,
    ProjectRole, ProjectsError, StatusCategory, TaskId, rank,
};
use crate::events::*;
use crate::store::*;

/// The fields UpdateTask may change, in the order of the task's field numbers.
pub(super) const EDITABLE: [&str; 9] = [
    "title",
    "description",
    "priority",
    "label_ids",
    "parent_task_id",
    "due_time",
    "estimate",
    "assignee_user_ids",
    "start_time",
];

/// A field's value in a form undo can put back.
pub(super) fn editable(task: &TaskRecord, field: &str) -> Value {
    match field {
        "title" => json!(task.title),
        "description" => json!(task.description),
        "priority" => json!(task.priority),
        "label_ids" => json!(task.label_ids),
        "parent_task_id" => json!(task.parent_task_id.map(|id| id.to_string())),
        "due_time" => json!(task.due_at),
        "estimate" => json!(task.estimate_ms),
        "assignee_user_ids" => json!(
            task.assignee_user_ids
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        ),
        "start_time" => json!(task.start_at),
        _ => Value::Null,
    }
}

/// Sets a field from its [`editable`] form.
pub(super) fn set_editable(task: &mut TaskRecord, field: &str, value: &Value) {
    let ids = |value: &Value| -> Vec<String> {
        serde_json::from_value(value.clone()).unwrap_or_default()
    };
    match field {
        "title" => task.title = value.as_str().unwrap_or_default().to_string(),
        "description" => task.description = value.as_str().unwrap_or_default().to_string(),
        "priority" => task.priority = value.as_i64().unwrap_or(Priority::Medium.level()),
        "label_ids" => task.label_ids = ids(value),
        "parent_task_id" => task.parent_task_id = value.as_str().and_then(|id| id.parse().ok()),
        "due_time" => task.due_at = value.as_i64(),
        "estimate" => task.estimate_ms = value.as_i64(),
        "assignee_user_ids" => {
            task.assignee_user_ids = ids(value).iter().filter_map(|id| id.parse().ok()).collect()
        }
        "start_time" => task.start_at = value.as_i64(),
        _ => {}
    }
}

/// A field's value as activity and events show it (proto3 JSON mapping).
fn shown(task: &TaskRecord, field: &str) -> Value {
    let time =
        |millis: Option<i64>| millis.map_or(Value::Null, |m| json!(timestamp(m).to_string()));
    match field {
        "priority" => json!(
            TaskPriority::try_from(convert::priority_to_wire(task.priority))
                .map(|priority| priority.as_str_name())
                .unwrap_or_default()
        ),
        "due_time" => time(task.due_at),
        "start_time" => time(task.start_at),
        "estimate" => task
            .estimate_ms
            .map_or(Value::Null, |ms| json!(format!("{}s", ms / 1_000))),
        "parent_task_id" => task
            .parent_task_id
            .map_or(Value::Null, |id| json!(id.to_string())),
        _ => editable(task, field),
    }
}

/// The changed editable fields between two states of a task.
pub(super) fn changed_fields(old: &TaskRecord, new: &TaskRecord) -> Vec<&'static str> {
    EDITABLE
        .into_iter()
        .filter(|field| editable(old, field) != editable(new, field))
        .collect()
}

fn task_event(unit: &mut Unit<'_>, task: &TaskRecord) -> String {
    convert::task_resource(unit.caller.organization_id, task.id)
}

/// Records an update of `old` to `new` (editable fields only): the row, assignees and labels,
/// an UPDATED activity entry, TaskUpdated / TaskAssigned events and the board feed. Returns the
/// activity id, or `None` when nothing changed.
pub(super) fn record_update(
    unit: &mut Unit<'_>,
    old: &TaskRecord,
    mut new: TaskRecord,
    tag: Option<(&str, &str)>,
) -> Option<String> {
    let fields = changed_fields(old, &new);
    if fields.is_empty() {
        return None;
    }
    new.updated_at = unit.now;
    new.version = old.version + 1;
    unit.op(Op::UpdateTask(new.clone(), old.version));
    if old.assignee_user_ids != new.assignee_user_ids {
        unit.op(Op::SetAssignees(new.id, new.assignee_user_ids.clone()));
    }
    if old.label_ids != new.label_ids {
        unit.op(Op::SetLabels(new.id, new.label_ids.clone()));
    }
    let changes: Vec<Change> = fields
        .iter()
        .map(|field| Change {
            field: (*field).to_string(),
            old: if *field == "description" {
                Value::Null
            } else {
                shown(old, field)
            },
            new: if *field == "description" {
                Value::Null
            } else {
                shown(&new, field)
            },
            omitted: *field == "description",
        })
        .collect();
    let activity = activity(unit, &new, "updated", &changes, tag);
    let resource = task_event(unit, &new);
    let updated: Vec<Change> = changes
        .iter()
        .filter(|change| change.field != "assignee_user_ids")
        .cloned()
        .collect();
    if !updated.is_empty() {
        unit.event(
            TASK_UPDATED,
            resource.clone(),
            &wire_events::TaskUpdated {
                task_id: new.id.to_string(),
                project_id: new.project_id.to_string(),
                key: new.key.clone(),
                changed_fields: convert::event_changes(&updated),
            },
        );
    }
    if old.assignee_user_ids != new.assignee_user_ids {
        let ids = |users: &[UserId]| users.iter().map(ToString::to_string).collect::<Vec<_>>();
        let before: HashSet<_> = old.assignee_user_ids.iter().collect();
        let after: HashSet<_> = new.assignee_user_ids.iter().collect();
        if before != after {
            unit.event(
                TASK_ASSIGNED,
                resource,
                &wire_events::TaskAssigned {
                    task_id: new.id.to_string(),
                    project_id: new.project_id.to_string(),
                    key: new.key.clone(),
                    title: new.title.clone(),
                    previous_assignee_user_ids: ids(&old.assignee_user_ids),
                    assignee_user_ids: ids(&new.assignee_user_ids),
                    added_assignee_user_ids: new
                        .assignee_user_ids
                        .iter()
                        .filter(|user| !before.contains(user))
                        .map(ToString::to_string)
                        .collect(),
                    removed_assignee_user_ids: old
                        .assignee_user_ids
                        .iter()
                        .filter(|user| !after.contains(user))
                        .map(ToString::to_string)
                        .collect(),
                },
            );
        }
    }
    unit.feed(
        new.board_id,
        WatchEvent::TaskUpdated(convert::task(&new, false)),
    );
    Some(activity)
}

/// Removes or replaces assignees of `task` (a member leaving the project).
pub(super) fn reassign(unit: &mut Unit<'_>, task: &TaskRecord, assignees: Vec<UserId>) {
    let mut new = task.clone();
    new.assignee_user_ids = assignees;
    record_update(unit, task, new, None);
}

/// Writes an activity entry about `task`; `tag` marks an undo (`("undo", id)`) or a redo.
pub(super) fn activity(
    unit: &mut Unit<'_>,
    task: &TaskRecord,
    kind: &str,
    changes: &[Change],
    tag: Option<(&str, &str)>,
) -> String {
    let id = new_id();
    unit.op(Op::InsertActivity(ActivityRecord {
        id: id.clone(),
        organization_id: unit.caller.organization_id,
        project_id: task.project_id,
        task_id: task.id,
        task_key: task.key.clone(),
        actor_user_id: unit.caller.user_id,
        kind: kind.into(),
        field_changes: serde_json::to_string(changes).unwrap_or_else(|_| "[]".into()),
        comment_id: None,
        work_log_id: None,
        undo_of_activity_id: tag
            .filter(|(what, _)| *what == "undo")
            .map(|(_, id)| id.to_string()),
        redo_of_activity_id: tag
            .filter(|(what, _)| *what == "redo")
            .map(|(_, id)| id.to_string()),
        request_id: None,
        created_at: unit.now,
    }));
    id
}

/// The events of a task appearing (created, or restored when `restored`).
pub(super) fn appeared(unit: &mut Unit<'_>, task: &TaskRecord, restored: bool) {
    let resource = task_event(unit, task);
    unit.event(
        TASK_CREATED,
        resource.clone(),
        &wire_events::TaskCreated {
            task_id: task.id.to_string(),
            project_id: task.project_id.to_string(),
            key: task.key.clone(),
            title: task.title.clone(),
            column_id: task.column_id.to_string(),
            status_category: task.status_category.clone(),
            reporter_user_id: task.reporter_user_id.to_string(),
            priority: Priority::from_level(task.priority).as_str().into(),
            parent_task_id: task
                .parent_task_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            restored,
            assignee_user_ids: task
                .assignee_user_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
            due_time: task.due_at.map(timestamp),
        },
    );
    if !restored && task.status_category == StatusCategory::Done.as_str() {
        completed(unit, task);
    }
    unit.feed(
        task.board_id,
        WatchEvent::TaskCreated(convert::task(task, false)),
    );
}

/// TaskCompleted for a task that entered a done column.
pub(super) fn completed(unit: &mut Unit<'_>, task: &TaskRecord) {
    let resource = task_event(unit, task);
    unit.event(
        TASK_COMPLETED,
        resource,
        &wire_events::TaskCompleted {
            task_id: task.id.to_string(),
            project_id: task.project_id.to_string(),
            key: task.key.clone(),
            title: task.title.clone(),
            reporter_user_id: task.reporter_user_id.to_string(),
            assignee_user_ids: task
                .assignee_user_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
            column_id: task.column_id.to_string(),
            parent_task_id: task
                .parent_task_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
        },
    );
}

/// A task the caller can read (any project of theirs), with access to its project.
pub(super) async fn readable_task(
    api: &ProjectsApi,
    caller: &Caller,
    id: TaskId,
) -> Result<(TaskRecord, Access)> {
    let task = api
        .store
        .task(caller.organization_id, id, false)
        .await?
        .ok_or(ProjectsError::TaskNotFound)?;
    let access = api
        .access(caller, task.project_id)
        .await
        .map_err(|error| match error {
            ProjectsError::ProjectNotFound => ProjectsError::TaskNotFound,
            other => other,
        })?;
    Ok((task, access))
}

/// Validated editable input shared by create and update.
pub(super) struct Checked;

impl Checked {
    pub fn assignees(field: &'static str, ids: &[String]) -> Result<Vec<UserId>> {
        if ids.len() > MAX_ASSIGNEES {
            return Err(domain::invalid(field, "at most 10 assignees"));
        }
        let mut users = Vec::new();
        for id in ids {
            let user: UserId = parse_id(field, id)?;
            if users.contains(&user) {
                return Err(domain::invalid(field, "duplicate assignee"));
            }
            users.push(user);
        }
        Ok(users)
    }

    pub fn labels(field: &'static str, ids: &[String]) -> Result<Vec<String>> {
        if ids.len() > MAX_TASK_LABELS {
            return Err(domain::invalid(field, "at most 20 labels"));
        }
        let mut labels: Vec<String> = Vec::new();
        for id in ids {
            let id = uuid::Uuid::parse_str(id)
                .map_err(|_| domain::invalid(field, "must hold label ids"))?
                .hyphenated()
                .to_string();
            if labels.contains(&id) {
                return Err(domain::invalid(field, "duplicate label"));
            }
            labels.push(id);
        }
        Ok(labels)
    }

    pub fn estimate(duration: Option<&prost_types::Duration>) -> Result<Option<i64>> {
        let Some(duration) = duration else {
            return Ok(None);
        };
        let ms = duration.seconds.saturating_mul(1_000) + i64::from(duration.nanos) / 1_000_000;
        if ms <= 0 || ms > 10_000 * 3_600_000 {
            return Err(domain::invalid(
                "task.estimate",
                "must be positive and at most 10,000 hours",
            ));
        }
        Ok(Some(ms))
    }
}

/// Checks the references of a task's editable fields against its project: labels, parent
/// (same project, no cycle), assignees (only `added` ones: users who can see the project),
/// and start ≤ due.
pub(super) async fn check_references(
    api: &ProjectsApi,
    caller: &Caller,
    access: &Access,
    task: &TaskRecord,
    added_assignees: &[UserId],
    check_labels: bool,
) -> Result<()> {
    if let (Some(start), Some(due)) = (task.start_at, task.due_at)
        && due < start
    {
        return Err(domain::invalid(
            "task.due_time",
            "must not be before start_time",
        ));
    }
    if check_labels {
        for label in &task.label_ids {
            match api.store.label(caller.organization_id, label).await? {
                Some(found) if found.project_id == task.project_id => {}
                _ => return Err(ProjectsError::LabelNotInProject),
            }
        }
    }
    if let Some(parent) = task.parent_task_id {
        // Walk up from the new parent: meeting the task itself means a cycle.
        let mut cursor = Some(parent);
        let mut steps = 0;
        while let Some(current) = cursor {
            if current == task.id {
                return Err(ProjectsError::TaskParentCycle);
            }
            let found = api
                .store
                .task(caller.organization_id, current, false)
                .await?;
            match found {
                Some(found) if found.project_id == task.project_id => cursor = found.parent_task_id,
                _ if current == parent => return Err(ProjectsError::ParentTaskNotInProject),
                _ => cursor = None,
            }
            steps += 1;
            if steps > 1_000 {
                return Err(ProjectsError::TaskParentCycle);
            }
        }
    }
    for user in added_assignees {
        if !api.can_see(caller, &access.project, *user).await? {
            return Err(ProjectsError::AssigneeNotProjectMember(user.to_string()));
        }
    }
    Ok(())
}

/// The column a new task goes to: the named one (of the project), or the default board's
/// first TODO column, else its first column.
async fn target_column(
    api: &ProjectsApi,
    caller: &Caller,
    access: &Access,
    named: &str,
) -> Result<ColumnRecord> {
    if !named.is_empty() {
        let id: ColumnId = parse_id("task.column_id", named)?;
        return match api.store.column(caller.organization_id, id).await? {
            Some(column) if column.project_id == access.project.id => Ok(column),
            _ => Err(ProjectsError::ColumnNotInProject),
        };
    }
    let (_, columns) = api
        .store
        .board(caller.organization_id, access.project.default_board_id)
        .await?
        .ok_or(ProjectsError::BoardNotFound)?;
    columns
        .iter()
        .find(|column| column.status_category == StatusCategory::Todo.as_str())
        .or(columns.first())
        .cloned()
        .ok_or(ProjectsError::ColumnNotFound)
}

pub(super) async fn create(
    api: &ProjectsApi,
    request: Request<CreateTaskRequest>,
) -> Result<CreateTaskResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let input = message.task.clone().unwrap_or_default();
    let project_id: ProjectId = parse_id("task.project_id", &input.project_id)?;
    let access = api.access(&caller, project_id).await?;
    access.writer(&caller, ProjectRole::Member)?;
    let title = domain::title("task.title", &input.title)?;
    let description = domain::text("task.description", &input.description, MAX_TEXT_BYTES)?;
    let priority = convert::priority_from_wire(input.priority).unwrap_or(Priority::Medium);
    let assignees = Checked::assignees("task.assignee_user_ids", &input.assignee_user_ids)?;
    let labels = Checked::labels("task.label_ids", &input.label_ids)?;
    let parent = match input.parent_task_id.as_str() {
        "" => None,
        text => Some(parse_id::<TaskId>("task.parent_task_id", text)?),
    };
    let estimate = Checked::estimate(input.estimate.as_ref())?;
    let idempotency = domain::request_id(&message.request_id)?;
    let (organization, user) = (caller.organization_id, caller.user_id);
    let created = kit::create_once(
        idempotency.as_deref(),
        |key| {
            let store = api.store.clone();
            async move {
                store
                    .task_by_request(organization, project_id, user, &key)
                    .await
            }
        },
        || async {
            let column = target_column(api, &caller, &access, &input.column_id).await?;
            let task = TaskRecord {
                id: TaskId::new(),
                organization_id: organization,
                project_id,
                number: 0,
                key: String::new(),
                title: title.clone(),
                description: description.clone(),
                board_id: column.board_id,
                column_id: column.id,
                column_position: column.position,
                status_category: column.status_category.clone(),
                rank: String::new(),
                priority: priority.level(),
                reporter_user_id: user,
                parent_task_id: parent,
                start_at: input.start_time.as_ref().map(millis),
                due_at: input.due_time.as_ref().map(millis),
                estimate_ms: estimate,
                completed_at: None,
                create_request_id: idempotency.clone(),
                deleted_at: None,
                deleted_action_id: None,
                created_at: 0,
                updated_at: 0,
                version: 1,
                subtask_count: 0,
                comment_count: 0,
                time_spent_ms: 0,
                assignee_user_ids: assignees.clone(),
                label_ids: labels.clone(),
            };
            check_references(api, &caller, &access, &task, &assignees, true).await?;
            let _turn = api.numbering.turn(project_id).await;
            retry(false, || {
                let mut task = task.clone();
                let column = column.clone();
                let caller = &caller;
                async move {
                    let project = api
                        .store
                        .project(organization, project_id)
                        .await?
                        .ok_or(ProjectsError::ProjectNotFound)?;
                    let (last, _) = api
                        .store
                        .neighbour_ranks(organization, column.id, None, None)
                        .await?;
                    let mut unit = Unit::new(api, caller);
                    task.number = project.task_seq + 1;
                    task.key = format!("{}-{}", project.key, task.number);
                    task.rank = rank::between(last.as_deref(), None);
                    task.created_at = unit.now;
                    task.updated_at = unit.now;
                    if task.status_category == StatusCategory::Done.as_str() {
                        task.completed_at = Some(unit.now);
                    }
                    unit.op(Op::TakeTaskNumber(project_id, task.number));
                    unit.op(Op::InsertTask(task.clone()));
                    // A new task has no rows to replace: write only what there is.
                    if !task.assignee_user_ids.is_empty() {
                        unit.op(Op::SetAssignees(task.id, task.assignee_user_ids.clone()));
                    }
                    if !task.label_ids.is_empty() {
                        unit.op(Op::SetLabels(task.id, task.label_ids.clone()));
                    }
                    if column.wip_limit > 0 {
                        unit.op(Op::CheckWip(column.clone()));
                    }
                    let activity = activity(&mut unit, &task, "created", &[], None);
                    undo::push(&mut unit, api, &task, activity, UndoPayload::Create).await?;
                    appeared(&mut unit, &task, false);
                    unit.commit(api).await?;
                    Ok(task)
                }
            })
            .await
        },
    )
    .await?
    .into_inner();
    let task = api
        .store
        .task(organization, created.id, false)
        .await?
        .unwrap_or(created);
    Ok(CreateTaskResponse {
        task: Some(convert::task(&task, true)),
    })
}

pub(super) async fn get(
    api: &ProjectsApi,
    request: Request<GetTaskRequest>,
) -> Result<GetTaskResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let task = match &message.task_ref {
        Some(TaskRef::Id(id)) => readable_task(api, &caller, parse_id("id", id)?).await?.0,
        Some(TaskRef::Key(key)) => {
            let key = key.trim().to_ascii_uppercase();
            let (project_key, number) = key
                .rsplit_once('-')
                .and_then(|(project, number)| {
                    Some((project.to_string(), number.parse::<i64>().ok()?))
                })
                .ok_or_else(|| domain::invalid("key", "must be <PROJECT KEY>-<number>"))?;
            let project = api
                .store
                .project_by_key(caller.organization_id, &project_key)
                .await?
                .ok_or(ProjectsError::TaskNotFound)?;
            api.role_in(&caller, &project)
                .await
                .map_err(|_| ProjectsError::TaskNotFound)?;
            api.store
                .task_by_number(caller.organization_id, project.id, number)
                .await?
                .ok_or(ProjectsError::TaskNotFound)?
        }
        None => return Err(ProjectsError::FieldRequired("id")),
    };
    let full = message.view != TaskView::Basic as i32;
    Ok(GetTaskResponse {
        task: Some(convert::task(&task, full)),
    })
}

pub(super) async fn list(
    api: &ProjectsApi,
    request: Request<ListTasksRequest>,
) -> Result<ListTasksResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let scope = if message.project_id.is_empty() {
        let member = (!caller.is_organization_admin()).then_some(caller.user_id);
        TaskScope::Projects(
            api.store
                .readable_projects(caller.organization_id, member, false)
                .await?,
        )
    } else {
        let id: ProjectId = parse_id("project_id", &message.project_id)?;
        api.access(&caller, id).await?;
        TaskScope::Project(id)
    };
    let clauses = task_filter::parse_tasks(&message.filter, &caller.user_id.to_string())?;
    let (order, descending) = task_filter::task_order(&message.order_by)?;
    let full = message.view == TaskView::Full as i32;
    let page = page_request(
        message.page_size,
        &message.page_token,
        format!(
            "{}|{}|{}|{full}",
            message.project_id, message.filter, message.order_by
        ),
        task_keyset(order, descending, full),
    )?;
    let page = api
        .store
        .tasks(caller.organization_id, &scope, &clauses, &page)
        .await?;
    Ok(ListTasksResponse {
        tasks: page
            .items
            .iter()
            .map(|task| convert::task(task, full))
            .collect(),
        next_page_token: page.next_page_token,
    })
}

pub(super) async fn update(
    api: &ProjectsApi,
    request: Request<UpdateTaskRequest>,
) -> Result<UpdateTaskResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let input = message.task.clone().unwrap_or_default();
    let id: TaskId = parse_id("task.id", &input.id)?;
    let paths = update_paths(
        domain::DOMAIN,
        message.update_mask.as_ref(),
        &[
            Updatable::new("title", !input.title.is_empty()),
            Updatable::new("description", !input.description.is_empty()),
            Updatable::new("priority", input.priority != 0),
            Updatable::new("assignee_user_ids", !input.assignee_user_ids.is_empty()),
            Updatable::new("label_ids", !input.label_ids.is_empty()),
            Updatable::new("parent_task_id", !input.parent_task_id.is_empty()),
            Updatable::new("start_time", input.start_time.is_some()),
            Updatable::new("due_time", input.due_time.is_some()),
            Updatable::new("estimate", input.estimate.is_some()),
        ],
    )?;
    let etag = expected(&input.etag)?;
    let task = retry(etag.is_some(), || async {
        let (old, access) = readable_task(api, &caller, id).await?;
        access.writer(&caller, ProjectRole::Member)?;
        check_etag(etag, old.version)?;
        let mut new = old.clone();
        for path in &paths {
            match *path {
                "title" => new.title = domain::title("task.title", &input.title)?,
                "description" => {
                    new.description =
                        domain::text("task.description", &input.description, MAX_TEXT_BYTES)?
                }
                "priority" => {
                    new.priority = convert::priority_from_wire(input.priority)
                        .unwrap_or(Priority::None)
                        .level()
                }
                "assignee_user_ids" => {
                    new.assignee_user_ids =
                        Checked::assignees("task.assignee_user_ids", &input.assignee_user_ids)?
                }
                "label_ids" => new.label_ids = Checked::labels("task.label_ids", &input.label_ids)?,
                "parent_task_id" if input.parent_task_id.is_empty() => new.parent_task_id = None,
                "parent_task_id" => {
                    new.parent_task_id =
                        Some(parse_id("task.parent_task_id", &input.parent_task_id)?)
                }
                "start_time" => new.start_at = input.start_time.as_ref().map(millis),
                "due_time" => new.due_at = input.due_time.as_ref().map(millis),
                _ => new.estimate_ms = Checked::estimate(input.estimate.as_ref())?,
            }
        }
        let added: Vec<UserId> = new
            .assignee_user_ids
            .iter()
            .filter(|user| !old.assignee_user_ids.contains(user))
            .copied()
            .collect();
        let relinked = new.parent_task_id != old.parent_task_id;
        let relabelled = new.label_ids != old.label_ids;
        let mut check = new.clone();
        if !relinked {
            check.parent_task_id = None;
        }
        check_references(api, &caller, &access, &check, &added, relabelled).await?;
        let mut unit = Unit::new(api, &caller);
        let fields = changed_fields(&old, &new);
        let Some(activity) = record_update(&mut unit, &old, new.clone(), None) else {
            return Ok(old);
        };
        let payload = UndoPayload::Update {
            before: fields
                .iter()
                .map(|field| (field.to_string(), editable(&old, field)))
                .collect(),
            after: fields
                .iter()
                .map(|field| (field.to_string(), editable(&new, field)))
                .collect(),
        };
        undo::push(&mut unit, api, &new, activity, payload).await?;
        unit.commit(api).await?;
        Ok(new)
    })
    .await?;
    let task = api
        .store
        .task(caller.organization_id, task.id, false)
        .await?
        .unwrap_or(task);
    Ok(UpdateTaskResponse {
        task: Some(convert::task(&task, true)),
    })
}
