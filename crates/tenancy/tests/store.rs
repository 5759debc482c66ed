//! The tenancy store conformance suite on SQLite and on PostgreSQL (as a runtime role under
//! row-level security), plus proof that PostgreSQL refuses rows without tenant context.

use mesh::config::DatabaseConfig;
use mesh::db::Database;
use tenancy::store::conformance;
use tenancy::store::sql::SqlTenancyStore;

#[tokio::test]
async fn tenancy_store_conforms_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let database =
        Database::open_sqlite(&dir.path().join("tenancy.db"), &DatabaseConfig::default())
            .await
            .unwrap();
    database.migrate(&tenancy::migrations()).await.unwrap();
    database.migrate(&events::migrations()).await.unwrap();
    conformance::run(&SqlTenancyStore::new(kit::Storage::detached(database))).await;
}

#[tokio::test]
async fn tenancy_store_conforms_on_postgres_under_row_level_security() {
    let Some(url) = mesh::testing::database_url("tenancy_store_conforms_on_postgres") else {
        return;
    };
    let test = mesh::testing::TestPostgres::new(&url, "tenancy").await;
    test.database.migrate(&tenancy::migrations()).await.unwrap();
    test.database.migrate(&events::migrations()).await.unwrap();
    let (runtime, role) = test.runtime_role(&url).await;
    let store = SqlTenancyStore::new(kit::Storage::detached(runtime.clone()));
    conformance::run(&store).await;

    // The runtime role is what the services run as: not the owner, no superuser, no BYPASSRLS.
    let Database::Postgres { pool, schema } = &runtime else {
        unreachable!()
    };
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("select rolsuper, rolbypassrls from pg_roles where rolname = current_user")
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(!superuser && !bypass);
    let owned: i64 = sqlx::query_scalar(
        "select count(*) from pg_tables where schemaname = $1 and tableowner = current_user",
    )
    .bind(schema)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(owned, 0, "the runtime role must own no table");
    let forced: i64 = sqlx::query_scalar("select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname in ('organizations', 'memberships', 'invitations', 'audit_events') and c.relrowsecurity and c.relforcerowsecurity")
        .bind(schema)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(
        forced, 4,
        "row-level security enabled and forced on every tenant table"
    );

    // Rows exist (the suite made many), yet a query without tenant context sees none.
    let (organization, _) = conformance::seed(&store).await;
    for table in [
        "organizations",
        "memberships",
        "invitations",
        "audit_events",
    ] {
        let visible: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(visible, 0, "{table} leaked rows without tenant context");
    }
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

    runtime.close().await;
    test.drop_runtime_role(&role).await;
    test.drop_schema().await;
}
