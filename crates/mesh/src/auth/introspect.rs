//! Personal access tokens are opaque: only identity can tell whether one is valid. Other
//! services ask it (IntrospectToken) and cache the answer briefly, so a revoked token stops
//! working within the cache lifetime and a busy client does not cost one identity call per
//! request. The cache is keyed by the token's SHA-256, never by the token itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::{AuthError, Principal};

/// Asks the token's issuer what a personal access token stands for.
#[async_trait::async_trait]
pub trait Introspector: Send + Sync {
    /// `Ok(None)` when the token is unknown, expired or revoked.
    async fn introspect(&self, token: &str) -> Result<Option<Principal>, AuthError>;
}

/// Caches another introspector's answers (positive and negative) for `ttl`.
pub struct CachedIntrospector {
    inner: Arc<dyn Introspector>,
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<TokenDigest, CachedAnswer>>,
}

/// SHA-256 of a token.
type TokenDigest = [u8; 32];
/// When an answer was fetched, and the answer.
type CachedAnswer = (Instant, Option<Principal>);

impl CachedIntrospector {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Introspector>, ttl: Duration, max_entries: usize) -> Self {
        Self {
            inner,
            ttl,
            max_entries,
            entries: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait::async_trait]
impl Introspector for CachedIntrospector {
    async fn introspect(&self, token: &str) -> Result<Option<Principal>, AuthError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some((at, answer)) = self.entries.lock().await.get(&key)
            && at.elapsed() < self.ttl
        {
            return Ok(answer.clone());
        }
        // Failures (identity unreachable) are not cached: the next call tries again.
        let answer = self.inner.introspect(token).await?;
        let mut entries = self.entries.lock().await;
        if entries.len() >= self.max_entries {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), answer.clone()));
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::auth::{Scope, TokenKind};
    use crate::ids::UserId;

    struct Counting(AtomicUsize, Principal);

    #[async_trait::async_trait]
    impl Introspector for Counting {
        async fn introspect(&self, token: &str) -> Result<Option<Principal>, AuthError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok((token == "tmpat_good").then(|| self.1.clone()))
        }
    }

    #[tokio::test]
    async fn answers_are_cached_for_their_lifetime() {
        let principal = Principal {
            user_id: UserId::new(),
            organization_id: None,
            role: None,
            token_kind: TokenKind::PersonalAccessToken,
            scope: Scope::ReadOnly,
            session_id: None,
            token_id: "pat-1".into(),
            expires_at: None,
        };
        let inner = Arc::new(Counting(AtomicUsize::new(0), principal.clone()));
        let cached = CachedIntrospector::new(inner.clone(), Duration::from_secs(60), 10);
        assert_eq!(
            cached.introspect("tmpat_good").await.unwrap(),
            Some(principal.clone())
        );
        assert_eq!(
            cached.introspect("tmpat_good").await.unwrap(),
            Some(principal)
        );
        assert_eq!(cached.introspect("tmpat_bad").await.unwrap(), None);
        assert_eq!(inner.0.load(Ordering::SeqCst), 2);

        let expiring = CachedIntrospector::new(inner.clone(), Duration::ZERO, 10);
        expiring.introspect("tmpat_good").await.unwrap();
        expiring.introspect("tmpat_good").await.unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 4);
    }
}
