//! Identity's storage: the [`IdentityStore`] trait, its records, and [`sql::SqlIdentityStore`],
//! one implementation for SQLite and PostgreSQL (portable SQL, see `kit::change!`).
//! `conformance` (feature `testsuite`) is the suite every implementation must pass, run on
//! both backends.
//!
//! Invariants: secrets are stored as SHA-256 digests only; every state change that others
//! care about writes its events to the outbox in the same transaction.

#[cfg(feature = "testsuite")]
pub mod conformance;
pub mod sql;

pub use kit::{AuditEntry, Effects, EffectsFor};
use mesh::ids::{OrganizationId, SessionId, UserId};
use mesh::paging::{Keyset, Page, PageRequest};

use crate::domain::IdentityError;

/// Result of storage operations.
pub type StoreResult<T> = Result<T, IdentityError>;

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRecord {
    /// Id.
    pub id: UserId,
    /// Normalized email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// SignUp idempotency key.
    pub signup_request_id: Option<String>,
    /// Created, millis.
    pub created_at: i64,
    /// Updated, millis.
    pub updated_at: i64,
    /// Optimistic-concurrency version (the etag).
    pub version: i64,
}

/// A login session: one refresh-token family.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRecord {
    /// Id (the access tokens' `sid`).
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Organization the session is scoped to.
    pub organization_id: Option<OrganizationId>,
    /// Role in that organization at the last issuance.
    pub role: Option<String>,
    /// Client user agent at login.
    pub user_agent: String,
    /// Client IP at login.
    pub ip_address: String,
    /// Login time.
    pub created_at: i64,
    /// Last refresh.
    pub last_used_at: i64,
    /// Ends if not refreshed before this.
    pub idle_expires_at: i64,
    /// Ends at this regardless.
    pub absolute_expires_at: i64,
    /// Revocation time.
    pub revoked_at: Option<i64>,
    /// Why it was revoked.
    pub revoke_reason: Option<String>,
}

impl SessionRecord {
    /// True while the session may be used at `now`.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.idle_expires_at && now < self.absolute_expires_at
    }
}

/// A personal access token (without its secret).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PersonalAccessTokenRecord {
    /// Id.
    pub id: String,
    /// Owner.
    pub user_id: UserId,
    /// Organization it is bound to.
    pub organization_id: OrganizationId,
    /// Name given by the user.
    pub name: String,
    /// `read_only` or `read_write`.
    pub scope: String,
    /// The first characters of the secret.
    pub token_prefix: String,
    /// Idempotency key of the create.
    pub request_id: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Expiry, if any.
    pub expires_at: Option<i64>,
    /// Last authentication.
    pub last_used_at: Option<i64>,
    /// Revocation.
    pub revoked_at: Option<i64>,
}

impl PersonalAccessTokenRecord {
    /// True while the token may be used at `now`.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires| now < expires)
    }
}

/// A signing key (private seed included: the store is identity's own).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKeyRecord {
    /// Key id.
    pub kid: String,
    /// Ed25519 seed.
    pub seed: Vec<u8>,
    /// Created.
    pub created_at: i64,
    /// When it stopped signing.
    pub retired_at: Option<i64>,
}

/// What presenting a refresh token did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Rotated: the old token is used, the new one is stored; the session as updated.
    Rotated(SessionRecord),
    /// The token had been used before: the whole session was revoked.
    Reused(SessionRecord),
    /// Unknown token, or its session ended.
    Invalid,
}

/// What a password reset did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordReset {
    /// Whose password.
    pub user_id: UserId,
    /// Sessions it ended.
    pub revoked_sessions: Vec<SessionId>,
    /// Personal access tokens it revoked (ids).
    pub revoked_tokens: Vec<String>,
}

/// Sessions and personal access tokens are listed newest first.
pub const NEWEST_FIRST: Keyset = Keyset::CREATED_DESCENDING;

/// Identity's storage.
#[async_trait::async_trait]
pub trait IdentityStore: Send + Sync {
    /// Inserts a user; `EmailTaken` if the email exists.
    async fn create_user(&self, user: &UserRecord, effects: Effects) -> StoreResult<()>;
    /// The user with this normalized email.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    /// The user with this id.
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>>;
    /// Sets the display name; `EtagMismatch` when `expected_version` is stale.
    async fn update_display_name(
        &self,
        id: UserId,
        name: &str,
        expected_version: Option<i64>,
        now: i64,
    ) -> StoreResult<UserRecord>;
    /// Sets a new password hash and revokes every active session of the user except `keep`
    /// (reason `reason`); `effects` are built from the revoked session ids.
    async fn set_password(
        &self,
        id: UserId,
        hash: &str,
        keep: Option<SessionId>,
        reason: &str,
        now: i64,
        effects: EffectsFor<'_, Vec<SessionId>>,
    ) -> StoreResult<Vec<SessionId>>;

    /// Creates a session with its first refresh token.
    async fn create_session(
        &self,
        session: &SessionRecord,
        refresh_hash: &[u8],
        effects: Effects,
    ) -> StoreResult<()>;
    /// The session with this id.
    async fn session(&self, id: SessionId) -> StoreResult<Option<SessionRecord>>;
    /// The session a refresh token belongs to and whether the token was used already,
    /// without using it.
    async fn session_by_refresh(
        &self,
        refresh_hash: &[u8],
    ) -> StoreResult<Option<(SessionRecord, bool)>>;
    /// The user a password-reset token would reset, if it is unused and unexpired at `now`
    /// (a cheap check before hashing a new password).
    async fn password_reset_user(&self, token_hash: &[u8], now: i64)
    -> StoreResult<Option<UserId>>;
    /// Uses a refresh token: rotates it (new token `new_hash`, idle expiry moved, scope set to
    /// `scope`), or on reuse revokes the session and writes `on_reuse`'s effects.
    async fn rotate_refresh(
        &self,
        refresh_hash: &[u8],
        new_hash: &[u8],
        scope: (Option<OrganizationId>, Option<String>),
        idle_ttl: i64,
        now: i64,
        on_reuse: EffectsFor<'_, SessionRecord>,
    ) -> StoreResult<RefreshOutcome>;
    /// Re-scopes an active session to an organization: every unused refresh token of the
    /// session becomes used and `new_hash` is the new one.
    async fn rescope_session(
        &self,
        id: SessionId,
        scope: (Option<OrganizationId>, Option<String>),
        new_hash: &[u8],
        idle_ttl: i64,
        now: i64,
    ) -> StoreResult<Option<SessionRecord>>;
    /// Active sessions of a user, newest first.
    async fn list_sessions(
        &self,
        user_id: UserId,
        now: i64,
        page: &PageRequest,
    ) -> StoreResult<Page<SessionRecord>>;
    /// Revokes one of the user's sessions; false if there is no such active session.
    async fn revoke_session(
        &self,
        user_id: UserId,
        id: SessionId,
        reason: &str,
        now: i64,
        effects: Effects,
    ) -> StoreResult<bool>;

    /// Stores a personal access token unless the user has `max_active` active ones.
    async fn create_personal_access_token(
        &self,
        token: &PersonalAccessTokenRecord,
        token_hash: &[u8],
        max_active: u32,
        now: i64,
        effects: Effects,
    ) -> StoreResult<()>;
    /// The user's token created with this idempotency key.
    async fn personal_access_token_by_request(
        &self,
        user_id: UserId,
        request_id: &str,
    ) -> StoreResult<Option<PersonalAccessTokenRecord>>;
    /// The token with this digest; records the use (at most once a minute). An unknown
    /// digest costs a read, never a write.
    async fn use_personal_access_token(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> StoreResult<Option<PersonalAccessTokenRecord>>;
    /// The user's tokens that are not revoked (expired ones included), newest first.
    async fn list_personal_access_tokens(
        &self,
        user_id: UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<PersonalAccessTokenRecord>>;
    /// Revokes one of the user's tokens; false if there is no such active token.
    async fn revoke_personal_access_token(
        &self,
        user_id: UserId,
        id: &str,
        now: i64,
        effects: Effects,
    ) -> StoreResult<bool>;

    /// Every signing key, newest first.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Adds a key and retires all others at `now` (one signs at a time).
    async fn rotate_signing_key(&self, key: &SigningKeyRecord, now: i64) -> StoreResult<()>;
    /// Deletes keys retired before `before`.
    async fn delete_retired_keys(&self, before: i64) -> StoreResult<u64>;

    /// The user's security log (the audit entries of their account), newest first.
    async fn security_events(
        &self,
        user_id: UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEntry>>;

    /// The latest `blocked_until` among `keys` that is after `now`, if any.
    async fn throttle_blocked_until(&self, keys: &[String], now: i64) -> StoreResult<Option<i64>>;
    /// Counts one failure for each `(key, free failures)` in one transaction and returns the
    /// failures counted so far, per key; `block` gives the `blocked_until` for a count and an
    /// allowance (`None`: not blocked yet).
    async fn throttle_failures(
        &self,
        keys: &[(&str, u32)],
        now: i64,
        block: &(dyn Fn(i64, u32) -> Option<i64> + Send + Sync),
    ) -> StoreResult<Vec<i64>>;
    /// Forgets `key` (a success).
    async fn throttle_clear(&self, key: &str) -> StoreResult<()>;
    /// Forgets keys idle since before `before`; returns how many.
    async fn throttle_purge(&self, before: i64) -> StoreResult<u64>;

    /// Stores a password-reset token digest.
    async fn create_password_reset(
        &self,
        user_id: UserId,
        token_hash: &[u8],
        expires_at: i64,
        now: i64,
        effects: Effects,
    ) -> StoreResult<()>;
    /// Uses a reset token and sets the password, revoking every session and, unless
    /// `keep_tokens`, every personal access token; `None` if the token is unknown, expired
    /// or used.
    async fn reset_password(
        &self,
        token_hash: &[u8],
        new_hash: &str,
        keep_tokens: bool,
        now: i64,
        effects: EffectsFor<'_, PasswordReset>,
    ) -> StoreResult<Option<UserId>>;
}
