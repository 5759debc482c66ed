//! BoardService (except WatchBoard, in `watch`): boards, columns and workflow rules.

use mesh::request::{Updatable, update_paths};
use taskmesh::projects::v1::watch_board_response::Event as WatchEvent;
use taskmesh::projects::v1::*;
use tonic::Request;

use super::convert::{self, Unit};
use super::moves::record_move;
use super::projects::{DEFAULT_COLUMNS, new_column};
use super::{
    Access, Caller, ProjectsApi, Result, check_etag, expected, page_request, parse_id, retry,
};
use crate::domain::{
    self, BoardId, ColumnId, MAX_BOARDS, MAX_COLUMNS, MAX_TEXT_BYTES, ProjectId, ProjectRole,
    ProjectsError, StatusCategory, rank,
};
use crate::store::*;

/// A board the caller can read, with its columns and access to its project.
pub(super) async fn readable_board(
    api: &ProjectsApi,
    caller: &Caller,
    id: BoardId,
) -> Result<(BoardRecord, Vec<ColumnRecord>, Access)> {
    let (board, columns) = api
        .store
        .board(caller.organization_id, id)
        .await?
        .ok_or(ProjectsError::BoardNotFound)?;
    let access = api
        .access(caller, board.project_id)
        .await
        .map_err(|error| match error {
            ProjectsError::ProjectNotFound => ProjectsError::BoardNotFound,
            other => other,
        })?;
    Ok((board, columns, access))
}

/// A column the caller can read, with its board's columns and access.
async fn readable_column(
    api: &ProjectsApi,
    caller: &Caller,
    id: &str,
) -> Result<(ColumnRecord, BoardRecord, Vec<ColumnRecord>, Access)> {
    let id: ColumnId = parse_id("id", id)?;
    let column = api
        .store
        .column(caller.organization_id, id)
        .await?
        .ok_or(ProjectsError::ColumnNotFound)?;
    let (board, columns, access) =
        readable_board(api, caller, column.board_id)
            .await
            .map_err(|error| match error {
                ProjectsError::BoardNotFound => ProjectsError::ColumnNotFound,
                other => other,
            })?;
    Ok((column, board, columns, access))
}

fn category(field: &'static str, value: i32) -> Result<StatusCategory> {
    convert::status_from_wire(value).ok_or(ProjectsError::FieldRequired(field))
}

fn wip(field: &'static str, value: i32) -> Result<i64> {
    if value < 0 {
        return Err(domain::invalid(field, "must be >= 0"));
    }
    Ok(i64::from(value))
}

/// Watchers see the board's columns changed.
fn column_changed(
    unit: &mut Unit<'_>,
    board: &BoardRecord,
    columns: Vec<ColumnRecord>,
    kind: ColumnChangeKind,
    column: ColumnId,
) {
    unit.feed(
        board.id,
        WatchEvent::ColumnChanged(ColumnChanged {
            kind: kind as i32,
            column_id: column.to_string(),
            board: Some(convert::board(board, &columns)),
        }),
    );
}

pub(super) async fn create(
    api: &ProjectsApi,
    request: Request<CreateBoardRequest>,
) -> Result<CreateBoardResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let input = message.board.clone().unwrap_or_default();
    let project_id: ProjectId = parse_id("board.project_id", &input.project_id)?;
    let access = api.access(&caller, project_id).await?;
    access.writer(&caller, ProjectRole::Owner)?;
    let name = domain::name("board.name", &input.name, 100)?;
    let description = domain::text("board.description", &input.description, MAX_TEXT_BYTES)?;
    let mut columns: Vec<(String, StatusCategory, i64)> = Vec::new();
    if input.columns.is_empty() {
        columns.extend(
            DEFAULT_COLUMNS
                .iter()
                .map(|(name, category)| (name.to_string(), *category, 0)),
        );
    } else {
        if input.columns.len() as i64 > MAX_COLUMNS {
            return Err(ProjectsError::LimitReached(
                "COLUMN_LIMIT_REACHED",
                "a board has at most 50 columns",
            ));
        }
        for column in &input.columns {
            let name = domain::name("board.columns.name", &column.name, 50)?;
            if columns
                .iter()
                .any(|(other, _, _)| other.to_lowercase() == name.to_lowercase())
            {
                return Err(ProjectsError::ColumnNameTaken);
            }
            columns.push((
                name,
                category("board.columns.status_category", column.status_category)?,
                wip("board.columns.wip_limit", column.wip_limit)?,
            ));
        }
    }
    let idempotency = domain::request_id(&message.request_id)?;
    let (org, user) = (caller.organization_id, caller.user_id);
    let board = kit::create_once(
        idempotency.as_deref(),
        |key| {
            let store = api.store.clone();
            async move { store.board_by_request(org, project_id, user, &key).await }
        },
        || async {
            let (_, boards, _) = api.store.project_counts(org, project_id).await?;
            if boards >= MAX_BOARDS {
                return Err(ProjectsError::LimitReached(
                    "BOARD_LIMIT_REACHED",
                    "a project has at most 100 boards",
                ));
            }
            let mut unit = Unit::new(api, &caller);
            let board = BoardRecord {
                id: BoardId::new(),
                organization_id: org,
                project_id,
                name: name.clone(),
                description: description.clone(),
                workflow: "{}".into(),
                feed_seq: 0,
                creator_user_id: user,
                request_id: idempotency.clone(),
                created_at: unit.now,
                updated_at: unit.now,
                version: 1,
            };
            unit.op(Op::InsertBoard(board.clone()));
            for (position, (name, category, wip_limit)) in columns.iter().enumerate() {
                let column = new_column(
                    &caller,
                    (project_id, board.id),
                    (name, *category, *wip_limit, position as i64),
                    unit.now,
                    None,
                );
                unit.op(Op::InsertColumn(column));
            }
            unit.commit(api).await?;
            Ok(board)
        },
    )
    .await?
    .into_inner();
    let (board, columns) = api
        .store
        .board(org, board.id)
        .await?
        .ok_or(ProjectsError::BoardNotFound)?;
    Ok(CreateBoardResponse {
        board: Some(convert::board(&board, &columns)),
    })
}

pub(super) async fn get(
    api: &ProjectsApi,
    request: Request<GetBoardRequest>,
) -> Result<GetBoardResponse> {
    let caller = Caller::of(&request)?;
    let (board, columns, access) =
        readable_board(api, &caller, parse_id("id", &request.get_ref().id)?).await?;
    Ok(GetBoardResponse {
        board: Some(convert::board(&board, &columns)),
        caller_role: convert::role_to_wire(access.role),
    })
}

pub(super) async fn list(
    api: &ProjectsApi,
    request: Request<ListBoardsRequest>,
) -> Result<ListBoardsResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let id: ProjectId = parse_id("project_id", &message.project_id)?;
    api.access(&caller, id).await?;
    let page = page_request(
        message.page_size,
        &message.page_token,
        id.to_string(),
        BOARDS_ORDER,
    )?;
    let page = api.store.boards(caller.organization_id, id, &page).await?;
    Ok(ListBoardsResponse {
        boards: page
            .items
            .iter()
            .map(|(board, columns)| convert::board(board, columns))
            .collect(),
        next_page_token: page.next_page_token,
    })
}

pub(super) async fn update(
    api: &ProjectsApi,
    request: Request<UpdateBoardRequest>,
) -> Result<UpdateBoardResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let input = message.board.clone().unwrap_or_default();
    let id: BoardId = parse_id("board.id", &input.id)?;
    let paths = update_paths(
        domain::DOMAIN,
        message.update_mask.as_ref(),
        &[
            Updatable::new("name", !input.name.is_empty()),
            Updatable::new("description", !input.description.is_empty()),
            Updatable::new("workflow", input.workflow.is_some()),
        ],
    )?;
    let etag = expected(&input.etag)?;
    let (board, columns) = retry(etag.is_some(), || async {
        let (old, columns, access) = readable_board(api, &caller, id).await?;
        access.writer(&caller, ProjectRole::Owner)?;
        check_etag(etag, old.version)?;
        let mut new = old.clone();
        for path in &paths {
            match *path {
                "name" => new.name = domain::name("board.name", &input.name, 100)?,
                "description" => {
                    new.description =
                        domain::text("board.description", &input.description, MAX_TEXT_BYTES)?
                }
                _ => {
                    let workflow =
                        convert::workflow_from_wire(&input.workflow.clone().unwrap_or_default())?;
                    let ids: Vec<String> =
                        columns.iter().map(|column| column.id.to_string()).collect();
                    workflow.validate(&ids)?;
                    new.workflow = serde_json::to_string(&workflow).unwrap_or_else(|_| "{}".into());
                }
            }
        }
        if new == old {
            return Ok((old, columns));
        }
        let mut unit = Unit::new(api, &caller);
        new.updated_at = unit.now;
        new.version = old.version + 1;
        unit.op(Op::UpdateBoard(new.clone(), old.version));
        unit.feed(
            new.id,
            WatchEvent::BoardUpdated(convert::board(&new, &columns)),
        );
        unit.commit(api).await?;
        Ok((new, columns))
    })
    .await?;
    Ok(UpdateBoardResponse {
        board: Some(convert::board(&board, &columns)),
    })
}

pub(super) async fn delete(
    api: &ProjectsApi,
    request: Request<DeleteBoardRequest>,
) -> Result<DeleteBoardResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let id: BoardId = parse_id("id", &message.id)?;
    let etag = expected(&message.etag)?;
    retry(etag.is_some(), || async {
        let (board, _, access) = readable_board(api, &caller, id).await?;
        access.writer(&caller, ProjectRole::Owner)?;
        check_etag(etag, board.version)?;
        if access.project.default_board_id == id {
            return Err(ProjectsError::BoardIsDefault);
        }
        let mut unit = Unit::new(api, &caller);
        unit.op(Op::DeleteBoard(id, board.version));
        unit.commit(api).await?;
        api.hub.close_board(id);
        Ok(())
    })
    .await?;
    Ok(DeleteBoardResponse {})
}

pub(super) async fn create_column(
    api: &ProjectsApi,
    request: Request<CreateColumnRequest>,
) -> Result<CreateColumnResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let input = message.column.clone().unwrap_or_default();
    let board_id: BoardId = parse_id("column.board_id", &input.board_id)?;
    let name = domain::name("column.name", &input.name, 50)?;
    let category = category("column.status_category", input.status_category)?;
    let wip_limit = wip("column.wip_limit", input.wip_limit)?;
    let idempotency = domain::request_id(&message.request_id)?;
    let (org, user) = (caller.organization_id, caller.user_id);
    let column = kit::create_once(
        idempotency.as_deref(),
        |key| {
            let store = api.store.clone();
            async move { store.column_by_request(org, board_id, user, &key).await }
        },
        || {
            let caller = &caller;
            let (name, idempotency) = (&name, &idempotency);
            retry(false, move || {
                let (name, idempotency) = (name.clone(), idempotency.clone());
                async move {
                    let (board, mut columns, access) =
                        readable_board(api, caller, board_id).await?;
                    access.writer(caller, ProjectRole::Owner)?;
                    if columns.len() as i64 >= MAX_COLUMNS {
                        return Err(ProjectsError::LimitReached(
                            "COLUMN_LIMIT_REACHED",
                            "a board has at most 50 columns",
                        ));
                    }
                    let mut unit = Unit::new(api, caller);
                    let column = new_column(
                        caller,
                        (board.project_id, board.id),
                        (&name, category, wip_limit, columns.len() as i64),
                        unit.now,
                        idempotency,
                    );
                    unit.op(Op::InsertColumn(column.clone()));
                    let bumped = BoardRecord {
                        updated_at: unit.now,
                        version: board.version + 1,
                        ..board.clone()
                    };
                    unit.op(Op::UpdateBoard(bumped.clone(), board.version));
                    columns.push(column.clone());
                    column_changed(
                        &mut unit,
                        &bumped,
                        columns,
                        ColumnChangeKind::Created,
                        column.id,
                    );
                    unit.commit(api).await?;
                    Ok(column)
                }
            })
        },
    )
    .await?
    .into_inner();
    Ok(CreateColumnResponse {
        column: Some(convert::column(&column)),
    })
}

pub(super) async fn update_column(
    api: &ProjectsApi,
    request: Request<UpdateColumnRequest>,
) -> Result<UpdateColumnResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let input = message.column.clone().unwrap_or_default();
    let paths = update_paths(
        domain::DOMAIN,
        message.update_mask.as_ref(),
        &[
            Updatable::new("name", !input.name.is_empty()),
            Updatable::new("wip_limit", input.wip_limit != 0),
            Updatable::new("status_category", input.status_category != 0),
        ],
    )?;
    let etag = expected(&input.etag)?;
    let column = retry(etag.is_some(), || async {
        let (old, board, columns, access) = readable_column(api, &caller, &input.id).await?;
        access.writer(&caller, ProjectRole::Owner)?;
        check_etag(etag, old.version)?;
        let mut new = old.clone();
        for path in &paths {
            match *path {
                "name" => {
                    new.name = domain::name("column.name", &input.name, 50)?;
                    new.name_key = new.name.to_lowercase();
                }
                "wip_limit" => new.wip_limit = wip("column.wip_limit", input.wip_limit)?,
                _ => {
                    new.status_category = category("column.status_category", input.status_category)?
                        .as_str()
                        .into()
                }
            }
        }
        if new == old {
            return Ok(old);
        }
        let mut unit = Unit::new(api, &caller);
        new.updated_at = unit.now;
        new.version = old.version + 1;
        unit.op(Op::UpdateColumn(new.clone(), old.version));
        if new.status_category != old.status_category {
            // The tasks in it change status (the store rewrites them); completion follows.
            let done = StatusCategory::Done.as_str();
            for task in api
                .store
                .column_tasks(caller.organization_id, old.id)
                .await?
            {
                let mut moved = task.clone();
                moved.status_category = new.status_category.clone();
                moved.completed_at = if new.status_category == done {
                    task.completed_at.or(Some(unit.now))
                } else {
                    None
                };
                moved.updated_at = unit.now;
                moved.version = task.version + 1;
                unit.op(Op::UpdateTask(moved.clone(), task.version));
                if new.status_category == done && old.status_category != done {
                    super::tasks::completed(&mut unit, &moved);
                }
            }
        }
        let columns: Vec<ColumnRecord> = columns
            .into_iter()
            .map(|column| {
                if column.id == new.id {
                    new.clone()
                } else {
                    column
                }
            })
            .collect();
        column_changed(
            &mut unit,
            &board,
            columns,
            ColumnChangeKind::Updated,
            new.id,
        );
        unit.commit(api).await?;
        Ok(new)
    })
    .await?;
    Ok(UpdateColumnResponse {
        column: Some(convert::column(&column)),
    })
}

pub(super) async fn move_column(
    api: &ProjectsApi,
    request: Request<MoveColumnRequest>,
) -> Result<MoveColumnResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let etag = expected(&message.etag)?;
    let (board, columns) = retry(etag.is_some(), || async {
        let (column, board, mut columns, access) =
            readable_column(api, &caller, &message.id).await?;
        access.writer(&caller, ProjectRole::Owner)?;
        check_etag(etag, column.version)?;
        let target = i64::from(message.position);
        if !(0..columns.len() as i64).contains(&target) {
            return Err(domain::invalid(
                "position",
                format!("must be 0 to {}", columns.len() - 1),
            ));
        }
        if target == column.position {
            return Ok((board, columns));
        }
        let mut unit = Unit::new(api, &caller);
        let moving = columns.remove(column.position as usize);
        columns.insert(target as usize, moving);
        for (position, column) in columns.iter_mut().enumerate() {
            if column.position != position as i64 {
                let old_version = column.version;
                column.position = position as i64;
                column.updated_at = unit.now;
                column.version += 1;
                unit.op(Op::UpdateColumn(column.clone(), old_version));
            }
        }
        let bumped = BoardRecord {
            updated_at: unit.now,
            version: board.version + 1,
            ..board.clone()
        };
        unit.op(Op::UpdateBoard(bumped.clone(), board.version));
        column_changed(
            &mut unit,
            &bumped,
            columns.clone(),
            ColumnChangeKind::Moved,
            column.id,
        );
        unit.commit(api).await?;
        Ok((bumped, columns))
    })
    .await?;
    Ok(MoveColumnResponse {
        board: Some(convert::board(&board, &columns)),
    })
}

pub(super) async fn delete_column(
    api: &ProjectsApi,
    request: Request<DeleteColumnRequest>,
) -> Result<DeleteColumnResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let etag = expected(&message.etag)?;
    let target: Option<ColumnId> = match message.move_tasks_to_column_id.as_str() {
        "" => None,
        text => Some(parse_id("move_tasks_to_column_id", text)?),
    };
    retry(etag.is_some(), || async {
        let (column, board, columns, access) = readable_column(api, &caller, &message.id).await?;
        access.writer(&caller, ProjectRole::Owner)?;
        check_etag(etag, column.version)?;
        if columns.len() <= 1 {
            return Err(ProjectsError::LastColumn);
        }
        let mut unit = Unit::new(api, &caller);
        if column.task_count > 0 {
            let Some(target) = target else {
                return Err(ProjectsError::ColumnNotEmpty);
            };
            let destination = columns
                .iter()
                .find(|other| other.id == target && other.id != column.id)
                .cloned()
                .ok_or_else(|| {
                    domain::invalid(
                        "move_tasks_to_column_id",
                        "must be another column of the same board",
                    )
                })?;
            // Tasks go to the bottom of the target in their order; WIP applies, workflow not.
            let (mut last, _) = api
                .store
                .neighbour_ranks(caller.organization_id, destination.id, None, None)
                .await?;
            for task in api
                .store
                .column_tasks(caller.organization_id, column.id)
                .await?
            {
                let next = rank::between(last.as_deref(), None);
                last = Some(next.clone());
                record_move(&mut unit, &task, &destination, next, None);
            }
        } else if target.is_some_and(|target| {
            target == column.id || !columns.iter().any(|other| other.id == target)
        }) {
            return Err(domain::invalid(
                "move_tasks_to_column_id",
                "must be another column of the same board",
            ));
        }
        unit.op(Op::DeleteColumn(column.id, column.version));
        let mut remaining: Vec<ColumnRecord> = columns
            .into_iter()
            .filter(|other| other.id != column.id)
            .collect();
        for (position, other) in remaining.iter_mut().enumerate() {
            if other.position != position as i64 {
                let old_version = other.version;
                other.position = position as i64;
                other.updated_at = unit.now;
                other.version += 1;
                unit.op(Op::UpdateColumn(other.clone(), old_version));
            }
        }
        let workflow = convert::workflow_of(&board).without_column(&column.id.to_string());
        let bumped = BoardRecord {
            workflow: serde_json::to_string(&workflow).unwrap_or_else(|_| "{}".into()),
            updated_at: unit.now,
            version: board.version + 1,
            ..board.clone()
        };
        unit.op(Op::UpdateBoard(bumped.clone(), board.version));
        column_changed(
            &mut unit,
            &bumped,
            remaining,
            ColumnChangeKind::Deleted,
            column.id,
        );
        unit.commit(api).await
    })
    .await?;
    Ok(DeleteColumnResponse {})
}
