//! Tenancy's rules, free of transport and storage: slugs, host names, roles and who may do
//! what to whom, invitation lifetimes, the audit filter grammar.

pub mod filter;

use mesh::auth::OrganizationRole;
use mesh::error::{ErrorCode, ServiceError};

/// Error domain of tenancy.
pub const DOMAIN: &str = "tenancy.taskmesh";

/// Slugs that would collide with product routes or invite phishing.
const RESERVED_SLUGS: &[&str] = &[
    "admin",
    "api",
    "app",
    "assets",
    "auth",
    "billing",
    "blog",
    "dashboard",
    "docs",
    "edge",
    "grpc",
    "help",
    "internal",
    "login",
    "logout",
    "mail",
    "metrics",
    "new",
    "oauth",
    "readyz",
    "healthz",
    "root",
    "security",
    "settings",
    "signup",
    "static",
    "status",
    "support",
    "system",
    "taskmesh",
    "www",
];

/// Tenancy's failures in its own words.
#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    /// A field is malformed.
    #[error("invalid {field}: {description}")]
    InvalidField {
        /// Request field path.
        field: &'static str,
        /// What is wrong.
        description: String,
    },
    /// The slug does not match the pattern.
    #[error("invalid slug: {0}")]
    SlugInvalid(String),
    /// The slug is reserved.
    #[error("slug is reserved")]
    SlugReserved,
    /// Another organization has the slug.
    #[error("slug is taken")]
    SlugTaken,
    /// No such organization (or not visible to the caller; indistinguishable).
    #[error("organization not found")]
    OrganizationNotFound,
    /// No such member.
    #[error("member not found")]
    MemberNotFound,
    /// No such invitation.
    #[error("invitation not found")]
    InvitationNotFound,
    /// The role does not allow this.
    #[error("{0}")]
    RoleInsufficient(&'static str),
    /// The request names another organization than the token.
    #[error("the request names another organization than the token")]
    OrganizationMismatch,
    /// The last owner cannot be demoted or removed.
    #[error("an organization must keep at least one owner")]
    LastOwner,
    /// The invitation was accepted before.
    #[error("invitation already accepted")]
    InvitationAlreadyAccepted,
    /// The invitation was revoked.
    #[error("invitation revoked")]
    InvitationRevoked,
    /// The invitation expired.
    #[error("invitation expired")]
    InvitationExpired,
    /// The signed-in user's email is not the invited one.
    #[error("this invitation is for another email address")]
    InvitationEmailMismatch,
    /// A pending invitation for this email exists.
    #[error("a pending invitation for this email exists")]
    InvitationPending,
    /// The user (or email) is already a member.
    #[error("already a member")]
    AlreadyMember,
    /// Optimistic concurrency conflict.
    #[error("the resource changed; reload and retry")]
    EtagMismatch,
    /// Bad filter.
    #[error("invalid filter: {0}")]
    FilterInvalid(String),
    /// Bad order_by.
    #[error("invalid order_by: {0}")]
    OrderByInvalid(String),
    /// The call needs an access token.
    #[error("this call needs an access token, not a personal access token")]
    TokenKindNotAllowed,
    /// A failure already in wire form: storage (classified by `mesh::db::storage_error` in
    /// the store, so the domain never sees sqlx), a peer, or the shared request rules.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<TenancyError> for ServiceError {
    fn from(error: TenancyError) -> Self {
        use TenancyError::*;
        let message = error.to_string();
        let new = |code, reason: &str| ServiceError::new(code, DOMAIN, reason, message.clone());
        match error {
            InvalidField { field, description } => {
                ServiceError::invalid_field(DOMAIN, field, description)
            }
            SlugInvalid(reason) => {
                new(ErrorCode::InvalidArgument, "SLUG_INVALID").with_field_violation("slug", reason)
            }
            SlugReserved => new(ErrorCode::InvalidArgument, "SLUG_RESERVED")
                .with_field_violation("slug", "is a reserved word"),
            SlugTaken => new(ErrorCode::AlreadyExists, "SLUG_TAKEN"),
            OrganizationNotFound => new(ErrorCode::NotFound, "ORGANIZATION_NOT_FOUND"),
            MemberNotFound => new(ErrorCode::NotFound, "MEMBER_NOT_FOUND"),
            InvitationNotFound => new(ErrorCode::NotFound, "INVITATION_NOT_FOUND"),
            RoleInsufficient(_) => new(ErrorCode::PermissionDenied, "ROLE_INSUFFICIENT"),
            OrganizationMismatch => new(ErrorCode::PermissionDenied, "ORGANIZATION_MISMATCH"),
            LastOwner => new(ErrorCode::FailedPrecondition, "LAST_OWNER"),
            InvitationAlreadyAccepted => {
                new(ErrorCode::FailedPrecondition, "INVITATION_ALREADY_ACCEPTED")
            }
            InvitationRevoked => new(ErrorCode::FailedPrecondition, "INVITATION_REVOKED"),
            InvitationExpired => new(ErrorCode::FailedPrecondition, "INVITATION_EXPIRED"),
            InvitationEmailMismatch => {
                new(ErrorCode::PermissionDenied, "INVITATION_EMAIL_MISMATCH")
            }
            InvitationPending => new(ErrorCode::AlreadyExists, "INVITATION_ALREADY_PENDING"),
            AlreadyMember => new(ErrorCode::AlreadyExists, "ALREADY_MEMBER"),
            EtagMismatch => new(ErrorCode::Aborted, "ETAG_MISMATCH"),
            FilterInvalid(reason) => new(ErrorCode::InvalidArgument, "FILTER_INVALID")
                .with_field_violation("filter", reason),
            OrderByInvalid(reason) => new(ErrorCode::InvalidArgument, "ORDER_BY_INVALID")
                .with_field_violation("order_by", reason),
            TokenKindNotAllowed => new(ErrorCode::PermissionDenied, "TOKEN_KIND_NOT_ALLOWED"),
            Service(error) => error,
        }
    }
}

/// Checks a slug: 3-40 characters of `a-z`, `0-9` and `-`, no leading/trailing hyphen, not
/// reserved. (A valid DNS label, so `<slug>.<base domain>` works.)
pub fn slug(slug: &str) -> Result<String, TenancyError> {
    let length = slug.len();
    if !(3..=40).contains(&length) {
        return Err(TenancyError::SlugInvalid(
            "must be 3 to 40 characters".into(),
        ));
    }
    if !slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(TenancyError::SlugInvalid(
            "may contain only a-z, 0-9 and -".into(),
        ));
    }
    if slug.starts_with('-') || slug.ends_with('-') {
        return Err(TenancyError::SlugInvalid(
            "must not start or end with -".into(),
        ));
    }
    if RESERVED_SLUGS.contains(&slug) {
        return Err(TenancyError::SlugReserved);
    }
    Ok(slug.to_string())
}

/// The slug a host name stands for under `base_domain` (`acme.example.com` → `acme`).
pub fn slug_from_host(host: &str, base_domain: &str) -> Option<String> {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let host = host
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host.as_str(), |(name, _)| name);
    let base = base_domain.trim_start_matches('.').to_ascii_lowercase();
    let label = host.strip_suffix(&base)?.strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then(|| label.to_string())
}

/// Checks an organization name: 1-100 characters, no control characters.
pub fn organization_name(field: &'static str, name: &str) -> Result<String, TenancyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(TenancyError::InvalidField {
            field,
            description: "must be 1 to 100 characters without control characters".into(),
        });
    }
    Ok(name.to_string())
}

/// Normalizes an email the way identity does (`mesh::validate::email`), so every address
/// identity accepts can be invited.
pub fn email(field: &'static str, email: &str) -> Result<String, TenancyError> {
    mesh::validate::email(email).map_err(|description| TenancyError::InvalidField {
        field,
        description: description.into(),
    })
}

/// Validates an optional idempotency key (`mesh::validate::request_id`).
pub fn request_id(request_id: &str) -> Result<Option<String>, TenancyError> {
    mesh::validate::request_id(request_id).map_err(|description| TenancyError::InvalidField {
        field: "request_id",
        description: description.into(),
    })
}

/// Whether `actor` may set `target`'s role from `from` to `to`. Owners and admins manage
/// members; only owners touch owners (grant, demote, remove).
pub fn may_change_role(
    actor: OrganizationRole,
    from: OrganizationRole,
    to: OrganizationRole,
) -> Result<(), TenancyError> {
    if !actor.at_least(OrganizationRole::Admin) {
        return Err(TenancyError::RoleInsufficient(
            "only owners and admins manage members",
        ));
    }
    if (from == OrganizationRole::Owner || to == OrganizationRole::Owner)
        && actor != OrganizationRole::Owner
    {
        return Err(TenancyError::RoleInsufficient(
            "only owners grant or take the owner role",
        ));
    }
    Ok(())
}

/// Whether `actor` (who is `actor_user` ) may remove a member with role `target_role`.
pub fn may_remove(
    actor: OrganizationRole,
    removing_self: bool,
    target_role: OrganizationRole,
) -> Result<(), TenancyError> {
    if removing_self {
        return Ok(());
    }
    may_change_role(actor, target_role, OrganizationRole::Guest)
}

/// Whether a member with role `inviter` may invite someone as `invited`: owners and admins
/// invite, and never as owner. An invitation stays valid only while its inviter still may
/// make it: removing the inviter, or demoting them below that, revokes it.
pub fn may_invite(inviter: OrganizationRole, invited: OrganizationRole) -> bool {
    inviter.at_least(OrganizationRole::Admin) && invited != OrganizationRole::Owner
}

/// Roles an invitation may carry: every role but owner (owners are made after joining).
pub fn invitable(role: OrganizationRole) -> Result<OrganizationRole, TenancyError> {
    if role == OrganizationRole::Owner {
        return Err(TenancyError::InvalidField {
            field: "role",
            description: "invitations grant admin, member or guest".into(),
        });
    }
    Ok(role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_pattern_and_skip_reserved_words() {
        assert_eq!(slug("acme-corp").unwrap(), "acme-corp");
        for bad in [
            "ab",
            "Acme",
            "acme_corp",
            "-acme",
            "acme-",
            &"a".repeat(41),
            "acmé",
        ] {
            assert!(
                matches!(slug(bad), Err(TenancyError::SlugInvalid(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(slug("www"), Err(TenancyError::SlugReserved)));
    }

    #[test]
    fn hosts_map_to_slugs_under_the_base_domain_only() {
        assert_eq!(
            slug_from_host("acme.example.com", "example.com").as_deref(),
            Some("acme")
        );
        assert_eq!(
            slug_from_host("ACME.example.com:443", "example.com").as_deref(),
            Some("acme")
        );
        assert_eq!(slug_from_host("a.b.example.com", "example.com"), None);
        assert_eq!(slug_from_host("example.com", "example.com"), None);
        assert_eq!(slug_from_host("acme.evil.com", "example.com"), None);
        assert_eq!(slug_from_host("acmeexample.com", "example.com"), None);
    }

    #[test]
    fn only_owners_touch_owners() {
        use OrganizationRole::*;
        assert!(may_change_role(Admin, Member, Admin).is_ok());
        assert!(may_change_role(Admin, Member, Owner).is_err());
        assert!(may_change_role(Admin, Owner, Member).is_err());
        assert!(may_change_role(Owner, Owner, Member).is_ok());
        assert!(may_change_role(Member, Guest, Member).is_err());
        assert!(may_remove(Guest, true, Guest).is_ok());
        assert!(may_remove(Admin, false, Owner).is_err());
        assert!(invitable(Owner).is_err());
    }
}
