//! Undo and redo of comment actions, called directly on a real SQLite store: adding, editing
//! and deleting a comment are undone and redone in stack order, a deleted comment comes back
//! with its id, and an action overtaken by someone else's change is refused and dropped.

use mesh::ids::UserId;
use prost_types::FieldMask;
use taskmesh::projects::v1::task_service_server::TaskService;
use taskmesh::projects::v1::*;
use tonic::Code;

use super::test_world::*;

impl World {
    async fn comment(&self, task: &Task, body: &str) -> Comment {
        let request = self.request(CreateCommentRequest {
            comment: Some(Comment {
                task_id: task.id.clone(),
                body: body.into(),
                ..Comment::default()
            }),
            request_id: String::new(),
        });
        TaskService::create_comment(&self.api, request)
            .await
            .unwrap()
            .into_inner()
            .comment
            .unwrap()
    }

    async fn comments(&self, task: &Task) -> Vec<(String, String)> {
        let request = self.request(ListCommentsRequest {
            task_id: task.id.clone(),
            ..ListCommentsRequest::default()
        });
        TaskService::list_comments(&self.api, request)
            .await
            .unwrap()
            .into_inner()
            .comments
            .into_iter()
            .map(|comment| (comment.id, comment.body))
            .collect()
    }

    async fn comment_count(&self, task: &Task) -> i64 {
        let request = self.request(GetTaskRequest {
            task_ref: Some(get_task_request::TaskRef::Id(task.id.clone())),
            ..GetTaskRequest::default()
        });
        TaskService::get_task(&self.api, request)
            .await
            .unwrap()
            .into_inner()
            .task
            .unwrap()
            .comment_count
    }

    async fn undo_state(&self) -> GetUndoStateResponse {
        let request = self.request(GetUndoStateRequest {
            project_id: self.project.id.clone(),
        });
        TaskService::get_undo_state(&self.api, request)
            .await
            .unwrap()
            .into_inner()
    }

    async fn undo(&self) -> Result<UndoLastActionResponse, tonic::Status> {
        let request = self.request(UndoLastActionRequest {
            project_id: self.project.id.clone(),
            ..UndoLastActionRequest::default()
        });
        TaskService::undo_last_action(&self.api, request)
            .await
            .map(tonic::Response::into_inner)
    }

    async fn redo(&self) -> RedoLastActionResponse {
        let request = self.request(RedoLastActionRequest {
            project_id: self.project.id.clone(),
            ..RedoLastActionRequest::default()
        });
        TaskService::redo_last_action(&self.api, request)
            .await
            .unwrap()
            .into_inner()
    }
}

fn kind(activity: &Option<TaskActivity>) -> TaskActivityKind {
    activity.as_ref().unwrap().kind()
}

#[tokio::test]
async fn adding_editing_and_deleting_a_comment_are_undone_and_redone_in_order() {
    let world = World::new(600).await;
    let task = world.task("Write the spec").await;
    let comment = world.comment(&task, "first draft").await;
    let edit = world.request(UpdateCommentRequest {
        comment: Some(Comment {
            id: comment.id.clone(),
            body: "second draft".into(),
            ..Comment::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["body".into()],
        }),
    });
    TaskService::update_comment(&world.api, edit).await.unwrap();
    let delete = world.request(DeleteCommentRequest {
        id: comment.id.clone(),
        etag: String::new(),
    });
    TaskService::delete_comment(&world.api, delete)
        .await
        .unwrap();
    assert!(world.comments(&task).await.is_empty());
    assert_eq!(world.comment_count(&task).await, 0);

    // What the next undo would do is shown before doing it.
    let state = world.undo_state().await;
    let next = state.next_undo.unwrap();
    assert_eq!(
        next.summary,
        r#"Restore comment on LIVE-1 "Write the spec""#
    );
    assert_eq!(
        next.activity.unwrap().kind(),
        TaskActivityKind::CommentDeleted
    );
    assert_eq!(state.undo_depth, 4, "create task, add, edit, delete");

    // Undo the delete: the same comment is back, with its last body.
    let undone = world.undo().await.unwrap();
    assert_eq!(
        kind(&undone.undone_activity),
        TaskActivityKind::CommentDeleted
    );
    let record = undone.activity.unwrap();
    assert_eq!(record.kind(), TaskActivityKind::CommentRestored);
    assert_eq!(record.comment_id, comment.id);
    assert_eq!(
        world.comments(&task).await,
        vec![(comment.id.clone(), "second draft".into())]
    );
    assert_eq!(world.comment_count(&task).await, 1);

    // Undo the edit: the first body is back.
    let state = world.undo_state().await;
    assert_eq!(
        state.next_undo.unwrap().summary,
        r#"Revert edit of comment on LIVE-1 "Write the spec""#
    );
    let undone = world.undo().await.unwrap();
    assert_eq!(kind(&undone.activity), TaskActivityKind::CommentUpdated);
    assert_eq!(
        world.comments(&task).await,
        vec![(comment.id.clone(), "first draft".into())]
    );

    // Undo the add: the comment is gone.
    let undone = world.undo().await.unwrap();
    assert_eq!(kind(&undone.activity), TaskActivityKind::CommentDeleted);
    assert!(world.comments(&task).await.is_empty());
    assert_eq!(world.comment_count(&task).await, 0);

    // Redo all three in the original order.
    let state = world.undo_state().await;
    assert_eq!(state.redo_depth, 3);
    assert_eq!(
        state.next_redo.unwrap().summary,
        r#"Restore comment on LIVE-1 "Write the spec""#
    );
    assert_eq!(
        kind(&world.redo().await.activity),
        TaskActivityKind::CommentRestored
    );
    assert_eq!(
        world.comments(&task).await,
        vec![(comment.id.clone(), "first draft".into())]
    );
    assert_eq!(
        kind(&world.redo().await.activity),
        TaskActivityKind::CommentUpdated
    );
    assert_eq!(
        world.comments(&task).await,
        vec![(comment.id.clone(), "second draft".into())]
    );
    let redone = world.redo().await;
    assert_eq!(kind(&redone.activity), TaskActivityKind::CommentDeleted);
    assert!(!redone.can_redo);
    assert!(world.comments(&task).await.is_empty());

    // The task's history tells the whole story, undo and redo entries naming what they apply.
    let request = world.request(ListTaskActivityRequest {
        task_id: task.id.clone(),
        ..ListTaskActivityRequest::default()
    });
    let history = TaskService::list_task_activity(&world.api, request)
        .await
        .unwrap()
        .into_inner()
        .activities;
    let kinds: Vec<TaskActivityKind> = history.iter().map(TaskActivity::kind).collect();
    use TaskActivityKind as K;
    assert_eq!(
        kinds,
        [
            K::Created,
            K::Commented,
            K::CommentUpdated,
            K::CommentDeleted,
            K::CommentRestored,
            K::CommentUpdated,
            K::CommentDeleted,
            K::CommentRestored,
            K::CommentUpdated,
            K::CommentDeleted,
        ]
    );
    assert_eq!(history[4].undo_of_activity_id, history[3].id);
    assert_eq!(history[7].redo_of_activity_id, history[1].id);

    // Each step published its comment event; restores are marked so nobody is told twice.
    let published = world.published("taskmesh.projects.comment.>").await;
    let types: Vec<&str> = published
        .iter()
        .map(|event| event.r#type.as_str())
        .collect();
    let (created, updated, deleted) = (
        "taskmesh.projects.comment.created",
        "taskmesh.projects.comment.updated",
        "taskmesh.projects.comment.deleted",
    );
    assert_eq!(
        types,
        [
            created, updated, deleted, created, updated, deleted, created, updated, deleted
        ]
    );
    let resource = format!(
        "organizations/{}/tasks/{}/comments/{}",
        world.organization, task.id, comment.id
    );
    assert!(published.iter().all(|event| event.resource == resource));
    use prost::Message;
    use taskmesh::events::v1 as wire_events;
    let restored: Vec<bool> = published
        .iter()
        .filter(|event| event.r#type == created)
        .map(|event| {
            wire_events::CommentCreated::decode(event.payload.as_slice())
                .unwrap()
                .restored
        })
        .collect();
    assert_eq!(restored, [false, true, true]);
    let edit = wire_events::CommentUpdated::decode(published[1].payload.as_slice()).unwrap();
    assert_eq!(
        (edit.body_excerpt.as_str(), edit.task_key.as_str()),
        ("second draft", "LIVE-1")
    );
    assert_eq!(edit.author_user_id, world.user.to_string());
    let removal = wire_events::CommentDeleted::decode(published[2].payload.as_slice()).unwrap();
    assert_eq!(removal.comment_id, comment.id);
    assert!(removal.restore_expire_time.is_some());
}

#[tokio::test]
async fn undoing_a_comment_someone_else_deleted_is_refused_and_dropped() {
    let world = World::new(600).await;
    let task = world.task("Review").await;
    let comment = world.comment(&task, "looks good").await;
    // An organization owner removes the comment.
    let moderator = UserId::new();
    let delete = signed_in(
        moderator,
        world.organization,
        DeleteCommentRequest {
            id: comment.id.clone(),
            etag: String::new(),
        },
    );
    TaskService::delete_comment(&world.api, delete)
        .await
        .unwrap();

    // The author's undo of adding it no longer applies: refused, shown as such, then dropped.
    let state = world.undo_state().await;
    let refusal = state.next_undo.unwrap().refusal.unwrap();
    assert_eq!(refusal.reason, "TASK_CHANGED_SINCE");
    let refused = world.undo().await.unwrap_err();
    assert_eq!(refused.code(), Code::Aborted);
    assert_eq!(
        mesh::error::reason_of(&refused).as_deref(),
        Some("TASK_CHANGED_SINCE")
    );
    let state = world.undo_state().await;
    assert_eq!(
        state.next_undo.unwrap().activity.unwrap().kind(),
        TaskActivityKind::Created,
        "the comment action was dropped; the task's creation is next"
    );

    // The moderator can still bring it back, with its author.
    let restore = signed_in(
        moderator,
        world.organization,
        UndoLastActionRequest {
            project_id: world.project.id.clone(),
            ..UndoLastActionRequest::default()
        },
    );
    TaskService::undo_last_action(&world.api, restore)
        .await
        .unwrap();
    assert_eq!(
        world.comments(&task).await,
        vec![(comment.id.clone(), "looks good".into())]
    );
}
