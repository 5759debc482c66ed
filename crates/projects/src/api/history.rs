//! Work logs and activity feeds (comments are in `comments`).

use mesh::filter::FilterField;
use mesh::ids::UserId;
use mesh::time::{millis, timestamp};
use taskmesh::events::v1 as wire_events;
use taskmesh::projects::v1::list_work_logs_request::Scope;
use taskmesh::projects::v1::watch_board_response::Event as WatchEvent;
use taskmesh::projects::v1::*;
use tonic::Request;

use super::convert::{self, Unit};
use super::tasks::readable_task;
use super::{Caller, ProjectsApi, Result, check_etag, expected, new_id, page_request, parse_id};
use crate::domain::filter::{self as filters, ID_OPERATORS, TIME_OPERATORS};
use crate::domain::{self, ProjectId, ProjectRole, ProjectsError, TaskId};
use crate::events::*;
use crate::store::*;

/// An activity entry of `kind` about the task, by the caller, now.
pub(super) fn entry(unit: &Unit<'_>, task: &TaskRecord, kind: &str) -> ActivityRecord {
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

const KINDS: [&str; 11] = [
    "created",
    "updated",
    "moved",
    "deleted",
    "restored",
    "commented",
    "comment_updated",
    "comment_deleted",
    "comment_restored",
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
