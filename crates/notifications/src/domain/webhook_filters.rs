//! The ListWebhookEndpoints and ListWebhookDeliveries filters: the shared grammar of
//! [`mesh::filter`] restricted to each method's fields, turned into queries (never spliced
//! into SQL). Any refusal is INVALID_ARGUMENT `FILTER_INVALID`.

use mesh::filter::{self as grammar, Comparison, FilterField, Operator};

use super::webhooks::{DeliveryState, EndpointState};
use super::{DOMAIN, NotificationsError};

/// What ListWebhookEndpoints asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointQuery {
    /// In this state.
    pub state: Option<EndpointState>,
    /// Subscribed to this type (literally, or through `*`).
    pub event_type: Option<String>,
    /// Scoped to this project.
    pub project_id: Option<String>,
}

/// What ListWebhookDeliveries asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// With this status.
    pub status: Option<DeliveryState>,
    /// Of this event type.
    pub event_type: Option<String>,
    /// Of this event.
    pub event_id: Option<String>,
    /// Created after (millis; inclusive when true).
    pub after: Option<(i64, bool)>,
    /// Created before (millis; inclusive when true).
    pub before: Option<(i64, bool)>,
}

const EQ: &[Operator] = &[Operator::Eq];
const HAS: &[Operator] = &[Operator::Has];
const RANGE: &[Operator] = &[Operator::Gt, Operator::Ge, Operator::Lt, Operator::Le];

fn field(name: &'static str, operators: &'static [Operator]) -> FilterField {
    FilterField { name, operators }
}

/// Refuses a parsed comparison with the shared FILTER_INVALID shape.
fn refuse(comparison: &Comparison, what: String) -> NotificationsError {
    NotificationsError::Service(grammar::invalid(
        DOMAIN,
        format!("{what} (comparison at position {})", comparison.position),
    ))
}

fn quoted(comparison: &Comparison) -> Result<String, NotificationsError> {
    match comparison.quoted && !comparison.value.is_empty() {
        true => Ok(comparison.value.clone()),
        false => Err(refuse(
            comparison,
            format!("{} takes a double-quoted value", comparison.field),
        )),
    }
}

/// Parses a ListWebhookEndpoints filter.
pub fn endpoint_query(filter: &str) -> Result<EndpointQuery, NotificationsError> {
    let fields = [
        field("state", EQ),
        field("event_types", HAS),
        field("project_id", EQ),
    ];
    let mut query = EndpointQuery::default();
    for comparison in grammar::parse(DOMAIN, filter, &fields)?.comparisons {
        match comparison.field.as_str() {
            "state" => {
                let state = comparison
                    .value
                    .strip_prefix("WEBHOOK_ENDPOINT_STATE_")
                    .map(str::to_ascii_lowercase)
                    .and_then(|name| EndpointState::parse(&name))
                    .filter(|_| !comparison.quoted)
                    .ok_or_else(|| {
                        refuse(&comparison, format!("unknown state {:?}", comparison.value))
                    })?;
                query.state = Some(state);
            }
            "event_types" => query.event_type = Some(quoted(&comparison)?),
            _ => query.project_id = Some(quoted(&comparison)?),
        }
    }
    Ok(query)
}

/// Parses a ListWebhookDeliveries filter.
pub fn delivery_query(filter: &str) -> Result<DeliveryQuery, NotificationsError> {
    let fields = [
        field("status", EQ),
        field("event_type", EQ),
        field("event_id", EQ),
        field("create_time", RANGE),
    ];
    let mut query = DeliveryQuery::default();
    for comparison in grammar::parse(DOMAIN, filter, &fields)?.comparisons {
        match comparison.field.as_str() {
            "status" => {
                let status = comparison
                    .value
                    .strip_prefix("WEBHOOK_DELIVERY_STATUS_")
                    .map(str::to_ascii_lowercase)
                    .and_then(|name| DeliveryState::parse(&name))
                    .filter(|_| !comparison.quoted)
                    .ok_or_else(|| {
                        refuse(
                            &comparison,
                            format!("unknown status {:?}", comparison.value),
                        )
                    })?;
                query.status = Some(status);
            }
            "event_type" => query.event_type = Some(quoted(&comparison)?),
            "event_id" => query.event_id = Some(quoted(&comparison)?),
            _ => {
                let millis = comparison
                    .quoted
                    .then(|| mesh::time::rfc3339_millis(&comparison.value))
                    .flatten()
                    .ok_or_else(|| {
                        refuse(
                            &comparison,
                            format!("create_time needs RFC 3339, got {:?}", comparison.value),
                        )
                    })?;
                match comparison.op {
                    Operator::Gt => query.after = Some((millis, false)),
                    Operator::Ge => query.after = Some((millis, true)),
                    Operator::Lt => query.before = Some((millis, false)),
                    _ => query.before = Some((millis, true)),
                }
            }
        }
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_filters_parse() {
        let query = endpoint_query(
            r#"state = WEBHOOK_ENDPOINT_STATE_GONE AND event_types : "taskmesh.projects.task.created""#,
        )
        .unwrap();
        assert_eq!(query.state, Some(EndpointState::Gone));
        assert_eq!(
            query.event_type.as_deref(),
            Some("taskmesh.projects.task.created")
        );
        let query = delivery_query(
            r#"status = WEBHOOK_DELIVERY_STATUS_FAILED AND create_time > "2026-01-01T00:00:00Z""#,
        )
        .unwrap();
        assert_eq!(query.status, Some(DeliveryState::Failed));
        assert_eq!(query.after, Some((1_767_225_600_000, false)));
        for bad in [
            "state = ENABLED",
            "status = WEBHOOK_DELIVERY_STATUS_UNSPECIFIED",
            "event_type = taskmesh",
            "url = x",
        ] {
            assert!(
                delivery_query(bad).is_err() && endpoint_query(bad).is_err(),
                "{bad}"
            );
        }
    }
}
