//! The inbox store: notifications per organization and recipient. Every read and write names
//! both, so one user can never reach another's notifications (and, on PostgreSQL, row-level
//! security keeps each organization's rows apart).

pub mod sql;
pub mod sql_deadlines;
pub mod sql_inbox;
pub mod sql_mail;
pub mod sql_shares;
pub mod sql_webhook_fanout;
pub mod sql_webhook_schedule;
pub mod sql_webhooks;
pub mod webhooks;

#[cfg(feature = "testsuite")]
pub mod conformance;
#[cfg(feature = "testsuite")]
pub mod conformance_webhooks;

use mesh::ids::{OrganizationId, UserId};
use mesh::paging::{Direction, KeyKind, Keyset, Page, PageRequest};

use crate::domain::fanout::Draft;
use crate::domain::filter::InboxQuery;
use crate::domain::mail::Mail;
use crate::domain::{Channels, Kind, NotificationsError};

/// Store results.
pub type StoreResult<T> = Result<T, NotificationsError>;

/// The inbox order: newest first.
pub const INBOX_ORDER: Keyset = Keyset::new(
    &[("created_at", KeyKind::Int), ("id", KeyKind::Text)],
    Direction::Descending,
);

/// One notification.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct NotificationRecord {
    /// Id (UUIDv7 text).
    pub id: String,
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Who reads it.
    pub recipient_user_id: UserId,
    /// `Kind::as_str`.
    pub kind: String,
    /// Headline.
    pub title: String,
    /// Detail.
    pub body: String,
    /// Project it is about.
    pub project_id: Option<String>,
    /// Task it is about.
    pub task_id: Option<String>,
    /// Document it is about.
    pub document_id: Option<String>,
    /// Share link it is about.
    pub link_id: Option<String>,
    /// Who caused it.
    pub actor_user_id: Option<String>,
    /// The event it came from.
    pub source_event_id: String,
    /// When it was read.
    pub read_at: Option<i64>,
    /// When it was archived.
    pub archived_at: Option<i64>,
    /// When it was created.
    pub created_at: i64,
}

/// Where a notification comes from: the event, who caused it, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The event's id (notifications are unique per event, recipient and kind).
    pub event_id: String,
    /// The acting user, if a user acted.
    pub actor_user_id: Option<String>,
    /// When the notifications are created.
    pub at: i64,
}

/// A user's preferences in an organization: what differs from the defaults, the version (0
/// while never changed) and when they were last changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreferencesRecord {
    /// Kinds whose channels differ from the defaults.
    pub changed: Vec<(Kind, Channels)>,
    /// Version, for etags.
    pub version: i64,
    /// Last change.
    pub updated_at: Option<i64>,
}

impl PreferencesRecord {
    /// The channels of `kind`.
    pub fn channels(&self, kind: Kind) -> Channels {
        self.changed
            .iter()
            .find(|(changed, _)| *changed == kind)
            .map_or_else(|| kind.default_channels(), |(_, channels)| *channels)
    }
}

/// An email in the queue.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct QueuedMail {
    /// Id.
    pub id: String,
    /// Recipient address.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// Attempts made (including a claimed one in progress).
    pub attempts: i64,
}

/// The inbox, as the API and the event handler use it.
#[async_trait::async_trait]
pub trait NotificationsStore: Send + Sync {
    /// Creates a notification per draft (email-only kinds and drafts without a kind are
    /// skipped); a draft already created from the same event is skipped. Returns what was
    /// created.
    async fn deliver(
        &self,
        organization_id: OrganizationId,
        source: &Source,
        drafts: &[Draft],
    ) -> StoreResult<Vec<NotificationRecord>>;

    /// One page of the recipient's notifications matching `query`, newest first.
    async fn list(
        &self,
        organization_id: OrganizationId,
        recipient: UserId,
        query: &InboxQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<NotificationRecord>>;

    /// One of the recipient's notifications.
    async fn get(
        &self,
        organization_id: OrganizationId,
        recipient: UserId,
        id: &str,
    ) -> StoreResult<Option<NotificationRecord>>;

    /// Unread and unarchived notifications of the recipient.
    async fn unread_count(
        &self,
        organization_id: OrganizationId,
        recipient: UserId,
    ) -> StoreResult<i64>;

    /// Marks read, at `now`, the recipient's unread notifications among `ids` (all created
    /// up to `now` when `None`); returns how many changed.
    async fn mark_read(
        &self,
        organization_id: OrganizationId,
        recipient: UserId,
        ids: Option<&[String]>,
        now: i64,
    ) -> StoreResult<i64>;

    /// The recipient's notifications created after `position` (`(created_at, id)`), oldest
    /// first, at most `limit`: what a stream replays and follows.
    async fn since(
        &self,
        organization_id: OrganizationId,
        recipient: UserId,
        position: &(i64, String),
        limit: i64,
    ) -> StoreResult<Vec<NotificationRecord>>;

    /// The position of the recipient's newest notification (`(0, "")` when none).
    async fn newest(
        &self,
        organization_id: OrganizationId,
        recipient: UserId,
    ) -> StoreResult<(i64, String)>;

    /// Whether `user` left the organization (tenancy's member.removed, not followed by a new
    /// member.added).
    async fn departed(&self, organization_id: OrganizationId, user: UserId) -> StoreResult<bool>;

    /// The user's preferences.
    async fn preferences(
        &self,
        organization_id: OrganizationId,
        user: UserId,
    ) -> StoreResult<PreferencesRecord>;

    /// Replaces the user's changed preferences if their version is still `expected` (any
    /// version when `None`); `Conflict` otherwise. Returns the new record.
    async fn replace_preferences(
        &self,
        organization_id: OrganizationId,
        user: UserId,
        changed: &[(Kind, Channels)],
        expected: Option<i64>,
        now: i64,
    ) -> StoreResult<PreferencesRecord>;

    /// Applies one change to the due-reminder projection (the event handler applies them
    /// in the consumer's transaction; this is the same change on its own).
    async fn track_deadline(
        &self,
        change: sql_deadlines::DeadlineChange,
        now: i64,
    ) -> StoreResult<()>;

    /// Creates the due reminders owed at `now` (tasks due within `window` millis, and
    /// overdue ones) for their assignees, mailing those whose email channel is on (links from
    /// `app_url`); returns how many notifications were created.
    async fn remind_due(&self, now: i64, window: i64, app_url: &str) -> StoreResult<u64>;

    /// Queues `mail` for the event `source_event_id` (once per event); returns whether it
    /// was queued now.
    async fn queue_mail(&self, source_event_id: &str, mail: &Mail, now: i64) -> StoreResult<bool>;

    /// Mails whose next attempt is due at `now` and that no sender holds, oldest first.
    async fn due_mail(&self, now: i64, limit: i64) -> StoreResult<Vec<QueuedMail>>;

    /// Takes `id` for one attempt until `until` (so one replica at a time sends it); counts
    /// the attempt. False when another sender holds it or it is gone.
    async fn claim_mail(&self, id: &str, now: i64, until: i64) -> StoreResult<bool>;

    /// After an attempt: `retry_at` schedules the next one (remembering `error`); `None`
    /// deletes the mail (sent, or given up).
    async fn finish_mail(&self, id: &str, retry_at: Option<i64>, error: &str) -> StoreResult<()>;

    /// Archives (and marks read) one of the recipient's notifications; already archived ones
    /// keep their times. `None` when there is no such notification.
    async fn archive(
        &self,
        organization_id: OrganizationId,
        recipient: UserId,
        id: &str,
        now: i64,
    ) -> StoreResult<Option<NotificationRecord>>;
}
