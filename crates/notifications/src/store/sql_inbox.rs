//! The inbox handler: turns other services' events into notifications, in the consumer's
//! transaction (so each event is applied exactly once, with its inbox row), enqueueing a
//! NotificationCreated event per notification created.
//!
//! Invitations and password resets queue an email instead (their events carry the address
//! and the secret link; the secret never reaches an inbox). Event types that tell nobody are
//! acknowledged without effect; a payload that does not decode is an error (retried, then
//! dead-lettered).

use events::consumer::{EventTx, Handler, HandlerError};
use mesh::ids::OrganizationId;
use prost::{Message, Name};
use taskmesh::events::v1::{
    ActorKind, CommentCreated, Event, InvitationCreated, MemberAdded, MemberRemoved,
    MemberRoleChanged, PasswordResetRequested, ProjectMemberAdded, TaskAssigned, TaskCompleted,
    TaskCreated, TaskMoved, TokenReuseDetected, UserCreated,
};

use super::Source;
use super::sql::{created_event, insert_record, records};
use super::sql_deadlines::{deadline_change, track_deadline, watchers};
use super::sql_mail::enqueue_mail;
use crate::domain::fanout::{self, Draft};
use crate::domain::mail::{self, Mail};

/// The subjects whose events may notify someone, one consumer per source service (a
/// consumer reads one service's stream).
pub const PROJECTS_EVENTS: &str = "taskmesh.projects.>";
/// Tenancy's events.
pub const TENANCY_EVENTS: &str = "taskmesh.tenancy.>";
/// Tenancy's membership events (streams of someone who left end).
pub const MEMBER_EVENTS: &str = "taskmesh.tenancy.member.>";
/// Identity's events (password resets).
pub const IDENTITY_EVENTS: &str = "taskmesh.identity.>";

/// Queues the email of a notification just created on `$connection` when its recipient's
/// choice for the kind (else the kind's default) has email on and identity told us their
/// address.
macro_rules! mail_notification {
    ($connection:expr, $record:expr, $event_id:expr, $app_url:expr, $now:expr) => {{
        let record: &crate::store::NotificationRecord = $record;
        if let Some(kind) = crate::domain::Kind::parse(&record.kind) {
            let chosen: Option<bool> = sqlx::query_scalar("select email from notification_preferences where organization_id = $1 and user_id = $2 and kind = $3")
                .bind(record.organization_id)
                .bind(record.recipient_user_id)
                .bind(&record.kind)
                .fetch_optional(&mut *$connection)
                .await?;
            if chosen.unwrap_or(kind.default_channels().email) {
                let address: Option<String> =
                    sqlx::query_scalar("select email from recipients where user_id = $1")
                        .bind(record.recipient_user_id)
                        .fetch_optional(&mut *$connection)
                        .await?;
                if let Some(address) = address {
                    let mail = crate::domain::mail::notification(
                        &address,
                        &record.title,
                        &record.body,
                        $app_url,
                    );
                    let _queued = crate::store::sql_mail::enqueue_mail!(
                        &mut *$connection,
                        &mail,
                        $event_id,
                        $now
                    );
                }
            }
        }
    }};
}
pub(super) use mail_notification;

/// Applies events to inboxes and the mail queue; see the module docs.
pub struct InboxHandler {
    /// Base URL of the links in emails.
    pub app_url: String,
}

/// The email `event` causes, if any.
pub fn mail(event: &Event, app_url: &str) -> Result<Option<Mail>, HandlerError> {
    let kind = event.payload_type.as_str();
    Ok(if kind == InvitationCreated::full_name() {
        Some(mail::invitation(&decode(event)?, app_url))
    } else if kind == PasswordResetRequested::full_name() {
        Some(mail::password_reset(&decode(event)?, app_url))
    } else {
        None
    })
}

/// The payload of `event` as `P` (an error the consumer retries, then dead-letters).
pub(super) fn decode<P: Message + Name + Default>(event: &Event) -> Result<P, HandlerError> {
    P::decode(event.payload.as_slice())
        .map_err(|error| HandlerError(format!("bad {} payload: {error}", P::full_name())))
}

/// The acting user of `event` (empty when no user acted).
pub(super) fn actor(event: &Event) -> &str {
    event
        .actor
        .as_ref()
        .filter(|actor| actor.kind == ActorKind::User as i32)
        .map(|actor| actor.user_id.as_str())
        .unwrap_or_default()
}

/// Who hears about `event`, by its payload type (nobody for types that notify no one, and
/// for a status change, whose watchers are read from `tracked_tasks` by the handler).
pub fn drafts(event: &Event) -> Result<Vec<Draft>, HandlerError> {
    let actor = actor(event);
    let kind = event.payload_type.as_str();
    Ok(if kind == TaskCreated::full_name() {
        fanout::task_created(actor, &decode(event)?)
    } else if kind == TaskAssigned::full_name() {
        fanout::task_assigned(actor, &decode(event)?)
    } else if kind == CommentCreated::full_name() {
        fanout::comment_created(actor, &decode(event)?)
    } else if kind == TaskCompleted::full_name() {
        fanout::task_completed(actor, &decode(event)?)
    } else if kind == ProjectMemberAdded::full_name() {
        fanout::project_member_added(actor, &decode(event)?)
    } else if kind == MemberAdded::full_name() {
        fanout::member_added(actor, &decode(event)?)
    } else if kind == MemberRoleChanged::full_name() {
        fanout::member_role_changed(actor, &decode(event)?)
    } else {
        Vec::new()
    })
}

/// Records who belongs to which organization (for alerts to all of a user's organizations)
/// and who left (their open streams end).
async fn track_membership(tx: EventTx<'_>, event: &Event, now: i64) -> Result<(), HandlerError> {
    // (organization, user, role while a member; None once removed)
    let (organization, user, role) = if event.payload_type == MemberAdded::full_name() {
        let added: MemberAdded = decode(event)?;
        (added.organization_id, added.user_id, Some(added.role))
    } else if event.payload_type == MemberRoleChanged::full_name() {
        let changed: MemberRoleChanged = decode(event)?;
        (
            changed.organization_id,
            changed.user_id,
            Some(changed.new_role),
        )
    } else {
        let removed: MemberRemoved = decode(event)?;
        (removed.organization_id, removed.user_id, None)
    };
    events::on_connection!(tx, |connection, enqueue| {
        if let Some(role) = &role {
            sqlx::query("insert into memberships (organization_id, user_id, role) values ($1, $2, $3) on conflict (user_id, organization_id) do update set role = $3")
                .bind(&organization)
                .bind(&user)
                .bind(role)
                .execute(&mut *connection)
                .await?;
            sqlx::query("delete from departures where organization_id = $1 and user_id = $2")
                .bind(&organization)
                .bind(&user)
                .execute(&mut *connection)
                .await?;
        } else {
            sqlx::query("delete from memberships where organization_id = $1 and user_id = $2")
                .bind(&organization)
                .bind(&user)
                .execute(&mut *connection)
                .await?;
            sqlx::query("insert into departures (organization_id, user_id, departed_at) values ($1, $2, $3) on conflict (organization_id, user_id) do update set departed_at = $3")
                .bind(&organization)
                .bind(&user)
                .bind(now)
                .execute(&mut *connection)
                .await?;
        }
        Ok(())
    })
}

/// The security alert of a reused refresh token: mailed whatever the preferences say, and
/// put in the user's inbox in each organization they belong to.
async fn security_alert(
    tx: EventTx<'_>,
    event: &Event,
    reuse: &TokenReuseDetected,
    now: i64,
) -> Result<(), HandlerError> {
    let draft = Draft {
        recipient_user_id: reuse.user_id.clone(),
        kind: Some(crate::domain::Kind::SecurityAlert),
        title: "Security alert: a session of your account was revoked".into(),
        body: format!(
            "A refresh token was used twice (from {}); the session was revoked. If this was not \
             you, change your password.",
            if reuse.ip_address.is_empty() {
                "an unknown address"
            } else {
                reuse.ip_address.as_str()
            }
        ),
        ..Draft::default()
    };
    let source = Source {
        event_id: event.id.clone(),
        actor_user_id: None,
        at: now,
    };
    // The event belongs to no organization: each inbox row is written with its own
    // organization's row-level-security scope on PostgreSQL.
    macro_rules! alert {
        ($connection:expr, $enqueue:expr, $scope:expr) => {{
            let address: Option<String> =
                sqlx::query_scalar("select email from recipients where user_id = $1")
                    .bind(&reuse.user_id)
                    .fetch_optional(&mut *$connection)
                    .await?;
            if let Some(address) = address {
                let mail = mail::token_reuse(&address, reuse);
                let _queued = enqueue_mail!(&mut *$connection, &mail, &event.id, now);
            }
            let organizations: Vec<String> =
                sqlx::query_scalar("select organization_id from memberships where user_id = $1")
                    .bind(&reuse.user_id)
                    .fetch_all(&mut *$connection)
                    .await?;
            for organization in organizations {
                let Ok(id) = organization.parse::<OrganizationId>() else {
                    continue;
                };
                $scope(&mut *$connection, &organization).await?;
                for record in records(id, &source, std::slice::from_ref(&draft)) {
                    if insert_record!(&mut *$connection, &record) {
                        $enqueue(&mut *$connection, &created_event(&record)).await?;
                    }
                }
            }
            Ok(())
        }};
    }
    match tx {
        EventTx::Sqlite(connection) => alert!(
            connection,
            events::outbox::enqueue_sqlite,
            mesh::db::scope_to_tenant_sqlite
        ),
        EventTx::Postgres(connection) => alert!(
            connection,
            events::outbox::enqueue_postgres,
            mesh::db::scope_to_tenant_postgres
        ),
    }
}

#[async_trait::async_trait]
impl Handler for InboxHandler {
    async fn handle(&self, mut tx: EventTx<'_>, event: &Event) -> Result<(), HandlerError> {
        let now = mesh::time::now_millis();
        if event.payload_type == UserCreated::full_name() {
            // Remember the address, for email notifications and security alerts.
            let user: UserCreated = decode(event)?;
            return events::on_connection!(tx, |connection, enqueue| {
                sqlx::query("insert into recipients (user_id, email, updated_at) values ($1, $2, $3) on conflict (user_id) do update set email = $2, updated_at = $3")
                    .bind(&user.user_id)
                    .bind(&user.email)
                    .bind(now)
                    .execute(&mut *connection)
                    .await?;
                Ok(())
            });
        }
        if event.payload_type == TokenReuseDetected::full_name() {
            return security_alert(tx, event, &decode(event)?, now).await;
        }
        if event.payload_type == MemberAdded::full_name()
            || event.payload_type == MemberRoleChanged::full_name()
            || event.payload_type == MemberRemoved::full_name()
        {
            track_membership(tx.reborrow(), event, now).await?;
        }
        if let Some(mail) = mail(event, &self.app_url)?.filter(|mail| !mail.to.is_empty()) {
            return events::on_connection!(tx, |connection, enqueue| {
                let _queued = enqueue_mail!(&mut *connection, &mail, &event.id, now);
                Ok(())
            });
        }
        let Ok(organization) = event.tenant_id.parse::<OrganizationId>() else {
            return Ok(());
        };
        if super::sql_shares::handles(event) {
            return super::sql_shares::apply(tx, event, organization, &self.app_url, now).await;
        }
        let drafts = drafts(event)?;
        let deadline = deadline_change(event)?;
        let moved: Option<TaskMoved> = (event.payload_type == TaskMoved::full_name())
            .then(|| decode(event))
            .transpose()?;
        if drafts.is_empty() && deadline.is_none() && moved.is_none() {
            return Ok(());
        }
        let source = Source {
            event_id: event.id.clone(),
            actor_user_id: event
                .actor
                .as_ref()
                .map(|actor| actor.user_id.clone())
                .filter(|user| !user.is_empty()),
            at: mesh::time::now_millis(),
        };
        let mut records = records(organization, &source, &drafts);
        events::on_connection!(tx, |connection, enqueue| {
            if let Some(moved) = &moved
                && let Some((title, watchers)) = watchers!(connection, &moved.task_id)
            {
                let told = fanout::task_moved(actor(event), moved, &title, &watchers);
                records.extend(super::sql::records(organization, &source, &told));
            }
            if let Some(change) = deadline {
                track_deadline!(connection, change, now);
            }
            for record in &records {
                if insert_record!(&mut *connection, record) {
                    enqueue(&mut *connection, &created_event(record)).await?;
                    mail_notification!(connection, record, &event.id, &self.app_url, now);
                }
            }
            Ok(())
        })
    }
}
