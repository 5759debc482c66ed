//! Brute-force protection: failures per key (an account, a source IP) buy growing delays.
//!
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

    /// `Err(wait)` when `key` must wait before trying again.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let entries = self.entries.lock().expect("throttle lock");
        match entries.get(key).and_then(|entry| entry.blocked_until) {
            Some(until) if until > Instant::now() => Err(until - Instant::now()),
            _ => Ok(()),
        }
    }

    /// Records a failure for `key`.
    pub fn failure(&self, key: &str) {
        let mut entries = self.entries.lock().expect("throttle lock");
        if entries.len() >= MAX_KEYS {
            let horizon = Instant::now()
                .checked_sub(MAX_DELAY)
                .unwrap_or_else(Instant::now);
            entries.retain(|_, entry| entry.last > horizon);
        }
        let now = Instant::now();
        let entry = entries.entry(key.to_string()).or_insert(Entry {
            failures: 0,
            blocked_until: None,
            last: now,
        });
        entry.failures += 1;
        entry.last = now;
        if entry.failures > self.free {
            let exponent = (entry.failures - self.free - 1).min(20);
            let delay = Duration::from_secs(1u64 << exponent).min(MAX_DELAY);
            entry.blocked_until = Some(now + delay);
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
    fn delays_start_after_the_free_failures_and_grow() {
        let throttle = Throttle::new(2);
        throttle.failure("ada");
        throttle.failure("ada");
        assert!(throttle.check("ada").is_ok());
        throttle.failure("ada");
        let first = throttle.check("ada").unwrap_err();
        assert!(first <= Duration::from_secs(1) && first > Duration::ZERO);
        throttle.failure("ada");
        let second = throttle.check("ada").unwrap_err();
        assert!(second > Duration::from_secs(1));
        assert!(throttle.check("grace").is_ok(), "other keys are unaffected");
        throttle.success("ada");
        assert!(throttle.check("ada").is_ok());
    }
}
