//! Signing keys: one current Ed25519 key signs access tokens; it is replaced when older than
//! the rotation period. A retired key stays published in the JWKS until every token it
//! signed has expired (access-token lifetime plus a minute of skew), then it is deleted.
//!
//! The published set is served from memory: the store is read at most once per
//! [`PUBLISHED_REFRESH`] (so a key another replica made appears within that time), however
//! often `/.well-known/jwks.json` or GetJwks is called, and concurrent callers share one read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mesh::auth::{AuthError, KeySource, PublicKey, SigningKey};
use tokio::sync::{Mutex, RwLock};

/// How long the published keys are served from memory before the store is read again.
pub const PUBLISHED_REFRESH: Duration = Duration::from_secs(10);

use crate::domain::IdentityError;
use crate::store::{IdentityStore, SigningKeyRecord};

/// The key manager.
pub struct Keys {
    store: Arc<dyn IdentityStore>,
    current: RwLock<SigningKey>,
    rotation: Duration,
    publish_after_retirement: Duration,
    /// The stored keys and when they were read.
    published: Mutex<Option<(Instant, Vec<SigningKeyRecord>)>>,
}

impl Keys {
    /// Loads the current key, making one if there is none or it is due for rotation.
    pub async fn load(
        store: Arc<dyn IdentityStore>,
        rotation: Duration,
        access_ttl: Duration,
    ) -> Result<Self, IdentityError> {
        let key = current_or_new(store.as_ref(), rotation).await?;
        Ok(Self {
            store,
            current: RwLock::new(key),
            rotation,
            publish_after_retirement: access_ttl + Duration::from_secs(60),
            published: Mutex::new(None),
        })
    }

    /// The key that signs now.
    pub async fn current(&self) -> SigningKey {
        self.current.read().await.clone()
    }

    /// Rotates if the current key is older than the rotation period; forgets keys whose
    /// tokens have all expired.
    pub async fn maintain(&self) -> Result<(), IdentityError> {
        let key = current_or_new(self.store.as_ref(), self.rotation).await?;
        *self.current.write().await = key;
        let horizon =
            mesh::time::now_millis() - mesh::time::duration_millis(self.publish_after_retirement);
        self.store.delete_retired_keys(horizon).await?;
        self.published.lock().await.take();
        Ok(())
    }

    /// Forces a rotation now (operators, tests).
    pub async fn rotate(&self) -> Result<(), IdentityError> {
        let key = new_key(self.store.as_ref()).await?;
        *self.current.write().await = key;
        self.published.lock().await.take();
        Ok(())
    }

    /// The public keys that verify tokens still in circulation.
    pub async fn published(&self) -> Result<Vec<PublicKey>, IdentityError> {
        let horizon =
            mesh::time::now_millis() - mesh::time::duration_millis(self.publish_after_retirement);
        let mut published = self.published.lock().await;
        let stale = published
            .as_ref()
            .is_none_or(|(read, _)| read.elapsed() >= PUBLISHED_REFRESH);
        if stale {
            *published = Some((Instant::now(), self.store.signing_keys().await?));
        }
        let keys = published
            .as_ref()
            .map(|(_, keys)| keys.as_slice())
            .unwrap_or_default();
        Ok(keys
            .iter()
            .filter(|key| key.retired_at.is_none_or(|retired| retired > horizon))
            .filter_map(|key| to_signing_key(key).map(|signing| signing.public_key()))
            .collect())
    }
}

fn to_signing_key(record: &SigningKeyRecord) -> Option<SigningKey> {
    let seed: [u8; 32] = record.seed.as_slice().try_into().ok()?;
    Some(SigningKey::from_seed(record.kid.clone(), seed))
}

async fn current_or_new(
    store: &dyn IdentityStore,
    rotation: Duration,
) -> Result<SigningKey, IdentityError> {
    let now = mesh::time::now_millis();
    let current = store.signing_keys().await?.into_iter().find(|key| {
        key.retired_at.is_none() && now - key.created_at < mesh::time::duration_millis(rotation)
    });
    match current.as_ref().and_then(to_signing_key) {
        Some(key) => Ok(key),
        None => new_key(store).await,
    }
}

async fn new_key(store: &dyn IdentityStore) -> Result<SigningKey, IdentityError> {
    let key = SigningKey::generate(format!("k-{}", uuid::Uuid::now_v7().simple()));
    store
        .rotate_signing_key(
            &SigningKeyRecord {
                kid: key.kid().to_string(),
                seed: key.seed().to_vec(),
                created_at: mesh::time::now_millis(),
                retired_at: None,
            },
            mesh::time::now_millis(),
        )
        .await?;
    tracing::info!(kid = key.kid(), "new signing key");
    Ok(key)
}

/// Identity verifies its own tokens (IntrospectToken) against its own keys.
pub struct LocalKeySource(pub Arc<Keys>);

#[async_trait::async_trait]
impl KeySource for LocalKeySource {
    async fn fetch_keys(&self) -> Result<Vec<PublicKey>, AuthError> {
        self.0
            .published()
            .await
            .map_err(|error| AuthError::Unavailable(error.to_string()))
    }
}
