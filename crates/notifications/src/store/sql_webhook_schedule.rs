//! The delivery schedule on SQLite and PostgreSQL: what is due across organizations, claims
//! with a lease (one replica at a time), recording an attempt with everything it changes in
//! one transaction, and the purge of old deliveries (each organization's rows deleted in its
//! own scope).

use mesh::ids::OrganizationId;
use sqlx::QueryBuilder;

use super::sql::{SqlNotificationsStore, created_event, insert_record, records};
use super::webhooks::{AfterAttempt, Attempt, DeliveryRecord, DueDelivery, EndpointRecord};
use super::{Source, StoreResult};
use crate::domain::NotificationsError;
use crate::domain::fanout::Draft;
use crate::domain::webhooks::{DeliveryState, EndpointState};

/// The owners and admins of the organization an endpoint belongs to, told that it was
/// switched off.
fn disabled_drafts(
    endpoint: &EndpointRecord,
    state: EndpointState,
    admins: &[String],
) -> Vec<Draft> {
    let why = match state {
        EndpointState::Gone => "it answered 410 Gone",
        _ => "every delivery failed for three days",
    };
    admins
        .iter()
        .map(|user| Draft {
            recipient_user_id: user.clone(),
            kind: Some(crate::domain::Kind::WebhookEndpointDisabled),
            title: crate::domain::clip(&format!("Webhook endpoint disabled: {}", endpoint.url), crate::domain::MAX_TITLE_CHARS),
            body: format!("Deliveries to {} stopped because {why}. Enable the endpoint again once it is fixed.", endpoint.url),
            ..Draft::default()
        })
        .collect()
}

impl SqlNotificationsStore {
    pub(super) async fn due_webhook_deliveries(
        &self,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<DueDelivery>> {
        mesh::read_one!(&self.0.database, None, None, |tx| {
            Ok::<_, NotificationsError>(sqlx::query_as("select delivery_id, organization_id from webhook_schedule where next_attempt_at <= $1 and claimed_until <= $1 order by next_attempt_at, delivery_id limit $2")
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?)
        })
    }

    pub(super) async fn claim_webhook_delivery(
        &self,
        delivery_id: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<bool> {
        mesh::transaction!(&self.0.database, None, None, |tx| {
            let claimed = sqlx::query("update webhook_schedule set claimed_until = $3 where delivery_id = $1 and claimed_until <= $2 and next_attempt_at <= $2")
                .bind(delivery_id)
                .bind(now)
                .bind(until)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            Ok::<_, NotificationsError>(claimed == 1)
        })
    }

    pub(super) async fn record_webhook_attempt(
        &self,
        delivery: &DeliveryRecord,
        attempt: &Attempt,
    ) -> StoreResult<()> {
        let organization_id = delivery.organization_id;
        let number = delivery.attempt_count + 1;
        let (status, next_at) = match &attempt.next {
            AfterAttempt::Succeeded => (DeliveryState::Succeeded, None),
            AfterAttempt::RetryAt(at) => (DeliveryState::Retrying, Some(*at)),
            AfterAttempt::Failed(_) => (DeliveryState::Failed, None),
        };
        kit::change!(&self.0, Some(organization_id), None, |tx, effects| {
            sqlx::query("insert into webhook_attempts (delivery_id, organization_id, number, attempted_at, response_status_code, latency_ms, error) values ($1, $2, $3, $4, $5, $6, $7) on conflict (delivery_id, number) do nothing")
                .bind(&delivery.id)
                .bind(organization_id)
                .bind(number)
                .bind(attempt.at)
                .bind(attempt.response_status_code)
                .bind(attempt.latency_ms)
                .bind(&attempt.error)
                .execute(&mut *tx)
                .await?;
            sqlx::query("update webhook_deliveries set status = $3, attempt_count = $4, response_status_code = $5, latency_ms = $6, next_attempt_at = $7, last_attempt_at = $8, error = $9 where organization_id = $1 and id = $2")
                .bind(organization_id)
                .bind(&delivery.id)
                .bind(status.as_str())
                .bind(number)
                .bind(attempt.response_status_code)
                .bind(attempt.latency_ms)
                .bind(next_at)
                .bind(attempt.at)
                .bind(&attempt.error)
                .execute(&mut *tx)
                .await?;
            sqlx::query("update webhook_schedule set next_attempt_at = $2, claimed_until = 0 where delivery_id = $1")
                .bind(&delivery.id)
                .bind(next_at)
                .execute(&mut *tx)
                .await?;
            // The endpoint's run of failures: any success ends it; the first failure starts it.
            if attempt.counts_for_endpoint {
                let mut query = QueryBuilder::new("update webhook_endpoints set failing_since = ");
                match attempt.next {
                    AfterAttempt::Succeeded => query.push("null"),
                    _ => query
                        .push("coalesce(failing_since, ")
                        .push_bind(attempt.at)
                        .push(")"),
                };
                query
                    .push(" where organization_id = ")
                    .push_bind(organization_id.to_string())
                    .push(" and id = ")
                    .push_bind(delivery.endpoint_id.clone());
                query.build().execute(&mut *tx).await?;
            }
            if let AfterAttempt::Failed(Some(event)) = &attempt.next {
                effects.events.push((**event).clone());
            }
            if let Some(state) = attempt.endpoint_state {
                let switched = sqlx::query("update webhook_endpoints set state = $3, version = version + 1, updated_at = $4 where organization_id = $1 and id = $2 and state = 'enabled'")
                    .bind(organization_id)
                    .bind(&delivery.endpoint_id)
                    .bind(state.as_str())
                    .bind(attempt.at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let endpoint: Option<EndpointRecord> = sqlx::query_as(
                    "select * from webhook_endpoints where organization_id = $1 and id = $2",
                )
                .bind(organization_id)
                .bind(&delivery.endpoint_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let (1, Some(endpoint)) = (switched, endpoint) {
                    let admins: Vec<String> = sqlx::query_scalar("select user_id from memberships where organization_id = $1 and role in ('owner', 'admin') order by user_id")
                        .bind(organization_id)
                        .fetch_all(&mut *tx)
                        .await?;
                    let source = Source {
                        event_id: format!("webhook-disabled:{}:{}", endpoint.id, endpoint.version),
                        actor_user_id: None,
                        at: attempt.at,
                    };
                    for record in records(
                        organization_id,
                        &source,
                        &disabled_drafts(&endpoint, state, &admins),
                    ) {
                        if insert_record!(&mut *tx, &record) {
                            effects.events.push(created_event(&record));
                        }
                    }
                }
            }
            Ok::<_, NotificationsError>(())
        })
    }

    pub(super) async fn purge_webhook_deliveries(
        &self,
        before: i64,
        limit: i64,
    ) -> StoreResult<u64> {
        let old: Vec<DueDelivery> = mesh::read_one!(&self.0.database, None, None, |tx| {
            Ok::<_, NotificationsError>(sqlx::query_as("select delivery_id, organization_id from webhook_schedule where created_at < $1 and next_attempt_at is null order by created_at limit $2")
                .bind(before)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?)
        })?;
        let mut purged = 0;
        let mut by_organization: std::collections::BTreeMap<OrganizationId, Vec<String>> =
            std::collections::BTreeMap::new();
        for row in old {
            by_organization
                .entry(row.organization_id)
                .or_default()
                .push(row.delivery_id);
        }
        for (organization_id, ids) in by_organization {
            purged += mesh::transaction!(&self.0.database, Some(organization_id), None, |tx| {
                let mut query =
                    QueryBuilder::new("delete from webhook_deliveries where organization_id = ");
                query
                    .push_bind(organization_id.to_string())
                    .push(" and id in (");
                let mut list = query.separated(", ");
                for id in &ids {
                    list.push_bind(id.clone());
                }
                query.push(")");
                Ok::<_, NotificationsError>(query.build().execute(&mut *tx).await?.rows_affected())
            })?;
        }
        Ok(purged)
    }
}
