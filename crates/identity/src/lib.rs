//! The identity service: who the caller is.
//!
//! Accounts (argon2id passwords, normalized unique emails), sessions (refresh-token
//! families with rotation and reuse detection), EdDSA access tokens signed with rotating
//! keys published as a JWKS, personal access tokens, password resets, and brute-force
//! protection. It asks tenancy (through tenancy's generated client) about memberships when a
//! token is scoped to an organization.
//!
//! Layers: [`api`] (tonic, the only module that sees it) → [`domain`] (pure rules) →
//! [`store`] (the only module that sees sqlx).

pub mod api;
pub mod domain;
pub mod keys;
pub mod store;
pub mod tenancy;

use std::sync::Arc;
use std::time::Duration;

use events::{Bus, OutboxRelay};
use mesh::Config;
use mesh::auth::{JwksCache, TokenVerifier};
use mesh::db::Database;
use mesh::peers::PeerChannel;
use mesh::server::Shutdown;
use taskmesh::identity::v1::identity_service_server::IdentityServiceServer;

use crate::api::IdentityApi;
use crate::domain::IdentityError;
use crate::domain::password::PasswordHasherPool;
use crate::domain::throttle::Throttle;
use crate::keys::{Keys, LocalKeySource};
use crate::store::IdentityStore;
use crate::store::sql::SqlIdentityStore;

pub use store::sql::migrations;

/// A built identity service: its gRPC server and its background work.
pub struct Identity {
    api: Arc<IdentityApi>,
    keys: Arc<Keys>,
    relay: OutboxRelay,
    max_message_bytes: usize,
}

impl Identity {
    /// Builds the service over a migrated `database`, publishing through `bus` and reaching
    /// tenancy over `tenancy`.
    pub async fn build(
        config: &Config,
        database: Database,
        bus: Arc<dyn Bus>,
        tenancy: PeerChannel,
    ) -> Result<Self, IdentityError> {
        let store: Arc<dyn IdentityStore> = Arc::new(SqlIdentityStore::new(database.clone()));
        let access_ttl = Duration::from_secs(config.identity.access_token_ttl_secs);
        let keys = Arc::new(
            Keys::load(
                store.clone(),
                Duration::from_secs(config.identity.signing_key_rotation_secs),
                access_ttl,
            )
            .await?,
        );
        let verifier = Arc::new(TokenVerifier::new(
            &config.auth.issuer,
            &config.auth.audience,
            Duration::from_secs(config.auth.leeway_secs),
            JwksCache::new(
                Arc::new(LocalKeySource(keys.clone())),
                // Unknown kids are answered from the store at most this often: IntrospectToken
                // is public, and made-up kids must not become one database read each.
                Duration::from_millis(config.auth.jwks_min_refresh_ms),
            ),
        ));
        let relay = OutboxRelay::new(
            database,
            bus,
            Duration::from_millis(config.events.relay_poll_ms),
        );
        let api = Arc::new(IdentityApi {
            store,
            hasher: PasswordHasherPool::new(config.identity.password_hash_concurrency),
            keys: keys.clone(),
            verifier,
            tenancy: tenancy::Tenancy::new(
                tenancy,
                keys.clone(),
                &config.auth.issuer,
                &config.auth.audience,
            ),
            relay: Some(relay.clone()),
            config: config.identity.clone(),
            auth: config.auth.clone(),
            login_throttle: Throttle::new(config.identity.login_failures_before_delay),
            reset_throttle: Throttle::new(3),
        });
        Ok(Self {
            api,
            keys,
            relay,
            max_message_bytes: config.server.max_message_bytes,
        })
    }

    /// The tonic server to mount.
    pub fn server(&self) -> IdentityServiceServer<IdentityApi> {
        IdentityServiceServer::from_arc(self.api.clone())
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes)
    }

    /// The signing keys (operators rotate through this; tests too).
    pub fn keys(&self) -> Arc<Keys> {
        self.keys.clone()
    }

    /// Runs the outbox relay and hourly key maintenance until `shutdown`.
    pub fn spawn_background(&self, shutdown: Shutdown) {
        tokio::spawn(self.relay.clone().run(shutdown.clone()));
        let keys = self.keys.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.wait() => return,
                    () = tokio::time::sleep(Duration::from_secs(3_600)) => {}
                }
                if let Err(error) = keys.maintain().await {
                    tracing::warn!(%error, "signing key maintenance failed");
                }
            }
        });
    }
}
