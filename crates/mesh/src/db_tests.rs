//! Storage helper tests: SQLite always, PostgreSQL when `TASKMESH_TEST_DATABASE_URL` is set.

use sqlx::Row;
use sqlx::migrate::{Migration, MigrationType};

use super::*;
use crate::testing;

fn leak_migrator(statements: &[(i64, &'static str, &'static str)]) -> &'static Migrator {
    let migrations = statements
        .iter()
        .map(|(version, name, sql)| {
            Migration::new(
                *version,
                (*name).into(),
                MigrationType::Simple,
                sqlx::SqlSafeStr::into_sql_str(*sql),
                false,
            )
        })
        .collect();
    Box::leak(Box::new(Migrator::with_migrations(migrations)))
}

fn service_migrations() -> Migrations {
    let migrator = leak_migrator(&[(
        1,
        "notes",
        "create table notes (id text primary key, tenant_id text not null, body text not null)",
    )]);
    Migrations {
        sqlite: migrator,
        postgres: migrator,
        table: "_service_migrations",
    }
}

fn outbox_like_migrations() -> Migrations {
    let migrator = leak_migrator(&[(
        1,
        "other",
        "create table other_things (id text primary key)",
    )]);
    Migrations {
        sqlite: migrator,
        postgres: migrator,
        table: "_other_migrations",
    }
}

#[tokio::test]
async fn embedded_sqlite_uses_wal_foreign_keys_and_one_file_per_service() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    let database = Database::for_service(&config, "projects").await.unwrap();
    assert!(dir.path().join("data/projects.db").exists());
    let Database::Sqlite(pool) = &database else {
        panic!("expected SQLite")
    };
    let mode: String = sqlx::query_scalar("pragma journal_mode")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let foreign_keys: i64 = sqlx::query_scalar("pragma foreign_keys")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(foreign_keys, 1);
    database.ping().await.unwrap();
}

#[tokio::test]
async fn two_migrators_share_a_sqlite_file_without_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::open_sqlite(&dir.path().join("x.db"), &DatabaseConfig::default())
        .await
        .unwrap();
    database.migrate(&service_migrations()).await.unwrap();
    database.migrate(&outbox_like_migrations()).await.unwrap();
    // Running again is a no-op, not an error.
    database.migrate(&service_migrations()).await.unwrap();
    let Database::Sqlite(pool) = &database else {
        panic!("expected SQLite")
    };
    let (_turn, mut transaction) = begin_sqlite_write(pool).await.unwrap();
    sqlx::query("insert into notes (id, tenant_id, body) values ('1', 't', 'x')")
        .execute(&mut *transaction)
        .await
        .unwrap();
    sqlx::query("insert into other_things (id) values ('1')")
        .execute(&mut *transaction)
        .await
        .unwrap();
    transaction.commit().await.unwrap();
}

#[tokio::test]
async fn postgres_schemas_migrations_and_tenant_context() {
    let Some(url) = testing::database_url("postgres_schemas_migrations_and_tenant_context") else {
        return;
    };
    let test = testing::TestPostgres::new(&url, "mesh_db").await;
    test.database.migrate(&service_migrations()).await.unwrap();
    test.database
        .migrate(&outbox_like_migrations())
        .await
        .unwrap();
    test.database.migrate(&service_migrations()).await.unwrap();
    let Database::Postgres { pool, schema } = &test.database else {
        panic!("expected PostgreSQL")
    };

    // Tables land in the service's schema.
    let tables: i64 = sqlx::query_scalar(
        "select count(*) from information_schema.tables where table_schema = $1 and table_name in ('notes', 'other_things')",
    )
    .bind(schema)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(tables, 2);

    // The tenant context exists inside the transaction only.
    let tenant = OrganizationId::new();
    let mut transaction = begin_tenant(pool, tenant).await.unwrap();
    let seen: String = sqlx::query_scalar("select current_setting('app.tenant_id', true)")
        .fetch_one(&mut *transaction)
        .await
        .unwrap();
    assert_eq!(seen, tenant.to_string());
    transaction.commit().await.unwrap();
    let mut connection = pool.acquire().await.unwrap();
    let after: Option<String> =
        sqlx::query_scalar("select nullif(current_setting('app.tenant_id', true), '')")
            .fetch_one(&mut *connection)
            .await
            .unwrap();
    assert_eq!(after, None);
    drop(connection);
    test.drop_schema().await;
}

#[tokio::test]
async fn postgres_row_level_security_fails_closed_without_tenant_context() {
    let Some(url) = testing::database_url("postgres_row_level_security_fails_closed") else {
        return;
    };
    let test = testing::TestPostgres::new(&url, "mesh_rls").await;
    test.database.migrate(&service_migrations()).await.unwrap();
    let Database::Postgres { pool, schema } = &test.database else {
        panic!("expected PostgreSQL")
    };
    let role = testing::unique_name("runtime");
    for statement in [
        "alter table notes enable row level security".to_string(),
        "alter table notes force row level security".to_string(),
        "create policy tenant_isolation on notes using (tenant_id = nullif(current_setting('app.tenant_id', true), '')) with check (tenant_id = nullif(current_setting('app.tenant_id', true), ''))".to_string(),
        format!("create role \"{role}\" nologin nosuperuser nobypassrls"),
        format!("grant usage on schema \"{schema}\" to \"{role}\""),
        format!("grant select, insert on notes to \"{role}\""),
    ] {
        sqlx::query(AssertSqlSafe(statement)).execute(pool).await.unwrap();
    }
    let tenant_a = OrganizationId::new();
    let tenant_b = OrganizationId::new();
    for (tenant, id) in [(tenant_a, "a1"), (tenant_b, "b1")] {
        let mut transaction = begin_tenant(pool, tenant).await.unwrap();
        sqlx::query(AssertSqlSafe(format!("set local role \"{role}\"")))
            .execute(&mut *transaction)
            .await
            .unwrap();
        sqlx::query("insert into notes (id, tenant_id, body) values ($1, $2, 'x')")
            .bind(id)
            .bind(tenant.to_string())
            .execute(&mut *transaction)
            .await
            .unwrap();
        transaction.commit().await.unwrap();
    }

    // Without tenant context: no rows, even though two exist.
    let mut transaction = pool.begin().await.unwrap();
    sqlx::query(AssertSqlSafe(format!("set local role \"{role}\"")))
        .execute(&mut *transaction)
        .await
        .unwrap();
    let rows = sqlx::query("select id from notes")
        .fetch_all(&mut *transaction)
        .await
        .unwrap();
    assert!(
        rows.is_empty(),
        "query without tenant context returned rows"
    );
    transaction.rollback().await.unwrap();

    // With tenant A's context: only A's row, even without a where clause.
    let mut transaction = begin_tenant(pool, tenant_a).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("set local role \"{role}\"")))
        .execute(&mut *transaction)
        .await
        .unwrap();
    let rows = sqlx::query("select id from notes")
        .fetch_all(&mut *transaction)
        .await
        .unwrap();
    let ids: Vec<String> = rows.iter().map(|row| row.get("id")).collect();
    assert_eq!(ids, vec!["a1".to_string()]);
    // Writing a row for another tenant is refused by the policy.
    let refused = sqlx::query("insert into notes (id, tenant_id, body) values ('x', $1, 'x')")
        .bind(tenant_b.to_string())
        .execute(&mut *transaction)
        .await;
    assert!(refused.is_err());
    transaction.rollback().await.unwrap();

    sqlx::query(AssertSqlSafe(format!("drop owned by \"{role}\"")))
        .execute(pool)
        .await
        .unwrap();
    test.drop_schema().await;
    let admin = PgPool::connect(&url).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("drop role if exists \"{role}\"")))
        .execute(&admin)
        .await
        .unwrap();
}
