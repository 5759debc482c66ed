//! The links store conformance suite on SQLite and on PostgreSQL (as a runtime role under
//! row-level security).

use kit::Storage;
use links::store::conformance;
use links::store::sql::SqlLinksStore;
use mesh::testing::{RuntimePostgres, sqlite};

#[tokio::test]
async fn links_store_conforms_on_sqlite() {
    let (database, _dir) = sqlite(&[&links::migrations(), &events::migrations()]).await;
    conformance::run(&SqlLinksStore(Storage::detached(database))).await;
}

#[tokio::test]
async fn links_store_conforms_on_postgres_under_row_level_security() {
    let migrations = [&links::migrations(), &events::migrations()];
    let Some(postgres) =
        RuntimePostgres::start("links_store_conforms_on_postgres", "links", &migrations).await
    else {
        return;
    };
    conformance::run(&SqlLinksStore(Storage::detached(postgres.runtime.clone()))).await;
    postgres
        .assert_row_level_security(&["links", "link_visits"])
        .await;
    postgres.finish().await;
}
