//! Brute-force protection: failures per key (an account, a source IP) buy growing delays.
//!
//! Every attempt is counted as it starts ([`Throttle::attempt`]) and uncounted or cleared when
//! it turns out fine, so parallel attempts cannot slip past the check together.
//! After `free` failures, each further failure doubles the wait (1 s, 2 s, 4 s, ... capped
//! at 15 minutes) before the next attempt for that key is accepted; a success clears the
//! key. Nothing locks out forever, and an attacker cannot lock a user out for longer than
//! the cap. State is per process (each replica throttles on its own) and bounded: idle keys
//! are forgotten.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
const MAX_KEYS: usize = 100_000;

/// A failure counter with growing delays.
pub struct Throttle {
    free: u32,
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    blocked_until: Option<Instant>,
    last: Instant,
}

impl Throttle {
    /// `free` failures are allowed before delays start.
    pub fn new(free: u32) -> Self {
        Self {
            free,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Checks and counts an attempt in one step, so parallel guesses cannot all pass the
    /// check before any of them is counted. The attempt counts as a failure until
    /// [`Throttle::success`] (clear) or [`Throttle::refund`] (uncount) says otherwise.
    pub fn attempt(&self, key: &str) -> Result<(), Duration> {
        let mut entries = self.entries.lock().expect("throttle lock");
        let now = Instant::now();
        if let Some(until) = entries.get(key).and_then(|entry| entry.blocked_until)
            && until > now
        {
            return Err(until - now);
        }
        if entries.len() >= MAX_KEYS {
            let horizon = now.checked_sub(MAX_DELAY).unwrap_or(now);
            entries.retain(|_, entry| entry.last > horizon);
            if entries.len() >= MAX_KEYS {
                // Every key is fresh: refuse new keys rather than grow without bound.
                return Err(Duration::from_secs(1));
            }
        }
        let entry = entries.entry(key.to_string()).or_insert(Entry {
            failures: 0,
            blocked_until: None,
            last: now,
        });
        entry.failures += 1;
        entry.last = now;
        if entry.failures > self.free {
            let exponent = (entry.failures - self.free - 1).min(20);
            entry.blocked_until = Some(now + Duration::from_secs(1u64 << exponent).min(MAX_DELAY));
        }
        Ok(())
    }

    /// Uncounts an attempt that succeeded, for keys a success does not clear (a source IP).
    pub fn refund(&self, key: &str) {
        let mut entries = self.entries.lock().expect("throttle lock");
        if let Some(entry) = entries.get_mut(key) {
            entry.failures = entry.failures.saturating_sub(1);
            if entry.failures <= self.free {
                entry.blocked_until = None;
            }
        }
    }

    /// Clears `key` after a success.
    pub fn success(&self, key: &str) {
        self.entries.lock().expect("throttle lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_counted_before_they_are_checked() {
        let throttle = Throttle::new(2);
        // Three "parallel" attempts: the third is refused before any result is known.
        assert!(throttle.attempt("ada").is_ok());
        assert!(throttle.attempt("ada").is_ok());
        assert!(throttle.attempt("ada").is_ok());
        assert!(throttle.attempt("ada").is_err());
        throttle.success("ada");
        assert!(throttle.attempt("ada").is_ok());
        throttle.refund("ada");
        throttle.refund("ada");
        assert!(throttle.attempt("ip").is_ok());
    }

    #[test]
    fn delays_start_after_the_free_failures_and_grow() {
        let throttle = Throttle::new(2);
        throttle.attempt("ada").unwrap();
        throttle.attempt("ada").unwrap();
        throttle.attempt("ada").unwrap();
        let first = throttle.attempt("ada").unwrap_err();
        assert!(first <= Duration::from_secs(1) && first > Duration::ZERO);
        // Let the first delay pass (without sleeping): the next failure waits longer.
        throttle
            .entries
            .lock()
            .unwrap()
            .get_mut("ada")
            .unwrap()
            .blocked_until = None;
        throttle.attempt("ada").unwrap();
        let second = throttle.attempt("ada").unwrap_err();
        assert!(second > Duration::from_secs(1), "{second:?}");
        assert!(
            throttle.attempt("grace").is_ok(),
            "other keys are unaffected"
        );
        throttle.success("ada");
        assert!(throttle.attempt("ada").is_ok());
    }
}
