//! The one mapping from domain failures to gRPC statuses.
//!
//! Each service crate has its own error enum in domain words and converts it into a
//! [`ServiceError`]; `ServiceError` becomes a `tonic::Status` here and nowhere else.
//! Invariants: every status carries `google.rpc.ErrorInfo { reason, domain }` in
//! `grpc-status-details-bin`; INVALID_ARGUMENT carries `google.rpc.BadRequest` field
//! violations; RESOURCE_EXHAUSTED carries `google.rpc.RetryInfo` and a `retry-after`
//! header; INTERNAL never carries the underlying error (it is logged with an error id).

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use tonic::Code;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic_types::{ErrorDetails, StatusExt};

/// Canonical gRPC codes taskmesh uses (AIP-193). `Ok`, `Unknown`, `Cancelled`, `OutOfRange`,
/// `Unimplemented` and `DataLoss` are deliberately absent: services never choose them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// Bad input; comes with field violations.
    InvalidArgument,
    /// Missing, invalid or expired credentials.
    Unauthenticated,
    /// Authenticated but not allowed.
    PermissionDenied,
    /// Absent, or belongs to another tenant (indistinguishable on purpose).
    NotFound,
    /// A unique key is taken.
    AlreadyExists,
    /// The current state forbids the operation.
    FailedPrecondition,
    /// Optimistic concurrency conflict (stale etag).
    Aborted,
    /// Rate limit, quota or size exceeded.
    ResourceExhausted,
    /// A dependency is down; the call may be retried.
    Unavailable,
    /// The deadline passed.
    DeadlineExceeded,
    /// A bug or an unexpected failure; details are only in the logs.
    Internal,
}

impl ErrorCode {
    fn to_tonic(self) -> Code {
        match self {
            Self::InvalidArgument => Code::InvalidArgument,
            Self::Unauthenticated => Code::Unauthenticated,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::NotFound => Code::NotFound,
            Self::AlreadyExists => Code::AlreadyExists,
            Self::FailedPrecondition => Code::FailedPrecondition,
            Self::Aborted => Code::Aborted,
            Self::ResourceExhausted => Code::ResourceExhausted,
            Self::Unavailable => Code::Unavailable,
            Self::DeadlineExceeded => Code::DeadlineExceeded,
            Self::Internal => Code::Internal,
        }
    }
}

/// One invalid field: its path in the request (`task.title`) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request message, dotted.
    pub field: String,
    /// What is wrong, lowercase, no secrets.
    pub description: String,
}

/// A failure on its way to the client: code, machine-readable reason, short message.
/// Boxed inside so that `Result<T, ServiceError>` stays one pointer wide on the happy path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceError {
    inner: Box<Inner>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Inner {
    code: ErrorCode,
    domain: String,
    reason: String,
    message: String,
    field_violations: Vec<FieldViolation>,
    retry_after: Option<Duration>,
    metadata: HashMap<String, String>,
}

impl ServiceError {
    /// A failure with `reason` (UPPER_SNAKE) in `domain` (`<service>.taskmesh`).
    pub fn new(
        code: ErrorCode,
        domain: impl Into<String>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            inner: Box::new(Inner {
                code,
                domain: domain.into(),
                reason: reason.into(),
                message: message.into(),
                field_violations: Vec::new(),
                retry_after: None,
                metadata: HashMap::new(),
            }),
        }
    }

    /// INVALID_ARGUMENT with reason `FIELD_INVALID` and one violation; add more with
    /// [`ServiceError::with_field_violation`].
    pub fn invalid_field(
        domain: impl Into<String>,
        field: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        let field = field.into();
        let description = description.into();
        Self::new(
            ErrorCode::InvalidArgument,
            domain,
            "FIELD_INVALID",
            format!("invalid {field}: {description}"),
        )
        .with_field_violation(field, description)
    }

    /// An unexpected failure: the cause is logged with a fresh error id, the client sees
    /// only `internal error (id ...)`.
    pub fn internal(domain: impl Into<String>, cause: &dyn fmt::Display) -> Self {
        let error_id = uuid::Uuid::now_v7();
        let domain = domain.into();
        tracing::error!(%error_id, %domain, error = %cause, "internal error");
        Self::new(
            ErrorCode::Internal,
            domain,
            "INTERNAL",
            format!("internal error (id {error_id})"),
        )
    }

    /// A dependency (a peer service, the broker) cannot answer now: UNAVAILABLE
    /// `DEPENDENCY_UNAVAILABLE`, retryable; the cause is logged, not sent.
    pub fn dependency_unavailable(domain: impl Into<String>, cause: &dyn fmt::Display) -> Self {
        let domain = domain.into();
        tracing::warn!(%domain, %cause, "dependency unavailable");
        Self::new(
            ErrorCode::Unavailable,
            domain,
            "DEPENDENCY_UNAVAILABLE",
            "a dependency is temporarily unavailable",
        )
    }

    /// Adds a field violation (meaningful for INVALID_ARGUMENT).
    pub fn with_field_violation(
        mut self,
        field: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.inner.field_violations.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
        self
    }

    /// Tells the client when to retry (RESOURCE_EXHAUSTED, UNAVAILABLE).
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.inner.retry_after = Some(retry_after);
        self
    }

    /// Adds an `ErrorInfo.metadata` entry (never a secret).
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.inner.metadata.insert(key.into(), value.into());
        self
    }

    /// The canonical code.
    pub fn code(&self) -> ErrorCode {
        self.inner.code
    }

    /// The machine-readable reason.
    pub fn reason(&self) -> &str {
        &self.inner.reason
    }

    /// The field violations.
    pub fn field_violations(&self) -> &[FieldViolation] {
        &self.inner.field_violations
    }

    /// Converts into the status sent on the wire.
    pub fn into_status(self) -> tonic::Status {
        let inner = *self.inner;
        let mut details = ErrorDetails::with_error_info(inner.reason, inner.domain, inner.metadata);
        for violation in &inner.field_violations {
            details.add_bad_request_violation(&violation.field, &violation.description);
        }
        let mut metadata = MetadataMap::new();
        if let Some(retry_after) = inner.retry_after {
            details.set_retry_info(Some(retry_after));
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            if let Ok(value) = MetadataValue::try_from(seconds.max(1).to_string()) {
                metadata.insert("retry-after", value);
            }
        }
        tonic::Status::with_error_details_and_metadata(
            inner.code.to_tonic(),
            inner.message,
            details,
            metadata,
        )
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {}: {}",
            self.inner.code, self.inner.reason, self.inner.message
        )
    }
}

impl std::error::Error for ServiceError {}

impl From<ServiceError> for tonic::Status {
    fn from(error: ServiceError) -> Self {
        error.into_status()
    }
}

/// UNIMPLEMENTED, reason `METHOD_NOT_FOUND`: no service in this process or behind it answers
/// `path`. (Not a [`ServiceError`]: services never choose UNIMPLEMENTED, only the router.)
pub fn unknown_method(path: &str) -> tonic::Status {
    tonic::Status::with_error_details(
        Code::Unimplemented,
        format!("unknown method {path}"),
        ErrorDetails::with_error_info("METHOD_NOT_FOUND", "edge.taskmesh", HashMap::new()),
    )
}

/// UNAVAILABLE, reason `PEER_UNREACHABLE`: a call that never reached peer `service`
/// (connection refused, in-process server stopped, circuit open).
pub fn peer_unreachable(service: &str, cause: &dyn fmt::Display) -> tonic::Status {
    tonic::Status::with_error_details(
        Code::Unavailable,
        format!("peer {service} unavailable: {cause}"),
        ErrorDetails::with_error_info("PEER_UNREACHABLE", "mesh.taskmesh", HashMap::new()),
    )
}

/// The `ErrorInfo.reason` of a status received from a peer, if it has one.
pub fn reason_of(status: &tonic::Status) -> Option<String> {
    status.get_details_error_info().map(|info| info.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_field_round_trips_reason_domain_and_violations() {
        let status =
            ServiceError::invalid_field("projects.taskmesh", "task.title", "must not be empty")
                .with_field_violation("task.due_time", "must be in the future")
                .into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let info = details.error_info().unwrap();
        assert_eq!(info.reason, "FIELD_INVALID");
        assert_eq!(info.domain, "projects.taskmesh");
        let violations = &details.bad_request().unwrap().field_violations;
        assert_eq!(violations.len(), 2);
        assert_eq!(violations[0].field, "task.title");
        assert_eq!(violations[1].description, "must be in the future");
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let status =
            ServiceError::internal("mesh.taskmesh", &"relation \"secret_table\" does not exist")
                .into_status();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret_table"));
        assert!(status.message().starts_with("internal error (id "));
        assert_eq!(reason_of(&status).as_deref(), Some("INTERNAL"));
    }

    #[test]
    fn resource_exhausted_carries_retry_after() {
        let status = ServiceError::new(
            ErrorCode::ResourceExhausted,
            "edge.taskmesh",
            "RATE_LIMITED",
            "too many requests",
        )
        .with_retry_after(Duration::from_millis(1_500))
        .into_status();
        assert_eq!(status.metadata().get("retry-after").unwrap(), "2");
        let retry = status.get_details_retry_info().unwrap();
        assert_eq!(retry.retry_delay, Some(Duration::from_millis(1_500)));
    }
}
