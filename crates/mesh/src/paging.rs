//! Page sizes and page tokens (AIP-158) shared by every List method.
//!
//! Page size: 0 means the default (50), larger than 100 is clamped to 100, negative is
//! INVALID_ARGUMENT. Page tokens are opaque to clients: base64url of the keyset position and
//! a fingerprint of the query (filter, order, parent), followed by a checksum. A token used
//! with a different query, or edited, is INVALID_ARGUMENT (`PAGE_TOKEN_INVALID`). The
//! checksum makes tokens tamper-evident, not secret: they only ever hold positions inside data
//! the caller may already read, and every query still filters by tenant.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::ServiceError;

/// Default page size.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Largest page size; larger requests are clamped.
pub const MAX_PAGE_SIZE: i64 = 100;

/// The effective page size for a requested one.
pub fn page_size(domain: &str, requested: i32) -> Result<i64, ServiceError> {
    match requested {
        size if size < 0 => Err(ServiceError::invalid_field(
            domain,
            "page_size",
            "must not be negative",
        )),
        0 => Ok(DEFAULT_PAGE_SIZE),
        size => Ok(i64::from(size).min(MAX_PAGE_SIZE)),
    }
}

fn checksum(text: &str) -> String {
    let digest = Sha256::digest(format!("taskmesh-page-token:{text}").as_bytes());
    digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Encodes the position after the last returned item for the query `fingerprint`.
pub fn encode_token(fingerprint: &str, position: &[String]) -> String {
    let payload = serde_json::json!({ "f": checksum(fingerprint), "p": position }).to_string();
    let encoded = URL_SAFE_NO_PAD.encode(payload);
    let sum = checksum(&encoded);
    format!("{encoded}.{sum}")
}

/// Decodes a page token for the query `fingerprint`; an empty token is the first page.
pub fn decode_token(
    domain: &str,
    fingerprint: &str,
    token: &str,
) -> Result<Option<Vec<String>>, ServiceError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || {
        ServiceError::new(
            crate::error::ErrorCode::InvalidArgument,
            domain,
            "PAGE_TOKEN_INVALID",
            "page_token does not belong to this query",
        )
        .with_field_violation("page_token", "invalid, edited, or from a different query")
    };
    let (encoded, sum) = token.rsplit_once('.').ok_or_else(invalid)?;
    if checksum(encoded) != sum {
        return Err(invalid());
    }
    let payload = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| invalid())?;
    let value: serde_json::Value = serde_json::from_slice(&payload).map_err(|_| invalid())?;
    if value["f"].as_str() != Some(checksum(fingerprint).as_str()) {
        return Err(invalid());
    }
    let position = value["p"]
        .as_array()
        .ok_or_else(invalid)?
        .iter()
        .map(|item| item.as_str().map(str::to_string).ok_or_else(invalid))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(position))
}

/// Decodes a `(created_at millis, id)` keyset position, the shape most lists use.
pub fn decode_position(
    domain: &str,
    fingerprint: &str,
    token: &str,
) -> Result<Option<(i64, String)>, ServiceError> {
    Ok(decode_token(domain, fingerprint, token)?
        .and_then(|position| Some((position.first()?.parse().ok()?, position.get(1)?.clone()))))
}

/// Trims a page fetched with one look-ahead item (`limit + 1`) to `limit` and returns the
/// token of the next page, or an empty string on the last page.
pub fn next_page_token<T>(
    items: &mut Vec<T>,
    limit: i64,
    fingerprint: &str,
    key: impl Fn(&T) -> (i64, String),
) -> String {
    if items.len() as i64 > limit {
        items.truncate(limit.max(0) as usize);
        match items.last() {
            Some(last) => {
                let (time, id) = key(last);
                encode_token(fingerprint, &[time.to_string(), id])
            }
            None => String::new(),
        }
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_trim_the_look_ahead_item_and_point_after_the_last() {
        let mut items = vec![(1, "a"), (2, "b"), (3, "c")];
        let token = next_page_token(&mut items, 2, "q", |(time, id)| (*time, id.to_string()));
        assert_eq!(items.len(), 2);
        assert_eq!(
            decode_position("x", "q", &token).unwrap(),
            Some((2, "b".to_string()))
        );
        let mut last = vec![(1, "a")];
        assert_eq!(
            next_page_token(&mut last, 2, "q", |(time, id)| (*time, id.to_string())),
            ""
        );
    }

    #[test]
    fn sizes_default_clamp_and_refuse_negatives() {
        assert_eq!(page_size("x", 0).unwrap(), 50);
        assert_eq!(page_size("x", 7).unwrap(), 7);
        assert_eq!(page_size("x", 5_000).unwrap(), 100);
        assert!(page_size("x", -1).is_err());
    }

    #[test]
    fn tokens_round_trip_and_refuse_other_queries_and_edits() {
        let token = encode_token("members:org-1", &["2026".into(), "user-9".into()]);
        assert_eq!(
            decode_token("x", "members:org-1", &token).unwrap(),
            Some(vec!["2026".to_string(), "user-9".to_string()])
        );
        assert_eq!(decode_token("x", "members:org-1", "").unwrap(), None);
        let error = decode_token("x", "members:org-2", &token).unwrap_err();
        assert_eq!(error.reason(), "PAGE_TOKEN_INVALID");
        let mut edited = token.clone();
        edited.insert(3, 'A');
        assert!(decode_token("x", "members:org-1", &edited).is_err());
        assert!(decode_token("x", "members:org-1", "garbage").is_err());
    }
}
