//! The tenancy service: organizations (tenants), memberships and roles, invitations, and the
//! audit trail. It is the authority on "is this user a member of this organization, with
//! which role", which identity asks when it scopes tokens.
//!
//! Layers: [`api`] (tonic) → [`domain`] (pure rules) → [`store`] (sqlx; row-level security
//! on PostgreSQL).

pub mod api;
pub mod domain;
pub mod identity;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use events::{Bus, OutboxRelay};
use mesh::Config;
use mesh::db::Database;
use mesh::peers::PeerChannel;
use mesh::server::Shutdown;
use taskmesh::tenancy::v1::tenancy_service_server::TenancyServiceServer;

use crate::api::TenancyApi;
use crate::store::sql::SqlTenancyStore;

pub use store::sql::migrations;

/// A built tenancy service.
pub struct Tenancy {
    api: Arc<TenancyApi>,
    relay: OutboxRelay,
    max_message_bytes: usize,
}

impl Tenancy {
    /// Builds the service over a migrated `database`, publishing through `bus` and reaching
    /// identity over `identity`.
    pub fn build(
        config: &Config,
        database: Database,
        bus: Arc<dyn Bus>,
        identity: PeerChannel,
    ) -> Self {
        let relay = OutboxRelay::new(
            database.clone(),
            bus,
            Duration::from_millis(config.events.relay_poll_ms),
        );
        let api = Arc::new(TenancyApi {
            store: Arc::new(SqlTenancyStore::new(database)),
            identity: identity::Identity::new(identity),
            relay: Some(relay.clone()),
            config: config.tenancy.clone(),
        });
        Self {
            api,
            relay,
            max_message_bytes: config.server.max_message_bytes,
        }
    }

    /// The tonic server to mount.
    pub fn server(&self) -> TenancyServiceServer<TenancyApi> {
        TenancyServiceServer::from_arc(self.api.clone())
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes)
    }

    /// Runs the outbox relay until `shutdown`.
    pub fn spawn_background(&self, shutdown: Shutdown) {
        tokio::spawn(self.relay.clone().run(shutdown));
    }
}
