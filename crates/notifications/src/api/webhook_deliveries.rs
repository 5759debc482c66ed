//! RedeliverWebhook and SendTestWebhook: queueing an earlier event again, and one
//! synchronous signed attempt of a sample event (recorded in the log, never retried, never
//! counted against the endpoint).

use governor::clock::{Clock, DefaultClock};
use taskmesh::notifications::v1::*;
use tonic::Request;

use super::webhooks::{Admin, Result, WebhooksApi, internal, request_id};
use crate::domain::webhooks::{self, DeliveryState, EndpointState, TEST_EVENT_TYPE};
use crate::domain::{NotificationsError, webhook_body};
use crate::store::webhooks::{AfterAttempt, Attempt, DeliveryRecord};
use crate::webhooks::signing_secrets;

impl WebhooksApi {
    pub(super) async fn redeliver(
        &self,
        request: Request<RedeliverWebhookRequest>,
    ) -> Result<RedeliverWebhookResponse> {
        let caller = Admin::of(&request, true)?;
        let message = request.get_ref();
        let key = request_id(&message.request_id)?;
        let earlier = self
            .store
            .delivery(caller.organization_id, &message.delivery_id)
            .await?
            .ok_or(NotificationsError::DeliveryNotFound)?;
        let endpoint = self.existing(&caller, &earlier.endpoint_id).await?;
        if endpoint.state() != EndpointState::Enabled {
            return Err(NotificationsError::EndpointNotEnabled);
        }
        let queued = kit::idempotency::create_once(
            key.as_deref(),
            |key| async move {
                self.store
                    .delivery_by_request(caller.organization_id, caller.user_id, &key)
                    .await
            },
            || async {
                let now = mesh::time::now_millis();
                let record = DeliveryRecord {
                    id: uuid::Uuid::now_v7().to_string(),
                    status: DeliveryState::Pending.as_str().into(),
                    attempt_count: 0,
                    response_status_code: 0,
                    latency_ms: 0,
                    next_attempt_at: Some(now),
                    last_attempt_at: None,
                    error: String::new(),
                    request_id: key.clone(),
                    created_by_user_id: Some(caller.user_id.to_string()),
                    created_at: now,
                    ..earlier.clone()
                };
                self.store.queue_delivery(&record).await?;
                Ok(record)
            },
        )
        .await?
        .into_inner();
        Ok(RedeliverWebhookResponse {
            webhook_delivery: Some(self.with_attempts(&caller, &queued).await?),
        })
    }

    pub(super) async fn send_test(
        &self,
        request: Request<SendTestWebhookRequest>,
    ) -> Result<SendTestWebhookResponse> {
        let caller = Admin::of(&request, true)?;
        let message = request.get_ref();
        let event_type = match message.event_type.trim() {
            "" => TEST_EVENT_TYPE,
            TEST_EVENT_TYPE => TEST_EVENT_TYPE,
            "*" => {
                return Err(NotificationsError::EventTypeUnknown {
                    field: "event_type",
                    event_type: "*".into(),
                });
            }
            other => {
                webhooks::check_event_type(other, "event_type")?;
                other
            }
        };
        let endpoint = self.existing(&caller, &message.endpoint_id).await?;
        if let Err(not_until) = self.tests.check_key(&endpoint.id) {
            return Err(NotificationsError::TestRateLimited(
                not_until.wait_time_from(DefaultClock::default().now()),
            ));
        }
        let now = mesh::time::now_millis();
        let event_id = uuid::Uuid::now_v7().to_string();
        let body = webhook_body::sample(
            &event_id,
            event_type,
            &caller.organization_id.to_string(),
            &caller.user_id.to_string(),
            now,
        )
        .map_err(|e| internal(&e))?;
        let record = DeliveryRecord {
            id: uuid::Uuid::now_v7().to_string(),
            organization_id: caller.organization_id,
            endpoint_id: endpoint.id.clone(),
            event_id: event_id.clone(),
            event_type: event_type.into(),
            body,
            status: DeliveryState::Pending.as_str().into(),
            attempt_count: 0,
            response_status_code: 0,
            latency_ms: 0,
            next_attempt_at: None,
            last_attempt_at: None,
            error: String::new(),
            request_id: None,
            created_by_user_id: Some(caller.user_id.to_string()),
            created_at: now,
        };
        self.store.queue_delivery(&record).await?;
        let secrets = signing_secrets(&self.key, &endpoint, now).map_err(|e| internal(&e))?;
        let outcome = self
            .sender
            .attempt(&endpoint.url, &event_id, &record.body, &secrets)
            .await;
        let attempt = Attempt {
            at: mesh::time::now_millis(),
            response_status_code: i64::from(outcome.status),
            latency_ms: i64::try_from(outcome.latency.as_millis()).unwrap_or(i64::MAX),
            error: outcome.error.clone(),
            next: match outcome.succeeded() {
                true => AfterAttempt::Succeeded,
                false => AfterAttempt::Failed(None),
            },
            endpoint_state: None,
            counts_for_endpoint: false,
        };
        self.store.record_attempt(&record, &attempt).await?;
        let recorded = self
            .store
            .delivery(caller.organization_id, &record.id)
            .await?
            .ok_or(NotificationsError::DeliveryNotFound)?;
        Ok(SendTestWebhookResponse {
            webhook_delivery: Some(self.with_attempts(&caller, &recorded).await?),
        })
    }
}
