//! Identity's rules, free of transport and storage: what an email, a password, a display
//! name and a token look like, and how long things live.

pub mod password;
pub mod secrets;

use mesh::error::{ErrorCode, ServiceError};

/// Error domain of identity.
pub const DOMAIN: &str = "identity.taskmesh";

/// Identity's failures in its own words; mapped to statuses once, here.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A field is malformed.
    #[error("invalid {field}: {description}")]
    InvalidField {
        /// Request field path.
        field: &'static str,
        /// What is wrong.
        description: String,
    },
    /// The password fails the policy.
    #[error("password too weak: {reason}")]
    PasswordTooWeak {
        /// The request field holding the password.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The email belongs to another account.
    #[error("email already registered")]
    EmailTaken,
    /// Email or password wrong (the same answer for unknown emails).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The current password given to ChangePassword is wrong.
    #[error("current password is wrong")]
    WrongCurrentPassword,
    /// The refresh token is unknown, expired or its session ended.
    #[error("refresh token invalid or expired")]
    RefreshTokenInvalid,
    /// A refresh token was used twice: the session was revoked.
    #[error("refresh token reused; the session was revoked")]
    RefreshTokenReused,
    /// The reset token is unknown, expired or used.
    #[error("reset token invalid or expired")]
    ResetTokenInvalid,
    /// Not found (or another user's, indistinguishable).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The organization does not exist or the user is not a member.
    #[error("organization not found")]
    OrganizationNotFound,
    /// The call needs an access token, not a personal access token.
    #[error("this call needs an access token, not a personal access token")]
    TokenKindNotAllowed,
    /// Too many active personal access tokens.
    #[error("too many active personal access tokens")]
    QuotaExceeded,
    /// Too many attempts; retry after the given duration.
    #[error("too many attempts")]
    RateLimited(std::time::Duration),
    /// Optimistic concurrency conflict.
    #[error("the resource changed; reload and retry")]
    EtagMismatch,
    /// A bug in identity itself (a closed hasher pool, an unsignable token).
    #[error("internal: {0}")]
    Internal(String),
    /// A failure already in wire form: storage (classified by `mesh::db::storage_error` in
    /// the store, so the domain never sees sqlx), a peer, or the shared request rules.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<kit::passwords::PasswordError> for IdentityError {
    fn from(error: kit::passwords::PasswordError) -> Self {
        match error {
            kit::passwords::PasswordError::Busy(wait) => Self::RateLimited(wait),
            kit::passwords::PasswordError::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl From<IdentityError> for ServiceError {
    fn from(error: IdentityError) -> Self {
        use IdentityError::*;
        let message = error.to_string();
        match error {
            InvalidField { field, description } => {
                ServiceError::invalid_field(DOMAIN, field, description)
            }
            PasswordTooWeak { field, reason } => ServiceError::new(
                ErrorCode::InvalidArgument,
                DOMAIN,
                "PASSWORD_TOO_WEAK",
                message,
            )
            .with_field_violation(field, reason),
            EmailTaken => {
                ServiceError::new(ErrorCode::AlreadyExists, DOMAIN, "EMAIL_TAKEN", message)
            }
            InvalidCredentials => ServiceError::new(
                ErrorCode::Unauthenticated,
                DOMAIN,
                "INVALID_CREDENTIALS",
                message,
            ),
            WrongCurrentPassword => ServiceError::new(
                ErrorCode::PermissionDenied,
                DOMAIN,
                "INVALID_CREDENTIALS",
                message,
            ),
            RefreshTokenInvalid => ServiceError::new(
                ErrorCode::Unauthenticated,
                DOMAIN,
                "REFRESH_TOKEN_INVALID",
                message,
            ),
            RefreshTokenReused => ServiceError::new(
                ErrorCode::Unauthenticated,
                DOMAIN,
                "REFRESH_TOKEN_REUSED",
                message,
            ),
            ResetTokenInvalid => ServiceError::new(
                ErrorCode::InvalidArgument,
                DOMAIN,
                "RESET_TOKEN_INVALID",
                message,
            )
            .with_field_violation("reset_token", "unknown, expired or already used"),
            NotFound(what) => ServiceError::new(
                ErrorCode::NotFound,
                DOMAIN,
                format!("{}_NOT_FOUND", what.to_ascii_uppercase().replace(' ', "_")),
                message,
            ),
            OrganizationNotFound => ServiceError::new(
                ErrorCode::NotFound,
                DOMAIN,
                "ORGANIZATION_NOT_FOUND",
                message,
            ),
            TokenKindNotAllowed => ServiceError::new(
                ErrorCode::PermissionDenied,
                DOMAIN,
                "TOKEN_KIND_NOT_ALLOWED",
                message,
            ),
            QuotaExceeded => ServiceError::new(
                ErrorCode::ResourceExhausted,
                DOMAIN,
                "QUOTA_EXCEEDED",
                message,
            ),
            RateLimited(retry_after) => ServiceError::new(
                ErrorCode::ResourceExhausted,
                DOMAIN,
                "RATE_LIMITED",
                message,
            )
            .with_retry_after(retry_after),
            EtagMismatch => ServiceError::new(ErrorCode::Aborted, DOMAIN, "ETAG_MISMATCH", message),
            Internal(cause) => ServiceError::internal(DOMAIN, &cause),
            Service(error) => error,
        }
    }
}

impl IdentityError {
    /// Re-targets a password-policy failure at another request field (`new_password`).
    pub fn for_field(self, field: &'static str) -> Self {
        match self {
            Self::PasswordTooWeak { reason, .. } => Self::PasswordTooWeak { field, reason },
            other => other,
        }
    }
}

/// Normalizes an email (`mesh::validate::email`).
pub fn normalize_email(field: &'static str, email: &str) -> Result<String, IdentityError> {
    mesh::validate::email(email).map_err(|description| IdentityError::InvalidField {
        field,
        description: description.into(),
    })
}

/// Validates a display name: 1-100 characters after trimming, no control characters.
pub fn display_name(field: &'static str, name: &str) -> Result<String, IdentityError> {
    let name = name.trim();
    let count = name.chars().count();
    if count == 0 || count > 100 {
        return Err(IdentityError::InvalidField {
            field,
            description: "must be 1 to 100 characters".into(),
        });
    }
    if name.chars().any(char::is_control) {
        return Err(IdentityError::InvalidField {
            field,
            description: "must not contain control characters".into(),
        });
    }
    Ok(name.to_string())
}

/// Validates an optional idempotency key (`mesh::validate::request_id`).
pub fn request_id(request_id: &str) -> Result<Option<String>, IdentityError> {
    mesh::validate::request_id(request_id).map_err(|description| IdentityError::InvalidField {
        field: "request_id",
        description: description.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(
            display_name("display_name", "  Ada Lovelace ").unwrap(),
            "Ada Lovelace"
        );
        assert!(display_name("display_name", "   ").is_err());
        assert!(display_name("display_name", &"x".repeat(101)).is_err());
        assert!(display_name("display_name", "bell\u{7}").is_err());
    }
}
