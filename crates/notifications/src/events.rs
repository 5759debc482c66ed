//! The events notifications publishes: each subject bound to its payload message.

use kit::Topic;
use taskmesh::events::v1::{NotificationCreated, WebhookDeliveryFailed};

/// A notification reached an inbox (wakes StreamNotifications on every replica; feeds
/// webhooks subscribed to it).
pub const NOTIFICATION_CREATED: Topic<NotificationCreated> =
    Topic::new("taskmesh.notifications.notification.created");

/// A webhook delivery gave up (all attempts failed, or the endpoint answered 410 Gone).
pub const WEBHOOK_DELIVERY_FAILED: Topic<WebhookDeliveryFailed> =
    Topic::new("taskmesh.notifications.webhook_delivery.failed");
