//! The notifications store conformance suite on SQLite and on PostgreSQL (as a runtime role
//! under row-level security).

use kit::Storage;
use mesh::testing::{RuntimePostgres, sqlite};
use notifications::store::conformance;
use notifications::store::sql::SqlNotificationsStore;

const TENANT_TABLES: [&str; 3] = [
    "notifications",
    "notification_preferences",
    "preference_versions",
];

#[tokio::test]
async fn notifications_store_conforms_on_sqlite() {
    let (database, _dir) = sqlite(&[&notifications::migrations(), &events::migrations()]).await;
    conformance::run(&SqlNotificationsStore(Storage::detached(database))).await;
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
    postgres.assert_row_level_security(&TENANT_TABLES).await;
    postgres.finish().await;
}
