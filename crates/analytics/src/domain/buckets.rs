//! Time buckets: a requested range cut at local midnights (days) or Monday midnights (ISO
//! weeks) of an IANA zone, the first and last bucket clipped to the range. Daylight-saving
//! days are 23 or 25 hours long, as on a wall clock.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::AnalyticsError;

const DAY_MS: i64 = 86_400_000;

/// Bucket width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    /// Calendar days.
    Day,
    /// ISO weeks (from Monday).
    Week,
}

/// A half-open bucket `[start, end)` in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Inclusive start.
    pub start: i64,
    /// Exclusive end.
    pub end: i64,
}

impl Bucket {
    /// Length in days (fractional).
    pub fn days(&self) -> f64 {
        (self.end - self.start) as f64 / DAY_MS as f64
    }
}

/// The zone named `name` ("" is UTC).
pub fn zone(name: &str) -> Result<TimeZone, AnalyticsError> {
    match name.trim() {
        "" => Ok(TimeZone::UTC),
        name => TimeZone::get(name).map_err(|_| AnalyticsError::TimeZoneInvalid(name.into())),
    }
}

/// Checks a range: both ends given, start before end, at most `max_days` long.
pub fn range(
    start: Option<i64>,
    end: Option<i64>,
    max_days: i64,
) -> Result<(i64, i64), AnalyticsError> {
    let (Some(start), Some(end)) = (start, end) else {
        return Err(AnalyticsError::TimeRangeInvalid(
            "start_time and end_time are required".into(),
        ));
    };
    if start >= end {
        return Err(AnalyticsError::TimeRangeInvalid(
            "start_time must be before end_time".into(),
        ));
    }
    if end - start > max_days * DAY_MS {
        return Err(AnalyticsError::TimeRangeInvalid(format!(
            "at most {max_days} days"
        )));
    }
    Ok((start, end))
}

fn midnight(date: Date, zone: &TimeZone) -> Result<i64, AnalyticsError> {
    date.to_zoned(zone.clone())
        .map(|zoned| zoned.timestamp().as_millisecond())
        .map_err(|error| AnalyticsError::TimeRangeInvalid(error.to_string()))
}

/// The buckets of `[start, end)` in `zone`.
pub fn buckets(
    start: i64,
    end: i64,
    granularity: Granularity,
    zone: &TimeZone,
) -> Result<Vec<Bucket>, AnalyticsError> {
    let invalid = |error: jiff::Error| AnalyticsError::TimeRangeInvalid(error.to_string());
    let first = Timestamp::from_millisecond(start).map_err(invalid)?;
    let mut date = first.to_zoned(zone.clone()).date();
    let step = match granularity {
        Granularity::Day => 1.day(),
        Granularity::Week => {
            let back = i64::from(date.weekday().to_monday_zero_offset());
            date = date.checked_sub(back.days()).map_err(invalid)?;
            1.week()
        }
    };
    let mut buckets = Vec::new();
    let mut boundary = midnight(date, zone)?;
    while boundary < end {
        let next_date = date.checked_add(step).map_err(invalid)?;
        let next = midnight(next_date, zone)?;
        buckets.push(Bucket {
            start: boundary.max(start),
            end: next.min(end),
        });
        date = next_date;
        boundary = next;
    }
    Ok(buckets)
}

/// The index of the bucket holding `at` (times before the first bucket go to it).
pub fn index(buckets: &[Bucket], at: i64) -> Option<usize> {
    let position = buckets.partition_point(|bucket| bucket.start <= at);
    match position {
        0 => (!buckets.is_empty()).then_some(0),
        n => (at < buckets[n - 1].end).then_some(n - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        mesh::time::rfc3339_millis(text).unwrap()
    }

    #[test]
    fn days_align_to_local_midnight_and_are_clipped() {
        let berlin = zone("Europe/Berlin").unwrap();
        let days = buckets(
            at("2026-03-28T12:00:00Z"),
            at("2026-03-31T00:00:00Z"),
            Granularity::Day,
            &berlin,
        )
        .unwrap();
        assert_eq!(
            days,
            vec![
                Bucket {
                    start: at("2026-03-28T12:00:00Z"),
                    end: at("2026-03-28T23:00:00Z")
                },
                // The spring-forward day has 23 hours.
                Bucket {
                    start: at("2026-03-28T23:00:00Z"),
                    end: at("2026-03-29T22:00:00Z")
                },
                Bucket {
                    start: at("2026-03-29T22:00:00Z"),
                    end: at("2026-03-30T22:00:00Z")
                },
                Bucket {
                    start: at("2026-03-30T22:00:00Z"),
                    end: at("2026-03-31T00:00:00Z")
                },
            ]
        );
        assert_eq!(index(&days, at("2026-03-29T10:00:00Z")), Some(1));
        assert_eq!(index(&days, at("2026-03-28T00:00:00Z")), Some(0));
        assert_eq!(index(&days, at("2026-04-01T00:00:00Z")), None);
    }

    #[test]
    fn weeks_start_on_monday_and_quarter_hour_zones_work() {
        let utc = zone("").unwrap();
        // 2026-12-02 is a Wednesday.
        let weeks = buckets(
            at("2026-12-02T00:00:00Z"),
            at("2026-12-15T00:00:00Z"),
            Granularity::Week,
            &utc,
        )
        .unwrap();
        assert_eq!(weeks.len(), 3);
        assert_eq!(weeks[1].start, at("2026-12-07T00:00:00Z"));
        let nepal = zone("Asia/Kathmandu").unwrap();
        let days = buckets(
            at("2026-12-01T00:00:00Z"),
            at("2026-12-03T00:00:00Z"),
            Granularity::Day,
            &nepal,
        )
        .unwrap();
        assert_eq!(days[1].start, at("2026-12-01T18:15:00Z"));
        assert!(matches!(
            zone("Mars/Olympus"),
            Err(AnalyticsError::TimeZoneInvalid(_))
        ));
    }

    #[test]
    fn ranges_are_checked() {
        assert!(range(None, Some(1), 366).is_err());
        assert!(range(Some(5), Some(5), 366).is_err());
        assert!(range(Some(0), Some(367 * DAY_MS), 366).is_err());
        assert_eq!(range(Some(0), Some(DAY_MS), 366).unwrap(), (0, DAY_MS));
    }
}
