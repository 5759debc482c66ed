//! The ListNotifications filter: the shared grammar of [`mesh::filter`], restricted to
//! `read = true|false`, `archived = true|false`, `kind = NOTIFICATION_KIND_...`,
//! `project_id = "<id>"`, `task_id = "<id>"` and `create_time (>|>=|<|<=) "<RFC 3339>"`,
//! turned into an [`InboxQuery`] (never spliced into SQL). Archived notifications are left
//! out unless the filter names `archived`. Any refusal is INVALID_ARGUMENT `FILTER_INVALID`,
//! built by the shared grammar (its own errors pass through unchanged).

use mesh::filter::{self as grammar, Comparison, FilterField, Operator};

use super::{DOMAIN, Kind, NotificationsError};

const EQ: &[Operator] = &[Operator::Eq];
const RANGE: &[Operator] = &[Operator::Gt, Operator::Ge, Operator::Lt, Operator::Le];

/// The fields ListNotifications filters on, and their operators.
const FIELDS: &[FilterField] = &[
    FilterField {
        name: "read",
        operators: EQ,
    },
    FilterField {
        name: "archived",
        operators: EQ,
    },
    FilterField {
        name: "kind",
        operators: EQ,
    },
    FilterField {
        name: "project_id",
        operators: EQ,
    },
    FilterField {
        name: "task_id",
        operators: EQ,
    },
    FilterField {
        name: "create_time",
        operators: RANGE,
    },
];

/// What a ListNotifications call asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InboxQuery {
    /// Read (`Some(true)`), unread (`Some(false)`), or both.
    pub read: Option<bool>,
    /// Archived, not archived, or both; `Some(false)` unless the filter says.
    pub archived: Option<bool>,
    /// Only these kinds (all when empty).
    pub kinds: Vec<Kind>,
    /// About this project.
    pub project_id: Option<String>,
    /// About this task.
    pub task_id: Option<String>,
    /// Created after (millis; inclusive when true).
    pub after: Option<(i64, bool)>,
    /// Created before (millis; inclusive when true).
    pub before: Option<(i64, bool)>,
}

/// Parses a filter (empty: the unarchived inbox).
pub fn parse(filter: &str) -> Result<InboxQuery, NotificationsError> {
    let parsed = grammar::parse(DOMAIN, filter, FIELDS)?;
    let mut query = InboxQuery {
        archived: Some(false),
        ..InboxQuery::default()
    };
    for comparison in &parsed.comparisons {
        let Comparison {
            field,
            op,
            value,
            quoted,
            position,
        } = comparison;
        let refuse = |what: String| {
            NotificationsError::Service(grammar::invalid(
                DOMAIN,
                format!("{what} (comparison at position {position})"),
            ))
        };
        let boolean = || match (value.as_str(), quoted) {
            ("true", false) => Ok(true),
            ("false", false) => Ok(false),
            _ => Err(refuse(format!("{field} takes true or false, unquoted"))),
        };
        let id = || match quoted {
            true if !value.is_empty() => Ok(value.clone()),
            _ => Err(refuse(format!("{field} takes a double-quoted id"))),
        };
        match field.as_str() {
            "read" => query.read = Some(boolean()?),
            "archived" => query.archived = Some(boolean()?),
            "kind" => {
                let kind = value
                    .strip_prefix("NOTIFICATION_KIND_")
                    .map(str::to_ascii_lowercase)
                    .and_then(|name| Kind::parse(&name))
                    .filter(|_| !quoted)
                    .ok_or_else(|| refuse(format!("unknown kind {value:?}")))?;
                query.kinds.push(kind);
            }
            "project_id" => query.project_id = Some(id()?),
            "task_id" => query.task_id = Some(id()?),
            "create_time" => {
                let millis = quoted
                    .then(|| mesh::time::rfc3339_millis(value))
                    .flatten()
                    .ok_or_else(|| refuse(format!("create_time needs RFC 3339, got {value:?}")))?;
                match op {
                    Operator::Gt => query.after = Some((millis, false)),
                    Operator::Ge => query.after = Some((millis, true)),
                    Operator::Lt => query.before = Some((millis, false)),
                    _ => query.before = Some((millis, true)),
                }
            }
            other => return Err(refuse(format!("unsupported field {other}"))),
        }
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_into_queries() {
        assert_eq!(
            parse("").unwrap(),
            InboxQuery {
                archived: Some(false),
                ..InboxQuery::default()
            }
        );
        let query = parse(
            r#"read = false AND kind = NOTIFICATION_KIND_TASK_MENTIONED AND task_id = "t1" AND create_time >= "2026-01-01T00:00:00Z""#,
        )
        .unwrap();
        assert_eq!(query.read, Some(false));
        assert_eq!(query.kinds, vec![Kind::TaskMentioned]);
        assert_eq!(query.task_id.as_deref(), Some("t1"));
        assert_eq!(query.after, Some((1_767_225_600_000, true)));
        assert_eq!(query.archived, Some(false));
        assert_eq!(parse("archived = true").unwrap().archived, Some(true));
    }

    #[test]
    fn bad_filters_are_refused() {
        for bad in [
            "read = yes",
            r#"read = "true""#,
            "kind = NOTIFICATION_KIND_NOPE",
            "kind = TASK_ASSIGNED",
            "task_id = t1",
            r#"create_time > "yesterday""#,
            r#"create_time = "2026-01-01T00:00:00Z""#,
            "title = x",
            "read = true OR read = false",
        ] {
            assert!(
                matches!(parse(bad), Err(NotificationsError::Service(error)) if error.reason() == grammar::REASON),
                "{bad} was accepted"
            );
        }
    }
}
