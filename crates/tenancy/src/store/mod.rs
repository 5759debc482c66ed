//! Tenancy's storage: the [`TenancyStore`] trait, records, the SQL implementation for
//! SQLite and PostgreSQL ([`sql`]), and the `conformance` suite both must pass (feature
//! `testsuite`).
//!
//! Invariants: every tenant query filters by `organization_id` and, on PostgreSQL, runs in a
//! transaction scoped to that tenant (row-level security is the second wall); membership
//! changes lock the organization row first, so the last-owner rule holds under concurrency;
//! every change writes its audit entries and outbox events in the same transaction
//! (`kit::change!`).

#[cfg(feature = "testsuite")]
pub mod conformance;
pub mod sql;

pub use kit::{AuditEntry as AuditRecord, Effects, EffectsFor};
use mesh::auth::OrganizationRole;
use mesh::ids::{OrganizationId, UserId};
use mesh::paging::{KeyKind, Keyset, Page, PageRequest};

use crate::domain::TenancyError;
use crate::domain::filter::Condition;

/// Result of storage operations.
pub type StoreResult<T> = Result<T, TenancyError>;

/// An organization.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct OrganizationRecord {
    /// Id (the tenant id).
    pub id: OrganizationId,
    /// Display name.
    pub name: String,
    /// Unique slug.
    pub slug: String,
    /// Who created it.
    pub creator_user_id: UserId,
    /// Create idempotency key.
    pub create_request_id: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Updated.
    pub updated_at: i64,
    /// Version (etag).
    pub version: i64,
}

/// A membership.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MembershipRecord {
    /// Organization.
    pub organization_id: OrganizationId,
    /// Member.
    pub user_id: UserId,
    /// Role.
    pub role: OrganizationRole,
    /// Email at joining time.
    pub email: String,
    /// Display name at joining time.
    pub display_name: String,
    /// Joined.
    pub created_at: i64,
    /// Last role change.
    pub updated_at: i64,
    /// Version (etag).
    pub version: i64,
}

/// An invitation (without its secret).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct InvitationRecord {
    /// Id.
    pub id: String,
    /// Organization.
    pub organization_id: OrganizationId,
    /// Invited email, normalized.
    pub email: String,
    /// Role granted on acceptance.
    pub role: OrganizationRole,
    /// Who invited.
    pub inviter_user_id: UserId,
    /// Create idempotency key.
    pub request_id: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Expires.
    pub expires_at: i64,
    /// Accepted.
    pub accepted_at: Option<i64>,
    /// Accepted by.
    pub accepted_user_id: Option<UserId>,
    /// Revoked.
    pub revoked_at: Option<i64>,
}

/// The state of an invitation at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvitationState {
    /// Waiting.
    Pending,
    /// Used.
    Accepted,
    /// Withdrawn.
    Revoked,
    /// Too late.
    Expired,
}

impl InvitationRecord {
    /// `Ok` while the invitation can still be accepted or revoked at `now`; otherwise the
    /// error its state calls for.
    pub fn ensure_pending(&self, now: i64) -> Result<(), TenancyError> {
        match self.state(now) {
            InvitationState::Pending => Ok(()),
            InvitationState::Accepted => Err(TenancyError::InvitationAlreadyAccepted),
            InvitationState::Revoked => Err(TenancyError::InvitationRevoked),
            InvitationState::Expired => Err(TenancyError::InvitationExpired),
        }
    }

    /// Its state at `now`.
    pub fn state(&self, now: i64) -> InvitationState {
        if self.accepted_at.is_some() {
            InvitationState::Accepted
        } else if self.revoked_at.is_some() {
            InvitationState::Revoked
        } else if now >= self.expires_at {
            InvitationState::Expired
        } else {
            InvitationState::Pending
        }
    }
}

/// Organizations a user belongs to, oldest first.
pub const ORGANIZATIONS_ORDER: Keyset = Keyset::new(
    &[("o.created_at", KeyKind::Int), ("o.id", KeyKind::Text)],
    mesh::paging::Direction::Ascending,
);
/// Members, oldest first.
pub const MEMBERS_ORDER: Keyset = Keyset::new(
    &[("created_at", KeyKind::Int), ("user_id", KeyKind::Text)],
    mesh::paging::Direction::Ascending,
);
/// Invitations, newest first.
pub const INVITATIONS_ORDER: Keyset = Keyset::CREATED_DESCENDING;

/// A role change: the membership before and after, and the pending invitations the member
/// had made that the new role may no longer make (now revoked).
#[derive(Clone, Debug)]
pub struct RoleChange {
    /// Before.
    pub old: MembershipRecord,
    /// After.
    pub new: MembershipRecord,
    /// Revoked with the change.
    pub revoked_invitations: Vec<InvitationRecord>,
}

/// A removal: the membership that ended, and the pending invitations the member had made
/// (now revoked).
#[derive(Clone, Debug)]
pub struct Removal {
    /// The membership as it was.
    pub member: MembershipRecord,
    /// Revoked with the removal.
    pub revoked_invitations: Vec<InvitationRecord>,
}
/// An acceptance: the invitation as accepted and the new membership.
pub type Acceptance = (InvitationRecord, MembershipRecord);

/// Tenancy's storage.
#[async_trait::async_trait]
pub trait TenancyStore: Send + Sync {
    /// Creates an organization with its owner; `SlugTaken` when the slug is used.
    async fn create_organization(
        &self,
        organization: &OrganizationRecord,
        owner: &MembershipRecord,
        effects: Effects,
    ) -> StoreResult<()>;
    /// The organization a user created with this idempotency key.
    async fn organization_by_request(
        &self,
        user_id: UserId,
        request_id: &str,
    ) -> StoreResult<Option<OrganizationRecord>>;
    /// The organization (tenant-scoped read).
    async fn organization(&self, id: OrganizationId) -> StoreResult<Option<OrganizationRecord>>;
    /// Updates name and/or slug; `EtagMismatch`, `SlugTaken`.
    async fn update_organization(
        &self,
        id: OrganizationId,
        name: Option<&str>,
        slug: Option<&str>,
        expected_version: Option<i64>,
        now: i64,
        effects: Effects,
    ) -> StoreResult<OrganizationRecord>;
    /// Organizations the user belongs to, oldest membership first.
    async fn organizations_of(
        &self,
        user_id: UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<OrganizationRecord>>;
    /// (id, name, slug) of the organization with this slug (public).
    async fn resolve_slug(
        &self,
        slug: &str,
    ) -> StoreResult<Option<(OrganizationId, String, String)>>;

    /// A membership, read in the tenant's scope.
    async fn membership(
        &self,
        organization_id: OrganizationId,
        user_id: UserId,
    ) -> StoreResult<Option<MembershipRecord>>;
    /// A user's own membership, read in the user's scope (no tenant context needed).
    async fn own_membership(
        &self,
        organization_id: OrganizationId,
        user_id: UserId,
    ) -> StoreResult<Option<MembershipRecord>>;
    /// Members, oldest first.
    async fn members(
        &self,
        organization_id: OrganizationId,
        page: &PageRequest,
    ) -> StoreResult<Page<MembershipRecord>>;
    /// Changes a role; `LastOwner` if it would leave no owner; `EtagMismatch`; `MemberNotFound`.
    /// Pending invitations the member made that the new role may not make are revoked.
    /// `effects` is built from the change.
    async fn change_role(
        &self,
        organization_id: OrganizationId,
        user_id: UserId,
        role: OrganizationRole,
        expected_version: Option<i64>,
        now: i64,
        effects: EffectsFor<'_, RoleChange>,
    ) -> StoreResult<MembershipRecord>;
    /// Removes a member; same rules as `change_role`. Pending invitations the member made are
    /// revoked.
    async fn remove_member(
        &self,
        organization_id: OrganizationId,
        user_id: UserId,
        expected_version: Option<i64>,
        now: i64,
        effects: EffectsFor<'_, Removal>,
    ) -> StoreResult<MembershipRecord>;

    /// Stores an invitation; `InvitationPending` / `AlreadyMember` for its email.
    async fn create_invitation(
        &self,
        invitation: &InvitationRecord,
        token_hash: &[u8],
        now: i64,
        effects: Effects,
    ) -> StoreResult<()>;
    /// The inviter's invitation with this idempotency key.
    async fn invitation_by_request(
        &self,
        organization_id: OrganizationId,
        inviter: UserId,
        request_id: &str,
    ) -> StoreResult<Option<InvitationRecord>>;
    /// The invitation with this id in the organization.
    async fn invitation(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<InvitationRecord>>;
    /// Invitations, newest first, optionally in one state at `now`.
    async fn invitations(
        &self,
        organization_id: OrganizationId,
        state: Option<InvitationState>,
        now: i64,
        page: &PageRequest,
    ) -> StoreResult<Page<InvitationRecord>>;
    /// Revokes a pending invitation (`FailedPrecondition`-style errors otherwise).
    async fn revoke_invitation(
        &self,
        organization_id: OrganizationId,
        id: &str,
        now: i64,
        effects: EffectsFor<'_, InvitationRecord>,
    ) -> StoreResult<InvitationRecord>;
    /// The organization an invitation token belongs to (no tenant context needed).
    async fn invitation_organization(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<OrganizationId>>;
    /// Accepts an invitation for `member` (whose email must match); returns the invitation
    /// and the new membership.
    async fn accept_invitation(
        &self,
        organization_id: OrganizationId,
        token_hash: &[u8],
        member: &MembershipRecord,
        now: i64,
        effects: EffectsFor<'_, Acceptance>,
    ) -> StoreResult<Acceptance>;

    /// Audit entries matching `conditions`, in the order of `page` (by `created_at`, `id`:
    /// [`Keyset::CREATED_DESCENDING`] or [`Keyset::CREATED_ASCENDING`]).
    async fn audit_events(
        &self,
        organization_id: OrganizationId,
        conditions: &[Condition],
        page: &PageRequest,
    ) -> StoreResult<Page<AuditRecord>>;
}
