//! The auth context: who is calling, for which organization, with which role.
//!
//! [`Authenticator`] turns the `authorization` metadata into a [`Principal`]: EdDSA access
//! tokens are verified locally against identity's published keys ([`token`]), personal
//! access tokens (`tmpat_...`) are introspected through identity ([`introspect`]).
//! [`AuthLayer`] runs it for every request and stores the principal in the request
//! extensions; handlers read it with [`principal`] / [`require_principal`].
//! Invariants: a request with an invalid credential never reaches a handler (it is answered
//! UNAUTHENTICATED); a request without a credential reaches it with no principal, and only
//! public methods accept that; the organization of a call comes from the principal only.

pub mod digest_cache;
pub mod identity;
pub mod introspect;
pub mod layer;
pub mod revocations;
pub mod service;
pub mod token;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub use introspect::{CachedIntrospector, Introspector};
pub use layer::AuthLayer;
pub use revocations::{Revocations, Revoked};
pub use service::{ServiceCaller, ServiceKeys, require_service_caller};
pub use token::{AccessClaims, JwksCache, KeySource, PublicKey, SigningKey, TokenVerifier};

use crate::error::{ErrorCode, ServiceError};
use crate::ids::{OrganizationId, SessionId, UserId};

/// Error domain of authentication failures.
pub const AUTH_DOMAIN: &str = "auth.taskmesh";

/// A member's role in an organization, most powerful first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrganizationRole {
    /// Full control, including deleting the organization and managing owners.
    Owner,
    /// Manages members, invitations and settings.
    Admin,
    /// Works in projects.
    Member,
    /// Reads what is shared with them.
    Guest,
}

impl OrganizationRole {
    /// The lowercase name used in tokens and events.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Guest => "guest",
        }
    }

    /// True when this role is at least as powerful as `other`.
    pub fn at_least(&self, other: OrganizationRole) -> bool {
        *self <= other
    }

    /// The wire value. `taskmesh.tenancy.v1.OrganizationRole` and
    /// `taskmesh.identity.v1.OrganizationRole` share names and numbers (a test holds them
    /// together), so this is the one conversion for both.
    pub fn to_wire(self) -> i32 {
        use taskmesh::tenancy::v1::OrganizationRole as Wire;
        (match self {
            Self::Owner => Wire::Owner,
            Self::Admin => Wire::Admin,
            Self::Member => Wire::Member,
            Self::Guest => Wire::Guest,
        }) as i32
    }

    /// The role of a wire value; `None` for UNSPECIFIED and unknown numbers.
    pub fn from_wire(value: i32) -> Option<Self> {
        use taskmesh::tenancy::v1::OrganizationRole as Wire;
        match Wire::try_from(value).ok()? {
            Wire::Owner => Some(Self::Owner),
            Wire::Admin => Some(Self::Admin),
            Wire::Member => Some(Self::Member),
            Wire::Guest => Some(Self::Guest),
            Wire::Unspecified => None,
        }
    }
}

crate::text_sql_type!(OrganizationRole);

impl fmt::Display for OrganizationRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrganizationRole {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "owner" => Ok(Self::Owner),
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            "guest" => Ok(Self::Guest),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// How the caller proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A short-lived EdDSA JWT from Login/RefreshToken/SwitchOrganization.
    Access,
    /// A long-lived, revocable, scoped `tmpat_` token.
    PersonalAccessToken,
}

/// What a credential allows, independent of role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Read methods only.
    ReadOnly,
    /// Everything the role allows.
    ReadWrite,
}

/// The verified caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user_id: UserId,
    /// The organization the credential is scoped to, if any.
    pub organization_id: Option<OrganizationId>,
    /// The user's role in that organization, as of token issuance.
    pub role: Option<OrganizationRole>,
    /// Access token or personal access token.
    pub token_kind: TokenKind,
    /// Read-only or read-write.
    pub scope: Scope,
    /// The login session (access tokens only).
    pub session_id: Option<SessionId>,
    /// The token's unique id (`jti`, or the personal access token id).
    pub token_id: String,
    /// When the credential expires (Unix milliseconds); `None` for one that does not.
    pub expires_at: Option<i64>,
}

impl Principal {
    /// The organization of this call, or PERMISSION_DENIED when the credential is not
    /// scoped to one.
    pub fn organization(&self) -> Result<OrganizationId, ServiceError> {
        self.organization_id.ok_or_else(|| {
            ServiceError::new(
                ErrorCode::PermissionDenied,
                AUTH_DOMAIN,
                "ORGANIZATION_REQUIRED",
                "this call needs a token scoped to an organization (SwitchOrganization)",
            )
        })
    }

    /// Checks that a request naming `organization_id` names the caller's organization.
    pub fn ensure_organization(&self, organization_id: OrganizationId) -> Result<(), ServiceError> {
        if self.organization()? == organization_id {
            Ok(())
        } else {
            Err(ServiceError::new(
                ErrorCode::PermissionDenied,
                AUTH_DOMAIN,
                "ORGANIZATION_MISMATCH",
                "the request names another organization than the token",
            ))
        }
    }

    /// Checks that the caller's role is at least `minimum`.
    pub fn ensure_role(&self, minimum: OrganizationRole) -> Result<OrganizationRole, ServiceError> {
        match self.role {
            Some(role) if role.at_least(minimum) => Ok(role),
            _ => Err(ServiceError::new(
                ErrorCode::PermissionDenied,
                AUTH_DOMAIN,
                "ROLE_INSUFFICIENT",
                format!("this call needs the {minimum} role or higher"),
            )),
        }
    }

    /// Checks that the credential may write.
    pub fn ensure_can_write(&self) -> Result<(), ServiceError> {
        match self.scope {
            Scope::ReadWrite => Ok(()),
            Scope::ReadOnly => Err(ServiceError::new(
                ErrorCode::PermissionDenied,
                AUTH_DOMAIN,
                "SCOPE_INSUFFICIENT",
                "this token is read-only",
            )),
        }
    }
}

/// Resolves at `expires_at` (Unix milliseconds, [`Principal::expires_at`]), or never when it
/// is `None`. A call that outlives its credential (a server stream) selects on it and ends
/// with [`token_expired`], so a stream cannot read past the token's lifetime.
pub async fn credential_expired(expires_at: Option<i64>) {
    let Some(expires_at) = expires_at else {
        return std::future::pending().await;
    };
    let left = expires_at.saturating_sub(crate::time::now_millis());
    if left > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(left as u64)).await;
    }
}

/// The status ending a call whose credential expired while it ran: UNAUTHENTICATED
/// (TOKEN_EXPIRED), as a new call with that token would get.
pub fn token_expired() -> ServiceError {
    ServiceError::from(AuthError::Expired)
}

/// Why a credential was refused. Every variant becomes UNAUTHENTICATED, except a failing
/// key source, which is UNAVAILABLE (the caller may retry).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The `authorization` value is not `Bearer <token>`.
    #[error("malformed authorization header")]
    Malformed,
    /// Signature, algorithm, type or claims are wrong.
    #[error("invalid token")]
    Invalid,
    /// The token has expired.
    #[error("token expired")]
    Expired,
    /// No published key has the token's `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The personal access token is unknown, expired or revoked.
    #[error("token revoked or unknown")]
    Revoked,
    /// The key source or introspection endpoint could not be reached.
    #[error("token verification unavailable: {0}")]
    Unavailable(String),
}

impl From<AuthError> for ServiceError {
    fn from(error: AuthError) -> Self {
        let (code, reason) = match &error {
            AuthError::Malformed => (ErrorCode::Unauthenticated, "AUTHORIZATION_MALFORMED"),
            AuthError::Invalid => (ErrorCode::Unauthenticated, "TOKEN_INVALID"),
            AuthError::Expired => (ErrorCode::Unauthenticated, "TOKEN_EXPIRED"),
            AuthError::UnknownKey => (ErrorCode::Unauthenticated, "TOKEN_INVALID"),
            AuthError::Revoked => (ErrorCode::Unauthenticated, "TOKEN_REVOKED"),
            AuthError::Unavailable(_) => (ErrorCode::Unavailable, "AUTH_UNAVAILABLE"),
        };
        let message = match &error {
            // The cause may name internal addresses: log it, do not return it.
            AuthError::Unavailable(cause) => {
                tracing::warn!(%cause, "token verification unavailable");
                "token verification is temporarily unavailable".to_string()
            }
            other => other.to_string(),
        };
        ServiceError::new(code, AUTH_DOMAIN, reason, message)
    }
}

/// Verifies any credential taskmesh accepts.
#[derive(Clone)]
pub struct Authenticator {
    verifier: Arc<TokenVerifier>,
    introspector: Option<Arc<dyn Introspector>>,
    revocations: Arc<Revocations>,
    service_keys: Option<Arc<ServiceKeys>>,
}

/// The prefix of personal access tokens.
pub const PERSONAL_ACCESS_TOKEN_PREFIX: &str = "tmpat_";

impl Authenticator {
    /// An authenticator that verifies access tokens with `verifier` and, when given,
    /// personal access tokens with `introspector`.
    pub fn new(verifier: Arc<TokenVerifier>, introspector: Option<Arc<dyn Introspector>>) -> Self {
        Self {
            verifier,
            introspector,
            revocations: Arc::new(Revocations::new()),
            service_keys: None,
        }
    }

    /// Accepts service credentials signed with `keys` (see [`service`]).
    pub fn with_service_keys(mut self, keys: Arc<ServiceKeys>) -> Self {
        self.service_keys = Some(keys);
        self
    }

    /// Verifies a service credential (`Bearer tmsvc_...`); `None` when the value is not one.
    pub fn authenticate_service(
        &self,
        authorization: &str,
    ) -> Option<Result<ServiceCaller, AuthError>> {
        let token = authorization
            .strip_prefix("Bearer ")
            .or_else(|| authorization.strip_prefix("bearer "))?
            .trim();
        if !token.starts_with(service::SERVICE_CREDENTIAL_PREFIX) {
            return None;
        }
        Some(match &self.service_keys {
            Some(keys) => keys.verify(token),
            None => Err(AuthError::Invalid),
        })
    }

    /// Refuses credentials in `revocations` (fed by identity's revocation events).
    pub fn with_revocations(mut self, revocations: Arc<Revocations>) -> Self {
        self.revocations = revocations;
        self
    }

    /// Verifies the value of an `authorization` header.
    pub async fn authenticate(&self, authorization: &str) -> Result<Principal, AuthError> {
        let token = authorization
            .strip_prefix("Bearer ")
            .or_else(|| authorization.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(AuthError::Malformed)?;
        let principal = if token.starts_with(PERSONAL_ACCESS_TOKEN_PREFIX) {
            let introspector = self.introspector.as_ref().ok_or(AuthError::Revoked)?;
            introspector
                .introspect(token)
                .await?
                .ok_or(AuthError::Revoked)?
        } else {
            self.verifier.verify(token).await?
        };
        if self.revocations.is_revoked(&principal) {
            return Err(AuthError::Revoked);
        }
        Ok(principal)
    }
}

/// The principal of a request, if it carried a valid credential.
pub fn principal<T>(request: &tonic::Request<T>) -> Option<&Principal> {
    request.extensions().get::<Principal>()
}

/// The principal of a request, or UNAUTHENTICATED.
pub fn require_principal<T>(request: &tonic::Request<T>) -> Result<&Principal, ServiceError> {
    principal(request).ok_or_else(|| {
        ServiceError::new(
            ErrorCode::Unauthenticated,
            AUTH_DOMAIN,
            "CREDENTIALS_MISSING",
            "this call needs an authorization: Bearer <token> header",
        )
    })
}

#[cfg(test)]
mod role_tests {
    use super::OrganizationRole;

    #[test]
    fn both_wire_role_enums_agree_and_round_trip() {
        use taskmesh::identity::v1::OrganizationRole as IdentityWire;
        use taskmesh::tenancy::v1::OrganizationRole as TenancyWire;
        for role in [
            OrganizationRole::Owner,
            OrganizationRole::Admin,
            OrganizationRole::Member,
            OrganizationRole::Guest,
        ] {
            let wire = role.to_wire();
            assert_eq!(OrganizationRole::from_wire(wire), Some(role));
            let tenancy = TenancyWire::try_from(wire).unwrap().as_str_name();
            let identity = IdentityWire::try_from(wire).unwrap().as_str_name();
            assert_eq!(tenancy, identity, "the two contracts drifted apart");
        }
        assert_eq!(OrganizationRole::from_wire(0), None);
        assert_eq!(OrganizationRole::from_wire(99), None);
    }
}
