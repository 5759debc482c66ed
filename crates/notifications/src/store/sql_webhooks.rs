//! [`WebhooksStore`] on SQLite and PostgreSQL. Endpoint, delivery and attempt rows are read
//! and written in their organization's scope; the schedule (ids and times) is read across
//! organizations by the workers.

use mesh::ids::{OrganizationId, UserId};
use mesh::paging::{Page, PageRequest};
use sqlx::QueryBuilder;

use super::StoreResult;
use super::sql::SqlNotificationsStore;
use super::webhooks::{
    Attempt, AttemptRecord, DeliveryRecord, DueDelivery, EndpointChange, EndpointRecord,
    WebhooksStore,
};
use crate::domain::NotificationsError;
use crate::domain::webhook_filters::{DeliveryQuery, EndpointQuery};
use crate::domain::webhooks::EndpointState;

/// Inserts a delivery row (`$1`…`$16` in [`DeliveryRecord`] order).
pub(super) const INSERT_DELIVERY: &str = "insert into webhook_deliveries (id, organization_id, endpoint_id, event_id, event_type, body, status, attempt_count, response_status_code, latency_ms, next_attempt_at, last_attempt_at, error, request_id, created_by_user_id, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
/// Inserts its schedule row.
pub(super) const INSERT_SCHEDULE: &str = "insert into webhook_schedule (delivery_id, organization_id, next_attempt_at, claimed_until, created_at) values ($1, $2, $3, 0, $4)";

/// Queues `$delivery` on `$executor` (delivery row, then schedule row).
macro_rules! insert_delivery {
    ($executor:expr, $delivery:expr) => {{
        let delivery: &crate::store::webhooks::DeliveryRecord = $delivery;
        sqlx::query(crate::store::sql_webhooks::INSERT_DELIVERY)
            .bind(&delivery.id)
            .bind(delivery.organization_id)
            .bind(&delivery.endpoint_id)
            .bind(&delivery.event_id)
            .bind(&delivery.event_type)
            .bind(&delivery.body)
            .bind(&delivery.status)
            .bind(delivery.attempt_count)
            .bind(delivery.response_status_code)
            .bind(delivery.latency_ms)
            .bind(delivery.next_attempt_at)
            .bind(delivery.last_attempt_at)
            .bind(&delivery.error)
            .bind(&delivery.request_id)
            .bind(&delivery.created_by_user_id)
            .bind(delivery.created_at)
            .execute(&mut *$executor)
            .await?;
        sqlx::query(crate::store::sql_webhooks::INSERT_SCHEDULE)
            .bind(&delivery.id)
            .bind(delivery.organization_id)
            .bind(delivery.next_attempt_at)
            .bind(delivery.created_at)
            .execute(&mut *$executor)
            .await?;
    }};
}
pub(super) use insert_delivery;

fn push_deliveries<DB>(
    query: &mut QueryBuilder<DB>,
    organization_id: OrganizationId,
    endpoint_id: &str,
    filter: &DeliveryQuery,
) where
    DB: sqlx::Database,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    query
        .push("select * from webhook_deliveries where organization_id = ")
        .push_bind(organization_id.to_string())
        .push(" and endpoint_id = ")
        .push_bind(endpoint_id.to_string());
    if let Some(status) = filter.status {
        query
            .push(" and status = ")
            .push_bind(status.as_str().to_string());
    }
    if let Some(event_type) = &filter.event_type {
        query
            .push(" and event_type = ")
            .push_bind(event_type.clone());
    }
    if let Some(event_id) = &filter.event_id {
        query.push(" and event_id = ").push_bind(event_id.clone());
    }
    super::sql::push_created_range(query, filter.after, filter.before);
}

fn push_endpoints<DB>(
    query: &mut QueryBuilder<DB>,
    organization_id: OrganizationId,
    filter: &EndpointQuery,
) where
    DB: sqlx::Database,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    query
        .push("select * from webhook_endpoints where organization_id = ")
        .push_bind(organization_id.to_string());
    if let Some(state) = filter.state {
        query
            .push(" and state = ")
            .push_bind(state.as_str().to_string());
    }
    if let Some(project) = &filter.project_id {
        query.push(" and project_id = ").push_bind(project.clone());
    }
    if let Some(event_type) = &filter.event_type {
        // Types are stored one per line: match a whole line, or `*`.
        query
            .push(" and ('\n' || event_types || '\n' like ")
            .push_bind(format!("%\n{}\n%", event_type.replace(['%', '_'], "")))
            .push(" or '\n' || event_types || '\n' like '%\n*\n%')");
    }
}

#[async_trait::async_trait]
impl WebhooksStore for SqlNotificationsStore {
    async fn create_endpoint(&self, record: &EndpointRecord, max: i64) -> StoreResult<()> {
        mesh::transaction!(&self.0.database, Some(record.organization_id), None, |tx| {
            let count: i64 = sqlx::query_scalar(
                "select count(*) from webhook_endpoints where organization_id = $1",
            )
            .bind(record.organization_id)
            .fetch_one(&mut *tx)
            .await?;
            if count >= max {
                return Err(NotificationsError::EndpointLimitReached(max));
            }
            sqlx::query("insert into webhook_endpoints (id, organization_id, project_id, url, description, event_types, state, secret_sealed, previous_secret_sealed, previous_secret_expires_at, created_by_user_id, failing_since, create_request_id, version, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)")
                .bind(&record.id)
                .bind(record.organization_id)
                .bind(&record.project_id)
                .bind(&record.url)
                .bind(&record.description)
                .bind(&record.event_types)
                .bind(&record.state)
                .bind(&record.secret_sealed)
                .bind(&record.previous_secret_sealed)
                .bind(record.previous_secret_expires_at)
                .bind(record.created_by_user_id)
                .bind(record.failing_since)
                .bind(&record.create_request_id)
                .bind(record.version)
                .bind(record.created_at)
                .bind(record.updated_at)
                .execute(&mut *tx)
                .await?;
            Ok::<_, NotificationsError>(())
        })
    }

    async fn endpoint_by_request(
        &self,
        organization_id: OrganizationId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<EndpointRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, NotificationsError>(sqlx::query_as("select * from webhook_endpoints where organization_id = $1 and created_by_user_id = $2 and create_request_id = $3")
                .bind(organization_id)
                .bind(user)
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    async fn endpoint(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<EndpointRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, NotificationsError>(
                sqlx::query_as(
                    "select * from webhook_endpoints where organization_id = $1 and id = $2",
                )
                .bind(organization_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?,
            )
        })
    }

    async fn list_endpoints(
        &self,
        organization_id: OrganizationId,
        filter: &EndpointQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<EndpointRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            let mut query = QueryBuilder::new("");
            push_endpoints(&mut query, organization_id, filter);
            page.push_keyset(&mut query);
            let rows: Vec<EndpointRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok::<_, NotificationsError>(page.finish(rows, |row| {
                vec![row.created_at.into(), row.id.clone().into()]
            }))
        })
    }

    async fn update_endpoint(
        &self,
        organization_id: OrganizationId,
        id: &str,
        expected: Option<i64>,
        change: &EndpointChange,
        now: i64,
    ) -> StoreResult<EndpointRecord> {
        mesh::transaction!(&self.0.database, Some(organization_id), None, |tx| {
            let mut query = QueryBuilder::new(
                "update webhook_endpoints set version = version + 1, updated_at = ",
            );
            query.push_bind(now);
            if let Some(url) = &change.url {
                query.push(", url = ").push_bind(url.clone());
            }
            if let Some(description) = &change.description {
                query
                    .push(", description = ")
                    .push_bind(description.clone());
            }
            if let Some(types) = &change.event_types {
                query.push(", event_types = ").push_bind(types.clone());
            }
            if let Some(project) = &change.project_id {
                query.push(", project_id = ").push_bind(project.clone());
            }
            if let Some(state) = change.state {
                query
                    .push(", state = ")
                    .push_bind(state.as_str().to_string());
                if state == EndpointState::Enabled {
                    query.push(", failing_since = null");
                }
            }
            if let Some((sealed, previous_until)) = &change.rotation {
                // The current secret becomes the previous one (dropping an older one).
                match previous_until {
                    Some(until) => query
                        .push(", previous_secret_sealed = secret_sealed, previous_secret_expires_at = ")
                        .push_bind(*until),
                    None => query.push(", previous_secret_sealed = null, previous_secret_expires_at = null"),
                };
                query.push(", secret_sealed = ").push_bind(sealed.clone());
            }
            query
                .push(" where organization_id = ")
                .push_bind(organization_id.to_string())
                .push(" and id = ")
                .push_bind(id.to_string());
            if let Some(version) = expected {
                query.push(" and version = ").push_bind(version);
            }
            let changed = query.build().execute(&mut *tx).await?.rows_affected();
            let current: Option<EndpointRecord> = sqlx::query_as(
                "select * from webhook_endpoints where organization_id = $1 and id = $2",
            )
            .bind(organization_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            match (changed, current) {
                (1, Some(current)) => Ok(current),
                (_, Some(_)) => Err(NotificationsError::EtagMismatch),
                (_, None) => Err(NotificationsError::EndpointNotFound),
            }
        })
    }

    async fn delete_endpoint(
        &self,
        organization_id: OrganizationId,
        id: &str,
        expected: Option<i64>,
    ) -> StoreResult<()> {
        mesh::transaction!(&self.0.database, Some(organization_id), None, |tx| {
            let version: Option<i64> = sqlx::query_scalar(
                "select version from webhook_endpoints where organization_id = $1 and id = $2",
            )
            .bind(organization_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            match version {
                None => return Err(NotificationsError::EndpointNotFound),
                Some(version) if expected.is_some_and(|expected| expected != version) => {
                    return Err(NotificationsError::EtagMismatch);
                }
                Some(_) => {}
            }
            // Children first: attempts and schedule rows cascade from their delivery.
            sqlx::query(
                "delete from webhook_deliveries where organization_id = $1 and endpoint_id = $2",
            )
            .bind(organization_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("delete from webhook_endpoints where organization_id = $1 and id = $2")
                .bind(organization_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            Ok::<_, NotificationsError>(())
        })
    }

    async fn queue_delivery(&self, delivery: &DeliveryRecord) -> StoreResult<()> {
        mesh::transaction!(
            &self.0.database,
            Some(delivery.organization_id),
            None,
            |tx| {
                insert_delivery!(tx, delivery);
                Ok::<_, NotificationsError>(())
            }
        )
    }

    async fn delivery(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<DeliveryRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, NotificationsError>(
                sqlx::query_as(
                    "select * from webhook_deliveries where organization_id = $1 and id = $2",
                )
                .bind(organization_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?,
            )
        })
    }

    async fn delivery_by_request(
        &self,
        organization_id: OrganizationId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<DeliveryRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, NotificationsError>(sqlx::query_as("select * from webhook_deliveries where organization_id = $1 and created_by_user_id = $2 and request_id = $3")
                .bind(organization_id)
                .bind(user.to_string())
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    async fn list_deliveries(
        &self,
        organization_id: OrganizationId,
        endpoint_id: &str,
        filter: &DeliveryQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<DeliveryRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            let mut query = QueryBuilder::new("");
            push_deliveries(&mut query, organization_id, endpoint_id, filter);
            page.push_keyset(&mut query);
            let rows: Vec<DeliveryRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok::<_, NotificationsError>(page.finish(rows, |row| {
                vec![row.created_at.into(), row.id.clone().into()]
            }))
        })
    }

    async fn attempts(
        &self,
        organization_id: OrganizationId,
        delivery_ids: &[String],
    ) -> StoreResult<Vec<AttemptRecord>> {
        if delivery_ids.is_empty() {
            return Ok(Vec::new());
        }
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            let mut query = QueryBuilder::new(
                "select delivery_id, number, attempted_at, response_status_code, latency_ms, error from webhook_attempts where organization_id = ",
            );
            query
                .push_bind(organization_id.to_string())
                .push(" and delivery_id in (");
            let mut list = query.separated(", ");
            for id in delivery_ids {
                list.push_bind(id.clone());
            }
            query.push(") order by delivery_id, number");
            let rows: Vec<AttemptRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok::<_, NotificationsError>(rows)
        })
    }

    async fn due_deliveries(&self, now: i64, limit: i64) -> StoreResult<Vec<DueDelivery>> {
        self.due_webhook_deliveries(now, limit).await
    }

    async fn claim_delivery(&self, delivery_id: &str, now: i64, until: i64) -> StoreResult<bool> {
        self.claim_webhook_delivery(delivery_id, now, until).await
    }

    async fn record_attempt(
        &self,
        delivery: &DeliveryRecord,
        attempt: &Attempt,
    ) -> StoreResult<()> {
        self.record_webhook_attempt(delivery, attempt).await
    }

    async fn purge_deliveries(&self, before: i64, limit: i64) -> StoreResult<u64> {
        self.purge_webhook_deliveries(before, limit).await
    }
}
