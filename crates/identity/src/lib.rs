//! The identity service: who the caller is.
//!
//! Accounts (argon2id passwords, normalized unique emails), sessions (refresh-token
//! families with rotation and reuse detection), EdDSA access tokens signed with rotating
//! keys published as a JWKS, personal access tokens, password resets, and brute-force
//! protection. It asks tenancy (through tenancy's generated client) about memberships when a
//! token is scoped to an organization.
//!
//! Layers: [`api`] (tonic, the only module that sees it) → [`domain`] (pure rules) →
//! [`store`] (the only module that sees sqlx). [`events`] names what it publishes;
//! [`tenancy`] is the one peer it calls. The binary knows it only as [`SERVICE`].

pub mod api;
pub mod domain;
pub mod events;
pub mod keys;
pub mod store;
pub mod tenancy;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

use kit::{BuildError, Built, ServiceContext, ServiceDefinition};
use mesh::auth::{JwksCache, TokenVerifier};
use serde::{Deserialize, Serialize};
use taskmesh::identity::v1::identity_service_server::IdentityServiceServer;

use crate::api::IdentityApi;
use crate::keys::{Keys, LocalKeySource};
use crate::store::IdentityStore;
use crate::store::sql::SqlIdentityStore;
use crate::throttle::Throttle;
use kit::passwords::PasswordHasherPool;

pub use store::sql::migrations;

/// Identity as the binary registers it.
pub const SERVICE: ServiceDefinition = ServiceDefinition {
    name: "identity",
    migrations,
    build: |context| Box::pin(build(context)),
};

/// The `[identity]` config section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// Access-token lifetime.
    pub access_token_ttl_secs: u64,
    /// A session ends when its refresh token is unused this long.
    pub refresh_idle_ttl_secs: u64,
    /// A session ends this long after login, however active.
    pub refresh_absolute_ttl_secs: u64,
    /// A new signing key is made when the current one is this old.
    pub signing_key_rotation_secs: u64,
    /// Password-reset tokens expire after this.
    pub password_reset_ttl_secs: u64,
    /// argon2id worker threads (0: one per CPU): the most hashes that run at once, each
    /// reusing one 19 MiB block.
    pub password_hash_concurrency: usize,
    /// Active personal access tokens per user.
    pub max_personal_access_tokens: u32,
    /// Failed logins (or current-password checks) per account before delays start.
    pub login_failures_before_delay: u32,
    /// Failed logins per client address before delays start (many people may share one).
    pub login_failures_per_address_before_delay: u32,
    /// Sign-ups per client address before delays start.
    pub signups_per_address_before_delay: u32,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 15 * 60,
            refresh_idle_ttl_secs: 14 * 24 * 3_600,
            refresh_absolute_ttl_secs: 30 * 24 * 3_600,
            signing_key_rotation_secs: 30 * 24 * 3_600,
            password_reset_ttl_secs: 30 * 60,
            password_hash_concurrency: 0,
            max_personal_access_tokens: 50,
            login_failures_before_delay: 5,
            login_failures_per_address_before_delay: 100,
            signups_per_address_before_delay: 20,
        }
    }
}

async fn build(context: ServiceContext) -> Result<Built, BuildError> {
    let config: IdentityConfig = context.section()?;
    let auth = context.config().auth.clone();
    let store: Arc<dyn IdentityStore> = Arc::new(SqlIdentityStore(context.storage()));
    let access_ttl = Duration::from_secs(config.access_token_ttl_secs);
    let keys = Arc::new(
        Keys::load(
            store.clone(),
            Duration::from_secs(config.signing_key_rotation_secs),
            access_ttl,
        )
        .await?,
    );
    let verifier = Arc::new(TokenVerifier::new(
        &auth.issuer,
        &auth.audience,
        Duration::from_secs(auth.leeway_secs),
        JwksCache::new(
            Arc::new(LocalKeySource(keys.clone())),
            // Unknown kids are answered from the store at most this often: IntrospectToken
            // is public, and made-up kids must not become one database read each.
            Duration::from_millis(auth.jwks_min_refresh_ms),
        ),
    ));
    let throttle = Arc::new(Throttle::new(store.clone()));
    let api = Arc::new(IdentityApi {
        store,
        hasher: PasswordHasherPool::new("identity", config.password_hash_concurrency),
        keys: keys.clone(),
        verifier,
        tenancy: Arc::new(tenancy::TenancyClient::new(
            context.peer("tenancy")?,
            keys.clone(),
            &auth.issuer,
            &auth.audience,
        )),
        throttle: throttle.clone(),
        config,
        auth,
    });
    let limit = context.max_message_bytes();
    let server = IdentityServiceServer::from_arc(api)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    Ok(
        Built::new(server).worker("signing key maintenance", move |shutdown| async move {
            loop {
                tokio::select! {
                    () = shutdown.wait() => return,
                    () = tokio::time::sleep(Duration::from_secs(3_600)) => {}
                }
                if let Err(error) = keys.maintain().await {
                    tracing::warn!(%error, "signing key maintenance failed");
                }
            }
        }),
    )
}
