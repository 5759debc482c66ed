//! Links' rules, free of transport and storage: slugs ([`slugs`]), visitor records
//! ([`visitors`]), field rules and the ListLinks filter ([`rules`]), password attempt limits
//! ([`attempts`]), and the one error enum, mapped to the wire once.

pub mod attempts;
pub mod rules;
pub mod slugs;
pub mod visitors;

use std::time::Duration;

use mesh::error::{ErrorCode, ServiceError};

/// `ErrorInfo.domain` of links' errors.
pub const DOMAIN: &str = "links.taskmesh";

/// Links' failures in its own words.
#[derive(Debug, thiserror::Error)]
pub enum LinksError {
    /// A field is malformed.
    #[error("invalid {field}: {description}")]
    InvalidField {
        /// Request field path.
        field: &'static str,
        /// What is wrong.
        description: String,
    },
    /// A URL target that is not an absolute https URL.
    #[error("url must be an absolute https URL without user info: {0}")]
    UrlNotAllowed(String),
    /// URL links are off.
    #[error("links to URLs are disabled on this server")]
    UrlLinksDisabled,
    /// No such link (or not resolvable: every case answers the same).
    #[error("link not found")]
    LinkNotFound,
    /// The target task cannot be seen.
    #[error("task not found")]
    TaskNotFound,
    /// The target document cannot be seen.
    #[error("document not found")]
    DocumentNotFound,
    /// The slug is used by another link.
    #[error("the slug is taken")]
    SlugTaken,
    /// The caller may not do this.
    #[error("the caller may not {0}")]
    RoleInsufficient(&'static str),
    /// A password is needed.
    #[error("this link needs a password")]
    PasswordRequired,
    /// The password is wrong.
    #[error("wrong password")]
    PasswordInvalid,
    /// Too many wrong passwords.
    #[error("too many wrong passwords; try again later")]
    AttemptsExceeded(Duration),
    /// Stale etag.
    #[error("the link changed; reload and retry")]
    EtagMismatch,
    /// Already in wire form.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl LinksError {
    /// INVALID_ARGUMENT `FIELD_INVALID` on `field`.
    pub fn invalid(field: &'static str, description: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            description: description.into(),
        }
    }
}

impl From<kit::passwords::PasswordError> for LinksError {
    fn from(error: kit::passwords::PasswordError) -> Self {
        Self::Service(match error {
            kit::passwords::PasswordError::Busy(wait) => ServiceError::new(
                ErrorCode::ResourceExhausted,
                DOMAIN,
                "RATE_LIMITED",
                "too many password checks at once; retry shortly",
            )
            .with_retry_after(wait),
            kit::passwords::PasswordError::Internal(cause) => {
                ServiceError::internal(DOMAIN, &cause)
            }
        })
    }
}

impl From<LinksError> for ServiceError {
    fn from(error: LinksError) -> Self {
        use LinksError::*;
        let message = error.to_string();
        let new = |code, reason: &str| ServiceError::new(code, DOMAIN, reason, message.clone());
        match error {
            InvalidField { field, description } => {
                ServiceError::invalid_field(DOMAIN, field, description)
            }
            UrlNotAllowed(_) => new(ErrorCode::InvalidArgument, "URL_NOT_ALLOWED")
                .with_field_violation("link.url", message.clone()),
            UrlLinksDisabled => new(ErrorCode::FailedPrecondition, "URL_LINKS_DISABLED"),
            LinkNotFound => new(ErrorCode::NotFound, "LINK_NOT_FOUND"),
            TaskNotFound => new(ErrorCode::NotFound, "TASK_NOT_FOUND"),
            DocumentNotFound => new(ErrorCode::NotFound, "DOCUMENT_NOT_FOUND"),
            SlugTaken => new(ErrorCode::AlreadyExists, "SLUG_TAKEN"),
            RoleInsufficient(_) => new(ErrorCode::PermissionDenied, "ROLE_INSUFFICIENT"),
            PasswordRequired => new(ErrorCode::PermissionDenied, "LINK_PASSWORD_REQUIRED"),
            PasswordInvalid => new(ErrorCode::PermissionDenied, "LINK_PASSWORD_INVALID"),
            AttemptsExceeded(wait) => new(
                ErrorCode::ResourceExhausted,
                "LINK_PASSWORD_ATTEMPTS_EXCEEDED",
            )
            .with_retry_after(wait),
            EtagMismatch => mesh::request::etag_mismatch(DOMAIN),
            Service(error) => error,
        }
    }
}
