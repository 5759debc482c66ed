//! [`AnalyticsStore`] on SQLite and PostgreSQL, written once for both: every read is one
//! organization's, in its row-level-security scope, and aggregates in SQL.

use mesh::ids::{OrganizationId, UserId};
use sqlx::QueryBuilder;

use super::{
    AnalyticsStore, Dashboard, LinkTraffic, ProjectRecord, ProjectScope, StoreResult, TaskFlow,
    Traffic,
};
use crate::domain::AnalyticsError;
use crate::domain::metrics::{Completion, Slot};

mesh::storage_errors_into!(AnalyticsError);

/// The analytics database as the service sees it.
pub struct SqlAnalyticsStore(pub kit::Storage);

/// Analytics' migrations (its tables) for either backend.
pub fn migrations() -> mesh::db::Migrations {
    mesh::migrations!(
        "_analytics_migrations",
        "../../migrations/analytics/sqlite",
        "../../migrations/analytics/postgres"
    )
}

const SLOT_SUMS: &str = "cast(coalesce(sum(created), 0) as bigint), cast(coalesce(sum(completed), 0) as bigint), cast(coalesce(sum(reopened), 0) as bigint), cast(coalesce(sum(comments), 0) as bigint), cast(coalesce(sum(work_logged_ms), 0) as bigint), cast(coalesce(sum(uploads), 0) as bigint), cast(coalesce(sum(backlog_delta), 0) as bigint), cast(coalesce(sum(todo_delta), 0) as bigint), cast(coalesce(sum(in_progress_delta), 0) as bigint)";

type SlotRow = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);

fn slot_of(row: SlotRow) -> Slot {
    let (
        slot,
        created,
        completed,
        reopened,
        comments,
        work_logged_ms,
        uploads,
        backlog_delta,
        todo_delta,
        in_progress_delta,
    ) = row;
    Slot {
        slot,
        created,
        completed,
        reopened,
        comments,
        work_logged_ms,
        uploads,
        backlog_delta,
        todo_delta,
        in_progress_delta,
    }
}

fn push_scope<DB>(query: &mut QueryBuilder<DB>, scope: &ProjectScope)
where
    DB: sqlx::Database,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if let ProjectScope::Only(projects) = scope {
        query.push(" and project_id in (");
        let mut list = query.separated(", ");
        for project in projects {
            list.push_bind(project.clone());
        }
        query.push(")");
    }
}

/// `select <value>, visits, uniques from link_visits where <range, link, bot = false> group by
/// <value> order by visits desc, value limit <limit>`.
macro_rules! breakdown {
    ($tx:expr, $column:literal, $organization:expr, $link:expr, $start:expr, $end:expr, $limit:expr) => {{
        let mut query = QueryBuilder::new(concat!(
            "select ",
            $column,
            " as value, count(*) as visits, count(distinct ",
            "cast(day as text) || ':' || visitor_hash) as uniques from link_visits where organization_id = "
        ));
        query.push_bind($organization.to_string());
        query.push(" and day >= ").push_bind($start).push(" and day < ").push_bind($end);
        query.push(" and not bot");
        if let Some(link) = $link {
            query.push(" and link_id = ").push_bind(link.to_string());
        }
        query.push(concat!(" group by ", $column, " order by visits desc, value limit "));
        query.push_bind($limit);
        let rows: Vec<Traffic> = query.build_query_as().fetch_all(&mut *$tx).await?;
        rows
    }};
}

#[async_trait::async_trait]
impl AnalyticsStore for SqlAnalyticsStore {
    async fn task_flow(
        &self,
        organization_id: OrganizationId,
        scope: &ProjectScope,
        start: i64,
        end: i64,
    ) -> StoreResult<TaskFlow> {
        if matches!(scope, ProjectScope::Only(projects) if projects.is_empty()) {
            return Ok(TaskFlow::default());
        }
        let first_slot = crate::domain::slot(start);
        mesh::transaction!(&self.0.database, Some(organization_id), None, |tx| {
            let mut query = QueryBuilder::new(format!(
                "select cast(0 as bigint), {SLOT_SUMS} from task_slots where organization_id = "
            ));
            query
                .push_bind(organization_id.to_string())
                .push(" and slot < ")
                .push_bind(first_slot);
            push_scope(&mut query, scope);
            let base: SlotRow = query.build_query_as().fetch_one(&mut *tx).await?;
            let mut query = QueryBuilder::new(format!(
                "select slot, {SLOT_SUMS} from task_slots where organization_id = "
            ));
            query
                .push_bind(organization_id.to_string())
                .push(" and slot >= ")
                .push_bind(first_slot)
                .push(" and slot < ")
                .push_bind(end);
            push_scope(&mut query, scope);
            query.push(" group by slot order by slot");
            let slots: Vec<SlotRow> = query.build_query_as().fetch_all(&mut *tx).await?;
            let mut query = QueryBuilder::new(
                "select completed_at, lead_ms, cycle_ms from task_completions where organization_id = ",
            );
            query
                .push_bind(organization_id.to_string())
                .push(" and completed_at >= ")
                .push_bind(start)
                .push(" and completed_at < ")
                .push_bind(end);
            push_scope(&mut query, scope);
            let completions: Vec<(i64, i64, Option<i64>)> =
                query.build_query_as().fetch_all(&mut *tx).await?;
            Ok::<_, AnalyticsError>(TaskFlow {
                base: slot_of(base),
                slots: slots.into_iter().map(slot_of).collect(),
                completions: completions
                    .into_iter()
                    .map(|(at, lead_ms, cycle_ms)| Completion {
                        at,
                        lead_ms,
                        cycle_ms,
                    })
                    .collect(),
            })
        })
    }

    async fn project(
        &self,
        organization_id: OrganizationId,
        project_id: &str,
    ) -> StoreResult<Option<ProjectRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, AnalyticsError>(sqlx::query_as("select project_id, archived, deleted from projects where organization_id = $1 and project_id = $2")
                .bind(organization_id)
                .bind(project_id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    async fn member_projects(
        &self,
        organization_id: OrganizationId,
        user: UserId,
    ) -> StoreResult<Vec<String>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, AnalyticsError>(sqlx::query_scalar("select project_id from project_members where organization_id = $1 and user_id = $2 order by project_id")
                .bind(organization_id)
                .bind(user)
                .fetch_all(&mut *tx)
                .await?)
        })
    }

    async fn link_exists(
        &self,
        organization_id: OrganizationId,
        link_id: &str,
    ) -> StoreResult<bool> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            let found: Option<String> = sqlx::query_scalar("select link_id from links where organization_id = $1 and link_id = $2 and not deleted")
                .bind(organization_id)
                .bind(link_id)
                .fetch_optional(&mut *tx)
                .await?;
            Ok::<_, AnalyticsError>(found.is_some())
        })
    }

    async fn link_traffic(
        &self,
        organization_id: OrganizationId,
        link_id: Option<&str>,
        start: i64,
        end: i64,
        top: i64,
    ) -> StoreResult<LinkTraffic> {
        mesh::transaction!(&self.0.database, Some(organization_id), None, |tx| {
            let days = breakdown!(
                tx,
                "cast(day as text)",
                organization_id,
                link_id,
                start,
                end,
                400_i64
            );
            let top_links = if link_id.is_none() && top > 0 {
                let rows = breakdown!(
                    tx,
                    "link_id",
                    organization_id,
                    link_id,
                    start,
                    end,
                    10_000_i64
                );
                let live: Vec<(String, String)> = sqlx::query_as(
                    "select link_id, slug from links where organization_id = $1 and not deleted",
                )
                .bind(organization_id)
                .fetch_all(&mut *tx)
                .await?;
                let live: std::collections::HashMap<String, String> = live.into_iter().collect();
                rows.into_iter()
                    .filter_map(|row| live.get(&row.value).cloned().map(|slug| (row, slug)))
                    .take(usize::try_from(top).unwrap_or(0))
                    .collect()
            } else {
                Vec::new()
            };
            let mut query =
                QueryBuilder::new("select count(*) from link_visits where organization_id = ");
            query
                .push_bind(organization_id.to_string())
                .push(" and day >= ")
                .push_bind(start)
                .push(" and day < ")
                .push_bind(end)
                .push(" and bot");
            if let Some(link) = link_id {
                query.push(" and link_id = ").push_bind(link.to_string());
            }
            let bot_visits: i64 = query.build_query_scalar().fetch_one(&mut *tx).await?;
            Ok::<_, AnalyticsError>(LinkTraffic {
                days,
                top_links,
                referrer_hosts: breakdown!(
                    tx,
                    "referrer_host",
                    organization_id,
                    link_id,
                    start,
                    end,
                    20_i64
                ),
                browsers: breakdown!(tx, "browser", organization_id, link_id, start, end, 100_i64),
                operating_systems: breakdown!(
                    tx,
                    "os",
                    organization_id,
                    link_id,
                    start,
                    end,
                    100_i64
                ),
                device_classes: breakdown!(
                    tx,
                    "device_class",
                    organization_id,
                    link_id,
                    start,
                    end,
                    100_i64
                ),
                countries: breakdown!(tx, "country", organization_id, link_id, start, end, 300_i64),
                bot_visits,
            })
        })
    }

    async fn dashboard(&self, organization_id: OrganizationId, now: i64) -> StoreResult<Dashboard> {
        let day = 86_400_000_i64;
        mesh::transaction!(&self.0.database, Some(organization_id), None, |tx| {
            let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).bind(organization_id);
            let projects = count("select count(*) from projects where organization_id = $1 and not archived and not deleted").fetch_one(&mut *tx).await?;
            let open_tasks = count("select count(*) from tasks t join projects p on p.project_id = t.project_id where t.organization_id = $1 and not t.deleted and t.category in ('todo', 'in_progress') and not p.archived and not p.deleted").fetch_one(&mut *tx).await?;
            let overdue_tasks: i64 = sqlx::query_scalar("select count(*) from tasks t join projects p on p.project_id = t.project_id where t.organization_id = $1 and not t.deleted and t.category in ('todo', 'in_progress') and not p.archived and not p.deleted and t.due_at < $2")
                .bind(organization_id)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            let members = count("select count(*) from members where organization_id = $1")
                .fetch_one(&mut *tx)
                .await?;
            let documents =
                count("select count(*) from documents where organization_id = $1 and not deleted")
                    .fetch_one(&mut *tx)
                    .await?;
            let links =
                count("select count(*) from links where organization_id = $1 and not deleted")
                    .fetch_one(&mut *tx)
                    .await?;
            let completed_since = |since: i64| {
                sqlx::query_scalar::<_, i64>("select count(*) from task_completions where organization_id = $1 and completed_at >= $2 and completed_at <= $3").bind(organization_id).bind(since).bind(now)
            };
            let completed_7_days = completed_since(now - 7 * day).fetch_one(&mut *tx).await?;
            let completed_30_days = completed_since(now - 30 * day).fetch_one(&mut *tx).await?;
            let storage_bytes = count("select cast(coalesce(sum(size_bytes), 0) as bigint) from (select v.sha256, max(v.size_bytes) as size_bytes from document_versions v join documents d on d.document_id = v.document_id where v.organization_id = $1 and not d.deleted group by v.sha256) contents").fetch_one(&mut *tx).await?;
            Ok::<_, AnalyticsError>(Dashboard {
                projects,
                open_tasks,
                overdue_tasks,
                members,
                documents,
                links,
                completed_7_days,
                completed_30_days,
                storage_bytes,
            })
        })
    }

    async fn applied_until(&self, organization_id: OrganizationId) -> StoreResult<Option<i64>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, AnalyticsError>(
                sqlx::query_scalar("select applied_until from progress where organization_id = $1")
                    .bind(organization_id)
                    .fetch_optional(&mut *tx)
                    .await?,
            )
        })
    }
}
