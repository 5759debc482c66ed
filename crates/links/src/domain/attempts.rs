//! Password attempt limits: every attempt with a password is reserved on two counters (per
//! link, and per link and visitor address) before the password is checked, so concurrent
//! guesses cannot all pass a check that was read before any of them was counted. A right
//! password gives its reservation back.
//!
//! A counter allows `limit` attempts per window. Past the limit the counter is locked until
//! its window ends, and every attempt while locked doubles the window (up to a day), so a
//! guesser who keeps trying waits longer and longer; a window that ended starts afresh.

use std::time::Duration;

/// The limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Attempts allowed per link and source in one window.
    pub per_source: i64,
    /// Attempts allowed per link from all sources in one window.
    pub per_link: i64,
    /// Window length, in milliseconds.
    pub window_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_source: 5,
            per_link: 50,
            window_ms: 15 * 60_000,
        }
    }
}

/// The counter key of a link.
pub fn link_key(link_id: &str) -> String {
    format!("link:{link_id}")
}

/// The counter key of a source on a link.
pub fn source_key(link_id: &str, anonymized_address: &str) -> String {
    format!("source:{link_id}:{anonymized_address}")
}

/// Longest a counter stays locked.
const MAX_WINDOW_MS: i64 = 86_400_000;

/// When the window of a counter holding `attempts` (started at `started_at`) ends: the base
/// window, doubled for each attempt past the limit but the first.
pub fn window_end(limit: i64, window_ms: i64, attempts: i64, started_at: i64) -> i64 {
    let doublings = u32::try_from((attempts - limit - 1).clamp(0, 16)).unwrap_or(16);
    started_at.saturating_add(
        window_ms
            .saturating_mul(1_i64 << doublings)
            .min(MAX_WINDOW_MS),
    )
}

/// What to do with an attempt, given the counter before it (`attempts` so far in the window
/// that started at `started_at`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The window is over: start a new one with this attempt.
    Restart,
    /// Count the attempt and let it through.
    Allow,
    /// Count the attempt and refuse it; the counter stays locked this long.
    Refuse(Duration),
}

/// The decision for one more attempt at `now`.
pub fn decide(limit: i64, window_ms: i64, attempts: i64, started_at: i64, now: i64) -> Decision {
    if now >= window_end(limit, window_ms, attempts, started_at) {
        return Decision::Restart;
    }
    if attempts < limit {
        return Decision::Allow;
    }
    let until = window_end(limit, window_ms, attempts + 1, started_at);
    Decision::Refuse(Duration::from_millis(
        u64::try_from(until - now).unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_up_to_the_limit_then_locked_longer_with_each_attempt() {
        assert_eq!(decide(5, 1_000, 0, 0, 10), Decision::Allow);
        assert_eq!(decide(5, 1_000, 4, 0, 10), Decision::Allow);
        assert_eq!(
            decide(5, 1_000, 5, 0, 10),
            Decision::Refuse(Duration::from_millis(990))
        );
        // Each attempt while locked doubles the window.
        assert_eq!(
            decide(5, 1_000, 6, 0, 10),
            Decision::Refuse(Duration::from_millis(1_990))
        );
        assert_eq!(
            decide(5, 1_000, 7, 0, 10),
            Decision::Refuse(Duration::from_millis(3_990))
        );
        // A window that ended starts afresh; a grown one ends later.
        assert_eq!(decide(5, 1_000, 5, 0, 1_000), Decision::Restart);
        assert_eq!(
            decide(5, 1_000, 7, 0, 1_000),
            Decision::Refuse(Duration::from_millis(3_000))
        );
        assert_eq!(decide(5, 1_000, 7, 0, 2_000), Decision::Restart);
        assert_eq!(
            decide(5, 60_000_000, 40, 0, 0),
            Decision::Refuse(Duration::from_millis(86_400_000))
        );
    }
}
