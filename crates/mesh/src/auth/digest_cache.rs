//! A small bounded cache of answers about credentials, keyed by the credential's SHA-256 so
//! the credentials themselves are never kept. Used for verified access tokens and for
//! introspected personal access tokens.
//!
//! Invariants: an entry is never answered after its own deadline; at most `max_entries`
//! are kept (when full, expired entries go first, then everything: a flood of distinct
//! credentials costs re-verification, never memory).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Answers about credentials, each until its own deadline.
pub struct DigestCache<V> {
    max_entries: usize,
    entries: Mutex<HashMap<[u8; 32], (Instant, V)>>,
}

impl<V: Clone> DigestCache<V> {
    /// An empty cache of at most `max_entries` answers.
    pub fn new(max_entries: usize) -> Self {
        Self {
            max_entries,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(credential: &str) -> [u8; 32] {
        Sha256::digest(credential.as_bytes()).into()
    }

    /// The answer remembered for `credential`, if still valid.
    pub fn get(&self, credential: &str) -> Option<V> {
        let key = Self::key(credential);
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries
            .get(&key)
            .filter(|(until, _)| Instant::now() < *until)
            .map(|(_, answer)| answer.clone())
    }

    /// Remembers `answer` for `credential` during `ttl` (nothing for a zero `ttl`).
    pub fn insert(&self, credential: &str, answer: V, ttl: Duration) {
        if ttl.is_zero() || self.max_entries == 0 {
            return;
        }
        let key = Self::key(credential);
        let now = Instant::now();
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= self.max_entries {
            entries.retain(|_, (until, _)| now < *until);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(key, (now + ttl, answer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_last_until_their_deadline_and_the_size_is_bounded() {
        let cache = DigestCache::new(2);
        cache.insert("a", 1, Duration::from_secs(60));
        assert_eq!(cache.get("a"), Some(1));
        assert_eq!(cache.get("b"), None);
        cache.insert("gone", 2, Duration::ZERO);
        assert_eq!(cache.get("gone"), None, "a zero lifetime is not remembered");
        cache.insert("b", 3, Duration::from_secs(60));
        cache.insert("c", 4, Duration::from_secs(60));
        // Full of live entries: the cache starts over rather than grow.
        assert_eq!(cache.get("c"), Some(4));
        assert_eq!(cache.get("a"), None);
        assert!(cache.entries.lock().unwrap().len() <= 2);
    }

    #[test]
    fn an_expired_answer_is_not_given() {
        let cache = DigestCache::new(10);
        cache.insert("a", 1, Duration::from_nanos(1));
        std::thread::yield_now();
        let deadline = Instant::now() + Duration::from_secs(1);
        // The deadline passed as soon as the clock moved; no sleep needed.
        while cache.get("a").is_some() {
            assert!(Instant::now() < deadline, "a 1 ns answer outlived a second");
        }
    }
}
