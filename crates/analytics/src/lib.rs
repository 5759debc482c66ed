//! The analytics service: task flow (created, completed, reopened, open by category, cycle
//! and lead time percentiles, work logged, comments, uploads), share-link traffic, and the
//! organization dashboard, computed from projects', tenancy's, documents' and links' events
//! by durable consumers (each event applied exactly once, so replaying the streams changes
//! no number).
//!
//! Layers: [`api`] (tonic) → [`domain`] (pure rules: buckets, percentiles, what each event
//! changes) → [`store`] (sqlx; row-level security on PostgreSQL; the event handler).
//! [`events`]: analytics publishes nothing. The binary knows it only as [`SERVICE`].

pub mod api;
pub mod domain;
pub mod events;
pub mod store;

use std::sync::Arc;

use kit::{BuildError, Built, ServiceContext, ServiceDefinition};
use taskmesh::analytics::v1::analytics_service_server::AnalyticsServiceServer;

use crate::api::AnalyticsApi;
use crate::store::sql::SqlAnalyticsStore;
use crate::store::sql_apply::{
    DOCUMENTS_EVENTS, LINKS_EVENTS, MEMBER_EVENTS, PROJECTS_EVENTS, Rollups,
};

pub use store::sql::migrations;

/// Analytics as the binary registers it.
pub const SERVICE: ServiceDefinition = ServiceDefinition {
    name: "analytics",
    migrations,
    build: |context| Box::pin(build(context)),
};

async fn build(context: ServiceContext) -> Result<Built, BuildError> {
    let limit = context.max_message_bytes();
    let api = AnalyticsApi::new(Arc::new(SqlAnalyticsStore(context.storage())));
    let mut built = Built::new(
        AnalyticsServiceServer::new(api)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
    );
    // One durable consumer per source stream; tenancy's only for memberships (its other
    // events may carry secrets analytics must never see).
    for (name, subject) in [
        ("analytics-projects", PROJECTS_EVENTS),
        ("analytics-tenancy", MEMBER_EVENTS),
        ("analytics-documents", DOCUMENTS_EVENTS),
        ("analytics-links", LINKS_EVENTS),
    ] {
        built = built.consumer(&context, name, subject, Arc::new(Rollups));
    }
    Ok(built)
}
