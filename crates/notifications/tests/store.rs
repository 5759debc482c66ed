//! The notifications store conformance suite on SQLite and on PostgreSQL (as a runtime role
//! under row-level security).

use kit::Storage;
use mesh::testing::{RuntimePostgres, sqlite};
use notifications::store::sql::SqlNotificationsStore;
use notifications::store::{conformance, conformance_webhooks};

const TENANT_TABLES: [&str; 6] = [
    "notifications",
    "notification_preferences",
    "preference_versions",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
];

#[tokio::test]
async fn notifications_store_conforms_on_sqlite() {
    let (database, _dir) = sqlite(&[&notifications::migrations(), &events::migrations()]).await;
    let store = SqlNotificationsStore(Storage::detached(database));
    conformance::run(&store).await;
    conformance_webhooks::run(&store).await;
}

#[tokio::test]
async fn notifications_store_conforms_on_postgres_under_row_level_security() {
    let migrations = [&notifications::migrations(), &events::migrations()];
    let Some(postgres) = RuntimePostgres::start(
        "notifications_store_conforms_on_postgres",
        "notifications",
        &migrations,
    )
    .await
    else {
        return;
    };
    let store = SqlNotificationsStore(Storage::detached(postgres.runtime.clone()));
    conformance::run(&store).await;
    conformance_webhooks::run(&store).await;
    postgres.assert_row_level_security(&TENANT_TABLES).await;
    postgres.finish().await;
}
