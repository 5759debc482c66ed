//! The analytics store conformance suite (a scripted week, replayed) on SQLite and on
//! PostgreSQL (as a runtime role under row-level security).

use analytics::store::conformance;
use analytics::store::sql::SqlAnalyticsStore;
use kit::Storage;
use mesh::testing::{RuntimePostgres, sqlite};

const TENANT_TABLES: [&str; 11] = [
    "task_slots",
    "task_completions",
    "tasks",
    "projects",
    "project_members",
    "members",
    "documents",
    "document_versions",
    "links",
    "link_visits",
    "progress",
];

#[tokio::test]
async fn analytics_store_conforms_on_sqlite() {
    let (database, _dir) = sqlite(&[&analytics::migrations(), &events::migrations()]).await;
    let store = SqlAnalyticsStore(Storage::detached(database.clone()));
    conformance::run(&store, database).await;
}

#[tokio::test]
async fn analytics_store_conforms_on_postgres_under_row_level_security() {
    let migrations = [&analytics::migrations(), &events::migrations()];
    let Some(postgres) = RuntimePostgres::start(
        "analytics_store_conforms_on_postgres",
        "analytics",
        &migrations,
    )
    .await
    else {
        return;
    };
    let store = SqlAnalyticsStore(Storage::detached(postgres.runtime.clone()));
    conformance::run(&store, postgres.runtime.clone()).await;
    postgres.assert_row_level_security(&TENANT_TABLES).await;
    postgres.finish().await;
}
