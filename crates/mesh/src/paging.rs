//! Keyset paging (AIP-158) for every List method: page sizes, page tokens, and the SQL.
//!
//! A list declares its order once as a [`Keyset`] (sort columns, the last one unique, and a
//! direction). The API turns `page_size` / `page_token` into a [`PageRequest`] bound to that
//! keyset and to a fingerprint of the query (parent, filter, order); the store appends
//! [`PageRequest::push_keyset`] to its query (position condition, `order by`, `limit n + 1`)
//! and hands the rows to [`PageRequest::finish`], which drops the look-ahead row and makes the
//! next token. There is no first-page sentinel: the first page simply has no position.
//!
//! Page size: 0 means the default (50), larger than 100 is clamped to 100, negative is
//! INVALID_ARGUMENT. Page tokens are opaque to clients: base64url of the keyset position and a
//! fingerprint of the query, followed by a checksum. A token used with a different query or
//! order, or edited, is INVALID_ARGUMENT (`PAGE_TOKEN_INVALID`). The checksum makes tokens
//! tamper-evident, not secret: they only ever hold positions inside data the caller may
//! already read, and every query still filters by tenant.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::{ErrorCode, ServiceError};

/// Default page size.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Largest page size; larger requests are clamped.
pub const MAX_PAGE_SIZE: i64 = 100;

/// Sort direction of a keyset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

/// The SQL type of a sort column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// `bigint` (times in millis, numbers).
    Int,
    /// `text` (ids, ranks).
    Text,
}

/// One value of a keyset position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// An integer column's value.
    Int(i64),
    /// A text column's value.
    Text(String),
}

impl From<i64> for Key {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<String> for Key {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&str> for Key {
    fn from(value: &str) -> Self {
        Self::Text(value.to_string())
    }
}

/// The order of a list: its sort columns (qualified as the query needs, e.g. `o.created_at`),
/// the last of which must be unique so positions are total, one direction for all, and the
/// largest page the list serves.
#[derive(Clone, Copy, Debug)]
pub struct Keyset {
    /// `(column, kind)` in sort order.
    pub columns: &'static [(&'static str, KeyKind)],
    /// Direction of every column.
    pub direction: Direction,
    /// Largest page: [`MAX_PAGE_SIZE`] unless the list's items are large (a list of items up
    /// to 64 KiB each caps lower, so no page approaches the 4 MiB message limit). The
    /// default page size never exceeds it.
    pub max_page_size: i64,
}

impl Keyset {
    /// A keyset over `columns` in `direction`, serving pages up to [`MAX_PAGE_SIZE`].
    pub const fn new(columns: &'static [(&'static str, KeyKind)], direction: Direction) -> Self {
        Self {
            columns,
            direction,
            max_page_size: MAX_PAGE_SIZE,
        }
    }

    /// The same order, serving pages of at most `max` items.
    pub const fn with_max_page_size(self, max: i64) -> Self {
        Self {
            max_page_size: max,
            ..self
        }
    }

    /// Oldest first by `created_at`, then `id`: the order most lists use.
    pub const CREATED_ASCENDING: Keyset = Keyset::new(
        &[("created_at", KeyKind::Int), ("id", KeyKind::Text)],
        Direction::Ascending,
    );
    /// Newest first by `created_at`, then `id`.
    pub const CREATED_DESCENDING: Keyset = Keyset::new(
        &[("created_at", KeyKind::Int), ("id", KeyKind::Text)],
        Direction::Descending,
    );

    fn describe(&self) -> String {
        let columns: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        format!("{}:{:?}", columns.join(","), self.direction)
    }
}

/// One page of a list, as the API answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, at most the requested size.
    pub items: Vec<T>,
    /// The token of the next page; empty on the last page.
    pub next_page_token: String,
}

impl<T> Page<T> {
    /// Converts every item (records → messages), keeping the token.
    pub fn map<U>(self, convert: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(convert).collect(),
            next_page_token: self.next_page_token,
        }
    }
}

/// A validated request for one page of a query.
#[derive(Clone, Debug)]
pub struct PageRequest {
    /// Items to return.
    pub limit: i64,
    keyset: Keyset,
    fingerprint: String,
    after: Option<Vec<Key>>,
}

impl PageRequest {
    /// Validates `page_size` and `page_token` for the query `fingerprint` (parent, filter,
    /// order: anything that changes which rows the query returns) ordered by `keyset`.
    pub fn new(
        domain: &str,
        page_size: i32,
        page_token: &str,
        fingerprint: impl Into<String>,
        keyset: Keyset,
    ) -> Result<Self, ServiceError> {
        let limit = page_size_of(domain, page_size)?.min(keyset.max_page_size.max(1));
        let fingerprint = format!("{}|{}", fingerprint.into(), keyset.describe());
        let after = decode_token(domain, &fingerprint, page_token)?
            .map(|position| parse_position(domain, &keyset, position))
            .transpose()?;
        Ok(Self {
            limit,
            keyset,
            fingerprint,
            after,
        })
    }

    /// The first `limit` items of a query (internal callers and tests).
    pub fn first(limit: i64, keyset: Keyset) -> Self {
        Self {
            limit: limit.clamp(1, keyset.max_page_size.max(1)),
            keyset,
            fingerprint: keyset.describe(),
            after: None,
        }
    }

    /// The `limit` items after the position `after` (sort values in the keyset's column
    /// order), as a page token would give it (internal callers, benchmarks and tests).
    pub fn starting_after(limit: i64, keyset: Keyset, after: Vec<Key>) -> Self {
        Self {
            after: Some(after),
            ..Self::first(limit, keyset)
        }
    }

    /// The request for the page after one that answered `next_page_token` (same size,
    /// order and query); `None` after the last page.
    pub fn next(&self, next_page_token: &str) -> Option<Self> {
        let position = decode_token("", &self.fingerprint, next_page_token).ok()??;
        let after = parse_position("", &self.keyset, position).ok()?;
        Some(Self {
            after: Some(after),
            ..self.clone()
        })
    }

    /// The order of this page.
    pub fn keyset(&self) -> Keyset {
        self.keyset
    }

    /// True when this is not the first page.
    pub fn has_position(&self) -> bool {
        self.after.is_some()
    }

    /// Appends the position condition (as ` and (...)`, so the query must already have a
    /// `where`), the `order by` of the keyset, and `limit n + 1` (one look-ahead row tells
    /// whether another page exists).
    pub fn push_keyset<DB>(&self, query: &mut sqlx::QueryBuilder<DB>)
    where
        DB: sqlx::Database,
        for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    {
        let comparison = match self.keyset.direction {
            Direction::Ascending => " > ",
            Direction::Descending => " < ",
        };
        if let Some(after) = &self.after {
            // A row-value comparison, `(a, b) > (x, y)`: one condition both SQLite and
            // PostgreSQL evaluate lexicographically and serve from the index on (a, b).
            query.push(" and (");
            for (index, (column, _)) in self.keyset.columns.iter().enumerate() {
                if index > 0 {
                    query.push(", ");
                }
                query.push(*column);
            }
            query.push(")").push(comparison).push("(");
            for (index, value) in after.iter().enumerate() {
                if index > 0 {
                    query.push(", ");
                }
                push_key(query, value);
            }
            query.push(")");
        }
        query.push(" order by ");
        let order = match self.keyset.direction {
            Direction::Ascending => "",
            Direction::Descending => " desc",
        };
        for (index, (column, _)) in self.keyset.columns.iter().enumerate() {
            if index > 0 {
                query.push(", ");
            }
            query.push(*column).push(order);
        }
        query.push(" limit ").push_bind(self.limit + 1);
    }

    /// Turns the rows of a query built with [`PageRequest::push_keyset`] into a page: drops
    /// the look-ahead row and, when there was one, makes the token after the last item.
    /// `key` gives an item's sort values, in the keyset's column order.
    pub fn finish<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> Vec<Key>) -> Page<T> {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if items.len() <= limit {
            return Page {
                items,
                next_page_token: String::new(),
            };
        }
        items.truncate(limit);
        let next_page_token = items
            .last()
            .map(|last| {
                let position: Vec<String> = key(last)
                    .into_iter()
                    .map(|value| match value {
                        Key::Int(number) => number.to_string(),
                        Key::Text(text) => text,
                    })
                    .collect();
                encode_token(&self.fingerprint, &position)
            })
            .unwrap_or_default();
        Page {
            items,
            next_page_token,
        }
    }
}

fn push_key<DB>(query: &mut sqlx::QueryBuilder<DB>, value: &Key)
where
    DB: sqlx::Database,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    match value {
        Key::Int(number) => query.push_bind(*number),
        Key::Text(text) => query.push_bind(text.clone()),
    };
}

/// The effective page size for a requested one.
fn page_size_of(domain: &str, requested: i32) -> Result<i64, ServiceError> {
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

fn invalid_token(domain: &str) -> ServiceError {
    ServiceError::new(
        ErrorCode::InvalidArgument,
        domain,
        "PAGE_TOKEN_INVALID",
        "page_token does not belong to this query",
    )
    .with_field_violation("page_token", "invalid, edited, or from a different query")
}

fn parse_position(
    domain: &str,
    keyset: &Keyset,
    position: Vec<String>,
) -> Result<Vec<Key>, ServiceError> {
    if position.len() != keyset.columns.len() {
        return Err(invalid_token(domain));
    }
    keyset
        .columns
        .iter()
        .zip(position)
        .map(|((_, kind), text)| match kind {
            KeyKind::Int => text
                .parse()
                .map(Key::Int)
                .map_err(|_| invalid_token(domain)),
            KeyKind::Text => Ok(Key::Text(text)),
        })
        .collect()
}

fn checksum(text: &str) -> String {
    let digest = Sha256::digest(format!("taskmesh-page-token:{text}").as_bytes());
    digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn encode_token(fingerprint: &str, position: &[String]) -> String {
    let payload = serde_json::json!({ "f": checksum(fingerprint), "p": position }).to_string();
    let encoded = URL_SAFE_NO_PAD.encode(payload);
    let sum = checksum(&encoded);
    format!("{encoded}.{sum}")
}

fn decode_token(
    domain: &str,
    fingerprint: &str,
    token: &str,
) -> Result<Option<Vec<String>>, ServiceError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || invalid_token(domain);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request(token: &str, fingerprint: &str) -> Result<PageRequest, ServiceError> {
        PageRequest::new("x", 2, token, fingerprint, Keyset::CREATED_ASCENDING)
    }

    fn key(item: &(i64, &str)) -> Vec<Key> {
        vec![item.0.into(), item.1.into()]
    }

    #[test]
    fn pages_trim_the_look_ahead_item_and_point_after_the_last() {
        let first = request("", "q").unwrap();
        assert!(!first.has_position());
        let page = first.finish(vec![(1, "a"), (2, "b"), (3, "c")], key);
        assert_eq!(page.items, vec![(1, "a"), (2, "b")]);
        let second = request(&page.next_page_token, "q").unwrap();
        assert_eq!(second.after, Some(vec![Key::Int(2), Key::Text("b".into())]));
        let last = second.finish(vec![(3, "c")], key);
        assert_eq!(last.next_page_token, "");
        assert_eq!(
            first.next(&page.next_page_token).unwrap().after,
            second.after
        );
        assert!(first.next("").is_none());
    }

    #[test]
    fn the_keyset_becomes_one_portable_condition_and_order() {
        let first = request("", "q").unwrap();
        let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new("select * from t where a = 1");
        first.push_keyset(&mut query);
        assert_eq!(
            query.sql().as_str(),
            "select * from t where a = 1 order by created_at, id limit ?"
        );
        let token = first
            .finish(vec![(1, "a"), (2, "b"), (3, "c")], key)
            .next_page_token;
        let next = PageRequest::new("x", 2, &token, "q", Keyset::CREATED_ASCENDING).unwrap();
        let mut query = sqlx::QueryBuilder::<sqlx::Postgres>::new("select * from t where a = 1");
        next.push_keyset(&mut query);
        assert_eq!(
            query.sql().as_str(),
            "select * from t where a = 1 and (created_at, id) > ($1, $2) order by created_at, id limit $3"
        );
        let descending = PageRequest::first(5, Keyset::CREATED_DESCENDING);
        let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new("select * from t where 1 = 1");
        descending.push_keyset(&mut query);
        assert!(
            query
                .sql()
                .as_str()
                .ends_with("order by created_at desc, id desc limit ?")
        );
    }

    #[test]
    fn a_list_of_large_items_caps_its_pages_lower() {
        let small = Keyset::CREATED_ASCENDING.with_max_page_size(10);
        assert_eq!(PageRequest::new("x", 0, "", "q", small).unwrap().limit, 10);
        assert_eq!(PageRequest::new("x", 7, "", "q", small).unwrap().limit, 7);
        assert_eq!(
            PageRequest::new("x", 500, "", "q", small).unwrap().limit,
            10
        );
        assert_eq!(PageRequest::first(50, small).limit, 10);
    }

    #[test]
    fn sizes_default_clamp_and_refuse_negatives() {
        assert_eq!(page_size_of("x", 0).unwrap(), 50);
        assert_eq!(page_size_of("x", 7).unwrap(), 7);
        assert_eq!(page_size_of("x", 5_000).unwrap(), 100);
        assert!(page_size_of("x", -1).is_err());
    }

    #[test]
    fn tokens_refuse_other_queries_orders_and_edits() {
        let token = request("", "members:org-1")
            .unwrap()
            .finish(vec![(1, "a"), (2, "b"), (3, "c")], key)
            .next_page_token;
        assert!(request(&token, "members:org-1").is_ok());
        let error = request(&token, "members:org-2").unwrap_err();
        assert_eq!(error.reason(), "PAGE_TOKEN_INVALID");
        let other_order =
            PageRequest::new("x", 2, &token, "members:org-1", Keyset::CREATED_DESCENDING);
        assert!(other_order.is_err());
        let mut edited = token.clone();
        edited.insert(3, 'A');
        assert!(request(&edited, "members:org-1").is_err());
        assert!(request("garbage", "members:org-1").is_err());
        // A well-signed token whose position does not fit the keyset's kinds.
        let fingerprint = format!("q|{}", Keyset::CREATED_ASCENDING.describe());
        let forged = encode_token(&fingerprint, &["not-a-number".into(), "a".into()]);
        assert!(request(&forged, "q").is_err());
    }
}
