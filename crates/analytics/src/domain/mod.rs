//! Analytics' rules, free of transport and storage: time buckets in a zone
//! ([`buckets`]), how task flow and link traffic are summed and ranked ([`metrics`]), and the
//! one error enum, mapped to the wire once.
//!
//! Counting rules (also in metrics.proto): a task is created once (a restore is not a new
//! task); completed each time it enters DONE (TaskCompleted), reopened each time it leaves
//! DONE for an open category; cycle time runs from its first entry into IN_PROGRESS, lead
//! time from its creation, both to each completion; deleted tasks stay counted where they
//! were counted and leave the open counts; work logs count at their start time, deleted ones
//! are subtracted there; bot visits are counted apart and nowhere else.

pub mod buckets;
pub mod changes;
pub mod metrics;

use mesh::error::{ErrorCode, ServiceError};

/// `ErrorInfo.domain` of analytics' errors.
pub const DOMAIN: &str = "analytics.taskmesh";

/// The open status categories whose counts are kept.
pub const OPEN_CATEGORIES: [&str; 3] = ["backlog", "todo", "in_progress"];

/// Analytics' failures in its own words.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// A field is malformed.
    #[error("invalid {field}: {description}")]
    InvalidField {
        /// Request field path.
        field: &'static str,
        /// What is wrong.
        description: String,
    },
    /// A range that is missing, empty, reversed or too long.
    #[error("invalid time range: {0}")]
    TimeRangeInvalid(String),
    /// An unknown time zone.
    #[error("unknown time zone {0:?}")]
    TimeZoneInvalid(String),
    /// No such project for the caller.
    #[error("project not found")]
    ProjectNotFound,
    /// No such link.
    #[error("link not found")]
    LinkNotFound,
    /// Already in wire form (auth, storage).
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<AnalyticsError> for ServiceError {
    fn from(error: AnalyticsError) -> Self {
        use AnalyticsError::*;
        let message = error.to_string();
        match error {
            InvalidField { field, description } => {
                ServiceError::invalid_field(DOMAIN, field, description)
            }
            TimeRangeInvalid(description) => ServiceError::new(
                ErrorCode::InvalidArgument,
                DOMAIN,
                "TIME_RANGE_INVALID",
                message,
            )
            .with_field_violation("start_time", description),
            TimeZoneInvalid(_) => ServiceError::new(
                ErrorCode::InvalidArgument,
                DOMAIN,
                "TIME_ZONE_INVALID",
                message,
            )
            .with_field_violation("time_zone", "not a known IANA time zone"),
            ProjectNotFound => {
                ServiceError::new(ErrorCode::NotFound, DOMAIN, "PROJECT_NOT_FOUND", message)
            }
            LinkNotFound => {
                ServiceError::new(ErrorCode::NotFound, DOMAIN, "LINK_NOT_FOUND", message)
            }
            Service(error) => error,
        }
    }
}

/// The start of the quarter hour (UTC) holding `millis`: the rollup slot.
pub fn slot(millis: i64) -> i64 {
    millis.div_euclid(15 * 60_000) * 15 * 60_000
}

/// The start of the UTC day holding `millis`.
pub fn day(millis: i64) -> i64 {
    millis.div_euclid(86_400_000) * 86_400_000
}

/// The host of a referrer URL (lowercase, without `www.`), or "unknown".
pub fn referrer_host(referrer: &str) -> String {
    url::Url::parse(referrer.trim())
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
        .map(|host| {
            host.strip_prefix("www.")
                .map(str::to_string)
                .unwrap_or(host)
        })
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// `value`, or "unknown" when empty.
pub fn or_unknown(value: &str) -> String {
    match value.trim() {
        "" => "unknown".into(),
        value => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_days_and_referrers() {
        assert_eq!(slot(15 * 60_000 + 1), 15 * 60_000);
        assert_eq!(slot(-1), -15 * 60_000);
        assert_eq!(day(86_400_000 * 3 + 5), 86_400_000 * 3);
        assert_eq!(referrer_host("https://www.Example.com/a?b"), "example.com");
        assert_eq!(
            referrer_host("https://mail.example.com/"),
            "mail.example.com"
        );
        assert_eq!(referrer_host(""), "unknown");
        assert_eq!(referrer_host("not a url"), "unknown");
        assert_eq!(or_unknown(" "), "unknown");
    }
}
