//! The documents service: files per project, optionally attached to a task, with a linear
//! history of immutable versions; contents stored once per organization under their
//! SHA-256 on the local filesystem or S3-compatible storage; plain-HTTP downloads through
//! short-lived signed URLs.
//!
//! Layers: [`api`] (tonic) → [`domain`] (pure rules: access, filters, fields) → [`store`]
//! (sqlx; row-level security on PostgreSQL; the consumer of projects' task and project
//! deletes) and [`blobs`] (object_store). [`http`] serves `/d/{token}`; [`projects`] asks
//! projects about the caller's access. The binary knows it only as [`SERVICE`].

pub mod api;
pub mod blobs;
pub mod domain;
pub mod download;
pub mod events;
pub mod http;
pub mod projects;
pub mod store;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kit::{BuildError, Built, ServiceContext, ServiceDefinition};
use serde::{Deserialize, Serialize};
use taskmesh::documents::v1::document_service_server::DocumentServiceServer;

use crate::api::{DocumentsApi, Limits};
use crate::blobs::Blobs;
use crate::store::DocumentsStore;
use crate::store::sql::SqlDocumentsStore;
use crate::store::sql_lifecycle::{PROJECTS_EVENTS, TaskLifecycle};

pub use store::sql::migrations;

/// Documents as the binary registers it.
pub const SERVICE: ServiceDefinition = ServiceDefinition {
    name: "documents",
    migrations,
    build: |context| Box::pin(build(context)),
};

/// The `[documents]` config section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocumentsConfig {
    /// Largest version, in bytes (uploads fail as soon as they pass it).
    pub max_document_bytes: u64,
    /// Storage per organization, in bytes, each distinct content counted once.
    pub quota_bytes: i64,
    /// Where contents live: empty for the local filesystem under `<data_dir>/documents`,
    /// or `s3://bucket/prefix` for S3-compatible storage.
    pub storage_url: String,
    /// Options of S3 storage (object_store's keys: `endpoint`, `region`, `access_key_id`,
    /// `secret_access_key`, `allow_http`, ...); standard `AWS_*` variables apply too.
    pub storage_options: BTreeMap<String, mesh::config::Secret>,
    /// Key (base64, 32 bytes or more) signing download URLs; every replica needs the same.
    /// Unset: generated once into `<data_dir>/documents-download.key`.
    pub download_key: Option<mesh::config::Secret>,
    /// How long contents no document uses wait before their blobs are deleted.
    pub blob_gc_grace_secs: u64,
    /// How often each replica purges, collects unused blobs and sweeps abandoned uploads.
    pub maintenance_interval_secs: u64,
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        Self {
            max_document_bytes: 100 * 1024 * 1024,
            quota_bytes: 10 * 1024 * 1024 * 1024,
            storage_url: String::new(),
            storage_options: BTreeMap::new(),
            download_key: None,
            blob_gc_grace_secs: 600,
            maintenance_interval_secs: 60,
        }
    }
}

fn blobs(config: &DocumentsConfig, data_dir: &std::path::Path) -> Result<Blobs, String> {
    if config.storage_url.is_empty() {
        return Blobs::local(&data_dir.join("documents")).map_err(|error| error.to_string());
    }
    let options: Vec<(&str, &str)> = config
        .storage_options
        .iter()
        .map(|(key, value)| (key.as_str(), value.expose()))
        .collect();
    Blobs::s3(&config.storage_url, &options)
        .map_err(|error| format!("documents.storage_url: {error}"))
}

/// Purges due documents, deletes unused blobs and abandoned staging objects, every
/// `maintenance_interval_secs` until shutdown.
async fn maintenance(
    store: Arc<dyn DocumentsStore>,
    blobs: Blobs,
    config: DocumentsConfig,
    shutdown: mesh::server::Shutdown,
) {
    let mut ticks =
        tokio::time::interval(Duration::from_secs(config.maintenance_interval_secs.max(1)));
    let grace =
        i64::try_from(config.blob_gc_grace_secs.saturating_mul(1_000)).unwrap_or(i64::MAX / 4);
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            _ = ticks.tick() => {}
        }
        let now = mesh::time::now_millis();
        if let Err(error) = store.run_purges(now, 100).await {
            tracing::warn!(%error, "cannot purge documents yet; retrying");
        }
        match store.collect_garbage(now - grace, 100, &blobs).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "unused document contents deleted"),
            Err(error) => tracing::warn!(%error, "cannot delete unused contents yet; retrying"),
        }
        if let Err(error) = blobs.sweep_staging(Duration::from_secs(3_600)).await {
            tracing::warn!(%error, "cannot sweep abandoned uploads yet; retrying");
        }
    }
}

async fn build(context: ServiceContext) -> Result<Built, BuildError> {
    let config: DocumentsConfig = context.section()?;
    let data_dir = context.config().data_dir.clone();
    let blobs = blobs(&config, &data_dir)?;
    let key = kit::keys::key_bytes(
        config.download_key.as_ref(),
        "documents.download_key",
        &data_dir,
        "documents-download.key",
    )?;
    let signer = Arc::new(download::Signer::new(&key)?);
    let store: Arc<dyn DocumentsStore> = Arc::new(SqlDocumentsStore(context.storage()));
    let api = DocumentsApi::new(
        store.clone(),
        blobs.clone(),
        Arc::new(projects::ProjectsClient::new(context.peer("projects")?)),
        signer.clone(),
        Limits {
            max_document_bytes: config.max_document_bytes,
            quota_bytes: config.quota_bytes,
        },
        context.config().public_base_url(),
    );
    let limit = context.max_message_bytes();
    let built = Built::new(
        DocumentServiceServer::new(api)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
    )
    .http(http::routes(store.clone(), blobs.clone(), signer))
    .worker("documents-maintenance", move |shutdown| {
        maintenance(store, blobs, config, shutdown)
    })
    .consumer(
        &context,
        "documents-projects",
        PROJECTS_EVENTS,
        Arc::new(TaskLifecycle),
    );
    Ok(built)
}
