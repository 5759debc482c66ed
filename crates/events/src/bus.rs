//! What every bus implementation offers: durable publish with deduplication by event id,
//! and durable consumers with explicit acknowledgement.
//!
//! Subjects are `<namespace>.<service>.<resource>.<verb>` (namespace `taskmesh` in
//! production, a unique one in tests). Consumer filters use NATS wildcards: `*` matches one
//! token, `>` the rest.

use std::time::Duration;

use bytes::Bytes;
use mesh::ids::{EventId, OrganizationId};

/// One event on the wire: the id (dedup key), the subject, the tenant, the encoded
/// `taskmesh.events.v1.Event` envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventMessage {
    /// The event id; also the broker's `Nats-Msg-Id`.
    pub id: EventId,
    /// The subject.
    pub subject: String,
    /// The tenant, as in the envelope. It rides beside the payload (an outbox column, a NATS
    /// header) so the relay, the broker and operators never decode payloads to learn it.
    pub tenant_id: Option<OrganizationId>,
    /// The encoded envelope.
    pub payload: Bytes,
}

/// A bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker cannot be reached or did not acknowledge; retry later.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    /// A configuration problem (bad subject, bad consumer name).
    #[error("invalid event bus request: {0}")]
    Invalid(String),
    /// The bus was shut down.
    #[error("event bus closed")]
    Closed,
}

/// A consumer's settings.
#[derive(Clone, Debug, Default)]
pub struct ConsumerConfig {
    /// Name: durable consumers with the same name share progress (and load).
    pub name: String,
    /// Subject filters, e.g. `taskmesh.tenancy.member.*`. All must be in one namespace and
    /// service (one stream).
    pub filter_subjects: Vec<String>,
    /// How long an unacknowledged delivery waits before it is redelivered.
    pub ack_wait: Duration,
    /// One process's own consumer, for broadcast (every process sees every message): the
    /// broker forgets it a minute after the process stops pulling; the in-process bus when
    /// the subscription is dropped. Durable consumers (`false`) are shared by replicas and
    /// outlive them.
    pub ephemeral: bool,
    /// Where a new consumer starts.
    pub start: StartAt,
}

/// Where a new consumer starts reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest retained message.
    #[default]
    Beginning,
    /// The first message published at or after this time (JetStream); the in-process bus
    /// keeps no publish times and starts at the beginning, so consumers must tolerate older
    /// messages either way.
    Since(std::time::SystemTime),
}

/// Acknowledgement handle of one delivery.
#[async_trait::async_trait]
pub trait Acker: Send + Sync {
    /// Processed: never deliver again.
    async fn ack(&self) -> Result<(), BusError>;
    /// Not processed: deliver again after `delay`.
    async fn nak(&self, delay: Duration) -> Result<(), BusError>;
}

/// A message handed to a consumer, with its delivery count.
pub struct Delivery {
    /// The message.
    pub message: EventMessage,
    /// 1 for the first delivery, 2 for the first redelivery, ...
    pub attempt: u32,
    acker: Box<dyn Acker>,
}

impl Delivery {
    /// A delivery acknowledged through `acker`.
    pub fn new(message: EventMessage, attempt: u32, acker: Box<dyn Acker>) -> Self {
        Self {
            message,
            attempt,
            acker,
        }
    }

    /// A delivery of `message` that no broker tracks (acks and naks do nothing): for
    /// stepping a consumer by hand ([`crate::Consumer::process`]), e.g. replaying events or
    /// feeding a poison one.
    pub fn detached(message: EventMessage, attempt: u32) -> Self {
        struct Detached;
        #[async_trait::async_trait]
        impl Acker for Detached {
            async fn ack(&self) -> Result<(), BusError> {
                Ok(())
            }
            async fn nak(&self, _delay: Duration) -> Result<(), BusError> {
                Ok(())
            }
        }
        Self::new(message, attempt, Box::new(Detached))
    }

    /// Acknowledges.
    pub async fn ack(self) -> Result<(), BusError> {
        self.acker.ack().await
    }

    /// Asks for redelivery after `delay`.
    pub async fn nak(self, delay: Duration) -> Result<(), BusError> {
        self.acker.nak(delay).await
    }
}

/// An open durable consumer.
#[async_trait::async_trait]
pub trait Subscription: Send {
    /// The next delivery; waits until there is one.
    async fn next(&mut self) -> Result<Delivery, BusError>;
}

/// An event bus.
#[async_trait::async_trait]
pub trait Bus: Send + Sync {
    /// Publishes durably. Publishing an id the bus has already accepted succeeds without
    /// storing a second copy (within the deduplication window).
    async fn publish(&self, message: &EventMessage) -> Result<(), BusError>;

    /// Opens (creating if needed) a durable consumer.
    async fn subscribe(&self, config: &ConsumerConfig) -> Result<Box<dyn Subscription>, BusError>;
}

/// True when `subject` matches the NATS-style `filter`.
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut filter_tokens = filter.split('.');
    let mut subject_tokens = subject.split('.');
    loop {
        match (filter_tokens.next(), subject_tokens.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(expected), Some(actual)) if expected == actual => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The dead-letter subject of a consumer in a namespace.
pub fn dead_letter_subject(namespace: &str, consumer: &str) -> String {
    format!("{namespace}.deadletter.{consumer}")
}

/// The stream part (`<namespace>.<service>`, the first two tokens) of a subject.
pub fn stream_of(subject: &str) -> &str {
    match subject.match_indices('.').nth(1) {
        Some((index, _)) => &subject[..index],
        None => subject,
    }
}

/// The namespace (first token) of a subject.
pub fn namespace_of(subject: &str) -> &str {
    subject.split('.').next().unwrap_or(subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_nats() {
        assert!(subject_matches(
            "taskmesh.tenancy.>",
            "taskmesh.tenancy.member.added"
        ));
        assert!(subject_matches(
            "taskmesh.*.member.added",
            "taskmesh.tenancy.member.added"
        ));
        assert!(!subject_matches("taskmesh.tenancy.>", "taskmesh.tenancy"));
        assert!(!subject_matches(
            "taskmesh.tenancy.member.*",
            "taskmesh.tenancy.member.added.x"
        ));
        assert!(subject_matches("a.b", "a.b"));
        assert!(!subject_matches("a.b", "a.c"));
        assert_eq!(
            stream_of("taskmesh.tenancy.member.added"),
            "taskmesh.tenancy"
        );
        assert_eq!(stream_of("taskmesh"), "taskmesh");
    }
}
