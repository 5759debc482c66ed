//! Moving and deleting tasks, and the placements undo and redo reuse: a move writes one task
//! row (a rank between its new neighbours); a delete tombstones a subtree so undo can bring
//! it back whole.

use mesh::time::timestamp;
use serde_json::json;
use taskmesh::events::v1 as wire_events;
use taskmesh::projects::v1::move_task_request::Position;
use taskmesh::projects::v1::watch_board_response::Event as WatchEvent;
use taskmesh::projects::v1::*;
use tonic::Request;

use super::convert::{self, Change, Unit};
use super::tasks::{activity, completed, readable_task};
use super::undo::{self, Place, UndoPayload};
use super::{Caller, ProjectsApi, Result, check_etag, expected, parse_id, retry};
use crate::domain::{
    ColumnId, ProjectRole, ProjectsError, StatusCategory, TaskId, UNDO_WINDOW_MILLIS, rank,
};
use crate::events::*;
use crate::store::*;

/// Where a task is.
pub(super) fn place_of(task: &TaskRecord) -> Place {
    Place {
        board_id: task.board_id.to_string(),
        column_id: task.column_id.to_string(),
        rank: task.rank.clone(),
    }
}

/// Checks the target board's workflow allows `role` to move `task` into `column`.
pub(super) async fn check_transition(
    api: &ProjectsApi,
    caller: &Caller,
    task: &TaskRecord,
    column: &ColumnRecord,
    role: ProjectRole,
) -> Result<()> {
    if task.column_id == column.id {
        return Ok(());
    }
    let (board, _) = api
        .store
        .board(caller.organization_id, column.board_id)
        .await?
        .ok_or(ProjectsError::BoardNotFound)?;
    let workflow = convert::workflow_of(&board);
    let from = (task.board_id == column.board_id).then(|| task.column_id.to_string());
    if workflow.allows(from.as_deref(), &column.id.to_string(), role) {
        Ok(())
    } else {
        Err(ProjectsError::TransitionNotAllowed {
            from_column_id: task.column_id.to_string(),
            to_column_id: column.id.to_string(),
        })
    }
}

/// Records a move of `old` to `column` at `new_rank`: the row, a MOVED activity entry,
/// TaskMoved / TaskCompleted events and the feed of both boards. Returns the task after the
/// move and the activity id.
pub(super) fn record_move(
    unit: &mut Unit<'_>,
    old: &TaskRecord,
    column: &ColumnRecord,
    new_rank: String,
    tag: Option<(&str, &str)>,
) -> (TaskRecord, String) {
    let entering = column.id != old.column_id;
    let done = StatusCategory::Done.as_str();
    let mut new = old.clone();
    new.board_id = column.board_id;
    new.column_id = column.id;
    new.column_position = column.position;
    new.status_category = column.status_category.clone();
    new.rank = new_rank;
    new.completed_at = match (old.status_category == done, new.status_category == done) {
        (false, true) => Some(unit.now),
        (_, false) => None,
        (true, true) => old.completed_at,
    };
    new.updated_at = unit.now;
    new.version = old.version + 1;
    unit.op(Op::UpdateTask(new.clone(), old.version));
    if entering && column.wip_limit > 0 {
        unit.op(Op::CheckWip(column.clone()));
    }
    let mut changes = Vec::new();
    for (field, before, after) in [
        (
            "board_id",
            old.board_id.to_string(),
            new.board_id.to_string(),
        ),
        (
            "column_id",
            old.column_id.to_string(),
            new.column_id.to_string(),
        ),
        ("rank", old.rank.clone(), new.rank.clone()),
    ] {
        if before != after {
            changes.push(Change {
                field: field.into(),
                old: json!(before),
                new: json!(after),
                omitted: false,
            });
        }
    }
    if old.status_category != new.status_category {
        let name = |category: &str| {
            StatusCategory::parse(category)
                .map(|category| format!("STATUS_CATEGORY_{}", category.as_str().to_uppercase()))
                .unwrap_or_default()
        };
        changes.push(Change {
            field: "status_category".into(),
            old: json!(name(&old.status_category)),
            new: json!(name(&new.status_category)),
            omitted: false,
        });
    }
    let activity_id = activity(unit, &new, "moved", &changes, tag);
    if entering {
        let resource = convert::task_resource(unit.caller.organization_id, new.id);
        unit.event(
            TASK_MOVED,
            resource,
            &wire_events::TaskMoved {
                task_id: new.id.to_string(),
                project_id: new.project_id.to_string(),
                key: new.key.clone(),
                from_column_id: old.column_id.to_string(),
                to_column_id: new.column_id.to_string(),
                from_status_category: old.status_category.clone(),
                to_status_category: new.status_category.clone(),
            },
        );
        if old.status_category != done && new.status_category == done {
            completed(unit, &new);
        }
    }
    let moved = TaskMoved {
        task: Some(convert::task(&new, false)),
        from_board_id: old.board_id.to_string(),
        from_column_id: old.column_id.to_string(),
    };
    unit.feed(new.board_id, WatchEvent::TaskMoved(moved.clone()));
    if old.board_id != new.board_id {
        unit.feed(old.board_id, WatchEvent::TaskMoved(moved));
    }
    (new, activity_id)
}

pub(super) async fn move_task(
    api: &ProjectsApi,
    request: Request<MoveTaskRequest>,
) -> Result<MoveTaskResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let id: TaskId = parse_id("id", &message.id)?;
    let column_id: ColumnId = parse_id("column_id", &message.column_id)?;
    let anchor = match &message.position {
        Some(Position::BeforeTaskId(anchor)) => {
            Some((parse_id::<TaskId>("before_task_id", anchor)?, true))
        }
        Some(Position::AfterTaskId(anchor)) => {
            Some((parse_id::<TaskId>("after_task_id", anchor)?, false))
        }
        None => None,
    };
    let etag = expected(&message.etag)?;
    let task = retry(etag.is_some(), || async {
        let (old, access) = readable_task(api, &caller, id).await?;
        access.writer(&caller, ProjectRole::Member)?;
        check_etag(etag, old.version)?;
        let column = match api.store.column(caller.organization_id, column_id).await? {
            Some(column) if column.project_id == old.project_id => column,
            _ => return Err(ProjectsError::ColumnNotInProject),
        };
        if anchor.is_some_and(|(anchor, _)| anchor == id) {
            return Ok(old);
        }
        let anchor_text = anchor.map(|(anchor, before)| (anchor.to_string(), before));
        let (lower, upper) = api
            .store
            .neighbour_ranks(
                caller.organization_id,
                column.id,
                anchor_text
                    .as_ref()
                    .map(|(anchor, before)| (anchor.as_str(), *before)),
                Some(id),
            )
            .await?;
        // Already there: the same column, between the same neighbours.
        if column.id == old.column_id
            && lower
                .as_deref()
                .is_none_or(|lower| lower < old.rank.as_str())
            && upper
                .as_deref()
                .is_none_or(|upper| old.rank.as_str() < upper)
        {
            return Ok(old);
        }
        check_transition(api, &caller, &old, &column, access.role).await?;
        let mut unit = Unit::new(api, &caller);
        let new_rank = rank::between(lower.as_deref(), upper.as_deref());
        let from = place_of(&old);
        let (new, activity_id) = record_move(&mut unit, &old, &column, new_rank, None);
        let payload = UndoPayload::Move {
            from,
            to: place_of(&new),
        };
        undo::push(&mut unit, api, &new, activity_id, payload).await?;
        unit.commit(api).await?;
        Ok(new)
    })
    .await?;
    let task = api
        .store
        .task(caller.organization_id, task.id, false)
        .await?
        .unwrap_or(task);
    Ok(MoveTaskResponse {
        task: Some(convert::task(&task, true)),
    })
}

/// Tombstones `task` and its live descendants as deletion `action_id`: rows, a DELETED
/// activity entry each (the top one's id is `top_activity`), TaskDeleted events and the
/// feed. Returns the number of tasks deleted.
pub(super) fn record_delete(
    unit: &mut Unit<'_>,
    subtree: &[TaskRecord],
    action_id: &str,
    tag: Option<(&str, &str)>,
) -> (usize, String) {
    let restore_until = unit.now + UNDO_WINDOW_MILLIS;
    let mut top_activity = String::new();
    for (index, task) in subtree.iter().enumerate() {
        let mut gone = task.clone();
        gone.deleted_at = Some(unit.now);
        gone.deleted_action_id = Some(action_id.to_string());
        gone.updated_at = unit.now;
        gone.version = task.version + 1;
        unit.op(Op::UpdateTask(gone, task.version));
        let entry = activity(
            unit,
            task,
            "deleted",
            &[],
            if index == 0 { tag } else { None },
        );
        if index == 0 {
            top_activity = entry;
        }
        let resource = convert::task_resource(unit.caller.organization_id, task.id);
        unit.event(
            TASK_DELETED,
            resource,
            &wire_events::TaskDeleted {
                task_id: task.id.to_string(),
                project_id: task.project_id.to_string(),
                key: task.key.clone(),
                project_deleted: false,
                status_category: task.status_category.clone(),
                restore_expire_time: Some(timestamp(restore_until)),
            },
        );
        unit.feed(
            task.board_id,
            WatchEvent::TaskDeleted(TaskDeleted {
                task_id: task.id.to_string(),
                task_key: task.key.clone(),
                column_id: task.column_id.to_string(),
            }),
        );
    }
    if let Some(task) = subtree.first() {
        unit.op(Op::PurgeTasks(
            task.project_id,
            unit.now - UNDO_WINDOW_MILLIS,
        ));
    }
    (subtree.len(), top_activity)
}

pub(super) async fn delete_task(
    api: &ProjectsApi,
    request: Request<DeleteTaskRequest>,
) -> Result<DeleteTaskResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let id: TaskId = parse_id("id", &message.id)?;
    let etag = expected(&message.etag)?;
    let (count, now) = retry(etag.is_some(), || async {
        let (task, access) = readable_task(api, &caller, id).await?;
        access.writer(&caller, ProjectRole::Member)?;
        check_etag(etag, task.version)?;
        let mut subtree = vec![task.clone()];
        subtree.extend(api.store.descendants(caller.organization_id, id).await?);
        let mut unit = Unit::new(api, &caller);
        let action_id = super::new_id();
        let (count, top) = record_delete(&mut unit, &subtree, &action_id, None);
        undo::push(
            &mut unit,
            api,
            &task,
            top,
            UndoPayload::Delete { action_id },
        )
        .await?;
        let now = unit.now;
        unit.commit(api).await?;
        Ok((count, now))
    })
    .await?;
    Ok(DeleteTaskResponse {
        deleted_task_count: count as i64,
        restore_expire_time: Some(timestamp(now + UNDO_WINDOW_MILLIS)),
    })
}
