//! The tenancy service: organizations (tenants), memberships and roles, invitations, and the
//! audit trail. It is the authority on "is this user a member of this organization, with
//! which role", which identity asks when it scopes tokens.
//!
//! Layers: [`api`] (tonic) → [`domain`] (pure rules) → [`store`] (sqlx; row-level security
//! on PostgreSQL). [`events`] names what it publishes; [`identity`] is the one peer it calls.
//! The binary knows it only as [`SERVICE`].

pub mod api;
pub mod domain;
pub mod events;
pub mod identity;
pub mod store;

use std::sync::Arc;

use kit::{BuildError, Built, ServiceContext, ServiceDefinition};
use serde::{Deserialize, Serialize};
use taskmesh::tenancy::v1::tenancy_service_server::TenancyServiceServer;

use crate::api::TenancyApi;
use crate::store::sql::SqlTenancyStore;

pub use store::sql::migrations;

/// Tenancy as the binary registers it.
pub const SERVICE: ServiceDefinition = ServiceDefinition {
    name: "tenancy",
    migrations,
    build: |context| Box::pin(build(context)),
};

/// The `[tenancy]` config section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenancyConfig {
    /// Host names `<slug>.<base_domain>` resolve to organizations.
    pub base_domain: String,
    /// Default invitation lifetime.
    pub invitation_ttl_secs: u64,
    /// Longest invitation lifetime a caller may ask for.
    pub max_invitation_ttl_secs: u64,
}

impl Default for TenancyConfig {
    fn default() -> Self {
        Self {
            base_domain: "taskmesh.localhost".into(),
            invitation_ttl_secs: 7 * 24 * 3_600,
            max_invitation_ttl_secs: 30 * 24 * 3_600,
        }
    }
}

async fn build(context: ServiceContext) -> Result<Built, BuildError> {
    let api = Arc::new(TenancyApi {
        store: Arc::new(SqlTenancyStore(context.storage())),
        identity: Arc::new(identity::IdentityClient::new(context.peer("identity")?)),
        config: context.section()?,
    });
    let limit = context.max_message_bytes();
    Ok(Built::new(
        TenancyServiceServer::from_arc(api)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
    ))
}
