//! Notifications' rules, free of transport and storage: the kinds of notification, who hears
//! about an event (the fan-out), and the one error enum, mapped to the wire once.
//!
//! Invariants of the fan-out: nobody is notified of their own action; each user hears about
//! one event once, through the most specific kind (a mention beats a comment on a watched
//! task); texts are plain text and bounded ([`MAX_TITLE_CHARS`], [`MAX_BODY_CHARS`]).

pub mod addresses;
pub mod fanout;
pub mod filter;
pub mod mail;
pub mod signing;
pub mod webhook_body;
pub mod webhook_filters;
pub mod webhooks;

use mesh::error::{ErrorCode, ServiceError};

/// `ErrorInfo.domain` of notifications' errors.
pub const DOMAIN: &str = "notifications.taskmesh";

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest body, in characters.
pub const MAX_BODY_CHARS: usize = 1_000;
/// Most ids one MarkNotificationsRead names.
pub const MAX_MARK_IDS: usize = 100;

/// Notifications' failures in its own words.
#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    /// A field is malformed.
    #[error("invalid {field}: {description}")]
    InvalidField {
        /// Request field path.
        field: &'static str,
        /// What is wrong.
        description: String,
    },
    /// No such notification for the caller.
    #[error("notification not found")]
    NotificationNotFound,
    /// The etag is stale.
    #[error("the resource changed; reload and retry")]
    EtagMismatch,
    /// A webhook URL that may not be called (scheme, user-info, refused address).
    #[error("{field}: {description}")]
    UrlNotAllowed {
        /// Request field path.
        field: &'static str,
        /// Why.
        description: String,
    },
    /// A webhook URL whose host does not resolve.
    #[error("{field}: the host {host} does not resolve")]
    UrlUnresolvable {
        /// Request field path.
        field: &'static str,
        /// The host.
        host: String,
    },
    /// An event type that does not exist.
    #[error("{field}: unknown event type {event_type:?}")]
    EventTypeUnknown {
        /// Request field path.
        field: &'static str,
        /// The type.
        event_type: String,
    },
    /// An event type that is never delivered to webhooks.
    #[error(
        "{field}: {event_type:?} is never delivered to webhooks (it carries a secret or belongs to no organization)"
    )]
    EventTypeNotDeliverable {
        /// Request field path.
        field: &'static str,
        /// The type.
        event_type: String,
    },
    /// The project named is not one of the organization's (or the caller cannot see it).
    #[error("project not found")]
    ProjectNotFound,
    /// The organization has its most endpoints.
    #[error("the organization already has {0} webhook endpoints")]
    EndpointLimitReached(i64),
    /// No such endpoint in the organization.
    #[error("webhook endpoint not found")]
    EndpointNotFound,
    /// No such delivery in the organization.
    #[error("webhook delivery not found")]
    DeliveryNotFound,
    /// Redelivery needs an enabled endpoint.
    #[error("the webhook endpoint is not enabled; enable it first")]
    EndpointNotEnabled,
    /// Too many test sends.
    #[error("too many test deliveries to this endpoint; retry in {0:?}")]
    TestRateLimited(std::time::Duration),
    /// Already in wire form (auth, paging, storage).
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<NotificationsError> for ServiceError {
    fn from(error: NotificationsError) -> Self {
        use NotificationsError::*;
        let message = error.to_string();
        match error {
            InvalidField { field, description } => {
                ServiceError::invalid_field(DOMAIN, field, description)
            }
            NotificationNotFound => ServiceError::new(
                ErrorCode::NotFound,
                DOMAIN,
                "NOTIFICATION_NOT_FOUND",
                message,
            ),
            EtagMismatch => ServiceError::new(ErrorCode::Aborted, DOMAIN, "ETAG_MISMATCH", message),
            UrlNotAllowed { field, description } => {
                invalid(field, "URL_NOT_ALLOWED", description, message)
            }
            UrlUnresolvable { field, .. } => invalid(
                field,
                "URL_UNRESOLVABLE",
                "the host does not resolve".into(),
                message,
            ),
            EventTypeUnknown { field, .. } => {
                invalid(field, "EVENT_TYPE_UNKNOWN", message.clone(), message)
            }
            EventTypeNotDeliverable { field, .. } => invalid(
                field,
                "EVENT_TYPE_NOT_DELIVERABLE",
                message.clone(),
                message,
            ),
            ProjectNotFound => {
                ServiceError::new(ErrorCode::NotFound, DOMAIN, "PROJECT_NOT_FOUND", message)
            }
            EndpointLimitReached(_) => ServiceError::new(
                ErrorCode::ResourceExhausted,
                DOMAIN,
                "WEBHOOK_ENDPOINT_LIMIT_REACHED",
                message,
            ),
            EndpointNotFound => ServiceError::new(
                ErrorCode::NotFound,
                DOMAIN,
                "WEBHOOK_ENDPOINT_NOT_FOUND",
                message,
            ),
            DeliveryNotFound => ServiceError::new(
                ErrorCode::NotFound,
                DOMAIN,
                "WEBHOOK_DELIVERY_NOT_FOUND",
                message,
            ),
            EndpointNotEnabled => ServiceError::new(
                ErrorCode::FailedPrecondition,
                DOMAIN,
                "WEBHOOK_ENDPOINT_NOT_ENABLED",
                message,
            ),
            TestRateLimited(wait) => ServiceError::new(
                ErrorCode::ResourceExhausted,
                DOMAIN,
                "RATE_LIMITED",
                message,
            )
            .with_retry_after(wait),
            Service(error) => error,
        }
    }
}

/// INVALID_ARGUMENT with `reason` and a violation on `field`.
fn invalid(field: &str, reason: &str, description: String, message: String) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidArgument, DOMAIN, reason, message)
        .with_field_violation(field, description)
}

/// What a notification reports. Stored by [`Kind::as_str`]; on the wire as
/// `NotificationKind` ([`Kind::wire`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A task was assigned to the recipient.
    TaskAssigned,
    /// A watched task got a comment.
    TaskCommented,
    /// The recipient was mentioned in a comment.
    TaskMentioned,
    /// A watched task changed status category.
    TaskStatusChanged,
    /// An assigned task is due soon.
    TaskDueSoon,
    /// An assigned task is overdue.
    TaskOverdue,
    /// A document was attached to a watched task.
    DocumentAdded,
    /// Invited to an organization (email only).
    InvitationReceived,
    /// Added to the organization or a project.
    MemberAdded,
    /// Organization role changed.
    MemberRoleChanged,
    /// Password reset requested (email only).
    PasswordReset,
    /// A webhook endpoint was disabled.
    WebhookEndpointDisabled,
    /// A watched task was completed.
    TaskCompleted,
    /// A share link was opened.
    LinkVisited,
    /// Refresh-token reuse: a session was revoked.
    SecurityAlert,
}

impl Kind {
    /// Every kind, in wire order.
    pub const ALL: [Kind; 15] = [
        Kind::TaskAssigned,
        Kind::TaskCommented,
        Kind::TaskMentioned,
        Kind::TaskStatusChanged,
        Kind::TaskDueSoon,
        Kind::TaskOverdue,
        Kind::DocumentAdded,
        Kind::InvitationReceived,
        Kind::MemberAdded,
        Kind::MemberRoleChanged,
        Kind::PasswordReset,
        Kind::WebhookEndpointDisabled,
        Kind::TaskCompleted,
        Kind::LinkVisited,
        Kind::SecurityAlert,
    ];

    /// The stored name, also the `kind` of the NotificationCreated event.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TaskAssigned => "task_assigned",
            Kind::TaskCommented => "task_commented",
            Kind::TaskMentioned => "task_mentioned",
            Kind::TaskStatusChanged => "task_status_changed",
            Kind::TaskDueSoon => "task_due_soon",
            Kind::TaskOverdue => "task_overdue",
            Kind::DocumentAdded => "document_added",
            Kind::InvitationReceived => "invitation_received",
            Kind::MemberAdded => "member_added",
            Kind::MemberRoleChanged => "member_role_changed",
            Kind::PasswordReset => "password_reset",
            Kind::WebhookEndpointDisabled => "webhook_endpoint_disabled",
            Kind::TaskCompleted => "task_completed",
            Kind::LinkVisited => "link_visited",
            Kind::SecurityAlert => "security_alert",
        }
    }

    /// The kind stored as `name`.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The `NotificationKind` number.
    pub fn wire(self) -> i32 {
        Kind::ALL
            .iter()
            .position(|kind| *kind == self)
            .map_or(0, |index| index as i32 + 1)
    }

    /// The kind of a `NotificationKind` number (none for UNSPECIFIED or unknown numbers).
    pub fn from_wire(number: i32) -> Option<Kind> {
        usize::try_from(number)
            .ok()
            .and_then(|number| number.checked_sub(1))
            .and_then(|index| Kind::ALL.get(index).copied())
    }

    /// Kinds sent by email only: they never reach an inbox.
    pub fn email_only(self) -> bool {
        matches!(self, Kind::InvitationReceived | Kind::PasswordReset)
    }
}

/// One kind's channels for one user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channels {
    /// Inbox and StreamNotifications.
    pub in_app: bool,
    /// Email.
    pub email: bool,
}

impl Kind {
    /// The channels of a user who changed nothing.
    pub fn default_channels(self) -> Channels {
        Channels {
            in_app: !self.email_only(),
            email: matches!(
                self,
                Kind::TaskAssigned
                    | Kind::TaskMentioned
                    | Kind::TaskDueSoon
                    | Kind::TaskOverdue
                    | Kind::InvitationReceived
                    | Kind::PasswordReset
                    | Kind::WebhookEndpointDisabled
                    | Kind::SecurityAlert
            ),
        }
    }

    /// Security notices: their email cannot be switched off.
    pub fn security(self) -> bool {
        matches!(self, Kind::PasswordReset | Kind::SecurityAlert)
    }
}

/// Checks a user's new channel choices: each kind once, security email on; email-only kinds
/// keep in-app off whatever was asked. Returns the choices that differ from the defaults.
pub fn preferences(
    choices: &[(Option<Kind>, Channels)],
) -> Result<Vec<(Kind, Channels)>, NotificationsError> {
    let invalid = |description: String| NotificationsError::InvalidField {
        field: "preferences.kind_preferences",
        description,
    };
    let mut seen = std::collections::HashSet::new();
    let mut changed = Vec::new();
    for (kind, channels) in choices {
        let kind = kind.ok_or_else(|| invalid("a kind is unspecified or unknown".into()))?;
        if !seen.insert(kind) {
            return Err(invalid(format!("{} is listed twice", kind.as_str())));
        }
        if kind.security() && !channels.email {
            return Err(invalid(format!(
                "email cannot be switched off for {} (a security notice)",
                kind.as_str()
            )));
        }
        let channels = Channels {
            in_app: channels.in_app && !kind.email_only(),
            email: channels.email,
        };
        if channels != kind.default_channels() {
            changed.push((kind, channels));
        }
    }
    Ok(changed)
}

/// `text` cut to at most `max` characters (an ellipsis marks the cut).
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names_and_wire_numbers() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
            assert_eq!(Kind::from_wire(kind.wire()), Some(kind));
        }
        assert_eq!(Kind::TaskAssigned.wire(), 1);
        assert_eq!(Kind::SecurityAlert.wire(), 15);
        assert_eq!(Kind::from_wire(0), None);
        assert_eq!(Kind::from_wire(16), None);
        assert_eq!(Kind::from_wire(-1), None);
    }

    #[test]
    fn preferences_keep_security_email_on_and_each_kind_once() {
        let on = Channels {
            in_app: true,
            email: true,
        };
        let quiet = Channels {
            in_app: false,
            email: false,
        };
        assert_eq!(
            preferences(&[(Some(Kind::TaskCommented), quiet)]).unwrap(),
            vec![(Kind::TaskCommented, quiet)]
        );
        // Choosing the defaults stores nothing.
        assert!(
            preferences(&[(Some(Kind::TaskAssigned), on)])
                .unwrap()
                .is_empty()
        );
        for refused in [
            vec![(None, on)],
            vec![
                (Some(Kind::TaskAssigned), on),
                (Some(Kind::TaskAssigned), quiet),
            ],
            vec![(Some(Kind::SecurityAlert), quiet)],
            vec![(
                Some(Kind::PasswordReset),
                Channels {
                    in_app: true,
                    email: false,
                },
            )],
        ] {
            assert!(preferences(&refused).is_err(), "{refused:?} was accepted");
        }
        // Email-only kinds never reach the inbox.
        assert_eq!(
            preferences(&[(Some(Kind::PasswordReset), on)]).unwrap(),
            Vec::new()
        );
    }

    #[test]
    fn clipping_counts_characters_not_bytes() {
        assert_eq!(clip("héllo", 5), "héllo");
        assert_eq!(clip("héllo wörld", 6), "héllo…");
    }
}
