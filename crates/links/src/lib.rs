//! The links service: share links to a task, a document or (when enabled) an https URL,
//! with optional expiry, visit limit, password and note; a public page per link; visits
//! recorded with anonymized visitor data and published for analytics.
//!
//! Layers: [`api`] (tonic; `resolve` shared with the page) → [`domain`] (pure rules: slugs,
//! visitors, fields, attempt limits) → [`store`] (sqlx; row-level security on PostgreSQL).
//! [`http`] and [`page`] serve `/l/{slug}`; [`targets`] asks projects, documents and tenancy
//! (as the caller, or as links with a service credential); `kit::passwords` hashes with
//! argon2id. The binary knows it only as [`SERVICE`].

pub mod api;
pub mod domain;
pub mod events;
pub mod http;
pub mod page;
pub mod store;
pub mod targets;

use std::sync::Arc;

use kit::{BuildError, Built, ServiceContext, ServiceDefinition};
use serde::{Deserialize, Serialize};
use taskmesh::links::v1::link_service_server::LinkServiceServer;

use crate::api::{LinksApi, Settings};
use crate::domain::attempts::Limits;
use crate::store::sql::SqlLinksStore;

pub use store::sql::migrations;

/// Links as the binary registers it.
pub const SERVICE: ServiceDefinition = ServiceDefinition {
    name: "links",
    migrations,
    build: |context| Box::pin(build(context)),
};

/// The `[links]` config section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinksConfig {
    /// Whether links to external https URLs may be created (off: only tasks and documents
    /// are shared, so no link leads off the server).
    pub allow_url_links: bool,
    /// Wrong passwords allowed per link and visitor address in one window.
    pub password_failures_per_source: i64,
    /// Wrong passwords allowed per link from all visitors in one window.
    pub password_failures_per_link: i64,
    /// The window of those limits, in seconds (it doubles with each failure while locked).
    pub password_window_secs: i64,
    /// Key (base64) of the daily visitor hashes in `link.visited`; every replica needs the
    /// same. Unset: generated once into `<data_dir>/links-visitor.key`.
    pub visitor_key: Option<mesh::config::Secret>,
}

impl Default for LinksConfig {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            allow_url_links: false,
            password_failures_per_source: limits.per_source,
            password_failures_per_link: limits.per_link,
            password_window_secs: limits.window_ms / 1_000,
            visitor_key: None,
        }
    }
}

async fn build(context: ServiceContext) -> Result<Built, BuildError> {
    let config: LinksConfig = context.section()?;
    let visitor_key = kit::keys::key_bytes(
        config.visitor_key.as_ref(),
        "links.visitor_key",
        &context.config().data_dir,
        "links-visitor.key",
    )?;
    let targets = targets::PeerTargets::new(
        context.peer("projects")?,
        context.peer("documents")?,
        context.peer("tenancy")?,
        context.service_credentials()?,
    );
    let api = Arc::new(LinksApi::new(
        Arc::new(SqlLinksStore(context.storage())),
        Arc::new(targets),
        &visitor_key,
        Settings {
            allow_url_links: config.allow_url_links,
            attempts: Limits {
                per_source: config.password_failures_per_source.max(1),
                per_link: config.password_failures_per_link.max(1),
                window_ms: config.password_window_secs.max(1).saturating_mul(1_000),
            },
            public_url: context.config().public_base_url(),
        },
    ));
    let limit = context.max_message_bytes();
    let targets_gone = Arc::new(store::sql_targets::TargetDeletes);
    Ok(Built::new(
        LinkServiceServer::from_arc(api.clone())
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
    )
    .http(http::routes(api))
    .consumer(
        &context,
        "links-documents",
        store::sql_targets::DOCUMENTS_EVENTS,
        targets_gone,
    ))
}
