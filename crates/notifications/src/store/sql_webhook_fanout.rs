//! Queues webhook deliveries for an event, in the consumer's transaction (so an event is
//! queued once per endpoint, exactly when the consumer records it as processed).
//!
//! Invariants: only the event's own organization's enabled endpoints are considered (the
//! transaction is scoped to it); only deliverable types ([`crate::domain::webhooks::wants`]);
//! the body is built once and stored, so every attempt sends the same bytes.

use events::consumer::{EventTx, Handler, HandlerError};
use mesh::ids::OrganizationId;
use taskmesh::events::v1::Event;

use super::sql_webhooks::insert_delivery;
use super::webhooks::DeliveryRecord;
use crate::domain::webhook_body;
use crate::domain::webhooks::{DELIVERABLE, DeliveryState, wants};

/// Namespaces of the streams the service consumes only for webhooks.
pub const DOCUMENTS_EVENTS: &str = "taskmesh.documents.>";
/// Share links' events.
pub const LINKS_EVENTS: &str = "taskmesh.links.>";
/// Notifications' own events (notification.created, webhook_delivery.failed).
pub const NOTIFICATIONS_EVENTS: &str = "taskmesh.notifications.>";

/// The consumer step that queues deliveries.
#[derive(Clone, Copy, Debug, Default)]
pub struct WebhookFanout;

#[async_trait::async_trait]
impl Handler for WebhookFanout {
    async fn handle(&self, tx: EventTx<'_>, event: &Event) -> Result<(), HandlerError> {
        let Ok(organization) = event.tenant_id.parse::<OrganizationId>() else {
            return Ok(());
        };
        if !DELIVERABLE.contains(&event.r#type.as_str()) {
            return Ok(());
        }
        let now = mesh::time::now_millis();
        events::on_connection!(tx, |connection, enqueue| {
            let endpoints: Vec<(String, Option<String>, String)> = sqlx::query_as(
                "select id, project_id, event_types from webhook_endpoints where organization_id = $1 and state = 'enabled' order by created_at, id",
            )
            .bind(organization)
            .fetch_all(&mut *connection)
            .await?;
            if endpoints.is_empty() {
                return Ok(());
            }
            let described = webhook_body::describe(event).map_err(HandlerError)?;
            for (endpoint_id, project_id, types) in endpoints {
                let types: Vec<String> = types.lines().map(str::to_string).collect();
                if !wants(
                    &types,
                    project_id.as_deref(),
                    &event.r#type,
                    described.project_id.as_deref(),
                ) || described.failed_endpoint_id.as_deref() == Some(endpoint_id.as_str())
                {
                    continue;
                }
                let delivery = DeliveryRecord {
                    id: uuid::Uuid::now_v7().to_string(),
                    organization_id: organization,
                    endpoint_id,
                    event_id: event.id.clone(),
                    event_type: event.r#type.clone(),
                    body: described.body.clone(),
                    status: DeliveryState::Pending.as_str().into(),
                    attempt_count: 0,
                    response_status_code: 0,
                    latency_ms: 0,
                    next_attempt_at: Some(now),
                    last_attempt_at: None,
                    error: String::new(),
                    request_id: None,
                    created_by_user_id: None,
                    created_at: now,
                };
                insert_delivery!(connection, &delivery);
            }
            Ok(())
        })
    }
}

/// Runs the inbox handler, then the webhook fan-out, on one transaction: one consumer per
/// stream serves both, so an event is processed (and recorded) once.
pub struct InboxAndWebhooks(pub super::sql_inbox::InboxHandler);

#[async_trait::async_trait]
impl Handler for InboxAndWebhooks {
    async fn handle(&self, mut tx: EventTx<'_>, event: &Event) -> Result<(), HandlerError> {
        self.0.handle(tx.reborrow(), event).await?;
        WebhookFanout.handle(tx, event).await
    }
}
