//! Personal access tokens are opaque: only identity can tell whether one is valid. Other
//! services ask it (IntrospectToken) and cache the answer briefly, so a revoked token stops
//! working within the cache lifetime and a busy client does not cost one identity call per
//! request. The cache is keyed by the token's SHA-256, never by the token itself.

use std::sync::Arc;
use std::time::Duration;

use super::digest_cache::DigestCache;
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
    answers: DigestCache<Option<Principal>>,
}

impl CachedIntrospector {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Introspector>, ttl: Duration, max_entries: usize) -> Self {
        Self {
            inner,
            ttl,
            answers: DigestCache::new(max_entries),
        }
    }
}

#[async_trait::async_trait]
impl Introspector for CachedIntrospector {
    async fn introspect(&self, token: &str) -> Result<Option<Principal>, AuthError> {
        if let Some(answer) = self.answers.get(token) {
            return Ok(answer);
        }
        // Failures (identity unreachable) are not cached: the next call tries again.
        let answer = self.inner.introspect(token).await?;
        self.answers.insert(token, answer.clone(), self.ttl);
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
