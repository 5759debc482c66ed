//! The projects service: projects and their members and labels, Kanban boards with columns
//! and workflow rules, tasks (keys, ranks, subtasks, assignees, labels), comments with
//! mentions, work logs, field-level activity, per-user undo/redo, and live boards
//! (WatchBoard).
//!
//! Layers: [`api`] (tonic) → [`domain`] (pure rules) → [`store`] (sqlx; row-level security
//! on PostgreSQL). [`events`] names what it publishes; [`tenancy`] is the one peer it calls.
//! The binary knows it only as [`SERVICE`].

pub mod api;
pub mod domain;
pub mod events;
pub mod store;
pub mod tenancy;

use std::sync::Arc;

use kit::{BuildError, Built, ServiceContext, ServiceDefinition};
use serde::{Deserialize, Serialize};
use taskmesh::projects::v1::board_service_server::BoardServiceServer;
use taskmesh::projects::v1::project_service_server::ProjectServiceServer;
use taskmesh::projects::v1::task_service_server::TaskServiceServer;

use crate::api::ProjectsApi;
use crate::store::sql::SqlProjectsStore;

pub use store::sql::migrations;

/// Projects as the binary registers it.
pub const SERVICE: ServiceDefinition = ServiceDefinition {
    name: "projects",
    migrations,
    build: |context| Box::pin(build(context)),
};

/// The `[projects]` config section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectsConfig {
    /// Most projects per organization.
    pub max_projects_per_organization: i64,
    /// Most members per project.
    pub max_members_per_project: i64,
    /// How long a board's change feed is kept for resuming WatchBoard streams.
    pub watch_retention_secs: u64,
    /// Heartbeat interval of WatchBoard streams.
    pub watch_heartbeat_secs: u64,
    /// Most open WatchBoard streams per user and process.
    pub max_streams_per_user: usize,
}

impl Default for ProjectsConfig {
    fn default() -> Self {
        Self {
            max_projects_per_organization: 1_000,
            max_members_per_project: 1_000,
            watch_retention_secs: 600,
            watch_heartbeat_secs: 15,
            max_streams_per_user: 20,
        }
    }
}

async fn build(context: ServiceContext) -> Result<Built, BuildError> {
    let hub = api::watch::Hub::default();
    let api = Arc::new(ProjectsApi {
        store: Arc::new(SqlProjectsStore(context.storage())),
        directory: Arc::new(tenancy::TenancyClient::new(context.peer("tenancy")?)),
        config: context.section()?,
        hub: hub.clone(),
        numbering: Default::default(),
    });
    let limit = context.max_message_bytes();
    let bus = context.bus();
    Ok(Built::new(
        ProjectServiceServer::from_arc(api.clone())
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
    )
    .also(
        BoardServiceServer::from_arc(api.clone())
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
    )
    .also(
        TaskServiceServer::from_arc(api)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
    )
    .worker("board-feed-follower", move |shutdown| {
        api::watch::follow(bus, hub, shutdown)
    })
    // People who leave the organization leave its projects (exactly once, see the handler).
    .consumer(
        &context,
        "projects-departures",
        store::sql_departures::MEMBER_REMOVED,
        Arc::new(store::sql_departures::DepartureHandler),
    ))
}
