//! Comments with mentions: add, list, edit (author), delete (author, or project owner), and
//! undo/redo of all three. A deleted comment stays as a tombstone for the undo window, hidden
//! from reads, lists and counts, so undoing the delete brings back the same comment.

use mesh::ids::UserId;
use mesh::request::{Updatable, update_paths};
use mesh::time::timestamp;
use taskmesh::events::v1 as wire_events;
use taskmesh::projects::v1::watch_board_response::Event as WatchEvent;
use taskmesh::projects::v1::*;
use tonic::Request;

use super::convert::{self, Unit};
use super::history::entry;
use super::tasks::readable_task;
use super::undo::{self, UndoPayload, quoted};
use super::{
    Access, Caller, ProjectsApi, Result, check_etag, expected, new_id, page_request, parse_id,
    retry,
};
use crate::domain::filter as filters;
use crate::domain::{
    self, MAX_MENTIONS, MAX_TEXT_BYTES, ProjectRole, ProjectsError, TaskId, UNDO_WINDOW_MILLIS,
};
use crate::events::*;
use crate::store::*;

/// Checks the users a body newly mentions can see the project.
async fn check_mentions(
    api: &ProjectsApi,
    caller: &Caller,
    project: &ProjectRecord,
    mentioned: &[String],
    already: &[String],
) -> Result<()> {
    if mentioned.len() > MAX_MENTIONS {
        return Err(domain::invalid(
            "comment.body",
            "at most 50 mentioned users",
        ));
    }
    for user in mentioned.iter().filter(|user| !already.contains(user)) {
        let id: UserId = user
            .parse()
            .map_err(|_| domain::invalid("comment.body", "bad mention"))?;
        if !api.can_see(caller, project, id).await? {
            return Err(ProjectsError::MentionedUserCannotSeeProject(user.clone()));
        }
    }
    Ok(())
}

fn body(text: &str) -> Result<String> {
    if text.trim().is_empty() {
        return Err(ProjectsError::FieldRequired("comment.body"));
    }
    domain::text("comment.body", text, MAX_TEXT_BYTES)
}

/// The task's comment count changed: watchers see the task again.
fn touch(unit: &mut Unit<'_>, task: &TaskRecord, comments: i64) {
    let mut shown = task.clone();
    shown.comment_count = comments;
    unit.feed(
        task.board_id,
        WatchEvent::TaskUpdated(convert::task(&shown, false)),
    );
}

fn mentions_of(comment: &CommentRecord) -> Vec<String> {
    serde_json::from_str(&comment.mentioned_user_ids).unwrap_or_default()
}

fn comment_resource(unit: &Unit<'_>, comment: &CommentRecord) -> String {
    format!(
        "{}/comments/{}",
        convert::task_resource(unit.caller.organization_id, comment.task_id),
        comment.id
    )
}

/// Publishes CommentCreated for a new comment, or for one a restore brings back.
fn announce_created(
    unit: &mut Unit<'_>,
    task: &TaskRecord,
    comment: &CommentRecord,
    restored: bool,
) {
    let mut watchers: Vec<String> = vec![task.reporter_user_id.to_string()];
    for assignee in &task.assignee_user_ids {
        let assignee = assignee.to_string();
        if !watchers.contains(&assignee) {
            watchers.push(assignee);
        }
    }
    let resource = comment_resource(unit, comment);
    unit.event(
        COMMENT_CREATED,
        resource,
        &wire_events::CommentCreated {
            comment_id: comment.id.clone(),
            task_id: task.id.to_string(),
            author_user_id: comment.author_user_id.to_string(),
            mentioned_user_ids: mentions_of(comment),
            project_id: task.project_id.to_string(),
            parent_comment_id: String::new(),
            body_excerpt: comment.body.chars().take(280).collect(),
            task_key: task.key.clone(),
            task_title: task.title.clone(),
            watcher_user_ids: watchers,
            restored,
        },
    );
}

/// Publishes CommentUpdated for an edit from `before` to `after`.
fn announce_updated(
    unit: &mut Unit<'_>,
    task: &TaskRecord,
    before: &CommentRecord,
    after: &CommentRecord,
) {
    let already = mentions_of(before);
    let mentioned = mentions_of(after);
    let resource = comment_resource(unit, after);
    unit.event(
        COMMENT_UPDATED,
        resource,
        &wire_events::CommentUpdated {
            comment_id: after.id.clone(),
            task_id: task.id.to_string(),
            project_id: task.project_id.to_string(),
            author_user_id: after.author_user_id.to_string(),
            newly_mentioned_user_ids: mentioned
                .iter()
                .filter(|user| !already.contains(user))
                .cloned()
                .collect(),
            mentioned_user_ids: mentioned,
            body_excerpt: after.body.chars().take(280).collect(),
            task_key: task.key.clone(),
            task_title: task.title.clone(),
        },
    );
}

pub(super) async fn create_comment(
    api: &ProjectsApi,
    request: Request<CreateCommentRequest>,
) -> Result<CreateCommentResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let input = message.comment.clone().unwrap_or_default();
    let task_id: TaskId = parse_id("comment.task_id", &input.task_id)?;
    let (task, access) = readable_task(api, &caller, task_id).await?;
    access.writer(&caller, ProjectRole::Member)?;
    let text = body(&input.body)?;
    let mentioned = domain::mentions(&text);
    check_mentions(api, &caller, &access.project, &mentioned, &[]).await?;
    let idempotency = domain::request_id(&message.request_id)?;
    let (org, user) = (caller.organization_id, caller.user_id);
    let comment = kit::create_once(
        idempotency.as_deref(),
        |key| {
            let store = api.store.clone();
            async move { store.comment_by_request(org, task_id, user, &key).await }
        },
        || async {
            let mut unit = Unit::new(api, &caller);
            let comment = CommentRecord {
                id: new_id(),
                organization_id: org,
                project_id: task.project_id,
                task_id,
                author_user_id: user,
                body: text.clone(),
                mentioned_user_ids: serde_json::to_string(&mentioned)
                    .unwrap_or_else(|_| "[]".into()),
                request_id: idempotency.clone(),
                created_at: unit.now,
                updated_at: unit.now,
                version: 1,
                deleted_at: None,
            };
            unit.op(Op::InsertComment(comment.clone()));
            let activity_id = comment_activity(&mut unit, &task, "commented", &comment.id, None);
            undo::push(
                &mut unit,
                api,
                &task,
                activity_id,
                UndoPayload::CommentCreate {
                    comment_id: comment.id.clone(),
                },
            )
            .await?;
            announce_created(&mut unit, &task, &comment, false);
            touch(&mut unit, &task, task.comment_count + 1);
            unit.commit(api).await?;
            Ok(comment)
        },
    )
    .await?
    .into_inner();
    Ok(CreateCommentResponse {
        comment: Some(convert::comment(&comment)),
    })
}

pub(super) async fn list_comments(
    api: &ProjectsApi,
    request: Request<ListCommentsRequest>,
) -> Result<ListCommentsResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let task_id: TaskId = parse_id("task_id", &message.task_id)?;
    readable_task(api, &caller, task_id).await?;
    let descending = filters::time_order(&message.order_by, "create_time", false)?;
    let page = page_request(
        message.page_size,
        &message.page_token,
        task_id.to_string(),
        comments_keyset(descending),
    )?;
    let page = api
        .store
        .comments(caller.organization_id, task_id, &page)
        .await?;
    Ok(ListCommentsResponse {
        comments: page.items.iter().map(convert::comment).collect(),
        next_page_token: page.next_page_token,
    })
}

/// A comment the caller can read, with its task and access.
async fn readable_comment(
    api: &ProjectsApi,
    caller: &Caller,
    id: &str,
) -> Result<(CommentRecord, TaskRecord, super::Access)> {
    let comment = api
        .store
        .comment(caller.organization_id, id, false)
        .await?
        .ok_or(ProjectsError::CommentNotFound)?;
    let (task, access) = readable_task(api, caller, comment.task_id)
        .await
        .map_err(|error| match error {
            ProjectsError::TaskNotFound => ProjectsError::CommentNotFound,
            other => other,
        })?;
    Ok((comment, task, access))
}

pub(super) async fn update_comment(
    api: &ProjectsApi,
    request: Request<UpdateCommentRequest>,
) -> Result<UpdateCommentResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let input = message.comment.clone().unwrap_or_default();
    let paths = update_paths(
        domain::DOMAIN,
        message.update_mask.as_ref(),
        &[Updatable::new("body", !input.body.is_empty())],
    )?;
    let etag = expected(&input.etag)?;
    let comment = retry(etag.is_some(), || async {
        let (old, task, access) = readable_comment(api, &caller, &input.id).await?;
        access.writer(&caller, ProjectRole::Member)?;
        if old.author_user_id != caller.user_id {
            return Err(ProjectsError::NotCommentAuthor);
        }
        check_etag(etag, old.version)?;
        if paths.is_empty() {
            return Ok(old);
        }
        let text = body(&input.body)?;
        if text == old.body {
            return Ok(old);
        }
        let mentioned = domain::mentions(&text);
        let before: Vec<String> = serde_json::from_str(&old.mentioned_user_ids).unwrap_or_default();
        check_mentions(api, &caller, &access.project, &mentioned, &before).await?;
        let mut unit = Unit::new(api, &caller);
        let new = CommentRecord {
            body: text,
            mentioned_user_ids: serde_json::to_string(&mentioned).unwrap_or_else(|_| "[]".into()),
            updated_at: unit.now,
            version: old.version + 1,
            ..old.clone()
        };
        unit.op(Op::UpdateComment(new.clone(), old.version));
        announce_updated(&mut unit, &task, &old, &new);
        let activity_id = comment_activity(&mut unit, &task, "comment_updated", &new.id, None);
        undo::push(
            &mut unit,
            api,
            &task,
            activity_id,
            UndoPayload::CommentUpdate {
                comment_id: new.id.clone(),
                before: old.body.clone(),
                after: new.body.clone(),
            },
        )
        .await?;
        unit.commit(api).await?;
        Ok(new)
    })
    .await?;
    Ok(UpdateCommentResponse {
        comment: Some(convert::comment(&comment)),
    })
}

pub(super) async fn delete_comment(
    api: &ProjectsApi,
    request: Request<DeleteCommentRequest>,
) -> Result<DeleteCommentResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let etag = expected(&message.etag)?;
    retry(etag.is_some(), || async {
        let (comment, task, access) = readable_comment(api, &caller, &message.id).await?;
        may_delete(&access, &caller, &comment)?;
        check_etag(etag, comment.version)?;
        let mut unit = Unit::new(api, &caller);
        let activity_id = set_deleted(&mut unit, &task, &comment, true, None);
        undo::push(
            &mut unit,
            api,
            &task,
            activity_id,
            UndoPayload::CommentDelete {
                comment_id: comment.id.clone(),
            },
        )
        .await?;
        unit.commit(api).await
    })
    .await?;
    Ok(DeleteCommentResponse {})
}

/// The activity entry of a comment action, tagged when written by an undo or a redo.
fn comment_activity(
    unit: &mut Unit<'_>,
    task: &TaskRecord,
    kind: &str,
    comment_id: &str,
    tag: Option<(&str, &str)>,
) -> String {
    let mut record = entry(unit, task, kind);
    record.comment_id = Some(comment_id.into());
    record.undo_of_activity_id = tag
        .filter(|(what, _)| *what == "undo")
        .map(|(_, id)| id.to_string());
    record.redo_of_activity_id = tag
        .filter(|(what, _)| *what == "redo")
        .map(|(_, id)| id.to_string());
    let id = record.id.clone();
    unit.op(Op::InsertActivity(record));
    id
}

/// Tombstones the comment (`deleted`) or brings it back, with its activity entry.
fn set_deleted(
    unit: &mut Unit<'_>,
    task: &TaskRecord,
    comment: &CommentRecord,
    deleted: bool,
    tag: Option<(&str, &str)>,
) -> String {
    let new = CommentRecord {
        deleted_at: deleted.then_some(unit.now),
        version: comment.version + 1,
        ..comment.clone()
    };
    if deleted {
        let resource = comment_resource(unit, &new);
        unit.event(
            COMMENT_DELETED,
            resource,
            &wire_events::CommentDeleted {
                comment_id: new.id.clone(),
                task_id: task.id.to_string(),
                project_id: task.project_id.to_string(),
                author_user_id: new.author_user_id.to_string(),
                restore_expire_time: Some(timestamp(unit.now + UNDO_WINDOW_MILLIS)),
            },
        );
    } else {
        announce_created(unit, task, &new, true);
    }
    unit.op(Op::UpdateComment(new, comment.version));
    let kind = if deleted {
        "comment_deleted"
    } else {
        "comment_restored"
    };
    let id = comment_activity(unit, task, kind, &comment.id, tag);
    touch(
        unit,
        task,
        task.comment_count + if deleted { -1 } else { 1 },
    );
    if deleted {
        // Tombstones older than the undo window can no longer be restored.
        unit.op(Op::PurgeComments(
            task.project_id,
            unit.now - UNDO_WINDOW_MILLIS,
        ));
    }
    id
}

/// Deleting (or restoring) someone else's comment takes the project owner role.
fn may_delete(access: &Access, caller: &Caller, comment: &CommentRecord) -> Result<()> {
    let own = comment.author_user_id == caller.user_id;
    access
        .writer(
            caller,
            if own {
                ProjectRole::Member
            } else {
                ProjectRole::Owner
            },
        )
        .map_err(|error| match error {
            ProjectsError::RoleInsufficient(_) if !own => ProjectsError::NotCommentAuthor,
            other => other,
        })
}

/// Plans undoing or redoing a comment action (`payload`) on the live `task` into `unit`;
/// returns the summary GetUndoState shows. `TaskChangedSince` when the comment is no longer
/// as the action left it.
#[allow(clippy::too_many_arguments)]
pub(super) async fn plan_undo(
    api: &ProjectsApi,
    caller: &Caller,
    access: &Access,
    unit: &mut Unit<'_>,
    task: &TaskRecord,
    payload: &UndoPayload,
    undoing: bool,
    tag: (&str, &str),
) -> Result<String> {
    let org = caller.organization_id;
    let found = |comment: Option<CommentRecord>| {
        comment
            .filter(|comment| comment.task_id == task.id)
            .ok_or(ProjectsError::TaskChangedSince)
    };
    match payload {
        UndoPayload::CommentCreate { comment_id } | UndoPayload::CommentDelete { comment_id } => {
            // Undoing an add and redoing a delete delete; the other two restore.
            let delete = matches!(payload, UndoPayload::CommentCreate { .. }) == undoing;
            let comment = found(api.store.comment(org, comment_id, true).await?)?;
            if comment.deleted_at.is_some() == delete {
                return Err(ProjectsError::TaskChangedSince);
            }
            may_delete(access, caller, &comment)?;
            set_deleted(unit, task, &comment, delete, Some(tag));
            Ok(format!(
                "{} comment on {}",
                if delete { "Delete" } else { "Restore" },
                quoted(task)
            ))
        }
        UndoPayload::CommentUpdate {
            comment_id,
            before,
            after,
        } => {
            let comment = found(api.store.comment(org, comment_id, false).await?)?;
            let (expected, target) = if undoing {
                (after, before)
            } else {
                (before, after)
            };
            if comment.body != *expected || comment.author_user_id != caller.user_id {
                return Err(ProjectsError::TaskChangedSince);
            }
            let mentioned = domain::mentions(target);
            let already: Vec<String> =
                serde_json::from_str(&comment.mentioned_user_ids).unwrap_or_default();
            check_mentions(api, caller, &access.project, &mentioned, &already).await?;
            let new = CommentRecord {
                body: target.clone(),
                mentioned_user_ids: serde_json::to_string(&mentioned)
                    .unwrap_or_else(|_| "[]".into()),
                updated_at: unit.now,
                version: comment.version + 1,
                ..comment.clone()
            };
            announce_updated(unit, task, &comment, &new);
            unit.op(Op::UpdateComment(new, comment.version));
            comment_activity(unit, task, "comment_updated", &comment.id, Some(tag));
            Ok(format!(
                "{} edit of comment on {}",
                if undoing { "Revert" } else { "Reapply" },
                quoted(task)
            ))
        }
        _ => Err(ProjectsError::TaskChangedSince),
    }
}
