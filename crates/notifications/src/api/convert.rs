//! Records → messages.

use taskmesh::notifications::v1::Notification;

use crate::domain::Kind;
use crate::store::NotificationRecord;

/// The wire form of a notification.
pub(super) fn notification(record: &NotificationRecord) -> Notification {
    Notification {
        id: record.id.clone(),
        organization_id: record.organization_id.to_string(),
        recipient_user_id: record.recipient_user_id.to_string(),
        kind: Kind::parse(&record.kind).map_or(0, Kind::wire),
        title: record.title.clone(),
        body: record.body.clone(),
        actor_user_id: record.actor_user_id.clone().unwrap_or_default(),
        read_time: record.read_at.map(mesh::time::timestamp),
        archive_time: record.archived_at.map(mesh::time::timestamp),
        create_time: Some(mesh::time::timestamp(record.created_at)),
        project_id: record.project_id.clone().unwrap_or_default(),
        task_id: record.task_id.clone().unwrap_or_default(),
        document_id: record.document_id.clone().unwrap_or_default(),
        link_id: record.link_id.clone().unwrap_or_default(),
    }
}
