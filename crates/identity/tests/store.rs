//! The identity store conformance suite on SQLite, and on PostgreSQL (as a runtime role that
//! owns nothing) when `TASKMESH_TEST_DATABASE_URL` is set.

use identity::store::conformance;
use identity::store::sql::SqlIdentityStore;
use kit::Storage;
use mesh::testing::{RuntimePostgres, sqlite};

#[tokio::test]
async fn identity_store_conforms_on_sqlite() {
    let (database, _dir) = sqlite(&[&identity::migrations(), &events::migrations()]).await;
    conformance::run(&SqlIdentityStore(Storage::detached(database))).await;
}

#[tokio::test]
async fn identity_store_conforms_on_postgres() {
    let migrations = [&identity::migrations(), &events::migrations()];
    let Some(postgres) = RuntimePostgres::start(
        "identity_store_conforms_on_postgres",
        "identity",
        &migrations,
    )
    .await
    else {
        return;
    };
    conformance::run(&SqlIdentityStore(Storage::detached(
        postgres.runtime.clone(),
    )))
    .await;
    postgres.finish().await;
}
