//! Time as stored (milliseconds since the Unix epoch, `i64`, the same on SQLite and
//! PostgreSQL) and as sent (`google.protobuf.Timestamp`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// A stored instant as a protobuf timestamp.
pub fn timestamp(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1_000),
        nanos: (millis.rem_euclid(1_000) * 1_000_000) as i32,
    }
}

/// An optional stored instant as an optional timestamp.
pub fn optional_timestamp(millis: Option<i64>) -> Option<prost_types::Timestamp> {
    millis.map(timestamp)
}

/// A protobuf timestamp as stored millis (clamped to the representable range).
pub fn millis(timestamp: &prost_types::Timestamp) -> i64 {
    timestamp
        .seconds
        .saturating_mul(1_000)
        .saturating_add(i64::from(timestamp.nanos) / 1_000_000)
}

/// A duration in millis, saturating.
pub fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC only) into millis since the epoch.
pub fn rfc3339_millis(text: &str) -> Option<i64> {
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
    fn millis_and_timestamps_round_trip() {
        for value in [0, 1, 999, 1_700_000_000_123, -1_500] {
            assert_eq!(millis(&timestamp(value)), value);
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
    }
}
