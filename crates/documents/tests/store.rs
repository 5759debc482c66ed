//! The documents store conformance suite on SQLite and on PostgreSQL (as a runtime role under
//! row-level security).

use documents::store::conformance;
use documents::store::sql::SqlDocumentsStore;
use kit::Storage;
use mesh::testing::{RuntimePostgres, sqlite};

#[tokio::test]
async fn documents_store_conforms_on_sqlite() {
    let (database, _dir) = sqlite(&[&documents::migrations(), &events::migrations()]).await;
    conformance::run(&SqlDocumentsStore(Storage::detached(database))).await;
}

#[tokio::test]
async fn documents_store_conforms_on_postgres_under_row_level_security() {
    let migrations = [&documents::migrations(), &events::migrations()];
    let Some(postgres) = RuntimePostgres::start(
        "documents_store_conforms_on_postgres",
        "documents",
        &migrations,
    )
    .await
    else {
        return;
    };
    conformance::run(&SqlDocumentsStore(Storage::detached(
        postgres.runtime.clone(),
    )))
    .await;
    postgres
        .assert_row_level_security(&["documents", "document_versions"])
        .await;
    postgres.finish().await;
}
