//! The links store: links per organization (row-level security on PostgreSQL), the public
//! slug directory, visits, and wrong-password counters. Every change writes its events to
//! the outbox in the same transaction.
//!
//! Invariants: a slug names at most one link in the deployment; a visit is counted only by
//! the conditional update that also checks the link is enabled, unexpired and under its
//! visit limit, so concurrent visitors never pass `max_visits`; the visit row and
//! `link.visited` are written in that same transaction.

pub mod sql;
pub mod sql_reads;
pub mod sql_targets;

#[cfg(feature = "testsuite")]
pub mod conformance;

use mesh::ids::{OrganizationId, UserId};
use mesh::paging::{Direction, KeyKind, Keyset, Page, PageRequest};

use crate::domain::LinksError;
use crate::domain::rules::LinkQuery;

/// Store results.
pub type StoreResult<T> = Result<T, LinksError>;

/// A link.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkRecord {
    /// Id (UUIDv7 text).
    pub id: String,
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Public slug.
    pub slug: String,
    /// `task`, `document` or `url`.
    pub target_kind: String,
    /// Task or document id, or the URL.
    pub target_id: String,
    /// Expiry (millis).
    pub expires_at: Option<i64>,
    /// 0: unlimited.
    pub max_visits: i64,
    /// Counted visits.
    pub visit_count: i64,
    /// argon2id PHC string.
    pub password_hash: Option<String>,
    /// Note for visitors.
    pub note: String,
    /// Whether a task's comments are shown.
    pub allow_comments: bool,
    /// Kept but not resolvable.
    pub disabled: bool,
    /// Creator.
    pub created_by_user_id: UserId,
    /// The create's idempotency key.
    pub create_request_id: Option<String>,
    /// Row version, for etags.
    pub version: i64,
    /// Created.
    pub created_at: i64,
    /// Last changed (visits do not change it).
    pub updated_at: i64,
}

impl LinkRecord {
    /// Whether a visitor may be shown the link at `now` (not counting the password).
    pub fn resolvable(&self, now: i64) -> bool {
        !self.disabled
            && self.expires_at.is_none_or(|expires| expires > now)
            && (self.max_visits == 0 || self.visit_count < self.max_visits)
    }
}

/// A counted visit.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct VisitRecord {
    /// Id (UUIDv7 text).
    pub id: String,
    /// Tenant.
    pub organization_id: OrganizationId,
    /// Link.
    pub link_id: String,
    /// When.
    pub visited_at: i64,
    /// Referrer host ("" when none).
    pub referrer_host: String,
    /// Browser family.
    pub browser: String,
    /// OS family.
    pub os: String,
    /// Device class.
    pub device_class: String,
    /// A bot.
    pub bot: bool,
    /// Address with its last octet / 80 bits zeroed.
    pub anonymized_address: String,
    /// Country ("" when unknown).
    pub country: String,
}

/// A link change (None: unchanged).
#[derive(Clone, Debug, Default)]
pub struct LinkChange {
    /// New slug.
    pub slug: Option<String>,
    /// New target (kind, id).
    pub target: Option<(String, String)>,
    /// New expiry (`Some(None)`: never).
    pub expires_at: Option<Option<i64>>,
    /// New visit limit.
    pub max_visits: Option<i64>,
    /// New password hash (`Some(None)`: no password).
    pub password_hash: Option<Option<String>>,
    /// Disabled or not.
    pub disabled: Option<bool>,
    /// New note.
    pub note: Option<String>,
    /// Comments shown or not.
    pub allow_comments: Option<bool>,
}

/// The sort fields of ListLinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkOrder {
    /// Creation.
    Created,
    /// Last change.
    Updated,
    /// Counted visits.
    Visits,
    /// Expiry (links that never expire sort as the latest).
    Expires,
}

impl LinkOrder {
    /// The keyset of this order in direction `descending`.
    pub fn keyset(self, descending: bool) -> Keyset {
        const CREATED: &[(&str, KeyKind)] = &[("created_at", KeyKind::Int), ("id", KeyKind::Text)];
        const UPDATED: &[(&str, KeyKind)] = &[("updated_at", KeyKind::Int), ("id", KeyKind::Text)];
        const VISITS: &[(&str, KeyKind)] = &[("visit_count", KeyKind::Int), ("id", KeyKind::Text)];
        const EXPIRES: &[(&str, KeyKind)] = &[
            (
                "coalesce(expires_at, cast(9223372036854775807 as bigint))",
                KeyKind::Int,
            ),
            ("id", KeyKind::Text),
        ];
        let columns = match self {
            Self::Created => CREATED,
            Self::Updated => UPDATED,
            Self::Visits => VISITS,
            Self::Expires => EXPIRES,
        };
        let direction = if descending {
            Direction::Descending
        } else {
            Direction::Ascending
        };
        Keyset::new(columns, direction)
    }
}

/// Visits newest first.
pub const VISITS_ORDER: Keyset = Keyset::new(
    &[("visited_at", KeyKind::Int), ("id", KeyKind::Text)],
    Direction::Descending,
);

/// Links as the API uses them.
#[async_trait::async_trait]
pub trait LinksStore: Send + Sync {
    /// Creates `link` (its slug must be free: SlugTaken otherwise).
    async fn create(&self, link: &LinkRecord) -> StoreResult<()>;
    /// The link `user` created with `request_id`, if any.
    async fn by_request(
        &self,
        organization_id: OrganizationId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<LinkRecord>>;
    /// A link of the organization.
    async fn get(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<LinkRecord>>;
    /// The link with `slug`, in whatever organization.
    async fn by_slug(&self, slug: &str) -> StoreResult<Option<LinkRecord>>;
    /// A page of the organization's links matching `query` (expiry judged at `now`).
    async fn list(
        &self,
        organization_id: OrganizationId,
        query: &LinkQuery,
        now: i64,
        page: &PageRequest,
    ) -> StoreResult<Page<LinkRecord>>;
    /// Applies `change` if the row version is still `expected` (any when `None`).
    async fn update(
        &self,
        organization_id: OrganizationId,
        id: &str,
        expected: Option<i64>,
        change: &LinkChange,
        at: i64,
    ) -> StoreResult<LinkRecord>;
    /// Deletes a link (its slug becomes free).
    async fn delete(
        &self,
        organization_id: OrganizationId,
        id: &str,
        expected: Option<i64>,
        actor: UserId,
    ) -> StoreResult<()>;
    /// Counts `visit` if the link is still resolvable at `visit.visited_at`; the link after
    /// counting, or `None` when it is not (any more). `visitor_hash` goes to `link.visited`.
    async fn count_visit(
        &self,
        visit: &VisitRecord,
        visitor_hash: &str,
    ) -> StoreResult<Option<LinkRecord>>;
    /// A page of a link's visits, newest first ([`VISITS_ORDER`]).
    async fn visits(
        &self,
        organization_id: OrganizationId,
        link_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<VisitRecord>>;
    /// Reserves one password attempt on each counter of `counters` (key, limit) at `now`,
    /// in one transaction (see `domain::attempts`); the longest wait when a counter is
    /// locked (the attempt is counted all the same).
    async fn reserve_attempt(
        &self,
        counters: &[(String, i64)],
        window_ms: i64,
        now: i64,
    ) -> StoreResult<Option<std::time::Duration>>;
    /// Gives a right password's reservation back: one attempt off each of `decrement`, and
    /// the counters `clear` removed.
    async fn release_attempt(&self, decrement: &[String], clear: &[String]) -> StoreResult<()>;
}
