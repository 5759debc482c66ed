//! Brute-force protection: failures per key (an account, a client address) buy growing
//! delays, in state every identity replica shares (identity's own database).
//!
//! Rules:
//! - A key is refused while it is blocked. After `free` failures, each further failure
//!   blocks it for twice as long as the one before (1 s, 2 s, 4 s, ... capped at 15
//!   minutes); a success clears an account key. Nothing locks out forever.
//! - Only failures count, after the password was checked, so correct passwords are never
//!   refused for being many; parallel guesses are bounded instead by at most
//!   [`IN_FLIGHT_PER_KEY`] checks in flight per key and replica (and by the hasher's workers).
//! - There is no global refusal mode: state lives in a table whose idle rows are purged, so
//!   many keys cost rows, never a refusal for everyone.
//! - Account keys do not depend on the address; address keys use the real client address
//!   (`mesh::client_ip`) and allow many more failures (many people share an office NAT).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesh::time::now_millis;

use crate::domain::IdentityError;
use crate::store::IdentityStore;

/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Checks of one key that may run at once on one replica.
pub const IN_FLIGHT_PER_KEY: usize = 16;

/// A throttled key and how many failures it may have before delays start.
#[derive(Clone, Debug)]
pub struct Key {
    name: String,
    free: u32,
}

impl Key {
    /// `name` (e.g. `login:ada@example.com`) with `free` failures before delays start.
    pub fn new(name: impl Into<String>, free: u32) -> Self {
        Self {
            name: name.into(),
            free,
        }
    }
}

/// The delay after `failures` failures of a key allowing `free`.
pub fn delay(failures: i64, free: u32) -> Option<Duration> {
    let over = failures - i64::from(free);
    (over > 0).then(|| Duration::from_secs(1u64 << (over - 1).min(20)).min(MAX_DELAY))
}

/// Throttle state over identity's store.
pub struct Throttle {
    store: Arc<dyn IdentityStore>,
    in_flight: Mutex<HashMap<String, usize>>,
}

/// An in-flight check of a key; dropping it ends the check.
pub struct InFlight<'a> {
    throttle: &'a Throttle,
    key: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut in_flight) = self.throttle.in_flight.lock()
            && let Some(count) = in_flight.get_mut(&self.key)
        {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.key);
            }
        }
    }
}

impl Throttle {
    /// Over `store`.
    pub fn new(store: Arc<dyn IdentityStore>) -> Self {
        Self {
            store,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Refuses (RESOURCE_EXHAUSTED with the wait) when any of `keys` is blocked, or when
    /// the first key already has [`IN_FLIGHT_PER_KEY`] checks running here; otherwise the
    /// check of the first key is in flight until the returned guard drops.
    pub async fn check(&self, keys: &[&Key]) -> Result<InFlight<'_>, IdentityError> {
        let now = now_millis();
        let names: Vec<String> = keys.iter().map(|key| key.name.clone()).collect();
        if let Some(until) = self.store.throttle_blocked_until(&names, now).await? {
            metrics::counter!("taskmesh_throttle_refusals_total").increment(1);
            let wait = u64::try_from(until - now).unwrap_or(0);
            return Err(IdentityError::RateLimited(Duration::from_millis(
                wait.max(1),
            )));
        }
        let first = names.first().cloned().unwrap_or_default();
        let mut in_flight = self
            .in_flight
            .lock()
            .map_err(|_| IdentityError::Internal("throttle lock".into()))?;
        let count = in_flight.entry(first.clone()).or_insert(0);
        if *count >= IN_FLIGHT_PER_KEY {
            return Err(IdentityError::RateLimited(Duration::from_secs(1)));
        }
        *count += 1;
        Ok(InFlight {
            throttle: self,
            key: first,
        })
    }

    /// Counts a failure for each of `keys`, in one write.
    pub async fn failed(&self, keys: &[&Key]) -> Result<(), IdentityError> {
        let now = now_millis();
        let keys: Vec<(&str, u32)> = keys
            .iter()
            .map(|key| (key.name.as_str(), key.free))
            .collect();
        self.store
            .throttle_failures(&keys, now, &move |failures, free| {
                delay(failures, free).map(|delay| now + mesh::time::duration_millis(delay))
            })
            .await?;
        Ok(())
    }

    /// Clears `key` after a success.
    pub async fn succeeded(&self, key: &Key) -> Result<(), IdentityError> {
        self.store.throttle_clear(&key.name).await
    }

    /// Forgets keys idle for longer than the longest delay.
    pub async fn purge(&self) -> Result<u64, IdentityError> {
        self.store
            .throttle_purge(now_millis() - mesh::time::duration_millis(MAX_DELAY))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_free_failures_double_and_stop_growing() {
        assert_eq!(delay(5, 5), None);
        assert_eq!(delay(6, 5), Some(Duration::from_secs(1)));
        assert_eq!(delay(7, 5), Some(Duration::from_secs(2)));
        assert_eq!(delay(9, 5), Some(Duration::from_secs(8)));
        assert_eq!(delay(60, 5), Some(MAX_DELAY));
        assert_eq!(delay(i64::MAX, 0), Some(MAX_DELAY));
    }
}
