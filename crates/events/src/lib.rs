//! The event backbone: every committed change becomes an event that reaches every consumer
//! at least once and is applied exactly once.
//!
//! - [`bus`]: the [`Bus`] trait, subjects and deliveries.
//! - [`memory`]: the in-process bus (all-in-one mode).
//! - [`jetstream`]: the NATS JetStream bus (mesh mode).
//! - [`outbox`]: events are written to `event_outbox` in the same transaction as the change;
//!   the [`OutboxRelay`] publishes them in order with the event id as `Nats-Msg-Id`.
//! - [`consumer`]: durable, explicit-ack consumers that record processed ids in
//!   `event_inbox` in the same transaction as their effect, and dead-letter poison messages.
//!
//! Invariants: a service never publishes directly (only the relay does); the outbox, not the
//! broker, is the source of truth; a consumer acks only after its transaction committed.

pub mod bus;
pub mod consumer;
pub mod envelope;
pub mod jetstream;
pub mod memory;
pub mod outbox;

pub use bus::{Bus, BusError, ConsumerConfig, Delivery, EventMessage, StartAt, Subscription};
pub use consumer::{Consumer, EventTx, Handler, HandlerError};
pub use envelope::EventBuilder;
pub use outbox::OutboxRelay;

/// The events crate's own migrations (outbox and inbox), applied to every service database
/// next to the service's migrations.
pub fn migrations() -> mesh::db::Migrations {
    mesh::migrations!(
        "_events_migrations",
        "../../migrations/events/sqlite",
        "../../migrations/events/postgres"
    )
}
