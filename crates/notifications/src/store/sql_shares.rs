//! Attachments and share links in the inbox: a document attached to a task tells the task's
//! watchers (DOCUMENT_ADDED); a share link opened by a person tells its creator
//! (LINK_VISITED), at most once per link per hour. Runs in the consumer's transaction, scoped
//! to the event's organization.
//!
//! `link_owners` keeps who created each link (the actor of `link.created`) and when they were
//! last told of a visit: `link.visited` carries neither.

use events::consumer::{EventTx, HandlerError};
use mesh::ids::OrganizationId;
use prost::Name;
use taskmesh::events::v1::{DocumentCreated, Event, LinkCreated, LinkDeleted, LinkVisited};

use super::Source;
use super::sql::{created_event, insert_record, records};
use super::sql_deadlines::watchers;
use super::sql_inbox::{actor, decode, mail_notification};
use crate::domain::fanout;

/// How often a link's creator hears about its visits, at most.
const LINK_VISIT_QUIET_MS: i64 = 3_600_000;

/// Whether `event` is one this step handles.
pub(super) fn handles(event: &Event) -> bool {
    let kind = event.payload_type.as_str();
    kind == DocumentCreated::full_name()
        || kind == LinkCreated::full_name()
        || kind == LinkDeleted::full_name()
        || kind == LinkVisited::full_name()
}

/// Applies a document or link event for `organization`.
pub(super) async fn apply(
    tx: EventTx<'_>,
    event: &Event,
    organization: OrganizationId,
    app_url: &str,
    now: i64,
) -> Result<(), HandlerError> {
    let kind = event.payload_type.as_str();
    let source = Source {
        event_id: event.id.clone(),
        actor_user_id: Some(actor(event).to_string()).filter(|user| !user.is_empty()),
        at: now,
    };
    let org = organization.to_string();
    events::on_connection!(tx, |connection, enqueue| {
        let drafts = if kind == DocumentCreated::full_name() {
            let created: DocumentCreated = decode(event)?;
            match watchers!(connection, &created.task_id) {
                Some((title, watchers)) => {
                    fanout::document_added(actor(event), &created, &title, &watchers)
                }
                None => Vec::new(),
            }
        } else if kind == LinkCreated::full_name() {
            let created: LinkCreated = decode(event)?;
            sqlx::query("insert into link_owners (link_id, organization_id, owner_user_id, last_notified_at) values ($1, $2, $3, 0) on conflict (link_id) do nothing")
                .bind(&created.link_id)
                .bind(&org)
                .bind(actor(event))
                .execute(&mut *connection)
                .await?;
            Vec::new()
        } else if kind == LinkDeleted::full_name() {
            let deleted: LinkDeleted = decode(event)?;
            sqlx::query("delete from link_owners where link_id = $1")
                .bind(&deleted.link_id)
                .execute(&mut *connection)
                .await?;
            Vec::new()
        } else {
            let visit: LinkVisited = decode(event)?;
            // Claim this hour's notice for the link; nothing when one was sent less than an
            // hour ago (or the link is unknown).
            let owner: Option<String> = if visit.bot {
                None
            } else {
                sqlx::query_scalar("update link_owners set last_notified_at = $2 where link_id = $1 and last_notified_at <= $3 returning owner_user_id")
                    .bind(&visit.link_id)
                    .bind(now)
                    .bind(now - LINK_VISIT_QUIET_MS)
                    .fetch_optional(&mut *connection)
                    .await?
            };
            owner.map_or_else(Vec::new, |owner| fanout::link_visited(&owner, &visit))
        };
        for record in records(organization, &source, &drafts) {
            if insert_record!(&mut *connection, &record) {
                enqueue(&mut *connection, &created_event(&record)).await?;
                mail_notification!(connection, &record, &event.id, app_url, now);
            }
        }
        Ok(())
    })
}
