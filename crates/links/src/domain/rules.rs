//! Field rules of links (URL targets, notes, passwords, expiry) and the ListLinks filter.

use mesh::filter::{self as grammar, FilterField, Operator};

use super::{DOMAIN, LinksError};

/// Longest note, in characters.
pub const MAX_NOTE: usize = 500;

/// An https URL target: absolute, at most 2,048 characters, no control characters or
/// user info.
pub fn url(text: &str) -> Result<String, LinksError> {
    let refuse = || LinksError::UrlNotAllowed(text.chars().take(64).collect());
    if text.len() > 2_048 || text.chars().any(char::is_control) {
        return Err(refuse());
    }
    let parsed = url::Url::parse(text).map_err(|_| refuse())?;
    if parsed.scheme() != "https"
        || parsed.host_str().is_none_or(str::is_empty)
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(refuse());
    }
    Ok(parsed.to_string())
}

/// A note: at most 500 characters, trimmed.
pub fn note(text: &str) -> Result<String, LinksError> {
    let text = text.trim();
    if text.chars().count() > MAX_NOTE {
        return Err(LinksError::invalid("link.note", "at most 500 characters"));
    }
    Ok(text.to_string())
}

/// A password: 8 to 128 characters.
pub fn password(text: &str) -> Result<&str, LinksError> {
    let count = text.chars().count();
    if !(8..=128).contains(&count) {
        return Err(LinksError::invalid("link.password", "8 to 128 characters"));
    }
    Ok(text)
}

/// A comment body as a visitor reads it: each mention token `@[Name](user:<uuid>)` shown as
/// `@Name` (the id is none of the visitor's business); anything else unchanged.
pub fn plain_mentions(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("@[") {
        out.push_str(&rest[..start]);
        let token = &rest[start..];
        let parsed = token[2..].find("](user:").and_then(|close| {
            let name = &token[2..2 + close];
            let after = &token[2 + close + "](user:".len()..];
            let id = after.get(..36)?;
            let valid = name.chars().count() <= 100
                && !name.contains(['\n', '\r', ']', '['])
                && uuid::Uuid::parse_str(id).is_ok()
                && after[36..].starts_with(')');
            valid.then(|| (name, 2 + close + "](user:".len() + 37))
        });
        match parsed {
            Some((name, length)) => {
                out.push('@');
                out.push_str(name);
                rest = &token[length..];
            }
            None => {
                out.push_str("@[");
                rest = &token[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// What a ListLinks call asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkQuery {
    /// (kind, id) of the target.
    pub target: Option<(&'static str, String)>,
    /// Created by.
    pub created_by_user_id: Option<String>,
    /// Disabled or not.
    pub disabled: Option<bool>,
    /// Expired (at the time of the call) or not.
    pub expired: Option<bool>,
    /// Slug contains.
    pub slug: Option<String>,
}

const EQ: &[Operator] = &[Operator::Eq];
const FIELDS: &[FilterField] = &[
    FilterField {
        name: "task_id",
        operators: EQ,
    },
    FilterField {
        name: "document_id",
        operators: EQ,
    },
    FilterField {
        name: "created_by_user_id",
        operators: EQ,
    },
    FilterField {
        name: "disabled",
        operators: EQ,
    },
    FilterField {
        name: "expired",
        operators: EQ,
    },
    FilterField {
        name: "slug",
        operators: &[Operator::Has],
    },
];

/// The sort fields of ListLinks.
pub const ORDER_FIELDS: &[&str] = &["create_time", "update_time", "visit_count", "expire_time"];

/// Parses a ListLinks filter.
pub fn filter(text: &str) -> Result<LinkQuery, LinksError> {
    if text.chars().count() > 1_024 {
        return Err(grammar::invalid(DOMAIN, "at most 1024 characters").into());
    }
    let mut query = LinkQuery::default();
    for comparison in grammar::parse(DOMAIN, text, FIELDS)?.comparisons {
        let refuse = |what: String| {
            LinksError::Service(grammar::invalid(
                DOMAIN,
                format!("{what} (comparison at position {})", comparison.position),
            ))
        };
        let quoted = || match comparison.quoted {
            true => Ok(comparison.value.clone()),
            false => Err(refuse(format!(
                "{} takes a double-quoted value",
                comparison.field
            ))),
        };
        let boolean = || match (comparison.value.as_str(), comparison.quoted) {
            ("true", false) => Ok(true),
            ("false", false) => Ok(false),
            _ => Err(refuse(format!(
                "{} takes true or false, unquoted",
                comparison.field
            ))),
        };
        match comparison.field.as_str() {
            "task_id" => query.target = Some(("task", quoted()?)),
            "document_id" => query.target = Some(("document", quoted()?)),
            "created_by_user_id" => query.created_by_user_id = Some(quoted()?),
            "disabled" => query.disabled = Some(boolean()?),
            "expired" => query.expired = Some(boolean()?),
            "slug" => query.slug = Some(quoted()?),
            other => return Err(refuse(format!("unsupported field {other}"))),
        }
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_https_urls() {
        assert_eq!(
            url("https://example.com/a?b=c").unwrap(),
            "https://example.com/a?b=c"
        );
        for bad in [
            "http://example.com",
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://user:pw@example.com/",
            "https://example.com/\r\nx",
            "/relative",
            "https://",
        ] {
            assert!(url(bad).is_err(), "{bad}");
        }
        assert!(url(&format!("https://example.com/{}", "a".repeat(2_100))).is_err());
    }

    #[test]
    fn mentions_read_as_names() {
        let id = "0190a4b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b";
        assert_eq!(
            plain_mentions(&format!("Thanks @[Ada Lovelace](user:{id})!")),
            "Thanks @Ada Lovelace!"
        );
        assert_eq!(
            plain_mentions(&format!("@[A](user:{id}) and @[B](user:{id})")),
            "@A and @B"
        );
        for untouched in [
            "mail me @ home",
            "@[not](user:123)",
            "@[x](user:",
            "a @[b] c",
            "@[",
        ] {
            assert_eq!(plain_mentions(untouched), untouched);
        }
    }

    #[test]
    fn notes_passwords_and_filters() {
        assert_eq!(note("  hi ").unwrap(), "hi");
        assert!(note(&"x".repeat(501)).is_err());
        assert!(password("short").is_err());
        assert!(password("long enough").is_ok());
        let query =
            filter(r#"task_id = "t" AND disabled = false AND slug : "ab" AND expired = true"#)
                .unwrap();
        assert_eq!(query.target, Some(("task", "t".to_string())));
        assert_eq!(
            (query.disabled, query.expired, query.slug.as_deref()),
            (Some(false), Some(true), Some("ab"))
        );
        assert!(filter("disabled = \"false\"").is_err());
        assert!(filter("url = \"x\"").is_err());
    }
}
