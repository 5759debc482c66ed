//! The reads of [`SqlProjectsStore`] about what happened to tasks: comments, work logs,
//! activity, undo stacks and board feeds. Rows of deleted tasks stay hidden (joined with
//! live tasks) except in the activity feed, which keeps the history of deleted tasks.

use sqlx::QueryBuilder;

use super::sql::SqlProjectsStore;
use super::*;

fn push_simple<DB>(query: &mut QueryBuilder<DB>, prefix: &str, conditions: &[SimpleCondition])
where
    DB: sqlx::Database,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    for condition in conditions {
        match condition {
            SimpleCondition::Equals(column, value, negate) => {
                query
                    .push(" and ")
                    .push(prefix)
                    .push(*column)
                    .push(if *negate { " <> " } else { " = " })
                    .push_bind(value.clone());
            }
            SimpleCondition::Time(column, compare, millis) => {
                query
                    .push(" and ")
                    .push(prefix)
                    .push(*column)
                    .push(compare.sql())
                    .push_bind(*millis);
            }
        }
    }
}

impl SqlProjectsStore {
    pub(super) async fn read_comment(
        &self,
        org: OrganizationId,
        id: &str,
        deleted: bool,
    ) -> StoreResult<Option<CommentRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(sqlx::query_as("select c.* from comments c join tasks t on t.id = c.task_id where c.organization_id = $1 and c.id = $2 and t.deleted_at is null and ($3 or c.deleted_at is null)")
                .bind(org)
                .bind(id)
                .bind(deleted)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    pub(super) async fn read_comment_by_request(
        &self,
        org: OrganizationId,
        task: TaskId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<CommentRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(sqlx::query_as("select * from comments where organization_id = $1 and task_id = $2 and author_user_id = $3 and request_id = $4")
                .bind(org)
                .bind(task)
                .bind(user)
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    pub(super) async fn read_comments(
        &self,
        org: OrganizationId,
        task: TaskId,
        page: &PageRequest,
    ) -> StoreResult<Page<CommentRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            let mut query = QueryBuilder::new("select * from comments where organization_id = ");
            query
                .push_bind(org)
                .push(" and task_id = ")
                .push_bind(task)
                .push(" and deleted_at is null");
            page.push_keyset(&mut query);
            let rows: Vec<CommentRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok(page.finish(rows, |row| {
                vec![row.created_at.into(), row.id.clone().into()]
            }))
        })
    }

    pub(super) async fn read_work_log(
        &self,
        org: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<WorkLogRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(sqlx::query_as("select w.* from work_logs w join tasks t on t.id = w.task_id where w.organization_id = $1 and w.id = $2 and t.deleted_at is null")
                .bind(org)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    pub(super) async fn read_work_log_by_request(
        &self,
        org: OrganizationId,
        task: TaskId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<WorkLogRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(sqlx::query_as("select * from work_logs where organization_id = $1 and task_id = $2 and user_id = $3 and request_id = $4")
                .bind(org)
                .bind(task)
                .bind(user)
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    pub(super) async fn read_work_logs(
        &self,
        org: OrganizationId,
        scope: &WorkLogScope,
        conditions: &[SimpleCondition],
        page: &PageRequest,
    ) -> StoreResult<Page<WorkLogRecord>> {
        if let WorkLogScope::User(_, projects) = scope
            && projects.is_empty()
        {
            return Ok(Page {
                items: Vec::new(),
                next_page_token: String::new(),
            });
        }
        mesh::read!(&self.0.database, Some(org), None, |tx| {
            let mut query = QueryBuilder::new(
                "select w.* from work_logs w join tasks t on t.id = w.task_id where t.deleted_at is null and w.organization_id = ",
            );
            query.push_bind(org);
            match scope {
                WorkLogScope::Task(task) => {
                    query.push(" and w.task_id = ").push_bind(*task);
                }
                WorkLogScope::Project(project) => {
                    query.push(" and w.project_id = ").push_bind(*project);
                }
                WorkLogScope::User(user, projects) => {
                    query.push(" and w.user_id = ").push_bind(*user);
                    query.push(" and w.project_id in (");
                    let mut list = query.separated(", ");
                    for project in projects {
                        list.push_bind(*project);
                    }
                    query.push(")");
                }
            }
            push_simple(&mut query, "w.", conditions);
            page.push_keyset(&mut query);
            let rows: Vec<WorkLogRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            let by_start = page.keyset().columns[0].0 == "w.started_at";
            Ok(page.finish(rows, |row| {
                let time = if by_start {
                    row.started_at
                } else {
                    row.created_at
                };
                vec![time.into(), row.id.clone().into()]
            }))
        })
    }

    pub(super) async fn read_activity(
        &self,
        org: OrganizationId,
        project: ProjectId,
        task: Option<TaskId>,
        conditions: &[SimpleCondition],
        page: &PageRequest,
    ) -> StoreResult<Page<ActivityRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            let mut query =
                QueryBuilder::new("select * from task_activity where organization_id = ");
            query
                .push_bind(org)
                .push(" and project_id = ")
                .push_bind(project);
            if let Some(task) = task {
                query.push(" and task_id = ").push_bind(task);
            }
            push_simple(&mut query, "", conditions);
            page.push_keyset(&mut query);
            let rows: Vec<ActivityRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok(page.finish(rows, |row| {
                vec![row.created_at.into(), row.id.clone().into()]
            }))
        })
    }

    pub(super) async fn read_activity_entry(
        &self,
        org: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<ActivityRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(
                sqlx::query_as(
                    "select * from task_activity where organization_id = $1 and id = $2",
                )
                .bind(org)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?,
            )
        })
    }

    pub(super) async fn read_activity_by_request(
        &self,
        org: OrganizationId,
        project: ProjectId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<ActivityRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(sqlx::query_as("select * from task_activity where organization_id = $1 and project_id = $2 and actor_user_id = $3 and request_id = $4")
                .bind(org)
                .bind(project)
                .bind(user)
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    pub(super) async fn read_undo_top(
        &self,
        org: OrganizationId,
        project: ProjectId,
        user: UserId,
        stack: UndoStack,
        now: i64,
    ) -> StoreResult<(Option<UndoRecord>, i64)> {
        mesh::read!(&self.0.database, Some(org), None, |tx| {
            let top: Option<UndoRecord> = sqlx::query_as("select * from undo_actions where organization_id = $1 and project_id = $2 and user_id = $3 and stack = $4 and expires_at > $5 order by seq desc limit 1")
                .bind(org)
                .bind(project)
                .bind(user)
                .bind(stack.as_str())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            let depth: i64 = sqlx::query_scalar("select count(*) from undo_actions where organization_id = $1 and project_id = $2 and user_id = $3 and stack = $4 and expires_at > $5")
                .bind(org)
                .bind(project)
                .bind(user)
                .bind(stack.as_str())
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            Ok((top, depth))
        })
    }

    pub(super) async fn read_undo_height(
        &self,
        org: OrganizationId,
        project: ProjectId,
        user: UserId,
    ) -> StoreResult<i64> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            let height: Option<i64> = sqlx::query_scalar("select max(seq) from undo_actions where organization_id = $1 and project_id = $2 and user_id = $3")
                .bind(org)
                .bind(project)
                .bind(user)
                .fetch_one(&mut *tx)
                .await?;
            Ok(height.unwrap_or(0))
        })
    }

    pub(super) async fn read_feed_head(
        &self,
        org: OrganizationId,
        board: BoardId,
    ) -> StoreResult<(i64, Option<i64>)> {
        mesh::read!(&self.0.database, Some(org), None, |tx| {
            let head: Option<i64> = sqlx::query_scalar(
                "select feed_seq from boards where organization_id = $1 and id = $2",
            )
            .bind(org)
            .bind(board)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(head) = head else {
                return Err(ProjectsError::BoardNotFound);
            };
            let oldest: Option<i64> = sqlx::query_scalar(
                "select min(seq) from board_changes where organization_id = $1 and board_id = $2",
            )
            .bind(org)
            .bind(board)
            .fetch_one(&mut *tx)
            .await?;
            Ok((head, oldest))
        })
    }

    pub(super) async fn read_feed_since(
        &self,
        org: OrganizationId,
        board: BoardId,
        seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<FeedRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(sqlx::query_as("select seq, actor_user_id, payload, created_at from board_changes where organization_id = $1 and board_id = $2 and seq > $3 order by seq limit $4")
                .bind(org)
                .bind(board)
                .bind(seq)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?)
        })
    }
}
