//! Webhook records → messages.

use taskmesh::notifications::v1::{WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint};

use crate::domain::webhooks::DeliveryState;
use crate::store::webhooks::{AttemptRecord, DeliveryRecord, EndpointRecord};

fn duration(millis: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: millis / 1_000,
        nanos: i32::try_from((millis % 1_000) * 1_000_000).unwrap_or(0),
    }
}

/// The wire form of an endpoint (never its secrets).
pub(super) fn endpoint(record: &EndpointRecord, now: i64) -> WebhookEndpoint {
    WebhookEndpoint {
        id: record.id.clone(),
        organization_id: record.organization_id.to_string(),
        url: record.url.clone(),
        description: record.description.clone(),
        event_types: record.types(),
        state: record.state().wire(),
        created_by_user_id: record.created_by_user_id.to_string(),
        previous_secret_expire_time: record
            .previous_secret_expires_at
            .filter(|until| *until > now && record.previous_secret_sealed.is_some())
            .map(mesh::time::timestamp),
        create_time: Some(mesh::time::timestamp(record.created_at)),
        update_time: Some(mesh::time::timestamp(record.updated_at)),
        etag: mesh::request::etag(record.version),
        project_id: record.project_id.clone().unwrap_or_default(),
    }
}

/// The wire form of a delivery with its attempts (those of `attempts` that are its own).
pub(super) fn delivery(record: &DeliveryRecord, attempts: &[AttemptRecord]) -> WebhookDelivery {
    let status = DeliveryState::parse(&record.status).map_or(0, DeliveryState::wire);
    WebhookDelivery {
        id: record.id.clone(),
        organization_id: record.organization_id.to_string(),
        endpoint_id: record.endpoint_id.clone(),
        event_id: record.event_id.clone(),
        event_type: record.event_type.clone(),
        status,
        attempt_count: record.attempt_count,
        response_status_code: i32::try_from(record.response_status_code).unwrap_or(0),
        latency: (record.attempt_count > 0).then(|| duration(record.latency_ms)),
        next_attempt_time: record.next_attempt_at.map(mesh::time::timestamp),
        create_time: Some(mesh::time::timestamp(record.created_at)),
        last_attempt_time: record.last_attempt_at.map(mesh::time::timestamp),
        error: record.error.clone(),
        attempts: attempts
            .iter()
            .filter(|attempt| attempt.delivery_id == record.id)
            .map(|attempt| WebhookDeliveryAttempt {
                number: attempt.number,
                attempt_time: Some(mesh::time::timestamp(attempt.attempted_at)),
                response_status_code: i32::try_from(attempt.response_status_code).unwrap_or(0),
                latency: Some(duration(attempt.latency_ms)),
                error: attempt.error.clone(),
            })
            .collect(),
    }
}
