//! The ListAuditEvents filter: the shared grammar of [`mesh::filter`] (comparisons joined by
//! `AND`; `AND` inside a quoted value is part of the value), restricted to these comparisons
//! and turned into typed conditions (never spliced into SQL): `action = "x"` or
//! `action = "prefix.*"`, `actor_user_id = "..."`, `resource = "..."`,
//! `create_time (>=|>|<|<=) "<RFC 3339>"`. Every value must be double-quoted. Any refusal is
//! [`TenancyError::FilterInvalid`], so the API answers INVALID_ARGUMENT `FILTER_INVALID`.

use mesh::ServiceError;
use mesh::filter::{self as grammar, Comparison, FilterField, Operator};

use super::{DOMAIN, TenancyError};

/// The fields ListAuditEvents filters on, and their operators.
const FIELDS: &[FilterField] = &[
    FilterField {
        name: "action",
        operators: &[Operator::Eq],
    },
    FilterField {
        name: "actor_user_id",
        operators: &[Operator::Eq],
    },
    FilterField {
        name: "resource",
        operators: &[Operator::Eq],
    },
    FilterField {
        name: "create_time",
        operators: &[Operator::Gt, Operator::Ge, Operator::Lt, Operator::Le],
    },
];

/// One condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Exact action.
    Action(String),
    /// Action prefix (`member.*` → `member.`).
    ActionPrefix(String),
    /// Actor.
    Actor(String),
    /// Resource name.
    Resource(String),
    /// create_time > millis (or >= when inclusive).
    After(i64, bool),
    /// create_time < millis (or <= when inclusive).
    Before(i64, bool),
}

/// Parses a filter; empty means no conditions.
pub fn parse(filter: &str) -> Result<Vec<Condition>, TenancyError> {
    grammar::parse(DOMAIN, filter, FIELDS)
        .map_err(grammar_error)?
        .comparisons
        .iter()
        .map(condition)
        .collect()
}

/// Keeps the shared parser's description (what is wrong, and where) in tenancy's error.
fn grammar_error(error: ServiceError) -> TenancyError {
    let description = error
        .field_violations()
        .iter()
        .find(|violation| violation.field == "filter")
        .map_or_else(
            || error.to_string(),
            |violation| violation.description.clone(),
        );
    TenancyError::FilterInvalid(description)
}

fn condition(comparison: &Comparison) -> Result<Condition, TenancyError> {
    let Comparison {
        field,
        op,
        value,
        quoted,
        position,
    } = comparison;
    if !quoted {
        return Err(TenancyError::FilterInvalid(format!(
            "value of {field} (comparison at position {position}) must be double-quoted"
        )));
    }
    match (field.as_str(), *op) {
        ("action", Operator::Eq) => Ok(match value.strip_suffix('*') {
            Some(prefix) => Condition::ActionPrefix(prefix.to_string()),
            None => Condition::Action(value.clone()),
        }),
        ("actor_user_id", Operator::Eq) => Ok(Condition::Actor(value.clone())),
        ("resource", Operator::Eq) => Ok(Condition::Resource(value.clone())),
        ("create_time", op) => {
            let millis = mesh::time::rfc3339_millis(value).ok_or_else(|| {
                TenancyError::FilterInvalid(format!(
                    "create_time needs RFC 3339 (comparison at position {position}), got {value:?}"
                ))
            })?;
            match op {
                Operator::Ge => Ok(Condition::After(millis, true)),
                Operator::Gt => Ok(Condition::After(millis, false)),
                Operator::Le => Ok(Condition::Before(millis, true)),
                Operator::Lt => Ok(Condition::Before(millis, false)),
                _ => Err(TenancyError::FilterInvalid(
                    "create_time takes >, >=, <, <=".into(),
                )),
            }
        }
        // Unreachable while FIELDS and this match agree; refused rather than trusted.
        (field, op) => Err(TenancyError::FilterInvalid(format!(
            "unsupported comparison {field} {op}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_into_conditions() {
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(
            parse(r#"action = "member.*" AND create_time >= "2026-01-01T00:00:00Z""#).unwrap(),
            vec![
                Condition::ActionPrefix("member.".into()),
                Condition::After(1_767_225_600_000, true)
            ]
        );
        assert_eq!(
            parse(r#"actor_user_id = "u1""#).unwrap(),
            vec![Condition::Actor("u1".into())]
        );
        for bad in [
            r#"action = member"#,
            r#"drop = "x""#,
            r#"create_time = "2026-01-01T00:00:00Z""#,
            r#"create_time > "yesterday""#,
            "x",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn quoted_values_may_contain_and() {
        assert_eq!(
            parse(r#"resource = "organizations/x AND y""#).unwrap(),
            vec![Condition::Resource("organizations/x AND y".into())]
        );
        assert_eq!(
            parse(r#"resource="a AND b"AND actor_user_id = "say \"hi\"""#).unwrap(),
            vec![
                Condition::Resource("a AND b".into()),
                Condition::Actor(r#"say "hi""#.into())
            ]
        );
        assert_eq!(
            parse(r#"create_time < "2026-01-01T00:00:00Z" AND action = "member.added""#).unwrap(),
            vec![
                Condition::Before(1_767_225_600_000, false),
                Condition::Action("member.added".into())
            ]
        );
    }

    #[test]
    fn bad_filters_are_filter_invalid_with_a_position() {
        for (bad, expected) in [
            (r#"drop = "x""#, "unknown field \"drop\" at position 0"),
            (r#"action != "x""#, "not allowed for field action"),
            (
                r#"resource = "x" OR action = "y""#,
                "OR (at position 15) is not supported",
            ),
            (
                r#"resource = "x"#,
                "unterminated quoted value starting at position 11",
            ),
            ("action = member", "must be double-quoted"),
            (r#"create_time > "yesterday""#, "RFC 3339"),
        ] {
            let error = ServiceError::from(parse(bad).unwrap_err());
            assert_eq!(error.reason(), "FILTER_INVALID", "{bad:?}");
            let violation = &error.field_violations()[0];
            assert_eq!(violation.field, "filter", "{bad:?}");
            assert!(
                violation.description.contains(expected),
                "{bad:?}: {:?}",
                violation.description
            );
        }
    }
}
