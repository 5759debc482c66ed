//! The transactional outbox and its relay.
//!
//! A service writes its events with [`OutboxWriter::enqueue`] (through `kit::write!`) inside
//! the same transaction as the state change, so an event exists if and only if the change
//! committed. The [`OutboxRelay`] publishes unsent rows in sequence order; a row is marked
//! sent only after the bus acknowledged it, and a failure stops the batch (later rows wait,
//! so order is kept) and backs off. Publishing is idempotent by event id, so a crash between
//! publish and mark costs a duplicate the broker drops, never a loss.
//! On PostgreSQL a transaction-scoped advisory lock makes one replica's relay drain at a
//! time. Sent rows are purged after `retention`, because payloads may carry single-use
//! secrets (password-reset and invitation tokens) that must not linger.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mesh::db::Database;
use mesh::server::Shutdown;
use sqlx::{PgConnection, Row, SqliteConnection};
use tokio::sync::Notify;

use crate::bus::{Bus, EventMessage};

/// Inserts one event into the outbox on whatever connection `$connection` is; the same SQL
/// serves both backends.
macro_rules! insert_outbox {
    ($connection:expr, $message:expr) => {
        sqlx::query(
            "insert into event_outbox (id, subject, tenant_id, payload) values ($1, $2, $3, $4)",
        )
        .bind($message.id.to_string())
        .bind(&$message.subject)
        .bind($message.tenant_id)
        .bind($message.payload.as_ref())
        .execute($connection)
        .await
        .map(|_| ())
    };
}

/// Writes `message` to the outbox inside the caller's SQLite transaction.
pub async fn enqueue_sqlite(
    connection: &mut SqliteConnection,
    message: &EventMessage,
) -> Result<(), sqlx::Error> {
    insert_outbox!(connection, message)
}

/// Writes `message` to the outbox inside the caller's PostgreSQL transaction.
pub async fn enqueue_postgres(
    connection: &mut PgConnection,
    message: &EventMessage,
) -> Result<(), sqlx::Error> {
    insert_outbox!(connection, message)
}

/// Wakes an [`OutboxRelay`] so committed events are published now, not at its next poll.
#[derive(Clone, Debug, Default)]
pub struct OutboxWaker(Option<Arc<Notify>>);

impl OutboxWaker {
    /// A waker attached to no relay (a store in a test, whose outbox nobody drains).
    pub fn detached() -> Self {
        Self(None)
    }

    /// Wakes the relay, if any.
    pub fn wake(&self) {
        if let Some(notify) = &self.0 {
            notify.notify_one();
        }
    }
}

/// Publishes the outbox of one service database.
#[derive(Clone)]
pub struct OutboxRelay {
    database: Database,
    bus: Arc<dyn Bus>,
    wake: Arc<Notify>,
    poll: Duration,
    batch: i64,
    retention: Duration,
}

/// Rows still waiting, and how many were published in the last pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Published and marked sent in this pass.
    pub published: usize,
    /// True when a publish failed and rows remain.
    pub blocked: bool,
}

impl OutboxRelay {
    /// A relay from `database`'s outbox to `bus`, polling every `poll` when not woken.
    pub fn new(database: Database, bus: Arc<dyn Bus>, poll: Duration) -> Self {
        Self {
            database,
            bus,
            wake: Arc::new(Notify::new()),
            poll,
            batch: 100,
            retention: Duration::from_secs(3_600),
        }
    }

    /// Call after committing a transaction that enqueued events, to publish them now rather
    /// than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A handle that wakes this relay; stores keep one and use it after every commit that
    /// enqueued events (see `kit::write!`).
    pub fn waker(&self) -> OutboxWaker {
        OutboxWaker(Some(self.wake.clone()))
    }

    /// Publishes everything unsent, in order, until the outbox is empty or a publish fails.
    pub async fn drain(&self) -> Result<DrainReport, sqlx::Error> {
        let mut report = DrainReport::default();
        loop {
            let (published, blocked, more) = self.drain_batch().await?;
            report.published += published;
            if blocked {
                report.blocked = true;
                return Ok(report);
            }
            if !more {
                return Ok(report);
            }
        }
    }

    /// One batch: returns (published, blocked, maybe more).
    async fn drain_batch(&self) -> Result<(usize, bool, bool), sqlx::Error> {
        match &self.database {
            Database::Sqlite(pool) => {
                let rows = sqlx::query(
                    "select sequence, id, subject, payload, tenant_id from event_outbox where sent_at is null order by sequence limit $1",
                )
                .bind(self.batch)
                .fetch_all(pool)
                .await?;
                let more = rows.len() as i64 == self.batch;
                // Publish first, then mark the batch in one write transaction taken in turn
                // with the service's writers (marking row by row outside the turn left the
                // relay polling SQLite's busy handler behind a stream of writers).
                let mut sent = Vec::new();
                let mut failed = None;
                for row in rows {
                    let (sequence, message) = decode_row(&row)?;
                    match self.bus.publish(&message).await {
                        Ok(()) => sent.push(sequence),
                        Err(error) => {
                            failed = Some((sequence, error.to_string()));
                            break;
                        }
                    }
                }
                let (_turn, mut transaction) = mesh::db::begin_sqlite_write(pool).await?;
                for sequence in &sent {
                    sqlx::query("update event_outbox set sent_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), attempts = attempts + 1, last_error = null where sequence = $1")
                        .bind(sequence)
                        .execute(&mut *transaction)
                        .await?;
                }
                if let Some((sequence, error)) = &failed {
                    sqlx::query("update event_outbox set attempts = attempts + 1, last_error = $2 where sequence = $1")
                        .bind(sequence)
                        .bind(error)
                        .execute(&mut *transaction)
                        .await?;
                }
                transaction.commit().await?;
                Ok((sent.len(), failed.is_some(), more || failed.is_some()))
            }
            Database::Postgres { pool, schema } => {
                let mut transaction = pool.begin().await?;
                let locked: bool =
                    sqlx::query_scalar("select pg_try_advisory_xact_lock(hashtext($1))")
                        .bind(format!("taskmesh.outbox.{schema}"))
                        .fetch_one(&mut *transaction)
                        .await?;
                if !locked {
                    // Another replica is draining this outbox.
                    return Ok((0, false, false));
                }
                let rows = sqlx::query(
                    "select sequence, id, subject, payload, tenant_id from event_outbox where sent_at is null order by sequence limit $1",
                )
                .bind(self.batch)
                .fetch_all(&mut *transaction)
                .await?;
                let more = rows.len() as i64 == self.batch;
                let mut published = 0;
                let mut blocked = false;
                for row in rows {
                    let (sequence, message) = decode_row(&row)?;
                    match self.bus.publish(&message).await {
                        Ok(()) => {
                            sqlx::query("update event_outbox set sent_at = now(), attempts = attempts + 1, last_error = null where sequence = $1")
                                .bind(sequence)
                                .execute(&mut *transaction)
                                .await?;
                            published += 1;
                        }
                        Err(error) => {
                            sqlx::query("update event_outbox set attempts = attempts + 1, last_error = $2 where sequence = $1")
                                .bind(sequence)
                                .bind(error.to_string())
                                .execute(&mut *transaction)
                                .await?;
                            blocked = true;
                            break;
                        }
                    }
                }
                transaction.commit().await?;
                Ok((published, blocked, more && !blocked))
            }
        }
    }

    /// Deletes rows sent longer ago than the retention.
    pub async fn purge_sent(&self) -> Result<u64, sqlx::Error> {
        let seconds = self.retention.as_secs() as i64;
        let result = match &self.database {
            Database::Sqlite(pool) => {
                let (_turn, mut transaction) = mesh::db::begin_sqlite_write(pool).await?;
                let deleted = sqlx::query("delete from event_outbox where sent_at is not null and sent_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || $1 || ' seconds')")
                    .bind(seconds)
                    .execute(&mut *transaction)
                    .await?
                    .rows_affected();
                transaction.commit().await?;
                deleted
            }
            Database::Postgres { pool, .. } => {
                sqlx::query("delete from event_outbox where sent_at is not null and sent_at < now() - make_interval(secs => $1)")
                    .bind(seconds as f64)
                    .execute(pool)
                    .await?
                    .rows_affected()
            }
        };
        Ok(result)
    }

    /// Number of rows not yet published (for `/readyz` and tests).
    pub async fn pending(&self) -> Result<i64, sqlx::Error> {
        let query = "select count(*) from event_outbox where sent_at is null";
        match &self.database {
            Database::Sqlite(pool) => sqlx::query_scalar(query).fetch_one(pool).await,
            Database::Postgres { pool, .. } => sqlx::query_scalar(query).fetch_one(pool).await,
        }
    }

    /// Drains whenever woken or every `poll`, backing off while the bus is down, until
    /// `shutdown`.
    pub async fn run(self, shutdown: Shutdown) {
        let mut backoff = Duration::ZERO;
        let mut passes: u64 = 0;
        loop {
            let wait = if backoff.is_zero() {
                self.poll
            } else {
                backoff
            };
            tokio::select! {
                () = shutdown.wait() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
            match self.drain().await {
                Ok(report) if report.blocked => {
                    backoff =
                        (backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
                    tracing::warn!(
                        retry_in_ms = backoff.as_millis() as u64,
                        "outbox relay blocked: bus unavailable"
                    );
                }
                Ok(_) => backoff = Duration::ZERO,
                Err(error) => {
                    backoff =
                        (backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
                    tracing::warn!(%error, "outbox relay failed to read the outbox");
                }
            }
            passes += 1;
            if passes.is_multiple_of(600)
                && let Err(error) = self.purge_sent().await
            {
                tracing::warn!(%error, "outbox purge failed");
            }
        }
    }
}

fn decode_row<R>(row: &R) -> Result<(i64, EventMessage), sqlx::Error>
where
    R: Row,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    let sequence: i64 = row.try_get(0)?;
    let id: String = row.try_get(1)?;
    let subject: String = row.try_get(2)?;
    let payload: Vec<u8> = row.try_get(3)?;
    let tenant_id: Option<String> = row.try_get(4)?;
    let id = id
        .parse()
        .map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
    Ok((
        sequence,
        EventMessage {
            id,
            subject,
            tenant_id: tenant_id.and_then(|tenant| tenant.parse().ok()),
            payload: Bytes::from(payload),
        },
    ))
}

/// Writes events to the outbox of the transaction it is called on, whatever the backend,
/// so store code written once for both backends (see `mesh::transaction!`) can enqueue.
pub trait OutboxWriter {
    /// Enqueues `message` in this transaction.
    fn enqueue(
        &mut self,
        message: &EventMessage,
    ) -> impl std::future::Future<Output = Result<(), sqlx::Error>> + Send;
}

impl OutboxWriter for sqlx::Transaction<'_, sqlx::Sqlite> {
    async fn enqueue(&mut self, message: &EventMessage) -> Result<(), sqlx::Error> {
        enqueue_sqlite(self, message).await
    }
}

impl OutboxWriter for sqlx::Transaction<'_, sqlx::Postgres> {
    async fn enqueue(&mut self, message: &EventMessage) -> Result<(), sqlx::Error> {
        enqueue_postgres(self, message).await
    }
}
