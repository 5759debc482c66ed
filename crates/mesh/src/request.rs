//! Request semantics every service applies the same way: update masks, etags, the caller's
//! request id. One rule each, documented in API_DESIGN.md ("Updates"):
//!
//! - **Update masks (AIP-134).** A non-empty mask names the fields to change; each path must
//!   be one the resource lets callers change, else INVALID_ARGUMENT `UPDATE_MASK_INVALID`
//!   naming the path (immutable and unknown paths alike). `*` means every changeable field.
//!   An absent or empty mask means the changeable fields the client set (non-default
//!   values); when there are none, nothing changes and the current resource is returned.
//! - **Etags (AIP-154).** An empty etag asks for no check; otherwise it must be the etag the
//!   service issued for the current version, else ABORTED (a malformed etag is answered like
//!   a stale one). Stores check the version in the same statement that writes
//!   (`where version = $expected`), never in a separate read.

use prost_types::FieldMask;

use crate::error::{ErrorCode, ServiceError};
use crate::ids::Id;

/// A field of an update request: its mask path and whether the client set it.
#[derive(Clone, Copy, Debug)]
pub struct Updatable {
    /// The mask path, e.g. `display_name`.
    pub path: &'static str,
    /// True when the request carries a non-default value for it.
    pub set: bool,
}

impl Updatable {
    /// A changeable field.
    pub fn new(path: &'static str, set: bool) -> Self {
        Self { path, set }
    }
}

/// The paths an update changes, by the one rule above. `fields` lists every changeable
/// field of the resource.
pub fn update_paths(
    domain: &str,
    mask: Option<&FieldMask>,
    fields: &[Updatable],
) -> Result<Vec<&'static str>, ServiceError> {
    let requested = mask.map(|mask| mask.paths.as_slice()).unwrap_or_default();
    if requested.is_empty() {
        return Ok(fields
            .iter()
            .filter(|field| field.set)
            .map(|field| field.path)
            .collect());
    }
    let mut paths = Vec::new();
    for path in requested {
        if path == "*" {
            return Ok(fields.iter().map(|field| field.path).collect());
        }
        let field = fields
            .iter()
            .find(|field| field.path == path)
            .ok_or_else(|| {
                ServiceError::new(
                    ErrorCode::InvalidArgument,
                    domain,
                    "UPDATE_MASK_INVALID",
                    format!("invalid update_mask: path {path:?} cannot be updated"),
                )
                .with_field_violation("update_mask", format!("path {path:?} cannot be updated"))
            })?;
        if !paths.contains(&field.path) {
            paths.push(field.path);
        }
    }
    Ok(paths)
}

/// Parses the id in request field `field`; INVALID_ARGUMENT `FIELD_INVALID` naming the field
/// and the kind of id otherwise.
pub fn parse_id<T: Id>(domain: &str, field: &str, text: &str) -> Result<T, ServiceError> {
    text.parse().map_err(|_| {
        ServiceError::invalid_field(domain, field, format!("must be {}", T::DESCRIPTION))
    })
}

/// The etag of a resource at `version`.
pub fn etag(version: i64) -> String {
    format!("v{version}")
}

/// The version an update or delete expects: `None` when the client sent no etag, else the
/// version inside it. An etag taskmesh did not issue is ABORTED `ETAG_MISMATCH`, like a stale
/// one.
pub fn expected_version(domain: &str, etag: &str) -> Result<Option<i64>, ServiceError> {
    if etag.is_empty() {
        return Ok(None);
    }
    etag.strip_prefix('v')
        .and_then(|version| version.parse().ok())
        .map(Some)
        .ok_or_else(|| etag_mismatch(domain))
}

/// The resource changed since the client read it.
pub fn etag_mismatch(domain: &str) -> ServiceError {
    ServiceError::new(
        ErrorCode::Aborted,
        domain,
        "ETAG_MISMATCH",
        "the resource changed; reload and retry",
    )
}

/// The request id the edge assigned (or the client sent), for audit entries and events.
pub fn request_id<T>(request: &tonic::Request<T>) -> String {
    request
        .metadata()
        .get(crate::telemetry::REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(paths: &[&str]) -> FieldMask {
        FieldMask {
            paths: paths.iter().map(|path| path.to_string()).collect(),
        }
    }

    const FIELDS: fn(bool, bool) -> [Updatable; 2] =
        |name, slug| [Updatable::new("name", name), Updatable::new("slug", slug)];

    #[test]
    fn a_mask_names_the_paths_and_refuses_others() {
        let fields = FIELDS(false, false);
        assert_eq!(
            update_paths("x", Some(&mask(&["slug", "slug"])), &fields).unwrap(),
            vec!["slug"]
        );
        assert_eq!(
            update_paths("x", Some(&mask(&["*"])), &fields).unwrap(),
            vec!["name", "slug"]
        );
        let error = update_paths("x", Some(&mask(&["name", "id"])), &fields).unwrap_err();
        assert_eq!(error.reason(), "UPDATE_MASK_INVALID");
        assert_eq!(error.code(), ErrorCode::InvalidArgument);
    }

    #[test]
    fn no_mask_means_the_fields_the_client_set() {
        assert_eq!(
            update_paths("x", None, &FIELDS(true, false)).unwrap(),
            vec!["name"]
        );
        assert_eq!(
            update_paths("x", Some(&mask(&[])), &FIELDS(false, true)).unwrap(),
            vec!["slug"]
        );
        assert!(
            update_paths("x", None, &FIELDS(false, false))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn ids_parse_or_name_the_field_and_the_kind() {
        let id = crate::ids::UserId::new();
        assert_eq!(
            parse_id::<crate::ids::UserId>("x", "user_id", &id.to_string()).unwrap(),
            id
        );
        let error =
            parse_id::<crate::ids::OrganizationId>("x", "organization_id", "7").unwrap_err();
        assert_eq!(error.reason(), "FIELD_INVALID");
        assert_eq!(error.field_violations()[0].field, "organization_id");
        assert_eq!(
            error.field_violations()[0].description,
            "must be an organization id"
        );
    }

    #[test]
    fn etags_round_trip_and_foreign_ones_are_stale() {
        assert_eq!(expected_version("x", &etag(7)).unwrap(), Some(7));
        assert_eq!(expected_version("x", "").unwrap(), None);
        for foreign in ["7", "vx", "W/\"v7\""] {
            let error = expected_version("x", foreign).unwrap_err();
            assert_eq!(error.code(), ErrorCode::Aborted);
            assert_eq!(error.reason(), "ETAG_MISMATCH");
        }
    }
}

/// Parses an `order_by` of one sort field from `fields`, optionally followed by ` desc` or
/// ` asc` (ties are broken by id); an empty one is `default` (field, descending). Anything
/// else is INVALID_ARGUMENT `ORDER_BY_INVALID` on `order_by`.
pub fn order_by(
    domain: &str,
    text: &str,
    fields: &[&'static str],
    default: (&'static str, bool),
) -> Result<(&'static str, bool), ServiceError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(default);
    }
    let invalid = || {
        let description = format!(
            "one of {} optionally followed by \" desc\"",
            fields.join(", ")
        );
        ServiceError::new(
            ErrorCode::InvalidArgument,
            domain,
            "ORDER_BY_INVALID",
            format!("invalid order_by: {description}"),
        )
        .with_field_violation("order_by", description)
    };
    let mut parts = text.split_whitespace();
    let name = parts.next().unwrap_or_default();
    let descending = match parts.next() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(invalid()),
    };
    if parts.next().is_some() {
        return Err(invalid());
    }
    let field = fields
        .iter()
        .find(|field| **field == name)
        .ok_or_else(invalid)?;
    Ok((field, descending))
}

#[cfg(test)]
mod order_by_tests {
    use super::*;

    #[test]
    fn one_field_and_a_direction() {
        let fields = &["update_time", "title"];
        let default = ("update_time", true);
        assert_eq!(order_by("d", "", fields, default).unwrap(), default);
        assert_eq!(
            order_by("d", " title ", fields, default).unwrap(),
            ("title", false)
        );
        assert_eq!(
            order_by("d", "title desc", fields, default).unwrap(),
            ("title", true)
        );
        for bad in ["size", "title up", "title desc x", "title,update_time"] {
            let error = order_by("d", bad, fields, default).unwrap_err();
            assert_eq!(error.reason(), "ORDER_BY_INVALID", "{bad}");
        }
    }
}
