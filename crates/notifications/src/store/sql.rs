//! [`NotificationsStore`] on SQLite and PostgreSQL, written once for both (`$n`
//! placeholders, `bigint` millis, text ids). Creating notifications also enqueues their
//! NotificationCreated events in the same transaction.

use events::EventMessage;
use mesh::ids::{OrganizationId, UserId};
use mesh::paging::{Page, PageRequest};
use sqlx::QueryBuilder;
use taskmesh::events::v1::NotificationCreated;

use super::{
    NotificationRecord, NotificationsStore, PreferencesRecord, QueuedMail, Source, StoreResult,
};
use crate::domain::fanout::Draft;
use crate::domain::filter::InboxQuery;
use crate::domain::mail::Mail;
use crate::domain::{Channels, Kind, NotificationsError};

mesh::storage_errors_into!(NotificationsError);

/// The notifications database as the service sees it.
pub struct SqlNotificationsStore(pub kit::Storage);

/// Notifications' migrations (its tables) for either backend.
pub fn migrations() -> mesh::db::Migrations {
    mesh::migrations!(
        "_notifications_migrations",
        "../../migrations/notifications/sqlite",
        "../../migrations/notifications/postgres"
    )
}

/// Inserts a notification unless its recipient switched the kind's in-app channel off (only
/// changed preferences are stored, and every inbox kind is in-app by default) or the same
/// event already notified them of the same kind.
pub(super) const INSERT: &str = "insert into notifications (id, organization_id, recipient_user_id, kind, title, body, project_id, task_id, document_id, link_id, actor_user_id, source_event_id, read_at, archived_at, created_at) select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 where not exists (select 1 from notification_preferences p where p.organization_id = $2 and p.user_id = $3 and p.kind = $4 and not p.in_app) on conflict (source_event_id, recipient_user_id, kind) do nothing";

/// Inserts `$record` on `$executor` unless the same event already notified the same
/// recipient of the same kind; evaluates to whether a row was added.
macro_rules! insert_record {
    ($executor:expr, $record:expr) => {{
        let record: &crate::store::NotificationRecord = $record;
        sqlx::query(crate::store::sql::INSERT)
            .bind(&record.id)
            .bind(record.organization_id)
            .bind(record.recipient_user_id)
            .bind(&record.kind)
            .bind(&record.title)
            .bind(&record.body)
            .bind(&record.project_id)
            .bind(&record.task_id)
            .bind(&record.document_id)
            .bind(&record.link_id)
            .bind(&record.actor_user_id)
            .bind(&record.source_event_id)
            .bind(record.read_at)
            .bind(record.archived_at)
            .bind(record.created_at)
            .execute($executor)
            .await?
            .rows_affected()
            == 1
    }};
}
pub(super) use insert_record;

/// The inbox notifications of `drafts` (email-only kinds and unparseable recipients left out).
pub(super) fn records(
    organization_id: OrganizationId,
    source: &Source,
    drafts: &[Draft],
) -> Vec<NotificationRecord> {
    drafts
        .iter()
        .filter_map(|draft| {
            let kind = draft.kind.filter(|kind| !kind.email_only())?;
            let recipient_user_id = draft.recipient_user_id.parse().ok()?;
            Some(NotificationRecord {
                id: uuid::Uuid::now_v7().to_string(),
                organization_id,
                recipient_user_id,
                kind: kind.as_str().into(),
                title: draft.title.clone(),
                body: draft.body.clone(),
                project_id: draft.project_id.clone(),
                task_id: draft.task_id.clone(),
                document_id: draft.document_id.clone(),
                link_id: draft.link_id.clone(),
                actor_user_id: source.actor_user_id.clone(),
                source_event_id: source.event_id.clone(),
                read_at: None,
                archived_at: None,
                created_at: source.at,
            })
        })
        .collect()
}

/// The NotificationCreated event of a new notification.
pub(super) fn created_event(record: &NotificationRecord) -> EventMessage {
    let payload = NotificationCreated {
        notification_id: record.id.clone(),
        recipient_user_id: record.recipient_user_id.to_string(),
        kind: record.kind.clone(),
        source_event_id: record.source_event_id.clone(),
        project_id: record.project_id.clone().unwrap_or_default(),
        task_id: record.task_id.clone().unwrap_or_default(),
        document_id: record.document_id.clone().unwrap_or_default(),
        link_id: record.link_id.clone().unwrap_or_default(),
    };
    crate::events::NOTIFICATION_CREATED
        .event(
            format!(
                "users/{}/notifications/{}",
                record.recipient_user_id, record.id
            ),
            &payload,
        )
        .tenant(record.organization_id)
        .service_actor("notifications")
        .build()
}

/// Appends ` and created_at >(=) after and created_at <(=) before` for the bounds given
/// (millis, inclusive).
pub(super) fn push_created_range<DB>(
    query: &mut QueryBuilder<DB>,
    after: Option<(i64, bool)>,
    before: Option<(i64, bool)>,
) where
    DB: sqlx::Database,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if let Some((millis, inclusive)) = after {
        query
            .push(if inclusive {
                " and created_at >= "
            } else {
                " and created_at > "
            })
            .push_bind(millis);
    }
    if let Some((millis, inclusive)) = before {
        query
            .push(if inclusive {
                " and created_at <= "
            } else {
                " and created_at < "
            })
            .push_bind(millis);
    }
}

fn push_query<DB>(
    query: &mut QueryBuilder<DB>,
    organization_id: OrganizationId,
    recipient: UserId,
    inbox: &InboxQuery,
) where
    DB: sqlx::Database,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    query
        .push("select * from notifications where organization_id = ")
        .push_bind(organization_id.to_string())
        .push(" and recipient_user_id = ")
        .push_bind(recipient.to_string());
    match inbox.read {
        Some(true) => query.push(" and read_at is not null"),
        Some(false) => query.push(" and read_at is null"),
        None => query,
    };
    match inbox.archived {
        Some(true) => query.push(" and archived_at is not null"),
        Some(false) => query.push(" and archived_at is null"),
        None => query,
    };
    if !inbox.kinds.is_empty() {
        query.push(" and kind in (");
        let mut list = query.separated(", ");
        for kind in &inbox.kinds {
            list.push_bind(kind.as_str().to_string());
        }
        query.push(")");
    }
    if let Some(project) = &inbox.project_id {
        query.push(" and project_id = ").push_bind(project.clone());
    }
    if let Some(task) = &inbox.task_id {
        query.push(" and task_id = ").push_bind(task.clone());
    }
    push_created_range(query, inbox.after, inbox.before);
}

#[async_trait::async_trait]
impl NotificationsStore for SqlNotificationsStore {
    async fn deliver(
        &self,
        organization_id: OrganizationId,
        source: &Source,
        drafts: &[Draft],
    ) -> StoreResult<Vec<NotificationRecord>> {
        let records = records(organization_id, source, drafts);
        kit::change!(&self.0, Some(organization_id), None, |tx, effects| {
            let mut created = Vec::new();
            for record in &records {
                if insert_record!(&mut *tx, record) {
                    effects.events.push(created_event(record));
                    created.push(record.clone());
                }
            }
            Ok::<_, NotificationsError>(created)
        })
    }

    async fn list(
        &self,
        organization_id: OrganizationId,
        recipient: UserId,
        inbox: &InboxQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<NotificationRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            let mut query = QueryBuilder::new("");
            push_query(&mut query, organization_id, recipient, inbox);
            page.push_keyset(&mut query);
            let rows: Vec<NotificationRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok::<_, NotificationsError>(page.finish(rows, |row| {
                vec![row.created_at.into(), row.id.clone().into()]
            }))
        })
    }

    async fn get(
        &self,
        organization_id: OrganizationId,
        recipient: UserId,
        id: &str,
    ) -> StoreResult<Option<NotificationRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, NotificationsError>(sqlx::query_as("select * from notifications where organization_id = $1 and recipient_user_id = $2 and id = $3")
                .bind(organization_id)
                .bind(recipient)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    async fn unread_count(
        &self,
        organization_id: OrganizationId,
        recipient: UserId,
    ) -> StoreResult<i64> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, NotificationsError>(sqlx::query_scalar("select count(*) from notifications where organization_id = $1 and recipient_user_id = $2 and read_at is null and archived_at is null")
                .bind(organization_id)
                .bind(recipient)
                .fetch_one(&mut *tx)
                .await?)
        })
    }

    async fn mark_read(
        &self,
        organization_id: OrganizationId,
        recipient: UserId,
        ids: Option<&[String]>,
        now: i64,
    ) -> StoreResult<i64> {
        if ids.is_some_and(<[String]>::is_empty) {
            return Ok(0);
        }
        mesh::transaction!(&self.0.database, Some(organization_id), None, |tx| {
            let mut query = QueryBuilder::new("update notifications set read_at = ");
            query
                .push_bind(now)
                .push(" where organization_id = ")
                .push_bind(organization_id.to_string())
                .push(" and recipient_user_id = ")
                .push_bind(recipient.to_string())
                .push(" and read_at is null");
            match ids {
                Some(ids) => {
                    query.push(" and id in (");
                    let mut list = query.separated(", ");
                    for id in ids {
                        list.push_bind(id.clone());
                    }
                    query.push(")");
                }
                None => {
                    query.push(" and created_at <= ").push_bind(now);
                }
            }
            let changed = query.build().execute(&mut *tx).await?.rows_affected();
            Ok::<_, NotificationsError>(i64::try_from(changed).unwrap_or(i64::MAX))
        })
    }

    async fn since(
        &self,
        organization_id: OrganizationId,
        recipient: UserId,
        position: &(i64, String),
        limit: i64,
    ) -> StoreResult<Vec<NotificationRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, NotificationsError>(sqlx::query_as("select * from notifications where organization_id = $1 and recipient_user_id = $2 and (created_at > $3 or (created_at = $3 and id > $4)) order by created_at, id limit $5")
                .bind(organization_id)
                .bind(recipient)
                .bind(position.0)
                .bind(&position.1)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?)
        })
    }

    async fn newest(
        &self,
        organization_id: OrganizationId,
        recipient: UserId,
    ) -> StoreResult<(i64, String)> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            let newest: Option<(i64, String)> = sqlx::query_as("select created_at, id from notifications where organization_id = $1 and recipient_user_id = $2 order by created_at desc, id desc limit 1")
                .bind(organization_id)
                .bind(recipient)
                .fetch_optional(&mut *tx)
                .await?;
            Ok::<_, NotificationsError>(newest.unwrap_or((0, String::new())))
        })
    }

    async fn departed(&self, organization_id: OrganizationId, user: UserId) -> StoreResult<bool> {
        mesh::read_one!(&self.0.database, None, None, |tx| {
            let departed: Option<i64> = sqlx::query_scalar(
                "select departed_at from departures where organization_id = $1 and user_id = $2",
            )
            .bind(organization_id)
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
            Ok::<_, NotificationsError>(departed.is_some())
        })
    }

    async fn preferences(
        &self,
        organization_id: OrganizationId,
        user: UserId,
    ) -> StoreResult<PreferencesRecord> {
        mesh::read!(&self.0.database, Some(organization_id), None, |tx| {
            let rows: Vec<(String, bool, bool)> = sqlx::query_as("select kind, in_app, email from notification_preferences where organization_id = $1 and user_id = $2 order by kind")
                .bind(organization_id)
                .bind(user)
                .fetch_all(&mut *tx)
                .await?;
            let version: Option<(i64, i64)> = sqlx::query_as("select version, updated_at from preference_versions where organization_id = $1 and user_id = $2")
                .bind(organization_id)
                .bind(user)
                .fetch_optional(&mut *tx)
                .await?;
            Ok::<_, NotificationsError>(PreferencesRecord {
                changed: rows
                    .into_iter()
                    .filter_map(|(kind, in_app, email)| {
                        Some((Kind::parse(&kind)?, Channels { in_app, email }))
                    })
                    .collect(),
                version: version.map_or(0, |(version, _)| version),
                updated_at: version.map(|(_, at)| at),
            })
        })
    }

    async fn replace_preferences(
        &self,
        organization_id: OrganizationId,
        user: UserId,
        changed: &[(Kind, Channels)],
        expected: Option<i64>,
        now: i64,
    ) -> StoreResult<PreferencesRecord> {
        mesh::transaction!(&self.0.database, Some(organization_id), None, |tx| {
            // The version row is written first: its lock orders concurrent updates.
            let version: i64 = sqlx::query_scalar("insert into preference_versions (organization_id, user_id, version, updated_at) values ($1, $2, 1, $3) on conflict (organization_id, user_id) do update set version = preference_versions.version + 1, updated_at = $3 returning version")
                .bind(organization_id)
                .bind(user)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            if expected.is_some_and(|expected| expected != version - 1) {
                return Err(NotificationsError::EtagMismatch);
            }
            sqlx::query(
                "delete from notification_preferences where organization_id = $1 and user_id = $2",
            )
            .bind(organization_id)
            .bind(user)
            .execute(&mut *tx)
            .await?;
            for (kind, channels) in changed {
                sqlx::query("insert into notification_preferences (organization_id, user_id, kind, in_app, email) values ($1, $2, $3, $4, $5)")
                    .bind(organization_id)
                    .bind(user)
                    .bind(kind.as_str())
                    .bind(channels.in_app)
                    .bind(channels.email)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(PreferencesRecord {
                changed: changed.to_vec(),
                version,
                updated_at: Some(now),
            })
        })
    }

    async fn track_deadline(
        &self,
        change: super::sql_deadlines::DeadlineChange,
        now: i64,
    ) -> StoreResult<()> {
        mesh::transaction!(&self.0.database, None, None, |tx| {
            super::sql_deadlines::track_deadline!(tx, change, now);
            Ok::<_, NotificationsError>(())
        })
    }

    async fn remind_due(&self, now: i64, window: i64, app_url: &str) -> StoreResult<u64> {
        self.remind(now, window, app_url).await
    }

    async fn queue_mail(&self, source_event_id: &str, mail: &Mail, now: i64) -> StoreResult<bool> {
        self.queue(source_event_id, mail, now).await
    }

    async fn due_mail(&self, now: i64, limit: i64) -> StoreResult<Vec<QueuedMail>> {
        self.due(now, limit).await
    }

    async fn claim_mail(&self, id: &str, now: i64, until: i64) -> StoreResult<bool> {
        self.claim(id, now, until).await
    }

    async fn finish_mail(&self, id: &str, retry_at: Option<i64>, error: &str) -> StoreResult<()> {
        self.finish(id, retry_at, error).await
    }

    async fn archive(
        &self,
        organization_id: OrganizationId,
        recipient: UserId,
        id: &str,
        now: i64,
    ) -> StoreResult<Option<NotificationRecord>> {
        mesh::transaction!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, NotificationsError>(sqlx::query_as("update notifications set archived_at = coalesce(archived_at, $4), read_at = coalesce(read_at, $4) where organization_id = $1 and recipient_user_id = $2 and id = $3 returning *")
                .bind(organization_id)
                .bind(recipient)
                .bind(id)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }
}
