//! Undo and redo: each user's stacks of their own task actions per project (create, update,
//! move, delete, and adding, editing or deleting a comment), at most 50, for 24 hours. An
//! action is applied back only if the task (or comment) still is as the action left it (the
//! fields it set, its place, its existence); otherwise the action is dropped and the call
//! answers ABORTED `TASK_CHANGED_SINCE`. A refusal by the board's rules (WIP limit, workflow)
//! keeps the action on its stack.

use std::collections::BTreeMap;

use mesh::time::timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use taskmesh::projects::v1::*;
use tonic::Request;

use super::convert::{self, Unit};
use super::moves::{check_transition, place_of, record_delete, record_move};
use super::tasks::{activity, appeared, editable, record_update, set_editable};
use super::{Access, Caller, ProjectsApi, Result, parse_id};
use crate::domain::{ColumnId, ProjectId, ProjectRole, ProjectsError, UNDO_WINDOW_MILLIS};
use crate::store::*;

/// Where a task was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Place {
    pub board_id: String,
    pub column_id: String,
    pub rank: String,
}

/// What reverting (and re-applying) an action needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum UndoPayload {
    /// The task was created.
    Create,
    /// Fields changed from `before` to `after` (editable form).
    Update {
        before: BTreeMap<String, Value>,
        after: BTreeMap<String, Value>,
    },
    /// The task moved.
    Move { from: Place, to: Place },
    /// The subtree was tombstoned as deletion `action_id`.
    Delete { action_id: String },
    /// A comment was added.
    CommentCreate { comment_id: String },
    /// A comment's body changed from `before` to `after`.
    CommentUpdate {
        comment_id: String,
        before: String,
        after: String,
    },
    /// A comment was deleted (tombstoned).
    CommentDelete { comment_id: String },
}

impl UndoPayload {
    fn kind(&self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update { .. } => "update",
            Self::Move { .. } => "move",
            Self::Delete { .. } => "delete",
            Self::CommentCreate { .. } => "comment",
            Self::CommentUpdate { .. } => "comment edit",
            Self::CommentDelete { .. } => "comment deletion",
        }
    }
}

/// Pushes the caller's action (its activity entry `activity_id`) on their undo stack.
pub(super) async fn push(
    unit: &mut Unit<'_>,
    api: &ProjectsApi,
    task: &TaskRecord,
    activity_id: String,
    payload: UndoPayload,
) -> Result<()> {
    let height = api
        .store
        .undo_height(
            unit.caller.organization_id,
            task.project_id,
            unit.caller.user_id,
        )
        .await?;
    unit.op(Op::PushUndo(UndoRecord {
        activity_id,
        organization_id: unit.caller.organization_id,
        project_id: task.project_id,
        user_id: unit.caller.user_id,
        stack: UndoStack::Undo.as_str().into(),
        kind: payload.kind().into(),
        task_id: task.id,
        payload: serde_json::to_string(&payload).unwrap_or_default(),
        seq: height + 1,
        created_at: unit.now,
        expires_at: unit.now + UNDO_WINDOW_MILLIS,
    }));
    Ok(())
}

/// What applying an action from a stack would do.
struct Plan {
    summary: String,
    task_count: usize,
}

pub(super) fn quoted(task: &TaskRecord) -> String {
    format!("{} {:?}", task.key, task.title)
}

async fn column_name(api: &ProjectsApi, caller: &Caller, id: &str) -> String {
    match id.parse::<ColumnId>() {
        Ok(id) => api
            .store
            .column(caller.organization_id, id)
            .await
            .ok()
            .flatten()
            .map_or_else(|| "a deleted column".into(), |column| column.name),
        Err(_) => "a deleted column".into(),
    }
}

/// Plans `action` in `direction` into `unit` (nothing is written until the unit commits).
/// `TaskChangedSince` means the action no longer applies.
async fn plan(
    api: &ProjectsApi,
    caller: &Caller,
    access: &Access,
    unit: &mut Unit<'_>,
    action: &UndoRecord,
    direction: UndoStack,
) -> Result<Plan> {
    let org = caller.organization_id;
    let payload: UndoPayload =
        serde_json::from_str(&action.payload).map_err(|_| ProjectsError::TaskChangedSince)?;
    let tag = match direction {
        UndoStack::Undo => ("undo", action.activity_id.as_str()),
        UndoStack::Redo => ("redo", action.activity_id.as_str()),
    };
    let live = api.store.task(org, action.task_id, false).await?;
    // Reverting a create deletes; redoing a delete deletes again.
    let deleting = matches!(
        (&payload, direction),
        (UndoPayload::Create, UndoStack::Undo) | (UndoPayload::Delete { .. }, UndoStack::Redo)
    );
    if deleting {
        let task = live.ok_or(ProjectsError::TaskChangedSince)?;
        let mut subtree = vec![task.clone()];
        subtree.extend(api.store.descendants(org, task.id).await?);
        let action_id = match &payload {
            UndoPayload::Delete { action_id } => action_id.clone(),
            _ => action.activity_id.clone(),
        };
        let (count, _) = record_delete(unit, &subtree, &action_id, Some(tag));
        return Ok(Plan {
            summary: format!("Delete {}", quoted(&task)),
            task_count: count,
        });
    }
    match payload {
        UndoPayload::CommentCreate { .. }
        | UndoPayload::CommentUpdate { .. }
        | UndoPayload::CommentDelete { .. } => {
            let task = live.ok_or(ProjectsError::TaskChangedSince)?;
            let undoing = direction == UndoStack::Undo;
            let summary = super::comments::plan_undo(
                api, caller, access, unit, &task, &payload, undoing, tag,
            )
            .await?;
            Ok(Plan {
                summary,
                task_count: 1,
            })
        }
        UndoPayload::Create | UndoPayload::Delete { .. } => {
            // Restore the tombstoned subtree.
            let action_id = match &payload {
                UndoPayload::Delete { action_id } => action_id.clone(),
                _ => action.activity_id.clone(),
            };
            let tasks = api.store.deleted_by(org, &action_id).await?;
            if tasks.is_empty() || tasks.iter().any(|task| task.deleted_at.is_none()) {
                return Err(ProjectsError::TaskChangedSince);
            }
            let mut arrivals: BTreeMap<ColumnId, usize> = BTreeMap::new();
            for (index, task) in tasks.iter().enumerate() {
                let column = api
                    .store
                    .column(org, task.column_id)
                    .await?
                    .ok_or(ProjectsError::TaskChangedSince)?;
                let arriving = arrivals.entry(column.id).or_default();
                *arriving += 1;
                if column.wip_limit > 0 && column.task_count + *arriving as i64 > column.wip_limit {
                    return Err(ProjectsError::WipLimitExceeded {
                        column_id: column.id.to_string(),
                        name: column.name.clone(),
                        wip_limit: column.wip_limit,
                    });
                }
                let mut restored = task.clone();
                restored.deleted_at = None;
                restored.deleted_action_id = None;
                restored.column_position = column.position;
                restored.status_category = column.status_category.clone();
                restored.updated_at = unit.now;
                restored.version = task.version + 1;
                unit.op(Op::UpdateTask(restored.clone(), task.version));
                if column.wip_limit > 0 {
                    unit.op(Op::CheckWip(column));
                }
                activity(
                    unit,
                    &restored,
                    "restored",
                    &[],
                    (index == 0).then_some(tag),
                );
                appeared(unit, &restored, true);
            }
            let top = &tasks[0];
            let summary = match tasks.len() {
                1 => format!("Restore {}", quoted(top)),
                n => format!("Restore {} and {} subtasks", quoted(top), n - 1),
            };
            Ok(Plan {
                summary,
                task_count: tasks.len(),
            })
        }
        UndoPayload::Update { before, after } => {
            let task = live.ok_or(ProjectsError::TaskChangedSince)?;
            let (expected, target) = match direction {
                UndoStack::Undo => (&after, &before),
                UndoStack::Redo => (&before, &after),
            };
            if expected
                .iter()
                .any(|(field, value)| editable(&task, field) != *value)
            {
                return Err(ProjectsError::TaskChangedSince);
            }
            let mut new = task.clone();
            for (field, value) in target {
                set_editable(&mut new, field, value);
            }
            record_update(unit, &task, new, Some(tag));
            let fields: Vec<&str> = target.keys().map(String::as_str).collect();
            Ok(Plan {
                summary: format!(
                    "{} {} of {}",
                    if direction == UndoStack::Undo {
                        "Revert"
                    } else {
                        "Reapply"
                    },
                    fields.join(", "),
                    quoted(&task)
                ),
                task_count: 1,
            })
        }
        UndoPayload::Move { from, to } => {
            let task = live.ok_or(ProjectsError::TaskChangedSince)?;
            let (expected, target) = match direction {
                UndoStack::Undo => (to, from),
                UndoStack::Redo => (from, to),
            };
            if place_of(&task) != expected {
                return Err(ProjectsError::TaskChangedSince);
            }
            let column_id: ColumnId = target
                .column_id
                .parse()
                .map_err(|_| ProjectsError::TaskChangedSince)?;
            let column = api
                .store
                .column(org, column_id)
                .await?
                .ok_or(ProjectsError::TaskChangedSince)?;
            check_transition(api, caller, &task, &column, access.role).await?;
            if column.id != task.column_id
                && column.wip_limit > 0
                && column.task_count >= column.wip_limit
            {
                return Err(ProjectsError::WipLimitExceeded {
                    column_id: column.id.to_string(),
                    name: column.name.clone(),
                    wip_limit: column.wip_limit,
                });
            }
            let summary = format!(
                "Move {} {}from {} to {}",
                quoted(&task),
                if direction == UndoStack::Undo {
                    "back "
                } else {
                    "again "
                },
                column_name(api, caller, &expected.column_id).await,
                column.name
            );
            record_move(unit, &task, &column, target.rank.clone(), Some(tag));
            Ok(Plan {
                summary,
                task_count: 1,
            })
        }
    }
}

/// The caller's access to a project for undo and redo.
async fn member_access(api: &ProjectsApi, caller: &Caller, project: &str) -> Result<Access> {
    let id: ProjectId = parse_id("project_id", project)?;
    let access = api.access(caller, id).await?;
    crate::domain::require(access.role, ProjectRole::Member)?;
    Ok(access)
}

fn refusal(error: &ProjectsError) -> Option<UndoRefusal> {
    let reason = match error {
        ProjectsError::WipLimitExceeded { .. } => "WIP_LIMIT_EXCEEDED",
        ProjectsError::TransitionNotAllowed { .. } => "TRANSITION_NOT_ALLOWED",
        ProjectsError::ProjectArchived => "PROJECT_ARCHIVED",
        ProjectsError::TaskChangedSince => "TASK_CHANGED_SINCE",
        ProjectsError::MentionedUserCannotSeeProject(_) => "MENTIONED_USER_CANNOT_SEE_PROJECT",
        ProjectsError::NotCommentAuthor => "NOT_COMMENT_AUTHOR",
        _ => return None,
    };
    Some(UndoRefusal {
        reason: reason.into(),
        message: error.to_string(),
    })
}

async fn preview(
    api: &ProjectsApi,
    caller: &Caller,
    access: &Access,
    top: Option<UndoRecord>,
    direction: UndoStack,
) -> Result<Option<UndoableAction>> {
    let Some(top) = top else {
        return Ok(None);
    };
    let entry = api
        .store
        .activity_entry(caller.organization_id, &top.activity_id)
        .await?;
    let mut unit = Unit::new(api, caller);
    let planned = if access.project.is_archived() {
        Err(ProjectsError::ProjectArchived)
    } else {
        plan(api, caller, access, &mut unit, &top, direction).await
    };
    let (summary, task_count, refused) = match planned {
        Ok(plan) => (plan.summary, plan.task_count, None),
        Err(error) => match refusal(&error) {
            Some(refused) => (
                format!(
                    "{} {}",
                    if direction == UndoStack::Undo {
                        "Undo"
                    } else {
                        "Redo"
                    },
                    top.kind
                ),
                1,
                Some(refused),
            ),
            None => return Err(error),
        },
    };
    Ok(Some(UndoableAction {
        activity: entry.as_ref().map(convert::activity),
        summary,
        task_count: task_count as i32,
        expire_time: Some(timestamp(top.expires_at)),
        refusal: refused,
    }))
}

pub(super) async fn state(
    api: &ProjectsApi,
    request: Request<GetUndoStateRequest>,
) -> Result<GetUndoStateResponse> {
    let caller = Caller::of(&request)?;
    let access = member_access(api, &caller, &request.get_ref().project_id).await?;
    let now = super::now();
    let org = caller.organization_id;
    let (undo_top, undo_depth) = api
        .store
        .undo_top(org, access.project.id, caller.user_id, UndoStack::Undo, now)
        .await?;
    let (redo_top, redo_depth) = api
        .store
        .undo_top(org, access.project.id, caller.user_id, UndoStack::Redo, now)
        .await?;
    Ok(GetUndoStateResponse {
        next_undo: preview(api, &caller, &access, undo_top, UndoStack::Undo).await?,
        next_redo: preview(api, &caller, &access, redo_top, UndoStack::Redo).await?,
        undo_depth: undo_depth as i32,
        redo_depth: redo_depth as i32,
    })
}

/// The outcome of an undo or redo, in the shape both responses share.
struct Applied {
    original: Option<TaskActivity>,
    activity: Option<TaskActivity>,
    task: Option<Task>,
    can_undo: bool,
    can_redo: bool,
}

async fn apply(
    api: &ProjectsApi,
    caller: &Caller,
    project: &str,
    request_id: &str,
    expected_activity: &str,
    direction: UndoStack,
) -> Result<Applied> {
    let access = member_access(api, caller, project).await?;
    access.writer(caller, ProjectRole::Member)?;
    let org = caller.organization_id;
    let project_id = access.project.id;
    let idempotency = crate::domain::request_id(request_id)?;
    let (top, record) = if let Some(key) = &idempotency
        && let Some(done) = api
            .store
            .activity_by_request(org, project_id, caller.user_id, key)
            .await?
    {
        // A retry: answer what the first call did.
        let original = done
            .undo_of_activity_id
            .clone()
            .or(done.redo_of_activity_id.clone())
            .unwrap_or_default();
        (original, done)
    } else {
        let now = super::now();
        let (top, _) = api
            .store
            .undo_top(org, project_id, caller.user_id, direction, now)
            .await?;
        let top = top.ok_or(match direction {
            UndoStack::Undo => ProjectsError::NothingToUndo,
            UndoStack::Redo => ProjectsError::NothingToRedo,
        })?;
        if !expected_activity.is_empty() && expected_activity != top.activity_id {
            return Err(ProjectsError::UndoStackChanged);
        }
        let mut unit = Unit::new(api, caller);
        match plan(api, caller, &access, &mut unit, &top, direction).await {
            Err(ProjectsError::TaskChangedSince) => {
                let mut drop = Unit::new(api, caller);
                drop.op(Op::DropUndo(top.activity_id.clone()));
                drop.commit(api).await?;
                return Err(ProjectsError::TaskChangedSince);
            }
            Err(error) => return Err(error),
            Ok(_) => {}
        }
        // The entry recording this undo carries the idempotency key.
        let tagged = unit.ops.iter_mut().find_map(|op| match op {
            Op::InsertActivity(entry)
                if entry.undo_of_activity_id.as_deref() == Some(&top.activity_id)
                    || entry.redo_of_activity_id.as_deref() == Some(&top.activity_id) =>
            {
                entry.request_id = idempotency.clone();
                Some(entry.id.clone())
            }
            _ => None,
        });
        let height = api
            .store
            .undo_height(org, project_id, caller.user_id)
            .await?;
        let other = match direction {
            UndoStack::Undo => UndoStack::Redo,
            UndoStack::Redo => UndoStack::Undo,
        };
        unit.op(Op::MoveUndo(top.activity_id.clone(), other, height + 1));
        unit.commit(api).await?;
        let record = match tagged {
            Some(id) => api.store.activity_entry(org, &id).await?,
            None => None,
        }
        .ok_or(ProjectsError::TaskChangedSince)?;
        (top.activity_id, record)
    };
    let original = api.store.activity_entry(org, &top).await?;
    let task = api.store.task(org, record.task_id, false).await?;
    let now = super::now();
    let (undo_top, _) = api
        .store
        .undo_top(org, project_id, caller.user_id, UndoStack::Undo, now)
        .await?;
    let (redo_top, _) = api
        .store
        .undo_top(org, project_id, caller.user_id, UndoStack::Redo, now)
        .await?;
    Ok(Applied {
        original: original.as_ref().map(convert::activity),
        activity: Some(convert::activity(&record)),
        task: task.as_ref().map(|task| convert::task(task, true)),
        can_undo: undo_top.is_some(),
        can_redo: redo_top.is_some(),
    })
}

pub(super) async fn undo(
    api: &ProjectsApi,
    request: Request<UndoLastActionRequest>,
) -> Result<UndoLastActionResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let applied = apply(
        api,
        &caller,
        &message.project_id,
        &message.request_id,
        &message.expected_activity_id,
        UndoStack::Undo,
    )
    .await?;
    Ok(UndoLastActionResponse {
        undone_activity: applied.original,
        activity: applied.activity,
        task: applied.task,
        can_undo: applied.can_undo,
        can_redo: applied.can_redo,
    })
}

pub(super) async fn redo(
    api: &ProjectsApi,
    request: Request<RedoLastActionRequest>,
) -> Result<RedoLastActionResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let applied = apply(
        api,
        &caller,
        &message.project_id,
        &message.request_id,
        &message.expected_activity_id,
        UndoStack::Redo,
    )
    .await?;
    Ok(RedoLastActionResponse {
        redone_activity: applied.original,
        activity: applied.activity,
        task: applied.task,
        can_undo: applied.can_undo,
        can_redo: applied.can_redo,
    })
}
