//! The service kit: what every service crate builds on besides `mesh`, so that a service is
//! a small, uniform crate of its own code only.
//!
//! - [`service`]: a service describes itself once ([`ServiceDefinition`]: name, migrations,
//!   how to build its gRPC server and background workers from a [`ServiceContext`]); the
//!   binary lists the definitions and [`start`]s the selected ones.
//! - [`store`]: [`Storage`] (a service database plus the waker of its outbox relay),
//!   [`Effects`] (events and audit entries a change writes), and [`change!`], the one way a
//!   store writes: the change, its effects in the same transaction, the relay woken after
//!   the commit.
//! - [`topic`]: [`Topic`], an event subject bound at compile time to its payload message,
//!   whose type name comes from the contracts.
//! - [`live`]: per-user caps on open server streams and a follower of a topic's events
//!   from every replica, for live streams.
//! - [`passwords`]: argon2id hashing on a fixed set of worker threads.
//! - [`revocations`]: keeps a process's set of revoked credentials current from the bus.
//! - [`keys`]: per-deployment keys from configuration or generated once into the data dir.
//! - [`idempotency`]: creates with a request id that return the first result, races too.
//!
//! Invariant: nothing here names a service; `kit` depends on `mesh`, `events` and the
//! contracts only.

pub mod idempotency;
pub mod keys;
pub mod live;
pub mod passwords;
pub mod revocations;
pub mod service;
pub mod store;
pub mod topic;

pub use idempotency::{Outcome, create_once};
pub use service::{
    BuildError, Built, ServiceContext, ServiceCredentials, ServiceDefinition, start,
};
pub use store::{AuditEntry, Effects, EffectsFor, Storage, WriteEffects};
pub use topic::Topic;
