//! The identity store conformance suite on SQLite, and on PostgreSQL (as a runtime role that
//! owns nothing) when `TASKMESH_TEST_DATABASE_URL` is set.

use identity::store::conformance;
use identity::store::sql::SqlIdentityStore;
use mesh::config::DatabaseConfig;
use mesh::db::Database;

#[tokio::test]
async fn identity_store_conforms_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let database =
        Database::open_sqlite(&dir.path().join("identity.db"), &DatabaseConfig::default())
            .await
            .unwrap();
    database.migrate(&identity::migrations()).await.unwrap();
    database.migrate(&events::migrations()).await.unwrap();
    conformance::run(&SqlIdentityStore::new(kit::Storage::detached(database))).await;
}

#[tokio::test]
async fn identity_store_conforms_on_postgres() {
    let Some(url) = mesh::testing::database_url("identity_store_conforms_on_postgres") else {
        return;
    };
    let test = mesh::testing::TestPostgres::new(&url, "identity").await;
    test.database
        .migrate(&identity::migrations())
        .await
        .unwrap();
    test.database.migrate(&events::migrations()).await.unwrap();
    let (runtime, role) = test.runtime_role(&url).await;
    conformance::run(&SqlIdentityStore::new(kit::Storage::detached(
        runtime.clone(),
    )))
    .await;
    runtime.close().await;
    test.drop_runtime_role(&role).await;
    test.drop_schema().await;
}
