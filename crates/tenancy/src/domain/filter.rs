//! The ListAuditEvents filter grammar, parsed into typed conditions (never spliced into
//! SQL): comparisons joined by `AND`; `action = "x"` or `action = "prefix.*"`,
//! `actor_user_id = "..."`, `resource = "..."`, `create_time (>=|>|<|<=) "<RFC 3339>"`.

use super::TenancyError;

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
    let filter = filter.trim();
    if filter.is_empty() {
        return Ok(Vec::new());
    }
    if filter.len() > 1_000 {
        return Err(TenancyError::FilterInvalid("too long".into()));
    }
    filter.split(" AND ").map(condition).collect()
}

fn condition(text: &str) -> Result<Condition, TenancyError> {
    let text = text.trim();
    let operators = [">=", "<=", "=", ">", "<"];
    let (field, operator, value) = operators
        .iter()
        .find_map(|operator| {
            text.split_once(operator)
                .map(|(field, value)| (field.trim(), *operator, value.trim()))
        })
        .ok_or_else(|| {
            TenancyError::FilterInvalid(format!("expected a comparison, got {text:?}"))
        })?;
    let value = value
        .strip_prefix('"')
        .and_then(|value| value.strip_suffix('"'))
        .filter(|value| !value.contains('"'))
        .ok_or_else(|| {
            TenancyError::FilterInvalid(format!("value of {field} must be double-quoted"))
        })?;
    match (field, operator) {
        ("action", "=") => Ok(match value.strip_suffix('*') {
            Some(prefix) => Condition::ActionPrefix(prefix.to_string()),
            None => Condition::Action(value.to_string()),
        }),
        ("actor_user_id", "=") => Ok(Condition::Actor(value.to_string())),
        ("resource", "=") => Ok(Condition::Resource(value.to_string())),
        ("create_time", operator) => {
            let millis = rfc3339_millis(value).ok_or_else(|| {
                TenancyError::FilterInvalid(format!("create_time needs RFC 3339, got {value:?}"))
            })?;
            match operator {
                ">=" => Ok(Condition::After(millis, true)),
                ">" => Ok(Condition::After(millis, false)),
                "<=" => Ok(Condition::Before(millis, true)),
                "<" => Ok(Condition::Before(millis, false)),
                _ => Err(TenancyError::FilterInvalid(
                    "create_time takes >, >=, <, <=".into(),
                )),
            }
        }
        (field, operator) => Err(TenancyError::FilterInvalid(format!(
            "unsupported comparison {field} {operator}"
        ))),
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC only) into millis since the epoch.
fn rfc3339_millis(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date_parts = date.split('-').map(|part| part.parse::<i64>());
    let (year, month, day) = (
        date_parts.next()?.ok()?,
        date_parts.next()?.ok()?,
        date_parts.next()?.ok()?,
    );
    let (time, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut time_parts = time.split(':').map(|part| part.parse::<i64>());
    let (hour, minute, second) = (
        time_parts.next()?.ok()?,
        time_parts.next()?.ok()?,
        time_parts.next()?.ok()?,
    );
    if !(0..=9_999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    if fraction.is_empty() || fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis: i64 = format!("{fraction:0<3}")[..3].parse().ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000 + millis)
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
    fn rfc3339_is_converted_exactly() {
        assert_eq!(rfc3339_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_millis("2000-02-29T12:30:15.250Z"),
            Some(951_827_415_250)
        );
        assert_eq!(rfc3339_millis("2026-13-01T00:00:00Z"), None);
        // Bad input of any shape is refused, never a panic or an overflow.
        assert_eq!(rfc3339_millis("2026-01-01T00:00:00.a€Z"), None);
        assert_eq!(rfc3339_millis("9999999999999-01-01T00:00:00Z"), None);
        assert_eq!(rfc3339_millis("2026-01-01T00:00:00.Z"), None);
        // Bad input of any shape is refused, never a panic or an overflow.
        assert_eq!(rfc3339_millis("2026-01-01T00:00:00.a€Z"), None);
        assert_eq!(rfc3339_millis("9999999999999-01-01T00:00:00Z"), None);
        assert_eq!(rfc3339_millis("2026-01-01T00:00:00.Z"), None);
    }
}
