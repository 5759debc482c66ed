//! The events notifications publishes: each subject bound to its payload message.

use kit::Topic;
use taskmesh::events::v1::NotificationCreated;

/// A notification reached an inbox (wakes StreamNotifications on every replica; feeds
/// webhooks subscribed to it).
pub const NOTIFICATION_CREATED: Topic<NotificationCreated> =
    Topic::new("taskmesh.notifications.notification.created");
