//! Webhook rules, free of transport and storage: which event types exist and which may be
//! delivered, what an endpoint may look like, which endpoint wants which event, the retry
//! schedule ([`super::webhook_filters`] has the list filters).
//!
//! Invariants: an event carrying a secret (an invitation or reset token), an identity event
//! (it belongs to no organization) and the content-free board wake-up are never deliverable,
//! whatever an endpoint subscribes to (`*` included); a `webhook_delivery.failed` event is
//! never delivered to the endpoint that failed (that would feed itself).

use std::time::Duration;

use super::NotificationsError;

/// Event types an endpoint may subscribe to.
pub const DELIVERABLE: &[&str] = &[
    "taskmesh.tenancy.organization.created",
    "taskmesh.tenancy.organization.updated",
    "taskmesh.tenancy.member.added",
    "taskmesh.tenancy.member.role_changed",
    "taskmesh.tenancy.member.removed",
    "taskmesh.tenancy.invitation.accepted",
    "taskmesh.tenancy.invitation.revoked",
    "taskmesh.projects.project.created",
    "taskmesh.projects.project.updated",
    "taskmesh.projects.project.archived",
    "taskmesh.projects.project.unarchived",
    "taskmesh.projects.project.deleted",
    "taskmesh.projects.project_member.added",
    "taskmesh.projects.project_member.removed",
    "taskmesh.projects.task.created",
    "taskmesh.projects.task.updated",
    "taskmesh.projects.task.moved",
    "taskmesh.projects.task.assigned",
    "taskmesh.projects.task.completed",
    "taskmesh.projects.task.deleted",
    "taskmesh.projects.task.work_logged",
    "taskmesh.projects.task.work_log_deleted",
    "taskmesh.projects.comment.created",
    "taskmesh.projects.comment.updated",
    "taskmesh.projects.comment.deleted",
    "taskmesh.documents.document.created",
    "taskmesh.documents.document.version_uploaded",
    "taskmesh.documents.document.deleted",
    "taskmesh.links.link.created",
    "taskmesh.links.link.visited",
    "taskmesh.links.link.deleted",
    "taskmesh.notifications.notification.created",
    "taskmesh.notifications.webhook_delivery.failed",
];

/// Event types that exist but are never delivered: they carry a secret, belong to no
/// organization, or carry nothing (the board wake-up).
pub const NOT_DELIVERABLE: &[&str] = &[
    "taskmesh.tenancy.invitation.created",
    "taskmesh.identity.user.created",
    "taskmesh.identity.user.password_changed",
    "taskmesh.identity.session.revoked",
    "taskmesh.identity.session.token_reuse_detected",
    "taskmesh.identity.password_reset.requested",
    "taskmesh.projects.board.changed",
];

/// The type SendTestWebhook sends by default (not an event subject).
pub const TEST_EVENT_TYPE: &str = "taskmesh.notifications.webhook.test";
/// The event type whose deliveries never go to the endpoint they report on.
pub const DELIVERY_FAILED: &str = "taskmesh.notifications.webhook_delivery.failed";

/// Most endpoints per organization.
pub const MAX_ENDPOINTS: i64 = 20;
/// Most event types per endpoint.
pub const MAX_EVENT_TYPES: usize = 50;
/// Longest URL, in characters.
pub const MAX_URL_CHARS: usize = 2_048;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Default and longest grace period of a rotated-out secret.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3_600);
/// Longest grace period.
pub const MAX_GRACE: Duration = Duration::from_secs(7 * 24 * 3_600);
/// An endpoint whose deliveries all failed for this long is disabled.
pub const FAILING_LIMIT: Duration = Duration::from_secs(3 * 24 * 3_600);
/// How long deliveries are kept.
pub const RETENTION: Duration = Duration::from_secs(30 * 24 * 3_600);
/// Test sends per endpoint per minute.
pub const TESTS_PER_MINUTE: u32 = 10;

/// Waits before the 2nd … 8th attempt (before jitter): about 27 hours in all.
pub const RETRY_DELAYS: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3_600),
    Duration::from_secs(5 * 3_600),
    Duration::from_secs(10 * 3_600),
    Duration::from_secs(10 * 3_600),
];

/// The wait after `attempts` failed attempts under `delays`, stretched by `jitter` (0 ≤
/// jitter < 1, up to +25%) so that receivers coming back are not hit by every retry at
/// once; `None` when it is time to give up.
pub fn retry_after(delays: &[Duration], attempts: i64, jitter: f64) -> Option<Duration> {
    let index = usize::try_from(attempts.max(1) - 1).ok()?;
    let delay = delays.get(index)?;
    Some(delay.mul_f64(1.0 + jitter.clamp(0.0, 1.0) * 0.25))
}

/// Whether an event type may be named by an endpoint; the refusal otherwise.
pub fn check_event_type(event_type: &str, field: &'static str) -> Result<(), NotificationsError> {
    if event_type == "*" || DELIVERABLE.contains(&event_type) {
        Ok(())
    } else if NOT_DELIVERABLE.contains(&event_type) {
        Err(NotificationsError::EventTypeNotDeliverable {
            field,
            event_type: event_type.into(),
        })
    } else {
        Err(NotificationsError::EventTypeUnknown {
            field,
            event_type: event_type.into(),
        })
    }
}

/// Checks and normalizes an endpoint's event types (trimmed, each once, in order).
pub fn event_types(
    types: &[String],
    field: &'static str,
) -> Result<Vec<String>, NotificationsError> {
    if types.is_empty() || types.len() > MAX_EVENT_TYPES {
        return Err(NotificationsError::InvalidField {
            field,
            description: format!("between 1 and {MAX_EVENT_TYPES} event types are required"),
        });
    }
    let mut checked: Vec<String> = Vec::with_capacity(types.len());
    for event_type in types {
        let event_type = event_type.trim();
        check_event_type(event_type, field)?;
        if !checked.iter().any(|seen| seen == event_type) {
            checked.push(event_type.to_string());
        }
    }
    Ok(checked)
}

/// Checks a description.
pub fn description(text: &str, field: &'static str) -> Result<String, NotificationsError> {
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(NotificationsError::InvalidField {
            field,
            description: format!("at most {MAX_DESCRIPTION_CHARS} characters"),
        });
    }
    Ok(text.trim().to_string())
}

/// Parses an endpoint URL: http or https, no user-info, no fragment, a host, bounded length.
/// The host's addresses are checked separately (that needs DNS).
pub fn url(text: &str, field: &'static str) -> Result<url::Url, NotificationsError> {
    let invalid = |description: &str| NotificationsError::InvalidField {
        field,
        description: description.into(),
    };
    let not_allowed = |description: &str| NotificationsError::UrlNotAllowed {
        field,
        description: description.into(),
    };
    if text.is_empty() {
        return Err(invalid("is required"));
    }
    if text.chars().count() > MAX_URL_CHARS {
        return Err(invalid("at most 2048 characters"));
    }
    let parsed = url::Url::parse(text.trim()).map_err(|_| invalid("is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(not_allowed("only http and https URLs are allowed"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(not_allowed("user-info (user:password@) is not allowed"));
    }
    if parsed.fragment().is_some() {
        return Err(invalid("must not have a fragment"));
    }
    if parsed.host().is_none() {
        return Err(invalid("must name a host"));
    }
    Ok(parsed)
}

/// Whether an endpoint subscribed to `subscribed` (scoped to `endpoint_project`, if any)
/// receives an event of `event_type` about `event_project`. `failed_endpoint` is the
/// endpoint a `webhook_delivery.failed` event reports on.
pub fn wants(
    subscribed: &[String],
    endpoint_project: Option<&str>,
    event_type: &str,
    event_project: Option<&str>,
) -> bool {
    DELIVERABLE.contains(&event_type)
        && subscribed
            .iter()
            .any(|entry| entry == "*" || entry == event_type)
        && endpoint_project.is_none_or(|project| event_project == Some(project))
}

/// An endpoint's state, stored by [`EndpointState::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointState {
    /// Receives deliveries.
    Enabled,
    /// Switched off by a user.
    Disabled,
    /// Switched off after three days of failures.
    DisabledByFailures,
    /// Switched off by a 410 answer.
    Gone,
}

impl EndpointState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::DisabledByFailures => "disabled_by_failures",
            Self::Gone => "gone",
        }
    }

    /// From the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Enabled,
            Self::Disabled,
            Self::DisabledByFailures,
            Self::Gone,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }

    /// `WebhookEndpointState` number.
    pub fn wire(self) -> i32 {
        match self {
            Self::Enabled => 1,
            Self::Disabled => 2,
            Self::DisabledByFailures => 3,
            Self::Gone => 4,
        }
    }

    /// From the wire number.
    pub fn from_wire(value: i32) -> Option<Self> {
        [
            Self::Enabled,
            Self::Disabled,
            Self::DisabledByFailures,
            Self::Gone,
        ]
        .into_iter()
        .find(|state| state.wire() == value)
    }
}

/// A delivery's status, stored by [`DeliveryState::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Queued, not tried.
    Pending,
    /// A 2xx arrived.
    Succeeded,
    /// Given up.
    Failed,
    /// Failed; another attempt is scheduled.
    Retrying,
}

impl DeliveryState {
    const ALL: [Self; 4] = [Self::Pending, Self::Succeeded, Self::Failed, Self::Retrying];

    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Retrying => "retrying",
        }
    }

    /// From the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// `WebhookDeliveryStatus` number.
    pub fn wire(self) -> i32 {
        match self {
            Self::Pending => 1,
            Self::Succeeded => 2,
            Self::Failed => 3,
            Self::Retrying => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_bearing_and_unknown_types_are_refused_apart() {
        let types = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        assert_eq!(
            event_types(&types(&["*", " taskmesh.projects.task.created", "*"]), "f").unwrap(),
            vec!["*", "taskmesh.projects.task.created"]
        );
        for secret in [
            "taskmesh.tenancy.invitation.created",
            "taskmesh.identity.password_reset.requested",
        ] {
            assert!(matches!(
                event_types(&types(&[secret]), "f"),
                Err(NotificationsError::EventTypeNotDeliverable { .. })
            ));
        }
        assert!(matches!(
            event_types(&types(&["taskmesh.projects.task.exploded"]), "f"),
            Err(NotificationsError::EventTypeUnknown { .. })
        ));
        assert!(event_types(&[], "f").is_err());
        assert!(event_types(&vec!["*".to_string(); 51], "f").is_err());
    }

    #[test]
    fn star_never_reaches_secrets_and_project_scope_narrows() {
        let all = vec!["*".to_string()];
        assert!(wants(&all, None, "taskmesh.projects.task.created", None));
        assert!(!wants(
            &all,
            None,
            "taskmesh.tenancy.invitation.created",
            None
        ));
        assert!(!wants(
            &all,
            None,
            "taskmesh.identity.password_reset.requested",
            None
        ));
        assert!(!wants(
            &all,
            None,
            "taskmesh.projects.board.changed",
            Some("p")
        ));
        assert!(wants(
            &all,
            Some("p"),
            "taskmesh.projects.task.created",
            Some("p")
        ));
        assert!(!wants(
            &all,
            Some("p"),
            "taskmesh.projects.task.created",
            Some("q")
        ));
        assert!(!wants(
            &all,
            Some("p"),
            "taskmesh.tenancy.member.added",
            None
        ));
        let one = vec!["taskmesh.projects.task.created".to_string()];
        assert!(!wants(&one, None, "taskmesh.projects.task.moved", None));
    }

    #[test]
    fn urls_are_checked_before_any_lookup() {
        assert!(url("https://hooks.example.com/in?x=1", "url").is_ok());
        for (bad, refused) in [
            ("ftp://example.com/", true),
            ("https://user:pw@example.com/", true),
            ("file:///etc/passwd", true),
            ("https://example.com/#frag", false),
            ("not a url", false),
            ("", false),
        ] {
            match url(bad, "url") {
                Err(NotificationsError::UrlNotAllowed { .. }) => assert!(refused, "{bad}"),
                Err(NotificationsError::InvalidField { .. }) => assert!(!refused, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(url(&long, "url").is_err());
    }

    #[test]
    fn retries_span_about_a_day_then_stop() {
        let total: Duration = RETRY_DELAYS.iter().sum();
        assert!(total > Duration::from_secs(20 * 3_600) && total < Duration::from_secs(30 * 3_600));
        assert_eq!(
            retry_after(&RETRY_DELAYS, 1, 0.0),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            retry_after(&RETRY_DELAYS, 1, 1.0),
            Some(Duration::from_millis(6_250))
        );
        assert_eq!(retry_after(&RETRY_DELAYS, 8, 0.0), None);
    }
}
