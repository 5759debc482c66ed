//! The reads of [`SqlProjectsStore`]: each runs in a read transaction scoped to the tenant.
//! Lists build their SQL with bound parameters only (filters never reach the SQL text).

use mesh::paging::Key;
use sqlx::QueryBuilder;

use super::sql::SqlProjectsStore;
use super::*;
use crate::domain::filter::{Condition, TimeField};

/// A task's columns plus what is computed on read (indexes: tasks_by_parent,
/// comments_by_task, work_logs_by_task).
const TASK_SELECT: &str = "select t.id, t.organization_id, t.project_id, t.number, t.key, t.title, t.description, t.board_id, t.column_id, t.column_position, t.status_category, t.rank, t.priority, t.reporter_user_id, t.parent_task_id, t.start_at, t.due_at, t.estimate_ms, t.completed_at, t.create_request_id, t.deleted_at, t.deleted_action_id, t.created_at, t.updated_at, t.version, (select count(*) from tasks c where c.parent_task_id = t.id and c.deleted_at is null) as subtask_count, (select count(*) from comments m where m.task_id = t.id and m.deleted_at is null) as comment_count, (select cast(coalesce(sum(w.duration_ms), 0) as bigint) from work_logs w where w.task_id = t.id) as time_spent_ms, (select string_agg(a.user_id, ',' order by a.position) from task_assignees a where a.task_id = t.id) as assignee_list, (select string_agg(x.label_id, ',' order by l.name_key) from task_labels x join labels l on l.id = x.label_id where x.task_id = t.id) as label_list from tasks t where t.organization_id = ";

const COLUMN_SELECT: &str = "select c.*, (select count(*) from tasks t where t.column_id = c.id and t.deleted_at is null) as task_count from board_columns c where c.organization_id = ";

/// Escapes `%`, `_` and `\` for a `like ... escape '\'` pattern.
fn contains_pattern(word: &str) -> String {
    let mut escaped = String::from("%");
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

/// A task row with its assignees and label ids aggregated in the same statement (comma
/// separated; ids never contain commas), so reading tasks is one statement.
#[derive(sqlx::FromRow)]
struct TaskRow {
    #[sqlx(flatten)]
    task: TaskRecord,
    assignee_list: Option<String>,
    label_list: Option<String>,
}

impl TaskRow {
    fn into_record(self) -> Result<TaskRecord, sqlx::Error> {
        let mut task = self.task;
        if let Some(list) = self.assignee_list.filter(|list| !list.is_empty()) {
            task.assignee_user_ids = list
                .split(',')
                .map(|id| {
                    id.parse().map_err(|_| {
                        sqlx::Error::Decode(format!("assignee {id:?} is not a user id").into())
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(list) = self.label_list.filter(|list| !list.is_empty()) {
            task.label_ids = list.split(',').map(str::to_string).collect();
        }
        Ok(task)
    }
}

/// Runs a task query (built on [`TASK_SELECT`]) and decodes its rows.
macro_rules! fetch_tasks {
    ($tx:ident, $query:expr) => {{
        let rows: Vec<TaskRow> = $query.build_query_as().fetch_all(&mut *$tx).await?;
        rows.into_iter()
            .map(TaskRow::into_record)
            .collect::<Result<Vec<TaskRecord>, sqlx::Error>>()
    }};
}

/// One task by a condition (`$where` after the tenant), with assignees and labels.
macro_rules! one_task {
    ($self:ident, $org:expr, $where:expr, $($bind:expr),*) => {{
        let org = $org;
        mesh::read_one!(&$self.0.database, Some(org), None, |tx| {
            let mut query = QueryBuilder::new(TASK_SELECT);
            query.push_bind(org).push($where.0);
            $( query.push_bind($bind); )*
            query.push($where.1);
            Ok::<_, ProjectsError>(fetch_tasks!(tx, query)?.into_iter().next())
        })
    }};
}

/// Many tasks by a condition, with assignees and labels.
macro_rules! many_tasks {
    ($self:ident, $org:expr, $where:expr, $($bind:expr),*) => {{
        let org = $org;
        mesh::read_one!(&$self.0.database, Some(org), None, |tx| {
            let mut query = QueryBuilder::new(TASK_SELECT);
            query.push_bind(org).push($where.0);
            $( query.push_bind($bind); )*
            query.push($where.1);
            Ok::<_, ProjectsError>(fetch_tasks!(tx, query)?)
        })
    }};
}

/// A task's value of a keyset column.
fn task_key(task: &TaskRecord, column: &str) -> Key {
    match column {
        "t.board_id" => task.board_id.to_string().into(),
        "t.column_position" => task.column_position.into(),
        "t.rank" => task.rank.clone().into(),
        "t.created_at" => task.created_at.into(),
        "t.updated_at" => task.updated_at.into(),
        "t.priority" => task.priority.into(),
        "t.start_asc" => task.start_at.unwrap_or(i64::MAX).into(),
        "t.start_desc" => task.start_at.unwrap_or(-i64::MAX).into(),
        "t.due_asc" => task.due_at.unwrap_or(i64::MAX).into(),
        "t.due_desc" => task.due_at.unwrap_or(-i64::MAX).into(),
        _ => task.id.to_string().into(),
    }
}

fn push_condition<DB>(query: &mut QueryBuilder<DB>, condition: &Condition)
where
    DB: sqlx::Database,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let not = |negate: bool| if negate { "not " } else { "" };
    let eq = |negate: bool| if negate { " <> " } else { " = " };
    match condition {
        Condition::Status(category, negate) => {
            query
                .push("t.status_category")
                .push(eq(*negate))
                .push_bind(category.as_str().to_string());
        }
        Condition::Priority(compare, level) => {
            query
                .push("t.priority")
                .push(compare.sql())
                .push_bind(*level);
        }
        Condition::Assignee(Some(user), negate) => {
            query
                .push(not(*negate))
                .push("exists (select 1 from task_assignees a where a.task_id = t.id and a.user_id = ")
                .push_bind(user.clone())
                .push(")");
        }
        Condition::Assignee(None, negate) => {
            query
                .push(not(!*negate))
                .push("exists (select 1 from task_assignees a where a.task_id = t.id)");
        }
        Condition::Reporter(user, negate) => {
            query
                .push("t.reporter_user_id")
                .push(eq(*negate))
                .push_bind(user.clone());
        }
        Condition::LabelName(name, negate) => {
            query
                .push(not(*negate))
                .push("exists (select 1 from task_labels x join labels l on l.id = x.label_id where x.task_id = t.id and l.name_key = ")
                .push_bind(name.clone())
                .push(")");
        }
        Condition::LabelId(id, negate) => {
            query
                .push(not(*negate))
                .push(
                    "exists (select 1 from task_labels x where x.task_id = t.id and x.label_id = ",
                )
                .push_bind(id.clone())
                .push(")");
        }
        Condition::Board(id, negate) => {
            query
                .push("t.board_id")
                .push(eq(*negate))
                .push_bind(id.clone());
        }
        Condition::Column(id, negate) => {
            query
                .push("t.column_id")
                .push(eq(*negate))
                .push_bind(id.clone());
        }
        Condition::Parent(Some(id), false) => {
            query.push("t.parent_task_id = ").push_bind(id.clone());
        }
        Condition::Parent(Some(id), true) => {
            query
                .push("(t.parent_task_id is null or t.parent_task_id <> ")
                .push_bind(id.clone())
                .push(")");
        }
        Condition::Parent(None, negate) => {
            query.push(if *negate {
                "t.parent_task_id is not null"
            } else {
                "t.parent_task_id is null"
            });
        }
        Condition::Time(field, compare, millis) => {
            let column = match field {
                TimeField::Start => "t.start_at",
                TimeField::Due => "t.due_at",
                TimeField::Create => "t.created_at",
                TimeField::Update => "t.updated_at",
            };
            query.push(column).push(compare.sql()).push_bind(*millis);
        }
        Condition::TitleWords(words) | Condition::TextWords(words) => {
            let text = matches!(condition, Condition::TextWords(_));
            query.push("(1 = 1");
            for word in words {
                let pattern = contains_pattern(word);
                query
                    .push(" and (lower(t.title) like ")
                    .push_bind(pattern.clone())
                    .push(" escape '\\'");
                if text {
                    query
                        .push(" or lower(t.description) like ")
                        .push_bind(pattern)
                        .push(" escape '\\'");
                }
                query.push(")");
            }
            query.push(")");
        }
    }
}

/// A task list page's query: the tenant, the scope, every clause, the keyset.
pub(super) fn push_tasks_query<DB>(
    query: &mut QueryBuilder<DB>,
    org: OrganizationId,
    scope: &TaskScope,
    clauses: &[Clause],
    page: &PageRequest,
) where
    DB: sqlx::Database,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    query.push(TASK_SELECT).push_bind(org.to_string());
    match scope {
        TaskScope::Project(project) => {
            query.push(" and t.project_id = ").push_bind(*project);
        }
        TaskScope::Projects(projects) => {
            query.push(" and t.project_id in (");
            let mut list = query.separated(", ");
            for project in projects {
                list.push_bind(*project);
            }
            query.push(")");
        }
    }
    query.push(" and t.deleted_at is null");
    for clause in clauses {
        query.push(" and (");
        for (index, condition) in clause.iter().enumerate() {
            if index > 0 {
                query.push(" or ");
            }
            push_condition(query, condition);
        }
        query.push(")");
    }
    page.push_keyset(query);
}

impl SqlProjectsStore {
    pub(super) async fn read_project(
        &self,
        org: OrganizationId,
        id: ProjectId,
    ) -> StoreResult<Option<ProjectRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(sqlx::query_as("select * from projects where organization_id = $1 and id = $2 and deleted_at is null")
                .bind(org)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    pub(super) async fn read_project_access(
        &self,
        org: OrganizationId,
        id: ProjectId,
        user: UserId,
    ) -> StoreResult<Option<(ProjectRecord, Option<String>)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            project: ProjectRecord,
            member_role: Option<String>,
        }
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            let row: Option<Row> = sqlx::query_as("select p.*, (select m.role from project_members m where m.organization_id = p.organization_id and m.project_id = p.id and m.user_id = $3) as member_role from projects p where p.organization_id = $1 and p.id = $2 and p.deleted_at is null")
                .bind(org)
                .bind(id)
                .bind(user)
                .fetch_optional(&mut *tx)
                .await?;
            Ok(row.map(|row| (row.project, row.member_role)))
        })
    }

    pub(super) async fn read_project_by_key(
        &self,
        org: OrganizationId,
        key: &str,
    ) -> StoreResult<Option<ProjectRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(sqlx::query_as("select * from projects where organization_id = $1 and key = $2 and deleted_at is null")
                .bind(org)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    pub(super) async fn read_project_by_request(
        &self,
        org: OrganizationId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<ProjectRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(sqlx::query_as("select * from projects where organization_id = $1 and creator_user_id = $2 and create_request_id = $3")
                .bind(org)
                .bind(user)
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    pub(super) async fn read_projects(
        &self,
        org: OrganizationId,
        filter: &ProjectQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<ProjectRecord>> {
        mesh::read!(&self.0.database, Some(org), None, |tx| {
            let mut query = QueryBuilder::new(
                "select * from projects where deleted_at is null and organization_id = ",
            );
            query.push_bind(org).push(" and state = ").push_bind(
                if filter.archived {
                    "archived"
                } else {
                    "active"
                }
                .to_string(),
            );
            if let Some(member) = filter.member {
                query
                    .push(" and id in (select project_id from project_members where organization_id = ")
                    .push_bind(org)
                    .push(" and user_id = ")
                    .push_bind(member)
                    .push(")");
            }
            if let Some(lead) = &filter.lead {
                query.push(" and lead_user_id = ").push_bind(lead.clone());
            }
            for word in &filter.words {
                query
                    .push(" and lower(key || ' ' || name || ' ' || description) like ")
                    .push_bind(contains_pattern(word))
                    .push(" escape '\\'");
            }
            page.push_keyset(&mut query);
            let rows: Vec<ProjectRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok(page.finish(rows, |row| {
                vec![row.name.clone().into(), row.id.to_string().into()]
            }))
        })
    }

    pub(super) async fn read_readable_projects(
        &self,
        org: OrganizationId,
        member: Option<UserId>,
        include_archived: bool,
    ) -> StoreResult<Vec<ProjectId>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            let mut query = QueryBuilder::new(
                "select id from projects where deleted_at is null and organization_id = ",
            );
            query.push_bind(org);
            if !include_archived {
                query.push(" and state = 'active'");
            }
            if let Some(member) = member {
                query
                    .push(" and id in (select project_id from project_members where organization_id = ")
                    .push_bind(org)
                    .push(" and user_id = ")
                    .push_bind(member)
                    .push(")");
            }
            Ok(query.build_query_scalar().fetch_all(&mut *tx).await?)
        })
    }

    pub(super) async fn read_member(
        &self,
        org: OrganizationId,
        project: ProjectId,
        user: UserId,
    ) -> StoreResult<Option<MemberRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(sqlx::query_as("select * from project_members where organization_id = $1 and project_id = $2 and user_id = $3")
                .bind(org)
                .bind(project)
                .bind(user)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    pub(super) async fn read_members(
        &self,
        org: OrganizationId,
        project: ProjectId,
        page: &PageRequest,
    ) -> StoreResult<Page<MemberRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            let mut query =
                QueryBuilder::new("select * from project_members where organization_id = ");
            query
                .push_bind(org)
                .push(" and project_id = ")
                .push_bind(project);
            page.push_keyset(&mut query);
            let rows: Vec<MemberRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok(page.finish(rows, |row| {
                vec![row.created_at.into(), row.user_id.to_string().into()]
            }))
        })
    }

    pub(super) async fn read_owner_count(
        &self,
        org: OrganizationId,
        project: ProjectId,
    ) -> StoreResult<i64> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(sqlx::query_scalar("select count(*) from project_members where organization_id = $1 and project_id = $2 and role = 'owner'")
                .bind(org)
                .bind(project)
                .fetch_one(&mut *tx)
                .await?)
        })
    }

    pub(super) async fn read_label(
        &self,
        org: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<LabelRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(
                sqlx::query_as("select * from labels where organization_id = $1 and id = $2")
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?,
            )
        })
    }

    pub(super) async fn read_labels(
        &self,
        org: OrganizationId,
        project: ProjectId,
        page: &PageRequest,
    ) -> StoreResult<Page<LabelRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            let mut query = QueryBuilder::new("select * from labels where organization_id = ");
            query
                .push_bind(org)
                .push(" and project_id = ")
                .push_bind(project);
            page.push_keyset(&mut query);
            let rows: Vec<LabelRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok(page.finish(rows, |row| {
                vec![row.name_key.clone().into(), row.id.clone().into()]
            }))
        })
    }

    pub(super) async fn read_project_counts(
        &self,
        org: OrganizationId,
        project: ProjectId,
    ) -> StoreResult<(i64, i64, i64)> {
        mesh::read!(&self.0.database, Some(org), None, |tx| {
            let labels: i64 = sqlx::query_scalar(
                "select count(*) from labels where organization_id = $1 and project_id = $2",
            )
            .bind(org)
            .bind(project)
            .fetch_one(&mut *tx)
            .await?;
            let boards: i64 = sqlx::query_scalar(
                "select count(*) from boards where organization_id = $1 and project_id = $2",
            )
            .bind(org)
            .bind(project)
            .fetch_one(&mut *tx)
            .await?;
            let members: i64 = sqlx::query_scalar("select count(*) from project_members where organization_id = $1 and project_id = $2")
                .bind(org)
                .bind(project)
                .fetch_one(&mut *tx)
                .await?;
            Ok((labels, boards, members))
        })
    }

    pub(super) async fn read_label_by_request(
        &self,
        org: OrganizationId,
        project: ProjectId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<LabelRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(sqlx::query_as("select * from labels where organization_id = $1 and project_id = $2 and creator_user_id = $3 and request_id = $4")
                .bind(org)
                .bind(project)
                .bind(user)
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    pub(super) async fn read_board(
        &self,
        org: OrganizationId,
        id: BoardId,
    ) -> StoreResult<Option<(BoardRecord, Vec<ColumnRecord>)>> {
        mesh::read!(&self.0.database, Some(org), None, |tx| {
            let board: Option<BoardRecord> =
                sqlx::query_as("select * from boards where organization_id = $1 and id = $2")
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(board) = board else {
                return Ok(None);
            };
            let mut query = QueryBuilder::new(COLUMN_SELECT);
            query
                .push_bind(org)
                .push(" and c.board_id = ")
                .push_bind(id)
                .push(" order by c.position");
            let columns: Vec<ColumnRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok(Some((board, columns)))
        })
    }

    pub(super) async fn read_board_project(
        &self,
        org: OrganizationId,
        id: BoardId,
    ) -> StoreResult<Option<ProjectId>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            let project: Option<ProjectId> = sqlx::query_scalar(
                "select project_id from boards where organization_id = $1 and id = $2",
            )
            .bind(org)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            Ok(project)
        })
    }

    pub(super) async fn read_boards(
        &self,
        org: OrganizationId,
        project: ProjectId,
        page: &PageRequest,
    ) -> StoreResult<Page<(BoardRecord, Vec<ColumnRecord>)>> {
        mesh::read!(&self.0.database, Some(org), None, |tx| {
            let mut query = QueryBuilder::new("select * from boards where organization_id = ");
            query
                .push_bind(org)
                .push(" and project_id = ")
                .push_bind(project);
            page.push_keyset(&mut query);
            let boards: Vec<BoardRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            let page = page.finish(boards, |row| {
                vec![row.created_at.into(), row.id.to_string().into()]
            });
            let mut items = Vec::new();
            for board in page.items {
                let mut query = QueryBuilder::new(COLUMN_SELECT);
                query
                    .push_bind(org)
                    .push(" and c.board_id = ")
                    .push_bind(board.id)
                    .push(" order by c.position");
                let columns: Vec<ColumnRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
                items.push((board, columns));
            }
            Ok(Page {
                items,
                next_page_token: page.next_page_token,
            })
        })
    }

    pub(super) async fn read_board_by_request(
        &self,
        org: OrganizationId,
        project: ProjectId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<BoardRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(sqlx::query_as("select * from boards where organization_id = $1 and project_id = $2 and creator_user_id = $3 and request_id = $4")
                .bind(org)
                .bind(project)
                .bind(user)
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    pub(super) async fn read_column(
        &self,
        org: OrganizationId,
        id: ColumnId,
    ) -> StoreResult<Option<ColumnRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            let mut query = QueryBuilder::new(COLUMN_SELECT);
            query.push_bind(org).push(" and c.id = ").push_bind(id);
            Ok(query.build_query_as().fetch_optional(&mut *tx).await?)
        })
    }

    pub(super) async fn read_column_by_request(
        &self,
        org: OrganizationId,
        board: BoardId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<ColumnRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            let mut query = QueryBuilder::new(COLUMN_SELECT);
            query
                .push_bind(org)
                .push(" and c.board_id = ")
                .push_bind(board)
                .push(" and c.creator_user_id = ")
                .push_bind(user)
                .push(" and c.request_id = ")
                .push_bind(request_id.to_string());
            Ok(query.build_query_as().fetch_optional(&mut *tx).await?)
        })
    }

    pub(super) async fn read_task(
        &self,
        org: OrganizationId,
        id: TaskId,
        include_deleted: bool,
    ) -> StoreResult<Option<TaskRecord>> {
        let live = if include_deleted {
            ""
        } else {
            " and t.deleted_at is null"
        };
        one_task!(self, org, (" and t.id = ", live), id)
    }

    pub(super) async fn read_task_by_number(
        &self,
        org: OrganizationId,
        project: ProjectId,
        number: i64,
    ) -> StoreResult<Option<TaskRecord>> {
        let (first, second) = (" and t.project_id = ", " and t.number = ");
        let org_ = org;
        mesh::read_one!(&self.0.database, Some(org_), None, |tx| {
            let mut query = QueryBuilder::new(TASK_SELECT);
            query
                .push_bind(org_)
                .push(first)
                .push_bind(project)
                .push(second)
                .push_bind(number)
                .push(" and t.deleted_at is null");
            let tasks = fetch_tasks!(tx, query)?;
            Ok(tasks.into_iter().next())
        })
    }

    pub(super) async fn read_task_by_request(
        &self,
        org: OrganizationId,
        project: ProjectId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<TaskRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            let mut query = QueryBuilder::new(TASK_SELECT);
            query
                .push_bind(org)
                .push(" and t.project_id = ")
                .push_bind(project)
                .push(" and t.reporter_user_id = ")
                .push_bind(user)
                .push(" and t.create_request_id = ")
                .push_bind(request_id.to_string());
            let tasks = fetch_tasks!(tx, query)?;
            Ok(tasks.into_iter().next())
        })
    }

    pub(super) async fn read_tasks(
        &self,
        org: OrganizationId,
        scope: &TaskScope,
        clauses: &[Clause],
        page: &PageRequest,
    ) -> StoreResult<Page<TaskRecord>> {
        if let TaskScope::Projects(projects) = scope
            && projects.is_empty()
        {
            return Ok(Page {
                items: Vec::new(),
                next_page_token: String::new(),
            });
        }
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            let mut query = QueryBuilder::new("");
            push_tasks_query(&mut query, org, scope, clauses, page);
            let rows = fetch_tasks!(tx, query)?;
            let columns = page.keyset().columns;
            Ok(page.finish(rows, |row| {
                columns
                    .iter()
                    .map(|(column, _)| task_key(row, column))
                    .collect()
            }))
        })
    }

    pub(super) async fn read_descendants(
        &self,
        org: OrganizationId,
        id: TaskId,
    ) -> StoreResult<Vec<TaskRecord>> {
        // Breadth first, one level per query: depth is small in practice and each level is
        // one indexed lookup (tasks_by_parent).
        let mut found: Vec<TaskRecord> = Vec::new();
        let mut level = vec![id];
        while !level.is_empty() && found.len() < 10_000 {
            let org_ = org;
            let parents = level.clone();
            let children: Vec<TaskRecord> =
                mesh::read!(&self.0.database, Some(org_), None, |tx| {
                    let mut query = QueryBuilder::new(TASK_SELECT);
                    query
                        .push_bind(org_)
                        .push(" and t.deleted_at is null and t.parent_task_id in (");
                    let mut list = query.separated(", ");
                    for parent in &parents {
                        list.push_bind(*parent);
                    }
                    query.push(") order by t.created_at, t.id");
                    let tasks = fetch_tasks!(tx, query)?;
                    Ok::<_, ProjectsError>(tasks)
                })?;
            level = children.iter().map(|task| task.id).collect();
            found.extend(children);
        }
        Ok(found)
    }

    pub(super) async fn read_deleted_by(
        &self,
        org: OrganizationId,
        action: &str,
    ) -> StoreResult<Vec<TaskRecord>> {
        many_tasks!(
            self,
            org,
            (
                " and t.deleted_action_id = ",
                " order by t.created_at, t.id"
            ),
            action.to_string()
        )
    }

    pub(super) async fn read_column_tasks(
        &self,
        org: OrganizationId,
        column: ColumnId,
    ) -> StoreResult<Vec<TaskRecord>> {
        many_tasks!(
            self,
            org,
            (
                " and t.deleted_at is null and t.column_id = ",
                " order by t.rank, t.id"
            ),
            column
        )
    }

    pub(super) async fn read_board_tasks(
        &self,
        org: OrganizationId,
        board: BoardId,
        after: Option<(i64, String, String)>,
        limit: i64,
    ) -> StoreResult<Vec<TaskRecord>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            let mut query = QueryBuilder::new(TASK_SELECT);
            query
                .push_bind(org)
                .push(" and t.deleted_at is null and t.board_id = ")
                .push_bind(board);
            if let Some((position, rank, id)) = &after {
                query
                    .push(" and (t.column_position, t.rank, t.id) > (")
                    .push_bind(*position)
                    .push(", ")
                    .push_bind(rank.clone())
                    .push(", ")
                    .push_bind(id.clone())
                    .push(")");
            }
            query
                .push(" order by t.column_position, t.rank, t.id limit ")
                .push_bind(limit);
            let tasks = fetch_tasks!(tx, query)?;
            Ok(tasks)
        })
    }

    pub(super) async fn read_neighbour_ranks(
        &self,
        org: OrganizationId,
        column: ColumnId,
        anchor: Option<(&str, bool)>,
        exclude: Option<TaskId>,
    ) -> StoreResult<(Option<String>, Option<String>)> {
        let exclude = exclude.map(|id| id.to_string()).unwrap_or_default();
        let anchor = anchor.map(|(id, before)| (id.to_string(), before));
        mesh::read!(&self.0.database, Some(org), None, |tx| {
            let Some((anchor_id, before)) = &anchor else {
                let last: Option<String> = sqlx::query_scalar("select rank from tasks where organization_id = $1 and column_id = $2 and deleted_at is null and id <> $3 order by rank desc, id desc limit 1")
                    .bind(org)
                    .bind(column)
                    .bind(&exclude)
                    .fetch_optional(&mut *tx)
                    .await?;
                return Ok((last, None));
            };
            let anchor_rank: Option<String> = sqlx::query_scalar("select rank from tasks where organization_id = $1 and column_id = $2 and id = $3 and deleted_at is null")
                .bind(org)
                .bind(column)
                .bind(anchor_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(anchor_rank) = anchor_rank else {
                return Err(ProjectsError::AnchorTaskNotInColumn);
            };
            if *before {
                let above: Option<String> = sqlx::query_scalar("select rank from tasks where organization_id = $1 and column_id = $2 and deleted_at is null and id <> $3 and rank < $4 order by rank desc limit 1")
                    .bind(org)
                    .bind(column)
                    .bind(&exclude)
                    .bind(&anchor_rank)
                    .fetch_optional(&mut *tx)
                    .await?;
                Ok((above, Some(anchor_rank)))
            } else {
                let below: Option<String> = sqlx::query_scalar("select rank from tasks where organization_id = $1 and column_id = $2 and deleted_at is null and id <> $3 and rank > $4 order by rank limit 1")
                    .bind(org)
                    .bind(column)
                    .bind(&exclude)
                    .bind(&anchor_rank)
                    .fetch_optional(&mut *tx)
                    .await?;
                Ok((Some(anchor_rank), below))
            }
        })
    }

    pub(super) async fn read_tasks_with(
        &self,
        org: OrganizationId,
        project: ProjectId,
        label: Option<&str>,
        open_assigned_to: Option<UserId>,
    ) -> StoreResult<Vec<TaskRecord>> {
        let label = label.map(str::to_string);
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            let mut query = QueryBuilder::new(TASK_SELECT);
            query
                .push_bind(org)
                .push(" and t.deleted_at is null and t.project_id = ")
                .push_bind(project);
            if let Some(label) = &label {
                query
                    .push(" and exists (select 1 from task_labels x where x.task_id = t.id and x.label_id = ")
                    .push_bind(label.clone())
                    .push(")");
            }
            if let Some(user) = open_assigned_to {
                query
                    .push(" and t.status_category not in ('done', 'cancelled') and exists (select 1 from task_assignees a where a.task_id = t.id and a.user_id = ")
                    .push_bind(user)
                    .push(")");
            }
            let tasks = fetch_tasks!(tx, query)?;
            Ok(tasks)
        })
    }

    pub(super) async fn read_live_tasks(
        &self,
        org: OrganizationId,
        project: ProjectId,
    ) -> StoreResult<Vec<(String, String, String)>> {
        mesh::read_one!(&self.0.database, Some(org), None, |tx| {
            Ok(sqlx::query_as("select id, key, status_category from tasks where organization_id = $1 and project_id = $2 and deleted_at is null")
                .bind(org)
                .bind(project)
                .fetch_all(&mut *tx)
                .await?)
        })
    }
}
