//! The ListDocuments filter and order: the shared grammar of [`mesh::filter`], restricted to
//! the fields of documents_service.proto, turned into a [`DocumentQuery`] (never spliced
//! into SQL).

use mesh::filter::{self as grammar, Comparison, FilterField, Operator};

use super::access::Visibility;
use super::{DOMAIN, DocumentsError};

const EQ: &[Operator] = &[Operator::Eq];
const RANGE: &[Operator] = &[Operator::Gt, Operator::Ge, Operator::Lt, Operator::Le];

const FIELDS: &[FilterField] = &[
    FilterField {
        name: "project_id",
        operators: EQ,
    },
    FilterField {
        name: "visibility",
        operators: EQ,
    },
    FilterField {
        name: "task_id",
        operators: EQ,
    },
    FilterField {
        name: "title",
        operators: &[Operator::Has],
    },
    FilterField {
        name: "created_by_user_id",
        operators: EQ,
    },
    FilterField {
        name: "content_type",
        operators: EQ,
    },
    FilterField {
        name: "update_time",
        operators: RANGE,
    },
    FilterField {
        name: "create_time",
        operators: RANGE,
    },
];

/// The sort fields of ListDocuments.
pub const ORDER_FIELDS: &[&str] = &["update_time", "create_time", "title", "size_bytes"];

/// A time bound: millis, inclusive.
pub type Bound = Option<(i64, bool)>;

/// What a ListDocuments call asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocumentQuery {
    /// Of this project.
    pub project_id: Option<String>,
    /// Of this audience.
    pub visibility: Option<Visibility>,
    /// Attached to this task (`Some("")`: to none).
    pub task_id: Option<String>,
    /// Title contains (case-insensitive).
    pub title: Option<String>,
    /// Created by.
    pub created_by_user_id: Option<String>,
    /// Current version's media type.
    pub content_type: Option<String>,
    /// Updated after / before.
    pub updated: (Bound, Bound),
    /// Created after / before.
    pub created: (Bound, Bound),
}

/// Parses a filter (empty: every readable document).
pub fn parse(filter: &str) -> Result<DocumentQuery, DocumentsError> {
    if filter.chars().count() > 1_024 {
        return Err(grammar::invalid(DOMAIN, "at most 1024 characters").into());
    }
    let parsed = grammar::parse(DOMAIN, filter, FIELDS)?;
    let mut query = DocumentQuery::default();
    for Comparison {
        field,
        op,
        value,
        quoted,
        position,
    } in &parsed.comparisons
    {
        let refuse = |what: String| {
            DocumentsError::Service(grammar::invalid(
                DOMAIN,
                format!("{what} (comparison at position {position})"),
            ))
        };
        let text = || match quoted {
            true => Ok(value.clone()),
            false => Err(refuse(format!("{field} takes a double-quoted value"))),
        };
        let time = || {
            quoted
                .then(|| mesh::time::rfc3339_millis(value))
                .flatten()
                .ok_or_else(|| refuse(format!("{field} needs RFC 3339, got {value:?}")))
        };
        let bound = |range: &mut (Bound, Bound), millis: i64| match op {
            Operator::Gt => range.0 = Some((millis, false)),
            Operator::Ge => range.0 = Some((millis, true)),
            Operator::Lt => range.1 = Some((millis, false)),
            _ => range.1 = Some((millis, true)),
        };
        match field.as_str() {
            "project_id" => query.project_id = Some(text()?),
            "task_id" => query.task_id = Some(text()?),
            "title" => query.title = Some(text()?.to_lowercase()),
            "created_by_user_id" => query.created_by_user_id = Some(text()?),
            "content_type" => query.content_type = Some(text()?.to_ascii_lowercase()),
            "visibility" => {
                query.visibility = Some(match (value.as_str(), quoted) {
                    ("DOCUMENT_VISIBILITY_PROJECT", false) => Visibility::Project,
                    ("DOCUMENT_VISIBILITY_ORGANIZATION", false) => Visibility::Organization,
                    ("DOCUMENT_VISIBILITY_PRIVATE", false) => Visibility::Private,
                    _ => return Err(refuse(format!("unknown visibility {value:?}"))),
                })
            }
            "update_time" => bound(&mut query.updated, time()?),
            "create_time" => bound(&mut query.created, time()?),
            other => return Err(refuse(format!("unsupported field {other}"))),
        }
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_and_refusals() {
        let query = parse(
            r#"project_id = "p" AND task_id = "" AND title : "Spec" AND visibility = DOCUMENT_VISIBILITY_PRIVATE AND update_time >= "2026-01-01T00:00:00Z" AND create_time < "2026-02-01T00:00:00Z" AND content_type = "Application/PDF" AND created_by_user_id = "u""#,
        )
        .unwrap();
        assert_eq!(query.project_id.as_deref(), Some("p"));
        assert_eq!(query.task_id.as_deref(), Some(""));
        assert_eq!(query.title.as_deref(), Some("spec"));
        assert_eq!(query.visibility, Some(Visibility::Private));
        assert_eq!(query.updated.0, Some((1_767_225_600_000, true)));
        assert_eq!(query.created.1, Some((1_769_904_000_000, false)));
        assert_eq!(query.content_type.as_deref(), Some("application/pdf"));
        assert_eq!(parse("").unwrap(), DocumentQuery::default());
        for bad in [
            "size > 3",
            "project_id = p",
            "visibility = \"DOCUMENT_VISIBILITY_PRIVATE\"",
            "update_time > \"yesterday\"",
            "title = \"x\"",
        ] {
            let error: mesh::ServiceError = parse(bad).unwrap_err().into();
            assert_eq!(error.reason(), "FILTER_INVALID", "{bad}");
        }
    }
}
