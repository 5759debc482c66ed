//! The mail queue: emails written in the transaction of the event that causes them, sent
//! later by the mail worker, deleted once sent or given up (their links carry secrets).

use super::sql::SqlNotificationsStore;
use super::{QueuedMail, StoreResult};
use crate::domain::NotificationsError;
use crate::domain::mail::Mail;

pub(super) const ENQUEUE: &str = "insert into mail_queue (id, recipient, subject, body, source_event_id, attempts, next_attempt_at, claimed_until, last_error, created_at) values ($1, $2, $3, $4, $5, 0, $6, 0, '', $6) on conflict (source_event_id, recipient) do nothing";

/// Queues `$mail` for the event `$event_id` on `$executor` (once per event); evaluates to
/// whether a row was added.
macro_rules! enqueue_mail {
    ($executor:expr, $mail:expr, $event_id:expr, $now:expr) => {{
        let mail: &crate::domain::mail::Mail = $mail;
        sqlx::query(crate::store::sql_mail::ENQUEUE)
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(&mail.to)
            .bind(&mail.subject)
            .bind(&mail.body)
            .bind($event_id)
            .bind($now)
            .execute($executor)
            .await?
            .rows_affected()
            == 1
    }};
}
pub(super) use enqueue_mail;

impl SqlNotificationsStore {
    pub(super) async fn queue(&self, event_id: &str, mail: &Mail, now: i64) -> StoreResult<bool> {
        mesh::transaction!(&self.0.database, None, None, |tx| {
            Ok::<_, NotificationsError>(enqueue_mail!(&mut *tx, mail, event_id, now))
        })
    }

    pub(super) async fn due(&self, now: i64, limit: i64) -> StoreResult<Vec<QueuedMail>> {
        mesh::read_one!(&self.0.database, None, None, |tx| {
            Ok::<_, NotificationsError>(sqlx::query_as("select id, recipient, subject, body, attempts from mail_queue where next_attempt_at <= $1 and claimed_until <= $1 order by next_attempt_at, id limit $2")
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?)
        })
    }

    pub(super) async fn claim(&self, id: &str, now: i64, until: i64) -> StoreResult<bool> {
        mesh::transaction!(&self.0.database, None, None, |tx| {
            let claimed = sqlx::query("update mail_queue set claimed_until = $3, attempts = attempts + 1 where id = $1 and claimed_until <= $2 and next_attempt_at <= $2")
                .bind(id)
                .bind(now)
                .bind(until)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            Ok::<_, NotificationsError>(claimed == 1)
        })
    }

    pub(super) async fn finish(
        &self,
        id: &str,
        retry_at: Option<i64>,
        error: &str,
    ) -> StoreResult<()> {
        mesh::transaction!(&self.0.database, None, None, |tx| {
            match retry_at {
                Some(at) => {
                    sqlx::query("update mail_queue set next_attempt_at = $2, claimed_until = 0, last_error = $3 where id = $1")
                        .bind(id)
                        .bind(at)
                        .bind(error)
                        .execute(&mut *tx)
                        .await?;
                }
                None => {
                    sqlx::query("delete from mail_queue where id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            Ok::<_, NotificationsError>(())
        })
    }
}
