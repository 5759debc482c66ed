//! Wrong-password limits: failures are counted per link and per (link, source address) in
//! fixed windows; past the limit a visitor waits for the window to end, and each further
//! failure while locked doubles the window (up to a day), so guessing stays slow however
//! many addresses an attacker has.

use std::time::Duration;

/// The limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Failures allowed per link and source in one window.
    pub per_source: i64,
    /// Failures allowed per link from all sources in one window.
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

/// How long to wait, given a counter's failures and window start, or `None` when another
/// attempt is allowed now.
pub fn wait(
    limit: i64,
    window_ms: i64,
    failures: i64,
    started_at: i64,
    now: i64,
) -> Option<Duration> {
    if failures < limit {
        return None;
    }
    // Each failure past the limit doubles the window, capped at a day.
    let doublings = u32::try_from((failures - limit).clamp(0, 16)).unwrap_or(16);
    let window = window_ms.saturating_mul(1_i64 << doublings).min(86_400_000);
    let ends = started_at.saturating_add(window);
    (ends > now).then(|| Duration::from_millis(u64::try_from(ends - now).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_until_the_limit_then_waiting_longer_with_each_failure() {
        assert_eq!(wait(5, 1_000, 4, 0, 10), None);
        assert_eq!(wait(5, 1_000, 5, 0, 10), Some(Duration::from_millis(990)));
        assert_eq!(wait(5, 1_000, 5, 0, 1_000), None, "the window ended");
        assert_eq!(
            wait(5, 1_000, 7, 0, 1_000),
            Some(Duration::from_millis(3_000))
        );
        assert_eq!(
            wait(5, 60_000_000, 40, 0, 0),
            Some(Duration::from_millis(86_400_000))
        );
    }
}
