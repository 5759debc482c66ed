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

/// IntrospectToken is public: a made-up `tmpat_` token must cost a read, never a write. With
/// another writer holding SQLite's write lock, a write transaction would wait out the busy
/// timeout and fail; a read answers.
#[tokio::test]
async fn an_unknown_personal_access_token_costs_no_write() {
    use identity::store::IdentityStore;
    let (database, _dir) = sqlite(&[&identity::migrations(), &events::migrations()]).await;
    let mesh::db::Database::Sqlite(pool) = &database else {
        unreachable!()
    };
    let mut writer = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("delete from password_resets where token_hash = x'00'")
        .execute(&mut *writer)
        .await
        .unwrap();
    let store = SqlIdentityStore(Storage::detached(database.clone()));
    let found = store
        .use_personal_access_token(b"made-up-token-digest", 1_000)
        .await;
    assert!(
        matches!(found, Ok(None)),
        "an unknown token needed the write lock: {found:?}"
    );
    writer.rollback().await.unwrap();
}
