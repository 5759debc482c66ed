//! Comments (with mentions), work logs and activity feeds.

use mesh::filter::FilterField;
use mesh::ids::UserId;
use mesh::request::{Updatable, update_paths};
use mesh::time::{millis, timestamp};
use taskmesh::events::v1 as wire_events;
use taskmesh::projects::v1::list_work_logs_request::Scope;
use taskmesh::projects::v1::watch_board_response::Event as WatchEvent;
use taskmesh::projects::v1::*;
use tonic::Request;

use super::convert::{self, Unit};
use super::tasks::readable_task;
use super::{
    Caller, ProjectsApi, Result, check_etag, expected, new_id, page_request, parse_id, retry,
};
use crate::domain::filter::{self as filters, ID_OPERATORS, TIME_OPERATORS};
use crate::domain::{
    self, MAX_MENTIONS, MAX_TEXT_BYTES, ProjectId, ProjectRole, ProjectsError, TaskId,
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

fn entry(unit: &Unit<'_>, task: &TaskRecord, kind: &str) -> ActivityRecord {
    ActivityRecord {
        id: new_id(),
        organization_id: unit.caller.organization_id,
        project_id: task.project_id,
        task_id: task.id,
        task_key: task.key.clone(),
        actor_user_id: unit.caller.user_id,
        kind: kind.into(),
        field_changes: "[]".into(),
        comment_id: None,
        work_log_id: None,
        undo_of_activity_id: None,
        redo_of_activity_id: None,
        request_id: None,
        created_at: unit.now,
    }
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
            };
            unit.op(Op::InsertComment(comment.clone()));
            let mut record = entry(&unit, &task, "commented");
            record.comment_id = Some(comment.id.clone());
            unit.op(Op::InsertActivity(record));
            let mut watchers: Vec<String> = vec![task.reporter_user_id.to_string()];
            for assignee in &task.assignee_user_ids {
                let assignee = assignee.to_string();
                if !watchers.contains(&assignee) {
                    watchers.push(assignee);
                }
            }
            unit.event(
                COMMENT_CREATED,
                format!(
                    "{}/comments/{}",
                    convert::task_resource(org, task_id),
                    comment.id
                ),
                &wire_events::CommentCreated {
                    comment_id: comment.id.clone(),
                    task_id: task_id.to_string(),
                    author_user_id: user.to_string(),
                    mentioned_user_ids: mentioned.clone(),
                    project_id: task.project_id.to_string(),
                    parent_comment_id: String::new(),
                    body_excerpt: text.chars().take(280).collect(),
                    task_key: task.key.clone(),
                    task_title: task.title.clone(),
                    watcher_user_ids: watchers,
                },
            );
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
        .comment(caller.organization_id, id)
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
        let mut record = entry(&unit, &task, "comment_updated");
        record.comment_id = Some(new.id.clone());
        unit.op(Op::InsertActivity(record));
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
        let own = comment.author_user_id == caller.user_id;
        access
            .writer(
                &caller,
                if own {
                    ProjectRole::Member
                } else {
                    ProjectRole::Owner
                },
            )
            .map_err(|error| match error {
                ProjectsError::RoleInsufficient(_) if !own => ProjectsError::NotCommentAuthor,
                other => other,
            })?;
        check_etag(etag, comment.version)?;
        let mut unit = Unit::new(api, &caller);
        unit.op(Op::DeleteComment(comment.id.clone(), comment.version));
        let mut record = entry(&unit, &task, "comment_deleted");
        record.comment_id = Some(comment.id.clone());
        unit.op(Op::InsertActivity(record));
        touch(&mut unit, &task, task.comment_count - 1);
        unit.commit(api).await
    })
    .await?;
    Ok(DeleteCommentResponse {})
}

fn work_logged(unit: &mut Unit<'_>, log: &WorkLogRecord, deleted: bool) {
    let resource = format!(
        "{}/workLogs/{}",
        convert::task_resource(unit.caller.organization_id, log.task_id),
        log.id
    );
    let duration = prost_types::Duration {
        seconds: log.duration_ms / 1_000,
        nanos: 0,
    };
    if deleted {
        unit.event(
            WORK_LOG_DELETED,
            resource,
            &wire_events::WorkLogDeleted {
                work_log_id: log.id.clone(),
                task_id: log.task_id.to_string(),
                project_id: log.project_id.to_string(),
                user_id: log.user_id.to_string(),
                duration: Some(duration),
                start_time: Some(timestamp(log.started_at)),
            },
        );
    } else {
        unit.event(
            WORK_LOGGED,
            resource,
            &wire_events::WorkLogged {
                work_log_id: log.id.clone(),
                task_id: log.task_id.to_string(),
                project_id: log.project_id.to_string(),
                user_id: log.user_id.to_string(),
                duration: Some(duration),
                start_time: Some(timestamp(log.started_at)),
            },
        );
    }
}

pub(super) async fn create_work_log(
    api: &ProjectsApi,
    request: Request<CreateWorkLogRequest>,
) -> Result<CreateWorkLogResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let input = message.work_log.clone().unwrap_or_default();
    let task_id: TaskId = parse_id("work_log.task_id", &input.task_id)?;
    let (task, access) = readable_task(api, &caller, task_id).await?;
    access.writer(&caller, ProjectRole::Member)?;
    let duration = input
        .duration
        .as_ref()
        .ok_or(ProjectsError::FieldRequired("work_log.duration"))?;
    if duration.nanos != 0 || !(60..=86_400).contains(&duration.seconds) {
        return Err(domain::invalid(
            "work_log.duration",
            "must be whole seconds from 1 minute to 24 hours",
        ));
    }
    let duration_ms = duration.seconds * 1_000;
    if input.description.chars().count() > 2_000 {
        return Err(domain::invalid(
            "work_log.description",
            "must be at most 2,000 characters",
        ));
    }
    let now = super::now();
    let started_at = input.start_time.as_ref().map_or(now - duration_ms, millis);
    if started_at > now {
        return Err(domain::invalid(
            "work_log.start_time",
            "must not lie in the future",
        ));
    }
    let idempotency = domain::request_id(&message.request_id)?;
    let (org, user) = (caller.organization_id, caller.user_id);
    let log = kit::create_once(
        idempotency.as_deref(),
        |key| {
            let store = api.store.clone();
            async move { store.work_log_by_request(org, task_id, user, &key).await }
        },
        || async {
            let mut unit = Unit::new(api, &caller);
            let log = WorkLogRecord {
                id: new_id(),
                organization_id: org,
                project_id: task.project_id,
                task_id,
                task_key: task.key.clone(),
                user_id: user,
                duration_ms,
                started_at,
                description: input.description.clone(),
                request_id: idempotency.clone(),
                created_at: unit.now,
            };
            unit.op(Op::InsertWorkLog(log.clone()));
            let mut record = entry(&unit, &task, "work_logged");
            record.work_log_id = Some(log.id.clone());
            unit.op(Op::InsertActivity(record));
            work_logged(&mut unit, &log, false);
            let mut shown = task.clone();
            shown.time_spent_ms += duration_ms;
            unit.feed(
                task.board_id,
                WatchEvent::TaskUpdated(convert::task(&shown, false)),
            );
            unit.commit(api).await?;
            Ok(log)
        },
    )
    .await?
    .into_inner();
    Ok(CreateWorkLogResponse {
        work_log: Some(convert::work_log(&log)),
    })
}

const WORK_LOG_FILTER: &[FilterField] = &[
    FilterField {
        name: "user_id",
        operators: ID_OPERATORS,
    },
    FilterField {
        name: "task_id",
        operators: ID_OPERATORS,
    },
    FilterField {
        name: "start_time",
        operators: TIME_OPERATORS,
    },
];

pub(super) async fn list_work_logs(
    api: &ProjectsApi,
    request: Request<ListWorkLogsRequest>,
) -> Result<ListWorkLogsResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let me = caller.user_id.to_string();
    let scope = match &message.scope {
        Some(Scope::TaskId(id)) => {
            let id: TaskId = parse_id("task_id", id)?;
            readable_task(api, &caller, id).await?;
            WorkLogScope::Task(id)
        }
        Some(Scope::ProjectId(id)) => {
            let id: ProjectId = parse_id("project_id", id)?;
            api.access(&caller, id).await?;
            WorkLogScope::Project(id)
        }
        Some(Scope::UserId(user)) => {
            let user: UserId = parse_id("user_id", if user == "me" { &me } else { user })?;
            let member = (!caller.is_organization_admin()).then_some(caller.user_id);
            WorkLogScope::User(
                user,
                api.store
                    .readable_projects(caller.organization_id, member, true)
                    .await?,
            )
        }
        None => return Err(ProjectsError::FieldRequired("scope")),
    };
    let mut conditions = Vec::new();
    for comparison in filters::parse_and(&message.filter, WORK_LOG_FILTER)? {
        let negate = comparison.op == mesh::filter::Operator::Ne;
        match comparison.field.as_str() {
            "start_time" => conditions.push(SimpleCondition::Time(
                "started_at",
                filters::compare_of(comparison.op),
                filters::time_value("start_time", &comparison.value)?,
            )),
            field => {
                let column = if field == "user_id" {
                    "user_id"
                } else {
                    "task_id"
                };
                conditions.push(SimpleCondition::Equals(
                    column,
                    filters::filter_id(field, &comparison.value, &me)?,
                    negate,
                ));
            }
        }
    }
    let (by_start, descending) = match message.order_by.trim() {
        "" | "start_time desc" => (true, true),
        "start_time" => (true, false),
        "create_time" => (false, false),
        "create_time desc" => (false, true),
        _ => {
            return Err(ProjectsError::OrderByInvalid(
                "start_time [desc] or create_time [desc]".into(),
            ));
        }
    };
    let scope_text = format!("{:?}", message.scope);
    let page = page_request(
        message.page_size,
        &message.page_token,
        format!("{scope_text}|{}", message.filter),
        work_log_keyset(by_start, descending),
    )?;
    let page = api
        .store
        .work_logs(caller.organization_id, &scope, &conditions, &page)
        .await?;
    Ok(ListWorkLogsResponse {
        work_logs: page.items.iter().map(convert::work_log).collect(),
        next_page_token: page.next_page_token,
    })
}

pub(super) async fn delete_work_log(
    api: &ProjectsApi,
    request: Request<DeleteWorkLogRequest>,
) -> Result<DeleteWorkLogResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let log = api
        .store
        .work_log(caller.organization_id, &message.id)
        .await?
        .ok_or(ProjectsError::WorkLogNotFound)?;
    let (task, access) =
        readable_task(api, &caller, log.task_id)
            .await
            .map_err(|error| match error {
                ProjectsError::TaskNotFound => ProjectsError::WorkLogNotFound,
                other => other,
            })?;
    let own = log.user_id == caller.user_id;
    access
        .writer(
            &caller,
            if own {
                ProjectRole::Member
            } else {
                ProjectRole::Owner
            },
        )
        .map_err(|error| match error {
            ProjectsError::RoleInsufficient(_) if !own => ProjectsError::NotWorkLogAuthor,
            other => other,
        })?;
    check_etag(expected(&message.etag)?, 1)?;
    let mut unit = Unit::new(api, &caller);
    unit.op(Op::DeleteWorkLog(log.id.clone()));
    let mut record = entry(&unit, &task, "work_log_deleted");
    record.work_log_id = Some(log.id.clone());
    unit.op(Op::InsertActivity(record));
    work_logged(&mut unit, &log, true);
    let mut shown = task.clone();
    shown.time_spent_ms -= log.duration_ms;
    unit.feed(
        task.board_id,
        WatchEvent::TaskUpdated(convert::task(&shown, false)),
    );
    unit.commit(api).await.map_err(|error| match error {
        ProjectsError::Conflict => ProjectsError::WorkLogNotFound,
        other => other,
    })?;
    Ok(DeleteWorkLogResponse {})
}

pub(super) async fn task_activity(
    api: &ProjectsApi,
    request: Request<ListTaskActivityRequest>,
) -> Result<ListTaskActivityResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let task_id: TaskId = parse_id("task_id", &message.task_id)?;
    let (task, _) = readable_task(api, &caller, task_id).await?;
    let descending = filters::time_order(&message.order_by, "create_time", false)?;
    let page = page_request(
        message.page_size,
        &message.page_token,
        task_id.to_string(),
        activity_keyset(descending),
    )?;
    let page = api
        .store
        .activity(
            caller.organization_id,
            task.project_id,
            Some(task_id),
            &[],
            &page,
        )
        .await?;
    Ok(ListTaskActivityResponse {
        activities: page.items.iter().map(convert::activity).collect(),
        next_page_token: page.next_page_token,
    })
}

const ACTIVITY_FILTER: &[FilterField] = &[
    FilterField {
        name: "actor_user_id",
        operators: ID_OPERATORS,
    },
    FilterField {
        name: "task_id",
        operators: ID_OPERATORS,
    },
    FilterField {
        name: "kind",
        operators: ID_OPERATORS,
    },
    FilterField {
        name: "create_time",
        operators: TIME_OPERATORS,
    },
];

const KINDS: [&str; 10] = [
    "created",
    "updated",
    "moved",
    "deleted",
    "restored",
    "commented",
    "comment_updated",
    "comment_deleted",
    "work_logged",
    "work_log_deleted",
];

pub(super) async fn project_activity(
    api: &ProjectsApi,
    request: Request<ListProjectActivityRequest>,
) -> Result<ListProjectActivityResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let id: ProjectId = parse_id("project_id", &message.project_id)?;
    api.access(&caller, id).await?;
    let me = caller.user_id.to_string();
    let mut conditions = Vec::new();
    for comparison in filters::parse_and(&message.filter, ACTIVITY_FILTER)? {
        let negate = comparison.op == mesh::filter::Operator::Ne;
        match comparison.field.as_str() {
            "create_time" => conditions.push(SimpleCondition::Time(
                "created_at",
                filters::compare_of(comparison.op),
                filters::time_value("create_time", &comparison.value)?,
            )),
            "kind" => {
                let kind = comparison.value.to_ascii_lowercase();
                if !KINDS.contains(&kind.as_str()) {
                    return Err(
                        mesh::filter::invalid(domain::DOMAIN, "unknown activity kind").into(),
                    );
                }
                conditions.push(SimpleCondition::Equals("kind", kind, negate));
            }
            field => {
                let column = if field == "task_id" {
                    "task_id"
                } else {
                    "actor_user_id"
                };
                conditions.push(SimpleCondition::Equals(
                    column,
                    filters::filter_id(field, &comparison.value, &me)?,
                    negate,
                ));
            }
        }
    }
    let descending = filters::time_order(&message.order_by, "create_time", true)?;
    let page = page_request(
        message.page_size,
        &message.page_token,
        format!("{id}|{}", message.filter),
        activity_keyset(descending),
    )?;
    let page = api
        .store
        .activity(caller.organization_id, id, None, &conditions, &page)
        .await?;
    Ok(ListProjectActivityResponse {
        activities: page.items.iter().map(convert::activity).collect(),
        next_page_token: page.next_page_token,
    })
}
