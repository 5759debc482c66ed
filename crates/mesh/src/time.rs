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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_and_timestamps_round_trip() {
        for value in [0, 1, 999, 1_700_000_000_123, -1_500] {
            assert_eq!(millis(&timestamp(value)), value);
        }
    }
}
