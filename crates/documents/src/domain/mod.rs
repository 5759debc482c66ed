//! Documents' rules, free of transport and storage: who may read, write and delete a
//! document ([`access`]), the ListDocuments filter and order ([`filter`]), field rules
//! ([`rules`]), and the one error enum, mapped to the wire once.

pub mod access;
pub mod filter;
pub mod rules;

use mesh::error::{ErrorCode, ServiceError};

/// `ErrorInfo.domain` of documents' errors.
pub const DOMAIN: &str = "documents.taskmesh";

/// Documents' failures in its own words.
#[derive(Debug, thiserror::Error)]
pub enum DocumentsError {
    /// A field is malformed.
    #[error("invalid {field}: {description}")]
    InvalidField {
        /// Request field path.
        field: &'static str,
        /// What is wrong.
        description: String,
    },
    /// The upload stream is out of order.
    #[error("upload out of sequence: {0}")]
    UploadSequence(&'static str),
    /// The project does not exist or the caller cannot see it.
    #[error("project not found")]
    ProjectNotFound,
    /// The task does not exist or the caller cannot see it.
    #[error("task not found")]
    TaskNotFound,
    /// The document does not exist, is hidden, or the caller may not read it.
    #[error("document not found")]
    DocumentNotFound,
    /// The document has no such version.
    #[error("document version not found")]
    VersionNotFound,
    /// The version to restore is already current.
    #[error("version {0} is already the current version")]
    VersionIsCurrent(i64),
    /// The caller may read but not do this.
    #[error("the caller may not {0}")]
    RoleInsufficient(&'static str),
    /// More bytes than allowed.
    #[error("the content exceeds the maximum document size of {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// The organization's storage is used up.
    #[error("the organization's storage quota of {quota} bytes would be exceeded")]
    QuotaExceeded {
        /// The quota.
        quota: i64,
    },
    /// The bytes are not those the client stated.
    #[error("checksum mismatch: expected {expected}, got {actual}")]
    ChecksumMismatch {
        /// Stated.
        expected: String,
        /// Computed.
        actual: String,
    },
    /// The byte count is not the one the client stated.
    #[error("size mismatch: expected {expected} bytes, received {actual}")]
    SizeMismatch {
        /// Stated.
        expected: u64,
        /// Received.
        actual: u64,
    },
    /// The document changed since the caller read it.
    #[error("the document changed; reload and retry")]
    EtagMismatch,
    /// Blob storage cannot be reached.
    #[error("document storage is unavailable")]
    StorageUnavailable(String),
    /// Already in wire form (auth, storage, peers, filters).
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl DocumentsError {
    /// INVALID_ARGUMENT `FIELD_INVALID` on `field`.
    pub fn invalid(field: &'static str, description: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            description: description.into(),
        }
    }
}

impl From<DocumentsError> for ServiceError {
    fn from(error: DocumentsError) -> Self {
        use DocumentsError::*;
        let message = error.to_string();
        let new = |code, reason: &str| ServiceError::new(code, DOMAIN, reason, message.clone());
        match error {
            InvalidField { field, description } => {
                ServiceError::invalid_field(DOMAIN, field, description)
            }
            UploadSequence(_) => new(ErrorCode::InvalidArgument, "UPLOAD_SEQUENCE_INVALID"),
            ProjectNotFound => new(ErrorCode::NotFound, "PROJECT_NOT_FOUND"),
            TaskNotFound => new(ErrorCode::NotFound, "TASK_NOT_FOUND"),
            DocumentNotFound => new(ErrorCode::NotFound, "DOCUMENT_NOT_FOUND"),
            VersionNotFound => new(ErrorCode::NotFound, "DOCUMENT_VERSION_NOT_FOUND"),
            VersionIsCurrent(_) => {
                new(ErrorCode::FailedPrecondition, "DOCUMENT_VERSION_IS_CURRENT")
            }
            RoleInsufficient(_) => new(ErrorCode::PermissionDenied, "ROLE_INSUFFICIENT"),
            TooLarge { limit } => new(ErrorCode::ResourceExhausted, "DOCUMENT_TOO_LARGE")
                .with_metadata("limit_bytes", limit.to_string()),
            QuotaExceeded { quota } => new(ErrorCode::ResourceExhausted, "STORAGE_QUOTA_EXCEEDED")
                .with_metadata("quota_bytes", quota.to_string()),
            ChecksumMismatch { .. } => new(ErrorCode::InvalidArgument, "CHECKSUM_MISMATCH")
                .with_field_violation("metadata.expected_sha256", message.clone()),
            SizeMismatch { .. } => new(ErrorCode::InvalidArgument, "SIZE_MISMATCH")
                .with_field_violation("metadata.expected_size", message.clone()),
            EtagMismatch => mesh::request::etag_mismatch(DOMAIN),
            StorageUnavailable(cause) => {
                tracing::warn!(%cause, "document storage unavailable");
                new(ErrorCode::Unavailable, "STORAGE_UNAVAILABLE")
                    .with_retry_after(std::time::Duration::from_secs(1))
            }
            Service(error) => error,
        }
    }
}
