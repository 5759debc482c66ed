//! The SQL implementation of [`ProjectsStore`] for SQLite and PostgreSQL: [`ProjectsStore::apply`]
//! runs units of work here (written once, compiled for both backends by `kit::change!`);
//! the reads live in `sql_reads`.

use kit::Storage;
use mesh::db::rows::is_unique_violation;

use super::*;

/// Projects' store over its (migrated) service database.
#[derive(Clone)]
pub struct SqlProjectsStore(pub Storage);

mesh::storage_errors_into!(ProjectsError);

/// Projects' migrations.
pub fn migrations() -> mesh::db::Migrations {
    mesh::migrations!(
        "_projects_migrations",
        "../../migrations/projects/sqlite",
        "../../migrations/projects/postgres"
    )
}

/// Runs a guarded statement: zero rows affected means a concurrent change won.
macro_rules! guarded {
    ($tx:ident, $query:expr) => {{
        let affected = $query.execute(&mut *$tx).await?.rows_affected();
        if affected == 0 {
            return Err(ProjectsError::Conflict);
        }
    }};
}

/// Runs an insert whose unique violation means `$taken`.
macro_rules! unique {
    ($tx:ident, $query:expr, $taken:expr) => {{
        match $query.execute(&mut *$tx).await {
            Err(error) if is_unique_violation(&error) => return Err($taken),
            Err(error) => return Err(error.into()),
            Ok(_) => {}
        }
    }};
}

const UPDATE_PROJECT: &str = "update projects set name = $3, description = $4, lead_user_id = $5, state = $6, default_board_id = $7, archived_at = $8, deleted_at = $9, updated_at = $10, version = $11 where organization_id = $1 and id = $2 and version = $12";
const UPDATE_TASK: &str = "update tasks set title = $3, description = $4, board_id = $5, column_id = $6, column_position = $7, status_category = $8, rank = $9, priority = $10, parent_task_id = $11, start_at = $12, due_at = $13, estimate_ms = $14, completed_at = $15, deleted_at = $16, deleted_action_id = $17, updated_at = $18, version = $19 where organization_id = $1 and id = $2 and version = $20";
const INSERT_TASK: &str = "insert into tasks (id, organization_id, project_id, number, key, title, description, board_id, column_id, column_position, status_category, rank, priority, reporter_user_id, parent_task_id, start_at, due_at, estimate_ms, completed_at, create_request_id, deleted_at, deleted_action_id, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)";

#[async_trait::async_trait]
impl ProjectsStore for SqlProjectsStore {
    async fn apply(
        &self,
        organization_id: OrganizationId,
        ops: Vec<Op>,
        effects: Effects,
    ) -> StoreResult<()> {
        let org = organization_id;
        // On PostgreSQL, lock the boards the unit feeds first, in id order: every unit that
        // changes a board's tasks, comments or undo stacks then takes its other row locks
        // behind the board's, so two units cannot wait for each other's rows (they deadlocked
        // when one locked the board first and another an undo stack). SQLite has one writer.
        let mut boards: Vec<BoardId> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Feed(entry) => Some(entry.board_id),
                _ => None,
            })
            .collect();
        boards.sort();
        boards.dedup();
        let lock_boards = self.0.database.is_postgres();
        kit::change!(&self.0, Some(org), None, |tx, collected| {
            if lock_boards {
                for board in &boards {
                    sqlx::query(
                        "select 1 from boards where organization_id = $1 and id = $2 for update",
                    )
                    .bind(org)
                    .bind(*board)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            for op in &ops {
                match op {
                    Op::InsertProject(p) => unique!(
                        tx,
                        sqlx::query("insert into projects (id, organization_id, key, name, description, lead_user_id, state, default_board_id, creator_user_id, create_request_id, task_seq, archived_at, deleted_at, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)")
                            .bind(p.id)
                            .bind(org)
                            .bind(&p.key)
                            .bind(&p.name)
                            .bind(&p.description)
                            .bind(p.lead_user_id)
                            .bind(&p.state)
                            .bind(p.default_board_id)
                            .bind(p.creator_user_id)
                            .bind(&p.create_request_id)
                            .bind(p.task_seq)
                            .bind(p.archived_at)
                            .bind(p.deleted_at)
                            .bind(p.created_at)
                            .bind(p.updated_at)
                            .bind(p.version),
                        ProjectsError::ProjectKeyTaken
                    ),
                    Op::UpdateProject(p, expected) => guarded!(
                        tx,
                        sqlx::query(UPDATE_PROJECT)
                            .bind(org)
                            .bind(p.id)
                            .bind(&p.name)
                            .bind(&p.description)
                            .bind(p.lead_user_id)
                            .bind(&p.state)
                            .bind(p.default_board_id)
                            .bind(p.archived_at)
                            .bind(p.deleted_at)
                            .bind(p.updated_at)
                            .bind(p.version)
                            .bind(*expected)
                    ),
                    Op::InsertMember(m) => unique!(
                        tx,
                        sqlx::query("insert into project_members (organization_id, project_id, user_id, role, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $6, $7)")
                            .bind(org)
                            .bind(m.project_id)
                            .bind(m.user_id)
                            .bind(&m.role)
                            .bind(m.created_at)
                            .bind(m.updated_at)
                            .bind(m.version),
                        ProjectsError::ProjectMemberExists
                    ),
                    Op::UpdateMember(m, expected) => guarded!(
                        tx,
                        sqlx::query("update project_members set role = $4, updated_at = $5, version = $6 where organization_id = $1 and project_id = $2 and user_id = $3 and version = $7")
                            .bind(org)
                            .bind(m.project_id)
                            .bind(m.user_id)
                            .bind(&m.role)
                            .bind(m.updated_at)
                            .bind(m.version)
                            .bind(*expected)
                    ),
                    Op::DeleteMember(project, user, expected) => guarded!(
                        tx,
                        sqlx::query("delete from project_members where organization_id = $1 and project_id = $2 and user_id = $3 and version = $4")
                            .bind(org)
                            .bind(*project)
                            .bind(*user)
                            .bind(*expected)
                    ),
                    Op::InsertLabel(l) => unique!(
                        tx,
                        sqlx::query("insert into labels (id, organization_id, project_id, name, name_key, description, color, creator_user_id, request_id, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
                            .bind(&l.id)
                            .bind(org)
                            .bind(l.project_id)
                            .bind(&l.name)
                            .bind(&l.name_key)
                            .bind(&l.description)
                            .bind(&l.color)
                            .bind(l.creator_user_id)
                            .bind(&l.request_id)
                            .bind(l.created_at)
                            .bind(l.updated_at)
                            .bind(l.version),
                        ProjectsError::LabelNameTaken
                    ),
                    Op::UpdateLabel(l, expected) => {
                        let updated = sqlx::query("update labels set name = $3, name_key = $4, description = $5, color = $6, updated_at = $7, version = $8 where organization_id = $1 and id = $2 and version = $9")
                            .bind(org)
                            .bind(&l.id)
                            .bind(&l.name)
                            .bind(&l.name_key)
                            .bind(&l.description)
                            .bind(&l.color)
                            .bind(l.updated_at)
                            .bind(l.version)
                            .bind(*expected)
                            .execute(&mut *tx)
                            .await;
                        match updated {
                            Err(error) if is_unique_violation(&error) => {
                                return Err(ProjectsError::LabelNameTaken);
                            }
                            Err(error) => return Err(error.into()),
                            Ok(done) if done.rows_affected() == 0 => {
                                return Err(ProjectsError::Conflict);
                            }
                            Ok(_) => {}
                        }
                    }
                    Op::DeleteLabel(id, expected) => {
                        sqlx::query("delete from task_labels where organization_id = $1 and label_id = $2")
                            .bind(org)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        guarded!(
                            tx,
                            sqlx::query("delete from labels where organization_id = $1 and id = $2 and version = $3")
                                .bind(org)
                                .bind(id)
                                .bind(*expected)
                        );
                    }
                    Op::InsertBoard(b) => unique!(
                        tx,
                        sqlx::query("insert into boards (id, organization_id, project_id, name, description, workflow, feed_seq, creator_user_id, request_id, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
                            .bind(b.id)
                            .bind(org)
                            .bind(b.project_id)
                            .bind(&b.name)
                            .bind(&b.description)
                            .bind(&b.workflow)
                            .bind(b.feed_seq)
                            .bind(b.creator_user_id)
                            .bind(&b.request_id)
                            .bind(b.created_at)
                            .bind(b.updated_at)
                            .bind(b.version),
                        ProjectsError::Conflict
                    ),
                    Op::UpdateBoard(b, expected) => guarded!(
                        tx,
                        sqlx::query("update boards set name = $3, description = $4, workflow = $5, updated_at = $6, version = $7 where organization_id = $1 and id = $2 and version = $8")
                            .bind(org)
                            .bind(b.id)
                            .bind(&b.name)
                            .bind(&b.description)
                            .bind(&b.workflow)
                            .bind(b.updated_at)
                            .bind(b.version)
                            .bind(*expected)
                    ),
                    Op::DeleteBoard(id, expected) => {
                        let tasks: i64 = sqlx::query_scalar("select count(*) from tasks where organization_id = $1 and board_id = $2 and deleted_at is null")
                            .bind(org)
                            .bind(*id)
                            .fetch_one(&mut *tx)
                            .await?;
                        if tasks > 0 {
                            return Err(ProjectsError::BoardNotEmpty);
                        }
                        sqlx::query("delete from board_changes where organization_id = $1 and board_id = $2")
                            .bind(org)
                            .bind(*id)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("delete from board_columns where organization_id = $1 and board_id = $2")
                            .bind(org)
                            .bind(*id)
                            .execute(&mut *tx)
                            .await?;
                        guarded!(
                            tx,
                            sqlx::query("delete from boards where organization_id = $1 and id = $2 and version = $3")
                                .bind(org)
                                .bind(*id)
                                .bind(*expected)
                        );
                    }
                    Op::InsertColumn(c) => unique!(
                        tx,
                        sqlx::query("insert into board_columns (id, organization_id, project_id, board_id, name, name_key, position, wip_limit, status_category, creator_user_id, request_id, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)")
                            .bind(c.id)
                            .bind(org)
                            .bind(c.project_id)
                            .bind(c.board_id)
                            .bind(&c.name)
                            .bind(&c.name_key)
                            .bind(c.position)
                            .bind(c.wip_limit)
                            .bind(&c.status_category)
                            .bind(c.creator_user_id)
                            .bind(&c.request_id)
                            .bind(c.created_at)
                            .bind(c.updated_at)
                            .bind(c.version),
                        ProjectsError::ColumnNameTaken
                    ),
                    Op::UpdateColumn(c, expected) => {
                        let updated = sqlx::query("update board_columns set name = $3, name_key = $4, position = $5, wip_limit = $6, status_category = $7, updated_at = $8, version = $9 where organization_id = $1 and id = $2 and version = $10")
                            .bind(org)
                            .bind(c.id)
                            .bind(&c.name)
                            .bind(&c.name_key)
                            .bind(c.position)
                            .bind(c.wip_limit)
                            .bind(&c.status_category)
                            .bind(c.updated_at)
                            .bind(c.version)
                            .bind(*expected)
                            .execute(&mut *tx)
                            .await;
                        match updated {
                            Err(error) if is_unique_violation(&error) => {
                                return Err(ProjectsError::ColumnNameTaken);
                            }
                            Err(error) => return Err(error.into()),
                            Ok(done) if done.rows_affected() == 0 => {
                                return Err(ProjectsError::Conflict);
                            }
                            Ok(_) => {}
                        }
                        // Tasks carry their column's position (board order) and status.
                        sqlx::query("update tasks set column_position = $3, status_category = $4 where organization_id = $1 and column_id = $2 and (column_position <> $3 or status_category <> $4)")
                            .bind(org)
                            .bind(c.id)
                            .bind(c.position)
                            .bind(&c.status_category)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Op::DeleteColumn(id, expected) => {
                        let tasks: i64 = sqlx::query_scalar("select count(*) from tasks where organization_id = $1 and column_id = $2 and deleted_at is null")
                            .bind(org)
                            .bind(*id)
                            .fetch_one(&mut *tx)
                            .await?;
                        if tasks > 0 {
                            return Err(ProjectsError::ColumnNotEmpty);
                        }
                        guarded!(
                            tx,
                            sqlx::query("delete from board_columns where organization_id = $1 and id = $2 and version = $3")
                                .bind(org)
                                .bind(*id)
                                .bind(*expected)
                        );
                    }
                    Op::TakeTaskNumber(project, number) => guarded!(
                        tx,
                        sqlx::query("update projects set task_seq = $3 where organization_id = $1 and id = $2 and task_seq = $4")
                            .bind(org)
                            .bind(*project)
                            .bind(*number)
                            .bind(*number - 1)
                    ),
                    Op::InsertTask(t) => unique!(
                        tx,
                        sqlx::query(INSERT_TASK)
                            .bind(t.id)
                            .bind(org)
                            .bind(t.project_id)
                            .bind(t.number)
                            .bind(&t.key)
                            .bind(&t.title)
                            .bind(&t.description)
                            .bind(t.board_id)
                            .bind(t.column_id)
                            .bind(t.column_position)
                            .bind(&t.status_category)
                            .bind(&t.rank)
                            .bind(t.priority)
                            .bind(t.reporter_user_id)
                            .bind(t.parent_task_id)
                            .bind(t.start_at)
                            .bind(t.due_at)
                            .bind(t.estimate_ms)
                            .bind(t.completed_at)
                            .bind(&t.create_request_id)
                            .bind(t.deleted_at)
                            .bind(&t.deleted_action_id)
                            .bind(t.created_at)
                            .bind(t.updated_at)
                            .bind(t.version),
                        ProjectsError::Conflict
                    ),
                    Op::UpdateTask(t, expected) => guarded!(
                        tx,
                        sqlx::query(UPDATE_TASK)
                            .bind(org)
                            .bind(t.id)
                            .bind(&t.title)
                            .bind(&t.description)
                            .bind(t.board_id)
                            .bind(t.column_id)
                            .bind(t.column_position)
                            .bind(&t.status_category)
                            .bind(&t.rank)
                            .bind(t.priority)
                            .bind(t.parent_task_id)
                            .bind(t.start_at)
                            .bind(t.due_at)
                            .bind(t.estimate_ms)
                            .bind(t.completed_at)
                            .bind(t.deleted_at)
                            .bind(&t.deleted_action_id)
                            .bind(t.updated_at)
                            .bind(t.version)
                            .bind(*expected)
                    ),
                    Op::SetAssignees(task, users) => {
                        sqlx::query("delete from task_assignees where organization_id = $1 and task_id = $2")
                            .bind(org)
                            .bind(*task)
                            .execute(&mut *tx)
                            .await?;
                        for (position, user) in users.iter().enumerate() {
                            sqlx::query("insert into task_assignees (organization_id, task_id, user_id, position) values ($1, $2, $3, $4)")
                                .bind(org)
                                .bind(*task)
                                .bind(*user)
                                .bind(position as i64)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    Op::SetLabels(task, labels) => {
                        sqlx::query("delete from task_labels where organization_id = $1 and task_id = $2")
                            .bind(org)
                            .bind(*task)
                            .execute(&mut *tx)
                            .await?;
                        for label in labels {
                            sqlx::query("insert into task_labels (organization_id, task_id, label_id) values ($1, $2, $3)")
                                .bind(org)
                                .bind(*task)
                                .bind(label)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    Op::CheckWip(column) => {
                        // The lock serializes arrivals per column, so two moves cannot both
                        // take the last place.
                        sqlx::query("update board_columns set version = version where organization_id = $1 and id = $2")
                            .bind(org)
                            .bind(column.id)
                            .execute(&mut *tx)
                            .await?;
                        let limit: Option<i64> = sqlx::query_scalar("select wip_limit from board_columns where organization_id = $1 and id = $2")
                            .bind(org)
                            .bind(column.id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let Some(limit) = limit else {
                            return Err(ProjectsError::Conflict);
                        };
                        if limit > 0 {
                            let count: i64 = sqlx::query_scalar("select count(*) from tasks where organization_id = $1 and column_id = $2 and deleted_at is null")
                                .bind(org)
                                .bind(column.id)
                                .fetch_one(&mut *tx)
                                .await?;
                            if count > limit {
                                return Err(ProjectsError::WipLimitExceeded {
                                    column_id: column.id.to_string(),
                                    name: column.name.clone(),
                                    wip_limit: limit,
                                });
                            }
                        }
                    }
                    Op::PurgeTasks(project, before) => {
                        sqlx::query("delete from tasks where organization_id = $1 and project_id = $2 and deleted_at < $3")
                            .bind(org)
                            .bind(*project)
                            .bind(*before)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Op::InsertComment(c) => unique!(
                        tx,
                        sqlx::query("insert into comments (id, organization_id, project_id, task_id, author_user_id, body, mentioned_user_ids, request_id, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
                            .bind(&c.id)
                            .bind(org)
                            .bind(c.project_id)
                            .bind(c.task_id)
                            .bind(c.author_user_id)
                            .bind(&c.body)
                            .bind(&c.mentioned_user_ids)
                            .bind(&c.request_id)
                            .bind(c.created_at)
                            .bind(c.updated_at)
                            .bind(c.version),
                        ProjectsError::Conflict
                    ),
                    Op::UpdateComment(c, expected) => guarded!(
                        tx,
                        sqlx::query("update comments set body = $3, mentioned_user_ids = $4, updated_at = $5, version = $6, deleted_at = $8 where organization_id = $1 and id = $2 and version = $7")
                            .bind(org)
                            .bind(&c.id)
                            .bind(&c.body)
                            .bind(&c.mentioned_user_ids)
                            .bind(c.updated_at)
                            .bind(c.version)
                            .bind(*expected)
                            .bind(c.deleted_at)
                    ),
                    Op::PurgeComments(project, before) => {
                        sqlx::query("delete from comments where organization_id = $1 and project_id = $2 and deleted_at < $3")
                            .bind(org)
                            .bind(*project)
                            .bind(*before)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Op::InsertWorkLog(w) => unique!(
                        tx,
                        sqlx::query("insert into work_logs (id, organization_id, project_id, task_id, task_key, user_id, duration_ms, started_at, description, request_id, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
                            .bind(&w.id)
                            .bind(org)
                            .bind(w.project_id)
                            .bind(w.task_id)
                            .bind(&w.task_key)
                            .bind(w.user_id)
                            .bind(w.duration_ms)
                            .bind(w.started_at)
                            .bind(&w.description)
                            .bind(&w.request_id)
                            .bind(w.created_at),
                        ProjectsError::Conflict
                    ),
                    Op::DeleteWorkLog(id) => guarded!(
                        tx,
                        sqlx::query("delete from work_logs where organization_id = $1 and id = $2")
                            .bind(org)
                            .bind(id)
                    ),
                    Op::InsertActivity(a) => unique!(
                        tx,
                        sqlx::query("insert into task_activity (id, organization_id, project_id, task_id, task_key, actor_user_id, kind, field_changes, comment_id, work_log_id, undo_of_activity_id, redo_of_activity_id, request_id, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)")
                            .bind(&a.id)
                            .bind(org)
                            .bind(a.project_id)
                            .bind(a.task_id)
                            .bind(&a.task_key)
                            .bind(a.actor_user_id)
                            .bind(&a.kind)
                            .bind(&a.field_changes)
                            .bind(&a.comment_id)
                            .bind(&a.work_log_id)
                            .bind(&a.undo_of_activity_id)
                            .bind(&a.redo_of_activity_id)
                            .bind(&a.request_id)
                            .bind(a.created_at),
                        ProjectsError::Conflict
                    ),
                    Op::PushUndo(u) => {
                        // One statement clears the redo stack, expired entries and what
                        // falls off the bottom of the undo stack (the new entry's seq is
                        // above the cut, so deleting before inserting is the same).
                        sqlx::query("delete from undo_actions where organization_id = $1 and project_id = $2 and user_id = $3 and (stack = 'redo' or expires_at <= $4 or (stack = 'undo' and seq <= $5))")
                            .bind(org)
                            .bind(u.project_id)
                            .bind(u.user_id)
                            .bind(u.created_at)
                            .bind(u.seq - crate::domain::UNDO_DEPTH)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("insert into undo_actions (activity_id, organization_id, project_id, user_id, stack, kind, task_id, payload, seq, created_at, expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
                            .bind(&u.activity_id)
                            .bind(org)
                            .bind(u.project_id)
                            .bind(u.user_id)
                            .bind(&u.stack)
                            .bind(&u.kind)
                            .bind(u.task_id)
                            .bind(&u.payload)
                            .bind(u.seq)
                            .bind(u.created_at)
                            .bind(u.expires_at)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Op::MoveUndo(activity, stack, seq) => guarded!(
                        tx,
                        sqlx::query("update undo_actions set stack = $3, seq = $4 where organization_id = $1 and activity_id = $2")
                            .bind(org)
                            .bind(activity)
                            .bind(stack.as_str())
                            .bind(*seq)
                    ),
                    Op::DropUndo(activity) => {
                        sqlx::query("delete from undo_actions where organization_id = $1 and activity_id = $2")
                            .bind(org)
                            .bind(activity)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Op::Feed(entry) => {
                        // Locking the board row orders its feed: positions are gapless and in
                        // commit order.
                        let seq: Option<i64> = sqlx::query_scalar("update boards set feed_seq = feed_seq + 1 where organization_id = $1 and id = $2 returning feed_seq")
                            .bind(org)
                            .bind(entry.board_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let Some(seq) = seq else {
                            // The board is gone (deleted in this unit): nobody watches it.
                            continue;
                        };
                        sqlx::query("insert into board_changes (organization_id, board_id, seq, actor_user_id, payload, created_at) values ($1, $2, $3, $4, $5, $6)")
                            .bind(org)
                            .bind(entry.board_id)
                            .bind(seq)
                            .bind(&entry.actor_user_id)
                            .bind(&entry.payload)
                            .bind(entry.created_at)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("delete from board_changes where organization_id = $1 and board_id = $2 and created_at < $3 and seq < $4")
                            .bind(org)
                            .bind(entry.board_id)
                            .bind(entry.retain_after)
                            .bind(seq)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            collected.extend(effects);
            Ok(())
        })
    }

    async fn project(
        &self,
        o: OrganizationId,
        id: ProjectId,
    ) -> StoreResult<Option<ProjectRecord>> {
        self.read_project(o, id).await
    }
    async fn project_by_key(
        &self,
        o: OrganizationId,
        key: &str,
    ) -> StoreResult<Option<ProjectRecord>> {
        self.read_project_by_key(o, key).await
    }
    async fn project_by_request(
        &self,
        o: OrganizationId,
        u: UserId,
        r: &str,
    ) -> StoreResult<Option<ProjectRecord>> {
        self.read_project_by_request(o, u, r).await
    }
    async fn projects(
        &self,
        o: OrganizationId,
        q: &ProjectQuery,
        p: &PageRequest,
    ) -> StoreResult<Page<ProjectRecord>> {
        self.read_projects(o, q, p).await
    }
    async fn readable_projects(
        &self,
        o: OrganizationId,
        m: Option<UserId>,
        a: bool,
    ) -> StoreResult<Vec<ProjectId>> {
        self.read_readable_projects(o, m, a).await
    }
    async fn project_access(
        &self,
        o: OrganizationId,
        id: ProjectId,
        u: UserId,
    ) -> StoreResult<Option<(ProjectRecord, Option<String>)>> {
        self.read_project_access(o, id, u).await
    }
    async fn member(
        &self,
        o: OrganizationId,
        p: ProjectId,
        u: UserId,
    ) -> StoreResult<Option<MemberRecord>> {
        self.read_member(o, p, u).await
    }
    async fn members(
        &self,
        o: OrganizationId,
        p: ProjectId,
        page: &PageRequest,
    ) -> StoreResult<Page<MemberRecord>> {
        self.read_members(o, p, page).await
    }
    async fn owner_count(&self, o: OrganizationId, p: ProjectId) -> StoreResult<i64> {
        self.read_owner_count(o, p).await
    }
    async fn label(&self, o: OrganizationId, id: &str) -> StoreResult<Option<LabelRecord>> {
        self.read_label(o, id).await
    }
    async fn labels(
        &self,
        o: OrganizationId,
        p: ProjectId,
        page: &PageRequest,
    ) -> StoreResult<Page<LabelRecord>> {
        self.read_labels(o, p, page).await
    }
    async fn project_counts(
        &self,
        o: OrganizationId,
        p: ProjectId,
    ) -> StoreResult<(i64, i64, i64)> {
        self.read_project_counts(o, p).await
    }
    async fn label_by_request(
        &self,
        o: OrganizationId,
        p: ProjectId,
        u: UserId,
        r: &str,
    ) -> StoreResult<Option<LabelRecord>> {
        self.read_label_by_request(o, p, u, r).await
    }
    async fn board(
        &self,
        o: OrganizationId,
        id: BoardId,
    ) -> StoreResult<Option<(BoardRecord, Vec<ColumnRecord>)>> {
        self.read_board(o, id).await
    }
    async fn board_project(
        &self,
        o: OrganizationId,
        id: BoardId,
    ) -> StoreResult<Option<ProjectId>> {
        self.read_board_project(o, id).await
    }
    async fn boards(
        &self,
        o: OrganizationId,
        p: ProjectId,
        page: &PageRequest,
    ) -> StoreResult<Page<(BoardRecord, Vec<ColumnRecord>)>> {
        self.read_boards(o, p, page).await
    }
    async fn board_by_request(
        &self,
        o: OrganizationId,
        p: ProjectId,
        u: UserId,
        r: &str,
    ) -> StoreResult<Option<BoardRecord>> {
        self.read_board_by_request(o, p, u, r).await
    }
    async fn column(&self, o: OrganizationId, id: ColumnId) -> StoreResult<Option<ColumnRecord>> {
        self.read_column(o, id).await
    }
    async fn column_by_request(
        &self,
        o: OrganizationId,
        b: BoardId,
        u: UserId,
        r: &str,
    ) -> StoreResult<Option<ColumnRecord>> {
        self.read_column_by_request(o, b, u, r).await
    }
    async fn task(
        &self,
        o: OrganizationId,
        id: TaskId,
        d: bool,
    ) -> StoreResult<Option<TaskRecord>> {
        self.read_task(o, id, d).await
    }
    async fn task_by_number(
        &self,
        o: OrganizationId,
        p: ProjectId,
        n: i64,
    ) -> StoreResult<Option<TaskRecord>> {
        self.read_task_by_number(o, p, n).await
    }
    async fn task_by_request(
        &self,
        o: OrganizationId,
        p: ProjectId,
        u: UserId,
        r: &str,
    ) -> StoreResult<Option<TaskRecord>> {
        self.read_task_by_request(o, p, u, r).await
    }
    async fn tasks(
        &self,
        o: OrganizationId,
        s: &TaskScope,
        c: &[Clause],
        p: &PageRequest,
    ) -> StoreResult<Page<TaskRecord>> {
        self.read_tasks(o, s, c, p).await
    }
    async fn descendants(&self, o: OrganizationId, id: TaskId) -> StoreResult<Vec<TaskRecord>> {
        self.read_descendants(o, id).await
    }
    async fn deleted_by(&self, o: OrganizationId, a: &str) -> StoreResult<Vec<TaskRecord>> {
        self.read_deleted_by(o, a).await
    }
    async fn column_tasks(&self, o: OrganizationId, c: ColumnId) -> StoreResult<Vec<TaskRecord>> {
        self.read_column_tasks(o, c).await
    }
    async fn board_tasks(
        &self,
        o: OrganizationId,
        b: BoardId,
        a: Option<(i64, String, String)>,
        l: i64,
    ) -> StoreResult<Vec<TaskRecord>> {
        self.read_board_tasks(o, b, a, l).await
    }
    async fn neighbour_ranks(
        &self,
        o: OrganizationId,
        c: ColumnId,
        a: Option<(&str, bool)>,
        e: Option<TaskId>,
    ) -> StoreResult<(Option<String>, Option<String>)> {
        self.read_neighbour_ranks(o, c, a, e).await
    }
    async fn tasks_with(
        &self,
        o: OrganizationId,
        p: ProjectId,
        l: Option<&str>,
        u: Option<UserId>,
    ) -> StoreResult<Vec<TaskRecord>> {
        self.read_tasks_with(o, p, l, u).await
    }
    async fn live_tasks(
        &self,
        o: OrganizationId,
        p: ProjectId,
    ) -> StoreResult<Vec<(String, String, String)>> {
        self.read_live_tasks(o, p).await
    }
    async fn comment(
        &self,
        o: OrganizationId,
        id: &str,
        deleted: bool,
    ) -> StoreResult<Option<CommentRecord>> {
        self.read_comment(o, id, deleted).await
    }
    async fn comment_by_request(
        &self,
        o: OrganizationId,
        t: TaskId,
        u: UserId,
        r: &str,
    ) -> StoreResult<Option<CommentRecord>> {
        self.read_comment_by_request(o, t, u, r).await
    }
    async fn comments(
        &self,
        o: OrganizationId,
        t: TaskId,
        p: &PageRequest,
    ) -> StoreResult<Page<CommentRecord>> {
        self.read_comments(o, t, p).await
    }
    async fn work_log(&self, o: OrganizationId, id: &str) -> StoreResult<Option<WorkLogRecord>> {
        self.read_work_log(o, id).await
    }
    async fn work_log_by_request(
        &self,
        o: OrganizationId,
        t: TaskId,
        u: UserId,
        r: &str,
    ) -> StoreResult<Option<WorkLogRecord>> {
        self.read_work_log_by_request(o, t, u, r).await
    }
    async fn work_logs(
        &self,
        o: OrganizationId,
        s: &WorkLogScope,
        c: &[SimpleCondition],
        p: &PageRequest,
    ) -> StoreResult<Page<WorkLogRecord>> {
        self.read_work_logs(o, s, c, p).await
    }
    async fn activity(
        &self,
        o: OrganizationId,
        p: ProjectId,
        t: Option<TaskId>,
        c: &[SimpleCondition],
        page: &PageRequest,
    ) -> StoreResult<Page<ActivityRecord>> {
        self.read_activity(o, p, t, c, page).await
    }
    async fn activity_entry(
        &self,
        o: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<ActivityRecord>> {
        self.read_activity_entry(o, id).await
    }
    async fn activity_by_request(
        &self,
        o: OrganizationId,
        p: ProjectId,
        u: UserId,
        r: &str,
    ) -> StoreResult<Option<ActivityRecord>> {
        self.read_activity_by_request(o, p, u, r).await
    }
    async fn undo_top(
        &self,
        o: OrganizationId,
        p: ProjectId,
        u: UserId,
        s: UndoStack,
        now: i64,
    ) -> StoreResult<(Option<UndoRecord>, i64)> {
        self.read_undo_top(o, p, u, s, now).await
    }
    async fn undo_height(&self, o: OrganizationId, p: ProjectId, u: UserId) -> StoreResult<i64> {
        self.read_undo_height(o, p, u).await
    }
    async fn seed_tasks(
        &self,
        o: OrganizationId,
        c: &ColumnRecord,
        r: UserId,
        n: i64,
        from: i64,
    ) -> StoreResult<()> {
        self.bulk_seed_tasks(o, c, r, n, from).await
    }
    async fn feed_head(&self, o: OrganizationId, b: BoardId) -> StoreResult<(i64, Option<i64>)> {
        self.read_feed_head(o, b).await
    }
    async fn feed_since(
        &self,
        o: OrganizationId,
        b: BoardId,
        s: i64,
        l: i64,
    ) -> StoreResult<Vec<FeedRecord>> {
        self.read_feed_since(o, b, s, l).await
    }
}
