//! Idempotent consumers.
//!
//! For each delivery: decode the envelope; open a transaction (tenant-scoped on PostgreSQL
//! when the event has a tenant); insert `(consumer, event_id)` into `event_inbox`; if that id
//! was already there, the effect was applied before: roll back and ack. Otherwise run the
//! handler in the same transaction, commit, then ack. A failing handler rolls back and the
//! message is redelivered with backoff; at `max_deliver` attempts (or if the envelope cannot
//! be decoded at all) it is published to `<namespace>.deadletter.<consumer>` and acked.

use std::sync::Arc;
use std::time::Duration;

use mesh::db::{Database, begin_tenant};
use mesh::ids::EventId;
use mesh::server::Shutdown;
use sqlx::{PgConnection, SqliteConnection};
use taskmesh::events::v1::Event;

use crate::bus::{
    Bus, BusError, ConsumerConfig, Delivery, EventMessage, dead_letter_subject, namespace_of,
};
use crate::envelope;

/// The transaction a handler applies its effect in.
pub enum EventTx<'a> {
    /// Embedded mode.
    Sqlite(&'a mut SqliteConnection),
    /// PostgreSQL (tenant-scoped when the event has a tenant).
    Postgres(&'a mut PgConnection),
}

/// Runs `$body` with `$connection` bound to a handler's connection (`EventTx`) and `$enqueue`
/// to the outbox function of its backend, so handler SQL is written once for both backends.
#[macro_export]
macro_rules! on_connection {
    ($tx:expr, |$connection:ident, $enqueue:ident| $body:expr) => {
        match $tx {
            $crate::consumer::EventTx::Sqlite($connection) => {
                #[allow(unused_variables)]
                let $enqueue = $crate::outbox::enqueue_sqlite;
                $body
            }
            $crate::consumer::EventTx::Postgres($connection) => {
                #[allow(unused_variables)]
                let $enqueue = $crate::outbox::enqueue_postgres;
                $body
            }
        }
    };
}

impl EventTx<'_> {
    /// The same connection borrowed again, to run several steps of a handler on it.
    pub fn reborrow(&mut self) -> EventTx<'_> {
        match self {
            EventTx::Sqlite(connection) => EventTx::Sqlite(connection),
            EventTx::Postgres(connection) => EventTx::Postgres(connection),
        }
    }
}

/// A handler failed; the event will be retried (and eventually dead-lettered).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(pub String);

impl From<sqlx::Error> for HandlerError {
    fn from(error: sqlx::Error) -> Self {
        Self(error.to_string())
    }
}

/// Applies one event's effect.
#[async_trait::async_trait]
pub trait Handler: Send + Sync {
    /// Applies `event` inside `tx`. Must not commit; must not have effects outside `tx`
    /// (those would not be exactly-once).
    async fn handle(&self, tx: EventTx<'_>, event: &Event) -> Result<(), HandlerError>;
}

/// What happened to one delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied and acked.
    Applied,
    /// Already applied before; acked without running the handler.
    Duplicate,
    /// Failed; will be redelivered.
    Retrying,
    /// Given up on; published to the dead-letter subject.
    DeadLettered,
}

/// A durable consumer bound to a service database and a handler.
#[derive(Clone)]
pub struct Consumer {
    config: ConsumerConfig,
    bus: Arc<dyn Bus>,
    database: Database,
    handler: Arc<dyn Handler>,
    max_deliver: u32,
}

impl Consumer {
    /// A consumer named `config.name`.
    pub fn new(
        config: ConsumerConfig,
        bus: Arc<dyn Bus>,
        database: Database,
        handler: Arc<dyn Handler>,
        max_deliver: u32,
    ) -> Self {
        Self {
            config,
            bus,
            database,
            handler,
            max_deliver: max_deliver.max(1),
        }
    }

    /// Processes deliveries until `shutdown`.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), BusError> {
        let mut subscription = self.bus.subscribe(&self.config).await?;
        loop {
            let delivery = tokio::select! {
                () = shutdown.wait() => return Ok(()),
                delivery = subscription.next() => delivery,
            };
            match delivery {
                Ok(delivery) => {
                    if let Err(error) = self.process(delivery).await {
                        tracing::warn!(consumer = %self.config.name, %error, "event processing failed");
                    }
                }
                Err(BusError::Closed) => return Err(BusError::Closed),
                Err(error) => {
                    tracing::warn!(consumer = %self.config.name, %error, "event bus read failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Handles one delivery (public for tests that step a consumer by hand).
    pub async fn process(&self, delivery: Delivery) -> Result<Outcome, BusError> {
        let event = match envelope::decode(&delivery.message) {
            Ok(event) => event,
            Err(error) => {
                tracing::error!(consumer = %self.config.name, %error, "undecodable event");
                return self.dead_letter(delivery, "undecodable envelope").await;
            }
        };
        match self.apply(&delivery.message.id, &event).await {
            Ok(true) => {
                delivery.ack().await?;
                Ok(Outcome::Applied)
            }
            Ok(false) => {
                delivery.ack().await?;
                Ok(Outcome::Duplicate)
            }
            Err(error) if delivery.attempt >= self.max_deliver => {
                tracing::error!(consumer = %self.config.name, event_id = %event.id, %error, "giving up on event");
                self.dead_letter(delivery, &error.0).await
            }
            Err(error) => {
                let delay = Duration::from_millis(100 * 2u64.pow(delivery.attempt.min(8)));
                tracing::warn!(consumer = %self.config.name, event_id = %event.id, attempt = delivery.attempt, %error, "event handler failed; will retry");
                delivery.nak(delay).await?;
                Ok(Outcome::Retrying)
            }
        }
    }

    /// Runs the handler with inbox deduplication; `Ok(false)` for a duplicate.
    async fn apply(&self, event_id: &EventId, event: &Event) -> Result<bool, HandlerError> {
        let tenant = event.tenant_id.parse().ok();
        match &self.database {
            Database::Sqlite(pool) => {
                let (_turn, mut transaction) = mesh::db::begin_sqlite_write(pool).await?;
                let inserted = sqlx::query("insert into event_inbox (consumer, event_id) values ($1, $2) on conflict do nothing")
                    .bind(&self.config.name)
                    .bind(event_id.to_string())
                    .execute(&mut *transaction)
                    .await?
                    .rows_affected();
                if inserted == 0 {
                    return Ok(false);
                }
                self.handler
                    .handle(EventTx::Sqlite(&mut transaction), event)
                    .await?;
                transaction.commit().await?;
                Ok(true)
            }
            Database::Postgres { pool, .. } => {
                let mut transaction = match tenant {
                    Some(tenant) => begin_tenant(pool, tenant).await?,
                    None => pool.begin().await?,
                };
                let inserted = sqlx::query("insert into event_inbox (consumer, event_id) values ($1, $2) on conflict do nothing")
                    .bind(&self.config.name)
                    .bind(event_id.to_string())
                    .execute(&mut *transaction)
                    .await?
                    .rows_affected();
                if inserted == 0 {
                    return Ok(false);
                }
                self.handler
                    .handle(EventTx::Postgres(&mut transaction), event)
                    .await?;
                transaction.commit().await?;
                Ok(true)
            }
        }
    }

    async fn dead_letter(&self, delivery: Delivery, reason: &str) -> Result<Outcome, BusError> {
        let namespace = namespace_of(&delivery.message.subject).to_string();
        let letter = EventMessage {
            id: delivery.message.id,
            subject: dead_letter_subject(&namespace, &self.config.name),
            tenant_id: delivery.message.tenant_id,
            payload: delivery.message.payload.clone(),
        };
        // If the dead-letter publish fails, do not ack: the message comes back and we try
        // again, rather than dropping it on the floor.
        self.bus.publish(&letter).await?;
        tracing::error!(consumer = %self.config.name, event_id = %letter.id, %reason, "event dead-lettered");
        metrics::counter!("taskmesh_events_dead_lettered_total", "consumer" => self.config.name.clone())
            .increment(1);
        delivery.ack().await?;
        Ok(Outcome::DeadLettered)
    }
}
