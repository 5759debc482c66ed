//! The tenancy store conformance suite on SQLite and on PostgreSQL (as a runtime role under
//! row-level security), plus proof that PostgreSQL refuses rows without tenant context.

use kit::Storage;
use mesh::db::Database;
use mesh::testing::{RuntimePostgres, sqlite};
use tenancy::store::conformance;
use tenancy::store::sql::SqlTenancyStore;

const TENANT_TABLES: [&str; 4] = [
    "organizations",
    "memberships",
    "invitations",
    "audit_events",
];

#[tokio::test]
async fn tenancy_store_conforms_on_sqlite() {
    let (database, _dir) = sqlite(&[&tenancy::migrations(), &events::migrations()]).await;
    conformance::run(&SqlTenancyStore(Storage::detached(database))).await;
}

#[tokio::test]
async fn tenancy_store_conforms_on_postgres_under_row_level_security() {
    let migrations = [&tenancy::migrations(), &events::migrations()];
    let Some(postgres) =
        RuntimePostgres::start("tenancy_store_conforms_on_postgres", "tenancy", &migrations).await
    else {
        return;
    };
    let store = SqlTenancyStore(Storage::detached(postgres.runtime.clone()));
    conformance::run(&store).await;
    // Rows exist (the suite made many), yet a query without tenant context sees none; the
    // runtime role can bypass nothing.
    postgres.assert_row_level_security(&TENANT_TABLES).await;
    let Database::Postgres { pool, .. } = &postgres.runtime else {
        unreachable!()
    };

    let (organization, _) = conformance::seed(&store).await;
    // With one tenant's context, only that tenant's rows; writing another tenant's row fails.
    let mut transaction = mesh::db::begin_tenant(pool, organization.id).await.unwrap();
    let ids: Vec<String> = sqlx::query_scalar("select distinct organization_id from memberships")
        .fetch_all(&mut *transaction)
        .await
        .unwrap();
    assert_eq!(ids, vec![organization.id.to_string()]);
    let foreign = sqlx::query("insert into audit_events (id, organization_id, actor_user_id, action, resource, details, request_id, created_at) values ('x', 'other-tenant', 'u', 'a', 'r', '{}', '', 0)")
        .execute(&mut *transaction)
        .await;
    assert!(
        foreign.is_err(),
        "row-level security let a foreign tenant's row in"
    );
    transaction.rollback().await.unwrap();

    postgres.finish().await;
}
