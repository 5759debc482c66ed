//! How a store writes: one way, for every service.
//!
//! A change and what it causes are written in one transaction: the rows themselves, the
//! events (into the outbox) and the audit entries. Store methods receive the effects from the
//! API, either built up front ([`Effects`]) or, when they depend on what the store finds (the
//! old role of a member, the sessions a password change revoked), as an [`EffectsFor`]
//! closure the store calls with that outcome. Inside [`change!`](crate::change) the store adds
//! them to the collector; `change!` writes them before committing and wakes the outbox relay
//! after the commit, so no API code ever wakes a relay by hand.
//!
//! Invariants: effects are written only inside the transaction of their change; the relay
//! is woken only after a commit that enqueued events.

use events::EventMessage;
use events::outbox::{OutboxWaker, OutboxWriter};
use mesh::db::Database;
use mesh::ids::{OrganizationId, UserId};

/// A service database as a store sees it: the pool, and the waker of its outbox relay.
#[derive(Clone, Debug)]
pub struct Storage {
    /// The database (already migrated).
    pub database: Database,
    waker: OutboxWaker,
}

impl Storage {
    /// Storage whose commits wake the relay behind `waker`.
    pub fn new(database: Database, waker: OutboxWaker) -> Self {
        Self { database, waker }
    }

    /// Storage whose outbox no relay drains here (store tests; events stay in the outbox).
    pub fn detached(database: Database) -> Self {
        Self::new(database, OutboxWaker::detached())
    }

    /// Wakes the relay; called by [`change!`](crate::change) after a commit with events.
    pub fn committed_events(&self) {
        self.waker.wake();
    }
}

/// An audit-trail entry: who did what to which resource, in which organization (none for
/// what concerns a user across organizations, like a sign-in). Services with an audit trail
/// keep an `audit_events` table of exactly these columns.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    /// Id (UUIDv7 text).
    pub id: String,
    /// Organization, if the entry belongs to one.
    pub organization_id: Option<OrganizationId>,
    /// Who did it.
    pub actor_user_id: UserId,
    /// `member.added`, `organization.updated`, ...
    pub action: String,
    /// Resource name.
    pub resource: String,
    /// Details as a JSON object of strings.
    pub details: String,
    /// The request that did it.
    pub request_id: String,
    /// When, in millis.
    pub created_at: i64,
}

impl AuditEntry {
    /// An entry in an organization, with `details` as a JSON object of strings.
    pub fn new(
        organization_id: OrganizationId,
        actor_user_id: UserId,
        action: &str,
        resource: String,
        details: &[(&str, String)],
        request_id: &str,
        created_at: i64,
    ) -> Self {
        Self {
            organization_id: Some(organization_id),
            ..Self::of_user(
                actor_user_id,
                action,
                resource,
                details,
                request_id,
                created_at,
            )
        }
    }

    /// An entry about a user's own account (no organization).
    pub fn of_user(
        actor_user_id: UserId,
        action: &str,
        resource: String,
        details: &[(&str, String)],
        request_id: &str,
        created_at: i64,
    ) -> Self {
        let details: std::collections::BTreeMap<&str, &String> =
            details.iter().map(|(key, value)| (*key, value)).collect();
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            organization_id: None,
            actor_user_id,
            action: action.into(),
            resource,
            details: serde_json::to_string(&details).unwrap_or_else(|_| "{}".into()),
            request_id: request_id.into(),
            created_at,
        }
    }
}

/// What a change writes besides itself, in its transaction.
#[derive(Clone, Debug, Default)]
pub struct Effects {
    /// Events for the outbox.
    pub events: Vec<EventMessage>,
    /// Audit entries.
    pub audit: Vec<AuditEntry>,
}

impl Effects {
    /// No effects.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds an event.
    pub fn event(mut self, event: EventMessage) -> Self {
        self.events.push(event);
        self
    }

    /// Adds an audit entry.
    pub fn audit(mut self, entry: AuditEntry) -> Self {
        self.audit.push(entry);
        self
    }

    /// Adds everything in `other` (builder form).
    pub fn extend_with(mut self, other: Effects) -> Self {
        self.extend(other);
        self
    }

    /// Adds everything in `other`.
    pub fn extend(&mut self, other: Effects) {
        self.events.extend(other.events);
        self.audit.extend(other.audit);
    }

    /// True when the change wrote events, so the relay should be woken after the commit.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }
}

/// Effects that depend on what the store found, built from that outcome.
pub type EffectsFor<'a, T> = &'a (dyn Fn(&T) -> Effects + Send + Sync);

/// Writes effects into the transaction it is called on, whatever the backend.
pub trait WriteEffects {
    /// Inserts the audit entries and enqueues the events.
    fn write_effects(
        &mut self,
        effects: &Effects,
    ) -> impl std::future::Future<Output = Result<(), sqlx::Error>> + Send;
}

const INSERT_AUDIT: &str = "insert into audit_events (id, organization_id, actor_user_id, action, resource, details, request_id, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8)";

macro_rules! write_effects_for {
    ($backend:ty) => {
        impl WriteEffects for sqlx::Transaction<'_, $backend> {
            async fn write_effects(&mut self, effects: &Effects) -> Result<(), sqlx::Error> {
                for entry in &effects.audit {
                    sqlx::query(INSERT_AUDIT)
                        .bind(&entry.id)
                        .bind(entry.organization_id)
                        .bind(entry.actor_user_id)
                        .bind(&entry.action)
                        .bind(&entry.resource)
                        .bind(&entry.details)
                        .bind(&entry.request_id)
                        .bind(entry.created_at)
                        .execute(&mut **self)
                        .await?;
                }
                for event in &effects.events {
                    self.enqueue(event).await?;
                }
                Ok(())
            }
        }
    };
}

write_effects_for!(sqlx::Sqlite);
write_effects_for!(sqlx::Postgres);

/// Runs `$body` as one write transaction on a [`Storage`], on either backend (see
/// `mesh::transaction!` for how the body is written once for both), with `$effects` bound to
/// a mutable [`Effects`] collector. When the body returns `Ok`, the collected effects are
/// written in the same transaction, it commits, and the relay is woken if there were events;
/// when it returns `Err`, nothing is written. `return` inside the body leaves the body.
#[macro_export]
macro_rules! change {
    ($storage:expr, $tenant:expr, $user:expr, |$tx:ident, $effects:ident| $body:expr) => {{
        let storage: &$crate::Storage = $storage;
        #[allow(unused_mut)]
        let mut $effects = $crate::Effects::default();
        let result = ::mesh::transaction!(&storage.database, $tenant, $user, |$tx| {
            match async { $body }.await {
                Ok(value) => match $crate::WriteEffects::write_effects(&mut $tx, &$effects).await {
                    Ok(()) => Ok(value),
                    Err(error) => Err(error.into()),
                },
                Err(error) => Err(error),
            }
        });
        if result.is_ok() && $effects.has_events() {
            storage.committed_events();
        }
        result
    }};
}
